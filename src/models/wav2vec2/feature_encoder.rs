//! Wav2Vec2's convolutional feature encoder (waveform to frames) and feature projection (frames
//! to the transformer's width): the first two steps of the model. The frame arithmetic is in
//! the sibling `frames` module.
//!
//! Parameters carry transformers' names (`feature_extractor.conv_layers.0.conv.weight`,
//! `feature_projection.projection.weight`).

use crate::models::hub::export::HubTensors;
use crate::models::hub::safetensors::{
    Conv1dShape, ParamSource, conv1d, group_norm, layer_norm, linear,
};
use crate::models::nn::{HiddenAct, is_cpu, linear_rows};
use crate::models::wav2vec2::config::{FeatExtractNorm, Wav2Vec2Config};
use burn::module::Module;
use burn::nn::conv::Conv1d;
use burn::nn::{Dropout, DropoutConfig, GroupNorm, LayerNorm, Linear};
use burn::tensor::{Tensor, s};

/// PyTorch's default epsilon of `nn.GroupNorm` / `nn.LayerNorm`, which the conv layers use
/// (the transformer's norms use `layer_norm_eps`).
const CONV_NORM_EPS: f64 = 1e-5;

/// One convolution of the feature encoder with its optional norm and activation: transformers'
/// `Wav2Vec2GroupNormConvLayer`, `Wav2Vec2LayerNormConvLayer` or `Wav2Vec2NoLayerNormConvLayer`,
/// depending on which norm is present.
///
/// # Shapes
/// - input: `[batch, time, channels_in]`
/// - output: `[batch, frames, channels_out]` (channels last, unlike transformers' layer)
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
    /// `[batch, time, channels_in]` to `[batch, frames, channels_out]`, channels last.
    ///
    /// On the CPU backend the convolution runs as one matrix product: the windows (`kernel` strided views of the
    /// input, concatenated along channels) times the weight reshaped to `[kernel *
    /// channels_in, channels_out]`. For these long, strided, unpadded convolutions this is one
    /// large GEMM over every frame of the batch, where burn-flex's conv1d converts the input
    /// to channels-last and runs a GEMM per tile of 512 frames, each writing its output
    /// transposed (`emofuse bench wav2vec2` measures the two). Channels last is also the
    /// layout the feature projection wants, so no transpose is left between the layers.
    fn forward(&self, x: Tensor<3>, path: ConvPath) -> Tensor<3> {
        let mut y = match path {
            ConvPath::Matmul => self.conv_as_matmul(x, WINDOW_BUDGET),
            ConvPath::MatmulInBlocks(budget) => self.conv_as_matmul(x, budget),
            ConvPath::Conv1d => self.conv.forward(x.swap_dims(1, 2)).swap_dims(1, 2),
        };
        if let Some(norm) = &self.group_norm {
            y = instance_norm_over_time(norm, y);
        }
        if let Some(norm) = &self.layer_norm {
            y = norm.forward(y);
        }
        self.activation.apply(y)
    }

    /// The convolution, `[batch, time, channels_in]` to `[batch, frames, channels_out]`, as
    /// windows times weight (see [`Self::forward`]). Unpadded, undilated, one group: what
    /// every Wav2Vec2 conv layer is.
    fn conv_as_matmul(&self, x: Tensor<3>, window_budget: usize) -> Tensor<3> {
        let [batch, time, channels_in] = x.dims();
        let [channels_out, _, kernel] = self.conv.weight.dims();
        let stride = self.conv.stride;
        let frames = (time - kernel) / stride + 1;
        // [out, in, kernel] -> [kernel * in, out], matching the windows' (k, c) order.
        let weight = self
            .conv
            .weight
            .val()
            .permute([2, 1, 0])
            .reshape([kernel * channels_in, channels_out]);
        let bias = self.conv.bias.as_ref().map(|b| b.val().unsqueeze_dim(0));
        // The windows of a block of frames at a time: the window matrix of a whole layer
        // would be `kernel / stride` times the input (200 MB for wav2vec2-base's second layer
        // at 4 x 5 s); blocks of `window_budget` values keep the peak near input and output.
        let block = (window_budget / (batch * kernel * channels_in).max(1)).clamp(1, frames);
        let blocks: Vec<Tensor<3>> = (0..frames)
            .step_by(block)
            .map(|first| {
                let n = block.min(frames - first);
                let start = first * stride;
                let windows = Tensor::cat(
                    (0..kernel)
                        .map(|k| {
                            let from = start + k;
                            x.clone()
                                .slice(s![.., from..from + stride * (n - 1) + 1; stride, ..])
                        })
                        .collect(),
                    2,
                );
                let mut y = windows
                    .reshape([batch * n, kernel * channels_in])
                    .matmul(weight.clone());
                if let Some(bias) = &bias {
                    y = y + bias.clone();
                }
                y.reshape([batch, n, channels_out])
            })
            .collect();
        Tensor::cat(blocks, 1)
    }
}

/// Values in one block of convolution windows (16 MiB of f32).
const WINDOW_BUDGET: usize = 1 << 22;

/// How the feature encoder computes its convolutions (same results up to summation order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvPath {
    /// Strided windows times the reshaped weight, one GEMM per block of frames: the CPU
    /// default.
    Matmul,
    /// [`Self::Matmul`] with blocks of at most this many window values instead of 2^22 (the
    /// tests use small blocks to cover the block edges).
    MatmulInBlocks(usize),
    /// The backend's `conv1d`: the default on GPU backends, which have implicit-GEMM
    /// convolution kernels, and the reference the benchmark and the tests compare with.
    Conv1d,
}

impl ConvPath {
    /// The faster path for `device`.
    pub fn for_device(device: &burn::tensor::Device) -> Self {
        if is_cpu(device) {
            Self::Matmul
        } else {
            Self::Conv1d
        }
    }
}

/// GroupNorm with one group per channel on channels-last input `[batch, frames, channels]`:
/// each channel normalised over the whole time axis (biased variance), then scaled and
/// shifted, as `nn.GroupNorm(num_groups = channels)` does on `[batch, channels, frames]`.
fn instance_norm_over_time(norm: &GroupNorm, x: Tensor<3>) -> Tensor<3> {
    let mean = x.clone().mean_dim(1);
    let centred = x - mean;
    let var = centred.clone().square().mean_dim(1);
    let mut y = centred / var.add_scalar(norm.epsilon).sqrt();
    if let Some(gamma) = &norm.gamma {
        y = y * gamma.val().reshape([1, 1, norm.num_channels]);
    }
    if let Some(beta) = &norm.beta {
        y = y + beta.val().reshape([1, 1, norm.num_channels]);
    }
    y
}

/// The convolutional feature encoder: raw waveform to one vector per 20 ms frame (wav2vec2-base:
/// 7 layers, 512 channels, receptive field 400 samples, stride 320). transformers'
/// `Wav2Vec2FeatureEncoder`.
///
/// # Shapes
/// - input `input_values`: `[batch, samples]`
/// - output: `[batch, frames, conv_dim]` (channels last: transformers transposes to this
///   after the encoder; here every layer works in it)
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

    /// Hands the parameters to `out` under the names [`Self::build`] reads.
    pub fn export(&self, out: &mut HubTensors) {
        for (i, layer) in self.layers.iter().enumerate() {
            let p = format!("feature_extractor.conv_layers.{i}");
            out.conv1d(&format!("{p}.conv"), &layer.conv);
            if let Some(norm) = &layer.group_norm {
                out.group_norm(&format!("{p}.layer_norm"), norm);
            }
            if let Some(norm) = &layer.layer_norm {
                out.layer_norm(&format!("{p}.layer_norm"), norm);
            }
        }
    }

    /// Waveforms `[batch, samples]` to features `[batch, frames, conv_dim]` (transformers'
    /// `Wav2Vec2FeatureEncoder` followed by its transpose).
    pub fn forward(&self, input_values: Tensor<2>) -> Tensor<3> {
        let path = ConvPath::for_device(&input_values.device());
        self.forward_with(input_values, path)
    }

    /// [`Self::forward`] with the convolutions computed by `path`.
    pub fn forward_with(&self, input_values: Tensor<2>, path: ConvPath) -> Tensor<3> {
        let mut x = input_values.unsqueeze_dim(2);
        for layer in &self.layers {
            x = layer.forward(x, path);
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

    /// Hands the parameters to `out` under the names [`Self::build`] reads.
    pub fn export(&self, out: &mut HubTensors) {
        out.layer_norm("feature_projection.layer_norm", &self.norm);
        out.linear("feature_projection.projection", &self.projection);
    }

    /// Features `[batch, frames, conv_dim]` to `(hidden [batch, frames, hidden], normed
    /// features [batch, frames, conv_dim])`; the second is what transformers returns as
    /// `extract_features`.
    pub fn forward(&self, features: Tensor<3>) -> (Tensor<3>, Tensor<3>) {
        let normed = self.norm.forward(features);
        let hidden = self
            .dropout
            .forward(linear_rows(&self.projection, normed.clone()));
        (hidden, normed)
    }
}
