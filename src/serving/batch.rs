//! Batch prediction (`emofuse predict --input`): a trained run over a folder of audio files, a
//! list of files, a CSV table (a transcript and/or an audio column, optionally labels), or a
//! dataset folder whose file names carry the labels (RAVDESS, EmoDB, SAVEE).
//!
//! Every input row is either predicted or listed with the reason it was not (a missing file,
//! undecodable audio, an empty transcript): nothing is dropped silently. When rows carry labels
//! the run's classes know, the metrics and confusion matrix of those rows are written too, so a
//! trained model can be scored on any labelled table.

use crate::core::events::{Event, Observer};
use crate::core::{LabelMap, Modality};
use crate::data::speech::{ReadResult, files_under, read_emodb, read_ravdess, read_savee};
use crate::data::text_table::TextTable;
use crate::evaluation::{SplitMetrics, classification_report, evaluate};
use crate::experiment::DatasetKind;
use crate::inference::predict::argmax;
use crate::serving::predictor::{
    AudioFile, BatchUtterance, InputError, Predictor, Scored, WindowPrediction,
};
use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Extensions (lower case) of the audio files a folder or list is searched for: the formats
/// emofuse decodes (the decoder probes the content; the extension only finds the files).
pub const AUDIO_EXTENSIONS: [&str; 9] = [
    "wav", "wave", "flac", "mp3", "ogg", "oga", "m4a", "mp4", "aac",
];

/// One input to predict, as read from the input (nothing decoded yet).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchRow {
    /// The row's id: the `id` column, else the file's path relative to the input, else the
    /// row number.
    pub id: String,
    /// What the row is, as the user wrote it: the audio path, or the transcript when there is
    /// no audio.
    pub input: String,
    /// The transcript.
    pub text: Option<String>,
    /// The audio file (resolved against the input's folder).
    pub audio: Option<PathBuf>,
    /// The true class, as written (a class name or an emotion name).
    pub label: Option<String>,
    /// The speaker.
    pub speaker: Option<String>,
    /// The dialogue, for dialogue-context models.
    pub dialogue: Option<String>,
    /// The position within the dialogue (the `utterance_id` column), when given.
    pub turn: Option<i64>,
}

/// An input row that was not predicted, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// The row's id.
    pub id: String,
    /// The row's input (path or transcript).
    pub input: String,
    /// What is wrong with it, and what to do.
    pub reason: String,
}

/// What an input held.
#[derive(Debug, Clone, Default)]
pub struct BatchInput {
    /// The rows to predict, in input order.
    pub rows: Vec<BatchRow>,
    /// Rows (or files) that cannot be predicted, with the reason.
    pub rejected: Vec<Rejected>,
}

/// Reads `path`: a folder (every file under it, recursively, sorted; with `dataset`, read by
/// that dataset's reader so the file names give labels and speakers), a `.csv` / `.tsv` table,
/// or any other file as a list of audio paths, one per line (`#` comments and blank lines are
/// skipped). Relative paths are resolved against the list's or table's folder.
pub fn read_input(path: &Path, dataset: Option<DatasetKind>) -> Result<BatchInput> {
    if !path.exists() {
        bail!(
            "--input {}: no such file or folder\n  hint: pass a folder of audio files, a list \
             of paths (one per line) or a CSV table",
            path.display()
        );
    }
    if let Some(kind) = dataset {
        return read_dataset(path, kind);
    }
    if path.is_dir() {
        return read_folder(path);
    }
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("csv") | Some("tsv") => read_csv(path),
        Some(e) if AUDIO_EXTENSIONS.contains(&e) => bail!(
            "--input {}: this is an audio file; predict one file with --audio {0}, or pass the \
             folder that holds it",
            path.display()
        ),
        _ => read_list(path),
    }
}

fn is_audio(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// `path` relative to `root`, as text (the id of a file found in a folder).
fn relative(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

fn read_folder(root: &Path) -> Result<BatchInput> {
    let files = files_under(root)?;
    let mut input = BatchInput::default();
    for path in files {
        let id = relative(&path, root);
        if is_audio(&path) {
            input.rows.push(BatchRow {
                input: path.display().to_string(),
                audio: Some(path),
                id,
                ..BatchRow::default()
            });
        } else {
            input.rejected.push(Rejected {
                input: path.display().to_string(),
                id,
                reason: format!(
                    "not an audio file (its extension is not one of {})",
                    AUDIO_EXTENSIONS.join(", ")
                ),
            });
        }
    }
    if input.rows.is_empty() {
        bail!(
            "--input {}: no audio files in this folder ({} other files)\n  hint: emofuse reads {}",
            root.display(),
            input.rejected.len(),
            AUDIO_EXTENSIONS.join(", ")
        );
    }
    Ok(input)
}

fn read_list(list: &Path) -> Result<BatchInput> {
    let text = std::fs::read_to_string(list)
        .with_context(|| format!("--input {}: cannot read the list", list.display()))?;
    let root = list.parent().unwrap_or(Path::new(""));
    let mut input = BatchInput::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        input.rows.push(BatchRow {
            id: line.to_string(),
            input: line.to_string(),
            audio: Some(root.join(line)),
            ..BatchRow::default()
        });
    }
    if input.rows.is_empty() {
        bail!(
            "--input {}: the list names no files\n  hint: write one audio path per line",
            list.display()
        );
    }
    Ok(input)
}

/// The first of `names` the table has.
fn column<'a>(table: &TextTable, names: &[&'a str]) -> Option<&'a str> {
    names.iter().copied().find(|n| table.has(n))
}

/// Column names accepted for each field (MELD's own tables and `data-prep` manifests included).
const ID_COLUMNS: [&str; 2] = ["id", "Sr No."];
const AUDIO_COLUMNS: [&str; 4] = ["path", "audio", "file", "audio_path"];
const TEXT_COLUMNS: [&str; 3] = ["text", "Utterance", "transcript"];
const LABEL_COLUMNS: [&str; 4] = ["label", "emotion", "Emotion", "class"];
const SPEAKER_COLUMNS: [&str; 2] = ["speaker", "Speaker"];
const DIALOGUE_COLUMNS: [&str; 3] = ["dialogue", "dialogue_id", "Dialogue_ID"];
const TURN_COLUMNS: [&str; 3] = ["utterance_id", "Utterance_ID", "turn"];

fn read_csv(path: &Path) -> Result<BatchInput> {
    let table = TextTable::read(path, "--input table", "pass an existing CSV file")?;
    let (audio, text) = (
        column(&table, &AUDIO_COLUMNS),
        column(&table, &TEXT_COLUMNS),
    );
    if audio.is_none() && text.is_none() {
        bail!(
            "--input {}: the table has neither an audio column ({}) nor a text column ({}); its \
             columns are {}",
            path.display(),
            AUDIO_COLUMNS.join(", "),
            TEXT_COLUMNS.join(", "),
            table.names().join(", ")
        );
    }
    let root = path.parent().unwrap_or(Path::new(""));
    let (id, label, speaker, dialogue, turn) = (
        column(&table, &ID_COLUMNS),
        column(&table, &LABEL_COLUMNS),
        column(&table, &SPEAKER_COLUMNS),
        column(&table, &DIALOGUE_COLUMNS),
        column(&table, &TURN_COLUMNS),
    );
    let cell = |name: Option<&str>, row: usize| {
        name.and_then(|n| table.raw(n, row))
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
    };
    let mut input = BatchInput::default();
    for row in 0..table.height() {
        // Line numbers as an editor shows them: the header is line 1.
        let line = row + 2;
        let audio_cell = cell(audio, row);
        // Transcripts are taken exactly as written (a leading space can be meaningful).
        let text_cell = text.and_then(|n| table.raw(n, row)).map(str::to_string);
        let id = cell(id, row).unwrap_or_else(|| format!("line {line}"));
        let shown = audio_cell
            .clone()
            .or_else(|| text_cell.clone())
            .unwrap_or_default();
        let turn_value = match cell(turn, row) {
            Some(v) => match v.parse::<i64>() {
                Ok(v) => Some(v),
                Err(_) => {
                    input.rejected.push(Rejected {
                        id,
                        input: shown,
                        reason: format!(
                            "line {line}: column `{}` is `{v}`, not a whole number",
                            turn.unwrap_or_default()
                        ),
                    });
                    continue;
                }
            },
            None => None,
        };
        input.rows.push(BatchRow {
            id,
            input: shown,
            text: text_cell,
            audio: audio_cell.map(|p| root.join(p)),
            label: cell(label, row),
            speaker: cell(speaker, row),
            dialogue: cell(dialogue, row),
            turn: turn_value,
        });
    }
    if input.rows.is_empty() && input.rejected.is_empty() {
        bail!("--input {}: the table has no rows", path.display());
    }
    Ok(input)
}

fn read_dataset(path: &Path, kind: DatasetKind) -> Result<BatchInput> {
    let read: fn(&Path) -> Result<ReadResult> = match kind {
        DatasetKind::Ravdess => read_ravdess,
        DatasetKind::Emodb => read_emodb,
        DatasetKind::Savee => read_savee,
        other => bail!(
            "--dataset {other:?}: only ravdess, emodb and savee folders carry labels in their \
             file names; pass a CSV table (with a `label` column) as --input instead"
        ),
    };
    let found = read(path)?;
    let mut input = BatchInput::default();
    for clip in found.clips {
        input.rows.push(BatchRow {
            id: clip.id,
            input: clip.path.display().to_string(),
            audio: Some(clip.path),
            label: Some(clip.emotion),
            speaker: Some(clip.speaker),
            ..BatchRow::default()
        });
    }
    for (file, reason) in found.skipped {
        input.rejected.push(Rejected {
            id: relative(&file, path),
            input: file.display().to_string(),
            reason,
        });
    }
    Ok(input)
}

/// One predicted row.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictedRow {
    /// The row as read.
    pub row: BatchRow,
    /// The true class, when the row's label is a class of the run.
    pub class: Option<usize>,
    /// The predicted class.
    pub predicted: usize,
    /// Class probabilities, in label order.
    pub probabilities: Vec<f32>,
    /// The audio's duration in seconds, when the model reads audio.
    pub seconds: Option<f64>,
    /// The windows of a long recording (empty when it was one window).
    pub windows: Vec<WindowPrediction>,
    /// Non-fatal problems (decoder warnings, audio cut for a dialogue-context model).
    pub warnings: Vec<String>,
}

/// What a batch prediction produced.
#[derive(Debug, Clone, Default)]
pub struct BatchOutcome {
    /// Predicted rows, in input order.
    pub predicted: Vec<PredictedRow>,
    /// Rows not predicted, with the reason: the input's and the prediction's.
    pub rejected: Vec<Rejected>,
    /// Labels the run has no class for, with how many rows carry each (predicted, not scored).
    pub unknown_labels: BTreeMap<String, usize>,
    /// Whether the input carries labels at all.
    pub labelled: bool,
    /// Modalities the input carries that the model does not read (e.g. transcripts for an
    /// audio-only model).
    pub ignored: Vec<Modality>,
}

impl BatchOutcome {
    /// The predicted rows whose label is a class of the run: (true, predicted) class indices.
    pub fn scored(&self) -> (Vec<usize>, Vec<usize>) {
        self.predicted
            .iter()
            .filter_map(|r| r.class.map(|c| (c, r.predicted)))
            .unzip()
    }

    /// Metrics of the scored rows (`None` when no row carries a known label).
    pub fn metrics(&self, labels: &LabelMap) -> Option<SplitMetrics> {
        let (truth, predicted) = self.scored();
        (!truth.is_empty()).then(|| evaluate(&truth, &predicted, labels))
    }
}

/// Rows scored per call of the model (and per progress step): a speaker's or a dialogue's rows
/// stay together, so a group may be larger.
const CHUNK: usize = 64;

/// Predicts every row of `input` with `predictor`, `batch_size` windows at a time, reporting
/// progress (one step per row) to `observer`.
///
/// Rows are decoded in parallel and scored in chunks. A dialogue-context model gets each
/// dialogue's rows in one chunk (ordered by their turn where given); a model standardising
/// features per speaker gets each speaker's rows in one chunk, as in training.
pub fn predict_batch(
    predictor: &Predictor,
    input: BatchInput,
    batch_size: usize,
    observer: &dyn Observer,
) -> Result<BatchOutcome> {
    let reads_text = predictor.modalities().contains(&Modality::Text);
    let reads_audio = predictor.modalities().contains(&Modality::Audio);
    if reads_text && input.rows.iter().all(|r| r.text.is_none()) {
        bail!(
            "this model reads text and the input has no transcripts: pass a CSV table with a \
             text column ({})",
            TEXT_COLUMNS.join(", ")
        );
    }
    if reads_audio && input.rows.iter().all(|r| r.audio.is_none()) {
        bail!(
            "this model reads audio and the input names no audio files: pass a folder of audio \
             files, a list of paths, or a CSV table with an audio column ({})",
            AUDIO_COLUMNS.join(", ")
        );
    }
    let mut ignored = Vec::new();
    if !reads_text && input.rows.iter().any(|r| r.text.is_some()) {
        ignored.push(Modality::Text);
    }
    if !reads_audio && input.rows.iter().any(|r| r.audio.is_some()) {
        ignored.push(Modality::Audio);
    }
    let mut outcome = BatchOutcome {
        rejected: input.rejected,
        ignored,
        labelled: input.rows.iter().any(|r| r.label.is_some()),
        ..BatchOutcome::default()
    };
    let rows = input.rows;
    let groups = chunks(predictor, &rows);
    observer.event(Event::TaskStarted {
        name: "predict".into(),
        total: rows.len() as u64,
        unit: "rows",
    });
    let mut done = 0u64;
    let mut predicted: Vec<(usize, PredictedRow)> = Vec::with_capacity(rows.len());
    for group in groups {
        // Decode (in parallel: decoding and resampling are most of the time for small models).
        let prepared: Vec<(usize, Result<Prepared, String>)> = group
            .par_iter()
            .map(|&i| (i, prepare(predictor, &rows[i], reads_text, reads_audio)))
            .collect();
        let mut ready = Vec::new();
        for (i, prepared) in prepared {
            match prepared {
                Ok(p) => ready.push((i, p)),
                Err(reason) => outcome.rejected.push(Rejected {
                    id: rows[i].id.clone(),
                    input: rows[i].input.clone(),
                    reason,
                }),
            }
        }
        let utterances: Vec<BatchUtterance> = ready
            .iter_mut()
            .map(|(_, p)| std::mem::take(&mut p.utterance))
            .collect();
        let scored = predictor.score(&utterances, batch_size)?;
        for ((i, p), s) in ready.into_iter().zip(scored) {
            match finish(predictor, &rows[i], p, s) {
                Ok(row) => predicted.push((i, row)),
                Err(reason) => outcome.rejected.push(Rejected {
                    id: rows[i].id.clone(),
                    input: rows[i].input.clone(),
                    reason,
                }),
            }
        }
        done += group.len() as u64;
        observer.event(Event::TaskProgress {
            done,
            status: format!("{} rejected", outcome.rejected.len()),
        });
    }
    observer.event(Event::TaskFinished);
    predicted.sort_by_key(|(i, _)| *i);
    outcome.predicted = predicted.into_iter().map(|(_, r)| r).collect();
    for row in &outcome.predicted {
        if let (Some(label), None) = (&row.row.label, row.class) {
            *outcome.unknown_labels.entry(label.clone()).or_default() += 1;
        }
    }
    Ok(outcome)
}

/// The rows grouped for scoring (indices into `rows`, each group in scoring order).
fn chunks(predictor: &Predictor, rows: &[BatchRow]) -> Vec<Vec<usize>> {
    let keyed = |key: &dyn Fn(&BatchRow) -> Option<String>| {
        // Groups in the order their first row appears; rows without a key alone.
        let mut order: Vec<Vec<usize>> = Vec::new();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        for (i, row) in rows.iter().enumerate() {
            match key(row) {
                Some(k) => {
                    let g = *index.entry(k).or_insert_with(|| {
                        order.push(Vec::new());
                        order.len() - 1
                    });
                    order[g].push(i);
                }
                None => order.push(vec![i]),
            }
        }
        order
    };
    let groups: Vec<Vec<usize>> = if predictor.reads_context() {
        let mut dialogues = keyed(&|r: &BatchRow| r.dialogue.clone());
        for dialogue in &mut dialogues {
            // Stable: rows without a turn keep their file order.
            dialogue.sort_by_key(|&i| rows[i].turn.unwrap_or(i64::MIN));
        }
        dialogues
    } else if predictor.normalises_by_speaker() {
        // Rows without a speaker are one group (as training treats an unknown speaker).
        keyed(&|r: &BatchRow| Some(r.speaker.clone().unwrap_or_default()))
    } else {
        (0..rows.len()).map(|i| vec![i]).collect()
    };
    // Small groups are packed together up to CHUNK rows.
    let mut packed: Vec<Vec<usize>> = Vec::new();
    for group in groups {
        match packed.last_mut() {
            // Several speakers may share a call (each gets its own statistics); one speaker's
            // rows are never split across calls.
            Some(last) if last.len() + group.len() <= CHUNK => last.extend(group),
            _ => packed.push(group),
        }
    }
    packed
}

/// A row decoded and checked.
struct Prepared {
    utterance: BatchUtterance,
    seconds: Option<f64>,
    warnings: Vec<String>,
}

fn prepare(
    predictor: &Predictor,
    row: &BatchRow,
    reads_text: bool,
    reads_audio: bool,
) -> Result<Prepared, String> {
    let text = if reads_text {
        match &row.text {
            Some(t) if !t.trim().is_empty() => t.clone(),
            _ => return Err("no transcript (this model reads text): fill the text cell".into()),
        }
    } else {
        String::new()
    };
    let (audio, seconds, warnings) = if reads_audio {
        let Some(path) = &row.audio else {
            return Err("no audio file (this model reads audio): fill the audio cell".into());
        };
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read audio file {}: {e}", path.display()))?;
        let file = AudioFile {
            bytes,
            name: Some(path.display().to_string()),
        };
        let (samples, summary, warnings) = predictor.decode(file).map_err(|e| e.to_string())?;
        (samples, Some(summary.seconds), warnings)
    } else {
        (Vec::new(), None, Vec::new())
    };
    Ok(Prepared {
        utterance: BatchUtterance {
            text,
            audio,
            speaker: row.speaker.clone(),
            dialogue: row.dialogue.clone(),
        },
        seconds,
        warnings,
    })
}

fn finish(
    predictor: &Predictor,
    row: &BatchRow,
    prepared: Prepared,
    scored: Scored,
) -> Result<PredictedRow, String> {
    let finite = scored.probabilities.iter().all(|p| p.is_finite())
        && scored
            .windows
            .iter()
            .all(|w| w.probabilities.iter().all(|p| p.is_finite()));
    if !finite {
        return Err(InputError::Unscorable.to_string());
    }
    let mut warnings = prepared.warnings;
    warnings.extend(scored.warning);
    Ok(PredictedRow {
        class: row.label.as_deref().and_then(|l| predictor.class_of(l)),
        predicted: argmax(&scored.probabilities),
        probabilities: scored.probabilities,
        seconds: prepared.seconds,
        windows: scored.windows,
        warnings,
        row: row.clone(),
    })
}

/// The files [`write_outputs`] writes into the output folder.
pub mod files {
    /// Every predicted row.
    pub const PREDICTIONS: &str = "predictions.csv";
    /// Every row not predicted, with the reason.
    pub const REJECTED: &str = "rejected.csv";
    /// Every window of every long recording.
    pub const TIMELINE: &str = "timeline.csv";
    /// Metrics of the labelled rows.
    pub const METRICS: &str = "metrics.json";
    /// The classification report and the counts.
    pub const REPORT: &str = "report.md";
    /// Stem of the confusion matrices (`.png`, `.svg`, `_normalized`).
    pub const CONFUSION: &str = "confusion_matrix";
}

/// Writes `outcome` into `out` (created if needed): `predictions.csv` (`id,input[,label],
/// predicted,p_<class>...[,seconds,windows]`), `rejected.csv` (`id,input,reason`) when rows were
/// rejected, `timeline.csv` (`id,window,start,end,predicted,p_<class>...`) with `timeline`, and
/// for labelled inputs `metrics.json`, `report.md` and the confusion matrices. Files of an
/// earlier prediction into the same folder that this one does not write are removed, so the
/// folder never mixes two runs. Returns the paths written.
pub fn write_outputs(
    out: &Path,
    outcome: &BatchOutcome,
    labels: &LabelMap,
    timeline: bool,
    title: &str,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut written = Vec::new();
    let probability_columns = || labels.names().iter().map(|n| format!("p_{n}"));
    let with_audio = outcome.predicted.iter().any(|r| r.seconds.is_some());

    let mut csv = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["id".to_string(), "input".into()];
    if outcome.labelled {
        header.push("label".into());
    }
    header.push("predicted".into());
    header.extend(probability_columns());
    if with_audio {
        header.extend(["seconds".into(), "windows".into()]);
    }
    csv.write_record(&header)?;
    for r in &outcome.predicted {
        let mut record = vec![r.row.id.clone(), r.row.input.clone()];
        if outcome.labelled {
            record.push(r.row.label.clone().unwrap_or_default());
        }
        record.push(labels.names()[r.predicted].clone());
        record.extend(r.probabilities.iter().map(|p| format!("{p:.6}")));
        if with_audio {
            record.push(r.seconds.map(|s| format!("{s:.3}")).unwrap_or_default());
            record.push(r.windows.len().max(1).to_string());
        }
        csv.write_record(&record)?;
    }
    written.push(write_csv(out, files::PREDICTIONS, csv)?);

    let optional = |name: &str, write: bool| -> Result<Option<PathBuf>> {
        let path = out.join(name);
        if !write && path.exists() {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove the stale {}", path.display()))?;
        }
        Ok(write.then_some(path))
    };

    if optional(files::REJECTED, !outcome.rejected.is_empty())?.is_some() {
        let mut csv = csv::Writer::from_writer(Vec::new());
        csv.write_record(["id", "input", "reason"])?;
        for r in &outcome.rejected {
            csv.write_record([&r.id, &r.input, &r.reason])?;
        }
        written.push(write_csv(out, files::REJECTED, csv)?);
    }

    if optional(files::TIMELINE, timeline)?.is_some() {
        let mut csv = csv::Writer::from_writer(Vec::new());
        let mut header = vec![
            "id".to_string(),
            "window".into(),
            "start".into(),
            "end".into(),
            "predicted".into(),
        ];
        header.extend(probability_columns());
        csv.write_record(&header)?;
        for r in &outcome.predicted {
            // A recording of one window is its own timeline row, so every file appears.
            let single = [WindowPrediction {
                start: 0.0,
                end: r.seconds.unwrap_or(0.0),
                label: labels.names()[r.predicted].clone(),
                probabilities: r.probabilities.clone(),
            }];
            let windows = if r.windows.is_empty() {
                &single[..]
            } else {
                &r.windows
            };
            for (k, w) in windows.iter().enumerate() {
                let mut record = vec![
                    r.row.id.clone(),
                    k.to_string(),
                    format!("{:.3}", w.start),
                    format!("{:.3}", w.end),
                    w.label.clone(),
                ];
                record.extend(w.probabilities.iter().map(|p| format!("{p:.6}")));
                csv.write_record(&record)?;
            }
        }
        written.push(write_csv(out, files::TIMELINE, csv)?);
    }

    let metrics = outcome.metrics(labels);
    let scored = metrics.is_some();
    for name in [files::METRICS, files::REPORT] {
        optional(name, scored)?;
    }
    for suffix in [".png", ".svg", "_normalized.png", "_normalized.svg"] {
        optional(&format!("{}{suffix}", files::CONFUSION), scored)?;
    }
    if let Some(metrics) = metrics {
        let unscored = outcome
            .predicted
            .iter()
            .filter(|r| r.class.is_none())
            .count();
        let record = serde_json::json!({
            "labels": labels.names(),
            "rows": outcome.predicted.len() + outcome.rejected.len(),
            "predicted": outcome.predicted.len(),
            "rejected": outcome.rejected.len(),
            "scored": metrics.support,
            "unscored": unscored,
            "unknown_labels": outcome.unknown_labels,
            "accuracy": metrics.accuracy,
            "uar": metrics.uar,
            "weighted_f1": metrics.weighted_f1,
            "macro_f1": metrics.macro_f1,
            "metrics": metrics,
        });
        let path = out.join(files::METRICS);
        crate::io::atomic::write(&path, serde_json::to_string_pretty(&record)?.as_bytes())?;
        written.push(path);
        written.extend(crate::reports::confusion::write_confusion_matrix(
            &out.join(files::CONFUSION),
            title,
            &metrics.confusion_matrix,
            labels.names(),
            crate::reports::confusion::CellValues::Counts,
        )?);
        written.extend(crate::reports::confusion::write_confusion_matrix(
            &out.join(format!("{}_normalized", files::CONFUSION)),
            &format!("{title}, row-normalised"),
            &metrics.confusion_matrix,
            labels.names(),
            crate::reports::confusion::CellValues::RowPercent,
        )?);
        let mut report = format!(
            "# {title}\n\n{} rows: {} predicted ({} scored against their labels, {unscored} \
             without a known label), {} rejected.\n\n",
            outcome.predicted.len() + outcome.rejected.len(),
            outcome.predicted.len(),
            metrics.support,
            outcome.rejected.len()
        );
        report.push_str(&format!(
            "| accuracy | UAR | weighted F1 | macro F1 |\n|---:|---:|---:|---:|\n| {:.2} | {:.2} | {:.2} | {:.2} |\n\n",
            100.0 * metrics.accuracy,
            100.0 * metrics.uar,
            100.0 * metrics.weighted_f1,
            100.0 * metrics.macro_f1
        ));
        if !outcome.unknown_labels.is_empty() {
            let shown: Vec<String> = outcome
                .unknown_labels
                .iter()
                .map(|(l, n)| format!("`{l}` ({n})"))
                .collect();
            report.push_str(&format!(
                "Labels the run has no class for (predicted, not scored): {}.\n\n",
                shown.join(", ")
            ));
        }
        report.push_str(&format!(
            "```text\n{}```\n\n![confusion matrix]({}.png)\n",
            classification_report(&metrics, labels, 4),
            files::CONFUSION
        ));
        let path = out.join(files::REPORT);
        crate::io::atomic::write(&path, report.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

fn write_csv(out: &Path, name: &str, csv: csv::Writer<Vec<u8>>) -> Result<PathBuf> {
    let path = out.join(name);
    let bytes = csv
        .into_inner()
        .with_context(|| format!("cannot write {}", path.display()))?;
    crate::io::atomic::write(&path, &bytes)?;
    Ok(path)
}
