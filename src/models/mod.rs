//! Models: encoders for each modality and the late-fusion classifier.
//!
//! - [`nn`]: building blocks shared by the encoders (self-attention, activations, masks,
//!   pooling);
//! - [`roberta`], [`wav2vec2`]: the pretrained encoders, as transformers computes them;
//! - [`fusion`]: the late-fusion classifier and the encoders it trains from scratch;
//! - [`finetune`]: how much of a pretrained encoder trains; [`hub`]: HuggingFace model folders
//!   and weights.

pub mod finetune;
pub mod fusion;
pub mod hub;
pub mod nn;
pub mod roberta;
pub mod wav2vec2;

pub use fusion::{LateFusion, LateFusionConfig};
