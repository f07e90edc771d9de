//! SAVEE, the Surrey Audio-Visual Expressed Emotion database (Haq and Jackson, 2009): four male
//! speakers (DC, JE, JK, KL), seven emotions, labels parsed from the file names.
//!
//! Two layouts are read: the flat one, `DC_a01.wav` (speaker, underscore, emotion code and
//! sentence number), and the original one, `DC/a01.wav` (the speaker is the folder). The
//! emotion code is one of the letters of [`SAVEE_EMOTIONS`] (`a`, `d`, `f`, `h`, `n`, `sa`,
//! `su`) and the number is the sentence within that emotion. What the reader makes of them:
//!
//! - `speaker`: the two upper-case letters as written (`DC`);
//! - `gender`: male for every speaker (all four SAVEE speakers are men);
//! - `emotion`: see [`SAVEE_EMOTIONS`];
//! - `text`: the sentence id (`a01`): the database ships no transcripts in the audio folders;
//! - `attrs`: `sentence` (`a01`).

use super::files::{audio_files, skip_duplicate_ids, stem};
use super::{ReadResult, SpeechClip};
use crate::core::Gender;
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::Path;

/// SAVEE's emotion codes and the emotion names emofuse uses (those of EmoDB where they meet).
pub const SAVEE_EMOTIONS: [(&str, &str); 7] = [
    ("a", "anger"),
    ("d", "disgust"),
    ("f", "fear"),
    ("h", "happiness"),
    ("n", "neutral"),
    ("sa", "sadness"),
    ("su", "surprise"),
];

/// Reads every SAVEE audio file (`.wav`, `.flac`) under `dir`, recursively, in either layout.
/// Clips are sorted by path; files whose name does not parse, and second copies of a clip, are
/// listed in [`ReadResult::skipped`] with the reason. A missing folder is an error.
pub fn read_savee(dir: &Path) -> Result<ReadResult> {
    let mut result = ReadResult::default();
    let expected =
        "files named like DC_a01.wav (speaker, emotion code, sentence number), or DC/a01.wav";
    for path in audio_files(dir, "SAVEE", expected)? {
        match parse_savee_name(&path) {
            Ok(clip) => result.clips.push(clip),
            Err(reason) => result.skipped.push((path, reason)),
        }
    }
    skip_duplicate_ids(&mut result);
    Ok(result)
}

/// Whether `text` is a SAVEE speaker id: two upper-case ASCII letters.
fn is_speaker(text: &str) -> bool {
    text.len() == 2 && text.chars().all(|c| c.is_ascii_uppercase())
}

/// Parses one SAVEE file name (with its folder for the original layout) into a clip, or says
/// why it is not one.
pub fn parse_savee_name(path: &Path) -> Result<SpeechClip, String> {
    let stem = stem(path)?;
    let (speaker, sentence) = match stem.split_once('_') {
        Some((speaker, sentence)) => (speaker, sentence),
        None => {
            let folder = path
                .parent()
                .and_then(Path::file_name)
                .and_then(|f| f.to_str())
                .unwrap_or("");
            (folder, stem)
        }
    };
    if !is_speaker(speaker) {
        return Err(format!(
            "not a SAVEE name: expected DC_a01 (or a01 in a speaker folder such as DC/), but the speaker `{speaker}` is not two upper-case letters"
        ));
    }
    let split = sentence
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(sentence.len());
    let (code, number) = sentence.split_at(split);
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "not a SAVEE name: `{sentence}` is not an emotion code followed by a sentence number (like a01 or sa12)"
        ));
    }
    let Some((_, emotion)) = SAVEE_EMOTIONS.iter().find(|(c, _)| *c == code) else {
        return Err(format!(
            "unknown SAVEE emotion code `{code}` (expected one of {})",
            SAVEE_EMOTIONS
                .map(|(c, name)| format!("{c} {name}"))
                .join(", ")
        ));
    };
    Ok(SpeechClip {
        id: format!("{speaker}_{sentence}"),
        path: path.to_path_buf(),
        text: sentence.to_string(),
        emotion: (*emotion).to_string(),
        speaker: speaker.to_string(),
        gender: Some(Gender::Male),
        attrs: BTreeMap::from([("sentence".to_string(), sentence.to_string())]),
    })
}
