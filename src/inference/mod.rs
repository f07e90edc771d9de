//! Inference: the encoders and their frozen trunks, model inputs per split (computed, or read
//! from the frozen-trunk cache), batching, and prediction.

pub mod cache;
pub mod inputs;
pub mod predict;
pub mod trunk;
