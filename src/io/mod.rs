//! File formats shared by several parts of the crate.
//!
//! - [`safetensors`]: named f32 / i64 arrays in the safetensors format (model weights, model
//!   inputs and outputs of `emofuse forward`, feature files);
//! - [`npy`]: NumPy `.npy` arrays (feature files of `emofuse features`);
//! - [`tfevents`]: TensorBoard event files (TFRecord framing, protobuf `Event`s).

pub mod atomic;
pub mod npy;
pub mod ordered_map;
pub mod safetensors;
pub mod tfevents;
