//! `git aiflow init`: make `git log` show flows and make amend/rebase carry their notes.
//!
//! It sets `notes.displayRef` and `notes.rewriteRef` in the repository's own config (the common
//! one, shared by linked worktrees), each only if not already there, and nothing that changes
//! what a bare `git push` or `git fetch` does.

use super::{Ctx, error::CliError};
use crate::store::NOTES_REF;
use std::io::Write;

/// Configure the repository for git-aiflow (idempotent).
///
/// Sets notes.displayRef (so `git log` shows each flow's note) and notes.rewriteRef (so
/// `git commit --amend` and `git rebase` carry notes along) to refs/notes/aiflow in the
/// repository's config. Changes nothing about what `git push` or `git fetch` do.
#[derive(Debug, clap::Args)]
pub struct InitArgs {}

/// The multi-valued keys `init` makes include refs/notes/aiflow.
const KEYS: [(&str, &str); 2] = [
    ("displayRef", "so `git log` shows flows"),
    ("rewriteRef", "so amend and rebase carry notes"),
];

pub fn run(ctx: &mut Ctx, _args: &InitArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let path = repo.common_dir().join("config");
    let has_remote = !repo.remote_names().is_empty();
    let lock = gix::lock::File::acquire_to_update_resource(
        &path,
        gix::lock::acquire::Fail::AfterDurationWithBackoff(std::time::Duration::from_secs(2)),
        None,
        0,
    )
    .map_err(|e| {
        CliError::usage(format!("could not lock {}", path.display()))
            .source(e)
            .hint("another git command is changing the config; try again")
    })?;
    let mut file =
        gix::config::File::from_path_no_includes(path.clone(), gix::config::Source::Local)
            .map_err(|e| CliError::usage(format!("could not read {}", path.display())).source(e))?;
    let mut report = Vec::new();
    let mut changed = false;
    for (key, why) in KEYS {
        let full = format!("notes.{key}");
        let present = file
            .raw_values(full.as_str())
            .map(|vals| vals.iter().any(|v| covers(&v.to_string(), NOTES_REF)))
            .unwrap_or(false);
        if present {
            report.push(format!("{full} already includes {NOTES_REF}"));
        } else {
            file.section_mut_or_create_new("notes", None)
                .map_err(|e| CliError::usage("could not edit the config").source(e))?
                .push(key, Some(gix::bstr::BStr::new(NOTES_REF)))
                .map_err(|e| CliError::usage("could not edit the config").source(e))?;
            report.push(format!("{full} += {NOTES_REF} ({why})"));
            changed = true;
        }
    }
    if changed {
        let mut lock = lock;
        file.write_to(&mut lock).map_err(|e| {
            CliError::usage(format!("could not write {}", path.display())).source(e)
        })?;
        lock.commit().map_err(|e| {
            CliError::usage(format!("could not write {}", path.display())).source(e.error)
        })?;
    } else {
        drop(lock);
    }
    let out = &mut ctx.out;
    for line in &report {
        writeln!(out, "{line}")?;
    }
    if changed {
        writeln!(out, "git-aiflow is set up in {}", path.display())?;
    } else {
        writeln!(out, "git-aiflow was already set up; nothing changed")?;
    }
    if changed && has_remote {
        writeln!(
            out,
            "Flows travel with `git aiflow sync` (plain `git push` and `git fetch` leave them out)."
        )?;
    }
    Ok(())
}

/// Whether a notes ref value (possibly a glob such as `refs/notes/*`) covers `name`.
fn covers(value: &str, name: &str) -> bool {
    let value = value.trim();
    if value == name {
        return true;
    }
    match value.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix) && !name[prefix.len()..].contains('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn globs_cover_the_ref() {
        assert!(super::covers("refs/notes/*", "refs/notes/aiflow"));
        assert!(super::covers("refs/notes/aiflow", "refs/notes/aiflow"));
        assert!(!super::covers("refs/notes/commits", "refs/notes/aiflow"));
        assert!(!super::covers("refs/*", "refs/notes/aiflow"));
    }
}
