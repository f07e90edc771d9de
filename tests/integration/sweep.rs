//! `emofuse sweep`: every combination of a grid is a run equal to a plain `train --set` of its
//! values, a rerun skips finished ones, the ranking follows the validation metric the runs
//! recorded, k-fold and seeds combinations rank by their mean, and bad `--grid` input is refused
//! before anything trains.

use crate::{ONE_RUN_AT_A_TIME, experiment_in, repo_path, run_emofuse, scratch_dir};
use emofuse::core::events::Recorder;
use emofuse::experiment::Experiment;
use emofuse::pipeline::TrainOptions;
use emofuse::pipeline::sweep::{GridAxis, Sweep, SweepOptions, read_sweep_record, run_sweep};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The tiny quickstart of the end-to-end tests, one epoch on 320 utterances.
const TINY: [&str; 9] = [
    "data.train_size=320",
    "data.valid_size=160",
    "data.test_size=240",
    "model.text_dim=32",
    "model.audio_channels=32",
    "model.projection_dim=32",
    "model.hidden_dim=32",
    "training.epochs=1",
    "training.learning_rate=3e-3",
];

/// What the CLI's loader does for an experiment file: its keys and `overrides` (here an empty
/// file named `name` with `base` as its content's overrides, writing under `dir`).
fn loader(
    dir: &Path,
    name: &str,
    base: &[String],
) -> impl Fn(&[String]) -> anyhow::Result<Experiment> {
    let mut all = crate::output_in(dir, name);
    all.extend(base.iter().cloned());
    move |sets: &[String]| Experiment::from_toml_str("", &[&all[..], sets].concat(), "test.toml")
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn read(path: &Path) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

fn sweep(
    dir: &Path,
    base: &[String],
    grid: &[&str],
    sets: &[&str],
) -> anyhow::Result<(
    Sweep,
    Arc<Recorder>,
    Option<emofuse::pipeline::sweep::SweepRecord>,
)> {
    let load = loader(dir, "base", base);
    let plan = Sweep::plan(&strings(grid), &strings(sets), &load)?;
    let recorder = Arc::new(Recorder::default());
    let record = run_sweep(
        &plan,
        SweepOptions {
            dry_run: false,
            observer: recorder.clone(),
        },
    )?;
    Ok((plan, recorder, record))
}

fn modified(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn a_sweep_trains_each_combination_as_train_would_ranks_them_and_skips_finished_ones() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("sweep-grid");
    let base = strings(&TINY);
    let grid = ["training.learning_rate=[1e-3,3e-3]", "model.dropout=[0.3]"];
    let (plan, first, record) = sweep(&dir, &base, &grid, &[]).unwrap();
    let record = record.unwrap();
    let folders: Vec<PathBuf> = [
        "learning_rate=1e-3,dropout=0.3",
        "learning_rate=3e-3,dropout=0.3",
    ]
    .iter()
    .map(|name| dir.join("runs/base-sweep").join(name))
    .collect();
    assert_eq!(
        plan.combinations
            .iter()
            .map(|c| c.experiment.run_dir())
            .collect::<Vec<_>>(),
        folders
    );
    let lines = first.lines();
    for (i, (lr, folder)) in ["1e-3", "3e-3"].iter().zip(&folders).enumerate() {
        let head = format!(
            "run {}/2: learning_rate={lr}, dropout=0.3 ({})",
            i + 1,
            folder.display()
        );
        assert!(lines.contains(&head), "{head} not in {lines:?}");
        // The run's saved config has the combination's values.
        let saved = std::fs::read_to_string(folder.join("config.toml")).unwrap();
        let saved = Experiment::from_toml_str(&saved, &[], "saved").unwrap();
        assert_eq!(saved.training.learning_rate, lr.parse::<f64>().unwrap());
        assert_eq!(saved.model.dropout, 0.3);
    }

    // The second combination is a plain `train --set` of its values, to the bit.
    let mut plain_sets = base.clone();
    plain_sets.extend(strings(&[
        "training.learning_rate=3e-3",
        "model.dropout=0.3",
    ]));
    emofuse::pipeline::train(
        &experiment_in(&dir, "plain", &plain_sets),
        TrainOptions::default(),
    )
    .unwrap();
    let plain = read(&dir.join("runs/plain/metrics.json"));
    let swept = read(&folders[1].join("metrics.json"));
    assert_eq!(plain["splits"], swept["splits"]);
    assert_eq!(plain["history"], swept["history"]);
    let other = read(&folders[0].join("metrics.json"));
    assert_ne!(
        other["history"], swept["history"],
        "another learning rate should train differently"
    );

    // Ranked by validation weighted F1 as each run's metrics.json has it, test beside.
    let valid = |m: &Value| m["splits"]["valid"]["weighted_f1"].as_f64().unwrap();
    let mut by_valid: Vec<(f64, String)> = folders
        .iter()
        .map(|f| {
            let m = read(&f.join("metrics.json"));
            (valid(&m), f.display().to_string())
        })
        .collect();
    assert_ne!(
        by_valid[0].0, by_valid[1].0,
        "a tie would not test the order"
    );
    by_valid.sort_by(|a, b| b.0.total_cmp(&a.0));
    let ranked: Vec<String> = record.runs.iter().map(|r| r.run.clone()).collect();
    assert_eq!(
        ranked,
        by_valid.iter().map(|v| v.1.clone()).collect::<Vec<_>>()
    );
    assert_eq!(record.select_metric, "weighted_f1");
    for run in &record.runs {
        let m = read(&Path::new(&run.run).join("metrics.json"));
        assert!((run.valid - valid(&m)).abs() < 1e-12);
        let test = run.test.unwrap();
        assert_eq!(
            test.accuracy,
            m["splits"]["test"]["accuracy"].as_f64().unwrap()
        );
        assert_eq!(
            test.macro_f1,
            m["splits"]["test"]["macro_f1"].as_f64().unwrap()
        );
        assert_eq!(run.runs, std::slice::from_ref(&run.run));
    }
    assert_eq!(
        read_sweep_record(&dir.join("runs/base-sweep")).unwrap(),
        record
    );
    let md = std::fs::read_to_string(dir.join("reports/base-sweep/sweep.md")).unwrap();
    let best = &record.runs[0];
    assert!(
        md.contains(&format!(
            "| 1 | training.learning_rate={}, model.dropout=0.3 | {} |",
            best.values[0].1,
            emofuse::reports::pct(best.valid)
        )),
        "{md}"
    );
    assert!(
        md.contains("## Comparison") && md.contains("### Per-class F1, test split"),
        "{md}"
    );
    assert!(dir.join("reports/base-sweep/curves.png").is_file());
    assert!(
        folders
            .iter()
            .all(|f| f.parent().unwrap() == dir.join("runs/base-sweep"))
    );
    assert!(
        dir.join("reports/base-sweep/learning_rate=1e-3,dropout=0.3/report.md")
            .is_file()
    );

    // Rerun: both finished, nothing trains, the record is the same.
    let models: Vec<PathBuf> = folders.iter().map(|f| f.join("model.bpk")).collect();
    let before: Vec<_> = models.iter().map(|m| modified(m)).collect();
    let json_before = std::fs::read_to_string(dir.join("runs/base-sweep/sweep.json")).unwrap();
    let (_, again, _) = sweep(&dir, &base, &grid, &[]).unwrap();
    let lines = again.lines();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.ends_with(": finished earlier, skipped"))
            .count(),
        2,
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.starts_with("epoch ")), "{lines:?}");
    assert_eq!(
        models.iter().map(|m| modified(m)).collect::<Vec<_>>(),
        before
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("runs/base-sweep/sweep.json")).unwrap(),
        json_before
    );

    // An interrupted combination (no metrics.json yet) resumes and ends the same.
    std::fs::remove_file(folders[1].join("metrics.json")).unwrap();
    let (_, resumed, _) = sweep(&dir, &base, &grid, &[]).unwrap();
    assert!(
        resumed
            .lines()
            .iter()
            .any(|l| l.starts_with("run 2/2") && l.ends_with(": interrupted earlier, resuming")),
        "{:?}",
        resumed.lines()
    );
    assert_eq!(
        read(&folders[1].join("metrics.json"))["splits"],
        swept["splits"]
    );
    assert_eq!(modified(&models[0]), before[0], "the finished one stays");

    // Another configuration in the same folders is refused, up front, naming the folder.
    let err = format!(
        "{:#}",
        sweep(&dir, &base, &grid, &["model.hidden_dim=16"]).unwrap_err()
    );
    assert!(
        err.contains(&folders[0].display().to_string())
            && err.contains("[model]")
            && err.contains("output.name"),
        "{err}"
    );
    assert_eq!(modified(&models[0]), before[0], "nothing trained");
}

/// k-fold combinations with seeds rank by the mean over every fold of every seed of the
/// validation metric (here the loss, lower is better), and report the mean test metrics.
#[test]
fn kfold_combinations_with_seeds_rank_by_the_mean_over_folds_and_seeds() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("sweep-kfold");
    let mut base = strings(&[
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
        "training.epochs=2",
        "training.batch_size=8",
        "training.optimizer=\"sgd\"",
        "training.select_metric=\"loss\"",
        "evaluation.ablation=false",
        "run.seeds=[1, 2]",
    ]);
    base.push(format!(
        "data.path=\"{}\"",
        repo_path("tests/fixtures/speech/ravdess").display()
    ));
    let (_, _, record) = sweep(&dir, &base, &["training.learning_rate=[1e-2,1e-1]"], &[]).unwrap();
    let record = record.unwrap();
    assert_eq!(record.select_metric, "loss");
    assert!(!record.higher_is_better);
    assert_eq!(record.seeds, [1, 2]);
    let mut means = Vec::new();
    for run in &record.runs {
        assert_eq!(run.runs.len(), 6, "3 folds x 2 seeds");
        let mut losses = Vec::new();
        let mut accuracies = Vec::new();
        for seed in [1, 2] {
            for fold in 1..=3 {
                let leaf = Path::new(&run.run).join(format!("seed-{seed}/fold-{fold}"));
                assert!(
                    run.runs.contains(&leaf.display().to_string()),
                    "{:?}",
                    run.runs
                );
                let m = read(&leaf.join("metrics.json"));
                let epoch = m["checkpoint_epoch"].as_u64().unwrap() as usize;
                losses.push(m["history"][epoch - 1]["valid_loss"].as_f64().unwrap());
                accuracies.push(m["splits"]["test"]["accuracy"].as_f64().unwrap());
            }
        }
        let mean = losses.iter().sum::<f64>() / 6.0;
        assert!((run.valid - mean).abs() < 1e-12, "{} vs {mean}", run.valid);
        let accuracy = accuracies.iter().sum::<f64>() / 6.0;
        assert!((run.test.unwrap().accuracy - accuracy).abs() < 1e-12);
        // The same as the combination's own summary over folds and seeds.
        let top = read(&Path::new(&run.run).join("metrics.json"));
        assert!(
            (top["over_folds_and_seeds"]["accuracy_mean"]
                .as_f64()
                .unwrap()
                - accuracy)
                .abs()
                < 1e-12
        );
        means.push(mean);
    }
    assert!(
        means[0] <= means[1],
        "lowest validation loss first: {means:?}"
    );
    let md = std::fs::read_to_string(dir.join("reports/base-sweep/sweep.md")).unwrap();
    assert!(
        md.contains("lower is better") && md.contains(" +- "),
        "{md}"
    );
    assert!(md.contains("| 6 |"), "{md}");

    // A rerun keeps every fold of every seed.
    let fold = Path::new(&record.runs[0].run).join("seed-1/fold-1/model.bpk");
    let before = modified(&fold);
    let (_, again, _) = sweep(&dir, &base, &["training.learning_rate=[1e-2,1e-1]"], &[]).unwrap();
    assert_eq!(modified(&fold), before);
    assert_eq!(
        again
            .lines()
            .iter()
            .filter(|l| l.ends_with(": finished earlier, skipped"))
            .count(),
        2
    );
}

#[test]
fn grid_arguments_parse_lists_nested_arrays_and_single_values() {
    let axis = GridAxis::parse("model.modalities=[[\"text\"], [\"text\",\"audio\"]]").unwrap();
    assert_eq!(axis.key, "model.modalities");
    assert_eq!(axis.values, ["[\"text\"]", "[\"text\",\"audio\"]"]);
    assert_eq!(
        GridAxis::parse("run.backend=[cpu, \"a,b\"]")
            .unwrap()
            .values,
        ["cpu", "\"a,b\""]
    );
    assert_eq!(GridAxis::parse("training.epochs=3").unwrap().values, ["3"]);
    let dir = scratch_dir("sweep-names");
    let load = loader(&dir, "base", &[]);
    let plan = Sweep::plan(
        &strings(&[
            "model.modalities=[[\"text\"],[\"text\", \"audio\"]]",
            "data.seed=[1,2]",
            "run.seed=[5]",
        ]),
        &[],
        &load,
    )
    .unwrap();
    let names: Vec<&str> = plan.combinations.iter().map(|c| c.name.as_str()).collect();
    // The first axis varies slowest; keys sharing a last part are named in full.
    assert_eq!(
        names,
        [
            "modalities=text,data.seed=1,run.seed=5",
            "modalities=text,data.seed=2,run.seed=5",
            "modalities=text+audio,data.seed=1,run.seed=5",
            "modalities=text+audio,data.seed=2,run.seed=5",
        ]
    );
    assert_eq!(plan.combinations[3].experiment.data.seed, Some(2));
    assert_eq!(plan.combinations[3].experiment.model.modalities.len(), 2);
}

/// Every mistake in `--grid` stops the sweep before anything trains, naming the argument and
/// what to write.
#[test]
fn bad_grid_input_is_refused_with_the_argument_and_the_fix() {
    let dir = scratch_dir("sweep-cli-errors");
    let runs = format!("output.runs_dir=\"{}\"", dir.display());
    // Where a sweep that wrongly went ahead would write its reports: not the repository's.
    let reports = format!("output.reports_dir=\"{}\"", dir.display());
    let cases: [(&[&str], &[&str]); 10] = [
        (&[], &["--grid", "training.learning_rate=[1e-4,3e-4]"]),
        (
            &["--grid", "training.lr=[1e-4,3e-4]"],
            &[
                "--grid training.lr=[1e-4,3e-4]",
                "training.lr",
                "learning_rate",
                "batch_size",
            ],
        ),
        (
            &["--grid", "training.learning_rate=[1e-4,fast]"],
            &[
                "--grid training.learning_rate=[1e-4,fast]",
                "training.learning_rate=fast",
                "f64",
            ],
        ),
        (
            &["--grid", "model.dropout=[]"],
            &["--grid model.dropout=[]", "empty"],
        ),
        (
            &[
                "--grid",
                "model.dropout=[0.1]",
                "--grid",
                "model.dropout=[0.3]",
            ],
            &["both vary `model.dropout`", "one list"],
        ),
        (&["--grid", "model.dropout=[0.1,0.3"], &["no closing `]`"]),
        (&["--grid", "model.dropout"], &["expected KEY=[V1,V2,...]"]),
        (
            &["--grid", "model.dropout=[0.1,,0.3]"],
            &["value 2 is empty"],
        ),
        (&["--grid", "model.dropout=[0.1,0.10]"], &["same value"]),
        (
            &["--grid", "training.select_metric=[loss,accuracy]"],
            &["cannot vary", "--set"],
        ),
    ];
    for (args, wanted) in cases {
        let mut all = vec!["sweep", "--set", runs.as_str(), "--set", reports.as_str()];
        all.extend_from_slice(args);
        let (ok, out) = run_emofuse(&all);
        assert!(!ok, "{args:?} succeeded: {out}");
        assert!(!out.contains("panicked"), "{out}");
        for w in wanted {
            assert!(out.contains(w), "{args:?}: `{w}` not in: {out}");
        }
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "a refused sweep writes nothing"
    );
}

#[test]
fn dry_run_lists_the_combinations_and_their_folders() {
    let dir = scratch_dir("sweep-cli-dry-run");
    let runs = format!("output.runs_dir=\"{}\"", dir.display());
    let (ok, out) = run_emofuse(&[
        "sweep",
        "--dry-run",
        "--set",
        &runs,
        "--grid",
        "training.learning_rate=[1e-4,3e-4]",
        "--grid",
        "model.dropout=[0.1,0.3]",
    ]);
    assert!(ok, "{out}");
    let folder = dir.join("quickstart-sweep");
    for (i, (lr, dropout)) in [
        ("1e-4", "0.1"),
        ("1e-4", "0.3"),
        ("3e-4", "0.1"),
        ("3e-4", "0.3"),
    ]
    .iter()
    .enumerate()
    {
        let line = format!(
            "run {}/4: learning_rate={lr}, dropout={dropout} ({})",
            i + 1,
            folder
                .join(format!("learning_rate={lr},dropout={dropout}"))
                .display()
        );
        assert!(out.contains(&line), "{line} not in {out}");
    }
    assert!(
        out.contains("dry run: 4 combinations are valid; nothing trained"),
        "{out}"
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "{out}");
}
