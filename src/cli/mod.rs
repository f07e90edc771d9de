//! The `emofuse` command line.

pub mod cache;
pub mod eval;
pub mod export;
pub mod features;
pub mod fold_jobs;
pub mod forward;
pub mod forward_audio;
pub mod fuzz;
pub mod predict;
pub mod report;
pub mod serve;
pub mod sweep;

use crate::core::{BackendKind, Precision};
use crate::experiment::{DEFAULT_EXPERIMENT, DeviceChoice, Experiment};
use crate::pipeline;
use crate::terminal::Terminal;
use anyhow::Result;
use burn::tensor::TensorData;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Speech and multimodal emotion recognition, trained with burn.
#[derive(Debug, Parser)]
#[command(name = "emofuse", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train an experiment, evaluate it and write its report.
    Train(TrainArgs),
    /// Build an experiment's frozen-trunk caches ahead of training: all of them, one shard
    /// (`--shard i/n`, one per device or machine), or merge copied shards (`--merge`).
    Cache(cache::CacheArgs),
    /// Evaluate a trained run on a split (optionally with one modality zeroed).
    Eval(eval::EvalArgs),
    /// Class probabilities of one utterance from a trained run.
    Predict(predict::PredictArgs),
    /// Serve a trained run: a web demo page and a JSON prediction API.
    Serve(serve::ServeArgs),
    /// Train an experiment once per combination of `--grid` values (resumable), then rank the
    /// runs by the validation selection metric, with test metrics beside.
    Sweep(sweep::SweepArgs),
    /// Write a trained run's encoders in the HuggingFace layout (config.json, model.safetensors,
    /// tokenizer files) and its fusion head as safetensors with a JSON description.
    Export(export::ExportArgs),
    /// Write a finished run's report again, or compare several runs, from their metrics.json.
    Report(report::ReportArgs),
    /// Compute waveforms, log-mel spectrograms or MFCCs of audio files (librosa definitions).
    Features(features::FeaturesArgs),
    /// Run a pretrained encoder on inputs and save its outputs (safetensors).
    #[command(subcommand)]
    Forward(forward::ForwardCommand),
    /// Benchmarks (times and ratios against a reference run in the same process).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Mutation fuzzing of the inputs emofuse reads (audio, experiment TOML, HTTP requests);
    /// fails when a case panics, hangs, runs over its budget or is answered wrongly.
    Fuzz(fuzz::FuzzArgs),
}

/// `emofuse bench` subcommands.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Compare the compiled-in CPU backends on a transformer-sized workload.
    Backends(crate::bench::backends::BackendBenchArgs),
    /// Forward throughput of a roberta-base-sized text encoder (see
    /// benches/text_forward_vs_torch.py for the comparison with PyTorch).
    Text(crate::bench::text::TextBenchArgs),
    /// MFCC throughput on decoded clips held in memory (for benches/audio/bench_vs_references.py).
    Features(crate::bench::features::FeatureBenchArgs),
    /// One training epoch of study A's late-fusion model (roberta-base + wav2vec2-base sizes,
    /// random weights), uncached and on the frozen-trunk cache (see
    /// benches/fusion_epoch_vs_torch.py for the comparison with PyTorch).
    Fusion(crate::bench::fusion::FusionBenchArgs),
    /// One-shot check of a GPU backend: encoder parity against the CPU and forward throughput
    /// of roberta-base / wav2vec2-base sized encoders (see benches/device_check.sh).
    Device(crate::bench::device::DeviceBenchArgs),
    /// Forward throughput of a wav2vec2-base-sized speech encoder (see
    /// benches/wav2vec2_forward_vs_torch.py for the comparison with PyTorch).
    Wav2vec2(crate::bench::audio_encoder::Wav2Vec2BenchArgs),
}

/// Arguments of `emofuse train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Experiment file (TOML). Default: experiments/quickstart.toml (built in when the file is
    /// not there).
    pub experiment: Option<PathBuf>,
    /// Override a key, e.g. `--set training.epochs=2` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Backend to run on (overrides `run.backend`).
    #[arg(long, value_enum)]
    pub backend: Option<BackendKind>,
    /// Repeat the run once per seed and report mean +- std (overrides `run.seeds`), e.g.
    /// `--seeds 1,2,3`.
    #[arg(long, value_delimiter = ',')]
    pub seeds: Vec<u64>,
    /// Validate the experiment, load the data, print counts and class weights, then stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Continue the experiment's run from its last complete checkpoint (after an interruption,
    /// or with a larger `training.epochs` to train longer).
    #[arg(long, conflicts_with = "dry_run")]
    pub resume: bool,
    /// k-fold runs: train this many folds at a time, each in a process of its own with an
    /// equal share of the cores (0: as many as there are cores; 1: one after another in this
    /// process). On the CPU a fold of the speech CNN keeps about one core busy.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub jobs: usize,
    /// Train only this fold of a k-fold run (`fold-3`, `male/fold-3`) and write no summary:
    /// what the processes of `--jobs` run.
    #[arg(long, hide = true, conflicts_with = "dry_run")]
    pub fold: Option<String>,
}

/// `--backend` and `--precision` of the commands that run a finished run or build caches.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DeviceArgs {
    /// Backend to run on (default: `run.backend` of the run or experiment).
    #[arg(long, value_enum)]
    pub backend: Option<BackendKind>,
    /// Float type to compute in, on a GPU backend (default: `run.precision`).
    #[arg(long, value_enum)]
    pub precision: Option<Precision>,
}

impl DeviceArgs {
    /// The choice these options make.
    pub fn choice(&self) -> DeviceChoice {
        DeviceChoice {
            backend: self.backend,
            precision: self.precision,
        }
    }
}

/// `--set` overrides with `--backend` and `--seeds` (options of `train` and `sweep`) added as
/// the keys they stand for.
pub(crate) fn with_option_overrides(
    overrides: &[String],
    backend: Option<BackendKind>,
    seeds: &[u64],
) -> Vec<String> {
    let mut all = overrides.to_vec();
    if let Some(backend) = backend {
        all.push(format!("run.backend=\"{}\"", backend.as_str()));
    }
    if !seeds.is_empty() {
        let list: Vec<String> = seeds.iter().map(u64::to_string).collect();
        all.push(format!("run.seeds=[{}]", list.join(", ")));
    }
    all
}

/// The experiment in `path` with `overrides`; without a path, experiments/quickstart.toml, or
/// the built-in quickstart when that file is not there.
pub(crate) fn load_experiment(path: Option<&Path>, overrides: &[String]) -> Result<Experiment> {
    match path {
        Some(path) => Experiment::load(path, overrides),
        None if Path::new(DEFAULT_EXPERIMENT).exists() => {
            Experiment::load(Path::new(DEFAULT_EXPERIMENT), overrides)
        }
        None => Experiment::built_in_quickstart(overrides),
    }
}

/// Resolves the experiment of `emofuse train`.
pub fn resolve_experiment(args: &TrainArgs) -> Result<Experiment> {
    let overrides = with_option_overrides(&args.overrides, args.backend, &args.seeds);
    let experiment = load_experiment(args.experiment.as_deref(), &overrides)?;
    if let Some(path) = &args.experiment {
        warn_if_cut_off(path);
    }
    Ok(experiment)
}

/// Warns when an experiment file does not end with a line break: a copy cut off by an
/// interrupted transfer or a full disk still parses when the cut falls between keys, and the
/// missing keys would silently take their defaults. (Not an error: some editors save files
/// without a final line break.)
pub(crate) fn warn_if_cut_off(path: &Path) {
    use crate::core::events::Observer;
    if let Ok(bytes) = std::fs::read(path)
        && bytes.last().is_some_and(|&b| b != b'\n')
    {
        Terminal::default().warn(format!(
            "{} does not end with a line break: if the file was cut off, the keys after the cut \
             take their defaults; check its last line ({:?})",
            path.display(),
            String::from_utf8_lossy(&bytes)
                .lines()
                .last()
                .unwrap_or_default()
        ));
    }
}

/// Runs the command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(args) => {
            let experiment = resolve_experiment(&args)?;
            let options = pipeline::TrainOptions {
                dry_run: args.dry_run,
                resume: args.resume,
                observer: Arc::new(Terminal::default()),
                fold_launcher: fold_jobs::launcher(&args, &experiment)?,
                only_fold: args.fold.clone(),
            };
            pipeline::train(&experiment, options)?;
            Ok(())
        }
        Command::Cache(args) => cache::run(&args),
        Command::Sweep(args) => sweep::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Predict(args) => predict::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Features(args) => features::run(&args),
        Command::Fuzz(args) => fuzz::run(&args),
        Command::Forward(command) => forward::run(&command),
        Command::Bench(BenchCommand::Text(args)) => {
            crate::bench::text::run(&args);
            Ok(())
        }
        Command::Bench(BenchCommand::Features(args)) => crate::bench::features::run(&args),
        Command::Bench(BenchCommand::Fusion(args)) => crate::bench::fusion::run(&args),
        Command::Bench(BenchCommand::Device(args)) => crate::bench::device::run(&args),
        Command::Bench(BenchCommand::Wav2vec2(args)) => {
            crate::bench::audio_encoder::run(&args);
            Ok(())
        }
        Command::Bench(BenchCommand::Backends(args)) => {
            crate::bench::backends::run(&args);
            Ok(())
        }
    }
}

/// The values of a float tensor read back from the device, as f32 (half precision widened).
pub(crate) fn f32_values(data: TensorData) -> Vec<f32> {
    data.convert::<f32>()
        .try_into_vec::<f32>()
        .expect("converted to f32")
}
