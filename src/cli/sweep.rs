//! `emofuse sweep`: train an experiment once per combination of `--grid` values, then rank
//! the runs (see [`crate::pipeline::sweep`]).

use crate::core::BackendKind;
use crate::experiment::{DEFAULT_EXPERIMENT, Experiment};
use crate::pipeline::sweep::{Sweep, SweepOptions, run_sweep};
use crate::terminal::Terminal;
use anyhow::Result;
use std::path::{Path, PathBuf};
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
    // The same overrides as `emofuse train`'s options.
    let mut sets = args.overrides.clone();
    if let Some(backend) = args.backend {
        sets.push(format!("run.backend=\"{}\"", backend.as_str()));
    }
    if !args.seeds.is_empty() {
        let list: Vec<String> = args.seeds.iter().map(u64::to_string).collect();
        sets.push(format!("run.seeds=[{}]", list.join(", ")));
    }
    let load = |overrides: &[String]| -> Result<Experiment> {
        match &args.experiment {
            Some(path) => Experiment::load(path, overrides),
            None if Path::new(DEFAULT_EXPERIMENT).exists() => {
                Experiment::load(Path::new(DEFAULT_EXPERIMENT), overrides)
            }
            None => Experiment::built_in_quickstart(overrides),
        }
    };
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
