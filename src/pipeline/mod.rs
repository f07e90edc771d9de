//! Pipelines: an experiment turned into runs. Training one run (data, model, fit, evaluation,
//! outputs), pooled and k-fold speaker runs, resuming, sweeps over a grid of settings, and
//! loading a finished run.

pub mod caches;
pub mod corpus;
pub mod cross_corpus;
pub mod crossval;
pub mod cv_record;
pub mod export;
pub mod fold_jobs;
pub mod model;
pub mod outputs;
pub mod probe;
pub mod resume;
pub mod run;
pub mod seeds;
pub mod setup;
pub mod sweep;
pub mod train;
pub mod trained;

pub use run::{RunSummary, TrainOptions};
pub use train::train;
