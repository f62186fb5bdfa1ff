//! Model output is data, on the terminal and on disk too; secrets are never stored.
//!
//! A provider on 127.0.0.1 answers with strings full of what a terminal acts on (CSI colours,
//! OSC 8 links, OSC 52 clipboard writes, window titles, 8-bit C1 controls, bidi overrides); none
//! of it may reach the notes, the saved files or any output, and the visible text must stay. A
//! note tampered with by hand must print just as safely. And an API key, whether a server echoes
//! it or a user pastes it into a spec, an answer or a plan edit, is stored as `[redacted]`.

use crate::harness::{Run, TestRepo, assert_has, assert_lacks, fixture};
use crate::llm_server::{LlmServer, Recorded, Step, with_content};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// What a terminal would act on, one of each kind, each complete.
const NASTY: &[&str] = &[
    "\x1b[31m",
    "\x1b[0m",
    "\x1b[2J\x1b[H",
    "\x1b]8;;https://evil.example/\x1b\\",
    "\x1b]8;;\x1b\\",
    "\x1b]52;c;cm0gLXJmIH4=\x07",
    "\x1b]0;title\x07",
    "\u{9b}31m",
    "\u{9d}0;pwned\u{9c}",
    "\u{9d}8;;https://evil.example/\x07",
    "\u{202e}",
    "\u{2066}",
    "\u{2069}",
    "\x07",
    "\u{7f}",
];

/// Payloads of the sequences above: none of them may survive as text.
const PAYLOADS: &[&str] = &[
    "evil.example",
    "cm0gLXJmIH4",
    "0;title",
    "pwned",
    "[31m",
    "[2J",
];

/// `text` with a sequence of [`NASTY`] before each word (rotating through them).
fn dirty(text: &str, seed: usize) -> String {
    let mut out = String::new();
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(NASTY[(seed + i) % NASTY.len()]);
        out.push_str(word);
    }
    out.push_str(NASTY[(seed + 7) % NASTY.len()]);
    out
}

/// Whether `c` is something a terminal acts on or that reorders text.
fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
        || ('\u{e0000}'..='\u{e007f}').contains(&c)
}

/// `bytes` hold no control character (but newline and tab), no bidi control and no tag.
#[track_caller]
fn assert_safe_bytes(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    if let Some((i, c)) = text.char_indices().find(|(_, c)| is_unsafe(*c)) {
        let from = text[..i].char_indices().rev().nth(40).map_or(0, |(j, _)| j);
        panic!(
            "{what}: U+{:04X} at byte {i}, after {:?}",
            c as u32,
            &text[from..i]
        );
    }
}

/// As [`assert_safe_bytes`], and no payload of a removed sequence is left as text either.
#[track_caller]
fn assert_clean(what: &str, text: &str) {
    assert_safe_bytes(what, text.as_bytes());
    for p in PAYLOADS {
        assert!(!text.contains(p), "{what}: {p:?} left in:\n{text}");
    }
    assert!(
        !text.to_ascii_lowercase().contains("\\u001b")
            && !text.to_ascii_lowercase().contains("\\u009")
            && !text.to_ascii_lowercase().contains("\\u202"),
        "{what}: an escaped control character in:\n{text}"
    );
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

fn aiflow_dir(repo: &TestRepo) -> PathBuf {
    std::fs::canonicalize(repo.path.join(".git"))
        .expect("git dir")
        .join("aiflow")
}

/// Every string in a TOML value.
fn toml_strings(v: &toml::Value, out: &mut Vec<String>) {
    match v {
        toml::Value::String(s) => out.push(s.clone()),
        toml::Value::Array(a) => a.iter().for_each(|x| toml_strings(x, out)),
        toml::Value::Table(t) => t.iter().for_each(|(k, x)| {
            out.push(k.clone());
            toml_strings(x, out);
        }),
        _ => {}
    }
}

/// An OpenAI reply whose content is `content` and whose reported model is `model`.
fn openai(content: &str, model: &str) -> Step {
    let wire = std::fs::read_to_string(fixture("providers/openai/plan.json")).expect("fixture");
    let mut v: Value = serde_json::from_str(&with_content(&wire, content)).expect("json");
    v["model"] = model.into();
    Step::json(200, v.to_string())
}

/// A model's answer: `value` as JSON (its C0 controls JSON-escaped, C1 and bidi raw), after a
/// line of prose with raw sequences, with `RAW` replaced by a raw CSI inside a JSON string.
fn answer_text(value: &Value) -> String {
    format!(
        "\x1b]0;title\x07\x1b[1mHere you go:\x1b[0m\u{202e}\r\n```json\n{}\n```\n",
        value.to_string().replace("RAW", "\x1b[1m")
    )
}

fn repo_with_server(server: &LlmServer) -> TestRepo {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.git(&["config", "aiflow.provider", "openai"]);
    repo.git(&["config", "aiflow.baseUrl", &format!("{}/v1", server.url())]);
    repo.git(&["config", "aiflow.model", "test-model"]);
    repo
}

// ---------------------------------------------------------------------------------------------
// Control sequences from a provider
// ---------------------------------------------------------------------------------------------

const QUESTION: &str = "Should Redis be authoritative for the bucket state?";
const WHY: &str = "Two servers must agree on the count.";
const CHOICE: &str = "Redis is authoritative";
const TITLE_1: &str = "Token bucket core";
const DESCRIPTION_1: &str = "Refill continuously and cap the burst.";
const DESCRIPTION_1B: &str = "Refill continuously and cap the burst at twenty.";
const TITLE_2: &str = "Retry-After headers";
const DESCRIPTION_2: &str = "Answer 429 with a Retry-After header.";

fn plan_value(description_1: &str) -> Value {
    json!({"subtasks": [
        {"id": "1", "title": format!("Token {}", dirty("RAWbucket core", 3)),
         "description": format!("{}\n{}", dirty(description_1, 1), dirty("Unit tests use a fake clock.", 5)),
         "files": ["src/\u{202e}limiter/bucket.rs"], "phase": "core", "depends_on": []},
        {"id": "2", "title": dirty(TITLE_2, 8), "description": dirty(DESCRIPTION_2, 11),
         "files": ["src/http/limit.rs"], "phase": dirty("nice-to-have", 2), "depends_on": ["1"]},
    ]})
}

#[test]
fn control_sequences_from_a_provider_reach_no_note_file_or_output() {
    let questions = json!({"questions": [{
        "question": dirty(QUESTION, 0),
        "why": dirty(WHY, 4),
        "choices": [dirty(CHOICE, 9), "Each server counts alone\u{9b}2J"],
    }]});
    let invalid = json!({"subtasks": [{"id": "1", "title": dirty("Broken plan", 6), "phase": dirty("later", 12)}]});
    let model = "gpt\x1b]0;pwned\x07-\u{202e}evil\u{9b}2J";
    let server = LlmServer::start(vec![
        openai(&answer_text(&questions), model),
        openai(&answer_text(&plan_value(DESCRIPTION_1)), model),
        openai(&answer_text(&plan_value(DESCRIPTION_1B)), model),
        openai(&answer_text(&invalid), model),
        openai(&answer_text(&invalid), model),
    ]);
    let repo = repo_with_server(&server);
    let mut outputs: Vec<(String, Run)> = Vec::new();
    let mut run = |args: &[&str], code: i32| -> String {
        let r = repo.aiflow(args);
        assert_eq!(r.code, code, "{args:?}: {r:?}");
        let out = r.stdout.clone();
        outputs.push((args.join(" "), r));
        out
    };

    let asked = run(&["plan", "rate-limit"], 0);
    assert_has(&asked, &format!("1. {QUESTION}"));
    assert_has(&asked, &format!("why: {WHY}"));
    assert_has(
        &asked,
        &format!("choices: {CHOICE} | Each server counts alone"),
    );
    assert_has(&asked, "openai (gpt-evil)");
    run(&["answer", "rate-limit", "--skip"], 0);
    let planned = run(&["plan", "rate-limit"], 0);
    assert_has(&planned, TITLE_1);
    run(&["plan", "rate-limit", "--again"], 0);
    let before = repo.rev("refs/notes/aiflow");
    run(&["plan", "rate-limit", "--again"], 2);
    assert_eq!(
        repo.rev("refs/notes/aiflow"),
        before,
        "an invalid plan moved the notes"
    );

    // Every command but the last (the invalid plan, exit 2) succeeded.
    let codes: Vec<i32> = outputs.iter().map(|(_, r)| r.code).collect();
    assert_eq!(codes, [0, 0, 0, 0, 2], "{outputs:#?}");
    assert_has(&outputs[4].1.stderr, "unknown phase \"later\"");

    // The notes: as git shows them, every string in them, and their whole history.
    let note = repo.git(&["notes", "--ref=aiflow", "show", "aiflow/rate-limit"]);
    assert_clean("the flow note", &note);
    let mut strings = Vec::new();
    toml_strings(
        &toml::from_str::<toml::Value>(&note).expect("toml"),
        &mut strings,
    );
    for s in &strings {
        assert!(!s.chars().any(is_unsafe), "note string {s:?}");
    }
    for s in [
        QUESTION,
        WHY,
        CHOICE,
        TITLE_1,
        DESCRIPTION_1B,
        TITLE_2,
        DESCRIPTION_2,
    ] {
        assert!(
            strings.iter().any(|x| x.contains(s)),
            "{s:?} lost from the note:\n{note}"
        );
    }
    assert!(
        strings.iter().any(|x| x == "src/limiter/bucket.rs"),
        "{note}"
    );
    assert!(strings.iter().any(|x| x == "gpt-evil"), "{note}");
    let history = repo.git(&["log", "-p", "refs/notes/aiflow"]);
    assert_clean("git log -p refs/notes/aiflow", &history);

    // The commands that show the plan, and the dashboard.
    let shown = repo.aiflow(&["plan", "show", "rate-limit"]).ok();
    for s in [
        TITLE_1,
        DESCRIPTION_1B,
        "Unit tests use a fake clock.",
        TITLE_2,
        DESCRIPTION_2,
    ] {
        assert_has(&shown, s);
    }
    let diff = repo
        .aiflow(&["plan", "diff", "rate-limit", "--color", "never"])
        .ok();
    assert_has(&diff, &format!("-{DESCRIPTION_1}"));
    assert_has(&diff, &format!("+{DESCRIPTION_1B}"));
    // With colour, the only escapes are the ones `plan diff` writes itself.
    let coloured = repo
        .aiflow(&["plan", "diff", "rate-limit", "--color", "always"])
        .ok();
    let mut stripped = coloured.replace("\x1b[m", "");
    for code in ["1", "31", "32", "33", "36"] {
        stripped = stripped.replace(&format!("\x1b[{code}m"), "");
    }
    assert_eq!(stripped, diff);
    let log = repo.aiflow(&["plan", "log", "rate-limit"]).ok();
    assert_has(&log, "openai (gpt-evil)");
    let status = repo.aiflow(&["status", "rate-limit"]).ok();
    assert_has(&status, TITLE_1);
    let status_json = repo.aiflow(&["status", "rate-limit", "--json"]).ok();
    let v: Value = serde_json::from_str(&status_json).expect("json");
    assert_eq!(v["questions"]["list"][0]["question"], QUESTION);
    assert_eq!(v["questions"]["list"][0]["why"], WHY);
    assert_eq!(v["questions"]["list"][0]["choices"][0], CHOICE);
    let shown_json = repo.aiflow(&["plan", "show", "rate-limit", "--json"]).ok();
    let p: Value = serde_json::from_str(&shown_json).expect("json");
    assert_eq!(p["subtasks"][0]["title"], TITLE_1);
    assert_eq!(
        p["subtasks"][0]["description"],
        format!("{DESCRIPTION_1B}\nUnit tests use a fake clock.")
    );
    let toml_text = repo.aiflow(&["plan", "show", "rate-limit", "--toml"]).ok();
    for (what, text) in [
        ("plan show", &shown),
        ("plan diff", &diff),
        ("plan log", &log),
        ("status", &status),
        ("status --json", &status_json),
        ("plan show --json", &shown_json),
        ("plan show --toml", &toml_text),
    ] {
        assert_clean(what, text);
    }
    for (what, r) in &outputs {
        assert_clean(&format!("stdout of {what}"), &r.stdout);
        assert_clean(&format!("stderr of {what}"), &r.stderr);
    }

    // The answer that could not be used is kept for inspection: without raw controls, with its
    // visible text.
    let reply = aiflow_dir(&repo).join("REPLY-rate-limit-plan.txt");
    let kept = std::fs::read(&reply).expect("the reply is saved");
    assert_safe_bytes("the saved reply", &kept);
    let kept = String::from_utf8(kept).expect("utf-8");
    assert_has(&kept, "Here you go:\n```json");
    assert_has(&kept, "\"id\":\"1\"");
    for f in files_under(&aiflow_dir(&repo)) {
        assert_safe_bytes(&f.display().to_string(), &std::fs::read(&f).expect("read"));
    }
    repo.fsck();
}

// ---------------------------------------------------------------------------------------------
// A note tampered with by hand
// ---------------------------------------------------------------------------------------------

/// The anchor commit the flow's note is attached to.
fn anchor(repo: &TestRepo) -> String {
    repo.rev("aiflow/rate-limit").expect("integration branch")
}

#[test]
fn a_note_written_by_hand_prints_without_control_sequences() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.use_scripted_provider();
    repo.aiflow(&["plan", "rate-limit"]).ok();
    repo.aiflow(&["answer", "rate-limit", "--skip"]).ok();
    repo.aiflow(&["plan", "rate-limit"]).ok();
    let toml_text = repo.aiflow(&["plan", "show", "rate-limit", "--toml"]).ok();
    let edited = repo.outside(
        "edit.toml",
        toml_text
            .replacen("description = \"", "description = \"Edited. ", 1)
            .as_bytes(),
    );
    repo.aiflow(&[
        "plan",
        "edit",
        "rate-limit",
        "-F",
        edited.to_str().expect("utf-8"),
    ])
    .ok();

    // Someone with push access writes escape sequences into the note (TOML escapes them).
    let description = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\ here \x1b[2J\u{9b}31mred\r\x1b]52;c;cm0gLXJmIH4=\x07 \u{202e}txet";
    let question = "Which \x1b[31mstore\x1b[0m?\u{9d}0;pwned\u{9c}";
    let title = "Bidi \u{2066}title\u{2069} \u{202e}here";
    let note = repo.git(&["notes", "--ref=aiflow", "show", "aiflow/rate-limit"]);
    let mut doc: toml::Table = toml::from_str(&note).expect("toml");
    for (i, plan) in doc["plans"]
        .as_array_mut()
        .expect("plans")
        .iter_mut()
        .enumerate()
    {
        let first = &mut plan["subtasks"].as_array_mut().expect("subtasks")[0];
        first["title"] = title.into();
        if i == 1 {
            first["description"] = description.into();
        }
    }
    let q = doc["questions"].as_array_mut().expect("questions")[0]
        .as_table_mut()
        .expect("question");
    q.insert("question".into(), question.into());
    q.insert("answer".into(), "An \x1b[1manswer\x1b[0m".into());
    repo.set_note(&anchor(&repo), &toml::to_string(&doc).expect("toml"));

    let shown = repo.aiflow(&["plan", "show", "rate-limit"]).ok();
    assert_has(&shown, "Bidi title here");
    assert_has(&shown, "click here red");
    assert_has(&shown, "txet");
    let older = repo
        .aiflow(&["plan", "show", "rate-limit", "--revision", "1"])
        .ok();
    let diff = repo
        .aiflow(&["plan", "diff", "rate-limit", "--color", "always"])
        .ok();
    let log = repo.aiflow(&["plan", "log", "rate-limit"]).ok();
    let status = repo.aiflow(&["status", "rate-limit"]).ok();
    let list = repo.aiflow(&["list"]).ok();
    let toml_shown = repo.aiflow(&["plan", "show", "rate-limit", "--toml"]).ok();
    // The editor `answer` opens shows the questions cleaned too.
    let seen = repo.sibling("seen.txt");
    let editor = repo.script("copy.sh", &format!("cp \"$1\" '{}'", seen.display()));
    repo.aiflow_env(
        &["answer", "rate-limit"],
        &[("GIT_EDITOR", editor.to_str().expect("utf-8"))],
    )
    .ok();
    let editor_text = std::fs::read_to_string(&seen).expect("editor text");
    assert_has(&editor_text, "[1] Which store?");
    assert_has(&editor_text, "An answer");
    for (what, text) in [
        ("plan show", &shown),
        ("plan show --revision 1", &older),
        ("plan log", &log),
        ("status", &status),
        ("list", &list),
        ("plan show --toml", &toml_shown),
        ("the answer editor", &editor_text),
    ] {
        assert_clean(what, text);
    }
    let mut stripped = diff.replace("\x1b[m", "");
    for code in ["1", "31", "32", "33", "36"] {
        stripped = stripped.replace(&format!("\x1b[{code}m"), "");
    }
    assert_clean("plan diff --color always", &stripped);

    // JSON keeps the values exactly, with what a terminal acts on written as \u escapes.
    for args in [
        &["plan", "show", "rate-limit", "--json"][..],
        &["status", "rate-limit", "--json"],
        &["plan", "diff", "rate-limit", "--json"],
    ] {
        let out = repo.aiflow(args).ok();
        assert_safe_bytes(&args.join(" "), out.as_bytes());
    }
    let v = repo
        .aiflow(&["plan", "show", "rate-limit", "--json"])
        .json();
    assert_eq!(v["subtasks"][0]["description"], description);
    assert_eq!(v["subtasks"][0]["title"], title);
    let s = repo.aiflow(&["status", "rate-limit", "--json"]).json();
    assert_eq!(s["questions"]["list"][0]["question"], question);
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

const KEY: &str = "sk-test-7Hq2pLx9-secret-echo";
/// The key as a model could hide it from a plain text search: a JSON escape for one letter.
const KEY_ESCAPED: &str = "sk-test-7Hq2pLx9-secret-\\u0065cho";
const LATER: &str = "sk-ant-later-0a1b2c3d4e5f";
const CUSTOM: &str = "tok-custom-9z8y7x6w";

/// Everything stored: the notes as git shows them and their history, every commit message
/// and every file under `.git/aiflow/`.
fn stored(repo: &TestRepo) -> Vec<(String, String)> {
    let mut out = vec![
        (
            "git notes show".to_string(),
            repo.git(&["notes", "--ref=aiflow", "show", "aiflow/rate-limit"]),
        ),
        (
            "git log -p refs/notes/aiflow".to_string(),
            repo.git(&["log", "-p", "refs/notes/aiflow"]),
        ),
        (
            "git log --all".to_string(),
            repo.git(&["log", "--all", "--format=%B"]),
        ),
    ];
    for f in files_under(&aiflow_dir(repo)) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).expect("read")).into_owned();
        out.push((f.display().to_string(), text));
    }
    out
}

#[test]
fn api_keys_are_never_stored_sent_or_printed() {
    let questions = json!({"questions": [{
        "question": format!("Should staging use the key {KEY}?"),
        "why": "KEYESC is in the environment.",
        "choices": [KEY, "another key"],
    }]});
    let plan = json!({"subtasks": [
        {"id": "1", "title": "Token bucket core", "phase": "core",
         "description": format!("Configure the client with {KEY} and test it."), "files": ["src/limiter.rs"]},
        {"id": "2", "title": "Retry-After headers", "phase": "core", "depends_on": ["1"],
         "description": "Use KEYESC for the smoke test.", "files": []},
    ]});
    let invalid = json!({"subtasks": [{"title": format!("Leak {KEY}"), "phase": "KEYESC"}]});
    let text = |v: &Value| v.to_string().replace("KEYESC", KEY_ESCAPED);
    let server = LlmServer::start(vec![
        Step::openai(&text(&questions)),
        Step::openai(&text(&plan)),
        Step::openai(&text(&invalid)),
        Step::openai(&text(&invalid)),
    ]);
    let repo = TestRepo::new();
    repo.aiflow(&["init"]).ok();
    repo.git(&["config", "aiflow.provider", "openai"]);
    repo.git(&["config", "aiflow.baseUrl", &format!("{}/v1", server.url())]);
    repo.git(&["config", "aiflow.model", "test-model"]);
    let env = [("OPENAI_API_KEY", KEY)];
    let mut runs: Vec<Run> = Vec::new();

    // A spec with the key pasted in: the flow is made, the key is not kept, the user is told.
    let spec = std::fs::read_to_string(fixture("specs/rate-limit.md")).expect("spec")
        + &format!("\n## Notes\n\nStaging uses the key {KEY} until March.\n");
    let spec = repo.outside("spec.md", spec.as_bytes());
    let r = repo.aiflow_env(
        &["new", "rate-limit", "-F", spec.to_str().expect("utf-8")],
        &env,
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_has(&r.stderr, "warning: the spec held the value of an API key");
    runs.push(r);
    let shown = repo.aiflow_env(&["spec", "show", "rate-limit"], &env).ok();
    assert_has(&shown, "Staging uses the key [redacted] until March.");

    // The server echoes the key in a question and a plan, also hidden behind a JSON escape.
    for args in [
        &["plan", "rate-limit"][..],
        &["answer", "rate-limit", "--answer", &format!("1=Yes, {KEY}")],
        &["plan", "rate-limit"],
        &["status", "rate-limit", "--json"],
        &["plan", "show", "rate-limit"],
    ] {
        let r = repo.aiflow_env(args, &env);
        assert_eq!(r.code, 0, "{args:?}: {r:?}");
        runs.push(r);
    }
    assert_has(&runs[1].stdout, "1. Should staging use the key [redacted]?");
    assert_has(&runs[1].stdout, "why: [redacted] is in the environment.");
    assert_has(
        &runs[2].stderr,
        "warning: an answer held the value of an API key",
    );
    let v: Value = serde_json::from_str(&runs[4].stdout).expect("json");
    assert_eq!(v["questions"]["list"][0]["answer"], "Yes, [redacted]");
    assert_eq!(v["questions"]["list"][0]["choices"][0], "[redacted]");
    assert_has(
        &runs[5].stdout,
        "Configure the client with [redacted] and test it.",
    );
    assert_has(&runs[5].stdout, "Use [redacted] for the smoke test.");

    // A plan edit with the key, and an invalid answer with it (saved for inspection).
    let edit = repo
        .aiflow_env(&["plan", "show", "rate-limit", "--toml"], &env)
        .ok();
    let edit = edit.replacen(
        "description = \"",
        &format!("description = \"Rotate {KEY} first. "),
        1,
    );
    let edit = repo.outside("edit.toml", edit.as_bytes());
    let r = repo.aiflow_env(
        &[
            "plan",
            "edit",
            "rate-limit",
            "-F",
            edit.to_str().expect("utf-8"),
        ],
        &env,
    );
    assert_eq!(r.code, 0, "{r:?}");
    runs.push(r);
    let r = repo.aiflow_env(&["plan", "rate-limit", "--again"], &env);
    assert_eq!(r.code, 2, "{r:?}");
    assert_has(&r.stderr, "REPLY-rate-limit-plan.txt");
    runs.push(r);
    let reply = std::fs::read_to_string(aiflow_dir(&repo).join("REPLY-rate-limit-plan.txt"))
        .expect("reply kept");
    assert_has(&reply, "Leak [redacted]");

    // The key was sent only as the credential, never in a prompt.
    let requests: Vec<Recorded> = server.requests();
    assert_eq!(requests.len(), 4);
    for r in &requests {
        assert_eq!(r.header("authorization"), Some(&*format!("Bearer {KEY}")));
        assert_lacks(&r.body, KEY);
    }
    assert_has(&requests[0].body, "[redacted]");

    // The `command` provider, for a spec written before the key was in the environment: the
    // prompt file and the program's input have it redacted.
    repo.aiflow(&[
        "new",
        "later",
        "-m",
        &format!("Later flow; the old key was {LATER}."),
    ])
    .ok();
    let seen = repo.sibling("seen-prompt.txt");
    let model = repo.script(
        "model.sh",
        &format!(
            "cat > '{}'\ncat '{}'",
            seen.display(),
            fixture("providers/scripted/questions.json").display()
        ),
    );
    let r = repo.aiflow_env(
        &[
            "plan",
            "later",
            "--provider",
            "command",
            "--command",
            model.to_str().expect("utf-8"),
        ],
        &[("OPENAI_API_KEY", KEY), ("SOME_OTHER_API_KEY", LATER)],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let sent = std::fs::read_to_string(&seen).expect("prompt seen");
    assert_has(&sent, "the old key was [redacted].");
    let prompt = std::fs::read_to_string(aiflow_dir(&repo).join("PROMPT-later-questions.md"))
        .expect("prompt file");
    assert_has(&prompt, "the old key was [redacted].");
    assert_lacks(&prompt, LATER);
    assert_lacks(&r.stdout, LATER);
    assert_lacks(&r.stderr, LATER);

    // A key in the variable `aiflow.apiKeyEnv` names is a secret as well.
    repo.git(&["config", "aiflow.apiKeyEnv", "MY_LLM_TOKEN"]);
    let r = repo.aiflow_env(
        &[
            "spec",
            "edit",
            "rate-limit",
            "-m",
            &format!("Use token {CUSTOM} for the limiter."),
        ],
        &[("MY_LLM_TOKEN", CUSTOM)],
    );
    assert_eq!(r.code, 0, "{r:?}");
    runs.push(r);
    let shown = repo.aiflow(&["spec", "show", "rate-limit"]).ok();
    assert_has(&shown, "Use token [redacted] for the limiter.");

    // A placeholder key shorter than 8 characters redacts nothing.
    let r = repo.aiflow_env(
        &[
            "spec",
            "edit",
            "rate-limit",
            "-m",
            "Keys: none of the clients sends one.",
        ],
        &[("OPENAI_API_KEY", "none")],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_lacks(&r.stderr, "warning");
    let shown = repo.aiflow(&["spec", "show", "rate-limit"]).ok();
    assert_has(&shown, "Keys: none of the clients sends one.");

    for (what, text) in stored(&repo) {
        assert!(!text.contains(KEY), "the key is in {what}:\n{text}");
        assert!(!text.contains(KEY_ESCAPED), "the key is in {what}");
        assert!(
            !text.contains(CUSTOM),
            "the custom key is in {what}:\n{text}"
        );
        // Only the note of `later` (written before that key was a secret) may hold LATER.
        if !what.starts_with("git ") {
            assert!(!text.contains(LATER), "the later key is in {what}:\n{text}");
        }
    }
    for r in &runs {
        for s in [KEY, CUSTOM, "secret-echo"] {
            assert_lacks(&r.stdout, s);
            assert_lacks(&r.stderr, s);
        }
    }
    let note = repo.git(&["notes", "--ref=aiflow", "show", "aiflow/rate-limit"]);
    assert_has(&note, "Rotate [redacted] first.");
    repo.fsck();
}
