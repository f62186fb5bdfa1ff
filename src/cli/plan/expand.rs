//! `git aiflow plan expand <subtask>`: split one subtask into smaller ones with the model; and
//! the feedback (`-m`, `-F`) that `plan` and `plan expand` send with their requests.

use super::super::ask::ProviderArgs;
use super::super::input;
use super::super::work::{self as cli_work, Which};
use super::super::{Ctx, error::CliError};
use super::view;
use crate::ai::ask::Asker;
use crate::work::plan::expand;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Arguments of `plan expand`.
#[derive(Debug, clap::Args)]
pub struct ExpandArgs {
    /// The subtask to split: its id, or a unique prefix of it.
    #[arg(value_name = "subtask")]
    pub subtask: String,
    /// The flow to look in (default: the current branch's flow, else every flow).
    #[arg(long, value_name = "slug")]
    pub flow: Option<String>,
    #[command(flatten)]
    pub provider: ProviderArgs,
    /// Feedback for the model: how to split it, what the subtask misses; kept in the new
    /// revision's provenance. Several -m are joined as paragraphs.
    #[arg(short = 'm', long = "message", value_name = "text")]
    pub message: Vec<String>,
    /// Read the feedback from a file, or from standard input with `-F -`.
    #[arg(short = 'F', long = "file", value_name = "file")]
    pub file: Option<PathBuf>,
    /// Print the prompt that would be sent, and stop: nothing is asked or written.
    #[arg(long)]
    pub print_prompt: bool,
    /// Print the new plan revision as JSON (as `plan --json`, with `expanded` and `parts`).
    #[arg(long)]
    pub json: bool,
    /// Refuse a revision that plan lint warns about: nothing is written (as
    /// `aiflow.planStrict = true`).
    #[arg(long)]
    pub strict: bool,
}

/// The feedback given with `-m` (joined as paragraphs) or `-F`, or `None`; empty feedback is a
/// usage error.
pub fn feedback(
    ctx: &mut Ctx,
    message: &[String],
    file: Option<&Path>,
) -> Result<Option<String>, CliError> {
    let Some((text, _)) = input::from_args(ctx, message, file, "feedback")? else {
        return Ok(None);
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(CliError::usage("the feedback is empty")
            .hint("say what is wrong, for example -m \"the tests are missing\""));
    }
    Ok(Some(text.to_string()))
}

/// The manual provider reads the model's answer from standard input: feedback cannot come from
/// there too.
pub fn check_stdin(asker: &Asker, file: Option<&Path>) -> Result<(), CliError> {
    if asker.provider_name == "manual" && file == Some(Path::new("-")) {
        return Err(CliError::usage(
            "with the manual provider, the answer comes on standard input; the feedback cannot",
        )
        .hint("give the feedback with -m TEXT or -F FILE"));
    }
    Ok(())
}

pub fn run(ctx: &mut Ctx, args: &ExpandArgs) -> Result<(), CliError> {
    let feedback = feedback(ctx, &args.message, args.file.as_deref())?;
    let which = Which {
        subtask: Some(args.subtask.clone()),
        flow: args.flow.clone(),
    };
    let found = cli_work::find(ctx, &which)?;
    let mut repo = ctx.repo()?.clone();
    if args.strict {
        crate::work::plan::lint::set_strict(&mut repo)?;
    }
    let flow = found.flow().clone();
    let id = found.id.clone();
    let expansion = expand::prepare(&repo, &flow, &id, feedback)?;
    if args.print_prompt {
        ctx.out
            .write_all(expansion.prepared.transcript().as_bytes())?;
        super::print_grounding(ctx, &expansion.prepared)?;
        return Ok(());
    }
    let stamp = crate::git::committer_stamp(&repo)?;
    crate::work::plan::lint::strict(&repo)?;
    let slug = flow.slug.clone();
    let asker = args.provider.asker(
        &repo,
        expansion.prepared.templates.clone(),
        &format!("{slug}-expand"),
        format!("git aiflow plan expand {id} --flow {slug}"),
    )?;
    check_stdin(&asker, args.file.as_deref())?;
    let old = found.subtask().clone();
    let rev = expand::ask(&repo, &flow, expansion, &asker, &stamp, &mut ctx.err)?;
    let before: std::collections::BTreeSet<&str> = flow
        .current_plan()
        .map(|p| p.subtasks.iter().map(|s| s.id.as_str()).collect())
        .unwrap_or_default();
    let parts: Vec<&crate::flow::Subtask> = rev
        .subtasks
        .iter()
        .filter(|s| !before.contains(s.id.as_str()))
        .collect();
    if args.json {
        let mut v = view::plan_json(&flow, &rev, Some(rev.revision as usize));
        v["parts"] = parts
            .iter()
            .map(|s| s.id.clone())
            .collect::<Vec<_>>()
            .into();
        ctx.json(&v)?;
        super::warn_lint(ctx, &rev.warnings);
        return Ok(());
    }
    let mut buf = Vec::new();
    let n = parts.len();
    writeln!(
        buf,
        "Plan revision {} of {slug} from {}: {id} ({}) split into {n} subtasks.\n",
        rev.revision,
        view::provider_label(
            rev.provider.as_deref().unwrap_or("model"),
            rev.model.as_deref()
        ),
        old.title
    )?;
    for (i, s) in rev.subtasks.iter().enumerate() {
        if !before.contains(s.id.as_str()) {
            super::view::subtask_line(&mut buf, i + 1, s)?;
        }
    }
    let waiting: Vec<String> = rev
        .subtasks
        .iter()
        .filter(|s| old_dependant(&flow, &id, &s.id))
        .map(|s| format!("{} (after {})", s.id, s.depends_on.join(", ")))
        .collect();
    if !waiting.is_empty() {
        writeln!(
            buf,
            "\nwhat waited for {id} now waits for: {}",
            waiting.join("; ")
        )?;
    }
    writeln!(
        buf,
        "\nsee the split with `git aiflow plan diff {slug}`; review it with `git aiflow plan show {slug}`"
    )?;
    view::write_clean(&mut ctx.out, &buf)?;
    super::warn_lint(ctx, &rev.warnings);
    Ok(())
}

/// Whether subtask `s` of `flow`'s current plan depended on `id`.
fn old_dependant(flow: &crate::flow::Flow, id: &str, s: &str) -> bool {
    flow.subtask(s)
        .is_some_and(|s| s.depends_on.iter().any(|d| d == id))
}
