//! The frozen-trunk cache: the output of each pretrained encoder's frozen part, computed once
//! per utterance (eval mode) and stored on disk, so training runs only the trainable layers.
//!
//! One folder per (branch, split, key): `<cache_dir>/<branch>-<split>-<key hash>/` holds
//! `key.json` (what the output depends on: checkpoint content, the split point, preprocessing,
//! the data and the element type), `data.bin` (each utterance's valid rows, `rows x width`
//! values, f16 or f32 little-endian, one after the other), `index.bin` (rows per utterance, u32)
//! and `complete` once every utterance is in. A change to any part of the key gives another
//! folder, so a stale cache is never reused; an interrupted build resumes where it stopped.
//!
//! Only valid rows (tokens, frames) are stored: padding is masked out of attention and pooling,
//! so the trainable layers' outputs on valid positions do not depend on it. The build runs the
//! trunk in chunks padded to their longest utterance, text length-sorted ([`text_chunks`]).

mod build;
mod key;
mod store;

pub use key::{checkpoint_fingerprint, data_fingerprint, file_hash, turns_fingerprint};
pub use store::{CachedStates, prefix_mask_bool, prefix_mask_int};

use crate::core::events::Observer;
use crate::core::{Precision, SplitName};
use crate::data::Utterance;
use crate::data::pretrained::PretrainedFrontEnd;
use crate::inference::trunk::Trunks;
use crate::io::atomic;
use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// Text utterances per trunk forward of a cache build.
pub const TEXT_CHUNK: usize = 32;

/// Audio clips per trunk forward of a cache build.
pub const AUDIO_CHUNK: usize = 8;

/// Chunks of consecutive text utterances a cache build sorts by token count at a time: long
/// enough for chunks of similar lengths, short enough that an interrupted build loses little.
pub const SORTED_CHUNKS_PER_WINDOW: usize = 8;

/// The chunks (indices into `lengths`, the utterances' token counts) in which a cache build
/// runs the text trunk: consecutive windows of `window` utterances, each sorted by token count
/// (stable: equal counts keep the split's order) and cut into chunks of at most `chunk`. Each
/// chunk is padded to its longest utterance, so it costs `chunk.len() x max length` positions.
pub fn text_chunks(lengths: &[usize], chunk: usize, window: usize) -> Vec<Vec<usize>> {
    let (chunk, window) = (chunk.max(1), window.max(1));
    let mut chunks = Vec::with_capacity(lengths.len().div_ceil(chunk));
    for start in (0..lengths.len()).step_by(window) {
        let mut order: Vec<usize> = (start..(start + window).min(lengths.len())).collect();
        order.sort_by_key(|&i| lengths[i]);
        chunks.extend(order.chunks(chunk).map(<[usize]>::to_vec));
    }
    chunks
}

/// Element type of the frozen-trunk cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheDtype {
    /// Half precision: half the disk and memory, about 3 significant digits.
    #[default]
    F16,
    /// Single precision: the values the frozen layers computed, exactly.
    F32,
}

/// Which branch a cache holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Branch {
    /// Text trunk output: hidden states per token.
    Text,
    /// Audio trunk output: hidden states (or conv features) per frame.
    Audio,
}

impl Branch {
    /// The branch's name in folder names and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Branch::Text => "text",
            Branch::Audio => "audio",
        }
    }
}

/// Everything a cache build needs.
pub struct CacheJob<'a> {
    /// `output.cache_dir`.
    pub root: &'a Path,
    /// Branch to cache.
    pub branch: Branch,
    /// Split name (folder name and messages).
    pub split: SplitName,
    /// The split's utterances.
    pub utterances: &'a [Utterance],
    /// Front end of the pretrained branches.
    pub front: &'a PretrainedFrontEnd,
    /// The frozen trunks (plain device).
    pub trunks: &'a Trunks,
    /// Key parts other than the data: checkpoint, split point, preprocessing.
    pub key: Value,
    /// Element type.
    pub dtype: CacheDtype,
    /// Float type the trunks compute in (`run.precision`); `device` must compute in it.
    pub precision: Precision,
    /// Utterances per trunk forward.
    pub chunk: usize,
    /// Plain device of the trunks.
    pub device: &'a Device,
    /// Receives the build's progress and summary.
    pub observer: &'a dyn Observer,
}

/// Opens the cache of `job`, building (or finishing) it first when needed.
pub fn ensure(job: &CacheJob) -> Result<CachedStates> {
    let key = key::full_key(job)?;
    let key_text = serde_json::to_string_pretty(&key)?;
    let hash = xxhash_rust::xxh3::xxh3_64(key_text.as_bytes());
    let dir = job
        .root
        .join(format!("{}-{}-{hash:016x}", job.branch.as_str(), job.split));
    std::fs::create_dir_all(&dir).with_context(|| {
        format!(
            "cannot create the cache folder {} (set output.cache_dir to a writable folder)",
            dir.display()
        )
    })?;
    let key_path = dir.join("key.json");
    match std::fs::read_to_string(&key_path) {
        Ok(existing) if existing == key_text => {}
        Ok(_) => {
            // Same hash, different key: a collision or a hand-edited folder. Start over.
            job.observer.info(format!(
                "cache {}: key differs from key.json; rebuilding",
                dir.display()
            ));
            for name in ["data.bin", "index.bin", "complete"] {
                let _ = std::fs::remove_file(dir.join(name));
            }
            atomic::write(&key_path, key_text.as_bytes())?;
        }
        Err(_) => atomic::write(&key_path, key_text.as_bytes())?,
    }
    let width_path = dir.join("width");
    if !dir.join("complete").exists() {
        let computes = job.device.settings().float_dtype;
        if computes != job.precision.dtype() {
            bail!(
                "the frozen-trunk cache {} is for run.precision = \"{}\", but this process computes in {computes:?}: \
                 training runs in f32, and burn fixes a device's float type once per process.\n  \
                 fix: build the caches first in a process of their own, `emofuse cache <experiment> --precision {}` \
                 (same experiment and --set options), then train; or set run.precision = \"f32\"",
                dir.display(),
                job.precision.as_str(),
                job.precision.as_str()
            );
        }
        build::build(job, &dir)?;
    } else {
        job.observer.info(format!(
            "cache: {} {} from {} ({} utterances, key matches)",
            job.branch.as_str(),
            job.split,
            dir.display(),
            job.utterances.len()
        ));
    }
    store::open(&dir, job.dtype, &width_path, job.utterances.len())
}
