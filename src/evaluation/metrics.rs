//! Classification metrics with scikit-learn's definitions and report layout.
//!
//! Every function takes `(y_true, y_pred)` in that order, as scikit-learn does; swapping them
//! silently changes precision into recall and inflates weighted F1 (a published MELD result fell
//! into this), so tests pin the order against scikit-learn's numbers.

use crate::core::LabelMap;
use serde::{Deserialize, Serialize};

/// Precision, recall, F1 and support of one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// tp / (tp + fp); 0 when the class is never predicted (scikit-learn's `zero_division=0`).
    pub precision: f64,
    /// tp / (tp + fn); 0 when the class has no support.
    pub recall: f64,
    /// 2 tp / (2 tp + fp + fn); 0 when that is 0 / 0.
    pub f1: f64,
    /// Number of true samples of the class.
    pub support: usize,
}

/// Metrics of one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitMetrics {
    /// Fraction of correct predictions.
    pub accuracy: f64,
    /// Support-weighted mean F1.
    pub weighted_f1: f64,
    /// Unweighted mean F1 over all classes of the label map.
    pub macro_f1: f64,
    /// Unweighted mean precision.
    pub macro_precision: f64,
    /// Unweighted mean recall over all classes of the label map (a class with no support
    /// counts as 0).
    pub macro_recall: f64,
    /// Unweighted average recall (UAR), the usual speech-emotion metric: the mean recall over
    /// the classes present in `y_true` (scikit-learn's `balanced_accuracy_score`). Equal to
    /// `macro_recall` when every class has support. Older `metrics.json` files lack it;
    /// `RunRecord::load` recomputes it from the confusion matrix.
    #[serde(default)]
    pub uar: f64,
    /// Support-weighted mean precision.
    pub weighted_precision: f64,
    /// Support-weighted mean recall.
    pub weighted_recall: f64,
    /// Number of samples.
    pub support: usize,
    /// Per-class metrics, keyed by class name, in label-map order.
    pub per_class: serde_json::Map<String, serde_json::Value>,
    /// Rows are true classes, columns predicted classes (scikit-learn's `confusion_matrix`).
    pub confusion_matrix: Vec<Vec<usize>>,
    /// Per-class metrics in label-map order (not serialised: `per_class` carries them; empty
    /// after deserialising until rebuilt from it, as `RunRecord::load` does).
    #[serde(skip)]
    pub classes: Vec<ClassMetrics>,
}

/// Confusion matrix: `m[true][pred]`.
///
/// # Panics
/// If the slices differ in length or hold a label outside `0..num_classes`.
pub fn confusion_matrix(y_true: &[usize], y_pred: &[usize], num_classes: usize) -> Vec<Vec<usize>> {
    assert_eq!(
        y_true.len(),
        y_pred.len(),
        "y_true and y_pred must have the same length"
    );
    let mut m = vec![vec![0; num_classes]; num_classes];
    for (&t, &p) in y_true.iter().zip(y_pred) {
        m[t][p] += 1;
    }
    m
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Unweighted average recall from a confusion matrix (`m[true][pred]`): the mean of
/// `tp / support` over the classes with support, as scikit-learn's `balanced_accuracy_score`
/// (which drops classes absent from `y_true`); 0 for an empty matrix.
pub fn unweighted_average_recall(cm: &[Vec<usize>]) -> f64 {
    let recalls: Vec<f64> = cm
        .iter()
        .enumerate()
        .filter_map(|(c, row)| {
            let support: usize = row.iter().sum();
            (support > 0).then(|| row[c] as f64 / support as f64)
        })
        .collect();
    if recalls.is_empty() {
        0.0
    } else {
        recalls.iter().sum::<f64>() / recalls.len() as f64
    }
}

/// All metrics of a split. Classes come from `labels`, so every class is reported, including
/// classes with no support or never predicted.
pub fn evaluate(y_true: &[usize], y_pred: &[usize], labels: &LabelMap) -> SplitMetrics {
    let k = labels.len();
    let cm = confusion_matrix(y_true, y_pred, k);
    let total = y_true.len();
    let classes: Vec<ClassMetrics> = (0..k)
        .map(|c| {
            let tp = cm[c][c];
            let support: usize = cm[c].iter().sum();
            let predicted: usize = cm.iter().map(|row| row[c]).sum();
            let fp = predicted - tp;
            let fn_ = support - tp;
            ClassMetrics {
                precision: ratio(tp, predicted),
                recall: ratio(tp, support),
                f1: ratio(2 * tp, 2 * tp + fp + fn_),
                support,
            }
        })
        .collect();
    let correct: usize = (0..k).map(|c| cm[c][c]).sum();
    let mean = |f: fn(&ClassMetrics) -> f64| classes.iter().map(f).sum::<f64>() / k as f64;
    let weighted = |f: fn(&ClassMetrics) -> f64| {
        if total == 0 {
            0.0
        } else {
            classes.iter().map(|m| f(m) * m.support as f64).sum::<f64>() / total as f64
        }
    };
    let per_class = labels
        .names()
        .iter()
        .zip(&classes)
        .map(|(name, m)| {
            (
                name.clone(),
                serde_json::to_value(m).expect("metrics serialise"),
            )
        })
        .collect();
    SplitMetrics {
        accuracy: ratio(correct, total),
        weighted_f1: weighted(|m| m.f1),
        macro_f1: mean(|m| m.f1),
        macro_precision: mean(|m| m.precision),
        macro_recall: mean(|m| m.recall),
        uar: unweighted_average_recall(&cm),
        weighted_precision: weighted(|m| m.precision),
        weighted_recall: weighted(|m| m.recall),
        support: total,
        per_class,
        confusion_matrix: cm,
        classes,
    }
}

/// The text of scikit-learn's `classification_report(y_true, y_pred, labels=range(k),
/// target_names=labels, digits=digits)`.
pub fn classification_report(metrics: &SplitMetrics, labels: &LabelMap, digits: usize) -> String {
    let heading = "weighted avg";
    let width = labels
        .names()
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(heading.len())
        .max(digits);
    let mut out = format!(
        "{:>width$}  {:>9} {:>9} {:>9} {:>9}\n\n",
        "", "precision", "recall", "f1-score", "support"
    );
    let row = |name: &str, p: f64, r: f64, f: f64, s: usize| {
        format!("{name:>width$}  {p:>9.digits$} {r:>9.digits$} {f:>9.digits$} {s:>9}\n")
    };
    for (name, m) in labels.names().iter().zip(&metrics.classes) {
        out += &row(name, m.precision, m.recall, m.f1, m.support);
    }
    out += "\n";
    out += &format!(
        "{:>width$}  {:>9} {:>9} {:>9.digits$} {:>9}\n",
        "accuracy", "", "", metrics.accuracy, metrics.support
    );
    out += &row(
        "macro avg",
        metrics.macro_precision,
        metrics.macro_recall,
        metrics.macro_f1,
        metrics.support,
    );
    out += &row(
        heading,
        metrics.weighted_precision,
        metrics.weighted_recall,
        metrics.weighted_f1,
        metrics.support,
    );
    out
}
