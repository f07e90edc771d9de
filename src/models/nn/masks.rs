//! Attention masks as transformers adds them to the attention scores.

use burn::tensor::{DType, Tensor};

/// transformers' extended attention mask: `(1 - valid) * finfo(dtype).min`, `[batch, 1, 1,
/// length]`, added to the scores so that padded keys get no weight. `valid` `[batch, length]`
/// is 1 for tokens / frames and 0 for padding.
pub fn attention_mask_bias(valid: Tensor<2>) -> Tensor<4> {
    let [batch, length] = valid.dims();
    // The type's own lowest value: f32's would be -inf in half precision, and 0 x -inf is NaN.
    let lowest = match valid.dtype() {
        DType::F16 => f64::from(half::f16::MIN),
        DType::BF16 => f64::from(half::bf16::MIN),
        _ => f64::from(f32::MIN),
    };
    valid
        .neg()
        .add_scalar(1.0)
        .mul_scalar(lowest)
        .reshape([batch, 1, 1, length])
}
