//! Reports: `report.md`, confusion matrices (PNG and SVG) and training curves, rendered with
//! plotters and a bundled font (DejaVu Sans), so they look the same on every machine; the run
//! record (`metrics.json` + `config.toml`) they can be regenerated from; comparisons of runs.

pub mod ablation;
pub mod compare;
pub mod confusion;
pub mod folder;
pub mod markdown;
pub mod plots;
pub mod predictions;
pub mod run_dir;
pub mod run_record;

pub use ablation::{AblationRow, render_ablation};
pub use compare::{compare_dir_name, render_comparison, write_comparison};
pub use confusion::{
    CellValues, normalize_rows, percent_label, write_confusion_matrix, write_split_matrices,
};
pub use folder::write_report_folder;
pub use markdown::{ReportInput, write_report};
pub use plots::{write_comparison_curves, write_curves};
pub use run_record::{RunRecord, metrics_json};

/// A fraction as a percentage with two decimals, as every report table writes it (`0.4458` ->
/// `44.58`).
pub fn pct(x: f64) -> String {
    format!("{:.2}", 100.0 * x)
}
