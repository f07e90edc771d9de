//! What a finished run records about itself (`metrics.json` next to `config.toml` in its run
//! folder), written after training and read back by `emofuse report`, so a report can be
//! regenerated, or runs compared, without re-running anything.
//!
//! The writer ([`metrics_json`]) and the reader ([`RunRecord::load`]) live together so that the
//! file format has one definition.

use crate::core::LabelMap;
use crate::core::SplitName;
use crate::evaluation::{ClassMetrics, SplitMetrics};
use crate::reports::ablation::AblationRow;
use crate::reports::markdown::ReportInput;
use crate::reports::run_dir::RunDir;
use crate::training::history::EpochRecord;
use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The content of `metrics.json` for a run described by `input`, trained with `seed`.
///
/// Keys: `experiment`, `labels` (class names in index order), `splits` (per evaluated split:
/// accuracy, F1s, `per_class`, `confusion_matrix`), `counts` (per split, per class),
/// `ablation`, `trainable_parameters`, `total_parameters`, `train_seconds`, `checkpoint_epoch`,
/// `checkpoint_rule`, `class_weights` (by class name), `history`, `epochs_run` (the epochs the
/// last invocation trained), `seed`, `backend`.
pub fn metrics_json(input: &ReportInput, seed: u64) -> Result<Value> {
    let names = input.labels.names();
    let file = MetricsFile {
        experiment: input.name.to_string(),
        labels: Some(names.to_vec()),
        splits: input
            .results
            .iter()
            .map(|(split, m)| (split.as_str().to_string(), m.clone()))
            .collect(),
        counts: input
            .counts
            .iter()
            .map(|(split, c)| (split.as_str().to_string(), c.clone()))
            .collect(),
        ablation: input.ablation.to_vec(),
        trainable_parameters: input.parameters.0,
        total_parameters: input.parameters.1,
        train_seconds: input.train_seconds,
        checkpoint_epoch: input.checkpoint.0,
        checkpoint_rule: input.checkpoint.1.to_string(),
        class_weights: names
            .iter()
            .cloned()
            .zip(input.class_weights.iter().copied())
            .collect(),
        history: input.history.to_vec(),
        epochs_run: input.epochs_run.to_vec(),
        seed,
        backend: input.backend.to_string(),
        layer_weights: input.layer_weights.to_vec(),
    };
    Ok(serde_json::to_value(file)?)
}

/// `metrics.json`, the one definition of the file: [`metrics_json`] writes it and
/// [`RunRecord::load`] reads it. Keys added after the first release (`labels`, `counts`,
/// `ablation`, ...) are optional, so older runs still load.
#[derive(Serialize, Deserialize)]
struct MetricsFile {
    experiment: String,
    #[serde(default)]
    labels: Option<Vec<String>>,
    // Keyed by split name as text, not `SplitName`, so that a mistake inside a split's entry
    // is reported with the split's name in its key path; in the order the run evaluated them
    // (a vector of pairs written as a JSON object, read back in file order).
    #[serde(with = "crate::io::ordered_map")]
    splits: Vec<(String, SplitMetrics)>,
    #[serde(default, with = "crate::io::ordered_map")]
    counts: Vec<(String, Vec<usize>)>,
    #[serde(default)]
    ablation: Vec<AblationRow>,
    trainable_parameters: usize,
    total_parameters: usize,
    train_seconds: f64,
    checkpoint_epoch: usize,
    checkpoint_rule: String,
    #[serde(default, with = "crate::io::ordered_map")]
    class_weights: Vec<(String, f32)>,
    #[serde(default)]
    history: Vec<EpochRecord>,
    // Added with resume checks; runs written before it have no such key.
    #[serde(default)]
    epochs_run: Vec<usize>,
    seed: u64,
    backend: String,
    // Only runs with layer-weighted pooling have it.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "crate::io::ordered_map"
    )]
    layer_weights: Vec<(String, Vec<f32>)>,
}

/// A finished run, read back from its run folder.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The run folder it was read from.
    pub run_dir: PathBuf,
    /// Run name (`metrics.json`'s `experiment`).
    pub name: String,
    /// `config.toml` as written.
    pub config_toml: String,
    /// Class names, in index order.
    pub labels: LabelMap,
    /// Per-split, per-class counts of the data (empty for runs that predate them).
    pub counts: Vec<(SplitName, Vec<usize>)>,
    /// Loss weight of each class, in index order (empty when not recorded).
    pub class_weights: Vec<f32>,
    /// Per-epoch history.
    pub history: Vec<EpochRecord>,
    /// The epochs the last invocation of `train` ran (empty for runs that predate the key).
    pub epochs_run: Vec<usize>,
    /// Epoch whose checkpoint was evaluated.
    pub checkpoint_epoch: usize,
    /// Why that checkpoint (e.g. "lowest validation loss").
    pub checkpoint_rule: String,
    /// Metrics of each evaluated split, in the order of `evaluation.splits`.
    pub results: Vec<(SplitName, SplitMetrics)>,
    /// Inference-time ablation results (empty when none were run).
    pub ablation: Vec<AblationRow>,
    /// Training wall time, in seconds.
    pub train_seconds: f64,
    /// Parameter counts (trainable, total).
    pub parameters: (usize, usize),
    /// Backend name.
    pub backend: String,
    /// Seed of the run.
    pub seed: u64,
    /// Learned layer weights per branch (layer-weighted pooling only).
    pub layer_weights: Vec<(String, Vec<f32>)>,
}

impl RunRecord {
    /// Reads `metrics.json` and `config.toml` of a run folder. Errors name the folder or the
    /// file and say what to do (an unfinished run has no `metrics.json`).
    pub fn load(run_dir: &Path) -> Result<Self> {
        let shown = run_dir.display();
        if !run_dir.exists() {
            bail!(
                "{shown}: no such run folder; pass a run folder such as runs/quickstart \
                 (`ls runs` lists them)"
            );
        }
        if !run_dir.is_dir() {
            bail!("{shown} is not a folder; pass a run folder such as runs/quickstart");
        }
        let run = RunDir::new(run_dir);
        let metrics_path = run.metrics_json();
        if !metrics_path.is_file() {
            bail!(
                "{shown} has no metrics.json: it did not finish training; finish it with \
                 `emofuse train <experiment> --resume` or pass a finished run"
            );
        }
        let config_path = run.config();
        let config_toml = std::fs::read_to_string(&config_path).with_context(|| {
            format!(
                "{shown} has metrics.json but no readable config.toml ({}); the run folder is \
                 incomplete: train the experiment again with `emofuse train <experiment>`",
                config_path.display()
            )
        })?;
        let text = std::fs::read_to_string(&metrics_path)
            .with_context(|| format!("cannot read {}", metrics_path.display()))?;
        let file = parse_metrics(&text).map_err(|e| anyhow!("{}: {e}", metrics_path.display()))?;
        Self::from_file(run_dir, config_toml, file)
            .map_err(|e| anyhow!("{}: {e}", metrics_path.display()))
    }

    fn from_file(run_dir: &Path, config_toml: String, file: MetricsFile) -> Result<Self> {
        let labels = match &file.labels {
            Some(names) => LabelMap::new(names).context("key `labels`")?,
            // Older files have no `labels`: `per_class` lists every class in index order.
            None => {
                let (_, first) = file
                    .splits
                    .first()
                    .context("no `labels` and no evaluated split to take class names from")?;
                let names: Vec<&String> = first.per_class.keys().collect();
                LabelMap::new(&names).context("class names of `per_class`")?
            }
        };
        let k = labels.len();
        let mut results = Vec::with_capacity(file.splits.len());
        for (key, mut metrics) in file.splits {
            let split = split_name(&key, "splits")?;
            check_matrix(split, &metrics.confusion_matrix, &labels)?;
            // Files from before UAR was recorded: the matrix determines it.
            metrics.uar = crate::evaluation::unweighted_average_recall(&metrics.confusion_matrix);
            metrics.classes = labels
                .names()
                .iter()
                .map(|name| {
                    let value = metrics.per_class.get(name).with_context(|| {
                        format!("split `{split}`: `per_class` has no class `{name}`")
                    })?;
                    ClassMetrics::deserialize(value)
                        .with_context(|| format!("split `{split}`: `per_class.{name}`"))
                })
                .collect::<Result<_>>()?;
            results.push((split, metrics));
        }
        let mut counts = Vec::with_capacity(file.counts.len());
        for (key, c) in file.counts {
            let split = split_name(&key, "counts")?;
            if c.len() != k {
                bail!(
                    "`counts.{split}` has {} classes but `labels` has {k}",
                    c.len()
                );
            }
            counts.push((split, c));
        }
        counts.sort_by_key(|(s, _)| *s);
        let class_weights = if file.class_weights.is_empty() {
            Vec::new()
        } else {
            labels
                .names()
                .iter()
                .map(|name| {
                    file.class_weights
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, w)| *w)
                        .with_context(|| format!("`class_weights` has no class `{name}`"))
                })
                .collect::<Result<_>>()?
        };
        Ok(Self {
            run_dir: run_dir.to_path_buf(),
            name: file.experiment,
            config_toml,
            labels,
            counts,
            class_weights,
            history: file.history,
            epochs_run: file.epochs_run,
            checkpoint_epoch: file.checkpoint_epoch,
            checkpoint_rule: file.checkpoint_rule,
            results,
            ablation: file.ablation,
            train_seconds: file.train_seconds,
            parameters: (file.trainable_parameters, file.total_parameters),
            backend: file.backend,
            seed: file.seed,
            layer_weights: file.layer_weights,
        })
    }

    /// The report of this run, as training wrote it.
    pub fn report_input(&self) -> ReportInput<'_> {
        ReportInput {
            name: &self.name,
            labels: &self.labels,
            counts: &self.counts,
            class_weights: &self.class_weights,
            history: &self.history,
            checkpoint: (self.checkpoint_epoch, &self.checkpoint_rule),
            results: &self.results,
            train_seconds: self.train_seconds,
            epochs_run: &self.epochs_run,
            parameters: self.parameters,
            layer_weights: &self.layer_weights,
            backend: &self.backend,
            config_toml: &self.config_toml,
            ablation: &self.ablation,
        }
    }

    /// Metrics of `split`, when it was evaluated.
    pub fn split(&self, split: SplitName) -> Option<&SplitMetrics> {
        self.results
            .iter()
            .find(|(s, _)| *s == split)
            .map(|(_, m)| m)
    }
}

/// Parses `metrics.json`, naming the key of any mistake.
fn parse_metrics(text: &str) -> Result<MetricsFile> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let key = err.path().to_string();
        let inner = err.into_inner();
        if key == "." {
            anyhow!("not a valid metrics file: {inner}")
        } else {
            anyhow!("key `{key}`: {inner}")
        }
    })
}

/// The split a key of `section` names.
fn split_name(key: &str, section: &str) -> Result<SplitName> {
    SplitName::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(key))
        .map_err(|_| {
            anyhow!("`{section}.{key}`: unknown split `{key}`; expected train, valid or test")
        })
}

/// A confusion matrix must be square with one row per class.
fn check_matrix(split: SplitName, matrix: &[Vec<usize>], labels: &LabelMap) -> Result<()> {
    let k = labels.len();
    if matrix.len() != k || matrix.iter().any(|row| row.len() != k) {
        bail!(
            "split `{split}`: the confusion matrix is not {k} x {k} (one row and one column per \
             class of `labels`)"
        );
    }
    Ok(())
}
