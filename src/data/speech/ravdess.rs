//! RAVDESS (Livingstone & Russo, 2018): labels parsed from the file names.
//!
//! A name has seven two-digit fields, modality-channel-emotion-intensity-statement-repetition-
//! actor, e.g. `03-01-05-01-02-01-12.flac` (audio only, speech, angry, normal intensity,
//! "Dogs are sitting by the door", first repetition, actor 12). What the reader makes of them:
//!
//! | field      | codes                                  | stored as                              |
//! |------------|----------------------------------------|----------------------------------------|
//! | modality   | 01 audio-video, 02 video, 03 audio     | `attrs["modality"]`: `audio_video`, `video_only`, `audio_only` |
//! | channel    | 01 speech, 02 song                     | `attrs["channel"]`: `speech`, `song`   |
//! | emotion    | 01..08, see [`RAVDESS_EMOTIONS`]       | `emotion`                              |
//! | intensity  | 01 normal, 02 strong                   | `attrs["intensity"]`: `normal`, `strong` |
//! | statement  | 01 kids, 02 dogs                       | `attrs["statement"]`: `kids`, `dogs`; `text`: the sentence |
//! | repetition | 01, 02                                 | `attrs["repetition"]`: `1`, `2`        |
//! | actor      | 01..24 (any 01..99 accepted)           | `speaker`: `actor_12` (two digits); `gender`: odd male, even female |
//!
//! Statements are stored as words rather than codes so that a filter reads
//! `statement = "kids"`; speakers carry an `actor_` prefix so they cannot be confused with
//! another dataset's speaker numbers, and keep two digits so that they also sort as text.

use super::files::{audio_files, skip_duplicate_ids, stem};
use super::{ReadResult, SpeechClip};
use crate::core::Gender;
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::Path;

/// RAVDESS emotions, in code order: code `01` is `RAVDESS_EMOTIONS[0]`.
pub const RAVDESS_EMOTIONS: [&str; 8] = [
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
];

/// The two sentences, for statement codes 01 and 02.
pub const RAVDESS_STATEMENTS: [&str; 2] = [
    "Kids are talking by the door",
    "Dogs are sitting by the door",
];

/// Names of the seven fields, for error messages.
const FIELDS: [&str; 7] = [
    "modality",
    "channel",
    "emotion",
    "intensity",
    "statement",
    "repetition",
    "actor",
];

/// Reads every RAVDESS audio file (`.wav`, `.flac`) under `dir`, recursively (the usual layout
/// has `Actor_01` ... `Actor_24` subfolders). Clips are sorted by path. Audio files whose name
/// does not parse, and second copies of a clip (same name, other extension or folder), are
/// listed in [`ReadResult::skipped`] with the reason; other files are not looked at. A missing
/// folder is an error.
pub fn read_ravdess(dir: &Path) -> Result<ReadResult> {
    let mut result = ReadResult::default();
    let expected = "Actor_01 ... Actor_24 subfolders of files named like 03-01-05-01-02-01-12.wav \
                    or .flac (RAVDESS's Audio_Speech_Actors_01-24 archive unpacked, or a 16 kHz \
                    FLAC copy of it)";
    for path in audio_files(dir, "RAVDESS", expected)? {
        match parse_ravdess_name(&path) {
            Ok(clip) => result.clips.push(clip),
            Err(reason) => result.skipped.push((path, reason)),
        }
    }
    skip_duplicate_ids(&mut result);
    Ok(result)
}

/// Parses one RAVDESS file name into a clip, or says why it is not one.
pub fn parse_ravdess_name(path: &Path) -> Result<SpeechClip, String> {
    let stem = stem(path)?;
    let parts: Vec<&str> = stem.split('-').collect();
    if parts.len() != FIELDS.len() {
        return Err(format!(
            "not a RAVDESS name: expected 7 two-digit fields modality-channel-emotion-intensity-statement-repetition-actor (like 03-01-05-01-02-01-12), found {} field(s)",
            parts.len()
        ));
    }
    let mut codes = [0u8; 7];
    for (i, part) in parts.iter().enumerate() {
        codes[i] = two_digits(part).ok_or_else(|| {
            format!(
                "not a RAVDESS name: field {} ({}) is `{part}`, not two digits",
                i + 1,
                FIELDS[i]
            )
        })?;
    }
    let [
        modality,
        channel,
        emotion,
        intensity,
        statement,
        repetition,
        actor,
    ] = codes;
    let pick = |field: usize, code: u8, names: &[&'static str]| {
        names
            .get(usize::from(code).wrapping_sub(1))
            .copied()
            .ok_or_else(|| {
                format!(
                    "unknown {} code {code:02} (expected 01..{:02})",
                    FIELDS[field],
                    names.len()
                )
            })
    };
    let modality = pick(0, modality, &["audio_video", "video_only", "audio_only"])?;
    let channel = pick(1, channel, &["speech", "song"])?;
    let emotion = pick(2, emotion, &RAVDESS_EMOTIONS)?;
    let intensity = pick(3, intensity, &["normal", "strong"])?;
    let statement_index = usize::from(statement).wrapping_sub(1);
    let statement = pick(4, statement, &["kids", "dogs"])?;
    let repetition = pick(5, repetition, &["1", "2"])?;
    if actor == 0 {
        return Err("actor 00 does not exist (actors are numbered from 01)".to_string());
    }
    let attrs = BTreeMap::from(
        [
            ("modality", modality),
            ("channel", channel),
            ("intensity", intensity),
            ("statement", statement),
            ("repetition", repetition),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    Ok(SpeechClip {
        id: stem.to_string(),
        path: path.to_path_buf(),
        text: RAVDESS_STATEMENTS[statement_index].to_string(),
        emotion: emotion.to_string(),
        speaker: format!("actor_{actor:02}"),
        // The RAVDESS documentation: odd-numbered actors are male, even-numbered female.
        gender: Some(if actor % 2 == 1 {
            Gender::Male
        } else {
            Gender::Female
        }),
        attrs,
    })
}

/// The value of exactly two ASCII digits.
fn two_digits(text: &str) -> Option<u8> {
    match text.as_bytes() {
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => Some((a - b'0') * 10 + (b - b'0')),
        _ => None,
    }
}
