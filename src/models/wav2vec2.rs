//! Wav2Vec2 speech encoder, configured from a HuggingFace `config.json` and loaded from
//! `model.safetensors` (see [`crate::models::hub`]).
//!
//! Both architectures of the hub checkpoints:
//! - `feat_extract_norm = "group"`, `do_stable_layer_norm = false` (wav2vec2-base,
//!   wav2vec2-base-960h): GroupNorm on the first conv layer only, post-LayerNorm transformer;
//! - `feat_extract_norm = "layer"`, `do_stable_layer_norm = true` (wav2vec2-large-lv60,
//!   XLS-R): LayerNorm on every conv layer, pre-LayerNorm transformer with a final LayerNorm.
//!
//! Computation follows transformers' `Wav2Vec2Model` in eval mode: conv feature encoder
//! ([`crate::models::wav2vec2_features`]), feature projection (LayerNorm, Linear), padded frames
//! zeroed when an attention mask is given, weight-normalised grouped positional convolution
//! (the last frame dropped for an even kernel), transformer layers with an additive attention
//! mask on padded keys, erf GELU. Not implemented: SpecAugment masking (`masked_spec_embed` is
//! left unused), LayerDrop, adapters. Dropout is active only when training on an autodiff
//! device.
//!
//! **Padding and the group-norm variant.** The first conv layer's GroupNorm normalises each
//! channel over the whole time axis, padding included, so padding a clip changes the outputs of
//! its *valid* frames too: batch results equal single-clip results only for clips of equal
//! length. transformers behaves the same (and wav2vec2-base's processor passes no attention mask
//! to the model). The layer-norm variant with an attention mask gives each clip the result it
//! gets alone.
//!
//! Parameters carry transformers' names (`encoder.layers.3.attention.q_proj.weight`), so a
//! checkpoint loads by name; see [`Wav2Vec2Model::from_pretrained`].

use crate::models::attention::{AttentionNames, SelfAttention};
use crate::models::finetune::TrainLayers;
use crate::models::hub::HubFolder;
use crate::models::hub::config::read_json;
use crate::models::hub::safetensors::{
    Conv1dShape, FreshInit, HubWeights, Init, KeyMapping, LoadReport, ParamSource, conv1d_from,
    layer_norm, linear, weight_norm_weight,
};
use crate::models::roberta::HiddenAct;
use crate::models::wav2vec2_features::{
    FeatureEncoder, FeatureProjection, feat_extract_output_length, frame_mask, positional_conv_std,
};
use anyhow::{Result, bail};
use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::Conv1d;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, Linear};
use burn::tensor::{Bool, Device, Int, Tensor};
use serde::Deserialize;
use std::path::Path;

/// The fields of a HuggingFace Wav2Vec2 `config.json` that the encoder uses (other fields are
/// ignored). Defaults are transformers' `Wav2Vec2Config` defaults (wav2vec2-base).
#[derive(Debug, Clone, Deserialize)]
pub struct HfWav2Vec2Config {
    /// Must be `wav2vec2`.
    pub model_type: String,
    /// Model width.
    #[serde(default = "defaults::hidden_size")]
    pub hidden_size: usize,
    /// Transformer layers.
    #[serde(default = "defaults::layers")]
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    #[serde(default = "defaults::heads")]
    pub num_attention_heads: usize,
    /// Feed-forward width.
    #[serde(default = "defaults::intermediate_size")]
    pub intermediate_size: usize,
    /// Feed-forward activation.
    #[serde(default = "defaults::gelu")]
    pub hidden_act: String,
    /// Activation of the conv feature encoder.
    #[serde(default = "defaults::gelu")]
    pub feat_extract_activation: String,
    /// `group` (GroupNorm on the first conv layer) or `layer` (LayerNorm on every conv layer).
    #[serde(default = "defaults::feat_extract_norm")]
    pub feat_extract_norm: String,
    /// Channels of each conv layer.
    #[serde(default = "defaults::conv_dim")]
    pub conv_dim: Vec<usize>,
    /// Kernel width of each conv layer.
    #[serde(default = "defaults::conv_kernel")]
    pub conv_kernel: Vec<usize>,
    /// Stride of each conv layer.
    #[serde(default = "defaults::conv_stride")]
    pub conv_stride: Vec<usize>,
    /// Whether the conv layers have biases.
    #[serde(default)]
    pub conv_bias: bool,
    /// Kernel width of the positional convolution.
    #[serde(default = "defaults::pos_kernel")]
    pub num_conv_pos_embeddings: usize,
    /// Groups of the positional convolution.
    #[serde(default = "defaults::pos_groups")]
    pub num_conv_pos_embedding_groups: usize,
    /// Pre-LayerNorm transformer (large / lv60 checkpoints) instead of post-LayerNorm.
    #[serde(default)]
    pub do_stable_layer_norm: bool,
    /// LayerNorm epsilon of the feature projection and the transformer.
    #[serde(default = "defaults::layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Dropout on block outputs.
    #[serde(default = "defaults::dropout")]
    pub hidden_dropout: f64,
    /// Dropout on attention probabilities.
    #[serde(default = "defaults::dropout")]
    pub attention_dropout: f64,
    /// Dropout after the feed-forward activation.
    #[serde(default = "defaults::dropout")]
    pub activation_dropout: f64,
    /// Dropout after the feature projection.
    #[serde(default)]
    pub feat_proj_dropout: f64,
    /// Standard deviation of newly initialised weights.
    #[serde(default = "defaults::initializer_range")]
    pub initializer_range: f64,
    /// Adapter layers after the encoder (not supported).
    #[serde(default)]
    pub add_adapter: bool,
    /// Attention adapters (not supported).
    #[serde(default)]
    pub adapter_attn_dim: Option<usize>,
}

mod defaults {
    pub fn hidden_size() -> usize {
        768
    }
    pub fn layers() -> usize {
        12
    }
    pub fn heads() -> usize {
        12
    }
    pub fn intermediate_size() -> usize {
        3072
    }
    pub fn gelu() -> String {
        "gelu".into()
    }
    pub fn feat_extract_norm() -> String {
        "group".into()
    }
    pub fn conv_dim() -> Vec<usize> {
        vec![512; 7]
    }
    pub fn conv_kernel() -> Vec<usize> {
        vec![10, 3, 3, 3, 3, 2, 2]
    }
    pub fn conv_stride() -> Vec<usize> {
        vec![5, 2, 2, 2, 2, 2, 2]
    }
    pub fn pos_kernel() -> usize {
        128
    }
    pub fn pos_groups() -> usize {
        16
    }
    pub fn layer_norm_eps() -> f64 {
        1e-5
    }
    pub fn dropout() -> f64 {
        0.1
    }
    pub fn initializer_range() -> f64 {
        0.02
    }
}

/// Normalisation of the conv feature encoder (`feat_extract_norm`).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum FeatExtractNorm {
    /// GroupNorm (one group per channel, over the whole time axis) on the first conv layer only
    /// (wav2vec2-base).
    Group,
    /// LayerNorm over channels on every conv layer (wav2vec2-large-lv60).
    Layer,
}

/// Configuration of [`Wav2Vec2Model`].
#[derive(Config, Debug)]
pub struct Wav2Vec2Config {
    /// Channels of each conv layer.
    pub conv_dim: Vec<usize>,
    /// Kernel width of each conv layer.
    pub conv_kernel: Vec<usize>,
    /// Stride of each conv layer.
    pub conv_stride: Vec<usize>,
    /// Model width.
    pub hidden_size: usize,
    /// Transformer layers.
    pub num_layers: usize,
    /// Attention heads (must divide `hidden_size`).
    pub num_heads: usize,
    /// Feed-forward width.
    pub intermediate_size: usize,
    /// Whether the conv layers have biases.
    #[config(default = false)]
    pub conv_bias: bool,
    /// Normalisation of the conv feature encoder.
    #[config(default = "FeatExtractNorm::Group")]
    pub feat_extract_norm: FeatExtractNorm,
    /// Activation of the conv layers and the positional convolution.
    #[config(default = "HiddenAct::Gelu")]
    pub feat_extract_activation: HiddenAct,
    /// Feed-forward activation.
    #[config(default = "HiddenAct::Gelu")]
    pub hidden_act: HiddenAct,
    /// Kernel width of the positional convolution.
    #[config(default = 128)]
    pub num_conv_pos_embeddings: usize,
    /// Groups of the positional convolution.
    #[config(default = 16)]
    pub num_conv_pos_embedding_groups: usize,
    /// Pre-LayerNorm transformer with a final LayerNorm (true) or post-LayerNorm (false).
    #[config(default = false)]
    pub do_stable_layer_norm: bool,
    /// LayerNorm epsilon of the feature projection and the transformer.
    #[config(default = 1e-5)]
    pub layer_norm_eps: f64,
    /// Dropout on block outputs.
    #[config(default = 0.1)]
    pub hidden_dropout: f64,
    /// Dropout on attention probabilities.
    #[config(default = 0.1)]
    pub attention_dropout: f64,
    /// Dropout after the feed-forward activation.
    #[config(default = 0.1)]
    pub activation_dropout: f64,
    /// Dropout after the feature projection.
    #[config(default = 0.0)]
    pub feat_proj_dropout: f64,
    /// Standard deviation of newly initialised weights.
    #[config(default = 0.02)]
    pub initializer_range: f64,
}

fn parse_act(name: &str, key: &str, file: &str) -> Result<HiddenAct> {
    Ok(match name {
        "gelu" => HiddenAct::Gelu,
        "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => HiddenAct::GeluTanh,
        "relu" => HiddenAct::Relu,
        "silu" | "swish" => HiddenAct::Silu,
        other => bail!(
            "{file}: {key} `{other}` is not supported (supported: gelu, gelu_new, \
             gelu_pytorch_tanh, gelu_fast, relu, silu, swish)"
        ),
    })
}

impl Wav2Vec2Config {
    /// wav2vec2-base's sizes (95M parameters), e.g. for benchmarks with random weights.
    pub fn wav2vec2_base() -> Self {
        Self::new(
            defaults::conv_dim(),
            defaults::conv_kernel(),
            defaults::conv_stride(),
            768,
            12,
            12,
            3072,
        )
    }

    /// Reads a HuggingFace `config.json`.
    pub fn from_hf_file(path: &Path) -> Result<Self> {
        let hf: HfWav2Vec2Config = read_json(path)?;
        Self::from_hf(&hf, path)
    }

    /// Converts a HuggingFace configuration read from `path` (named in errors).
    pub fn from_hf(hf: &HfWav2Vec2Config, path: &Path) -> Result<Self> {
        let file = path.display().to_string();
        if hf.model_type != "wav2vec2" {
            bail!(
                "{file}: model_type `{}` is not a speech encoder emofuse can load; supported: \
                 `wav2vec2` (use a Wav2Vec2 checkpoint, e.g. facebook/wav2vec2-base-960h)",
                hf.model_type
            );
        }
        let feat_extract_norm = match hf.feat_extract_norm.as_str() {
            "group" => FeatExtractNorm::Group,
            "layer" => FeatExtractNorm::Layer,
            other => bail!(
                "{file}: feat_extract_norm `{other}` is not supported; it must be `group` \
                 (wav2vec2-base) or `layer` (wav2vec2-large-lv60), as in transformers"
            ),
        };
        let layers = hf.conv_dim.len();
        if layers == 0 || hf.conv_kernel.len() != layers || hf.conv_stride.len() != layers {
            bail!(
                "{file}: conv_dim, conv_kernel and conv_stride must list one value per conv \
                 layer (found {}, {} and {} values)",
                layers,
                hf.conv_kernel.len(),
                hf.conv_stride.len()
            );
        }
        if hf.conv_dim.contains(&0) || hf.conv_kernel.contains(&0) || hf.conv_stride.contains(&0) {
            bail!("{file}: conv_dim, conv_kernel and conv_stride values must be at least 1");
        }
        if hf.num_attention_heads == 0 || !hf.hidden_size.is_multiple_of(hf.num_attention_heads) {
            bail!(
                "{file}: hidden_size {} is not a multiple of num_attention_heads {}",
                hf.hidden_size,
                hf.num_attention_heads
            );
        }
        let groups = hf.num_conv_pos_embedding_groups;
        if groups == 0 || !hf.hidden_size.is_multiple_of(groups) || hf.num_conv_pos_embeddings == 0
        {
            bail!(
                "{file}: num_conv_pos_embedding_groups {groups} must divide hidden_size {} and \
                 num_conv_pos_embeddings ({}) must be at least 1",
                hf.hidden_size,
                hf.num_conv_pos_embeddings
            );
        }
        if hf.add_adapter || hf.adapter_attn_dim.is_some() {
            bail!(
                "{file}: adapters (add_adapter / adapter_attn_dim) are not supported; use a \
                 checkpoint without them"
            );
        }
        Ok(Self::new(
            hf.conv_dim.clone(),
            hf.conv_kernel.clone(),
            hf.conv_stride.clone(),
            hf.hidden_size,
            hf.num_hidden_layers,
            hf.num_attention_heads,
            hf.intermediate_size,
        )
        .with_conv_bias(hf.conv_bias)
        .with_feat_extract_norm(feat_extract_norm)
        .with_feat_extract_activation(parse_act(
            &hf.feat_extract_activation,
            "feat_extract_activation",
            &file,
        )?)
        .with_hidden_act(parse_act(&hf.hidden_act, "hidden_act", &file)?)
        .with_num_conv_pos_embeddings(hf.num_conv_pos_embeddings)
        .with_num_conv_pos_embedding_groups(groups)
        .with_do_stable_layer_norm(hf.do_stable_layer_norm)
        .with_layer_norm_eps(hf.layer_norm_eps)
        .with_hidden_dropout(hf.hidden_dropout)
        .with_attention_dropout(hf.attention_dropout)
        .with_activation_dropout(hf.activation_dropout)
        .with_feat_proj_dropout(hf.feat_proj_dropout)
        .with_initializer_range(hf.initializer_range))
    }

    /// Frames the conv feature encoder makes of `samples` samples, as transformers'
    /// `_get_feat_extract_output_lengths` (floor division at every layer; 0 or negative when
    /// the clip is too short for one frame: below 400 samples for wav2vec2-base).
    pub fn feat_extract_output_length(&self, samples: i64) -> i64 {
        feat_extract_output_length(samples, &self.conv_kernel, &self.conv_stride)
    }

    /// Frames for `samples` samples, 0 when too short for one.
    pub fn frames(&self, samples: usize) -> usize {
        self.feat_extract_output_length(samples as i64).max(0) as usize
    }

    /// Fewest samples that make one frame (400 for wav2vec2-base).
    pub fn min_samples(&self) -> usize {
        // Inverse of the output length: one frame needs kernel samples at the last layer,
        // which need (k - 1) * stride + kernel at the layer before, and so on.
        self.conv_kernel
            .iter()
            .zip(&self.conv_stride)
            .rev()
            .fold(1, |needed, (&k, &s)| (needed - 1) * s + k)
    }

    /// transformers' `_get_feature_vector_attention_mask`: which of `frames` frames are valid
    /// for a sample-level attention mask `[batch, samples]` (1 audio, 0 padding); `[batch,
    /// frames]`.
    pub fn frame_mask(&self, attention_mask: Tensor<2, Int>, frames: usize) -> Tensor<2, Bool> {
        frame_mask(attention_mask, frames, &self.conv_kernel, &self.conv_stride)
    }

    /// Checks model inputs before [`Wav2Vec2Model::forward`]: `shape` `[batch, samples]`,
    /// `values` row-major, `mask` (same shape) 1 for audio and 0 for padding. Every clip must
    /// make at least one frame and every value be finite; `source` names their origin.
    pub fn check_inputs(
        &self,
        shape: &[usize],
        values: &[f32],
        mask: Option<&[i64]>,
        source: &str,
    ) -> Result<()> {
        let &[batch, samples] = shape else {
            bail!("{source}: input_values must be [batch, samples], found shape {shape:?}");
        };
        if batch == 0 || samples == 0 {
            bail!("{source}: input_values is empty (shape {shape:?})");
        }
        if values.len() != batch * samples {
            bail!(
                "{source}: input_values holds {} values for shape {shape:?}",
                values.len()
            );
        }
        let min = self.min_samples();
        if samples < min {
            bail!(
                "{source}: clips of {samples} samples are too short; the model needs at least \
                 {min} samples (at 16 kHz: {:.1} ms) for one frame",
                min as f64 / 16.0
            );
        }
        if let Some(position) = values.iter().position(|v| !v.is_finite()) {
            bail!(
                "{source}: input_values[{}][{}] is {} (not finite)",
                position / samples,
                position % samples,
                values[position]
            );
        }
        if let Some(mask) = mask {
            if mask.len() != values.len() {
                bail!("{source}: attention_mask must have the shape of input_values {shape:?}");
            }
            if let Some(bad) = mask.iter().find(|&&m| m != 0 && m != 1) {
                bail!("{source}: attention_mask holds {bad}; it must be 1 (audio) or 0 (padding)");
            }
            for (row, chunk) in mask.chunks(samples).enumerate() {
                let valid = chunk.iter().filter(|&&m| m == 1).count();
                if valid < min {
                    bail!(
                        "{source}: clip {row} has {valid} valid samples; the model needs at \
                         least {min} for one frame (drop the clip or pad it with real audio)"
                    );
                }
            }
        }
        Ok(())
    }

    /// The key mapping of Wav2Vec2 checkpoints: the `wav2vec2.` prefix of checkpoints saved with
    /// a head (`Wav2Vec2ForCTC`, `...ForSequenceClassification`) stripped when present;
    /// LayerNorm `gamma`/`beta` renamed.
    pub fn key_mapping(&self) -> KeyMapping {
        KeyMapping {
            prefixes: vec!["wav2vec2".to_string()],
            renames: KeyMapping::layer_norm_renames(),
        }
    }

    /// Builds the encoder with newly initialised weights (transformers' scheme for the
    /// transformer; Kaiming-normal conv weights).
    pub fn init(&self, device: &Device) -> Wav2Vec2Model {
        self.build(&mut FreshInit::new(device))
    }

    /// Builds the encoder, asking `source` for every parameter by its transformers name.
    pub fn build<S: ParamSource>(&self, source: &mut S) -> Wav2Vec2Model {
        let h = self.hidden_size;
        let std = self.initializer_range;
        let eps = self.layer_norm_eps;
        let layers = (0..self.num_layers)
            .map(|i| {
                let p = format!("encoder.layers.{i}");
                let names = AttentionNames {
                    qkv: ["q_proj", "k_proj", "v_proj"].map(|n| format!("{p}.attention.{n}")),
                    output: format!("{p}.attention.out_proj"),
                };
                EncoderLayer {
                    attention: SelfAttention::build(
                        source,
                        &names,
                        h,
                        self.num_heads,
                        self.attention_dropout,
                        std,
                    ),
                    attention_norm: layer_norm(source, &format!("{p}.layer_norm"), h, eps),
                    intermediate: linear(
                        source,
                        &format!("{p}.feed_forward.intermediate_dense"),
                        h,
                        self.intermediate_size,
                        std,
                        false,
                    ),
                    output: linear(
                        source,
                        &format!("{p}.feed_forward.output_dense"),
                        self.intermediate_size,
                        h,
                        std,
                        false,
                    ),
                    final_norm: layer_norm(source, &format!("{p}.final_layer_norm"), h, eps),
                    activation_dropout: DropoutConfig::new(self.activation_dropout).init(),
                    dropout: DropoutConfig::new(self.hidden_dropout).init(),
                    activation: self.hidden_act,
                    pre_norm: self.do_stable_layer_norm,
                }
            })
            .collect();
        Wav2Vec2Model {
            feature_extractor: FeatureEncoder::build(self, source),
            feature_projection: FeatureProjection::build(self, source),
            pos_conv: PositionalConvEmbedding::build(self, source),
            encoder_norm: layer_norm(source, "encoder.layer_norm", h, eps),
            dropout: DropoutConfig::new(self.hidden_dropout).init(),
            layers,
            stable_layer_norm: self.do_stable_layer_norm,
            conv_kernel: self.conv_kernel.clone(),
            conv_stride: self.conv_stride.clone(),
        }
    }
}

/// Relative positional information: a grouped convolution over time (kernel 128, 16 groups in
/// wav2vec2-base) with weight normalisation, then the activation.
#[derive(Module, Debug)]
pub struct PositionalConvEmbedding {
    /// The convolution with its weight-norm parameters folded into a plain weight, padded by
    /// `kernel / 2` on the left and `kernel / 2 - 1` on the right for an even kernel: the same
    /// frames as transformers' symmetric padding followed by dropping the last frame
    /// (`Wav2Vec2SamePadLayer`), without computing that frame.
    conv: Conv1d,
    #[module(skip)]
    activation: HiddenAct,
}

impl PositionalConvEmbedding {
    /// Builds the convolution from `encoder.pos_conv_embed.conv.{bias, weight_g/weight_v or
    /// parametrizations.weight.original0/original1}` (weight norm over the kernel dimension).
    fn build<S: ParamSource>(config: &Wav2Vec2Config, source: &mut S) -> Self {
        let h = config.hidden_size;
        let kernel = config.num_conv_pos_embeddings;
        let name = "encoder.pos_conv_embed.conv";
        let shape = Conv1dShape {
            channels_in: h,
            channels_out: h,
            kernel,
            stride: 1,
            groups: config.num_conv_pos_embedding_groups,
            padding: (
                kernel / 2,
                kernel / 2 - usize::from(kernel.is_multiple_of(2)),
            ),
            bias: true,
        };
        let weight = weight_norm_weight(
            source,
            name,
            shape.weight_shape(),
            2,
            positional_conv_std(kernel, h),
        );
        let bias = source.required(&format!("{name}.bias"), [h], Init::Zeros);
        let device = source.device().clone();
        Self {
            conv: conv1d_from(weight, Some(bias), &shape, &device),
            activation: config.feat_extract_activation,
        }
    }

    /// `[batch, frames, hidden]` to the positional embeddings `[batch, frames, hidden]`.
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let y = self.conv.forward(x.swap_dims(1, 2));
        self.activation.apply(y).swap_dims(1, 2)
    }
}

/// One transformer block: post-LayerNorm (wav2vec2-base) or pre-LayerNorm
/// (`do_stable_layer_norm`).
#[derive(Module, Debug)]
pub struct EncoderLayer {
    /// Self-attention with its output projection.
    attention: SelfAttention,
    /// transformers' `layer_norm`: after the attention residual (post-LN) or before the
    /// attention (pre-LN).
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    /// transformers' `final_layer_norm`: after the feed-forward residual (post-LN) or before
    /// the feed-forward (pre-LN).
    final_norm: LayerNorm,
    activation_dropout: Dropout,
    dropout: Dropout,
    #[module(skip)]
    activation: HiddenAct,
    #[module(skip)]
    pre_norm: bool,
}

impl EncoderLayer {
    /// Self-attention of `x` `[batch, frames, hidden]`; `mask_bias` `[batch, 1, 1, frames]` is
    /// added to the scores (0 for valid keys, `f32::MIN` for padding).
    fn attend(&self, x: Tensor<3>, mask_bias: Option<Tensor<4>>) -> Tensor<3> {
        self.dropout.forward(self.attention.forward(x, mask_bias))
    }

    fn feed_forward(&self, x: Tensor<3>) -> Tensor<3> {
        let inner = self.activation.apply(self.intermediate.forward(x));
        let inner = self.activation_dropout.forward(inner);
        self.dropout.forward(self.output.forward(inner))
    }

    /// `[batch, frames, hidden]` to `[batch, frames, hidden]`.
    fn forward(&self, x: Tensor<3>, mask_bias: Option<Tensor<4>>) -> Tensor<3> {
        if self.pre_norm {
            let x = x.clone() + self.attend(self.attention_norm.forward(x), mask_bias);
            x.clone() + self.feed_forward(self.final_norm.forward(x))
        } else {
            let x = self
                .attention_norm
                .forward(x.clone() + self.attend(x, mask_bias));
            self.final_norm.forward(x.clone() + self.feed_forward(x))
        }
    }
}

/// Inputs of [`Wav2Vec2Model::forward`].
#[derive(Debug, Clone)]
pub struct Wav2Vec2Input {
    /// Waveforms `[batch, samples]` at 16 kHz, normalised as the model's feature extractor does
    /// (zero mean, unit variance per clip; see [`crate::audio::NormalizeOver`]).
    pub input_values: Tensor<2>,
    /// 1 for audio, 0 for padding, `[batch, samples]`. When given, padded frames are zeroed
    /// before the positional convolution and masked out of attention and of `pooled`, as in
    /// transformers. wav2vec2-base's processor gives none (all frames count).
    pub attention_mask: Option<Tensor<2, Int>>,
    /// Whether to return every layer's hidden state.
    pub output_hidden_states: bool,
}

impl Wav2Vec2Input {
    /// Waveforms without attention mask, last hidden state only.
    pub fn new(input_values: Tensor<2>) -> Self {
        Self {
            input_values,
            attention_mask: None,
            output_hidden_states: false,
        }
    }

    /// Sets the attention mask.
    pub fn with_attention_mask(mut self, attention_mask: Tensor<2, Int>) -> Self {
        self.attention_mask = Some(attention_mask);
        self
    }

    /// Asks for every hidden state.
    pub fn with_hidden_states(mut self, yes: bool) -> Self {
        self.output_hidden_states = yes;
        self
    }
}

/// Outputs of [`Wav2Vec2Model::forward`].
#[derive(Debug, Clone)]
pub struct Wav2Vec2Output {
    /// The conv encoder's features after the feature projection's LayerNorm, `[batch, frames,
    /// conv_dim]`: what transformers returns as `extract_features`.
    pub extract_features: Tensor<3>,
    /// Final hidden state `[batch, frames, hidden]` (after the final LayerNorm in the
    /// pre-LayerNorm variant).
    pub last_hidden_state: Tensor<3>,
    /// With `output_hidden_states`: the input of the first layer, then each layer's output
    /// (`num_layers + 1` tensors `[batch, frames, hidden]`), as transformers 5 returns them: in
    /// the pre-LayerNorm variant the last one is the last layer's output *before* the final
    /// LayerNorm. Empty otherwise.
    pub hidden_states: Vec<Tensor<3>>,
    /// Utterance vector: the mean of `last_hidden_state` over valid frames (all frames without
    /// an attention mask), `[batch, hidden]`.
    pub pooled: Tensor<2>,
    /// Valid frames `[batch, frames]` when an attention mask was given.
    pub frame_mask: Option<Tensor<2, Bool>>,
}

/// Mean of `x` `[batch, frames, hidden]` over the frames where `mask` `[batch, frames]` is true
/// (all frames when `None`); `[batch, hidden]`. Rows without a valid frame give zeros.
pub fn masked_mean(x: Tensor<3>, mask: Option<Tensor<2, Bool>>) -> Tensor<2> {
    let [batch, frames, hidden] = x.dims();
    match mask {
        None => x.mean_dim(1).reshape([batch, hidden]),
        Some(mask) => {
            let weights = mask.float().reshape([batch, frames, 1]);
            let counts = weights.clone().sum_dim(1).clamp_min(1.0); // [batch, 1, 1]
            (x * weights)
                .sum_dim(1)
                .div(counts)
                .reshape([batch, hidden])
        }
    }
}

/// A Wav2Vec2 encoder (transformers' `Wav2Vec2Model`).
#[derive(Module, Debug)]
pub struct Wav2Vec2Model {
    feature_extractor: FeatureEncoder,
    feature_projection: FeatureProjection,
    pos_conv: PositionalConvEmbedding,
    /// transformers' `encoder.layer_norm`: after the positional embedding (post-LN) or after
    /// the last layer (pre-LN).
    encoder_norm: LayerNorm,
    dropout: Dropout,
    layers: Vec<EncoderLayer>,
    #[module(skip)]
    stable_layer_norm: bool,
    #[module(skip)]
    conv_kernel: Vec<usize>,
    #[module(skip)]
    conv_stride: Vec<usize>,
}

impl Wav2Vec2Model {
    /// Loads the encoder from a HuggingFace model folder (`config.json`, `model.safetensors`),
    /// with or without the `wav2vec2.` prefix of checkpoints saved with a head (whose
    /// `lm_head.*` / classifier keys are reported unused). Returns the model, its configuration
    /// and the load report (logged with [`LoadReport::log`]). Errors name the file and what is
    /// wrong: unknown `model_type` or `feat_extract_norm`, missing tensors (all listed), shape
    /// mismatches.
    pub fn from_pretrained(
        dir: &Path,
        device: &Device,
    ) -> Result<(Self, Wav2Vec2Config, LoadReport)> {
        let folder = HubFolder::new(dir)?;
        let config = Wav2Vec2Config::from_hf_file(&folder.config()?)?;
        let mut weights = HubWeights::open(&folder.weights()?, &config.key_mapping(), device)?;
        let model = config.build(&mut weights);
        let report = weights.finish("Wav2Vec2Model")?;
        report.log("Wav2Vec2Model");
        Ok((model, config, report))
    }

    /// Runs only the conv feature encoder: waveforms `[batch, samples]` to features `[batch,
    /// frames, conv_dim]` (before the feature projection's LayerNorm).
    pub fn conv_features(&self, input_values: Tensor<2>) -> Tensor<3> {
        self.feature_extractor.forward(input_values).swap_dims(1, 2)
    }

    /// Encodes a batch.
    ///
    /// Shapes: `input_values`, `attention_mask` `[batch, samples]`; outputs as documented on
    /// [`Wav2Vec2Output`], with `frames` = `Wav2Vec2Config::frames(samples)`. Panics when the
    /// clips are shorter than one frame (check with [`Wav2Vec2Config::check_inputs`] first).
    pub fn forward(&self, input: Wav2Vec2Input) -> Wav2Vec2Output {
        let features = self.conv_features(input.input_values);
        let [batch, frames, _] = features.dims();
        let frame_mask = input
            .attention_mask
            .map(|mask| frame_mask(mask, frames, &self.conv_kernel, &self.conv_stride));
        let (mut x, extract_features) = self.feature_projection.forward(features);
        let mask_bias = frame_mask.as_ref().map(|mask| {
            let valid = mask.clone().float();
            // Padded frames enter the positional convolution as zeros.
            x = x.clone() * valid.clone().reshape([batch, frames, 1]);
            valid
                .neg()
                .add_scalar(1.0)
                .mul_scalar(f32::MIN)
                .reshape([batch, 1, 1, frames])
        });
        x = x.clone() + self.pos_conv.forward(x);
        if !self.stable_layer_norm {
            x = self.encoder_norm.forward(x);
        }
        x = self.dropout.forward(x);
        let mut hidden_states = Vec::new();
        for layer in &self.layers {
            if input.output_hidden_states {
                hidden_states.push(x.clone());
            }
            x = layer.forward(x, mask_bias.clone());
        }
        if input.output_hidden_states {
            hidden_states.push(x.clone());
        }
        if self.stable_layer_norm {
            x = self.encoder_norm.forward(x);
        }
        let pooled = masked_mean(x.clone(), frame_mask.clone());
        Wav2Vec2Output {
            extract_features,
            last_hidden_state: x,
            hidden_states,
            pooled,
            frame_mask,
        }
    }
}

/// What flows between the stages of a split Wav2Vec2 encoder.
#[derive(Debug, Clone)]
pub enum AudioState {
    /// Normalised waveforms `[batch, samples]` and their attention mask (1 audio, 0 padding).
    Waveform {
        /// `[batch, samples]`.
        values: Tensor<2>,
        /// `[batch, samples]`.
        attention_mask: Tensor<2, Int>,
    },
    /// Conv feature encoder output `[batch, frames, conv_dim]` and the valid frames.
    Conv {
        /// `[batch, frames, conv_dim]`.
        features: Tensor<3>,
        /// `[batch, frames]`.
        frame_mask: Tensor<2, Bool>,
    },
    /// Transformer hidden states `[batch, frames, hidden]` and the valid frames.
    Hidden {
        /// `[batch, frames, hidden]`.
        x: Tensor<3>,
        /// `[batch, frames]`.
        frame_mask: Tensor<2, Bool>,
    },
}

/// Feature projection, positional convolution and (post-LayerNorm models) the encoder
/// LayerNorm: what turns conv features into the first layer's input.
#[derive(Module, Debug)]
pub struct Wav2Vec2Front {
    feature_projection: FeatureProjection,
    pos_conv: PositionalConvEmbedding,
    norm: Option<LayerNorm>,
    dropout: Dropout,
}

impl Wav2Vec2Front {
    fn forward(&self, features: Tensor<3>, frame_mask: &Tensor<2, Bool>) -> Tensor<3> {
        let [batch, frames, _] = features.dims();
        let (x, _) = self.feature_projection.forward(features);
        // Padded frames enter the positional convolution as zeros (as in `forward`).
        let x = x * frame_mask.clone().float().reshape([batch, frames, 1]);
        let mut x = x.clone() + self.pos_conv.forward(x);
        if let Some(norm) = &self.norm {
            x = norm.forward(x);
        }
        self.dropout.forward(x)
    }
}

/// A contiguous part of a [`Wav2Vec2Model`] (see [`Wav2Vec2Model::split`]).
#[derive(Module, Debug)]
pub struct Wav2Vec2Stage {
    conv: Option<FeatureEncoder>,
    front: Option<Wav2Vec2Front>,
    layers: Vec<EncoderLayer>,
    /// The final LayerNorm of pre-LayerNorm models, after the last layer.
    final_norm: Option<LayerNorm>,
    #[module(skip)]
    conv_kernel: Vec<usize>,
    #[module(skip)]
    conv_stride: Vec<usize>,
}

impl Wav2Vec2Model {
    /// Splits the encoder into a frozen stage and a trainable stage: the last `n` transformer
    /// layers train for [`TrainLayers::Last`] (`n` capped at the number of layers); for
    /// [`TrainLayers::All`] everything above the conv feature encoder trains, and the conv
    /// encoder too when `train_conv`.
    pub fn split(self, train: TrainLayers, train_conv: bool) -> (Wav2Vec2Stage, Wav2Vec2Stage) {
        let front = Wav2Vec2Front {
            feature_projection: self.feature_projection,
            pos_conv: self.pos_conv,
            norm: (!self.stable_layer_norm).then(|| self.encoder_norm.clone()),
            dropout: self.dropout,
        };
        let final_norm = self.stable_layer_norm.then_some(self.encoder_norm);
        let stage = |conv, front, layers, final_norm| Wav2Vec2Stage {
            conv,
            front,
            layers,
            final_norm,
            conv_kernel: self.conv_kernel.clone(),
            conv_stride: self.conv_stride.clone(),
        };
        let mut layers = self.layers;
        match train {
            TrainLayers::All => {
                let (frozen_conv, trained_conv) = if train_conv {
                    (None, Some(self.feature_extractor))
                } else {
                    (Some(self.feature_extractor), None)
                };
                (
                    stage(frozen_conv, None, Vec::new(), None),
                    stage(trained_conv, Some(front), layers, final_norm),
                )
            }
            TrainLayers::Last(n) => {
                let top = layers.split_off(layers.len() - n.min(layers.len()));
                let (frozen_norm, trained_norm) = if top.is_empty() {
                    (final_norm, None)
                } else {
                    (None, final_norm)
                };
                (
                    stage(
                        Some(self.feature_extractor),
                        Some(front),
                        layers,
                        frozen_norm,
                    ),
                    stage(None, None, top, trained_norm),
                )
            }
        }
    }
}

impl Wav2Vec2Stage {
    /// Whether the stage computes nothing.
    pub fn is_empty(&self) -> bool {
        self.conv.is_none()
            && self.front.is_none()
            && self.layers.is_empty()
            && self.final_norm.is_none()
    }

    /// Whether the stage's output is hidden states (not conv features).
    pub fn ends_in_hidden(&self) -> bool {
        self.front.is_some() || !self.layers.is_empty() || self.final_norm.is_some()
    }

    /// Whether the stage starts with the conv feature encoder (takes waveforms).
    pub fn takes_waveforms(&self) -> bool {
        self.conv.is_some()
    }

    /// Number of transformer layers in the stage.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Runs the stage from whatever state it starts at to the state it ends at.
    ///
    /// # Panics
    /// When `state` is not the stage's input kind: the caller pairs stages.
    pub fn forward(&self, state: AudioState) -> AudioState {
        let mut state = state;
        if let Some(conv) = &self.conv {
            let AudioState::Waveform {
                values,
                attention_mask,
            } = state
            else {
                panic!("a stage with the conv feature encoder takes waveforms");
            };
            let features = conv.forward(values).swap_dims(1, 2);
            let [_, frames, _] = features.dims();
            let frame_mask =
                frame_mask(attention_mask, frames, &self.conv_kernel, &self.conv_stride);
            state = AudioState::Conv {
                features,
                frame_mask,
            };
        }
        if let Some(front) = &self.front {
            let AudioState::Conv {
                features,
                frame_mask,
            } = state
            else {
                panic!("a stage with the feature projection takes conv features");
            };
            let x = front.forward(features, &frame_mask);
            state = AudioState::Hidden { x, frame_mask };
        }
        if self.layers.is_empty() && self.final_norm.is_none() {
            return state;
        }
        let AudioState::Hidden { mut x, frame_mask } = state else {
            panic!("a stage of transformer layers takes hidden states");
        };
        let [batch, frames] = frame_mask.dims();
        let mask_bias = frame_mask
            .clone()
            .float()
            .neg()
            .add_scalar(1.0)
            .mul_scalar(f32::MIN)
            .reshape([batch, 1, 1, frames]);
        for layer in &self.layers {
            x = layer.forward(x, Some(mask_bias.clone()));
        }
        if let Some(norm) = &self.final_norm {
            x = norm.forward(x);
        }
        AudioState::Hidden { x, frame_mask }
    }
}
