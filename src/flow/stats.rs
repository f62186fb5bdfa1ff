//! Flow statistics, computed from a flow document and facts read from its commits: time per
//! phase, plan churn, rework, reviews, tests and model use, and the comparison of planned and
//! unplanned flows. Pure: `work::stats` reads git and hands the facts in.
//!
//! Every time is in seconds since 1970; every duration in seconds. The definitions are in the
//! README, "Stats".

use super::vocab::{RevisionSource, StepAuthor, Verdict};
use super::{Flow, PlanRevision, Provenance, RefusedApproval, SubtaskStatus, epoch};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One step commit of a flow, as read from git and its step note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFact {
    /// The commit id (hex).
    pub commit: String,
    /// The subtask it belongs to.
    pub subtask: String,
    /// Its number within the subtask.
    pub step: u32,
    /// Who made it.
    pub by: StepAuthor,
    /// Its committer date.
    pub time: i64,
    /// The test run on exactly this commit's tree: `Some(true)` green, `Some(false)` red.
    pub test: Option<bool>,
}

/// What a flow's steps wrote and what later steps of the flow removed again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Rework {
    /// Lines the flow's steps added.
    pub written: u64,
    /// Lines written by a step and removed or rewritten by a later step of the same flow.
    pub lines: u64,
    /// Of those, lines an agent step had written.
    pub by_agent: u64,
    /// Of those, lines a hand step had written.
    pub by_person: u64,
    /// Lines of the flow removed or rewritten on its base branch after it finished, when asked
    /// for (`stats --rework-days N`) and the flow is finished.
    pub after_finish: Option<ReworkAfter>,
}

/// The flow's lines that commits on its base branch removed or rewrote within some days after
/// the flow's finish merge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReworkAfter {
    /// The window, in days after the finish merge.
    pub days: u32,
    /// The base branch's commits in the window (first-parent line).
    pub commits: u64,
    /// Lines written by the flow's steps, present at the finish merge, and removed or rewritten
    /// by those commits.
    pub lines: u64,
    /// Of those, lines an agent step had written.
    pub by_agent: u64,
    /// Of those, lines a hand step had written.
    pub by_person: u64,
}

/// Everything read from git about one flow besides its document.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The step commits, oldest first.
    pub steps: Vec<StepFact>,
    /// Subtask -> the committer date of its merge into the integration branch.
    pub merges: BTreeMap<String, i64>,
    /// The rework of the flow's steps.
    pub rework: Rework,
}

/// Seconds spent in each phase of a flow (`None`: the phase did not happen, or not yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Phases {
    /// From the flow's creation to the first request to a model (questions or plan).
    pub spec: Option<i64>,
    /// From the questions being asked to the last answer.
    pub questions: Option<i64>,
    /// From the first plan revision to the last one before the first subtask started.
    pub planning: Option<i64>,
    /// From the first subtask's start to the last subtask's approval.
    pub execution: Option<i64>,
    /// From the last approval to the finish (or to the last merge, when not finished).
    pub integration: Option<i64>,
    /// From the flow's creation to its finish.
    pub total: Option<i64>,
}

/// One subtask's time line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubtaskTimes {
    /// The subtask.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its first step's committer date.
    pub started: Option<i64>,
    /// Its last approval's `at`.
    pub approved: Option<i64>,
    /// Its merge commit's committer date.
    pub merged: Option<i64>,
    /// From start to approval, less the time waiting for review.
    pub working_s: Option<i64>,
    /// Time waiting for review: from the last step (or verdict) before each verdict to it.
    pub waiting_s: Option<i64>,
    /// From approval to merge.
    pub integration_s: Option<i64>,
    /// Its step commits.
    pub steps: usize,
    /// Its changes-requested reviews.
    pub rejections: usize,
    /// Every review's time and whether it approved.
    pub reviews: Vec<(i64, bool)>,
}

/// Plan churn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlanChurn {
    /// Plan revisions.
    pub revisions: usize,
    /// Subtasks added by a revision after the first.
    pub added: usize,
    /// Subtasks removed or marked dropped by a revision after the first.
    pub dropped: usize,
    /// Subtasks added, dropped or changed by human edits (`source = "edit"`).
    pub changed_by_human: usize,
    /// Subtasks added, dropped or changed by model revisions (`source = "model"`).
    pub changed_by_model: usize,
}

/// The clarifying questions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QuestionCounts {
    /// Asked.
    pub asked: usize,
    /// Answered.
    pub answered: usize,
}

/// Reviews.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReviewStats {
    /// Median over subtasks of the time from the last step to the final approval.
    pub latency_s: Option<i64>,
    /// Approvals recorded.
    pub approvals: usize,
    /// Changes-requested reviews.
    pub rejections: usize,
    /// Steps made after a rejection of their subtask.
    pub steps_after_rejection: usize,
    /// Everyone who recorded a review, sorted.
    pub reviewers: Vec<String>,
    /// Commits named by the approvals.
    pub commits_reviewed: usize,
    /// Commits per approval (two decimals).
    pub commits_per_review: Option<f64>,
    /// Files accepted at approval as deviations from the plan (outside it, or untouched).
    pub deviations_accepted: usize,
    /// Approvals refused because the reviewer wrote some of the commits.
    pub self_review_refusals: usize,
    /// Approvals refused because the reviewer is not on the policy's list.
    pub reviewer_refusals: usize,
}

/// Tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TestStats {
    /// Steps whose test ran on their own tree.
    pub tested_steps: usize,
    /// Times a subtask's tested steps went from red to green.
    pub red_then_green: usize,
    /// Steps made while their subtask's last tested step was red.
    pub fix_attempts: usize,
}

/// Model use by one provider and model.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ModelUse {
    /// The provider (`command`, `openai`, …).
    pub provider: String,
    /// The model, when recorded.
    pub model: Option<String>,
    /// Requests.
    pub calls: usize,
    /// Tokens sent.
    pub tokens_in: u64,
    /// Tokens received.
    pub tokens_out: u64,
    /// Time in requests (milliseconds summed, as seconds).
    pub seconds: f64,
}

/// Model use of a flow: the totals and the same by provider and model.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ModelStats {
    /// Requests.
    pub calls: usize,
    /// Tokens sent.
    pub tokens_in: u64,
    /// Tokens received.
    pub tokens_out: u64,
    /// Seconds in requests.
    pub seconds: f64,
    /// By provider and model, sorted.
    pub by: Vec<ModelUse>,
}

/// Every figure about one flow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowStats {
    /// The flow.
    pub slug: String,
    /// Its title.
    pub title: String,
    /// Its status.
    pub status: String,
    /// Whether it counts as planned in the comparison.
    pub planned: bool,
    /// When it was created.
    pub created: Option<i64>,
    /// When it finished.
    pub finished: Option<i64>,
    /// Time per phase.
    pub phases: Phases,
    /// The phases on the calendar, for the timeline: name, start and end, in phase order.
    pub bands: Vec<(&'static str, i64, i64)>,
    /// Per subtask of the current plan (dropped ones aside).
    pub subtasks: Vec<SubtaskTimes>,
    /// Plan churn.
    pub plan: PlanChurn,
    /// Questions.
    pub questions: QuestionCounts,
    /// Rework.
    pub rework: Rework,
    /// Reviews.
    pub reviews: ReviewStats,
    /// Tests.
    pub tests: TestStats,
    /// Model use.
    pub model: ModelStats,
}

/// The figures of one flow.
pub fn compute(flow: &Flow, facts: &Facts) -> FlowStats {
    let t = |s: &str| epoch(s);
    let created = t(&flow.created_at);
    let finished = flow.finished.as_ref().and_then(|f| t(&f.at));
    let subtasks = subtask_times(flow, facts);

    let first_request = flow
        .questions_asked
        .as_ref()
        .and_then(|q| t(&q.at))
        .or_else(|| flow.plans.first().and_then(|p| t(&p.created_at)));
    let questions = flow
        .questions_asked
        .as_ref()
        .and_then(|q| t(&q.at))
        .and_then(|asked| {
            if flow.questions.is_empty() {
                return Some(0);
            }
            let last = flow
                .questions
                .iter()
                .filter_map(|q| q.answered_at.as_deref().and_then(t))
                .max()?;
            Some(last - asked)
        });
    let first_start = subtasks.iter().filter_map(|s| s.started).min();
    let before_start: Vec<i64> = flow
        .plans
        .iter()
        .filter_map(|p| t(&p.created_at))
        .filter(|at| first_start.is_none_or(|s| *at <= s))
        .collect();
    let planning = match (before_start.first(), before_start.last()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let last_approval = subtasks.iter().filter_map(|s| s.approved).max();
    let all_approved = !subtasks.is_empty() && subtasks.iter().all(|s| s.approved.is_some());
    let execution = match (first_start, last_approval) {
        (Some(s), Some(a)) if all_approved => Some(a - s),
        _ => None,
    };
    let last_merge = subtasks.iter().filter_map(|s| s.merged).max();
    let integration = match (last_approval, finished.or(last_merge)) {
        (Some(a), Some(e)) if all_approved => Some(e - a),
        _ => None,
    };
    let asked = flow.questions_asked.as_ref().and_then(|q| t(&q.at));
    let bands = [
        ("spec", created, first_request),
        ("questions", asked, asked.zip(questions).map(|(a, q)| a + q)),
        (
            "planning",
            before_start.first().copied(),
            before_start.last().copied(),
        ),
        (
            "execution",
            first_start,
            last_approval.filter(|_| all_approved),
        ),
        (
            "integration",
            last_approval.filter(|_| all_approved),
            finished.or(last_merge),
        ),
    ]
    .into_iter()
    .filter_map(|(name, a, b)| Some((name, a?, b?)))
    .collect();
    let phases = Phases {
        spec: created.zip(first_request).map(|(c, r)| r - c),
        questions,
        planning,
        execution,
        integration,
        total: created.zip(finished).map(|(c, f)| f - c),
    };

    let questions = QuestionCounts {
        asked: flow.questions.len(),
        answered: flow.questions.iter().filter(|q| q.answer.is_some()).count(),
    };
    let planned = is_planned(flow, first_start);
    FlowStats {
        slug: flow.slug.clone(),
        title: flow.title.clone(),
        status: flow.status.as_str().to_owned(),
        planned,
        created,
        finished,
        phases,
        bands,
        plan: churn(&flow.plans),
        questions,
        rework: facts.rework,
        reviews: review_stats(flow, facts, &subtasks),
        tests: test_stats(&facts.steps),
        model: model_stats(flow),
        subtasks,
    }
}

/// Planned: its questions were answered (at least one answer), or a person edited the plan
/// before the first subtask started.
fn is_planned(flow: &Flow, first_start: Option<i64>) -> bool {
    let answered = flow.questions.iter().any(|q| q.answer.is_some());
    let edited = flow.plans.iter().any(|p| {
        p.source == RevisionSource::Edit
            && epoch(&p.created_at)
                .zip(first_start)
                .is_none_or(|(at, s)| at <= s)
    });
    answered || edited
}

fn subtask_times(flow: &Flow, facts: &Facts) -> Vec<SubtaskTimes> {
    let Some(plan) = flow.current_plan() else {
        return Vec::new();
    };
    plan.subtasks
        .iter()
        .filter(|s| s.status != SubtaskStatus::Dropped)
        .map(|s| {
            let steps: Vec<&StepFact> = facts.steps.iter().filter(|f| f.subtask == s.id).collect();
            let mut reviews: Vec<(i64, bool)> = flow
                .reviews
                .iter()
                .filter(|r| r.subtask == s.id)
                .filter_map(|r| epoch(&r.at).map(|at| (at, r.verdict == Verdict::Approved)))
                .collect();
            reviews.sort();
            let started = steps.iter().map(|f| f.time).min();
            let approved = reviews.iter().rev().find(|r| r.1).map(|r| r.0);
            let approved = approved
                .filter(|_| matches!(s.status, SubtaskStatus::Approved | SubtaskStatus::Merged));
            let merged = facts.merges.get(&s.id).copied();
            // Waiting: for each verdict up to the approval, from the later of the last step
            // before it and the previous verdict.
            let waiting = approved.map(|end| {
                let mut prev: Option<i64> = None;
                let mut total = 0;
                for (at, _) in reviews.iter().filter(|r| r.0 <= end) {
                    let last_step = steps.iter().map(|f| f.time).filter(|x| x <= at).max();
                    if let Some(from) = last_step.max(prev).or(started) {
                        total += at - from;
                    }
                    prev = Some(*at);
                }
                total
            });
            let working = started
                .zip(approved)
                .zip(waiting)
                .map(|((s, a), w)| a - s - w);
            SubtaskTimes {
                id: s.id.clone(),
                title: s.title.clone(),
                started,
                approved,
                merged,
                working_s: working,
                waiting_s: waiting,
                integration_s: approved.zip(merged).map(|(a, m)| m - a),
                steps: steps.len(),
                rejections: reviews.iter().filter(|r| !r.1).count(),
                reviews,
            }
        })
        .collect()
}

/// The subtasks a revision adds, drops and changes against the one before.
fn revision_changes(old: &PlanRevision, new: &PlanRevision) -> (usize, usize, usize) {
    let live = |p: &PlanRevision| -> BTreeMap<String, super::Subtask> {
        p.subtasks
            .iter()
            .filter(|s| s.status != SubtaskStatus::Dropped)
            .map(|s| (s.id.clone(), s.clone()))
            .collect()
    };
    let (a, b) = (live(old), live(new));
    let added = b.keys().filter(|k| !a.contains_key(*k)).count();
    let dropped = a.keys().filter(|k| !b.contains_key(*k)).count();
    let changed = a
        .iter()
        .filter_map(|(k, x)| b.get(k).map(|y| (x, y)))
        .filter(|(x, y)| {
            x.title != y.title
                || x.description != y.description
                || x.files != y.files
                || x.phase != y.phase
                || x.depends_on != y.depends_on
        })
        .count();
    (added, dropped, changed)
}

fn churn(plans: &[PlanRevision]) -> PlanChurn {
    let mut c = PlanChurn {
        revisions: plans.len(),
        ..PlanChurn::default()
    };
    for pair in plans.windows(2) {
        let (added, dropped, changed) = revision_changes(&pair[0], &pair[1]);
        c.added += added;
        c.dropped += dropped;
        let all = added + dropped + changed;
        match pair[1].source {
            RevisionSource::Edit => c.changed_by_human += all,
            RevisionSource::Model => c.changed_by_model += all,
            _ => {}
        }
    }
    c
}

fn review_stats(flow: &Flow, facts: &Facts, subtasks: &[SubtaskTimes]) -> ReviewStats {
    let reviews: Vec<_> = flow
        .reviews
        .iter()
        .filter(|r| !r.subtask.is_empty())
        .collect();
    let approvals: Vec<_> = reviews
        .iter()
        .filter(|r| r.verdict == Verdict::Approved)
        .collect();
    let latencies: Vec<i64> = subtasks
        .iter()
        .filter_map(|s| {
            let a = s.approved?;
            let last = facts
                .steps
                .iter()
                .filter(|f| f.subtask == s.id && f.time <= a)
                .map(|f| f.time)
                .max()?;
            Some(a - last)
        })
        .collect();
    let steps_after_rejection = facts
        .steps
        .iter()
        .filter(|f| {
            reviews.iter().any(|r| {
                r.subtask == f.subtask
                    && r.verdict == Verdict::ChangesRequested
                    && epoch(&r.at).is_some_and(|at| at <= f.time)
            })
        })
        .count();
    let commits: usize = approvals.iter().map(|r| r.commits.len()).sum();
    let refused = |reason: &str| {
        flow.refused_approvals
            .iter()
            .filter(|r| r.reason == reason)
            .count()
    };
    ReviewStats {
        latency_s: median(&latencies),
        approvals: approvals.len(),
        rejections: reviews
            .iter()
            .filter(|r| r.verdict == Verdict::ChangesRequested)
            .count(),
        steps_after_rejection,
        reviewers: reviews
            .iter()
            .map(|r| r.reviewer.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        commits_reviewed: commits,
        commits_per_review: (!approvals.is_empty())
            .then(|| (commits as f64 / approvals.len() as f64 * 100.0).round() / 100.0),
        deviations_accepted: approvals
            .iter()
            .filter_map(|r| r.deviations.as_ref())
            .map(|d| d.outside_plan.len() + d.untouched.len())
            .sum(),
        self_review_refusals: refused(RefusedApproval::SELF_REVIEW),
        reviewer_refusals: refused(RefusedApproval::NOT_ALLOWED),
    }
}

fn test_stats(steps: &[StepFact]) -> TestStats {
    let mut by_subtask: BTreeMap<&str, Vec<&StepFact>> = BTreeMap::new();
    for s in steps {
        by_subtask.entry(&s.subtask).or_default().push(s);
    }
    let mut t = TestStats::default();
    for list in by_subtask.values_mut() {
        list.sort_by_key(|s| (s.step, s.time));
        let mut last: Option<bool> = None;
        for s in list.iter() {
            if last == Some(false) {
                t.fix_attempts += 1;
            }
            if let Some(green) = s.test {
                t.tested_steps += 1;
                if green && last == Some(false) {
                    t.red_then_green += 1;
                }
                last = Some(green);
            }
        }
    }
    t
}

/// One request: provider, model, tokens in, tokens out, milliseconds.
type Call = (String, Option<String>, [u64; 3]);

fn model_stats(flow: &Flow) -> ModelStats {
    let mut calls: Vec<Call> = Vec::new();
    let mut prov = |p: &Provenance| {
        calls.push((
            p.provider.clone(),
            p.model.clone(),
            [p.tokens_in, p.tokens_out, p.duration_ms].map(|x| x.unwrap_or(0)),
        ))
    };
    if let Some(q) = &flow.questions_asked {
        prov(q);
    }
    for a in &flow.audits {
        prov(&a.provenance);
    }
    for p in &flow.plans {
        if p.source == RevisionSource::Model {
            calls.push((
                p.provider.clone().unwrap_or_default(),
                p.model.clone(),
                [p.tokens_in, p.tokens_out, p.duration_ms].map(|x| x.unwrap_or(0)),
            ));
        }
    }
    let mut by: BTreeMap<(String, Option<String>), (ModelUse, u64)> = BTreeMap::new();
    let mut total_ms = 0;
    let mut m = ModelStats::default();
    for (provider, model, [tin, tout, ms]) in calls {
        let e = by
            .entry((provider.clone(), model.clone()))
            .or_insert_with(|| {
                (
                    ModelUse {
                        provider,
                        model,
                        ..ModelUse::default()
                    },
                    0,
                )
            });
        e.0.calls += 1;
        e.0.tokens_in += tin;
        e.0.tokens_out += tout;
        e.1 += ms;
        m.calls += 1;
        m.tokens_in += tin;
        m.tokens_out += tout;
        total_ms += ms;
    }
    m.seconds = total_ms as f64 / 1000.0;
    m.by = by
        .into_values()
        .map(|(mut u, ms)| {
            u.seconds = ms as f64 / 1000.0;
            u
        })
        .collect();
    m
}

/// The median (the mean of the two middle values for an even count, rounded down); `None` for
/// no values.
pub fn median(values: &[i64]) -> Option<i64> {
    let mut v = values.to_vec();
    v.sort_unstable();
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]).div_euclid(2)),
    }
}

/// The fewest flows a median of the comparison rests on.
pub const MIN_FOR_MEDIAN: usize = 3;

/// A median in the comparison and how many flows it rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Median {
    /// Flows with a value for the figure.
    pub n: usize,
    /// Their median; `None` below [`MIN_FOR_MEDIAN`] flows.
    pub median: Option<i64>,
}

/// The figures compared between planned and unplanned flows, by name.
pub const COMPARED: [&str; 6] = [
    "total_s",
    "execution_s",
    "rework_lines",
    "rejections",
    "latency_s",
    "revisions",
];

/// One group of the comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// Flows in the group.
    pub flows: usize,
    /// Per figure of [`COMPARED`], in that order.
    pub medians: Vec<(String, Median)>,
}

/// Planned flows against unplanned ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// Flows whose questions were answered or whose plan a person edited before work started.
    pub planned: Group,
    /// The others.
    pub unplanned: Group,
}

/// The figures of [`COMPARED`] for one flow.
fn compared(s: &FlowStats) -> [Option<i64>; 6] {
    [
        s.phases.total,
        s.phases.execution,
        Some(s.rework.lines as i64),
        Some(s.reviews.rejections as i64),
        s.reviews.latency_s,
        Some(s.plan.revisions as i64),
    ]
}

/// Compare planned and unplanned flows.
pub fn compare(all: &[FlowStats]) -> Comparison {
    let group = |planned: bool| {
        let members: Vec<&FlowStats> = all.iter().filter(|s| s.planned == planned).collect();
        let medians = COMPARED
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let values: Vec<i64> = members.iter().filter_map(|s| compared(s)[i]).collect();
                let n = values.len();
                let median = if n >= MIN_FOR_MEDIAN {
                    median(&values)
                } else {
                    None
                };
                ((*name).to_owned(), Median { n, median })
            })
            .collect();
        Group {
            flows: members.len(),
            medians,
        }
    };
    Comparison {
        planned: group(true),
        unplanned: group(false),
    }
}

/// Follow the origin of each line through one step's change of a file: `origins` says which
/// step wrote each line of `old` (`None`: not a step of this flow). Returns the origins of
/// `new`, where lines the change added are `step`'s (`None` for a commit that is not a step),
/// the number of lines added, and the steps whose lines it removed or rewrote (one entry per
/// line).
pub fn track_lines<T: std::hash::Hash + Eq>(
    origins: &[Option<usize>],
    old: &[T],
    new: &[T],
    step: Option<usize>,
) -> (Vec<Option<usize>>, u64, Vec<usize>) {
    use similar::DiffOp;
    let origin = |i: usize| origins.get(i).copied().flatten();
    let mut out = Vec::with_capacity(new.len());
    let mut added = 0u64;
    let mut removed = Vec::new();
    for op in similar::capture_diff_slices(similar::Algorithm::Myers, old, new) {
        match op {
            DiffOp::Equal { old_index, len, .. } => {
                out.extend((old_index..old_index + len).map(origin));
            }
            DiffOp::Delete {
                old_index, old_len, ..
            } => removed.extend((old_index..old_index + old_len).filter_map(origin)),
            DiffOp::Insert { new_len, .. } => {
                out.extend(std::iter::repeat_n(step, new_len));
                added += new_len as u64;
            }
            DiffOp::Replace {
                old_index,
                old_len,
                new_len,
                ..
            } => {
                removed.extend((old_index..old_index + old_len).filter_map(origin));
                out.extend(std::iter::repeat_n(step, new_len));
                added += new_len as u64;
            }
        }
    }
    (out, added, removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_followed_through_steps() {
        let v0: Vec<&str> = vec![];
        let v1 = vec!["a", "b", "c"];
        let (o1, added, removed) = track_lines(&[], &v0, &v1, Some(0));
        assert_eq!((o1.clone(), added, removed), (vec![Some(0); 3], 3, vec![]));
        let v2 = vec!["a", "B", "c", "d"];
        let (o2, added, removed) = track_lines(&o1, &v1, &v2, Some(1));
        assert_eq!(o2, vec![Some(0), Some(1), Some(0), Some(1)]);
        assert_eq!((added, removed), (2, vec![0]));
        let v3 = vec!["d"];
        let (o3, added, removed) = track_lines(&o2, &v2, &v3, Some(2));
        assert_eq!(o3, vec![Some(1)]);
        assert_eq!((added, removed), (0, vec![0, 1, 0]));
        // Lines of unknown origin are not rework.
        let (_, _, removed) = track_lines(&[None, None], &["x", "y"], &["z"], Some(3));
        assert!(removed.is_empty());
    }

    fn flow(planned: bool, total: Option<i64>, rework: u64) -> FlowStats {
        FlowStats {
            slug: "f".into(),
            title: "F".into(),
            status: "finished".into(),
            planned,
            created: None,
            finished: None,
            phases: Phases {
                total,
                ..Phases::default()
            },
            bands: Vec::new(),
            subtasks: Vec::new(),
            plan: PlanChurn::default(),
            questions: QuestionCounts::default(),
            rework: Rework {
                lines: rework,
                ..Rework::default()
            },
            reviews: ReviewStats::default(),
            tests: TestStats::default(),
            model: ModelStats::default(),
        }
    }

    /// Medians side by side, each with the flows it rests on, and none below three.
    #[test]
    fn planned_and_unplanned_flows_compared() {
        let all = [
            flow(true, Some(100), 1),
            flow(true, Some(300), 5),
            flow(true, None, 2),
            flow(true, Some(200), 9),
            flow(false, Some(50), 0),
            flow(false, Some(70), 4),
        ];
        let c = compare(&all);
        assert_eq!((c.planned.flows, c.unplanned.flows), (4, 2));
        let get = |g: &Group, name: &str| {
            g.medians
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, m)| *m)
                .expect("figure")
        };
        assert_eq!(
            get(&c.planned, "total_s"),
            Median {
                n: 3,
                median: Some(200)
            }
        );
        assert_eq!(
            get(&c.planned, "rework_lines"),
            Median {
                n: 4,
                median: Some(3)
            }
        );
        assert_eq!(get(&c.unplanned, "total_s"), Median { n: 2, median: None });
        assert_eq!(get(&c.planned, "latency_s"), Median { n: 0, median: None });
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[5, 1, 3]), Some(3));
        assert_eq!(median(&[1, 2, 4, 10]), Some(3));
    }
}
