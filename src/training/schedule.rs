//! Learning-rate schedules: constant, linear warmup with linear or cosine decay, and
//! reduce-on-plateau.

use crate::training::config::{ScheduleKind, TrainingConfig};

/// The learning rate of optimiser step `step` (counted from 1) of `total`, with the plateau
/// factor accumulated so far (`plateau_scale`, 1 until the first reduction).
pub fn learning_rate(t: &TrainingConfig, step: usize, total: usize, plateau_scale: f64) -> f64 {
    let base = t.learning_rate;
    let warmup = t.warmup_steps;
    if step <= warmup && warmup > 0 {
        return base * step as f64 / warmup as f64;
    }
    let progress = if total > warmup {
        ((step - warmup) as f64 / (total - warmup) as f64).clamp(0.0, 1.0)
    } else {
        1.0
    };
    match t.schedule {
        ScheduleKind::Constant => base,
        ScheduleKind::Plateau => base * plateau_scale,
        ScheduleKind::Linear => base * (1.0 - progress),
        ScheduleKind::Cosine => base * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
    }
}

/// Reduce-on-plateau bookkeeping, updated once per epoch with the selection metric.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Plateau {
    /// Product of the reductions so far.
    pub scale: f64,
    /// Epochs since the metric last improved.
    pub bad_epochs: usize,
}

impl Default for Plateau {
    fn default() -> Self {
        Self {
            scale: 1.0,
            bad_epochs: 0,
        }
    }
}

impl Plateau {
    /// Records an epoch: `improved` resets the count, otherwise after `patience` bad epochs
    /// the scale is multiplied by `factor` and the count restarts. Returns whether it dropped.
    pub fn update(&mut self, improved: bool, patience: usize, factor: f64) -> bool {
        if improved {
            self.bad_epochs = 0;
            return false;
        }
        self.bad_epochs += 1;
        if self.bad_epochs >= patience.max(1) {
            self.scale *= factor;
            self.bad_epochs = 0;
            return true;
        }
        false
    }
}
