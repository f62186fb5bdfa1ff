//! Subtasks at work: finding one from the command line, where branches are checked out, and the
//! commands `next`, `start` and `step`.

use super::{CliError, Ctx};
use crate::flow::lifecycle::{self, Action, next_ready};
use crate::flow::{Flow, FlowStatus, StepNote, Subtask, SubtaskStatus, plan::subtask_branch};
use crate::git::{cli as git, trailers};
use crate::store::Change;
use gix::ObjectId;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Which subtask a command is about.
#[derive(Debug, Clone, clap::Args)]
pub struct Which {
    /// The subtask: its id, a unique prefix of it, or its branch (default: the current branch's).
    #[arg(value_name = "subtask")]
    pub subtask: Option<String>,
    /// The flow to look in (default: the current branch's flow, else every flow).
    #[arg(long, value_name = "slug")]
    pub flow: Option<String>,
}

pub use crate::git::cli::is_dirty;
pub use crate::git::{checkout_of, current_branch};
pub use crate::work::steps::{STEP_KEYS, record_steps, review_keys, steps_of, with_step_trailers};
pub use crate::work::{Found, branch_edit, integration_tip};

/// Find the subtask `which` names.
pub fn find(ctx: &mut Ctx, which: &Which) -> Result<Found, CliError> {
    let current = current_branch(ctx.repo()?);
    let set = ctx.flows()?;
    let selector = crate::work::Selector {
        subtask: which.subtask.clone(),
        flow: which.flow.clone(),
    };
    Ok(crate::work::find(&set, current.as_deref(), &selector)?)
}

pub use crate::git::{branch_tip, checkouts};

fn subtask_json(flow: &Flow, s: &Subtask) -> serde_json::Value {
    json!({
        "id": s.id,
        "title": s.title,
        "phase": crate::flow::plan::phase_name(s.phase),
        "status": s.status.as_str(),
        "branch": s.branch.clone().unwrap_or_else(|| subtask_branch(&flow.integration_branch, &s.id, &s.title)),
        "depends_on": s.depends_on,
    })
}

/// Arguments of `next`.
#[derive(Debug, clap::Args)]
pub struct NextArgs {
    /// The flow (default: the current branch's flow).
    pub slug: Option<String>,
    /// Print JSON: {"flow", "subtask" (or null), "waiting", "complete"}.
    #[arg(long)]
    pub json: bool,
}

/// `git aiflow next`.
pub fn next(ctx: &mut Ctx, args: &NextArgs) -> Result<(), CliError> {
    let (_, entry) = ctx.flow(args.slug.as_deref())?;
    let flow = &entry.flow;
    if flow.current_plan().is_none() {
        return Err(
            CliError::refused(format!("flow {} has no plan yet", flow.slug))
                .hint(format!("ask for one with `git aiflow plan {}`", flow.slug)),
        );
    }
    let (ready, waiting) = next_ready(flow);
    let plan = flow.current_plan().expect("checked");
    let open: Vec<&Subtask> = plan
        .subtasks
        .iter()
        .filter(|s| !lifecycle::is_settled(s.status))
        .collect();
    let complete = open.is_empty();
    if args.json {
        let waiting_json: Vec<serde_json::Value> = waiting
            .iter()
            .map(|(s, deps)| {
                json!({
                    "id": s.id,
                    "title": s.title,
                    "waiting_for": deps.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
                })
            })
            .collect();
        ctx.json(&json!({
            "flow": flow.slug,
            "subtask": ready.map(|s| subtask_json(flow, s)),
            "waiting": waiting_json,
            "complete": complete,
        }))?;
    } else if let Some(s) = ready {
        let branch = subtask_branch(&flow.integration_branch, &s.id, &s.title);
        writeln!(ctx.out, "{}  {}", s.id, s.title)?;
        writeln!(
            ctx.out,
            "  phase {}, branch {branch}",
            crate::flow::plan::phase_name(s.phase)
        )?;
        writeln!(ctx.out, "  start it: git aiflow start {}", s.id)?;
    }
    if ready.is_some() {
        return Ok(());
    }
    let err = if complete {
        CliError::refused(format!(
            "every subtask of {} is merged or dropped",
            flow.slug
        ))
        .hint(format!(
            "merge the flow into its base: `git aiflow finish {}`",
            flow.slug
        ))
    } else {
        let active: Vec<String> = open
            .iter()
            .filter(|s| s.status != SubtaskStatus::Planned)
            .map(|s| format!("{} ({}, {})", s.id, s.title, s.status.as_str()))
            .collect();
        let mut e = CliError::refused(format!("no subtask of {} can start yet", flow.slug));
        for (s, deps) in &waiting {
            let names: Vec<String> = deps
                .iter()
                .map(|d| format!("{} ({})", d.id, d.status.as_str()))
                .collect();
            e = e.hint(format!("{} waits for {}", s.id, names.join(", ")));
        }
        if !active.is_empty() {
            e = e.hint(format!("finish what is under way: {}", active.join(", ")));
        }
        e
    };
    if args.json {
        // The JSON said it; the exit code says the rest.
        return Err(CliError::silent(err.exit));
    }
    Err(err)
}

/// Arguments of `start`.
#[derive(Debug, clap::Args)]
pub struct StartArgs {
    #[command(flatten)]
    pub which: Which,
    /// Start even if dependencies are not merged yet.
    #[arg(long)]
    pub force: bool,
    /// Check the branch out in a new linked worktree (default path: a sibling of the main work
    /// tree, `<dir>-<id>`) instead of switching the current one.
    #[arg(long, value_name = "path", num_args = 0..=1)]
    pub worktree: Option<Option<PathBuf>>,
    /// Print JSON: {"flow", "subtask", "branch", "base", "worktree"}.
    #[arg(long)]
    pub json: bool,
}

/// `git aiflow start`.
pub fn start(ctx: &mut Ctx, args: &StartArgs) -> Result<(), CliError> {
    if args.which.subtask.is_none() {
        return Err(CliError::usage("name the subtask to start")
            .hint("`git aiflow next` names the next one"));
    }
    let found = find(ctx, &args.which)?;
    let repo = ctx.repo()?.clone();
    let flow = found.flow();
    let s = found.subtask().clone();
    let branch = found.branch();
    let slug = flow.slug.clone();
    let existing = branch_tip(&repo, &branch);
    let integ = integration_tip(&repo, &found.entry)?;
    lifecycle::may_start(flow, &s, existing.is_none(), args.force)?;
    if existing.is_some() && s.branch.as_deref() != Some(branch.as_str()) {
        return Err(CliError::usage(format!(
            "a branch {branch} exists already, but the plan does not record it for subtask {}",
            s.id
        ))
        .hint(format!(
            "rename or delete that branch (`git branch -m {branch} <other>`), then start again"
        )));
    }
    let base = existing.unwrap_or(integ);

    // Where it will be checked out, checked before anything moves.
    let worktree = match &args.worktree {
        None => None,
        Some(None) => Some(default_worktree(&repo, &s.id)?),
        Some(Some(p)) => Some(std::path::absolute(p).unwrap_or_else(|_| p.clone())),
    };
    let here = repo
        .workdir()
        .map(Path::to_owned)
        .ok_or_else(|| CliError::usage("this repository has no work tree"))?;
    if let Some(already) = checkout_of(&repo, &branch)
        && (worktree.is_some() || already != here)
    {
        if args.json {
            ctx.json(&json!({"flow": slug, "subtask": s.id, "branch": branch, "base": base.to_string(), "worktree": already}))?;
        } else {
            writeln!(ctx.out, "{branch} is checked out in {}", already.display())?;
        }
        return Ok(());
    }
    match &worktree {
        Some(path) => {
            if path.exists()
                && std::fs::read_dir(path)
                    .map(|mut d| d.next().is_some())
                    .unwrap_or(true)
            {
                return Err(
                    CliError::usage(format!("{} exists and is not empty", path.display()))
                        .hint("give another path: --worktree PATH"),
                );
            }
        }
        None => {
            if current_branch(&repo).as_deref() != Some(branch.as_str()) {
                can_switch(&here, base)?;
            }
        }
    }

    // Record the start and create the branch in one transaction.
    let stamp = crate::git::committer_stamp(&repo)?;
    let needs_record =
        existing.is_none() || s.status == SubtaskStatus::Planned || s.branch.is_none();
    if needs_record {
        let refs = if existing.is_none() {
            vec![branch_edit(
                &branch,
                None,
                integ,
                format!(
                    "branch: aiflow start {} from {}",
                    s.id, flow.integration_branch
                ),
            )]
        } else {
            Vec::new()
        };
        let id = s.id.clone();
        let b = branch.clone();
        crate::store::update_flow_with(
            &repo,
            &slug,
            &format!("aiflow: start {id} of {slug}"),
            &stamp,
            |flow, _| -> Result<Option<Change>, CliError> {
                let st = flow.subtask_mut(&id).ok_or_else(|| {
                    CliError::refused(format!("subtask {id} left the plan meanwhile"))
                })?;
                st.branch = Some(b.clone());
                lifecycle::apply(flow, &id, Action::Start);
                if flow.status < FlowStatus::Executing {
                    flow.status = FlowStatus::Executing;
                }
                Ok(Some(Change {
                    notes: vec![],
                    refs: refs.clone(),
                }))
            },
        )?;
    }

    // Then check it out.
    let (where_, result) = match &worktree {
        Some(path) => {
            let p = path.to_string_lossy().into_owned();
            (
                Some(path.clone()),
                git::run(
                    &here,
                    &["worktree", "add", "--quiet", &p, &branch],
                    &[],
                    None,
                )?,
            )
        }
        None => (
            None,
            git::run(&here, &["switch", "--quiet", &branch], &[], None)?,
        ),
    };
    if !result.ok() {
        return Err(CliError::refused(format!(
            "{branch} is ready, but git could not check it out: {}",
            result.stderr.trim()
        ))
        .hint(match &where_ {
            Some(p) => format!(
                "add the worktree yourself: `git worktree add {} {branch}`",
                p.display()
            ),
            None => format!("commit or stash your changes, then `git switch {branch}`"),
        }));
    }
    if args.json {
        ctx.json(&json!({
            "flow": slug,
            "subtask": s.id,
            "branch": branch,
            "base": base.to_string(),
            "worktree": where_,
        }))?;
    } else {
        let verb = if existing.is_some() {
            "Switched to"
        } else {
            "Started"
        };
        writeln!(ctx.out, "{verb} {} \"{}\" on {branch}", s.id, s.title)?;
        if let Some(p) = &where_ {
            writeln!(ctx.out, "  worktree {}", p.display())?;
        }
        writeln!(
            ctx.out,
            "  next: `git aiflow exec` to run the agent, or edit and `git aiflow step -m MSG`"
        )?;
    }
    Ok(())
}

/// A sibling of the main work tree: `<dir>-<id>`.
fn default_worktree(repo: &gix::Repository, id: &str) -> Result<PathBuf, CliError> {
    let main = checkouts(repo)
        .into_iter()
        .next()
        .map(|c| c.workdir)
        .or_else(|| repo.workdir().map(Path::to_owned))
        .ok_or_else(|| CliError::usage("this repository has no work tree; give --worktree PATH"))?;
    let main = std::fs::canonicalize(&main).unwrap_or(main);
    let name = main
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "repo".into());
    Ok(main.with_file_name(format!("{name}-{id}")))
}

/// Refuse, before anything moves, when switching the work tree in `dir` to `target` would lose
/// changes: git's own check, as a dry run (`git read-tree -m -u -n HEAD <target>`).
fn can_switch(dir: &Path, target: ObjectId) -> Result<(), CliError> {
    let _ = git::run(dir, &["update-index", "-q", "--refresh"], &[], None)?;
    let t = target.to_string();
    let r = git::run(dir, &["read-tree", "-m", "-u", "-n", "HEAD", &t], &[], None)?;
    if r.ok() {
        return Ok(());
    }
    Err(CliError::refused(
        "switching branches would overwrite changes in the work tree",
    )
    .source(super::error::Message(r.stderr.trim().to_owned()))
    .hint("commit or stash them first, or start the subtask in its own worktree with --worktree"))
}

/// Arguments of `step`.
#[derive(Debug, clap::Args)]
pub struct StepArgs {
    /// The step's message; several -m make paragraphs (default: "<title> (step N)").
    #[arg(short, long = "message", value_name = "msg")]
    pub message: Vec<String>,
    /// Print JSON: {"commit", "step", "flow", "subtask"}.
    #[arg(long)]
    pub json: bool,
}

/// `git aiflow step`.
pub fn step(ctx: &mut Ctx, args: &StepArgs) -> Result<(), CliError> {
    let found = find(
        ctx,
        &Which {
            subtask: None,
            flow: None,
        },
    )?;
    let repo = ctx.repo()?.clone();
    let dir = repo
        .workdir()
        .map(Path::to_owned)
        .ok_or_else(|| CliError::usage("this repository has no work tree"))?;
    let flow = found.flow();
    let s = found.subtask().clone();
    lifecycle::may(Action::Step, &s)?;
    let slug = flow.slug.clone();
    let integ = integration_tip(&repo, &found.entry)?;
    let keys = review_keys(&repo, Some(integ));
    let mut text = args
        .message
        .iter()
        .map(|m| m.trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n\n");
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let (_, review) = trailers::strip_keys(text.as_bytes(), &key_refs);
    if !review.is_empty() {
        return Err(CliError::usage(format!(
            "a step cannot carry a review: the message contains `{}`",
            review[0]
        ))
        .hint("reviews are added by `git aiflow approve`, run by the reviewer"));
    }
    let (_, forged) = trailers::strip_keys(text.as_bytes(), &STEP_KEYS);
    if !forged.is_empty() {
        return Err(CliError::usage(format!(
            "the message contains `{}`; git-aiflow adds the step trailers itself",
            forged[0]
        ))
        .hint("leave out the Aiflow-* lines"));
    }
    if !is_dirty(&dir)? {
        return Err(
            CliError::refused("nothing to commit: the work tree has no changes")
                .hint("edit the files of the subtask, then run `git aiflow step` again"),
        );
    }
    let head = repo
        .head_id()
        .map_err(|e| CliError::usage("cannot read HEAD").source(e))?
        .detach();
    let n = steps_of(&repo, integ, head, &s.id).1 + 1;
    if text.trim().is_empty() {
        text = format!("{} (step {n})", s.title);
    }
    let rules = trailers::Rules::from_config(&repo.config_snapshot());
    let mut msg = text.into_bytes();
    msg.push(b'\n');
    let msg = with_step_trailers(&msg, &slug, &s.id, n, None, &rules);
    git::checked(&dir, &["add", "-A"], &[], None)?;
    let r = git::run(
        &dir,
        &["commit", "--quiet", "--cleanup=verbatim", "-F", "-"],
        &[],
        Some(&msg),
    )?;
    if !r.ok() {
        return Err(CliError::refused("git did not make the step commit")
            .source(super::error::Message(r.stderr.trim().to_owned()))
            .hint("fix what git or a hook reported, then run `git aiflow step` again"));
    }
    let repo = crate::git::open(&dir)?;
    let commit = repo
        .head_id()
        .map_err(|e| CliError::usage("cannot read HEAD").source(e))?
        .detach();
    let stamp = crate::git::committer_stamp(&repo)?;
    let note = StepNote::new(&slug, &s.id, n, "hand", &stamp);
    record_steps(&repo, &slug, &s.id, &stamp, &[(commit, note)])?;
    if args.json {
        ctx.json(&json!({
            "commit": commit.to_string(),
            "step": n,
            "flow": slug,
            "subtask": s.id,
        }))?;
    } else {
        writeln!(
            ctx.out,
            "[{} {}] step {n} of {}",
            found.branch(),
            commit.to_hex_with_len(7),
            s.id
        )?;
    }
    Ok(())
}
