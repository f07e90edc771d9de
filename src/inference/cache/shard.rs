//! Shards of a cache: the same build over one contiguous range of a split's utterances, in
//! `<cache folder>/shards/<i>-of-<n>/` (same files as the cache, plus `shard.json`), so that
//! devices or machines can each build one and the shards be merged into the cache.
//!
//! Shards are cut on the build's windows (text: the length-sorted windows, audio: the chunks),
//! so every trunk forward of a shard build sees exactly the chunk a one-shot build would: the
//! merged `data.bin` and `index.bin` are byte-identical to a one-shot build's.

use super::store::read_index;
use super::{CacheDtype, CacheJob};
use crate::io::atomic;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One shard of `count`: `index` counts from 1 (`--shard 1/3`, `2/3`, `3/3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, 1 to `count`.
    pub index: usize,
    /// How many shards the split is cut into.
    pub count: usize,
}

impl Shard {
    /// Shard `index` of `count`, checked (`1 <= index <= count`).
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 {
            bail!("a split cannot be cut into 0 shards: give i/n with n >= 1 (e.g. 1/2 and 2/2)");
        }
        if index == 0 || index > count {
            bail!(
                "there is no shard {index} of {count}: give i/n with 1 <= i <= n (shards count \
                 from 1: 1/{count} to {count}/{count})"
            );
        }
        Ok(Self { index, count })
    }

    /// The shard's folder name: `<i>-of-<n>`.
    pub fn folder_name(self) -> String {
        format!("{}-of-{}", self.index, self.count)
    }

    /// The utterances of this shard in a split of `total` cut on windows of `window`: whole
    /// windows, as evenly as they go (the last window may be short).
    pub fn range(self, total: usize, window: usize) -> Range<usize> {
        let windows = total.div_ceil(window.max(1));
        let at = |k: usize| (windows * k / self.count * window.max(1)).min(total);
        at(self.index - 1)..at(self.index)
    }
}

impl std::str::FromStr for Shard {
    type Err = anyhow::Error;

    /// Reads `i/n`, e.g. `2/3`.
    fn from_str(text: &str) -> Result<Self> {
        let parsed = text
            .split_once('/')
            .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
        let Some((index, count)) = parsed else {
            bail!("`{text}` is not i/n: give the shard and the shard count, e.g. 2/3");
        };
        Shard::new(index, count)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// `shard.json`: where a shard lies in its split, checked again at the merge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ShardInfo {
    shard: usize,
    of: usize,
    /// First utterance (0-based, in the split's order).
    start: usize,
    /// One past the last utterance.
    end: usize,
    /// Utterances per build window the cut was made on.
    window: usize,
}

impl ShardInfo {
    pub(super) fn new(shard: Shard, range: &Range<usize>, window: usize) -> Self {
        Self {
            shard: shard.index,
            of: shard.count,
            start: range.start,
            end: range.end,
            window,
        }
    }
}

/// `<cache folder>/shards`.
pub(super) fn shards_dir(dir: &Path) -> PathBuf {
    dir.join("shards")
}

/// The shard folders under `dir/shards` (`<i>-of-<n>`), by `n` then `i`; other names are
/// left alone.
fn shard_folders(dir: &Path) -> BTreeMap<usize, BTreeMap<usize, PathBuf>> {
    let mut found: BTreeMap<usize, BTreeMap<usize, PathBuf>> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(shards_dir(dir)) else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let parsed = name
            .split_once("-of-")
            .and_then(|(i, n)| Some((i.parse::<usize>().ok()?, n.parse::<usize>().ok()?)));
        if let Some((i, n)) = parsed
            && (1..=n).contains(&i)
            && entry.path().is_dir()
        {
            found.entry(n).or_default().insert(i, entry.path());
        }
    }
    found
}

/// What `dir/shards` holds for a merge.
pub(super) enum Found {
    /// No shard folder at all.
    None,
    /// Every shard of `n` has finished: merge them.
    Complete(usize),
    /// Shards are there, but no shard count has all of its shards finished: what is missing.
    Incomplete(String),
}

/// Looks for a finished set of shards in `dir/shards` (the smallest shard count that has one).
pub(super) fn find(dir: &Path) -> Found {
    let folders = shard_folders(dir);
    if folders.is_empty() {
        return Found::None;
    }
    let mut missing = Vec::new();
    for (&n, present) in &folders {
        let lacking: Vec<String> = (1..=n)
            .filter(|i| !present.get(i).is_some_and(|p| p.join("complete").exists()))
            .map(|i| {
                let shard = Shard { index: i, count: n };
                let state = if present.contains_key(&i) {
                    "unfinished"
                } else {
                    "missing"
                };
                format!("{} ({state})", shard.folder_name())
            })
            .collect();
        if lacking.is_empty() {
            return Found::Complete(n);
        }
        missing.push(lacking.join(", "));
    }
    Found::Incomplete(missing.join("; "))
}

/// The error for shards that cannot be merged yet.
pub(super) fn incomplete_error(dir: &Path, missing: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "cache {}: the shards in {} cannot be merged, {missing}: build each missing shard with \
         `emofuse cache <experiment> --shard i/n` (on any machine, then copy its folder here), \
         or delete {} to build the whole split here",
        dir.display(),
        shards_dir(dir).display(),
        shards_dir(dir).display()
    )
}

/// Bytes per cached value.
pub(super) fn value_bytes(dtype: CacheDtype) -> u64 {
    match dtype {
        CacheDtype::F16 => 2,
        CacheDtype::F32 => 4,
    }
}

/// Merges the `n` finished shards of `dir/shards` into the cache folder `dir`: checks that each
/// was built for this key, on this cut, with consistent files, then writes `width`, `data.bin`
/// and `index.bin` (the shards' in order, each atomically) and `complete` last.
pub(super) fn merge(job: &CacheJob, dir: &Path, key_text: &str, n: usize) -> Result<()> {
    let total = job.utterances.len();
    let window = super::window(job);
    let bytes = value_bytes(job.dtype);
    let mut index = Vec::with_capacity(total);
    let mut width: Option<(usize, PathBuf)> = None;
    let mut parts = Vec::with_capacity(n);
    for i in 1..=n {
        let shard = Shard { index: i, count: n };
        let folder = shards_dir(dir).join(shard.folder_name());
        let fail = |why: String| -> anyhow::Error {
            anyhow::anyhow!("cannot merge shard {}: {why}", folder.display())
        };
        let key = std::fs::read_to_string(folder.join("key.json")).unwrap_or_default();
        if key != key_text {
            return Err(fail(format!(
                "its key.json differs from {} (it was built for another experiment, checkpoint \
                 or data); delete it and build shard {shard} with this experiment \
                 (`emofuse cache <experiment> --shard {shard}`)",
                dir.join("key.json").display()
            )));
        }
        let info: ShardInfo = std::fs::read_to_string(folder.join("shard.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .ok_or_else(|| fail("it has no valid shard.json; build it again".to_string()))?;
        let range = shard.range(total, window);
        let expected = ShardInfo::new(shard, &range, window);
        if info != expected {
            return Err(fail(format!(
                "it holds utterances {}..{} cut on windows of {}, this experiment's shard \
                 {shard} is {}..{} on windows of {window} (set model.<branch>.cache_batch as \
                 when it was built, or build it again)",
                info.start, info.end, info.window, range.start, range.end
            )));
        }
        let rows = read_index(&folder.join("index.bin"));
        if rows.len() != range.len() {
            return Err(fail(format!(
                "index.bin lists {} utterances, the shard has {}; build it again",
                rows.len(),
                range.len()
            )));
        }
        let data = folder.join("data.bin");
        let size = std::fs::metadata(&data).map(|m| m.len()).unwrap_or(0);
        let shard_width: Option<usize> = std::fs::read_to_string(folder.join("width"))
            .ok()
            .and_then(|t| t.trim().parse().ok());
        let values: u64 = rows.iter().map(|&r| u64::from(r)).sum();
        if let Some(w) = shard_width {
            match &width {
                Some((first, from)) if *first != w => {
                    return Err(fail(format!(
                        "its rows have {w} values, those of {} {first}; build it again with \
                         this experiment",
                        from.display()
                    )));
                }
                Some(_) => {}
                None => width = Some((w, folder.clone())),
            }
        } else if !rows.is_empty() {
            return Err(fail("it has no width file; build it again".to_string()));
        }
        let expected_size = values * shard_width.unwrap_or(0) as u64 * bytes;
        if size != expected_size {
            return Err(fail(format!(
                "data.bin has {size} bytes, its index says {expected_size}; build it again"
            )));
        }
        index.extend(rows);
        parts.push(data);
    }
    // Width first and data.bin before index.bin: if the merge stops between the two, the old
    // index is a prefix of the merged data (the build's resume truncates data.bin to it).
    if let Some((w, _)) = &width {
        atomic::write(&dir.join("width"), w.to_string().as_bytes())?;
    }
    atomic::write_with(&dir.join("data.bin"), |tmp| {
        let mut out = std::fs::File::create(tmp)?;
        for part in &parts {
            std::io::copy(&mut std::fs::File::open(part)?, &mut out)?;
        }
        out.sync_all()
    })?;
    let index_bytes: Vec<u8> = index.iter().flat_map(|r| r.to_le_bytes()).collect();
    atomic::write(&dir.join("index.bin"), &index_bytes)?;
    atomic::write(&dir.join("complete"), total.to_string().as_bytes())
        .with_context(|| format!("cannot finish the merge in {}", dir.display()))?;
    Ok(())
}
