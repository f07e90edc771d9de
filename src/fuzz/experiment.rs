//! The experiment target: mutated experiment TOML through parsing, validation and, for models
//! of modest size, the model probe, as `emofuse train --dry-run` reads it.
//!
//! Besides the byte mutations, it edits the text as a person (or a cut-off copy) would: values
//! replaced with zeros, negatives, huge or non-finite numbers and wrong types, lines deleted,
//! duplicated or cut, keys of other sections pasted in.

use super::mutate::Mutator;
use super::{Seed, Target, Verdict};
use crate::core::BackendKind;
use crate::core::backend;
use crate::experiment::{Experiment, QUICKSTART_TOML};
use crate::pipeline::model::probe_scratch_model;
use anyhow::{Context, Result};
use burn::tensor::Device;
use rand::RngExt;
use std::path::Path;

/// Values that have broken parsers and model builders: boundaries, huge sizes, non-finite and
/// mistyped values.
const VALUES: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "100000",
    "100001",
    "2000000000",
    "18446744073709551615",
    "9223372036854775807",
    "1e308",
    "-1e308",
    "1e-320",
    "nan",
    "inf",
    "-inf",
    "0.5",
    "\"\"",
    "\"x\"",
    "\"../../../etc\"",
    "[]",
    "[0]",
    "[1, 100000]",
    "true",
    "{}",
];

/// Experiment text with lines, values or bytes changed, run through `Experiment::from_toml_str`.
pub struct ExperimentTarget {
    seeds: Vec<Seed>,
    device: Device,
}

impl ExperimentTarget {
    /// Seeds: every `experiments/*.toml` under `root`, and the built-in quickstart.
    pub fn new(root: &Path) -> Result<Self> {
        let mut seeds = vec![Seed {
            name: "built-in quickstart".into(),
            bytes: QUICKSTART_TOML.as_bytes().to_vec(),
        }];
        let dir = root.join("experiments");
        if dir.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .with_context(|| format!("cannot list {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            files.sort();
            for file in files {
                seeds.push(Seed {
                    name: file.display().to_string(),
                    bytes: std::fs::read(&file)
                        .with_context(|| format!("cannot read {}", file.display()))?,
                });
            }
        }
        Ok(Self {
            seeds,
            device: backend::device(BackendKind::default())?,
        })
    }
}

impl Target for ExperimentTarget {
    fn name(&self) -> &'static str {
        "experiment"
    }

    fn extension(&self) -> &'static str {
        "toml"
    }

    fn seeds(&self) -> &[Seed] {
        &self.seeds
    }

    fn mutate(&self, mutator: &mut Mutator, seed: &Seed) -> (Vec<u8>, Vec<String>) {
        if mutator.rng().random_bool(0.25) {
            let (bytes, mutations) = mutator.mutate(&seed.bytes);
            return (bytes, mutations.iter().map(ToString::to_string).collect());
        }
        let text = String::from_utf8_lossy(&seed.bytes);
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let mut applied = Vec::new();
        for _ in 0..mutator.rng().random_range(1..=3) {
            if lines.is_empty() {
                break;
            }
            let rng = mutator.rng();
            let i = rng.random_range(0..lines.len());
            match rng.random_range(0..6) {
                0..=2 => {
                    // A value replaced (the most common kind of bad experiment).
                    if let Some((key, _)) = lines[i].split_once('=') {
                        let value = VALUES[rng.random_range(0..VALUES.len())];
                        applied.push(format!("line {}: {} = {value}", i + 1, key.trim()));
                        lines[i] = format!("{}= {value}", key);
                    }
                }
                3 => {
                    applied.push(format!("line {} deleted", i + 1));
                    lines.remove(i);
                }
                4 => {
                    let j = rng.random_range(0..lines.len());
                    applied.push(format!("line {} pasted after line {}", j + 1, i + 1));
                    let copy = lines[j].clone();
                    lines.insert(i + 1, copy);
                }
                _ => {
                    // A copy cut off mid-line, as an interrupted download or editor leaves it.
                    let cut = rng.random_range(0..=lines[i].len());
                    let cut = (0..=cut)
                        .rev()
                        .find(|&c| lines[i].is_char_boundary(c))
                        .unwrap_or(0);
                    applied.push(format!("cut in line {} at column {cut}", i + 1));
                    lines[i].truncate(cut);
                    lines.truncate(i + 1);
                    return (lines.join("\n").into_bytes(), applied);
                }
            }
        }
        let mut out = lines.join("\n");
        out.push('\n');
        (out.into_bytes(), applied)
    }

    fn run(&mut self, input: &[u8]) -> Verdict {
        let Ok(text) = std::str::from_utf8(input) else {
            return Verdict::Refused("not UTF-8".into());
        };
        let experiment = match Experiment::from_toml_str(text, &[], "fuzz case") {
            Ok(experiment) => experiment,
            Err(e) => return Verdict::Refused(format!("{e:#}")),
        };
        if !modest(&experiment) {
            return Verdict::Accepted;
        }
        let classes = match experiment.label_map() {
            Ok(labels) => labels.len(),
            Err(e) => return Verdict::Refused(format!("{e:#}")),
        };
        // What `--dry-run` does next: build the model and run a batch of its shapes. Its
        // errors are fine; a panic escaping it is a finding.
        match probe_scratch_model(&experiment, classes, &self.device) {
            Ok(_) => Verdict::Accepted,
            Err(e) => Verdict::Refused(format!("{e:#}")),
        }
    }
}

/// Whether the model is small enough to build once per case (the campaign's memory budget is
/// a few GB; validation lets through models of up to 1e9 parameters, which are tested by
/// their arithmetic in `validate`, not by building them here).
fn modest(experiment: &Experiment) -> bool {
    let m = &experiment.model;
    let d = &experiment.data;
    let frames = experiment.front_end_config().frames();
    m.text_dim <= 512
        && m.text_layers <= 8
        && m.audio_channels <= 512
        && m.projection_dim <= 4096
        && m.hidden_dim <= 4096
        && m.cnn.channels.iter().all(|&c| c <= 512)
        && m.cnn.kernel <= 101
        && d.max_tokens <= 512
        && d.n_mels <= 256
        && frames <= 4000
}
