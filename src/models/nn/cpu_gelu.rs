//! Exact (erf) GELU on the CPU backend, for inference and training: vectorised and on every
//! thread.
//!
//! burn-flex 0.22 evaluates GELU and its derivative element by element on one thread through
//! libm's scalar `erff`: a quarter of a Wav2Vec2 forward (perf), about a fifth of a RoBERTa
//! one, and 16-23% of a quickstart training epoch (its GELU and GELU backward). Here the
//! normal CDF is written with operations LLVM vectorises (Abramowitz & Stegun 7.1.26 for
//! erfc, a Cephes-style `exp`), compiled for AVX2 when the CPU has it (chosen at run time:
//! the release build targets baseline x86-64), and split over the rayon pool. No fused
//! multiply-adds, so the SSE and AVX2 versions give identical bits.
//!
//! Accuracy: |error| below 2e-7 of the normal CDF, so the GELU differs from the exact one by
//! less than 2e-7 · |x| (measured by the tests against f64 arithmetic).

use crate::models::nn::is_cpu;
use burn::tensor::{DType, Tensor, TensorData};
use rayon::prelude::*;

/// Elements per task of the pool: large enough that scheduling costs nothing.
const CHUNK: usize = 1 << 15;

/// Exact GELU of `x` on any backend: [`gelu_cpu`] at inference and [`gelu_train_cpu`] under
/// autodiff on the CPU backend, burn's `gelu` on the GPU backends.
pub fn exact_gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    match (is_cpu(&device), device.is_autodiff()) {
        (true, false) => gelu_cpu(x),
        (true, true) => gelu_train_cpu(x),
        (false, _) => burn::tensor::activation::gelu(x),
    }
}

/// GELU of `x` on the plain CPU backend, computed in place on `x`'s buffer when it is the only
/// owner (burn's kernel for other dtypes than f32).
pub fn gelu_cpu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if x.dtype() != DType::F32 {
        return burn::tensor::activation::gelu(x);
    }
    let device = x.device();
    let mut data = x.into_data();
    match data.as_mut_slice::<f32>() {
        Ok(values) => values.par_chunks_mut(CHUNK).for_each(gelu_slice),
        Err(_) => unreachable!("an f32 tensor's data holds f32"),
    }
    Tensor::from_data(data, &device)
}

/// GELU of every value of `values`, in place.
pub fn gelu_slice(values: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        unsafe { gelu_slice_avx2(values) };
        return;
    }
    gelu_slice_portable(values);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gelu_slice_avx2(values: &mut [f32]) {
    gelu_slice_portable(values);
}

#[inline(always)]
fn gelu_slice_portable(values: &mut [f32]) {
    for v in values.iter_mut() {
        *v = gelu(*v);
    }
}

/// x · Φ(x), Φ the standard normal CDF.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    x * normal_cdf(x)
}

/// Φ(x) = erfc(-x / √2) / 2, with erfc from Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7):
/// the tail is computed directly, so negative inputs lose nothing to cancellation.
#[inline(always)]
fn normal_cdf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_7,
        -1.453_152_1,
        1.061_405_4,
    ];
    let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + P * z);
    let poly = ((((A[4] * t + A[3]) * t + A[2]) * t + A[1]) * t + A[0]) * t;
    // erfc(z) / 2 for z >= 0.
    let half_tail = 0.5 * poly * exp_non_positive(-z * z);
    if x < 0.0 { half_tail } else { 1.0 - half_tail }
}

/// e^x for x <= 0 (Cephes `expf`: x = n ln 2 + r, |r| <= ln 2 / 2, a degree-6 polynomial for
/// e^r, 2^n from the exponent bits), 0 below -87 (where f32 underflows). Relative error about
/// 1e-7.
#[inline(always)]
fn exp_non_positive(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer without `floor`
    // (a libm call on baseline x86-64, which would stop vectorisation).
    const ROUND: f32 = 12_582_912.0;
    let x = x.max(-87.0);
    let n = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let r2 = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 0.166_666_66)
        * r
        + 0.5;
    let e_r = p * r2 + r + 1.0;
    let two_n = f32::from_bits(((n as i32 + 127) as u32) << 23);
    e_r * two_n
}

/// GELU of `x` under autodiff on the CPU backend: the value from the vectorised kernel, the
/// gradient Φ(x) + x·φ(x) (φ the normal density) from the same pass, entering the graph through
/// `(x - x.detach()) · g`, a term that is zero in value but has derivative `g` (burn's backward
/// for GELU is scalar libm on one thread too).
pub fn gelu_train_cpu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if x.dtype() != DType::F32 {
        return burn::tensor::activation::gelu(x);
    }
    gelu_train_f32(x, None)
}

/// [`gelu_train_cpu`] of an f32 `x`, each value and derivative multiplied by `mask` when given
/// (a dropout mask with as many values as `x`): GELU then dropout in one pass and one term of
/// the graph.
pub(crate) fn gelu_train_f32<const D: usize>(x: Tensor<D>, mask: Option<&[f32]>) -> Tensor<D> {
    let device = x.device();
    let shape = x.shape();
    let data = x.clone().into_data();
    let values = data
        .as_slice::<f32>()
        .expect("an f32 tensor's data holds f32");
    if let Some(mask) = mask {
        assert_eq!(mask.len(), values.len(), "a mask for every value");
    }
    let mut out = vec![0.0f32; values.len()];
    let mut grad = vec![0.0f32; values.len()];
    out.par_chunks_mut(CHUNK)
        .zip(grad.par_chunks_mut(CHUNK))
        .zip(values.par_chunks(CHUNK))
        .enumerate()
        .for_each(|(chunk, ((o, g), v))| {
            gelu_and_grad_slice(v, o, g);
            if let Some(mask) = mask {
                let m = &mask[chunk * CHUNK..chunk * CHUNK + v.len()];
                for ((o, g), m) in o.iter_mut().zip(g.iter_mut()).zip(m) {
                    *o *= m;
                    *g *= m;
                }
            }
        });
    let out = Tensor::<D>::from_data(TensorData::new(out, shape.clone()), &device);
    let grad = Tensor::<D>::from_data(TensorData::new(grad, shape), &device);
    out + (x.clone() - x.detach()) * grad
}

/// GELU and its derivative of every value of `values`.
pub fn gelu_and_grad_slice(values: &[f32], out: &mut [f32], grad: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        unsafe { gelu_and_grad_avx2(values, out, grad) };
        return;
    }
    gelu_and_grad_portable(values, out, grad);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gelu_and_grad_avx2(values: &[f32], out: &mut [f32], grad: &mut [f32]) {
    gelu_and_grad_portable(values, out, grad);
}

#[inline(always)]
fn gelu_and_grad_portable(values: &[f32], out: &mut [f32], grad: &mut [f32]) {
    for ((v, o), g) in values.iter().zip(out.iter_mut()).zip(grad.iter_mut()) {
        (*o, *g) = gelu_and_grad(*v);
    }
}

/// (x · Φ(x), Φ(x) + x · φ(x)): GELU and its derivative.
#[inline(always)]
pub fn gelu_and_grad(x: f32) -> (f32, f32) {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    let cdf = normal_cdf(x);
    let pdf = INV_SQRT_2PI * exp_non_positive(-0.5 * x * x);
    (x * cdf, cdf + x * pdf)
}
