//! Dataset preparation for emofuse: turns corpora into 16 kHz mono audio files and one manifest
//! (CSV) per split, which emofuse experiments read.
//!
//! Today it exports the built-in synthetic corpus (`data-prep synthetic`), which is how tests and
//! demos get real files on disk; raw-corpus preparation (MELD) comes with the audio front end.

#![warn(missing_docs)]

pub mod manifest;
pub mod synthetic;
