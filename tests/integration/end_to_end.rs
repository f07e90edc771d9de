//! Tiny training runs: reports, metrics.json, determinism, better than the majority class.

use crate::{ONE_RUN_AT_A_TIME, experiment_in, scratch_dir};
use emofuse::core::SplitName;
use emofuse::core::events::Recorder;
use emofuse::experiment::Experiment;
use emofuse::pipeline::TrainOptions;
use emofuse::pipeline::corpus::load_corpus;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

/// A tiny experiment writing into `dir`.
fn tiny(dir: &Path, name: &str, extra: &[&str]) -> Experiment {
    let mut sets: Vec<String> = [
        "data.train_size=1200",
        "data.valid_size=160",
        "data.test_size=240",
        "model.text_dim=32",
        "model.audio_channels=32",
        "model.projection_dim=32",
        "model.hidden_dim=32",
        "training.epochs=8",
        "training.learning_rate=3e-3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    sets.extend(extra.iter().map(|s| s.to_string()));
    experiment_in(dir, name, &sets)
}

fn metrics(dir: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(dir.join("runs").join(name).join("metrics.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn tiny_run_writes_reports_and_beats_the_majority_class() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("e2e-report");
    let experiment = tiny(&dir, "tiny", &[]);
    let summary = emofuse::pipeline::train(&experiment, TrainOptions::default())
        .unwrap()
        .unwrap();
    for file in [
        "report.md",
        "confusion_matrix.png",
        "confusion_matrix.svg",
        "curves.png",
    ] {
        let path = summary.report_dir.join(file);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "{} missing or tiny", path.display());
    }
    for file in ["config.toml", "metrics.csv", "model.bpk", "vocab.json"] {
        assert!(summary.run_dir.join(file).exists(), "{file} missing");
    }
    // The saved config is the resolved one and loads back to the same experiment.
    let saved = std::fs::read_to_string(summary.run_dir.join("config.toml")).unwrap();
    assert_eq!(
        Experiment::from_toml_str(&saved, &[], "saved").unwrap(),
        experiment
    );
    let csv = std::fs::read_to_string(summary.run_dir.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 8, "header + one line per epoch");

    let m = metrics(&dir, "tiny");
    for key in ["trainable_parameters", "total_parameters", "train_seconds"] {
        assert!(m[key].as_f64().unwrap() > 0.0, "{key}");
    }
    let test = &m["splits"]["test"];
    for key in ["accuracy", "weighted_f1", "macro_f1"] {
        assert!(test[key].is_f64(), "{key}");
    }
    let cm: Vec<Vec<usize>> = serde_json::from_value(test["confusion_matrix"].clone()).unwrap();
    let supports: Vec<usize> = cm.iter().map(|r| r.iter().sum()).collect();
    assert_eq!(supports.iter().sum::<usize>(), 240);
    assert_eq!(
        test["per_class"]["neutral"]["support"].as_u64().unwrap() as usize,
        supports[0]
    );
    let majority = *supports.iter().max().unwrap() as f64 / 240.0;
    let accuracy = test["accuracy"].as_f64().unwrap();
    assert!(
        accuracy > majority,
        "test accuracy {accuracy:.3} <= majority share {majority:.3}"
    );

    let report = std::fs::read_to_string(summary.report_dir.join("report.md")).unwrap();
    assert!(report.contains("weighted avg") && report.contains("| test |"));
    assert_eq!(summary.results[1].0, SplitName::Test);

    // Rows of a confusion matrix are true labels. The row sums are checked against the labels
    // of the data itself, counted here from the corpus, not against the support of the same
    // result: `evaluate(predicted, truth)` at the call site (pipeline::run::evaluate_split)
    // would make the rows the predicted classes, and their sums the predicted counts.
    let corpus = load_corpus(&experiment).unwrap();
    for (split, utterances) in [
        (SplitName::Valid, &corpus.valid),
        (SplitName::Test, &corpus.test),
    ] {
        let mut truth = vec![0usize; corpus.labels.len()];
        for u in utterances {
            truth[u.label] += 1;
        }
        let cm: Vec<Vec<usize>> =
            serde_json::from_value(m["splits"][split.as_str()]["confusion_matrix"].clone())
                .unwrap();
        let rows: Vec<usize> = cm.iter().map(|r| r.iter().sum()).collect();
        assert_eq!(
            rows, truth,
            "{split}: confusion-matrix rows are not the true labels"
        );
        let columns: Vec<usize> = (0..truth.len())
            .map(|c| cm.iter().map(|r| r[c]).sum())
            .collect();
        assert_ne!(
            columns, truth,
            "{split}: the model predicts the true class counts exactly, so rows and columns \
             cannot be told apart; the check needs another seed"
        );
    }
    // The validation inside the training loop (training::trainer::fit) evaluates the same model
    // on the same split as the final evaluation of the selected checkpoint, so its weighted F1,
    // which weighs classes by their true support, must be the same: swapped arguments there
    // would weigh them by the predicted counts instead.
    let valid = &summary.results[0];
    assert_eq!(valid.0, SplitName::Valid);
    let at_checkpoint = &summary.history[summary.checkpoint_epoch - 1];
    assert_eq!(at_checkpoint.epoch, summary.checkpoint_epoch);
    assert!(
        (at_checkpoint.valid_weighted_f1 - valid.1.weighted_f1).abs() < 1e-9,
        "history {} vs evaluation {}",
        at_checkpoint.valid_weighted_f1,
        valid.1.weighted_f1
    );
    assert!((at_checkpoint.valid_accuracy - valid.1.accuracy).abs() < 1e-9);
}

#[test]
fn same_seed_gives_the_same_metrics() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("e2e-determinism");
    let sets = ["training.epochs=1", "data.train_size=320"];
    for name in ["a", "b"] {
        emofuse::pipeline::train(&tiny(&dir, name, &sets), TrainOptions::default()).unwrap();
    }
    let (a, b) = (metrics(&dir, "a"), metrics(&dir, "b"));
    assert_eq!(a["splits"], b["splits"]);
    assert_eq!(a["history"], b["history"]);
    emofuse::pipeline::train(
        &tiny(&dir, "c", &[&sets[..], &["run.seed=7"]].concat()),
        TrainOptions::default(),
    )
    .unwrap();
    let c = metrics(&dir, "c");
    assert_ne!(
        a["history"], c["history"],
        "another seed should train differently"
    );
}

#[test]
fn resume_continues_from_the_last_checkpoint() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("e2e-resume");
    let base = ["data.train_size=320", "training.learning_rate=3e-3"];
    let run_with = |extra: &[&str], resume, observer: Arc<Recorder>| {
        let experiment = tiny(&dir, "r", &[&base[..], extra].concat());
        emofuse::pipeline::train(
            &experiment,
            TrainOptions {
                resume,
                observer,
                ..TrainOptions::default()
            },
        )
    };
    let run = |extra: &[&str], resume| run_with(extra, resume, Arc::default());
    // The epochs a run trained, from what it reported.
    let epochs_run = |recorder: &Recorder| -> Vec<String> {
        recorder
            .lines()
            .into_iter()
            .filter(|l| l.starts_with("epoch "))
            .map(|l| l.split(':').next().unwrap().to_string())
            .collect()
    };
    let first = Arc::new(Recorder::default());
    run_with(&["training.epochs=2"], false, first.clone()).unwrap();
    assert_eq!(epochs_run(&first), ["epoch 1/2", "epoch 2/2"]);
    let before = metrics(&dir, "r")["history"].as_array().unwrap().clone();
    assert_eq!(before.len(), 2);
    assert_eq!(metrics(&dir, "r")["epochs_run"], serde_json::json!([1, 2]));

    // Train one epoch more: the first two epochs are kept, not redone.
    let resumed = Arc::new(Recorder::default());
    run_with(&["training.epochs=3"], true, resumed.clone()).unwrap();
    assert_eq!(
        epochs_run(&resumed),
        ["epoch 3/3"],
        "the resumed run trains epoch 3 only"
    );
    assert!(
        resumed
            .lines()
            .contains(&"resuming after epoch 2 of 3 (step 20)".to_string()),
        "{:?}",
        resumed.lines()
    );
    let after = metrics(&dir, "r")["history"].as_array().unwrap().clone();
    assert_eq!(after.len(), 3);
    // The run's own record of what it trained: a resume that silently restarted from epoch 0
    // reaches the same (deterministic) history, so only this tells the two apart.
    assert_eq!(
        metrics(&dir, "r")["epochs_run"],
        serde_json::json!([3]),
        "the resumed run records that it trained epoch 3 only"
    );
    let record = emofuse::reports::RunRecord::load(&dir.join("runs/r")).unwrap();
    assert_eq!(record.epochs_run, [3]);
    assert_eq!(after[..2], before[..]);
    // Every epoch draws from (seed, epoch) alone, and the checkpoint holds the optimiser state:
    // the interrupted-and-resumed run ends where an uninterrupted one does.
    let experiment = tiny(
        &dir,
        "straight",
        &[&base[..], &["training.epochs=3"]].concat(),
    );
    emofuse::pipeline::train(&experiment, TrainOptions::default()).unwrap();
    let straight = metrics(&dir, "straight");
    assert_eq!(straight["epochs_run"], serde_json::json!([1, 2, 3]));
    assert_eq!(straight["history"].as_array().unwrap()[..], after[..]);
    assert_eq!(straight["splits"], metrics(&dir, "r")["splits"]);
    let saved = std::fs::read_to_string(dir.join("runs/r/config.toml")).unwrap();
    assert!(
        saved.contains("epochs = 3"),
        "the saved config follows the resumed run"
    );

    // Anything else changed is refused, naming the section.
    let err = format!(
        "{:#}",
        run(&["training.epochs=3", "model.hidden_dim=16"], true).unwrap_err()
    );
    assert!(
        err.contains("[model]") && err.contains("only training.epochs"),
        "{err}"
    );
    let err = format!(
        "{:#}",
        run(&["training.epochs=3", "output.name=\"nothing\""], true).unwrap_err()
    );
    assert!(err.contains("no run to resume"), "{err}");
}

/// `run.seeds` on fixed splits: one run per seed on the same data, each a complete run, and
/// mean +- std over their test results.
#[test]
fn seeds_repeat_a_run_on_the_same_data() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("e2e-seeds");
    let experiment = tiny(
        &dir,
        "seeds",
        &[
            "training.epochs=2",
            "data.train_size=240",
            "run.seeds=[5, 6]",
        ],
    );
    emofuse::pipeline::train(&experiment, TrainOptions::default()).unwrap();
    let top = metrics(&dir, "seeds");
    let (a, b) = (metrics(&dir, "seeds/seed-5"), metrics(&dir, "seeds/seed-6"));
    assert_eq!((a["seed"].clone(), b["seed"].clone()), (5.into(), 6.into()));
    // Same data for both seeds (data.seed is pinned to the base run.seed), different training.
    let labels = |seed: u64| -> Vec<String> {
        let path = dir.join(format!("runs/seeds/seed-{seed}/predictions.csv"));
        let text = std::fs::read_to_string(path).unwrap();
        text.lines()
            .skip(1)
            .map(|l| l.split(',').take(3).collect::<Vec<_>>().join(","))
            .collect()
    };
    assert_eq!(
        labels(5),
        labels(6),
        "the same utterances and labels for both seeds"
    );
    assert_ne!(a["history"], b["history"]);
    let acc = |m: &Value| m["splits"]["test"]["accuracy"].as_f64().unwrap();
    let mean = (acc(&a) + acc(&b)) / 2.0;
    assert!((top["over_seeds"]["accuracy_mean"].as_f64().unwrap() - mean).abs() < 1e-12);
    let std = (acc(&a) - acc(&b)).abs() / 2f64.sqrt();
    assert!((top["over_seeds"]["accuracy_std"].as_f64().unwrap() - std).abs() < 1e-12);
    assert!(top.get("over_folds_and_seeds").is_none());
    // The validation split (which chose each checkpoint) is summarised apart from the test.
    let dev = |m: &Value| m["splits"]["valid"]["weighted_f1"].as_f64().unwrap();
    let valid = &top["over_seeds_valid"];
    assert!(
        (valid["weighted_f1_mean"].as_f64().unwrap() - (dev(&a) + dev(&b)) / 2.0).abs() < 1e-12
    );
    assert_ne!(
        valid["weighted_f1_mean"],
        top["over_seeds"]["weighted_f1_mean"]
    );
    assert_eq!(top["selected_by"], "best validation weighted_f1");
    // Per-class test F1 of each seed, as its own run recorded it.
    let f1 = &top["seeds"][1]["test_f1_by_class"];
    for (class, value) in b["splits"]["test"]["per_class"].as_object().unwrap() {
        assert_eq!(f1[class], value["f1"], "{class}");
    }
    let summary = std::fs::read_to_string(dir.join("reports/seeds/summary.md")).unwrap();
    assert!(
        summary.contains("chosen on the validation split (best validation weighted_f1)"),
        "{summary}"
    );
    assert!(summary.contains("| 2 seeds, validation |"), "{summary}");
    assert!(summary.contains("Test F1 by class"), "{summary}");
}

#[test]
fn the_data_line_gives_the_clip_length_only_when_the_model_reads_audio() {
    let dir = scratch_dir("e2e-data-line");
    let line = |name: &str, modalities: &str| {
        let recorder = Arc::new(Recorder::default());
        let experiment = tiny(&dir, name, &[&format!("model.modalities={modalities}")]);
        let options = TrainOptions {
            dry_run: true,
            observer: recorder.clone(),
            ..TrainOptions::default()
        };
        emofuse::pipeline::train(&experiment, options).unwrap();
        recorder
            .lines()
            .into_iter()
            .find(|l| l.starts_with("data: "))
            .unwrap()
    };
    assert_eq!(
        line("both", r#"["text", "audio"]"#),
        "data: synthetic, 16000 Hz, clips up to 1.5 s"
    );
    assert_eq!(
        line("text", r#"["text"]"#),
        "data: synthetic, text only (no audio read)"
    );
}
