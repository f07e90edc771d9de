//! Train / validation / test splits, speaker-independent by default.
//!
//! The source study's first split leaked (validation was the test set) and reused speakers
//! across splits. Here a split is an explicit [`SplitAssignment`] of clip indices, saved with
//! each run as `split.json`, and [`check_no_leakage`] proves that each clip is used once and, for
//! speaker-independent splits, that no speaker appears in two of train / validation / test.

use super::SpeechClip;
use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// How many problems an error message lists before "... and N more".
const SHOWN_PROBLEMS: usize = 10;

/// Which clips (by index into the clip list it was made for) train, validate and test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitAssignment {
    /// Name of the split, e.g. `fold1of6`, `holdout`, `stratified-seed42`.
    pub name: String,
    /// Training clip indices, ascending.
    pub train: Vec<usize>,
    /// Validation clip indices, ascending.
    pub valid: Vec<usize>,
    /// Test clip indices, ascending.
    pub test: Vec<usize>,
    /// Speakers of the training clips, in natural order (empty when not speaker-independent).
    pub train_speakers: Vec<String>,
    /// Speakers of the validation clips, in natural order.
    pub valid_speakers: Vec<String>,
    /// Speakers of the test clips, in natural order.
    pub test_speakers: Vec<String>,
    /// Whether the split promises that no speaker is in two of train / validation / test.
    pub speaker_independent: bool,
}

impl SplitAssignment {
    /// An assignment with no clip yet.
    pub fn empty(name: String, speaker_independent: bool) -> Self {
        Self {
            name,
            train: Vec::new(),
            valid: Vec::new(),
            test: Vec::new(),
            train_speakers: Vec::new(),
            valid_speakers: Vec::new(),
            test_speakers: Vec::new(),
            speaker_independent,
        }
    }

    /// Writes the assignment as pretty JSON (a run's `split.json`).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        crate::io::atomic::write(path, text.as_bytes())
    }

    /// Reads an assignment written by [`SplitAssignment::save`].
    pub fn load(path: &Path) -> Result<SplitAssignment> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read split file {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: not a split assignment (expected the split.json of a run)",
                path.display()
            )
        })
    }
}

/// Compares strings with digit runs compared as numbers, so `actor_2` < `actor_10`. Equal
/// numbers written differently (`01`, `1`) fall back to plain text order, so the order is total.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a, b);
    while !x.is_empty() && !y.is_empty() {
        let (cx, rx) = split_chunk(x);
        let (cy, ry) = split_chunk(y);
        let order = match (is_number(cx), is_number(cy)) {
            (true, true) => {
                let (nx, ny) = (cx.trim_start_matches('0'), cy.trim_start_matches('0'));
                nx.len().cmp(&ny.len()).then_with(|| nx.cmp(ny))
            }
            // Numbers sort before words, as in file managers.
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => cx.cmp(cy),
        };
        if order != Ordering::Equal {
            return order;
        }
        (x, y) = (rx, ry);
    }
    x.len().cmp(&y.len()).then_with(|| a.cmp(b))
}

/// The leading run of digits or of non-digits, and the rest.
fn split_chunk(text: &str) -> (&str, &str) {
    let digits = text.starts_with(|c: char| c.is_ascii_digit());
    let end = text
        .find(|c: char| c.is_ascii_digit() != digits)
        .unwrap_or(text.len());
    text.split_at(end)
}

fn is_number(chunk: &str) -> bool {
    chunk.starts_with(|c: char| c.is_ascii_digit())
}

/// The distinct speakers of `clips`, in natural order; every clip must name one.
fn speakers_of(clips: &[SpeechClip]) -> Result<Vec<String>> {
    if let Some(clip) = clips.iter().find(|c| c.speaker.trim().is_empty()) {
        bail!(
            "clip {} ({}) has no speaker; speaker-independent splits need one for every clip (for a CSV manifest, fill its `speaker` column)",
            clip.id,
            clip.path.display()
        );
    }
    let mut speakers: Vec<String> = clips
        .iter()
        .map(|c| c.speaker.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    speakers.sort_by(|a, b| natural_cmp(a, b));
    Ok(speakers)
}

/// Which part of a split a speaker belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Train,
    Valid,
    Test,
}

/// Builds a speaker-independent assignment from each speaker's part.
fn assign(name: String, clips: &[SpeechClip], part_of: &HashMap<&str, Part>) -> SplitAssignment {
    let mut a = SplitAssignment::empty(name, true);
    for (index, clip) in clips.iter().enumerate() {
        match part_of[clip.speaker.as_str()] {
            Part::Train => a.train.push(index),
            Part::Valid => a.valid.push(index),
            Part::Test => a.test.push(index),
        }
    }
    for (speaker, part) in part_of {
        let list = match part {
            Part::Train => &mut a.train_speakers,
            Part::Valid => &mut a.valid_speakers,
            Part::Test => &mut a.test_speakers,
        };
        list.push(speaker.to_string());
    }
    for list in [
        &mut a.train_speakers,
        &mut a.valid_speakers,
        &mut a.test_speakers,
    ] {
        list.sort_by(|x, y| natural_cmp(x, y));
    }
    a
}

/// Speaker k-fold cross-validation. Speakers are sorted naturally (`actor_2` before
/// `actor_10`) or, with a seed, shuffled deterministically, then cut into `k` contiguous groups
/// whose sizes differ by at most one (the first groups take the extra speakers): RAVDESS's 24
/// actors with k = 6 give actors 1-4, 5-8, ..., 21-24, as EmoBox does. Fold i tests on group
/// i, validates on group (i + 1) % k and trains on the others.
///
/// Errors when k < 3 (train, validation and test each need a group), when k exceeds the number
/// of speakers, or when a clip has no speaker.
pub fn speaker_kfold(
    clips: &[SpeechClip],
    k: usize,
    seed: Option<u64>,
) -> Result<Vec<SplitAssignment>> {
    let mut speakers = speakers_of(clips)?;
    if k < 3 {
        bail!(
            "speaker k-fold needs k >= 3 (each fold tests on one group of speakers, validates on the next and trains on the rest); got k = {k}"
        );
    }
    if k > speakers.len() {
        bail!(
            "speaker k-fold with k = {k} needs at least {k} speakers, but the clips have {}: {}",
            speakers.len(),
            speakers.join(", ")
        );
    }
    if let Some(seed) = seed {
        speakers.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    }
    let (base, extra) = (speakers.len() / k, speakers.len() % k);
    let mut group_of = HashMap::new();
    let mut start = 0;
    for group in 0..k {
        let size = base + usize::from(group < extra);
        for speaker in &speakers[start..start + size] {
            group_of.insert(speaker.as_str(), group);
        }
        start += size;
    }
    let folds = (0..k)
        .map(|fold| {
            let part_of = group_of
                .iter()
                .map(|(&speaker, &group)| {
                    let part = if group == fold {
                        Part::Test
                    } else if group == (fold + 1) % k {
                        Part::Valid
                    } else {
                        Part::Train
                    };
                    (speaker, part)
                })
                .collect();
            let name = match seed {
                None => format!("fold{}of{k}", fold + 1),
                Some(seed) => format!("fold{}of{k}-seed{seed}", fold + 1),
            };
            assign(name, clips, &part_of)
        })
        .collect();
    Ok(folds)
}

/// A speaker-independent split with the named validation and test speakers. With
/// `train_speakers` empty every other speaker trains (the caller reports who); with it given,
/// every speaker must be named in exactly one list. Errors on an empty validation or test
/// list, an unknown speaker (the error lists the known ones), a speaker in two lists (it would
/// leak), an unlisted speaker when `train_speakers` is given, no speaker left to train on, or a
/// clip with no speaker.
pub fn holdout(
    clips: &[SpeechClip],
    train_speakers: &[String],
    valid_speakers: &[String],
    test_speakers: &[String],
) -> Result<SplitAssignment> {
    let speakers = speakers_of(clips)?;
    let mut part_of: HashMap<&str, Option<Part>> = speakers
        .iter()
        .map(|s| {
            let default = train_speakers.is_empty().then_some(Part::Train);
            (s.as_str(), default)
        })
        .collect();
    let name = |p: Part| match p {
        Part::Train => "training",
        Part::Valid => "validation",
        Part::Test => "test",
    };
    for (list, part) in [
        (train_speakers, Part::Train),
        (valid_speakers, Part::Valid),
        (test_speakers, Part::Test),
    ] {
        if list.is_empty() && part != Part::Train {
            bail!(
                "holdout split: no {} speaker given; name at least one",
                name(part)
            );
        }
        let explicit = !train_speakers.is_empty();
        for speaker in list {
            match part_of.get_mut(speaker.as_str()) {
                None => bail!(
                    "holdout split: unknown {} speaker `{speaker}`; the clips have: {}",
                    name(part),
                    speakers.join(", ")
                ),
                Some(Some(first)) if explicit || *first != Part::Train => bail!(
                    "holdout split: speaker `{speaker}` is in both the {} and the {} speakers; a speaker may be in one list only, or its clips would leak between the two",
                    name(*first),
                    name(part)
                ),
                Some(current) => *current = Some(part),
            }
        }
    }
    let unlisted: Vec<&str> = speakers
        .iter()
        .filter(|s| part_of[s.as_str()].is_none())
        .map(String::as_str)
        .collect();
    if !unlisted.is_empty() {
        bail!(
            "holdout split: speakers {} are in no list; with `train_speakers` given every speaker must be in train_speakers, valid_speakers or test_speakers (or leave train_speakers empty to train on every unlisted speaker)",
            unlisted.join(", ")
        );
    }
    let part_of: HashMap<&str, Part> = part_of
        .into_iter()
        .map(|(s, p)| (s, p.expect("every speaker has a part")))
        .collect();
    if !part_of.values().any(|p| *p == Part::Train) {
        bail!(
            "holdout split: every speaker is held out for validation or test, none is left to train on"
        );
    }
    Ok(assign("holdout".to_string(), clips, &part_of))
}

/// A random split that keeps each class's proportions (not speaker-independent: use it only
/// for datasets without speaker labels, and say so in reports). For each class, in class
/// order, its clips are shuffled with one generator seeded by `seed`; round(n * test_fraction)
/// of them test, round(n * valid_fraction) validate (fewer if a tiny class runs out), the rest
/// train. Errors unless both fractions are in [0, 1) and their sum is below 1.
pub fn stratified_random(
    labels: &[usize],
    valid_fraction: f64,
    test_fraction: f64,
    seed: u64,
) -> Result<SplitAssignment> {
    for (what, f) in [("validation", valid_fraction), ("test", test_fraction)] {
        if !(0.0..1.0).contains(&f) {
            bail!("stratified split: the {what} fraction must be in [0, 1), got {f}");
        }
    }
    if valid_fraction + test_fraction >= 1.0 {
        bail!(
            "stratified split: validation ({valid_fraction}) + test ({test_fraction}) fractions must leave something to train on (sum below 1)"
        );
    }
    let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (index, &label) in labels.iter().enumerate() {
        by_class.entry(label).or_default().push(index);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut valid, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for indices in by_class.values_mut() {
        indices.shuffle(&mut rng);
        let n = indices.len();
        let n_test = ((n as f64 * test_fraction).round() as usize).min(n);
        let n_valid = ((n as f64 * valid_fraction).round() as usize).min(n - n_test);
        test.extend_from_slice(&indices[..n_test]);
        valid.extend_from_slice(&indices[n_test..n_test + n_valid]);
        train.extend_from_slice(&indices[n_test + n_valid..]);
    }
    for list in [&mut train, &mut valid, &mut test] {
        list.sort_unstable();
    }
    Ok(SplitAssignment {
        name: format!("stratified-seed{seed}"),
        train,
        valid,
        test,
        train_speakers: Vec::new(),
        valid_speakers: Vec::new(),
        test_speakers: Vec::new(),
        speaker_independent: false,
    })
}

/// Settles from the clips whether `a` is speaker-independent, rather than trusting how it was
/// made: when every clip names a speaker and no speaker has clips in two of train / validation
/// / test, the assignment becomes speaker-independent with each part's speakers listed;
/// otherwise it is marked speaker-dependent. Returns the speakers found in more than one part
/// (empty when independent or when some clip has no speaker), in natural order.
pub fn settle_speaker_independence(a: &mut SplitAssignment, clips: &[SpeechClip]) -> Vec<String> {
    let named = [&a.train, &a.valid, &a.test]
        .into_iter()
        .flatten()
        .all(|&i| clips.get(i).is_some_and(|c| !c.speaker.trim().is_empty()));
    let speakers = |indices: &[usize]| -> Vec<String> {
        let set: BTreeSet<&str> = indices
            .iter()
            .filter_map(|&i| clips.get(i))
            .map(|c| c.speaker.as_str())
            .collect();
        let mut list: Vec<String> = set.into_iter().map(str::to_string).collect();
        list.sort_by(|x, y| natural_cmp(x, y));
        list
    };
    let parts = [speakers(&a.train), speakers(&a.valid), speakers(&a.test)];
    let mut shared: Vec<String> = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        for speaker in part {
            if parts[i + 1..].iter().any(|later| later.contains(speaker))
                && !shared.contains(speaker)
            {
                shared.push(speaker.clone());
            }
        }
    }
    shared.sort_by(|x, y| natural_cmp(x, y));
    a.speaker_independent = named && shared.is_empty();
    if a.speaker_independent {
        let [train, valid, test] = parts;
        (a.train_speakers, a.valid_speakers, a.test_speakers) = (train, valid, test);
    } else {
        a.train_speakers.clear();
        a.valid_speakers.clear();
        a.test_speakers.clear();
    }
    if named { shared } else { Vec::new() }
}

/// Checks an assignment against the clips it indexes: every clip in exactly one of train /
/// validation / test, no index out of range and, for a speaker-independent assignment, no
/// speaker with clips in (or listed under) two parts, and every speaker listed under the part
/// its clips are in. All problems are reported in one error naming the clips or speakers.
pub fn check_no_leakage(a: &SplitAssignment, clips: &[SpeechClip]) -> Result<()> {
    let parts = [
        ("train", &a.train, &a.train_speakers),
        ("valid", &a.valid, &a.valid_speakers),
        ("test", &a.test, &a.test_speakers),
    ];
    let mut problems = Vec::new();
    let mut part_of: Vec<Option<&str>> = vec![None; clips.len()];
    for (part, indices, _) in parts {
        for &index in indices.iter() {
            match part_of.get_mut(index) {
                None => problems.push(format!(
                    "index {index} in {part} is out of range ({} clips)",
                    clips.len()
                )),
                Some(Some(first)) => problems.push(format!(
                    "clip {index} ({}) is in {first} and in {part}",
                    clips[index].id
                )),
                Some(slot) => *slot = Some(part),
            }
        }
    }
    for (index, part) in part_of.iter().enumerate() {
        if part.is_none() {
            problems.push(format!("clip {index} ({}) is in no split", clips[index].id));
        }
    }
    if a.speaker_independent {
        // Speaker -> the parts its clips are in, and the parts it is listed under.
        let mut found: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (part, indices, _) in parts {
            for &index in indices.iter().filter(|&&i| i < clips.len()) {
                found
                    .entry(clips[index].speaker.as_str())
                    .or_default()
                    .insert(part);
            }
        }
        let mut listed: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (part, _, speakers) in parts {
            for speaker in speakers.iter() {
                listed.entry(speaker.as_str()).or_default().insert(part);
            }
        }
        let mut speakers: Vec<&str> = found.keys().chain(listed.keys()).copied().collect();
        speakers.sort_by(|x, y| natural_cmp(x, y));
        speakers.dedup();
        for speaker in speakers {
            let in_parts = found.get(speaker).cloned().unwrap_or_default();
            let in_lists = listed.get(speaker).cloned().unwrap_or_default();
            if in_parts.len() > 1 {
                problems.push(format!(
                    "speaker `{speaker}` has clips in {}",
                    in_parts.into_iter().collect::<Vec<_>>().join(" and ")
                ));
            } else if in_lists.len() > 1 {
                problems.push(format!(
                    "speaker `{speaker}` is listed under {}",
                    in_lists.into_iter().collect::<Vec<_>>().join(" and ")
                ));
            } else if let Some(part) = in_parts.first()
                && !in_lists.contains(part)
            {
                problems.push(format!(
                    "speaker `{speaker}` has clips in {part} but is not listed in {part}_speakers"
                ));
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let shown = &problems[..problems.len().min(SHOWN_PROBLEMS)];
    bail!(
        "split `{}` is not a clean{} split of the {} clips:\n  {}{}\n  hint: build splits with speaker_kfold or holdout, or regenerate split.json for these clips",
        a.name,
        if a.speaker_independent {
            " speaker-independent"
        } else {
            ""
        },
        clips.len(),
        shown.join("\n  "),
        if problems.len() > shown.len() {
            format!("\n  ... and {} more", problems.len() - shown.len())
        } else {
            String::new()
        }
    )
}
