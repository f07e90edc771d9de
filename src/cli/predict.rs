//! `emofuse predict`: class probabilities of one utterance (a transcript and/or an audio file)
//! from a trained run, or of every row of a folder, list or table (`--input`).

use crate::cli::DeviceArgs;
use crate::cli::eval::DatasetArg;
use crate::core::Modality;
use crate::core::events::Observer;
use crate::inference::predict::Aggregate;
use crate::reports::run_dir::RunDir;
use crate::serving::batch::{files, predict_batch, read_input, write_outputs};
use crate::serving::{
    AudioFile, InputError, PredictError, Prediction, PredictionInput, Predictor, WindowPrediction,
};
use crate::terminal::Terminal;
use anyhow::{Context, Result, anyhow};
use serde_json::json;
use std::path::PathBuf;

/// How audio longer than the model's clip is scored (`predict` and `serve`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WindowArgs {
    /// Window length in seconds for audio longer than the model's clip (default: the clip
    /// length it was trained on; at most that).
    #[arg(long, value_name = "SECONDS")]
    pub window: Option<f32>,
    /// Seconds between window starts (default: half the window, i.e. 50% overlap).
    #[arg(long, value_name = "SECONDS")]
    pub hop: Option<f32>,
    /// How the windows' probabilities are combined.
    #[arg(long, value_enum, default_value_t = Aggregate::Mean)]
    pub aggregate: Aggregate,
}

impl WindowArgs {
    /// Sets `predictor`'s windowing, or says which option is wrong.
    pub fn apply(&self, predictor: &mut Predictor) -> Result<()> {
        predictor.set_windowing(self.window, self.hop, self.aggregate, ("--window", "--hop"))
    }
}

/// Arguments of `emofuse predict`.
#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// Run folder (`runs/<name>`).
    #[arg(long)]
    pub run: PathBuf,
    /// The transcript (text models).
    #[arg(long)]
    pub text: Option<String>,
    /// The audio file: WAV, FLAC, MP3, Ogg Vorbis, or AAC in MP4 (audio models). Audio longer
    /// than the model's clip is scored in windows (`--window`, `--hop`).
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
    /// Predict every row of a folder of audio files, a list of audio paths (one per line) or
    /// a CSV table (`path`/`audio` and/or `text` columns; optional `id`, `label`, `speaker`,
    /// `dialogue`), writing predictions.csv (and the metrics when rows carry labels).
    #[arg(long, conflicts_with_all = ["text", "audio", "past", "speaker", "json"])]
    pub input: Option<PathBuf>,
    /// Folder for the batch outputs (default: `<run>/predict/<input name>/`).
    #[arg(long, requires = "input")]
    pub out: Option<PathBuf>,
    /// Read `--input` as this dataset's folder: labels and speakers from the file names.
    #[arg(long, value_enum, requires = "input")]
    pub dataset: Option<DatasetArg>,
    /// Also write timeline.csv: every window of every recording (start, end, label,
    /// probabilities).
    #[arg(long, requires = "input")]
    pub timeline: bool,
    /// Windows or utterances per forward pass in batch prediction.
    #[arg(long, default_value_t = 32, requires = "input")]
    pub batch_size: usize,
    /// How long recordings are scored.
    #[command(flatten)]
    pub windows: WindowArgs,
    /// Where and in what precision the model runs.
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// The probability of each class for one utterance, in label order.
pub fn predict_one(args: &PredictArgs) -> Result<(Vec<String>, Vec<f32>)> {
    let prediction = predict_utterance(args)?;
    Ok(prediction.probabilities.into_iter().unzip())
}

/// The prediction of one utterance (`--text` / `--audio`), its notes printed to stderr.
pub fn predict_utterance(args: &PredictArgs) -> Result<Prediction> {
    let audio = match &args.audio {
        Some(path) => Some(AudioFile {
            bytes: std::fs::read(path)
                .with_context(|| format!("--audio {}: cannot read the file", path.display()))?,
            name: Some(path.display().to_string()),
        }),
        None => None,
    };
    let mut predictor = Predictor::load_on(&args.run, None, args.device.choice())?;
    args.windows.apply(&mut predictor)?;
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
    Ok(prediction)
}

/// Runs `emofuse predict`.
pub fn run(args: &PredictArgs) -> Result<()> {
    if args.input.is_some() {
        return run_batch(args);
    }
    let prediction = predict_utterance(args)?;
    let (names, probabilities): (Vec<String>, Vec<f32>) =
        prediction.probabilities.iter().cloned().unzip();
    let best = crate::inference::predict::argmax(&probabilities);
    if args.json {
        let map = |values: &[f32]| -> serde_json::Map<String, serde_json::Value> {
            names
                .iter()
                .zip(values)
                .map(|(n, p)| (n.clone(), json!(p)))
                .collect()
        };
        let mut answer = json!({
            "predicted": names[best],
            "probabilities": map(&probabilities),
        });
        if !prediction.windows.is_empty() {
            answer["windows"] = prediction
                .windows
                .iter()
                .map(|w| {
                    json!({"start": w.start, "end": w.end, "label": w.label,
                           "probabilities": map(&w.probabilities)})
                })
                .collect();
        }
        println!("{}", serde_json::to_string_pretty(&answer)?);
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
    if !prediction.windows.is_empty() {
        print_timeline(&prediction.windows, args.windows.aggregate);
    }
    Ok(())
}

/// The windows of a long recording, one line each.
fn print_timeline(windows: &[WindowPrediction], aggregate: Aggregate) {
    println!(
        "\n{} windows ({} of their probabilities above):",
        windows.len(),
        aggregate.as_str()
    );
    for w in windows {
        let top = w.probabilities.iter().copied().fold(0.0f32, f32::max);
        println!(
            "  {:>8.2} - {:>8.2} s  {:<12} {:>6.2}%",
            w.start,
            w.end,
            w.label,
            100.0 * top
        );
    }
}

/// `emofuse predict --input`: every row of a folder, list or table.
fn run_batch(args: &PredictArgs) -> Result<()> {
    let input_path = args.input.as_ref().expect("checked by run");
    let terminal = Terminal::default();
    let started = std::time::Instant::now();
    let mut predictor = Predictor::load_on(&args.run, None, args.device.choice())?;
    args.windows.apply(&mut predictor)?;
    let input = read_input(input_path, args.dataset.map(Into::into))?;
    let name = input_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "input".into());
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| RunDir::new(&args.run).batch_predictions(&name));
    let rows = input.rows.len() + input.rejected.len();
    let loaded = started.elapsed().as_secs_f64();
    let predicting = std::time::Instant::now();
    let outcome = predict_batch(&predictor, input, args.batch_size.max(1), &terminal)?;
    let seconds = predicting.elapsed().as_secs_f64();
    let title = format!("{} on {}", predictor.name(), input_path.display());
    let labels = predictor.label_map();
    let written = write_outputs(&out, &outcome, labels, args.timeline, &title)?;
    for modality in &outcome.ignored {
        terminal.warn(format!(
            "this model does not read {}: the input's {} were ignored",
            modality.name(),
            match modality {
                Modality::Text => "transcripts",
                Modality::Audio => "audio files",
            }
        ));
    }
    for row in &outcome.predicted {
        for warning in &row.warnings {
            terminal.warn(format!("{}: {warning}", row.row.id));
        }
    }
    let windows: usize = outcome
        .predicted
        .iter()
        .map(|r| r.windows.len().max(1))
        .sum();
    terminal.info(format!(
        "{rows} rows: {} predicted ({windows} windows) in {seconds:.2} s ({:.1} rows/s; model \
         loaded in {loaded:.2} s), {} rejected{}",
        outcome.predicted.len(),
        outcome.predicted.len() as f64 / seconds.max(1e-9),
        outcome.rejected.len(),
        if outcome.rejected.is_empty() {
            String::new()
        } else {
            format!(" (reasons in {})", out.join(files::REJECTED).display())
        }
    ));
    for rejected in outcome.rejected.iter().take(5) {
        terminal.warn(format!("rejected {}: {}", rejected.id, rejected.reason));
    }
    if outcome.rejected.len() > 5 {
        terminal.warn(format!(
            "... and {} more rejected rows",
            outcome.rejected.len() - 5
        ));
    }
    if let Some(metrics) = outcome.metrics(labels) {
        terminal.info(format!(
            "{} labelled rows: accuracy {:.2}, UAR {:.2}, weighted F1 {:.2}, macro F1 {:.2}",
            metrics.support,
            100.0 * metrics.accuracy,
            100.0 * metrics.uar,
            100.0 * metrics.weighted_f1,
            100.0 * metrics.macro_f1
        ));
    } else if outcome.labelled {
        terminal.warn("the input's labels are none of the run's classes: no metrics".into());
    }
    if !outcome.unknown_labels.is_empty() {
        let shown: Vec<String> = outcome
            .unknown_labels
            .iter()
            .map(|(l, n)| format!("{l} ({n})"))
            .collect();
        terminal.warn(format!(
            "labels the run has no class for (predicted, not scored): {}; the run's classes are {}",
            shown.join(", "),
            predictor.labels().join(", ")
        ));
    }
    terminal.info(format!(
        "wrote {}",
        written
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(())
}
