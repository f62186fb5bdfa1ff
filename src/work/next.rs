//! `next`: the subtask of a flow to start now, by the lifecycle's dependency rules
//! ([`crate::flow::lifecycle::next_ready`]), or why there is none.

use super::WorkError;
use crate::flow::lifecycle::{self, next_ready};
use crate::flow::{Flow, Subtask, SubtaskStatus};

/// Where a flow stands: what can start, and what cannot yet.
#[derive(Debug)]
pub struct Next<'f> {
    /// The flow.
    pub flow: &'f Flow,
    /// The subtask to start now, if any.
    pub ready: Option<&'f Subtask>,
    /// The planned subtasks still waiting, with the subtasks they wait for.
    pub waiting: Vec<(&'f Subtask, Vec<&'f Subtask>)>,
    /// The subtasks under way (started, neither merged nor dropped).
    pub active: Vec<&'f Subtask>,
    /// Whether every subtask is merged or dropped.
    pub complete: bool,
}

/// Where `flow` stands; refused when it has no plan yet.
pub fn next(flow: &Flow) -> Result<Next<'_>, WorkError> {
    let Some(plan) = flow.current_plan() else {
        return Err(
            WorkError::refused(format!("flow {} has no plan yet", flow.slug))
                .hint(format!("ask for one with `git aiflow plan {}`", flow.slug)),
        );
    };
    let (ready, waiting) = next_ready(flow);
    let open: Vec<&Subtask> = plan
        .subtasks
        .iter()
        .filter(|s| !lifecycle::is_settled(s.status))
        .collect();
    Ok(Next {
        flow,
        ready,
        waiting,
        complete: open.is_empty(),
        active: open
            .into_iter()
            .filter(|s| s.status != SubtaskStatus::Planned)
            .collect(),
    })
}

impl Next<'_> {
    /// Why nothing can start (`None` when a subtask can, or when the flow is complete: that is
    /// no error, the next step is `finish`): its planned subtasks wait for others.
    pub fn refusal(&self) -> Option<WorkError> {
        if self.ready.is_some() || self.complete {
            return None;
        }
        let slug = &self.flow.slug;
        let mut e = WorkError::refused(format!("no subtask of {slug} can start yet"));
        for (s, deps) in &self.waiting {
            let names: Vec<String> = deps
                .iter()
                .map(|d| format!("{} ({})", d.id, d.status.as_str()))
                .collect();
            e = e.hint(format!("{} waits for {}", s.id, names.join(", ")));
        }
        if !self.active.is_empty() {
            let active: Vec<String> = self
                .active
                .iter()
                .map(|s| format!("{} ({}, {})", s.id, s.title, s.status.as_str()))
                .collect();
            e = e.hint(format!("finish what is under way: {}", active.join(", ")));
        }
        Some(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::lifecycle::{Action, apply};

    fn hints(e: WorkError) -> (String, Vec<String>) {
        match e {
            WorkError::Refused { message, hints, .. } => (message, hints),
            other => panic!("not a refusal: {other:?}"),
        }
    }

    #[test]
    fn a_waiting_flow_names_what_waits_and_what_is_under_way() {
        let flow = crate::flow::tests_support::sample();
        let n = next(&flow).unwrap();
        assert!(n.ready.is_none());
        assert!(!n.complete);
        let (message, hints) = hints(n.refusal().unwrap());
        assert_eq!(
            message,
            format!("no subtask of {} can start yet", flow.slug)
        );
        assert_eq!(hints[0], "m2x1 waits for k3f9 (approved)");
        assert!(hints[1].starts_with("finish what is under way: k3f9 (Bucket, approved)"));
    }

    #[test]
    fn a_ready_subtask_is_no_refusal_and_a_settled_flow_is_complete() {
        let mut flow = crate::flow::tests_support::sample();
        assert!(apply(&mut flow, "k3f9", Action::Integrate));
        let n = next(&flow).unwrap();
        assert_eq!(n.ready.map(|s| s.id.as_str()), Some("m2x1"));
        assert!(n.refusal().is_none());
        for s in &mut flow.plans.last_mut().unwrap().subtasks {
            s.status = SubtaskStatus::Merged;
        }
        let n = next(&flow).unwrap();
        assert!(n.complete);
        assert!(n.refusal().is_none(), "a complete flow is no refusal");
    }
}
