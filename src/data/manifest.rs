//! Corpora described by CSV manifests, one per split, as `data-prep meld` writes them:
//! `id,path,text,label,speaker,...`, audio paths relative to the manifest's folder (a text
//! model needs no audio: `path` may then be empty or absent). With `dialogue_id` and
//! `utterance_id` columns, each row's place in its dialogue is kept (dialogue context). Other
//! columns are ignored. Audio is decoded when needed, not at load time.

use crate::core::LabelMap;
use crate::data::dataset::Turn;
use crate::data::text_table::TextTable;
use crate::data::{Corpus, Utterance};
use anyhow::{Result, bail};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Reads the three manifests into a corpus with `labels` as label map. Every row must name a
/// known label, an id no other row of its split has, (with `require_audio`: a model that
/// reads audio) an existing audio file no other split uses, and (with `require_text`) a
/// non-empty transcript; all problems of a file are listed in one error. Without
/// `require_audio` the audio paths are not read at all.
pub fn load_manifests(
    paths: [&Path; 3],
    labels: LabelMap,
    sample_rate: u32,
    require_text: bool,
    require_audio: bool,
) -> Result<Corpus> {
    let mut speakers = HashMap::new();
    let mut splits = Vec::with_capacity(3);
    for path in paths {
        splits.push(read_manifest(
            path,
            &labels,
            &mut speakers,
            require_text,
            require_audio,
        )?);
    }
    check_files_across(&paths, &splits)?;
    let test = splits.pop().expect("three splits");
    let valid = splits.pop().expect("three splits");
    let train = splits.pop().expect("three splits");
    Ok(Corpus {
        labels,
        sample_rate,
        train,
        valid,
        test,
    })
}

/// The same audio file in two splits (trained on and evaluated), listing up to ten. Ids are
/// not compared across splits: MELD's `dia<d>_utt<u>` ids restart in every split.
fn check_files_across(paths: &[&Path; 3], splits: &[Vec<Utterance>]) -> Result<()> {
    let mut first: HashMap<&Path, usize> = HashMap::new();
    let mut clashes = Vec::new();
    for (split, utterances) in splits.iter().enumerate() {
        for u in utterances {
            let Some(audio) = u.audio_path.as_deref() else {
                continue;
            };
            match first.get(audio) {
                Some(&other) if other != split => clashes.push(format!(
                    "{} (id `{}`) is in {} and in {}",
                    audio.display(),
                    u.id,
                    paths[other].display(),
                    paths[split].display()
                )),
                Some(_) => {}
                None => {
                    first.insert(audio, split);
                }
            }
        }
    }
    if !clashes.is_empty() {
        let shown: Vec<&str> = clashes.iter().take(10).map(String::as_str).collect();
        bail!(
            "{} audio file(s) appear in two splits:\n  {}{}\n  hint: a clip in two splits is trained on and evaluated; give each split its own clips",
            clashes.len(),
            shown.join("\n  "),
            if clashes.len() > shown.len() {
                format!("\n  ... and {} more", clashes.len() - shown.len())
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

/// Reads one manifest; `speakers` numbers speaker names across splits. With `require_text`, an
/// empty (or all-space) transcript is a bad row; with `require_audio`, a missing audio file.
pub fn read_manifest(
    path: &Path,
    labels: &LabelMap,
    speakers: &mut HashMap<String, u32>,
    require_text: bool,
    require_audio: bool,
) -> Result<Vec<Utterance>> {
    let table = TextTable::read(
        path,
        "manifest",
        "manifests are written by `data-prep meld --out <dir>`; check data.*_manifest in the experiment",
    )?;
    let required = |name: &str| -> Result<()> {
        if table.has(name) {
            return Ok(());
        }
        bail!(
            "{}: no `{name}` column (found: {}); a manifest needs id,path,text,label",
            path.display(),
            table.names().join(",")
        )
    };
    for name in ["id", "text", "label"] {
        required(name)?;
    }
    if require_audio {
        required("path")?;
    }
    // Dialogue context needs both ids; one without the other is a malformed table.
    let turns = match (table.has("dialogue_id"), table.has("utterance_id")) {
        (true, true) => true,
        (false, false) => false,
        _ => bail!(
            "{}: a manifest with dialogues needs both `dialogue_id` and `utterance_id` columns (found: {})",
            path.display(),
            table.names().join(",")
        ),
    };
    let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut utterances = Vec::new();
    let mut problems = Vec::new();
    let mut id_lines: HashMap<String, usize> = HashMap::new();
    for row in 0..table.height() {
        // Line numbers as an editor shows them: the header is line 1.
        let line = row + 2;
        // Cells as written (a transcript keeps its spaces); an empty cell reads as "".
        let field = |name: &str| table.raw(name, row).unwrap_or_default();
        let id = field("id");
        if id.trim().is_empty() {
            problems.push(format!("line {line}: empty id"));
            continue;
        }
        if let Some(first) = id_lines.insert(id.to_string(), line) {
            problems.push(format!("line {line}: id `{id}` repeats line {first}"));
            continue;
        }
        if require_text && field("text").trim().is_empty() {
            problems.push(format!(
                "line {line}: empty transcript (the model reads text: the utterance would be only its [CLS] token)"
            ));
            continue;
        }
        let label = match labels.index(field("label")) {
            Ok(label) => label,
            Err(e) => {
                problems.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let audio_path = if require_audio {
            let audio_path: PathBuf = root.join(field("path"));
            if field("path").trim().is_empty() || !audio_path.is_file() {
                problems.push(format!(
                    "line {line}: audio file {} does not exist",
                    audio_path.display()
                ));
                continue;
            }
            Some(audio_path)
        } else {
            None
        };
        let turn = if turns {
            let dialogue = field("dialogue_id").trim();
            let Ok(index) = field("utterance_id").trim().parse::<u32>() else {
                problems.push(format!(
                    "line {line}: utterance_id `{}` is not a whole number",
                    field("utterance_id")
                ));
                continue;
            };
            if dialogue.is_empty() {
                problems.push(format!("line {line}: empty dialogue_id"));
                continue;
            }
            Some(Turn {
                dialogue: dialogue.to_string(),
                index,
                speaker: field("speaker").trim().to_string(),
            })
        } else {
            None
        };
        let next = speakers.len() as u32;
        let speaker = if table.has("speaker") {
            *speakers.entry(field("speaker").to_string()).or_insert(next)
        } else {
            0
        };
        utterances.push(Utterance {
            id: field("id").to_string(),
            text: field("text").to_string(),
            audio: Vec::new(),
            audio_path,
            label,
            speaker,
            turn,
        });
    }
    if !problems.is_empty() {
        let shown: Vec<&str> = problems.iter().take(10).map(String::as_str).collect();
        bail!(
            "{}: {} bad rows (of {}):\n  {}{}\n  hint: fix or drop these rows (data-prep lists what it skipped in problems.csv), or set data.labels to the dataset's classes",
            path.display(),
            problems.len(),
            problems.len() + utterances.len(),
            shown.join("\n  "),
            if problems.len() > shown.len() {
                format!("\n  ... and {} more", problems.len() - shown.len())
            } else {
                String::new()
            }
        );
    }
    if utterances.is_empty() {
        bail!("{}: the manifest has no rows", path.display());
    }
    Ok(utterances)
}
