//! Speech emotion datasets read from their files: readers for RAVDESS, EmoDB and generic CSV manifests,
//! label tables that group emotions into classes, clip filters, and speaker-independent splits.
//!
//! Readers only parse names and manifests; audio is decoded later, when features are computed.
//! Every reader returns a [`ReadResult`]: the clips it understood and, for audio files whose
//! name it could not parse, the path with the reason, so nothing disappears without a trace.

mod files;

pub mod emodb;
pub mod labels;
pub mod ravdess;
pub mod savee;
pub mod splits;
pub mod table;

pub use emodb::read_emodb;
pub use files::files_under;
pub use labels::{
    BUILTIN_TABLES, ClipFilter, LabelTable, Selection, builtin_table, canonical_emotion, select,
};
pub use ravdess::read_ravdess;
pub use savee::read_savee;
pub use splits::{
    SplitAssignment, check_no_leakage, holdout, natural_cmp, settle_speaker_independence,
    speaker_kfold, stratified_random,
};
pub use table::read_table;

use crate::core::Gender;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One recorded utterance with its labels, as a dataset reader yields it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpeechClip {
    /// Unique id within the dataset: the file stem for RAVDESS and EmoDB (`03-01-05-01-02-01-12`,
    /// `03a01Fa`), the `id` column (or the path as written) for a CSV manifest.
    pub id: String,
    /// The audio file.
    pub path: PathBuf,
    /// What is said: the sentence, or an id of it where the dataset has no transcript.
    pub text: String,
    /// The dataset's own emotion name (`angry`, `boredom`, ...); a [`LabelTable`] maps it to a
    /// class.
    pub emotion: String,
    /// Speaker id, unique within the dataset (`actor_12`, `speaker_03`, or the manifest's value).
    pub speaker: String,
    /// The speaker's gender, where the dataset says it.
    pub gender: Option<Gender>,
    /// Further dataset-specific labels (`intensity`, `statement`, `split`, ...), as text.
    pub attrs: BTreeMap<String, String>,
}

/// What a dataset reader found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadResult {
    /// The clips whose name (or manifest row) was understood, in a deterministic order.
    pub clips: Vec<SpeechClip>,
    /// Audio files that were not used, each with the reason (e.g. an unknown emotion code).
    pub skipped: Vec<(PathBuf, String)>,
}
