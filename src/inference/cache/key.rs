//! The cache key: everything a frozen trunk's output depends on, by content.

use super::{Branch, CacheDtype, CacheJob};
use crate::data::Utterance;
use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::fs::File;
use std::io::Read;
use std::path::Path;
use xxhash_rust::xxh3::Xxh3;

/// Format version, part of every key: bump it when the file layout changes.
const FORMAT: u32 = 1;

/// The whole key of a job: format, branch, the encoder part (checkpoint, split point,
/// preprocessing), the data and the element type.
pub(super) fn full_key(job: &CacheJob) -> Result<Value> {
    Ok(json!({
        "format": FORMAT,
        "branch": job.branch.as_str(),
        "encoder": job.key,
        "data": data_fingerprint(job.branch, job.utterances)?,
        "utterances": job.utterances.len(),
        "dtype": match job.dtype { CacheDtype::F16 => "f16", CacheDtype::F32 => "f32" },
    }))
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

/// Fingerprint of the utterances' places in their dialogues (dialogue, turn, speaker): what
/// dialogue context reads besides the transcripts, so part of a text cache's key when context
/// is on.
pub fn turns_fingerprint(utterances: &[Utterance]) -> String {
    let mut hasher = Xxh3::new();
    for u in utterances {
        if let Some(turn) = &u.turn {
            hasher.update(turn.dialogue.as_bytes());
            hasher.update(&[0]);
            hasher.update(&turn.index.to_le_bytes());
            hasher.update(turn.speaker.as_bytes());
        }
        hasher.update(&[0xff]);
    }
    format!("{:016x}", hasher.digest())
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
