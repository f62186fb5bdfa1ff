//! Starting, reading and editing flows: `init`, `new`, `spec`, `status`, `list`.

use crate::harness::{TestRepo, fixture};

fn spec_path() -> String {
    fixture("specs/rate-limit.md")
        .to_str()
        .expect("utf-8")
        .to_string()
}

#[test]
fn new_flow_in_a_fresh_repository() {
    let repo = TestRepo::new();
    let main = repo.rev("main").expect("main");
    let out = repo.aiflow(&["init"]).ok();
    assert!(
        out.contains("notes.displayRef += refs/notes/aiflow-log"),
        "{out}"
    );
    let out = repo.aiflow(&["new", "rate-limit", "-F", &spec_path()]).ok();
    assert!(
        out.starts_with("Created flow rate-limit: Rate limiting for the public API\n"),
        "{out}"
    );
    assert!(out.contains("next: git aiflow plan rate-limit"), "{out}");

    // The integration branch: one empty commit on the base.
    let anchor = repo
        .rev("aiflow/rate-limit")
        .expect("integration branch exists");
    assert_eq!(repo.git(&["rev-parse", "aiflow/rate-limit^"]).trim(), main);
    assert_eq!(
        repo.git(&["rev-parse", "aiflow/rate-limit^{tree}"]),
        repo.git(&["rev-parse", "main^{tree}"])
    );

    // `git log` shows the spec as prose and, after init, the flow's TOML note.
    let log = repo.git(&["log", "-1", "aiflow/rate-limit"]);
    assert!(
        log.contains("    aiflow: start rate-limit: Rate limiting for the public API\n"),
        "{log}"
    );
    assert!(
        log.contains("    Every client of the public HTTP API gets a fair share of capacity"),
        "{log}"
    );
    assert!(
        log.contains("    Core features:\n    - A token bucket per API key"),
        "{log}"
    );
    assert!(log.contains("    Edge cases:\n"), "{log}");
    // A few lines of it; the whole document with `--notes=aiflow`.
    assert!(
        log.contains(
            "Notes (aiflow-log):\n    aiflow flow rate-limit: Rate limiting for the public API\n"
        ),
        "{log}"
    );
    let whole = repo.git(&["log", "-1", "--notes=aiflow", "aiflow/rate-limit"]);
    assert!(
        whole.contains("Notes (aiflow):\n    schema = 3\n    kind = \"flow\"\n"),
        "{whole}"
    );

    // The trailer, as git reads it.
    let trailer = repo.git(&[
        "log",
        "-1",
        "--format=%(trailers:key=Aiflow-Flow,valueonly)",
        "aiflow/rate-limit",
    ]);
    assert_eq!(trailer.trim(), "rate-limit");
    let message = repo.git(&["log", "-1", "--format=%B", "aiflow/rate-limit"]);
    let parsed = repo.git_stdin(&["interpret-trailers", "--parse"], &message);
    assert_eq!(parsed, "Aiflow-Flow: rate-limit\n");

    // The note, as git shows it, is TOML with the whole document.
    let note = repo.git(&["notes", "--ref", "aiflow", "show", "aiflow/rate-limit"]);
    let table: toml::Table = toml::from_str(&note).expect("the note is TOML");
    assert_eq!(table["schema"].as_integer(), Some(3));
    assert_eq!(table["slug"].as_str(), Some("rate-limit"));
    assert_eq!(table["status"].as_str(), Some("spec"));
    assert_eq!(
        table["integration_branch"].as_str(),
        Some("aiflow/rate-limit")
    );
    assert_eq!(table["base_ref"].as_str(), Some("refs/heads/main"));
    assert_eq!(table["base_commit"].as_str(), Some(main.as_str()));
    assert_eq!(
        table["created_by"].as_str(),
        Some("Ada Lovelace <ada@example.com>")
    );
    let spec = table["spec"].as_table().expect("spec table");
    assert_eq!(spec["features"].as_array().map(Vec::len), Some(4));
    assert_eq!(spec["edge_cases"].as_array().map(Vec::len), Some(4));
    let decoded = git_aiflow::flow::upgrade::decode(note.as_bytes()).expect("decodes");
    assert_eq!(decoded.flows[0].spec.stack[0], "Rust 1.85, axum 0.8, tokio");
    assert_eq!(
        repo.git(&["notes", "--ref", "aiflow", "list", "aiflow/rate-limit"])
            .trim(),
        repo.git(&["rev-parse", &format!("refs/notes/aiflow:{anchor}")])
            .trim()
    );

    // One notes commit, with a message saying what changed.
    assert_eq!(
        repo.git(&["log", "--format=%s", "refs/notes/aiflow"]),
        "aiflow: new flow rate-limit\n"
    );
    repo.fsck();
}

#[test]
fn init_is_idempotent_and_leaves_push_and_fetch_alone() {
    let repo = TestRepo::new();
    repo.git(&[
        "remote",
        "add",
        "origin",
        "https://example.invalid/repo.git",
    ]);
    let before = repo.git(&["config", "--local", "--list"]);
    repo.aiflow(&["init"]).ok();
    let again = repo.aiflow(&["init"]).ok();
    assert!(again.contains("already set up; nothing changed"), "{again}");
    assert_eq!(
        repo.git(&["config", "--get-all", "notes.displayRef"]),
        "refs/notes/aiflow-log\n"
    );
    assert_eq!(
        repo.git(&["config", "--get-all", "notes.rewriteRef"]),
        "refs/notes/aiflow\n"
    );
    let after = repo.git(&["config", "--local", "--list"]);
    let added: Vec<&str> = after
        .lines()
        .filter(|l| !before.lines().any(|b| b == *l))
        .collect();
    assert_eq!(
        added,
        vec![
            "notes.displayref=refs/notes/aiflow-log",
            "notes.rewriteref=refs/notes/aiflow"
        ]
    );
    assert_eq!(
        repo.git_run(&["config", "--get-all", "remote.origin.push"])
            .code,
        1
    );
    assert_eq!(
        repo.git(&["config", "--get-all", "remote.origin.fetch"]),
        "+refs/heads/*:refs/remotes/origin/*\n"
    );

    // A glob that already covers the ref counts as set.
    let other = TestRepo::new();
    other.git(&["config", "notes.displayRef", "refs/notes/*"]);
    let out = other.aiflow(&["init"]).ok();
    assert!(out.contains("notes.displayRef already includes"), "{out}");
    // It also shows the whole documents: init says how to keep `git log` short.
    assert!(
        out.contains("notes.displayRef = refs/notes/* also shows the whole documents"),
        "{out}"
    );
    assert_eq!(
        other.git(&["config", "--get-all", "notes.displayRef"]),
        "refs/notes/*\n"
    );

    // Notes follow an amended commit once init has run (rewriteRef).
    repo.new_rate_limit_spec_only();
    repo.git(&["checkout", "-q", "aiflow/rate-limit"]);
    repo.git(&[
        "commit",
        "-q",
        "--amend",
        "--allow-empty",
        "-m",
        "amended anchor\n\nAiflow-Flow: rate-limit",
    ]);
    let note = repo.git(&["notes", "--ref=aiflow", "show", "HEAD"]);
    assert!(note.starts_with("schema = 3\n"), "{note}");
}

impl TestRepo {
    /// `new rate-limit` from the fixture, without running init.
    fn new_rate_limit_spec_only(&self) {
        self.aiflow(&["new", "rate-limit", "-F", &spec_path()]).ok();
    }
}

#[test]
fn status_json_has_the_documented_fields() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let v = repo.aiflow(&["status", "rate-limit", "--json"]).json();
    let anchor = repo.rev("aiflow/rate-limit").expect("branch");
    assert_eq!(v["slug"], "rate-limit");
    assert_eq!(v["title"], "Rate limiting for the public API");
    assert_eq!(v["status"], "spec");
    assert_eq!(v["base_ref"], "refs/heads/main");
    assert_eq!(v["base_commit"], repo.rev("main").expect("main"));
    assert_eq!(v["integration_branch"], "aiflow/rate-limit");
    assert_eq!(v["integration_tip"], anchor);
    assert_eq!(v["integration_commits"], 0);
    assert_eq!(v["anchor"], anchor);
    assert_eq!(v["created_by"], "Ada Lovelace <ada@example.com>");
    assert!(
        v["created_at"]
            .as_str()
            .expect("time")
            .starts_with("2026-01-01T00:")
    );
    assert_eq!(v["updated_at"], v["created_at"]);
    assert_eq!(v["spec"]["features"].as_array().map(Vec::len), Some(4));
    assert_eq!(v["spec"]["constraints"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        v["questions"],
        serde_json::json!({"asked": 0, "answered": 0, "skipped": false, "list": [], "warnings": []})
    );
    assert_eq!(v["plan"]["revision"], serde_json::Value::Null);
    assert_eq!(v["plan"]["subtasks"], 0);
    assert_eq!(v["plan"]["by_status"]["in-review"], 0);
    assert_eq!(v["reviews"], 0);
    assert_eq!(v["documents"], 1);
    assert_eq!(v["next"], "git aiflow plan rate-limit");

    // Work on the integration branch is counted.
    repo.git(&["checkout", "-q", "aiflow/rate-limit"]);
    repo.git(&["commit", "-q", "--allow-empty", "-m", "work"]);
    let v = repo.aiflow(&["status", "--json"]).json();
    assert_eq!(v["integration_commits"], 1);
    assert_eq!(v["integration_tip"], repo.rev("HEAD").expect("head"));

    // The human form.
    let out = repo.aiflow(&["status"]).ok();
    assert!(
        out.starts_with("Flow rate-limit: Rate limiting for the public API\n  status     spec\n"),
        "{out}"
    );
    assert!(out.contains("1 commit after the anchor"), "{out}");
    assert!(
        out.contains("  spec       4 core features, 3 stack, 3 constraints, 4 edge cases\n"),
        "{out}"
    );
}

#[test]
fn list_shows_every_flow() {
    let repo = TestRepo::new();
    repo.aiflow(&["list"]).ok();
    repo.new_rate_limit();
    repo.aiflow(&[
        "new",
        "-m",
        "# Search as you type\n\nResults appear while typing.",
    ])
    .ok();
    assert!(
        repo.rev("aiflow/search-as-you-type").is_some(),
        "slug derived from the title"
    );
    let out = repo.aiflow(&["list"]).ok();
    assert_eq!(
        out,
        "rate-limit          spec           -  Rate limiting for the public API\n\
         search-as-you-type  spec           -  Search as you type\n"
    );
    let v = repo.aiflow(&["list", "--json"]).json();
    let flows = v["flows"].as_array().expect("flows");
    assert_eq!(flows.len(), 2);
    assert_eq!(flows[1]["slug"], "search-as-you-type");
    assert_eq!(
        flows[1]["anchor"],
        repo.rev("aiflow/search-as-you-type").expect("branch")
    );
    assert_eq!(flows[0]["subtasks"], 0);
    assert_eq!(v["problems"], serde_json::json!([]));
}

#[test]
fn the_flow_is_found_from_the_current_branch() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.aiflow(&["new", "second", "-m", "Second summary."])
        .ok();
    let err = repo.aiflow(&["status"]).fails(2);
    assert!(
        err.contains("error: the current branch `main` does not belong to a flow"),
        "{err}"
    );
    assert!(
        err.contains("hint: name the flow, for example `git aiflow status rate-limit`"),
        "{err}"
    );
    repo.git(&["checkout", "-q", "aiflow/rate-limit"]);
    assert!(
        repo.aiflow(&["status"])
            .ok()
            .starts_with("Flow rate-limit:")
    );
    assert!(
        repo.aiflow(&["spec", "show"])
            .ok()
            .starts_with("# Rate limiting for the public API\n")
    );
    // A subtask branch follows the `aiflow/<slug>--<id>-<title>` pattern.
    repo.git(&["checkout", "-q", "-b", "aiflow/rate-limit--k3f9-bucket"]);
    assert!(
        repo.aiflow(&["status"])
            .ok()
            .starts_with("Flow rate-limit:")
    );
}

#[test]
fn spec_show_and_edit_round_trip() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let shown = repo.aiflow(&["spec", "show", "rate-limit"]).ok();
    assert!(
        shown.starts_with("# Rate limiting for the public API\n\nEvery client"),
        "{shown}"
    );
    assert!(shown.contains("\n## Core features\n\n- A token bucket per API key, refilled continuously, with a default quota of 100 requests per minute and a burst of 20.\n"), "{shown}");

    // Saving it back unchanged writes nothing.
    let tip = repo.rev("refs/notes/aiflow");
    let file = repo.write("spec.md", &shown);
    let out = repo
        .aiflow(&[
            "spec",
            "edit",
            "rate-limit",
            "-F",
            file.to_str().expect("utf-8"),
        ])
        .ok();
    assert_eq!(out, "The spec of rate-limit is unchanged.\n");
    assert_eq!(repo.rev("refs/notes/aiflow"), tip);

    // A real change: one more notes commit, the new text reads back, the title too.
    let edited = shown.replace(
        "# Rate limiting for the public API",
        "# Rate limits for the API",
    ) + "\n## Edge cases\n\n- Keys revoked mid-request.\n";
    let file = repo.write("spec.md", &edited);
    let out = repo
        .aiflow(&[
            "spec",
            "edit",
            "rate-limit",
            "-F",
            file.to_str().expect("utf-8"),
        ])
        .ok();
    assert_eq!(out, "Updated the spec of rate-limit.\n");
    assert_eq!(
        repo.git(&["log", "--format=%s", "refs/notes/aiflow"]),
        "aiflow: edit spec of rate-limit\naiflow: new flow rate-limit\n"
    );
    let v = repo
        .aiflow(&["spec", "show", "rate-limit", "--json"])
        .json();
    assert_eq!(v["title"], "Rate limits for the API");
    let edge = v["spec"]["edge_cases"].as_array().expect("edge cases");
    assert_eq!(edge.last().expect("one"), "Keys revoked mid-request.");
    let status = repo.aiflow(&["status", "rate-limit", "--json"]).json();
    assert_ne!(status["updated_at"], status["created_at"]);
    // The anchor keeps the spec as first written.
    let log = repo.git(&["log", "-1", "--format=%s", "aiflow/rate-limit"]);
    assert_eq!(
        log,
        "aiflow: start rate-limit: Rate limiting for the public API\n"
    );
    repo.fsck();
}

#[test]
fn spec_edit_uses_the_editor_git_would_use() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    // The editor sees the current spec above a scissors line and appends a constraint.
    let append = repo
        .script(
            "append.sh",
            "grep -q '^## Constraints' \"$1\" || exit 3\n\
         grep -q '>8' \"$1\" || exit 4\n\
         sed -i 's/^## Constraints$/## Constraints\\n\\n- Added in the editor./' \"$1\"",
        )
        .display()
        .to_string();
    let marker = repo
        .script(
            "core-editor.sh",
            "echo core >> \"$(dirname \"$0\")/used\"; exit 1",
        )
        .display()
        .to_string();
    repo.git(&["config", "core.editor", &marker]);
    // GIT_EDITOR wins over core.editor.
    let out = repo
        .aiflow_env(&["spec", "edit", "rate-limit"], &[("GIT_EDITOR", &append)])
        .ok();
    assert_eq!(out, "Updated the spec of rate-limit.\n");
    let v = repo
        .aiflow(&["spec", "show", "--json", "rate-limit"])
        .json();
    assert_eq!(v["spec"]["constraints"][0], "Added in the editor.");
    assert!(!repo.sibling("used").exists());

    // Without GIT_EDITOR, core.editor is used; its failure changes nothing.
    let tip = repo.rev("refs/notes/aiflow");
    let mut cmd = repo.command(crate::harness::BIN);
    cmd.args(["spec", "edit", "rate-limit"])
        .env_remove("GIT_EDITOR");
    let out = cmd.output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("failed"), "{err}");
    assert!(repo.sibling("used").exists(), "core.editor ran");
    assert_eq!(repo.rev("refs/notes/aiflow"), tip);
}

#[test]
fn spec_edit_refuses_to_overwrite_a_concurrent_change() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    // While "the editor is open", another process changes the spec.
    let bin = crate::harness::BIN;
    let racer = repo.script("racer.sh",
        &format!(
            "{bin} spec edit rate-limit -m 'Changed by someone else meanwhile.' >/dev/null || exit 5\n\
             sed -i 's/^Every client/Each client/' \"$1\""
        ),
    ).display().to_string();
    let err = repo
        .aiflow_env(&["spec", "edit", "rate-limit"], &[("GIT_EDITOR", &racer)])
        .fails(1);
    assert!(
        err.contains("changed while you were editing it; nothing was written"),
        "{err}"
    );
    assert!(err.contains("SPEC_EDIT-rate-limit.md"), "{err}");
    let v = repo
        .aiflow(&["spec", "show", "--json", "rate-limit"])
        .json();
    assert_eq!(v["spec"]["summary"], "Changed by someone else meanwhile.");
}

#[test]
fn new_from_the_editor_template_and_from_stdin() {
    let repo = TestRepo::new();
    let write = repo.script("write.sh",
        "grep -q '^## Core features' \"$1\" || exit 3\n\
         grep -q '^## Edge cases' \"$1\" || exit 3\n\
         printf '# Export to CSV\\n\\nUsers download their data.\\n\\n## Core features\\n- Export button\\n' > \"$1\"",
    ).display().to_string();
    let out = repo.aiflow_env(&["new"], &[("GIT_EDITOR", &write)]).ok();
    assert!(
        out.starts_with("Created flow export-to-csv: Export to CSV\n"),
        "{out}"
    );
    assert!(repo.rev("aiflow/export-to-csv").is_some());
    // The editing file is gone after success, and no draft was kept.
    let drafts = repo.path.join(".git/aiflow");
    let left: Vec<_> = std::fs::read_dir(&drafts).expect("drafts dir").collect();
    assert!(left.is_empty(), "{left:?}");

    let spec = std::fs::read(fixture("specs/rate-limit.md")).expect("fixture");
    let out = repo.aiflow_stdin(&["new", "limits", "-F", "-"], &spec).ok();
    assert!(
        out.starts_with("Created flow limits: Rate limiting for the public API\n"),
        "{out}"
    );
    // --title and --base.
    repo.git(&["branch", "release", "main"]);
    repo.git(&["checkout", "-q", "-b", "topic"]);
    repo.git(&["commit", "-q", "--allow-empty", "-m", "topic work"]);
    repo.aiflow(&[
        "new",
        "hotfix",
        "-m",
        "Fix the crash.",
        "--title",
        "Crash fix",
        "--base",
        "release",
    ])
    .ok();
    let v = repo.aiflow(&["status", "hotfix", "--json"]).json();
    assert_eq!(v["title"], "Crash fix");
    assert_eq!(v["base_ref"], "refs/heads/release");
    assert_eq!(v["base_commit"], repo.rev("release").expect("release"));
    assert_eq!(repo.rev("aiflow/hotfix^"), repo.rev("release"));
    // The advice for a thin spec goes to stderr.
    let run = repo.aiflow(&["new", "thin", "-m", "Just a summary."]);
    assert!(
        run.stderr
            .contains("hint: the spec lists 0 core features; 3 to 5 work best"),
        "{}",
        run.stderr
    );
    repo.fsck();
}

#[test]
fn demo_walks_a_flow_offline() {
    let repo = TestRepo::new();
    let dir = repo.sibling("demo");
    let out = repo
        .aiflow(&["demo", "--dir", dir.to_str().expect("utf-8")])
        .ok();
    assert!(
        out.contains("$ git aiflow new rate-limit -F rate-limit.md   # shown: 2 of 4 lines\nCreated flow rate-limit"),
        "{out}"
    );
    // `git log` shows a short note under the anchor, not the document.
    assert!(
        out.contains(
            "aiflow flow rate-limit: Rate limiting for the public API\n  status spec\n  the rest: "
        ),
        "{out}"
    );
    // The demo teaches the loop in well under 200 lines, and says when it changes repository.
    let lines = out.lines().count();
    assert!(lines <= 180, "the demo printed {lines} lines:\n{out}");
    assert_eq!(
        out.matches("======== The teammate's clone: ").count(),
        2,
        "{out}"
    );
    assert_eq!(
        out.matches("======== Your repository: ").count(),
        2,
        "{out}"
    );
    assert!(
        out.contains("Flow rate-limit: Rate limiting for the public API"),
        "{out}"
    );
    // Planning: questions, answers, a plan in a fence with prose around it, a human edit.
    assert!(
        out.contains("asks 3 clarifying questions about rate-limit"),
        "{out}"
    );
    assert!(
        out.contains("Answered 3 of 3 questions of rate-limit."),
        "{out}"
    );
    assert!(
        out.contains("Plan revision 1 of rate-limit from command"),
        "{out}"
    );
    assert!(
        out.contains("Plan revision 2 of rate-limit: 1 removed."),
        "{out}"
    );
    assert!(
        out.contains("(removed)") && out.contains("Admin dashboard for quotas"),
        "{out}"
    );
    let plan = repo
        .command_in(crate::harness::BIN, &dir)
        .args(["plan", "show", "rate-limit", "--json"])
        .output()
        .expect("plan show");
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("json");
    // Revision 3 is the teammate's, made while the demo user started the next subtask; sync
    // merged both.
    assert_eq!(plan["revision"], 3);
    let titles: Vec<&str> = plan["subtasks"]
        .as_array()
        .expect("subtasks")
        .iter()
        .map(|s| s["title"].as_str().expect("title"))
        .collect();
    assert_eq!(titles.len(), 6, "{titles:?}");
    assert!(
        !titles.iter().any(|t| t.contains("dashboard")),
        "{titles:?}"
    );
    assert!(
        titles.iter().any(|t| t.starts_with("Load test")),
        "{titles:?}"
    );
    assert_eq!(plan["subtasks"][1]["status"], "active", "{plan:#}");
    assert!(
        out.contains("Flows: yours and origin's merged in "),
        "{out}"
    );
    let notes = |dir: &std::path::Path, args: &[&str]| {
        let o = repo
            .command_in("git", dir)
            .args(args)
            .output()
            .expect("git");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let teammate = repo.sibling("demo-teammate");
    let origin = repo.sibling("demo-origin.git");
    let tip = notes(&dir, &["rev-parse", "refs/notes/aiflow"]);
    assert_eq!(notes(&origin, &["rev-parse", "refs/notes/aiflow"]), tip);
    assert_eq!(
        notes(&dir, &["log", "-1", "--format=%P", "refs/notes/aiflow"])
            .split_whitespace()
            .count(),
        2,
        "the last notes commit merges both clones"
    );
    // The teammate syncs again and has what the demo user did.
    let again = repo
        .command_in(crate::harness::BIN, &teammate)
        .args(["sync", "--json"])
        .output()
        .expect("sync");
    assert!(again.status.success(), "{again:?}");
    assert_eq!(notes(&teammate, &["rev-parse", "refs/notes/aiflow"]), tip);
    // The test command runs after each of the agent's runs: the first step is red, the fix
    // (`exec --fix 1`, the failure in the agent's prompt) green.
    assert!(
        out.contains("$ git config aiflow.test 'sh test.sh'\n"),
        "{out}"
    );
    let red = out
        .find("test: `sh test.sh` failed (exit 1)")
        .unwrap_or_else(|| panic!("no red run: {out}"));
    let fixed = out
        .find(" s (fix attempt 1); recorded step 2 (")
        .unwrap_or_else(|| panic!("no fix attempt: {out}"));
    let green = out
        .find("test: `sh test.sh` passed")
        .unwrap_or_else(|| panic!("no green run: {out}"));
    assert!(red < fixed && fixed < green, "{out}");
    // review shows the runs and the deviations; the audit replays a recorded finding, which a
    // person accepts; the dashboard counts it judged.
    for line in [
        "step 1: Add a token bucket with continuous refill [test failed]",
        "Plan    changed outside the plan: limiter.py",
        ": 1 finding\n",
        "medium   open      limiter.py:11  take(n) accepts a negative or zero n",
        "accepted (was open)",
        "audits     1, 1 finding, 0 open",
        // The demo ends with its own numbers.
        "$ git aiflow stats rate-limit   # shown: ",
        "  tests      2 steps tested, 1 red then green, 1 fix attempt\n",
        "  questions  3 asked, 3 answered\n",
    ] {
        assert!(out.contains(line), "no {line:?} in:\n{out}");
    }
    assert!(
        out.contains("demo agent: the test fails; capping the refill at burst (step 2)"),
        "{out}"
    );
    assert!(
        out.contains("  | FAIL: TokenBucket.take refills without a cap"),
        "{out}"
    );
    // Each run is in its step's note, bound to the step's tree: the notes followed the steps
    // through the approval's rewrite.
    let run_of = |rev: &str| -> toml::Table {
        let text = notes(&dir, &["notes", "--ref=aiflow", "show", rev]);
        let note: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        note.get("test")
            .and_then(|t| t.as_table())
            .cloned()
            .unwrap_or_else(|| panic!("no [test] in the note on {rev}:\n{text}"))
    };
    for (rev, step, exit) in [
        ("aiflow/rate-limit^2~1", 1, 1),
        ("aiflow/rate-limit^2", 2, 0),
    ] {
        let run = run_of(rev);
        assert_eq!(
            run["command"].as_str(),
            Some("sh test.sh"),
            "{rev}: {run:?}"
        );
        assert_eq!(run["exit"].as_integer(), Some(exit), "{rev}: {run:?}");
        assert_eq!(
            run["tree"].as_str(),
            Some(notes(&dir, &["rev-parse", &format!("{rev}^{{tree}}")]).trim()),
            "{rev}"
        );
        let text = notes(&dir, &["notes", "--ref=aiflow", "show", rev]);
        assert!(
            text.contains(&format!("\nstep = {step}\n")),
            "{rev}: {text}"
        );
    }
    assert!(
        run_of("aiflow/rate-limit^2~1")["output"]
            .as_str()
            .is_some_and(|o| o.contains("FAIL: TokenBucket.take refills without a cap")),
        "the red run keeps its output"
    );
    // The gate refuses the unreviewed work (check, integrate, a plain git merge through the
    // hooks), then accepts it once approved.
    assert_eq!(
        out.matches("# refused, as it should be (exit 1)").count(),
        3,
        "{out}"
    );
    assert!(
        out.contains(": 2 without a valid review\n")
            && out.contains("2 commits without a valid review"),
        "{out}"
    );
    assert!(out.contains("): ok\n"), "{out}");
    let log = repo
        .command_in("git", &dir)
        .args([
            "log",
            "--topo-order",
            "--format=%s|%(trailers:key=Reviewed-by,valueonly)",
            "aiflow/rate-limit",
        ])
        .output()
        .expect("git log");
    let log = String::from_utf8_lossy(&log.stdout);
    let first = plan["subtasks"][0]["id"].as_str().expect("id");
    assert_eq!(
        log,
        format!(
            "Merge subtask {first}: {}|\n\
             Cap the refill at the burst|Demo User <demo@example.com>\n\n\
             Add a token bucket with continuous refill|Demo User <demo@example.com>\n\n\
             aiflow: start rate-limit: Rate limiting for the public API|\n\
             Initial commit|\n",
            plan["subtasks"][0]["title"].as_str().expect("title")
        )
    );
    // The agent authored the steps; the demo user, who reviewed them, committed the approval.
    let who = repo
        .command_in("git", &dir)
        .args(["log", "-2", "--format=%an|%cn", "aiflow/rate-limit^2"])
        .output()
        .expect("git log");
    assert_eq!(
        String::from_utf8_lossy(&who.stdout),
        "Demo Agent|Demo User\nDemo Agent|Demo User\n"
    );
    // A non-empty directory is refused.
    let err = repo
        .aiflow(&["demo", "--dir", dir.to_str().expect("utf-8")])
        .fails(2);
    assert!(err.contains("exists and is not empty"), "{err}");
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    for args in [
        &["status", "rate-limit"][..],
        &["spec", "show", "rate-limit"],
        &["man"],
    ] {
        let mut child = repo
            .command(crate::harness::BIN)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        // Close the read end before the program writes, as `| head -0` would.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: {err}");
    }
}
