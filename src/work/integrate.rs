//! `integrate` and `finish` as library calls: `--no-ff` merges of an approved subtask into the
//! integration branch, and of a complete integration branch into its base.
//!
//! Both run the gate first, as every ref move the tool makes must. A branch checked out nowhere is
//! merged with gix and moved by compare-and-swap in the same transaction as the flow's note; a
//! checked-out one is merged with `git merge` in its work tree, so that hooks run and conflicts
//! land where the user can resolve them.

use super::{Found, WorkError, branch_edit, integration_tip, signing};
use crate::flow::lifecycle::{self, Action, Refusal};
use crate::flow::names::{FLOW_KEY, SUBTASK_KEY};
use crate::flow::{Finished, Flow, FlowStatus, SubtaskStatus};
use crate::gate::remerge::{self, MergeCommit, Verdict};
use crate::gate::walk::{GixObjects, Range};
use crate::gate::{Policy, Report, Scope, check};
use crate::git::merge::{self as git_merge, MergeError};
use crate::git::trailers::Rules;
use crate::store::{Change, FlowEntry};
use gix::ObjectId;
use gix::refs::transaction::RefEdit;
use std::path::Path;

/// How a merge was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// By gix, on a branch checked out nowhere; the branch moved with the flow's note.
    Gix,
    /// By `git merge` in the work tree that has the branch checked out.
    GitMerge,
}

impl Via {
    /// The name used in messages and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Gix => "gix",
            Via::GitMerge => "git merge",
        }
    }
}

/// A merge commit made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merge {
    /// The merge commit.
    pub commit: ObjectId,
    /// How it was made.
    pub via: Via,
}

/// A merge made, and the ref edit still to apply (gix path; `None` when git already moved the
/// branch).
struct Merged {
    merge: Merge,
    edit: Option<RefEdit>,
}

/// What `integrate` did.
#[derive(Debug, Clone)]
pub enum Integrated {
    /// The subtask was merged already; nothing changed.
    Already {
        /// The flow's slug.
        flow: String,
        /// The subtask's id.
        subtask: String,
    },
    /// The subtask is merged now.
    Done(Integration),
}

/// A subtask integrated by `integrate`.
#[derive(Debug, Clone)]
pub struct Integration {
    /// The flow's slug.
    pub flow: String,
    /// The subtask's id.
    pub subtask: String,
    /// The subtask's title.
    pub title: String,
    /// The subtask's branch.
    pub branch: String,
    /// The integration branch (short name).
    pub integration: String,
    /// The merge made; `None` when the branch was in the integration branch already (merged by
    /// hand) and only the record was missing.
    pub merge: Option<Merge>,
    /// The integration branch's tip afterwards.
    pub integration_tip: Option<ObjectId>,
    /// What to do next with the flow.
    pub next: NextAfter,
}

/// What to do once a subtask is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextAfter {
    /// Start this subtask.
    Start {
        /// Its id.
        id: String,
        /// Its title.
        title: String,
    },
    /// Every subtask is in: finish the flow.
    Finish,
    /// Nothing to start yet (subtasks are at work, or wait for others).
    Nothing,
}

/// What `finish` did.
#[derive(Debug, Clone)]
pub enum Finish {
    /// The flow was finished already; nothing changed.
    Already {
        /// The flow's slug.
        flow: String,
        /// What was recorded when it finished.
        finished: Option<Finished>,
    },
    /// The flow is finished now.
    Done(Finishing),
}

/// A flow finished by `finish`.
#[derive(Debug, Clone)]
pub struct Finishing {
    /// The flow's slug.
    pub flow: String,
    /// The base branch merged into (full ref name).
    pub into: String,
    /// The base branch (short name).
    pub into_short: String,
    /// The integration branch (short name).
    pub integration: String,
    /// The merge made; `None` when the integration branch was in the base already.
    pub merge: Option<Merge>,
    /// The commit recorded as the flow's end: the merge, or the base's tip.
    pub commit: ObjectId,
}

/// Merge an approved subtask into its flow's integration branch and record it as merged; a
/// subtask merged by hand (through the gate) is only recorded.
pub fn integrate(repo: &gix::Repository, found: &Found) -> Result<Integrated, WorkError> {
    let s = found.subtask().clone();
    let flow = found.flow();
    let slug = flow.slug.clone();
    let integration = flow.integration_branch.clone();
    let branch = found.branch();
    if s.status == SubtaskStatus::Merged {
        return Ok(Integrated::Already {
            flow: slug,
            subtask: s.id,
        });
    }
    let not_approved = match lifecycle::may(Action::Integrate, &s) {
        Ok(()) => None,
        Err(r @ Refusal::NotApproved { .. }) => Some(r),
        Err(r) => return Err(r.into()),
    };
    let tip = crate::git::branch_tip(repo, &branch).ok_or_else(|| {
        WorkError::refused(format!("subtask {} has no branch {branch}", s.id))
            .hint(format!("start it first: `git aiflow start {}`", s.id))
    })?;
    let integ = integration_tip(repo, &found.entry)?;
    let retry = format!("git aiflow integrate {}", s.id);

    // Merged by hand, through the gate: only the record is missing, approved or not.
    let already = crate::git::is_ancestor(repo, tip, integ);
    if let Some(r) = not_approved
        && !already
    {
        return Err(r.into());
    }
    let merged = if already {
        None
    } else {
        // The test first: its refusal says what to run; the gate's would only name a code.
        super::test::require_passed(
            repo,
            &Policy::load(repo, Some(integ))?,
            tip,
            &format!("subtask {}", s.id),
            &format!(
                "run the test where {branch} is checked out: `git aiflow test {}`",
                s.id
            ),
        )?;
        gate(
            repo,
            &format!("refs/heads/{integration}"),
            integ,
            tip,
            &format!("subtask {} cannot be integrated", s.id),
        )?;
        let message = merge_message(
            format!("Merge subtask {}: {}", s.id, s.title),
            &format!("Flow {slug}: {}", flow.title),
            &[(FLOW_KEY, &slug), (SUBTASK_KEY, &s.id)],
        );
        let to = Target {
            branch: &integration,
            tip: integ,
            retry: &retry,
        };
        Some(merge(repo, &to, tip, &branch, &message)?)
    };

    let refs: Vec<RefEdit> = merged.iter().filter_map(|m| m.edit.clone()).collect();
    let flow_now = record_integrated(repo, &slug, &s.id, &integration, refs)?;
    Ok(Integrated::Done(Integration {
        flow: slug,
        subtask: s.id,
        title: s.title,
        branch,
        integration_tip: crate::git::branch_tip(repo, &integration),
        integration,
        merge: merged.map(|m| m.merge),
        next: next_after(&flow_now),
    }))
}

/// Record subtask `id` of flow `slug` as merged into `integration`, moving the refs of `refs` in
/// the same transaction; the flow as recorded.
fn record_integrated(
    repo: &gix::Repository,
    slug: &str,
    id: &str,
    integration: &str,
    refs: Vec<RefEdit>,
) -> Result<Flow, WorkError> {
    let stamp = crate::git::committer_stamp(repo)?;
    let (_, flow) = crate::store::update_flow_with(
        repo,
        slug,
        &format!("aiflow: integrate {id} into {integration}"),
        &stamp,
        |flow, _| -> Result<Option<Change>, WorkError> {
            if !lifecycle::apply(flow, id, Action::Integrate) {
                return Err(WorkError::refused(format!(
                    "subtask {id} left the plan meanwhile"
                )));
            }
            Ok(Some(Change {
                notes: vec![],
                refs: refs.clone(),
            }))
        },
    )?;
    Ok(flow)
}

/// What to do once a subtask is in: the next subtask ready to start, or `finish` when every
/// subtask is merged or dropped.
fn next_after(flow: &Flow) -> NextAfter {
    match lifecycle::next_ready(flow).0 {
        Some(n) => NextAfter::Start {
            id: n.id.clone(),
            title: n.title.clone(),
        },
        None if plan_settled(flow) => NextAfter::Finish,
        None => NextAfter::Nothing,
    }
}

/// Whether the flow has a plan whose every subtask is merged or dropped.
pub(crate) fn plan_settled(flow: &Flow) -> bool {
    flow.current_plan()
        .is_some_and(|p| p.subtasks.iter().all(|s| lifecycle::is_settled(s.status)))
}

/// Merge a complete flow's integration branch into its base branch and record the flow as
/// finished.
pub fn finish(repo: &gix::Repository, entry: &FlowEntry) -> Result<Finish, WorkError> {
    let flow = &entry.flow;
    let slug = flow.slug.clone();
    if flow.status == FlowStatus::Finished {
        return Ok(Finish::Already {
            flow: slug,
            finished: flow.finished.clone(),
        });
    }
    let merged_list = complete(flow)?;
    let Some(base_ref) = flow.base_ref.clone() else {
        return Err(WorkError::invalid(format!(
            "flow {slug} started on a detached HEAD, so it has no base branch to merge into"
        ))
        .hint(format!(
            "merge it yourself: `git merge --no-ff {}`",
            flow.integration_branch
        )));
    };
    let base_short = base_ref
        .strip_prefix("refs/heads/")
        .ok_or_else(|| WorkError::invalid(format!("the base {base_ref} is not a branch")))?
        .to_owned();
    let base_tip = crate::git::branch_tip(repo, &base_short).ok_or_else(|| {
        WorkError::invalid(format!(
            "the base branch {base_short} does not exist any more"
        ))
    })?;
    let integ = integration_tip(repo, entry)?;
    let retry = format!("git aiflow finish {slug}");
    open_findings(flow, &Policy::load(repo, Some(base_tip))?)?;
    let already = crate::git::is_ancestor(repo, integ, base_tip);
    let merged = if already {
        None
    } else {
        super::test::require_passed(
            repo,
            &Policy::load(repo, Some(base_tip))?,
            integ,
            &format!("the integration branch {}", flow.integration_branch),
            &format!(
                "check it out and test it: `git worktree add ../{slug}-tested {}`, then `git aiflow test --integration --flow {slug}` there",
                flow.integration_branch
            ),
        )?;
        // The policy names protected branches by their full ref: the base as recorded.
        gate(
            repo,
            &base_ref,
            base_tip,
            integ,
            &format!("flow {slug} cannot be merged into {base_short}"),
        )?;
        let message = merge_message(
            format!("Merge flow {slug}: {}", flow.title),
            &merged_list.join("\n"),
            &[(FLOW_KEY, &slug)],
        );
        let to = Target {
            branch: &base_short,
            tip: base_tip,
            retry: &retry,
        };
        Some(merge(repo, &to, integ, &flow.integration_branch, &message)?)
    };
    let refs: Vec<RefEdit> = merged.iter().filter_map(|m| m.edit.clone()).collect();
    let commit = merged.as_ref().map_or(base_tip, |m| m.merge.commit);
    record_finished(repo, &slug, &base_ref, commit, refs)?;
    Ok(Finish::Done(Finishing {
        flow: slug,
        into: base_ref,
        into_short: base_short,
        integration: flow.integration_branch.clone(),
        merge: merged.map(|m| m.merge),
        commit,
    }))
}

/// Under the policy's `audit = "resolved"`: refuse a flow with a security finding nobody has
/// accepted or dismissed, naming each.
fn open_findings(flow: &Flow, policy: &Policy) -> Result<(), WorkError> {
    let open = super::audit::open_findings(flow);
    if !policy.audit_resolved || open.is_empty() {
        return Ok(());
    }
    let n = open.len();
    let mut e = WorkError::refused(format!(
        "flow {} has {n} security finding{} nobody has judged, and {} says audit = \"resolved\"",
        flow.slug,
        if n == 1 { "" } else { "s" },
        policy.source
    ));
    for (_, f) in open.iter().take(10) {
        e = e.hint(format!(
            "{} {} {}{}: {}",
            f.id,
            f.severity.as_str(),
            f.file,
            f.line.map(|l| format!(":{l}")).unwrap_or_default(),
            f.what
        ));
    }
    Err(e.hint("judge each: `git aiflow audit accept <id> -m REASON` or `git aiflow audit dismiss <id> -m REASON`"))
}

/// Record flow `slug` as finished into `base_ref` (a full ref name) with `commit`, moving the
/// refs of `refs` in the same transaction.
fn record_finished(
    repo: &gix::Repository,
    slug: &str,
    base_ref: &str,
    commit: ObjectId,
    refs: Vec<RefEdit>,
) -> Result<(), WorkError> {
    let stamp = crate::git::committer_stamp(repo)?;
    let finished = Finished {
        extra: Default::default(),
        at: stamp.at.clone(),
        by: stamp.who.clone(),
        into: base_ref.to_owned(),
        commit: commit.to_string(),
    };
    let base_short = crate::git::short_ref(base_ref);
    crate::store::update_flow_with(
        repo,
        slug,
        &format!("aiflow: finish {slug} into {base_short}"),
        &stamp,
        |flow, _| -> Result<Option<Change>, WorkError> {
            flow.status = FlowStatus::Finished;
            flow.finished = Some(finished.clone());
            Ok(Some(Change {
                notes: vec![],
                refs: refs.clone(),
            }))
        },
    )?;
    Ok(())
}

/// Refuse a flow that is not complete (a subtask neither merged nor dropped, or none merged);
/// the merged subtasks as lines of the merge message otherwise.
fn complete(flow: &Flow) -> Result<Vec<String>, WorkError> {
    let slug = &flow.slug;
    let Some(plan) = flow.current_plan() else {
        return Err(
            WorkError::refused(format!("flow {slug} has no plan, so nothing to finish"))
                .hint(format!("plan it: `git aiflow plan {slug}`")),
        );
    };
    let open: Vec<String> = plan
        .subtasks
        .iter()
        .filter(|s| !lifecycle::is_settled(s.status))
        .map(|s| format!("{} \"{}\" ({})", s.id, s.title, s.status.as_str()))
        .collect();
    if !open.is_empty() {
        let mut e = WorkError::refused(format!(
            "flow {slug} is not complete: {} subtask{} not merged",
            open.len(),
            if open.len() == 1 { " is" } else { "s are" }
        ));
        for o in &open {
            e = e.hint(format!("not merged: {o}"));
        }
        return Err(e.hint(
            "integrate them (`git aiflow integrate <id>`), or drop them with `git aiflow plan edit`",
        ));
    }
    let merged: Vec<String> = plan
        .subtasks
        .iter()
        .filter(|s| s.status == SubtaskStatus::Merged)
        .map(|s| format!("- {} {}", s.id, s.title))
        .collect();
    if merged.is_empty() {
        return Err(WorkError::refused(format!(
            "flow {slug} has no merged subtask; there is nothing to finish"
        )));
    }
    Ok(merged)
}

/// Run the gate on `target_tip..tip` for `target`, a full ref name (`refs/heads/main`): the
/// policy's protection of it decides the scope. Refuse with the failures.
fn gate(
    repo: &gix::Repository,
    target: &str,
    target_tip: ObjectId,
    tip: ObjectId,
    what: &str,
) -> Result<Report, WorkError> {
    let policy = Policy::load(repo, Some(target_tip))?;
    let scope = policy.protection(target).unwrap_or(Scope::Full);
    let rules = Rules::from_config(&repo.config_snapshot());
    let mut binder = crate::gate::bind::NotesBinder::for_repo(repo);
    let report = check(
        repo,
        &mut GixObjects(repo),
        &Range {
            tips: vec![tip],
            hidden: vec![target_tip],
        },
        &policy,
        &rules,
        scope,
        &mut binder,
    )?;
    if report.ok() {
        return Ok(report);
    }
    let n = report.failures.len();
    let mut e = WorkError::refused(format!(
        "{what}: {n} commit{} without a valid review",
        if n == 1 { "" } else { "s" }
    ));
    for f in report.failures.iter().take(10) {
        e = e.hint(format!(
            "{} {} ({}): {}",
            f.id.to_hex_with_len(12),
            f.subject,
            f.author,
            f.reason.describe(&policy)
        ));
    }
    if n > 10 {
        e = e.hint(format!(
            "and {} more: `git aiflow check {}..{}`",
            n - 10,
            target_tip.to_hex_with_len(12),
            tip.to_hex_with_len(12)
        ));
    }
    Err(e)
}

/// The branch a merge goes into.
struct Target<'a> {
    /// Its short name.
    branch: &'a str,
    /// Its tip, the merge's first parent.
    tip: ObjectId,
    /// The command to run again once the user resolved what stopped the merge.
    retry: &'a str,
}

/// Merge `theirs` (named `theirs_name`) into `to` with a merge commit carrying `message`: with
/// `git merge` where the branch is checked out, with gix (verified to be git's automatic merge)
/// elsewhere.
fn merge(
    repo: &gix::Repository,
    to: &Target<'_>,
    theirs: ObjectId,
    theirs_name: &str,
    message: &str,
) -> Result<Merged, WorkError> {
    let (branch, ours, retry) = (to.branch, to.tip, to.retry);
    if let Some(dir) = crate::git::checkout_of(repo, branch) {
        let commit = git_merge::merge_in_worktree(repo, &dir, branch, theirs_name, message)
            .map_err(|e| worktree_error(e, &dir, to, theirs_name))?;
        return Ok(Merged {
            merge: Merge {
                commit,
                via: Via::GitMerge,
            },
            edit: None,
        });
    }
    let refused = |e: MergeError| {
        match e {
        MergeError::Conflicts { files } => WorkError::refused(format!(
            "{theirs_name} conflicts with {branch} in: {}",
            files.join(", ")
        ))
        .hint(format!(
            "merge it in a work tree to resolve the conflicts: `git switch {branch}`, then `{retry}` again (git leaves the conflicts for you to resolve)"
        )),
        e => WorkError::invalid(e.to_string()).because(e),
    }
    };
    let tree = git_merge::merge_trees(repo, ours, theirs, branch, theirs_name).map_err(refused)?;
    let me = crate::git::rewrite::committer(repo)?;
    let id = git_merge::write_commit(repo, tree, &[ours, theirs], message, me, signing(repo)?)
        .map_err(refused)?;
    // The gate exempts a merge only when its tree is git's automatic merge: make sure this one
    // is, before anything moves.
    let verdict = remerge::verify(
        repo,
        &[MergeCommit {
            id,
            parents: vec![ours, theirs],
            tree,
        }],
    )
    .map_err(crate::gate::CheckError::from)?;
    if verdict.first() != Some(&Verdict::Clean) {
        return Err(WorkError::refused(format!(
            "the merge of {theirs_name} into {branch} computed here is not git's automatic merge ({}); nothing moved",
            verdict.first().map(|v| v.describe()).unwrap_or_default()
        ))
        .hint(format!(
            "merge it with git in a work tree: `git switch {branch}`, then `{retry}` again"
        )));
    }
    Ok(Merged {
        merge: Merge {
            commit: id,
            via: Via::Gix,
        },
        edit: Some(branch_edit(
            branch,
            Some(ours),
            id,
            format!("merge {theirs_name}: Merge made by git-aiflow"),
        )?),
    })
}

/// Why `git merge` in `dir` did not merge, and what to do about it.
fn worktree_error(e: MergeError, dir: &Path, to: &Target<'_>, theirs_name: &str) -> WorkError {
    let (branch, retry) = (to.branch, to.retry);
    match e {
        MergeError::MessageFile { source, .. } => {
            WorkError::invalid("input/output error").because(source)
        }
        MergeError::Git(e) => WorkError::Git(e),
        MergeError::Open(e) => WorkError::Open(e),
        MergeError::Incomplete { conflicted, stderr } => {
            let e = WorkError::refused(format!(
                "`git merge {theirs_name}` into {branch} in {} did not complete",
                dir.display()
            ))
            .because(stderr);
            if conflicted {
                e.hint(format!(
                    "resolve the conflicts in {}, `git add` the files and `git commit` (the message is prepared); then run `{retry}` again to record it",
                    dir.display()
                ))
                .hint("or give up with `git merge --abort`")
            } else {
                e.hint("fix what git or a hook reported, then try again")
            }
        }
        MergeError::BranchGone => WorkError::refused(format!(
            "git merged, but branch {branch} is gone (deleted by a hook?)"
        ))
        .hint(format!(
            "look at `git reflog {branch}` and the hooks, then try again"
        )),
        e => WorkError::invalid(e.to_string()).because(e),
    }
}

/// A merge commit's message: the subject, the body when there is one, then the trailers.
fn merge_message(subject: String, body: &str, trailers: &[(&str, &str)]) -> String {
    let mut m = subject;
    m.push('\n');
    if !body.trim().is_empty() {
        m.push('\n');
        m.push_str(body.trim_end());
        m.push('\n');
    }
    m.push('\n');
    for (k, v) in trailers {
        m.push_str(&format!("{k}: {v}\n"));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_message_has_subject_body_and_trailers() {
        let m = merge_message(
            "Merge subtask k3f9: Limiter".into(),
            "Flow rate-limit: Rate limiting\n\n",
            &[(FLOW_KEY, "rate-limit"), (SUBTASK_KEY, "k3f9")],
        );
        assert_eq!(
            m,
            "Merge subtask k3f9: Limiter\n\nFlow rate-limit: Rate limiting\n\nAiflow-Flow: rate-limit\nAiflow-Subtask: k3f9\n"
        );
    }

    #[test]
    fn merge_message_without_a_body() {
        let m = merge_message("Merge flow x: X".into(), "  \n", &[(FLOW_KEY, "x")]);
        assert_eq!(m, "Merge flow x: X\n\nAiflow-Flow: x\n");
    }

    #[test]
    fn via_names() {
        assert_eq!(Via::Gix.as_str(), "gix");
        assert_eq!(Via::GitMerge.as_str(), "git merge");
    }
}
