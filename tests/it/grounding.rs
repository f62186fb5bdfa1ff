//! Grounded planning prompts: the repository map in the request body a scripted server on the
//! loopback receives (the relevant files' definitions, the rest cut to the budget, nothing at
//! budget 0), its record in the flow's provenance, `--print-prompt`'s summary, and prompts that
//! hold nothing a model could echo.

use crate::harness::{TestRepo, assert_has, assert_lacks};
use crate::llm_server::{LlmServer, Recorded, Step};
use serde_json::Value;

const KEY: &str = "sk-test-secret-123";

/// A spec about a shop's inventory that names one existing file and one class.
const SPEC: &str = "# Reserve stock for pending orders\n\nWhen an order is placed, the items it holds are reserved in the `Inventory` so that two orders cannot take the last item; `shop/inventory.py` keeps the counts today.\n\n## Core features\n\n- Reserve items when an order is placed; release them when it is cancelled.\n- Refuse an order whose items are not in stock.\n";

/// A planning answer the parser accepts.
const PLAN: &str = r#"{"subtasks": [{"id": "r1", "title": "Reserve stock on order", "description": "Count reservations next to stock. Done when: the reservation tests pass.", "files": ["shop/inventory.py", "tests/test_inventory.py"], "phase": "core", "depends_on": [], "test": "python -m pytest tests/test_inventory.py"}]}"#;

/// A repository holding the relevant file among many irrelevant ones, with the flow started and
/// the provider pointed at `server`.
fn shop(server: &LlmServer) -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        "shop/inventory.py",
        "import threading\n\nclass Inventory:\n    def count(self, sku):\n        return 0\n\ndef load_inventory(path):\n    return Inventory()\n",
    );
    repo.write("shop/__init__.py", "from .inventory import Inventory\n");
    repo.write(
        "tests/test_inventory.py",
        "def test_count():\n    assert True\n",
    );
    // Irrelevant files, each larger than a small budget on its own.
    for i in 0..30 {
        let body: String = (0..12)
            .map(|j| format!("def unrelated_helper_{i}_{j}(value):\n    return value\n"))
            .collect();
        repo.write(&format!("vendor/widgets/widget_{i:02}.py"), &body);
    }
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "A shop"]);
    repo.aiflow(&["init"]).ok();
    let spec = repo.outside("spec.md", SPEC.as_bytes());
    repo.aiflow(&["new", "reserve", "-F", spec.to_str().expect("utf-8")])
        .ok();
    repo.git(&["config", "aiflow.provider", "openai"]);
    repo.git(&["config", "aiflow.baseUrl", &format!("{}/v1", server.url())]);
    repo.git(&["config", "aiflow.model", "test-model"]);
    repo
}

fn run(repo: &TestRepo, args: &[&str]) -> crate::harness::Run {
    repo.aiflow_env(args, &[("OPENAI_API_KEY", KEY)])
}

/// The prompt text of a chat request: its messages' contents, in order.
fn prompt_of(r: &Recorded) -> String {
    r.json()["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["content"].as_str().expect("content").to_string())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The map section of a prompt (empty when there is none).
fn map_of(prompt: &str) -> String {
    prompt
        .split("## What the most relevant files define")
        .nth(1)
        .and_then(|rest| rest.split("## Answer").next())
        .unwrap_or_default()
        .to_string()
}

fn note(repo: &TestRepo) -> String {
    repo.git(&["notes", "--ref=aiflow", "show", "aiflow/reserve"])
}

#[test]
fn the_map_shows_the_relevant_files_definitions_and_is_recorded() {
    let server = LlmServer::start(vec![
        Step::openai(r#"{"questions": []}"#),
        Step::openai(PLAN),
    ]);
    let repo = shop(&server);
    run(&repo, &["plan", "reserve"]).ok();
    run(&repo, &["plan", "reserve"]).ok();
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        let prompt = prompt_of(r);
        let map = map_of(&prompt);
        // The file the spec names, with its top-level definitions; not its methods.
        assert_has(
            &map,
            "shop/inventory.py\n    class Inventory:\n    def load_inventory(path):\n",
        );
        assert_lacks(&map, "def count(self, sku)");
        // The whole map fits the default budget (1024 tokens, about 4 KiB) only in part: the
        // relevant file comes first.
        let first = map.lines().find(|l| l.ends_with(".py")).expect("a file");
        assert_eq!(first, "shop/inventory.py", "{map}");
        assert!(map.len() <= 1024 * 4 + 400, "{} bytes:\n{map}", map.len());
    }
    // The provenance of the questions and of the plan revision names what was sent.
    let note = note(&repo);
    assert_has(&note, "[questions_asked.context]");
    assert_has(&note, "[plans.context]");
    assert_has(&note, "budget = 1024");
    assert_has(&note, "files_total = 34");
    assert_has(&note, "path = \"shop/inventory.py\"");
    let doc: toml::Value = toml::from_str(&note).expect("the note is TOML");
    let context = &doc["plans"][0]["context"];
    let map = context["map"].as_array().expect("map");
    assert_eq!(map[0]["path"].as_str(), Some("shop/inventory.py"));
    let sent: i64 = map.iter().map(|f| f["bytes"].as_integer().unwrap()).sum();
    assert!(sent > 0 && sent <= 1024 * 4, "{sent}");
    let left_out = context["map_left_out"].as_integer().expect("left out");
    assert!(left_out > 0, "{context}");
    assert_eq!(map.len() as i64 + left_out, 34);
}

#[test]
fn a_small_budget_cuts_the_irrelevant_files_and_zero_sends_no_map() {
    let server = LlmServer::start(vec![
        Step::openai(r#"{"questions": []}"#),
        Step::openai(PLAN),
    ]);
    let repo = shop(&server);
    // The budget from the configuration: room for the relevant files only.
    repo.git(&["config", "aiflow.planContextBudget", "40"]);
    run(&repo, &["plan", "reserve"]).ok();
    let prompt = prompt_of(&server.requests()[0]);
    let map = map_of(&prompt);
    assert_has(&map, "shop/inventory.py\n    class Inventory:");
    assert_lacks(&map, "widget");
    assert_lacks(&map, "unrelated_helper");
    // The file list still names them.
    assert_has(&prompt, "- vendor/widgets/widget_00.py");
    let written = note(&repo);
    assert_has(&written, "budget = 40");

    // --context-budget 0 wins over the configuration: no map, and the provenance says so.
    run(&repo, &["plan", "reserve", "--context-budget", "0"]).ok();
    let prompt = prompt_of(&server.requests()[1]);
    assert_lacks(&prompt, "What the most relevant files define");
    assert_lacks(&prompt, "class Inventory");
    assert_has(&prompt, "- shop/inventory.py");
    let doc: toml::Value = toml::from_str(&note(&repo)).expect("TOML");
    let context = &doc["plans"][0]["context"];
    assert_eq!(context["budget"].as_integer(), Some(0), "{context}");
    assert!(context.get("map").is_none(), "{context}");
}

#[test]
fn print_prompt_shows_the_map_and_sums_it_up() {
    let server = LlmServer::start(vec![]);
    let repo = shop(&server);
    let before = repo.refs();
    let r = run(
        &repo,
        &[
            "plan",
            "reserve",
            "--print-prompt",
            "--context-budget",
            "60",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_has(&r.stdout, "shop/inventory.py\n    class Inventory:");
    assert_has(&r.stderr, "repository map: ");
    assert_has(&r.stderr, "of 60 tokens");
    assert_has(&r.stderr, "file list: 34 of 34 paths");
    assert_has(&r.stderr, "  shop/inventory.py (");
    assert_lacks(&r.stderr, "widget");
    assert_eq!(server.requests().len(), 0);
    assert_eq!(repo.refs(), before);
}

#[test]
fn a_bad_budget_is_a_usage_error_and_asks_nothing() {
    let server = LlmServer::start(vec![]);
    let repo = shop(&server);
    let before = repo.refs();
    repo.git(&["config", "aiflow.planContextBudget", "lots"]);
    let err = run(&repo, &["plan", "reserve"]).fails(2);
    assert_has(&err, "aiflow.planContextBudget");
    let err = run(&repo, &["plan", "reserve", "--context-budget", "many"]).fails(2);
    assert_has(&err, "--context-budget");
    let err = run(&repo, &["plan", "reserve", "--context-budget", "99999999"]).fails(2);
    assert_has(&err, "context budget");
    assert_eq!(server.requests().len(), 0);
    assert_eq!(repo.refs(), before);
}

#[test]
fn prompts_and_schemas_hold_nothing_to_echo() {
    let server = LlmServer::start(vec![
        Step::openai(
            r#"{"questions": [{"question": "Should a reservation expire?", "why": "Abandoned carts hold stock.", "choices": ["After an hour", "Never"]}]}"#,
        ),
        Step::openai(PLAN),
    ]);
    let repo = shop(&server);
    run(&repo, &["plan", "reserve"]).ok();
    run(&repo, &["answer", "reserve", "--answer", "1=After an hour"]).ok();
    run(&repo, &["plan", "reserve"]).ok();
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        let prompt = prompt_of(r);
        for echo in ["token bucket", "src/…", "\"…\"", "…", "such as \""] {
            assert_lacks(&prompt, echo);
        }
        let schema = r.json()["response_format"].to_string();
        assert_lacks(&schema, "…");
        // The shape is carried by types and words.
        assert_has(&prompt, "each key followed by the type of its value");
    }
    let plan = prompt_of(&requests[1]);
    assert_has(&plan, "\"Done when:\"");
    assert_has(&plan, "use that file's path exactly");
    assert_has(&plan, "adds tests for it in the same subtask");
    assert_has(&plan, "Answer: After an hour");
    let schema: Value = requests[1].json()["response_format"].clone();
    assert_has(&schema.to_string(), "Done when:");
}

#[test]
fn plan_expand_is_grounded_and_recorded_too() {
    let split = r#"{"subtasks": [{"id": "a", "title": "Count reservations", "description": "Done when: the counting test passes.", "files": ["shop/inventory.py"], "phase": "core", "depends_on": [], "test": ""}, {"id": "b", "title": "Refuse orders out of stock", "description": "Done when: the refusal test passes.", "files": ["shop/inventory.py"], "phase": "core", "depends_on": ["a"], "test": ""}]}"#;
    let server = LlmServer::start(vec![
        Step::openai(r#"{"questions": []}"#),
        Step::openai(PLAN),
        Step::openai(split),
    ]);
    let repo = shop(&server);
    repo.git(&["config", "aiflow.planContextBudget", "50"]);
    run(&repo, &["plan", "reserve"]).ok();
    run(&repo, &["plan", "reserve"]).ok();
    let shown = repo.aiflow(&["plan", "show", "reserve", "--json"]).json();
    let id = shown["subtasks"][0]["id"].as_str().expect("id").to_string();
    let r = run(
        &repo,
        &["plan", "expand", &id, "--flow", "reserve", "--print-prompt"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_has(&r.stdout, "shop/inventory.py\n    class Inventory:");
    assert_has(&r.stderr, "of 50 tokens");
    run(&repo, &["plan", "expand", &id, "--flow", "reserve"]).ok();
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    let map = map_of(&prompt_of(&requests[2]));
    assert_has(&map, "shop/inventory.py\n    class Inventory:");
    assert_lacks(&map, "widget");
    let doc: toml::Value = toml::from_str(&note(&repo)).expect("TOML");
    let context = &doc["plans"][1]["context"];
    assert_eq!(context["budget"].as_integer(), Some(50), "{context}");
    // Both files the plan names are in the map (paths the plan mentions rank first).
    let paths: Vec<&str> = context["map"]
        .as_array()
        .expect("map")
        .iter()
        .map(|f| f["path"].as_str().expect("path"))
        .collect();
    assert_eq!(
        paths[..2],
        ["tests/test_inventory.py", "shop/inventory.py"],
        "{context}"
    );
}
