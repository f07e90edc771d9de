//! The transformer part of Wav2Vec2: the positional convolution and the stack of encoder
//! layers, in both of transformers' variants (post-LayerNorm `Wav2Vec2Encoder`, pre-LayerNorm
//! `Wav2Vec2EncoderStableLayerNorm`), chosen by `do_stable_layer_norm`.

use crate::models::hub::export::HubTensors;
use crate::models::hub::safetensors::{
    Conv1dShape, Init, ParamSource, conv1d_from, layer_norm, linear, weight_norm_weight,
};
use crate::models::nn::{
    AttentionNames, HiddenAct, SelfAttention, attention_mask_bias, linear_rows,
};
use crate::models::wav2vec2::config::Wav2Vec2Config;
use burn::module::Module;
use burn::nn::conv::Conv1d;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, Linear};
use burn::tensor::{Bool, Tensor};

/// Fresh-initialisation scale of the positional convolution (transformers: normal with std
/// `2 * sqrt(1 / (kernel * hidden))`).
fn positional_conv_std(kernel: usize, hidden: usize) -> f64 {
    2.0 * (1.0 / (kernel * hidden) as f64).sqrt()
}

/// transformers' name of the positional convolution.
const POS_CONV: &str = "encoder.pos_conv_embed.conv";

/// Relative positional information: a grouped convolution over time (kernel 128, 16 groups in
/// wav2vec2-base) with weight normalisation, then the activation. transformers'
/// `Wav2Vec2PositionalConvEmbedding` (with its `Wav2Vec2SamePadLayer`).
///
/// # Shapes
/// - input: `[batch, frames, hidden]`
/// - output: the positional embeddings `[batch, frames, hidden]`
#[derive(Module, Debug)]
pub struct Wav2Vec2PositionalConvEmbedding {
    /// The convolution with its weight-norm parameters folded into a plain weight, padded by
    /// `kernel / 2` on the left and `kernel / 2 - 1` on the right for an even kernel: the same
    /// frames as transformers' symmetric padding followed by dropping the last frame
    /// (`Wav2Vec2SamePadLayer`), without computing that frame.
    conv: Conv1d,
    #[module(skip)]
    activation: HiddenAct,
}

impl Wav2Vec2PositionalConvEmbedding {
    /// Builds the convolution from `encoder.pos_conv_embed.conv.{bias, weight_g/weight_v or
    /// parametrizations.weight.original0/original1}` (weight norm over the kernel dimension).
    pub fn build<S: ParamSource>(config: &Wav2Vec2Config, source: &mut S) -> Self {
        let h = config.hidden_size;
        let kernel = config.num_conv_pos_embeddings;
        let name = POS_CONV;
        let shape = Conv1dShape {
            channels_in: h,
            channels_out: h,
            kernel,
            stride: 1,
            groups: config.num_conv_pos_embedding_groups,
            padding: (
                kernel / 2,
                kernel / 2 - usize::from(kernel.is_multiple_of(2)),
            ),
            bias: true,
        };
        let weight = weight_norm_weight(
            source,
            name,
            shape.weight_shape(),
            2,
            positional_conv_std(kernel, h),
        );
        let bias = source.required(&format!("{name}.bias"), [h], Init::Zeros);
        let device = source.device().clone();
        Self {
            conv: conv1d_from(weight, Some(bias), &shape, &device),
            activation: config.feat_extract_activation,
        }
    }

    /// Hands the convolution to `out` in the weight-normalised form transformers builds (see
    /// [`HubTensors::weight_norm`]).
    pub fn export(&self, out: &mut HubTensors) {
        out.weight_norm(POS_CONV, self.conv.weight.val(), 2);
        if let Some(bias) = &self.conv.bias {
            out.tensor(&format!("{POS_CONV}.bias"), bias.val());
        }
    }

    /// `[batch, frames, hidden]` to the positional embeddings `[batch, frames, hidden]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let y = self.conv.forward(x.swap_dims(1, 2));
        self.activation.apply(y).swap_dims(1, 2)
    }
}

/// One transformer block, post-LayerNorm (wav2vec2-base) or pre-LayerNorm
/// (`do_stable_layer_norm`): transformers' `Wav2Vec2EncoderLayer` and
/// `Wav2Vec2EncoderLayerStableLayerNorm` in one struct, as they hold the same parameters and
/// differ only in where the norms apply.
///
/// transformers' `Wav2Vec2FeedForward` is inlined (`intermediate`, `output`,
/// `activation_dropout`) because saved fine-tuned checkpoints hold this flat layout; parameter
/// names still follow transformers'.
///
/// # Shapes
/// - input `x`: `[batch, frames, hidden]`
/// - `mask_bias`: `[batch, 1, 1, frames]`
/// - output: `[batch, frames, hidden]`
#[derive(Module, Debug)]
pub struct Wav2Vec2EncoderLayer {
    /// Self-attention with its output projection.
    attention: SelfAttention,
    /// transformers' `layer_norm`: after the attention residual (post-LN) or before the
    /// attention (pre-LN).
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    /// transformers' `final_layer_norm`: after the feed-forward residual (post-LN) or before
    /// the feed-forward (pre-LN).
    final_norm: LayerNorm,
    activation_dropout: Dropout,
    dropout: Dropout,
    #[module(skip)]
    activation: HiddenAct,
    #[module(skip)]
    pre_norm: bool,
}

impl Wav2Vec2EncoderLayer {
    /// Builds layer `index`, asking `source` for `encoder.layers.{index}.*`.
    pub fn build<S: ParamSource>(config: &Wav2Vec2Config, source: &mut S, index: usize) -> Self {
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
            attention_norm: layer_norm(source, &format!("{p}.layer_norm"), h, eps),
            intermediate: linear(
                source,
                &format!("{p}.feed_forward.intermediate_dense"),
                h,
                config.intermediate_size,
                std,
                false,
            ),
            output: linear(
                source,
                &format!("{p}.feed_forward.output_dense"),
                config.intermediate_size,
                h,
                std,
                false,
            ),
            final_norm: layer_norm(source, &format!("{p}.final_layer_norm"), h, eps),
            activation_dropout: DropoutConfig::new(config.activation_dropout).init(),
            dropout: DropoutConfig::new(config.hidden_dropout).init(),
            activation: config.hidden_act,
            pre_norm: config.do_stable_layer_norm,
        }
    }

    /// `encoder.layers.{index}`: the names of layer `index`.
    fn prefix(index: usize) -> String {
        format!("encoder.layers.{index}")
    }

    fn attention_names(p: &str) -> AttentionNames {
        AttentionNames {
            qkv: ["q_proj", "k_proj", "v_proj"].map(|n| format!("{p}.attention.{n}")),
            output: format!("{p}.attention.out_proj"),
        }
    }

    /// Hands the parameters to `out` as layer `index`, under the names [`Self::build`] reads.
    pub fn export(&self, index: usize, out: &mut HubTensors) {
        let p = Self::prefix(index);
        self.attention.export(&Self::attention_names(&p), out);
        out.layer_norm(&format!("{p}.layer_norm"), &self.attention_norm);
        out.linear(
            &format!("{p}.feed_forward.intermediate_dense"),
            &self.intermediate,
        );
        out.linear(&format!("{p}.feed_forward.output_dense"), &self.output);
        out.layer_norm(&format!("{p}.final_layer_norm"), &self.final_norm);
    }

    /// Self-attention of `x` `[batch, frames, hidden]`; `mask_bias` `[batch, 1, 1, frames]` is
    /// added to the scores (0 for valid keys, `f32::MIN` for padding).
    fn attend(&self, x: Tensor<3>, mask_bias: Option<Tensor<4>>) -> Tensor<3> {
        self.dropout.forward(self.attention.forward(x, mask_bias))
    }

    fn feed_forward(&self, x: Tensor<3>) -> Tensor<3> {
        let inner = self.activation.apply(linear_rows(&self.intermediate, x));
        let inner = self.activation_dropout.forward(inner);
        self.dropout.forward(linear_rows(&self.output, inner))
    }

    /// `[batch, frames, hidden]` to `[batch, frames, hidden]`.
    pub fn forward(&self, x: Tensor<3>, mask_bias: Option<Tensor<4>>) -> Tensor<3> {
        if self.pre_norm {
            let x = x.clone() + self.attend(self.attention_norm.forward(x), mask_bias);
            x.clone() + self.feed_forward(self.final_norm.forward(x))
        } else {
            let x = self
                .attention_norm
                .forward(x.clone() + self.attend(x, mask_bias));
            self.final_norm.forward(x.clone() + self.feed_forward(x))
        }
    }
}

/// Positional convolution, encoder LayerNorm, dropout and the transformer layers: transformers'
/// `Wav2Vec2Encoder` (post-LayerNorm: the norm before the layers) and
/// `Wav2Vec2EncoderStableLayerNorm` (pre-LayerNorm: the norm after the last layer).
///
/// # Shapes
/// - input `x`: projected features `[batch, frames, hidden]`
/// - `frame_mask`: `[batch, frames]`, true for valid frames
/// - output: `[batch, frames, hidden]`, and with `output_hidden_states` `num_layers + 1` of
///   those
#[derive(Module, Debug)]
pub struct Wav2Vec2Encoder {
    pub(super) pos_conv: Wav2Vec2PositionalConvEmbedding,
    /// transformers' `encoder.layer_norm`: after the positional embedding (post-LN) or after
    /// the last layer (pre-LN).
    pub(super) layer_norm: LayerNorm,
    pub(super) dropout: Dropout,
    pub(super) layers: Vec<Wav2Vec2EncoderLayer>,
    #[module(skip)]
    pub(super) stable_layer_norm: bool,
}

impl Wav2Vec2Encoder {
    /// Builds the encoder around `layers` (built by the caller: see `Wav2Vec2Config::build`),
    /// asking `source` for `encoder.pos_conv_embed.*` and `encoder.layer_norm.*`.
    pub fn build<S: ParamSource>(
        config: &Wav2Vec2Config,
        source: &mut S,
        layers: Vec<Wav2Vec2EncoderLayer>,
    ) -> Self {
        Self {
            pos_conv: Wav2Vec2PositionalConvEmbedding::build(config, source),
            layer_norm: layer_norm(
                source,
                "encoder.layer_norm",
                config.hidden_size,
                config.layer_norm_eps,
            ),
            dropout: DropoutConfig::new(config.hidden_dropout).init(),
            layers,
            stable_layer_norm: config.do_stable_layer_norm,
        }
    }

    /// Hands the positional convolution, the encoder LayerNorm and every layer to `out` under
    /// the names [`Self::build`] and [`Wav2Vec2EncoderLayer::build`] read.
    pub fn export(&self, out: &mut HubTensors) {
        self.pos_conv.export(out);
        out.layer_norm("encoder.layer_norm", &self.layer_norm);
        for (index, layer) in self.layers.iter().enumerate() {
            layer.export(index, out);
        }
    }

    /// Encodes projected features `x`; padded frames (false in `frame_mask`) are zeroed before
    /// the positional convolution and masked out of attention, as in transformers. Returns the
    /// last hidden state and, with `output_hidden_states`, the input of the first layer then
    /// each layer's output (in the pre-LayerNorm variant the last one is *before* the final
    /// LayerNorm, as transformers 5 returns them; empty otherwise).
    pub fn forward(
        &self,
        x: Tensor<3>,
        frame_mask: Option<&Tensor<2, Bool>>,
        output_hidden_states: bool,
    ) -> (Tensor<3>, Vec<Tensor<3>>) {
        let [batch, frames, _] = x.dims();
        let mut x = x;
        let mask_bias = frame_mask.map(|mask| {
            let valid = mask.clone().float();
            // Padded frames enter the positional convolution as zeros.
            x = x.clone() * valid.clone().reshape([batch, frames, 1]);
            attention_mask_bias(valid)
        });
        x = x.clone() + self.pos_conv.forward(x);
        if !self.stable_layer_norm {
            x = self.layer_norm.forward(x);
        }
        x = self.dropout.forward(x);
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
        if self.stable_layer_norm {
            x = self.layer_norm.forward(x);
        }
        (x, hidden_states)
    }
}
