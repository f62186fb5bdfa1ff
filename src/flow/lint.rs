//! Plan lint: what makes a plan or a set of clarifying questions weak, found without a model.
//!
//! A weak model (and a hurried person) produces answers the tool can take mechanically but nobody
//! can use: the same subtask many times, the prompt's own placeholders (`…`, `src/…`) or example
//! text, paths that do not exist, no test anywhere. [`lint_plan`] and [`lint_questions`] find
//! these and say so with a stable code and the subtask or question at fault. They are pure: the
//! caller gathers the repository's paths and the prompt's instructions ([`Context`]).
//!
//! Lint is advisory: the warnings are stored with the revision (or the questions) and shown; only
//! `--strict` (or `aiflow.planStrict`) turns them into a refusal.
//!
//! The rules, and why they hold up:
//! - **Duplicates.** Text is compared after normalising case, punctuation and whitespace. Two
//!   titles are near-duplicates when they are equal once articles and the like are dropped, plurals
//!   folded and word order ignored, or when their characters are 90% the same and neither has a
//!   number or a one-letter word the other lacks ("Phase 1" and "Phase 2" are different subtasks).
//!   Descriptions of 8 words or more are near-duplicates at 90% of their words.
//! - **Placeholders.** A value that is only an ellipsis, a word such as `TODO` or `TBD`, an
//!   angle-bracket placeholder (`<path>`, `<what it does>`: not `Vec<String>`), or (in a title, a
//!   path or a test command) contains `…`.
//! - **Copied from the prompt.** A value of three words or more (or a path) found in the prompt's
//!   instructions or JSON shape (the template's own text, never the spec or the repository listing
//!   rendered into it) and not in the flow's title, spec, questions or answers.
//! - **Cut off.** A title, question, reason or choice that opens a bracket or quote it never
//!   closes, or ends on a comma, a colon, a dash, or a word no sentence ends on (`the`, `and`, `to`…).
//! - **Paths.** A path is fine when it exists at the tip of the integration branch (file or
//!   directory). A new one is plausible when its file name looks like one and its directory exists,
//!   or the first missing directory on its way holds another path of the plan (the plan creates
//!   it). Otherwise it is reported, with "did you mean" for an existing file of the same name or
//!   an existing directory its directory ends with (`src/app/x.py` when `app/` exists). A
//!   repository without files has nothing to compare with: every path is new.
//! - **No test.** No subtask has a `test` command, a test-looking path (`tests/…`, `test_x.py`,
//!   `x_test.go`, `x.spec.ts`…), or says "test" in its title or description.
//! - **One phase.** Three subtasks or more, all in one phase, while the spec lists more than its
//!   core features: constraints, edge cases, or a section of its own about nice-to-haves or
//!   production (a heading naming nice-to-have, optional, later, production, deployment, security,
//!   operations, monitoring, logging or documentation). The practice plans those in the
//!   `nice-to-have` and `production` phases; a plan with all of them in `core` (or none of the
//!   core in `core`) has lost that order.
//! - **Order.** A subtask listed before one it depends on.

use super::spec::Spec;
use super::{Extra, Flow, Phase, Question, Subtask, SubtaskStatus};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One thing lint found: a stable code, the subtask or question at fault (when one is), and
/// what is wrong in words.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Warning {
    /// A stable kebab-case id ([`Code::as_str`]); an unknown one (from a newer version) is kept.
    pub code: String,
    /// The subtask at fault, by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtask: Option<String>,
    /// The question at fault, by number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<u32>,
    /// What is wrong, and how to fix it.
    pub message: String,
    /// Keys this build does not know, from a newer git-aiflow: kept, and written back as they
    /// were (the compatibility rule of `docs/SCHEMA.md`).
    #[serde(flatten, default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

impl Warning {
    fn new(code: Code, message: String) -> Warning {
        Warning {
            code: code.as_str().to_string(),
            subtask: None,
            question: None,
            message,
            extra: Extra::new(),
        }
    }

    fn on_subtask(code: Code, id: &str, message: String) -> Warning {
        Warning {
            subtask: Some(id.to_string()),
            ..Warning::new(code, message)
        }
    }

    fn on_question(code: Code, id: u32, message: String) -> Warning {
        Warning {
            question: Some(id),
            ..Warning::new(code, message)
        }
    }

    /// What the warning is about: the subtask's id, `question N`, or `None` for the whole plan.
    pub fn subject(&self) -> Option<String> {
        match (&self.subtask, self.question) {
            (Some(id), _) => Some(id.clone()),
            (None, Some(n)) => Some(format!("question {n}")),
            (None, None) => None,
        }
    }
}

/// `<subject>: <message>`, or the message alone for the whole plan: what follows `warning: `.
impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.subject() {
            Some(s) => write!(f, "{s}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The kinds of warning, each with its stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// A subtask with the same title or description as an earlier one.
    DuplicateSubtask,
    /// A subtask whose title or description is nearly an earlier one's.
    NearDuplicateSubtask,
    /// A question asked twice.
    DuplicateQuestion,
    /// A question nearly the same as an earlier one.
    NearDuplicateQuestion,
    /// A question offering the same choice twice.
    DuplicateChoice,
    /// Placeholder text: `…`, `TODO`, `<…>`.
    Placeholder,
    /// Text copied from the prompt's instructions or JSON shape.
    PromptEcho,
    /// Text cut off mid-sentence.
    Truncated,
    /// A path that does not exist and is not plausibly new.
    UnknownPath,
    /// No test anywhere in the plan.
    NoTests,
    /// Every subtask in one phase although the spec lists more than core features.
    SinglePhase,
    /// A subtask listed before one it depends on.
    DependencyOrder,
    /// A description that only repeats the title.
    DescriptionRepeatsTitle,
    /// A question's reason, or one of its choices, that only repeats the question.
    RepeatsQuestion,
}

impl Code {
    /// Every code.
    pub const ALL: [Code; 14] = [
        Code::DuplicateSubtask,
        Code::NearDuplicateSubtask,
        Code::DuplicateQuestion,
        Code::NearDuplicateQuestion,
        Code::DuplicateChoice,
        Code::Placeholder,
        Code::PromptEcho,
        Code::Truncated,
        Code::UnknownPath,
        Code::NoTests,
        Code::SinglePhase,
        Code::DependencyOrder,
        Code::DescriptionRepeatsTitle,
        Code::RepeatsQuestion,
    ];

    /// The code as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::DuplicateSubtask => "duplicate-subtask",
            Code::NearDuplicateSubtask => "near-duplicate-subtask",
            Code::DuplicateQuestion => "duplicate-question",
            Code::NearDuplicateQuestion => "near-duplicate-question",
            Code::DuplicateChoice => "duplicate-choice",
            Code::Placeholder => "placeholder",
            Code::PromptEcho => "prompt-echo",
            Code::Truncated => "truncated",
            Code::UnknownPath => "unknown-path",
            Code::NoTests => "no-tests",
            Code::SinglePhase => "single-phase",
            Code::DependencyOrder => "dependency-order",
            Code::DescriptionRepeatsTitle => "description-repeats-title",
            Code::RepeatsQuestion => "repeats-question",
        }
    }
}

/// The repository an answer's paths are checked against. Paths are relative to its root,
/// `/`-separated; `""` is the root.
pub trait Paths {
    /// Whether the repository has no files at all.
    fn is_empty(&self) -> bool;
    /// Whether `path` is a file or a directory (`dir/` names a directory only).
    fn exists(&self, path: &str) -> bool;
    /// Whether `dir` is a directory.
    fn is_dir(&self, dir: &str) -> bool;
    /// The files called `name`, anywhere.
    fn named(&self, name: &str) -> Vec<String>;
}

/// The paths of a repository, listed: every question answered from memory.
#[derive(Debug, Clone, Default)]
pub struct RepoPaths {
    files: BTreeSet<String>,
    dirs: BTreeSet<String>,
    by_name: BTreeMap<String, Vec<String>>,
}

impl RepoPaths {
    /// The repository holding these files (paths relative to its root, `/`-separated).
    pub fn new<I, S>(files: I) -> RepoPaths
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut out = RepoPaths::default();
        for f in files {
            let f: String = f.into();
            let mut dir = f.as_str();
            while let Some((parent, _)) = dir.rsplit_once('/') {
                if !out.dirs.insert(parent.to_string()) {
                    break;
                }
                dir = parent;
            }
            let name = f.rsplit('/').next().unwrap_or(&f).to_string();
            out.by_name.entry(name).or_default().push(f.clone());
            out.files.insert(f);
        }
        out
    }
}

impl Paths for RepoPaths {
    fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    fn exists(&self, path: &str) -> bool {
        let p = path.trim_end_matches('/');
        p.is_empty() || self.dirs.contains(p) || (p.len() == path.len() && self.files.contains(p))
    }

    fn is_dir(&self, path: &str) -> bool {
        path.is_empty() || self.dirs.contains(path)
    }

    fn named(&self, name: &str) -> Vec<String> {
        self.by_name.get(name).cloned().unwrap_or_default()
    }
}

/// What an answer is checked against: the flow (its spec, questions and answers are facts the
/// author was given), the prompt's instructions, and the repository's paths.
pub struct Context<'a> {
    spec: &'a Spec,
    /// The flow's title and spec, normalised, padded with spaces.
    spec_text: String,
    /// The questions and answers, normalised, padded with spaces.
    answers_text: String,
    /// The title, spec, questions and answers as written: a `<name>` the spec itself uses
    /// (`GET /links?agent=<name>`) is the spec's, not a placeholder.
    given: String,
    /// The instructions as given.
    instructions: String,
    /// The instructions, normalised, padded with spaces.
    instructions_norm: String,
    paths: &'a dyn Paths,
}

impl<'a> Context<'a> {
    /// Check answers about `flow` in a repository holding `paths`; `instructions` is the text of
    /// the prompt the model was given that is not data: the templates' own text and the JSON
    /// shape and schema (empty when unknown).
    pub fn new(flow: &'a Flow, instructions: &str, paths: &'a dyn Paths) -> Context<'a> {
        let mut answers = String::new();
        for q in &flow.questions {
            for t in [Some(&q.question), q.why.as_ref(), q.answer.as_ref()]
                .into_iter()
                .flatten()
                .chain(&q.choices)
            {
                answers.push_str(t);
                answers.push('\n');
            }
        }
        let spec_text = format!("{}\n{}", flow.title, flow.spec.to_markdown(&flow.title));
        Context {
            spec: &flow.spec,
            given: format!("{spec_text}\n{answers}"),
            spec_text: padded(&spec_text),
            answers_text: padded(&answers),
            instructions: instructions.to_string(),
            instructions_norm: padded(instructions),
            paths,
        }
    }
}

/// The warnings about a plan's `subtasks` (dropped ones are left out), in plan order, those
/// about the whole plan last.
pub fn lint_plan(subtasks: &[Subtask], cx: &Context<'_>) -> Vec<Warning> {
    let live: Vec<&Subtask> = subtasks
        .iter()
        .filter(|s| s.status != SubtaskStatus::Dropped)
        .collect();
    let mut out = Vec::new();
    subtask_duplicates(&live, &mut out);
    for s in &live {
        let mut text = |what: &str, value: &str, kind: Kind| {
            if let Some(w) = text_warning(what, value, kind, cx, true) {
                out.push(Warning::on_subtask(w.0, &s.id, w.1));
            }
        };
        text("the title", &s.title, Kind::Short);
        text("the description", &s.description, Kind::Long);
        if let Some(t) = &s.test {
            text("the test command", t, Kind::Command);
        }
        let (title, description) = (norm(&s.title), norm(&s.description));
        if !title.is_empty() && title == description {
            out.push(Warning::on_subtask(
                Code::DescriptionRepeatsTitle,
                &s.id,
                "the description only repeats the title: say what to do and how to tell it is done"
                    .into(),
            ));
        }
    }
    path_warnings(&live, cx, &mut out);
    dependency_order(&live, &mut out);
    no_tests(&live, &mut out);
    single_phase(&live, cx.spec, &mut out);
    // Plan order, then the whole plan's.
    let position: BTreeMap<&str, usize> = live
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    out.sort_by_key(|w| {
        w.subtask
            .as_deref()
            .and_then(|id| position.get(id).copied())
            .unwrap_or(usize::MAX)
    });
    out
}

/// The warnings about clarifying `questions`, in order.
pub fn lint_questions(questions: &[Question], cx: &Context<'_>) -> Vec<Warning> {
    let mut out = Vec::new();
    for (i, q) in questions.iter().enumerate() {
        let mut push = |w: Option<(Code, String)>| {
            if let Some((code, message)) = w {
                out.push(Warning::on_question(code, q.id, message));
            }
        };
        // The questions' own earlier text is no ground for themselves.
        push(text_warning(
            "the question",
            &q.question,
            Kind::Short,
            cx,
            false,
        ));
        if let Some(why) = &q.why {
            push(text_warning(
                "the reason (why)",
                why,
                Kind::Short,
                cx,
                false,
            ));
            if same_words(&q.question, why) {
                push(Some((
                    Code::RepeatsQuestion,
                    "the reason (why) only repeats the question: say which gap it exposes".into(),
                )));
            }
        }
        let mut seen: Vec<(String, usize)> = Vec::new();
        // Repeated choices, one warning a question: (first, its repeats).
        let mut repeats: Vec<(usize, Vec<usize>)> = Vec::new();
        for (k, c) in q.choices.iter().enumerate() {
            push(text_warning(
                &format!("choice {}", k + 1),
                c,
                Kind::Choice,
                cx,
                false,
            ));
            if same_words(&q.question, c) {
                push(Some((
                    Code::RepeatsQuestion,
                    format!(
                        "choice {} only repeats the question: offer an answer",
                        k + 1
                    ),
                )));
            }
            // `…` normalises to nothing: such choices compare as written.
            let n = match norm(c) {
                n if n.is_empty() => c.trim().to_string(),
                n => n,
            };
            if n.is_empty() {
                continue;
            }
            match seen.iter().find(|(s, _)| *s == n) {
                Some((_, first)) => match repeats.iter_mut().find(|(f, _)| f == first) {
                    Some((_, r)) => r.push(k),
                    None => repeats.push((*first, vec![k])),
                },
                None => seen.push((n, k)),
            }
        }
        for (first, again) in repeats {
            let numbers: Vec<String> = again.iter().map(|k| (k + 1).to_string()).collect();
            let (s, are) = if again.len() == 1 {
                ("", "is")
            } else {
                ("s", "are")
            };
            push(Some((
                Code::DuplicateChoice,
                format!(
                    "choice{s} {} {are} the same as choice {} ({})",
                    join_and(&numbers),
                    first + 1,
                    quote(&q.choices[first])
                ),
            )));
        }
        for earlier in &questions[..i] {
            let code = match similarity(&earlier.question, &q.question, Compare::Chars) {
                Similarity::Same => Code::DuplicateQuestion,
                Similarity::Near => Code::NearDuplicateQuestion,
                Similarity::Different => continue,
            };
            let how = if code == Code::DuplicateQuestion {
                "asks the same as"
            } else {
                "asks nearly the same as"
            };
            push(Some((code, format!("it {how} question {}", earlier.id))));
            break;
        }
    }
    out
}

/// What kind of value a text is, for the checks that depend on it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A title, a question, a reason: one line or sentence.
    Short,
    /// A description: prose, where `…` and `<T>` may be meant.
    Long,
    /// A suggested answer.
    Choice,
    /// A shell command.
    Command,
}

/// The first problem with `value` (a placeholder, text copied from the prompt, text cut off),
/// named as `what`; `with_answers`: the questions and answers count as given facts.
fn text_warning(
    what: &str,
    value: &str,
    kind: Kind,
    cx: &Context<'_>,
    with_answers: bool,
) -> Option<(Code, String)> {
    if let Some(why) = placeholder(value, kind) {
        // An angle-bracket token the spec or answers use themselves is theirs.
        let theirs = angle_placeholder(value.trim(), kind).is_some_and(|p| cx.given.contains(&p));
        if !theirs {
            return Some((Code::Placeholder, format!("{what} {why}: {}", quote(value))));
        }
    }
    if kind != Kind::Command && echoed(value, cx, with_answers) {
        return Some((
            Code::PromptEcho,
            format!(
                "{what} is copied from the prompt's instructions, not the spec: {}",
                quote(value)
            ),
        ));
    }
    if kind != Kind::Command
        && let Some(why) = cut_off(value, kind)
    {
        return Some((
            Code::Truncated,
            format!("{what} looks cut off ({why}): {}", quote(value)),
        ));
    }
    None
}

/// Words a placeholder is made of, whatever the case.
const PLACEHOLDER_WORDS: &[&str] = &[
    "todo",
    "tbd",
    "fixme",
    "xxx",
    "placeholder",
    "lorem ipsum",
    "your title here",
    "your description here",
];

/// Angle-bracket contents that are placeholders, not markup or generics.
const PLACEHOLDER_NAMES: &[&str] = &[
    "name",
    "path",
    "file",
    "filename",
    "title",
    "description",
    "id",
    "command",
    "value",
    "text",
    "question",
    "answer",
    "choice",
    "reason",
    "why",
];

/// Why `value` is a placeholder, if it is.
fn placeholder(value: &str, kind: Kind) -> Option<String> {
    let t = value.trim();
    if t.is_empty() {
        return None;
    }
    if t.chars()
        .all(|c| matches!(c, '.' | '…') || c.is_whitespace())
    {
        return Some("is only an ellipsis".into());
    }
    let lower = t.to_lowercase();
    if PLACEHOLDER_WORDS.contains(&lower.as_str())
        || (kind != Kind::Choice && matches!(lower.as_str(), "string" | "str"))
    {
        return Some("is a placeholder".into());
    }
    if matches!(kind, Kind::Short | Kind::Command) && t.contains('…') {
        return Some("contains an ellipsis (…)".into());
    }
    if kind != Kind::Long {
        for w in ["TODO", "TBD", "FIXME"] {
            if t.split(|c: char| !c.is_alphanumeric()).any(|x| x == w) {
                return Some(format!("contains {w}"));
            }
        }
    } else if lower.starts_with("todo") || lower.starts_with("tbd") {
        return Some("is a placeholder".into());
    }
    angle_placeholder(t, kind).map(|p| format!("contains the placeholder {p}"))
}

/// The first `<…>` placeholder in `t`: `<path>`, `<what it does>`, a whole value `<x>`; never
/// a generic (`Vec<String>`, the `<` follows a letter) or a tag (`<div>`).
fn angle_placeholder(t: &str, kind: Kind) -> Option<String> {
    let mut rest = t;
    let mut offset = 0;
    while let Some(open) = rest.find('<') {
        let start = offset + open;
        let after = &t[start + 1..];
        let close = after.find('>')?;
        let inner = &after[..close];
        let before = t[..start].chars().next_back();
        let generic = before.is_some_and(|c| c.is_alphanumeric() || c == ':');
        let whole = start == 0 && start + close + 2 == t.len();
        let shaped = !inner.is_empty()
            && inner.chars().count() <= 40
            && inner
                .chars()
                .all(|c| c.is_alphanumeric() || " _-.…/".contains(c));
        let placeholderish = inner.contains(' ')
            || inner.contains('…')
            || inner.contains("...")
            || PLACEHOLDER_NAMES.contains(&inner.to_lowercase().as_str())
            || (whole && kind != Kind::Long);
        if !generic && shaped && placeholderish {
            return Some(format!("<{inner}>"));
        }
        offset = start + 1;
        rest = &t[offset..];
    }
    None
}

/// Whether `value` is text from the prompt's instructions that the flow does not hold: three
/// words or more, found whole in the instructions and nowhere in the spec (or, with
/// `with_answers`, the questions and answers).
fn echoed(value: &str, cx: &Context<'_>, with_answers: bool) -> bool {
    let n = norm(value);
    if n.split(' ').count() < 3 {
        return false;
    }
    let needle = format!(" {n} ");
    cx.instructions_norm.contains(&needle)
        && !cx.spec_text.contains(&needle)
        && !(with_answers && cx.answers_text.contains(&needle))
}

/// Words no sentence or option ends on.
const DANGLING: &[&str] = &[
    "a", "an", "the", "and", "or", "but", "nor", "to", "of", "for", "with", "from", "into", "that",
    "which", "whose", "than", "per", "via", "is", "are", "was", "were", "be", "if", "because",
];

/// Why `value` looks cut off mid-sentence, if it does.
fn cut_off(value: &str, kind: Kind) -> Option<String> {
    let t = value.trim();
    if t.is_empty() {
        return None;
    }
    for (open, close) in [('(', ')'), ('[', ']'), ('{', '}'), ('“', '”')] {
        if t.matches(open).count() > t.matches(close).count() {
            return Some(format!("`{open}` is never closed"));
        }
    }
    if kind != Kind::Long {
        for q in ['"', '`'] {
            if t.matches(q).count() % 2 == 1 {
                return Some(format!("`{q}` is never closed"));
            }
        }
    }
    let last = t.chars().next_back()?;
    if matches!(last, ',' | ':' | ';' | '(' | '-' | '/' | '&' | '—' | '–') {
        return Some(format!("it ends with `{last}`"));
    }
    if last.is_alphanumeric() {
        let word = t
            .rsplit(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or("")
            .to_lowercase();
        // "Plan A" is an option, not a cut-off article.
        if (word != "a" || t.split_whitespace().count() > 2) && DANGLING.contains(&word.as_str()) {
            return Some(format!("it ends with `{word}`"));
        }
    }
    None
}

/// How alike two texts are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Similarity {
    Same,
    Near,
    Different,
}

/// What near-duplicates are measured on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Compare {
    /// Titles and questions: characters, or the same words in any order.
    Chars,
    /// Descriptions: words, 8 or more.
    Words,
}

/// Function words dropped before comparing titles.
const STOPWORDS: &[&str] = &[
    "a", "an", "the", "of", "for", "to", "and", "with", "in", "on", "into", "its", "their", "new",
];

/// `a` and `b` compared after normalising case, punctuation and whitespace.
fn similarity(a: &str, b: &str, how: Compare) -> Similarity {
    let (na, nb) = (norm(a), norm(b));
    if na.is_empty() || nb.is_empty() {
        return Similarity::Different;
    }
    if na == nb {
        return Similarity::Same;
    }
    // A number or a one-letter word only one side has tells two items apart ("Phase 1").
    let distinct = |x: &str, y: &str| {
        let ys: BTreeSet<&str> = y.split(' ').collect();
        x.split(' ').filter(|w| !STOPWORDS.contains(w)).any(|w| {
            (w.chars().count() == 1 || w.chars().any(|c| c.is_ascii_digit())) && !ys.contains(w)
        })
    };
    if distinct(&na, &nb) || distinct(&nb, &na) {
        return Similarity::Different;
    }
    match how {
        Compare::Chars => {
            let (ca, cb) = (canonical(&na), canonical(&nb));
            if !ca.is_empty() && ca == cb {
                return Similarity::Near;
            }
            let ratio = similar::TextDiff::from_chars(na.as_str(), nb.as_str()).ratio();
            if na.len().min(nb.len()) >= 12 && ratio >= 0.9 {
                return Similarity::Near;
            }
        }
        Compare::Words => {
            let (wa, wb): (Vec<&str>, Vec<&str>) =
                (na.split(' ').collect(), nb.split(' ').collect());
            // The ratio is at most twice the words both have in common over all words: when
            // that bound is under 0.9 the diff (quadratic at worst) is not needed.
            if wa.len().min(wb.len()) >= 8
                && 2 * common_words(&wa, &wb) * 10 >= 9 * (wa.len() + wb.len())
            {
                let ops = similar::capture_diff_slices(similar::Algorithm::Myers, &wa, &wb);
                if similar::diff_ratio(&ops, wa.len(), wb.len()) >= 0.9 {
                    return Similarity::Near;
                }
            }
        }
    }
    Similarity::Different
}

/// How many words `a` and `b` have in common, counting repeats.
fn common_words(a: &[&str], b: &[&str]) -> usize {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for w in a {
        *counts.entry(w).or_default() += 1;
    }
    b.iter()
        .filter(|w| match counts.get_mut(*w) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        })
        .count()
}

/// The words of a normalised text without function words, plurals folded, sorted.
fn canonical(n: &str) -> String {
    let mut words: Vec<String> = n
        .split(' ')
        .filter(|w| !STOPWORDS.contains(w))
        .map(|w| {
            if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") {
                w[..w.len() - 1].to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    words.sort();
    words.join(" ")
}

/// Duplicate and near-duplicate subtasks: each reported once, against the first earlier one it
/// matches, by title first.
fn subtask_duplicates(live: &[&Subtask], out: &mut Vec<Warning>) {
    for (i, s) in live.iter().enumerate() {
        let found = live[..i].iter().find_map(|e| {
            let by_title = match similarity(&e.title, &s.title, Compare::Chars) {
                Similarity::Same => Some((Code::DuplicateSubtask, "the same title as")),
                Similarity::Near => Some((Code::NearDuplicateSubtask, "nearly the same title as")),
                Similarity::Different => None,
            };
            let by_description = || {
                if norm(&s.description).split(' ').count() < 3 {
                    return None;
                }
                match similarity(&e.description, &s.description, Compare::Words) {
                    Similarity::Same => Some((Code::DuplicateSubtask, "the same description as")),
                    Similarity::Near => {
                        Some((Code::NearDuplicateSubtask, "nearly the same description as"))
                    }
                    Similarity::Different => None,
                }
            };
            by_title.or_else(by_description).map(|f| (f, e))
        });
        if let Some(((code, how), e)) = found {
            out.push(Warning::on_subtask(
                code,
                &s.id,
                format!(
                    "it has {how} {} ({}): merge them, or say what sets them apart",
                    e.id,
                    quote(&e.title)
                ),
            ));
        }
    }
}

/// Paths that are placeholders, or do not exist and are not plausibly new.
fn path_warnings(live: &[&Subtask], cx: &Context<'_>, out: &mut Vec<Warning>) {
    let planned: Vec<&str> = live
        .iter()
        .flat_map(|s| s.files.iter().map(String::as_str))
        .collect();
    // A path several subtasks name is reported once, on the first.
    let mut reported: BTreeSet<&str> = BTreeSet::new();
    for s in live {
        for p in &s.files {
            if !reported.insert(p.as_str()) {
                continue;
            }
            if let Some(why) = path_placeholder(p) {
                out.push(Warning::on_subtask(
                    Code::Placeholder,
                    &s.id,
                    format!("the path {} {why}", quote(p)),
                ));
                continue;
            }
            if cx.paths.is_empty() || cx.paths.exists(p) {
                continue;
            }
            if cx.instructions.contains(p.as_str()) && token_in(&cx.instructions, p) {
                out.push(Warning::on_subtask(
                    Code::PromptEcho,
                    &s.id,
                    format!(
                        "the path {} is copied from the prompt's instructions and does not exist",
                        quote(p)
                    ),
                ));
                continue;
            }
            if let Some(why) = implausible(p, &planned, cx.paths) {
                out.push(Warning::on_subtask(Code::UnknownPath, &s.id, why));
            }
        }
    }
}

/// Why path `p` is a placeholder, if it is.
fn path_placeholder(p: &str) -> Option<String> {
    if p.split('/').any(|c| c == "..." || c == "…") || p.contains('…') {
        return Some("is a placeholder (it contains an ellipsis)".into());
    }
    if let Some(c) = p
        .chars()
        .find(|c| matches!(c, '<' | '>' | '*' | '?' | '{' | '}' | '|'))
    {
        return Some(format!("is a placeholder or a pattern (it contains `{c}`)"));
    }
    placeholder(p, Kind::Command).map(|why| why.to_string())
}

/// Whether `needle` occurs in `hay` as a whole path: not inside a longer one.
fn token_in(hay: &str, needle: &str) -> bool {
    let path_char = |c: char| c.is_alphanumeric() || "/._-…".contains(c);
    hay.match_indices(needle).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        !before.is_some_and(path_char) && !after.is_some_and(|c| path_char(c) && c != '.')
    })
}

/// Why the missing path `p` is not plausibly new, if it is not.
fn implausible(p: &str, planned: &[&str], repo: &dyn Paths) -> Option<String> {
    let is_dir = p.ends_with('/');
    let trimmed = p.trim_end_matches('/');
    let (dir, name) = match trimmed.rsplit_once('/') {
        Some((d, n)) => (d, n),
        None => ("", trimmed),
    };
    if !is_dir && !file_name_like(name) {
        return Some(format!(
            "{} does not exist, and {} does not look like a file name",
            quote(p),
            quote(name)
        ));
    }
    if repo.is_dir(dir) {
        return None;
    }
    let suggestion = if is_dir {
        None
    } else {
        did_you_mean(dir, name, repo)
    };
    if let Some(s) = suggestion {
        return Some(format!(
            "{} does not exist; did you mean {}?",
            quote(p),
            quote(&s)
        ));
    }
    // The first directory on the way that does not exist: plausible when the plan puts
    // another path there (it creates the directory), or it is the path itself.
    let mut first_missing = dir;
    let mut cur = dir;
    while let Some((parent, _)) = cur.rsplit_once('/') {
        if repo.is_dir(parent) {
            break;
        }
        first_missing = parent;
        cur = parent;
    }
    let prefix = format!("{first_missing}/");
    if planned.iter().any(|o| {
        *o != p
            && o.trim_end_matches('/') != trimmed
            && (o.starts_with(&prefix) || *o == first_missing)
    }) {
        return None;
    }
    Some(format!(
        "{} does not exist, nor does its directory {}, and no other path of the plan is there: use an existing path, or say where the new one goes",
        quote(p),
        quote(&prefix)
    ))
}

/// An existing path `dir/name` was probably meant as: a file of the same name (the one sharing
/// the most trailing directories with `dir`), else `name` in an existing directory that `dir`
/// ends with.
fn did_you_mean(dir: &str, name: &str, repo: &dyn Paths) -> Option<String> {
    let same = repo.named(name);
    if !same.is_empty() {
        let want: Vec<&str> = dir.split('/').rev().collect();
        let shared = |f: &str| {
            f.rsplit('/')
                .skip(1)
                .zip(&want)
                .take_while(|(a, b)| a == *b)
                .count()
        };
        return same
            .iter()
            .max_by_key(|f| (shared(f), std::cmp::Reverse(f.len())))
            .cloned();
    }
    let parts: Vec<&str> = dir.split('/').collect();
    (1..parts.len())
        .map(|k| parts[k..].join("/"))
        .find(|suffix| repo.is_dir(suffix))
        .map(|suffix| format!("{suffix}/{name}"))
}

/// Whether `name` looks like a file name: no spaces or odd characters, and an extension (if
/// any) of letters and digits.
fn file_name_like(name: &str) -> bool {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"':;,()[]".contains(c))
    {
        return false;
    }
    let stem_and_ext = name.strip_prefix('.').unwrap_or(name);
    match stem_and_ext.rsplit_once('.') {
        None => true,
        Some((stem, ext)) => {
            !stem.is_empty()
                && (1..=10).contains(&ext.len())
                && ext
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_+-".contains(c))
        }
    }
}

/// Subtasks listed before one they depend on.
fn dependency_order(live: &[&Subtask], out: &mut Vec<Warning>) {
    let position: BTreeMap<&str, usize> = live
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    for (i, s) in live.iter().enumerate() {
        for d in &s.depends_on {
            if let Some(&j) = position.get(d.as_str())
                && j > i
            {
                out.push(Warning::on_subtask(
                    Code::DependencyOrder,
                    &s.id,
                    format!(
                        "it depends on {d}, which comes after it in the plan (position {} of {}): move {d} before it",
                        j + 1,
                        live.len()
                    ),
                ));
            }
        }
    }
}

/// A plan without a test anywhere.
fn no_tests(live: &[&Subtask], out: &mut Vec<Warning>) {
    if live.is_empty() {
        return;
    }
    let mentions = |t: &str| {
        norm(t).split(' ').any(|w| {
            matches!(
                w,
                "test" | "tests" | "testing" | "tested" | "unittest" | "pytest"
            )
        })
    };
    let any = live.iter().any(|s| {
        s.test.as_deref().is_some_and(|t| !t.trim().is_empty())
            || s.files.iter().any(|f| test_path(f))
            || mentions(&s.title)
            || mentions(&s.description)
    });
    if !any {
        out.push(Warning::new(
            Code::NoTests,
            "no subtask tests anything: no `test` command, no test file among the paths, no mention of tests; plan the tests with the behaviour they check".into(),
        ));
    }
}

/// Whether `path` looks like a test: in a test directory, or named like one.
pub fn test_path(path: &str) -> bool {
    let lower = path.to_lowercase();
    let mut parts: Vec<&str> = lower.split('/').filter(|c| !c.is_empty()).collect();
    let Some(name) = parts.pop() else {
        return false;
    };
    if parts.iter().any(|d| {
        matches!(
            *d,
            "test" | "tests" | "__tests__" | "spec" | "specs" | "testing" | "e2e" | "testdata"
        )
    }) {
        return true;
    }
    let stem = name.split('.').next().unwrap_or(name);
    stem.starts_with("test_")
        || stem.starts_with("test-")
        || stem == "test"
        || stem == "tests"
        || stem == "conftest"
        || stem.ends_with("_test")
        || stem.ends_with("-test")
        || stem.ends_with("_tests")
        || stem.ends_with("_spec")
        || stem.ends_with("test") && path.rsplit('/').next().is_some_and(|n| n.contains("Test"))
        || name.contains(".test.")
        || name.contains(".spec.")
}

/// Spec headings of the user's own that name work beyond the core features.
const BEYOND_CORE: &[&str] = &[
    "nice",
    "optional",
    "later",
    "stretch",
    "bonus",
    "future",
    "production",
    "deploy",
    "deployment",
    "security",
    "operations",
    "ops",
    "monitoring",
    "observability",
    "logging",
    "documentation",
    "docs",
    "polish",
    "extras",
];

/// Every subtask in one phase although the spec lists more than its core features.
fn single_phase(live: &[&Subtask], spec: &Spec, out: &mut Vec<Warning>) {
    if live.len() < 3 {
        return;
    }
    let phase = live[0].phase;
    if live.iter().any(|s| s.phase != phase) {
        return;
    }
    let mut more = Vec::new();
    let n = |k: usize, one: &str, many: &str| format!("{k} {}", if k == 1 { one } else { many });
    if !spec.constraints.is_empty() {
        more.push(n(spec.constraints.len(), "constraint", "constraints"));
    }
    if !spec.edge_cases.is_empty() {
        more.push(n(spec.edge_cases.len(), "edge case", "edge cases"));
    }
    for o in &spec.other {
        if norm(&o.heading)
            .split(' ')
            .any(|w| BEYOND_CORE.contains(&w))
        {
            more.push(format!("a section \"{}\"", o.heading.trim()));
        }
    }
    if more.is_empty() {
        return;
    }
    let name = super::plan::phase_name(phase);
    let others = [Phase::Core, Phase::NiceToHave, Phase::Production]
        .into_iter()
        .filter(|p| *p != phase)
        .map(super::plan::phase_name)
        .collect::<Vec<_>>()
        .join(" or ");
    out.push(Warning::new(
        Code::SinglePhase,
        format!(
            "every subtask is in phase {name}, but the spec also lists {}: plan that work in {others} subtasks",
            more.join(", ")
        ),
    ));
}

/// Whether `a` and `b` say the same once normalised (and say something).
fn same_words(a: &str, b: &str) -> bool {
    let n = norm(a);
    !n.is_empty() && n == norm(b)
}

/// Lower case, every run of characters other than letters and digits one space, trimmed.
fn norm(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// [`norm`] with a space either side, for whole-word `contains`.
fn padded(s: &str) -> String {
    format!(" {} ", norm(s))
}

/// A value as shown in a message: quoted, cut at 60 characters.
fn quote(s: &str) -> String {
    let s = s.trim();
    let cut: String = s.chars().take(60).collect();
    if cut.len() < s.len() {
        format!("\"{cut}…\"")
    } else {
        format!("\"{cut}\"")
    }
}

/// `a`, `a and b`, `a, b and c`.
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::tests_support::sample;

    fn sub(id: &str, title: &str) -> Subtask {
        Subtask {
            id: id.into(),
            title: title.into(),
            description: String::new(),
            files: Vec::new(),
            phase: Phase::Core,
            depends_on: Vec::new(),
            status: SubtaskStatus::Planned,
            branch: None,
            test: None,
            extra: Extra::new(),
        }
    }

    fn with(mut s: Subtask, f: impl FnOnce(&mut Subtask)) -> Subtask {
        f(&mut s);
        s
    }

    /// A flow with a spec of core features only, and a repository of a few files.
    fn setup() -> (Flow, RepoPaths) {
        let mut flow = sample();
        flow.spec.constraints.clear();
        flow.spec.edge_cases.clear();
        flow.spec.other.clear();
        flow.questions.clear();
        let paths = RepoPaths::new([
            "README.md",
            "app/__init__.py",
            "app/models.py",
            "src/lib.rs",
            "src/limiter/mod.rs",
            "tests/it/main.rs",
        ]);
        (flow, paths)
    }

    const INSTRUCTIONS: &str = "For each subtask give a title, such as \"Wire the frobnicator into the main loop\"; \"files\": [\"src/…\"], the paths it will create or change.\n{\"subtasks\": [{\"id\": \"…\", \"title\": \"…\", \"files\": [\"lib/example.py\"]}]}";

    fn lint(flow: &Flow, paths: &RepoPaths, subtasks: &[Subtask]) -> Vec<(String, Option<String>)> {
        let cx = Context::new(flow, INSTRUCTIONS, paths);
        lint_plan(subtasks, &cx)
            .into_iter()
            .map(|w| (w.code, w.subtask))
            .collect()
    }

    fn codes(found: &[(String, Option<String>)]) -> Vec<&str> {
        found.iter().map(|(c, _)| c.as_str()).collect()
    }

    /// A plan with nothing wrong: distinct subtasks, real or plausible paths, a test.
    fn clean_plan() -> Vec<Subtask> {
        vec![
            with(sub("a1", "Add the token bucket"), |s| {
                s.description = "A bucket per API key, refilled continuously.".into();
                s.files = vec!["src/limiter/bucket.rs".into(), "src/limiter/mod.rs".into()];
            }),
            with(sub("b2", "Answer 429 with Retry-After"), |s| {
                s.description = "Middleware that answers 429 when the bucket is empty.".into();
                s.files = vec!["src/middleware.rs".into(), "tests/it/limits.rs".into()];
                s.depends_on = vec!["a1".into()];
                s.test = Some("cargo test --test it limits".into());
            }),
        ]
    }

    #[test]
    fn a_clean_plan_has_no_warnings() {
        let (flow, paths) = setup();
        assert_eq!(lint(&flow, &paths, &clean_plan()), vec![]);
    }

    #[test]
    fn identical_and_near_duplicate_subtasks() {
        let (flow, paths) = setup();
        let mut plan = clean_plan();
        plan.push(sub("c3", "add the Token-Bucket!"));
        plan.push(sub("d4", "Add token buckets"));
        plan.push(with(sub("e5", "Something else entirely"), |s| {
            s.description = plan[1].description.clone();
        }));
        let found = lint(&flow, &paths, &plan);
        assert!(
            found.contains(&("duplicate-subtask".into(), Some("c3".into()))),
            "{found:?}"
        );
        assert!(
            found.contains(&("near-duplicate-subtask".into(), Some("d4".into()))),
            "{found:?}"
        );
        assert!(
            found.contains(&("duplicate-subtask".into(), Some("e5".into()))),
            "{found:?}"
        );
        // The first of each is not at fault.
        assert!(
            !found.iter().any(|(_, s)| s.as_deref() == Some("a1")),
            "{found:?}"
        );
    }

    #[test]
    fn numbered_and_different_titles_are_not_duplicates() {
        for (a, b) in [
            ("Phase 1: set up the limiter", "Phase 2: set up the limiter"),
            ("Add tests for module a", "Add tests for module b"),
            ("Add the login page", "Add the logout page"),
            ("Parse the config file", "Write the config file"),
        ] {
            assert_eq!(
                similarity(a, b, Compare::Chars),
                Similarity::Different,
                "{a} / {b}"
            );
        }
        for (a, b) in [
            (
                "Implement rate limiting middleware",
                "Implement rate-limiting middleware.",
            ),
            ("Create the user model", "Create user models"),
            (
                "Add a token bucket per API key",
                "Add token bucket per API-key",
            ),
            (
                "Implement the Redis backed store",
                "Implement the Redis-backed stores",
            ),
        ] {
            assert_ne!(
                similarity(a, b, Compare::Chars),
                Similarity::Different,
                "{a} / {b}"
            );
        }
    }

    #[test]
    fn placeholders_in_titles_paths_and_descriptions() {
        let (flow, paths) = setup();
        let mut plan = clean_plan();
        plan[0].files.push("src/…".into());
        plan.push(with(sub("c3", "TODO"), |s| s.description = "…".into()));
        plan.push(with(sub("d4", "Handle <name> requests"), |s| {
            s.description = "Returns Vec<String> of <div> ids.".into();
        }));
        let found = lint(&flow, &paths, &plan);
        assert!(
            found.contains(&("placeholder".into(), Some("a1".into()))),
            "{found:?}"
        );
        assert!(
            found.contains(&("placeholder".into(), Some("c3".into()))),
            "{found:?}"
        );
        assert!(
            found.contains(&("placeholder".into(), Some("d4".into()))),
            "{found:?}"
        );
        // Generics and tags in prose are not placeholders.
        assert_eq!(
            placeholder("Returns Vec<String> of <div> ids.", Kind::Long),
            None
        );
        assert_eq!(placeholder("Fix the retry loop", Kind::Short), None);
        assert!(placeholder("...", Kind::Choice).is_some());
        assert!(placeholder("<what to do>", Kind::Long).is_some());
    }

    #[test]
    fn text_copied_from_the_prompt_is_an_echo_unless_the_spec_says_it() {
        let (mut flow, paths) = setup();
        let plan = vec![
            with(sub("a1", "Wire the frobnicator into the main loop"), |s| {
                s.files = vec!["lib/example.py".into()];
                s.test = Some("make test".into());
            }),
            sub("b2", "the paths it will create or change"),
        ];
        let found = lint(&flow, &paths, &plan);
        assert_eq!(
            found.iter().filter(|(c, _)| c == "prompt-echo").count(),
            3,
            "{found:?}"
        );
        // Said by the spec, the title is the user's; the invented path is still an echo.
        flow.spec
            .features
            .push("Wire the frobnicator into the main loop".into());
        let found = lint(&flow, &paths, &plan);
        let echoes: Vec<_> = found.iter().filter(|(c, _)| c == "prompt-echo").collect();
        assert_eq!(echoes.len(), 2, "{found:?}");
        let cx = Context::new(&flow, INSTRUCTIONS, &paths);
        let on_a1: Vec<String> = lint_plan(&plan, &cx)
            .into_iter()
            .filter(|w| w.subtask.as_deref() == Some("a1"))
            .map(|w| w.message)
            .collect();
        assert_eq!(on_a1.len(), 1, "{on_a1:?}");
        assert!(on_a1[0].contains("lib/example.py"), "{on_a1:?}");
    }

    #[test]
    fn invented_paths_get_a_suggestion_and_plausible_new_ones_pass() {
        let (flow, paths) = setup();
        let plan = vec![
            with(sub("a1", "Routes"), |s| {
                s.files = vec!["src/app/routes.py".into(), "src/app/views.py".into()];
                s.test = Some("pytest".into());
            }),
            with(sub("b2", "Models"), |s| {
                s.files = vec!["lib/db/models.py".into()]
            }),
            with(sub("c3", "Lonely"), |s| {
                s.files = vec!["docs/guide/intro.md".into()]
            }),
            with(sub("d4", "Fine"), |s| {
                s.files = vec![
                    "app/routes.py".into(),
                    "pkg/new/one.go".into(),
                    "pkg/new/two.go".into(),
                    "Makefile".into(),
                    "src/limiter/".into(),
                ]
            }),
            with(sub("e5", "Odd"), |s| {
                s.files = vec!["app/routes.py:12".into()]
            }),
        ];
        let cx = Context::new(&flow, "", &paths);
        let warnings = lint_plan(&plan, &cx);
        let on = |id: &str| -> Vec<&Warning> {
            warnings
                .iter()
                .filter(|w| w.code == "unknown-path" && w.subtask.as_deref() == Some(id))
                .collect()
        };
        // `app/` exists: `src/app/…` is a misplaced copy of it (both files).
        assert_eq!(on("a1").len(), 2, "{warnings:#?}");
        assert!(
            on("a1")[0]
                .message
                .contains("did you mean \"app/routes.py\""),
            "{warnings:#?}"
        );
        // A file of the same name exists elsewhere.
        assert!(
            on("b2")[0]
                .message
                .contains("did you mean \"app/models.py\""),
            "{warnings:#?}"
        );
        assert_eq!(on("c3").len(), 1, "{warnings:#?}");
        assert!(on("d4").is_empty(), "{warnings:#?}");
        assert!(
            on("e5")[0]
                .message
                .contains("does not look like a file name"),
            "{warnings:#?}"
        );
        // A repository without files: everything is new.
        let empty = RepoPaths::default();
        let cx = Context::new(&flow, "", &empty);
        assert!(
            !lint_plan(&plan, &cx)
                .iter()
                .any(|w| w.code == "unknown-path")
        );
    }

    #[test]
    fn a_plan_without_tests_and_tests_found_in_paths_or_words() {
        let (flow, paths) = setup();
        let plan = vec![sub("a1", "Add the bucket"), sub("b2", "Add the middleware")];
        assert_eq!(codes(&lint(&flow, &paths, &plan)), vec!["no-tests"]);
        for path in [
            "tests/limits.rs",
            "app/test_models.py",
            "pkg/limit_test.go",
            "web/src/limit.spec.ts",
            "src/test/java/LimitTest.java",
        ] {
            assert!(test_path(path), "{path}");
        }
        for path in ["src/latest.rs", "src/contest.py", "attestation.md"] {
            assert!(!test_path(path), "{path}");
        }
        let plan = vec![with(sub("a1", "Add the bucket"), |s| {
            s.description = "With unit tests for the refill.".into()
        })];
        assert_eq!(lint(&flow, &paths, &plan), vec![]);
    }

    #[test]
    fn one_phase_is_reported_only_when_the_spec_lists_more() {
        let (mut flow, paths) = setup();
        let mut plan = clean_plan();
        plan.push(sub("c3", "Add the overrides"));
        assert_eq!(lint(&flow, &paths, &plan), vec![]);
        flow.spec
            .edge_cases
            .push("A key shared by several servers.".into());
        assert_eq!(
            lint(&flow, &paths, &plan),
            vec![("single-phase".to_string(), None)]
        );
        plan[2].phase = Phase::Production;
        assert_eq!(lint(&flow, &paths, &plan), vec![]);
        // A section of the user's own about nice-to-haves counts too.
        flow.spec.edge_cases.clear();
        flow.spec.other.push(crate::flow::spec::OtherSection {
            heading: "Nice to have".into(),
            text: "- dark mode".into(),
            extra: Extra::new(),
        });
        plan[2].phase = Phase::Core;
        assert_eq!(codes(&lint(&flow, &paths, &plan)), vec!["single-phase"]);
    }

    #[test]
    fn dependencies_after_their_dependants() {
        let (flow, paths) = setup();
        let mut plan = clean_plan();
        plan.swap(0, 1);
        let found = lint(&flow, &paths, &plan);
        assert_eq!(
            found,
            vec![("dependency-order".to_string(), Some("b2".to_string()))]
        );
    }

    #[test]
    fn dropped_subtasks_are_left_out() {
        let (flow, paths) = setup();
        let mut plan = clean_plan();
        plan.push(with(sub("c3", "Add the token bucket"), |s| {
            s.status = SubtaskStatus::Dropped
        }));
        assert_eq!(lint(&flow, &paths, &plan), vec![]);
    }

    fn question(id: u32, q: &str, why: &str, choices: &[&str]) -> Question {
        Question {
            id,
            question: q.into(),
            why: Some(why.into()),
            choices: choices.iter().map(|c| c.to_string()).collect(),
            answer: None,
            answered_at: None,
            answered_by: None,
            extra: Extra::new(),
        }
    }

    fn lint_q(flow: &Flow, paths: &RepoPaths, qs: &[Question]) -> Vec<(String, Option<u32>)> {
        let cx = Context::new(flow, INSTRUCTIONS, paths);
        lint_questions(qs, &cx)
            .into_iter()
            .map(|w| (w.code, w.question))
            .collect()
    }

    /// Seen on a real 0.5B model's questions about a spec naming `GET /links?agent=<name>`: the
    /// spec's own `<name>` is no placeholder; four identical choices are one warning.
    #[test]
    fn the_specs_own_angle_brackets_pass_and_repeated_choices_are_one_warning() {
        let (mut flow, paths) = setup();
        flow.spec.features = vec!["`GET /links?agent=<name>` lists an agent's links".into()];
        let qs = [question(
            1,
            "What is the purpose of the `GET /links?agent=<name>` endpoint?",
            "It decides what the listing returns.",
            &["All of them", "All of them", "all of them!", "None"],
        )];
        let cx = Context::new(&flow, INSTRUCTIONS, &paths);
        let found = lint_questions(&qs, &cx);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].code, "duplicate-choice");
        assert!(
            found[0]
                .message
                .starts_with("choices 2 and 3 are the same as choice 1"),
            "{}",
            found[0].message
        );
        // Not in the spec: still a placeholder.
        flow.spec.features.clear();
        let cx = Context::new(&flow, INSTRUCTIONS, &paths);
        let found = lint_questions(&qs, &cx);
        assert!(found.iter().any(|w| w.code == "placeholder"), "{found:?}");
    }

    #[test]
    fn questions_duplicates_placeholders_and_cut_choices() {
        let (flow, paths) = setup();
        let clean = [
            question(
                1,
                "Should Redis be authoritative?",
                "The p99 budget may not fit a round trip.",
                &["Yes, one script per request", "No, local buckets"],
            ),
            question(
                2,
                "How are anonymous clients keyed?",
                "Behind a balancer the peer is shared.",
                &[],
            ),
        ];
        assert_eq!(lint_q(&flow, &paths, &clean), vec![]);
        let bad = [
            clean[0].clone(),
            question(2, "Should Redis be authoritative?", "…", &["…", "…"]),
            question(
                3,
                "Should Redis be authoritative here?",
                "Same.",
                &["Redis (one atomic", "Local buckets, synchronised every"],
            ),
            question(4, "Which store?", "Which store?", &["Redis", "redis!"]),
        ];
        let found = lint_q(&flow, &paths, &bad);
        for want in [
            ("duplicate-question", 2),
            ("placeholder", 2),
            ("duplicate-choice", 2),
            ("truncated", 3),
            ("near-duplicate-question", 3),
            ("repeats-question", 4),
            ("duplicate-choice", 4),
        ] {
            assert!(
                found.contains(&(want.0.to_string(), Some(want.1))),
                "{want:?} not in {found:?}"
            );
        }
        assert!(!found.iter().any(|(_, q)| *q == Some(1)), "{found:?}");
    }

    #[test]
    fn cut_off_text() {
        for t in [
            "Redis (one atomic",
            "Use the",
            "Fail open and",
            "Local buckets,",
            "Say \"yes",
        ] {
            assert!(cut_off(t, Kind::Choice).is_some(), "{t}");
        }
        for t in [
            "Log in",
            "Plan A",
            "Peer address",
            "Yes (default)",
            "Fall back to an in-process bucket per server",
        ] {
            assert_eq!(cut_off(t, Kind::Choice), None, "{t}");
        }
    }

    #[test]
    fn long_descriptions_compare_by_words() {
        let a = "Read the per-key quota overrides from the api_keys table every thirty seconds and keep them in memory for the limiter";
        let b = "Read the per-key quota overrides from the api_keys table every thirty seconds and keep them in memory for the middleware";
        assert_eq!(similarity(a, b, Compare::Words), Similarity::Near);
        let c = "Export allowed and limited counters per key on the metrics endpoint and add a latency benchmark for the p99 budget";
        assert_eq!(similarity(a, c, Compare::Words), Similarity::Different);
        assert_eq!(
            common_words(&["a", "b", "b", "c"], &["b", "b", "b", "d"]),
            2
        );
    }

    #[test]
    fn stored_warnings_survive_a_round_trip_beside_unknown_keys() {
        let mut flow = sample();
        let w = Warning::on_subtask(Code::NoTests, "k3f9", "no test".into());
        flow.plans[0].warnings.push(w.clone());
        flow.plans[0]
            .extra
            .insert("future".into(), toml::Value::String("kept".into()));
        let q = Warning::on_question(Code::DuplicateQuestion, 1, "again".into());
        let asked = flow.questions_asked.as_mut().expect("asked");
        asked.warnings.push(q);
        asked.extra.insert("later".into(), toml::Value::Integer(7));
        let text = toml::to_string(&flow).expect("serialize");
        assert!(text.contains("[[plans.warnings]]"), "{text}");
        assert!(text.contains("[[questions_asked.warnings]]"), "{text}");
        // (Progress is kept apart from revisions when written: compare what lint adds.)
        let back = toml::from_str::<Flow>(&text).expect("parse");
        assert_eq!(back.plans[0].warnings, flow.plans[0].warnings);
        assert_eq!(back.plans[0].extra, flow.plans[0].extra);
        assert_eq!(back.questions_asked, flow.questions_asked);
    }

    #[test]
    fn warnings_round_trip_and_display_in_gits_style() {
        let w = Warning::on_subtask(
            Code::Placeholder,
            "k3m9",
            "the path \"src/…\" is a placeholder".into(),
        );
        assert_eq!(w.to_string(), "k3m9: the path \"src/…\" is a placeholder");
        let q = Warning::on_question(
            Code::DuplicateQuestion,
            2,
            "it asks the same as question 1".into(),
        );
        assert_eq!(q.to_string(), "question 2: it asks the same as question 1");
        let text = toml::to_string(&w).unwrap();
        assert_eq!(toml::from_str::<Warning>(&text).unwrap(), w);
        let codes: BTreeSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(codes.len(), Code::ALL.len());
    }
}
