//! Wav2Vec2's convolutional feature encoder (waveform to frames) and feature projection, and the
//! frame arithmetic of transformers' `_get_feat_extract_output_lengths`.
//!
//! Part of [`crate::models::wav2vec2`]; parameters carry transformers' names
//! (`feature_extractor.conv_layers.0.conv.weight`, `feature_projection.projection.weight`).

use crate::models::hub::safetensors::{
    Conv1dShape, ParamSource, conv1d, group_norm, layer_norm, linear,
};
use crate::models::roberta::HiddenAct;
use crate::models::wav2vec2::{FeatExtractNorm, Wav2Vec2Config};
use burn::module::Module;
use burn::nn::conv::Conv1d;
use burn::nn::{Dropout, DropoutConfig, GroupNorm, LayerNorm, Linear};
use burn::tensor::{Bool, Int, Tensor};

/// PyTorch's default epsilon of `nn.GroupNorm` / `nn.LayerNorm`, which the conv layers use
/// (the transformer's norms use `layer_norm_eps`).
const CONV_NORM_EPS: f64 = 1e-5;

/// Frames out of one unpadded convolution over `length` inputs: `floor((length - kernel) /
/// stride) + 1`, floor division as transformers' `_conv_out_length` (so negative when the
/// input is shorter than the kernel minus one stride).
pub fn conv_output_length(length: i64, kernel: usize, stride: usize) -> i64 {
    (length - kernel as i64).div_euclid(stride as i64) + 1
}

/// Frames out of a stack of convolutions (`kernels[i]`, `strides[i]`) over `samples` inputs,
/// exactly as transformers' `_get_feat_extract_output_lengths` (no adapter): 49 frames per
/// second of 16 kHz audio for wav2vec2-base. 0 or below means the clip is too short for one
/// frame.
pub fn feat_extract_output_length(samples: i64, kernels: &[usize], strides: &[usize]) -> i64 {
    kernels
        .iter()
        .zip(strides)
        .fold(samples, |length, (&k, &s)| conv_output_length(length, k, s))
}

/// One convolution of the feature encoder with its optional norm and activation.
#[derive(Module, Debug)]
pub struct ConvLayer {
    conv: Conv1d,
    /// GroupNorm with one group per channel: normalises each channel over the whole (padded)
    /// time axis (`feat_extract_norm = "group"`, first layer only).
    group_norm: Option<GroupNorm>,
    /// LayerNorm over channels at each frame (`feat_extract_norm = "layer"`, every layer).
    layer_norm: Option<LayerNorm>,
    #[module(skip)]
    activation: HiddenAct,
}

impl ConvLayer {
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
/// 7 layers, 512 channels, receptive field 400 samples, stride 320).
#[derive(Module, Debug)]
pub struct FeatureEncoder {
    layers: Vec<ConvLayer>,
}

impl FeatureEncoder {
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
                ConvLayer {
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
#[derive(Module, Debug)]
pub struct FeatureProjection {
    norm: LayerNorm,
    projection: Linear,
    dropout: Dropout,
}

impl FeatureProjection {
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

/// transformers' `_get_feature_vector_attention_mask`: `true` for the first
/// `feat_extract_output_length(sum(mask))` of `frames` frames of each row, `[batch, frames]`.
/// Rows too short for one frame get no valid frame.
pub fn frame_mask(
    attention_mask: Tensor<2, Int>,
    frames: usize,
    kernels: &[usize],
    strides: &[usize],
) -> Tensor<2, Bool> {
    let [batch, _] = attention_mask.dims();
    let device = attention_mask.device();
    let mut lengths = attention_mask.sum_dim(1); // [batch, 1]
    for (&k, &s) in kernels.iter().zip(strides) {
        // floor((L - k) / s) + 1 for L >= k; rows below the kernel get 0 frames (transformers
        // would index frame -1 there) and stay at 0.
        let long_enough = lengths.clone().greater_equal_elem(k as i64).int();
        lengths = (lengths
            .sub_scalar(k as i64)
            .clamp_min(0)
            .div_scalar(s as i64)
            .add_scalar(1))
            * long_enough;
    }
    Tensor::<1, Int>::arange(0..frames as i64, &device)
        .reshape([1, frames])
        .repeat_dim(0, batch)
        .lower(lengths.repeat_dim(1, frames))
}

/// Fresh-initialisation scale of the positional convolution (transformers: normal with std
/// `2 * sqrt(1 / (kernel * hidden))`).
pub(crate) fn positional_conv_std(kernel: usize, hidden: usize) -> f64 {
    2.0 * (1.0 / (kernel * hidden) as f64).sqrt()
}

/// Whether `device` is the CPU backend (burn-flex).
fn is_cpu(device: &burn::tensor::Device) -> bool {
    *device == burn::tensor::Device::flex()
}
