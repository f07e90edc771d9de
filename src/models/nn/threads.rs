//! Inference on the CPU backend with a batch split between threads.
//!
//! burn-flex 0.22 runs its elementwise kernels (GELU, bias and residual adds, normalisation) on
//! one thread; only the matrix products use the thread pool. The clips or sentences of a batch
//! are independent at inference (padding is masked per row, GroupNorm normalises each clip
//! alone), so running parts of the batch side by side keeps every core busy through the
//! elementwise work as well, while the matrix products inside still share the pool.

use burn::tensor::{Device, Tensor};
use rayon::prelude::*;
use std::cell::Cell;

thread_local! {
    static SPLIT: Cell<bool> = const { Cell::new(true) };
}

/// Turns the batch split on or off for calls made from this thread (on by default): the
/// benchmarks time both, the tests compare both.
pub fn set_batch_split(enabled: bool) {
    SPLIT.with(|split| split.set(enabled));
}

/// Whether `device` is the CPU backend (burn-flex), with or without autodiff.
pub fn is_cpu(device: &Device) -> bool {
    *device == Device::flex()
}

/// Runs `run(start, len)` on consecutive parts of a batch of `batch` items and returns the
/// parts' results in batch order: one part per thread of the pool on the plain CPU backend
/// (never more parts than items), the whole batch in one call anywhere else (GPU backends,
/// autodiff, one thread, one item, or the split turned off by [`set_batch_split`]). Callers split at one level only (the whole model or
/// trunk), never inside a part.
///
/// The parts' results equal the whole batch's up to the summation order of the matrix
/// products (which may block a smaller product differently): differences around 1e-7
/// relative, the same for every run with the same batch and thread count.
pub fn split_batch<T: Send>(
    batch: usize,
    device: &Device,
    run: impl Fn(usize, usize) -> T + Sync,
) -> Vec<T> {
    let parts = rayon::current_num_threads().min(batch);
    if parts < 2 || !SPLIT.with(Cell::get) || device.is_autodiff() || !is_cpu(device) {
        return vec![run(0, batch)];
    }
    (0..parts)
        .into_par_iter()
        .map(|part| {
            let start = part * batch / parts;
            let end = (part + 1) * batch / parts;
            run(start, end - start)
        })
        .collect()
}

/// One field of the parts' outputs joined along the batch: `pick` reads it from each part.
pub fn cat_parts<P, const D: usize>(parts: &[P], pick: impl Fn(&P) -> Tensor<D>) -> Tensor<D> {
    Tensor::cat(parts.iter().map(pick).collect(), 0)
}
