//! `git aiflow plan`: ask the model for clarifying questions, then for a plan; and
//! `plan show|edit|log|diff`, the human review of the plan and its history.

use super::ask::{self, Asker, ProviderArgs};
use super::{Ctx, error::CliError, input};
use crate::ai::Redactor;
use crate::ai::answer::{self, Asked};
use crate::ai::prompt::Templates;
use crate::ai::sanitize::clean;
use crate::flow::plan::{self as fplan, Ids};
use crate::flow::{Flow, FlowStatus, PlanRevision, Provenance, Question, Subtask};
use crate::store;
use serde::Serialize;
use std::io::Write;

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
    /// Print the prompt that would be sent, and stop: nothing is asked or written.
    #[arg(long)]
    pub print_prompt: bool,
    /// Print the questions or the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The plan's review commands.
#[derive(Debug, clap::Subcommand)]
pub enum PlanCommand {
    /// Show the current plan (or --revision N).
    Show(view::ShowArgs),
    /// Edit the plan as TOML in your editor (or from -F FILE); the result is a new revision.
    Edit(EditArgs),
    /// List every plan revision: who or which model, when, and how.
    Log(view::LogArgs),
    /// Compare two plan revisions (default: the previous and the current one).
    Diff(view::DiffArgs),
}

/// Arguments of `plan edit`.
#[derive(Debug, clap::Args)]
pub struct EditArgs {
    /// The flow (default: the flow of the current branch).
    pub slug: Option<String>,
    /// Read the new plan (the TOML `plan edit` opens) from a file, or stdin with `-F -`.
    #[arg(short = 'F', long = "file", value_name = "file")]
    pub file: Option<std::path::PathBuf>,
}

pub fn run(ctx: &mut Ctx, args: &PlanArgs) -> Result<(), CliError> {
    match &args.command {
        Some(PlanCommand::Show(a)) => view::show(ctx, a),
        Some(PlanCommand::Edit(a)) => edit(ctx, a),
        Some(PlanCommand::Log(a)) => view::log(ctx, a),
        Some(PlanCommand::Diff(a)) => view::diff(ctx, a),
        None => ask(ctx, args),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Questions,
    Plan,
}

fn decide(flow: &Flow, again: bool) -> Result<Mode, CliError> {
    let slug = &flow.slug;
    if matches!(flow.status, FlowStatus::Finished | FlowStatus::Abandoned) {
        return Err(CliError::refused(format!(
            "flow `{slug}` is {}; there is nothing to plan",
            flow.status.as_str()
        )));
    }
    if let Some(plan) = flow.current_plan() {
        if again {
            return Ok(Mode::Plan);
        }
        return Err(CliError::refused(format!(
            "flow `{slug}` has a plan already (revision {}, {} subtasks)",
            plan.revision,
            plan.subtasks.len()
        ))
        .hint(format!(
            "review it with `git aiflow plan show {slug}` and change it with `git aiflow plan edit {slug}`"
        ))
        .hint(format!(
            "to ask the model for a new revision, run `git aiflow plan {slug} --again`"
        )));
    }
    if flow.questions_asked.is_none() && flow.questions.is_empty() && !flow.questions_skipped {
        return Ok(Mode::Questions);
    }
    let unanswered: Vec<String> = flow
        .questions
        .iter()
        .filter(|q| q.answer.is_none())
        .map(|q| q.id.to_string())
        .collect();
    if !unanswered.is_empty() && !flow.questions_skipped {
        let (s, list) = if unanswered.len() == 1 {
            ("", unanswered[0].clone())
        } else {
            ("s", unanswered.join(", "))
        };
        return Err(CliError::refused(format!(
            "question{s} {list} of flow `{slug}` {} not answered yet",
            if unanswered.len() == 1 { "is" } else { "are" }
        ))
        .hint(format!(
            "answer with `git aiflow answer {slug}` (or --answer {}=TEXT)",
            unanswered[0]
        ))
        .hint(format!(
            "to plan without answers, run `git aiflow answer {slug} --skip`"
        )));
    }
    Ok(Mode::Plan)
}

/// What the questions and plan templates see.
#[derive(Serialize)]
pub struct PromptContext<'a> {
    flow: FlowView<'a>,
    spec: &'a crate::flow::Spec,
    spec_text: String,
    questions: Vec<&'a Question>,
    questions_skipped: bool,
    max_questions: usize,
    previous: Option<&'a PlanRevision>,
    repo_files: Vec<String>,
    repo_files_total: usize,
    repo_files_truncated: bool,
}

#[derive(Serialize)]
struct FlowView<'a> {
    slug: &'a str,
    title: &'a str,
    integration_branch: &'a str,
}

/// The most repository paths listed in a prompt.
const MAX_FILES: usize = 200;

fn prompt_context<'a>(
    repo: &gix::Repository,
    flow: &'a Flow,
    mode: Mode,
) -> Result<PromptContext<'a>, CliError> {
    let (repo_files, total) = repo_files(repo, flow);
    Ok(PromptContext {
        flow: FlowView {
            slug: &flow.slug,
            title: &flow.title,
            integration_branch: &flow.integration_branch,
        },
        spec: &flow.spec,
        spec_text: flow.spec.to_markdown(&flow.title).trim_end().to_string(),
        questions: if mode == Mode::Plan {
            flow.questions.iter().collect()
        } else {
            Vec::new()
        },
        questions_skipped: flow.questions_skipped,
        max_questions: answer::MAX_QUESTIONS,
        previous: if mode == Mode::Plan {
            flow.current_plan()
        } else {
            None
        },
        repo_files_truncated: total > repo_files.len(),
        repo_files,
        repo_files_total: total,
    })
}

/// Paths of the files at the tip of the integration branch (else the base commit), shallow ones
/// first, at most [`MAX_FILES`]; and how many there are in all.
fn repo_files(repo: &gix::Repository, flow: &Flow) -> (Vec<String>, usize) {
    let tip = crate::git::ref_id(repo, &format!("refs/heads/{}", flow.integration_branch))
        .ok()
        .flatten()
        .or_else(|| gix::ObjectId::from_hex(flow.base_commit.as_bytes()).ok());
    let Some(tip) = tip else {
        return (Vec::new(), 0);
    };
    let Ok(tree) = repo.find_commit(tip).and_then(|c| c.tree()) else {
        return (Vec::new(), 0);
    };
    let mut rec = gix::traverse::tree::Recorder::default();
    if tree.traverse().breadthfirst(&mut rec).is_err() {
        return (Vec::new(), 0);
    }
    let files: Vec<String> = rec
        .records
        .iter()
        .filter(|e| !e.mode.is_tree())
        .map(|e| e.filepath.to_string())
        .collect();
    let total = files.len();
    (files.into_iter().take(MAX_FILES).collect(), total)
}

fn ask(ctx: &mut Ctx, args: &PlanArgs) -> Result<(), CliError> {
    let (_, entry) = ctx.flow(args.slug.as_deref())?;
    let repo = ctx.repo()?.clone();
    let flow = entry.flow.clone();
    let slug = flow.slug.clone();
    let mode = decide(&flow, args.again)?;
    let templates = Templates::new(repo.workdir());
    let context = prompt_context(&repo, &flow, mode)?;
    let (kind, schema) = match mode {
        Mode::Questions => ("questions", answer::questions_schema()),
        Mode::Plan => ("plan", answer::plan_schema()),
    };
    let system = templates.render("system", &context)?;
    let prompt = templates.render(kind, &context)?;
    let request = ask::request(kind, &system, &prompt, Some(schema));
    if args.print_prompt {
        let text = Redactor::current()
            .redact(&request.transcript())
            .into_owned();
        ctx.out.write_all(text.as_bytes())?;
        return Ok(());
    }
    // Fail on a missing identity before spending a request.
    let stamp = crate::git::committer_stamp(&repo)?;
    let asker = Asker::new(&repo, &args.provider, templates, &format!("{slug}-{kind}"))?;
    let provenance = |a: &ask::Usage| Provenance {
        extra: Default::default(),
        at: stamp.at.clone(),
        by: stamp.who.clone(),
        provider: asker.provider_name.to_string(),
        model: a.model.clone(),
        prompt_digest: Some(prompt.digest.clone()),
        prompt_template: Some(prompt.origin.clone()),
        tokens_in: a.tokens_in,
        tokens_out: a.tokens_out,
        duration_ms: Some(a.duration_ms),
    };
    match mode {
        Mode::Questions => {
            let answered = asker.ask(
                &mut ctx.err,
                request,
                answer::QUESTIONS_SHAPE,
                answer::parse_questions,
            )?;
            let (asked, dropped) = answered.value.clone();
            let prov = provenance(&answered.usage);
            let written =
                write_questions(&repo, &flow, &asked, &prov, &stamp, &asker, &answered.raw)?;
            if dropped > 0 {
                ctx.warn(format!(
                    "the model asked {} questions; only the first {} are kept",
                    asked.len() + dropped,
                    asked.len()
                ));
            }
            print_questions(ctx, &slug, &written, &prov, args.json)
        }
        Mode::Plan => {
            let previous: Vec<Subtask> = flow
                .current_plan()
                .map(|p| p.subtasks.clone())
                .unwrap_or_default();
            let taken = fplan::ids_in_history(&flow.plans);
            let answered = asker.ask(&mut ctx.err, request, answer::PLAN_SHAPE, |text| {
                let drafts = answer::parse_plan(text)?;
                fplan::finalize(drafts, &previous, &taken, Ids::Model)
            })?;
            let prov = provenance(&answered.usage);
            let rev = write_plan(&repo, &flow, answered.value, Some(&prov), &stamp, |now| {
                changed_meanwhile(
                    format!("the plan of `{slug}` changed meanwhile (now revision {now})"),
                    format!("see what changed with `git aiflow plan diff {slug}`"),
                    Some((&asker, &answered.raw)),
                )
            })?;
            view::print_new_revision(ctx, &flow, &rev, args.json)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn write_questions(
    repo: &gix::Repository,
    original: &Flow,
    asked: &[Asked],
    prov: &Provenance,
    stamp: &crate::git::Stamp,
    asker: &Asker,
    raw: &str,
) -> Result<Vec<Question>, CliError> {
    let slug = &original.slug;
    let redactor = Redactor::current();
    let message = format!("aiflow: questions for {slug}");
    store::update_flow(repo, slug, &message, stamp, |flow| {
        if flow.questions != original.questions
            || flow.questions_asked != original.questions_asked
            || flow.plans.len() != original.plans.len()
        {
            return Err(changed_meanwhile(
                format!("flow `{slug}` changed while the model was answering"),
                format!("see it with `git aiflow status {slug}`"),
                Some((asker, raw)),
            ));
        }
        flow.questions = asked
            .iter()
            .enumerate()
            .map(|(i, q)| Question {
                extra: Default::default(),
                id: i as u32 + 1,
                question: redactor.redact(&q.question).into_owned(),
                why: q.why.as_deref().map(|w| redactor.redact(w).into_owned()),
                choices: q
                    .choices
                    .iter()
                    .map(|c| redactor.redact(c).into_owned())
                    .collect(),
                answer: None,
                answered_at: None,
                answered_by: None,
            })
            .collect();
        flow.questions_asked = Some(prov.clone());
        flow.status = flow.status.max(FlowStatus::Questions);
        Ok(true)
    })
    .map(|(_, flow)| flow.questions)
}

/// A refusal because someone else wrote the flow first; the model's answer is kept.
fn changed_meanwhile(what: String, hint: String, keep: Option<(&Asker, &str)>) -> CliError {
    let mut e = CliError::refused(format!("{what}; nothing was written")).hint(hint);
    if let Some((asker, raw)) = keep
        && let Some(h) = asker.keep(raw)
    {
        e = e.hint(h);
    }
    e
}

/// Append a plan revision made of `subtasks` (from a model when `prov` is given, else a human
/// edit), by compare-and-swap on the revision: when the flow's plan is no longer at the revision
/// `original` holds, nothing is written and `conflict` (given the revision it is at) says why.
/// Secrets are redacted from the subtasks first.
pub(crate) fn write_plan(
    repo: &gix::Repository,
    original: &Flow,
    mut subtasks: Vec<Subtask>,
    prov: Option<&Provenance>,
    stamp: &crate::git::Stamp,
    conflict: impl Fn(u32) -> CliError,
) -> Result<PlanRevision, CliError> {
    let slug = &original.slug;
    let redactor = Redactor::current();
    for s in &mut subtasks {
        redactor.redact_in_place(&mut s.title);
        redactor.redact_in_place(&mut s.description);
        for f in &mut s.files {
            redactor.redact_in_place(f);
        }
    }
    let revision = original.plans.len() as u32 + 1;
    let rev = PlanRevision {
        extra: Default::default(),
        revision,
        created_at: stamp.at.clone(),
        created_by: stamp.who.clone(),
        source: if prov.is_some() { "model" } else { "edit" }.into(),
        provider: prov.map(|p| p.provider.clone()),
        model: prov.and_then(|p| p.model.clone()),
        prompt_digest: prov.and_then(|p| p.prompt_digest.clone()),
        prompt_template: prov.and_then(|p| p.prompt_template.clone()),
        tokens_in: prov.and_then(|p| p.tokens_in),
        tokens_out: prov.and_then(|p| p.tokens_out),
        duration_ms: prov.and_then(|p| p.duration_ms),
        subtasks,
    };
    let message = match prov {
        Some(p) => format!(
            "aiflow: plan revision {revision} of {slug} from {}{}",
            p.provider,
            p.model
                .as_deref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        ),
        None => format!("aiflow: plan revision {revision} of {slug} (edit)"),
    };
    store::update_flow(repo, slug, &message, stamp, |flow| {
        // The compare-and-swap: the store retries this closure on a newer notes tip, so the
        // check must be against the revision the change was made from, not the one read now.
        if flow.plans.len() != original.plans.len() {
            return Err(conflict(flow.plans.len() as u32));
        }
        flow.plans.push(rev.clone());
        flow.status = flow.status.max(FlowStatus::Planned);
        Ok(true)
    })?;
    Ok(rev)
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
    writeln!(
        ctx.out,
        "\nnext: git aiflow answer {slug}   (or --answer 1=TEXT …; --skip to plan without answers)"
    )?;
    Ok(())
}

fn edit(ctx: &mut Ctx, args: &EditArgs) -> Result<(), CliError> {
    let (_, entry) = ctx.flow(args.slug.as_deref())?;
    let repo = ctx.repo()?.clone();
    let stamp = crate::git::committer_stamp(&repo)?;
    let flow = entry.flow.clone();
    let slug = flow.slug.clone();
    let Some(current) = flow.current_plan() else {
        return Err(CliError::refused(format!("flow `{slug}` has no plan yet"))
            .hint(format!("ask for one with `git aiflow plan {slug}`")));
    };
    let started = current.revision;
    let draft_name = format!("PLAN_EDIT-{slug}.toml");
    let (text, source) = match input::from_args(ctx, &[], args.file.as_deref(), "plan")? {
        Some(t) => t,
        None => {
            let initial = fplan::edit_text(&slug, started, &current.subtasks);
            (
                input::edit_text(ctx, &repo, &draft_name, &initial, "plan")?,
                input::Source::Editor,
            )
        }
    };
    // Where the edit can be found again: the file it came from, else a draft written now.
    let kept = || -> Option<std::path::PathBuf> {
        match &source {
            input::Source::File(path) => Some(path.clone()),
            _ => input::write_draft(&repo, &draft_name, &text).ok(),
        }
    };
    let keep = |err: CliError| -> CliError {
        let err = match (&source, kept()) {
            (input::Source::File(_), _) | (_, None) => err,
            (_, Some(path)) => err.hint(format!(
                "your edit is kept in {}; fix it and run `git aiflow plan edit {slug} -F {}`",
                path.display(),
                path.display()
            )),
        };
        err.hint("nothing was written")
    };
    let parsed = match fplan::parse_edit(&text) {
        Ok(p) => p,
        Err(e) => {
            return Err(keep(CliError::usage(format!(
                "the edited plan is not valid TOML: {e}"
            ))));
        }
    };
    let Some(drafts) = parsed.drafts else {
        input::clean_drafts(&repo, &draft_name, &source);
        writeln!(
            ctx.out,
            "The plan has no subtasks in the edit; nothing was changed."
        )?;
        return Ok(());
    };
    // The revision the edit was made from: what the text says, else the one current when this
    // command started. Applying it to any other revision would silently undo what came between.
    let base = parsed.based_on.unwrap_or(started);
    if base > started {
        return Err(keep(
            CliError::usage(format!(
                "the edit says `{} = {base}`, but the plan of `{slug}` has revisions 1 to {started}",
                fplan::BASED_ON
            ))
            .hint(format!(
                "set it to the revision the edit was made from (see `git aiflow plan log {slug}`)"
            )),
        ));
    }
    let stale = |now: u32| -> CliError {
        let mut err = CliError::refused(format!(
            "the plan of `{slug}` is at revision {now}, but this edit was made from revision {base}; nothing was written"
        ))
        .hint(format!(
            "applying it would undo what changed since; see that with `git aiflow plan diff {slug} {base} {now}`"
        ));
        match kept() {
            Some(path) => {
                let path = path.display();
                err = err.hint(format!("your edit is kept in {path}")).hint(format!(
                    "redo it on revision {now}: run `git aiflow plan edit {slug}` and make your changes again, or bring {path} up to date, set `{} = {now}` in it and run `git aiflow plan edit {slug} -F {path}`",
                    fplan::BASED_ON
                ));
            }
            None => {
                err = err.hint(format!(
                    "redo it on revision {now}: run `git aiflow plan edit {slug}` and make your changes again"
                ));
            }
        }
        err
    };
    if base != started {
        return Err(stale(started));
    }
    let taken = fplan::ids_in_history(&flow.plans);
    let subtasks = match fplan::finalize(drafts, &current.subtasks, &taken, Ids::Edit) {
        Ok(s) => s,
        Err(errors) => {
            return Err(keep(CliError::usage(format!(
                "the edited plan is not valid:\n  - {}",
                errors.join("\n  - ")
            ))));
        }
    };
    if subtasks == current.subtasks {
        input::clean_drafts(&repo, &draft_name, &source);
        writeln!(
            ctx.out,
            "The plan of {slug} is unchanged (revision {}).",
            current.revision
        )?;
        return Ok(());
    }
    let rev = write_plan(&repo, &flow, subtasks, None, &stamp, stale)?;
    input::clean_drafts(&repo, &draft_name, &source);
    let changes = fplan::diff(&current.subtasks, &rev.subtasks);
    writeln!(
        ctx.out,
        "Plan revision {} of {slug}: {}.",
        rev.revision,
        view::change_summary(&changes)
    )?;
    writeln!(
        ctx.out,
        "see the changes with `git aiflow plan diff {slug}`"
    )?;
    Ok(())
}
