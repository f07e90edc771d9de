//! `emofuse bench text`: forward throughput of a roberta-base-sized encoder (random weights) on
//! the CPU backend, for `benches/text_forward_vs_torch.py`, which runs PyTorch on the same
//! workload in the same script and prints the ratio.
//!
//! The timed forward is the encoder as a frozen trunk ([`Trunks::text`]: what the cache build,
//! uncached training and `predict` run, the batch split between the threads), next to the
//! same forward with the whole batch in one part.
//!
//! Prints a human-readable line and a last line `RESULT {json}` with `ms_per_forward` (mean),
//! `ms_min`, `ms_per_forward_one_part`, `sequences_per_s`, `tokens_per_s` and `peak_rss_mib` (the process's peak resident
//! memory, `VmHWM`).

use crate::bench::peak_rss_mib;
use crate::inference::trunk::Trunks;
use crate::models::finetune::TrainLayers;
use crate::models::fusion::TextInput;
use crate::models::nn::set_batch_split;
use crate::models::roberta::RobertaConfig;
use burn::tensor::{Device, Distribution, Int, Tensor};

/// Workload sizes.
#[derive(Debug, Clone, clap::Args)]
pub struct TextBenchArgs {
    /// Sequences per batch.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Tokens per sequence.
    #[arg(long, default_value_t = 128)]
    pub tokens: usize,
    /// Transformer layers (roberta-base: 12).
    #[arg(long, default_value_t = 12)]
    pub layers: usize,
    /// Timed repetitions (after `--warmup` untimed ones).
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Untimed warm-up repetitions.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
}

/// Runs the benchmark and prints its result.
pub fn run(args: &TextBenchArgs) {
    let device = Device::flex();
    device.seed(0);
    let mut config = RobertaConfig::roberta_base();
    config.num_layers = args.layers;
    let model = config.init(&device);
    let ids = Tensor::<2>::random(
        [args.batch, args.tokens],
        Distribution::Uniform(3.0, (config.vocab_size - 1) as f64),
        &device,
    )
    .int();
    let mask = Tensor::<2, Int>::ones([args.batch, args.tokens], &device);
    // The users' path: the whole encoder as a frozen trunk (what the cache build, uncached
    // training and `predict` run), which splits the batch between the threads.
    let (trunk, _) = model.clone().split(TrainLayers::Last(0));
    let trunks = Trunks {
        text: Some(trunk),
        audio: None,
        ..Trunks::default()
    };
    let through_trunk = || {
        let out = trunks.text(TextInput::Tokens {
            ids: ids.clone(),
            mask: mask.clone(),
        });
        if let TextInput::Hidden { states, .. } = out {
            // Reading a value back waits for the work to finish.
            let _ = states.sum().into_scalar::<f32>();
        }
    };
    let (mean, min) = super::time_ms(args.warmup, args.repeats, through_trunk);
    // The peak of the timed path, before the comparisons below add their own.
    let peak = peak_rss_mib();
    // The same with the batch in one part.
    set_batch_split(false);
    let (one_part_mean, _) = super::time_ms(0, args.repeats.min(2), through_trunk);
    set_batch_split(true);
    let sequences = args.batch as f64 / (mean / 1000.0);
    println!(
        "emofuse (burn-flex, {} threads): roberta-base-sized, {} layers, batch {} x {} tokens: \
         {mean:.1} ms per forward as a frozen trunk (min {min:.1}; {one_part_mean:.1} ms with \
         the batch in one part), {sequences:.1} sequences/s, peak RSS {}",
        rayon::current_num_threads(),
        args.layers,
        args.batch,
        args.tokens,
        peak.map_or("unknown".into(), |p| format!("{p:.0} MiB"))
    );
    println!(
        "RESULT {}",
        serde_json::json!({
            "ms_per_forward": mean,
            "ms_min": min,
            "ms_per_forward_one_part": one_part_mean,
            "sequences_per_s": sequences,
            "tokens_per_s": sequences * args.tokens as f64,
            "peak_rss_mib": peak,
            "threads": rayon::current_num_threads(),
            "batch": args.batch,
            "tokens": args.tokens,
            "layers": args.layers,
        })
    );
}
