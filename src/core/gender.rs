//! Speaker gender, as datasets record it and experiments filter by it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A speaker's gender, as the datasets record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    /// Male speaker.
    Male,
    /// Female speaker.
    Female,
}

impl Gender {
    /// The lower-case name, as written in files and reports (`male`, `female`).
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Male => "male",
            Gender::Female => "female",
        }
    }

    /// Parses `male`/`m` or `female`/`f` (any case, surrounding spaces ignored).
    pub fn parse(text: &str) -> Option<Gender> {
        match text.trim().to_ascii_lowercase().as_str() {
            "male" | "m" => Some(Gender::Male),
            "female" | "f" => Some(Gender::Female),
            _ => None,
        }
    }
}

impl fmt::Display for Gender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
