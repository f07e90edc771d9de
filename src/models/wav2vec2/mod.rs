//! Wav2Vec2 speech encoder, configured from a HuggingFace `config.json` and loaded from
//! `model.safetensors` (see [`crate::models::hub`]).
//!
//! Both architectures of the hub checkpoints:
//! - `feat_extract_norm = "group"`, `do_stable_layer_norm = false` (wav2vec2-base,
//!   wav2vec2-base-960h): GroupNorm on the first conv layer only, post-LayerNorm transformer;
//! - `feat_extract_norm = "layer"`, `do_stable_layer_norm = true` (wav2vec2-large-lv60,
//!   XLS-R): LayerNorm on every conv layer, pre-LayerNorm transformer with a final LayerNorm.
//!
//! Computation follows transformers' `Wav2Vec2Model` in eval mode: conv feature encoder,
//! feature projection (LayerNorm, Linear), padded frames zeroed when an attention mask is
//! given, weight-normalised grouped positional convolution (the last frame dropped for an even
//! kernel), transformer layers with an additive attention mask on padded keys, erf GELU. Not
//! implemented: SpecAugment masking (`masked_spec_embed` is left unused), LayerDrop, adapters.
//! Dropout is active only when training on an autodiff device.
//!
//! **Padding and the group-norm variant.** The first conv layer's GroupNorm normalises each
//! channel over the whole time axis, padding included, so padding a clip changes the outputs of
//! its *valid* frames too: batch results equal single-clip results only for clips of equal
//! length. transformers behaves the same (and wav2vec2-base's processor passes no attention mask
//! to the model). The layer-norm variant with an attention mask gives each clip the result it
//! gets alone.
//!
//! Parameters carry transformers' names (`encoder.layers.3.attention.q_proj.weight`), so a
//! checkpoint loads by name; see [`Wav2Vec2Model::from_pretrained`].
//!
//! Files in data-flow order, as `modeling_wav2vec2.py`: `config` (what the model is built
//! from), `frames` (frame counts and masks), `feature_encoder` (conv feature encoder, feature
//! projection), `encoder` (positional convolution, transformer layers), `model` (the whole
//! encoder, loading), `split` (frozen trunk and trainable top).

mod config;
mod encoder;
mod feature_encoder;
mod frames;
mod model;
mod split;

pub use config::{FeatExtractNorm, HfWav2Vec2Config, Wav2Vec2Config};
pub use encoder::{Wav2Vec2Encoder, Wav2Vec2EncoderLayer, Wav2Vec2PositionalConvEmbedding};
pub use feature_encoder::{
    ConvPath, Wav2Vec2ConvLayer, Wav2Vec2FeatureEncoder, Wav2Vec2FeatureProjection,
};
pub use frames::{conv_output_length, feat_extract_output_length, frame_mask};
pub use model::{Wav2Vec2Input, Wav2Vec2Model, Wav2Vec2Output};
pub use split::{AudioState, Wav2Vec2Front, Wav2Vec2Stage};
