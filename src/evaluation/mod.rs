//! Evaluation: metrics compatible with scikit-learn, and prediction loops.

pub mod metrics;
pub mod predict;
pub mod trained;

pub use metrics::{ClassMetrics, SplitMetrics, classification_report, evaluate};
