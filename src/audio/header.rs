//! The sample rate a file's header declares, read before symphonia opens it: symphonia 0.5.5
//! builds a `TimeBase` from it while probing, and that panics on 0 (WAV `fmt `, Ogg Vorbis
//! identification header, FLAC `STREAMINFO`), before any codec parameter can be checked.

use anyhow::Result;
use std::io::{Read, Seek, SeekFrom};

/// Bytes read from the start: enough for a WAV's chunks before `fmt ` (a `JUNK` or `bext`
/// chunk comes first in broadcast WAVs), an Ogg first page or a FLAC `STREAMINFO`.
const HEAD: usize = 4096;

/// The sample rate the header declares, for WAV, Ogg Vorbis and FLAC; `None` for other
/// formats or a header this short look does not find.
pub fn declared_sample_rate<R: Read + Seek>(reader: &mut R) -> Result<Option<u32>> {
    reader.seek(SeekFrom::Start(0))?;
    let mut head = Vec::with_capacity(HEAD);
    reader.take(HEAD as u64).read_to_end(&mut head)?;
    let u32_le = |at: usize| {
        head.get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    };
    Ok(match head.get(..4) {
        Some(b"RIFF") if head.get(8..12) == Some(b"WAVE") => {
            // Chunks from byte 12: id, little-endian size, body padded to an even length.
            let mut at = 12usize;
            loop {
                let (Some(id), Some(size)) = (head.get(at..at + 4), u32_le(at + 4)) else {
                    break None;
                };
                if id == b"fmt " {
                    break u32_le(at + 12);
                }
                at = match at.checked_add(8 + size as usize + (size as usize & 1)) {
                    Some(next) => next,
                    None => break None,
                };
            }
        }
        Some(b"OggS") => {
            // The first page holds the identification packet alone: "\x01vorbis", version,
            // channels, then the rate.
            let segments = usize::from(*head.get(26).unwrap_or(&0));
            let packet = 27 + segments;
            (head.get(packet..packet + 7) == Some(b"\x01vorbis"))
                .then(|| u32_le(packet + 12))
                .flatten()
        }
        Some(b"fLaC") => {
            // The first metadata block is STREAMINFO: 4-byte block header, 2+2+3+3 bytes of
            // block and frame sizes, then the rate in 20 bits.
            head.get(18..21)
                .map(|b| (u32::from(b[0]) << 12) | (u32::from(b[1]) << 4) | (u32::from(b[2]) >> 4))
        }
        _ => None,
    })
}
