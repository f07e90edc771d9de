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
//! is the epoch divided by its steps, so it slightly overstates the step alone. The steps alone
//! are timed too (from the epoch's progress events), and so is an evaluation pass over the
//! training split's cache (what validation and testing cost per utterance on the cache): the
//! per-utterance rates a projection of a full run needs (`benches/fusion_epoch_vs_torch.py`).
//!
//! The corpus is the built-in synthetic one: short English sentences (about a dozen tokens,
//! padded per batch to the longest, not to `--max-tokens`) and clips of up to `--clip-seconds`
//! of 16 kHz audio, cut or padded to exactly that length. Token ids come from the real
//! roberta-base tokenizer (`--tokenizer`), so they fit the encoder's vocabulary. With
//! `--transcripts <csv>` (a MELD-style table with an `Utterance` column) the transcripts are
//! real instead: `--utterances` rows spread evenly over the table ([`spread_rows`]), in table
//! order; audio and labels stay synthetic. The cache build batches as in a real run
//! ([`crate::inference::cache::text_chunks`]: text length-sorted within windows, each chunk
//! padded to its longest); the text positions the trunk computes that way are reported next to
//! the study's fixed padding, for the sample and (with `--transcripts`) for the whole table.
//!
//! Prints a table and a last line `RESULT {json}` with `uncached_epoch_s`, `cached_epoch_s`,
//! `cache_build_s`, `uncached_step_ms`, `cached_step_ms`, `uncached_steps_s`,
//! `cached_steps_s`, `cached_eval_s`, `utterances`, `batch_size`, `peak_rss_mib` (the
//! process's peak resident memory, `VmHWM`), the text statistics and the workload's sizes.

use crate::bench::peak_rss_mib;
use crate::core::events::{Event, Observer};
use crate::core::{BackendKind, Modality, SplitName};
use crate::data::Corpus;
use crate::data::synthetic::{self, MELD_TRAIN_COUNTS, SyntheticOptions};
use crate::data::text_table::TextTable;
use crate::data::tokenizer::HfTokenizer;
use crate::experiment::Experiment;
use crate::inference::cache::{self, CacheDtype};
use crate::inference::inputs::SplitInputs;
use crate::inference::predict::predict;
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
use burn::module::Module;
use burn::tensor::Device;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The roberta-base tokenizer committed with the test fixtures (found from any working
/// directory as long as the source tree is where the binary was built).
const DEFAULT_TOKENIZER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/text/roberta-base-tokenizer"
);

/// Seed of the corpus, the random weights, shuffling and dropout.
const SEED: u64 = 42;

/// The transcript column of a MELD table.
const TRANSCRIPT_COLUMN: &str = "Utterance";

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
    /// Real transcripts instead of synthetic sentences: a CSV file with an `Utterance` column
    /// (MELD's `train_sent_emo.csv`, ...). `--utterances` rows spread evenly over the table
    /// (row i x rows / utterances), in table order; audio stays synthetic.
    #[arg(long)]
    pub transcripts: Option<PathBuf>,
    /// Rows of the text encoder's embedding table (default: roberta-base's 50265); it must
    /// cover the tokenizer's ids. A small tokenizer and table let the benchmark run on a
    /// software GPU driver, which cannot allocate roberta-base's 154 MB table in one buffer.
    #[arg(long)]
    pub vocab: Option<usize>,
    /// Backend to run on (a GPU one needs its cargo feature).
    #[arg(long, value_enum, default_value_t = BackendKind::Cpu)]
    pub backend: BackendKind,
    /// Skip the uncached epoch (the frozen trunks on every batch): time the cache build and
    /// the cached epoch only, e.g. at MELD size on a GPU.
    #[arg(long)]
    pub skip_uncached: bool,
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

/// `n` rows of a table of `rows` spread evenly over it, in order: row `i * rows / n` for `i`
/// in `0..n` (all of them when `n >= rows`). The same formula picks the PyTorch side's rows in
/// `benches/fusion_epoch_vs_torch.py`.
pub fn spread_rows(rows: usize, n: usize) -> Vec<usize> {
    if n >= rows {
        return (0..rows).collect();
    }
    (0..n).map(|i| i * rows / n).collect()
}

/// Every transcript of a MELD-style table (column `Utterance`; an empty cell is an empty
/// transcript), in table order.
fn read_transcripts(path: &Path) -> Result<Vec<String>> {
    let table = TextTable::read(
        path,
        "transcript table",
        "pass a CSV file with an `Utterance` column, e.g. MELD's train_sent_emo.csv",
    )?;
    if !table.has(TRANSCRIPT_COLUMN) {
        bail!(
            "{}: no `{TRANSCRIPT_COLUMN}` column (columns: {})",
            path.display(),
            table.names().join(", ")
        );
    }
    Ok((0..table.height())
        .map(|row| {
            table
                .raw(TRANSCRIPT_COLUMN, row)
                .unwrap_or_default()
                .to_string()
        })
        .collect())
}

/// Token statistics of a set of texts as the text trunk sees them (special tokens included,
/// cut at `--max-tokens`), and the positions each way of padding makes the trunk compute.
#[derive(Debug, Clone, PartialEq)]
pub struct TextStats {
    /// Texts.
    pub count: usize,
    /// Mean tokens per text.
    pub mean_tokens: f64,
    /// Largest token count.
    pub max_tokens: usize,
    /// Texts cut at the maximum length.
    pub truncated: usize,
    /// Real tokens, all texts together.
    pub tokens: usize,
    /// Positions of a cache build: chunks of [`cache::TEXT_CHUNK`], length-sorted within
    /// windows ([`cache::text_chunks`]), each padded to its longest.
    pub sorted_positions: usize,
    /// Positions with the same chunks in table order, unsorted.
    pub unsorted_positions: usize,
    /// Positions with every text padded to the maximum length (the study's recipe).
    pub fixed_positions: usize,
}

impl TextStats {
    /// The statistics of texts with these token counts (`lengths`), of which `truncated` were
    /// cut at `max_tokens`.
    pub fn new(lengths: &[usize], truncated: usize, max_tokens: usize) -> Self {
        let positions = |window: usize| -> usize {
            cache::text_chunks(lengths, cache::TEXT_CHUNK, window)
                .iter()
                .map(|chunk| chunk.len() * chunk.iter().map(|&i| lengths[i]).max().unwrap_or(0))
                .sum()
        };
        let tokens: usize = lengths.iter().sum();
        Self {
            count: lengths.len(),
            mean_tokens: tokens as f64 / lengths.len().max(1) as f64,
            max_tokens: lengths.iter().copied().max().unwrap_or(0),
            truncated,
            tokens,
            sorted_positions: positions(cache::TEXT_CHUNK * cache::SORTED_CHUNKS_PER_WINDOW),
            unsorted_positions: positions(cache::TEXT_CHUNK),
            fixed_positions: lengths.len() * max_tokens,
        }
    }

    /// The texts tokenized with `tokenizer`, cut at `max_tokens`.
    fn of_texts(texts: &[String], tokenizer: &HfTokenizer, max_tokens: usize) -> Result<Self> {
        let mut lengths = Vec::with_capacity(texts.len());
        let mut truncated = 0;
        for text in texts {
            // One more id than allowed tells a cut text from one that fits exactly.
            let n = tokenizer.encode(text, max_tokens + 1)?.len();
            truncated += usize::from(n > max_tokens);
            lengths.push(n.min(max_tokens));
        }
        Ok(Self::new(&lengths, truncated, max_tokens))
    }

    fn line(&self, what: &str) -> String {
        format!(
            "{what}: {} texts, {:.1} tokens on average (max {}, {} cut); text trunk positions: \
             {} length-sorted chunks of {}, {} unsorted, {} padded to the maximum ({:.1}x)",
            self.count,
            self.mean_tokens,
            self.max_tokens,
            self.truncated,
            self.sorted_positions,
            cache::TEXT_CHUNK,
            self.unsorted_positions,
            self.fixed_positions,
            self.fixed_positions as f64 / self.sorted_positions.max(1) as f64
        )
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "count": self.count,
            "mean_tokens": self.mean_tokens,
            "max_tokens": self.max_tokens,
            "truncated": self.truncated,
            "tokens": self.tokens,
            "sorted_positions": self.sorted_positions,
            "unsorted_positions": self.unsorted_positions,
            "fixed_positions": self.fixed_positions,
        })
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

/// Forwards events to the terminal and times the training steps of an epoch: from the
/// epoch's `TaskStarted` to its `TaskFinished`, before validation and the checkpoint write.
#[derive(Default)]
struct StepClock {
    terminal: Terminal,
    started: Mutex<Option<Instant>>,
    steps_s: Mutex<Option<f64>>,
}

impl StepClock {
    fn take(&self) -> Option<f64> {
        self.steps_s.lock().expect("step clock").take()
    }
}

impl Observer for StepClock {
    fn event(&self, event: Event) {
        match &event {
            Event::TaskStarted { name, .. } if name.starts_with("epoch") => {
                *self.started.lock().expect("step clock") = Some(Instant::now());
            }
            Event::TaskFinished => {
                if let Some(started) = self.started.lock().expect("step clock").take() {
                    *self.steps_s.lock().expect("step clock") =
                        Some(started.elapsed().as_secs_f64());
                }
            }
            _ => {}
        }
        self.terminal.event(event);
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

/// The roberta-base tokenizer of `--tokenizer`.
fn tokenizer(args: &FusionBenchArgs) -> Result<HfTokenizer> {
    if args.tokenizer.is_dir() {
        HfTokenizer::from_dir(&args.tokenizer)
    } else {
        HfTokenizer::from_tokenizer_json(&args.tokenizer)
    }
    .with_context(|| {
        format!(
            "cannot read the roberta-base tokenizer at {}; pass --tokenizer <folder or tokenizer.json>",
            args.tokenizer.display()
        )
    })
}

/// roberta-base and wav2vec2-base with `args.layers` layers and random weights, on `device`.
fn random_encoders(
    args: &FusionBenchArgs,
    tokenizer: HfTokenizer,
    device: &Device,
) -> Result<PretrainedEncoders> {
    let mut text = RobertaConfig::roberta_base();
    text.num_layers = args.layers;
    if let Some(vocab) = args.vocab {
        text.vocab_size = vocab;
    }
    if tokenizer.vocab_size() > text.vocab_size {
        bail!(
            "the tokenizer at {} has {} ids, the embedding table {}: pass the roberta-base tokenizer with --tokenizer (or a larger --vocab)",
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
    clock: StepClock,
    temp: &'a Path,
}

/// Wall times of one epoch, in seconds.
struct EpochTimes {
    /// The whole of `fit`: steps, validation, checkpoint write.
    epoch: f64,
    /// The training steps alone.
    steps: f64,
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

    /// One epoch of [`trainer::fit`] from the initial weights.
    fn epoch(&self, name: &str, train: &SplitInputs, valid: &SplitInputs) -> Result<EpochTimes> {
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
                observer: &self.clock,
                events: None,
            },
        )?;
        let epoch = started.elapsed().as_secs_f64();
        Ok(EpochTimes {
            epoch,
            steps: self.clock.take().unwrap_or(epoch),
        })
    }

    /// An evaluation pass over `split` as `fit` validates (eval mode, batches of twice the
    /// training batch); its wall time in seconds.
    fn evaluation(&self, split: &SplitInputs) -> f64 {
        let model = self.setup.model.valid();
        let started = Instant::now();
        predict(
            &model,
            &self.setup.batcher,
            split,
            2 * self.experiment.training.batch_size,
            &self.device,
            None,
        );
        started.elapsed().as_secs_f64()
    }
}

/// Runs the benchmark and prints its result.
pub fn run(args: &FusionBenchArgs) -> Result<()> {
    args.check()?;
    let temp = TempDir::new()?;
    let experiment = experiment(args, &temp.0);
    let tokenizer = tokenizer(args)?;
    let mut corpus = synthetic::generate(&SyntheticOptions {
        seed: SEED,
        train_size: args.utterances,
        valid_size: 1,
        test_size: 0,
        sample_rate: experiment.data.sample_rate,
        max_seconds: args.clip_seconds,
    });
    let mut table_stats = None;
    if let Some(path) = &args.transcripts {
        let texts = read_transcripts(path)?;
        let rows = spread_rows(texts.len(), args.utterances);
        if rows.len() < args.utterances {
            bail!(
                "--utterances {}: {} has only {} rows",
                args.utterances,
                path.display(),
                texts.len()
            );
        }
        for (utterance, &row) in corpus.train.iter_mut().zip(&rows) {
            utterance.text = texts[row].clone();
        }
        let stats = TextStats::of_texts(&texts, &tokenizer, args.max_tokens)?;
        println!(
            "transcripts: {} of the {} rows of {} (row i x {} / {})",
            rows.len(),
            texts.len(),
            path.display(),
            texts.len(),
            rows.len()
        );
        println!("{}", stats.line("whole table"));
        table_stats = Some(stats);
    }
    let texts: Vec<String> = corpus.train.iter().map(|u| u.text.clone()).collect();
    let sample_stats = TextStats::of_texts(&texts, &tokenizer, args.max_tokens)?;
    // MELD's training distribution, as the PyTorch side weighs its loss.
    let weights = class_weights(&MELD_TRAIN_COUNTS, &experiment.training.class_weights)?;
    let device = crate::core::backend::device(args.backend)?;
    device.seed(SEED);
    let train_device = device.clone().autodiff();
    let started = Instant::now();
    let encoders = random_encoders(args, tokenizer.clone(), &train_device)?;
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
        clock: StepClock::default(),
        temp: &temp.0,
    };

    let uncached = if args.skip_uncached {
        None
    } else {
        println!("uncached epoch (frozen trunks run on every batch)");
        let (train, valid, _) = bench.inputs(false)?;
        Some(bench.epoch("uncached", &train, &valid)?)
    };
    println!("cache build (frozen trunks once per utterance)");
    let (train, valid, cache_build) = bench.inputs(true)?;
    println!("cached epoch (top layers and head on the cached outputs)");
    let cached = bench.epoch("cached", &train, &valid)?;
    println!("evaluation on the cache (training split, eval mode)");
    let cached_eval = bench.evaluation(&train);

    let n = args.utterances as f64;
    let steps = args.utterances.div_ceil(args.batch_size);
    let step_ms = |seconds: f64| seconds * 1000.0 / steps as f64;
    let peak = peak_rss_mib();
    let threads = rayon::current_num_threads();
    println!();
    println!(
        "emofuse ({}, {threads} CPU threads): study A late fusion, roberta-base + \
         wav2vec2-base sizes with random weights, {} layers each (last {} train), {} utterances \
         ({}), batch {} = {steps} steps per epoch; audio {} s at 16 kHz",
        match args.backend {
            BackendKind::Cpu => "burn-flex CPU",
            other => other.as_str(),
        },
        args.layers,
        args.train_last_layers,
        args.utterances,
        if args.transcripts.is_some() {
            "real transcripts, synthetic audio"
        } else {
            "synthetic"
        },
        args.batch_size,
        args.clip_seconds
    );
    println!("{}", sample_stats.line("sample"));
    println!(
        "{:<34} {:>10} {:>10} {:>10} {:>10}",
        "phase", "seconds", "ms/step", "steps s", "utt/s"
    );
    let row = |name: &str, seconds: f64, per_step: String, steps_s: String| {
        println!(
            "{name:<34} {seconds:>10.1} {per_step:>10} {steps_s:>10} {:>10.2}",
            n / seconds
        );
    };
    if let Some(uncached) = &uncached {
        row(
            "uncached epoch",
            uncached.epoch,
            format!("{:.0}", step_ms(uncached.epoch)),
            format!("{:.1}", uncached.steps),
        );
    }
    row(
        "cache build (train split)",
        cache_build,
        "-".into(),
        "-".into(),
    );
    row(
        "cached epoch",
        cached.epoch,
        format!("{:.1}", step_ms(cached.epoch)),
        format!("{:.1}", cached.steps),
    );
    row(
        "evaluation on the cache",
        cached_eval,
        "-".into(),
        "-".into(),
    );
    if let Some(uncached) = &uncached {
        println!(
            "uncached / cached epoch: {:.1}x; uncached / (cache build + cached epoch): {:.2}x",
            uncached.epoch / cached.epoch,
            uncached.epoch / (cache_build + cached.epoch),
        );
    }
    println!(
        "peak RSS {}",
        peak.map_or("unknown".into(), |p| format!("{p:.0} MiB"))
    );
    println!(
        "RESULT {}",
        json!({
            "uncached_epoch_s": uncached.as_ref().map(|u| u.epoch),
            "cached_epoch_s": cached.epoch,
            "cache_build_s": cache_build,
            "uncached_step_ms": uncached.as_ref().map(|u| step_ms(u.epoch)),
            "cached_step_ms": step_ms(cached.epoch),
            "uncached_steps_s": uncached.as_ref().map(|u| u.steps),
            "cached_steps_s": cached.steps,
            "cached_eval_s": cached_eval,
            "utterances": args.utterances,
            "batch_size": args.batch_size,
            "backend": args.backend.as_str(),
            "steps": steps,
            "peak_rss_mib": peak,
            "threads": threads,
            "layers": args.layers,
            "train_last_layers": args.train_last_layers,
            "max_tokens": args.max_tokens,
            "mean_tokens": sample_stats.mean_tokens,
            "text": sample_stats.json(),
            "table_text": table_stats.as_ref().map(TextStats::json),
            "transcripts": args.transcripts.as_ref().map(|p| p.display().to_string()),
            "clip_seconds": args.clip_seconds,
            "trainable_params": trainable,
            "total_params": total,
        })
    );
    Ok(())
}
