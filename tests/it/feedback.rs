//! Feedback and expansion: `plan --again -m/-F`, questions asked again with feedback, and
//! `plan expand`, against a scripted OpenAI-compatible server on the loopback. What the server
//! received is asserted on the server side; what was stored is read back with `git notes`.

use crate::harness::{Run, TestRepo, assert_has, assert_lacks, fixture};
use crate::llm_server::{LlmServer, Step, content_of, with_content};
use serde_json::{Value, json};

const NOTES: &str = "refs/notes/aiflow";

/// A recorded OpenAI wire reply from `fixtures/providers/openai/`.
fn wire(name: &str) -> String {
    std::fs::read_to_string(fixture(&format!("providers/openai/{name}.json"))).expect("fixture")
}

/// A `200` reply whose content is `content`, in the recorded plan reply's envelope.
fn reply(content: &Value) -> Step {
    Step::json(200, with_content(&wire("plan"), &content.to_string()))
}

fn questions_reply() -> Step {
    Step::json(200, wire("questions"))
}

fn plan_reply() -> Step {
    Step::json(200, wire("plan"))
}

/// The recorded plan with its first subtask retitled, so a second revision differs.
fn other_plan_reply() -> Step {
    let mut plan: Value = serde_json::from_str(&content_of(&wire("plan"))).expect("plan");
    plan["subtasks"][0]["title"] = json!("Token bucket core with tests");
    reply(&plan)
}

/// A repository with the rate-limit flow, its provider the scripted server.
fn repo_for(server: &LlmServer) -> TestRepo {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.git(&["config", "aiflow.provider", "openai"]);
    repo.git(&["config", "aiflow.baseUrl", &format!("{}/v1", server.url())]);
    repo.git(&["config", "aiflow.model", "test-model"]);
    repo
}

fn run(repo: &TestRepo, args: &[&str]) -> Run {
    repo.aiflow_env(args, &[("OPENAI_API_KEY", "sk-test-secret-123")])
}

/// The user prompt of request `n` (0-based) as the server received it.
fn prompt_of(server: &LlmServer, n: usize) -> String {
    let requests = server.requests();
    let body = requests
        .get(n)
        .unwrap_or_else(|| panic!("no request {n}; {} received", requests.len()))
        .json();
    body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().expect("content").to_string())
        .next()
        .expect("a user message")
}

fn note(repo: &TestRepo) -> String {
    repo.git(&["notes", "--ref=aiflow", "show", "aiflow/rate-limit"])
}

fn log_json(repo: &TestRepo) -> Value {
    run(repo, &["plan", "log", "rate-limit", "--json"]).json()
}

/// Questions asked and skipped, then a first plan (requests 0 and 1 of `server`).
fn planned(server: &LlmServer) -> TestRepo {
    let repo = repo_for(server);
    run(&repo, &["plan", "rate-limit"]).ok();
    run(&repo, &["answer", "rate-limit", "--skip"]).ok();
    run(&repo, &["plan", "rate-limit"]).ok();
    repo
}

#[test]
fn again_with_feedback_sends_it_with_the_plan_and_keeps_it_in_the_revision() {
    let server = LlmServer::start(vec![questions_reply(), plan_reply(), other_plan_reply()]);
    let repo = planned(&server);
    assert_lacks(&prompt_of(&server, 1), "feedback");
    let out = run(
        &repo,
        &[
            "plan",
            "rate-limit",
            "--again",
            "-m",
            "The tests are missing.",
            "-m",
            "Keep the Redis part out of the first subtask.",
        ],
    )
    .ok();
    assert_has(&out, "Plan revision 2 of rate-limit");
    let sent = prompt_of(&server, 2);
    let text = "The tests are missing.\n\nKeep the Redis part out of the first subtask.";
    assert_has(&sent, "## The reviewer's feedback");
    assert_has(&sent, text);
    // With the plan it objects to.
    assert_has(&sent, "## The current plan (revision 1)");
    assert_has(&sent, "Token bucket core with continuous refill");
    // Stored in the revision's provenance, and only there.
    let note = note(&repo);
    assert_has(&note, "The tests are missing.");
    assert_has(&note, "Keep the Redis part out of the first subtask.");
    let log = log_json(&repo);
    assert_eq!(log["revisions"][0]["revision"], 2);
    assert_eq!(log["revisions"][0]["feedback"], text);
    assert_eq!(log["revisions"][1]["feedback"], Value::Null);
    let shown = run(&repo, &["plan", "log", "rate-limit"]).ok();
    assert_has(
        &shown,
        "    feedback: The tests are missing.\n\n              Keep the Redis part",
    );
    assert_eq!(shown.matches("feedback:").count(), 1, "{shown}");
    repo.fsck();
}

#[test]
fn feedback_from_a_file_or_stdin_asks_for_a_new_revision_without_again() {
    let server = LlmServer::start(vec![
        questions_reply(),
        plan_reply(),
        other_plan_reply(),
        plan_reply(),
    ]);
    let repo = planned(&server);
    // Without feedback or --again, a planned flow refuses, and says how to give feedback.
    let refused = run(&repo, &["plan", "rate-limit"]).fails(1);
    assert_has(&refused, "--again` (with -m TEXT");
    let file = repo.outside("objections.txt", b"Subtask 3 is too large.\n");
    run(
        &repo,
        &["plan", "rate-limit", "-F", file.to_str().expect("utf-8")],
    )
    .ok();
    assert_has(&prompt_of(&server, 2), "Subtask 3 is too large.");
    let piped = repo.aiflow_stdin(
        &["plan", "rate-limit", "-F", "-"],
        b"Metrics belong in production.\n",
    );
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    assert_has(&prompt_of(&server, 3), "Metrics belong in production.");
    let log = log_json(&repo);
    assert_eq!(
        log["revisions"][0]["feedback"],
        "Metrics belong in production."
    );
    assert_eq!(log["revisions"][1]["feedback"], "Subtask 3 is too large.");
    assert_eq!(server.requests().len(), 4);
}

#[test]
fn feedback_goes_with_the_first_plan_and_bad_feedback_is_a_usage_error() {
    let server = LlmServer::start(vec![questions_reply(), plan_reply()]);
    let repo = repo_for(&server);
    run(&repo, &["plan", "rate-limit"]).ok();
    run(&repo, &["answer", "rate-limit", "--skip"]).ok();
    let before = repo.rev(NOTES);
    // Empty feedback, and -m with -F, are refused before anything is asked.
    let e = run(&repo, &["plan", "rate-limit", "-m", "  "]).fails(2);
    assert_has(&e, "the feedback is empty");
    let e = run(&repo, &["plan", "rate-limit", "-m", "x", "-F", "f"]).fails(2);
    assert_has(&e, "cannot be used together");
    assert_eq!(server.requests().len(), 1);
    assert_eq!(repo.rev(NOTES), before);
    // --print-prompt shows it and sends nothing.
    let shown = run(
        &repo,
        &["plan", "rate-limit", "-m", "Use sqlite.", "--print-prompt"],
    )
    .ok();
    assert_has(
        &shown,
        "The reviewer asks you to take this into account:\n\nUse sqlite.",
    );
    assert_eq!(server.requests().len(), 1);
    let out = run(
        &repo,
        &["plan", "rate-limit", "-m", "Use sqlite.", "--json"],
    )
    .json();
    assert_eq!(out["revision"], 1);
    assert_eq!(out["feedback"], "Use sqlite.");
    assert_has(&prompt_of(&server, 1), "Use sqlite.");
    // The manual provider reads its answer from stdin: feedback cannot come from there too.
    let e = repo.aiflow_stdin(
        &["plan", "rate-limit", "--provider", "manual", "-F", "-"],
        b"more\n",
    );
    assert_eq!(e.code, 2, "{}", e.stderr);
    assert_has(&e.stderr, "the feedback cannot");
}

#[test]
fn questions_are_asked_again_with_feedback_and_answers_are_replaced_only_by_force() {
    let mut fewer: Value = serde_json::from_str(&content_of(&wire("questions"))).expect("json");
    fewer["questions"].as_array_mut().expect("list").truncate(1);
    let server = LlmServer::start(vec![
        questions_reply(),
        reply(&fewer),
        questions_reply(),
        plan_reply(),
    ]);
    let repo = repo_for(&server);
    run(&repo, &["plan", "rate-limit"]).ok();
    let e = run(&repo, &["plan", "rate-limit", "--force"]).fails(2);
    assert_has(&e, "--questions");
    // Nothing answered yet: asked again, with the questions asked before and the feedback.
    let out = run(
        &repo,
        &[
            "plan",
            "rate-limit",
            "--questions",
            "-m",
            "Only ask about Redis.",
            "--json",
        ],
    )
    .json();
    assert_eq!(out["questions"].as_array().expect("list").len(), 1);
    assert_eq!(out["asked"]["feedback"], "Only ask about Redis.");
    let sent = prompt_of(&server, 1);
    assert_has(&sent, "## Questions asked before");
    assert_has(&sent, "How should requests without an API key be keyed");
    assert_has(
        &sent,
        "## The developer's feedback\n\nOnly ask about Redis.",
    );
    let note = note(&repo);
    assert_has(&note, "[questions_asked]");
    assert_has(&note, "feedback = \"Only ask about Redis.\"");
    assert_lacks(&note, "X-Forwarded-For");
    // An answer would be lost: refused, nothing written.
    run(&repo, &["answer", "rate-limit", "--answer", "1=Redis"]).ok();
    let before = repo.rev(NOTES);
    let e = run(&repo, &["plan", "rate-limit", "--questions"]).fails(1);
    assert_has(&e, "question 1 of flow `rate-limit` is answered");
    assert_has(&e, "--questions --force");
    assert_eq!(repo.rev(NOTES), before);
    assert_eq!(server.requests().len(), 2);
    // Forced: replaced, answers gone, the skip state reset.
    run(&repo, &["answer", "rate-limit", "--skip"]).ok();
    run(&repo, &["plan", "rate-limit", "--questions", "--force"]).ok();
    let status = run(&repo, &["status", "rate-limit", "--json"]).json();
    let text = status.to_string();
    assert_lacks(&text, "\"Redis\"");
    let e = run(&repo, &["plan", "rate-limit"]).fails(1);
    assert_has(&e, "not answered yet");
    // Once a plan exists, questions are not asked again.
    run(&repo, &["answer", "rate-limit", "--skip"]).ok();
    run(&repo, &["plan", "rate-limit"]).ok();
    let e = run(&repo, &["plan", "rate-limit", "--questions", "--force"]).fails(1);
    assert_has(&e, "only before the first plan");
    assert_eq!(server.requests().len(), 4);
}

// ---------------------------------------------------------------------------------------------
// plan expand
// ---------------------------------------------------------------------------------------------

/// A planned flow whose current plan (revision 2, a hand edit) is `a1`, `b2` (after a1), `c3`
/// and `d4` (both after b2), `e5` (after a1, dropped).
fn expandable(server: &LlmServer) -> TestRepo {
    let repo = planned(server);
    let toml = "\
[[subtask]]\nid = \"a1\"\ntitle = \"Token bucket\"\nphase = \"core\"\n\n\
[[subtask]]\nid = \"b2\"\ntitle = \"Redis storage and middleware\"\nphase = \"core\"\ndepends_on = [\"a1\"]\n\
description = \"Store the buckets in Redis and answer 429 from a middleware.\"\n\n\
[[subtask]]\nid = \"c3\"\ntitle = \"Quota overrides\"\nphase = \"nice-to-have\"\ndepends_on = [\"b2\"]\n\n\
[[subtask]]\nid = \"d4\"\ntitle = \"Metrics\"\nphase = \"production\"\ndepends_on = [\"b2\", \"a1\"]\n\n\
[[subtask]]\nid = \"e5\"\ntitle = \"Admin page\"\nphase = \"production\"\nstatus = \"dropped\"\ndepends_on = [\"a1\"]\n";
    let file = repo.outside("plan.toml", toml.as_bytes());
    run(
        &repo,
        &[
            "plan",
            "edit",
            "rate-limit",
            "-F",
            file.to_str().expect("utf-8"),
        ],
    )
    .ok();
    repo
}

/// The model's split of b2: a first part, then two parts that both follow it.
fn split_reply() -> Step {
    reply(&json!({"subtasks": [
        {"id": "s1", "title": "Redis bucket store", "description": "Keep buckets in Redis.",
         "files": ["src/limiter/redis_store.rs"], "phase": "core", "depends_on": []},
        {"id": "s2", "title": "Rate limit middleware", "description": "Answer 429.",
         "files": ["src/middleware/rate_limit.rs"], "phase": "core", "depends_on": ["s1"]},
        {"id": "s3", "title": "Retry-After header", "description": "Say when to retry.",
         "files": [], "phase": "core", "depends_on": ["s1"]}
    ]}))
}

fn subtasks_of(plan: &Value) -> Vec<(String, Vec<String>)> {
    plan["subtasks"]
        .as_array()
        .expect("subtasks")
        .iter()
        .map(|s| {
            let deps = s["depends_on"]
                .as_array()
                .expect("deps")
                .iter()
                .map(|d| d.as_str().expect("id").to_string())
                .collect();
            (s["id"].as_str().expect("id").to_string(), deps)
        })
        .collect()
}

#[test]
fn expand_splits_a_subtask_in_place_and_rewires_its_dependants() {
    let server = LlmServer::start(vec![questions_reply(), plan_reply(), split_reply()]);
    let repo = expandable(&server);
    let r1 = run(
        &repo,
        &["plan", "show", "rate-limit", "--revision", "1", "--json"],
    )
    .json();
    let old_ids: Vec<String> = subtasks_of(&r1).into_iter().map(|(id, _)| id).collect();
    let out = run(
        &repo,
        &[
            "plan",
            "expand",
            "b2",
            "--flow",
            "rate-limit",
            "-m",
            "Keep storage apart from HTTP.",
            "--json",
        ],
    )
    .json();
    // What the model was sent: the subtask, its dependants, the plan, the feedback.
    let sent = prompt_of(&server, 2);
    assert_has(&sent, "## The subtask to split (b2)");
    assert_has(&sent, "Title: Redis storage and middleware");
    assert_has(
        &sent,
        "Store the buckets in Redis and answer 429 from a middleware.",
    );
    assert_has(&sent, "c3 (Quota overrides), d4 (Metrics)");
    assert_has(&sent, "## The reviewer's feedback");
    assert_has(&sent, "Keep storage apart from HTTP.");
    assert_has(&sent, "## The whole plan (revision 2)");
    let body = server.requests()[2].json();
    assert_eq!(body["response_format"]["json_schema"]["name"], "expand");
    // The new revision: the parts in b2's place, fresh ids, dependencies rewired.
    assert_eq!(out["revision"], 3);
    assert_eq!(out["expanded"], "b2");
    assert_eq!(out["feedback"], "Keep storage apart from HTTP.");
    let subtasks = subtasks_of(&out);
    let ids: Vec<&str> = subtasks.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), 7, "{ids:?}");
    assert_eq!((ids[0], ids[4], ids[5], ids[6]), ("a1", "c3", "d4", "e5"));
    let parts: Vec<String> = ids[1..4].iter().map(|s| s.to_string()).collect();
    assert_eq!(out["parts"], json!(parts));
    for p in &parts {
        assert!(
            !old_ids.contains(p)
                && !["a1", "b2", "c3", "d4", "e5", "s1", "s2", "s3"].contains(&p.as_str()),
            "{p} is not a fresh id"
        );
    }
    let titles: Vec<&str> = out["subtasks"]
        .as_array()
        .expect("subtasks")
        .iter()
        .map(|s| s["title"].as_str().expect("title"))
        .collect();
    assert_eq!(
        titles[1..4],
        [
            "Redis bucket store",
            "Rate limit middleware",
            "Retry-After header"
        ]
    );
    // The first part inherits b2's dependencies; the two last parts are what b2's dependants
    // now wait for; a dropped subtask is left as it was.
    assert_eq!(subtasks[1].1, ["a1"]);
    assert_eq!(subtasks[2].1, [parts[0].clone()]);
    assert_eq!(subtasks[3].1, [parts[0].clone()]);
    let last = vec![parts[1].clone(), parts[2].clone()];
    assert_eq!(subtasks[4].1, last);
    assert_eq!(
        subtasks[5].1,
        [parts[1].clone(), parts[2].clone(), "a1".into()]
    );
    assert_eq!(subtasks[6].1, ["a1"]);
    assert_eq!(out["subtasks"][6]["status"], "dropped");
    // `next` follows the new dependencies: a1 first.
    let next = run(&repo, &["next", "rate-limit", "--json"]).json();
    assert_eq!(next["subtask"]["id"], "a1");
    // Provenance, in the note and in the log.
    let note = note(&repo);
    assert_has(&note, "expanded = \"b2\"");
    assert_has(&note, "feedback = \"Keep storage apart from HTTP.\"");
    let log = log_json(&repo);
    assert_eq!(log["revisions"][0]["source"], "model");
    assert_eq!(log["revisions"][0]["expanded"], "b2");
    let text = run(&repo, &["plan", "log", "rate-limit"]).ok();
    assert_has(&text, "expanded b2 into smaller subtasks");
    assert_has(&text, "feedback: Keep storage apart from HTTP.");
    // `plan diff` shows the split.
    let diff = run(&repo, &["plan", "diff", "rate-limit"]).ok();
    assert_has(&diff, "revision 2 → 3");
    assert_has(&diff, "- b2  Redis storage and middleware  (removed)");
    for (i, p) in parts.iter().enumerate() {
        assert_has(
            &diff,
            &format!("+ {p}  {}  (added at {})", titles[i + 1], i + 2),
        );
    }
    assert_has(&diff, "~ c3  Quota overrides");
    assert_has(&diff, "~ d4  Metrics");
    repo.fsck();
}

#[test]
fn expand_text_output_and_print_prompt() {
    let server = LlmServer::start(vec![questions_reply(), plan_reply(), split_reply()]);
    let repo = expandable(&server);
    let before = repo.rev(NOTES);
    let prompt = run(&repo, &["plan", "expand", "b2", "--print-prompt"]).ok();
    assert_has(&prompt, "## The subtask to split (b2)");
    assert_lacks(&prompt, "## The reviewer's feedback");
    assert_eq!(server.requests().len(), 2);
    assert_eq!(repo.rev(NOTES), before);
    let out = run(&repo, &["plan", "expand", "b2"]).ok();
    assert_has(
        &out,
        "Plan revision 3 of rate-limit from openai (test-model-2026-01-01): b2 (Redis storage and middleware) split into 3 subtasks.",
    );
    assert_has(&out, "what waited for b2 now waits for: c3 (after ");
    assert_has(&out, "git aiflow plan diff rate-limit");
    assert_eq!(log_json(&repo)["revisions"][0]["feedback"], Value::Null);
}

#[test]
fn expand_refuses_unknown_dropped_and_started_subtasks_with_nothing_written() {
    let server = LlmServer::start(vec![questions_reply(), plan_reply()]);
    let repo = expandable(&server);
    let before = (repo.rev(NOTES), repo.refs());
    let e = run(&repo, &["plan", "expand", "zz9", "--flow", "rate-limit"]).fails(2);
    assert_has(&e, "no subtask `zz9`");
    let e = run(&repo, &["plan", "expand"]).fails(2);
    assert_has(&e, "<subtask>");
    let e = run(&repo, &["plan", "expand", "e5"]).fails(1);
    assert_has(&e, "subtask e5 of flow `rate-limit` is dropped");
    assert_eq!((repo.rev(NOTES), repo.refs()), before);
    run(&repo, &["start", "a1"]).ok();
    let started = (repo.rev(NOTES), repo.refs());
    let e = run(&repo, &["plan", "expand", "a1"]).fails(1);
    assert_has(&e, "subtask a1 of flow `rate-limit` is active");
    assert_has(&e, "only a subtask that has not started can be split");
    assert_eq!((repo.rev(NOTES), repo.refs()), started);
    // A branch made by hand counts as started too.
    repo.git(&["branch", "aiflow/rate-limit--c3-quota-overrides", "main"]);
    let e = run(&repo, &["plan", "expand", "c3"]).fails(1);
    assert_has(&e, "has a branch, aiflow/rate-limit--c3-quota-overrides");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn expand_writes_nothing_when_the_model_does_not_split() {
    let one = json!({"subtasks": [{"id": "x", "title": "All of it", "description": "",
        "files": [], "phase": "core", "depends_on": []}]});
    let cycle = json!({"subtasks": [
        {"id": "x", "title": "First", "phase": "core", "depends_on": ["c3"]},
        {"id": "y", "title": "Second", "phase": "core", "depends_on": ["x"]}]});
    let server = LlmServer::start(vec![
        questions_reply(),
        plan_reply(),
        reply(&one),
        reply(&one),
        reply(&cycle),
        reply(&cycle),
    ]);
    let repo = expandable(&server);
    let before = (repo.rev(NOTES), repo.refs());
    let e = run(&repo, &["plan", "expand", "b2"]).fails(2);
    assert_has(&e, "asking once more");
    assert_has(&e, "split the subtask into at least 2 smaller ones");
    assert_has(&e, "nothing was written");
    // The repair request quoted the problem.
    let repair = server.requests()[3].json();
    let last = repair["messages"]
        .as_array()
        .expect("messages")
        .last()
        .expect("one")
        .clone();
    assert_has(last["content"].as_str().expect("text"), "at least 2");
    let e = run(&repo, &["plan", "expand", "b2"]).fails(2);
    assert_has(&e, "the dependencies form a cycle");
    assert_eq!((repo.rev(NOTES), repo.refs()), before);
    assert_eq!(server.requests().len(), 6);
}

#[test]
fn expand_is_completed_and_has_a_manual_page() {
    let server = LlmServer::start(vec![questions_reply(), plan_reply()]);
    let repo = expandable(&server);
    let words = run(&repo, &["__complete", "plan", "expand", ""]).ok();
    for id in ["a1", "b2", "c3", "d4", "e5"] {
        assert!(words.lines().any(|l| l == id), "{id} not in:\n{words}");
    }
    let dir = repo.sibling("man");
    run(
        &repo,
        &["man", "--install", "--dir", dir.to_str().expect("utf-8")],
    )
    .ok();
    let page = std::fs::read_to_string(dir.join("git-aiflow-plan-expand.1")).expect("page");
    assert_has(&page, "split one subtask");
}

/// A flow planned as `a1`, `b2` (no dependencies) whose provider is a command that answers
/// with a split of b2 once `go` exists; returns the repo and the files `waiting` and `go`.
fn slow_model() -> (TestRepo, std::path::PathBuf, std::path::PathBuf) {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.plan_subtasks(&[
        ("a1", "Token bucket"),
        ("b2", "Redis storage and middleware"),
    ]);
    let content = json!({"subtasks": [
        {"id": "x", "title": "Redis store", "phase": "core", "depends_on": []},
        {"id": "y", "title": "Middleware", "phase": "core", "depends_on": ["x"]}]});
    let answer = repo.outside("split.json", content.to_string().as_bytes());
    let sync = repo.sibling("sync");
    std::fs::create_dir_all(&sync).expect("mkdir");
    let (waiting, go) = (sync.join("waiting"), sync.join("go"));
    repo.git(&["config", "aiflow.provider", "command"]);
    repo.git(&[
        "config",
        "aiflow.command",
        &format!(
            "touch '{}'; i=0; while [ ! -f '{}' ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; cat '{}'",
            waiting.display(),
            go.display(),
            answer.display()
        ),
    ]);
    (repo, waiting, go)
}

/// Run `plan expand b2` with [`slow_model`]'s provider, and `during` while the model answers.
fn expand_while(
    repo: &TestRepo,
    waiting: &std::path::Path,
    go: &std::path::Path,
    during: impl FnOnce(),
) -> Run {
    let child = repo
        .command(crate::harness::BIN)
        .args(["plan", "expand", "b2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    for _ in 0..1200 {
        if waiting.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(waiting.exists(), "the model was never asked");
    // The expansion read the flow before this.
    during();
    std::fs::write(go, b"").expect("go");
    let out = child.wait_with_output().expect("wait");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A subtask started while the model is splitting another one stays started: the new revision
/// carries the progress made meanwhile instead of the progress it was made from.
#[test]
fn progress_made_while_the_model_answers_is_kept() {
    let (repo, waiting, go) = slow_model();
    expand_while(&repo, &waiting, &go, || {
        run(&repo, &["start", "a1"]).ok();
    })
    .ok();
    let plan = run(&repo, &["plan", "show", "rate-limit", "--json"]).json();
    assert_eq!(plan["revision"], 3);
    assert_eq!(plan["expanded"], "b2");
    let a1 = &plan["subtasks"][0];
    assert_eq!(a1["id"], "a1");
    assert_eq!(a1["status"], "active");
    assert_eq!(a1["branch_exists"], true);
    let status = run(&repo, &["status", "rate-limit", "--json"]).json();
    assert_has(&status.to_string(), "aiflow/rate-limit--a1-token-bucket");
}

/// The subtask being split started while the model answered: nothing is written.
#[test]
fn a_subtask_started_while_it_is_being_split_is_not_split() {
    let (repo, waiting, go) = slow_model();
    let e = expand_while(&repo, &waiting, &go, || {
        run(&repo, &["start", "b2"]).ok();
    })
    .fails(1);
    assert_has(
        &e,
        "subtask b2 of flow `rate-limit` started while the model was answering; nothing was written",
    );
    let plan = run(&repo, &["plan", "show", "rate-limit", "--json"]).json();
    assert_eq!(plan["revision"], 2);
    assert_eq!(plan["subtasks"][1]["status"], "active");
}
