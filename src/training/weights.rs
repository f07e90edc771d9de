//! Class weights of the cross-entropy loss.

use crate::config::ClassWeighting;

/// Loss weight of each class from the training-split counts.
///
/// `InverseFrequency` is scikit-learn's "balanced" rule, `n_samples / (n_classes * count_c)`, so
/// a perfectly balanced split gets weight 1 everywhere. A class absent from the training split
/// gets weight 0 (it cannot be learned, and must not make the loss infinite).
pub fn class_weights(counts: &[usize], weighting: ClassWeighting) -> Vec<f32> {
    match weighting {
        ClassWeighting::None => vec![1.0; counts.len()],
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
    }
}
