use crate::scratch_dir;
use emofuse::data::text::{CLS, UNK, WordTokenizer};

#[test]
fn tokenizer_encodes_with_cls_unknowns_and_truncation() {
    let tok = WordTokenizer::fit(["Oh my God!", "my keys, my phone"], 1);
    // 3 specials + {my, god, keys, oh, phone}; "my" is most frequent, ties alphabetical.
    assert_eq!(tok.vocab_size(), 8);
    let ids = tok.encode("MY keys... and the phone", 16);
    assert_eq!(ids[0], CLS);
    assert_eq!(ids[1], 3, "`my` is the most frequent word");
    assert_eq!(ids[3], UNK, "`and` was never seen");
    assert_eq!(ids.len(), 6);
    assert_eq!(tok.encode("my my my my", 3).len(), 3);
}

#[test]
fn tokenizer_round_trips_through_json() {
    let tok = WordTokenizer::fit(["don't stop", "stop it"], 1);
    let path = scratch_dir("tokenizer").join("vocab.json");
    tok.save(&path).unwrap();
    let back = WordTokenizer::load(&path).unwrap();
    assert_eq!(
        back.encode("don't stop it now", 8),
        tok.encode("don't stop it now", 8)
    );
    let err = format!(
        "{:#}",
        WordTokenizer::load(&path.with_extension("missing")).unwrap_err()
    );
    assert!(err.contains("vocab.missing"), "{err}");
}
