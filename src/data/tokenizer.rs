//! HuggingFace tokenizers for pretrained text encoders (RoBERTa, BERT), through the `tokenizers`
//! crate: the same Rust code transformers' "fast" tokenizers run, so ids match transformers.
//!
//! A model folder's `tokenizer.json` is used when present; a RoBERTa / GPT-2 folder with only
//! `vocab.json` and `merges.txt` is assembled as transformers does (byte-level BPE, `<s> ... </s>`
//! around each text). Batches are truncated to a maximum length (special tokens included, 128 by
//! default) and padded to their longest row with an attention mask.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::processors::roberta::RobertaProcessing;
use tokenizers::{AddedToken, PostProcessor, Tokenizer, TruncationDirection};

/// Default maximum sequence length, special tokens included.
pub const DEFAULT_MAX_LEN: usize = 128;

/// A batch of encoded texts, row-major `[batch, tokens]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBatch {
    /// Token ids, padded with the tokenizer's padding id.
    pub input_ids: Vec<i64>,
    /// 1 for tokens, 0 for padding.
    pub attention_mask: Vec<i64>,
    /// Number of texts.
    pub batch: usize,
    /// Tokens per row (the longest row, at most the maximum length).
    pub tokens: usize,
}

/// Special tokens around and between texts (see [`HfTokenizer::layout`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecialLayout {
    /// Before the first text (`<s>`, `[CLS]`).
    pub open: Vec<u32>,
    /// Between two texts (`</s></s>`, `[SEP]`).
    pub between: Vec<u32>,
    /// After the last text (`</s>`, `[SEP]`).
    pub close: Vec<u32>,
}

/// A HuggingFace tokenizer with its padding id.
#[derive(Debug, Clone)]
pub struct HfTokenizer {
    inner: Tokenizer,
    pad_id: u32,
    source: PathBuf,
}

impl HfTokenizer {
    /// The tokenizer of a model folder: `tokenizer.json`, else `vocab.json` + `merges.txt`.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let json = dir.join("tokenizer.json");
        if json.is_file() {
            return Self::from_tokenizer_json(&json);
        }
        let (vocab, merges) = (dir.join("vocab.json"), dir.join("merges.txt"));
        if vocab.is_file() && merges.is_file() {
            return Self::from_vocab_merges(&vocab, &merges);
        }
        bail!(
            "{} has no tokenizer: expected tokenizer.json (or vocab.json and merges.txt); \
             download them from the model's HuggingFace page into that folder",
            dir.display()
        )
    }

    /// The files the tokenizer at `path` is read from, in the order [`HfTokenizer::from_dir`]
    /// looks for them: `path` itself when it is a file (a `tokenizer.json`), else the folder's
    /// `tokenizer.json`, else its `vocab.json` and `merges.txt`. What a cache of token-level
    /// states must depend on: a key built from other files would reuse a stale cache after
    /// the tokenizer changed.
    pub fn source_files(path: &Path) -> Result<Vec<PathBuf>> {
        if path.is_file() {
            return Ok(vec![path.to_path_buf()]);
        }
        let json = path.join("tokenizer.json");
        if json.is_file() {
            return Ok(vec![json]);
        }
        let (vocab, merges) = (path.join("vocab.json"), path.join("merges.txt"));
        if vocab.is_file() && merges.is_file() {
            return Ok(vec![vocab, merges]);
        }
        bail!(
            "{} has no tokenizer: expected tokenizer.json (or vocab.json and merges.txt); \
             download them from the model's HuggingFace page into that folder",
            path.display()
        )
    }

    /// Reads a `tokenizer.json`. Padding and truncation saved in the file are ignored (the
    /// caller's maximum length applies).
    pub fn from_tokenizer_json(path: &Path) -> Result<Self> {
        let inner = Tokenizer::from_file(path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read tokenizer {}: {e} (re-download tokenizer.json from the model's \
                 HuggingFace page)",
                path.display()
            )
        })?;
        let saved_pad = inner.get_padding().map(|p| p.pad_token.clone());
        Self::finish(inner, saved_pad, path)
    }

    /// A RoBERTa (GPT-2 byte-level BPE) tokenizer from `vocab.json` and `merges.txt`, built as
    /// transformers' `RobertaTokenizerFast` converts them.
    pub fn from_vocab_merges(vocab: &Path, merges: &Path) -> Result<Self> {
        let bpe = BPE::from_file(&vocab.to_string_lossy(), &merges.to_string_lossy())
            .build()
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot read BPE files {} and {}: {e} (re-download them from the model's \
                     HuggingFace page)",
                    vocab.display(),
                    merges.display()
                )
            })?;
        let mut inner = Tokenizer::new(bpe);
        let id = |token: &str| {
            inner.token_to_id(token).with_context(|| {
                format!(
                    "{} has no `{token}`; is it a RoBERTa vocabulary? (use the model's \
                     tokenizer.json instead)",
                    vocab.display()
                )
            })
        };
        let (cls, sep) = (id("<s>")?, id("</s>")?);
        for token in ["<pad>", "<unk>", "<mask>"] {
            id(token)?;
        }
        inner
            .with_pre_tokenizer(Some(ByteLevel::new(false, true, true)))
            .with_post_processor(Some(
                RobertaProcessing::new(("</s>".into(), sep), ("<s>".into(), cls))
                    .trim_offsets(true)
                    .add_prefix_space(false),
            ))
            .with_decoder(Some(ByteLevel::default()));
        // Special tokens in a text are matched whole, as transformers does; `<mask>` also eats
        // the space before it.
        inner.add_special_tokens(&[
            AddedToken::from("<s>", true),
            AddedToken::from("<pad>", true),
            AddedToken::from("</s>", true),
            AddedToken::from("<unk>", true),
            AddedToken::from("<mask>", true).lstrip(true),
        ]);
        Self::finish(inner, Some("<pad>".into()), vocab)
    }

    fn finish(mut inner: Tokenizer, pad: Option<String>, source: &Path) -> Result<Self> {
        let candidates: Vec<String> = pad
            .into_iter()
            .chain(["<pad>".to_string(), "[PAD]".to_string()])
            .collect();
        let Some(pad_id) = candidates.iter().find_map(|t| inner.token_to_id(t)) else {
            bail!(
                "{}: no padding token (looked for {}); is this a RoBERTa or BERT tokenizer?",
                source.display(),
                candidates.join(", ")
            );
        };
        // The caller's maximum length applies, not what the file was saved with.
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| anyhow::anyhow!("{}: {e}", source.display()))?;
        Ok(Self {
            inner,
            pad_id,
            source: source.to_path_buf(),
        })
    }

    /// The padding id.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Vocabulary size, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Ids of `text` with the model's special tokens, truncated to `max_len` ids (the text is
    /// cut, the special tokens kept), unpadded.
    pub fn encode(&self, text: &str, max_len: usize) -> Result<Vec<u32>> {
        let specials = self
            .inner
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(false));
        if max_len <= specials {
            bail!(
                "maximum length {max_len} leaves no room for text after the {specials} special \
                 tokens; use at least {}",
                specials + 1
            );
        }
        let error = |e| anyhow::anyhow!("tokenizer {}: {e}", self.source.display());
        // What tokenizers does for a single text with truncation on: tokenize without the
        // special tokens, cut to leave room for them, then add them.
        let mut encoding = self.inner.encode(text, false).map_err(error)?;
        encoding.truncate(max_len - specials, 0, TruncationDirection::Right);
        let encoding = self
            .inner
            .post_process(encoding, None, true)
            .map_err(error)?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Ids of `text` without special tokens and without truncation.
    pub fn tokens(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, false)
            .map_err(|e| anyhow::anyhow!("tokenizer {}: {e}", self.source.display()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The special tokens of the tokenizer's pair template: before the first text, between two
    /// texts, after the last (`<s>`, `</s></s>`, `</s>` for RoBERTa; `[CLS]`, `[SEP]`, `[SEP]`
    /// for BERT).
    pub fn layout(&self) -> Result<SpecialLayout> {
        let error = |e| anyhow::anyhow!("tokenizer {}: {e}", self.source.display());
        let single = self
            .inner
            .post_process(Default::default(), None, true)
            .map_err(error)?;
        let pair = self
            .inner
            .post_process(Default::default(), Some(Default::default()), true)
            .map_err(error)?;
        let (single, pair) = (single.get_ids(), pair.get_ids());
        // A template that wraps one text as `open text close` and two as
        // `open a between b close`: the single form is the pair form without `between`.
        let open = single.len().min(1);
        let close = single.len() - open;
        if pair.len() < single.len() || pair[..open] != single[..open] {
            bail!(
                "{}: the tokenizer's special tokens do not wrap texts as RoBERTa or BERT do (one text: {single:?}, two: {pair:?})",
                self.source.display()
            );
        }
        Ok(SpecialLayout {
            open: pair[..open].to_vec(),
            between: pair[open..pair.len() - close].to_vec(),
            close: pair[pair.len() - close..].to_vec(),
        })
    }

    /// Encodes texts truncated to `max_len` ids and padded to the longest row, as transformers'
    /// `tokenizer(texts, padding=True, truncation=True, max_length=max_len)`.
    pub fn encode_batch<S: AsRef<str>>(&self, texts: &[S], max_len: usize) -> Result<EncodedBatch> {
        let rows = texts
            .iter()
            .map(|text| self.encode(text.as_ref(), max_len))
            .collect::<Result<Vec<_>>>()?;
        let tokens = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut batch = EncodedBatch {
            input_ids: Vec::with_capacity(rows.len() * tokens),
            attention_mask: Vec::with_capacity(rows.len() * tokens),
            batch: rows.len(),
            tokens,
        };
        for row in rows {
            let padding = tokens - row.len();
            batch.input_ids.extend(row.iter().map(|&id| id as i64));
            batch
                .input_ids
                .extend(std::iter::repeat_n(self.pad_id as i64, padding));
            batch
                .attention_mask
                .extend(std::iter::repeat_n(1, row.len()));
            batch.attention_mask.extend(std::iter::repeat_n(0, padding));
        }
        Ok(batch)
    }
}
