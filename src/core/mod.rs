//! The shared vocabulary every layer speaks: modalities, split names, speaker gender, the label
//! map, compute backends, the events library code reports instead of printing, and returning freed
//! heap memory to the system.
//!
//! Nothing here imports another emofuse module.

pub mod backend;
pub mod events;
pub mod gender;
pub mod labels;
pub mod memory;
pub mod modality;
pub mod panic;
pub mod split;

pub use backend::{BackendKind, Precision};
pub use events::{Event, Observer};
pub use gender::Gender;
pub use labels::{LabelMap, MELD_EMOTIONS};
pub use modality::Modality;
pub use split::SplitName;
