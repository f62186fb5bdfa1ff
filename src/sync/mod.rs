//! The sync protocol: share flows and their branches with a remote, losing nothing.
//!
//! 1. `git ls-remote` lists the remote's `refs/notes/aiflow` and `refs/heads/aiflow/*`.
//! 2. `git fetch` copies them into remote-tracking refs: `refs/remote-notes/<remote>/aiflow`
//!    and `refs/remotes/<remote>/aiflow/*`. Never into `refs/notes/aiflow` or a local branch.
//! 3. The notes are merged three ways ([`crate::store::merge`]) into a commit with both tips as
//!    parents; nothing local moves yet.
//! 4. Each flow branch is compared with the remote's ([`BranchAction`]): created,
//!    fast-forwarded, pushed, reconciled (one side only reworded commits, as `approve` does:
//!    [`crate::git::rewrite::reconcile`]), or reported as diverged.
//! 5. One `git push --atomic` sends the merged notes (a fast-forward of the remote's) and the
//!    branches. If the remote moved meanwhile, everything is fetched and merged again, at most
//!    [`ATTEMPTS`] times. If the remote refuses, nothing local has moved.
//! 6. Only then the local `refs/notes/aiflow` and branches move, by compare-and-swap.
//!
//! Nothing here prints: [`run`] returns a [`Report`] and hands [`Warning`]s to its caller.
//! [`state`] says how the flows stood at the last sync, without the network.

mod error;
mod local;
mod notes;
mod plan;
mod remote;
mod report;
mod state;

pub use error::{Reason, SyncError};
pub use plan::BranchAction;
pub use remote::{resolve_remote, tracking_notes};
pub use report::{BranchOutcome, NotesOutcome, Report, StepNotes, short};
pub use state::{FlowStanding, Standing, SyncState, state};

use crate::git::{
    self, Stamp,
    transport::{self, PushError, PushRef, Update},
};
use crate::store::{self, NOTES_REF, Snapshot, merge::NotesMerge};
use gix::ObjectId;
use plan::BranchPlan;
use std::fmt;
use std::path::{Path, PathBuf};

/// How many times the whole fetch-merge-push is tried while the remote keeps moving.
pub const ATTEMPTS: u32 = 8;

/// What to sync, and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The remote, as [`resolve_remote`] chose it.
    pub remote: String,
    /// Fetch into the remote-tracking refs and report what would move; change nothing else.
    pub dry_run: bool,
    /// Fetch and merge, but push nothing (for remotes one cannot write to).
    pub no_push: bool,
    /// Sync only the flows (the notes), not their branches.
    pub notes_only: bool,
    /// Flow branches to push even when none of their new commits is the committer's.
    pub branches: Vec<String>,
}

/// Something to tell the user while a sync goes on; the sync itself continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The remote moved between the fetch and the push: everything is fetched and merged again.
    RemoteMoved {
        /// The remote.
        remote: String,
        /// How the push lost.
        why: String,
    },
    /// A branch checked out with local changes in the way could not follow the remote's.
    CheckedOut {
        /// The branch.
        branch: String,
        /// Where it is checked out.
        workdir: PathBuf,
        /// Where it stays.
        stays: Option<ObjectId>,
        /// Where the sync would have moved it.
        remote: ObjectId,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::RemoteMoved { remote, why } => {
                write!(f, "{remote} moved during the sync ({why}); merging again")
            }
            Warning::CheckedOut {
                branch,
                workdir,
                stays,
                remote,
            } => write!(
                f,
                "{branch} is checked out in {} with changes in the way; it stays at {} (the \
                 remote's is {}): commit or stash, then `git reset --keep {remote}`",
                workdir.display(),
                short(*stays),
                short(Some(*remote)),
            ),
        }
    }
}

/// One round's fetch, merge and plan.
struct Round {
    merged: NotesMerge,
    plans: Vec<BranchPlan>,
}

/// Sync the flows (and, unless `notes_only`, their branches) with `options.remote`: fetch,
/// merge, push, then move the local refs. `warn` hears what the user should know meanwhile.
/// Diverged branches do not fail the sync: [`Report::check`] turns them into the refusal.
pub fn run(
    repo: &gix::Repository,
    options: &Options,
    warn: &mut dyn FnMut(Warning),
) -> Result<Report, SyncError> {
    // The merged notes, copied notes and re-parented commits are written to memory and go to
    // disk as one pack before the push reads them (git::pack).
    let repo = &crate::git::pack::in_memory(repo);
    let dir = git::run_dir(repo);
    let stamp = git::committer_stamp(repo)?;
    let me = email(&stamp.who).to_lowercase();
    let mut jitter = store::Jitter::new();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let round = prepare(repo, &dir, options, &stamp, &me)?;
        if options.dry_run {
            let ours = round.merged.ours;
            return Ok(Report::new(
                options,
                attempt,
                round.merged,
                round.plans,
                false,
                ours,
            ));
        }
        let _flushed = crate::git::pack::flush(repo).map_err(store::StoreError::from)?;
        let pushed = match push(&dir, options, &round) {
            Ok(pushed) => pushed,
            Err(PushError::Stale(why)) if attempt < ATTEMPTS => {
                let remote = options.remote.clone();
                warn(Warning::RemoteMoved { remote, why });
                // A jittered pause (25 ms to 0.8 s), so that racing clones stop colliding.
                let cap_ms = 25u64 << attempt.min(5);
                let pause = 25 + jitter.next() % cap_ms;
                std::thread::sleep(std::time::Duration::from_millis(pause));
                continue;
            }
            Err(e) => return Err(push_error(&options.remote, e)),
        };
        let (merged, plans) = (&round.merged, &round.plans);
        let notes_after = local::apply(repo, &options.remote, merged, plans, pushed, &stamp, warn)?;
        let report = Report::new(
            options,
            attempt,
            round.merged,
            round.plans,
            pushed,
            notes_after,
        );
        return Ok(report);
    }
}

/// Fetch, merge the notes, and plan the branches (copying the notes of re-parented commits).
fn prepare(
    repo: &gix::Repository,
    dir: &Path,
    options: &Options,
    stamp: &Stamp,
    me: &str,
) -> Result<Round, SyncError> {
    let remote = &options.remote;
    let tracking = tracking_notes(remote);
    let listed = remote::list(dir, remote)?;
    remote::fetch(repo, dir, remote, &listed)?;
    let ours = store::tip(repo, NOTES_REF)?;
    let theirs = store::tip(repo, &tracking)?;
    let mut merged = store::merge::merge(repo, ours, theirs, &tracking, &stamp.who, &stamp.at)?;
    let flows = match merged.result {
        Some(tip) => Snapshot::at(repo, Some(tip))?.flows(repo)?.flows,
        None => Vec::new(),
    };
    if options.notes_only {
        return Ok(Round {
            merged,
            plans: Vec::new(),
        });
    }
    let planned = plan::plan_branches(repo, remote, &flows, &options.branches, me, stamp)?;
    if !planned.copies.is_empty() {
        let tip = notes::copy_notes(repo, merged.result, &planned.copies, &planned.reopened)?;
        merged.result = Some(tip);
    }
    Ok(Round {
        merged,
        plans: planned.plans,
    })
}

/// Push the merged notes (when the remote lacks them) and the branches to push, in one atomic
/// push; `false` when there is nothing to push or pushing is off.
fn push(dir: &Path, options: &Options, round: &Round) -> Result<bool, PushError> {
    let merged = &round.merged;
    let mut refs = Vec::new();
    if let Some(tip) = merged.result
        && merged.result != merged.theirs
    {
        refs.push(PushRef {
            name: NOTES_REF.to_owned(),
            tip,
            update: Update::FastForward,
        });
    }
    refs.extend(round.plans.iter().filter_map(BranchPlan::push_ref));
    if options.no_push || refs.is_empty() {
        return Ok(false);
    }
    transport::push(dir, &options.remote, &refs)?;
    Ok(true)
}

/// The error for a push that did not land and will not be tried again.
fn push_error(remote: &str, e: PushError) -> SyncError {
    let remote = remote.to_owned();
    match e {
        PushError::Stale(why) => SyncError::KeptChanging {
            remote,
            attempts: ATTEMPTS,
            why,
        },
        PushError::Refused(why) => SyncError::PushRefused {
            remote,
            reason: Reason(why),
        },
        PushError::Network(why) => SyncError::PushFailed {
            remote,
            reason: Reason(why),
        },
    }
}

/// The address in `Name <address>`.
fn email(who: &str) -> &str {
    who.rsplit_once('<')
        .and_then(|(_, e)| e.strip_suffix('>'))
        .unwrap_or(who)
}
