//! `emofuse bench features`: MFCC throughput on clips already decoded into memory, single-
//! threaded and on all threads, so that `benches/audio/bench_vs_references.py` can compare it
//! with librosa's `feature.mfcc` on the same in-memory audio (no I/O on either side).
//!
//! Prints a human-readable line and a last line `RESULT {json}`.

use crate::audio::load_waveform;
use crate::bench::peak_rss_mib;
use crate::features::extract::collect_inputs;
use crate::features::{LogMelConfig, Mfcc};
use anyhow::Result;
use rayon::prelude::*;
use std::path::PathBuf;
use std::time::Instant;

/// Inputs and MFCC parameters.
#[derive(Debug, Clone, clap::Args)]
pub struct FeatureBenchArgs {
    /// Audio files or folders.
    #[arg(long, required = true, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// Sample rate the clips are decoded to.
    #[arg(long, default_value_t = 16_000)]
    pub sample_rate: u32,
    /// MFCC coefficients.
    #[arg(long, default_value_t = 13)]
    pub n_mfcc: usize,
    /// FFT size.
    #[arg(long, default_value_t = 400)]
    pub n_fft: usize,
    /// Hop length.
    #[arg(long, default_value_t = 160)]
    pub hop_length: usize,
    /// Mel bands.
    #[arg(long, default_value_t = 40)]
    pub n_mels: usize,
    /// Timed repetitions; the best is reported.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
}

/// Runs the benchmark.
pub fn run(args: &FeatureBenchArgs) -> Result<()> {
    let inputs = collect_inputs(&args.input)?;
    let clips: Vec<Vec<f32>> = inputs
        .par_iter()
        .map(|(_, path)| load_waveform(path, args.sample_rate).map(|(samples, _)| samples))
        .collect::<Result<_>>()?;
    let config = LogMelConfig {
        n_fft: args.n_fft,
        hop_length: args.hop_length,
        n_mels: args.n_mels,
        ..LogMelConfig::librosa(args.sample_rate)
    };
    let mfcc = Mfcc::new(config, args.n_mfcc);
    let best = |parallel: bool| {
        (0..args.repeats.max(1))
            .map(|_| {
                let start = Instant::now();
                let frames: usize = if parallel {
                    clips.par_iter().map(|c| mfcc.compute(c).len()).sum()
                } else {
                    clips.iter().map(|c| mfcc.compute(c).len()).sum()
                };
                std::hint::black_box(frames);
                start.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    };
    let single = best(false);
    let parallel = best(true);
    let seconds_audio: f64 =
        clips.iter().map(|c| c.len() as f64).sum::<f64>() / args.sample_rate as f64;
    let threads = rayon::current_num_threads();
    println!(
        "emofuse MFCC on {} in-memory clips ({seconds_audio:.1} s of audio): {:.3} s on 1 thread \
         ({:.1} clips/s), {:.3} s on {threads} threads ({:.1} clips/s)",
        clips.len(),
        single,
        clips.len() as f64 / single,
        parallel,
        clips.len() as f64 / parallel
    );
    println!(
        "RESULT {}",
        serde_json::json!({
            "clips": clips.len(),
            "audio_seconds": seconds_audio,
            "seconds_single_thread": single,
            "seconds_all_threads": parallel,
            "threads": threads,
            "peak_rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}
