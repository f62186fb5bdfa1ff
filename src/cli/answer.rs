//! `git aiflow answer`: answer the clarifying questions, in the editor or with `--answer ID=TEXT`,
//! or record with `--skip` that the plan is to be made without (all of) them.

use super::input::{self, Source};
use super::{Ctx, error::CliError};
use crate::flow::Flow;
use crate::work::answer::{self as answers, Answered as Applied, Answers};
use crate::work::edit::EditError;
use std::io::Write;

/// Arguments of `answer`.
#[derive(Debug, clap::Args)]
pub struct AnswerArgs {
    /// The flow (default: the flow of the current branch).
    pub slug: Option<String>,
    /// Answer question ID with TEXT, instead of the editor (repeatable).
    #[arg(long = "answer", short = 'a', value_name = "id=text")]
    pub answers: Vec<String>,
    /// Read answers from a file in the editor's format, or stdin with `-F -`.
    #[arg(
        short = 'F',
        long = "file",
        value_name = "file",
        conflicts_with = "answers"
    )]
    pub file: Option<std::path::PathBuf>,
    /// Plan without answering (the rest of) the questions.
    #[arg(long)]
    pub skip: bool,
    /// Print JSON: {"flow", "changed", "questions": [{"id", "answered"}], "skipped", "open", "next"}.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &mut Ctx, args: &AnswerArgs) -> Result<(), CliError> {
    let (_, entry) = ctx.flow(args.slug.as_deref())?;
    let repo = ctx.repo()?.clone();
    let stamp = crate::git::committer_stamp(&repo)?;
    let flow = entry.flow;
    let slug = flow.slug.clone();
    answers::check_questions(&flow, args.skip)?;
    let draft_name = format!("ANSWERS-{slug}.txt");
    let Collected {
        given,
        source,
        typed,
    } = collect(ctx, &repo, &flow, args, &draft_name)?;
    let whole_text = typed.is_some();
    let (given, redacted) = answers::changes(&flow, given, whole_text);
    if redacted {
        ctx.warn(format!(
            "an answer held the value of an API key from the environment; it is stored as {}",
            crate::ai::secrets::REDACTED
        ));
    }
    let keep = |err: CliError| -> CliError {
        match (&source, &typed) {
            (Some(Source::File(_)), _) | (_, None) => err,
            (_, Some(text)) => match input::write_draft(&repo, &draft_name, text) {
                Ok(p) => err.hint(format!(
                    "your answers are kept in {}; run `git aiflow answer {slug} -F {}` to give them again",
                    p.display(),
                    p.display()
                )),
                Err(_) => err,
            },
        }
    };
    let applied = answers::apply(&repo, &flow, &given, whole_text, args.skip, &stamp).map_err(
        |e| match e {
            EditError::Keep(e) => keep(e.into()),
            e => e.into(),
        },
    )?;
    if let Some(src) = &source {
        input::clean_drafts(&repo, &draft_name, src);
    }
    if args.json {
        return report_json(ctx, &applied);
    }
    report(ctx, flow.questions.len(), &applied)
}

/// What `answer --json` prints.
fn report_json(ctx: &mut Ctx, applied: &Applied) -> Result<(), CliError> {
    let now = &applied.flow;
    let slug = &now.slug;
    let open = crate::work::plan::unanswered(now);
    let next = if !open.is_empty() && !now.questions_skipped {
        None
    } else if now.plans.is_empty() {
        Some(format!("git aiflow plan {slug}"))
    } else if applied.changed > 0 {
        Some(format!("git aiflow plan {slug} --again"))
    } else {
        None
    };
    let questions: Vec<serde_json::Value> = now
        .questions
        .iter()
        .map(|q| serde_json::json!({"id": q.id, "answered": q.answer.is_some()}))
        .collect();
    ctx.json(&serde_json::json!({
        "flow": slug,
        "changed": applied.changed,
        "questions": questions,
        "skipped": now.questions_skipped,
        "open": open,
        "next": next,
    }))
}

/// The answers given: --answer, -F, the editor, or none with a bare --skip.
struct Collected {
    given: Answers,
    /// Where they came from (none for --answer).
    source: Option<Source>,
    /// The text of the editor or -F, to keep in a draft if it is refused.
    typed: Option<String>,
}

fn collect(
    ctx: &mut Ctx,
    repo: &crate::git::Repository,
    flow: &Flow,
    args: &AnswerArgs,
    draft_name: &str,
) -> Result<Collected, CliError> {
    let none = |given| Collected {
        given,
        source: None,
        typed: None,
    };
    if !args.answers.is_empty() {
        return Ok(none(answers::from_options(flow, &args.answers)?));
    }
    if let Some((text, src)) = input::from_args(ctx, &[], args.file.as_deref(), "answers")? {
        let origin = || match &src {
            Source::File(path) => path.display().to_string(),
            _ => "<stdin>".to_string(),
        };
        return Ok(Collected {
            given: answers::from_text(flow, &text, origin)?,
            source: Some(src),
            typed: Some(text),
        });
    }
    if args.skip || flow.questions.is_empty() {
        return Ok(none(Answers::new()));
    }
    let initial = answers::editor_text(flow);
    let text = input::edit_text(ctx, repo, draft_name, &initial, "answers")?;
    // Problems name the draft the answers are kept in.
    let kept = || input::write_draft(repo, draft_name, &text).ok();
    let origin = || kept().map_or_else(|| draft_name.to_string(), |p| p.display().to_string());
    let given = answers::from_text(flow, &text, origin).map_err(|e| {
        let err = CliError::from(e);
        match kept() {
            Some(p) => err.hint(format!(
                "your answers are kept in {}; fix them and run `git aiflow answer {} -F {}`",
                p.display(),
                flow.slug,
                p.display()
            )),
            None => err,
        }
    })?;
    Ok(Collected {
        given,
        source: Some(Source::Editor),
        typed: Some(text),
    })
}

/// What changed, and what to do next.
fn report(ctx: &mut Ctx, count: usize, applied: &Applied) -> Result<(), CliError> {
    let now = &applied.flow;
    let slug = &now.slug;
    let answered = now.questions.iter().filter(|q| q.answer.is_some()).count();
    if applied.changed == 0 && !applied.skip_changed {
        writeln!(ctx.out, "No answers changed.")?;
    } else if count > 0 {
        writeln!(
            ctx.out,
            "Answered {answered} of {count} question{} of {slug}{}.",
            if count == 1 { "" } else { "s" },
            if now.questions_skipped && answered < count {
                "; the rest are skipped"
            } else {
                ""
            }
        )?;
    } else {
        writeln!(ctx.out, "Flow {slug} will be planned without questions.")?;
    }
    let open = crate::work::plan::unanswered(now);
    if !open.is_empty() && !now.questions_skipped {
        writeln!(
            ctx.out,
            "still open: {}; answer with `git aiflow answer {slug} --answer {}=TEXT`, or plan without them with --skip",
            open.join(", "),
            open[0]
        )?;
    } else if now.plans.is_empty() {
        writeln!(ctx.out, "next: git aiflow plan {slug}")?;
    } else if applied.changed > 0 {
        ctx.hint(format!(
            "the plan was made before these answers; `git aiflow plan {slug} --again` asks for a new revision"
        ));
    }
    Ok(())
}
