//! What a pooled (k-fold or hold-out) run records in its top folder's `metrics.json`: each
//! fold's speakers and test metrics, and their mean and standard deviation: one serde
//! definition of the file, from which the summary is rendered too.

use crate::experiment::{DatasetKind, SplitKind, TargetNorm};
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
    /// With `[data.test]`: the other corpus and the folds' mean +- std on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_corpus: Option<CrossCorpusRecord>,
    /// Wall time of the whole run, in seconds.
    pub wall_seconds: f64,
    /// Seed of the run.
    pub seed: u64,
}

/// The cross-corpus part of a pooled run's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossCorpusRecord {
    /// The corpus tested on.
    pub target: TargetSummary,
    /// Mean and standard deviation over folds of the folds' results on it.
    pub cv: CvStats,
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
    /// Test unweighted average recall (0 in records written before it was recorded).
    #[serde(default)]
    pub uar: f64,
    /// Test weighted F1.
    pub weighted_f1: f64,
    /// Test macro F1.
    pub macro_f1: f64,
    /// Epoch whose checkpoint was evaluated.
    pub checkpoint_epoch: usize,
    /// Training wall time, in seconds.
    pub train_seconds: f64,
    /// With `[data.test]`: the fold's model on every clip of the other corpus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_corpus: Option<Headline>,
    /// Test results of each test speaker, in natural order (from the fold's
    /// `predictions.csv`; empty for runs written before it existed).
    #[serde(default)]
    pub speakers: Vec<SpeakerResult>,
}

/// How one held-out speaker's test clips scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeakerResult {
    /// The speaker.
    pub speaker: String,
    /// Test clips of the speaker.
    pub clips: usize,
    /// Accuracy on them.
    pub accuracy: f64,
    /// Unweighted average recall on them (over the classes the speaker has).
    pub uar: f64,
}

/// Mean and sample standard deviation over folds (or seeds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CvStats {
    /// Number of folds.
    pub folds: usize,
    /// Mean test accuracy.
    pub accuracy_mean: f64,
    /// Its sample standard deviation (n - 1).
    pub accuracy_std: f64,
    /// Mean test unweighted average recall.
    #[serde(default)]
    pub uar_mean: f64,
    /// Its sample standard deviation.
    #[serde(default)]
    pub uar_std: f64,
    /// Mean test macro F1.
    pub macro_f1_mean: f64,
    /// Its sample standard deviation.
    pub macro_f1_std: f64,
    /// Mean test weighted F1.
    pub weighted_f1_mean: f64,
    /// Its sample standard deviation.
    pub weighted_f1_std: f64,
}

/// The four test metrics every summary reports, of one run, fold or seed.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Headline {
    /// Accuracy.
    pub accuracy: f64,
    /// Unweighted average recall.
    pub uar: f64,
    /// Macro F1.
    pub macro_f1: f64,
    /// Weighted F1.
    pub weighted_f1: f64,
}

impl From<&FoldRecord> for Headline {
    fn from(f: &FoldRecord) -> Self {
        Self {
            accuracy: f.accuracy,
            uar: f.uar,
            macro_f1: f.macro_f1,
            weighted_f1: f.weighted_f1,
        }
    }
}

impl CvStats {
    /// The statistics of `folds`.
    pub fn of(folds: &[FoldRecord]) -> Self {
        Self::of_headlines(&folds.iter().map(Headline::from).collect::<Vec<_>>())
    }

    /// The statistics of a list of results (folds, or seeds); `folds` counts them.
    pub fn of_headlines(values: &[Headline]) -> Self {
        let stats = |f: fn(&Headline) -> f64| mean_std(&values.iter().map(f).collect::<Vec<_>>());
        let (accuracy_mean, accuracy_std) = stats(|f| f.accuracy);
        let (uar_mean, uar_std) = stats(|f| f.uar);
        let (macro_f1_mean, macro_f1_std) = stats(|f| f.macro_f1);
        let (weighted_f1_mean, weighted_f1_std) = stats(|f| f.weighted_f1);
        Self {
            folds: values.len(),
            accuracy_mean,
            accuracy_std,
            uar_mean,
            uar_std,
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

/// What a cross-corpus run records about its target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetSummary {
    /// The target corpus's kind.
    pub dataset: DatasetKind,
    /// Its folder or CSV.
    pub path: String,
    /// Kept clips per trained class.
    pub class_counts: Vec<usize>,
    /// Clips left out, by reason.
    pub dropped: BTreeMap<String, usize>,
    /// How its features were standardised.
    pub feature_norm: TargetNorm,
}
