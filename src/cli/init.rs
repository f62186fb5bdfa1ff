//! `git aiflow init`: make `git log` show a few lines per flow and step, and make amend/rebase
//! carry the notes.
//!
//! The config is changed by [`crate::git::setup`]; this file reports what it did.

use super::{Ctx, error::CliError};
use crate::store::NOTES_REF;
use crate::work::display::DISPLAY_REF;
use std::io::Write;

/// Configure the repository for git-aiflow (idempotent).
///
/// Sets notes.displayRef to refs/notes/aiflow-log (so `git log` shows a few lines per flow and
/// step; `git log --notes=aiflow` shows the whole documents) and notes.rewriteRef to
/// refs/notes/aiflow (so `git commit --amend` and `git rebase` carry notes along) in the
/// repository's config, replacing a displayRef of refs/notes/aiflow set by an older version.
/// Changes nothing about what `git push` or `git fetch` do.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Print JSON: {"config", "changed", "keys": [{"key", "value", "added"}], "migrated",
    /// "shows_documents", "has_remote"}.
    #[arg(long)]
    pub json: bool,
}

/// Why `init` sets a `notes.*` key.
fn why(key: &str) -> &'static str {
    match key {
        "displayRef" => "so `git log` shows a few lines per flow and step",
        _ => "so amend and rebase carry notes",
    }
}

pub fn run(ctx: &mut Ctx, args: &InitArgs) -> Result<(), CliError> {
    let setup = crate::git::setup::notes_refs(ctx.repo()?)?;
    if args.json {
        let keys: Vec<serde_json::Value> = setup
            .keys
            .iter()
            .map(|(k, target, added)| {
                serde_json::json!({"key": format!("notes.{k}"), "value": target, "added": added})
            })
            .collect();
        return ctx.json(&serde_json::json!({
            "config": setup.path.display().to_string(),
            "changed": setup.changed(),
            "keys": keys,
            "migrated": setup.migrated,
            "shows_documents": setup.shows_documents,
            "has_remote": setup.has_remote,
        }));
    }
    let out = &mut ctx.out;
    if setup.migrated {
        writeln!(
            out,
            "notes.displayRef -= {NOTES_REF} (`git log` printed whole documents; `git log --notes=aiflow` still does)"
        )?;
    }
    for (key, target, added) in &setup.keys {
        if *added {
            writeln!(out, "notes.{key} += {target} ({})", why(key))?;
        } else {
            writeln!(out, "notes.{key} already includes {target}")?;
        }
    }
    if let Some(glob) = &setup.shows_documents {
        writeln!(
            out,
            "warning: notes.displayRef = {glob} also shows the whole documents of {NOTES_REF}; \
             `git config --unset notes.displayRef '{}'` and `git config --add notes.displayRef {DISPLAY_REF}` keep `git log` short",
            glob.replace('*', "\\*")
        )?;
    }
    let changed = setup.changed();
    if changed {
        writeln!(out, "git-aiflow is set up in {}", setup.path.display())?;
    } else {
        writeln!(out, "git-aiflow was already set up; nothing changed")?;
    }
    if changed && setup.has_remote {
        writeln!(
            out,
            "Flows travel with `git aiflow sync` (plain `git push` and `git fetch` leave them out)."
        )?;
    }
    Ok(())
}
