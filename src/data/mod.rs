//! Data: label maps, datasets, tokenisation and batching.

pub mod batch;
pub mod corpus;
pub mod dataset;
pub mod labels;
pub mod synthetic;
pub mod text;

pub use dataset::{Corpus, Utterance};
pub use labels::LabelMap;
