//! `git aiflow new`: start a flow from a spec. The arguments, reading the spec (from -m, -F or
//! the editor), keeping a rejected spec as a draft, and the rendering; [`crate::work::new`]
//! creates the flow.

use super::{
    Ctx,
    error::CliError,
    input::{self, Source},
    status,
};
use crate::flow::spec;
use crate::work::new::{self, Created, NewOptions, Start};
use std::io::Write;
use std::path::PathBuf;

/// Start a flow from a spec.
///
/// The spec is a short Markdown document: an optional `# Title`, a summary paragraph on the end
/// state, then `## Core features`, `## Stack`, `## Constraints` and `## Edge cases` lists. Without
/// -m or -F, the editor opens on a template of these sections.
///
/// Creates the integration branch aiflow/<slug> from the base with an empty anchor commit whose
/// message is the spec in prose, and attaches the flow's TOML note to it.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The flow's name: lower-case letters, digits and single hyphens. Derived from the title
    /// when omitted.
    pub slug: Option<String>,
    /// The spec text; several -m are joined as paragraphs.
    #[arg(short = 'm', long = "message", value_name = "text")]
    pub message: Vec<String>,
    /// Read the spec from a file, or from standard input with `-F -`.
    #[arg(short = 'F', long = "file", value_name = "file")]
    pub file: Option<PathBuf>,
    /// The revision to branch from (default: the current branch).
    #[arg(long, value_name = "rev")]
    pub base: Option<String>,
    /// The title, when the spec has no `# Title` line.
    #[arg(long, value_name = "text")]
    pub title: Option<String>,
    /// Print the new flow's status as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Where a rejected spec is kept.
const DRAFT: &str = "NEW_SPEC.md";

pub fn run(ctx: &mut Ctx, args: &NewArgs) -> Result<(), CliError> {
    let options = NewOptions {
        slug: args.slug.clone(),
        title: args.title.clone(),
        base: args.base.clone(),
    };
    // Check everything that does not need the spec first, so the editor never opens in vain.
    new::check_options(&options)?;
    let repo = ctx.repo()?.clone();
    let start = new::prepare(&repo, &options)?;
    warn_flow_base(ctx, &start)?;

    let (text, source) = match input::from_args(ctx, &args.message, args.file.as_deref(), "spec")? {
        Some(t) => t,
        None => (
            input::edit_text(ctx, &repo, DRAFT, &spec::template(), "spec")?,
            Source::Editor,
        ),
    };
    let created = new::create(&repo, &options, &start, &text).map_err(|r| {
        let err = CliError::from(r.error);
        if !r.keep_text {
            return err;
        }
        match &source {
            Source::File(_) => err,
            _ => match input::write_draft(&repo, DRAFT, &text) {
                Ok(path) => err.hint(format!(
                    "your text is kept in {}; fix it and run `git aiflow new -F {}`",
                    path.display(),
                    path.display()
                )),
                Err(_) => err,
            },
        }
    })?;
    input::clean_drafts(&repo, DRAFT, &source);

    if args.json {
        let set = ctx.flows()?;
        let entry = set.find(&created.flow.slug)?.clone();
        let value = status::status_json(ctx, &entry)?;
        return ctx.json(&value);
    }
    render(ctx, &created, &start)
}

/// Warn when the base is one of a flow's branches: the new flow would carry that flow's work.
fn warn_flow_base(ctx: &mut Ctx, start: &Start) -> Result<(), CliError> {
    let Some(base) = start.base_ref.as_deref() else {
        return Ok(());
    };
    let base = crate::git::short_ref(base).to_string();
    let set = ctx.flows()?;
    let Some(slug) = crate::work::flow_of_branch(&set, &base) else {
        return Ok(());
    };
    ctx.warn(format!(
        "the base {base} is a branch of flow {slug}: the new flow starts from its work"
    ));
    if let Some(b) = set
        .find(&slug)
        .ok()
        .and_then(|e| e.flow.base_ref.as_deref())
        .map(crate::git::short_ref)
    {
        ctx.hint(format!("to start from {b} instead, give `--base {b}`"));
    }
    Ok(())
}

/// What `new` made, as text.
fn render(ctx: &mut Ctx, created: &Created, start: &Start) -> Result<(), CliError> {
    let flow = &created.flow;
    let base_name = start
        .base_ref
        .as_deref()
        .map(crate::git::short_ref)
        .map(str::to_string)
        .unwrap_or_else(|| short(start.base_commit));
    let out = &mut ctx.out;
    writeln!(out, "Created flow {}: {}", flow.slug, flow.title)?;
    writeln!(
        out,
        "  branch  {} (anchor {}, on {base_name} at {})",
        flow.integration_branch,
        short(created.anchor),
        short(start.base_commit)
    )?;
    writeln!(
        out,
        "  note    {} (notes commit {})",
        crate::store::NOTES_REF,
        created.notes_commit.map(short).unwrap_or_default()
    )?;
    for advice in flow.spec.advice() {
        ctx.hint(advice);
    }
    if start.base_ref.is_none() {
        ctx.hint("HEAD was detached, so the flow's base is a commit, not a branch");
    }
    writeln!(ctx.out, "next: git aiflow plan {}", flow.slug)?;
    Ok(())
}

/// An object id, abbreviated to seven hex digits.
fn short(id: impl std::fmt::Display) -> String {
    let mut hex = id.to_string();
    hex.truncate(7);
    hex
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// The words a new flow may not be named are exactly the subcommands of the commands that
    /// take a slug in the same place.
    #[test]
    fn command_words_are_the_clis_subcommands() {
        let cli = super::super::Cli::command();
        for (command, words) in crate::flow::slug::COMMAND_WORDS {
            let cmd = cli
                .find_subcommand(command)
                .unwrap_or_else(|| panic!("no command {command}"));
            let mut subs: Vec<String> = cmd
                .get_subcommands()
                .map(|c| c.get_name().to_owned())
                .chain(std::iter::once("help".to_owned()))
                .collect();
            subs.sort();
            subs.dedup();
            let mut listed: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
            listed.sort();
            assert_eq!(listed, subs, "{command}");
        }
        // Every other command that takes a slug or subtask positionally has no subcommands.
        for cmd in cli.get_subcommands() {
            let positional = cmd.get_arguments().any(|a| a.is_positional());
            if positional && cmd.get_subcommands().next().is_some() {
                assert!(
                    crate::flow::slug::COMMAND_WORDS
                        .iter()
                        .any(|(c, _)| *c == cmd.get_name()),
                    "{} takes a positional argument and has subcommands",
                    cmd.get_name()
                );
            }
        }
    }
}
