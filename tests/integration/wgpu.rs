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
