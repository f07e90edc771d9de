//! How much of a pretrained encoder trains: the split point between its frozen trunk and its
//! trainable top.

use serde::{Deserialize, Serialize};

/// How many transformer layers of a pretrained encoder train (`train_last_layers`): a count
/// from the top (0 freezes the encoder), or `"all"` (embeddings included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainLayers {
    /// The last `n` layers.
    Last(usize),
    /// Every layer and the embeddings.
    All,
}

impl Default for TrainLayers {
    fn default() -> Self {
        TrainLayers::Last(1)
    }
}

impl Serialize for TrainLayers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            TrainLayers::Last(n) => s.serialize_u64(*n as u64),
            TrainLayers::All => s.serialize_str("all"),
        }
    }
}

impl<'de> Deserialize<'de> for TrainLayers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Count(u64),
            Word(String),
        }
        match Raw::deserialize(d)? {
            Raw::Count(n) => Ok(TrainLayers::Last(n as usize)),
            Raw::Word(w) if w == "all" => Ok(TrainLayers::All),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "`{w}`: allowed a number of layers (0 freezes the encoder) or \"all\""
            ))),
        }
    }
}
