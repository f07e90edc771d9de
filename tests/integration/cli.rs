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
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "a dry run writes nothing"
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
