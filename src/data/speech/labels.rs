//! Label tables (which emotions form which class) and clip filters (which clips a study keeps).
//!
//! The source study trained on 5 emotions, on 3 groups (positive / neutral / negative) and on 2
//! (positive / negative), and per gender. Here each of these is data: a [`LabelTable`] and a
//! [`ClipFilter`], applied by [`select`], which counts every clip it leaves out by reason.

use super::SpeechClip;
use crate::core::Gender;
use crate::core::LabelMap;
use anyhow::{Result, bail};
use std::collections::BTreeMap;

/// Names accepted by [`builtin_table`].
pub const BUILTIN_TABLES: &[&str] = &[
    "ravdess8", "ravdess5", "ravdess3", "ravdess2", "emodb7", "savee7",
];

/// Maps dataset emotions to classes. Emotions missing from `map` are dropped (and counted by
/// [`select`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelTable {
    /// Table name, used in reports and drop reasons.
    pub name: String,
    /// Class names; the position of a name is its class index.
    pub classes: Vec<String>,
    /// Emotion -> class name (always one of `classes`).
    pub map: BTreeMap<String, String>,
}

impl LabelTable {
    /// Builds a table from `groups`, class -> the emotions it contains (the shape of a TOML
    /// table such as `positive = ["happy", "surprised"]`). Errors on duplicate or empty class
    /// names, a group for a class not in `classes`, a class with no emotion, and an emotion in
    /// two classes.
    pub fn custom(
        name: &str,
        classes: Vec<String>,
        groups: BTreeMap<String, Vec<String>>,
    ) -> Result<LabelTable> {
        // LabelMap checks that class names are unique and non-empty.
        LabelMap::new(&classes).map_err(|e| anyhow::anyhow!("label table `{name}`: {e}"))?;
        if let Some(unknown) = groups.keys().find(|g| !classes.contains(g)) {
            bail!(
                "label table `{name}`: group `{unknown}` is not one of the classes ({})",
                classes.join(", ")
            );
        }
        let mut map: BTreeMap<String, String> = BTreeMap::new();
        for class in &classes {
            let emotions = groups.get(class).map(Vec::as_slice).unwrap_or_default();
            if emotions.is_empty() {
                bail!(
                    "label table `{name}`: class `{class}` has no emotion; list the emotions it groups, e.g. {class} = [\"happy\"]"
                );
            }
            for emotion in emotions {
                if let Some(other) = map.insert(emotion.clone(), class.clone())
                    && other != *class
                {
                    bail!(
                        "label table `{name}`: emotion `{emotion}` is in two classes, `{other}` and `{class}`; an emotion can belong to one class only"
                    );
                }
            }
        }
        Ok(LabelTable {
            name: name.to_string(),
            classes,
            map,
        })
    }

    /// The class index of an emotion, if the table keeps it.
    pub fn class_of(&self, emotion: &str) -> Option<usize> {
        let class = self.map.get(emotion)?;
        self.classes.iter().position(|c| c == class)
    }

    /// This table carried onto another corpus's emotion names, for cross-corpus testing: the
    /// same classes, each holding the target emotions of `groups` (class -> target emotions)
    /// or, where `groups` is empty, every target emotion in `emotions` whose
    /// [`canonical_emotion`] equals that of an emotion of the class (`angry` holds `anger`).
    /// A class may hold none (the target corpus lacks it); target emotions left out are
    /// dropped by [`select`] and counted. Errors on a group for an unknown class or an emotion
    /// in two groups.
    pub fn onto_corpus(
        &self,
        emotions: &[&str],
        groups: &BTreeMap<String, Vec<String>>,
    ) -> Result<LabelTable> {
        let name = format!("{} (cross-corpus)", self.name);
        let mut map = BTreeMap::new();
        if groups.is_empty() {
            for &emotion in emotions {
                let wanted = canonical_emotion(emotion);
                if let Some(class) = self
                    .map
                    .iter()
                    .find(|(source, _)| canonical_emotion(source) == wanted)
                    .map(|(_, class)| class)
                {
                    map.insert(emotion.to_string(), class.clone());
                }
            }
        } else {
            for (class, targets) in groups {
                if !self.classes.contains(class) {
                    bail!(
                        "data.test.groups: `{class}` is not one of the trained classes ({})",
                        self.classes.join(", ")
                    );
                }
                for emotion in targets {
                    if let Some(other) = map.insert(emotion.clone(), class.clone())
                        && other != *class
                    {
                        bail!(
                            "data.test.groups: emotion `{emotion}` is in two classes, `{other}` and `{class}`"
                        );
                    }
                }
            }
        }
        Ok(LabelTable {
            name,
            classes: self.classes.clone(),
            map,
        })
    }

    /// The classes as a [`LabelMap`], the type reports and metrics take their names from.
    /// Errors only for a table built by hand with duplicate or empty class names.
    pub fn label_map(&self) -> Result<LabelMap> {
        LabelMap::new(&self.classes)
            .map_err(|e| anyhow::anyhow!("label table `{}`: {e}", self.name))
    }
}

/// One of the built-in tables ([`BUILTIN_TABLES`]), or `None` for another name:
/// - `ravdess8`: the 8 RAVDESS emotions, each its own class, in code order;
/// - `ravdess5`: angry, calm, fearful, happy, sad (the five the source study kept);
/// - `ravdess3`: positive (happy, surprised), neutral (neutral, calm), negative (sad, angry,
///   fearful, disgust);
/// - `ravdess2`: positive (neutral, calm, happy, surprised), negative (sad, angry, fearful,
///   disgust);
/// - `emodb7`: the 7 EmoDB emotions, each its own class, in the order of
///   [`super::emodb::EMODB_EMOTIONS`];
/// - `savee7`: the 7 SAVEE emotions, each its own class, in the order of
///   [`super::savee::SAVEE_EMOTIONS`].
pub fn builtin_table(name: &str) -> Option<LabelTable> {
    use super::emodb::EMODB_EMOTIONS;
    use super::ravdess::RAVDESS_EMOTIONS;
    use super::savee::SAVEE_EMOTIONS;
    let groups: Vec<(&str, Vec<&str>)> = match name {
        "ravdess8" => RAVDESS_EMOTIONS.iter().map(|e| (*e, vec![*e])).collect(),
        "ravdess5" => ["angry", "calm", "fearful", "happy", "sad"]
            .iter()
            .map(|e| (*e, vec![*e]))
            .collect(),
        "ravdess3" => vec![
            ("positive", vec!["happy", "surprised"]),
            ("neutral", vec!["neutral", "calm"]),
            ("negative", vec!["sad", "angry", "fearful", "disgust"]),
        ],
        "ravdess2" => vec![
            ("positive", vec!["neutral", "calm", "happy", "surprised"]),
            ("negative", vec!["sad", "angry", "fearful", "disgust"]),
        ],
        "emodb7" => EMODB_EMOTIONS.iter().map(|(_, e)| (*e, vec![*e])).collect(),
        "savee7" => SAVEE_EMOTIONS.iter().map(|(_, e)| (*e, vec![*e])).collect(),
        _ => return None,
    };
    let classes = groups.iter().map(|(c, _)| c.to_string()).collect();
    let groups = groups
        .into_iter()
        .map(|(c, es)| (c.to_string(), es.into_iter().map(String::from).collect()))
        .collect();
    Some(LabelTable::custom(name, classes, groups).expect("built-in tables are valid"))
}

/// One name for an emotion across corpora, so a model trained on one corpus can be tested on
/// another: RAVDESS's `angry`, `happy`, `sad`, `fearful`, `surprised` become the EmoDB / SAVEE
/// names `anger`, `happiness`, `sadness`, `fear`, `surprise` (also `joy` -> `happiness`,
/// `disgusted` -> `disgust`); other names are kept, lower-cased.
pub fn canonical_emotion(name: &str) -> String {
    let lower = name.trim().to_lowercase();
    let canonical = match lower.as_str() {
        "angry" => "anger",
        "happy" | "joy" => "happiness",
        "sad" => "sadness",
        "fearful" | "afraid" => "fear",
        "surprised" => "surprise",
        "disgusted" => "disgust",
        other => other,
    };
    canonical.to_string()
}

/// Which clips to keep, by attributes other than the emotion. `None` keeps every value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClipFilter {
    /// Keep only this gender (clips with no gender are left out too).
    pub gender: Option<Gender>,
    /// Keep only this `attrs["intensity"]` (RAVDESS: `normal`, `strong`).
    pub intensity: Option<String>,
    /// Keep only this `attrs["statement"]` (RAVDESS: `kids`, `dogs`).
    pub statement: Option<String>,
}

impl ClipFilter {
    /// Why the filter leaves `clip` out (e.g. `gender female filtered out`), or `None` if it
    /// keeps it.
    pub fn reason(&self, clip: &SpeechClip) -> Option<String> {
        if let Some(wanted) = self.gender
            && clip.gender != Some(wanted)
        {
            let found = clip.gender.map_or("unknown", Gender::as_str);
            return Some(format!("gender {found} filtered out"));
        }
        for (key, wanted) in [
            ("intensity", &self.intensity),
            ("statement", &self.statement),
        ] {
            if let Some(wanted) = wanted {
                let found = clip.attrs.get(key).map(String::as_str);
                if found != Some(wanted.as_str()) {
                    return Some(format!("{key} {} filtered out", found.unwrap_or("missing")));
                }
            }
        }
        None
    }

    /// Keeps the clips that pass, in order; returns them with the count of clips left out per
    /// reason.
    pub fn apply(&self, clips: Vec<SpeechClip>) -> (Vec<SpeechClip>, BTreeMap<String, usize>) {
        let mut dropped = BTreeMap::new();
        let kept = clips
            .into_iter()
            .filter(|clip| match self.reason(clip) {
                Some(reason) => {
                    *dropped.entry(reason).or_insert(0) += 1;
                    false
                }
                None => true,
            })
            .collect();
        (kept, dropped)
    }
}

/// The clips a study trains and evaluates on, with their class indices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Kept clips, in input order.
    pub clips: Vec<SpeechClip>,
    /// Class index of each kept clip, into the table's `classes`.
    pub labels: Vec<usize>,
    /// Clips left out, counted by reason (e.g. `emotion surprised not in table ravdess5`).
    pub dropped: BTreeMap<String, usize>,
}

impl Selection {
    /// Number of kept clips per class, in class order.
    pub fn class_counts(&self, table: &LabelTable) -> Vec<usize> {
        let mut counts = vec![0; table.classes.len()];
        // `get_mut`: the fields are public, so a hand-made selection may hold a bad index.
        for &label in &self.labels {
            if let Some(count) = counts.get_mut(label) {
                *count += 1;
            }
        }
        counts
    }

    /// Total number of clips left out.
    pub fn dropped_total(&self) -> usize {
        self.dropped.values().sum()
    }
}

/// Applies `filter`, then `table`: a clip left out by the filter is counted under the filter's
/// reason only, so every input clip is either kept or counted exactly once.
pub fn select(clips: Vec<SpeechClip>, table: &LabelTable, filter: &ClipFilter) -> Selection {
    let (kept, mut dropped) = filter.apply(clips);
    let mut selection = Selection::default();
    for clip in kept {
        match table.class_of(&clip.emotion) {
            Some(label) => {
                selection.labels.push(label);
                selection.clips.push(clip);
            }
            None => {
                let reason = format!("emotion {} not in table {}", clip.emotion, table.name);
                *dropped.entry(reason).or_insert(0) += 1;
            }
        }
    }
    selection.dropped = dropped;
    selection
}
