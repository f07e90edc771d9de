//! A trained run loaded once and asked for predictions many times: what `emofuse predict` runs
//! once and `emofuse serve` runs per request.
//!
//! Inputs arrive as a transcript and an encoded audio file held in memory (an upload, or a file
//! read by the command line); problems with them come back as [`InputError`]s, which say what
//! the caller has to change, apart from failures of the model itself.

use crate::audio::{TooLong, UnsupportedFormat, decode_bytes, resample, windows};
use crate::core::Modality;
use crate::data::{Turn, Utterance};
use crate::experiment::DeviceChoice;
use crate::inference::predict::{Aggregate, argmax};
use crate::pipeline::trained::{TrainedRun, load_run, run_experiment};
use anyhow::Result;
use std::path::Path;

/// Longest audio accepted, in seconds: a bound on the memory one request can take (a small,
/// highly compressed upload can decode to hours of samples, and a file that declares a very low
/// sample rate would resample to billions). Decoding stops at this length.
pub const MAX_AUDIO_SECONDS: f64 = 600.0;

/// An encoded audio file in memory.
#[derive(Debug, Clone)]
pub struct AudioFile {
    /// The file's bytes (WAV, FLAC, MP3, Ogg Vorbis, AAC in MP4).
    pub bytes: Vec<u8>,
    /// Its name, if known: the extension helps the format probe, and errors quote it.
    pub name: Option<String>,
}

/// What one prediction reads.
#[derive(Debug, Clone, Default)]
pub struct PredictionInput {
    /// The transcript.
    pub text: Option<String>,
    /// The speech.
    pub audio: Option<AudioFile>,
    /// Earlier utterances of the conversation, oldest first, each `SPEAKER: text` or plain
    /// text: the past context of a model trained with `[data.context]` (ignored, and noted,
    /// by other models).
    pub past: Vec<String>,
    /// The current utterance's speaker (`SPEAKER: text` for models trained with speaker names).
    pub speaker: Option<String>,
}

/// `SPEAKER: text` split into the speaker and the text; a line without a short name before
/// its first colon is all text.
pub fn split_speaker(line: &str) -> (Option<String>, String) {
    if let Some((name, text)) = line.split_once(':') {
        let name = name.trim();
        // A name is a few words, not a sentence that happens to contain a colon.
        if !name.is_empty() && name.split_whitespace().count() <= 4 && name.len() <= 40 {
            return (Some(name.to_string()), text.trim().to_string());
        }
    }
    (None, line.trim().to_string())
}

/// The audio a prediction read, as decoded (before resampling to the model's rate).
#[derive(Debug, Clone, PartialEq)]
pub struct AudioSummary {
    /// The file's name, when it had one.
    pub name: Option<String>,
    /// Its duration, in seconds (audio longer than one window is scored in windows).
    pub seconds: f64,
    /// Its own sample rate, in Hz.
    pub sample_rate: u32,
    /// Its channels (mixed down to mono).
    pub channels: usize,
}

/// How a recording longer than one window is scored: windows of `window` seconds every `hop`
/// seconds ([`crate::audio::windows`]), each scored as a clip, their probabilities combined.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Windowing {
    /// Window length in seconds (at most the model's clip length).
    pub window: f32,
    /// Seconds between window starts (at most `window`, so no audio goes unscored).
    pub hop: f32,
    /// How the windows' probabilities become the recording's.
    pub aggregate: Aggregate,
}

impl Windowing {
    /// The default for a model reading `clip_seconds`: windows of the training clip length
    /// with 50% overlap, averaged.
    pub fn for_clip(clip_seconds: f32) -> Self {
        Self {
            window: clip_seconds,
            hop: clip_seconds / 2.0,
            aggregate: Aggregate::Mean,
        }
    }
}

/// The prediction of one window of a long recording.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowPrediction {
    /// Where the window starts, in seconds from the start of the recording.
    pub start: f64,
    /// Where it ends, in seconds.
    pub end: f64,
    /// Its most probable class.
    pub label: String,
    /// Its class probabilities, in label order.
    pub probabilities: Vec<f32>,
}

/// One utterance of a batch, decoded: what [`Predictor::score`] reads.
#[derive(Debug, Clone, Default)]
pub struct BatchUtterance {
    /// The transcript (empty for audio-only models).
    pub text: String,
    /// Mono samples at the model's rate (empty for text-only models).
    pub audio: Vec<f32>,
    /// The speaker's name: utterances of one speaker share statistics under
    /// `data.feature_norm = "speaker"`, and name the turns of dialogue context.
    pub speaker: Option<String>,
    /// The dialogue it belongs to: with a dialogue-context model, the utterances of one
    /// dialogue (in the order given) are each other's context, as in training.
    pub dialogue: Option<String>,
}

/// What [`Predictor::score`] found for one utterance.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Class probabilities, in label order (the windows' combined, for a long recording).
    pub probabilities: Vec<f32>,
    /// Each window's prediction when the recording was scored in more than one window.
    pub windows: Vec<WindowPrediction>,
    /// Something the caller should know about this utterance's scoring.
    pub warning: Option<String>,
}

/// Class probabilities of one utterance.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The most probable class.
    pub label: String,
    /// Every class with its probability, in the run's label order (they sum to 1).
    pub probabilities: Vec<(String, f32)>,
    /// Inputs that were given but that the model does not read (e.g. audio for a text-only
    /// model), so a caller can see they were not used.
    pub ignored: Vec<Modality>,
    /// The audio that was read, if the model reads audio.
    pub audio: Option<AudioSummary>,
    /// Non-fatal problems with the audio (skipped corrupt packets, a truncated file).
    pub warnings: Vec<String>,
    /// Each window's prediction, when the audio was longer than one window (empty otherwise).
    pub windows: Vec<WindowPrediction>,
}

/// A problem with the inputs of one prediction: the caller's to fix.
#[derive(Debug, Clone, PartialEq)]
pub enum InputError {
    /// The model reads this modality and it was not given.
    Missing(Modality),
    /// The transcript is empty or only whitespace.
    EmptyText,
    /// The audio is not in a format emofuse decodes.
    UnsupportedAudio(String),
    /// The audio claims a supported format but cannot be decoded (damaged, empty, no samples).
    CorruptAudio(String),
    /// The model's output for this input is not finite (NaN or infinity). The run's weights
    /// are checked when it is loaded, so this is the input's doing (e.g. samples far outside
    /// ±1 that overflow the features).
    Unscorable,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputError::Missing(Modality::Text) => {
                f.write_str("this model reads text: send the transcript in the `text` field")
            }
            InputError::Missing(Modality::Audio) => f.write_str(
                "this model reads audio: send a WAV, FLAC, MP3, Ogg Vorbis or M4A (AAC) file in \
                 the `audio` field",
            ),
            InputError::EmptyText => {
                f.write_str("the `text` field is empty: type the transcript of the utterance")
            }
            InputError::UnsupportedAudio(why) | InputError::CorruptAudio(why) => f.write_str(why),
            InputError::Unscorable => f.write_str(
                "the model cannot score this input: its output is not finite (NaN or infinity), \
                 which this run does only for abnormal input such as audio far louder than any \
                 recording (samples beyond ±1): send a normal recording",
            ),
        }
    }
}

impl std::error::Error for InputError {}

/// Why a prediction failed.
#[derive(Debug)]
pub enum PredictError {
    /// The inputs are wrong (a client error).
    Input(InputError),
    /// Something failed inside (a server error).
    Internal(anyhow::Error),
}

impl std::fmt::Display for PredictError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PredictError::Input(e) => e.fmt(f),
            PredictError::Internal(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for PredictError {}

impl From<InputError> for PredictError {
    fn from(error: InputError) -> Self {
        PredictError::Input(error)
    }
}

/// A run's best checkpoint with its front ends, ready to predict.
pub struct Predictor {
    run: TrainedRun,
    name: String,
    windowing: Windowing,
}

impl Predictor {
    /// Loads the run in `run_dir` (`runs/<name>`) with `checkpoint` (default: its selected
    /// `model.bpk`). Pretrained encoders are read from the checkpoint folders its config names.
    pub fn load(run_dir: &Path, checkpoint: Option<&Path>) -> Result<Self> {
        Self::load_on(run_dir, checkpoint, DeviceChoice::default())
    }

    /// [`Predictor::load`] on the backend and precision of `device` (the run's own where it
    /// chooses none).
    pub fn load_on(
        run_dir: &Path,
        checkpoint: Option<&Path>,
        device: DeviceChoice,
    ) -> Result<Self> {
        let mut experiment = run_experiment(run_dir)?;
        device.apply(&mut experiment.run);
        // The run folder may have moved: look for its files where they are now.
        if let (Some(parent), Some(name)) = (run_dir.parent(), run_dir.file_name()) {
            experiment.output.runs_dir = parent.to_path_buf();
            experiment.output.name = Some(name.to_string_lossy().into_owned());
        }
        // Single utterances: nothing to cache.
        experiment.model.cache_frozen = false;
        let name = experiment.name().to_string();
        let windowing = Windowing::for_clip(experiment.data.clip_seconds);
        let predictor = Self {
            run: load_run(experiment, checkpoint)?,
            name,
            windowing,
        };
        predictor.check_finite()?;
        Ok(predictor)
    }

    /// Scores a plain utterance (a short sentence, a second of a quiet tone): the weights of a
    /// finished run give finite probabilities for it, so that a non-finite answer later is the
    /// input's fault ([`InputError::Unscorable`]), not the model's.
    fn check_finite(&self) -> Result<()> {
        let rate = self.sample_rate();
        let audio = (0..rate)
            .map(|i| 0.1 * (std::f32::consts::TAU * 220.0 * i as f32 / rate as f32).sin())
            .collect();
        let row = self.probabilities("input", "it is a plain sentence".into(), audio)?;
        if row.iter().any(|p| !p.is_finite()) {
            anyhow::bail!(
                "the model gives non-finite probabilities ({row:?}) for a plain input; is {} a \
                 finished run? Train it again, or pick another --checkpoint",
                self.run.checkpoint.display()
            );
        }
        Ok(())
    }

    /// The class probabilities of one utterance, as the model computes them.
    fn probabilities(&self, id: &str, text: String, audio: Vec<f32>) -> Result<Vec<f32>> {
        self.probabilities_in_dialogue(id, &[], None, text, audio)
    }

    /// The class probabilities of one utterance after `past` (`SPEAKER: text` lines, oldest
    /// first): one dialogue whose last turn is scored, its context built as in training.
    fn probabilities_in_dialogue(
        &self,
        id: &str,
        past: &[String],
        speaker: Option<String>,
        text: String,
        audio: Vec<f32>,
    ) -> Result<Vec<f32>> {
        let turn = |index: usize, speaker: Option<String>| Turn {
            dialogue: "input".into(),
            index: index as u32,
            speaker: speaker.unwrap_or_default(),
        };
        let mut utterances: Vec<Utterance> = past
            .iter()
            .enumerate()
            .map(|(i, line)| {
                let (speaker, text) = split_speaker(line);
                Utterance {
                    id: format!("past-{i}"),
                    text,
                    audio: Vec::new(),
                    audio_path: None,
                    label: 0,
                    speaker: 0,
                    turn: Some(turn(i, speaker)),
                }
            })
            .collect();
        utterances.push(Utterance {
            id: id.into(),
            text,
            audio,
            audio_path: None,
            label: 0,
            speaker: 0,
            turn: Some(turn(past.len(), speaker)),
        });
        // Only the last turn is scored: the past ones are context.
        let mut predictions = self.run.predict_last(&utterances)?;
        Ok(predictions.probabilities.swap_remove(0))
    }

    /// Whether the model reads earlier utterances (trained with `[data.context] past`).
    pub fn reads_past_context(&self) -> bool {
        self.run.experiment.model.uses(Modality::Text) && self.run.experiment.data.context.past.on()
    }

    /// The run's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Class names, in label order.
    pub fn labels(&self) -> &[String] {
        self.run.labels.names()
    }

    /// The run's label map.
    pub fn label_map(&self) -> &crate::core::LabelMap {
        &self.run.labels
    }

    /// The modalities the model reads, in the experiment's order.
    pub fn modalities(&self) -> &[Modality] {
        &self.run.experiment.model.modalities
    }

    /// The sample rate the model reads audio at (uploads are resampled to it).
    pub fn sample_rate(&self) -> u32 {
        self.run.experiment.data.sample_rate
    }

    /// The length of audio the model reads at a time, in seconds (longer recordings are scored
    /// in windows).
    pub fn clip_seconds(&self) -> f32 {
        self.run.experiment.data.clip_seconds
    }

    /// Whether each speaker's features are standardised with that speaker's statistics
    /// (`data.feature_norm = "speaker"`, built-in audio encoder): then a speaker's utterances
    /// should be scored in one [`Predictor::score`] call.
    pub fn normalises_by_speaker(&self) -> bool {
        self.run.experiment.model.uses(Modality::Audio)
            && self.run.setup.scratch.is_some()
            && self.run.experiment.data.feature_norm == crate::data::batch::FeatureNormKind::Speaker
    }

    /// The class a label written in an input table or file name stands for: a class name of
    /// the run, the same emotion under another corpus's name (`angry` for `anger`), or, for a
    /// run trained on a speech corpus, an emotion its label table maps (RAVDESS's `calm` to
    /// `neutral` in a grouped run). `None`: the run has no such class.
    pub fn class_of(&self, label: &str) -> Option<usize> {
        use crate::data::speech::canonical_emotion;
        let names = self.labels();
        let label = label.trim();
        if let Some(i) = names.iter().position(|n| n == label) {
            return Some(i);
        }
        let canonical = canonical_emotion(label);
        if let Some(i) = names.iter().position(|n| canonical_emotion(n) == canonical) {
            return Some(i);
        }
        if self.run.experiment.data.dataset.is_pooled() {
            let table = self.run.experiment.label_table().ok()?;
            return table.class_of(label).or_else(|| table.class_of(&canonical));
        }
        None
    }

    /// How long recordings are scored.
    pub fn windowing(&self) -> Windowing {
        self.windowing
    }

    /// Scores long recordings with windows of `window` seconds every `hop` seconds (defaults:
    /// the clip length, and half the window) combined by `aggregate`. The model reads at most
    /// its clip length at a time, so a longer window is refused, and a hop longer than the
    /// window would leave audio unscored. `what` names the options in errors (e.g. `--window`).
    pub fn set_windowing(
        &mut self,
        window: Option<f32>,
        hop: Option<f32>,
        aggregate: Aggregate,
        what: (&str, &str),
    ) -> Result<()> {
        let clip = self.clip_seconds();
        let window = window.unwrap_or(clip);
        let hop = hop.unwrap_or(window / 2.0);
        let min = 1.0 / self.sample_rate() as f32;
        if !(window.is_finite() && window >= min && window <= clip) {
            anyhow::bail!(
                "{} {window}: a window must be between one sample and the model's clip length \
                 ({clip} s, what it was trained on): pass a value in (0, {clip}]",
                what.0
            );
        }
        if !(hop.is_finite() && hop >= min && hop <= window) {
            anyhow::bail!(
                "{} {hop}: the hop must be positive and at most the window ({window} s), or \
                 audio between windows would not be scored",
                what.1
            );
        }
        self.windowing = Windowing {
            window,
            hop,
            aggregate,
        };
        Ok(())
    }

    /// Whether the model reads dialogue context (past or future turns): then the utterances of a
    /// dialogue are scored together, each as one clip.
    pub fn reads_context(&self) -> bool {
        self.run.experiment.model.uses(Modality::Text) && self.run.experiment.data.context.enabled()
    }

    /// Scores `utterances` together, `batch_size` windows or utterances at a time, in order.
    ///
    /// Audio longer than the window is scored in windows ([`Predictor::set_windowing`]) and the
    /// windows combined. A dialogue-context model scores each utterance as one clip cut to its
    /// first window (its context is made of whole turns; the warning says so when audio was
    /// cut). Under `data.feature_norm = "speaker"`, each speaker's statistics come from its
    /// utterances among these, so give a speaker's utterances in one call.
    pub fn score(&self, utterances: &[BatchUtterance], batch_size: usize) -> Result<Vec<Scored>> {
        let rate = f64::from(self.sample_rate());
        let window = (f64::from(self.windowing.window) * rate).round() as usize;
        let hop = ((f64::from(self.windowing.hop) * rate).round() as usize).max(1);
        let reads_audio = self.run.experiment.model.uses(Modality::Audio);
        let mut speakers: Vec<&str> = utterances
            .iter()
            .filter_map(|u| u.speaker.as_deref())
            .collect();
        speakers.sort_unstable();
        speakers.dedup();
        let speaker_id = |u: &BatchUtterance| {
            u.speaker
                .as_deref()
                .and_then(|s| speakers.binary_search(&s).ok())
                .map_or(0, |i| i as u32 + 1)
        };
        let context = self.reads_context();
        // Per utterance, the sample ranges of its windows.
        let ranges: Vec<Vec<std::ops::Range<usize>>> = utterances
            .iter()
            .map(|u| match windows(u.audio.len(), window, hop) {
                all if context || !reads_audio => vec![all[0].clone()],
                all => all,
            })
            .collect();
        let mut turns: std::collections::HashMap<&str, u32> = Default::default();
        let mut fed = Vec::with_capacity(ranges.iter().map(Vec::len).sum());
        for (k, (u, ranges)) in utterances.iter().zip(&ranges).enumerate() {
            let turn = if context {
                let dialogue = u
                    .dialogue
                    .clone()
                    .unwrap_or_else(|| format!("utterance-{k}"));
                let index = turns
                    .entry(u.dialogue.as_deref().unwrap_or(""))
                    .or_default();
                let turn = Turn {
                    dialogue,
                    index: *index,
                    speaker: u.speaker.clone().unwrap_or_default(),
                };
                *index += 1;
                Some(turn)
            } else {
                None
            };
            for (w, range) in ranges.iter().enumerate() {
                fed.push(Utterance {
                    id: format!("{k}-{w}"),
                    text: u.text.clone(),
                    audio: u.audio[range.clone()].to_vec(),
                    audio_path: None,
                    label: 0,
                    speaker: speaker_id(u),
                    turn: turn.clone(),
                });
            }
        }
        let rows = self.run.predict_utterances(&fed, batch_size)?.probabilities;
        let names = self.labels();
        let mut rows = rows.into_iter();
        let scored = utterances
            .iter()
            .zip(ranges)
            .map(|(u, ranges)| {
                let own: Vec<Vec<f32>> = rows.by_ref().take(ranges.len()).collect();
                let probabilities = self.windowing.aggregate.combine(&own);
                let windows = if own.len() > 1 {
                    ranges
                        .iter()
                        .zip(own)
                        .map(|(range, p)| WindowPrediction {
                            start: range.start as f64 / rate,
                            end: range.end as f64 / rate,
                            label: names[argmax(&p)].clone(),
                            probabilities: p,
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                let cut = reads_audio && context && u.audio.len() > window;
                let warning = cut.then(|| {
                    format!(
                        "{:.2} s of audio scored on its first {} s: a dialogue-context model \
                         scores each turn as one clip, not in windows",
                        u.audio.len() as f64 / rate,
                        self.windowing.window
                    )
                });
                Scored {
                    probabilities,
                    windows,
                    warning,
                }
            })
            .collect();
        Ok(scored)
    }

    /// The checkpoint file that was loaded.
    pub fn checkpoint(&self) -> &Path {
        &self.run.checkpoint
    }

    /// Class probabilities of one utterance.
    pub fn predict(&self, input: PredictionInput) -> Result<Prediction, PredictError> {
        let model = &self.run.experiment.model;
        let mut ignored = Vec::new();
        let text = match input.text {
            Some(text) if model.uses(Modality::Text) => {
                if text.trim().is_empty() {
                    return Err(InputError::EmptyText.into());
                }
                text
            }
            Some(text) => {
                if !text.trim().is_empty() {
                    ignored.push(Modality::Text);
                }
                String::new()
            }
            None if model.uses(Modality::Text) => {
                return Err(InputError::Missing(Modality::Text).into());
            }
            None => String::new(),
        };
        let (audio, summary, mut warnings) = match input.audio {
            Some(file) if model.uses(Modality::Audio) => {
                let (samples, summary, warnings) = self.decode(file)?;
                (samples, Some(summary), warnings)
            }
            Some(_) => {
                ignored.push(Modality::Audio);
                (Vec::new(), None, Vec::new())
            }
            None if model.uses(Modality::Audio) => {
                return Err(InputError::Missing(Modality::Audio).into());
            }
            None => (Vec::new(), None, Vec::new()),
        };
        let past = if self.reads_past_context() {
            input
                .past
                .into_iter()
                .filter(|l| !l.trim().is_empty())
                .collect()
        } else {
            if input.past.iter().any(|l| !l.trim().is_empty()) {
                warnings.push(
                    "this model was trained without past context; the `past` utterances were ignored"
                        .into(),
                );
            }
            Vec::new()
        };
        let (row, windows) = if self.reads_context() {
            let window = (self.windowing.window * self.sample_rate() as f32).round() as usize;
            let mut audio = audio;
            if audio.len() > window {
                warnings.push(format!(
                    "this model reads dialogue context and scores a turn as one clip: only the \
                     first {} s of the audio were read",
                    self.windowing.window
                ));
                audio.truncate(window);
            }
            let row = self
                .probabilities_in_dialogue("input", &past, input.speaker, text, audio)
                .map_err(PredictError::Internal)?;
            (row, Vec::new())
        } else {
            let utterance = BatchUtterance {
                text,
                audio,
                speaker: input.speaker,
                dialogue: None,
            };
            let scored = self
                .score(std::slice::from_ref(&utterance), 1)
                .map_err(PredictError::Internal)?
                .swap_remove(0);
            (scored.probabilities, scored.windows)
        };
        if row.iter().any(|p| !p.is_finite())
            || windows
                .iter()
                .any(|w| w.probabilities.iter().any(|p| !p.is_finite()))
        {
            return Err(InputError::Unscorable.into());
        }
        let names = self.labels();
        Ok(Prediction {
            label: names[argmax(&row)].clone(),
            probabilities: names.iter().cloned().zip(row.iter().copied()).collect(),
            ignored,
            audio: summary,
            warnings,
            windows,
        })
    }

    /// Decodes an audio file to mono samples at the model's rate, with what was read and the
    /// decoder's warnings.
    pub fn decode(
        &self,
        file: AudioFile,
    ) -> Result<(Vec<f32>, AudioSummary, Vec<String>), InputError> {
        let what = match &file.name {
            Some(name) if !name.is_empty() => format!("audio file `{name}`"),
            _ => "the audio".to_string(),
        };
        let extension = file
            .name
            .as_deref()
            .and_then(|n| Path::new(n).extension())
            .and_then(|e| e.to_str())
            .map(str::to_string);
        let decoded =
            decode_bytes(file.bytes, extension.as_deref(), MAX_AUDIO_SECONDS).map_err(|e| {
                if let Some(unsupported) = e.downcast_ref::<UnsupportedFormat>() {
                    InputError::UnsupportedAudio(format!("{what}: {unsupported}"))
                } else if let Some(too_long) = e.downcast_ref::<TooLong>() {
                    InputError::CorruptAudio(format!(
                        "{what}: {too_long}; at most {MAX_AUDIO_SECONDS:.0} s is accepted (scored \
                         in windows of {} s): send a shorter recording, or cut it in parts",
                        self.windowing.window
                    ))
                } else {
                    InputError::CorruptAudio(format!(
                        "{what} cannot be decoded: {e:#}; send an intact recording"
                    ))
                }
            })?;
        let seconds = decoded.duration_s();
        // decode_bytes refuses NaN, infinite and absurd samples (audio::BadSample).
        let samples = resample(&decoded.samples, decoded.sample_rate, self.sample_rate())
            .map_err(|e| InputError::CorruptAudio(format!("{what}: cannot resample: {e:#}")))?;
        let summary = AudioSummary {
            name: file.name,
            seconds,
            sample_rate: decoded.sample_rate,
            channels: decoded.channels,
        };
        Ok((samples, summary, decoded.warnings))
    }
}
