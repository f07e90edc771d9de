//! The training loop: shuffled mini-batches (optionally masked and mixed, see
//! [`crate::training::mixing`]), class-weighted loss, gradient accumulation,
//! global-norm clipping, AdamW or SGD, learning-rate schedules, validation every epoch,
//! checkpoint selection on a validation metric, early stopping, a NaN/Inf stop, and a checkpoint
//! after every epoch from which `--resume` continues.
//!
//! Every epoch draws its shuffling and dropout from `(seed, epoch)` alone, and a checkpoint holds
//! the model, the optimiser state and the loop's own state (`state.json`), so a resumed run
//! reaches the same numbers as an uninterrupted one.

use crate::core::LabelMap;
use crate::core::events::{Event, Observer};
use crate::evaluation::evaluate;
use crate::inference::inputs::{InputBatcher, SplitInputs};
use crate::inference::predict::predict;
use crate::io::atomic;
use crate::io::tfevents::{self, EventWriter};
use crate::models::LateFusion;
use crate::training::config::{OptimizerKind, ScheduleKind, SelectMetric, TrainingConfig};
use crate::training::grad_clip::{clip_grad_norm, grad_norm};
use crate::training::history::EpochRecord;
use crate::training::mixing::{mixup, spec_augment};
use crate::training::schedule::{Plateau, learning_rate};
use anyhow::{Context, Result, anyhow, bail};
use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamWConfig, GradientsAccumulator, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::store::ModuleRecord;
use burn::tensor::{Device, FloatDType};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The loop's own state, saved with every checkpoint (`checkpoint/state.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoopState {
    /// Epochs finished.
    pub epoch: usize,
    /// Optimiser steps taken.
    pub step: usize,
    /// One record per finished epoch.
    pub history: Vec<EpochRecord>,
    /// Epoch with the best selection metric so far, and its value.
    pub best: Option<(usize, f64)>,
    /// Epochs since the selection metric last improved (early stopping).
    pub bad_epochs: usize,
    /// Reduce-on-plateau state.
    pub plateau: Plateau,
    /// Why training stopped before `training.epochs`, if it did.
    pub stopped: Option<String>,
}

/// What [`fit`] returns.
pub struct FitResult {
    /// The model after the last finished epoch (training device).
    pub model: LateFusion,
    /// The loop state (history, best epoch, stop reason).
    pub state: LoopState,
    /// Wall time of this invocation's training, in seconds.
    pub seconds: f64,
    /// The epochs this invocation trained, in order (a resumed run lists only the epochs after
    /// its checkpoint; empty when it resumed a finished run): the record that tells a resume
    /// from a silent restart, whose history would look the same.
    pub epochs_run: Vec<usize>,
}

/// Inputs of [`fit`].
pub struct Fit<'a> {
    /// `[training]`: optimiser, schedule, epochs, selection.
    pub config: &'a TrainingConfig,
    /// The run seed (each epoch's shuffling and dropout come from it and the epoch).
    pub seed: u64,
    /// Where the per-epoch checkpoints go.
    pub checkpoints: &'a Checkpoints,
    /// Training split.
    pub train: &'a SplitInputs,
    /// Validation split.
    pub valid: &'a SplitInputs,
    /// Batch builder.
    pub batcher: &'a InputBatcher,
    /// Class names.
    pub labels: &'a LabelMap,
    /// Loss weights (validation loss uses them too).
    pub class_weights: &'a [f32],
    /// Training (autodiff) device.
    pub device: &'a Device,
    /// Continue from the last checkpoint in `checkpoints`.
    pub resume: bool,
    /// Receives the epoch lines and the batch progress.
    pub observer: &'a dyn Observer,
    /// Where TensorBoard events go (`None`: no event file).
    pub events: Option<&'a EventLog>,
}

/// A run's TensorBoard event file and the text logged at step 0.
#[derive(Debug, Clone)]
pub struct EventLog {
    /// The event file (its folder is created).
    pub file: PathBuf,
    /// The resolved experiment (`config.toml`), logged as the text summary `config`.
    pub config: String,
}

/// Opens the event file of a run: a fresh one with the config at step 0, or, when resuming
/// after `resumed_step`, the old one cut back to that step.
fn open_events(log: &EventLog, resumed_step: Option<usize>) -> Result<EventWriter> {
    if let Some(dir) = log.file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    match resumed_step {
        Some(step) => tfevents::resume(&log.file, step as i64),
        None => {
            let mut writer = EventWriter::create(&log.file)?;
            // Four spaces make Markdown show the TOML as a code block.
            let text: String = log.config.lines().map(|l| format!("    {l}\n")).collect();
            writer.text("config", 0, &text)?;
            writer.flush()?;
            Ok(writer)
        }
    }
}

/// Writes the per-epoch scalars of `record` at `step`.
fn log_epoch(writer: &mut EventWriter, record: &EpochRecord, step: i64) -> Result<()> {
    for (tag, value) in [
        ("epoch/train_loss", record.train_loss),
        ("epoch/train_accuracy", record.train_accuracy),
        ("epoch/valid_loss", record.valid_loss),
        ("epoch/valid_accuracy", record.valid_accuracy),
        ("epoch/valid_weighted_f1", record.valid_weighted_f1),
        ("epoch/valid_macro_f1", record.valid_macro_f1),
        ("epoch/learning_rate", record.learning_rate),
        ("epoch/epoch", record.epoch as f64),
    ] {
        writer.scalar(tag, step, value)?;
    }
    writer.flush()
}

/// The checkpoint folder of a run and the names of its files: `model-<epoch>.bpk`,
/// `optim-<epoch>.bpk` and `state.json` (the loop state, written last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoints {
    dir: PathBuf,
}

impl Checkpoints {
    /// Checkpoints in `dir` (created when the first one is saved).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The model weights after `epoch`.
    pub fn model(&self, epoch: usize) -> PathBuf {
        self.dir.join(format!("model-{epoch}.bpk"))
    }

    /// The optimiser state after `epoch`.
    pub fn optim(&self, epoch: usize) -> PathBuf {
        self.dir.join(format!("optim-{epoch}.bpk"))
    }

    /// The loop state of the latest finished epoch.
    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
}

fn optimizer(t: &TrainingConfig) -> ModuleOptimizer {
    match t.optimizer {
        OptimizerKind::Adamw => AdamWConfig::new().with_weight_decay(t.weight_decay).init(),
        OptimizerKind::Sgd => SgdConfig::new()
            .with_momentum(
                (t.momentum > 0.0).then(|| MomentumConfig::new().with_momentum(t.momentum)),
            )
            .with_weight_decay(
                (t.weight_decay > 0.0).then(|| WeightDecayConfig::new(t.weight_decay)),
            )
            .init(),
    }
}

/// The value of `metric` in an epoch record.
pub fn metric_value(record: &EpochRecord, metric: SelectMetric) -> f64 {
    match metric {
        SelectMetric::WeightedF1 => record.valid_weighted_f1,
        SelectMetric::MacroF1 => record.valid_macro_f1,
        SelectMetric::Accuracy => record.valid_accuracy,
        SelectMetric::Loss => record.valid_loss,
    }
}

/// Loads a model checkpoint into `model`.
pub fn load_model(model: LateFusion, path: &Path) -> Result<LateFusion> {
    let mut record = ModuleRecord::load(path)
        .map_err(|e| anyhow!("cannot load checkpoint {}: {e:?}", path.display()))?;
    // Checkpoints hold f32 (training runs in f32); a device computing in half precision gets
    // them cast once, here.
    if model
        .devices()
        .first()
        .is_some_and(|d| d.settings().float_dtype != FloatDType::F32)
    {
        record = record.cast_to_module_dtype();
    }
    model.try_load_record(record).map_err(|e| {
        anyhow!(
            "checkpoint {} does not fit this model: {e:?}",
            path.display()
        )
    })
}

/// Saves a model to `path` (atomically).
pub fn save_model(model: &LateFusion, path: &Path) -> Result<()> {
    let bytes = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| anyhow!("cannot serialise the model: {e:?}"))?;
    atomic::write(path, &bytes)
}

fn save_checkpoint(
    checkpoints: &Checkpoints,
    model: &LateFusion,
    optim: &ModuleOptimizer,
    state: &LoopState,
) -> Result<()> {
    std::fs::create_dir_all(checkpoints.dir())
        .with_context(|| format!("cannot create {}", checkpoints.dir().display()))?;
    let epoch = state.epoch;
    save_model(model, &checkpoints.model(epoch))?;
    let bytes = optim
        .into_bytes()
        .map_err(|e| anyhow!("cannot serialise the optimiser: {e:?}"))?;
    atomic::write(&checkpoints.optim(epoch), &bytes)?;
    // The state file goes last: it is what makes the epoch count as finished.
    atomic::write(
        &checkpoints.state(),
        serde_json::to_string_pretty(state)?.as_bytes(),
    )?;
    // Keep the best and the latest epoch only.
    let best = state.best.map(|b| b.0);
    for e in 1..epoch {
        if Some(e) != best {
            for path in [checkpoints.model(e), checkpoints.optim(e)] {
                let _ = std::fs::remove_file(path);
            }
        }
    }
    Ok(())
}

/// Reads the loop state of an interrupted run (`None` when no epoch finished).
pub fn read_state(checkpoints: &Checkpoints) -> Result<Option<LoopState>> {
    let path = checkpoints.state();
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is damaged; start the run again without --resume",
                path.display()
            )
        })?)),
        Err(_) => Ok(None),
    }
}

fn seed_for(seed: u64, epoch: usize) -> u64 {
    seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Trains `model` on `fit.train`, validating on `fit.valid` after every epoch.
pub fn fit(mut model: LateFusion, fit: &Fit) -> Result<FitResult> {
    let t = fit.config;
    let mut optim = optimizer(t);
    let mut state = LoopState::default();
    let mut resumed_step = None;
    if fit.resume
        && let Some(saved) = read_state(fit.checkpoints)?
    {
        model = load_model(model, &fit.checkpoints.model(saved.epoch))?;
        let path = fit.checkpoints.optim(saved.epoch);
        optim = optim
            .load(&path)
            .map_err(|err| anyhow!("cannot load {}: {err:?}", path.display()))?;
        fit.observer.info(format!(
            "resuming after epoch {} of {} (step {})",
            saved.epoch, t.epochs, saved.step
        ));
        resumed_step = Some(saved.step);
        state = saved;
        state.stopped = None;
    }
    let mut events = fit
        .events
        .map(|log| open_events(log, resumed_step))
        .transpose()?;
    let plain = fit.device.clone().inner();
    let batches = fit.train.len().div_ceil(t.batch_size);
    let steps_per_epoch = batches.div_ceil(t.grad_accumulation);
    let total_steps = steps_per_epoch * t.epochs;
    let metric = t.select_metric;
    let started = Instant::now();
    let first_epoch = state.epoch + 1;

    while state.epoch < t.epochs {
        let epoch = state.epoch + 1;
        // Shuffling and dropout depend on (seed, epoch) only: resuming changes nothing.
        let epoch_seed = seed_for(fit.seed, epoch);
        fit.device.seed(epoch_seed);
        let mut rng = ChaCha8Rng::seed_from_u64(epoch_seed);
        let order = if t.balanced_sampling {
            balanced_order(&fit.train.labels, &mut rng)
        } else {
            let mut order: Vec<usize> = (0..fit.train.len()).collect();
            order.shuffle(&mut rng);
            order
        };

        fit.observer.event(Event::TaskStarted {
            name: format!("epoch {epoch}/{}", t.epochs),
            total: batches as u64,
            unit: "batches",
        });
        let epoch_started = Instant::now();
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        // Loss and accuracy of the batches of the current optimiser step (step scalars).
        let (mut step_loss, mut step_correct, mut step_seen) = (0.0f64, 0usize, 0usize);
        let mut accumulator = GradientsAccumulator::<LateFusion>::new();
        let mut pending = 0usize;
        let mut lr = learning_rate(t, state.step.max(1), total_steps, state.plateau.scale);
        for (b, chunk) in order.chunks(t.batch_size).enumerate() {
            let mut batch = fit.batcher.batch(fit.train, chunk, fit.device);
            if t.spec_augment.enabled() {
                spec_augment(&mut batch, &t.spec_augment, &mut rng)?;
            }
            let mut targets = batch.targets.clone();
            let (logits, loss) = if t.mixup_alpha > 0.0 {
                let mixed = mixup(&mut batch, t.mixup_alpha, &mut rng)?;
                let partners = targets.clone().select(0, mixed.partner);
                let logits = model.forward(&batch);
                let loss = model
                    .loss(logits.clone(), targets.clone())
                    .mul_scalar(mixed.lambda)
                    + model
                        .loss(logits.clone(), partners.clone())
                        .mul_scalar(1.0 - mixed.lambda);
                // Training accuracy counts the larger share's class as the target.
                if mixed.lambda < 0.5 {
                    targets = partners;
                }
                (logits, loss)
            } else {
                model.forward_loss(&batch)
            };
            let loss_value: f32 = loss.clone().into_scalar();
            if !loss_value.is_finite() {
                fit.observer.event(Event::TaskFinished);
                state.stopped = Some(format!(
                    "the training loss became {loss_value} at epoch {epoch}, batch {}; the run stopped and kept the checkpoints of finished epochs. Try a lower training.learning_rate or training.grad_clip_norm",
                    b + 1
                ));
                fit.observer.warn(format!(
                    "error: {}",
                    state.stopped.as_deref().unwrap_or_default()
                ));
                close_events(events, fit.observer)?;
                return finish(model, state, fit.checkpoints, started, first_epoch);
            }
            let predicted = logits.argmax(1).reshape([chunk.len()]);
            let batch_correct = predicted.equal(targets).int().sum().into_scalar::<i64>() as usize;
            correct += batch_correct;
            seen += chunk.len();
            loss_sum += f64::from(loss_value) * chunk.len() as f64;
            step_correct += batch_correct;
            step_seen += chunk.len();
            step_loss += f64::from(loss_value) * chunk.len() as f64;
            // Accumulated gradients are averaged, as with a batch `grad_accumulation` times larger.
            let loss = if t.grad_accumulation > 1 {
                loss.div_scalar(t.grad_accumulation as f32)
            } else {
                loss
            };
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            accumulator.accumulate(&model, grads);
            pending += 1;
            if pending == t.grad_accumulation || b + 1 == batches {
                let mut grads = accumulator.grads();
                let norm = if t.grad_clip_norm > 0.0 {
                    Some(clip_grad_norm(&model, &mut grads, t.grad_clip_norm))
                } else if events.is_some() {
                    Some(grad_norm(&model, &grads))
                } else {
                    None
                };
                state.step += 1;
                lr = learning_rate(t, state.step, total_steps, state.plateau.scale);
                model = optim.step(lr, model, grads);
                pending = 0;
                if let Some(writer) = events.as_mut() {
                    let step = state.step as i64;
                    writer.scalar("step/train_loss", step, step_loss / step_seen as f64)?;
                    writer.scalar(
                        "step/train_accuracy",
                        step,
                        step_correct as f64 / step_seen as f64,
                    )?;
                    writer.scalar("step/learning_rate", step, lr)?;
                    if let Some(norm) = norm {
                        writer.scalar("step/grad_norm", step, f64::from(norm))?;
                    }
                    // Flushed every step: TensorBoard shows a running epoch, and a killed run
                    // leaves its steps on disk (which `--resume` then cuts).
                    writer.flush()?;
                }
                (step_loss, step_correct, step_seen) = (0.0, 0, 0);
            }
            fit.observer.event(Event::TaskProgress {
                done: b as u64 + 1,
                status: format!(
                    "loss {:.4} acc {:.1}%",
                    loss_sum / seen as f64,
                    100.0 * correct as f64 / seen as f64
                ),
            });
        }
        fit.observer.event(Event::TaskFinished);

        let eval_model = model.valid();
        let predictions = predict(
            &eval_model,
            fit.batcher,
            fit.valid,
            2 * t.batch_size,
            &plain,
            None,
        );
        let metrics = evaluate(&fit.valid.labels, &predictions.classes, fit.labels);
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            valid_loss: predictions.weighted_loss(&fit.valid.labels, fit.class_weights),
            valid_accuracy: metrics.accuracy,
            valid_weighted_f1: metrics.weighted_f1,
            valid_macro_f1: metrics.macro_f1,
            learning_rate: lr,
        };
        let value = metric_value(&record, metric);
        let improved = match state.best {
            None => true,
            Some((_, best)) if metric.higher_is_better() => value > best,
            Some((_, best)) => value < best,
        };
        if improved {
            state.best = Some((epoch, value));
            state.bad_epochs = 0;
        } else {
            state.bad_epochs += 1;
        }
        let dropped = t.schedule == ScheduleKind::Plateau
            && state
                .plateau
                .update(improved, t.plateau_patience, t.plateau_factor);
        fit.observer.info(format!(
            "epoch {epoch}/{}: train loss {:.4} acc {:.2}% | valid loss {:.4} acc {:.2}% wF1 {:.2}% mF1 {:.2}% | lr {:.2e} | {:.1} s{}{}",
            t.epochs,
            record.train_loss,
            100.0 * record.train_accuracy,
            record.valid_loss,
            100.0 * record.valid_accuracy,
            100.0 * record.valid_weighted_f1,
            100.0 * record.valid_macro_f1,
            lr,
            epoch_started.elapsed().as_secs_f64(),
            if improved {
                format!("  best {}", metric.as_str())
            } else {
                String::new()
            },
            if dropped {
                "  (plateau: learning rate reduced)"
            } else {
                ""
            },
        ));
        if let Some(writer) = events.as_mut() {
            log_epoch(writer, &record, state.step as i64)?;
        }
        state.history.push(record);
        state.epoch = epoch;
        if t.early_stopping_patience > 0 && state.bad_epochs >= t.early_stopping_patience {
            state.stopped = Some(format!(
                "early stopping: validation {} did not improve for {} epochs",
                metric.as_str(),
                state.bad_epochs
            ));
            fit.observer.info(state.stopped.clone().unwrap_or_default());
        }
        save_checkpoint(fit.checkpoints, &model, &optim, &state)?;
        if state.stopped.is_some() {
            break;
        }
    }
    close_events(events, fit.observer)?;
    finish(model, state, fit.checkpoints, started, first_epoch)
}

/// Flushes the event file and reports the time spent on it (the overhead of event logging).
fn close_events(events: Option<EventWriter>, observer: &dyn Observer) -> Result<()> {
    if let Some(mut writer) = events {
        writer.flush()?;
        let (spent, records) = writer.overhead();
        observer.info(format!(
            "tensorboard: {records} events in {} ({:.3} s spent writing them)",
            writer.path().display(),
            spent.as_secs_f64()
        ));
    }
    Ok(())
}

/// One epoch of indices drawn with replacement so that every class present is equally likely
/// (each example weighs `1 / count` of its class); as many draws as examples.
pub fn balanced_order(labels: &[usize], rng: &mut ChaCha8Rng) -> Vec<usize> {
    let classes = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut counts = vec![0usize; classes];
    for &l in labels {
        counts[l] += 1;
    }
    let mut cumulative = Vec::with_capacity(labels.len());
    let mut acc = 0.0f64;
    for &l in labels {
        acc += 1.0 / counts[l] as f64;
        cumulative.push(acc);
    }
    (0..labels.len())
        .map(|_| {
            let u = rand::RngExt::random::<f64>(rng) * acc;
            cumulative.partition_point(|&c| c < u).min(labels.len() - 1)
        })
        .collect()
}

fn finish(
    model: LateFusion,
    state: LoopState,
    checkpoints: &Checkpoints,
    started: Instant,
    first_epoch: usize,
) -> Result<FitResult> {
    if state.epoch == 0 {
        bail!(
            "{}; no epoch finished, so there is no checkpoint in {}",
            state.stopped.as_deref().unwrap_or("training stopped"),
            checkpoints.dir().display()
        );
    }
    Ok(FitResult {
        model,
        epochs_run: (first_epoch..=state.epoch).collect(),
        state,
        seconds: started.elapsed().as_secs_f64(),
    })
}
