//! `plan edit` as a library call: apply a plan edited by hand (the TOML `plan edit` opens) as a
//! new revision, made from the revision the edit names, by compare-and-swap on the revision.

use super::super::WorkError;
use super::super::edit::EditError;
use super::write_plan;
use crate::flow::plan::{self as fplan, Difference, Ids, Unaccepted};
use crate::flow::{Flow, PlanRevision};

/// What an edit did.
#[derive(Debug)]
pub enum Edited {
    /// The edit has no subtasks: nothing was changed.
    Empty,
    /// The edit changes nothing: the plan stays at `revision`.
    Unchanged {
        /// The current revision.
        revision: u32,
    },
    /// A new revision was written.
    Written {
        /// The new revision.
        revision: Box<PlanRevision>,
        /// What changed from the revision the edit was made from.
        changes: Vec<Difference>,
        /// The subtasks' `test` commands the model proposed that the edit kept: a person
        /// accepted them, and they run from now on.
        accepted: Vec<Unaccepted>,
    },
}

/// The current plan of `flow`, which an edit starts from, or why there is none.
pub fn current(flow: &Flow) -> Result<&PlanRevision, WorkError> {
    let slug = &flow.slug;
    flow.current_plan().ok_or_else(|| {
        WorkError::refused(format!("flow `{slug}` has no plan yet"))
            .hint(format!("ask for one with `git aiflow plan {slug}`"))
    })
}

/// The text the editor opens: the current plan as TOML, with the revision it is made from.
pub fn editor_text(flow: &Flow) -> Result<String, WorkError> {
    let plan = current(flow)?;
    Ok(fplan::edit_text(&flow.slug, plan.revision, &plan.subtasks))
}

/// Apply `text`, a plan edited from `flow` (as read when the edit started), as `stamp`'s new
/// revision. The revision the edit was made from is what the text says, else the one current
/// when the edit started: applying it to any other revision would silently undo what came
/// between, so that is refused ([`EditError::Stale`]).
pub fn apply(
    repo: &gix::Repository,
    flow: &Flow,
    text: &str,
    stamp: &crate::git::Stamp,
) -> Result<Edited, EditError> {
    let slug = &flow.slug;
    let current = current(flow)?;
    let started = current.revision;
    let parsed = fplan::parse_edit(text).map_err(|e| {
        EditError::Keep(WorkError::invalid(format!(
            "the edited plan is not valid TOML: {e}"
        )))
    })?;
    let Some(drafts) = parsed.drafts else {
        return Ok(Edited::Empty);
    };
    let base = parsed.based_on.unwrap_or(started);
    if base > started {
        return Err(EditError::Keep(
            WorkError::invalid(format!(
                "the edit says `{} = {base}`, but the plan of `{slug}` has revisions 1 to {started}",
                fplan::BASED_ON
            ))
            .hint(format!(
                "set it to the revision the edit was made from (see `git aiflow plan log {slug}`)"
            )),
        ));
    }
    let stale = |now: u32| EditError::Stale {
        slug: slug.clone(),
        base,
        now,
    };
    if base != started {
        return Err(stale(started));
    }
    let taken = fplan::ids_in_history(&flow.plans);
    let subtasks =
        fplan::finalize(drafts, &current.subtasks, &taken, Ids::Edit).map_err(|errors| {
            EditError::Keep(WorkError::invalid(format!(
                "the edited plan is not valid:\n  - {}",
                errors.join("\n  - ")
            )))
        })?;
    // Keeping a test command the model proposed accepts it, which takes a revision of its own
    // even when nothing else changes.
    let proposed = fplan::unaccepted_tests(flow);
    if subtasks == current.subtasks && proposed.is_empty() {
        return Ok(Edited::Unchanged { revision: started });
    }
    let revision = write_plan(repo, flow, subtasks, None, stamp, stale)?;
    let changes = fplan::diff(&current.subtasks, &revision.subtasks);
    let accepted = proposed
        .into_iter()
        .filter(|u| {
            revision
                .subtasks
                .iter()
                .any(|s| s.id == u.subtask && s.test.as_deref() == Some(u.test.as_str()))
        })
        .collect();
    Ok(Edited::Written {
        revision: Box::new(revision),
        changes,
        accepted,
    })
}
