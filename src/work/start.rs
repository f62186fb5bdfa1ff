//! `start`: create a subtask's branch from the integration branch (or go back to it), record
//! that it started, and check it out, here or in a new linked worktree.

use super::tree::workdir;
use super::{Found, WorkError, branch_edit, integration_tip};
use crate::Message;
use crate::flow::lifecycle::{self, Action};
use crate::flow::{FlowStatus, Subtask, SubtaskStatus};
use crate::git::{branch_tip, checkout_of, checkouts, cli as git, current_branch};
use crate::store::Change;
use gix::ObjectId;
use std::path::{Path, PathBuf};

/// Where to check the branch out.
#[derive(Debug, Clone, Default)]
pub enum Checkout {
    /// Switch the current work tree to it.
    #[default]
    Switch,
    /// Add a linked worktree for it, at this path (`None`: a sibling of the main work tree,
    /// `<dir>-<id>`).
    Worktree(Option<PathBuf>),
}

/// How to start a subtask.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Start even if its dependencies are not merged yet.
    pub force: bool,
    /// Where to check its branch out.
    pub checkout: Checkout,
}

/// Where the branch ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// It was checked out in this work tree already: nothing was done.
    Elsewhere(PathBuf),
    /// The current work tree switched to it.
    Here,
    /// A new linked worktree at this path has it.
    Worktree(PathBuf),
}

/// A started subtask.
#[derive(Debug, Clone)]
pub struct Started {
    /// The flow's slug.
    pub flow: String,
    /// The subtask.
    pub subtask: Subtask,
    /// Its branch.
    pub branch: String,
    /// Where the branch was when it was checked out.
    pub base: ObjectId,
    /// Whether the branch existed already (a switch back to it, not a start).
    pub existed: bool,
    /// Where it is checked out.
    pub place: Place,
}

/// Start `found` (or switch back to it) as `options` say.
pub fn start(
    repo: &gix::Repository,
    found: &Found,
    options: &StartOptions,
) -> Result<Started, WorkError> {
    let flow = found.flow();
    let s = found.subtask().clone();
    let branch = found.branch();
    let existing = branch_tip(repo, &branch);
    let integ = integration_tip(repo, &found.entry)?;
    lifecycle::may_start(flow, &s, existing.is_none(), options.force)?;
    if existing.is_some() && s.branch.as_deref() != Some(branch.as_str()) {
        return Err(WorkError::invalid(format!(
            "a branch {branch} exists already, but the plan does not record it for subtask {}",
            s.id
        ))
        .hint(format!(
            "rename or delete that branch (`git branch -m {branch} <other>`), then start again"
        )));
    }
    let base = existing.unwrap_or(integ);
    let mut started = Started {
        flow: flow.slug.clone(),
        subtask: s,
        branch,
        base,
        existed: existing.is_some(),
        place: Place::Here,
    };

    // Where it will be checked out, checked before anything moves.
    let (here, worktree) = match target(
        repo,
        &options.checkout,
        &started.subtask.id,
        &started.branch,
        base,
    )? {
        Target::Elsewhere(already) => {
            started.place = Place::Elsewhere(already);
            return Ok(started);
        }
        Target::Go { here, worktree } => (here, worktree),
    };

    // Record the start and create the branch in one transaction.
    let stamp = crate::git::committer_stamp(repo)?;
    let s = &started.subtask;
    if existing.is_none() || s.status == SubtaskStatus::Planned || s.branch.is_none() {
        let create = existing.is_none().then_some(integ);
        record_start(repo, &stamp, &started, create, &flow.integration_branch)?;
    }

    // Then check it out.
    started.place = check_out(&here, &started.branch, worktree)?;
    Ok(started)
}

/// Where a start checks the branch out.
enum Target {
    /// Nowhere: a work tree has it checked out already.
    Elsewhere(PathBuf),
    /// From the work tree `here`: in a new worktree at `worktree`, else by switching `here`.
    Go {
        here: PathBuf,
        worktree: Option<PathBuf>,
    },
}

/// Where to check `branch` out as `checkout` says, refused when it cannot be done (a worktree
/// path that is taken, changes a switch to `base` would overwrite).
fn target(
    repo: &gix::Repository,
    checkout: &Checkout,
    id: &str,
    branch: &str,
    base: ObjectId,
) -> Result<Target, WorkError> {
    let worktree = match checkout {
        Checkout::Switch => None,
        Checkout::Worktree(None) => Some(default_worktree(repo, id)?),
        Checkout::Worktree(Some(p)) => Some(std::path::absolute(p).unwrap_or_else(|_| p.clone())),
    };
    let here = workdir(repo)?;
    if let Some(already) = checkout_of(repo, branch)
        && (worktree.is_some() || already != here)
    {
        return Ok(Target::Elsewhere(already));
    }
    match &worktree {
        Some(path) => refuse_nonempty(path)?,
        None if current_branch(repo).as_deref() != Some(branch) => can_switch(&here, base)?,
        None => {}
    }
    Ok(Target::Go { here, worktree })
}

/// Record that `started` started, creating its branch at `create` (the tip of `integration`)
/// when given.
fn record_start(
    repo: &gix::Repository,
    stamp: &crate::git::Stamp,
    started: &Started,
    create: Option<ObjectId>,
    integration: &str,
) -> Result<(), WorkError> {
    let (slug, id, branch) = (&started.flow, &started.subtask.id, &started.branch);
    let refs: Vec<_> = create
        .map(|tip| {
            branch_edit(
                branch,
                None,
                tip,
                format!("branch: aiflow start {id} from {integration}"),
            )
        })
        .transpose()?
        .into_iter()
        .collect();
    crate::store::update_flow_with(
        repo,
        slug,
        &format!("aiflow: start {id} of {slug}"),
        stamp,
        |flow, _| -> Result<Option<Change>, WorkError> {
            let st = flow.subtask_mut(id).ok_or_else(|| {
                WorkError::refused(format!("subtask {id} left the plan meanwhile"))
            })?;
            st.branch = Some(branch.to_owned());
            lifecycle::apply(flow, id, Action::Start);
            if flow.status < FlowStatus::Executing {
                flow.status = FlowStatus::Executing;
            }
            Ok(Some(Change {
                notes: vec![],
                refs: refs.clone(),
            }))
        },
    )?;
    Ok(())
}

/// Check `branch` out: in a new worktree at `worktree`, else by switching the work tree `here`.
fn check_out(here: &Path, branch: &str, worktree: Option<PathBuf>) -> Result<Place, WorkError> {
    let result = match &worktree {
        Some(path) => {
            let p = path.to_string_lossy().into_owned();
            git::run(here, &["worktree", "add", "--quiet", &p, branch], &[], None)?
        }
        None => git::run(here, &["switch", "--quiet", branch], &[], None)?,
    };
    if !result.ok() {
        return Err(WorkError::refused(format!(
            "{branch} is ready, but git could not check it out: {}",
            result.stderr.trim()
        ))
        .hint(match &worktree {
            Some(p) => format!(
                "add the worktree yourself: `git worktree add {} {branch}`",
                p.display()
            ),
            None => format!("commit or stash your changes, then `git switch {branch}`"),
        }));
    }
    Ok(worktree.map_or(Place::Here, Place::Worktree))
}

/// Refuse a worktree path that exists and is not an empty directory.
fn refuse_nonempty(path: &Path) -> Result<(), WorkError> {
    if path.exists()
        && std::fs::read_dir(path)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(
            WorkError::invalid(format!("{} exists and is not empty", path.display()))
                .hint("give another path: --worktree PATH"),
        );
    }
    Ok(())
}

/// A sibling of the main work tree: `<dir>-<id>`.
fn default_worktree(repo: &gix::Repository, id: &str) -> Result<PathBuf, WorkError> {
    let main = checkouts(repo)
        .into_iter()
        .next()
        .map(|c| c.workdir)
        .or_else(|| repo.workdir().map(Path::to_owned))
        .ok_or_else(|| {
            WorkError::invalid("this repository has no work tree; give --worktree PATH")
        })?;
    let main = std::fs::canonicalize(&main).unwrap_or(main);
    Ok(sibling(&main, id))
}

/// `<dir>-<id>` next to `main`.
fn sibling(main: &Path, id: &str) -> PathBuf {
    let name = main
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "repo".into());
    main.with_file_name(format!("{name}-{id}"))
}

/// Refuse, before anything moves, when switching the work tree in `dir` to `target` would lose
/// changes: git's own check, as a dry run (`git read-tree -m -u -n HEAD <target>`).
fn can_switch(dir: &Path, target: ObjectId) -> Result<(), WorkError> {
    let _ = git::run(dir, &["update-index", "-q", "--refresh"], &[], None)?;
    let t = target.to_string();
    let r = git::run(dir, &["read-tree", "-m", "-u", "-n", "HEAD", &t], &[], None)?;
    if r.ok() {
        return Ok(());
    }
    Err(
        WorkError::refused("switching branches would overwrite changes in the work tree")
            .because(Message(r.stderr.trim().to_owned()))
            .hint(
                "commit or stash them first, or start the subtask in its own worktree with --worktree",
            ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_worktree_is_a_sibling_named_after_the_subtask() {
        assert_eq!(
            sibling(Path::new("/src/app"), "k3f9"),
            PathBuf::from("/src/app-k3f9")
        );
        assert_eq!(sibling(Path::new("/"), "k3f9"), PathBuf::from("/repo-k3f9"));
    }

    #[test]
    fn an_empty_or_missing_directory_takes_a_worktree() {
        let dir = tempfile::tempdir().unwrap();
        assert!(refuse_nonempty(&dir.path().join("missing")).is_ok());
        assert!(refuse_nonempty(dir.path()).is_ok());
        std::fs::write(dir.path().join("file"), "x").unwrap();
        let err = refuse_nonempty(dir.path()).unwrap_err();
        assert!(err.to_string().ends_with("exists and is not empty"));
    }
}
