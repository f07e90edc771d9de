//! `emofuse predict`: class probabilities of one utterance (a transcript and/or an audio file)
//! from a trained run.

use crate::config::{Modality, SplitName};
use crate::data::Utterance;
use crate::evaluation::predict::predict;
use crate::evaluation::trained::{load_run, run_experiment};
use anyhow::{Result, bail};
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
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The probability of each class for one utterance, in label order.
pub fn predict_one(args: &PredictArgs) -> Result<(Vec<String>, Vec<f32>)> {
    let mut experiment = run_experiment(&args.run)?;
    // The run folder may have moved: look for its files where they are now.
    if let (Some(parent), Some(name)) = (args.run.parent(), args.run.file_name()) {
        experiment.output.runs_dir = parent.to_path_buf();
        experiment.output.name = Some(name.to_string_lossy().into_owned());
    }
    // One utterance: nothing to cache.
    experiment.model.cache_frozen = false;
    let m = &experiment.model;
    if m.uses(Modality::Text) && args.text.is_none() {
        bail!("this model reads text: pass --text \"...\"");
    }
    if m.uses(Modality::Audio) && args.audio.is_none() {
        bail!("this model reads audio: pass --audio <file>");
    }
    if let Some(path) = &args.audio
        && !path.is_file()
    {
        bail!("--audio {}: no such file", path.display());
    }
    let trained = load_run(experiment, None)?;
    let utterance = Utterance {
        id: "input".into(),
        text: args.text.clone().unwrap_or_default(),
        audio: Vec::new(),
        audio_path: args.audio.clone(),
        label: 0,
        speaker: 0,
    };
    let inputs = trained.setup.split_inputs(
        &trained.experiment,
        SplitName::Test,
        std::slice::from_ref(&utterance),
        None,
        &trained.device,
    )?;
    let predictions = predict(
        &trained.model,
        &trained.setup.batcher,
        &inputs,
        1,
        &trained.device,
        None,
    );
    Ok((
        trained.labels.names().to_vec(),
        predictions.probabilities[0].clone(),
    ))
}

/// Runs `emofuse predict`.
pub fn run(args: &PredictArgs) -> Result<()> {
    let (names, probabilities) = predict_one(args)?;
    let best = crate::evaluation::predict::argmax(&probabilities);
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
