//! `report.md`: everything a reader needs to check a run, with support counts that can be
//! checked against the data.

use crate::config::SplitName;
use crate::data::LabelMap;
use crate::evaluation::{SplitMetrics, classification_report};
use crate::reports::EpochRecord;
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::Path;

/// What a run report shows.
pub struct ReportInput<'a> {
    /// Run name.
    pub name: &'a str,
    /// Class names.
    pub labels: &'a LabelMap,
    /// Per-split, per-class counts of the data.
    pub counts: &'a [(SplitName, Vec<usize>)],
    /// Loss weight of each class.
    pub class_weights: &'a [f32],
    /// Training history.
    pub history: &'a [EpochRecord],
    /// Epoch whose checkpoint was evaluated, and why.
    pub checkpoint: (usize, &'a str),
    /// Metrics of each evaluated split.
    pub results: &'a [(SplitName, SplitMetrics)],
    /// Training wall time, in seconds.
    pub train_seconds: f64,
    /// Parameter counts (trainable, total).
    pub parameters: (usize, usize),
    /// Backend name.
    pub backend: &'a str,
    /// The resolved experiment (TOML).
    pub config_toml: &'a str,
}

fn pct(x: f64) -> String {
    format!("{:.2}", 100.0 * x)
}

/// Renders the report as Markdown.
pub fn render(input: &ReportInput) -> String {
    let names = input.labels.names();
    let mut md = String::new();
    let _ = writeln!(md, "# {}\n", input.name);
    let _ = writeln!(
        md,
        "Backend `{}`, {} trainable of {} parameters, trained in {:.1} s. \
         Checkpoint evaluated: epoch {} ({}).\n",
        input.backend,
        input.parameters.0,
        input.parameters.1,
        input.train_seconds,
        input.checkpoint.0,
        input.checkpoint.1
    );

    let _ = writeln!(md, "## Results\n");
    let _ = writeln!(
        md,
        "| split | accuracy | weighted F1 | macro F1 | support |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|");
    for (split, m) in input.results {
        let _ = writeln!(
            md,
            "| {split} | {} | {} | {} | {} |",
            pct(m.accuracy),
            pct(m.weighted_f1),
            pct(m.macro_f1),
            m.support
        );
    }
    let _ = writeln!(md, "\n(percentages)\n");

    let _ = writeln!(md, "## Data\n");
    let _ = writeln!(md, "| split | {} | total |", names.join(" | "));
    let _ = writeln!(md, "|---|{}---:|", "---:|".repeat(names.len()));
    for (split, counts) in input.counts {
        let cells: Vec<String> = counts.iter().map(|c| c.to_string()).collect();
        let _ = writeln!(
            md,
            "| {split} | {} | {} |",
            cells.join(" | "),
            counts.iter().sum::<usize>()
        );
    }
    let weights: Vec<String> = input
        .class_weights
        .iter()
        .map(|w| format!("{w:.3}"))
        .collect();
    let _ = writeln!(md, "| loss weight | {} | |\n", weights.join(" | "));

    let _ = writeln!(md, "## Training\n");
    let _ = writeln!(md, "![loss and accuracy per epoch](curves.png)\n");
    let _ = writeln!(
        md,
        "| epoch | train loss | train acc | valid loss | valid acc |"
    );
    let _ = writeln!(md, "|---:|---:|---:|---:|---:|");
    for r in input.history {
        let _ = writeln!(
            md,
            "| {} | {:.4} | {} | {:.4} | {} |",
            r.epoch,
            r.train_loss,
            pct(r.train_accuracy),
            r.valid_loss,
            pct(r.valid_accuracy)
        );
    }
    md.push('\n');

    for (split, m) in input.results {
        let _ = writeln!(md, "## {split} split\n");
        let _ = writeln!(
            md,
            "```text\n{}```\n",
            classification_report(m, input.labels, 4)
        );
        let _ = writeln!(
            md,
            "Confusion matrix (rows: true class, columns: predicted class):\n"
        );
        let _ = writeln!(md, "| true \\ pred | {} |", names.join(" | "));
        let _ = writeln!(md, "|---|{}", "---:|".repeat(names.len()));
        for (name, row) in names.iter().zip(&m.confusion_matrix) {
            let cells: Vec<String> = row.iter().map(|c| c.to_string()).collect();
            let _ = writeln!(md, "| {name} | {} |", cells.join(" | "));
        }
        let _ = writeln!(
            md,
            "\n![confusion matrix, {split}](confusion_matrix_{split}.png)\n"
        );
    }

    let _ = writeln!(md, "## Experiment\n");
    let _ = writeln!(md, "```toml\n{}```", input.config_toml);
    md
}

/// Writes `report.md` into `dir`.
pub fn write_report(dir: &Path, input: &ReportInput) -> Result<()> {
    let path = dir.join("report.md");
    std::fs::write(&path, render(input)).with_context(|| format!("cannot write {}", path.display()))
}
