//! The cache on disk: memory-mapped `data.bin` and `index.bin`, read back as padded batches.

use super::CacheDtype;
use anyhow::{Context, Result, bail};
use burn::tensor::{Bool, Device, Tensor};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The frozen-trunk outputs of one split and branch, memory-mapped.
#[derive(Debug)]
pub struct CachedStates {
    data: memmap2::Mmap,
    /// Start row of each utterance, plus the total at the end.
    starts: Vec<usize>,
    width: usize,
    dtype: CacheDtype,
    /// Whether the rows are conv features (audio trunk ending at the conv encoder).
    pub conv: bool,
    /// The cache folder.
    pub dir: PathBuf,
}

impl CachedStates {
    /// Number of utterances.
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// Whether the cache holds no utterance.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Width of a row (hidden size or conv channels).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Rows of utterance `i`.
    pub fn rows(&self, i: usize) -> usize {
        self.starts[i + 1] - self.starts[i]
    }

    /// Appends utterance `i`'s rows, as f32, to `out`, then `pad_rows` rows of zeros.
    pub fn read_into(&self, i: usize, pad_rows: usize, out: &mut Vec<f32>) {
        let (start, end) = (self.starts[i] * self.width, self.starts[i + 1] * self.width);
        match self.dtype {
            CacheDtype::F32 => {
                let bytes = &self.data[start * 4..end * 4];
                out.extend(
                    bytes
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                );
            }
            CacheDtype::F16 => {
                let bytes = &self.data[start * 2..end * 2];
                out.extend(
                    bytes
                        .chunks_exact(2)
                        .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()),
                );
            }
        }
        out.resize(out.len() + pad_rows * self.width, 0.0);
    }

    /// Stacks utterances into `[batch, max rows, width]` (zero padded) and the valid-row mask
    /// `[batch, max rows]`.
    pub fn batch(&self, indices: &[usize], device: &Device) -> (Tensor<3>, Vec<usize>) {
        let rows: Vec<usize> = indices.iter().map(|&i| self.rows(i)).collect();
        let max = rows.iter().copied().max().unwrap_or(1).max(1);
        let mut values = Vec::with_capacity(indices.len() * max * self.width);
        for (&i, &r) in indices.iter().zip(&rows) {
            self.read_into(i, max - r, &mut values);
        }
        let data = burn::tensor::TensorData::new(values, [indices.len(), max, self.width]);
        (Tensor::from_data(data, device), rows)
    }
}

/// A mask `[batch, max(rows)]` with the first `rows[b]` entries of row b set.
pub fn prefix_mask_int(rows: &[usize], device: &Device) -> Tensor<2, burn::tensor::Int> {
    let max = rows.iter().copied().max().unwrap_or(1).max(1);
    let values: Vec<i64> = rows
        .iter()
        .flat_map(|&r| (0..max).map(move |j| i64::from(j < r)))
        .collect();
    Tensor::from_data(
        burn::tensor::TensorData::new(values, [rows.len(), max]),
        device,
    )
}

/// [`prefix_mask_int`] as booleans.
pub fn prefix_mask_bool(rows: &[usize], device: &Device) -> Tensor<2, Bool> {
    prefix_mask_int(rows, device).equal_elem(1)
}

pub(super) fn read_index(path: &Path) -> Vec<u32> {
    std::fs::read(path)
        .unwrap_or_default()
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

pub(super) fn open(
    dir: &Path,
    dtype: CacheDtype,
    width_path: &Path,
    expected: usize,
) -> Result<CachedStates> {
    let index = read_index(&dir.join("index.bin"));
    if index.len() != expected {
        bail!(
            "cache {} holds {} utterances, expected {expected}; delete the folder to rebuild it",
            dir.display(),
            index.len()
        );
    }
    let width: usize = std::fs::read_to_string(width_path)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .with_context(|| {
            format!(
                "cache {} has no width file; delete the folder",
                dir.display()
            )
        })?;
    let mut starts = Vec::with_capacity(index.len() + 1);
    let mut total = 0usize;
    starts.push(0);
    for r in &index {
        total += *r as usize;
        starts.push(total);
    }
    let file = File::open(dir.join("data.bin"))?;
    // SAFETY: the file is only appended to by a build, which has finished (`complete`
    // exists); nothing truncates it while this map lives.
    let data = unsafe { memmap2::Mmap::map(&file) }
        .with_context(|| format!("cannot map {}", dir.join("data.bin").display()))?;
    let bytes = match dtype {
        CacheDtype::F16 => 2,
        CacheDtype::F32 => 4,
    };
    if data.len() != total * width * bytes {
        bail!(
            "cache {}: data.bin has {} bytes, the index says {}; delete the folder to rebuild it",
            dir.display(),
            data.len(),
            total * width * bytes
        );
    }
    let conv = false;
    Ok(CachedStates {
        data,
        starts,
        width,
        dtype,
        conv,
        dir: dir.to_path_buf(),
    })
}
