//! `emofuse cache`: build an experiment's frozen-trunk caches ahead of training, one shard of
//! them (`--shard i/n`, one per device or machine), or merge copied shards (`--merge`).

use crate::inference::cache::Shard;
use crate::pipeline::caches::{CacheMode, build_caches};
use crate::terminal::Terminal;
use anyhow::Result;
use std::path::PathBuf;
use std::sync::Arc;

/// Arguments of `emofuse cache`.
#[derive(Debug, clap::Args)]
pub struct CacheArgs {
    /// Experiment file (TOML). Default: experiments/quickstart.toml (built in when the file is
    /// not there).
    pub experiment: Option<PathBuf>,
    /// Override a key, e.g. `--set data.max_tokens=64` (repeatable); the caches' keys are
    /// those `emofuse train` with the same overrides reads.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Where and in what precision the trunks run (a run that trains on half-precision
    /// caches must say the same `run.precision`).
    #[command(flatten)]
    pub device: super::DeviceArgs,
    /// Build only shard I of N of every cache (I counts from 1: `--shard 1/2` on one machine,
    /// `--shard 2/2` on another), into `<cache>/shards/<I>-of-<N>/`. Copy the shard folders
    /// into one `output.cache_dir`; `emofuse train` (or `--merge`) merges them.
    #[arg(long, value_name = "I/N", conflicts_with = "merge")]
    pub shard: Option<Shard>,
    /// Merge each cache's shards (all N of them must be there and finished); runs no trunk.
    #[arg(long)]
    pub merge: bool,
}

/// Runs `emofuse cache`.
pub fn run(args: &CacheArgs) -> Result<()> {
    let mut experiment = super::load_experiment(args.experiment.as_deref(), &args.overrides)?;
    args.device.choice().apply(&mut experiment.run);
    if let Some(path) = &args.experiment {
        super::warn_if_cut_off(path);
    }
    let mode = match (args.shard, args.merge) {
        (Some(shard), _) => CacheMode::Shard(shard),
        (None, true) => CacheMode::Merge,
        (None, false) => CacheMode::Full,
    };
    let outcomes = build_caches(&experiment, mode, Arc::new(Terminal::default()))?;
    for outcome in &outcomes {
        let size = std::fs::metadata(outcome.folder.join("data.bin")).map_or(0, |m| m.len());
        println!(
            "{} {}: utterances {}..{} of {} in {} ({:.1} MiB)",
            outcome.branch.as_str(),
            outcome.split,
            outcome.utterances.start,
            outcome.utterances.end,
            outcome.split_size,
            outcome.folder.display(),
            size as f64 / (1 << 20) as f64
        );
    }
    if let CacheMode::Shard(shard) = mode {
        println!(
            "shard {shard} done: copy the shards/ folders of every shard into one cache folder \
             ({}); `emofuse train` or `emofuse cache --merge` merges them",
            experiment.output.cache_dir.display()
        );
    }
    Ok(())
}
