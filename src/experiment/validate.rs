//! Range checks that types alone cannot express.

use super::{DatasetKind, Experiment};
use crate::core::Modality;
use crate::models::finetune::TrainLayers;
use crate::training::config::ClassWeighting;
use anyhow::{Result, bail};

impl Experiment {
    /// Checks value ranges; the error names the key and the allowed values.
    pub fn validate(&self) -> Result<()> {
        let d = &self.data;
        positive("data.train_size", d.train_size)?;
        positive("data.valid_size", d.valid_size)?;
        positive("data.test_size", d.test_size)?;
        if !(8_000..=48_000).contains(&d.sample_rate) {
            bail!(
                "key `data.sample_rate` = {}: allowed 8000..=48000 Hz",
                d.sample_rate
            );
        }
        if !(d.clip_seconds > 0.1 && d.clip_seconds <= 30.0) {
            bail!(
                "key `data.clip_seconds` = {}: allowed 0.1 < seconds <= 30",
                d.clip_seconds
            );
        }
        positive("data.n_mels", d.n_mels)?;
        positive("data.hop_length", d.hop_length)?;
        if d.n_fft < 16 || d.n_fft < d.hop_length {
            bail!(
                "key `data.n_fft` = {}: allowed n_fft >= 16 and n_fft >= data.hop_length ({})",
                d.n_fft,
                d.hop_length
            );
        }
        if d.n_mels > d.n_fft / 2 + 1 {
            bail!(
                "key `data.n_mels` = {}: allowed at most n_fft / 2 + 1 = {}",
                d.n_mels,
                d.n_fft / 2 + 1
            );
        }
        if d.max_tokens < 2 {
            bail!(
                "key `data.max_tokens` = {}: allowed >= 2 (the first token is [CLS])",
                d.max_tokens
            );
        }

        d.augment.validate()?;
        let labels = self.label_map()?;
        if let Some(unknown) = d.augment.classes.iter().find(|c| labels.index(c).is_err()) {
            bail!(
                "key `data.augment.classes` names `{unknown}`: allowed class names are {}",
                labels.names().join(", ")
            );
        }

        let m = &self.model;
        if m.modalities.is_empty() {
            bail!(
                "key `model.modalities` is empty: allowed [\"text\", \"audio\"], [\"text\"] or [\"audio\"]"
            );
        }
        if m.modalities.len() == 2 && m.modalities[0] == m.modalities[1] {
            bail!("key `model.modalities` lists {:?} twice", m.modalities[0]);
        }
        positive("model.text_dim", m.text_dim)?;
        positive("model.text_heads", m.text_heads)?;
        if m.uses(Modality::Text) {
            positive("model.text_layers", m.text_layers)?;
        }
        if !m.text_dim.is_multiple_of(m.text_heads) {
            bail!(
                "key `model.text_heads` = {}: must divide model.text_dim ({})",
                m.text_heads,
                m.text_dim
            );
        }
        positive("model.audio_channels", m.audio_channels)?;
        positive("data.n_mfcc", d.n_mfcc)?;
        if d.features == crate::features::FeatureKind::Mfcc && d.n_mfcc > d.n_mels {
            bail!(
                "key `data.n_mfcc` = {}: allowed at most data.n_mels ({})",
                d.n_mfcc,
                d.n_mels
            );
        }
        if m.cnn.channels.is_empty() || m.cnn.channels.contains(&0) {
            bail!("key `model.cnn.channels`: allowed a non-empty list of channel counts >= 1");
        }
        if m.cnn.kernel.is_multiple_of(2) {
            bail!(
                "key `model.cnn.kernel` = {}: allowed an odd size",
                m.cnn.kernel
            );
        }
        positive("model.cnn.pool", m.cnn.pool)?;
        probability("model.cnn.dropout", m.cnn.dropout)?;
        probability("model.dropout", m.dropout)?;
        for (key, encoder) in [("model.text", &m.text), ("model.audio", &m.audio)] {
            if encoder.train_feature_encoder && encoder.train_last_layers != TrainLayers::All {
                bail!(
                    "key `{key}.train_feature_encoder` = true needs `{key}.train_last_layers = \"all\"` (the layers between would be frozen)"
                );
            }
        }
        if m.text.train_feature_encoder {
            bail!("key `model.text.train_feature_encoder`: only audio encoders have one");
        }
        if d.dataset == DatasetKind::Manifest {
            for (key, path) in [
                ("data.train_manifest", &d.train_manifest),
                ("data.valid_manifest", &d.valid_manifest),
                ("data.test_manifest", &d.test_manifest),
            ] {
                if path.is_none() {
                    bail!(
                        "key `{key}` is missing: `dataset = \"manifest\"` needs a CSV per split (as `data-prep meld` writes them)"
                    );
                }
            }
        }

        let t = &self.training;
        positive("training.epochs", t.epochs)?;
        positive("training.batch_size", t.batch_size)?;
        if !(t.learning_rate > 0.0 && t.learning_rate.is_finite()) {
            bail!(
                "key `training.learning_rate` = {}: allowed a finite number > 0",
                t.learning_rate
            );
        }
        if !(t.weight_decay >= 0.0 && t.weight_decay.is_finite()) {
            bail!(
                "key `training.weight_decay` = {}: allowed a finite number >= 0",
                t.weight_decay
            );
        }
        if !(t.grad_clip_norm >= 0.0 && t.grad_clip_norm.is_finite()) {
            bail!(
                "key `training.grad_clip_norm` = {}: allowed a finite number >= 0 (0 disables clipping)",
                t.grad_clip_norm
            );
        }
        positive("training.grad_accumulation", t.grad_accumulation)?;
        if !(0.0..1.0).contains(&t.momentum) {
            bail!(
                "key `training.momentum` = {}: allowed 0 <= m < 1",
                t.momentum
            );
        }
        if !(t.plateau_factor > 0.0 && t.plateau_factor < 1.0) {
            bail!(
                "key `training.plateau_factor` = {}: allowed 0 < factor < 1",
                t.plateau_factor
            );
        }
        if let ClassWeighting::Given(w) = &t.class_weights {
            if w.len() != labels.len() {
                bail!(
                    "key `training.class_weights` lists {} weights for {} classes ({}): give one per class, in label order",
                    w.len(),
                    labels.len(),
                    labels.names().join(", ")
                );
            }
            if let Some(bad) = w.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
                bail!("key `training.class_weights` holds {bad}: weights must be finite and > 0");
            }
        }
        if self.evaluation.splits.is_empty() {
            bail!(
                "key `evaluation.splits` is empty: allowed any of \"train\", \"valid\", \"test\""
            );
        }
        if let Some(name) = &self.output.name
            && (name.is_empty() || name.contains(['/', '\\']) || name == "." || name == "..")
        {
            bail!("key `output.name` = {name:?}: allowed a non-empty folder name without `/`");
        }
        Ok(())
    }
}

fn positive(key: &str, value: usize) -> Result<()> {
    if value == 0 {
        bail!("key `{key}` = 0: allowed an integer >= 1");
    }
    Ok(())
}

fn probability(key: &str, value: f64) -> Result<()> {
    if !(0.0..1.0).contains(&value) {
        bail!("key `{key}` = {value}: allowed 0 <= p < 1");
    }
    Ok(())
}
