//! Named arrays in the [safetensors](https://huggingface.co/docs/safetensors) format.
//!
//! Reading: [`SafetensorsFile::open`] reads a file once and converts one tensor at a time on
//! request ([`SafetensorsFile::f32`], [`SafetensorsFile::i64`]); [`read_f32`] / [`read_i64`] read a
//! single array. Floating-point tensors stored as f16, bf16 or f64 are widened / narrowed to f32;
//! integer tensors stored as i32 are widened to i64. Any other dtype is an error naming the file,
//! the tensor and the dtype found.
//!
//! Writing: [`write_f32`] for the common case of f32 arrays, [`write`] for a mix of f32 and i64
//! arrays ([`NamedArray`]). Files are written to a temporary name and renamed, so a reader never
//! sees half a file.

use anyhow::{Context, Result, bail};
use burn::tensor::{bf16, f16};
use safetensors::tensor::{Dtype, Metadata, TensorInfo, View};
use safetensors::{SafeTensors, serialize_to_file};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The values of a [`NamedArray`].
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayData {
    /// 32-bit floats (stored as safetensors `F32`).
    F32(Vec<f32>),
    /// 64-bit integers (stored as safetensors `I64`).
    I64(Vec<i64>),
}

impl ArrayData {
    fn len(&self) -> usize {
        match self {
            ArrayData::F32(v) => v.len(),
            ArrayData::I64(v) => v.len(),
        }
    }
}

/// One array to write: a name, a row-major shape and the values.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedArray {
    /// Tensor name in the file.
    pub name: String,
    /// Shape (row-major); its product is the number of values.
    pub shape: Vec<usize>,
    /// Values.
    pub data: ArrayData,
}

impl NamedArray {
    /// An f32 array.
    pub fn f32(name: impl Into<String>, shape: Vec<usize>, data: Vec<f32>) -> Self {
        Self {
            name: name.into(),
            shape,
            data: ArrayData::F32(data),
        }
    }

    /// An i64 array.
    pub fn i64(name: impl Into<String>, shape: Vec<usize>, data: Vec<i64>) -> Self {
        Self {
            name: name.into(),
            shape,
            data: ArrayData::I64(data),
        }
    }
}

/// A safetensors file held in memory; tensors are decoded one at a time on request.
#[derive(Debug)]
pub struct SafetensorsFile {
    path: PathBuf,
    bytes: Vec<u8>,
    /// Start of the data section in `bytes` (8-byte length prefix + JSON header).
    data_start: usize,
    tensors: BTreeMap<String, TensorInfo>,
}

impl SafetensorsFile {
    /// Reads and validates `path` (header, offsets).
    pub fn open(path: &Path) -> Result<Self> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let (header_len, metadata): (usize, Metadata) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| {
                anyhow::anyhow!(
                    "{} is not a valid safetensors file ({e}); re-download or re-export it",
                    path.display()
                )
            })?;
        let tensors = metadata
            .tensors()
            .into_iter()
            .map(|(name, info)| (name, info.clone()))
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            bytes,
            data_start: 8 + header_len,
            tensors,
        })
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Whether the file holds a tensor called `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Shape of tensor `name`, if present.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|info| info.shape.as_slice())
    }

    /// Stored dtype of tensor `name` (e.g. `F32`, `BF16`), if present.
    pub fn dtype(&self, name: &str) -> Option<String> {
        self.tensors
            .get(name)
            .map(|info| format!("{:?}", info.dtype))
    }

    fn raw(&self, name: &str) -> Result<(&TensorInfo, &[u8])> {
        let Some(info) = self.tensors.get(name) else {
            let names: Vec<&str> = self.names().collect();
            bail!(
                "{} has no tensor `{name}` (it has: {})",
                self.path.display(),
                names.join(", ")
            );
        };
        let (begin, end) = info.data_offsets;
        let bytes = &self.bytes[self.data_start + begin..self.data_start + end];
        Ok((info, bytes))
    }

    /// Tensor `name` as f32 values with its shape. F16, BF16 and F64 tensors are converted.
    pub fn f32(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let (info, bytes) = self.raw(name)?;
        let values = match info.dtype {
            Dtype::F32 => decode(bytes, f32::from_le_bytes),
            Dtype::F16 => decode(bytes, |b: [u8; 2]| f16::from_le_bytes(b).to_f32()),
            Dtype::BF16 => decode(bytes, |b: [u8; 2]| bf16::from_le_bytes(b).to_f32()),
            Dtype::F64 => decode(bytes, |b: [u8; 8]| f64::from_le_bytes(b) as f32),
            other => bail!(
                "tensor `{name}` in {} is {other:?}, expected a floating-point tensor (F32, F16, \
                 BF16 or F64)",
                self.path.display()
            ),
        };
        Ok((info.shape.clone(), values))
    }

    /// Tensor `name` as i64 values with its shape. I32 tensors are widened.
    pub fn i64(&self, name: &str) -> Result<(Vec<usize>, Vec<i64>)> {
        let (info, bytes) = self.raw(name)?;
        let values = match info.dtype {
            Dtype::I64 => decode(bytes, i64::from_le_bytes),
            Dtype::I32 => decode(bytes, |b: [u8; 4]| i32::from_le_bytes(b) as i64),
            other => bail!(
                "tensor `{name}` in {} is {other:?}, expected an integer tensor (I64 or I32); \
                 save it with dtype int64 (torch.long / numpy.int64)",
                self.path.display()
            ),
        };
        Ok((info.shape.clone(), values))
    }

    /// Integer tensor `name`, which must have the shape of tensor `like` (`shape`): e.g. an
    /// `attention_mask` beside its `input_ids`. Errors name both tensors and both shapes.
    pub fn i64_shaped_like(&self, name: &str, like: &str, shape: &[usize]) -> Result<Vec<i64>> {
        let (found, values) = self.i64(name)?;
        if found != shape {
            bail!(
                "{}: {name} has shape {found:?}, {like} {shape:?}; they must match",
                self.path.display()
            );
        }
        Ok(values)
    }
}

/// Little-endian decoding of `N`-byte elements. The data section has no alignment guarantee
/// relative to the Vec, so this copies instead of casting.
fn decode<T, const N: usize>(bytes: &[u8], from: impl Fn([u8; N]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(N)
        .map(|chunk| from(chunk.try_into().expect("chunk of N bytes")))
        .collect()
}

/// Reads one f32 array (see [`SafetensorsFile::f32`]).
pub fn read_f32(path: &Path, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
    SafetensorsFile::open(path)?.f32(name)
}

/// Reads one i64 array (see [`SafetensorsFile::i64`]).
pub fn read_i64(path: &Path, name: &str) -> Result<(Vec<usize>, Vec<i64>)> {
    SafetensorsFile::open(path)?.i64(name)
}

/// Writes f32 arrays given as `(name, shape, values)`.
pub fn write_f32(path: &Path, arrays: &[(&str, Vec<usize>, Vec<f32>)]) -> Result<()> {
    let arrays: Vec<NamedArray> = arrays
        .iter()
        .map(|(name, shape, data)| NamedArray::f32(*name, shape.clone(), data.clone()))
        .collect();
    write(path, &arrays)
}

/// Borrowed view handed to the safetensors serializer.
struct ArrayView<'a>(&'a NamedArray);

impl View for ArrayView<'_> {
    fn dtype(&self) -> Dtype {
        match self.0.data {
            ArrayData::F32(_) => Dtype::F32,
            ArrayData::I64(_) => Dtype::I64,
        }
    }

    fn shape(&self) -> &[usize] {
        &self.0.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        let bytes: Vec<u8> = match &self.0.data {
            ArrayData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ArrayData::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        };
        Cow::Owned(bytes)
    }

    fn data_len(&self) -> usize {
        match &self.0.data {
            ArrayData::F32(v) => v.len() * 4,
            ArrayData::I64(v) => v.len() * 8,
        }
    }
}

/// Writes arrays to `path` (created or replaced; the parent folder must exist).
pub fn write(path: &Path, arrays: &[NamedArray]) -> Result<()> {
    write_with_metadata(path, arrays, Default::default())
}

/// Like [`write`], with string metadata in the file header (`__metadata__`).
pub fn write_with_metadata(
    path: &Path,
    arrays: &[NamedArray],
    metadata: std::collections::BTreeMap<String, String>,
) -> Result<()> {
    let mut seen = BTreeSet::new();
    for array in arrays {
        if !seen.insert(array.name.as_str()) {
            bail!(
                "cannot write {}: two arrays are named `{}`",
                path.display(),
                array.name
            );
        }
        let expected: usize = array.shape.iter().product();
        if expected != array.data.len() {
            bail!(
                "cannot write {}: array `{}` has shape {:?} ({expected} values) but {} values",
                path.display(),
                array.name,
                array.shape,
                array.data.len()
            );
        }
    }
    let file_name = path
        .file_name()
        .with_context(|| format!("cannot write {}: not a file path", path.display()))?;
    let mut tmp_name = file_name.to_os_string();
    tmp_name.push(".partial");
    let tmp = path.with_file_name(tmp_name);
    let views = arrays.iter().map(|a| (a.name.as_str(), ArrayView(a)));
    let metadata = (!metadata.is_empty()).then(|| metadata.into_iter().collect());
    serialize_to_file(views, metadata, &tmp)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
}
