//! Subtasks at work: finding one from the command line, and the commands `next`, `start` and
//! `step`, as adapters over [`crate::work`].

use super::{CliError, Ctx};
use crate::flow::{Flow, Subtask, plan::subtask_branch};
use crate::work::start::{Checkout, Place, StartOptions};
use crate::work::step::StepOptions;
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;

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

use crate::git::current_branch;
pub use crate::work::Found;

/// Find the subtask `which` names.
pub fn find(ctx: &mut Ctx, which: &Which) -> Result<Found, CliError> {
    let current = current_branch(ctx.repo()?);
    let set = ctx.flows()?;
    let selector = crate::work::Selector {
        subtask: which.subtask.clone(),
        flow: which.flow.clone(),
    };
    crate::work::find(&set, current.as_deref(), &selector).map_err(|e| {
        // The subtask may be in a flow whose note cannot be read: say why it is not there.
        super::context::report_problems(ctx, &set, which.flow.as_deref());
        e.into()
    })
}

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
    let next = crate::work::next::next(flow)?;
    if args.json {
        let waiting_json: Vec<serde_json::Value> = next
            .waiting
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
            "subtask": next.ready.map(|s| subtask_json(flow, s)),
            "waiting": waiting_json,
            "complete": next.complete,
        }))?;
    } else if let Some(s) = next.ready {
        let branch = subtask_branch(&flow.integration_branch, &s.id, &s.title);
        writeln!(ctx.out, "{}  {}", s.id, s.title)?;
        writeln!(
            ctx.out,
            "  phase {}, branch {branch}",
            crate::flow::plan::phase_name(s.phase)
        )?;
        writeln!(ctx.out, "  start it: git aiflow start {}", s.id)?;
    } else if next.complete {
        let slug = &flow.slug;
        if flow.status == crate::flow::FlowStatus::Finished {
            writeln!(ctx.out, "flow {slug} is finished")?;
        } else {
            writeln!(ctx.out, "every subtask of {slug} is merged or dropped")?;
            writeln!(ctx.out, "next: git aiflow finish {slug}")?;
        }
    }
    let Some(refusal) = next.refusal() else {
        return Ok(());
    };
    let err = CliError::from(refusal);
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
    let options = StartOptions {
        force: args.force,
        checkout: match &args.worktree {
            None => Checkout::Switch,
            Some(path) => Checkout::Worktree(path.clone()),
        },
    };
    let started = crate::work::start::start(&repo, &found, &options)?;
    let (s, branch) = (&started.subtask, &started.branch);
    let worktree = match &started.place {
        Place::Elsewhere(p) | Place::Worktree(p) => Some(p),
        Place::Here => None,
    };
    if args.json {
        return ctx.json(&json!({
            "flow": started.flow,
            "subtask": s.id,
            "branch": branch,
            "base": started.base.to_string(),
            "worktree": worktree,
        }));
    }
    if let Place::Elsewhere(already) = &started.place {
        writeln!(ctx.out, "{branch} is checked out in {}", already.display())?;
        return Ok(());
    }
    let verb = if started.existed {
        "Switched to"
    } else {
        "Started"
    };
    writeln!(ctx.out, "{verb} {} \"{}\" on {branch}", s.id, s.title)?;
    if let Some(p) = worktree {
        writeln!(ctx.out, "  worktree {}", p.display())?;
    }
    writeln!(
        ctx.out,
        "  next: `git aiflow exec` to run the agent, or edit and `git aiflow step -m MSG`"
    )?;
    Ok(())
}

/// Arguments of `step`.
#[derive(Debug, clap::Args)]
pub struct StepArgs {
    /// The step's message; several -m make paragraphs (default: "<title> (step N)").
    #[arg(short, long = "message", value_name = "msg")]
    pub message: Vec<String>,
    /// Do not run the test command (config aiflow.test) on the new step.
    #[arg(long)]
    pub no_test: bool,
    /// Print JSON: {"commit", "step", "flow", "subtask", "test"}.
    #[arg(long)]
    pub json: bool,
}

/// `git aiflow step`.
pub fn step(ctx: &mut Ctx, args: &StepArgs) -> Result<(), CliError> {
    let which = Which {
        subtask: None,
        flow: None,
    };
    let found = match find(ctx, &which) {
        Ok(f) => f,
        Err(e) => return Err(step_hints(ctx, e)),
    };
    let repo = ctx.repo()?.clone();
    let options = StepOptions {
        message: args.message.clone(),
        no_test: args.no_test,
    };
    let stepped = crate::work::step::step(&repo, &found, &options)?;
    if let Some(u) = &stepped.unaccepted {
        super::test::warn_unaccepted(ctx, u);
    }
    if args.json {
        ctx.json(&json!({
            "commit": stepped.commit.to_string(),
            "step": stepped.step,
            "flow": stepped.flow,
            "subtask": stepped.subtask,
            "test": stepped.test.as_ref().map(|(c, r)| super::test::run_json(c, r)),
        }))?;
    } else {
        // What `git commit` prints, then which step it is.
        let subject = repo
            .find_commit(stepped.commit)
            .ok()
            .map(|c| {
                let raw = c.message_raw_sloppy();
                let line = raw.split(|&b| b == b'\n').next().unwrap_or_default();
                String::from_utf8_lossy(line).trim().to_owned()
            })
            .unwrap_or_default();
        writeln!(
            ctx.out,
            "[{} {}] {}",
            stepped.branch,
            stepped.commit.to_hex_with_len(7),
            crate::ai::sanitize::clean(&subject)
        )?;
        writeln!(ctx.out, "  step {} of {}", stepped.step, stepped.subtask)?;
        if let Some((command, run)) = &stepped.test {
            super::test::print_run(&mut ctx.out, command, run)?;
        }
    }
    match &stepped.test {
        Some((_, run)) => super::test::red(run, &stepped.subtask, Some(stepped.step)),
        None => Ok(()),
    }
}

/// `step` takes no subtask: off a subtask branch, the way on is to switch to one. Name the
/// started subtasks as commands to run (`start` switches to a started subtask's branch).
fn step_hints(ctx: &mut Ctx, mut e: CliError) -> CliError {
    let Ok(set) = ctx.flows() else {
        return e;
    };
    let started: Vec<(String, String)> = set
        .flows
        .iter()
        .flat_map(|entry| {
            let flow = &entry.flow;
            flow.current_plan()
                .into_iter()
                .flat_map(|p| &p.subtasks)
                .filter(|s| {
                    matches!(
                        s.status,
                        crate::flow::SubtaskStatus::Active | crate::flow::SubtaskStatus::InReview
                    )
                })
                .map(|s| (flow.slug.clone(), s.id.clone()))
        })
        .collect();
    e.hints = match started.as_slice() {
        [] => vec![
            "`git aiflow next` names a subtask to start; `git aiflow start` switches to its branch"
                .into(),
        ],
        [(slug, id)] => vec![format!(
            "switch to its branch, then step: `git aiflow start {id} --flow {slug}`"
        )],
        many => vec![format!(
            "switch to a subtask's branch, then step: {}",
            many.iter()
                .map(|(slug, id)| format!("`git aiflow start {id} --flow {slug}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )],
    };
    e
}
