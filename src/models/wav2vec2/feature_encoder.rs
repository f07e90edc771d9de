//! Wav2Vec2's convolutional feature encoder (waveform to frames) and feature projection (frames
//! to the transformer's width): the first two steps of the model. The frame arithmetic is in
//! the sibling `frames` module.
//!
//! Parameters carry transformers' names (`feature_extractor.conv_layers.0.conv.weight`,
//! `feature_projection.projection.weight`).

use crate::models::hub::safetensors::{
    Conv1dShape, ParamSource, conv1d, group_norm, layer_norm, linear,
};
use crate::models::nn::HiddenAct;
use crate::models::wav2vec2::config::{FeatExtractNorm, Wav2Vec2Config};
use burn::module::Module;
use burn::nn::conv::Conv1d;
use burn::nn::{Dropout, DropoutConfig, GroupNorm, LayerNorm, Linear};
use burn::tensor::Tensor;

/// PyTorch's default epsilon of `nn.GroupNorm` / `nn.LayerNorm`, which the conv layers use
/// (the transformer's norms use `layer_norm_eps`).
const CONV_NORM_EPS: f64 = 1e-5;

/// One convolution of the feature encoder with its optional norm and activation: transformers'
/// `Wav2Vec2GroupNormConvLayer`, `Wav2Vec2LayerNormConvLayer` or `Wav2Vec2NoLayerNormConvLayer`,
/// depending on which norm is present.
///
/// # Shapes
/// - input: `[batch, channels_in, time]`
/// - output: `[batch, channels_out, frames]`
#[derive(Module, Debug)]
pub struct Wav2Vec2ConvLayer {
    conv: Conv1d,
    /// GroupNorm with one group per channel: normalises each channel over the whole (padded)
    /// time axis (`feat_extract_norm = "group"`, first layer only).
    group_norm: Option<GroupNorm>,
    /// LayerNorm over channels at each frame (`feat_extract_norm = "layer"`, every layer).
    layer_norm: Option<LayerNorm>,
    #[module(skip)]
    activation: HiddenAct,
}

impl Wav2Vec2ConvLayer {
    /// `[batch, channels_in, time]` to `[batch, channels_out, frames]`.
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let mut x = self.conv.forward(x);
        if let Some(norm) = &self.group_norm {
            x = norm.forward(x);
        }
        if let Some(norm) = &self.layer_norm {
            x = norm.forward(x.swap_dims(1, 2)).swap_dims(1, 2);
        }
        self.activation.apply(x)
    }
}

/// The convolutional feature encoder: raw waveform to one vector per 20 ms frame (wav2vec2-base:
/// 7 layers, 512 channels, receptive field 400 samples, stride 320). transformers'
/// `Wav2Vec2FeatureEncoder`.
///
/// # Shapes
/// - input `input_values`: `[batch, samples]`
/// - output: `[batch, conv_dim, frames]` (channels first)
#[derive(Module, Debug)]
pub struct Wav2Vec2FeatureEncoder {
    layers: Vec<Wav2Vec2ConvLayer>,
}

impl Wav2Vec2FeatureEncoder {
    /// Builds the encoder, asking `source` for `feature_extractor.conv_layers.{i}.*`.
    pub fn build<S: ParamSource>(config: &Wav2Vec2Config, source: &mut S) -> Self {
        let layers = (0..config.conv_dim.len())
            .map(|i| {
                let p = format!("feature_extractor.conv_layers.{i}");
                let channels_in = if i == 0 { 1 } else { config.conv_dim[i - 1] };
                let channels_out = config.conv_dim[i];
                let mut shape = Conv1dShape::new(
                    channels_in,
                    channels_out,
                    config.conv_kernel[i],
                    config.conv_stride[i],
                );
                shape.bias = config.conv_bias;
                // transformers: kaiming_normal_ (std sqrt(2 / fan_in)).
                let std = (2.0 / (channels_in * config.conv_kernel[i]) as f64).sqrt();
                let conv = conv1d(source, &format!("{p}.conv"), &shape, std);
                let norm_name = format!("{p}.layer_norm");
                let (group_norm, layer_norm) = match config.feat_extract_norm {
                    FeatExtractNorm::Group if i == 0 => (
                        Some(self::group_norm(
                            source,
                            &norm_name,
                            channels_out,
                            channels_out,
                            CONV_NORM_EPS,
                        )),
                        None,
                    ),
                    FeatExtractNorm::Group => (None, None),
                    FeatExtractNorm::Layer => (
                        None,
                        Some(self::layer_norm(
                            source,
                            &norm_name,
                            channels_out,
                            CONV_NORM_EPS,
                        )),
                    ),
                };
                Wav2Vec2ConvLayer {
                    conv,
                    group_norm,
                    layer_norm,
                    activation: config.feat_extract_activation,
                }
            })
            .collect();
        Self { layers }
    }

    /// Waveforms `[batch, samples]` to features `[batch, conv_dim, frames]` (channels first, as
    /// transformers' `Wav2Vec2FeatureEncoder`). On the CPU backend outside training, the two
    /// halves of a batch run on two threads (same results: every clip is normalised alone).
    pub fn forward(&self, input_values: Tensor<2>) -> Tensor<3> {
        let [batch, _] = input_values.dims();
        let device = input_values.device();
        if batch > 1 && rayon::current_num_threads() > 1 && !device.is_autodiff() && is_cpu(&device)
        {
            // burn-flex runs elementwise kernels (GELU, GroupNorm) on one thread; the clips
            // are independent, so encode the two halves of the batch side by side (the
            // matrix products inside share the thread pool).
            let half = batch / 2;
            let (a, b) = rayon::join(
                || self.forward_serial(input_values.clone().narrow(0, 0, half)),
                || self.forward_serial(input_values.clone().narrow(0, half, batch - half)),
            );
            return Tensor::cat(vec![a, b], 0);
        }
        self.forward_serial(input_values)
    }

    fn forward_serial(&self, input_values: Tensor<2>) -> Tensor<3> {
        let mut x = input_values.unsqueeze_dim(1);
        for layer in &self.layers {
            x = layer.forward(x);
        }
        x
    }
}

/// Feature projection: LayerNorm over the conv channels, then a linear map to the model width.
/// transformers' `Wav2Vec2FeatureProjection`.
///
/// # Shapes
/// - input `features`: `[batch, frames, conv_dim]`
/// - output: hidden `[batch, frames, hidden]` and the normed features `[batch, frames,
///   conv_dim]`
#[derive(Module, Debug)]
pub struct Wav2Vec2FeatureProjection {
    norm: LayerNorm,
    projection: Linear,
    dropout: Dropout,
}

impl Wav2Vec2FeatureProjection {
    /// Builds the projection from `feature_projection.{layer_norm,projection}`.
    pub fn build<S: ParamSource>(config: &Wav2Vec2Config, source: &mut S) -> Self {
        let conv_out = config.conv_dim.last().copied().unwrap_or(0);
        Self {
            norm: layer_norm(
                source,
                "feature_projection.layer_norm",
                conv_out,
                config.layer_norm_eps,
            ),
            projection: linear(
                source,
                "feature_projection.projection",
                conv_out,
                config.hidden_size,
                (1.0 / conv_out as f64).sqrt(),
                false,
            ),
            dropout: DropoutConfig::new(config.feat_proj_dropout).init(),
        }
    }

    /// Features `[batch, frames, conv_dim]` to `(hidden [batch, frames, hidden], normed
    /// features [batch, frames, conv_dim])`; the second is what transformers returns as
    /// `extract_features`.
    pub fn forward(&self, features: Tensor<3>) -> (Tensor<3>, Tensor<3>) {
        let normed = self.norm.forward(features);
        let hidden = self
            .dropout
            .forward(self.projection.forward(normed.clone()));
        (hidden, normed)
    }
}

/// Whether `device` is the CPU backend (burn-flex).
fn is_cpu(device: &burn::tensor::Device) -> bool {
    *device == burn::tensor::Device::flex()
}
