//! The command line: clap types, dispatch, and the single point where errors are printed.
//!
//! clap stops here: each command file converts its `XArgs` into calls on the library.

mod answer;
mod ask;
pub(crate) mod audit;
mod check;
mod context;
pub mod demo;
mod docs;
pub mod error;
mod exec;
mod hooks;
mod init;
pub mod input;
mod merge;
mod new;
mod plan;
mod review;
mod spec;
mod stats;
mod status;
mod sync;
mod test;
mod work;

pub use context::Ctx;
pub use error::{CliError, Exit};

use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Plan with an AI, review the plan, execute subtask by subtask, and gate merges on human review.
///
/// git-aiflow keeps a spec, its clarifying questions, the plan and its reviews as TOML notes under
/// refs/notes/aiflow, and the work itself as ordinary branches and commits.
#[derive(Debug, Parser)]
#[command(
    name = "git-aiflow",
    bin_name = "git aiflow",
    version,
    disable_help_subcommand = true,
    after_help = "Exit status: 0 success; 1 refused (the gate failed, or you must act first); 2 usage, input or environment error.\nSee `git aiflow --help` for the manual (man git-aiflow)."
)]
pub struct Cli {
    /// Run as if started in the given directory, as `git -C` does.
    #[arg(
        short = 'C',
        value_name = "path",
        global = true,
        help = "Run as if started in <path>"
    )]
    pub chdir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Configure the repository for git-aiflow (idempotent).
    Init(init::InitArgs),
    /// Start a flow from a spec.
    New(new::NewArgs),
    /// Show or edit a flow's spec.
    #[command(subcommand)]
    Spec(spec::SpecCommand),
    /// Ask for clarifying questions, then for a plan; show, edit, log or diff the plan.
    Plan(plan::PlanArgs),
    /// Answer the clarifying questions (editor, or --answer ID=TEXT), or --skip them.
    Answer(answer::AnswerArgs),
    /// Name the next subtask whose dependencies are merged.
    Next(work::NextArgs),
    /// Create a subtask's branch from the integration branch and switch to it.
    Start(work::StartArgs),
    /// Commit the work tree's changes as one step of the current subtask.
    Step(work::StepArgs),
    /// Run the configured coding agent on a subtask and commit its work as steps.
    Exec(exec::ExecArgs),
    /// Run the test command on a subtask's checked-out tip and record the run in its step note.
    Test(test::TestArgs),
    /// Ask a model for a security review of a subtask or a flow; accept or dismiss its findings.
    Audit(audit::AuditArgs),
    /// Mark a subtask's work ready for review (in-review) until a new step or a verdict.
    Ready(review::ReadyArgs),
    /// Show a subtask's commits and diffs, and their review state.
    Review(review::ReviewArgs),
    /// Approve a subtask: add review trailers to its commits and record the review.
    Approve(review::ApproveArgs),
    /// Request changes on a subtask; it becomes active again.
    Reject(review::RejectArgs),
    /// Merge an approved subtask into the integration branch (--no-ff).
    Integrate(merge::IntegrateArgs),
    /// Merge a complete flow's integration branch into its base (--no-ff).
    Finish(merge::FinishArgs),
    /// List every flow, a line each.
    List(status::ListArgs),
    /// Show a flow's dashboard.
    Status(status::StatusArgs),
    /// Figures per flow and across flows: time per phase, churn, rework, reviews, tests, models.
    Stats(stats::StatsArgs),
    /// The review gate: report commits in a range that lack a valid review.
    Check(check::CheckArgs),
    /// Share flows and their branches with a remote: fetch, merge, push; nothing lost.
    Sync(sync::SyncArgs),
    /// Install, remove or show the gate's git hooks.
    #[command(subcommand)]
    Hooks(hooks::HooksCommand),
    /// What the installed hook shims run (not for direct use).
    #[command(hide = true)]
    Hook(hooks::HookArgs),
    /// Walk through a flow in a throwaway repository (offline, no API key).
    Demo(demo::DemoArgs),
    /// Print or install the manual pages.
    Man(docs::ManArgs),
    /// Print shell completions.
    Completions(docs::CompletionsArgs),
}

/// Run the program with the process's arguments and return its exit code.
pub fn run() -> ExitCode {
    run_with(std::env::args_os())
}

/// Run the program with `args` (the first is the program name).
fn run_with(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    if let Some(hook) = hooks::shim_args(&args) {
        // What the shims run, on every ref update: clap's parser is not built for it.
        absolute_git_dir();
        return ExitCode::from(execute(Ctx::default(), &Command::Hook(hook)) as u8);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(parse_exit(&e) as u8);
        }
    };
    // As `git -C`: change directory first, so relative paths (-F FILE) mean the same thing.
    if let Some(dir) = &cli.chdir
        && let Err(e) = std::env::set_current_dir(dir)
    {
        let err = CliError::usage(format!("cannot change to '{}': {e}", dir.display()));
        err.print(&mut std::io::stderr().lock());
        return ExitCode::from(Exit::Usage as u8);
    }
    absolute_git_dir();
    ExitCode::from(execute(Ctx::default(), &cli.command) as u8)
}

/// Run a command in-process: `args` (the first is the program name) as the binary takes them,
/// in `dir` (`-C` is taken relative to it; the process's directory does not change), writing to
/// `out` and `err`. The standard streams count as no terminals meanwhile, so nothing pages,
/// prompts or colours. The environment is the process's. Returns the exit code the binary
/// would.
pub fn run_in(
    dir: &std::path::Path,
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    mut out: Box<dyn Write>,
    mut err: Box<dyn Write>,
) -> Exit {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let to = if e.use_stderr() { &mut err } else { &mut out };
            let _ = write!(to, "{}", e.render());
            return parse_exit(&e);
        }
    };
    let dir = match &cli.chdir {
        Some(c) => dir.join(c),
        None => dir.to_owned(),
    };
    // What `set_current_dir` would say, in the same words.
    let usable = std::fs::metadata(&dir).and_then(|m| {
        if m.is_dir() {
            Ok(())
        } else {
            Err(std::io::Error::from_raw_os_error(20)) // ENOTDIR
        }
    });
    if let Err(e) = usable {
        let shown = cli.chdir.as_deref().unwrap_or(&dir);
        let e = CliError::usage(format!("cannot change to '{}': {e}", shown.display()));
        e.print(&mut err);
        return Exit::Usage;
    }
    let _detached = crate::term::detach();
    execute(Ctx::new(dir, out, err), &cli.command)
}

/// The exit code for arguments clap did not take: help and version are not errors.
fn parse_exit(e: &clap::Error) -> Exit {
    if e.use_stderr() {
        Exit::Usage
    } else {
        Exit::Ok
    }
}

/// Run `command` in `ctx` and print its error, if any; returns the exit code.
fn execute(mut ctx: Ctx, command: &Command) -> Exit {
    let result = dispatch(&mut ctx, command).and_then(|()| ctx.out.flush().map_err(CliError::from));
    match result {
        Ok(()) => Exit::Ok,
        Err(e) if e.broken_pipe => Exit::Ok,
        Err(e) => {
            let _ = ctx.out.flush();
            e.print(&mut ctx.err);
            let _ = ctx.err.flush();
            e.exit
        }
    }
}

/// Make a relative `GIT_DIR` absolute, as git resolves it against the current directory. gix
/// cannot open `GIT_DIR=.`, which is what `git receive-pack` gives hooks (reference-transaction
/// during a push into a repository with a work tree).
fn absolute_git_dir() {
    let Some(dir) = std::env::var_os("GIT_DIR").map(PathBuf::from) else {
        return;
    };
    if dir.is_absolute() {
        return;
    }
    if let Ok(abs) = std::fs::canonicalize(&dir) {
        // SAFETY: called at the start of the program, before any thread exists.
        unsafe { std::env::set_var("GIT_DIR", abs) };
    }
}

fn dispatch(ctx: &mut Ctx, command: &Command) -> Result<(), CliError> {
    match command {
        Command::Init(args) => init::run(ctx, args),
        Command::New(args) => new::run(ctx, args),
        Command::Spec(cmd) => spec::run(ctx, cmd),
        Command::Plan(args) => plan::run(ctx, args),
        Command::Answer(args) => answer::run(ctx, args),
        Command::Next(args) => work::next(ctx, args),
        Command::Start(args) => work::start(ctx, args),
        Command::Step(args) => work::step(ctx, args),
        Command::Exec(args) => exec::exec(ctx, args),
        Command::Test(args) => test::test(ctx, args),
        Command::Audit(args) => audit::audit(ctx, args),
        Command::Review(args) => review::review(ctx, args),
        Command::Ready(args) => review::ready(ctx, args),
        Command::Approve(args) => review::approve(ctx, args),
        Command::Reject(args) => review::reject(ctx, args),
        Command::Integrate(args) => merge::integrate(ctx, args),
        Command::Finish(args) => merge::finish(ctx, args),
        Command::List(args) => status::list(ctx, args),
        Command::Status(args) => status::status(ctx, args),
        Command::Stats(args) => stats::stats(ctx, args),
        Command::Check(args) => check::run(ctx, args),
        Command::Sync(args) => sync::run(ctx, args),
        Command::Hooks(cmd) => hooks::run(ctx, cmd),
        Command::Hook(args) => hooks::hook(ctx, args),
        Command::Demo(args) => demo::run(ctx, args),
        Command::Man(args) => docs::man(ctx, args),
        Command::Completions(args) => docs::completions(ctx, args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
