//! `emofuse train`: the runs of an experiment: one run on its fixed splits, or one run per fold
//! (and gender group) of a pooled speech dataset, each repeated per seed with `run.seeds`.

use crate::core::backend;
use crate::core::events::Observer;
use crate::core::{Modality, Precision};
use crate::experiment::Experiment;
use crate::pipeline::corpus::load_corpus;
use crate::pipeline::crossval::train_pooled;
use crate::pipeline::model::probe_scratch_model;
use crate::pipeline::run::{RunSummary, TrainOptions, toml_name, train_corpus};
use crate::pipeline::seeds::train_seeds;
use anyhow::Result;
use std::time::Instant;

/// Runs an experiment: trains, evaluates, writes `runs/<name>` and `reports/<name>`. Returns
/// `None` for a dry run.
pub fn train(experiment: &Experiment, options: TrainOptions) -> Result<Option<RunSummary>> {
    let observer = &*options.observer;
    check_precision(experiment)?;
    if options.dry_run {
        probe_model(experiment, observer)?;
    }
    if !experiment.run.seeds.is_empty() {
        return train_seeds(experiment, options);
    }
    if experiment.data.dataset.is_pooled() {
        return train_pooled(experiment, options);
    }
    observer.info(format!(
        "experiment `{}`: backend {}, seed {}, modalities {}",
        experiment.name(),
        experiment.run.backend.as_str(),
        experiment.run.seed,
        toml_name(&experiment.model.modalities)
    ));
    let started = Instant::now();
    let corpus = load_corpus(experiment)?;
    observer.info(format!(
        "loaded {} utterances in {:.1} s",
        corpus.train.len() + corpus.valid.len() + corpus.test.len(),
        started.elapsed().as_secs_f64()
    ));
    train_corpus(experiment, &corpus, options)
}

/// Training runs in f32; `run.precision` can only make a run train on half-precision trunk
/// caches (built beforehand by `emofuse cache`).
fn check_precision(experiment: &Experiment) -> Result<()> {
    let m = &experiment.model;
    let pretrained = (m.uses(Modality::Text) && m.text.checkpoint.is_some())
        || (m.uses(Modality::Audio) && m.audio.checkpoint.is_some());
    let precision = experiment.run.precision;
    if precision != Precision::F32 && !(m.cache_frozen && pretrained) {
        anyhow::bail!(
            "key `run.precision` = \"{}\": training runs in f32 (burn 0.22 has no automatic mixed precision); \
             half precision applies to inference and to the frozen-trunk caches of pretrained encoders \
             (model.cache_frozen = true and a model.text/audio checkpoint), which `emofuse cache` builds.\n  \
             fix: set run.precision = \"f32\" to train, and pass --precision {} to predict, serve or eval",
            precision.as_str(),
            precision.as_str()
        );
    }
    Ok(())
}

/// `--dry-run`'s model check, before any data loads: a scratch model is built and runs one
/// batch of the experiment's shapes, so sizes that validation cannot judge alone still fail
/// here rather than after the corpus is prepared.
fn probe_model(experiment: &Experiment, observer: &dyn Observer) -> Result<()> {
    let device = backend::device(experiment.run.backend)?;
    let classes = experiment.label_map()?.len();
    let started = Instant::now();
    match probe_scratch_model(experiment, classes, &device)? {
        Some(parameters) => observer.info(format!(
            "dry run: the model builds ({parameters} parameters) and runs a batch of this \
             experiment's shapes ({:.1} s)",
            started.elapsed().as_secs_f64()
        )),
        None => observer.info(
            "dry run: the pretrained encoders are loaded at training time; their model is not probed"
                .to_string(),
        ),
    }
    Ok(())
}
