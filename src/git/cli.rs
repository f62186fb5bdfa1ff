//! The one place that runs the `git` program, for what gix cannot do (work-tree updates,
//! push/fetch, hooks). Each call returns a typed error carrying git's own message.

use std::ffi::OsStr;
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
        /// What it printed on stderr, trimmed.
        stderr: String,
    },
}

/// Run `git <args>` in `dir` and return its output if it succeeded.
pub fn run<I, S>(dir: &Path, args: I) -> Result<Output, GitError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let shown = args
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new("git")
        .args(&args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| GitError::Spawn {
            args: shown.clone(),
            source,
        })?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(GitError::Failed {
            args: shown,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Run `git <args>` in `dir` with inherited stdout and stderr (for output meant for the user).
pub fn run_visible<I, S>(dir: &Path, args: I) -> Result<(), GitError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let shown = args
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let status = Command::new("git")
        .args(&args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .status()
        .map_err(|source| GitError::Spawn {
            args: shown.clone(),
            source,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(GitError::Failed {
            args: shown,
            status,
            stderr: String::new(),
        })
    }
}
