//! `emofuse bench device`: a one-shot check of a GPU backend, for a machine lent for a few
//! minutes (`benches/device_check.sh` runs it with `bench fusion --backend`):
//! 1. parity: a 2-layer roberta-base-wide and wav2vec2-base-wide encoder (random weights drawn
//!    on the CPU, padded batches with attention masks) on the device against the CPU backend;
//! 2. throughput: the forward pass of roberta-base and wav2vec2-base sized encoders (random
//!    weights) at each `--batches` size, `--tokens` tokens or `--seconds` of 16 kHz audio.
//!
//! One precision per process (`--precision`): burn fixes a device's float type before its
//! first tensor, so the script runs the command once per precision. Prints a table and a last
//! line `RESULT {json}`.

use crate::core::backend::{self, BackendKind, Precision};
use crate::models::roberta::{RobertaConfig, RobertaInput, RobertaModel};
use crate::models::wav2vec2::{Wav2Vec2Config, Wav2Vec2Input, Wav2Vec2Model};
use anyhow::{Result, bail};
use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde_json::json;
use std::time::Instant;

/// What to check.
#[derive(Debug, Clone, clap::Args)]
pub struct DeviceBenchArgs {
    /// Backend to check (it must be compiled in: `--features wgpu` or `cuda`).
    #[arg(long, value_enum, default_value_t = BackendKind::Wgpu)]
    pub backend: BackendKind,
    /// Float type the device computes in (run the command again for another).
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub precision: Precision,
    /// Transformer layers of the throughput encoders (roberta-base, wav2vec2-base: 12).
    #[arg(long, default_value_t = 12)]
    pub layers: usize,
    /// Batch sizes of the throughput runs.
    #[arg(long, value_delimiter = ',', default_value = "8,32")]
    pub batches: Vec<usize>,
    /// Tokens per text sequence.
    #[arg(long, default_value_t = 128)]
    pub tokens: usize,
    /// Vocabulary of the throughput text encoder (roberta-base: 50265; software drivers may
    /// not allocate its 154 MB embedding table in one buffer).
    #[arg(long, default_value_t = 50265)]
    pub vocab: usize,
    /// Seconds of 16 kHz audio per clip.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f32,
    /// Timed forwards per batch size (after one untimed warm-up); the median is reported.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
}

/// Moves every float parameter to a device, cast to its float type (weights drawn on the CPU
/// in f32 are cast once, as loading a checkpoint does).
struct ToDevice<'a> {
    device: &'a Device,
}

impl ModuleMapper for ToDevice<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.device.settings().float_dtype;
        param.map(|t| t.to_device(self.device).cast(dtype))
    }
}

fn moved<M: Module>(module: M, device: &Device) -> M {
    module.map(&mut ToDevice { device })
}

/// Values of a float tensor as f32, or the device's error (an allocation it could not make).
fn values<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    let data = t
        .try_into_data()
        .map_err(|e| anyhow::anyhow!("the device failed: {e}"))?;
    Ok(data
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("converted to f32"))
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Deterministic token ids in `3..vocab` (generated on the CPU as integers: a half-precision
/// random draw would round large ids).
fn ids(batch: usize, tokens: usize, vocab: usize, device: &Device) -> Tensor<2, Int> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let values: Vec<i64> = (0..batch * tokens)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            3 + ((state >> 33) % (vocab as u64 - 3)) as i64
        })
        .collect();
    Tensor::from_data(TensorData::new(values, [batch, tokens]), device)
}

/// A batch of `batch` clips of `samples` samples (tones, one per row).
fn audio(batch: usize, samples: usize, device: &Device) -> Tensor<2> {
    let values: Vec<f32> = (0..batch * samples)
        .map(|i| {
            let (row, t) = (i / samples, i % samples);
            0.3 * (t as f32 * 0.01 * (row + 2) as f32).sin()
        })
        .collect();
    Tensor::from_data(TensorData::new(values, [batch, samples]), device)
}

/// A `[batch, length]` mask whose second row is valid for its first half only.
fn half_padded_mask(batch: usize, length: usize, device: &Device) -> Tensor<2, Int> {
    let values: Vec<i64> = (0..batch * length)
        .map(|i| i64::from(!(i / length == 1 && i % length >= length / 2)))
        .collect();
    Tensor::from_data(TensorData::new(values, [batch, length]), device)
}

/// Parity of the text and the audio encoder on `gpu` against the CPU: (text, audio) largest
/// differences of the last hidden state over the valid positions and padding alike.
fn parity(gpu: &Device) -> Result<(f32, f32)> {
    let cpu = Device::flex();
    cpu.seed(7);
    let mut text_config = RobertaConfig::roberta_base();
    text_config.num_layers = 2;
    // A small vocabulary: the embedding table is not what is compared, and software drivers
    // cap a buffer below roberta-base's 154 MB table.
    text_config.vocab_size = PARITY_VOCAB;
    let mut audio_config = Wav2Vec2Config::wav2vec2_base();
    audio_config.num_layers = 2;
    let text = text_config.init(&cpu);
    let audio_model = audio_config.init(&cpu);
    let text_out = |model: &RobertaModel, device: &Device| {
        let input = RobertaInput::new(
            ids(2, 48, text_config.vocab_size, device),
            half_padded_mask(2, 48, device),
        );
        values(model.forward(input).last_hidden_state)
    };
    let audio_out = |model: &Wav2Vec2Model, device: &Device| {
        let input = Wav2Vec2Input::new(audio(2, 16_000, device))
            .with_attention_mask(half_padded_mask(2, 16_000, device));
        values(model.forward(input).last_hidden_state)
    };
    let text_diff = max_diff(
        &text_out(&moved(text.clone(), gpu), gpu)?,
        &text_out(&text, &cpu)?,
    );
    let audio_diff = max_diff(
        &audio_out(&moved(audio_model.clone(), gpu), gpu)?,
        &audio_out(&audio_model, &cpu)?,
    );
    Ok((text_diff, audio_diff))
}

/// Vocabulary of the parity check's text encoder.
const PARITY_VOCAB: usize = 1000;

/// Median milliseconds of `repeats` calls of `f`, after one untimed call.
fn median_ms(repeats: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut times = Vec::new();
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        f()?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Runs the check and prints its table.
pub fn run(args: &DeviceBenchArgs) -> Result<()> {
    if args.backend == BackendKind::Cpu {
        bail!(
            "--backend cpu: the device check compares a GPU backend with the CPU; pass --backend wgpu or cuda"
        );
    }
    if args.batches.contains(&0)
        || args.layers == 0
        || args.tokens == 0
        || args.vocab < 4
        || args.seconds <= 0.0
    {
        bail!("--batches, --layers, --tokens and --seconds must be positive, --vocab at least 4");
    }
    let started = Instant::now();
    let gpu = backend::device_with(args.backend, args.precision)?;
    let precision = args.precision.as_str();
    println!(
        "device check: {} ({:?}), {precision}",
        args.backend.as_str(),
        gpu
    );
    let (text_diff, audio_diff) = parity(&gpu)?;
    println!(
        "parity against the CPU (2-layer encoders, random weights, padded batch of 2, f32 on \
         the CPU): text max |diff| {text_diff:.2e}, audio {audio_diff:.2e}"
    );

    // Throughput: random weights drawn on the device (no comparison needed).
    gpu.seed(0);
    let mut text_config = RobertaConfig::roberta_base();
    text_config.num_layers = args.layers;
    text_config.vocab_size = args.vocab;
    let mut audio_config = Wav2Vec2Config::wav2vec2_base();
    audio_config.num_layers = args.layers;
    let text = text_config.init(&gpu);
    let audio_model = audio_config.init(&gpu);
    let samples = (args.seconds * 16_000.0) as usize;
    println!(
        "{:<34} {:>6} {:>12} {:>12}",
        "forward (eval mode)", "batch", "ms/batch", "items/s"
    );
    let mut rows = Vec::new();
    let mut report = |encoder: &str, what: String, batch: usize, ms: f64| {
        let name = format!("{encoder}, {what}");
        println!(
            "{name:<34} {batch:>6} {ms:>12.1} {:>12.1}",
            batch as f64 * 1000.0 / ms
        );
        rows.push(json!({"encoder": encoder, "batch": batch, "ms": ms}));
    };
    for &batch in &args.batches {
        let input_ids = ids(batch, args.tokens, text_config.vocab_size, &gpu);
        let mask = Tensor::<2, Int>::ones([batch, args.tokens], &gpu);
        let ms = median_ms(args.repeats, || {
            let out = text.forward(RobertaInput::new(input_ids.clone(), mask.clone()));
            // Reading a value back waits for the work to finish.
            values(out.last_hidden_state.sum()).map(drop)
        })?;
        report("roberta-base", format!("{} tokens", args.tokens), batch, ms);
    }
    for &batch in &args.batches {
        let clips = audio(batch, samples, &gpu);
        let ms = median_ms(args.repeats, || {
            let out = audio_model.forward(Wav2Vec2Input::new(clips.clone()));
            values(out.last_hidden_state.sum()).map(drop)
        })?;
        report("wav2vec2-base", format!("{} s", args.seconds), batch, ms);
    }
    println!(
        "RESULT {}",
        json!({
            "backend": args.backend.as_str(),
            "precision": precision,
            "parity_text": text_diff,
            "parity_audio": audio_diff,
            "layers": args.layers,
            "tokens": args.tokens,
            "seconds": args.seconds,
            "forward": rows,
            "wall_s": started.elapsed().as_secs_f64(),
        })
    );
    Ok(())
}
