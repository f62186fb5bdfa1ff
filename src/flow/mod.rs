//! The flow document: the versioned TOML schema stored in `refs/notes/aiflow`, and its validation.
//!
//! A flow is one spec with its clarifying questions, plan revisions, subtasks and review records.
//! Every document starts with `schema = N` so that concatenated documents (what
//! `notes.rewriteMode=concatenate` produces) can be told apart, and so that a reader refuses a
//! version it does not know instead of guessing.

pub mod audit;
pub mod deviations;
pub mod grounding;
pub mod hand_edit;
pub mod lifecycle;
pub mod lint;
pub mod merge;
pub mod names;
pub mod plan;
mod quick;
pub mod review;
pub mod slug;
pub mod spec;
pub mod stats;
pub mod summary;
pub mod upgrade;
pub mod vocab;

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub use grounding::Grounding;
pub use review::{Approvals, RefusedApproval, Review, ReviewNote, ReviewedCommit, Standing};
pub use slug::{SlugError, slugify, validate_slug};
pub use spec::Spec;

/// The patch id legacy records give a commit without a patch (an empty commit).
pub const EMPTY_PATCH: &str = "empty";

/// The schema version this build writes for step, test and review notes. Schema 2 added content
/// ids and signatures to review records and `kind = "review"` notes; schema 1 documents are read
/// as they are ([`upgrade`] has the history).
pub const SCHEMA: u32 = 2;

/// The schema version this build writes for flow documents. Schema 3 split the plan's decisions
/// (the revisions) from the subtasks' progress (`[[progress]]`); schema 1 and 2 flows are
/// migrated when read ([`upgrade`]).
pub const FLOW_SCHEMA: u32 = 3;

/// What kind of document a note holds (the `kind` key).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DocKind {
    /// A flow, attached to its anchor commit.
    Flow,
    /// A step record, attached to a step commit.
    Step,
    /// Reviews of commits outside any flow, attached to each reviewed commit.
    Review,
    /// A run of the test command on a commit that is not a step (a flow's integration tip).
    Test,
}

/// Where a flow is in its life.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum FlowStatus {
    /// The spec is written; no questions asked yet.
    Spec,
    /// Clarifying questions were asked and wait for answers.
    Questions,
    /// A plan exists and waits for human review or execution.
    Planned,
    /// At least one subtask has started.
    Executing,
    /// The integration branch was merged into its base.
    Finished,
    /// The flow was given up.
    Abandoned,
}

impl FlowStatus {
    /// The name used in TOML, JSON and human output.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowStatus::Spec => "spec",
            FlowStatus::Questions => "questions",
            FlowStatus::Planned => "planned",
            FlowStatus::Executing => "executing",
            FlowStatus::Finished => "finished",
            FlowStatus::Abandoned => "abandoned",
        }
    }
}

/// The phase of a subtask, in the order the practice asks for them.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Core features, first.
    Core,
    /// Nice-to-haves, one at a time.
    NiceToHave,
    /// Production readiness: security, error handling, logging, docs, deployment.
    Production,
}

/// The state of one subtask.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SubtaskStatus {
    /// In the plan, not started.
    #[default]
    Planned,
    /// Started: its branch exists and steps are being made.
    Active,
    /// Waiting for a human review.
    InReview,
    /// Approved by a reviewer.
    Approved,
    /// Merged into the integration branch.
    Merged,
    /// Dropped from the plan.
    Dropped,
}

impl SubtaskStatus {
    /// All statuses, in lifecycle order.
    pub const ALL: [SubtaskStatus; 6] = [
        SubtaskStatus::Planned,
        SubtaskStatus::Active,
        SubtaskStatus::InReview,
        SubtaskStatus::Approved,
        SubtaskStatus::Merged,
        SubtaskStatus::Dropped,
    ];

    /// The name used in TOML, JSON and human output.
    pub fn as_str(self) -> &'static str {
        match self {
            SubtaskStatus::Planned => "planned",
            SubtaskStatus::Active => "active",
            SubtaskStatus::InReview => "in-review",
            SubtaskStatus::Approved => "approved",
            SubtaskStatus::Merged => "merged",
            SubtaskStatus::Dropped => "dropped",
        }
    }
}

/// One flow document: the TOML note on the flow's anchor commit.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Flow {
    /// Schema version; always first in the document.
    pub schema: u32,
    /// Always `flow`.
    pub kind: DocKind,
    /// The flow's unique name, also the last part of its integration branch.
    pub slug: String,
    /// One-line title.
    pub title: String,
    /// Where the flow is in its life.
    pub status: FlowStatus,
    /// The full ref name the flow branched from (`refs/heads/main`), absent when HEAD was detached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_ref: Option<String>,
    /// The commit the anchor commit was made on.
    pub base_commit: String,
    /// The integration branch's short name (`aiflow/<slug>`).
    pub integration_branch: String,
    /// When the flow was created (RFC 3339).
    pub created_at: String,
    /// Who created it (`Name <email>`).
    pub created_by: String,
    /// When the document last changed (RFC 3339).
    pub updated_at: String,
    /// Who changed it last (`Name <email>`).
    pub updated_by: String,
    /// Whether the user chose to plan without answering the questions.
    #[serde(default, skip_serializing_if = "is_false")]
    pub questions_skipped: bool,
    /// The spec, in the shape of the practice.
    pub spec: Spec,
    /// Clarifying questions, numbered from 1 in the order asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub questions: Vec<Question>,
    /// When and how the questions were asked (also when the model had none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub questions_asked: Option<Provenance>,
    /// Every plan revision, oldest first; the last one is current. Revisions hold decisions
    /// only and never change once written; in memory the current revision's subtasks also carry
    /// their progress (status, branch), which the document keeps in `progress`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<PlanRevision>,
    /// The subtasks' progress as the lifecycle moves it: in the document, one entry per subtask
    /// that has moved. In memory the current plan's subtasks carry the live status and branch
    /// ([`Flow::absorb_progress`]) and writing takes them from there ([`Flow::progress_entries`]);
    /// this keeps only what they cannot hold: entries with keys a newer version added, and
    /// entries for subtasks the current plan no longer holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub progress: Vec<Progress>,
    /// Review records, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reviews: Vec<Review>,
    /// Approvals refused because of who asked (self-review, a reviewer not allowed), oldest
    /// first: counted by `stats`, never read by the gate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused_approvals: Vec<review::RefusedApproval>,
    /// Security audits and their findings, oldest first: advice, never a review.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audits: Vec<audit::Audit>,
    /// When and how the integration branch was merged into its base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<Finished>,
    /// Keys this build does not know, from a newer git-aiflow: kept, and written back as they
    /// were (the compatibility rule of `docs/SCHEMA.md`).
    #[serde(flatten, default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// The merge that finished a flow.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Finished {
    /// When (RFC 3339).
    pub at: String,
    /// Who (`Name <email>`).
    pub by: String,
    /// The full ref name merged into.
    pub into: String,
    /// The merge commit.
    pub commit: String,
    /// Keys this build does not know, from a newer git-aiflow: kept, and written back as they
    /// were (the compatibility rule of `docs/SCHEMA.md`).
    #[serde(flatten, default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// The note on one step commit: who or what made the step, and how.
///
/// It is a document of its own (`kind = "step"`) so that git's `concatenate` rewrite mode, which
/// joins two notes when a rebase squashes two steps, leaves documents the reader can still split.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StepNote {
    /// Schema version; always first.
    pub schema: u32,
    /// Always `step`.
    pub kind: DocKind,
    /// The flow's slug.
    pub flow: String,
    /// The subtask's id.
    pub subtask: String,
    /// The step's number on the subtask branch, from 1.
    pub step: u32,
    /// `hand` for `git aiflow step`, `agent` for `git aiflow exec`.
    pub by: vocab::StepAuthor,
    /// When (RFC 3339).
    pub at: String,
    /// The human who recorded it (`Name <email>`).
    pub recorded_by: String,
    /// The agent's program name (never its whole command line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The agent's identity, the commit's author (`Name <email>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_identity: Option<String>,
    /// The execute prompt template's git blob id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_digest: Option<String>,
    /// Where the template came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_template: Option<String>,
    /// How long the agent ran, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The agent's exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Whether the agent made this commit itself (then rewritten to carry the step trailers).
    #[serde(default, skip_serializing_if = "is_false")]
    pub agent_commit: bool,
    /// Review-like or step trailers removed from what the agent wrote.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stripped: Vec<String>,
    /// The last run of the test command on this step's tree (`git aiflow test`, or after the
    /// step was made).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<TestRun>,
    /// Keys this build does not know, from a newer git-aiflow: kept, and written back as they
    /// were (the compatibility rule of `docs/SCHEMA.md`).
    #[serde(flatten, default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

impl StepNote {
    /// A step note with the fields every step has; `by` is `hand` or `agent`.
    pub fn new(
        flow: &str,
        subtask: &str,
        step: u32,
        by: vocab::StepAuthor,
        stamp: &crate::git::Stamp,
    ) -> Self {
        StepNote {
            extra: Default::default(),
            schema: SCHEMA,
            kind: DocKind::Step,
            flow: flow.to_owned(),
            subtask: subtask.to_owned(),
            step,
            by,
            at: stamp.at.clone(),
            recorded_by: stamp.who.clone(),
            agent: None,
            agent_identity: None,
            prompt_digest: None,
            prompt_template: None,
            duration_ms: None,
            exit_code: None,
            agent_commit: false,
            stripped: Vec::new(),
            test: None,
        }
    }

    /// Read a step note. A note that git's `concatenate` rewrite mode joined from two step notes
    /// (a squash) is read as its last document, the later step.
    pub fn parse(text: &str) -> Result<StepNote, toml::de::Error> {
        if let Some(note) = quick::step_note(text) {
            return Ok(note);
        }
        match toml::from_str::<StepNote>(text) {
            Ok(note) => Ok(note),
            Err(e) => {
                let last = text
                    .match_indices("\nschema = ")
                    .last()
                    .map(|(i, _)| &text[i + 1..]);
                match last {
                    Some(doc) => toml::from_str(doc),
                    None => Err(e),
                }
            }
        }
    }

    /// Serialize to TOML (`schema` first, ending in a newline).
    pub fn to_toml(&self) -> String {
        let mut out = toml::to_string_pretty(self).expect("step notes always serialize");
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out
    }
}

/// One run of the test command: what ran, on which tree, and how it ended. Kept in the note of
/// the step whose tree it ran on (`[test]`), so that a later change is a tree with no run.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct TestRun {
    /// The command, as given to `sh -c` (secrets redacted).
    pub command: String,
    /// Its exit status; absent when it was killed (see `timed_out`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
    /// Whether it was stopped at its time limit.
    #[serde(default)]
    pub timed_out: bool,
    /// The tree it ran on (the step commit's tree).
    pub tree: String,
    /// When it started (RFC 3339).
    pub at: String,
    /// Who ran it (`Name <email>`).
    pub by: String,
    /// How long it ran, in milliseconds.
    pub duration_ms: u64,
    /// The last lines of its output (standard output and error as they came, at most
    /// [`TestRun::OUTPUT_LIMIT`] bytes, secrets redacted).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output: String,
    /// Keys this build does not know, from a newer git-aiflow: kept, and written back as they
    /// were (the compatibility rule of `docs/SCHEMA.md`).
    #[serde(flatten, default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// The note on a commit that is not a step but had the test command run on it (`kind = "test"`):
/// a flow's integration branch, tested before `finish`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct TestNote {
    /// Schema version; always first.
    pub schema: u32,
    /// Always `test`.
    pub kind: DocKind,
    /// The flow's slug.
    pub flow: String,
    /// The run.
    pub test: TestRun,
    /// Keys this build does not know, from a newer git-aiflow: kept, and written back as they
    /// were (the compatibility rule of `docs/SCHEMA.md`).
    #[serde(flatten, default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

impl TestNote {
    /// Serialize to TOML (`schema` first, ending in a newline).
    pub fn to_toml(&self) -> String {
        let mut out = toml::to_string_pretty(self).expect("test notes always serialize");
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out
    }
}

/// The test run recorded in a note (a step's, or a test note), with the flow it names.
pub fn recorded_test(text: &str) -> Option<(String, TestRun)> {
    if text.contains("kind = \"test\"")
        && let Ok(note) = toml::from_str::<TestNote>(text)
    {
        return Some((note.flow, note.test));
    }
    let note = StepNote::parse(text).ok()?;
    Some((note.flow, note.test?))
}

impl TestRun {
    /// The most bytes of output kept in a note.
    pub const OUTPUT_LIMIT: usize = 4096;

    /// Whether the run passed: it exited 0 within its time limit.
    pub fn passed(&self) -> bool {
        self.exit == Some(0) && !self.timed_out
    }

    /// `passed`, `failed (exit N)`, `timed out`, `killed`.
    pub fn verdict(&self) -> String {
        match (self.exit, self.timed_out) {
            (_, true) => "timed out".into(),
            (Some(0), false) => "passed".into(),
            (Some(c), false) => format!("failed (exit {c})"),
            (None, false) => "killed".into(),
        }
    }
}

impl Flow {
    /// The approvals of subtask `id` that still stand; record indices are into `self.reviews`.
    pub fn approvals(&self, id: &str) -> Approvals {
        Approvals::of(
            self.reviews
                .iter()
                .enumerate()
                .filter(|(_, r)| r.subtask == id),
        )
    }

    /// Whether any plan revision has a subtask `id` (a dropped or replaced subtask keeps its
    /// reviews).
    pub fn knows_subtask(&self, id: &str) -> bool {
        self.plans
            .iter()
            .any(|p| p.subtasks.iter().any(|s| s.id == id))
    }

    /// The subtask `id` of the current plan.
    pub fn subtask(&self, id: &str) -> Option<&Subtask> {
        self.current_plan()?.subtasks.iter().find(|s| s.id == id)
    }

    /// The subtask `id` of the current plan, to change.
    pub fn subtask_mut(&mut self, id: &str) -> Option<&mut Subtask> {
        self.plans
            .last_mut()?
            .subtasks
            .iter_mut()
            .find(|s| s.id == id)
    }
}

/// Keys of a note that this build does not know (see the `extra` fields).
pub type Extra = std::collections::BTreeMap<String, toml::Value>;

fn is_false(b: &bool) -> bool {
    !*b
}

/// A clarifying question and its answer.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Question {
    /// 1-based number, in the order asked.
    pub id: u32,
    /// The question.
    pub question: String,
    /// Why the model asks: the gap it exposes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// Suggested answers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// The user's answer, once given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// When it was answered (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<String>,
    /// Who answered (`Name <email>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<String>,
    /// Keys this build does not know, from a newer git-aiflow: kept, and written back as they
    /// were (the compatibility rule of `docs/SCHEMA.md`).
    #[serde(flatten, default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// One revision of the plan, with where it came from.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct PlanRevision {
    /// 1-based revision number.
    pub revision: u32,
    /// When the revision was made (RFC 3339).
    pub created_at: String,
    /// The human who made or requested it (`Name <email>`).
    pub created_by: String,
    /// `model` for a plan a provider returned, `edit` for a human edit, `merge` for `sync`'s
    /// merge of two sides' plans.
    pub source: vocab::RevisionSource,
    /// Provider name, for model revisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Model name, for model revisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Digest of the prompt template, for model revisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_digest: Option<String>,
    /// Where the prompt template came from: `embedded` or `.aiflow/templates/plan.md`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_template: Option<String>,
    /// Prompt tokens, when the server reported them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_in: Option<u64>,
    /// Completion tokens, when the server reported them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_out: Option<u64>,
    /// How long the request took, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The reviewer's feedback sent with the request (`plan --again -m`, `plan expand -m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
    /// The id of the subtask this revision split into smaller ones (`plan expand`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expanded: Option<String>,
    /// Whether the person who made this revision was shown the subtasks' `test` commands (a
    /// `plan edit` by a version that knows them). Only such a revision accepts a command: an
    /// older version keeps an unknown `test` key through an edit without showing it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tests_shown: bool,
    /// What the prompt showed of the repository, for model revisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Grounding>,
    /// The ordered subtasks.
    #[serde(default)]
    pub subtasks: Vec<Subtask>,
    /// What plan lint found when the revision was written ([`lint`]); shown while the revision
    /// is current.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<lint::Warning>,
    /// Keys this build does not know, from a newer git-aiflow: kept, and written back as they
    /// were (the compatibility rule of `docs/SCHEMA.md`).
    #[serde(flatten, default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

impl PlanRevision {
    /// A revision with no model provenance (`edit` or `merge`); numbered when appended.
    pub fn by_hand(
        source: vocab::RevisionSource,
        who: &str,
        at: &str,
        subtasks: Vec<Subtask>,
    ) -> Self {
        PlanRevision {
            extra: Default::default(),
            revision: 0,
            created_at: at.to_owned(),
            created_by: who.to_owned(),
            tests_shown: source == vocab::RevisionSource::Edit,
            source,
            provider: None,
            model: None,
            prompt_digest: None,
            prompt_template: None,
            tokens_in: None,
            tokens_out: None,
            duration_ms: None,
            context: None,
            feedback: None,
            expanded: None,
            subtasks,
            warnings: Vec::new(),
        }
    }
}

/// Where a model's answer came from: who asked, when, and what answered.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Provenance {
    /// When (RFC 3339).
    pub at: String,
    /// The human who asked (`Name <email>`).
    pub by: String,
    /// The provider.
    pub provider: String,
    /// The model, when the provider names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The prompt template's git blob id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_digest: Option<String>,
    /// Where the template came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_template: Option<String>,
    /// Prompt tokens, when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_in: Option<u64>,
    /// Answer tokens, when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_out: Option<u64>,
    /// How long it took, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// What the prompt showed of the repository (planning requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Grounding>,
    /// The reviewer's feedback sent with the request (`-m`, `-F`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
    /// For a plan revision: the id of the subtask it split (`plan expand`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expanded: Option<String>,
    /// What lint found in the answer ([`lint`]): for the clarifying questions, kept with them
    /// until they are asked again. (A plan revision keeps its own.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<lint::Warning>,
    /// Keys this build does not know, from a newer git-aiflow: kept, and written back as they
    /// were (the compatibility rule of `docs/SCHEMA.md`).
    #[serde(flatten, default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// Where one subtask is: written by `start`, `step`, `ready`, `approve`, `integrate` and `sync`,
/// never by a plan revision, so that revisions read the same forever.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Progress {
    /// The subtask's id.
    pub subtask: String,
    /// Its lifecycle status (`dropped` is a decision, kept in the revisions, never here).
    pub status: SubtaskStatus,
    /// Its branch, once started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Keys this build does not know, from a newer git-aiflow: kept, and written back as they
    /// were (the compatibility rule of `docs/SCHEMA.md`).
    #[serde(flatten, default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

impl Progress {
    /// Check the entry: a subtask id, a lifecycle status, a branch name git accepts.
    pub fn validate(&self, key: &str) -> Result<(), Invalid> {
        if self.status == SubtaskStatus::Dropped {
            return Err(invalid(
                format!("{key}.status"),
                "`dropped` is a decision of the plan, not progress",
                "remove the entry and drop the subtask with `git aiflow plan edit`",
            ));
        }
        let probe = Subtask {
            id: self.subtask.clone(),
            title: "x".into(),
            description: String::new(),
            files: Vec::new(),
            phase: Phase::Core,
            depends_on: Vec::new(),
            status: self.status,
            branch: self.branch.clone(),
            test: None,
            extra: Extra::new(),
        };
        validate_subtasks(key, std::slice::from_ref(&probe)).map_err(|mut e| {
            e.key = e.key.replacen(
                &format!("{key}.subtasks[0].id"),
                &format!("{key}.subtask"),
                1,
            );
            e.key = e
                .key
                .replacen(&format!("{key}.subtasks[0]."), &format!("{key}."), 1);
            e
        })
    }
}

/// The decision a revision records for a subtask's status: `dropped = true`, or nothing.
mod dropped_flag {
    use super::SubtaskStatus;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn not_dropped(s: &SubtaskStatus) -> bool {
        *s != SubtaskStatus::Dropped
    }

    pub fn serialize<S: Serializer>(s: &SubtaskStatus, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_bool(*s == SubtaskStatus::Dropped)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<SubtaskStatus, D::Error> {
        Ok(if bool::deserialize(de)? {
            SubtaskStatus::Dropped
        } else {
            SubtaskStatus::Planned
        })
    }
}

impl SubtaskStatus {
    /// What a plan revision decides about a subtask with this status: `Dropped`, or `Planned`
    /// for any status the lifecycle set.
    pub fn decided(self) -> SubtaskStatus {
        if self == SubtaskStatus::Dropped {
            SubtaskStatus::Dropped
        } else {
            SubtaskStatus::Planned
        }
    }
}

impl Subtask {
    /// The subtask as its revision decided it: status `planned` or `dropped`, no branch.
    pub fn decided(&self) -> Subtask {
        Subtask {
            status: self.status.decided(),
            branch: None,
            ..self.clone()
        }
    }
}

impl PlanRevision {
    /// The revision as it was written: its subtasks without progress.
    pub fn decided(&self) -> PlanRevision {
        PlanRevision {
            subtasks: self.subtasks.iter().map(Subtask::decided).collect(),
            ..self.clone()
        }
    }
}

/// One planned unit of work.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Subtask {
    /// Short stable id, unique within the flow.
    pub id: String,
    /// One-line title.
    pub title: String,
    /// What to do, in prose.
    #[serde(default)]
    pub description: String,
    /// Paths, relative to the repository root, the subtask is expected to touch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// The phase of the practice this subtask belongs to.
    pub phase: Phase,
    /// Ids of the subtasks that must be integrated first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// The subtask's state. In the document a revision holds only the decision (`dropped =
    /// true`, or nothing for a planned subtask); the lifecycle's statuses are progress, kept in
    /// the flow's `progress` and carried here for the current plan only.
    #[serde(
        rename = "dropped",
        default,
        with = "dropped_flag",
        skip_serializing_if = "dropped_flag::not_dropped"
    )]
    pub status: SubtaskStatus,
    /// The subtask's branch, once started: progress, never written in a revision (see
    /// [`Progress`]).
    #[serde(skip)]
    pub branch: Option<String>,
    /// The subtask's own acceptance command: how to tell it is done, for `sh -c`. A model may
    /// propose it; it runs only once a person has accepted it ([`plan::accepted_test`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
    /// Keys this build does not know, from a newer git-aiflow: kept, and written back as they
    /// were (the compatibility rule of `docs/SCHEMA.md`).
    #[serde(flatten, default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// A document that fails validation: the key at fault and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value for `{key}`: {problem}")]
pub struct Invalid {
    /// Path of the offending key, e.g. `plans[1].subtasks[2].depends_on`.
    pub key: String,
    /// What is wrong.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

pub(crate) fn invalid(
    key: impl Into<String>,
    problem: impl Into<String>,
    fix: impl Into<String>,
) -> Invalid {
    Invalid {
        key: key.into(),
        problem: problem.into(),
        fix: fix.into(),
    }
}

impl Flow {
    /// Subtasks of the current plan that are not dropped, and how many of them are merged.
    pub fn progress(&self) -> (usize, usize) {
        self.current_plan()
            .map(|p| {
                let live = p
                    .subtasks
                    .iter()
                    .filter(|s| s.status != SubtaskStatus::Dropped);
                let total = live.clone().count();
                let merged = live.filter(|s| s.status == SubtaskStatus::Merged).count();
                (total, merged)
            })
            .unwrap_or((0, 0))
    }

    /// The current plan revision, if any.
    pub fn current_plan(&self) -> Option<&PlanRevision> {
        self.plans.last()
    }

    /// Carry the document's `progress` into the current plan's subtasks (status, branch), where
    /// the lifecycle moves it; `progress` keeps only the entries that hold more (keys a newer
    /// version added, subtasks the current plan no longer holds). Every revision before the
    /// current one is left as decided. Called once, when a document is read.
    pub fn absorb_progress(&mut self) {
        let n = self.plans.len();
        for p in self.plans.iter_mut().take(n.saturating_sub(1)) {
            *p = p.decided();
        }
        let Some(current) = self.plans.last_mut() else {
            return;
        };
        for s in &mut current.subtasks {
            *s = s.decided();
        }
        self.progress.retain(|p| {
            let Some(s) = current.subtasks.iter_mut().find(|s| s.id == p.subtask) else {
                return true;
            };
            if s.status != SubtaskStatus::Dropped {
                s.status = p.status;
            }
            s.branch = p.branch.clone();
            !p.extra.is_empty()
        });
    }

    /// The document's `progress`: one entry per subtask of the current plan that has moved or
    /// has a branch, in the plan's order, then the entries kept for subtasks it no longer holds.
    pub fn progress_entries(&self) -> Vec<Progress> {
        let mut out: Vec<Progress> = Vec::new();
        if let Some(current) = self.plans.last() {
            for s in &current.subtasks {
                let status = if s.status == SubtaskStatus::Dropped {
                    // Dropped is the revision's decision; a branch it had stays as progress.
                    SubtaskStatus::Planned
                } else {
                    s.status
                };
                let kept = self.progress.iter().find(|p| p.subtask == s.id);
                if status != SubtaskStatus::Planned || s.branch.is_some() {
                    out.push(Progress {
                        subtask: s.id.clone(),
                        status,
                        branch: s.branch.clone(),
                        extra: kept.map(|p| p.extra.clone()).unwrap_or_default(),
                    });
                }
            }
        }
        for p in &self.progress {
            if !out.iter().any(|o| o.subtask == p.subtask)
                && !self
                    .current_plan()
                    .is_some_and(|c| c.subtasks.iter().any(|s| s.id == p.subtask))
            {
                out.push(p.clone());
            }
        }
        out
    }

    /// Serialize to the canonical TOML text (`schema` first, ending in a newline): the revisions
    /// as decided, the subtasks' progress in `progress`.
    pub fn to_toml(&self) -> String {
        let doc = Flow {
            plans: self.plans.iter().map(PlanRevision::decided).collect(),
            progress: self.progress_entries(),
            ..self.clone()
        };
        let mut out = toml::to_string_pretty(&doc).expect("flow documents always serialize");
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out
    }

    /// Check every invariant a reader relies on; the error names the key and the fix.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.schema != FLOW_SCHEMA {
            return Err(invalid(
                "schema",
                format!(
                    "this build writes schema {FLOW_SCHEMA}, found {}",
                    self.schema
                ),
                format!("set `schema = {FLOW_SCHEMA}`"),
            ));
        }
        if let Err(e) = validate_slug(&self.slug) {
            return Err(invalid("slug", e.to_string(), e.hint()));
        }
        validate_title("title", &self.title)?;
        if !is_hex_id(&self.base_commit) {
            return Err(invalid(
                "base_commit",
                format!("`{}` is not a full commit id", self.base_commit),
                "use the 40-character id of the commit the flow started from",
            ));
        }
        if let Some(base_ref) = &self.base_ref
            && !base_ref.starts_with("refs/")
        {
            return Err(invalid(
                "base_ref",
                format!("`{base_ref}` is not a full ref name"),
                "use a name such as `refs/heads/main`, or remove the key",
            ));
        }
        if gix::validate::reference::name_partial(self.integration_branch.as_str().into()).is_err()
            || self.integration_branch.starts_with("refs/")
        {
            return Err(invalid(
                "integration_branch",
                format!("`{}` is not a valid branch name", self.integration_branch),
                format!("use `aiflow/{}`", self.slug),
            ));
        }
        for (key, value) in [
            ("created_at", &self.created_at),
            ("updated_at", &self.updated_at),
        ] {
            validate_time(key, value)?;
        }
        for (key, value) in [
            ("created_by", &self.created_by),
            ("updated_by", &self.updated_by),
        ] {
            validate_identity(key, value)?;
        }
        self.spec.validate()?;
        for (i, q) in self.questions.iter().enumerate() {
            let key = format!("questions[{i}]");
            if q.id as usize != i + 1 {
                return Err(invalid(
                    format!("{key}.id"),
                    format!("question ids must count 1, 2, 3… in order; found {}", q.id),
                    format!("set `id = {}`", i + 1),
                ));
            }
            if q.question.trim().is_empty() {
                return Err(invalid(
                    format!("{key}.question"),
                    "the question is empty",
                    "write the question or remove the entry",
                ));
            }
            if let Some(at) = &q.answered_at {
                validate_time(&format!("{key}.answered_at"), at)?;
            }
        }
        if let Some(asked) = &self.questions_asked {
            validate_time("questions_asked.at", &asked.at)?;
            validate_identity("questions_asked.by", &asked.by)?;
        }
        for (i, plan) in self.plans.iter().enumerate() {
            let key = format!("plans[{i}]");
            if plan.revision as usize != i + 1 {
                return Err(invalid(
                    format!("{key}.revision"),
                    format!(
                        "plan revisions must count 1, 2, 3… in order; found {}",
                        plan.revision
                    ),
                    format!("set `revision = {}`", i + 1),
                ));
            }
            validate_time(&format!("{key}.created_at"), &plan.created_at)?;
            if !plan.source.is_known() {
                return Err(invalid(
                    format!("{key}.source"),
                    format!("unknown source `{}`", plan.source),
                    "use `model`, `edit` or `merge`",
                ));
            }
            validate_subtasks(&key, &plan.subtasks)?;
        }
        for (i, p) in self.progress.iter().enumerate() {
            p.validate(&format!("progress[{i}]"))?;
        }
        for (i, r) in self.reviews.iter().enumerate() {
            r.validate(&format!("reviews[{i}]"))?;
        }
        for (i, r) in self.refused_approvals.iter().enumerate() {
            r.validate(&format!("refused_approvals[{i}]"))?;
        }
        for (i, a) in self.audits.iter().enumerate() {
            a.validate(&format!("audits[{i}]"))?;
        }
        Ok(())
    }
}

/// Validate a plan's subtasks: unique ids, known dependencies, no cycles, relative paths.
pub fn validate_subtasks(key: &str, subtasks: &[Subtask]) -> Result<(), Invalid> {
    let mut ids = BTreeSet::new();
    for (j, s) in subtasks.iter().enumerate() {
        let skey = format!("{key}.subtasks[{j}]");
        if s.id.is_empty()
            || s.id.len() > 16
            || !s
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(invalid(
                format!("{skey}.id"),
                format!("`{}` is not a valid subtask id", s.id),
                "use 1 to 16 lower-case letters and digits",
            ));
        }
        if !ids.insert(s.id.as_str()) {
            return Err(invalid(
                format!("{skey}.id"),
                format!("the id `{}` is used twice", s.id),
                "give each subtask its own id",
            ));
        }
        validate_title(&format!("{skey}.title"), &s.title)?;
        if let Some(branch) = &s.branch
            && (gix::validate::reference::name_partial(branch.as_str().into()).is_err()
                || branch.starts_with("refs/")
                || branch.starts_with('-'))
        {
            return Err(invalid(
                format!("{skey}.branch"),
                format!("`{branch}` is not a valid branch name"),
                "remove the key; `git aiflow start` records the branch it creates",
            ));
        }
        for (k, f) in s.files.iter().enumerate() {
            validate_repo_path(&format!("{skey}.files[{k}]"), f)?;
        }
        if let Some(test) = &s.test {
            validate_test_command(&format!("{skey}.test"), test)?;
        }
    }
    let by_id: BTreeMap<&str, &Subtask> = subtasks.iter().map(|s| (s.id.as_str(), s)).collect();
    for (j, s) in subtasks.iter().enumerate() {
        for dep in &s.depends_on {
            if !by_id.contains_key(dep.as_str()) {
                return Err(invalid(
                    format!("{key}.subtasks[{j}].depends_on"),
                    format!(
                        "subtask `{}` depends on `{dep}`, which is not in the plan",
                        s.id
                    ),
                    "remove the dependency or add the missing subtask",
                ));
            }
            if dep == &s.id {
                return Err(invalid(
                    format!("{key}.subtasks[{j}].depends_on"),
                    format!("subtask `{}` depends on itself", s.id),
                    "remove it from its own depends_on",
                ));
            }
        }
    }
    let graph: Vec<(&str, &[String])> = subtasks
        .iter()
        .map(|s| (s.id.as_str(), s.depends_on.as_slice()))
        .collect();
    if let Some(cycle) = find_cycle(&graph) {
        return Err(invalid(
            format!("{key}.subtasks"),
            format!("the dependencies form a cycle: {}", cycle.join(" -> ")),
            "remove one of these dependencies",
        ));
    }
    Ok(())
}

/// A dependency cycle among `nodes` (id and the ids it depends on), as the ids around it with the
/// first repeated at the end. Dependencies on unknown ids are ignored.
pub(crate) fn find_cycle(nodes: &[(&str, &[String])]) -> Option<Vec<String>> {
    let by_id: BTreeMap<&str, &[String]> = nodes.iter().copied().collect();
    // 0 = unvisited, 1 = on the stack, 2 = done
    let mut state: BTreeMap<&str, u8> = BTreeMap::new();
    fn visit<'a>(
        id: &'a str,
        by_id: &BTreeMap<&'a str, &'a [String]>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match state.get(id) {
            Some(2) => return None,
            Some(1) => {
                let start = stack.iter().position(|s| *s == id).unwrap_or(0);
                let mut cycle: Vec<String> = stack[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(id.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(id, 1);
        stack.push(id);
        for dep in by_id.get(id).copied().unwrap_or_default() {
            if by_id.contains_key(dep.as_str())
                && let Some(c) = visit(dep.as_str(), by_id, state, stack)
            {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(id, 2);
        None
    }
    for (id, _) in nodes {
        let mut stack = Vec::new();
        if let Some(c) = visit(id, &by_id, &mut state, &mut stack) {
            return Some(c);
        }
    }
    None
}

/// A title: one line, not empty, no control characters, at most 200 characters.
pub fn validate_title(key: &str, title: &str) -> Result<(), Invalid> {
    if title.trim().is_empty() {
        return Err(invalid(key, "the title is empty", "write a one-line title"));
    }
    if let Some((i, c)) = title.chars().enumerate().find(|(_, c)| c.is_control()) {
        return Err(invalid(
            key,
            format!(
                "the title contains the control character U+{:04X} at position {}",
                c as u32,
                i + 1
            ),
            "keep the title on one line, without tabs or control characters",
        ));
    }
    let n = title.chars().count();
    if n > 200 {
        return Err(invalid(
            key,
            format!("the title is {n} characters long"),
            "shorten it to at most 200 characters; put details in the summary",
        ));
    }
    Ok(())
}

/// The most characters a subtask's `test` command may have.
pub const MAX_TEST_COMMAND: usize = 500;

/// A subtask's `test` command: one line, not empty, no control characters, at most
/// [`MAX_TEST_COMMAND`] characters.
pub fn validate_test_command(key: &str, command: &str) -> Result<(), Invalid> {
    if command.trim().is_empty() {
        return Err(invalid(
            key,
            "the test command is empty",
            "write a command for `sh -c`, or remove the key",
        ));
    }
    if let Some((i, c)) = command.chars().enumerate().find(|(_, c)| c.is_control()) {
        return Err(invalid(
            key,
            format!(
                "the test command contains the control character U+{:04X} at position {}",
                c as u32,
                i + 1
            ),
            "keep it on one line (join commands with `&&`), without tabs or control characters",
        ));
    }
    if crate::ai::sanitize::clean(command) != command {
        return Err(invalid(
            key,
            "the test command contains bidirectional controls or tag characters, which would show it otherwise than it runs",
            "write it in plain characters",
        ));
    }
    let n = command.chars().count();
    if n > MAX_TEST_COMMAND {
        return Err(invalid(
            key,
            format!("the test command is {n} characters long"),
            format!(
                "shorten it to at most {MAX_TEST_COMMAND} characters; put a longer check in a script in the repository"
            ),
        ));
    }
    Ok(())
}

/// A path relative to the repository root that cannot escape it.
pub fn validate_repo_path(key: &str, path: &str) -> Result<(), Invalid> {
    let bad = |problem: String| {
        Err(invalid(
            key,
            problem,
            "use a path relative to the repository root, such as `src/lib.rs`",
        ))
    };
    if path.is_empty() {
        return bad("the path is empty".into());
    }
    if path.starts_with('/') || path.starts_with('\\') || path.get(1..2) == Some(":") {
        return bad(format!("`{path}` is absolute"));
    }
    if path.chars().any(|c| c.is_control()) {
        return bad(format!(
            "`{}` contains control characters",
            path.escape_debug()
        ));
    }
    if path
        .split(['/', '\\'])
        .any(|c| c == ".." || is_git_dir_name(c))
    {
        return bad(format!("`{path}` leaves the repository or enters .git"));
    }
    Ok(())
}

/// Whether a path component names the `.git` directory on some file system: any letter case,
/// trailing dots or spaces (Windows ignores them), or its NTFS short name, as git's own
/// `is_ntfs_dotgit` and `is_hfs_dotgit` refuse.
fn is_git_dir_name(component: &str) -> bool {
    let c = component
        .trim_end_matches(['.', ' '])
        .chars()
        .filter(|c| {
            !matches!(
                c,
                '\u{200c}' | '\u{200d}' | '\u{200e}' | '\u{200f}' | '\u{feff}'
            )
        })
        .collect::<String>()
        .to_ascii_lowercase();
    c == ".git" || c == "git~1"
}

pub(crate) fn validate_identity(key: &str, value: &str) -> Result<(), Invalid> {
    let ok = value.ends_with('>')
        && value.find(" <").is_some_and(|i| {
            i > 0
                && value[i + 2..value.len() - 1]
                    .chars()
                    .all(|c| c != '<' && c != '>')
        });
    if ok && !value.chars().any(|c| c.is_control()) {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!(
                "`{}` is not of the form `Name <email>`",
                value.escape_debug()
            ),
            "write it as `Jane Doe <jane@example.com>`",
        ))
    }
}

/// Seconds since 1970 of an RFC 3339 time as the tool writes them (`2026-11-21T17:52:59+01:00`
/// or `…Z`); `None` when it is not one. Used to order times written with different offsets.
pub fn epoch(s: &str) -> Option<i64> {
    if validate_time("", s).is_err() {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().ok();
    let (y, mo, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (h, mi, se) = (n(11..13)?, n(14..16)?, n(17..19)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let zone = &s[19..];
    let offset = if zone == "Z" {
        0
    } else {
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        sign * (zone[1..3].parse::<i64>().ok()? * 3600 + zone[4..6].parse::<i64>().ok()? * 60)
    };
    Some(days * 86_400 + h * 3600 + mi * 60 + se - offset)
}

/// Whether `s` is an RFC 3339 timestamp of the form this tool writes (`2026-11-21T17:52:59+00:00`).
pub fn validate_time(key: &str, s: &str) -> Result<(), Invalid> {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    let base_ok = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    let zone = &s.get(19..).unwrap_or("");
    let zone_ok = *zone == "Z"
        || (zone.len() == 6
            && (zone.starts_with('+') || zone.starts_with('-'))
            && zone.as_bytes()[3] == b':'
            && zone[1..3].bytes().all(|c| c.is_ascii_digit())
            && zone[4..6].bytes().all(|c| c.is_ascii_digit()));
    if base_ok && zone_ok {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("`{}` is not an RFC 3339 time", s.escape_debug()),
            "write it as `2026-11-21T17:52:59+00:00`",
        ))
    }
}

/// Whether `s` is a full hexadecimal object id (SHA-1 or SHA-256).
pub fn is_hex_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64)
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A flow document that uses every field.
    pub(crate) fn sample() -> Flow {
        Flow {
            extra: Default::default(),
            schema: FLOW_SCHEMA,
            kind: DocKind::Flow,
            slug: "rate-limit".into(),
            title: "Rate limiting for the public API".into(),
            status: FlowStatus::Planned,
            base_ref: Some("refs/heads/main".into()),
            base_commit: "0123456789abcdef0123456789abcdef01234567".into(),
            integration_branch: "aiflow/rate-limit".into(),
            created_at: "2026-11-21T10:00:00+00:00".into(),
            created_by: "Ada Lovelace <ada@example.com>".into(),
            updated_at: "2026-11-21T11:00:00+01:00".into(),
            updated_by: "Ada Lovelace <ada@example.com>".into(),
            questions_skipped: false,
            spec: Spec {
                extra: Default::default(),
                summary: "Clients get a 429 with Retry-After.\n\nSecond paragraph.".into(),
                features: vec!["Token bucket per key".into(), "Headers".into()],
                stack: vec!["Rust".into()],
                constraints: vec!["No new services".into()],
                edge_cases: vec!["Clock skew".into()],
                other: vec![],
            },
            questions: vec![Question {
                extra: Default::default(),
                id: 1,
                question: "Which store?".into(),
                why: Some("Shared state".into()),
                choices: vec!["Redis".into(), "In memory".into()],
                answer: Some("Redis 7".into()),
                answered_at: Some("2026-11-21T10:30:00Z".into()),
                answered_by: Some("Ada Lovelace <ada@example.com>".into()),
            }],
            questions_asked: Some(Provenance {
                extra: Default::default(),
                at: "2026-11-21T10:20:00Z".into(),
                by: "Ada Lovelace <ada@example.com>".into(),
                provider: "openai".into(),
                model: Some("gpt-x".into()),
                prompt_digest: Some("ce013625030ba8dba906f756967f9e9ca394464a".into()),
                prompt_template: Some("embedded".into()),
                tokens_in: Some(10),
                tokens_out: Some(20),
                duration_ms: Some(30),
                context: None,
                feedback: None,
                expanded: None,
                warnings: Vec::new(),
            }),
            plans: vec![PlanRevision {
                extra: Default::default(),
                revision: 1,
                created_at: "2026-11-21T10:40:00Z".into(),
                created_by: "Ada Lovelace <ada@example.com>".into(),
                source: vocab::RevisionSource::Model,
                tests_shown: false,
                provider: Some("openai".into()),
                model: Some("gpt-x".into()),
                prompt_digest: Some("sha256:abc".into()),
                prompt_template: Some("embedded".into()),
                tokens_in: Some(1000),
                tokens_out: Some(200),
                duration_ms: Some(1234),
                context: None,
                feedback: None,
                expanded: None,
                warnings: Vec::new(),
                subtasks: vec![
                    Subtask {
                        extra: Default::default(),
                        id: "k3f9".into(),
                        title: "Bucket".into(),
                        description: "Write the bucket.\nWith tests.".into(),
                        files: vec!["src/bucket.rs".into()],
                        phase: Phase::Core,
                        depends_on: vec![],
                        status: SubtaskStatus::Approved,
                        branch: Some("aiflow/rate-limit--k3f9-bucket".into()),
                        test: Some("cargo test bucket".into()),
                    },
                    Subtask {
                        extra: Default::default(),
                        id: "m2x1".into(),
                        title: "Docs".into(),
                        description: String::new(),
                        files: vec![],
                        phase: Phase::Production,
                        depends_on: vec!["k3f9".into()],
                        status: SubtaskStatus::Planned,
                        branch: None,
                        test: None,
                    },
                ],
            }],
            reviews: vec![Review {
                subtask: "k3f9".into(),
                verdict: review::Verdict::Approved,
                reviewer: "Grace Hopper <grace@example.com>".into(),
                at: "2026-11-21T12:00:00Z".into(),
                comment: None,
                commits: vec![ReviewedCommit {
                    extra: Default::default(),
                    commit: "89abcdef0123456789abcdef0123456789abcdef".into(),
                    content_id: Some(format!("c1:{}", "5e".repeat(32))),
                    patch_id: None,
                }],
                ..Review::default()
            }],
            progress: vec![],
            refused_approvals: vec![],
            audits: vec![],
            finished: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::sample;
    use super::*;

    #[test]
    fn a_step_note_with_a_test_run_round_trips_and_a_squash_reads_as_its_last_step() {
        let stamp = crate::git::Stamp {
            who: "Ada <ada@example.com>".into(),
            at: "2026-01-01T00:00:00Z".into(),
        };
        let mut one = StepNote::new("f", "a1", 1, vocab::StepAuthor::Hand, &stamp);
        one.test = Some(TestRun {
            command: "make check".into(),
            exit: None,
            timed_out: true,
            tree: "b".repeat(40),
            at: stamp.at.clone(),
            by: stamp.who.clone(),
            duration_ms: 1500,
            output: "line 1\nline 2\n".into(),
            extra: Default::default(),
        });
        let text = one.to_toml();
        assert!(text.contains("\n[test]\n"), "{text}");
        assert!(!text.contains("exit ="), "{text}");
        assert_eq!(StepNote::parse(&text).unwrap(), one);
        assert_eq!(one.test.as_ref().unwrap().verdict(), "timed out");
        // git's `concatenate` rewrite mode joins the notes of two squashed steps.
        let two = StepNote::new("f", "a1", 2, vocab::StepAuthor::Hand, &stamp);
        let joined = format!("{text}\n{}", two.to_toml());
        assert_eq!(StepNote::parse(&joined).unwrap(), two);
        assert!(StepNote::parse("not toml").is_err());
    }

    #[test]
    fn round_trip_full_document() {
        let flow = sample();
        flow.validate().expect("sample is valid");
        let text = flow.to_toml();
        assert!(
            text.starts_with("schema = 3\n"),
            "schema must come first:\n{text}"
        );
        let back = upgrade::decode(text.as_bytes()).expect("parses").newest();
        assert_eq!(back, flow);
        // and once more, byte for byte
        assert_eq!(back.to_toml(), text);
    }

    #[test]
    fn round_trip_minimal_document() {
        let mut flow = sample();
        flow.questions.clear();
        flow.plans.clear();
        flow.reviews.clear();
        flow.base_ref = None;
        let text = flow.to_toml();
        assert!(!text.contains("[[plans"));
        assert_eq!(toml::from_str::<Flow>(&text).expect("parses"), flow);
    }

    /// A subtask's recorded branch becomes a ref edit: a note (which anyone who can push may
    /// write) naming one git would refuse is invalid, not a crash later.
    #[test]
    fn a_subtask_branch_git_would_refuse_is_invalid() {
        for bad in ["a..b", "refs/heads/x", "-x", "x.lock", "a b", "x/"] {
            let mut flow = sample();
            flow.plans[0].subtasks[0].branch = Some(bad.into());
            let e = flow.validate().expect_err(bad);
            assert!(
                e.to_string().contains("not a valid branch name"),
                "{bad}: {e}"
            );
        }
        let mut flow = sample();
        flow.plans[0].subtasks[0].branch = Some("aiflow/rate-limit--k3f9-bucket".into());
        flow.validate().expect("a subtask branch is valid");
    }

    /// Unknown keys in any order and of any kind (a table before a plain value, an array of
    /// tables, a key sorting before the known ones) are written back: serializing never fails.
    #[test]
    fn unknown_keys_of_every_kind_and_order_write_back() {
        let flow = sample();
        let mut doc: toml::Table = toml::from_str(&flow.to_toml()).expect("toml");
        let mut nested = toml::Table::new();
        nested.insert("x".into(), toml::Value::Integer(1));
        doc.insert("a_table".into(), toml::Value::Table(nested.clone()));
        doc.insert(
            "aa_tables".into(),
            toml::Value::Array(vec![toml::Value::Table(nested.clone())]),
        );
        doc.insert(
            "zz_plain".into(),
            toml::Value::String("after the tables".into()),
        );
        let spec = doc["spec"].as_table_mut().expect("spec");
        spec.insert("a_table".into(), toml::Value::Table(nested));
        spec.insert("zz_plain".into(), toml::Value::Boolean(true));
        let read = upgrade::decode(toml::to_string(&doc).expect("toml").as_bytes())
            .expect("reads")
            .newest();
        let back: toml::Table = toml::from_str(&read.to_toml()).expect("writes back");
        assert_eq!(back, doc);
    }

    /// A note written by a newer git-aiflow, with keys this build does not know at every level,
    /// reads, and writes back with those keys as they were; what this build knows is unchanged.
    #[test]
    fn unknown_keys_from_a_newer_version_round_trip() {
        let mut flow = sample();
        flow.finished = Some(Finished {
            extra: Default::default(),
            at: "2026-11-22T10:00:00Z".into(),
            by: "Ada Lovelace <ada@example.com>".into(),
            into: "refs/heads/main".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
        });
        let mut doc: toml::Table = toml::from_str(&flow.to_toml()).expect("toml");
        let future = |t: &mut toml::Table, at: &str| {
            t.insert(
                "future_key".into(),
                toml::Value::String(format!("kept at {at}")),
            );
            let mut nested = toml::Table::new();
            nested.insert("depth".into(), toml::Value::Integer(2));
            nested.insert("list".into(), toml::Value::Array(vec![1.into(), 2.into()]));
            t.insert("future_table".into(), toml::Value::Table(nested));
        };
        future(&mut doc, "the top");
        for key in ["spec", "questions_asked", "finished"] {
            future(doc[key].as_table_mut().expect(key), key);
        }
        for key in ["questions", "plans", "progress", "reviews"] {
            for t in doc[key].as_array_mut().expect(key) {
                let t = t.as_table_mut().expect("table");
                future(t, key);
                for inner in ["subtasks", "commits"] {
                    for item in t
                        .get_mut(inner)
                        .and_then(|v| v.as_array_mut())
                        .into_iter()
                        .flatten()
                    {
                        future(item.as_table_mut().expect("table"), inner);
                    }
                }
            }
        }
        let text = toml::to_string(&doc).expect("toml");
        let read = upgrade::decode(text.as_bytes())
            .expect("a newer note reads")
            .newest();
        assert_eq!(read.extra["future_key"].as_str(), Some("kept at the top"));
        let back: toml::Table = toml::from_str(&read.to_toml()).expect("toml");
        assert_eq!(back, doc, "written back as it was");
        // What this build knows is what it was.
        let mut known = read.clone();
        known.extra.clear();
        known.spec.extra.clear();
        known.finished.as_mut().expect("finished").extra.clear();
        known.questions_asked.as_mut().expect("asked").extra.clear();
        for q in &mut known.questions {
            q.extra.clear();
        }
        for p in &mut known.plans {
            p.extra.clear();
            for s in &mut p.subtasks {
                s.extra.clear();
            }
        }
        for r in &mut known.reviews {
            r.extra.clear();
            for c in &mut r.commits {
                c.extra.clear();
            }
        }
        // Progress entries are kept in `progress` only for the keys this build does not know.
        assert!(known.progress.iter().all(|p| !p.extra.is_empty()));
        known.progress.clear();
        assert_eq!(known, flow);
    }

    #[test]
    fn a_missing_key_is_named() {
        let text = sample().to_toml().replace("slug = ", "slgu = ");
        let err = toml::from_str::<Flow>(&text).unwrap_err().to_string();
        assert!(err.contains("slug"), "{err}");
    }

    #[test]
    fn validation_names_key_and_fix() {
        let mut flow = sample();
        flow.plans[0].subtasks[1].depends_on = vec!["nope".into()];
        let e = flow.validate().unwrap_err();
        assert_eq!(e.key, "plans[0].subtasks[1].depends_on");
        assert!(e.problem.contains("nope"));

        let mut flow = sample();
        flow.plans[0].subtasks[0].depends_on = vec!["m2x1".into()];
        let e = flow.validate().unwrap_err();
        assert!(e.problem.contains("cycle"), "{e}");
        assert!(e.problem.contains("k3f9 -> m2x1 -> k3f9"), "{e}");

        let mut flow = sample();
        flow.plans[0].subtasks[0].files = vec!["../etc/passwd".into()];
        assert_eq!(
            flow.validate().unwrap_err().key,
            "plans[0].subtasks[0].files[0]"
        );

        let mut flow = sample();
        flow.created_at = "yesterday".into();
        let e = flow.validate().unwrap_err();
        assert_eq!(e.key, "created_at");
        assert!(e.fix.contains("2026-11-21T17:52:59+00:00"));

        let mut flow = sample();
        flow.questions[0].id = 3;
        assert_eq!(flow.validate().unwrap_err().fix, "set `id = 1`");

        let mut flow = sample();
        flow.title = "two\nlines".into();
        assert!(flow.validate().unwrap_err().problem.contains("U+000A"));

        for bad in ["", " ", "make\nrm -rf ~", "a\tb"] {
            let mut flow = sample();
            flow.plans[0].subtasks[0].test = Some(bad.into());
            let e = flow.validate().unwrap_err();
            assert_eq!(e.key, "plans[0].subtasks[0].test", "{bad:?}");
        }
        let mut flow = sample();
        flow.plans[0].subtasks[0].test = Some("x".repeat(MAX_TEST_COMMAND + 1));
        assert!(
            flow.validate()
                .unwrap_err()
                .problem
                .contains("501 characters")
        );
        flow.plans[0].subtasks[0].test = Some("x".repeat(MAX_TEST_COMMAND));
        flow.validate().unwrap();
    }

    /// A note written before `test` existed keeps its bytes: the key is absent when unset.
    #[test]
    fn a_subtask_without_a_test_has_no_test_key() {
        let mut flow = sample();
        let text = flow.to_toml();
        assert_eq!(text.matches("\ntest = ").count(), 1, "{text}");
        flow.plans[0].subtasks[0].test = None;
        assert!(!flow.to_toml().contains("test ="));
    }
}
