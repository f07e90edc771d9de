//! Multi-head self-attention as BERT, RoBERTa and Wav2Vec2 compute it, with the query, key and
//! value projections fused into one matrix product. Shared by both pretrained encoders, so it
//! lives below them.

use crate::models::hub::export::HubTensors;
use crate::models::hub::safetensors::{Init, ParamSource, linear, linear_from};
use crate::models::nn::linear_rows;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::tensor::Tensor;
use burn::tensor::activation::softmax;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

/// Transformers' names of one attention block's parameters (without `.weight` / `.bias`).
#[derive(Debug, Clone)]
pub struct AttentionNames {
    /// Query, key and value projections.
    pub qkv: [String; 3],
    /// Output projection.
    pub output: String,
}

/// Self-attention: fused QKV projection, scaled dot-product attention with an additive mask,
/// output projection. Dropout on the attention probabilities applies in training only.
///
/// Mirrors transformers' `RobertaSelfAttention` / `BertSelfAttention` followed by the `dense`
/// projection of `RobertaSelfOutput` (whose residual and LayerNorm stay with the caller), and
/// transformers' `Wav2Vec2Attention` (eager).
///
/// # Shapes
/// - input `x`: `[batch, length, hidden]`
/// - `mask_bias`: `[batch, 1, 1, length]`
/// - output: `[batch, length, hidden]`
#[derive(Module, Debug)]
pub struct SelfAttention {
    /// Query, key and value projections in one `[hidden, 3 * hidden]` matrix: one product
    /// instead of three.
    query_key_value: Linear,
    output: Linear,
    dropout: Dropout,
    #[module(skip)]
    heads: usize,
}

impl SelfAttention {
    /// Builds the block of width `hidden` with `heads` heads, asking `source` for the
    /// parameters under `names` (initialised N(0, `std`) with zero biases when new).
    pub fn build<S: ParamSource>(
        source: &mut S,
        names: &AttentionNames,
        hidden: usize,
        heads: usize,
        dropout: f64,
        std: f64,
    ) -> Self {
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        for name in &names.qkv {
            let weight = source.required(
                &format!("{name}.weight"),
                [hidden, hidden],
                Init::Normal(std),
            );
            weights.push(weight);
            biases.push(source.required(&format!("{name}.bias"), [hidden], Init::Zeros));
        }
        let device = source.device().clone();
        Self {
            query_key_value: linear_from(
                Tensor::cat(weights, 0),
                Some(Tensor::cat(biases, 0)),
                &device,
            ),
            output: linear(source, &names.output, hidden, hidden, std, false),
            dropout: DropoutConfig::new(dropout).init(),
            heads,
        }
    }

    /// Hands the parameters to `out` under `names`, as [`Self::build`] reads them: the fused
    /// projection split back into query, key and value.
    pub fn export(&self, names: &AttentionNames, out: &mut HubTensors) {
        let weight = self.query_key_value.weight.val().transpose();
        let [fused, _] = weight.dims();
        let hidden = fused / 3;
        for (i, name) in names.qkv.iter().enumerate() {
            out.tensor(
                &format!("{name}.weight"),
                weight.clone().narrow(0, i * hidden, hidden),
            );
            if let Some(bias) = &self.query_key_value.bias {
                out.tensor(
                    &format!("{name}.bias"),
                    bias.val().narrow(0, i * hidden, hidden),
                );
            }
        }
        out.linear(&names.output, &self.output);
    }

    /// Attends `x` `[batch, length, hidden]` to itself; `mask_bias` `[batch, 1, 1, length]` is
    /// added to the scores (0 for valid keys, `f32::MIN` for padding). Returns the output
    /// projection, `[batch, length, hidden]` (residual and norm are the caller's).
    pub fn forward(&self, x: Tensor<3>, mask_bias: Option<Tensor<4>>) -> Tensor<3> {
        let [batch, length, hidden] = x.dims();
        let heads = self.heads;
        // [batch, length, 3 * hidden] -> 3 x [batch, heads, length, head_dim]
        let qkv = linear_rows(&self.query_key_value, x.clone())
            .reshape([batch, length, 3, heads, hidden / heads])
            .permute([2, 0, 3, 1, 4]);
        let part = |i: usize| {
            qkv.clone()
                .narrow(0, i, 1)
                .reshape([batch, heads, length, hidden / heads])
        };
        let (q, k, v) = (part(0), part(1), part(2));
        let dropout_active = self.dropout.prob > 0.0
            && self.dropout.training.is_enabled()
            && x.device().is_autodiff();
        let context = if dropout_active {
            // The fused kernel has no dropout on the probabilities: spell it out.
            let scale = 1.0 / ((hidden / heads) as f64).sqrt();
            let mut scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(scale);
            if let Some(bias) = mask_bias {
                scores = scores + bias;
            }
            self.dropout.forward(softmax(scores, 3)).matmul(v)
        } else {
            attention(
                q,
                k,
                v,
                None,
                mask_bias,
                AttentionModuleOptions {
                    scale: None,
                    softcap: None,
                    is_causal: false,
                },
            )
        };
        let context = context.swap_dims(1, 2).reshape([batch, length, hidden]);
        linear_rows(&self.output, context)
    }
}
