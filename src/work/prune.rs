//! After `finish`: back to the base branch when that is safe, and deleting a finished flow's
//! branches once their work is in the base (`finish --delete-branches`, `prune`).

use super::WorkError;
use crate::flow::{Flow, FlowStatus};
use crate::git::{self, checkout_of, cli, current_branch};
use serde::Serialize;
use std::path::Path;

/// What became of one of a flow's branches.
#[derive(Debug, Clone, Serialize)]
pub struct Pruned {
    /// The branch's short name.
    pub branch: String,
    /// Its tip.
    pub tip: String,
    /// `deleted`, `would-delete` (dry run), `unmerged` (kept: its tip is not in the base),
    /// `checked-out` (kept: a work tree has it), or `failed` (git refused; see `reason`).
    pub outcome: &'static str,
    /// Why it was kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where `finish` left HEAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Returned {
    /// It switched to the base branch.
    Switched(String),
    /// HEAD is not on one of the flow's branches (or on the base already): left as it was.
    Stayed,
    /// The work tree has changes, or git could not switch: left on `branch`, with why.
    Kept {
        /// The branch checked out.
        branch: String,
        /// Why it stayed.
        why: String,
    },
}

/// Every branch of `flow`: its integration branch, then its subtasks' branches, in plan order.
pub fn branches(flow: &Flow) -> Vec<String> {
    let mut out = vec![flow.integration_branch.clone()];
    for s in flow.plans.iter().flat_map(|p| &p.subtasks) {
        if let Some(b) = &s.branch
            && !out.contains(b)
        {
            out.push(b.clone());
        }
    }
    out
}

/// The directory git commands run in: the work tree, or the git dir of a bare repository.
fn here(repo: &gix::Repository) -> &Path {
    repo.workdir().unwrap_or_else(|| repo.git_dir())
}

/// After `finish`: when HEAD is on one of `flow`'s branches and the work tree is clean, switch
/// to the base branch `base` (short name).
pub fn return_to_base(
    repo: &gix::Repository,
    flow: &Flow,
    base: &str,
) -> Result<Returned, WorkError> {
    let Some(workdir) = repo.workdir() else {
        return Ok(Returned::Stayed);
    };
    let Some(current) = current_branch(repo) else {
        return Ok(Returned::Stayed);
    };
    if current == base || !branches(flow).contains(&current) {
        return Ok(Returned::Stayed);
    }
    if let Some(elsewhere) = checkout_of(repo, base)
        && elsewhere != workdir
    {
        return Ok(Returned::Kept {
            branch: current,
            why: format!("{base} is checked out in {}", elsewhere.display()),
        });
    }
    if cli::is_dirty(workdir)? {
        return Ok(Returned::Kept {
            branch: current,
            why: "the work tree has changes".into(),
        });
    }
    let ran = cli::run(workdir, &["switch", "--quiet", base], &[], None)?;
    if !ran.ok() {
        return Ok(Returned::Kept {
            branch: current,
            why: ran.stderr.trim().to_string(),
        });
    }
    Ok(Returned::Switched(base.to_string()))
}

/// Delete `flow`'s branches whose tips are in its base branch (`dry_run`: only say which would
/// go). A branch not in the base, or checked out in a work tree, is kept and said so.
pub fn prune(repo: &gix::Repository, flow: &Flow, dry_run: bool) -> Result<Vec<Pruned>, WorkError> {
    let base = flow
        .base_ref
        .as_deref()
        .and_then(|r| r.strip_prefix("refs/heads/"))
        .ok_or_else(|| {
            WorkError::invalid(format!(
                "flow {} has no base branch to compare its branches with",
                flow.slug
            ))
        })?;
    let base_tip = git::branch_tip(repo, base).ok_or_else(|| {
        WorkError::invalid(format!("the base branch {base} does not exist any more"))
    })?;
    let mut out = Vec::new();
    for branch in branches(flow) {
        let Some(tip) = git::branch_tip(repo, &branch) else {
            continue;
        };
        let (outcome, reason) = if !git::is_ancestor(repo, tip, base_tip) {
            ("unmerged", Some(format!("not merged into {base}")))
        } else if let Some(dir) = checkout_of(repo, &branch) {
            (
                "checked-out",
                Some(format!("checked out in {}", dir.display())),
            )
        } else if dry_run {
            ("would-delete", None)
        } else {
            // Compare-and-swap on the tip checked above: a branch that moved meanwhile stays.
            let full = format!("refs/heads/{branch}");
            let ran = cli::run(
                here(repo),
                &["update-ref", "-d", &full, &tip.to_string()],
                &[],
                None,
            )?;
            if ran.ok() {
                ("deleted", None)
            } else {
                ("failed", Some(ran.stderr.trim().to_string()))
            }
        };
        out.push(Pruned {
            branch,
            tip: tip.to_string(),
            outcome,
            reason,
        });
    }
    Ok(out)
}

/// Whether `flow` is finished, so that `prune` may take its branches.
pub fn is_finished(flow: &Flow) -> bool {
    flow.status == FlowStatus::Finished
}
