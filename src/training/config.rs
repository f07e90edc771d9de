//! `[training]`: how the fit loop optimises (the experiment schema embeds [`TrainingConfig`]
//! as its `[training]` section).

use serde::{Deserialize, Serialize};

/// How classes are weighted in the loss: `"inverse_frequency"`, `"none"`, or one weight per
/// class in label order (`[1.0, 2.5, ...]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum ClassWeighting {
    /// `n_samples / (n_classes * count_c)` from the training split (scikit-learn's "balanced").
    #[default]
    InverseFrequency,
    /// Every class weighs 1.
    None,
    /// Weights given in the experiment file, in label order.
    Given(Vec<f32>),
}

impl Serialize for ClassWeighting {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            ClassWeighting::InverseFrequency => s.serialize_str("inverse_frequency"),
            ClassWeighting::None => s.serialize_str("none"),
            ClassWeighting::Given(w) => w.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ClassWeighting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            List(Vec<f32>),
        }
        match Raw::deserialize(d)? {
            Raw::Word(w) if w == "inverse_frequency" => Ok(ClassWeighting::InverseFrequency),
            Raw::Word(w) if w == "none" => Ok(ClassWeighting::None),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "`{w}`: allowed \"inverse_frequency\", \"none\" or a list of weights in label order"
            ))),
            Raw::List(w) => Ok(ClassWeighting::Given(w)),
        }
    }
}

/// The optimiser.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// AdamW (decoupled weight decay).
    #[default]
    Adamw,
    /// SGD with momentum (`training.momentum`; 0 for plain SGD).
    Sgd,
}

/// How the learning rate changes during training.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// `learning_rate` throughout (after the warmup, if any).
    #[default]
    Constant,
    /// Linear warmup, then linear decay to 0 at the last step.
    Linear,
    /// Linear warmup, then cosine decay to 0 at the last step.
    Cosine,
    /// Multiply by `plateau_factor` when the selection metric has not improved for
    /// `plateau_patience` epochs.
    Plateau,
}

/// A validation metric (checkpoint selection, early stopping, plateau schedule).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectMetric {
    /// Support-weighted F1 (higher is better).
    #[default]
    WeightedF1,
    /// Unweighted mean of per-class F1 (higher is better).
    MacroF1,
    /// Accuracy (higher is better).
    Accuracy,
    /// Class-weighted cross-entropy (lower is better).
    Loss,
}

impl SelectMetric {
    /// The name as written in experiment files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SelectMetric::WeightedF1 => "weighted_f1",
            SelectMetric::MacroF1 => "macro_f1",
            SelectMetric::Accuracy => "accuracy",
            SelectMetric::Loss => "loss",
        }
    }

    /// Whether a higher value is better.
    pub fn higher_is_better(self) -> bool {
        self != SelectMetric::Loss
    }
}

/// `[training]`: optimisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingConfig {
    /// Passes over the training split.
    pub epochs: usize,
    /// Utterances per step.
    pub batch_size: usize,
    /// AdamW learning rate.
    pub learning_rate: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f32,
    /// Gradients are rescaled so that their global L2 norm is at most this (0 disables).
    pub grad_clip_norm: f32,
    /// Class weighting of the cross-entropy loss.
    pub class_weights: ClassWeighting,
    /// The optimiser.
    pub optimizer: OptimizerKind,
    /// SGD momentum.
    pub momentum: f64,
    /// Learning-rate schedule.
    pub schedule: ScheduleKind,
    /// Optimiser steps of linear warmup from 0 (linear and cosine schedules).
    pub warmup_steps: usize,
    /// Plateau schedule: factor applied to the learning rate.
    pub plateau_factor: f64,
    /// Plateau schedule: epochs without improvement before the learning rate drops.
    pub plateau_patience: usize,
    /// Batches whose gradients are summed (averaged) before one optimiser step.
    pub grad_accumulation: usize,
    /// Stop after this many epochs without improvement of `select_metric` (0: never).
    pub early_stopping_patience: usize,
    /// Validation metric that picks the best checkpoint.
    pub select_metric: SelectMetric,
    /// Draw each epoch's batches with class-balanced probabilities (with replacement) instead
    /// of a shuffle of the training split.
    pub balanced_sampling: bool,
    /// `[training.spec_augment]`: time and frequency masks on the built-in audio encoder's
    /// features, drawn anew for every training batch (off by default).
    pub spec_augment: SpecAugmentConfig,
    /// Mixup (Zhang et al. 2018): each training batch is blended with a shuffle of itself by
    /// a factor drawn from Beta(alpha, alpha), and so are its targets in the loss. 0 turns it
    /// off; 0.2 to 0.4 are usual. Built-in audio encoder only.
    pub mixup_alpha: f64,
}

/// `[training.spec_augment]`: SpecAugment-style masking (Park et al. 2019) of feature rows
/// (mel bands or MFCC coefficients) and frames. Masked values become 0, the mean of the
/// standardised features. Each mask's width is drawn uniformly from `0..=max width`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpecAugmentConfig {
    /// Frequency masks per example.
    pub freq_masks: usize,
    /// Widest frequency mask, in rows.
    pub freq_width: usize,
    /// Time masks per example.
    pub time_masks: usize,
    /// Widest time mask, in frames.
    pub time_width: usize,
}

impl SpecAugmentConfig {
    /// Whether any mask is drawn.
    pub fn enabled(&self) -> bool {
        (self.freq_masks > 0 && self.freq_width > 0) || (self.time_masks > 0 && self.time_width > 0)
    }
}

impl Default for TrainingConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            batch_size: 32,
            learning_rate: 1e-3,
            weight_decay: 1e-4,
            grad_clip_norm: 1.0,
            class_weights: ClassWeighting::InverseFrequency,
            optimizer: OptimizerKind::Adamw,
            momentum: 0.9,
            schedule: ScheduleKind::Constant,
            warmup_steps: 0,
            plateau_factor: 0.5,
            plateau_patience: 2,
            grad_accumulation: 1,
            early_stopping_patience: 0,
            select_metric: SelectMetric::WeightedF1,
            balanced_sampling: false,
            spec_augment: SpecAugmentConfig::default(),
            mixup_alpha: 0.0,
        }
    }
}
