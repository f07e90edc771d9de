//! Feature extraction from audio files, one job per file: decode, resample, optionally augment,
//! cut or pad, normalise, then compute the waveform, log-mel or MFCC array.

use super::logmel::{LogMel, LogMelConfig};
use super::mfcc::{Mfcc, time_mean};
use crate::audio::{self, AudioOptions, Augmentation};
use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

/// File extensions the front end decodes (matched case-insensitively, also as `x.mp4.wav`).
pub const AUDIO_EXTENSIONS: &[&str] = &["wav", "flac", "mp3", "ogg", "oga", "m4a", "mp4", "aac"];

/// Which array to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ArrayKind {
    /// MFCCs, `[n_mfcc, frames]` (or `[n_mfcc]` with the time mean).
    Mfcc,
    /// Log-mel spectrogram in dB, `[n_mels, frames]` (or `[n_mels]` with the time mean).
    Logmel,
    /// The decoded, downmixed, resampled (and optionally cut/padded, normalised) samples.
    Waveform,
}

/// Everything that decides the output array of one file.
#[derive(Debug, Clone)]
pub struct FeatureSpec {
    /// What to compute.
    pub kind: ArrayKind,
    /// Audio front end; `sample_rate = 0` keeps each file's own rate.
    pub audio: AudioOptions,
    /// Spectral parameters (its `sample_rate` is replaced by the audio's).
    pub logmel: LogMelConfig,
    /// MFCC coefficients.
    pub n_mfcc: usize,
    /// Average over time (MFCC and log-mel only).
    pub mean: bool,
    /// Augmentation to apply before cutting (a preview of what training sees).
    pub augment: Option<Augmentation>,
    /// Seed of the augmentation noise.
    pub seed: u64,
}

/// One computed array.
#[derive(Debug, Clone)]
pub struct FeatureArray {
    /// Shape, C order.
    pub shape: Vec<usize>,
    /// Values.
    pub data: Vec<f32>,
    /// Sample rate the features were computed at.
    pub sample_rate: u32,
    /// Valid samples (waveform with a fixed length only).
    pub valid: Option<usize>,
    /// Non-fatal problems found while decoding.
    pub warnings: Vec<String>,
}

/// Computes the array of one file. Errors name the file: those of [`audio::load_waveform`]
/// (including a decoder crash, [`audio::DecoderPanic`]), and values that come out NaN or
/// infinite anyway.
pub fn extract(path: &Path, spec: &FeatureSpec) -> Result<FeatureArray> {
    let (mut samples, decoded) = audio::load_waveform(path, spec.audio.sample_rate)?;
    let rate = match spec.audio.sample_rate {
        0 => decoded.sample_rate,
        rate => rate,
    };
    if let Some(augmentation) = &spec.augment {
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        samples = augmentation
            .apply(&samples, rate, &mut rng)
            .with_context(|| format!("{}: augmenting", path.display()))?;
    }
    let options = AudioOptions {
        sample_rate: rate,
        ..spec.audio.clone()
    };
    let clip = audio::prepare(samples, &options);
    let fixed = options.max_seconds.is_some();
    let (shape, data) = match spec.kind {
        ArrayKind::Waveform => (vec![clip.samples.len()], clip.samples),
        ArrayKind::Logmel | ArrayKind::Mfcc => {
            if clip.samples.is_empty() {
                bail!("{}: no samples left to compute features on", path.display());
            }
            let config = LogMelConfig {
                sample_rate: rate,
                ..spec.logmel.clone()
            };
            let (rows, values) = if spec.kind == ArrayKind::Mfcc {
                let mfcc = Mfcc::new(config, spec.n_mfcc);
                (spec.n_mfcc, mfcc.compute(&clip.samples))
            } else {
                let rows = config.n_mels;
                (rows, LogMel::new(config).compute(&clip.samples))
            };
            let frames = values.len() / rows;
            if spec.mean {
                (vec![rows], time_mean(&values, rows, frames))
            } else {
                (vec![rows, frames], values)
            }
        }
    };
    // The samples were checked when decoded; this catches what augmentation or the spectral
    // arithmetic could still turn non-finite, so that no NaN is written as a feature.
    if let Some(i) = data.iter().position(|x| !x.is_finite()) {
        bail!(
            "{}: the {} came out non-finite ({} at index {i} of {}): the audio is unusual \
             (check its level); please report it",
            path.display(),
            format!("{:?}", spec.kind).to_lowercase(),
            data[i],
            data.len()
        );
    }
    Ok(FeatureArray {
        shape,
        data,
        sample_rate: rate,
        valid: (fixed && spec.kind == ArrayKind::Waveform).then_some(clip.valid),
        warnings: decoded.warnings,
    })
}

/// Expands files and folders (searched recursively, audio extensions only, sorted) into
/// `(name, path)` pairs. A file's name is its stem; a file found in a folder is named by its
/// path relative to that folder without the extension (`Actor_01/03-01-05-01-02-01-01`).
/// Errors on a missing path, an empty folder, or two inputs with the same name.
pub fn collect_inputs(inputs: &[PathBuf]) -> Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut files = Vec::new();
            walk(input, &mut files)?;
            files.sort();
            if files.is_empty() {
                bail!(
                    "{}: no audio files found (looked for {} recursively)",
                    input.display(),
                    AUDIO_EXTENSIONS.join(", ")
                );
            }
            for file in files {
                let relative = file.strip_prefix(input).unwrap_or(&file);
                found.push((strip_audio_extension(relative), file));
            }
        } else if input.is_file() {
            let name = strip_audio_extension(Path::new(input.file_name().unwrap_or_default()));
            found.push((name, input.clone()));
        } else {
            bail!("{}: no such file or folder", input.display());
        }
    }
    let mut names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
        bail!(
            "two inputs are both named `{}`: give files with distinct names, or a folder",
            pair[0]
        );
    }
    Ok(found)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot list {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if is_audio_file(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Whether the extension is one the front end decodes.
pub fn is_audio_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// `a/b.mp4.wav` -> `a/b`, `x.flac` -> `x` (forward slashes on every platform).
fn strip_audio_extension(path: &Path) -> String {
    let mut text = path.to_string_lossy().replace('\\', "/");
    while let Some((stem, extension)) = text.rsplit_once('.') {
        if AUDIO_EXTENSIONS.contains(&extension.to_ascii_lowercase().as_str()) && !stem.is_empty() {
            text = stem.to_string();
        } else {
            break;
        }
    }
    text
}
