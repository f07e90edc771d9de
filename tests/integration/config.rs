use crate::{repo_path, scratch_dir};
use emofuse::core::{BackendKind, Modality};
use emofuse::experiment::{CheckpointChoice, DatasetKind, Experiment};
use emofuse::models::finetune::TrainLayers;
use emofuse::training::config::{ClassWeighting, SelectMetric};

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
fn study_a_experiments_have_the_study_settings() {
    let e = Experiment::load(&repo_path("experiments/meld_late_fusion.toml"), &[]).unwrap();
    assert_eq!(e.data.dataset, DatasetKind::Manifest);
    assert_eq!(e.model.modalities, [Modality::Text, Modality::Audio]);
    assert_eq!(e.model.text.train_last_layers, TrainLayers::Last(1));
    assert_eq!(e.model.audio.train_last_layers, TrainLayers::Last(1));
    assert!(!e.model.audio.train_feature_encoder);
    assert_eq!(
        (e.training.batch_size, e.training.epochs, e.run.seed),
        (4, 6, 42)
    );
    assert_eq!((e.data.max_tokens, e.data.clip_seconds), (128, 5.0));
    assert_eq!(e.model.projection_dim, 256);
    assert_eq!(e.training.grad_clip_norm, 1.0);
    assert_eq!(e.training.class_weights, ClassWeighting::InverseFrequency);
    assert_eq!(e.training.select_metric, SelectMetric::WeightedF1);
    assert_eq!(e.label_map().unwrap(), emofuse::core::LabelMap::meld());
    for (name, modality) in [
        ("meld_text_only", Modality::Text),
        ("meld_audio_only", Modality::Audio),
    ] {
        let v = Experiment::load(&repo_path(&format!("experiments/{name}.toml")), &[]).unwrap();
        assert_eq!(v.model.modalities, [modality]);
        // Everything else is study A's.
        let mut same = v.clone();
        same.model.modalities = e.model.modalities.clone();
        same.evaluation.ablation = true;
        same.output.name = e.output.name.clone();
        assert_eq!(same, e, "{name}");
    }
}

#[test]
fn training_options_parse_and_bad_ones_name_the_key() {
    let e = Experiment::from_toml_str(
        "[model.text]\ntrain_last_layers = \"all\"\n[model.audio]\ntrain_last_layers = 0\n[training]\nclass_weights = [1, 2, 3, 4, 5, 6, 7]\noptimizer = \"sgd\"\nschedule = \"cosine\"\nwarmup_steps = 10",
        &[],
        "x",
    )
    .unwrap();
    assert_eq!(e.model.text.train_last_layers, TrainLayers::All);
    assert_eq!(e.model.audio.train_last_layers, TrainLayers::Last(0));
    assert_eq!(
        e.training.class_weights,
        ClassWeighting::Given(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    );
    // It round-trips through the saved config.toml.
    assert_eq!(
        Experiment::from_toml_str(&e.to_toml(), &[], "saved").unwrap(),
        e
    );
    for (set, expected) in [
        (
            "model.text.train_last_layers=\"some\"",
            "allowed a number of layers",
        ),
        (
            "training.class_weights=[1.0, 2.0]",
            "2 weights for 7 classes",
        ),
        ("training.class_weights=\"balanced\"", "inverse_frequency"),
        (
            "model.audio.train_feature_encoder=true",
            "train_last_layers = \"all\"",
        ),
        ("data.dataset=\"manifest\"", "data.train_manifest"),
        ("training.grad_accumulation=0", "training.grad_accumulation"),
        ("training.plateau_factor=1.5", "training.plateau_factor"),
    ] {
        let err = format!(
            "{:#}",
            Experiment::from_toml_str("", &[set.to_string()], "x").unwrap_err()
        );
        assert!(err.contains(expected), "{set}: {err}");
    }
}

#[test]
fn built_in_quickstart_runs_what_the_file_runs() {
    // `emofuse train` with no file runs the built-in copy where experiments/quickstart.toml is
    // missing: it must resolve to the experiment the file gives, name and overrides included.
    let sets = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let path = repo_path("experiments/quickstart.toml");
    for overrides in [sets(&[]), sets(&["training.epochs=2", "run.seed=7"])] {
        let built_in = Experiment::built_in_quickstart(&overrides).unwrap();
        assert_eq!(built_in, Experiment::load(&path, &overrides).unwrap());
        assert_eq!(built_in.name(), "quickstart");
    }
    let built_in = Experiment::built_in_quickstart(&sets(&["training.epochs=2"])).unwrap();
    assert_eq!(
        built_in.training.epochs, 2,
        "overrides apply to the built-in"
    );
    let named = Experiment::built_in_quickstart(&sets(&["output.name=\"mine\""])).unwrap();
    assert_eq!(named.name(), "mine", "a given name is kept");
    // What the README's quickstart table was made with.
    assert_eq!(built_in.model.modalities, [Modality::Text, Modality::Audio]);
    assert_eq!(
        (
            built_in.data.train_size,
            built_in.data.valid_size,
            built_in.data.test_size
        ),
        (2400, 400, 800)
    );
}

#[test]
fn empty_file_gives_the_documented_defaults() {
    let e = Experiment::from_toml_str("", &[], "x").unwrap();
    // The quickstart files say "every key is optional (defaults shown)": apart from its name,
    // the quickstart is the empty experiment.
    let mut quickstart = Experiment::load(&repo_path("experiments/quickstart.toml"), &[]).unwrap();
    quickstart.output.name = None;
    assert_eq!(
        quickstart, e,
        "experiments/quickstart.toml shows the defaults"
    );
    // Defaults the README and the experiment files state.
    assert_eq!(e.name(), "experiment");
    assert_eq!(e.run.seed, 42);
    assert_eq!(e.run.backend, BackendKind::Cpu);
    assert_eq!(e.data.dataset, DatasetKind::Synthetic);
    assert_eq!(e.model.modalities, [Modality::Text, Modality::Audio]);
    assert_eq!(e.training.epochs, 20);
    assert_eq!(e.training.batch_size, 32);
    assert_eq!(e.training.learning_rate, 1e-3);
    assert_eq!(e.training.grad_clip_norm, 1.0);
    assert_eq!(e.training.grad_accumulation, 1);
    assert_eq!(e.training.class_weights, ClassWeighting::InverseFrequency);
    // "best" is the best validation weighted F1, as the experiment files' comment says.
    assert_eq!(e.training.select_metric, SelectMetric::WeightedF1);
    assert_eq!(e.evaluation.checkpoint, CheckpointChoice::Best);
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
