//! `git aiflow exec`: run the configured coding agent on one subtask, in the work tree where its
//! branch is checked out, and record what it did as step commits.
//!
//! The agent is data to us, like a model's answer: its output is streamed, never run; what it
//! writes into commit messages is cleaned of review and step trailers before anything is kept.

use super::work::{self, STEP_KEYS, Which};
use super::{CliError, Ctx};
use crate::ai::prompt::Templates;
use crate::flow::{StepNote, Subtask};
use crate::gate::guard::{self, Snapshot};
use crate::git::{cli as git, rewrite, trailers};
use crate::store::Change;
use gix::ObjectId;
use serde::Serialize;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Arguments of `exec`.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub which: Which,
    /// The agent command, run with `sh -c` (default: config aiflow.agent), for example
    /// `claude -p`, `codex exec -`, or `aider --yes-always --message-file "$AIFLOW_PROMPT_FILE"`.
    #[arg(long, value_name = "command")]
    pub agent: Option<String>,
    /// Stop the agent after this many seconds (default: config aiflow.agentTimeout, else 3600).
    #[arg(long, value_name = "seconds")]
    pub timeout: Option<u64>,
    /// Print the prompt the agent would get, and run nothing.
    #[arg(long)]
    pub print_prompt: bool,
    /// Print JSON: {"flow", "subtask", "agent", "exit_code", "duration_ms", "commits"}; the agent's
    /// own output then goes to stderr.
    #[arg(long)]
    pub json: bool,
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

#[derive(Serialize)]
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

/// `git aiflow exec`.
pub fn exec(ctx: &mut Ctx, args: &ExecArgs) -> Result<(), CliError> {
    let found = work::find(ctx, &args.which)?;
    let repo = ctx.repo()?.clone();
    let flow = found.flow().clone();
    let s = found.subtask().clone();
    let slug = flow.slug.clone();
    crate::flow::lifecycle::may(crate::flow::lifecycle::Action::Step, &s)?;
    let branch = found.branch();
    let Some(dir) = work::checkout_of(&repo, &branch) else {
        return Err(CliError::refused(format!("{branch} is not checked out in any work tree"))
            .hint(format!(
                "switch to it (`git switch {branch}`), or give it a worktree: `git aiflow start {} --worktree`",
                s.id
            )));
    };
    let wrepo = crate::git::open(&dir)?;
    let integ = work::integration_tip(&wrepo, &found.entry)?;
    let before = work::branch_tip(&wrepo, &branch)
        .ok_or_else(|| CliError::usage(format!("the branch {branch} has no commits")))?;
    let step = work::steps_of(&wrepo, integ, before, &s.id).1 + 1;

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
            .filter(|r| r.verdict == "changes-requested"),
    };
    let templates = Templates::new(Some(&dir));
    let mut rendered = templates.render("execute", &context)?;
    // A key pasted into a spec or answer reaches neither the agent nor the saved prompt.
    rendered.text = crate::ai::secrets::Redactor::current().redact_string(rendered.text);
    if args.print_prompt {
        ctx.out.write_all(rendered.text.as_bytes())?;
        return Ok(());
    }

    let cfg = wrepo.config_snapshot();
    let agent = match args
        .agent
        .clone()
        .or_else(|| cfg.string("aiflow.agent").map(|v| v.to_string()))
    {
        Some(a) if !a.trim().is_empty() => a,
        _ => {
            return Err(CliError::usage("no agent is configured").hint(
                "set one: `git config aiflow.agent 'claude -p'` (or codex exec -, or aider --yes-always --message-file \"$AIFLOW_PROMPT_FILE\"), or pass --agent; the prompt is on its stdin and in $AIFLOW_PROMPT_FILE",
            ));
        }
    };
    let timeout = Duration::from_secs(
        args.timeout
            .or_else(|| {
                cfg.integer("aiflow.agentTimeout")
                    .and_then(|v| u64::try_from(v).ok())
            })
            .filter(|&t| t > 0)
            .unwrap_or(3600),
    );
    let program = crate::ai::command::program_name(&agent);
    let agent_name = cfg
        .string("aiflow.agentName")
        .map(|v| v.to_string())
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| program.clone());
    let agent_email = cfg
        .string("aiflow.agentEmail")
        .map(|v| v.to_string())
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| format!("{}@agent.invalid", email_local(&agent_name)));
    if agent_name.contains(['<', '>', '\n']) || agent_email.contains(['<', '>', '\n', ' ']) {
        return Err(CliError::usage(format!(
            "the agent identity `{agent_name} <{agent_email}>` is not usable in a commit"
        ))
        .hint("fix aiflow.agentName and aiflow.agentEmail"));
    }
    let identity = format!("{agent_name} <{agent_email}>");

    if work::is_dirty(&dir)? {
        return Err(CliError::refused(format!(
            "the work tree {} has uncommitted changes",
            dir.display()
        ))
        .hint("record them first with `git aiflow step -m MSG`, or stash them, so the agent's changes can be told apart"));
    }

    // Run the agent.
    let common = repo.common_dir();
    let aiflow_dir = std::fs::canonicalize(common)
        .unwrap_or_else(|_| common.to_owned())
        .join("aiflow");
    std::fs::create_dir_all(&aiflow_dir)?;
    let prompt_file = aiflow_dir.join(format!("PROMPT-{slug}-{}-execute.md", s.id));
    std::fs::write(&prompt_file, &rendered.text)?;
    let message_file = aiflow_dir.join(format!("MESSAGE-{slug}-{}.txt", s.id));
    let _ = std::fs::remove_file(&message_file);
    // What governs the gate, as it is before the agent runs: it must be so afterwards.
    let integration_ref = format!("refs/heads/{}", flow.integration_branch);
    let guard = Snapshot::capture(&wrepo, &[integration_ref]).map_err(|e| {
        CliError::usage(
            "could not take stock of what governs the review gate, so the agent was not run",
        )
        .source(e)
    })?;
    if !args.json {
        writeln!(
            ctx.out,
            "exec: running `{program}` on {} \"{}\" in {}",
            s.id,
            s.title,
            dir.display()
        )?;
    }
    ctx.out.flush()?;
    let started = Instant::now();
    let status = run_agent(
        &agent,
        &dir,
        &rendered.text,
        &[
            ("AIFLOW_PROMPT_FILE", prompt_file.as_os_str()),
            ("AIFLOW_MESSAGE_FILE", message_file.as_os_str()),
            ("AIFLOW_FLOW", slug.as_ref()),
            ("AIFLOW_SUBTASK", s.id.as_ref()),
            ("AIFLOW_STEP", step.to_string().as_ref()),
            ("AIFLOW_BRANCH", branch.as_ref()),
            ("AIFLOW_TEMPLATE", "execute".as_ref()),
            ("GIT_AUTHOR_NAME", agent_name.as_ref()),
            ("GIT_AUTHOR_EMAIL", agent_email.as_ref()),
        ],
        timeout,
        args.json,
    )?;
    let duration = started.elapsed();
    let exit_code = status.unwrap_or(-1);

    // Did it change the rules? Then nothing it did is recorded.
    let changes = guard.changes();
    if !changes.is_empty() {
        return Err(refuse_tampering(&guard, &changes, &branch, before, status));
    }

    // What did it do?
    let wrepo = crate::git::open(&dir)?;
    if work::current_branch(&wrepo).as_deref() != Some(branch.as_str()) {
        return Err(CliError::refused(format!(
            "the agent left {} on {} instead of {branch}; nothing was recorded",
            dir.display(),
            work::current_branch(&wrepo).unwrap_or_else(|| "a detached HEAD".into())
        ))
        .hint(format!(
            "switch back with `git switch {branch}`; the branch is at {before}"
        )));
    }
    let after = work::branch_tip(&wrepo, &branch).unwrap_or(before);
    let moved = after != before;
    if status != Some(0) {
        if moved {
            git::checked(
                &dir,
                &["reset", "--soft", "--quiet", &before.to_string()],
                &[],
                None,
            )?;
        }
        let how = match status {
            Some(c) => format!("exit status {c}"),
            None if duration >= timeout => format!("stopped after {} s", timeout.as_secs()),
            None => "killed by a signal".to_string(),
        };
        return Err(CliError::refused(format!(
            "the agent failed ({how}); {branch} is left where it was",
        ))
        .hint("its changes, if any, are in the work tree: look with `git status`, keep them with `git aiflow step -m MSG`, or drop them with `git restore --staged --worktree . && git clean -fd`")
        .hint(format!("the prompt is in {}", prompt_file.display())));
    }
    if moved && !is_ancestor(&wrepo, before, after) {
        return Err(CliError::refused(format!(
            "the agent rewrote the history of {branch}; nothing was recorded"
        ))
        .hint(format!(
            "the branch was at {before}; inspect with `git log {before}..{branch}`, and restore it with `git reset --soft {before}` if you want"
        )));
    }
    let dirty = work::is_dirty(&dir)?;
    if !moved && !dirty {
        return Err(
            CliError::refused(format!("the agent changed nothing; {branch} is unchanged"))
                .hint(format!("the prompt is in {}", prompt_file.display())),
        );
    }

    let integ_now = work::integration_tip(&wrepo, &found.entry)?;
    let keys = work::review_keys(&wrepo, Some(integ_now));
    let mut strip: Vec<&str> = keys.iter().map(String::as_str).collect();
    strip.extend(STEP_KEYS);
    strip.push("Assisted-by");
    let rules = trailers::Rules::from_config(&wrepo.config_snapshot());
    let stamp = crate::git::committer_stamp(&wrepo)?;
    let note = |step: u32, agent_commit: bool, stripped: Vec<String>| StepNote {
        agent: Some(program.clone()),
        agent_identity: Some(identity.clone()),
        prompt_digest: Some(rendered.digest.clone()),
        prompt_template: Some(rendered.origin.clone()),
        duration_ms: Some(duration.as_millis() as u64),
        exit_code: Some(exit_code),
        agent_commit,
        stripped,
        ..StepNote::new(&slug, &s.id, step, "agent", &stamp)
    };
    let mut steps: Vec<(ObjectId, StepNote)> = Vec::new();
    let mut warnings = Vec::new();
    let mut next_step = step;

    // The agent's own commits: kept, given the step trailers, cleaned of forged ones.
    if moved {
        let ids = rewrite::range(&wrepo, Some(before), after)?;
        let committer = rewrite::committer(&wrepo)?;
        let sign = signing(&wrepo)?;
        let mut stripped_per: Vec<Vec<String>> = Vec::new();
        let first = next_step;
        let rewritten = rewrite::reword(&wrepo, &ids, &committer, sign.as_ref(), |i, _, c| {
            let (clean, removed) = trailers::strip_keys(&agent_text(&c.message), &strip);
            stripped_per.push(removed);
            Some(work::with_step_trailers(
                &clean,
                &slug,
                &s.id,
                first + i as u32,
                Some(&identity),
                &rules,
            ))
        })?;
        for (i, (old, new)) in rewritten.commits.iter().enumerate() {
            let removed = stripped_per.get(i).cloned().unwrap_or_default();
            for r in &removed {
                warnings.push(format!(
                    "removed `{r}` from the agent's commit {}",
                    old.to_hex_with_len(7)
                ));
            }
            steps.push((*new, note(next_step, true, removed)));
            next_step += 1;
        }
        let edit = work::branch_edit(
            &branch,
            Some(after),
            rewritten.tip,
            format!(
                "aiflow exec: step trailers on the agent's commits of {}",
                s.id
            ),
        );
        let id = s.id.clone();
        let notes: Vec<(ObjectId, Option<Vec<u8>>)> = steps
            .iter()
            .map(|(c, n)| (*c, Some(n.to_toml().into_bytes())))
            .collect();
        crate::store::update_flow_with(
            &wrepo,
            &slug,
            &format!("aiflow: agent steps of {id} in {slug}"),
            &stamp,
            |flow, _| -> Result<Option<Change>, CliError> {
                crate::flow::lifecycle::apply(flow, &id, crate::flow::lifecycle::Action::Step);
                Ok(Some(Change {
                    notes: notes.clone(),
                    refs: vec![edit.clone()],
                }))
            },
        )?;
    }

    // What it left in the work tree: one more step, authored by the agent.
    if dirty {
        let (text, removed) = match std::fs::read(&message_file) {
            Ok(bytes) if !String::from_utf8_lossy(&bytes).trim().is_empty() => {
                let (clean, removed) = trailers::strip_keys(&agent_text(&bytes), &strip);
                (clean, removed)
            }
            _ => (
                format!("{} (step {next_step})\n", s.title).into_bytes(),
                Vec::new(),
            ),
        };
        let text = if String::from_utf8_lossy(&text).trim().is_empty() {
            format!("{} (step {next_step})\n", s.title).into_bytes()
        } else {
            text
        };
        for r in &removed {
            warnings.push(format!("removed `{r}` from the agent's commit message"));
        }
        let msg = work::with_step_trailers(&text, &slug, &s.id, next_step, Some(&identity), &rules);
        git::checked(&dir, &["add", "-A"], &[], None)?;
        let r = git::run(
            &dir,
            &["commit", "--quiet", "--cleanup=verbatim", "-F", "-"],
            &[
                ("GIT_AUTHOR_NAME", agent_name.as_str()),
                ("GIT_AUTHOR_EMAIL", agent_email.as_str()),
            ],
            Some(&msg),
        )?;
        if !r.ok() {
            return Err(CliError::refused("git did not commit the agent's changes")
                .source(super::error::Message(r.stderr.trim().to_owned()))
                .hint("they are staged in the work tree; fix what git or a hook reported, then `git aiflow step -m MSG`"));
        }
        let wrepo = crate::git::open(&dir)?;
        let commit = work::branch_tip(&wrepo, &branch).ok_or_else(|| {
            CliError::refused(format!(
                "git committed the agent's changes, but branch {branch} is gone (deleted by a hook?)"
            ))
            .hint(format!(
                "look at `git reflog {branch}` and the hooks; the step was not recorded"
            ))
        })?;
        let n = note(next_step, false, removed);
        work::record_steps(&wrepo, &slug, &s.id, &stamp, &[(commit, n.clone())])?;
        steps.push((commit, n));
    }
    let _ = std::fs::remove_file(&message_file);

    for w in &warnings {
        ctx.warn(w);
    }
    if args.json {
        let commits: Vec<serde_json::Value> = steps
            .iter()
            .map(|(c, n)| json!({"commit": c.to_string(), "step": n.step, "agent_commit": n.agent_commit}))
            .collect();
        ctx.json(&json!({
            "flow": slug,
            "subtask": s.id,
            "branch": branch,
            "agent": program,
            "author": identity,
            "exit_code": exit_code,
            "duration_ms": duration.as_millis() as u64,
            "prompt_digest": rendered.digest,
            "commits": commits,
            "stripped": warnings,
        }))?;
    } else {
        let list: Vec<String> = steps
            .iter()
            .map(|(c, n)| format!("{} ({})", n.step, c.to_hex_with_len(7)))
            .collect();
        writeln!(
            ctx.out,
            "exec: `{program}` finished in {:.1} s; recorded step{} {} on {branch}",
            duration.as_secs_f64(),
            if steps.len() == 1 { "" } else { "s" },
            list.join(", ")
        )?;
        writeln!(
            ctx.out,
            "  next: `git aiflow review {}`, then a reviewer runs `git aiflow approve {}`",
            s.id, s.id
        )?;
    }
    Ok(())
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
) -> CliError {
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
    let mut err = CliError::refused(message).hint(back);
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

pub use crate::work::signing;

pub use crate::git::is_ancestor;

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

/// Run the agent with `sh -c` in `dir`, the prompt on stdin; its stdout goes to ours (to stderr
/// with `to_stderr`), its stderr to ours. Returns its exit code (`None`: killed or timed out).
fn run_agent(
    agent: &str,
    dir: &Path,
    prompt: &str,
    env: &[(&str, &std::ffi::OsStr)],
    timeout: Duration,
    to_stderr: bool,
) -> Result<Option<i32>, CliError> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(agent).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let stdout = if to_stderr {
        use std::os::fd::AsFd;
        std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::inherit())
    } else {
        Stdio::inherit()
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| {
            CliError::usage(format!("could not start the agent `{agent}`"))
                .source(e)
                .hint("check aiflow.agent; it runs with `sh -c` in the subtask's work tree")
        })?;
    let mut stdin = child.stdin.take().expect("piped");
    let input = prompt.as_bytes().to_vec();
    let writer = std::thread::spawn(move || {
        // An agent that does not read its input closes the pipe: not an error.
        let _ = stdin.write_all(&input);
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait()? {
            Some(status) => break status.code(),
            None if start.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let _ = writer.join();
    Ok(status)
}

/// The steps already on the branch, oldest first, for the prompt.
fn step_views(
    repo: &gix::Repository,
    integ: ObjectId,
    tip: ObjectId,
) -> Result<Vec<StepView>, CliError> {
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
pub fn changed_files(repo: &gix::Repository, id: ObjectId) -> Vec<String> {
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
