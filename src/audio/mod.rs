//! The audio front end: decode any supported file, downmix to mono, resample, cut or pad to a
//! fixed length with a mask, and optionally normalise as the Wav2Vec2 feature extractor does.
//!
//! Channels are averaged (as librosa does). ffmpeg's `-ac 1` differs: it sums (L+R)/2 for
//! integer output but (L+R)/sqrt(2) for float output, so ffmpeg-prepared float audio is 3 dB
//! louder than ours for stereo sources.

pub mod augment;
pub mod clip;
pub mod decode;
pub mod guard;
pub mod header;
pub mod mp4;
pub mod ogg;
pub mod resample;

pub use augment::{AugmentConfig, Augmentation};
pub use clip::{Clip, NormalizeOver, fix_length, normalize, windows};
pub use decode::{
    BadSample, BadSampleRate, DEFAULT_MAX_SECONDS, Decoded, MAX_MAGNITUDE, MAX_SAMPLE_RATE,
    MAX_SAMPLES, MIN_SAMPLE_RATE, TooLong, UnsupportedFormat, check_sample_rate, check_samples,
    decode_bytes, decode_file, decode_file_within,
};
pub use guard::{DecoderPanic, guard, inside_guard};
pub use resample::resample;

use anyhow::Result;
use std::path::Path;

/// How a file becomes model input.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioOptions {
    /// Target sample rate in Hz (16 kHz: what Wav2Vec2 was pre-trained on).
    pub sample_rate: u32,
    /// Fixed length in seconds (cut or zero-padded at the end); `None` keeps the whole clip.
    pub max_seconds: Option<f64>,
    /// Per-utterance zero-mean unit-variance normalisation, and over which samples.
    pub normalize: Option<NormalizeOver>,
}

impl Default for AudioOptions {
    /// 16 kHz, 5 s, no normalisation.
    fn default() -> Self {
        Self {
            sample_rate: 16_000,
            max_seconds: Some(5.0),
            normalize: None,
        }
    }
}

impl AudioOptions {
    /// The fixed length in samples, if any.
    pub fn length(&self) -> Option<usize> {
        self.max_seconds
            .map(|s| (s * self.sample_rate as f64).round() as usize)
    }
}

/// A loaded clip and what was noticed on the way.
#[derive(Debug, Clone)]
pub struct LoadedClip {
    /// Samples at the target rate (fixed length if asked) and the count of valid ones.
    pub clip: Clip,
    /// Duration of the decoded file in seconds, before cutting or padding.
    pub source_duration_s: f64,
    /// Channels in the file.
    pub source_channels: usize,
    /// Sample rate of the file.
    pub source_sample_rate: u32,
    /// Non-fatal problems (see [`Decoded::warnings`]).
    pub warnings: Vec<String>,
}

/// Decodes, downmixes and resamples `path` to `sample_rate` (0 keeps the file's own rate); no
/// cutting or normalisation. The samples are returned apart; the [`Decoded`] keeps the file's
/// facts (its `samples` are emptied). At most [`DEFAULT_MAX_SECONDS`] of audio is decoded, and
/// the errors are those of [`decode_file`] and [`resample`], naming the file.
pub fn load_waveform(path: &Path, sample_rate: u32) -> Result<(Vec<f32>, Decoded)> {
    let mut decoded = decode_file(path)?;
    let decoded_samples = std::mem::take(&mut decoded.samples);
    let samples = match sample_rate {
        0 => decoded_samples,
        rate if rate == decoded.sample_rate => decoded_samples,
        rate => resample(&decoded_samples, decoded.sample_rate, rate)
            .map_err(|e| e.context(format!("while resampling {}", path.display())))?,
    };
    Ok((samples, decoded))
}

/// Runs the whole front end on one file.
pub fn load_clip(path: &Path, options: &AudioOptions) -> Result<LoadedClip> {
    let (samples, decoded) = load_waveform(path, options.sample_rate)?;
    let source_duration_s = samples.len() as f64 / options.sample_rate as f64;
    Ok(LoadedClip {
        clip: prepare(samples, options),
        source_duration_s,
        source_channels: decoded.channels,
        source_sample_rate: decoded.sample_rate,
        warnings: decoded.warnings,
    })
}

/// Cuts or pads, then normalises, samples already at `options.sample_rate`.
pub fn prepare(samples: Vec<f32>, options: &AudioOptions) -> Clip {
    let length = options.length().unwrap_or(samples.len());
    let mut clip = fix_length(samples, length);
    if let Some(over) = options.normalize {
        normalize(&mut clip, over);
    }
    clip
}
