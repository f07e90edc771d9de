//! The audio target: mutated audio files through the upload path of `emofuse serve` and the
//! front end of `emofuse features`: `audio::decode_bytes` (format probed from the bytes),
//! resampling to 16 kHz, and MFCCs.
//!
//! Seeds: every committed audio fixture format (WAV u8/s16/s24/float/stereo/6-channel, FLAC,
//! MP3, Ogg Vorbis, M4A, an MP4 with a video track first) and the hostile fixtures. Besides the
//! generic byte mutations, half of the cases mutate a window near the end of the file, where an
//! MP4 keeps its `moov` index when it was not written for streaming and an Ogg its last page.

use super::mutate::Mutator;
use super::{Seed, Target, Verdict};
use crate::audio::{self, DecoderPanic, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE};
use crate::features::{LogMelConfig, Mfcc};
use anyhow::{Context, Result, bail};
use rand::RngExt;
use std::path::Path;

/// Longest decoded audio a case may have, in seconds: like a server upload, but short, so a
/// mutated length field costs milliseconds rather than the server's 600 s of decoding.
const MAX_SECONDS: f64 = 30.0;

/// The rate features are computed at (the models' rate).
const RATE: u32 = 16_000;

/// Fixtures the seeds come from, under the repository root.
const SEED_DIRS: [&str; 2] = ["tests/fixtures/audio", "tests/fixtures/hostile"];

/// Bytes at the end of a file that the tail mutations aim at.
const TAIL_BYTES: usize = 1024;

/// Mutated audio through decode, resample and MFCC.
pub struct AudioTarget {
    seeds: Vec<Seed>,
    mfcc: Mfcc,
}

impl AudioTarget {
    /// Seeds: the audio files (by extension) of the fixture folders under `root`, sorted.
    pub fn new(root: &Path) -> Result<Self> {
        let mut seeds = Vec::new();
        for dir in SEED_DIRS {
            let dir = root.join(dir);
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .with_context(|| format!("cannot list {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| crate::features::extract::is_audio_file(p))
                .collect();
            files.sort();
            for file in files {
                let bytes = std::fs::read(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                if !bytes.is_empty() {
                    seeds.push(Seed {
                        name: file.display().to_string(),
                        bytes,
                    });
                }
            }
        }
        if seeds.is_empty() {
            bail!(
                "no audio fixtures under {} (run from the repository root, or pass --root)",
                root.display()
            );
        }
        Ok(Self {
            seeds,
            mfcc: Mfcc::new(LogMelConfig::librosa(RATE), 20),
        })
    }
}

/// The verdict of a refused input: a caught upstream panic, or a clean error.
fn refused(error: &anyhow::Error) -> Verdict {
    match error.downcast_ref::<DecoderPanic>() {
        Some(panic) => Verdict::CaughtPanic(format!("{}: {}", panic.library, panic.message)),
        None => Verdict::Refused(format!("{error:#}")),
    }
}

impl Target for AudioTarget {
    fn name(&self) -> &'static str {
        "audio"
    }

    fn seeds(&self) -> &[Seed] {
        &self.seeds
    }

    fn mutate(&self, mutator: &mut Mutator, seed: &Seed) -> (Vec<u8>, Vec<String>) {
        let (mut bytes, mut applied) = self.mutate_bytes(mutator, seed);
        // symphonia drops an Ogg page whose CRC is wrong, so without this the mutations of an
        // Ogg file would only ever test that; most cases get their CRCs made right again.
        if bytes.starts_with(b"OggS") && mutator.rng().random_bool(0.8) {
            applied.push(format!("{} Ogg page CRCs fixed", fix_ogg_crcs(&mut bytes)));
        }
        (bytes, applied)
    }

    fn run(&mut self, input: &[u8]) -> Verdict {
        self.run_case(input)
    }
}

/// The CRC of an Ogg page (polynomial 0x04C11DB7, not reflected, initial value 0), computed
/// with the page's CRC field zeroed.
fn ogg_crc(page: &[u8]) -> u32 {
    let mut crc = 0u32;
    for (i, &byte) in page.iter().enumerate() {
        let byte = if (22..26).contains(&i) { 0 } else { byte };
        crc ^= u32::from(byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Rewrites the CRC of every whole page that a walk of the page headers finds; returns how many.
fn fix_ogg_crcs(data: &mut [u8]) -> usize {
    let mut offset = 0;
    let mut fixed = 0;
    while data.len() >= offset + 27 && &data[offset..offset + 4] == b"OggS" {
        let segments = usize::from(data[offset + 26]);
        let Some(lacing) = data.get(offset + 27..offset + 27 + segments) else {
            break;
        };
        let end = offset + 27 + segments + lacing.iter().map(|&l| usize::from(l)).sum::<usize>();
        let Some(page) = data.get(offset..end) else {
            break;
        };
        let crc = ogg_crc(page);
        data[offset + 22..offset + 26].copy_from_slice(&crc.to_le_bytes());
        fixed += 1;
        offset = end;
    }
    fixed
}

impl AudioTarget {
    /// The byte mutations: of the whole file, or of a window of its tail.
    fn mutate_bytes(&self, mutator: &mut Mutator, seed: &Seed) -> (Vec<u8>, Vec<String>) {
        let len = seed.bytes.len();
        if len <= TAIL_BYTES || mutator.rng().random_bool(0.5) {
            let (bytes, mutations) = mutator.mutate(&seed.bytes);
            return (bytes, mutations.iter().map(ToString::to_string).collect());
        }
        // A window of the tail mutated as if it were a file of its own.
        let start = len - TAIL_BYTES;
        let (tail, mutations) = mutator.mutate(&seed.bytes[start..]);
        let mut bytes = seed.bytes[..start].to_vec();
        bytes.extend_from_slice(&tail);
        let applied = mutations
            .iter()
            .map(|m| format!("in the last {TAIL_BYTES} bytes (from {start}): {m}"))
            .collect();
        (bytes, applied)
    }

    /// Decode, resample, MFCC, and the checks of what an accepted input promises.
    fn run_case(&mut self, input: &[u8]) -> Verdict {
        let decoded = match audio::decode_bytes(input.to_vec(), None, MAX_SECONDS) {
            Ok(decoded) => decoded,
            Err(error) => return refused(&error),
        };
        // What decode_bytes promises of an accepted file.
        if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&decoded.sample_rate) {
            return Verdict::Wrong(format!("accepted a rate of {} Hz", decoded.sample_rate));
        }
        if decoded.samples.is_empty()
            || audio::check_samples(&decoded.samples, decoded.sample_rate).is_err()
        {
            return Verdict::Wrong("accepted empty, non-finite or absurd samples".into());
        }
        if decoded.duration_s() > MAX_SECONDS + 1.0 {
            return Verdict::Wrong(format!(
                "accepted {:.1} s over a bound of {MAX_SECONDS} s",
                decoded.duration_s()
            ));
        }
        let samples = match audio::resample(&decoded.samples, decoded.sample_rate, RATE) {
            Ok(samples) => samples,
            Err(error) => return refused(&error),
        };
        let expected = (decoded.samples.len() as u64 * u64::from(RATE))
            .div_ceil(u64::from(decoded.sample_rate));
        if samples.len() as u64 != expected {
            return Verdict::Wrong(format!(
                "resampled {} samples to {}, not {expected}",
                decoded.samples.len(),
                samples.len()
            ));
        }
        let features = self.mfcc.compute(&samples);
        match features.iter().position(|x| !x.is_finite()) {
            Some(i) => Verdict::Wrong(format!(
                "MFCC {i} of {} is {} for accepted audio",
                features.len(),
                features[i]
            )),
            None => Verdict::Accepted,
        }
    }
}
