//! Loading HuggingFace safetensors checkpoints into burn modules, by parameter name.
//!
//! A model is built through a [`ParamSource`]: every parameter is asked for by its HuggingFace
//! name (`encoder.layer.0.attention.self.query.weight`) with the shape the model expects.
//! [`FreshInit`] answers with newly initialised tensors (a model trained from scratch, tests,
//! benchmarks); [`HubWeights`] answers from a checkpoint and keeps the books:
//!
//! - file keys are mapped to model names by [`KeyMapping`]: a known head prefix (`roberta.`,
//!   `bert.`, `wav2vec2.`) is stripped when the file uses it, as transformers does when a base
//!   model is loaded from a checkpoint saved with a head; old names (`LayerNorm.gamma/beta`) are
//!   renamed;
//! - [`HubWeights::finish`] fails when the model needs tensors the file lacks or has with another
//!   shape (listing them all), and otherwise returns a [`LoadReport`] of loaded keys, unused file
//!   keys (e.g. `lm_head.*`) and parameters left newly initialised (a head the checkpoint does not
//!   have).
//!
//! The helpers [`linear`], [`layer_norm`], [`group_norm`], [`embedding`] and [`conv1d`] build burn
//! modules from PyTorch-layout parameters (a PyTorch `nn.Linear` weight is `[out, in]`, burn's is
//! `[in, out]`; `nn.Conv1d` weights are `[out, in / groups, kernel]` in both);
//! [`weight_norm_weight`] reads a weight-normalised convolution weight under either of
//! PyTorch's namings and folds it into a plain weight.

use crate::io::safetensors::SafetensorsFile;
use anyhow::{Result, bail};
use burn::module::Param;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{
    Embedding, EmbeddingConfig, GroupNorm, GroupNormConfig, LayerNorm, LayerNormConfig, Linear,
    LinearConfig, PaddingConfig1d,
};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// How a parameter is initialised when it does not come from a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Normal distribution with mean 0 and this standard deviation (transformers'
    /// `initializer_range`).
    Normal(f64),
    /// All zeros (biases).
    Zeros,
    /// All ones (LayerNorm scales).
    Ones,
}

impl Init {
    /// A tensor of `shape` initialised this way.
    pub fn tensor<const D: usize>(self, shape: [usize; D], device: &Device) -> Tensor<D> {
        match self {
            Init::Normal(std) => Tensor::random(shape, Distribution::Normal(0.0, std), device),
            Init::Zeros => Tensor::zeros(shape, device),
            Init::Ones => Tensor::ones(shape, device),
        }
    }
}

/// Where a model's parameters come from, asked for by name and expected shape.
pub trait ParamSource {
    /// Device the tensors are created on.
    fn device(&self) -> &Device;

    /// A parameter the model cannot work without (from a checkpoint: missing is an error,
    /// reported by [`HubWeights::finish`]).
    fn required<const D: usize>(&mut self, name: &str, shape: [usize; D], init: Init) -> Tensor<D>;

    /// A parameter that may be newly initialised when the checkpoint lacks it (a task head);
    /// from a checkpoint, that is reported in [`LoadReport::newly_initialised`].
    fn optional<const D: usize>(&mut self, name: &str, shape: [usize; D], init: Init) -> Tensor<D>;

    /// Whether the source holds parameter `name` (after key mapping), for parameters stored
    /// under alternative names (see [`weight_norm_weight`]). Sources that make parameters up
    /// ([`FreshInit`]) hold none: the default is `false`.
    fn has(&self, name: &str) -> bool {
        let _ = name;
        false
    }
}

/// Every parameter newly initialised (seeded by the device's RNG, see `Device::seed`).
#[derive(Debug, Clone)]
pub struct FreshInit {
    device: Device,
}

impl FreshInit {
    /// Initialises on `device`.
    pub fn new(device: &Device) -> Self {
        Self {
            device: device.clone(),
        }
    }
}

impl ParamSource for FreshInit {
    fn device(&self) -> &Device {
        &self.device
    }

    fn required<const D: usize>(&mut self, _: &str, shape: [usize; D], init: Init) -> Tensor<D> {
        init.tensor(shape, &self.device)
    }

    fn optional<const D: usize>(&mut self, _: &str, shape: [usize; D], init: Init) -> Tensor<D> {
        init.tensor(shape, &self.device)
    }
}

/// How checkpoint keys become model parameter names.
#[derive(Debug, Clone, Default)]
pub struct KeyMapping {
    /// Prefixes (without the dot) that a checkpoint saved with a head puts before the base
    /// model's keys, e.g. `roberta`, `bert`. The first one found in the file is stripped from
    /// every key that has it; keys without it (a head's) keep their names.
    pub prefixes: Vec<String>,
    /// Renames of the last name component, `(old, new)`, e.g. `("gamma", "weight")`.
    pub renames: Vec<(String, String)>,
}

impl KeyMapping {
    /// A mapping from prefixes and renames.
    pub fn new(prefixes: &[&str], renames: &[(&str, &str)]) -> Self {
        Self {
            prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
            renames: renames
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        }
    }

    /// The LayerNorm renames of old TensorFlow-converted checkpoints: `gamma` → `weight`,
    /// `beta` → `bias`.
    pub fn layer_norm_renames() -> Vec<(String, String)> {
        vec![
            ("gamma".to_string(), "weight".to_string()),
            ("beta".to_string(), "bias".to_string()),
        ]
    }

    /// Model names for the file's keys: `model name -> file key`, and the prefix stripped.
    pub fn map(
        &self,
        keys: &[&str],
        file: &Path,
    ) -> Result<(BTreeMap<String, String>, Option<String>)> {
        let prefix = self
            .prefixes
            .iter()
            .find(|p| keys.iter().any(|k| k.starts_with(&format!("{p}."))))
            .cloned();
        let mut names: BTreeMap<String, String> = BTreeMap::new();
        for &key in keys {
            let mut name = match &prefix {
                Some(p) => key
                    .strip_prefix(&format!("{p}."))
                    .unwrap_or(key)
                    .to_string(),
                None => key.to_string(),
            };
            let (head, last) = match name.rsplit_once('.') {
                Some((head, last)) => (format!("{head}."), last.to_string()),
                None => (String::new(), name.clone()),
            };
            if let Some((_, new)) = self.renames.iter().find(|(old, _)| *old == last) {
                name = format!("{head}{new}");
            }
            if let Some(other) = names.insert(name.clone(), key.to_string()) {
                bail!(
                    "{}: keys `{other}` and `{key}` both stand for parameter `{name}`; the \
                     checkpoint is ambiguous (re-export it with one of them)",
                    file.display()
                );
            }
        }
        Ok((names, prefix))
    }
}

/// Parameters read from a safetensors checkpoint, with the bookkeeping of a load.
#[derive(Debug)]
pub struct HubWeights {
    file: SafetensorsFile,
    device: Device,
    /// Model name -> file key.
    names: BTreeMap<String, String>,
    prefix: Option<String>,
    loaded: Vec<String>,
    missing: Vec<String>,
    problems: Vec<String>,
    newly_initialised: Vec<String>,
}

impl HubWeights {
    /// Opens the checkpoint `path`, mapping its keys with `mapping`.
    pub fn open(path: &Path, mapping: &KeyMapping, device: &Device) -> Result<Self> {
        let file = SafetensorsFile::open(path)?;
        let (names, prefix) = mapping.map(&file.names().collect::<Vec<_>>(), path)?;
        Ok(Self {
            file,
            device: device.clone(),
            names,
            prefix,
            loaded: Vec::new(),
            missing: Vec::new(),
            problems: Vec::new(),
            newly_initialised: Vec::new(),
        })
    }

    /// The checkpoint file.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Whether the checkpoint has parameter `name` (after key mapping).
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    /// The tensor for `name` when the file has it with the right shape; `None` when absent.
    /// A wrong shape or dtype is recorded (reported by `finish`) and answered with zeros so the
    /// build can go on and every problem be reported at once.
    fn load<const D: usize>(&mut self, name: &str, shape: [usize; D]) -> Option<Tensor<D>> {
        let key = self.names.get(name)?.clone();
        self.loaded.push(name.to_string());
        let found = self.file.shape(&key).unwrap_or_default().to_vec();
        if found != shape {
            self.problems.push(format!(
                "`{key}`: expected shape {shape:?}, found {found:?}"
            ));
            return Some(Tensor::zeros(shape, &self.device));
        }
        match self.file.f32(&key) {
            Ok((_, values)) => Some(Tensor::from_data(
                TensorData::new(values, shape),
                &self.device,
            )),
            Err(error) => {
                self.problems.push(format!("`{key}`: {error}"));
                Some(Tensor::zeros(shape, &self.device))
            }
        }
    }

    /// Ends the load: an error listing every missing or mis-shaped tensor, else the report.
    /// `model` names what was loaded in messages (e.g. `RoBERTa encoder`).
    pub fn finish(self, model: &str) -> Result<LoadReport> {
        let path = self.file.path().to_path_buf();
        if !self.missing.is_empty() || !self.problems.is_empty() {
            let mut message = format!("{} does not fit the {model}:", path.display());
            if !self.missing.is_empty() {
                message.push_str(&format!(
                    "\n  missing {} tensor(s) the model needs: {}",
                    self.missing.len(),
                    list(&self.missing, 40)
                ));
            }
            for problem in &self.problems {
                message.push_str(&format!("\n  {problem}"));
            }
            message.push_str(
                "\n  Check that config.json and model.safetensors come from the same model \
                 folder (and that config.json's model_type is right).",
            );
            bail!(message);
        }
        let used: BTreeSet<&str> = self
            .loaded
            .iter()
            .map(|name| self.names[name].as_str())
            .collect();
        let unused = self
            .file
            .names()
            .filter(|key| !used.contains(key))
            .map(str::to_string)
            .collect();
        Ok(LoadReport {
            file: path,
            stripped_prefix: self.prefix,
            loaded: self.loaded,
            unused,
            newly_initialised: self.newly_initialised,
        })
    }
}

fn list(items: &[String], max: usize) -> String {
    let mut text = items
        .iter()
        .take(max)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > max {
        text.push_str(&format!(", ... and {} more", items.len() - max));
    }
    text
}

impl ParamSource for HubWeights {
    fn device(&self) -> &Device {
        &self.device
    }

    fn required<const D: usize>(&mut self, name: &str, shape: [usize; D], _: Init) -> Tensor<D> {
        self.load(name, shape).unwrap_or_else(|| {
            self.missing.push(name.to_string());
            Tensor::zeros(shape, &self.device)
        })
    }

    fn optional<const D: usize>(&mut self, name: &str, shape: [usize; D], init: Init) -> Tensor<D> {
        self.load(name, shape).unwrap_or_else(|| {
            self.newly_initialised.push(name.to_string());
            init.tensor(shape, &self.device)
        })
    }

    fn has(&self, name: &str) -> bool {
        self.contains(name)
    }
}

/// What a checkpoint load did.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// The checkpoint.
    pub file: PathBuf,
    /// The head prefix stripped from the file's keys (`roberta`, `bert`), if any.
    pub stripped_prefix: Option<String>,
    /// Model parameters loaded from the file, in build order.
    pub loaded: Vec<String>,
    /// File keys the model did not use (e.g. `lm_head.*`, a pooler), sorted.
    pub unused: Vec<String>,
    /// Model parameters the file lacks that were newly initialised (a task head).
    pub newly_initialised: Vec<String>,
}

impl LoadReport {
    /// One line for the terminal (`loaded N tensors from F (M unused, prefix `p.` stripped)`),
    /// followed by the unused keys when `verbose`.
    pub fn summary(&self, verbose: bool) -> String {
        let mut text = format!(
            "loaded {} tensors from {} ({} unused{})",
            self.loaded.len(),
            self.file.display(),
            self.unused.len(),
            self.stripped_prefix
                .as_ref()
                .map(|p| format!(", prefix `{p}.` stripped"))
                .unwrap_or_default()
        );
        if verbose && !self.unused.is_empty() {
            text.push_str(&format!("\nunused keys: {}", self.unused.join(", ")));
        }
        text
    }

    /// transformers' warning about parameters left newly initialised, if there are any.
    pub fn newly_initialised_warning(&self, model: &str) -> Option<String> {
        (!self.newly_initialised.is_empty()).then(|| {
            format!(
                "Some weights of {model} were not initialized from the model checkpoint at {} \
                 and are newly initialized: [{}]\nYou should probably TRAIN this model on a \
                 down-stream task to be able to use it for predictions and inference.",
                self.file.display(),
                self.newly_initialised.join(", ")
            )
        })
    }
}

/// A linear layer from PyTorch parameters `{name}.weight` `[d_out, d_in]` and `{name}.bias`
/// `[d_out]` (weights normal(0, `std`), bias zeros when initialised).
pub fn linear<S: ParamSource>(
    source: &mut S,
    name: &str,
    d_in: usize,
    d_out: usize,
    std: f64,
    optional: bool,
) -> Linear {
    let device = source.device().clone();
    let (weight, bias) = if optional {
        (
            source.optional(&format!("{name}.weight"), [d_out, d_in], Init::Normal(std)),
            source.optional(&format!("{name}.bias"), [d_out], Init::Zeros),
        )
    } else {
        (
            source.required(&format!("{name}.weight"), [d_out, d_in], Init::Normal(std)),
            source.required(&format!("{name}.bias"), [d_out], Init::Zeros),
        )
    };
    linear_from(weight, Some(bias), &device)
}

/// A linear layer from a PyTorch-layout weight `[d_out, d_in]` and bias `[d_out]`.
pub fn linear_from(weight: Tensor<2>, bias: Option<Tensor<1>>, device: &Device) -> Linear {
    let [d_out, d_in] = weight.dims();
    let mut layer = LinearConfig::new(d_in, d_out)
        .with_bias(bias.is_some())
        .init(device);
    // `transpose` is a strided view, and burn's batched linear reshapes its weight, which copies
    // a strided one on every forward (8% of a RoBERTa forward in perf): lay it out once here.
    let dtype = weight.dtype();
    let weight = Tensor::<2>::from_data(weight.transpose().into_data(), device).cast(dtype);
    layer.weight = Param::from_tensor(weight);
    layer.bias = bias.map(Param::from_tensor);
    layer
}

/// A LayerNorm from `{name}.weight` and `{name}.bias` (both `[d]`).
pub fn layer_norm<S: ParamSource>(source: &mut S, name: &str, d: usize, eps: f64) -> LayerNorm {
    let gamma = source.required(&format!("{name}.weight"), [d], Init::Ones);
    let beta = source.required(&format!("{name}.bias"), [d], Init::Zeros);
    let mut norm = LayerNormConfig::new(d)
        .with_epsilon(eps)
        .init(source.device());
    norm.gamma = Param::from_tensor(gamma);
    norm.beta = Some(Param::from_tensor(beta));
    norm
}

/// An embedding table from `{name}.weight` `[n, d]` (normal(0, `std`) when initialised).
pub fn embedding<S: ParamSource>(
    source: &mut S,
    name: &str,
    n: usize,
    d: usize,
    std: f64,
) -> Embedding {
    let weight = source.required(&format!("{name}.weight"), [n, d], Init::Normal(std));
    let mut table = EmbeddingConfig::new(n, d).init(source.device());
    table.weight = Param::from_tensor(weight);
    table
}

/// A GroupNorm from `{name}.weight` and `{name}.bias` (both `[channels]`).
pub fn group_norm<S: ParamSource>(
    source: &mut S,
    name: &str,
    groups: usize,
    channels: usize,
    eps: f64,
) -> GroupNorm {
    let gamma = source.required(&format!("{name}.weight"), [channels], Init::Ones);
    let beta = source.required(&format!("{name}.bias"), [channels], Init::Zeros);
    let mut norm = GroupNormConfig::new(groups, channels)
        .with_epsilon(eps)
        .init(source.device());
    norm.gamma = Some(Param::from_tensor(gamma));
    norm.beta = Some(Param::from_tensor(beta));
    norm
}

/// The shape and arithmetic of a 1-d convolution (PyTorch's `nn.Conv1d` arguments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conv1dShape {
    /// Input channels.
    pub channels_in: usize,
    /// Output channels.
    pub channels_out: usize,
    /// Kernel width.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Channel groups (both channel counts must be multiples of it).
    pub groups: usize,
    /// Zero padding `(left, right)` in frames.
    pub padding: (usize, usize),
    /// Whether the convolution has a bias.
    pub bias: bool,
}

impl Conv1dShape {
    /// An unpadded, ungrouped convolution with bias.
    pub fn new(channels_in: usize, channels_out: usize, kernel: usize, stride: usize) -> Self {
        Self {
            channels_in,
            channels_out,
            kernel,
            stride,
            groups: 1,
            padding: (0, 0),
            bias: true,
        }
    }

    /// The weight shape `[out, in / groups, kernel]` (PyTorch's and burn's layout).
    pub fn weight_shape(&self) -> [usize; 3] {
        [
            self.channels_out,
            self.channels_in / self.groups.max(1),
            self.kernel,
        ]
    }
}

/// A 1-d convolution from `{name}.weight` `[out, in / groups, kernel]` and, when `shape.bias`,
/// `{name}.bias` `[out]` (weights normal(0, `std`), bias zeros when initialised).
pub fn conv1d<S: ParamSource>(source: &mut S, name: &str, shape: &Conv1dShape, std: f64) -> Conv1d {
    let weight = source.required(
        &format!("{name}.weight"),
        shape.weight_shape(),
        Init::Normal(std),
    );
    let bias = shape
        .bias
        .then(|| source.required(&format!("{name}.bias"), [shape.channels_out], Init::Zeros));
    conv1d_from(weight, bias, shape, source.device())
}

/// A 1-d convolution from a weight `[out, in / groups, kernel]` and optional bias `[out]`.
pub fn conv1d_from(
    weight: Tensor<3>,
    bias: Option<Tensor<1>>,
    shape: &Conv1dShape,
    device: &Device,
) -> Conv1d {
    let mut conv = Conv1dConfig::new(shape.channels_in, shape.channels_out, shape.kernel)
        .with_stride(shape.stride)
        .with_groups(shape.groups)
        .with_padding(PaddingConfig1d::Explicit(shape.padding.0, shape.padding.1))
        .with_bias(bias.is_some())
        .init(device);
    conv.weight = Param::from_tensor(weight);
    conv.bias = bias.map(Param::from_tensor);
    conv
}

/// The weight `{name}.weight` of a convolution wrapped in PyTorch's weight normalisation over
/// dimension `dim` (`weight_norm(conv, name="weight", dim=dim)`), folded into a plain weight:
/// `w = g * v / ||v||`, the norm taken over every dimension but `dim`, per index of `dim`.
///
/// Checkpoints store it under one of two namings, both accepted:
/// - `{name}.parametrizations.weight.original0` (g) and `.original1` (v): what current PyTorch
///   (`nn.utils.parametrizations.weight_norm`) and transformers write;
/// - `{name}.weight_g` and `{name}.weight_v`: the older `nn.utils.weight_norm` names (e.g.
///   wav2vec2-base-960h).
///
/// A plain `{name}.weight` (already folded) is accepted too. When the source has none of
/// them, the `weight_g` / `weight_v` pair is reported missing. g has the shape of the weight
/// with every dimension but `dim` set to 1. Fresh initialisation draws the weight from
/// normal(0, `std`) (g = ||v||, what transformers' initialisation amounts to).
///
/// Folding makes the result an ordinary parameter: fine-tuned, it trains as a plain weight,
/// not as (g, v) (same function, different gradient steps); with the convolution frozen the
/// two are identical.
pub fn weight_norm_weight<S: ParamSource>(
    source: &mut S,
    name: &str,
    shape: [usize; 3],
    dim: usize,
    std: f64,
) -> Tensor<3> {
    let mut g_shape = [1; 3];
    g_shape[dim] = shape[dim];
    let parametrized = format!("{name}.parametrizations.weight.original0");
    let (g_name, v_name) = if source.has(&parametrized) {
        (
            parametrized,
            format!("{name}.parametrizations.weight.original1"),
        )
    } else if source.has(&format!("{name}.weight")) && !source.has(&format!("{name}.weight_g")) {
        return source.required(&format!("{name}.weight"), shape, Init::Normal(std));
    } else {
        (format!("{name}.weight_g"), format!("{name}.weight_v"))
    };
    let fresh = !source.has(&g_name) && !source.has(&v_name);
    let v = source.required(&v_name, shape, Init::Normal(std));
    let g = source.required(&g_name, g_shape, Init::Ones);
    if fresh {
        // Newly initialised (or both missing, which `finish` reports): the weight is v.
        return v;
    }
    // A zero slice of v stays zero instead of dividing by zero.
    let norm = weight_norm_norm(v.clone(), dim).clamp_min(f32::MIN_POSITIVE);
    v * g / norm
}

/// `||v||` over every dimension but `dim`, keeping the dims: shape `[1, .., v.dims()[dim], .., 1]`.
fn weight_norm_norm(v: Tensor<3>, dim: usize) -> Tensor<3> {
    let mut squares = v.square();
    for d in 0..3 {
        if d != dim {
            squares = squares.sum_dim(d);
        }
    }
    squares.sqrt()
}
