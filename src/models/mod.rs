//! Models: encoders for each modality and the late-fusion classifier.

pub mod audio_encoder;
pub mod fusion;
pub mod text_encoder;

pub use fusion::{LateFusion, LateFusionConfig};
