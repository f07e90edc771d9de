//! The late-fusion model without its pretrained encoders' trainable tops: what `emofuse export`
//! writes as `head.safetensors` beside the encoders' HuggingFace folders, and reads back.
//!
//! Every float parameter of the [`LateFusion`] outside `text.encoder.Pretrained` and
//! `audio.encoder.Pretrained` (those go back into the encoders' checkpoints) is named by its
//! module path (`text.projection.linear.weight`, `output.bias`), in PyTorch's layout: linear
//! weights `[out, in]`, and norms' `gamma` / `beta` called `weight` / `bias`. Scratch encoders,
//! layer weights and BatchNorm running statistics are part of the head too.

use crate::io::safetensors::SafetensorsFile;
use crate::models::LateFusion;
use crate::models::hub::export::HubTensors;
use anyhow::{Result, bail};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};
use std::collections::BTreeSet;
use std::path::Path;

/// Where the visitor and the mapper stand: the module path and what to do with a parameter.
#[derive(Default)]
struct HeadPath {
    /// `(field or variant name, container type)` from the root.
    stack: Vec<(String, String)>,
    /// Depth inside a pretrained stage (skipped), 0 outside one.
    skipping: usize,
}

impl HeadPath {
    fn enter(&mut self, name: &str, container: &str) {
        let pretrained = name == "Pretrained"
            && matches!(
                container,
                "Enum:TextBranchEncoder" | "Enum:AudioBranchEncoder"
            );
        if self.skipping > 0 || pretrained {
            self.skipping += 1;
        }
        self.stack.push((name.to_string(), container.to_string()));
    }

    fn exit(&mut self) {
        self.stack.pop();
        self.skipping = self.skipping.saturating_sub(1);
    }

    /// The head name of the parameter here and whether it is a linear weight (stored
    /// transposed), or `None` inside a pretrained stage.
    fn name(&self) -> Option<(String, bool)> {
        if self.skipping > 0 {
            return None;
        }
        let (last, parent) = self.stack.last()?;
        let parent = parent.as_str();
        let norm = matches!(
            parent,
            "Struct:LayerNorm" | "Struct:GroupNorm" | "Struct:BatchNorm"
        );
        let field = match last.as_str() {
            "gamma" if norm => "weight",
            "beta" if norm => "bias",
            other => other,
        };
        let mut parts: Vec<&str> = self.stack[..self.stack.len() - 1]
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        parts.push(field);
        Some((
            parts.join("."),
            parent == "Struct:Linear" && field == "weight",
        ))
    }
}

/// The head's parameters (see the module docs).
pub fn head_tensors(model: &LateFusion) -> HubTensors {
    struct Collect {
        path: HeadPath,
        out: HubTensors,
    }
    impl ModuleVisitor for Collect {
        fn enter_module(&mut self, name: &str, container: &str) {
            self.path.enter(name, container);
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.exit();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some((name, linear)) = self.path.name() {
                let value = param.val();
                if linear && D == 2 {
                    self.out.tensor(&name, value.swap_dims(0, 1));
                } else {
                    self.out.tensor(&name, value);
                }
            }
        }
    }
    let mut collect = Collect {
        path: HeadPath::default(),
        out: HubTensors::new(),
    };
    model.visit(&mut collect);
    collect.out
}

/// `model` with every head parameter replaced by the one in `path` (written by
/// [`head_tensors`]); the pretrained stages are left as they are. An error lists every
/// parameter the file lacks or has with another shape, and every tensor of the file the model
/// has no place for.
pub fn load_head(model: LateFusion, path: &Path) -> Result<LateFusion> {
    struct Load {
        path: HeadPath,
        file: SafetensorsFile,
        used: BTreeSet<String>,
        problems: Vec<String>,
    }
    impl Load {
        fn replace<const D: usize>(
            &mut self,
            name: &str,
            linear: bool,
            value: Tensor<D>,
        ) -> Tensor<D> {
            let expected: Vec<usize> = if linear && D == 2 {
                let dims = value.dims();
                vec![dims[1], dims[0]]
            } else {
                value.dims().to_vec()
            };
            if !self.file.contains(name) {
                self.problems.push(format!("`{name}` is missing"));
                return value;
            }
            self.used.insert(name.to_string());
            match self.file.f32(name) {
                Ok((shape, values)) if shape == expected => {
                    let loaded =
                        Tensor::<D>::from_data(TensorData::new(values, shape), &value.device());
                    if linear && D == 2 {
                        // Stored contiguous in burn's layout, as training left it: a transposed
                        // view would take another matmul kernel and change the last bits.
                        let data = loaded.swap_dims(0, 1).into_data();
                        Tensor::from_data(data, &value.device())
                    } else {
                        loaded
                    }
                }
                Ok((shape, _)) => {
                    self.problems.push(format!(
                        "`{name}`: expected shape {expected:?}, found {shape:?}"
                    ));
                    value
                }
                Err(error) => {
                    self.problems.push(format!("`{name}`: {error}"));
                    value
                }
            }
        }
    }
    impl ModuleMapper for Load {
        fn enter_module(&mut self, name: &str, container: &str) {
            self.path.enter(name, container);
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.exit();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            match self.path.name() {
                Some((name, linear)) => param.map(|value| self.replace(&name, linear, value)),
                None => param,
            }
        }
    }
    let mut load = Load {
        path: HeadPath::default(),
        file: SafetensorsFile::open(path)?,
        used: BTreeSet::new(),
        problems: Vec::new(),
    };
    let model = model.map(&mut load);
    let extra: Vec<&str> = load
        .file
        .names()
        .filter(|name| !load.used.contains(*name))
        .collect();
    if !load.problems.is_empty() || !extra.is_empty() {
        let mut message = format!("{} does not fit this model:", path.display());
        for problem in &load.problems {
            message.push_str(&format!("\n  {problem}"));
        }
        if !extra.is_empty() {
            message.push_str(&format!(
                "\n  {} tensor(s) the model has no place for: {}",
                extra.len(),
                extra.join(", ")
            ));
        }
        message.push_str(
            "\n  The head and the experiment beside it (emofuse.toml) must come from the same \
             export.",
        );
        bail!(message);
    }
    Ok(model)
}
