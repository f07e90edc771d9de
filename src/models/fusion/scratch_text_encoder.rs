//! A small transformer text encoder trained from scratch (the quickstart's text branch), built
//! from burn's transformer encoder.

use crate::models::nn::first_token;
use burn::config::Config;
use burn::module::Module;
use burn::nn::transformer::{
    TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput,
};
use burn::nn::{Embedding, EmbeddingConfig};
use burn::tensor::{Bool, Device, Int, Tensor};

/// Configuration of [`ScratchTextEncoder`].
#[derive(Config, Debug)]
pub struct ScratchTextEncoderConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Longest sequence, `[CLS]` included.
    pub max_tokens: usize,
    /// Model width.
    pub d_model: usize,
    /// Transformer layers.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Dropout probability.
    #[config(default = 0.1)]
    pub dropout: f64,
}

/// Token + position embeddings, a transformer encoder, and the `[CLS]` state as utterance vector.
///
/// # Shapes
/// - input `tokens`, `padding`: `[batch, tokens]`
/// - output: `[batch, d_model]`
#[derive(Module, Debug)]
pub struct ScratchTextEncoder {
    tokens: Embedding,
    positions: Embedding,
    encoder: TransformerEncoder,
}

impl ScratchTextEncoderConfig {
    /// Builds the encoder with freshly initialised weights.
    pub fn init(&self, device: &Device) -> ScratchTextEncoder {
        ScratchTextEncoder {
            tokens: EmbeddingConfig::new(self.vocab_size, self.d_model).init(device),
            positions: EmbeddingConfig::new(self.max_tokens, self.d_model).init(device),
            encoder: TransformerEncoderConfig::new(
                self.d_model,
                2 * self.d_model,
                self.heads,
                self.layers,
            )
            .with_dropout(self.dropout)
            .with_norm_first(true)
            .init(device),
        }
    }
}

impl ScratchTextEncoder {
    /// Encodes token ids `[batch, tokens]` (padding marked `true` in `padding`) into utterance
    /// vectors `[batch, d_model]`, the final state of the first (`[CLS]`) token.
    pub fn forward(&self, tokens: Tensor<2, Int>, padding: Tensor<2, Bool>) -> Tensor<2> {
        let [batch, length] = tokens.dims();
        let device = tokens.device();
        let positions = Tensor::<1, Int>::arange(0..length as i64, &device)
            .reshape([1, length])
            .repeat_dim(0, batch);
        let x = self.tokens.forward(tokens) + self.positions.forward(positions);
        let states = self
            .encoder
            .forward(TransformerEncoderInput::new(x).mask_pad(padding));
        first_token(states)
    }
}
