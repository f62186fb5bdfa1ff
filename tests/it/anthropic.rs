//! Anthropic's structured output: the answer's JSON schema goes out as a tool (`input_schema`)
//! that `tool_choice` makes the model call, and the answer is read from the `tool_use` block's
//! `input`. Against Messages API bodies in the real wire format (fixtures/providers/anthropic/),
//! served on 127.0.0.1 by the scripted server.

use crate::harness::{ANSWER_RATE_LIMIT, Run, TestRepo, assert_has, fixture};
use crate::llm_server::{LlmServer, Recorded, Step};
use git_aiflow::ai::answer::{plan_schema, questions_schema};
use serde_json::Value;

const KEY: &str = "sk-ant-test-key-123";
const NOTES: &str = "refs/notes/aiflow";

/// A recorded Messages API reply from `fixtures/providers/anthropic/`, as a `200` step.
fn wire_step(name: &str) -> Step {
    Step::json(
        200,
        std::fs::read_to_string(fixture(&format!("providers/anthropic/{name}.json")))
            .expect("fixture"),
    )
}

/// The rate-limit flow, with the anthropic provider at `server`.
fn repo_for(server: &LlmServer) -> TestRepo {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.git(&["config", "aiflow.provider", "anthropic"]);
    repo.git(&["config", "aiflow.baseUrl", &server.url()]);
    repo.git(&["config", "aiflow.model", "claude-sonnet-4-5"]);
    repo
}

fn run(repo: &TestRepo, args: &[&str]) -> Run {
    repo.aiflow_env(args, &[("ANTHROPIC_API_KEY", KEY)])
}

/// The request asks for `kind`'s answer through one tool holding `schema`, which it must call.
#[track_caller]
fn assert_asks_through_the_tool(req: &Recorded, kind: &str, schema: &Value) {
    assert_eq!(req.path, "/v1/messages");
    let body = req.json();
    let tools = body["tools"].as_array().expect("a tools list");
    assert_eq!(tools.len(), 1, "{body:#}");
    assert_eq!(tools[0]["name"], kind);
    assert_eq!(&tools[0]["input_schema"], schema);
    assert!(tools[0]["description"].is_string(), "{body:#}");
    assert_eq!(
        body["tool_choice"],
        serde_json::json!({"type": "tool", "name": kind})
    );
    assert_eq!(body["model"], "claude-sonnet-4-5");
    assert!(body.get("response_format").is_none(), "{body:#}");
}

#[test]
fn questions_and_plan_are_read_from_the_tool_call() {
    let server = LlmServer::start(vec![
        wire_step("questions-tool-use"),
        wire_step("plan-tool-use"),
    ]);
    let repo = repo_for(&server);
    let out = run(&repo, &["plan", "rate-limit"]).ok();
    assert_has(
        &out,
        "1. Should the shared bucket state in Redis be authoritative",
    );
    repo.aiflow(&ANSWER_RATE_LIMIT).ok();
    run(&repo, &["plan", "rate-limit"]).ok();

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "{reqs:#?}");
    assert_asks_through_the_tool(&reqs[0], "questions", &questions_schema());
    assert_asks_through_the_tool(&reqs[1], "plan", &plan_schema());

    let plan = run(&repo, &["plan", "show", "rate-limit", "--json"]).json();
    let titles: Vec<&str> = plan["subtasks"]
        .as_array()
        .expect("subtasks")
        .iter()
        .map(|s| s["title"].as_str().expect("title"))
        .collect();
    assert_eq!(
        titles,
        [
            "Token bucket core with continuous refill",
            "Redis-backed shared bucket state",
            "axum middleware returning 429 with Retry-After",
            "Per-key quota overrides reloaded every 30 seconds",
            "Prometheus metrics for allowed and limited requests",
        ]
    );
    assert_eq!(plan["subtasks"][3]["phase"], "nice-to-have");
    // An empty `test` in the tool input is no test.
    assert!(plan["subtasks"][0]["test"].is_null(), "{plan:#}");
    // The usage of the reply is the revision's provenance.
    let log = run(&repo, &["plan", "log", "rate-limit", "--json"]).json();
    let rev = &log["revisions"][0];
    assert_eq!(rev["provider"], "anthropic", "{log:#}");
    assert_eq!(rev["model"], "claude-sonnet-4-5-20250929", "{log:#}");
    assert_eq!(rev["tokens_in"], 1893, "{log:#}");
    assert_eq!(rev["tokens_out"], 742, "{log:#}");
    let note = repo.git(&["notes", "--ref=aiflow", "show", "aiflow/rate-limit"]);
    assert_has(&note, "tokens_in = 1893");
    assert_has(&note, "tokens_out = 742");
}

#[test]
fn a_tool_call_cut_at_max_tokens_is_an_error_and_writes_nothing() {
    let server = LlmServer::start(vec![
        wire_step("questions-tool-use"),
        wire_step("plan-tool-use-max-tokens"),
    ]);
    let repo = repo_for(&server);
    run(&repo, &["plan", "rate-limit"]).ok();
    run(&repo, &["answer", "rate-limit", "--skip"]).ok();
    let notes = repo.rev(NOTES);
    let refs = repo.refs();
    let err = run(&repo, &["plan", "rate-limit"]).fails(2);
    assert_has(&err, "token limit (max_tokens = 4096)");
    assert!(
        err.lines()
            .any(|l| l.starts_with("hint: ") && l.contains("aiflow.maxTokens")),
        "{err}"
    );
    assert_eq!(server.requests().len(), 2, "a cut answer is not repaired");
    assert_eq!(repo.rev(NOTES), notes);
    assert_eq!(repo.refs(), refs);
}

#[test]
fn a_reply_without_tool_use_is_read_from_its_text() {
    // A proxy or model that ignores tools answers in text: the plain-text path still reads it.
    let server = LlmServer::start(vec![wire_step("questions"), wire_step("plan")]);
    let repo = repo_for(&server);
    run(&repo, &["plan", "rate-limit"]).ok();
    run(&repo, &["answer", "rate-limit", "--skip"]).ok();
    run(&repo, &["plan", "rate-limit"]).ok();
    let plan = run(&repo, &["plan", "show", "rate-limit", "--json"]).json();
    assert_eq!(plan["subtasks"].as_array().map(Vec::len), Some(5));
    assert_asks_through_the_tool(&server.requests()[1], "plan", &plan_schema());
}

#[test]
fn json_schema_off_sends_no_tools_and_a_server_refusing_tools_is_asked_without() {
    // aiflow.jsonSchema=false: no tools at all.
    let server = LlmServer::start(vec![wire_step("questions")]);
    let repo = repo_for(&server);
    repo.git(&["config", "aiflow.jsonSchema", "false"]);
    run(&repo, &["plan", "rate-limit"]).ok();
    let body = server.requests()[0].json();
    assert!(body.get("tools").is_none(), "{body:#}");
    assert!(body.get("tool_choice").is_none(), "{body:#}");

    // A 400 naming tools: asked again without them.
    let server = LlmServer::start(vec![
        Step::json(
            400,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"tools: Extra inputs are not permitted"},"request_id":"req_011CTestToolsRefused"}"#,
        ),
        wire_step("questions"),
    ]);
    let repo = repo_for(&server);
    let out = run(&repo, &["plan", "rate-limit"]).ok();
    assert_has(&out, "1. Should the shared bucket state");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[0].json().get("tools").is_some());
    assert!(reqs[1].json().get("tools").is_none(), "{}", reqs[1].body);
}

#[test]
fn an_invalid_tool_call_is_repaired_with_the_tool_still_required() {
    // The first call's input has a phase the plan does not know; the repair gets it right.
    let good: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("providers/anthropic/plan-tool-use.json"))
            .expect("fixture"),
    )
    .expect("JSON");
    let mut bad = good.clone();
    bad["content"][0]["input"]["subtasks"][4]["phase"] = "someday".into();
    let server = LlmServer::start(vec![
        wire_step("questions-tool-use"),
        Step::json(200, bad.to_string()),
        Step::json(200, good.to_string()),
    ]);
    let repo = repo_for(&server);
    run(&repo, &["plan", "rate-limit"]).ok();
    run(&repo, &["answer", "rate-limit", "--skip"]).ok();
    run(&repo, &["plan", "rate-limit"]).ok();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3, "{reqs:#?}");
    assert_asks_through_the_tool(&reqs[2], "plan", &plan_schema());
    let body = reqs[2].json();
    let messages = body["messages"].as_array().expect("messages");
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().expect("role"))
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"], "{body:#}");
    // The earlier answer is the tool call's input, as JSON; the repair names the problem.
    let earlier: Value =
        serde_json::from_str(messages[1]["content"].as_str().expect("text")).expect("JSON");
    assert_eq!(earlier, bad["content"][0]["input"]);
    assert_has(messages[2]["content"].as_str().expect("text"), "someday");
    let plan = run(&repo, &["plan", "show", "rate-limit", "--json"]).json();
    assert_eq!(plan["subtasks"][4]["phase"], "production");
}
