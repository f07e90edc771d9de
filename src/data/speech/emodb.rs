//! EmoDB, the Berlin Database of Emotional Speech (Burkhardt et al., 2005): labels parsed from
//! the file names.
//!
//! A name has seven characters, e.g. `03a01Fa.wav`: speaker `03`, text `a01`, emotion letter `F`
//! (the initial of the German word, here Freude, happiness) and a version letter `a` (`b`, `c`,
//! ... when a sentence was recorded again). What the reader makes of them:
//!
//! - `speaker`: `speaker_03` (two digits kept, so the ids sort as text too);
//! - `gender`: from the EmoDB documentation, speakers 03, 10, 11, 12, 15 are male and 08, 09,
//!   13, 14, 16 female; any other speaker number is kept with no gender;
//! - `emotion`: see [`EMODB_EMOTIONS`];
//! - `text`: the German sentence of the text id (the 10 of [`EMODB_TEXTS`]); an id outside
//!   these is skipped, as it is not an EmoDB recording;
//! - `attrs`: `text_id` (`a01`) and `version` (`a`).

use super::files::{audio_files, skip_duplicate_ids, stem};
use super::{ReadResult, SpeechClip};
use crate::core::Gender;
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::Path;

/// EmoDB's emotion letters (German initials) and the emotion names emofuse uses.
pub const EMODB_EMOTIONS: [(char, &str); 7] = [
    ('W', "anger"),     // Wut / Ärger
    ('L', "boredom"),   // Langeweile
    ('E', "disgust"),   // Ekel
    ('A', "fear"),      // Angst
    ('F', "happiness"), // Freude
    ('T', "sadness"),   // Trauer
    ('N', "neutral"),
];

/// EmoDB's 10 text ids and their sentences (from the database documentation).
pub const EMODB_TEXTS: [(&str, &str); 10] = [
    ("a01", "Der Lappen liegt auf dem Eisschrank."),
    ("a02", "Das will sie am Mittwoch abgeben."),
    ("a04", "Heute abend könnte ich es ihm sagen."),
    (
        "a05",
        "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    ),
    ("a07", "In sieben Stunden wird es soweit sein."),
    (
        "b01",
        "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    ),
    (
        "b02",
        "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    ),
    (
        "b03",
        "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    ),
    (
        "b09",
        "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    ),
    (
        "b10",
        "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
    ),
];

/// Male speakers according to the EmoDB documentation.
const MALE_SPEAKERS: [u8; 5] = [3, 10, 11, 12, 15];
/// Female speakers according to the EmoDB documentation.
const FEMALE_SPEAKERS: [u8; 5] = [8, 9, 13, 14, 16];

/// Reads every EmoDB audio file (`.wav`, `.flac`) under `dir`, recursively (the original
/// archive has them in `wav/`). Clips are sorted by path. Audio files whose name does not parse
/// and second copies of a clip (same name, other extension or folder) are listed in
/// [`ReadResult::skipped`] with the reason; other files are not looked at. A missing folder is
/// an error.
pub fn read_emodb(dir: &Path) -> Result<ReadResult> {
    let mut result = ReadResult::default();
    let expected = "files named like 03a01Fa.wav (speaker, text id, emotion letter, version)";
    for path in audio_files(dir, "EmoDB", expected)? {
        match parse_emodb_name(&path) {
            Ok(clip) => result.clips.push(clip),
            Err(reason) => result.skipped.push((path, reason)),
        }
    }
    skip_duplicate_ids(&mut result);
    Ok(result)
}

/// Parses one EmoDB file name into a clip, or says why it is not one.
pub fn parse_emodb_name(path: &Path) -> Result<SpeechClip, String> {
    let stem = stem(path)?;
    let chars: Vec<char> = stem.chars().collect();
    let [s1, s2, t1, t2, t3, emotion, version] = chars[..] else {
        return Err(format!(
            "not an EmoDB name: expected 7 characters speaker-text-emotion-version (like 03a01Fa), found {}",
            chars.len()
        ));
    };
    let (Some(s1), Some(s2)) = (s1.to_digit(10), s2.to_digit(10)) else {
        return Err(format!(
            "not an EmoDB name: the speaker `{s1}{s2}` is not two digits"
        ));
    };
    let speaker = (s1 * 10 + s2) as u8;
    let text_id: String = [t1, t2, t3].iter().collect();
    let Some((_, text)) = EMODB_TEXTS.iter().find(|(id, _)| *id == text_id) else {
        return Err(format!(
            "unknown EmoDB text id `{text_id}` (expected one of {})",
            EMODB_TEXTS.map(|(id, _)| id).join(", ")
        ));
    };
    let Some((_, emotion)) = EMODB_EMOTIONS.iter().find(|(letter, _)| *letter == emotion) else {
        return Err(format!(
            "unknown EmoDB emotion letter `{emotion}` (expected one of {})",
            EMODB_EMOTIONS
                .map(|(letter, name)| format!("{letter} {name}"))
                .join(", ")
        ));
    };
    if !version.is_ascii_lowercase() {
        return Err(format!(
            "not an EmoDB name: the version `{version}` is not a lower-case letter"
        ));
    }
    let gender = if MALE_SPEAKERS.contains(&speaker) {
        Some(Gender::Male)
    } else if FEMALE_SPEAKERS.contains(&speaker) {
        Some(Gender::Female)
    } else {
        None
    };
    let attrs = BTreeMap::from([
        ("text_id".to_string(), text_id),
        ("version".to_string(), version.to_string()),
    ]);
    Ok(SpeechClip {
        id: stem.to_string(),
        path: path.to_path_buf(),
        text: (*text).to_string(),
        emotion: (*emotion).to_string(),
        speaker: format!("speaker_{speaker:02}"),
        gender,
        attrs,
    })
}
