//! Data: label maps, datasets (MELD-style corpora; speech emotion datasets in [`speech`]), the
//! audio front end, tokenisation and batching.

pub mod batch;
pub mod context;
pub mod dataset;
pub mod manifest;
pub mod pretrained;
pub mod speech;
pub mod synthetic;
pub mod text;
pub mod text_table;
pub mod tokenizer;

pub use dataset::{Corpus, Turn, Utterance};
