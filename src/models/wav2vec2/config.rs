//! The encoder's configuration: [`HfWav2Vec2Config`], a HuggingFace `config.json` as it is
//! written, and [`Wav2Vec2Config`], what the model is built from (checked and converted from
//! the former, or made by hand for random-weight models).

use crate::models::hub::config::read_json;
use crate::models::hub::safetensors::KeyMapping;
use crate::models::nn::HiddenAct;
use crate::models::wav2vec2::frames::{feat_extract_output_length, frame_mask};
use anyhow::{Result, bail};
use burn::config::Config;
use burn::tensor::{Bool, Int, Tensor};
use serde::Deserialize;
use std::path::Path;

/// The fields of a HuggingFace Wav2Vec2 `config.json` that the encoder uses (other fields are
/// ignored), named exactly as the JSON keys: transformers' `Wav2Vec2Config` as serialised.
/// Defaults are transformers' `Wav2Vec2Config` defaults (wav2vec2-base).
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

/// Configuration of `Wav2Vec2Model`, made from a [`HfWav2Vec2Config`] or by hand; the model
/// takes this and nothing else.
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
        .with_feat_extract_activation(HiddenAct::from_hf(
            &hf.feat_extract_activation,
            "feat_extract_activation",
            &file,
        )?)
        .with_hidden_act(HiddenAct::from_hf(&hf.hidden_act, "hidden_act", &file)?)
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

    /// Checks model inputs before `Wav2Vec2Model::forward`: `shape` `[batch, samples]`,
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
}
