//! Model-ready examples (token ids, normalised log-mel frames) and the burn batcher that stacks
//! them into tensors.

use crate::audio::AugmentConfig;
use crate::core::LabelMap;
use crate::data::Utterance;
use crate::data::text::{PAD, WordTokenizer};
use crate::features::mfcc::Mfcc;
use crate::features::{FeatureKind, LogMel, LogMelConfig};
use crate::models::fusion::{AudioInput, FusionBatch, TextInput};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::collections::BTreeMap;

/// One utterance, ready for the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// `[CLS]` + word ids, at most `data.max_tokens` long.
    pub tokens: Vec<u32>,
    /// Normalised log-mel features, `[n_mels][frames]`, padded to the clip length.
    pub features: Vec<f32>,
    /// Frames that cover real audio; the rest is padding.
    pub valid_frames: usize,
    /// Class index.
    pub label: usize,
}

/// Feature standardisation fitted on the training split: one global mean and standard
/// deviation for log-mels (dB), or one pair per coefficient for MFCCs (whose scales differ by
/// orders of magnitude).
///
/// Statistics of the training split rather than per utterance: loudness is an emotion cue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureNorm {
    /// Global mean.
    pub mean: f32,
    /// Global standard deviation.
    pub std: f32,
    /// Per-row (coefficient) mean and standard deviation; when present, used instead.
    #[serde(default)]
    pub rows: Vec<(f32, f32)>,
}

/// How the built-in encoders' features are standardised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureNormKind {
    /// With statistics of the training split (loudness differences between clips are kept).
    #[default]
    Train,
    /// Each clip on its own, per row over its valid frames (cepstral mean and variance
    /// normalisation): removes channel and speaker offsets, which helps on unseen speakers.
    Utterance,
    /// Per row, with the statistics of all clips of the clip's speaker in the same split
    /// (speaker normalisation): removes each speaker's voice and recording offsets but keeps
    /// the differences between that speaker's clips (loudness, pitch range). Test speakers
    /// are standardised with their own clips' statistics, read without labels. Clips of an
    /// unknown speaker (e.g. files given to `predict`) form one group; a single clip is then
    /// standardised on its own, as `utterance`.
    Speaker,
}

/// What the front end of the built-in encoders computes (`[data]` keys of the same names).
#[derive(Debug, Clone, PartialEq)]
pub struct FrontEndConfig {
    /// Audio sample rate in Hz.
    pub sample_rate: u32,
    /// Clips are cut or zero-padded to this many seconds.
    pub clip_seconds: f32,
    /// Texts are cut to this many tokens (the first one is `[CLS]`).
    pub max_tokens: usize,
    /// Log-mel or MFCC features.
    pub features: FeatureKind,
    /// FFT size, in samples.
    pub n_fft: usize,
    /// Hop between frames, in samples.
    pub hop_length: usize,
    /// Mel bands.
    pub n_mels: usize,
    /// MFCC coefficients (`features = "mfcc"`).
    pub n_mfcc: usize,
    /// How features are standardised.
    pub feature_norm: FeatureNormKind,
}

impl FrontEndConfig {
    /// Samples of a (cut or padded) clip.
    pub fn clip_samples(&self) -> usize {
        (self.clip_seconds * self.sample_rate as f32).round() as usize
    }

    /// Feature frames of a (cut or padded) clip.
    pub fn frames(&self) -> usize {
        crate::features::frame_count(self.clip_samples(), self.hop_length)
    }
}

/// The feature extractor of the built-in audio encoders.
enum Extractor {
    LogMel(LogMel),
    Mfcc(Mfcc),
}

/// Turns utterances into examples: tokenises, pads audio to the clip length, computes log-mels.
pub struct FrontEnd {
    /// Word tokenizer.
    pub tokenizer: WordTokenizer,
    /// Feature normalisation.
    pub norm: FeatureNorm,
    extractor: Extractor,
    clip_samples: usize,
    max_tokens: usize,
    hop_length: usize,
    rows: usize,
    sample_rate: u32,
    mode: FeatureNormKind,
}

/// Standardises each row of `[rows][frames]` features over its first `valid` frames (cepstral
/// mean and variance normalisation per utterance); padding frames become 0.
fn standardise_rows(features: &mut [f32], frames: usize, valid: usize) {
    for row in features.chunks_mut(frames.max(1)) {
        let n = valid.min(row.len()).max(1) as f64;
        let mean = row[..valid.min(row.len())]
            .iter()
            .map(|&x| f64::from(x))
            .sum::<f64>()
            / n;
        let var = row[..valid.min(row.len())]
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n;
        let std = var.max(1e-10).sqrt();
        for (i, x) in row.iter_mut().enumerate() {
            *x = if i < valid {
                ((f64::from(*x) - mean) / std) as f32
            } else {
                0.0
            };
        }
    }
}

/// Standardises `[rows][frames]` features with `norm` (per row when it has row statistics).
fn normalise_with(norm: &FeatureNorm, features: &mut [f32]) {
    if norm.rows.is_empty() {
        for x in features {
            *x = (*x - norm.mean) / norm.std;
        }
    } else {
        let frames = features.len() / norm.rows.len().max(1);
        for (row, &(mean, std)) in features.chunks_mut(frames.max(1)).zip(&norm.rows) {
            for x in row {
                *x = (*x - mean) / std;
            }
        }
    }
}

impl FrontEnd {
    /// Fits the tokenizer and the feature normalisation on the training split, and returns the
    /// training examples built on the way (their log-mels are computed once).
    pub fn fit_transform(
        train: &[Utterance],
        config: &FrontEndConfig,
    ) -> anyhow::Result<(Self, Vec<Example>)> {
        let tokenizer = WordTokenizer::fit(train.iter().map(|u| u.text.as_str()), 1);
        let identity = FeatureNorm {
            mean: 0.0,
            std: 1.0,
            rows: Vec::new(),
        };
        let mut front = Self::new(tokenizer, identity, config);
        match front.mode {
            // Each example is already standardised on its own, or with its speaker's clips;
            // the training split's statistics are kept for the record only.
            FeatureNormKind::Utterance => {
                let examples = front.examples(train)?;
                Ok((front, examples))
            }
            FeatureNormKind::Speaker => {
                let raw = front.raw_examples(train)?;
                front.norm = front.fit_norm(&raw.iter().collect::<Vec<_>>(), true);
                let examples = front.normalise_by_speaker(raw, train, None);
                Ok((front, examples))
            }
            FeatureNormKind::Train => {
                let mut examples = front.raw_examples(train)?;
                front.norm =
                    front.fit_norm(&examples.iter().collect::<Vec<_>>(), front.row_stats());
                examples
                    .par_iter_mut()
                    .for_each(|e| front.normalise(&mut e.features));
                Ok((front, examples))
            }
        }
    }

    /// Whether the training split's statistics are per row: per coefficient for MFCCs (whose
    /// scales differ by orders of magnitude), one global pair for log-mels (dB).
    fn row_stats(&self) -> bool {
        matches!(self.extractor, Extractor::Mfcc(_))
    }

    /// Standardisation statistics of `examples` (raw features), over valid frames only so
    /// padding does not pull the mean down: one pair per row when `row_wise`, else one global
    /// pair.
    fn fit_norm(&self, examples: &[&Example], row_wise: bool) -> FeatureNorm {
        let frames = self.frames();
        // Per-example, per-row partial sums in parallel, then a fixed-order total: the result
        // does not depend on the number of threads.
        let partials: Vec<Vec<(f64, f64, usize)>> = examples
            .par_iter()
            .map(|e| {
                e.features
                    .chunks(frames)
                    .map(|row| {
                        row[..e.valid_frames].iter().fold((0.0, 0.0, 0), |acc, &x| {
                            let x = f64::from(x);
                            (acc.0 + x, acc.1 + x * x, acc.2 + 1)
                        })
                    })
                    .collect()
            })
            .collect();
        let mut per_row = vec![(0.0f64, 0.0f64, 0usize); self.rows];
        for p in &partials {
            for (total, part) in per_row.iter_mut().zip(p) {
                *total = (total.0 + part.0, total.1 + part.1, total.2 + part.2);
            }
        }
        let stats = |(sum, sum_sq, count): (f64, f64, usize)| {
            let mean = sum / count.max(1) as f64;
            let var = (sum_sq / count.max(1) as f64 - mean * mean).max(1e-6);
            (mean as f32, var.sqrt() as f32)
        };
        let total = per_row
            .iter()
            .fold((0.0, 0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
        let (mean, std) = stats(total);
        FeatureNorm {
            mean,
            std,
            rows: if row_wise {
                per_row.into_iter().map(stats).collect()
            } else {
                Vec::new()
            },
        }
    }

    /// Examples of `utterances` with raw (not standardised) features.
    fn raw_examples(&self, utterances: &[Utterance]) -> anyhow::Result<Vec<Example>> {
        utterances
            .par_iter()
            .map(|u| {
                let audio = u.samples(self.sample_rate)?;
                Ok(self.raw_example(&u.text, &audio, u.label))
            })
            .collect()
    }

    fn raw_example(&self, text: &str, audio: &[f32], label: usize) -> Example {
        let (features, valid_frames) = self.raw_features(audio);
        Example {
            tokens: self.tokenizer.encode(text, self.max_tokens),
            features,
            valid_frames,
            label,
        }
    }

    /// Per-row statistics of each speaker's raw examples (`raw[i]` is `utterances[i]`'s).
    fn speaker_norms(
        &self,
        raw: &[Example],
        utterances: &[Utterance],
    ) -> BTreeMap<u32, FeatureNorm> {
        let mut members: BTreeMap<u32, Vec<&Example>> = BTreeMap::new();
        for (e, u) in raw.iter().zip(utterances) {
            members.entry(u.speaker).or_default().push(e);
        }
        members
            .into_iter()
            .map(|(speaker, examples)| (speaker, self.fit_norm(&examples, true)))
            .collect()
    }

    /// Standardises raw examples of `utterances` (`raw[i]` is `utterances[i]`'s, or a copy of
    /// it) with their speaker's per-row statistics: those of `norms` when given (augmented
    /// copies use their originals' statistics), else of the examples themselves.
    fn normalise_by_speaker(
        &self,
        mut raw: Vec<Example>,
        utterances: &[Utterance],
        norms: Option<&BTreeMap<u32, FeatureNorm>>,
    ) -> Vec<Example> {
        let own;
        let norms = match norms {
            Some(norms) => norms,
            None => {
                own = self.speaker_norms(&raw, utterances);
                &own
            }
        };
        raw.par_iter_mut().zip(utterances).for_each(|(e, u)| {
            self.normalise_as_speaker(&norms[&u.speaker], e);
        });
        raw
    }

    /// Standardises `example` with its speaker's statistics; padding frames become 0 (the
    /// mean), as with per-utterance standardisation, so a clip alone is treated the same.
    fn normalise_as_speaker(&self, norm: &FeatureNorm, example: &mut Example) {
        normalise_with(norm, &mut example.features);
        let frames = self.frames().max(1);
        let valid = example.valid_frames.min(frames);
        for row in example.features.chunks_mut(frames) {
            row[valid..].fill(0.0);
        }
    }

    /// Examples of `utterances` standardised with the statistics of their own group
    /// (`group[i]` is utterance i's group, e.g. its corpus or its speaker) rather than the
    /// training split's: cross-corpus evaluation's per-corpus and per-speaker normalisation.
    /// A front end that standardises each utterance on its own ignores the groups.
    pub fn examples_normalised_by_group(
        &self,
        utterances: &[Utterance],
        group: &[usize],
    ) -> anyhow::Result<Vec<Example>> {
        anyhow::ensure!(
            group.len() == utterances.len(),
            "{} groups for {} utterances",
            group.len(),
            utterances.len()
        );
        if self.mode == FeatureNormKind::Utterance {
            return self.examples(utterances);
        }
        let mut examples = self.raw_examples(utterances)?;
        let mut groups: Vec<usize> = group.to_vec();
        groups.sort_unstable();
        groups.dedup();
        for g in groups {
            let members: Vec<usize> = (0..examples.len()).filter(|&i| group[i] == g).collect();
            let norm = self.fit_norm(
                &members.iter().map(|&i| &examples[i]).collect::<Vec<_>>(),
                self.row_stats() || self.mode == FeatureNormKind::Speaker,
            );
            for &i in &members {
                if self.mode == FeatureNormKind::Speaker {
                    self.normalise_as_speaker(&norm, &mut examples[i]);
                } else {
                    normalise_with(&norm, &mut examples[i].features);
                }
            }
        }
        Ok(examples)
    }

    /// A front end with a known tokenizer and normalisation (for evaluation and prediction).
    pub fn new(tokenizer: WordTokenizer, norm: FeatureNorm, d: &FrontEndConfig) -> Self {
        Self {
            tokenizer,
            norm,
            extractor: {
                let config = LogMelConfig {
                    sample_rate: d.sample_rate,
                    n_fft: d.n_fft,
                    hop_length: d.hop_length,
                    n_mels: d.n_mels,
                    // Standardisation follows, so no clip-relative clamp.
                    top_db: None,
                    ..LogMelConfig::librosa(d.sample_rate)
                };
                match d.features {
                    FeatureKind::Logmel => Extractor::LogMel(LogMel::new(config)),
                    FeatureKind::Mfcc => Extractor::Mfcc(Mfcc::new(config, d.n_mfcc)),
                }
            },
            clip_samples: d.clip_samples(),
            max_tokens: d.max_tokens,
            hop_length: d.hop_length,
            rows: match d.features {
                FeatureKind::Logmel => d.n_mels,
                FeatureKind::Mfcc => d.n_mfcc,
            },
            sample_rate: d.sample_rate,
            mode: d.feature_norm,
        }
    }

    /// Frames per (padded) clip.
    pub fn frames(&self) -> usize {
        match &self.extractor {
            Extractor::LogMel(l) => l.frames(self.clip_samples),
            Extractor::Mfcc(m) => m.frames(self.clip_samples),
        }
    }

    /// Feature rows per frame (mel bands or MFCC coefficients).
    pub fn n_mels(&self) -> usize {
        self.rows
    }

    /// Log-mel of the clip cut or zero-padded to the clip length, and its valid frame count.
    fn raw_features(&self, audio: &[f32]) -> (Vec<f32>, usize) {
        let valid = audio.len().min(self.clip_samples);
        let mut clip = audio[..valid].to_vec();
        clip.resize(self.clip_samples, 0.0);
        let features = match &self.extractor {
            Extractor::LogMel(l) => l.compute(&clip),
            Extractor::Mfcc(m) => m.compute(&clip),
        };
        // A frame is valid when its centre lies on real audio.
        let valid_frames = (valid.div_ceil(self.hop_length)).clamp(1, self.frames());
        (features, valid_frames)
    }

    /// Builds the example of one utterance.
    pub fn example(&self, utterance: &Utterance) -> anyhow::Result<Example> {
        let audio = utterance.samples(self.sample_rate)?;
        Ok(self.example_from_parts(&utterance.text, &audio, utterance.label))
    }

    /// Builds an example from a transcript and audio samples (label is carried through).
    /// A clip on its own has no speaker group: with speaker normalisation it is standardised
    /// on its own.
    pub fn example_from_parts(&self, text: &str, audio: &[f32], label: usize) -> Example {
        let mut example = self.raw_example(text, audio, label);
        match self.mode {
            FeatureNormKind::Train => self.normalise(&mut example.features),
            FeatureNormKind::Utterance | FeatureNormKind::Speaker => {
                standardise_rows(&mut example.features, self.frames(), example.valid_frames)
            }
        }
        example
    }

    fn normalise(&self, features: &mut [f32]) {
        normalise_with(&self.norm, features);
    }

    /// Builds the examples of many utterances in parallel (order kept); with speaker
    /// normalisation each speaker's clips among `utterances` give its statistics.
    pub fn examples(&self, utterances: &[Utterance]) -> anyhow::Result<Vec<Example>> {
        if self.mode == FeatureNormKind::Speaker {
            let raw = self.raw_examples(utterances)?;
            return Ok(self.normalise_by_speaker(raw, utterances, None));
        }
        utterances.par_iter().map(|u| self.example(u)).collect()
    }

    /// Augmented copies of the training utterances (`augment.copies` per utterance of the
    /// chosen classes). Each copy's transforms and noise come from an RNG seeded with
    /// `(seed, utterance index, copy)`, so the copies do not depend on the thread count.
    pub fn augmented_examples(
        &self,
        train: &[Utterance],
        labels: &LabelMap,
        augment: &AugmentConfig,
        sample_rate: u32,
        seed: u64,
    ) -> anyhow::Result<Vec<Example>> {
        if !augment.enabled() {
            return Ok(Vec::new());
        }
        let jobs: Vec<(usize, usize)> = train
            .iter()
            .enumerate()
            .filter(|(_, u)| augment.applies_to(labels.name(u.label)))
            .flat_map(|(i, _)| (0..augment.copies).map(move |c| (i, c)))
            .collect();
        // With speaker normalisation a copy is standardised with its original's speaker
        // statistics (the augmentation's changes stay visible to the model).
        let norms = match self.mode {
            FeatureNormKind::Speaker => Some(self.speaker_norms(&self.raw_examples(train)?, train)),
            _ => None,
        };
        jobs.par_iter()
            .map(|&(i, copy)| {
                let u = &train[i];
                let stream = ((i as u64) << 16) | copy as u64;
                let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xA06_u64.rotate_left(40));
                rng.set_stream(stream);
                let augmentation = augment.draw(&mut rng);
                let audio = augmentation
                    .apply(&u.samples(sample_rate)?, sample_rate, &mut rng)
                    .map_err(|e| e.context(format!("augmenting {}", u.id)))?;
                Ok(match &norms {
                    Some(norms) => {
                        let mut example = self.raw_example(&u.text, &audio, u.label);
                        self.normalise_as_speaker(&norms[&u.speaker], &mut example);
                        example
                    }
                    None => self.example_from_parts(&u.text, &audio, u.label),
                })
            })
            .collect()
    }
}

/// Stacks examples into a [`FusionBatch`].
#[derive(Debug, Clone)]
pub struct FusionBatcher {
    n_mels: usize,
    frames: usize,
}

impl FusionBatcher {
    /// A batcher for features of `n_mels` bands and `frames` frames.
    pub fn new(n_mels: usize, frames: usize) -> Self {
        Self { n_mels, frames }
    }

    /// Stacks `items` into one batch on `device`: owned examples or shared ones
    /// (`Arc<Example>`), so training and evaluation can use the same examples without copying
    /// their features.
    pub fn batch<E: Borrow<Example>>(&self, items: Vec<E>, device: &Device) -> FusionBatch {
        let items: Vec<&Example> = items.iter().map(Borrow::borrow).collect();
        let batch = items.len();
        let width = items
            .iter()
            .map(|e| e.tokens.len())
            .max()
            .unwrap_or(1)
            .max(1);
        let mut tokens = Vec::with_capacity(batch * width);
        let mut token_mask = Vec::with_capacity(batch * width);
        let mut audio = Vec::with_capacity(batch * self.n_mels * self.frames);
        let mut mask = Vec::with_capacity(batch * self.frames);
        let mut targets = Vec::with_capacity(batch);
        for item in items {
            for i in 0..width {
                let id = item.tokens.get(i).copied();
                tokens.push(i64::from(id.unwrap_or(PAD)));
                token_mask.push(i64::from(id.is_some()));
            }
            audio.extend_from_slice(&item.features);
            mask.extend((0..self.frames).map(|f| if f < item.valid_frames { 1.0f32 } else { 0.0 }));
            targets.push(item.label as i64);
        }
        FusionBatch {
            text: Some(TextInput::Tokens {
                ids: Tensor::from_data(TensorData::new(tokens, [batch, width]), device),
                mask: Tensor::from_data(TensorData::new(token_mask, [batch, width]), device),
            }),
            audio: Some(AudioInput::LogMel {
                features: Tensor::from_data(
                    TensorData::new(audio, [batch, self.n_mels, self.frames]),
                    device,
                ),
                mask: Tensor::from_data(TensorData::new(mask, [batch, self.frames]), device),
            }),
            targets: Tensor::from_data(TensorData::new(targets, [batch]), device),
        }
    }
}
