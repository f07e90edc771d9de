//! One training run, end to end: data, model, burn-train learner, checkpoint selection,
//! evaluation, `metrics.json` and the report.

use crate::config::{Experiment, SplitName};
use crate::data::Corpus;
use crate::data::batch::{Example, FrontEnd, FusionBatcher};
use crate::data::corpus::load_corpus;
use crate::evaluation::predict::predict;
use crate::evaluation::{SplitMetrics, evaluate};
use crate::models::LateFusionConfig;
use crate::reports::EpochRecord;
use crate::reports::markdown::ReportInput;
use crate::training::backend;
use crate::training::history::{choose_checkpoint, read_history};
use crate::training::outputs::write_outputs;
use crate::training::renderer::ProgressRenderer;
use crate::training::resume::resume_point;
use crate::training::weights::class_weights;
use anyhow::{Context, Result, bail};
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::InMemDataset;
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::AdamWConfig;
use burn::store::ModuleRecord;
use burn::tensor::Tensor;
use burn::train::metric::{AccuracyMetric, LossMetric};
use burn::train::{Learner, SupervisedTraining};
use serde_json::json;
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
    /// Per-epoch history.
    pub history: Vec<EpochRecord>,
    /// Training wall time, in seconds.
    pub train_seconds: f64,
}

/// A config value as it is written in experiment files (`"inverse_frequency"`, `["text"]`).
fn toml_name<T: serde::Serialize>(value: &T) -> String {
    toml::Value::try_from(value)
        .map(|v| v.to_string().replace('"', ""))
        .unwrap_or_else(|_| "?".into())
}

/// Prints per-split, per-class counts and the class weights.
fn print_data_summary(
    experiment: &Experiment,
    corpus: &Corpus,
    counts: &[(SplitName, Vec<usize>)],
    weights: &[f32],
) {
    let names = corpus.labels.names();
    let width = names.iter().map(|n| n.len()).max().unwrap_or(5).max(8);
    println!(
        "data: {}, {} Hz, clips up to {} s",
        toml_name(&experiment.data.dataset),
        corpus.sample_rate,
        experiment.data.clip_seconds
    );
    print!("{:<6}", "split");
    for name in names {
        print!(" {name:>width$}");
    }
    println!(" {:>width$}", "total");
    for (split, counts) in counts {
        print!("{:<6}", split.as_str());
        for c in counts {
            print!(" {c:>width$}");
        }
        println!(" {:>width$}", counts.iter().sum::<usize>());
    }
    print!("{:<6}", "weight");
    for w in weights {
        print!(" {w:>width$.3}");
    }
    println!(
        "   (class weights: {}, from the train split)",
        toml_name(&experiment.training.class_weights)
    );
}

/// Counts (trainable, total) parameters.
pub fn parameter_counts<M: Module>(model: &M) -> (usize, usize) {
    struct Counter {
        trainable: usize,
        total: usize,
    }
    impl ModuleVisitor for Counter {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let n = param.lazy_shape().num_elements();
            self.total += n;
            if param.val().is_require_grad() {
                self.trainable += n;
            }
        }
    }
    let mut counter = Counter {
        trainable: 0,
        total: 0,
    };
    model.visit(&mut counter);
    (counter.trainable, counter.total)
}

/// How `train` starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrainOptions {
    /// Stop after printing the data summary.
    pub dry_run: bool,
    /// Continue the run in the run folder from its last complete checkpoint.
    pub resume: bool,
}

/// Runs an experiment: trains, evaluates, writes `runs/<name>` and `reports/<name>`. Returns
/// `None` for a dry run.
pub fn train(experiment: &Experiment, options: TrainOptions) -> Result<Option<RunSummary>> {
    let device = backend::device(experiment.run.backend)?;
    println!(
        "experiment `{}`: backend {}, seed {}, modalities {}",
        experiment.name(),
        experiment.run.backend.as_str(),
        experiment.run.seed,
        toml_name(&experiment.model.modalities)
    );
    let started = Instant::now();
    let corpus = load_corpus(experiment)?;
    println!(
        "loaded {} utterances in {:.1} s",
        corpus.train.len() + corpus.valid.len() + corpus.test.len(),
        started.elapsed().as_secs_f64()
    );
    let counts: Vec<(SplitName, Vec<usize>)> =
        [SplitName::Train, SplitName::Valid, SplitName::Test]
            .into_iter()
            .map(|s| (s, corpus.class_counts(s)))
            .collect();
    let weights = class_weights(&counts[0].1, experiment.training.class_weights);
    print_data_summary(experiment, &corpus, &counts, &weights);
    if options.dry_run {
        println!("dry run: experiment and data are valid; nothing trained");
        return Ok(None);
    }

    let run_dir = experiment.run_dir();
    let report_dir = experiment.report_dir();
    let resume_from = if options.resume {
        resume_point(experiment, &run_dir)?
    } else {
        0
    };
    if resume_from > 0 {
        println!(
            "resuming {} after epoch {resume_from} of {}",
            run_dir.display(),
            experiment.training.epochs
        );
    } else if run_dir.exists() {
        println!("replacing the previous run in {}", run_dir.display());
        std::fs::remove_dir_all(&run_dir)
            .with_context(|| format!("cannot remove {}", run_dir.display()))?;
    }
    for dir in [&run_dir, &report_dir] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let config_toml = experiment.to_toml();
    std::fs::write(run_dir.join("config.toml"), &config_toml)?;

    let started = Instant::now();
    // Shared between the data loaders and the evaluation below, without copying features.
    let share = |examples: Vec<Example>| examples.into_iter().map(Arc::new).collect::<Vec<_>>();
    let (front, mut train_set) = FrontEnd::fit_transform(&corpus.train, experiment);
    let augment = &experiment.data.augment;
    if augment.enabled() {
        let copies = front.augmented_examples(
            &corpus.train,
            &corpus.labels,
            augment,
            experiment.data.sample_rate,
            experiment.run.seed,
        )?;
        println!(
            "augmentation: {} copies added to {} training clips ({})",
            copies.len(),
            train_set.len(),
            if augment.classes.is_empty() {
                "all classes".to_string()
            } else {
                format!("classes {}", augment.classes.join(", "))
            }
        );
        train_set.extend(copies);
    }
    let (train_set, valid_set) = (share(train_set), share(front.examples(&corpus.valid)));
    front.tokenizer.save(&run_dir.join("vocab.json"))?;
    std::fs::write(
        run_dir.join("front_end.json"),
        serde_json::to_string_pretty(
            &json!({ "feature_norm": front.norm, "labels": corpus.labels }),
        )?,
    )?;
    println!(
        "features: {} mel bands x {} frames, vocabulary {} tokens ({:.1} s)",
        front.n_mels(),
        front.frames(),
        front.tokenizer.vocab_size(),
        started.elapsed().as_secs_f64()
    );

    // A resumed run reseeds per segment, so it is reproducible but not bit-identical to an
    // uninterrupted one (dropout and shuffling draws differ after the resume point).
    device.seed(experiment.run.seed.wrapping_add(resume_from as u64));
    let model_config = LateFusionConfig::from_experiment(
        experiment,
        front.tokenizer.vocab_size(),
        weights.clone(),
        corpus.labels.len(),
    );
    let train_device = device.clone().autodiff();
    let model = model_config.init(&train_device);
    let parameters = parameter_counts(&model);
    println!(
        "model: {} trainable / {} parameters",
        parameters.0, parameters.1
    );

    let batcher = FusionBatcher::new(front.n_mels(), front.frames());
    let t = &experiment.training;
    let train_loader = DataLoaderBuilder::new(batcher.clone())
        .batch_size(t.batch_size)
        .shuffle(experiment.run.seed)
        .set_device(train_device.clone())
        .build(InMemDataset::new(train_set.clone()));
    let valid_loader = DataLoaderBuilder::new(batcher.clone())
        .batch_size(t.batch_size)
        .set_device(device.clone())
        .build(InMemDataset::new(valid_set.clone()));
    let optimizer = AdamWConfig::new().with_weight_decay(t.weight_decay).init();

    let training = SupervisedTraining::new(&run_dir, train_loader, valid_loader)
        .metric_train_numeric(LossMetric::new())
        .metric_valid_numeric(LossMetric::new())
        .metric_train_numeric(AccuracyMetric::new())
        .metric_valid_numeric(AccuracyMetric::new())
        .with_default_checkpointers()
        .renderer(Box::new(ProgressRenderer::new()))
        .num_epochs(t.epochs);
    let training = if resume_from > 0 {
        training.checkpoint(resume_from)
    } else {
        training
    };
    let started = Instant::now();
    let result = training.launch(Learner::new(model, optimizer, t.learning_rate));
    let train_seconds = started.elapsed().as_secs_f64();
    if let Some(error) = result.error {
        bail!("training stopped: {error}");
    }
    println!("trained {} epochs in {train_seconds:.1} s", t.epochs);

    let history = read_history(&run_dir)?;
    let (epoch, why) = choose_checkpoint(&history, experiment.evaluation.checkpoint)?;
    let checkpoint = run_dir
        .join("checkpoint")
        .join(format!("model-{epoch}.bpk"));
    let record = ModuleRecord::load(&checkpoint)
        .map_err(|e| anyhow::anyhow!("cannot load checkpoint {}: {e:?}", checkpoint.display()))?;
    let model = result.model.load_record(record).valid();
    model
        .clone()
        .save_file(run_dir.join("model.bpk"))
        .map_err(|e| anyhow::anyhow!("cannot save the model: {e:?}"))?;
    println!("evaluating epoch {epoch} ({why})");

    let mut results = Vec::new();
    for &split in &experiment.evaluation.splits {
        // Train and valid examples already exist; test ones are built only when asked for.
        let test_set;
        let set: &[Arc<Example>] = match split {
            SplitName::Train => &train_set,
            SplitName::Valid => &valid_set,
            SplitName::Test => {
                test_set = share(front.examples(&corpus.test));
                &test_set
            }
        };
        let predictions = predict(&model, &batcher, set, 2 * t.batch_size, &device);
        let y_true: Vec<usize> = set.iter().map(|e| e.label).collect();
        let metrics = evaluate(&y_true, &predictions.classes, &corpus.labels);
        println!(
            "{split:<5}  accuracy {:.2}%  weighted F1 {:.2}%  macro F1 {:.2}%  ({} utterances)",
            100.0 * metrics.accuracy,
            100.0 * metrics.weighted_f1,
            100.0 * metrics.macro_f1,
            metrics.support
        );
        results.push((split, metrics));
    }

    write_outputs(
        experiment,
        &ReportInput {
            name: experiment.name(),
            labels: &corpus.labels,
            counts: &counts,
            class_weights: &weights,
            history: &history,
            checkpoint: (epoch, why),
            results: &results,
            train_seconds,
            parameters,
            backend: experiment.run.backend.as_str(),
            config_toml: &config_toml,
            ablation: &[],
        },
    )?;
    println!(
        "run saved to {}, report to {}",
        run_dir.display(),
        report_dir.join("report.md").display()
    );
    Ok(Some(RunSummary {
        run_dir,
        report_dir,
        results,
        history,
        train_seconds,
    }))
}
