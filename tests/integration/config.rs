use crate::{repo_path, scratch_dir};
use emofuse::config::{BackendKind, Experiment, Modality};

fn err(text: &str, overrides: &[&str]) -> String {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    format!(
        "{:#}",
        Experiment::from_toml_str(text, &overrides, "experiments/x.toml").unwrap_err()
    )
}

#[test]
fn shipped_experiments_load() {
    for name in [
        "quickstart",
        "quickstart_text_only",
        "quickstart_audio_only",
    ] {
        let path = repo_path(&format!("experiments/{name}.toml"));
        let e = Experiment::load(&path, &[]).unwrap();
        assert_eq!(e.name(), name);
    }
    let text = Experiment::load(&repo_path("experiments/quickstart_text_only.toml"), &[]).unwrap();
    assert_eq!(text.model.modalities, [Modality::Text]);
}

#[test]
fn built_in_quickstart_equals_the_file() {
    let file = std::fs::read_to_string(repo_path("experiments/quickstart.toml")).unwrap();
    assert_eq!(file, emofuse::config::QUICKSTART_TOML);
}

#[test]
fn empty_file_gives_defaults() {
    let e = Experiment::from_toml_str("", &[], "x").unwrap();
    assert_eq!(e, Experiment::default());
    assert_eq!(e.run.seed, 42);
    assert_eq!(e.training.grad_clip_norm, 1.0);
}

#[test]
fn unknown_keys_name_file_key_and_allowed_keys() {
    let e = err("[training]\nepoch = 3\n", &[]);
    assert!(e.contains("experiments/x.toml"), "{e}");
    assert!(e.contains("training.epoch"), "{e}");
    assert!(e.contains("`epochs`"), "{e}");
    let e = err("[trainin]\nepochs = 3\n", &[]);
    assert!(e.contains("trainin"), "{e}");
    assert!(e.contains("`training`"), "{e}");
}

#[test]
fn invalid_values_name_key_and_allowed_values() {
    let e = err("[run]\nbackend = \"tpu\"\n", &[]);
    assert!(e.contains("run.backend"), "{e}");
    assert!(
        e.contains("`cpu`") && e.contains("`wgpu`") && e.contains("`cuda`"),
        "{e}"
    );
    let e = err("[training]\nepochs = 0\n", &[]);
    assert!(e.contains("training.epochs") && e.contains(">= 1"), "{e}");
    let e = err("[training]\nlearning_rate = -1.0\n", &[]);
    assert!(e.contains("training.learning_rate"), "{e}");
    let e = err("[model]\ndropout = 1.5\n", &[]);
    assert!(
        e.contains("model.dropout") && e.contains("0 <= p < 1"),
        "{e}"
    );
    let e = err("[model]\nmodalities = [\"video\"]\n", &[]);
    assert!(
        e.contains("model.modalities") && e.contains("`text`"),
        "{e}"
    );
    let e = err("[training]\nepochs = \"many\"\n", &[]);
    assert!(e.contains("training.epochs"), "{e}");
}

#[test]
fn missing_file_is_a_clear_error() {
    let path = scratch_dir("config-missing").join("nope.toml");
    let e = format!("{:#}", Experiment::load(&path, &[]).unwrap_err());
    assert!(e.contains("nope.toml"), "{e}");
    assert!(e.contains("experiments/"), "{e}");
}

#[test]
fn set_overrides_any_key_and_is_checked_like_the_file() {
    let sets = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let e = Experiment::from_toml_str(
        "[training]\nepochs = 5\n",
        &sets(&[
            "training.epochs=2",
            "run.backend=cuda",
            "model.modalities=[\"audio\"]",
            "training.learning_rate=3e-4",
            "output.name=demo",
        ]),
        "x",
    )
    .unwrap();
    assert_eq!(e.training.epochs, 2);
    assert_eq!(e.run.backend, BackendKind::Cuda);
    assert_eq!(e.model.modalities, [Modality::Audio]);
    assert_eq!(e.training.learning_rate, 3e-4);
    assert_eq!(e.name(), "demo");
    let e = err("", &["training.epochz=2"]);
    assert!(e.contains("training.epochz"), "{e}");
    let e = err("", &["training"]);
    assert!(e.contains("section.key=value"), "{e}");
}

#[test]
fn resolved_config_round_trips() {
    let e = Experiment::from_toml_str("[data]\nseed = 7\n", &["training.epochs=3".into()], "x")
        .unwrap();
    let again = Experiment::from_toml_str(&e.to_toml(), &[], "x").unwrap();
    assert_eq!(e, again);
}
