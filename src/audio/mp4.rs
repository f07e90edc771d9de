//! The MP4 edit list of the audio track, which symphonia reads but does not apply.
//!
//! AAC encoders prepend priming samples (1024 at 48 kHz for AAC-LC); the MP4 edit list says
//! where the presentation starts (`media_time`) and how long it lasts (`segment_duration`).
//! ffmpeg and librosa apply it; without it, every clip would start 21 ms late and features
//! would not line up with theirs.

use anyhow::{Context, Result};
use std::io::{Read, Seek, SeekFrom};

/// The part of the decoded track that the edit list presents.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edit {
    /// Time to skip at the start (encoder priming), in seconds.
    pub start_s: f64,
    /// Presented duration in seconds, if the list bounds it.
    pub duration_s: Option<f64>,
}

impl Edit {
    /// Trims `samples` (at `sample_rate`) to the presented part.
    pub fn apply(&self, samples: &mut Vec<f32>, sample_rate: u32) {
        let start = ((self.start_s * sample_rate as f64).round() as usize).min(samples.len());
        samples.drain(..start);
        if let Some(duration) = self.duration_s {
            let keep = (duration * sample_rate as f64).round() as usize;
            if keep > 0 {
                samples.truncate(keep);
            }
        }
    }
}

/// Whether the data starts like an ISO base media file (an `ftyp` box first).
pub fn looks_like_mp4<R: Read + Seek>(reader: &mut R) -> bool {
    let mut head = [0u8; 8];
    reader
        .seek(SeekFrom::Start(0))
        .and_then(|_| reader.read_exact(&mut head))
        .map(|_| &head[4..8] == b"ftyp")
        .unwrap_or(false)
}

/// The edit of the `track_index`-th track (0-based, in file order, as symphonia numbers MP4
/// tracks), or `None` when the track has no edit list.
pub fn audio_edit<R: Read + Seek>(reader: &mut R, track_index: u32) -> Result<Option<Edit>> {
    let moov = match find_top_level(reader, b"moov")? {
        Some(moov) => moov,
        None => return Ok(None),
    };
    let movie_timescale = child(&moov, b"mvhd").map(timescale).unwrap_or(0);
    let Some(trak) = children(&moov)
        .filter(|(kind, _)| kind == b"trak")
        .nth(track_index as usize)
        .map(|(_, body)| body)
    else {
        return Ok(None);
    };
    let media_timescale = child(trak, b"mdia")
        .and_then(|mdia| child(mdia, b"mdhd"))
        .map(timescale)
        .unwrap_or(0);
    let Some(elst) = child(trak, b"edts").and_then(|edts| child(edts, b"elst")) else {
        return Ok(None);
    };
    Ok(first_edit(elst, movie_timescale, media_timescale))
}

/// Reads the body of the first top-level box of type `kind`.
fn find_top_level<R: Read + Seek>(file: &mut R, kind: &[u8; 4]) -> Result<Option<Vec<u8>>> {
    let length = file.seek(SeekFrom::End(0))?;
    let mut offset = 0u64;
    while offset + 8 <= length {
        file.seek(SeekFrom::Start(offset))?;
        let mut header = [0u8; 8];
        file.read_exact(&mut header)?;
        let mut size = u32::from_be_bytes(header[..4].try_into().unwrap()) as u64;
        let mut header_len = 8;
        if size == 1 {
            let mut large = [0u8; 8];
            file.read_exact(&mut large)?;
            size = u64::from_be_bytes(large);
            header_len = 16;
        } else if size == 0 {
            size = length - offset;
        }
        if size < header_len {
            return Ok(None);
        }
        if &header[4..8] == kind {
            let body_len = (size - header_len).min(length - offset - header_len);
            let mut body = vec![0u8; body_len as usize];
            file.read_exact(&mut body)
                .context("reading the MP4 moov box")?;
            return Ok(Some(body));
        }
        offset += size;
    }
    Ok(None)
}

/// The child boxes of a container box body, as (type, body) pairs; stops at a malformed box.
fn children(body: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut offset = 0usize;
    std::iter::from_fn(move || {
        let header = body.get(offset..offset + 8)?;
        let size = u32::from_be_bytes(header[..4].try_into().ok()?) as usize;
        let kind: [u8; 4] = header[4..8].try_into().ok()?;
        let (start, end) = match size {
            0 => (offset + 8, body.len()),
            1 => {
                let large = body.get(offset + 8..offset + 16)?;
                let size = u64::from_be_bytes(large.try_into().ok()?) as usize;
                (offset + 16, offset.checked_add(size)?)
            }
            size if size >= 8 => (offset + 8, offset + size),
            _ => return None,
        };
        let child = body.get(start..end)?;
        offset = end;
        Some((kind, child))
    })
}

fn child<'a>(body: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    children(body).find(|(k, _)| k == kind).map(|(_, b)| b)
}

/// The timescale field of an `mvhd` or `mdhd` box (both versions).
fn timescale(body: &[u8]) -> u32 {
    let offset = if body.first() == Some(&1) { 20 } else { 12 };
    body.get(offset..offset + 4)
        .map(|b| u32::from_be_bytes(b.try_into().unwrap()))
        .unwrap_or(0)
}

/// The first non-empty edit (an empty edit, `media_time = -1`, only delays the start).
fn first_edit(elst: &[u8], movie_timescale: u32, media_timescale: u32) -> Option<Edit> {
    if media_timescale == 0 {
        return None;
    }
    let version = *elst.first()?;
    let count = u32::from_be_bytes(elst.get(4..8)?.try_into().ok()?) as usize;
    let entry_len = if version == 1 { 20 } else { 12 };
    (0..count).find_map(|i| {
        let entry = elst.get(8 + i * entry_len..8 + (i + 1) * entry_len)?;
        let (duration, media_time) = if version == 1 {
            (
                u64::from_be_bytes(entry[..8].try_into().ok()?),
                i64::from_be_bytes(entry[8..16].try_into().ok()?),
            )
        } else {
            (
                u32::from_be_bytes(entry[..4].try_into().ok()?) as u64,
                i32::from_be_bytes(entry[4..8].try_into().ok()?) as i64,
            )
        };
        (media_time >= 0).then(|| Edit {
            start_s: media_time as f64 / media_timescale as f64,
            duration_s: (duration > 0 && movie_timescale > 0)
                .then(|| duration as f64 / movie_timescale as f64),
        })
    })
}
