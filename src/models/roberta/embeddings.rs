//! The embedding layer: token, position and token type embeddings, summed and normalised.

use crate::models::hub::export::HubTensors;
use crate::models::hub::safetensors::{ParamSource, embedding, layer_norm};
use crate::models::roberta::config::{EncoderKind, RobertaConfig};
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, LayerNorm};
use burn::tensor::{Int, Tensor};

/// Token, position and token type embeddings, summed and normalised: transformers'
/// `RobertaEmbeddings` (and `BertEmbeddings`, which differs only in its position ids).
///
/// # Shapes
/// - input ids and token type ids: `[batch, tokens]`
/// - output: `[batch, tokens, hidden]`
#[derive(Module, Debug)]
pub struct RobertaEmbeddings {
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

impl RobertaEmbeddings {
    /// Builds the embeddings, asking `source` for `embeddings.*` by transformers' names.
    pub fn build<S: ParamSource>(config: &RobertaConfig, source: &mut S) -> Self {
        let h = config.hidden_size;
        let std = config.initializer_range;
        Self {
            word: embedding(
                source,
                "embeddings.word_embeddings",
                config.vocab_size,
                h,
                std,
            ),
            position: embedding(
                source,
                "embeddings.position_embeddings",
                config.max_position_embeddings,
                h,
                std,
            ),
            token_type: embedding(
                source,
                "embeddings.token_type_embeddings",
                config.type_vocab_size,
                h,
                std,
            ),
            norm: layer_norm(source, "embeddings.LayerNorm", h, config.layer_norm_eps),
            dropout: DropoutConfig::new(config.hidden_dropout).init(),
            kind: config.kind,
            pad_token_id: config.pad_token_id,
        }
    }

    /// Hands the parameters to `out` under the names [`Self::build`] reads.
    pub fn export(&self, out: &mut HubTensors) {
        out.embedding("embeddings.word_embeddings", &self.word);
        out.embedding("embeddings.position_embeddings", &self.position);
        out.embedding("embeddings.token_type_embeddings", &self.token_type);
        out.layer_norm("embeddings.LayerNorm", &self.norm);
    }

    /// The token embedding table `[vocab_size, hidden]`.
    pub fn word_embeddings(&self) -> Tensor<2> {
        self.word.weight.val()
    }

    /// `[batch, tokens]` ids (and token types, default 0) to `[batch, tokens, hidden]`.
    pub fn forward(&self, ids: Tensor<2, Int>, token_types: Option<Tensor<2, Int>>) -> Tensor<3> {
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
