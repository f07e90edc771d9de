//! A small dilated convolutional encoder over log-mel frames, trained from scratch (the
//! quickstart's audio branch).

use crate::models::nn::cpu_dropout::gelu_dropout;
use crate::models::nn::masked_mean_channels_first;
use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{Dropout, DropoutConfig, PaddingConfig1d};
use burn::tensor::{Device, Tensor};

/// Configuration of [`DilatedAudioCnn`].
#[derive(Config, Debug)]
pub struct DilatedAudioCnnConfig {
    /// Input mel bands.
    pub n_mels: usize,
    /// Channels of every convolution (also the output size).
    pub channels: usize,
    /// Dropout probability.
    #[config(default = 0.1)]
    pub dropout: f64,
}

/// Three 1-D convolutions over time (kernel 5, dilations 1, 2, 4), then the mean over the valid
/// frames.
///
/// # Shapes
/// - input `features`: `[batch, n_mels, frames]`; `mask`: `[batch, frames]`
/// - output: `[batch, channels]`
#[derive(Module, Debug)]
pub struct DilatedAudioCnn {
    convs: Vec<Conv1d>,
    dropout: Dropout,
}

impl DilatedAudioCnnConfig {
    /// Builds the encoder with freshly initialised weights.
    pub fn init(&self, device: &Device) -> DilatedAudioCnn {
        let convs = [1, 2, 4]
            .iter()
            .enumerate()
            .map(|(i, &dilation)| {
                let input = if i == 0 { self.n_mels } else { self.channels };
                Conv1dConfig::new(input, self.channels, 5)
                    .with_dilation(dilation)
                    .with_padding(PaddingConfig1d::Explicit(2 * dilation, 2 * dilation))
                    .init(device)
            })
            .collect();
        DilatedAudioCnn {
            convs,
            dropout: DropoutConfig::new(self.dropout).init(),
        }
    }
}

impl DilatedAudioCnn {
    /// Encodes features `[batch, n_mels, frames]` with a frame mask `[batch, frames]` (1 valid,
    /// 0 padding) into utterance vectors `[batch, channels]`.
    pub fn forward(&self, features: Tensor<3>, mask: Tensor<2>) -> Tensor<2> {
        let mut x = features;
        for conv in &self.convs {
            x = gelu_dropout(&self.dropout, conv.forward(x));
        }
        masked_mean_channels_first(x, mask)
    }
}
