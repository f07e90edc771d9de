//! Study B end to end on the committed RAVDESS-named fixture clips: speaker k-fold with the
//! MFCC CNN (trained to an accuracy floor), `metrics.json` folds and cv, saved splits without
//! speaker leakage, per-gender runs (one epoch per fold).

use crate::{ONE_RUN_AT_A_TIME, experiment_in, repo_path, scratch_dir};
use emofuse::data::speech::SplitAssignment;
use emofuse::experiment::Experiment;
use emofuse::pipeline::TrainOptions;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn experiment(dir: &Path, name: &str, extra: &[&str]) -> Experiment {
    let mut sets: Vec<String> = [
        "data.dataset=\"ravdess\"",
        "data.clip_seconds=0.3",
        "data.features=\"mfcc\"",
        "data.n_mfcc=13",
        "data.n_mels=40",
        "data.split.folds=3",
        "model.modalities=[\"audio\"]",
        "model.audio_encoder=\"speech_cnn\"",
        "model.cnn.channels=[8, 8, 16, 16]",
        "model.projection_dim=0",
        "model.hidden_dim=0",
        "training.epochs=1",
        "training.batch_size=8",
        "training.optimizer=\"sgd\"",
        "training.learning_rate=1e-2",
        "training.select_metric=\"loss\"",
        "evaluation.ablation=false",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    sets.push(format!(
        "data.path=\"{}\"",
        repo_path("tests/fixtures/speech/ravdess").display()
    ));
    sets.extend(extra.iter().map(|s| s.to_string()));
    experiment_in(dir, name, &sets)
}

fn speakers(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn speaker_kfold_cnn_run_reports_folds_and_cv() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("crossval-kfold");
    // Long enough to learn the fixture (one epoch per fold stays at chance); about a second.
    let e = experiment(
        &dir,
        "kfold",
        &[
            "training.epochs=40",
            "training.optimizer=\"adamw\"",
            "training.learning_rate=3e-2",
        ],
    );
    emofuse::pipeline::train(&e, TrainOptions::default()).unwrap();
    let m: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("runs/kfold/metrics.json")).unwrap(),
    )
    .unwrap();
    let folds = m["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 3);
    let mut tested = BTreeSet::new();
    let mut accuracies = Vec::new();
    for f in folds {
        let (train, valid, test) = (
            speakers(&f["train_speakers"]),
            speakers(&f["valid_speakers"]),
            speakers(&f["test_speakers"]),
        );
        assert_eq!(test.len(), 2, "6 actors in 3 folds");
        assert!(train.is_disjoint(&test) && train.is_disjoint(&valid) && valid.is_disjoint(&test));
        tested.extend(test);
        accuracies.push(f["accuracy"].as_f64().unwrap());
        // The split is saved with the fold's run and matches metrics.json.
        let run = Path::new(f["run"].as_str().unwrap());
        let saved = SplitAssignment::load(&run.join("split.json")).unwrap();
        assert_eq!(
            saved.test_speakers.iter().cloned().collect::<BTreeSet<_>>(),
            speakers(&f["test_speakers"])
        );
        assert!(run.join("model.bpk").exists());
    }
    assert_eq!(tested.len(), 6, "every actor is tested exactly once");
    // The fixture's classes are tones of distinct frequencies (per-speaker shifts are smaller
    // than the gaps), so a model trained this long separates them on unseen speakers: 40 epochs
    // give 80-95% per fold here. Chance is 12.5% (8 classes); broken features, labels or fold
    // assignment fall back to it.
    for (k, a) in accuracies.iter().enumerate() {
        assert!(*a >= 0.5, "fold {}: test accuracy {a:.3} < 0.5", k + 1);
    }
    let n = accuracies.len() as f64;
    let mean = accuracies.iter().sum::<f64>() / n;
    let std = (accuracies.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    assert!((m["cv"]["accuracy_mean"].as_f64().unwrap() - mean).abs() < 1e-12);
    assert!((m["cv"]["accuracy_std"].as_f64().unwrap() - std).abs() < 1e-12);
    assert!(mean >= 0.7, "mean test accuracy {mean:.3} < 0.7");
    assert!(m["cv"]["macro_f1_mean"].is_f64() && m["cv"]["macro_f1_std"].is_f64());
    assert_eq!(m["speaker_independent"], Value::Bool(true));
    let summary = std::fs::read_to_string(dir.join("reports/kfold/summary.md")).unwrap();
    assert!(
        summary.contains("Speaker-independent") && summary.contains("+-"),
        "{summary}"
    );
}

#[test]
fn per_gender_and_grouped_labels_and_random_splits_are_labelled() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("crossval-gender");
    emofuse::pipeline::train(
        &experiment(
            &dir,
            "gender",
            &["data.per_gender=true", "data.label_table=\"ravdess3\""],
        ),
        TrainOptions::default(),
    )
    .unwrap();
    let m: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("runs/gender/metrics.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        m["labels"],
        serde_json::json!(["positive", "neutral", "negative"])
    );
    let groups = m["groups"].as_object().unwrap();
    assert_eq!(groups.keys().collect::<Vec<_>>(), ["male", "female"]);
    for f in m["folds"].as_array().unwrap() {
        // Male actors are odd-numbered: a male fold tests only on them.
        let odd = speakers(&f["test_speakers"])
            .iter()
            .all(|s| s.trim_start_matches("actor_").parse::<u32>().unwrap() % 2 == 1);
        assert_eq!(odd, f["group"] == "male", "{f}");
    }

    emofuse::pipeline::train(
        &experiment(&dir, "random", &["data.split.kind=\"random\""]),
        TrainOptions::default(),
    )
    .unwrap();
    let summary = std::fs::read_to_string(dir.join("reports/random/summary.md")).unwrap();
    assert!(summary.contains("Speaker-DEPENDENT"), "{summary}");
}

/// `--dry-run` opens every audio file a run would read: a damaged one is named (with its clip
/// and the reason) before any fold trains.
#[test]
fn dry_run_probes_every_audio_file_and_names_the_bad_one() {
    use emofuse::core::events::Recorder;
    use std::sync::Arc;
    // The model probe draws from the device's random source, which training runs share.
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("crossval-dry-run-probe");
    let data = dir.join("ravdess");
    let source = repo_path("tests/fixtures/speech/ravdess");
    let mut files = Vec::new();
    for actor in std::fs::read_dir(&source).unwrap() {
        let actor = actor.unwrap().path();
        let into = data.join(actor.file_name().unwrap());
        std::fs::create_dir_all(&into).unwrap();
        for clip in std::fs::read_dir(&actor).unwrap() {
            let clip = clip.unwrap().path();
            let copy = into.join(clip.file_name().unwrap());
            std::fs::copy(&clip, &copy).unwrap();
            files.push(copy);
        }
    }
    files.sort();
    let set = format!("data.path=\"{}\"", data.display());
    let e = experiment(&dir, "probe", &[set.as_str()]);
    let recorder = Arc::new(Recorder::default());
    let options = TrainOptions {
        dry_run: true,
        observer: recorder.clone(),
        ..TrainOptions::default()
    };
    emofuse::pipeline::train(&e, options.clone()).unwrap();
    let lines = recorder.lines().join("\n");
    assert!(
        // 56 files, 2 of which have names that do not parse (skipped before the probe).
        lines.contains("dry run: all 54 audio files open and decode"),
        "{lines}"
    );

    // One clip replaced by a WAV whose header declares 4,294,967,295 Hz.
    let bad = &files[0];
    assert!(bad.ends_with("Actor_01/03-01-01-01-01-01-01.wav"));
    std::fs::copy(repo_path("tests/fixtures/hostile/rate_4294967295.wav"), bad).unwrap();
    let err = format!("{:#}", emofuse::pipeline::train(&e, options).unwrap_err());
    assert!(err.contains("1 of 54 audio files cannot be read"), "{err}");
    let stem = bad.file_stem().unwrap().to_str().unwrap();
    assert!(err.contains(&format!("clip `{stem}`")), "{err}");
    assert!(err.contains("4294967295 Hz is outside"), "{err}");
}
