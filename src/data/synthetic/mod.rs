//! `synthetic`: a built-in, seeded text + speech corpus with MELD's seven classes.
//!
//! **A learnable toy for demos and tests, not a benchmark.** Each utterance has a short English
//! transcript and a 16 kHz clip of a synthetic "voice" (a harmonic tone with syllable-like
//! bursts). The emotion shows in both, imperfectly:
//! - text: about half of the non-neutral utterances carry a cue word of their class
//!   ("awesome", "scared", ...); the rest are neutral or ambiguous sentences, and some cue words
//!   are shared by two classes (surprise/fear, anger/disgust) or misleading;
//! - audio: pitch level and contour, tempo, energy, jitter and spectral tilt depend on the
//!   emotion, but pairs of classes overlap (joy/surprise, anger/joy, sadness/neutral, ...) and
//!   speaker, utterance-level variation and background noise blur them.
//!
//! So text alone cannot tell the many cue-less utterances apart, audio alone confuses the
//! overlapping pairs, and fusion beats both. Class frequencies follow MELD's training split
//! (neutral 47%, fear 2.7%). Everything is generated from one seed: the same seed gives the same
//! corpus, bit for bit, whatever the number of threads.

mod audio;
mod text;

pub use audio::{Prosody, synthesize};
pub use text::{sentence, vocabulary_words};

use crate::core::LabelMap;
use crate::data::{Corpus, Utterance};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// MELD training-split class counts (neutral, joy, surprise, anger, sadness, disgust, fear).
pub const MELD_TRAIN_COUNTS: [usize; 7] = [4710, 1743, 1205, 1109, 683, 271, 268];

/// Number of distinct speakers; speakers are split between train, valid and test.
const SPEAKERS: u32 = 48;

/// Options of the synthetic corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticOptions {
    /// Seed of everything.
    pub seed: u64,
    /// Utterances per split.
    pub train_size: usize,
    /// Validation utterances.
    pub valid_size: usize,
    /// Test utterances.
    pub test_size: usize,
    /// Sample rate, in Hz.
    pub sample_rate: u32,
    /// Longest clip, in seconds (clips are shorter or equal; the front end pads them).
    pub max_seconds: f32,
}

/// Generates the corpus. Speakers never appear in two splits.
pub fn generate(options: &SyntheticOptions) -> Corpus {
    let labels = LabelMap::meld();
    let splits = [
        ("train", options.train_size, 0..32),
        ("valid", options.valid_size, 32..38),
        ("test", options.test_size, 38..SPEAKERS),
    ];
    let mut out: Vec<Vec<Utterance>> = splits
        .iter()
        .enumerate()
        .map(|(split_index, (name, size, speakers))| {
            (0..*size)
                .into_par_iter()
                .map(|i| {
                    // One RNG per utterance, derived from (seed, split, index): the corpus does
                    // not depend on thread scheduling.
                    let stream = ((split_index as u64) << 40) | i as u64;
                    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
                    rng.set_stream(stream);
                    let label = sample_label(&mut rng);
                    let speaker = rng.random_range(speakers.clone());
                    let text = sentence(label, &mut rng);
                    let prosody = Prosody::sample(label, speaker, options.seed, &mut rng);
                    let audio =
                        synthesize(&prosody, options.sample_rate, options.max_seconds, &mut rng);
                    Utterance {
                        id: format!("{name}-{i:05}"),
                        text,
                        audio,
                        audio_path: None,
                        label,
                        speaker,
                        turn: None,
                    }
                })
                .collect()
        })
        .collect();
    let test = out.pop().expect("three splits");
    let valid = out.pop().expect("three splits");
    let train = out.pop().expect("three splits");
    Corpus {
        labels,
        sample_rate: options.sample_rate,
        train,
        valid,
        test,
    }
}

fn sample_label(rng: &mut ChaCha8Rng) -> usize {
    let total: usize = MELD_TRAIN_COUNTS.iter().sum();
    let mut x = rng.random_range(0..total);
    for (label, &count) in MELD_TRAIN_COUNTS.iter().enumerate() {
        if x < count {
            return label;
        }
        x -= count;
    }
    unreachable!("x < total")
}
