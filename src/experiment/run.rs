//! `[run]`: the seed and the backend.

use crate::core::BackendKind;
use serde::{Deserialize, Serialize};

/// `[run]`: reproducibility and hardware.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Seed of every random source: data, initialisation, dropout, shuffling.
    pub seed: u64,
    /// Repeat the run (or the k-fold) once per seed, each in `runs/<name>/seed-<s>/`, and
    /// report mean +- std over seeds (empty: one run with `seed`). The data (`data.seed`)
    /// stays that of `seed` unless set.
    pub seeds: Vec<u64>,
    /// With `seeds`: also score the seeds' ensemble, each test clip's class probabilities
    /// averaged over the seeds' models (per fold for k-fold runs), in the summary over seeds.
    pub ensemble: bool,
    /// Backend to train on.
    pub backend: BackendKind,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            seeds: Vec::new(),
            ensemble: false,
            backend: BackendKind::Cpu,
        }
    }
}
