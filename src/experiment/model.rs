//! `[model]`: modalities, the built-in encoders' sizes, pretrained checkpoints and how much
//! of them trains.

use crate::core::Modality;
use crate::inference::cache::{AUDIO_CHUNK, CacheDtype, TEXT_CHUNK};
use crate::models::finetune::TrainLayers;
use crate::models::fusion::FramePooling;
use crate::models::nn::{LayerPooling, SequencePooling};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[model]`: the late-fusion model (see [`crate::models::fusion`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Modalities to fuse: `["text", "audio"]`, `["text"]` or `["audio"]`.
    pub modalities: Vec<Modality>,
    /// Width of the text encoder (token embedding size).
    pub text_dim: usize,
    /// Transformer layers of the text encoder.
    pub text_layers: usize,
    /// Attention heads of the text encoder.
    pub text_heads: usize,
    /// Channels of the audio encoder's convolutions.
    pub audio_channels: usize,
    /// Size each modality vector is projected to before fusion (0: no projection, the
    /// encoder's vector goes to the classifier as it is).
    pub projection_dim: usize,
    /// Hidden size of the classifier MLP (0: a single dense softmax layer).
    pub hidden_dim: usize,
    /// Dropout probability in encoders, projections and classifier.
    pub dropout: f64,
    /// `[model.text]`: a pretrained text encoder and how much of it trains.
    pub text: EncoderConfig,
    /// `[model.audio]`: a pretrained audio encoder and how much of it trains.
    pub audio: EncoderConfig,
    /// Compute the frozen part of pretrained encoders once per utterance and train on the
    /// cached outputs (see [`crate::inference::cache`]).
    pub cache_frozen: bool,
    /// Precision of the cached outputs.
    pub cache_dtype: CacheDtype,
    /// The built-in audio encoder (when `[model.audio]` has no checkpoint).
    pub audio_encoder: AudioEncoderKind,
    /// `[model.cnn]`: the speech CNN over MFCC frames (`audio_encoder = "speech_cnn"`).
    pub cnn: CnnConfig,
}

/// Built-in audio encoders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AudioEncoderKind {
    /// Three dilated 1-D convolutions over log-mel frames (the quickstart's).
    #[default]
    Dilated,
    /// A stack of 1-D convolutions with BatchNorm, max pooling and dropout (the RAVDESS
    /// MFCC recipe).
    SpeechCnn,
}

/// `[model.cnn]`: the speech CNN (`audio_encoder = "speech_cnn"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CnnConfig {
    /// Output channels of each convolution.
    pub channels: Vec<usize>,
    /// Kernel size (odd).
    pub kernel: usize,
    /// Max pooling after every second convolution (1: none).
    pub pool: usize,
    /// BatchNorm after every convolution.
    pub batch_norm: bool,
    /// Dropout after every convolution block.
    pub dropout: f64,
    /// Pooling over frames: `"mean"`, `"mean_std"` (statistics pooling) or `"attention"`.
    pub pooling: FramePooling,
    /// Channels of 2-D convolutions (3 x 3, 2 x 2 max pooling) over (rows, frames) before the
    /// 1-D stack; empty: none.
    pub stem: Vec<usize>,
}

impl Default for CnnConfig {
    fn default() -> Self {
        Self {
            channels: vec![64, 64, 128, 128, 128, 128],
            kernel: 5,
            pool: 2,
            batch_norm: true,
            dropout: 0.25,
            pooling: FramePooling::Mean,
            stem: Vec::new(),
        }
    }
}

/// `[model.text]` / `[model.audio]`: a pretrained HuggingFace encoder.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EncoderConfig {
    /// HuggingFace model folder (`config.json`, `model.safetensors`); absent: the small
    /// built-in encoder trained from scratch (`text_dim`, `audio_channels`, ...).
    pub checkpoint: Option<PathBuf>,
    /// Transformer layers that train, counted from the top.
    pub train_last_layers: TrainLayers,
    /// Audio only: also train Wav2Vec2's convolutional feature encoder (needs
    /// `train_last_layers = "all"`).
    pub train_feature_encoder: bool,
    /// How the sequence becomes the utterance vector: `"cls"` (the first token's state) or
    /// `"mean"` (over valid positions); default: `"cls"` for text, `"mean"` for audio (the
    /// only one audio has).
    pub pooling: Option<SequencePooling>,
    /// Which hidden states are pooled: `"last"`, or `"weighted"` (a learned softmax-weighted
    /// sum of the embedding output and every layer's; needs a frozen encoder,
    /// `train_last_layers = 0`, whose per-layer pooled vectors are cached).
    pub layer_pooling: LayerPooling,
    /// Utterances per forward of the frozen trunk while the cache is built (default: 32 text,
    /// 8 audio): lower it when the build runs out of accelerator memory, raise it for a larger
    /// one. Text is sorted by length within windows of 8 such chunks; an interrupted build
    /// resumes, and `emofuse cache --shard` cuts the split, on those windows. Not part of the
    /// cache key (padding is masked out), but shards merge only when built with the same value.
    pub cache_batch: Option<usize>,
}

impl ModelConfig {
    /// Utterances per trunk forward of a branch's cache build: `cache_batch`, else the
    /// branch's default.
    pub fn cache_batch(&self, modality: Modality) -> usize {
        match modality {
            Modality::Text => self.text.cache_batch.unwrap_or(TEXT_CHUNK),
            Modality::Audio => self.audio.cache_batch.unwrap_or(AUDIO_CHUNK),
        }
    }

    /// How a branch pools its sequence: the configured `pooling`, else the branch's default
    /// (the classification token for text, as the study did; the mean over valid frames for
    /// audio, which has no such token). The one place these defaults are written.
    pub fn pooling(&self, modality: Modality) -> SequencePooling {
        match modality {
            Modality::Text => self.text.pooling.unwrap_or(SequencePooling::Cls),
            Modality::Audio => self.audio.pooling.unwrap_or(SequencePooling::Mean),
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            modalities: vec![Modality::Text, Modality::Audio],
            text_dim: 64,
            text_layers: 1,
            text_heads: 4,
            audio_channels: 64,
            projection_dim: 64,
            hidden_dim: 64,
            dropout: 0.1,
            text: EncoderConfig::default(),
            audio: EncoderConfig::default(),
            cache_frozen: true,
            cache_dtype: CacheDtype::F16,
            audio_encoder: AudioEncoderKind::Dilated,
            cnn: CnnConfig::default(),
        }
    }
}

impl ModelConfig {
    /// Whether the model reads `modality`.
    pub fn uses(&self, modality: Modality) -> bool {
        self.modalities.contains(&modality)
    }
}
