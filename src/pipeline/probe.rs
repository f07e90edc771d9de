//! `--dry-run`'s audio check: every audio file the run would read is opened and its first
//! second decoded (container tables, sample rate, codec setup, the first packets), so that a
//! damaged or unsupported file is found, with its row, before training starts rather than in
//! the middle of an epoch.

use crate::audio::{TooLong, decode_file_within};
use crate::core::events::{Event, Observer};
use anyhow::{Result, bail};
use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// Audio decoded per file: enough to pass the headers, the codec setup and the first packets.
const PROBE_SECONDS: f64 = 1.0;

/// Files shown in the error; the rest are counted.
const SHOWN: usize = 20;

/// Probes `files` (each with where it is listed: a manifest line, a clip id); fails listing
/// every file that cannot be read, with its reason.
pub fn probe_audio_files(files: &[(String, PathBuf)], observer: &dyn Observer) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    observer.event(Event::TaskStarted {
        name: "probing audio files".into(),
        total: files.len() as u64,
        unit: "files",
    });
    let done = AtomicU64::new(0);
    let started = std::time::Instant::now();
    let mut problems: Vec<(usize, String)> = files
        .par_iter()
        .enumerate()
        .filter_map(|(i, (row, path))| {
            let outcome = decode_file_within(path, PROBE_SECONDS);
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_multiple_of(64) || n == files.len() as u64 {
                observer.event(Event::TaskProgress {
                    done: n,
                    status: String::new(),
                });
            }
            match outcome {
                // Longer than the probe: the first second decoded, which is all it asks.
                Err(e) if e.downcast_ref::<TooLong>().is_some() => None,
                Err(e) => Some((i, format!("{row}: {e:#}"))),
                Ok(_) => None,
            }
        })
        .collect();
    observer.event(Event::TaskFinished);
    problems.sort_by_key(|(i, _)| *i);
    if !problems.is_empty() {
        let shown: Vec<&str> = problems
            .iter()
            .take(SHOWN)
            .map(|(_, p)| p.as_str())
            .collect();
        bail!(
            "{} of {} audio files cannot be read:\n  {}{}\n  hint: re-export or remove these files (or their rows)",
            problems.len(),
            files.len(),
            shown.join("\n  "),
            if problems.len() > SHOWN {
                format!("\n  ... and {} more", problems.len() - SHOWN)
            } else {
                String::new()
            }
        );
    }
    observer.info(format!(
        "dry run: all {} audio files open and decode ({:.1} s)",
        files.len(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}
