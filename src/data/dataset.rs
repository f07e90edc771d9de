//! In-memory corpora: utterances with their transcript, audio and label, grouped in splits.

use crate::core::LabelMap;
use crate::core::SplitName;
use anyhow::{Context, Result};
use std::borrow::Cow;
use std::path::PathBuf;

/// One utterance: what a dataset reader yields for every row.
#[derive(Debug, Clone, PartialEq)]
pub struct Utterance {
    /// Unique id within the corpus (e.g. `train-0042`).
    pub id: String,
    /// The transcript.
    pub text: String,
    /// Mono audio samples in [-1, 1] at the corpus sample rate (empty when `audio_path` is
    /// set: the file is decoded when needed, so a large corpus is not held in memory).
    pub audio: Vec<f32>,
    /// Audio file, for corpora read from manifests.
    pub audio_path: Option<PathBuf>,
    /// Class index into the corpus label map.
    pub label: usize,
    /// Speaker id.
    pub speaker: u32,
    /// Where the utterance sits in a conversation (corpora of dialogues, such as MELD's
    /// manifests with `dialogue_id` and `utterance_id` columns); `None` elsewhere.
    pub turn: Option<Turn>,
}

/// An utterance's place in a dialogue: what dialogue context ([`crate::data::context`]) is
/// built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// Dialogue id, unique within the split (MELD's `Dialogue_ID`).
    pub dialogue: String,
    /// Position within the dialogue (MELD's `Utterance_ID`): neighbours are ordered by it.
    pub index: u32,
    /// The speaker's name as written (`SPEAKER: text` in context).
    pub speaker: String,
}

impl Utterance {
    /// The audio at `sample_rate`: the samples in memory, or the file decoded, mixed to mono and
    /// resampled. Errors name the utterance and the file (a decoder crash included: see
    /// [`crate::audio::DecoderPanic`]).
    pub fn samples(&self, sample_rate: u32) -> Result<Cow<'_, [f32]>> {
        match &self.audio_path {
            None => Ok(Cow::Borrowed(&self.audio)),
            Some(path) => {
                let (samples, _) = crate::audio::load_waveform(path, sample_rate)
                    .with_context(|| format!("utterance `{}` cannot be loaded", self.id))?;
                Ok(Cow::Owned(samples))
            }
        }
    }
}

/// A dataset with its train, validation and test splits and its label map.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Class names.
    pub labels: LabelMap,
    /// Audio sample rate, in Hz.
    pub sample_rate: u32,
    /// Training split.
    pub train: Vec<Utterance>,
    /// Validation split.
    pub valid: Vec<Utterance>,
    /// Test split.
    pub test: Vec<Utterance>,
}

impl Corpus {
    /// The utterances of one split.
    pub fn split(&self, split: SplitName) -> &[Utterance] {
        match split {
            SplitName::Train => &self.train,
            SplitName::Valid => &self.valid,
            SplitName::Test => &self.test,
        }
    }

    /// Per-class counts of a split, in label-map order.
    pub fn class_counts(&self, split: SplitName) -> Vec<usize> {
        class_counts(self.split(split), self.labels.len())
    }
}

/// Per-class counts of utterances.
pub fn class_counts(utterances: &[Utterance], num_classes: usize) -> Vec<usize> {
    let mut counts = vec![0; num_classes];
    for u in utterances {
        counts[u.label] += 1;
    }
    counts
}
