//! `git aiflow hooks install|uninstall|status` and `git aiflow hook <name>`, what the shims run.

use super::{CliError, Ctx, Exit};
use crate::gate::hook::{self, CLIENT_HOOKS, SERVER_HOOKS};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The line that marks a hook file as git-aiflow's own.
const MARKER: &str = "# git-aiflow review gate";
/// The suffix a foreign hook is kept under while git-aiflow's shim chains to it.
const PREV_SUFFIX: &str = ".aiflow-prev";

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

/// The shim for hook `name`: what `hooks/<name>` holds.
pub fn shim(name: &str, chain: bool) -> String {
    let head = format!("#!/bin/sh\n{MARKER}: `git aiflow hooks uninstall` removes this file.\n");
    if chain {
        return format!("{head}exec git aiflow hook --chain {name} \"$@\"\n");
    }
    if name == "reference-transaction" {
        // It runs for every state of every ref update, and only `prepared` can refuse: leave
        // the others without starting a process (git ignores the unread input), and skip the
        // `git` wrapper process (measured: 5.8 ms added to an unrelated update through
        // `git aiflow`, under 5 ms without it; benches/check.sh).
        return format!(
            "{head}case \"$1\" in prepared) exec git-aiflow hook {name} \"$@\" ;; esac\n"
        );
    }
    format!("{head}exec git aiflow hook {name} \"$@\"\n")
}

/// The directory git runs hooks from: `core.hooksPath` (relative to the work tree, or to the git
/// dir of a bare repository), else the common git dir's `hooks`, shared by linked worktrees.
pub fn hooks_dir(repo: &gix::Repository) -> Result<PathBuf, CliError> {
    let config = repo.config_snapshot();
    let path = config
        .trusted_path("core.hooksPath")
        .map_err(|e| CliError::usage(format!("core.hooksPath is not a usable path: {e}")))?;
    if let Some(path) = path {
        let base = repo.workdir().unwrap_or_else(|| repo.git_dir());
        return Ok(base.join(path));
    }
    Ok(repo.common_dir().join("hooks"))
}

/// What state a hook is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Missing,
    Ours { chained: bool },
    Foreign,
}

fn state(dir: &Path, name: &str) -> State {
    let path = dir.join(name);
    match std::fs::read(&path) {
        Err(_) => State::Missing,
        Ok(bytes) if String::from_utf8_lossy(&bytes).contains(MARKER) => State::Ours {
            chained: dir.join(format!("{name}{PREV_SUFFIX}")).exists(),
        },
        Ok(_) => State::Foreign,
    }
}

fn names(server: bool) -> &'static [&'static str] {
    if server { &SERVER_HOOKS } else { &CLIENT_HOOKS }
}

fn write_shim(path: &Path, content: &str) -> Result<(), CliError> {
    let tmp = path.with_extension("aiflow-tmp");
    std::fs::write(&tmp, content)
        .map_err(|e| CliError::usage(format!("cannot write {}", tmp.display())).source(e))?;
    set_executable(&tmp)?;
    std::fs::rename(&tmp, path)
        .map_err(|e| CliError::usage(format!("cannot write {}", path.display())).source(e))
}

#[cfg(unix)]
fn set_executable(path: &Path) -> Result<(), CliError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(|e| {
        CliError::usage(format!("cannot make {} executable", path.display())).source(e)
    })
}

#[cfg(not(unix))]
fn set_executable(_: &Path) -> Result<(), CliError> {
    Ok(())
}

/// Run a `hooks` subcommand.
pub fn run(ctx: &mut Ctx, cmd: &HooksCommand) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let dir = hooks_dir(repo)?;
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    match cmd {
        HooksCommand::Install(a) => install(ctx, &dir, a.server),
        HooksCommand::Uninstall(a) => uninstall(ctx, &dir, a.server),
        HooksCommand::Status(a) => status(ctx, &dir, a),
    }
}

fn install(ctx: &mut Ctx, dir: &Path, server: bool) -> Result<(), CliError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::usage(format!("cannot create {}", dir.display())).source(e))?;
    // Refuse before changing anything if a foreign hook cannot be kept.
    for name in names(server) {
        let prev = dir.join(format!("{name}{PREV_SUFFIX}"));
        if state(dir, name) == State::Foreign && prev.exists() {
            return Err(CliError::refused(format!(
                "{} is not git-aiflow's, and {} is taken",
                dir.join(name).display(),
                prev.display()
            ))
            .hint("merge the two hooks by hand, or move one away, then run `git aiflow hooks install` again"));
        }
    }
    for name in names(server) {
        let path = dir.join(name);
        let verb = match state(dir, name) {
            State::Missing => "installed",
            State::Ours { chained } => {
                if std::fs::read_to_string(&path).ok() == Some(shim(name, chained)) {
                    writeln!(ctx.out, "{name}: up to date ({})", path.display())?;
                    continue;
                }
                "updated"
            }
            State::Foreign => {
                let prev = dir.join(format!("{name}{PREV_SUFFIX}"));
                std::fs::rename(&path, &prev).map_err(|e| {
                    CliError::usage(format!("cannot move {} aside", path.display())).source(e)
                })?;
                "installed, chaining to the existing hook"
            }
        };
        // Chained when a previous hook is kept, whichever way it got there.
        let chained = dir.join(format!("{name}{PREV_SUFFIX}")).exists();
        write_shim(&path, &shim(name, chained))?;
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
    for name in names(server) {
        let path = dir.join(name);
        let prev = dir.join(format!("{name}{PREV_SUFFIX}"));
        match state(dir, name) {
            State::Missing => writeln!(ctx.out, "{name}: not installed")?,
            State::Foreign => writeln!(ctx.out, "{name}: not git-aiflow's, left alone")?,
            State::Ours { chained } => {
                if chained {
                    std::fs::rename(&prev, &path).map_err(|e| {
                        CliError::usage(format!("cannot restore {}", prev.display())).source(e)
                    })?;
                    writeln!(ctx.out, "{name}: removed; the previous hook is back")?;
                } else {
                    std::fs::remove_file(&path).map_err(|e| {
                        CliError::usage(format!("cannot remove {}", path.display())).source(e)
                    })?;
                    writeln!(ctx.out, "{name}: removed")?;
                }
            }
        }
    }
    Ok(())
}

fn status(ctx: &mut Ctx, dir: &Path, args: &HooksStatusArgs) -> Result<(), CliError> {
    let rows: Vec<(&str, State)> = names(args.server)
        .iter()
        .map(|n| (*n, state(dir, n)))
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
    if args.name == "reference-transaction" && !prepared && !args.chain {
        return Ok(());
    }
    let repo = ctx.repo()?;
    if args.chain {
        let prev = hooks_dir(repo)?.join(format!("{}{PREV_SUFFIX}", args.name));
        run_previous(&prev, &args.args, &stdin)?;
    }
    let mut err = std::io::stderr().lock();
    let allowed = hook::run(repo, &args.name, &args.args, &stdin, &mut err).map_err(|e| {
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

/// Run the hook a shim replaced, with the same arguments and input; its refusal is ours.
fn run_previous(prev: &Path, args: &[String], stdin: &[u8]) -> Result<(), CliError> {
    if !prev.exists() {
        return Ok(());
    }
    let status = crate::git::process::Process::new(prev, prev.display().to_string())
        .args(args)
        .stdin(crate::git::process::Input::Bytes(stdin.to_vec()))
        .run()
        .map_err(|e| CliError::usage(format!("cannot run {}", prev.display())).process(e))?
        .status;
    if status.success() {
        Ok(())
    } else {
        Err(CliError::silent(Exit::Refused))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_shims_match_what_install_writes() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks");
        for name in CLIENT_HOOKS.iter().chain(&SERVER_HOOKS) {
            let shipped = std::fs::read_to_string(root.join(name)).expect("shipped shim");
            assert_eq!(shipped, shim(name, false), "hooks/{name}");
        }
    }
}
