//! The test loop: the test command after every step (`step`, `exec`), on demand (`test`), the
//! fix loop (`exec --fix N`), and the `[test]` table each run leaves in its step's note, read
//! back with plain git.

use crate::harness::{AS_GRACE, TestRepo, assert_has, assert_lacks, fixture};
use serde_json::Value;

/// A repository with a two-subtask flow, the scripted agent configured, and `a1` started.
/// `check.sh` in the repository passes when `work/a1.txt` has at least `$NEED` lines (default
/// 2), and prints what it saw either way.
fn started() -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        "check.sh",
        "n=$(cat work/a1.txt 2>/dev/null | wc -l)\n\
         echo \"check: work/a1.txt has $n lines, needs ${NEED:-2}\"\n\
         test \"$n\" -ge \"${NEED:-2}\"\n",
    );
    repo.git(&["add", "check.sh"]);
    repo.git(&["commit", "-q", "-m", "Add the check"]);
    repo.new_rate_limit();
    repo.plan_subtasks(&[("a1", "Limiter"), ("b2", "Wiring")]);
    repo.git(&[
        "config",
        "aiflow.agent",
        fixture("agents/scripted-agent.sh").to_str().expect("utf-8"),
    ]);
    repo.aiflow(&["start", "a1"]).ok();
    repo.git(&["config", "aiflow.test", "sh check.sh"]);
    repo
}

/// The step note on `rev`, as git shows it, parsed.
fn note(repo: &TestRepo, rev: &str) -> toml::Table {
    let text = repo.git(&["notes", "--ref=aiflow", "show", rev]);
    toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The `[test]` table of the note on `rev`.
fn test_table(repo: &TestRepo, rev: &str) -> toml::Table {
    note(repo, rev)
        .get("test")
        .and_then(|t| t.as_table())
        .cloned()
        .unwrap_or_else(|| panic!("no [test] in the note on {rev}"))
}

fn add_line(repo: &TestRepo, line: &str) {
    let path = repo.path.join("work/a1.txt");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    text.push_str(line);
    text.push('\n');
    std::fs::write(&path, text).expect("write");
}

#[test]
fn a_hand_step_runs_the_test_and_keeps_the_step_red_or_green() {
    let repo = started();
    add_line(&repo, "one");
    let red = repo.aiflow(&["step", "-m", "First line"]);
    let stderr = red.clone().fails(1);
    assert_has(
        &stderr,
        "the test failed (exit 1) on a1; step 1 is recorded",
    );
    assert_has(&red.stdout, "test: `sh check.sh` failed (exit 1)");
    assert_has(&red.stdout, "| check: work/a1.txt has 1 lines, needs 2");
    // The step is there, whole, and its note carries the run, bound to the step's tree.
    assert_eq!(repo.git(&["log", "-1", "--format=%s"]).trim(), "First line");
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    let t = test_table(&repo, "HEAD");
    assert_eq!(t["command"].as_str(), Some("sh check.sh"));
    assert_eq!(t["exit"].as_integer(), Some(1));
    assert_eq!(t["timed_out"].as_bool(), Some(false));
    assert_eq!(
        t["tree"].as_str(),
        Some(repo.git(&["rev-parse", "HEAD^{tree}"]).trim())
    );
    assert_has(
        t["output"].as_str().expect("output"),
        "check: work/a1.txt has 1 lines, needs 2",
    );
    assert!(t["duration_ms"].as_integer().is_some());
    assert_eq!(t["by"].as_str(), Some("Ada Lovelace <ada@example.com>"));
    assert_eq!(note(&repo, "HEAD")["step"].as_integer(), Some(1));

    add_line(&repo, "two");
    let green = repo.aiflow(&["step", "-m", "Second line", "--json"]).json();
    assert_eq!(green["step"], 2);
    assert_eq!(green["test"]["passed"], true);
    assert_eq!(green["test"]["exit"], 0);
    assert_eq!(green["test"]["origin"], "aiflow.test");
    assert_eq!(test_table(&repo, "HEAD")["exit"].as_integer(), Some(0));
    // The earlier step keeps its own red run.
    assert_eq!(test_table(&repo, "HEAD~1")["exit"].as_integer(), Some(1));

    add_line(&repo, "three");
    let skipped = repo
        .aiflow(&["step", "-m", "Third", "--no-test", "--json"])
        .json();
    assert_eq!(skipped["test"], Value::Null);
    assert!(note(&repo, "HEAD").get("test").is_none());

    // `review` shows the history: red, green, none.
    let states = |repo: &TestRepo| -> Vec<String> {
        let v = repo.aiflow(&["review", "a1", "--json"]).json();
        v["commits"]
            .as_array()
            .expect("commits")
            .iter()
            .map(|c| c["test"].as_str().expect("test").to_owned())
            .collect()
    };
    assert_eq!(states(&repo), ["untested", "passed", "failed"]);
    let text = repo.aiflow(&["review", "a1"]).ok();
    assert_has(&text, "step 1: First line [test failed]");
    assert_has(&text, "step 2: Second line [test passed]");
    assert_has(&text, "step 3: Third [test untested]");
    // A run is bound to its tree: the note follows an amended commit (notes.rewriteRef), the
    // run does not apply to the new tree.
    add_line(&repo, "four");
    repo.aiflow(&["step", "-m", "Fourth"]).ok();
    add_line(&repo, "five");
    repo.git(&["commit", "-q", "-a", "--amend", "--no-edit"]);
    assert_eq!(states(&repo)[0], "stale");
    repo.fsck();
}

#[test]
fn test_runs_on_demand_on_the_tip_and_refuses_a_dirty_tree() {
    let repo = started();
    add_line(&repo, "one");
    repo.aiflow(&["step", "-m", "One", "--no-test"]).ok();
    let tip = repo.git(&["rev-parse", "HEAD"]);
    let run = repo.aiflow(&["test", "--json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(v["recorded"], true);
    assert_eq!(v["step"], 1);
    assert_eq!(v["commit"].as_str(), Some(tip.trim()));
    assert_eq!(v["test"]["passed"], false);
    // Run again with a command given: it replaces the run in the note, and passes.
    let ok = repo
        .aiflow(&["test", "a1", "--command", "NEED=1 sh check.sh"])
        .ok();
    assert_has(&ok, "test: `NEED=1 sh check.sh` passed");
    assert_has(&ok, "recorded in the note of step 1");
    let t = test_table(&repo, "HEAD");
    assert_eq!(t["command"].as_str(), Some("NEED=1 sh check.sh"));
    assert_eq!(t["exit"].as_integer(), Some(0));
    // The test ran on the commit: nothing moved.
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), tip);

    // Uncommitted changes: a run would be bound to no commit.
    add_line(&repo, "two");
    let notes_before = repo.git(&["rev-parse", "refs/notes/aiflow"]);
    let dirty = repo.aiflow(&["test"]).fails(1);
    assert_has(&dirty, "has changes that are not committed");
    assert_has(&dirty, "git aiflow step");
    assert_eq!(repo.git(&["rev-parse", "refs/notes/aiflow"]), notes_before);

    // With no command anywhere, it says how to set one (2).
    repo.git(&["config", "--unset", "aiflow.test"]);
    repo.git(&["stash", "-q"]);
    let none = repo.aiflow(&["test"]).fails(2);
    assert_has(&none, "no test command is configured");
    assert_has(&none, "aiflow.test");
}

#[test]
fn a_hung_test_is_killed_at_its_timeout_with_everything_it_started_and_the_step_kept() {
    let repo = started();
    let pid_file = repo.sibling("sleep.pid");
    repo.git(&[
        "config",
        "aiflow.test",
        &format!(
            "echo starting; sleep 300 & echo $! > '{}'; wait",
            pid_file.display()
        ),
    ]);
    repo.git(&["config", "aiflow.testTimeout", "1"]);
    add_line(&repo, "one");
    let started = std::time::Instant::now();
    let r = repo.aiflow(&["step", "-m", "One"]);
    let stderr = r.clone().fails(1);
    assert!(started.elapsed().as_secs() < 60, "the run was not stopped");
    assert_has(&stderr, "the test timed out on a1; step 1 is recorded");
    assert_has(&r.stdout, "stopped at its time limit of 1 s");
    assert_eq!(repo.git(&["log", "-1", "--format=%s"]).trim(), "One");
    let t = test_table(&repo, "HEAD");
    assert_eq!(t["timed_out"].as_bool(), Some(true));
    assert!(t.get("exit").is_none(), "{t:?}");
    assert_has(t["output"].as_str().expect("output"), "starting");
    // The sleep the test started in the background is gone too.
    let pid = std::fs::read_to_string(&pid_file).expect("pid file");
    let proc = std::path::Path::new("/proc").join(pid.trim());
    let gone = (0..50).any(|_| {
        let state = std::fs::read_to_string(proc.join("stat")).unwrap_or_default();
        // Gone, or a zombie waiting for its reaper.
        let done = state.is_empty() || state.split(' ').nth(2) == Some("Z");
        if !done {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        done
    });
    assert!(gone, "the test's sleep {} still runs", pid.trim());
}

#[test]
fn exec_fix_repairs_a_red_step_with_the_failure_in_the_prompt() {
    let repo = started();
    let r = repo.aiflow(&["exec", "a1", "--fix", "2", "--json"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(v["attempts"], 2, "{v:#}");
    let tests = v["tests"].as_array().expect("tests");
    assert_eq!(tests.len(), 2);
    assert_eq!(tests[0]["passed"], false);
    assert_eq!(tests[0]["step"], 1);
    assert_eq!(tests[1]["passed"], true);
    assert_eq!(tests[1]["step"], 2);
    assert_eq!(v["test"], tests[1]);
    // Each attempt is its own step, each with its own run in its note.
    assert_eq!(test_table(&repo, "HEAD~1")["exit"].as_integer(), Some(1));
    assert_eq!(test_table(&repo, "HEAD")["exit"].as_integer(), Some(0));
    assert_eq!(note(&repo, "HEAD")["by"].as_str(), Some("agent"));
    // The second run's prompt carried the failure.
    let common = repo.git(&["rev-parse", "--git-common-dir"]);
    let prompt = std::fs::read_to_string(
        repo.path
            .join(common.trim())
            .join("aiflow/PROMPT-rate-limit-a1-execute.md"),
    )
    .expect("prompt");
    assert_has(&prompt, "## The test fails: make it pass");
    assert_has(&prompt, "`sh check.sh` exited with status 1");
    assert_has(&prompt, "check: work/a1.txt has 1 lines, needs 2");
    repo.fsck();
}

#[test]
fn a_silent_failure_and_a_killed_test_still_reach_the_agent() {
    let repo = started();
    // Prints nothing, fails; then killed by a signal: both are failures the prompt describes.
    repo.git(&["config", "aiflow.test", "exit 3"]);
    let r = repo.aiflow(&["exec", "a1", "--fix", "1", "--json"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(v["attempts"], 2, "{v:#}");
    let prompt = repo.aiflow(&["exec", "a1", "--print-prompt"]).ok();
    assert_has(&prompt, "`exit 3` exited with status 3 on the last step");
    assert_has(&prompt, "It printed nothing.");
    repo.git(&["config", "aiflow.test", "kill -9 $$"]);
    repo.aiflow(&["test"]).fails(1);
    let prompt = repo.aiflow(&["exec", "a1", "--print-prompt"]).ok();
    assert_has(
        &prompt,
        "`kill -9 $$` was killed by a signal on the last step",
    );
}

#[test]
fn exec_without_fix_attempts_is_red_and_fixing_stops_when_the_agent_changes_nothing() {
    let repo = started();
    // No fix attempts: one run, red, exit 1, the step kept.
    let r = repo.aiflow(&["exec", "a1"]);
    let stderr = r.clone().fails(1);
    assert_has(
        &stderr,
        "the test failed (exit 1) on a1; step 1 is recorded",
    );
    assert_lacks(&r.stdout, "next: `git aiflow review");
    assert_eq!(
        repo.git(&["rev-list", "--count", "aiflow/rate-limit..HEAD"])
            .trim(),
        "1"
    );
    // The tip is red: running the agent again hands it the failure, as --fix would.
    let prompt = repo.aiflow(&["exec", "a1", "--print-prompt"]).ok();
    assert_has(&prompt, "## The test fails: make it pass");
    assert_has(&prompt, "check: work/a1.txt has 1 lines, needs 2");

    // An agent that does nothing on its second run: fixing stops there, with exit 1 and the
    // first step kept.
    let lazy = repo.script(
        "lazy-agent.sh",
        &format!(
            "if [ \"$AIFLOW_STEP\" = 2 ]; then AGENT_MODE=edit; else AGENT_MODE=nothing; fi\nexport AGENT_MODE\nexec sh '{}'\n",
            fixture("agents/scripted-agent.sh").display()
        ),
    );
    repo.git(&["config", "aiflow.test", "NEED=5 sh check.sh"]);
    let r = repo.aiflow(&[
        "exec",
        "a1",
        "--agent",
        &format!("sh '{}'", lazy.display()),
        "--fix",
        "3",
        "--json",
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(v["attempts"], 1, "{v:#}");
    assert_has(v["stopped"].as_str().expect("stopped"), "changed nothing");
    assert_has(&r.stderr, "changed nothing");
    assert_eq!(
        repo.git(&["rev-list", "--count", "aiflow/rate-limit..HEAD"])
            .trim(),
        "2"
    );
}

#[test]
fn the_policy_file_names_the_test_command_and_git_config_wins() {
    let repo = TestRepo::new();
    repo.write(
        ".aiflow.toml",
        "schema = 1\n\n[test]\ncommand = \"echo from the policy\"\ntimeout = 30\n",
    );
    repo.git(&["add", ".aiflow.toml"]);
    repo.git(&["commit", "-q", "-m", "Policy with a test command"]);
    repo.new_rate_limit();
    repo.plan_subtasks(&[("a1", "Limiter")]);
    repo.aiflow(&["start", "a1"]).ok();
    repo.write("a.txt", "a\n");
    let v = repo.aiflow(&["step", "-m", "A", "--json"]).json();
    assert_eq!(v["test"]["command"], "echo from the policy");
    assert_has(
        v["test"]["origin"].as_str().expect("origin"),
        "[test] command of .aiflow.toml in ",
    );
    assert_eq!(v["test"]["output"], "from the policy\n");
    repo.git(&["config", "aiflow.test", "echo from config"]);
    repo.write("b.txt", "b\n");
    let v = repo.aiflow(&["step", "-m", "B", "--json"]).json();
    assert_eq!(v["test"]["command"], "echo from config");
    // A bad timeout in config is an input error that names the key.
    repo.git(&["config", "aiflow.testTimeout", "soon"]);
    assert_has(&repo.aiflow(&["test"]).fails(2), "aiflow.testTimeout");
    // step and exec read it before anything is written.
    let head = repo.git(&["rev-parse", "HEAD"]);
    let notes = repo.git(&["rev-parse", "refs/notes/aiflow"]);
    repo.write("c.txt", "c\n");
    assert_has(
        &repo.aiflow(&["step", "-m", "C"]).fails(2),
        "aiflow.testTimeout",
    );
    repo.git(&["stash", "-q", "-u"]);
    repo.git(&["config", "aiflow.agent", "touch agent-was-here"]);
    assert_has(&repo.aiflow(&["exec", "a1"]).fails(2), "aiflow.testTimeout");
    assert!(!repo.path.join("agent-was-here").exists());
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), head);
    assert_eq!(repo.git(&["rev-parse", "refs/notes/aiflow"]), notes);
}

#[test]
fn secrets_in_the_test_output_never_reach_the_note() {
    let repo = started();
    repo.git(&[
        "config",
        "aiflow.test",
        "echo \"key is $OPENAI_API_KEY\"; exit 1",
    ]);
    add_line(&repo, "one");
    let r = repo.aiflow_env(
        &["step", "-m", "One"],
        &[("OPENAI_API_KEY", "sk-test-1234567890abcdef")],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_lacks(&r.stdout, "sk-test-1234567890abcdef");
    let raw = repo.git(&["notes", "--ref=aiflow", "show", "HEAD"]);
    assert_lacks(&raw, "sk-test-1234567890abcdef");
    assert_has(&raw, "key is ");
}

/// A repository whose policy requires tests, with `check.sh` and a two-subtask flow planned.
fn tests_required() -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        ".aiflow.toml",
        "schema = 1\n\n[gate]\ntests = \"required\"\n\n[test]\ncommand = \"sh check.sh\"\n",
    );
    repo.write(
        "check.sh",
        "if [ -e broken ]; then echo 'check: broken'; exit 1; fi\necho 'check: fine'\n",
    );
    repo.git(&["add", ".aiflow.toml", "check.sh"]);
    repo.git(&["commit", "-q", "-m", "Require tests"]);
    repo.new_rate_limit();
    repo.plan_subtasks(&[("a1", "Limiter"), ("b2", "Wiring")]);
    repo
}

#[test]
fn under_tests_required_integrate_and_finish_refuse_until_the_exact_tree_is_green() {
    let repo = tests_required();
    repo.aiflow(&["start", "a1"]).ok();
    repo.write("broken", "x\n");
    repo.write("limiter.rs", "fn limit() {}\n");
    // A red step: recorded, exit 1.
    repo.aiflow(&["step", "-m", "Limiter, broken"]).fails(1);
    // The reviewer is told, not stopped.
    let approved = repo.aiflow_env(&["approve", "a1", "--json"], AS_GRACE);
    assert_eq!(approved.code, 0, "{}{}", approved.stdout, approved.stderr);
    assert_has(&approved.stderr, "that failed (exit 1)");
    assert_has(&approved.stderr, "`integrate` will refuse it");
    // Red: integrate refuses, nothing moves.
    let refs = repo.refs();
    let red = repo.aiflow(&["integrate", "a1"]).fails(1);
    assert_has(&red, "subtask a1 has a test run on its tip");
    assert_has(&red, "that failed (exit 1)");
    assert_has(&red, "says tests = \"required\"");
    assert_has(&red, "git aiflow test a1");
    assert_eq!(repo.refs(), refs);

    // Fixed, green, approved again: integrate goes through.
    repo.git(&["rm", "-q", "broken"]);
    repo.aiflow(&["step", "-m", "Fix"]).ok();
    // A content change after the green run invalidates it (the new step is untested).
    repo.write("limiter.rs", "fn limit() { /* more */ }\n");
    repo.aiflow(&["step", "-m", "More", "--no-test"]).ok();
    repo.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
    let untested = repo.aiflow(&["integrate", "a1"]).fails(1);
    assert_has(&untested, "subtask a1 has no test run recorded on its tip");
    repo.aiflow(&["test", "a1"]).ok();
    repo.aiflow(&["integrate", "a1"]).ok();

    // b2 merged by hand, untested, past the hooks: check names it with its own code.
    repo.aiflow(&["start", "b2"]).ok();
    repo.write("wire.rs", "fn wire() {}\n");
    repo.aiflow(&["step", "-m", "Wire", "--no-test"]).ok();
    repo.aiflow_env(&["approve", "b2"], AS_GRACE).ok();
    let b2 = repo.git(&["rev-parse", "HEAD"]);
    repo.git(&["switch", "-q", "aiflow/rate-limit"]);
    // A fast-forward brings b2 with no merge to judge: its tip itself needs the run.
    let before_ff = repo.git(&["rev-parse", "HEAD"]);
    repo.git(&[
        "-c",
        "core.hooksPath=/dev/null",
        "merge",
        "-q",
        "--ff-only",
        "aiflow/rate-limit--b2-wiring",
    ]);
    let ff = repo.aiflow(&["check", "--json", &format!("{}..HEAD", before_ff.trim())]);
    assert_eq!(ff.code, 1, "{}{}", ff.stdout, ff.stderr);
    let v: Value = serde_json::from_str(&ff.stdout).expect("json");
    let reasons: Vec<&str> = v["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| f["reason"].as_str().expect("reason"))
        .collect();
    assert_eq!(reasons, ["untested"], "{v:#}");
    assert_eq!(v["failures"][0]["commit"].as_str(), Some(b2.trim()));
    repo.git(&[
        "-c",
        "core.hooksPath=/dev/null",
        "reset",
        "-q",
        "--hard",
        before_ff.trim(),
    ]);
    repo.git(&[
        "-c",
        "core.hooksPath=/dev/null",
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge b2 by hand",
        "aiflow/rate-limit--b2-wiring",
    ]);
    let check = repo.aiflow(&["check", "--json", "HEAD~1..HEAD"]);
    assert_eq!(check.code, 1, "{}{}", check.stdout, check.stderr);
    let v: Value = serde_json::from_str(&check.stdout).expect("json");
    let failures = v["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 1, "{v:#}");
    assert_eq!(failures[0]["reason"], "untested", "{v:#}");
    assert_eq!(
        failures[0]["commit"].as_str(),
        Some(repo.git(&["rev-parse", "HEAD"]).trim())
    );
    // Tested on b2's exact tree, the hand merge passes.
    repo.git(&["switch", "-q", "aiflow/rate-limit--b2-wiring"]);
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), b2);
    repo.aiflow(&["test", "b2"]).ok();
    repo.aiflow(&["check", "HEAD~0..aiflow/rate-limit"]).ok();
    repo.aiflow(&["integrate", "b2"]).ok();

    // finish: the integration branch's tree must be green too.
    repo.git(&["switch", "-q", "main"]);
    let refs = repo.refs();
    let finish = repo.aiflow(&["finish", "rate-limit"]).fails(1);
    assert_has(
        &finish,
        "the integration branch aiflow/rate-limit has no test run",
    );
    assert_has(&finish, "git aiflow test --integration --flow rate-limit");
    assert_eq!(repo.refs(), refs);
    let tested = repo.sibling("tested");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        tested.to_str().expect("utf-8"),
        "aiflow/rate-limit",
    ]);
    let mut t = repo.command_in(crate::harness::BIN, &tested);
    let run = crate::harness::Run::of(t.args(["test", "--integration", "--json"]));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let tip = repo.git(&["rev-parse", "aiflow/rate-limit"]);
    let text = repo.git(&["notes", "--ref=aiflow", "show", tip.trim()]);
    assert_has(&text, "kind = \"test\"");
    assert_has(&text, "exit = 0");
    repo.aiflow(&["finish", "rate-limit"]).ok();
    // The trunk's own check agrees: every merge brought green trees.
    repo.aiflow(&["check", "main~1..main"]).ok();
    repo.fsck();
}

#[test]
fn deviations_from_the_plan_are_shown_and_recorded_with_the_approval() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.plan_subtasks(&[("a1", "Limiter")]);
    let plan = repo.outside(
        "plan-files.toml",
        b"[[subtask]]\nid = \"a1\"\ntitle = \"Limiter\"\nphase = \"core\"\nfiles = [\"src/limiter.rs\", \"docs/\", \"README.md\"]\n",
    );
    edit_plan(&repo, &plan).ok();
    repo.aiflow(&["start", "a1"]).ok();
    repo.write("src/limiter.rs", "fn limit() {}\n");
    repo.write("docs/limits.md", "# Limits\n");
    repo.write("Cargo.toml", "[package]\n");
    repo.aiflow(&["step", "-m", "Limiter"]).ok();

    // review, text and JSON.
    let text = repo.aiflow(&["review", "a1"]).ok();
    assert_has(&text, "Plan    changed outside the plan: Cargo.toml\n");
    assert_has(&text, "Plan    planned but untouched: README.md\n");
    let v = repo.aiflow(&["review", "a1", "--json"]).json();
    assert_eq!(
        v["deviations"]["outside_plan"],
        serde_json::json!(["Cargo.toml"])
    );
    assert_eq!(
        v["deviations"]["untouched"],
        serde_json::json!(["README.md"])
    );
    // status, while the work is under way.
    let status = repo.aiflow(&["status", "rate-limit", "--json"]).json();
    assert_eq!(
        status["subtasks"][0]["deviations"]["outside_plan"],
        serde_json::json!(["Cargo.toml"])
    );
    assert_has(
        &repo.aiflow(&["status", "rate-limit"]).ok(),
        "changed outside the plan: Cargo.toml",
    );

    // approve records them with the review, where git shows them.
    let approved = repo.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
    assert_has(&approved, "recorded with the approval, as accepted:");
    assert_has(&approved, "changed outside the plan: Cargo.toml");
    let flow_note = repo.git(&["notes", "--ref=aiflow", "show", "aiflow/rate-limit"]);
    let doc: toml::Table = toml::from_str(&flow_note).expect("toml");
    let review = doc["reviews"]
        .as_array()
        .expect("reviews")
        .last()
        .expect("one")
        .clone();
    assert_eq!(
        review["deviations"]["outside_plan"]
            .as_array()
            .expect("outside")
            .len(),
        1
    );
    assert_eq!(
        review["deviations"]["untouched"][0].as_str(),
        Some("README.md")
    );
    // The plan's history shows them after the revisions (which never change), naming the
    // revision they left.
    let log = repo.aiflow(&["plan", "log", "rate-limit"]).ok();
    assert_has(
        &log,
        "\ndeviations from the plan accepted in review\n    a1 left revision 3, accepted by Grace Hopper <grace@example.com> at ",
    );
    assert_has(
        &log,
        ": changed outside it: Cargo.toml; untouched: README.md\n",
    );
    let log = repo.aiflow(&["plan", "log", "rate-limit", "--json"]).json();
    assert_eq!(log["deviations"][0]["subtask"], "a1");
    assert_eq!(log["deviations"][0]["revision"], 3);
    assert_eq!(log["deviations"].as_array().map(Vec::len), Some(1));
    assert!(log["revisions"][0].get("deviations").is_none(), "{log:#}");
    // Once approved, status shows what was recorded.
    let status = repo.aiflow(&["status", "rate-limit", "--json"]).json();
    assert_eq!(
        status["subtasks"][0]["deviations"]["untouched"],
        serde_json::json!(["README.md"])
    );
    repo.fsck();
}

/// The rate-limit flow planned by a model (the `command` provider, as
/// `TestRepo::plan_subtasks` does) with one subtask, `Limiter`, whose `test` the model proposed:
/// a command that appends `ran` to a file next to the repository. Returns the repository, the
/// subtask's id, that file, and the command.
fn model_proposes_a_test() -> (TestRepo, String, std::path::PathBuf, String) {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let marker = repo.sibling("model-test-ran");
    let proposed = format!("echo ran >> '{}'", marker.display());
    let plan = serde_json::json!({"subtasks": [{
        "id": "1", "title": "Limiter", "description": "", "files": [], "phase": "core",
        "depends_on": [], "test": proposed,
    }]});
    let answer = repo.outside("model-plan.json", plan.to_string().as_bytes());
    repo.git(&["config", "aiflow.provider", "command"]);
    repo.git(&[
        "config",
        "aiflow.command",
        &format!(
            r#"if [ "$AIFLOW_TEMPLATE" = questions ]; then echo '{{"questions": []}}'; else cat '{}'; fi"#,
            answer.display()
        ),
    ]);
    repo.aiflow(&["plan", "rate-limit"]).ok();
    repo.aiflow(&["plan", "rate-limit"]).ok();
    repo.git(&["config", "--unset", "aiflow.provider"]);
    repo.git(&["config", "--unset", "aiflow.command"]);
    let v = repo
        .aiflow(&["plan", "show", "rate-limit", "--json"])
        .json();
    let id = v["subtasks"][0]["id"].as_str().expect("id").to_owned();
    (repo, id, marker, proposed)
}

/// The flow note, as git shows it: the current plan revision's source, and its subtasks' `test`.
fn current_plan(repo: &TestRepo) -> (String, Vec<Option<String>>) {
    let text = repo.git(&["notes", "--ref=aiflow", "show", "aiflow/rate-limit"]);
    let doc: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let plan = doc["plans"]
        .as_array()
        .expect("plans")
        .last()
        .expect("a plan")
        .clone();
    let tests = plan["subtasks"]
        .as_array()
        .expect("subtasks")
        .iter()
        .map(|s| {
            s.get("test")
                .map(|t| t.as_str().expect("a string").to_owned())
        })
        .collect();
    (plan["source"].as_str().expect("source").to_owned(), tests)
}

fn unaccepted_warning(id: &str, proposed: &str) -> String {
    format!(
        "warning: subtask {id}'s test command `{proposed}` was proposed by the model and runs once a person accepts it (`git aiflow plan edit`)"
    )
}

#[test]
fn a_test_the_model_proposed_is_shown_but_never_run_before_a_person_accepts_it() {
    let (repo, id, marker, proposed) = model_proposes_a_test();
    assert_eq!(
        current_plan(&repo),
        ("model".into(), vec![Some(proposed.clone())])
    );
    let shown = repo.aiflow(&["plan", "show", "rate-limit"]).ok();
    assert_has(
        &shown,
        &format!("      test: `{proposed}` (proposed by the model: runs once a person accepts it"),
    );
    let v = repo
        .aiflow(&["plan", "show", "rate-limit", "--json"])
        .json();
    assert_eq!(v["subtasks"][0]["test"], proposed.as_str());
    assert_eq!(v["subtasks"][0]["test_accepted"], false);

    // A step runs the configured command instead, and says why, once.
    repo.aiflow(&["start", &id]).ok();
    repo.git(&["config", "aiflow.test", "echo configured"]);
    repo.write("a.txt", "a\n");
    let r = repo.aiflow(&["step", "-m", "A", "--json"]);
    let warning = unaccepted_warning(&id, &proposed);
    assert_eq!(r.stderr.matches(&warning).count(), 1, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["test"]["command"], "echo configured");
    assert_eq!(v["test"]["origin"], "aiflow.test");
    assert!(!marker.exists(), "the model's command ran");
    assert_eq!(
        test_table(&repo, "HEAD")["command"].as_str(),
        Some("echo configured")
    );

    // With no command configured, the step is untested: the model's command does not stand in.
    repo.git(&["config", "--unset", "aiflow.test"]);
    repo.write("b.txt", "b\n");
    let r = repo.aiflow(&["step", "-m", "B"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_has(&r.stderr, &warning);
    assert_lacks(&r.stdout, "test:");
    assert!(note(&repo, "HEAD").get("test").is_none());
    let none = repo.aiflow(&["test"]).fails(2);
    assert_has(&none, "no test command is configured");
    assert_has(
        &none,
        "was proposed by the model and runs once a person accepts it",
    );
    assert!(!marker.exists(), "the model's command ran");

    // exec: every attempt runs the configured command; the user is told once.
    repo.git(&[
        "config",
        "aiflow.agent",
        fixture("agents/scripted-agent.sh").to_str().expect("utf-8"),
    ]);
    repo.git(&["config", "aiflow.test", "echo configured; exit 1"]);
    let r = repo.aiflow(&["exec", &id, "--fix", "1", "--json"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stderr.matches(&warning).count(), 1, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(v["attempts"], 2, "{v:#}");
    for t in v["tests"].as_array().expect("tests") {
        assert_eq!(t["command"], "echo configured; exit 1");
        assert_eq!(t["origin"], "aiflow.test");
    }
    assert_eq!(
        test_table(&repo, "HEAD")["command"].as_str(),
        Some("echo configured; exit 1")
    );
    assert!(!marker.exists(), "the model's command ran");
    assert_eq!(current_plan(&repo).0, "model");
}

#[test]
fn a_test_a_person_kept_in_a_plan_edit_runs_after_each_step() {
    let (repo, id, marker, proposed) = model_proposes_a_test();
    // The plan as `plan edit` opens it, applied as it is: a hand revision that keeps the test.
    let text = repo.aiflow(&["plan", "show", "rate-limit", "--toml"]).ok();
    assert_has(&text, "#   test ");
    assert_has(&text, "\ntest = ");
    let file = repo.outside("accept.toml", text.as_bytes());
    let file = file.to_str().expect("utf-8");
    let edited = repo
        .aiflow(&["plan", "edit", "rate-limit", "-F", file])
        .ok();
    assert_has(&edited, "Plan revision 2 of rate-limit: no changes.");
    assert_has(
        &edited,
        &format!("accepted the test command of {id}: `{proposed}`"),
    );
    assert_eq!(
        current_plan(&repo),
        ("edit".into(), vec![Some(proposed.clone())])
    );
    // Applied again (on the new revision), it changes nothing: the test is accepted already.
    let text = repo.aiflow(&["plan", "show", "rate-limit", "--toml"]).ok();
    let file = repo.outside("again.toml", text.as_bytes());
    let again = edit_plan(&repo, &file).ok();
    assert_has(&again, "is unchanged (revision 2)");
    let v = repo
        .aiflow(&["plan", "show", "rate-limit", "--json"])
        .json();
    assert_eq!(v["subtasks"][0]["test_accepted"], true);
    assert_lacks(
        &repo.aiflow(&["plan", "show", "rate-limit"]).ok(),
        "proposed by the model",
    );

    // It wins over the configured command.
    repo.aiflow(&["start", &id]).ok();
    repo.git(&["config", "aiflow.test", "echo configured"]);
    repo.write("a.txt", "a\n");
    let r = repo.aiflow(&["step", "-m", "A", "--json"]);
    assert_lacks(&r.stderr, "proposed by the model");
    let v = r.json();
    assert_eq!(v["test"]["command"], proposed.as_str());
    assert_eq!(v["test"]["origin"], format!("plan (subtask {id})"));
    assert_eq!(v["test"]["passed"], true);
    assert_eq!(std::fs::read_to_string(&marker).expect("it ran"), "ran\n");
    let t = test_table(&repo, "HEAD");
    assert_eq!(t["command"].as_str(), Some(proposed.as_str()));
    assert_eq!(t["exit"].as_integer(), Some(0));
    // `test` runs it too; --command still wins over it.
    let ran = repo.aiflow(&["test", "--json"]).json();
    assert_eq!(ran["test"]["origin"], format!("plan (subtask {id})"));
    assert_eq!(
        std::fs::read_to_string(&marker).expect("it ran"),
        "ran\nran\n"
    );
    let given = repo
        .aiflow(&["test", "--command", "echo given", "--json"])
        .json();
    assert_eq!(given["test"]["origin"], "--command");

    // A command a person writes in an edit is theirs: it runs at once, and `plan diff` shows it.
    let own = format!("echo by hand >> '{}'", marker.display());
    let text = repo.aiflow(&["plan", "show", "rate-limit", "--toml"]).ok();
    let changed = with_test_line(&text, &format!("test = \"{own}\""));
    let file = repo.outside("own.toml", changed.as_bytes());
    let edited = edit_plan(&repo, &file).ok();
    assert_lacks(&edited, "accepted the test command");
    let diff = repo
        .aiflow(&["plan", "diff", "rate-limit", "--color", "never"])
        .ok();
    assert_has(&diff, &format!("~ {id}  Limiter: test "));
    assert_has(&diff, "by hand");
    let d = repo
        .aiflow(&["plan", "diff", "rate-limit", "--json"])
        .json();
    assert_eq!(d["changes"][0]["field"], "test");
    assert_eq!(d["changes"][0]["new"], own.as_str());
    repo.write("b.txt", "b\n");
    let r = repo.aiflow(&["step", "-m", "B", "--json"]).json();
    assert_eq!(r["test"]["command"], own.as_str());
    assert_eq!(
        std::fs::read_to_string(&marker).expect("it ran"),
        "ran\nran\nby hand\n"
    );
    assert_eq!(
        test_table(&repo, "HEAD")["command"].as_str(),
        Some(own.as_str())
    );
    repo.fsck();
}

/// `plan edit -F <file>` on the rate-limit flow.
fn edit_plan(repo: &TestRepo, file: &std::path::Path) -> crate::harness::Run {
    repo.aiflow(&[
        "plan",
        "edit",
        "rate-limit",
        "-F",
        file.to_str().expect("utf-8"),
    ])
}

/// `text`, a plan edit with one `test = ` line, with `line` in its place.
fn with_test_line(text: &str, line: &str) -> String {
    let old = text
        .lines()
        .find(|l| l.starts_with("test = "))
        .expect("a test line");
    text.replace(old, line)
}

#[test]
fn a_plan_edit_with_a_test_of_two_lines_is_refused_and_writes_nothing() {
    let (repo, _, marker, proposed) = model_proposes_a_test();
    let text = repo.aiflow(&["plan", "show", "rate-limit", "--toml"]).ok();
    let notes = repo.git(&["rev-parse", "refs/notes/aiflow"]);
    for bad in [
        "test = \"true\\nrm -rf ~\"".to_owned(),
        "test = \"\"\"\ntrue\nrm -rf ~\"\"\"".to_owned(),
    ] {
        let file = repo.outside("bad.toml", with_test_line(&text, &bad).as_bytes());
        let err = edit_plan(&repo, &file).fails(2);
        assert_has(&err, "the edited plan is not valid");
        assert_has(
            &err,
            "in test: the test command contains the control character U+000A",
        );
        assert_has(&err, "nothing was written");
        assert_eq!(repo.git(&["rev-parse", "refs/notes/aiflow"]), notes);
    }
    // The note is as the model left it.
    assert_eq!(current_plan(&repo), ("model".into(), vec![Some(proposed)]));
    assert_lacks(
        &repo.git(&["notes", "--ref=aiflow", "show", "aiflow/rate-limit"]),
        "rm -rf",
    );
    assert!(!marker.exists());
}
