//! Writing prepared audio: 16-bit PCM mono WAV, written under a temporary name and renamed, so
//! an interrupted run never leaves a half-written file under the final name.

use anyhow::{Context, Result};
use std::path::Path;

/// Writes `samples` (in [-1, 1]; clipped beyond) to `path` as 16-bit mono WAV at `sample_rate`.
pub fn write_wav16(path: &Path, samples: &[f32], sample_rate: u32) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut partial = path.as_os_str().to_os_string();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    let mut writer = hound::WavWriter::create(&partial, spec)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    for &x in samples {
        writer.write_sample((x.clamp(-1.0, 1.0) * 32767.0).round() as i16)?;
    }
    writer
        .finalize()
        .with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("cannot move {} to {}", partial.display(), path.display()))
}
