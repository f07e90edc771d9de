//! `emofuse bench wav2vec2`: forward throughput of a wav2vec2-base-sized encoder (random
//! weights) on the CPU backend, for `benches/wav2vec2_forward_vs_torch.py`, which runs PyTorch
//! on the same workload in the same script and prints the ratio.
//!
//! The timed forward is the encoder as a frozen trunk ([`Trunks::audio`]: what the cache build,
//! uncached training and `predict` run, the batch split between the threads, all-ones mask),
//! next to the same forward with the whole batch in one part.
//!
//! Prints a human-readable line and a last line `RESULT {json}` with `ms_per_forward` (mean),
//! `ms_min`, `ms_per_forward_one_part`, `ms_conv_features` (the conv feature encoder alone,
//! mean of two), the same through burn-flex's conv1d (`ms_conv_features_conv1d`) and the
//! largest difference between the two (`conv_paths_max_abs_difference`), `clips_per_s`, `audio_seconds_per_s` and `peak_rss_mib`
//! (the process's peak resident memory, `VmHWM`).

use crate::bench::peak_rss_mib;
use crate::inference::trunk::Trunks;
use crate::models::finetune::TrainLayers;
use crate::models::nn::set_batch_split;
use crate::models::wav2vec2::{AudioState, ConvPath, Wav2Vec2Config};
use burn::tensor::{Device, Distribution, Int, Tensor};

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
    // The users' path: the whole encoder as a frozen trunk (what the cache build, uncached
    // training and `predict` run), which splits the batch between the threads.
    let (trunk, _) = model.clone().split(TrainLayers::Last(0), false);
    let trunks = Trunks {
        text: None,
        audio: Some(trunk),
        ..Trunks::default()
    };
    let mask = Tensor::<2, Int>::ones([args.batch, samples], &device);
    let through_trunk = || {
        let out = trunks.audio(AudioState::Waveform {
            values: input.clone(),
            attention_mask: mask.clone(),
        });
        if let AudioState::Hidden { x, .. } = out {
            // Reading a value back waits for the work to finish.
            let _ = x.sum().into_scalar::<f32>();
        }
    };
    let (mean, min) = super::time_ms(args.warmup, args.repeats, through_trunk);
    // The peak of the timed path, before the comparisons below add their own.
    let peak = peak_rss_mib();
    // The same with the batch in one part.
    set_batch_split(false);
    let (one_part_mean, _) = super::time_ms(0, args.repeats.min(2), through_trunk);
    set_batch_split(true);
    // The conv feature encoder alone (where the time goes), by both convolution paths: the
    // GEMM formulation the CPU uses and burn-flex's conv1d.
    let conv_ms = |path: ConvPath| {
        let (mean, _) = super::time_ms(0, 2, || {
            let _ = model
                .conv_features_with(input.clone(), path)
                .sum()
                .into_scalar::<f32>();
        });
        mean
    };
    let conv_ms_matmul = conv_ms(ConvPath::Matmul);
    let conv_ms_conv1d = conv_ms(ConvPath::Conv1d);
    let conv_difference = model
        .conv_features_with(input.clone(), ConvPath::Matmul)
        .sub(model.conv_features_with(input.clone(), ConvPath::Conv1d))
        .abs()
        .max()
        .into_scalar::<f32>();
    let clips = args.batch as f64 / (mean / 1000.0);
    println!(
        "emofuse (burn-flex, {} threads): wav2vec2-base-sized, {} layers, batch {} x {:.1} s \
         ({} frames): {mean:.1} ms per forward as a frozen trunk (min {min:.1}; {one_part_mean:.1} \
         ms with the batch in one part); conv feature encoder \
         {conv_ms_matmul:.1} ms as GEMM, {conv_ms_conv1d:.1} ms by burn-flex's conv1d (max abs \
         difference {conv_difference:.1e}); {clips:.2} clips/s, peak RSS {}",
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
            "ms_per_forward_one_part": one_part_mean,
            "ms_conv_features": conv_ms_matmul,
            "ms_conv_features_conv1d": conv_ms_conv1d,
            "conv_paths_max_abs_difference": conv_difference,
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
