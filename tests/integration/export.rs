//! `emofuse export`: encoders written back in the HuggingFace layout and the fusion head beside
//! them, read again by emofuse (here) and by transformers (tests/fixtures/export/check_export.py).

use crate::fusion::fusion;
use crate::serve::runs;
use crate::{ONE_RUN_AT_A_TIME, repo_path, run_emofuse, scratch_dir};
use burn::tensor::{Device, Int, Tensor, TensorData};
use emofuse::io::safetensors::SafetensorsFile;
use emofuse::models::roberta::{RobertaInput, RobertaModel};
use emofuse::models::wav2vec2::Wav2Vec2Model;
use emofuse::pipeline::TrainOptions;
use emofuse::pipeline::corpus::load_corpus;
use emofuse::pipeline::export::{export_run, load_export};
use emofuse::pipeline::trained::{load_run, run_experiment};
use std::collections::BTreeSet;
use std::path::Path;

/// Writes `model`'s tensors and the source's config.json into `dir` as a model folder.
fn write_folder(tensors: &emofuse::models::hub::export::HubTensors, source: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    tensors.write(&dir.join("model.safetensors")).unwrap();
    std::fs::copy(source.join("config.json"), dir.join("config.json")).unwrap();
}

/// Keys of `file` without a head prefix.
fn keys(file: &Path) -> BTreeSet<String> {
    let file = SafetensorsFile::open(file).unwrap();
    file.names()
        .map(|k| {
            ["roberta.", "bert.", "wav2vec2."]
                .iter()
                .find_map(|p| k.strip_prefix(p))
                .unwrap_or(k)
                .to_string()
        })
        .collect()
}

fn max_diff(a: Tensor<3>, b: Tensor<3>) -> f32 {
    (a - b).abs().max().into_scalar()
}

#[test]
fn text_encoders_round_trip_with_the_checkpoint_key_names_and_identical_outputs() {
    let device = Device::flex();
    let dir = scratch_dir("export-text-round-trip");
    for fixture in ["fusion/roberta-tiny", "text/bert-cls"] {
        let source = repo_path("tests/fixtures").join(fixture);
        let (model, config, _) = RobertaModel::from_pretrained(&source, &device).unwrap();
        let out = dir.join(fixture.replace('/', "-"));
        write_folder(&model.hub_tensors(), &source, &out);
        let (back, _, report) = RobertaModel::from_pretrained(&out, &device).unwrap();
        assert!(report.unused.is_empty(), "{fixture}: {:?}", report.unused);
        assert!(report.newly_initialised.is_empty(), "{fixture}");
        // Every key the model reads has the checkpoint's own name and values, bit for bit.
        let original = SafetensorsFile::open(&source.join("model.safetensors")).unwrap();
        let written = SafetensorsFile::open(&out.join("model.safetensors")).unwrap();
        let source_keys = keys(&source.join("model.safetensors"));
        for key in written.names() {
            assert!(
                source_keys.contains(key),
                "{fixture}: `{key}` not in the checkpoint"
            );
            let prefixed = [
                key.to_string(),
                format!("roberta.{key}"),
                format!("bert.{key}"),
            ]
            .into_iter()
            .find(|k| original.contains(k))
            .unwrap();
            assert_eq!(
                written.f32(key).unwrap(),
                original.f32(&prefixed).unwrap(),
                "{key}"
            );
        }
        assert_eq!(written.names().count(), report.loaded.len());
        let ids: Vec<i64> = (0..2 * 7)
            .map(|i| (i * 5 % config.vocab_size) as i64)
            .collect();
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [2, 7]), &device);
        let mask = Tensor::<2, Int>::ones([2, 7], &device);
        let a = model.forward(RobertaInput::new(ids.clone(), mask.clone()));
        let b = back.forward(RobertaInput::new(ids, mask));
        assert_eq!(
            max_diff(a.last_hidden_state, b.last_hidden_state),
            0.0,
            "{fixture}"
        );
    }
}

#[test]
fn wav2vec2_encoders_round_trip_with_the_weight_norm_names_and_equal_outputs() {
    let device = Device::flex();
    let dir = scratch_dir("export-wav2vec2-round-trip");
    // Both variants: group-norm conv + post-LayerNorm, layer-norm conv + pre-LayerNorm.
    for fixture in ["fusion/wav2vec2-tiny", "wav2vec2/layer-bare"] {
        let source = repo_path("tests/fixtures").join(fixture);
        let (model, _, _) = Wav2Vec2Model::from_pretrained(&source, &device).unwrap();
        let out = dir.join(fixture.replace('/', "-"));
        write_folder(&model.hub_tensors(), &source, &out);
        let (back, _, report) = Wav2Vec2Model::from_pretrained(&out, &device).unwrap();
        assert!(report.unused.is_empty(), "{fixture}: {:?}", report.unused);
        assert!(report.newly_initialised.is_empty(), "{fixture}");
        let written = keys(&out.join("model.safetensors"));
        let original = keys(&source.join("model.safetensors"));
        let pos_conv = "encoder.pos_conv_embed.conv.parametrizations.weight.original0";
        assert!(written.contains(pos_conv), "{fixture}: {written:?}");
        // The checkpoint's keys, except the one emofuse does not use (masked_spec_embed) and the
        // older weight-norm names, which transformers reads under the new ones.
        let old_names = |k: &String| k.ends_with("weight_g") || k.ends_with("weight_v");
        let expected: BTreeSet<String> = original
            .iter()
            .filter(|k| *k != "masked_spec_embed" && !old_names(k))
            .cloned()
            .collect();
        let written_new: BTreeSet<String> =
            written.iter().filter(|k| !old_names(k)).cloned().collect();
        if !original.iter().any(old_names) {
            assert_eq!(written_new, expected, "{fixture}");
        }
        let samples = 2 * 1600;
        let wave: Vec<f32> = (0..samples)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect();
        let x = Tensor::<2>::from_data(TensorData::new(wave, [2, 1600]), &device);
        let a = model.forward(emofuse::models::wav2vec2::Wav2Vec2Input::new(x.clone()));
        let b = back.forward(emofuse::models::wav2vec2::Wav2Vec2Input::new(x));
        // The positional convolution's weight goes through g * v / ||v|| again: rounding only.
        let diff = max_diff(a.last_hidden_state, b.last_hidden_state);
        assert!(diff < 1e-5, "{fixture}: {diff}");
    }
}

#[test]
fn an_exported_fine_tuned_run_holds_its_trained_layers_and_loads_back_with_its_predictions() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("export-run");
    let (text, audio) = (
        repo_path("tests/fixtures/fusion/roberta-tiny"),
        repo_path("tests/fixtures/fusion/wav2vec2-tiny"),
    );
    let experiment = fusion(&dir, "fine-tuned", &text, &audio, &["training.epochs=1"]);
    let summary = emofuse::pipeline::train(&experiment, TrainOptions::default())
        .unwrap()
        .unwrap();
    let out = dir.join("export");
    let (ok, log) = run_emofuse(&[
        "export",
        "--run",
        summary.run_dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{log}");
    for name in [
        "text/config.json",
        "text/model.safetensors",
        "text/tokenizer.json",
        "audio/config.json",
        "audio/model.safetensors",
        "head.safetensors",
        "head.json",
        "emofuse.toml",
    ] {
        assert!(out.join(name).is_file(), "{name} missing; {log}");
    }
    assert!(!dir.join("export.partial").exists());
    // A base-model tensor emofuse does not compute with is copied from the checkpoint.
    let unmodelled = |folder: &Path| {
        SafetensorsFile::open(&folder.join("model.safetensors"))
            .unwrap()
            .f32("masked_spec_embed")
            .unwrap()
    };
    assert_eq!(unmodelled(&out.join("audio")), unmodelled(&audio));

    // The last layer of each encoder is the fine-tuned one, the layers below are the
    // checkpoint's, bit for bit.
    for (branch, source, top) in [
        ("text", &text, "encoder.layer.2."),
        ("audio", &audio, "encoder.layers.2."),
    ] {
        let original = SafetensorsFile::open(&source.join("model.safetensors")).unwrap();
        let written = SafetensorsFile::open(&out.join(branch).join("model.safetensors")).unwrap();
        let (mut moved, mut kept) = (0, 0);
        for key in written.names() {
            if key.contains("pos_conv_embed.conv.parametrizations") {
                continue;
            }
            let same = written.f32(key).unwrap() == original.f32(key).unwrap();
            if key.starts_with(top) {
                assert!(!same, "{branch}: `{key}` trains but was exported unchanged");
                moved += 1;
            } else {
                assert!(
                    same,
                    "{branch}: `{key}` is frozen but differs from the checkpoint"
                );
                kept += 1;
            }
        }
        assert!(
            moved >= 12 && kept >= 12,
            "{branch}: {moved} moved, {kept} kept"
        );
        let config: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(branch).join("config.json")).unwrap(),
        )
        .unwrap();
        let class = if branch == "text" {
            "RobertaModel"
        } else {
            "Wav2Vec2Model"
        };
        assert_eq!(config["architectures"], serde_json::json!([class]));
    }

    // Rebuilt from the export folder alone, the classifier predicts what the run predicts.
    let corpus = load_corpus(&experiment).unwrap();
    let run = load_run(run_experiment(&summary.run_dir).unwrap(), None).unwrap();
    let exported = load_export(&out).unwrap();
    let a = run.predict_utterances(&corpus.test, 8).unwrap();
    let b = exported.predict_utterances(&corpus.test, 8).unwrap();
    assert_eq!(a.classes, b.classes);
    let mut worst = 0f32;
    for (x, y) in a.probabilities.iter().zip(&b.probabilities) {
        for (p, q) in x.iter().zip(y) {
            worst = worst.max((p - q).abs());
        }
    }
    assert!(worst < 1e-5, "largest probability difference {worst}");
    let head: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("head.json")).unwrap()).unwrap();
    assert_eq!(head["classes"].as_array().unwrap().len(), 7);
    let file = SafetensorsFile::open(&out.join("head.safetensors")).unwrap();
    assert_eq!(
        head["tensors"].as_object().unwrap().len(),
        file.names().count()
    );
    assert!(file.contains("text.projection.norm.weight"));
    // PyTorch's layout: the classifier maps hidden_dim 16 to 7 classes, weight [out, in].
    assert_eq!(file.shape("output.weight").unwrap(), &[7, 16]);
    assert_eq!(head["tensors"]["output.weight"], serde_json::json!([7, 16]));
    assert!(
        !file.names().any(|n| n.contains("Pretrained")),
        "an encoder tensor in the head"
    );

    // An existing --out is refused and left alone.
    let (ok, log) = run_emofuse(&[
        "export",
        "--run",
        summary.run_dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        !ok && log.contains("exists") && log.contains("--out"),
        "{log}"
    );
    assert!(out.join("head.json").is_file());
}

#[test]
fn a_scratch_run_exports_its_head_alone_and_loads_back_bit_for_bit() {
    let runs = runs();
    let dir = scratch_dir("export-scratch");
    let out = dir.join("both");
    let summary = export_run(&runs.both, &out, &emofuse::core::events::Silent).unwrap();
    assert!(summary.encoders.is_empty());
    assert!(!out.join("text").exists() && out.join("vocab.json").is_file());
    let experiment = run_experiment(&runs.both).unwrap();
    let corpus = load_corpus(&experiment).unwrap();
    let run = load_run(experiment, None).unwrap();
    let exported = load_export(&out).unwrap();
    let a = run.predict_utterances(&corpus.test, 16).unwrap();
    let b = exported.predict_utterances(&corpus.test, 16).unwrap();
    assert_eq!(a.probabilities, b.probabilities);

    // A head with a tensor missing is refused, naming it.
    let bad = dir.join("bad");
    export_run(&runs.both, &bad, &emofuse::core::events::Silent).unwrap();
    let file = SafetensorsFile::open(&bad.join("head.safetensors")).unwrap();
    let arrays: Vec<_> = file
        .names()
        .filter(|n| *n != "output.bias")
        .map(|n| {
            let (shape, values) = file.f32(n).unwrap();
            emofuse::io::safetensors::NamedArray::f32(n, shape, values)
        })
        .collect();
    emofuse::io::safetensors::write(&bad.join("head.safetensors"), &arrays).unwrap();
    let error = format!("{:#}", load_export(&bad).err().unwrap());
    assert!(error.contains("`output.bias` is missing"), "{error}");
}

#[test]
fn export_refuses_what_is_not_a_run() {
    let dir = scratch_dir("export-errors");
    let out = dir.join("out");
    let (ok, log) = run_emofuse(&[
        "export",
        "--run",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok && log.contains("not a run folder"), "{log}");
    assert!(!out.exists());
    let error = format!("{:#}", load_export(&dir).err().unwrap());
    assert!(error.contains("not an export folder"), "{error}");
}
