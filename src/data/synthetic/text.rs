//! Transcripts of the synthetic corpus: templates filled with everyday words, plus cue words
//! that signal an emotion in some utterances only.

use rand::RngExt;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

/// Cue words of each class, in label order. Some are shared across two classes on purpose.
const CUES: [&[&str]; 7] = [
    // neutral: no cue of its own
    &[],
    // joy
    &[
        "awesome",
        "great",
        "love it",
        "wonderful",
        "so happy",
        "yay",
        "fantastic",
    ],
    // surprise
    &["wow", "no way", "really", "oh my god", "seriously", "what"],
    // anger
    &[
        "shut up",
        "hate",
        "ridiculous",
        "damn",
        "unbelievable",
        "stop it",
    ],
    // sadness
    &["sorry", "miss her", "lost", "alone", "it hurts", "crying"],
    // disgust
    &["gross", "eww", "disgusting", "nasty", "ridiculous"],
    // fear
    &[
        "scared",
        "afraid",
        "help",
        "oh my god",
        "worried",
        "careful",
    ],
];

/// Probability that a non-neutral utterance carries a cue of its own class.
const CUE_PROBABILITY: f64 = 0.5;
/// Probability that an utterance carries a cue of another class (sarcasm, quoting, noise).
const MISLEADING_PROBABILITY: f64 = 0.08;

const SUBJECTS: &[&str] = &[
    "i", "you", "we", "she", "he", "they", "joey", "rachel", "ross", "monica",
];
const VERBS: &[&str] = &[
    "saw", "called", "met", "told", "found", "asked", "left", "moved", "bought", "heard",
];
const OBJECTS: &[&str] = &[
    "the apartment",
    "the coffee",
    "your sister",
    "the keys",
    "the couch",
    "the job",
    "the dinner",
    "the phone",
    "my mom",
    "the museum",
    "the tickets",
    "the cat",
];
const TIMES: &[&str] = &[
    "today",
    "yesterday",
    "last night",
    "this morning",
    "on monday",
    "at noon",
    "again",
    "later",
];
const FILLERS: &[&str] = &[
    "okay", "so", "well", "um", "hey", "listen", "look", "alright",
];

/// A transcript for an utterance of class `label`.
pub fn sentence(label: usize, rng: &mut ChaCha8Rng) -> String {
    let mut words: Vec<&str> = Vec::with_capacity(10);
    if rng.random_bool(0.4) {
        words.push(FILLERS.choose(rng).expect("non-empty"));
    }
    words.push(SUBJECTS.choose(rng).expect("non-empty"));
    words.push(VERBS.choose(rng).expect("non-empty"));
    words.push(OBJECTS.choose(rng).expect("non-empty"));
    if rng.random_bool(0.5) {
        words.push(TIMES.choose(rng).expect("non-empty"));
    }
    let cue = if !CUES[label].is_empty() && rng.random_bool(CUE_PROBABILITY) {
        CUES[label].choose(rng).copied()
    } else if rng.random_bool(MISLEADING_PROBABILITY) {
        let other = rng.random_range(1..CUES.len());
        CUES[other].choose(rng).copied()
    } else {
        None
    };
    if let Some(cue) = cue {
        // Cues go first or last, as an interjection would.
        if rng.random_bool(0.5) {
            words.insert(0, cue);
        } else {
            words.push(cue);
        }
    }
    let mut text = words.join(" ");
    if let Some(first) = text.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    text.push(if label == 2 && rng.random_bool(0.3) {
        '?'
    } else {
        '.'
    });
    text
}

/// Every word the generator can write (lower case), for documentation and tests.
pub fn vocabulary_words() -> Vec<String> {
    let mut words: Vec<String> = CUES
        .iter()
        .flat_map(|c| c.iter())
        .chain(SUBJECTS)
        .chain(VERBS)
        .chain(OBJECTS)
        .chain(TIMES)
        .chain(FILLERS)
        .flat_map(|phrase| phrase.split(' '))
        .map(str::to_string)
        .collect();
    words.sort();
    words.dedup();
    words
}
