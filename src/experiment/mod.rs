//! Experiment files: one TOML file per experiment, with `[data]`, `[model]`, `[training]`,
//! `[evaluation]`, `[output]` and `[run]` sections.
//!
//! Every key has a default, unknown keys are errors, and `--set section.key=value` overrides any
//! key from the command line. The fully resolved experiment is saved with every run
//! (`runs/<name>/config.toml`), so a run can always be repeated exactly.

mod data;
mod evaluation;
mod model;
mod output;
mod overrides;
mod resolve;
mod run;
mod validate;

use crate::training::config::TrainingConfig;
use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub use data::{CrossCorpusConfig, DataConfig, DatasetKind, SplitConfig, SplitKind, TargetNorm};
pub use evaluation::{CheckpointChoice, EvaluationConfig};
pub use model::{AudioEncoderKind, CnnConfig, EncoderConfig, ModelConfig};
pub use output::OutputConfig;
pub use overrides::{apply_override, parse_value as parse_override_value};
pub use resolve::DEFAULT_RAVDESS;
pub use run::{DeviceChoice, RunConfig};

/// The experiment `emofuse train` runs when given no file.
pub const DEFAULT_EXPERIMENT: &str = "experiments/quickstart.toml";

/// The quickstart experiment, compiled into the binary so that `emofuse train` works from any
/// directory (the file in `experiments/` is the same text and is preferred when present).
pub const QUICKSTART_TOML: &str = include_str!("../../experiments/quickstart.toml");

/// A whole experiment, as read from its TOML file and resolved with defaults and overrides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Experiment {
    /// Which data to train and evaluate on.
    pub data: DataConfig,
    /// The model architecture.
    pub model: ModelConfig,
    /// Optimisation settings.
    pub training: TrainingConfig,
    /// What to evaluate after training.
    pub evaluation: EvaluationConfig,
    /// Where outputs go.
    pub output: OutputConfig,
    /// Seed and backend.
    pub run: RunConfig,
}

impl Experiment {
    /// Reads an experiment file, applies `--set` overrides (`section.key=value`) and validates.
    ///
    /// Errors name the file, the key and what is allowed.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow!(
                "cannot read experiment file {}: {e}\n  hint: experiment files live in `experiments/`; run `ls experiments` to see them",
                path.display()
            )
        })?;
        let mut experiment = Self::from_toml_str(&text, overrides, &path.display().to_string())?;
        if experiment.output.name.is_none() {
            experiment.output.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        }
        Ok(experiment)
    }

    /// Parses experiment text; `origin` names the file in error messages.
    pub fn from_toml_str(text: &str, overrides: &[String], origin: &str) -> Result<Self> {
        let mut table: toml::Table = text
            .parse()
            .with_context(|| format!("{origin}: not valid TOML"))?;
        for item in overrides {
            apply_override(&mut table, item).with_context(|| format!("{origin}: --set {item}"))?;
        }
        let deserializer = toml::Value::Table(table);
        let experiment: Experiment =
            serde_path_to_error::deserialize(deserializer).map_err(|err| {
                let key = err.path().to_string();
                // toml appends "in `<key>`" on later lines; the key is already named here.
                let message = err.into_inner().to_string();
                let message = message.lines().next().unwrap_or_default().to_string();
                anyhow!("{origin}: key `{key}`: {message}")
            })?;
        experiment
            .validate()
            .map_err(|e| anyhow!("{origin}: {e}"))?;
        Ok(experiment)
    }

    /// The built-in quickstart ([`QUICKSTART_TOML`]) with `overrides`, named `quickstart` as
    /// its file would be: what `emofuse train` runs where `experiments/quickstart.toml` is not.
    pub fn built_in_quickstart(overrides: &[String]) -> Result<Self> {
        let mut experiment =
            Self::from_toml_str(QUICKSTART_TOML, overrides, "built-in quickstart")?;
        experiment
            .output
            .name
            .get_or_insert_with(|| "quickstart".into());
        Ok(experiment)
    }

    /// The run's name (folder name under `runs/` and `reports/`).
    pub fn name(&self) -> &str {
        self.output.name.as_deref().unwrap_or("experiment")
    }

    /// Seed of the dataset: `data.seed`, or `run.seed` when absent.
    pub fn data_seed(&self) -> u64 {
        self.data.seed.unwrap_or(self.run.seed)
    }

    /// `<runs_dir>/<name>`.
    pub fn run_dir(&self) -> PathBuf {
        self.output.runs_dir.join(self.name())
    }

    /// `<reports_dir>/<name>`.
    pub fn report_dir(&self) -> PathBuf {
        self.output.reports_dir.join(self.name())
    }

    /// The resolved experiment as TOML (what `config.toml` in a run holds).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("an experiment always serialises")
    }
}
