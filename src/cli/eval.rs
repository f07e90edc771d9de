//! `emofuse eval`: evaluates a trained run on a split, optionally with one modality zeroed.

use crate::cli::TrainArgs;
use crate::core::{Modality, SplitName};
use crate::evaluation::classification_report;
use crate::pipeline::corpus::load_corpus;
use crate::pipeline::run::{evaluate_split, split_line};
use crate::pipeline::trained::load_run;
use anyhow::{Result, bail};
use std::path::PathBuf;

/// A split on the command line (`dev` is MELD's name for the validation split).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitArg {
    /// The training split.
    Train,
    /// The validation split.
    #[value(alias = "valid")]
    Dev,
    /// The test split.
    Test,
}

impl From<SplitArg> for SplitName {
    fn from(s: SplitArg) -> Self {
        match s {
            SplitArg::Train => SplitName::Train,
            SplitArg::Dev => SplitName::Valid,
            SplitArg::Test => SplitName::Test,
        }
    }
}

/// A modality on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModalityArg {
    /// The transcript.
    Text,
    /// The audio.
    Audio,
}

impl From<ModalityArg> for Modality {
    fn from(m: ModalityArg) -> Self {
        match m {
            ModalityArg::Text => Modality::Text,
            ModalityArg::Audio => Modality::Audio,
        }
    }
}

/// Arguments of `emofuse eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Experiment file of the run (its run folder is `runs/<name>/`).
    pub experiment: PathBuf,
    /// Split to evaluate.
    #[arg(long, value_enum, default_value = "test")]
    pub split: SplitArg,
    /// Weights to evaluate (default: the run's selected `model.bpk`).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Also evaluate with this modality's vector zeroed (inference-time ablation).
    #[arg(long, value_enum)]
    pub ablate: Option<ModalityArg>,
    /// Override a key, as for `train` (e.g. `--set output.runs_dir="other"`).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// Runs `emofuse eval`.
pub fn run(args: &EvalArgs) -> Result<()> {
    let experiment = crate::cli::resolve_experiment(&TrainArgs {
        experiment: Some(args.experiment.clone()),
        overrides: args.overrides.clone(),
        backend: None,
        dry_run: false,
        resume: false,
    })?;
    let ablate: Vec<Modality> = args.ablate.map(Modality::from).into_iter().collect();
    if let Some(&m) = ablate.first()
        && !(experiment.model.uses(m) && experiment.model.modalities.len() == 2)
    {
        bail!(
            "--ablate {}: the model must fuse text and audio (it reads {:?})",
            m.name(),
            experiment.model.modalities
        );
    }
    let trained = load_run(experiment, args.checkpoint.as_deref())?;
    let corpus = load_corpus(&trained.experiment)?;
    let split = SplitName::from(args.split);
    let inputs = trained.setup.split_inputs(
        &trained.experiment,
        split,
        corpus.split(split),
        None,
        &trained.device,
    )?;
    println!(
        "evaluating {} on the {split} split",
        trained.checkpoint.display()
    );
    let (metrics, ablated) = evaluate_split(
        &trained.model,
        &trained.setup.batcher,
        &inputs,
        &trained.labels,
        &trained.experiment,
        &trained.device,
        &ablate,
    );
    println!("{}", classification_report(&metrics, &trained.labels, 4));
    println!("{}", split_line(split, "", &metrics));
    for (zeroed, m) in &ablated {
        println!(
            "{}",
            split_line(split, &format!(" ({} zeroed)", zeroed.name()), m)
        );
        println!(
            "change: accuracy {:+.2}, weighted F1 {:+.2}, macro F1 {:+.2} points",
            100.0 * (m.accuracy - metrics.accuracy),
            100.0 * (m.weighted_f1 - metrics.weighted_f1),
            100.0 * (m.macro_f1 - metrics.macro_f1)
        );
    }
    Ok(())
}
