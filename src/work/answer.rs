//! Answering a flow's clarifying questions as library calls: the text the editor opens and how it
//! is read, `--answer ID=TEXT`, and writing the answers (or that the rest are skipped) with a
//! check that nobody changed them meanwhile.

use super::WorkError;
use super::edit::EditError;
use crate::ai::Redactor;
use crate::ai::sanitize::clean;
use crate::flow::hand_edit::Located;
use crate::flow::plan::collapse_whitespace;
use crate::flow::{Flow, Question};
use crate::store;
use std::collections::BTreeMap;

/// Answers by question id; an empty text leaves the question unanswered.
pub type Answers = BTreeMap<u32, String>;

/// Refuse to answer when `flow` has no questions, unless `skip` (plan without them) is asked.
pub fn check_questions(flow: &Flow, skip: bool) -> Result<(), WorkError> {
    if !flow.questions.is_empty() || skip {
        return Ok(());
    }
    let slug = &flow.slug;
    let why = if flow.questions_asked.is_some() {
        "the model asked no clarifying questions"
    } else {
        "no clarifying questions have been asked yet"
    };
    Err(WorkError::refused(format!("flow `{slug}`: {why}"))
        .hint(format!("ask for them with `git aiflow plan {slug}`"))
        .hint(format!(
            "to plan without questions, run `git aiflow answer {slug} --skip`"
        )))
}

/// The answers of `--answer ID=TEXT` options, checked against `flow`'s questions.
pub fn from_options(flow: &Flow, options: &[String]) -> Result<Answers, WorkError> {
    let slug = &flow.slug;
    let count = flow.questions.len() as u32;
    let mut map = BTreeMap::new();
    for a in options {
        let (id, text) = a.split_once('=').ok_or_else(|| {
            WorkError::invalid(format!("`--answer {a}` is not of the form ID=TEXT"))
                .hint("write it as --answer 2=\"Redis 7\"")
        })?;
        let id: u32 = id.trim().parse().map_err(|_| {
            WorkError::invalid(format!("`{id}` in `--answer {a}` is not a question number"))
        })?;
        if id == 0 || id > count {
            return Err(WorkError::invalid(format!(
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
            return Err(WorkError::invalid(format!(
                "the answer to question {id} is empty"
            )));
        }
        map.insert(id, text.to_string());
    }
    Ok(map)
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

/// Read the editor's text (or a file in its format) for `flow`'s questions; `origin` names the
/// text in problems (`answers.txt:6: …`), asked only when there are some (it may write the text
/// to a draft to name). Every problem is reported at once, each at its line.
pub fn from_text(
    flow: &Flow,
    text: &str,
    origin: impl FnOnce() -> String,
) -> Result<Answers, WorkError> {
    parse_editor_text(text, flow.questions.len() as u32).map_err(|problems| {
        let origin = origin();
        let n = problems.len();
        let lines: Vec<String> = problems.iter().map(|p| p.render(&origin)).collect();
        WorkError::invalid(format!(
            "the answers could not be read ({n} problem{}):\n  {}",
            if n == 1 { "" } else { "s" },
            lines.join("\n  ")
        ))
        .hint("each answer goes below its `[N] question` line, once; lines starting with '#' are ignored")
    })
}

/// Parse the editor's text: the answer of each `[N]` section, comments and blank edges removed;
/// or every problem, each at its line.
fn parse_editor_text(text: &str, count: u32) -> Result<Answers, Vec<Located>> {
    let mut out: Answers = BTreeMap::new();
    let mut problems = Vec::new();
    let mut first_line: BTreeMap<u32, usize> = BTreeMap::new();
    let mut stray = false;
    // The section being read: its question, or `None` before the first and in a bad one.
    let mut current: Option<u32> = None;
    let mut in_section = false;
    let mut lines: Vec<&str> = Vec::new();
    let mut flush = |id: Option<u32>, lines: &mut Vec<&str>| {
        if let Some(id) = id {
            out.insert(id, lines.join("\n").trim().to_string());
        }
        lines.clear();
    };
    for (no, line) in text.lines().enumerate() {
        let no = no + 1;
        if line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[')
            && let Some((num, _)) = rest.split_once(']')
            && let Ok(id) = num.trim().parse::<u32>()
        {
            flush(current, &mut lines);
            in_section = true;
            current = None;
            if id == 0 || id > count {
                problems.push(Located {
                    line: Some(no),
                    message: format!("there is no question {id} (the questions are 1 to {count})"),
                });
            } else if let Some(first) = first_line.get(&id) {
                problems.push(Located {
                    line: Some(no),
                    message: format!(
                        "question {id} is answered twice (first on line {first}); keep one answer"
                    ),
                });
            } else {
                first_line.insert(id, no);
                current = Some(id);
            }
            continue;
        }
        if !in_section {
            if !line.trim().is_empty() && !stray {
                stray = true;
                problems.push(Located {
                    line: Some(no),
                    message: "text before the first question; write answers below their `[N]` line"
                        .into(),
                });
            }
            continue;
        }
        lines.push(line);
    }
    flush(current, &mut lines);
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// What to write of `given`: the editor's text (`whole_text`) holds every question, so an
/// answer it leaves as it was when `flow` was read is no change, and must not undo an answer
/// someone else gave meanwhile. API keys of the environment are redacted; `true` when one was.
pub fn changes(flow: &Flow, mut given: Answers, whole_text: bool) -> (Answers, bool) {
    if whole_text {
        given.retain(|id, text| base_answer(flow, *id) != text.as_str());
    }
    let redactor = Redactor::current();
    let mut redacted = false;
    for text in given.values_mut() {
        redacted |= redactor.redact_in_place(text);
    }
    (given, redacted)
}

/// What [`apply`] did.
#[derive(Debug)]
pub struct Answered {
    /// How many answers changed.
    pub changed: usize,
    /// Whether `--skip` was new.
    pub skip_changed: bool,
    /// The flow as it now is.
    pub flow: Flow,
}

/// Write `given` (from [`changes`]) as `stamp`'s answers to the questions of `flow` (as read
/// when the answers were collected), and with `skip` that the rest are skipped. From the whole
/// text (`whole_text`), an answer someone else changed meanwhile is theirs: that is refused
/// ([`EditError::Keep`]) rather than overwritten; `--answer` names what it sets, the later wins.
pub fn apply(
    repo: &gix::Repository,
    flow: &Flow,
    given: &Answers,
    whole_text: bool,
    skip: bool,
    stamp: &crate::git::Stamp,
) -> Result<Answered, EditError> {
    let slug = &flow.slug;
    let mut changed = 0;
    let mut skip_changed = false;
    let message = format!("aiflow: answers for {slug}");
    let (_, now) = store::update_flow(repo, slug, &message, stamp, |f| {
        let same_questions = f.questions.len() == flow.questions.len()
            && f.questions
                .iter()
                .zip(&flow.questions)
                .all(|(a, b)| a.question == b.question);
        if !same_questions {
            return Err(EditError::Other(
                WorkError::refused(format!(
                    "the questions of `{slug}` changed meanwhile; nothing was written"
                ))
                .hint(format!("run `git aiflow answer {slug}` again")),
            ));
        }
        changed = 0;
        for q in f.questions.iter_mut() {
            let Some(text) = given.get(&q.id) else {
                continue;
            };
            let new = (!text.is_empty()).then(|| text.clone());
            if q.answer == new {
                continue;
            }
            if whole_text && q.answer.as_deref().unwrap_or("") != base_answer(flow, q.id) {
                return Err(EditError::Keep(answered_meanwhile(slug, q)));
            }
            changed += 1;
            set_answer(q, new, stamp);
        }
        skip_changed = skip && !f.questions_skipped;
        f.questions_skipped |= skip;
        Ok(changed > 0 || skip_changed)
    })?;
    Ok(Answered {
        changed,
        skip_changed,
        flow: now,
    })
}

/// The refusal to overwrite `q`'s answer, which someone else changed meanwhile.
fn answered_meanwhile(slug: &str, q: &Question) -> WorkError {
    WorkError::refused(format!(
        "the answer to question {} of `{slug}` was changed by {} meanwhile; nothing was written",
        q.id,
        q.answered_by.as_deref().unwrap_or("someone else")
    ))
    .hint(format!(
        "see the answers with `git aiflow status {slug}`, then run `git aiflow answer {slug}` again"
    ))
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
    fn answer_options_are_checked_against_the_questions() {
        let flow = crate::flow::tests_support::sample();
        let ok = from_options(&flow, &["1= Redis 8 ".into()]).unwrap();
        assert_eq!(ok[&1], "Redis 8");
        for (bad, says) in [
            ("x", "is not of the form ID=TEXT"),
            ("a=b", "is not a question number"),
            ("2=b", "has no question 2; its questions are 1 to 1"),
            ("1= ", "the answer to question 1 is empty"),
        ] {
            let e = from_options(&flow, &[bad.into()]).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn the_whole_text_changes_only_what_it_changes() {
        let flow = crate::flow::tests_support::sample();
        let given: Answers = [(1, "Redis 7".to_string())].into();
        assert!(changes(&flow, given.clone(), true).0.is_empty());
        assert_eq!(changes(&flow, given, false).0.len(), 1);
    }

    #[test]
    fn editor_text_round_trips() {
        let text = "# header\n\n[1] Which store?\n# why: x\nRedis 7\n\n  with TLS\n\n[2] Limit?\n\n[3] Keys?\n# choices: a | b\nper key\n";
        let m = parse_editor_text(text, 3).unwrap();
        assert_eq!(m[&1], "Redis 7\n\n  with TLS");
        assert_eq!(m[&2], "");
        assert_eq!(m[&3], "per key");
        let errs = parse_editor_text("[4] x\n", 3).unwrap_err();
        assert_eq!(errs[0].line, Some(1));
        assert!(errs[0].message.contains("no question 4"), "{errs:?}");
        let errs = parse_editor_text("stray\nmore\n[1] q\n[4]\n[1] again\n", 3).unwrap_err();
        let lines: Vec<_> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, [Some(1), Some(4), Some(5)], "{errs:?}");
    }
}
