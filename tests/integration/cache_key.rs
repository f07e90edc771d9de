//! The frozen-trunk cache key: every input a trunk's output depends on (tokenizer in either
//! form, `max_tokens`, checkpoint weights and config, the split point, clip length, sample
//! rate, normalisation, the data, the element type) gives a new cache folder, and nothing else
//! does; the top's output on cached (f32) states is the uncached one. Caches are built through
//! `Setup` on a few in-memory utterances with the tiny encoders of tests/fixtures/fusion.

use crate::{experiment_in, max_abs_diff, repo_path, scratch_dir};
use burn::tensor::{Device, Int, Tensor};
use emofuse::core::SplitName;
use emofuse::data::Utterance;
use emofuse::experiment::Experiment;
use emofuse::io::safetensors::{NamedArray, SafetensorsFile, write};
use emofuse::models::fusion::{AudioInput, TextInput};
use emofuse::models::wav2vec2::AudioState;
use emofuse::pipeline::setup::{ScratchSource, Setup};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A copy of a fixture encoder folder, for edits.
fn copy_fixture(fixture: &str, to: &Path) -> PathBuf {
    let from = repo_path("tests/fixtures/fusion").join(fixture);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    to.to_path_buf()
}

/// A RoBERTa tokenizer as `vocab.json` + `merges.txt` (byte-level BPE over a few letters; ids
/// inside the fixture encoder's vocabulary of 100), with `merges` as its merge rules.
fn vocab_merges_tokenizer(dir: &Path, merges: &[&str]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut vocab = serde_json::Map::new();
    for (i, token) in ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        .iter()
        .enumerate()
    {
        vocab.insert(token.to_string(), Value::from(i));
    }
    let mut tokens: Vec<String> = ('a'..='z').map(String::from).collect();
    tokens.push("Ġ".into());
    tokens.extend(merges.iter().map(|m| m.replace(' ', "")));
    for token in tokens {
        let id = vocab.len();
        vocab.entry(token).or_insert(Value::from(id));
    }
    std::fs::write(
        dir.join("vocab.json"),
        serde_json::to_string(&vocab).unwrap(),
    )
    .unwrap();
    let mut text = "#version: 0.2\n".to_string();
    for m in merges {
        text.push_str(m);
        text.push('\n');
    }
    std::fs::write(dir.join("merges.txt"), text).unwrap();
    dir.to_path_buf()
}

/// Four short utterances, text and 0.3 s of audio each.
pub(crate) fn utterances() -> Vec<Utterance> {
    ["what a day", "happy again", "so sad", "hello there"]
        .iter()
        .enumerate()
        .map(|(i, text)| Utterance {
            id: format!("u{i}"),
            text: text.to_string(),
            // 0.3 s at 16 kHz, shorter than the clip: padding and the mask matter.
            audio: (0..4800)
                .map(|t| ((t * (i + 3)) as f32 * 0.01).sin() * 0.3)
                .collect(),
            audio_path: None,
            label: i % 2,
            speaker: 0,
            turn: None,
        })
        .collect()
}

/// The pretrained fusion experiment of the test: both fixture encoders, one layer each
/// trainable, the cache in `cache_dir`, then `sets`.
pub(crate) fn experiment(
    dir: &Path,
    cache: &str,
    text: &Path,
    audio: &Path,
    sets: &[String],
) -> Experiment {
    let mut all = vec![
        "data.clip_seconds=0.5".to_string(),
        "data.max_tokens=16".to_string(),
        "data.normalize=\"padded\"".to_string(),
        "model.projection_dim=16".to_string(),
        "model.hidden_dim=16".to_string(),
        "model.dropout=0.0".to_string(),
        "model.cache_frozen=true".to_string(),
        "model.cache_dtype=\"f16\"".to_string(),
        format!("model.text.checkpoint=\"{}\"", text.display()),
        format!("model.audio.checkpoint=\"{}\"", audio.display()),
    ];
    all.extend(sets.iter().cloned());
    let mut experiment = experiment_in(dir, cache, &all);
    experiment.output.cache_dir = dir.join("caches").join(cache);
    experiment
}

/// Builds the training split's caches of `experiment` for `utterances` in its (fresh) cache
/// folder and returns the folder names of the text and the audio cache.
fn cache_folders(experiment: &Experiment, utterances: &[Utterance]) -> (String, String) {
    setup_and_inputs(experiment, utterances);
    let mut names: Vec<String> = std::fs::read_dir(&experiment.output.cache_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "one text and one audio cache: {names:?}");
    let audio = names.remove(0);
    let text = names.remove(0);
    assert!(audio.starts_with("audio-train-") && text.starts_with("text-train-"));
    (text, audio)
}

#[test]
fn every_part_of_the_key_and_nothing_else_changes_the_cache_folder() {
    let dir = scratch_dir("cache-key");
    let text = copy_fixture("roberta-tiny", &dir.join("text"));
    let audio = copy_fixture("wav2vec2-tiny", &dir.join("audio"));
    let data = utterances();
    let sets = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let folders = |name: &str, text: &Path, audio: &Path, extra: &[String], data: &[Utterance]| {
        cache_folders(&experiment(&dir, name, text, audio, extra), data)
    };
    let base = folders("base", &text, &audio, &[], &data);

    // (what changed, the folders it gives, whether the text / audio cache must be new)
    let mut cases: Vec<(String, (String, String), bool, bool)> = Vec::new();
    let mut case = |what: &str, got: (String, String), text_new: bool, audio_new: bool| {
        cases.push((what.to_string(), got, text_new, audio_new));
    };

    // Settings outside the key reuse both caches.
    for (i, set) in [
        "training.learning_rate=0.5",
        "run.seed=99",
        "training.epochs=7",
        "training.batch_size=3",
        "model.hidden_dim=8",
    ]
    .iter()
    .enumerate()
    {
        let got = folders(&format!("same-{i}"), &text, &audio, &sets(&[set]), &data);
        case(set, got, false, false);
    }

    // The tokenizer as a tokenizer.json file (`data.tokenizer`): its content is in the key.
    let json_tokenizer = dir.join("tokenizer-a.json");
    std::fs::copy(text.join("tokenizer.json"), &json_tokenizer).unwrap();
    let tokenizer_set = |path: &Path| vec![format!("data.tokenizer=\"{}\"", path.display())];
    let got = folders(
        "tok-json",
        &text,
        &audio,
        &tokenizer_set(&json_tokenizer),
        &data,
    );
    case("the same tokenizer.json named as a file", got, false, false);
    let mut edited: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_tokenizer).unwrap()).unwrap();
    edited["model"]["vocab"]["zzz"] = Value::from(99);
    std::fs::write(&json_tokenizer, edited.to_string()).unwrap();
    let got = folders(
        "tok-json-edited",
        &text,
        &audio,
        &tokenizer_set(&json_tokenizer),
        &data,
    );
    case("an edited tokenizer.json", got, true, false);

    // The tokenizer as vocab.json + merges.txt in a folder: both files are in the key.
    let bpe = vocab_merges_tokenizer(&dir.join("bpe"), &["h a", "s o"]);
    let bpe_base = folders("bpe", &text, &audio, &tokenizer_set(&bpe), &data);
    assert_ne!(bpe_base.0, base.0, "another tokenizer, another text cache");
    let bpe_merges = vocab_merges_tokenizer(&dir.join("bpe-merges"), &["h a", "s o"]);
    // Same vocabulary, one merge fewer.
    std::fs::write(bpe_merges.join("merges.txt"), "#version: 0.2\nh a\n").unwrap();
    let bpe_vocab = vocab_merges_tokenizer(&dir.join("bpe-vocab"), &["h a", "s o", "x y"]);
    std::fs::copy(bpe.join("merges.txt"), bpe_vocab.join("merges.txt")).unwrap();
    for (i, (what, folder)) in [
        ("the same vocab.json + merges.txt", &bpe),
        ("another merges.txt", &bpe_merges),
        ("another vocab.json", &bpe_vocab),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("bpe-{i}");
        let got = folders(&name, &text, &audio, &tokenizer_set(folder), &data);
        let changed = folder != &bpe;
        assert_eq!(got.1, bpe_base.1, "{what}: audio cache");
        assert_eq!(got.0 != bpe_base.0, changed, "{what}: text cache {got:?}");
    }

    let got = folders(
        "max-tokens",
        &text,
        &audio,
        &sets(&["data.max_tokens=12"]),
        &data,
    );
    case("data.max_tokens", got, true, false);

    // Checkpoint weights and config, by content (the folder's path is the same).
    let text_weights = copy_fixture("roberta-tiny", &dir.join("text-weights"));
    let base_weights = folders("text-weights-base", &text_weights, &audio, &[], &data);
    assert_eq!(base_weights.1, base.1);
    let file = SafetensorsFile::open(&text_weights.join("model.safetensors")).unwrap();
    let arrays: Vec<NamedArray> = file
        .names()
        .enumerate()
        .map(|(i, key)| {
            let (shape, mut values) = file.f32(key).unwrap();
            if i == 0 {
                values[0] += 0.5;
            }
            NamedArray::f32(key, shape, values)
        })
        .collect();
    drop(file);
    write(&text_weights.join("model.safetensors"), &arrays).unwrap();
    let got = folders("text-weights", &text_weights, &audio, &[], &data);
    assert_ne!(got.0, base_weights.0, "edited text weights: text cache");
    assert_eq!(got.1, base.1, "edited text weights: audio cache");
    let audio_config = copy_fixture("wav2vec2-tiny", &dir.join("audio-config"));
    let base_config = folders("audio-config-base", &text, &audio_config, &[], &data);
    let path = audio_config.join("config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["layer_norm_eps"] = Value::from(1e-3);
    std::fs::write(&path, config.to_string()).unwrap();
    let got = folders("audio-config", &text, &audio_config, &[], &data);
    assert_ne!(got.1, base_config.1, "edited audio config: audio cache");
    assert_eq!(got.0, base_config.0, "edited audio config: text cache");

    for (i, &(set, text_new, audio_new)) in [
        ("model.text.train_last_layers=2", true, false),
        ("model.audio.train_last_layers=2", false, true),
        ("data.clip_seconds=0.4", false, true),
        ("data.sample_rate=8000", false, true),
        ("data.normalize=\"valid\"", false, true),
        ("model.cache_dtype=\"f32\"", true, true),
    ]
    .iter()
    .enumerate()
    {
        let got = folders(&format!("set-{i}"), &text, &audio, &sets(&[set]), &data);
        case(set, got, text_new, audio_new);
    }

    // The data: an id changes both, a transcript the text cache, a waveform the audio cache.
    let mut other = data.clone();
    other[2].id = "renamed".into();
    case(
        "an id",
        folders("data-id", &text, &audio, &[], &other),
        true,
        true,
    );
    let mut other = data.clone();
    other[1].text = "sad again".into();
    case(
        "a text",
        folders("data-text", &text, &audio, &[], &other),
        true,
        false,
    );
    let mut other = data.clone();
    other[3].audio[100] += 0.25;
    case(
        "a waveform",
        folders("data-audio", &text, &audio, &[], &other),
        false,
        true,
    );

    for (what, (got_text, got_audio), text_new, audio_new) in &cases {
        assert_eq!(
            got_text != &base.0,
            *text_new,
            "{what}: text cache {got_text} (base {})",
            base.0
        );
        assert_eq!(
            got_audio != &base.1,
            *audio_new,
            "{what}: audio cache {got_audio} (base {})",
            base.1
        );
    }
}

/// The setup of `experiment` on a plain device (eval mode: no dropout) and the training
/// split's inputs for `utterances`: cached or raw, as the experiment says.
fn setup_and_inputs(
    experiment: &Experiment,
    utterances: &[Utterance],
) -> (Setup, emofuse::inference::inputs::SplitInputs) {
    setup_and_inputs_on(experiment, utterances, &Device::flex())
}

/// [`setup_and_inputs`] on `device`.
pub(crate) fn setup_and_inputs_on(
    experiment: &Experiment,
    utterances: &[Utterance],
    device: &Device,
) -> (Setup, emofuse::inference::inputs::SplitInputs) {
    let labels = experiment.label_map().unwrap();
    let (setup, _) = Setup::new(
        experiment,
        &labels,
        vec![1.0; labels.len()],
        ScratchSource::Fit(&[]),
        device,
        std::sync::Arc::new(emofuse::core::events::Silent),
    )
    .unwrap();
    let inputs = setup
        .split_inputs(experiment, SplitName::Train, utterances, None, device)
        .unwrap();
    (setup, inputs)
}

/// The values of `x` `[batch, rows, width]` on the valid rows of `mask` `[batch, rows]` only
/// (a cached batch pads to its own longest utterance, zeros where the trunk computed padding).
fn valid_rows(x: Tensor<3>, mask: Tensor<2, Int>) -> Vec<f32> {
    let [batch, rows, width] = x.dims();
    let values = x.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    let mask = mask
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .unwrap();
    let mask_rows = mask.len() / batch;
    let mut out = Vec::new();
    for b in 0..batch {
        for r in 0..rows.min(mask_rows) {
            if mask[b * mask_rows + r] == 1 {
                out.extend_from_slice(&values[(b * rows + r) * width..(b * rows + r + 1) * width]);
            }
        }
    }
    out
}

#[test]
fn the_top_on_cached_f32_states_gives_the_uncached_outputs() {
    let dir = scratch_dir("cache-top");
    let (text, audio) = (
        repo_path("tests/fixtures/fusion/roberta-tiny"),
        repo_path("tests/fixtures/fusion/wav2vec2-tiny"),
    );
    let data = utterances();
    let run = |name: &str, cached: bool| {
        let sets = vec![
            format!("model.cache_frozen={cached}"),
            "model.cache_dtype=\"f32\"".to_string(),
            "model.text.train_last_layers=2".to_string(),
        ];
        setup_and_inputs(&experiment(&dir, name, &text, &audio, &sets), &data)
    };
    let (cached_setup, cached_inputs) = run("cached", true);
    let (setup, raw_inputs) = run("uncached", false);
    let device = Device::flex();
    let indices: Vec<usize> = (0..data.len()).collect();
    let from_cache = cached_setup
        .batcher
        .batch(&cached_inputs, &indices, &device);
    let computed = setup.batcher.batch(&raw_inputs, &indices, &device);

    // The trunks' outputs, read back from the cache and computed now.
    let text_states = |batch: &emofuse::models::fusion::FusionBatch| match batch.text.clone() {
        Some(TextInput::Hidden { states, mask }) => valid_rows(states, mask),
        other => panic!("text trunk output expected, got {other:?}"),
    };
    let audio_states = |batch: &emofuse::models::fusion::FusionBatch| match batch.audio.clone() {
        Some(AudioInput::Wav2Vec2(AudioState::Hidden { x, frame_mask })) => {
            valid_rows(x, frame_mask.int())
        }
        other => panic!("audio trunk output expected, got {other:?}"),
    };
    let text_diff = max_abs_diff(&text_states(&from_cache), &text_states(&computed));
    let audio_diff = max_abs_diff(&audio_states(&from_cache), &audio_states(&computed));
    println!("trunk outputs, cached vs computed: text {text_diff:.2e}, audio {audio_diff:.2e}");
    assert!(
        text_diff <= 1e-6 && audio_diff <= 1e-6,
        "{text_diff} {audio_diff}"
    );

    // The same model (same seed, same checkpoints) on both: the tops' outputs, through the
    // head, agree.
    let logits = |setup: &Setup, batch| {
        setup
            .model
            .forward(batch)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    let diff = max_abs_diff(
        &logits(&cached_setup, &from_cache),
        &logits(&cached_setup, &computed),
    );
    println!("logits on cached vs computed trunk outputs: max abs diff {diff:.2e}");
    assert!(diff <= 1e-6, "the top's output differs by {diff}");
}

#[test]
fn text_chunks_sort_each_window_by_length_and_keep_every_utterance_once() {
    use emofuse::inference::cache::text_chunks;
    let lengths = [5, 3, 9, 3, 7, 2, 8, 4];
    let chunks = text_chunks(&lengths, 2, 4);
    // Window 0..4 sorted (stable: the two 3s keep their order), then window 4..8.
    assert_eq!(chunks, vec![vec![1, 3], vec![0, 2], vec![5, 7], vec![4, 6]]);
    // A window of one chunk only reorders within the chunk: the same members.
    let unsorted = text_chunks(&lengths, 3, 3);
    assert_eq!(unsorted, vec![vec![1, 0, 2], vec![5, 3, 4], vec![7, 6]]);
    let mut all: Vec<usize> = text_chunks(&lengths, 3, 8).concat();
    all.sort_unstable();
    assert_eq!(all, (0..8).collect::<Vec<_>>());
    assert!(text_chunks(&[], 32, 256).is_empty());
}

#[test]
fn a_length_sorted_cache_build_stores_each_utterance_as_the_trunk_computes_it_alone() {
    let dir = scratch_dir("cache-sorted");
    let (text, audio) = (
        repo_path("tests/fixtures/fusion/roberta-tiny"),
        repo_path("tests/fixtures/fusion/wav2vec2-tiny"),
    );
    // More than one text chunk, lengths out of order: chunks differ from the split's order.
    let words = ["what", "a", "day", "happy", "again", "so", "sad", "hello"];
    let mut data: Vec<Utterance> = Vec::new();
    for i in 0..(emofuse::inference::cache::TEXT_CHUNK + 9) {
        let mut u = utterances()[i % 4].clone();
        u.id = format!("s{i}");
        u.text = (0..1 + (i * 7) % 12)
            .map(|w| words[(i + w) % words.len()])
            .collect::<Vec<_>>()
            .join(" ");
        data.push(u);
    }
    let run = |name: &str, cached: bool| {
        let sets = vec![
            format!("model.cache_frozen={cached}"),
            "model.cache_dtype=\"f32\"".to_string(),
            "model.text.train_last_layers=1".to_string(),
        ];
        setup_and_inputs(&experiment(&dir, name, &text, &audio, &sets), &data)
    };
    let (cached_setup, cached_inputs) = run("cached", true);
    let (setup, raw_inputs) = run("uncached", false);
    let device = Device::flex();
    let states = |batch: emofuse::models::fusion::FusionBatch| match batch.text {
        Some(TextInput::Hidden { states, mask }) => valid_rows(states, mask),
        other => panic!("text trunk output expected, got {other:?}"),
    };
    let mut worst = 0.0f32;
    for i in 0..data.len() {
        let from_cache = states(cached_setup.batcher.batch(&cached_inputs, &[i], &device));
        let alone = states(setup.batcher.batch(&raw_inputs, &[i], &device));
        assert_eq!(from_cache.len(), alone.len(), "utterance {i}: rows");
        worst = worst.max(max_abs_diff(&from_cache, &alone));
    }
    println!("cached (length-sorted chunks) vs alone: max abs diff {worst:.2e}");
    assert!(worst <= 1e-5, "{worst}");
}

/// The utterances of [`utterances`] as one dialogue, each with its speaker.
fn in_a_dialogue(speakers: &[&str]) -> Vec<Utterance> {
    let mut data = utterances();
    for (i, u) in data.iter_mut().enumerate() {
        u.turn = Some(emofuse::data::Turn {
            dialogue: "d0".into(),
            index: i as u32,
            speaker: speakers[i].into(),
        });
    }
    data
}

#[test]
fn context_settings_and_dialogues_are_in_the_text_cache_key() {
    let dir = scratch_dir("cache-key-context");
    let text = copy_fixture("roberta-tiny", &dir.join("text"));
    let audio = copy_fixture("wav2vec2-tiny", &dir.join("audio"));
    let sets = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let folders = |name: &str, extra: &[&str], data: &[Utterance]| {
        cache_folders(&experiment(&dir, name, &text, &audio, &sets(extra)), data)
    };
    let speakers = ["ann", "bob", "ann", "cy"];
    let plain = folders("plain", &[], &utterances());
    // Without context, dialogues and speakers change nothing.
    assert_eq!(folders("turns", &[], &in_a_dialogue(&speakers)), plain);
    let data = in_a_dialogue(&speakers);
    let past = folders("past", &["data.context.past=1"], &data);
    assert_ne!(past.0, plain.0, "past context: a new text cache");
    assert_eq!(past.1, plain.1, "past context: the same audio cache");
    for (name, extra) in [
        ("past-2", vec!["data.context.past=2"]),
        (
            "future",
            vec!["data.context.past=1", "data.context.future=\"all\""],
        ),
        (
            "names",
            vec!["data.context.past=1", "data.context.speaker_names=true"],
        ),
        (
            "budget",
            vec!["data.context.past=1", "data.context.max_tokens=12"],
        ),
    ] {
        let got = folders(name, &extra, &data);
        assert_ne!(got.0, past.0, "{name}: a new text cache");
        assert_eq!(got.1, plain.1, "{name}: the same audio cache");
    }
    // With context, the dialogue and the speakers are data of the text trunk.
    let other_speaker = in_a_dialogue(&["ann", "bob", "dee", "cy"]);
    assert_ne!(
        folders("past-speaker", &["data.context.past=1"], &other_speaker).0,
        past.0
    );
    let mut reordered = in_a_dialogue(&speakers);
    reordered[0].turn.as_mut().unwrap().index = 9;
    assert_ne!(
        folders("past-order", &["data.context.past=1"], &reordered).0,
        past.0
    );
    // Layer-weighted pooling caches pooled vectors, not the last layer's tokens.
    let frozen = folders("frozen", &["model.text.train_last_layers=0"], &data);
    let weighted = folders(
        "weighted",
        &[
            "model.text.train_last_layers=0",
            "model.text.layer_pooling=\"weighted\"",
        ],
        &data,
    );
    assert_ne!(weighted.0, frozen.0);
    let weighted_mean = folders(
        "weighted-mean",
        &[
            "model.text.train_last_layers=0",
            "model.text.layer_pooling=\"weighted\"",
            "model.text.pooling=\"mean\"",
        ],
        &data,
    );
    assert_ne!(weighted_mean.0, weighted.0);
}

/// With a frozen encoder and `layer_pooling = "weighted"`, the cache holds one pooled vector per
/// hidden state, equal to pooling transformers-style `hidden_states`; weights one-hot on a
/// layer give exactly that layer's vector.
#[test]
fn layer_weighted_pooling_caches_each_hidden_state_and_one_hot_picks_one() {
    use emofuse::models::nn::{LayerWeights, SequencePooling};
    use emofuse::models::roberta::{RobertaInput, RobertaModel};
    use emofuse::models::wav2vec2::{Wav2Vec2Input, Wav2Vec2Model};
    let dir = scratch_dir("cache-layer-weights");
    let (text, audio) = (
        repo_path("tests/fixtures/fusion/roberta-tiny"),
        repo_path("tests/fixtures/fusion/wav2vec2-tiny"),
    );
    let data = utterances();
    let device = Device::flex();
    let indices: Vec<usize> = (0..data.len()).collect();
    for pooling in [SequencePooling::Cls, SequencePooling::Mean] {
        let name = format!("{pooling:?}");
        let sets = vec![
            "model.cache_dtype=\"f32\"".to_string(),
            "model.text.train_last_layers=0".to_string(),
            "model.audio.train_last_layers=0".to_string(),
            "model.text.layer_pooling=\"weighted\"".to_string(),
            "model.audio.layer_pooling=\"weighted\"".to_string(),
            format!("model.text.pooling=\"{}\"", name.to_lowercase()),
        ];
        let experiment = experiment(&dir, &name, &text, &audio, &sets);
        let (setup, inputs) = setup_and_inputs(&experiment, &data);
        let batch = setup.batcher.batch(&inputs, &indices, &device);
        let Some(TextInput::Hidden { states, .. }) = batch.text else {
            panic!("cached pooled text states expected");
        };
        let Some(AudioInput::Wav2Vec2(AudioState::Hidden {
            x: audio_states, ..
        })) = batch.audio
        else {
            panic!("cached pooled audio states expected");
        };

        // The reference: the whole encoders' hidden states on the same inputs, pooled.
        let raw = setup.pretrained.as_ref().unwrap().inputs(&data).unwrap();
        let ids: Vec<&[u32]> = raw.iter().map(|r| r.ids.as_slice()).collect();
        let emofuse::models::fusion::TextInput::Tokens { ids, mask } =
            emofuse::data::pretrained::text_batch(&ids, setup.batcher.pad_id, &device)
        else {
            unreachable!()
        };
        let (roberta, ..) = RobertaModel::from_pretrained(&text, &device).unwrap();
        let out = roberta.forward(RobertaInput::new(ids, mask.clone()).with_hidden_states(true));
        let clips: Vec<_> = raw.iter().map(|r| &r.clip).collect();
        let AudioState::Waveform {
            values,
            attention_mask,
        } = emofuse::data::pretrained::audio_batch(&clips, &device)
        else {
            unreachable!()
        };
        let (wav2vec2, ..) = Wav2Vec2Model::from_pretrained(&audio, &device).unwrap();
        let audio_out = wav2vec2.forward(
            Wav2Vec2Input::new(values)
                .with_attention_mask(attention_mask)
                .with_hidden_states(true),
        );
        let layers = out.hidden_states.len();
        assert_eq!(states.dims()[1], layers, "embeddings + every layer");
        let audio_layers = audio_out.hidden_states.len();
        assert_eq!(audio_states.dims()[1], audio_layers);
        let frame_mask = audio_out.frame_mask.clone().expect("a frame mask");
        for k in 0..layers {
            let expected = pooling.pool(out.hidden_states[k].clone(), mask.clone().equal_elem(1));
            let mut logits = vec![0.0f32; layers];
            logits[k] = 1e4;
            let one_hot =
                LayerWeights::from_logits(Tensor::from_floats(logits.as_slice(), &device));
            let mixed = one_hot.forward(states.clone());
            let values = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
            let diff = max_abs_diff(&values(mixed), &values(expected));
            assert!(diff <= 1e-5, "{name} text layer {k}: {diff}");
        }
        for k in 0..audio_layers {
            let expected = emofuse::models::nn::masked_mean_channels_last(
                audio_out.hidden_states[k].clone(),
                Some(frame_mask.clone()),
            );
            let mut logits = vec![-1e4f32; audio_layers];
            logits[k] = 0.0;
            let one_hot =
                LayerWeights::from_logits(Tensor::from_floats(logits.as_slice(), &device));
            let values = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
            let diff = max_abs_diff(
                &values(one_hot.forward(audio_states.clone())),
                &values(expected),
            );
            assert!(diff <= 1e-5, "audio layer {k}: {diff}");
        }
        // Equal weights (the initialisation) average the layers.
        let uniform = LayerWeights::new(layers, &device).forward(states.clone());
        let mean = states.mean_dim(1).reshape([data.len(), uniform.dims()[1]]);
        let diff = max_abs_diff(
            &uniform.into_data().try_to_vec::<f32>().unwrap(),
            &mean.into_data().try_to_vec::<f32>().unwrap(),
        );
        assert!(diff <= 1e-6, "{diff}");
    }
}

#[test]
fn layer_weighted_pooling_and_context_refuse_what_they_cannot_do() {
    let dir = scratch_dir("cache-layer-errors");
    let (text, audio) = (
        repo_path("tests/fixtures/fusion/roberta-tiny"),
        repo_path("tests/fixtures/fusion/wav2vec2-tiny"),
    );
    let setup_error = |name: &str, sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        let experiment = experiment(&dir, name, &text, &audio, &sets);
        let labels = experiment.label_map().unwrap();
        match Setup::new(
            &experiment,
            &labels,
            vec![1.0; labels.len()],
            ScratchSource::Fit(&[]),
            &Device::flex(),
            std::sync::Arc::new(emofuse::core::events::Silent),
        ) {
            Ok(_) => panic!("{name}: accepted"),
            Err(e) => format!("{e:#}"),
        }
    };
    let err = setup_error(
        "weighted-trained",
        &["model.text.layer_pooling=\"weighted\""],
    );
    assert!(
        err.contains("`model.text.layer_pooling` = \"weighted\" needs a frozen encoder")
            && err.contains("train_last_layers = 0"),
        "{err}"
    );
    let err = setup_error(
        "weighted-audio",
        &[
            "model.audio.layer_pooling=\"weighted\"",
            "model.audio.train_last_layers=\"all\"",
        ],
    );
    assert!(err.contains("model.audio.train_last_layers = 0"), "{err}");
    let err = setup_error(
        "budget",
        &["data.context.past=1", "data.context.max_tokens=4096"],
    );
    assert!(
        err.contains("key `data.context.max_tokens` = 4096"),
        "{err}"
    );

    // Schema-level checks, before anything loads.
    let invalid = |sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        Experiment::from_toml_str("", &sets, "invalid.toml")
            .unwrap_err()
            .to_string()
    };
    let err = invalid(&["data.context.past=2"]);
    assert!(
        err.contains("key `data.context`") && err.contains("model.text.checkpoint"),
        "{err}"
    );
    let err = invalid(&["model.text.layer_pooling=\"weighted\""]);
    assert!(err.contains("set `model.text.checkpoint`"), "{err}");
    let err = invalid(&[
        &format!("model.audio.checkpoint=\"{}\"", audio.display()),
        "model.audio.pooling=\"cls\"",
    ]);
    assert!(err.contains("no classification token"), "{err}");
}
