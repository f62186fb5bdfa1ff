//! `git aiflow init`: make `git log` show flows and make amend/rebase carry their notes.
//!
//! The config is changed by [`crate::git::setup`]; this file reports what it did.

use super::{Ctx, error::CliError};
use crate::store::NOTES_REF;
use std::io::Write;

/// Configure the repository for git-aiflow (idempotent).
///
/// Sets notes.displayRef (so `git log` shows each flow's note) and notes.rewriteRef (so
/// `git commit --amend` and `git rebase` carry notes along) to refs/notes/aiflow in the
/// repository's config. Changes nothing about what `git push` or `git fetch` do.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Print JSON: {"config", "changed", "keys": [{"key", "added"}], "has_remote"}.
    #[arg(long)]
    pub json: bool,
}

/// Why `init` sets a `notes.*` key.
fn why(key: &str) -> &'static str {
    match key {
        "displayRef" => "so `git log` shows flows",
        _ => "so amend and rebase carry notes",
    }
}

pub fn run(ctx: &mut Ctx, args: &InitArgs) -> Result<(), CliError> {
    let setup = crate::git::setup::notes_refs(ctx.repo()?)?;
    if args.json {
        let keys: Vec<serde_json::Value> = setup
            .keys
            .iter()
            .map(|(k, added)| serde_json::json!({"key": format!("notes.{k}"), "added": added}))
            .collect();
        return ctx.json(&serde_json::json!({
            "config": setup.path.display().to_string(),
            "changed": setup.changed(),
            "keys": keys,
            "has_remote": setup.has_remote,
        }));
    }
    let out = &mut ctx.out;
    for (key, added) in &setup.keys {
        if *added {
            writeln!(out, "notes.{key} += {NOTES_REF} ({})", why(key))?;
        } else {
            writeln!(out, "notes.{key} already includes {NOTES_REF}")?;
        }
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
