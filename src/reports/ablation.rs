//! Inference-time ablation: the trained model evaluated with a modality removed (e.g. its input
//! zeroed), compared with the full model.

use crate::core::SplitName;
use crate::reports::pct;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// The variant the others are compared with.
pub const FULL_VARIANT: &str = "full";

/// Metrics of one variant of the model on one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AblationRow {
    /// Split evaluated.
    pub split: SplitName,
    /// What was changed at inference time, as free text: `"full"` (nothing; the reference),
    /// `"text only (audio zeroed)"`, `"audio only (text zeroed)"`, ...
    pub variant: String,
    /// Accuracy, as a fraction.
    pub accuracy: f64,
    /// Support-weighted mean F1, as a fraction.
    pub weighted_f1: f64,
    /// Unweighted mean F1, as a fraction.
    pub macro_f1: f64,
}

/// `value - reference` in percentage points, signed (`"-4.25"`, `"+0.50"`).
fn points(value: f64, reference: f64) -> String {
    // Round first and add 0.0 so that a change that rounds to zero prints "+0.00", not "-0.00".
    let change = (10_000.0 * (value - reference)).round() / 100.0 + 0.0;
    format!("{change:+.2}")
}

/// The "Inference-time ablation" section of `report.md`: one table per split (in train, valid,
/// test order), rows in the given order, with each metric's change in points against the
/// `full` variant of that split ("-" for `full` itself and when a split has no `full` row).
/// Empty when there are no rows.
pub fn render_ablation(rows: &[AblationRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut splits: Vec<SplitName> = rows.iter().map(|r| r.split).collect();
    splits.sort();
    splits.dedup();

    let mut md = String::from("## Inference-time ablation\n\n");
    md += "The trained model evaluated with parts of its input removed. Percentages; the \
           change columns are in points against the `full` model on the same split.\n\n";
    for split in splits {
        let in_split: Vec<&AblationRow> = rows.iter().filter(|r| r.split == split).collect();
        let full = in_split.iter().find(|r| r.variant == FULL_VARIANT);
        let _ = writeln!(md, "### {split} split\n");
        md += "| variant | accuracy | weighted F1 | macro F1 | Δ accuracy | Δ weighted F1 | Δ macro F1 |\n";
        md += "|---|---:|---:|---:|---:|---:|---:|\n";
        for row in in_split.iter().copied() {
            let change = |metric: fn(&AblationRow) -> f64| match full {
                Some(full) if row.variant != FULL_VARIANT => points(metric(row), metric(full)),
                _ => "-".to_string(),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} |",
                row.variant.replace('|', "\\|"),
                pct(row.accuracy),
                pct(row.weighted_f1),
                pct(row.macro_f1),
                change(|r| r.accuracy),
                change(|r| r.weighted_f1),
                change(|r| r.macro_f1),
            );
        }
        md.push('\n');
    }
    md
}
