//! `audit`: a security review by a model (a scripted OpenAI-compatible server on 127.0.0.1),
//! stored in the flow's note as advice, shown by `review` and `status`, judged by a person, and
//! required to be judged before `finish` under `[gate] audit = "resolved"`.

use crate::harness::{AS_GRACE, TestRepo, assert_has, assert_lacks};
use crate::llm_server::{LlmServer, Step};
use serde_json::Value;

const FINDINGS: &str = r#"{"findings": [
  {"file": "app/db.py", "line": 3, "severity": "high", "what": "SQL is built from the request's name", "why": "an attacker reads every row", "fix": "use a parameterised query"},
  {"file": "app/db.py", "line": 3, "severity": "high", "what": "SQL is built from the request's name", "why": "repeated", "fix": "repeated"},
  {"file": "app/log.py", "line": null, "severity": "Low", "what": "the token is logged", "why": "logs are widely read", "fix": "log its hash"}
]}"#;

/// A repository whose policy wants every finding judged, with a one-subtask flow started and one
/// step made on it; the model is `server`.
fn audited_repo(server: &LlmServer) -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        ".aiflow.toml",
        "schema = 1\n\n[gate]\naudit = \"resolved\"\n",
    );
    repo.git(&["add", ".aiflow.toml"]);
    repo.git(&["commit", "-q", "-m", "Policy: judge every finding"]);
    repo.new_rate_limit();
    repo.plan_subtasks(&[("a1", "Store")]);
    repo.git(&["config", "aiflow.provider", "openai"]);
    repo.git(&["config", "aiflow.baseUrl", &format!("{}/v1", server.url())]);
    repo.git(&["config", "aiflow.model", "auditor-1"]);
    repo.aiflow(&["start", "a1"]).ok();
    repo.write(
        "app/db.py",
        "def find(db, name):\n    # look the user up\n    return db.execute(\"SELECT * FROM users WHERE name = '\" + name + \"'\")\n",
    );
    repo.aiflow(&["step", "-m", "Find users"]).ok();
    repo
}

#[test]
fn findings_are_stored_shown_judged_and_required_before_finish() {
    let server = LlmServer::start(vec![
        Step::openai(FINDINGS),
        Step::openai(r#"{"findings": []}"#),
    ]);
    let repo = audited_repo(&server);
    let notes_before = repo.git(&["rev-parse", "refs/notes/aiflow"]);
    let out = repo
        .aiflow_env(
            &["audit", "a1"],
            &[("OPENAI_API_KEY", "sk-audit-0123456789abcdef")],
        )
        .ok();
    assert_has(
        &out,
        "of subtask a1 of rate-limit by openai (test-model-2026-01-01): 2 findings",
    );
    assert_has(
        &out,
        "high     open      app/db.py:3  SQL is built from the request's name",
    );
    assert_has(&out, "low      open      app/log.py  the token is logged");
    assert_ne!(repo.git(&["rev-parse", "refs/notes/aiflow"]), notes_before);

    // What the model was sent: the subtask's diff and a JSON schema, and never the key.
    let requests = server.requests();
    let body = requests[0].json();
    let prompt = body["messages"][1]["content"].as_str().expect("prompt");
    assert_has(
        prompt,
        "+    return db.execute(\"SELECT * FROM users WHERE name = '\" + name + \"'\")",
    );
    assert_has(prompt, "subtask a1 \"Store\"");
    assert_eq!(body["response_format"]["json_schema"]["name"], "audit");
    assert_lacks(&requests[0].dump(), "sk-audit-0123456789abcdef\"");

    // Stored in the flow's note, where git shows it.
    let note = repo.git(&["notes", "--ref=aiflow", "show", "aiflow/rate-limit"]);
    let doc: toml::Table = toml::from_str(&note).expect("toml");
    let audits = doc["audits"].as_array().expect("audits");
    assert_eq!(audits.len(), 1);
    let findings = audits[0]["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 2);
    assert_eq!(findings[0]["status"].as_str(), Some("open"));
    assert_eq!(
        audits[0]["provenance"]["model"].as_str(),
        Some("test-model-2026-01-01")
    );
    let ids: Vec<String> = findings
        .iter()
        .map(|f| f["id"].as_str().expect("id").to_owned())
        .collect();

    // review and status show them; they are no review.
    let review = repo.aiflow(&["review", "a1"]).ok();
    assert_has(&review, ": 2 findings, 2 open");
    assert_has(&review, &format!("{} high", ids[0]));
    let v = repo.aiflow(&["review", "a1", "--json"]).json();
    assert_eq!(v["commits"][0]["review"], "unreviewed");
    assert_eq!(v["audits"][0]["findings"].as_array().map(Vec::len), Some(2));
    let status = repo.aiflow(&["status", "rate-limit"]).ok();
    assert_has(&status, "audits     1, 2 findings, 2 open");
    assert_eq!(
        repo.aiflow(&["status", "rate-limit", "--json"]).json()["open_findings"],
        2
    );

    // Judging needs a reason, and an id that names one finding.
    repo.aiflow(&["audit", "dismiss", &ids[1]]).fails(2);
    assert_has(
        &repo
            .aiflow(&["audit", "dismiss", "Fzzzzzz", "-m", "x"])
            .fails(2),
        "no finding Fzzzzzz",
    );

    // The flow completes; finish refuses while a finding is open, naming it.
    repo.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
    repo.aiflow(&["integrate", "a1"]).ok();
    repo.git(&["switch", "-q", "main"]);
    let refs = repo.refs();
    let refused = repo.aiflow(&["finish", "rate-limit"]).fails(1);
    assert_has(&refused, "2 security findings nobody has judged");
    assert_has(&refused, "says audit = \"resolved\"");
    assert_has(&refused, &ids[0]);
    assert_eq!(repo.refs(), refs);

    let dismissed = repo
        .aiflow(&[
            "audit",
            "dismiss",
            &ids[1][..5],
            "-m",
            "tokens are hashed upstream",
            "--json",
        ])
        .json();
    assert_eq!(dismissed["status"], "dismissed");
    assert_eq!(dismissed["was"], "open");
    assert_eq!(dismissed["reason"], "tokens are hashed upstream");
    assert_eq!(dismissed["judged_by"], "Ada Lovelace <ada@example.com>");
    assert_has(
        &repo.aiflow(&["finish", "rate-limit"]).fails(1),
        "1 security finding",
    );
    repo.aiflow_env(
        &[
            "audit",
            "accept",
            &ids[0],
            "-m",
            "fixed in a parameterised query",
        ],
        AS_GRACE,
    )
    .ok();
    let anchor = repo.aiflow(&["status", "rate-limit", "--json"]).json()["anchor"]
        .as_str()
        .expect("anchor")
        .to_owned();
    let note = repo.git(&["notes", "--ref=aiflow", "show", &anchor]);
    assert_has(&note, "status = \"accepted\"");
    assert_has(&note, "judged_by = \"Grace Hopper <grace@example.com>\"");

    // The whole flow, audited: nothing found is an answer too.
    let flow_audit = repo.aiflow(&["audit", "rate-limit", "--json"]).json();
    assert_eq!(flow_audit["subtask"], Value::Null);
    assert_eq!(flow_audit["findings"], Value::Null);
    let prompt = server.requests()[1].json()["messages"][1]["content"]
        .as_str()
        .expect("prompt")
        .to_owned();
    assert_has(&prompt, "# Security review: flow rate-limit");
    repo.aiflow(&["finish", "rate-limit"]).ok();
    repo.fsck();
}

#[test]
fn an_unusable_answer_is_repaired_once_and_otherwise_writes_nothing() {
    let bad = r#"{"findings": [{"file": "/etc/passwd", "severity": "severe", "what": ""}]}"#;
    let server = LlmServer::start(vec![Step::openai(bad), Step::openai(bad)]);
    let repo = audited_repo(&server);
    let notes = repo.git(&["rev-parse", "refs/notes/aiflow"]);
    let err = repo.aiflow(&["audit", "a1"]).fails(2);
    assert_has(&err, "still not usable after a repair request");
    assert_has(&err, "`severity` must be low, medium, high or critical");
    assert_has(&err, "must be a path relative to the repository root");
    assert_has(&err, "nothing was written");
    assert_eq!(repo.git(&["rev-parse", "refs/notes/aiflow"]), notes);
    assert_eq!(server.requests().len(), 2);
    // --print-prompt asks nothing.
    let prompt = repo.aiflow(&["audit", "a1", "--print-prompt"]).ok();
    assert_has(
        &prompt,
        "Look for, in the lines this change adds or alters:",
    );
    assert_eq!(server.requests().len(), 2);
}
