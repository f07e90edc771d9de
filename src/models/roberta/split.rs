//! Partial fine-tuning: the encoder split into a frozen trunk and a trainable top, each a
//! [`RobertaStage`], and the [`TextState`] that passes between them.

use crate::models::finetune::TrainLayers;
use crate::models::nn::attention_mask_bias;
use crate::models::roberta::embeddings::RobertaEmbeddings;
use crate::models::roberta::encoder::{RobertaEncoder, RobertaLayer};
use crate::models::roberta::model::RobertaModel;
use anyhow::{Result, bail};
use burn::module::Module;
use burn::tensor::{Int, Tensor};

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
    embeddings: Option<RobertaEmbeddings>,
    layers: Vec<RobertaLayer>,
}

impl RobertaModel {
    /// Splits the encoder into a frozen stage (everything below the trainable layers) and a
    /// trainable stage: the last `n` layers for [`TrainLayers::Last`] (`n` capped at the
    /// number of layers), or the embeddings and every layer for [`TrainLayers::All`].
    pub fn split(self, train: TrainLayers) -> (RobertaStage, RobertaStage) {
        let mut layers = self.encoder.layers;
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

    /// Puts a split encoder back together: the inverse of [`Self::split`], with whatever the
    /// trainable stage learned. An error when the two stages are not the halves of one split
    /// (the embeddings in both or in neither).
    /// `None` stands for an empty stage.
    pub fn join(frozen: Option<RobertaStage>, trained: Option<RobertaStage>) -> Result<Self> {
        let empty = || RobertaStage {
            embeddings: None,
            layers: Vec::new(),
        };
        let (frozen, trained) = (frozen.unwrap_or_else(empty), trained.unwrap_or_else(empty));
        let embeddings = match (frozen.embeddings, trained.embeddings) {
            (Some(e), None) => e,
            (None, Some(e)) if frozen.layers.is_empty() => e,
            _ => bail!(
                "the two text encoder stages are not the halves of one split (the embeddings \
                 must be in exactly one of them, below every layer)"
            ),
        };
        let mut layers = frozen.layers;
        layers.extend(trained.layers);
        Ok(RobertaModel {
            embeddings,
            encoder: RobertaEncoder { layers },
        })
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
        let mut x = self.embed(state);
        if self.layers.is_empty() {
            return x;
        }
        let mask_bias = attention_mask_bias(attention_mask.float());
        for layer in &self.layers {
            x = layer.forward(x, mask_bias.clone());
        }
        x
    }

    /// The stage's input as hidden states: the embeddings of `state`'s ids, or its hidden states.
    fn embed(&self, state: TextState) -> Tensor<3> {
        match (state, &self.embeddings) {
            (TextState::Ids(ids), Some(embeddings)) => embeddings.forward(ids, None),
            (TextState::Hidden(x), None) => x,
            (TextState::Ids(_), None) => panic!("a stage without embeddings takes hidden states"),
            (TextState::Hidden(_), Some(_)) => panic!("a stage with embeddings takes token ids"),
        }
    }

    /// Runs the stage and returns every hidden state it computes, as transformers'
    /// `output_hidden_states` does for a whole encoder: the embedding output (when the stage
    /// has the embeddings, else its input), then each layer's output.
    ///
    /// # Panics
    /// As [`RobertaStage::forward`].
    pub fn forward_hidden_states(
        &self,
        state: TextState,
        attention_mask: Tensor<2, Int>,
    ) -> Vec<Tensor<3>> {
        let mut x = self.embed(state);
        let mut states = vec![x.clone()];
        let mask_bias = attention_mask_bias(attention_mask.float());
        for layer in &self.layers {
            x = layer.forward(x, mask_bias.clone());
            states.push(x.clone());
        }
        states
    }
}
