//! Setting a repository up for git-aiflow, in the repository's own config (the common one, shared
//! by linked worktrees), each value added only if not already there, and nothing that changes
//! what a bare `git push` or `git fetch` does:
//! - `notes.displayRef` includes `refs/notes/aiflow-log`, the few lines per note that `git log`
//!   shows ([`crate::work::display`]); a `refs/notes/aiflow` value that an older `init` set, which
//!   made `git log` print whole documents, is removed;
//! - `notes.rewriteRef` includes `refs/notes/aiflow`, so amend and rebase carry the documents.

use crate::store::NOTES_REF;
use crate::work::display::DISPLAY_REF;
use std::error::Error as StdError;
use std::path::PathBuf;

/// The multi-valued `notes.*` keys set up, and the notes ref each must include.
pub const NOTES_KEYS: [(&str, &str); 2] = [("displayRef", DISPLAY_REF), ("rewriteRef", NOTES_REF)];

/// What [`notes_refs`] found and did.
#[derive(Debug)]
pub struct Setup {
    /// The config file.
    pub path: PathBuf,
    /// Each of [`NOTES_KEYS`] with its ref, and whether it was added (`false`: it was there
    /// already).
    pub keys: Vec<(&'static str, &'static str, bool)>,
    /// Whether `notes.displayRef = refs/notes/aiflow`, set by an older `init`, was removed.
    pub migrated: bool,
    /// A `notes.displayRef` value left in place (a glob) that still shows whole documents.
    pub shows_documents: Option<String>,
    /// The repository has a remote.
    pub has_remote: bool,
}

impl Setup {
    /// Whether the config was changed.
    pub fn changed(&self) -> bool {
        self.migrated || self.keys.iter().any(|(_, _, added)| *added)
    }
}

/// Why the config could not be set up. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The config file is locked by another writer.
    #[error("could not lock {}", path.display())]
    Lock {
        /// The config file.
        path: PathBuf,
        /// What gix reported.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The config file cannot be read.
    #[error("could not read {}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// What gix reported.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The value could not be added.
    #[error("could not edit the config")]
    Edit(#[source] Box<dyn StdError + Send + Sync>),
    /// The config file could not be written.
    #[error("could not write {}", path.display())]
    Write {
        /// The config file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl SetupError {
    /// The cause, to keep in a chain of causes.
    pub fn into_source(self) -> Box<dyn StdError + Send + Sync> {
        match self {
            SetupError::Lock { source, .. }
            | SetupError::Read { source, .. }
            | SetupError::Edit(source) => source,
            SetupError::Write { source, .. } => Box::new(source),
        }
    }
}

/// Make `notes.displayRef` include `refs/notes/aiflow-log` (instead of `refs/notes/aiflow`) and
/// `notes.rewriteRef` include `refs/notes/aiflow` in `repo`'s config, under the config file's lock
/// (idempotent).
pub fn notes_refs(repo: &gix::Repository) -> Result<Setup, SetupError> {
    let path = repo.common_dir().join("config");
    let has_remote = !repo.remote_names().is_empty();
    let lock = gix::lock::File::acquire_to_update_resource(
        &path,
        gix::lock::acquire::Fail::AfterDurationWithBackoff(std::time::Duration::from_secs(2)),
        None,
        0,
    )
    .map_err(|e| SetupError::Lock {
        path: path.clone(),
        source: Box::new(e),
    })?;
    let mut file =
        gix::config::File::from_path_no_includes(path.clone(), gix::config::Source::Local)
            .map_err(|e| SetupError::Read {
                path: path.clone(),
                source: Box::new(e),
            })?;
    // What an older `init` set: `git log` printed every document whole.
    let display = "notes.displayRef";
    let values: Vec<String> = file
        .raw_values(display)
        .map(|vals| vals.iter().map(|v| v.to_string()).collect())
        .unwrap_or_default();
    let stale: Vec<usize> = (0..values.len())
        .filter(|&i| values[i].trim() == NOTES_REF)
        .collect();
    if !stale.is_empty() {
        let mut all = file
            .raw_values_mut(display)
            .map_err(|e| SetupError::Edit(Box::new(e)))?;
        for &i in stale.iter().rev() {
            all.delete(i);
        }
    }
    let shows_documents = values
        .iter()
        .find(|v| v.trim() != NOTES_REF && covers(v, NOTES_REF))
        .cloned();
    let mut keys = Vec::new();
    for (key, target) in NOTES_KEYS {
        let present = file
            .raw_values(format!("notes.{key}").as_str())
            .map(|vals| vals.iter().any(|v| covers(&v.to_string(), target)))
            .unwrap_or(false);
        if !present {
            file.section_mut_or_create_new("notes", None)
                .map_err(|e| SetupError::Edit(Box::new(e)))?
                .push(key, Some(gix::bstr::BStr::new(target)))
                .map_err(|e| SetupError::Edit(Box::new(e)))?;
        }
        keys.push((key, target, !present));
    }
    let setup = Setup {
        path,
        keys,
        migrated: !stale.is_empty(),
        shows_documents,
        has_remote,
    };
    if setup.changed() {
        let mut lock = lock;
        let failed = |source| SetupError::Write {
            path: setup.path.clone(),
            source,
        };
        file.write_to(&mut lock).map_err(failed)?;
        lock.commit().map_err(|e| failed(e.error))?;
    } else {
        drop(lock);
    }
    Ok(setup)
}

/// Whether a notes ref value (possibly a glob such as `refs/notes/*`) covers `name`.
pub(crate) fn covers(value: &str, name: &str) -> bool {
    let value = value.trim();
    if value == name {
        return true;
    }
    match value.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix) && !name[prefix.len()..].contains('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn globs_cover_the_ref() {
        assert!(super::covers("refs/notes/*", "refs/notes/aiflow"));
        assert!(super::covers("refs/notes/aiflow", "refs/notes/aiflow"));
        assert!(!super::covers("refs/notes/commits", "refs/notes/aiflow"));
        assert!(!super::covers("refs/*", "refs/notes/aiflow"));
    }
}
