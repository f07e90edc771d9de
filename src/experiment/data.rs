//! `[data]`: the dataset, its splits and the audio front end.

use crate::audio::{AugmentConfig, NormalizeOver};
use crate::core::Gender;
use crate::data::batch::FeatureNormKind;
use crate::data::context::ContextConfig;
use crate::features::FeatureKind;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
    /// SAVEE (`data.path`: a folder of `DC_a01.wav`-style files, or of speaker folders holding
    /// `a01.wav`); labels from file names; all four speakers are male.
    Savee,
    /// One CSV for the whole corpus (`data.path`): `path,label` and optional `text`, `speaker`,
    /// `split`, `gender` columns, read as text; splits from `[data.split]`.
    Table,
}

impl DatasetKind {
    /// Whether the dataset is one pool of speakers split by `[data.split]` (RAVDESS, EmoDB, a table), rather
    /// than given splits.
    pub fn is_pooled(self) -> bool {
        matches!(
            self,
            DatasetKind::Ravdess | DatasetKind::Emodb | DatasetKind::Savee | DatasetKind::Table
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
    /// Training speakers of `speaker_holdout`; when given, every speaker must be in one of
    /// the three lists (empty: every speaker not held out trains, and the run lists them).
    pub train_speakers: Vec<String>,
    /// Validation speakers of `speaker_holdout`.
    pub valid_speakers: Vec<String>,
    /// Test speakers of `speaker_holdout`.
    pub test_speakers: Vec<String>,
    /// Fail unless every split is speaker-independent, as computed from the speakers of each
    /// part (for `predefined` and `random` splits; k-fold and hold-out splits always are).
    pub require_speaker_independent: bool,
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
            train_speakers: Vec::new(),
            valid_speakers: Vec::new(),
            test_speakers: Vec::new(),
            require_speaker_independent: false,
            valid_fraction: 0.1,
            test_fraction: 0.2,
        }
    }
}

/// How the target corpus's features are standardised in cross-corpus evaluation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetNorm {
    /// With the training split's statistics, as every other split.
    #[default]
    Train,
    /// With statistics of the whole target corpus (removes a corpus-wide recording offset).
    Corpus,
    /// With statistics of each target speaker's clips.
    Speaker,
}

/// `[data.test]`: test on another corpus (cross-corpus evaluation). Every model trained on the
/// `[data]` corpus (each fold of a k-fold) is also scored on all of this corpus's clips.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossCorpusConfig {
    /// The target corpus's kind: `ravdess`, `emodb`, `savee` or `table`.
    pub dataset: DatasetKind,
    /// Its folder (or CSV, for `table`).
    pub path: PathBuf,
    /// Class -> the target corpus's emotions (`angry = ["anger"]`); empty: matched by emotion
    /// name across corpora (`angry` = `anger`, `happy` = `happiness`, ...). Target clips of
    /// emotions outside the classes are dropped and counted.
    #[serde(default)]
    pub groups: std::collections::BTreeMap<String, Vec<String>>,
    /// How the target's features are standardised (built-in encoders only).
    #[serde(default)]
    pub feature_norm: TargetNorm,
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
    /// `[data.context]`: dialogue context for a pretrained text encoder (off by default).
    pub context: ContextConfig,
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
    /// `[data.test]`: a second corpus every trained model is also tested on (cross-corpus).
    pub test: Option<CrossCorpusConfig>,
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
            context: ContextConfig::default(),
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
            test: None,
            intensity: None,
            statement: None,
            per_gender: false,
            split: SplitConfig::default(),
        }
    }
}
