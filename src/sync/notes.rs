//! The notes that follow re-parented commits: each copy gets its original's step note, and the
//! flows whose approved subtasks gained commits are written back with those subtasks active.

use super::SyncError;
use crate::flow::Flow;
use crate::store::{self, Snapshot};
use gix::ObjectId;

/// A notes commit on top of `tip` that copies each re-parented commit's note to its new id, and
/// writes `flows` (subtasks reopened because commits were re-parented onto their review).
pub(super) fn copy_notes(
    repo: &gix::Repository,
    tip: Option<ObjectId>,
    copies: &[(ObjectId, ObjectId)],
    flows: &[(ObjectId, Flow)],
) -> Result<ObjectId, SyncError> {
    let snap = Snapshot::at(repo, tip)?;
    let mut notes = Vec::new();
    for (old, new) in copies {
        if let Some(bytes) = snap.note_bytes(repo, old)?
            && !snap.notes.contains_key(new)
        {
            notes.push((*new, Some(bytes)));
        }
    }
    for (anchor, flow) in flows {
        notes.push(store::flow_note(*anchor, flow)?);
    }
    let Some(base) = tip else {
        return Err(SyncError::NoNotesToCarry);
    };
    if notes.is_empty() {
        return Ok(base);
    }
    let tree = store::edit_tree(repo, snap.tree, &notes)?;
    let mut message = "Copied step notes to re-parented commits".to_owned();
    if !flows.is_empty() {
        message.push_str("; approved subtasks that gained commits are active again");
    }
    let commit = repo
        .new_commit(message, tree, [base])
        .map_err(SyncError::NotesCommit)?;
    Ok(commit.id)
}
