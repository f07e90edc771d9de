//! Class weights of the cross-entropy loss.

use crate::training::config::ClassWeighting;
use anyhow::{Result, bail};

/// Loss weight of each class from the training-split counts.
///
/// `InverseFrequency` is scikit-learn's "balanced" rule, `n_samples / (n_classes * count_c)`, so
/// a perfectly balanced split gets weight 1 everywhere. A class absent from the training split
/// gets weight 0 (it cannot be learned, and must not make the loss infinite). Given weights must
/// name every class.
pub fn class_weights(counts: &[usize], weighting: &ClassWeighting) -> Result<Vec<f32>> {
    Ok(match weighting {
        ClassWeighting::None => vec![1.0; counts.len()],
        ClassWeighting::Given(weights) => {
            if weights.len() != counts.len() {
                bail!(
                    "key `training.class_weights` lists {} weights for {} classes: give one per class, in label order",
                    weights.len(),
                    counts.len()
                );
            }
            weights.clone()
        }
        ClassWeighting::InverseFrequency => {
            let total: usize = counts.iter().sum();
            let k = counts.len() as f64;
            counts
                .iter()
                .map(|&c| {
                    if c == 0 {
                        0.0
                    } else {
                        (total as f64 / (k * c as f64)) as f32
                    }
                })
                .collect()
        }
    })
}
