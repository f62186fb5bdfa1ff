//! Merge commits: a gix merge of two commits into a new tree and commit, for a branch checked out
//! nowhere (nothing moves here: the caller moves the ref), and `git merge` into a branch checked
//! out in a work tree, so that hooks run and conflicts land where the user can resolve them.

use super::cli::{self as git, GitError};
use gix::ObjectId;
use std::error::Error as StdError;
use std::path::{Path, PathBuf};

/// A boxed cause, as gix reports it.
type Cause = Box<dyn StdError + Send + Sync>;

/// Why a merge was not made.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// The merge configuration (`merge.*`, `diff.renames`) cannot be read.
    #[error("could not read the merge configuration")]
    Config(#[source] Cause),
    /// gix could not merge the commits.
    #[error("could not merge {theirs} into {into}")]
    Merge {
        /// The branch merged (its name, for messages).
        theirs: String,
        /// The branch merged into.
        into: String,
        /// What gix reported.
        #[source]
        source: Cause,
    },
    /// The merge has conflicts git would leave for a person to resolve.
    #[error("the merge has conflicts in: {}", files.join(", "))]
    Conflicts {
        /// The conflicted paths, sorted, each once.
        files: Vec<String>,
    },
    /// The merged tree could not be written.
    #[error("could not write the merged tree")]
    WriteTree(#[source] Cause),
    /// The merge commit could not be signed.
    #[error("could not sign the merge commit")]
    Sign(#[source] Cause),
    /// The merge commit could not be written.
    #[error("could not write the merge commit")]
    WriteCommit(#[source] Cause),
    /// The file holding the merge message for `git merge` could not be written.
    #[error("could not write the merge message to {}", path.display())]
    MessageFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// git could not be run.
    #[error(transparent)]
    Git(#[from] GitError),
    /// `git merge` did not complete: a conflict, or a hook refused.
    #[error("`git merge` did not complete")]
    Incomplete {
        /// Whether git stopped on conflicts (`MERGE_HEAD` exists) and waits for them to be
        /// resolved.
        conflicted: bool,
        /// What git printed on stderr, trimmed.
        stderr: Stderr,
    },
    /// The work tree's repository could not be opened after the merge.
    #[error(transparent)]
    Open(#[from] super::OpenError),
    /// git merged, but the branch no longer exists (a hook deleted it).
    #[error("the branch is gone after the merge")]
    BranchGone,
}

/// What git printed on stderr, as an error cause.
#[derive(Debug, Clone)]
pub struct Stderr(pub String);

impl std::fmt::Display for Stderr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Stderr {}

/// Merge `theirs` into `ours` with gix, as git's `ort` strategy would, and write the merged tree;
/// `into` and `theirs_name` label conflicts. A merge with conflicts is refused.
pub fn merge_trees(
    repo: &gix::Repository,
    ours: ObjectId,
    theirs: ObjectId,
    into: &str,
    theirs_name: &str,
) -> Result<ObjectId, MergeError> {
    let options = repo
        .tree_merge_options()
        .map_err(|e| MergeError::Config(Box::new(e)))?;
    let labels = gix::merge::blob::builtin_driver::text::Labels {
        ancestor: None,
        current: Some(into.into()),
        other: Some(theirs_name.into()),
    };
    let mut outcome = repo
        .merge_commits(ours, theirs, labels, options.into())
        .map_err(|e| MergeError::Merge {
            theirs: theirs_name.to_owned(),
            into: into.to_owned(),
            source: Box::new(e),
        })?;
    if outcome
        .tree_merge
        .has_unresolved_conflicts(gix::merge::tree::TreatAsUnresolved::git())
    {
        let mut files: Vec<String> = outcome
            .tree_merge
            .conflicts
            .iter()
            .map(|c| c.ours.location().to_string())
            .collect();
        files.sort();
        files.dedup();
        return Err(MergeError::Conflicts { files });
    }
    Ok(outcome
        .tree_merge
        .tree
        .write()
        .map_err(|e| MergeError::WriteTree(Box::new(e)))?
        .detach())
}

/// Write a commit of `tree` with `parents` and `message`, committed by `committer`, authored by
/// the configured author (the committer when there is none), signed when `signing` says so.
pub fn write_commit(
    repo: &gix::Repository,
    tree: ObjectId,
    parents: &[ObjectId],
    message: &str,
    committer: gix::actor::Signature,
    signing: Option<gix::objs::signature::sign::Options>,
) -> Result<ObjectId, MergeError> {
    let author = repo
        .author()
        .transpose()
        .ok()
        .flatten()
        .map(gix::actor::Signature::from)
        .unwrap_or_else(|| committer.clone());
    let mut commit = gix::objs::Commit {
        tree,
        parents: parents.iter().copied().collect(),
        author,
        committer,
        encoding: None,
        message: message.into(),
        extra_headers: Vec::new(),
    };
    if let Some(options) = signing {
        commit = commit
            .sign(options)
            .map_err(|e| MergeError::Sign(Box::new(e)))?;
    }
    Ok(repo
        .write_object(&commit)
        .map_err(|e| MergeError::WriteCommit(Box::new(e)))?
        .detach())
}

/// Merge `theirs_name` into `branch` (short name), which is checked out in `dir`, with
/// `git merge --no-ff` and `message`; the merge commit, read back from the branch.
pub fn merge_in_worktree(
    repo: &gix::Repository,
    dir: &Path,
    branch: &str,
    theirs_name: &str,
    message: &str,
) -> Result<ObjectId, MergeError> {
    let common = repo.common_dir();
    let msg_file = std::fs::canonicalize(common)
        .unwrap_or_else(|_| common.to_owned())
        .join("aiflow")
        .join(format!("MERGE-{}.txt", branch.replace('/', "-")));
    let io = |source| MergeError::MessageFile {
        path: msg_file.clone(),
        source,
    };
    if let Some(parent) = msg_file.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(&msg_file, message).map_err(io)?;
    let file = msg_file.to_string_lossy().into_owned();
    let args = [
        "merge",
        "--no-ff",
        "--no-edit",
        "--quiet",
        "-F",
        &file,
        theirs_name,
    ];
    let r = git::run(dir, &args, &[], None)?;
    let _ = std::fs::remove_file(&msg_file);
    if !r.ok() {
        let conflicted = dir.join(".git").exists()
            && git::run(
                dir,
                &["rev-parse", "-q", "--verify", "MERGE_HEAD"],
                &[],
                None,
            )?
            .ok();
        return Err(MergeError::Incomplete {
            conflicted,
            stderr: Stderr(r.stderr.trim().to_owned()),
        });
    }
    let repo = super::open(dir)?;
    super::branch_tip(&repo, branch).ok_or(MergeError::BranchGone)
}
