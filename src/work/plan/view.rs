//! What `plan show`, `plan log` and `plan diff` show, as values: a revision, the history with what
//! each revision changed, and the comparison of two revisions. The command line lays them out.

use super::super::WorkError;
use crate::flow::plan::{self as fplan, Difference};
use crate::flow::{Flow, PlanRevision};
use std::fmt;

/// Revision `n` of `flow`'s plan (`None`: the current one), or why there is none.
pub fn revision(flow: &Flow, n: Option<u32>) -> Result<&PlanRevision, WorkError> {
    let slug = &flow.slug;
    let last = super::edit::current(flow)?;
    match n {
        None => Ok(last),
        Some(n) => flow.plans.iter().find(|p| p.revision == n).ok_or_else(|| {
            WorkError::invalid(format!(
                "flow `{slug}` has no plan revision {n}; revisions are 1 to {}",
                last.revision
            ))
            .hint(format!("list them with `git aiflow plan log {slug}`"))
        }),
    }
}

/// One revision of the plan log.
#[derive(Debug)]
pub struct LogEntry<'a> {
    /// The revision.
    pub revision: &'a PlanRevision,
    /// What changed from the revision before (`None` for the first).
    pub changes: Option<Vec<Difference>>,
    /// Approvals made while this revision was the current plan that accepted deviations from
    /// it (files changed outside the plan, planned files untouched).
    pub deviations: Vec<&'a crate::flow::Review>,
}

/// Every revision of `flow`'s plan, newest first, with what each changed; an error when the flow
/// has no plan.
pub fn log(flow: &Flow) -> Result<Vec<LogEntry<'_>>, WorkError> {
    revision(flow, None)?;
    Ok(flow
        .plans
        .iter()
        .rev()
        .map(|r| LogEntry {
            revision: r,
            changes: previous(flow, r).map(|p| fplan::diff(&p.subtasks, &r.subtasks)),
            deviations: deviated_from(flow, r),
        })
        .collect())
}

/// The approvals recorded while `rev` was the current plan (from its time to the next
/// revision's) that carry deviations from the plan.
fn deviated_from<'a>(flow: &'a Flow, rev: &PlanRevision) -> Vec<&'a crate::flow::Review> {
    let time = |at: &str| crate::flow::epoch(at).unwrap_or(i64::MIN);
    let from = time(&rev.created_at);
    let until = flow
        .plans
        .get(rev.revision as usize)
        .map_or(i64::MAX, |next| time(&next.created_at));
    flow.reviews
        .iter()
        .filter(|r| r.deviations.as_ref().is_some_and(|d| !d.is_empty()))
        .filter(|r| (from..until).contains(&time(&r.at)))
        .collect()
}

/// The revision before `rev`.
fn previous<'a>(flow: &'a Flow, rev: &PlanRevision) -> Option<&'a PlanRevision> {
    (rev.revision as usize)
        .checked_sub(2)
        .and_then(|i| flow.plans.get(i))
}

/// Which revisions to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revisions {
    /// The previous and the current one.
    Last,
    /// This one and the current one.
    Since(u32),
    /// These two.
    Between(u32, u32),
}

/// The differences between two plan revisions.
#[derive(Debug)]
pub struct PlanDiff<'a> {
    /// The older revision.
    pub from: &'a PlanRevision,
    /// The newer revision.
    pub to: &'a PlanRevision,
    /// What changed, in the plan's order.
    pub changes: Vec<Difference>,
}

/// Compare the `which` revisions of `flow`'s plan.
pub fn compare(flow: &Flow, which: Revisions) -> Result<PlanDiff<'_>, WorkError> {
    let last = revision(flow, None)?.revision;
    let (from, to) = match which {
        Revisions::Last if last == 1 => {
            return Err(WorkError::refused(format!(
                "flow `{}` has one plan revision; there is nothing to compare",
                flow.slug
            ))
            .hint(format!("show it with `git aiflow plan show {}`", flow.slug)));
        }
        Revisions::Last => (last - 1, last),
        Revisions::Since(a) => (a, last),
        Revisions::Between(a, b) => (a, b),
    };
    let from = revision(flow, Some(from))?;
    let to = revision(flow, Some(to))?;
    Ok(PlanDiff {
        from,
        to,
        changes: fplan::diff(&from.subtasks, &to.subtasks),
    })
}

/// How many subtasks were added, removed, changed and moved: `2 added, 1 removed, 3 changed,
/// 1 moved`, or `no changes`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Subtasks added.
    pub added: usize,
    /// Subtasks removed.
    pub removed: usize,
    /// Subtasks with a changed field (counted once however many changed).
    pub changed: usize,
    /// Subtasks moved.
    pub moved: usize,
}

impl Summary {
    /// The counts of `changes`.
    pub fn of(changes: &[Difference]) -> Summary {
        let mut s = Summary::default();
        let mut changed = std::collections::BTreeSet::new();
        for c in changes {
            match c {
                Difference::Added { .. } => s.added += 1,
                Difference::Removed { .. } => s.removed += 1,
                Difference::Moved { .. } => s.moved += 1,
                Difference::Changed { id, .. } => {
                    changed.insert(id.clone());
                }
            }
        }
        s.changed = changed.len();
        s
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = [
            (self.added, "added"),
            (self.removed, "removed"),
            (self.changed, "changed"),
            (self.moved, "moved"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if parts.is_empty() {
            f.write_str("no changes")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_revision_has_nothing_to_compare() {
        let mut flow = crate::flow::tests_support::sample();
        let e = compare(&flow, Revisions::Last).unwrap_err().to_string();
        assert!(e.contains("has one plan revision"), "{e}");
        let mut second = flow.plans[0].clone();
        second.revision = 2;
        second.subtasks.clear();
        flow.plans.push(second);
        let d = compare(&flow, Revisions::Last).unwrap();
        assert_eq!((d.from.revision, d.to.revision), (1, 2));
        assert_eq!(
            Summary::of(&d.changes).removed,
            flow.plans[0].subtasks.len()
        );
        assert!(compare(&flow, Revisions::Since(3)).is_err());
        let log = log(&flow).unwrap();
        assert_eq!(log[0].revision.revision, 2);
        assert!(log[0].changes.is_some() && log[1].changes.is_none());
    }

    #[test]
    fn summary_counts_a_subtask_changed_twice_once() {
        let changed = |field: &'static str| Difference::Changed {
            id: "a1".into(),
            title: "A".into(),
            field,
            old: String::new(),
            new: "x".into(),
        };
        let changes = vec![
            Difference::Added {
                id: "b2".into(),
                title: "B".into(),
                position: 2,
            },
            changed("title"),
            changed("files"),
        ];
        assert_eq!(Summary::of(&changes).to_string(), "1 added, 1 changed");
        assert_eq!(Summary::of(&[]).to_string(), "no changes");
    }
}
