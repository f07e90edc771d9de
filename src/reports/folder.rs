//! A run's report folder: `report.md`, the curves and the confusion matrices of every evaluated
//! split, written the same way after training and by `emofuse report`.

use crate::core::SplitName;
use crate::reports::confusion::write_split_matrices;
use crate::reports::markdown::{ReportInput, write_report};
use crate::reports::plots::write_curves;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Writes every file of a run's report into `dir` (created if needed) and returns their paths:
/// `report.md`, `curves.{png,svg}`, `confusion_matrix_<split>.{png,svg}` (counts) and
/// `confusion_matrix_<split>_normalized.{png,svg}` (row percentages) per evaluated split, and
/// the headline copies `confusion_matrix.{png,svg}` and `confusion_matrix_normalized.{png,svg}`
/// of the test split (of the last split evaluated when the test split was not).
pub fn write_report_folder(dir: &Path, input: &ReportInput) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the report folder {}", dir.display()))?;
    let names = input.labels.names();
    let mut written = write_curves(&dir.join("curves"), input.history)?;
    for (split, m) in input.results {
        written.extend(write_split_matrices(
            dir,
            input.name,
            split.as_str(),
            &m.confusion_matrix,
            names,
        )?);
    }
    let headline = input
        .results
        .iter()
        .find(|(s, _)| *s == SplitName::Test)
        .or(input.results.last())
        .map(|(s, _)| *s);
    if let Some(split) = headline {
        for (from, to) in [
            (format!("confusion_matrix_{split}"), "confusion_matrix"),
            (
                format!("confusion_matrix_{split}_normalized"),
                "confusion_matrix_normalized",
            ),
        ] {
            for ext in ["png", "svg"] {
                let (from, to) = (
                    dir.join(format!("{from}.{ext}")),
                    dir.join(format!("{to}.{ext}")),
                );
                std::fs::copy(&from, &to).with_context(|| {
                    format!("cannot copy {} to {}", from.display(), to.display())
                })?;
                written.push(to);
            }
        }
    }
    write_report(dir, input)?;
    written.push(dir.join("report.md"));
    Ok(written)
}
