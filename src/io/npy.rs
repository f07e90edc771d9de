//! NumPy `.npy` files (format 1.0, little-endian f32), readable with `numpy.load`.

use anyhow::{Result, ensure};
use std::path::Path;

/// Writes `data` with `shape` (C order) to `path` as a little-endian float32 `.npy` array.
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    ensure!(
        shape.iter().product::<usize>() == data.len(),
        "internal error: shape {shape:?} does not hold {} values",
        data.len()
    );
    let shape_text = match shape {
        [n] => format!("({n},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Magic (6) + version (2) + length (2) + header + '\n' must be a multiple of 64.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat(total.next_multiple_of(64) - total));
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + 4 * data.len());
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for value in data {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    super::atomic::write(path, &bytes)
}
