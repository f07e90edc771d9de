//! Building (or finishing) a cache or one shard of it: the frozen trunk over a range of the
//! split's utterances (all of them, or a shard's), appended in chunks.
//!
//! Each chunk is padded to its longest utterance (the attention mask hides the padding). Text
//! utterances are run length-sorted within windows of [`SORTED_CHUNKS_PER_WINDOW`] chunks
//! ([`text_chunks`]), so that a chunk holds similar lengths and pads little; the outputs are
//! written back in the split's order, so the cache's layout does not depend on it.

use super::shard::value_bytes;
use super::store::read_index;
use super::{Branch, CacheDtype, CacheJob, text_chunks};
use crate::audio::Clip;
use crate::core::events::Event;
use crate::data::pretrained::{audio_batch, text_batch};
use crate::io::atomic;
use crate::models::fusion::TextInput;
use crate::models::wav2vec2::AudioState;
use anyhow::{Context, Result, bail};
use burn::tensor::{Int, Tensor};
use rayon::prelude::*;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

/// Valid rows per utterance from a mask summed over its rows (`[batch, 1]`).
fn mask_rows(counts: Tensor<2, Int>) -> Result<Vec<usize>> {
    Ok(counts
        .into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .map_err(|e| anyhow::anyhow!("mask: {e:?}"))?
        .into_iter()
        .map(|r| r as usize)
        .collect())
}

/// Runs the trunk over `job.utterances[range]` into `dir` (resuming after the utterances its
/// `index.bin` already lists). `range` starts on a window boundary ([`super::window`]), so the
/// chunks are those of a build of the whole split.
pub(super) fn build(job: &CacheJob, dir: &Path, range: std::ops::Range<usize>) -> Result<()> {
    let computes = job.device.settings().float_dtype;
    if computes != job.precision.dtype() {
        let precision = job.precision.as_str();
        bail!(
            "the frozen-trunk cache {} is for run.precision = \"{precision}\", but this process \
             computes in {computes:?}: training runs in f32, and burn fixes a device's float type \
             once per process.\n  \
             fix: build the caches first in a process of their own, `emofuse cache <experiment> \
             --precision {precision}` (same experiment and --set options), then train; or set \
             run.precision = \"f32\"",
            dir.display()
        );
    }
    let bytes = value_bytes(job.dtype);
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
    atomic::write(
        &index_path,
        &done
            .iter()
            .flat_map(|r| r.to_le_bytes())
            .collect::<Vec<u8>>(),
    )?;
    let total = range.len();
    // What is built, for messages: the split, or the utterances of one shard of it.
    let part = if total == job.utterances.len() {
        String::new()
    } else {
        format!(
            " (utterances {}..{} of {})",
            range.start,
            range.end,
            job.utterances.len()
        )
    };
    if done.is_empty() {
        job.observer.info(format!(
            "cache: computing the frozen {} trunk for {} {} utterances{part} -> {}",
            job.branch.as_str(),
            total,
            job.split,
            dir.display()
        ));
    } else {
        job.observer.info(format!(
            "cache: resuming {} {}{part} at utterance {} of {total} ({})",
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
    let chunk = job.chunk.max(1);
    let window = super::window(job);
    // Token ids of the whole split at once: dialogue context reads neighbours beyond a window.
    let text_ids = match job.branch {
        Branch::Text => job.front.text_ids(job.utterances)?.0,
        Branch::Audio => Vec::new(),
    };
    for window_start in (range.start + done.len()..range.end).step_by(window) {
        let range = window_start..(window_start + window).min(range.end);
        let count = range.len();
        let ids: &[Vec<u32>] = match job.branch {
            Branch::Text => &text_ids[range.clone()],
            Branch::Audio => &[],
        };
        let clips: Vec<Clip> = match job.branch {
            Branch::Text => Vec::new(),
            Branch::Audio => job.utterances[range]
                .par_iter()
                .map(|u| job.front.clip(u))
                .collect::<Result<_>>()?,
        };
        let chunks = match job.branch {
            Branch::Text => {
                let lengths: Vec<usize> = ids.iter().map(Vec::len).collect();
                text_chunks(&lengths, chunk, window)
            }
            Branch::Audio => (0..count)
                .collect::<Vec<_>>()
                .chunks(chunk)
                .map(<[usize]>::to_vec)
                .collect(),
        };
        // Each utterance's valid rows, encoded, in the window's order.
        let mut encoded: Vec<(usize, Vec<u8>)> = vec![(0, Vec::new()); count];
        for members in &chunks {
            let (values, rows, w) = match job.branch {
                Branch::Text => {
                    let ids: Vec<&[u32]> = members.iter().map(|&i| ids[i].as_slice()).collect();
                    let input = job
                        .trunks
                        .text(text_batch(&ids, job.front.pad_id(), job.device));
                    let TextInput::Hidden { states, mask } = input else {
                        bail!("the text branch has no frozen trunk to cache");
                    };
                    // Rows per utterance: its tokens, or one pooled vector per layer.
                    let rows = mask_rows(mask.sum_dim(1))?;
                    let [_, _, w] = states.dims();
                    (states, rows, w)
                }
                Branch::Audio => {
                    let clips: Vec<_> = members.iter().map(|&i| &clips[i]).collect();
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
                    let rows = mask_rows(mask.int().sum_dim(1))?;
                    let [_, _, w] = x.dims();
                    (x, rows, w)
                }
            };
            if width.is_none() {
                atomic::write(&width_path, w.to_string().as_bytes())?;
                width = Some(w);
            }
            let [_, max_rows, _] = values.dims();
            let values: Vec<f32> = values
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("trunk output: {e:?}"))?;
            for ((b, &r), &i) in rows.iter().enumerate().zip(members) {
                let row = &values[b * max_rows * w..(b * max_rows + r) * w];
                let bytes = match job.dtype {
                    CacheDtype::F32 => row.iter().flat_map(|x| x.to_le_bytes()).collect(),
                    CacheDtype::F16 => row
                        .iter()
                        .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
                        .collect(),
                };
                encoded[i] = (r, bytes);
            }
            position += members.len() as u64;
            job.observer.event(Event::TaskProgress {
                done: position,
                status: String::new(),
            });
        }
        // Written in the split's order, a whole window at a time: an interrupted build resumes
        // at the first utterance of the window it was in.
        let out: Vec<u8> = encoded.iter().flat_map(|(_, b)| b).copied().collect();
        data.write_all(&out)?;
        data.flush()?;
        let index_bytes: Vec<u8> = encoded
            .iter()
            .flat_map(|&(r, _)| (r as u32).to_le_bytes())
            .collect();
        index.write_all(&index_bytes)?;
        index.flush()?;
    }
    job.observer.event(Event::TaskFinished);
    atomic::write(&dir.join("complete"), total.to_string().as_bytes())?;
    job.observer.info(format!(
        "cache: {} {} done in {:.1} s ({:.1} MiB)",
        job.branch.as_str(),
        job.split,
        started.elapsed().as_secs_f64(),
        std::fs::metadata(&data_path).map(|m| m.len()).unwrap_or(0) as f64 / (1 << 20) as f64
    ));
    Ok(())
}
