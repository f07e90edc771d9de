//! Log-mel spectrograms with librosa's definitions (`librosa.feature.melspectrogram` followed
//! by `librosa.power_to_db`): centred frames zero-padded by `n_fft / 2` on both sides
//! (librosa 0.11's `pad_mode="constant"`), periodic Hann window, |STFT|^power, Slaney mel scale
//! with Slaney (area) normalisation, then `10 * log10(max(amin, S) / ref)` clamped to
//! `top_db` below the clip-wide maximum.

use realfft::{RealFftPlanner, RealToComplex};
use std::f32::consts::PI;
use std::sync::Arc;

/// Parameters of the log-mel front end. [`LogMelConfig::librosa`] gives librosa's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct LogMelConfig {
    /// Sample rate of the input, in Hz.
    pub sample_rate: u32,
    /// FFT size (also the window length), in samples.
    pub n_fft: usize,
    /// Hop between frames, in samples.
    pub hop_length: usize,
    /// Number of mel bands.
    pub n_mels: usize,
    /// Lowest filter edge in Hz.
    pub fmin: f32,
    /// Highest filter edge in Hz (`None`: sample_rate / 2).
    pub fmax: Option<f32>,
    /// Exponent of the magnitude (2: power, 1: magnitude).
    pub power: f32,
    /// Floor of the power before the logarithm.
    pub amin: f32,
    /// Clamp to this many dB below the clip's maximum (`None`: no clamp).
    pub top_db: Option<f32>,
}

impl LogMelConfig {
    /// librosa's defaults at `sample_rate`: n_fft 2048, hop 512, 128 mels, fmin 0, fmax sr/2,
    /// power 2, amin 1e-10, top_db 80.
    pub fn librosa(sample_rate: u32) -> Self {
        Self {
            sample_rate,
            n_fft: 2048,
            hop_length: 512,
            n_mels: 128,
            fmin: 0.0,
            fmax: None,
            power: 2.0,
            amin: 1e-10,
            top_db: Some(80.0),
        }
    }
}

/// Frames whose power spectra [`LogMel::mel_power`] keeps together: 32 x 201 bins (n_fft 400)
/// is 26 KB, inside a core's L1 data cache.
const BLOCK: usize = 32;

/// A reusable log-mel extractor (the FFT plan and mel filters are built once).
pub struct LogMel {
    config: LogMelConfig,
    window: Vec<f32>,
    /// Each filter's first FFT bin and its weights over consecutive bins.
    filters: Vec<(usize, Vec<f32>)>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl LogMel {
    /// Builds the extractor.
    pub fn new(config: LogMelConfig) -> Self {
        let n = config.n_fft;
        let window = (0..n)
            .map(|i| 0.5 - 0.5 * (2.0 * PI * i as f32 / n as f32).cos())
            .collect();
        let fmax = config.fmax.unwrap_or(config.sample_rate as f32 / 2.0);
        let filters = mel_filters(config.sample_rate, n, config.n_mels, config.fmin, fmax);
        // A real-input FFT: half the work of a complex one of the same size.
        let fft = RealFftPlanner::new().plan_fft_forward(n);
        Self {
            config,
            window,
            filters,
            fft,
        }
    }

    /// The parameters.
    pub fn config(&self) -> &LogMelConfig {
        &self.config
    }

    /// The mel filters (`librosa.filters.mel`), each as its first FFT bin and its weights over
    /// the consecutive bins it covers.
    pub fn filters(&self) -> impl Iterator<Item = (usize, &[f32])> {
        self.filters.iter().map(|(first, w)| (*first, w.as_slice()))
    }

    /// Number of frames for a clip of `samples` samples.
    pub fn frames(&self, samples: usize) -> usize {
        frame_count(samples, self.config.hop_length)
    }

    /// Mel spectrogram (power, before the logarithm), laid out `[n_mels][frames]`.
    ///
    /// Frames go through the FFT one by one, but their power spectra are kept bins-major for a
    /// block of 32 frames, so that each band's filter becomes a weighted sum of whole
    /// rows (vectorised over the block's frames) instead of a short dot product per frame.
    /// Every value is summed in the same order as a per-frame dot product, so the output is
    /// bit-identical to that simpler formulation (the published results depend on these bits).
    pub fn mel_power(&self, audio: &[f32]) -> Vec<f32> {
        let n = self.config.n_fft;
        let pad = n / 2;
        let frames = self.frames(audio.len());
        let bins = n / 2 + 1;
        let mut out = vec![0.0; self.config.n_mels * frames];
        let mut frame_in = self.fft.make_input_vec();
        let mut bins_out = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        // `spectra[bin * BLOCK + j]`: the power of `bin` in the block's frame `j`.
        let mut spectra = vec![0.0f32; bins * BLOCK];
        let mut band_sums = [0.0f32; BLOCK];
        let power = self.config.power;
        for block_start in (0..frames).step_by(BLOCK) {
            let count = BLOCK.min(frames - block_start);
            for j in 0..count {
                let start = (block_start + j) * self.config.hop_length;
                // The frame covers audio[start - pad .. start - pad + n] of the zero-padded
                // signal; copy the part that lies on real audio, zeros elsewhere.
                let first = start as isize - pad as isize;
                let lo = (-first).clamp(0, n as isize) as usize;
                let hi = (audio.len() as isize - first).clamp(lo as isize, n as isize) as usize;
                frame_in[..lo].fill(0.0);
                frame_in[hi..].fill(0.0);
                if hi > lo {
                    let src =
                        &audio[(first + lo as isize) as usize..(first + hi as isize) as usize];
                    for ((slot, &x), &w) in frame_in[lo..hi]
                        .iter_mut()
                        .zip(src)
                        .zip(&self.window[lo..hi])
                    {
                        *slot = x * w;
                    }
                }
                self.fft
                    .process_with_scratch(&mut frame_in, &mut bins_out, &mut scratch)
                    .expect("buffers sized by the plan");
                for (bin, c) in bins_out.iter().enumerate() {
                    let energy = c.norm_sqr();
                    spectra[bin * BLOCK + j] = if power == 2.0 {
                        energy
                    } else {
                        energy.sqrt().powf(power)
                    };
                }
            }
            for (band, (first, weights)) in self.filters.iter().enumerate() {
                let sums = &mut band_sums[..count];
                weighted_row_sum(sums, weights, &spectra[first * BLOCK..], BLOCK);
                out[band * frames + block_start..][..count].copy_from_slice(sums);
            }
        }
        out
    }

    /// Log-mel spectrogram in dB, laid out `[n_mels][frames]` (row-major, band first).
    pub fn compute(&self, audio: &[f32]) -> Vec<f32> {
        let mut out = self.mel_power(audio);
        power_to_db(&mut out, self.config.amin, self.config.top_db);
        out
    }
}

/// `out[j] = Σ_i weights[i] · rows[i · stride + j]`, summed in `i` order from zero for every `j`
/// (the order of a sequential dot product, so the bits are the same), vectorised over `j` and
/// compiled for AVX2 when the CPU has it (no fused multiply-adds: the same bits either way).
pub(crate) fn weighted_row_sum(out: &mut [f32], weights: &[f32], rows: &[f32], stride: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        unsafe { weighted_row_sum_avx2(out, weights, rows, stride) };
        return;
    }
    weighted_row_sum_portable(out, weights, rows, stride);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn weighted_row_sum_avx2(out: &mut [f32], weights: &[f32], rows: &[f32], stride: usize) {
    weighted_row_sum_portable(out, weights, rows, stride);
}

#[inline(always)]
fn weighted_row_sum_portable(out: &mut [f32], weights: &[f32], rows: &[f32], stride: usize) {
    out.fill(0.0);
    let n = out.len();
    for (i, &w) in weights.iter().enumerate() {
        let row = &rows[i * stride..i * stride + n];
        for (o, &x) in out.iter_mut().zip(row) {
            *o += w * x;
        }
    }
}

/// `librosa.power_to_db` with `ref = 1.0`, in place: `10 * log10(max(amin, S))`, then values
/// more than `top_db` below the maximum of the whole array are raised to that floor.
pub fn power_to_db(values: &mut [f32], amin: f32, top_db: Option<f32>) {
    let mut max = f32::NEG_INFINITY;
    for v in values.iter_mut() {
        *v = 10.0 * v.max(amin).log10();
        max = max.max(*v);
    }
    if let Some(top_db) = top_db {
        let floor = max - top_db;
        for v in values.iter_mut() {
            *v = v.max(floor);
        }
    }
}

// Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

fn hz_to_mel(hz: f64) -> f64 {
    if hz >= MIN_LOG_HZ {
        MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / log_step()
    } else {
        hz / F_SP
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    if mel >= MIN_LOG_MEL {
        MIN_LOG_HZ * (log_step() * (mel - MIN_LOG_MEL)).exp()
    } else {
        F_SP * mel
    }
}

/// Triangular Slaney-normalised mel filters between `fmin` and `fmax`
/// (`librosa.filters.mel` with `htk=False, norm="slaney"`), each as its first bin and the weights
/// of the consecutive bins it covers (a triangle's support is contiguous).
fn mel_filters(
    sample_rate: u32,
    n_fft: usize,
    n_mels: usize,
    fmin: f32,
    fmax: f32,
) -> Vec<(usize, Vec<f32>)> {
    let bins = n_fft / 2 + 1;
    let fft_freqs: Vec<f64> = (0..bins)
        .map(|i| i as f64 * sample_rate as f64 / n_fft as f64)
        .collect();
    let (min_mel, max_mel) = (hz_to_mel(fmin as f64), hz_to_mel(fmax as f64));
    let mel_points: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(min_mel + (max_mel - min_mel) * i as f64 / (n_mels + 1) as f64))
        .collect();
    (0..n_mels)
        .map(|m| {
            let (lo, centre, hi) = (mel_points[m], mel_points[m + 1], mel_points[m + 2]);
            let norm = 2.0 / (hi - lo);
            let weights: Vec<(usize, f32)> = fft_freqs
                .iter()
                .enumerate()
                .filter_map(|(bin, &f)| {
                    let w = ((f - lo) / (centre - lo)).min((hi - f) / (hi - centre));
                    (w > 0.0).then_some((bin, (w * norm) as f32))
                })
                .collect();
            match (weights.first(), weights.last()) {
                (Some(&(first, _)), Some(&(last, _))) => {
                    // Positive weights form one run of bins; fill any gap with zeros anyway.
                    let mut run = vec![0.0f32; last - first + 1];
                    for (bin, w) in weights {
                        run[bin - first] = w;
                    }
                    (first, run)
                }
                // A band narrower than one FFT bin gets no weight, as in librosa.
                _ => (0, Vec::new()),
            }
        })
        .collect()
}

/// Frames of `samples` samples at `hop_length` (librosa's centred frames: one per hop, plus the
/// last).
pub fn frame_count(samples: usize, hop_length: usize) -> usize {
    1 + samples / hop_length
}
