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
//!
//! A cache can also be built in shards, one contiguous range of utterances each, on several
//! devices or machines ([`build_shard`], in `<cache folder>/shards/<i>-of-<n>/`), and merged
//! into the cache ([`merge_shards`], or [`ensure`] when it finds all of them).

mod build;
mod key;
mod shard;
mod store;

pub use key::{checkpoint_fingerprint, data_fingerprint, file_hash, turns_fingerprint};
pub use shard::Shard;
pub use store::{CachedStates, prefix_mask_bool, prefix_mask_int};

use shard::{Found, ShardInfo};

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
use std::ops::Range;
use std::path::{Path, PathBuf};

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

/// Utterances per build window of `job`: the text build sorts by token count within windows
/// of [`SORTED_CHUNKS_PER_WINDOW`] chunks, the audio build has nothing to sort (one chunk).
/// Builds resume, and shards are cut, on these windows.
fn window(job: &CacheJob) -> usize {
    match job.branch {
        Branch::Text => job.chunk.max(1) * SORTED_CHUNKS_PER_WINDOW,
        Branch::Audio => job.chunk.max(1),
    }
}

/// The cache folder of `job` (`<root>/<branch>-<split>-<key hash>/`), created, with its
/// `key.json`, and the key's text. A folder whose `key.json` differs (a hash collision or a
/// hand-edited file) is emptied first.
fn prepare(job: &CacheJob) -> Result<(PathBuf, String)> {
    let key = key::full_key(job)?;
    let key_text = serde_json::to_string_pretty(&key)?;
    let hash = xxhash_rust::xxh3::xxh3_64(key_text.as_bytes());
    let dir = job
        .root
        .join(format!("{}-{}-{hash:016x}", job.branch.as_str(), job.split));
    claim(&dir, &key_text, job.observer)?;
    Ok((dir, key_text))
}

/// Makes `dir` a (possibly unfinished) build folder for `key_text`: created, `key.json`
/// written; the build files of another key removed.
fn claim(dir: &Path, key_text: &str, observer: &dyn Observer) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| {
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
            observer.info(format!(
                "cache {}: key differs from key.json; rebuilding",
                dir.display()
            ));
            for name in ["data.bin", "index.bin", "complete", "width"] {
                let _ = std::fs::remove_file(dir.join(name));
            }
            atomic::write(&key_path, key_text.as_bytes())?;
        }
        Err(_) => atomic::write(&key_path, key_text.as_bytes())?,
    }
    Ok(())
}

/// Opens the cache of `job`, finishing it first when needed: a finished set of shards in its
/// `shards/` folder ([`build_shard`]) is merged into it, otherwise the trunk runs over every
/// utterance not yet in it. Shards that are there but not all finished are an error (naming
/// the missing ones) rather than a silent rebuild of the whole split.
pub fn ensure(job: &CacheJob) -> Result<CachedStates> {
    let (dir, key_text) = prepare(job)?;
    if dir.join("complete").exists() {
        job.observer.info(format!(
            "cache: {} {} from {} ({} utterances, key matches)",
            job.branch.as_str(),
            job.split,
            dir.display(),
            job.utterances.len()
        ));
    } else {
        match shard::find(&dir) {
            Found::None => build::build(job, &dir, 0..job.utterances.len())?,
            Found::Complete(n) => merge_into(job, &dir, &key_text, n)?,
            Found::Incomplete(missing) => return Err(shard::incomplete_error(&dir, &missing)),
        }
    }
    store::open(&dir, job.dtype, &dir.join("width"), job.utterances.len())
}

/// Merges the finished shards of `job`'s cache into it (nothing when it is already complete)
/// and opens it; never runs the trunk. Errors name what is missing: no shards at all, or the
/// shards not there or unfinished.
pub fn merge_shards(job: &CacheJob) -> Result<CachedStates> {
    let (dir, key_text) = prepare(job)?;
    if !dir.join("complete").exists() {
        match shard::find(&dir) {
            Found::Complete(n) => merge_into(job, &dir, &key_text, n)?,
            Found::Incomplete(missing) => return Err(shard::incomplete_error(&dir, &missing)),
            Found::None => bail!(
                "cache {}: no shards to merge in {} (build them with `emofuse cache \
                 <experiment> --shard i/n`, copy their folders there, or build the whole split \
                 without --merge){}",
                dir.display(),
                shard::shards_dir(&dir).display(),
                other_keys_hint(job, &dir)
            ),
        }
    }
    store::open(&dir, job.dtype, &dir.join("width"), job.utterances.len())
}

fn merge_into(job: &CacheJob, dir: &Path, key_text: &str, n: usize) -> Result<()> {
    let started = std::time::Instant::now();
    shard::merge(job, dir, key_text, n)?;
    job.observer.info(format!(
        "cache: {} {}: merged {n} shards of {} utterances into {} in {:.1} s (the shards in {} \
         may now be deleted)",
        job.branch.as_str(),
        job.split,
        job.utterances.len(),
        dir.display(),
        started.elapsed().as_secs_f64(),
        shard::shards_dir(dir).display()
    ));
    Ok(())
}

/// Where the shards of a merge may have gone instead: other folders of the same branch and
/// split holding shards (built with another key, e.g. audio files copied without their
/// modification times, or the checkpoint at another path).
fn other_keys_hint(job: &CacheJob, dir: &Path) -> String {
    let prefix = format!("{}-{}-", job.branch.as_str(), job.split);
    let mut others: Vec<String> = std::fs::read_dir(job.root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p != dir
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
                && shard::shards_dir(p).is_dir()
        })
        .map(|p| p.display().to_string())
        .collect();
    if others.is_empty() {
        return String::new();
    }
    others.sort();
    format!(
        "; {} hold shards built with another key (compare their key.json with {}: the \
         checkpoint and audio paths, sizes and modification times must be the same on every \
         machine)",
        others.join(", "),
        dir.join("key.json").display()
    )
}

/// Builds (or finishes) shard `shard` of `job`'s cache: the trunk over that shard's utterances
/// only ([`Shard::range`]), in `<cache folder>/shards/<i>-of-<n>/` with the cache's `key.json`.
/// Returns the shard's folder and its utterances.
pub fn build_shard(job: &CacheJob, shard: Shard) -> Result<(PathBuf, Range<usize>)> {
    let (dir, key_text) = prepare(job)?;
    let folder = shard::shards_dir(&dir).join(shard.folder_name());
    claim(&folder, &key_text, job.observer)?;
    let window = window(job);
    let range = shard.range(job.utterances.len(), window);
    let info = serde_json::to_string_pretty(&ShardInfo::new(shard, &range, window))?;
    let info_path = folder.join("shard.json");
    if std::fs::read_to_string(&info_path).ok().as_deref() != Some(info.as_str()) {
        // Another cut (another window size) or a new folder: its rows are not this shard's.
        for name in ["data.bin", "index.bin", "complete", "width"] {
            let _ = std::fs::remove_file(folder.join(name));
        }
        atomic::write(&info_path, info.as_bytes())?;
    }
    if folder.join("complete").exists() {
        job.observer.info(format!(
            "cache: {} {} shard {shard} (utterances {}..{} of {}) already in {}",
            job.branch.as_str(),
            job.split,
            range.start,
            range.end,
            job.utterances.len(),
            folder.display()
        ));
    } else {
        build::build(job, &folder, range.clone())?;
    }
    Ok((folder, range))
}
