//! `run.seeds`: an experiment repeated once per seed. Each seed's run (one run, or a whole
//! k-fold) lives in `runs/<name>/seed-<s>/` as if trained alone; the top folder's
//! `metrics.json` ([`SeedsRecord`]) and `reports/<name>/summary.md` give mean +- std over
//! seeds and, for k-fold runs, over every fold of every seed. With `run.ensemble`, the seeds'
//! models are also scored together, from each run's `predictions.csv`.

use crate::core::LabelMap;
use crate::core::SplitName;
use crate::evaluation::evaluate;
use crate::experiment::Experiment;
use crate::io::atomic;
use crate::pipeline::corpus::load_corpus;
use crate::pipeline::crossval::{headline_cells, stats_row, train_pooled};
use crate::pipeline::cv_record::{CrossValRecord, CvStats, FoldRecord, Headline};
use crate::pipeline::run::{RunSummary, TrainOptions, train_corpus};
use crate::reports::predictions::{PredictionRow, read_predictions};
use crate::reports::run_dir::RunDir;
use crate::reports::{RunRecord, pct};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// The top `metrics.json` of a run repeated over seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedsRecord {
    /// Run name.
    pub experiment: String,
    /// Each seed's result, in `run.seeds` order.
    pub seeds: Vec<SeedResult>,
    /// Mean and sample standard deviation of the seeds' results (for k-fold runs, of each
    /// seed's mean over folds).
    pub over_seeds: CvStats,
    /// For k-fold runs: over every fold of every seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over_folds_and_seeds: Option<CvStats>,
    /// Runs with fixed splits: mean and sample standard deviation of the seeds' validation
    /// metrics (the split that chose each checkpoint; never the reported one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over_seeds_valid: Option<CvStats>,
    /// The metric that chose each seed's checkpoint on the validation split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_by: Option<String>,
    /// With `run.ensemble`: the seeds' models scored together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<EnsembleRecord>,
    /// Wall time of all seeds, in seconds.
    pub wall_seconds: f64,
}

/// The ensemble of the seeds' models: each test clip's class probabilities averaged over the
/// seeds, then the most probable class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleRecord {
    /// Models averaged (one per seed).
    pub models: usize,
    /// Test metrics (for k-fold runs, the means over folds).
    pub test: Headline,
    /// For k-fold runs: each fold's ensemble.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folds: Vec<EnsembleFold>,
    /// For k-fold runs: mean and sample standard deviation over folds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over_folds: Option<CvStats>,
}

/// One fold's ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleFold {
    /// Gender group (`all` unless `data.per_gender`).
    pub group: String,
    /// Fold number.
    pub fold: usize,
    /// Test metrics.
    pub test: Headline,
}

/// One seed's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Its run folder.
    pub run: String,
    /// Test metrics (for k-fold runs, the means over folds).
    pub test: Headline,
    /// Runs with fixed splits: the validation split's metrics at the checkpoint it chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid: Option<Headline>,
    /// Runs with fixed splits: each class's test F1, in label order.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "crate::io::ordered_map"
    )]
    pub test_f1_by_class: Vec<(String, f64)>,
    /// For k-fold runs: every fold of this seed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folds: Vec<FoldRecord>,
}

/// The experiment of one seed: its own seed, the data of the base seed (so only training
/// randomness varies), its folder under the experiment's.
fn seed_experiment(experiment: &Experiment, seed: u64) -> Experiment {
    let mut sub = experiment.clone();
    sub.data.seed = Some(experiment.data_seed());
    sub.run.seed = seed;
    sub.run.seeds = Vec::new();
    sub.output.runs_dir = experiment.run_dir();
    sub.output.reports_dir = experiment.report_dir();
    sub.output.name = Some(format!("seed-{seed}"));
    sub
}

/// Trains `experiment` once per seed of `run.seeds` and writes the summary over seeds.
/// With `options.resume`, a seed whose run finished is kept, and an unfinished one resumes.
pub fn train_seeds(experiment: &Experiment, options: TrainOptions) -> Result<Option<RunSummary>> {
    let observer = &*options.observer;
    let seeds = &experiment.run.seeds;
    let mut sorted = seeds.clone();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        bail!("run.seeds lists seed {} twice; each seed runs once", w[0]);
    }
    observer.info(format!(
        "experiment `{}`: {} seeds ({})",
        experiment.name(),
        seeds.len(),
        seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let started = Instant::now();
    let pooled = experiment.data.dataset.is_pooled();
    // A fixed-split corpus is the same for every seed: load it once.
    let corpus = if pooled || options.dry_run {
        None
    } else {
        Some(load_corpus(&seed_experiment(experiment, seeds[0]))?)
    };
    let mut results = Vec::new();
    let mut last = None;
    for &seed in seeds {
        let sub = seed_experiment(experiment, seed);
        let run = RunDir::new(sub.run_dir());
        observer.info(format!("=== seed {seed} ({})", run.path().display()));
        if pooled {
            last = train_pooled(&sub, options.clone())?.or(last);
        } else if options.dry_run {
            train_corpus(&sub, &load_corpus(&sub)?, options.clone())?;
        } else if options.resume && run.finished() {
            observer.info(format!(
                "seed {seed}: finished earlier, kept ({})",
                run.path().display()
            ));
        } else {
            let resume = options.resume && run.config().exists();
            let corpus = corpus.as_ref().expect("loaded above");
            last = train_corpus(
                &sub,
                corpus,
                TrainOptions {
                    resume,
                    ..options.clone()
                },
            )?
            .or(last);
        }
        if options.dry_run {
            continue;
        }
        results.push(seed_result(seed, &run, pooled)?);
    }
    if options.dry_run {
        return Ok(None);
    }
    let headlines: Vec<Headline> = results.iter().map(|r| r.test).collect();
    let all_folds: Vec<FoldRecord> = results.iter().flat_map(|r| r.folds.clone()).collect();
    let ensemble = if experiment.run.ensemble {
        let record = ensemble(&results, pooled)?;
        observer.info(format!(
            "ensemble of {} seeds: test accuracy {}%, UAR {}%",
            record.models,
            pct(record.test.accuracy),
            pct(record.test.uar)
        ));
        Some(record)
    } else {
        None
    };
    let valid: Option<Vec<Headline>> = results.iter().map(|r| r.valid).collect();
    let record = SeedsRecord {
        experiment: experiment.name().to_string(),
        over_seeds: CvStats::of_headlines(&headlines),
        over_folds_and_seeds: pooled.then(|| CvStats::of(&all_folds)),
        over_seeds_valid: valid.map(|v| CvStats::of_headlines(&v)),
        selected_by: Some(match experiment.evaluation.checkpoint {
            crate::experiment::CheckpointChoice::Best => format!(
                "best validation {}",
                experiment.training.select_metric.as_str()
            ),
            crate::experiment::CheckpointChoice::Last => "last epoch".to_string(),
        }),
        seeds: results,
        ensemble,
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    let root = RunDir::new(experiment.run_dir());
    atomic::write(
        &root.metrics_json(),
        serde_json::to_string_pretty(&record)?.as_bytes(),
    )?;
    atomic::write(&root.config(), experiment.to_toml().as_bytes())?;
    let report_dir = experiment.report_dir();
    std::fs::create_dir_all(&report_dir)
        .with_context(|| format!("cannot create {}", report_dir.display()))?;
    let summary = seeds_markdown(&record);
    let summary_path = report_dir.join("summary.md");
    atomic::write(&summary_path, summary.as_bytes())?;
    observer.info(summary);
    observer.info(format!(
        "seeds saved to {}, summary to {}",
        root.metrics_json().display(),
        summary_path.display()
    ));
    Ok(last)
}

/// The ensemble of the seeds of `results`: per fold for k-fold runs (folds matched by group
/// and number), else of the single runs.
fn ensemble(results: &[SeedResult], pooled: bool) -> Result<EnsembleRecord> {
    if !pooled {
        let runs: Vec<&str> = results.iter().map(|r| r.run.as_str()).collect();
        return Ok(EnsembleRecord {
            models: runs.len(),
            test: ensemble_test(&runs)?,
            folds: Vec::new(),
            over_folds: None,
        });
    }
    let first = results.first().context("no seed finished")?;
    let mut folds = Vec::new();
    for fold in &first.folds {
        let runs = results
            .iter()
            .map(|r| {
                r.folds
                    .iter()
                    .find(|f| f.group == fold.group && f.fold == fold.fold)
                    .map(|f| f.run.as_str())
                    .with_context(|| {
                        format!(
                            "seed {} has no fold {} of group {}: the seeds' folds differ",
                            r.seed, fold.fold, fold.group
                        )
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        folds.push(EnsembleFold {
            group: fold.group.clone(),
            fold: fold.fold,
            test: ensemble_test(&runs)?,
        });
    }
    let headlines: Vec<Headline> = folds.iter().map(|f| f.test).collect();
    let stats = CvStats::of_headlines(&headlines);
    Ok(EnsembleRecord {
        models: results.len(),
        test: Headline {
            accuracy: stats.accuracy_mean,
            uar: stats.uar_mean,
            macro_f1: stats.macro_f1_mean,
            weighted_f1: stats.weighted_f1_mean,
        },
        folds,
        over_folds: Some(stats),
    })
}

/// Test metrics of the runs in `runs` together, from their `predictions.csv`.
fn ensemble_test(runs: &[&str]) -> Result<Headline> {
    let first = runs.first().context("no run to ensemble")?;
    let labels = RunRecord::load(Path::new(first))?.labels;
    let predictions = runs
        .iter()
        .map(|run| {
            let path = RunDir::new(Path::new(run)).predictions();
            let rows = read_predictions(&path, &labels)?;
            Ok((path.display().to_string(), rows))
        })
        .collect::<Result<Vec<_>>>()?;
    ensemble_metrics(&predictions, &labels)
}

/// Test metrics of several models' predictions together (`(source, rows)` per model): each
/// test clip's class probabilities averaged over the models, then the most probable class
/// (the first of equals). Every model must have scored the same test clips with the same
/// labels; errors name the source.
pub fn ensemble_metrics(
    predictions: &[(String, Vec<PredictionRow>)],
    labels: &LabelMap,
) -> Result<Headline> {
    let (first, _) = predictions.first().context("no predictions to ensemble")?;
    let mut summed: BTreeMap<&str, (usize, Vec<f64>)> = BTreeMap::new();
    for (i, (source, rows)) in predictions.iter().enumerate() {
        let rows: Vec<&PredictionRow> =
            rows.iter().filter(|r| r.split == SplitName::Test).collect();
        if i > 0 && rows.len() != summed.len() {
            bail!(
                "{source}: {} test clips, {} in {first}: the models scored different clips",
                rows.len(),
                summed.len()
            );
        }
        for row in rows {
            match summed.get_mut(row.id.as_str()) {
                Some((label, total)) if *label == row.label => {
                    for (t, p) in total.iter_mut().zip(&row.probabilities) {
                        *t += f64::from(*p);
                    }
                }
                Some(_) => bail!(
                    "{source}: clip `{}` has another label than in {first}",
                    row.id
                ),
                None if i == 0 => {
                    let probabilities = row.probabilities.iter().map(|&p| f64::from(p)).collect();
                    summed.insert(&row.id, (row.label, probabilities));
                }
                None => bail!(
                    "{source}: clip `{}` is not among the test clips of {first}",
                    row.id
                ),
            }
        }
    }
    if summed.is_empty() {
        bail!("{first} has no test clips to ensemble");
    }
    let (truth, predicted): (Vec<usize>, Vec<usize>) = summed
        .values()
        .map(|(label, total)| {
            let best = total
                .iter()
                .enumerate()
                .fold(0, |best, (c, &p)| if p > total[best] { c } else { best });
            (*label, best)
        })
        .unzip();
    let metrics = evaluate(&truth, &predicted, labels);
    Ok(Headline {
        accuracy: metrics.accuracy,
        uar: metrics.uar,
        macro_f1: metrics.macro_f1,
        weighted_f1: metrics.weighted_f1,
    })
}

/// One finished seed's result, read back from its folder.
fn seed_result(seed: u64, run: &RunDir, pooled: bool) -> Result<SeedResult> {
    let shown = run.path().display().to_string();
    if pooled {
        let path = run.metrics_json();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let cv: CrossValRecord = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a k-fold record", path.display()))?;
        return Ok(SeedResult {
            seed,
            run: shown,
            test: Headline {
                accuracy: cv.cv.accuracy_mean,
                uar: cv.cv.uar_mean,
                macro_f1: cv.cv.macro_f1_mean,
                weighted_f1: cv.cv.weighted_f1_mean,
            },
            valid: None,
            test_f1_by_class: Vec::new(),
            folds: cv.folds,
        });
    }
    let record = RunRecord::load(run.path())?;
    let test = record
        .split(SplitName::Test)
        .with_context(|| format!("{shown}: the run has no test metrics"))?;
    let headline = |m: &crate::evaluation::SplitMetrics| Headline {
        accuracy: m.accuracy,
        uar: m.uar,
        macro_f1: m.macro_f1,
        weighted_f1: m.weighted_f1,
    };
    Ok(SeedResult {
        seed,
        run: shown,
        test: headline(test),
        valid: record.split(SplitName::Valid).map(headline),
        test_f1_by_class: test
            .per_class
            .iter()
            .map(|(name, m)| (name.clone(), m["f1"].as_f64().unwrap_or(f64::NAN)))
            .collect(),
        folds: Vec::new(),
    })
}

/// The summary over seeds: one row per seed, then mean +- std.
pub fn seeds_markdown(record: &SeedsRecord) -> String {
    let pooled = record.over_folds_and_seeds.is_some();
    let mut md = format!(
        "# {}: {} seeds\n\n{}\n\n| seed | accuracy | UAR | weighted F1 | macro F1 | run |\n|---:|---:|---:|---:|---:|---|\n",
        record.experiment,
        record.seeds.len(),
        if pooled {
            "Test metrics of each seed: the mean over its folds (held-out speakers only)."
                .to_string()
        } else {
            format!(
                "Test metrics of each seed's run; each checkpoint was chosen on the validation split ({}), whose metrics are listed below the test ones.",
                record
                    .selected_by
                    .as_deref()
                    .unwrap_or("see each run's report")
            )
        }
    );
    for s in &record.seeds {
        md += &format!("| {} | {} | {} |\n", s.seed, headline_cells(&s.test), s.run);
    }
    md += "\nMean +- standard deviation (sample std):\n\n| over | accuracy | UAR | weighted F1 | macro F1 |\n|---|---|---|---|---|\n";
    md += &stats_row(&format!("{} seeds", record.seeds.len()), &record.over_seeds);
    if let Some(all) = &record.over_folds_and_seeds {
        md += &stats_row(&format!("{} folds x seeds", all.folds), all);
    }
    if let Some(valid) = &record.over_seeds_valid {
        md += "
Validation split (chose the checkpoints; not a held-out result):

| seed | accuracy | UAR | weighted F1 | macro F1 |
|---:|---:|---:|---:|---:|
";
        for s in &record.seeds {
            if let Some(v) = &s.valid {
                md += &format!(
                    "| {} | {} |
",
                    s.seed,
                    headline_cells(v)
                );
            }
        }
        md += "
| over | accuracy | UAR | weighted F1 | macro F1 |
|---|---|---|---|---|
";
        md += &stats_row(&format!("{} seeds, validation", record.seeds.len()), valid);
    }
    if let Some(first) = record.seeds.first()
        && !first.test_f1_by_class.is_empty()
    {
        md += &format!(
            "
Test F1 by class (%):

| class | {} | mean +- std |
|---|{}---|
",
            record
                .seeds
                .iter()
                .map(|s| format!("seed {}", s.seed))
                .collect::<Vec<_>>()
                .join(" | "),
            "---:|".repeat(record.seeds.len())
        );
        for (c, (class, _)) in first.test_f1_by_class.iter().enumerate() {
            let values: Vec<f64> = record
                .seeds
                .iter()
                .map(|s| s.test_f1_by_class.get(c).map_or(f64::NAN, |v| v.1))
                .collect();
            let (mean, std) = crate::pipeline::cv_record::mean_std(&values);
            md += &format!(
                "| {class} | {} | {} +- {} |
",
                values
                    .iter()
                    .map(|&v| pct(v))
                    .collect::<Vec<_>>()
                    .join(" | "),
                pct(mean),
                pct(std)
            );
        }
    }
    if let Some(ensemble) = &record.ensemble {
        md += &format!(
            "\nEnsemble of the {} seeds' models (each test clip's class probabilities averaged):\n\n",
            ensemble.models
        );
        match &ensemble.over_folds {
            Some(stats) => {
                md += "| group | fold | accuracy | UAR | weighted F1 | macro F1 |\n|---|---:|---:|---:|---:|---:|\n";
                for f in &ensemble.folds {
                    md += &format!(
                        "| {} | {} | {} |\n",
                        f.group,
                        f.fold,
                        headline_cells(&f.test)
                    );
                }
                md +=
                    "\n| over | accuracy | UAR | weighted F1 | macro F1 |\n|---|---|---|---|---|\n";
                md += &stats_row(&format!("ensemble, {} folds", stats.folds), stats);
            }
            None => {
                md += &format!(
                    "| accuracy | UAR | weighted F1 | macro F1 |\n|---:|---:|---:|---:|\n| {} |\n",
                    headline_cells(&ensemble.test)
                );
            }
        }
    }
    md
}
