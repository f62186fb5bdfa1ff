//! `git aiflow integrate` and `git aiflow finish`: `--no-ff` merges of an approved subtask into
//! the integration branch, and of a complete integration branch into its base.
//!
//! Both run the gate first, as every ref move the tool makes must. A branch checked out nowhere is
//! merged with gix and moved by compare-and-swap in the same transaction as the flow's note; a
//! checked-out one is merged with `git merge` in its work tree, so that hooks run and conflicts
//! land where the user can resolve them.

use super::work::{self, Which};
use super::{CliError, Ctx};
use crate::flow::lifecycle::{self, Action, Refusal};
use crate::flow::{Finished, FlowStatus, SubtaskStatus};
use crate::gate::walk::{GixObjects, Range};
use crate::gate::{Policy, Report, Scope, check};
use crate::git::{cli as git, trailers::Rules};
use crate::store::Change;
use gix::ObjectId;
use gix::refs::transaction::RefEdit;
use serde_json::json;
use std::io::Write;
use std::path::Path;

/// Arguments of `integrate`.
#[derive(Debug, clap::Args)]
pub struct IntegrateArgs {
    #[command(flatten)]
    pub which: Which,
    /// Print JSON: {"flow", "subtask", "merge", "via"}.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `finish`.
#[derive(Debug, clap::Args)]
pub struct FinishArgs {
    /// The flow (default: the current branch's flow).
    pub slug: Option<String>,
    /// Print JSON: {"flow", "into", "merge", "via"}.
    #[arg(long)]
    pub json: bool,
}

/// A merge made, or ready to be made by moving a ref.
struct Merged {
    commit: ObjectId,
    /// The ref edit still to apply (gix path); `None` when git already moved the branch.
    edit: Option<RefEdit>,
    via: &'static str,
}

/// Run the gate on `hidden..tip` for `target` (full ref name); refuse with the failures.
fn gate(
    repo: &gix::Repository,
    target: &str,
    target_tip: ObjectId,
    tip: ObjectId,
    what: &str,
) -> Result<Report, CliError> {
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
    let mut e = CliError::refused(format!(
        "{what}: {} commit{} without a valid review",
        report.failures.len(),
        if report.failures.len() == 1 { "" } else { "s" }
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
    if report.failures.len() > 10 {
        e = e.hint(format!(
            "and {} more: `git aiflow check {}..{}`",
            report.failures.len() - 10,
            target_tip.to_hex_with_len(12),
            tip.to_hex_with_len(12)
        ));
    }
    Err(e)
}

/// Merge `theirs` into `branch` (short name) with a merge commit carrying `message`.
fn merge(
    repo: &gix::Repository,
    branch: &str,
    ours: ObjectId,
    theirs: ObjectId,
    theirs_name: &str,
    message: &str,
    retry: &str,
) -> Result<Merged, CliError> {
    if let Some(dir) = work::checkout_of(repo, branch) {
        return merge_with_git(repo, &dir, branch, theirs_name, message, retry);
    }
    let options = repo
        .tree_merge_options()
        .map_err(|e| CliError::usage("could not read the merge configuration").source(e))?;
    let labels = gix::merge::blob::builtin_driver::text::Labels {
        ancestor: None,
        current: Some(branch.into()),
        other: Some(theirs_name.into()),
    };
    let mut outcome = repo
        .merge_commits(ours, theirs, labels, options.into())
        .map_err(|e| {
            CliError::usage(format!("could not merge {theirs_name} into {branch}")).source(e)
        })?;
    if outcome
        .tree_merge
        .has_unresolved_conflicts(gix::merge::tree::TreatAsUnresolved::git())
    {
        let mut files: Vec<String> = outcome
            .tree_merge
            .conflicts
            .iter()
            .map(|c| c.ours.location().to_string())
            .collect();
        files.sort();
        files.dedup();
        return Err(CliError::refused(format!(
            "{theirs_name} conflicts with {branch} in: {}",
            files.join(", ")
        ))
        .hint(format!(
            "merge it in a work tree to resolve the conflicts: `git switch {branch}`, then `{retry}` again (git leaves the conflicts for you to resolve)"
        )));
    }
    let tree = outcome
        .tree_merge
        .tree
        .write()
        .map_err(|e| CliError::usage("could not write the merged tree").source(e))?
        .detach();
    let me = crate::git::rewrite::committer(repo)?;
    let author = repo
        .author()
        .transpose()
        .ok()
        .flatten()
        .map(gix::actor::Signature::from)
        .unwrap_or_else(|| me.clone());
    let mut commit = gix::objs::Commit {
        tree,
        parents: [ours, theirs].into_iter().collect(),
        author,
        committer: me,
        encoding: None,
        message: message.into(),
        extra_headers: Vec::new(),
    };
    if let Some(options) = super::exec::signing(repo)? {
        commit = commit
            .sign(options)
            .map_err(|e| CliError::usage("could not sign the merge commit").source(e))?;
    }
    let id = repo
        .write_object(&commit)
        .map_err(|e| CliError::usage("could not write the merge commit").source(e))?
        .detach();
    // The gate exempts a merge only when its tree is git's automatic merge: make sure this one
    // is, before anything moves.
    let verdict = crate::gate::remerge::verify(
        repo,
        &[crate::gate::remerge::MergeCommit {
            id,
            parents: vec![ours, theirs],
            tree,
        }],
    )
    .map_err(crate::gate::CheckError::from)?;
    if verdict.first() != Some(&crate::gate::remerge::Verdict::Clean) {
        return Err(CliError::refused(format!(
            "the merge of {theirs_name} into {branch} computed here is not git's automatic merge ({}); nothing moved",
            verdict.first().map(|v| v.describe()).unwrap_or_default()
        ))
        .hint(format!(
            "merge it with git in a work tree: `git switch {branch}`, then `{retry}` again"
        )));
    }
    Ok(Merged {
        commit: id,
        edit: Some(work::branch_edit(
            branch,
            Some(ours),
            id,
            format!("merge {theirs_name}: Merge made by git-aiflow"),
        )?),
        via: "gix",
    })
}

fn merge_with_git(
    repo: &gix::Repository,
    dir: &Path,
    branch: &str,
    theirs_name: &str,
    message: &str,
    retry: &str,
) -> Result<Merged, CliError> {
    let common = repo.common_dir();
    let msg_file = std::fs::canonicalize(common)
        .unwrap_or_else(|_| common.to_owned())
        .join("aiflow")
        .join(format!("MERGE-{}.txt", branch.replace('/', "-")));
    if let Some(parent) = msg_file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&msg_file, message)?;
    let file = msg_file.to_string_lossy().into_owned();
    let r = git::run(
        dir,
        &[
            "merge",
            "--no-ff",
            "--no-edit",
            "--quiet",
            "-F",
            &file,
            theirs_name,
        ],
        &[],
        None,
    )?;
    let _ = std::fs::remove_file(&msg_file);
    if !r.ok() {
        let conflicted = dir.join(".git").exists()
            && git::run(
                dir,
                &["rev-parse", "-q", "--verify", "MERGE_HEAD"],
                &[],
                None,
            )?
            .ok();
        let mut e = CliError::refused(format!(
            "`git merge {theirs_name}` into {branch} in {} did not complete",
            dir.display()
        ))
        .source(super::error::Message(r.stderr.trim().to_owned()));
        e = if conflicted {
            e.hint(format!(
                "resolve the conflicts in {}, `git add` the files and `git commit` (the message is prepared); then run `{retry}` again to record it",
                dir.display()
            ))
            .hint("or give up with `git merge --abort`")
        } else {
            e.hint("fix what git or a hook reported, then try again")
        };
        return Err(e);
    }
    let repo = crate::git::open(dir)?;
    let commit = work::branch_tip(&repo, branch).ok_or_else(|| {
        CliError::refused(format!(
            "git merged, but branch {branch} is gone (deleted by a hook?)"
        ))
        .hint(format!(
            "look at `git reflog {branch}` and the hooks, then try again"
        ))
    })?;
    Ok(Merged {
        commit,
        edit: None,
        via: "git merge",
    })
}

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

/// `git aiflow integrate`.
pub fn integrate(ctx: &mut Ctx, args: &IntegrateArgs) -> Result<(), CliError> {
    let found = work::find(ctx, &args.which)?;
    let repo = ctx.repo()?.clone();
    let s = found.subtask().clone();
    let flow = found.flow().clone();
    let slug = flow.slug.clone();
    let integration = flow.integration_branch.clone();
    let branch = found.branch();
    if s.status == SubtaskStatus::Merged {
        if args.json {
            ctx.json(&json!({"flow": slug, "subtask": s.id, "merge": null, "via": null, "already": true}))?;
        } else {
            writeln!(ctx.out, "subtask {} is merged already", s.id)?;
        }
        return Ok(());
    }
    let not_approved = match lifecycle::may(Action::Integrate, &s) {
        Ok(()) => None,
        Err(r @ Refusal::NotApproved { .. }) => Some(r),
        Err(r) => return Err(r.into()),
    };
    let tip = work::branch_tip(&repo, &branch).ok_or_else(|| {
        CliError::refused(format!("subtask {} has no branch {branch}", s.id))
            .hint(format!("start it first: `git aiflow start {}`", s.id))
    })?;
    let integ = work::integration_tip(&repo, &found.entry)?;
    let retry = format!("git aiflow integrate {}", s.id);

    // Merged by hand already (a resolved conflict)? Then only record it.
    let already = super::exec::is_ancestor(&repo, tip, integ);
    // Merged by hand, through the gate: only the record is missing, approved or not.
    if let Some(r) = not_approved
        && !already
    {
        return Err(r.into());
    }
    let merged = if already {
        None
    } else {
        gate(
            &repo,
            &format!("refs/heads/{integration}"),
            integ,
            tip,
            &format!("subtask {} cannot be integrated", s.id),
        )?;
        let message = merge_message(
            format!("Merge subtask {}: {}", s.id, s.title),
            &format!("Flow {slug}: {}", flow.title),
            &[("Aiflow-Flow", &slug), ("Aiflow-Subtask", &s.id)],
        );
        Some(merge(
            &repo,
            &integration,
            integ,
            tip,
            &branch,
            &message,
            &retry,
        )?)
    };

    let stamp = crate::git::committer_stamp(&repo)?;
    let id = s.id.clone();
    let refs: Vec<RefEdit> = merged.iter().filter_map(|m| m.edit.clone()).collect();
    let (_, flow_now) = crate::store::update_flow_with(
        &repo,
        &slug,
        &format!("aiflow: integrate {id} into {integration}"),
        &stamp,
        |flow, _| -> Result<Option<Change>, CliError> {
            if !lifecycle::apply(flow, &id, Action::Integrate) {
                return Err(CliError::refused(format!(
                    "subtask {id} left the plan meanwhile"
                )));
            }
            Ok(Some(Change {
                notes: vec![],
                refs: refs.clone(),
            }))
        },
    )?;
    let new_tip = work::branch_tip(&repo, &integration);
    if args.json {
        ctx.json(&json!({
            "flow": slug,
            "subtask": s.id,
            "merge": merged.as_ref().map(|m| m.commit.to_string()),
            "integration_tip": new_tip.map(|t| t.to_string()),
            "via": merged.as_ref().map(|m| m.via),
        }))?;
    } else {
        match &merged {
            Some(m) => writeln!(
                ctx.out,
                "Integrated {} \"{}\" into {integration} ({}, merge {})",
                s.id,
                s.title,
                m.via,
                m.commit.to_hex_with_len(7)
            )?,
            None => writeln!(
                ctx.out,
                "{branch} is in {integration} already; recorded {} as merged",
                s.id
            )?,
        }
        match crate::flow::lifecycle::next_ready(&flow_now).0 {
            Some(n) => writeln!(ctx.out, "  next: `git aiflow start {}` ({})", n.id, n.title)?,
            None if flow_now.current_plan().is_some_and(|p| {
                p.subtasks
                    .iter()
                    .all(|s| matches!(s.status, SubtaskStatus::Merged | SubtaskStatus::Dropped))
            }) =>
            {
                writeln!(
                    ctx.out,
                    "  next: every subtask is in; `git aiflow finish {slug}`"
                )?
            }
            None => {}
        }
    }
    Ok(())
}

/// `git aiflow finish`.
pub fn finish(ctx: &mut Ctx, args: &FinishArgs) -> Result<(), CliError> {
    let (_, entry) = ctx.flow(args.slug.as_deref())?;
    let repo = ctx.repo()?.clone();
    let flow = entry.flow.clone();
    let slug = flow.slug.clone();
    if flow.status == FlowStatus::Finished {
        if args.json {
            ctx.json(&json!({"flow": slug, "into": flow.finished.as_ref().map(|f| &f.into), "merge": flow.finished.as_ref().map(|f| &f.commit), "via": null, "already": true}))?;
        } else {
            writeln!(ctx.out, "flow {slug} is finished already")?;
        }
        return Ok(());
    }
    let Some(plan) = flow.current_plan() else {
        return Err(
            CliError::refused(format!("flow {slug} has no plan, so nothing to finish"))
                .hint(format!("plan it: `git aiflow plan {slug}`")),
        );
    };
    let open: Vec<String> = plan
        .subtasks
        .iter()
        .filter(|s| !matches!(s.status, SubtaskStatus::Merged | SubtaskStatus::Dropped))
        .map(|s| format!("{} \"{}\" ({})", s.id, s.title, s.status.as_str()))
        .collect();
    if !open.is_empty() {
        let mut e = CliError::refused(format!(
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
    if !plan
        .subtasks
        .iter()
        .any(|s| s.status == SubtaskStatus::Merged)
    {
        return Err(CliError::refused(format!(
            "flow {slug} has no merged subtask; there is nothing to finish"
        )));
    }
    let Some(base_ref) = flow.base_ref.clone() else {
        return Err(CliError::usage(format!(
            "flow {slug} started on a detached HEAD, so it has no base branch to merge into"
        ))
        .hint(format!(
            "merge it yourself: `git merge --no-ff {}`",
            flow.integration_branch
        )));
    };
    let base_short = base_ref
        .strip_prefix("refs/heads/")
        .ok_or_else(|| CliError::usage(format!("the base {base_ref} is not a branch")))?
        .to_owned();
    let base_tip = work::branch_tip(&repo, &base_short).ok_or_else(|| {
        CliError::usage(format!(
            "the base branch {base_short} does not exist any more"
        ))
    })?;
    let integ = work::integration_tip(&repo, &entry)?;
    let retry = format!("git aiflow finish {slug}");
    let already = super::exec::is_ancestor(&repo, integ, base_tip);
    let merged = if already {
        None
    } else {
        gate(
            &repo,
            &base_ref,
            base_tip,
            integ,
            &format!("flow {slug} cannot be merged into {base_short}"),
        )?;
        let merged_list: Vec<String> = plan
            .subtasks
            .iter()
            .filter(|s| s.status == SubtaskStatus::Merged)
            .map(|s| format!("- {} {}", s.id, s.title))
            .collect();
        let message = merge_message(
            format!("Merge flow {slug}: {}", flow.title),
            &merged_list.join("\n"),
            &[("Aiflow-Flow", &slug)],
        );
        Some(merge(
            &repo,
            &base_short,
            base_tip,
            integ,
            &flow.integration_branch,
            &message,
            &retry,
        )?)
    };
    let stamp = crate::git::committer_stamp(&repo)?;
    let refs: Vec<RefEdit> = merged.iter().filter_map(|m| m.edit.clone()).collect();
    let commit = merged
        .as_ref()
        .map(|m| m.commit)
        .unwrap_or(base_tip)
        .to_string();
    let finished = Finished {
        extra: Default::default(),
        at: stamp.at.clone(),
        by: stamp.who.clone(),
        into: base_ref.clone(),
        commit: commit.clone(),
    };
    crate::store::update_flow_with(
        &repo,
        &slug,
        &format!("aiflow: finish {slug} into {base_short}"),
        &stamp,
        |flow, _| -> Result<Option<Change>, CliError> {
            flow.status = FlowStatus::Finished;
            flow.finished = Some(finished.clone());
            Ok(Some(Change {
                notes: vec![],
                refs: refs.clone(),
            }))
        },
    )?;
    if args.json {
        ctx.json(&json!({
            "flow": slug,
            "into": base_ref,
            "merge": commit,
            "via": merged.as_ref().map(|m| m.via),
        }))?;
    } else {
        writeln!(
            ctx.out,
            "Finished {slug}: {} merged into {base_short} ({})",
            flow.integration_branch,
            merged
                .as_ref()
                .map(|m| format!("{}, merge {}", m.via, m.commit.to_hex_with_len(7)))
                .unwrap_or_else(|| "it was there already".into())
        )?;
    }
    Ok(())
}
