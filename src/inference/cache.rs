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
//! so the trainable layers' outputs on valid positions do not depend on it.

use crate::core::SplitName;
use crate::core::events::{Event, Observer};
use crate::data::Utterance;
use crate::data::pretrained::{PretrainedFrontEnd, audio_batch, text_batch};
use crate::inference::trunk::Trunks;
use crate::models::fusion::TextInput;
use crate::models::wav2vec2::AudioState;
use anyhow::{Context, Result, bail};
use burn::tensor::{Bool, Device, Tensor};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::Xxh3;

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

/// Format version, part of every key: bump it when the file layout changes.
const FORMAT: u32 = 1;

/// Which branch a cache holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Branch {
    /// Text trunk output: hidden states per token.
    Text,
    /// Audio trunk output: hidden states (or conv features) per frame.
    Audio,
}

impl Branch {
    fn as_str(self) -> &'static str {
        match self {
            Branch::Text => "text",
            Branch::Audio => "audio",
        }
    }
}

/// xxh3 of a file's bytes, in hex.
pub fn file_hash(path: &Path) -> Result<String> {
    let mut file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Xxh3::new();
    let mut buffer = vec![0u8; 8 << 20];
    loop {
        let n = file
            .read(&mut buffer)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(format!("{:016x}", hasher.digest()))
}

/// Fingerprint of a pretrained checkpoint folder: its config and weights, by content.
pub fn checkpoint_fingerprint(dir: &Path) -> Result<Value> {
    let folder = crate::models::hub::HubFolder::new(dir)?;
    let (config, weights) = (folder.config()?, folder.weights()?);
    Ok(json!({
        "folder": dir.display().to_string(),
        "config": file_hash(&config)?,
        "weights": file_hash(&weights)?,
    }))
}

/// Fingerprint of the data a branch's trunk reads: ids and transcripts (text), ids and audio
/// (in-memory samples by content, files by path, size and modification time).
pub fn data_fingerprint(branch: Branch, utterances: &[Utterance]) -> Result<String> {
    let mut hasher = Xxh3::new();
    for u in utterances {
        hasher.update(u.id.as_bytes());
        hasher.update(&[0]);
        match branch {
            Branch::Text => hasher.update(u.text.as_bytes()),
            Branch::Audio => match &u.audio_path {
                Some(path) => {
                    let meta = std::fs::metadata(path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    hasher.update(path.to_string_lossy().as_bytes());
                    hasher.update(&meta.len().to_le_bytes());
                    if let Ok(modified) = meta.modified()
                        && let Ok(since) = modified.duration_since(std::time::UNIX_EPOCH)
                    {
                        hasher.update(&since.as_nanos().to_le_bytes());
                    }
                }
                None => {
                    for x in &u.audio {
                        hasher.update(&x.to_le_bytes());
                    }
                }
            },
        }
        hasher.update(&[0xff]);
    }
    Ok(format!("{:016x}", hasher.digest()))
}

/// The frozen-trunk outputs of one split and branch, memory-mapped.
#[derive(Debug)]
pub struct CachedStates {
    data: memmap2::Mmap,
    /// Start row of each utterance, plus the total at the end.
    starts: Vec<usize>,
    width: usize,
    dtype: CacheDtype,
    /// Whether the rows are conv features (audio trunk ending at the conv encoder).
    pub conv: bool,
    /// The cache folder.
    pub dir: PathBuf,
}

impl CachedStates {
    /// Number of utterances.
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// Whether the cache holds no utterance.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Width of a row (hidden size or conv channels).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Rows of utterance `i`.
    pub fn rows(&self, i: usize) -> usize {
        self.starts[i + 1] - self.starts[i]
    }

    /// Appends utterance `i`'s rows, as f32, to `out`, then `pad_rows` rows of zeros.
    pub fn read_into(&self, i: usize, pad_rows: usize, out: &mut Vec<f32>) {
        let (start, end) = (self.starts[i] * self.width, self.starts[i + 1] * self.width);
        match self.dtype {
            CacheDtype::F32 => {
                let bytes = &self.data[start * 4..end * 4];
                out.extend(
                    bytes
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                );
            }
            CacheDtype::F16 => {
                let bytes = &self.data[start * 2..end * 2];
                out.extend(
                    bytes
                        .chunks_exact(2)
                        .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()),
                );
            }
        }
        out.resize(out.len() + pad_rows * self.width, 0.0);
    }

    /// Stacks utterances into `[batch, max rows, width]` (zero padded) and the valid-row mask
    /// `[batch, max rows]`.
    pub fn batch(&self, indices: &[usize], device: &Device) -> (Tensor<3>, Vec<usize>) {
        let rows: Vec<usize> = indices.iter().map(|&i| self.rows(i)).collect();
        let max = rows.iter().copied().max().unwrap_or(1).max(1);
        let mut values = Vec::with_capacity(indices.len() * max * self.width);
        for (&i, &r) in indices.iter().zip(&rows) {
            self.read_into(i, max - r, &mut values);
        }
        let data = burn::tensor::TensorData::new(values, [indices.len(), max, self.width]);
        (Tensor::from_data(data, device), rows)
    }
}

/// A mask `[batch, max(rows)]` with the first `rows[b]` entries of row b set.
pub fn prefix_mask_int(rows: &[usize], device: &Device) -> Tensor<2, burn::tensor::Int> {
    let max = rows.iter().copied().max().unwrap_or(1).max(1);
    let values: Vec<i64> = rows
        .iter()
        .flat_map(|&r| (0..max).map(move |j| i64::from(j < r)))
        .collect();
    Tensor::from_data(
        burn::tensor::TensorData::new(values, [rows.len(), max]),
        device,
    )
}

/// [`prefix_mask_int`] as booleans.
pub fn prefix_mask_bool(rows: &[usize], device: &Device) -> Tensor<2, Bool> {
    prefix_mask_int(rows, device).equal_elem(1)
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
    /// Utterances per trunk forward.
    pub chunk: usize,
    /// Plain device of the trunks.
    pub device: &'a Device,
    /// Receives the build's progress and summary.
    pub observer: &'a dyn Observer,
}

/// Opens the cache of `job`, building (or finishing) it first when needed.
pub fn ensure(job: &CacheJob) -> Result<CachedStates> {
    let key = json!({
        "format": FORMAT,
        "branch": job.branch.as_str(),
        "encoder": job.key,
        "data": data_fingerprint(job.branch, job.utterances)?,
        "utterances": job.utterances.len(),
        "dtype": match job.dtype { CacheDtype::F16 => "f16", CacheDtype::F32 => "f32" },
    });
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
            std::fs::write(&key_path, &key_text)?;
        }
        Err(_) => std::fs::write(&key_path, &key_text)?,
    }
    let width_path = dir.join("width");
    if !dir.join("complete").exists() {
        build(job, &dir)?;
    } else {
        job.observer.info(format!(
            "cache: {} {} from {} ({} utterances, key matches)",
            job.branch.as_str(),
            job.split,
            dir.display(),
            job.utterances.len()
        ));
    }
    open(&dir, job.dtype, &width_path, job.utterances.len())
}

fn read_index(path: &Path) -> Vec<u32> {
    std::fs::read(path)
        .unwrap_or_default()
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn build(job: &CacheJob, dir: &Path) -> Result<()> {
    let bytes = match job.dtype {
        CacheDtype::F16 => 2,
        CacheDtype::F32 => 4,
    };
    let index_path = dir.join("index.bin");
    let data_path = dir.join("data.bin");
    let width_path = dir.join("width");
    let mut done = read_index(&index_path);
    let width: Option<usize> = std::fs::read_to_string(&width_path)
        .ok()
        .and_then(|t| t.trim().parse().ok());
    if width.is_none() {
        done.clear();
    }
    // Drop whatever an interruption left beyond the last indexed utterance.
    let rows: u64 = done.iter().map(|&r| u64::from(r)).sum();
    let keep = rows * width.unwrap_or(0) as u64 * bytes;
    let data = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&data_path)
        .with_context(|| format!("cannot write {}", data_path.display()))?;
    data.set_len(keep)?;
    drop(data);
    std::fs::write(
        &index_path,
        done.iter()
            .flat_map(|r| r.to_le_bytes())
            .collect::<Vec<u8>>(),
    )?;
    let total = job.utterances.len();
    if done.is_empty() {
        job.observer.info(format!(
            "cache: computing the frozen {} trunk for {} {} utterances -> {}",
            job.branch.as_str(),
            total,
            job.split,
            dir.display()
        ));
    } else {
        job.observer.info(format!(
            "cache: resuming {} {} at utterance {} of {total} ({})",
            job.branch.as_str(),
            job.split,
            done.len(),
            dir.display()
        ));
    }
    job.observer.event(Event::TaskStarted {
        name: format!("caching {} {}", job.branch.as_str(), job.split),
        total: total as u64,
        unit: "utterances",
    });
    let mut position = done.len() as u64;
    job.observer.event(Event::TaskProgress {
        done: position,
        status: String::new(),
    });
    let mut data = OpenOptions::new().append(true).open(&data_path)?;
    let mut index = OpenOptions::new().append(true).open(&index_path)?;
    let mut width = width;
    let started = std::time::Instant::now();
    for chunk_start in (done.len()..total).step_by(job.chunk.max(1)) {
        let chunk = &job.utterances[chunk_start..(chunk_start + job.chunk.max(1)).min(total)];
        let inputs = job.front.inputs(chunk)?;
        let (values, rows, w) = match job.branch {
            Branch::Text => {
                let ids: Vec<&[u32]> = inputs.iter().map(|r| r.ids.as_slice()).collect();
                let rows: Vec<usize> = ids.iter().map(|r| r.len()).collect();
                let input = job
                    .trunks
                    .text(text_batch(&ids, job.front.pad_id(), job.device));
                let TextInput::Hidden { states, .. } = input else {
                    bail!("the text branch has no frozen trunk to cache");
                };
                let [_, _, w] = states.dims();
                (states, rows, w)
            }
            Branch::Audio => {
                let clips: Vec<_> = inputs.iter().map(|r| &r.clip).collect();
                let (x, mask) = match job.trunks.audio(audio_batch(&clips, job.device)) {
                    AudioState::Hidden { x, frame_mask } => (x, frame_mask),
                    AudioState::Conv {
                        features,
                        frame_mask,
                    } => (features, frame_mask),
                    AudioState::Waveform { .. } => {
                        bail!("the audio branch has no frozen trunk to cache")
                    }
                };
                let rows: Vec<usize> = mask
                    .int()
                    .sum_dim(1)
                    .into_data()
                    .convert::<i64>()
                    .try_into_vec::<i64>()
                    .map_err(|e| anyhow::anyhow!("frame mask: {e:?}"))?
                    .into_iter()
                    .map(|r| r as usize)
                    .collect();
                let [_, _, w] = x.dims();
                (x, rows, w)
            }
        };
        if width.is_none() {
            std::fs::write(&width_path, w.to_string())?;
            width = Some(w);
        }
        let [_, max_rows, _] = values.dims();
        let values: Vec<f32> = values
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("trunk output: {e:?}"))?;
        let mut out = Vec::new();
        for (b, &r) in rows.iter().enumerate() {
            let row = &values[b * max_rows * w..(b * max_rows + r) * w];
            match job.dtype {
                CacheDtype::F32 => out.extend(row.iter().flat_map(|x| x.to_le_bytes())),
                CacheDtype::F16 => out.extend(
                    row.iter()
                        .flat_map(|&x| half::f16::from_f32(x).to_le_bytes()),
                ),
            }
        }
        data.write_all(&out)?;
        data.flush()?;
        let index_bytes: Vec<u8> = rows
            .iter()
            .flat_map(|&r| (r as u32).to_le_bytes())
            .collect();
        index.write_all(&index_bytes)?;
        index.flush()?;
        position += chunk.len() as u64;
        job.observer.event(Event::TaskProgress {
            done: position,
            status: String::new(),
        });
    }
    job.observer.event(Event::TaskFinished);
    std::fs::write(dir.join("complete"), total.to_string())?;
    job.observer.info(format!(
        "cache: {} {} done in {:.1} s ({:.1} MiB)",
        job.branch.as_str(),
        job.split,
        started.elapsed().as_secs_f64(),
        std::fs::metadata(&data_path).map(|m| m.len()).unwrap_or(0) as f64 / (1 << 20) as f64
    ));
    Ok(())
}

fn open(dir: &Path, dtype: CacheDtype, width_path: &Path, expected: usize) -> Result<CachedStates> {
    let index = read_index(&dir.join("index.bin"));
    if index.len() != expected {
        bail!(
            "cache {} holds {} utterances, expected {expected}; delete the folder to rebuild it",
            dir.display(),
            index.len()
        );
    }
    let width: usize = std::fs::read_to_string(width_path)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .with_context(|| {
            format!(
                "cache {} has no width file; delete the folder",
                dir.display()
            )
        })?;
    let mut starts = Vec::with_capacity(index.len() + 1);
    let mut total = 0usize;
    starts.push(0);
    for r in &index {
        total += *r as usize;
        starts.push(total);
    }
    let file = File::open(dir.join("data.bin"))?;
    // SAFETY: the file is only appended to by a build, which has finished (`complete`
    // exists); nothing truncates it while this map lives.
    let data = unsafe { memmap2::Mmap::map(&file) }
        .with_context(|| format!("cannot map {}", dir.join("data.bin").display()))?;
    let bytes = match dtype {
        CacheDtype::F16 => 2,
        CacheDtype::F32 => 4,
    };
    if data.len() != total * width * bytes {
        bail!(
            "cache {}: data.bin has {} bytes, the index says {}; delete the folder to rebuild it",
            dir.display(),
            data.len(),
            total * width * bytes
        );
    }
    let conv = false;
    Ok(CachedStates {
        data,
        starts,
        width,
        dtype,
        conv,
        dir: dir.to_path_buf(),
    })
}
