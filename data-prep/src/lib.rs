//! Dataset preparation for emofuse: turns corpora into 16 kHz mono audio files and one manifest
//! (CSV) per split, which emofuse experiments read.
//!
//! - `data-prep synthetic`: the built-in synthetic corpus as files (how tests and demos get real
//!   files on disk);
//! - `data-prep meld`: MELD's raw clips (MP4/AAC, wherever they sit) to 16 kHz mono WAV plus
//!   manifests, with a report of every row that has no usable audio.

#![warn(missing_docs)]

pub mod manifest;
pub mod meld;
pub mod synthetic;
pub mod wav;
