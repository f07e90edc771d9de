//! Writing burn modules back as a HuggingFace checkpoint: the mirror of [`super::safetensors`].
//!
//! Each model's `export` method, written beside its `build`, hands every parameter to a
//! [`HubTensors`] under the transformers name `build` asked for, in PyTorch's layout (a
//! `nn.Linear` weight `[out, in]`, LayerNorm `weight` / `bias`). The result is a
//! `model.safetensors` that transformers' `from_pretrained` and [`HubWeights`] both load.
//!
//! [`HubWeights`]: super::safetensors::HubWeights

use crate::io::safetensors::{NamedArray, write_with_metadata};
use anyhow::{Result, bail};
use burn::nn::conv::Conv1d;
use burn::nn::{Embedding, GroupNorm, LayerNorm, Linear};
use burn::tensor::Tensor;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Named tensors in PyTorch layout, collected for a checkpoint file.
#[derive(Debug, Default)]
pub struct HubTensors {
    arrays: Vec<NamedArray>,
    names: BTreeSet<String>,
}

/// The values of `tensor`, as f32.
fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("converted to f32")
}

impl HubTensors {
    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `tensor` under `name`.
    ///
    /// # Panics
    /// When `name` was added before: two parameters under one name is a bug in an `export`.
    pub fn tensor<const D: usize>(&mut self, name: &str, tensor: Tensor<D>) {
        assert!(
            self.names.insert(name.to_string()),
            "parameter `{name}` exported twice"
        );
        let shape = tensor.dims().to_vec();
        self.arrays
            .push(NamedArray::f32(name, shape, values(tensor)));
    }

    /// Adds an array already read from a file (a tensor the model does not use, kept so the
    /// checkpoint stays complete).
    pub fn array(&mut self, array: NamedArray) {
        assert!(
            self.names.insert(array.name.clone()),
            "parameter `{}` exported twice",
            array.name
        );
        self.arrays.push(array);
    }

    /// Whether `name` was added.
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    /// `{name}.weight` `[out, in]` (burn keeps `[in, out]`) and `{name}.bias` when present.
    pub fn linear(&mut self, name: &str, layer: &Linear) {
        self.tensor(&format!("{name}.weight"), layer.weight.val().transpose());
        if let Some(bias) = &layer.bias {
            self.tensor(&format!("{name}.bias"), bias.val());
        }
    }

    /// `{name}.weight` and `{name}.bias` of a LayerNorm.
    pub fn layer_norm(&mut self, name: &str, norm: &LayerNorm) {
        self.tensor(&format!("{name}.weight"), norm.gamma.val());
        if let Some(beta) = &norm.beta {
            self.tensor(&format!("{name}.bias"), beta.val());
        }
    }

    /// `{name}.weight` and `{name}.bias` of a GroupNorm.
    pub fn group_norm(&mut self, name: &str, norm: &GroupNorm) {
        if let Some(gamma) = &norm.gamma {
            self.tensor(&format!("{name}.weight"), gamma.val());
        }
        if let Some(beta) = &norm.beta {
            self.tensor(&format!("{name}.bias"), beta.val());
        }
    }

    /// `{name}.weight` `[n, d]` of an embedding table.
    pub fn embedding(&mut self, name: &str, table: &Embedding) {
        self.tensor(&format!("{name}.weight"), table.weight.val());
    }

    /// `{name}.weight` `[out, in / groups, kernel]` (the same layout in both) and `{name}.bias`.
    pub fn conv1d(&mut self, name: &str, conv: &Conv1d) {
        self.tensor(&format!("{name}.weight"), conv.weight.val());
        if let Some(bias) = &conv.bias {
            self.tensor(&format!("{name}.bias"), bias.val());
        }
    }

    /// A plain convolution weight written as PyTorch's weight normalisation over `dim`, under
    /// the names current transformers saves (`{name}.parametrizations.weight.original0` = g,
    /// `original1` = v): v is the weight and g its norm over every dimension but `dim`, so
    /// `g * v / ||v||` gives the weight back (to rounding: one division and one product).
    pub fn weight_norm(&mut self, name: &str, weight: Tensor<3>, dim: usize) {
        let mut squares = weight.clone().square();
        for d in 0..3 {
            if d != dim {
                squares = squares.sum_dim(d);
            }
        }
        self.tensor(
            &format!("{name}.parametrizations.weight.original0"),
            squares.sqrt(),
        );
        self.tensor(&format!("{name}.parametrizations.weight.original1"), weight);
    }

    /// The arrays, in the order they were added.
    pub fn arrays(&self) -> &[NamedArray] {
        &self.arrays
    }

    /// Writes the tensors to `path` (atomically) with transformers' `{"format": "pt"}` header
    /// metadata.
    pub fn write(&self, path: &Path) -> Result<()> {
        if self.arrays.is_empty() {
            bail!("nothing to write to {}", path.display());
        }
        let metadata = BTreeMap::from([("format".to_string(), "pt".to_string())]);
        write_with_metadata(path, &self.arrays, metadata)
    }
}
