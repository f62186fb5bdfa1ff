//! Repository access: opening a repository the way git does, identities and times, ref names.
//!
//! Everything git-aiflow does through gix starts here. What gix cannot do (work-tree updates,
//! push/fetch, hooks in a quarantine) will go through one `git` CLI module beside this one.

pub mod cli;
pub mod rewrite;
pub mod trailers;

use gix::bstr::ByteSlice;
use std::path::{Path, PathBuf};

/// The commit (or other object) a ref points to, peeled through tags and symbolic refs;
/// `None` when the ref does not exist.
pub fn ref_id(
    repo: &gix::Repository,
    name: &str,
) -> Result<Option<gix::ObjectId>, Box<dyn std::error::Error + Send + Sync>> {
    let Some(mut r) = repo.try_find_reference(name)? else {
        return Ok(None);
    };
    Ok(Some(r.peel_to_id()?.detach()))
}

/// Why a repository could not be used.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// No repository here or above.
    #[error("not a git repository (or any of the parent directories): {}", path.display())]
    NotARepository {
        /// Where the search started.
        path: PathBuf,
    },
    /// The repository keeps its refs in reftable format.
    #[error("the repository at {} stores its refs in the reftable format, which git-aiflow does not support yet", path.display())]
    Reftable {
        /// The repository's git dir.
        path: PathBuf,
    },
    /// Any other failure to open.
    #[error("could not open the repository at {}", path.display())]
    Other {
        /// Where the search started.
        path: PathBuf,
        /// What gix reported.
        #[source]
        source: gix::Error,
    },
}

/// Open the repository containing `dir`, honouring `GIT_DIR` and the other variables git honours,
/// and refuse repositories git-aiflow cannot handle safely.
pub fn open(dir: &Path) -> Result<gix::Repository, OpenError> {
    let repo = match gix::discover_with_environment_overrides(dir) {
        Ok(repo) => repo,
        Err(source) => {
            if let Some(git_dir) = reftable_git_dir(dir) {
                return Err(OpenError::Reftable { path: git_dir });
            }
            let msg = format!("{source:#}");
            if msg.contains("not a git repository")
                || msg.contains("Could not find a git repository")
                || msg.contains("No git repository")
                || source.is_not_found()
            {
                return Err(OpenError::NotARepository {
                    path: dir.to_owned(),
                });
            }
            return Err(OpenError::Other {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let is_reftable = repo
        .config_snapshot()
        .string("extensions.refStorage")
        .is_some_and(|v| v.eq_ignore_ascii_case(b"reftable"));
    if is_reftable {
        let path = repo.git_dir();
        return Err(OpenError::Reftable {
            path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned()),
        });
    }
    Ok(repo)
}

/// Find a reftable repository that gix refused to open, by looking for its `reftable` directory.
fn reftable_git_dir(dir: &Path) -> Option<PathBuf> {
    let start = std::env::var_os("GIT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.to_owned());
    let start = std::fs::canonicalize(start).ok()?;
    for d in start.ancestors() {
        for cand in [d.join(".git"), d.to_owned()] {
            if cand.join("reftable").is_dir() && cand.join("HEAD").is_file() {
                return Some(cand);
            }
        }
    }
    None
}

/// Who did something and when: `Name <email>` and an RFC 3339 time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// `Name <email>`.
    pub who: String,
    /// RFC 3339, with the offset git uses for the identity.
    pub at: String,
}

/// Why an identity is not available.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Neither `user.name`/`user.email` nor `GIT_COMMITTER_*` is set.
    #[error("no committer identity is configured")]
    Missing,
    /// `GIT_COMMITTER_DATE` or the like could not be parsed.
    #[error("the committer date could not be parsed")]
    BadDate(#[source] gix::Error),
}

/// The committer identity and time, as git would use them for a commit made now.
pub fn committer_stamp(repo: &gix::Repository) -> Result<Stamp, IdentityError> {
    let sig = repo
        .committer()
        .ok_or(IdentityError::Missing)?
        .map_err(IdentityError::BadDate)?
        .trim();
    if sig.name.is_empty() || sig.email.is_empty() {
        return Err(IdentityError::Missing);
    }
    let time = sig
        .time()
        .map_err(|e| IdentityError::BadDate(gix::Error::from_error(e)))?;
    Ok(Stamp {
        who: format!("{} <{}>", sig.name.to_str_lossy(), sig.email.to_str_lossy()),
        at: format_time(time),
    })
}

/// Format a git time as RFC 3339 with its own offset (`2026-11-21T17:52:59+01:00`).
pub fn format_time(time: gix::date::Time) -> String {
    time.format_or_unix(gix::date::time::format::ISO8601_STRICT)
}

/// Whether `name` (a short branch name such as `aiflow/x`) is a valid branch name for git.
pub fn is_valid_branch_name(name: &str) -> bool {
    !name.starts_with('-')
        && name != "HEAD"
        && gix::refs::FullName::try_from(format!("refs/heads/{name}")).is_ok()
}

/// The short name of a full ref name (`refs/heads/main` -> `main`).
pub fn short_ref(full: &str) -> &str {
    full.strip_prefix("refs/heads/")
        .or_else(|| full.strip_prefix("refs/remotes/"))
        .or_else(|| full.strip_prefix("refs/tags/"))
        .unwrap_or(full)
}

/// Where to run the `git` program for `repo`: its work tree, or its git dir when bare.
pub fn run_dir(repo: &gix::Repository) -> PathBuf {
    repo.workdir()
        .map(Path::to_owned)
        .unwrap_or_else(|| repo.git_dir().to_owned())
}
