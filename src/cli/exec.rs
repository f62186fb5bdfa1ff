//! `git aiflow exec`: run the configured coding agent on one subtask and record what it did as
//! step commits; the work is [`crate::work::exec`]'s, this file reads the arguments and renders.

use super::context::Streams;
use super::work::{self, Which};
use super::{CliError, Ctx};
use crate::flow::TestRun;
use crate::git::process::Sink;
use crate::work::exec::{AgentIo, AgentStart, ExecOptions, ExecRun, Executed};
use crate::work::test::TestCommand;
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
    /// While the test command fails, run the agent again up to N times with the failure in its
    /// prompt, each run its own steps (default: config aiflow.fixAttempts, else 0).
    #[arg(long, value_name = "N")]
    pub fix: Option<u32>,
    /// Do not run the test command (config aiflow.test) after the agent's steps.
    #[arg(long, conflicts_with = "fix")]
    pub no_test: bool,
    /// Print the prompt the agent would get, and run nothing.
    #[arg(long)]
    pub print_prompt: bool,
    /// Print JSON: {"flow", "subtask", "agent", "exit_code", "duration_ms", "commits", "test",
    /// "attempts"}; the agent's own output then goes to stderr.
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
        fix: args.fix,
        no_test: args.no_test,
    };
    let mut io = Io {
        ctx,
        json: args.json,
    };
    let done = crate::work::exec::exec(&repo, &found, &options, &mut io)?;
    for w in done.attempts.iter().flat_map(|a| &a.executed.warnings) {
        ctx.warn(w);
    }
    if let Some(u) = &done.unaccepted {
        super::test::warn_unaccepted(ctx, u);
    }
    if args.json {
        ctx.json(&exec_json(&done))?;
    } else {
        render(ctx, &done)?;
    }
    if let Some(stopped) = done.stopped {
        return Err(CliError::from(stopped));
    }
    match done.last_test() {
        Some(run) => {
            let last = done.attempts.last().and_then(|a| a.executed.steps.last());
            super::test::red(run, &found.subtask().id, last.map(|s| s.note.step))
        }
        None => Ok(()),
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

    fn recorded(&mut self, run: &Executed, fix: usize) -> std::io::Result<()> {
        if !self.json {
            recorded_line(&mut self.ctx.out, run, fix)?;
        }
        self.ctx.out.flush()
    }

    fn tested(&mut self, command: &TestCommand, run: &TestRun) -> std::io::Result<()> {
        if !self.json {
            super::test::print_run(&mut self.ctx.out, command, run)?;
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

/// The `--json` answer: the runs together (every commit, the last exit code, the whole
/// duration), the test runs after each, and why fixing stopped.
fn exec_json(done: &ExecRun) -> serde_json::Value {
    let runs: Vec<&Executed> = done.attempts.iter().map(|a| &a.executed).collect();
    let first = runs[0];
    let last = runs[runs.len() - 1];
    let commits: Vec<serde_json::Value> = runs
        .iter()
        .flat_map(|r| &r.steps)
        .map(|s| json!({"commit": s.commit.to_string(), "step": s.note.step, "agent_commit": s.note.agent_commit}))
        .collect();
    let tests: Vec<serde_json::Value> = done
        .attempts
        .iter()
        .filter_map(|a| {
            let run = a.test.as_ref()?;
            let command = done.test.as_ref()?;
            let step = a.executed.steps.last()?;
            let mut v = super::test::run_json(command, run);
            v["step"] = json!(step.note.step);
            v["commit"] = json!(step.commit.to_string());
            Some(v)
        })
        .collect();
    let duration: u64 = runs.iter().map(|r| r.duration.as_millis() as u64).sum();
    json!({
        "flow": first.flow,
        "subtask": first.subtask,
        "branch": first.branch,
        "agent": first.program,
        "author": first.identity,
        "exit_code": last.exit_code,
        "duration_ms": duration,
        "prompt_digest": last.prompt_digest,
        "commits": commits,
        "stripped": runs.iter().flat_map(|r| &r.warnings).collect::<Vec<_>>(),
        "attempts": runs.len(),
        "test": tests.last().cloned(),
        "tests": tests,
        "stopped": done.stopped.as_ref().map(|e| e.to_string()),
    })
}

/// One agent run as recorded: its steps (`fix`: it was fix attempt N).
fn recorded_line(out: &mut impl Write, run: &Executed, fix: usize) -> std::io::Result<()> {
    let list: Vec<String> = run
        .steps
        .iter()
        .map(|s| format!("{} ({})", s.note.step, s.commit.to_hex_with_len(7)))
        .collect();
    let fix = match fix {
        0 => String::new(),
        n => format!(" (fix attempt {n})"),
    };
    writeln!(
        out,
        "exec: `{}` finished in {:.1} s{fix}; recorded step{} {} on {}",
        run.program,
        run.duration.as_secs_f64(),
        if run.steps.len() == 1 { "" } else { "s" },
        list.join(", "),
        run.branch
    )
}

/// The human answer's end (each run and its test were printed as they came): what to do next.
fn render(ctx: &mut Ctx, done: &ExecRun) -> Result<(), CliError> {
    let id = &done.attempts[0].executed.subtask;
    if done.stopped.is_none() && done.last_test().is_none_or(|t| t.passed()) {
        writeln!(
            ctx.out,
            "  next: `git aiflow review {id}`, then a reviewer runs `git aiflow approve {id}`",
        )?;
    }
    Ok(())
}
