//! The `emofuse` binary as a user runs it.

use crate::{run_emofuse, scratch_dir};

#[test]
fn dry_run_prints_counts_and_weights_and_trains_nothing() {
    let dir = scratch_dir("cli-dry-run");
    let runs = format!("output.runs_dir=\"{}\"", dir.display());
    let (ok, out) = run_emofuse(&[
        "train",
        "--dry-run",
        "--set",
        &runs,
        "--set",
        "data.train_size=500",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("neutral") && out.contains("fear"), "{out}");
    assert!(out.contains("weight"), "{out}");
    let train_line = out
        .lines()
        .find(|l| l.starts_with("train"))
        .expect("train row");
    assert!(train_line.trim_end().ends_with("500"), "{train_line}");
    assert!(out.contains("dry run"), "{out}");
    assert!(
        out.contains("dry run: the model builds (107271 parameters) and runs a batch"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "a dry run writes nothing"
    );
}

#[test]
fn half_precision_where_it_cannot_run_is_an_error_naming_the_fix() {
    // The CPU backend computes in f32 only.
    let model = crate::repo_path("tests/fixtures/text/roberta-bare");
    let out_file = scratch_dir("cli-precision").join("out.safetensors");
    let (ok, out) = run_emofuse(&[
        "forward",
        "text",
        "--model",
        model.to_str().unwrap(),
        "--text",
        "hello",
        "--out",
        out_file.to_str().unwrap(),
        "--precision",
        "f16",
    ]);
    assert!(!ok);
    assert!(
        out.contains("half precision is for the GPU backends") && out.contains("--backend wgpu"),
        "{out}"
    );
    assert!(!out_file.exists());
    // Training runs in f32: a model without a pretrained trunk cache has nothing in f16.
    let (ok, out) = run_emofuse(&["train", "--dry-run", "--set", "run.precision=\"f16\""]);
    assert!(!ok);
    assert!(
        out.contains("key `run.precision` = \"f16\": training runs in f32")
            && out.contains("set run.precision = \"f32\""),
        "{out}"
    );
}

#[test]
fn backend_not_compiled_in_names_the_cargo_feature() {
    if cfg!(feature = "cuda") {
        return;
    }
    let (ok, out) = run_emofuse(&["train", "--dry-run", "--backend", "cuda"]);
    assert!(!ok);
    assert!(out.contains("--features cuda"), "{out}");
}

#[test]
fn config_errors_reach_the_user_with_file_and_key() {
    let dir = scratch_dir("cli-config-error");
    let path = dir.join("bad.toml");
    std::fs::write(&path, "[training]\nepochs = 2\nbatch = 4\n").unwrap();
    let (ok, out) = run_emofuse(&["train", path.to_str().unwrap(), "--dry-run"]);
    assert!(!ok);
    assert!(
        out.contains("bad.toml") && out.contains("training.batch") && out.contains("batch_size"),
        "{out}"
    );
    assert!(!out.contains("panicked"), "{out}");
}

/// Values that parse and are positive but that the model or the corpus cannot be built with:
/// each was a panic, a 14.6 GB allocation or an abort under `--dry-run` before validation
/// checked them.
#[test]
fn dry_run_refuses_sizes_the_model_or_memory_cannot_take() {
    let ravdess = "experiments/ravdess_cnn_8class.toml";
    let quickstart = "experiments/quickstart.toml";
    for (experiment, sets, expected) in [
        (
            ravdess,
            &["model.cnn.pool=100000"][..],
            "key `model.cnn.pool` = 100000: allowed at most 1024",
        ),
        (
            ravdess,
            &["model.cnn.pool=50"],
            "3 poolings of the 251 frames of a clip leave none",
        ),
        (
            ravdess,
            &["model.cnn.kernel=100001"],
            "allowed at most the 251 frames of a clip",
        ),
        (
            ravdess,
            &["model.cnn.channels=[512, 512]", "training.batch_size=10000"],
            "would take 4.8 GiB",
        ),
        (
            quickstart,
            &["data.train_size=2000000000"],
            "allowed at most 1000000 utterances",
        ),
        (
            quickstart,
            &["data.train_size=100000"],
            "would hold 9.0 GiB of audio",
        ),
        (
            quickstart,
            &["model.text_dim=4096", "model.text_layers=64"],
            "1.29e10 parameters; allowed at most 1e9",
        ),
    ] {
        let mut args = vec!["train", experiment, "--dry-run"];
        for set in sets {
            args.extend(["--set", set]);
        }
        let (ok, out) = run_emofuse(&args);
        assert!(!ok, "{sets:?}: {out}");
        assert!(out.contains(expected), "{sets:?}: {out}");
        assert_eq!(out.lines().count(), 1, "{sets:?}: one line: {out}");
    }
}

#[test]
fn an_experiment_file_cut_off_mid_line_gets_a_warning() {
    let dir = scratch_dir("cli-cut-off");
    let path = dir.join("cut.toml");
    // A copy of the quickstart cut in the middle of a value: it still parses.
    std::fs::write(&path, "[training]\nepochs = 2\nlearning_rate = 0.003").unwrap();
    let runs = format!("output.runs_dir=\"{}\"", dir.display());
    let (ok, out) = run_emofuse(&["train", path.to_str().unwrap(), "--dry-run", "--set", &runs]);
    assert!(ok, "{out}");
    assert!(
        out.contains("cut.toml does not end with a line break")
            && out.contains("\"learning_rate = 0.003\""),
        "{out}"
    );
    std::fs::write(&path, "[training]\nepochs = 2\n").unwrap();
    let (ok, out) = run_emofuse(&["train", path.to_str().unwrap(), "--dry-run", "--set", &runs]);
    assert!(ok && !out.contains("line break"), "{out}");
}
