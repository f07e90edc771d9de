//! Audio features computed from waveforms.

pub mod logmel;

pub use logmel::{LogMel, LogMelConfig};
