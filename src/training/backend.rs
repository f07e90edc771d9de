//! Run-time backend selection among the backends compiled into this binary.

use crate::config::BackendKind;
use anyhow::Result;
use burn::tensor::Device;

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
