//! What `check` judges: the range of commits, its label, the policy that applies and the scope,
//! from revisions as `git rev-list` takes them or, with none, from the current merge
//! (`MERGE_HEAD`) or the current flow branch.

use super::bind::NotesBinder;
use super::walk::{GixObjects, Range};
use super::{CheckError, Policy, PolicyError, Report, Scope};
use crate::flow::names::{self, BRANCH_PREFIX};
use crate::git::trailers::Rules;
use crate::store::{Snapshot, StoreError};
use gix::ObjectId;
use std::error::Error as StdError;

/// What to check and how.
#[derive(Debug)]
pub struct Plan {
    /// The commits.
    pub range: Range,
    /// The range as the user would write it (`main..topic`, `HEAD..MERGE_HEAD`).
    pub label: String,
    /// The policy the commits are judged by.
    pub policy: Policy,
    /// Which commits must carry a review.
    pub scope: Scope,
}

/// Why the range to check could not be worked out.
#[derive(Debug, thiserror::Error)]
pub enum RangeError {
    /// A symmetric range (`A...B`).
    #[error("{arg:?}: symmetric ranges (A...B) are not supported")]
    Symmetric {
        /// The argument.
        arg: String,
    },
    /// An argument that does not resolve.
    #[error("{arg:?} is not a revision: {source}")]
    NotARevision {
        /// The argument.
        arg: String,
        /// What gix reported.
        source: Box<dyn StdError + Send + Sync>,
    },
    /// An argument that names an object other than a commit.
    #[error("{arg:?} does not name a commit")]
    NotACommit {
        /// The argument.
        arg: String,
    },
    /// A revision specification `check` does not take (`A...B` spelled otherwise, `@{-1}`…).
    #[error("{arg:?} is not a revision or a range check understands")]
    Unsupported {
        /// The argument.
        arg: String,
    },
    /// HEAD cannot be read.
    #[error("cannot read HEAD: {0}")]
    Head(String),
    /// The refs cannot be listed or one of them read (`--all`).
    #[error("cannot read the refs: {0}")]
    Refs(String),
    /// No revisions, no merge in progress, and HEAD detached.
    #[error("HEAD is detached and no merge is in progress")]
    Detached,
    /// The current branch has no commits.
    #[error("{branch} has no commits yet")]
    Unborn {
        /// The branch (short name).
        branch: String,
    },
    /// The flow's recorded base commit is not an object id.
    #[error("flow {slug} has a malformed base_commit")]
    MalformedBase {
        /// The flow.
        slug: String,
    },
    /// The current branch is not a flow's, and no merge is in progress.
    #[error("{branch} is not a flow branch and no merge is in progress")]
    NotAFlowBranch {
        /// The branch (short name).
        branch: String,
    },
    /// The policy could not be read.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The merge in progress could not be read.
    #[error(transparent)]
    Merge(#[from] super::hook::HookError),
    /// The flows could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Check the commits of `plan` against its policy, with the trailer rules of `repo`'s config and
/// the approvals recorded in its notes.
pub fn run(repo: &gix::Repository, plan: &Plan) -> Result<Report, CheckError> {
    let rules = Rules::from_config(&repo.config_snapshot());
    let mut binder = NotesBinder::for_repo(repo);
    super::check(
        repo,
        &mut GixObjects(repo),
        &plan.range,
        &plan.policy,
        &rules,
        plan.scope,
        &mut binder,
    )
}

/// The plan for explicit revisions (`A..B`, `^A`, `B`), and with `all` every ref as tips, as
/// `git rev-list --all` takes them.
pub fn explicit(repo: &gix::Repository, revs: &[String], all: bool) -> Result<Plan, RangeError> {
    let mut range = Range::default();
    if all {
        range.tips = all_refs(repo)?;
    }
    for arg in revs {
        add_revision(repo, arg, &mut range)?;
    }
    // `A..B` is what B brings into A: A's policy applies if A has one, else the trunk's. When A
    // names a flow's integration branch (`aiflow/x`, `origin/aiflow/x`), every commit must also
    // belong to a subtask with a recorded approval, as the hooks require.
    let policy = Policy::load_for_range(repo, range.hidden.first().copied())?;
    let scope = if revs.iter().filter_map(|r| excluded_name(r)).any(|name| {
        integration_branch(repo, name).is_some_and(|b| {
            policy.protection(&format!("refs/heads/{b}")) == Some(Scope::Integration)
        })
    }) {
        Scope::Integration
    } else {
        Scope::Full
    };
    Ok(Plan {
        range,
        label: all
            .then_some("--all")
            .into_iter()
            .chain(revs.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        policy,
        scope,
    })
}

/// The commits `--all` starts from, as git's: every ref under `refs/` and `HEAD`, peeled; refs
/// that end at a tree or a blob (tags of them) are skipped, as `git log --all` skips them. A
/// ref that cannot be read fails the check, as it fails git's walk.
fn all_refs(repo: &gix::Repository) -> Result<Vec<ObjectId>, RangeError> {
    let bad = |name: &str, e: &dyn std::fmt::Display| RangeError::Refs(format!("{name}: {e}"));
    let platform = repo.references().map_err(|e| bad("refs/", &e))?;
    let mut tips = Vec::new();
    let mut add = |name: &str, id: ObjectId| -> Result<(), RangeError> {
        let header = repo.find_header(id).map_err(|e| bad(name, &e))?;
        if header.kind() == gix::object::Kind::Commit {
            tips.push(id);
        }
        Ok(())
    };
    for r in platform.all().map_err(|e| bad("refs/", &e))? {
        let mut r = r.map_err(|e| bad("refs/", &e))?;
        let name = r.name().as_bstr().to_string();
        let id = r.peel_to_id().map_err(|e| bad(&name, &e))?.detach();
        add(&name, id)?;
    }
    if let Some(head) = crate::git::ref_id(repo, "HEAD").map_err(|e| bad("HEAD", &e.source))? {
        add("HEAD", head)?;
    }
    tips.sort();
    tips.dedup();
    Ok(tips)
}

/// Resolve one argument into `range`.
fn add_revision(repo: &gix::Repository, arg: &str, range: &mut Range) -> Result<(), RangeError> {
    if arg.contains("...") {
        return Err(RangeError::Symmetric { arg: arg.into() });
    }
    if let Some(rest) = arg.strip_prefix('^') {
        range.hidden.push(commit_of(repo, rest, arg)?);
        return Ok(());
    }
    let spec = repo.rev_parse(arg).map_err(|e| bad_rev(arg, e))?.detach();
    use gix::revision::plumbing::Spec;
    match spec {
        Spec::Include(id) => range.tips.push(peel(repo, id, arg)?),
        Spec::Exclude(id) => range.hidden.push(peel(repo, id, arg)?),
        Spec::Range { from, to } => {
            range.hidden.push(peel(repo, from, arg)?);
            range.tips.push(peel(repo, to, arg)?);
        }
        _ => return Err(RangeError::Unsupported { arg: arg.into() }),
    }
    Ok(())
}

/// The revision a range argument excludes, as written (`A` in `A..B` and `^A`).
fn excluded_name(arg: &str) -> Option<&str> {
    arg.strip_prefix('^')
        .or_else(|| arg.split_once("..").map(|(a, _)| a))
        .filter(|a| !a.is_empty())
}

/// The local name of the branch `name` refers to (`aiflow/x` for `aiflow/x`, `refs/heads/aiflow/x`,
/// `origin/aiflow/x`, `refs/remotes/origin/aiflow/x`), if it names a branch at all.
fn integration_branch<'a>(repo: &gix::Repository, name: &'a str) -> Option<&'a str> {
    let name = name
        .strip_prefix("refs/heads/")
        .or_else(|| name.strip_prefix("refs/remotes/"))
        .unwrap_or(name);
    if name.starts_with(BRANCH_PREFIX) {
        return Some(name);
    }
    let (remote, rest) = name.split_once('/')?;
    let is_remote = repo
        .remote_names()
        .iter()
        .any(|r| AsRef::<[u8]>::as_ref(r) == remote.as_bytes());
    (is_remote && rest.starts_with(BRANCH_PREFIX)).then_some(rest)
}

fn bad_rev(arg: &str, e: impl StdError + Send + Sync + 'static) -> RangeError {
    RangeError::NotARevision {
        arg: arg.into(),
        source: Box::new(e),
    }
}

fn commit_of(repo: &gix::Repository, rev: &str, arg: &str) -> Result<ObjectId, RangeError> {
    let id = repo.rev_parse_single(rev).map_err(|e| bad_rev(arg, e))?;
    peel(repo, id.detach(), arg)
}

fn peel(repo: &gix::Repository, id: ObjectId, arg: &str) -> Result<ObjectId, RangeError> {
    let object = repo.find_object(id).map_err(|e| bad_rev(arg, e))?;
    let commit = object
        .peel_to_commit()
        .map_err(|_| RangeError::NotACommit { arg: arg.into() })?;
    Ok(commit.id)
}

/// The plan with no revisions: the current merge, or the current flow branch against its
/// target.
pub fn implicit(repo: &gix::Repository) -> Result<Plan, RangeError> {
    let head = repo.head().map_err(|e| RangeError::Head(e.to_string()))?;
    let branch = head.referent_name().map(|n| n.as_bstr().to_string());

    let tips = super::hook::merge_heads(repo)?;
    if !tips.is_empty() {
        let current = branch.as_deref().and_then(|b| tip(repo, b));
        let policy = Policy::load(repo, current)?;
        let scope = branch
            .as_deref()
            .and_then(|b| policy.protection(b))
            .unwrap_or(Scope::Full);
        return Ok(Plan {
            range: Range {
                tips,
                hidden: current.into_iter().collect(),
            },
            label: "HEAD..MERGE_HEAD".into(),
            policy,
            scope,
        });
    }
    let Some(branch) = branch else {
        return Err(RangeError::Detached);
    };
    let short = branch.trim_start_matches("refs/heads/").to_owned();
    let head_id = tip(repo, &branch).ok_or_else(|| RangeError::Unborn {
        branch: short.clone(),
    })?;
    // A subtask branch goes into its integration branch.
    if let Some(integration) = names::integration_of_subtask(&short) {
        let target = format!("refs/heads/{integration}");
        let current = tip(repo, &target);
        let policy = Policy::load(repo, current)?;
        return Ok(Plan {
            range: Range {
                tips: vec![head_id],
                hidden: current.into_iter().collect(),
            },
            label: format!("{}..{short}", target.trim_start_matches("refs/heads/")),
            scope: policy.protection(&target).unwrap_or(Scope::Full),
            policy,
        });
    }
    integration(repo, &short, head_id)
}

/// The plan for an integration branch: what it brings into its flow's base.
fn integration(repo: &gix::Repository, short: &str, head_id: ObjectId) -> Result<Plan, RangeError> {
    let set = Snapshot::load(repo)?.flows(repo)?;
    let not_a_flow = || RangeError::NotAFlowBranch {
        branch: short.to_owned(),
    };
    let slug = crate::work::flow_of_branch(&set, short).ok_or_else(not_a_flow)?;
    let flow = &set.find(&slug).map_err(|_| not_a_flow())?.flow;
    let base_tip = flow.base_ref.as_deref().and_then(|b| {
        let full = if b.starts_with("refs/") {
            b.to_owned()
        } else {
            format!("refs/heads/{b}")
        };
        tip(repo, &full).map(|id| (full, id))
    });
    let (hidden, label, target) = match base_tip {
        Some((full, id)) => (
            id,
            format!("{}..{short}", full.trim_start_matches("refs/heads/")),
            Some(full),
        ),
        None => {
            let id = ObjectId::from_hex(flow.base_commit.as_bytes())
                .map_err(|_| RangeError::MalformedBase { slug: slug.clone() })?;
            (id, format!("{}..{short}", &flow.base_commit[..12]), None)
        }
    };
    let policy = Policy::load(repo, Some(hidden))?;
    let scope = target
        .as_deref()
        .and_then(|t| policy.protection(t))
        .unwrap_or(Scope::Full);
    Ok(Plan {
        range: Range {
            tips: vec![head_id],
            hidden: vec![hidden],
        },
        label,
        policy,
        scope,
    })
}

/// The commit a ref points to, if it exists and can be read.
fn tip(repo: &gix::Repository, name: &str) -> Option<ObjectId> {
    crate::git::ref_id(repo, name).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::excluded_name;

    #[test]
    fn the_excluded_side_of_a_range() {
        assert_eq!(excluded_name("main..topic"), Some("main"));
        assert_eq!(excluded_name("^main"), Some("main"));
        assert_eq!(excluded_name("..topic"), None);
        assert_eq!(excluded_name("topic"), None);
    }
}
