//! The label map: the one place where class indices and class names meet.
//!
//! Every report, metric table and prediction takes its class names from a [`LabelMap`], so the
//! index-name mismatch of the source study (its per-class table called MELD's neutral class
//! "joy") cannot happen.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// MELD's seven emotions, in the order emofuse uses for class indices.
pub const MELD_EMOTIONS: [&str; 7] = [
    "neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear",
];

/// An ordered list of class names; the position of a name is its class index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelMap {
    names: Vec<String>,
}

impl LabelMap {
    /// Builds a label map from class names; names must be unique and non-empty.
    pub fn new<S: AsRef<str>>(names: &[S]) -> Result<Self> {
        let names: Vec<String> = names.iter().map(|n| n.as_ref().to_string()).collect();
        if names.is_empty() {
            bail!("a label map needs at least one class");
        }
        for (i, name) in names.iter().enumerate() {
            if name.trim().is_empty() {
                bail!("class {i} has an empty name");
            }
            if names[..i].contains(name) {
                bail!("class name `{name}` appears twice in the label map");
            }
        }
        Ok(Self { names })
    }

    /// MELD's seven emotions.
    pub fn meld() -> Self {
        Self::new(&MELD_EMOTIONS).expect("MELD emotions are unique")
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the map has no class (never true for a map built with [`LabelMap::new`]).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The class names, in index order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The name of class `index`.
    ///
    /// # Panics
    /// If `index` is out of range: indices come from this map, so that is a bug.
    pub fn name(&self, index: usize) -> &str {
        &self.names[index]
    }

    /// The index of a class name (exact, case-sensitive match), with an error that lists the
    /// known names.
    pub fn index(&self, name: &str) -> Result<usize> {
        match self.names.iter().position(|n| n == name) {
            Some(i) => Ok(i),
            None => bail!(
                "unknown class `{name}`; the label map has: {}",
                self.names.join(", ")
            ),
        }
    }
}
