//! Planning a flow as library calls: deciding whether the model is asked for clarifying questions
//! or for a plan, the prompt it gets, and writing what it answers (questions, or a plan revision)
//! with a check that nobody changed the flow meanwhile. [`edit`] applies a plan edited by hand;
//! [`view`] is what `plan log` and `plan diff` show.

use super::WorkError;
use crate::ai::Redactor;
use crate::ai::Request;
use crate::ai::answer::{self, Asked as AskedQuestion};
use crate::ai::ask::{self, Asker, Usage};
use crate::ai::prompt::{Rendered, Templates};
use crate::flow::plan::{self as fplan, Ids};
use crate::flow::vocab::RevisionSource;
use crate::flow::{Flow, FlowStatus, PlanRevision, Provenance, Question, Subtask};
use crate::store::{self, LookupError, StoreError};
use serde::Serialize;

mod again;
pub mod edit;
pub mod expand;
pub mod lint;
pub mod repomap;
pub mod view;

/// What the model is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Clarifying questions about the spec.
    Questions,
    /// A plan (a new revision, with `--again`).
    Plan,
}

impl Mode {
    /// The template and request kind: `questions` or `plan`.
    pub fn kind(self) -> &'static str {
        match self {
            Mode::Questions => "questions",
            Mode::Plan => "plan",
        }
    }
}

/// What the user asks `plan` for, beyond the next step the flow is at.
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    /// A new plan revision although the flow has a plan (`--again`); feedback implies it.
    pub again: bool,
    /// Clarifying questions, asked again if they were asked before (`--questions`): only before
    /// the first plan.
    pub questions: bool,
    /// With `questions`: ask again although some questions are answered; the new questions
    /// replace them and their answers (`--force`).
    pub force: bool,
    /// The reviewer's feedback (`-m`, `-F`): sent with the request, kept in its provenance.
    pub feedback: Option<String>,
}

/// What to ask for next about `flow` given what is `wanted`, or why nothing is to be asked now.
/// Feedback on a flow that has a plan asks for a new revision, as `--again` does.
pub fn decide(flow: &Flow, wanted: &Wanted) -> Result<Mode, WorkError> {
    let slug = &flow.slug;
    if matches!(flow.status, FlowStatus::Finished | FlowStatus::Abandoned) {
        return Err(WorkError::refused(format!(
            "flow `{slug}` is {}; there is nothing to plan",
            flow.status.as_str()
        )));
    }
    if wanted.questions {
        return again::reask_questions(flow, wanted.force).map(|()| Mode::Questions);
    }
    if let Some(plan) = flow.current_plan() {
        if wanted.again || wanted.feedback.is_some() {
            return Ok(Mode::Plan);
        }
        return Err(WorkError::refused(format!(
            "flow `{slug}` has a plan already (revision {}, {} subtasks)",
            plan.revision,
            plan.subtasks.len()
        ))
        .hint(format!(
            "review it with `git aiflow plan show {slug}` and change it with `git aiflow plan edit {slug}`"
        ))
        .hint(format!(
            "to ask the model for a new revision, run `git aiflow plan {slug} --again` (with -m TEXT to say what is wrong)"
        )));
    }
    if flow.questions_asked.is_none() && flow.questions.is_empty() && !flow.questions_skipped {
        return Ok(Mode::Questions);
    }
    let unanswered = unanswered(flow);
    if !unanswered.is_empty() && !flow.questions_skipped {
        let (s, list) = if unanswered.len() == 1 {
            ("", unanswered[0].clone())
        } else {
            ("s", unanswered.join(", "))
        };
        return Err(WorkError::refused(format!(
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

/// The ids of the questions without an answer.
pub fn unanswered(flow: &Flow) -> Vec<String> {
    flow.questions
        .iter()
        .filter(|q| q.answer.is_none())
        .map(|q| q.id.to_string())
        .collect()
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
    /// The map of the most relevant files (absent when the budget is 0 or nothing is readable).
    repo_map: Option<repomap::RepoMap>,
    /// The answer's JSON shape, keys with their types ([`answer::PLAN_SHAPE`]).
    shape: &'static str,
    feedback: Option<&'a str>,
}

#[derive(Serialize)]
struct FlowView<'a> {
    slug: &'a str,
    title: &'a str,
    integration_branch: &'a str,
}

/// The most repository paths listed in a prompt.
const MAX_FILES: usize = 200;

/// What the templates see when asking about `flow` in `mode`, with the reviewer's `feedback` and
/// a repository map within `budget` tokens; and the record of what of the repository it shows.
/// Questions asked again see the questions asked before.
fn prompt_context<'a>(
    repo: &gix::Repository,
    flow: &'a Flow,
    mode: Mode,
    feedback: Option<&'a str>,
    budget: usize,
) -> (PromptContext<'a>, repomap::RepoMap) {
    let tree = tree_files(repo, flow);
    let total = tree.len();
    let repo_files: Vec<String> = tree
        .iter()
        .take(MAX_FILES)
        .map(|(p, _)| p.clone())
        .collect();
    let planning = mode == Mode::Plan;
    let map = if budget == 0 {
        repomap::RepoMap::default()
    } else {
        repomap::build(
            repomap::read(repo, &tree),
            &mentions(flow, planning),
            budget,
        )
    };
    let context = PromptContext {
        flow: FlowView {
            slug: &flow.slug,
            title: &flow.title,
            integration_branch: &flow.integration_branch,
        },
        spec: &flow.spec,
        spec_text: flow.spec.to_markdown(&flow.title).trim_end().to_string(),
        questions: flow.questions.iter().collect(),
        questions_skipped: flow.questions_skipped,
        max_questions: answer::MAX_QUESTIONS,
        previous: if planning { flow.current_plan() } else { None },
        repo_files_truncated: total > repo_files.len(),
        repo_files,
        repo_files_total: total,
        repo_map: (!map.files.is_empty()).then(|| map.clone()),
        shape: match mode {
            Mode::Questions => answer::QUESTIONS_SHAPE,
            Mode::Plan => answer::PLAN_SHAPE,
        },
        feedback,
    };
    (context, repomap::RepoMap { budget, ..map })
}

/// What the repository map is chosen by: the flow's title and spec, and when planning the
/// questions with their answers and the current plan's subtasks.
fn mentions(flow: &Flow, planning: bool) -> repomap::Mentions {
    let spec = flow.spec.to_markdown(&flow.title);
    let mut texts: Vec<&str> = vec![&flow.title, &spec];
    if planning {
        for q in &flow.questions {
            texts.push(&q.question);
            if let Some(a) = &q.answer {
                texts.push(a);
            }
        }
        if let Some(plan) = flow.current_plan() {
            for s in &plan.subtasks {
                texts.push(&s.title);
                texts.extend(s.files.iter().map(String::as_str));
            }
        }
    }
    repomap::Mentions::of(texts)
}

/// What a plan is made against: the tip of `flow`'s integration branch, else its base commit.
pub(crate) fn planning_tip(repo: &gix::Repository, flow: &Flow) -> Option<gix::ObjectId> {
    crate::git::ref_id(repo, &format!("refs/heads/{}", flow.integration_branch))
        .ok()
        .flatten()
        .or_else(|| gix::ObjectId::from_hex(flow.base_commit.as_bytes()).ok())
}

/// The files (path and blob id) at the tip of the integration branch (else the base commit),
/// shallow ones first.
fn tree_files(repo: &gix::Repository, flow: &Flow) -> Vec<(String, gix::ObjectId)> {
    let Some(tip) = planning_tip(repo, flow) else {
        return Vec::new();
    };
    let Ok(tree) = repo.find_commit(tip).and_then(|c| c.tree()) else {
        return Vec::new();
    };
    let mut rec = gix::traverse::tree::Recorder::default();
    if tree.traverse().breadthfirst(&mut rec).is_err() {
        return Vec::new();
    }
    rec.records
        .into_iter()
        .filter(|e| !e.mode.is_tree())
        .map(|e| (e.filepath.to_string(), e.oid))
        .collect()
}

/// The repository map's budget in tokens: `flag`, else `aiflow.planContextBudget`, else
/// [`repomap::DEFAULT_BUDGET`]; 0 sends no map.
pub fn context_budget(repo: &gix::Repository, flag: Option<usize>) -> Result<usize, WorkError> {
    let key = "aiflow.planContextBudget";
    let budget = match flag {
        Some(n) => n,
        None => match repo.config_snapshot().string(key) {
            None => repomap::DEFAULT_BUDGET,
            Some(v) => v.to_string().trim().parse::<usize>().map_err(|_| {
                WorkError::invalid(format!("{key} = {v:?} is not a number"))
                    .hint(format!("set it to the repository map's size in tokens (0: no map), for example `git config {key} 2048`"))
            })?,
        },
    };
    if budget > repomap::MAX_BUDGET {
        return Err(WorkError::invalid(format!(
            "the context budget {budget} is over the most accepted, {}",
            repomap::MAX_BUDGET
        ))
        .hint("give the repository map's size in tokens, 0 for none"));
    }
    Ok(budget)
}

/// A question ready to be asked: what for, the request, and where its prompt came from.
pub struct Prepared {
    /// What is asked for.
    pub mode: Mode,
    /// The request.
    pub request: Request,
    /// The rendered prompt (its digest and origin go into the provenance).
    pub prompt: Rendered,
    /// The templates, for the repair request.
    pub templates: Templates,
    /// What the prompt shows of the repository (recorded in the provenance).
    pub context: crate::flow::Grounding,
    /// The repository map, for `--print-prompt`'s summary.
    pub map: repomap::RepoMap,
    /// The reviewer's feedback in the prompt, for the provenance.
    pub feedback: Option<String>,
}

impl Prepared {
    /// The whole prompt as one text, API keys redacted (what `--print-prompt` shows).
    pub fn transcript(&self) -> String {
        Redactor::current()
            .redact(&self.request.transcript())
            .into_owned()
    }
}

/// Decide what to ask about `flow` ([`decide`]) and render the prompt, with a repository map
/// within `budget` tokens (`None`: [`context_budget`]'s default).
pub fn prepare(
    repo: &gix::Repository,
    flow: &Flow,
    wanted: &Wanted,
    budget: Option<usize>,
) -> Result<Prepared, WorkError> {
    let mode = decide(flow, wanted)?;
    let budget = context_budget(repo, budget)?;
    let templates = Templates::new(repo.workdir());
    let feedback = wanted.feedback.as_deref();
    let (context, map) = prompt_context(repo, flow, mode, feedback, budget);
    let grounding = map.grounding(context.repo_files.len(), context.repo_files_total);
    let kind = mode.kind();
    let schema = match mode {
        Mode::Questions => answer::questions_schema(),
        Mode::Plan => answer::plan_schema(),
    };
    let system = templates.render("system", &context)?;
    let prompt = templates.render(kind, &context)?;
    let request = ask::request(kind, &system, &prompt, Some(schema));
    Ok(Prepared {
        mode,
        request,
        prompt,
        templates,
        context: grounding,
        map,
        feedback: wanted.feedback.clone(),
    })
}

/// What the model answered, as written to the flow.
pub enum Asked {
    /// Clarifying questions.
    Questions {
        /// The questions kept.
        questions: Vec<Question>,
        /// Who asked, when, and what answered.
        provenance: Provenance,
        /// How many more the model asked than are kept.
        dropped: usize,
    },
    /// A new plan revision.
    Plan(PlanRevision),
}

/// Ask `asker` what `prepared` asks about `flow` (as read before the prompt was made) and write
/// the answer as `stamp`'s, unless the flow changed meanwhile. A repair request says so on
/// `progress`.
pub fn ask(
    repo: &gix::Repository,
    flow: &Flow,
    prepared: Prepared,
    asker: &Asker,
    stamp: &crate::git::Stamp,
    progress: &mut dyn std::io::Write,
) -> Result<Asked, WorkError> {
    let Prepared {
        mode,
        request,
        prompt,
        feedback,
        context,
        ..
    } = prepared;
    let provenance = |a: &Usage| Provenance {
        context: Some(context.clone()),
        ..provenance(asker, stamp, &prompt, a, feedback.clone())
    };
    if mode == Mode::Questions {
        let answered = asker.ask(
            progress,
            request,
            answer::QUESTIONS_SHAPE,
            answer::parse_questions,
        )?;
        let (asked, dropped) = answered.value;
        let mut prov = provenance(&answered.usage);
        let kept = Kept::new(asker, &answered.raw);
        let questions = write_questions(repo, flow, &asked, &mut prov, stamp, &kept)?;
        return Ok(Asked::Questions {
            questions,
            provenance: prov,
            dropped,
        });
    }
    let previous: Vec<Subtask> = flow
        .current_plan()
        .map(|p| p.subtasks.clone())
        .unwrap_or_default();
    let taken = fplan::ids_in_history(&flow.plans);
    let answered = asker.ask(progress, request, answer::PLAN_SHAPE, |text| {
        let drafts = answer::parse_plan(text)?;
        fplan::finalize(drafts, &previous, &taken, Ids::Model)
    })?;
    let prov = provenance(&answered.usage);
    let kept = Kept::new(asker, &answered.raw);
    let slug = &flow.slug;
    let rev = write_plan(repo, flow, answered.value, Some(&prov), stamp, |now| {
        Unwritten::Work(kept.changed_meanwhile(
            format!("the plan of `{slug}` changed meanwhile (now revision {now})"),
            format!("see what changed with `git aiflow plan diff {slug}`"),
        ))
    })
    .map_err(|e| match e {
        Unwritten::Work(e) => e,
        Unwritten::Lint(r) => kept.with_answer(r.0),
    })?;
    Ok(Asked::Plan(rev))
}

/// Who asked `asker` with `prompt` (and `feedback`), when, and what the answer cost.
fn provenance(
    asker: &Asker,
    stamp: &crate::git::Stamp,
    prompt: &Rendered,
    usage: &Usage,
    feedback: Option<String>,
) -> Provenance {
    Provenance {
        extra: Default::default(),
        at: stamp.at.clone(),
        by: stamp.who.clone(),
        provider: asker.provider_name.to_string(),
        model: usage.model.clone(),
        prompt_digest: Some(prompt.digest.clone()),
        prompt_template: Some(prompt.origin.clone()),
        tokens_in: usage.tokens_in,
        tokens_out: usage.tokens_out,
        duration_ms: Some(usage.duration_ms),
        feedback,
        expanded: None,
        context: None,
        warnings: Vec::new(),
    }
}

/// A model's answer that was not written, and the asker that can keep it for inspection.
struct Kept<'a> {
    asker: &'a Asker,
    raw: &'a str,
}

impl<'a> Kept<'a> {
    fn new(asker: &'a Asker, raw: &'a str) -> Self {
        Kept { asker, raw }
    }

    /// A refusal because someone else wrote the flow first; the model's answer is kept.
    fn changed_meanwhile(&self, what: String, hint: String) -> WorkError {
        self.with_answer(WorkError::refused(format!("{what}; nothing was written")).hint(hint))
    }

    /// `e`, with where the model's answer is kept.
    fn with_answer(&self, e: WorkError) -> WorkError {
        match self.asker.keep(self.raw) {
            Some(h) => e.hint(h),
            None => e,
        }
    }
}

/// Why a model's plan was not written: plan lint under strict mode (the answer is kept), or
/// anything else.
enum Unwritten {
    Work(WorkError),
    Lint(lint::Refused),
}

impl From<StoreError> for Unwritten {
    fn from(e: StoreError) -> Self {
        Unwritten::Work(e.into())
    }
}

impl From<LookupError> for Unwritten {
    fn from(e: LookupError) -> Self {
        Unwritten::Work(e.into())
    }
}

impl From<lint::Refused> for Unwritten {
    fn from(r: lint::Refused) -> Self {
        Unwritten::Lint(r)
    }
}

/// Write `asked` as the questions of `original`'s flow, unless its questions or plans changed
/// since `original` was read. Secrets are redacted first. What plan lint finds goes into
/// `prov`; under strict mode it refuses the write.
fn write_questions(
    repo: &gix::Repository,
    original: &Flow,
    asked: &[AskedQuestion],
    prov: &mut Provenance,
    stamp: &crate::git::Stamp,
    kept: &Kept<'_>,
) -> Result<Vec<Question>, WorkError> {
    let slug = &original.slug;
    let message = format!("aiflow: questions for {slug}");
    let questions = new_questions(asked);
    prov.warnings =
        lint::check_questions(repo, original, &questions).map_err(|r| kept.with_answer(r.0))?;
    let prov = &*prov;
    store::update_flow(repo, slug, &message, stamp, |flow| {
        if flow.questions != original.questions
            || flow.questions_asked != original.questions_asked
            || flow.questions_skipped != original.questions_skipped
            || flow.plans.len() != original.plans.len()
        {
            return Err(kept.changed_meanwhile(
                format!("flow `{slug}` changed while the model was answering"),
                format!("see it with `git aiflow status {slug}`"),
            ));
        }
        flow.questions = questions.clone();
        flow.questions_asked = Some(prov.clone());
        // Questions asked again are to be answered, even if the earlier ones were skipped.
        flow.questions_skipped = false;
        flow.status = flow.status.max(FlowStatus::Questions);
        Ok(true)
    })
    .map(|(_, flow)| flow.questions)
}

/// The questions a model asked, numbered from 1, unanswered, API keys redacted.
fn new_questions(asked: &[AskedQuestion]) -> Vec<Question> {
    let redactor = Redactor::current();
    asked
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
        .collect()
}

/// Append a plan revision made of `subtasks` (from a model when `prov` is given, else a human
/// edit), by compare-and-swap on the revision: when the flow's plan is no longer at the revision
/// `original` holds, nothing is written and `conflict` (given the revision it is at) says why.
/// Secrets are redacted from the subtasks first. Plan lint runs on the result: its warnings are
/// stored with the revision, and under strict mode ([`lint::strict`]) they refuse the write.
pub fn write_plan<E>(
    repo: &gix::Repository,
    original: &Flow,
    subtasks: Vec<Subtask>,
    prov: Option<&Provenance>,
    stamp: &crate::git::Stamp,
    conflict: impl Fn(u32) -> E,
) -> Result<PlanRevision, E>
where
    E: From<StoreError> + From<LookupError> + From<lint::Refused>,
{
    let slug = &original.slug;
    let revision = original.plans.len() as u32 + 1;
    let mut rev = new_revision(revision, subtasks, prov, stamp);
    rev.warnings = lint::check_plan(repo, original, &rev.subtasks)?;
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
        let mut now = rev.clone();
        carry_progress(flow, &mut now);
        flow.plans.push(now);
        flow.status = flow.status.max(FlowStatus::Planned);
        Ok(true)
    })
    .map(|(_, flow)| flow.plans.last().cloned().expect("just pushed"))
}

/// Give the subtasks of `rev` the progress `flow` (as read for the write) records for them:
/// `rev` was made from an older read, and a subtask started, approved or merged meanwhile must
/// not go back to what that read said. A revision's own decision to drop a subtask stays.
fn carry_progress(flow: &Flow, rev: &mut PlanRevision) {
    let Some(current) = flow.current_plan() else {
        return;
    };
    for s in &mut rev.subtasks {
        let Some(now) = current.subtasks.iter().find(|c| c.id == s.id) else {
            continue;
        };
        if s.status != crate::flow::SubtaskStatus::Dropped
            && now.status != crate::flow::SubtaskStatus::Dropped
        {
            s.status = now.status;
        }
        s.branch = now.branch.clone();
    }
}

/// Plan revision `revision` of `subtasks` (API keys redacted), made by `stamp`'s user: from a
/// model when `prov` is given, else by hand.
fn new_revision(
    revision: u32,
    mut subtasks: Vec<Subtask>,
    prov: Option<&Provenance>,
    stamp: &crate::git::Stamp,
) -> PlanRevision {
    let redactor = Redactor::current();
    for s in &mut subtasks {
        redactor.redact_in_place(&mut s.title);
        redactor.redact_in_place(&mut s.description);
        for f in &mut s.files {
            redactor.redact_in_place(f);
        }
        if let Some(t) = &mut s.test {
            redactor.redact_in_place(t);
        }
    }
    PlanRevision {
        extra: Default::default(),
        revision,
        created_at: stamp.at.clone(),
        created_by: stamp.who.clone(),
        source: if prov.is_some() {
            RevisionSource::Model
        } else {
            RevisionSource::Edit
        },
        // A hand revision is a `plan edit`, whose file shows every subtask's test.
        tests_shown: prov.is_none(),
        provider: prov.map(|p| p.provider.clone()),
        model: prov.and_then(|p| p.model.clone()),
        prompt_digest: prov.and_then(|p| p.prompt_digest.clone()),
        prompt_template: prov.and_then(|p| p.prompt_template.clone()),
        tokens_in: prov.and_then(|p| p.tokens_in),
        tokens_out: prov.and_then(|p| p.tokens_out),
        duration_ms: prov.and_then(|p| p.duration_ms),
        context: prov.and_then(|p| p.context.clone()),
        feedback: prov.and_then(|p| p.feedback.clone()),
        expanded: prov.and_then(|p| p.expanded.clone()),
        subtasks,
        warnings: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::tests_support::sample;

    fn again() -> Wanted {
        Wanted {
            again: true,
            ..Wanted::default()
        }
    }

    #[test]
    fn a_planned_flow_is_planned_again_only_when_asked() {
        let mut flow = sample();
        assert_eq!(decide(&flow, &again()).unwrap(), Mode::Plan);
        let e = decide(&flow, &Wanted::default()).unwrap_err().to_string();
        assert!(e.contains("has a plan already (revision 1"), "{e}");
        // Feedback on a plan can only mean a new revision.
        let feedback = Wanted {
            feedback: Some("the tests are missing".into()),
            ..Wanted::default()
        };
        assert_eq!(decide(&flow, &feedback).unwrap(), Mode::Plan);
        // Questions are asked again only before the first plan.
        let questions = Wanted {
            questions: true,
            force: true,
            ..Wanted::default()
        };
        assert!(decide(&flow, &questions).is_err());
        flow.plans.clear();
        assert_eq!(decide(&flow, &questions).unwrap(), Mode::Questions);
    }

    #[test]
    fn questions_come_first_and_must_be_answered_or_skipped() {
        let mut flow = sample();
        flow.plans.clear();
        assert_eq!(decide(&flow, &Wanted::default()).unwrap(), Mode::Plan);
        flow.questions[0].answer = None;
        let e = decide(&flow, &Wanted::default()).unwrap_err().to_string();
        assert_eq!(e, "question 1 of flow `rate-limit` is not answered yet");
        flow.questions_skipped = true;
        assert_eq!(decide(&flow, &Wanted::default()).unwrap(), Mode::Plan);
        flow.questions.clear();
        flow.questions_asked = None;
        flow.questions_skipped = false;
        assert_eq!(decide(&flow, &Wanted::default()).unwrap(), Mode::Questions);
        flow.status = FlowStatus::Finished;
        assert!(decide(&flow, &Wanted::default()).is_err());
    }
}
