//! `emofuse predict`: class probabilities of one utterance (a transcript and/or an audio file)
//! from a trained run.

use crate::core::Modality;
use crate::serving::{AudioFile, InputError, PredictError, PredictionInput, Predictor};
use anyhow::{Context, Result, anyhow};
use serde_json::json;
use std::path::PathBuf;

/// Arguments of `emofuse predict`.
#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// Run folder (`runs/<name>`).
    #[arg(long)]
    pub run: PathBuf,
    /// The transcript (text models).
    #[arg(long)]
    pub text: Option<String>,
    /// The audio file: WAV, FLAC, MP3, Ogg Vorbis, or AAC in MP4 (audio models).
    #[arg(long)]
    pub audio: Option<PathBuf>,
    /// An earlier utterance of the conversation, `SPEAKER: text` (repeat, oldest first): the
    /// past context of a model trained with `[data.context]`.
    #[arg(long)]
    pub past: Vec<String>,
    /// The speaker of `--text` (for models trained with `speaker_names`).
    #[arg(long)]
    pub speaker: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The probability of each class for one utterance, in label order.
pub fn predict_one(args: &PredictArgs) -> Result<(Vec<String>, Vec<f32>)> {
    let audio = match &args.audio {
        Some(path) => Some(AudioFile {
            bytes: std::fs::read(path)
                .with_context(|| format!("--audio {}: cannot read the file", path.display()))?,
            name: Some(path.display().to_string()),
        }),
        None => None,
    };
    let predictor = Predictor::load(&args.run, None)?;
    let input = PredictionInput {
        text: args.text.clone(),
        audio,
        past: args.past.clone(),
        speaker: args.speaker.clone(),
    };
    let prediction = predictor.predict(input).map_err(|e| match e {
        PredictError::Input(InputError::Missing(Modality::Text)) => {
            anyhow!("this model reads text: pass --text \"...\"")
        }
        PredictError::Input(InputError::Missing(Modality::Audio)) => {
            anyhow!("this model reads audio: pass --audio <file>")
        }
        other => anyhow!(other),
    })?;
    for warning in &prediction.warnings {
        eprintln!("warning: {warning}");
    }
    for modality in &prediction.ignored {
        eprintln!(
            "note: this model does not read {} input; it was ignored",
            modality.name()
        );
    }
    Ok(prediction.probabilities.into_iter().unzip())
}

/// Runs `emofuse predict`.
pub fn run(args: &PredictArgs) -> Result<()> {
    let (names, probabilities) = predict_one(args)?;
    let best = crate::inference::predict::argmax(&probabilities);
    if args.json {
        let map: serde_json::Map<String, serde_json::Value> = names
            .iter()
            .zip(&probabilities)
            .map(|(n, p)| (n.clone(), json!(p)))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "predicted": names[best],
                "probabilities": map,
            }))?
        );
        return Ok(());
    }
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]));
    let width = names.iter().map(String::len).max().unwrap_or(5);
    for i in order {
        let bar = "#".repeat((probabilities[i] * 40.0).round() as usize);
        println!(
            "{:<width$}  {:>6.2}%  {bar}",
            names[i],
            100.0 * probabilities[i]
        );
    }
    Ok(())
}
