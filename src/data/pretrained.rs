//! Inputs of pretrained encoders: HuggingFace token ids and fixed-length normalised waveforms,
//! and the tensors they batch into.

use crate::audio::{AudioOptions, Clip, prepare};
use crate::data::Utterance;
use crate::data::context::{ContextConfig, ContextStats, encode_with_context};
use crate::data::tokenizer::HfTokenizer;
use crate::models::fusion::TextInput;
use crate::models::wav2vec2::AudioState;
use anyhow::Result;
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

/// One utterance as pretrained encoders read it.
#[derive(Debug, Clone, PartialEq)]
pub struct RawInput {
    /// Token ids with the special tokens (empty without a text encoder).
    pub ids: Vec<u32>,
    /// The clip cut or padded to the clip length and normalised (empty without an audio
    /// encoder).
    pub clip: Clip,
    /// Class index.
    pub label: usize,
}

/// Turns utterances into [`RawInput`]s.
pub struct PretrainedFrontEnd {
    /// Tokenizer of the text encoder.
    pub tokenizer: Option<HfTokenizer>,
    /// Longest token sequence, special tokens included (with dialogue context: its budget).
    pub max_tokens: usize,
    /// Waveform preparation of the audio encoder.
    pub audio: Option<AudioOptions>,
    /// Dialogue context of the text encoder's inputs.
    pub context: ContextConfig,
}

impl PretrainedFrontEnd {
    /// The token ids of `utterances` (a whole split: context neighbours come from it), with
    /// what the context took; empty rows without a text encoder.
    pub fn text_ids(&self, utterances: &[Utterance]) -> Result<(Vec<Vec<u32>>, ContextStats)> {
        match &self.tokenizer {
            Some(t) => encode_with_context(t, utterances, &self.context, self.max_tokens),
            None => Ok((vec![Vec::new(); utterances.len()], ContextStats::default())),
        }
    }

    /// The prepared clip of one utterance (empty without an audio encoder); errors name the
    /// utterance.
    pub fn clip(&self, utterance: &Utterance) -> Result<Clip> {
        Ok(match &self.audio {
            Some(options) => prepare(
                utterance.samples(options.sample_rate)?.into_owned(),
                options,
            ),
            None => Clip {
                samples: Vec::new(),
                valid: 0,
            },
        })
    }

    /// The inputs of many utterances (a whole split, for dialogue context), clips decoded in
    /// parallel, in order.
    pub fn inputs(&self, utterances: &[Utterance]) -> Result<Vec<RawInput>> {
        let (ids, _) = self.text_ids(utterances)?;
        let clips: Vec<Clip> = utterances
            .par_iter()
            .map(|u| self.clip(u))
            .collect::<Result<_>>()?;
        Ok(ids
            .into_iter()
            .zip(clips)
            .zip(utterances)
            .map(|((ids, clip), u)| RawInput {
                ids,
                clip,
                label: u.label,
            })
            .collect())
    }

    /// Padding id of the tokenizer (1 for RoBERTa).
    pub fn pad_id(&self) -> u32 {
        self.tokenizer.as_ref().map_or(0, HfTokenizer::pad_id)
    }
}

/// Token ids padded to the longest row, with the attention mask.
pub fn text_batch(rows: &[&[u32]], pad_id: u32, device: &Device) -> TextInput {
    let width = rows.iter().map(|r| r.len()).max().unwrap_or(1).max(1);
    let mut ids = Vec::with_capacity(rows.len() * width);
    let mut mask = Vec::with_capacity(rows.len() * width);
    for row in rows {
        for i in 0..width {
            let id = row.get(i);
            ids.push(i64::from(*id.unwrap_or(&pad_id)));
            mask.push(i64::from(id.is_some()));
        }
    }
    let shape = [rows.len(), width];
    TextInput::Tokens {
        ids: Tensor::from_data(TensorData::new(ids, shape), device),
        mask: Tensor::from_data(TensorData::new(mask, shape), device),
    }
}

/// Clips of one length stacked into waveforms with their attention mask.
pub fn audio_batch(clips: &[&Clip], device: &Device) -> AudioState {
    let samples = clips.first().map_or(0, |c| c.samples.len());
    let mut values = Vec::with_capacity(clips.len() * samples);
    let mut mask = Vec::with_capacity(clips.len() * samples);
    for clip in clips {
        values.extend_from_slice(&clip.samples);
        mask.extend((0..samples).map(|i| i64::from(i < clip.valid)));
    }
    let shape = [clips.len(), samples];
    AudioState::Waveform {
        values: Tensor::from_data(TensorData::new(values, shape), device),
        attention_mask: Tensor::from_data(TensorData::new(mask, shape), device),
    }
}
