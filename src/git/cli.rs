//! The one place that runs the `git` program, for what gix cannot do: work-tree and index updates (`add`, `commit`,
//! `switch`, `worktree add`, `merge` into a checked-out branch, `reset --soft`, `reset --keep`);
//! patch ids, which are defined by git's own diff output; and talking to remotes, which
//! [`super::transport`] does through [`run`].
//!
//! Every call returns a typed [`GitError`] naming the command and what git printed.

use super::process::{Input, Process, ProcessError, Sink};
use std::path::Path;

/// A failed `git` invocation.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// git could not be started.
    #[error("could not run `git {args}`")]
    Spawn {
        /// The arguments.
        args: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// git exited with an error.
    #[error("`git {args}` failed{}", stderr_suffix(.stderr))]
    Failed {
        /// The arguments.
        args: String,
        /// What git printed on stderr.
        stderr: String,
    },
    /// git's output was not what the protocol promises.
    #[error("`git {args}` answered unexpectedly: {problem}")]
    Protocol {
        /// The arguments.
        args: String,
        /// What was wrong.
        problem: String,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    let s = stderr.trim();
    if s.is_empty() {
        String::new()
    } else {
        format!(": {s}")
    }
}

/// A `git` command run in `dir` (the environment is inherited: hooks rely on `GIT_DIR` and the
/// quarantine variables), through the one process runner. git reads the real objects, as
/// git-aiflow does: no replacement objects (`refs/replace/*`) and no grafts (`info/grafts`), so
/// what git shows or computes for the tool is about the commits the refs point to.
fn command<'a>(dir: &Path, args: &[&str]) -> Process<'a> {
    Process::new("git", format!("`git {}`", args.join(" ")))
        .dir(dir)
        .args(args)
        .env("GIT_NO_REPLACE_OBJECTS", "1")
        .env("GIT_GRAFT_FILE", NO_GRAFTS)
}

/// git could not be run to its end.
fn not_run(args: String, e: ProcessError) -> GitError {
    let source = match e {
        ProcessError::Start { source, .. } | ProcessError::Wait { source, .. } => source,
        ProcessError::TimedOut { .. } => std::io::Error::other(e.to_string()),
    };
    GitError::Spawn { args, source }
}

/// A graft file that does not exist, so git reads no grafts.
const NO_GRAFTS: &str = "/dev/null/aiflow-no-grafts";

/// Run git and return its stdout; a non-zero exit is an error carrying stderr.
pub fn output(dir: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    checked(dir, args, &[], None)
}

/// What a git command printed and how it exited, for commands whose failure is an answer
/// (`diff --quiet`, a merge with conflicts) rather than an error.
#[derive(Debug)]
pub struct Ran {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: String,
}

impl Ran {
    /// Whether git exited 0.
    pub fn ok(&self) -> bool {
        self.code == 0
    }
}

/// Run git in `dir` with extra environment and optional stdin, and report how it went; only a
/// failure to start git is an error.
pub fn run(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&[u8]>,
) -> Result<Ran, GitError> {
    let done = command(dir, args)
        .envs(env.iter().copied())
        .stdin(match stdin {
            Some(input) => Input::Bytes(input.to_vec()),
            None => Input::Null,
        })
        .stdout(Sink::capture())
        .stderr(Sink::capture())
        .run()
        .map_err(|e| not_run(args.join(" "), e))?;
    Ok(Ran {
        code: done.code().unwrap_or(-1),
        stderr: done.stderr_text(),
        stdout: done.stdout,
    })
}

/// Run git in `dir` with extra environment and optional stdin; a non-zero exit is an error.
pub fn checked(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&[u8]>,
) -> Result<Vec<u8>, GitError> {
    let ran = run(dir, args, env, stdin)?;
    if ran.ok() {
        Ok(ran.stdout)
    } else {
        Err(GitError::Failed {
            args: args.join(" "),
            stderr: ran.stderr,
        })
    }
}

/// `git reset --keep <commit>` in the work tree `dir`: its branch and files move to `commit`, local
/// changes kept. `false` when changes are in the way (then nothing moved).
pub fn reset_keep(dir: &Path, commit: gix::ObjectId) -> Result<bool, GitError> {
    Ok(run(dir, &["reset", "--keep", &commit.to_string()], &[], None)?.ok())
}

/// The stable patch ids (`git patch-id --stable`) of `commits`, computed by one
/// `git diff-tree --stdin -p | git patch-id --stable` pipeline. Commits without a patch (merges,
/// empty commits) are absent from the answer. git is asked because the id is defined by its
/// diff output (algorithm, heuristics, context), which gix does not reproduce byte for byte.
pub fn patch_ids(
    dir: &Path,
    commits: &[gix::ObjectId],
) -> Result<std::collections::HashMap<gix::ObjectId, String>, GitError> {
    let mut out = std::collections::HashMap::new();
    if commits.is_empty() {
        return Ok(out);
    }
    const DIFF: &str =
        "diff-tree --stdin --root -p --no-color --no-ext-diff --no-textconv --no-renames";
    let mut input = String::with_capacity(commits.len() * 41);
    for c in commits {
        input.push_str(&c.to_string());
        input.push('\n');
    }
    let diff =
        command(dir, &DIFF.split(' ').collect::<Vec<_>>()).stdin(Input::Bytes(input.into_bytes()));
    let (diff_result, result) = diff
        .pipe(command(dir, &["patch-id", "--stable"]))
        .map_err(|e| not_run(format!("{DIFF} | git patch-id --stable"), e))?;
    if !diff_result.success() {
        return Err(GitError::Failed {
            args: DIFF.into(),
            stderr: diff_result.stderr_text(),
        });
    }
    if !result.success() {
        return Err(GitError::Failed {
            args: "patch-id --stable".into(),
            stderr: result.stderr_text(),
        });
    }
    for line in String::from_utf8_lossy(&result.stdout).lines() {
        let mut parts = line.split_whitespace();
        let (Some(pid), Some(commit)) = (parts.next(), parts.next()) else {
            continue;
        };
        if let Ok(id) = gix::ObjectId::from_hex(commit.as_bytes()) {
            out.insert(id, pid.to_owned());
        }
    }
    Ok(out)
}

/// Whether the work tree at `dir` has changes (tracked or untracked, not ignored).
pub fn is_dirty(dir: &std::path::Path) -> Result<bool, GitError> {
    let out = checked(dir, &["status", "--porcelain", "-z"], &[], None)?;
    Ok(!out.is_empty())
}
