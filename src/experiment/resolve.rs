//! The one place where an experiment becomes the configurations of the layers below it: the
//! label map and table, the dataset location, the built-in front end and the late-fusion model.
//! Nothing below the experiment layer takes an [`Experiment`].

use super::{DatasetKind, Experiment};
use crate::core::LabelMap;
use crate::core::Modality;
use crate::data::batch::FrontEndConfig;
use crate::data::speech::labels::{BUILTIN_TABLES, LabelTable, builtin_table};
use crate::features::FeatureKind;
use crate::models::fusion::{DilatedAudioCnnConfig, LateFusionConfig, ScratchTextEncoderConfig};
use anyhow::{Context, Result, anyhow, bail};
use std::path::PathBuf;

/// Where RAVDESS is read from when `data.path` is not set.
pub const DEFAULT_RAVDESS: &str = "../shared/data/ravdess-speech-16k";

impl Experiment {
    /// The experiment's label table: `[data.groups]`, `data.label_table`, or the dataset's full one.
    pub fn label_table(&self) -> Result<LabelTable> {
        let d = &self.data;
        if !d.groups.is_empty() {
            let classes = if d.labels.is_empty() {
                d.groups.keys().cloned().collect()
            } else {
                d.labels.clone()
            };
            return LabelTable::custom("custom", classes, d.groups.clone())
                .context("key `data.groups`");
        }
        let name = match (&d.label_table, d.dataset) {
            (Some(name), _) => name.clone(),
            (None, DatasetKind::Emodb) => "emodb7".into(),
            (None, DatasetKind::Savee) => "savee7".into(),
            (None, _) => "ravdess8".into(),
        };
        builtin_table(&name).with_context(|| {
            format!(
                "key `data.label_table` = {name:?}: allowed {}",
                BUILTIN_TABLES.join(", ")
            )
        })
    }

    /// The folder or CSV of a pooled dataset: `data.path`, or the default RAVDESS location.
    pub fn dataset_path(&self) -> Result<PathBuf> {
        let d = &self.data;
        match (&d.path, d.dataset) {
            (Some(path), _) => Ok(path.clone()),
            (None, DatasetKind::Ravdess) => Ok(PathBuf::from(DEFAULT_RAVDESS)),
            (None, kind) => {
                bail!("key `data.path` is missing: a {kind:?} dataset needs its folder or CSV")
            }
        }
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
    pub fn label_map(&self) -> Result<LabelMap> {
        if self.data.dataset.is_pooled() {
            return self.label_table()?.label_map();
        }
        if self.data.labels.is_empty() {
            Ok(LabelMap::meld())
        } else {
            LabelMap::new(&self.data.labels).map_err(|e| anyhow!("key `data.labels`: {e}"))
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
        .with_text_pooling(m.pooling(Modality::Text))
    }

    /// The built-in encoders' front end: tokenisation length, clip length and features.
    pub fn front_end_config(&self) -> FrontEndConfig {
        let d = &self.data;
        FrontEndConfig {
            sample_rate: d.sample_rate,
            clip_seconds: d.clip_seconds,
            max_tokens: d.max_tokens,
            features: d.features,
            n_fft: d.n_fft,
            hop_length: d.hop_length,
            n_mels: d.n_mels,
            n_mfcc: d.n_mfcc,
            feature_norm: d.feature_norm,
        }
    }
}
