//! Comparing finished runs: `compare.md` (headline metrics, sizes and times, per-class F1) and
//! their validation curves overlaid.

use crate::core::SplitName;
use crate::reports::pct;
use crate::reports::plots::write_comparison_curves;
use crate::reports::run_record::RunRecord;
use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Folder name of a comparison: the run names joined by `_vs_`, with characters other than
/// letters, digits, `-`, `_` and `.` replaced by `_` (a name may come from `--set output.name`).
pub fn compare_dir_name(names: &[&str]) -> String {
    let clean = |name: &&str| -> String {
        name.chars()
            .map(|c| {
                if c.is_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    names.iter().map(clean).collect::<Vec<_>>().join("_vs_")
}

/// How each run is named in tables and legends: its name, or its folder when two runs share a
/// name (the same experiment under two `runs_dir`s).
fn display_names(runs: &[RunRecord]) -> Vec<String> {
    let shared = runs
        .iter()
        .enumerate()
        .any(|(i, r)| runs[..i].iter().any(|o| o.name == r.name));
    runs.iter()
        .map(|r| {
            if shared {
                r.run_dir.display().to_string()
            } else {
                r.name.clone()
            }
        })
        .collect()
}

/// Fails unless every run has the same classes (the per-class tables line runs up by class
/// name), naming the first two runs that differ.
fn check_same_classes(runs: &[RunRecord]) -> Result<()> {
    let sorted = |r: &RunRecord| {
        let mut names = r.labels.names().to_vec();
        names.sort();
        names
    };
    let Some(first) = runs.first() else {
        return Ok(());
    };
    for other in &runs[1..] {
        if sorted(first) != sorted(other) {
            bail!(
                "{} and {} have different classes ({}: {}; {}: {}): per-class F1 tables need \
                 runs with the same label map",
                first.run_dir.display(),
                other.run_dir.display(),
                first.run_dir.display(),
                first.labels.names().join(", "),
                other.run_dir.display(),
                other.labels.names().join(", ")
            );
        }
    }
    Ok(())
}

/// `compare.md`: one row per run with accuracy, weighted F1 and macro F1 of every split any of
/// them evaluated ("-" where a run did not), parameter counts, training time and the evaluated
/// epoch; then per split a table of per-class F1 (rows: classes in the first run's order;
/// columns: runs). Fails when the runs' classes differ.
pub fn render_comparison(runs: &[RunRecord]) -> Result<String> {
    check_same_classes(runs)?;
    // A `|` would split a table cell.
    let names: Vec<String> = display_names(runs)
        .iter()
        .map(|n| n.replace('|', "\\|"))
        .collect();
    let mut splits: Vec<SplitName> = runs
        .iter()
        .flat_map(|r| r.results.iter().map(|(s, _)| *s))
        .collect();
    splits.sort();
    splits.dedup();

    let mut md = String::new();
    let _ = writeln!(md, "# Comparison: {}\n", names.join(" vs "));
    let mut heads = vec!["run".to_string()];
    for split in &splits {
        for metric in ["accuracy", "UAR", "weighted F1", "macro F1"] {
            heads.push(format!("{split} {metric}"));
        }
    }
    heads.extend(
        [
            "trainable parameters",
            "total parameters",
            "train seconds",
            "checkpoint epoch",
        ]
        .map(String::from),
    );
    let _ = writeln!(md, "| {} |", heads.join(" | "));
    let _ = writeln!(md, "|---|{}", "---:|".repeat(heads.len() - 1));
    for (run, name) in runs.iter().zip(&names) {
        let mut cells = vec![name.clone()];
        for &split in &splits {
            match run.split(split) {
                Some(m) => cells.extend([
                    pct(m.accuracy),
                    pct(m.uar),
                    pct(m.weighted_f1),
                    pct(m.macro_f1),
                ]),
                None => cells.extend(["-", "-", "-", "-"].map(String::from)),
            }
        }
        cells.extend([
            run.parameters.0.to_string(),
            run.parameters.1.to_string(),
            format!("{:.1}", run.train_seconds),
            run.checkpoint_epoch.to_string(),
        ]);
        let _ = writeln!(md, "| {} |", cells.join(" | "));
    }
    let _ = writeln!(md, "\n(percentages)\n");
    for (run, name) in runs.iter().zip(&names) {
        let _ = writeln!(
            md,
            "- {name}: `{}`, seed {}, backend `{}`, checkpoint: {}",
            run.run_dir.display(),
            run.seed,
            run.backend,
            run.checkpoint_rule
        );
    }
    md.push('\n');

    let classes = runs.first().map(|r| r.labels.names()).unwrap_or_default();
    for &split in &splits {
        let _ = writeln!(md, "## Per-class F1, {split} split\n");
        let _ = writeln!(md, "| class | {} |", names.join(" | "));
        let _ = writeln!(md, "|---|{}", "---:|".repeat(names.len()));
        for class in classes {
            let cells: Vec<String> = runs
                .iter()
                .map(|run| {
                    let f1 = run.split(split).and_then(|m| {
                        let index = run.labels.index(class).ok()?;
                        m.classes.get(index).map(|c| c.f1)
                    });
                    f1.map(pct).unwrap_or_else(|| "-".into())
                })
                .collect();
            let _ = writeln!(md, "| {class} | {} |", cells.join(" | "));
        }
        let _ = writeln!(md, "\n(percentages)\n");
    }

    let _ = writeln!(md, "## Validation curves\n");
    let _ = writeln!(
        md,
        "![validation loss and weighted F1 per epoch](curves.png)\n\n\
         Validation weighted F1 per epoch, or validation accuracy for a run that did not record \
         F1 (marked in the legend)."
    );
    Ok(md)
}

/// Writes the comparison of `runs` into `dir` (created if needed): `compare.md`,
/// `curves.png` and `curves.svg`. Returns the paths written.
pub fn write_comparison(dir: &Path, runs: &[RunRecord]) -> Result<Vec<PathBuf>> {
    // Render first: a label-map mismatch must stop before anything is written.
    let md = render_comparison(runs)?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the comparison folder {}", dir.display()))?;
    let names = display_names(runs);
    let curves: Vec<(&str, &[_])> = names
        .iter()
        .zip(runs)
        .map(|(name, run)| (name.as_str(), run.history.as_slice()))
        .collect();
    let mut written = write_comparison_curves(&dir.join("curves"), &curves)?;
    let path = dir.join("compare.md");
    crate::io::atomic::write(&path, md.as_bytes())?;
    written.push(path);
    Ok(written)
}
