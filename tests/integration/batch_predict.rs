//! `emofuse predict --input` (a folder, a list, a labelled table) and the windows of long audio,
//! against single-file predictions of the same run (`emofuse predict --audio`).

use crate::run_emofuse;
use crate::serve::{Part, app, float_wav, post, runs, wav};
use emofuse::audio::{load_waveform, windows};
use emofuse::cli::predict::{PredictArgs, predict_one};
use emofuse::core::LabelMap;
use emofuse::core::events::Silent;
use emofuse::serving::Predictor;
use emofuse::serving::batch::{files, predict_batch, read_input, write_outputs};
use std::path::{Path, PathBuf};

fn single(run: &Path, text: Option<&str>, audio: Option<PathBuf>) -> Vec<f32> {
    predict_one(&PredictArgs {
        run: run.to_path_buf(),
        text: text.map(str::to_string),
        audio,
        past: Vec::new(),
        speaker: None,
        json: false,
        input: None,
        out: None,
        dataset: None,
        timeline: false,
        batch_size: 32,
        windows: Default::default(),
        device: Default::default(),
    })
    .unwrap()
    .1
}

fn close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-5, "{what}: {a:?} vs {b:?}");
    }
}

#[test]
#[allow(clippy::single_range_in_vec_init)] // one window is the point
fn windows_cover_the_recording_with_full_length_windows() {
    assert_eq!(windows(3, 4, 2), vec![0..3], "a short clip is one window");
    assert_eq!(windows(4, 4, 2), vec![0..4]);
    assert_eq!(windows(10, 4, 2), vec![0..4, 2..6, 4..8, 6..10]);
    // The hop does not land on the end: one more window ends with the recording.
    assert_eq!(windows(11, 4, 2), vec![0..4, 2..6, 4..8, 6..10, 7..11]);
    assert_eq!(windows(9, 4, 4), vec![0..4, 4..8, 5..9]);
}

#[test]
fn a_folder_is_predicted_as_each_file_alone_and_bad_files_are_listed() {
    let runs = runs();
    let dir = crate::scratch_dir("batch_folder");
    let clips = dir.join("clips");
    std::fs::create_dir_all(clips.join("sub")).unwrap();
    let short = [
        ("a.wav", wav(16_000, 1.0, 150.0)),
        ("sub/b.wav", wav(22_050, 1.4, 300.0)),
        ("c.wav", wav(8_000, 0.7, 220.0)),
    ];
    for (name, bytes) in &short {
        std::fs::write(clips.join(name), bytes).unwrap();
    }
    // 4 s at the model's rate: windows of 1.5 s every 0.75 s.
    std::fs::write(clips.join("long.wav"), wav(16_000, 4.0, 180.0)).unwrap();
    std::fs::write(clips.join("notes.txt"), b"not audio").unwrap();
    std::fs::write(clips.join("broken.wav"), b"RIFF\x10\0\0\0WAVEfmt garbage").unwrap();

    let predictor = Predictor::load(&runs.audio, None).unwrap();
    let input = read_input(&clips, None).unwrap();
    assert_eq!(input.rows.len(), 5, "every audio file is a row");
    let outcome = predict_batch(&predictor, input, 4, &Silent).unwrap();
    let rejected: Vec<(&str, &str)> = outcome
        .rejected
        .iter()
        .map(|r| (r.id.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert!(
        rejected
            .iter()
            .any(|(id, why)| *id == "notes.txt" && why.contains("not an audio file"))
    );
    assert!(
        rejected
            .iter()
            .any(|(id, why)| *id == "broken.wav" && why.contains("cannot be decoded")),
        "{rejected:?}"
    );
    let ids: Vec<&str> = outcome
        .predicted
        .iter()
        .map(|r| r.row.id.as_str())
        .collect();
    assert_eq!(
        ids,
        ["a.wav", "c.wav", "long.wav", "sub/b.wav"],
        "input order"
    );

    // Each short file as `emofuse predict --audio` gives it (batched with others here).
    for (name, _) in &short {
        let row = outcome
            .predicted
            .iter()
            .find(|r| r.row.id == *name)
            .unwrap();
        assert!(row.windows.is_empty(), "{name} is one window");
        close(
            &row.probabilities,
            &single(&runs.audio, None, Some(clips.join(name))),
            name,
        );
    }

    // The long file: each window scored as that stretch of audio alone, then averaged.
    let long = outcome
        .predicted
        .iter()
        .find(|r| r.row.id == "long.wav")
        .unwrap();
    let (samples, _) = load_waveform(&clips.join("long.wav"), 16_000).unwrap();
    let expected = windows(samples.len(), 24_000, 12_000);
    assert_eq!(expected.len(), 5);
    assert_eq!(long.windows.len(), expected.len());
    let mut mean = vec![0f32; long.probabilities.len()];
    for (k, (window, range)) in long.windows.iter().zip(&expected).enumerate() {
        assert_eq!(window.start, range.start as f64 / 16_000.0);
        assert_eq!(window.end, range.end as f64 / 16_000.0);
        let path = dir.join(format!("window-{k}.wav"));
        std::fs::write(&path, float_wav(16_000, &samples[range.clone()])).unwrap();
        let alone = single(&runs.audio, None, Some(path));
        close(&window.probabilities, &alone, &format!("window {k}"));
        for (m, p) in mean.iter_mut().zip(&alone) {
            *m += p / expected.len() as f32;
        }
    }
    close(&long.probabilities, &mean, "mean of the windows");
    // `emofuse predict --audio` on the long file gives the same windows and mean.
    close(
        &single(&runs.audio, None, Some(clips.join("long.wav"))),
        &long.probabilities,
        "predict --audio on the long file",
    );

    // The outputs: every predicted row, the rejected with their reasons, the timeline.
    let labels = LabelMap::new(predictor.labels()).unwrap();
    let out = dir.join("out");
    write_outputs(&out, &outcome, &labels, true, "audio on clips").unwrap();
    let predictions = std::fs::read_to_string(out.join(files::PREDICTIONS)).unwrap();
    assert_eq!(predictions.lines().count(), 1 + 4);
    assert!(predictions.starts_with("id,input,predicted,p_neutral,"));
    let timeline = std::fs::read_to_string(out.join(files::TIMELINE)).unwrap();
    assert_eq!(timeline.lines().count(), 1 + 3 + 5, "one row per window");
    let rejected = std::fs::read_to_string(out.join(files::REJECTED)).unwrap();
    assert_eq!(rejected.lines().count(), 1 + 2);
    assert!(!out.join(files::METRICS).exists(), "no labels, no metrics");
}

#[test]
fn a_labelled_table_is_scored_and_its_bad_rows_listed() {
    let runs = runs();
    let dir = crate::scratch_dir("batch_table");
    let texts = [
        ("oh my god you got the job", "joy"),
        ("i am so angry at you", "anger"),
        ("the meeting is at noon", "neutral"),
        ("that is disgusting", "disgusted"), // another corpus's name for `disgust`
        ("what a surprise", "sarcasm"),      // no such class: predicted, not scored
    ];
    let mut csv = String::from("id,path,text,label\n");
    for (k, (text, label)) in texts.iter().enumerate() {
        let name = format!("u{k}.wav");
        std::fs::write(
            dir.join(&name),
            wav(16_000, 0.8 + 0.1 * k as f32, 120.0 + 40.0 * k as f32),
        )
        .unwrap();
        csv.push_str(&format!("u{k},{name},{text},{label}\n"));
    }
    csv.push_str("empty,u0.wav,,joy\n");
    csv.push_str("missing,nowhere.wav,hello there,joy\n");
    let table = dir.join("table.csv");
    std::fs::write(&table, csv).unwrap();

    let predictor = Predictor::load(&runs.both, None).unwrap();
    let outcome = predict_batch(&predictor, read_input(&table, None).unwrap(), 2, &Silent).unwrap();
    assert_eq!(outcome.predicted.len(), 5);
    let reasons: Vec<(&str, &str)> = outcome
        .rejected
        .iter()
        .map(|r| (r.id.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].0 == "empty" && reasons[0].1.contains("no transcript"));
    assert!(reasons[1].0 == "missing" && reasons[1].1.contains("nowhere.wav"));
    assert_eq!(
        outcome
            .unknown_labels
            .clone()
            .into_iter()
            .collect::<Vec<_>>(),
        vec![("sarcasm".to_string(), 1)]
    );
    for (k, (text, _)) in texts.iter().enumerate() {
        close(
            &outcome.predicted[k].probabilities,
            &single(&runs.both, Some(text), Some(dir.join(format!("u{k}.wav")))),
            text,
        );
    }
    let labels = LabelMap::new(predictor.labels()).unwrap();
    let disgust = labels.index("disgust").unwrap();
    assert_eq!(
        outcome.predicted[3].class,
        Some(disgust),
        "disgusted = disgust"
    );

    // metrics.json: the four rows with known labels, computed here from the predictions.
    let out = dir.join("out");
    write_outputs(&out, &outcome, &labels, false, "both on table").unwrap();
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join(files::METRICS)).unwrap()).unwrap();
    let correct = outcome.predicted[..4]
        .iter()
        .filter(|r| Some(r.predicted) == r.class)
        .count();
    assert_eq!(metrics["scored"], 4);
    assert_eq!(metrics["unscored"], 1);
    assert_eq!(metrics["rejected"], 2);
    assert_eq!(metrics["accuracy"].as_f64().unwrap(), correct as f64 / 4.0);
    let matrix: Vec<Vec<usize>> =
        serde_json::from_value(metrics["metrics"]["confusion_matrix"].clone()).unwrap();
    assert_eq!(matrix.iter().flatten().sum::<usize>(), 4);
    assert!(out.join("confusion_matrix.png").is_file());
    assert!(!out.join(files::TIMELINE).exists());

    // A second prediction into the same folder without labels removes the stale metrics.
    let unlabelled = dir.join("unlabelled.csv");
    std::fs::write(&unlabelled, "path,text\nu0.wav,hello\n").unwrap();
    let outcome = predict_batch(
        &predictor,
        read_input(&unlabelled, None).unwrap(),
        2,
        &Silent,
    )
    .unwrap();
    write_outputs(&out, &outcome, &labels, false, "both").unwrap();
    assert!(!out.join(files::METRICS).exists() && !out.join(files::REJECTED).exists());
}

#[test]
fn batch_prediction_errors_say_what_to_pass() {
    let runs = runs();
    let dir = crate::scratch_dir("batch_errors");
    let run = runs.text.display().to_string();
    let (ok, out) = run_emofuse(&["predict", "--run", &run, "--input", "/nowhere/at/all"]);
    assert!(
        !ok && out.contains("--input /nowhere/at/all: no such file or folder"),
        "{out}"
    );
    // A text model given a folder of audio files: there are no transcripts to read.
    std::fs::write(dir.join("a.wav"), wav(16_000, 0.5, 200.0)).unwrap();
    let shown = dir.display().to_string();
    let (ok, out) = run_emofuse(&["predict", "--run", &run, "--input", &shown]);
    assert!(
        !ok && out.contains("this model reads text and the input has no transcripts"),
        "{out}"
    );
    let table = dir.join("t.csv");
    std::fs::write(&table, "speaker,label\nx,joy\n").unwrap();
    let (ok, out) = run_emofuse(&[
        "predict",
        "--run",
        &run,
        "--input",
        &table.display().to_string(),
    ]);
    assert!(!ok && out.contains("neither an audio column"), "{out}");
    let audio = runs.audio.display().to_string();
    let (ok, out) = run_emofuse(&[
        "predict", "--run", &audio, "--input", &shown, "--window", "9",
    ]);
    assert!(!ok && out.contains("--window 9"), "{out}");
    let (ok, out) = run_emofuse(&["predict", "--run", &audio, "--input", &shown, "--hop", "2"]);
    assert!(!ok && out.contains("--hop 2"), "{out}");
    // And a good run through the binary: the outputs land in the run folder.
    let (ok, out) = run_emofuse(&["predict", "--run", &audio, "--input", &shown, "--timeline"]);
    assert!(ok, "{out}");
    assert!(out.contains("2 rows: 1 predicted"), "{out}");
    let written = runs.audio.join("predict").join("batch_errors");
    assert!(written.join(files::PREDICTIONS).is_file() && written.join(files::TIMELINE).is_file());
    assert!(
        written.join(files::REJECTED).is_file(),
        "t.csv is listed as not audio"
    );
}

#[test]
fn serve_answers_a_long_upload_with_its_timeline() {
    let runs = runs();
    let app = app(&runs.audio, 10_000_000);
    let (status, answer) = post(
        &app,
        &[Part::File("audio", "long.wav", &wav(16_000, 3.0, 200.0))],
    );
    assert_eq!(status, 200, "{answer}");
    let windows = answer["windows"].as_array().expect("a timeline");
    // 3 s in windows of 1.5 s every 0.75 s.
    assert_eq!(windows.len(), 3);
    assert_eq!(windows[2]["start"], 1.5);
    assert_eq!(windows[2]["end"], 3.0);
    let mean: f64 = windows
        .iter()
        .map(|w| w["probabilities"]["neutral"].as_f64().unwrap())
        .sum::<f64>()
        / 3.0;
    let got = answer["probabilities"]["neutral"].as_f64().unwrap();
    assert!((got - mean).abs() < 1e-5, "{got} vs {mean}");
    let (_, short) = post(
        &app,
        &[Part::File("audio", "short.wav", &wav(16_000, 1.0, 200.0))],
    );
    assert!(short.get("windows").is_none(), "{short}");
}
