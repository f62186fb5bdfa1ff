//! `plan edit` as a library call: apply a plan edited by hand (the TOML `plan edit` opens) as a
//! new revision, made from the revision the edit names, by compare-and-swap on the revision.

use super::super::WorkError;
use super::super::edit::EditError;
use super::write_plan;
use crate::ai::sanitize::clean;
use crate::flow::hand_edit::{self, Checked, Located};
use crate::flow::plan::{self as fplan, Difference, Unaccepted};
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
    Ok(editable_text(flow, current(flow)?))
}

/// Revision `rev` of `flow`'s plan as the TOML a person edits: what `plan edit` opens and
/// `plan show --toml` prints, so that `plan show --toml > p.toml`, an edit, and
/// `plan edit -F p.toml` is the same as `plan edit`. Cleaned value by value (TOML would write a
/// control character as an escape) and as a whole: the note may hold anything.
pub fn editable_text(flow: &Flow, rev: &PlanRevision) -> String {
    let subtasks: Vec<_> = rev
        .subtasks
        .iter()
        .map(|s| crate::flow::Subtask {
            title: clean(&s.title).into_owned(),
            description: clean(&s.description).into_owned(),
            files: s.files.iter().map(|f| clean(f).into_owned()).collect(),
            test: s.test.as_deref().map(|t| clean(t).into_owned()),
            ..s.clone()
        })
        .collect();
    clean(&fplan::edit_text(&flow.slug, rev.revision, &subtasks)).into_owned()
}

/// Apply `text`, a plan edited from `flow` (as read when the edit started), as `stamp`'s new
/// revision; `origin` names the text in problems (`p.toml:12: …`), asked only when there are
/// some (it may write the text to a draft to name). Every problem of the text is
/// reported at once, each at its line ([`hand_edit::check`]). The revision the edit was made
/// from is what the text says, else the one current when the edit started: applying it to any
/// other revision would silently undo what came between, so that is refused
/// ([`EditError::Stale`]).
pub fn apply(
    repo: &gix::Repository,
    flow: &Flow,
    text: &str,
    origin: impl FnOnce() -> String,
    stamp: &crate::git::Stamp,
) -> Result<Edited, EditError> {
    let slug = &flow.slug;
    let current = current(flow)?;
    let started = current.revision;
    let taken = fplan::ids_in_history(&flow.plans);
    let refuse = |problems: Vec<Located>| {
        let origin = origin();
        let n = problems.len();
        let lines: Vec<String> = problems.iter().map(|p| p.render(&origin)).collect();
        EditError::Keep(WorkError::invalid(format!(
            "the edited plan is not valid ({n} problem{}):\n  {}",
            if n == 1 { "" } else { "s" },
            lines.join("\n  ")
        )))
    };
    let stale = |base: u32, now: u32| EditError::Stale {
        slug: slug.clone(),
        base,
        now,
    };
    let (based_on, subtasks) =
        match hand_edit::check(text, slug, started, &current.subtasks, &taken) {
            Ok(Checked::Empty) => return Ok(Edited::Empty),
            Ok(Checked::Plan { based_on, subtasks }) => (based_on, subtasks),
            Err(problems) => {
                // An edit of an older revision is checked against a plan it was not made
                // from: that it is stale is what to say.
                return Err(match hand_edit::parse(text).based_on {
                    Some(base) if base < started => stale(base, started),
                    _ => refuse(problems),
                });
            }
        };
    let base = based_on.unwrap_or(started);
    if base != started {
        return Err(stale(base, started));
    }
    // Keeping a test command the model proposed accepts it, which takes a revision of its own
    // even when nothing else changes.
    let proposed = fplan::unaccepted_tests(flow);
    if subtasks == current.subtasks && proposed.is_empty() {
        return Ok(Edited::Unchanged { revision: started });
    }
    let revision = write_plan(repo, flow, subtasks, None, stamp, |now| stale(base, now))?;
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
