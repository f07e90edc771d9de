//! Loading the corpus an experiment names, and reading a pooled speech corpus with its reader.

use crate::core::events::Observer;
use crate::data::Corpus;
use crate::data::speech::SpeechClip;
use crate::data::speech::labels::{ClipFilter, LabelTable, Selection, select};
use crate::data::synthetic::{self, SyntheticOptions};
use crate::experiment::{DatasetKind, Experiment};

use anyhow::{Result, bail};
use std::path::Path;

/// Loads (or, for `synthetic`, generates) the experiment's corpus.
pub fn load_corpus(experiment: &Experiment) -> anyhow::Result<Corpus> {
    let d = &experiment.data;
    match d.dataset {
        DatasetKind::Synthetic => Ok(synthetic::generate(&SyntheticOptions {
            seed: experiment.data_seed(),
            train_size: d.train_size,
            valid_size: d.valid_size,
            test_size: d.test_size,
            sample_rate: d.sample_rate,
            max_seconds: d.clip_seconds,
        })),
        DatasetKind::Ravdess | DatasetKind::Emodb | DatasetKind::Savee | DatasetKind::Table => {
            anyhow::bail!(
                "a {:?} corpus is one pool of speakers: it is split by [data.split] into folds, each trained as its own run, not loaded as fixed splits",
                d.dataset
            )
        }
        DatasetKind::Manifest => {
            let path = |p: &Option<std::path::PathBuf>| p.clone().unwrap_or_default();
            let (train, valid, test) = (
                path(&d.train_manifest),
                path(&d.valid_manifest),
                path(&d.test_manifest),
            );
            crate::data::manifest::load_manifests(
                [&train, &valid, &test],
                experiment.label_map()?,
                d.sample_rate,
                experiment.model.uses(crate::core::Modality::Text),
                experiment.model.uses(crate::core::Modality::Audio),
            )
        }
    }
}

/// Reads a pooled corpus with its own reader, reporting what it read and every file it
/// skipped (with the reason); `key` names the setting the path came from, for the error.
pub fn read_corpus(
    kind: DatasetKind,
    path: &Path,
    key: &str,
    observer: &dyn Observer,
) -> Result<Vec<SpeechClip>> {
    if !path.exists() {
        bail!(
            "{} does not exist: set {key} to the {kind:?} dataset{}",
            path.display(),
            if kind == DatasetKind::Ravdess {
                " (the RAVDESS speech folder with Actor_01 .. Actor_24; the default is ../shared/data/ravdess-speech-16k)"
            } else {
                ""
            }
        );
    }
    let read = match kind {
        DatasetKind::Ravdess => crate::data::speech::ravdess::read_ravdess(path)?,
        DatasetKind::Emodb => crate::data::speech::emodb::read_emodb(path)?,
        DatasetKind::Savee => crate::data::speech::savee::read_savee(path)?,
        DatasetKind::Table => crate::data::speech::table::read_table(path)?,
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

/// Reports a labelled selection: `heading`, the clips kept per class of `table`, and every
/// clip left out, by reason.
pub fn report_selection(
    heading: &str,
    selection: &Selection,
    table: &LabelTable,
    observer: &dyn Observer,
) {
    let counts = selection.class_counts(table);
    observer.info(format!(
        "{heading}: {} clips kept ({})",
        selection.clips.len(),
        table
            .classes
            .iter()
            .zip(&counts)
            .map(|(c, n)| format!("{c} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    for (reason, n) in &selection.dropped {
        observer.info(format!("  dropped {n}: {reason}"));
    }
}

/// The experiment's own pooled corpus, read with its reader and labelled with its label table
/// and clip filters: the table and the selection (kept clips, their classes, drops by reason).
pub fn experiment_selection(
    experiment: &Experiment,
    observer: &dyn Observer,
) -> Result<(LabelTable, Selection)> {
    let d = &experiment.data;
    let clips = read_corpus(
        d.dataset,
        &experiment.dataset_path()?,
        "data.path",
        observer,
    )?;
    let table = experiment.label_table()?;
    let filter = ClipFilter {
        gender: d.gender,
        intensity: d.intensity.clone(),
        statement: d.statement.clone(),
    };
    let selection = select(clips, &table, &filter);
    Ok((table, selection))
}
