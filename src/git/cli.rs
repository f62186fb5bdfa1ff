//! The one place that runs the `git` program, for what gix cannot do (work-tree updates,
//! push/fetch, hooks). Each call returns a typed error carrying git's own message.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A failed `git` invocation.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// `git` could not be started.
    #[error("could not run `git {args}`")]
    Spawn {
        /// The arguments, joined for display.
        args: String,
        /// Why it could not start.
        #[source]
        source: std::io::Error,
    },
    /// `git` ran and failed.
    #[error("`git {args}` failed ({status}): {stderr}")]
    Failed {
        /// The arguments, joined for display.
        args: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it printed on stderr, trimmed (empty when stderr went to the user).
        stderr: String,
    },
}

/// A `git` command in `dir` with no stdin, and its arguments joined for messages.
fn prepare<I, S>(dir: &Path, args: I) -> (Command, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let shown = args
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new("git");
    cmd.args(&args).current_dir(dir).stdin(Stdio::null());
    (cmd, shown)
}

/// Run `git <args>` in `dir` and return its output if it succeeded.
pub fn run<I, S>(dir: &Path, args: I) -> Result<Output, GitError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let (mut cmd, args) = prepare(dir, args);
    let out = match cmd.output() {
        Ok(out) => out,
        Err(source) => return Err(GitError::Spawn { args, source }),
    };
    if out.status.success() {
        return Ok(out);
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(GitError::Failed {
        args,
        status: out.status,
        stderr,
    })
}

/// Run `git <args>` in `dir` with inherited stdout and stderr (for output meant for the user).
pub fn run_visible<I, S>(dir: &Path, args: I) -> Result<(), GitError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let (mut cmd, args) = prepare(dir, args);
    match cmd.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(GitError::Failed {
            args,
            status,
            stderr: String::new(),
        }),
        Err(source) => Err(GitError::Spawn { args, source }),
    }
}
