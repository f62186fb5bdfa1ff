//! Installing the gate's hooks: the shims git runs (`exec git aiflow hook <name> "$@"`), where
//! they go (`core.hooksPath` or the common git dir's `hooks`), and how a hook another tool put
//! there first is kept (as `<name>.aiflow-prev`, which the shim runs first) and given back.

use super::hook::{CLIENT_HOOKS, SERVER_HOOKS};
use crate::git::process::{Input, Process, ProcessError};
use std::path::{Path, PathBuf};

/// The line that marks a hook file as git-aiflow's own.
const MARKER: &str = "# git-aiflow review gate";
/// The suffix a foreign hook is kept under while git-aiflow's shim chains to it.
const PREV_SUFFIX: &str = ".aiflow-prev";

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

/// The hooks installed in a work repository, or on a server.
pub fn names(server: bool) -> &'static [&'static str] {
    if server { &SERVER_HOOKS } else { &CLIENT_HOOKS }
}

/// The directory git runs hooks from: `core.hooksPath` (relative to the work tree, or to the git
/// dir of a bare repository), else the common git dir's `hooks`, shared by linked worktrees.
pub fn hooks_dir(repo: &gix::Repository) -> Result<PathBuf, InstallError> {
    let config = repo.config_snapshot();
    let path = config
        .trusted_path("core.hooksPath")
        .map_err(|e| InstallError::HooksPath(e.to_string()))?;
    if let Some(path) = path {
        let base = repo.workdir().unwrap_or_else(|| repo.git_dir());
        return Ok(base.join(path));
    }
    Ok(repo.common_dir().join("hooks"))
}

/// What state a hook is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No file.
    Missing,
    /// git-aiflow's shim.
    Ours {
        /// A previous hook is kept, and the shim runs it first.
        chained: bool,
    },
    /// Another tool's hook.
    Foreign,
}

/// The state of hook `name` in `dir`.
pub fn state(dir: &Path, name: &str) -> State {
    let path = dir.join(name);
    match std::fs::read(&path) {
        Err(_) => State::Missing,
        Ok(bytes) if String::from_utf8_lossy(&bytes).contains(MARKER) => State::Ours {
            chained: previous(dir, name).exists(),
        },
        Ok(_) => State::Foreign,
    }
}

/// Where the hook a shim replaced is kept.
pub fn previous(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{PREV_SUFFIX}"))
}

/// What [`install`] did to one hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installed {
    /// The shim was there already, unchanged.
    UpToDate,
    /// There was no hook.
    New,
    /// An older shim was replaced.
    Updated,
    /// Another tool's hook was kept aside, and the shim runs it first.
    Chained,
}

/// What [`uninstall`] did to one hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    /// There was no hook.
    NotInstalled,
    /// Another tool's hook, left alone.
    Foreign,
    /// The shim was removed.
    Removed,
    /// The shim was removed and the hook it replaced put back.
    Restored,
}

/// A file operation on a hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOp {
    /// Creating the hooks directory.
    CreateDir,
    /// Writing a shim.
    Write,
    /// Making a shim executable.
    MakeExecutable,
    /// Moving a foreign hook aside.
    MoveAside,
    /// Putting a foreign hook back.
    Restore,
    /// Removing a shim.
    Remove,
}

/// Why hooks could not be installed, removed or chained to.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// `core.hooksPath` is set to something unusable.
    #[error("core.hooksPath is not a usable path: {0}")]
    HooksPath(String),
    /// A foreign hook is there, and the name it would be kept under is taken.
    #[error("{} is not git-aiflow's, and {} is taken", hook.display(), kept.display())]
    Taken {
        /// The foreign hook.
        hook: PathBuf,
        /// The file in the way.
        kept: PathBuf,
    },
    /// A file could not be changed.
    #[error("{}", describe(*op, path))]
    File {
        /// What was being done.
        op: FileOp,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The hook a shim chains to could not be run.
    #[error("cannot run {}", path.display())]
    Previous {
        /// The hook.
        path: PathBuf,
        /// Why.
        #[source]
        source: ProcessError,
    },
}

fn describe(op: FileOp, path: &Path) -> String {
    let path = path.display();
    match op {
        FileOp::CreateDir => format!("cannot create {path}"),
        FileOp::Write => format!("cannot write {path}"),
        FileOp::MakeExecutable => format!("cannot make {path} executable"),
        FileOp::MoveAside => format!("cannot move {path} aside"),
        FileOp::Restore => format!("cannot restore {path}"),
        FileOp::Remove => format!("cannot remove {path}"),
    }
}

fn file_err(op: FileOp, path: &Path) -> impl FnOnce(std::io::Error) -> InstallError {
    let path = path.to_owned();
    move |source| InstallError::File { op, path, source }
}

/// Create `dir`, and refuse before changing anything if a foreign hook cannot be kept.
pub fn prepare(dir: &Path, server: bool) -> Result<(), InstallError> {
    std::fs::create_dir_all(dir).map_err(file_err(FileOp::CreateDir, dir))?;
    for name in names(server) {
        let kept = previous(dir, name);
        if state(dir, name) == State::Foreign && kept.exists() {
            return Err(InstallError::Taken {
                hook: dir.join(name),
                kept,
            });
        }
    }
    Ok(())
}

/// Install the shim for hook `name` in `dir` (after [`prepare`]), keeping a foreign hook.
pub fn install(dir: &Path, name: &str) -> Result<Installed, InstallError> {
    let path = dir.join(name);
    let done = match state(dir, name) {
        State::Missing => Installed::New,
        State::Ours { chained } => {
            if std::fs::read_to_string(&path).ok() == Some(shim(name, chained)) {
                return Ok(Installed::UpToDate);
            }
            Installed::Updated
        }
        State::Foreign => {
            std::fs::rename(&path, previous(dir, name))
                .map_err(file_err(FileOp::MoveAside, &path))?;
            Installed::Chained
        }
    };
    // Chained when a previous hook is kept, whichever way it got there.
    let chained = previous(dir, name).exists();
    write_shim(&path, &shim(name, chained))?;
    Ok(done)
}

/// Remove the shim for hook `name` from `dir`, putting back the hook it replaced.
pub fn uninstall(dir: &Path, name: &str) -> Result<Removed, InstallError> {
    let path = dir.join(name);
    match state(dir, name) {
        State::Missing => Ok(Removed::NotInstalled),
        State::Foreign => Ok(Removed::Foreign),
        State::Ours { chained: true } => {
            let kept = previous(dir, name);
            std::fs::rename(&kept, &path).map_err(file_err(FileOp::Restore, &kept))?;
            Ok(Removed::Restored)
        }
        State::Ours { chained: false } => {
            std::fs::remove_file(&path).map_err(file_err(FileOp::Remove, &path))?;
            Ok(Removed::Removed)
        }
    }
}

fn write_shim(path: &Path, content: &str) -> Result<(), InstallError> {
    let tmp = path.with_extension("aiflow-tmp");
    std::fs::write(&tmp, content).map_err(file_err(FileOp::Write, &tmp))?;
    set_executable(&tmp)?;
    std::fs::rename(&tmp, path).map_err(file_err(FileOp::Write, path))
}

#[cfg(unix)]
fn set_executable(path: &Path) -> Result<(), InstallError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(file_err(FileOp::MakeExecutable, path))
}

#[cfg(not(unix))]
fn set_executable(_: &Path) -> Result<(), InstallError> {
    Ok(())
}

/// Run the hook the shim for `name` in `dir` replaced, if one is kept, with the same arguments
/// and input. Returns whether it let git go on (`true` when there is none).
pub fn run_previous(
    dir: &Path,
    name: &str,
    args: &[String],
    stdin: &[u8],
) -> Result<bool, InstallError> {
    let prev = previous(dir, name);
    if !prev.exists() {
        return Ok(true);
    }
    let finished = Process::new(&prev, prev.display().to_string())
        .args(args)
        .stdin(Input::Bytes(stdin.to_vec()))
        .run()
        .map_err(|source| InstallError::Previous {
            path: prev.clone(),
            source,
        })?;
    Ok(finished.status.success())
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
