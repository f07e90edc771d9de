//! Utterance vectors from sequences: the first token's state, or the mean over valid frames,
//! of the last hidden state or of a learned mix of all of them ([`LayerWeights`]).
//!
//! There are two masked means, one per tensor layout. They compute the same mean, but over a
//! different axis of differently laid out tensors; one written as the other plus a transpose
//! would sum in another order and change the last bits of the outputs, so both stay.

use burn::tensor::{Bool, Tensor};

/// The first position's state of `x` `[batch, length, hidden]` (`<s>` / `[CLS]`), `[batch,
/// hidden]`.
pub fn first_token(x: Tensor<3>) -> Tensor<2> {
    let [batch, _, hidden] = x.dims();
    x.slice([0..batch, 0..1, 0..hidden])
        .reshape([batch, hidden])
}

/// Mean over time of channels-first `x` `[batch, channels, frames]` counting only frames where
/// `mask` `[batch, frames]` is 1; `[batch, channels]`. Rows without a valid frame give zeros.
/// The convolutional encoders trained from scratch pool with it.
pub fn masked_mean_channels_first(x: Tensor<3>, mask: Tensor<2>) -> Tensor<2> {
    let [batch, _, frames] = x.dims();
    let mask = mask.reshape([batch, 1, frames]);
    let count = mask.clone().sum_dim(2).clamp_min(1.0);
    let summed = (x * mask).sum_dim(2);
    let pooled = summed / count;
    let [_, channels, _] = pooled.dims();
    pooled.reshape([batch, channels])
}

/// Mean of channels-last `x` `[batch, frames, hidden]` over the frames where `mask` `[batch,
/// frames]` is true (all frames when `None`); `[batch, hidden]`. Rows without a valid frame
/// give zeros. Wav2Vec2's utterance vector.
pub fn masked_mean_channels_last(x: Tensor<3>, mask: Option<Tensor<2, Bool>>) -> Tensor<2> {
    let [batch, frames, hidden] = x.dims();
    match mask {
        None => x.mean_dim(1).reshape([batch, hidden]),
        Some(mask) => {
            let weights = mask.float().reshape([batch, frames, 1]);
            let counts = weights.clone().sum_dim(1).clamp_min(1.0); // [batch, 1, 1]
            (x * weights)
                .sum_dim(1)
                .div(counts)
                .reshape([batch, hidden])
        }
    }
}

/// How a pretrained encoder's sequence of states becomes the utterance vector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SequencePooling {
    /// The first token's state (`<s>` / `[CLS]`).
    #[default]
    Cls,
    /// The mean over valid positions.
    Mean,
}

impl SequencePooling {
    /// Pools channels-last `x` `[batch, length, hidden]` with its valid positions `mask`
    /// `[batch, length]`; `[batch, hidden]`.
    pub fn pool(self, x: Tensor<3>, mask: Tensor<2, Bool>) -> Tensor<2> {
        match self {
            SequencePooling::Cls => first_token(x),
            SequencePooling::Mean => masked_mean_channels_last(x, Some(mask)),
        }
    }
}

/// Which hidden states of a pretrained encoder are pooled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerPooling {
    /// The last layer's.
    #[default]
    Last,
    /// A learned softmax-weighted sum of every hidden state (the embedding output and each
    /// layer's), as SUPERB and EmoBox evaluate frozen encoders ([`LayerWeights`]).
    Weighted,
}

/// SUPERB's weighted-sum layer (s3prl's `Featurizer`): softmax-normalised learnable weights,
/// one per hidden state, mixing per-layer vectors. Pooling is linear, so mixing pooled vectors
/// equals pooling the mixed states: a frozen encoder's per-layer pooled vectors can be cached.
///
/// # Shapes
/// - input: `[batch, layers, hidden]` (one vector per hidden state)
/// - output: `[batch, hidden]`
#[derive(burn::module::Module, Debug)]
pub struct LayerWeights {
    logits: burn::module::Param<Tensor<1>>,
}

impl LayerWeights {
    /// Equal weights over `layers` hidden states (logits zero, as s3prl initialises them).
    pub fn new(layers: usize, device: &burn::tensor::Device) -> Self {
        Self {
            logits: burn::module::Param::from_tensor(Tensor::zeros([layers], device)),
        }
    }

    /// Weights given as logits (softmax applied in [`LayerWeights::forward`]).
    pub fn from_logits(logits: Tensor<1>) -> Self {
        Self {
            logits: burn::module::Param::from_tensor(logits),
        }
    }

    /// Number of hidden states mixed.
    pub fn layers(&self) -> usize {
        self.logits.dims()[0]
    }

    /// The softmax weights, `[layers]`.
    pub fn weights(&self) -> Tensor<1> {
        burn::tensor::activation::softmax(self.logits.val(), 0)
    }

    /// The weighted sum of `x` `[batch, layers, hidden]` over layers, `[batch, hidden]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let [batch, layers, hidden] = x.dims();
        let weights = self.weights().reshape([1, layers, 1]);
        (x * weights).sum_dim(1).reshape([batch, hidden])
    }
}
