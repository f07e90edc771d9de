//! Waveform augmentation for training data: white noise at a signal-to-noise ratio, time shift,
//! pitch shift (duration kept), speed change, gain, and random combinations of them.
//!
//! Every transform draws its parameters from a seeded RNG, so a run's augmented copies are the
//! same on every machine. Augmentation is only ever applied to the training split.

use super::resample::resample_by;
use anyhow::{Result, bail};
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

/// `[data.augment]`: which transforms to draw from and how many augmented copies to add.
///
/// Each copy applies every enabled transform with probability `probability` (and at least one),
/// in the order speed, pitch, shift, gain, noise (noise last, so the SNR holds for the final
/// signal).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentConfig {
    /// Augmented copies added per training clip (0 turns augmentation off).
    pub copies: usize,
    /// Only clips of these classes get copies (e.g. the minority classes); empty means all.
    pub classes: Vec<String>,
    /// Probability that an enabled transform is applied to a copy.
    pub probability: f64,
    /// White Gaussian noise at a signal-to-noise ratio drawn from `[min, max]` dB.
    pub noise_snr_db: Option<[f64; 2]>,
    /// Shift by up to this many seconds either way; the gap is filled with silence.
    pub shift_max_seconds: Option<f64>,
    /// Pitch shift by a number of semitones drawn from `[min, max]`, duration kept.
    pub pitch_semitones: Option<[f64; 2]>,
    /// Speed factor drawn from `[min, max]` (1.1 = 10% faster and higher, like a tape).
    pub speed: Option<[f64; 2]>,
    /// Gain factor drawn from `[min, max]` (the "dynamic value change" of the RAVDESS study).
    pub gain: Option<[f64; 2]>,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            copies: 0,
            classes: Vec::new(),
            probability: 0.5,
            noise_snr_db: None,
            shift_max_seconds: None,
            pitch_semitones: None,
            speed: None,
            gain: None,
        }
    }
}

/// One transform with its drawn parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transform {
    /// Change speed (and pitch) by this factor.
    Speed(f64),
    /// Shift the pitch by this many semitones, keeping the duration.
    Pitch(f64),
    /// Shift in time by this many seconds (positive: later).
    Shift(f64),
    /// Multiply by this factor.
    Gain(f64),
    /// Add white noise at this SNR in dB.
    Noise(f64),
}

/// A drawn combination of transforms, applied in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Augmentation {
    /// The transforms.
    pub transforms: Vec<Transform>,
}

impl AugmentConfig {
    /// Whether any copies will be made.
    pub fn enabled(&self) -> bool {
        self.copies > 0 && !self.enabled_kinds().is_empty()
    }

    /// Checks ranges; errors name the key (under `data.augment`) and the allowed range.
    pub fn validate(&self) -> Result<()> {
        let range = |key: &str, r: Option<[f64; 2]>, lo: f64, hi: f64| -> Result<()> {
            if let Some([a, b]) = r
                && !(a <= b && a >= lo && b <= hi)
            {
                bail!(
                    "data.augment.{key} = [{a}, {b}]: expected [min, max] with {lo} <= min <= max <= {hi}"
                );
            }
            Ok(())
        };
        range("noise_snr_db", self.noise_snr_db, -20.0, 100.0)?;
        range("pitch_semitones", self.pitch_semitones, -12.0, 12.0)?;
        range("speed", self.speed, 0.5, 2.0)?;
        range("gain", self.gain, 0.0, 10.0)?;
        if let Some(s) = self.shift_max_seconds
            && !(0.0..=10.0).contains(&s)
        {
            bail!("data.augment.shift_max_seconds = {s}: expected 0 to 10 seconds");
        }
        if !(0.0..=1.0).contains(&self.probability) {
            bail!(
                "data.augment.probability = {}: expected 0 to 1",
                self.probability
            );
        }
        if self.copies > 0 && self.enabled_kinds().is_empty() {
            bail!(
                "data.augment.copies = {} but no transform is enabled: set at least one of \
                 noise_snr_db, shift_max_seconds, pitch_semitones, speed, gain",
                self.copies
            );
        }
        Ok(())
    }

    /// Whether clips of class `name` get augmented copies.
    pub fn applies_to(&self, name: &str) -> bool {
        self.classes.is_empty() || self.classes.iter().any(|c| c == name)
    }

    fn enabled_kinds(&self) -> Vec<usize> {
        let enabled = [
            self.speed.is_some(),
            self.pitch_semitones.is_some(),
            self.shift_max_seconds.is_some(),
            self.gain.is_some(),
            self.noise_snr_db.is_some(),
        ];
        (0..enabled.len()).filter(|&i| enabled[i]).collect()
    }

    /// Draws one combination of transforms.
    pub fn draw(&self, rng: &mut impl Rng) -> Augmentation {
        let kinds = self.enabled_kinds();
        let mut chosen: Vec<usize> = kinds
            .iter()
            .copied()
            .filter(|_| rng.random_bool(self.probability))
            .collect();
        if chosen.is_empty() && !kinds.is_empty() {
            chosen.push(kinds[rng.random_range(0..kinds.len())]);
        }
        let mut uniform = |[a, b]: [f64; 2]| a + (b - a) * rng.random::<f64>();
        let transforms = chosen
            .into_iter()
            .map(|kind| match kind {
                0 => Transform::Speed(uniform(self.speed.unwrap())),
                1 => Transform::Pitch(uniform(self.pitch_semitones.unwrap())),
                2 => {
                    let max = self.shift_max_seconds.unwrap();
                    Transform::Shift(uniform([-max, max]))
                }
                3 => Transform::Gain(uniform(self.gain.unwrap())),
                _ => Transform::Noise(uniform(self.noise_snr_db.unwrap())),
            })
            .collect();
        Augmentation { transforms }
    }
}

impl Augmentation {
    /// Applies the transforms to `samples` at `sample_rate`. `rng` draws the noise.
    pub fn apply(&self, samples: &[f32], sample_rate: u32, rng: &mut impl Rng) -> Result<Vec<f32>> {
        let mut out = samples.to_vec();
        for transform in &self.transforms {
            out = match *transform {
                Transform::Speed(factor) => resample_by(&out, 1.0 / factor)?,
                Transform::Pitch(semitones) => pitch_shift(&out, sample_rate, semitones)?,
                Transform::Shift(seconds) => {
                    shift(&out, (seconds * sample_rate as f64).round() as i64)
                }
                Transform::Gain(factor) => out.iter().map(|&x| x * factor as f32).collect(),
                Transform::Noise(snr_db) => add_noise(&out, snr_db, rng),
            };
        }
        Ok(out)
    }

    /// A short description, e.g. `speed x1.08, noise 18.2 dB`.
    pub fn describe(&self) -> String {
        self.transforms
            .iter()
            .map(|t| match t {
                Transform::Speed(f) => format!("speed x{f:.3}"),
                Transform::Pitch(s) => format!("pitch {s:+.2} st"),
                Transform::Shift(s) => format!("shift {s:+.3} s"),
                Transform::Gain(g) => format!("gain x{g:.3}"),
                Transform::Noise(snr) => format!("noise {snr:.1} dB SNR"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Delays (`offset > 0`) or advances the signal, filling the gap with zeros; length kept.
pub fn shift(samples: &[f32], offset: i64) -> Vec<f32> {
    let n = samples.len() as i64;
    (0..n)
        .map(|i| {
            let j = i - offset;
            if (0..n).contains(&j) {
                samples[j as usize]
            } else {
                0.0
            }
        })
        .collect()
}

/// Adds white Gaussian noise whose power is the signal power divided by `10^(snr_db / 10)`.
pub fn add_noise(samples: &[f32], snr_db: f64, rng: &mut impl Rng) -> Vec<f32> {
    let power =
        samples.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / samples.len().max(1) as f64;
    let sigma = (power / 10f64.powf(snr_db / 10.0)).sqrt();
    samples
        .iter()
        .map(|&x| x + (sigma * standard_normal(rng)) as f32)
        .collect()
}

/// A standard normal draw (Box-Muller).
fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Shifts the pitch by `semitones` and keeps the duration, as `librosa.effects.pitch_shift`
/// does: stretch the time by the pitch factor, then resample back to the original length.
pub fn pitch_shift(samples: &[f32], sample_rate: u32, semitones: f64) -> Result<Vec<f32>> {
    let factor = 2f64.powf(semitones / 12.0);
    let stretched = time_stretch(samples, sample_rate, 1.0 / factor);
    let mut out = resample_by(&stretched, 1.0 / factor)?;
    out.resize(samples.len(), 0.0);
    Ok(out)
}

/// Changes the duration by `1 / rate` without changing the pitch (WSOLA: waveform-similarity
/// overlap-add with 30 ms Hann frames and a 10 ms search window, which keeps voiced speech
/// free of phasing artefacts).
pub fn time_stretch(samples: &[f32], sample_rate: u32, rate: f64) -> Vec<f32> {
    let frame = ((0.030 * sample_rate as f64) as usize).max(16) & !1;
    let hop_out = frame / 2;
    let tolerance = (0.010 * sample_rate as f64) as usize;
    let out_len = (samples.len() as f64 / rate).round() as usize;
    let window: Vec<f32> = (0..frame)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / frame as f32).cos())
        .collect();
    let at = |i: i64| -> f32 {
        if i >= 0 && (i as usize) < samples.len() {
            samples[i as usize]
        } else {
            0.0
        }
    };
    let mut out = vec![0.0f32; out_len + frame];
    let mut previous: i64 = 0;
    let frames = out_len.div_ceil(hop_out) + 1;
    for k in 0..frames {
        let nominal = (k as f64 * hop_out as f64 * rate).round() as i64;
        let chosen = if k == 0 {
            0
        } else {
            // The natural continuation of the previous frame is the target to match.
            let target = previous + hop_out as i64;
            let mut best = (f32::MIN, nominal);
            for delta in -(tolerance as i64)..=(tolerance as i64) {
                let candidate = nominal + delta;
                let score: f32 = (0..frame as i64)
                    .step_by(2)
                    .map(|i| at(target + i) * at(candidate + i))
                    .sum();
                if score > best.0 {
                    best = (score, candidate);
                }
            }
            best.1
        };
        let start = k * hop_out;
        for (i, w) in window.iter().enumerate() {
            if let Some(slot) = out.get_mut(start + i) {
                *slot += w * at(chosen + i as i64);
            }
        }
        previous = chosen;
    }
    out.truncate(out_len);
    out
}
