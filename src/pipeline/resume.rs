//! Resuming an interrupted run from its last complete checkpoint.
//!
//! The training loop writes the model, the optimiser state and its own state after every epoch
//! (`checkpoint/{model,optim}-<epoch>.bpk`, `checkpoint/state.json`, see
//! [`crate::training::trainer`]). `emofuse train --resume` continues from there, so an
//! interruption loses at most the epoch in progress.

use crate::experiment::Experiment;
use crate::reports::run_dir::RunDir;
use anyhow::{Context, Result, bail};

/// Checks that `run_dir` holds a run of `experiment` (only `training.epochs` may differ, to train
/// longer).
pub fn check_resumable(experiment: &Experiment, run: &RunDir) -> Result<()> {
    let run_dir = run.path();
    let config_path = run.config();
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
        let changed: Vec<String> = differing_sections(&saved, experiment)
            .iter()
            .map(|name| format!("[{name}]"))
            .collect();
        bail!(
            "--resume: the experiment differs from the one {} was started with, in {} (only \
             training.epochs may change). Compare with {}, or start a new run without --resume \
             (add `--set output.name=<new name>` to keep the old one)",
            run_dir.display(),
            changed.join(", "),
            config_path.display()
        );
    }
    Ok(())
}

/// The sections (`data`, `model`, ...) in which two experiments differ, in file order.
pub fn differing_sections(a: &Experiment, b: &Experiment) -> Vec<&'static str> {
    [
        ("data", a.data != b.data),
        ("model", a.model != b.model),
        ("training", a.training != b.training),
        ("evaluation", a.evaluation != b.evaluation),
        ("output", a.output != b.output),
        ("run", a.run != b.run),
    ]
    .into_iter()
    .filter_map(|(name, differs)| differs.then_some(name))
    .collect()
}
