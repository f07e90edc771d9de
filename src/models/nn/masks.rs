//! Attention masks as transformers adds them to the attention scores.

use burn::tensor::Tensor;

/// transformers' extended attention mask: `(1 - valid) * finfo(f32).min`, `[batch, 1, 1,
/// length]`, added to the scores so that padded keys get no weight. `valid` `[batch, length]`
/// is 1 for tokens / frames and 0 for padding.
pub fn attention_mask_bias(valid: Tensor<2>) -> Tensor<4> {
    let [batch, length] = valid.dims();
    valid
        .neg()
        .add_scalar(1.0)
        .mul_scalar(f32::MIN)
        .reshape([batch, 1, 1, length])
}
