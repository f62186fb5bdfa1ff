//! OpenAI-compatible servers differ in the parameters they accept: newer OpenAI models refuse
//! `max_tokens` (wanting `max_completion_tokens`) and any `temperature` but their default; some
//! local servers refuse `response_format`. A 400 naming the parameter is answered by asking again
//! without it, and the adjustment holds for the rest of the run (the repair request included).

use crate::harness::TestRepo;
use crate::llm_server::{LlmServer, Step};

fn error(message: &str, param: &str) -> Step {
    Step::json(
        400,
        serde_json::json!({"error": {"message": message, "type": "invalid_request_error", "param": param, "code": "unsupported_parameter"}})
            .to_string(),
    )
}

#[test]
fn refused_parameters_are_renamed_or_dropped_and_remembered() {
    let questions =
        r#"{"questions": [{"question": "Which store?", "why": "state", "choices": []}]}"#;
    let server = LlmServer::start(vec![
        error(
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
            "max_tokens",
        ),
        error(
            "Unsupported value: 'temperature' does not support 0 with this model. Only the default (1) value is supported.",
            "temperature",
        ),
        // Not JSON at all: the repair request must go out with the adjusted parameters.
        Step::openai("I have no questions in JSON, sorry."),
        Step::openai(questions),
    ]);
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.git(&["config", "aiflow.provider", "openai"]);
    repo.git(&["config", "aiflow.baseUrl", &format!("{}/v1", server.url())]);
    repo.git(&["config", "aiflow.model", "gpt-next"]);
    repo.aiflow(&["plan", "rate-limit"]).ok();
    let bodies: Vec<serde_json::Value> = server.requests().iter().map(|r| r.json()).collect();
    assert_eq!(bodies.len(), 4, "{bodies:#?}");
    assert_eq!(bodies[0]["max_tokens"], 4096);
    assert_eq!(bodies[0]["temperature"], 0);
    assert!(bodies[1].get("max_tokens").is_none());
    assert_eq!(bodies[1]["max_completion_tokens"], 4096);
    assert_eq!(bodies[1]["temperature"], 0);
    for b in &bodies[2..] {
        assert!(b.get("max_tokens").is_none(), "{b}");
        assert!(b.get("temperature").is_none(), "{b}");
        assert_eq!(b["max_completion_tokens"], 4096);
        assert_eq!(b["response_format"]["type"], "json_schema");
    }
    assert_eq!(bodies[3]["messages"].as_array().expect("messages").len(), 4);
    let status = repo.aiflow(&["status", "rate-limit", "--json"]).json();
    assert_eq!(status["questions"]["asked"], 1);
}

#[test]
fn a_400_about_something_else_is_reported_not_retried() {
    let server = LlmServer::start(vec![error(
        "This model's maximum context length is 4096 tokens; your messages resulted in 9000 tokens.",
        "messages",
    )]);
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.git(&["config", "aiflow.provider", "openai"]);
    repo.git(&["config", "aiflow.baseUrl", &format!("{}/v1", server.url())]);
    repo.git(&["config", "aiflow.model", "small"]);
    let before = repo.refs();
    let err = repo.aiflow(&["plan", "rate-limit"]).fails(2);
    assert!(err.contains("HTTP 400 Bad Request (model small)"), "{err}");
    assert!(err.contains("maximum context length"), "{err}");
    assert_eq!(server.requests().len(), 1);
    assert_eq!(repo.refs(), before);
}

#[test]
fn a_missing_model_or_key_is_named_before_anything_is_sent() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let before = repo.refs();
    repo.git(&["config", "aiflow.provider", "openai"]);
    let err = repo.aiflow(&["plan", "rate-limit"]).fails(2);
    assert!(
        err.contains("the openai provider needs a model name"),
        "{err}"
    );
    assert!(err.contains("git config aiflow.model gpt-4o-mini"), "{err}");
    repo.git(&["config", "aiflow.model", "gpt-4o-mini"]);
    let err = repo.aiflow(&["plan", "rate-limit"]).fails(2);
    assert!(
        err.contains("needs an API key in the environment variable OPENAI_API_KEY"),
        "{err}"
    );
    repo.git(&["config", "aiflow.provider", "anthropic"]);
    repo.git(&["config", "aiflow.apiKeyEnv", "MY_KEY"]);
    let err = repo.aiflow(&["plan", "rate-limit"]).fails(2);
    assert!(
        err.contains("the anthropic provider needs an API key in the environment variable MY_KEY"),
        "{err}"
    );
    assert_eq!(repo.refs(), before);
}
