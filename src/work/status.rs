//! A flow's dashboard as a typed view: the integration branch, the questions, the plan and each
//! subtask's row (branch, steps, latest review, what it waits for), what to do next, and how the
//! notes stand against the remote. `status` renders it as text or JSON.

use crate::flow::deviations::Deviations;
use crate::flow::lifecycle;
use crate::flow::plan::subtask_branch;
use crate::flow::{Flow, FlowStatus, Review, Subtask, SubtaskStatus};
use crate::store::FlowEntry;
use crate::sync::SyncState;
use gix::ObjectId;

/// Everything `status` shows about one flow.
#[derive(Debug, Clone)]
pub struct Dashboard<'a> {
    /// The flow, its anchor and how many documents its note held.
    pub entry: &'a FlowEntry,
    /// The integration branch's tip; `None` when the branch is missing.
    pub integration_tip: Option<ObjectId>,
    /// The commits on the integration branch after the anchor.
    pub integration_commits: usize,
    /// Where the clarifying questions stand.
    pub questions: Questions,
    /// The current plan, if any.
    pub plan: Option<PlanView>,
    /// The subtasks of the current plan, phase by phase (plan order within a phase).
    pub subtasks: Vec<Row<'a>>,
    /// What the user would do next, if anything.
    pub next: Option<Next>,
    /// How the notes stand against the remote, when there is one to compare with.
    pub sync: Option<SyncState>,
}

/// Where a flow's clarifying questions stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Questions {
    /// How many were asked.
    pub asked: usize,
    /// How many have an answer.
    pub answered: usize,
    /// Whether answering was skipped.
    pub skipped: bool,
    /// Whether the model was asked for questions (and had none, when `asked` is 0).
    pub model_asked: bool,
}

/// The current plan in numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanView {
    /// Its revision.
    pub revision: u32,
    /// How many subtasks it has.
    pub subtasks: usize,
    /// How many subtasks are in each status, for every status in [`SubtaskStatus::ALL`] order.
    pub by_status: Vec<(SubtaskStatus, usize)>,
}

/// One subtask of the dashboard.
#[derive(Debug, Clone)]
pub struct Row<'a> {
    /// The subtask.
    pub subtask: &'a Subtask,
    /// Its branch: the recorded one, or the one it will get.
    pub branch: String,
    /// The branch's tip, when the branch exists.
    pub tip: Option<ObjectId>,
    /// The step commits on the branch.
    pub steps: usize,
    /// The latest review of it.
    pub review: Option<&'a Review>,
    /// The dependencies a planned subtask still waits for.
    pub waiting_for: Vec<&'a str>,
    /// Its deviations from the plan: as recorded with its approval once approved or merged,
    /// else as its branch stands (`None`: the plan names no files, or nothing to compare).
    pub deviations: Option<Deviations>,
}

/// The next command for a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Plan it.
    Plan {
        /// The flow.
        slug: String,
    },
    /// Answer the questions.
    Answer {
        /// The flow.
        slug: String,
    },
    /// Integrate an approved subtask.
    Integrate {
        /// The subtask.
        id: String,
    },
    /// Review a subtask in review.
    Review {
        /// The subtask.
        id: String,
    },
    /// Work on an active subtask.
    Exec {
        /// The subtask.
        id: String,
    },
    /// Start the next subtask.
    Start {
        /// The subtask.
        id: String,
    },
    /// Finish the flow.
    Finish {
        /// The flow.
        slug: String,
    },
}

impl Next {
    /// The command line, as `status` prints it.
    pub fn command(&self) -> String {
        match self {
            Next::Plan { slug } => format!("git aiflow plan {slug}"),
            Next::Answer { slug } => format!("git aiflow answer {slug}"),
            Next::Integrate { id } => format!("git aiflow integrate {id}"),
            Next::Review { id } => {
                format!("git aiflow review {id} (then a reviewer runs `git aiflow approve {id}`)")
            }
            Next::Exec { id } => format!(
                "git aiflow exec {id} (or edit and `git aiflow step`), then `git aiflow review {id}`"
            ),
            Next::Start { id } => format!("git aiflow start {id}"),
            Next::Finish { slug } => format!("git aiflow finish {slug}"),
        }
    }
}

/// The dashboard of `entry`'s flow, with its sync state read now.
pub fn dashboard<'a>(repo: &gix::Repository, entry: &'a FlowEntry) -> Dashboard<'a> {
    let f = &entry.flow;
    let tip = crate::git::branch_tip(repo, &f.integration_branch);
    let commits = match tip {
        Some(tip) => repo
            .rev_walk([tip])
            .with_hidden([entry.anchor])
            .all()
            .map(|walk| walk.filter_map(Result::ok).count())
            .unwrap_or(0),
        None => 0,
    };
    Dashboard {
        entry,
        integration_tip: tip,
        integration_commits: commits,
        questions: Questions {
            asked: f.questions.len(),
            answered: f.questions.iter().filter(|q| q.answer.is_some()).count(),
            skipped: f.questions_skipped,
            model_asked: f.questions_asked.is_some(),
        },
        plan: f.current_plan().map(|p| PlanView {
            revision: p.revision,
            subtasks: p.subtasks.len(),
            by_status: SubtaskStatus::ALL
                .iter()
                .map(|st| (*st, p.subtasks.iter().filter(|s| s.status == *st).count()))
                .collect(),
        }),
        subtasks: rows(repo, entry),
        next: next_step(f),
        sync: crate::sync::state(repo, &entry.anchor),
    }
}

/// The subtasks of the current plan, ordered phase by phase (plan order within a phase), with
/// their steps and latest review.
fn rows<'a>(repo: &gix::Repository, entry: &'a FlowEntry) -> Vec<Row<'a>> {
    let f = &entry.flow;
    let Some(plan) = f.current_plan() else {
        return Vec::new();
    };
    let mut list: Vec<&Subtask> = plan.subtasks.iter().collect();
    list.sort_by_key(|s| s.phase);
    let integ = crate::git::branch_tip(repo, &f.integration_branch);
    list.into_iter()
        .map(|s| {
            let tip = s
                .branch
                .as_deref()
                .and_then(|b| crate::git::branch_tip(repo, b));
            let review = f.reviews.iter().rev().find(|r| r.subtask == s.id);
            let deviations = match s.status {
                SubtaskStatus::Approved | SubtaskStatus::Merged => {
                    review.and_then(|r| r.deviations.clone())
                }
                SubtaskStatus::Active | SubtaskStatus::InReview => integ
                    .zip(tip)
                    .filter(|_| !s.files.is_empty())
                    .and_then(|(i, t)| super::review::touched(repo, i, t).ok())
                    .and_then(|t| Deviations::of(&s.files, t.iter().map(String::as_str))),
                _ => None,
            };
            Row {
                subtask: s,
                branch: s
                    .branch
                    .clone()
                    .unwrap_or_else(|| subtask_branch(&f.integration_branch, &s.id, &s.title)),
                tip,
                steps: tip.map_or(0, |t| {
                    super::steps::steps_of(repo, entry.anchor, t, &s.id).0
                }),
                review,
                deviations,
                waiting_for: if s.status == SubtaskStatus::Planned {
                    lifecycle::unmet(f, s)
                        .iter()
                        .map(|d| d.id.as_str())
                        .collect()
                } else {
                    Vec::new()
                },
            }
        })
        .collect()
}

/// What the user would do next with this flow: answer or plan it, then the first approved,
/// in-review or active subtask, then the next one to start, then finish it.
fn next_step(flow: &Flow) -> Option<Next> {
    let slug = || flow.slug.clone();
    let unanswered = flow.questions.iter().any(|q| q.answer.is_none());
    Some(match flow.status {
        FlowStatus::Finished | FlowStatus::Abandoned => return None,
        _ if flow.plans.is_empty() && flow.questions.is_empty() => Next::Plan { slug: slug() },
        _ if flow.plans.is_empty() && unanswered && !flow.questions_skipped => {
            Next::Answer { slug: slug() }
        }
        _ if flow.plans.is_empty() => Next::Plan { slug: slug() },
        _ => {
            let plan = flow.current_plan()?;
            let first = |st: SubtaskStatus| {
                plan.subtasks
                    .iter()
                    .find(|s| s.status == st)
                    .map(|s| s.id.clone())
            };
            if let Some(id) = first(SubtaskStatus::Approved) {
                Next::Integrate { id }
            } else if let Some(id) = first(SubtaskStatus::InReview) {
                Next::Review { id }
            } else if let Some(id) = first(SubtaskStatus::Active) {
                Next::Exec { id }
            } else if let Some(s) = lifecycle::next_ready(flow).0 {
                Next::Start { id: s.id.clone() }
            } else if super::integrate::plan_settled(flow) {
                Next::Finish { slug: slug() }
            } else {
                return None;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_commands() {
        let id = || "k3f9".to_string();
        assert_eq!(
            Next::Review { id: id() }.command(),
            "git aiflow review k3f9 (then a reviewer runs `git aiflow approve k3f9`)"
        );
        assert_eq!(
            Next::Exec { id: id() }.command(),
            "git aiflow exec k3f9 (or edit and `git aiflow step`), then `git aiflow review k3f9`"
        );
        assert_eq!(
            Next::Finish { slug: "x".into() }.command(),
            "git aiflow finish x"
        );
    }
}
