//! Resuming an interrupted run from its last complete checkpoint.
//!
//! burn-train writes the model, optimizer and scheduler state after every epoch
//! (`checkpoint/{model,optim,scheduler}-<epoch>.bpk`). `emofuse train --resume` picks the latest
//! epoch with all three files and continues from there, so an interruption loses at most the
//! epoch in progress.

use crate::config::Experiment;
use anyhow::{Context, Result, bail};
use std::path::Path;

/// Checks that `run_dir` holds a run of `experiment` (only `training.epochs` may differ, to train
/// longer) and returns the last epoch whose checkpoint is complete (0 when there is none).
pub fn resume_point(experiment: &Experiment, run_dir: &Path) -> Result<usize> {
    let config_path = run_dir.join("config.toml");
    let text = std::fs::read_to_string(&config_path).with_context(|| {
        format!(
            "--resume: there is no run to resume in {} (cannot read {}); start it without --resume",
            run_dir.display(),
            config_path.display()
        )
    })?;
    let mut saved = Experiment::from_toml_str(&text, &[], &config_path.display().to_string())?;
    saved.training.epochs = experiment.training.epochs;
    if &saved != experiment {
        let mut changed = Vec::new();
        let sections = [
            ("data", saved.data != experiment.data),
            ("model", saved.model != experiment.model),
            ("training", saved.training != experiment.training),
            ("evaluation", saved.evaluation != experiment.evaluation),
            ("output", saved.output != experiment.output),
            ("run", saved.run != experiment.run),
        ];
        for (name, differs) in sections {
            if differs {
                changed.push(format!("[{name}]"));
            }
        }
        bail!(
            "--resume: the experiment differs from the one {} was started with, in {} (only \
             training.epochs may change). Compare with {}, or start a new run without --resume \
             (add `--set output.name=<new name>` to keep the old one)",
            run_dir.display(),
            changed.join(", "),
            config_path.display()
        );
    }
    let epoch = last_complete_checkpoint(&run_dir.join("checkpoint"));
    if epoch > experiment.training.epochs {
        bail!(
            "--resume: {} already holds {epoch} epochs, more than training.epochs = {}",
            run_dir.display(),
            experiment.training.epochs
        );
    }
    // An interrupted epoch may have left partial metric logs; they would be appended to.
    for split in ["train", "valid"] {
        let Ok(entries) = std::fs::read_dir(run_dir.join(split)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(n) = name
                .strip_prefix("epoch-")
                .and_then(|n| n.parse::<usize>().ok())
                && n > epoch
            {
                std::fs::remove_dir_all(entry.path())
                    .with_context(|| format!("cannot remove {}", entry.path().display()))?;
            }
        }
    }
    Ok(epoch)
}

/// The highest epoch N with `model-N.bpk`, `optim-N.bpk` and `scheduler-N.bpk` all present.
fn last_complete_checkpoint(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("model-")?
                .strip_suffix(".bpk")?
                .parse::<usize>()
                .ok()
        })
        .filter(|n| {
            ["optim", "scheduler"]
                .iter()
                .all(|kind| dir.join(format!("{kind}-{n}.bpk")).exists())
        })
        .max()
        .unwrap_or(0)
}
