//! What a sync did, or in a dry run would do: a typed report that serializes to the JSON of
//! `git aiflow sync --json`.

use super::{BranchAction, Options, SyncError, plan::BranchPlan};
use crate::store::merge::{Action, FlowChange, NoteConflict, NotesMerge};
use gix::ObjectId;
use serde::{Serialize, Serializer};

/// The outcome of [`super::run`]. Field order is the JSON's.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The remote.
    pub remote: String,
    /// Whether nothing local moved and nothing was pushed.
    pub dry_run: bool,
    /// How many fetch-merge-push rounds it took.
    pub attempts: u32,
    /// The notes ref.
    pub notes: NotesOutcome,
    /// Flows that differed between the sides.
    pub flows: Vec<FlowChange>,
    /// Step and other notes that differed.
    pub steps: StepNotes,
    /// What the notes merge had to decide.
    pub conflicts: Vec<NoteConflict>,
    /// Every flow branch that exists on either side.
    pub branches: Vec<BranchOutcome>,
}

/// What happened to `refs/notes/aiflow`.
#[derive(Debug, Clone, Serialize)]
pub struct NotesOutcome {
    /// The local notes before the sync.
    #[serde(serialize_with = "hex")]
    pub local_before: Option<ObjectId>,
    /// The remote's notes, as fetched.
    #[serde(serialize_with = "hex")]
    pub remote_before: Option<ObjectId>,
    /// The local notes afterwards (unchanged in a dry run).
    #[serde(serialize_with = "hex")]
    pub local_after: Option<ObjectId>,
    /// The notes commit both sides should point at.
    #[serde(serialize_with = "hex")]
    pub result: Option<ObjectId>,
    /// What the merge did (`push` in JSON when only ours changed).
    pub action: Action,
    /// Whether anything was pushed (the notes or a branch).
    pub pushed: bool,
}

/// Step and other notes that differed between the sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StepNotes {
    /// Taken from the remote.
    pub from_remote: usize,
    /// Ours, for the remote to take.
    pub to_remote: usize,
    /// Changed on both sides and merged.
    pub merged: usize,
}

/// What happened to one flow branch.
#[derive(Debug, Clone, Serialize)]
pub struct BranchOutcome {
    /// The branch's short name.
    pub name: String,
    /// What was done.
    pub action: BranchAction,
    /// The local tip before.
    #[serde(serialize_with = "hex")]
    pub local_before: Option<ObjectId>,
    /// The local tip after (unchanged in a dry run).
    #[serde(serialize_with = "hex")]
    pub local_after: Option<ObjectId>,
    /// The remote's tip, as fetched.
    #[serde(serialize_with = "hex")]
    pub remote_before: Option<ObjectId>,
    /// The remote's tip after (unchanged unless pushed).
    #[serde(serialize_with = "hex")]
    pub remote_after: Option<ObjectId>,
    /// Why, when the action needs explaining.
    pub reason: Option<String>,
    /// The tip the sync moves the branch to, here or on the remote (also in a dry run).
    #[serde(skip)]
    pub target: Option<ObjectId>,
}

impl Report {
    /// The report of a round: `pushed` whether the push landed, `notes_after` where the local
    /// notes ref ended up (ignored in a dry run).
    pub(super) fn new(
        options: &Options,
        attempts: u32,
        merged: NotesMerge,
        plans: Vec<BranchPlan>,
        pushed: bool,
        notes_after: Option<ObjectId>,
    ) -> Self {
        let dry_run = options.dry_run;
        let (from_remote, to_remote, both) = merged.other_notes;
        Report {
            remote: options.remote.clone(),
            dry_run,
            attempts,
            notes: NotesOutcome {
                local_before: merged.ours,
                remote_before: merged.theirs,
                local_after: if dry_run { merged.ours } else { notes_after },
                result: merged.result,
                action: merged.action,
                pushed,
            },
            flows: merged.flows,
            steps: StepNotes {
                from_remote,
                to_remote,
                merged: both,
            },
            conflicts: merged.conflicts,
            branches: plans
                .into_iter()
                .map(|p| BranchOutcome::new(p, dry_run, pushed))
                .collect(),
        }
    }

    /// The refusal a finished sync ends with: flow branches that diverged (the flows themselves
    /// were synced). Never after a dry run.
    pub fn check(&self) -> Result<(), SyncError> {
        if self.dry_run {
            return Ok(());
        }
        let diverged: Vec<String> = self
            .branches
            .iter()
            .filter(|b| b.action == BranchAction::Diverged)
            .map(|b| b.name.clone())
            .collect();
        if diverged.is_empty() {
            return Ok(());
        }
        Err(SyncError::Diverged {
            remote: self.remote.clone(),
            branches: diverged,
        })
    }
}

impl BranchOutcome {
    fn new(p: BranchPlan, dry_run: bool, pushed: bool) -> Self {
        let pushed_tip = p.push.map(|(tip, _)| tip);
        BranchOutcome {
            action: p.action,
            local_before: p.local,
            local_after: if dry_run {
                p.local
            } else {
                p.new_local.or(p.local)
            },
            remote_before: p.remote,
            remote_after: if pushed {
                pushed_tip.or(p.remote)
            } else {
                p.remote
            },
            target: pushed_tip.or(p.new_local),
            reason: p.reason,
            name: p.name,
        }
    }
}

/// A commit id as 12 hex digits, or `nothing`.
pub fn short(id: Option<ObjectId>) -> String {
    id.map_or_else(|| "nothing".into(), |i| i.to_hex_with_len(12).to_string())
}

fn hex<S: Serializer>(id: &Option<ObjectId>, s: S) -> Result<S::Ok, S::Error> {
    id.map(|i| i.to_string()).serialize(s)
}
