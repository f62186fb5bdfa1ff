//! Plan lint end to end: a scripted model server on 127.0.0.1 replays degenerate answers of each
//! kind a weak model gives (identical and near-duplicate subtasks, placeholders and the prompt's
//! own example text, invented paths, no tests, one phase, dependencies after their dependants,
//! and for questions placeholders, duplicates and cut-off choices). Each produces its warning,
//! with its code and the subtask or question at fault, on stderr and stored with the revision
//! (read back with `git notes`); `--strict` (and `aiflow.planStrict`) refuses the same answer
//! with nothing written; a clean answer produces none. Hand edits are linted the same way.

use crate::harness::{Run, TestRepo, assert_has, assert_lacks};
use crate::llm_server::{LlmServer, Step};
use serde_json::{Value, json};

const SLUG: &str = "rate-limit";
const NOTES: &str = "refs/notes/aiflow";

/// A repository with a few real files (an `app` package and its tests) and the rate-limit flow
/// (whose spec lists constraints and edge cases), planning with the openai provider at `server`.
fn repo_for(server: &LlmServer) -> TestRepo {
    let repo = TestRepo::new();
    repo.write("app/__init__.py", "");
    repo.write("app/models.py", "class Key:\n    pass\n");
    repo.write("tests/test_models.py", "def test_key():\n    pass\n");
    repo.git(&["add", "."]);
    repo.git(&["commit", "-q", "-m", "An app"]);
    repo.new_rate_limit();
    repo.git(&["config", "aiflow.provider", "openai"]);
    repo.git(&["config", "aiflow.baseUrl", &format!("{}/v1", server.url())]);
    repo.git(&["config", "aiflow.model", "test-model"]);
    repo
}

/// A plan nothing is wrong with: distinct subtasks in the three phases, existing or plausible
/// paths, a test, dependencies first.
fn clean_plan() -> Value {
    json!({"subtasks": [
        {"id": "a", "title": "Limit requests per API key", "phase": "core",
         "description": "A token bucket per key in the app package, with unit tests for refill and burst.",
         "files": ["app/limiter.py", "tests/test_limiter.py"], "depends_on": [],
         "test": "python -m pytest tests/test_limiter.py"},
        {"id": "b", "title": "Reload quota overrides every 30 seconds", "phase": "nice-to-have",
         "description": "Read per-key overrides from the api_keys table and reload them on a timer.",
         "files": ["app/overrides.py"], "depends_on": ["a"], "test": ""},
        {"id": "c", "title": "Export limiter metrics and document them", "phase": "production",
         "description": "Count allowed and limited requests per key on /metrics and describe the headers in the README.",
         "files": ["app/metrics.py", "README.md"], "depends_on": ["a"], "test": ""}
    ]})
}

/// Clarifying questions nothing is wrong with.
fn clean_questions() -> Value {
    json!({"questions": [
        {"question": "Should the shared bucket state in Redis be authoritative?",
         "why": "A Redis round trip on every request may not fit the 1 ms budget.",
         "choices": ["Redis is authoritative", "Local buckets, synchronised every 100 ms"]},
        {"question": "How are requests without an API key keyed behind the load balancer?",
         "why": "The peer address is the balancer's, so every anonymous client would share one bucket.",
         "choices": []}
    ]})
}

/// The subtask with the model's id `model_id`, as stored: the model's ids are replaced, so
/// the plan's answer order is used (`ids` are the model's ids in answer order).
fn stored_id(repo: &TestRepo, ids: &[&str], model_id: &str) -> String {
    let plan = repo.aiflow(&["plan", "show", SLUG, "--json"]).json();
    let pos = ids.iter().position(|i| *i == model_id).expect("model id");
    plan["subtasks"][pos]["id"]
        .as_str()
        .expect("id")
        .to_string()
}

/// The warnings as `(code, subject)`: the subtask's id or the question's number, `None` for
/// the whole plan.
fn pairs(warnings: &Value) -> Vec<(String, Option<String>)> {
    warnings
        .as_array()
        .expect("warnings array")
        .iter()
        .map(|w| {
            let subject = w
                .get("subtask")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| w.get("question").map(|q| q.to_string()));
            (w["code"].as_str().expect("code").to_string(), subject)
        })
        .collect()
}

/// The flow's note, as git shows it.
fn note(repo: &TestRepo) -> String {
    let status = repo.aiflow(&["status", SLUG, "--json"]).json();
    let anchor = status["anchor"].as_str().expect("anchor").to_string();
    repo.git(&["notes", "--ref=aiflow", "show", &anchor])
}

/// Answer the questions with none, so that the next `plan` asks for the plan.
fn no_questions() -> Step {
    Step::openai(r#"{"questions": []}"#)
}

/// `plan` with `answer` (a plan) under `--strict`: refused, exit 1, nothing written; then
/// without it: written, with the warnings on stderr, in `plan show --json`, `status --json`
/// and the note. Returns the repository and the stored warnings.
fn plan_twice(answer: &Value, template: Option<&str>) -> (TestRepo, Value, String) {
    let content = answer.to_string();
    let server = LlmServer::start(vec![
        no_questions(),
        Step::openai(&content),
        Step::openai(&content),
    ]);
    let repo = repo_for(&server);
    if let Some(t) = template {
        repo.write(".aiflow/templates/plan.md", t);
    }
    repo.aiflow(&["plan", SLUG]).ok();
    let before = repo.refs();
    let notes = repo.rev(NOTES);
    let err = repo.aiflow(&["plan", SLUG, "--strict"]).fails(1);
    assert_has(&err, "plan lint found");
    assert_has(&err, "nothing was written");
    assert_eq!(repo.rev(NOTES), notes, "--strict moved the notes ref");
    assert_eq!(repo.refs(), before, "--strict moved a ref");
    let show = repo.aiflow(&["plan", "show", SLUG, "--json"]);
    assert_eq!(show.code, 1, "a refused plan was stored: {}", show.stdout);
    // The model's answer is kept for inspection.
    assert!(
        repo.path
            .join(".git/aiflow/REPLY-rate-limit-plan.txt")
            .exists(),
        "{err}"
    );

    let run = repo.aiflow(&["plan", SLUG]);
    let stderr = run.stderr.clone();
    run.ok();
    let plan = repo.aiflow(&["plan", "show", SLUG, "--json"]).json();
    let warnings = plan["warnings"].clone();
    // The same in status, and on stderr in git's style.
    let status = repo.aiflow(&["status", SLUG, "--json"]).json();
    assert_eq!(status["plan"]["warnings"], warnings);
    for w in warnings.as_array().expect("array") {
        let line = match w.get("subtask").and_then(Value::as_str) {
            Some(id) => format!("warning: {id}: {}", w["message"].as_str().expect("message")),
            None => format!("warning: {}", w["message"].as_str().expect("message")),
        };
        assert_has(&stderr, &line);
    }
    (repo, warnings, stderr)
}

/// The note holds each of `want` as a `[[plans.warnings]]` entry of the current revision.
fn assert_in_note(repo: &TestRepo, want: &[(String, Option<String>)]) {
    let text = note(repo);
    let doc: toml::Value = toml::from_str(&text).expect("the note is TOML");
    let plans = doc["plans"].as_array().expect("plans");
    let stored = plans.last().expect("a revision")["warnings"]
        .as_array()
        .expect("the revision's warnings")
        .iter()
        .map(|w| {
            (
                w["code"].as_str().expect("code").to_string(),
                w.get("subtask")
                    .and_then(|s| s.as_str())
                    .map(str::to_string),
            )
        })
        .collect::<Vec<_>>();
    assert_eq!(stored, want, "{text}");
}

/// `answer`'s warnings are exactly `want` (code, model id of the subtask or `None`), stored and
/// shown; `--strict` refuses it.
#[track_caller]
fn assert_plan_warns(
    answer: Value,
    template: Option<&str>,
    want: &[(&str, Option<&str>)],
) -> (TestRepo, Value) {
    let ids: Vec<String> = answer["subtasks"]
        .as_array()
        .expect("subtasks")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_string())
        .collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (repo, warnings, _) = plan_twice(&answer, template);
    let want: Vec<(String, Option<String>)> = want
        .iter()
        .map(|(code, id)| (code.to_string(), id.map(|i| stored_id(&repo, &ids, i))))
        .collect();
    assert_eq!(pairs(&warnings), want, "{warnings:#}");
    assert_in_note(&repo, &want);
    (repo, warnings)
}

#[test]
fn a_clean_answer_produces_no_warning_even_under_strict() {
    let server = LlmServer::start(vec![
        Step::openai(&clean_questions().to_string()),
        Step::openai(&clean_plan().to_string()),
    ]);
    let repo = repo_for(&server);
    repo.git(&["config", "aiflow.planStrict", "true"]);
    let run = repo.aiflow(&["plan", SLUG]);
    assert_lacks(&run.stderr, "warning:");
    run.ok();
    repo.aiflow(&["answer", SLUG, "--skip"]).ok();
    let run = repo.aiflow(&["plan", SLUG, "--json"]);
    assert_lacks(&run.stderr, "warning:");
    let out = run.json();
    assert_eq!(out["warnings"], json!([]));
    let status = repo.aiflow(&["status", SLUG, "--json"]).json();
    assert_eq!(status["plan"]["warnings"], json!([]));
    assert_eq!(status["questions"]["warnings"], json!([]));
    assert_lacks(&note(&repo), "warnings");
    assert_lacks(&repo.aiflow(&["status", SLUG]).ok(), "lint");
}

#[test]
fn identical_subtasks_are_duplicates() {
    let mut plan = clean_plan();
    let first = plan["subtasks"][0].clone();
    for id in ["d", "e"] {
        let mut copy = first.clone();
        copy["id"] = id.into();
        copy["test"] = "".into();
        plan["subtasks"].as_array_mut().expect("array").push(copy);
    }
    assert_plan_warns(
        plan,
        None,
        &[
            ("duplicate-subtask", Some("d")),
            ("duplicate-subtask", Some("e")),
        ],
    );
}

#[test]
fn near_duplicate_subtasks_are_reported() {
    let mut plan = clean_plan();
    plan["subtasks"].as_array_mut().expect("array").push(json!({
        "id": "d", "title": "Limit the requests per API keys", "phase": "core",
        "description": "Apply the bucket before the handler runs.",
        "files": ["app/limiter.py"], "depends_on": ["a"], "test": ""
    }));
    let (_, warnings) = assert_plan_warns(plan, None, &[("near-duplicate-subtask", Some("d"))]);
    assert!(
        warnings[0]["message"]
            .as_str()
            .expect("message")
            .contains("\"Limit requests per API key\""),
        "{warnings:#}"
    );
}

/// The prompt's own example (from a repository's template, so that the test does not depend on
/// the embedded one's wording) and the JSON shape's `src/…` placeholder.
#[test]
fn placeholder_paths_and_the_prompts_example_text() {
    let template = "Plan \"{{ flow.title }}\". Give each subtask a title such as \"Wire the frobnicator into the main loop\".\n\n{{ spec_text }}\n";
    let mut plan = clean_plan();
    plan["subtasks"][1]["files"] = json!(["src/…"]);
    plan["subtasks"][2]["title"] = "Wire the frobnicator into the main loop".into();
    let (repo, warnings) = assert_plan_warns(
        plan,
        Some(template),
        &[("placeholder", Some("b")), ("prompt-echo", Some("c"))],
    );
    assert_has(&warnings.to_string(), "src/…");
    // `plan show` and `status` say so in text too.
    let show = repo.aiflow(&["plan", "show", SLUG]).ok();
    assert_has(&show, "Plan lint: 2 warnings on revision 1");
    assert_has(&show, "is copied from the prompt's instructions");
    let status = repo.aiflow(&["status", SLUG]).ok();
    assert_has(&status, "lint       2 warnings on plan revision 1");
}

#[test]
fn an_invented_path_gets_a_did_you_mean() {
    let mut plan = clean_plan();
    plan["subtasks"][1]["files"] = json!(["lib/app/models.py"]);
    let (_, warnings) = assert_plan_warns(plan, None, &[("unknown-path", Some("b"))]);
    assert_has(
        warnings[0]["message"].as_str().expect("message"),
        "did you mean \"app/models.py\"?",
    );
}

#[test]
fn a_plan_without_tests() {
    let mut plan = clean_plan();
    plan["subtasks"][0]["test"] = "".into();
    plan["subtasks"][0]["files"] = json!(["app/limiter.py"]);
    plan["subtasks"][0]["description"] = "A token bucket per key in the app package.".into();
    assert_plan_warns(plan, None, &[("no-tests", None)]);
}

#[test]
fn every_subtask_core_although_the_spec_lists_more() {
    let mut plan = clean_plan();
    plan["subtasks"][1]["phase"] = "core".into();
    plan["subtasks"][2]["phase"] = "core".into();
    let (_, warnings) = assert_plan_warns(plan, None, &[("single-phase", None)]);
    // The rate-limit spec has 3 constraints and 4 edge cases.
    assert_has(
        warnings[0]["message"].as_str().expect("message"),
        "3 constraints, 4 edge cases",
    );
}

#[test]
fn a_dependency_listed_after_its_dependant() {
    let mut plan = clean_plan();
    plan["subtasks"].as_array_mut().expect("array").swap(0, 1);
    assert_plan_warns(plan, None, &[("dependency-order", Some("b"))]);
}

/// Questions: `plan` asks them under `--strict` (refused, nothing written), then without.
fn questions_twice(answer: &Value) -> (TestRepo, Value) {
    let content = answer.to_string();
    let server = LlmServer::start(vec![Step::openai(&content), Step::openai(&content)]);
    let repo = repo_for(&server);
    let notes = repo.rev(NOTES);
    let err = repo.aiflow(&["plan", SLUG, "--strict"]).fails(1);
    assert_has(&err, "in the questions");
    assert_has(&err, "nothing was written");
    assert_eq!(repo.rev(NOTES), notes, "--strict moved the notes ref");
    let status = repo.aiflow(&["status", SLUG, "--json"]).json();
    assert_eq!(status["questions"]["asked"], 0);

    let run = repo.aiflow(&["plan", SLUG, "--json"]);
    let stderr = run.stderr.clone();
    let out = run.json();
    let warnings = out["warnings"].clone();
    for w in warnings.as_array().expect("array") {
        assert_has(
            &stderr,
            &format!(
                "warning: question {}: {}",
                w["question"],
                w["message"].as_str().expect("message")
            ),
        );
    }
    let status = repo.aiflow(&["status", SLUG, "--json"]).json();
    assert_eq!(status["questions"]["warnings"], warnings);
    // Stored with the questions' record.
    let doc: toml::Value = toml::from_str(&note(&repo)).expect("TOML");
    let stored = doc["questions_asked"]["warnings"]
        .as_array()
        .expect("questions_asked.warnings")
        .len();
    assert_eq!(stored, warnings.as_array().expect("array").len());
    (repo, warnings)
}

fn q(code: &str, n: u32) -> (String, Option<String>) {
    (code.to_string(), Some(n.to_string()))
}

#[test]
fn a_question_with_the_shapes_placeholders() {
    let mut answer = clean_questions();
    answer["questions"][0]["why"] = "…".into();
    answer["questions"][0]["choices"] = json!(["…", "…"]);
    let (repo, warnings) = questions_twice(&answer);
    assert_eq!(
        pairs(&warnings),
        vec![
            q("placeholder", 1),
            q("placeholder", 1),
            q("placeholder", 1),
            q("duplicate-choice", 1)
        ],
        "{warnings:#}"
    );
    // Shown by status while the questions are the current step.
    let status = repo.aiflow(&["status", SLUG]).ok();
    assert_has(&status, "lint       4 warnings on the questions");
    assert_has(&status, "question 1: the reason (why) is only an ellipsis");
}

#[test]
fn repeated_questions() {
    let mut answer = clean_questions();
    let first = answer["questions"][0].clone();
    answer["questions"]
        .as_array_mut()
        .expect("array")
        .extend([first.clone(), first]);
    let (_, warnings) = questions_twice(&answer);
    assert_eq!(
        pairs(&warnings),
        vec![q("duplicate-question", 3), q("duplicate-question", 4)],
        "{warnings:#}"
    );
}

#[test]
fn duplicate_and_cut_off_choices() {
    let mut answer = clean_questions();
    answer["questions"][0]["choices"] = json!([
        "Redis is authoritative",
        "redis is authoritative!",
        "Local buckets synchronised with the"
    ]);
    let (_, warnings) = questions_twice(&answer);
    assert_eq!(
        pairs(&warnings),
        vec![q("truncated", 1), q("duplicate-choice", 1)],
        "{warnings:#}"
    );
}

/// A clean model plan, then hand edits: one with problems warns (and is stored with them),
/// the same under `--strict` is refused with nothing written, and a later clean revision
/// clears them.
#[test]
fn hand_edits_are_linted_and_a_clean_revision_clears_the_warnings() {
    let server = LlmServer::start(vec![
        no_questions(),
        Step::openai(&clean_plan().to_string()),
    ]);
    let repo = repo_for(&server);
    repo.aiflow(&["plan", SLUG]).ok();
    repo.aiflow(&["plan", SLUG]).ok();
    let toml = repo.aiflow(&["plan", "show", SLUG, "--toml"]).ok();
    let plan = repo.aiflow(&["plan", "show", SLUG, "--json"]).json();
    let first = plan["subtasks"][0]["id"].as_str().expect("id").to_string();
    // Add a copy of the first subtask under a new id, with a TODO path.
    let bad = format!(
        "{toml}\n[[subtask]]\nid = \"copy1\"\ntitle = \"Limit requests per API key\"\nphase = \"core\"\nfiles = [\"app/TODO.py\"]\n"
    );
    let file = repo.outside("bad.toml", bad.as_bytes());
    let file = file.to_str().expect("utf-8");

    let notes = repo.rev(NOTES);
    let err = repo
        .aiflow(&["plan", "edit", SLUG, "--strict", "-F", file])
        .fails(1);
    assert_has(&err, "plan lint found 2 problems in the plan");
    assert_has(
        &err,
        "subtask 4 (copy1, \"Limit requests per API key\"): it has the same title as",
    );
    assert_eq!(repo.rev(NOTES), notes, "--strict moved the notes ref");
    // aiflow.planStrict does the same.
    let err = Run::of(repo.command("git").args([
        "-c",
        "aiflow.planStrict=true",
        "aiflow",
        "plan",
        "edit",
        SLUG,
        "-F",
        file,
    ]))
    .fails(1);
    assert_has(&err, "plan lint found 2 problems");
    assert_eq!(
        repo.rev(NOTES),
        notes,
        "aiflow.planStrict moved the notes ref"
    );

    let run = repo.aiflow(&["plan", "edit", SLUG, "-F", file, "--json"]);
    assert_has(&run.stderr, "warning: copy1: it has the same title as");
    assert_has(
        &run.stderr,
        "warning: copy1: the path \"app/TODO.py\" contains TODO",
    );
    let out = run.json();
    assert_eq!(out["revision"], 2);
    let want = vec![
        ("duplicate-subtask".to_string(), Some("copy1".to_string())),
        ("placeholder".to_string(), Some("copy1".to_string())),
    ];
    assert_eq!(pairs(&out["warnings"]), want);
    assert!(
        out["warnings"][0]["message"]
            .as_str()
            .expect("message")
            .contains(&first),
        "{out:#}"
    );
    assert_in_note(&repo, &want);
    let status = repo.aiflow(&["status", SLUG]).ok();
    assert_has(&status, "lint       2 warnings on plan revision 2");

    // Back to the clean plan: the warnings are gone from what is shown; revision 2 keeps its own.
    let clean = repo.outside(
        "clean.toml",
        toml.replace("based_on = 1", "based_on = 2").as_bytes(),
    );
    let run = repo.aiflow(&["plan", "edit", SLUG, "-F", clean.to_str().expect("utf-8")]);
    assert_lacks(&run.stderr, "warning:");
    run.ok();
    let plan = repo.aiflow(&["plan", "show", SLUG, "--json"]).json();
    assert_eq!(plan["revision"], 3);
    assert_eq!(plan["warnings"], json!([]));
    assert_lacks(&repo.aiflow(&["status", SLUG]).ok(), "lint ");
    let old = repo
        .aiflow(&["plan", "show", SLUG, "--revision", "2", "--json"])
        .json();
    assert_eq!(pairs(&old["warnings"]), want);
}

#[test]
fn plan_strict_must_be_a_boolean() {
    let server = LlmServer::start(vec![Step::openai(&clean_questions().to_string())]);
    let repo = repo_for(&server);
    repo.git(&["config", "aiflow.planStrict", "sometimes"]);
    let notes = repo.rev(NOTES);
    let err = repo.aiflow(&["plan", SLUG]).fails(2);
    assert_has(&err, "`aiflow.planStrict` must be true or false");
    assert_eq!(repo.rev(NOTES), notes);
    assert!(server.requests().is_empty(), "a request was spent");
}

/// The answers a real small model (Qwen2.5-Coder-0.5B through llama.cpp, recorded in
/// `fixtures/providers/llamacpp/`) gave for the rate-limit spec: every subtask in `core`, no
/// test, descriptions that repeat the titles, one invented path for all; a choice that repeats
/// the question. (Which of its texts echo the prompt depends on the template's wording, so that
/// is left to the tests above.)
#[test]
fn a_recorded_small_models_answers_are_flagged() {
    let wire = |name: &str| {
        std::fs::read_to_string(crate::harness::fixture(&format!(
            "providers/llamacpp/{name}"
        )))
        .expect("fixture")
    };
    let server = LlmServer::start(vec![
        Step::json(200, wire("questions.json")),
        Step::json(200, wire("plan.json")),
    ]);
    let repo = repo_for(&server);
    repo.git(&["config", "aiflow.jsonSchema", "false"]);
    let questions = repo.aiflow(&["plan", SLUG, "--json"]).json();
    assert!(
        pairs(&questions["warnings"]).contains(&q("repeats-question", 1)),
        "{questions:#}"
    );
    repo.aiflow(&["answer", SLUG, "--skip"]).ok();
    let run = repo.aiflow(&["plan", SLUG, "--json"]);
    let out = run.json();
    let ids: Vec<String> = out["subtasks"]
        .as_array()
        .expect("subtasks")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(ids.len(), 8);
    let found = pairs(&out["warnings"]);
    let has = |code: &str, id: Option<&String>| {
        assert!(
            found.contains(&(code.to_string(), id.cloned())),
            "{code} {id:?} not in {found:?}"
        )
    };
    for id in &ids[1..7] {
        has("description-repeats-title", Some(id));
    }
    has("unknown-path", Some(&ids[0]));
    has("single-phase", None);
    has("no-tests", None);
    // The one invented path is reported once, not once per subtask naming it.
    assert_eq!(
        found.iter().filter(|(c, _)| c == "unknown-path").count(),
        1,
        "{found:?}"
    );
}

/// `plan expand` writes through the same write point: a split into two identical subtasks warns
/// (stored with the revision), and under `--strict` is refused with nothing written.
#[test]
fn an_expansion_is_linted_like_any_revision() {
    let split = json!({"subtasks": [
        {"id": "x", "title": "Read the overrides table", "phase": "nice-to-have",
         "description": "Query api_keys for per-key quotas.", "files": ["app/overrides.py"],
         "depends_on": [], "test": ""},
        {"id": "y", "title": "Read the overrides table", "phase": "nice-to-have",
         "description": "Reload them every 30 seconds.", "files": ["app/overrides.py"],
         "depends_on": ["x"], "test": ""}
    ]})
    .to_string();
    let server = LlmServer::start(vec![
        no_questions(),
        Step::openai(&clean_plan().to_string()),
        Step::openai(&split),
        Step::openai(&split),
    ]);
    let repo = repo_for(&server);
    repo.aiflow(&["plan", SLUG]).ok();
    repo.aiflow(&["plan", SLUG]).ok();
    let plan = repo.aiflow(&["plan", "show", SLUG, "--json"]).json();
    let b = plan["subtasks"][1]["id"].as_str().expect("id").to_string();
    let notes = repo.rev(NOTES);
    let err = repo
        .aiflow(&["plan", "expand", &b, "--flow", SLUG, "--strict"])
        .fails(1);
    assert_has(&err, "plan lint found 1 problem in the plan");
    assert_eq!(repo.rev(NOTES), notes, "--strict moved the notes ref");

    let run = repo.aiflow(&["plan", "expand", &b, "--flow", SLUG, "--json"]);
    let stderr = run.stderr.clone();
    let out = run.json();
    let found = pairs(&out["warnings"]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "duplicate-subtask");
    let second = found[0].1.clone().expect("a subtask");
    assert_has(
        &stderr,
        &format!("warning: {second}: it has the same title as"),
    );
    assert_in_note(&repo, &found);
}
