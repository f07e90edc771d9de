//! Training: backend selection, class weights, gradient clipping, progress display and the
//! burn-train learner that ties them together.

pub mod backend;
pub mod clip;
pub mod history;
pub mod outputs;
pub mod renderer;
pub mod resume;
pub mod run;
pub mod weights;

pub use run::{RunSummary, TrainOptions, train};
