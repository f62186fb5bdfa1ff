//! The command line: clap types, dispatch, and the single point where errors are printed.
//!
//! clap stops here: each command file converts its `XArgs` into calls on the library.

mod answer;
mod ask;
pub(crate) mod audit;
mod check;
mod complete;
mod config;
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

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
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
    /// Run as if started in the given directory, as `git -C` does; repeated, each relative one
    /// is taken from the one before.
    #[arg(
        short = 'C',
        value_name = "path",
        global = true,
        action = clap::ArgAction::Append,
        help = "Run as if started in <path>"
    )]
    pub chdir: Vec<PathBuf>,

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
    /// Delete finished flows' branches that are merged into their base (-n: only say which).
    Prune(merge::PruneArgs),
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
    /// The candidates for the last word of a command line, for the completion scripts.
    #[command(name = "__complete", hide = true)]
    Complete(complete::CompleteArgs),
    /// List the aiflow.* configuration: effective values, where each came from, defaults.
    Config(config::ConfigArgs),
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
        return ExitCode::from(execute(Ctx::default(), &Command::Hook(hook), false) as u8);
    }
    let args = complete::help_words(args);
    let parse = |color| {
        Cli::command()
            .color(color)
            .try_get_matches_from(&args)
            .and_then(|mut m| Cli::from_arg_matches_mut(&mut m))
    };
    // Colour matters only when clap prints (help, a usage error): only then is config read.
    let parsed = parse(clap::ColorChoice::Never).or_else(|_| parse(help_color()));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` opens the command's manual page, as git's `<cmd> --help` does; `-h`,
            // or a page that is not installed, prints clap's help.
            if e.kind() == clap::error::ErrorKind::DisplayHelp
                && args.iter().any(|a| a == "--help")
                && let Some(code) = docs::open_manual(&complete::command_path(&args))
            {
                return code;
            }
            let _ = e.print();
            let exit = parse_exit(&e);
            json_parse_error(&args, &e, exit, &mut std::io::stdout());
            return ExitCode::from(exit as u8);
        }
    };
    // As `git -C`: change directory first, so relative paths (-F FILE) mean the same thing.
    for dir in &cli.chdir {
        // `-C ''` leaves the directory as it is, as in git.
        if dir.as_os_str().is_empty() {
            continue;
        }
        if let Err(e) = std::env::set_current_dir(dir) {
            let err = CliError::usage(format!("cannot change to '{}': {e}", dir.display()));
            err.print(&mut std::io::stderr().lock());
            return ExitCode::from(Exit::Usage as u8);
        }
    }
    absolute_git_dir();
    let json = wants_json(&args);
    ExitCode::from(execute(Ctx::default(), &cli.command, json) as u8)
}

/// How clap colours help and usage errors: by `color.ui`, as git colours; clap's auto also
/// honours `NO_COLOR` and `TERM=dumb`, and colours on a terminal only.
fn help_color() -> clap::ColorChoice {
    let Ok(repo) = crate::git::open(std::path::Path::new(".")) else {
        return clap::ColorChoice::Auto;
    };
    match crate::term::when(None, &repo.config_snapshot(), "color.ui") {
        crate::term::ColorWhen::Always => clap::ColorChoice::Always,
        crate::term::ColorWhen::Never => clap::ColorChoice::Never,
        crate::term::ColorWhen::Auto => clap::ColorChoice::Auto,
    }
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
    let args = complete::help_words(args.into_iter().map(Into::into).collect());
    let json = wants_json(&args);
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let to = if e.use_stderr() { &mut err } else { &mut out };
            let _ = write!(to, "{}", e.render());
            let exit = parse_exit(&e);
            json_parse_error(&args, &e, exit, &mut out);
            return exit;
        }
    };
    let mut dir = dir.to_owned();
    for c in cli.chdir.iter().filter(|c| !c.as_os_str().is_empty()) {
        dir = dir.join(c);
        // What `set_current_dir` would say, in the same words.
        let usable = std::fs::metadata(&dir).and_then(|m| {
            if m.is_dir() {
                Ok(())
            } else {
                Err(std::io::Error::from_raw_os_error(20)) // ENOTDIR
            }
        });
        if let Err(e) = usable {
            let e = CliError::usage(format!("cannot change to '{}': {e}", c.display()));
            e.print(&mut err);
            return Exit::Usage;
        }
    }
    let _detached = crate::term::detach();
    execute(Ctx::new(dir, out, err), &cli.command, json)
}

/// `--json` is on the command line (before any `--`): errors are written as JSON on stdout too.
fn wants_json(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json")
}

/// With `--json`, a usage error clap found is written as JSON on `out` as well.
fn json_parse_error(args: &[OsString], e: &clap::Error, exit: Exit, out: &mut dyn Write) {
    if exit == Exit::Ok || !wants_json(args) {
        return;
    }
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or_default();
    let err = CliError::usage(first.strip_prefix("error: ").unwrap_or(first)).hint(format!(
        "see `{}`",
        ["git aiflow"]
            .into_iter()
            .chain(complete::command_path(args).iter().map(String::as_str))
            .chain(["-h"])
            .collect::<Vec<_>>()
            .join(" ")
    ));
    let mut out = out;
    let _ = crate::ai::sanitize::write_json_pretty(&mut out, &err.to_json());
    let _ = writeln!(out);
}

/// The exit code for arguments clap did not take: help and version are not errors.
fn parse_exit(e: &clap::Error) -> Exit {
    if e.use_stderr() {
        Exit::Usage
    } else {
        Exit::Ok
    }
}

/// Run `command` in `ctx` and print its error, if any; returns the exit code. With `json`, an
/// error is also written on stdout as [`CliError::to_json`], unless the command wrote its JSON
/// already (the exit code then tells the rest).
fn execute(mut ctx: Ctx, command: &Command, json: bool) -> Exit {
    let result = dispatch(&mut ctx, command).and_then(|()| ctx.out.flush().map_err(CliError::from));
    // What `git log` shows follows every command that may have written notes (a refused one
    // too: it may have written before refusing). Hooks must stay fast and never write refs.
    match command {
        // The gate reads only: CI and server hooks run it.
        Command::Hook(_)
        | Command::Check(_)
        | Command::Man(_)
        | Command::Completions(_)
        | Command::Complete(_)
        | Command::Demo(_)
        | Command::Config(_) => {}
        Command::Init(_) => ctx.refresh_display(true),
        _ => ctx.refresh_display(false),
    }
    match result {
        Ok(()) => Exit::Ok,
        Err(e) if e.broken_pipe => Exit::Ok,
        Err(e) => {
            if json && !ctx.json_written && !e.is_silent() {
                let _ = ctx.json(&e.to_json());
            }
            let _ = ctx.out.flush();
            e.print(&mut ctx.err);
            let _ = ctx.err.flush();
            e.exit
        }
    }
}

/// The variables naming paths that git resolves against the directory it starts in.
const PATH_VARS: [&str; 5] = [
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
];

/// Make relative `GIT_DIR`, `GIT_WORK_TREE` and the other [`PATH_VARS`] absolute, as git resolves
/// them against the current directory: git-aiflow runs its own git commands in the work tree,
/// where a relative `GIT_WORK_TREE=..` (what `git --work-tree=.. aiflow` passes from a
/// subdirectory) would name another directory, and gix cannot open `GIT_DIR=.`, which is what
/// `git receive-pack` gives hooks.
fn absolute_git_dir() {
    for var in PATH_VARS {
        let Some(path) = std::env::var_os(var).map(PathBuf::from) else {
            continue;
        };
        if path.as_os_str().is_empty() || path.is_absolute() {
            continue;
        }
        let abs = std::fs::canonicalize(&path).or_else(|_| std::path::absolute(&path));
        if let Ok(abs) = abs {
            // SAFETY: called at the start of the program, before any thread exists.
            unsafe { std::env::set_var(var, abs) };
        }
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
        Command::Prune(args) => merge::prune(ctx, args),
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
        Command::Complete(args) => complete::run(ctx, args),
        Command::Config(args) => config::run(ctx, args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
