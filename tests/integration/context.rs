//! Dialogue context (`[data.context]`): the EmoBERTa layout with both tokenizer families,
//! checked against the `tokenizers` crate's own pair template (what transformers' fast
//! tokenizers run) and against the segments' texts tokenized whole; nearest-first alternation,
//! the budget, the current utterance kept whole, dialogue boundaries and turn order, errors.

use crate::{repo_path, scratch_dir};
use emofuse::data::context::{ContextConfig, Neighbours, encode_with_context};
use emofuse::data::tokenizer::HfTokenizer;
use emofuse::data::{Turn, Utterance};
use std::path::PathBuf;
use tokenizers::Tokenizer;

/// The real roberta-base tokenizer (byte-level BPE).
fn roberta() -> (HfTokenizer, Tokenizer) {
    let path = repo_path("tests/fixtures/text/roberta-base-tokenizer/tokenizer.json");
    (
        HfTokenizer::from_tokenizer_json(&path).unwrap(),
        Tokenizer::from_file(&path).unwrap(),
    )
}

/// A small BERT WordPiece tokenizer (lower-casing normaliser, BERT pre-tokenizer, `[CLS] A
/// [SEP] B [SEP]` template), written as a tokenizer.json as transformers saves one.
fn bert() -> (HfTokenizer, Tokenizer) {
    use tokenizers::models::wordpiece::WordPiece;
    use tokenizers::normalizers::bert::BertNormalizer;
    use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
    use tokenizers::processors::bert::BertProcessing;
    let words = [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ":", "?", "!", ".", "'", "monica", "ross",
        "rachel", "joey", "hi", "there", "what", "happened", "oh", "my", "god", "how", "you", "do",
        "##in", "so", "long", "a",
    ];
    let dir = scratch_dir("context-bert");
    let vocab = dir.join("vocab.txt");
    std::fs::write(&vocab, words.join("\n")).unwrap();
    let model = WordPiece::from_file(&vocab.display().to_string())
        .unk_token("[UNK]".into())
        .build()
        .unwrap();
    let mut tokenizer = Tokenizer::new(model);
    tokenizer
        .with_normalizer(Some(BertNormalizer::default()))
        .with_pre_tokenizer(Some(BertPreTokenizer))
        .with_post_processor(Some(BertProcessing::new(
            ("[SEP]".into(), 3),
            ("[CLS]".into(), 2),
        )));
    let path: PathBuf = dir.join("tokenizer.json");
    tokenizer.save(&path, false).unwrap();
    (
        HfTokenizer::from_tokenizer_json(&path).unwrap(),
        Tokenizer::from_file(&path).unwrap(),
    )
}

/// Utterances from (dialogue, turn, speaker, text), in the given (split) order.
fn utterances(rows: &[(&str, u32, &str, &str)]) -> Vec<Utterance> {
    rows.iter()
        .enumerate()
        .map(|(i, &(dialogue, index, speaker, text))| Utterance {
            id: format!("{dialogue}_utt{index}"),
            text: text.into(),
            audio: Vec::new(),
            audio_path: None,
            label: i % 2,
            speaker: 0,
            turn: Some(Turn {
                dialogue: dialogue.into(),
                index,
                speaker: speaker.into(),
            }),
        })
        .collect()
}

fn config(past: Neighbours, future: Neighbours, speaker_names: bool) -> ContextConfig {
    ContextConfig {
        past,
        future,
        speaker_names,
        max_tokens: None,
    }
}

/// Ids of `text` without special tokens, by the reference tokenizer.
fn ids(reference: &Tokenizer, text: &str) -> Vec<u32> {
    reference.encode(text, false).unwrap().get_ids().to_vec()
}

const DIALOGUE: [(&str, u32, &str, &str); 5] = [
    ("d1", 0, "Monica", "Hi there"),
    ("d1", 1, "Ross", "What happened?"),
    ("d1", 2, "Rachel", "Oh my God!"),
    ("d1", 3, "Joey", "How you doin'?"),
    (
        "d1",
        4,
        "Monica",
        "So long a day, so long a day, so long a day.",
    ),
];

#[test]
fn context_is_the_emoberta_layout_with_both_tokenizers() {
    for (family, (tokenizer, reference)) in [("roberta", roberta()), ("bert", bert())] {
        let data = utterances(&DIALOGUE);
        let layout = tokenizer.layout().unwrap();
        // Past and current: exactly the tokenizer's own pair encoding of the two texts.
        let (got, _) = encode_with_context(
            &tokenizer,
            &data,
            &config(Neighbours::All, Neighbours::Count(0), true),
            512,
        )
        .unwrap();
        let pair = reference
            .encode(
                (
                    "Monica: Hi there Ross: What happened?",
                    "Rachel: Oh my God!",
                ),
                true,
            )
            .unwrap();
        assert_eq!(got[2], pair.get_ids(), "{family}: past + current");
        // The first turn has an empty past segment, so the current utterance stays the second.
        let pair = reference.encode(("", "Monica: Hi there"), true).unwrap();
        assert_eq!(got[0], pair.get_ids(), "{family}: empty past");

        // Three segments: each segment's text tokenized whole, joined by the pair separators.
        let (got, stats) = encode_with_context(
            &tokenizer,
            &data,
            &config(Neighbours::All, Neighbours::All, true),
            512,
        )
        .unwrap();
        let mut expected = layout.open.clone();
        expected.extend(ids(&reference, "Monica: Hi there Ross: What happened?"));
        expected.extend(&layout.between);
        expected.extend(ids(&reference, "Rachel: Oh my God!"));
        expected.extend(&layout.between);
        expected.extend(ids(
            &reference,
            "Joey: How you doin'? Monica: So long a day, so long a day, so long a day.",
        ));
        expected.extend(&layout.close);
        assert_eq!(got[2], expected, "{family}: past + current + future");
        // Each utterance sees the other four.
        assert_eq!(
            (stats.past, stats.future, stats.budget_reached),
            (10, 10, 0)
        );
        assert_eq!(stats.tokens, got.iter().map(Vec::len).sum::<usize>());

        // Without speaker names, the texts alone.
        let (plain, _) = encode_with_context(
            &tokenizer,
            &data,
            &config(Neighbours::Count(1), Neighbours::Count(0), false),
            512,
        )
        .unwrap();
        let pair = reference
            .encode(("What happened?", "Oh my God!"), true)
            .unwrap();
        assert_eq!(
            plain[2],
            pair.get_ids(),
            "{family}: one past utterance, no names"
        );
    }
    let (roberta, _) = roberta();
    let layout = roberta.layout().unwrap();
    assert_eq!(
        (layout.open, layout.between, layout.close),
        (vec![0], vec![2, 2], vec![2]),
        "<s> A </s></s> B </s>"
    );
    let (bert, _) = bert();
    let layout = bert.layout().unwrap();
    assert_eq!(
        (layout.open, layout.between, layout.close),
        (vec![2], vec![3], vec![3]),
        "[CLS] A [SEP] B [SEP]"
    );
}

#[test]
fn neighbours_are_added_nearest_first_alternating_until_the_budget() {
    let (tokenizer, reference) = roberta();
    let data = utterances(&DIALOGUE);
    let layout = tokenizer.layout().unwrap();
    let specials = layout.open.len() + 2 * layout.between.len() + layout.close.len();
    let len = |text: &str| ids(&reference, text).len();
    let current = len("Rachel: Oh my God!");
    let sequence = |past: &str, future: &str| {
        let mut out = layout.open.clone();
        out.extend(ids(&reference, past));
        out.extend(&layout.between);
        out.extend(ids(&reference, "Rachel: Oh my God!"));
        out.extend(&layout.between);
        out.extend(ids(&reference, future));
        out.extend(&layout.close);
        out
    };
    let encode = |budget: usize| {
        let (ids, stats) = encode_with_context(
            &tokenizer,
            &data,
            &ContextConfig {
                max_tokens: Some(budget),
                ..config(Neighbours::All, Neighbours::All, true)
            },
            budget,
        )
        .unwrap();
        (ids[2].clone(), stats)
    };
    // Ross (past 1), Joey (future 1), Monica (past 2) fit exactly; Monica's long line (future 2)
    // does not.
    let three = sequence(
        "Monica: Hi there Ross: What happened?",
        "Joey: How you doin'?",
    );
    let (got, stats) = encode(three.len());
    assert_eq!(got, three);
    assert_eq!(stats.budget_reached, 5, "every utterance left someone out");
    // One token less: Monica (past 2) no longer fits and the past side stops; the future side
    // tries its next one, which is longer, and stops too.
    assert!(len(" Monica: So long a day, so long a day, so long a day.") > 1);
    let (got, _) = encode(three.len() - 1);
    assert_eq!(
        got,
        sequence("Ross: What happened?", "Joey: How you doin'?")
    );
    // Room for the nearest past one only: the future one, tried next, does not fit.
    let ross = len("Ross: What happened?");
    assert!(len("Joey: How you doin'?") > 0);
    let (got, _) = encode(specials + current + ross);
    assert_eq!(got, sequence("Ross: What happened?", ""));
    // No room for any neighbour: the current utterance alone, whole.
    let (got, _) = encode(specials + current);
    assert_eq!(got, sequence("", ""));
}

#[test]
fn the_current_utterance_is_never_cut_for_context_and_cut_only_alone() {
    let (tokenizer, reference) = roberta();
    let long = "so long a day ".repeat(12);
    let data = utterances(&[
        ("d", 0, "A", "Hi there"),
        ("d", 1, "B", long.trim()),
        ("d", 2, "C", "What happened?"),
    ]);
    let whole = ids(&reference, &format!("B: {}", long.trim()));
    let layout = tokenizer.layout().unwrap();
    let specials = layout.open.len() + 2 * layout.between.len() + layout.close.len();
    let context = config(Neighbours::All, Neighbours::All, true);
    // Exactly the room of the current utterance: all of it, no neighbour.
    let (got, stats) =
        encode_with_context(&tokenizer, &data, &context, specials + whole.len()).unwrap();
    let mut expected = layout.open.clone();
    expected.extend(&layout.between);
    expected.extend(&whole);
    expected.extend(&layout.between);
    expected.extend(&layout.close);
    assert_eq!(got[1], expected);
    assert_eq!(stats.cut, 0);
    // Less room than the utterance alone needs: cut to the budget, counted, no context.
    let budget = specials + whole.len() - 5;
    let (got, stats) = encode_with_context(&tokenizer, &data, &context, budget).unwrap();
    assert_eq!(got[1].len(), budget);
    assert_eq!(stats.cut, 1);
    let mut expected = layout.open.clone();
    expected.extend(&layout.between);
    expected.extend(&whole[..whole.len() - 5]);
    expected.extend(&layout.between);
    expected.extend(&layout.close);
    assert_eq!(got[1], expected);
}

#[test]
fn context_stays_inside_its_dialogue_in_turn_order() {
    let (tokenizer, reference) = bert();
    // Split order interleaves two dialogues and lists turns out of order.
    let data = utterances(&[
        ("d2", 1, "Joey", "How you doin'?"),
        ("d1", 1, "Ross", "What happened?"),
        ("d1", 0, "Monica", "Hi there"),
        ("d2", 0, "Rachel", "Oh my God!"),
        ("d1", 2, "Rachel", "So long a day."),
    ]);
    let (got, stats) = encode_with_context(
        &tokenizer,
        &data,
        &config(Neighbours::All, Neighbours::All, false),
        512,
    )
    .unwrap();
    let reference_ids = |past: &str, current: &str, future: &str| {
        let layout = tokenizer.layout().unwrap();
        let mut out = layout.open.clone();
        out.extend(ids(&reference, past));
        out.extend(&layout.between);
        out.extend(ids(&reference, current));
        out.extend(&layout.between);
        out.extend(ids(&reference, future));
        out.extend(&layout.close);
        out
    };
    assert_eq!(
        got[1],
        reference_ids("Hi there", "What happened?", "So long a day.")
    );
    assert_eq!(got[0], reference_ids("Oh my God!", "How you doin'?", ""));
    assert_eq!(got[3], reference_ids("", "Oh my God!", "How you doin'?"));
    assert_eq!(
        got[4],
        reference_ids("Hi there What happened?", "So long a day.", "")
    );
    assert_eq!(stats.past + stats.future, 2 * (1 + 3));

    // Counts limit each side.
    let (got, stats) = encode_with_context(
        &tokenizer,
        &data,
        &config(Neighbours::Count(1), Neighbours::Count(1), false),
        512,
    )
    .unwrap();
    assert_eq!(
        got[4],
        reference_ids("What happened?", "So long a day.", "")
    );
    assert_eq!((stats.past, stats.future), (3, 3));

    // Off: each utterance exactly as encoded alone.
    let (got, _) = encode_with_context(&tokenizer, &data, &ContextConfig::default(), 512).unwrap();
    for (u, ids) in data.iter().zip(&got) {
        assert_eq!(ids, &tokenizer.encode(&u.text, 512).unwrap());
    }
}

#[test]
fn context_errors_name_the_utterance() {
    let (tokenizer, _) = roberta();
    let context = config(Neighbours::All, Neighbours::Count(0), false);
    let mut data = utterances(&DIALOGUE[..3]);
    data[1].turn = None;
    let err = encode_with_context(&tokenizer, &data, &context, 64)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`d1_utt1` has no dialogue") && err.contains("dialogue_id"),
        "{err}"
    );
    // Speaker names alone need no dialogue.
    let names = config(Neighbours::Count(0), Neighbours::Count(0), true);
    let (got, _) = encode_with_context(&tokenizer, &data, &names, 64).unwrap();
    assert_eq!(got[1], tokenizer.encode("What happened?", 64).unwrap());
    assert_eq!(got[0], tokenizer.encode("Monica: Hi there", 64).unwrap());

    let mut data = utterances(&DIALOGUE[..3]);
    data[2].turn.as_mut().unwrap().index = 1;
    let err = encode_with_context(&tokenizer, &data, &context, 64)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("dialogue `d1` has utterance 1 twice") && err.contains("d1_utt2"),
        "{err}"
    );
    let err = encode_with_context(&tokenizer, &utterances(&DIALOGUE), &context, 4)
        .unwrap_err()
        .to_string();
    assert!(err.contains("leaves no room"), "{err}");
}

/// A model trained with past context scores an utterance given through `Predictor` (what
/// `emofuse predict --past` and `serve` run) with its earlier turns exactly as evaluation
/// scored it in its test split; without them it scores differently.
#[test]
fn prediction_with_past_context_equals_evaluation_in_the_dialogue() {
    use emofuse::core::LabelMap;
    use emofuse::reports::predictions::read_predictions;
    use emofuse::serving::{PredictionInput, Predictor};
    let _turn = crate::ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("context-predict");
    let header = "id,path,text,label,speaker,duration,dialogue_id,utterance_id,sentiment\n";
    let words = [
        "so happy",
        "what a day",
        "sad again",
        "hello there",
        "oh no",
        "good day",
    ];
    let labels = ["joy", "neutral", "sadness", "neutral", "anger", "joy"];
    let names = ["ann", "bob", "cy"];
    let manifest = |name: &str, dialogues: usize| {
        let mut text = header.to_string();
        for d in 0..dialogues {
            for t in 0..4 {
                let k = (d * 7 + t * 3) % words.len();
                text.push_str(&format!(
                    "dia{d}_utt{t},,{} {},{},{},,{d},{t},neutral\n",
                    words[k],
                    words[(k + t) % words.len()],
                    labels[k],
                    names[(d + t) % 3]
                ));
            }
        }
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let (train, valid, test) = (
        manifest("train.csv", 12),
        manifest("dev.csv", 3),
        manifest("test.csv", 3),
    );
    let text = repo_path("tests/fixtures/fusion/roberta-tiny");
    let experiment = crate::experiment_in(
        &dir,
        "past",
        &[
            "data.dataset=\"manifest\"".to_string(),
            format!("data.train_manifest=\"{}\"", train.display()),
            format!("data.valid_manifest=\"{}\"", valid.display()),
            format!("data.test_manifest=\"{}\"", test.display()),
            "data.max_tokens=48".into(),
            "data.context.past=\"all\"".into(),
            "data.context.speaker_names=true".into(),
            "model.modalities=[\"text\"]".into(),
            format!("model.text.checkpoint=\"{}\"", text.display()),
            "model.projection_dim=8".into(),
            "model.hidden_dim=8".into(),
            "training.epochs=2".into(),
            "training.batch_size=8".into(),
            "training.learning_rate=1e-2".into(),
        ],
    );
    let summary = emofuse::pipeline::train(&experiment, emofuse::pipeline::TrainOptions::default())
        .unwrap()
        .unwrap();
    let rows =
        read_predictions(&summary.run_dir.join("predictions.csv"), &LabelMap::meld()).unwrap();
    let row = rows
        .iter()
        .find(|r| r.split == emofuse::core::SplitName::Test && r.id == "dia1_utt3")
        .unwrap();
    // dia1's turns 0-2 as `SPEAKER: text` lines, then turn 3 with its speaker.
    let csv = std::fs::read_to_string(&test).unwrap();
    let turns: Vec<Vec<&str>> = csv
        .lines()
        .filter(|l| l.starts_with("dia1_"))
        .map(|l| l.split(',').collect())
        .collect();
    let predictor = Predictor::load(&summary.run_dir, None).unwrap();
    let predict = |past: Vec<String>| {
        predictor
            .predict(PredictionInput {
                text: Some(turns[3][2].to_string()),
                past,
                speaker: Some(turns[3][4].to_string()),
                ..PredictionInput::default()
            })
            .unwrap()
            .probabilities
            .into_iter()
            .map(|(_, p)| p)
            .collect::<Vec<f32>>()
    };
    let past: Vec<String> = turns[..3]
        .iter()
        .map(|t| format!("{}: {}", t[4], t[2]))
        .collect();
    let with_past = predict(past);
    let diff = crate::max_abs_diff(&with_past, &row.probabilities);
    println!("with the past: {diff:.2e} from evaluation");
    assert!(
        diff <= 1e-6,
        "predict --past differs from evaluation by {diff}"
    );
    let alone = predict(Vec::new());
    let change = crate::max_abs_diff(&alone, &row.probabilities);
    println!("without the past: probabilities move by {change:.2e}");
    assert!(
        change > 1e-5,
        "the past matters: {alone:?} vs {:?}",
        row.probabilities
    );
}
