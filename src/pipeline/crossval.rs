//! Pooled speech datasets (RAVDESS, EmoDB, one CSV table): read, label with the experiment's
//! table, filter, split by speaker (k folds, hold-out) or at random (speaker-dependent, said so),
//! train one run per fold, and aggregate: `runs/<name>/metrics.json` gets `folds` (each fold's
//! speakers and metrics) and `cv` (mean and standard deviation over folds), and
//! `reports/<name>/summary.md` the table.

use crate::core::Gender;
use crate::core::LabelMap;
use crate::core::SplitName;
use crate::core::events::Observer;
use crate::data::speech::SpeechClip;
use crate::data::speech::splits::{
    SplitAssignment, check_no_leakage, holdout, natural_cmp, settle_speaker_independence,
    speaker_kfold, stratified_random,
};
use crate::data::{Corpus, Utterance};
use crate::evaluation::evaluate;
use crate::experiment::{Experiment, SplitKind};
use crate::io::atomic;
use crate::pipeline::TrainOptions;
use crate::pipeline::corpus::{experiment_selection, report_selection};
use crate::pipeline::cross_corpus::{TargetCorpus, score_run};
use crate::pipeline::cv_record::{
    CrossCorpusRecord, CrossValRecord, CvStats, FoldRecord, Headline, SpeakerResult,
};
use crate::pipeline::fold_jobs::{FoldLauncher, FoldTask};
use crate::pipeline::run::{RunSummary, split_line, train_corpus};
use crate::reports::predictions::read_predictions;
use crate::reports::run_dir::RunDir;
use crate::reports::{RunRecord, pct};
use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// The split assignments of one group of clips.
/// Speaker independence is computed from each part's speakers for every kind of split (a
/// table's own split or a random one may happen to keep speakers apart, or not), checked, and
/// with `require_speaker_independent` a split that shares speakers is an error naming them.
fn assignments(
    experiment: &Experiment,
    clips: &[SpeechClip],
    labels: &[usize],
    observer: &dyn Observer,
) -> Result<Vec<SplitAssignment>> {
    let s = &experiment.data.split;
    let mut list = match s.kind {
        SplitKind::SpeakerKfold => speaker_kfold(clips, s.folds, s.shuffle_seed)?,
        SplitKind::SpeakerHoldout => {
            let a = holdout(
                clips,
                &s.train_speakers,
                &s.valid_speakers,
                &s.test_speakers,
            )?;
            if s.train_speakers.is_empty() {
                observer.info(format!(
                    "holdout: the {} speakers not held out train: {}",
                    a.train_speakers.len(),
                    a.train_speakers.join(", ")
                ));
            }
            vec![a]
        }
        SplitKind::Random => vec![stratified_random(
            labels,
            s.valid_fraction,
            s.test_fraction,
            experiment.run.seed,
        )?],
        SplitKind::Predefined => vec![predefined(clips)?],
    };
    for a in &mut list {
        let shared = settle_speaker_independence(a, clips);
        if a.speaker_independent {
            check_no_leakage(a, clips)?;
        } else if s.require_speaker_independent {
            bail!(
                "split `{}` is not speaker-independent but data.split.require_speaker_independent is set: {}",
                a.name,
                if shared.is_empty() {
                    "some clips have no speaker".to_string()
                } else {
                    format!(
                        "speakers {} have clips in more than one of train / valid / test",
                        shared.join(", ")
                    )
                }
            );
        }
    }
    Ok(list)
}

/// The table's own `split` column.
fn predefined(clips: &[SpeechClip]) -> Result<SplitAssignment> {
    let mut a = SplitAssignment::empty("predefined".into(), false);
    for (i, c) in clips.iter().enumerate() {
        match c.attrs.get("split").map(String::as_str) {
            Some("train") => a.train.push(i),
            Some("valid" | "dev") => a.valid.push(i),
            Some("test") => a.test.push(i),
            other => bail!(
                "clip {} has split {:?}: `data.split.kind = \"predefined\"` needs a split column with train, valid (or dev) and test",
                c.id,
                other
            ),
        }
    }
    Ok(a)
}

fn utterances(
    clips: &[SpeechClip],
    labels: &[usize],
    indices: &[usize],
    speakers: &BTreeMap<String, u32>,
) -> Vec<Utterance> {
    indices
        .iter()
        .map(|&i| Utterance {
            id: clips[i].id.clone(),
            text: clips[i].text.clone(),
            audio: Vec::new(),
            audio_path: Some(clips[i].path.clone()),
            label: labels[i],
            speaker: speakers[&clips[i].speaker],
            turn: None,
        })
        .collect()
}

/// Accuracy and UAR of each test speaker of a finished fold, from its `predictions.csv`
/// (a fold run written before that file existed gets none, with a warning).
fn speaker_results(
    run: &RunDir,
    clips: &[SpeechClip],
    labels: &LabelMap,
    observer: &dyn Observer,
) -> Result<Vec<SpeakerResult>> {
    let path = run.predictions();
    if !path.is_file() {
        observer.warn(format!(
            "{} has no predictions.csv (written by an older emofuse): no per-speaker results for this fold; train it again without --resume to get them",
            run.path().display()
        ));
        return Ok(Vec::new());
    }
    let speaker_of: HashMap<&str, &str> = clips
        .iter()
        .map(|c| (c.id.as_str(), c.speaker.as_str()))
        .collect();
    let mut by_speaker: BTreeMap<&str, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
    for row in read_predictions(&path, labels)? {
        if row.split != SplitName::Test {
            continue;
        }
        let speaker = speaker_of.get(row.id.as_str()).with_context(|| {
            format!(
                "{}: test clip `{}` is not in the dataset any more; train the fold again",
                path.display(),
                row.id
            )
        })?;
        let (y_true, y_pred) = by_speaker.entry(speaker).or_default();
        y_true.push(row.label);
        y_pred.push(row.predicted);
    }
    let mut results: Vec<SpeakerResult> = by_speaker
        .into_iter()
        .map(|(speaker, (y_true, y_pred))| {
            let m = evaluate(&y_true, &y_pred, labels);
            SpeakerResult {
                speaker: speaker.to_string(),
                clips: y_true.len(),
                accuracy: m.accuracy,
                uar: m.uar,
            }
        })
        .collect();
    results.sort_by(|a, b| natural_cmp(&a.speaker, &b.speaker));
    Ok(results)
}

/// Runs every fold (and gender group) of a pooled-dataset experiment.
pub fn train_pooled(experiment: &Experiment, options: TrainOptions) -> Result<Option<RunSummary>> {
    let observer = &*options.observer;
    observer.info(format!(
        "experiment `{}`: {:?} dataset, split {:?}, backend {}, seed {}",
        experiment.name(),
        experiment.data.dataset,
        experiment.data.split.kind,
        experiment.run.backend.as_str(),
        experiment.run.seed
    ));
    let started = std::time::Instant::now();
    let (table, selection) = experiment_selection(experiment, observer)?;
    let d = &experiment.data;
    let kept = selection.class_counts(&table);
    report_selection(
        &format!("label table `{}`", table.name),
        &selection,
        &table,
        observer,
    );
    if selection.clips.is_empty() {
        bail!(
            "no clip is left after the label table and filters; check data.label_table and the filters"
        );
    }
    if options.dry_run {
        let files: Vec<(String, std::path::PathBuf)> = selection
            .clips
            .iter()
            .map(|c| {
                (
                    format!("clip `{}` ({})", c.id, c.path.display()),
                    c.path.clone(),
                )
            })
            .collect();
        crate::pipeline::probe::probe_audio_files(&files, observer)?;
    }
    let target = match &d.test {
        Some(config) => Some(TargetCorpus::load(config, &table, observer)?),
        None => None,
    };
    let labels = LabelMap::new(&table.classes)?;
    let mut speakers = BTreeMap::new();
    for c in &selection.clips {
        let next = speakers.len() as u32;
        speakers.entry(c.speaker.clone()).or_insert(next);
    }

    let groups: Vec<(String, Vec<usize>)> = if d.per_gender {
        [Gender::Male, Gender::Female]
            .into_iter()
            .map(|g| {
                let idx = (0..selection.clips.len())
                    .filter(|&i| selection.clips[i].gender == Some(g))
                    .collect();
                (g.as_str().to_string(), idx)
            })
            .collect()
    } else {
        vec![("all".to_string(), (0..selection.clips.len()).collect())]
    };

    let root_runs = experiment.run_dir();
    let root_reports = experiment.report_dir();
    let mut all_folds = Vec::new();
    let mut group_cv = Vec::new();
    let mut last = None;
    for (group, indices) in &groups {
        if indices.is_empty() {
            bail!("group `{group}` has no clip (is the gender known for every speaker?)");
        }
        let clips: Vec<SpeechClip> = indices
            .iter()
            .map(|&i| selection.clips[i].clone())
            .collect();
        let labels_g: Vec<usize> = indices.iter().map(|&i| selection.labels[i]).collect();
        let folds = assignments(experiment, &clips, &labels_g, observer)?;
        let sub_dir = if d.per_gender {
            PathBuf::from(group)
        } else {
            PathBuf::new()
        };
        let fold_name = |f: usize, a: &SplitAssignment| {
            if folds.len() == 1 {
                a.name.clone()
            } else {
                format!("fold-{}", f + 1)
            }
        };
        // The folds' own name under the run folder, what a launched process is told to train.
        let fold_key = |name: &str| {
            if d.per_gender {
                format!("{group}/{name}")
            } else {
                name.to_string()
            }
        };
        let launched = match &options.fold_launcher {
            Some(launcher)
                if !options.dry_run && options.only_fold.is_none() && folds.len() > 1 =>
            {
                let names: Vec<String> =
                    (0..folds.len()).map(|f| fold_name(f, &folds[f])).collect();
                launch_folds(experiment, &names, &fold_key, &**launcher, &options)?
            }
            _ => Vec::new(),
        };
        let mut fold_values = Vec::new();
        for (f, a) in folds.iter().enumerate() {
            let fold_name = fold_name(f, a);
            if let Some(only) = &options.only_fold
                && fold_key(&fold_name) != *only
            {
                continue;
            }
            observer.info(format!(
                "== {}{fold_name}: test speakers {}, valid speakers {} ({} / {} / {} clips{})",
                if d.per_gender {
                    format!("{group} ")
                } else {
                    String::new()
                },
                a.test_speakers.join(", "),
                a.valid_speakers.join(", "),
                a.train.len(),
                a.valid.len(),
                a.test.len(),
                if a.speaker_independent {
                    ""
                } else {
                    "; speaker-DEPENDENT: the same speakers in every split"
                }
            ));
            if options.dry_run {
                continue;
            }
            let mut sub = experiment.clone();
            sub.output.runs_dir = root_runs.join(&sub_dir);
            sub.output.reports_dir = root_reports.join(&sub_dir);
            sub.output.name = Some(fold_name.clone());
            let run_dir = sub.run_dir();
            let run = RunDir::new(&run_dir);
            let done = run.finished();
            if launched.contains(&fold_name) {
                observer.info(format!(
                    "{fold_name}: trained in its own process ({})",
                    run_dir.display()
                ));
            } else if !(options.resume && done) {
                let corpus = Corpus {
                    labels: labels.clone(),
                    sample_rate: d.sample_rate,
                    train: utterances(&clips, &labels_g, &a.train, &speakers),
                    valid: utterances(&clips, &labels_g, &a.valid, &speakers),
                    test: utterances(&clips, &labels_g, &a.test, &speakers),
                };
                let resume_fold = options.resume && run.config().exists();
                last = train_corpus(
                    &sub,
                    &corpus,
                    TrainOptions {
                        dry_run: false,
                        resume: resume_fold,
                        observer: options.observer.clone(),
                        ..TrainOptions::default()
                    },
                )?;
                atomic::write(&run.split(), serde_json::to_string_pretty(a)?.as_bytes())?;
            } else {
                observer.info(format!(
                    "{fold_name}: finished earlier, kept ({})",
                    run_dir.display()
                ));
            }
            if options.only_fold.is_some() {
                // A launched process: its launcher collects the fold's results.
                return Ok(last);
            }
            let record = RunRecord::load(&run_dir)?;
            let test = record.split(SplitName::Test).with_context(|| {
                format!("{}: the fold's run has no test metrics", run_dir.display())
            })?;
            let speakers_of_fold = speaker_results(&run, &clips, &labels, observer)?;
            let cross_corpus = match &target {
                Some(t) => {
                    let (m, _) = score_run(&sub, t)?;
                    observer.info(split_line(
                        crate::core::SplitName::Test,
                        &format!(" (cross-corpus, {:?})", t.dataset),
                        &m,
                    ));
                    Some(Headline {
                        accuracy: m.accuracy,
                        uar: m.uar,
                        macro_f1: m.macro_f1,
                        weighted_f1: m.weighted_f1,
                    })
                }
                None => None,
            };
            fold_values.push(FoldRecord {
                group: group.clone(),
                fold: f + 1,
                run: run_dir.display().to_string(),
                train_speakers: a.train_speakers.clone(),
                valid_speakers: a.valid_speakers.clone(),
                test_speakers: a.test_speakers.clone(),
                speaker_independent: a.speaker_independent,
                test_utterances: a.test.len(),
                accuracy: test.accuracy,
                uar: test.uar,
                weighted_f1: test.weighted_f1,
                macro_f1: test.macro_f1,
                checkpoint_epoch: record.checkpoint_epoch,
                train_seconds: record.train_seconds,
                cross_corpus,
                speakers: speakers_of_fold,
            });
        }
        if !options.dry_run && options.only_fold.is_none() {
            group_cv.push((group.clone(), CvStats::of(&fold_values)));
            all_folds.extend(fold_values);
        }
    }
    if options.dry_run {
        observer.info("dry run: data and splits are valid; nothing trained".into());
        return Ok(None);
    }
    if let Some(only) = &options.only_fold {
        bail!("--fold {only}: the experiment has no fold of that name");
    }
    let seconds = started.elapsed().as_secs_f64();
    let cross_corpus = target.as_ref().map(|t| CrossCorpusRecord {
        target: t.summary(table.classes.len()),
        cv: CvStats::of_headlines(
            &all_folds
                .iter()
                .filter_map(|f| f.cross_corpus)
                .collect::<Vec<_>>(),
        ),
    });
    let metrics = CrossValRecord {
        experiment: experiment.name().to_string(),
        dataset: experiment.data.dataset,
        label_table: table.name.clone(),
        labels: table.classes.clone(),
        class_counts: kept,
        dropped: selection.dropped.clone(),
        split: experiment.data.split.kind,
        speaker_independent: all_folds.iter().all(|f| f.speaker_independent),
        cv: CvStats::of(&all_folds),
        folds: all_folds,
        groups: if d.per_gender { group_cv } else { Vec::new() },
        cross_corpus,
        wall_seconds: seconds,
        seed: experiment.run.seed,
    };
    let root = RunDir::new(&root_runs);
    std::fs::create_dir_all(root.path())
        .with_context(|| format!("cannot create {}", root.path().display()))?;
    atomic::write(
        &root.metrics_json(),
        serde_json::to_string_pretty(&metrics)?.as_bytes(),
    )?;
    atomic::write(&root.config(), experiment.to_toml().as_bytes())?;
    std::fs::create_dir_all(&root_reports)
        .with_context(|| format!("cannot create {}", root_reports.display()))?;
    let summary = summary_markdown(experiment, &metrics);
    let summary_path = root_reports.join("summary.md");
    atomic::write(&summary_path, summary.as_bytes())?;
    observer.info(summary);
    observer.info(format!(
        "cross-validation saved to {}, summary to {}",
        root.metrics_json().display(),
        summary_path.display()
    ));
    Ok(last)
}

/// Trains the folds `names` of one group of `experiment` through `launcher`, all but those
/// finished and kept by `--resume`, and returns the names it trained.
fn launch_folds(
    experiment: &Experiment,
    names: &[String],
    fold_key: &dyn Fn(&str) -> String,
    launcher: &dyn FoldLauncher,
    options: &TrainOptions,
) -> Result<Vec<String>> {
    let root = RunDir::new(experiment.run_dir());
    let mut tasks = Vec::new();
    let mut trained = Vec::new();
    for name in names {
        let key = fold_key(name);
        if options.resume && RunDir::new(root.path().join(&key)).finished() {
            continue;
        }
        tasks.push(FoldTask {
            experiment: root.fold_experiment(),
            fold: key.clone(),
            resume: options.resume,
            log: root.fold_log(&key),
        });
        trained.push(name.clone());
    }
    if tasks.is_empty() {
        return Ok(trained);
    }
    std::fs::create_dir_all(root.path())
        .with_context(|| format!("cannot create {}", root.path().display()))?;
    atomic::write(&root.fold_experiment(), experiment.to_toml().as_bytes())?;
    launcher.launch(&tasks, &*options.observer)?;
    Ok(trained)
}

/// The cross-validation summary: one row per fold, then mean +- std.
pub fn summary_markdown(experiment: &Experiment, metrics: &CrossValRecord) -> String {
    let mut md = format!("# {}: {} folds\n\n", experiment.name(), metrics.folds.len());
    if let Some(cross) = &metrics.cross_corpus {
        md += &format!(
            "**Cross-corpus**: trained on {:?}, also tested on {:?} ({}); see the cross-corpus section.\n\n",
            metrics.dataset, cross.target.dataset, cross.target.path
        );
    }
    if metrics.speaker_independent {
        md += "Speaker-independent: no speaker appears in two splits of a fold (checked at run time).\n\n";
    } else {
        md += "**Speaker-DEPENDENT split**: the same speakers appear in training and test; these numbers overstate what a model does on new speakers.\n\n";
    }
    md += "| group | fold | test speakers | accuracy | UAR | weighted F1 | macro F1 | epoch |\n|---|---:|---|---:|---:|---:|---:|---:|\n";
    for f in &metrics.folds {
        md += &format!(
            "| {} | {} | {} | {} | {} |\n",
            f.group,
            f.fold,
            f.test_speakers.join(", "),
            headline_cells(&Headline::from(f)),
            f.checkpoint_epoch
        );
    }
    md += "\nMean +- standard deviation over folds (sample std):\n\n| group | accuracy | UAR | weighted F1 | macro F1 |\n|---|---|---|---|---|\n";
    md += &stats_row("all", &metrics.cv);
    for (g, cv) in &metrics.groups {
        md += &stats_row(g, cv);
    }
    if let Some(cross) = &metrics.cross_corpus {
        md += &format!(
            "\n## Cross-corpus\n\nTrained and validated on {:?}, tested on every kept clip of {:?} ({}; {} clips: {}), features standardised with {} statistics.{}\n\n| group | fold | in-corpus accuracy | in-corpus UAR | cross-corpus accuracy | cross-corpus UAR | cross-corpus macro F1 |\n|---|---:|---:|---:|---:|---:|---:|\n",
            metrics.dataset,
            cross.target.dataset,
            cross.target.path,
            cross.target.class_counts.iter().sum::<usize>(),
            metrics
                .labels
                .iter()
                .zip(&cross.target.class_counts)
                .map(|(c, n)| format!("{c} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            match cross.target.feature_norm {
                crate::experiment::TargetNorm::Train => "the training split's",
                crate::experiment::TargetNorm::Corpus => "the target corpus's own",
                crate::experiment::TargetNorm::Speaker => "each target speaker's own",
            },
            if cross.target.dropped.is_empty() {
                String::new()
            } else {
                format!(
                    " Left out: {}.",
                    cross
                        .target
                        .dropped
                        .iter()
                        .map(|(why, n)| format!("{n} ({why})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
        for f in &metrics.folds {
            if let Some(c) = &f.cross_corpus {
                md += &format!(
                    "| {} | {} | {} | {} | {} | {} | {} |\n",
                    f.group,
                    f.fold,
                    pct(f.accuracy),
                    pct(f.uar),
                    pct(c.accuracy),
                    pct(c.uar),
                    pct(c.macro_f1)
                );
            }
        }
        md += "\n| over folds | accuracy | UAR | weighted F1 | macro F1 |\n|---|---|---|---|---|\n";
        md += &stats_row("in-corpus", &metrics.cv);
        md += &stats_row("cross-corpus", &cross.cv);
    }
    if metrics.folds.iter().any(|f| !f.speakers.is_empty()) {
        md += "\nPer test speaker (each speaker is tested in one fold):\n\n| group | fold | speaker | test clips | accuracy | UAR |\n|---|---:|---|---:|---:|---:|\n";
        for f in &metrics.folds {
            for s in &f.speakers {
                md += &format!(
                    "| {} | {} | {} | {} | {} | {} |\n",
                    f.group,
                    f.fold,
                    s.speaker,
                    s.clips,
                    pct(s.accuracy),
                    pct(s.uar)
                );
            }
        }
    }
    md
}

/// The cells of one result, accuracy, UAR, weighted F1 and macro F1, as `a | b | c | d`.
pub fn headline_cells(h: &Headline) -> String {
    format!(
        "{} | {} | {} | {}",
        pct(h.accuracy),
        pct(h.uar),
        pct(h.weighted_f1),
        pct(h.macro_f1)
    )
}

/// A row of mean +- std cells: accuracy, UAR, weighted F1, macro F1.
pub fn stats_row(name: &str, cv: &CvStats) -> String {
    let cell = |mean: f64, std: f64| format!("{} +- {}", pct(mean), pct(std));
    format!(
        "| {name} | {} | {} | {} | {} |\n",
        cell(cv.accuracy_mean, cv.accuracy_std),
        cell(cv.uar_mean, cv.uar_std),
        cell(cv.weighted_f1_mean, cv.weighted_f1_std),
        cell(cv.macro_f1_mean, cv.macro_f1_std)
    )
}
