//! Speech-like audio of the synthetic corpus: a harmonic "voice" in syllable-sized bursts whose
//! prosody depends on the emotion, the speaker and the utterance.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f32::consts::PI;

/// Class-level prosody means, in label order (neutral, joy, surprise, anger, sadness, disgust,
/// fear): pitch offset (semitones), contour, tempo (syllables/s), energy (dB), jitter, tilt.
/// Pairs overlap on purpose so that audio alone stays imperfect.
const CLASS_PROSODY: [(f32, Contour, f32, f32, f32, f32); 7] = [
    (0.0, Contour::Falling(1.0), 4.0, 0.0, 0.006, 1.3),
    (3.5, Contour::Bell(3.0), 4.7, 4.0, 0.010, 0.9),
    (4.5, Contour::Rising(5.0), 4.3, 3.0, 0.010, 0.9),
    (2.5, Contour::Falling(3.0), 5.1, 7.0, 0.020, 0.6),
    (-2.5, Contour::Falling(2.0), 3.1, -5.0, 0.010, 1.6),
    (-0.5, Contour::Falling(1.5), 3.5, 1.0, 0.022, 1.1),
    (4.0, Contour::Tremolo(0.8), 4.9, -1.5, 0.030, 1.1),
];

/// Shape of the pitch movement over an utterance, in semitones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Contour {
    /// Pitch falls by this many semitones from start to end.
    Falling(f32),
    /// Pitch rises by this many semitones from start to end.
    Rising(f32),
    /// Pitch rises then falls, peaking at this many semitones mid-utterance.
    Bell(f32),
    /// A 6 Hz tremor of this many semitones.
    Tremolo(f32),
}

impl Contour {
    fn semitones(self, position: f32, seconds: f32) -> f32 {
        match self {
            Contour::Falling(d) => d * (0.5 - position),
            Contour::Rising(d) => d * (position - 0.5),
            Contour::Bell(d) => d * (PI * position).sin() - d * 0.5,
            Contour::Tremolo(d) => d * (2.0 * PI * 6.0 * seconds).sin(),
        }
    }
}

/// The prosody of one utterance.
#[derive(Debug, Clone, PartialEq)]
pub struct Prosody {
    /// Mean fundamental frequency, in Hz.
    pub f0: f32,
    /// Pitch movement.
    pub contour: Contour,
    /// Syllables per second.
    pub tempo: f32,
    /// Number of syllables.
    pub syllables: usize,
    /// Level in dB relative to a moderate voice.
    pub energy_db: f32,
    /// Relative random pitch perturbation.
    pub jitter: f32,
    /// Harmonic k has amplitude k^-tilt (larger is darker).
    pub tilt: f32,
    /// Signal-to-noise ratio of the background noise, in dB.
    pub snr_db: f32,
}

impl Prosody {
    /// Draws the prosody of an utterance of class `label` by `speaker`.
    ///
    /// Speaker traits (voice pitch, tempo, loudness) come from `(corpus_seed, speaker)` alone, so
    /// a speaker sounds the same in every utterance.
    pub fn sample(label: usize, speaker: u32, corpus_seed: u64, rng: &mut ChaCha8Rng) -> Self {
        let (pitch, contour, tempo, energy, jitter, tilt) = CLASS_PROSODY[label];
        let mut voice = ChaCha8Rng::seed_from_u64(corpus_seed ^ 0x5eed_5eed);
        voice.set_stream(u64::from(speaker) + 1);
        let base_f0 = if speaker.is_multiple_of(2) {
            115.0
        } else {
            205.0
        } * voice.random_range(0.85..1.15);
        let speaker_tempo = voice.random_range(0.85..1.15);
        let speaker_db = voice.random_range(-3.0..3.0);

        let semitones = pitch + normal(rng) * 1.8;
        Prosody {
            f0: base_f0 * 2f32.powf(semitones / 12.0),
            contour: scale_contour(contour, rng.random_range(0.5..1.5)),
            tempo: tempo * speaker_tempo * (1.0 + normal(rng) * 0.1),
            syllables: rng.random_range(4..=7),
            energy_db: energy + speaker_db + normal(rng) * 2.5,
            jitter: (jitter * rng.random_range(0.5..1.5)).max(0.0),
            tilt: tilt + normal(rng) * 0.2,
            snr_db: rng.random_range(12.0..30.0),
        }
    }
}

fn scale_contour(contour: Contour, k: f32) -> Contour {
    match contour {
        Contour::Falling(d) => Contour::Falling(d * k),
        Contour::Rising(d) => Contour::Rising(d * k),
        Contour::Bell(d) => Contour::Bell(d * k),
        Contour::Tremolo(d) => Contour::Tremolo(d * k),
    }
}

/// Standard normal draw (Box-Muller).
fn normal(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// Renders an utterance: short leading silence, voiced syllables, noise throughout.
///
/// The clip lasts as long as the utterance (plus margins), at most `max_seconds`.
pub fn synthesize(
    prosody: &Prosody,
    sample_rate: u32,
    max_seconds: f32,
    rng: &mut ChaCha8Rng,
) -> Vec<f32> {
    let sr = sample_rate as f32;
    let speech_seconds = prosody.syllables as f32 / prosody.tempo;
    let lead = rng.random_range(0.02..0.12);
    let total = ((lead + speech_seconds + 0.1) * sr).min(max_seconds * sr) as usize;
    let speech_start = (lead * sr) as usize;
    let syllable = sr / prosody.tempo;
    let gain = 0.08 * 10f32.powf(prosody.energy_db / 20.0);
    let nyquist_margin = 0.45 * sr;
    // Jitter is a slowly varying perturbation, redrawn every 5 ms and smoothed.
    let jitter_hop = (0.005 * sr) as usize;
    let mut jitter_target = 0.0f32;
    let mut jitter_state = 0.0f32;

    // Harmonic amplitudes k^-tilt, computed once per utterance.
    let amplitudes: Vec<f32> = (1..=24).map(|k| (k as f32).powf(-prosody.tilt)).collect();
    let mut out = vec![0.0f32; total];
    let mut phase = 0.0f32;
    for (n, sample) in out.iter_mut().enumerate().skip(speech_start) {
        let t = (n - speech_start) as f32;
        let seconds = t / sr;
        if seconds >= speech_seconds {
            break;
        }
        if n % jitter_hop == 0 {
            jitter_target = normal(rng) * prosody.jitter;
        }
        jitter_state += 0.05 * (jitter_target - jitter_state);
        let position = seconds / speech_seconds;
        let f0 = prosody.f0
            * 2f32.powf(prosody.contour.semitones(position, seconds) / 12.0)
            * (1.0 + jitter_state);
        phase = (phase + 2.0 * PI * f0 / sr) % (2.0 * PI);
        // Syllable envelope: voiced for 70% of each syllable, raised-sine shaped.
        let within = (t % syllable) / syllable;
        if within >= 0.7 {
            continue;
        }
        let envelope = (PI * within / 0.7).sin().powi(2);
        // Harmonics by complex rotation: cheaper than one sin() per harmonic.
        let (s1, c1) = phase.sin_cos();
        let (mut s, mut c) = (s1, c1);
        let mut voice = 0.0f32;
        for (k, amplitude) in amplitudes.iter().enumerate() {
            if (k + 1) as f32 * f0 >= nyquist_margin {
                break;
            }
            voice += s * amplitude;
            let next_s = s * c1 + c * s1;
            c = c * c1 - s * s1;
            s = next_s;
        }
        *sample = gain * envelope * voice;
    }
    let speech_power = out.iter().map(|x| x * x).sum::<f32>() / out.len().max(1) as f32;
    let noise_std = (speech_power / 10f32.powf(prosody.snr_db / 10.0)).sqrt();
    for sample in &mut out {
        *sample = (*sample + noise_std * normal(rng)).clamp(-1.0, 1.0);
    }
    out
}
