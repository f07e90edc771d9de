//! Training: the fit loop (optimiser, accumulation, clipping, schedules, early stopping,
//! checkpoint selection), class weights and the per-epoch history.

pub mod config;
pub mod grad_clip;
pub mod history;
pub mod schedule;
pub mod trainer;
pub mod weights;
