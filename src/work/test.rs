//! The test command: which one applies, running it on a subtask's work tree, and recording the
//! run in the note of the step whose tree it ran on (`[test]`).
//!
//! The command is the user's own: `--command`, a subtask's own `test` in the plan once a person
//! has accepted it (a model may propose one, which never runs on the model's word alone), else
//! `aiflow.test`, else `[test] command` in the policy file of the integration branch, which is
//! reviewed like any code. It runs with `sh -c` in the work tree where the subtask is checked
//! out, in a process group of its own so that a hung suite and everything it started are killed
//! at the time limit.

use super::{Found, WorkError, integration_tip};
use crate::flow::plan::{Unaccepted, accepted_test};
use crate::flow::{Flow, StepNote, TestRun};
use crate::gate::Policy;
use crate::git::process::{Input, Process, ProcessError, Sink};
use crate::git::{Stamp, branch_tip, checkout_of};
use crate::store::Change;
use gix::ObjectId;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The time limit when none is configured: 30 minutes.
pub const DEFAULT_TIMEOUT: u64 = 1800;

/// Which test command to run, from the command line (`None`: the configured one).
#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    /// The command, for `sh -c`.
    pub command: Option<String>,
    /// Its time limit in seconds.
    pub timeout: Option<u64>,
}

/// The test command that applies, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCommand {
    /// The command, for `sh -c`.
    pub command: String,
    /// Its time limit.
    pub timeout: Duration,
    /// Where it came from: `--command`, `plan (subtask a1)`, `aiflow.test`, or the policy file
    /// and its commit.
    pub origin: String,
}

/// The test command that applies, and a subtask's own command passed over for want of a person's
/// acceptance.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// The command to run (`None`: none applies).
    pub command: Option<TestCommand>,
    /// The subtask's `test`, proposed by the model and not accepted by a person, which did not
    /// win for that reason: the caller tells the user once.
    pub unaccepted: Option<Unaccepted>,
}

impl TestCommand {
    /// The command `options` give, else the `test` of subtask `subtask` (its flow and id) once a
    /// person has accepted it ([`accepted_test`]), else `aiflow.test` from git config, else
    /// `[test] command` of the policy file at the integration tip; no command when there is
    /// none. A `test` only the model proposed does not run: it is returned in `unaccepted`
    /// unless `--command` would have won anyway. The time limit comes the same way
    /// (`aiflow.testTimeout`, `[test] timeout`), else [`DEFAULT_TIMEOUT`].
    pub fn resolve(
        repo: &gix::Repository,
        integration_tip: Option<ObjectId>,
        options: &TestOptions,
        subtask: Option<(&Flow, &str)>,
    ) -> Result<Resolved, WorkError> {
        let (own, mut unaccepted) = match subtask {
            None => (None, None),
            Some((flow, id)) => match accepted_test(flow, id) {
                Ok(test) => (test.map(|t| (t.to_owned(), id)), None),
                Err(u) => (None, Some(u)),
            },
        };
        let cfg = repo.config_snapshot();
        let policy = Policy::load(repo, integration_tip).map_err(|e| {
            WorkError::invalid("cannot read the policy, which may name the test command").because(e)
        })?;
        let configured = cfg
            .string("aiflow.test")
            .map(|v| v.to_string())
            .filter(|v| !v.trim().is_empty());
        let (command, origin) = match (&options.command, own, configured, &policy.test_command) {
            (Some(c), _, _, _) if !c.trim().is_empty() => {
                // The subtask's own command would not have run either: nothing to tell.
                unaccepted = None;
                (c.clone(), "--command".to_owned())
            }
            (Some(_), _, _, _) => {
                return Err(WorkError::invalid("the test command is empty")
                    .hint("give a command for `sh -c`, for example --command 'cargo test'"));
            }
            (None, Some((c, id)), _, _) => (c, format!("plan (subtask {id})")),
            (None, None, Some(c), _) => (c, "aiflow.test".to_owned()),
            (None, None, None, Some(c)) => {
                (c.clone(), format!("[test] command of {}", policy.source))
            }
            (None, None, None, None) => {
                return Ok(Resolved {
                    command: None,
                    unaccepted,
                });
            }
        };
        let from_config = match cfg.string("aiflow.testTimeout") {
            None => None,
            Some(v) => Some(v.to_string().trim().parse::<u64>().ok().filter(|&t| t > 0).ok_or_else(
                || {
                    WorkError::invalid(format!("aiflow.testTimeout = {v:?} is not a number of seconds"))
                        .hint("set it to a whole number of seconds above 0, for example `git config aiflow.testTimeout 600`")
                },
            )?),
        };
        let seconds = options
            .timeout
            .filter(|&t| t > 0)
            .or(from_config)
            .or(policy.test_timeout)
            .unwrap_or(DEFAULT_TIMEOUT);
        Ok(Resolved {
            command: Some(TestCommand {
                command,
                timeout: Duration::from_secs(seconds),
                origin,
            }),
            unaccepted,
        })
    }
}

/// Where a run happens and what it is about.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// The work tree.
    pub dir: &'a Path,
    /// The flow's slug.
    pub flow: &'a str,
    /// The subtask's id.
    pub subtask: &'a str,
    /// The tree it runs on.
    pub tree: ObjectId,
}

/// Run `test` on `target` and describe the run; `stamp` says who and when. A command that fails,
/// hangs or is killed is a run like any other; only a shell that cannot start is an error.
pub fn run(test: &TestCommand, target: &Target<'_>, stamp: &Stamp) -> Result<TestRun, WorkError> {
    let mut tail = Tail::new(TestRun::OUTPUT_LIMIT);
    let started = Instant::now();
    let ran = Process::shell(
        &test.command,
        &[],
        format!("the test command `{}`", test.command),
    )
    .dir(target.dir)
    // It runs in the work tree it is given, whatever repository the caller named.
    .env_remove("GIT_DIR")
    .env_remove("GIT_WORK_TREE")
    .env_remove("GIT_INDEX_FILE")
    .env_remove("GIT_COMMON_DIR")
    .env_remove("GIT_PREFIX")
    .env("AIFLOW_FLOW", target.flow)
    .env("AIFLOW_SUBTASK", target.subtask)
    .env("AIFLOW_TREE", target.tree.to_string())
    .stdin(Input::Null)
    .stdout(Sink::Forward(&mut tail))
    .stderr(Sink::AsStdout)
    .timeout(Some(test.timeout))
    .own_group()
    .run();
    let duration = started.elapsed();
    let (exit, timed_out) = match ran {
        Ok(done) => (done.code(), false),
        Err(ProcessError::TimedOut { .. }) => (None, true),
        Err(ProcessError::Start { source, .. }) => {
            return Err(WorkError::invalid("could not start the test command")
                .because(source)
                .hint("it runs with `sh -c` in the subtask's work tree"));
        }
        Err(ProcessError::Wait { source, .. }) => return Err(WorkError::from(source)),
    };
    let redactor = crate::ai::secrets::Redactor::current();
    Ok(TestRun {
        command: redactor.redact_string(test.command.clone()),
        exit,
        timed_out,
        tree: target.tree.to_string(),
        at: stamp.at.clone(),
        by: stamp.who.clone(),
        duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        output: redactor.redact_string(tail.text()),
        extra: Default::default(),
    })
}

/// The last bytes written to it, whole lines where it can.
struct Tail {
    limit: usize,
    buf: Vec<u8>,
}

impl Tail {
    fn new(limit: usize) -> Tail {
        Tail {
            limit,
            buf: Vec::new(),
        }
    }

    /// The tail as text: cut at a line start when the output was longer than the limit.
    fn text(&self) -> String {
        let start = self.buf.len().saturating_sub(self.limit);
        let mut bytes = &self.buf[start..];
        if start > 0
            && self.buf[start - 1] != b'\n'
            && let Some(nl) = bytes.iter().position(|&b| b == b'\n')
            && nl + 1 < bytes.len()
        {
            bytes = &bytes[nl + 1..];
        }
        String::from_utf8_lossy(bytes).into_owned()
    }
}

impl std::io::Write for Tail {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() > 2 * self.limit {
            let cut = self.buf.len() - self.limit;
            self.buf.drain(..cut);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A run of `git aiflow test`: what ran, and whether it could be recorded.
#[derive(Debug, Clone)]
pub struct Tested {
    /// The flow's slug.
    pub flow: String,
    /// The subtask's id.
    pub subtask: String,
    /// The work tree it ran in.
    pub dir: PathBuf,
    /// The commit whose tree it ran on.
    pub commit: ObjectId,
    /// The command and where it came from.
    pub command: TestCommand,
    /// The subtask's own `test`, passed over because no person accepted it.
    pub unaccepted: Option<Unaccepted>,
    /// The run.
    pub run: TestRun,
    /// The step whose note holds the run (`None`: not recorded, see `unrecorded`).
    pub step: Option<u32>,
    /// Why the run was not recorded.
    pub unrecorded: Option<String>,
}

/// Run the test command on the checked-out tip of `found`'s branch, and record the run in the
/// note of that step. Refused when no command is configured, when the branch is not checked out,
/// or when its work tree has changes that are not committed (the run would be bound to no tree).
pub fn test(
    repo: &gix::Repository,
    found: &Found,
    options: &TestOptions,
) -> Result<Tested, WorkError> {
    let branch = found.branch();
    let (dir, wrepo) = checked_out(
        repo,
        &branch,
        &format!(
            "switch to it (`git switch {branch}`), or give it a worktree: `git aiflow start {} --worktree`",
            found.subtask().id
        ),
    )?;
    let integ = integration_tip(&wrepo, &found.entry)?;
    let (slug, id) = (&found.flow().slug, &found.subtask().id);
    let resolved = TestCommand::resolve(&wrepo, Some(integ), options, Some((found.flow(), id)))?;
    let Some(command) = resolved.command else {
        return Err(no_command(resolved.unaccepted.as_ref()));
    };
    clean(
        &dir,
        "record them with `git aiflow step -m MSG`, which runs the test on the new step",
    )?;
    let tip = branch_tip(&wrepo, &branch)
        .ok_or_else(|| WorkError::invalid(format!("the branch {branch} has no commits")))?;
    let stamp = crate::git::committer_stamp(&wrepo)?;
    let tree = tree_of(&wrepo, tip)?;
    let run = run(
        &command,
        &Target {
            dir: &dir,
            flow: slug,
            subtask: id,
            tree,
        },
        &stamp,
    )?;
    let recorded = record(&wrepo, slug, id, tip, &run)?;
    let (step, unrecorded) = match recorded {
        Ok(step) => (Some(step), None),
        Err(why) => (None, Some(why)),
    };
    Ok(Tested {
        flow: slug.clone(),
        subtask: id.clone(),
        dir,
        commit: tip,
        command,
        unaccepted: resolved.unaccepted,
        run,
        step,
        unrecorded,
    })
}

/// The work tree where `branch` is checked out, and its repository; refused (with `how` to
/// check it out) when there is none.
fn checked_out(
    repo: &gix::Repository,
    branch: &str,
    how: &str,
) -> Result<(PathBuf, gix::Repository), WorkError> {
    let Some(dir) = checkout_of(repo, branch) else {
        return Err(
            WorkError::refused(format!("{branch} is not checked out in any work tree"))
                .hint(how.to_owned()),
        );
    };
    let wrepo = crate::git::open(&dir)?;
    Ok((dir, wrepo))
}

/// Refuse a work tree with changes that are not committed, which a run could not be bound to;
/// `how` says what to do with them.
fn clean(dir: &Path, how: &str) -> Result<(), WorkError> {
    if crate::git::cli::is_dirty(dir)? {
        return Err(WorkError::refused(format!(
            "the work tree {} has changes that are not committed; a run would be bound to no commit",
            dir.display()
        ))
        .hint(how.to_owned()));
    }
    Ok(())
}

/// The refusal when no test command is configured; `unaccepted`: the subtask's own, which a
/// person has yet to accept.
pub fn no_command(unaccepted: Option<&Unaccepted>) -> WorkError {
    let e = WorkError::invalid("no test command is configured");
    let e = match unaccepted {
        Some(u) => e.hint(u.to_string()),
        None => e,
    };
    e.hint(
        "set one: `git config aiflow.test 'cargo test'`, or `[test] command = \"make check\"` in .aiflow.toml on the integration branch, or pass --command",
    )
}

/// Run `command` on step `commit` of `found`'s subtask, checked out in `dir` (`repo` is its
/// repository), and record the run in the step's note, just written by the caller.
pub fn test_step(
    repo: &gix::Repository,
    dir: &Path,
    found: &Found,
    command: &TestCommand,
    commit: ObjectId,
) -> Result<TestRun, WorkError> {
    let (slug, id) = (&found.flow().slug, &found.subtask().id);
    let stamp = crate::git::committer_stamp(repo)?;
    let target = Target {
        dir,
        flow: slug,
        subtask: id,
        tree: tree_of(repo, commit)?,
    };
    let run = run(command, &target, &stamp)?;
    let _ = record(repo, slug, id, commit, &run)?;
    Ok(run)
}

/// The tree of `commit`.
pub fn tree_of(repo: &gix::Repository, commit: ObjectId) -> Result<ObjectId, WorkError> {
    repo.find_commit(commit)
        .and_then(|c| c.tree_id().map(|t| t.detach()))
        .map_err(|e| WorkError::invalid(format!("cannot read the tree of {commit}")).because(e))
}

/// Put `run` into the note of step commit `commit` of subtask `id`, replacing the run recorded
/// there before. `Ok(Err(why))` when `commit` is not a step of the subtask, so there is no note
/// to hold the run.
pub fn record(
    repo: &gix::Repository,
    slug: &str,
    id: &str,
    commit: ObjectId,
    run: &TestRun,
) -> Result<Result<u32, String>, WorkError> {
    let mut outcome = Err(String::new());
    crate::store::update(
        repo,
        &format!("aiflow: test run on {id} in {slug}"),
        |snap| -> Result<Change, WorkError> {
            let short = commit.to_hex_with_len(7);
            let note = snap
                .note_bytes(repo, &commit)?
                .and_then(|bytes| StepNote::parse(&String::from_utf8_lossy(&bytes)).ok())
                .filter(|n| n.flow == slug && n.subtask == id);
            let Some(mut note) = note else {
                outcome = Err(format!(
                    "{short} is not a step of {id}, so no step note can hold the run"
                ));
                return Ok(Change::default());
            };
            outcome = Ok(note.step);
            note.test = Some(run.clone());
            Ok(Change {
                notes: vec![(commit, Some(note.to_toml().into_bytes()))],
                refs: vec![],
            })
        },
    )?;
    Ok(outcome)
}

/// Put `run` into a test note (`kind = "test"`) on `commit`, a commit of flow `slug` that is
/// not a step (its integration branch's tip). `Ok(Err(why))` when the commit holds another
/// document (the flow itself, on its anchor), which the run must not replace.
pub fn record_on_commit(
    repo: &gix::Repository,
    slug: &str,
    commit: ObjectId,
    run: &TestRun,
) -> Result<Result<(), String>, WorkError> {
    let mut outcome = Ok(());
    crate::store::update(
        repo,
        &format!("aiflow: test run on the integration branch of {slug}"),
        |snap| -> Result<Change, WorkError> {
            if let Some(bytes) = snap.note_bytes(repo, &commit)?
                && !String::from_utf8_lossy(&bytes).contains("kind = \"test\"")
            {
                outcome = Err(format!(
                    "{} holds another note of git-aiflow's, which a test run must not replace",
                    commit.to_hex_with_len(7)
                ));
                return Ok(Change::default());
            }
            outcome = Ok(());
            let note = crate::flow::TestNote {
                schema: crate::flow::SCHEMA,
                kind: crate::flow::DocKind::Test,
                flow: slug.to_owned(),
                test: run.clone(),
                extra: Default::default(),
            };
            Ok(Change {
                notes: vec![(commit, Some(note.to_toml().into_bytes()))],
                refs: vec![],
            })
        },
    )?;
    Ok(outcome)
}

/// Run the test command on the tip of `entry`'s integration branch, where it is checked out, and
/// record the run in a test note on that commit: what `finish` looks for under
/// `tests = "required"`.
pub fn test_integration(
    repo: &gix::Repository,
    entry: &crate::store::FlowEntry,
    options: &TestOptions,
) -> Result<Tested, WorkError> {
    let flow = &entry.flow;
    let branch = &flow.integration_branch;
    let (dir, wrepo) = checked_out(
        repo,
        branch,
        &format!(
            "check it out to test it: `git worktree add ../{} {branch}`",
            flow.slug
        ),
    )?;
    let integ = integration_tip(&wrepo, entry)?;
    // The whole branch: no subtask's own command applies.
    let Some(command) = TestCommand::resolve(&wrepo, Some(integ), options, None)?.command else {
        return Err(no_command(None));
    };
    clean(&dir, "commit or stash them, then test again")?;
    let stamp = crate::git::committer_stamp(&wrepo)?;
    let run = run(
        &command,
        &Target {
            dir: &dir,
            flow: &flow.slug,
            subtask: "",
            tree: tree_of(&wrepo, integ)?,
        },
        &stamp,
    )?;
    let unrecorded = record_on_commit(&wrepo, &flow.slug, integ, &run)?.err();
    Ok(Tested {
        flow: flow.slug.clone(),
        subtask: String::new(),
        dir,
        commit: integ,
        command,
        unaccepted: None,
        run,
        step: None,
        unrecorded,
    })
}

/// Under the policy's `tests = "required"`: refuse unless `tip` has a passing run of the test
/// command recorded on it, on its exact tree; `what` names it (`subtask a1`), `how` says how to
/// test it. Nothing is asked under any other policy.
pub fn require_passed(
    repo: &gix::Repository,
    policy: &Policy,
    tip: ObjectId,
    what: &str,
    how: &str,
) -> Result<(), WorkError> {
    if !policy.tests_required {
        return Ok(());
    }
    let status = passed(repo, tip)?;
    match status {
        Ok(()) => Ok(()),
        Err(why) => Err(WorkError::refused(format!(
            "{what} {why}, and {} says tests = \"required\"",
            policy.source
        ))
        .hint(how.to_owned())),
    }
}

/// Whether `tip` has a recorded passing run on its tree: `Ok(Err(why))` when not, in words.
pub fn passed(repo: &gix::Repository, tip: ObjectId) -> Result<Result<(), String>, WorkError> {
    let short = tip.to_hex_with_len(7);
    Ok(match run_on(repo, tip)? {
        None => Err(format!("has no test run recorded on its tip {short}")),
        Some((_, false)) => Err(format!(
            "has no test run on the tree of its tip {short} (the run recorded there was on another tree)"
        )),
        Some((run, true)) if !run.passed() => Err(format!(
            "has a test run on its tip {short} that {}",
            run.verdict()
        )),
        Some(_) => Ok(()),
    })
}

/// The test run recorded on `commit` (as the gate reads it), and whether it ran on `commit`'s
/// own tree; an error when the note cannot be read.
pub fn run_on(
    repo: &gix::Repository,
    commit: ObjectId,
) -> Result<Option<(TestRun, bool)>, WorkError> {
    use crate::gate::Binder;
    let run = crate::gate::bind::NotesBinder::for_repo(repo)
        .test_run(commit)
        .map_err(|r| match r {
            crate::gate::Reason::Unverifiable { what, hint } => WorkError::invalid(what).hint(hint),
            other => WorkError::invalid(format!(
                "the test run on {} cannot be read ({})",
                commit.to_hex_with_len(7),
                other.code()
            )),
        })?;
    let Some(run) = run else {
        return Ok(None);
    };
    let same = run.tree.parse::<ObjectId>().ok() == Some(tree_of(repo, commit)?);
    Ok(Some((run, same)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn the_tail_keeps_the_last_whole_lines() {
        let mut t = Tail::new(16);
        for i in 0..100 {
            writeln!(t, "line {i}").unwrap();
        }
        t.flush().unwrap();
        assert_eq!(t.text(), "line 98\nline 99\n");
        let mut short = Tail::new(64);
        write!(short, "all of it").unwrap();
        assert_eq!(short.text(), "all of it");
    }
}
