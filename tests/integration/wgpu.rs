//! The WGPU backend against the CPU backend (built with `--features wgpu`; CI runs it on Mesa's
//! software Vulkan driver, lavapipe).

use burn::module::Module;
use burn::tensor::Device;
use emofuse::core::BackendKind;
use emofuse::data::batch::{FrontEnd, FusionBatcher};
use emofuse::data::synthetic::{SyntheticOptions, generate};
use emofuse::experiment::Experiment;

#[test]
fn wgpu_forward_matches_cpu() {
    let sets: Vec<String> = [
        "model.text_dim=32",
        "model.audio_channels=32",
        "model.projection_dim=32",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let experiment = Experiment::from_toml_str("", &sets, "wgpu-test").unwrap();
    let corpus = generate(&SyntheticOptions {
        seed: 5,
        train_size: 64,
        valid_size: 8,
        test_size: 16,
        sample_rate: 16_000,
        max_seconds: 1.5,
    });
    let (front, _) =
        FrontEnd::fit_transform(&corpus.train, &experiment.front_end_config()).unwrap();
    let examples = front.examples(&corpus.test).unwrap();
    let batcher = FusionBatcher::new(front.n_mels(), front.frames());

    let cpu = Device::flex();
    cpu.seed(3);
    let config = experiment.late_fusion_config(front.tokenizer.vocab_size(), vec![], 7);
    let model = config.init(&cpu).valid();
    let expected = model.forward(&batcher.batch(examples.clone(), &cpu));

    let gpu = emofuse::core::backend::device(BackendKind::Wgpu).unwrap();
    let model_gpu = model.to_device(&gpu);
    let actual = model_gpu.forward(&batcher.batch(examples, &gpu));

    let a: Vec<f32> = actual.into_data().try_to_vec().unwrap();
    let e: Vec<f32> = expected.into_data().try_to_vec().unwrap();
    assert_eq!(a.len(), 16 * 7);
    let max_diff = a
        .iter()
        .zip(&e)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    println!("max |wgpu - cpu| over {} logits: {max_diff:e}", a.len());
    assert!(max_diff < 1e-3, "WGPU and CPU logits differ by {max_diff}");
}

/// Largest difference allowed between the WGPU and the CPU backend on the fixture encoders.
const ENCODER_TOLERANCE: f32 = 1e-4;

fn wgpu_device() -> Device {
    emofuse::core::backend::device(BackendKind::Wgpu).expect("the wgpu feature is compiled in")
}

fn floats<const D: usize>(tensor: burn::tensor::Tensor<D>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_to_vec().unwrap()
}

/// Largest absolute difference; infinite when a value is NaN (f32::max would skip it).
fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let d = (x - y).abs();
            if d.is_nan() { f32::INFINITY } else { d }
        })
        .fold(0.0f32, f32::max)
}

/// The largest [`max_diff`] over paired hidden states (the same count on both sides).
fn worst_state(
    actual: Vec<burn::tensor::Tensor<3>>,
    expected: Vec<burn::tensor::Tensor<3>>,
) -> f32 {
    assert_eq!(actual.len(), expected.len());
    actual
        .into_iter()
        .zip(expected)
        .map(|(a, e)| max_diff(&floats(a), &floats(e)))
        .fold(0.0f32, f32::max)
}

#[test]
fn wgpu_text_encoders_match_cpu() {
    use crate::roberta::{fixture, reference_input};
    use emofuse::io::safetensors::SafetensorsFile;
    use emofuse::models::roberta::RobertaModel;
    let (cpu, gpu) = (Device::flex(), wgpu_device());
    for (model, reference) in [
        ("roberta-bare", "roberta_reference.safetensors"),
        ("bert-cls", "bert_reference.safetensors"),
    ] {
        let reference = SafetensorsFile::open(&fixture(reference)).unwrap();
        let output = |device: &Device| {
            let (encoder, _, _) = RobertaModel::from_pretrained(&fixture(model), device).unwrap();
            encoder.forward(reference_input(&reference, device))
        };
        let (expected, actual) = (output(&cpu), output(&gpu));
        let worst = worst_state(actual.hidden_states, expected.hidden_states);
        let pooled = max_diff(&floats(actual.pooled), &floats(expected.pooled));
        println!(
            "{model}: max |wgpu - cpu| over every hidden state {worst:.2e}, pooled {pooled:.2e}"
        );
        assert!(
            worst <= ENCODER_TOLERANCE && pooled <= ENCODER_TOLERANCE,
            "{model}: {worst} {pooled}"
        );
    }
}

#[test]
fn wgpu_wav2vec2_encoders_match_cpu_with_and_without_mask() {
    use crate::wav2vec2::{fixture, reference_input};
    use emofuse::io::safetensors::SafetensorsFile;
    use emofuse::models::wav2vec2::Wav2Vec2Model;
    let (cpu, gpu) = (Device::flex(), wgpu_device());
    // Group-norm conv + post-LN (base), layer-norm conv + pre-LN (large / XLS-R).
    for (model, reference) in [
        ("group-ctc", "group_reference.safetensors"),
        ("layer-bare", "layer_reference.safetensors"),
    ] {
        let reference = SafetensorsFile::open(&fixture(reference)).unwrap();
        for masked in [false, true] {
            let output = |device: &Device| {
                let (encoder, _, _) =
                    Wav2Vec2Model::from_pretrained(&fixture(model), device).unwrap();
                encoder.forward(reference_input(&reference, masked, device))
            };
            let (expected, actual) = (output(&cpu), output(&gpu));
            let features = max_diff(
                &floats(actual.extract_features),
                &floats(expected.extract_features),
            );
            let worst = worst_state(actual.hidden_states, expected.hidden_states);
            let pooled = max_diff(&floats(actual.pooled), &floats(expected.pooled));
            println!(
                "{model} (mask: {masked}): max |wgpu - cpu| conv features {features:.2e}, hidden states {worst:.2e}, pooled {pooled:.2e}"
            );
            assert!(
                features.max(worst).max(pooled) <= ENCODER_TOLERANCE,
                "{model} (mask: {masked}): {features} {worst} {pooled}"
            );
        }
    }
}

#[test]
fn wgpu_builds_the_frozen_trunk_cache_the_cpu_builds() {
    use crate::cache_key::{experiment, setup_and_inputs_on, utterances};
    let dir = crate::scratch_dir("wgpu-cache");
    let (text, audio) = (
        crate::repo_path("tests/fixtures/fusion/roberta-tiny"),
        crate::repo_path("tests/fixtures/fusion/wav2vec2-tiny"),
    );
    let sets = ["model.cache_dtype=\"f32\"".to_string()];
    let mut folders = Vec::new();
    for (name, device) in [("cpu", Device::flex()), ("wgpu", wgpu_device())] {
        let experiment = experiment(&dir, name, &text, &audio, &sets);
        setup_and_inputs_on(&experiment, &utterances(), &device);
        let mut caches: Vec<_> = std::fs::read_dir(&experiment.output.cache_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        caches.sort();
        assert_eq!(caches.len(), 2, "{caches:?}");
        folders.push(caches);
    }
    for (cpu, gpu) in folders[0].iter().zip(&folders[1]) {
        // Same key (the backend is not part of it), same rows per utterance.
        assert_eq!(cpu.file_name(), gpu.file_name());
        for file in ["key.json", "index.bin", "width", "complete"] {
            assert_eq!(
                std::fs::read(cpu.join(file)).unwrap(),
                std::fs::read(gpu.join(file)).unwrap(),
                "{}: {file}",
                cpu.display()
            );
        }
        let values = |dir: &std::path::Path| -> Vec<f32> {
            std::fs::read(dir.join("data.bin"))
                .unwrap()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect()
        };
        let (e, a) = (values(cpu), values(gpu));
        assert!(!e.is_empty());
        let diff = max_diff(&a, &e);
        println!(
            "{}: {} values, max |wgpu - cpu| {diff:.2e}",
            cpu.file_name().unwrap().to_string_lossy(),
            e.len()
        );
        assert!(diff <= ENCODER_TOLERANCE, "{}: {diff}", cpu.display());
    }
}

/// Study A's late fusion on the fixture encoders (last layer of each trainable, frozen trunks
/// cached, no dropout), trained one epoch on each backend.
fn train_on(dir: &std::path::Path, name: &str, backend: &str) -> emofuse::pipeline::RunSummary {
    let text = crate::fusion::without_dropout("roberta-tiny", dir);
    let audio = crate::fusion::without_dropout("wav2vec2-tiny", dir);
    let backend = format!("run.backend=\"{backend}\"");
    let experiment = crate::fusion::fusion(
        dir,
        name,
        &text,
        &audio,
        &[
            "model.dropout=0.0",
            "model.cache_frozen=true",
            "model.cache_dtype=\"f32\"",
            "training.epochs=1",
            &backend,
        ],
    );
    emofuse::pipeline::train(&experiment, Default::default())
        .unwrap()
        .unwrap()
}

#[test]
fn wgpu_trains_study_a_as_the_cpu_does_and_predicts_and_serves() {
    let _turn = crate::ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let dir = crate::scratch_dir("wgpu-train");
    let cpu = train_on(&dir, "cpu", "cpu");
    let gpu = train_on(&dir, "wgpu", "wgpu");
    // The initial weights are drawn on the CPU for both; the epoch differs by rounding only.
    let (c, g) = (&cpu.history[0], &gpu.history[0]);
    println!("one epoch, cpu: {c:?}\none epoch, wgpu: {g:?}");
    assert!((c.train_loss - g.train_loss).abs() < 1e-4, "{c:?} vs {g:?}");
    assert!((c.valid_loss - g.valid_loss).abs() < 1e-4, "{c:?} vs {g:?}");
    assert_eq!(c.valid_accuracy, g.valid_accuracy);
    assert_eq!(c.valid_weighted_f1, g.valid_weighted_f1);
    for ((split, a), (_, b)) in cpu.results.iter().zip(&gpu.results) {
        assert_eq!(a.confusion_matrix, b.confusion_matrix, "{split:?}");
    }

    // The CPU run's model predicts on WGPU what it predicts on the CPU.
    let run = cpu.run_dir.to_str().unwrap();
    let audio = dir.join("tone.wav");
    std::fs::write(&audio, crate::serve::wav(16_000, 0.4, 220.0)).unwrap();
    let predict_in = |backend: &str, precision: &str| -> Vec<f64> {
        let (ok, out) = crate::run_emofuse(&[
            "predict",
            "--run",
            run,
            "--text",
            "what a lovely day",
            "--audio",
            audio.to_str().unwrap(),
            "--json",
            "--backend",
            backend,
            "--precision",
            precision,
        ]);
        assert!(ok, "{out}");
        let start = out.find('{').unwrap();
        let answer: serde_json::Value = serde_json::from_str(&out[start..]).unwrap();
        crate::serve::probabilities(&answer)
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    };
    let predict = |backend: &str| predict_in(backend, "f32");
    let (on_cpu, on_gpu) = (predict("cpu"), predict("wgpu"));
    let diff = on_cpu
        .iter()
        .zip(&on_gpu)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    println!("predict, max |wgpu - cpu| probability {diff:.2e}");
    assert_eq!(on_cpu.len(), 7);
    assert!(diff < 1e-5, "{on_cpu:?} vs {on_gpu:?}");
    // In half precision: the encoders' safetensors and the trained top's model.bpk are cast as
    // they load; the probabilities move by rounding only.
    let in_f16 = predict_in("wgpu", "f16");
    let diff = in_f16
        .iter()
        .zip(&on_gpu)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    println!("predict, max |f16 - f32| probability on wgpu {diff:.2e}");
    assert!(diff > 1e-6 && diff < 1e-2, "{in_f16:?} vs {on_gpu:?}");

    // emofuse serve --backend wgpu answers the same.
    let server = crate::serve::ServeProcess::start_with(&cpu.run_dir, &["--backend", "wgpu"]);
    let addr = server
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let tone = crate::serve::wav(16_000, 0.4, 220.0);
    let body = crate::serve::form(&[
        crate::serve::Part::Text("text", "what a lovely day"),
        crate::serve::Part::File("audio", "tone.wav", &tone),
    ]);
    let (status, answer) = crate::serve::http(
        addr.parse().unwrap(),
        "POST",
        "/api/predict",
        &format!("multipart/form-data; boundary={}", crate::serve::BOUNDARY),
        &body,
    );
    assert_eq!(status, 200, "{answer}");
    let served: Vec<f64> = crate::serve::probabilities(&answer)
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let diff = served
        .iter()
        .zip(&on_gpu)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(diff < 1e-6, "{served:?} vs {on_gpu:?}");
}

/// `emofuse forward text` on the RoBERTa fixture's reference batch, writing `out`.
fn run_forward_text(out: &std::path::Path, extra: &[&str]) -> (bool, String) {
    let model = crate::roberta::fixture("roberta-bare");
    let inputs = crate::roberta::fixture("roberta_reference.safetensors");
    let mut args = vec![
        "forward",
        "text",
        "--model",
        model.to_str().unwrap(),
        "--inputs",
        inputs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    crate::run_emofuse(&args)
}

/// The `last_hidden_state` that [`run_forward_text`] wrote.
fn last_hidden_state(out: &std::path::Path) -> Vec<f32> {
    emofuse::io::safetensors::SafetensorsFile::open(out)
        .unwrap()
        .f32("last_hidden_state")
        .unwrap()
        .1
}

/// [`run_forward_text`], which must succeed: its `last_hidden_state`.
fn forward_text(out: &std::path::Path, extra: &[&str]) -> Vec<f32> {
    let (ok, output) = run_forward_text(out, extra);
    assert!(ok, "{output}");
    last_hidden_state(out)
}

#[test]
fn wgpu_half_precision_stays_near_f32_and_unsupported_types_are_clear_errors() {
    let dir = crate::scratch_dir("wgpu-f16");
    let f32_out = forward_text(&dir.join("f32.safetensors"), &["--backend", "wgpu"]);
    let f16_out = forward_text(
        &dir.join("f16.safetensors"),
        &["--backend", "wgpu", "--precision", "f16"],
    );
    let diff = max_diff(&f16_out, &f32_out);
    let scale = f32_out.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    println!(
        "roberta fixture, f16 vs f32 on wgpu: max |diff| {diff:.2e} (largest |value| {scale:.2})"
    );
    // Computed in half precision (not silently in f32), and close to f32.
    assert!(diff > 1e-5 && diff < 2e-2 * scale.max(1.0), "{diff}");

    // bfloat16: computed where the adapter has it, otherwise an error that says so.
    let bf16_file = dir.join("bf16.safetensors");
    let (ok, out) = run_forward_text(&bf16_file, &["--backend", "wgpu", "--precision", "bf16"]);
    if ok {
        let bf16_out = last_hidden_state(&bf16_file);
        let diff = max_diff(&bf16_out, &f32_out);
        println!("roberta fixture, bf16 vs f32 on wgpu: max |diff| {diff:.2e}");
        assert!(diff > 1e-5 && diff < 1e-1 * scale.max(1.0), "{diff}");
    } else {
        println!("bf16 on this adapter: {out}");
        assert!(out.contains("does not support bf16"), "{out}");
        assert!(!bf16_file.exists());
    }
}

#[test]
fn wgpu_device_check_reports_parity_and_throughput() {
    let (ok, out) = crate::run_emofuse(&[
        "bench",
        "device",
        "--backend",
        "wgpu",
        "--layers",
        "1",
        "--batches",
        "1,2",
        "--tokens",
        "16",
        "--seconds",
        "0.5",
        "--repeats",
        "1",
        "--vocab",
        "1000",
    ]);
    assert!(ok, "{out}");
    println!("{out}");
    let line = out.lines().find(|l| l.starts_with("RESULT ")).unwrap();
    let result: serde_json::Value = serde_json::from_str(&line[7..]).unwrap();
    for key in ["parity_text", "parity_audio"] {
        let diff = result[key].as_f64().unwrap();
        assert!(diff < 1e-4, "{key}: {diff}");
    }
    let rows = result["forward"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "two encoders x two batch sizes");
    assert!(rows.iter().all(|r| r["ms"].as_f64().unwrap() > 0.0));
}

#[test]
fn wgpu_builds_half_precision_trunk_caches_that_an_f16_run_trains_on() {
    use crate::cache_shards::{emofuse, folders};
    let dir = crate::scratch_dir("wgpu-f16-cache");
    let cache = dir.join("cache");
    let f16 = [
        "--set",
        "run.precision=\"f16\"",
        "--set",
        "training.epochs=1",
    ];
    // Training (f32) does not compute half-precision trunks itself: it says how to build them.
    let (ok, out) = emofuse("train", &cache, &f16);
    assert!(
        !ok && out.contains("emofuse cache <experiment> --precision f16"),
        "{out}"
    );

    let (ok, out) = emofuse(
        "cache",
        &cache,
        &["--backend", "wgpu", "--precision", "f16"],
    );
    assert!(ok, "{out}");
    let (ok, out) = emofuse("cache", &cache, &["--backend", "wgpu"]);
    assert!(ok, "{out}");
    // One folder per branch, split and precision: the key says which.
    let names = folders(&cache);
    assert_eq!(names.len(), 12, "{names:?}");
    let mut worst = 0.0f32;
    for name in names.iter().filter(|n| n.contains("-train-")) {
        let key = std::fs::read_to_string(cache.join(name).join("key.json")).unwrap();
        if !key.contains("\"precision\": \"f16\"") {
            continue;
        }
        // Its f32 twin: the same branch and split without the precision in the key.
        let twin = names
            .iter()
            .find(|n| {
                n.starts_with(&name[..name.rfind('-').unwrap()])
                    && !std::fs::read_to_string(cache.join(n).join("key.json"))
                        .unwrap()
                        .contains("precision")
            })
            .unwrap();
        let values = |folder: &str| -> Vec<f32> {
            std::fs::read(cache.join(folder).join("data.bin"))
                .unwrap()
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect()
        };
        let (half, full) = (values(name), values(twin));
        let scale = full.iter().fold(1.0f32, |m, x| m.max(x.abs()));
        let diff = max_diff(&half, &full) / scale;
        println!(
            "{name}: trunk computed in f16 vs f32, max |diff| / max(1, largest |value| {scale:.2}) = {diff:.2e}"
        );
        worst = worst.max(diff);
    }
    assert!(worst > 0.0 && worst < 2e-2, "{worst}");

    // The f16 run trains on those caches without computing a trunk.
    let (ok, out) = emofuse("train", &cache, &f16);
    assert!(ok, "{out}");
    assert!(!out.contains("computing the frozen"), "{out}");
    assert!(out.contains("key matches"), "{out}");
}
