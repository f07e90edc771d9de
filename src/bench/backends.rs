//! `emofuse bench backends`: CPU backends on a transformer-sized workload.
//!
//! A roberta-base-sized encoder layer stack (hidden 768, 12 heads, FFN 3072) at batch x tokens,
//! forward in eval mode and a training step (forward + backward), plus the quickstart audio
//! encoder's convolutions. Every compiled-in CPU backend runs the same work; times are reported
//! with their ratio to burn-flex, the default.

use crate::models::fusion::DilatedAudioCnnConfig;
use burn::module::Module;
use burn::nn::transformer::{TransformerEncoderConfig, TransformerEncoderInput};
use burn::tensor::{Device, Distribution, Tensor};
use std::time::Instant;

/// Workload sizes.
#[derive(Debug, Clone, clap::Args)]
pub struct BackendBenchArgs {
    /// Sequences per batch.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Tokens per sequence.
    #[arg(long, default_value_t = 128)]
    pub tokens: usize,
    /// Transformer layers (roberta-base has 12; 2 keeps the run short).
    #[arg(long, default_value_t = 2)]
    pub layers: usize,
    /// Timed repetitions (after one warm-up).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
}

fn time<F: FnMut()>(repeats: usize, mut f: F) -> f64 {
    f(); // warm-up: allocations, kernel selection
    let start = Instant::now();
    for _ in 0..repeats {
        f();
    }
    start.elapsed().as_secs_f64() * 1000.0 / repeats as f64
}

/// Milliseconds per (transformer forward, transformer train step, audio train step).
fn measure(device: &Device, args: &BackendBenchArgs) -> [f64; 3] {
    device.seed(0);
    let config = TransformerEncoderConfig::new(768, 3072, 12, args.layers).with_dropout(0.0);
    let eval = config.init(device);
    let input = Tensor::<3>::random(
        [args.batch, args.tokens, 768],
        Distribution::Default,
        device,
    );
    let forward = time(args.repeats, || {
        let out = eval.forward(TransformerEncoderInput::new(input.clone()));
        let _ = out.sum().into_scalar::<f32>();
    });

    let ad = device.clone().autodiff();
    let train = config.init(&ad);
    let input_ad = Tensor::<3>::random([args.batch, args.tokens, 768], Distribution::Default, &ad);
    let step = time(args.repeats, || {
        let out = train.forward(TransformerEncoderInput::new(input_ad.clone()));
        let grads = out.sum().backward();
        drop(grads);
    });

    let audio = DilatedAudioCnnConfig::new(40, 64).init(&ad);
    let feats = Tensor::<3>::random([32, 40, 151], Distribution::Default, &ad);
    let mask = Tensor::<2>::ones([32, 151], &ad);
    let audio_step = time(args.repeats, || {
        let grads = audio.forward(feats.clone(), mask.clone()).sum().backward();
        drop(grads);
    });
    let _ = train.num_params();
    [forward, step, audio_step]
}

/// CPU backends compiled into this binary, by name.
fn cpu_backends() -> Vec<(&'static str, Device)> {
    #[allow(unused_mut)]
    let mut out = vec![("flex", Device::flex())];
    // burn-ndarray is deprecated upstream; it stays here only to be measured against.
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)]
    out.push(("ndarray", Device::ndarray()));
    out
}

/// Runs the benchmark and prints a table.
pub fn run(args: &BackendBenchArgs) {
    println!(
        "workload: transformer {} layers, hidden 768, 12 heads, FFN 3072, batch {} x {} tokens; \
         audio CNN 40 mels x 151 frames, batch 32; {} repeats (ms per call)",
        args.layers, args.batch, args.tokens, args.repeats
    );
    let backends = cpu_backends();
    if backends.len() == 1 {
        println!(
            "only burn-flex is compiled in; add `--features ndarray` to compare with burn-ndarray"
        );
    }
    let mut reference: Option<[f64; 3]> = None;
    println!(
        "{:<8} {:>14} {:>14} {:>14}",
        "backend", "fwd (ms)", "train (ms)", "audio (ms)"
    );
    for (name, device) in backends {
        let t = measure(&device, args);
        let r = *reference.get_or_insert(t);
        println!(
            "{name:<8} {:>7.1} ({:.2}x) {:>7.1} ({:.2}x) {:>7.1} ({:.2}x)",
            t[0],
            t[0] / r[0],
            t[1],
            t[1] / r[1],
            t[2],
            t[2] / r[2]
        );
    }
    println!("ratios are time / burn-flex time: above 1 is slower than burn-flex");
}
