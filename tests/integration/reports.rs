//! Reports without training: metrics.json read back, row-normalised confusion matrices, the
//! ablation section, `emofuse report` on hand-made run folders. Expected numbers were checked
//! with scikit-learn 1.9 (`f1_score`, `accuracy_score` on the matrices below).

use crate::{experiment_in, run_emofuse, scratch_dir};
use emofuse::core::LabelMap;
use emofuse::core::SplitName;
use emofuse::evaluation::{SplitMetrics, evaluate};
use emofuse::experiment::Experiment;
use emofuse::pipeline::outputs::write_outputs;
use emofuse::reports::markdown::render;
use emofuse::reports::{
    AblationRow, CellValues, ReportInput, RunRecord, normalize_rows, percent_label,
    write_confusion_matrix,
};
use emofuse::training::history::EpochRecord;
use std::path::{Path, PathBuf};

const CLASSES: [&str; 3] = ["neutral", "joy", "anger"];

/// Predictions whose confusion matrix is `cm` (rows true, columns predicted).
fn metrics_of(cm: &[[usize; 3]], labels: &LabelMap) -> SplitMetrics {
    let (mut y_true, mut y_pred) = (Vec::new(), Vec::new());
    for (t, row) in cm.iter().enumerate() {
        for (p, &count) in row.iter().enumerate() {
            y_true.extend(std::iter::repeat_n(t, count));
            y_pred.extend(std::iter::repeat_n(p, count));
        }
    }
    evaluate(&y_true, &y_pred, labels)
}

fn epoch(epoch: usize, valid_loss: f64, valid_accuracy: f64, valid_f1: f64) -> EpochRecord {
    EpochRecord {
        epoch,
        train_loss: valid_loss + 0.1,
        train_accuracy: valid_accuracy - 0.05,
        valid_loss,
        valid_accuracy,
        valid_weighted_f1: valid_f1,
        valid_macro_f1: valid_f1 * 0.8,
        learning_rate: if valid_f1 > 0.0 { 1e-3 } else { 0.0 },
    }
}

/// One hand-made run: what training would have passed to `write_outputs`.
struct FakeRun {
    experiment: Experiment,
    labels: LabelMap,
    counts: Vec<(SplitName, Vec<usize>)>,
    weights: Vec<f32>,
    history: Vec<EpochRecord>,
    results: Vec<(SplitName, SplitMetrics)>,
    ablation: Vec<AblationRow>,
    parameters: (usize, usize),
    train_seconds: f64,
    checkpoint_epoch: usize,
}

impl FakeRun {
    fn input(&self) -> ReportInput<'_> {
        ReportInput {
            name: self.experiment.name(),
            labels: &self.labels,
            counts: &self.counts,
            class_weights: &self.weights,
            history: &self.history,
            checkpoint: (self.checkpoint_epoch, "lowest validation loss"),
            results: &self.results,
            train_seconds: self.train_seconds,
            epochs_run: &[2, 3],
            parameters: self.parameters,
            backend: "cpu",
            config_toml: "",
            ablation: &self.ablation,
            layer_weights: &[],
        }
    }

    /// Writes `config.toml` (as training does first) and every output, as training does last.
    fn write(&self) -> PathBuf {
        let run_dir = self.experiment.run_dir();
        std::fs::create_dir_all(&run_dir).unwrap();
        std::fs::write(run_dir.join("config.toml"), self.experiment.to_toml()).unwrap();
        let input = ReportInput {
            config_toml: &self.experiment.to_toml(),
            ..self.input()
        };
        write_outputs(&self.experiment, &input).unwrap();
        run_dir
    }
}

fn experiment(dir: &Path, name: &str, splits: &str) -> Experiment {
    experiment_in(dir, name, &[format!("evaluation.splits={splits}")])
}

/// Run "a": valid and test evaluated, F1 recorded per epoch, an ablation.
fn run_a(dir: &Path) -> FakeRun {
    let labels = LabelMap::new(&CLASSES).unwrap();
    FakeRun {
        experiment: experiment(dir, "a", "[\"valid\", \"test\"]"),
        counts: vec![
            (SplitName::Train, vec![50, 30, 20]),
            (SplitName::Valid, vec![2, 2, 0]),
            (SplitName::Test, vec![5, 3, 2]),
        ],
        weights: vec![0.667, 1.111, 1.667],
        history: vec![
            epoch(1, 1.0, 0.5, 0.45),
            epoch(2, 0.8, 0.7, 0.66),
            epoch(3, 0.9, 0.72, 0.7),
        ],
        results: vec![
            (
                SplitName::Valid,
                metrics_of(&[[2, 0, 0], [0, 1, 1], [0, 0, 0]], &labels),
            ),
            (
                SplitName::Test,
                metrics_of(&[[4, 1, 0], [1, 2, 0], [0, 1, 1]], &labels),
            ),
        ],
        ablation: vec![
            AblationRow {
                split: SplitName::Test,
                variant: "full".into(),
                accuracy: 0.7,
                weighted_f1: 0.7048,
                macro_f1: 0.6794,
            },
            AblationRow {
                split: SplitName::Test,
                variant: "text only (audio zeroed)".into(),
                accuracy: 0.5,
                weighted_f1: 0.45,
                macro_f1: 0.4,
            },
        ],
        labels,
        parameters: (1000, 1200),
        train_seconds: 12.5,
        checkpoint_epoch: 2,
    }
}

/// Run "b": test only, a history from before F1 was recorded (zeros).
fn run_b(dir: &Path) -> FakeRun {
    let labels = LabelMap::new(&CLASSES).unwrap();
    FakeRun {
        experiment: experiment(dir, "b", "[\"test\"]"),
        counts: vec![
            (SplitName::Train, vec![50, 30, 20]),
            (SplitName::Valid, vec![2, 2, 0]),
            (SplitName::Test, vec![5, 3, 2]),
        ],
        weights: vec![0.667, 1.111, 1.667],
        history: vec![
            epoch(1, 1.1, 0.4, 0.0),
            epoch(2, 0.9, 0.6, 0.0),
            epoch(3, 0.7, 0.8, 0.0),
        ],
        results: vec![(
            SplitName::Test,
            metrics_of(&[[5, 0, 0], [0, 3, 0], [1, 0, 1]], &labels),
        )],
        ablation: Vec::new(),
        labels,
        parameters: (2000, 2500),
        train_seconds: 30.0,
        checkpoint_epoch: 3,
    }
}

/// The texts an SVG figure shows, in drawing order.
fn svg_texts(path: &Path) -> Vec<String> {
    let svg = std::fs::read_to_string(path).unwrap();
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..t.find("</text>")?];
            Some(body.trim().to_string())
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

#[test]
fn metrics_json_reads_back_as_the_run_record() {
    let dir = scratch_dir("reports-round-trip");
    let run = run_a(&dir);
    let run_dir = run.write();
    let record = RunRecord::load(&run_dir).unwrap();

    assert_eq!(record.name, "a");
    assert_eq!(
        Experiment::from_toml_str(&record.config_toml, &[], "config.toml").unwrap(),
        run.experiment
    );
    assert_eq!(record.config_toml, run.experiment.to_toml());
    assert_eq!(record.labels.names(), CLASSES);
    assert_eq!(record.counts, run.counts);
    assert_eq!(record.class_weights, run.weights);
    assert_eq!(record.ablation, run.ablation);
    assert_eq!(record.parameters, (1000, 1200));
    assert_eq!(record.train_seconds, 12.5);
    assert_eq!(record.epochs_run, [2, 3]);
    assert_eq!(
        (record.checkpoint_epoch, record.checkpoint_rule.as_str()),
        (2, "lowest validation loss")
    );
    assert_eq!((record.backend.as_str(), record.seed), ("cpu", 42));
    assert_eq!(record.history.len(), 3);
    for (got, want) in record.history.iter().zip(&run.history) {
        assert_eq!(got.epoch, want.epoch);
        for (g, w) in [
            (got.valid_loss, want.valid_loss),
            (got.valid_weighted_f1, want.valid_weighted_f1),
            (got.valid_macro_f1, want.valid_macro_f1),
            (got.learning_rate, want.learning_rate),
        ] {
            assert!(close(g, w), "epoch {}: {g} != {w}", want.epoch);
        }
    }
    assert_eq!(record.results.len(), 2);
    for ((split, got), (want_split, want)) in record.results.iter().zip(&run.results) {
        assert_eq!(split, want_split);
        assert_eq!(got.confusion_matrix, want.confusion_matrix);
        assert_eq!(got.support, want.support);
        assert!(close(got.weighted_f1, want.weighted_f1));
        // Per-class metrics are rebuilt from `per_class`, in label order.
        assert_eq!(got.classes.len(), 3);
        for (g, w) in got.classes.iter().zip(&want.classes) {
            assert!(close(g.f1, w.f1) && close(g.recall, w.recall));
            assert_eq!(g.support, w.support);
        }
    }
    let test = record.split(SplitName::Test).unwrap();
    assert!(close(test.accuracy, 0.7));
    assert_eq!(format!("{:.4}", test.macro_f1), "0.6794");
    assert_eq!(format!("{:.4}", test.classes[1].f1), "0.5714");

    // What training wrote and what the record renders are the same report.
    let written = std::fs::read_to_string(dir.join("reports/a/report.md")).unwrap();
    assert_eq!(render(&record.report_input()), written);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("metrics.json")).unwrap())
            .unwrap();
    assert_eq!(json["labels"], serde_json::json!(CLASSES));
    assert_eq!(json["counts"]["test"], serde_json::json!([5, 3, 2]));
    assert_eq!(json["ablation"][1]["variant"], "text only (audio zeroed)");
    assert_eq!(
        json["splits"]["test"]["confusion_matrix"][0],
        serde_json::json!([4, 1, 0])
    );
}

#[test]
fn metrics_json_from_before_labels_and_counts_still_loads() {
    let dir = scratch_dir("reports-old-format");
    let run_dir = dir.join("runs/old");
    std::fs::create_dir_all(&run_dir).unwrap();
    let experiment = experiment(&dir, "old", "[\"test\"]");
    std::fs::write(run_dir.join("config.toml"), experiment.to_toml()).unwrap();
    let labels = LabelMap::new(&CLASSES).unwrap();
    let mut test =
        serde_json::to_value(metrics_of(&[[4, 1, 0], [1, 2, 0], [0, 1, 1]], &labels)).unwrap();
    // The keys metrics.json had before `labels`, `counts`, `ablation`, the F1 history and UAR.
    test.as_object_mut().unwrap().remove("uar").unwrap();
    let old = serde_json::json!({
        "experiment": "old",
        "splits": { "test": test },
        "trainable_parameters": 10,
        "total_parameters": 12,
        "train_seconds": 1.5,
        "checkpoint_epoch": 1,
        "checkpoint_rule": "last epoch",
        "class_weights": { "neutral": 0.5, "joy": 1.0, "anger": 2.0 },
        "history": [{ "epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5,
                      "valid_loss": 0.9, "valid_accuracy": 0.6 }],
        "seed": 7,
        "backend": "cpu",
    });
    std::fs::write(run_dir.join("metrics.json"), old.to_string()).unwrap();
    let record = RunRecord::load(&run_dir).unwrap();
    assert_eq!(record.labels.names(), CLASSES, "labels from per_class");
    assert!(record.counts.is_empty() && record.ablation.is_empty());
    assert!(
        record.epochs_run.is_empty(),
        "no `epochs_run` key: none recorded"
    );
    assert_eq!(record.class_weights, vec![0.5, 1.0, 2.0]);
    assert_eq!(record.history[0].valid_weighted_f1, 0.0);
    assert_eq!(record.history[0].valid_accuracy, 0.6);
    assert_eq!(record.seed, 7);
    let md = render(&record.report_input());
    // UAR is recomputed from the confusion matrix: (4/5 + 2/3 + 1/2) / 3.
    assert!(
        md.contains("| test | 70.00 | 65.56 | 70.48 | 67.94 | 10 |"),
        "{md}"
    );
    assert!(
        !md.contains("valid weighted F1"),
        "unrecorded columns are left out"
    );
}

#[test]
fn normalised_confusion_matrix_shows_row_percentages() {
    let cm = vec![vec![8, 1, 1], vec![2, 2, 0], vec![0, 0, 0]];
    let shares = normalize_rows(&cm);
    assert_eq!(
        shares,
        vec![
            vec![Some(0.8), Some(0.1), Some(0.1)],
            vec![Some(0.5), Some(0.5), Some(0.0)],
            vec![None, None, None],
        ]
    );
    let labels: Vec<Vec<String>> = shares
        .iter()
        .map(|row| row.iter().copied().map(percent_label).collect())
        .collect();
    assert_eq!(labels[0], ["80.0%", "10.0%", "10.0%"]);
    assert_eq!(labels[1], ["50.0%", "50.0%", "0.0%"]);
    assert_eq!(labels[2], ["-", "-", "-"]);
    assert_eq!(percent_label(Some(2.0 / 3.0)), "66.7%");

    // The figures print those labels (the SVG holds them as text).
    let dir = scratch_dir("reports-normalised");
    let names: Vec<String> = CLASSES.iter().map(|s| s.to_string()).collect();
    let stem = dir.join("confusion_matrix_test_normalized");
    let written = write_confusion_matrix(&stem, "t", &cm, &names, CellValues::RowPercent).unwrap();
    assert_eq!(
        written,
        [
            dir.join("confusion_matrix_test_normalized.png"),
            dir.join("confusion_matrix_test_normalized.svg")
        ]
    );
    let texts = svg_texts(&written[1]);
    let cells: Vec<&str> = texts
        .iter()
        .map(String::as_str)
        .filter(|t| t.ends_with('%') || *t == "-")
        .collect();
    assert_eq!(
        cells,
        [
            "80.0%", "10.0%", "10.0%", "50.0%", "50.0%", "0.0%", "-", "-", "-"
        ]
    );
    assert!(std::fs::metadata(&written[0]).unwrap().len() > 1000);
    let counts = dir.join("counts");
    write_confusion_matrix(&counts, "t", &cm, &names, CellValues::Counts).unwrap();
    let texts = svg_texts(&dir.join("counts.svg"));
    let cells: Vec<&str> = texts
        .iter()
        .map(String::as_str)
        .filter(|t| t.parse::<usize>().is_ok())
        .collect();
    assert_eq!(cells, ["8", "1", "1", "2", "2", "0", "0", "0", "0"]);
}

#[test]
fn report_md_has_the_ablation_table_with_changes_against_full() {
    let dir = scratch_dir("reports-ablation");
    let mut run = run_a(&dir);
    let row = |split, variant: &str, a, w, m| AblationRow {
        split,
        variant: variant.into(),
        accuracy: a,
        weighted_f1: w,
        macro_f1: m,
    };
    run.ablation = vec![
        row(SplitName::Test, "full", 0.7588, 0.7627, 0.6511),
        row(
            SplitName::Test,
            "text only (audio zeroed)",
            0.5638,
            0.5701,
            0.4489,
        ),
        row(
            SplitName::Test,
            "audio only (text zeroed)",
            0.5275,
            0.5736,
            0.4868,
        ),
        row(SplitName::Valid, "full", 0.8, 0.8, 0.7),
        row(SplitName::Valid, "text only (audio zeroed)", 0.8, 0.81, 0.6),
    ];
    let md = render(&run.input());
    let lines: Vec<&str> = md.lines().collect();
    let at = |text: &str| {
        lines
            .iter()
            .position(|l| *l == text)
            .unwrap_or_else(|| panic!("no line `{text}` in\n{md}"))
    };
    let section = at("## Inference-time ablation");
    assert!(at("## Results") < section && section < at("## Data"));
    let (valid, test) = (at("### valid split"), at("### test split"));
    assert!(
        section < valid && valid < test,
        "splits in train, valid, test order"
    );
    assert_eq!(
        lines[test + 2],
        "| variant | accuracy | weighted F1 | macro F1 | Δ accuracy | Δ weighted F1 | Δ macro F1 |"
    );
    assert_eq!(
        lines[test + 4],
        "| full | 75.88 | 76.27 | 65.11 | - | - | - |"
    );
    assert_eq!(
        lines[test + 5],
        "| text only (audio zeroed) | 56.38 | 57.01 | 44.89 | -19.50 | -19.26 | -20.22 |"
    );
    assert_eq!(
        lines[test + 6],
        "| audio only (text zeroed) | 52.75 | 57.36 | 48.68 | -23.13 | -18.91 | -16.43 |"
    );
    assert_eq!(
        lines[valid + 5],
        "| text only (audio zeroed) | 80.00 | 81.00 | 60.00 | +0.00 | +1.00 | -10.00 |"
    );

    run.ablation.clear();
    assert!(!render(&run.input()).contains("ablation"));
}

#[test]
fn report_command_regenerates_one_run_and_compares_two() {
    let dir = scratch_dir("reports-cli");
    let (a, b) = (run_a(&dir), run_b(&dir));
    let (dir_a, dir_b) = (a.write(), b.write());
    let report_a = dir.join("reports/a");
    let original = std::fs::read_to_string(report_a.join("report.md")).unwrap();

    // One run: its report folder again, from metrics.json and config.toml alone.
    std::fs::remove_dir_all(&report_a).unwrap();
    let (ok, out) = run_emofuse(&["report", dir_a.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert_eq!(
        std::fs::read_to_string(report_a.join("report.md")).unwrap(),
        original
    );
    for file in [
        "curves.png",
        "curves.svg",
        "confusion_matrix.png",
        "confusion_matrix_normalized.svg",
        "confusion_matrix_valid.png",
        "confusion_matrix_valid_normalized.png",
        "confusion_matrix_test_normalized.svg",
    ] {
        let path = report_a.join(file);
        assert!(
            out.contains(&path.display().to_string()),
            "{file} not printed: {out}"
        );
        assert!(std::fs::metadata(&path).unwrap().len() > 1000, "{file}");
    }
    assert!(original.contains(
        "| text only (audio zeroed) | 50.00 | 45.00 | 40.00 | -20.00 | -25.48 | -27.94 |"
    ));
    assert!(
        original.contains("| anger | - | - | - |"),
        "valid has no anger utterance"
    );

    // Two runs: compare.md and overlaid curves.
    let out_dir = dir.join("cmp");
    let (ok, out) = run_emofuse(&[
        "report",
        dir_a.to_str().unwrap(),
        dir_b.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let md = std::fs::read_to_string(out_dir.join("compare.md")).unwrap();
    let has = |line: &str| assert!(md.lines().any(|l| l == line), "no `{line}` in\n{md}");
    has(
        "| run | valid accuracy | valid UAR | valid weighted F1 | valid macro F1 | test accuracy | test UAR | test weighted F1 | test macro F1 | trainable parameters | total parameters | train seconds | checkpoint epoch |",
    );
    // UAR leaves out valid's anger (no support): (1 + 1/2) / 2.
    has(
        "| a | 75.00 | 75.00 | 83.33 | 55.56 | 70.00 | 65.56 | 70.48 | 67.94 | 1000 | 1200 | 12.5 | 2 |",
    );
    has("| b | - | - | - | - | 90.00 | 83.33 | 88.79 | 85.86 | 2000 | 2500 | 30.0 | 3 |");
    let test_table = md.find("## Per-class F1, test split").expect("test table");
    let valid_table = md
        .find("## Per-class F1, valid split")
        .expect("valid table");
    assert!(valid_table < test_table);
    let test_md = &md[test_table..];
    for line in [
        "| class | a | b |",
        "| neutral | 80.00 | 90.91 |",
        "| joy | 57.14 | 100.00 |",
        "| anger | 66.67 | 66.67 |",
    ] {
        assert!(test_md.lines().any(|l| l == line), "no `{line}` in\n{md}");
    }
    assert!(md[valid_table..test_table].contains("| neutral | 100.00 | - |"));
    assert!(std::fs::metadata(out_dir.join("curves.png")).unwrap().len() > 1000);
    let texts = svg_texts(&out_dir.join("curves.svg"));
    let has_text = |t: &str| texts.iter().any(|x| x == t);
    assert!(
        has_text("validation weighted F1 (or accuracy)"),
        "{texts:?}"
    );
    assert!(has_text("a"), "run a plots its weighted F1 under its name");
    assert!(
        has_text("b (accuracy)"),
        "run b recorded no F1: accuracy instead"
    );
    assert!(
        out.contains(&out_dir.join("compare.md").display().to_string()),
        "{out}"
    );

    // Without --out: <reports_dir>/compare/a_vs_b.
    let (ok, out) = run_emofuse(&["report", dir_a.to_str().unwrap(), dir_b.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(dir.join("reports/compare/a_vs_b/compare.md").is_file());
}

#[test]
fn report_errors_name_the_folder_and_what_to_do() {
    let dir = scratch_dir("reports-errors");
    let unfinished = dir.join("runs/unfinished");
    std::fs::create_dir_all(&unfinished).unwrap();
    let experiment = experiment(&dir, "unfinished", "[\"test\"]");
    std::fs::write(unfinished.join("config.toml"), experiment.to_toml()).unwrap();
    let (ok, out) = run_emofuse(&["report", unfinished.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        out.contains(&format!("{} has no metrics.json", unfinished.display()))
            && out.contains("did not finish training")
            && out.contains("emofuse train"),
        "{out}"
    );

    let missing = dir.join("runs/nothing");
    let (ok, out) = run_emofuse(&["report", missing.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        out.contains(&format!("{}: no such run folder", missing.display())),
        "{out}"
    );

    // A mistake inside metrics.json names the file and the key.
    let a = run_a(&dir).write();
    let path = a.join("metrics.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("\"accuracy\": ", "\"accuracy\": \"x\", \"_\": ", 1),
    )
    .unwrap();
    let err = format!("{:#}", RunRecord::load(&a).unwrap_err());
    assert!(
        err.contains(&path.display().to_string()) && err.contains("splits.valid.accuracy"),
        "{err}"
    );

    // Per-class tables need the same classes: both runs are named, nothing is written.
    let a = run_a(&dir).write();
    let mut other = run_b(&dir);
    other.labels = LabelMap::new(&["neutral", "joy", "sadness"]).unwrap();
    other.results = vec![(
        SplitName::Test,
        metrics_of(&[[5, 0, 0], [0, 3, 0], [1, 0, 1]], &other.labels),
    )];
    let other_dir = other.write();
    let out_dir = dir.join("cmp");
    let (ok, out) = run_emofuse(&[
        "report",
        a.to_str().unwrap(),
        other_dir.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        out.contains(&a.display().to_string())
            && out.contains(&other_dir.display().to_string())
            && out.contains("different classes")
            && out.contains("sadness"),
        "{out}"
    );
    assert!(!out_dir.exists());
    assert!(!out.contains("panicked"), "{out}");
}

/// A full disk (here: a file-size limit, which fails writes the same way) while a report is
/// written again: one line of error, and the report folder keeps its complete old files, with
/// no truncated chart and no temporary file left.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn report_write_on_a_full_disk_fails_in_one_line_and_keeps_the_old_files() {
    use std::os::unix::process::CommandExt;
    let dir = scratch_dir("reports-full-disk");
    let run = run_a(&dir).write();
    let report = dir.join("reports/a");
    let (ok, out) = run_emofuse(&["report", run.to_str().unwrap()]);
    assert!(ok, "{out}");
    let before: Vec<(std::path::PathBuf, Vec<u8>)> = std::fs::read_dir(&report)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    assert!(
        before.iter().any(|(_, b)| b.len() > 8192),
        "a chart above the limit"
    );

    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_emofuse"));
    command.args(["report", run.to_str().unwrap()]);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            // Writes past 8 KiB fail with EFBIG instead of killing the process.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 8192,
                rlim_max: 8192,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line of error: {stderr}");
    assert!(
        lines[0].starts_with("error: cannot write ") && lines[0].contains("File too large"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Error {") && !stderr.contains("BackendError"),
        "{stderr}"
    );
    for (path, bytes) in &before {
        assert_eq!(
            &std::fs::read(path).unwrap(),
            bytes,
            "{} changed",
            path.display()
        );
    }
    let names: Vec<String> = std::fs::read_dir(&report)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), before.len(), "no file added: {names:?}");
}
