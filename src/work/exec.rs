//! `exec`: run the configured coding agent on one subtask, in the work tree where its branch is
//! checked out, and record what it did as step commits.
//!
//! The agent is data to us, like a model's answer: its output is streamed, never run; what it
//! writes into commit messages is cleaned of review and step trailers before anything is kept.

use super::steps::{STEP_KEYS, record_steps, review_keys, steps_of, with_step_trailers};
use super::test::{TestCommand, TestOptions};
use super::tree::commit_all;
use super::{Found, WorkError, branch_edit, integration_tip, signing};
use crate::ai::prompt::{Rendered, Templates};
use crate::flow::lifecycle::{self, Action};
use crate::flow::{Flow, StepNote, Subtask, TestRun};
use crate::gate::guard::{self, Snapshot};
use crate::git::process::{Input, Process, ProcessError, Sink};
use crate::git::{Stamp, branch_tip, checkout_of, cli as git, current_branch, rewrite, trailers};
use crate::store::Change;
use gix::ObjectId;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How to run the agent.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// The agent command, run with `sh -c` (`None`: config `aiflow.agent`).
    pub agent: Option<String>,
    /// Stop the agent after this many seconds (`None`: config `aiflow.agentTimeout`, else 3600).
    pub timeout: Option<u64>,
    /// While the test fails, run the agent again this many times at most, with the failure in
    /// its prompt (`None`: config `aiflow.fixAttempts`, else 0).
    pub fix: Option<u32>,
    /// Do not run the test command after the agent's steps.
    pub no_test: bool,
}

/// The agent is about to start: what progress reports show.
#[derive(Debug)]
pub struct AgentStart<'a> {
    /// The agent's program name.
    pub program: &'a str,
    /// The subtask it works on.
    pub subtask: &'a Subtask,
    /// The work tree it runs in.
    pub dir: &'a Path,
}

/// The caller's side of an agent run: told when the agent is about to start, so that it can say
/// so (and flush its output before the agent's own output follows), and where the agent's
/// output goes.
pub trait AgentIo {
    /// The agent is about to start.
    fn starting(&mut self, start: &AgentStart<'_>) -> std::io::Result<()>;
    /// Where the agent's standard output and standard error go.
    fn sinks(&mut self) -> (Sink<'_>, Sink<'_>);
    /// An agent run was recorded (`fix`: it was fix attempt N); its test is about to run.
    fn recorded(&mut self, _executed: &Executed, _fix: usize) -> std::io::Result<()> {
        Ok(())
    }
    /// The test ran on the run's last step.
    fn tested(&mut self, _command: &TestCommand, _run: &TestRun) -> std::io::Result<()> {
        Ok(())
    }
}

/// A subtask ready for the agent: where its branch is checked out, and the prompt.
pub struct Prepared {
    /// The subtask's flow, as it was read.
    pub flow: Flow,
    /// The subtask.
    pub subtask: Subtask,
    /// Its branch.
    pub branch: String,
    /// The work tree that has it checked out.
    pub dir: PathBuf,
    /// The number of the next step.
    pub step: u32,
    /// The rendered `execute` prompt, secrets redacted.
    pub prompt: Rendered,
    /// The repository of `dir`.
    repo: gix::Repository,
    /// Where the branch was before the agent ran.
    before: ObjectId,
}

/// A step the agent's run left.
#[derive(Debug, Clone)]
pub struct AgentStep {
    /// The step commit.
    pub commit: ObjectId,
    /// Its note.
    pub note: StepNote,
}

/// What an agent run recorded.
#[derive(Debug, Clone)]
pub struct Executed {
    /// The flow's slug.
    pub flow: String,
    /// The subtask's id.
    pub subtask: String,
    /// Its branch.
    pub branch: String,
    /// The agent's program name.
    pub program: String,
    /// The agent's identity, the author of its commits (`Name <email>`).
    pub identity: String,
    /// Its exit code.
    pub exit_code: i32,
    /// How long it ran.
    pub duration: Duration,
    /// The prompt template's git blob id.
    pub prompt_digest: String,
    /// The steps recorded, in order.
    pub steps: Vec<AgentStep>,
    /// What was removed from the agent's commit messages, one line each.
    pub warnings: Vec<String>,
}

/// The most bytes of one file shown in the prompt.
const MAX_FILE: usize = 16 * 1024;
/// The most bytes of all files shown in the prompt.
const MAX_FILES_TOTAL: usize = 96 * 1024;

#[derive(Serialize)]
struct PromptContext<'a> {
    flow: FlowView<'a>,
    branch: &'a str,
    step: u32,
    subtask: SubtaskView<'a>,
    plan: Vec<SubtaskView<'a>>,
    spec_text: String,
    questions: Vec<&'a crate::flow::Question>,
    files: Vec<FileView>,
    steps: Vec<StepView>,
    review: Option<&'a crate::flow::Review>,
    test_failure: Option<&'a TestRun>,
}

#[derive(Serialize)]
struct FlowView<'a> {
    slug: &'a str,
    title: &'a str,
    integration_branch: &'a str,
}

#[derive(Serialize)]
struct SubtaskView<'a> {
    id: &'a str,
    title: &'a str,
    description: &'a str,
    files: &'a [String],
    phase: &'static str,
    status: &'static str,
    depends_on: &'a [String],
}

impl<'a> SubtaskView<'a> {
    fn of(s: &'a Subtask) -> Self {
        SubtaskView {
            id: &s.id,
            title: &s.title,
            description: &s.description,
            files: &s.files,
            phase: crate::flow::plan::phase_name(s.phase),
            status: s.status.as_str(),
            depends_on: &s.depends_on,
        }
    }
}

#[derive(Serialize, Debug, PartialEq, Eq)]
struct FileView {
    path: String,
    exists: bool,
    content: String,
    truncated: bool,
    size: u64,
}

#[derive(Serialize)]
struct StepView {
    step: u32,
    commit: String,
    subject: String,
    files: Vec<String>,
}

/// Find where `found`'s branch is checked out and render the agent's prompt; nothing runs. When
/// the branch's tip has a failed test run on its tree, the prompt asks the agent to fix it.
pub fn prepare(repo: &gix::Repository, found: &Found) -> Result<Prepared, WorkError> {
    let red = red_tip(repo, found)?;
    prepare_with(repo, found, red.as_ref())
}

/// The failed test run recorded on the tip of `found`'s branch, on the tip's own tree.
fn red_tip(repo: &gix::Repository, found: &Found) -> Result<Option<TestRun>, WorkError> {
    let Some(tip) = crate::git::branch_tip(repo, &found.branch()) else {
        return Ok(None);
    };
    // A note that cannot be read hands the agent no failure; the gate still refuses the tip.
    let run = super::test::run_on(repo, tip).ok().flatten();
    Ok(run.filter(|(r, same)| *same && !r.passed()).map(|(r, _)| r))
}

/// [`prepare`], with the test run the agent is asked to fix (the prompt's `test_failure`).
fn prepare_with(
    repo: &gix::Repository,
    found: &Found,
    test_failure: Option<&TestRun>,
) -> Result<Prepared, WorkError> {
    let flow = found.flow().clone();
    let s = found.subtask().clone();
    lifecycle::may(Action::Step, &s)?;
    let branch = found.branch();
    let Some(dir) = checkout_of(repo, &branch) else {
        return Err(WorkError::refused(format!("{branch} is not checked out in any work tree"))
            .hint(format!(
                "switch to it (`git switch {branch}`), or give it a worktree: `git aiflow start {} --worktree`",
                s.id
            )));
    };
    let wrepo = crate::git::open(&dir)?;
    let integ = integration_tip(&wrepo, &found.entry)?;
    let before = branch_tip(&wrepo, &branch)
        .ok_or_else(|| WorkError::invalid(format!("the branch {branch} has no commits")))?;
    let step = steps_of(&wrepo, integ, before, &s.id).1 + 1;
    let context = PromptContext {
        flow: FlowView {
            slug: &flow.slug,
            title: &flow.title,
            integration_branch: &flow.integration_branch,
        },
        branch: &branch,
        step,
        subtask: SubtaskView::of(&s),
        plan: flow
            .current_plan()
            .map(|p| p.subtasks.iter().map(SubtaskView::of).collect())
            .unwrap_or_default(),
        spec_text: flow.spec.to_markdown(&flow.title).trim_end().to_string(),
        questions: flow.questions.iter().collect(),
        files: file_views(&dir, &s.files),
        steps: step_views(&wrepo, integ, before)?,
        review: flow
            .reviews
            .iter()
            .rev()
            .find(|r| r.subtask == s.id)
            .filter(|r| r.verdict == crate::flow::vocab::Verdict::ChangesRequested),
        test_failure,
    };
    let mut prompt = Templates::new(Some(&dir)).render("execute", &context)?;
    // A key pasted into a spec or answer reaches neither the agent nor the saved prompt.
    prompt.text = crate::ai::secrets::Redactor::current().redact_string(prompt.text);
    Ok(Prepared {
        flow,
        subtask: s,
        branch,
        dir,
        step,
        prompt,
        repo: wrepo,
        before,
    })
}

/// What `exec` did: the agent's first run, then one per fix attempt, each with the test run
/// on the steps it made.
#[derive(Debug)]
pub struct ExecRun {
    /// The runs, in order; the first is always there.
    pub attempts: Vec<Attempt>,
    /// The test command, when one applies and tests were not turned off.
    pub test: Option<TestCommand>,
    /// The subtask's own `test`, not run because no person accepted it.
    pub unaccepted: Option<crate::flow::plan::Unaccepted>,
    /// Why the fix attempts stopped before the test passed or they ran out: the agent changed
    /// nothing, or it failed. The steps and runs before are kept.
    pub stopped: Option<WorkError>,
}

/// One run of the agent and the test run on its last step.
#[derive(Debug)]
pub struct Attempt {
    /// What the agent's run recorded.
    pub executed: Executed,
    /// The test run on its last step (`None`: no test command).
    pub test: Option<TestRun>,
}

impl ExecRun {
    /// The last test run, which says whether the subtask is green.
    pub fn last_test(&self) -> Option<&TestRun> {
        self.attempts.last().and_then(|a| a.test.as_ref())
    }
}

/// Run the agent on `found` and record what it did as step commits on its branch, then run the
/// test command on the last step; while it fails and fix attempts remain, run the agent again
/// with the failure in its prompt. `io` hears when the agent starts and says where its output
/// goes. Refused, with nothing recorded, when the first run fails, changes nothing, leaves its
/// branch, rewrites its history, or changes what governs the review gate; a fix attempt that
/// does so ends the loop, with what came before kept.
pub fn exec(
    repo: &gix::Repository,
    found: &Found,
    options: &ExecOptions,
    io: &mut dyn AgentIo,
) -> Result<ExecRun, WorkError> {
    // The settings are read before the agent runs: a bad one stops here, with nothing done.
    // Resolved once: every attempt runs the same command.
    let integ = integration_tip(repo, &found.entry)?;
    let resolved = match options.no_test {
        true => None,
        false => Some(TestCommand::resolve(
            repo,
            Some(integ),
            &TestOptions::default(),
            Some((found.flow(), &found.subtask().id)),
        )?),
    };
    let (test, unaccepted) = match resolved {
        Some(r) => (r.command, r.unaccepted),
        None => (None, None),
    };
    let fix = match options.fix {
        Some(n) => n,
        None => fix_attempts(&repo.config_snapshot())?,
    };
    // A red tip is what the agent is asked to fix first.
    let red = red_tip(repo, found)?;
    let first = attempt(repo, found, options, io, red.as_ref())?;
    let mut run = ExecRun {
        attempts: Vec::new(),
        test,
        unaccepted,
        stopped: None,
    };
    let mut next = Some(first);
    while let Some((dir, executed)) = next.take() {
        io.recorded(&executed, run.attempts.len())?;
        let test = match &run.test {
            Some(command) => {
                let t = test_last_step(&dir, found, command, &executed)?;
                io.tested(command, &t)?;
                Some(t)
            }
            None => None,
        };
        let red = test.as_ref().filter(|t| !t.passed()).cloned();
        run.attempts.push(Attempt { executed, test });
        let Some(failure) = red else { break };
        if run.attempts.len() > fix as usize {
            break;
        }
        match attempt(repo, found, options, io, Some(&failure)) {
            Ok(more) => next = Some(more),
            Err(e) => run.stopped = Some(e),
        }
    }
    Ok(run)
}

/// `aiflow.fixAttempts`, else 0.
fn fix_attempts(cfg: &gix::config::Snapshot<'_>) -> Result<u32, WorkError> {
    match cfg.string("aiflow.fixAttempts") {
        None => Ok(0),
        Some(v) => v.to_string().trim().parse::<u32>().map_err(|_| {
            WorkError::invalid(format!("aiflow.fixAttempts = {v:?} is not a number"))
                .hint("set it to how many times the agent may try to fix a failing test, for example `git config aiflow.fixAttempts 2`")
        }),
    }
}

/// Run `command` on the last step `executed` recorded, in `dir`, and record the run there.
fn test_last_step(
    dir: &Path,
    found: &Found,
    command: &TestCommand,
    executed: &Executed,
) -> Result<TestRun, WorkError> {
    let last = executed
        .steps
        .last()
        .map(|s| s.commit)
        .ok_or_else(|| WorkError::invalid("the agent's run recorded no step"))?;
    super::test::test_step(&crate::git::open(dir)?, dir, found, command, last)
}

/// One run of the agent, recorded as steps; `failure` is the test run it is asked to fix.
fn attempt(
    repo: &gix::Repository,
    found: &Found,
    options: &ExecOptions,
    io: &mut dyn AgentIo,
    failure: Option<&TestRun>,
) -> Result<(PathBuf, Executed), WorkError> {
    let p = prepare_with(repo, found, failure)?;
    let agent = Agent::configured(&p.repo.config_snapshot(), options)?;
    if git::is_dirty(&p.dir)? {
        return Err(WorkError::refused(format!(
            "the work tree {} has uncommitted changes",
            p.dir.display()
        ))
        .hint("record them first with `git aiflow step -m MSG`, or stash them, so the agent's changes can be told apart"));
    }
    let files = RunFiles::new(repo, &p.flow.slug, &p.subtask.id)?;
    std::fs::write(&files.prompt, &p.prompt.text)?;
    let _ = std::fs::remove_file(&files.message);
    // What governs the gate, as it is before the agent runs: it must be so afterwards.
    let integration_ref = format!("refs/heads/{}", p.flow.integration_branch);
    let guard = Snapshot::capture(&p.repo, &[integration_ref]).map_err(|e| {
        WorkError::invalid(
            "could not take stock of what governs the review gate, so the agent was not run",
        )
        .because(e)
    })?;
    io.starting(&AgentStart {
        program: &agent.program,
        subtask: &p.subtask,
        dir: &p.dir,
    })?;
    let started = Instant::now();
    let status = run_agent(
        &agent.command,
        &p.dir,
        &p.prompt.text,
        &[
            ("AIFLOW_PROMPT_FILE", files.prompt.as_os_str()),
            ("AIFLOW_MESSAGE_FILE", files.message.as_os_str()),
            ("AIFLOW_FLOW", p.flow.slug.as_ref()),
            ("AIFLOW_SUBTASK", p.subtask.id.as_ref()),
            ("AIFLOW_STEP", p.step.to_string().as_ref()),
            ("AIFLOW_BRANCH", p.branch.as_ref()),
            ("AIFLOW_TEMPLATE", "execute".as_ref()),
            ("GIT_AUTHOR_NAME", agent.name.as_ref()),
            ("GIT_AUTHOR_EMAIL", agent.email.as_ref()),
        ],
        agent.timeout,
        io.sinks(),
    )?;
    let duration = started.elapsed();

    // Did it change the rules? Then nothing it did is recorded.
    let changes = guard.changes();
    if !changes.is_empty() {
        return Err(refuse_tampering(
            &guard, &changes, &p.branch, p.before, status,
        ));
    }
    let ran = Ran {
        agent,
        status,
        duration,
        files,
    };
    let dir = p.dir.clone();
    Ok((dir, record(found, p, ran)?))
}

/// The agent to run, from the options and the configuration.
struct Agent {
    /// The command, for `sh -c`.
    command: String,
    /// When to stop it.
    timeout: Duration,
    /// Its program name.
    program: String,
    /// Its author name.
    name: String,
    /// Its author email.
    email: String,
}

impl Agent {
    /// The agent `options` name, else the configured one (`aiflow.agent`, `aiflow.agentTimeout`,
    /// `aiflow.agentName`, `aiflow.agentEmail`).
    fn configured(
        cfg: &gix::config::Snapshot<'_>,
        options: &ExecOptions,
    ) -> Result<Agent, WorkError> {
        let command = match options
            .agent
            .clone()
            .or_else(|| cfg.string("aiflow.agent").map(|v| v.to_string()))
        {
            Some(a) if !a.trim().is_empty() => a,
            _ => {
                return Err(WorkError::invalid("no agent is configured").hint(
                    "set one: `git config aiflow.agent 'claude -p'` (or codex exec -, or aider --yes-always --message-file \"$AIFLOW_PROMPT_FILE\"), or pass --agent; the prompt is on its stdin and in $AIFLOW_PROMPT_FILE",
                ));
            }
        };
        let timeout = Duration::from_secs(
            options
                .timeout
                .or_else(|| {
                    cfg.integer("aiflow.agentTimeout")
                        .and_then(|v| u64::try_from(v).ok())
                })
                .filter(|&t| t > 0)
                .unwrap_or(3600),
        );
        let setting = |key: &str| {
            cfg.string(key)
                .map(|v| v.to_string())
                .filter(|v| !v.trim().is_empty())
        };
        let program = crate::ai::command::program_name(&command);
        let name = setting("aiflow.agentName").unwrap_or_else(|| program.clone());
        let email = setting("aiflow.agentEmail")
            .unwrap_or_else(|| format!("{}@agent.invalid", email_local(&name)));
        if name.contains(['<', '>', '\n']) || email.contains(['<', '>', '\n', ' ']) {
            return Err(WorkError::invalid(format!(
                "the agent identity `{name} <{email}>` is not usable in a commit"
            ))
            .hint("fix aiflow.agentName and aiflow.agentEmail"));
        }
        Ok(Agent {
            command,
            timeout,
            program,
            name,
            email,
        })
    }

    /// `Name <email>`.
    fn identity(&self) -> String {
        format!("{} <{}>", self.name, self.email)
    }
}

/// The files an agent run shares with the agent, in `<common dir>/aiflow/`.
struct RunFiles {
    /// The prompt (`$AIFLOW_PROMPT_FILE`).
    prompt: PathBuf,
    /// Where the agent may leave a commit message (`$AIFLOW_MESSAGE_FILE`).
    message: PathBuf,
}

impl RunFiles {
    fn new(repo: &gix::Repository, slug: &str, id: &str) -> Result<RunFiles, WorkError> {
        let common = repo.common_dir();
        let aiflow_dir = std::fs::canonicalize(common)
            .unwrap_or_else(|_| common.to_owned())
            .join("aiflow");
        std::fs::create_dir_all(&aiflow_dir)?;
        Ok(RunFiles {
            prompt: aiflow_dir.join(format!("PROMPT-{slug}-{id}-execute.md")),
            message: aiflow_dir.join(format!("MESSAGE-{slug}-{id}.txt")),
        })
    }
}

/// How the agent's run went.
struct Ran {
    agent: Agent,
    /// Its exit code (`None`: killed or timed out).
    status: Option<i32>,
    duration: Duration,
    files: RunFiles,
}

impl Ran {
    /// The refusal when the agent did not exit 0.
    fn failure(&self, branch: &str) -> WorkError {
        let how = match self.status {
            Some(c) => format!("exit status {c}"),
            None if self.duration >= self.agent.timeout => {
                format!("stopped after {} s", self.agent.timeout.as_secs())
            }
            None => "killed by a signal".to_string(),
        };
        WorkError::refused(format!(
            "the agent failed ({how}); {branch} is left where it was",
        ))
        .hint("its changes, if any, are in the work tree: look with `git status`, keep them with `git aiflow step -m MSG`, or drop them with `git restore --staged --worktree . && git clean -fd`")
        .hint(format!("the prompt is in {}", self.files.prompt.display()))
    }
}

/// After a run that left the rules alone: check what the agent did, and record it.
fn record(found: &Found, p: Prepared, ran: Ran) -> Result<Executed, WorkError> {
    let (dir, branch, before) = (&p.dir, &p.branch, p.before);
    let wrepo = crate::git::open(dir)?;
    if current_branch(&wrepo).as_deref() != Some(branch.as_str()) {
        return Err(WorkError::refused(format!(
            "the agent left {} on {} instead of {branch}; nothing was recorded",
            dir.display(),
            current_branch(&wrepo).unwrap_or_else(|| "a detached HEAD".into())
        ))
        .hint(format!(
            "switch back with `git switch {branch}`; the branch is at {before}"
        )));
    }
    let after = branch_tip(&wrepo, branch).unwrap_or(before);
    let moved = after != before;
    if ran.status != Some(0) {
        if moved {
            git::checked(
                dir,
                &["reset", "--soft", "--quiet", &before.to_string()],
                &[],
                None,
            )?;
        }
        return Err(ran.failure(branch));
    }
    if moved && !crate::git::is_ancestor(&wrepo, before, after) {
        return Err(WorkError::refused(format!(
            "the agent rewrote the history of {branch}; nothing was recorded"
        ))
        .hint(format!(
            "the branch was at {before}; inspect with `git log {before}..{branch}`, and restore it with `git reset --soft {before}` if you want"
        )));
    }
    let dirty = git::is_dirty(dir)?;
    if !moved && !dirty {
        return Err(WorkError::refused(format!(
            "the agent changed nothing; {branch} is unchanged"
        ))
        .hint(format!("the prompt is in {}", ran.files.prompt.display())));
    }
    let mut rec = Recorder::new(&wrepo, found, &p, &ran)?;
    if moved {
        rec.agent_commits(&wrepo, before, after)?;
    }
    if dirty {
        rec.leftover(dir)?;
    }
    let _ = std::fs::remove_file(&ran.files.message);
    let (steps, warnings) = (rec.steps, rec.warnings);
    Ok(Executed {
        flow: p.flow.slug,
        subtask: p.subtask.id,
        branch: p.branch,
        identity: ran.agent.identity(),
        program: ran.agent.program,
        exit_code: ran.status.unwrap_or(-1),
        duration: ran.duration,
        prompt_digest: p.prompt.digest,
        steps,
        warnings,
    })
}

/// Records the steps of a successful run, numbering them on from the prepared step.
struct Recorder<'r> {
    p: &'r Prepared,
    ran: &'r Ran,
    /// The trailers removed from what the agent wrote.
    strip: Vec<String>,
    rules: trailers::Rules,
    stamp: Stamp,
    next_step: u32,
    steps: Vec<AgentStep>,
    warnings: Vec<String>,
}

impl<'r> Recorder<'r> {
    fn new(
        wrepo: &gix::Repository,
        found: &Found,
        p: &'r Prepared,
        ran: &'r Ran,
    ) -> Result<Self, WorkError> {
        let integ_now = integration_tip(wrepo, &found.entry)?;
        let mut strip = review_keys(wrepo, Some(integ_now));
        strip.extend(STEP_KEYS.iter().map(|k| k.to_string()));
        strip.push("Assisted-by".into());
        Ok(Recorder {
            p,
            ran,
            strip,
            rules: trailers::Rules::from_config(&wrepo.config_snapshot()),
            stamp: crate::git::committer_stamp(wrepo)?,
            next_step: p.step,
            steps: Vec::new(),
            warnings: Vec::new(),
        })
    }

    /// The step note of step `step`.
    fn note(&self, step: u32, agent_commit: bool, stripped: Vec<String>) -> StepNote {
        StepNote {
            agent: Some(self.ran.agent.program.clone()),
            agent_identity: Some(self.ran.agent.identity()),
            prompt_digest: Some(self.p.prompt.digest.clone()),
            prompt_template: Some(self.p.prompt.origin.clone()),
            duration_ms: Some(self.ran.duration.as_millis() as u64),
            exit_code: Some(self.ran.status.unwrap_or(-1)),
            agent_commit,
            stripped,
            ..StepNote::new(
                &self.p.flow.slug,
                &self.p.subtask.id,
                step,
                crate::flow::vocab::StepAuthor::Agent,
                &self.stamp,
            )
        }
    }

    /// `message` cleaned and without the trailers the agent may not write; and what was removed.
    fn clean(&self, message: &[u8]) -> (Vec<u8>, Vec<String>) {
        let strip: Vec<&str> = self.strip.iter().map(String::as_str).collect();
        trailers::strip_keys(&agent_text(message), &strip)
    }

    /// The agent's own commits `before..after`: kept, given the step trailers, cleaned of forged
    /// ones, and recorded with the branch move in one notes commit.
    fn agent_commits(
        &mut self,
        wrepo: &gix::Repository,
        before: ObjectId,
        after: ObjectId,
    ) -> Result<(), WorkError> {
        let (slug, id) = (&self.p.flow.slug, &self.p.subtask.id);
        let identity = self.ran.agent.identity();
        let ids = rewrite::range(wrepo, Some(before), after)?;
        let committer = rewrite::committer(wrepo)?;
        let sign = signing(wrepo)?;
        let mut stripped_per: Vec<Vec<String>> = Vec::new();
        let first = self.next_step;
        let rewritten = rewrite::reword(wrepo, &ids, &committer, sign.as_ref(), |i, _, c| {
            let (clean, removed) = self.clean(&c.message);
            stripped_per.push(removed);
            Some(with_step_trailers(
                &clean,
                slug,
                id,
                first + i as u32,
                Some(&identity),
                &self.rules,
            ))
        })?;
        let mut steps = Vec::new();
        for (i, (old, new)) in rewritten.commits.iter().enumerate() {
            let removed = stripped_per.get(i).cloned().unwrap_or_default();
            for r in &removed {
                self.warnings.push(format!(
                    "removed `{r}` from the agent's commit {}",
                    old.to_hex_with_len(7)
                ));
            }
            steps.push(AgentStep {
                commit: *new,
                note: self.note(self.next_step, true, removed),
            });
            self.next_step += 1;
        }
        let edit = branch_edit(
            &self.p.branch,
            Some(after),
            rewritten.tip,
            format!("aiflow exec: step trailers on the agent's commits of {id}"),
        )?;
        let notes: Vec<(ObjectId, Option<Vec<u8>>)> = steps
            .iter()
            .map(|s| (s.commit, Some(s.note.to_toml().into_bytes())))
            .collect();
        crate::store::update_flow_with(
            wrepo,
            slug,
            &format!("aiflow: agent steps of {id} in {slug}"),
            &self.stamp,
            |flow, _| -> Result<Option<Change>, WorkError> {
                lifecycle::apply(flow, id, Action::Step);
                Ok(Some(Change {
                    notes: notes.clone(),
                    refs: vec![edit.clone()],
                }))
            },
        )?;
        self.steps.extend(steps);
        Ok(())
    }

    /// What the agent left in the work tree `dir`: one more step, authored by the agent, with the
    /// message it left in the message file (else `<title> (step N)`).
    fn leftover(&mut self, dir: &Path) -> Result<(), WorkError> {
        let (slug, s) = (&self.p.flow.slug, &self.p.subtask);
        let branch = &self.p.branch;
        let fallback = || format!("{} (step {})\n", s.title, self.next_step).into_bytes();
        let (text, removed) = match std::fs::read(&self.ran.files.message) {
            Ok(bytes) if !String::from_utf8_lossy(&bytes).trim().is_empty() => self.clean(&bytes),
            _ => (fallback(), Vec::new()),
        };
        let text = if String::from_utf8_lossy(&text).trim().is_empty() {
            fallback()
        } else {
            text
        };
        for r in &removed {
            self.warnings
                .push(format!("removed `{r}` from the agent's commit message"));
        }
        let identity = self.ran.agent.identity();
        let msg = with_step_trailers(
            &text,
            slug,
            &s.id,
            self.next_step,
            Some(&identity),
            &self.rules,
        );
        let author = [
            ("GIT_AUTHOR_NAME", self.ran.agent.name.as_str()),
            ("GIT_AUTHOR_EMAIL", self.ran.agent.email.as_str()),
        ];
        if let Err(said) = commit_all(dir, &msg, &author)? {
            return Err(WorkError::refused("git did not commit the agent's changes")
                .because(said)
                .hint("they are staged in the work tree; fix what git or a hook reported, then `git aiflow step -m MSG`"));
        }
        let wrepo = crate::git::open(dir)?;
        let commit = branch_tip(&wrepo, branch).ok_or_else(|| {
            WorkError::refused(format!(
                "git committed the agent's changes, but branch {branch} is gone (deleted by a hook?)"
            ))
            .hint(format!(
                "look at `git reflog {branch}` and the hooks; the step was not recorded"
            ))
        })?;
        let note = self.note(self.next_step, false, removed);
        record_steps(&wrepo, slug, &s.id, &self.stamp, &[(commit, note.clone())])?;
        self.steps.push(AgentStep { commit, note });
        Ok(())
    }
}

/// The refusal when the agent changed what governs the gate: put back what can be put back
/// (the repository's config files, hooks and refs), move the subtask branch back to `before`
/// (its changes stay in the work tree, as after `git reset --soft`), and name each change.
fn refuse_tampering(
    guard: &Snapshot,
    changes: &[guard::Change],
    branch: &str,
    before: ObjectId,
    status: Option<i32>,
) -> WorkError {
    let report = guard.restore(changes);
    let mut message =
        String::from("the agent changed what governs the review gate; nothing was recorded");
    for change in &report.restored {
        message.push_str(&format!("\n  {change}: restored"));
    }
    for u in &report.unrestored {
        message.push_str(&format!("\n  {}: NOT restored: {}", u.change, u.why));
    }
    let back = match guard.put_ref_back(&format!("refs/heads/{branch}"), before) {
        Ok(true) => format!(
            "{branch} is back at {}; the agent's changes, if any, are in the work tree: look with `git status`",
            before.to_hex_with_len(7)
        ),
        Ok(false) => format!(
            "{branch} is where it was; the agent's changes, if any, are in the work tree: look with `git status`"
        ),
        Err(e) => format!(
            "{branch} could not be moved back ({e}); it was at {before}: `git reset --soft {before}` in its work tree"
        ),
    };
    let mut err = WorkError::refused(message).hint(back);
    if status != Some(0) {
        err = err.hint(match status {
            Some(c) => format!("the agent also failed (exit status {c})"),
            None => "the agent was also stopped (timed out or killed)".to_string(),
        });
    }
    if !report.unrestored.is_empty() {
        err = err.hint("undo what was not restored by hand before running exec again: the next exec takes the state it finds as the rules");
    }
    err.hint("an agent runs with your rights: also check what it may have changed elsewhere (global config, other repositories, your shell's startup files)")
}

/// A commit message the agent wrote, without terminal control sequences, bidi controls and the
/// like (it is model output, shown later in `git log` and `review`). A message that is not UTF-8
/// is kept as it is: it may be in another encoding git records.
fn agent_text(message: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(message) {
        Ok(text) => crate::ai::sanitize::clean(text).into_owned().into_bytes(),
        Err(_) => message.to_vec(),
    }
}

/// The local part of an email made from a name: lower-case letters, digits, `.`, `_`, `-`.
fn email_local(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches(['-', '.']).to_string();
    if s.is_empty() { "agent".into() } else { s }
}

/// Run the agent with `sh -c` in `dir`, the prompt on stdin, its output to `sinks` (stdout,
/// stderr). Returns its exit code (`None`: killed by a signal or at the time limit).
fn run_agent<'s>(
    agent: &str,
    dir: &Path,
    prompt: &str,
    env: &[(&str, &std::ffi::OsStr)],
    timeout: Duration,
    (stdout, stderr): (Sink<'s>, Sink<'s>),
) -> Result<Option<i32>, WorkError> {
    // Scripts and CI see that a long run is alive; a terminal sees the agent's own output.
    let _progress = crate::ai::Spinner::lines_only(format!("exec: the agent `{agent}` is running"));
    let ran = Process::shell(agent, &[], format!("the agent `{agent}`"))
        .dir(dir)
        .envs(env.iter().copied())
        .stdin(Input::Bytes(prompt.as_bytes().to_vec()))
        .stdout(stdout)
        .stderr(stderr)
        .timeout(Some(timeout))
        .run();
    match ran {
        Ok(done) => Ok(done.code()),
        Err(ProcessError::TimedOut { .. }) => Ok(None),
        Err(ProcessError::Start { source, .. }) => Err(WorkError::invalid(format!(
            "could not start the agent `{agent}`"
        ))
        .because(source)
        .hint("check aiflow.agent; it runs with `sh -c` in the subtask's work tree")),
        Err(ProcessError::Wait { source, .. }) => Err(WorkError::from(source)),
    }
}

/// The steps already on the branch, oldest first, for the prompt.
fn step_views(
    repo: &gix::Repository,
    integ: ObjectId,
    tip: ObjectId,
) -> Result<Vec<StepView>, WorkError> {
    let ids = rewrite::range(repo, Some(integ), tip)?;
    let rules = trailers::Rules::from_config(&repo.config_snapshot());
    let mut out = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let Ok(c) = repo.find_commit(*id) else {
            continue;
        };
        let raw = c.message_raw_sloppy().to_vec();
        let subject =
            String::from_utf8_lossy(raw.split(|&b| b == b'\n').next().unwrap_or_default())
                .trim()
                .to_owned();
        let step = trailers::parse_commit(&raw, &rules)
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(b"Aiflow-Step"))
            .and_then(|(_, v)| std::str::from_utf8(v).ok()?.trim().parse().ok())
            .unwrap_or(i as u32 + 1);
        out.push(StepView {
            step,
            commit: id.to_string(),
            subject,
            files: changed_files(repo, *id),
        });
    }
    Ok(out)
}

/// The paths a commit changes against its first parent.
fn changed_files(repo: &gix::Repository, id: ObjectId) -> Vec<String> {
    let Ok(c) = repo.find_commit(id) else {
        return Vec::new();
    };
    let Ok(tree) = c.tree() else {
        return Vec::new();
    };
    let parent_tree = c
        .parent_ids()
        .next()
        .and_then(|p| p.object().ok())
        .and_then(|o| o.try_into_commit().ok())
        .and_then(|pc| pc.tree().ok());
    let Ok(changes) = repo.diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), None) else {
        return Vec::new();
    };
    let mut out: Vec<String> = changes
        .iter()
        .filter(|ch| !ch.entry_mode().is_tree())
        .map(|ch| ch.location().to_string())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The subtask's files as they are in the work tree, within the prompt's size limits.
fn file_views(dir: &Path, files: &[String]) -> Vec<FileView> {
    let mut total = 0usize;
    files
        .iter()
        .map(|f| {
            let path: PathBuf = dir.join(f);
            match std::fs::read(&path) {
                Ok(bytes) => {
                    let size = bytes.len() as u64;
                    let room = MAX_FILE.min(MAX_FILES_TOTAL.saturating_sub(total));
                    let binary = bytes.iter().take(8000).any(|&b| b == 0);
                    let shown = if binary { 0 } else { bytes.len().min(room) };
                    total += shown;
                    let mut content = String::from_utf8_lossy(&bytes[..shown]).into_owned();
                    if binary {
                        content = "(binary file)".into();
                    }
                    FileView {
                        path: f.clone(),
                        exists: true,
                        truncated: !binary && shown < bytes.len(),
                        content,
                        size,
                    }
                }
                Err(_) => FileView {
                    path: f.clone(),
                    exists: false,
                    content: String::new(),
                    truncated: false,
                    size: 0,
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_local_part_is_made_of_safe_characters() {
        assert_eq!(email_local("Claude Code"), "claude-code");
        assert_eq!(email_local("codex"), "codex");
        assert_eq!(email_local("..Ünïcode.."), "n-code");
        assert_eq!(email_local("<>"), "agent");
    }

    #[test]
    fn agent_text_is_cleaned_unless_it_is_not_utf8() {
        assert_eq!(agent_text(b"Fix it\n"), b"Fix it\n".to_vec());
        assert!(!agent_text(b"Fix \x1b[31mit\n").contains(&0x1b));
        assert_eq!(agent_text(b"caf\xe9\n"), b"caf\xe9\n".to_vec());
    }

    #[test]
    fn file_views_show_text_within_the_limits_and_no_binary() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "hello").unwrap();
        std::fs::write(dir.path().join("big.txt"), vec![b'x'; MAX_FILE + 10]).unwrap();
        std::fs::write(dir.path().join("bin"), b"a\0b").unwrap();
        let names = ["a.txt", "big.txt", "bin", "gone"].map(String::from);
        let v = file_views(dir.path(), &names);
        assert_eq!(v[0].content, "hello");
        assert!(!v[0].truncated && v[0].exists && v[0].size == 5);
        assert_eq!(v[1].content.len(), MAX_FILE);
        assert!(v[1].truncated);
        assert_eq!(v[2].content, "(binary file)");
        assert!(!v[2].truncated);
        assert!(!v[3].exists && v[3].content.is_empty());
    }
}
