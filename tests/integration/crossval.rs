//! Study B end to end on the committed RAVDESS-named fixture clips: speaker k-fold with the
//! MFCC CNN (trained to an accuracy floor), `metrics.json` folds and cv, saved splits without
//! speaker leakage, per-gender runs (one epoch per fold).

use crate::{ONE_RUN_AT_A_TIME, experiment_in, repo_path, run_emofuse, scratch_dir};
use emofuse::data::speech::SplitAssignment;
use emofuse::experiment::Experiment;
use emofuse::pipeline::TrainOptions;
use emofuse::pipeline::cross_corpus::{TargetCorpus, score_pooled};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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
        // Per-speaker results cover exactly the test speakers; their clips add up to the
        // fold's test split and their clip-weighted accuracy is the fold's accuracy.
        let per_speaker = f["speakers"].as_array().unwrap();
        let names: BTreeSet<String> = per_speaker
            .iter()
            .map(|s| s["speaker"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, speakers(&f["test_speakers"]));
        let clips: u64 = per_speaker
            .iter()
            .map(|s| s["clips"].as_u64().unwrap())
            .sum();
        assert_eq!(clips, f["test_utterances"].as_u64().unwrap());
        let weighted: f64 = per_speaker
            .iter()
            .map(|s| s["accuracy"].as_f64().unwrap() * s["clips"].as_f64().unwrap())
            .sum::<f64>()
            / clips as f64;
        assert!(
            (weighted - f["accuracy"].as_f64().unwrap()).abs() < 1e-12,
            "{f}"
        );
        // predictions.csv holds the test clips; UAR recomputed from it is the fold's.
        let text = std::fs::read_to_string(run.join("predictions.csv")).unwrap();
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|r| r[0] == "test")
            .collect();
        assert_eq!(rows.len() as u64, clips);
        let mut recall: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
        for r in &rows {
            let e = recall.entry(r[2]).or_default();
            e.0 += usize::from(r[2] == r[3]);
            e.1 += 1;
        }
        let uar = recall
            .values()
            .map(|(c, n)| *c as f64 / *n as f64)
            .sum::<f64>()
            / recall.len() as f64;
        assert!((uar - f["uar"].as_f64().unwrap()).abs() < 1e-12, "{f}");
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
    let uars: Vec<f64> = folds.iter().map(|f| f["uar"].as_f64().unwrap()).collect();
    assert!((m["cv"]["uar_mean"].as_f64().unwrap() - uars.iter().sum::<f64>() / n).abs() < 1e-12);
    assert_eq!(m["speaker_independent"], Value::Bool(true));
    let summary = std::fs::read_to_string(dir.join("reports/kfold/summary.md")).unwrap();
    assert!(
        summary.contains("Speaker-independent") && summary.contains("+-"),
        "{summary}"
    );
    assert!(
        summary.contains("| group | fold | speaker | test clips | accuracy | UAR |"),
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

/// A table's own split is speaker-independent only if its parts say so; requiring it of a split
/// that shares speakers stops the run before training, naming them.
#[test]
fn a_predefined_split_that_shares_speakers_is_an_error_when_independence_is_required() {
    // The dry run builds a model, which draws from the backend's global generator: one run at
    // a time, or another test's initialisation changes.
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("crossval-predefined");
    let table = [
        "data.dataset=\"table\"".to_string(),
        format!(
            "data.path=\"{}\"",
            repo_path("tests/fixtures/speech/table.csv").display()
        ),
        "data.split.kind=\"predefined\"".to_string(),
    ];
    let mut sets: Vec<&str> = table.iter().map(String::as_str).collect();
    sets.push("data.split.require_speaker_independent=true");
    let e = experiment(&dir, "predefined", &sets);
    let err = emofuse::pipeline::train(
        &e,
        TrainOptions {
            dry_run: true,
            ..TrainOptions::default()
        },
    )
    .unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.contains("not speaker-independent") && err.contains("speakers spk1, spk2"),
        "{err}"
    );
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

/// `run.seeds` repeats the k-fold per seed, each in its own folder, and the top record's
/// statistics are those of the seeds' own records; a resumed run keeps finished seeds.
#[test]
fn seeds_repeat_the_kfold_and_report_mean_and_std_over_seeds() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("crossval-seeds");
    let e = experiment(&dir, "seeds", &["run.seeds=[3, 11]", "run.ensemble=true"]);
    emofuse::pipeline::train(&e, TrainOptions::default()).unwrap();
    let read = |path: &Path| -> Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let top = read(&dir.join("runs/seeds/metrics.json"));
    let seeds = top["seeds"].as_array().unwrap();
    assert_eq!(seeds.len(), 2);
    let mut means = Vec::new();
    let mut fold_accuracies = Vec::new();
    for (s, want) in seeds.iter().zip([3, 11]) {
        assert_eq!(s["seed"], want);
        let own = read(&dir.join(format!("runs/seeds/seed-{want}/metrics.json")));
        assert_eq!(own["seed"], want, "the seed's k-fold ran with its seed");
        assert_eq!(own["folds"].as_array().unwrap().len(), 3);
        assert_eq!(s["test"]["accuracy"], own["cv"]["accuracy_mean"]);
        means.push(own["cv"]["accuracy_mean"].as_f64().unwrap());
        for f in own["folds"].as_array().unwrap() {
            fold_accuracies.push(f["accuracy"].as_f64().unwrap());
        }
    }
    let mean = (means[0] + means[1]) / 2.0;
    let std = ((means[0] - mean).powi(2) + (means[1] - mean).powi(2)).sqrt();
    assert!((top["over_seeds"]["accuracy_mean"].as_f64().unwrap() - mean).abs() < 1e-12);
    assert!((top["over_seeds"]["accuracy_std"].as_f64().unwrap() - std).abs() < 1e-12);
    let all = &top["over_folds_and_seeds"];
    assert_eq!(all["folds"], 6);
    let n = fold_accuracies.len() as f64;
    assert!(
        (all["accuracy_mean"].as_f64().unwrap() - fold_accuracies.iter().sum::<f64>() / n).abs()
            < 1e-12
    );
    let summary = std::fs::read_to_string(dir.join("reports/seeds/summary.md")).unwrap();
    assert!(
        summary.contains("| 2 seeds |") && summary.contains("| 6 folds x seeds |"),
        "{summary}"
    );

    // The ensemble of each fold: the two seeds' test probabilities averaged per clip, here
    // recomputed from their predictions.csv.
    let ensemble = &top["ensemble"];
    assert_eq!(ensemble["models"], 2);
    let mut ensemble_accuracies = Vec::new();
    for fold in 1..=3 {
        let mut summed: BTreeMap<String, (String, Vec<f64>)> = BTreeMap::new();
        for seed in [3, 11] {
            let csv = std::fs::read_to_string(dir.join(format!(
                "runs/seeds/seed-{seed}/fold-{fold}/predictions.csv"
            )))
            .unwrap();
            for line in csv.lines().skip(1).filter(|l| l.starts_with("test,")) {
                let cells: Vec<&str> = line.split(',').collect();
                let p: Vec<f64> = cells[4..].iter().map(|c| c.parse().unwrap()).collect();
                let entry = summed
                    .entry(cells[1].to_string())
                    .or_insert((cells[2].to_string(), vec![0.0; p.len()]));
                for (t, v) in entry.1.iter_mut().zip(p) {
                    *t += v;
                }
            }
        }
        let header: Vec<String> = std::fs::read_to_string(
            dir.join(format!("runs/seeds/seed-3/fold-{fold}/predictions.csv")),
        )
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .split(',')
        .skip(4)
        .map(|c| c.trim_start_matches("p_").to_string())
        .collect();
        let correct = summed
            .values()
            .filter(|(label, p)| {
                let best = (0..p.len()).fold(0, |b, c| if p[c] > p[b] { c } else { b });
                header[best] == *label
            })
            .count();
        let accuracy = correct as f64 / summed.len() as f64;
        let recorded = &ensemble["folds"][fold - 1];
        assert_eq!(recorded["fold"], fold);
        assert!(
            (recorded["test"]["accuracy"].as_f64().unwrap() - accuracy).abs() < 1e-12,
            "fold {fold}: {recorded} against {accuracy}"
        );
        ensemble_accuracies.push(accuracy);
    }
    let mean = ensemble_accuracies.iter().sum::<f64>() / 3.0;
    assert!((ensemble["over_folds"]["accuracy_mean"].as_f64().unwrap() - mean).abs() < 1e-12);
    assert!(summary.contains("| ensemble, 3 folds |"), "{summary}");
    let one_seed = Experiment::from_toml_str("[run]\nensemble = true\n", &[], "test").unwrap_err();
    assert!(
        format!("{one_seed:#}").contains("at least 2"),
        "{one_seed:#}"
    );

    // Resuming keeps every finished fold of every seed: nothing retrains.
    let fold = dir.join("runs/seeds/seed-3/fold-1/model.bpk");
    let before = std::fs::metadata(&fold).unwrap().modified().unwrap();
    emofuse::pipeline::train(
        &e,
        TrainOptions {
            resume: true,
            ..TrainOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        std::fs::metadata(&fold).unwrap().modified().unwrap(),
        before
    );
    assert_eq!(
        read(&dir.join("runs/seeds/metrics.json"))["over_seeds"],
        top["over_seeds"]
    );
}

/// Cross-corpus: each fold trained on the RAVDESS fixture is also scored on every SAVEE
/// fixture clip (the same tones per emotion, so it should recognise most of them); `emofuse
/// eval` gives the same numbers for the finished run without retraining, and scoring each
/// fold on its own test speakers gives back its recorded test metrics.
#[test]
fn cross_corpus_runs_score_every_fold_on_the_other_corpus_and_eval_agrees() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("crossval-cross-corpus");
    let savee = repo_path("tests/fixtures/speech/savee");
    let target = [
        "data.test.dataset=\"savee\"".to_string(),
        format!("data.test.path=\"{}\"", savee.display()),
    ];
    let mut sets: Vec<&str> = vec![
        "training.epochs=40",
        "training.optimizer=\"adamw\"",
        "training.learning_rate=3e-2",
    ];
    sets.extend(target.iter().map(String::as_str));
    let e = experiment(&dir, "cross", &sets);
    emofuse::pipeline::train(&e, TrainOptions::default()).unwrap();
    let m: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("runs/cross/metrics.json")).unwrap(),
    )
    .unwrap();
    let cross = &m["cross_corpus"];
    assert_eq!(cross["target"]["dataset"], "savee");
    // ravdess8's order: neutral, calm, happy, sad, angry, fearful, disgust, surprised; SAVEE
    // has no calm. Nothing is dropped: every SAVEE emotion has a RAVDESS class.
    assert_eq!(
        cross["target"]["class_counts"],
        serde_json::json!([4, 0, 4, 4, 4, 4, 4, 4])
    );
    let folds = m["folds"].as_array().unwrap();
    let mut accuracies = Vec::new();
    for f in folds {
        let a = f["cross_corpus"]["accuracy"].as_f64().unwrap();
        // Chance is 1/7 of the present classes; the tones carry over.
        assert!(a >= 0.5, "fold {}: cross-corpus accuracy {a}", f["fold"]);
        accuracies.push(a);
    }
    let mean = accuracies.iter().sum::<f64>() / accuracies.len() as f64;
    assert!((cross["cv"]["accuracy_mean"].as_f64().unwrap() - mean).abs() < 1e-12);
    let summary = std::fs::read_to_string(dir.join("reports/cross/summary.md")).unwrap();
    assert!(
        summary.contains("**Cross-corpus**: trained on Ravdess, also tested on Savee"),
        "{summary}"
    );
    assert!(summary.contains("| cross-corpus |"), "{summary}");

    // The same scores from the finished run, through `emofuse eval`'s library path.
    let config = emofuse::experiment::CrossCorpusConfig {
        dataset: emofuse::experiment::DatasetKind::Savee,
        path: savee.clone(),
        groups: Default::default(),
        feature_norm: emofuse::experiment::TargetNorm::Train,
    };
    let observer = emofuse::core::events::Silent;
    let t = TargetCorpus::load(&config, &e.label_table().unwrap(), &observer).unwrap();
    let scored = score_pooled(&e, Some(&t), &observer).unwrap();
    for (s, f) in scored.iter().zip(folds) {
        assert_eq!(
            s.metrics.accuracy,
            f["cross_corpus"]["accuracy"].as_f64().unwrap()
        );
    }
    // Each fold on its own test speakers: the recorded test metrics, exactly.
    let own = score_pooled(&e, None, &observer).unwrap();
    assert_eq!(own.len(), folds.len());
    for (s, f) in own.iter().zip(folds) {
        assert_eq!(s.metrics.accuracy, f["accuracy"].as_f64().unwrap());
        assert_eq!(s.metrics.uar, f["uar"].as_f64().unwrap());
    }
    // Per-corpus standardisation changes the inputs, hence (here) the scores.
    let per_corpus = emofuse::experiment::CrossCorpusConfig {
        feature_norm: emofuse::experiment::TargetNorm::Corpus,
        ..config
    };
    let t = TargetCorpus::load(&per_corpus, &e.label_table().unwrap(), &observer).unwrap();
    let renormed = score_pooled(&e, Some(&t), &observer).unwrap();
    assert!(
        renormed
            .iter()
            .zip(&scored)
            .any(|(a, b)| a.metrics.confusion_matrix != b.metrics.confusion_matrix),
        "per-corpus statistics leave every prediction unchanged"
    );

    // The command line: a run folder and another corpus.
    let run = dir.join("runs/cross");
    let (ok, out) = crate::run_emofuse(&[
        "eval",
        run.to_str().unwrap(),
        "--dataset",
        "emodb",
        "--path",
        repo_path("tests/fixtures/speech/emodb").to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains("cross-corpus: trained on Ravdess, scored on Emodb"),
        "{out}"
    );
    assert!(
        out.contains("dropped 4: emotion boredom not in table ravdess8 (cross-corpus)"),
        "{out}"
    );
    assert!(out.contains("mean +- std over 3 folds"), "{out}");
}

/// `train --jobs 2` trains the folds in processes of their own and gives the sequential run's
/// results file for file, through per-gender groups (`male/fold-1`) and seeds
/// (`seed-3/female/fold-2`); `--resume` then keeps every fold; a fold the experiment does not
/// have is an error naming it.
#[test]
fn jobs_train_folds_in_processes_with_the_sequential_results() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("crossval-jobs");
    let extra = [
        "data.per_gender=true",
        "run.seeds=[3, 11]",
        "training.epochs=3",
    ];
    let sequential = experiment(&dir, "sequential", &extra);
    emofuse::pipeline::train(&sequential, TrainOptions::default()).unwrap();
    let file = dir.join("parallel.toml");
    std::fs::write(&file, experiment(&dir, "parallel", &extra).to_toml()).unwrap();
    let file = file.to_str().unwrap();
    let train = |args: &[&str]| run_emofuse(&[&["train", file], args].concat());
    let (ok, log) = train(&["--jobs", "2"]);
    assert!(ok, "{log}");
    assert!(log.contains("training 3 folds, 2 at a time"), "{log}");
    assert!(log.contains("male/fold-3: finished"), "{log}");
    let read = |path: PathBuf| std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut compared = 0;
    for seed in ["seed-3", "seed-11"] {
        for group in ["male", "female"] {
            for fold in ["fold-1", "fold-2", "fold-3"] {
                let part = Path::new(seed)
                    .join(group)
                    .join(fold)
                    .join("predictions.csv");
                assert!(
                    read(dir.join("runs/sequential").join(&part))
                        == read(dir.join("runs/parallel").join(&part)),
                    "{part:?} differs between --jobs 2 and one process"
                );
                compared += 1;
            }
            assert!(
                dir.join(format!("runs/parallel/{seed}/{group}-fold-1.log"))
                    .is_file()
            );
        }
    }
    assert_eq!(compared, 12);
    let cv = |name: &str| -> Value {
        let path = dir.join(format!("runs/{name}/metrics.json"));
        let v: Value = serde_json::from_str(&String::from_utf8(read(path)).unwrap()).unwrap();
        v["over_folds_and_seeds"].clone()
    };
    assert_eq!(cv("sequential"), cv("parallel"));

    let (ok, log) = train(&["--jobs", "2", "--resume"]);
    assert!(ok, "{log}");
    assert!(!log.contains("started (process"), "{log}");
    assert_eq!(log.matches("finished earlier, kept").count(), 12, "{log}");

    let (ok, log) = train(&["--fold", "fold-9"]);
    assert!(
        !ok && log.contains("--fold fold-9: the experiment has no fold of that name"),
        "{log}"
    );
}
