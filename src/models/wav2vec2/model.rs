//! The whole encoder, [`Wav2Vec2Model`], and loading it from a HuggingFace model folder.

use crate::core::memory::release_memory;
use crate::models::hub::HubFolder;
use crate::models::hub::export::HubTensors;
use crate::models::hub::safetensors::{FreshInit, HubWeights, LoadReport, ParamSource};
use crate::models::nn::masked_mean_channels_last;
use crate::models::nn::{cat_parts, split_batch};
use crate::models::wav2vec2::config::Wav2Vec2Config;
use crate::models::wav2vec2::encoder::{Wav2Vec2Encoder, Wav2Vec2EncoderLayer};
use crate::models::wav2vec2::feature_encoder::{
    ConvPath, Wav2Vec2FeatureEncoder, Wav2Vec2FeatureProjection,
};
use crate::models::wav2vec2::frames::frame_mask;
use anyhow::Result;
use burn::module::Module;
use burn::tensor::{Bool, Device, Int, Tensor};
use std::path::Path;

/// Inputs of [`Wav2Vec2Model::forward`].
#[derive(Debug, Clone)]
pub struct Wav2Vec2Input {
    /// Waveforms `[batch, samples]` at 16 kHz, normalised as the model's feature extractor does
    /// (zero mean, unit variance per clip, as the audio layer's `NormalizeOver` does).
    pub input_values: Tensor<2>,
    /// 1 for audio, 0 for padding, `[batch, samples]`. When given, padded frames are zeroed
    /// before the positional convolution and masked out of attention and of `pooled`, as in
    /// transformers. wav2vec2-base's processor gives none (all frames count).
    pub attention_mask: Option<Tensor<2, Int>>,
    /// Whether to return every layer's hidden state.
    pub output_hidden_states: bool,
}

impl Wav2Vec2Input {
    /// Waveforms without attention mask, last hidden state only.
    pub fn new(input_values: Tensor<2>) -> Self {
        Self {
            input_values,
            attention_mask: None,
            output_hidden_states: false,
        }
    }

    /// Sets the attention mask.
    pub fn with_attention_mask(mut self, attention_mask: Tensor<2, Int>) -> Self {
        self.attention_mask = Some(attention_mask);
        self
    }

    /// Asks for every hidden state.
    pub fn with_hidden_states(mut self, yes: bool) -> Self {
        self.output_hidden_states = yes;
        self
    }
}

/// Outputs of [`Wav2Vec2Model::forward`].
#[derive(Debug, Clone)]
pub struct Wav2Vec2Output {
    /// The conv encoder's features after the feature projection's LayerNorm, `[batch, frames,
    /// conv_dim]`: what transformers returns as `extract_features`.
    pub extract_features: Tensor<3>,
    /// Final hidden state `[batch, frames, hidden]` (after the final LayerNorm in the
    /// pre-LayerNorm variant).
    pub last_hidden_state: Tensor<3>,
    /// With `output_hidden_states`: the input of the first layer, then each layer's output
    /// (`num_layers + 1` tensors `[batch, frames, hidden]`), as transformers 5 returns them: in
    /// the pre-LayerNorm variant the last one is the last layer's output *before* the final
    /// LayerNorm. Empty otherwise.
    pub hidden_states: Vec<Tensor<3>>,
    /// Utterance vector: the mean of `last_hidden_state` over valid frames (all frames without
    /// an attention mask), `[batch, hidden]`.
    pub pooled: Tensor<2>,
    /// Valid frames `[batch, frames]` when an attention mask was given.
    pub frame_mask: Option<Tensor<2, Bool>>,
}

impl Wav2Vec2Output {
    /// Joins the outputs of consecutive parts of one batch.
    fn cat(parts: Vec<Self>) -> Self {
        let mut parts = parts;
        if parts.len() == 1 {
            return parts.remove(0);
        }
        let layers = parts[0].hidden_states.len();
        Self {
            extract_features: cat_parts(&parts, |p| p.extract_features.clone()),
            last_hidden_state: cat_parts(&parts, |p| p.last_hidden_state.clone()),
            hidden_states: (0..layers)
                .map(|i| cat_parts(&parts, |p| p.hidden_states[i].clone()))
                .collect(),
            pooled: cat_parts(&parts, |p| p.pooled.clone()),
            frame_mask: parts[0].frame_mask.is_some().then(|| {
                Tensor::cat(
                    parts.iter().filter_map(|p| p.frame_mask.clone()).collect(),
                    0,
                )
            }),
        }
    }
}

/// A Wav2Vec2 encoder: transformers' `Wav2Vec2Model` (conv feature encoder, feature
/// projection, transformer encoder; the utterance vector is the mean over valid frames).
///
/// # Shapes
/// - `input_values`, `attention_mask`: `[batch, samples]`
/// - `last_hidden_state`: `[batch, frames, hidden]`; `pooled`: `[batch, hidden]`
#[derive(Module, Debug)]
pub struct Wav2Vec2Model {
    pub(super) feature_extractor: Wav2Vec2FeatureEncoder,
    pub(super) feature_projection: Wav2Vec2FeatureProjection,
    pub(super) encoder: Wav2Vec2Encoder,
    #[module(skip)]
    pub(super) conv_kernel: Vec<usize>,
    #[module(skip)]
    pub(super) conv_stride: Vec<usize>,
}

impl Wav2Vec2Model {
    /// Loads the encoder from a HuggingFace model folder (`config.json`, `model.safetensors`),
    /// with or without the `wav2vec2.` prefix of checkpoints saved with a head (whose
    /// `lm_head.*` / classifier keys are reported unused). Returns the model, its configuration
    /// and the load report (the caller tells the user what it says). Errors name the file and
    /// what is wrong: unknown `model_type` or `feat_extract_norm`, missing tensors (all listed), shape
    /// mismatches.
    pub fn from_pretrained(
        dir: &Path,
        device: &Device,
    ) -> Result<(Self, Wav2Vec2Config, LoadReport)> {
        let folder = HubFolder::new(dir)?;
        let config = Wav2Vec2Config::from_hf_file(&folder.config()?)?;
        let mut weights = HubWeights::open(&folder.weights()?, &config.key_mapping(), device)?;
        let model = config.build(&mut weights);
        let report = weights.finish("Wav2Vec2Model")?;
        Ok((model, config, report))
    }

    /// Every parameter under its transformers name in PyTorch layout, as `model.safetensors`
    /// of a `Wav2Vec2Model` holds it (no prefix; the positional convolution weight-normalised):
    /// what [`Self::from_pretrained`] reads back.
    pub fn hub_tensors(&self) -> HubTensors {
        let mut out = HubTensors::new();
        self.feature_extractor.export(&mut out);
        self.feature_projection.export(&mut out);
        self.encoder.export(&mut out);
        out
    }

    /// Runs only the conv feature encoder: waveforms `[batch, samples]` to features `[batch,
    /// frames, conv_dim]` (before the feature projection's LayerNorm).
    pub fn conv_features(&self, input_values: Tensor<2>) -> Tensor<3> {
        self.feature_extractor.forward(input_values)
    }

    /// [`Self::conv_features`] with the convolutions computed by `path` (the benchmark and the
    /// tests compare the two paths).
    pub fn conv_features_with(&self, input_values: Tensor<2>, path: ConvPath) -> Tensor<3> {
        self.feature_extractor.forward_with(input_values, path)
    }

    /// Encodes a batch.
    ///
    /// Shapes: `input_values`, `attention_mask` `[batch, samples]`; outputs as documented on
    /// [`Wav2Vec2Output`], with `frames` = `Wav2Vec2Config::frames(samples)`. Panics when the
    /// clips are shorter than one frame (check with [`Wav2Vec2Config::check_inputs`] first).
    ///
    /// On the CPU backend outside training, parts of the batch run on the pool's threads side by
    /// side ([`split_batch`]; every clip is encoded alone, so the parts are independent).
    pub fn forward(&self, input: Wav2Vec2Input) -> Wav2Vec2Output {
        let [batch, _] = input.input_values.dims();
        let parts = split_batch(batch, &input.input_values.device(), |start, len| {
            self.forward_part(Wav2Vec2Input {
                input_values: input.input_values.clone().narrow(0, start, len),
                attention_mask: input
                    .attention_mask
                    .as_ref()
                    .map(|mask| mask.clone().narrow(0, start, len)),
                output_hidden_states: input.output_hidden_states,
            })
        });
        Wav2Vec2Output::cat(parts)
    }

    fn forward_part(&self, input: Wav2Vec2Input) -> Wav2Vec2Output {
        let features = self.conv_features(input.input_values);
        let [_, frames, _] = features.dims();
        let frame_mask = input
            .attention_mask
            .map(|mask| frame_mask(mask, frames, &self.conv_kernel, &self.conv_stride));
        let (x, extract_features) = self.feature_projection.forward(features);
        let (x, hidden_states) =
            self.encoder
                .forward(x, frame_mask.as_ref(), input.output_hidden_states);
        let pooled = masked_mean_channels_last(x.clone(), frame_mask.clone());
        Wav2Vec2Output {
            extract_features,
            last_hidden_state: x,
            hidden_states,
            pooled,
            frame_mask,
        }
    }
}

impl Wav2Vec2Config {
    /// Builds the encoder with newly initialised weights (transformers' scheme for the
    /// transformer; Kaiming-normal conv weights).
    pub fn init(&self, device: &Device) -> Wav2Vec2Model {
        self.build(&mut FreshInit::new(device))
    }

    /// Builds the encoder, asking `source` for every parameter by its transformers name.
    pub fn build<S: ParamSource>(&self, source: &mut S) -> Wav2Vec2Model {
        // The transformer layers are asked for first, then the rest in data-flow order: a fresh
        // model draws its random weights in this order, kept as it has always been.
        let layers = (0..self.num_layers)
            .map(|i| Wav2Vec2EncoderLayer::build(self, source, i))
            .collect();
        let model = Wav2Vec2Model {
            feature_extractor: Wav2Vec2FeatureEncoder::build(self, source),
            feature_projection: Wav2Vec2FeatureProjection::build(self, source),
            encoder: Wav2Vec2Encoder::build(self, source, layers),
            conv_kernel: self.conv_kernel.clone(),
            conv_stride: self.conv_stride.clone(),
        };
        // The weights' layout copies left freed blocks behind (docs/speed.md).
        release_memory();
        model
    }
}
