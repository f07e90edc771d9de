//! Evaluation: metrics compatible with scikit-learn.

pub mod metrics;

pub use metrics::{
    ClassMetrics, SplitMetrics, classification_report, evaluate, unweighted_average_recall,
};
