//! What a pooled (k-fold or hold-out) run records in its top folder's `metrics.json`: each
//! fold's speakers and test metrics, and their mean and standard deviation: one serde
//! definition of the file, from which the summary is rendered too.

use crate::experiment::{DatasetKind, SplitKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The top `metrics.json` of a pooled run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossValRecord {
    /// Run name.
    pub experiment: String,
    /// The dataset read.
    pub dataset: DatasetKind,
    /// Label table used.
    pub label_table: String,
    /// Class names, in index order.
    pub labels: Vec<String>,
    /// Clips kept per class (label-table order).
    pub class_counts: Vec<usize>,
    /// Clips left out, by reason.
    pub dropped: BTreeMap<String, usize>,
    /// How the pool was split.
    pub split: SplitKind,
    /// Whether every fold kept its speakers apart (checked at run time).
    pub speaker_independent: bool,
    /// Every fold of every group, in run order.
    pub folds: Vec<FoldRecord>,
    /// Mean and standard deviation over all folds.
    pub cv: CvStats,
    /// Per gender group (male first), when `data.per_gender` is set.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "crate::io::ordered_map"
    )]
    pub groups: Vec<(String, CvStats)>,
    /// Wall time of the whole run, in seconds.
    pub wall_seconds: f64,
    /// Seed of the run.
    pub seed: u64,
}

/// One fold: who it held out and how its test split scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldRecord {
    /// Gender group (`all` without `data.per_gender`).
    pub group: String,
    /// Fold number, from 1.
    pub fold: usize,
    /// The fold's own run folder.
    pub run: String,
    /// Training speakers.
    pub train_speakers: Vec<String>,
    /// Validation speakers (they choose the checkpoint).
    pub valid_speakers: Vec<String>,
    /// Test speakers (reported).
    pub test_speakers: Vec<String>,
    /// Whether no speaker is in two splits.
    pub speaker_independent: bool,
    /// Test clips.
    pub test_utterances: usize,
    /// Test accuracy.
    pub accuracy: f64,
    /// Test weighted F1.
    pub weighted_f1: f64,
    /// Test macro F1.
    pub macro_f1: f64,
    /// Epoch whose checkpoint was evaluated.
    pub checkpoint_epoch: usize,
    /// Training wall time, in seconds.
    pub train_seconds: f64,
}

/// Mean and sample standard deviation over folds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CvStats {
    /// Number of folds.
    pub folds: usize,
    /// Mean test accuracy.
    pub accuracy_mean: f64,
    /// Its sample standard deviation (n - 1).
    pub accuracy_std: f64,
    /// Mean test macro F1.
    pub macro_f1_mean: f64,
    /// Its sample standard deviation.
    pub macro_f1_std: f64,
    /// Mean test weighted F1.
    pub weighted_f1_mean: f64,
    /// Its sample standard deviation.
    pub weighted_f1_std: f64,
}

impl CvStats {
    /// The statistics of `folds`.
    pub fn of(folds: &[FoldRecord]) -> Self {
        let stats = |f: fn(&FoldRecord) -> f64| mean_std(&folds.iter().map(f).collect::<Vec<_>>());
        let (accuracy_mean, accuracy_std) = stats(|f| f.accuracy);
        let (macro_f1_mean, macro_f1_std) = stats(|f| f.macro_f1);
        let (weighted_f1_mean, weighted_f1_std) = stats(|f| f.weighted_f1);
        Self {
            folds: folds.len(),
            accuracy_mean,
            accuracy_std,
            macro_f1_mean,
            macro_f1_std,
            weighted_f1_mean,
            weighted_f1_std,
        }
    }
}

/// Mean and sample standard deviation (n - 1; 0 for one value).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}
