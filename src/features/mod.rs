//! Audio features computed from waveforms: log-mel spectrograms and MFCCs with librosa's
//! definitions.

pub mod extract;
pub mod logmel;
pub mod mfcc;

pub use logmel::{LogMel, LogMelConfig};
pub use mfcc::Mfcc;
