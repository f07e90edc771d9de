//! Partial fine-tuning: the encoder split into a frozen trunk and a trainable top, each a
//! [`Wav2Vec2Stage`], and the [`AudioState`] that passes between them.

use crate::models::finetune::TrainLayers;
use crate::models::nn::attention_mask_bias;
use crate::models::wav2vec2::encoder::{
    Wav2Vec2Encoder, Wav2Vec2EncoderLayer, Wav2Vec2PositionalConvEmbedding,
};
use crate::models::wav2vec2::feature_encoder::{Wav2Vec2FeatureEncoder, Wav2Vec2FeatureProjection};
use crate::models::wav2vec2::frames::frame_mask;
use crate::models::wav2vec2::model::Wav2Vec2Model;
use anyhow::{Result, bail};
use burn::module::Module;
use burn::nn::{Dropout, LayerNorm};
use burn::tensor::{Bool, Device, Int, Tensor};

/// What flows between the stages of a split Wav2Vec2 encoder.
#[derive(Debug, Clone)]
pub enum AudioState {
    /// Normalised waveforms `[batch, samples]` and their attention mask (1 audio, 0 padding).
    Waveform {
        /// `[batch, samples]`.
        values: Tensor<2>,
        /// `[batch, samples]`.
        attention_mask: Tensor<2, Int>,
    },
    /// Conv feature encoder output `[batch, frames, conv_dim]` and the valid frames.
    Conv {
        /// `[batch, frames, conv_dim]`.
        features: Tensor<3>,
        /// `[batch, frames]`.
        frame_mask: Tensor<2, Bool>,
    },
    /// Transformer hidden states `[batch, frames, hidden]` and the valid frames.
    Hidden {
        /// `[batch, frames, hidden]`.
        x: Tensor<3>,
        /// `[batch, frames]`.
        frame_mask: Tensor<2, Bool>,
    },
}

impl AudioState {
    /// Clips in the batch.
    pub fn batch(&self) -> usize {
        match self {
            Self::Waveform { values, .. } => values.dims()[0],
            Self::Conv { features, .. } => features.dims()[0],
            Self::Hidden { x, .. } => x.dims()[0],
        }
    }

    /// The device the state's tensors are on.
    pub fn device(&self) -> Device {
        match self {
            Self::Waveform { values, .. } => values.device(),
            Self::Conv { features, .. } => features.device(),
            Self::Hidden { x, .. } => x.device(),
        }
    }

    /// Clips `start..start + len` of the batch (views, no copy).
    pub fn narrow(&self, start: usize, len: usize) -> Self {
        match self {
            Self::Waveform {
                values,
                attention_mask,
            } => Self::Waveform {
                values: values.clone().narrow(0, start, len),
                attention_mask: attention_mask.clone().narrow(0, start, len),
            },
            Self::Conv {
                features,
                frame_mask,
            } => Self::Conv {
                features: features.clone().narrow(0, start, len),
                frame_mask: frame_mask.clone().narrow(0, start, len),
            },
            Self::Hidden { x, frame_mask } => Self::Hidden {
                x: x.clone().narrow(0, start, len),
                frame_mask: frame_mask.clone().narrow(0, start, len),
            },
        }
    }

    /// Joins parts of one batch (all of one kind, in batch order) back into one batch.
    ///
    /// # Panics
    /// When `parts` is empty or mixes kinds.
    pub fn cat(parts: Vec<Self>) -> Self {
        const ONE_KIND: &str = "parts of one batch are of one kind";
        let mut parts = parts.into_iter();
        let first = parts.next().expect("at least one part");
        let rest: Vec<Self> = parts.collect();
        if rest.is_empty() {
            return first;
        }
        match first {
            Self::Waveform {
                values,
                attention_mask,
            } => {
                let (mut all, mut masks) = (vec![values], vec![attention_mask]);
                for part in rest {
                    let Self::Waveform {
                        values,
                        attention_mask,
                    } = part
                    else {
                        panic!("{ONE_KIND}");
                    };
                    all.push(values);
                    masks.push(attention_mask);
                }
                Self::Waveform {
                    values: Tensor::cat(all, 0),
                    attention_mask: Tensor::cat(masks, 0),
                }
            }
            Self::Conv {
                features,
                frame_mask,
            } => {
                let (mut all, mut masks) = (vec![features], vec![frame_mask]);
                for part in rest {
                    let Self::Conv {
                        features,
                        frame_mask,
                    } = part
                    else {
                        panic!("{ONE_KIND}");
                    };
                    all.push(features);
                    masks.push(frame_mask);
                }
                Self::Conv {
                    features: Tensor::cat(all, 0),
                    frame_mask: Tensor::cat(masks, 0),
                }
            }
            Self::Hidden { x, frame_mask } => {
                let (mut all, mut masks) = (vec![x], vec![frame_mask]);
                for part in rest {
                    let Self::Hidden { x, frame_mask } = part else {
                        panic!("{ONE_KIND}");
                    };
                    all.push(x);
                    masks.push(frame_mask);
                }
                Self::Hidden {
                    x: Tensor::cat(all, 0),
                    frame_mask: Tensor::cat(masks, 0),
                }
            }
        }
    }
}

/// Feature projection, positional convolution and (post-LayerNorm models) the encoder
/// LayerNorm: what turns conv features into the first layer's input. No transformers class:
/// the part of `Wav2Vec2Model` between the conv encoder and the first layer.
///
/// # Shapes
/// - input `features`: `[batch, frames, conv_dim]`; `frame_mask`: `[batch, frames]`
/// - output: `[batch, frames, hidden]`
#[derive(Module, Debug)]
pub struct Wav2Vec2Front {
    feature_projection: Wav2Vec2FeatureProjection,
    pos_conv: Wav2Vec2PositionalConvEmbedding,
    norm: Option<LayerNorm>,
    dropout: Dropout,
}

impl Wav2Vec2Front {
    fn forward(&self, features: Tensor<3>, frame_mask: &Tensor<2, Bool>) -> Tensor<3> {
        let [batch, frames, _] = features.dims();
        let (x, _) = self.feature_projection.forward(features);
        // Padded frames enter the positional convolution as zeros (as in `Wav2Vec2Encoder`).
        let x = x * frame_mask.clone().float().reshape([batch, frames, 1]);
        let mut x = x.clone() + self.pos_conv.forward(x);
        if let Some(norm) = &self.norm {
            x = norm.forward(x);
        }
        self.dropout.forward(x)
    }
}

/// A contiguous part of a [`Wav2Vec2Model`] (see [`Wav2Vec2Model::split`]).
#[derive(Module, Debug)]
pub struct Wav2Vec2Stage {
    conv: Option<Wav2Vec2FeatureEncoder>,
    front: Option<Wav2Vec2Front>,
    layers: Vec<Wav2Vec2EncoderLayer>,
    /// The final LayerNorm of pre-LayerNorm models, after the last layer.
    final_norm: Option<LayerNorm>,
    #[module(skip)]
    conv_kernel: Vec<usize>,
    #[module(skip)]
    conv_stride: Vec<usize>,
}

impl Wav2Vec2Model {
    /// Splits the encoder into a frozen stage and a trainable stage: the last `n` transformer
    /// layers train for [`TrainLayers::Last`] (`n` capped at the number of layers); for
    /// [`TrainLayers::All`] everything above the conv feature encoder trains, and the conv
    /// encoder too when `train_conv`.
    pub fn split(self, train: TrainLayers, train_conv: bool) -> (Wav2Vec2Stage, Wav2Vec2Stage) {
        let Wav2Vec2Model {
            feature_extractor,
            feature_projection,
            encoder,
            conv_kernel,
            conv_stride,
        } = self;
        let Wav2Vec2Encoder {
            pos_conv,
            layer_norm,
            dropout,
            layers,
            stable_layer_norm,
        } = encoder;
        let front = Wav2Vec2Front {
            feature_projection,
            pos_conv,
            norm: (!stable_layer_norm).then(|| layer_norm.clone()),
            dropout,
        };
        let final_norm = stable_layer_norm.then_some(layer_norm);
        let stage = |conv, front, layers, final_norm| Wav2Vec2Stage {
            conv,
            front,
            layers,
            final_norm,
            conv_kernel: conv_kernel.clone(),
            conv_stride: conv_stride.clone(),
        };
        let mut layers = layers;
        match train {
            TrainLayers::All => {
                let (frozen_conv, trained_conv) = if train_conv {
                    (None, Some(feature_extractor))
                } else {
                    (Some(feature_extractor), None)
                };
                (
                    stage(frozen_conv, None, Vec::new(), None),
                    stage(trained_conv, Some(front), layers, final_norm),
                )
            }
            TrainLayers::Last(n) => {
                let top = layers.split_off(layers.len() - n.min(layers.len()));
                let (frozen_norm, trained_norm) = if top.is_empty() {
                    (final_norm, None)
                } else {
                    (None, final_norm)
                };
                (
                    stage(Some(feature_extractor), Some(front), layers, frozen_norm),
                    stage(None, None, top, trained_norm),
                )
            }
        }
    }
}

impl Wav2Vec2Model {
    /// Puts a split encoder back together: the inverse of [`Self::split`], with whatever the
    /// trainable stage learned. An error when the two stages are not the halves of one split
    /// (a part in both stages or in neither, or the trainable stage below the frozen one).
    /// `None` stands for an empty stage.
    pub fn join(frozen: Option<Wav2Vec2Stage>, trained: Option<Wav2Vec2Stage>) -> Result<Self> {
        fn one<T>(a: Option<T>, b: Option<T>, what: &str) -> Result<T> {
            match (a, b) {
                (Some(x), None) | (None, Some(x)) => Ok(x),
                _ => bail!(
                    "the two audio encoder stages are not the halves of one split: {what} must \
                     be in exactly one of them"
                ),
            }
        }
        let (frozen, trained) = match (frozen, trained) {
            (Some(f), Some(t)) => (f, t),
            (Some(stage), None) | (None, Some(stage)) => {
                let empty = Wav2Vec2Stage {
                    conv: None,
                    front: None,
                    layers: Vec::new(),
                    final_norm: None,
                    conv_kernel: stage.conv_kernel.clone(),
                    conv_stride: stage.conv_stride.clone(),
                };
                if stage.conv.is_some() {
                    (stage, empty)
                } else {
                    (empty, stage)
                }
            }
            (None, None) => bail!("no audio encoder stage to join"),
        };
        let below = (trained.conv.is_some() && frozen.front.is_some())
            || (trained.front.is_some() && !frozen.layers.is_empty());
        if below {
            bail!(
                "the two audio encoder stages are not the halves of one split: the trainable \
                 stage starts below the frozen one"
            );
        }
        let feature_extractor = one(frozen.conv, trained.conv, "the conv feature encoder")?;
        let front = one(frozen.front, trained.front, "the feature projection")?;
        let stable_layer_norm = front.norm.is_none();
        let layer_norm = match front.norm {
            Some(norm) => norm,
            None => one(frozen.final_norm, trained.final_norm, "the final LayerNorm")?,
        };
        let mut layers = frozen.layers;
        layers.extend(trained.layers);
        Ok(Wav2Vec2Model {
            feature_extractor,
            feature_projection: front.feature_projection,
            encoder: Wav2Vec2Encoder {
                pos_conv: front.pos_conv,
                layer_norm,
                dropout: front.dropout,
                layers,
                stable_layer_norm,
            },
            conv_kernel: frozen.conv_kernel,
            conv_stride: frozen.conv_stride,
        })
    }
}

impl Wav2Vec2Stage {
    /// Whether the stage computes nothing.
    pub fn is_empty(&self) -> bool {
        self.conv.is_none()
            && self.front.is_none()
            && self.layers.is_empty()
            && self.final_norm.is_none()
    }

    /// Whether the stage's output is hidden states (not conv features).
    pub fn ends_in_hidden(&self) -> bool {
        self.front.is_some() || !self.layers.is_empty() || self.final_norm.is_some()
    }

    /// Whether the stage starts with the conv feature encoder (takes waveforms).
    pub fn takes_waveforms(&self) -> bool {
        self.conv.is_some()
    }

    /// Number of transformer layers in the stage.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Runs a stage that starts at or below the feature projection and returns its hidden
    /// states as transformers' `output_hidden_states` does: the first layer's input, then each
    /// layer's output (for pre-LayerNorm models the last one before the final LayerNorm), with
    /// the valid frames.
    ///
    /// # Panics
    /// When the stage has no feature projection, or `state` is not its input kind.
    pub fn forward_hidden_states(&self, state: AudioState) -> (Vec<Tensor<3>>, Tensor<2, Bool>) {
        assert!(
            self.front.is_some(),
            "hidden states start at the feature projection"
        );
        let AudioState::Hidden { mut x, frame_mask } = self.below_layers(state) else {
            unreachable!("the feature projection ends in hidden states");
        };
        let mut states = vec![x.clone()];
        let mask_bias = attention_mask_bias(frame_mask.clone().float());
        for layer in &self.layers {
            x = layer.forward(x, Some(mask_bias.clone()));
            states.push(x.clone());
        }
        (states, frame_mask)
    }

    /// Runs the stage from whatever state it starts at to the state it ends at.
    ///
    /// # Panics
    /// When `state` is not the stage's input kind: the caller pairs stages.
    pub fn forward(&self, state: AudioState) -> AudioState {
        let state = self.below_layers(state);
        if self.layers.is_empty() && self.final_norm.is_none() {
            return state;
        }
        let AudioState::Hidden { mut x, frame_mask } = state else {
            panic!("a stage of transformer layers takes hidden states");
        };
        let mask_bias = attention_mask_bias(frame_mask.clone().float());
        for layer in &self.layers {
            x = layer.forward(x, Some(mask_bias.clone()));
        }
        if let Some(norm) = &self.final_norm {
            x = norm.forward(x);
        }
        AudioState::Hidden { x, frame_mask }
    }

    /// The conv feature encoder and the feature projection, those of them the stage has.
    fn below_layers(&self, state: AudioState) -> AudioState {
        let mut state = state;
        if let Some(conv) = &self.conv {
            let AudioState::Waveform {
                values,
                attention_mask,
            } = state
            else {
                panic!("a stage with the conv feature encoder takes waveforms");
            };
            let features = conv.forward(values);
            let [_, frames, _] = features.dims();
            let frame_mask =
                frame_mask(attention_mask, frames, &self.conv_kernel, &self.conv_stride);
            state = AudioState::Conv {
                features,
                frame_mask,
            };
        }
        if let Some(front) = &self.front {
            let AudioState::Conv {
                features,
                frame_mask,
            } = state
            else {
                panic!("a stage with the feature projection takes conv features");
            };
            let x = front.forward(features, &frame_mask);
            state = AudioState::Hidden { x, frame_mask };
        }
        state
    }
}
