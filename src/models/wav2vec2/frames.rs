//! Frame arithmetic of the conv feature encoder: how many frames a clip makes and which of
//! them are valid, as transformers' `_get_feat_extract_output_lengths` and
//! `_get_feature_vector_attention_mask`. Pure functions of the kernels and strides, so that the
//! configuration and the stages can use them without the encoder itself.

use burn::tensor::{Bool, Int, Tensor};

/// Frames out of one unpadded convolution over `length` inputs: `floor((length - kernel) /
/// stride) + 1`, floor division as transformers' `_conv_out_length` (so negative when the
/// input is shorter than the kernel minus one stride).
pub fn conv_output_length(length: i64, kernel: usize, stride: usize) -> i64 {
    (length - kernel as i64).div_euclid(stride as i64) + 1
}

/// Frames out of a stack of convolutions (`kernels[i]`, `strides[i]`) over `samples` inputs,
/// exactly as transformers' `_get_feat_extract_output_lengths` (no adapter): 49 frames per
/// second of 16 kHz audio for wav2vec2-base. 0 or below means the clip is too short for one
/// frame.
pub fn feat_extract_output_length(samples: i64, kernels: &[usize], strides: &[usize]) -> i64 {
    kernels
        .iter()
        .zip(strides)
        .fold(samples, |length, (&k, &s)| conv_output_length(length, k, s))
}

/// transformers' `_get_feature_vector_attention_mask`: `true` for the first
/// `feat_extract_output_length(sum(mask))` of `frames` frames of each row, `[batch, frames]`.
/// Rows too short for one frame get no valid frame.
pub fn frame_mask(
    attention_mask: Tensor<2, Int>,
    frames: usize,
    kernels: &[usize],
    strides: &[usize],
) -> Tensor<2, Bool> {
    let [batch, _] = attention_mask.dims();
    let device = attention_mask.device();
    let mut lengths = attention_mask.sum_dim(1); // [batch, 1]
    for (&k, &s) in kernels.iter().zip(strides) {
        // floor((L - k) / s) + 1 for L >= k; rows below the kernel get 0 frames (transformers
        // would index frame -1 there) and stay at 0.
        let long_enough = lengths.clone().greater_equal_elem(k as i64).int();
        lengths = (lengths
            .sub_scalar(k as i64)
            .clamp_min(0)
            .div_scalar(s as i64)
            .add_scalar(1))
            * long_enough;
    }
    Tensor::<1, Int>::arange(0..frames as i64, &device)
        .reshape([1, frames])
        .repeat_dim(0, batch)
        .lower(lengths.repeat_dim(1, frames))
}
