//! `emofuse sweep`: an experiment trained once per combination of a grid of settings
//! (`--grid training.learning_rate=[1e-4,3e-4] --grid model.dropout=[0.1,0.3]`), then ranked.
//!
//! Every combination is an ordinary run (or seeds / k-fold run) with its values as `--set`
//! overrides, in `<runs_dir>/<name>-sweep/<combination>/`, its folder name made from the keys
//! and values, so a second invocation finds the same folders: a finished combination whose
//! `config.toml` is the one the sweep would run is skipped, an interrupted one resumes, and a
//! folder holding another configuration is an error. The sweep folder's `sweep.json`
//! ([`SweepRecord`]) and `<reports_dir>/<name>-sweep/sweep.md` rank the combinations by
//! `training.select_metric` on the validation split (the mean over seeds and folds), with the
//! test metrics beside, followed by `emofuse report`'s comparison of the runs.

use crate::core::SplitName;
use crate::core::events::Observer;
use crate::experiment::{Experiment, parse_override_value};
use crate::io::atomic;
use crate::pipeline::cv_record::{CrossValRecord, Headline, mean_std};
use crate::pipeline::resume::differing_sections;
use crate::pipeline::run::TrainOptions;
use crate::pipeline::seeds::SeedsRecord;
use crate::reports::run_dir::RunDir;
use crate::reports::{RunRecord, pct, render_comparison, write_comparison_curves};
use crate::training::config::SelectMetric;
use crate::training::trainer::metric_value;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How `--grid` is written, for error messages.
const GRID_EXAMPLE: &str = "e.g. --grid training.learning_rate=[1e-4,3e-4]";

/// Keys a grid may not vary, and why: the sweep places the runs itself, and ranks every run by
/// one metric.
const FIXED_KEYS: [(&str, &str); 5] = [
    ("output.name", "the sweep names each run after its values"),
    (
        "output.runs_dir",
        "the sweep puts every run under <runs_dir>/<name>-sweep/",
    ),
    (
        "output.reports_dir",
        "the sweep puts every report under <reports_dir>/<name>-sweep/",
    ),
    (
        "training.select_metric",
        "the sweep ranks every run by this one metric; set it with --set",
    ),
    ("run.seeds", "give the seeds with --seeds"),
];

/// Folder names longer than this are shortened to a prefix and a hash of the whole name (file
/// systems allow 255 bytes).
const MAX_NAME: usize = 150;

/// One `--grid KEY=[V1,V2,...]` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridAxis {
    /// The argument as given.
    pub argument: String,
    /// The dotted key, e.g. `training.learning_rate`.
    pub key: String,
    /// The values as written (TOML, or bare words, as `--set` reads them), in order.
    pub values: Vec<String>,
}

impl GridAxis {
    /// Parses `key=[v1,v2,...]` (or `key=v` for one value). A value that is itself an array
    /// goes inside the list: `model.modalities=[["text"],["audio"]]`. Errors name the argument
    /// and say what to write.
    pub fn parse(argument: &str) -> Result<Self> {
        let Some((key, list)) = argument.split_once('=') else {
            bail!("--grid {argument}: expected KEY=[V1,V2,...], {GRID_EXAMPLE}");
        };
        let key = key.trim();
        if key.is_empty() || key.split('.').any(|part| part.trim().is_empty()) {
            bail!(
                "--grid {argument}: `{key}` is not a key; write section.key=[...], {GRID_EXAMPLE}"
            );
        }
        let list = list.trim();
        let values = match list.strip_prefix('[') {
            Some(inner) => {
                let Some(inner) = inner.strip_suffix(']') else {
                    bail!(
                        "--grid {argument}: the list of values has no closing `]`; write \
                         {key}=[V1,V2,...]"
                    );
                };
                split_values(inner)
                    .with_context(|| format!("--grid {argument}: write {key}=[V1,V2,...]"))?
            }
            None if list.is_empty() => bail!(
                "--grid {argument}: no value after `=`; write {key}=[V1,V2,...], {GRID_EXAMPLE}"
            ),
            None => vec![list.to_string()],
        };
        if values.is_empty() {
            bail!(
                "--grid {argument}: the list of values is empty; give at least one, e.g. \
                 --grid {key}=[V1,V2]"
            );
        }
        if let Some(position) = values.iter().position(String::is_empty) {
            bail!(
                "--grid {argument}: value {} is empty (two commas in a row, or one at the end?); \
                 write {key}=[V1,V2,...]",
                position + 1
            );
        }
        let parsed: Vec<toml::Value> = values.iter().map(|v| parse_override_value(v)).collect();
        for (i, value) in parsed.iter().enumerate() {
            if let Some(j) = parsed[..i].iter().position(|p| p == value) {
                bail!(
                    "--grid {argument}: `{}` and `{}` are the same value; list each value once",
                    values[j],
                    values[i]
                );
            }
        }
        Ok(Self {
            argument: argument.to_string(),
            key: key.to_string(),
            values,
        })
    }
}

/// Splits a list's inside at its top-level commas (not those inside brackets, braces or quoted
/// strings); each value trimmed.
fn split_values(inner: &str) -> Result<Vec<String>> {
    let mut values = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in inner.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                '[' | '{' => depth += 1,
                ']' | '}' => {
                    depth = depth
                        .checked_sub(1)
                        .with_context(|| format!("`{c}` closes more than was opened"))?;
                }
                ',' if depth == 0 => {
                    values.push(current.trim().to_string());
                    current.clear();
                    continue;
                }
                _ => {}
            },
        }
        current.push(c);
    }
    if quote.is_some() {
        bail!("a quoted string is not closed");
    }
    if depth > 0 {
        bail!("a `[` or `{{` inside the list is not closed");
    }
    if !(values.is_empty() && current.trim().is_empty()) {
        values.push(current.trim().to_string());
    }
    Ok(values)
}

/// A value as a piece of a folder name: quotes, brackets and spaces dropped, the commas of an
/// array as `+`, other characters that folder names or shells handle badly as `_`.
fn value_slug(raw: &str) -> String {
    let mut slug = String::new();
    for c in raw.chars() {
        match c {
            '"' | '\'' | '[' | ']' | '{' | '}' | ' ' => {}
            ',' => slug.push('+'),
            c if c.is_ascii_alphanumeric() || "-_.+".contains(c) => slug.push(c),
            _ => slug.push('_'),
        }
    }
    if slug.is_empty() {
        slug.push('_');
    }
    slug
}

/// One combination of the grid's values: a run of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Combination {
    /// Position in grid order, from 1.
    pub index: usize,
    /// Each axis's key and value (as written), in `--grid` order.
    pub values: Vec<(String, String)>,
    /// Its folder name under the sweep folder (also its `output.name`).
    pub name: String,
    /// How progress lines name it: `learning_rate=1e-4, dropout=0.1` (each key by its last
    /// part, unless two keys share it).
    pub label: String,
    /// The resolved experiment it runs.
    pub experiment: Experiment,
}

impl Combination {
    /// `key=value` overrides of this combination, as `--set` takes them.
    pub fn overrides(&self) -> Vec<String> {
        self.values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }
}

/// A checked sweep: the base experiment, the grid and every combination, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// The experiment without grid values (file, `--set`, `--seeds`, `--backend`).
    pub base: Experiment,
    /// The `--grid` arguments, in order.
    pub axes: Vec<GridAxis>,
    /// Every combination, the first axis varying slowest.
    pub combinations: Vec<Combination>,
}

impl Sweep {
    /// Parses the `--grid` arguments and validates every combination before anything runs.
    ///
    /// `load` resolves the experiment with a list of `key=value` overrides (the file plus
    /// `--set`), as `emofuse train` does; `sets` are the overrides every combination shares.
    /// An unknown key or a bad value is an error naming the `--grid` argument and the key (and,
    /// from `load`, the keys allowed).
    pub fn plan(
        grid: &[String],
        sets: &[String],
        load: &dyn Fn(&[String]) -> Result<Experiment>,
    ) -> Result<Self> {
        if grid.is_empty() {
            bail!(
                "a sweep needs at least one --grid KEY=[V1,V2,...], e.g. --grid \
                 training.learning_rate=[1e-4,3e-4] --grid model.dropout=[0.1,0.3]"
            );
        }
        let axes = grid
            .iter()
            .map(|argument| GridAxis::parse(argument))
            .collect::<Result<Vec<_>>>()?;
        for (i, axis) in axes.iter().enumerate() {
            if let Some(first) = axes[..i].iter().find(|a| a.key == axis.key) {
                bail!(
                    "--grid {} and --grid {} both vary `{}`; give each key once, with all its \
                     values in one list",
                    first.argument,
                    axis.argument,
                    axis.key
                );
            }
            if let Some((_, why)) = FIXED_KEYS.iter().find(|(key, _)| *key == axis.key) {
                bail!(
                    "--grid {}: `{}` cannot vary in a sweep: {why}",
                    axis.argument,
                    axis.key
                );
            }
            if let Some(set) = sets
                .iter()
                .find(|s| s.split_once('=').is_some_and(|(k, _)| k.trim() == axis.key))
            {
                bail!(
                    "--set {set} and --grid {} both set `{}`; drop one",
                    axis.argument,
                    axis.key
                );
            }
        }
        let base = load(sets)?;
        for axis in &axes {
            for value in &axis.values {
                let mut overrides = sets.to_vec();
                overrides.push(format!("{}={value}", axis.key));
                load(&overrides).with_context(|| {
                    format!("--grid {} (checking `{}={value}`)", axis.argument, axis.key)
                })?;
            }
        }

        // Axes are named by their last key segment unless two share it.
        let short: Vec<&str> = axes
            .iter()
            .map(|axis| {
                let last = axis.key.rsplit('.').next().unwrap_or(&axis.key);
                let shared = axes
                    .iter()
                    .filter(|a| a.key.rsplit('.').next() == Some(last))
                    .count()
                    > 1;
                if shared { axis.key.as_str() } else { last }
            })
            .collect();
        let runs_dir = base.output.runs_dir.join(sweep_name(&base));
        let reports_dir = base.output.reports_dir.join(sweep_name(&base));
        let total: usize = axes.iter().map(|a| a.values.len()).product();
        let mut combinations: Vec<Combination> = Vec::with_capacity(total);
        for index in 0..total {
            // Mixed-radix digits of `index`, the last axis varying fastest.
            let mut rest = index;
            let mut picks = vec![0; axes.len()];
            for (a, axis) in axes.iter().enumerate().rev() {
                picks[a] = rest % axis.values.len();
                rest /= axis.values.len();
            }
            let values: Vec<(String, String)> = axes
                .iter()
                .zip(&picks)
                .map(|(axis, &p)| (axis.key.clone(), axis.values[p].clone()))
                .collect();
            let name = folder_name(
                &values
                    .iter()
                    .zip(&short)
                    .map(|((_, v), k)| format!("{k}={}", value_slug(v)))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            let label = values
                .iter()
                .zip(&short)
                .map(|((_, v), k)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ");
            let mut combination = Combination {
                index: index + 1,
                values,
                name,
                label,
                experiment: Experiment::default(),
            };
            if let Some(other) = combinations.iter().find(|c| c.name == combination.name) {
                bail!(
                    "the combinations {} and {} get the same folder name `{}` (their values \
                     differ only in characters a folder name does not keep); write the values \
                     so that they differ in letters or digits",
                    other.label,
                    combination.label,
                    combination.name
                );
            }
            let overrides = [sets, &combination.overrides()[..]].concat();
            let mut experiment = load(&overrides)
                .with_context(|| format!("--grid combination {}", combination.label))?;
            experiment.output.runs_dir = runs_dir.clone();
            experiment.output.reports_dir = reports_dir.clone();
            experiment.output.name = Some(combination.name.clone());
            combination.experiment = experiment;
            combinations.push(combination);
        }
        Ok(Self {
            base,
            axes,
            combinations,
        })
    }

    /// `<runs_dir>/<name>-sweep`: the combinations' run folders and `sweep.json`.
    pub fn run_dir(&self) -> PathBuf {
        self.base.output.runs_dir.join(sweep_name(&self.base))
    }

    /// `<reports_dir>/<name>-sweep`: the combinations' reports and `sweep.md`.
    pub fn report_dir(&self) -> PathBuf {
        self.base.output.reports_dir.join(sweep_name(&self.base))
    }
}

fn sweep_name(base: &Experiment) -> String {
    format!("{}-sweep", base.name())
}

/// `name`, or when too long for a folder, its start and a hash of the whole (still one folder
/// per combination, the same on every invocation).
fn folder_name(name: &str) -> String {
    if name.len() <= MAX_NAME {
        return name.to_string();
    }
    let mut cut = MAX_NAME - 17;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(
        "{}-{:016x}",
        &name[..cut],
        xxhash_rust::xxh3::xxh3_64(name.as_bytes())
    )
}

/// How a sweep runs, and who hears about it.
#[derive(Clone)]
pub struct SweepOptions {
    /// List the combinations and their folders, check existing folders, train nothing.
    pub dry_run: bool,
    /// Receives what the sweep and its runs report.
    pub observer: Arc<dyn Observer>,
}

/// What a combination's folder holds before the sweep runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// Nothing of this combination yet.
    New,
    /// Started with this configuration, not finished: resume it.
    Interrupted,
    /// Finished with this configuration: keep it.
    Finished,
}

/// Whether `combination`'s folder is new, interrupted or finished; an error when it holds a
/// run of another configuration.
fn found(combination: &Combination) -> Result<Found> {
    let experiment = &combination.experiment;
    let run = RunDir::new(experiment.run_dir());
    let config = run.config();
    if !config.is_file() {
        return Ok(Found::New);
    }
    let text = std::fs::read_to_string(&config)
        .with_context(|| format!("cannot read {}", config.display()))?;
    let saved = Experiment::from_toml_str(&text, &[], &config.display().to_string()).with_context(
        || {
            format!(
                "{} holds a run this version cannot read; remove the folder to train \
                 combination {} again",
                run.path().display(),
                combination.label
            )
        },
    )?;
    if &saved != experiment {
        bail!(
            "{} holds a run of another configuration than combination {} (it differs in [{}]; \
             see its config.toml): remove the folder to train it again, or sweep into a new \
             folder with --set output.name=<new name>",
            run.path().display(),
            combination.label,
            differing_sections(&saved, experiment).join("], [")
        );
    }
    Ok(if run.finished() {
        Found::Finished
    } else {
        Found::Interrupted
    })
}

/// The record of a sweep: `<runs_dir>/<name>-sweep/sweep.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRecord {
    /// The base experiment's name.
    pub experiment: String,
    /// The validation metric that ranks the runs (`training.select_metric`).
    pub select_metric: String,
    /// Whether a higher value of it is better (false for the loss).
    pub higher_is_better: bool,
    /// The grid: each key's values as written, in `--grid` order.
    #[serde(with = "crate::io::ordered_map")]
    pub grid: Vec<(String, Vec<String>)>,
    /// Seeds every combination ran with (empty: one seed, `run.seed`).
    pub seeds: Vec<u64>,
    /// Every combination, best first.
    pub runs: Vec<SweepRun>,
}

/// One combination's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRun {
    /// Its place in the ranking, from 1.
    pub rank: usize,
    /// Its place in grid order, from 1.
    pub index: usize,
    /// Its values, by key, as written.
    #[serde(with = "crate::io::ordered_map")]
    pub values: Vec<(String, String)>,
    /// The same as `--set` overrides.
    pub overrides: Vec<String>,
    /// Its run folder.
    pub run: String,
    /// The runs averaged (one, or one per seed and fold).
    pub runs: Vec<String>,
    /// Mean of the selection metric on the validation split, at each run's evaluated
    /// checkpoint.
    pub valid: f64,
    /// Its sample standard deviation over `runs` (0 for one run).
    pub valid_std: f64,
    /// Mean test metrics over `runs` (absent when the test split was not evaluated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Headline>,
    /// Their sample standard deviations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_std: Option<Headline>,
}

/// The single runs behind a finished combination: itself, or each seed's run, or each fold's
/// (of each seed), read from the records its folder holds.
fn leaf_runs(experiment: &Experiment) -> Result<Vec<PathBuf>> {
    let root = RunDir::new(experiment.run_dir());
    if experiment.run.seeds.is_empty() && !experiment.data.dataset.is_pooled() {
        return Ok(vec![root.path().to_path_buf()]);
    }
    let path = root.metrics_json();
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if !experiment.run.seeds.is_empty() {
        let record: SeedsRecord = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a record of seeds", path.display()))?;
        return Ok(record
            .seeds
            .iter()
            .flat_map(|s| {
                if s.folds.is_empty() {
                    vec![PathBuf::from(&s.run)]
                } else {
                    s.folds.iter().map(|f| PathBuf::from(&f.run)).collect()
                }
            })
            .collect());
    }
    let record: CrossValRecord = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a k-fold record", path.display()))?;
    Ok(record.folds.iter().map(|f| PathBuf::from(&f.run)).collect())
}

/// The selection metric on the validation split at a run's evaluated checkpoint: the value
/// that chose it (the history's entry for that epoch).
pub fn selection_value(record: &RunRecord, metric: SelectMetric) -> Result<f64> {
    let at = record
        .history
        .iter()
        .find(|r| r.epoch == record.checkpoint_epoch)
        .with_context(|| {
            format!(
                "{}: its history has no entry for the evaluated epoch {}, so its validation {} \
                 is unknown; train it again",
                record.run_dir.display(),
                record.checkpoint_epoch,
                metric.as_str()
            )
        })?;
    Ok(metric_value(at, metric))
}

fn headline(m: &crate::evaluation::SplitMetrics) -> Headline {
    Headline {
        accuracy: m.accuracy,
        uar: m.uar,
        macro_f1: m.macro_f1,
        weighted_f1: m.weighted_f1,
    }
}

/// Mean and sample standard deviation of each headline metric.
fn headline_stats(values: &[Headline]) -> (Headline, Headline) {
    let stats = |f: fn(&Headline) -> f64| mean_std(&values.iter().map(f).collect::<Vec<_>>());
    let (accuracy, accuracy_std) = stats(|h| h.accuracy);
    let (uar, uar_std) = stats(|h| h.uar);
    let (macro_f1, macro_f1_std) = stats(|h| h.macro_f1);
    let (weighted_f1, weighted_f1_std) = stats(|h| h.weighted_f1);
    (
        Headline {
            accuracy,
            uar,
            macro_f1,
            weighted_f1,
        },
        Headline {
            accuracy: accuracy_std,
            uar: uar_std,
            macro_f1: macro_f1_std,
            weighted_f1: weighted_f1_std,
        },
    )
}

/// A finished combination's result (rank not yet known), and its run records.
fn combination_result(
    combination: &Combination,
    metric: SelectMetric,
) -> Result<(SweepRun, Vec<RunRecord>)> {
    let leaves = leaf_runs(&combination.experiment)?;
    let records = leaves
        .iter()
        .map(|leaf| RunRecord::load(leaf))
        .collect::<Result<Vec<_>>>()?;
    if records.is_empty() {
        bail!(
            "{}: the combination finished without any run",
            combination.experiment.run_dir().display()
        );
    }
    let valid = records
        .iter()
        .map(|r| selection_value(r, metric))
        .collect::<Result<Vec<_>>>()?;
    let (valid_mean, valid_std) = mean_std(&valid);
    let tests: Option<Vec<Headline>> = records
        .iter()
        .map(|r| r.split(SplitName::Test).map(headline))
        .collect();
    let stats = tests.map(|t| headline_stats(&t));
    let run = SweepRun {
        rank: 0,
        index: combination.index,
        values: combination.values.clone(),
        overrides: combination.overrides(),
        run: combination.experiment.run_dir().display().to_string(),
        runs: leaves.iter().map(|p| p.display().to_string()).collect(),
        valid: valid_mean,
        valid_std,
        test: stats.map(|s| s.0),
        test_std: stats.map(|s| s.1),
    };
    Ok((run, records))
}

/// Trains every combination of `sweep` not finished yet (in grid order), then writes
/// `sweep.json`, `sweep.md` and the comparison curves. Returns `None` for a dry run.
pub fn run_sweep(sweep: &Sweep, options: SweepOptions) -> Result<Option<SweepRecord>> {
    let observer = &*options.observer;
    let total = sweep.combinations.len();
    let metric = sweep.base.training.select_metric;
    observer.info(format!(
        "sweep of `{}`: {total} combination{} of {}, into {}; ranked by validation {}",
        sweep.base.name(),
        if total == 1 { "" } else { "s" },
        sweep
            .axes
            .iter()
            .map(|a| format!("{}=[{}]", a.key, a.values.join(", ")))
            .collect::<Vec<_>>()
            .join(" x "),
        sweep.run_dir().display(),
        metric.as_str()
    ));
    // Every folder is checked before anything trains: a mismatch stops the sweep up front.
    let states = sweep
        .combinations
        .iter()
        .map(found)
        .collect::<Result<Vec<_>>>()?;
    for (combination, state) in sweep.combinations.iter().zip(&states) {
        let experiment = &combination.experiment;
        let run = RunDir::new(experiment.run_dir());
        let head = format!(
            "run {}/{total}: {} ({})",
            combination.index,
            combination.label,
            run.path().display()
        );
        match (state, options.dry_run) {
            (Found::Finished, true) => observer.info(format!("{head}: finished, would be kept")),
            (Found::Interrupted, true) => {
                observer.info(format!("{head}: interrupted, would resume"))
            }
            (Found::New, true) => observer.info(head),
            (Found::Finished, false) => {
                observer.info(format!("{head}: finished earlier, skipped"));
            }
            (state, false) => {
                let multi = !experiment.run.seeds.is_empty() || experiment.data.dataset.is_pooled();
                observer.info(if *state == Found::Interrupted {
                    format!("{head}: interrupted earlier, resuming")
                } else {
                    head
                });
                if multi {
                    // Seeds and k-fold runs write their top config.toml only when done; the
                    // sweep writes it first, so that a rerun can check an unfinished folder.
                    std::fs::create_dir_all(run.path())
                        .with_context(|| format!("cannot create {}", run.path().display()))?;
                    atomic::write(&run.config(), experiment.to_toml().as_bytes())?;
                }
                crate::pipeline::train(
                    experiment,
                    TrainOptions {
                        dry_run: false,
                        // Seeds and folds resume (or start) one by one on their own.
                        resume: multi || *state == Found::Interrupted,
                        observer: options.observer.clone(),
                        ..TrainOptions::default()
                    },
                )
                .with_context(|| {
                    format!(
                        "sweep run {}/{total} ({})",
                        combination.index, combination.label
                    )
                })?;
            }
        }
    }
    if options.dry_run {
        observer.info(format!(
            "dry run: {total} combination{} valid; nothing trained",
            if total == 1 { " is" } else { "s are" }
        ));
        return Ok(None);
    }

    let mut results = sweep
        .combinations
        .iter()
        .map(|c| combination_result(c, metric))
        .collect::<Result<Vec<_>>>()?;
    // Best first; equal values keep grid order; a NaN (a diverged run) goes last.
    let key = |v: f64| {
        if v.is_nan() {
            f64::INFINITY
        } else if metric.higher_is_better() {
            -v
        } else {
            v
        }
    };
    results.sort_by(|a, b| key(a.0.valid).total_cmp(&key(b.0.valid)));
    for (rank, (run, _)) in results.iter_mut().enumerate() {
        run.rank = rank + 1;
    }
    let record = SweepRecord {
        experiment: sweep.base.name().to_string(),
        select_metric: metric.as_str().to_string(),
        higher_is_better: metric.higher_is_better(),
        grid: sweep
            .axes
            .iter()
            .map(|a| (a.key.clone(), a.values.clone()))
            .collect(),
        seeds: sweep.base.run.seeds.clone(),
        runs: results.iter().map(|(run, _)| run.clone()).collect(),
    };
    let root = RunDir::new(sweep.run_dir());
    std::fs::create_dir_all(root.path())
        .with_context(|| format!("cannot create {}", root.path().display()))?;
    atomic::write(
        &root.sweep_json(),
        serde_json::to_string_pretty(&record)?.as_bytes(),
    )?;

    let report_dir = sweep.report_dir();
    std::fs::create_dir_all(&report_dir)
        .with_context(|| format!("cannot create {}", report_dir.display()))?;
    let mut md = ranking_markdown(&record);
    // `emofuse report`'s comparison, in rank order, when every combination is one run.
    let singles: Option<Vec<RunRecord>> = results
        .iter()
        .map(|(_, records)| match records.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        })
        .collect();
    match singles {
        Some(runs) => match render_comparison(&runs) {
            Ok(comparison) => {
                md += "\n";
                for line in comparison.lines() {
                    // One heading level down, under the ranking.
                    if line.starts_with('#') {
                        md.push('#');
                    }
                    md += line;
                    md.push('\n');
                }
                let curves: Vec<(&str, &[_])> = runs
                    .iter()
                    .map(|r| (r.name.as_str(), r.history.as_slice()))
                    .collect();
                write_comparison_curves(&report_dir.join("curves"), &curves)?;
            }
            Err(why) => observer.warn(format!("no comparison table in the sweep report: {why:#}")),
        },
        None => {
            md += "\nEach combination ran several times (seeds or folds): its own summary.md, \
                   under its report folder, has them one by one.\n";
        }
    }
    let md_path = report_dir.join("sweep.md");
    atomic::write(&md_path, md.as_bytes())?;
    observer.info(ranking_markdown(&record));
    observer.info(format!(
        "sweep saved to {}, report to {}",
        root.sweep_json().display(),
        md_path.display()
    ));
    Ok(Some(record))
}

/// `sweep.md`'s ranking: one row per combination, best first.
pub fn ranking_markdown(record: &SweepRecord) -> String {
    let several = record.runs.iter().any(|r| r.runs.len() > 1);
    let loss = !record.higher_is_better;
    let value = |v: f64| {
        if loss { format!("{v:.4}") } else { pct(v) }
    };
    let cell = |mean: f64, std: f64| {
        if several {
            format!("{} +- {}", value(mean), value(std))
        } else {
            value(mean)
        }
    };
    let mut md = format!(
        "# Sweep of {}: {} combinations\n\nRanked by validation {} (`training.select_metric`, \
         {} is better; the split that chose each checkpoint), best first. Test metrics are \
         beside, never used for the ranking.{}\n\n",
        record.experiment,
        record.runs.len(),
        record.select_metric,
        if loss { "lower" } else { "higher" },
        if several {
            " Each cell is the mean +- sample standard deviation over the combination's runs \
             (seeds, folds)."
        } else {
            ""
        }
    );
    md += &format!(
        "| rank | combination | valid {} | test accuracy | test UAR | test weighted F1 | test \
         macro F1 | runs | run folder |\n|---:|---|---:|---:|---:|---:|---:|---:|---|\n",
        record.select_metric
    );
    for run in &record.runs {
        let label = run
            .values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
            .replace('|', "\\|");
        let test = match (&run.test, &run.test_std) {
            (Some(m), Some(s)) => [
                pct_cell(m.accuracy, s.accuracy, several),
                pct_cell(m.uar, s.uar, several),
                pct_cell(m.weighted_f1, s.weighted_f1, several),
                pct_cell(m.macro_f1, s.macro_f1, several),
            ]
            .join(" | "),
            _ => "- | - | - | -".to_string(),
        };
        md += &format!(
            "| {} | {label} | {} | {test} | {} | {} |\n",
            run.rank,
            cell(run.valid, run.valid_std),
            run.runs.len(),
            run.run
        );
    }
    md += &format!(
        "\n({}percentages)\n",
        if loss {
            "validation loss as weighted cross-entropy; test metrics as "
        } else {
            ""
        }
    );
    if !record.seeds.is_empty() {
        md += &format!(
            "\nSeeds: {}.\n",
            record
                .seeds
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    md
}

fn pct_cell(mean: f64, std: f64, several: bool) -> String {
    if several {
        format!("{} +- {}", pct(mean), pct(std))
    } else {
        pct(mean)
    }
}

/// The sweep record in a sweep folder, read back.
pub fn read_sweep_record(sweep_dir: &Path) -> Result<SweepRecord> {
    let path = RunDir::new(sweep_dir).sweep_json();
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a sweep record", path.display()))
}
