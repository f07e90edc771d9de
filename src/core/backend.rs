//! Compute backends: their names and run-time selection among those compiled into this binary.

use anyhow::Result;
use burn::tensor::{Device, FloatDType};
use serde::{Deserialize, Serialize};

/// Compute backends emofuse knows about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// burn-flex on the CPU (always compiled in).
    #[default]
    Cpu,
    /// burn-wgpu (Vulkan, Metal, DX12); needs the `wgpu` cargo feature.
    Wgpu,
    /// burn-cuda on NVIDIA GPUs; needs the `cuda` cargo feature.
    Cuda,
}

impl BackendKind {
    /// The name used in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Cuda => "cuda",
        }
    }
}

/// Float type of the computation (`run.precision`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// Single precision, on every backend.
    #[default]
    F32,
    /// IEEE half precision (GPU backends).
    F16,
    /// bfloat16: f32's range with 8 bits of mantissa (GPU backends that have it).
    Bf16,
}

impl Precision {
    /// The name used in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
        }
    }

    /// Whether this is the default, single precision.
    pub fn is_f32(&self) -> bool {
        *self == Precision::F32
    }

    /// burn's float type of this precision.
    pub fn dtype(self) -> FloatDType {
        match self {
            Precision::F32 => FloatDType::F32,
            Precision::F16 => FloatDType::F16,
            Precision::Bf16 => FloatDType::BF16,
        }
    }
}

/// The device of a backend, or an error naming the cargo feature to enable.
pub fn device(kind: BackendKind) -> Result<Device> {
    match kind {
        BackendKind::Cpu => Ok(Device::flex()),
        BackendKind::Wgpu => wgpu_device(),
        BackendKind::Cuda => cuda_device(),
    }
}

/// The device of a backend computing in `precision`: every float tensor made on it (weights
/// as they load, inputs, intermediate values) has that type. burn fixes a device's float type
/// once per process, before its first tensor, so this is for processes that only infer
/// (predict, serve, eval, forward, cache builds); training runs in f32.
pub fn device_with(kind: BackendKind, precision: Precision) -> Result<Device> {
    let mut device = device(kind)?;
    if precision == Precision::F32 {
        return Ok(device);
    }
    let name = precision.as_str();
    if kind == BackendKind::Cpu {
        anyhow::bail!(
            "key `run.precision` = \"{name}\": half precision is for the GPU backends; the CPU \
             backend (burn-flex) has no half-precision arithmetic units to use and is faster in f32.\n  \
             fix: add `--backend wgpu` or `--backend cuda`, or set run.precision = \"f32\""
        );
    }
    let dtype = precision.dtype();
    if !device.supports_dtype(dtype) {
        anyhow::bail!(
            "key `run.precision` = \"{name}\": the {} device ({device:?}) does not support {name}.\n  \
             fix: set run.precision = \"{}\" or \"f32\"",
            kind.as_str(),
            if precision == Precision::F16 {
                "bf16"
            } else {
                "f16"
            }
        );
    }
    match device.configure(dtype) {
        Ok(()) => Ok(device),
        // Already fixed by an earlier call of this process: fine when it is the same type.
        Err(_) if device.settings().float_dtype == dtype => Ok(device),
        Err(e) => Err(anyhow::anyhow!(
            "cannot compute in {name} on the {} device: its float type is already {:?} in this \
             process ({e:?}); run the {name} job in a process of its own",
            kind.as_str(),
            device.settings().float_dtype
        )),
    }
}

/// Backends compiled into this binary.
pub fn compiled_backends() -> Vec<BackendKind> {
    let mut out = vec![BackendKind::Cpu];
    if cfg!(feature = "wgpu") {
        out.push(BackendKind::Wgpu);
    }
    if cfg!(feature = "cuda") {
        out.push(BackendKind::Cuda);
    }
    out
}

#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device> {
    Ok(Device::wgpu(burn::tensor::DeviceKind::default()))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> Result<Device> {
    Err(not_compiled("wgpu"))
}

#[cfg(feature = "cuda")]
fn cuda_device() -> Result<Device> {
    Ok(Device::cuda(0usize))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device() -> Result<Device> {
    Err(not_compiled("cuda"))
}

#[allow(dead_code)]
fn not_compiled(feature: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "backend `{feature}` is not compiled into this binary (compiled in: {}).\n  \
         fix: rebuild with the `{feature}` cargo feature, e.g. `cargo run --release --features {feature} -- train ...`, \
         or choose another backend with `--backend cpu`",
        compiled_backends()
            .iter()
            .map(|b| b.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}
