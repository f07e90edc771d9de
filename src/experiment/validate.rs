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

        let c = &d.context;
        if c.enabled() {
            if !self.model.uses(Modality::Text) || self.model.text.checkpoint.is_none() {
                bail!(
                    "key `data.context`: dialogue context is built with a pretrained text encoder's tokenizer; set `model.text.checkpoint` (and text in `model.modalities`), or remove [data.context]"
                );
            }
            // Utterances without a dialogue are refused when the context is built, by id.
            if let Some(budget) = c.max_tokens
                && budget < 8
            {
                bail!(
                    "key `data.context.max_tokens` = {budget}: allowed >= 8 (the separators alone take up to 6 tokens)"
                );
            }
        }
        for (key, encoder) in [
            ("model.text", &self.model.text),
            ("model.audio", &self.model.audio),
        ] {
            if encoder.checkpoint.is_none()
                && (encoder.pooling.is_some()
                    || encoder.layer_pooling != crate::models::nn::LayerPooling::Last)
            {
                bail!(
                    "keys `{key}.pooling` / `{key}.layer_pooling` choose how a pretrained encoder is pooled; set `{key}.checkpoint`, or remove them"
                );
            }
        }
        if self.model.audio.pooling == Some(crate::models::nn::SequencePooling::Cls) {
            bail!(
                "key `model.audio.pooling` = \"cls\": Wav2Vec2 has no classification token; allowed \"mean\""
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
        if m.cnn.stem.contains(&0) {
            bail!("key `model.cnn.stem`: allowed a list of channel counts >= 1 (or [] for none)");
        }
        if self.feature_rows() >> m.cnn.stem.len() == 0 {
            bail!(
                "key `model.cnn.stem` has {} blocks, each halving the {} feature rows: allowed at most {}",
                m.cnn.stem.len(),
                self.feature_rows(),
                self.feature_rows().ilog2()
            );
        }
        probability("model.cnn.dropout", m.cnn.dropout)?;
        probability("model.dropout", m.dropout)?;
        for (key, encoder) in [("model.text", &m.text), ("model.audio", &m.audio)] {
            if encoder.cache_batch == Some(0) {
                bail!("key `{key}.cache_batch` = 0: allowed a count of utterances >= 1");
            }
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

        self.validate_sizes()?;

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
        if self.run.ensemble && self.run.seeds.len() < 2 {
            bail!(
                "key `run.ensemble` = true averages the models of `run.seeds`; it lists {} seed(s): give at least 2 (e.g. `--seeds 1,2`)",
                self.run.seeds.len()
            );
        }
        if !(t.mixup_alpha >= 0.0 && t.mixup_alpha.is_finite()) {
            bail!(
                "key `training.mixup_alpha` = {}: allowed a finite number >= 0 (0 turns mixup off)",
                t.mixup_alpha
            );
        }
        // Both work on the built-in audio encoder's feature frames; mixup also mixes the whole
        // input, and token ids cannot be blended.
        let scratch_audio = m.uses(Modality::Audio) && m.audio.checkpoint.is_none();
        for (key, masks) in [
            (
                "training.spec_augment.freq_masks",
                t.spec_augment.freq_masks,
            ),
            (
                "training.spec_augment.time_masks",
                t.spec_augment.time_masks,
            ),
        ] {
            // Each mask is drawn per example and batch: thousands would only stall training.
            if masks > 64 {
                bail!("key `{key}` = {masks}: allowed at most 64 masks per example");
            }
        }
        if t.spec_augment.enabled() && !scratch_audio {
            bail!(
                "key `training.spec_augment` masks the built-in audio encoder's features; this model has none (audio off, or a pretrained `model.audio.checkpoint`): remove [training.spec_augment]"
            );
        }
        if t.mixup_alpha > 0.0 && (!scratch_audio || m.uses(Modality::Text)) {
            bail!(
                "key `training.mixup_alpha` = {}: mixup blends the built-in audio encoder's features and needs an audio-only model without `model.audio.checkpoint` (`model.modalities = [\"audio\"]`); set it to 0",
                t.mixup_alpha
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

/// Largest synthetic corpus, in utterances per split: its audio is generated in memory.
const MAX_SYNTHETIC_SPLIT: usize = 1_000_000;

/// Largest audio a synthetic corpus may hold in memory, in bytes (f32 samples).
const MAX_SYNTHETIC_AUDIO_BYTES: f64 = 8.0 * (1u64 << 30) as f64;

/// Largest single activation tensor of one training batch that validation lets through, in
/// bytes: beyond it the first batch would fail to allocate (or swap) after the corpus loaded.
const MAX_BATCH_ACTIVATION_BYTES: f64 = 4.0 * (1u64 << 30) as f64;

/// Largest parameter count of the scratch encoders (f32 weights, gradients and two Adam
/// moments: 16 bytes each, so 1e9 parameters are 16 GB).
const MAX_SCRATCH_PARAMETERS: f64 = 1e9;

impl Experiment {
    /// Sizes that parse and are positive but that the model or the corpus cannot be built
    /// with: pooling past the clip's last frame, kernels wider than the clip, corpora and
    /// batches larger than memory. Checked here so that `--dry-run` finds them before a
    /// corpus is generated and an allocation aborts.
    fn validate_sizes(&self) -> Result<()> {
        let d = &self.data;
        let m = &self.model;
        for (key, value, max) in [
            ("data.max_tokens", d.max_tokens, 8192),
            ("data.n_fft", d.n_fft, 65_536),
            ("data.hop_length", d.hop_length, 65_536),
            ("data.n_mels", d.n_mels, 1024),
            ("model.text_dim", m.text_dim, 8192),
            ("model.text_layers", m.text_layers, 64),
            ("model.text_heads", m.text_heads, 256),
            ("model.audio_channels", m.audio_channels, 8192),
            ("model.projection_dim", m.projection_dim, 65_536),
            ("model.hidden_dim", m.hidden_dim, 65_536),
            ("model.cnn.pool", m.cnn.pool, 1024),
            ("training.batch_size", self.training.batch_size, 65_536),
            ("training.epochs", self.training.epochs, 100_000),
            (
                "training.grad_accumulation",
                self.training.grad_accumulation,
                65_536,
            ),
        ] {
            if value > max {
                bail!("key `{key}` = {value}: allowed at most {max}");
            }
        }
        if let Some(&widest) = m.cnn.channels.iter().max()
            && (widest > 8192 || m.cnn.channels.len() > 64)
        {
            bail!(
                "key `model.cnn.channels` = {:?}: allowed at most 64 convolutions of at most 8192 channels",
                m.cnn.channels
            );
        }

        let front_end = self.front_end_config();
        let (clip_samples, frames) = (front_end.clip_samples() as f64, front_end.frames());
        if self.uses_speech_cnn() {
            let c = &m.cnn;
            if c.kernel > frames {
                bail!(
                    "key `model.cnn.kernel` = {}: allowed at most the {frames} frames of a clip (data.clip_seconds = {} s at data.hop_length = {}); a wider kernel sees only padding",
                    c.kernel,
                    d.clip_seconds,
                    d.hop_length
                );
            }
            if c.stem.len() > 8 || c.stem.iter().any(|&planes| planes > 1024) {
                bail!(
                    "key `model.cnn.stem` = {:?}: allowed at most 8 blocks of at most 1024 channels",
                    c.stem
                );
            }
            // Each stem block halves the frames; pooling follows every second convolution.
            let pooled = if c.pool > 1 { c.channels.len() / 2 } else { 0 };
            let mut left = frames >> c.stem.len();
            if left == 0 {
                bail!(
                    "key `model.cnn.stem`: {} blocks halve the {frames} frames of a clip to none; use fewer blocks or longer clips",
                    c.stem.len()
                );
            }
            for _ in 0..pooled {
                left /= c.pool;
            }
            if left == 0 {
                bail!(
                    "key `model.cnn.pool` = {}: {pooled} poolings of the {frames} frames of a clip leave none; lower the pool size, use fewer convolutions or longer clips",
                    c.pool
                );
            }
            let mut parameters = 0.0;
            let mut planes = 1;
            for &out in &c.stem {
                parameters += (planes * out * 9) as f64;
                planes = out;
            }
            let mut inputs = match c.stem.last() {
                Some(&planes) => planes * (self.feature_rows() >> c.stem.len()),
                None => self.feature_rows(),
            };
            for &out in &c.channels {
                parameters += (inputs * out * c.kernel) as f64;
                inputs = out;
            }
            if parameters > MAX_SCRATCH_PARAMETERS {
                bail!(
                    "keys `model.cnn.channels` and `model.cnn.kernel`: the convolutions would have {parameters:.2e} parameters; allowed at most {MAX_SCRATCH_PARAMETERS:.0e}"
                );
            }
            // The stem's first block holds every row at full resolution.
            let widest = (c.channels.iter().copied().max().unwrap_or(1)).max(
                c.stem
                    .first()
                    .map_or(0, |&planes| planes * self.feature_rows()),
            ) as f64;
            let activation = self.training.batch_size as f64 * widest * frames as f64 * 4.0;
            if activation > MAX_BATCH_ACTIVATION_BYTES {
                bail!(
                    "key `training.batch_size` = {}: one batch's widest activation ({} x {widest} channels x {frames} frames) would take {:.1} GiB; allowed at most {:.0} GiB: lower the batch size or the channels",
                    self.training.batch_size,
                    self.training.batch_size,
                    activation / (1u64 << 30) as f64,
                    MAX_BATCH_ACTIVATION_BYTES / (1u64 << 30) as f64
                );
            }
        }
        if m.uses(Modality::Text) && m.text.checkpoint.is_none() {
            let dim = m.text_dim as f64;
            // Attention (4 d^2) and feed-forward (8 d^2) per layer.
            let parameters = m.text_layers as f64 * 12.0 * dim * dim;
            if parameters > MAX_SCRATCH_PARAMETERS {
                bail!(
                    "keys `model.text_dim` and `model.text_layers`: the scratch text encoder would have {parameters:.2e} parameters; allowed at most {MAX_SCRATCH_PARAMETERS:.0e}"
                );
            }
        }
        if d.dataset == DatasetKind::Synthetic {
            for (key, size) in [
                ("data.train_size", d.train_size),
                ("data.valid_size", d.valid_size),
                ("data.test_size", d.test_size),
            ] {
                if size > MAX_SYNTHETIC_SPLIT {
                    bail!("key `{key}` = {size}: allowed at most {MAX_SYNTHETIC_SPLIT} utterances");
                }
            }
            let total = (d.train_size + d.valid_size + d.test_size) as f64;
            let bytes = total * clip_samples * 4.0;
            if bytes > MAX_SYNTHETIC_AUDIO_BYTES {
                bail!(
                    "keys `data.*_size` and `data.clip_seconds`: {total} synthetic clips of {} s would hold {:.1} GiB of audio in memory; allowed at most {:.0} GiB",
                    d.clip_seconds,
                    bytes / (1u64 << 30) as f64,
                    MAX_SYNTHETIC_AUDIO_BYTES / (1u64 << 30) as f64
                );
            }
        }
        Ok(())
    }

    /// Whether the audio branch is the speech CNN (a scratch encoder over MFCC frames).
    fn uses_speech_cnn(&self) -> bool {
        let m = &self.model;
        m.uses(Modality::Audio)
            && m.audio.checkpoint.is_none()
            && m.audio_encoder == super::AudioEncoderKind::SpeechCnn
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
