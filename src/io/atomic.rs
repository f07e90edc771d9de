//! Atomic file writes: a file is written next to its destination and renamed over it, so a kill
//! or a full disk never leaves half a file where a reader expects a whole one (the reader sees
//! the old file or the new one), and a failed write leaves no temporary file behind.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` through a temporary file in the same folder.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    write_with(path, |tmp| {
        let mut file = std::fs::File::create(tmp)?;
        file.write_all(bytes)?;
        // On disk before the rename: after a crash the name never points at missing data.
        file.sync_all()
    })
}

/// Writes `path` atomically through `write`, which creates the file at the temporary path it
/// is given (same folder, same extension, for writers that pick the format by extension).
pub fn write_with(path: &Path, write: impl FnOnce(&Path) -> std::io::Result<()>) -> Result<()> {
    let tmp = temporary(path);
    let written = write(&tmp).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(error) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(error).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

/// `<path>.tmp`, or `<stem>.tmp.<ext>` when the path has an extension.
fn temporary(path: &Path) -> PathBuf {
    match (path.file_stem(), path.extension()) {
        (Some(stem), Some(ext)) => {
            let mut name = stem.to_owned();
            name.push(".tmp.");
            name.push(ext);
            path.with_file_name(name)
        }
        _ => {
            let mut name = path.as_os_str().to_owned();
            name.push(".tmp");
            PathBuf::from(name)
        }
    }
}
