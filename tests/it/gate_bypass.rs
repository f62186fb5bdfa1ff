//! The review gate's bypass matrix: every way git can move a protected branch, tried in a real
//! repository with the gate's hooks installed (and on a real server behind `git daemon`). Each
//! path is refused while a commit lacks a valid review and goes through once every commit carries
//! one.
//!
//! A refusal asserts the exit code, that the protected branch did not move, that stderr has
//! `aiflow:` lines naming the offending commit by its 12-hex prefix (and not the reviewed one),
//! and that `git log --format=%(trailers:key=Reviewed-by,valueonly)` agrees about which commits
//! carry a review trailer. `git aiflow check` is cross-checked as the same verifier.

use crate::harness::{AS_GRACE, BIN, GRACE, GitDaemon, Run, TestRepo};
use std::path::{Path, PathBuf};
use std::process::Stdio;

const INTEGRATION: &str = "aiflow/rate-limit";
const INTEGRATION_REF: &str = "refs/heads/aiflow/rate-limit";
const SUBTASK: &str = "aiflow/rate-limit--a1-limiter";
/// What the subtask brings into the integration branch.
const INCOMING: &str = "aiflow/rate-limit..aiflow/rate-limit--a1-limiter";

const ADA: &str = "Ada Lovelace <ada@example.com>";
const BOB: &str = "Bob <bob@example.com>";

fn reviewed_by(who: &str) -> String {
    format!("Reviewed-by: {who}")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn short(id: &str) -> &str {
    &id[..12]
}

/// Run `program` with the hermetic environment in `dir`.
fn run_in(repo: &TestRepo, dir: &Path, program: &str, args: &[&str]) -> Run {
    Run::of(repo.command_in(program, dir).args(args))
}

/// Run git in `dir`.
fn git_in(repo: &TestRepo, dir: &Path, args: &[&str]) -> Run {
    run_in(repo, dir, "git", args)
}

/// `git rev-parse --verify -q <rev>` in `dir`.
fn rev_in(repo: &TestRepo, dir: &Path, rev: &str) -> Option<String> {
    let r = git_in(repo, dir, &["rev-parse", "--verify", "-q", rev]);
    (r.code == 0).then(|| r.stdout.trim().to_owned())
}

/// The integration branch's tip.
fn tip(repo: &TestRepo) -> String {
    repo.rev(INTEGRATION).expect("integration branch exists")
}

/// A repository with the rate-limit flow and the gate's client hooks; HEAD on main.
fn gated() -> TestRepo {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.aiflow(&["hooks", "install"]).ok();
    repo
}

/// Commit `file` (its content is the subject) on the current branch; every paragraph is one
/// more `-m`. Returns the new commit.
#[track_caller]
fn commit(repo: &TestRepo, file: &str, subject: &str, paragraphs: &[&str]) -> String {
    commit_in(repo, &repo.path, file, subject, paragraphs)
}

#[track_caller]
fn commit_in(
    repo: &TestRepo,
    dir: &Path,
    file: &str,
    subject: &str,
    paragraphs: &[&str],
) -> String {
    let path = dir.join(file);
    std::fs::write(&path, format!("{subject}\n")).expect("write");
    git_in(repo, dir, &["add", file]).ok();
    let mut args = vec!["commit", "-q", "-m", subject];
    for p in paragraphs {
        args.extend(["-m", p]);
    }
    git_in(repo, dir, &args).ok();
    rev_in(repo, dir, "HEAD").expect("HEAD")
}

/// A gated repository whose subtask `a1` ("Limiter", branch `SUBTASK`) holds two commits made by
/// hand: `first` ("Add limiter", always approved by Grace with `git aiflow approve`) and
/// `second` ("Wire limiter", approved with it only when `reviewed`). HEAD is on the integration
/// branch.
struct Flow {
    repo: TestRepo,
    first: String,
    second: String,
}

/// The second subtask's branch: approved work that is not the subtask under test.
const OTHER: &str = "aiflow/rate-limit--b2-shared-work";

fn flow_with_subtask(reviewed: bool) -> Flow {
    let repo = gated();
    repo.plan_subtasks(&[("a1", "Limiter"), ("b2", "Shared work")]);
    repo.aiflow(&["start", "a1"]).ok();
    commit(&repo, "limiter.rs", "Add limiter", &[]);
    commit(&repo, "wire.rs", "Wire limiter", &[]);
    if reviewed {
        repo.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
    } else {
        repo.aiflow_env(&["approve", "a1", "--upto", "HEAD~1"], AS_GRACE)
            .ok();
    }
    let first = repo.rev(&format!("{SUBTASK}~1")).expect("first");
    let second = repo.rev(SUBTASK).expect("second");
    repo.git(&["switch", "-q", INTEGRATION]);
    Flow {
        repo,
        first,
        second,
    }
}

/// A commit writing `file` on subtask b2's branch, approved by Grace: reviewed work that can
/// enter the integration branch (by `git aiflow integrate b2`, or by any path that keeps its
/// content, such as a cherry-pick onto the same files). HEAD comes back where it was.
#[track_caller]
fn approved_other(repo: &TestRepo, file: &str, subject: &str) -> String {
    let head = repo.git(&["symbolic-ref", "--short", "HEAD"]);
    repo.aiflow(&["start", "b2"]).ok();
    commit(repo, file, subject, &[]);
    repo.aiflow_env(&["approve", "b2"], AS_GRACE).ok();
    let id = repo.rev(OTHER).expect("b2");
    repo.git(&["switch", "-q", head.trim()]);
    id
}

impl Flow {
    /// git agrees: `first` carries Grace's trailer, `second` carries it iff `reviewed`.
    #[track_caller]
    fn assert_git_reviews(&self, dir: &Path, reviewed: bool) {
        let second = if reviewed { GRACE } else { "" };
        assert_git_reviews(
            &self.repo,
            dir,
            &format!("{}^..{}", self.first, self.second),
            &[(&self.second, second), (&self.first, GRACE)],
        );
    }

    /// The refusal names `second` and not `first`.
    #[track_caller]
    fn assert_refused(&self, stderr: &str) {
        assert_refusal(stderr, &[&self.second], &[&self.first]);
    }
}

/// What git reads as the `Reviewed-by` values of each commit of `range`, newest first.
fn git_reviews(repo: &TestRepo, dir: &Path, range: &str) -> Vec<(String, String)> {
    let out = git_in(
        repo,
        dir,
        &[
            "log",
            "--format=%H %(trailers:key=Reviewed-by,valueonly,separator=%x2C)",
            range,
        ],
    )
    .ok();
    out.lines()
        .map(|l| {
            let (id, values) = l.split_once(' ').expect("id and values");
            (id.to_owned(), values.trim().to_owned())
        })
        .collect()
}

#[track_caller]
fn assert_git_reviews(repo: &TestRepo, dir: &Path, range: &str, expected: &[(&str, &str)]) {
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(id, v)| (id.to_string(), v.to_string()))
        .collect();
    assert_eq!(
        git_reviews(repo, dir, range),
        expected,
        "git log's Reviewed-by trailers of {range}"
    );
}

/// stderr's lines as a terminal shows them: progress output ending in `\r` (`Rebasing (1/1)`)
/// is overwritten by what follows.
fn stderr_lines(stderr: &str) -> impl Iterator<Item = &str> {
    stderr
        .lines()
        .map(|l| l.rsplit('\r').next().unwrap_or_default())
}

/// stderr has `aiflow:` lines (`remote: aiflow:` from a server) naming every `offending` commit
/// and no `passing` one.
#[track_caller]
fn assert_refusal(stderr: &str, offending: &[&str], passing: &[&str]) {
    let lines: Vec<&str> = stderr_lines(stderr)
        .map(|l| l.strip_prefix("remote: ").unwrap_or(l))
        .filter(|l| l.starts_with("aiflow:"))
        .collect();
    assert!(!lines.is_empty(), "no aiflow: lines in stderr:\n{stderr}");
    assert!(
        lines.iter().any(|l| l.contains("without a valid review")),
        "no refusal headline in stderr:\n{stderr}"
    );
    for id in offending {
        assert!(
            lines.iter().any(|l| l.contains(short(id))),
            "the refusal does not name {}:\n{stderr}",
            short(id)
        );
    }
    for id in passing {
        assert!(
            !stderr.contains(short(id)),
            "the refusal names the reviewed commit {}:\n{stderr}",
            short(id)
        );
    }
}

/// `git aiflow check --json [args]` in `dir`: the failures as (commit, reason code), with the
/// exit code checked against them.
#[track_caller]
fn check_failures_in(repo: &TestRepo, dir: &Path, args: &[&str]) -> Vec<(String, String)> {
    let mut all = vec!["check", "--json"];
    all.extend(args);
    let r = run_in(repo, dir, BIN, &all);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| {
        panic!(
            "check --json printed no JSON ({e}):\n{}\n{}",
            r.stdout, r.stderr
        )
    });
    let failures: Vec<(String, String)> = v["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| {
            (
                f["commit"].as_str().expect("commit").to_owned(),
                f["reason"].as_str().expect("reason").to_owned(),
            )
        })
        .collect();
    let expected_code = if failures.is_empty() { 0 } else { 1 };
    assert_eq!(r.code, expected_code, "check exit code:\n{}", r.stdout);
    assert_eq!(v["ok"], failures.is_empty(), "check ok:\n{}", r.stdout);
    failures
}

#[track_caller]
fn check_failures(repo: &TestRepo, args: &[&str]) -> Vec<(String, String)> {
    check_failures_in(repo, &repo.path, args)
}

fn failure(id: &str, reason: &str) -> (String, String) {
    (id.to_owned(), reason.to_owned())
}

/// The `aiflow:   <12 hex> …` commit lines of a refusal, as full ids (for commits the refused
/// command itself made, whose ids the test cannot know beforehand).
#[track_caller]
fn refused_ids(repo: &TestRepo, stderr: &str) -> Vec<String> {
    stderr_lines(stderr)
        .filter_map(|l| l.strip_prefix("aiflow:   "))
        .map(|rest| {
            let hex = rest.split(' ').next().expect("id");
            repo.rev(&format!("{hex}^{{commit}}"))
                .unwrap_or_else(|| panic!("{hex} is not a commit"))
        })
        .collect()
}

// 1. `git merge --no-ff`: pre-merge-commit.

#[test]
fn merge_no_ff_of_unreviewed_subtask_is_refused() {
    let f = flow_with_subtask(false);
    let repo = &f.repo;
    f.assert_git_reviews(&repo.path, false);
    let before = tip(repo);
    let err = repo
        .git_run(&["merge", "--no-ff", "--no-edit", SUBTASK])
        .fails(1);
    f.assert_refused(&err);
    assert!(err.contains("Not committing merge"), "{err}");
    assert_eq!(tip(repo), before);
    assert_eq!(repo.rev("MERGE_HEAD").as_deref(), Some(f.second.as_str()));
    // The same verifier, on the merge in progress and on the explicit range.
    assert_eq!(check_failures(repo, &[]), [failure(&f.second, "no-review")]);
    assert_eq!(
        check_failures(repo, &[INCOMING]),
        [failure(&f.second, "no-review")]
    );
    repo.git(&["merge", "--abort"]);
    assert_eq!(repo.rev("MERGE_HEAD"), None);
    assert_eq!(tip(repo), before);
}

#[test]
fn merge_no_ff_of_reviewed_subtask_succeeds() {
    let f = flow_with_subtask(true);
    let repo = &f.repo;
    f.assert_git_reviews(&repo.path, true);
    assert_eq!(check_failures(repo, &[INCOMING]), []);
    let before = tip(repo);
    repo.git(&["merge", "--no-ff", "--no-edit", SUBTASK]);
    assert_eq!(repo.rev("aiflow/rate-limit^1"), Some(before));
    assert_eq!(repo.rev("aiflow/rate-limit^2"), Some(f.second.clone()));
}

// 2. Fast-forward `git merge`: pre-merge-commit does not run; reference-transaction refuses.

#[test]
fn merge_fast_forward_of_unreviewed_subtask_is_refused() {
    let f = flow_with_subtask(false);
    let repo = &f.repo;
    f.assert_git_reviews(&repo.path, false);
    let before = tip(repo);
    let err = repo.git_run(&["merge", SUBTASK]).fails(128);
    f.assert_refused(&err);
    assert!(err.contains("ref updates aborted by hook"), "{err}");
    assert!(!err.contains("Not committing merge"), "{err}");
    assert_eq!(tip(repo), before);
    assert_eq!(repo.rev("HEAD"), Some(before.clone()));
    // Also with --ff-only.
    repo.git(&["reset", "-q", "--hard"]);
    let err = repo.git_run(&["merge", "--ff-only", SUBTASK]).fails(128);
    f.assert_refused(&err);
    assert_eq!(tip(repo), before);
}

#[test]
fn merge_fast_forward_of_reviewed_subtask_succeeds() {
    let f = flow_with_subtask(true);
    let repo = &f.repo;
    f.assert_git_reviews(&repo.path, true);
    repo.git(&["merge", "--ff-only", SUBTASK]);
    assert_eq!(tip(repo), f.second);
}

// 3. `git pull` in a clone: fast-forward, merge, rebase.

/// A clone of `repo` in `clone`, on the integration branch, with the flows (notes are not
/// cloned: fetched as `git aiflow sync` would) and the gate's hooks (hooks are not cloned).
fn clone_on_integration(repo: &TestRepo) -> PathBuf {
    let dir = repo.sibling("clone");
    repo.git(&["clone", "-q", path_str(&repo.path), path_str(&dir)]);
    git_in(
        repo,
        &dir,
        &[
            "fetch",
            "-q",
            "origin",
            "refs/notes/aiflow:refs/notes/aiflow",
        ],
    )
    .ok();
    git_in(repo, &dir, &["switch", "-q", INTEGRATION]).ok();
    run_in(repo, &dir, BIN, &["hooks", "install"]).ok();
    dir
}

#[test]
fn pull_fast_forward_of_unreviewed_subtask_is_refused() {
    let f = flow_with_subtask(false);
    let repo = &f.repo;
    let clone = clone_on_integration(repo);
    let before = rev_in(repo, &clone, INTEGRATION);
    let err = git_in(repo, &clone, &["pull", "origin", SUBTASK]).fails(128);
    f.assert_refused(&err);
    assert!(err.contains("ref updates aborted by hook"), "{err}");
    assert_eq!(rev_in(repo, &clone, INTEGRATION), before);
    f.assert_git_reviews(&clone, false);
}

#[test]
fn pull_merge_of_unreviewed_subtask_is_refused() {
    let f = flow_with_subtask(false);
    let repo = &f.repo;
    let clone = clone_on_integration(repo);
    let before = rev_in(repo, &clone, INTEGRATION);
    let err = git_in(
        repo,
        &clone,
        &["pull", "--no-ff", "--no-edit", "origin", SUBTASK],
    )
    .fails(1);
    f.assert_refused(&err);
    assert!(err.contains("Not committing merge"), "{err}");
    assert_eq!(rev_in(repo, &clone, INTEGRATION), before);
    f.assert_git_reviews(&clone, false);
    git_in(repo, &clone, &["merge", "--abort"]).ok();
    assert_eq!(rev_in(repo, &clone, INTEGRATION), before);
}

#[test]
fn pull_rebase_onto_unreviewed_subtask_is_refused() {
    let f = flow_with_subtask(false);
    let repo = &f.repo;
    let other = approved_other(repo, "local.rs", "Local work");
    let clone = clone_on_integration(repo);
    let before = rev_in(repo, &clone, INTEGRATION).expect("tip");
    // Nothing local to replay: the rebase fast-forwards.
    let err = git_in(repo, &clone, &["pull", "--rebase", "origin", SUBTASK]).fails(128);
    f.assert_refused(&err);
    assert_eq!(rev_in(repo, &clone, INTEGRATION).as_deref(), Some(&*before));
    git_in(repo, &clone, &["reset", "-q", "--hard"]).ok();

    // A reviewed local commit (approved work, cherry-picked: its content keeps its review)
    // replayed on top of the subtask: refused at the final ref update, for the subtask alone.
    git_in(repo, &clone, &["cherry-pick", &other]).ok();
    let local = rev_in(repo, &clone, "HEAD").expect("picked");
    let err = git_in(repo, &clone, &["pull", "--rebase", "origin", SUBTASK]).fails(128);
    f.assert_refused(&err);
    assert!(!err.contains(short(&local)), "{err}");
    assert_eq!(rev_in(repo, &clone, INTEGRATION), Some(local.clone()));
    f.assert_git_reviews(&clone, false);
    git_in(repo, &clone, &["rebase", "--abort"]).ok();
    assert_eq!(rev_in(repo, &clone, INTEGRATION), Some(local.clone()));
    assert_eq!(
        git_in(repo, &clone, &["symbolic-ref", "HEAD"]).ok().trim(),
        INTEGRATION_REF
    );
}

#[test]
fn pull_of_reviewed_subtask_succeeds_by_fast_forward_merge_and_rebase() {
    let f = flow_with_subtask(true);
    let repo = &f.repo;
    let other = approved_other(repo, "local.rs", "Local work");
    let clone = clone_on_integration(repo);
    f.assert_git_reviews(&clone, true);
    let anchor = rev_in(repo, &clone, INTEGRATION).expect("tip");

    git_in(repo, &clone, &["pull", "--ff-only", "origin", SUBTASK]).ok();
    assert_eq!(rev_in(repo, &clone, INTEGRATION), Some(f.second.clone()));

    // Moving the branch back brings nothing in: allowed.
    git_in(repo, &clone, &["reset", "-q", "--hard", &anchor]).ok();
    git_in(
        repo,
        &clone,
        &["pull", "--no-ff", "--no-edit", "origin", SUBTASK],
    )
    .ok();
    assert_eq!(
        rev_in(repo, &clone, "HEAD^2"),
        Some(f.second.clone()),
        "a merge commit"
    );

    // Approved work cherry-picked, then replayed by the rebase onto the subtask: a pure
    // re-parent of the same change keeps its review.
    git_in(repo, &clone, &["reset", "-q", "--hard", &anchor]).ok();
    git_in(repo, &clone, &["cherry-pick", &other]).ok();
    git_in(repo, &clone, &["pull", "--rebase", "origin", SUBTASK]).ok();
    assert_eq!(rev_in(repo, &clone, "HEAD^"), Some(f.second.clone()));
    assert_eq!(
        git_in(repo, &clone, &["log", "-1", "--format=%s"])
            .ok()
            .trim(),
        "Local work"
    );
}

// 4. `git cherry-pick`.

#[test]
fn cherry_pick_of_unreviewed_commit_is_refused() {
    let f = flow_with_subtask(false);
    let repo = &f.repo;
    f.assert_git_reviews(&repo.path, false);
    let before = tip(repo);
    let err = repo.git_run(&["cherry-pick", &f.second]).fails(128);
    assert!(err.contains("ref updates aborted by hook"), "{err}");
    assert_eq!(tip(repo), before);
    // The offending commit is the copy cherry-pick made: on the integration branch's tip, with
    // the subject of the original and no review trailer.
    let ids = refused_ids(repo, &err);
    assert_eq!(ids.len(), 1, "{err}");
    assert_refusal(&err, &[&ids[0]], &[&f.first]);
    assert_eq!(repo.rev(&format!("{}^", ids[0])), Some(before.clone()));
    assert_eq!(
        repo.git(&["log", "-1", "--format=%s", &ids[0]]).trim(),
        "Wire limiter"
    );
    assert_git_reviews(
        repo,
        &repo.path,
        &format!("{}^..{}", ids[0], ids[0]),
        &[(&ids[0], "")],
    );
    assert_eq!(
        check_failures(repo, &[&format!("{before}..{}", ids[0])]),
        [failure(&ids[0], "no-review")]
    );
    repo.git(&["cherry-pick", "--abort"]);
    assert_eq!(tip(repo), before);
}

#[test]
fn cherry_pick_of_reviewed_commit_succeeds() {
    let f = flow_with_subtask(true);
    let repo = &f.repo;
    let before = tip(repo);
    repo.git(&["cherry-pick", &f.second]);
    let after = tip(repo);
    assert_eq!(repo.rev("aiflow/rate-limit^"), Some(before.clone()));
    assert_eq!(
        repo.git(&["log", "-1", "--format=%ae", &after]).trim(),
        "ada@example.com"
    );
    assert_git_reviews(
        repo,
        &repo.path,
        &format!("{before}..{after}"),
        &[(&after, GRACE)],
    );
    assert_eq!(check_failures(repo, &[&format!("{before}..{after}")]), []);
}

// 5-7. `git update-ref`, `git branch -f`, `git reset --hard`.

#[test]
fn update_ref_to_unreviewed_commit_is_refused() {
    let f = flow_with_subtask(false);
    let repo = &f.repo;
    f.assert_git_reviews(&repo.path, false);
    let before = tip(repo);
    let err = repo
        .git_run(&["update-ref", INTEGRATION_REF, &f.second])
        .fails(128);
    f.assert_refused(&err);
    assert_eq!(tip(repo), before);
    // With the old value given, and through --stdin.
    let err = repo
        .git_run(&["update-ref", INTEGRATION_REF, &f.second, &before])
        .fails(128);
    f.assert_refused(&err);
    let mut cmd = repo.command("git");
    cmd.args(["update-ref", "--stdin"]).stdin(Stdio::piped());
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "update {INTEGRATION_REF} {}", f.second).expect("write");
    }
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(128));
    f.assert_refused(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(tip(repo), before);
}

/// The hook lets a transaction of refs it never judges (tags, notes, `ORIG_HEAD`) through without
/// opening the repository; one that also moves a protected branch is judged whole, wherever the
/// branch stands in it, and nothing in it moves.
#[test]
fn a_transaction_of_a_tag_and_a_protected_branch_is_judged_whole() {
    let f = flow_with_subtask(false);
    let repo = &f.repo;
    let before = tip(repo);
    let stdin_update = |lines: &str| {
        let mut child = repo
            .command("git")
            .args(["update-ref", "--stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(lines.as_bytes()).expect("write");
        }
        child.wait_with_output().expect("wait")
    };
    for lines in [
        format!(
            "update refs/tags/t1 {s}\nupdate ORIG_HEAD {s}\nupdate {INTEGRATION_REF} {s}\n",
            s = f.second
        ),
        format!(
            "update {INTEGRATION_REF} {s}\nupdate refs/tags/t1 {s}\n",
            s = f.second
        ),
    ] {
        let out = stdin_update(&lines);
        assert_eq!(out.status.code(), Some(128), "{lines}");
        f.assert_refused(&String::from_utf8_lossy(&out.stderr));
        assert_eq!(tip(repo), before);
        assert_eq!(repo.rev("refs/tags/t1"), None, "half a transaction moved");
    }
    // Refs the gate does not judge alone: let through.
    let out = stdin_update(&format!("update refs/tags/t1 {}\n", f.second));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(repo.rev("refs/tags/t1").as_deref(), Some(f.second.as_str()));
}

#[test]
fn update_ref_to_reviewed_commit_succeeds() {
    let f = flow_with_subtask(true);
    let repo = &f.repo;
    repo.git(&["update-ref", INTEGRATION_REF, &f.second]);
    assert_eq!(tip(repo), f.second);
}

#[test]
fn branch_force_to_unreviewed_commit_is_refused() {
    let f = flow_with_subtask(false);
    let repo = &f.repo;
    f.assert_git_reviews(&repo.path, false);
    repo.git(&["switch", "-q", "main"]);
    let before = tip(repo);
    let err = repo
        .git_run(&["branch", "-f", INTEGRATION, SUBTASK])
        .fails(128);
    f.assert_refused(&err);
    assert_eq!(tip(repo), before);
}

#[test]
fn branch_force_to_reviewed_commit_succeeds() {
    let f = flow_with_subtask(true);
    let repo = &f.repo;
    repo.git(&["switch", "-q", "main"]);
    repo.git(&["branch", "-f", INTEGRATION, SUBTASK]);
    assert_eq!(tip(repo), f.second);
}

#[test]
fn reset_hard_to_unreviewed_commit_is_refused() {
    let f = flow_with_subtask(false);
    let repo = &f.repo;
    f.assert_git_reviews(&repo.path, false);
    let before = tip(repo);
    let err = repo.git_run(&["reset", "--hard", &f.second]).fails(128);
    f.assert_refused(&err);
    assert_eq!(tip(repo), before);
    assert_eq!(repo.rev("HEAD"), Some(before.clone()));
    // Soft and mixed resets move the branch just the same.
    for mode in ["--soft", "--mixed"] {
        let err = repo.git_run(&["reset", "-q", mode, &f.second]).fails(128);
        f.assert_refused(&err);
        assert_eq!(tip(repo), before, "{mode}");
    }
}

#[test]
fn reset_hard_to_reviewed_commit_succeeds() {
    let f = flow_with_subtask(true);
    let repo = &f.repo;
    repo.git(&["reset", "-q", "--hard", &f.second]);
    assert_eq!(tip(repo), f.second);
}

// 8. `git commit` finishing a conflicted merge: pre-commit, then reference-transaction. A
// conflict resolved by hand on the protected branch is content nobody reviewed: refused even when
// every commit merged is approved; the conflict is resolved on the subtask branch instead.

/// A conflict between the integration branch (subtask b2's approved work, integrated) and subtask
/// a1's branch, both writing `shared.txt`; the merge is stopped on the conflict, resolved and
/// staged. With `reviewed`, a1's new commit is approved too.
fn conflicted_merge(reviewed: bool) -> (Flow, String) {
    let f = flow_with_subtask(reviewed);
    let repo = &f.repo;
    approved_other(repo, "shared.txt", "Shared on integration");
    repo.aiflow(&["integrate", "b2"]).ok();
    repo.git(&["switch", "-q", SUBTASK]);
    let mut sub = commit(repo, "shared.txt", "Shared on subtask", &[]);
    if reviewed {
        repo.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
        sub = repo.rev(SUBTASK).expect("approved");
        assert_eq!(repo.rev(&format!("{SUBTASK}~1")), Some(f.second.clone()));
    }
    repo.git(&["switch", "-q", INTEGRATION]);
    let r = repo.git_run(&["merge", "--no-ff", "--no-edit", SUBTASK]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("CONFLICT"), "{}", r.stdout);
    assert!(
        !r.stderr.contains("aiflow:"),
        "pre-merge-commit ran: {}",
        r.stderr
    );
    repo.write("shared.txt", "resolved\n");
    repo.git(&["add", "shared.txt"]);
    (f, sub)
}

#[test]
fn commit_after_conflicted_merge_is_refused_with_and_without_verify() {
    let (f, sub) = conflicted_merge(false);
    let repo = &f.repo;
    let before = tip(repo);
    assert_git_reviews(
        repo,
        &repo.path,
        &format!("{}..{sub}", f.second),
        &[(&sub, "")],
    );
    let err = repo.git_run(&["commit", "--no-edit"]).fails(1);
    assert_refusal(&err, &[&sub, &f.second], &[&f.first]);
    assert!(
        !err.contains("ref updates aborted"),
        "pre-commit refused: {err}"
    );
    assert_eq!(tip(repo), before);
    assert_eq!(repo.rev("MERGE_HEAD"), Some(sub.clone()));
    assert_eq!(
        check_failures(repo, &[]),
        [failure(&sub, "no-review"), failure(&f.second, "no-review")]
    );

    // Past pre-commit, the merge commit itself is refused too: a resolution nobody reviewed.
    let err = repo
        .git_run(&["commit", "--no-edit", "--no-verify"])
        .fails(128);
    assert_refusal(&err, &[&sub, &f.second], &[&f.first]);
    assert!(err.contains("[merge-not-clean]"), "{err}");
    assert!(err.contains("ref updates aborted by hook"), "{err}");
    assert_eq!(tip(repo), before);
    repo.git(&["merge", "--abort"]);
    assert_eq!(tip(repo), before);
}

#[test]
fn a_conflict_resolved_on_the_protected_branch_is_refused_even_when_all_is_approved() {
    let (f, sub) = conflicted_merge(true);
    let repo = &f.repo;
    let before = tip(repo);
    // What is merged is approved: pre-commit lets the commit be made; the ref update refuses
    // the merge commit, whose tree holds the hand resolution.
    let err = repo.git_run(&["commit", "--no-edit"]).fails(128);
    let ids = refused_ids(repo, &err);
    assert_eq!(ids.len(), 1, "{err}");
    assert!(err.contains("[merge-not-clean]"), "{err}");
    assert!(
        err.contains("shared.txt"),
        "names the conflicted file: {err}"
    );
    assert_refusal(&err, &[&ids[0]], &[&f.first, &f.second, &sub]);
    assert_eq!(tip(repo), before);
    repo.git(&["merge", "--abort"]);

    // The way that works: resolve on the subtask branch, where the resolution is reviewed.
    repo.git(&["switch", "-q", SUBTASK]);
    let r = repo.git_run(&["merge", "--no-edit", INTEGRATION]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    repo.write("shared.txt", "resolved\n");
    repo.git(&["add", "shared.txt"]);
    repo.git(&["commit", "-q", "--no-edit"]);
    let resolution = repo.rev(SUBTASK).expect("resolved");
    // Unreviewed, the resolution is refused by name.
    assert_eq!(
        check_failures(repo, &[&format!("{INTEGRATION}..{SUBTASK}")]),
        [failure(&resolution, "merge-not-clean")]
    );
    repo.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
    let review = repo.aiflow(&["review", "a1"]).ok();
    assert!(
        review.contains("remerge"),
        "review shows the remerge diff:\n{review}"
    );
    assert!(review.contains("resolved"), "{review}");
    repo.git(&["switch", "-q", INTEGRATION]);
    // The merge into the integration branch is now a clean one: exempt.
    repo.git(&["merge", "-q", "--no-ff", "--no-edit", SUBTASK]);
    assert_eq!(repo.rev("aiflow/rate-limit^2"), repo.rev(SUBTASK));
    assert_eq!(repo.git(&["show", "HEAD:shared.txt"]), "resolved\n");
    let v = check_failures(repo, &[&format!("main..{INTEGRATION}")]);
    assert!(v.is_empty(), "{v:?}");
}

// 9. `git merge --no-verify`: pre-merge-commit is skipped, reference-transaction is not.

#[test]
fn merge_no_verify_of_unreviewed_subtask_is_refused() {
    let f = flow_with_subtask(false);
    let repo = &f.repo;
    f.assert_git_reviews(&repo.path, false);
    let before = tip(repo);
    let err = repo
        .git_run(&["merge", "--no-ff", "--no-verify", "--no-edit", SUBTASK])
        .fails(128);
    f.assert_refused(&err);
    assert!(err.contains("ref updates aborted by hook"), "{err}");
    assert!(!err.contains("Not committing merge"), "{err}");
    assert_eq!(tip(repo), before);
    repo.git(&["merge", "--abort"]);
    assert_eq!(tip(repo), before);
}

#[test]
fn merge_no_verify_of_reviewed_subtask_succeeds() {
    let f = flow_with_subtask(true);
    let repo = &f.repo;
    let before = tip(repo);
    repo.git(&["merge", "--no-ff", "--no-verify", "--no-edit", SUBTASK]);
    assert_eq!(repo.rev("aiflow/rate-limit^1"), Some(before));
    assert_eq!(repo.rev("aiflow/rate-limit^2"), Some(f.second.clone()));
}

// More ways to move a branch: plain and amended commits, squash merges, `switch -C`, fetching
// into the branch, deleting and recreating it, a linked worktree.

#[test]
fn direct_commit_on_integration_branch_needs_a_review() {
    let repo = gated();
    repo.git(&["switch", "-q", INTEGRATION]);
    let before = tip(&repo);
    repo.write("direct.rs", "direct\n");
    repo.git(&["add", "direct.rs"]);
    let err = repo
        .git_run(&["commit", "-q", "-m", "Direct change"])
        .fails(128);
    let ids = refused_ids(&repo, &err);
    assert_eq!(ids.len(), 1, "{err}");
    assert_refusal(&err, &[&ids[0]], &[]);
    assert_git_reviews(
        &repo,
        &repo.path,
        &format!("{before}..{}", ids[0]),
        &[(&ids[0], "")],
    );
    assert_eq!(tip(&repo), before);

    // A typed trailer alone binds to nothing: the integration branch takes only approved
    // subtask work.
    let grace = reviewed_by(GRACE);
    let err = repo
        .git_run(&["commit", "-q", "-m", "Direct change", "-m", &grace])
        .fails(128);
    let ids = refused_ids(&repo, &err);
    assert_eq!(ids.len(), 1, "{err}");
    assert!(err.contains("[unbound-review]"), "{err}");
    assert_eq!(tip(&repo), before);
    // Typed subtask trailers too: the flow has no such subtask, or no approval of it.
    for (trailers, code) in [
        (
            "Aiflow-Flow: rate-limit\nAiflow-Subtask: zz9\n",
            "unbound-review",
        ),
        (
            "Aiflow-Flow: no-such-flow\nAiflow-Subtask: a1\n",
            "unbound-review",
        ),
        (
            "Aiflow-Flow: rate-limit\nAiflow-Flow: other\nAiflow-Subtask: a1\n",
            "unbound-review",
        ),
        ("Aiflow-Subtask: a1\n", "unbound-review"),
    ] {
        let msg = format!("Direct change\n\n{trailers}{grace}\n");
        let err = repo.git_run(&["commit", "-q", "-m", &msg]).fails(128);
        assert!(err.contains(&format!("[{code}]")), "{trailers}: {err}");
        assert_eq!(tip(&repo), before);
    }
    repo.git(&["reset", "-q", "--hard"]);
}

/// Typed `Aiflow-*` trailers name the flow's real subtask, but nothing was approved: the
/// record decides, and conflicting or duplicated trailers bind to nothing.
#[test]
fn typed_trailers_naming_a_real_subtask_without_an_approval_are_refused() {
    let f = flow_with_subtask(false);
    let repo = &f.repo;
    let grace = reviewed_by(GRACE);
    repo.git(&["switch", "-q", SUBTASK]);
    let forged = commit(
        repo,
        "forged.rs",
        "Forged",
        &[&format!(
            "Aiflow-Flow: rate-limit\nAiflow-Subtask: a1\n{grace}"
        )],
    );
    let dup = commit(
        repo,
        "dup.rs",
        "Duplicated",
        &[&format!(
            "Aiflow-Flow: rate-limit\nAiflow-Subtask: a1\nAiflow-Subtask: a1\n{grace}"
        )],
    );
    repo.git(&["switch", "-q", INTEGRATION]);
    assert_eq!(
        check_failures(repo, &[INCOMING]),
        [
            failure(&dup, "unbound-review"),
            failure(&forged, "review-not-recorded"),
            failure(&f.second, "no-review"),
        ]
    );
    let err = repo
        .git_run(&["merge", "--no-ff", "--no-edit", SUBTASK])
        .fails(1);
    assert_refusal(&err, &[&dup, &forged, &f.second], &[&f.first]);
    repo.git(&["merge", "--abort"]);
}

#[test]
fn squash_merge_of_unreviewed_subtask_is_refused() {
    // git's squash message quotes the reviewed commit's trailer, indented: not a trailer.
    let f = flow_with_subtask(false);
    let repo = &f.repo;
    let before = tip(repo);
    repo.git(&["merge", "--squash", SUBTASK]);
    let err = repo.git_run(&["commit", "--no-edit"]).fails(128);
    let ids = refused_ids(repo, &err);
    assert_eq!(ids.len(), 1, "{err}");
    assert_refusal(&err, &[&ids[0]], &[&f.first, &f.second]);
    assert_git_reviews(
        repo,
        &repo.path,
        &format!("{before}..{}", ids[0]),
        &[(&ids[0], "")],
    );
    assert_eq!(tip(repo), before);
}

#[test]
fn switch_force_create_onto_unreviewed_commit_is_refused() {
    let f = flow_with_subtask(false);
    let repo = &f.repo;
    repo.git(&["switch", "-q", "main"]);
    let before = tip(repo);
    let err = repo
        .git_run(&["switch", "-C", INTEGRATION, SUBTASK])
        .fails(128);
    f.assert_refused(&err);
    assert_eq!(tip(repo), before);
    let err = repo
        .git_run(&["checkout", "-B", INTEGRATION, SUBTASK])
        .fails(128);
    f.assert_refused(&err);
    assert_eq!(tip(repo), before);
}

#[test]
fn fetch_into_integration_branch_is_refused() {
    let f = flow_with_subtask(false);
    let repo = &f.repo;
    repo.git(&["switch", "-q", "main"]);
    let before = tip(repo);
    let err = repo
        .git_run(&["fetch", ".", &format!("{SUBTASK}:{INTEGRATION}")])
        .fails(128);
    f.assert_refused(&err);
    assert_eq!(tip(repo), before);
}

#[test]
fn deleting_and_recreating_integration_branch_at_unreviewed_commit_is_refused() {
    let f = flow_with_subtask(false);
    let repo = &f.repo;
    repo.git(&["switch", "-q", "main"]);
    let before = tip(repo);
    // Deleting a protected branch is refused, by every command that does it.
    for args in [
        vec!["branch", "-q", "-D", INTEGRATION],
        vec!["update-ref", "-d", INTEGRATION_REF],
        vec!["branch", "-M", SUBTASK, INTEGRATION],
    ] {
        let err = repo.git_run(&args).fails(128);
        assert!(
            err.contains("deleting aiflow/rate-limit is refused"),
            "{args:?}: {err}"
        );
        assert!(err.contains("allow-delete"), "{err}");
        assert_eq!(repo.rev(INTEGRATION).as_deref(), Some(&*before), "{args:?}");
    }
    // (git deleted the renamed subtask branch's old name first, in a transaction of its own.)
    repo.git(&["branch", "-f", SUBTASK, &f.second]);
    // A policy that allows it: deleted; created again at the unreviewed work, it is judged
    // under the policy that governs new branches (main's), never as an unprotected branch.
    repo.write(
        ".aiflow.toml",
        "schema = 1\n[gate]\nallow-delete = [\"aiflow/*\"]\n",
    );
    // (A change to the policy needs a recorded review, like any change to what governs the gate.)
    repo.git(&["switch", "-q", "-c", "allow-delete"]);
    repo.git(&["add", ".aiflow.toml"]);
    repo.git(&["commit", "-q", "-m", "Allow deleting flow branches"]);
    repo.aiflow_env(&["approve", "--range", "main..allow-delete"], AS_GRACE)
        .ok();
    repo.git(&["switch", "-q", "main"]);
    repo.git(&["merge", "-q", "--ff-only", "allow-delete"]);
    repo.git(&["branch", "-q", "-D", INTEGRATION]);
    assert_eq!(repo.rev(INTEGRATION), None);
    let err = repo.git_run(&["branch", INTEGRATION, SUBTASK]).fails(128);
    f.assert_refused(&err);
    assert!(
        err.contains(".aiflow.toml in"),
        "judged under main's policy: {err}"
    );
    assert_eq!(repo.rev(INTEGRATION), None);
}

#[test]
fn merges_in_a_linked_worktree_are_refused() {
    let f = flow_with_subtask(false);
    let repo = &f.repo;
    repo.git(&["switch", "-q", "main"]);
    let wt = repo.sibling("wt");
    repo.git(&["worktree", "add", "-q", path_str(&wt), INTEGRATION]);
    let before = tip(repo);
    let err = git_in(repo, &wt, &["merge", "--no-ff", "--no-edit", SUBTASK]).fails(1);
    f.assert_refused(&err);
    git_in(repo, &wt, &["merge", "--abort"]).ok();
    let err = git_in(repo, &wt, &["merge", SUBTASK]).fails(128);
    f.assert_refused(&err);
    assert_eq!(tip(repo), before);
}

// Symbolic refs, renames, copies, and pushes into a work repository with the hooks.

#[test]
fn symbolic_ref_onto_unreviewed_branch_is_refused() {
    let f = flow_with_subtask(false);
    let repo = &f.repo;
    repo.git(&["switch", "-q", "main"]);
    let before = tip(repo);
    let r = repo.git_run(&[
        "symbolic-ref",
        INTEGRATION_REF,
        &format!("refs/heads/{SUBTASK}"),
    ]);
    assert_eq!(
        tip(repo),
        before,
        "aiflow/rate-limit now resolves to the unreviewed {} (exit {}, stderr {:?})",
        short(&f.second),
        r.code,
        r.stderr
    );
    assert_ne!(r.code, 0);
    f.assert_refused(&r.stderr);
}

/// git 2.47 renames and copies refs outside any reference transaction: a rename deletes the
/// old name and the name it overwrites in transactions of their own, so `git branch -M` onto a
/// protected branch is refused (the deletion of the protected name), but `git branch -C` onto
/// one is seen by no client hook at all. The gate still catches the result: `check` reports it
/// and `pre-push` refuses to push it (and a server refuses it).
#[test]
fn branch_rename_or_copy_onto_integration_branch_is_caught_by_check_and_push() {
    for flag in ["-M", "-C"] {
        let f = flow_with_subtask(false);
        let repo = &f.repo;
        repo.git(&["switch", "-q", "main"]);
        let before = tip(repo);
        let r = repo.git_run(&["branch", flag, SUBTASK, INTEGRATION]);
        if flag == "-M" {
            assert_ne!(r.code, 0, "-M overwrote the protected branch");
            assert!(
                r.stderr.contains("deleting aiflow/rate-limit is refused"),
                "{}",
                r.stderr
            );
            assert_eq!(tip(repo), before);
            // git deletes the old name first, in a transaction of its own: the subtask branch is
            // gone, its commits are not. Onto a protected name that does not exist yet instead:
            repo.git(&["branch", "-f", SUBTASK, &f.second]);
            repo.git(&["branch", "-q", "-D", SUBTASK]);
            repo.git(&["branch", "-f", SUBTASK, &f.second]);
            repo.git(&["branch", "-M", SUBTASK, "aiflow/other"]);
        } else {
            assert_eq!(r.code, 0, "{}", r.stderr);
        }
        // (Pushed by URL, pre-push takes the local protected branches for what the remote has;
        // after `-C` moved one without any hook, only the one moved is refused. The server
        // judges for itself.)
        let target = if flag == "-M" {
            "aiflow/other"
        } else {
            INTEGRATION
        };
        {
            let out = repo.aiflow(&["check", &format!("main..{target}")]);
            assert_eq!(out.code, 1, "{flag} {target}: {out:?}");
            assert!(
                out.stdout.contains(short(&f.second)),
                "{flag}: {}",
                out.stdout
            );
            let remote = repo.sibling(&format!("remote{flag}.git"));
            repo.git(&["init", "-q", "--bare", path_str(&remote)]);
            let r = repo.git_run(&["push", path_str(&remote), target]);
            assert_ne!(r.code, 0, "{flag}: pushed\n{}", r.stderr);
            f.assert_refused(&r.stderr);
            std::fs::remove_dir_all(&remote).expect("rm");
        }
    }
}

#[test]
fn push_into_a_work_repository_with_hooks_is_judged() {
    let f = flow_with_subtask(false);
    let repo = &f.repo;
    repo.git(&["switch", "-q", "main"]);
    let before = tip(repo);
    // An unprotected branch: nothing to refuse.
    repo.git(&["push", "-q", ".", "main:refs/heads/feature"]);
    assert_eq!(repo.rev("feature"), repo.rev("main"));
    // The integration branch, past pre-push: reference-transaction refuses, saying why.
    let r = repo.git_run(&[
        "push",
        "--no-verify",
        ".",
        &format!("{SUBTASK}:{INTEGRATION_REF}"),
    ]);
    assert_ne!(r.code, 0);
    assert_eq!(tip(repo), before);
    f.assert_refused(&r.stderr);
}

// 10. The server: pre-receive behind `git daemon`.

/// A bare repository next to `repo` with the gate's server hook.
fn server(repo: &TestRepo, name: &str) -> PathBuf {
    let dir = repo.sibling(name);
    repo.git(&["init", "-q", "--bare", "-b", "main", path_str(&dir)]);
    run_in(repo, &dir, BIN, &["hooks", "install", "--server"]).ok();
    dir
}

/// A served server with main, the integration branch and the subtask branch pushed from `repo`
/// (as remote `origin`), one push at a time.
fn served(f: &Flow) -> (PathBuf, GitDaemon) {
    let repo = &f.repo;
    let dir = server(repo, "server.git");
    let daemon = GitDaemon::start(repo, dir.parent().expect("parent"));
    repo.git(&["remote", "add", "origin", &daemon.url("server.git")]);
    // The flows travel with the branches, as `git aiflow sync` pushes them.
    repo.git(&["push", "-q", "origin", "main", "refs/notes/aiflow"]);
    // The integration branch holds only the anchor: allowed. Subtask branches are never
    // protected.
    repo.git(&["push", "-q", "origin", INTEGRATION, SUBTASK]);
    assert_eq!(rev_in(repo, &dir, SUBTASK), Some(f.second.clone()));
    (dir, daemon)
}

#[test]
fn server_refuses_unreviewed_push_with_and_without_client_hooks() {
    let f = flow_with_subtask(false);
    let repo = &f.repo;
    let (server, daemon) = served(&f);
    let before = rev_in(repo, &server, INTEGRATION).expect("pushed");
    assert_eq!(Some(before.clone()), repo.rev(INTEGRATION));
    let refspec = format!("{SUBTASK}:{INTEGRATION_REF}");

    // With the client's hooks: pre-push refuses, nothing reaches the server.
    let err = repo.git_run(&["push", "origin", &refspec]).fails(1);
    f.assert_refused(&err);
    assert!(!err.contains("remote:"), "{err}");
    assert_eq!(
        rev_in(repo, &server, INTEGRATION).as_deref(),
        Some(&*before)
    );

    // --no-verify skips pre-push, not the server's pre-receive.
    let err = repo
        .git_run(&["push", "--no-verify", "origin", &refspec])
        .fails(1);
    f.assert_refused(&err);
    assert!(err.contains("remote: aiflow:"), "{err}");
    assert!(err.contains("pre-receive hook declined"), "{err}");
    assert_eq!(
        rev_in(repo, &server, INTEGRATION).as_deref(),
        Some(&*before)
    );

    // A client without any hooks: the server refuses.
    let client = repo.sibling("client");
    repo.git(&["clone", "-q", &daemon.url("server.git"), path_str(&client)]);
    git_in(repo, &client, &["switch", "-q", INTEGRATION]).ok();
    git_in(
        repo,
        &client,
        &["merge", "-q", "--ff-only", &format!("origin/{SUBTASK}")],
    )
    .ok();
    assert_eq!(rev_in(repo, &client, INTEGRATION), Some(f.second.clone()));
    f.assert_git_reviews(&client, false);
    let err = git_in(repo, &client, &["push", "origin", INTEGRATION]).fails(1);
    f.assert_refused(&err);
    assert!(err.contains("remote: aiflow:"), "{err}");
    assert_eq!(
        rev_in(repo, &server, INTEGRATION).as_deref(),
        Some(&*before)
    );
    // The server refuses the merge commit too, not just the fast-forward.
    git_in(repo, &client, &["reset", "-q", "--hard", &before]).ok();
    git_in(
        repo,
        &client,
        &[
            "merge",
            "-q",
            "--no-ff",
            "--no-edit",
            &format!("origin/{SUBTASK}"),
        ],
    )
    .ok();
    let err = git_in(repo, &client, &["push", "origin", INTEGRATION]).fails(1);
    f.assert_refused(&err);
    assert_eq!(
        rev_in(repo, &server, INTEGRATION).as_deref(),
        Some(&*before)
    );
}

#[test]
fn server_accepts_reviewed_push() {
    let f = flow_with_subtask(true);
    let repo = &f.repo;
    let (server, _daemon) = served(&f);
    f.assert_git_reviews(&repo.path, true);
    repo.git(&["merge", "-q", "--no-ff", "--no-edit", SUBTASK]);
    let merged = tip(repo);
    repo.git(&["push", "-q", "origin", INTEGRATION]);
    assert_eq!(rev_in(repo, &server, INTEGRATION), Some(merged));
}

#[test]
fn server_guards_main_against_unreviewed_flow_work_only() {
    let f = flow_with_subtask(false);
    let repo = &f.repo;
    // The pusher has no hooks at all.
    repo.aiflow(&["hooks", "uninstall"]).ok();
    let (server, _daemon) = served(&f);
    let main_before = rev_in(repo, &server, "main").expect("main pushed");

    // The flow, merged with its unreviewed subtask, merged into main.
    repo.git(&["merge", "-q", "--no-ff", "--no-edit", SUBTASK]);
    repo.git(&["switch", "-q", "main"]);
    repo.git(&["merge", "-q", "--no-ff", "--no-edit", INTEGRATION]);
    f.assert_git_reviews(&repo.path, false);
    let err = repo.git_run(&["push", "origin", "main"]).fails(1);
    f.assert_refused(&err);
    assert!(err.contains("remote: aiflow: main is protected"), "{err}");
    assert_eq!(
        rev_in(repo, &server, "main").as_deref(),
        Some(&*main_before)
    );
    // Fast-forwarding main onto the flow is refused the same.
    repo.git(&["reset", "-q", "--hard", &main_before]);
    repo.git(&["merge", "-q", "--ff-only", SUBTASK]);
    let err = repo.git_run(&["push", "origin", "main"]).fails(1);
    f.assert_refused(&err);
    assert_eq!(
        rev_in(repo, &server, "main").as_deref(),
        Some(&*main_before)
    );

    // Ordinary trunk work outside any flow is not the gate's business.
    repo.git(&["reset", "-q", "--hard", &main_before]);
    let plain = commit(repo, "README.md", "Fix a typo", &[]);
    assert_git_reviews(repo, &repo.path, "main^..main", &[(&plain, "")]);
    repo.git(&["push", "-q", "origin", "main"]);
    assert_eq!(rev_in(repo, &server, "main"), Some(plain));
}

#[test]
fn fresh_server_accepts_main_and_flow_in_one_push() {
    // Pushed one after the other, main and the integration branch are accepted (see `served`);
    // pushed together they must be too: main's own commits are not the flow's.
    let f = flow_with_subtask(true);
    let repo = &f.repo;
    repo.aiflow(&["hooks", "uninstall"]).ok();
    let server = server(repo, "server.git");
    repo.git(&["merge", "-q", "--no-ff", "--no-edit", SUBTASK]);
    // Without the flows, the server cannot tell: refused, nothing moves.
    let r = repo.git_run(&["push", path_str(&server), "main", INTEGRATION]);
    assert_eq!(r.code, 1, "accepted:\n{}", r.stderr);
    assert!(r.stderr.contains("[review-unverifiable]"), "{}", r.stderr);
    assert_eq!(rev_in(repo, &server, "main"), None);
    // With them in the same push, the server judges by the notes the push brings.
    let r = repo.git_run(&[
        "push",
        path_str(&server),
        "main",
        INTEGRATION,
        "refs/notes/aiflow",
    ]);
    assert_eq!(r.code, 0, "refused:\n{}", r.stderr);
    assert_eq!(rev_in(repo, &server, INTEGRATION), repo.rev(INTEGRATION));
    assert_eq!(
        rev_in(repo, &server, "refs/notes/aiflow"),
        repo.rev("refs/notes/aiflow")
    );
}

// 11. pre-push on the client, to a plain bare repository over a file path.

/// A bare repository without hooks, as `repo`'s remote `origin`, holding main and the
/// integration branch (pushed one at a time, through `repo`'s pre-push).
fn plain_origin(repo: &TestRepo) -> PathBuf {
    let dir = repo.sibling("origin.git");
    repo.git(&["init", "-q", "--bare", "-b", "main", path_str(&dir)]);
    repo.git(&["remote", "add", "origin", path_str(&dir)]);
    repo.git(&["push", "-q", "origin", "main"]);
    repo.git(&["push", "-q", "origin", INTEGRATION]);
    dir
}

#[test]
fn pre_push_refuses_unreviewed_commits_before_sending_anything() {
    let f = flow_with_subtask(false);
    let repo = &f.repo;
    let origin = plain_origin(repo);
    let before = rev_in(repo, &origin, INTEGRATION).expect("pushed");
    // Past the local gate (no hooks for this one command), the branch holds the subtask.
    repo.git(&[
        "-c",
        "core.hooksPath=/dev/null",
        "merge",
        "-q",
        "--no-ff",
        "--no-edit",
        SUBTASK,
    ]);
    f.assert_git_reviews(&repo.path, false);
    let err = repo.git_run(&["push", "origin", INTEGRATION]).fails(1);
    f.assert_refused(&err);
    assert!(err.contains("failed to push"), "{err}");
    assert_eq!(
        rev_in(repo, &origin, INTEGRATION).as_deref(),
        Some(&*before)
    );
    // Nothing was sent: the origin does not know the commit.
    assert_eq!(
        rev_in(repo, &origin, &format!("{}^{{commit}}", f.second)),
        None
    );
    // Refused under any name the remote branch is pushed to.
    let err = repo
        .git_run(&["push", "origin", &format!("{SUBTASK}:{INTEGRATION_REF}")])
        .fails(1);
    f.assert_refused(&err);
    assert_eq!(
        rev_in(repo, &origin, INTEGRATION).as_deref(),
        Some(&*before)
    );
    // The subtask branch itself is not protected.
    repo.git(&["push", "-q", "origin", SUBTASK]);
}

#[test]
fn pre_push_lets_reviewed_commits_through() {
    let f = flow_with_subtask(true);
    let repo = &f.repo;
    let origin = plain_origin(repo);
    repo.git(&["merge", "-q", "--no-ff", "--no-edit", SUBTASK]);
    repo.git(&["push", "-q", "origin", INTEGRATION]);
    assert_eq!(rev_in(repo, &origin, INTEGRATION), repo.rev(INTEGRATION));
}

#[test]
fn pre_push_to_fresh_remote_accepts_main_and_flow_in_one_push() {
    let f = flow_with_subtask(true);
    let repo = &f.repo;
    let dir = repo.sibling("fresh.git");
    repo.git(&["init", "-q", "--bare", "-b", "main", path_str(&dir)]);
    repo.git(&["remote", "add", "origin", path_str(&dir)]);
    repo.git(&["merge", "-q", "--no-ff", "--no-edit", SUBTASK]);
    let r = repo.git_run(&["push", "origin", "main", INTEGRATION]);
    assert_eq!(r.code, 0, "refused:\n{}", r.stderr);
    assert_eq!(rev_in(repo, &dir, INTEGRATION), repo.rev(INTEGRATION));
}

/// Pushing by URL (no remote name, so no remote-tracking refs) a new integration branch to a
/// remote that already has main: the flow brings only its anchor and reviewed commits.
#[test]
fn pre_push_by_url_accepts_new_reviewed_integration_branch() {
    let f = flow_with_subtask(true);
    let repo = &f.repo;
    let dir = repo.sibling("by-url.git");
    repo.git(&["init", "-q", "--bare", "-b", "main", path_str(&dir)]);
    repo.git(&["push", "-q", path_str(&dir), "main"]);
    repo.git(&["merge", "-q", "--no-ff", "--no-edit", SUBTASK]);
    let r = repo.git_run(&["push", path_str(&dir), INTEGRATION]);
    assert_eq!(r.code, 0, "refused:\n{}", r.stderr);
    assert_eq!(rev_in(repo, &dir, INTEGRATION), repo.rev(INTEGRATION));
}

// 12. Forged reviews.

/// A gated repository whose subtask branch (off the integration branch's tip) holds one commit
/// by Ada with `paragraphs` after its subject. HEAD on the integration branch.
fn subtask_with(repo: &TestRepo, paragraphs: &[&str]) -> String {
    let base = tip(repo);
    repo.git(&["switch", "-q", "-c", SUBTASK, &base]);
    let id = commit(repo, "limiter.rs", "Add limiter", paragraphs);
    repo.git(&["switch", "-q", INTEGRATION]);
    id
}

/// Merging the subtask into the integration branch is refused naming `id`, and
/// `git aiflow check` gives `reason`.
#[track_caller]
fn assert_merge_refused(repo: &TestRepo, id: &str, reason: &str, detail: &str) {
    let before = tip(repo);
    let err = repo
        .git_run(&["merge", "--no-ff", "--no-edit", SUBTASK])
        .fails(1);
    assert_refusal(&err, &[id], &[]);
    assert!(err.contains(detail), "expected {detail:?} in:\n{err}");
    assert_eq!(check_failures(repo, &[]), [failure(id, reason)]);
    repo.git(&["merge", "--abort"]);
    assert_eq!(tip(repo), before);
    // Fast-forward, past pre-merge-commit: refused too.
    let err = repo.git_run(&["merge", "--ff-only", SUBTASK]).fails(128);
    assert_refusal(&err, &[id], &[]);
    assert_eq!(tip(repo), before);
    repo.git(&["reset", "-q", "--hard"]);
}

#[test]
fn self_review_by_the_author_is_refused() {
    let repo = gated();
    repo.git(&["switch", "-q", INTEGRATION]);
    let ada = reviewed_by(ADA);
    let id = subtask_with(&repo, &[&ada]);
    assert_git_reviews(&repo, &repo.path, INCOMING, &[(&id, ADA)]);
    assert_eq!(
        check_failures(&repo, &[INCOMING]),
        [failure(&id, "self-review")]
    );
    assert_merge_refused(&repo, &id, "self-review", "is the commit's author");
    // Case does not disguise the author's email.
    repo.git(&["switch", "-q", SUBTASK]);
    let upper = reviewed_by("Ada L. <ADA@Example.COM>");
    let id = commit(&repo, "wire.rs", "Wire limiter", &[&upper]);
    assert_eq!(
        check_failures(&repo, &[&format!("{id}^..{id}")]),
        [failure(&id, "self-review")]
    );
}

/// A gated repository whose integration branch holds a policy (from main, where the flow
/// started) that accepts only Grace, with subtask a1 planned. HEAD on the integration branch.
fn allow_list_on_integration() -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        ".aiflow.toml",
        "schema = 1\n[gate]\nreviewers = [\"grace@example.com\"]\n",
    );
    repo.git(&["add", ".aiflow.toml"]);
    repo.git(&["commit", "-q", "-m", "Allow-list reviewers"]);
    repo.new_rate_limit();
    repo.aiflow(&["hooks", "install"]).ok();
    repo.plan_subtasks(&[("a1", "Limiter")]);
    repo.git(&["switch", "-q", INTEGRATION]);
    repo
}

#[test]
fn reviewer_outside_the_allow_list_is_refused() {
    let repo = allow_list_on_integration();
    let grace = reviewed_by(GRACE);
    let bob = reviewed_by(BOB);
    let id = subtask_with(&repo, &[&bob]);
    assert_git_reviews(&repo, &repo.path, INCOMING, &[(&id, BOB)]);
    assert_merge_refused(
        &repo,
        &id,
        "reviewer-not-allowed",
        "is not on the policy's list of reviewers",
    );

    // Bob cannot record an approval either; Grace, on the list, can: accepted.
    repo.git(&["branch", "-q", "-D", SUBTASK]);
    repo.aiflow(&["start", "a1"]).ok();
    commit(&repo, "limiter.rs", "Add limiter", &[]);
    let err = repo
        .aiflow_env(
            &["approve", "a1"],
            &[
                ("GIT_COMMITTER_NAME", "Bob"),
                ("GIT_COMMITTER_EMAIL", "bob@example.com"),
            ],
        )
        .fails(1);
    assert!(err.contains("not on the list of reviewers"), "{err}");
    repo.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
    let id = repo.rev(SUBTASK).expect("approved");
    repo.git(&["switch", "-q", INTEGRATION]);
    assert_git_reviews(&repo, &repo.path, INCOMING, &[(&id, GRACE)]);
    repo.git(&["merge", "-q", "--no-ff", "--no-edit", SUBTASK]);
    assert_eq!(repo.rev("aiflow/rate-limit^2"), Some(id));
    let _ = grace;
}

/// `git aiflow check` with the range named gives the verdict the hooks and the implicit check
/// give for the same commits: the policy of the branch the range goes into.
#[test]
fn check_of_a_named_range_into_the_integration_branch_applies_its_allow_list() {
    let repo = allow_list_on_integration();
    let bob = reviewed_by(BOB);
    let id = subtask_with(&repo, &[&bob]);
    repo.git(&["switch", "-q", SUBTASK]);
    assert_eq!(
        check_failures(&repo, &[]),
        [failure(&id, "reviewer-not-allowed")],
        "implicit: {INCOMING}"
    );
    assert_eq!(
        check_failures(&repo, &[INCOMING]),
        [failure(&id, "reviewer-not-allowed")],
        "explicit: {INCOMING}"
    );
}

#[test]
fn malformed_review_value_is_refused() {
    let repo = gated();
    repo.git(&["switch", "-q", INTEGRATION]);
    let id = subtask_with(&repo, &["Reviewed-by: grace"]);
    assert_git_reviews(&repo, &repo.path, INCOMING, &[(&id, "grace")]);
    assert_eq!(
        check_failures(&repo, &[INCOMING]),
        [failure(&id, "malformed-review")]
    );
    assert_merge_refused(&repo, &id, "malformed-review", "is not \"Name <email>\"");
}

#[test]
fn review_outside_the_trailer_block_is_refused() {
    let repo = gated();
    repo.git(&["switch", "-q", INTEGRATION]);
    let grace = reviewed_by(GRACE);
    let id = subtask_with(&repo, &[&grace, "More text after it."]);
    // git reads no trailer: the review line is in the middle of the message.
    assert_git_reviews(&repo, &repo.path, INCOMING, &[(&id, "")]);
    assert_eq!(
        check_failures(&repo, &[INCOMING]),
        [failure(&id, "no-review")]
    );
    assert_merge_refused(&repo, &id, "no-review", "not in its trailer block");
}

#[test]
fn policy_carried_by_the_incoming_branch_is_ignored() {
    let repo = gated();
    repo.git(&["switch", "-q", INTEGRATION]);
    let ada = reviewed_by(ADA);
    let base = tip(&repo);
    repo.git(&["switch", "-q", "-c", SUBTASK, &base]);
    repo.write(
        ".aiflow.toml",
        "schema = 1\n[gate]\nallow-self-review = true\n",
    );
    repo.git(&["add", ".aiflow.toml"]);
    repo.git(&["commit", "-q", "-m", "Allow self-review", "-m", &ada]);
    let policy = repo.rev("HEAD").expect("HEAD");
    let work = commit(&repo, "limiter.rs", "Add limiter", &[&ada]);
    repo.git(&["switch", "-q", INTEGRATION]);
    assert_git_reviews(&repo, &repo.path, INCOMING, &[(&work, ADA), (&policy, ADA)]);

    let before = tip(&repo);
    let err = repo
        .git_run(&["merge", "--no-ff", "--no-edit", SUBTASK])
        .fails(1);
    assert_refusal(&err, &[&work, &policy], &[]);
    assert!(err.contains("policy: the default policy"), "{err}");
    assert_eq!(
        check_failures(&repo, &[]),
        [
            failure(&work, "self-review"),
            failure(&policy, "self-review")
        ]
    );
    repo.git(&["merge", "--abort"]);
    let err = repo.git_run(&["merge", "--ff-only", SUBTASK]).fails(128);
    assert_refusal(&err, &[&work, &policy], &[]);
    assert_eq!(tip(&repo), before);
    repo.git(&["reset", "-q", "--hard"]);

    // The same policy on the protected branch itself (its own subtask, approved by Grace and
    // integrated) is honoured: Ada may then approve her own work.
    repo.git(&["branch", "-q", "-D", SUBTASK]);
    repo.plan_subtasks(&[("p1", "Policy"), ("a1", "Limiter")]);
    repo.aiflow(&["start", "p1"]).ok();
    repo.git(&["checkout", "-q", &policy, "--", ".aiflow.toml"]);
    repo.git(&["commit", "-q", "-m", "Allow self-review"]);
    repo.aiflow_env(&["approve", "p1"], AS_GRACE).ok();
    repo.aiflow(&["integrate", "p1"]).ok();
    repo.aiflow(&["start", "a1"]).ok();
    commit(&repo, "limiter.rs", "Add limiter", &[]);
    repo.aiflow(&["approve", "a1"]).ok();
    let id = repo.rev(SUBTASK).expect("approved");
    repo.git(&["switch", "-q", INTEGRATION]);
    repo.git(&["merge", "-q", "--no-ff", "--no-edit", SUBTASK]);
    assert_eq!(repo.rev("aiflow/rate-limit^2"), Some(id));
}
