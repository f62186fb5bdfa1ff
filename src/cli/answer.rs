//! `git aiflow answer`: answer the clarifying questions, in the editor or with `--answer ID=TEXT`,
//! or record with `--skip` that the plan is to be made without (all of) them.

use super::{Ctx, error::CliError, input};
use crate::ai::Redactor;
use crate::ai::sanitize::clean;
use crate::flow::plan::collapse_whitespace;
use crate::flow::{Flow, Question};
use crate::store;
use std::collections::BTreeMap;
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
}

/// The text the editor opens: each question as `[N] question`, its rationale and choices as
/// comments, and the answer below it.
pub fn editor_text(flow: &Flow) -> String {
    let mut out = format!(
        "# Answer the clarifying questions of flow `{}`: write each answer below its question.\n\
         # Lines starting with '#' are ignored. An empty answer leaves the question unanswered.\n",
        flow.slug
    );
    for q in &flow.questions {
        // One line each, cleaned: the note may hold anything, and a line break in a question
        // would start an answer.
        let line = |t: &str| collapse_whitespace(&clean(t));
        out.push_str(&format!("\n[{}] {}\n", q.id, line(&q.question)));
        if let Some(w) = &q.why {
            out.push_str(&format!("# why: {}\n", line(w)));
        }
        if !q.choices.is_empty() {
            out.push_str(&format!("# choices: {}\n", line(&q.choices.join(" | "))));
        }
        if let Some(a) = &q.answer {
            out.push_str(clean(a).trim_end());
            out.push('\n');
        }
    }
    out
}

/// Parse the editor's text: the answer of each `[N]` section, comments and blank edges removed.
pub fn parse_editor_text(text: &str, count: u32) -> Result<BTreeMap<u32, String>, String> {
    let mut out: BTreeMap<u32, String> = BTreeMap::new();
    let mut current: Option<u32> = None;
    let mut lines: Vec<&str> = Vec::new();
    let mut flush = |id: Option<u32>, lines: &mut Vec<&str>| {
        if let Some(id) = id {
            let text = lines.join("\n").trim().to_string();
            out.insert(id, text);
        }
        lines.clear();
    };
    for (no, line) in text.lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[')
            && let Some((num, _)) = rest.split_once(']')
            && let Ok(id) = num.trim().parse::<u32>()
        {
            if id == 0 || id > count {
                return Err(format!(
                    "line {}: there is no question {id} (the questions are 1 to {count})",
                    no + 1
                ));
            }
            flush(current, &mut lines);
            current = Some(id);
            continue;
        }
        if current.is_none() {
            if !line.trim().is_empty() {
                return Err(format!(
                    "line {}: text before the first question; write answers below their `[N]` line",
                    no + 1
                ));
            }
            continue;
        }
        lines.push(line);
    }
    flush(current, &mut lines);
    Ok(out)
}

pub fn run(ctx: &mut Ctx, args: &AnswerArgs) -> Result<(), CliError> {
    let (_, entry) = ctx.flow(args.slug.as_deref())?;
    let repo = ctx.repo()?.clone();
    let stamp = crate::git::committer_stamp(&repo)?;
    let flow = entry.flow.clone();
    let slug = flow.slug.clone();
    let count = flow.questions.len() as u32;
    if flow.questions.is_empty() && !args.skip {
        let why = if flow.questions_asked.is_some() {
            "the model asked no clarifying questions"
        } else {
            "no clarifying questions have been asked yet"
        };
        return Err(CliError::refused(format!("flow `{slug}`: {why}"))
            .hint(format!("ask for them with `git aiflow plan {slug}`"))
            .hint(format!(
                "to plan without questions, run `git aiflow answer {slug} --skip`"
            )));
    }

    // Collect the answers given: --answer, -F, the editor, or none with a bare --skip.
    let draft_name = format!("ANSWERS-{slug}.txt");
    let mut source = None;
    // The text of the editor or -F, to keep in a draft if it is refused.
    let mut typed: Option<String> = None;
    let mut given: BTreeMap<u32, String> = if !args.answers.is_empty() {
        let mut map = BTreeMap::new();
        for a in &args.answers {
            let (id, text) = a.split_once('=').ok_or_else(|| {
                CliError::usage(format!("`--answer {a}` is not of the form ID=TEXT"))
                    .hint("write it as --answer 2=\"Redis 7\"")
            })?;
            let id: u32 = id.trim().parse().map_err(|_| {
                CliError::usage(format!("`{id}` in `--answer {a}` is not a question number"))
            })?;
            if id == 0 || id > count {
                return Err(CliError::usage(format!(
                    "flow `{slug}` has no question {id}; its questions are {}",
                    if count == 0 {
                        "none".to_string()
                    } else {
                        format!("1 to {count}")
                    }
                ))
                .hint(format!("see them with `git aiflow status {slug}`")));
            }
            let text = text.trim();
            if text.is_empty() {
                return Err(CliError::usage(format!(
                    "the answer to question {id} is empty"
                )));
            }
            map.insert(id, text.to_string());
        }
        map
    } else if let Some((text, src)) = input::from_args(ctx, &[], args.file.as_deref(), "answers")? {
        source = Some(src);
        let parsed = parse_editor_text(&text, count)
            .map_err(|e| CliError::usage(format!("the answers could not be read: {e}")))?;
        typed = Some(text);
        parsed
    } else if args.skip || flow.questions.is_empty() {
        BTreeMap::new()
    } else {
        let text = input::edit_text(ctx, &repo, &draft_name, &editor_text(&flow), "answers")?;
        source = Some(input::Source::Editor);
        parse_editor_text(&text, count).map_err(|e| {
            let mut err = CliError::usage(format!("the answers could not be read: {e}"));
            if let Ok(p) = input::write_draft(&repo, &draft_name, &text) {
                err = err.hint(format!(
                    "your answers are kept in {}; fix them and run `git aiflow answer {slug} -F {}`",
                    p.display(),
                    p.display()
                ));
            }
            err
        })
        .inspect(|_| typed = Some(text.clone()))?
    };
    // The editor's text (or a file in its format) holds every question: an answer it leaves as
    // it was when this command read the flow is no change, and must not undo an answer someone
    // else gave meanwhile.
    let from_text = typed.is_some();
    if from_text {
        given.retain(|id, text| base_answer(&flow, *id) != text.as_str());
    }
    let redactor = Redactor::current();
    let mut redacted = false;
    for text in given.values_mut() {
        redacted |= redactor.redact_in_place(text);
    }
    if redacted {
        ctx.warn(format!(
            "an answer held the value of an API key from the environment; it is stored as {}",
            crate::ai::secrets::REDACTED
        ));
    }
    let keep = |err: CliError| -> CliError {
        match (&source, &typed) {
            (Some(input::Source::File(_)), _) | (_, None) => err,
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

    let mut changed = 0;
    let mut skip_changed = false;
    let message = format!("aiflow: answers for {slug}");
    let (_, now) = store::update_flow(&repo, &slug, &message, &stamp, |f| {
        let same_questions = f.questions.len() == flow.questions.len()
            && f.questions
                .iter()
                .zip(&flow.questions)
                .all(|(a, b)| a.question == b.question);
        if !same_questions {
            return Err(CliError::refused(format!(
                "the questions of `{slug}` changed meanwhile; nothing was written"
            ))
            .hint(format!("run `git aiflow answer {slug}` again")));
        }
        changed = 0;
        for q in f.questions.iter_mut() {
            if let Some(text) = given.get(&q.id) {
                let new = (!text.is_empty()).then(|| text.clone());
                if q.answer == new {
                    continue;
                }
                // From the editor, an answer changed by someone else since it opened is theirs:
                // refuse rather than overwrite it. `--answer` names what it sets: the later wins.
                if from_text && q.answer.as_deref().unwrap_or("") != base_answer(&flow, q.id) {
                    return Err(keep(
                        CliError::refused(format!(
                            "the answer to question {} of `{slug}` was changed by {} meanwhile; nothing was written",
                            q.id,
                            q.answered_by.as_deref().unwrap_or("someone else")
                        ))
                        .hint(format!(
                            "see the answers with `git aiflow status {slug}`, then run `git aiflow answer {slug}` again"
                        )),
                    ));
                }
                changed += 1;
                set_answer(q, new, &stamp);
            }
        }
        skip_changed = args.skip && !f.questions_skipped;
        f.questions_skipped |= args.skip;
        Ok(changed > 0 || skip_changed)
    })?;
    if let Some(src) = &source {
        input::clean_drafts(&repo, &draft_name, src);
    }

    let answered = now.questions.iter().filter(|q| q.answer.is_some()).count();
    if changed == 0 && !skip_changed {
        writeln!(ctx.out, "No answers changed.")?;
    } else if count > 0 {
        writeln!(
            ctx.out,
            "Answered {answered} of {count} question{} of {slug}{}.",
            if count == 1 { "" } else { "s" },
            if now.questions_skipped && answered < count as usize {
                "; the rest are skipped"
            } else {
                ""
            }
        )?;
    } else {
        writeln!(ctx.out, "Flow {slug} will be planned without questions.")?;
    }
    let open: Vec<String> = now
        .questions
        .iter()
        .filter(|q| q.answer.is_none())
        .map(|q| q.id.to_string())
        .collect();
    if !open.is_empty() && !now.questions_skipped {
        writeln!(
            ctx.out,
            "still open: {}; answer with `git aiflow answer {slug} --answer {}=TEXT`, or plan without them with --skip",
            open.join(", "),
            open[0]
        )?;
    } else if now.plans.is_empty() {
        writeln!(ctx.out, "next: git aiflow plan {slug}")?;
    } else if changed > 0 {
        ctx.hint(format!(
            "the plan was made before these answers; `git aiflow plan {slug} --again` asks for a new revision"
        ));
    }
    Ok(())
}

/// The answer question `id` had when `flow` was read, as the editor shows it (`""` for none).
fn base_answer(flow: &Flow, id: u32) -> &str {
    flow.questions
        .iter()
        .find(|q| q.id == id)
        .and_then(|q| q.answer.as_deref())
        .map(str::trim)
        .unwrap_or("")
}

fn set_answer(q: &mut Question, answer: Option<String>, stamp: &crate::git::Stamp) {
    q.answered_at = answer.as_ref().map(|_| stamp.at.clone());
    q.answered_by = answer.as_ref().map(|_| stamp.who.clone());
    q.answer = answer;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editor_text_round_trips() {
        let text = "# header\n\n[1] Which store?\n# why: x\nRedis 7\n\n  with TLS\n\n[2] Limit?\n\n[3] Keys?\n# choices: a | b\nper key\n";
        let m = parse_editor_text(text, 3).unwrap();
        assert_eq!(m[&1], "Redis 7\n\n  with TLS");
        assert_eq!(m[&2], "");
        assert_eq!(m[&3], "per key");
        assert!(
            parse_editor_text("[4] x\n", 3)
                .unwrap_err()
                .contains("no question 4")
        );
        assert!(
            parse_editor_text("stray\n[1] q\n", 3)
                .unwrap_err()
                .contains("line 1")
        );
    }
}
