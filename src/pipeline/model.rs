//! Building the model an experiment describes: scratch encoders, or pretrained encoders split
//! into a frozen trunk (kept outside the model, see [`crate::inference::trunk`]) and a
//! trainable top that goes into the [`LateFusion`] model.

use crate::audio::AudioOptions;
use crate::core::Modality;
use crate::core::events::Observer;
use crate::data::pretrained::PretrainedFrontEnd;
use crate::data::tokenizer::HfTokenizer;
use crate::experiment::{AudioEncoderKind, Experiment};
use crate::features::FeatureKind;
use crate::inference::trunk::{
    PretrainedAudioEncoder, PretrainedEncoders, PretrainedTextEncoder, Trunks,
};
use crate::models::fusion::SpeechCnnConfig;
use crate::models::fusion::{AudioBranchEncoder, LateFusion, TextBranchEncoder};
use crate::models::hub::safetensors::LoadReport;
use crate::models::nn::{LayerPooling, LayerWeights};
use crate::models::roberta::{RobertaModel, RobertaStage};
use crate::models::wav2vec2::{Wav2Vec2Model, Wav2Vec2Stage};
use anyhow::{Context, Result};
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use std::path::PathBuf;

/// What [`build_model`] returns.
pub struct BuiltModel {
    /// The trainable model, on the training device.
    pub model: LateFusion,
    /// Frozen trunks, on the plain device.
    pub trunks: Trunks,
    /// Front end of the pretrained branches (`None` when both branches are scratch).
    pub pretrained: Option<PretrainedFrontEnd>,
    /// One line per branch describing what trains and what is frozen.
    pub description: Vec<String>,
    /// Per pretrained branch: the checkpoint folder and the frozen part's description (what
    /// the cache key records).
    pub frozen: Vec<(Modality, PathBuf, String)>,
}

/// Loads the checkpoints `experiment` names (`model.text.checkpoint`, `model.audio.checkpoint`,
/// the tokenizer), for the branches it uses, onto `device`.
pub fn load_encoders(
    experiment: &Experiment,
    device: &Device,
    observer: &dyn Observer,
) -> Result<PretrainedEncoders> {
    let m = &experiment.model;
    let mut encoders = PretrainedEncoders::default();
    if m.uses(Modality::Text)
        && let Some(dir) = &m.text.checkpoint
    {
        let (model, config, report) =
            RobertaModel::from_pretrained(dir, device).with_context(|| {
                format!(
                    "loading the text encoder (model.text.checkpoint = {})",
                    dir.display()
                )
            })?;
        let tokenizer_path = experiment
            .data
            .tokenizer
            .clone()
            .unwrap_or_else(|| dir.clone());
        let tokenizer = if tokenizer_path.is_dir() {
            HfTokenizer::from_dir(&tokenizer_path)?
        } else {
            HfTokenizer::from_tokenizer_json(&tokenizer_path)?
        };
        report_load(&report, "text encoder", observer);
        encoders.text = Some(PretrainedTextEncoder {
            model,
            config,
            tokenizer,
            source: dir.clone(),
        });
    }
    if m.uses(Modality::Audio)
        && let Some(dir) = &m.audio.checkpoint
    {
        let (model, config, report) =
            Wav2Vec2Model::from_pretrained(dir, device).with_context(|| {
                format!(
                    "loading the audio encoder (model.audio.checkpoint = {})",
                    dir.display()
                )
            })?;
        report_load(&report, "audio encoder", observer);
        encoders.audio = Some(PretrainedAudioEncoder {
            model,
            config,
            source: dir.clone(),
        });
    }
    Ok(encoders)
}

/// Builds the model of `experiment` on `train_device` (autodiff): scratch encoders for
/// branches without a checkpoint, pretrained stages otherwise. `scratch_vocab` is the word
/// vocabulary size of a scratch text encoder.
pub fn build_model(
    experiment: &Experiment,
    scratch_vocab: usize,
    class_weights: Vec<f32>,
    num_classes: usize,
    train_device: &Device,
    observer: &dyn Observer,
) -> Result<BuiltModel> {
    let encoders = load_encoders(experiment, train_device, observer)?;
    build_model_from(
        experiment,
        encoders,
        scratch_vocab,
        class_weights,
        num_classes,
        train_device,
    )
}

/// [`build_model`] with the pretrained encoders already in memory (loaded by [`load_encoders`],
/// or made with random weights by a benchmark): a used branch is pretrained exactly when
/// `encoders` holds its encoder (`model.*.checkpoint` is not read here), and is split at
/// `model.*.train_last_layers` as [`build_model`] does. The encoders must be on `train_device`.
pub fn build_model_from(
    experiment: &Experiment,
    encoders: PretrainedEncoders,
    scratch_vocab: usize,
    class_weights: Vec<f32>,
    num_classes: usize,
    train_device: &Device,
) -> Result<BuiltModel> {
    let m = &experiment.model;
    let config = experiment.late_fusion_config(scratch_vocab, class_weights, num_classes);
    let mut trunks = Trunks::default();
    let mut description = Vec::new();
    let mut frozen = Vec::new();
    let context = &experiment.data.context;
    let mut front = PretrainedFrontEnd {
        tokenizer: None,
        // With dialogue context, the sequence is the context's budget.
        max_tokens: if context.enabled() {
            context.max_tokens.unwrap_or(experiment.data.max_tokens)
        } else {
            experiment.data.max_tokens
        },
        audio: None,
        context: context.clone(),
    };

    let text = if !m.uses(Modality::Text) {
        None
    } else if let Some(PretrainedTextEncoder {
        model: encoder,
        config: hf,
        tokenizer,
        source: dir,
    }) = encoders.text
    {
        front.tokenizer = Some(tokenizer);
        let max = hf.max_tokens();
        let key = if context.enabled() && context.max_tokens.is_some() {
            "data.context.max_tokens"
        } else {
            "data.max_tokens"
        };
        if front.max_tokens > max {
            anyhow::bail!(
                "key `{key}` = {}: the text encoder in {} takes at most {max} tokens",
                front.max_tokens,
                dir.display()
            );
        }
        let (frozen_stage, top) = encoder.split(m.text.train_last_layers);
        let mut what = split_text(&frozen_stage, &top, hf.num_layers);
        let pooling = m.pooling(Modality::Text);
        let branch = if m.text.layer_pooling == LayerPooling::Weighted {
            weighted_needs_frozen(
                "model.text",
                top.num_layers() + usize::from(top.takes_ids()),
            )?;
            trunks.text_layers = Some(pooling);
            what = format!(
                "{what}; {pooling:?} pooling of each of the {} hidden states, mixed by learned weights",
                hf.num_layers + 1
            );
            TextBranchEncoder::LayerWeighted(LayerWeights::new(hf.num_layers + 1, train_device))
        } else {
            TextBranchEncoder::Pretrained(top)
        };
        description.push(format!("text: {} ({what})", dir.display()));
        frozen.push((Modality::Text, dir, what));
        if !frozen_stage.is_empty() {
            trunks.text = Some(frozen_stage.valid());
        }
        Some((branch, hf.hidden_size))
    } else {
        description.push(format!(
            "text: built-in transformer, {} layers x {} wide, trained from scratch",
            m.text_layers, m.text_dim
        ));
        Some((
            TextBranchEncoder::Scratch(config.text.init(train_device)),
            m.text_dim,
        ))
    };

    let audio = if !m.uses(Modality::Audio) {
        None
    } else if let Some(PretrainedAudioEncoder {
        model: encoder,
        config: hf,
        source: dir,
    }) = encoders.audio
    {
        front.audio = Some(AudioOptions {
            sample_rate: experiment.data.sample_rate,
            max_seconds: Some(f64::from(experiment.data.clip_seconds)),
            normalize: Some(experiment.data.normalize),
        });
        let (frozen_stage, top) =
            encoder.split(m.audio.train_last_layers, m.audio.train_feature_encoder);
        let mut what = split_audio(&frozen_stage, &top, hf.num_layers);
        let branch = if m.audio.layer_pooling == LayerPooling::Weighted {
            weighted_needs_frozen("model.audio", usize::from(!top.is_empty()))?;
            trunks.audio_layers = true;
            what = format!(
                "{what}; mean of each of the {} hidden states, mixed by learned weights",
                hf.num_layers + 1
            );
            AudioBranchEncoder::LayerWeighted(LayerWeights::new(hf.num_layers + 1, train_device))
        } else {
            AudioBranchEncoder::Pretrained(top)
        };
        description.push(format!("audio: {} ({what})", dir.display()));
        frozen.push((Modality::Audio, dir, what));
        if !frozen_stage.is_empty() {
            trunks.audio = Some(frozen_stage.valid());
        }
        Some((branch, hf.hidden_size))
    } else {
        let features = match experiment.data.features {
            FeatureKind::Logmel => "log-mel bands",
            FeatureKind::Mfcc => "MFCCs",
        };
        match m.audio_encoder {
            AudioEncoderKind::Dilated => {
                description.push(format!(
                    "audio: built-in dilated 1-D CNN over {} {features}, {} channels, trained from scratch",
                    experiment.feature_rows(),
                    m.audio_channels
                ));
                Some((
                    AudioBranchEncoder::Scratch(config.audio.init(train_device)),
                    m.audio_channels,
                ))
            }
            AudioEncoderKind::SpeechCnn => {
                let c = &m.cnn;
                let cnn = SpeechCnnConfig::new(
                    experiment.feature_rows(),
                    c.channels.clone(),
                    c.kernel,
                    c.pool,
                    c.batch_norm,
                    c.dropout,
                )
                .with_pooling(c.pooling)
                .with_stem(c.stem.clone());
                description.push(format!(
                    "audio: speech CNN over {} {features}, 2-D stem {:?}, channels {:?}, kernel {}, pool {}, BatchNorm {}, dropout {}, {:?} pooling, trained from scratch",
                    experiment.feature_rows(),
                    c.stem,
                    c.channels,
                    c.kernel,
                    c.pool,
                    c.batch_norm,
                    c.dropout,
                    c.pooling
                ));
                Some((
                    AudioBranchEncoder::SpeechCnn(cnn.init(train_device)),
                    cnn.output_size(),
                ))
            }
        }
    };

    let pretrained = (front.tokenizer.is_some() || front.audio.is_some()).then_some(front);
    Ok(BuiltModel {
        model: config.assemble(text, audio, train_device),
        trunks,
        pretrained,
        description,
        frozen,
    })
}

/// Layer-weighted pooling mixes per-layer pooled vectors of a frozen encoder (cached once);
/// `trainable` counts what of the encoder would train.
fn weighted_needs_frozen(key: &str, trainable: usize) -> Result<()> {
    if trainable > 0 {
        anyhow::bail!(
            "key `{key}.layer_pooling` = \"weighted\" needs a frozen encoder: set `{key}.train_last_layers = 0` (the per-layer pooled vectors are then computed once and cached), or use layer_pooling = \"last\" to fine-tune layers"
        );
    }
    Ok(())
}

fn split_text(frozen: &RobertaStage, top: &RobertaStage, layers: usize) -> String {
    match (frozen.is_empty(), top.takes_ids()) {
        (true, _) => format!("all {layers} layers and the embeddings train"),
        (false, _) if top.num_layers() == 0 => format!("frozen: embeddings + {layers} layers"),
        _ => format!(
            "last {} of {layers} layers train; frozen: embeddings + {} layers",
            top.num_layers(),
            frozen.num_layers()
        ),
    }
}

fn split_audio(frozen: &Wav2Vec2Stage, top: &Wav2Vec2Stage, layers: usize) -> String {
    if frozen.is_empty() {
        return format!("everything trains, conv feature encoder included ({layers} layers)");
    }
    if top.num_layers() == layers {
        return format!("all {layers} layers train; frozen: conv feature encoder");
    }
    if top.num_layers() == 0 {
        return format!("frozen: conv feature encoder + {layers} layers");
    }
    format!(
        "last {} of {layers} layers train; frozen: conv feature encoder + {} layers",
        top.num_layers(),
        frozen.num_layers()
    )
}

/// Tells the user what a checkpoint load did: the tensors loaded and unused (one line), and
/// the tensors the checkpoint lacked, newly initialised (a warning, as transformers words it).
fn report_load(report: &LoadReport, what: &str, observer: &dyn Observer) {
    observer.info(format!("{what}: {}", report.summary(false)));
    if let Some(warning) = report.newly_initialised_warning(what) {
        observer.warn(format!("warning: {warning}"));
    }
}

/// Builds `experiment`'s model when both branches train from scratch, and runs one batch of
/// two all-zero examples of the experiment's shapes (tokens, feature rows, frames) forward
/// with its loss: what `--dry-run` uses to show that the model builds and accepts its inputs
/// before any data is prepared. Returns the parameter count, or `None` for a model with a
/// pretrained branch (its shapes come from the checkpoint, loaded at training time).
pub fn probe_scratch_model(
    experiment: &Experiment,
    num_classes: usize,
    device: &Device,
) -> Result<Option<usize>> {
    use crate::models::fusion::{AudioInput, FusionBatch, TextInput};
    use burn::tensor::Int;
    let m = &experiment.model;
    if m.text.checkpoint.is_some() || m.audio.checkpoint.is_some() {
        return Ok(None);
    }
    let d = &experiment.data;
    let built = build_model_from(
        experiment,
        PretrainedEncoders::default(),
        // Any vocabulary size will do: all ids of the probe are 0.
        16,
        vec![1.0; num_classes],
        num_classes,
        device,
    )?;
    let batch = 2;
    let frames = experiment.front_end_config().frames();
    let rows = experiment.feature_rows();
    let input = FusionBatch {
        text: m.uses(Modality::Text).then(|| TextInput::Tokens {
            ids: Tensor::<2, Int>::zeros([batch, d.max_tokens], device),
            mask: Tensor::<2, Int>::ones([batch, d.max_tokens], device),
        }),
        audio: m.uses(Modality::Audio).then(|| AudioInput::LogMel {
            features: Tensor::zeros([batch, rows, frames], device),
            mask: Tensor::ones([batch, frames], device),
        }),
        targets: Tensor::<1, Int>::zeros([batch], device),
    };
    let model = built.model;
    let (logits, loss) =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.forward_loss(&input)))
            .map_err(|panic| {
                let message = crate::core::panic::panic_message(panic.as_ref());
                anyhow::anyhow!(
                    "the model of this experiment cannot run a batch of its own shapes \
                     ({rows} feature rows x {frames} frames, {} tokens): {message}",
                    d.max_tokens
                )
            })?;
    let [rows_out, classes] = logits.dims();
    anyhow::ensure!(
        rows_out == batch && classes == num_classes,
        "the model gives logits of shape [{rows_out}, {classes}] for [{batch}, {num_classes}]"
    );
    let loss: f32 = loss.into_scalar();
    anyhow::ensure!(
        loss.is_finite(),
        "the model's loss on a zero batch is {loss}: check the experiment's sizes"
    );
    Ok(Some(parameter_counts(&model).1))
}

/// Counts (trainable, total) parameters.
pub fn parameter_counts<M: Module>(model: &M) -> (usize, usize) {
    struct Counter {
        trainable: usize,
        total: usize,
    }
    impl ModuleVisitor for Counter {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let n = param.lazy_shape().num_elements();
            self.total += n;
            if param.val().is_require_grad() {
                self.trainable += n;
            }
        }
    }
    let mut counter = Counter {
        trainable: 0,
        total: 0,
    };
    model.visit(&mut counter);
    (counter.trainable, counter.total)
}
