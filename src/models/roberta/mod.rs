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
//!
//! Files in data-flow order, as `modeling_roberta.py`: `config` (what the model is built from),
//! `embeddings`, `encoder` (the layers), `model` (the whole encoder, loading), `classifier`
//! (the sequence classification head), `split` (frozen trunk and trainable top).

mod classifier;
mod config;
mod embeddings;
mod encoder;
mod model;
mod split;

pub use classifier::{ClassificationHead, SequenceClassifier};
pub use config::{EncoderKind, HfEncoderConfig, RobertaConfig};
pub use embeddings::RobertaEmbeddings;
pub use encoder::{RobertaEncoder, RobertaLayer};
pub use model::{RobertaInput, RobertaModel, RobertaOutput};
pub use split::{RobertaStage, TextState};
