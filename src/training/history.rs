//! Training history, read back from burn-train's logs, and the choice of checkpoint.

use crate::config::CheckpointChoice;
use crate::reports::EpochRecord;
use anyhow::{Context, Result, bail};
use burn::train::LearnerSummary;
use std::path::Path;

/// Per-epoch loss and accuracy, read back from burn-train's metric logs.
pub fn read_history(run_dir: &Path) -> Result<Vec<EpochRecord>> {
    let summary = LearnerSummary::new(run_dir, &["Loss", "Accuracy"]).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the training logs in {}: {e}",
            run_dir.display()
        )
    })?;
    let find = |list: &[burn::train::MetricSummary], name: &str| -> Vec<f64> {
        list.iter()
            .find(|m| m.name == name)
            .map(|m| m.entries.iter().map(|e| e.value).collect())
            .unwrap_or_default()
    };
    let m = &summary.metrics;
    let (tl, ta) = (find(&m.train, "Loss"), find(&m.train, "Accuracy"));
    let (vl, va) = (find(&m.valid, "Loss"), find(&m.valid, "Accuracy"));
    let epochs = tl.len().min(vl.len()).min(ta.len()).min(va.len());
    if epochs == 0 {
        bail!(
            "training logs in {} hold no complete epoch",
            run_dir.display()
        );
    }
    Ok((0..epochs)
        .map(|i| EpochRecord {
            epoch: i + 1,
            train_loss: tl[i],
            // burn's accuracy metric is a percentage.
            train_accuracy: ta[i] / 100.0,
            valid_loss: vl[i],
            valid_accuracy: va[i] / 100.0,
            // burn's logs hold loss and accuracy only; the training loop fills these.
            valid_weighted_f1: 0.0,
            valid_macro_f1: 0.0,
            learning_rate: 0.0,
        })
        .collect())
}

/// The epoch to evaluate: lowest validation loss, or the last.
pub fn choose_checkpoint(
    history: &[EpochRecord],
    choice: CheckpointChoice,
) -> Result<(usize, &'static str)> {
    let last = history.last().context("no epoch finished")?;
    Ok(match choice {
        CheckpointChoice::Last => (last.epoch, "last epoch"),
        CheckpointChoice::Best => {
            let best = history
                .iter()
                .min_by(|a, b| a.valid_loss.total_cmp(&b.valid_loss))
                .expect("history is not empty");
            (best.epoch, "lowest validation loss")
        }
    })
}
