//! What git shows of git-aiflow: `git log` prints a few lines per flow and step
//! (`refs/notes/aiflow-log`, derived from `refs/notes/aiflow`), the documents stay a command away,
//! `init` migrates the old `notes.displayRef`, and the notes histories stay out of `git log --all`
//! with the README's recipe.

use crate::harness::{Run, TestRepo};

const DISPLAY: &str = "refs/notes/aiflow-log";

/// A flow with a plan and two tested steps on subtask a1.
fn flow_with_steps(repo: &TestRepo) {
    repo.new_rate_limit();
    repo.plan_subtasks(&[("a1", "Limiter"), ("b2", "Headers")]);
    repo.aiflow(&["start", "a1"]).ok();
    repo.git(&["config", "aiflow.test", "true"]);
    repo.write("limiter.rs", "fn a() {}\n");
    repo.aiflow(&["step", "-m", "Write the limiter"]).ok();
    repo.write("limiter.rs", "fn a() {}\nfn b() {}\n");
    repo.aiflow(&["step", "-m", "More limiter"]).ok();
}

fn lines(text: &str) -> usize {
    text.lines().count()
}

/// The display ref's tree: what `git log` shows, whatever commit holds it.
fn display_tree(repo: &TestRepo) -> String {
    repo.git(&["rev-parse", &format!("{DISPLAY}^{{tree}}")])
}

#[test]
fn git_log_shows_a_few_lines_per_note_and_the_documents_stay_a_command_away() {
    let repo = TestRepo::new();
    flow_with_steps(&repo);
    let branch = "aiflow/rate-limit--a1-limiter";
    let log = repo.git(&["log", branch]);
    let plain = repo.git(&["log", "--no-notes", branch]);
    let whole = repo.git(&["log", "--notes=aiflow", branch]);
    // Three lines for the flow, one per step, each under its `Notes (aiflow-log):` header and a
    // blank line: 3 + 2 + 2 * (1 + 2).
    assert_eq!(lines(&log), lines(&plain) + 11, "{log}");
    assert!(lines(&whole) > lines(&log) + 40, "{whole}");
    assert!(!log.contains("schema = "), "{log}");
    assert!(
        log.contains(
            "Notes (aiflow-log):\n    aiflow rate-limit a1 step 2 (hand); test passed: true\n"
        ),
        "{log}"
    );
    assert!(
        log.contains(
            "    aiflow flow rate-limit: Rate limiting for the public API\n      status executing; plan revision 2\n      the rest: git aiflow status rate-limit; the document: git log --notes=aiflow\n"
        ),
        "{log}"
    );
    // The display ref is one root commit naming the documents' commit it was made from.
    let notes = repo.git(&["rev-parse", "refs/notes/aiflow"]);
    assert_eq!(
        repo.git(&["rev-list", "--count", DISPLAY]).trim(),
        "1",
        "no history"
    );
    let message = repo.git(&["log", "-1", "--format=%B", DISPLAY]);
    assert!(
        message.contains(&format!("source {}", notes.trim())),
        "{message}"
    );
    repo.fsck();
}

#[test]
fn every_write_keeps_the_display_ref_in_step_and_incremental_equals_a_rebuild() {
    let repo = TestRepo::new();
    flow_with_steps(&repo);
    let before = display_tree(&repo);
    // A write that adds a note adds its summary.
    repo.write("limiter.rs", "fn c() {}\n");
    repo.aiflow(&["step", "-m", "Third"]).ok();
    let after = display_tree(&repo);
    assert_ne!(before, after);
    assert_eq!(
        repo.git(&["log", "-1", "--format=%N", "HEAD"]),
        "aiflow rate-limit a1 step 3 (hand); test passed: true\n\n"
    );
    // The anchor keeps its flow summary.
    let anchor = repo.git(&["rev-parse", "aiflow/rate-limit"]);
    let shown = repo.git(&["log", "-1", "--format=%N", anchor.trim()]);
    assert!(shown.contains("aiflow flow rate-limit: "), "{shown}");
    // A command that writes nothing leaves it alone.
    let refs = repo.refs();
    repo.aiflow(&["status", "rate-limit"]).ok();
    assert_eq!(repo.refs(), refs);
    // Deleted, it is rebuilt from scratch by the next command, to the same tree.
    repo.git(&["update-ref", "-d", DISPLAY]);
    repo.aiflow(&["list"]).ok();
    assert_eq!(display_tree(&repo), after);
    // A note git-aiflow did not write (a person's `git notes`) is summarized too, and its removal
    // removes the summary.
    let head = repo.git(&["rev-parse", "main"]);
    repo.git(&[
        "notes",
        "--ref=aiflow",
        "add",
        "-m",
        "not toml [",
        head.trim(),
    ]);
    repo.aiflow(&["list"]).ok();
    assert_eq!(
        repo.git(&["log", "-1", "--format=%N", "main"]).trim(),
        format!(
            "aiflow: not a document; read it with `git notes --ref=aiflow show {}`",
            &head.trim()[..12]
        )
    );
    repo.git(&["notes", "--ref=aiflow", "remove", head.trim()]);
    repo.aiflow(&["list"]).ok();
    assert_eq!(display_tree(&repo), after);
}

#[test]
fn concurrent_commands_agree_on_the_display_ref() {
    let repo = TestRepo::new();
    flow_with_steps(&repo);
    let expected = display_tree(&repo);
    repo.git(&["update-ref", "-d", DISPLAY]);
    let children: Vec<_> = (0..6)
        .map(|_| {
            repo.command(crate::harness::BIN)
                .args(["list"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{out:?}");
        assert!(out.stderr.is_empty(), "{out:?}");
    }
    assert_eq!(display_tree(&repo), expected);
}

#[test]
fn init_again_migrates_the_old_display_ref() {
    let repo = TestRepo::new();
    flow_with_steps(&repo);
    // What an older `init` set.
    repo.git(&["config", "--unset-all", "notes.displayRef"]);
    repo.git(&["config", "--add", "notes.displayRef", "refs/notes/aiflow"]);
    repo.git(&["config", "--add", "notes.displayRef", "refs/notes/commits"]);
    let long = lines(&repo.git(&["log", "aiflow/rate-limit--a1-limiter"]));
    let out = repo.aiflow(&["init"]).ok();
    assert!(
        out.contains("notes.displayRef -= refs/notes/aiflow ("),
        "{out}"
    );
    assert!(
        out.contains("notes.displayRef += refs/notes/aiflow-log"),
        "{out}"
    );
    // Only the value init set is gone; the user's other one stays.
    assert_eq!(
        repo.git(&["config", "--get-all", "notes.displayRef"]),
        "refs/notes/commits\nrefs/notes/aiflow-log\n"
    );
    let short = lines(&repo.git(&["log", "aiflow/rate-limit--a1-limiter"]));
    assert!(short + 40 < long, "{short} lines after, {long} before");
    let again = repo.aiflow(&["init"]).ok();
    assert!(again.contains("nothing changed"), "{again}");
}

#[test]
fn sync_leaves_the_display_ref_home_and_a_clone_derives_the_same() {
    let repo = TestRepo::new();
    flow_with_steps(&repo);
    let origin = repo.sibling("origin.git");
    let origin_s = origin.to_str().expect("utf-8");
    repo.git(&["clone", "-q", "--bare", ".", origin_s]);
    repo.git(&["remote", "add", "origin", origin_s]);
    repo.aiflow(&["sync"]).ok();
    let remote_refs = Run::of(repo.command_in("git", &origin).args([
        "for-each-ref",
        "--format=%(refname)",
        "refs/notes/",
    ]))
    .ok();
    assert_eq!(remote_refs, "refs/notes/aiflow\n");
    let clone = repo.sibling("clone");
    Run::of(
        repo.command("git")
            .args(["clone", "-q", origin_s, clone.to_str().expect("utf-8")]),
    )
    .ok();
    let in_clone =
        |args: &[&str]| Run::of(repo.command_in(crate::harness::BIN, &clone).args(args)).ok();
    in_clone(&["init"]);
    in_clone(&["sync"]);
    let tree = Run::of(
        repo.command_in("git", &clone)
            .args(["rev-parse", &format!("{DISPLAY}^{{tree}}")]),
    )
    .ok();
    assert_eq!(tree, display_tree(&repo));
}

/// The line of the README's "`git log --all` and gitk" recipe that starts with `start`, as
/// arguments (the README quotes globs with single quotes, as a shell user types them).
fn readme_recipe(start: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let line = readme
        .lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting with {start:?} in the README"));
    line.split_whitespace()
        .skip(1)
        .map(|w| w.replace('\'', ""))
        .collect()
}

#[test]
fn the_readme_recipe_keeps_notes_out_of_git_log_all() {
    let repo = TestRepo::new();
    flow_with_steps(&repo);
    // A remote, so that its notes copy (refs/remote-notes/origin/aiflow) exists too.
    let origin = repo.sibling("origin.git");
    let origin_s = origin.to_str().expect("utf-8");
    repo.git(&["clone", "-q", "--bare", ".", origin_s]);
    repo.git(&["remote", "add", "origin", origin_s]);
    repo.aiflow(&["sync"]).ok();
    assert!(repo.rev("refs/remote-notes/origin/aiflow").is_some());
    let notes_commits = repo.git(&[
        "rev-list",
        "refs/notes/aiflow",
        "refs/notes/aiflow-log",
        "refs/remote-notes/origin/aiflow",
    ]);
    assert!(lines(&notes_commits) > 5, "{notes_commits}");
    let all = repo.git(&["rev-list", "--all"]);
    assert!(notes_commits.lines().all(|c| all.contains(c)));

    let recipe = readme_recipe("git log --graph --oneline --exclude=");
    let args: Vec<&str> = recipe.iter().map(String::as_str).collect();
    let shown = repo.git(&args);
    for commit in notes_commits.lines() {
        assert!(!shown.contains(&commit[..7]), "{commit} in:\n{shown}");
    }
    assert_eq!(
        shown,
        repo.git(&[
            "log",
            "--graph",
            "--oneline",
            "--branches",
            "--tags",
            "--remotes",
            "HEAD"
        ])
    );
    assert!(shown.contains("More limiter"), "{shown}");
    // gitk takes rev-list's arguments: the README's gitk line, given to rev-list.
    let gitk = readme_recipe("gitk --branches");
    let mut args = vec!["rev-list"];
    args.extend(gitk.iter().map(String::as_str));
    let listed = repo.git(&args);
    assert!(listed.contains(repo.rev("HEAD").expect("HEAD").as_str()));
    for commit in notes_commits.lines() {
        assert!(!listed.contains(commit), "{commit} in:\n{listed}");
    }
}

/// The gate writes nothing: `check` (which CI and server hooks run) leaves the display ref as it
/// is, even when it is behind the notes; the next other command brings it up to date. Nor is it
/// written in a server's quarantine, where the objects it would name may be deleted.
#[test]
fn the_gate_and_a_quarantine_leave_the_display_ref_alone() {
    let repo = TestRepo::new();
    flow_with_steps(&repo);
    let before = repo.rev(DISPLAY).expect("the display ref");
    // A change made with git alone leaves the display ref behind.
    let anchor = repo.rev("aiflow/rate-limit").expect("anchor");
    let text = repo.git(&["notes", "--ref=aiflow", "show", &anchor]);
    let edited = text.replace("title = \"", "title = \"Edited ");
    assert_ne!(edited, text);
    repo.git(&["notes", "--ref=aiflow", "add", "-f", "-m", &edited, &anchor]);
    let judged = repo.aiflow(&["check", "main..aiflow/rate-limit--a1-limiter"]);
    assert!(judged.code == 0 || judged.code == 1, "{}", judged.stderr);
    assert_eq!(repo.rev(DISPLAY).as_deref(), Some(before.as_str()));
    repo.aiflow_env(&["list"], &[("GIT_QUARANTINE_PATH", "/nonexistent")])
        .ok();
    assert_eq!(repo.rev(DISPLAY).as_deref(), Some(before.as_str()));
    repo.aiflow(&["list"]).ok();
    assert_ne!(repo.rev(DISPLAY).as_deref(), Some(before.as_str()));
}
