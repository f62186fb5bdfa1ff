//! What a planning request showed the model of the repository: the provenance of its grounding
//! (`context` in `[questions_asked]` and in a model's plan revision; `docs/SCHEMA.md`).

use super::Extra;
use serde::{Deserialize, Serialize};

/// The repository context a prompt held: the file list, and the map of the most relevant files
/// within a token budget.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct Grounding {
    /// The map's budget, in approximate tokens (bytes / 4); 0: no map was sent.
    pub budget: u64,
    /// Paths listed in the prompt's file list.
    pub files_listed: u64,
    /// Files in the tree the prompt was made from.
    pub files_total: u64,
    /// The files the map showed, most relevant first, each with the bytes of it the map held.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub map: Vec<MappedFile>,
    /// Candidate files (text files read that have something to show) the map left out for the
    /// budget.
    #[serde(default)]
    pub map_left_out: u64,
    /// Keys this build does not know, from a newer git-aiflow: kept, and written back as they
    /// were (the compatibility rule of `docs/SCHEMA.md`).
    #[serde(flatten, default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// One file of the map.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct MappedFile {
    /// The path, relative to the repository root.
    pub path: String,
    /// How many bytes of the prompt its entry took (path and lines shown).
    pub bytes: u64,
    /// The file's size in the tree, in bytes.
    pub size: u64,
    /// Keys this build does not know, from a newer git-aiflow.
    #[serde(flatten, default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}
