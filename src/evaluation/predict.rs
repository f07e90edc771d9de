//! Running a trained model over examples.

use crate::data::batch::{Example, FusionBatcher};
use crate::models::LateFusion;
use burn::data::dataloader::batcher::Batcher;
use burn::tensor::Device;
use burn::tensor::activation::softmax;
use std::borrow::Borrow;

/// Predictions of a model: class index and class probabilities per example.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// Predicted class of each example.
    pub classes: Vec<usize>,
    /// Class probabilities of each example (each row sums to 1).
    pub probabilities: Vec<Vec<f32>>,
}

/// Predicts every example (owned or `Arc`-shared), `batch_size` at a time, in order. The model
/// should be in eval mode (`Module::valid`) so that dropout is off.
pub fn predict<E: Borrow<Example> + Clone + Send + Sync>(
    model: &LateFusion,
    batcher: &FusionBatcher,
    examples: &[E],
    batch_size: usize,
    device: &Device,
) -> Predictions {
    let mut classes = Vec::with_capacity(examples.len());
    let mut probabilities = Vec::with_capacity(examples.len());
    for chunk in examples.chunks(batch_size.max(1)) {
        let batch = batcher.batch(chunk.to_vec(), device);
        let logits = model.forward(&batch);
        let [rows, cols] = logits.dims();
        let probs: Vec<f32> = softmax(logits, 1)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("probabilities are f32");
        for r in 0..rows {
            let row = probs[r * cols..(r + 1) * cols].to_vec();
            let best = row
                .iter()
                .enumerate()
                .fold(0, |best, (i, &p)| if p > row[best] { i } else { best });
            classes.push(best);
            probabilities.push(row);
        }
    }
    Predictions {
        classes,
        probabilities,
    }
}
