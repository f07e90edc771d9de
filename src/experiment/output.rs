//! `[output]`: where runs, reports and caches go.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[output]`: where runs and reports go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// Name of the run folders; defaults to the experiment file's stem.
    pub name: Option<String>,
    /// Runs go to `<runs_dir>/<name>/` (config, checkpoints, metrics).
    pub runs_dir: PathBuf,
    /// Reports go to `<reports_dir>/<name>/` (report.md and figures).
    pub reports_dir: PathBuf,
    /// Frozen-trunk caches go to `<cache_dir>/<name>/`.
    pub cache_dir: PathBuf,
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            name: None,
            runs_dir: PathBuf::from("runs"),
            reports_dir: PathBuf::from("reports"),
            cache_dir: PathBuf::from("cache"),
        }
    }
}
