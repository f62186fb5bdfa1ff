//! `git aiflow hooks install|uninstall|status` and `git aiflow hook <name>`, what the shims run.

use super::{CliError, Ctx, Exit};
use crate::gate::hook;
use crate::gate::install::{self, Installed, Removed, State};
use std::io::{Read, Write};
use std::path::Path;

/// `hooks` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum HooksCommand {
    /// Install the gate's hooks (chaining to any hook already there).
    Install(HooksArgs),
    /// Remove the gate's hooks and restore what they replaced.
    Uninstall(HooksArgs),
    /// Show which hooks are installed.
    Status(HooksStatusArgs),
}

/// Arguments of `hooks install|uninstall`.
#[derive(Debug, clap::Args)]
pub struct HooksArgs {
    /// The server hook (pre-receive) instead of the work-repository hooks.
    #[arg(long)]
    pub server: bool,
}

/// Arguments of `hooks status`.
#[derive(Debug, clap::Args)]
pub struct HooksStatusArgs {
    /// The server hook (pre-receive) instead of the work-repository hooks.
    #[arg(long)]
    pub server: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `hook`.
#[derive(Debug, clap::Args)]
pub struct HookArgs {
    /// Run the hook this shim replaced (kept as `<name>.aiflow-prev`) first.
    #[arg(long)]
    pub chain: bool,
    /// The git hook's name.
    #[arg(value_name = "git-hook-name")]
    pub name: String,
    /// The arguments git gave the hook.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Run a `hooks` subcommand.
pub fn run(ctx: &mut Ctx, cmd: &HooksCommand) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let dir = install::hooks_dir(repo)?;
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    match cmd {
        HooksCommand::Install(a) => install(ctx, &dir, a.server),
        HooksCommand::Uninstall(a) => uninstall(ctx, &dir, a.server),
        HooksCommand::Status(a) => status(ctx, &dir, a),
    }
}

fn install(ctx: &mut Ctx, dir: &Path, server: bool) -> Result<(), CliError> {
    install::prepare(dir, server)?;
    for name in install::names(server) {
        let path = dir.join(name);
        let verb = match install::install(dir, name)? {
            Installed::UpToDate => {
                writeln!(ctx.out, "{name}: up to date ({})", path.display())?;
                continue;
            }
            Installed::New => "installed",
            Installed::Updated => "updated",
            Installed::Chained => "installed, chaining to the existing hook",
        };
        writeln!(ctx.out, "{name}: {verb} ({})", path.display())?;
    }
    if !server {
        writeln!(
            ctx.out,
            "The gate now refuses unreviewed commits on protected branches for merges, commits, ref updates and pushes from this repository."
        )?;
        writeln!(
            ctx.out,
            "Client hooks can be skipped (core.hooksPath, --no-verify); enforce on the server too: `git aiflow hooks install --server` there."
        )?;
    }
    Ok(())
}

fn uninstall(ctx: &mut Ctx, dir: &Path, server: bool) -> Result<(), CliError> {
    for name in install::names(server) {
        let what = match install::uninstall(dir, name)? {
            Removed::NotInstalled => "not installed",
            Removed::Foreign => "not git-aiflow's, left alone",
            Removed::Restored => "removed; the previous hook is back",
            Removed::Removed => "removed",
        };
        writeln!(ctx.out, "{name}: {what}")?;
    }
    Ok(())
}

fn status(ctx: &mut Ctx, dir: &Path, args: &HooksStatusArgs) -> Result<(), CliError> {
    let rows: Vec<(&str, State)> = install::names(args.server)
        .iter()
        .map(|n| (*n, install::state(dir, n)))
        .collect();
    let word = |s: State| match s {
        State::Missing => "missing",
        State::Ours { chained: false } => "installed",
        State::Ours { chained: true } => "installed (chains to the previous hook)",
        State::Foreign => "foreign (another tool's hook; not installed)",
    };
    let all = rows.iter().all(|(_, s)| matches!(s, State::Ours { .. }));
    if args.json {
        let hooks: Vec<serde_json::Value> = rows
            .iter()
            .map(|(n, s)| {
                serde_json::json!({
                    "name": n,
                    "path": dir.join(n).display().to_string(),
                    "installed": matches!(s, State::Ours { .. }),
                    "chained": matches!(s, State::Ours { chained: true }),
                    "foreign": *s == State::Foreign,
                })
            })
            .collect();
        return ctx.json(&serde_json::json!({
            "dir": dir.display().to_string(),
            "installed": all,
            "hooks": hooks,
        }));
    }
    writeln!(ctx.out, "hooks directory: {}", dir.display())?;
    for (n, s) in &rows {
        writeln!(ctx.out, "  {n}: {}", word(*s))?;
    }
    if !all {
        writeln!(
            ctx.out,
            "The gate is not fully installed: `git aiflow hooks install{}`.",
            if args.server { " --server" } else { "" }
        )?;
    }
    Ok(())
}

/// The arguments of `git-aiflow hook <name> <args>…` as the shims pass them (no `-C`, no
/// `--chain`, a hook name that is not an option), read without building clap's parser: its cost
/// is paid on every ref update. Anything else is for clap.
pub fn shim_args(args: &[std::ffi::OsString]) -> Option<HookArgs> {
    let [_, cmd, name, rest @ ..] = args else {
        return None;
    };
    let name = name.to_str()?;
    if cmd != "hook" || name.starts_with('-') {
        return None;
    }
    let args = rest
        .iter()
        .map(|a| a.to_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()?;
    Some(HookArgs {
        chain: false,
        name: name.to_owned(),
        args,
    })
}

/// Whether `reference-transaction` input names a branch (`refs/heads/…`): the gate judges
/// nothing else (tags, remote-tracking refs, notes, `HEAD`, `ORIG_HEAD`), so a transaction of
/// those alone is let through without opening the repository. The same reading of the lines as
/// [`hook::run`]'s.
fn names_a_branch(stdin: &[u8]) -> bool {
    String::from_utf8_lossy(stdin).lines().any(|l| {
        l.split(' ')
            .nth(2)
            .is_some_and(|r| r.starts_with("refs/heads/"))
    })
}

/// Run `hook`: what the shims exec. Exit 0 lets git go on; anything else refuses.
pub fn hook(ctx: &mut Ctx, args: &HookArgs) -> Result<(), CliError> {
    let takes_stdin = matches!(
        args.name.as_str(),
        "reference-transaction" | "pre-push" | "pre-receive"
    );
    let mut stdin = Vec::new();
    if takes_stdin {
        std::io::stdin().read_to_end(&mut stdin)?;
    }
    // Most reference transactions are not `prepared`: leave before opening the repository.
    let prepared = args.args.first().map(String::as_str) == Some("prepared");
    if args.name == "reference-transaction" && !args.chain && !(prepared && names_a_branch(&stdin))
    {
        return Ok(());
    }
    let (repo, err) = ctx.repo_and_err()?;
    if args.chain
        && !install::run_previous(&install::hooks_dir(repo)?, &args.name, &args.args, &stdin)?
    {
        // The previous hook's refusal is ours.
        return Err(CliError::silent(Exit::Refused));
    }
    let allowed = hook::run(repo, &args.name, &args.args, &stdin, err).map_err(|e| {
        CliError::from(e).hint(
            "the gate fails closed; fix the cause, or remove the hooks with `git aiflow hooks uninstall`",
        )
    })?;
    if allowed {
        Ok(())
    } else {
        Err(CliError::silent(Exit::Refused))
    }
}
