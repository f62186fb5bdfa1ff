//! The last step: the local notes ref and branches move to what was pushed (or merged, with
//! `--no-push`), each by compare-and-swap; a checked-out branch whose files would change moves
//! with its work tree (`git reset --keep`).

use super::{ATTEMPTS, SyncError, Warning, plan::BranchPlan, remote};
use crate::git::{self, Stamp, cli as gitcli};
use crate::store::{self, NOTES_REF, merge::NotesMerge};
use gix::ObjectId;
use gix::refs::{
    Target,
    transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog},
};
use std::path::PathBuf;

/// A checked-out branch whose files would change: it moves with its work tree, after the refs.
struct Late<'a> {
    plan: &'a BranchPlan,
    workdir: PathBuf,
    new: ObjectId,
}

/// Move the local notes ref and branches, and the remote-tracking refs of what was pushed.
/// When a local command changed the flows meanwhile, the merge is merged into them once more,
/// locally. Returns where the local notes ref ends up.
pub(super) fn apply(
    repo: &gix::Repository,
    remote: &str,
    merged: &NotesMerge,
    plans: &[BranchPlan],
    pushed: bool,
    stamp: &Stamp,
    warn: &mut dyn FnMut(Warning),
) -> Result<Option<ObjectId>, SyncError> {
    let message = format!("aiflow sync {remote}");
    let (edits, late) = edits(repo, remote, merged, plans, pushed, &message)?;
    let after = move_refs(repo, merged, &edits, &message, stamp)?;
    for Late { plan, workdir, new } in late {
        if !gitcli::reset_keep(&workdir, new).map_err(SyncError::Git)? {
            warn(Warning::CheckedOut {
                branch: plan.name.clone(),
                workdir,
                stays: plan.local,
                remote: new,
            });
        }
    }
    Ok(after)
}

/// The ref edits for the branches and tracking refs, and the checked-out branches that must
/// move with their work trees instead.
fn edits<'a>(
    repo: &gix::Repository,
    remote: &str,
    merged: &NotesMerge,
    plans: &'a [BranchPlan],
    pushed: bool,
    message: &str,
) -> Result<(Vec<RefEdit>, Vec<Late<'a>>), SyncError> {
    let checkouts = git::checkouts(repo);
    let mut edits = Vec::new();
    let mut late = Vec::new();
    for plan in plans {
        if let Some(new) = plan.new_local {
            let full = format!("refs/heads/{}", plan.name);
            let workdir = checkouts
                .iter()
                .find(|c| c.head.as_deref() == Some(full.as_str()))
                .map(|c| c.workdir.clone());
            match (plan.local, workdir) {
                // Checked out, and its files would change: the work tree must follow.
                (Some(old), Some(workdir)) if !same_tree(repo, old, new) => {
                    late.push(Late { plan, workdir, new })
                }
                _ => edits.push(store::cas_edit(&full, plan.local, new, message)?),
            }
        }
        if pushed && let Some((tip, _)) = plan.push {
            let name = format!("refs/remotes/{remote}/{}", plan.name);
            edits.push(tracking_edit(&name, tip)?);
        }
    }
    if pushed && let Some(tip) = merged.result {
        edits.push(tracking_edit(&remote::tracking_notes(remote), tip)?);
    }
    Ok((edits, late))
}

/// Apply `edits` together with the notes ref's move from ours to the merge. When the notes ref
/// moved meanwhile (a local command), the merge is merged into it and tried again.
fn move_refs(
    repo: &gix::Repository,
    merged: &NotesMerge,
    edits: &[RefEdit],
    message: &str,
    stamp: &Stamp,
) -> Result<Option<ObjectId>, SyncError> {
    let mut target = merged.result;
    let mut expected = merged.ours;
    let mut after = merged.ours;
    for _ in 0..ATTEMPTS {
        let mut all = edits.to_vec();
        if let Some(t) = target
            && Some(t) != expected
        {
            let log = format!("notes: {message}");
            all.push(store::cas_edit(NOTES_REF, expected, t, &log)?);
        }
        if all.is_empty() {
            break;
        }
        // A merge made on a retry is still in memory (sync writes through git::pack).
        let _flushed = crate::git::pack::flush(repo).map_err(store::StoreError::from)?;
        match repo.edit_references(all) {
            Ok(_) => {
                after = target.or(expected);
                break;
            }
            Err(e) if store::is_transient(&e) => {
                // Our own flows moved during the sync: merge the result into them, locally.
                let now = store::tip(repo, NOTES_REF)?;
                if now == expected {
                    return Err(SyncError::LocalBranchMoved(e));
                }
                let Some(t) = target else { break };
                let again =
                    store::merge::merge(repo, now, Some(t), NOTES_REF, &stamp.who, &stamp.at)?;
                expected = now;
                target = again.result;
            }
            Err(e) => return Err(SyncError::LocalRefs(e)),
        }
    }
    Ok(after)
}

/// Set a remote-tracking ref to what was pushed.
fn tracking_edit(name: &str, tip: ObjectId) -> Result<RefEdit, SyncError> {
    Ok(RefEdit {
        change: Change::Update {
            log: LogChange {
                mode: RefLog::AndReference,
                force_create_reflog: false,
                message: "aiflow sync: pushed".into(),
            },
            expected: PreviousValue::Any,
            new: Target::Object(tip),
        },
        name: remote::full_name(name)?,
        deref: false,
    })
}

/// Whether two commits have the same tree (a move between them changes no file).
fn same_tree(repo: &gix::Repository, a: ObjectId, b: ObjectId) -> bool {
    let tree = |id| {
        repo.find_commit(id)
            .ok()
            .and_then(|c| c.tree_id().ok())
            .map(|t| t.detach())
    };
    tree(a).is_some() && tree(a) == tree(b)
}
