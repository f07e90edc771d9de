//! Audio features computed from waveforms: log-mel spectrograms and MFCCs with librosa's
//! definitions.

pub mod extract;
pub mod logmel;
pub mod mfcc;

pub use logmel::{LogMel, LogMelConfig, frame_count};
pub use mfcc::Mfcc;

use serde::{Deserialize, Serialize};

/// Audio features of the built-in encoders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// Log-mel spectrogram (`n_mels` bands), standardised by one global mean and deviation.
    #[default]
    Logmel,
    /// MFCCs (`n_mfcc` coefficients, librosa's definition), standardised per coefficient.
    Mfcc,
}
