//! Why an edit the user typed (a spec, a plan, answers) was not applied, told apart by whether the
//! user's text is worth keeping: the command line keeps such text in a draft and says where.

use super::WorkError;
use crate::flow::plan::BASED_ON;
use crate::store::{LookupError, StoreError};
use std::path::Path;

/// Why an edit was not applied. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The text was refused, or lost a race with another writer: it is worth keeping, for the
    /// user to fix and give again.
    #[error(transparent)]
    Keep(WorkError),
    /// The plan moved on: the edit was made from revision `base`, the plan is at `now`.
    #[error(
        "the plan of `{slug}` is at revision {now}, but this edit was made from revision {base}"
    )]
    Stale {
        /// The flow.
        slug: String,
        /// The revision the edit was made from.
        base: u32,
        /// The revision the plan is at.
        now: u32,
    },
    /// Anything else: the text is not at fault.
    #[error(transparent)]
    Other(#[from] WorkError),
}

impl EditError {
    /// The error as a [`WorkError`]; `kept` is where the edit is kept, for the hints of
    /// [`EditError::Stale`].
    pub fn into_work(self, kept: Option<&Path>) -> WorkError {
        match self {
            EditError::Keep(e) | EditError::Other(e) => e,
            EditError::Stale { slug, base, now } => stale(&slug, base, now, kept),
        }
    }
}

impl From<StoreError> for EditError {
    fn from(e: StoreError) -> Self {
        EditError::Other(e.into())
    }
}

impl From<LookupError> for EditError {
    fn from(e: LookupError) -> Self {
        EditError::Other(e.into())
    }
}

/// The refusal of a plan edit made from revision `base` when the plan is at `now`, with how to
/// redo it; `kept` is where the edit is kept, if anywhere.
fn stale(slug: &str, base: u32, now: u32, kept: Option<&Path>) -> WorkError {
    let err = WorkError::refused(format!(
        "the plan of `{slug}` is at revision {now}, but this edit was made from revision {base}; nothing was written"
    ))
    .hint(format!(
        "applying it would undo what changed since; see that with `git aiflow plan diff {slug} {base} {now}`"
    ));
    match kept {
        Some(path) => {
            let path = path.display();
            err.hint(format!("your edit is kept in {path}")).hint(format!(
                "redo it on revision {now}: run `git aiflow plan edit {slug}` and make your changes again, or bring {path} up to date, set `{BASED_ON} = {now}` in it and run `git aiflow plan edit {slug} -F {path}`"
            ))
        }
        None => err.hint(format!(
            "redo it on revision {now}: run `git aiflow plan edit {slug}` and make your changes again"
        )),
    }
}
