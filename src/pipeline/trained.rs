//! A finished run, loaded back for evaluation and prediction: its experiment, front ends,
//! frozen trunks (from the checkpoint folders the experiment names) and trained weights.

use crate::core::LabelMap;
use crate::core::SplitName;
use crate::core::backend;
use crate::core::events::Silent;
use crate::data::Utterance;
use crate::experiment::Experiment;
use crate::inference::predict::{Predictions, predict_some};
use crate::models::LateFusion;
use crate::pipeline::setup::{ScratchSource, Setup};
use crate::reports::run_dir::RunDir;
use crate::training::trainer::load_model;
use anyhow::{Context, Result};
use burn::module::Module;
use burn::tensor::Device;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A trained model ready to run.
pub struct TrainedRun {
    /// The run's experiment.
    pub experiment: Experiment,
    /// Front ends and batcher.
    pub setup: Setup,
    /// The trained model, in eval mode on `device`.
    pub model: LateFusion,
    /// Class names.
    pub labels: LabelMap,
    /// The plain device everything runs on.
    pub device: Device,
    /// The weights file that was loaded.
    pub checkpoint: PathBuf,
}

impl TrainedRun {
    /// Class probabilities of `utterances` (audio in memory or read from `audio_path`), through
    /// the same inputs as evaluating a test split, `batch_size` at a time.
    pub fn predict_utterances(
        &self,
        utterances: &[Utterance],
        batch_size: usize,
    ) -> Result<Predictions> {
        let all: Vec<usize> = (0..utterances.len()).collect();
        self.predict_some(utterances, &all, batch_size)
    }

    /// Class probabilities of the last of `utterances` only (one dialogue: the others are its
    /// context); one row.
    pub fn predict_last(&self, utterances: &[Utterance]) -> Result<Predictions> {
        let last = utterances
            .len()
            .checked_sub(1)
            .context("no utterance to score")?;
        self.predict_some(utterances, &[last], 1)
    }

    /// The utterances at `indices`, their inputs built from all of `utterances` (context).
    fn predict_some(
        &self,
        utterances: &[Utterance],
        indices: &[usize],
        batch_size: usize,
    ) -> Result<Predictions> {
        let inputs = self.setup.split_inputs(
            &self.experiment,
            SplitName::Test,
            utterances,
            None,
            &self.device,
        )?;
        Ok(predict_some(
            &self.model,
            &self.setup.batcher,
            &inputs,
            indices,
            batch_size,
            &self.device,
            None,
        ))
    }
}

/// Reads `<run_dir>/config.toml`.
pub fn run_experiment(run_dir: &Path) -> Result<Experiment> {
    let path = RunDir::new(run_dir).config();
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{} is not a run folder (no config.toml); runs are in runs/<experiment name>/",
            run_dir.display()
        )
    })?;
    Experiment::from_toml_str(&text, &[], &path.display().to_string())
}

/// Loads the run of `experiment` (its folder is `experiment.run_dir()`), with the weights in
/// `checkpoint` (default: the selected `model.bpk`).
pub fn load_run(experiment: Experiment, checkpoint: Option<&Path>) -> Result<TrainedRun> {
    let run = RunDir::new(experiment.run_dir());
    let run_dir = run.path();
    let checkpoint = checkpoint
        .map(Path::to_path_buf)
        .unwrap_or_else(|| run.model());
    if !checkpoint.is_file() {
        anyhow::bail!(
            "no trained model at {}: train it first (`emofuse train <experiment>`), or pass --checkpoint <file> (e.g. {}/checkpoint/model-<epoch>.bpk)",
            checkpoint.display(),
            run_dir.display()
        );
    }
    let mut trained = build_run(experiment)?;
    trained.model = load_model(trained.setup.model.clone(), &checkpoint)?.valid();
    trained.checkpoint = checkpoint;
    Ok(trained)
}

/// The model and front ends of `experiment`'s run (scratch front ends read from its folder),
/// with the head newly initialised and the pretrained encoders as their checkpoints hold them:
/// the weights are the caller's to load.
pub fn build_run(experiment: Experiment) -> Result<TrainedRun> {
    let run = RunDir::new(experiment.run_dir());
    let device = backend::device_with(experiment.run.backend, experiment.run.precision)?;
    let labels = experiment.label_map()?;
    let (setup, _) = Setup::new(
        &experiment,
        &labels,
        Vec::new(),
        ScratchSource::Run(&run),
        &device,
        Arc::new(Silent),
    )?;
    let model = setup.model.clone().valid();
    Ok(TrainedRun {
        experiment,
        setup,
        model,
        labels,
        device,
        checkpoint: PathBuf::new(),
    })
}
