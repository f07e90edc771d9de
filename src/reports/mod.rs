//! Reports: `report.md`, confusion matrices (PNG and SVG) and training curves, rendered with
//! plotters and a bundled font (DejaVu Sans), so they look the same on every machine.

pub mod markdown;
pub mod plots;

pub use markdown::write_report;
pub use plots::{EpochRecord, write_confusion_matrix, write_curves};
