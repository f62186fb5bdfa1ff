//! `git aiflow exec`: run the configured coding agent on one subtask and record what it did as
//! step commits; the work is [`crate::work::exec`]'s, this file reads the arguments and renders.

use super::context::Streams;
use super::work::{self, Which};
use super::{CliError, Ctx};
use crate::git::process::Sink;
use crate::work::exec::{AgentIo, AgentStart, ExecOptions, Executed};
use serde_json::json;
use std::io::Write;

/// Arguments of `exec`.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub which: Which,
    /// The agent command, run with `sh -c` (default: config aiflow.agent), for example
    /// `claude -p`, `codex exec -`, or `aider --yes-always --message-file "$AIFLOW_PROMPT_FILE"`.
    #[arg(long, value_name = "command")]
    pub agent: Option<String>,
    /// Stop the agent after this many seconds (default: config aiflow.agentTimeout, else 3600).
    #[arg(long, value_name = "seconds")]
    pub timeout: Option<u64>,
    /// Print the prompt the agent would get, and run nothing.
    #[arg(long)]
    pub print_prompt: bool,
    /// Print JSON: {"flow", "subtask", "agent", "exit_code", "duration_ms", "commits"}; the agent's
    /// own output then goes to stderr.
    #[arg(long)]
    pub json: bool,
}

/// `git aiflow exec`.
pub fn exec(ctx: &mut Ctx, args: &ExecArgs) -> Result<(), CliError> {
    let found = work::find(ctx, &args.which)?;
    let repo = ctx.repo()?.clone();
    if args.print_prompt {
        let prepared = crate::work::exec::prepare(&repo, &found)?;
        ctx.out.write_all(prepared.prompt.text.as_bytes())?;
        return Ok(());
    }
    let options = ExecOptions {
        agent: args.agent.clone(),
        timeout: args.timeout,
    };
    let mut io = Io {
        ctx,
        json: args.json,
    };
    let done = crate::work::exec::exec(&repo, &found, &options, &mut io)?;
    for w in &done.warnings {
        ctx.warn(w);
    }
    if args.json {
        ctx.json(&executed_json(&done))
    } else {
        render(ctx, &done)
    }
}

/// The command line's side of an agent run: the progress line, and the agent's output on ours
/// (its stdout on our stderr with --json, which keeps stdout for the answer).
struct Io<'c> {
    ctx: &'c mut Ctx,
    json: bool,
}

impl AgentIo for Io<'_> {
    fn starting(&mut self, start: &AgentStart<'_>) -> std::io::Result<()> {
        if !self.json {
            writeln!(
                self.ctx.out,
                "exec: running `{}` on {} \"{}\" in {}",
                start.program,
                start.subtask.id,
                start.subtask.title,
                start.dir.display()
            )?;
        }
        self.ctx.out.flush()
    }

    fn sinks(&mut self) -> (Sink<'_>, Sink<'_>) {
        let json = self.json;
        match self.ctx.streams() {
            Streams::Process => (
                if json { Sink::OurStderr } else { Sink::Inherit },
                Sink::Inherit,
            ),
            Streams::Given { out: _, err } if json => (Sink::Forward(err), Sink::AsStdout),
            Streams::Given { out, err } => (Sink::Forward(out), Sink::Forward(err)),
        }
    }
}

/// The `--json` answer.
fn executed_json(done: &Executed) -> serde_json::Value {
    let commits: Vec<serde_json::Value> = done
        .steps
        .iter()
        .map(|s| json!({"commit": s.commit.to_string(), "step": s.note.step, "agent_commit": s.note.agent_commit}))
        .collect();
    json!({
        "flow": done.flow,
        "subtask": done.subtask,
        "branch": done.branch,
        "agent": done.program,
        "author": done.identity,
        "exit_code": done.exit_code,
        "duration_ms": done.duration.as_millis() as u64,
        "prompt_digest": done.prompt_digest,
        "commits": commits,
        "stripped": done.warnings,
    })
}

/// The human answer.
fn render(ctx: &mut Ctx, done: &Executed) -> Result<(), CliError> {
    let list: Vec<String> = done
        .steps
        .iter()
        .map(|s| format!("{} ({})", s.note.step, s.commit.to_hex_with_len(7)))
        .collect();
    writeln!(
        ctx.out,
        "exec: `{}` finished in {:.1} s; recorded step{} {} on {}",
        done.program,
        done.duration.as_secs_f64(),
        if done.steps.len() == 1 { "" } else { "s" },
        list.join(", "),
        done.branch
    )?;
    writeln!(
        ctx.out,
        "  next: `git aiflow review {}`, then a reviewer runs `git aiflow approve {}`",
        done.subtask, done.subtask
    )?;
    Ok(())
}
