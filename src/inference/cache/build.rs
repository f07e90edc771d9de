//! Building (or finishing) a cache: the frozen trunk over every utterance, appended in chunks.

use super::store::read_index;
use super::{Branch, CacheDtype, CacheJob};
use crate::core::events::Event;
use crate::data::pretrained::{audio_batch, text_batch};
use crate::io::atomic;
use crate::models::fusion::TextInput;
use crate::models::wav2vec2::AudioState;
use anyhow::{Context, Result, bail};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

pub(super) fn build(job: &CacheJob, dir: &Path) -> Result<()> {
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
    atomic::write(
        &index_path,
        &done
            .iter()
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
            atomic::write(&width_path, w.to_string().as_bytes())?;
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
