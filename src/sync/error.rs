//! Why a sync stopped. Each message names what failed; the command line adds the hints and the
//! exit code.

use crate::git::{IdentityError, cli::GitError, rewrite::RewriteError};
use crate::store::StoreError;
use std::fmt;

/// Why a sync failed or must be reported as refused.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The remote named (or configured, or defaulted to) does not exist.
    #[error("no remote named `{name}`")]
    NoSuchRemote {
        /// The name looked for.
        name: String,
        /// The repository's remotes.
        known: Vec<String>,
    },
    /// The remote's name cannot be part of the tracking ref names.
    #[error("the remote name `{name}` cannot be part of a ref name")]
    BadRemoteName {
        /// The name.
        name: String,
    },
    /// A branch to push is not a flow's branch.
    #[error("`{name}` is not a branch of any flow")]
    UnknownBranch {
        /// The branch as given.
        name: String,
    },
    /// No committer identity, so no merge can be recorded.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Reading or writing the notes failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// git could not be started.
    #[error("could not run git")]
    Git(#[source] GitError),
    /// `git ls-remote` failed.
    #[error("could not reach {remote}")]
    Unreachable {
        /// The remote.
        remote: String,
        /// What git said.
        #[source]
        reason: Reason,
    },
    /// `git fetch` failed.
    #[error("could not fetch from {remote}")]
    Fetch {
        /// The remote.
        remote: String,
        /// What git said.
        #[source]
        reason: Reason,
    },
    /// The remote-tracking refs of what the remote deleted could not be removed.
    #[error("could not update remote-tracking refs")]
    TrackingRefs(#[source] gix::Error),
    /// A branch's commits could not be read or re-parented.
    #[error("could not read commits")]
    Commits(#[source] RewriteError),
    /// Commits were re-parented, but there is no notes commit to carry their notes on.
    #[error("re-parented commits but no notes to carry")]
    NoNotesToCarry,
    /// The notes commit carrying re-parented commits' notes could not be written.
    #[error("could not write the notes commit")]
    NotesCommit(#[source] gix::Error),
    /// A ref name made from a branch or remote is not valid.
    #[error("`{name}` is not a valid ref name")]
    RefName {
        /// The name.
        name: String,
        /// Why.
        #[source]
        source: gix::validate::reference::name::Error,
    },
    /// The remote moved during every attempt.
    #[error("{remote} kept changing: gave up after {attempts} attempts ({why})")]
    KeptChanging {
        /// The remote.
        remote: String,
        /// Attempts made.
        attempts: u32,
        /// How the last push lost.
        why: String,
    },
    /// The remote (or a pre-push hook) refused the push; nothing local moved.
    #[error("{remote} refused the push")]
    PushRefused {
        /// The remote.
        remote: String,
        /// What git said.
        #[source]
        reason: Reason,
    },
    /// The push could not reach the remote; nothing local moved.
    #[error("could not push to {remote}")]
    PushFailed {
        /// The remote.
        remote: String,
        /// What git said.
        #[source]
        reason: Reason,
    },
    /// The push landed, but a local branch moved meanwhile, so the local refs were not updated.
    #[error("could not update local refs")]
    LocalBranchMoved(#[source] gix::Error),
    /// The local refs could not be updated.
    #[error("could not update local refs")]
    LocalRefs(#[source] gix::Error),
    /// The flows were synced, but some flow branches have different new commits on each side.
    #[error("{} diverged from {remote}'s: {}", count_branches(.branches), .branches.join(", "))]
    Diverged {
        /// The remote.
        remote: String,
        /// The branches, by name.
        branches: Vec<String>,
    },
}

fn count_branches(branches: &[String]) -> String {
    match branches.len() {
        1 => "1 flow branch".to_owned(),
        n => format!("{n} flow branches"),
    }
}

/// What git printed about a failure, as an error cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason(pub String);

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Reason {}
