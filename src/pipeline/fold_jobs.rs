//! Folds of a k-fold run trained side by side, each in a process of its own.
//!
//! On the CPU backend one fold of the small speech models keeps barely more than one core busy
//! (burn-flex's autodiff kernels run on one thread), so two folds at once use a 2-core machine
//! nearly twice as well. They cannot share a process: burn-flex's random generator (dropout
//! masks) is one per process and reseeded per epoch, so two folds drawing from it at once
//! would interleave their draws and lose determinism. Each fold therefore runs in its own
//! process, which trains exactly what the sequential loop would have trained for that fold;
//! the caller then collects the finished folds as it collects folds kept by `--resume`.
//!
//! The pipeline knows what to train; how a process is started (the binary, its arguments, its
//! threads) is the command line's business, behind [`FoldLauncher`].

use crate::core::events::Observer;
use anyhow::Result;
use std::path::PathBuf;

/// One fold to train in a process of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoldTask {
    /// The resolved experiment of the k-fold, as TOML (the same for every fold).
    pub experiment: PathBuf,
    /// The fold's folder under the k-fold's run folder: `fold-3`, or `male/fold-3` for a
    /// per-gender run; what [`crate::pipeline::TrainOptions::only_fold`] selects.
    pub fold: String,
    /// Continue the fold from its last checkpoint (as `--resume` does).
    pub resume: bool,
    /// Where the process writes what it reports.
    pub log: PathBuf,
}

/// Starts the processes that train folds.
pub trait FoldLauncher: Send + Sync {
    /// Trains every task, several at a time, and returns once all have ended: an error when a
    /// fold failed (naming it and its log), after the ones already running have finished.
    fn launch(&self, tasks: &[FoldTask], observer: &dyn Observer) -> Result<()>;
}
