//! Benchmarks behind `emofuse bench`. They print times and ratios against a reference measured
//! in the same process; they never assert speed.

pub mod backends;
pub mod text;
