//! The subtask lifecycle, in one place: what each action needs of a subtask's status, and the
//! status it leaves. Every command that acts on a subtask asks here first ([`may`]) and records
//! the result with [`apply`]; `next` and `status` use the same dependency rules ([`unmet`],
//! [`next_ready`]).
//!
//! ```text
//! planned --start--> active --ready--> in-review --approve--> approved --integrate--> merged
//!                      ^  <--step/exec---'  <--step/exec/reject---'
//! (dropped: set by a plan edit; nothing acts on it until a plan edit sets it back to planned)
//! ```
//!
//! The rules, each checked by this module's tests:
//! - `start` works on any subtask that is neither dropped nor merged; a planned one becomes
//!   active, and must wait for its dependencies (merged or dropped) unless forced.
//! - `step` and `exec` (new work) need a started subtask; they make an in-review or approved one
//!   active again, since its review no longer covers what it holds.
//! - `ready` (ready for review) needs an active subtask; in-review stays in-review.
//! - `review` shows any started subtask, merged ones included.
//! - `approve` and `reject` need a started subtask that is not merged (its review cannot change
//!   any more); approving all of its commits makes it approved, approving some of them changes
//!   nothing, rejecting makes it active.
//! - `integrate` needs an approved subtask, or one already merged by hand into the integration
//!   branch (the gate judged that merge); it leaves it merged. A merged one is merged already.

use super::{Flow, Subtask, SubtaskStatus};

/// What a command does to a subtask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `start`: create or switch to its branch.
    Start,
    /// `step` or `exec`: new commits on its branch.
    Step,
    /// `ready`: ask for a review.
    Ready,
    /// `review`: show it; changes nothing.
    Review,
    /// `approve` of all its commits.
    Approve,
    /// `approve --upto`: some of its commits.
    ApproveSome,
    /// `reject`: changes requested.
    Reject,
    /// `integrate`: merged into the integration branch.
    Integrate,
}

impl Action {
    /// The command, as users type it.
    pub fn verb(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Step => "add steps to",
            Action::Ready => "ask for a review of",
            Action::Review => "review",
            Action::Approve | Action::ApproveSome => "approve",
            Action::Reject => "reject",
            Action::Integrate => "integrate",
        }
    }
}

/// A subtask another one waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its status.
    pub status: SubtaskStatus,
}

/// Why an action cannot be done to a subtask now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The subtask has not been started.
    #[error("subtask {id} is not started; there is nothing to {}", action.verb())]
    NotStarted {
        /// The subtask.
        id: String,
        /// What was asked.
        action: Action,
    },
    /// The subtask was dropped from the plan.
    #[error("subtask {id} is dropped")]
    Dropped {
        /// The subtask.
        id: String,
    },
    /// The subtask is merged: its work and its review are final.
    #[error("subtask {id} is merged already; {}", match action {
        Action::Step => "new work goes in a new subtask",
        Action::Approve | Action::ApproveSome => "its review cannot change",
        Action::Reject => "ask for changes in a new subtask",
        _ => "there is nothing left to do",
    })]
    Merged {
        /// The subtask.
        id: String,
        /// What was asked.
        action: Action,
    },
    /// `integrate` of a subtask that is not approved.
    #[error("subtask {id} is {}, not approved", status.as_str())]
    NotApproved {
        /// The subtask.
        id: String,
        /// Its status.
        status: SubtaskStatus,
    },
    /// `ready` of a subtask that is approved already.
    #[error("subtask {id} is approved already")]
    Approved {
        /// The subtask.
        id: String,
    },
    /// `start` of a planned subtask whose dependencies are not merged yet.
    #[error("subtask {id} depends on {} not merged yet: {}",
        if deps.len() == 1 { "a subtask" } else { "subtasks" },
        deps.iter().map(|d| format!("{} \"{}\" ({})", d.id, d.title, d.status.as_str())).collect::<Vec<_>>().join(", "))]
    Waiting {
        /// The subtask.
        id: String,
        /// What it waits for.
        deps: Vec<Dependency>,
    },
}

/// Whether `action` may be done to `s` now, as far as its status goes. (`start` also checks the
/// dependencies: [`may_start`].)
pub fn may(action: Action, s: &Subtask) -> Result<(), Refusal> {
    use SubtaskStatus as S;
    let id = || s.id.clone();
    match (action, s.status) {
        (_, S::Dropped) => Err(Refusal::Dropped { id: id() }),
        (Action::Start, S::Merged) => Err(Refusal::Merged { id: id(), action }),
        (Action::Start, _) => Ok(()),
        (_, S::Planned) => Err(Refusal::NotStarted { id: id(), action }),
        (Action::Review | Action::Integrate, S::Merged) => Ok(()),
        (_, S::Merged) => Err(Refusal::Merged { id: id(), action }),
        (Action::Ready, S::Approved) => Err(Refusal::Approved { id: id() }),
        (Action::Integrate, S::Approved) => Ok(()),
        (Action::Integrate, status) => Err(Refusal::NotApproved { id: id(), status }),
        _ => Ok(()),
    }
}

/// [`may`] for `start`, with the dependencies: a planned subtask (or one whose branch is gone,
/// `fresh`) waits for every subtask it depends on to be merged or dropped, unless `force`.
pub fn may_start(flow: &Flow, s: &Subtask, fresh: bool, force: bool) -> Result<(), Refusal> {
    may(Action::Start, s)?;
    if force || !(fresh || s.status == SubtaskStatus::Planned) {
        return Ok(());
    }
    let deps = unmet(flow, s);
    if deps.is_empty() {
        return Ok(());
    }
    Err(Refusal::Waiting {
        id: s.id.clone(),
        deps: deps
            .into_iter()
            .map(|d| Dependency {
                id: d.id.clone(),
                title: d.title.clone(),
                status: d.status,
            })
            .collect(),
    })
}

/// The status `action` leaves a subtask in that was `from` (for an action [`may`] allows).
pub fn after(action: Action, from: SubtaskStatus) -> SubtaskStatus {
    use SubtaskStatus as S;
    match (action, from) {
        (Action::Start, S::Planned) => S::Active,
        (Action::Step | Action::Reject, S::Planned | S::InReview | S::Approved) => S::Active,
        (Action::Ready, S::Active) => S::InReview,
        (Action::Approve, S::Active | S::InReview) => S::Approved,
        (Action::Integrate, S::Approved | S::Active | S::InReview) => S::Merged,
        (_, status) => status,
    }
}

/// Record that `action` was done to subtask `id` of `flow`; `false` when the flow has no such
/// subtask (it left the plan meanwhile).
pub fn apply(flow: &mut Flow, id: &str, action: Action) -> bool {
    match flow.subtask_mut(id) {
        Some(s) => {
            s.status = after(action, s.status);
            true
        }
        None => false,
    }
}

/// Whether a subtask no longer holds back those that depend on it.
pub fn is_settled(status: SubtaskStatus) -> bool {
    matches!(status, SubtaskStatus::Merged | SubtaskStatus::Dropped)
}

/// The dependencies of `s` that are not settled yet.
pub fn unmet<'f>(flow: &'f Flow, s: &Subtask) -> Vec<&'f Subtask> {
    s.depends_on
        .iter()
        .filter_map(|d| flow.subtask(d))
        .filter(|d| !is_settled(d.status))
        .collect()
}

/// The next subtask to start (the first planned one with nothing to wait for), and the planned
/// ones still waiting, with what they wait for.
pub fn next_ready(flow: &Flow) -> (Option<&Subtask>, Vec<(&Subtask, Vec<&Subtask>)>) {
    let Some(plan) = flow.current_plan() else {
        return (None, Vec::new());
    };
    let mut ready = None;
    let mut waiting = Vec::new();
    for s in plan
        .subtasks
        .iter()
        .filter(|s| s.status == SubtaskStatus::Planned)
    {
        let deps = unmet(flow, s);
        if deps.is_empty() {
            ready = ready.or(Some(s));
        } else {
            waiting.push((s, deps));
        }
    }
    (ready, waiting)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Phase;
    use SubtaskStatus as S;

    fn sub(status: S) -> Subtask {
        Subtask {
            extra: Default::default(),
            id: "k3f9".into(),
            title: "Limiter".into(),
            description: String::new(),
            files: vec![],
            phase: Phase::Core,
            depends_on: vec![],
            status,
            branch: None,
            test: None,
        }
    }

    /// Every action against every status: allowed (and the status it leaves), or why not.
    #[test]
    fn the_whole_table() {
        use Action as A;
        let actions = [
            A::Start,
            A::Step,
            A::Ready,
            A::Review,
            A::Approve,
            A::ApproveSome,
            A::Reject,
            A::Integrate,
        ];
        // One row per status, one column per action: the status after it, or the refusal.
        let table: [(S, [&str; 8]); 6] = [
            (
                S::Planned,
                [
                    "active",
                    "not-started",
                    "not-started",
                    "not-started",
                    "not-started",
                    "not-started",
                    "not-started",
                    "not-started",
                ],
            ),
            (
                S::Active,
                [
                    "active",
                    "active",
                    "in-review",
                    "active",
                    "approved",
                    "active",
                    "active",
                    "not-approved",
                ],
            ),
            (
                S::InReview,
                [
                    "in-review",
                    "active",
                    "in-review",
                    "in-review",
                    "approved",
                    "in-review",
                    "active",
                    "not-approved",
                ],
            ),
            (
                S::Approved,
                [
                    "approved",
                    "active",
                    "approved-already",
                    "approved",
                    "approved",
                    "approved",
                    "active",
                    "merged",
                ],
            ),
            (
                S::Merged,
                [
                    "merged-already",
                    "merged-already",
                    "merged-already",
                    "merged",
                    "merged-already",
                    "merged-already",
                    "merged-already",
                    "merged",
                ],
            ),
            (
                S::Dropped,
                [
                    "dropped", "dropped", "dropped", "dropped", "dropped", "dropped", "dropped",
                    "dropped",
                ],
            ),
        ];
        for (status, row) in table {
            for (action, want) in actions.iter().zip(row) {
                let got = match may(*action, &sub(status)) {
                    Ok(()) => after(*action, status).as_str().to_owned(),
                    Err(Refusal::NotStarted { .. }) => "not-started".into(),
                    Err(Refusal::Dropped { .. }) => "dropped".into(),
                    Err(Refusal::Merged { .. }) => "merged-already".into(),
                    Err(Refusal::NotApproved { .. }) => "not-approved".into(),
                    Err(Refusal::Approved { .. }) => "approved-already".into(),
                    Err(Refusal::Waiting { .. }) => "waiting".into(),
                };
                assert_eq!(got, want, "{action:?} on {}", status.as_str());
            }
        }
    }

    /// A planned subtask waits for its dependencies unless forced; a started one does not,
    /// unless its branch is gone; merged and dropped dependencies hold nothing back.
    #[test]
    fn start_waits_for_dependencies() {
        let mut flow = crate::flow::tests_support::sample();
        let docs = flow.subtask("m2x1").expect("docs").clone();
        let err = may_start(&flow, &docs, false, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "subtask m2x1 depends on a subtask not merged yet: k3f9 \"Bucket\" (approved)"
        );
        assert_eq!(may_start(&flow, &docs, false, true), Ok(()));
        let (ready, waiting) = next_ready(&flow);
        assert!(ready.is_none());
        assert_eq!(waiting[0].0.id, "m2x1");
        let mut active = docs.clone();
        active.status = S::Active;
        assert_eq!(may_start(&flow, &active, false, false), Ok(()));
        assert!(may_start(&flow, &active, true, false).is_err());
        assert!(apply(&mut flow, "k3f9", Action::Integrate));
        assert_eq!(may_start(&flow, &docs, false, false), Ok(()));
        assert_eq!(next_ready(&flow).0.map(|s| s.id.as_str()), Some("m2x1"));
        assert!(!apply(&mut flow, "gone", Action::Step));
    }

    #[test]
    fn messages_name_the_subtask_and_the_way_on() {
        let m = |a, s| may(a, &sub(s)).unwrap_err().to_string();
        assert_eq!(
            m(Action::Step, S::Planned),
            "subtask k3f9 is not started; there is nothing to add steps to"
        );
        assert_eq!(
            m(Action::Step, S::Merged),
            "subtask k3f9 is merged already; new work goes in a new subtask"
        );
        assert_eq!(
            m(Action::Integrate, S::InReview),
            "subtask k3f9 is in-review, not approved"
        );
        assert_eq!(m(Action::Start, S::Dropped), "subtask k3f9 is dropped");
    }
}
