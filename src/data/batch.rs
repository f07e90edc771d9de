//! Model-ready examples (token ids, normalised log-mel frames) and the burn batcher that stacks
//! them into tensors.

use crate::config::Experiment;
use crate::data::audio::AugmentConfig;
use crate::data::text::{PAD, WordTokenizer};
use crate::data::{LabelMap, Utterance};
use crate::features::{LogMel, LogMelConfig};
use crate::models::fusion::{AudioInput, FusionBatch, TextInput};
use burn::data::dataloader::batcher::Batcher;
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::borrow::Borrow;

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

/// Global mean and standard deviation of the log-mel features (dB), from the training split.
///
/// One scalar pair rather than per-utterance statistics: loudness is an emotion cue.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FeatureNorm {
    /// Mean, in dB.
    pub mean: f32,
    /// Standard deviation, in dB.
    pub std: f32,
}

/// Turns utterances into examples: tokenises, pads audio to the clip length, computes log-mels.
pub struct FrontEnd {
    /// Word tokenizer.
    pub tokenizer: WordTokenizer,
    /// Feature normalisation.
    pub norm: FeatureNorm,
    logmel: LogMel,
    clip_samples: usize,
    max_tokens: usize,
    hop_length: usize,
    n_mels: usize,
    sample_rate: u32,
}

impl FrontEnd {
    /// Fits the tokenizer and the feature normalisation on the training split, and returns the
    /// training examples built on the way (their log-mels are computed once).
    pub fn fit_transform(
        train: &[Utterance],
        experiment: &Experiment,
    ) -> anyhow::Result<(Self, Vec<Example>)> {
        let tokenizer = WordTokenizer::fit(train.iter().map(|u| u.text.as_str()), 1);
        let identity = FeatureNorm {
            mean: 0.0,
            std: 1.0,
        };
        let mut front = Self::new(tokenizer, identity, experiment);
        let mut examples = front.examples(train)?;
        // Statistics over valid frames only, so padding does not pull the mean down.
        let frames = front.frames();
        // Per-example partial sums in parallel, then a fixed-order total: the result does not
        // depend on the number of threads.
        let partials: Vec<(f64, f64, usize)> = examples
            .par_iter()
            .map(|e| {
                let mut acc = (0.0f64, 0.0f64, 0usize);
                for band in e.features.chunks(frames) {
                    for &x in &band[..e.valid_frames] {
                        acc.0 += f64::from(x);
                        acc.1 += f64::from(x) * f64::from(x);
                        acc.2 += 1;
                    }
                }
                acc
            })
            .collect();
        let (sum, sum_sq, count) = partials
            .iter()
            .fold((0.0, 0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
        let mean = sum / count.max(1) as f64;
        let var = (sum_sq / count.max(1) as f64 - mean * mean).max(1e-6);
        front.norm = FeatureNorm {
            mean: mean as f32,
            std: var.sqrt() as f32,
        };
        examples
            .par_iter_mut()
            .for_each(|e| front.normalise(&mut e.features));
        Ok((front, examples))
    }

    /// A front end with a known tokenizer and normalisation (for evaluation and prediction).
    pub fn new(tokenizer: WordTokenizer, norm: FeatureNorm, experiment: &Experiment) -> Self {
        let d = &experiment.data;
        Self {
            tokenizer,
            norm,
            logmel: LogMel::new(LogMelConfig {
                sample_rate: d.sample_rate,
                n_fft: d.n_fft,
                hop_length: d.hop_length,
                n_mels: d.n_mels,
                // Per-feature standardisation follows, so no clip-relative clamp.
                top_db: None,
                ..LogMelConfig::librosa(d.sample_rate)
            }),
            clip_samples: (d.clip_seconds * d.sample_rate as f32).round() as usize,
            max_tokens: d.max_tokens,
            hop_length: d.hop_length,
            n_mels: d.n_mels,
            sample_rate: d.sample_rate,
        }
    }

    /// Frames per (padded) clip.
    pub fn frames(&self) -> usize {
        self.logmel.frames(self.clip_samples)
    }

    /// Number of mel bands.
    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// Log-mel of the clip cut or zero-padded to the clip length, and its valid frame count.
    fn raw_features(&self, audio: &[f32]) -> (Vec<f32>, usize) {
        let valid = audio.len().min(self.clip_samples);
        let mut clip = audio[..valid].to_vec();
        clip.resize(self.clip_samples, 0.0);
        let features = self.logmel.compute(&clip);
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
    pub fn example_from_parts(&self, text: &str, audio: &[f32], label: usize) -> Example {
        let (mut features, valid_frames) = self.raw_features(audio);
        self.normalise(&mut features);
        Example {
            tokens: self.tokenizer.encode(text, self.max_tokens),
            features,
            valid_frames,
            label,
        }
    }

    fn normalise(&self, features: &mut [f32]) {
        for x in features {
            *x = (*x - self.norm.mean) / self.norm.std;
        }
    }

    /// Builds the examples of many utterances in parallel (order kept).
    pub fn examples(&self, utterances: &[Utterance]) -> anyhow::Result<Vec<Example>> {
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
                Ok(self.example_from_parts(&u.text, &audio, u.label))
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
}

/// Batches owned examples or shared ones (`Arc<Example>`), so training and evaluation can use
/// the same examples without copying their features.
impl<E: Borrow<Example> + Send + Sync> Batcher<E, FusionBatch> for FusionBatcher {
    fn batch(&self, items: Vec<E>, device: &Device) -> FusionBatch {
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
