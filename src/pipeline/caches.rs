//! `emofuse cache`: the frozen-trunk caches of an experiment built ahead of training, whole or
//! one shard at a time (so that several devices or machines share the build), and shards
//! merged. Goes through the same corpus loading and [`Setup`] as `emofuse train`, so the
//! caches are the ones training opens.

use crate::core::SplitName;
use crate::core::backend;
use crate::core::events::Observer;
use crate::experiment::Experiment;
use crate::inference::cache::{self, Branch, Shard};
use crate::pipeline::corpus::load_corpus;
use crate::pipeline::setup::{ScratchSource, Setup};
use anyhow::{Result, bail};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

/// What [`build_caches`] does to each cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// Build (or finish) the whole cache, merging its shards when they are all there, as
    /// training does.
    Full,
    /// Build only this shard of each cache.
    Shard(Shard),
    /// Merge each cache's shards; never run a trunk.
    Merge,
}

/// One cache (or shard) [`build_caches`] left finished.
#[derive(Debug, Clone)]
pub struct CacheOutcome {
    /// Branch of the trunk.
    pub branch: Branch,
    /// Split.
    pub split: SplitName,
    /// The folder (a cache, or a shard under its `shards/`).
    pub folder: PathBuf,
    /// The utterances of the split it holds.
    pub utterances: Range<usize>,
    /// Utterances in the split.
    pub split_size: usize,
}

/// Builds, shards or merges every frozen-trunk cache `experiment`'s training reads: each
/// cached branch (pretrained, with a frozen part, `model.cache_frozen` on) of the train and
/// valid splits, and of the test split when it is evaluated.
pub fn build_caches(
    experiment: &Experiment,
    mode: CacheMode,
    observer: Arc<dyn Observer>,
) -> Result<Vec<CacheOutcome>> {
    if experiment.data.dataset.is_pooled() {
        bail!(
            "key `data.dataset`: a {:?} corpus is split into folds at training time, and each \
             fold's caches are built by `emofuse train`; `emofuse cache` builds the caches of \
             fixed splits (`synthetic`, `manifest`)",
            experiment.data.dataset
        );
    }
    if !experiment.model.cache_frozen {
        bail!(
            "key `model.cache_frozen` is false: this experiment runs its frozen trunks on every \
             batch and reads no cache; set it to true to build caches"
        );
    }
    let device = backend::device_with(experiment.run.backend, experiment.run.precision)?;
    let corpus = load_corpus(experiment)?;
    let labels = &corpus.labels;
    let (setup, _) = Setup::new(
        experiment,
        labels,
        vec![1.0; labels.len()],
        ScratchSource::Fit(&corpus.train),
        &device,
        observer.clone(),
    )?;
    let branches = setup.cached_branches(experiment);
    if branches.is_empty() {
        bail!(
            "nothing to cache: no branch of this experiment has a pretrained checkpoint with a \
             frozen part (`model.text.checkpoint` / `model.audio.checkpoint` with \
             `train_last_layers` below \"all\")"
        );
    }
    let splits = SplitName::ALL
        .into_iter()
        .filter(|&split| split != SplitName::Test || experiment.evaluation.splits.contains(&split));
    let mut outcomes = Vec::new();
    for split in splits {
        let utterances = corpus.split(split);
        for &branch in &branches {
            let job = setup.cache_job(experiment, branch, split, utterances, &device)?;
            let (folder, range) = match mode {
                CacheMode::Full => (cache::ensure(&job)?.dir, 0..utterances.len()),
                CacheMode::Merge => (cache::merge_shards(&job)?.dir, 0..utterances.len()),
                CacheMode::Shard(shard) => cache::build_shard(&job, shard)?,
            };
            outcomes.push(CacheOutcome {
                branch,
                split,
                folder,
                utterances: range,
                split_size: utterances.len(),
            });
        }
    }
    Ok(outcomes)
}
