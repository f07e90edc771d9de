//! A speech CNN: a stack of 1-D convolutions over MFCC frames (each with optional
//! BatchNorm, ReLU, optional max pooling, dropout), then the mean over the valid frames. A dense
//! softmax layer on top (the late-fusion head with no projection and no hidden layer) makes the
//! classifier.

use crate::models::nn::masked_mean_channels_first;
use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::pool::{MaxPool1d, MaxPool1dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, PaddingConfig1d, Relu};
use burn::tensor::{Device, Tensor};

/// Configuration of [`SpeechCnn`].
#[derive(Config, Debug)]
pub struct SpeechCnnConfig {
    /// Input channels (MFCC coefficients or mel bands).
    pub inputs: usize,
    /// Output channels of each convolution, first to last.
    pub channels: Vec<usize>,
    /// Kernel size of every convolution (odd; "same" padding).
    pub kernel: usize,
    /// Max pooling size after every second convolution (1 disables pooling).
    pub pool: usize,
    /// BatchNorm after every convolution.
    pub batch_norm: bool,
    /// Dropout after every block.
    pub dropout: f64,
}

/// One convolution block of [`SpeechCnn`]: convolution, optional BatchNorm, ReLU, optional max
/// pooling, dropout.
#[derive(Module, Debug)]
pub struct SpeechCnnBlock {
    conv: Conv1d,
    norm: Option<BatchNorm>,
    pool: Option<MaxPool1d>,
    activation: Relu,
    dropout: Dropout,
}

/// The CNN over feature frames.
///
/// # Shapes
/// - input `features`: `[batch, inputs, frames]`; `mask`: `[batch, frames]`
/// - output: `[batch, channels.last()]`
#[derive(Module, Debug)]
pub struct SpeechCnn {
    blocks: Vec<SpeechCnnBlock>,
    #[module(skip)]
    pool: usize,
}

impl SpeechCnnConfig {
    /// Builds the network with freshly initialised weights.
    pub fn init(&self, device: &Device) -> SpeechCnn {
        let mut input = self.inputs;
        let blocks = self
            .channels
            .iter()
            .enumerate()
            .map(|(i, &output)| {
                let block = SpeechCnnBlock {
                    conv: Conv1dConfig::new(input, output, self.kernel)
                        .with_padding(PaddingConfig1d::Explicit(self.kernel / 2, self.kernel / 2))
                        .init(device),
                    norm: self
                        .batch_norm
                        .then(|| BatchNormConfig::new(output).init(device)),
                    pool: (self.pool > 1 && i % 2 == 1)
                        .then(|| MaxPool1dConfig::new(self.pool).init()),
                    activation: Relu::new(),
                    dropout: DropoutConfig::new(self.dropout).init(),
                };
                input = output;
                block
            })
            .collect();
        SpeechCnn {
            blocks,
            pool: self.pool,
        }
    }

    /// Size of the utterance vector.
    pub fn output_size(&self) -> usize {
        self.channels.last().copied().unwrap_or(self.inputs)
    }
}

impl SpeechCnn {
    /// Features `[batch, inputs, frames]` with a frame mask `[batch, frames]` (1 valid) to
    /// utterance vectors `[batch, channels]`.
    pub fn forward(&self, features: Tensor<3>, mask: Tensor<2>) -> Tensor<2> {
        let mut x = features;
        let mut mask = mask;
        for block in &self.blocks {
            x = block.conv.forward(x);
            if let Some(norm) = &block.norm {
                x = norm.forward(x);
            }
            x = block.activation.forward(x);
            if let Some(pool) = &block.pool {
                x = pool.forward(x);
                // A pooled frame is valid when the first frame of its window is.
                let [batch, frames] = mask.dims();
                let kept = frames / self.pool;
                mask = mask
                    .slice([0..batch, 0..kept * self.pool])
                    .reshape([batch, kept, self.pool])
                    .slice([0..batch, 0..kept, 0..1])
                    .reshape([batch, kept]);
            }
            x = block.dropout.forward(x);
        }
        masked_mean_channels_first(x, mask)
    }
}
