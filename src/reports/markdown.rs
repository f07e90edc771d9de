//! `report.md`: everything a reader needs to check a run, with support counts that can be
//! checked against the data.

use crate::core::LabelMap;
use crate::core::SplitName;
use crate::evaluation::{SplitMetrics, classification_report};
use crate::reports::ablation::{AblationRow, render_ablation};
use crate::reports::confusion::{normalize_rows, percent_label};
use crate::reports::pct;
use crate::reports::plots::{EpochField, has_series};
use crate::training::history::EpochRecord;
use anyhow::Result;
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
    /// The epochs the last invocation of `train` ran (only the missing ones after a resume).
    pub epochs_run: &'a [usize],
    /// Parameter counts (trainable, total).
    pub parameters: (usize, usize),
    /// Backend name.
    pub backend: &'a str,
    /// The resolved experiment (TOML).
    pub config_toml: &'a str,
    /// Inference-time ablation results (empty: no such section).
    pub ablation: &'a [AblationRow],
    /// Learned layer weights per branch under layer-weighted pooling (`text`, `audio`;
    /// embedding output first; empty: no such section).
    pub layer_weights: &'a [(String, Vec<f32>)],
}

/// The "Layer weights" section: each branch's softmax weights over its hidden states.
fn render_layer_weights(md: &mut String, weights: &[(String, Vec<f32>)]) {
    if weights.is_empty() {
        return;
    }
    let width = weights.iter().map(|(_, w)| w.len()).max().unwrap_or(0);
    let _ = writeln!(
        md,
        "## Layer weights
"
    );
    let _ = writeln!(
        md,
        "Learned softmax weights of the layer-weighted pooling (h0: the embedding output, hN: layer N's output).
"
    );
    let heads: Vec<String> = (0..width).map(|i| format!("h{i}")).collect();
    let _ = writeln!(md, "| branch | {} |", heads.join(" | "));
    let _ = writeln!(md, "|---|{}", "---:|".repeat(width));
    for (branch, w) in weights {
        let cells: Vec<String> = (0..width)
            .map(|i| w.get(i).map_or(String::new(), |v| format!("{v:.3}")))
            .collect();
        let _ = writeln!(md, "| {branch} | {} |", cells.join(" | "));
    }
    let _ = writeln!(md);
}

/// The "Data" section: per-split, per-class counts and the loss weight of each class.
fn render_data(md: &mut String, input: &ReportInput) {
    let names = input.labels.names();
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
    if !weights.is_empty() {
        let _ = writeln!(md, "| loss weight | {} | |", weights.join(" | "));
    }
    md.push('\n');
}

/// The per-epoch table; columns that were not recorded (0 throughout, as in older runs) are
/// left out.
fn render_history(history: &[EpochRecord]) -> String {
    type Column = (&'static str, fn(&EpochRecord) -> String);
    let optional: [(Column, EpochField); 3] = [
        (("valid weighted F1", |r| pct(r.valid_weighted_f1)), |r| {
            r.valid_weighted_f1
        }),
        (("valid macro F1", |r| pct(r.valid_macro_f1)), |r| {
            r.valid_macro_f1
        }),
        (
            ("learning rate", |r| format!("{:.3e}", r.learning_rate)),
            |r| r.learning_rate,
        ),
    ];
    let mut columns: Vec<Column> = vec![
        ("epoch", |r| r.epoch.to_string()),
        ("train loss", |r| format!("{:.4}", r.train_loss)),
        ("train acc", |r| pct(r.train_accuracy)),
        ("valid loss", |r| format!("{:.4}", r.valid_loss)),
        ("valid acc", |r| pct(r.valid_accuracy)),
    ];
    columns.extend(
        optional
            .into_iter()
            .filter(|(_, field)| has_series(history, *field))
            .map(|(column, _)| column),
    );
    let mut md = String::new();
    let heads: Vec<&str> = columns.iter().map(|c| c.0).collect();
    let _ = writeln!(md, "| {} |", heads.join(" | "));
    let _ = writeln!(md, "|{}", "---:|".repeat(columns.len()));
    for r in history {
        let cells: Vec<String> = columns.iter().map(|c| (c.1)(r)).collect();
        let _ = writeln!(md, "| {} |", cells.join(" | "));
    }
    md
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
        "| split | accuracy | UAR | weighted F1 | macro F1 | support |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
    for (split, m) in input.results {
        let _ = writeln!(
            md,
            "| {split} | {} | {} | {} | {} | {} |",
            pct(m.accuracy),
            pct(m.uar),
            pct(m.weighted_f1),
            pct(m.macro_f1),
            m.support
        );
    }
    let _ = writeln!(md, "\n(percentages)\n");
    md += &render_ablation(input.ablation);
    render_layer_weights(&mut md, input.layer_weights);

    // Runs written before per-split counts were saved may have neither counts nor weights.
    if !input.counts.is_empty() || !input.class_weights.is_empty() {
        render_data(&mut md, input);
    }

    let _ = writeln!(md, "## Training\n");
    let _ = writeln!(md, "![loss, accuracy and F1 per epoch](curves.png)\n");
    md += &render_history(input.history);
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
            "\nRow-normalised (% of the true class; the diagonal is the recall):\n"
        );
        let _ = writeln!(md, "| true \\ pred | {} |", names.join(" | "));
        let _ = writeln!(md, "|---|{}", "---:|".repeat(names.len()));
        for (name, row) in names.iter().zip(normalize_rows(&m.confusion_matrix)) {
            let cells: Vec<String> = row.into_iter().map(percent_label).collect();
            let _ = writeln!(md, "| {name} | {} |", cells.join(" | "));
        }
        let _ = writeln!(
            md,
            "\n![confusion matrix, {split}](confusion_matrix_{split}.png)\n\
             ![row-normalised confusion matrix, {split}](confusion_matrix_{split}_normalized.png)\n"
        );
    }

    let _ = writeln!(md, "## Experiment\n");
    let _ = writeln!(md, "```toml\n{}```", input.config_toml);
    md
}

/// Writes `report.md` into `dir`.
pub fn write_report(dir: &Path, input: &ReportInput) -> Result<()> {
    let path = dir.join("report.md");
    crate::io::atomic::write(&path, render(input).as_bytes())
}
