//! `emofuse eval`: evaluates a trained run on a split, optionally with one modality zeroed; a
//! k-fold run fold by fold; or any trained run on another corpus (cross-corpus, `--dataset`).

use crate::cli::TrainArgs;
use crate::core::{Modality, SplitName};
use crate::data::speech::LabelTable;
use crate::evaluation::classification_report;
use crate::experiment::{CrossCorpusConfig, DatasetKind, Experiment, TargetNorm};
use crate::pipeline::corpus::load_corpus;
use crate::pipeline::cross_corpus::{ScoredFold, TargetCorpus, score_pooled, score_run};
use crate::pipeline::crossval::stats_row;
use crate::pipeline::cv_record::{CvStats, Headline};
use crate::pipeline::run::{SplitEvaluation, evaluate_split, split_line};
use crate::pipeline::trained::load_run;
use crate::reports::run_dir::RunDir;
use crate::terminal::Terminal;
use anyhow::{Context, Result, bail};
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

/// A corpus to score a trained run on (cross-corpus evaluation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DatasetArg {
    /// RAVDESS speech (a folder of `Actor_XX` folders).
    Ravdess,
    /// EmoDB (a folder of `03a01Fa.wav`-style files).
    Emodb,
    /// SAVEE (`DC_a01.wav`-style files, or speaker folders of `a01.wav`).
    Savee,
    /// One CSV (`path,label[,speaker,...]`).
    Table,
}

impl From<DatasetArg> for DatasetKind {
    fn from(d: DatasetArg) -> Self {
        match d {
            DatasetArg::Ravdess => DatasetKind::Ravdess,
            DatasetArg::Emodb => DatasetKind::Emodb,
            DatasetArg::Savee => DatasetKind::Savee,
            DatasetArg::Table => DatasetKind::Table,
        }
    }
}

/// How the other corpus's features are standardised (`--feature-norm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetNormArg {
    /// The training split's statistics.
    Train,
    /// The other corpus's own statistics.
    Corpus,
    /// Each of its speakers' own statistics.
    Speaker,
}

impl From<TargetNormArg> for TargetNorm {
    fn from(n: TargetNormArg) -> Self {
        match n {
            TargetNormArg::Train => TargetNorm::Train,
            TargetNormArg::Corpus => TargetNorm::Corpus,
            TargetNormArg::Speaker => TargetNorm::Speaker,
        }
    }
}

/// Arguments of `emofuse eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Experiment file of the run (its run folder is `runs/<name>/`), or a run folder.
    pub experiment: PathBuf,
    /// Score the trained run on every clip of this other corpus (cross-corpus), without
    /// retraining; a k-fold run scores each fold's model. Needs `--path`.
    #[arg(long, value_enum, requires = "path")]
    pub dataset: Option<DatasetArg>,
    /// Folder (or CSV) of `--dataset`.
    #[arg(long, requires = "dataset")]
    pub path: Option<PathBuf>,
    /// How `--dataset`'s features are standardised.
    #[arg(long, value_enum, default_value = "train", requires = "dataset")]
    pub feature_norm: TargetNormArg,
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
    /// Where and in what precision the model runs.
    #[command(flatten)]
    pub device: crate::cli::DeviceArgs,
}

/// Runs `emofuse eval`.
pub fn run(args: &EvalArgs) -> Result<()> {
    let mut experiment = if args.experiment.is_dir() {
        let config = RunDir::new(&args.experiment).config();
        let text = std::fs::read_to_string(&config).with_context(|| {
            format!(
                "{} is not a run folder (no config.toml); pass a run folder such as runs/<name> or an experiment file",
                args.experiment.display()
            )
        })?;
        Experiment::from_toml_str(&text, &args.overrides, &config.display().to_string())?
    } else {
        crate::cli::resolve_experiment(&TrainArgs {
            experiment: Some(args.experiment.clone()),
            overrides: args.overrides.clone(),
            backend: None,
            seeds: Vec::new(),
            dry_run: false,
            resume: false,
            jobs: 1,
            fold: None,
        })?
    };
    args.device.choice().apply(&mut experiment.run);
    let target = match (args.dataset, &args.path) {
        (Some(dataset), Some(path)) => Some(TargetCorpus::load(
            &CrossCorpusConfig {
                dataset: dataset.into(),
                path: path.clone(),
                groups: Default::default(),
                feature_norm: args.feature_norm.into(),
            },
            &trained_classes(&experiment)?,
            &Terminal::default(),
        )?),
        _ => None,
    };
    if experiment.data.dataset.is_pooled() || target.is_some() {
        if args.ablate.is_some() || args.checkpoint.is_some() {
            bail!(
                "--ablate and --checkpoint apply to one run on its own splits; not with --dataset or a k-fold run"
            );
        }
        return score_folds(&experiment, target.as_ref());
    }
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
    let SplitEvaluation {
        metrics,
        ablation: ablated,
        ..
    } = evaluate_split(
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

/// Scores the k-fold run of `experiment` (or its one run) on `target`, or each fold on its own
/// test clips, and prints one line per fold and the mean +- std.
fn score_folds(experiment: &Experiment, target: Option<&TargetCorpus>) -> Result<()> {
    let terminal = Terminal::default();
    let what = match target {
        Some(t) => format!(
            "cross-corpus: trained on {:?}, scored on {:?} ({}, {} clips)",
            experiment.data.dataset,
            t.dataset,
            t.path.display(),
            t.clips.len()
        ),
        None => "each fold on its own held-out test speakers".to_string(),
    };
    println!("{what}");
    // A k-fold run's top folder has no model of its own; each fold's folder has one.
    let one_run = RunDir::new(experiment.run_dir()).model().is_file();
    let folds = if experiment.data.dataset.is_pooled() && !one_run {
        score_pooled(experiment, target, &terminal)?
    } else {
        let target = target.context(
            "one fold's run is scored on another corpus with --dataset; pass the k-fold run's top folder to score every fold on its own test speakers",
        )?;
        let (metrics, _) = score_run(experiment, target)?;
        vec![ScoredFold {
            group: "all".into(),
            fold: 1,
            run: experiment.run_dir(),
            metrics,
        }]
    };
    let mut headlines = Vec::new();
    for f in &folds {
        println!(
            "{} fold {} ({}): {}",
            f.group,
            f.fold,
            f.run.display(),
            split_line(SplitName::Test, "", &f.metrics)
        );
        headlines.push(Headline {
            accuracy: f.metrics.accuracy,
            uar: f.metrics.uar,
            macro_f1: f.metrics.macro_f1,
            weighted_f1: f.metrics.weighted_f1,
        });
    }
    if folds.len() > 1 {
        println!(
            "\nmean +- std over {} folds:\n| over | accuracy | UAR | weighted F1 | macro F1 |\n|---|---|---|---|---|\n{}",
            folds.len(),
            stats_row("folds", &CvStats::of_headlines(&headlines)).trim_end()
        );
    }
    Ok(())
}

/// The classes a run was trained on, as a label table for carrying another corpus onto them:
/// a pooled run's table, or each class of a fixed-split run holding the emotion of its name.
fn trained_classes(experiment: &Experiment) -> Result<LabelTable> {
    if experiment.data.dataset.is_pooled() {
        return experiment.label_table();
    }
    let names = experiment.label_map()?.names().to_vec();
    let groups = names.iter().map(|n| (n.clone(), vec![n.clone()])).collect();
    LabelTable::custom("labels", names, groups)
}
