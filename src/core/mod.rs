//! The shared vocabulary every layer speaks: modalities, split names, speaker gender, the label
//! map, compute backends, and the events library code reports instead of printing.
//!
//! Nothing here imports another emofuse module.

pub mod backend;
pub mod events;
pub mod gender;
pub mod labels;
pub mod modality;
pub mod panic;
pub mod split;

pub use backend::{BackendKind, Precision};
pub use events::{Event, Observer};
pub use gender::Gender;
pub use labels::{LabelMap, MELD_EMOTIONS};
pub use modality::Modality;
pub use split::SplitName;
