//! The work tree of a subtask's branch: where it is, and committing everything in it as one
//! step (git's own `add` and `commit`, so that its hooks run).

use super::WorkError;
use crate::Message;
use crate::git::cli as git;
use std::path::{Path, PathBuf};

/// The root of `repo`'s work tree, or an error when it has none.
pub fn workdir(repo: &gix::Repository) -> Result<PathBuf, WorkError> {
    repo.workdir()
        .map(Path::to_owned)
        .ok_or_else(|| WorkError::invalid("this repository has no work tree"))
}

/// Stage everything in `dir` and commit it with `message` as it is (`--cleanup=verbatim`),
/// `env` added to git's environment. `Err(Message)` inside: git (or a hook) refused.
pub fn commit_all(
    dir: &Path,
    message: &[u8],
    env: &[(&str, &str)],
) -> Result<Result<(), Message>, WorkError> {
    git::checked(dir, &["add", "-A"], &[], None)?;
    let r = git::run(
        dir,
        &["commit", "--quiet", "--cleanup=verbatim", "-F", "-"],
        env,
        Some(message),
    )?;
    Ok(if r.ok() {
        Ok(())
    } else {
        Err(Message(r.stderr.trim().to_owned()))
    })
}
