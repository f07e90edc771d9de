//! emofuse: speech and multimodal (text + speech) emotion recognition, trained with burn.
//!
//! The crate is organised by job, one folder each:
//! - [`config`]: experiment files (TOML), overrides and validation;
//! - [`data`]: label maps, datasets (the built-in `synthetic` corpus), tokenisation, batching;
//! - [`features`]: audio features (log-mel spectrograms);
//! - [`io`]: file formats (safetensors arrays: weights, model inputs/outputs, features);
//! - [`models`]: encoders and the late-fusion classifier;
//! - [`training`]: backend selection, the training loop (checkpoints, resume, schedules),
//!   frozen-trunk caches, class weights, gradient clipping, k-fold runs;
//! - [`evaluation`]: metrics (scikit-learn compatible) and prediction loops;
//! - [`reports`]: `report.md`, confusion matrices and curves rendered with plotters;
//! - [`serving`]: a trained run behind HTTP (`emofuse serve`): demo page and prediction API;
//! - [`cli`]: the `emofuse` command line; [`bench`]: benchmarks behind `emofuse bench`.

#![warn(missing_docs)]

pub mod audio;
pub mod bench;
pub mod cli;
pub mod core;
pub mod data;
pub mod evaluation;
pub mod experiment;
pub mod features;
pub mod fuzz;
pub mod inference;
pub mod io;
pub mod models;
pub mod pipeline;
pub mod reports;
pub mod serving;
pub mod terminal;
pub mod training;
