//! The modalities a model can read.

use serde::{Deserialize, Serialize};

/// A modality the model reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    /// The transcript.
    Text,
    /// The speech audio.
    Audio,
}

impl Modality {
    /// Its name as experiments, reports and the API write it: `text` or `audio`.
    pub fn name(self) -> &'static str {
        match self {
            Modality::Text => "text",
            Modality::Audio => "audio",
        }
    }
}
