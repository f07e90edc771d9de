//! `data-prep meld`: MELD's raw media to 16 kHz mono WAV files and one manifest per split.
//!
//! MELD's media (`MELD.Raw.tar.gz`) hold one clip per CSV row, named
//! `dia{Dialogue_ID}_utt{Utterance_ID}.mp4`, in per-split folders whose names and nesting vary
//! between copies; some names carry a `final_videos_test` prefix or a `.mp4.wav` / `.wav`
//! suffix, and dialogue/utterance ids repeat across splits. So clips are found through an
//! index of every media file under `--raw`, keyed by (split, dialogue, utterance), with the split
//! read from the folder names. Rows with no usable audio are listed with the reason in
//! `problems.csv` and counted in the summary; one bad clip never stops the run, and a re-run
//! skips the clips already written.

use crate::manifest::csv_field;
use crate::wav::write_wav16;
use anyhow::{Context, Result, bail};
use emofuse::audio::load_waveform;
use emofuse::core::LabelMap;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// MELD's splits: CSV file name, and the name used for output folders and manifests.
pub const SPLITS: [(Split, &str); 3] = [
    (Split::Train, "train_sent_emo.csv"),
    (Split::Dev, "dev_sent_emo.csv"),
    (Split::Test, "test_sent_emo.csv"),
];

/// A MELD split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// `train_sent_emo.csv`, media in `train_splits`.
    Train,
    /// `dev_sent_emo.csv`, media in `dev_splits_complete`.
    Dev,
    /// `test_sent_emo.csv`, media in `output_repeated_splits_test`.
    Test,
}

impl Split {
    /// Lower-case name (`train`, `dev`, `test`).
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Dev => "dev",
            Split::Test => "test",
        }
    }

    /// The split a media folder belongs to, from its name (`train_splits`,
    /// `dev_splits_complete`, `output_repeated_splits_test`, `MELD.Raw/test`, ...).
    fn of_folder(name: &str) -> Option<Split> {
        let name = name.to_ascii_lowercase();
        if name.contains("train") {
            Some(Split::Train)
        } else if name.contains("dev") || name.contains("valid") {
            Some(Split::Dev)
        } else if name.contains("test") {
            Some(Split::Test)
        } else {
            None
        }
    }
}

/// Options of `data-prep meld`.
#[derive(Debug, Clone)]
pub struct MeldOptions {
    /// Folder holding the raw media (searched recursively); `None`: text only (every row goes
    /// into the manifests with an empty `path`, for text models).
    pub raw: Option<PathBuf>,
    /// Folder holding `train_sent_emo.csv`, `dev_sent_emo.csv`, `test_sent_emo.csv`.
    pub csv: PathBuf,
    /// Output folder.
    pub out: PathBuf,
    /// Output sample rate in Hz.
    pub sample_rate: u32,
    /// Clips longer than this are kept but listed as suspicious (MELD has mis-cut clips
    /// minutes long).
    pub long_clip_seconds: f64,
}

/// One CSV row of MELD.
#[derive(Debug, Clone, PartialEq)]
pub struct MeldRow {
    /// Split of the row.
    pub split: Split,
    /// Line of the row in its CSV file (1 = header).
    pub line: u64,
    /// Transcript.
    pub text: String,
    /// Speaker name.
    pub speaker: String,
    /// Emotion label (lower case).
    pub emotion: String,
    /// Sentiment label.
    pub sentiment: String,
    /// Dialogue id.
    pub dialogue: u32,
    /// Utterance id within the dialogue.
    pub utterance: u32,
}

impl MeldRow {
    /// `dia{d}_utt{u}`, the name of the row's media file.
    pub fn id(&self) -> String {
        format!("dia{}_utt{}", self.dialogue, self.utterance)
    }
}

/// A row that got no audio, or whose audio is suspicious.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// Split.
    pub split: Split,
    /// `dia{d}_utt{u}` (or the CSV line for unparsable rows).
    pub id: String,
    /// The media file, when one was found.
    pub file: String,
    /// `missing`, `unreadable`, `empty`, `bad_row` (dropped) or `long`, `warning` (kept).
    pub kind: &'static str,
    /// What went wrong, in words.
    pub reason: String,
}

/// Counts of one split.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SplitSummary {
    /// Rows in the CSV.
    pub rows: usize,
    /// Rows in the manifest (with audio).
    pub kept: usize,
    /// Clips decoded and written in this run.
    pub written: usize,
    /// Clips already written by an earlier run.
    pub skipped: usize,
    /// Rows dropped, by reason kind.
    pub dropped: BTreeMap<&'static str, usize>,
    /// Kept rows with a warning, by kind.
    pub flagged: BTreeMap<&'static str, usize>,
    /// Total audio kept, in hours.
    pub hours: f64,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MeldSummary {
    /// Per split.
    pub splits: BTreeMap<&'static str, SplitSummary>,
    /// Media files indexed under `--raw`.
    pub media_files: usize,
    /// Media files that matched no CSV row.
    pub unmatched_media: usize,
    /// Prepared without `--raw`: transcripts only, no audio read or written.
    pub text_only: bool,
    /// Every problem.
    #[serde(skip)]
    pub problems: Vec<Problem>,
}

/// Reads one MELD CSV. Errors on a missing file or column; rows with bad ids or unknown
/// emotions become [`Problem`]s (`bad_row`).
pub fn read_csv(path: &Path, split: Split) -> Result<(Vec<MeldRow>, Vec<Problem>)> {
    let mut reader = csv::Reader::from_path(path).with_context(|| {
        format!(
            "cannot read {}: MELD's CSV tables are in the dataset's data/MELD folder",
            path.display()
        )
    })?;
    let headers = reader
        .headers()
        .with_context(|| format!("{}: cannot read the header row", path.display()))?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .with_context(|| {
                format!(
                    "{}: no `{name}` column (found: {}); is this a MELD *_sent_emo.csv file?",
                    path.display(),
                    headers.iter().collect::<Vec<_>>().join(", ")
                )
            })
    };
    let [text, speaker, emotion, sentiment, dialogue, utterance] = [
        column("Utterance")?,
        column("Speaker")?,
        column("Emotion")?,
        column("Sentiment")?,
        column("Dialogue_ID")?,
        column("Utterance_ID")?,
    ];
    let labels = LabelMap::meld();
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("{}: malformed CSV", path.display()))?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let field = |i: usize| record.get(i).unwrap_or("").trim().to_string();
        let bad = |reason: String| Problem {
            split,
            id: format!("line {line}"),
            file: String::new(),
            kind: "bad_row",
            reason: format!("{}, line {line}: {reason}", path.display()),
        };
        let (Ok(d), Ok(u)) = (field(dialogue).parse(), field(utterance).parse()) else {
            problems.push(bad(format!(
                "Dialogue_ID `{}` / Utterance_ID `{}` are not whole numbers",
                field(dialogue),
                field(utterance)
            )));
            continue;
        };
        let label = field(emotion).to_lowercase();
        if labels.index(&label).is_err() {
            problems.push(bad(format!(
                "unknown emotion `{label}` (expected one of {})",
                labels.names().join(", ")
            )));
            continue;
        }
        rows.push(MeldRow {
            split,
            line,
            text: record.get(text).unwrap_or("").to_string(),
            speaker: field(speaker),
            emotion: label,
            sentiment: field(sentiment),
            dialogue: d,
            utterance: u,
        });
    }
    Ok((rows, problems))
}

/// Media files found under the raw folder, by (split, dialogue, utterance); files whose folders
/// name no split are kept under `None` and used when the id is unique.
#[derive(Debug, Default)]
pub struct MediaIndex {
    by_key: HashMap<(Option<Split>, u32, u32), Vec<PathBuf>>,
    /// Files indexed.
    pub files: usize,
}

impl MediaIndex {
    /// Indexes every `dia*_utt*` media file under `root`.
    pub fn build(root: &Path) -> Result<Self> {
        if !root.is_dir() {
            bail!(
                "--raw {}: no such folder (extract MELD.Raw.tar.gz and its per-split archives \
                 there)",
                root.display()
            );
        }
        let mut index = MediaIndex::default();
        index.walk(root, None)?;
        for paths in index.by_key.values_mut() {
            // Prefer extracted WAV audio over video containers, then the shortest path.
            paths.sort_by_key(|p| {
                let name = p.to_string_lossy().to_ascii_lowercase();
                (!name.ends_with(".wav"), name.len(), name)
            });
        }
        Ok(index)
    }

    fn walk(&mut self, dir: &Path, split: Option<Split>) -> Result<()> {
        let entries =
            std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if path.is_dir() {
                let here = Split::of_folder(&name).or(split);
                self.walk(&path, here)?;
            } else if let Some((d, u)) = parse_media_name(&name) {
                self.by_key.entry((split, d, u)).or_default().push(path);
                self.files += 1;
            }
        }
        Ok(())
    }

    /// The file of a row: its split's, or a split-less one.
    pub fn find(&self, row: &MeldRow) -> Option<&Path> {
        self.by_key
            .get(&(Some(row.split), row.dialogue, row.utterance))
            .or_else(|| self.by_key.get(&(None, row.dialogue, row.utterance)))
            .and_then(|paths| paths.first())
            .map(PathBuf::as_path)
    }

    fn keys(&self) -> impl Iterator<Item = &(Option<Split>, u32, u32)> {
        self.by_key.keys()
    }
}

/// Parses `dia12_utt3.mp4`, `final_videos_testdia12_utt3.mp4`, `dia12_utt3.mp4.wav`, ...
pub fn parse_media_name(name: &str) -> Option<(u32, u32)> {
    let lower = name.to_ascii_lowercase();
    if !emofuse::features::extract::is_audio_file(Path::new(&lower)) {
        return None;
    }
    let start = lower.find("dia")?;
    let rest = &lower[start + 3..];
    let digits = |s: &str| -> Option<(u32, usize)> {
        let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        s[..end].parse().ok().map(|v| (v, end))
    };
    let (dialogue, end) = digits(rest)?;
    let rest = rest[end..].strip_prefix("_utt")?;
    let (utterance, end) = digits(rest)?;
    rest[end..]
        .starts_with('.')
        .then_some((dialogue, utterance))
}

enum Outcome {
    Written { seconds: f64, warnings: Vec<String> },
    Skipped { seconds: f64 },
    Failed { kind: &'static str, reason: String },
}

/// Runs the preparation; see the module documentation.
pub fn prepare(options: &MeldOptions) -> Result<MeldSummary> {
    let mut summary = MeldSummary::default();
    let mut rows = Vec::new();
    for (split, file) in SPLITS {
        let path = options.csv.join(file);
        if !path.exists() {
            eprintln!(
                "note: {} not found; split `{}` skipped",
                path.display(),
                split.as_str()
            );
            continue;
        }
        let (split_rows, problems) = read_csv(&path, split)?;
        let entry = summary.splits.entry(split.as_str()).or_default();
        entry.rows = split_rows.len() + problems.len();
        for p in &problems {
            *entry.dropped.entry(p.kind).or_default() += 1;
        }
        summary.problems.extend(problems);
        rows.extend(split_rows);
    }
    if summary.splits.is_empty() {
        bail!(
            "--csv {}: none of {} found",
            options.csv.display(),
            SPLITS.map(|(_, f)| f).join(", ")
        );
    }
    let Some(raw) = &options.raw else {
        return prepare_text_only(options, rows, summary);
    };
    eprintln!("indexing media under {} ...", raw.display());
    let index = MediaIndex::build(raw)?;
    summary.media_files = index.files;
    let wanted: std::collections::HashSet<(Split, u32, u32)> = rows
        .iter()
        .map(|r| (r.split, r.dialogue, r.utterance))
        .collect();
    summary.unmatched_media = index
        .keys()
        .filter(|(split, d, u)| match split {
            Some(s) => !wanted.contains(&(*s, *d, *u)),
            None => SPLITS.iter().all(|(s, _)| !wanted.contains(&(*s, *d, *u))),
        })
        .count();
    for (split, _) in SPLITS {
        let dir = options.out.join(split.as_str());
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }

    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(rows.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("meld [{bar:30}] {pos}/{len} clips {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let outcomes: Vec<Outcome> = rows
        .par_iter()
        .map(|row| {
            let outcome = prepare_row(row, &index, options);
            bar.inc(1);
            outcome
        })
        .collect();
    bar.finish_and_clear();

    let mut manifests: BTreeMap<Split, String> = BTreeMap::new();
    for (row, outcome) in rows.iter().zip(outcomes) {
        let entry = summary.splits.entry(row.split.as_str()).or_default();
        let file = index
            .find(row)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let problem = |kind, reason| Problem {
            split: row.split,
            id: row.id(),
            file: file.clone(),
            kind,
            reason,
        };
        let seconds = match outcome {
            Outcome::Failed { kind, reason } => {
                *entry.dropped.entry(kind).or_default() += 1;
                summary.problems.push(problem(kind, reason));
                continue;
            }
            Outcome::Skipped { seconds } => {
                entry.skipped += 1;
                seconds
            }
            Outcome::Written { seconds, warnings } => {
                entry.written += 1;
                for warning in warnings {
                    *entry.flagged.entry("warning").or_default() += 1;
                    summary.problems.push(problem("warning", warning));
                }
                seconds
            }
        };
        if seconds > options.long_clip_seconds {
            *entry.flagged.entry("long").or_default() += 1;
            summary.problems.push(problem(
                "long",
                format!("{seconds:.1} s long (mis-cut?); kept"),
            ));
        }
        entry.kept += 1;
        entry.hours += seconds / 3600.0;
        let manifest = manifests
            .entry(row.split)
            .or_insert_with(|| format!("{MANIFEST_HEADER}\n"));
        manifest_line(
            manifest,
            row,
            &format!("{}/{}.wav", row.split.as_str(), row.id()),
            Some(seconds),
        );
    }
    write_manifests(options, &manifests)?;
    write_reports(options, &summary)?;
    Ok(summary)
}

/// `data-prep meld` without `--raw`: every row into the manifests with an empty `path` (text
/// models read only the transcript, speaker and dialogue ids).
fn prepare_text_only(
    options: &MeldOptions,
    rows: Vec<MeldRow>,
    mut summary: MeldSummary,
) -> Result<MeldSummary> {
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("cannot create {}", options.out.display()))?;
    summary.text_only = true;
    let mut manifests: BTreeMap<Split, String> = BTreeMap::new();
    for row in &rows {
        summary.splits.entry(row.split.as_str()).or_default().kept += 1;
        let manifest = manifests
            .entry(row.split)
            .or_insert_with(|| format!("{MANIFEST_HEADER}\n"));
        manifest_line(manifest, row, "", None);
    }
    write_manifests(options, &manifests)?;
    write_reports(options, &summary)?;
    Ok(summary)
}

/// One manifest row: id, audio path (empty: text only), transcript, label, speaker, duration
/// (empty when unknown), MELD's ids and sentiment.
fn manifest_line(manifest: &mut String, row: &MeldRow, path: &str, seconds: Option<f64>) {
    let _ = writeln!(
        manifest,
        "{},{},{},{},{},{},{},{},{}",
        row.id(),
        path,
        csv_field(&row.text),
        row.emotion,
        csv_field(&row.speaker),
        seconds.map(|s| format!("{s:.4}")).unwrap_or_default(),
        row.dialogue,
        row.utterance,
        csv_field(&row.sentiment)
    );
}

fn write_manifests(options: &MeldOptions, manifests: &BTreeMap<Split, String>) -> Result<()> {
    for (split, text) in manifests {
        let path = options.out.join(format!("{}.csv", split.as_str()));
        emofuse::io::atomic::write(&path, text.as_bytes())?;
    }
    Ok(())
}

/// Columns of the manifests: emofuse's common ones, then MELD's ids and sentiment.
pub const MANIFEST_HEADER: &str =
    "id,path,text,label,speaker,duration,dialogue_id,utterance_id,sentiment";

fn prepare_row(row: &MeldRow, index: &MediaIndex, options: &MeldOptions) -> Outcome {
    let out = options
        .out
        .join(row.split.as_str())
        .join(format!("{}.wav", row.id()));
    if let Some(seconds) = finished_duration(&out) {
        return Outcome::Skipped { seconds };
    }
    let Some(source) = index.find(row) else {
        return Outcome::Failed {
            kind: "missing",
            reason: format!(
                "no media file for {} in the {} split under {}",
                row.id(),
                row.split.as_str(),
                options.raw.as_deref().unwrap_or(Path::new("")).display()
            ),
        };
    };
    let (samples, decoded) = match load_waveform(source, options.sample_rate) {
        Ok(result) => result,
        Err(error) => {
            let reason = format!("{error:#}");
            let kind = if reason.contains("no audio samples") || reason.contains("is empty") {
                "empty"
            } else {
                "unreadable"
            };
            return Outcome::Failed { kind, reason };
        }
    };
    if let Err(error) = write_wav16(&out, &samples, options.sample_rate) {
        return Outcome::Failed {
            kind: "unreadable",
            reason: format!("{error:#}"),
        };
    }
    Outcome::Written {
        seconds: samples.len() as f64 / options.sample_rate as f64,
        warnings: decoded.warnings,
    }
}

/// Duration of an already written output (a re-run skips it), if it is a complete WAV file.
fn finished_duration(path: &Path) -> Option<f64> {
    let reader = hound::WavReader::open(path).ok()?;
    let spec = reader.spec();
    Some(reader.duration() as f64 / spec.sample_rate as f64)
}

fn write_reports(options: &MeldOptions, summary: &MeldSummary) -> Result<()> {
    let mut problems = String::from("split,id,kind,file,reason\n");
    let mut sorted = summary.problems.clone();
    sorted.sort_by(|a, b| (a.split, a.kind, &a.id).cmp(&(b.split, b.kind, &b.id)));
    for p in &sorted {
        let _ = writeln!(
            problems,
            "{},{},{},{},{}",
            p.split.as_str(),
            csv_field(&p.id),
            p.kind,
            csv_field(&p.file),
            csv_field(&p.reason)
        );
    }
    let path = options.out.join("problems.csv");
    emofuse::io::atomic::write(&path, problems.as_bytes())?;
    let path = options.out.join("summary.json");
    emofuse::io::atomic::write(&path, serde_json::to_string_pretty(summary)?.as_bytes())
}

impl MeldSummary {
    /// A few lines for the terminal.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (split, s) in &self.splits {
            let dropped: Vec<String> = s.dropped.iter().map(|(k, n)| format!("{n} {k}")).collect();
            let flagged: Vec<String> = s.flagged.iter().map(|(k, n)| format!("{n} {k}")).collect();
            // Hours and files written describe audio, which a text-only run does not read.
            let audio = if self.text_only {
                "transcripts only".to_string()
            } else {
                format!(
                    "{:.2} h; {} written, {} already done",
                    s.hours, s.written, s.skipped
                )
            };
            let _ = writeln!(
                out,
                "{split:>5}: {} rows, {} kept ({audio}), dropped: {}{}",
                s.rows,
                s.kept,
                if dropped.is_empty() {
                    "none".into()
                } else {
                    dropped.join(", ")
                },
                if flagged.is_empty() {
                    String::new()
                } else {
                    format!(", flagged: {}", flagged.join(", "))
                }
            );
        }
        if self.text_only {
            out.push_str("no --raw: manifests with empty audio paths, for text models");
        } else {
            let _ = write!(
                out,
                "media files indexed: {}, not matched to any row: {}",
                self.media_files, self.unmatched_media
            );
        }
        out
    }
}
