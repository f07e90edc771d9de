//! Experiment files: one TOML file per experiment, with `[data]`, `[model]`, `[training]`,
//! `[evaluation]`, `[output]` and `[run]` sections.
//!
//! Every key has a default, unknown keys are errors, and `--set section.key=value` overrides any
//! key from the command line. The fully resolved experiment is saved with every run
//! (`runs/<name>/config.toml`), so a run can always be repeated exactly.

mod overrides;
mod validate;

use crate::audio::{AugmentConfig, NormalizeOver};
use crate::core::{BackendKind, Gender, Modality, SplitName};
use crate::models::finetune::TrainLayers;
use crate::models::fusion::DilatedAudioCnnConfig;
use crate::models::fusion::LateFusionConfig;
use crate::models::fusion::ScratchTextEncoderConfig;
use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub use overrides::apply_override;

/// The experiment `emofuse train` runs when given no file.
pub const DEFAULT_EXPERIMENT: &str = "experiments/quickstart.toml";

/// The quickstart experiment, compiled into the binary so that `emofuse train` works from any
/// directory (the file in `experiments/` is the same text and is preferred when present).
pub const QUICKSTART_TOML: &str = include_str!("../../experiments/quickstart.toml");

/// A whole experiment, as read from its TOML file and resolved with defaults and overrides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Experiment {
    /// Which data to train and evaluate on.
    pub data: DataConfig,
    /// The model architecture.
    pub model: ModelConfig,
    /// Optimisation settings.
    pub training: TrainingConfig,
    /// What to evaluate after training.
    pub evaluation: EvaluationConfig,
    /// Where outputs go.
    pub output: OutputConfig,
    /// Seed and backend.
    pub run: RunConfig,
}

/// Datasets emofuse can read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetKind {
    /// The built-in synthetic text + speech corpus (see [`crate::data::synthetic`]).
    #[default]
    Synthetic,
    /// CSV manifests, one per split (`data.train_manifest`, ...), as `data-prep meld` writes
    /// them: `id,path,text,label,speaker,...`, audio paths relative to the manifest's folder.
    Manifest,
    /// RAVDESS speech (`data.path`: the folder of `Actor_XX` folders); labels from file names.
    Ravdess,
    /// EmoDB (`data.path`: the folder of `03a01Fa.wav`-style files); labels from file names.
    Emodb,
    /// One CSV for the whole corpus (`data.path`): `path,label` and optional `text`, `speaker`,
    /// `split`, `gender` columns, read with polars; splits from `[data.split]`.
    Table,
}

impl DatasetKind {
    /// Whether the dataset is one pool of speakers split by `[data.split]` (study B), rather
    /// than given splits.
    pub fn is_pooled(self) -> bool {
        matches!(
            self,
            DatasetKind::Ravdess | DatasetKind::Emodb | DatasetKind::Table
        )
    }
}

/// How a pooled dataset is split.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitKind {
    /// k folds of whole speakers: fold i tests on speaker group i, validates on group i + 1,
    /// trains on the rest; metrics are reported per fold and as mean and standard deviation.
    #[default]
    SpeakerKfold,
    /// Named validation and test speakers; the others train.
    SpeakerHoldout,
    /// Stratified random split of clips: speaker-DEPENDENT (the same speakers in every split),
    /// labelled so in the report.
    Random,
    /// The table's `split` column (train / valid or dev / test).
    Predefined,
}

/// `[data.split]`: splits of a pooled dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitConfig {
    /// The kind of split.
    pub kind: SplitKind,
    /// Folds of `speaker_kfold`.
    pub folds: usize,
    /// Shuffle the speakers with this seed before cutting them into folds (default: natural
    /// order, e.g. RAVDESS actors 1-4, 5-8, ... as EmoBox).
    pub shuffle_seed: Option<u64>,
    /// Validation speakers of `speaker_holdout`.
    pub valid_speakers: Vec<String>,
    /// Test speakers of `speaker_holdout`.
    pub test_speakers: Vec<String>,
    /// Validation share of `random`.
    pub valid_fraction: f64,
    /// Test share of `random`.
    pub test_fraction: f64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            kind: SplitKind::SpeakerKfold,
            folds: 6,
            shuffle_seed: None,
            valid_speakers: Vec::new(),
            test_speakers: Vec::new(),
            valid_fraction: 0.1,
            test_fraction: 0.2,
        }
    }
}

/// `[data]`: the dataset and its audio front end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Dataset to use.
    pub dataset: DatasetKind,
    /// Seed of the synthetic corpus; defaults to `run.seed`.
    pub seed: Option<u64>,
    /// Number of training utterances (synthetic only).
    pub train_size: usize,
    /// Number of validation utterances (synthetic only).
    pub valid_size: usize,
    /// Number of test utterances (synthetic only).
    pub test_size: usize,
    /// Audio sample rate in Hz.
    pub sample_rate: u32,
    /// Clips are cut or zero-padded to this many seconds.
    pub clip_seconds: f32,
    /// Audio features of the built-in encoders.
    pub features: FeatureKind,
    /// Mel bands of the log-mel features (and of the MFCCs' mel spectrogram).
    pub n_mels: usize,
    /// MFCC coefficients (`features = "mfcc"`).
    pub n_mfcc: usize,
    /// How the built-in encoders' features are standardised.
    pub feature_norm: FeatureNormKind,
    /// FFT size of the log-mel features, in samples.
    pub n_fft: usize,
    /// Hop between frames, in samples.
    pub hop_length: usize,
    /// Texts are cut to this many tokens (the first one is `[CLS]`).
    pub max_tokens: usize,
    /// `[data.augment]`: augmented copies of training clips (off by default).
    pub augment: AugmentConfig,
    /// Training manifest (`dataset = "manifest"`).
    pub train_manifest: Option<PathBuf>,
    /// Validation manifest (`dataset = "manifest"`).
    pub valid_manifest: Option<PathBuf>,
    /// Test manifest (`dataset = "manifest"`).
    pub test_manifest: Option<PathBuf>,
    /// Class names in index order; empty: MELD's seven emotions for manifests.
    pub labels: Vec<String>,
    /// HuggingFace `tokenizer.json` of a pretrained text encoder; default: the one in
    /// `model.text.checkpoint`.
    pub tokenizer: Option<PathBuf>,
    /// What the waveform normalisation of a pretrained audio encoder covers: `"padded"` (the
    /// whole padded clip, as wav2vec2-base's feature extractor) or `"valid"` samples only.
    pub normalize: NormalizeOver,
    /// Folder (RAVDESS, EmoDB) or CSV (table) of a pooled dataset.
    pub path: Option<PathBuf>,
    /// Built-in label table (`ravdess8`, `ravdess5`, `ravdess3`, `ravdess2`, `emodb7`);
    /// default: the dataset's full table.
    pub label_table: Option<String>,
    /// Custom grouping, class -> emotions (`[data.groups] positive = ["happy", "calm"]`);
    /// `data.labels` gives the class order.
    pub groups: std::collections::BTreeMap<String, Vec<String>>,
    /// Keep only this gender's speakers.
    pub gender: Option<Gender>,
    /// Keep only this intensity (RAVDESS: "normal" or "strong").
    pub intensity: Option<String>,
    /// Keep only this statement (RAVDESS).
    pub statement: Option<String>,
    /// Train and evaluate separately on male and on female speakers.
    pub per_gender: bool,
    /// `[data.split]`: how a pooled dataset is split.
    pub split: SplitConfig,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dataset: DatasetKind::Synthetic,
            seed: None,
            train_size: 2400,
            valid_size: 400,
            test_size: 800,
            sample_rate: 16_000,
            clip_seconds: 1.5,
            features: FeatureKind::Logmel,
            n_mels: 40,
            n_mfcc: 40,
            feature_norm: FeatureNormKind::Train,
            n_fft: 400,
            hop_length: 160,
            max_tokens: 24,
            augment: AugmentConfig::default(),
            train_manifest: None,
            valid_manifest: None,
            test_manifest: None,
            labels: Vec::new(),
            tokenizer: None,
            normalize: NormalizeOver::Padded,
            path: None,
            label_table: None,
            groups: std::collections::BTreeMap::new(),
            gender: None,
            intensity: None,
            statement: None,
            per_gender: false,
            split: SplitConfig::default(),
        }
    }
}

/// `[model]`: the late-fusion model (see [`crate::models::fusion`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Modalities to fuse: `["text", "audio"]`, `["text"]` or `["audio"]`.
    pub modalities: Vec<Modality>,
    /// Width of the text encoder (token embedding size).
    pub text_dim: usize,
    /// Transformer layers of the text encoder.
    pub text_layers: usize,
    /// Attention heads of the text encoder.
    pub text_heads: usize,
    /// Channels of the audio encoder's convolutions.
    pub audio_channels: usize,
    /// Size each modality vector is projected to before fusion (0: no projection, the
    /// encoder's vector goes to the classifier as it is).
    pub projection_dim: usize,
    /// Hidden size of the classifier MLP (0: a single dense softmax layer).
    pub hidden_dim: usize,
    /// Dropout probability in encoders, projections and classifier.
    pub dropout: f64,
    /// `[model.text]`: a pretrained text encoder and how much of it trains.
    pub text: EncoderConfig,
    /// `[model.audio]`: a pretrained audio encoder and how much of it trains.
    pub audio: EncoderConfig,
    /// Compute the frozen part of pretrained encoders once per utterance and train on the
    /// cached outputs (see [`crate::training::cache`]).
    pub cache_frozen: bool,
    /// Precision of the cached outputs.
    pub cache_dtype: CacheDtype,
    /// The built-in audio encoder (when `[model.audio]` has no checkpoint).
    pub audio_encoder: AudioEncoderKind,
    /// `[model.cnn]`: the speech CNN of study B (`audio_encoder = "speech_cnn"`).
    pub cnn: CnnConfig,
}

/// Built-in audio encoders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AudioEncoderKind {
    /// Three dilated 1-D convolutions over log-mel frames (the quickstart's).
    #[default]
    Dilated,
    /// Study B's CNN: a stack of 1-D convolutions with BatchNorm, max pooling and dropout.
    SpeechCnn,
}

/// `[model.cnn]`: study B's speech CNN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CnnConfig {
    /// Output channels of each convolution.
    pub channels: Vec<usize>,
    /// Kernel size (odd).
    pub kernel: usize,
    /// Max pooling after every second convolution (1: none).
    pub pool: usize,
    /// BatchNorm after every convolution.
    pub batch_norm: bool,
    /// Dropout after every convolution block.
    pub dropout: f64,
}

impl Default for CnnConfig {
    fn default() -> Self {
        Self {
            channels: vec![64, 64, 128, 128, 128, 128],
            kernel: 5,
            pool: 2,
            batch_norm: true,
            dropout: 0.25,
        }
    }
}

/// How the built-in encoders' features are standardised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureNormKind {
    /// With statistics of the training split (loudness differences between clips are kept).
    #[default]
    Train,
    /// Each clip on its own, per row over its valid frames (cepstral mean and variance
    /// normalisation): removes channel and speaker offsets, which helps on unseen speakers.
    Utterance,
}

/// Audio features of the built-in encoders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// Log-mel spectrogram (`n_mels` bands), standardised by one global mean and deviation.
    #[default]
    Logmel,
    /// MFCCs (`n_mfcc` coefficients, librosa's definition), standardised per coefficient.
    Mfcc,
}

/// `[model.text]` / `[model.audio]`: a pretrained HuggingFace encoder.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EncoderConfig {
    /// HuggingFace model folder (`config.json`, `model.safetensors`); absent: the small
    /// built-in encoder trained from scratch (`text_dim`, `audio_channels`, ...).
    pub checkpoint: Option<PathBuf>,
    /// Transformer layers that train, counted from the top.
    pub train_last_layers: TrainLayers,
    /// Audio only: also train Wav2Vec2's convolutional feature encoder (needs
    /// `train_last_layers = "all"`).
    pub train_feature_encoder: bool,
}

/// Element type of the frozen-trunk cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheDtype {
    /// Half precision: half the disk and memory, about 3 significant digits.
    #[default]
    F16,
    /// Single precision: the values the frozen layers computed, exactly.
    F32,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            modalities: vec![Modality::Text, Modality::Audio],
            text_dim: 64,
            text_layers: 1,
            text_heads: 4,
            audio_channels: 64,
            projection_dim: 64,
            hidden_dim: 64,
            dropout: 0.1,
            text: EncoderConfig::default(),
            audio: EncoderConfig::default(),
            cache_frozen: true,
            cache_dtype: CacheDtype::F16,
            audio_encoder: AudioEncoderKind::Dilated,
            cnn: CnnConfig::default(),
        }
    }
}

impl ModelConfig {
    /// Whether the model reads `modality`.
    pub fn uses(&self, modality: Modality) -> bool {
        self.modalities.contains(&modality)
    }
}

/// How classes are weighted in the loss: `"inverse_frequency"`, `"none"`, or one weight per
/// class in label order (`[1.0, 2.5, ...]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum ClassWeighting {
    /// `n_samples / (n_classes * count_c)` from the training split (scikit-learn's "balanced").
    #[default]
    InverseFrequency,
    /// Every class weighs 1.
    None,
    /// Weights given in the experiment file, in label order.
    Given(Vec<f32>),
}

impl Serialize for ClassWeighting {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            ClassWeighting::InverseFrequency => s.serialize_str("inverse_frequency"),
            ClassWeighting::None => s.serialize_str("none"),
            ClassWeighting::Given(w) => w.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ClassWeighting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            List(Vec<f32>),
        }
        match Raw::deserialize(d)? {
            Raw::Word(w) if w == "inverse_frequency" => Ok(ClassWeighting::InverseFrequency),
            Raw::Word(w) if w == "none" => Ok(ClassWeighting::None),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "`{w}`: allowed \"inverse_frequency\", \"none\" or a list of weights in label order"
            ))),
            Raw::List(w) => Ok(ClassWeighting::Given(w)),
        }
    }
}

/// The optimiser.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// AdamW (decoupled weight decay).
    #[default]
    Adamw,
    /// SGD with momentum (`training.momentum`; 0 for plain SGD).
    Sgd,
}

/// How the learning rate changes during training.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// `learning_rate` throughout (after the warmup, if any).
    #[default]
    Constant,
    /// Linear warmup, then linear decay to 0 at the last step.
    Linear,
    /// Linear warmup, then cosine decay to 0 at the last step.
    Cosine,
    /// Multiply by `plateau_factor` when the selection metric has not improved for
    /// `plateau_patience` epochs.
    Plateau,
}

/// A validation metric (checkpoint selection, early stopping, plateau schedule).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectMetric {
    /// Support-weighted F1 (higher is better).
    #[default]
    WeightedF1,
    /// Unweighted mean of per-class F1 (higher is better).
    MacroF1,
    /// Accuracy (higher is better).
    Accuracy,
    /// Class-weighted cross-entropy (lower is better).
    Loss,
}

impl SelectMetric {
    /// The name as written in experiment files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SelectMetric::WeightedF1 => "weighted_f1",
            SelectMetric::MacroF1 => "macro_f1",
            SelectMetric::Accuracy => "accuracy",
            SelectMetric::Loss => "loss",
        }
    }

    /// Whether a higher value is better.
    pub fn higher_is_better(self) -> bool {
        self != SelectMetric::Loss
    }
}

/// `[training]`: optimisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingConfig {
    /// Passes over the training split.
    pub epochs: usize,
    /// Utterances per step.
    pub batch_size: usize,
    /// AdamW learning rate.
    pub learning_rate: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f32,
    /// Gradients are rescaled so that their global L2 norm is at most this (0 disables).
    pub grad_clip_norm: f32,
    /// Class weighting of the cross-entropy loss.
    pub class_weights: ClassWeighting,
    /// The optimiser.
    pub optimizer: OptimizerKind,
    /// SGD momentum.
    pub momentum: f64,
    /// Learning-rate schedule.
    pub schedule: ScheduleKind,
    /// Optimiser steps of linear warmup from 0 (linear and cosine schedules).
    pub warmup_steps: usize,
    /// Plateau schedule: factor applied to the learning rate.
    pub plateau_factor: f64,
    /// Plateau schedule: epochs without improvement before the learning rate drops.
    pub plateau_patience: usize,
    /// Batches whose gradients are summed (averaged) before one optimiser step.
    pub grad_accumulation: usize,
    /// Stop after this many epochs without improvement of `select_metric` (0: never).
    pub early_stopping_patience: usize,
    /// Validation metric that picks the best checkpoint.
    pub select_metric: SelectMetric,
    /// Draw each epoch's batches with class-balanced probabilities (with replacement) instead
    /// of a shuffle of the training split.
    pub balanced_sampling: bool,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            batch_size: 32,
            learning_rate: 1e-3,
            weight_decay: 1e-4,
            grad_clip_norm: 1.0,
            class_weights: ClassWeighting::InverseFrequency,
            optimizer: OptimizerKind::Adamw,
            momentum: 0.9,
            schedule: ScheduleKind::Constant,
            warmup_steps: 0,
            plateau_factor: 0.5,
            plateau_patience: 2,
            grad_accumulation: 1,
            early_stopping_patience: 0,
            select_metric: SelectMetric::WeightedF1,
            balanced_sampling: false,
        }
    }
}

/// Which checkpoint is evaluated after training.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointChoice {
    /// The epoch with the best `training.select_metric` on the validation split.
    #[default]
    Best,
    /// The last epoch.
    Last,
}

/// `[evaluation]`: what is measured after training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluationConfig {
    /// Splits to evaluate and report.
    pub splits: Vec<SplitName>,
    /// Checkpoint to evaluate.
    pub checkpoint: CheckpointChoice,
    /// Also evaluate with each modality's vector zeroed (two-modality models only).
    pub ablation: bool,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        Self {
            splits: vec![SplitName::Valid, SplitName::Test],
            checkpoint: CheckpointChoice::Best,
            ablation: true,
        }
    }
}

/// `[output]`: where runs and reports go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// Name of the run folders; defaults to the experiment file's stem.
    pub name: Option<String>,
    /// Runs go to `<runs_dir>/<name>/` (config, checkpoints, metrics).
    pub runs_dir: PathBuf,
    /// Reports go to `<reports_dir>/<name>/` (report.md and figures).
    pub reports_dir: PathBuf,
    /// Frozen-trunk caches go to `<cache_dir>/<name>/`.
    pub cache_dir: PathBuf,
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            name: None,
            runs_dir: PathBuf::from("runs"),
            reports_dir: PathBuf::from("reports"),
            cache_dir: PathBuf::from("cache"),
        }
    }
}

/// `[run]`: reproducibility and hardware.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Seed of every random source: data, initialisation, dropout, shuffling.
    pub seed: u64,
    /// Backend to train on.
    pub backend: BackendKind,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            backend: BackendKind::Cpu,
        }
    }
}

impl Experiment {
    /// Reads an experiment file, applies `--set` overrides (`section.key=value`) and validates.
    ///
    /// Errors name the file, the key and what is allowed.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow!(
                "cannot read experiment file {}: {e}\n  hint: experiment files live in `experiments/`; run `ls experiments` to see them",
                path.display()
            )
        })?;
        let mut experiment = Self::from_toml_str(&text, overrides, &path.display().to_string())?;
        if experiment.output.name.is_none() {
            experiment.output.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        }
        Ok(experiment)
    }

    /// Parses experiment text; `origin` names the file in error messages.
    pub fn from_toml_str(text: &str, overrides: &[String], origin: &str) -> Result<Self> {
        let mut table: toml::Table = text
            .parse()
            .with_context(|| format!("{origin}: not valid TOML"))?;
        for item in overrides {
            apply_override(&mut table, item).with_context(|| format!("{origin}: --set {item}"))?;
        }
        let deserializer = toml::Value::Table(table);
        let experiment: Experiment =
            serde_path_to_error::deserialize(deserializer).map_err(|err| {
                let key = err.path().to_string();
                // toml appends "in `<key>`" on later lines; the key is already named here.
                let message = err.into_inner().to_string();
                let message = message.lines().next().unwrap_or_default().to_string();
                anyhow!("{origin}: key `{key}`: {message}")
            })?;
        experiment
            .validate()
            .map_err(|e| anyhow!("{origin}: {e}"))?;
        Ok(experiment)
    }

    /// The run's name (folder name under `runs/` and `reports/`).
    pub fn name(&self) -> &str {
        self.output.name.as_deref().unwrap_or("experiment")
    }

    /// Seed of the dataset: `data.seed`, or `run.seed` when absent.
    pub fn data_seed(&self) -> u64 {
        self.data.seed.unwrap_or(self.run.seed)
    }

    /// `<runs_dir>/<name>`.
    pub fn run_dir(&self) -> PathBuf {
        self.output.runs_dir.join(self.name())
    }

    /// `<reports_dir>/<name>`.
    pub fn report_dir(&self) -> PathBuf {
        self.output.reports_dir.join(self.name())
    }

    /// Feature rows per frame of the built-in audio encoders: mel bands or MFCC coefficients.
    pub fn feature_rows(&self) -> usize {
        match self.data.features {
            FeatureKind::Logmel => self.data.n_mels,
            FeatureKind::Mfcc => self.data.n_mfcc,
        }
    }

    /// The experiment's label map: the label table of a pooled speech dataset, `data.labels`, or
    /// MELD's seven emotions.
    pub fn label_map(&self) -> Result<crate::core::LabelMap> {
        if self.data.dataset.is_pooled() {
            return crate::training::crossval::label_table(self)?.label_map();
        }
        if self.data.labels.is_empty() {
            Ok(crate::core::LabelMap::meld())
        } else {
            crate::core::LabelMap::new(&self.data.labels)
                .map_err(|e| anyhow!("key `data.labels`: {e}"))
        }
    }

    /// The late-fusion model's configuration (scratch encoders sized by `[model]` and `[data]`).
    pub fn late_fusion_config(
        &self,
        vocab_size: usize,
        class_weights: Vec<f32>,
        num_classes: usize,
    ) -> LateFusionConfig {
        let m = &self.model;
        LateFusionConfig::new(
            m.modalities.clone(),
            ScratchTextEncoderConfig::new(
                vocab_size,
                self.data.max_tokens,
                m.text_dim,
                m.text_layers,
                m.text_heads,
            )
            .with_dropout(m.dropout),
            DilatedAudioCnnConfig::new(self.feature_rows(), m.audio_channels)
                .with_dropout(m.dropout),
            m.projection_dim,
            m.hidden_dim,
            num_classes,
            m.dropout,
            class_weights,
        )
    }

    /// The resolved experiment as TOML (what `config.toml` in a run holds).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("an experiment always serialises")
    }
}
