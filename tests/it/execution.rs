//! Execution and review: `next`, `start`, `step`, `exec` with a scripted agent
//! (`fixtures/agents/scripted-agent.sh`), `review`, `approve`, `reject`, `integrate`, `finish`,
//! and `check` binding reviews to content. Every refusal must exit with the documented code, say
//! why, and leave the refs and the notes ref exactly as they were; every result is cross-checked
//! with plain git.

use crate::harness::{AS_GRACE, BIN, GRACE, Run, TestRepo, assert_has, assert_lacks, fixture};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const FLOW: &str = "rate-limit";
const INTEGRATION: &str = "aiflow/rate-limit";
const NOTES: &str = "refs/notes/aiflow";
const AGENT_NAME: &str = "Scripted Agent";
const AGENT_EMAIL: &str = "scripted@agent.invalid";

/// The scripted agent's path.
fn agent_path() -> String {
    fixture("agents/scripted-agent.sh")
        .to_str()
        .expect("utf-8")
        .to_string()
}

/// Point `aiflow.agent` at the scripted agent; with `identity`, also name it.
fn configure_agent(repo: &TestRepo, identity: bool) {
    repo.git(&["config", "aiflow.agent", &agent_path()]);
    if identity {
        repo.git(&["config", "aiflow.agentName", AGENT_NAME]);
        repo.git(&["config", "aiflow.agentEmail", AGENT_EMAIL]);
    }
}

/// A repository with the rate-limit flow planned by the scripted `command` provider (questions
/// asked and answered, then the five-subtask plan), and the scripted agent configured.
fn planned_repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.plan_rate_limit_scripted();
    configure_agent(&repo, true);
    repo
}

/// A subtask of the plan, as `plan show --json` prints it.
#[derive(Debug, Clone)]
struct Sub {
    id: String,
    title: String,
    branch: String,
    depends_on: Vec<String>,
}

/// The subtasks in plan order (setup, redis, middleware, overrides, metrics).
fn subtasks(repo: &TestRepo) -> Vec<Sub> {
    let plan = repo.aiflow(&["plan", "show", FLOW, "--json"]).json();
    let subs: Vec<Sub> = plan["subtasks"]
        .as_array()
        .expect("subtasks")
        .iter()
        .map(|s| Sub {
            id: s["id"].as_str().expect("id").to_string(),
            title: s["title"].as_str().expect("title").to_string(),
            branch: s["branch"].as_str().expect("branch").to_string(),
            depends_on: s["depends_on"]
                .as_array()
                .expect("depends_on")
                .iter()
                .map(|d| d.as_str().expect("dep id").to_string())
                .collect(),
        })
        .collect();
    assert_eq!(subs.len(), 5, "{plan:#}");
    subs
}

/// What a refused command must not change.
struct Snapshot {
    refs: String,
    notes: Option<String>,
}

fn snapshot(repo: &TestRepo) -> Snapshot {
    Snapshot {
        refs: repo.refs(),
        notes: repo.rev(NOTES),
    }
}

#[track_caller]
fn assert_unchanged(repo: &TestRepo, before: &Snapshot) {
    assert_eq!(
        repo.rev(NOTES),
        before.notes,
        "a refused command moved {NOTES}"
    );
    assert_eq!(
        repo.refs(),
        before.refs,
        "a refused command changed the refs"
    );
}

/// Stderr has an `error: ` line and mentions `needle` (case-insensitively).
#[track_caller]
fn assert_error(stderr: &str, needle: &str) {
    assert!(
        stderr.lines().any(|l| l.starts_with("error: ")),
        "no `error: ` line in stderr:\n{stderr}"
    );
    assert!(
        stderr.to_lowercase().contains(&needle.to_lowercase()),
        "expected {needle:?} in:\n{stderr}"
    );
}

/// Run the configured agent on `id` in `mode`.
fn exec(repo: &TestRepo, id: &str, mode: &str) -> Run {
    repo.aiflow_env(&["exec", id], &[("AGENT_MODE", mode)])
}

/// Approve `id` as Grace; the JSON answer.
fn approve(repo: &TestRepo, id: &str) -> Value {
    repo.aiflow_env(&["approve", id, "--json"], AS_GRACE).json()
}

/// Start, one agent run, approve as Grace, integrate.
fn complete(repo: &TestRepo, sub: &Sub) {
    repo.aiflow(&["start", &sub.id]).ok();
    exec(repo, &sub.id, "edit").ok();
    approve(repo, &sub.id);
    repo.aiflow(&["integrate", &sub.id]).ok();
}

/// `git rev-list --reverse <args>`: oldest first.
fn commits(repo: &TestRepo, args: &[&str]) -> Vec<String> {
    let mut all = vec!["rev-list", "--reverse"];
    all.extend_from_slice(args);
    repo.git(&all).lines().map(str::to_string).collect()
}

/// The commits a subtask branch brings into the integration branch, oldest first.
fn branch_commits(repo: &TestRepo, sub: &Sub) -> Vec<String> {
    commits(repo, &[&format!("{INTEGRATION}..{}", sub.branch)])
}

/// A commit's trailers as git reads them (`%(trailers:unfold)`), as `(key, value)` pairs.
fn trailers(repo: &TestRepo, commit: &str) -> Vec<(String, String)> {
    repo.git(&["log", "-1", "--format=%(trailers:unfold)", commit])
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap_or_else(|| panic!("trailer {l:?}"));
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect()
}

/// The values of trailer `key` on `commit`.
fn values(repo: &TestRepo, commit: &str, key: &str) -> Vec<String> {
    trailers(repo, commit)
        .into_iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
        .collect()
}

/// `git log -1 --format=<format> <commit>`, trimmed.
fn show(repo: &TestRepo, format: &str, commit: &str) -> String {
    repo.git(&["log", "-1", &format!("--format={format}"), commit])
        .trim()
        .to_string()
}

/// The step note on a commit, parsed.
fn step_note(repo: &TestRepo, commit: &str) -> toml::Table {
    let note = repo.git(&["notes", "--ref=aiflow", "show", commit]);
    toml::from_str(&note).unwrap_or_else(|e| panic!("note on {commit} is not TOML ({e}):\n{note}"))
}

/// `git aiflow check <range> --json`: exit 0 or 1, agreeing with its `ok` field.
#[track_caller]
fn check_json(repo: &TestRepo, range: &str) -> Value {
    let run = repo.aiflow(&["check", range, "--json"]);
    assert!(
        run.code == 0 || run.code == 1,
        "check {range}: exit {}\nstdout:\n{}\nstderr:\n{}",
        run.code,
        run.stdout,
        run.stderr
    );
    let v: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("check {range}: not JSON ({e}):\n{}", run.stdout));
    assert_eq!(v["ok"], Value::Bool(run.code == 0), "check {range}: {v:#}");
    v
}

/// `(commit, reason)` of each failure of a check.
fn failures(v: &Value) -> Vec<(String, String)> {
    v["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| {
            (
                f["commit"].as_str().expect("commit").to_string(),
                f["reason"].as_str().expect("reason").to_string(),
            )
        })
        .collect()
}

/// A subtask's status, as `plan show --json` reports it.
fn subtask_status(repo: &TestRepo, id: &str) -> String {
    let plan = repo.aiflow(&["plan", "show", FLOW, "--json"]).json();
    plan["subtasks"]
        .as_array()
        .expect("subtasks")
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no subtask {id} in plan show --json:\n{plan:#}"))["status"]
        .as_str()
        .expect("status")
        .to_string()
}

/// The entry of subtask `id` in a `status --json` answer.
fn entry(status: &Value, id: &str) -> Value {
    status["subtasks"]
        .as_array()
        .unwrap_or_else(|| panic!("no subtasks array in status --json:\n{status:#}"))
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no subtask {id} in status --json:\n{status:#}"))
        .clone()
}

/// The flow's anchor: the first commit of the integration branch after `base`.
fn anchor(repo: &TestRepo, base: &str) -> String {
    commits(repo, &["--first-parent", &format!("{base}..{INTEGRATION}")])
        .into_iter()
        .next()
        .expect("anchor")
}

/// `git patch-id --stable` of a commit.
/// A commit's content id, computed from `git diff-tree --raw` independently of the tool: every
/// path the commit changes against its first parent, no renames, as
/// `<old mode> <old blob> <new mode> <new blob> <path>\0` in path order, SHA-256 over
/// `aiflow change v1\n` and those lines.
fn content_id(repo: &TestRepo, commit: &str) -> String {
    use sha2::Digest;
    let raw = repo.git(&[
        "diff-tree",
        "-r",
        "--root",
        "--no-renames",
        "--raw",
        "-z",
        "--no-abbrev",
        commit,
    ]);
    let mut fields = raw.split('\0').filter(|f| !f.is_empty());
    fields.next(); // the commit id
    let mut changes = Vec::new();
    while let (Some(meta), Some(path)) = (fields.next(), fields.next()) {
        let m: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
        let mode = |s: &str| {
            if s.trim_start_matches('0').is_empty() {
                "0".to_owned()
            } else {
                s.trim_start_matches('0').to_owned()
            }
        };
        changes.push((
            path.to_owned(),
            format!("{} {} {} {} ", mode(m[0]), m[2], mode(m[1]), m[3]),
        ));
    }
    changes.sort();
    let mut h = sha2::Sha256::new();
    h.update(b"aiflow change v1\n");
    for (path, prefix) in changes {
        h.update(prefix.as_bytes());
        h.update(path.as_bytes());
        h.update(b"\0");
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("c1:{hex}")
}

fn patch_id(repo: &TestRepo, commit: &str) -> String {
    let diff = repo.git(&["show", commit]);
    let out = repo.git_stdin(&["patch-id", "--stable"], &diff);
    out.split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("no patch id for {commit}"))
        .to_string()
}

/// The commit at the tip of `rev`.
fn tip(repo: &TestRepo, rev: &str) -> String {
    repo.rev(rev)
        .unwrap_or_else(|| panic!("{rev} does not exist"))
}

/// `git status --porcelain`.
fn porcelain(repo: &TestRepo) -> String {
    repo.git(&["status", "--porcelain"])
}

/// Run `git-aiflow` in another directory (a linked worktree).
fn aiflow_in(repo: &TestRepo, dir: &Path, args: &[&str]) -> Run {
    Run::of(repo.command_in(BIN, dir).args(args))
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

// ---------------------------------------------------------------------------------------------
// The whole flow
// ---------------------------------------------------------------------------------------------

/// new -> questions -> answer -> plan -> for each subtask in `next` order: next, start, two
/// agent runs, approve (by someone else), integrate; then finish. Every commit that reaches
/// `main` carries its flow, subtask, step, agent and reviewer, and `check` agrees.
#[test]
fn a_flow_from_spec_to_main() {
    let repo = planned_repo();
    let base = tip(&repo, "main");
    let subs = subtasks(&repo);
    let ids: Vec<&str> = subs.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(subs[1].depends_on, [ids[0]]);
    assert_eq!(subs[2].depends_on, [ids[0], ids[1]]);

    // `next`, for people: the id and title first, then the branch and the command.
    let human = repo.aiflow(&["next", FLOW]).ok();
    assert_eq!(
        human.lines().next(),
        Some(format!("{}  {}", subs[0].id, subs[0].title).as_str()),
        "{human}"
    );
    assert_has(&human, &subs[0].branch);
    assert_has(&human, &format!("git aiflow start {}", subs[0].id));
    // And as JSON: the others wait, redis for setup.
    let next = repo.aiflow(&["next", FLOW, "--json"]).json();
    assert_eq!(next["flow"], FLOW);
    assert_eq!(next["complete"], false);
    assert_eq!(next["subtask"]["id"], ids[0]);
    assert_eq!(next["subtask"]["branch"], subs[0].branch.as_str());
    let waiting = next["waiting"].as_array().expect("waiting");
    let waiting_ids: BTreeSet<&str> = waiting
        .iter()
        .map(|w| w["id"].as_str().expect("id"))
        .collect();
    assert_eq!(waiting_ids, ids[1..].iter().copied().collect(), "{next:#}");
    let redis = waiting.iter().find(|w| w["id"] == ids[1]).expect("redis");
    assert_eq!(redis["waiting_for"], serde_json::json!([ids[0]]));

    for (i, sub) in subs.iter().enumerate() {
        let next = repo.aiflow(&["next", FLOW, "--json"]).json();
        assert_eq!(next["subtask"]["id"], sub.id.as_str(), "{next:#}");

        let started = repo.aiflow(&["start", &sub.id, "--json"]).json();
        let integration_tip = tip(&repo, INTEGRATION);
        assert_eq!(started["branch"], sub.branch.as_str());
        assert_eq!(started["base"], integration_tip.as_str());
        assert_eq!(started["worktree"], Value::Null);
        assert_eq!(
            repo.git(&["symbolic-ref", "--short", "HEAD"]).trim(),
            sub.branch
        );
        assert_eq!(tip(&repo, &sub.branch), integration_tip);
        assert_eq!(subtask_status(&repo, &sub.id), "active");

        // Two agent runs: two steps, the agent's output streamed to stdout.
        for step in 1..=2 {
            let out = exec(&repo, &sub.id, "edit").ok();
            assert_has(
                &out,
                &format!("scripted-agent: edit on {}, step {step}", sub.id),
            );
        }
        let made = branch_commits(&repo, sub);
        assert_eq!(made.len(), 2, "subtask {i}");
        for (n, c) in made.iter().enumerate() {
            assert_eq!(values(&repo, c, "Aiflow-Step"), [(n + 1).to_string()]);
            assert_eq!(
                show(&repo, "%an <%ae>", c),
                format!("{AGENT_NAME} <{AGENT_EMAIL}>")
            );
            assert_eq!(
                show(&repo, "%cn <%ce>", c),
                "Ada Lovelace <ada@example.com>"
            );
        }
        assert_eq!(
            repo.git(&["show", &format!("{}:work/{}.txt", sub.branch, sub.id)]),
            format!("{id}: step 1 (edit)\n{id}: step 2 (edit)\n", id = sub.id)
        );
        assert!(porcelain(&repo).is_empty(), "{}", porcelain(&repo));

        // Grace approves; the trees stay, the branch moves.
        let trees: Vec<String> = made.iter().map(|c| show(&repo, "%T", c)).collect();
        let approved = approve(&repo, &sub.id);
        assert_eq!(approved["reviewer"], GRACE);
        assert_eq!(approved["old_tip"], made[1].as_str());
        assert_eq!(approved["new_tip"], tip(&repo, &sub.branch).as_str());
        let now = branch_commits(&repo, sub);
        assert_eq!(
            now.iter().map(|c| show(&repo, "%T", c)).collect::<Vec<_>>(),
            trees
        );
        assert_eq!(subtask_status(&repo, &sub.id), "approved");

        // Integrate: a --no-ff merge of the branch into the integration branch.
        repo.aiflow(&["integrate", &sub.id]).ok();
        let merge = tip(&repo, INTEGRATION);
        assert_eq!(
            repo.git(&["rev-parse", &format!("{merge}^1"), &format!("{merge}^2")]),
            format!("{integration_tip}\n{}\n", tip(&repo, &sub.branch))
        );
        assert_eq!(values(&repo, &merge, "Aiflow-Flow"), [FLOW]);
        assert_eq!(values(&repo, &merge, "Aiflow-Subtask"), [sub.id.as_str()]);
        let message = show(&repo, "%B", &merge);
        assert!(
            message.contains(&sub.id) || message.contains(&sub.title),
            "the merge message does not name the subtask:\n{message}"
        );
        assert_eq!(subtask_status(&repo, &sub.id), "merged");
    }

    // Nothing left: `next` says to finish, and that is no error.
    let none = repo.aiflow(&["next", FLOW]);
    assert_eq!(none.code, 0, "{none:?}");
    assert_has(
        &format!("{}{}", none.stdout, none.stderr),
        "git aiflow finish",
    );

    let integration_tip = tip(&repo, INTEGRATION);
    repo.aiflow(&["finish", FLOW]).ok();
    let main = tip(&repo, "main");
    assert_eq!(
        repo.git(&["rev-parse", "main^1", "main^2"]),
        format!("{base}\n{integration_tip}\n")
    );
    assert_eq!(values(&repo, &main, "Aiflow-Flow"), [FLOW]);

    // Every subtask commit on main, as git reads its trailers.
    let anchor = anchor(&repo, &base);
    let steps: Vec<String> = commits(&repo, &["--no-merges", &format!("{base}..main")])
        .into_iter()
        .filter(|c| *c != anchor)
        .collect();
    assert_eq!(steps.len(), 10, "two steps per subtask");
    let log = repo.git(&[
        "log",
        "--no-merges",
        "--format=%H%n%(trailers)",
        &format!("{base}..main"),
    ]);
    assert_eq!(
        log.matches(&format!("Reviewed-by: {GRACE}\n")).count(),
        10,
        "{log}"
    );
    let mut per_subtask: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for c in &steps {
        assert_has(&log, c);
        let t = trailers(&repo, c);
        let keys: Vec<&str> = t.iter().map(|(k, _)| k.as_str()).collect();
        for key in [
            "Aiflow-Flow",
            "Aiflow-Subtask",
            "Aiflow-Step",
            "Assisted-by",
            "Reviewed-by",
        ] {
            assert!(keys.contains(&key), "{c} lacks {key}: {t:?}");
        }
        assert_eq!(values(&repo, c, "Aiflow-Flow"), [FLOW]);
        assert_eq!(values(&repo, c, "Reviewed-by"), [GRACE]);
        let assisted = values(&repo, c, "Assisted-by");
        assert_eq!(assisted.len(), 1, "{t:?}");
        assert_has(&assisted[0], AGENT_NAME);
        assert_has(&assisted[0], AGENT_EMAIL);
        let subtask = values(&repo, c, "Aiflow-Subtask");
        assert_eq!(subtask.len(), 1);
        assert!(ids.contains(&subtask[0].as_str()), "{subtask:?}");
        let step = values(&repo, c, "Aiflow-Step");
        assert_eq!(step.len(), 1);
        per_subtask
            .entry(subtask[0].clone())
            .or_default()
            .push(step[0].clone());
        // The step note came along with the approval's rewrite.
        let note = step_note(&repo, c);
        assert_eq!(note["kind"].as_str(), Some("step"), "{note:?}");
        assert_eq!(note["by"].as_str(), Some("agent"), "{note:?}");
        assert_eq!(note["subtask"].as_str(), Some(subtask[0].as_str()));
    }
    assert_eq!(per_subtask.len(), 5);
    for (id, mut s) in per_subtask {
        s.sort();
        assert_eq!(s, ["1", "2"], "steps of {id}");
    }

    // The gate agrees, over the whole flow.
    repo.aiflow(&["check", &format!("{base}..main")]).ok();
    repo.aiflow(&["check", "main~1..main"]).ok();
    let v = check_json(&repo, &format!("{base}..main"));
    assert_eq!(v["reviewed"], 10, "{v:#}");

    // One merge per subtask on the integration branch, and the finish merge on main.
    let graph = repo.git(&["log", "--graph", "--oneline", "--merges", INTEGRATION]);
    assert_eq!(
        graph.lines().filter(|l| l.contains('*')).count(),
        5,
        "{graph}"
    );
    let graph = repo.git(&["log", "--graph", "--oneline", "--merges", "main"]);
    assert_eq!(
        graph.lines().filter(|l| l.contains('*')).count(),
        6,
        "{graph}"
    );
    let merged: BTreeSet<String> = commits(&repo, &["--merges", &format!("{base}..{INTEGRATION}")])
        .iter()
        .flat_map(|m| values(&repo, m, "Aiflow-Subtask"))
        .collect();
    assert_eq!(merged, ids.iter().map(|s| s.to_string()).collect());

    // The files the agent wrote are on main.
    for sub in &subs {
        assert_has(
            &repo.git(&["show", &format!("main:work/{}.txt", sub.id)]),
            &format!("{}: step 2 (edit)", sub.id),
        );
    }

    let status = repo.aiflow(&["status", FLOW, "--json"]).json();
    assert_eq!(status["status"], "finished", "{status:#}");
    let listed = status["subtasks"].as_array().expect("subtasks");
    assert_eq!(listed.len(), 5);
    for s in listed {
        assert_eq!(s["status"], "merged", "{s:#}");
        assert_eq!(s["review"]["reviewer"], GRACE, "{s:#}");
    }
    repo.fsck();
}

// ---------------------------------------------------------------------------------------------
// approve
// ---------------------------------------------------------------------------------------------

/// Hand steps are Ada's, so Ada approving them is self-review; Grace may, and her approval keeps
/// trees, authors, author dates and step notes.
#[test]
fn approve_refuses_self_review() {
    let repo = planned_repo();
    let subs = subtasks(&repo);
    let sub = &subs[0];
    repo.aiflow(&["start", &sub.id]).ok();

    repo.write("src/limiter/bucket.rs", "pub struct Bucket;\n");
    repo.aiflow(&["step", "-m", "Bucket type"]).ok();
    repo.write("src/limiter/mod.rs", "pub mod bucket;\n");
    repo.aiflow(&["step", "-m", "Limiter module"]).ok();
    let old = branch_commits(&repo, sub);
    assert_eq!(old.len(), 2);

    let before = snapshot(&repo);
    let err = repo.aiflow(&["approve", &sub.id]).fails(1);
    let lower = err.to_lowercase();
    assert!(
        lower.contains("self-review") || lower.contains("author"),
        "the refusal does not say why:\n{err}"
    );
    assert_error(&err, "");
    // Nothing moves but the notes, which record the refusal (for `stats`) in one commit.
    let without_notes = |refs: &str| -> String {
        refs.lines()
            .filter(|l| !l.starts_with(NOTES))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    assert_eq!(without_notes(&repo.refs()), without_notes(&before.refs));
    let notes_before = before.notes.clone().expect("the flow has notes");
    assert_eq!(
        repo.rev(&format!("{NOTES}^")).as_deref(),
        Some(notes_before.as_str())
    );
    assert_eq!(
        repo.git(&["log", "-1", "--format=%s", NOTES]).trim(),
        format!(
            "aiflow: approval of {} of rate-limit refused (self-review)",
            sub.id
        )
    );
    let note: toml::Table = repo
        .git(&["notes", "--ref=aiflow", "show", "aiflow/rate-limit"])
        .parse()
        .expect("the flow note is TOML");
    let refused = note["refused_approvals"].as_array().expect("recorded");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["subtask"].as_str(), Some(sub.id.as_str()));
    assert_eq!(refused[0]["reason"].as_str(), Some("self-review"));
    assert_eq!(refused[0]["commits"].as_integer(), Some(2));
    assert_eq!(subtask_status(&repo, &sub.id), "active");
    for c in &old {
        assert!(values(&repo, c, "Reviewed-by").is_empty());
    }

    // Grace may.
    let approved = approve(&repo, &sub.id);
    let new = branch_commits(&repo, sub);
    assert_eq!(new.len(), 2);
    assert_eq!(approved["branch"], sub.branch.as_str());
    assert_eq!(approved["old_tip"], old[1].as_str());
    assert_eq!(approved["new_tip"], new[1].as_str());
    for (o, n) in old.iter().zip(&new) {
        assert_ne!(o, n);
        for format in ["%T", "%an <%ae>", "%ad", "%s"] {
            assert_eq!(show(&repo, format, o), show(&repo, format, n), "{format}");
        }
        assert_eq!(values(&repo, n, "Reviewed-by"), [GRACE]);
        assert_eq!(
            values(&repo, n, "Aiflow-Step"),
            values(&repo, o, "Aiflow-Step")
        );
        assert_eq!(step_note(&repo, n)["by"].as_str(), Some("hand"));
    }
    repo.aiflow(&["check", &format!("{INTEGRATION}..{}", sub.branch)])
        .ok();
    repo.fsck();
}

/// A started subtask with no commits yet: nothing to approve, and nothing else is touched.
#[test]
fn approve_refuses_a_subtask_without_commits() {
    let repo = planned_repo();
    let subs = subtasks(&repo);
    let empty = &subs[0];
    repo.aiflow(&["start", &empty.id]).ok();
    let before = snapshot(&repo);
    let err = repo.aiflow_env(&["approve", &empty.id], AS_GRACE).fails(1);
    assert_error(&err, "commit");
    assert_unchanged(&repo, &before);
    assert_eq!(
        tip(&repo, &empty.branch),
        tip(&repo, INTEGRATION),
        "approve rewrote a commit that is not the subtask's"
    );
    // review agrees: the range is empty.
    let review = repo.aiflow(&["review", &empty.id, "--json"]).json();
    assert_eq!(review["commits"], serde_json::json!([]), "{review:#}");
}

/// `approve --upto REV` approves the commits up to REV only; the subtask is not approved until
/// the whole branch is.
#[test]
fn approve_upto_approves_part_of_the_branch() {
    let repo = planned_repo();
    let subs = subtasks(&repo);
    let sub = &subs[0];
    let range = format!("{INTEGRATION}..{}", sub.branch);
    repo.aiflow(&["start", &sub.id]).ok();
    exec(&repo, &sub.id, "edit").ok();
    exec(&repo, &sub.id, "edit").ok();
    let old = branch_commits(&repo, sub);

    let out = repo
        .aiflow_env(&["approve", &sub.id, "--upto", &old[0], "--json"], AS_GRACE)
        .json();
    let new = branch_commits(&repo, sub);
    assert_eq!(new.len(), 2);
    assert_eq!(out["new_tip"], new[1].as_str(), "{out:#}");
    assert_eq!(values(&repo, &new[0], "Reviewed-by"), [GRACE]);
    assert!(values(&repo, &new[1], "Reviewed-by").is_empty());
    assert_eq!(show(&repo, "%T", &new[1]), show(&repo, "%T", &old[1]));
    assert_ne!(subtask_status(&repo, &sub.id), "approved");
    let v = check_json(&repo, &range);
    assert_eq!(failures(&v), [(new[1].clone(), "no-review".to_string())]);

    approve(&repo, &sub.id);
    assert_eq!(subtask_status(&repo, &sub.id), "approved");
    repo.aiflow(&["check", &range]).ok();
    repo.fsck();
}

// ---------------------------------------------------------------------------------------------
// finish
// ---------------------------------------------------------------------------------------------

#[test]
fn finish_refuses_unmerged_subtasks_and_unreviewed_commits() {
    let repo = planned_repo();
    let subs = subtasks(&repo);
    complete(&repo, &subs[0]);

    let before = snapshot(&repo);
    let err = repo.aiflow(&["finish", FLOW]).fails(1);
    assert_error(&err, "planned");
    for sub in &subs[1..] {
        assert!(
            err.contains(&sub.id) || err.contains(&sub.title),
            "finish does not name {} ({}):\n{err}",
            sub.id,
            sub.title
        );
    }
    assert_unchanged(&repo, &before);
    assert_ne!(status_json_flow(&repo), "finished");

    for sub in &subs[1..] {
        complete(&repo, sub);
    }
    // A commit straight on the integration branch, reviewed by nobody.
    repo.git(&["switch", "-q", INTEGRATION]);
    repo.write("src/sneaky.rs", "// no review\n");
    repo.git(&["add", "src/sneaky.rs"]);
    repo.git(&["commit", "-q", "-m", "Sneaky fix on the integration branch"]);
    let sneaky = tip(&repo, "HEAD");

    let before = snapshot(&repo);
    let err = repo.aiflow(&["finish", FLOW]).fails(1);
    assert!(
        err.lines().any(|l| l.starts_with("error: ")),
        "no error line:\n{err}"
    );
    assert!(
        err.contains(&sneaky[..7]) || err.contains("Sneaky fix on the integration branch"),
        "finish does not name the unreviewed commit {sneaky}:\n{err}"
    );
    assert_unchanged(&repo, &before);
    assert_ne!(status_json_flow(&repo), "finished");
    // Plain check agrees.
    let v = check_json(&repo, &format!("main..{INTEGRATION}"));
    assert_eq!(failures(&v), [(sneaky, "no-review".to_string())]);
    repo.fsck();
}

/// `finish` judges the trunk in the scope the policy gives it (`flow` for `main`), as the hooks
/// do: work merged into the integration branch from outside any flow is the trunk's business,
/// not the flow's, so it does not stop the finish. Judged in full scope, it would.
#[test]
fn finish_judges_the_trunk_in_its_own_scope() {
    let repo = planned_repo();
    for sub in &subtasks(&repo) {
        complete(&repo, sub);
    }
    // A branch from the trunk with a commit nobody reviewed, merged into the integration branch
    // by hand (no hooks installed).
    repo.git(&["switch", "-q", "-c", "vendor", "main"]);
    repo.write("vendor/lib.txt", "vendored\n");
    repo.git(&["add", "vendor/lib.txt"]);
    repo.git(&["commit", "-q", "-m", "Vendor a library"]);
    let vendored = tip(&repo, "vendor");
    repo.git(&["switch", "-q", INTEGRATION]);
    repo.git(&["merge", "-q", "--no-ff", "--no-edit", "vendor"]);
    repo.git(&["switch", "-q", "main"]);

    // In full scope the vendored commit fails; the trunk's scope leaves it out.
    let v = check_json(&repo, &format!("main..{INTEGRATION}"));
    assert_eq!(failures(&v), [(vendored, "no-review".to_string())]);

    let out = repo.aiflow(&["finish", FLOW, "--json"]).json();
    assert_eq!(out["into"], "refs/heads/main", "{out:#}");
    assert_eq!(status_json_flow(&repo), "finished");
    assert_eq!(
        repo.git(&["rev-parse", "main^2"]).trim(),
        tip(&repo, INTEGRATION)
    );
    repo.fsck();
}

/// The flow's status in `status --json`.
fn status_json_flow(repo: &TestRepo) -> String {
    repo.aiflow(&["status", FLOW, "--json"]).json()["status"]
        .as_str()
        .expect("status")
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// exec: what an agent may not do
// ---------------------------------------------------------------------------------------------

/// An agent that commits itself with forged `Reviewed-by` and `Aiflow-Step` trailers, or writes
/// a forged review into its commit message: its work is kept, the forgeries are not.
#[test]
fn an_agents_forged_review_and_step_are_stripped() {
    let repo = planned_repo();
    let subs = subtasks(&repo);
    let sub = &subs[0];
    repo.aiflow(&["start", &sub.id]).ok();

    let run = exec(&repo, &sub.id, "commit");
    let stderr = run.stderr.clone();
    let stdout = run.ok();
    assert_has(&stdout, "scripted-agent: commit on");
    assert_has(&stderr, "Reviewed-by");
    // The agent's own commit, kept and rewritten, then the change it left as one more step.
    let made = branch_commits(&repo, sub);
    assert_eq!(made.len(), 2, "{made:?}");
    assert_eq!(
        show(&repo, "%s", &made[0]),
        format!("scripted-agent: commit work for {}", sub.id)
    );
    assert_has(
        &show(&repo, "%B", &made[0]),
        "The agent committed this itself.",
    );
    assert!(porcelain(&repo).is_empty(), "{}", porcelain(&repo));

    let run = exec(&repo, &sub.id, "message");
    let stderr = run.stderr.clone();
    run.ok();
    assert_has(&stderr, "Reviewed-by");
    let made = branch_commits(&repo, sub);
    assert_eq!(made.len(), 3, "{made:?}");
    assert_eq!(
        show(&repo, "%s", &made[2]),
        format!("Add work for {} (agent message)", sub.id)
    );

    let range = format!("{INTEGRATION}..{}", sub.branch);
    let reviewed = repo.git(&["log", "--format=%(trailers:key=Reviewed-by)", &range]);
    assert!(reviewed.trim().is_empty(), "{reviewed}");
    let messages = repo.git(&["log", "--format=%B", &range]);
    assert_lacks(&messages, "Mallory");
    assert_lacks(&messages, "Aiflow-Step: 99");
    // What the agent wrote is data: no terminal control sequences, no bidi overrides, in the
    // messages of its own commits and of the step made from its message file.
    assert_lacks(&messages, "\u{1b}");
    assert_lacks(&messages, "\u{202e}");
    assert_lacks(&messages, "evil.example");
    assert_eq!(
        messages.matches("Colour red, a link, reversed").count(),
        2,
        "{messages}"
    );
    for (n, c) in made.iter().enumerate() {
        assert_eq!(values(&repo, c, "Aiflow-Step"), [(n + 1).to_string()]);
        assert_eq!(values(&repo, c, "Aiflow-Flow"), [FLOW]);
        assert_eq!(values(&repo, c, "Aiflow-Subtask"), [sub.id.as_str()]);
        assert_eq!(values(&repo, c, "Assisted-by").len(), 1);
        assert_eq!(show(&repo, "%ae", c), AGENT_EMAIL);
        let note = step_note(&repo, c);
        assert_eq!(note["by"].as_str(), Some("agent"), "{note:?}");
        assert_eq!(note["step"].as_integer(), Some(n as i64 + 1), "{note:?}");
    }
    let steps = repo.git(&[
        "log",
        "--reverse",
        "--format=%(trailers:key=Aiflow-Step,valueonly)",
        &range,
    ]);
    assert_eq!(
        steps.split_whitespace().collect::<Vec<_>>(),
        ["1", "2", "3"]
    );

    // Nothing on the branch is reviewed, and the gate says so.
    repo.aiflow(&["check", &range]).fails(1);
    let v = check_json(&repo, &range);
    assert_eq!(failures(&v).len(), 3, "{v:#}");
    assert!(failures(&v).iter().all(|(_, r)| r == "no-review"), "{v:#}");
    repo.fsck();
}

/// A failing agent's work stays in the work tree, its commits undone; an agent that changes
/// nothing is refused; a dirty work tree is refused before the agent runs.
#[test]
fn exec_refuses_a_failing_agent_and_one_that_changes_nothing() {
    let repo = planned_repo();
    let subs = subtasks(&repo);
    let sub = &subs[0];
    repo.aiflow(&["start", &sub.id]).ok();
    exec(&repo, &sub.id, "edit").ok();
    let start = tip(&repo, &sub.branch);
    let file = format!("work/{}.txt", sub.id);

    let before = snapshot(&repo);
    let err = exec(&repo, &sub.id, "fail").fails(1);
    let line = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line:\n{err}"));
    assert!(
        line.contains('3'),
        "the error does not name exit status 3: {line}"
    );
    assert_unchanged(&repo, &before);
    assert_eq!(tip(&repo, &sub.branch), start);
    assert_has(&porcelain(&repo), &file);
    assert_has(
        &std::fs::read_to_string(repo.path.join(&file)).expect("read"),
        "step 2 (fail)",
    );

    // The work tree is not clean now: exec refuses before running anything.
    let log = repo.sibling("agent.log");
    let r = repo.aiflow_env(
        &["exec", &sub.id],
        &[("AGENT_LOG", log.to_str().expect("utf-8"))],
    );
    assert_error(&r.fails(1), "");
    assert!(!log.exists(), "the agent ran in a dirty work tree");
    assert_unchanged(&repo, &before);

    // An agent that commits and then fails: its commit is undone, its change kept.
    repo.git(&["reset", "-q", "--hard"]);
    repo.git(&["clean", "-fdq"]);
    let err = exec(&repo, &sub.id, "commit-fail").fails(1);
    assert_error(&err, "3");
    assert_unchanged(&repo, &before);
    assert_eq!(tip(&repo, &sub.branch), start);
    assert_eq!(tip(&repo, "HEAD"), start);
    assert_has(&porcelain(&repo), &file);
    assert_has(
        &std::fs::read_to_string(repo.path.join(&file)).expect("read"),
        "commit, then fail",
    );

    // An agent that changes nothing.
    repo.git(&["reset", "-q", "--hard"]);
    repo.git(&["clean", "-fdq"]);
    let err = exec(&repo, &sub.id, "nothing").fails(1);
    assert_error(&err, "changed nothing");
    assert_unchanged(&repo, &before);
    assert!(porcelain(&repo).is_empty());
    repo.fsck();
}

/// A hook that deletes the branch git just committed to makes `exec` refuse, not panic, and
/// record nothing.
#[test]
fn exec_refuses_when_a_hook_deletes_the_branch_it_committed_to() {
    let repo = planned_repo();
    let subs = subtasks(&repo);
    let sub = &subs[0];
    repo.aiflow(&["start", &sub.id]).ok();
    let hook = repo.path.join(".git/hooks/post-commit");
    std::fs::write(
        &hook,
        "#!/bin/sh\ngit update-ref -d \"$(git symbolic-ref HEAD)\"\n",
    )
    .expect("write hook");
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let notes = repo.rev("refs/notes/aiflow");
    let err = exec(&repo, &sub.id, "edit").fails(1);
    assert_error(&err, "is gone");
    assert_has(&err, "git reflog");
    assert_eq!(repo.rev("refs/notes/aiflow"), notes, "a step was recorded");
}

/// The prompt on stdin and in `$AIFLOW_PROMPT_FILE`, the documented variables, the default agent
/// identity, `--json` (agent output on stderr), and `--print-prompt` (runs nothing).
#[test]
fn exec_gives_the_agent_its_prompt_and_environment() {
    let repo = planned_repo();
    // The default identity: no agentName/agentEmail.
    repo.git(&["config", "--unset", "aiflow.agentName"]);
    repo.git(&["config", "--unset", "aiflow.agentEmail"]);
    let subs = subtasks(&repo);
    let sub = &subs[0];
    repo.aiflow(&["start", &sub.id]).ok();
    let log = repo.sibling("agent.log");
    let env = [("AGENT_LOG", log.to_str().expect("utf-8"))];

    let before = snapshot(&repo);
    let prompt = repo
        .aiflow_env(&["exec", &sub.id, "--print-prompt"], &env)
        .ok();
    assert_has(&prompt, &sub.title);
    assert!(!log.exists(), "--print-prompt ran the agent");
    assert_unchanged(&repo, &before);
    assert!(porcelain(&repo).is_empty());

    let run = repo.aiflow_env(&["exec", &sub.id, "--json"], &env);
    let stderr = run.stderr.clone();
    let out = run.json();
    assert_has(&stderr, "scripted-agent: edit on");
    assert_eq!(out["flow"], FLOW);
    assert_eq!(out["subtask"], sub.id.as_str());
    assert_eq!(out["exit_code"], 0);
    assert!(out["duration_ms"].is_u64(), "{out:#}");
    let head = tip(&repo, &sub.branch);
    let made = out["commits"].as_array().expect("commits");
    assert_eq!(made.len(), 1, "{out:#}");
    assert_eq!(made[0]["commit"], head.as_str(), "{out:#}");
    assert_eq!(made[0]["step"], 1, "{out:#}");

    let seen = std::fs::read_to_string(&log).expect("the agent's log");
    let var = |name: &str| -> String {
        seen.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} not in:\n{seen}"))
            .to_string()
    };
    assert_eq!(var("AIFLOW_FLOW"), FLOW);
    assert_eq!(var("AIFLOW_SUBTASK"), sub.id);
    assert_eq!(var("AIFLOW_STEP"), "1");
    assert!(var("AIFLOW_BRANCH").ends_with(&sub.branch), "{seen}");
    assert_eq!(var("AIFLOW_TEMPLATE"), "execute");
    assert!(!var("AIFLOW_MESSAGE_FILE").is_empty(), "{seen}");
    assert_eq!(var("PROMPT_MATCHES_FILE"), "yes");
    assert_eq!(canonical(Path::new(&var("PWD"))), canonical(&repo.path));
    let email = var("GIT_AUTHOR_EMAIL");
    assert!(email.ends_with("@agent.invalid"), "{seen}");
    assert_has(&var("GIT_AUTHOR_NAME"), "scripted-agent");

    // The commit: authored by the agent, committed by the user, with the agent named.
    assert_eq!(show(&repo, "%ae", &head), email);
    assert_eq!(show(&repo, "%ce", &head), "ada@example.com");
    let assisted = values(&repo, &head, "Assisted-by");
    assert_eq!(assisted.len(), 1);
    assert_has(&assisted[0], &email);
    let note = step_note(&repo, &head);
    assert_eq!(note["schema"].as_integer(), Some(2));
    assert_eq!(note["kind"].as_str(), Some("step"));
    assert_eq!(note["by"].as_str(), Some("agent"));
    assert_eq!(note["flow"].as_str(), Some(FLOW));
    assert_eq!(note["subtask"].as_str(), Some(sub.id.as_str()));
    assert_eq!(note["step"].as_integer(), Some(1));
    assert_eq!(note["exit_code"].as_integer(), Some(0));
    assert!(note.contains_key("agent"), "{note:?}");
    assert!(note.contains_key("prompt_digest"), "{note:?}");
    assert!(note.contains_key("duration_ms"), "{note:?}");
}

// ---------------------------------------------------------------------------------------------
// check binds reviews to content
// ---------------------------------------------------------------------------------------------

/// After approval, an amended commit with new content (its Reviewed-by kept) and a commit added
/// later fail until approved again; a message-only amend or a rebase that keeps the patch still
/// passes, by patch id.
#[test]
fn a_branch_changed_after_approval_fails_check_until_approved_again() {
    let repo = planned_repo();
    let subs = subtasks(&repo);
    let sub = &subs[0];
    let range = format!("{INTEGRATION}..{}", sub.branch);
    repo.aiflow(&["start", &sub.id]).ok();
    exec(&repo, &sub.id, "edit").ok();
    exec(&repo, &sub.id, "edit").ok();

    let approved = approve(&repo, &sub.id);
    repo.aiflow(&["check", &range]).ok();
    // The recorded content ids are the changes git's diff-tree reports, hashed.
    let listed = approved["commits"].as_array().expect("commits");
    assert_eq!(listed.len(), 2, "{approved:#}");
    for c in listed {
        let new = c["new"].as_str().expect("new");
        assert_eq!(c["content_id"], content_id(&repo, new).as_str(), "{c:#}");
    }
    let review = repo.aiflow(&["review", &sub.id, "--json"]).json();
    let reviewed: Vec<&str> = review["commits"]
        .as_array()
        .expect("commits")
        .iter()
        .map(|c| c["review"].as_str().expect("review"))
        .collect();
    assert_eq!(reviewed, ["approved", "approved"], "{review:#}");

    // Amend the tip with new content; the message, with its Reviewed-by, stays.
    let approved_tip = tip(&repo, &sub.branch);
    let file = format!("work/{}.txt", sub.id);
    repo.write(&file, "changed after the review\n");
    repo.git(&["commit", "-q", "-a", "--amend", "--no-edit"]);
    let amended = tip(&repo, "HEAD");
    assert_ne!(amended, approved_tip);
    assert_eq!(values(&repo, &amended, "Reviewed-by"), [GRACE]);
    repo.aiflow(&["check", &range]).fails(1);
    let v = check_json(&repo, &range);
    assert_eq!(
        failures(&v),
        [(amended.clone(), "review-not-recorded".to_string())],
        "{v:#}"
    );

    // A step added after the approval is reported too.
    repo.write("src/extra.rs", "// later\n");
    repo.aiflow(&["step", "-m", "Hand fix after the review"])
        .ok();
    let added = tip(&repo, "HEAD");
    assert_eq!(subtask_status(&repo, &sub.id), "active");
    let v = check_json(&repo, &range);
    let got: BTreeSet<(String, String)> = failures(&v).into_iter().collect();
    assert_eq!(
        got,
        [
            (amended.clone(), "review-not-recorded".to_string()),
            (added.clone(), "no-review".to_string())
        ]
        .into_iter()
        .collect(),
        "{v:#}"
    );
    let review = repo.aiflow(&["review", &sub.id, "--json"]).json();
    let by_commit = |id: &str| -> String {
        review["commits"]
            .as_array()
            .expect("commits")
            .iter()
            .find(|c| c["commit"] == id)
            .unwrap_or_else(|| panic!("{id} not in review --json:\n{review:#}"))["review"]
            .as_str()
            .expect("review")
            .to_string()
    };
    assert_eq!(by_commit(&amended), "stale");
    assert_eq!(by_commit(&added), "unreviewed");

    // Approved again: the gate passes.
    approve(&repo, &sub.id);
    repo.aiflow(&["check", &range]).ok();
    assert_eq!(subtask_status(&repo, &sub.id), "approved");

    // A new message on the same change still passes, by content id.
    let before = tip(&repo, &sub.branch);
    let message = show(&repo, "%B", &before);
    let (_, rest) = message.split_once('\n').expect("subject");
    repo.git_stdin(
        &["commit", "-q", "--amend", "-F", "-"],
        &format!("A better subject\n{rest}\n"),
    );
    let reworded = tip(&repo, "HEAD");
    assert_ne!(reworded, before);
    assert_eq!(patch_id(&repo, &reworded), patch_id(&repo, &before));
    assert_eq!(values(&repo, &reworded, "Reviewed-by"), [GRACE]);
    repo.aiflow(&["check", &range]).ok();

    // So does a rebase that rewrites every commit but keeps each change.
    let old = branch_commits(&repo, sub);
    repo.git(&["rebase", "-q", "--force-rebase", INTEGRATION]);
    let new = branch_commits(&repo, sub);
    assert_eq!(old.len(), new.len());
    for (o, n) in old.iter().zip(&new) {
        assert_ne!(o, n);
        assert_eq!(patch_id(&repo, o), patch_id(&repo, n));
    }
    repo.aiflow(&["check", &range]).ok();
    repo.fsck();
}

// ---------------------------------------------------------------------------------------------
// step
// ---------------------------------------------------------------------------------------------

#[test]
fn step_commits_everything_with_trailers_and_a_note() {
    let repo = planned_repo();
    let subs = subtasks(&repo);
    let sub = &subs[0];

    // Not on a subtask branch.
    repo.write("stray.txt", "stray\n");
    let before = snapshot(&repo);
    let err = repo.aiflow(&["step", "-m", "On main"]).fails(2);
    assert_error(&err, "is not a subtask branch");
    assert_unchanged(&repo, &before);
    std::fs::remove_file(repo.path.join("stray.txt")).expect("rm");

    repo.aiflow(&["start", &sub.id]).ok();
    // Nothing to commit.
    let before = snapshot(&repo);
    let err = repo.aiflow(&["step"]).fails(1);
    assert_error(&err, "nothing");
    assert_unchanged(&repo, &before);

    // A message that smuggles a review.
    repo.write("src/limiter/bucket.rs", "pub struct Bucket;\n");
    let err = repo
        .aiflow(&["step", "-m", "Bucket type\n\nReviewed-by: X <x@y>"])
        .fails(2);
    assert_error(&err, "Reviewed-by");
    assert_unchanged(&repo, &before);

    // A good step.
    let out = repo.aiflow(&["step", "-m", "Bucket type", "--json"]).json();
    let head = tip(&repo, "HEAD");
    assert_eq!(tip(&repo, &sub.branch), head);
    assert_eq!(out["commit"], head.as_str());
    assert_eq!(out["step"], 1);
    assert_eq!(out["flow"], FLOW);
    assert_eq!(out["subtask"], sub.id.as_str());
    assert_eq!(show(&repo, "%s", &head), "Bucket type");
    assert_eq!(
        show(&repo, "%an <%ae>", &head),
        "Ada Lovelace <ada@example.com>"
    );
    let message = show(&repo, "%B", &head);
    let parsed = repo.git_stdin(&["interpret-trailers", "--parse"], &format!("{message}\n"));
    let parsed: BTreeSet<&str> = parsed.lines().collect();
    let id_line = format!("Aiflow-Subtask: {}", sub.id);
    let expected: BTreeSet<&str> = [
        "Aiflow-Flow: rate-limit",
        id_line.as_str(),
        "Aiflow-Step: 1",
    ]
    .into_iter()
    .collect();
    assert_eq!(parsed, expected);
    let note = repo.git(&["notes", "--ref=aiflow", "show", "HEAD"]);
    assert_has(&note, "kind = \"step\"");
    let note = step_note(&repo, &head);
    assert_eq!(note["schema"].as_integer(), Some(2));
    assert_eq!(note["flow"].as_str(), Some(FLOW));
    assert_eq!(note["subtask"].as_str(), Some(sub.id.as_str()));
    assert_eq!(note["step"].as_integer(), Some(1));
    assert_eq!(note["by"].as_str(), Some("hand"));
    assert!(porcelain(&repo).is_empty());

    // The default message; untracked and deleted files are part of the step.
    repo.write("src/limiter/mod.rs", "pub mod bucket;\n");
    std::fs::remove_file(repo.path.join("README.md")).expect("rm");
    repo.aiflow(&["step"]).ok();
    let head = tip(&repo, "HEAD");
    assert_eq!(show(&repo, "%s", &head), format!("{} (step 2)", sub.title));
    assert_eq!(values(&repo, &head, "Aiflow-Step"), ["2"]);
    let files = repo.git(&["show", "--format=", "--name-status", &head]);
    assert_has(&files, "A\tsrc/limiter/mod.rs");
    assert_has(&files, "D\tREADME.md");
    assert!(porcelain(&repo).is_empty());
    repo.fsck();
}

#[test]
fn squashed_steps_leave_concatenated_step_notes_that_are_read() {
    let repo = planned_repo();
    let subs = subtasks(&repo);
    let sub = &subs[0];
    repo.aiflow(&["start", &sub.id]).ok();
    repo.write("a.txt", "a\n");
    repo.aiflow(&["step", "-m", "First"]).ok();
    repo.write("b.txt", "b\n");
    repo.aiflow(&["step", "-m", "Second"]).ok();
    // `git aiflow init` set notes.rewriteRef, so a fixup concatenates the two step notes.
    repo.git_env(
        &["rebase", "-q", "-i", "HEAD~2"],
        &[("GIT_SEQUENCE_EDITOR", "sed -i '2s/^pick/fixup/'")],
    );
    let note = repo.git(&["notes", "--ref=aiflow", "show", "HEAD"]);
    assert_eq!(note.matches("kind = \"step\"").count(), 2, "{note}");
    assert!(toml::from_str::<toml::Table>(&note).is_err(), "{note}");
    let list = repo.aiflow(&["list", "--json"]).json();
    assert_eq!(list["problems"], serde_json::json!([]), "{list:#}");
    let status = repo.aiflow(&["status", FLOW]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert_lacks(&status.stderr, "warning");
}

// ---------------------------------------------------------------------------------------------
// start
// ---------------------------------------------------------------------------------------------

#[test]
fn start_waits_for_dependencies_and_can_use_a_worktree() {
    let repo = planned_repo();
    let subs = subtasks(&repo);

    // Unknown subtask: a usage error.
    let before = snapshot(&repo);
    repo.aiflow(&["start", "zzzzzz"]).fails(2);
    assert_unchanged(&repo, &before);

    // redis depends on setup, which is not merged.
    let err = repo.aiflow(&["start", &subs[1].id]).fails(1);
    assert_error(&err, "");
    assert!(
        err.contains(&subs[0].id) || err.contains(&subs[0].title),
        "start does not name the missing dependency {}:\n{err}",
        subs[0].id
    );
    assert_unchanged(&repo, &before);
    assert_eq!(
        repo.git(&["symbolic-ref", "--short", "HEAD"]).trim(),
        "main"
    );
    assert_eq!(subtask_status(&repo, &subs[1].id), "planned");

    // --force starts it anyway.
    repo.aiflow(&["start", &subs[1].id, "--force"]).ok();
    assert_eq!(
        repo.git(&["symbolic-ref", "--short", "HEAD"]).trim(),
        subs[1].branch
    );
    assert_eq!(tip(&repo, &subs[1].branch), tip(&repo, INTEGRATION));
    assert_eq!(subtask_status(&repo, &subs[1].id), "active");
    // Starting it again just switches to it.
    repo.git(&["switch", "-q", "main"]);
    let refs = repo.refs();
    repo.aiflow(&["start", &subs[1].id]).ok();
    assert_eq!(repo.refs(), refs);
    assert_eq!(
        repo.git(&["symbolic-ref", "--short", "HEAD"]).trim(),
        subs[1].branch
    );

    // setup in a linked worktree at a given path.
    let wt = repo.sibling("wt-setup");
    let out = repo
        .aiflow(&[
            "start",
            &subs[0].id,
            "--worktree",
            wt.to_str().expect("utf-8"),
            "--json",
        ])
        .json();
    assert_eq!(out["branch"], subs[0].branch.as_str());
    assert_eq!(
        canonical(Path::new(out["worktree"].as_str().expect("worktree"))),
        canonical(&wt)
    );
    let list = repo.git(&["worktree", "list", "--porcelain"]);
    let entry = list
        .split("\n\n")
        .find(|e| {
            e.lines()
                .next()
                .and_then(|l| l.strip_prefix("worktree "))
                .is_some_and(|p| canonical(Path::new(p)) == canonical(&wt))
        })
        .unwrap_or_else(|| panic!("{} not in:\n{list}", wt.display()));
    assert_has(entry, &format!("branch refs/heads/{}", subs[0].branch));
    // The main work tree stayed where it was.
    assert_eq!(
        repo.git(&["symbolic-ref", "--short", "HEAD"]).trim(),
        subs[1].branch
    );

    // A hand step in the linked worktree.
    std::fs::write(wt.join("src-hand.txt"), "by hand\n").expect("write");
    aiflow_in(&repo, &wt, &["step", "-m", "By hand in the worktree"]).ok();
    let made = branch_commits(&repo, &subs[0]);
    assert_eq!(made.len(), 1);
    assert_eq!(values(&repo, &made[0], "Aiflow-Step"), ["1"]);
    assert!(aiflow_in(&repo, &wt, &["status"]).code == 0);

    // exec, run from the main work tree, works in the linked one; the agent finds its prompt
    // file from there.
    let run = exec(&repo, &subs[0].id, "edit");
    assert_eq!(run.code, 0, "exec in a linked worktree: {run:?}");
    let file = format!("work/{}.txt", subs[0].id);
    assert!(
        wt.join(&file).exists(),
        "the agent did not run in the worktree"
    );
    assert!(
        !repo.path.join(&file).exists(),
        "the agent ran in the main work tree"
    );
    let made = branch_commits(&repo, &subs[0]);
    assert_eq!(made.len(), 2);
    assert_eq!(values(&repo, &made[1], "Aiflow-Step"), ["2"]);
    assert_eq!(
        values(&repo, &made[1], "Aiflow-Subtask"),
        [subs[0].id.as_str()]
    );
    repo.fsck();
}

/// `start --worktree` without a path: a sibling directory named after the repository and the id.
#[test]
fn start_worktree_defaults_to_a_sibling_directory() {
    let repo = planned_repo();
    let subs = subtasks(&repo);
    let out = repo
        .aiflow(&["start", &subs[0].id, "--worktree", "--json"])
        .json();
    let default = repo.sibling(&format!("repo-{}", subs[0].id));
    assert!(default.is_dir(), "no worktree at {}", default.display());
    assert_eq!(
        canonical(Path::new(out["worktree"].as_str().expect("worktree"))),
        canonical(&default)
    );
    assert_eq!(
        repo.git(&["symbolic-ref", "--short", "HEAD"]).trim(),
        "main"
    );
    let run = Run::of(
        repo.command_in("git", &default)
            .args(["symbolic-ref", "--short", "HEAD"]),
    );
    assert_eq!(run.ok().trim(), subs[0].branch);
}

/// `start` runs git's own check first: a switch that would lose work-tree changes is refused,
/// and nothing is created. `next` meanwhile says what the others wait for.
#[test]
fn start_refuses_to_lose_work_tree_changes() {
    let repo = planned_repo();
    let subs = subtasks(&repo);
    repo.aiflow(&["start", &subs[0].id]).ok();
    exec(&repo, &subs[0].id, "edit").ok();

    // Nothing is ready while setup is unmerged.
    let none = repo.aiflow(&["next", FLOW]);
    assert_eq!(none.code, 1, "{none:?}");
    assert_has(&format!("{}{}", none.stdout, none.stderr), &subs[0].id);

    // A change to a file the other branch does not have.
    let file = format!("work/{}.txt", subs[0].id);
    repo.write(&file, "uncommitted\n");
    let before = snapshot(&repo);
    let err = repo.aiflow(&["start", &subs[1].id, "--force"]).fails(1);
    assert_error(&err, "");
    assert_unchanged(&repo, &before);
    assert!(repo.rev(&subs[1].branch).is_none());
    assert_eq!(subtask_status(&repo, &subs[1].id), "planned");
    assert_eq!(
        repo.git(&["symbolic-ref", "--short", "HEAD"]).trim(),
        subs[0].branch
    );
    assert_eq!(
        std::fs::read_to_string(repo.path.join(&file)).expect("read"),
        "uncommitted\n"
    );
}

// ---------------------------------------------------------------------------------------------
// integrate
// ---------------------------------------------------------------------------------------------

#[test]
fn integrate_requires_approval_and_merges_where_the_branch_is_checked_out() {
    let repo = planned_repo();
    let subs = subtasks(&repo);
    let sub = &subs[0];
    repo.aiflow(&["start", &sub.id]).ok();
    exec(&repo, &sub.id, "edit").ok();

    let before = snapshot(&repo);
    let err = repo.aiflow(&["integrate", &sub.id]).fails(1);
    assert_error(&err, "approv");
    assert_unchanged(&repo, &before);
    assert_eq!(subtask_status(&repo, &sub.id), "active");

    approve(&repo, &sub.id);
    let branch_tip = tip(&repo, &sub.branch);
    let old = tip(&repo, INTEGRATION);
    // The integration branch checked out in the main work tree: integrate goes through git merge.
    repo.git(&["switch", "-q", INTEGRATION]);
    repo.aiflow(&["integrate", &sub.id]).ok();
    let merge = tip(&repo, INTEGRATION);
    assert_eq!(tip(&repo, "HEAD"), merge);
    assert_eq!(
        repo.git(&["symbolic-ref", "--short", "HEAD"]).trim(),
        INTEGRATION
    );
    assert_eq!(
        repo.git(&["rev-parse", &format!("{merge}^1"), &format!("{merge}^2")]),
        format!("{old}\n{branch_tip}\n")
    );
    assert_eq!(values(&repo, &merge, "Aiflow-Flow"), [FLOW]);
    assert_eq!(values(&repo, &merge, "Aiflow-Subtask"), [sub.id.as_str()]);
    let message = show(&repo, "%B", &merge);
    assert!(
        message.contains(&sub.id) || message.contains(&sub.title),
        "{message}"
    );
    // The work tree and index follow the merge.
    assert!(porcelain(&repo).is_empty(), "{}", porcelain(&repo));
    assert_has(
        &std::fs::read_to_string(repo.path.join(format!("work/{}.txt", sub.id)))
            .expect("the merged file is in the work tree"),
        "step 1 (edit)",
    );
    assert_eq!(subtask_status(&repo, &sub.id), "merged");
    repo.aiflow(&["check", &format!("main..{INTEGRATION}")])
        .ok();
    repo.fsck();
}

// ---------------------------------------------------------------------------------------------
// reject
// ---------------------------------------------------------------------------------------------

#[test]
fn reject_revokes_an_approval_until_approved_again() {
    let repo = planned_repo();
    let base = tip(&repo, "main");
    let subs = subtasks(&repo);
    let sub = &subs[0];
    let range = format!("{INTEGRATION}..{}", sub.branch);
    repo.aiflow(&["start", &sub.id]).ok();
    exec(&repo, &sub.id, "edit").ok();
    approve(&repo, &sub.id);
    repo.aiflow(&["check", &range]).ok();

    repo.aiflow_env(&["reject", &sub.id, "-m", "Please add tests"], AS_GRACE)
        .ok();
    assert_eq!(subtask_status(&repo, &sub.id), "active");
    // Read now, checked at the end (the dashboard's fields are checked last).
    let after_reject = repo.aiflow(&["status", FLOW, "--json"]).json();
    let note = repo.git(&["notes", "--ref=aiflow", "show", &anchor(&repo, &base)]);
    assert_has(&note, "changes-requested");
    assert_has(&note, "Please add tests");

    // The commits still say Reviewed-by, but the review was revoked.
    let commits = branch_commits(&repo, sub);
    assert_eq!(values(&repo, &commits[0], "Reviewed-by"), [GRACE]);
    repo.aiflow(&["check", &range]).fails(1);
    let v = check_json(&repo, &range);
    assert_eq!(
        failures(&v),
        [(commits[0].clone(), "review-revoked".to_string())],
        "{v:#}"
    );
    let before = snapshot(&repo);
    repo.aiflow(&["integrate", &sub.id]).fails(1);
    assert_unchanged(&repo, &before);

    approve(&repo, &sub.id);
    repo.aiflow(&["check", &range]).ok();
    assert_eq!(subtask_status(&repo, &sub.id), "approved");
    let after_approve = repo.aiflow(&["status", FLOW, "--json"]).json();
    repo.aiflow(&["integrate", &sub.id]).ok();
    repo.fsck();

    // The dashboard: the rejection, then the new approval.
    let rejected = entry(&after_reject, &sub.id);
    assert_eq!(rejected["status"], "active", "{rejected:#}");
    assert_eq!(
        rejected["review"]["verdict"], "changes-requested",
        "{rejected:#}"
    );
    assert_eq!(rejected["review"]["reviewer"], GRACE, "{rejected:#}");
    let st = entry(&after_approve, &sub.id);
    assert_eq!(st["status"], "approved", "{st:#}");
    assert_eq!(st["review"]["verdict"], "approved", "{st:#}");
}

/// `git count-objects -v`'s `count` (loose objects) and `packs`.
fn object_counts(repo: &TestRepo) -> (u64, u64) {
    let out = repo.git(&["count-objects", "-v"]);
    let get = |k: &str| -> u64 {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}: ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{k} in {out}"))
    };
    (get("count"), get("packs"))
}

/// Approving a long subtask writes its rewritten commits and their notes as one pack, not as a
/// loose file each; git reads the pack whole (`verify-pack`, `fsck --strict`), the review is
/// what a short approval records, and the pack's `.keep` is gone once the refs have moved. A
/// short approval writes its few objects loose, as git does.
#[test]
fn approving_many_commits_writes_one_pack_and_few_write_loose_objects() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.plan_subtasks(&[("a1", "Long"), ("a2", "Short")]);
    repo.aiflow(&["start", "a1"]).ok();
    for i in 0..110 {
        repo.write("long.txt", &format!("{i}\n"));
        repo.git(&["add", "long.txt"]);
        repo.git(&["commit", "-qm", &format!("Line {i}")]);
    }
    let (loose_before, packs_before) = object_counts(&repo);
    let v = repo
        .aiflow_env(&["approve", "a1", "--json"], AS_GRACE)
        .json();
    assert_eq!(v["commits"].as_array().map(Vec::len), Some(110), "{v}");
    let (loose_after, packs_after) = object_counts(&repo);
    assert_eq!(packs_after, packs_before + 1);
    // The approved commits and the notes commit are in the pack, not loose; what is loose is
    // the display ref's summary, which the command refreshes afterwards (a blob, a tree, a commit).
    let loose = |id: &str| {
        repo.path
            .join(".git/objects")
            .join(&id[..2])
            .join(&id[2..])
            .exists()
    };
    let approved = repo.git(&["rev-list", "aiflow/rate-limit..aiflow/rate-limit--a1-long"]);
    assert_eq!(approved.lines().count(), 110);
    for id in approved
        .lines()
        .chain([repo.rev("refs/notes/aiflow").expect("notes").as_str()])
    {
        assert!(!loose(id), "{id} is loose");
    }
    assert!(
        loose_after <= loose_before + 3,
        "{loose_before} -> {loose_after}"
    );
    let pack_dir = repo.path.join(".git/objects/pack");
    let names: Vec<String> = std::fs::read_dir(&pack_dir)
        .expect("pack dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".keep")), "{names:?}");
    let idx = names
        .iter()
        .find(|n| n.ends_with(".idx"))
        .expect("an index");
    let verified = repo.git(&["verify-pack", "-v", &format!(".git/objects/pack/{idx}")]);
    // 110 commits and 110 review notes, the notes trees and commit: all in the pack.
    let commits = verified.lines().filter(|l| l.contains(" commit ")).count();
    assert!(commits >= 111, "{verified}");
    repo.fsck();
    // What was approved is what the gate sees: every commit reviewed.
    let check = Run::of(
        repo.command(BIN)
            .args(["check", "aiflow/rate-limit..aiflow/rate-limit--a1-long"]),
    );
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);

    repo.aiflow(&["start", "a2"]).ok();
    repo.write("short.txt", "short\n");
    repo.aiflow(&["step", "-m", "Short"]).ok();
    let (loose_before, packs_before) = object_counts(&repo);
    repo.aiflow_env(&["approve", "a2"], AS_GRACE).ok();
    let (loose_after, packs_after) = object_counts(&repo);
    assert_eq!(packs_after, packs_before);
    assert!(loose_after > loose_before);
    repo.fsck();
}
