//! The subtask lifecycle, as users meet it: every command that acts on a subtask applies the same
//! rules (`src/flow/lifecycle.rs`), and a refusal exits 1, says why and how on, and changes no ref
//! and no note.

use crate::harness::{AS_GRACE, TestRepo, assert_has};
use serde_json::Value;

const FLOW: &str = "rate-limit";

/// The subtasks of the plan: (id, status, branch).
fn subtasks(repo: &TestRepo) -> Vec<(String, String, Option<String>)> {
    let v = repo.aiflow(&["plan", "show", FLOW, "--json"]).json();
    v["subtasks"]
        .as_array()
        .expect("subtasks")
        .iter()
        .map(|s| {
            (
                s["id"].as_str().expect("id").to_owned(),
                s["status"].as_str().expect("status").to_owned(),
                s["branch"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn status_of(repo: &TestRepo, id: &str) -> String {
    subtasks(repo)
        .into_iter()
        .find(|s| s.0 == id)
        .map(|s| s.1)
        .expect("in the plan")
}

/// `args` as the developer (or, with `as_grace`, as the reviewer) must be refused with exit 1,
/// naming `why`, and move no ref and no note.
#[track_caller]
fn refused(repo: &TestRepo, args: &[&str], as_grace: bool, why: &str) -> String {
    let before = repo.refs();
    let run = if as_grace {
        repo.aiflow_env(args, AS_GRACE)
    } else {
        repo.aiflow(args)
    };
    let err = run.fails(1);
    assert_has(&err, why);
    assert!(err.contains("hint: "), "{args:?}: no hint in {err}");
    assert_eq!(repo.refs(), before, "{args:?} moved refs");
    err
}

/// Commit a change on the current branch as a step of its subtask.
fn step(repo: &TestRepo, file: &str, text: &str) -> crate::harness::Run {
    repo.write(file, text);
    repo.aiflow(&["step", "-m", &format!("Write {file}")])
}

#[test]
fn every_command_follows_one_lifecycle() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.plan_subtasks(&[("a1", "Limiter"), ("b2", "Headers"), ("c3", "Docs")]);

    // Planned: nothing but `start` acts on it.
    for (args, grace) in [
        (vec!["exec", "a1"], false),
        (vec!["ready", "a1"], false),
        (vec!["review", "a1"], true),
        (vec!["approve", "a1"], true),
        (vec!["reject", "a1", "-m", "no"], true),
        (vec!["integrate", "a1"], false),
    ] {
        let err = refused(&repo, &args, grace, "subtask a1 is not started");
        assert_has(&err, "git aiflow start a1");
    }

    // Active, with a step: ready makes it in-review; a new step makes it active again.
    repo.aiflow(&["start", "a1"]).ok();
    assert_eq!(status_of(&repo, "a1"), "active");
    refused(&repo, &["ready", "a1"], false, "no commits");
    step(&repo, "limiter.rs", "limit\n").ok();
    refused(
        &repo,
        &["integrate", "a1"],
        false,
        "is active, not approved",
    );
    let v: Value = repo.aiflow(&["ready", "a1", "--json"]).json();
    assert_eq!(v["status"], "in-review", "{v:#}");
    assert_eq!(v["commits"], 1, "{v:#}");
    assert_eq!(status_of(&repo, "a1"), "in-review");
    // Asking twice changes nothing.
    let notes = repo.rev("refs/notes/aiflow");
    let again = repo.aiflow(&["ready", "a1"]).ok();
    assert_has(&again, "ready for review");
    assert_eq!(repo.rev("refs/notes/aiflow"), notes);
    refused(
        &repo,
        &["integrate", "a1"],
        false,
        "is in-review, not approved",
    );
    step(&repo, "limiter.rs", "limit 2\n").ok();
    assert_eq!(status_of(&repo, "a1"), "active");

    // Changes requested, then approved: ready has nothing to ask for any more.
    repo.aiflow(&["ready", "a1"]).ok();
    repo.aiflow_env(&["reject", "a1", "-m", "Name the constant"], AS_GRACE)
        .ok();
    assert_eq!(status_of(&repo, "a1"), "active");
    step(&repo, "limiter.rs", "const LIMIT: u32 = 2;\n").ok();
    repo.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
    assert_eq!(status_of(&repo, "a1"), "approved");
    refused(&repo, &["ready", "a1"], false, "approved already");

    // Merged: its work and its review are final, for every command alike.
    repo.git(&["switch", "-q", "main"]);
    repo.aiflow(&["integrate", "a1"]).ok();
    assert_eq!(status_of(&repo, "a1"), "merged");
    let branch = subtasks(&repo)
        .into_iter()
        .find(|s| s.0 == "a1")
        .and_then(|s| s.2)
        .expect("a1's branch");
    repo.git(&["switch", "-q", &branch]);
    repo.write("limiter.rs", "more\n");
    let tip = repo.rev(&branch);
    let err = refused(
        &repo,
        &["step", "-m", "More"],
        false,
        "merged already; new work goes in a new subtask",
    );
    assert_has(&err, "plan edit");
    assert_eq!(repo.rev(&branch), tip, "step committed on a merged subtask");
    repo.git(&["checkout", "-q", "--", "limiter.rs"]);
    for (args, grace, why) in [
        (vec!["exec", "a1"], false, "new work goes in a new subtask"),
        (vec!["start", "a1"], false, "merged already"),
        (vec!["ready", "a1"], false, "merged already"),
        (vec!["approve", "a1"], true, "its review cannot change"),
        (
            vec!["reject", "a1", "-m", "late"],
            true,
            "ask for changes in a new subtask",
        ),
    ] {
        refused(&repo, &args, grace, why);
    }
    // Looking at it, and integrating it again, are fine.
    repo.aiflow_env(&["review", "a1"], AS_GRACE).ok();
    assert_has(&repo.aiflow(&["integrate", "a1"]).ok(), "merged already");

    // Dropped: nothing acts on it until a plan edit sets it back to planned.
    let plan = repo.aiflow(&["plan", "show", FLOW, "--toml"]).ok();
    let (head, tail) = plan.split_at(plan.find("id = \"c3\"").expect("c3 in the plan"));
    let edited = format!(
        "{head}{}",
        tail.replacen("status = \"planned\"", "status = \"dropped\"", 1)
    );
    assert_ne!(edited, plan, "{plan}");
    let f = repo.outside("drop.toml", edited.as_bytes());
    repo.aiflow(&["plan", "edit", FLOW, "-F", f.to_str().expect("utf-8")])
        .ok();
    assert_eq!(status_of(&repo, "c3"), "dropped");
    for (args, grace) in [
        (vec!["start", "c3"], false),
        (vec!["exec", "c3"], false),
        (vec!["ready", "c3"], false),
        (vec!["review", "c3"], true),
        (vec!["approve", "c3"], true),
        (vec!["integrate", "c3"], false),
    ] {
        let err = refused(&repo, &args, grace, "subtask c3 is dropped");
        assert_has(&err, "plan edit");
    }
    repo.fsck();
}
