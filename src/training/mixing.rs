//! Augmentation of training batches on their features: SpecAugment masks and mixup.
//!
//! Both draw from the epoch's RNG (after the epoch's shuffle), so a resumed run draws the same
//! masks and mixing factors as an uninterrupted one. They apply to the built-in audio encoder's
//! features only (`AudioInput::LogMel`: log-mels or MFCCs); `experiment::validate` rejects them
//! for other inputs before a run starts.

use crate::models::fusion::{AudioInput, FusionBatch};
use crate::training::config::SpecAugmentConfig;
use anyhow::{Result, bail};
use burn::tensor::{Int, Tensor, TensorData};
use rand::RngExt;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution};

/// A mixed batch: its features are `lambda * own + (1 - lambda) * partner`'s, where row i's
/// partner is row `partner[i]`.
pub struct Mixed {
    /// Weight of each row's own example.
    pub lambda: f32,
    /// Row index of each row's partner, `[batch]`.
    pub partner: Tensor<1, Int>,
}

fn features_of<'a>(
    batch: &'a mut FusionBatch,
    what: &str,
) -> Result<(&'a mut Tensor<3>, &'a mut Tensor<2>)> {
    match batch.audio.as_mut() {
        Some(AudioInput::LogMel { features, mask }) => Ok((features, mask)),
        _ => bail!(
            "{what} works on the built-in audio encoder's features (log-mel or MFCC) only; this batch has none"
        ),
    }
}

/// Masks of `config` drawn for every example of `batch`: `freq_masks` bands of rows and
/// `time_masks` spans of valid frames, each at most its `*_width` wide, set to 0.
pub fn spec_augment(
    batch: &mut FusionBatch,
    config: &SpecAugmentConfig,
    rng: &mut ChaCha8Rng,
) -> Result<()> {
    let (features, mask) = features_of(batch, "training.spec_augment")?;
    let [size, rows, frames] = features.dims();
    let valid: Vec<f32> = mask
        .clone()
        .sum_dim(1)
        .into_data()
        .try_into_vec()
        .unwrap_or_default();
    let mut keep = vec![1.0f32; size * rows * frames];
    for (b, example) in keep.chunks_mut(rows * frames).enumerate() {
        for _ in 0..config.freq_masks {
            let width = rng.random_range(0..=config.freq_width.min(rows));
            let start = rng.random_range(0..=rows - width);
            example[start * frames..(start + width) * frames].fill(0.0);
        }
        // Time masks fall on real audio, not on the padding.
        let valid = (valid.get(b).copied().unwrap_or(frames as f32) as usize).clamp(1, frames);
        for _ in 0..config.time_masks {
            let width = rng.random_range(0..=config.time_width.min(valid));
            let start = rng.random_range(0..=valid - width);
            for row in example.chunks_mut(frames) {
                row[start..start + width].fill(0.0);
            }
        }
    }
    let keep = Tensor::<3>::from_data(
        TensorData::new(keep, [size, rows, frames]),
        &features.device(),
    );
    *features = features.clone() * keep;
    Ok(())
}

/// Blends `batch` with a shuffle of itself by a factor drawn from Beta(`alpha`, `alpha`). A
/// mixed frame is valid where either example's frame is.
pub fn mixup(batch: &mut FusionBatch, alpha: f64, rng: &mut ChaCha8Rng) -> Result<Mixed> {
    let beta = Beta::new(alpha, alpha)
        .map_err(|err| anyhow::anyhow!("training.mixup_alpha = {alpha}: {err}"))?;
    let lambda = beta.sample(rng) as f32;
    let (features, mask) = features_of(batch, "training.mixup_alpha")?;
    let size = features.dims()[0];
    let mut order: Vec<i64> = (0..size as i64).collect();
    order.shuffle(rng);
    let device = features.device();
    let partner = Tensor::<1, Int>::from_data(TensorData::new(order, [size]), &device);
    *features = features.clone().mul_scalar(lambda)
        + features
            .clone()
            .select(0, partner.clone())
            .mul_scalar(1.0 - lambda);
    *mask = mask
        .clone()
        .max_pair(mask.clone().select(0, partner.clone()));
    Ok(Mixed { lambda, partner })
}
