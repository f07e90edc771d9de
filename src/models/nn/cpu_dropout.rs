//! Dropout on the CPU backend: the mask from a counter-based generator, built on every thread
//! in one pass, applied with one multiply.
//!
//! burn's `Dropout` draws its mask through `random_like(Bernoulli)`: burn-flex samples every
//! element on one thread from a ChaCha generator behind a lock, then the layer multiplies
//! twice forward (by the mask, by `1 / keep`) and twice backward. In the quickstart that was
//! 13% of a training epoch by profile (23% by ablation). Here the device's generator gives one
//! 64-bit seed per call (so a run stays a function of its seed and of the call order, as
//! before), and element `i` is kept when a SplitMix64 hash of `(seed, i / 2)` (half of its
//! 64 bits) falls below `keep · 2^32`. The mask depends on neither the thread count nor the
//! chunking, and holds exactly `0` or `1 / keep`, so a value is `x · (1 / keep)` or zero as
//! with burn's layer; the random stream is another one, so a run's numbers differ from one
//! trained with burn's mask.

use crate::models::nn::cpu_gelu::{exact_gelu, gelu_train_f32};
use crate::models::nn::is_cpu;
use burn::nn::Dropout;
use burn::tensor::{DType, Device, Distribution, Int, Tensor, TensorData};
use rayon::prelude::*;

/// Elements per task of the pool (even, so that a task starts on a whole hash).
const CHUNK: usize = 1 << 15;

/// `layer`'s dropout of the exact GELU of `x` on any backend. Under autodiff on the CPU backend
/// both are one pass and one term of the graph (value `gelu(x) · m`, derivative `gelu'(x) · m`
/// for the mask `m` of [`dropout_mask`]); elsewhere [`exact_gelu`] then [`dropout`].
pub fn gelu_dropout<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    if !(is_cpu(&device) && device.is_autodiff() && x.dtype() == DType::F32) {
        return dropout(layer, exact_gelu(x));
    }
    if !layer.training.is_enabled() || layer.prob == 0.0 {
        return gelu_train_f32(x, None);
    }
    let mask = dropout_mask(
        draw_seed(&device),
        1.0 - layer.prob,
        x.shape().num_elements(),
    );
    gelu_train_f32(x, Some(&mask))
}

/// Dropout of `x` by `layer` on any backend: the mask of [`dropout_mask`] under autodiff on the
/// CPU backend, burn's layer elsewhere. Like burn's layer, it returns `x` unchanged outside
/// training (no autodiff, the layer's training flag cleared, or probability 0).
pub fn dropout<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    if !is_cpu(&device) || x.dtype() != DType::F32 {
        return layer.forward(x);
    }
    if !layer.training.is_enabled() || !device.is_autodiff() || layer.prob == 0.0 {
        return x;
    }
    let mask = dropout_mask(
        draw_seed(&device),
        1.0 - layer.prob,
        x.shape().num_elements(),
    );
    let mask = Tensor::<D>::from_data(TensorData::new(mask, x.shape()), &device);
    x * mask
}

/// burn's `Dropout` with burn's own mask, in fewer passes: on the CPU under autodiff the mask
/// comes from the same draws of the device's generator (one 64-bit word per element, kept below
/// `keep · 2^64`, as `rand`'s `Bernoulli` decides), and `x` is multiplied once by the mask
/// scaled by `1 / keep` instead of by the mask and then by `1 / keep` (twice forward, twice
/// backward). Every value and gradient has the bits of burn's layer, so a run keeps its numbers;
/// elsewhere it is burn's layer.
pub fn dropout_as_burn<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    let keep = 1.0 - layer.prob;
    // keep outside (0, 1) is burn's business (all kept, or its error).
    if !is_cpu(&device) || x.dtype() != DType::F32 || !(keep > 0.0 && keep < 1.0) {
        return layer.forward(x);
    }
    if !layer.training.is_enabled() || !device.is_autodiff() {
        return x;
    }
    // rand's Bernoulli: true when a u64 draw is below (p · 2^64) truncated, one draw each.
    let threshold = (keep * 18_446_744_073_709_551_616.0) as u64;
    let scale = (1.0 / keep) as f32;
    // An i64 tensor of the standard distribution takes exactly those draws (next_u64 each).
    let draws = Tensor::<D, Int>::random(x.shape(), Distribution::Default, (&device, DType::I64))
        .into_data();
    let draws = draws
        .as_slice::<i64>()
        .expect("an i64 tensor on the CPU holds i64");
    let mask: Vec<f32> = draws
        .iter()
        .map(|&v| if (v as u64) < threshold { scale } else { 0.0 })
        .collect();
    // x · (m · s) = (x · m) · s bit for bit when m is 0 or 1 (and so for the gradient).
    let mask = Tensor::<D>::from_data(TensorData::new(mask, x.shape()), &device);
    x * mask
}

/// A 64-bit seed from the device's generator (the one `Device::seed` sets): three uniform
/// draws of 24 bits each.
pub fn draw_seed(device: &Device) -> u64 {
    let draws = Tensor::<1>::random([3], Distribution::Default, device).into_data();
    let draws = draws
        .as_slice::<f32>()
        .expect("a default float tensor on the CPU holds f32");
    // An f32 uniform in [0, 1) from burn's sampler is a multiple of 2^-24: its 24 bits exactly.
    draws
        .iter()
        .fold(0u64, |seed, &u| (seed << 24) ^ (u * 16_777_216.0) as u64)
}

/// The dropout mask of `len` elements for `seed`: `1 / keep` where an element is kept
/// (probability `keep`), `0` elsewhere.
pub fn dropout_mask(seed: u64, keep: f64, len: usize) -> Vec<f32> {
    // keep = 1 keeps all: the threshold saturates above every 32-bit value.
    let threshold = (keep * 4_294_967_296.0).round() as u64;
    let scale = (1.0 / keep) as f32;
    let mut mask = vec![0.0f32; len];
    mask.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(chunk, out)| {
            let first = (chunk * CHUNK / 2) as u64;
            for (pair, values) in out.chunks_mut(2).enumerate() {
                let bits = split_mix64(seed, first + pair as u64);
                for (half, value) in values.iter_mut().enumerate() {
                    let uniform = (bits >> (32 * half)) & 0xffff_ffff;
                    *value = if uniform < threshold { scale } else { 0.0 };
                }
            }
        });
    mask
}

/// SplitMix64 (Steele, Lea & Flood 2014) at position `index` of the stream for `seed`: a
/// bijective mix of `seed + (index + 1) · γ`, the golden-ratio increment.
#[inline(always)]
fn split_mix64(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(index.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
