//! Talking to a remote through the `git` program: listing its refs, fetching them into
//! remote-tracking refs, and one atomic push. git runs through [`super::cli::run`]; what it
//! printed comes back tidied (no blank or padded `remote:` lines).

use super::cli::{self, GitError, Ran};
use gix::ObjectId;
use std::collections::BTreeSet;
use std::path::Path;

/// The names of `remote`'s refs that match `patterns` (`git ls-remote --refs`; git matches a
/// pattern against the end of a name, so callers filter the answer). Not reaching the remote is
/// [`GitError::Failed`] with git's tidied stderr.
pub fn ls_remote(
    dir: &Path,
    remote: &str,
    patterns: &[&str],
) -> Result<BTreeSet<String>, GitError> {
    let mut argv = vec!["ls-remote", "--refs", remote];
    argv.extend_from_slice(patterns);
    let ran = cli::run(dir, &argv, &[], None)?;
    if !ran.ok() {
        return Err(failed(&argv, &ran));
    }
    Ok(String::from_utf8_lossy(&ran.stdout)
        .lines()
        .filter_map(|line| line.split_once('\t').map(|(_, name)| name.to_owned()))
        .collect())
}

/// Fetch `refspecs` from `remote`, quietly, without tags, `FETCH_HEAD` or submodules; nothing
/// runs when there are none. A failure is [`GitError::Failed`] with git's tidied stderr.
pub fn fetch(dir: &Path, remote: &str, refspecs: &[String]) -> Result<(), GitError> {
    if refspecs.is_empty() {
        return Ok(());
    }
    let mut argv = vec![
        "fetch",
        "--quiet",
        "--no-tags",
        "--no-write-fetch-head",
        "--no-recurse-submodules",
        remote,
    ];
    argv.extend(refspecs.iter().map(String::as_str));
    let ran = cli::run(dir, &argv, &[], None)?;
    if ran.ok() {
        Ok(())
    } else {
        Err(failed(&argv, &ran))
    }
}

/// How a pushed ref may replace the remote's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// Only as a fast-forward (git's own rule).
    FastForward,
    /// Whatever the history, as long as the remote's ref is still `expected` (`None`: absent):
    /// `--force-with-lease`.
    Lease {
        /// What the remote's ref must still be.
        expected: Option<ObjectId>,
    },
}

/// One ref for [`push`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRef {
    /// The full ref name on the remote.
    pub name: String,
    /// What it becomes.
    pub tip: ObjectId,
    /// How it may replace the remote's.
    pub update: Update,
}

/// Why a push did not land.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The remote moved since it was fetched (or another push won its lock): fetch and merge
    /// again.
    #[error("the remote moved: {0}")]
    Stale(String),
    /// The remote, or a local pre-push hook, refused.
    #[error("the push was refused: {0}")]
    Refused(String),
    /// The remote could not be reached (or git could not be started).
    #[error("could not push: {0}")]
    Network(String),
}

/// Push `refs` to `remote` in one `git push --atomic`: all land or none does.
pub fn push(dir: &Path, remote: &str, refs: &[PushRef]) -> Result<(), PushError> {
    let mut argv: Vec<String> = [
        "push",
        "--porcelain",
        "--atomic",
        "--no-follow-tags",
        "--no-recurse-submodules",
    ]
    .map(String::from)
    .into();
    let mut specs = Vec::new();
    for r in refs {
        if let Update::Lease { expected } = r.update {
            let expected = expected.map(|e| e.to_string()).unwrap_or_default();
            argv.push(format!("--force-with-lease={}:{expected}", r.name));
        }
        specs.push(format!("{}:{}", r.tip, r.name));
    }
    argv.push(remote.to_owned());
    argv.extend(specs);
    let args: Vec<&str> = argv.iter().map(String::as_str).collect();
    let ran = cli::run(dir, &args, &[], None).map_err(|e| PushError::Network(e.to_string()))?;
    if ran.ok() {
        return Ok(());
    }
    Err(classify(&ran))
}

/// Why a `git push --porcelain --atomic` failed, from its ref lines and stderr.
fn classify(ran: &Ran) -> PushError {
    let stdout = String::from_utf8_lossy(&ran.stdout);
    let mut stale = None;
    let mut refused = None;
    // The remote moved between its check and its ref update (another push won the lock).
    let lock_lost = ran.stderr.contains("cannot lock ref");
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix("!\t") else {
            continue;
        };
        let summary = rest.split('\t').nth(1).unwrap_or(rest);
        if summary.contains("atomic push failed") {
            continue;
        }
        let lost_race = lock_lost
            || [
                "atomic transaction failed",
                "failed to update ref",
                "failed to lock",
            ]
            .iter()
            .any(|r| summary.contains(r));
        if lost_race {
            stale = Some(summary.to_owned());
        } else if summary.contains("[remote rejected]") {
            refused = Some(format!("{rest}\n{}", tidy(&ran.stderr)));
        } else if ["fetch first", "non-fast-forward", "stale info"]
            .iter()
            .any(|r| summary.contains(r))
        {
            stale = Some(summary.to_owned());
        } else {
            refused = Some(format!("{rest}\n{}", tidy(&ran.stderr)));
        }
    }
    if let Some(r) = refused {
        return PushError::Refused(r);
    }
    if let Some(s) = stale {
        return PushError::Stale(s);
    }
    let err = tidy(&ran.stderr);
    if err.contains("fatal:") && !err.contains("hook") {
        PushError::Network(err)
    } else {
        PushError::Refused(err)
    }
}

/// The error for a git run that exited non-zero, with its stderr tidied.
fn failed(argv: &[&str], ran: &Ran) -> GitError {
    GitError::Failed {
        args: argv.join(" "),
        stderr: tidy(&ran.stderr),
    }
}

/// git's stderr without the padding `remote:` lines carry.
fn tidy(stderr: &str) -> String {
    stderr
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ran(stdout: &str, stderr: &str) -> Ran {
        Ran {
            code: 1,
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.to_owned(),
        }
    }

    #[test]
    fn a_rejected_fast_forward_is_stale_and_a_hook_refusal_is_refused() {
        let stale = ran(
            "To /r\n!\trefs/heads/x:refs/heads/x\t[rejected] (fetch first)\nDone\n",
            "error: failed to push\n",
        );
        assert!(matches!(classify(&stale), PushError::Stale(s) if s.contains("fetch first")));
        let hook = ran(
            "To /r\n!\trefs/heads/x:refs/heads/x\t[remote rejected] (pre-receive hook declined)\n",
            "remote: no   \n\nerror: failed to push\n",
        );
        match classify(&hook) {
            PushError::Refused(r) => assert!(r.ends_with("remote: no\nerror: failed to push")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_fatal_error_without_ref_lines_is_the_network() {
        let down = ran("", "fatal: could not read from remote repository.\n");
        assert!(matches!(classify(&down), PushError::Network(_)));
        let hook = ran("", "fatal: the pre-push hook refused\n");
        assert!(matches!(classify(&hook), PushError::Refused(_)));
    }
}
