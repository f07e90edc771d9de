//! Pretrained models in the HuggingFace hub layout: a folder with `config.json`,
//! `model.safetensors` and tokenizer files, as downloaded from the hub.
//!
//! - [`config`]: reading `config.json` with errors naming the file;
//! - [`export`]: the way back, burn modules to transformers-named tensors in PyTorch layout;
//! - [`safetensors`]: loading checkpoint tensors by name into burn modules, with key mapping
//!   (head prefixes, old names) and a report of loaded / unused / missing / newly initialised
//!   parameters. Model-agnostic: every pretrained encoder loads through it.

pub mod config;
pub mod export;
pub mod safetensors;

use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

/// A model folder in the HuggingFace hub layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubFolder {
    dir: PathBuf,
}

impl HubFolder {
    /// The folder `dir`; an error when it is not a folder.
    pub fn new(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            bail!(
                "model folder {} does not exist; download config.json, model.safetensors and \
                 tokenizer.json from the model's HuggingFace page into one folder and point \
                 --model at it",
                dir.display()
            );
        }
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `config.json`, which must exist.
    pub fn config(&self) -> Result<PathBuf> {
        let path = self.dir.join("config.json");
        if !path.is_file() {
            bail!(
                "{} is missing; download config.json from the model's HuggingFace page into {}",
                path.display(),
                self.dir.display()
            );
        }
        Ok(path)
    }

    /// `model.safetensors`, which must exist (PyTorch `.bin` checkpoints are not read).
    pub fn weights(&self) -> Result<PathBuf> {
        let path = self.dir.join("model.safetensors");
        if path.is_file() {
            return Ok(path);
        }
        if self.dir.join("pytorch_model.bin").is_file() {
            bail!(
                "{} has pytorch_model.bin but no model.safetensors; download model.safetensors \
                 from the model's HuggingFace page (\"Files\" tab), or convert it in Python: \
                 AutoModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)",
                self.dir.display()
            );
        }
        bail!(
            "{} is missing; download model.safetensors from the model's HuggingFace page into {}",
            path.display(),
            self.dir.display()
        )
    }
}
