//! Compute backends: their names and run-time selection among those compiled into this binary.

use anyhow::Result;
use burn::tensor::Device;
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

/// The device of a backend, or an error naming the cargo feature to enable.
pub fn device(kind: BackendKind) -> Result<Device> {
    match kind {
        BackendKind::Cpu => Ok(Device::flex()),
        BackendKind::Wgpu => wgpu_device(),
        BackendKind::Cuda => cuda_device(),
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
