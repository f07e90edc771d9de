//! The transformer stack: post-LayerNorm blocks of self-attention and feed-forward.

use crate::models::hub::export::HubTensors;
use crate::models::hub::safetensors::{ParamSource, layer_norm, linear};
use crate::models::nn::{AttentionNames, HiddenAct, SelfAttention, linear_rows};
use crate::models::roberta::config::RobertaConfig;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, Linear};
use burn::tensor::Tensor;

/// One post-LayerNorm transformer block: transformers' `RobertaLayer` / `BertLayer`.
///
/// transformers nests it as `RobertaAttention` (`RobertaSelfAttention` and `RobertaSelfOutput`),
/// `RobertaIntermediate` and `RobertaOutput`; here those are the fields (`attention` with its
/// output projection, `attention_norm`, `intermediate`, `output`, `output_norm`), because saved
/// fine-tuned checkpoints hold this flat layout. Parameter names still follow transformers'.
///
/// # Shapes
/// - input `x`: `[batch, tokens, hidden]`
/// - `mask_bias`: `[batch, 1, 1, tokens]`
/// - output: `[batch, tokens, hidden]`
#[derive(Module, Debug)]
pub struct RobertaLayer {
    attention: SelfAttention,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    dropout: Dropout,
    #[module(skip)]
    activation: HiddenAct,
}

impl RobertaLayer {
    /// Builds layer `index`, asking `source` for `encoder.layer.{index}.*`.
    pub fn build<S: ParamSource>(config: &RobertaConfig, source: &mut S, index: usize) -> Self {
        let h = config.hidden_size;
        let std = config.initializer_range;
        let eps = config.layer_norm_eps;
        let p = Self::prefix(index);
        let names = Self::attention_names(&p);
        Self {
            attention: SelfAttention::build(
                source,
                &names,
                h,
                config.num_heads,
                config.attention_dropout,
                std,
            ),
            attention_norm: layer_norm(source, &format!("{p}.attention.output.LayerNorm"), h, eps),
            intermediate: linear(
                source,
                &format!("{p}.intermediate.dense"),
                h,
                config.intermediate_size,
                std,
                false,
            ),
            output: linear(
                source,
                &format!("{p}.output.dense"),
                config.intermediate_size,
                h,
                std,
                false,
            ),
            output_norm: layer_norm(source, &format!("{p}.output.LayerNorm"), h, eps),
            dropout: DropoutConfig::new(config.hidden_dropout).init(),
            activation: config.hidden_act,
        }
    }

    /// `encoder.layer.{index}`: the names of layer `index`.
    fn prefix(index: usize) -> String {
        format!("encoder.layer.{index}")
    }

    fn attention_names(p: &str) -> AttentionNames {
        AttentionNames {
            qkv: ["query", "key", "value"].map(|n| format!("{p}.attention.self.{n}")),
            output: format!("{p}.attention.output.dense"),
        }
    }

    /// Hands the parameters to `out` as layer `index`, under the names [`Self::build`] reads.
    pub fn export(&self, index: usize, out: &mut HubTensors) {
        let p = Self::prefix(index);
        self.attention.export(&Self::attention_names(&p), out);
        out.layer_norm(
            &format!("{p}.attention.output.LayerNorm"),
            &self.attention_norm,
        );
        out.linear(&format!("{p}.intermediate.dense"), &self.intermediate);
        out.linear(&format!("{p}.output.dense"), &self.output);
        out.layer_norm(&format!("{p}.output.LayerNorm"), &self.output_norm);
    }

    /// `x`: `[batch, tokens, hidden]`; `mask_bias`: `[batch, 1, 1, tokens]`, 0 for tokens and
    /// `f32::MIN` for padding, added to the attention scores.
    pub fn forward(&self, x: Tensor<3>, mask_bias: Tensor<4>) -> Tensor<3> {
        let context = self.attention.forward(x.clone(), Some(mask_bias));
        let attended = self
            .attention_norm
            .forward(self.dropout.forward(context) + x);
        let inner = self
            .activation
            .apply(linear_rows(&self.intermediate, attended.clone()));
        self.output_norm
            .forward(self.dropout.forward(linear_rows(&self.output, inner)) + attended)
    }
}

/// The stack of [`RobertaLayer`]s: transformers' `RobertaEncoder` / `BertEncoder`.
///
/// # Shapes
/// - input `x`: `[batch, tokens, hidden]`
/// - `mask_bias`: `[batch, 1, 1, tokens]`
/// - output: `[batch, tokens, hidden]`, and with `output_hidden_states` `num_layers + 1` of
///   those
#[derive(Module, Debug)]
pub struct RobertaEncoder {
    /// Split off into stages for partial fine-tuning.
    pub(super) layers: Vec<RobertaLayer>,
}

impl RobertaEncoder {
    /// Builds the `num_layers` layers, asking `source` for `encoder.layer.*`.
    pub fn build<S: ParamSource>(config: &RobertaConfig, source: &mut S) -> Self {
        Self {
            layers: (0..config.num_layers)
                .map(|i| RobertaLayer::build(config, source, i))
                .collect(),
        }
    }

    /// Runs every layer over `x`; returns the last hidden state and, with
    /// `output_hidden_states`, the input then each layer's output (empty otherwise).
    pub fn forward(
        &self,
        x: Tensor<3>,
        mask_bias: Tensor<4>,
        output_hidden_states: bool,
    ) -> (Tensor<3>, Vec<Tensor<3>>) {
        let mut x = x;
        let mut hidden_states = Vec::new();
        for layer in &self.layers {
            if output_hidden_states {
                hidden_states.push(x.clone());
            }
            x = layer.forward(x, mask_bias.clone());
        }
        if output_hidden_states {
            hidden_states.push(x.clone());
        }
        (x, hidden_states)
    }
}
