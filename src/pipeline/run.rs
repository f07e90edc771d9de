//! One training run, end to end: data, model, the training loop, checkpoint selection,
//! evaluation with ablation, `metrics.json` and the report.

use crate::core::backend;
use crate::core::events::{Observer, Silent};
use crate::core::{Modality, SplitName};
use crate::data::Corpus;
use crate::evaluation::{SplitMetrics, evaluate};
use crate::experiment::{CheckpointChoice, Experiment};
use crate::inference::inputs::{InputBatcher, SplitInputs};
use crate::inference::predict::{Predictions, predict};
use crate::io::atomic;
use crate::models::LateFusion;
use crate::models::nn::is_cpu;
use crate::pipeline::fold_jobs::FoldLauncher;
use crate::pipeline::model::parameter_counts;
use crate::pipeline::outputs::write_outputs;
use crate::pipeline::resume::check_resumable;
use crate::pipeline::setup::{ScratchSource, Setup};
use crate::reports::ablation::{AblationRow, FULL_VARIANT};
use crate::reports::markdown::ReportInput;
use crate::reports::predictions::{PredictionRow, write_predictions};
use crate::reports::run_dir::RunDir;
use crate::training::history::EpochRecord;
use crate::training::trainer::{EventLog, Fit, fit, load_model, save_model};
use crate::training::weights::class_weights;
use anyhow::{Context, Result};
use burn::module::Module;
use burn::tensor::Device;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// What a finished run produced.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// `runs/<name>`.
    pub run_dir: PathBuf,
    /// `reports/<name>`.
    pub report_dir: PathBuf,
    /// Metrics of each evaluated split.
    pub results: Vec<(SplitName, SplitMetrics)>,
    /// Inference-time ablation: (split, zeroed modality, metrics).
    pub ablation: Vec<(SplitName, Modality, SplitMetrics)>,
    /// Per-epoch history.
    pub history: Vec<EpochRecord>,
    /// Epoch whose checkpoint was evaluated.
    pub checkpoint_epoch: usize,
    /// Training wall time, in seconds.
    pub train_seconds: f64,
    /// Parameter counts (trainable, total) of the trained model, frozen trunks included.
    pub parameters: (usize, usize),
    /// Why training stopped early, if it did.
    pub stopped: Option<String>,
}

/// A config value as it is written in experiment files (`"inverse_frequency"`, `["text"]`).
pub(crate) fn toml_name<T: serde::Serialize>(value: &T) -> String {
    toml::Value::try_from(value)
        .map(|v| v.to_string().replace('"', ""))
        .unwrap_or_else(|_| "?".into())
}

/// Reports per-split, per-class counts and the class weights, as a table.
fn report_data_summary(
    experiment: &Experiment,
    corpus: &Corpus,
    counts: &[(SplitName, Vec<usize>)],
    weights: &[f32],
    observer: &dyn Observer,
) {
    let names = corpus.labels.names();
    let width = names.iter().map(|n| n.len()).max().unwrap_or(5).max(8);
    // A text-only model reads no audio: its clip length would be a number about nothing.
    let audio = if experiment.model.uses(crate::core::Modality::Audio) {
        format!(
            "{} Hz, clips up to {} s",
            corpus.sample_rate, experiment.data.clip_seconds
        )
    } else {
        "text only (no audio read)".to_string()
    };
    observer.info(format!(
        "data: {}, {audio}",
        toml_name(&experiment.data.dataset)
    ));
    let row = |head: &str, cells: Vec<String>| {
        let mut line = format!("{head:<6}");
        for c in cells {
            line.push_str(&format!(" {c:>width$}"));
        }
        line
    };
    let mut header: Vec<String> = names.to_vec();
    header.push("total".into());
    observer.info(row("split", header));
    for (split, counts) in counts {
        let mut cells: Vec<String> = counts.iter().map(|c| c.to_string()).collect();
        cells.push(counts.iter().sum::<usize>().to_string());
        observer.info(row(split.as_str(), cells));
    }
    let cells = weights.iter().map(|w| format!("{w:.3}")).collect();
    observer.info(format!(
        "{}   (class weights: {}, from the train split)",
        row("weight", cells),
        toml_name(&experiment.training.class_weights)
    ));
}

/// How `train` starts, and who hears about its progress.
#[derive(Clone)]
pub struct TrainOptions {
    /// Stop after reporting the data summary.
    pub dry_run: bool,
    /// Continue the run in the run folder from its last complete checkpoint.
    pub resume: bool,
    /// Receives what the run reports (data counts, epochs, progress, warnings).
    pub observer: Arc<dyn Observer>,
    /// Trains the folds of a k-fold run in processes of their own, several at a time
    /// (`None`: one after another in this process). The results are the same either way where
    /// the model's numbers do not depend on the thread count.
    pub fold_launcher: Option<Arc<dyn FoldLauncher>>,
    /// Trains only this fold of a k-fold run (`fold-3`, `male/fold-3`) and stops, without the
    /// summary: what a process started by a [`FoldLauncher`] does.
    pub only_fold: Option<String>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            resume: false,
            observer: Arc::new(Silent),
            fold_launcher: None,
            only_fold: None,
        }
    }
}

/// Counts (trainable, total) parameters of the model and its frozen trunks.
pub fn model_parameters(model: &LateFusion, batcher: &InputBatcher) -> (usize, usize) {
    let (trainable, mut total) = parameter_counts(model);
    if let Some(t) = &batcher.trunks.text {
        total += parameter_counts(t).1;
    }
    if let Some(a) = &batcher.trunks.audio {
        total += parameter_counts(a).1;
    }
    (trainable, total)
}

/// What [`evaluate_split`] measured on one split.
pub struct SplitEvaluation {
    /// Metrics of the full model.
    pub metrics: SplitMetrics,
    /// Metrics with each ablated modality's vector zeroed.
    pub ablation: Vec<(Modality, SplitMetrics)>,
    /// The full model's prediction for each utterance, in input order.
    pub predictions: Predictions,
}

/// Evaluates `model` (eval mode) on a split: metrics and predictions, and with `ablate`, the
/// metrics with each modality's vector zeroed.
pub fn evaluate_split(
    model: &LateFusion,
    batcher: &InputBatcher,
    inputs: &SplitInputs,
    corpus_labels: &crate::core::LabelMap,
    experiment: &Experiment,
    device: &Device,
    ablate: &[Modality],
) -> SplitEvaluation {
    let batch = 2 * experiment.training.batch_size;
    let predictions = predict(model, batcher, inputs, batch, device, None);
    let metrics = evaluate(&inputs.labels, &predictions.classes, corpus_labels);
    let ablation = ablate
        .iter()
        .map(|&m| {
            let p = predict(model, batcher, inputs, batch, device, Some(m));
            (m, evaluate(&inputs.labels, &p.classes, corpus_labels))
        })
        .collect();
    SplitEvaluation {
        metrics,
        ablation,
        predictions,
    }
}

/// One split's rows of `predictions.csv`. Validation and test inputs hold one example per
/// utterance, in order; training inputs may hold augmented copies too, so the training split
/// gets rows only when it holds exactly its utterances.
fn prediction_rows(
    split: SplitName,
    utterances: &[crate::data::Utterance],
    inputs: &SplitInputs,
    predictions: &Predictions,
) -> Result<Vec<PredictionRow>> {
    let aligned = inputs.labels.len() == utterances.len()
        && inputs
            .labels
            .iter()
            .zip(utterances)
            .all(|(&l, u)| l == u.label);
    if !aligned {
        if split == SplitName::Train {
            return Ok(Vec::new());
        }
        anyhow::bail!(
            "the {split} split's {} inputs do not line up with its {} utterances; this is a bug",
            inputs.labels.len(),
            utterances.len()
        );
    }
    Ok(utterances
        .iter()
        .zip(predictions.classes.iter().zip(&predictions.probabilities))
        .map(|(u, (&predicted, p))| PredictionRow {
            split,
            id: u.id.clone(),
            label: u.label,
            predicted,
            probabilities: p.clone(),
        })
        .collect())
}

/// Trains and evaluates `experiment` on a loaded corpus (its train, valid and test splits).
pub fn train_corpus(
    experiment: &Experiment,
    corpus: &Corpus,
    options: TrainOptions,
) -> Result<Option<RunSummary>> {
    let observer = &*options.observer;
    let device = backend::device(experiment.run.backend)?;
    let counts: Vec<(SplitName, Vec<usize>)> =
        [SplitName::Train, SplitName::Valid, SplitName::Test]
            .into_iter()
            .map(|s| (s, corpus.class_counts(s)))
            .collect();
    let weights = class_weights(&counts[0].1, &experiment.training.class_weights)?;
    report_data_summary(experiment, corpus, &counts, &weights, observer);
    if options.dry_run {
        let files: Vec<(String, std::path::PathBuf)> = [
            (SplitName::Train, &corpus.train),
            (SplitName::Valid, &corpus.valid),
            (SplitName::Test, &corpus.test),
        ]
        .into_iter()
        .flat_map(|(split, utterances)| {
            utterances.iter().filter_map(move |u| {
                let path = u.audio_path.clone()?;
                Some((
                    format!(
                        "{} utterance `{}` ({})",
                        split.as_str(),
                        u.id,
                        path.display()
                    ),
                    path,
                ))
            })
        })
        .collect();
        if experiment.model.uses(Modality::Audio) {
            crate::pipeline::probe::probe_audio_files(&files, observer)?;
        }
        observer.info("dry run: experiment and data are valid; nothing trained".to_string());
        return Ok(None);
    }

    let run = RunDir::new(experiment.run_dir());
    let run_dir = run.path().to_path_buf();
    let report_dir = experiment.report_dir();
    if options.resume {
        check_resumable(experiment, &run)?;
    } else if run_dir.exists() {
        observer.info(format!(
            "replacing the previous run in {}",
            run_dir.display()
        ));
        std::fs::remove_dir_all(&run_dir)
            .with_context(|| format!("cannot remove {}", run_dir.display()))?;
    }
    for dir in [&run_dir, &report_dir] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let config_toml = experiment.to_toml();
    atomic::write(&run.config(), config_toml.as_bytes())?;

    // Initialisation draws from the run seed (the loop reseeds every epoch), on the CPU
    // whatever the backend: each backend has its own generator, and a seed should give the
    // same initial model on all of them. A GPU run then moves the model over.
    device.seed(experiment.run.seed);
    let train_device = device.clone().autodiff();
    let init_device = if is_cpu(&device) {
        train_device.clone()
    } else {
        let cpu = Device::flex();
        cpu.seed(experiment.run.seed);
        cpu.autodiff()
    };
    let started = Instant::now();
    let (setup, train_examples) = Setup::new(
        experiment,
        &corpus.labels,
        weights.clone(),
        ScratchSource::Fit(&corpus.train),
        &init_device,
        options.observer.clone(),
    )?;
    let setup = if init_device == train_device {
        setup
    } else {
        setup.to_device(&train_device)
    };
    let train_examples = match train_examples {
        Some(mut examples) => {
            let augment = &experiment.data.augment;
            if augment.enabled() {
                let front = setup.scratch.as_ref().context("scratch front end")?;
                let copies = front.augmented_examples(
                    &corpus.train,
                    &corpus.labels,
                    augment,
                    experiment.data.sample_rate,
                    experiment.run.seed,
                )?;
                observer.info(format!(
                    "augmentation: {} copies added to {} training clips ({})",
                    copies.len(),
                    examples.len(),
                    if augment.classes.is_empty() {
                        "all classes".to_string()
                    } else {
                        format!("classes {}", augment.classes.join(", "))
                    }
                ));
                examples.extend(copies);
            }
            Some(examples)
        }
        None => None,
    };
    setup.save_front_end(&run, &corpus.labels)?;
    for line in &setup.description {
        observer.info(line.to_string());
    }
    for split in SplitName::ALL {
        setup.report_context(split, corpus.split(split))?;
    }
    let train_inputs = setup.split_inputs(
        experiment,
        SplitName::Train,
        &corpus.train,
        train_examples,
        &device,
    )?;
    let valid_inputs =
        setup.split_inputs(experiment, SplitName::Valid, &corpus.valid, None, &device)?;
    observer.info(format!(
        "inputs ready in {:.1} s ({} train, {} valid)",
        started.elapsed().as_secs_f64(),
        train_inputs.len(),
        valid_inputs.len()
    ));
    let parameters = model_parameters(&setup.model, &setup.batcher);
    observer.info(format!(
        "model: {} trainable / {} parameters",
        parameters.0, parameters.1
    ));

    let result = fit(
        setup.model.clone(),
        &Fit {
            config: &experiment.training,
            seed: experiment.run.seed,
            checkpoints: &run.checkpoints(),
            train: &train_inputs,
            valid: &valid_inputs,
            batcher: &setup.batcher,
            labels: &corpus.labels,
            class_weights: &weights,
            device: &train_device,
            resume: options.resume,
            observer,
            events: Some(&EventLog {
                file: run.events(),
                config: config_toml.clone(),
            }),
        },
    )?;
    let state = result.state;
    let history = state.history.clone();
    observer.info(format!(
        "trained {} epochs in {:.1} s",
        state.epoch, result.seconds
    ));

    let (epoch, why) = match (experiment.evaluation.checkpoint, state.best) {
        (CheckpointChoice::Best, Some((epoch, _))) => (
            epoch,
            format!(
                "best validation {}",
                experiment.training.select_metric.as_str()
            ),
        ),
        _ => (state.epoch, "last epoch".to_string()),
    };
    let model = load_model(setup.model.clone(), &run.checkpoints().model(epoch))?.valid();
    save_model(&model, &run.model())?;
    observer.info(format!("evaluating epoch {epoch} ({why})"));

    let ablate: Vec<Modality> =
        if experiment.evaluation.ablation && experiment.model.modalities.len() == 2 {
            experiment.model.modalities.clone()
        } else {
            Vec::new()
        };
    let mut results = Vec::new();
    let mut ablation = Vec::new();
    let mut prediction_table = Vec::new();
    for &split in &experiment.evaluation.splits {
        let test_inputs;
        let inputs = match split {
            SplitName::Train => &train_inputs,
            SplitName::Valid => &valid_inputs,
            SplitName::Test => {
                test_inputs =
                    setup.split_inputs(experiment, SplitName::Test, &corpus.test, None, &device)?;
                &test_inputs
            }
        };
        let SplitEvaluation {
            metrics,
            ablation: ablated,
            predictions,
        } = evaluate_split(
            &model,
            &setup.batcher,
            inputs,
            &corpus.labels,
            experiment,
            &device,
            &ablate,
        );
        prediction_table.extend(prediction_rows(
            split,
            corpus.split(split),
            inputs,
            &predictions,
        )?);
        observer.info(split_line(split, "", &metrics));
        for (zeroed, m) in ablated {
            observer.info(split_line(
                split,
                &format!(" ({} zeroed)", zeroed.name()),
                &m,
            ));
            ablation.push((split, zeroed, m));
        }
        results.push((split, metrics));
    }

    write_predictions(&run.predictions(), &prediction_table, &corpus.labels)?;
    write_outputs(
        experiment,
        &ReportInput {
            name: experiment.name(),
            labels: &corpus.labels,
            counts: &counts,
            class_weights: &weights,
            history: &history,
            checkpoint: (epoch, &why),
            results: &results,
            train_seconds: result.seconds,
            epochs_run: &result.epochs_run,
            parameters,
            backend: experiment.run.backend.as_str(),
            config_toml: &config_toml,
            ablation: &ablation_rows(&results, &ablation),
            layer_weights: &model
                .layer_weights()
                .into_iter()
                .map(|(m, w)| (m.name().to_string(), w))
                .collect::<Vec<_>>(),
        },
    )?;
    if let Some(why) = &state.stopped {
        observer.info(format!("note: {why}"));
    }
    observer.info(format!(
        "run saved to {}, report to {}",
        run_dir.display(),
        report_dir.join("report.md").display()
    ));
    Ok(Some(RunSummary {
        run_dir,
        report_dir,
        results,
        ablation,
        history,
        checkpoint_epoch: epoch,
        train_seconds: result.seconds,
        parameters,
        stopped: state.stopped,
    }))
}

/// The report's ablation table: the full model, then each modality zeroed, per split (empty
/// when nothing was ablated).
pub fn ablation_rows(
    results: &[(SplitName, SplitMetrics)],
    ablation: &[(SplitName, Modality, SplitMetrics)],
) -> Vec<AblationRow> {
    if ablation.is_empty() {
        return Vec::new();
    }
    let row = |split: SplitName, variant: String, m: &SplitMetrics| AblationRow {
        split,
        variant,
        accuracy: m.accuracy,
        weighted_f1: m.weighted_f1,
        macro_f1: m.macro_f1,
    };
    let mut rows = Vec::new();
    for (split, metrics) in results {
        rows.push(row(*split, FULL_VARIANT.to_string(), metrics));
        for (s, zeroed, m) in ablation.iter().filter(|(s, _, _)| s == split) {
            let kept = match zeroed {
                Modality::Text => "audio",
                Modality::Audio => "text",
            };
            rows.push(row(
                *s,
                format!("{kept} only ({} zeroed)", zeroed.name()),
                m,
            ));
        }
    }
    rows
}

/// One split's headline metrics as a line.
pub fn split_line(split: SplitName, suffix: &str, metrics: &SplitMetrics) -> String {
    format!(
        "{split:<5}{suffix}  accuracy {:.2}%  UAR {:.2}%  weighted F1 {:.2}%  macro F1 {:.2}%  ({} utterances)",
        100.0 * metrics.accuracy,
        100.0 * metrics.uar,
        100.0 * metrics.weighted_f1,
        100.0 * metrics.macro_f1,
        metrics.support
    )
}
