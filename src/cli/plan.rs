//! `git aiflow plan`: ask the model for clarifying questions, then for a plan; and
//! `plan show|edit|log|diff`, the human review of the plan and its history.

use super::ask::ProviderArgs;
use super::input::{self, Source};
use super::{Ctx, error::CliError};
use crate::ai::sanitize::clean;
use crate::flow::lint::Warning;
use crate::flow::{Provenance, Question};
use crate::work::edit::EditError;
use crate::work::plan::edit::{self as plan_edit, Edited};
use crate::work::plan::lint as plan_lint;
use crate::work::plan::view::Summary;
use crate::work::plan::{self, Asked};
use std::io::Write;
use std::path::PathBuf;

mod expand;
mod view;

/// Ask for questions or a plan; or show, edit, list or compare plan revisions.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PlanArgs {
    #[command(subcommand)]
    pub command: Option<PlanCommand>,
    /// The flow (default: the flow of the current branch).
    pub slug: Option<String>,
    #[command(flatten)]
    pub provider: ProviderArgs,
    /// Ask for a new plan revision even though the flow has a plan.
    #[arg(long)]
    pub again: bool,
    /// Feedback for the model: what is wrong with the current plan (or questions), or what to
    /// take into account; sent with the request and kept in the answer's provenance. Several -m
    /// are joined as paragraphs. On a flow that has a plan, it implies --again.
    #[arg(short = 'm', long = "message", value_name = "text")]
    pub message: Vec<String>,
    /// Read the feedback from a file, or from standard input with `-F -`.
    #[arg(short = 'F', long = "file", value_name = "file")]
    pub file: Option<PathBuf>,
    /// Ask the clarifying questions again (before the first plan only), replacing those asked.
    #[arg(long)]
    pub questions: bool,
    /// With --questions: ask again even though some questions are answered; the new questions
    /// replace them and their answers.
    #[arg(long, requires = "questions")]
    pub force: bool,
    /// Print the prompt that would be sent, and stop: nothing is asked or written (what the
    /// repository map holds is summed up on stderr).
    #[arg(long)]
    pub print_prompt: bool,
    /// The repository map's size in tokens (about 4 bytes each); 0 sends no map
    /// [default: aiflow.planContextBudget, else 1024].
    #[arg(long, value_name = "N")]
    pub context_budget: Option<usize>,
    /// Print the questions or the plan as JSON.
    #[arg(long)]
    pub json: bool,
    /// Refuse an answer that plan lint warns about: nothing is written (as
    /// `aiflow.planStrict = true`).
    #[arg(long)]
    pub strict: bool,
}

/// The plan's review commands.
#[derive(Debug, clap::Subcommand)]
pub enum PlanCommand {
    /// Show the current plan (or --revision N).
    Show(view::ShowArgs),
    /// Edit the plan as TOML in your editor (or from -F FILE); the result is a new revision.
    ///
    /// The edit is checked as a whole: TOML syntax, unknown keys, unknown phases and statuses,
    /// ids, dependencies on unknown ids and cycles, absolute paths and paths that leave the
    /// repository, empty titles, started subtasks left out. Every problem is reported at once,
    /// each with its line (`p.toml:12: unknown phase "later" (expected core, nice-to-have,
    /// production)`), with exit code 2; nothing is written, and an edit made in the editor is kept
    /// in a draft. Phases may be spelled as a model writes them (`nice to have`, `Production
    /// readiness`).
    ///
    /// `plan show --toml` prints exactly what the editor opens, so this loop works with any
    /// editor or script: `git aiflow plan show SLUG --toml > p.toml`, edit p.toml,
    /// `git aiflow plan edit SLUG -F p.toml`. A file that changes nothing writes nothing.
    Edit(EditArgs),
    /// List every plan revision: who or which model, when, and how.
    Log(view::LogArgs),
    /// Compare two plan revisions (default: the previous and the current one).
    Diff(view::DiffArgs),
    /// Ask the model to split one subtask into smaller ones; the result is a new revision.
    Expand(expand::ExpandArgs),
}

/// Arguments of `plan edit`.
#[derive(Debug, clap::Args)]
pub struct EditArgs {
    /// The flow (default: the flow of the current branch).
    pub slug: Option<String>,
    /// Read the new plan (the TOML `plan edit` opens) from a file, or stdin with `-F -`.
    #[arg(short = 'F', long = "file", value_name = "file")]
    pub file: Option<std::path::PathBuf>,
    /// Print JSON: {"flow", "changed", "revision", "summary", "accepted_tests", "warnings"}.
    #[arg(long)]
    pub json: bool,
    /// Refuse an edit that plan lint warns about: nothing is written (as
    /// `aiflow.planStrict = true`).
    #[arg(long)]
    pub strict: bool,
}

pub fn run(ctx: &mut Ctx, args: &PlanArgs) -> Result<(), CliError> {
    match &args.command {
        Some(PlanCommand::Show(a)) => view::show(ctx, a),
        Some(PlanCommand::Edit(a)) => edit(ctx, a),
        Some(PlanCommand::Log(a)) => view::log(ctx, a),
        Some(PlanCommand::Diff(a)) => view::diff(ctx, a),
        Some(PlanCommand::Expand(a)) => expand::run(ctx, a),
        None => ask(ctx, args),
    }
}

fn ask(ctx: &mut Ctx, args: &PlanArgs) -> Result<(), CliError> {
    let (_, entry) = ctx.flow(args.slug.as_deref())?;
    let mut repo = ctx.repo()?.clone();
    if args.strict {
        plan_lint::set_strict(&mut repo)?;
    }
    let flow = entry.flow;
    let wanted = plan::Wanted {
        again: args.again,
        questions: args.questions,
        force: args.force,
        feedback: expand::feedback(ctx, &args.message, args.file.as_deref())?,
    };
    let prepared = plan::prepare(&repo, &flow, &wanted, args.context_budget)?;
    if args.print_prompt {
        ctx.out.write_all(prepared.transcript().as_bytes())?;
        print_grounding(ctx, &prepared)?;
        return Ok(());
    }
    // Fail on a missing identity or a bad aiflow.planStrict before spending a request.
    let stamp = crate::git::committer_stamp(&repo)?;
    plan_lint::strict(&repo)?;
    let label = format!("{}-{}", flow.slug, prepared.mode.kind());
    let asker = args.provider.asker(
        &repo,
        prepared.templates.clone(),
        &label,
        format!("git aiflow plan {}", flow.slug),
    )?;
    expand::check_stdin(&asker, args.file.as_deref())?;
    match plan::ask(&repo, &flow, prepared, &asker, &stamp, &mut ctx.err)? {
        Asked::Questions {
            questions,
            provenance,
            dropped,
        } => {
            if dropped > 0 {
                ctx.warn(format!(
                    "the model asked {} questions; only the first {} are kept",
                    questions.len() + dropped,
                    questions.len()
                ));
            }
            print_questions(ctx, &flow.slug, &questions, &provenance, args.json)?;
            warn_lint(ctx, &provenance.warnings);
            Ok(())
        }
        Asked::Plan(rev) => {
            view::print_new_revision(ctx, &flow, &rev, args.json)?;
            warn_lint(ctx, &rev.warnings);
            Ok(())
        }
    }
}

/// What plan lint found in what was just written, on stderr in git's style:
/// `warning: <subtask>: <message>`.
pub fn warn_lint(ctx: &mut Ctx, warnings: &[Warning]) {
    for w in warnings {
        ctx.warn(clean(&w.to_string()));
    }
}

/// What the prompt of `prepared` shows of the repository, on stderr (for `--print-prompt`).
pub(super) fn print_grounding(ctx: &mut Ctx, prepared: &plan::Prepared) -> Result<(), CliError> {
    let c = &prepared.context;
    writeln!(
        ctx.err,
        "{}; file list: {} of {} paths",
        prepared.map.summary(),
        c.files_listed,
        c.files_total
    )?;
    for f in &c.map {
        writeln!(
            ctx.err,
            "  {} ({} bytes): {} bytes in the map",
            clean(&f.path),
            f.size,
            f.bytes
        )?;
    }
    Ok(())
}

fn print_questions(
    ctx: &mut Ctx,
    slug: &str,
    asked: &[Question],
    prov: &Provenance,
    json: bool,
) -> Result<(), CliError> {
    if json {
        let questions: Vec<_> = asked
            .iter()
            .map(|q| {
                serde_json::json!({
                    "id": q.id,
                    "question": q.question,
                    "why": q.why,
                    "choices": q.choices,
                })
            })
            .collect();
        return ctx.json(&serde_json::json!({
            "slug": slug,
            "questions": questions,
            "asked": prov,
            "warnings": prov.warnings,
        }));
    }
    let from = clean(&view::provider_label(&prov.provider, prov.model.as_deref())).into_owned();
    if asked.is_empty() {
        writeln!(
            ctx.out,
            "{from} has no clarifying questions about {slug}: the spec settles what it needs."
        )?;
        writeln!(ctx.out, "next: git aiflow plan {slug}")?;
        return Ok(());
    }
    let n = asked.len();
    writeln!(
        ctx.out,
        "{from} asks {n} clarifying question{} about {slug}:\n",
        if n == 1 { "" } else { "s" }
    )?;
    for q in asked {
        writeln!(ctx.out, "{}. {}", q.id, clean(&q.question))?;
        if let Some(w) = &q.why {
            writeln!(ctx.out, "   why: {}", clean(w))?;
        }
        if !q.choices.is_empty() {
            writeln!(ctx.out, "   choices: {}", clean(&q.choices.join(" | ")))?;
        }
    }
    writeln!(ctx.out, "\nnext: git aiflow answer {slug}")?;
    writeln!(
        ctx.out,
        "  or on the command line: `git aiflow answer {slug} --answer 1=TEXT`; to plan without answers: `git aiflow answer {slug} --skip`"
    )?;
    Ok(())
}

fn edit(ctx: &mut Ctx, args: &EditArgs) -> Result<(), CliError> {
    let (_, entry) = ctx.flow(args.slug.as_deref())?;
    let mut repo = ctx.repo()?.clone();
    if args.strict {
        plan_lint::set_strict(&mut repo)?;
    }
    let stamp = crate::git::committer_stamp(&repo)?;
    plan_lint::strict(&repo)?;
    let flow = entry.flow;
    let slug = flow.slug.clone();
    let initial = plan_edit::editor_text(&flow)?;
    let draft_name = format!("PLAN_EDIT-{slug}.toml");
    let (text, source) = match input::from_args(ctx, &[], args.file.as_deref(), "plan")? {
        Some(t) => t,
        None => (
            input::edit_text(ctx, &repo, &draft_name, &initial, "plan")?,
            Source::Editor,
        ),
    };
    // Where the edit can be found again: the file it came from, else a draft written now.
    let kept = || match &source {
        Source::File(path) => Some(path.clone()),
        _ => input::write_draft(&repo, &draft_name, &text).ok(),
    };
    // What problems name: the file, else the draft the edit is kept in.
    let origin = || match &source {
        Source::File(path) => path.display().to_string(),
        Source::Stdin => "<stdin>".to_string(),
        _ => kept().map_or_else(|| draft_name.clone(), |p| p.display().to_string()),
    };
    let edited = plan_edit::apply(&repo, &flow, &text, origin, &stamp)
        .map_err(|e| refused_edit(e, &slug, &source, kept))?;
    input::clean_drafts(&repo, &draft_name, &source);
    let warnings = match &edited {
        Edited::Written { revision, .. } => revision.warnings.clone(),
        _ => Vec::new(),
    };
    if args.json {
        let (changed, revision, summary, accepted) = match &edited {
            Edited::Empty => (false, None, None, Vec::new()),
            Edited::Unchanged { revision } => (false, Some(*revision), None, Vec::new()),
            Edited::Written {
                revision,
                changes,
                accepted,
            } => (
                true,
                Some(revision.revision),
                Some(Summary::of(changes).to_string()),
                accepted.iter().map(|a| a.subtask.clone()).collect(),
            ),
        };
        ctx.json(&serde_json::json!({
            "flow": slug,
            "changed": changed,
            "revision": revision,
            "summary": summary,
            "accepted_tests": accepted,
            "warnings": warnings,
        }))?;
        warn_lint(ctx, &warnings);
        return Ok(());
    }
    match edited {
        Edited::Empty => writeln!(
            ctx.out,
            "The plan has no subtasks in the edit; nothing was changed."
        )?,
        Edited::Unchanged { revision } => writeln!(
            ctx.out,
            "The plan of {slug} is unchanged (revision {revision})."
        )?,
        Edited::Written {
            revision,
            changes,
            accepted,
        } => {
            writeln!(
                ctx.out,
                "Plan revision {} of {slug}: {}.",
                revision.revision,
                Summary::of(&changes)
            )?;
            for a in &accepted {
                writeln!(
                    ctx.out,
                    "accepted the test command of {}: `{}`; it runs after each step",
                    a.subtask,
                    clean(&a.test)
                )?;
            }
            writeln!(
                ctx.out,
                "see the changes with `git aiflow plan diff {slug}`"
            )?;
        }
    }
    warn_lint(ctx, &warnings);
    Ok(())
}

/// A refused plan edit; `kept` keeps the edit and says where (a file given with -F is kept
/// already).
fn refused_edit(
    e: EditError,
    slug: &str,
    source: &Source,
    kept: impl Fn() -> Option<PathBuf>,
) -> CliError {
    let e = match e {
        EditError::Keep(e) => e,
        EditError::Other(e) => return e.into(),
        stale @ EditError::Stale { .. } => return stale.into_work(kept().as_deref()).into(),
    };
    let err = CliError::from(e);
    let err = match source {
        Source::File(_) => err,
        _ => match kept() {
            Some(path) => err.hint(format!(
                "your edit is kept in {}; fix it and run `git aiflow plan edit {slug} -F {}`",
                path.display(),
                path.display()
            )),
            None => err,
        },
    };
    err.hint("nothing was written")
}
