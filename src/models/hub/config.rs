//! Reading a HuggingFace `config.json` (or any JSON file) into a serde struct, with errors that
//! name the file and the offending key.

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use std::path::Path;

/// Parses the JSON file `path` into `T`. Errors name the file and, for a bad value, its key path
/// (e.g. `num_hidden_layers: invalid type: string "12", expected usize`).
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {} (download it from the model's HuggingFace page into that folder)",
            path.display()
        )
    })?;
    let deserializer = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let key = error.path().to_string();
        let inner = error.into_inner();
        if key.is_empty() || key == "." {
            anyhow::anyhow!("{} is not a valid config: {inner}", path.display())
        } else {
            anyhow::anyhow!("{}: `{key}`: {inner}", path.display())
        }
    })
}
