//! Pretrained encoders in memory and the frozen trunks cut from them.
//!
//! Partial fine-tuning splits each pretrained encoder in two ([`RobertaModel::split`],
//! [`Wav2Vec2Model::split`]): the trainable top goes into the [`LateFusion`] model, the frozen
//! part below it becomes a [`Trunks`] entry on the plain (non-autodiff) device in eval mode, so it
//! computes no gradients and applies no dropout. The trunk's output is either computed per
//! batch or read from the frozen-trunk cache ([`crate::inference::cache`]).

use crate::data::tokenizer::HfTokenizer;
use crate::models::fusion::TextInput;
use crate::models::nn::{SequencePooling, masked_mean_channels_last, split_batch};
use crate::models::roberta::{RobertaConfig, RobertaModel, RobertaStage, TextState};
use crate::models::wav2vec2::{AudioState, Wav2Vec2Config, Wav2Vec2Model, Wav2Vec2Stage};
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use std::path::PathBuf;

/// The frozen parts of the pretrained encoders (`None`: the branch has no frozen part).
#[derive(Debug, Clone, Default)]
pub struct Trunks {
    /// Below the trainable text layers.
    pub text: Option<RobertaStage>,
    /// Below the trainable audio layers.
    pub audio: Option<Wav2Vec2Stage>,
    /// A frozen text encoder under layer-weighted pooling: the trunk returns each hidden
    /// state pooled this way, `[batch, layers + 1, hidden]`, instead of the last layer's tokens.
    pub text_layers: Option<SequencePooling>,
    /// A frozen audio encoder under layer-weighted pooling: the trunk returns each hidden
    /// state's mean over valid frames, `[batch, layers + 1, hidden]`.
    pub audio_layers: bool,
}

impl Trunks {
    /// The trunks on `device` (a plain one: they run in eval mode).
    pub fn to_device(self, device: &Device) -> Self {
        Self {
            text: self.text.map(|t| t.to_device(device)),
            audio: self.audio.map(|a| a.to_device(device)),
            ..self
        }
    }

    /// Runs the text trunk: token ids to the hidden states the trainable layers read (or, with
    /// [`Trunks::text_layers`], to one pooled vector per hidden state, every row valid). On the
    /// CPU, parts of the batch run on the pool's threads side by side ([`split_batch`]).
    pub fn text(&self, input: TextInput) -> TextInput {
        match (&self.text, input) {
            (Some(trunk), TextInput::Tokens { ids, mask }) => {
                let [batch, _] = ids.dims();
                let parts = split_batch(batch, &ids.device(), |start, len| {
                    let (ids, mask) = (
                        ids.clone().narrow(0, start, len),
                        mask.clone().narrow(0, start, len),
                    );
                    match self.text_layers {
                        None => trunk.forward(TextState::Ids(ids), mask),
                        Some(pooling) => {
                            let valid = mask.clone().equal_elem(1);
                            let pooled = trunk
                                .forward_hidden_states(TextState::Ids(ids), mask)
                                .into_iter()
                                .map(|x| pooling.pool(x, valid.clone()))
                                .collect();
                            Tensor::stack(pooled, 1)
                        }
                    }
                });
                let states = Tensor::cat(parts, 0);
                let mask = match self.text_layers {
                    None => mask,
                    Some(_) => {
                        let [batch, layers, _] = states.dims();
                        Tensor::ones([batch, layers], &states.device())
                    }
                };
                TextInput::Hidden { states, mask }
            }
            (_, input) => input,
        }
    }

    /// Runs the audio trunk: waveforms to conv features or hidden states (or, with
    /// [`Trunks::audio_layers`], to one mean vector per hidden state, every row valid). On the
    /// CPU, parts of the batch run on the pool's threads side by side ([`split_batch`]).
    pub fn audio(&self, state: AudioState) -> AudioState {
        match &self.audio {
            Some(trunk) => {
                let parts = split_batch(state.batch(), &state.device(), |start, len| {
                    let part = state.narrow(start, len);
                    if !self.audio_layers {
                        return trunk.forward(part);
                    }
                    let (states, frame_mask) = trunk.forward_hidden_states(part);
                    let pooled: Vec<Tensor<2>> = states
                        .into_iter()
                        .map(|x| masked_mean_channels_last(x, Some(frame_mask.clone())))
                        .collect();
                    let layers = pooled.len();
                    AudioState::Hidden {
                        x: Tensor::stack(pooled, 1),
                        frame_mask: Tensor::<2, Int>::ones([len, layers], &frame_mask.device())
                            .equal_elem(1),
                    }
                });
                AudioState::cat(parts)
            }
            None => state,
        }
    }
}

/// A pretrained text encoder in memory, with its tokenizer.
pub struct PretrainedTextEncoder {
    /// The whole encoder (embeddings and every layer), before the split.
    pub model: RobertaModel,
    /// Its configuration (layer count, hidden size, longest input).
    pub config: RobertaConfig,
    /// The tokenizer whose ids it reads.
    pub tokenizer: HfTokenizer,
    /// Where it came from: the checkpoint folder, or a label for weights made in memory (named
    /// in descriptions and errors, and returned in [`BuiltModel::frozen`]).
    pub source: PathBuf,
}

/// A pretrained audio encoder in memory.
pub struct PretrainedAudioEncoder {
    /// The whole encoder (conv feature encoder and every layer), before the split.
    pub model: Wav2Vec2Model,
    /// Its configuration.
    pub config: Wav2Vec2Config,
    /// Where it came from (see [`PretrainedTextEncoder::source`]).
    pub source: PathBuf,
}

/// The pretrained encoders of a model (`None`: the branch is unused or trains from scratch).
#[derive(Default)]
pub struct PretrainedEncoders {
    /// Text encoder.
    pub text: Option<PretrainedTextEncoder>,
    /// Audio encoder.
    pub audio: Option<PretrainedAudioEncoder>,
}
