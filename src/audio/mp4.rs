//! The MP4 edit list of the audio track, which symphonia reads but does not apply, and the
//! sanity check of an MP4's sample tables that runs before symphonia parses them.
//!
//! AAC encoders prepend priming samples (1024 at 48 kHz for AAC-LC); the MP4 edit list says
//! where the presentation starts (`media_time`) and how long it lasts (`segment_duration`).
//! ffmpeg and librosa apply it; without it, every clip would start 21 ms late and features
//! would not line up with theirs.

use anyhow::{Context, Result, bail};
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

/// The largest table box read into memory for [`check_tables`]. The tables of a
/// 10-hour AAC track take about 7 MB (4 bytes per 1024-sample frame in `stsz`, plus `stco`).
const MAX_INDEX_BOX: u64 = 64 << 20;

/// Checks every sample table of an MP4 against the size of its box and of the file, before
/// symphonia reads them: symphonia 0.5.5's isomp4 reader reserves `entry count` entries up
/// front (`stsc`, `stsz`, `stco`, `co64`, `stts`: `Vec::with_capacity`) and reads one packet
/// per `stsz` size (`read_boxed_slice_exact`), so a count of 0xFFFFFFFF in a 3 KB file asks
/// for 68 GB and aborts the process; and a `mdhd` timescale of 0 makes it panic (a zero time
/// base). Errors say which box is wrong.
///
/// `start` is where the MP4 begins: symphonia's probe finds an `ftyp` box anywhere in the
/// first MiB (after junk, or another format's damaged header) and reads the file from there;
/// [`possible_starts`] lists the candidates.
pub fn check_tables<R: Read + Seek>(reader: &mut R, start: u64) -> Result<()> {
    let length = reader.seek(SeekFrom::End(0))?;
    check_boxes(reader, start, length, length, 0)
}

/// How far symphonia 0.5.5's probe searches for a format marker (`Probe::PROBE_SEARCH_LIMIT`).
const PROBE_SEARCH_LIMIT: u64 = 1 << 20;

/// Offsets where an MP4 could begin for symphonia's probe: 4 bytes before every `ftyp` in the
/// first MiB (the MP4 marker it searches for is the box type).
pub fn possible_starts<R: Read + Seek>(reader: &mut R) -> Result<Vec<u64>> {
    reader.seek(SeekFrom::Start(0))?;
    let mut head = Vec::new();
    reader.take(PROBE_SEARCH_LIMIT + 8).read_to_end(&mut head)?;
    Ok(head
        .windows(4)
        .enumerate()
        .filter(|&(i, w)| i >= 4 && w == b"ftyp")
        .map(|(i, _)| i as u64 - 4)
        .collect())
}

/// Boxes that hold other boxes on the way to the sample tables.
const CONTAINERS: [&[u8; 4]; 9] = [
    b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"mvex", b"moof", b"traf",
];

/// Deepest nesting walked: the sample tables sit at depth 5 (`moov/trak/mdia/minf/stbl`), and
/// symphonia parses no deeper.
const MAX_DEPTH: usize = 8;

/// Checks the boxes in `start..end` of the file. Each box is taken at the size it declares,
/// even past its parent's end or the end of the file: symphonia reads boxes that way (its
/// reads are not bounded by the parent), so the walk must see what it will see.
fn check_boxes<R: Read + Seek>(
    reader: &mut R,
    start: u64,
    end: u64,
    file_len: u64,
    depth: usize,
) -> Result<()> {
    let mut offset = start;
    while offset.saturating_add(8) <= end.min(file_len) && depth < MAX_DEPTH {
        reader.seek(SeekFrom::Start(offset))?;
        let mut header = [0u8; 16];
        let have = (file_len - offset).min(16) as usize;
        reader.read_exact(&mut header[..have])?;
        let kind: [u8; 4] = header[4..8].try_into().unwrap();
        let (size, header_len) = match u32::from_be_bytes(header[..4].try_into().unwrap()) {
            0 => (end.saturating_sub(offset), 8),
            1 if have == 16 => (u64::from_be_bytes(header[8..16].try_into().unwrap()), 16),
            1 => break,
            size => (u64::from(size), 8),
        };
        if size < header_len {
            break;
        }
        let box_end = offset.saturating_add(size);
        if CONTAINERS.contains(&&kind) {
            check_boxes(reader, offset + header_len, box_end, file_len, depth + 1)?;
        } else if TABLES.contains(&&kind) {
            let body_len = box_end.min(file_len).saturating_sub(offset + header_len);
            if body_len > MAX_INDEX_BOX {
                bail!(
                    "the MP4 `{}` box takes {body_len} bytes, more than any audio index needs \
                     ({} MiB)",
                    String::from_utf8_lossy(&kind),
                    MAX_INDEX_BOX >> 20
                );
            }
            reader.seek(SeekFrom::Start(offset + header_len))?;
            let mut body = vec![0u8; body_len as usize];
            reader
                .read_exact(&mut body)
                .context("reading the MP4 index")?;
            check_box(&kind, &body, file_len).map_err(|e| {
                anyhow::anyhow!("corrupt MP4 `{}` box: {e}", String::from_utf8_lossy(&kind))
            })?;
        }
        offset = box_end;
    }
    Ok(())
}

/// The boxes [`check_box`] knows.
const TABLES: [&[u8; 4]; 10] = [
    b"stsc", b"stco", b"stss", b"co64", b"stts", b"ctts", b"elst", b"stsz", b"trun", b"mdhd",
];

/// Checks one full box (version and flags first) of the sample index.
fn check_box(kind: &[u8; 4], body: &[u8], file_len: u64) -> Result<()> {
    let u32_at = |at: usize| -> Result<u64> {
        body.get(at..at + 4)
            .map(|b| u64::from(u32::from_be_bytes(b.try_into().unwrap())))
            .with_context(|| format!("it ends after {} bytes", body.len()))
    };
    let version = body.first().copied().unwrap_or(0);
    // (offset of the entry count, bytes before the entries, bytes per entry)
    let (count_at, table_at, entry_len) = match kind {
        b"stsc" => (4, 8, 12),
        b"stco" | b"stss" => (4, 8, 4),
        b"co64" | b"stts" | b"ctts" => (4, 8, 8),
        b"elst" => (4, 8, if version == 1 { 20 } else { 12 }),
        b"stsz" => {
            let constant = u32_at(4)?;
            if constant > file_len {
                bail!("a sample size of {constant} bytes, in a file of {file_len} bytes");
            }
            (8, 12, if constant == 0 { 4 } else { 0 })
        }
        b"trun" => {
            let flags = u32_at(0)? & 0x00FF_FFFF;
            let optional = 4 * ((flags & 0x1 != 0) as usize + (flags & 0x4 != 0) as usize);
            (4, 8 + optional, 4 * (flags & 0xF00).count_ones() as usize)
        }
        b"mdhd" => {
            if timescale(body) == 0 {
                bail!("the track's timescale is 0 (its time unit would be infinite)");
            }
            return Ok(());
        }
        _ => return Ok(()),
    };
    let count = u32_at(count_at)?;
    let needed = table_at as u64 + count * entry_len as u64;
    if needed > body.len() as u64 {
        bail!(
            "it declares {count} entries ({needed} bytes) but holds {} bytes",
            body.len()
        );
    }
    if kind == b"stsz" && entry_len > 0 {
        for i in 0..count as usize {
            let size = u32_at(table_at + 4 * i)?;
            if size > file_len {
                bail!("sample {i} declares {size} bytes, in a file of {file_len} bytes");
            }
        }
    }
    Ok(())
}

/// A box's (type, offset, header length, size).
type BoxHeader = ([u8; 4], u64, u64, u64);

/// The header of every top-level box, up to the first malformed one.
fn top_level_boxes<R: Read + Seek>(file: &mut R, length: u64) -> Result<Vec<BoxHeader>> {
    let mut boxes = Vec::new();
    let mut offset = 0u64;
    while offset + 8 <= length {
        file.seek(SeekFrom::Start(offset))?;
        let mut header = [0u8; 8];
        file.read_exact(&mut header)?;
        let mut size = u64::from(u32::from_be_bytes(header[..4].try_into().unwrap()));
        let mut header_len = 8;
        if size == 1 {
            let mut large = [0u8; 8];
            if file.read_exact(&mut large).is_err() {
                break;
            }
            size = u64::from_be_bytes(large);
            header_len = 16;
        } else if size == 0 {
            size = length - offset;
        }
        if size < header_len || offset + header_len > length {
            break;
        }
        boxes.push((header[4..8].try_into().unwrap(), offset, header_len, size));
        offset = offset.saturating_add(size);
    }
    Ok(boxes)
}

/// Reads the body of the first top-level box of type `kind`.
fn find_top_level<R: Read + Seek>(file: &mut R, kind: &[u8; 4]) -> Result<Option<Vec<u8>>> {
    let length = file.seek(SeekFrom::End(0))?;
    let Some((_, offset, header_len, size)) = top_level_boxes(file, length)?
        .into_iter()
        .find(|(k, ..)| k == kind)
    else {
        return Ok(None);
    };
    let body_len = (size - header_len).min(length - offset - header_len);
    file.seek(SeekFrom::Start(offset + header_len))?;
    let mut body = vec![0u8; body_len as usize];
    file.read_exact(&mut body)
        .context("reading the MP4 moov box")?;
    Ok(Some(body))
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
