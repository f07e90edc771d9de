//! `[evaluation]`: the splits and the checkpoint evaluated after training.

use crate::core::SplitName;
use serde::{Deserialize, Serialize};

/// Which checkpoint is evaluated after training.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointChoice {
    /// The epoch with the best `training.select_metric` on the validation split.
    #[default]
    Best,
    /// The last epoch.
    Last,
}

/// `[evaluation]`: what is measured after training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluationConfig {
    /// Splits to evaluate and report.
    pub splits: Vec<SplitName>,
    /// Checkpoint to evaluate.
    pub checkpoint: CheckpointChoice,
    /// Also evaluate with each modality's vector zeroed (two-modality models only).
    pub ablation: bool,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        Self {
            splits: vec![SplitName::Valid, SplitName::Test],
            checkpoint: CheckpointChoice::Best,
            ablation: true,
        }
    }
}
