//! The training loop's options: learning-rate schedules, SGD, gradient accumulation (one
//! accumulated step against one large batch), class weights (against scikit-learn), balanced
//! sampling, reduce-on-plateau, early stopping, the NaN stop, and resuming after `kill -9`.

use crate::{ONE_RUN_AT_A_TIME, experiment_in, parameters, repo_path, scratch_dir};
use emofuse::experiment::Experiment;
use emofuse::io::tfevents::{self, Payload};
use emofuse::pipeline::TrainOptions;
use emofuse::pipeline::trained::load_run;
use emofuse::training::config::{ClassWeighting, ScheduleKind, TrainingConfig};
use emofuse::training::schedule::{Plateau, learning_rate};
use emofuse::training::trainer::balanced_order;
use emofuse::training::weights::class_weights;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

fn schedule(kind: ScheduleKind, warmup: usize) -> TrainingConfig {
    TrainingConfig {
        learning_rate: 1.0,
        schedule: kind,
        warmup_steps: warmup,
        ..TrainingConfig::default()
    }
}

#[test]
fn learning_rate_schedules() {
    let lr = |kind, warmup, step| learning_rate(&schedule(kind, warmup), step, 110, 1.0);
    // Warmup: linear from 0 over 10 steps, whatever follows.
    for kind in [
        ScheduleKind::Constant,
        ScheduleKind::Linear,
        ScheduleKind::Cosine,
    ] {
        assert_eq!(lr(kind, 10, 5), 0.5);
        assert_eq!(lr(kind, 10, 10), 1.0);
    }
    assert_eq!(lr(ScheduleKind::Constant, 10, 60), 1.0);
    // Linear decay to 0 over the 100 steps after warmup.
    assert!((lr(ScheduleKind::Linear, 10, 60) - 0.5).abs() < 1e-12);
    assert_eq!(lr(ScheduleKind::Linear, 10, 110), 0.0);
    // Cosine: half way is half the rate, the end is 0.
    assert!((lr(ScheduleKind::Cosine, 10, 60) - 0.5).abs() < 1e-12);
    assert!(
        (lr(ScheduleKind::Cosine, 10, 35) - 0.5 * (1.0 + (std::f64::consts::PI / 4.0).cos())).abs()
            < 1e-12
    );
    assert!(lr(ScheduleKind::Cosine, 10, 110).abs() < 1e-12);
    // Plateau: the accumulated factor.
    assert_eq!(
        learning_rate(&schedule(ScheduleKind::Plateau, 0), 50, 110, 0.25),
        0.25
    );

    let mut p = Plateau::default();
    assert!(!p.update(false, 2, 0.5));
    assert!(p.update(false, 2, 0.5), "second bad epoch drops the rate");
    assert_eq!(p.scale, 0.5);
    assert!(!p.update(true, 2, 0.5));
    assert!(!p.update(false, 2, 0.5));
    assert_eq!((p.scale, p.bad_epochs), (0.5, 1));
}

fn tiny(dir: &Path, name: &str, extra: &[&str]) -> Experiment {
    let mut sets: Vec<String> = [
        "data.train_size=320",
        "data.valid_size=80",
        "data.test_size=80",
        "model.text_dim=16",
        "model.audio_channels=16",
        "model.projection_dim=16",
        "model.hidden_dim=16",
        "training.learning_rate=3e-3",
        "evaluation.splits=[\"valid\"]",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    sets.extend(extra.iter().map(|s| s.to_string()));
    experiment_in(dir, name, &sets)
}

#[test]
fn sgd_accumulation_plateau_and_early_stopping() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("training-options");
    // A learning rate this small leaves the f32 weights as they are: the validation loss stays
    // put, the plateau schedule halves the rate after each bad epoch, and early stopping ends
    // the run after two of them.
    let experiment = tiny(
        &dir,
        "sgd",
        &[
            "training.optimizer=\"sgd\"",
            "training.learning_rate=1e-12",
            "training.grad_accumulation=3",
            "training.schedule=\"plateau\"",
            "training.plateau_patience=1",
            "training.early_stopping_patience=2",
            "training.select_metric=\"loss\"",
            "training.epochs=10",
        ],
    );
    let summary = emofuse::pipeline::train(&experiment, TrainOptions::default())
        .unwrap()
        .unwrap();
    let h = &summary.history;
    assert_eq!(h.len(), 3, "{h:?}");
    assert!(
        summary
            .stopped
            .as_deref()
            .unwrap()
            .contains("early stopping")
    );
    assert_eq!(h[0].valid_loss, h[2].valid_loss, "{h:?}");
    // The rate in force at the end of each epoch: halved after epochs 2 and 3 (the last halving
    // would apply to epoch 4).
    assert_eq!(h[0].learning_rate, 1e-12);
    assert_eq!(h[1].learning_rate, 1e-12);
    assert_eq!(h[2].learning_rate, 0.5e-12);
    // The best epoch by validation loss is the one evaluated.
    let best = h
        .iter()
        .min_by(|a, b| a.valid_loss.total_cmp(&b.valid_loss))
        .unwrap();
    assert_eq!(summary.checkpoint_epoch, best.epoch);
}

#[test]
fn a_nan_loss_stops_the_run_with_a_clear_message() {
    let dir = scratch_dir("training-nan");
    let runs = format!("output.runs_dir=\"{}\"", dir.join("runs").display());
    let reports = format!("output.reports_dir=\"{}\"", dir.join("reports").display());
    let (ok, out) = crate::run_emofuse(&[
        "train",
        "--set",
        "data.train_size=160",
        "--set",
        "data.valid_size=40",
        "--set",
        "data.test_size=40",
        "--set",
        "training.optimizer=\"sgd\"",
        "--set",
        "training.momentum=0.0",
        "--set",
        "training.learning_rate=1e38",
        "--set",
        "training.grad_clip_norm=0",
        "--set",
        &runs,
        "--set",
        &reports,
    ]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("training loss became") && out.contains("training.learning_rate"),
        "{out}"
    );
    assert!(!out.contains("panicked"), "{out}");
}

fn metrics(run_dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run_dir.join("metrics.json")).unwrap()).unwrap()
}

#[test]
fn kill_9_during_an_epoch_loses_only_that_epoch() {
    let dir = scratch_dir("training-kill");
    let experiment = dir.join("tiny.toml");
    std::fs::write(
        &experiment,
        format!(
            "[data]\ntrain_size = 480\nvalid_size = 80\ntest_size = 80\n[model]\ntext_dim = 16\naudio_channels = 16\nprojection_dim = 16\nhidden_dim = 16\n[training]\nepochs = 3\nlearning_rate = 3e-3\n[evaluation]\nsplits = [\"valid\"]\n[output]\nruns_dir = \"{}\"\nreports_dir = \"{}\"\n",
            dir.join("runs").display(),
            dir.join("reports").display()
        ),
    )
    .unwrap();
    let binary = env!("CARGO_BIN_EXE_emofuse");
    let run_dir = dir.join("runs").join("tiny");
    let mut child = Command::new(binary)
        .args(["train", experiment.to_str().unwrap()])
        .current_dir(repo_path(""))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.starts_with("epoch 1/3:") {
            break;
        }
    }
    // The checkpoint of epoch 1 is written right after its summary line; kill during epoch 2.
    let state = run_dir.join("checkpoint/state.json");
    while !state.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !run_dir.join("metrics.json").exists(),
        "the run was killed before it finished"
    );

    let (ok, out) = crate::run_emofuse(&["train", experiment.to_str().unwrap(), "--resume"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("resuming after epoch 1") || out.contains("resuming after epoch 2"),
        "{out}"
    );
    let resumed = metrics(&run_dir);
    // The killed epoch's steps were cut from the event file before the resumed run appended.
    check_events_against_history(&run_dir, 15);

    std::fs::remove_dir_all(&run_dir).unwrap();
    let (ok, out) = crate::run_emofuse(&["train", experiment.to_str().unwrap()]);
    assert!(ok, "{out}");
    let straight = metrics(&run_dir);
    assert_eq!(resumed["history"], straight["history"]);
    assert_eq!(resumed["splits"], straight["splits"]);
}

/// Every float parameter of a trained run's model, in visiting order (the same order for two
/// runs of one architecture).
fn trained_weights(experiment: &Experiment) -> Vec<Vec<f32>> {
    parameters(&load_run(experiment.clone(), None).unwrap().model)
}

/// Largest absolute difference between two weight lists of the same shapes.
fn max_difference(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len(), "same number of tensors");
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len(), "same tensor sizes");
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f32::max)
}

#[test]
fn one_step_of_accumulated_batches_equals_one_step_of_the_large_batch() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("training-accumulation");
    // 24 training examples and one epoch: batch 24 is one optimiser step, and so are three
    // batches of 8 accumulated. Plain SGD (no momentum, decay or clipping), no dropout and equal
    // class weights (a weighted mean over 8 is not a third of one over 24 unless the weights
    // are equal), text only (no batch statistics): the two steps must be the same.
    let common = [
        "data.train_size=24",
        "data.valid_size=16",
        "data.test_size=16",
        "model.modalities=[\"text\"]",
        "model.dropout=0.0",
        "training.epochs=1",
        "training.optimizer=\"sgd\"",
        "training.momentum=0.0",
        "training.weight_decay=0.0",
        "training.grad_clip_norm=0",
        "training.class_weights=\"none\"",
    ];
    let run = |name: &str, extra: &[&str]| {
        let e = tiny(&dir, name, &[&common[..], extra].concat());
        emofuse::pipeline::train(&e, TrainOptions::default()).unwrap();
        trained_weights(&e)
    };
    // A step this small leaves the f32 weights where initialisation put them.
    let initial = run(
        "initial",
        &["training.batch_size=24", "training.learning_rate=1e-30"],
    );
    let step = ["training.learning_rate=0.5"];
    let large = run("large", &[&step[..], &["training.batch_size=24"]].concat());
    let accumulated = run(
        "accumulated",
        &[
            &step[..],
            &["training.batch_size=8", "training.grad_accumulation=3"],
        ]
        .concat(),
    );
    let moved = max_difference(&large, &initial);
    assert!(
        moved > 1e-3,
        "the step must move the weights (moved {moved})"
    );
    let apart = max_difference(&accumulated, &large);
    assert!(
        apart <= 1e-3 * moved,
        "8 x 3 accumulated differs from one batch of 24 by {apart} (the step moved {moved})"
    );
}

#[derive(Deserialize)]
struct WeightCase {
    counts: Vec<usize>,
    balanced: Vec<f64>,
}

#[test]
fn inverse_frequency_weights_are_scikit_learns_balanced_weights() {
    #[derive(Deserialize)]
    struct Fixture {
        cases: Vec<WeightCase>,
    }
    let fixture: Fixture = serde_json::from_str(
        &std::fs::read_to_string(repo_path(
            "tests/fixtures/training/sklearn_class_weights.json",
        ))
        .unwrap(),
    )
    .unwrap();
    assert!(fixture.cases.len() >= 4);
    for case in &fixture.cases {
        let ours = class_weights(&case.counts, &ClassWeighting::InverseFrequency).unwrap();
        assert_eq!(ours.len(), case.balanced.len(), "{:?}", case.counts);
        for (c, (&got, &want)) in ours.iter().zip(&case.balanced).enumerate() {
            assert!(
                (f64::from(got) - want).abs() <= 1e-6 * want,
                "counts {:?}, class {c}: {got} vs scikit-learn's {want}",
                case.counts
            );
        }
    }
}

#[test]
fn balanced_sampling_draws_every_class_equally_often() {
    // An imbalanced split: class 0 is 100 times as frequent as class 3.
    let counts = [500usize, 100, 20, 5];
    let labels: Vec<usize> = counts
        .iter()
        .enumerate()
        .flat_map(|(c, &n)| std::iter::repeat_n(c, n))
        .collect();
    let epochs = 40;
    let mut drawn = [0usize; 4];
    for epoch in 0..epochs {
        let mut rng = ChaCha8Rng::seed_from_u64(epoch);
        let order = balanced_order(&labels, &mut rng);
        assert_eq!(order.len(), labels.len(), "as many draws as examples");
        for i in order {
            drawn[labels[i]] += 1;
        }
    }
    // Each draw is a class with probability 1/4: the count of a class is binomial. Five
    // standard deviations leave a false failure at about 1 in 10^6, while drawing in proportion
    // to the counts (class 0 at 80%) or uniformly over two classes is far outside.
    let n = (epochs as usize * labels.len()) as f64;
    let sd = (n * 0.25 * 0.75).sqrt();
    for (c, &d) in drawn.iter().enumerate() {
        assert!(
            (d as f64 - n / 4.0).abs() < 5.0 * sd,
            "class {c} drawn {d} times of {n}, expected {} +- {:.0}",
            n / 4.0,
            5.0 * sd
        );
    }
}

/// `state.json` is what a resumed run continues from: every float of the loop state must come
/// back with the same bits, or the history (and the selection metric's comparison with the
/// best epoch) of a resumed run differs from an uninterrupted one. serde_json's default float
/// parser is off by one bit for some values; the `float_roundtrip` feature makes it exact.
#[test]
fn loop_state_floats_round_trip_through_state_json_bit_for_bit() {
    use emofuse::training::history::EpochRecord;
    use emofuse::training::trainer::LoopState;
    use rand::RngExt;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut value = || -> f64 {
        // Losses, accuracies and learning rates: anything between 1e-8 and 10.
        10f64.powf(rng.random_range(-8.0..1.0)) * rng.random::<f64>()
    };
    let history: Vec<EpochRecord> = (1..=500)
        .map(|epoch| EpochRecord {
            epoch,
            train_loss: value(),
            train_accuracy: value(),
            valid_loss: value(),
            valid_accuracy: value(),
            valid_weighted_f1: value(),
            valid_macro_f1: value(),
            learning_rate: value(),
        })
        .collect();
    let state = LoopState {
        epoch: 500,
        history,
        best: Some((3, value())),
        plateau: Plateau {
            scale: value(),
            bad_epochs: 2,
        },
        ..LoopState::default()
    };
    let text = serde_json::to_string_pretty(&state).unwrap();
    let back: LoopState = serde_json::from_str(&text).unwrap();
    let bits = |s: &LoopState| -> Vec<u64> {
        let mut v: Vec<u64> = s
            .history
            .iter()
            .flat_map(|r| {
                [
                    r.train_loss,
                    r.train_accuracy,
                    r.valid_loss,
                    r.valid_accuracy,
                    r.valid_weighted_f1,
                    r.valid_macro_f1,
                    r.learning_rate,
                ]
            })
            .map(f64::to_bits)
            .collect();
        v.push(s.best.unwrap().1.to_bits());
        v.push(s.plateau.scale.to_bits());
        v
    };
    let (a, b) = (bits(&state), bits(&back));
    let differing = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    assert_eq!(differing, 0, "{differing} of {} floats changed", a.len());
}

/// The scalars of an event file by tag: (step, value) in file order.
fn event_scalars(path: &Path) -> std::collections::BTreeMap<String, Vec<(i64, f32)>> {
    let mut out = std::collections::BTreeMap::<String, Vec<(i64, f32)>>::new();
    for record in tfevents::read(path).unwrap() {
        if let Payload::Scalar { tag, value } = record.payload {
            out.entry(tag).or_default().push((record.step, value));
        }
    }
    out
}

/// The event file holds one set of step scalars per optimiser step and one set of epoch
/// scalars per epoch, equal (as f32) to the history in metrics.json, and the config as text.
fn check_events_against_history(run_dir: &Path, steps_per_epoch: i64) {
    let events = run_dir.join("tensorboard/events.out.tfevents.emofuse");
    let records = tfevents::read(&events).unwrap();
    assert_eq!(
        records[0].payload,
        Payload::FileVersion("brain.Event:2".into())
    );
    let config = std::fs::read_to_string(run_dir.join("config.toml")).unwrap();
    let texts: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.payload {
            Payload::Text { tag, text } => Some((r.step, tag.clone(), text.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(texts.len(), 1, "one config text");
    assert_eq!((texts[0].0, texts[0].1.as_str()), (0, "config"));
    assert!(texts[0].2.contains(config.lines().nth(1).unwrap()));
    let scalars = event_scalars(&events);
    let history = metrics(run_dir)["history"].as_array().unwrap().clone();
    let epochs = history.len() as i64;
    let mut tags: Vec<&str> = scalars.keys().map(String::as_str).collect();
    tags.sort();
    assert_eq!(
        tags,
        [
            "epoch/epoch",
            "epoch/learning_rate",
            "epoch/train_accuracy",
            "epoch/train_loss",
            "epoch/valid_accuracy",
            "epoch/valid_loss",
            "epoch/valid_macro_f1",
            "epoch/valid_weighted_f1",
            "step/grad_norm",
            "step/learning_rate",
            "step/train_accuracy",
            "step/train_loss",
        ]
    );
    for tag in ["step/train_loss", "step/grad_norm", "step/learning_rate"] {
        let steps: Vec<i64> = scalars[tag].iter().map(|s| s.0).collect();
        assert_eq!(
            steps,
            (1..=epochs * steps_per_epoch).collect::<Vec<_>>(),
            "{tag}: every step once, in order"
        );
    }
    for (key, tag) in [
        ("train_loss", "epoch/train_loss"),
        ("train_accuracy", "epoch/train_accuracy"),
        ("valid_loss", "epoch/valid_loss"),
        ("valid_accuracy", "epoch/valid_accuracy"),
        ("valid_weighted_f1", "epoch/valid_weighted_f1"),
        ("valid_macro_f1", "epoch/valid_macro_f1"),
        ("learning_rate", "epoch/learning_rate"),
    ] {
        let logged = &scalars[tag];
        assert_eq!(logged.len(), history.len(), "{tag}");
        for (e, (step, value)) in logged.iter().enumerate() {
            assert_eq!(*step, (e as i64 + 1) * steps_per_epoch, "{tag}");
            assert_eq!(*value, history[e][key].as_f64().unwrap() as f32, "{tag}");
        }
    }
    // The epoch's train loss is the sample-weighted mean of its step losses (one batch a step).
    let first: Vec<f32> = scalars["step/train_loss"][..steps_per_epoch as usize]
        .iter()
        .map(|s| s.1)
        .collect();
    assert!(first.iter().all(|l| l.is_finite() && *l > 0.0), "{first:?}");
}

#[test]
fn tensorboard_events_hold_every_step_and_the_epoch_metrics() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("training-tensorboard");
    let experiment = tiny(&dir, "tb", &["training.epochs=2", "training.batch_size=64"]);
    let summary = emofuse::pipeline::train(&experiment, TrainOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(summary.history.len(), 2);
    check_events_against_history(&summary.run_dir, 5);
}

#[test]
fn tfevents_framing_matches_tensorflows_masked_crc32c() {
    // CRC-32C's check value, and a record framed by TensorBoard's own writer
    // (tests/fixtures/tensorboard/record.bin, made by make_fixture.py).
    assert_eq!(tfevents::crc32c(b"123456789"), 0xE306_9283);
    let fixture = std::fs::read(repo_path("tests/fixtures/tensorboard/record.bin")).unwrap();
    let data = tfevents::frames(&fixture).unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(
        tfevents::frame(data[0]),
        fixture,
        "our framing of the same bytes"
    );
    let record = tfevents::Record {
        wall_time: 1.25,
        step: 7,
        payload: Payload::Scalar {
            tag: "step/train_loss".into(),
            value: 0.5,
        },
    };
    assert_eq!(
        tfevents::encode(&record),
        data[0],
        "TensorBoard's protobuf bytes"
    );
    assert_eq!(tfevents::decode(data[0]).unwrap(), [record]);
    let mut damaged = fixture.clone();
    let last = damaged.len() - 5;
    damaged[last] ^= 1;
    assert!(
        tfevents::frames(&damaged).is_err(),
        "a flipped bit is caught"
    );
}

#[test]
fn resuming_an_event_file_drops_the_steps_after_the_checkpoint() {
    let dir = scratch_dir("tfevents-resume");
    let path = dir.join("events.out.tfevents.test");
    let mut writer = tfevents::EventWriter::create(&path).unwrap();
    writer.text("config", 0, "x = 1").unwrap();
    for step in 1..=10 {
        writer.scalar("step/train_loss", step, step as f64).unwrap();
    }
    writer.flush().unwrap();
    drop(writer);
    let mut writer = tfevents::resume(&path, 6).unwrap();
    writer.scalar("step/train_loss", 7, 70.0).unwrap();
    writer.flush().unwrap();
    let scalars = event_scalars(&path);
    let steps: Vec<(i64, f32)> = scalars["step/train_loss"].clone();
    let want: Vec<(i64, f32)> = (1..=6).map(|s| (s, s as f32)).chain([(7, 70.0)]).collect();
    assert_eq!(steps, want);
    let records = tfevents::read(&path).unwrap();
    assert!(matches!(records[0].payload, Payload::FileVersion(_)));
    assert_eq!(
        records
            .iter()
            .filter(|r| matches!(r.payload, Payload::FileVersion(_) | Payload::Text { .. }))
            .count(),
        2,
        "one file version, the config kept"
    );
}
