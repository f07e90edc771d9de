//! Generic speech manifests: one CSV row per clip, for datasets without a dedicated reader.
//!
//! Columns (header names are matched exactly):
//! - required: `path` (audio file, relative to the CSV's folder unless absolute) and `label`
//!   (the emotion, kept as written);
//! - optional: `id` (defaults to the path as written), `text`, `speaker` (empty when the column
//!   is missing: speaker-independent splits then refuse the table), `gender` (`male`/`m`,
//!   `female`/`f`, any case, or empty), `split` (`train`, `valid`, `dev` or `test`, any case,
//!   stored in `attrs["split"]` with `dev` written as `valid`, so later stages see one name);
//! - every other column goes into `attrs`, as text (empty cells are left out).
//!
//! The file is read by [`TextTable`] (every column as text: ids like `007` keep their
//! zeros).

use super::{ReadResult, SpeechClip};
use crate::core::Gender;
use crate::data::text_table::TextTable;
use anyhow::{Result, bail};
use std::collections::BTreeMap;
use std::path::Path;

/// Columns that [`read_table`] interprets; all others become attributes.
const KNOWN_COLUMNS: [&str; 7] = ["id", "path", "label", "text", "speaker", "gender", "split"];

/// How many row problems an error message shows before "... and N more".
const SHOWN_PROBLEMS: usize = 10;

/// Reads a manifest CSV into clips, in row order. Every row must have a `path` and a `label`,
/// name an existing audio file and use known `gender` and `split` values; all bad rows are
/// listed in one error, by line number as an editor shows it (the header is line 1).
/// [`ReadResult::skipped`] is always empty: a manifest row is either right or an error.
pub fn read_table(csv: &Path) -> Result<ReadResult> {
    let table = TextTable::read(
        csv,
        "manifest",
        "check the path; a speech manifest is a CSV with the columns path,label",
    )?;
    let names = table.names();
    for required in ["path", "label"] {
        if !table.has(required) {
            bail!(
                "{}: no `{required}` column (found: {})\n  hint: a speech manifest needs the columns path,label (optional: id,text,speaker,gender,split)",
                csv.display(),
                names.join(",")
            );
        }
    }
    // Empty or blank cells count as missing.
    let cell = |name: &str, row: usize| -> Option<&str> { table.trimmed(name, row) };

    let root = csv.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut result = ReadResult::default();
    let mut problems = Vec::new();
    let mut id_lines: std::collections::HashMap<String, usize> = Default::default();
    for row in 0..table.height() {
        // Line numbers as an editor shows them: the header is line 1. (A quoted field spanning
        // several lines would shift later numbers; manifests have none.)
        let line = row + 2;
        let mut row_problems = Vec::new();
        let path = cell("path", row);
        let label = cell("label", row);
        if path.is_none() {
            row_problems.push("empty `path`".to_string());
        }
        if label.is_none() {
            row_problems.push("empty `label`".to_string());
        }
        let gender = match cell("gender", row) {
            None => None,
            Some(value) => match Gender::parse(value) {
                Some(gender) => Some(gender),
                None => {
                    row_problems.push(format!(
                        "unknown gender `{value}` (use male, m, female, f, or leave it empty)"
                    ));
                    None
                }
            },
        };
        let split = match cell("split", row).map(str::to_ascii_lowercase) {
            None => None,
            Some(value) => match value.as_str() {
                "train" | "test" | "valid" => Some(value),
                "dev" => Some("valid".to_string()),
                _ => {
                    row_problems.push(format!(
                        "unknown split `{value}` (use train, valid, dev, test, or leave it empty)"
                    ));
                    None
                }
            },
        };
        let (Some(path), Some(label)) = (path, label) else {
            problems.push(format!("line {line}: {}", row_problems.join("; ")));
            continue;
        };
        // The id (the path when there is no id column) names the clip in splits and reports:
        // two rows with one id would be one clip counted twice, possibly in two splits.
        let id = cell("id", row).unwrap_or(path);
        if let Some(first) = id_lines.insert(id.to_string(), line) {
            row_problems.push(format!("id `{id}` repeats line {first}"));
        }
        let audio = root.join(path);
        if !audio.is_file() {
            row_problems.push(format!("audio file {} does not exist", audio.display()));
        }
        if !row_problems.is_empty() {
            problems.push(format!("line {line}: {}", row_problems.join("; ")));
            continue;
        }
        let mut attrs: BTreeMap<String, String> = names
            .iter()
            .filter(|n| !KNOWN_COLUMNS.contains(&n.as_str()))
            .filter_map(|n| cell(n, row).map(|v| (n.clone(), v.to_string())))
            .collect();
        if let Some(split) = split {
            attrs.insert("split".to_string(), split);
        }
        result.clips.push(SpeechClip {
            id: id.to_string(),
            path: audio,
            text: cell("text", row).unwrap_or_default().to_string(),
            emotion: label.to_string(),
            speaker: cell("speaker", row).unwrap_or_default().to_string(),
            gender,
            attrs,
        });
    }
    if !problems.is_empty() {
        let shown = &problems[..problems.len().min(SHOWN_PROBLEMS)];
        bail!(
            "{}: {} bad row(s) (of {}):\n  {}{}\n  hint: fix these rows; paths are relative to the CSV's folder",
            csv.display(),
            problems.len(),
            table.height(),
            shown.join("\n  "),
            if problems.len() > shown.len() {
                format!("\n  ... and {} more", problems.len() - shown.len())
            } else {
                String::new()
            }
        );
    }
    if result.clips.is_empty() {
        bail!("{}: the manifest has no rows", csv.display());
    }
    Ok(result)
}
