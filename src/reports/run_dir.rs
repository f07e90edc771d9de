//! The run folder (`runs/<name>/`): the one owner of its layout and file names.

use crate::training::trainer::Checkpoints;
use std::path::{Path, PathBuf};

/// A run folder and every file it holds. Nothing else names these files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run folder at `root` (not created here).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder itself.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `config.toml`: the fully resolved experiment.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// `metrics.json`: the run record ([`crate::reports::RunRecord`]); a k-fold run's
    /// top folder holds the folds' summary under the same name.
    pub fn metrics_json(&self) -> PathBuf {
        self.root.join("metrics.json")
    }

    /// `metrics.csv`: one row per epoch.
    pub fn metrics_csv(&self) -> PathBuf {
        self.root.join("metrics.csv")
    }

    /// `model.bpk`: the evaluated checkpoint (trainable weights only).
    pub fn model(&self) -> PathBuf {
        self.root.join("model.bpk")
    }

    /// `checkpoint/`: per-epoch model, optimiser and loop state.
    pub fn checkpoints(&self) -> Checkpoints {
        Checkpoints::new(self.root.join("checkpoint"))
    }

    /// `tensorboard/`: TensorBoard's folder for this run (`tensorboard --logdir runs/`).
    pub fn tensorboard(&self) -> PathBuf {
        self.root.join("tensorboard")
    }

    /// `tensorboard/events.out.tfevents.emofuse`: the run's event file (TensorBoard reads files
    /// whose name holds `tfevents`).
    pub fn events(&self) -> PathBuf {
        self.tensorboard().join("events.out.tfevents.emofuse")
    }

    /// `vocab.json`: the built-in text encoder's word vocabulary.
    pub fn vocab(&self) -> PathBuf {
        self.root.join("vocab.json")
    }

    /// `front_end.json`: the built-in audio encoder's feature normalisation.
    pub fn front_end(&self) -> PathBuf {
        self.root.join("front_end.json")
    }

    /// `predictions.csv`: each evaluated utterance's true and predicted class and probabilities.
    pub fn predictions(&self) -> PathBuf {
        self.root.join("predictions.csv")
    }

    /// `predict/<name>/`: what `emofuse predict --input` writes for the input called `name`.
    pub fn batch_predictions(&self, name: &str) -> PathBuf {
        self.root.join("predict").join(name)
    }

    /// `split.json`: the speakers and clips of each split (pooled datasets).
    pub fn split(&self) -> PathBuf {
        self.root.join("split.json")
    }

    /// `sweep.json`: the record of a sweep folder (`emofuse sweep`): its combinations, their
    /// run folders and metrics, best first.
    pub fn sweep_json(&self) -> PathBuf {
        self.root.join("sweep.json")
    }

    /// `folds.toml`: the resolved experiment of a k-fold whose folds train in processes of
    /// their own (each is started on this file).
    pub fn fold_experiment(&self) -> PathBuf {
        self.root.join("folds.toml")
    }

    /// `<fold>.log` (`fold-3.log`, `male-fold-3.log`): what the process training that fold of
    /// a k-fold reported.
    pub fn fold_log(&self, fold: &str) -> PathBuf {
        self.root.join(format!("{}.log", fold.replace('/', "-")))
    }

    /// Whether the run finished (its `metrics.json` exists).
    pub fn finished(&self) -> bool {
        self.metrics_json().is_file()
    }
}
