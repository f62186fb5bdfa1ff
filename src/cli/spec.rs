//! `git aiflow spec show|edit`: read and revise a flow's spec.
//!
//! Editing re-validates the spec and writes it with compare-and-swap on the notes ref. Invalid
//! input is shown with the error and kept in a draft file; nothing is written. The anchor commit
//! keeps the spec as first written; the note holds the current one, and `git log -p
//! refs/notes/aiflow` shows every version.

use super::{
    Ctx,
    error::CliError,
    input::{self, Source},
};
use crate::work::edit::EditError;
use crate::work::spec;
use std::io::Write;
use std::path::PathBuf;

/// Show or edit a flow's spec.
#[derive(Debug, clap::Subcommand)]
pub enum SpecCommand {
    /// Print the spec as Markdown (the form `spec edit` and `new -F` read).
    Show(ShowArgs),
    /// Edit the spec in your editor, or replace it with -m or -F.
    Edit(EditArgs),
}

/// Arguments of `spec show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The flow (default: the flow of the current branch).
    pub slug: Option<String>,
    /// Print the title and spec as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `spec edit`.
#[derive(Debug, clap::Args)]
pub struct EditArgs {
    /// The flow (default: the flow of the current branch).
    pub slug: Option<String>,
    /// The new spec text, instead of the editor; several -m are joined as paragraphs.
    #[arg(short = 'm', long = "message", value_name = "text")]
    pub message: Vec<String>,
    /// Read the new spec from a file, or from standard input with `-F -`.
    #[arg(short = 'F', long = "file", value_name = "file")]
    pub file: Option<PathBuf>,
    /// Print JSON: {"flow", "changed", "advice"}.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &mut Ctx, cmd: &SpecCommand) -> Result<(), CliError> {
    match cmd {
        SpecCommand::Show(args) => show(ctx, args),
        SpecCommand::Edit(args) => edit(ctx, args),
    }
}

fn show(ctx: &mut Ctx, args: &ShowArgs) -> Result<(), CliError> {
    let (_, entry) = ctx.flow(args.slug.as_deref())?;
    let flow = &entry.flow;
    if args.json {
        let value = serde_json::json!({
            "slug": flow.slug,
            "title": flow.title,
            "spec": flow.spec,
        });
        return ctx.json(&value);
    }
    writeln!(ctx.out, "{}", flow.spec.to_markdown(&flow.title))?;
    Ok(())
}

fn edit(ctx: &mut Ctx, args: &EditArgs) -> Result<(), CliError> {
    let (_, entry) = ctx.flow(args.slug.as_deref())?;
    let repo = ctx.repo()?.clone();
    let stamp = crate::git::committer_stamp(&repo)?;
    let flow = entry.flow;
    let slug = flow.slug.clone();
    let draft_name = format!("SPEC_EDIT-{slug}.md");
    let (text, source) = match input::from_args(ctx, &args.message, args.file.as_deref(), "spec")? {
        Some(t) => t,
        None => {
            let initial = spec::editor_text(&flow);
            (
                input::edit_text(ctx, &repo, &draft_name, &initial, "spec")?,
                Source::Editor,
            )
        }
    };
    let keep = |err: CliError| -> CliError {
        if matches!(source, Source::File(_)) {
            return err;
        }
        match input::write_draft(&repo, &draft_name, &text) {
            Ok(path) => err.hint(format!(
                "your text is kept in {}; fix it and run `git aiflow spec edit {slug} -F {}`",
                path.display(),
                path.display()
            )),
            Err(_) => err,
        }
    };
    let edited = spec::apply(&repo, &flow, &text, &stamp).map_err(|e| match e {
        EditError::Keep(e) => keep(e.into()),
        e => e.into(),
    })?;
    input::clean_drafts(&repo, &draft_name, &source);
    if args.json {
        return ctx.json(&serde_json::json!({
            "flow": slug,
            "changed": edited.changed,
            "advice": edited.advice,
        }));
    }
    if edited.changed {
        writeln!(ctx.out, "Updated the spec of {slug}.")?;
        for advice in edited.advice {
            ctx.hint(advice);
        }
    } else {
        writeln!(ctx.out, "The spec of {slug} is unchanged.")?;
    }
    Ok(())
}
