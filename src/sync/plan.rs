//! What to do with each flow branch: the local branch against the remote's, and a decision to
//! create, fast-forward, push, reconcile or leave it.

use super::SyncError;
use crate::flow::{Flow, Subtask, SubtaskStatus};
use crate::git::{
    self, Stamp, rewrite,
    transport::{PushRef, Update},
};
use crate::store::FlowEntry;
use gix::ObjectId;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// What a sync does (or did) with one flow branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BranchAction {
    /// Both sides have the same tip.
    UpToDate,
    /// Only the remote has it: created here at the remote's tip.
    Created,
    /// The remote's has new commits: the local branch fast-forwards to it.
    FastForward,
    /// Only the local one has new commits, and they are the committer's (or the branch was
    /// named): pushed.
    Pushed,
    /// Only the local one has new commits, but none is the committer's: not pushed.
    NotOwned,
    /// One side only reworded commits (a review): the histories are joined.
    Reconciled,
    /// Both sides have different new commits: left for the user to combine.
    Diverged,
}

impl BranchAction {
    /// The name used in output and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            BranchAction::UpToDate => "up-to-date",
            BranchAction::Created => "created",
            BranchAction::FastForward => "fast-forward",
            BranchAction::Pushed => "pushed",
            BranchAction::NotOwned => "not-owned",
            BranchAction::Reconciled => "reconciled",
            BranchAction::Diverged => "diverged",
        }
    }
}

impl fmt::Display for BranchAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The plan for one flow branch.
#[derive(Debug, Clone)]
pub(super) struct BranchPlan {
    /// The branch's short name.
    pub(super) name: String,
    /// What happens to it.
    pub(super) action: BranchAction,
    /// The local tip.
    pub(super) local: Option<ObjectId>,
    /// The remote's tip, as fetched.
    pub(super) remote: Option<ObjectId>,
    /// Where the local branch moves (or is created).
    pub(super) new_local: Option<ObjectId>,
    /// What the remote branch becomes, and how.
    pub(super) push: Option<(ObjectId, Update)>,
    /// Why, when the action needs explaining.
    pub(super) reason: Option<String>,
}

impl BranchPlan {
    /// The ref to push, if the plan pushes.
    pub(super) fn push_ref(&self) -> Option<PushRef> {
        self.push.map(|(tip, update)| PushRef {
            name: format!("refs/heads/{}", self.name),
            tip,
            update,
        })
    }

    /// Push `tip` when the new commits are the committer's, else say why not.
    fn push_if(&mut self, owned: bool, tip: ObjectId) {
        if owned {
            self.action = BranchAction::Pushed;
            self.push = Some((tip, Update::FastForward));
        } else {
            self.action = BranchAction::NotOwned;
            self.reason = Some(format!(
                "its new commits are not yours; push it with `--branch {}`",
                self.name
            ));
        }
    }

    /// The joined history `tip` of local `l` and remote `r` goes to both sides.
    fn reconciled(&mut self, tip: ObjectId, l: ObjectId, r: ObjectId) {
        self.action = BranchAction::Reconciled;
        if tip != l {
            self.new_local = Some(tip);
        }
        if tip != r {
            self.push = Some((tip, Update::Lease { expected: Some(r) }));
        }
        self.reason = Some(
            "one side only reworded commits (a review): the reviewed commits are kept and \
             the other side's new commits follow them"
                .into(),
        );
    }

    /// Different new commits on both sides.
    fn diverged(&mut self, remote: &str) {
        let name = &self.name;
        self.action = BranchAction::Diverged;
        self.reason = Some(format!(
            "both sides have different new commits; combine them by hand, e.g. \
             `git switch {name} && git rebase {remote}/{name}`, then sync again"
        ));
    }
}

/// Every branch plan of a round, the commits re-parented to reconcile branches, and the flows
/// whose approved subtasks gained commits that way.
pub(super) struct Planned {
    /// One plan a branch that exists on either side.
    pub(super) plans: Vec<BranchPlan>,
    /// Re-parented commits: (original, copy).
    pub(super) copies: Vec<(ObjectId, ObjectId)>,
    /// Flows to write back, by anchor.
    pub(super) reopened: Vec<(ObjectId, Flow)>,
}

/// Plan every branch of `flows`; `forced` names branches to push whoever made their commits.
pub(super) fn plan_branches(
    repo: &gix::Repository,
    remote: &str,
    flows: &[FlowEntry],
    forced: &[String],
    me: &str,
    stamp: &Stamp,
) -> Result<Planned, SyncError> {
    let names = flow_branches(flows);
    if let Some(wanted) = forced.iter().find(|w| !names.contains_key(w.as_str())) {
        return Err(SyncError::UnknownBranch {
            name: wanted.clone(),
        });
    }
    let mut copies = Vec::new();
    let mut reopened = BTreeMap::new();
    let mut plans = Vec::new();
    for (name, entry) in &names {
        let forced = forced.iter().any(|b| b == name);
        let before = copies.len();
        let plan = plan_branch(repo, remote, name, &entry.flow, me, forced, &mut copies)?;
        if copies.len() > before {
            reopen(&mut reopened, entry, name, stamp);
        }
        plans.extend(plan);
    }
    Ok(Planned {
        plans,
        copies,
        reopened: reopened.into_iter().collect(),
    })
}

/// Commits re-parented onto an approved (or in-review) subtask's reviewed ones are new work the
/// review did not see: the subtask is active again, as after `git aiflow step`.
fn reopen(reopened: &mut BTreeMap<ObjectId, Flow>, entry: &FlowEntry, branch: &str, stamp: &Stamp) {
    let approved = |s: &&Subtask| {
        s.branch.as_deref() == Some(branch)
            && matches!(s.status, SubtaskStatus::Approved | SubtaskStatus::InReview)
    };
    let Some(id) = entry
        .flow
        .current_plan()
        .and_then(|p| p.subtasks.iter().find(approved).map(|s| s.id.clone()))
    else {
        return;
    };
    let flow = reopened
        .entry(entry.anchor)
        .or_insert_with(|| entry.flow.clone());
    crate::flow::lifecycle::apply(flow, &id, crate::flow::lifecycle::Action::Step);
    flow.updated_at = stamp.at.clone();
    flow.updated_by = stamp.who.clone();
}

/// Every flow branch (integration and started subtasks), with its flow.
fn flow_branches(flows: &[FlowEntry]) -> BTreeMap<String, &FlowEntry> {
    let mut out = BTreeMap::new();
    for e in flows {
        out.insert(e.flow.integration_branch.clone(), e);
        if let Some(plan) = e.flow.current_plan() {
            for s in &plan.subtasks {
                if let Some(b) = &s.branch {
                    out.insert(b.clone(), e);
                }
            }
        }
    }
    out
}

/// Decide what to do with one flow branch; `None` when neither side has it.
fn plan_branch(
    repo: &gix::Repository,
    remote: &str,
    name: &str,
    flow: &Flow,
    me: &str,
    forced: bool,
    copies: &mut Vec<(ObjectId, ObjectId)>,
) -> Result<Option<BranchPlan>, SyncError> {
    let local = git::branch_tip(repo, name);
    let theirs = git::ref_id(repo, &format!("refs/remotes/{remote}/{name}"))
        .ok()
        .flatten();
    let mut plan = BranchPlan {
        name: name.to_owned(),
        action: BranchAction::UpToDate,
        local,
        remote: theirs,
        new_local: None,
        push: None,
        reason: None,
    };
    let is_owned = |tip: ObjectId, hidden: &[ObjectId]| forced || owned(repo, tip, hidden, me);
    match (local, theirs) {
        (None, None) => return Ok(None),
        (None, Some(r)) => {
            plan.action = BranchAction::Created;
            plan.new_local = Some(r);
        }
        (Some(l), None) => {
            let mut hidden = remote_tips(repo, remote);
            if let Ok(base) = ObjectId::from_hex(flow.base_commit.as_bytes()) {
                hidden.push(base);
            }
            plan.push_if(is_owned(l, &hidden), l);
        }
        (Some(l), Some(r)) if l == r => {}
        (Some(l), Some(r)) if git::is_ancestor(repo, l, r) => {
            plan.action = BranchAction::FastForward;
            plan.new_local = Some(r);
        }
        (Some(l), Some(r)) if git::is_ancestor(repo, r, l) => plan.push_if(is_owned(l, &[r]), l),
        (Some(l), Some(r)) => match reconcile(repo, flow, l, r, copies)? {
            Some(tip) => plan.reconciled(tip, l, r),
            None => plan.diverged(remote),
        },
    }
    Ok(Some(plan))
}

/// Every `refs/remotes/<remote>/*` tip: what the remote is known to have.
fn remote_tips(repo: &gix::Repository, remote: &str) -> Vec<ObjectId> {
    let prefix = format!("refs/remotes/{remote}/");
    let mut out = Vec::new();
    if let Ok(platform) = repo.references()
        && let Ok(iter) = platform.prefixed(prefix.as_str())
    {
        for mut r in iter.flatten() {
            if let Ok(id) = r.peel_to_id() {
                out.push(id.detach());
            }
        }
    }
    out
}

/// Whether any commit of `tip` not reachable from `hidden` was committed by `me`; also when
/// there is none (a branch just started: pushing it only names commits the remote has).
fn owned(repo: &gix::Repository, tip: ObjectId, hidden: &[ObjectId], me: &str) -> bool {
    let Ok(walk) = repo
        .rev_walk([tip])
        .with_hidden(hidden.iter().copied())
        .all()
    else {
        return false;
    };
    let mut empty = true;
    for info in walk.flatten() {
        empty = false;
        if let Ok(c) = info.object()
            && let Ok(sig) = c.committer()
            && sig.email.to_string().to_lowercase() == me
        {
            return true;
        }
    }
    empty
}

/// [`rewrite::reconcile`] for a flow's branch: the commits its reviews approved are the ones
/// kept; the copies made are added to `copies`.
fn reconcile(
    repo: &gix::Repository,
    flow: &Flow,
    local: ObjectId,
    remote: ObjectId,
    copies: &mut Vec<(ObjectId, ObjectId)>,
) -> Result<Option<ObjectId>, SyncError> {
    let approved: BTreeSet<String> = flow
        .reviews
        .iter()
        .filter(|r| r.approves())
        .flat_map(|r| r.commits.iter().map(|c| c.commit.clone()))
        .collect();
    let joined = rewrite::reconcile(repo, local, remote, |id| approved.contains(&id.to_string()))
        .map_err(SyncError::Commits)?;
    Ok(joined.map(|j| {
        copies.extend(j.copies);
        j.tip
    }))
}

#[cfg(test)]
mod tests {
    use super::BranchAction;

    #[test]
    fn branch_actions_are_named_alike_in_text_and_json() {
        use BranchAction::*;
        for a in [
            UpToDate,
            Created,
            FastForward,
            Pushed,
            NotOwned,
            Reconciled,
            Diverged,
        ] {
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
        }
    }
}
