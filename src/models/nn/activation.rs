//! Feed-forward activations of the pretrained encoders, by their transformers names
//! (`hidden_act`, `feat_extract_activation`).

use crate::models::nn::cpu_gelu::gelu_cpu;
use crate::models::nn::is_cpu;
use anyhow::{Result, bail};
use burn::config::Config;
use burn::tensor::Tensor;
use burn::tensor::activation::{gelu, gelu_approximate, relu, silu};

/// Feed-forward activation.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum HiddenAct {
    /// Exact (erf) GELU, transformers' `gelu`.
    Gelu,
    /// tanh-approximated GELU (`gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    /// ReLU.
    Relu,
    /// SiLU / swish.
    Silu,
}

impl HiddenAct {
    /// Parses transformers' activation name `name`, read from the `config.json` key `key` of
    /// `file` (both named in the error).
    pub fn from_hf(name: &str, key: &str, file: &str) -> Result<Self> {
        Ok(match name {
            "gelu" => HiddenAct::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => HiddenAct::GeluTanh,
            "relu" => HiddenAct::Relu,
            "silu" | "swish" => HiddenAct::Silu,
            other => bail!(
                "{file}: {key} `{other}` is not supported (supported: gelu, gelu_new, \
                 gelu_pytorch_tanh, gelu_fast, relu, silu, swish)"
            ),
        })
    }

    /// Applies the activation. Exact GELU at inference on the CPU backend is computed by
    /// [`gelu_cpu`] (vectorised, on every thread); everywhere else by burn. Training keeps
    /// burn's GELU here (not [`exact_gelu`](crate::models::nn::cpu_gelu::exact_gelu)): only the
    /// last encoder layer trains, where it is a small part of a step, and the committed MELD
    /// results were measured with it.
    pub(crate) fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            HiddenAct::Gelu => {
                let device = x.device();
                if is_cpu(&device) && !device.is_autodiff() {
                    gelu_cpu(x)
                } else {
                    gelu(x)
                }
            }
            HiddenAct::GeluTanh => gelu_approximate(x),
            HiddenAct::Relu => relu(x),
            HiddenAct::Silu => silu(x),
        }
    }
}
