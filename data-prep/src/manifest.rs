//! Manifest files: one CSV row per utterance.

use std::fmt::Write as _;

/// One manifest row.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestRow {
    /// Utterance id.
    pub id: String,
    /// Audio path, relative to the manifest's folder.
    pub path: String,
    /// Transcript.
    pub text: String,
    /// Class name.
    pub label: String,
    /// Speaker id.
    pub speaker: String,
    /// Duration in seconds.
    pub duration: f64,
}

/// The manifest header.
pub const HEADER: &str = "id,path,text,label,speaker,duration";

/// Quotes a CSV field when it holds a comma, a quote or a line break (RFC 4180).
pub fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// Renders rows as CSV text, header included.
pub fn to_csv(rows: &[ManifestRow]) -> String {
    let mut out = String::from(HEADER);
    out.push('\n');
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{:.4}",
            csv_field(&r.id),
            csv_field(&r.path),
            csv_field(&r.text),
            csv_field(&r.label),
            csv_field(&r.speaker),
            r.duration
        );
    }
    out
}
