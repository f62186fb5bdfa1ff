//! Planning against a real model, and against that model's recorded replies.
//!
//! The `live_model_*` tests talk to an OpenAI-compatible server at `$AIFLOW_TEST_LLM_URL` (for
//! example llama.cpp's server with Qwen2.5-Coder-0.5B, as `tests/local-model.sh` sets up and
//! runs with `--ignored`); they are ignored otherwise, so that the runner says they did not run,
//! and fail when asked for without that variable. The binary runs with a cleared
//! environment, so the URL reaches it through `git config aiflow.baseUrl`. A real model's
//! wording is not ours to check: these tests assert on structure only.
//!
//! The `replay_*` tests always run: they serve the wire replies recorded from that server
//! (`fixtures/providers/llamacpp/`, the request bodies the binary sent beside them) from a
//! scripted server on 127.0.0.1.

use crate::harness::{Run, TestRepo, fixture};
use crate::llm_server::{LlmServer, Recorded, Step, content_of};
use serde_json::Value;

const SLUG: &str = "rate-limit";
const PHASES: [&str; 3] = ["core", "nice-to-have", "production"];
/// What every question is answered with: generic, so that any question can take it, and asking
/// for a short plan. A 0.5B model asked for "what the spec says" lists every line of the spec as
/// a subtask and runs past `maxTokens 1024`; these wordings gave usable plans at temperature 0
/// (with the schema, and without it, respectively).
const ANSWER: &str =
    "No preference; choose the simplest option. Keep the plan short: three subtasks at most.";
const ANSWER_NO_SCHEMA: &str =
    "Whatever is simplest. Plan only the core features, as at most three subtasks.";

/// The live server's base URL (`http://127.0.0.1:PORT/v1`).
fn live_url() -> String {
    match std::env::var("AIFLOW_TEST_LLM_URL") {
        Ok(u) if !u.trim().is_empty() => u.trim().trim_end_matches('/').to_string(),
        _ => panic!(
            "set AIFLOW_TEST_LLM_URL to a model server's base URL (tests/local-model.sh does)"
        ),
    }
}

/// A repository with the rate-limit flow, set to ask the openai provider at `base_url`.
fn repo_for(base_url: &str) -> TestRepo {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    for (k, v) in [
        ("aiflow.provider", "openai"),
        ("aiflow.model", "local"),
        ("aiflow.baseUrl", base_url),
        ("aiflow.maxTokens", "1024"),
    ] {
        repo.git(&["config", k, v]);
    }
    repo
}

/// `git aiflow plan rate-limit --timeout 120 [extra…]`.
fn plan(repo: &TestRepo, extra: &[&str]) -> Run {
    let mut args = vec!["plan", SLUG, "--timeout", "120"];
    args.extend_from_slice(extra);
    repo.aiflow(&args)
}

fn status(repo: &TestRepo) -> Value {
    repo.aiflow(&["status", SLUG, "--json"]).json()
}

fn notes(repo: &TestRepo) -> Option<String> {
    repo.rev("refs/notes/aiflow")
}

/// Ask for the questions (`plan --json`), check what was stored, and return how many.
#[track_caller]
fn ask_questions(repo: &TestRepo) -> usize {
    let out = plan(repo, &["--json"]).json();
    let questions = out["questions"]
        .as_array()
        .unwrap_or_else(|| panic!("no questions array in:\n{out:#}"));
    assert!(questions.len() <= 5, "more than 5 questions kept:\n{out:#}");
    for (i, q) in questions.iter().enumerate() {
        assert_eq!(q["id"], i + 1, "question ids are 1..n:\n{out:#}");
        let text = q["question"].as_str().unwrap_or("");
        assert!(!text.trim().is_empty(), "an empty question:\n{out:#}");
        assert!(
            q["choices"].as_array().is_some_and(|c| c.len() <= 4),
            "choices are a list of at most 4:\n{out:#}"
        );
    }
    // What `status` reads back from the note is what was printed.
    let st = status(repo);
    assert_eq!(st["questions"]["asked"], questions.len(), "{st:#}");
    assert_eq!(st["questions"]["answered"], 0, "{st:#}");
    let note = repo.git(&["notes", "--ref=aiflow", "show", &format!("aiflow/{SLUG}")]);
    assert_eq!(
        note.matches("[[questions]]").count(),
        questions.len(),
        "the note holds the questions:\n{note}"
    );
    eprintln!(
        "live: {} question(s); asked {}",
        questions.len(),
        out["asked"]
    );
    questions.len()
}

/// Answer every question, or skip when there are none.
#[track_caller]
fn answer_all(repo: &TestRepo, n: usize, text: &str) {
    if n == 0 {
        repo.aiflow(&["answer", SLUG, "--skip"]).ok();
        return;
    }
    let answers: Vec<String> = (1..=n).map(|i| format!("{i}={text}")).collect();
    let mut args = vec!["answer", SLUG];
    for a in &answers {
        args.extend(["--answer", a.as_str()]);
    }
    repo.aiflow(&args).ok();
    let st = status(repo);
    assert_eq!(st["questions"]["answered"], n, "{st:#}");
}

/// The stored plan is well formed: at least one subtask, tool-assigned ids, known phases,
/// dependencies inside the plan, branch names git accepts. Returns the number of subtasks.
#[track_caller]
fn check_plan(repo: &TestRepo, provider_model: (&str, &str)) -> usize {
    let shown = repo.aiflow(&["plan", "show", SLUG, "--json"]).json();
    assert_eq!(shown["revision"], 1, "{shown:#}");
    assert_eq!(shown["source"], "model", "{shown:#}");
    assert_eq!(shown["provider"], provider_model.0, "{shown:#}");
    assert_eq!(shown["model"], provider_model.1, "{shown:#}");
    let tasks = shown["subtasks"]
        .as_array()
        .unwrap_or_else(|| panic!("no subtasks in:\n{shown:#}"));
    assert!(!tasks.is_empty(), "an empty plan:\n{shown:#}");
    let ids: Vec<&str> = tasks
        .iter()
        .map(|t| t["id"].as_str().unwrap_or(""))
        .collect();
    for t in tasks {
        let id = t["id"].as_str().unwrap_or("");
        assert!(
            id.len() == 6
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "id {id:?} is not 6 chars [a-z0-9]:\n{t:#}"
        );
        let phase = t["phase"].as_str().unwrap_or("");
        assert!(PHASES.contains(&phase), "unknown phase {phase:?}:\n{t:#}");
        let title = t["title"].as_str().unwrap_or("");
        assert!(
            !title.trim().is_empty() && !title.contains('\n'),
            "bad title:\n{t:#}"
        );
        for d in t["depends_on"].as_array().expect("depends_on") {
            let d = d.as_str().unwrap_or("");
            assert!(ids.contains(&d) && d != id, "bad dependency {d:?}:\n{t:#}");
        }
        let branch = t["branch"].as_str().expect("branch");
        let r = repo.git_run(&["check-ref-format", "--branch", branch]);
        assert_eq!(r.code, 0, "git rejects branch {branch:?}: {}", r.stderr);
    }
    let unique: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "ids repeat:\n{shown:#}");

    let st = status(repo);
    assert_eq!(st["plan"]["revision"], 1, "{st:#}");
    assert_eq!(st["plan"]["subtasks"], tasks.len(), "{st:#}");
    let log = repo.aiflow(&["plan", "log", SLUG, "--json"]).json();
    let rev = &log["revisions"][0];
    eprintln!(
        "plan: {} subtask(s), tokens in/out {}/{}, {} ms",
        tasks.len(),
        rev["tokens_in"],
        rev["tokens_out"],
        rev["duration_ms"]
    );
    repo.fsck();
    tasks.len()
}

/// What happened when the plan was asked for without a JSON schema.
#[derive(Debug)]
enum Outcome {
    /// A plan was stored (the JSON was found in a fence or in prose).
    Plan(usize),
    /// The model ran into the token limit; nothing was stored.
    TokenLimit,
    /// The answer (and the answer to the one repair request) was not a usable plan: malformed
    /// JSON, or JSON that fails validation; nothing was stored and the raw answer was kept.
    Unusable,
}

/// The plan step's outcome when nothing makes the model answer in JSON: either a well-formed
/// plan was stored, or the error says what went wrong (the token limit, or an unusable answer
/// after one repair request), the raw answer is kept, and no ref moved.
#[track_caller]
fn plan_outcome(repo: &TestRepo, model: (&str, &str)) -> Outcome {
    let refs = repo.refs();
    let r = plan(repo, &[]);
    if r.code == 0 {
        assert!(r.stdout.contains("Plan revision 1"), "{}", r.stdout);
        return Outcome::Plan(check_plan(repo, model));
    }
    let err = r.fails(2);
    let outcome = if err.contains("token limit") {
        assert!(err.contains("maxTokens"), "no hint at the limit:\n{err}");
        Outcome::TokenLimit
    } else if err.contains("still not usable after a repair request") {
        Outcome::Unusable
    } else {
        panic!("plan failed in an unexpected way:\n{err}");
    };
    assert!(
        err.starts_with("error: ") || err.contains("\nerror: "),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert!(
        err.contains("REPLY-rate-limit-plan.txt"),
        "the raw answer is not named:\n{err}"
    );
    let saved = repo.path.join(".git/aiflow/REPLY-rate-limit-plan.txt");
    assert!(saved.is_file(), "the raw answer is not kept:\n{err}");
    assert_eq!(repo.refs(), refs, "a failed plan moved a ref:\n{err}");
    let st = status(repo);
    assert!(st["plan"]["revision"].is_null(), "{st:#}");
    repo.fsck();
    eprintln!("failed as {outcome:?}:\n{err}");
    outcome
}

// ---------------------------------------------------------------------------------------------
// Live: a real model.

#[test]
#[ignore = "needs a model server: tests/local-model.sh runs these"]
fn live_model_questions_answers_plan() {
    let url = live_url();
    let repo = repo_for(&url);
    let before = notes(&repo);

    let n = ask_questions(&repo);
    assert_ne!(
        notes(&repo),
        before,
        "the questions are stored in the notes"
    );
    answer_all(&repo, n, ANSWER);

    let at = notes(&repo);
    let r = plan(&repo, &[]);
    if r.code != 0 {
        // Say what the model answered, so that a failure can be told from a model's whim.
        let reply =
            std::fs::read_to_string(repo.path.join(".git/aiflow/REPLY-rate-limit-plan.txt"))
                .unwrap_or_default();
        assert_eq!(notes(&repo), at, "a failed plan moved the notes ref");
        panic!(
            "plan failed (exit {})\nstderr:\n{}\nsaved reply:\n{reply}",
            r.code, r.stderr
        );
    }
    assert!(r.stdout.contains("Plan revision 1"), "{}", r.stdout);
    check_plan(&repo, ("openai", "local"));
    assert_eq!(status(&repo)["status"], "planned");
}

#[test]
#[ignore = "needs a model server: tests/local-model.sh runs these"]
fn live_model_plan_without_json_schema() {
    let url = live_url();
    let repo = repo_for(&url);
    // The questions with the schema enforced; only the plan step goes without.
    let n = ask_questions(&repo);
    answer_all(&repo, n, ANSWER_NO_SCHEMA);
    repo.git(&["config", "aiflow.jsonSchema", "false"]);
    match plan_outcome(&repo, ("openai", "local")) {
        Outcome::Plan(n) => eprintln!("without a schema: the answer was read ({n} subtasks)"),
        other => eprintln!("without a schema: {other:?}; nothing was stored"),
    }
}

// ---------------------------------------------------------------------------------------------
// Replay: the recorded wire replies of llama.cpp's server (Qwen2.5-Coder-0.5B-Instruct Q4_K_M).

fn recorded(name: &str) -> String {
    let path = fixture(&format!("providers/llamacpp/{name}"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn recorded_json(name: &str) -> Value {
    serde_json::from_str(&recorded(name)).expect("recorded JSON")
}

/// The answer text the recording was made with (so that the replayed prompt matches it).
fn recorded_answer() -> String {
    let req = recorded_json("plan.request.json");
    let user = req["messages"][1]["content"].as_str().expect("user prompt");
    let line = user
        .lines()
        .find_map(|l| l.trim().strip_prefix("Answer: "))
        .expect("an answer in the recorded plan prompt");
    line.to_string()
}

/// The request's shape, without the prompt text: the keys, the roles and the schema's name.
fn shape(v: &Value) -> Value {
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort();
    let roles: Vec<&Value> = v["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| &m["role"])
        .collect();
    serde_json::json!({
        "keys": keys,
        "roles": roles,
        "model": v["model"],
        "max_tokens": v["max_tokens"],
        "temperature": v["temperature"],
        "schema": v.pointer("/response_format/json_schema/name"),
    })
}

/// The binary still sends what it sent when the replies were recorded, up to the prompt text.
#[track_caller]
fn same_request(got: &Recorded, recorded_name: &str) {
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/v1/chat/completions");
    let want = recorded_json(recorded_name);
    assert_eq!(shape(&got.json()), shape(&want), "vs {recorded_name}");
    assert_eq!(
        got.json()["response_format"],
        want["response_format"],
        "the schema changed since {recorded_name} was recorded"
    );
}

#[test]
fn replay_llamacpp_questions_answer_plan() {
    let server = LlmServer::start(vec![
        Step::json(200, recorded("questions.json")),
        Step::json(200, recorded("plan.json")),
    ]);
    let repo = repo_for(&format!("{}/v1", server.url()));

    let n = ask_questions(&repo);
    let recorded_q: Value =
        serde_json::from_str(&content_of(&recorded("questions.json"))).expect("questions JSON");
    assert_eq!(n, recorded_q["questions"].as_array().expect("array").len());

    // The recording's plan step went without a schema (with it, see the next test).
    let answer = recorded_answer();
    repo.aiflow(&["answer", SLUG, "--answer", &format!("1={answer}")])
        .ok();
    repo.git(&["config", "aiflow.jsonSchema", "false"]);
    let r = plan(&repo, &[]).ok();
    assert!(r.contains("Plan revision 1"), "{r}");
    // The recorded plan came in a ```json fence.
    assert!(
        content_of(&recorded("plan.json"))
            .trim_start()
            .starts_with("```json")
    );
    let count = check_plan(&repo, ("openai", "local"));
    let want: Value = {
        let c = content_of(&recorded("plan.json"));
        let inner = c
            .trim()
            .trim_start_matches("```json")
            .trim_end_matches("```");
        serde_json::from_str(inner).expect("fenced plan JSON")
    };
    assert_eq!(count, want["subtasks"].as_array().expect("array").len());
    let log = repo.aiflow(&["plan", "log", SLUG, "--json"]).json();
    let usage = &recorded_json("plan.json")["usage"];
    assert_eq!(log["revisions"][0]["tokens_in"], usage["prompt_tokens"]);
    assert_eq!(
        log["revisions"][0]["tokens_out"],
        usage["completion_tokens"]
    );

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "one request per step");
    same_request(&reqs[0], "questions.request.json");
    same_request(&reqs[1], "plan.request.json");
    // The replayed plan prompt is the recorded one, word for word (same spec, same answer).
    assert_eq!(
        reqs[1].json()["messages"],
        recorded_json("plan.request.json")["messages"]
    );
}

/// With the schema enforced, the recorded plan matches the schema but every subtask depends on
/// `core` (not an id): the binary asks once more, gets the same, saves the answer and stores
/// nothing.
#[test]
fn replay_llamacpp_plan_with_bad_dependencies_is_refused() {
    let server = LlmServer::start(vec![
        Step::json(200, recorded("questions.json")),
        Step::json(200, recorded("plan-with-schema.json")),
        Step::json(200, recorded("plan-with-schema.json")),
    ]);
    let repo = repo_for(&format!("{}/v1", server.url()));
    let n = ask_questions(&repo);
    answer_all(&repo, n, ANSWER);
    let refs = repo.refs();
    let err = plan(&repo, &[]).fails(2);
    assert!(err.contains("`core`"), "{err}");
    assert!(err.contains("REPLY-rate-limit-plan.txt"), "{err}");
    assert_eq!(repo.refs(), refs, "a refused plan moved a ref");
    let saved = std::fs::read_to_string(repo.path.join(".git/aiflow/REPLY-rate-limit-plan.txt"))
        .expect("the raw answer is saved");
    assert!(saved.contains("\"depends_on\""), "{saved}");

    let reqs = server.requests();
    assert_eq!(reqs.len(), 3, "the plan and one repair");
    same_request(&reqs[1], "plan-with-schema.request.json");
    let roles = shape(&reqs[2].json())["roles"].clone();
    assert_eq!(
        roles,
        serde_json::json!(["system", "user", "assistant", "user"])
    );
    repo.fsck();
}

/// A strict JSON schema is followed key by key in the order of its `properties`: llama.cpp's
/// grammar (and OpenAI's structured outputs) make the model write the keys in that order. The
/// schema must list `question` before `choices` and `id` before `depends_on`, as `required`
/// does, or a small model writes the dependencies before it has named anything (the
/// `plan-with-schema.json` recording: every subtask depends on `core`).
#[test]
fn replay_schema_properties_keep_their_order() {
    let server = LlmServer::start(vec![
        Step::json(200, recorded("questions.json")),
        Step::json(200, recorded("plan.json")),
    ]);
    let repo = repo_for(&format!("{}/v1", server.url()));
    let n = ask_questions(&repo);
    answer_all(&repo, n, ANSWER);
    plan(&repo, &[]).ok();
    let reqs = server.requests();
    let before = |body: &str, a: &str, b: &str| {
        let (ia, ib) = (
            body.find(&format!("\"{a}\":{{")).expect(a),
            body.find(&format!("\"{b}\":{{")).expect(b),
        );
        assert!(
            ia < ib,
            "schema property {a:?} comes after {b:?} in:\n{body}"
        );
    };
    before(&reqs[0].body, "question", "why");
    before(&reqs[0].body, "question", "choices");
    before(&reqs[1].body, "id", "title");
    before(&reqs[1].body, "title", "description");
    before(&reqs[1].body, "phase", "depends_on");
    before(&reqs[1].body, "id", "depends_on");
}
