//! A split's model inputs, held the way its branches need them, and the batches built from
//! them: scratch examples (word ids, log-mels), raw pretrained inputs (run through the frozen
//! trunks per batch) or frozen-trunk cache entries.

use crate::data::batch::{Example, FusionBatcher};
use crate::data::pretrained::{RawInput, audio_batch, text_batch};
use crate::inference::cache::{CachedStates, prefix_mask_bool, prefix_mask_int};
use crate::inference::trunk::Trunks;
use crate::models::fusion::{AudioInput, FusionBatch, TextInput};
use crate::models::wav2vec2::AudioState;
use burn::tensor::{Device, Tensor, TensorData};
use std::sync::Arc;

/// Where one branch's input comes from.
#[derive(Debug, Clone)]
pub enum BranchData {
    /// Scratch encoders' examples.
    Scratch(Arc<Vec<Example>>),
    /// Pretrained encoders' raw inputs; the frozen trunk runs on every batch.
    Raw(Arc<Vec<RawInput>>),
    /// The frozen trunk's cached output.
    Cached(Arc<CachedStates>),
}

/// The inputs of one split.
#[derive(Debug, Clone)]
pub struct SplitInputs {
    /// Class index of each utterance.
    pub labels: Vec<usize>,
    /// Text branch input (text models).
    pub text: Option<BranchData>,
    /// Audio branch input (audio models).
    pub audio: Option<BranchData>,
}

impl SplitInputs {
    /// Number of utterances.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Builds batches of a split on a device.
#[derive(Clone)]
pub struct InputBatcher {
    /// Frozen trunks (plain device).
    pub trunks: Trunks,
    /// Scratch batcher (log-mel shape).
    pub scratch: FusionBatcher,
    /// Padding id of the pretrained tokenizer.
    pub pad_id: u32,
}

/// Moves a trunk output (plain device) to `device` (which may be the autodiff one).
fn lift<const D: usize, K: burn::tensor::kind::Autodiff>(
    t: Tensor<D, K>,
    device: &Device,
) -> Tensor<D, K> {
    if device.is_autodiff() {
        t.autodiff()
    } else {
        t
    }
}

impl InputBatcher {
    /// The batch of `indices` of `split`, on `device`.
    pub fn batch(&self, split: &SplitInputs, indices: &[usize], device: &Device) -> FusionBatch {
        let plain = device.clone().inner();
        let scratch = [&split.text, &split.audio]
            .into_iter()
            .flatten()
            .find_map(|d| match d {
                BranchData::Scratch(examples) => Some(examples),
                _ => None,
            })
            .map(|examples| {
                let items: Vec<&Example> = indices.iter().map(|&i| &examples[i]).collect();
                self.scratch.batch(items, device)
            });
        let text = split.text.as_ref().map(|data| match data {
            BranchData::Scratch(_) => scratch
                .as_ref()
                .and_then(|b| b.text.clone())
                .expect("scratch batch has text"),
            BranchData::Raw(raw) => {
                let ids: Vec<&[u32]> = indices.iter().map(|&i| raw[i].ids.as_slice()).collect();
                match self.trunks.text(text_batch(&ids, self.pad_id, &plain)) {
                    TextInput::Tokens { ids, mask } => TextInput::Tokens {
                        ids: lift(ids, device),
                        mask: lift(mask, device),
                    },
                    TextInput::Hidden { states, mask } => TextInput::Hidden {
                        states: lift(states, device),
                        mask: lift(mask, device),
                    },
                }
            }
            BranchData::Cached(cache) => {
                let (states, rows) = cache.batch(indices, device);
                TextInput::Hidden {
                    states,
                    mask: prefix_mask_int(&rows, device),
                }
            }
        });
        let audio = split.audio.as_ref().map(|data| match data {
            BranchData::Scratch(_) => scratch
                .as_ref()
                .and_then(|b| b.audio.clone())
                .expect("scratch batch has audio"),
            BranchData::Raw(raw) => {
                let clips: Vec<_> = indices.iter().map(|&i| &raw[i].clip).collect();
                AudioInput::Wav2Vec2(match self.trunks.audio(audio_batch(&clips, &plain)) {
                    AudioState::Waveform {
                        values,
                        attention_mask,
                    } => AudioState::Waveform {
                        values: lift(values, device),
                        attention_mask: lift(attention_mask, device),
                    },
                    AudioState::Conv {
                        features,
                        frame_mask,
                    } => AudioState::Conv {
                        features: lift(features, device),
                        frame_mask: lift(frame_mask, device),
                    },
                    AudioState::Hidden { x, frame_mask } => AudioState::Hidden {
                        x: lift(x, device),
                        frame_mask: lift(frame_mask, device),
                    },
                })
            }
            BranchData::Cached(cache) => {
                let (x, rows) = cache.batch(indices, device);
                let frame_mask = prefix_mask_bool(&rows, device);
                AudioInput::Wav2Vec2(if cache.conv {
                    AudioState::Conv {
                        features: x,
                        frame_mask,
                    }
                } else {
                    AudioState::Hidden { x, frame_mask }
                })
            }
        });
        let targets: Vec<i64> = indices.iter().map(|&i| split.labels[i] as i64).collect();
        FusionBatch {
            text,
            audio,
            targets: Tensor::from_data(TensorData::new(targets, [indices.len()]), device),
        }
    }
}
