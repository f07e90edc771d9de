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
use crate::data::speech::labels::{ClipFilter, select};
use crate::data::speech::splits::{
    SplitAssignment, check_no_leakage, holdout, speaker_kfold, stratified_random,
};
use crate::data::{Corpus, Utterance};
use crate::experiment::{DatasetKind, Experiment, SplitKind};
use crate::io::atomic;
use crate::pipeline::TrainOptions;
use crate::pipeline::cv_record::{CrossValRecord, CvStats, FoldRecord};
use crate::pipeline::run::{RunSummary, train_corpus};
use crate::reports::run_dir::RunDir;
use crate::reports::{RunRecord, pct};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn read_clips(experiment: &Experiment, observer: &dyn Observer) -> Result<Vec<SpeechClip>> {
    let path = experiment.dataset_path()?;
    if !path.exists() {
        bail!(
            "{} does not exist: set data.path to the {:?} dataset{}",
            path.display(),
            experiment.data.dataset,
            if experiment.data.dataset == DatasetKind::Ravdess {
                " (the RAVDESS speech folder with Actor_01 .. Actor_24; the default is ../shared/data/ravdess-speech-16k)"
            } else {
                ""
            }
        );
    }
    let read = match experiment.data.dataset {
        DatasetKind::Ravdess => crate::data::speech::ravdess::read_ravdess(&path)?,
        DatasetKind::Emodb => crate::data::speech::emodb::read_emodb(&path)?,
        DatasetKind::Table => crate::data::speech::table::read_table(&path)?,
        other => bail!("{other:?} is not a pooled dataset"),
    };
    observer.info(format!(
        "read {} clips from {}",
        read.clips.len(),
        path.display()
    ));
    if !read.skipped.is_empty() {
        observer.info(format!(
            "skipped {} files whose names do not parse:",
            read.skipped.len()
        ));
        for (file, why) in read.skipped.iter().take(10) {
            observer.info(format!("  {}: {why}", file.display()));
        }
        if read.skipped.len() > 10 {
            observer.info(format!("  ... and {} more", read.skipped.len() - 10));
        }
    }
    Ok(read.clips)
}

/// The split assignments of one group of clips.
fn assignments(
    experiment: &Experiment,
    clips: &[SpeechClip],
    labels: &[usize],
) -> Result<Vec<SplitAssignment>> {
    let s = &experiment.data.split;
    let list = match s.kind {
        SplitKind::SpeakerKfold => speaker_kfold(clips, s.folds, s.shuffle_seed)?,
        SplitKind::SpeakerHoldout => vec![holdout(clips, &s.valid_speakers, &s.test_speakers)?],
        SplitKind::Random => vec![stratified_random(
            labels,
            s.valid_fraction,
            s.test_fraction,
            experiment.run.seed,
        )?],
        SplitKind::Predefined => vec![predefined(clips)?],
    };
    for a in &list {
        if a.speaker_independent {
            check_no_leakage(a, clips)?;
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
        })
        .collect()
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
    let clips = read_clips(experiment, observer)?;
    let table = experiment.label_table()?;
    let d = &experiment.data;
    let filter = ClipFilter {
        gender: d.gender,
        intensity: d.intensity.clone(),
        statement: d.statement.clone(),
    };
    let selection = select(clips, &table, &filter);
    let mut kept = vec![0usize; table.classes.len()];
    for &l in &selection.labels {
        kept[l] += 1;
    }
    observer.info(format!(
        "label table `{}`: {} clips kept ({})",
        table.name,
        selection.clips.len(),
        table
            .classes
            .iter()
            .zip(&kept)
            .map(|(c, n)| format!("{c} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    for (reason, n) in &selection.dropped {
        observer.info(format!("  dropped {n}: {reason}"));
    }
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
        let folds = assignments(experiment, &clips, &labels_g)?;
        let mut fold_values = Vec::new();
        for (f, a) in folds.iter().enumerate() {
            let fold_name = if folds.len() == 1 {
                a.name.clone()
            } else {
                format!("fold-{}", f + 1)
            };
            let sub_dir = if d.per_gender {
                PathBuf::from(group)
            } else {
                PathBuf::new()
            };
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
            if !(options.resume && done) {
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
                    },
                )?;
                atomic::write(&run.split(), serde_json::to_string_pretty(a)?.as_bytes())?;
            } else {
                observer.info(format!(
                    "{fold_name}: finished earlier, kept ({})",
                    run_dir.display()
                ));
            }
            let record = RunRecord::load(&run_dir)?;
            let test = record.split(SplitName::Test).with_context(|| {
                format!("{}: the fold's run has no test metrics", run_dir.display())
            })?;
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
                weighted_f1: test.weighted_f1,
                macro_f1: test.macro_f1,
                checkpoint_epoch: record.checkpoint_epoch,
                train_seconds: record.train_seconds,
            });
        }
        if !options.dry_run {
            group_cv.push((group.clone(), CvStats::of(&fold_values)));
            all_folds.extend(fold_values);
        }
    }
    if options.dry_run {
        observer.info("dry run: data and splits are valid; nothing trained".into());
        return Ok(None);
    }
    let seconds = started.elapsed().as_secs_f64();
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

/// The cross-validation summary: one row per fold, then mean +- std.
pub fn summary_markdown(experiment: &Experiment, metrics: &CrossValRecord) -> String {
    let mut md = format!("# {}: {} folds\n\n", experiment.name(), metrics.folds.len());
    if metrics.speaker_independent {
        md += "Speaker-independent: no speaker appears in two splits of a fold (checked at run time).\n\n";
    } else {
        md += "**Speaker-DEPENDENT split**: the same speakers appear in training and test; these numbers overstate what a model does on new speakers.\n\n";
    }
    md += "| group | fold | test speakers | accuracy | weighted F1 | macro F1 | epoch |\n|---|---:|---|---:|---:|---:|---:|\n";
    for f in &metrics.folds {
        md += &format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            f.group,
            f.fold,
            f.test_speakers.join(", "),
            pct(f.accuracy),
            pct(f.weighted_f1),
            pct(f.macro_f1),
            f.checkpoint_epoch
        );
    }
    let line = |name: &str, cv: &CvStats| {
        format!(
            "| {name} | accuracy {} +- {} | weighted F1 {} +- {} | macro F1 {} +- {} |\n",
            pct(cv.accuracy_mean),
            pct(cv.accuracy_std),
            pct(cv.weighted_f1_mean),
            pct(cv.weighted_f1_std),
            pct(cv.macro_f1_mean),
            pct(cv.macro_f1_std)
        )
    };
    md += "\nMean +- standard deviation over folds (sample std):\n\n| group | accuracy | weighted F1 | macro F1 |\n|---|---|---|---|\n";
    md += &line("all", &metrics.cv);
    for (g, cv) in &metrics.groups {
        md += &line(g, cv);
    }
    md
}
