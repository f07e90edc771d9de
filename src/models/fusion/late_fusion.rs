//! The late-fusion classifier: each modality is encoded to one vector, projected (Linear,
//! LayerNorm, GELU, dropout), the projections are concatenated and an MLP outputs class logits.
//! A text-only or audio-only model is the same network with one branch.
//!
//! A branch's encoder is either a small one trained from scratch (the quickstart) or the
//! trainable top of a pretrained RoBERTa / Wav2Vec2 ([`RobertaStage`], [`Wav2Vec2Stage`]); the
//! frozen part below it lives outside the model (the training code runs it), so checkpoints
//! hold only what trains.

use crate::core::Modality;
use crate::models::fusion::dilated_audio_cnn::{DilatedAudioCnn, DilatedAudioCnnConfig};
use crate::models::fusion::scratch_text_encoder::{ScratchTextEncoder, ScratchTextEncoderConfig};
use crate::models::fusion::speech_cnn::SpeechCnn;
use crate::models::nn::cpu_dropout::dropout_as_burn;
use crate::models::nn::{LayerWeights, SequencePooling, masked_mean_channels_last};
use crate::models::roberta::{RobertaStage, TextState};
use crate::models::wav2vec2::{AudioState, Wav2Vec2Stage};
use burn::config::Config;
use burn::module::Module;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::nn::{Dropout, DropoutConfig, Gelu, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor};

/// Text input of a batch.
#[derive(Debug, Clone)]
pub enum TextInput {
    /// Token ids `[batch, tokens]` and attention mask `[batch, tokens]` (1 token, 0 padding).
    Tokens {
        /// `[batch, tokens]`.
        ids: Tensor<2, Int>,
        /// `[batch, tokens]`.
        mask: Tensor<2, Int>,
    },
    /// Hidden states of a frozen trunk `[batch, tokens, hidden]` and the attention mask.
    Hidden {
        /// `[batch, tokens, hidden]`.
        states: Tensor<3>,
        /// `[batch, tokens]`.
        mask: Tensor<2, Int>,
    },
}

/// Audio input of a batch.
#[derive(Debug, Clone)]
pub enum AudioInput {
    /// Log-mel features `[batch, n_mels, frames]` and a frame mask `[batch, frames]` (1 valid).
    LogMel {
        /// `[batch, n_mels, frames]`.
        features: Tensor<3>,
        /// `[batch, frames]`.
        mask: Tensor<2>,
    },
    /// Waveforms, conv features or hidden states of a Wav2Vec2 encoder.
    Wav2Vec2(AudioState),
}

/// A batch as the model reads it.
#[derive(Debug, Clone)]
pub struct FusionBatch {
    /// Text input (text models).
    pub text: Option<TextInput>,
    /// Audio input (audio models).
    pub audio: Option<AudioInput>,
    /// Class indices, `[batch]`.
    pub targets: Tensor<1, Int>,
}

/// The text branch's encoder.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum TextBranchEncoder {
    /// The small transformer trained from scratch.
    Scratch(ScratchTextEncoder),
    /// The trainable top of a pretrained RoBERTa/BERT; the utterance vector is the first
    /// token's final state or the mean over tokens ([`LateFusionConfig::text_pooling`]).
    Pretrained(RobertaStage),
    /// A frozen pretrained encoder under layer-weighted pooling: its hidden states, each
    /// pooled (by the frozen trunk, or read from the cache), mixed by learned weights.
    LayerWeighted(LayerWeights),
}

impl TextBranchEncoder {
    fn forward(&self, input: TextInput, pooling: SequencePooling) -> Tensor<2> {
        match (self, input) {
            (TextBranchEncoder::Scratch(encoder), TextInput::Tokens { ids, mask }) => {
                encoder.forward(ids, mask.equal_elem(0))
            }
            (TextBranchEncoder::Pretrained(stage), input) => {
                let (state, mask) = match input {
                    TextInput::Tokens { ids, mask } => (TextState::Ids(ids), mask),
                    TextInput::Hidden { states, mask } => (TextState::Hidden(states), mask),
                };
                let valid = mask.clone().equal_elem(1);
                pooling.pool(stage.forward(state, mask), valid)
            }
            (TextBranchEncoder::LayerWeighted(weights), TextInput::Hidden { states, .. }) => {
                weights.forward(states)
            }
            (TextBranchEncoder::LayerWeighted(_), TextInput::Tokens { .. }) => {
                panic!("layer-weighted pooling takes the frozen trunk's pooled hidden states")
            }
            (TextBranchEncoder::Scratch(_), TextInput::Hidden { .. }) => {
                panic!("the scratch text encoder takes token ids")
            }
        }
    }
}

/// The audio branch's encoder.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum AudioBranchEncoder {
    /// The small convolutional encoder over log-mels trained from scratch.
    Scratch(DilatedAudioCnn),
    /// A CNN over MFCC (or log-mel) frames, trained from scratch.
    SpeechCnn(SpeechCnn),
    /// The trainable top of a pretrained Wav2Vec2; the utterance vector is the mean of the
    /// final hidden states over valid frames.
    Pretrained(Wav2Vec2Stage),
    /// A frozen Wav2Vec2 under layer-weighted pooling: each hidden state's mean over valid
    /// frames (from the frozen trunk or the cache), mixed by learned weights.
    LayerWeighted(LayerWeights),
}

impl AudioBranchEncoder {
    fn forward(&self, input: AudioInput) -> Tensor<2> {
        match (self, input) {
            (AudioBranchEncoder::Scratch(encoder), AudioInput::LogMel { features, mask }) => {
                encoder.forward(features, mask)
            }
            (AudioBranchEncoder::SpeechCnn(cnn), AudioInput::LogMel { features, mask }) => {
                cnn.forward(features, mask)
            }
            (AudioBranchEncoder::Pretrained(stage), AudioInput::Wav2Vec2(state)) => {
                match stage.forward(state) {
                    AudioState::Hidden { x, frame_mask } => {
                        masked_mean_channels_last(x, Some(frame_mask))
                    }
                    _ => panic!("a pretrained audio branch must end in hidden states"),
                }
            }
            (
                AudioBranchEncoder::LayerWeighted(weights),
                AudioInput::Wav2Vec2(AudioState::Hidden { x, .. }),
            ) => weights.forward(x),
            _ => panic!("audio input does not match the audio encoder"),
        }
    }
}

/// Configuration of [`LateFusion`]'s head and, for the quickstart, its scratch encoders.
#[derive(Config, Debug)]
pub struct LateFusionConfig {
    /// Modalities to fuse, in order.
    pub modalities: Vec<Modality>,
    /// Scratch text encoder (used when `modalities` has `text`).
    pub text: ScratchTextEncoderConfig,
    /// Scratch audio encoder (used when `modalities` has `audio`).
    pub audio: DilatedAudioCnnConfig,
    /// Projection size per modality.
    pub projection_dim: usize,
    /// Classifier hidden size.
    pub hidden_dim: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// Dropout probability.
    pub dropout: f64,
    /// Loss weight of each class (empty: unweighted).
    pub class_weights: Vec<f32>,
    /// How a pretrained text encoder's last hidden state is pooled.
    #[config(default = "SequencePooling::Cls")]
    pub text_pooling: SequencePooling,
}

impl LateFusionConfig {
    /// Builds the model with freshly initialised scratch encoders.
    pub fn init(&self, device: &Device) -> LateFusion {
        let text = self.modalities.contains(&Modality::Text).then(|| {
            (
                TextBranchEncoder::Scratch(self.text.init(device)),
                self.text.d_model,
            )
        });
        let audio = self.modalities.contains(&Modality::Audio).then(|| {
            (
                AudioBranchEncoder::Scratch(self.audio.init(device)),
                self.audio.channels,
            )
        });
        self.assemble(text, audio, device)
    }

    /// Builds the model around given encoders (each with the size of its utterance vector);
    /// projections and classifier are freshly initialised.
    pub fn assemble(
        &self,
        text: Option<(TextBranchEncoder, usize)>,
        audio: Option<(AudioBranchEncoder, usize)>,
        device: &Device,
    ) -> LateFusion {
        // projection_dim 0: the encoder's vector goes to the classifier as it is.
        let branch = |dim: usize| {
            (self.projection_dim > 0)
                .then(|| Projection::new(dim, self.projection_dim, self.dropout, device))
        };
        let width = |dim: usize| {
            if self.projection_dim > 0 {
                self.projection_dim
            } else {
                dim
            }
        };
        let fused =
            text.as_ref().map_or(0, |t| width(t.1)) + audio.as_ref().map_or(0, |a| width(a.1));
        let text = text.map(|(encoder, dim)| TextBranch {
            encoder,
            projection: branch(dim),
        });
        let audio = audio.map(|(encoder, dim)| AudioBranch {
            encoder,
            projection: branch(dim),
        });
        // hidden_dim 0: a single dense softmax layer (the RAVDESS recipe's head).
        let (hidden, output) = if self.hidden_dim > 0 {
            (
                Some(LinearConfig::new(fused, self.hidden_dim).init(device)),
                LinearConfig::new(self.hidden_dim, self.num_classes).init(device),
            )
        } else {
            (
                None,
                LinearConfig::new(fused, self.num_classes).init(device),
            )
        };
        // burn's loss wants positive weights; a class with weight 0 (absent from the training
        // split) has no training example, so the value used for it there changes nothing.
        let weights = (!self.class_weights.is_empty()).then(|| {
            self.class_weights
                .iter()
                .map(|&w| if w > 0.0 { w } else { 1.0 })
                .collect()
        });
        LateFusion {
            text,
            audio,
            hidden,
            output,
            activation: Gelu::new(),
            dropout: DropoutConfig::new(self.dropout).init(),
            text_pooling: self.text_pooling,
            loss: CrossEntropyLossConfig::new()
                .with_weights(weights)
                .init(device),
        }
    }
}

/// Linear, LayerNorm, GELU, dropout: maps an encoder vector into the fusion space.
#[derive(Module, Debug)]
pub struct Projection {
    linear: Linear,
    norm: LayerNorm,
    activation: Gelu,
    dropout: Dropout,
}

impl Projection {
    fn new(input: usize, output: usize, dropout: f64, device: &Device) -> Self {
        Self {
            linear: LinearConfig::new(input, output).init(device),
            norm: LayerNormConfig::new(output).init(device),
            activation: Gelu::new(),
            dropout: DropoutConfig::new(dropout).init(),
        }
    }

    /// `[batch, input]` -> `[batch, output]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        dropout_as_burn(
            &self.dropout,
            self.activation
                .forward(self.norm.forward(self.linear.forward(x))),
        )
    }
}

/// The text encoder and its projection.
#[derive(Module, Debug)]
pub struct TextBranch {
    encoder: TextBranchEncoder,
    projection: Option<Projection>,
}

/// The audio encoder and its projection.
#[derive(Module, Debug)]
pub struct AudioBranch {
    encoder: AudioBranchEncoder,
    projection: Option<Projection>,
}

/// Late-fusion emotion classifier.
#[derive(Module, Debug)]
pub struct LateFusion {
    text: Option<TextBranch>,
    audio: Option<AudioBranch>,
    hidden: Option<Linear>,
    output: Linear,
    activation: Gelu,
    dropout: Dropout,
    #[module(skip)]
    text_pooling: SequencePooling,
    #[module(skip)]
    loss: CrossEntropyLoss,
}

impl LateFusion {
    /// The model on `device`, trainable parameters still trainable ([`Module::fork`]), with
    /// the loss's class weights moved too: the loss is outside the module tree (it holds no
    /// parameter), so `fork` alone leaves them where the model was built.
    pub fn moved_to(self, device: &Device) -> Self {
        let mut model = self.fork(device);
        model.loss.weights = model.loss.weights.map(|w| w.to_device(device));
        model
    }

    /// The trainable top of the pretrained text encoder, when the text branch has one.
    pub fn text_stage(&self) -> Option<&RobertaStage> {
        match &self.text.as_ref()?.encoder {
            TextBranchEncoder::Pretrained(stage) => Some(stage),
            _ => None,
        }
    }

    /// The trainable top of the pretrained audio encoder, when the audio branch has one.
    pub fn audio_stage(&self) -> Option<&Wav2Vec2Stage> {
        match &self.audio.as_ref()?.encoder {
            AudioBranchEncoder::Pretrained(stage) => Some(stage),
            _ => None,
        }
    }

    /// Class logits `[batch, num_classes]` of a batch.
    pub fn forward(&self, batch: &FusionBatch) -> Tensor<2> {
        self.forward_ablated(batch, None)
    }

    /// Class logits with one modality's projected vector replaced by zeros (inference-time
    /// ablation: what the classifier makes of the other modality alone, without retraining).
    pub fn forward_ablated(&self, batch: &FusionBatch, zero: Option<Modality>) -> Tensor<2> {
        let mut parts = Vec::with_capacity(2);
        if let (Some(text), Some(input)) = (&self.text, &batch.text) {
            let v = text.encoder.forward(input.clone(), self.text_pooling);
            let v = match &text.projection {
                Some(p) => p.forward(v),
                None => v,
            };
            parts.push(if zero == Some(Modality::Text) {
                v.zeros_like()
            } else {
                v
            });
        }
        if let (Some(audio), Some(input)) = (&self.audio, &batch.audio) {
            let v = audio.encoder.forward(input.clone());
            let v = match &audio.projection {
                Some(p) => p.forward(v),
                None => v,
            };
            parts.push(if zero == Some(Modality::Audio) {
                v.zeros_like()
            } else {
                v
            });
        }
        let fused = Tensor::cat(parts, 1);
        let fused = match &self.hidden {
            Some(hidden) => dropout_as_burn(
                &self.dropout,
                self.activation.forward(hidden.forward(fused)),
            ),
            None => fused,
        };
        self.output.forward(fused)
    }

    /// The learned layer weights of each branch under layer-weighted pooling (softmax
    /// weights, embedding output first).
    pub fn layer_weights(&self) -> Vec<(Modality, Vec<f32>)> {
        let values = |w: &LayerWeights| {
            w.weights()
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .unwrap_or_default()
        };
        let mut out = Vec::new();
        if let Some(TextBranch {
            encoder: TextBranchEncoder::LayerWeighted(w),
            ..
        }) = &self.text
        {
            out.push((Modality::Text, values(w)));
        }
        if let Some(AudioBranch {
            encoder: AudioBranchEncoder::LayerWeighted(w),
            ..
        }) = &self.audio
        {
            out.push((Modality::Audio, values(w)));
        }
        out
    }

    /// Logits and the class-weighted cross-entropy loss of a batch.
    pub fn forward_loss(&self, batch: &FusionBatch) -> (Tensor<2>, Tensor<1>) {
        let logits = self.forward(batch);
        let loss = self.loss.forward(logits.clone(), batch.targets.clone());
        (logits, loss)
    }

    /// The class-weighted cross-entropy of given logits.
    pub fn loss(&self, logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
        self.loss.forward(logits, targets)
    }
}
