//! `emofuse sweep`: train an experiment once per combination of `--grid` values, then rank
//! the runs (see [`crate::pipeline::sweep`]).

use crate::core::BackendKind;
use crate::pipeline::sweep::{Sweep, SweepOptions, run_sweep};
use crate::terminal::Terminal;
use anyhow::Result;
use std::path::PathBuf;
use std::sync::Arc;

/// Arguments of `emofuse sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// Experiment file (TOML). Default: experiments/quickstart.toml (built in when the file is
    /// not there).
    pub experiment: Option<PathBuf>,
    /// A key and the values it takes, e.g. `--grid training.learning_rate=[1e-4,3e-4]`
    /// (values are TOML, as `--set` reads them; repeatable: every combination runs).
    #[arg(long = "grid", value_name = "KEY=[V1,V2,...]")]
    pub grid: Vec<String>,
    /// Override a key for every combination, e.g. `--set training.epochs=2` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Backend to run on (overrides `run.backend`).
    #[arg(long, value_enum)]
    pub backend: Option<BackendKind>,
    /// Run every combination once per seed and rank by the mean over seeds, e.g.
    /// `--seeds 1,2,3`.
    #[arg(long, value_delimiter = ',')]
    pub seeds: Vec<u64>,
    /// Check every combination and list it with its run folder (and whether it finished or
    /// would resume), then stop without training.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `emofuse sweep`.
pub fn run(args: &SweepArgs) -> Result<()> {
    let sets = super::with_option_overrides(&args.overrides, args.backend, &args.seeds);
    let load = |overrides: &[String]| super::load_experiment(args.experiment.as_deref(), overrides);
    if let Some(path) = &args.experiment {
        super::warn_if_cut_off(path);
    }
    let sweep = Sweep::plan(&args.grid, &sets, &load)?;
    run_sweep(
        &sweep,
        SweepOptions {
            dry_run: args.dry_run,
            observer: Arc::new(Terminal::default()),
        },
    )?;
    Ok(())
}
