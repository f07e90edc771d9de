//! Everything between an experiment and the training loop: the model, its front ends and each
//! split's inputs (scratch examples, raw pretrained inputs, or frozen-trunk caches).

use crate::core::LabelMap;
use crate::core::events::Observer;
use crate::core::{Modality, Precision, SplitName};
use crate::data::Utterance;
use crate::data::batch::{FeatureNorm, FrontEnd, FusionBatcher};
use crate::data::pretrained::PretrainedFrontEnd;
use crate::data::text::WordTokenizer;
use crate::data::tokenizer::HfTokenizer;
use crate::experiment::Experiment;
use crate::inference::cache::{self, Branch, CacheJob};
use crate::inference::inputs::{BranchData, InputBatcher, SplitInputs};
use crate::io::atomic;
use crate::models::LateFusion;
use crate::models::nn::LayerPooling;
use crate::pipeline::model::{BuiltModel, build_model};
use crate::reports::run_dir::RunDir;
use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use serde_json::json;
use std::sync::Arc;

/// A model with everything needed to feed it.
pub struct Setup {
    /// The trainable model (training device).
    pub model: LateFusion,
    /// Batch builder (frozen trunks included).
    pub batcher: InputBatcher,
    /// Front end of the scratch branches (`None` when every branch is pretrained).
    pub scratch: Option<FrontEnd>,
    /// Front end of the pretrained branches.
    pub pretrained: Option<PretrainedFrontEnd>,
    /// What trains, per branch.
    pub description: Vec<String>,
    /// Cache key parts of each pretrained branch's frozen trunk.
    frozen_keys: Vec<(Modality, serde_json::Value)>,
    /// Receives what loading the checkpoints and building the caches report.
    observer: Arc<dyn Observer>,
}

fn scratch_used(experiment: &Experiment) -> bool {
    let m = &experiment.model;
    (m.uses(Modality::Text) && m.text.checkpoint.is_none())
        || (m.uses(Modality::Audio) && m.audio.checkpoint.is_none())
}

/// How the scratch front end is obtained: fitted on the training split (a new run) or read
/// back from a run folder (evaluation, prediction).
pub enum ScratchSource<'a> {
    /// Fit on these training utterances; returns their examples too.
    Fit(&'a [Utterance]),
    /// Read `vocab.json` and `front_end.json` from this run folder.
    Run(&'a RunDir),
}

impl Setup {
    /// Builds the model (on `train_device`) and front ends of `experiment`. With
    /// `ScratchSource::Fit`, the training examples of the scratch branches are returned too.
    pub fn new(
        experiment: &Experiment,
        labels: &LabelMap,
        class_weights: Vec<f32>,
        scratch: ScratchSource,
        train_device: &Device,
        observer: Arc<dyn Observer>,
    ) -> Result<(Self, Option<Vec<crate::data::batch::Example>>)> {
        if experiment.data.augment.enabled()
            && (experiment.model.text.checkpoint.is_some()
                || experiment.model.audio.checkpoint.is_some())
        {
            bail!(
                "key `data.augment`: augmentation works with the built-in encoders only; remove [data.augment] or the pretrained checkpoints"
            );
        }
        let (front, train_examples) = if scratch_used(experiment) {
            match scratch {
                ScratchSource::Fit(train) => {
                    let (front, examples) =
                        FrontEnd::fit_transform(train, &experiment.front_end_config())?;
                    (Some(front), Some(examples))
                }
                ScratchSource::Run(dir) => {
                    let tokenizer = WordTokenizer::load(&dir.vocab())?;
                    let path = dir.front_end();
                    let text = std::fs::read_to_string(&path).with_context(|| {
                        format!(
                            "cannot read {}: is {} a finished run?",
                            path.display(),
                            dir.path().display()
                        )
                    })?;
                    let value: serde_json::Value = serde_json::from_str(&text)
                        .with_context(|| format!("{} is not valid JSON", path.display()))?;
                    let norm: FeatureNorm =
                        serde_json::from_value(value["feature_norm"].clone())
                            .with_context(|| format!("{}: no feature_norm", path.display()))?;
                    (
                        Some(FrontEnd::new(
                            tokenizer,
                            norm,
                            &experiment.front_end_config(),
                        )),
                        None,
                    )
                }
            }
        } else {
            (None, None)
        };
        let vocab = front.as_ref().map_or(1, |f| f.tokenizer.vocab_size());
        let built = build_model(
            experiment,
            vocab,
            class_weights,
            labels.len(),
            train_device,
            &*observer,
        )?;
        let mut frozen_keys = Vec::new();
        for (modality, dir, what) in &built.frozen {
            let (modality, dir) = (*modality, dir.as_path());
            let context = &experiment.data.context;
            let mut preprocessing = match modality {
                Modality::Text => json!({
                    // Every file the tokenizer is read from (tokenizer.json, or vocab.json then
                    // merges.txt), by content only: the same file elsewhere reuses the cache.
                    "tokenizer": HfTokenizer::source_files(
                        experiment.data.tokenizer.as_deref().unwrap_or(dir),
                    )?
                    .iter()
                    .map(|file| cache::file_hash(file))
                    .collect::<Result<Vec<_>>>()?,
                    "max_tokens": experiment.data.max_tokens,
                }),
                Modality::Audio => json!({
                    "sample_rate": experiment.data.sample_rate,
                    "clip_seconds": experiment.data.clip_seconds,
                    "normalize": experiment.data.normalize,
                }),
            };
            // Only what changes the trunk's output enters the key, so that the caches of
            // experiments without these settings keep their keys.
            if modality == Modality::Text && context.enabled() {
                preprocessing["context"] = serde_json::to_value(context)?;
            }
            let encoder = match modality {
                Modality::Text => &experiment.model.text,
                Modality::Audio => &experiment.model.audio,
            };
            if encoder.layer_pooling == LayerPooling::Weighted {
                preprocessing["per_layer_pooling"] =
                    serde_json::to_value(experiment.model.pooling(modality))?;
            }
            frozen_keys.push((
                modality,
                json!({
                    "checkpoint": cache::checkpoint_fingerprint(dir)?,
                    "frozen": what,
                    "preprocessing": preprocessing,
                }),
            ));
        }
        Ok((
            Self::assemble(built, front, frozen_keys, observer),
            train_examples,
        ))
    }

    /// A setup of a model whose branches are all pretrained and built in memory
    /// ([`crate::pipeline::model::build_model_from`]), e.g. random weights for a benchmark.
    /// `frozen_keys` holds, per branch with a frozen trunk, the cache key part that
    /// [`Setup::new`] makes from the checkpoint folder's content: it must change whenever the
    /// weights, the split point or the preprocessing do, or a stale cache would be reused.
    pub fn from_built(
        built: BuiltModel,
        frozen_keys: Vec<(Modality, serde_json::Value)>,
        observer: Arc<dyn Observer>,
    ) -> Self {
        Self::assemble(built, None, frozen_keys, observer)
    }

    fn assemble(
        built: BuiltModel,
        front: Option<FrontEnd>,
        frozen_keys: Vec<(Modality, serde_json::Value)>,
        observer: Arc<dyn Observer>,
    ) -> Self {
        let BuiltModel {
            model,
            trunks,
            pretrained,
            description,
            frozen: _,
        } = built;
        let scratch_batcher = front.as_ref().map_or(FusionBatcher::new(1, 1), |f| {
            FusionBatcher::new(f.n_mels(), f.frames())
        });
        let pad_id = pretrained.as_ref().map_or(0, PretrainedFrontEnd::pad_id);
        Self {
            model,
            batcher: InputBatcher {
                trunks,
                scratch: scratch_batcher,
                pad_id,
            },
            scratch: front,
            pretrained,
            description,
            frozen_keys,
            observer,
        }
    }

    /// The setup with its model moved to `train_device` (trainable parameters stay trainable)
    /// and its trunks to the plain device under it. Parameters not drawn yet are drawn first,
    /// on the device they were built on, so that moving never re-draws them.
    pub fn to_device(self, train_device: &Device) -> Self {
        let plain = train_device.clone().inner();
        // Visiting every parameter's value initialises the lazy ones, in the visit order.
        crate::pipeline::model::parameter_counts(&self.model);
        Self {
            model: self.model.moved_to(train_device),
            batcher: InputBatcher {
                trunks: self.batcher.trunks.to_device(&plain),
                ..self.batcher
            },
            ..self
        }
    }

    /// Saves what evaluation and prediction need besides the weights: the scratch front end.
    pub fn save_front_end(&self, run: &RunDir, labels: &LabelMap) -> Result<()> {
        if let Some(front) = &self.scratch {
            front.tokenizer.save(&run.vocab())?;
            atomic::write(
                &run.front_end(),
                serde_json::to_string_pretty(
                    &json!({ "feature_norm": front.norm, "labels": labels }),
                )?
                .as_bytes(),
            )?;
        }
        Ok(())
    }

    /// Tells the observer what dialogue context the text encoder reads in one split
    /// (neighbours taken, budget reached, current utterances cut); nothing without context.
    pub fn report_context(&self, split: SplitName, utterances: &[Utterance]) -> Result<()> {
        if let Some(front) = &self.pretrained
            && front.tokenizer.is_some()
            && front.context.enabled()
        {
            let (_, stats) = front.text_ids(utterances)?;
            self.observer.info(format!(
                "dialogue context ({split}, budget {} tokens): {}",
                front.max_tokens,
                stats.summary()
            ));
        }
        Ok(())
    }

    /// The inputs of one split. `examples`: the scratch examples when already built (training
    /// split, with augmented copies); `plain` is the device the trunks run on.
    pub fn split_inputs(
        &self,
        experiment: &Experiment,
        split: SplitName,
        utterances: &[Utterance],
        examples: Option<Vec<crate::data::batch::Example>>,
        plain: &Device,
    ) -> Result<SplitInputs> {
        let m = &experiment.model;
        let scratch = match (&self.scratch, examples) {
            (Some(_), Some(examples)) => Some(Arc::new(examples)),
            (Some(front), None) => Some(Arc::new(front.examples(utterances)?)),
            (None, _) => None,
        };
        let mut labels: Vec<usize> = utterances.iter().map(|u| u.label).collect();
        if let Some(examples) = &scratch {
            // Augmented copies come after the originals.
            labels = examples.iter().map(|e| e.label).collect();
        }
        let needs_raw = |modality: Modality, has_trunk: bool| {
            let cached = has_trunk && m.cache_frozen;
            m.uses(modality) && !cached
        };
        // A branch is pretrained when the model was built with its encoder (a checkpoint, or
        // weights made in memory): then its front end is there.
        let front = self.pretrained.as_ref();
        let text_pretrained =
            m.uses(Modality::Text) && front.is_some_and(|f| f.tokenizer.is_some());
        let audio_pretrained = m.uses(Modality::Audio) && front.is_some_and(|f| f.audio.is_some());
        let raw_text =
            text_pretrained && needs_raw(Modality::Text, self.batcher.trunks.text.is_some());
        let raw_audio =
            audio_pretrained && needs_raw(Modality::Audio, self.batcher.trunks.audio.is_some());
        let raw = if raw_text || raw_audio {
            let front = self.pretrained.as_ref().context("pretrained front end")?;
            let restricted = PretrainedFrontEnd {
                tokenizer: if raw_text {
                    front.tokenizer.clone()
                } else {
                    None
                },
                max_tokens: front.max_tokens,
                audio: if raw_audio { front.audio.clone() } else { None },
                context: front.context.clone(),
            };
            Some(Arc::new(restricted.inputs(utterances)?))
        } else {
            None
        };
        let cached = |branch: Branch| -> Result<BranchData> {
            let mut states =
                cache::ensure(&self.cache_job(experiment, branch, split, utterances, plain)?)?;
            if branch == Branch::Audio {
                states.conv = self
                    .batcher
                    .trunks
                    .audio
                    .as_ref()
                    .is_some_and(|t| !t.ends_in_hidden());
            }
            Ok(BranchData::Cached(Arc::new(states)))
        };
        let text = if !m.uses(Modality::Text) {
            None
        } else if !text_pretrained {
            scratch.clone().map(BranchData::Scratch)
        } else if raw_text {
            raw.clone().map(BranchData::Raw)
        } else {
            Some(cached(Branch::Text)?)
        };
        let audio = if !m.uses(Modality::Audio) {
            None
        } else if !audio_pretrained {
            scratch.clone().map(BranchData::Scratch)
        } else if raw_audio {
            raw.clone().map(BranchData::Raw)
        } else {
            Some(cached(Branch::Audio)?)
        };
        Ok(SplitInputs {
            labels,
            text,
            audio,
        })
    }

    /// The branches whose frozen trunk [`Setup::split_inputs`] reads from the cache: used by
    /// the model, pretrained, with a frozen part, and `model.cache_frozen` on.
    pub fn cached_branches(&self, experiment: &Experiment) -> Vec<Branch> {
        let m = &experiment.model;
        let front = self.pretrained.as_ref();
        let trunks = &self.batcher.trunks;
        let mut branches = Vec::new();
        if m.cache_frozen
            && m.uses(Modality::Text)
            && front.is_some_and(|f| f.tokenizer.is_some())
            && trunks.text.is_some()
        {
            branches.push(Branch::Text);
        }
        if m.cache_frozen
            && m.uses(Modality::Audio)
            && front.is_some_and(|f| f.audio.is_some())
            && trunks.audio.is_some()
        {
            branches.push(Branch::Audio);
        }
        branches
    }

    /// The cache build of one branch and split: the one place a [`CacheJob`] is made, so
    /// training and `emofuse cache` (whole caches, shards, merges) agree on the key.
    /// `plain` is the device the trunks run on.
    pub fn cache_job<'a>(
        &'a self,
        experiment: &'a Experiment,
        branch: Branch,
        split: SplitName,
        utterances: &'a [Utterance],
        plain: &'a Device,
    ) -> Result<CacheJob<'a>> {
        let front = self.pretrained.as_ref().context("pretrained front end")?;
        let modality = match branch {
            Branch::Text => Modality::Text,
            Branch::Audio => Modality::Audio,
        };
        let mut key = self
            .frozen_keys
            .iter()
            .find(|(m, _)| *m == modality)
            .map(|(_, k)| k.clone())
            .context("frozen trunk key")?;
        // Context reads the dialogues and speakers too.
        if branch == Branch::Text && front.context.enabled() {
            key["turns"] = json!(cache::turns_fingerprint(utterances));
        }
        // Half-precision trunks compute other values; f32 caches keep their old keys.
        if experiment.run.precision != Precision::F32 {
            key["precision"] = json!(experiment.run.precision.as_str());
        }
        Ok(CacheJob {
            root: &experiment.output.cache_dir,
            branch,
            split,
            utterances,
            front,
            trunks: &self.batcher.trunks,
            key,
            dtype: experiment.model.cache_dtype,
            precision: experiment.run.precision,
            chunk: experiment.model.cache_batch(modality),
            device: plain,
            observer: &*self.observer,
        })
    }
}
