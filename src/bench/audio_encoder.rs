//! `emofuse bench wav2vec2`: forward throughput of a wav2vec2-base-sized encoder (random
//! weights) on the CPU backend, for `benches/wav2vec2_forward_vs_torch.py`, which runs PyTorch
//! on the same workload in the same script and prints the ratio.
//!
//! Prints a human-readable line and a last line `RESULT {json}` with `ms_per_forward` (mean),
//! `ms_min`, `ms_conv_features` (the conv feature encoder alone, timed once), `clips_per_s`, `audio_seconds_per_s` and `peak_rss_mib` (the process's peak
//! resident memory, `VmHWM`).

use crate::bench::peak_rss_mib;
use crate::models::wav2vec2::{Wav2Vec2Config, Wav2Vec2Input};
use burn::tensor::{Device, Distribution, Tensor};
use std::time::Instant;

/// Workload sizes.
#[derive(Debug, Clone, clap::Args)]
pub struct Wav2Vec2BenchArgs {
    /// Clips per batch.
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Seconds of 16 kHz audio per clip.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Transformer layers (wav2vec2-base: 12).
    #[arg(long, default_value_t = 12)]
    pub layers: usize,
    /// Timed repetitions (after `--warmup` untimed ones).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Untimed warm-up repetitions.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
}

/// Runs the benchmark and prints its result.
pub fn run(args: &Wav2Vec2BenchArgs) {
    let device = Device::flex();
    device.seed(0);
    let mut config = Wav2Vec2Config::wav2vec2_base();
    config.num_layers = args.layers;
    let model = config.init(&device);
    let samples = ((args.seconds * 16_000.0).round() as usize).max(config.min_samples());
    let input = Tensor::<2>::random(
        [args.batch, samples],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let forward = || {
        let out = model.forward(Wav2Vec2Input::new(input.clone()));
        // Reading a value back waits for the work to finish.
        let _ = out.pooled.sum().into_scalar::<f32>();
    };
    let (mean, min) = super::time_ms(args.warmup, args.repeats, forward);
    // The conv feature encoder alone, once (where the time goes).
    let start = Instant::now();
    let _ = model
        .conv_features(input.clone())
        .sum()
        .into_scalar::<f32>();
    let conv_ms = start.elapsed().as_secs_f64() * 1000.0;
    let clips = args.batch as f64 / (mean / 1000.0);
    let peak = peak_rss_mib();
    println!(
        "emofuse (burn-flex, {} threads): wav2vec2-base-sized, {} layers, batch {} x {:.1} s \
         ({} frames): {mean:.1} ms per forward (min {min:.1}; conv feature encoder {conv_ms:.1}), \
         {clips:.2} clips/s, peak RSS {}",
        rayon::current_num_threads(),
        args.layers,
        args.batch,
        samples as f64 / 16_000.0,
        config.frames(samples),
        peak.map_or("unknown".into(), |p| format!("{p:.0} MiB"))
    );
    println!(
        "RESULT {}",
        serde_json::json!({
            "ms_per_forward": mean,
            "ms_min": min,
            "ms_conv_features": conv_ms,
            "clips_per_s": clips,
            "audio_seconds_per_s": clips * samples as f64 / 16_000.0,
            "peak_rss_mib": peak,
            "threads": rayon::current_num_threads(),
            "batch": args.batch,
            "samples": samples,
            "frames": config.frames(samples),
            "layers": args.layers,
        })
    );
}
