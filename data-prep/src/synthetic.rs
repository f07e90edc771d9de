//! `data-prep synthetic`: writes the built-in synthetic corpus as WAV files and manifests.

use crate::manifest::{ManifestRow, to_csv};
use crate::wav::write_wav16;
use anyhow::{Context, Result};
use emofuse::core::SplitName;
use emofuse::data::synthetic::{SyntheticOptions, generate};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExportSummary {
    /// WAV files written.
    pub written: usize,
    /// WAV files already present and kept (a re-run resumes).
    pub skipped: usize,
}

/// Writes `<out>/<split>/<id>.wav` (16-bit PCM mono) and `<out>/<split>.csv` for every split.
pub fn export(options: &SyntheticOptions, out: &Path) -> Result<ExportSummary> {
    let corpus = generate(options);
    let total = corpus.train.len() + corpus.valid.len() + corpus.test.len();
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(total as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{msg:>8} [{bar:30}] {pos}/{len} {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut summary = ExportSummary::default();
    for split in [SplitName::Train, SplitName::Valid, SplitName::Test] {
        bar.set_message(split.as_str());
        let dir = out.join(split.as_str());
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let mut rows = Vec::new();
        for u in corpus.split(split) {
            let file = format!("{}.wav", u.id);
            let path = dir.join(&file);
            if path.exists() {
                summary.skipped += 1;
            } else {
                write_wav16(&path, &u.audio, corpus.sample_rate)?;
                summary.written += 1;
            }
            rows.push(ManifestRow {
                id: u.id.clone(),
                path: format!("{}/{file}", split.as_str()),
                text: u.text.clone(),
                label: corpus.labels.name(u.label).to_string(),
                speaker: format!("spk{:02}", u.speaker),
                duration: u.audio.len() as f64 / f64::from(corpus.sample_rate),
            });
            bar.inc(1);
        }
        let manifest = out.join(format!("{}.csv", split.as_str()));
        emofuse::io::atomic::write(&manifest, to_csv(&rows).as_bytes())?;
    }
    bar.finish_and_clear();
    Ok(summary)
}
