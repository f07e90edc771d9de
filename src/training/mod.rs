//! Training: the fit loop (optimiser, accumulation, clipping, schedules, early stopping,
//! checkpoint selection), feature masking and mixup of training batches, class weights and the
//! per-epoch history.

pub mod config;
pub mod grad_clip;
pub mod history;
pub mod mixing;
pub mod schedule;
pub mod trainer;
pub mod weights;
