//! Models: encoders for each modality and the late-fusion classifier.

pub mod attention;
pub mod audio_encoder;
pub mod finetune;
pub mod fusion;
pub mod hub;
pub mod roberta;
pub mod speech_cnn;
pub mod text_encoder;
pub mod wav2vec2;
pub mod wav2vec2_features;

pub use fusion::{LateFusion, LateFusionConfig};
