//! Benchmarks behind `emofuse bench`. They print times and ratios against a reference measured
//! in the same process; they never assert speed.

pub mod audio_encoder;
pub mod backends;
pub mod features;
pub mod text;
