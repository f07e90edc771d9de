//! Study A's late fusion with pretrained encoders, on the tiny fixture encoders of
//! tests/fixtures/fusion (make_fixtures.py): partial fine-tuning, the frozen-trunk cache,
//! evaluation, ablation and prediction.

use crate::{ONE_RUN_AT_A_TIME, experiment_in, parameters, repo_path, run_emofuse, scratch_dir};
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use emofuse::data::Utterance;
use emofuse::experiment::Experiment;
use emofuse::models::finetune::TrainLayers;
use emofuse::models::roberta::RobertaModel;
use emofuse::models::wav2vec2::Wav2Vec2Model;
use emofuse::pipeline::TrainOptions;
use emofuse::serving::{AudioFile, PredictionInput, Predictor};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Copies a fixture encoder folder with every dropout probability set to 0.
pub(crate) fn without_dropout(fixture: &str, dir: &Path) -> PathBuf {
    let from = repo_path("tests/fixtures/fusion").join(fixture);
    let to = dir.join(fixture);
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    let path = to.join("config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for (key, value) in config.as_object_mut().unwrap() {
        if key.contains("dropout") && value.is_number() {
            *value = Value::from(0.0);
        }
    }
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    to
}

/// A small late-fusion experiment on the synthetic corpus with the fixture encoders.
pub(crate) fn fusion(
    dir: &Path,
    name: &str,
    text: &Path,
    audio: &Path,
    extra: &[&str],
) -> Experiment {
    let mut sets: Vec<String> = [
        "data.train_size=96",
        "data.valid_size=32",
        "data.test_size=48",
        "data.clip_seconds=0.5",
        "data.max_tokens=16",
        "model.projection_dim=16",
        "model.hidden_dim=16",
        "training.epochs=3",
        "training.batch_size=8",
        "training.learning_rate=3e-3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    sets.push(format!("model.text.checkpoint=\"{}\"", text.display()));
    sets.push(format!("model.audio.checkpoint=\"{}\"", audio.display()));
    sets.extend(extra.iter().map(|s| s.to_string()));
    experiment_in(dir, name, &sets)
}

fn metrics(run_dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run_dir.join("metrics.json")).unwrap()).unwrap()
}

/// Every float parameter of a module by its path (field names, enum variants and `Vec`
/// indices from the root, joined with `.`, as burn's `ModuleVisitor` enters them), flattened.
fn named_parameters<M: Module>(module: &M) -> BTreeMap<String, Vec<f32>> {
    #[derive(Default)]
    struct Collect {
        path: Vec<String>,
        out: BTreeMap<String, Vec<f32>>,
    }
    impl ModuleVisitor for Collect {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let path = self.path.join(".");
            let values = param
                .val()
                .into_data()
                .convert::<f32>()
                .try_to_vec()
                .unwrap();
            assert!(
                self.out.insert(path.clone(), values).is_none(),
                "two parameters at `{path}`"
            );
        }
    }
    let mut c = Collect::default();
    module.visit(&mut c);
    c.out
}

/// Parameters of one transformer layer of the fixtures (hidden 32, intermediate 64): four
/// attention projections, two LayerNorms, the feed-forward pair.
const LAYER: usize = 4 * (32 * 32 + 32) + 2 * (2 * 32) + (32 * 64 + 64) + (64 * 32 + 32);
/// Projection (32 -> 16, LayerNorm 16) per branch, classifier 32 -> 16 -> 7.
const HEAD: usize = 2 * (32 * 16 + 16 + 2 * 16) + (32 * 16 + 16) + (16 * 7 + 7);

#[test]
fn partial_fine_tuning_trains_only_the_last_layers_and_the_head() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("fusion-partial");
    let (text, audio) = (
        repo_path("tests/fixtures/fusion/roberta-tiny"),
        repo_path("tests/fixtures/fusion/wav2vec2-tiny"),
    );
    let experiment = fusion(&dir, "partial", &text, &audio, &[]);
    let summary = emofuse::pipeline::train(&experiment, TrainOptions::default())
        .unwrap()
        .unwrap();
    let device = Device::flex();
    let text_total = parameters(&RobertaModel::from_pretrained(&text, &device).unwrap().0)
        .iter()
        .map(Vec::len)
        .sum::<usize>();
    let audio_total = parameters(&Wav2Vec2Model::from_pretrained(&audio, &device).unwrap().0)
        .iter()
        .map(Vec::len)
        .sum::<usize>();
    // One layer of each encoder and the head train; the rest is counted, frozen.
    assert_eq!(summary.parameters.0, 2 * LAYER + HEAD);
    assert_eq!(summary.parameters.1, text_total + audio_total + HEAD);
    let m = metrics(&summary.run_dir);
    assert_eq!(
        m["trainable_parameters"].as_u64().unwrap() as usize,
        2 * LAYER + HEAD
    );

    // The selected checkpoint holds the trainable layers, all moved away from the pretrained
    // values; the frozen layers are not in it at all (they are read from the checkpoint folder).
    let trained = emofuse::pipeline::trained::load_run(experiment.clone(), None).unwrap();
    let trained_params = parameters(&trained.model);
    assert_eq!(
        trained_params.iter().map(Vec::len).sum::<usize>(),
        2 * LAYER + HEAD
    );
    let (_, text_top) = RobertaModel::from_pretrained(&text, &device)
        .unwrap()
        .0
        .split(TrainLayers::Last(1));
    let (_, audio_top) = Wav2Vec2Model::from_pretrained(&audio, &device)
        .unwrap()
        .0
        .split(TrainLayers::Last(1), false);
    // Pair every tensor by its module path: the trained model holds each encoder's top under
    // `text.` / `audio.` (then the branch's encoder), with the stage's own paths below that.
    let trained_named = named_parameters(&trained.model);
    let mut paired = 0;
    for (branch, top) in [
        ("text.", named_parameters(&text_top)),
        ("audio.", named_parameters(&audio_top)),
    ] {
        for (path, pretrained) in &top {
            let suffix = format!(".{path}");
            let matches: Vec<_> = trained_named
                .iter()
                .filter(|(p, _)| p.starts_with(branch) && p.ends_with(&suffix))
                .collect();
            assert_eq!(
                matches.len(),
                1,
                "{branch}..{path}: {:?}",
                matches.iter().map(|m| m.0).collect::<Vec<_>>()
            );
            let (trained_path, trained_values) = matches[0];
            assert_eq!(trained_values.len(), pretrained.len(), "{trained_path}");
            assert!(
                trained_values != pretrained,
                "{trained_path}: trainable, but equal to the pretrained {path} after training"
            );
            paired += 1;
        }
    }
    // The paired tensors are the two trained layers, whole; the rest is the head (projections
    // and classifier, no pretrained values to compare with).
    let total = |top: BTreeMap<String, Vec<f32>>| top.values().map(Vec::len).sum::<usize>();
    let paired_values = total(named_parameters(&text_top)) + total(named_parameters(&audio_top));
    assert_eq!(paired_values, 2 * LAYER, "{paired} tensors paired");
    assert_eq!(
        trained_named.values().map(Vec::len).sum::<usize>() - paired_values,
        HEAD
    );

    // The frozen trunks the run feeds the top with are the checkpoint's tensors, bit for bit.
    let (text_trunk, _) = RobertaModel::from_pretrained(&text, &device)
        .unwrap()
        .0
        .split(TrainLayers::Last(1));
    let (audio_trunk, _) = Wav2Vec2Model::from_pretrained(&audio, &device)
        .unwrap()
        .0
        .split(TrainLayers::Last(1), false);
    let trunks = &trained.setup.batcher.trunks;
    for (label, used, checkpoint) in [
        (
            "text",
            named_parameters(trunks.text.as_ref().expect("a frozen text trunk")),
            named_parameters(&text_trunk),
        ),
        (
            "audio",
            named_parameters(trunks.audio.as_ref().expect("a frozen audio trunk")),
            named_parameters(&audio_trunk),
        ),
    ] {
        assert!(!checkpoint.is_empty());
        assert_eq!(
            used.keys().collect::<Vec<_>>(),
            checkpoint.keys().collect::<Vec<_>>(),
            "{label} trunk tensors"
        );
        for (path, values) in &checkpoint {
            let got = &used[path];
            assert!(
                got.len() == values.len()
                    && got
                        .iter()
                        .zip(values)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{label} trunk: frozen {path} differs from the checkpoint's"
            );
        }
    }

    // Evaluation of the saved run reproduces the reported test metrics.
    let experiment_file = dir.join("partial.toml");
    std::fs::write(&experiment_file, experiment.to_toml()).unwrap();
    let (ok, out) = run_emofuse(&[
        "eval",
        experiment_file.to_str().unwrap(),
        "--split",
        "test",
        "--ablate",
        "audio",
    ]);
    assert!(ok, "{out}");
    let test = &m["splits"]["test"];
    let line = format!(
        "accuracy {:.2}%",
        100.0 * test["accuracy"].as_f64().unwrap()
    );
    assert!(out.contains(&line), "eval output lacks `{line}`:\n{out}");
    assert!(
        out.contains("(audio zeroed)") && out.contains("weighted avg"),
        "{out}"
    );
    let ablated = m["ablation"].as_array().unwrap();
    assert!(
        ablated
            .iter()
            .any(|r| r["variant"].as_str().unwrap().contains("audio zeroed")),
        "{ablated:?}"
    );
    let report = std::fs::read_to_string(summary.report_dir.join("report.md")).unwrap();
    assert!(
        report.contains("ablation"),
        "report lacks the ablation table"
    );

    // Prediction from the run folder: a probability per class, summing to 1.
    let wav = repo_path("tests/fixtures/audio/pcm_s16.wav");
    let (ok, out) = run_emofuse(&[
        "predict",
        "--run",
        summary.run_dir.to_str().unwrap(),
        "--text",
        "wow that is great",
        "--audio",
        wav.to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "{out}");
    let json: Value = serde_json::from_str(&out[out.find('{').unwrap()..]).unwrap();
    let probabilities = json["probabilities"].as_object().unwrap();
    assert_eq!(probabilities.len(), 7);
    let sum: f64 = probabilities.values().map(|p| p.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-4, "probabilities sum to {sum}");

    // What `emofuse serve` answers for an upload of that file (frozen trunks read from the
    // checkpoint folders) is what evaluation computes from the file on disk.
    let predictor = Predictor::load(&summary.run_dir, None).unwrap();
    let served = predictor
        .predict(PredictionInput {
            text: Some("wow that is great".into()),
            audio: Some(AudioFile {
                bytes: std::fs::read(&wav).unwrap(),
                name: Some("pcm_s16.wav".into()),
            }),
            ..PredictionInput::default()
        })
        .unwrap();
    let utterance = Utterance {
        id: "clip".into(),
        text: "wow that is great".into(),
        audio: Vec::new(),
        audio_path: Some(wav.clone()),
        label: 0,
        speaker: 0,
        turn: None,
    };
    // Uncached, as the server runs: a cache would round the trunk's output (f16).
    let mut uncached = experiment.clone();
    uncached.model.cache_frozen = false;
    let reference = emofuse::pipeline::trained::load_run(uncached, None).unwrap();
    let evaluated = reference
        .predict_utterances(std::slice::from_ref(&utterance), 1)
        .unwrap();
    assert_eq!(served.probabilities.len(), evaluated.probabilities[0].len());
    for ((name, p), q) in served.probabilities.iter().zip(&evaluated.probabilities[0]) {
        assert!((p - q).abs() < 1e-6, "{name}: served {p}, evaluated {q}");
        let printed = probabilities[name].as_f64().unwrap();
        assert!(
            (f64::from(*p) - printed).abs() < 1e-6,
            "{name}: predict printed {printed}"
        );
    }
    let (ok, out) = run_emofuse(&[
        "predict",
        "--run",
        summary.run_dir.to_str().unwrap(),
        "--text",
        "hi",
    ]);
    assert!(!ok && out.contains("pass --audio"), "{out}");
}

#[test]
fn cached_and_uncached_training_give_the_same_metrics() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("fusion-cache");
    let text = without_dropout("roberta-tiny", &dir);
    let audio = without_dropout("wav2vec2-tiny", &dir);
    let run = |name: &str, cache: bool, extra: &[&str]| {
        let mut sets = vec![
            "model.dropout=0.0".to_string(),
            format!("model.cache_frozen={cache}"),
            "model.cache_dtype=\"f32\"".to_string(),
            "model.text.train_last_layers=2".to_string(),
        ];
        sets.extend(extra.iter().map(|s| s.to_string()));
        let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
        emofuse::pipeline::train(
            &fusion(&dir, name, &text, &audio, &sets),
            TrainOptions::default(),
        )
        .unwrap()
        .unwrap()
    };
    let uncached = run("uncached", false, &[]);
    let cached = run("cached", true, &[]);
    assert_eq!(
        std::fs::read_dir(dir.join("cache")).unwrap().count(),
        6,
        "text and audio x 3 splits"
    );
    assert_eq!(
        uncached.history.len(),
        cached.history.len(),
        "same epochs run"
    );
    assert!(!cached.history.is_empty());
    for (a, b) in uncached.history.iter().zip(&cached.history) {
        assert_eq!(a.valid_accuracy, b.valid_accuracy, "epoch {}", a.epoch);
        assert_eq!(
            a.valid_weighted_f1, b.valid_weighted_f1,
            "epoch {}",
            a.epoch
        );
        assert!((a.train_loss - b.train_loss).abs() < 1e-4, "{a:?} vs {b:?}");
        assert!((a.valid_loss - b.valid_loss).abs() < 1e-4, "{a:?} vs {b:?}");
    }
    assert_eq!(
        uncached.results.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        cached.results.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        "same splits evaluated"
    );
    for ((_, a), (_, b)) in uncached.results.iter().zip(&cached.results) {
        assert_eq!(a.confusion_matrix, b.confusion_matrix);
    }

    // A second run reuses the cache; a change to the data builds a new one.
    let again = run("cached-again", true, &[]);
    assert_eq!(again.history, cached.history);
    assert_eq!(std::fs::read_dir(dir.join("cache")).unwrap().count(), 6);
    run("other-data", true, &["data.seed=7", "training.epochs=1"]);
    assert_eq!(std::fs::read_dir(dir.join("cache")).unwrap().count(), 12);
}

#[test]
fn frozen_encoders_and_fully_trained_encoders_count_their_parameters() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("fusion-counts");
    let (text, audio) = (
        repo_path("tests/fixtures/fusion/roberta-tiny"),
        repo_path("tests/fixtures/fusion/wav2vec2-tiny"),
    );
    // Text frozen (its first-token vector is cached once), audio trained whole above the conv
    // feature encoder.
    let summary = emofuse::pipeline::train(
        &fusion(
            &dir,
            "counts",
            &text,
            &audio,
            &[
                "training.epochs=1",
                "model.text.train_last_layers=0",
                "model.audio.train_last_layers=\"all\"",
            ],
        ),
        TrainOptions::default(),
    )
    .unwrap()
    .unwrap();
    let device = Device::flex();
    let (audio_model, _, _) = Wav2Vec2Model::from_pretrained(&audio, &device).unwrap();
    let (conv, _) = audio_model.split(TrainLayers::All, false);
    let audio_total: usize =
        parameters(&Wav2Vec2Model::from_pretrained(&audio, &device).unwrap().0)
            .iter()
            .map(Vec::len)
            .sum();
    let conv_params: usize = parameters(&conv).iter().map(Vec::len).sum();
    assert_eq!(summary.parameters.0, audio_total - conv_params + HEAD);
}
