//! Utterance vectors from sequences: the first token's state, or the mean over valid frames.
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
