//! `[run]`: the seed, the backend and its precision.

use crate::core::BackendKind;
use crate::core::backend::Precision;
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
    /// Float type of inference (predict, serve, eval, forward) and of frozen-trunk cache builds
    /// (`emofuse cache`) on the GPU backends: "f32", "f16" or "bf16". Training itself runs in
    /// f32 (burn 0.22 has no automatic mixed precision); a run with "f16" trains its top on
    /// the f16 trunk cache that `emofuse cache` built. Left out of a written config when f32,
    /// so that the configs of earlier runs (resume checks, committed reports) still match.
    #[serde(skip_serializing_if = "Precision::is_f32")]
    pub precision: Precision,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            seeds: Vec::new(),
            ensemble: false,
            backend: BackendKind::Cpu,
            precision: Precision::F32,
        }
    }
}

/// A backend and precision chosen on the command line for a finished run, over its own
/// `run.backend` and `run.precision` (`None`: the run's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceChoice {
    /// Backend to run on.
    pub backend: Option<BackendKind>,
    /// Float type to compute in.
    pub precision: Option<Precision>,
}

impl DeviceChoice {
    /// `run` with this choice applied.
    pub fn apply(&self, run: &mut RunConfig) {
        if let Some(backend) = self.backend {
            run.backend = backend;
        }
        if let Some(precision) = self.precision {
            run.precision = precision;
        }
    }
}
