//! The late-fusion classifier: each modality is encoded to one vector, projected (Linear,
//! LayerNorm, GELU, dropout), the projections are concatenated and an MLP outputs class logits.
//! A text-only or audio-only model is the same network with one branch.

use crate::config::{Experiment, Modality};
use crate::data::batch::FusionBatch;
use crate::models::audio_encoder::{AudioEncoder, AudioEncoderConfig};
use crate::models::text_encoder::{TextEncoder, TextEncoderConfig};
use crate::training::clip::clip_grad_norm;
use burn::config::Config;
use burn::module::Module;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::nn::{Dropout, DropoutConfig, Gelu, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};

/// Configuration of [`LateFusion`].
#[derive(Config, Debug)]
pub struct LateFusionConfig {
    /// Modalities to fuse, in order.
    pub modalities: Vec<Modality>,
    /// Text encoder (used when `modalities` has `text`).
    pub text: TextEncoderConfig,
    /// Audio encoder (used when `modalities` has `audio`).
    pub audio: AudioEncoderConfig,
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
    /// Global gradient-norm bound (0 disables clipping).
    pub grad_clip_norm: f32,
}

impl LateFusionConfig {
    /// The model configuration of an experiment.
    pub fn from_experiment(
        experiment: &Experiment,
        vocab_size: usize,
        class_weights: Vec<f32>,
        num_classes: usize,
    ) -> Self {
        let m = &experiment.model;
        Self::new(
            m.modalities.clone(),
            TextEncoderConfig::new(
                vocab_size,
                experiment.data.max_tokens,
                m.text_dim,
                m.text_layers,
                m.text_heads,
            )
            .with_dropout(m.dropout),
            AudioEncoderConfig::new(experiment.data.n_mels, m.audio_channels)
                .with_dropout(m.dropout),
            m.projection_dim,
            m.hidden_dim,
            num_classes,
            m.dropout,
            class_weights,
            experiment.training.grad_clip_norm,
        )
    }

    /// Builds the model with freshly initialised weights.
    pub fn init(&self, device: &Device) -> LateFusion {
        let text = self
            .modalities
            .contains(&Modality::Text)
            .then(|| TextBranch {
                encoder: self.text.init(device),
                projection: Projection::new(
                    self.text.d_model,
                    self.projection_dim,
                    self.dropout,
                    device,
                ),
            });
        let audio = self
            .modalities
            .contains(&Modality::Audio)
            .then(|| AudioBranch {
                encoder: self.audio.init(device),
                projection: Projection::new(
                    self.audio.channels,
                    self.projection_dim,
                    self.dropout,
                    device,
                ),
            });
        let fused = self.projection_dim * self.modalities.len();
        let weights = (!self.class_weights.is_empty()).then(|| self.class_weights.clone());
        LateFusion {
            text,
            audio,
            hidden: LinearConfig::new(fused, self.hidden_dim).init(device),
            output: LinearConfig::new(self.hidden_dim, self.num_classes).init(device),
            activation: Gelu::new(),
            dropout: DropoutConfig::new(self.dropout).init(),
            loss: CrossEntropyLossConfig::new()
                .with_weights(weights)
                .init(device),
            grad_clip_norm: self.grad_clip_norm,
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
        self.dropout.forward(
            self.activation
                .forward(self.norm.forward(self.linear.forward(x))),
        )
    }
}

/// The text encoder and its projection.
#[derive(Module, Debug)]
pub struct TextBranch {
    encoder: TextEncoder,
    projection: Projection,
}

/// The audio encoder and its projection.
#[derive(Module, Debug)]
pub struct AudioBranch {
    encoder: AudioEncoder,
    projection: Projection,
}

/// Late-fusion emotion classifier.
#[derive(Module, Debug)]
pub struct LateFusion {
    text: Option<TextBranch>,
    audio: Option<AudioBranch>,
    hidden: Linear,
    output: Linear,
    activation: Gelu,
    dropout: Dropout,
    #[module(skip)]
    loss: CrossEntropyLoss,
    #[module(skip)]
    grad_clip_norm: f32,
}

impl LateFusion {
    /// Class logits `[batch, num_classes]` of a batch.
    pub fn forward(&self, batch: &FusionBatch) -> Tensor<2> {
        let mut parts = Vec::with_capacity(2);
        if let Some(text) = &self.text {
            let v = text
                .encoder
                .forward(batch.tokens.clone(), batch.token_padding.clone());
            parts.push(text.projection.forward(v));
        }
        if let Some(audio) = &self.audio {
            let v = audio
                .encoder
                .forward(batch.audio.clone(), batch.audio_mask.clone());
            parts.push(audio.projection.forward(v));
        }
        let fused = Tensor::cat(parts, 1);
        let hidden = self
            .dropout
            .forward(self.activation.forward(self.hidden.forward(fused)));
        self.output.forward(hidden)
    }

    /// Logits and class-weighted cross-entropy loss of a batch.
    pub fn forward_classification(&self, batch: FusionBatch) -> ClassificationOutput {
        let logits = self.forward(&batch);
        let loss = self.loss.forward(logits.clone(), batch.targets.clone());
        ClassificationOutput::new(loss, logits, batch.targets)
    }
}

impl TrainStep for LateFusion {
    type Input = FusionBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: FusionBatch) -> TrainOutput<ClassificationOutput> {
        let item = self.forward_classification(batch);
        let mut grads = GradientsParams::from_grads(item.loss.backward(), self);
        if self.grad_clip_norm > 0.0 {
            clip_grad_norm(self, &mut grads, self.grad_clip_norm);
        }
        TrainOutput { grads, item }
    }
}

impl InferenceStep for LateFusion {
    type Input = FusionBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: FusionBatch) -> ClassificationOutput {
        self.forward_classification(batch)
    }
}
