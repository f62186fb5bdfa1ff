//! Prompt templates: snapshots of every rendered prompt on a fixed flow, per-repository
//! overrides, and template errors that name the file and line.
//!
//! Regenerate the snapshots after an intended template change with
//! `AIFLOW_UPDATE_SNAPSHOTS=1 cargo test prompts::`, and review the diff of `fixtures/prompts/`.

use crate::harness::{TestRepo, fixture};

/// Compare `actual` with the snapshot `fixtures/prompts/<name>`, or write it when asked to.
#[track_caller]
fn snapshot(name: &str, actual: &str) {
    let path = fixture(&format!("prompts/{name}"));
    if std::env::var_os("AIFLOW_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "no snapshot {} ({e}); create it with AIFLOW_UPDATE_SNAPSHOTS=1",
            path.display()
        )
    });
    if expected != actual {
        let diff = similar::TextDiff::from_lines(&expected, actual)
            .unified_diff()
            .header("snapshot", "rendered")
            .to_string();
        panic!(
            "the rendered prompt differs from {}:\n{diff}\nIf the change is intended, run with AIFLOW_UPDATE_SNAPSHOTS=1.",
            path.display()
        );
    }
}

/// A repository with the rate-limit flow and a `command` provider replaying the demo answers.
fn planned_repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("src/lib.rs", "pub fn limiter() {}\n");
    repo.git(&["add", "src/lib.rs"]);
    repo.git(&["commit", "-q", "-m", "Add a library"]);
    repo.new_rate_limit();
    let dir = fixture("demo");
    repo.git(&["config", "aiflow.provider", "command"]);
    repo.git(&[
        "config",
        "aiflow.command",
        &format!("cat '{}'/$AIFLOW_TEMPLATE.json", dir.display()),
    ]);
    repo
}

/// Replace the generated subtask ids (random per run) with stable names.
fn stable_ids(repo: &TestRepo, text: &str) -> String {
    let plan = repo
        .aiflow(&["plan", "show", "rate-limit", "--json"])
        .json();
    let mut out = text.to_string();
    for (i, s) in plan["subtasks"]
        .as_array()
        .expect("subtasks")
        .iter()
        .enumerate()
    {
        let id = s["id"].as_str().expect("id");
        out = out.replace(id, &format!("<id{}>", i + 1));
    }
    out
}

#[test]
fn questions_plan_and_replan_prompts_match_their_snapshots() {
    let repo = planned_repo();
    let before = repo.refs();
    let questions = repo.aiflow(&["plan", "rate-limit", "--print-prompt"]).ok();
    assert_eq!(repo.refs(), before, "--print-prompt must write nothing");
    snapshot("questions.txt", &questions);

    repo.aiflow(&["plan", "rate-limit"]).ok();
    repo.aiflow(&[
        "answer",
        "rate-limit",
        "--answer",
        "1=20 requests per minute per IP",
        "--answer",
        "2=Local in-memory fallback",
        "--answer",
        "3=Key id",
    ])
    .ok();
    let plan = repo.aiflow(&["plan", "rate-limit", "--print-prompt"]).ok();
    snapshot("plan.txt", &plan);

    repo.aiflow(&["plan", "rate-limit"]).ok();
    let again = repo
        .aiflow(&["plan", "rate-limit", "--again", "--print-prompt"])
        .ok();
    snapshot("plan-again.txt", &stable_ids(&repo, &again));
}

#[test]
fn skipped_questions_prompt_matches_its_snapshot() {
    let repo = planned_repo();
    repo.aiflow(&["answer", "rate-limit", "--skip"]).ok();
    let plan = repo.aiflow(&["plan", "rate-limit", "--print-prompt"]).ok();
    assert!(!plan.contains("Clarifying questions and"), "{plan}");
    snapshot("plan-skipped.txt", &plan);
}

#[test]
fn the_repair_request_matches_its_snapshot() {
    let repo = planned_repo();
    repo.aiflow(&["answer", "rate-limit", "--skip"]).ok();
    // A "model" that answers with a cyclic plan first, then with a valid one; it keeps every
    // prompt it is sent.
    let log = repo.sibling("prompts");
    std::fs::create_dir_all(&log).expect("mkdir");
    let script = repo.script(
        "model.sh",
        &format!(
            r#"n=$(ls '{log}' | wc -l)
cat > '{log}'/prompt-$n.txt
if [ "$n" = 0 ]; then
  echo '{{"subtasks": [{{"id": "a", "title": "One", "phase": "core", "depends_on": ["b"]}}, {{"id": "b", "title": "Two", "phase": "core", "depends_on": ["a"]}}]}}'
else
  echo '{{"subtasks": [{{"id": "a", "title": "One", "phase": "core", "depends_on": []}}, {{"id": "b", "title": "Two", "phase": "core", "depends_on": ["a"]}}]}}'
fi"#,
            log = log.display()
        ),
    );
    repo.git(&["config", "aiflow.command", script.to_str().expect("utf-8")]);
    let run = repo.aiflow(&["plan", "rate-limit"]);
    let stderr = run.stderr.clone();
    run.ok();
    assert!(stderr.contains("asking once more"), "{stderr}");
    let second = std::fs::read_to_string(log.join("prompt-1.txt")).expect("second prompt");
    let first = std::fs::read_to_string(log.join("prompt-0.txt")).expect("first prompt");
    assert!(second.starts_with(first.split("\n\n# Plan").next().expect("system")));
    // The repair part: everything after the earlier answer.
    let repair = second
        .split("## Your earlier answer")
        .nth(1)
        .expect("the transcript quotes the earlier answer");
    snapshot("repair.txt", repair);
    assert!(repair.contains("a -> b -> a"), "{repair}");
}

#[test]
fn a_repository_template_overrides_the_embedded_one_and_is_recorded() {
    let repo = planned_repo();
    let custom = "Questions for {{ flow.title }} ({{ flow.slug }}), at most {{ max_questions }}.\n{{ spec_text }}\n";
    let path = repo.write(".aiflow/templates/questions.md", custom);
    let prompt = repo.aiflow(&["plan", "rate-limit", "--print-prompt"]).ok();
    assert!(
        prompt.contains("Questions for Rate limiting for the public API (rate-limit), at most 5."),
        "{prompt}"
    );
    // The system template is still the embedded one.
    assert!(prompt.contains("Answer with one JSON object"), "{prompt}");
    repo.aiflow(&["plan", "rate-limit"]).ok();
    let note = repo.git(&["notes", "--ref=aiflow", "show", "aiflow/rate-limit"]);
    let digest = repo.git(&["hash-object", path.to_str().expect("utf-8")]);
    assert!(
        note.contains(&format!("prompt_digest = \"{}\"", digest.trim())),
        "{note}"
    );
    assert!(
        note.contains("prompt_template = \".aiflow/templates/questions.md\""),
        "{note}"
    );
}

#[test]
fn template_errors_name_the_file_and_line_and_write_nothing() {
    let repo = planned_repo();
    let before = repo.refs();
    repo.write(
        ".aiflow/templates/questions.md",
        "line one\nline two\n{{ flow.titel }}\n",
    );
    let err = repo.aiflow(&["plan", "rate-limit"]).fails(2);
    assert!(
        err.contains("template .aiflow/templates/questions.md, line 3:"),
        "{err}"
    );
    assert!(err.contains("fix .aiflow/templates/questions.md"), "{err}");
    repo.write(".aiflow/templates/questions.md", "a\n{% if %}\nb\n");
    let err = repo.aiflow(&["plan", "rate-limit"]).fails(2);
    assert!(
        err.contains("template .aiflow/templates/questions.md, line 2:"),
        "{err}"
    );
    assert_eq!(repo.refs(), before, "a template error must write nothing");
}

#[test]
fn ctrl_c_while_waiting_for_the_model_leaves_nothing_behind() {
    use std::io::Read;
    let repo = planned_repo();
    // A server that accepts the request and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    repo.git(&["config", "aiflow.provider", "openai"]);
    repo.git(&["config", "aiflow.baseUrl", &url]);
    repo.git(&["config", "aiflow.model", "m"]);
    let before = repo.refs();
    let child = repo
        .command(crate::harness::BIN)
        .args(["plan", "rate-limit"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let (mut conn, _) = listener.accept().expect("the request arrives");
    let mut buf = [0u8; 1024];
    let _ = conn.read(&mut buf).expect("read the request");
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert!(!out.status.success(), "{out:?}");
    assert_eq!(
        repo.refs(),
        before,
        "an interrupted plan must write nothing"
    );
    let locks = repo.git(&["ls-files", "--others", "--", ".git"]);
    assert!(locks.is_empty(), "{locks}");
    let leftovers: Vec<_> = walk(&repo.path.join(".git"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "lock"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    repo.fsck();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
