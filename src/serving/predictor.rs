//! A trained run loaded once and asked for predictions many times: what `emofuse predict` runs
//! once and `emofuse serve` runs per request.
//!
//! Inputs arrive as a transcript and an encoded audio file held in memory (an upload, or a file
//! read by the command line); problems with them come back as [`InputError`]s, which say what
//! the caller has to change, apart from failures of the model itself.

use crate::audio::{TooLong, UnsupportedFormat, decode_bytes, resample};
use crate::core::Modality;
use crate::data::{Turn, Utterance};
use crate::inference::predict::argmax;
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
    /// Its duration, in seconds (the model reads at most its first `clip_seconds`).
    pub seconds: f64,
    /// Its own sample rate, in Hz.
    pub sample_rate: u32,
    /// Its channels (mixed down to mono).
    pub channels: usize,
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
}

impl Predictor {
    /// Loads the run in `run_dir` (`runs/<name>`) with `checkpoint` (default: its selected
    /// `model.bpk`). Pretrained encoders are read from the checkpoint folders its config names.
    pub fn load(run_dir: &Path, checkpoint: Option<&Path>) -> Result<Self> {
        let mut experiment = run_experiment(run_dir)?;
        // The run folder may have moved: look for its files where they are now.
        if let (Some(parent), Some(name)) = (run_dir.parent(), run_dir.file_name()) {
            experiment.output.runs_dir = parent.to_path_buf();
            experiment.output.name = Some(name.to_string_lossy().into_owned());
        }
        // Single utterances: nothing to cache.
        experiment.model.cache_frozen = false;
        let name = experiment.name().to_string();
        let predictor = Self {
            run: load_run(experiment, checkpoint)?,
            name,
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

    /// The modalities the model reads, in the experiment's order.
    pub fn modalities(&self) -> &[Modality] {
        &self.run.experiment.model.modalities
    }

    /// The sample rate the model reads audio at (uploads are resampled to it).
    pub fn sample_rate(&self) -> u32 {
        self.run.experiment.data.sample_rate
    }

    /// The length of audio the model reads, in seconds (longer clips are cut).
    pub fn clip_seconds(&self) -> f32 {
        self.run.experiment.data.clip_seconds
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
        let row = self
            .probabilities_in_dialogue("input", &past, input.speaker, text, audio)
            .map_err(PredictError::Internal)?;
        if row.iter().any(|p| !p.is_finite()) {
            return Err(InputError::Unscorable.into());
        }
        let names = self.labels();
        Ok(Prediction {
            label: names[argmax(&row)].clone(),
            probabilities: names.iter().cloned().zip(row.iter().copied()).collect(),
            ignored,
            audio: summary,
            warnings,
        })
    }

    /// Decodes an audio file to mono samples at the model's rate, with what was read and the
    /// decoder's warnings.
    fn decode(&self, file: AudioFile) -> Result<(Vec<f32>, AudioSummary, Vec<String>), InputError> {
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
                        "{what}: {too_long}; at most {MAX_AUDIO_SECONDS:.0} s is accepted, and \
                         the model reads only the first {} s: send a shorter clip",
                        self.clip_seconds()
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
