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
use crate::flow::spec;
use crate::store::{self, Change};
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
    let slug = entry.flow.slug.clone();
    let original = entry.flow.spec.clone();
    let original_title = entry.flow.title.clone();
    let draft_name = format!("SPEC_EDIT-{slug}.md");

    let (text, source) = match input::from_args(ctx, &args.message, args.file.as_deref(), "spec")? {
        Some(t) => t,
        None => {
            let current = format!(
                "{}\n\n{}\n# Edit the spec of flow `{slug}` above.\n",
                entry.flow.spec.to_markdown(&entry.flow.title),
                spec::SCISSORS
            );
            (
                input::edit_text(ctx, &repo, &draft_name, &current, "spec")?,
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
    let parsed = spec::parse(&text);
    if parsed.spec == spec::Spec::default()
        && parsed.title.as_deref().is_none_or(|t| t.trim().is_empty())
    {
        return Err(CliError::usage("the spec is empty; nothing was changed")
            .hint("to keep the spec as it is, save it unchanged"));
    }
    if let Err(e) = parsed.spec.validate() {
        return Err(keep(
            CliError::usage(format!("the spec is not valid: {}", e.problem)).hint(e.fix),
        ));
    }
    let new_title = parsed
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    if let Some(t) = &new_title
        && let Err(e) = crate::flow::validate_title("title", t)
    {
        return Err(keep(
            CliError::usage(format!("invalid title: {}", e.problem)).hint(e.fix),
        ));
    }

    let mut unchanged = false;
    let written = store::update(&repo, &format!("aiflow: edit spec of {slug}"), |snap| {
        let set = snap.flows(&repo)?;
        let current = set.find(&slug)?;
        // Someone else changed the spec while the editor was open: do not overwrite their work.
        if current.flow.spec != original || current.flow.title != original_title {
            return Err(keep(
                CliError::refused(format!(
                    "the spec of `{slug}` changed while you were editing it; nothing was written"
                ))
                .hint(format!(
                    "see the new version with `git aiflow spec show {slug}`"
                )),
            ));
        }
        let mut flow = current.flow.clone();
        // Keys a newer version keeps in the spec have no Markdown form here: they stay.
        let extra = std::mem::take(&mut flow.spec.extra);
        flow.spec = parsed.spec.clone();
        flow.spec.extra = extra;
        if let Some(t) = &new_title {
            flow.title = t.clone();
        }
        if flow.spec == current.flow.spec
            && flow.title == current.flow.title
            && current.documents == 1
        {
            unchanged = true;
            return Ok(Change::default());
        }
        flow.updated_at = stamp.at.clone();
        flow.updated_by = stamp.who.clone();
        let note = store::flow_note(current.anchor, &flow).map_err(|e| keep(e.into()))?;
        Ok(Change {
            notes: vec![note],
            refs: vec![],
        })
    })?;
    input::clean_drafts(&repo, &draft_name, &source);
    if unchanged || written.commit.is_none() {
        writeln!(ctx.out, "The spec of {slug} is unchanged.")?;
    } else {
        writeln!(ctx.out, "Updated the spec of {slug}.")?;
        for advice in parsed.spec.advice() {
            ctx.hint(advice);
        }
    }
    Ok(())
}
