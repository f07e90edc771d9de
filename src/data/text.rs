//! A word-level tokenizer for the small built-in text encoder.
//!
//! Pretrained encoders (RoBERTa, BERT) use the HuggingFace `tokenizers` crate instead; this one
//! exists so that the quickstart model trains from scratch with no download.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// Id of the padding token.
pub const PAD: u32 = 0;
/// Id of words not in the vocabulary.
pub const UNK: u32 = 1;
/// Id of the first token of every sequence, whose final state is the utterance vector.
pub const CLS: u32 = 2;
const SPECIALS: [&str; 3] = ["[PAD]", "[UNK]", "[CLS]"];

/// A vocabulary learned from training transcripts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordTokenizer {
    /// Tokens by id; the first three are `[PAD]`, `[UNK]`, `[CLS]`.
    tokens: Vec<String>,
    #[serde(skip)]
    ids: HashMap<String, u32>,
}

impl WordTokenizer {
    /// Learns a vocabulary from texts: every word seen at least `min_count` times, most frequent
    /// first (ties alphabetical, so the result does not depend on input order).
    pub fn fit<'a>(texts: impl IntoIterator<Item = &'a str>, min_count: usize) -> Self {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for text in texts {
            for word in words(text) {
                *counts.entry(word).or_default() += 1;
            }
        }
        let mut words: Vec<(String, usize)> = counts
            .into_iter()
            .filter(|(_, c)| *c >= min_count)
            .collect();
        words.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let tokens = SPECIALS
            .iter()
            .map(|s| s.to_string())
            .chain(words.into_iter().map(|(w, _)| w))
            .collect();
        Self::from_tokens(tokens)
    }

    fn from_tokens(tokens: Vec<String>) -> Self {
        let ids = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        Self { tokens, ids }
    }

    /// Vocabulary size, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// `[CLS]` followed by the word ids of `text`, cut to `max_tokens` ids.
    pub fn encode(&self, text: &str, max_tokens: usize) -> Vec<u32> {
        std::iter::once(CLS)
            .chain(words(text).map(|w| self.ids.get(&w).copied().unwrap_or(UNK)))
            .take(max_tokens)
            .collect()
    }

    /// Writes the vocabulary as JSON.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(&self.tokens)?;
        crate::io::atomic::write(path, json.as_bytes())
    }

    /// Reads a vocabulary written by [`WordTokenizer::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read vocabulary {}", path.display()))?;
        let tokens: Vec<String> = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a JSON list of tokens", path.display()))?;
        Ok(Self::from_tokens(tokens))
    }
}

/// Lower-cased words: runs of letters, digits and apostrophes.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}
