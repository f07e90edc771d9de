//! BERT and RoBERTa text encoders, configured from a HuggingFace `config.json` and loaded from
//! `model.safetensors` (see [`crate::models::hub`]).
//!
//! One implementation serves both: they differ only in how position ids are made (RoBERTa counts
//! from `pad_token_id + 1` and gives padding the position `pad_token_id`, as transformers'
//! `create_position_ids_from_input_ids`; BERT counts from 0), in their default sizes and in the
//! names of their classification heads. Computation follows transformers' eager implementation:
//! post-LayerNorm blocks, an additive attention mask of `f32::MIN` on padded keys, erf GELU,
//! dropout active only when training on an autodiff device.
//!
//! Parameters carry transformers' names (`encoder.layer.3.attention.self.query.weight`), so a
//! checkpoint loads by name; see [`RobertaModel::from_pretrained`].

use crate::models::attention::{AttentionNames, SelfAttention};
use crate::models::finetune::TrainLayers;
use crate::models::hub::HubFolder;
use crate::models::hub::config::read_json;
use crate::models::hub::safetensors::{
    FreshInit, HubWeights, KeyMapping, LoadReport, ParamSource, embedding, layer_norm, linear,
};
use anyhow::{Result, bail};
use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, LayerNorm, Linear};
use burn::tensor::activation::{gelu, gelu_approximate, relu, silu};
use burn::tensor::{Device, Int, Tensor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The fields of a HuggingFace BERT / RoBERTa `config.json` that the encoder uses (other fields
/// are ignored). Defaults are transformers' `BertConfig` defaults.
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

/// Feed-forward activation.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum HiddenAct {
    /// Exact (erf) GELU, transformers' `gelu`.
    Gelu,
    /// tanh-approximated GELU (`gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    /// ReLU.
    Relu,
    /// SiLU / swish.
    Silu,
}

impl HiddenAct {
    pub(crate) fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            HiddenAct::Gelu => gelu(x),
            HiddenAct::GeluTanh => gelu_approximate(x),
            HiddenAct::Relu => relu(x),
            HiddenAct::Silu => silu(x),
        }
    }
}

/// Configuration of [`RobertaModel`] (BERT or RoBERTa).
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
        let hidden_act = match hf.hidden_act.as_str() {
            "gelu" => HiddenAct::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => HiddenAct::GeluTanh,
            "relu" => HiddenAct::Relu,
            "silu" | "swish" => HiddenAct::Silu,
            other => bail!(
                "{file}: hidden_act `{other}` is not supported (supported: gelu, gelu_new, \
                 gelu_pytorch_tanh, gelu_fast, relu, silu, swish)"
            ),
        };
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

    /// Checks model inputs before [`RobertaModel::forward`] (which panics on out-of-range ids):
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

    /// Builds the encoder with newly initialised weights (transformers' scheme: normal(0,
    /// `initializer_range`) weights, zero biases, unit LayerNorm scales).
    pub fn init(&self, device: &Device) -> RobertaModel {
        self.build(&mut FreshInit::new(device))
    }

    /// Builds the encoder, asking `source` for every parameter by its transformers name.
    pub fn build<S: ParamSource>(&self, source: &mut S) -> RobertaModel {
        let h = self.hidden_size;
        let std = self.initializer_range;
        let eps = self.layer_norm_eps;
        let embeddings = Embeddings {
            word: embedding(
                source,
                "embeddings.word_embeddings",
                self.vocab_size,
                h,
                std,
            ),
            position: embedding(
                source,
                "embeddings.position_embeddings",
                self.max_position_embeddings,
                h,
                std,
            ),
            token_type: embedding(
                source,
                "embeddings.token_type_embeddings",
                self.type_vocab_size,
                h,
                std,
            ),
            norm: layer_norm(source, "embeddings.LayerNorm", h, eps),
            dropout: DropoutConfig::new(self.hidden_dropout).init(),
            kind: self.kind,
            pad_token_id: self.pad_token_id,
        };
        let layers = (0..self.num_layers)
            .map(|i| {
                let p = format!("encoder.layer.{i}");
                let names = AttentionNames {
                    qkv: ["query", "key", "value"].map(|n| format!("{p}.attention.self.{n}")),
                    output: format!("{p}.attention.output.dense"),
                };
                Layer {
                    attention: SelfAttention::build(
                        source,
                        &names,
                        h,
                        self.num_heads,
                        self.attention_dropout,
                        std,
                    ),
                    attention_norm: layer_norm(
                        source,
                        &format!("{p}.attention.output.LayerNorm"),
                        h,
                        eps,
                    ),
                    intermediate: linear(
                        source,
                        &format!("{p}.intermediate.dense"),
                        h,
                        self.intermediate_size,
                        std,
                        false,
                    ),
                    output: linear(
                        source,
                        &format!("{p}.output.dense"),
                        self.intermediate_size,
                        h,
                        std,
                        false,
                    ),
                    output_norm: layer_norm(source, &format!("{p}.output.LayerNorm"), h, eps),
                    dropout: DropoutConfig::new(self.hidden_dropout).init(),
                    activation: self.hidden_act,
                }
            })
            .collect();
        RobertaModel { embeddings, layers }
    }

    /// Builds a sequence classification head for `num_labels` classes, loaded from `source`
    /// when it has one (transformers' `RobertaForSequenceClassification` /
    /// `BertForSequenceClassification` names), newly initialised otherwise.
    pub fn build_head<S: ParamSource>(
        &self,
        source: &mut S,
        num_labels: usize,
    ) -> ClassificationHead {
        let h = self.hidden_size;
        let std = self.initializer_range;
        // Same computation (dense, tanh, dropout, linear on the first token), different names:
        // RoBERTa keeps it in `classifier.{dense,out_proj}`, BERT splits it into the pooler
        // (under the `bert.` prefix) and `classifier`.
        let (dense, out) = match self.kind {
            EncoderKind::Roberta => ("classifier.dense", "classifier.out_proj"),
            EncoderKind::Bert => ("pooler.dense", "classifier"),
        };
        ClassificationHead {
            dense: linear(source, dense, h, h, std, true),
            out: linear(source, out, h, num_labels, std, true),
            dropout: DropoutConfig::new(self.hidden_dropout).init(),
            dropout_first: self.kind == EncoderKind::Roberta,
        }
    }
}

/// Token, position and token type embeddings, summed and normalised.
#[derive(Module, Debug)]
pub struct Embeddings {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    norm: LayerNorm,
    dropout: Dropout,
    #[module(skip)]
    kind: EncoderKind,
    #[module(skip)]
    pad_token_id: usize,
}

impl Embeddings {
    /// `[batch, tokens]` ids (and token types, default 0) to `[batch, tokens, hidden]`.
    fn forward(&self, ids: Tensor<2, Int>, token_types: Option<Tensor<2, Int>>) -> Tensor<3> {
        let [batch, tokens] = ids.dims();
        let device = ids.device();
        let positions = match self.kind {
            // transformers' create_position_ids_from_input_ids: padding keeps position
            // `pad`, real tokens count from `pad + 1` (so a left-padded row still starts at
            // pad + 1).
            EncoderKind::Roberta => {
                let pad = self.pad_token_id as i64;
                let real = ids.clone().not_equal_elem(pad).int();
                (real.clone().cumsum(1) * real).add_scalar(pad)
            }
            EncoderKind::Bert => Tensor::<1, Int>::arange(0..tokens as i64, &device)
                .reshape([1, tokens])
                .repeat_dim(0, batch),
        };
        let token_types = token_types.unwrap_or_else(|| Tensor::zeros([batch, tokens], &device));
        let x = self.word.forward(ids) + self.token_type.forward(token_types);
        let x = x + self.position.forward(positions);
        self.dropout.forward(self.norm.forward(x))
    }
}

/// One post-LayerNorm transformer block (self-attention, feed-forward).
#[derive(Module, Debug)]
pub struct Layer {
    attention: SelfAttention,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    dropout: Dropout,
    #[module(skip)]
    activation: HiddenAct,
}

impl Layer {
    /// `x`: `[batch, tokens, hidden]`; `mask_bias`: `[batch, 1, 1, tokens]`, 0 for tokens and
    /// `f32::MIN` for padding, added to the attention scores.
    fn forward(&self, x: Tensor<3>, mask_bias: Tensor<4>) -> Tensor<3> {
        let context = self.attention.forward(x.clone(), Some(mask_bias));
        let attended = self
            .attention_norm
            .forward(self.dropout.forward(context) + x);
        let inner = self
            .activation
            .apply(self.intermediate.forward(attended.clone()));
        self.output_norm
            .forward(self.dropout.forward(self.output.forward(inner)) + attended)
    }
}

/// Inputs of [`RobertaModel::forward`].
#[derive(Debug, Clone)]
pub struct RobertaInput {
    /// Token ids `[batch, tokens]`.
    pub input_ids: Tensor<2, Int>,
    /// 1 for tokens, 0 for padding, `[batch, tokens]` (default: all ones).
    pub attention_mask: Option<Tensor<2, Int>>,
    /// Segment ids `[batch, tokens]` (default: zeros).
    pub token_type_ids: Option<Tensor<2, Int>>,
    /// Whether to return every layer's hidden state.
    pub output_hidden_states: bool,
}

impl RobertaInput {
    /// Ids and attention mask, no token types, last hidden state only.
    pub fn new(input_ids: Tensor<2, Int>, attention_mask: Tensor<2, Int>) -> Self {
        Self {
            input_ids,
            attention_mask: Some(attention_mask),
            token_type_ids: None,
            output_hidden_states: false,
        }
    }

    /// Sets the token type ids.
    pub fn with_token_type_ids(mut self, token_type_ids: Tensor<2, Int>) -> Self {
        self.token_type_ids = Some(token_type_ids);
        self
    }

    /// Asks for every hidden state.
    pub fn with_hidden_states(mut self, yes: bool) -> Self {
        self.output_hidden_states = yes;
        self
    }
}

/// Outputs of [`RobertaModel::forward`].
#[derive(Debug, Clone)]
pub struct RobertaOutput {
    /// Final hidden state `[batch, tokens, hidden]`.
    pub last_hidden_state: Tensor<3>,
    /// With `output_hidden_states`: the embedding output then each layer's output
    /// (`num_layers + 1` tensors `[batch, tokens, hidden]`); empty otherwise.
    pub hidden_states: Vec<Tensor<3>>,
    /// Utterance vector: the first token's final state (`<s>` / `[CLS]`), `[batch, hidden]`.
    pub pooled: Tensor<2>,
}

/// A BERT or RoBERTa encoder.
#[derive(Module, Debug)]
pub struct RobertaModel {
    embeddings: Embeddings,
    layers: Vec<Layer>,
}

impl RobertaModel {
    /// Loads the encoder from a HuggingFace model folder (`config.json`, `model.safetensors`):
    /// returns the model, its configuration and the load report (logged with
    /// [`LoadReport::log`]). Errors name the file and what is wrong: unknown `model_type`,
    /// missing tensors (all listed), shape mismatches.
    pub fn from_pretrained(
        dir: &Path,
        device: &Device,
    ) -> Result<(Self, RobertaConfig, LoadReport)> {
        let folder = HubFolder::new(dir)?;
        let config = RobertaConfig::from_hf_file(&folder.config()?)?;
        let mut weights = HubWeights::open(&folder.weights()?, &config.key_mapping(), device)?;
        let model = config.build(&mut weights);
        let report = weights.finish(&model_name(&config))?;
        report.log(&model_name(&config));
        Ok((model, config, report))
    }

    /// The token embedding table `[vocab_size, hidden]`.
    pub fn word_embeddings(&self) -> Tensor<2> {
        self.embeddings.word.weight.val()
    }

    /// Encodes a batch.
    ///
    /// Shapes: `input_ids`, `attention_mask`, `token_type_ids` `[batch, tokens]`;
    /// outputs as documented on [`RobertaOutput`]. Panics when an id is outside its table
    /// (check with [`RobertaConfig::check_inputs`] first).
    pub fn forward(&self, input: RobertaInput) -> RobertaOutput {
        let [batch, tokens] = input.input_ids.dims();
        let device = input.input_ids.device();
        let mask = input
            .attention_mask
            .unwrap_or_else(|| Tensor::ones([batch, tokens], &device));
        // transformers' extended mask: (1 - mask) * finfo(f32).min, added to the scores.
        let mask_bias = mask
            .float()
            .neg()
            .add_scalar(1.0)
            .mul_scalar(f32::MIN)
            .reshape([batch, 1, 1, tokens]);
        let mut x = self
            .embeddings
            .forward(input.input_ids, input.token_type_ids);
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
        let [_, _, hidden] = x.dims();
        let pooled = x
            .clone()
            .slice([0..batch, 0..1, 0..hidden])
            .reshape([batch, hidden]);
        RobertaOutput {
            last_hidden_state: x,
            hidden_states,
            pooled,
        }
    }
}

/// transformers' class name of the encoder, for messages.
fn model_name(config: &RobertaConfig) -> String {
    match config.kind {
        EncoderKind::Roberta => "RobertaModel".into(),
        EncoderKind::Bert => "BertModel".into(),
    }
}

/// A sequence classification head on the first token: dense, tanh, dropout, linear (RoBERTa
/// also applies dropout before the dense layer).
#[derive(Module, Debug)]
pub struct ClassificationHead {
    dense: Linear,
    out: Linear,
    dropout: Dropout,
    #[module(skip)]
    dropout_first: bool,
}

impl ClassificationHead {
    /// Utterance vectors `[batch, hidden]` to logits `[batch, num_labels]`.
    pub fn forward(&self, pooled: Tensor<2>) -> Tensor<2> {
        let x = if self.dropout_first {
            self.dropout.forward(pooled)
        } else {
            pooled
        };
        let x = self.dense.forward(x).tanh();
        self.out.forward(self.dropout.forward(x))
    }
}

/// An encoder with a classification head (transformers' `*ForSequenceClassification`).
#[derive(Module, Debug)]
pub struct SequenceClassifier {
    /// The encoder.
    pub encoder: RobertaModel,
    /// The head.
    pub head: ClassificationHead,
}

impl SequenceClassifier {
    /// Loads encoder and head from a model folder. The head comes from the checkpoint when it
    /// has one and is newly initialised otherwise (listed in the report's
    /// `newly_initialised`, as transformers warns). `num_labels` defaults to the size of
    /// `id2label` in `config.json`, else 2 (transformers' default).
    pub fn from_pretrained(
        dir: &Path,
        num_labels: Option<usize>,
        device: &Device,
    ) -> Result<(Self, RobertaConfig, LoadReport)> {
        let folder = HubFolder::new(dir)?;
        let config_path = folder.config()?;
        let hf: HfEncoderConfig = read_json(&config_path)?;
        let config = RobertaConfig::from_hf(&hf, &config_path)?;
        let num_labels = num_labels
            .or(hf.id2label.as_ref().map(BTreeMap::len))
            .unwrap_or(2);
        let mut weights = HubWeights::open(&folder.weights()?, &config.key_mapping(), device)?;
        let encoder = config.build(&mut weights);
        let head = config.build_head(&mut weights, num_labels);
        let name = format!(
            "{}ForSequenceClassification",
            model_name(&config).trim_end_matches("Model")
        );
        let report = weights.finish(&name)?;
        report.log(&name);
        Ok((Self { encoder, head }, config, report))
    }

    /// Class logits `[batch, num_labels]` for a batch.
    pub fn forward(&self, input: RobertaInput) -> Tensor<2> {
        self.head.forward(self.encoder.forward(input).pooled)
    }
}

/// What flows between the stages of a split encoder: token ids before the embeddings, hidden
/// states after them.
#[derive(Debug, Clone)]
pub enum TextState {
    /// Token ids `[batch, tokens]`.
    Ids(Tensor<2, Int>),
    /// Hidden states `[batch, tokens, hidden]`.
    Hidden(Tensor<3>),
}

/// A contiguous part of a [`RobertaModel`]: optionally the embeddings, then some layers.
/// Partial fine-tuning splits an encoder into a frozen stage and a trainable one
/// ([`RobertaModel::split`]).
#[derive(Module, Debug)]
pub struct RobertaStage {
    embeddings: Option<Embeddings>,
    layers: Vec<Layer>,
}

impl RobertaModel {
    /// Splits the encoder into a frozen stage (everything below the trainable layers) and a
    /// trainable stage: the last `n` layers for [`TrainLayers::Last`] (`n` capped at the
    /// number of layers), or the embeddings and every layer for [`TrainLayers::All`].
    pub fn split(self, train: TrainLayers) -> (RobertaStage, RobertaStage) {
        let mut layers = self.layers;
        match train {
            TrainLayers::All => (
                RobertaStage {
                    embeddings: None,
                    layers: Vec::new(),
                },
                RobertaStage {
                    embeddings: Some(self.embeddings),
                    layers,
                },
            ),
            TrainLayers::Last(n) => {
                let top = layers.split_off(layers.len() - n.min(layers.len()));
                (
                    RobertaStage {
                        embeddings: Some(self.embeddings),
                        layers,
                    },
                    RobertaStage {
                        embeddings: None,
                        layers: top,
                    },
                )
            }
        }
    }
}

impl RobertaStage {
    /// Whether the stage computes nothing (a fully trainable encoder's frozen part, or a frozen
    /// encoder's trainable part).
    pub fn is_empty(&self) -> bool {
        self.embeddings.is_none() && self.layers.is_empty()
    }

    /// Whether the stage starts with the embeddings (takes token ids).
    pub fn takes_ids(&self) -> bool {
        self.embeddings.is_some()
    }

    /// Number of transformer layers in the stage.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Runs the stage. `state`: ids when the stage has the embeddings, hidden states otherwise;
    /// `attention_mask` `[batch, tokens]` (1 token, 0 padding). Returns hidden states
    /// `[batch, tokens, hidden]`.
    ///
    /// # Panics
    /// When given ids without embeddings or hidden states with them: the caller pairs stages.
    pub fn forward(&self, state: TextState, attention_mask: Tensor<2, Int>) -> Tensor<3> {
        let mut x = match (state, &self.embeddings) {
            (TextState::Ids(ids), Some(embeddings)) => embeddings.forward(ids, None),
            (TextState::Hidden(x), None) => x,
            (TextState::Ids(_), None) => panic!("a stage without embeddings takes hidden states"),
            (TextState::Hidden(_), Some(_)) => panic!("a stage with embeddings takes token ids"),
        };
        if self.layers.is_empty() {
            return x;
        }
        let [batch, tokens] = attention_mask.dims();
        let mask_bias = attention_mask
            .float()
            .neg()
            .add_scalar(1.0)
            .mul_scalar(f32::MIN)
            .reshape([batch, 1, 1, tokens]);
        for layer in &self.layers {
            x = layer.forward(x, mask_bias.clone());
        }
        x
    }
}
