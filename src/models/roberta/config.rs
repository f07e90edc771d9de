//! The encoder's configuration: [`HfEncoderConfig`], a HuggingFace `config.json` as it is
//! written, and [`RobertaConfig`], what the model is built from (checked and converted from the
//! former, or made by hand for random-weight models).

use crate::models::hub::config::read_json;
use crate::models::hub::safetensors::KeyMapping;
use crate::models::nn::HiddenAct;
use anyhow::{Result, bail};
use burn::config::Config;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The fields of a HuggingFace BERT / RoBERTa `config.json` that the encoder uses (other fields
/// are ignored), named exactly as the JSON keys: transformers' `RobertaConfig` / `BertConfig`
/// as serialised. Defaults are transformers' `BertConfig` defaults.
#[derive(Debug, Clone, Deserialize)]
pub struct HfEncoderConfig {
    /// `roberta` or `bert`.
    pub model_type: String,
    /// Token vocabulary size.
    pub vocab_size: usize,
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
    /// Feed-forward activation (`gelu`, `gelu_new`, `gelu_pytorch_tanh`, `relu`, `silu`).
    #[serde(default = "defaults::hidden_act")]
    pub hidden_act: String,
    /// Dropout on embeddings and block outputs.
    #[serde(default = "defaults::dropout")]
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities.
    #[serde(default = "defaults::dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Rows of the position table.
    #[serde(default = "defaults::max_positions")]
    pub max_position_embeddings: usize,
    /// Rows of the token type (segment) table.
    #[serde(default = "defaults::type_vocab_size")]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    #[serde(default = "defaults::layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Padding token id (RoBERTa's position ids depend on it).
    #[serde(default)]
    pub pad_token_id: Option<usize>,
    /// Standard deviation of newly initialised weights.
    #[serde(default = "defaults::initializer_range")]
    pub initializer_range: f64,
    /// Only `absolute` is supported.
    #[serde(default)]
    pub position_embedding_type: Option<String>,
    /// Decoder configurations (causal, cross-attention) are not supported.
    #[serde(default)]
    pub is_decoder: bool,
    /// Class names of a classification checkpoint (their count is the number of labels).
    #[serde(default)]
    pub id2label: Option<BTreeMap<String, String>>,
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
    pub fn hidden_act() -> String {
        "gelu".into()
    }
    pub fn dropout() -> f64 {
        0.1
    }
    pub fn max_positions() -> usize {
        512
    }
    pub fn type_vocab_size() -> usize {
        2
    }
    pub fn layer_norm_eps() -> f64 {
        1e-12
    }
    pub fn initializer_range() -> f64 {
        0.02
    }
}

/// Which family a checkpoint belongs to.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum EncoderKind {
    /// BERT: positions 0..n, token type ids, `bert.` key prefix.
    Bert,
    /// RoBERTa: positions from the padding (`pad_token_id + 1`...), `roberta.` key prefix.
    Roberta,
}

/// Configuration of `RobertaModel` (BERT or RoBERTa), made from a [`HfEncoderConfig`] or by
/// hand; the model takes this and nothing else.
#[derive(Config, Debug)]
pub struct RobertaConfig {
    /// BERT or RoBERTa.
    pub kind: EncoderKind,
    /// Token vocabulary size.
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Transformer layers.
    pub num_layers: usize,
    /// Attention heads (must divide `hidden_size`).
    pub num_heads: usize,
    /// Feed-forward width.
    pub intermediate_size: usize,
    /// Feed-forward activation.
    #[config(default = "HiddenAct::Gelu")]
    pub hidden_act: HiddenAct,
    /// Rows of the position table.
    #[config(default = 514)]
    pub max_position_embeddings: usize,
    /// Rows of the token type table.
    #[config(default = 1)]
    pub type_vocab_size: usize,
    /// Padding token id.
    #[config(default = 1)]
    pub pad_token_id: usize,
    /// LayerNorm epsilon.
    #[config(default = 1e-5)]
    pub layer_norm_eps: f64,
    /// Dropout on embeddings and block outputs.
    #[config(default = 0.1)]
    pub hidden_dropout: f64,
    /// Dropout on attention probabilities.
    #[config(default = 0.1)]
    pub attention_dropout: f64,
    /// Standard deviation of newly initialised weights.
    #[config(default = 0.02)]
    pub initializer_range: f64,
}

impl RobertaConfig {
    /// roberta-base's sizes (125M parameters), e.g. for benchmarks with random weights.
    pub fn roberta_base() -> Self {
        Self::new(EncoderKind::Roberta, 50265, 768, 12, 12, 3072)
    }

    /// Reads a HuggingFace `config.json`.
    pub fn from_hf_file(path: &Path) -> Result<Self> {
        let hf: HfEncoderConfig = read_json(path)?;
        Self::from_hf(&hf, path)
    }

    /// Converts a HuggingFace configuration read from `path` (named in errors).
    pub fn from_hf(hf: &HfEncoderConfig, path: &Path) -> Result<Self> {
        let file = path.display();
        let kind = match hf.model_type.as_str() {
            "roberta" => EncoderKind::Roberta,
            "bert" => EncoderKind::Bert,
            other => bail!(
                "{file}: model_type `{other}` is not a text encoder emofuse can load; supported: \
                 `roberta`, `bert` (use a RoBERTa or BERT checkpoint, e.g. roberta-base)"
            ),
        };
        let hidden_act = HiddenAct::from_hf(&hf.hidden_act, "hidden_act", &file.to_string())?;
        if let Some(kind) = hf.position_embedding_type.as_deref()
            && kind != "absolute"
        {
            bail!("{file}: position_embedding_type `{kind}` is not supported (only `absolute`)");
        }
        if hf.is_decoder {
            bail!("{file}: is_decoder is true; only encoder checkpoints are supported");
        }
        if hf.num_attention_heads == 0 || !hf.hidden_size.is_multiple_of(hf.num_attention_heads) {
            bail!(
                "{file}: hidden_size {} is not a multiple of num_attention_heads {}",
                hf.hidden_size,
                hf.num_attention_heads
            );
        }
        let pad_token_id = hf.pad_token_id.unwrap_or(match kind {
            EncoderKind::Roberta => 1,
            EncoderKind::Bert => 0,
        });
        let config = Self::new(
            kind,
            hf.vocab_size,
            hf.hidden_size,
            hf.num_hidden_layers,
            hf.num_attention_heads,
            hf.intermediate_size,
        )
        .with_hidden_act(hidden_act)
        .with_max_position_embeddings(hf.max_position_embeddings)
        .with_type_vocab_size(hf.type_vocab_size)
        .with_pad_token_id(pad_token_id)
        .with_layer_norm_eps(hf.layer_norm_eps)
        .with_hidden_dropout(hf.hidden_dropout_prob)
        .with_attention_dropout(hf.attention_probs_dropout_prob)
        .with_initializer_range(hf.initializer_range);
        if config.max_tokens() == 0 {
            bail!(
                "{file}: max_position_embeddings {} leaves no room for tokens after the padding \
                 offset (pad_token_id {pad_token_id})",
                hf.max_position_embeddings
            );
        }
        Ok(config)
    }

    /// Longest sequence the position table covers (RoBERTa loses `pad_token_id + 1` rows to
    /// the padding offset: 512 for roberta-base).
    pub fn max_tokens(&self) -> usize {
        match self.kind {
            EncoderKind::Roberta => self
                .max_position_embeddings
                .saturating_sub(self.pad_token_id + 1),
            EncoderKind::Bert => self.max_position_embeddings,
        }
    }

    /// Checks model inputs before `RobertaModel::forward` (which panics on out-of-range ids):
    /// `ids` and `mask` are `[batch, tokens]` row-major; `source` names their origin in errors.
    pub fn check_inputs(
        &self,
        shape: &[usize],
        ids: &[i64],
        mask: &[i64],
        token_types: Option<&[i64]>,
        source: &str,
    ) -> Result<()> {
        if shape.len() != 2 || shape[0] == 0 || shape[1] == 0 {
            bail!("{source}: input_ids must be [batch, tokens] and not empty, found {shape:?}");
        }
        if shape[1] > self.max_tokens() {
            bail!(
                "{source}: {} tokens per sequence, the model takes at most {} (truncate to that \
                 length)",
                shape[1],
                self.max_tokens()
            );
        }
        if mask.len() != ids.len() {
            bail!("{source}: attention_mask must have the shape of input_ids {shape:?}");
        }
        if let Some(bad) = ids
            .iter()
            .find(|&&id| id < 0 || id as usize >= self.vocab_size)
        {
            bail!(
                "{source}: token id {bad} is outside the vocabulary (0..{}); were the ids made \
                 with this model's tokenizer?",
                self.vocab_size
            );
        }
        if let Some(bad) = mask.iter().find(|&&m| m != 0 && m != 1) {
            bail!("{source}: attention_mask holds {bad}; it must be 1 (token) or 0 (padding)");
        }
        if let Some(types) = token_types {
            if types.len() != ids.len() {
                bail!("{source}: token_type_ids must have the shape of input_ids {shape:?}");
            }
            if let Some(bad) = types
                .iter()
                .find(|&&t| t < 0 || t as usize >= self.type_vocab_size)
            {
                bail!(
                    "{source}: token type id {bad} is outside 0..{}",
                    self.type_vocab_size
                );
            }
        }
        Ok(())
    }

    /// The key mapping of this family's checkpoints: the head prefix (`roberta.` / `bert.`)
    /// stripped, LayerNorm `gamma`/`beta` renamed.
    pub fn key_mapping(&self) -> KeyMapping {
        let prefix = match self.kind {
            EncoderKind::Roberta => "roberta",
            EncoderKind::Bert => "bert",
        };
        KeyMapping {
            prefixes: vec![prefix.to_string()],
            renames: KeyMapping::layer_norm_renames(),
        }
    }

    /// transformers' class name of the encoder, for messages.
    pub fn model_name(&self) -> String {
        match self.kind {
            EncoderKind::Roberta => "RobertaModel".into(),
            EncoderKind::Bert => "BertModel".into(),
        }
    }
}
