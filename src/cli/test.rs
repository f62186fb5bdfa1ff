//! `git aiflow test`: run the test command on a subtask's checked-out tip and record the run;
//! and how `step` and `exec` show the runs they make.

use super::work::{self, Which};
use super::{CliError, Ctx};
use crate::ai::sanitize::clean;
use crate::flow::TestRun;
use crate::flow::plan::Unaccepted;
use crate::work::test::{TestCommand, TestOptions};
use serde_json::json;
use std::io::Write;

/// Arguments of `test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub which: Which,
    /// The command, run with `sh -c` in the work tree (default: the subtask's `test` in the plan
    /// once a person accepted it, else config aiflow.test, else `[test] command` in .aiflow.toml
    /// on the integration branch).
    #[arg(long, value_name = "command")]
    pub command: Option<String>,
    /// Stop it after this many seconds (default: config aiflow.testTimeout, else `[test]
    /// timeout`, else 1800); everything it started is killed with it.
    #[arg(long, value_name = "seconds")]
    pub timeout: Option<u64>,
    /// Test the flow's integration branch (where it is checked out) instead of a subtask; the
    /// run goes in a note on its tip, which `finish` looks for under `tests = "required"`.
    #[arg(long, conflicts_with = "subtask")]
    pub integration: bool,
    /// Print JSON: {"flow", "subtask", "commit", "step", "recorded", "test"}.
    #[arg(long)]
    pub json: bool,
}

/// `git aiflow test`.
pub fn test(ctx: &mut Ctx, args: &TestArgs) -> Result<(), CliError> {
    let options = TestOptions {
        command: args.command.clone(),
        timeout: args.timeout,
    };
    let done = if args.integration {
        let (_, entry) = ctx.flow(args.which.flow.as_deref())?;
        let repo = ctx.repo()?.clone();
        crate::work::test::test_integration(&repo, &entry, &options)?
    } else {
        let found = work::find(ctx, &args.which)?;
        let repo = ctx.repo()?.clone();
        crate::work::test::test(&repo, &found, &options)?
    };
    if let Some(u) = &done.unaccepted {
        warn_unaccepted(ctx, u);
    }
    if args.json {
        ctx.json(&json!({
            "flow": done.flow,
            "subtask": done.subtask,
            "commit": done.commit.to_string(),
            "step": done.step,
            "recorded": done.unrecorded.is_none(),
            "test": run_json(&done.command, &done.run),
        }))?;
    } else {
        print_run(&mut ctx.out, &done.command, &done.run)?;
        match (done.step, &done.unrecorded) {
            (Some(step), _) => writeln!(
                ctx.out,
                "  recorded in the note of step {step} ({})",
                done.commit.to_hex_with_len(7)
            )?,
            (None, Some(why)) => ctx.warn(format!("not recorded: {why}")),
            (None, None) => writeln!(
                ctx.out,
                "  recorded in a note on {}",
                done.commit.to_hex_with_len(7)
            )?,
        }
    }
    let what = if args.integration {
        format!("the integration branch of {}", done.flow)
    } else {
        done.subtask.clone()
    };
    red(&done.run, &what, None)
}

/// Say that the subtask's own test command did not run: the model proposed it, and no person
/// has accepted it yet.
pub fn warn_unaccepted(ctx: &mut Ctx, unaccepted: &Unaccepted) {
    // The plan's text is data: no control sequence reaches the terminal.
    ctx.warn(clean(&unaccepted.to_string()));
}

/// The `test` object of `--json` answers.
pub fn run_json(command: &TestCommand, run: &TestRun) -> serde_json::Value {
    json!({
        "command": run.command,
        "origin": command.origin,
        "exit": run.exit,
        "timed_out": run.timed_out,
        "passed": run.passed(),
        "tree": run.tree,
        "duration_ms": run.duration_ms,
        "output": run.output,
    })
}

/// The most lines of a failing run's output shown (the note keeps more).
const SHOWN_LINES: usize = 20;

/// One line for the run; for a run that did not pass, the end of its output too.
pub fn print_run(
    out: &mut impl Write,
    command: &TestCommand,
    run: &TestRun,
) -> std::io::Result<()> {
    writeln!(
        out,
        "test: `{}` {} in {:.1} s",
        run.command,
        run.verdict(),
        run.duration_ms as f64 / 1000.0
    )?;
    if run.timed_out {
        writeln!(
            out,
            "  stopped at its time limit of {} s, with everything it started",
            command.timeout.as_secs()
        )?;
    }
    if !run.passed() && !run.output.trim().is_empty() {
        let lines: Vec<&str> = run.output.trim_end().lines().collect();
        let from = lines.len().saturating_sub(SHOWN_LINES);
        writeln!(out, "  the end of its output:")?;
        for line in &lines[from..] {
            writeln!(out, "  | {line}")?;
        }
    }
    Ok(())
}

/// Exit 1 when the run did not pass, saying what was kept; `step` names the step recorded.
pub fn red(run: &TestRun, subtask: &str, step: Option<u32>) -> Result<(), CliError> {
    if run.passed() {
        return Ok(());
    }
    let kept = match step {
        Some(n) => format!("; step {n} is recorded, with the run in its note"),
        None => String::new(),
    };
    Err(
        CliError::refused(format!("the test {} on {subtask}{kept}", run.verdict()))
            .hint("fix it and record another step (`git aiflow step -m MSG`), or run the agent again (`git aiflow exec`)"),
    )
}
