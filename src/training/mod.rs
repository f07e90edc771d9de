//! Training: backend selection, the model and its frozen trunks, split inputs and the
//! frozen-trunk cache, class weights, gradient clipping, learning-rate schedules and the
//! training loop that ties them together.

pub mod cache;
pub mod crossval;
pub mod grad_clip;
pub mod inputs;
pub mod outputs;
pub mod resume;
pub mod run;
pub mod schedule;
pub mod setup;
pub mod trainer;
pub mod trunk;
pub mod weights;

pub use run::{RunSummary, TrainOptions, train};
