//! A speech CNN: an optional stem of 2-D convolutions over (rows, frames), then a stack of 1-D
//! convolutions over MFCC or log-mel frames (each with optional BatchNorm, ReLU, optional max
//! pooling, dropout), then a pooling over the valid frames (the mean, the mean and standard
//! deviation, or an attention-weighted mean). A dense softmax layer on top (the late-fusion
//! head with no projection and no hidden layer) makes the classifier.

use crate::models::nn::cpu_dropout::dropout_as_burn;
use crate::models::nn::masked_mean_channels_first;
use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig, Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool1d, MaxPool1dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig1d,
    PaddingConfig2d, Relu,
};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// How [`SpeechCnn`] turns its frames into one vector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FramePooling {
    /// The mean over valid frames.
    #[default]
    Mean,
    /// The mean and the standard deviation over valid frames, concatenated (statistics
    /// pooling, as x-vectors): twice the channels.
    MeanStd,
    /// A mean weighted by a learned score per frame, softmax-normalised over the valid frames
    /// (attention pooling).
    Attention,
}

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
    /// Pooling over frames.
    #[config(default = "FramePooling::Mean")]
    pub pooling: FramePooling,
    /// Output channels of the 2-D convolutions before the 1-D stack (empty: none). Each is
    /// 3 x 3 with optional BatchNorm, ReLU, 2 x 2 max pooling and dropout; the rows left times
    /// the last stem's channels become the 1-D stack's input channels.
    #[config(default = "Vec::new()")]
    pub stem: Vec<usize>,
}

/// One block of [`SpeechCnn`]'s 2-D stem: a 3 x 3 convolution, optional BatchNorm, ReLU, 2 x 2
/// max pooling, dropout.
#[derive(Module, Debug)]
pub struct SpeechCnnStemBlock {
    conv: Conv2d,
    norm: Option<BatchNorm>,
    pool: MaxPool2d,
    activation: Relu,
    dropout: Dropout,
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
/// - output: `[batch, channels.last()]` (twice that with `FramePooling::MeanStd`)
#[derive(Module, Debug)]
pub struct SpeechCnn {
    stem: Vec<SpeechCnnStemBlock>,
    blocks: Vec<SpeechCnnBlock>,
    /// Frame scores of attention pooling.
    attention: Option<Linear>,
    #[module(skip)]
    pool: usize,
    #[module(skip)]
    pooling: FramePooling,
}

impl SpeechCnnConfig {
    /// Builds the network with freshly initialised weights.
    pub fn init(&self, device: &Device) -> SpeechCnn {
        let mut planes = 1;
        let stem = self
            .stem
            .iter()
            .map(|&output| {
                let block = SpeechCnnStemBlock {
                    conv: Conv2dConfig::new([planes, output], [3, 3])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .init(device),
                    norm: self
                        .batch_norm
                        .then(|| BatchNormConfig::new(output).init(device)),
                    pool: MaxPool2dConfig::new([2, 2]).init(),
                    activation: Relu::new(),
                    dropout: DropoutConfig::new(self.dropout).init(),
                };
                planes = output;
                block
            })
            .collect();
        let mut input = self.stem_outputs();
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
            stem,
            blocks,
            attention: (self.pooling == FramePooling::Attention)
                .then(|| LinearConfig::new(input, 1).init(device)),
            pool: self.pool,
            pooling: self.pooling,
        }
    }

    /// Input channels of the 1-D stack: the feature rows, or what the 2-D stem leaves of them
    /// times its last channels.
    fn stem_outputs(&self) -> usize {
        match self.stem.last() {
            None => self.inputs,
            Some(&planes) => planes * (self.inputs >> self.stem.len()),
        }
    }

    /// Size of the utterance vector.
    pub fn output_size(&self) -> usize {
        let channels = self.channels.last().copied().unwrap_or(self.stem_outputs());
        match self.pooling {
            FramePooling::MeanStd => 2 * channels,
            FramePooling::Mean | FramePooling::Attention => channels,
        }
    }
}

impl SpeechCnn {
    /// Features `[batch, inputs, frames]` with a frame mask `[batch, frames]` (1 valid) to
    /// utterance vectors `[batch, channels]`.
    pub fn forward(&self, features: Tensor<3>, mask: Tensor<2>) -> Tensor<2> {
        let mut x = features;
        let mut mask = mask;
        if !self.stem.is_empty() {
            let [batch, rows, frames] = x.dims();
            let mut planes = x.reshape([batch, 1, rows, frames]);
            for block in &self.stem {
                planes = block.conv.forward(planes);
                if let Some(norm) = &block.norm {
                    planes = norm.forward(planes);
                }
                planes = block.pool.forward(block.activation.forward(planes));
                planes = dropout_as_burn(&block.dropout, planes);
                mask = pool_mask(mask, 2);
            }
            let [batch, channels, rows, frames] = planes.dims();
            x = planes.reshape([batch, channels * rows, frames]);
        }
        for block in &self.blocks {
            x = block.conv.forward(x);
            if let Some(norm) = &block.norm {
                x = norm.forward(x);
            }
            x = block.activation.forward(x);
            if let Some(pool) = &block.pool {
                x = pool.forward(x);
                mask = pool_mask(mask, self.pool);
            }
            x = dropout_as_burn(&block.dropout, x);
        }
        match (&self.attention, self.pooling) {
            (Some(score), _) => attention_pool(score, x, mask),
            (None, FramePooling::MeanStd) => {
                let [batch, channels, _] = x.dims();
                let mean = masked_mean_channels_first(x.clone(), mask.clone());
                let centred = x - mean.clone().reshape([batch, channels, 1]);
                let var = masked_mean_channels_first(centred.clone() * centred, mask);
                // The epsilon keeps the gradient of the square root finite on constant rows.
                Tensor::cat(vec![mean, var.add_scalar(1e-5).sqrt()], 1)
            }
            (None, _) => masked_mean_channels_first(x, mask),
        }
    }
}

/// The frame mask `[batch, frames]` after max pooling by `size`: a pooled frame is valid when
/// the first frame of its window is.
fn pool_mask(mask: Tensor<2>, size: usize) -> Tensor<2> {
    let [batch, frames] = mask.dims();
    let kept = frames / size;
    mask.slice([0..batch, 0..kept * size])
        .reshape([batch, kept, size])
        .slice([0..batch, 0..kept, 0..1])
        .reshape([batch, kept])
}

/// Attention pooling of channels-first `x` `[batch, channels, frames]`: a softmax over the
/// valid frames (`mask` 1) of `score`'s value per frame, and the weighted mean; `[batch,
/// channels]`.
fn attention_pool(score: &Linear, x: Tensor<3>, mask: Tensor<2>) -> Tensor<2> {
    let [batch, channels, frames] = x.dims();
    let scores = score
        .forward(x.clone().swap_dims(1, 2))
        .reshape([batch, frames]);
    // Padding frames get a score far below any real one, so their weight is 0.
    let scores = scores + (mask - 1.0).mul_scalar(1e4);
    let weights = softmax(scores, 1).reshape([batch, 1, frames]);
    (x * weights).sum_dim(2).reshape([batch, channels])
}
