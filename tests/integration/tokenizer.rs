//! The HuggingFace tokenizer wrapper against transformers' ids for roberta-base on real MELD
//! utterances (tests/fixtures/text/tokenizer_reference.json, made by make_fixtures.py).

use crate::{repo_path, scratch_dir};
use emofuse::data::tokenizer::{DEFAULT_MAX_LEN, HfTokenizer};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Deserialize)]
struct Reference {
    max_length: usize,
    items: Vec<Item>,
    batch: Batch,
}

#[derive(Deserialize)]
struct Item {
    kind: String,
    text: String,
    ids: Vec<u32>,
}

#[derive(Deserialize)]
struct Batch {
    texts: Vec<String>,
    input_ids: Vec<Vec<i64>>,
    attention_mask: Vec<Vec<i64>>,
}

fn fixture(name: &str) -> PathBuf {
    repo_path("tests/fixtures/text").join(name)
}

fn reference() -> Reference {
    let text = std::fs::read_to_string(fixture("tokenizer_reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn check_all(tokenizer: &HfTokenizer, reference: &Reference) {
    assert_eq!(reference.max_length, DEFAULT_MAX_LEN);
    let mut truncated = 0;
    for item in &reference.items {
        let ids = tokenizer.encode(&item.text, reference.max_length).unwrap();
        assert_eq!(ids, item.ids, "{} {:?}", item.kind, item.text);
        truncated += usize::from(ids.len() == reference.max_length);
    }
    assert!(truncated >= 3, "the fixture has truncated utterances");
    let kinds: Vec<&str> = reference.items.iter().map(|i| i.kind.as_str()).collect();
    for kind in [
        "edge case",
        "meld as cp1252 mojibake",
        "meld non-ascii",
        "meld random",
    ] {
        assert!(kinds.contains(&kind), "fixture covers {kind}");
    }

    let batch = tokenizer
        .encode_batch(&reference.batch.texts, reference.max_length)
        .unwrap();
    assert_eq!(batch.batch, reference.batch.texts.len());
    assert_eq!(batch.tokens, reference.batch.input_ids[0].len());
    assert_eq!(batch.input_ids, reference.batch.input_ids.concat());
    assert_eq!(
        batch.attention_mask,
        reference.batch.attention_mask.concat()
    );
}

#[test]
fn roberta_tokenizer_json_matches_transformers_on_meld() {
    let tokenizer = HfTokenizer::from_dir(&fixture("roberta-base-tokenizer")).unwrap();
    assert_eq!(tokenizer.pad_id(), 1);
    assert_eq!(tokenizer.vocab_size(), 50265);
    check_all(&tokenizer, &reference());
}

#[test]
fn roberta_vocab_and_merges_match_transformers_on_meld() {
    // vocab.json and merges.txt are the same data as tokenizer.json's model section; rebuilt
    // here so the fixture holds the 1.3 MB of vocabulary once.
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("roberta-base-tokenizer/tokenizer.json")).unwrap(),
    )
    .unwrap();
    let dir = scratch_dir("tokenizer-vocab-merges");
    std::fs::write(
        dir.join("vocab.json"),
        serde_json::to_string(&json["model"]["vocab"]).unwrap(),
    )
    .unwrap();
    let merges: Vec<&str> = json["model"]["merges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    std::fs::write(
        dir.join("merges.txt"),
        format!("#version: 0.2\n{}\n", merges.join("\n")),
    )
    .unwrap();
    let tokenizer = HfTokenizer::from_dir(&dir).unwrap();
    assert_eq!(tokenizer.pad_id(), 1);
    check_all(&tokenizer, &reference());
}

#[test]
fn tokenizer_errors_name_the_file() {
    let dir = scratch_dir("tokenizer-errors");
    let error = HfTokenizer::from_dir(&dir).unwrap_err().to_string();
    assert!(
        error.contains("tokenizer.json") && error.contains("vocab.json"),
        "{error}"
    );
    std::fs::write(dir.join("tokenizer.json"), "{ not json").unwrap();
    let error = HfTokenizer::from_dir(&dir).unwrap_err().to_string();
    assert!(error.contains("tokenizer-errors/tokenizer.json"), "{error}");

    let tokenizer = HfTokenizer::from_dir(&fixture("roberta-base-tokenizer")).unwrap();
    let error = tokenizer.encode("hello", 2).unwrap_err().to_string();
    assert!(error.contains("at least 3"), "{error}");
}
