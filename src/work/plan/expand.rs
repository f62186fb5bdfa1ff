//! `plan expand` as library calls: ask the model to split one subtask of the current plan into
//! smaller ones, and write the plan with them in its place as a new revision.
//!
//! The new subtasks take the old one's position, in the order the model gave them, with fresh ids
//! no revision of the flow ever used. Those that depend on no other new one (the first steps)
//! inherit the old subtask's dependencies; every subtask that depended on the old one now
//! depends on the new ones that no other new one depends on (the last steps: one when the model
//! gave a chain, several when it gave independent parts). A new subtask may also depend on other
//! subtasks of the plan by their ids. The revision is written by [`super::write_plan`], like any
//! model revision, with `expanded` (the old id) and the feedback in its provenance.

use super::super::WorkError;
use super::{Kept, Prepared, PromptContext, prompt_context, provenance, write_plan};
use crate::ai::answer;
use crate::ai::ask::{self, Asker};
use crate::ai::prompt::Templates;
use crate::flow::plan::{self as fplan, Draft, Ids};
use crate::flow::{Flow, FlowStatus, PlanRevision, Subtask, SubtaskStatus};
use serde::Serialize;
use std::collections::BTreeSet;

/// The most subtasks a plan may hold after an expansion (as for any plan).
const MAX_SUBTASKS: usize = 50;

/// An expansion ready to be asked: the subtask, and the request.
pub struct Expansion {
    /// The id of the subtask to split.
    pub subtask: String,
    /// The request (its mode is [`super::Mode::Plan`]; its kind `expand`).
    pub prepared: Prepared,
}

/// What `expand.md` sees: what `plan.md` sees (the current plan as `previous`), the subtask to
/// split, and the subtasks that depend on it.
#[derive(Serialize)]
struct ExpandContext<'a> {
    #[serde(flatten)]
    base: PromptContext<'a>,
    subtask: &'a Subtask,
    dependants: Vec<&'a Subtask>,
}

/// Check that subtask `id` of `flow`'s current plan can be split, and render the request;
/// `feedback` goes with it.
pub fn prepare(
    repo: &gix::Repository,
    flow: &Flow,
    id: &str,
    feedback: Option<String>,
) -> Result<Expansion, WorkError> {
    let subtask = expandable(repo, flow, id)?;
    let budget = super::context_budget(repo, None)?;
    let templates = Templates::new(repo.workdir());
    let (base, map) = prompt_context(repo, flow, super::Mode::Plan, feedback.as_deref(), budget);
    let grounding = map.grounding(base.repo_files.len(), base.repo_files_total);
    let context = ExpandContext {
        base,
        subtask,
        dependants: dependants(flow, id),
    };
    let system = templates.render("system", &context)?;
    let prompt = templates.render("expand", &context)?;
    let request = ask::request("expand", &system, &prompt, Some(answer::plan_schema()));
    Ok(Expansion {
        subtask: id.to_string(),
        prepared: Prepared {
            mode: super::Mode::Plan,
            request,
            prompt,
            templates,
            feedback,
            context: grounding,
            map,
        },
    })
}

/// Subtask `id` of `flow`'s current plan, when it can be split: the flow is not over, and the
/// subtask is planned, not started (no status past `planned`, no branch) and not dropped.
fn expandable<'a>(
    repo: &gix::Repository,
    flow: &'a Flow,
    id: &str,
) -> Result<&'a Subtask, WorkError> {
    let slug = &flow.slug;
    if matches!(flow.status, FlowStatus::Finished | FlowStatus::Abandoned) {
        return Err(WorkError::refused(format!(
            "flow `{slug}` is {}; there is nothing to plan",
            flow.status.as_str()
        )));
    }
    super::edit::current(flow)?;
    let Some(s) = flow.subtask(id) else {
        return Err(
            WorkError::invalid(format!("flow `{slug}` has no subtask `{id}`")).hint(format!(
                "`git aiflow status {slug}` lists the subtasks of {slug}"
            )),
        );
    };
    if s.status == SubtaskStatus::Dropped {
        return Err(WorkError::refused(format!(
            "subtask {id} of flow `{slug}` is dropped; there is nothing to split"
        ))
        .hint(format!(
            "to take it up again, set its status to \"planned\" with `git aiflow plan edit {slug}`"
        )));
    }
    let branch = s
        .branch
        .clone()
        .unwrap_or_else(|| fplan::subtask_branch(&flow.integration_branch, &s.id, &s.title));
    let has_branch = crate::git::ref_id(repo, &format!("refs/heads/{branch}"))
        .ok()
        .flatten()
        .is_some();
    if s.status != SubtaskStatus::Planned || s.branch.is_some() || has_branch {
        let state = if s.status == SubtaskStatus::Planned {
            format!("has a branch, {branch}")
        } else {
            format!("is {}", s.status.as_str())
        };
        return Err(WorkError::refused(format!(
            "subtask {id} of flow `{slug}` {state}; only a subtask that has not started can be split"
        ))
        .hint(format!(
            "to split the rest of its work, add subtasks with `git aiflow plan edit {slug}`"
        )));
    }
    Ok(s)
}

/// The subtasks of `flow`'s current plan that depend on `id`.
fn dependants<'a>(flow: &'a Flow, id: &str) -> Vec<&'a Subtask> {
    flow.current_plan()
        .map(|p| {
            p.subtasks
                .iter()
                .filter(|s| s.depends_on.iter().any(|d| d == id))
                .collect()
        })
        .unwrap_or_default()
}

/// Ask `asker` to split the subtask of `expansion`, and write the plan with the parts in its
/// place as `stamp`'s revision, unless the plan changed meanwhile. An answer that cannot be
/// used gets one repair request (said on `progress`); then nothing is written.
pub fn ask(
    repo: &gix::Repository,
    flow: &Flow,
    expansion: Expansion,
    asker: &Asker,
    stamp: &crate::git::Stamp,
    progress: &mut dyn std::io::Write,
) -> Result<PlanRevision, WorkError> {
    let Expansion { subtask, prepared } = expansion;
    let current: Vec<Subtask> = super::edit::current(flow)?.subtasks.clone();
    let taken = fplan::ids_in_history(&flow.plans);
    let answered = asker.ask(progress, prepared.request, answer::PLAN_SHAPE, |text| {
        let drafts = answer::parse_plan(text)?;
        splice(&current, &subtask, drafts, &taken)
    })?;
    let mut prov = provenance(
        asker,
        stamp,
        &prepared.prompt,
        &answered.usage,
        prepared.feedback,
    );
    prov.expanded = Some(subtask.clone());
    prov.context = Some(prepared.context);
    let kept = Kept::new(asker, &answered.raw);
    let slug = &flow.slug;
    // The model took a while: the subtask may have started meanwhile, which the write's
    // compare-and-swap (on the plan's revision) would not see.
    let fresh = crate::store::Snapshot::load(repo)?.flows(repo)?;
    let now = &fresh.find(slug)?.flow;
    if now.plans.len() == flow.plans.len() && expandable(repo, now, &subtask).is_err() {
        return Err(kept.changed_meanwhile(
            format!("subtask {subtask} of flow `{slug}` started while the model was answering"),
            format!("see it with `git aiflow status {slug}`"),
        ));
    }
    write_plan(repo, flow, answered.value, Some(&prov), stamp, |now| {
        kept.changed_meanwhile(
            format!("the plan of `{slug}` changed meanwhile (now revision {now})"),
            format!("see what changed with `git aiflow plan diff {slug}`; then expand again"),
        )
    })
}

/// The plan `current` with subtask `id` replaced by the subtasks of `drafts` (a model's answer),
/// as the module documentation describes; `taken` holds every id the flow's history used. Every
/// problem found is returned, for the repair request.
pub fn splice(
    current: &[Subtask],
    id: &str,
    mut drafts: Vec<Draft>,
    taken: &BTreeSet<String>,
) -> Result<Vec<Subtask>, Vec<String>> {
    let Some(old) = current.iter().find(|s| s.id == id) else {
        return Err(vec![format!("the plan has no subtask `{id}`")]);
    };
    if drafts.len() < 2 {
        return Err(vec![format!(
            "the answer has {} subtask{}; split the subtask into at least 2 smaller ones",
            drafts.len(),
            if drafts.len() == 1 { "" } else { "s" }
        )]);
    }
    let total = current.len() - 1 + drafts.len();
    if total > MAX_SUBTASKS {
        return Err(vec![format!(
            "the plan would have {total} subtasks; at most {MAX_SUBTASKS} are allowed: split the subtask into fewer parts"
        )]);
    }
    // Dependencies on other subtasks of the plan are kept aside (the parts' own ids are only
    // hints, mapped by `finalize`); one on the subtask being split means nothing any more.
    let own: BTreeSet<String> = drafts
        .iter()
        .filter_map(|d| d.id.as_deref().map(|h| h.trim().to_string()))
        .filter(|h| !h.is_empty())
        .collect();
    let in_plan: BTreeSet<&str> = current
        .iter()
        .map(|s| s.id.as_str())
        .filter(|s| *s != id)
        .collect();
    let mut outside: Vec<Vec<String>> = Vec::with_capacity(drafts.len());
    for d in &mut drafts {
        let mut kept = Vec::new();
        let mut out = Vec::new();
        for dep in d.depends_on.drain(..) {
            let dep = dep.trim().to_string();
            if own.contains(&dep) {
                kept.push(dep);
            } else if in_plan.contains(dep.as_str()) {
                out.push(dep);
            } else if dep != id {
                kept.push(dep);
            }
        }
        d.depends_on = kept;
        outside.push(out);
    }
    let mut all_taken = taken.clone();
    all_taken.extend(current.iter().map(|s| s.id.clone()));
    let mut parts = fplan::finalize(drafts, &[], &all_taken, Ids::Model)?;
    // The first steps inherit the old subtask's dependencies.
    for (p, out) in parts.iter_mut().zip(outside) {
        let mut deps = Vec::new();
        if p.depends_on.is_empty() {
            deps.extend(old.depends_on.iter().cloned());
        }
        deps.extend(out);
        deps.append(&mut p.depends_on);
        let mut seen = BTreeSet::new();
        deps.retain(|d| seen.insert(d.clone()));
        p.depends_on = deps;
    }
    let part_ids: BTreeSet<&str> = parts.iter().map(|p| p.id.as_str()).collect();
    // The last steps: the parts no other part depends on.
    let last: Vec<String> = parts
        .iter()
        .filter(|p| {
            !parts
                .iter()
                .any(|q| q.depends_on.iter().any(|d| d == &p.id))
        })
        .map(|p| p.id.clone())
        .collect();
    debug_assert!(part_ids.len() == parts.len() && !last.is_empty());
    let mut out = Vec::with_capacity(total);
    for s in current {
        if s.id == id {
            out.extend(parts.iter().cloned());
            continue;
        }
        let mut s = s.clone();
        if s.depends_on.iter().any(|d| d == id) {
            let mut deps = Vec::new();
            for d in s.depends_on.drain(..) {
                if d == id {
                    deps.extend(last.iter().cloned());
                } else {
                    deps.push(d);
                }
            }
            let mut seen = BTreeSet::new();
            deps.retain(|d| seen.insert(d.clone()));
            s.depends_on = deps;
        }
        out.push(s);
    }
    // A part that depends on a subtask that (through the old one) depends on it is a cycle.
    crate::flow::validate_subtasks("plan", &out).map_err(|e| vec![e.problem])?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Phase;

    fn sub(id: &str, deps: &[&str]) -> Subtask {
        Subtask {
            extra: Default::default(),
            id: id.into(),
            title: format!("Title {id}"),
            description: String::new(),
            files: Vec::new(),
            phase: Phase::Core,
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            status: SubtaskStatus::Planned,
            branch: None,
            test: None,
        }
    }

    fn draft(id: &str, title: &str, deps: &[&str]) -> Draft {
        Draft {
            id: Some(id.into()),
            title: title.into(),
            description: String::new(),
            files: Vec::new(),
            phase: Phase::Core,
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            status: None,
            test: None,
        }
    }

    fn plan() -> Vec<Subtask> {
        vec![
            sub("a1", &[]),
            sub("b2", &["a1"]),
            sub("c3", &["b2"]),
            sub("d4", &["b2", "a1"]),
        ]
    }

    #[test]
    fn a_chain_takes_the_place_and_dependants_follow_its_last_part() {
        let taken: BTreeSet<String> = ["zz9".to_string()].into();
        let drafts = vec![
            draft("1", "First part", &[]),
            draft("2", "Second part", &["1"]),
            draft("3", "Third part", &["2"]),
        ];
        let out = splice(&plan(), "b2", drafts, &taken).unwrap();
        let ids: Vec<&str> = out.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids.len(), 6);
        assert_eq!((ids[0], ids[4], ids[5]), ("a1", "c3", "d4"));
        let (p1, p2, p3) = (&out[1], &out[2], &out[3]);
        for p in [p1, p2, p3] {
            assert!(!["a1", "b2", "c3", "d4", "zz9"].contains(&p.id.as_str()));
        }
        assert_eq!(p1.depends_on, ["a1"]);
        assert_eq!(p2.depends_on, std::slice::from_ref(&p1.id));
        assert_eq!(p3.depends_on, std::slice::from_ref(&p2.id));
        assert_eq!(out[4].depends_on, std::slice::from_ref(&p3.id));
        assert_eq!(out[5].depends_on, [p3.id.clone(), "a1".to_string()]);
    }

    #[test]
    fn independent_parts_all_inherit_and_all_are_waited_for() {
        let drafts = vec![draft("x", "Left part", &[]), draft("y", "Right part", &[])];
        let out = splice(&plan(), "b2", drafts, &BTreeSet::new()).unwrap();
        let (x, y) = (out[1].id.clone(), out[2].id.clone());
        assert_eq!(out[1].depends_on, ["a1"]);
        assert_eq!(out[2].depends_on, ["a1"]);
        assert_eq!(out[3].depends_on, [x.clone(), y.clone()]);
        // a1 is kept once although both d4 and the parts name it.
        assert_eq!(out[4].depends_on, [x, y, "a1".to_string()]);
    }

    #[test]
    fn parts_may_depend_on_other_subtasks_but_not_in_a_cycle() {
        let mut plan = plan();
        plan.push(sub("e5", &[]));
        let drafts = vec![draft("1", "One", &["e5"]), draft("2", "Two", &["1", "b2"])];
        let out = splice(&plan, "b2", drafts, &BTreeSet::new()).unwrap();
        assert_eq!(out[1].depends_on, ["a1", "e5"]);
        assert_eq!(out[2].depends_on, std::slice::from_ref(&out[1].id));
        let drafts = vec![draft("1", "One", &["c3"]), draft("2", "Two", &["1"])];
        let e = splice(&plan, "b2", drafts, &BTreeSet::new()).unwrap_err();
        assert!(e[0].contains("cycle"), "{e:?}");
    }

    #[test]
    fn one_part_or_a_bad_part_is_refused() {
        let e = splice(
            &plan(),
            "b2",
            vec![draft("1", "Only", &[])],
            &BTreeSet::new(),
        )
        .unwrap_err();
        assert!(e[0].contains("at least 2"), "{e:?}");
        let drafts = vec![draft("1", "One", &["nope"]), draft("2", "", &[])];
        let e = splice(&plan(), "b2", drafts, &BTreeSet::new()).unwrap_err();
        assert!(e.len() >= 2, "{e:?}");
        assert!(splice(&plan(), "q9", vec![], &BTreeSet::new()).is_err());
    }
}
