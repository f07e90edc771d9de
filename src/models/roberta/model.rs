//! The whole encoder, [`RobertaModel`], and loading it from a HuggingFace model folder.

use crate::core::memory::release_memory;
use crate::models::hub::HubFolder;
use crate::models::hub::export::HubTensors;
use crate::models::hub::safetensors::{FreshInit, HubWeights, LoadReport, ParamSource};
use crate::models::nn::{attention_mask_bias, cat_parts, first_token, split_batch};
use crate::models::roberta::config::RobertaConfig;
use crate::models::roberta::embeddings::RobertaEmbeddings;
use crate::models::roberta::encoder::RobertaEncoder;
use anyhow::Result;
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use std::path::Path;

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

impl RobertaOutput {
    /// Joins the outputs of consecutive parts of one batch.
    fn cat(parts: Vec<Self>) -> Self {
        let mut parts = parts;
        if parts.len() == 1 {
            return parts.remove(0);
        }
        let layers = parts[0].hidden_states.len();
        Self {
            last_hidden_state: cat_parts(&parts, |p| p.last_hidden_state.clone()),
            hidden_states: (0..layers)
                .map(|i| cat_parts(&parts, |p| p.hidden_states[i].clone()))
                .collect(),
            pooled: cat_parts(&parts, |p| p.pooled.clone()),
        }
    }
}

/// A BERT or RoBERTa encoder: transformers' `RobertaModel` / `BertModel` without the pooler
/// (the utterance vector is the first token's final state; BERT's pooler belongs to the
/// classification head).
///
/// # Shapes
/// - `input_ids`, `attention_mask`, `token_type_ids`: `[batch, tokens]`
/// - `last_hidden_state`: `[batch, tokens, hidden]`; `pooled`: `[batch, hidden]`
#[derive(Module, Debug)]
pub struct RobertaModel {
    pub(super) embeddings: RobertaEmbeddings,
    pub(super) encoder: RobertaEncoder,
}

impl RobertaConfig {
    /// Builds the encoder with newly initialised weights (transformers' scheme: normal(0,
    /// `initializer_range`) weights, zero biases, unit LayerNorm scales).
    pub fn init(&self, device: &Device) -> RobertaModel {
        self.build(&mut FreshInit::new(device))
    }

    /// Builds the encoder, asking `source` for every parameter by its transformers name.
    pub fn build<S: ParamSource>(&self, source: &mut S) -> RobertaModel {
        let model = RobertaModel {
            embeddings: RobertaEmbeddings::build(self, source),
            encoder: RobertaEncoder::build(self, source),
        };
        // The weights' layout copies left freed blocks behind (about 30 MiB of peak memory on
        // roberta-base: docs/speed.md).
        release_memory();
        model
    }
}

impl RobertaModel {
    /// Loads the encoder from a HuggingFace model folder (`config.json`, `model.safetensors`):
    /// returns the model, its configuration and the load report (the caller tells the user what
    /// it says). Errors name the file and what is wrong: unknown `model_type`, missing tensors
    /// (all listed), shape mismatches.
    pub fn from_pretrained(
        dir: &Path,
        device: &Device,
    ) -> Result<(Self, RobertaConfig, LoadReport)> {
        let folder = HubFolder::new(dir)?;
        let config = RobertaConfig::from_hf_file(&folder.config()?)?;
        let mut weights = HubWeights::open(&folder.weights()?, &config.key_mapping(), device)?;
        let model = config.build(&mut weights);
        let report = weights.finish(&config.model_name())?;
        Ok((model, config, report))
    }

    /// Every parameter under its transformers name in PyTorch layout, as `model.safetensors`
    /// of a `RobertaModel` / `BertModel` holds it (no prefix, no pooler): what
    /// [`Self::from_pretrained`] reads back.
    pub fn hub_tensors(&self) -> HubTensors {
        let mut out = HubTensors::new();
        self.embeddings.export(&mut out);
        for (index, layer) in self.encoder.layers.iter().enumerate() {
            layer.export(index, &mut out);
        }
        out
    }

    /// The token embedding table `[vocab_size, hidden]`.
    pub fn word_embeddings(&self) -> Tensor<2> {
        self.embeddings.word_embeddings()
    }

    /// Encodes a batch.
    ///
    /// Shapes: `input_ids`, `attention_mask`, `token_type_ids` `[batch, tokens]`;
    /// outputs as documented on [`RobertaOutput`]. Panics when an id is outside its table
    /// (check with [`RobertaConfig::check_inputs`] first).
    ///
    /// On the CPU backend outside training, parts of the batch run on the pool's threads side by
    /// side ([`split_batch`]; padding is masked per sequence, so the parts are independent).
    pub fn forward(&self, input: RobertaInput) -> RobertaOutput {
        let [batch, _] = input.input_ids.dims();
        let narrow = |t: &Option<Tensor<2, Int>>, start, len| {
            t.as_ref().map(|t| t.clone().narrow(0, start, len))
        };
        let parts = split_batch(batch, &input.input_ids.device(), |start, len| {
            self.forward_part(RobertaInput {
                input_ids: input.input_ids.clone().narrow(0, start, len),
                attention_mask: narrow(&input.attention_mask, start, len),
                token_type_ids: narrow(&input.token_type_ids, start, len),
                output_hidden_states: input.output_hidden_states,
            })
        });
        RobertaOutput::cat(parts)
    }

    fn forward_part(&self, input: RobertaInput) -> RobertaOutput {
        let [batch, tokens] = input.input_ids.dims();
        let device = input.input_ids.device();
        let mask = input
            .attention_mask
            .unwrap_or_else(|| Tensor::ones([batch, tokens], &device));
        let mask_bias = attention_mask_bias(mask.float());
        let x = self
            .embeddings
            .forward(input.input_ids, input.token_type_ids);
        let (x, hidden_states) = self
            .encoder
            .forward(x, mask_bias, input.output_hidden_states);
        let pooled = first_token(x.clone());
        RobertaOutput {
            last_hidden_state: x,
            hidden_states,
            pooled,
        }
    }
}
