//! MFCCs with librosa's definition (`librosa.feature.mfcc`): the DCT-II (orthonormal) of the
//! log-mel spectrogram in dB, first `n_mfcc` coefficients; and the per-clip time mean that the
//! RAVDESS study fed its CNN.

use super::logmel::{LogMel, LogMelConfig, weighted_row_sum};

/// A reusable MFCC extractor.
pub struct Mfcc {
    logmel: LogMel,
    n_mfcc: usize,
    /// `[n_mfcc][n_mels]` DCT-II basis with orthonormal scaling.
    dct: Vec<f32>,
}

impl Mfcc {
    /// Builds the extractor: `n_mfcc` coefficients of the log-mel spectrogram of `logmel`.
    /// librosa's default is 20 coefficients of [`LogMelConfig::librosa`].
    pub fn new(logmel: LogMelConfig, n_mfcc: usize) -> Self {
        let n_mels = logmel.n_mels;
        let mut dct = vec![0.0f32; n_mfcc * n_mels];
        for k in 0..n_mfcc {
            let scale = if k == 0 {
                (1.0 / n_mels as f64).sqrt()
            } else {
                (2.0 / n_mels as f64).sqrt()
            };
            for n in 0..n_mels {
                let angle =
                    std::f64::consts::PI * k as f64 * (2 * n + 1) as f64 / (2 * n_mels) as f64;
                dct[k * n_mels + n] = (scale * angle.cos()) as f32;
            }
        }
        Self {
            logmel: LogMel::new(logmel),
            n_mfcc,
            dct,
        }
    }

    /// Number of coefficients.
    pub fn n_mfcc(&self) -> usize {
        self.n_mfcc
    }

    /// Number of frames for a clip of `samples` samples.
    pub fn frames(&self, samples: usize) -> usize {
        self.logmel.frames(samples)
    }

    /// MFCCs laid out `[n_mfcc][frames]` (librosa's layout).
    pub fn compute(&self, audio: &[f32]) -> Vec<f32> {
        let n_mels = self.logmel.config().n_mels;
        let frames = self.frames(audio.len());
        let logmel = self.logmel.compute(audio);
        let mut out = vec![0.0f32; self.n_mfcc * frames];
        for (k, row) in out.chunks_exact_mut(frames).enumerate() {
            let basis = &self.dct[k * n_mels..(k + 1) * n_mels];
            weighted_row_sum(row, basis, &logmel, frames);
        }
        out
    }

    /// The time mean of each coefficient (`np.mean(mfcc, axis=1)`), `[n_mfcc]`.
    pub fn compute_mean(&self, audio: &[f32]) -> Vec<f32> {
        let frames = self.frames(audio.len());
        time_mean(&self.compute(audio), self.n_mfcc, frames)
    }
}

/// Mean over time of a `[rows][frames]` array.
pub fn time_mean(values: &[f32], rows: usize, frames: usize) -> Vec<f32> {
    (0..rows)
        .map(|r| {
            let row = &values[r * frames..(r + 1) * frames];
            (row.iter().map(|&x| x as f64).sum::<f64>() / frames as f64) as f32
        })
        .collect()
}
