//! Files a finished run leaves: `metrics.csv` and `metrics.json` in the run folder, figures and
//! `report.md` in the report folder.

use crate::config::{Experiment, SplitName};
use crate::reports::markdown::ReportInput;
use crate::reports::{write_confusion_matrix, write_curves, write_report};
use anyhow::{Context, Result};
use serde_json::json;

/// Writes every output of a run described by `report`.
pub fn write_outputs(experiment: &Experiment, report: &ReportInput) -> Result<()> {
    let run_dir = experiment.run_dir();
    let report_dir = experiment.report_dir();
    let names = report.labels.names();

    let mut csv = String::from("epoch,train_loss,train_accuracy,valid_loss,valid_accuracy\n");
    for r in report.history {
        csv += &format!(
            "{},{},{},{},{}\n",
            r.epoch, r.train_loss, r.train_accuracy, r.valid_loss, r.valid_accuracy
        );
    }
    std::fs::write(run_dir.join("metrics.csv"), csv)?;

    let splits: serde_json::Map<String, serde_json::Value> = report
        .results
        .iter()
        .map(|(s, m)| {
            let value = serde_json::to_value(m).expect("metrics serialise");
            (s.as_str().to_string(), value)
        })
        .collect();
    let weights: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .cloned()
        .zip(report.class_weights.iter().map(|w| json!(w)))
        .collect();
    let metrics = json!({
        "experiment": report.name,
        "splits": splits,
        "trainable_parameters": report.parameters.0,
        "total_parameters": report.parameters.1,
        "train_seconds": report.train_seconds,
        "checkpoint_epoch": report.checkpoint.0,
        "checkpoint_rule": report.checkpoint.1,
        "class_weights": weights,
        "history": report.history,
        "seed": experiment.run.seed,
        "backend": report.backend,
    });
    std::fs::write(
        run_dir.join("metrics.json"),
        serde_json::to_string_pretty(&metrics)?,
    )?;

    write_curves(&report_dir.join("curves.png"), report.history)?;
    for (split, m) in report.results {
        write_confusion_matrix(
            &report_dir.join(format!("confusion_matrix_{split}")),
            &format!("{} - {split} split", report.name),
            &m.confusion_matrix,
            names,
        )?;
    }
    // The headline matrix is the test split's when it was evaluated.
    let headline = report
        .results
        .iter()
        .find(|(s, _)| *s == SplitName::Test)
        .or(report.results.last())
        .map(|(s, _)| *s)
        .context("no split evaluated")?;
    for ext in ["png", "svg"] {
        std::fs::copy(
            report_dir.join(format!("confusion_matrix_{headline}.{ext}")),
            report_dir.join(format!("confusion_matrix.{ext}")),
        )?;
    }
    write_report(&report_dir, report)
}
