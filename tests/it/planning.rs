//! Planning: clarifying questions, answers, model plans and their revisions, against a scripted
//! provider server on the loopback (never the internet), a scripted command and the manual
//! provider. Every failure must exit with the documented code, say what went wrong, and leave the
//! refs (the notes ref above all) exactly as they were.

use crate::harness::{ANSWER_RATE_LIMIT, Run, TestRepo, assert_has, assert_lacks, fixture};
use crate::llm_server::{
    LlmServer, Recorded, Step, anthropic_body, content_of, openai_body, with_content,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const KEY: &str = "sk-test-secret-123";
const NOTES: &str = "refs/notes/aiflow";

/// A recorded wire reply from `fixtures/providers/`.
fn wire(name: &str) -> String {
    std::fs::read_to_string(fixture(&format!("providers/{name}.json"))).expect("fixture")
}

/// A recorded wire reply as a `200` step.
fn wire_step(name: &str) -> Step {
    Step::json(200, wire(name))
}

/// An OpenAI `200` step whose content is `content`, in the recorded plan reply's envelope.
fn openai_content(content: &str) -> Step {
    Step::json(200, with_content(&wire("openai/plan"), content))
}

/// The plan of the recorded OpenAI reply, as JSON, for tests to break.
fn model_plan() -> Value {
    serde_json::from_str(&content_of(&wire("openai/plan"))).expect("plan JSON")
}

#[derive(Clone, Copy, PartialEq)]
enum Provider {
    OpenAi,
    Anthropic,
}

/// A repository with the rate-limit flow, configured for `provider` at `server`.
fn repo_for(provider: Provider, server: &LlmServer) -> TestRepo {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    match provider {
        Provider::OpenAi => {
            repo.git(&["config", "aiflow.provider", "openai"]);
            repo.git(&["config", "aiflow.baseUrl", &format!("{}/v1", server.url())]);
        }
        Provider::Anthropic => {
            repo.git(&["config", "aiflow.provider", "anthropic"]);
            repo.git(&["config", "aiflow.baseUrl", &server.url()]);
        }
    }
    repo.git(&["config", "aiflow.model", "test-model"]);
    repo
}

/// Run git-aiflow with both providers' keys in the environment.
fn run(repo: &TestRepo, args: &[&str]) -> Run {
    repo.aiflow_env(args, &[("OPENAI_API_KEY", KEY), ("ANTHROPIC_API_KEY", KEY)])
}

/// Answer the three questions of the fixture.
fn answer_three(repo: &TestRepo) -> String {
    run(repo, &ANSWER_RATE_LIMIT).ok()
}

/// A flow whose questions were asked (through a throwaway server) and skipped, ready for a plan
/// request against `server`.
fn repo_ready_for_plan(provider: Provider, server: &LlmServer) -> TestRepo {
    let repo = repo_for(provider, server);
    let questions = LlmServer::start(vec![wire_step(match provider {
        Provider::OpenAi => "openai/questions",
        Provider::Anthropic => "anthropic/questions",
    })]);
    let base = match provider {
        Provider::OpenAi => format!("{}/v1", questions.url()),
        Provider::Anthropic => questions.url(),
    };
    run(&repo, &["plan", "rate-limit", "--base-url", &base]).ok();
    run(&repo, &["answer", "rate-limit", "--skip"]).ok();
    repo
}

/// Stderr has an `error: ` line (progress notes may come before it).
#[track_caller]
fn assert_error_line(stderr: &str) {
    assert!(
        stderr.lines().any(|l| l.starts_with("error: ")),
        "no `error: ` line in stderr:\n{stderr}"
    );
}

/// Stderr has an `error: ` line, and names the problem.
#[track_caller]
fn assert_error(stderr: &str, needle: &str) {
    assert_error_line(stderr);
    assert!(
        stderr.to_lowercase().contains(&needle.to_lowercase()),
        "expected {needle:?} in:\n{stderr}"
    );
}

/// Some `hint:` line contains `needle`.
#[track_caller]
fn assert_hint(stderr: &str, needle: &str) {
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("hint: ") && l.contains(needle)),
        "expected a hint containing {needle:?} in:\n{stderr}"
    );
}

/// What a failing command must not change.
struct Snapshot {
    notes: Option<String>,
    refs: String,
}

fn snapshot(repo: &TestRepo) -> Snapshot {
    Snapshot {
        notes: repo.rev(NOTES),
        refs: repo.refs(),
    }
}

#[track_caller]
fn assert_unchanged(repo: &TestRepo, before: &Snapshot) {
    assert_eq!(
        repo.rev(NOTES),
        before.notes,
        "a failed command moved {NOTES}"
    );
    assert_eq!(
        repo.refs(),
        before.refs,
        "a failed command changed the refs"
    );
}

/// `<git-common-dir>/aiflow`, canonical.
fn aiflow_dir(repo: &TestRepo) -> PathBuf {
    std::fs::canonicalize(repo.path.join(".git"))
        .expect("git dir")
        .join("aiflow")
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The key appears in no output, no file under `.git/aiflow`, and no note.
#[track_caller]
fn assert_key_never_shown(repo: &TestRepo, runs: &[&Run]) {
    for r in runs {
        assert_lacks(&r.stdout, KEY);
        assert_lacks(&r.stderr, KEY);
        assert_lacks(&r.stdout, "secret-123");
        assert_lacks(&r.stderr, "secret-123");
    }
    for f in files_under(&aiflow_dir(repo)) {
        let bytes = std::fs::read(&f).expect("read");
        assert!(
            !String::from_utf8_lossy(&bytes).contains("secret-123"),
            "the key is in {}",
            f.display()
        );
    }
    let notes = repo.git_run(&["notes", "--ref=aiflow", "list"]).stdout;
    for line in notes.lines() {
        let blob = line.split_whitespace().next().expect("note blob");
        let text = repo.git(&["cat-file", "-p", blob]);
        assert_lacks(&text, "secret-123");
    }
}

/// The flow's note, as `git notes` shows it.
fn flow_note(repo: &TestRepo) -> String {
    repo.git(&["notes", "--ref=aiflow", "show", "aiflow/rate-limit"])
}

/// The file a message names that starts with `prefix` (a path ending in `.txt`, `.md` or
/// `.toml`), as written in `text`.
fn named_file(text: &str, prefix: &str) -> Option<PathBuf> {
    text.split(|c: char| c.is_whitespace() || c == '`' || c == '\'' || c == '"')
        .map(|w| w.trim_end_matches([',', ';', ')', ':']))
        .map(|w| w.trim_end_matches('.'))
        .find(|w| w.contains(prefix))
        .map(PathBuf::from)
}

/// The subtasks of a `plan show --json` document.
fn subtasks(plan: &Value) -> Vec<Value> {
    plan.get("subtasks")
        .or_else(|| plan.pointer("/plan/subtasks"))
        .and_then(|s| s.as_array())
        .unwrap_or_else(|| panic!("no subtasks in:\n{plan:#}"))
        .clone()
}

/// The revisions of a `plan log --json` document.
fn revisions(log: &Value) -> Vec<Value> {
    log.as_array()
        .or_else(|| log.get("revisions").and_then(|r| r.as_array()))
        .unwrap_or_else(|| panic!("no revisions in:\n{log:#}"))
        .clone()
}

/// A whole-number field of `v` named any of `names`.
fn number(v: &Value, names: &[&str]) -> Option<u64> {
    names.iter().find_map(|n| {
        v.get(*n)
            .or_else(|| v.pointer(&format!("/tokens/{n}")))
            .or_else(|| v.pointer(&format!("/provenance/{n}")))
            .and_then(|x| x.as_u64())
    })
}

/// A string field of `v` (or of its `provenance` table).
fn string<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name)
        .or_else(|| v.pointer(&format!("/provenance/{name}")))
        .and_then(|x| x.as_str())
}

/// The planned branch name of a subtask in `plan show --json`.
fn branch_of(subtask: &Value) -> String {
    ["branch", "planned_branch", "branch_name"]
        .iter()
        .find_map(|k| subtask.get(*k).and_then(|b| b.as_str()))
        .unwrap_or_else(|| panic!("no branch name in:\n{subtask:#}"))
        .to_string()
}

/// The system and user text of a recorded request (either provider's wire format).
fn prompt_text(r: &Recorded) -> String {
    let v = r.json();
    let mut text = String::new();
    if let Some(s) = v.get("system").and_then(|s| s.as_str()) {
        text.push_str(s);
        text.push('\n');
    }
    for m in v["messages"].as_array().expect("messages") {
        match &m["content"] {
            Value::String(s) => text.push_str(s),
            other => text.push_str(&other.to_string()),
        }
        text.push('\n');
    }
    text
}

// ---------------------------------------------------------------------------------------------
// The whole flow, with each provider
// ---------------------------------------------------------------------------------------------

#[test]
fn openai_questions_answers_plan_edit_and_diff() {
    let server = LlmServer::start(vec![
        wire_step("openai/questions"),
        wire_step("openai/plan"),
    ]);
    let repo = repo_for(Provider::OpenAi, &server);
    let mut runs = Vec::new();

    // 1. The questions.
    let r = run(&repo, &["plan", "rate-limit"]);
    let out = r.stdout.clone();
    assert_eq!(r.code, 0, "{r:?}");
    runs.push(r);
    assert_has(
        &out,
        "1. Should the shared bucket state in Redis be authoritative",
    );
    assert_has(&out, "2. When Redis is unreachable");
    assert_has(&out, "3. How should requests without an API key be keyed");
    assert_has(&out, "Peer address");
    assert_has(&out, "next: git aiflow answer rate-limit");

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    let q = &reqs[0];
    assert_eq!(q.method, "POST");
    assert_eq!(q.path, "/v1/chat/completions");
    assert_eq!(
        q.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert!(
        q.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{}",
        q.dump()
    );
    let body = q.json();
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["max_tokens"], 4096);
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(body["response_format"]["json_schema"]["name"], "questions");
    assert!(
        body["response_format"]["json_schema"]["schema"].is_object(),
        "{body:#}"
    );
    assert_eq!(body["messages"][0]["role"], "system");
    let user = body["messages"]
        .as_array()
        .expect("messages")
        .last()
        .cloned();
    let user = user.expect("a user message");
    assert_eq!(user["role"], "user");
    assert_has(
        user["content"].as_str().expect("content"),
        "A token bucket per API key",
    );

    // The questions are stored in the flow's note.
    let note = flow_note(&repo);
    assert_has(
        &note,
        "Should the shared bucket state in Redis be authoritative",
    );
    assert_has(&note, "How should requests without an API key be keyed");

    // 2. Planning before answering is refused, naming the unanswered questions.
    let before = snapshot(&repo);
    let r = run(&repo, &["plan", "rate-limit"]);
    let err = r.stderr.clone();
    assert_eq!(r.code, 1, "{r:?}");
    assert_error(&err, "1");
    assert_has(&err, "3");
    assert_hint(&err, "git aiflow answer");
    assert_unchanged(&repo, &before);
    assert_eq!(server.requests().len(), 1, "nothing may be sent");

    // 3. The answers.
    answer_three(&repo);
    let note = flow_note(&repo);
    assert_has(&note, "Redis is authoritative");
    assert_has(&note, "Last trusted X-Forwarded-For entry");

    // 4. The plan: revision 1.
    let r = run(&repo, &["plan", "rate-limit"]);
    assert_eq!(r.code, 0, "{r:?}");
    runs.push(r);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "{reqs:#?}");
    let body = reqs[1].json();
    assert_eq!(body["response_format"]["json_schema"]["name"], "plan");
    let prompt = prompt_text(&reqs[1]);
    assert_has(&prompt, "Redis is authoritative");
    assert_has(&prompt, "Last trusted X-Forwarded-For entry");

    let plan = run(&repo, &["plan", "show", "rate-limit", "--json"]).json();
    let tasks = subtasks(&plan);
    assert_eq!(tasks.len(), 5, "{plan:#}");
    assert_eq!(
        tasks[0]["title"],
        "Token bucket core with continuous refill"
    );
    assert_eq!(tasks[0]["phase"], "core");
    assert_eq!(tasks[3]["phase"], "nice-to-have");
    assert_eq!(tasks[4]["phase"], "production");
    assert_eq!(
        tasks[0]["files"],
        serde_json::json!(["src/limiter/bucket.rs", "src/limiter/mod.rs"])
    );
    // The tool's own ids, with the dependencies mapped through them.
    let ids: Vec<String> = tasks
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_string())
        .collect();
    for id in &ids {
        assert!(
            id.len() == 6
                && id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "id {id:?} is not 6 chars [a-z0-9]"
        );
    }
    assert_eq!(
        tasks[2]["depends_on"],
        serde_json::json!([ids[0], ids[1]]),
        "{plan:#}"
    );
    assert_eq!(tasks[0]["depends_on"], serde_json::json!([]));

    let text = run(&repo, &["plan", "show", "rate-limit"]).ok();
    assert_has(&text, "Token bucket core with continuous refill");
    assert_has(&text, "Prometheus metrics for allowed and limited requests");

    let log = run(&repo, &["plan", "log", "rate-limit", "--json"]).json();
    let revs = revisions(&log);
    assert_eq!(revs.len(), 1, "{log:#}");
    let r1 = &revs[0];
    assert_eq!(number(r1, &["revision"]), Some(1), "{r1:#}");
    assert_eq!(string(r1, "source"), Some("model"), "{r1:#}");
    assert_eq!(string(r1, "provider"), Some("openai"), "{r1:#}");
    assert!(
        string(r1, "model").is_some_and(|m| m.starts_with("test-model")),
        "{r1:#}"
    );
    assert!(
        string(r1, "prompt_digest").is_some_and(|d| !d.is_empty()),
        "{r1:#}"
    );
    // The plan reply's usage: 1490 prompt tokens, 602 completion tokens.
    assert_eq!(
        number(r1, &["tokens_in", "input_tokens", "prompt_tokens", "input"]),
        Some(1490),
        "{r1:#}"
    );
    assert_eq!(
        number(
            r1,
            &["tokens_out", "output_tokens", "completion_tokens", "output"]
        ),
        Some(602),
        "{r1:#}"
    );

    // 5. A plan exists: asking again is refused without --again.
    let before = snapshot(&repo);
    let r = run(&repo, &["plan", "rate-limit"]);
    let err = r.fails(1);
    assert_has(&err, "--again");
    assert_unchanged(&repo, &before);
    assert_eq!(server.requests().len(), 2, "nothing may be sent");

    // 6. An edit in the editor: one title changed, one subtask dropped => revision 2.
    let editor = repo.script(
        "edit-plan.sh",
        r#"f="$1"
awk 'function flush() { if (buf !~ /Prometheus metrics/) printf "%s", buf; buf = "" }
/^\[\[subtask\]\]/ { flush() }
{ buf = buf $0 "\n" }
END { flush() }' "$f" | sed 's/with continuous refill/with lazy refill/' > "$f.new" && mv "$f.new" "$f""#,
    );
    let editor = editor.to_str().expect("utf-8").to_string();
    let r = repo.aiflow_env(&["plan", "edit", "rate-limit"], &[("GIT_EDITOR", &editor)]);
    assert_eq!(r.code, 0, "{r:?}");
    let plan2 = run(&repo, &["plan", "show", "rate-limit", "--json"]).json();
    let tasks2 = subtasks(&plan2);
    assert_eq!(tasks2.len(), 4, "{plan2:#}");
    assert_eq!(tasks2[0]["title"], "Token bucket core with lazy refill");
    assert_eq!(tasks2[0]["id"], ids[0].as_str(), "an edit keeps the ids");
    // Revision 1 is still there.
    let old = run(
        &repo,
        &["plan", "show", "rate-limit", "--revision", "1", "--json"],
    )
    .json();
    assert_eq!(subtasks(&old).len(), 5);

    let log = run(&repo, &["plan", "log", "rate-limit", "--json"]).json();
    let revs = revisions(&log);
    assert_eq!(revs.len(), 2, "{log:#}");
    let r2 = revs
        .iter()
        .find(|r| number(r, &["revision"]) == Some(2))
        .unwrap_or_else(|| panic!("no revision 2 in {log:#}"));
    assert_ne!(string(r2, "source"), Some("model"), "{r2:#}");
    let text = run(&repo, &["plan", "log", "rate-limit"]).ok();
    assert_has(&text, "openai");

    // 7. The diff, default (previous vs current) and explicit, text and JSON.
    for args in [
        &["plan", "diff", "rate-limit"][..],
        &["plan", "diff", "rate-limit", "1", "2"][..],
    ] {
        let diff = run(&repo, args).ok();
        assert_has(&diff, "Prometheus metrics for allowed and limited requests");
        assert_has(&diff, "Token bucket core with lazy refill");
        assert_lacks(&diff, "Redis-backed shared bucket state");
        assert_lacks(&diff, "\x1b[");
    }
    let diff = run(&repo, &["plan", "diff", "rate-limit", "1", "2", "--json"]).json();
    let d = diff.to_string();
    assert_has(&d, "Prometheus metrics for allowed and limited requests");
    assert_has(&d, &ids[4]);
    assert_has(&d, "Token bucket core with lazy refill");
    assert_has(&d, &ids[0]);
    assert_lacks(&d, "Redis-backed shared bucket state");
    let colored = run(
        &repo,
        &["plan", "diff", "rate-limit", "1", "2", "--color", "always"],
    )
    .ok();
    assert_has(&colored, "\x1b[");

    assert_key_never_shown(&repo, &runs.iter().collect::<Vec<_>>());
    assert_eq!(server.requests().len(), 2);
    repo.fsck();
}

#[test]
fn anthropic_questions_answers_and_plan() {
    let server = LlmServer::start(vec![
        wire_step("anthropic/questions"),
        wire_step("anthropic/plan"),
    ]);
    let repo = repo_for(Provider::Anthropic, &server);

    let out = run(&repo, &["plan", "rate-limit"]).ok();
    assert_has(
        &out,
        "1. Should the shared bucket state in Redis be authoritative",
    );
    assert_has(&out, "next: git aiflow answer rate-limit");
    answer_three(&repo);
    let r = run(&repo, &["plan", "rate-limit"]);
    assert_eq!(r.code, 0, "{r:?}");

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "{reqs:#?}");
    for req in &reqs {
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/v1/messages");
        assert_eq!(req.header("x-api-key"), Some(KEY));
        assert_eq!(req.header("anthropic-version"), Some("2023-06-01"));
        assert_eq!(req.header("authorization"), None, "{}", req.dump());
        let body = req.json();
        assert_eq!(body["model"], "test-model");
        assert_eq!(body["max_tokens"], 4096);
        assert!(body["system"].is_string(), "{body:#}");
        assert_eq!(body["messages"][0]["role"], "user");
        assert!(body.get("response_format").is_none(), "{body:#}");
    }
    assert_has(&prompt_text(&reqs[1]), "Redis is authoritative");

    // The plan came wrapped in prose and a ```json fence.
    let plan = run(&repo, &["plan", "show", "rate-limit", "--json"]).json();
    let tasks = subtasks(&plan);
    assert_eq!(tasks.len(), 5, "{plan:#}");
    assert_eq!(tasks[1]["title"], "Redis-backed shared bucket state");

    let log = run(&repo, &["plan", "log", "rate-limit", "--json"]).json();
    let revs = revisions(&log);
    assert_eq!(revs.len(), 1);
    assert_eq!(string(&revs[0], "provider"), Some("anthropic"));
    assert_eq!(
        number(
            &revs[0],
            &["tokens_in", "input_tokens", "prompt_tokens", "input"]
        ),
        Some(1533),
        "{log:#}"
    );
    assert_eq!(
        number(
            &revs[0],
            &["tokens_out", "output_tokens", "completion_tokens", "output"]
        ),
        Some(688),
        "{log:#}"
    );
    assert_key_never_shown(&repo, &[]);
}

#[test]
fn plan_again_makes_a_new_model_revision() {
    let server = LlmServer::start(vec![wire_step("openai/plan"), wire_step("openai/plan")]);
    let repo = repo_ready_for_plan(Provider::OpenAi, &server);
    run(&repo, &["plan", "rate-limit"]).ok();
    let r = run(&repo, &["plan", "rate-limit", "--again"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(server.requests().len(), 2);
    // The second request shows the model its current plan.
    assert_has(
        &prompt_text(&server.requests()[1]),
        "Token bucket core with continuous refill",
    );
    let log = run(&repo, &["plan", "log", "rate-limit", "--json"]).json();
    let revs = revisions(&log);
    assert_eq!(revs.len(), 2, "{log:#}");
    assert!(
        revs.iter().all(|r| string(r, "source") == Some("model")),
        "{log:#}"
    );
}

#[test]
fn api_key_env_names_the_variable() {
    let server = LlmServer::start(vec![wire_step("openai/questions")]);
    let repo = repo_for(Provider::OpenAi, &server);
    repo.git(&["config", "aiflow.apiKeyEnv", "MY_LLM_KEY"]);
    repo.aiflow_env(
        &["plan", "rate-limit"],
        &[("MY_LLM_KEY", "sk-other-456"), ("OPENAI_API_KEY", KEY)],
    )
    .ok();
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some("Bearer sk-other-456")
    );
}

// ---------------------------------------------------------------------------------------------
// HTTP failures: retried, or reported without changing anything
// ---------------------------------------------------------------------------------------------

#[test]
fn a_500_is_retried_and_then_succeeds() {
    let server = LlmServer::start(vec![
        Step::json(
            500,
            r#"{"error":{"message":"The server had an error while processing your request.","type":"server_error"}}"#,
        ),
        wire_step("openai/questions"),
    ]);
    let repo = repo_for(Provider::OpenAi, &server);
    let out = run(&repo, &["plan", "rate-limit"]).ok();
    assert_has(&out, "1. Should the shared bucket state");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "{reqs:#?}");
    assert_eq!(reqs[0].body, reqs[1].body, "a retry sends the same request");
}

#[test]
fn a_429_is_retried_after_retry_after() {
    let server = LlmServer::start(vec![
        Step::json(
            429,
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#,
        )
        .with_header("Retry-After", "1"),
        wire_step("anthropic/questions"),
    ]);
    let repo = repo_for(Provider::Anthropic, &server);
    let out = run(&repo, &["plan", "rate-limit"]).ok();
    assert_has(&out, "1. Should the shared bucket state");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn retries_are_bounded_and_the_last_error_is_reported() {
    let busy = || {
        Step::json(
            529,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        )
    };
    let server = LlmServer::start(vec![busy(), busy(), busy()]);
    let repo = repo_for(Provider::Anthropic, &server);
    repo.git(&["config", "aiflow.retries", "1"]);
    let before = snapshot(&repo);
    let err = run(&repo, &["plan", "rate-limit"]).fails(2);
    assert_error(&err, "529");
    assert_has(&err, "anthropic");
    assert_eq!(server.requests().len(), 2, "one try and one retry");
    assert_unchanged(&repo, &before);
}

#[test]
fn a_hung_server_times_out() {
    let server = LlmServer::start(vec![
        Step::Hang(Duration::from_secs(30)),
        Step::Hang(Duration::from_secs(30)),
    ]);
    let repo = repo_for(Provider::OpenAi, &server);
    repo.git(&["config", "aiflow.retries", "0"]);
    let before = snapshot(&repo);
    let err = run(&repo, &["plan", "rate-limit", "--timeout", "1"]).fails(2);
    assert_error(&err, "1 s");
    assert!(
        err.contains("timed out") || err.contains("did not answer") || err.contains("timeout"),
        "{err}"
    );
    assert_has(&err, &server.url());
    assert_hint(&err, "--timeout");
    assert_unchanged(&repo, &before);
    assert_key_never_shown(&repo, &[]);
}

#[test]
fn a_401_names_provider_url_model_and_key_variable() {
    let server = LlmServer::start(vec![Step::json(
        401,
        r#"{"error":{"message":"Incorrect API key provided: sk-test-*******-123. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
    )]);
    let repo = repo_for(Provider::OpenAi, &server);
    let before = snapshot(&repo);
    let r = run(&repo, &["plan", "rate-limit"]);
    assert_eq!(r.code, 2, "{r:?}");
    let err = &r.stderr;
    assert_error(err, "openai");
    assert_has(err, &format!("{}/v1/chat/completions", server.url()));
    assert_has(err, "test-model");
    assert_has(err, "401");
    assert_hint(err, "OPENAI_API_KEY");
    assert_eq!(server.requests().len(), 1, "a 401 is not retried");
    assert_unchanged(&repo, &before);
    assert_key_never_shown(&repo, &[&r]);
}

#[test]
fn a_key_echoed_back_by_the_server_is_redacted() {
    // A proxy that quotes the whole key in its error.
    let server = LlmServer::start(vec![Step::json(
        403,
        format!(r#"{{"error":{{"message":"key {KEY} is not allowed to use model test-model"}}}}"#),
    )]);
    let repo = repo_for(Provider::Anthropic, &server);
    let before = snapshot(&repo);
    let r = run(&repo, &["plan", "rate-limit"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_error(&r.stderr, "anthropic");
    assert_hint(&r.stderr, "ANTHROPIC_API_KEY");
    assert_unchanged(&repo, &before);
    assert_key_never_shown(&repo, &[&r]);
}

#[test]
fn a_truncated_body_is_an_error() {
    let full = wire("openai/questions");
    let cut = || Step::Truncated {
        status: 200,
        body_prefix: full[..full.len() / 2].to_string(),
        declared_len: full.len(),
    };
    let server = LlmServer::start(vec![cut(), cut()]);
    let repo = repo_for(Provider::OpenAi, &server);
    repo.git(&["config", "aiflow.retries", "1"]);
    let before = snapshot(&repo);
    let err = run(&repo, &["plan", "rate-limit"]).fails(2);
    assert_error(&err, "openai");
    assert_has(&err, &server.url());
    let n = server.requests().len();
    assert!((1..=2).contains(&n), "{n} requests");
    assert_unchanged(&repo, &before);
}

#[test]
fn finish_reason_length_is_an_error() {
    let content = &content_of(&wire("openai/plan"))[..200];
    let server = LlmServer::start(vec![Step::json(
        200,
        openai_body(content, "length", 1490, 4096),
    )]);
    let repo = repo_ready_for_plan(Provider::OpenAi, &server);
    let before = snapshot(&repo);
    let err = run(&repo, &["plan", "rate-limit"]).fails(2);
    assert_error(&err, "token limit");
    assert_hint(&err, "aiflow.maxTokens");
    assert_unchanged(&repo, &before);
}

#[test]
fn stop_reason_max_tokens_is_an_error() {
    let content = &content_of(&wire("anthropic/plan"))[..200];
    let server = LlmServer::start(vec![Step::json(
        200,
        anthropic_body(content, "max_tokens", 1533, 4096),
    )]);
    let repo = repo_ready_for_plan(Provider::Anthropic, &server);
    let before = snapshot(&repo);
    let err = run(&repo, &["plan", "rate-limit"]).fails(2);
    assert_error(&err, "token limit");
    assert_unchanged(&repo, &before);
}

#[test]
fn a_400_about_response_format_retries_without_it() {
    let server = LlmServer::start(vec![
        Step::json(
            400,
            r#"{"error":{"message":"Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.","type":"invalid_request_error","param":"response_format","code":null}}"#,
        ),
        wire_step("openai/questions"),
    ]);
    let repo = repo_for(Provider::OpenAi, &server);
    run(&repo, &["plan", "rate-limit"]).ok();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[0].json().get("response_format").is_some());
    assert!(
        reqs[1].json().get("response_format").is_none(),
        "{}",
        reqs[1].body
    );
}

#[test]
fn json_schema_can_be_turned_off() {
    let server = LlmServer::start(vec![wire_step("openai/questions")]);
    let repo = repo_for(Provider::OpenAi, &server);
    repo.git(&["config", "aiflow.jsonSchema", "false"]);
    repo.git(&["config", "aiflow.maxTokens", "1000"]);
    run(&repo, &["plan", "rate-limit"]).ok();
    let body = server.requests()[0].json();
    assert!(body.get("response_format").is_none(), "{body:#}");
    assert_eq!(body["max_tokens"], 1000);
}

// ---------------------------------------------------------------------------------------------
// Bad answers: one repair request, then the raw answer is kept and nothing is written
// ---------------------------------------------------------------------------------------------

/// Run `plan` against `server` whose two answers are both invalid; check the repair request, the
/// saved reply and that nothing moved. Returns stderr.
#[track_caller]
fn assert_invalid_twice(
    repo: &TestRepo,
    server: &LlmServer,
    kind: &str,
    first: &str,
    second: &str,
) -> String {
    let before = snapshot(repo);
    let err = run(repo, &["plan", "rate-limit"]).fails(2);
    assert_error_line(&err);

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "one request and one repair: {reqs:#?}");
    let repair = prompt_text(&reqs[1]);
    let original = prompt_text(&reqs[0]);
    assert!(
        repair.len() > original.len(),
        "the repair request must carry more than the first:\n{repair}"
    );
    // The repair quotes what was wrong, as the progress note on stderr states it.
    let note = err
        .lines()
        .find_map(|l| l.strip_prefix("The answer could not be used ("))
        .and_then(|l| l.rsplit_once(')'))
        .map(|(problems, _)| problems)
        .unwrap_or_else(|| panic!("no note about the repair in:\n{err}"));
    for problem in note.split("; ") {
        assert_has(&repair, problem);
    }
    // The model's first answer is shown back to it.
    assert_has(&repair, first.lines().next().unwrap_or(first).trim());

    // The raw (second) answer is saved in a file the error names.
    let name = format!("REPLY-rate-limit-{kind}.txt");
    let path = named_file(&err, &name).unwrap_or_else(|| panic!("{name} not named in:\n{err}"));
    let path = if path.is_absolute() {
        path
    } else {
        repo.path.join(path)
    };
    assert_eq!(
        std::fs::canonicalize(&path).expect("the named file exists"),
        aiflow_dir(repo).join(&name)
    );
    let saved = std::fs::read_to_string(&path).expect("read saved reply");
    assert_has(&saved, second.trim());

    assert_unchanged(repo, &before);
    err
}

#[test]
fn malformed_json_twice_is_saved_and_reported() {
    let first = "Sure! Here are my questions: {\"questions\": [ {\"question\": \"What";
    let second = "I cannot produce JSON today, sorry.";
    let server = LlmServer::start(vec![openai_content(first), openai_content(second)]);
    let repo = repo_for(Provider::OpenAi, &server);
    let err = assert_invalid_twice(&repo, &server, "questions", first, second);
    assert_has(&err.to_lowercase(), "json");
    assert_eq!(
        repo.git(&["notes", "--ref=aiflow", "list"]).lines().count(),
        1
    );
    assert_lacks(&flow_note(&repo), "I cannot produce JSON");
}

#[test]
fn a_malformed_answer_repaired_on_the_second_try_is_accepted() {
    let server = LlmServer::start(vec![
        Step::openai("{\"questions\": [ {\"question\": \"Unfinished"),
        wire_step("openai/questions"),
    ]);
    let repo = repo_for(Provider::OpenAi, &server);
    let out = run(&repo, &["plan", "rate-limit"]).ok();
    assert_has(&out, "1. Should the shared bucket state");
    assert_eq!(server.requests().len(), 2);
    assert_has(
        &prompt_text(&server.requests()[1]),
        "{\"questions\": [ {\"question\": \"Unfinished",
    );
}

#[test]
fn anthropic_repair_alternates_user_and_assistant() {
    let server = LlmServer::start(vec![
        Step::anthropic("Here are my questions:\n```json\n{\"questions\": [\n```"),
        wire_step("anthropic/questions"),
    ]);
    let repo = repo_for(Provider::Anthropic, &server);
    run(&repo, &["plan", "rate-limit"]).ok();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let body = reqs[1].json();
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["role"].as_str().expect("role"))
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"], "{body:#}");
    assert_has(
        body["messages"][1]["content"].as_str().unwrap_or_default(),
        "Here are my questions:",
    );
}

#[test]
fn a_dependency_cycle_is_refused() {
    let mut plan = model_plan();
    // 1 -> 5 -> 3 -> 1.
    plan["subtasks"][0]["depends_on"] = serde_json::json!(["5"]);
    let bad = plan.to_string();
    let server = LlmServer::start(vec![openai_content(&bad), openai_content(&bad)]);
    let repo = repo_ready_for_plan(Provider::OpenAi, &server);
    let err = assert_invalid_twice(&repo, &server, "plan", &bad, &bad);
    assert_has(&err.to_lowercase(), "cycle");
    // The repair request quotes the problem.
    assert_has(&prompt_text(&server.requests()[1]).to_lowercase(), "cycle");
    assert_ne!(run(&repo, &["plan", "show", "rate-limit"]).code, 0);
}

#[test]
fn files_outside_the_repository_are_refused() {
    let repo = {
        let s = LlmServer::start(vec![]);
        repo_ready_for_plan(Provider::OpenAi, &s)
    };
    for bad_file in [
        "../etc/passwd",
        "/etc/passwd",
        "src/../../outside.rs",
        ".git/hooks/pre-commit",
    ] {
        let mut plan = model_plan();
        plan["subtasks"][1]["files"] = serde_json::json!(["src/limiter/redis_store.rs", bad_file]);
        let bad = plan.to_string();
        let server = LlmServer::start(vec![openai_content(&bad), openai_content(&bad)]);
        repo.git(&["config", "aiflow.baseUrl", &format!("{}/v1", server.url())]);
        let err = assert_invalid_twice(&repo, &server, "plan", &bad, &bad);
        assert_has(&err, bad_file);
        assert_has(&prompt_text(&server.requests()[1]), bad_file);
    }
}

#[test]
fn a_title_of_only_ref_name_hazards_is_refused() {
    let mut plan = model_plan();
    plan["subtasks"][2]["title"] = "~^:?*[\\ .. @{ .lock".into();
    let bad = plan.to_string();
    let server = LlmServer::start(vec![openai_content(&bad), openai_content(&bad)]);
    let repo = repo_ready_for_plan(Provider::OpenAi, &server);
    let err = assert_invalid_twice(&repo, &server, "plan", &bad, &bad);
    assert_has(&err.to_lowercase(), "title");
}

#[test]
fn other_invalid_plans_are_refused() {
    let repo = {
        let s = LlmServer::start(vec![]);
        repo_ready_for_plan(Provider::OpenAi, &s)
    };
    type Break = fn(&mut Value);
    let cases: Vec<(&str, Break)> = vec![
        ("unknown dependency", |p| {
            p["subtasks"][1]["depends_on"] = serde_json::json!(["nope"])
        }),
        ("duplicate id", |p| p["subtasks"][1]["id"] = "1".into()),
        ("unknown phase", |p| {
            p["subtasks"][1]["phase"] = "someday".into()
        }),
        ("empty title", |p| p["subtasks"][1]["title"] = "  ".into()),
        ("self dependency", |p| {
            p["subtasks"][0]["depends_on"] = serde_json::json!(["1"])
        }),
        ("no subtasks", |p| p["subtasks"] = serde_json::json!([])),
    ];
    for (what, break_it) in cases {
        let mut plan = model_plan();
        break_it(&mut plan);
        let bad = plan.to_string();
        let server = LlmServer::start(vec![openai_content(&bad), openai_content(&bad)]);
        repo.git(&["config", "aiflow.baseUrl", &format!("{}/v1", server.url())]);
        let before = snapshot(&repo);
        let r = run(&repo, &["plan", "rate-limit"]);
        assert_eq!(r.code, 2, "{what}: {r:?}");
        assert_error_line(&r.stderr);
        assert_eq!(server.requests().len(), 2, "{what}: one repair");
        assert_unchanged(&repo, &before);
    }
}

#[test]
fn a_multi_line_title_is_collapsed_to_one_line() {
    let mut plan = model_plan();
    plan["subtasks"][1]["title"] = "Redis-backed\nshared\tbucket  state".into();
    let server = LlmServer::start(vec![openai_content(&plan.to_string())]);
    let repo = repo_ready_for_plan(Provider::OpenAi, &server);
    run(&repo, &["plan", "rate-limit"]).ok();
    let shown = run(&repo, &["plan", "show", "rate-limit", "--json"]).json();
    assert_eq!(
        subtasks(&shown)[1]["title"],
        "Redis-backed shared bucket state"
    );
}

#[test]
fn a_title_mixing_hazards_and_words_gets_a_safe_branch_name() {
    let mut plan = model_plan();
    plan["subtasks"][2]["title"] =
        "Add ~rate^limit: middleware?* [v2] \\ ../x @{u} mod.lock".into();
    let server = LlmServer::start(vec![openai_content(&plan.to_string())]);
    let repo = repo_ready_for_plan(Provider::OpenAi, &server);
    run(&repo, &["plan", "rate-limit"]).ok();
    let shown = run(&repo, &["plan", "show", "rate-limit", "--json"]).json();
    let tasks = subtasks(&shown);
    assert_eq!(
        tasks[2]["title"], "Add ~rate^limit: middleware?* [v2] \\ ../x @{u} mod.lock",
        "the title is kept as written"
    );
    for t in &tasks {
        let branch = branch_of(t);
        let r = repo.git_run(&["check-ref-format", &format!("refs/heads/{branch}")]);
        assert_eq!(r.code, 0, "unsafe branch name {branch:?}");
        assert!(
            !branch.contains("..") && !branch.contains("@{") && !branch.ends_with(".lock"),
            "{branch:?}"
        );
        assert!(
            !branch.contains(['~', '^', ':', '?', '*', '[', '\\', ' ']),
            "{branch:?}"
        );
    }
    let branch = branch_of(&tasks[2]);
    assert_has(&branch, "rate");
    assert_has(&branch, "middleware");
}

// ---------------------------------------------------------------------------------------------
// The command and manual providers
// ---------------------------------------------------------------------------------------------

#[test]
fn command_provider_with_a_scripted_model() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.use_scripted_provider();
    let out = repo.aiflow(&["plan", "rate-limit"]).ok();
    assert_has(
        &out,
        "1. Should the shared bucket state in Redis be authoritative",
    );
    answer_three(&repo);
    let r = repo.aiflow(&["plan", "rate-limit"]);
    assert_eq!(r.code, 0, "{r:?}");
    let plan = repo
        .aiflow(&["plan", "show", "rate-limit", "--json"])
        .json();
    let tasks = subtasks(&plan);
    assert_eq!(tasks.len(), 5);
    // The model's ids ("setup", "redis", ...) are replaced by the tool's.
    assert_ne!(tasks[0]["id"], "setup");
    assert_eq!(
        tasks[2]["depends_on"],
        serde_json::json!([tasks[0]["id"], tasks[1]["id"]])
    );
    let log = repo.aiflow(&["plan", "log", "rate-limit", "--json"]).json();
    assert_eq!(string(&revisions(&log)[0], "provider"), Some("command"));
}

#[test]
fn command_provider_gets_the_prompt_and_its_environment() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let seen = repo.sibling("seen");
    let model = repo.script(
        "model.sh",
        &format!(
            "d='{seen}'\nmkdir -p \"$d\"\ncat > \"$d/stdin\"\ncp \"$AIFLOW_PROMPT_FILE\" \"$d/file\"\n\
             echo \"$AIFLOW_TEMPLATE\" > \"$d/template\"\npwd > \"$d/pwd\"\n\
             cat '{q}'",
            seen = seen.display(),
            q = fixture("providers/scripted/questions.json").display()
        ),
    );
    let model = model.to_str().expect("utf-8").to_string();
    repo.aiflow(&[
        "plan",
        "rate-limit",
        "--provider",
        "command",
        "--command",
        &model,
    ])
    .ok();
    let read = |f: &str| std::fs::read_to_string(seen.join(f)).expect("read");
    assert_eq!(read("template").trim(), "questions");
    assert_has(&read("stdin"), "A token bucket per API key");
    assert_eq!(read("stdin").trim(), read("file").trim());
    assert_eq!(
        std::fs::canonicalize(read("pwd").trim()).expect("pwd"),
        std::fs::canonicalize(&repo.path).expect("repo")
    );
}

#[test]
fn a_failing_command_shows_its_stderr() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.git(&["config", "aiflow.provider", "command"]);
    repo.git(&[
        "config",
        "aiflow.command",
        "cat >/dev/null; echo 'model-cli: quota exhausted for today' >&2; exit 7",
    ]);
    let before = snapshot(&repo);
    let err = repo.aiflow(&["plan", "rate-limit"]).fails(2);
    assert_error(&err, "quota exhausted for today");
    assert_unchanged(&repo, &before);
}

#[test]
fn manual_provider_reads_the_answer_from_stdin() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let questions = std::fs::read(fixture("providers/scripted/questions.json")).expect("read");
    let r = repo.aiflow_stdin(&["plan", "rate-limit"], &questions);
    assert_eq!(r.code, 0, "{r:?}");
    assert_has(
        &r.stdout,
        "1. Should the shared bucket state in Redis be authoritative",
    );
    let prompt = aiflow_dir(&repo).join("PROMPT-rate-limit-questions.md");
    assert_has(&r.stderr, "PROMPT-rate-limit-questions.md");
    assert_has(
        &std::fs::read_to_string(&prompt).expect("prompt file"),
        "A token bucket per API key",
    );

    answer_three(&repo);
    // A fenced answer with prose around it, as pasted from a chat window.
    let plan = std::fs::read_to_string(fixture("providers/scripted/plan.json")).expect("read");
    let pasted = format!("Here you go:\n\n```json\n{plan}```\n\nGood luck!\n");
    let r = repo.aiflow_stdin(&["plan", "rate-limit"], pasted.as_bytes());
    assert_eq!(r.code, 0, "{r:?}");
    assert_has(&r.stderr, "PROMPT-rate-limit-plan.md");
    assert_has(
        &std::fs::read_to_string(aiflow_dir(&repo).join("PROMPT-rate-limit-plan.md"))
            .expect("prompt file"),
        "Redis is authoritative",
    );
    let shown = repo
        .aiflow(&["plan", "show", "rate-limit", "--json"])
        .json();
    assert_eq!(subtasks(&shown).len(), 5);
    let log = repo.aiflow(&["plan", "log", "rate-limit", "--json"]).json();
    assert_eq!(string(&revisions(&log)[0], "provider"), Some("manual"));
}

#[test]
fn manual_provider_with_an_empty_paste_writes_nothing() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let before = snapshot(&repo);
    let r = repo.aiflow_stdin(&["plan", "rate-limit"], b"");
    // Nothing pasted: a cancel (exit 1, like git's empty commit message), not a crash.
    assert_eq!(r.code, 1, "{r:?}");
    assert_error_line(&r.stderr);
    assert_unchanged(&repo, &before);
}

// ---------------------------------------------------------------------------------------------
// --print-prompt, answers, edits
// ---------------------------------------------------------------------------------------------

#[test]
fn print_prompt_contacts_nothing_and_writes_nothing() {
    let server = LlmServer::start(vec![]);
    let repo = repo_for(Provider::OpenAi, &server);
    let before = snapshot(&repo);
    let files_before = files_under(&repo.path.join(".git"));
    let out = run(&repo, &["plan", "rate-limit", "--print-prompt"]).ok();
    assert_has(&out, "A token bucket per API key");
    assert_has(&out.to_lowercase(), "clarifying");
    assert_eq!(server.requests().len(), 0, "--print-prompt sent a request");
    assert_unchanged(&repo, &before);
    assert_eq!(files_under(&repo.path.join(".git")), files_before);
    assert!(
        !aiflow_dir(&repo)
            .join("PROMPT-rate-limit-questions.md")
            .exists()
    );

    // The manual provider does not write its prompt file either.
    let out = repo
        .aiflow(&[
            "plan",
            "rate-limit",
            "--print-prompt",
            "--provider",
            "manual",
        ])
        .ok();
    assert_has(&out, "A token bucket per API key");
    assert_eq!(files_under(&repo.path.join(".git")), files_before);
    assert_unchanged(&repo, &before);
}

#[test]
fn print_prompt_for_the_plan_includes_the_answers() {
    let server = LlmServer::start(vec![wire_step("openai/questions")]);
    let repo = repo_for(Provider::OpenAi, &server);
    run(&repo, &["plan", "rate-limit"]).ok();
    answer_three(&repo);
    let before = snapshot(&repo);
    let out = run(&repo, &["plan", "rate-limit", "--print-prompt"]).ok();
    assert_has(&out, "Redis is authoritative");
    assert_has(
        &out,
        "Should the shared bucket state in Redis be authoritative",
    );
    assert_eq!(server.requests().len(), 1);
    assert_unchanged(&repo, &before);
}

#[test]
fn answer_refuses_unknown_question_numbers() {
    let server = LlmServer::start(vec![wire_step("openai/questions")]);
    let repo = repo_for(Provider::OpenAi, &server);
    run(&repo, &["plan", "rate-limit"]).ok();
    let before = snapshot(&repo);
    let err = run(&repo, &["answer", "rate-limit", "--answer", "7=yes"]).fails(2);
    assert_error(&err, "7");
    assert_unchanged(&repo, &before);
    // Partial answers are kept, and planning still names the rest.
    run(
        &repo,
        &["answer", "rate-limit", "--answer", "2=Fail fully open"],
    )
    .ok();
    let err = run(&repo, &["plan", "rate-limit"]).fails(1);
    assert_has(&err, "1");
    assert_has(&err, "3");
    assert_hint(&err, "git aiflow answer");
}

#[test]
fn an_invalid_plan_edit_is_kept_as_a_draft_and_writes_nothing() {
    let server = LlmServer::start(vec![wire_step("openai/plan")]);
    let repo = repo_ready_for_plan(Provider::OpenAi, &server);
    run(&repo, &["plan", "rate-limit"]).ok();
    let before = snapshot(&repo);
    // Make the first subtask depend on a subtask that does not exist.
    let editor = repo.script(
        "bad-edit.sh",
        r#"printf '\n[[subtask]]\ntitle = "Ghost step"\nphase = "core"\ndepends_on = ["zzzzzz"]\n' >> "$1""#,
    );
    let editor = editor.to_str().expect("utf-8").to_string();
    let r = repo.aiflow_env(&["plan", "edit", "rate-limit"], &[("GIT_EDITOR", &editor)]);
    let err = r.fails(2);
    assert_error(&err, "zzzzzz");
    let draft = err
        .lines()
        .filter(|l| l.starts_with("hint: "))
        .find_map(|l| {
            l.split(|c: char| c.is_whitespace() || c == '`')
                .find(|w| w.contains("/aiflow/") || w.ends_with(".toml"))
                .map(|w| PathBuf::from(w.trim_end_matches(['.', ',', ')', ';'])))
        })
        .unwrap_or_else(|| panic!("no draft file named in a hint:\n{err}"));
    let draft = if draft.is_absolute() {
        draft
    } else {
        repo.path.join(draft)
    };
    assert_has(
        &std::fs::read_to_string(&draft)
            .unwrap_or_else(|e| panic!("draft {} ({e}):\n{err}", draft.display())),
        "Ghost step",
    );
    assert_unchanged(&repo, &before);

    // -F with a good file: a new entry without an id gets one.
    let good = repo.outside(
        "good.toml",
        br#"[[subtask]]
title = "Only step"
phase = "core"
files = ["src/lib.rs"]
description = "Everything at once."
"#,
    );
    run(
        &repo,
        &[
            "plan",
            "edit",
            "rate-limit",
            "-F",
            good.to_str().expect("utf-8"),
        ],
    )
    .ok();
    let shown = run(&repo, &["plan", "show", "rate-limit", "--json"]).json();
    let tasks = subtasks(&shown);
    assert_eq!(tasks.len(), 1, "{shown:#}");
    assert_eq!(tasks[0]["title"], "Only step");
    assert_eq!(tasks[0]["id"].as_str().map(str::len), Some(6));
}

// ---------------------------------------------------------------------------------------------
// More of the wire: resets, dates, base URLs, keys, flags
// ---------------------------------------------------------------------------------------------

#[test]
fn a_connection_reset_is_retried() {
    let server = LlmServer::start(vec![Step::Reset, wire_step("openai/questions")]);
    let repo = repo_for(Provider::OpenAi, &server);
    let r = run(&repo, &["plan", "rate-limit"]);
    assert_eq!(r.code, 0, "a reset must be retried (contract): {r:?}");
    assert_has(&r.stdout, "1. Should the shared bucket state");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_connection_closed_without_an_answer_is_retried() {
    let server = LlmServer::start(vec![
        Step::Hang(Duration::ZERO),
        wire_step("openai/questions"),
    ]);
    let repo = repo_for(Provider::OpenAi, &server);
    let r = run(&repo, &["plan", "rate-limit"]);
    assert_eq!(r.code, 0, "a dropped connection must be retried: {r:?}");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn retry_after_as_an_http_date() {
    // A date in the past: retry at once.
    let server = LlmServer::start(vec![
        Step::json(503, r#"{"error":{"message":"busy"}}"#)
            .with_header("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"),
        wire_step("openai/questions"),
    ]);
    let repo = repo_for(Provider::OpenAi, &server);
    run(&repo, &["plan", "rate-limit"]).ok();
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_retry_after_beyond_the_cap_is_reported_not_awaited() {
    let server = LlmServer::start(vec![
        Step::json(429, r#"{"error":{"message":"daily quota exceeded"}}"#)
            .with_header("Retry-After", "86400"),
    ]);
    let repo = repo_for(Provider::OpenAi, &server);
    let before = snapshot(&repo);
    let err = run(&repo, &["plan", "rate-limit"]).fails(2);
    assert_error(&err, "429");
    assert_has(&err, "daily quota exceeded");
    assert_eq!(server.requests().len(), 1);
    assert_unchanged(&repo, &before);
}

#[test]
fn at_most_five_questions_are_kept() {
    let questions: Vec<Value> = (1..=7)
        .map(|i| {
            serde_json::json!({
                "question": format!("Question number {i} about the limiter?"),
                "why": "It matters.",
                "choices": [],
            })
        })
        .collect();
    let content = serde_json::json!({ "questions": questions }).to_string();
    let server = LlmServer::start(vec![openai_content(&content)]);
    let repo = repo_for(Provider::OpenAi, &server);
    let out = run(&repo, &["plan", "rate-limit"]).ok();
    assert_has(&out, "5. Question number 5 about the limiter?");
    assert_lacks(&out, "Question number 6");
    let note = flow_note(&repo);
    assert_has(&note, "Question number 5 about the limiter?");
    assert_lacks(&note, "Question number 6");
    let err = run(&repo, &["answer", "rate-limit", "--answer", "6=no"]).fails(2);
    assert_error(&err, "6");
}

#[test]
fn no_questions_goes_straight_to_planning() {
    let server = LlmServer::start(vec![
        openai_content(r#"{"questions": []}"#),
        wire_step("openai/plan"),
    ]);
    let repo = repo_for(Provider::OpenAi, &server);
    run(&repo, &["plan", "rate-limit"]).ok();
    let r = run(&repo, &["plan", "rate-limit"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_trailing_slash_in_the_base_url_is_ignored() {
    let server = LlmServer::start(vec![wire_step("anthropic/questions")]);
    let repo = repo_for(Provider::Anthropic, &server);
    repo.git(&["config", "aiflow.baseUrl", &format!("{}/", server.url())]);
    run(&repo, &["plan", "rate-limit"]).ok();
    assert_eq!(server.requests()[0].path, "/v1/messages");
}

#[test]
fn a_web_page_instead_of_the_api_is_reported() {
    let page = "<!doctype html><html><body>Welcome to nginx!</body></html>";
    let server = LlmServer::start(vec![
        Step::Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: page.into(),
        },
        Step::Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: page.into(),
        },
    ]);
    let repo = repo_for(Provider::OpenAi, &server);
    let before = snapshot(&repo);
    let err = run(&repo, &["plan", "rate-limit"]).fails(2);
    assert_error(&err, "not JSON");
    assert_hint(&err, "aiflow.baseUrl");
    assert_unchanged(&repo, &before);
}

#[test]
fn a_404_hints_at_the_base_url() {
    let server = LlmServer::start(vec![Step::text(404, "404 page not found")]);
    let repo = repo_for(Provider::OpenAi, &server);
    repo.git(&["config", "aiflow.baseUrl", &server.url()]);
    let before = snapshot(&repo);
    let err = run(&repo, &["plan", "rate-limit"]).fails(2);
    assert_error(&err, "404");
    assert_has(&err, &format!("{}/chat/completions", server.url()));
    assert_hint(&err, "/v1");
    assert_eq!(server.requests().len(), 1, "a 404 is not retried");
    assert_unchanged(&repo, &before);
}

#[test]
fn a_refused_connection_is_reported() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.git(&["config", "aiflow.retries", "0"]);
    let url = format!("http://127.0.0.1:{port}/v1");
    let before = snapshot(&repo);
    let err = run(
        &repo,
        &[
            "plan",
            "rate-limit",
            "--provider",
            "openai",
            "--model",
            "test-model",
            "--base-url",
            &url,
        ],
    )
    .fails(2);
    assert_error(&err, "could not connect");
    assert_has(&err, &url);
    assert_unchanged(&repo, &before);
}

#[test]
fn flags_override_the_config() {
    let configured = LlmServer::start(vec![]);
    let flagged = LlmServer::start(vec![wire_step("openai/questions")]);
    let repo = repo_for(Provider::Anthropic, &configured);
    run(
        &repo,
        &[
            "plan",
            "rate-limit",
            "--provider",
            "openai",
            "--model",
            "other-model",
            "--base-url",
            &format!("{}/v1", flagged.url()),
        ],
    )
    .ok();
    assert_eq!(configured.requests().len(), 0);
    let reqs = flagged.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/v1/chat/completions");
    assert_eq!(reqs[0].json()["model"], "other-model");
}

#[test]
fn openai_needs_no_key_for_a_local_server() {
    let server = LlmServer::start(vec![wire_step("openai/questions")]);
    let repo = repo_for(Provider::OpenAi, &server);
    repo.aiflow(&["plan", "rate-limit"]).ok();
    assert_eq!(server.requests()[0].header("authorization"), None);
}

#[test]
fn the_command_provider_is_told_about_the_repair() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let log = repo.sibling("templates.log");
    let model = repo.script(
        "flaky-model.sh",
        &format!(
            "log='{log}'\ncat >/dev/null\necho \"$AIFLOW_TEMPLATE\" >> \"$log\"\n\
             if [ \"$(wc -l < \"$log\")\" -eq 1 ]; then echo 'not json at all'; exit 0; fi\n\
             cat '{q}'",
            log = log.display(),
            q = fixture("providers/scripted/questions.json").display()
        ),
    );
    repo.git(&["config", "aiflow.provider", "command"]);
    repo.git(&["config", "aiflow.command", model.to_str().expect("utf-8")]);
    let out = repo.aiflow(&["plan", "rate-limit"]).ok();
    assert_has(&out, "1. Should the shared bucket state");
    assert_eq!(
        std::fs::read_to_string(&log).expect("log"),
        "questions\nrepair\n"
    );
}

#[test]
fn answers_in_the_editor_and_from_stdin() {
    let questions = std::fs::read(fixture("providers/scripted/questions.json")).expect("read");
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let r = repo.aiflow_stdin(&["plan", "rate-limit", "--json"], &questions);
    assert_eq!(r.code, 0, "{r:?}");
    let asked: Value = serde_json::from_str(&r.stdout).expect("plan --json prints JSON");
    assert_has(
        &asked.to_string(),
        "How should requests without an API key be keyed",
    );

    let editor = repo.script(
        "answer-editor.sh",
        r#"awk '{ print } /^\[1\] / { print "Redis is authoritative" } /^\[3\] / { print "Peer address" }' "$1" > "$1.new" && mv "$1.new" "$1""#,
    );
    let editor = editor.to_str().expect("utf-8").to_string();
    repo.aiflow_env(&["answer", "rate-limit"], &[("GIT_EDITOR", &editor)])
        .ok();
    let note = flow_note(&repo);
    assert_has(&note, "Redis is authoritative");
    assert_has(&note, "Peer address");
    let err = repo.aiflow(&["plan", "rate-limit"]).fails(1);
    assert_has(&err, "2");
    assert_lacks(&err.replace("rate-limit", ""), "1,");

    let r = repo.aiflow_stdin(
        &["answer", "rate-limit", "-F", "-"],
        b"[2]\nFall back to an in-process bucket per server\n",
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_has(
        &flow_note(&repo),
        "Fall back to an in-process bucket per server",
    );
    assert_has(&flow_note(&repo), "Redis is authoritative");
    let out = repo.aiflow(&["plan", "rate-limit", "--print-prompt"]).ok();
    assert_has(&out, "Fall back to an in-process bucket per server");
    assert_has(&out, "Peer address");
}

#[test]
fn manual_provider_keeps_an_unusable_answer() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let before = snapshot(&repo);
    let r = repo.aiflow_stdin(
        &["plan", "rate-limit"],
        b"I think you should ask about Redis.\n",
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert_error_line(&r.stderr);
    let name = "REPLY-rate-limit-questions.txt";
    let path =
        named_file(&r.stderr, name).unwrap_or_else(|| panic!("{name} not named:\n{}", r.stderr));
    assert_has(
        &std::fs::read_to_string(path).expect("saved reply"),
        "I think you should ask about Redis.",
    );
    assert_unchanged(&repo, &before);
}

/// OpenAI's strict structured outputs accept a schema only if every object lists all its
/// properties as required and forbids others.
#[track_caller]
fn assert_strict_schema(schema: &Value, at: &str) {
    match schema {
        Value::Object(map) => {
            if map.get("type") == Some(&Value::String("object".into()))
                || map.contains_key("properties")
            {
                let props = map
                    .get("properties")
                    .and_then(|p| p.as_object())
                    .unwrap_or_else(|| panic!("{at}: object without properties: {schema:#}"));
                assert_eq!(
                    map.get("additionalProperties"),
                    Some(&Value::Bool(false)),
                    "{at}: strict mode needs additionalProperties: false"
                );
                let mut required: Vec<&str> = map
                    .get("required")
                    .and_then(|r| r.as_array())
                    .unwrap_or_else(|| panic!("{at}: no required list"))
                    .iter()
                    .map(|v| v.as_str().expect("required names"))
                    .collect();
                let mut keys: Vec<&str> = props.keys().map(String::as_str).collect();
                required.sort_unstable();
                keys.sort_unstable();
                assert_eq!(
                    required, keys,
                    "{at}: strict mode needs every property required"
                );
            }
            for (k, v) in map {
                assert_strict_schema(v, &format!("{at}/{k}"));
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                assert_strict_schema(v, &format!("{at}/{i}"));
            }
        }
        _ => {}
    }
}

#[test]
fn the_json_schemas_suit_strict_structured_outputs() {
    let server = LlmServer::start(vec![
        wire_step("openai/questions"),
        wire_step("openai/plan"),
    ]);
    let repo = repo_for(Provider::OpenAi, &server);
    run(&repo, &["plan", "rate-limit"]).ok();
    run(&repo, &["answer", "rate-limit", "--skip"]).ok();
    run(&repo, &["plan", "rate-limit"]).ok();
    for req in server.requests() {
        let body = req.json();
        let format = &body["response_format"]["json_schema"];
        assert_eq!(format["strict"], true);
        let schema = &format["schema"];
        assert_eq!(schema["type"], "object", "{schema:#}");
        assert_strict_schema(schema, "#");
    }
}

#[test]
fn a_dot_git_directory_in_any_letter_case_is_refused() {
    // `.GIT` is `.git` on case-insensitive file systems (macOS, Windows); git refuses it too.
    let repo = {
        let s = LlmServer::start(vec![]);
        repo_ready_for_plan(Provider::OpenAi, &s)
    };
    for bad_file in [".GIT/hooks/pre-commit", "src/.Git/config"] {
        let mut plan = model_plan();
        plan["subtasks"][1]["files"] = serde_json::json!([bad_file]);
        let bad = plan.to_string();
        let server = LlmServer::start(vec![openai_content(&bad), openai_content(&bad)]);
        repo.git(&["config", "aiflow.baseUrl", &format!("{}/v1", server.url())]);
        let before = snapshot(&repo);
        let r = run(&repo, &["plan", "rate-limit"]);
        assert_eq!(r.code, 2, "{bad_file}: {r:?}");
        assert_has(&r.stderr, bad_file);
        assert_unchanged(&repo, &before);
    }
}

#[test]
fn plan_edit_validates_like_a_model_plan() {
    let server = LlmServer::start(vec![wire_step("openai/plan")]);
    let repo = repo_ready_for_plan(Provider::OpenAi, &server);
    run(&repo, &["plan", "rate-limit"]).ok();
    let before = snapshot(&repo);
    let cases = [
        (
            "file",
            "[[subtask]]\ntitle = \"Only step\"\nphase = \"core\"\nfiles = [\"../etc/passwd\"]\n",
            "../etc/passwd",
        ),
        (
            "cycle",
            "[[subtask]]\nid = \"aaaaaa\"\ntitle = \"A\"\nphase = \"core\"\ndepends_on = [\"bbbbbb\"]\n\n\
             [[subtask]]\nid = \"bbbbbb\"\ntitle = \"B\"\nphase = \"core\"\ndepends_on = [\"aaaaaa\"]\n",
            "cycle",
        ),
        (
            "title",
            "[[subtask]]\ntitle = \"~^:?*[ .. @{\"\nphase = \"core\"\n",
            "title",
        ),
        (
            "phase",
            "[[subtask]]\ntitle = \"Only step\"\nphase = \"later\"\n",
            "phase",
        ),
        (
            "toml",
            "[[subtask]]\ntitle = \"Only step\"\nphase = \"core\"\ntitel = \"typo\"\n",
            "titel",
        ),
    ];
    for (name, text, needle) in cases {
        let file = repo.outside(&format!("edit-{name}.toml"), text.as_bytes());
        let r = run(
            &repo,
            &[
                "plan",
                "edit",
                "rate-limit",
                "-F",
                file.to_str().expect("utf-8"),
            ],
        );
        assert_eq!(r.code, 2, "{name}: {r:?}");
        assert_error(&r.stderr, needle);
        assert_unchanged(&repo, &before);
    }
}
