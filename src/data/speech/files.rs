//! Finding the audio files of a dataset folder.

use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Extensions (lower case) that the dataset readers treat as audio.
pub(crate) const AUDIO_EXTENSIONS: [&str; 2] = ["wav", "flac"];

/// Whether `path` has an audio extension (any case: some copies use `.WAV`).
pub(crate) fn is_audio(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Every audio file under `dir`, recursively, sorted by path so that readers are deterministic.
///
/// `dataset` and `expected` only shape the error for a missing folder (e.g. "RAVDESS" and
/// "Actor_01 ... Actor_24 subfolders"). Symbolic links to folders are followed, but each real
/// folder is visited once, so a link cycle cannot loop forever.
pub(crate) fn audio_files(dir: &Path, dataset: &str, expected: &str) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        bail!(
            "{dataset} folder {} {}\n  hint: the {dataset} reader expects a folder with {expected}; pass the folder that holds them",
            dir.display(),
            if dir.exists() {
                "is not a folder"
            } else {
                "does not exist"
            }
        );
    }
    Ok(files_under(dir)?
        .into_iter()
        .filter(|p| p.is_file() && is_audio(p))
        .collect())
}

/// Every entry under `dir` that is not a folder (files, and links that lead nowhere, so a
/// caller can report them), recursively, sorted by path. Symbolic links are followed (a linked
/// file or folder counts as what it points to), but each real folder is visited once, so a
/// link cycle cannot loop forever.
pub fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut visited = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let real = folder
            .canonicalize()
            .with_context(|| format!("cannot resolve folder {}", folder.display()))?;
        if !visited.insert(real) {
            continue;
        }
        let entries = std::fs::read_dir(&folder)
            .with_context(|| format!("cannot list folder {}", folder.display()))?;
        for entry in entries {
            let entry =
                entry.with_context(|| format!("cannot list folder {}", folder.display()))?;
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The file stem as text, or the reason it cannot be read as one.
pub(crate) fn stem(path: &Path) -> Result<&str, String> {
    path.file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| "the file name is not valid UTF-8".to_string())
}

/// Moves clips whose id repeats an earlier clip's (e.g. `x.wav` next to its converted
/// `x.flac`) to `skipped`, so a folder holding two copies does not count each clip twice. The
/// first clip in path order is kept.
pub(crate) fn skip_duplicate_ids(result: &mut super::ReadResult) {
    let mut first: std::collections::HashMap<String, PathBuf> = std::collections::HashMap::new();
    let mut kept = Vec::with_capacity(result.clips.len());
    for clip in std::mem::take(&mut result.clips) {
        match first.get(&clip.id) {
            Some(earlier) => result.skipped.push((
                clip.path,
                format!(
                    "same clip id `{}` as {}, which is kept (two copies of one recording?)",
                    clip.id,
                    earlier.display()
                ),
            )),
            None => {
                first.insert(clip.id.clone(), clip.path.clone());
                kept.push(clip);
            }
        }
    }
    result.clips = kept;
}
