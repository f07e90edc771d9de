//! Running a trained model over a split.

use crate::core::Modality;
use crate::inference::inputs::{InputBatcher, SplitInputs};
use crate::models::LateFusion;
use burn::tensor::Device;
use burn::tensor::activation::softmax;

/// Predictions of a model: class index and class probabilities per example.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// Predicted class of each example.
    pub classes: Vec<usize>,
    /// Class probabilities of each example (each row sums to 1).
    pub probabilities: Vec<Vec<f32>>,
}

impl Predictions {
    /// Mean class-weighted cross-entropy against `labels`, as the training loss computes it:
    /// `sum_i w[y_i] * -ln p_i[y_i] / sum_i w[y_i]` (unweighted when `weights` is empty).
    pub fn weighted_loss(&self, labels: &[usize], weights: &[f32]) -> f64 {
        let (mut sum, mut norm) = (0.0f64, 0.0f64);
        for (p, &y) in self.probabilities.iter().zip(labels) {
            let w = weights.get(y).copied().unwrap_or(1.0) as f64;
            sum += w * -(f64::from(p[y]).max(1e-12)).ln();
            norm += w;
        }
        if norm > 0.0 { sum / norm } else { 0.0 }
    }
}

/// Predicts every utterance of `split`, `batch_size` at a time, in order, with `zero`'s
/// projected vector zeroed when given (ablation). The model should be in eval mode
/// (`Module::valid`) and `device` the plain device.
pub fn predict(
    model: &LateFusion,
    batcher: &InputBatcher,
    split: &SplitInputs,
    batch_size: usize,
    device: &Device,
    zero: Option<Modality>,
) -> Predictions {
    let indices: Vec<usize> = (0..split.len()).collect();
    predict_some(model, batcher, split, &indices, batch_size, device, zero)
}

/// [`predict`] for the utterances at `indices` of `split` only, in that order.
pub fn predict_some(
    model: &LateFusion,
    batcher: &InputBatcher,
    split: &SplitInputs,
    indices: &[usize],
    batch_size: usize,
    device: &Device,
    zero: Option<Modality>,
) -> Predictions {
    let mut classes = Vec::with_capacity(indices.len());
    let mut probabilities = Vec::with_capacity(indices.len());
    for chunk in indices.chunks(batch_size.max(1)) {
        let batch = batcher.batch(split, chunk, device);
        let logits = model.forward_ablated(&batch, zero);
        let [rows, cols] = logits.dims();
        let probs: Vec<f32> = softmax(logits, 1)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("probabilities are f32");
        for r in 0..rows {
            let row = probs[r * cols..(r + 1) * cols].to_vec();
            classes.push(argmax(&row));
            probabilities.push(row);
        }
    }
    Predictions {
        classes,
        probabilities,
    }
}

/// Index of the largest value (the first on ties).
pub fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold(0, |best, (i, &p)| if p > row[best] { i } else { best })
}

/// How the windows of a long recording are combined into one prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Aggregate {
    /// The mean of the windows' probabilities.
    #[default]
    Mean,
    /// Each class's largest probability over the windows, renormalised to sum to 1 (a short
    /// outburst in a long calm recording still shows).
    Max,
}

impl Aggregate {
    /// The name used on the command line and in outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Aggregate::Mean => "mean",
            Aggregate::Max => "max",
        }
    }

    /// One probability row from the windows' rows (all of the same width; at least one).
    pub fn combine(self, rows: &[Vec<f32>]) -> Vec<f32> {
        let width = rows.first().map_or(0, Vec::len);
        if rows.len() == 1 {
            return rows[0].clone();
        }
        // Sums in f64 so the mean of many windows does not depend on their order's rounding.
        let combined: Vec<f64> = (0..width)
            .map(|c| {
                let column = rows.iter().map(|r| f64::from(r[c]));
                match self {
                    Aggregate::Mean => column.sum::<f64>() / rows.len() as f64,
                    Aggregate::Max => column.fold(f64::NEG_INFINITY, f64::max),
                }
            })
            .collect();
        let total: f64 = combined.iter().sum();
        combined.iter().map(|&p| (p / total) as f32).collect()
    }
}
