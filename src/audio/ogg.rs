//! A cut-off last Ogg page, which symphonia drops without a word: its header survives (with
//! the granule position where the stream ends) but its packets do not, so up to a page of
//! audio (often half of a short clip) is lost.

use anyhow::Result;
use std::io::{Read, Seek, SeekFrom};

/// A last page that ends past the end of the data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CutPage {
    /// Bytes the page declares beyond the end of the data.
    pub missing_bytes: u64,
    /// The page's granule position: for Vorbis, the sample count at its end (`None` when the
    /// page completes no packet, or its header is cut too).
    pub granule: Option<u64>,
}

impl CutPage {
    /// The warning for a stream of which `frames_read` frames at `sample_rate` were decoded.
    pub fn warning(&self, frames_read: u64, sample_rate: u32) -> String {
        let rate = f64::from(sample_rate);
        let read = frames_read as f64 / rate;
        match self.granule.filter(|&g| g > frames_read) {
            Some(end) => format!(
                "truncated: the last Ogg page is cut off ({} bytes missing): {:.2} s of audio \
                 lost ({read:.2} s of {:.2} s read)",
                self.missing_bytes,
                (end - frames_read) as f64 / rate,
                end as f64 / rate
            ),
            None => format!(
                "truncated: the last Ogg page is cut off ({} bytes missing); {read:.2} s read",
                self.missing_bytes
            ),
        }
    }
}

/// Walks the page headers of Ogg data (nothing else is read) and returns the last page if the
/// data ends inside it; `None` for complete data, or data that is not Ogg.
pub fn cut_off_last_page<R: Read + Seek>(reader: &mut R) -> Result<Option<CutPage>> {
    let length = reader.seek(SeekFrom::End(0))?;
    let mut offset = 0u64;
    let mut header = [0u8; 27];
    let mut lacing = [0u8; 255];
    while offset < length {
        reader.seek(SeekFrom::Start(offset))?;
        let available = length - offset;
        if available < 27 {
            // Only the start of a header: a cut page if it begins like one.
            let mut head = vec![0u8; available as usize];
            reader.read_exact(&mut head)?;
            let is_page = b"OggS".starts_with(&head[..head.len().min(4)]);
            return Ok((offset > 0 && is_page).then_some(CutPage {
                missing_bytes: 27 - available,
                granule: None,
            }));
        }
        reader.read_exact(&mut header)?;
        if &header[..4] != b"OggS" {
            return Ok(None);
        }
        let segments = usize::from(header[26]);
        let granule = i64::from_le_bytes(header[6..14].try_into().unwrap());
        let granule = u64::try_from(granule).ok();
        let have = (available - 27).min(segments as u64) as usize;
        reader.read_exact(&mut lacing[..have])?;
        let body: u64 = lacing[..have].iter().map(|&l| u64::from(l)).sum();
        let page_len = 27 + segments as u64 + body;
        if have < segments || page_len > available {
            // With a cut lacing table the page's true length is unknown: at least what is named.
            let declared = page_len.max(27 + segments as u64);
            return Ok(Some(CutPage {
                missing_bytes: declared.saturating_sub(available),
                granule,
            }));
        }
        offset += page_len;
    }
    Ok(None)
}
