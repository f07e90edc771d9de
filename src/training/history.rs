//! The per-epoch training history: what `metrics.csv`, `metrics.json` and the curves show.

use serde::{Deserialize, Serialize};

/// One epoch of training history.
///
/// The F1 and learning-rate fields default to 0 when absent, so histories written before they
/// existed still load; a series that is 0 throughout is treated as not recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Training accuracy, as a fraction.
    pub train_accuracy: f64,
    /// Mean validation loss.
    pub valid_loss: f64,
    /// Validation accuracy, as a fraction.
    pub valid_accuracy: f64,
    /// Validation weighted F1, as a fraction (0 when not recorded).
    #[serde(default)]
    pub valid_weighted_f1: f64,
    /// Validation macro F1, as a fraction (0 when not recorded).
    #[serde(default)]
    pub valid_macro_f1: f64,
    /// Learning rate at the end of the epoch (0 when not recorded).
    #[serde(default)]
    pub learning_rate: f64,
}
