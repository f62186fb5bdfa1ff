//! The trust classes: each way of getting unreviewed or altered content past the gate, tried
//! several ways against real repositories (and a real server behind `git daemon` with the server
//! hook). Each refusal asserts its reason code and that refs and notes did not move; then the
//! legitimate path passes.

use crate::harness::{AS_GRACE, BIN, GRACE, GitDaemon, Run, TestRepo};
use serde_json::Value;
use std::path::{Path, PathBuf};

const FLOW: &str = "rate-limit";
const INTEGRATION: &str = "aiflow/rate-limit";
const SUBTASK: &str = "aiflow/rate-limit--a1-limiter";
const OTHER: &str = "aiflow/rate-limit--b2-shared-work";
const NOTES: &str = "refs/notes/aiflow";

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The rate-limit flow with subtasks a1 ("Limiter") and b2 ("Shared work") planned and a1
/// started; on a1's branch, one commit by Ada per `(path, content)`, each approved by Grace
/// when `approved`. The gate's hooks are installed; HEAD is on the integration branch.
fn flow(files: &[(&str, &str)], approved: bool) -> TestRepo {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.aiflow(&["hooks", "install"]).ok();
    repo.plan_subtasks(&[("a1", "Limiter"), ("b2", "Shared work")]);
    repo.aiflow(&["start", "a1"]).ok();
    for (path, content) in files {
        commit_file(&repo, path, content, &format!("Write {path}"));
    }
    if approved {
        repo.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
    }
    repo.git(&["switch", "-q", INTEGRATION]);
    repo
}

/// Replace the flow note on `object` with `text`, the way someone with write access would.
fn write_note(repo: &TestRepo, object: &str, text: &str) {
    repo.set_note(object, text);
}

/// Write `path` and commit it with `subject`; the new commit.
#[track_caller]
fn commit_file(repo: &TestRepo, path: &str, content: &str, subject: &str) -> String {
    repo.write(path, content);
    repo.git(&["add", path]);
    repo.git(&["commit", "-q", "-m", subject]);
    repo.rev("HEAD").expect("HEAD")
}

/// `git aiflow check --json <args>`: the failures as (commit, reason), the exit code checked
/// against them.
#[track_caller]
fn failures(repo: &TestRepo, args: &[&str]) -> Vec<(String, String)> {
    failures_in(repo, &repo.path, args)
}

#[track_caller]
fn failures_in(repo: &TestRepo, dir: &Path, args: &[&str]) -> Vec<(String, String)> {
    let v = check_in(repo, dir, args);
    v["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| {
            (
                f["commit"].as_str().expect("commit").to_owned(),
                f["reason"].as_str().expect("reason").to_owned(),
            )
        })
        .collect()
}

#[track_caller]
fn check_in(repo: &TestRepo, dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["check", "--json"];
    all.extend(args);
    let r = Run::of(repo.command_in(BIN, dir).args(&all));
    let v: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}):\n{}\n{}", r.stdout, r.stderr));
    let ok = v["failures"].as_array().is_some_and(Vec::is_empty);
    assert_eq!(r.code, if ok { 0 } else { 1 }, "{v:#}");
    v
}

fn failure(id: &str, reason: &str) -> (String, String) {
    (id.to_owned(), reason.to_owned())
}

/// The reason codes of the failures.
fn codes(f: &[(String, String)]) -> Vec<&str> {
    f.iter().map(|(_, r)| r.as_str()).collect()
}

/// What git's `--remerge-diff` shows for merge `id` (empty for a clean automatic merge).
fn remerge_diff(repo: &TestRepo, id: &str) -> String {
    repo.git(&["show", "--remerge-diff", "--format=", id])
}

/// The commit ids a refusal names (`aiflow:   <12 hex> …`), as full ids.
fn refused(repo: &TestRepo, stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.trim_start_matches("remote: ").strip_prefix("aiflow:   "))
        .filter_map(|l| l.split(' ').next())
        .filter_map(|short| repo.rev(short))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Replacement objects and grafts

/// `git replace` makes git read another object than the one a ref points to; grafts make it
/// see other parents. The gate reads the real objects, in `check`, in the hooks and in
/// `review`.
#[test]
fn replacement_objects_and_grafts_do_not_change_what_the_gate_reads() {
    let repo = flow(&[("limiter.rs", "limit\n"), ("wire.rs", "wire\n")], false);
    repo.aiflow_env(
        &["approve", "a1", "--upto", &format!("{SUBTASK}~1")],
        AS_GRACE,
    )
    .ok();
    let first = repo.rev(&format!("{SUBTASK}~1")).expect("first");
    let second = repo.rev(SUBTASK).expect("second");
    let range = format!("{INTEGRATION}..{SUBTASK}");
    assert_eq!(failures(&repo, &[&range]), [failure(&second, "no-review")]);

    // The unreviewed commit replaced by the approved one: git itself now reads `first`'s
    // message, trailers and change when asked for `second`.
    repo.git(&["replace", &second, &first]);
    assert_eq!(
        repo.git(&[
            "log",
            "-1",
            "--format=%(trailers:key=Reviewed-by,valueonly)",
            &second
        ])
        .trim(),
        GRACE,
        "git honours the replacement"
    );
    assert_eq!(failures(&repo, &[&range]), [failure(&second, "no-review")]);
    let before = repo.rev(INTEGRATION);
    let err = repo.git_run(&["merge", "--ff-only", SUBTASK]).fails(128);
    assert_eq!(refused(&repo, &err), std::slice::from_ref(&second), "{err}");
    assert_eq!(repo.rev(INTEGRATION), before);
    repo.git(&["reset", "-q", "--hard"]);

    // A replaced blob: what git shows is benign, what the commit holds is not; `review`
    // shows what the commit holds.
    repo.git(&["switch", "-q", SUBTASK]);
    let evil = commit_file(&repo, "clean.sh", "rm -rf /\n", "Clean up");
    repo.git(&["switch", "-q", INTEGRATION]);
    let bad_blob = repo.git(&["rev-parse", &format!("{evil}:clean.sh")]);
    let good_blob = repo.git_stdin(&["hash-object", "-w", "--stdin"], "echo tidy\n");
    repo.git(&["replace", bad_blob.trim(), good_blob.trim()]);
    assert_eq!(
        repo.git(&["show", &format!("{evil}:clean.sh")]),
        "echo tidy\n"
    );
    let review = repo.aiflow(&["review", "a1"]).ok();
    assert!(review.contains("+rm -rf /"), "{review}");
    assert!(!review.contains("echo tidy"), "{review}");

    // Grafts: the integration branch grafted onto the subtask, so that git sees nothing new
    // in the subtask; the gate walks the real parents.
    repo.git(&["replace", "-d", &second]);
    let anchor = repo.rev(INTEGRATION).expect("anchor");
    std::fs::write(
        repo.path.join(".git/info/grafts"),
        format!("{anchor} {evil}\n"),
    )
    .expect("grafts");
    assert_eq!(
        repo.git(&["rev-list", &range]).trim(),
        "",
        "git honours the graft"
    );
    assert_eq!(
        codes(&failures(&repo, &[&range])),
        ["no-review", "no-review"]
    );
    let err = repo
        .git_run(&["update-ref", &format!("refs/heads/{INTEGRATION}"), SUBTASK])
        .fails(128);
    assert!(err.contains("[no-review]"), "{err}");
    assert_eq!(repo.rev(INTEGRATION), before);
}

/// `refs/replace/*` pushed to a server is refused unless its policy allows it; what the pushed
/// branch holds is judged on the real objects either way.
#[test]
fn replacement_refs_are_refused_by_the_server_unless_allowed() {
    let repo = flow(&[("limiter.rs", "limit\n")], true);
    let (server, _daemon) = served(&repo);
    let approved = repo.rev(SUBTASK).expect("approved");
    let blob = repo.git_stdin(&["hash-object", "-w", "--stdin"], "anything\n");
    let target = repo.git(&["rev-parse", &format!("{approved}:limiter.rs")]);
    repo.git(&["replace", target.trim(), blob.trim()]);
    let refs_before = refs_in(&repo, &server);
    let err = repo
        .git_run(&["push", "origin", "refs/replace/*:refs/replace/*"])
        .fails(1);
    assert!(err.contains("remote: aiflow: refs/replace/"), "{err}");
    assert!(err.contains("allow-replace-refs"), "{err}");
    assert_eq!(refs_in(&repo, &server), refs_before);
    // The server's own config is the administrator's: it may allow them.
    git_at(
        &repo,
        &server,
        &["config", "aiflow.allowReplaceRefs", "true"],
    );
    repo.git(&["push", "-q", "origin", "refs/replace/*:refs/replace/*"]);
    assert!(refs_in(&repo, &server).contains("refs/replace/"));
}

// ---------------------------------------------------------------------------------------------
// Merges

/// A merge whose tree is not git's clean automatic merge of its parents carries content no one
/// reviewed: a change slipped into `merge --no-commit`, an amended merge, `-s ours` (which drops
/// the other side's reviewed work), an octopus. Each is refused as `merge-not-clean` (and
/// `git show --remerge-diff` agrees it is not clean); a clean merge is exempt.
#[test]
fn merges_that_are_not_the_automatic_merge_need_a_review_of_their_own() {
    let repo = flow(&[("limiter.rs", "limit\n")], true);
    let before = repo.rev(INTEGRATION).expect("tip");
    let refused_merge = |err: &str| -> String {
        assert!(err.contains("[merge-not-clean]"), "{err}");
        let ids = refused(&repo, err);
        assert_eq!(ids.len(), 1, "only the merge is refused: {err}");
        ids[0].clone()
    };

    // A change slipped into a merge.
    repo.git(&["merge", "-q", "--no-ff", "--no-commit", SUBTASK]);
    repo.write("backdoor.rs", "open\n");
    repo.git(&["add", "backdoor.rs"]);
    let err = repo.git_run(&["commit", "-q", "--no-edit"]).fails(128);
    let m = refused_merge(&err);
    assert!(remerge_diff(&repo, &m).contains("backdoor.rs"));
    assert_eq!(repo.rev(INTEGRATION).as_deref(), Some(&*before));
    repo.git(&["reset", "-q", "--hard", &before]);

    // A clean merge, then amended with a change.
    repo.git(&["merge", "-q", "--no-ff", "--no-edit", SUBTASK]);
    let clean = repo.rev(INTEGRATION).expect("merged");
    assert_eq!(remerge_diff(&repo, &clean), "");
    repo.write("backdoor.rs", "open\n");
    repo.git(&["add", "backdoor.rs"]);
    let err = repo
        .git_run(&["commit", "-q", "--amend", "--no-edit"])
        .fails(128);
    let m = refused_merge(&err.replace(&clean[..12], ""));
    assert!(remerge_diff(&repo, &m).contains("backdoor.rs"));
    assert_eq!(repo.rev(INTEGRATION), Some(clean.clone()));
    repo.git(&["reset", "-q", "--hard", &before]);
    repo.git(&["update-ref", &format!("refs/heads/{INTEGRATION}"), &before]);

    // `-s ours`: the approved work is dropped from the tree.
    let err = repo
        .git_run(&["merge", "-q", "--no-ff", "-s", "ours", "--no-edit", SUBTASK])
        .fails(128);
    let m = refused_merge(&err);
    assert!(remerge_diff(&repo, &m).contains("limiter.rs"));
    assert_eq!(repo.rev(INTEGRATION).as_deref(), Some(&*before));
    repo.git(&["reset", "-q", "--hard", &before]);

    // An octopus of two approved subtasks.
    repo.aiflow(&["start", "b2"]).ok();
    commit_file(&repo, "shared.rs", "shared\n", "Write shared.rs");
    repo.aiflow_env(&["approve", "b2"], AS_GRACE).ok();
    repo.git(&["switch", "-q", INTEGRATION]);
    let err = repo
        .git_run(&["merge", "-q", "--no-ff", "--no-edit", SUBTASK, OTHER])
        .fails(128);
    let m = refused_merge(&err);
    assert!(err.contains("octopus"), "{err}");
    assert_eq!(repo.rev(INTEGRATION).as_deref(), Some(&*before));
    assert_eq!(
        repo.git(&["rev-list", "--parents", "-1", &m])
            .split(' ')
            .count(),
        4
    );
    repo.git(&["reset", "-q", "--hard", &before]);

    // The same merges made without any hook are reported by `check`.
    let tree = repo.git(&["rev-parse", &format!("{SUBTASK}^{{tree}}")]);
    let evil = repo.git_stdin(
        &["commit-tree", tree.trim(), "-p", &before, "-p", OTHER],
        "Merge by hand\n",
    );
    let evil = evil.trim();
    assert_eq!(
        failures(&repo, &[&format!("{before}..{evil}")]),
        [failure(evil, "merge-not-clean")]
    );

    // Config that hides a difference from `git diff` hides nothing from the gate: a submodule
    // slipped into a merge, with `diff.ignoreSubmodules=all` given the way users give it.
    let mut with_gitlink = repo.git(&["ls-tree", SUBTASK]);
    with_gitlink.push_str(&format!("160000 commit {before}\tvendor\n"));
    let tree = repo.git_stdin(&["mktree"], &with_gitlink);
    let hidden = repo.git_stdin(
        &["commit-tree", tree.trim(), "-p", &before, "-p", SUBTASK],
        "Merge with a submodule\n",
    );
    let hidden = hidden.trim();
    let range = format!("{before}..{hidden}");
    let run = repo.git_run(&[
        "-c",
        "diff.ignoreSubmodules=all",
        "aiflow",
        "check",
        "--json",
        &range,
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    let v: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(v["failures"][0]["reason"], "merge-not-clean", "{v:#}");
    assert_eq!(v["failures"][0]["commit"], hidden, "{v:#}");

    // Clean merges, as git makes them and as `integrate` makes them, are exempt.
    repo.git(&["merge", "-q", "--no-ff", "--no-edit", SUBTASK]);
    repo.git(&["switch", "-q", "main"]);
    repo.aiflow(&["integrate", "b2"]).ok();
    let tip = repo.rev(INTEGRATION).expect("integrated");
    assert_eq!(remerge_diff(&repo, &tip), "");
    let v = check_in(&repo, &repo.path, &[&format!("main..{INTEGRATION}")]);
    assert_eq!(v["exempt"], 3, "the anchor and two merges: {v:#}");
}

// ---------------------------------------------------------------------------------------------
// Unreadable flows

/// A flow note the verdict depends on that cannot be read makes every commit bound to it fail
/// as `review-unverifiable`, naming the note and how to repair it; a server's refusal reaches
/// the pusher.
#[test]
fn unreadable_flow_notes_fail_closed_here_and_on_the_server() {
    let repo = flow(&[("limiter.rs", "limit\n")], true);
    let range = format!("{INTEGRATION}..{SUBTASK}");
    let approved = repo.rev(SUBTASK).expect("approved");
    assert_eq!(failures(&repo, &[&range]), []);
    let anchor = repo.rev(INTEGRATION).expect("anchor");
    let good = repo.git(&["notes", "--ref=aiflow", "show", &anchor]);
    let set_note = |text: &str| write_note(&repo, &anchor, text);
    let huge = format!("{good}\n# {}\n", "x".repeat(17 << 20));
    for (what, text, hint) in [
        (
            "invalid TOML",
            "schema = 2\nkind = \"flow\"\nslug = [\n".to_owned(),
            "git notes --ref=aiflow edit",
        ),
        (
            "a wrong type",
            good.replace("status = \"executing\"", "status = 7"),
            "git notes --ref=aiflow edit",
        ),
        (
            "an unknown schema",
            good.replace("schema = 3", "schema = 9"),
            "upgrade git-aiflow",
        ),
        ("too large", huge, "git notes --ref=aiflow edit"),
    ] {
        set_note(&text);
        let v = check_in(&repo, &repo.path, &[&range]);
        let f = &v["failures"][0];
        assert_eq!(f["commit"], approved.as_str(), "{what}: {v:#}");
        assert_eq!(f["reason"], "review-unverifiable", "{what}: {v:#}");
        let detail = f["detail"].as_str().expect("detail");
        assert!(detail.contains(&anchor), "{what}: names the note: {detail}");
        assert!(
            detail.contains(hint),
            "{what}: says how to repair: {detail}"
        );
    }
    // No notes at all (not fetched).
    set_note(&good);
    let notes = repo.rev(NOTES).expect("notes");
    repo.git(&["update-ref", "-d", NOTES]);
    assert_eq!(
        failures(&repo, &[&range]),
        [failure(&approved, "review-unverifiable")]
    );
    repo.git(&["update-ref", NOTES, &notes]);
    assert_eq!(failures(&repo, &[&range]), []);

    // On a server: a push that brings a broken note with the branch is refused, and the
    // pusher is told why.
    let (server, _daemon) = served(&repo);
    set_note(&good.replace("schema = 3", "schema = 9"));
    // (Past this repository's own hooks, which refuse the same.)
    repo.git(&[
        "-c",
        "core.hooksPath=/dev/null",
        "merge",
        "-q",
        "--no-ff",
        "--no-edit",
        SUBTASK,
    ]);
    let before = refs_in(&repo, &server);
    let err = repo
        .git_run(&[
            "push",
            "--no-verify",
            "origin",
            INTEGRATION,
            &format!("+{NOTES}"),
        ])
        .fails(1);
    assert!(err.contains("remote: aiflow:"), "{err}");
    assert!(err.contains("[review-unverifiable]"), "{err}");
    assert!(err.contains("upgrade git-aiflow"), "{err}");
    assert_eq!(refs_in(&repo, &server), before);
}

// ---------------------------------------------------------------------------------------------
// Content bound byte for byte

/// After an approval, any change of content (whitespace that changes meaning, indentation, a
/// mode, a rename, a binary byte) loses the review, although `git patch-id --stable` cannot
/// tell most of them apart; a pure re-parent of the same change keeps it.
#[test]
fn approvals_bind_every_byte_and_survive_a_pure_re_parent() {
    let repo = flow(
        &[
            ("clean.sh", "true\n"),
            ("app.py", "if ready:\n    run()\n"),
            ("logo.bin", "\u{0}PNG\u{1}\u{2}\n"),
        ],
        false,
    );
    let range = format!("{INTEGRATION}..{SUBTASK}");
    // The change the reviewer sees and approves.
    repo.git(&["switch", "-q", SUBTASK]);
    repo.write("clean.sh", "rm -rf /var/cache/app\n");
    repo.write("app.py", "if ready:\n    run()\ncleanup()\n");
    repo.git(&["commit", "-q", "-a", "-m", "Clean up after running"]);
    repo.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
    assert_eq!(failures(&repo, &[&range]), []);
    let approved = repo.rev("HEAD").expect("tip");
    let stable = |id: &str| {
        let diff = repo.git(&["show", "--format=", id]);
        repo.git_stdin(&["patch-id", "--stable"], &diff)
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let amend = |edit: &dyn Fn()| -> String {
        repo.git(&["reset", "-q", "--hard", &approved]);
        edit();
        repo.git(&["add", "-A"]);
        repo.git(&["commit", "-q", "--amend", "--no-edit"]);
        repo.rev("HEAD").expect("amended")
    };
    type Case<'a> = (&'a str, Box<dyn Fn() + 'a>, bool);
    let cases: Vec<Case> = vec![
        (
            "a space that deletes /",
            Box::new(|| {
                repo.write("clean.sh", "rm -rf / var/cache/app\n");
            }),
            true,
        ),
        (
            "indentation that moves a line into the if",
            Box::new(|| {
                repo.write("app.py", "if ready:\n    run()\n    cleanup()\n");
            }),
            true,
        ),
        (
            "the executable bit",
            Box::new(|| {
                use std::os::unix::fs::PermissionsExt;
                let p = repo.path.join("clean.sh");
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
                    .expect("chmod");
            }),
            false,
        ),
        (
            "a rename",
            Box::new(|| {
                repo.git(&["mv", "clean.sh", "boot.sh"]);
            }),
            false,
        ),
        (
            "one byte of a binary",
            Box::new(|| {
                repo.write("logo.bin", "\u{0}PNG\u{1}\u{3}\n");
            }),
            false,
        ),
    ];
    for (what, edit, same_stable_patch_id) in cases {
        let changed = amend(&*edit);
        assert_ne!(changed, approved, "{what}");
        if same_stable_patch_id {
            assert_eq!(
                stable(&changed),
                stable(&approved),
                "{what}: patch-id --stable"
            );
        }
        assert_eq!(
            failures(&repo, &[&range]),
            [failure(&changed, "review-not-recorded")],
            "{what}"
        );
    }
    repo.git(&["reset", "-q", "--hard", &approved]);
    assert_eq!(failures(&repo, &[&range]), []);

    // The integration branch moves on with other approved work; the subtask is rebased onto
    // it: every commit is new, each change the same, so the reviews stand.
    repo.aiflow(&["start", "b2"]).ok();
    commit_file(&repo, "other.rs", "other\n", "Write other.rs");
    repo.aiflow_env(&["approve", "b2"], AS_GRACE).ok();
    repo.git(&["switch", "-q", "main"]);
    repo.aiflow(&["integrate", "b2"]).ok();
    repo.git(&["switch", "-q", SUBTASK]);
    repo.git(&["rebase", "-q", INTEGRATION]);
    assert_ne!(repo.rev(SUBTASK), Some(approved.clone()));
    assert_eq!(failures(&repo, &[&range]), []);
}

/// Records written before content ids name commits by id and by `git patch-id --stable`: the id
/// still binds; the patch id counts only where the policy allows it (it ignores whitespace).
#[test]
fn legacy_patch_ids_count_only_where_the_policy_allows() {
    let repo = flow(&[("clean.sh", "rm -rf /var/cache/app\n")], true);
    let range = format!("{INTEGRATION}..{SUBTASK}");
    let approved = repo.rev(SUBTASK).expect("approved");
    let anchor = repo.rev(INTEGRATION).expect("anchor");
    // The record as schema 1 wrote it: the commit and its stable patch id, no content id.
    let diff = repo.git(&["show", "--format=", &approved]);
    let pid = repo.git_stdin(&["patch-id", "--stable"], &diff);
    let pid = pid.split(' ').next().expect("patch id");
    let note = repo.git(&["notes", "--ref=aiflow", "show", &anchor]);
    let mut doc: toml::Table = toml::from_str(&note).expect("toml");
    doc.insert("schema".into(), toml::Value::Integer(1));
    // Schema 1 kept each subtask's status and branch in the plan's revisions.
    let progress = doc.remove("progress");
    let progress = progress.as_ref().and_then(|p| p.as_array());
    for plan in doc["plans"].as_array_mut().expect("plans") {
        for s in plan["subtasks"].as_array_mut().expect("subtasks") {
            let s = s.as_table_mut().expect("subtask");
            let moved = progress
                .into_iter()
                .flatten()
                .find(|p| p["subtask"] == s["id"]);
            let status = match (s.remove("dropped"), moved) {
                (Some(_), _) => "dropped".into(),
                (None, Some(p)) => p["status"].clone(),
                (None, None) => "planned".into(),
            };
            s.insert("status".into(), status);
            if let Some(b) = moved.and_then(|p| p.get("branch")) {
                s.insert("branch".into(), b.clone());
            }
        }
    }
    for r in doc["reviews"].as_array_mut().expect("reviews") {
        r.as_table_mut().expect("review").remove("tool");
        for c in r["commits"].as_array_mut().expect("commits") {
            let c = c.as_table_mut().expect("commit");
            c.remove("content_id");
            c.insert("patch_id".into(), toml::Value::String(pid.to_owned()));
        }
    }
    write_note(&repo, &anchor, &toml::to_string(&doc).expect("toml"));
    // By commit id: bound.
    assert_eq!(failures(&repo, &[&range]), []);
    // Reworded (a new id, the same change): the patch id would bind it, but only on request.
    repo.git(&["switch", "-q", SUBTASK]);
    repo.git(&["commit", "-q", "--amend", "-m", "Reworded\n\nAiflow-Flow: rate-limit\nAiflow-Subtask: a1\nReviewed-by: Grace Hopper <grace@example.com>"]);
    let reworded = repo.rev("HEAD").expect("reworded");
    assert_eq!(
        failures(&repo, &[&range]),
        [failure(&reworded, "review-not-recorded")]
    );
    // Told why, and how to accept it.
    let v = check_in(&repo, &repo.path, &[&range]);
    assert!(
        v["notices"][0]
            .as_str()
            .is_some_and(|n| n.contains("legacy-patch-ids")),
        "{v:#}"
    );
    repo.git(&["config", "aiflow.legacyPatchIds", "true"]);
    assert_eq!(failures(&repo, &[&range]), []);
    // Which is why it is off by default: whitespace does not change a stable patch id.
    repo.write("clean.sh", "rm -rf / var/cache/app\n");
    repo.git(&["commit", "-q", "-a", "--amend", "--no-edit"]);
    assert_eq!(failures(&repo, &[&range]), []);
    repo.git(&["config", "--unset", "aiflow.legacyPatchIds"]);
    assert_eq!(codes(&failures(&repo, &[&range])), ["review-not-recorded"]);
}

// ---------------------------------------------------------------------------------------------
// The server: approved work with its notes, and notes that would drop reviews

/// A bare repository next to `repo` with the server hook, served by `git daemon` as `repo`'s
/// remote `origin`, holding main, the flows and the integration branch.
fn served(repo: &TestRepo) -> (PathBuf, GitDaemon) {
    let dir = repo.sibling("server.git");
    repo.git(&["init", "-q", "--bare", "-b", "main", path_str(&dir)]);
    Run::of(
        repo.command_in(BIN, &dir)
            .args(["hooks", "install", "--server"]),
    )
    .ok();
    let daemon = GitDaemon::start(repo, dir.parent().expect("parent"));
    repo.git(&["remote", "add", "origin", &daemon.url("server.git")]);
    repo.git(&["push", "-q", "origin", "main", INTEGRATION, NOTES]);
    (dir, daemon)
}

fn git_at(repo: &TestRepo, dir: &Path, args: &[&str]) -> String {
    Run::of(repo.command_in("git", dir).args(args)).ok()
}

/// Every ref of the repository at `dir` and its value.
fn refs_in(repo: &TestRepo, dir: &Path) -> String {
    git_at(
        repo,
        dir,
        &["for-each-ref", "--format=%(refname) %(objectname)"],
    )
}

/// `sync` pushes approved and integrated work with the notes that record its approval in one
/// push; the server judges it by those notes and accepts it. A notes update that drops the
/// approval of work already on a protected branch is refused, forced or not.
#[test]
fn sync_of_approved_work_to_a_hooked_server_and_notes_that_drop_reviews() {
    let repo = flow(&[("limiter.rs", "limit\n")], false);
    let (server, _daemon) = served(&repo);
    repo.git(&["config", "aiflow.remote", "origin"]);
    repo.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
    repo.git(&["switch", "-q", "main"]);
    repo.aiflow(&["integrate", "a1"]).ok();
    let run = repo.aiflow(&["sync", "--branch", INTEGRATION]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        git_at(&repo, &server, &["rev-parse", INTEGRATION]).trim(),
        repo.rev(INTEGRATION).expect("tip")
    );
    assert_eq!(
        Run::of(repo.command_in("git", &server).args(["rev-parse", NOTES]))
            .ok()
            .trim(),
        repo.rev(NOTES).expect("notes")
    );

    // The approval removed from the flow, pushed as a new notes commit, then forced.
    let anchor = repo.rev(&format!("{INTEGRATION}^1")).expect("anchor");
    let note = repo.git(&["notes", "--ref=aiflow", "show", &anchor]);
    let mut doc: toml::Table = toml::from_str(&note).expect("toml");
    doc.remove("reviews");
    write_note(&repo, &anchor, &toml::to_string(&doc).expect("toml"));
    let before = refs_in(&repo, &server);
    for args in [
        vec!["push", "origin", NOTES],
        vec!["push", "--force", "origin", NOTES],
    ] {
        let err = repo.git_run(&args).fails(1);
        assert!(err.contains("removes or rewrites"), "{args:?}: {err}");
        assert_eq!(refs_in(&repo, &server), before);
    }
}

// ---------------------------------------------------------------------------------------------
// Concurrency

/// Several reviewers' processes approving the same subtask at once: the first records it, the
/// others say at once that it is approved (exit 0) and record nothing more.
#[test]
fn parallel_approvals_record_one_review_and_say_so() {
    let repo = flow(&[("limiter.rs", "limit\n"), ("wire.rs", "wire\n")], false);
    let children: Vec<_> = (0..8)
        .map(|_| {
            let mut cmd = repo.command(BIN);
            cmd.args(["approve", "a1"])
                .envs(AS_GRACE.iter().copied())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().expect("spawn approve")
        })
        .collect();
    let runs: Vec<Run> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("wait");
            Run {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        })
        .collect();
    for r in &runs {
        assert_eq!(r.code, 0, "{r:?}");
    }
    assert!(
        runs.iter()
            .filter(|r| r.stdout.contains("approved already"))
            .count()
            >= 7,
        "{runs:?}"
    );
    let flow = repo.aiflow(&["status", FLOW, "--json"]).json();
    assert_eq!(flow["reviews"], 1, "{flow:#}");
    repo.fsck();
}

// ---------------------------------------------------------------------------------------------
// Commits outside flows

/// Where the policy does not take a typed trailer alone outside flows, `approve --range`
/// records the review (a review note on each commit) and the gate binds to it, by content.
#[test]
fn approve_range_records_reviews_of_commits_outside_flows() {
    let repo = TestRepo::new();
    repo.write(
        ".aiflow.toml",
        "schema = 1\n[gate]\nstrict = [\"main\"]\ntyped-trailers = false\n",
    );
    repo.git(&["add", ".aiflow.toml"]);
    repo.git(&["commit", "-q", "-m", "Policy"]);
    repo.aiflow(&["init"]).ok();
    repo.git(&["switch", "-q", "-c", "hotfix"]);
    let fix = commit_file(&repo, "fix.txt", "fixed\n", "Hot fix");
    let typed = repo.git_stdin(
        &["commit-tree", &format!("{fix}^{{tree}}"), "-p", "main"],
        &format!("Hot fix\n\nReviewed-by: {GRACE}\n"),
    );
    let typed = typed.trim();
    // A typed trailer alone does not count here.
    assert_eq!(
        failures(&repo, &[&format!("main..{typed}")]),
        [failure(typed, "unbound-review")]
    );
    // The author cannot approve it; Grace can.
    let err = repo
        .aiflow(&["approve", "--range", "main..hotfix"])
        .fails(1);
    assert!(err.contains("self-review"), "{err}");
    let v = repo
        .aiflow_env(&["approve", "--range", "main..hotfix", "--json"], AS_GRACE)
        .json();
    let approved = repo.rev("hotfix").expect("hotfix");
    assert_eq!(v["new_tip"], approved.as_str(), "{v:#}");
    assert_eq!(
        repo.git(&[
            "log",
            "-1",
            "--format=%(trailers:key=Reviewed-by,valueonly)",
            &approved
        ])
        .trim(),
        GRACE
    );
    let note = repo.git(&["notes", "--ref=aiflow", "show", &approved]);
    assert!(note.contains("kind = \"review\""), "{note}");
    assert_eq!(failures(&repo, &["main..hotfix"]), []);
    // Its content changed afterwards: not covered.
    repo.write("fix.txt", "fixed differently\n");
    repo.git(&["commit", "-q", "-a", "--amend", "--no-edit"]);
    let changed = repo.rev("hotfix").expect("amended");
    assert_eq!(
        failures(&repo, &["main..hotfix"]),
        [failure(&changed, "review-not-recorded")]
    );
}

/// A differential test of merge verification against git's own reference: random histories of
/// merges (edits, additions, deletions, renames of files and of whole directories, mode changes
/// on both sides; conflicts resolved by hand; changes slipped into merges), and for every merge
/// the gate's verdict must be git's: exempt exactly when `git show --remerge-diff` shows
/// nothing.
#[test]
fn merge_verdicts_agree_with_git_remerge_diff_on_random_merges_1() {
    merge_verdicts_agree_both_kinds(0x9e37_79b9_7f4a_7c15);
}

/// As above, another history (one test per history, so that they run in parallel).
#[test]
fn merge_verdicts_agree_with_git_remerge_diff_on_random_merges_2() {
    merge_verdicts_agree_both_kinds(0x2545_f491_4f6c_dd1d);
}

/// As above, a third history.
#[test]
fn merge_verdicts_agree_with_git_remerge_diff_on_random_merges_3() {
    merge_verdicts_agree_both_kinds(0xdead_beef_cafe_f00d);
}

/// The verdicts of one random history agree with git's, and it made both kinds, several of each.
fn merge_verdicts_agree_both_kinds(seed: u64) {
    let (refused, merges) = merge_verdicts_agree(seed);
    let exempt = merges - refused;
    assert!(
        refused >= 3 && exempt >= 3,
        "refused {refused}, exempt {exempt}"
    );
}

/// One random history of 30 merges from `seed`; the numbers of refused merges and of merges.
fn merge_verdicts_agree(mut seed: u64) -> (usize, usize) {
    let repo = TestRepo::new();
    let mut rnd = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let git = |args: &[&str]| repo.git(args);
    for d in 0..4 {
        for f in 0..5 {
            repo.write(
                &format!("d{d}/f{f}.txt"),
                &(0..12)
                    .map(|l| format!("d{d} f{f} line {l}\n"))
                    .collect::<String>(),
            );
        }
    }
    git(&["add", "-A"]);
    git(&[
        "commit",
        "-q",
        "-m",
        "Base\n\nReviewed-by: Grace Hopper <grace@example.com>",
    ]);
    let start = repo.rev("HEAD").expect("base");
    let files = |repo: &TestRepo| -> Vec<String> {
        repo.git(&["ls-files"]).lines().map(str::to_owned).collect()
    };
    let commit = |msg: &str| {
        git(&["add", "-A"]);
        repo.git_run(&[
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            &format!("{msg}\n\nReviewed-by: Grace Hopper <grace@example.com>"),
        ])
        .ok();
    };
    // One random change on the current branch.
    let change = |rnd: &mut dyn FnMut(u64) -> u64| {
        let all = files(&repo);
        // Half the changes touch the first directory, where both sides meet.
        let hot: Vec<&String> = all.iter().filter(|f| f.starts_with("d0/")).collect();
        let pick = if rnd(2) == 0 && !hot.is_empty() {
            hot[rnd(hot.len() as u64) as usize]
        } else {
            &all[rnd(all.len() as u64) as usize]
        };
        match rnd(7) {
            0..=2 => {
                let path = repo.path.join(pick);
                let mut lines: Vec<String> = std::fs::read_to_string(&path)
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_owned)
                    .collect();
                if lines.is_empty() {
                    lines.push(String::new());
                }
                let at = rnd(lines.len() as u64) as usize;
                lines[at] = format!("changed {}", rnd(1000));
                std::fs::write(&path, lines.join("\n") + "\n").expect("write");
            }
            3 => {
                repo.write(&format!("d{}/new{}.txt", rnd(4), rnd(50)), "new\n");
            }
            4 => {
                git(&["rm", "-q", pick]);
            }
            5 => {
                let to = format!("d{}/moved{}.txt", rnd(5), rnd(50));
                if !repo.path.join(&to).exists() {
                    std::fs::create_dir_all(repo.path.join(&to).parent().expect("dir"))
                        .expect("mkdir");
                    git(&["mv", pick, &to]);
                }
            }
            _ => {
                use std::os::unix::fs::PermissionsExt;
                let p = repo.path.join(pick);
                let mode = std::fs::metadata(&p).expect("meta").permissions().mode();
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode ^ 0o111))
                    .expect("chmod");
            }
        }
        commit("Change");
    };
    for k in 0..30 {
        git(&["switch", "-q", "-c", &format!("side{k}"), "main"]);
        for _ in 0..1 + rnd(3) {
            change(&mut rnd);
        }
        if rnd(8) == 0 {
            // A whole directory renamed on the side.
            let d = rnd(4);
            if repo.path.join(format!("d{d}")).exists() && !repo.path.join(format!("e{d}")).exists()
            {
                git(&["mv", &format!("d{d}"), &format!("e{d}")]);
                commit("Rename a directory");
            }
        }
        git(&["switch", "-q", "main"]);
        for _ in 0..rnd(3) {
            change(&mut rnd);
        }
        let r = repo.git_run(&["merge", "-q", "--no-ff", "--no-edit", &format!("side{k}")]);
        if r.code != 0 {
            // A conflict: resolved by hand, taking one side's text or writing a third.
            for path in repo
                .git(&["diff", "--name-only", "--diff-filter=U"])
                .lines()
            {
                match rnd(3) {
                    0 => {
                        let _ = repo.git_run(&["checkout", "--ours", "--", path]);
                    }
                    1 => {
                        let _ = repo.git_run(&["checkout", "--theirs", "--", path]);
                    }
                    _ => {
                        repo.write(path, "resolved by hand\n");
                    }
                }
            }
            git(&["add", "-A"]);
            git(&["commit", "-q", "--no-edit"]);
        } else if rnd(5) == 0 {
            // A change slipped into a clean merge.
            repo.write(&format!("d{}/slipped.txt", rnd(4)), "slipped\n");
            git(&["add", "-A"]);
            git(&["commit", "-q", "--amend", "--no-edit"]);
        }
    }
    let merges: Vec<String> = repo
        .git(&["rev-list", "--merges", &format!("{start}..main")])
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(merges.len(), 30);
    let mut expected: Vec<(String, String)> = merges
        .iter()
        .filter(|m| !remerge_diff(&repo, m).trim().is_empty())
        .map(|m| failure(m, "merge-not-clean"))
        .collect();
    let mut got = failures(&repo, &[&format!("{start}..main")]);
    expected.sort();
    got.sort();
    // On a disagreement, what it takes to see why.
    let explain = |what: &str, m: &str| {
        let parents = repo.git(&["rev-list", "--parents", "-1", m]);
        let p: Vec<&str> = parents.split_whitespace().collect();
        let raw = |range: &str| repo.git(&["diff", "--raw", "--no-renames", range]);
        eprintln!(
            "{what}: {m}\nparents {parents}remerge-diff:\n{}\nmerge-tree: {}\ntree: {}bases: {}ours...theirs:\n{}theirs...ours:\n{}",
            remerge_diff(&repo, m),
            repo.git_run(&["merge-tree", "--write-tree", p[1], p[2]])
                .stdout,
            repo.git(&["rev-parse", &format!("{m}^{{tree}}")]),
            repo.git(&["merge-base", "--all", p[1], p[2]]),
            raw(&format!("{}...{}", p[1], p[2])),
            raw(&format!("{}...{}", p[2], p[1])),
        );
    };
    for (m, _) in expected.iter().filter(|g| !got.contains(g)) {
        explain("exempt, but not clean for git", m);
    }
    for (m, _) in got.iter().filter(|g| !expected.contains(g)) {
        explain("refused, but clean for git", m);
    }
    assert_eq!(got, expected, "seed {seed:#x}");
    (expected.len(), merges.len())
}

/// Every class tried against a server with the hook, pushed past the client's own hooks
/// (`--no-verify`): each refused with its reason code, and nothing on the server moves.
#[test]
fn the_server_refuses_each_class_and_moves_nothing() {
    let repo = flow(&[("limiter.rs", "limit\n")], true);
    let (server, _daemon) = served(&repo);
    let approved = repo.rev(SUBTASK).expect("approved");
    let anchor = repo.rev(INTEGRATION).expect("anchor");
    let grace = format!("Reviewed-by: {GRACE}");
    let push_refused = |refspecs: &[&str], code: &str| {
        let before = refs_in(&repo, &server);
        let mut args = vec!["push", "--no-verify", "origin"];
        args.extend(refspecs);
        let err = repo.git_run(&args).fails(1);
        assert!(err.contains("remote: aiflow:"), "{refspecs:?}: {err}");
        assert!(
            err.contains(code),
            "{refspecs:?}: expected {code} in:\n{err}"
        );
        assert_eq!(refs_in(&repo, &server), before, "{refspecs:?} moved refs");
    };
    let commit_tree = |parents: &[&str], tree: &str, msg: &str| -> String {
        let mut args = vec!["commit-tree", tree];
        for p in parents {
            args.extend(["-p", p]);
        }
        repo.git_stdin(&args, msg).trim().to_owned()
    };
    let tree_of = |rev: &str| {
        repo.git(&["rev-parse", &format!("{rev}^{{tree}}")])
            .trim()
            .to_owned()
    };

    // A typed trailer alone, on the integration branch.
    let typed = commit_tree(
        &[&anchor],
        &tree_of(&approved),
        &format!("Typed\n\n{grace}\n"),
    );
    push_refused(
        &[&format!("{typed}:refs/heads/{INTEGRATION}")],
        "[unbound-review]",
    );
    // The approved work with a file slipped in.
    let mut slipped_tree = repo.git(&["ls-tree", &approved]);
    let blob = repo.git_stdin(&["hash-object", "-w", "--stdin"], "slipped\n");
    slipped_tree.push_str(&format!("100644 blob {}\tslipped.txt\n", blob.trim()));
    let slipped_tree = repo.git_stdin(&["mktree"], &slipped_tree);
    // Subtask trailers on content no approval covers (the same trailers on the approved
    // content would be that content approved: reworded or re-parented work stays approved).
    let forged = commit_tree(
        &[&anchor],
        slipped_tree.trim(),
        &format!("Forged\n\nAiflow-Flow: rate-limit\nAiflow-Subtask: a1\n{grace}\n"),
    );
    push_refused(
        &[&format!("{forged}:refs/heads/{INTEGRATION}")],
        "[review-not-recorded]",
    );
    // The approved change amended with another byte.
    repo.git(&["switch", "-q", SUBTASK]);
    repo.write("limiter.rs", "limit \n");
    repo.git(&["commit", "-q", "-a", "--amend", "--no-edit"]);
    let amended = repo.rev("HEAD").expect("amended");
    repo.git(&["reset", "-q", "--hard", &approved]);
    repo.git(&["switch", "-q", INTEGRATION]);
    push_refused(
        &[&format!("{amended}:refs/heads/{INTEGRATION}")],
        "[review-not-recorded]",
    );
    // A merge of the approved work with the same change slipped in.
    let evil = commit_tree(&[&anchor, &approved], slipped_tree.trim(), "Merge\n");
    push_refused(
        &[&format!("{evil}:refs/heads/{INTEGRATION}")],
        "[merge-not-clean]",
    );
    // Deleting the protected branch; then creating another protected one at unreviewed work.
    push_refused(
        &[&format!(":refs/heads/{INTEGRATION}")],
        "deleting aiflow/rate-limit is refused",
    );
    push_refused(
        &[&format!("{typed}:refs/heads/aiflow/another")],
        "[unbound-review]",
    );
    // A change to the policy on the trunk, with a review trailer anyone could write.
    let policy_blob = repo.git_stdin(
        &["hash-object", "-w", "--stdin"],
        "schema = 1\n[gate]\nallow-delete = [\"aiflow/*\"]\n",
    );
    let mut relaxed = repo.git(&["ls-tree", "main"]);
    relaxed.push_str(&format!(
        "100644 blob {}\t.aiflow.toml\n",
        policy_blob.trim()
    ));
    let relaxed = repo.git_stdin(&["mktree"], &relaxed);
    let main = repo.rev("main").expect("main");
    let relax = commit_tree(&[&main], relaxed.trim(), &format!("Relax\n\n{grace}\n"));
    push_refused(&[&format!("{relax}:refs/heads/main")], "[unbound-review]");
    // A replacement ref.
    repo.git(&["replace", &typed, &approved]);
    push_refused(&["refs/replace/*:refs/replace/*"], "refs/replace/");
    // The legitimate path: the approved work, merged cleanly.
    repo.git(&["merge", "-q", "--no-ff", "--no-edit", SUBTASK]);
    repo.git(&["push", "-q", "--no-verify", "origin", INTEGRATION]);
    assert_eq!(
        git_at(&repo, &server, &["rev-parse", INTEGRATION]).trim(),
        repo.rev(INTEGRATION).expect("tip")
    );
}

/// On the trunk, ordinary work outside flows is not the gate's business, but a change to what
/// governs the gate is: a commit changing the policy or the allowed-signers file needs a review,
/// however it arrives.
#[test]
fn a_change_to_the_policy_on_the_trunk_needs_a_review() {
    let repo = TestRepo::new();
    repo.write(
        ".aiflow.toml",
        "schema = 1\n[gate]\nreviewers = [\"grace@example.com\"]\n",
    );
    repo.git(&["add", ".aiflow.toml"]);
    repo.git(&["commit", "-q", "-m", "Policy"]);
    repo.aiflow(&["init"]).ok();
    repo.aiflow(&["hooks", "install"]).ok();
    // Ordinary work: allowed.
    commit_file(&repo, "notes.txt", "x\n", "Ordinary work");
    let ordinary = repo.rev("main");
    // Loosening the policy without a review: refused.
    repo.write(
        ".aiflow.toml",
        "schema = 1\n[gate]\nallow-self-review = true\n",
    );
    repo.git(&["add", ".aiflow.toml"]);
    let err = repo
        .git_run(&["commit", "-q", "-m", "Relax the gate"])
        .fails(128);
    assert!(err.contains("[no-review]"), "{err}");
    assert_eq!(repo.rev("main"), ordinary);
    // Nor with a review trailer written into the message: anyone can write one.
    repo.git(&["switch", "-q", "-c", "relax"]);
    let msg = format!("Relax the gate\n\nReviewed-by: {GRACE}");
    repo.git(&["commit", "-q", "-m", &msg]);
    let v = check_in(&repo, &repo.path, &["main..relax"]);
    assert_eq!(v["failures"][0]["reason"], "unbound-review", "{v:#}");
    assert!(
        v["failures"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("governs the gate")),
        "{v:#}"
    );
    repo.git(&["switch", "-q", "main"]);
    let err = repo
        .git_run(&["merge", "-q", "--ff-only", "relax"])
        .fails(128);
    assert!(err.contains("[unbound-review]"), "{err}");
    assert_eq!(repo.rev("main"), ordinary);
    // Recorded by someone the current policy accepts: allowed.
    repo.git(&["reset", "-q", "--hard", "main"]);
    repo.git(&["switch", "-q", "relax"]);
    repo.git(&["reset", "-q", "--soft", "HEAD~"]);
    repo.git(&["commit", "-q", "-m", "Relax the gate"]);
    repo.aiflow_env(&["approve", "--range", "main..relax"], AS_GRACE)
        .ok();
    repo.git(&["switch", "-q", "main"]);
    repo.git(&["merge", "-q", "--ff-only", "relax"]);
    assert_eq!(repo.rev("main"), repo.rev("relax"));
    assert_ne!(repo.rev("main"), ordinary);
}
