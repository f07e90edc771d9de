//! `emofuse bench fusion`: one training epoch of study A's late-fusion model (RoBERTa + wav2vec
//! 2.0, partial fine-tuning) at roberta-base / wav2vec2-base sizes with random weights, on the
//! CPU backend, for `benches/fusion_epoch_vs_torch.py`, which times the PyTorch recipe on the
//! same workload and prints the ratios.
//!
//! Everything between the encoders and the optimiser is the training code itself: the encoders
//! are split by [`build_model_from`], the inputs come from [`Setup::split_inputs`] (raw inputs,
//! or the frozen-trunk cache built by [`crate::inference::cache::ensure`]) and each epoch is
//! [`trainer::fit`] with `training.epochs = 1` in a temporary run folder. Three phases:
//! 1. uncached epoch: every batch runs the frozen trunks (eval mode, no autodiff), then trains
//!    the top layers, projections and classifier;
//! 2. cache build: the frozen trunks' outputs for every training utterance, written to a
//!    temporary cache folder;
//! 3. cached epoch: the same training on the cached outputs.
//!
//! An epoch is what `fit` does in one epoch: the training steps, then validation (on a single
//! utterance here, so that it costs next to nothing) and the epoch's checkpoint write; ms/step
//! is the epoch divided by its steps, so it slightly overstates the step alone.
//!
//! The corpus is the built-in synthetic one: short English sentences (about a dozen tokens,
//! padded per batch to the longest, not to `--max-tokens`) and clips of up to `--clip-seconds`
//! of 16 kHz audio, cut or padded to exactly that length. Token ids come from the real
//! roberta-base tokenizer (`--tokenizer`), so they fit the encoder's vocabulary.
//!
//! Prints a table and a last line `RESULT {json}` with `uncached_epoch_s`, `cached_epoch_s`,
//! `cache_build_s`, `uncached_step_ms`, `cached_step_ms`, `utterances`, `batch_size`,
//! `peak_rss_mib` (the process's peak resident memory, `VmHWM`) and the workload's sizes.

use crate::bench::peak_rss_mib;
use crate::core::{Modality, SplitName};
use crate::data::Corpus;
use crate::data::synthetic::{self, MELD_TRAIN_COUNTS, SyntheticOptions};
use crate::data::tokenizer::HfTokenizer;
use crate::experiment::Experiment;
use crate::inference::cache::CacheDtype;
use crate::inference::inputs::{BranchData, SplitInputs};
use crate::inference::trunk::{PretrainedAudioEncoder, PretrainedEncoders, PretrainedTextEncoder};
use crate::models::finetune::TrainLayers;
use crate::models::roberta::RobertaConfig;
use crate::models::wav2vec2::Wav2Vec2Config;
use crate::pipeline::model::build_model_from;
use crate::pipeline::run::model_parameters;
use crate::pipeline::setup::Setup;
use crate::terminal::Terminal;
use crate::training::trainer::{self, Checkpoints, Fit};
use crate::training::weights::class_weights;
use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The roberta-base tokenizer committed with the test fixtures (found from any working
/// directory as long as the source tree is where the binary was built).
const DEFAULT_TOKENIZER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/text/roberta-base-tokenizer"
);

/// Seed of the corpus, the random weights, shuffling and dropout.
const SEED: u64 = 42;

/// Workload sizes.
#[derive(Debug, Clone, clap::Args)]
pub struct FusionBenchArgs {
    /// Training utterances (synthetic corpus): one epoch is ceil(utterances / batch size)
    /// steps.
    #[arg(long, default_value_t = 200)]
    pub utterances: usize,
    /// Transformer layers of both encoders (roberta-base, wav2vec2-base: 12).
    #[arg(long, default_value_t = 12)]
    pub layers: usize,
    /// Utterances per training step.
    #[arg(long, default_value_t = 4)]
    pub batch_size: usize,
    /// Longest token sequence, special tokens included (texts are cut to it).
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    /// Clips are cut or zero-padded to this many seconds of 16 kHz audio.
    #[arg(long, default_value_t = 5.0)]
    pub clip_seconds: f32,
    /// Transformer layers of each encoder that train, counted from the top (the rest, and the
    /// embeddings / conv feature encoder, are the frozen trunk).
    #[arg(long, default_value_t = 1)]
    pub train_last_layers: usize,
    /// roberta-base tokenizer: a folder with `tokenizer.json` (or `vocab.json` +
    /// `merges.txt`), or a `tokenizer.json` file.
    #[arg(long, default_value = DEFAULT_TOKENIZER)]
    pub tokenizer: PathBuf,
}

impl FusionBenchArgs {
    /// Rejects sizes the model or the experiment rules cannot take, naming the flag.
    fn check(&self) -> Result<()> {
        if self.utterances == 0 || self.batch_size == 0 || self.layers == 0 {
            bail!("--utterances, --batch-size and --layers must be at least 1");
        }
        if self.train_last_layers > self.layers {
            bail!(
                "--train-last-layers {} exceeds --layers {}: give at most {}",
                self.train_last_layers,
                self.layers,
                self.layers
            );
        }
        let max = RobertaConfig::roberta_base().max_tokens();
        if !(2..=max).contains(&self.max_tokens) {
            bail!(
                "--max-tokens {}: allowed 2..={max} (roberta-base's positions)",
                self.max_tokens
            );
        }
        if !(self.clip_seconds > 0.1 && self.clip_seconds <= 30.0) {
            bail!(
                "--clip-seconds {}: allowed 0.1 < seconds <= 30",
                self.clip_seconds
            );
        }
        Ok(())
    }
}

/// A folder under the system's temporary directory, removed when dropped (also on errors).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("emofuse-bench-fusion-{}", std::process::id()));
        // A folder left by an earlier process with the same id is stale.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| {
            format!(
                "cannot create {} (set TMPDIR to a writable folder)",
                dir.display()
            )
        })?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The study-A experiment at the benchmark's sizes. The encoders themselves are passed in
/// memory, so no checkpoint is named.
fn experiment(args: &FusionBenchArgs, temp: &Path) -> Experiment {
    let mut e = Experiment::default();
    e.data.train_size = args.utterances;
    e.data.valid_size = 1;
    e.data.test_size = 0;
    e.data.sample_rate = 16_000;
    e.data.clip_seconds = args.clip_seconds;
    e.data.max_tokens = args.max_tokens;
    e.data.tokenizer = Some(args.tokenizer.clone());
    let m = &mut e.model;
    m.modalities = vec![Modality::Text, Modality::Audio];
    // Study A's head: Linear(768, 256) + LayerNorm + GELU + dropout per branch, then
    // Linear(512, 256) + GELU + dropout + Linear(256, 7).
    m.projection_dim = 256;
    m.hidden_dim = 256;
    m.dropout = 0.1;
    m.text.train_last_layers = TrainLayers::Last(args.train_last_layers);
    m.audio.train_last_layers = TrainLayers::Last(args.train_last_layers);
    m.cache_dtype = CacheDtype::F16;
    let t = &mut e.training;
    t.epochs = 1;
    t.batch_size = args.batch_size;
    // Study A's optimiser: AdamW at 1e-5 (PyTorch's default weight decay), global-norm
    // clipping at 1.0.
    t.learning_rate = 1e-5;
    t.weight_decay = 0.01;
    t.grad_clip_norm = 1.0;
    e.output.name = Some("bench-fusion".into());
    e.output.runs_dir = temp.join("runs");
    e.output.reports_dir = temp.join("reports");
    e.output.cache_dir = temp.join("cache");
    e.run.seed = SEED;
    e
}

/// roberta-base and wav2vec2-base with `args.layers` layers and random weights, on `device`.
fn random_encoders(args: &FusionBenchArgs, device: &Device) -> Result<PretrainedEncoders> {
    let tokenizer = if args.tokenizer.is_dir() {
        HfTokenizer::from_dir(&args.tokenizer)
    } else {
        HfTokenizer::from_tokenizer_json(&args.tokenizer)
    }
    .with_context(|| {
        format!(
            "cannot read the roberta-base tokenizer at {}; pass --tokenizer <folder or tokenizer.json>",
            args.tokenizer.display()
        )
    })?;
    let mut text = RobertaConfig::roberta_base();
    text.num_layers = args.layers;
    if tokenizer.vocab_size() > text.vocab_size {
        bail!(
            "the tokenizer at {} has {} ids, roberta-base's embedding table {}: pass the roberta-base tokenizer with --tokenizer",
            args.tokenizer.display(),
            tokenizer.vocab_size(),
            text.vocab_size
        );
    }
    let mut audio = Wav2Vec2Config::wav2vec2_base();
    audio.num_layers = args.layers;
    Ok(PretrainedEncoders {
        text: Some(PretrainedTextEncoder {
            model: text.init(device),
            config: text,
            tokenizer,
            source: PathBuf::from("random roberta-base"),
        }),
        audio: Some(PretrainedAudioEncoder {
            model: audio.init(device),
            config: audio,
            source: PathBuf::from("random wav2vec2-base"),
        }),
    })
}

/// Everything the two epochs share.
struct Bench<'a> {
    experiment: Experiment,
    corpus: Corpus,
    setup: Setup,
    weights: Vec<f32>,
    device: Device,
    train_device: Device,
    temp: &'a Path,
}

impl Bench<'_> {
    /// The train and validation inputs, from the frozen-trunk cache when `cached`.
    fn inputs(&self, cached: bool) -> Result<(SplitInputs, SplitInputs, f64)> {
        let mut experiment = self.experiment.clone();
        experiment.model.cache_frozen = cached;
        let started = Instant::now();
        let train = self.setup.split_inputs(
            &experiment,
            SplitName::Train,
            &self.corpus.train,
            None,
            &self.device,
        )?;
        let seconds = started.elapsed().as_secs_f64();
        let valid = self.setup.split_inputs(
            &experiment,
            SplitName::Valid,
            &self.corpus.valid,
            None,
            &self.device,
        )?;
        Ok((train, valid, seconds))
    }

    /// One epoch of [`trainer::fit`] from the initial weights; its wall time in seconds.
    fn epoch(&self, name: &str, train: &SplitInputs, valid: &SplitInputs) -> Result<f64> {
        let run_dir = self.temp.join(name);
        std::fs::create_dir_all(&run_dir)
            .with_context(|| format!("cannot create {}", run_dir.display()))?;
        let started = Instant::now();
        trainer::fit(
            self.setup.model.clone(),
            &Fit {
                config: &self.experiment.training,
                seed: self.experiment.run.seed,
                checkpoints: &Checkpoints::new(run_dir.join("checkpoint")),
                train,
                valid,
                batcher: &self.setup.batcher,
                labels: &self.corpus.labels,
                class_weights: &self.weights,
                device: &self.train_device,
                resume: false,
                observer: &Terminal::default(),
            },
        )?;
        Ok(started.elapsed().as_secs_f64())
    }
}

/// Mean and largest token count of the raw text inputs (special tokens included).
fn token_counts(inputs: &SplitInputs) -> (f64, usize) {
    match &inputs.text {
        Some(BranchData::Raw(raw)) if !raw.is_empty() => {
            let total: usize = raw.iter().map(|r| r.ids.len()).sum();
            let max = raw.iter().map(|r| r.ids.len()).max().unwrap_or(0);
            (total as f64 / raw.len() as f64, max)
        }
        _ => (0.0, 0),
    }
}

/// Runs the benchmark and prints its result.
pub fn run(args: &FusionBenchArgs) -> Result<()> {
    args.check()?;
    let temp = TempDir::new()?;
    let experiment = experiment(args, &temp.0);
    let corpus = synthetic::generate(&SyntheticOptions {
        seed: SEED,
        train_size: args.utterances,
        valid_size: 1,
        test_size: 0,
        sample_rate: experiment.data.sample_rate,
        max_seconds: args.clip_seconds,
    });
    // MELD's training distribution, as the PyTorch side weighs its loss.
    let weights = class_weights(&MELD_TRAIN_COUNTS, &experiment.training.class_weights)?;
    let device = Device::flex();
    device.seed(SEED);
    let train_device = device.clone().autodiff();
    let started = Instant::now();
    let encoders = random_encoders(args, &train_device)?;
    let built = build_model_from(
        &experiment,
        encoders,
        1,
        weights.clone(),
        corpus.labels.len(),
        &train_device,
    )?;
    // The cache folder is new for every run, so the key only has to tell the branches apart.
    let keys = built
        .frozen
        .iter()
        .map(|(modality, source, what)| {
            (
                *modality,
                json!({ "random_weights": source, "seed": SEED, "frozen": what }),
            )
        })
        .collect();
    let setup = Setup::from_built(built, keys, Arc::new(Terminal::default()));
    let (trainable, total) = model_parameters(&setup.model, &setup.batcher);
    println!(
        "random weights in {:.1} s: {:.1}M of {:.1}M parameters trainable",
        started.elapsed().as_secs_f64(),
        trainable as f64 / 1e6,
        total as f64 / 1e6
    );
    for line in &setup.description {
        println!("{line}");
    }
    let bench = Bench {
        experiment,
        corpus,
        setup,
        weights,
        device,
        train_device,
        temp: &temp.0,
    };

    println!("uncached epoch (frozen trunks run on every batch)");
    let (train, valid, _) = bench.inputs(false)?;
    let (mean_tokens, max_tokens) = token_counts(&train);
    let uncached = bench.epoch("uncached", &train, &valid)?;
    drop((train, valid));
    println!("cache build (frozen trunks once per utterance)");
    let (train, valid, cache_build) = bench.inputs(true)?;
    println!("cached epoch (top layers and head on the cached outputs)");
    let cached = bench.epoch("cached", &train, &valid)?;

    let steps = args.utterances.div_ceil(args.batch_size);
    let step_ms = |seconds: f64| seconds * 1000.0 / steps as f64;
    let peak = peak_rss_mib();
    let threads = rayon::current_num_threads();
    println!();
    println!(
        "emofuse (burn-flex CPU, {threads} threads): study A late fusion, roberta-base + \
         wav2vec2-base sizes with random weights, {} layers each (last {} train), {} utterances, \
         batch {} = {steps} steps per epoch; text {mean_tokens:.1} tokens per utterance on \
         average (max {max_tokens}, cut at {}), audio {} s at 16 kHz",
        args.layers,
        args.train_last_layers,
        args.utterances,
        args.batch_size,
        args.max_tokens,
        args.clip_seconds
    );
    println!("{:<34} {:>10} {:>10}", "phase", "seconds", "ms/step");
    println!(
        "{:<34} {uncached:>10.1} {:>10.0}",
        "uncached epoch",
        step_ms(uncached)
    );
    println!(
        "{:<34} {cache_build:>10.1} {:>10}",
        "cache build (train split)", "-"
    );
    println!(
        "{:<34} {cached:>10.1} {:>10.1}",
        "cached epoch",
        step_ms(cached)
    );
    println!(
        "uncached / cached epoch: {:.1}x; uncached / (cache build + cached epoch): {:.2}x; \
         peak RSS {}",
        uncached / cached,
        uncached / (cache_build + cached),
        peak.map_or("unknown".into(), |p| format!("{p:.0} MiB"))
    );
    println!(
        "RESULT {}",
        json!({
            "uncached_epoch_s": uncached,
            "cached_epoch_s": cached,
            "cache_build_s": cache_build,
            "uncached_step_ms": step_ms(uncached),
            "cached_step_ms": step_ms(cached),
            "utterances": args.utterances,
            "batch_size": args.batch_size,
            "steps": steps,
            "peak_rss_mib": peak,
            "threads": threads,
            "layers": args.layers,
            "train_last_layers": args.train_last_layers,
            "max_tokens": args.max_tokens,
            "mean_tokens": mean_tokens,
            "clip_seconds": args.clip_seconds,
            "trainable_params": trainable,
            "total_params": total,
        })
    );
    Ok(())
}
