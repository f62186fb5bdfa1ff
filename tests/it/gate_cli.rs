//! The review gate from the command line: `git aiflow check` over explicit and implicit ranges,
//! cross-checked with `git rev-list` and git's own trailer parsing; the policy (`.aiflow.toml`
//! and `aiflow.*` config); and `git aiflow hooks install|uninstall|status`, including that the
//! installed reference-transaction hook guards the trunk without getting in the way of ordinary
//! work.

use crate::harness::{BIN, GRACE, Run, TestRepo, fixture};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A reviewer who is not the harness identity (Ada Lovelace <ada@example.com>).
/// The client hooks, in the order `hooks status` lists them.
const CLIENT_HOOKS: [&str; 4] = [
    "pre-merge-commit",
    "pre-commit",
    "reference-transaction",
    "pre-push",
];

// ---------------------------------------------------------------------------------------------
// Helpers

/// A commit made with `git commit-tree -F` (the message verbatim, no cleanup) on `parents`,
/// with the first parent's tree.
fn commit_tree(repo: &TestRepo, parents: &[&str], msg: &str) -> String {
    commit_tree_as(repo, parents, msg, None)
}

/// As [`commit_tree`], with another author `(name, email)`.
fn commit_tree_as(
    repo: &TestRepo,
    parents: &[&str],
    msg: &str,
    author: Option<(&str, &str)>,
) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let file = repo.outside(
        &format!("msg-{}", N.fetch_add(1, Ordering::Relaxed)),
        msg.as_bytes(),
    );
    let tree = repo
        .git(&["rev-parse", &format!("{}^{{tree}}", parents[0])])
        .trim()
        .to_string();
    let mut args = vec!["commit-tree".to_string(), tree];
    for p in parents {
        args.extend(["-p".to_string(), p.to_string()]);
    }
    args.extend(["-F".to_string(), file.to_str().expect("utf-8").to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env: Vec<(&str, &str)> = match author {
        Some((name, email)) => vec![("GIT_AUTHOR_NAME", name), ("GIT_AUTHOR_EMAIL", email)],
        None => Vec::new(),
    };
    repo.git_env(&args, &env).trim().to_string()
}

/// A message with a valid review by Grace in its trailer block.
fn reviewed(subject: &str) -> String {
    format!("{subject}\n\nReviewed-by: {GRACE}\n")
}

/// A message without any review.
fn unreviewed(subject: &str) -> String {
    format!("{subject}\n")
}

/// Point branch `name` at `id` (no hooks are involved unless installed).
fn branch(repo: &TestRepo, name: &str, id: &str) {
    repo.git(&["branch", "-f", name, id]);
}

/// `git aiflow check <args> --json`, which must exit 0 (ok) or 1 (failures) and agree with
/// its own `ok` field.
#[track_caller]
fn check_json(repo: &TestRepo, args: &[&str]) -> Value {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    all.push("--json");
    let run = repo.aiflow(&all);
    assert!(
        run.code == 0 || run.code == 1,
        "check {args:?}: exit {}\nstdout:\n{}\nstderr:\n{}",
        run.code,
        run.stdout,
        run.stderr
    );
    let v: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("check {args:?}: not JSON ({e}):\n{}", run.stdout));
    assert_eq!(v["ok"], Value::Bool(run.code == 0), "check {args:?}: {v:#}");
    assert_eq!(
        v["ok"],
        Value::Bool(v["failures"].as_array().expect("failures").is_empty()),
        "check {args:?}: {v:#}"
    );
    v
}

/// The failing commits of a check, in the order it lists them.
fn failed(v: &Value) -> Vec<String> {
    v["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| f["commit"].as_str().expect("commit").to_string())
        .collect()
}

/// The reason codes of a check's failures, in order.
fn reasons(v: &Value) -> Vec<String> {
    v["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| f["reason"].as_str().expect("reason").to_string())
        .collect()
}

fn count(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} is not a count: {v:#}"))
}

/// `git rev-list <args>`.
fn rev_list(repo: &TestRepo, args: &[&str]) -> Vec<String> {
    let mut all = vec!["rev-list"];
    all.extend_from_slice(args);
    repo.git(&all).lines().map(str::to_string).collect()
}

/// Commit `.aiflow.toml` with `text` on the checked-out branch (or remove it with `None`).
fn set_policy(repo: &TestRepo, text: Option<&str>) {
    match text {
        Some(text) => {
            repo.write(".aiflow.toml", text);
            repo.git(&["add", ".aiflow.toml"]);
            repo.git(&["commit", "-q", "-m", "Set the gate policy"]);
        }
        None => {
            repo.git(&["rm", "-q", ".aiflow.toml"]);
            repo.git(&["commit", "-q", "-m", "Drop the gate policy"]);
        }
    }
}

/// The shipped shim for hook `name`.
fn shipped(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("hooks")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Every file of a directory: name, content, mode.
fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .map(|e| {
            let e = e.expect("dir entry");
            let meta = e.metadata().expect("metadata");
            (
                e.file_name().into_string().expect("utf-8 name"),
                (
                    std::fs::read(e.path()).unwrap_or_default(),
                    meta.permissions().mode(),
                ),
            )
        })
        .collect()
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o111 == 0o111)
        .unwrap_or(false)
}

fn canonical(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|e| panic!("canonicalize {}: {e}", path.display()))
        .display()
        .to_string()
}

/// An executable script at `path`.
fn write_script(path: &Path, body: &str) -> Vec<u8> {
    let bytes = format!("#!/bin/sh\n{body}\n").into_bytes();
    std::fs::write(path, &bytes).expect("write hook");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    bytes
}

/// `git-aiflow` run in `dir` with the repository's hermetic environment.
fn aiflow_in(repo: &TestRepo, dir: &Path, args: &[&str]) -> Run {
    Run::of(repo.command_in(BIN, dir).args(args))
}

fn git_in(repo: &TestRepo, dir: &Path, args: &[&str]) -> Run {
    Run::of(repo.command_in("git", dir).args(args))
}

// ---------------------------------------------------------------------------------------------
// check over explicit ranges

#[test]
fn explicit_ranges_count_what_rev_list_counts() {
    let repo = TestRepo::new();
    let init = repo.rev("main").expect("main");
    // x: init - a1 - a2 ---------- m - a3
    // y:          a1 - b1 - b2 ---/
    // z: init - c1
    let a1 = commit_tree(&repo, &[&init], &reviewed("a1: parse the limits"));
    let a2 = commit_tree(&repo, &[&a1], &unreviewed("a2: wire the limiter"));
    let b1 = commit_tree(&repo, &[&a1], &unreviewed("b1: a side quest"));
    let b2 = commit_tree(&repo, &[&b1], &reviewed("b2: the side quest, reviewed"));
    let m = commit_tree(&repo, &[&a2, &b2], "Merge branch 'y' into x\n");
    let a3 = commit_tree(&repo, &[&m], &reviewed("a3: after the merge"));
    let c1 = commit_tree(&repo, &[&init], &unreviewed("c1: elsewhere"));
    branch(&repo, "x", &a3);
    branch(&repo, "y", &b2);
    branch(&repo, "z", &c1);
    // An annotated tag (peeled to a2) and a lightweight one (b1).
    repo.git(&["tag", "-a", "-m", "version 1", "v1", &a2]);
    repo.git(&["tag", "light", &b1]);
    assert_eq!(repo.git(&["cat-file", "-t", "v1"]).trim(), "tag");

    let unreviewed_set: BTreeSet<&str> = [init.as_str(), &a2, &b1, &c1].into_iter().collect();

    let cases: &[&[&str]] = &[
        &["main..x"],
        &["^main", "x"],
        &["x", "^main"],
        &["x"],
        &["x", "^y"],
        &["y..x"],
        &["x..y"],
        &["y", "z", "^main"],
        &["x", "y", "z"],
        &["x", "z", "^y", "^v1"],
        &["main..v1"],
        &["v1"],
        &["^v1", "x"],
        &["v1..x"],
        &["light..x"],
        &["^light", "y", "z"],
        &["x", &a1],
        &[&m, "^y"],
        &["x~1..x"],
        &["x^^2..x"],
        &["x..x"],
    ];
    for args in cases {
        let v = check_json(&repo, args);
        let listed = rev_list(&repo, args);
        assert_eq!(
            count(&v, "commits"),
            listed.len() as u64,
            "check {args:?} counts what rev-list counts: {v:#}"
        );
        assert_eq!(v["range"], args.join(" "), "{args:?}");
        assert_eq!(v["scope"], "full", "{args:?}");
        assert_eq!(count(&v, "out_of_scope"), 0, "{args:?}");
        assert_eq!(
            count(&v, "reviewed") + count(&v, "exempt") + failed(&v).len() as u64,
            count(&v, "commits"),
            "{args:?}: every commit is reviewed, exempt or failing: {v:#}"
        );
        // The merge is the only exempt commit under the default policy.
        assert_eq!(
            count(&v, "exempt"),
            u64::from(listed.contains(&m)),
            "{args:?}: {v:#}"
        );
        // Failures: exactly the unreviewed commits of the range, each once (the order is
        // checked by `failures_are_newest_first_across_merges`).
        let expected: BTreeSet<String> = listed
            .iter()
            .filter(|c| unreviewed_set.contains(c.as_str()))
            .cloned()
            .collect();
        let got = failed(&v);
        assert_eq!(got.len(), expected.len(), "check {args:?}: {v:#}");
        assert_eq!(
            got.into_iter().collect::<BTreeSet<_>>(),
            expected,
            "check {args:?}: {v:#}"
        );
        assert!(reasons(&v).iter().all(|r| r == "no-review"), "{v:#}");
    }

    // The exit code follows the verdict.
    repo.aiflow(&["check", &format!("{a1}..y"), &format!("^{b1}")])
        .ok();
    let v = check_json(&repo, &["light..y"]);
    assert_eq!(count(&v, "commits"), 1);
    assert_eq!(count(&v, "reviewed"), 1);
    repo.aiflow(&["check", "main..x"]).fails(1);
    repo.aiflow(&["check", "x..x"]).ok();
}

/// `check --all` starts from every ref and HEAD, as `git rev-list --all` does, and skips refs
/// that end at a tree or a blob (lightweight and annotated tags of them, a tag of such a tag)
/// the way git does: it judges exactly the commits git lists.
#[test]
fn all_takes_every_ref_and_skips_non_commits_as_git_does() {
    let repo = TestRepo::new();
    let init = repo.rev("main").expect("main");
    let a1 = commit_tree(&repo, &[&init], &reviewed("a1: on a branch"));
    let a2 = commit_tree(&repo, &[&a1], &unreviewed("a2: on a branch"));
    let t1 = commit_tree(&repo, &[&init], &unreviewed("t1: only a tag reaches it"));
    let h1 = commit_tree(&repo, &[&init], &reviewed("h1: only the detached HEAD"));
    let r1 = commit_tree(&repo, &[&init], &unreviewed("r1: only an odd ref"));
    branch(&repo, "x", &a2);
    repo.git(&["tag", "-a", "-m", "annotated", "v1", &t1]);
    repo.git(&["update-ref", "refs/odd/place", &r1]);
    // Refs to non-commits: a blob, a tree, annotated tags of both, a tag of a tag of a tree.
    let blob = repo.git_stdin(&["hash-object", "-w", "--stdin"], "a blob\n");
    let blob = blob.trim();
    repo.git(&["tag", "blob-light", blob]);
    repo.git(&["tag", "-a", "-m", "tree", "tree-tag", "main^{tree}"]);
    repo.git(&["tag", "-a", "-m", "blob", "blob-tag", blob]);
    repo.git(&[
        "-c",
        "advice.nestedTag=false",
        "tag",
        "-a",
        "-m",
        "nested",
        "nested",
        "tree-tag",
    ]);
    repo.git(&["update-ref", "refs/trees/one", "main^{tree}"]);
    repo.git(&["checkout", "-q", "--detach", &h1]);
    let unreviewed_set: BTreeSet<&str> = [init.as_str(), &a2, &t1, &r1].into_iter().collect();

    for args in [&["--all"][..], &["--all", "^x"], &["^main", "--all"]] {
        let listed = rev_list(&repo, args);
        assert_eq!(
            repo.git(&[&["log", "--format=%H"][..], args].concat())
                .lines()
                .count(),
            listed.len(),
            "{args:?}"
        );
        let v = check_json(&repo, args);
        assert_eq!(count(&v, "commits"), listed.len() as u64, "{args:?}: {v:#}");
        let expected: BTreeSet<String> = listed
            .iter()
            .filter(|c| unreviewed_set.contains(c.as_str()))
            .cloned()
            .collect();
        assert_eq!(
            failed(&v).into_iter().collect::<BTreeSet<_>>(),
            expected,
            "{args:?}: {v:#}"
        );
        assert_eq!(
            count(&v, "reviewed") + failed(&v).len() as u64,
            count(&v, "commits"),
            "{args:?}: {v:#}"
        );
    }
    assert_eq!(check_json(&repo, &["--all"])["range"], "--all");
    assert!(rev_list(&repo, &["--all"]).contains(&h1));
    // Everything --all reaches is reviewed once the unreviewed refs are gone: exit 0.
    for r in ["refs/heads/x", "refs/tags/v1", "refs/odd/place"] {
        repo.git(&["update-ref", "-d", r]);
    }
    repo.git(&["update-ref", "refs/heads/main", &a1]);
    repo.aiflow(&["check", "--all", &format!("^{init}")]).ok();
    repo.aiflow(&["check", "--all"]).fails(1);
}

/// "Commits that fail, newest first": in git's order, which is by commit date, also where
/// a merge brings in a side branch whose commits interleave in time with the first parent's.
#[test]
fn failures_are_newest_first_across_merges() {
    let repo = TestRepo::new();
    let init = repo.rev("main").expect("main");
    // Created in this order, so each is newer than the one before (the harness's clock ticks).
    let a1 = commit_tree(&repo, &[&init], &unreviewed("a1"));
    let a2 = commit_tree(&repo, &[&a1], &unreviewed("a2"));
    let b1 = commit_tree(&repo, &[&a1], &unreviewed("b1"));
    let a3 = commit_tree(&repo, &[&a2], &unreviewed("a3"));
    let b2 = commit_tree(&repo, &[&b1], &unreviewed("b2"));
    let m = commit_tree(&repo, &[&a3, &b2], &unreviewed("Merge b"));
    branch(&repo, "x", &m);
    let listed = rev_list(&repo, &["main..x"]);
    assert_eq!(listed, [&m, &b2, &a3, &b1, &a2, &a1].map(String::as_str));
    let v = check_json(&repo, &["main..x"]);
    // The merge is exempt; the others fail, in git's order.
    let subjects: Vec<&str> = v["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| f["subject"].as_str().expect("subject"))
        .collect();
    assert_eq!(subjects, ["b2", "a3", "b1", "a2", "a1"], "{v:#}");
    assert_eq!(failed(&v), [&b2, &a3, &b1, &a2, &a1].map(String::as_str));
}

#[test]
fn failures_name_each_reason_newest_first() {
    let repo = TestRepo::new();
    let init = repo.rev("main").expect("main");
    let r1 = commit_tree(&repo, &[&init], "r1: no review at all\n");
    let r2 = commit_tree(&repo, &[&r1], "r2: malformed\n\nReviewed-by: grace\n");
    let r3 = commit_tree(
        &repo,
        &[&r2],
        "r3: self review\n\nReviewed-by: Ada Lovelace <ADA@example.com>\n",
    );
    let ok = commit_tree(&repo, &[&r3], &reviewed("ok: fine"));
    let r5 = commit_tree(
        &repo,
        &[&ok],
        &format!("r5: review in the body\n\nReviewed-by: {GRACE}\n\nMore text after it.\n"),
    );
    let by_grace = commit_tree_as(
        &repo,
        &[&r5],
        &format!("r6: Grace reviews herself\n\nReviewed-by: {GRACE}\n"),
        Some(("Grace Hopper", "grace@example.com")),
    );
    branch(&repo, "r", &by_grace);

    let v = check_json(&repo, &["main..r"]);
    assert_eq!(v["ok"], false);
    assert_eq!(v["range"], "main..r");
    assert_eq!(v["policy"], "the default policy");
    assert_eq!(count(&v, "commits"), 6);
    assert_eq!(count(&v, "reviewed"), 1);
    assert_eq!(count(&v, "exempt"), 0);
    assert_eq!(
        failed(&v),
        [&by_grace, &r5, &r3, &r2, &r1].map(String::as_str)
    );
    assert_eq!(
        reasons(&v),
        [
            "self-review",
            "no-review",
            "self-review",
            "malformed-review",
            "no-review"
        ]
    );
    let f = &v["failures"];
    assert_eq!(f[0]["subject"], "r6: Grace reviews herself");
    assert_eq!(f[0]["author"], GRACE);
    assert_eq!(f[1]["author"], "Ada Lovelace <ada@example.com>");
    let detail = |i: usize| f[i]["detail"].as_str().expect("detail").to_string();
    assert!(detail(1).contains("trailer block"), "{}", detail(1));
    assert!(detail(2).contains("author"), "{}", detail(2));
    assert!(detail(3).contains("\"grace\""), "{}", detail(3));
    assert_eq!(detail(4), "no Reviewed-by trailer");
    for i in 0..5 {
        assert_eq!(f[i]["commit"].as_str().expect("hex").len(), 40);
    }

    // The human format: one line per failure with the short id, then the summary.
    let human = repo.aiflow(&["check", "main..r"]);
    assert_eq!(human.code, 1, "{human:?}");
    let lines: Vec<&str> = human.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{}", human.stdout);
    for (line, id) in lines.iter().zip([&by_grace, &r5, &r3, &r2, &r1]) {
        assert!(line.starts_with(&id[..12]), "{line}");
    }
    let last = lines.last().expect("summary");
    assert!(last.starts_with("aiflow:"), "{last}");
    assert!(last.contains("6 commits in main..r"), "{last}");
    assert!(last.contains("5 without a valid review"), "{last}");
    let human_ok = repo
        .aiflow(&["check", &format!("{r3}..{ok}"), "--format", "human"])
        .ok();
    assert_eq!(human_ok.lines().count(), 1, "{human_ok}");
    assert!(
        human_ok.starts_with(&format!("aiflow: 1 commit in {r3}..{ok} (1 reviewed; ")),
        "{human_ok}"
    );
    assert!(human_ok.trim_end().ends_with(": ok"), "{human_ok}");

    // --format json is --json.
    let run = repo.aiflow(&["check", "main..r", "--format", "json"]);
    assert_eq!(run.code, 1);
    let again: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(again, v);
}

#[test]
fn github_format_escapes_annotations() {
    let repo = TestRepo::new();
    let init = repo.rev("main").expect("main");
    let c = commit_tree(&repo, &[&init], "Raise the limit to 100% of quota\n");
    // A carriage return inside the subject line (git keeps it; the line ends at the LF).
    let cr = commit_tree(&repo, &[&c], "Half\rway, 50%: done\n");
    branch(&repo, "gh", &cr);
    let run = repo.aiflow(&["check", "main..gh", "--format", "github"]);
    assert_eq!(run.code, 1, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert_eq!(
        lines[0],
        format!(
            "::error title=Unreviewed commit {}::Half%0Dway, 50%25: done (Ada Lovelace <ada@example.com>): no Reviewed-by trailer",
            &cr[..12]
        )
    );
    assert_eq!(
        lines[1],
        format!(
            "::error title=Unreviewed commit {}::Raise the limit to 100%25 of quota (Ada Lovelace <ada@example.com>): no Reviewed-by trailer",
            &c[..12]
        )
    );
    assert!(
        lines[2].starts_with("::error title=aiflow check::aiflow: 2 commits in main..gh"),
        "{}",
        lines[2]
    );
    assert!(!run.stdout.contains('\r'), "{:?}", run.stdout);

    // Passing: a notice, exit 0.
    let out = repo.aiflow(&["check", "gh..gh", "--format", "github"]).ok();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with("::notice title=aiflow check::aiflow: 0 commits"),
        "{out}"
    );
}

#[test]
fn bad_revisions_and_symmetric_ranges_are_usage_errors() {
    let repo = TestRepo::new();
    let init = repo.rev("main").expect("main");
    let c = commit_tree(&repo, &[&init], &reviewed("x"));
    branch(&repo, "x", &c);
    for args in [
        &["check", "no-such-branch"][..],
        &["check", "main..no-such-branch"],
        &["check", "^no-such-branch", "x"],
        &["check", "x", "--json", "^nope"],
    ] {
        let err = repo.aiflow(args).fails(2);
        assert!(err.contains("error: "), "{args:?}: {err}");
        assert!(err.contains("hint: "), "{args:?}: {err}");
    }
    for args in [&["check", "main...x"][..], &["check", "x...main", "--json"]] {
        let run = repo.aiflow(args);
        let err = run.fails(2);
        assert!(
            err.contains("A...B") || err.contains("..."),
            "{args:?}: {err}"
        );
        assert!(err.contains("hint: "), "{args:?}: {err}");
    }
    // A blob is not a commit.
    let blob = repo.git(&["rev-parse", "main:README.md"]);
    repo.aiflow(&["check", blob.trim()]).fails(2);
    // Conflicting output options.
    repo.aiflow(&["check", "x", "--json", "--format", "human"])
        .fails(2);
}

// ---------------------------------------------------------------------------------------------
// Cross-check with git's trailer parsing

/// `Name <email>` as the gate accepts it: a non-empty name, one `@` with text on both sides,
/// no spaces in the email.
fn email_of_ident(value: &str) -> Option<String> {
    let value = value.trim();
    let open = value.find('<')?;
    let inner = value.strip_suffix('>')?.get(open + 1..)?;
    let name = value[..open].trim();
    let (local, domain) = inner.split_once('@')?;
    let ok = !name.is_empty()
        && !name.contains(['<', '>'])
        && !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !inner.contains(['<', '>', ' ', '\t']);
    ok.then(|| inner.to_ascii_lowercase())
}

/// Another author than the harness identity: `(name, email)`.
type Author = Option<(&'static str, &'static str)>;

#[test]
fn reviewed_set_matches_gits_trailers() {
    let repo = TestRepo::new();
    let init = repo.rev("main").expect("main");
    let messages: Vec<(&str, String, Author)> = vec![
        (
            "in block",
            format!("In block\n\nBody.\n\nReviewed-by: {GRACE}\n"),
            None,
        ),
        (
            "not in block",
            format!("Not in block\n\nReviewed-by: {GRACE}\n\nThe body goes on.\n"),
            None,
        ),
        (
            "comment lines",
            format!("Comments\n\nBody.\n\nReviewed-by: {GRACE}\n# a comment line\n# another\n"),
            None,
        ),
        (
            "conflicts block",
            format!(
                "Conflicts after\n\nReviewed-by: {GRACE}\n\nConflicts:\n\tsrc/a.rs\n\tsrc/b.rs\n"
            ),
            None,
        ),
        (
            "crlf",
            format!("CRLF\r\n\r\nBody.\r\n\r\nReviewed-by: {GRACE}\r\n"),
            None,
        ),
        (
            "continuation",
            "Continued\n\nReviewed-by: Grace\n  Hopper <grace@example.com>\n".to_string(),
            None,
        ),
        (
            "two, second valid",
            format!("Two reviews\n\nReviewed-by: grace\nReviewed-by: {GRACE}\n"),
            None,
        ),
        (
            "two, none valid",
            "Two bad reviews\n\nReviewed-by: grace\nReviewed-by: Ada Lovelace <ada@example.com>\n"
                .to_string(),
            None,
        ),
        (
            "lowercase key",
            "Lowercase\n\nreviewed-by: Grace Hopper <grace@example.com>\n".to_string(),
            None,
        ),
        (
            "space before colon",
            "Spaced\n\nReviewed-by : Grace Hopper <grace@example.com>\n".to_string(),
            None,
        ),
        (
            "self review",
            "Self\n\nReviewed-by: Ada Lovelace <ada@example.com>\n".to_string(),
            None,
        ),
        (
            "self review, other case",
            "Self again\n\nReviewed-by: A. Lovelace <Ada@Example.COM>\n".to_string(),
            None,
        ),
        (
            "non-trailer line in block",
            format!("Mixed\n\nReviewed-by: {GRACE}\nthis line is not a trailer\n"),
            None,
        ),
        (
            "signed-off-by makes the block",
            format!(
                "Mixed with sign-off\n\nSigned-off-by: Ada Lovelace <ada@example.com>\nReviewed-by: {GRACE}\nthis line is not a trailer\n"
            ),
            None,
        ),
        ("subject only", format!("Reviewed-by: {GRACE}\n"), None),
        (
            "blank lines after",
            format!("Trailing blanks\n\nReviewed-by: {GRACE}\n\n\n"),
            None,
        ),
        (
            "bad email",
            "Bad email\n\nReviewed-by: Grace Hopper <grace>\n".to_string(),
            None,
        ),
        (
            "other author, reviewed by ada",
            "By Grace\n\nReviewed-by: Ada Lovelace <ada@example.com>\n".to_string(),
            Some(("Grace Hopper", "grace@example.com")),
        ),
        (
            "other author, self review",
            format!("By Grace, self\n\nReviewed-by: {GRACE}\n"),
            Some(("Grace Hopper", "grace@example.com")),
        ),
        (
            "three-dash line",
            format!("Dashes\n\nBody.\n---\nReviewed-by: {GRACE}\n"),
            None,
        ),
        (
            "cherry-pick line makes the block",
            format!(
                "Picked\n\nReviewed-by: {GRACE}\n(cherry picked from commit 1234567890abcdef1234567890abcdef12345678)\nnot a trailer\n"
            ),
            None,
        ),
        (
            "tab before colon",
            "Tabbed\n\nReviewed-by\t: Grace Hopper <grace@example.com>\n".to_string(),
            None,
        ),
        (
            "scissors line",
            format!(
                "Scissors\n\nReviewed-by: {GRACE}\n# ------------------------ >8 ------------------------\nReviewed-by: Ada Lovelace <ada@example.com>\n"
            ),
            None,
        ),
        (
            "other trailer key",
            format!("Acked\n\nAcked-by: {GRACE}\n"),
            None,
        ),
    ];
    let mut tip = init.clone();
    let mut names = BTreeMap::new();
    for (name, msg, author) in &messages {
        tip = commit_tree_as(&repo, &[&tip], msg, *author);
        names.insert(tip.clone(), *name);
    }
    branch(&repo, "t", &tip);

    // What git reads: the commit, its author's email, the unfolded Reviewed-by values.
    let log = repo.git(&[
        "log",
        "--format=%H%x1f%ae%x1f%(trailers:key=Reviewed-by,valueonly,unfold,separator=%x1f)%x1e",
        "main..t",
    ]);
    let mut expected = BTreeSet::new();
    let mut all = BTreeSet::new();
    for record in log.split('\x1e') {
        let record = record.trim_start_matches('\n');
        if record.is_empty() {
            continue;
        }
        let mut fields = record.split('\x1f');
        let id = fields.next().expect("id").to_string();
        let author = fields.next().expect("author").to_ascii_lowercase();
        let valid = fields.any(|value| email_of_ident(value).is_some_and(|e| e != author));
        if valid {
            expected.insert(id.clone());
        }
        all.insert(id);
    }
    assert_eq!(all.len(), messages.len(), "{log}");
    // The corpus must exercise both sides.
    assert!(
        expected.len() >= 6 && all.len() - expected.len() >= 6,
        "{expected:?}"
    );

    let v = check_json(&repo, &["main..t"]);
    assert_eq!(count(&v, "commits"), messages.len() as u64);
    assert_eq!(count(&v, "exempt"), 0);
    let failing: BTreeSet<String> = failed(&v).into_iter().collect();
    let reviewed_by_check: BTreeSet<String> = all.difference(&failing).cloned().collect();
    let name = |ids: &BTreeSet<String>| -> Vec<&str> { ids.iter().map(|i| names[i]).collect() };
    assert_eq!(
        name(&reviewed_by_check),
        name(&expected),
        "commits check considers reviewed (left) vs what git's trailers say (right)"
    );
    assert_eq!(count(&v, "reviewed"), expected.len() as u64);
}

// ---------------------------------------------------------------------------------------------
// The policy

#[test]
fn policy_file_settings() {
    let repo = TestRepo::new();
    let init = repo.rev("main").expect("main");

    // Commits on `x` (off the initial commit; the policy is committed on main).
    let approved = commit_tree(
        &repo,
        &[&init],
        &format!("Approved\n\nApproved-by: {GRACE}\n"),
    );
    let rev_grace = commit_tree(&repo, &[&approved], &reviewed("Reviewed by Grace"));
    let rev_self = commit_tree(
        &repo,
        &[&rev_grace],
        "Reviewed by its author\n\nReviewed-by: Ada Lovelace <ada@example.com>\n",
    );
    let rev_alan = commit_tree(
        &repo,
        &[&rev_self],
        "Reviewed by Alan\n\nReviewed-by: Alan Turing <alan@example.com>\n",
    );
    let rev_grace_upper = commit_tree(
        &repo,
        &[&rev_alan],
        "Reviewed by GRACE\n\nReviewed-by: Grace Hopper <GRACE@EXAMPLE.COM>\n",
    );
    branch(&repo, "x", &rev_grace_upper);

    // The default policy.
    let v = check_json(&repo, &["main..x"]);
    assert_eq!(v["policy"], "the default policy");
    assert_eq!(failed(&v), [&rev_self, &approved].map(String::as_str));
    assert_eq!(reasons(&v), ["self-review", "no-review"]);

    // Another review trailer: Reviewed-by no longer counts.
    set_policy(
        &repo,
        Some("schema = 1\n[gate]\nreview-trailers = [\"Approved-by\"]\n"),
    );
    let v = check_json(&repo, &["main..x"]);
    assert!(
        v["policy"]
            .as_str()
            .expect("policy")
            .contains(".aiflow.toml"),
        "{v:#}"
    );
    assert_eq!(
        failed(&v),
        [&rev_grace_upper, &rev_alan, &rev_self, &rev_grace].map(String::as_str)
    );
    assert!(reasons(&v).iter().all(|r| r == "no-review"), "{v:#}");
    assert!(
        v["failures"][0]["detail"]
            .as_str()
            .expect("detail")
            .contains("Approved-by"),
        "{v:#}"
    );

    // Two keys: either counts.
    set_policy(
        &repo,
        Some("schema = 1\n[gate]\nreview-trailers = [\"Approved-by\", \"Reviewed-by\"]\n"),
    );
    let v = check_json(&repo, &["main..x"]);
    assert_eq!(failed(&v), [&rev_self].map(String::as_str));

    // Self review allowed.
    set_policy(
        &repo,
        Some("schema = 1\n[gate]\nallow-self-review = true\n"),
    );
    let v = check_json(&repo, &["main..x"]);
    assert_eq!(failed(&v), [&approved].map(String::as_str));

    // An allow-list of reviewers (as "Name <email>" and as an email, any letter case).
    set_policy(
        &repo,
        Some(
            "schema = 1\n[gate]\nreviewers = [\"Grace Hopper <Grace@Example.com>\", \"nobody@example.com\"]\n",
        ),
    );
    let v = check_json(&repo, &["main..x"]);
    assert_eq!(
        failed(&v),
        [&rev_alan, &rev_self, &approved].map(String::as_str)
    );
    assert_eq!(
        reasons(&v),
        ["reviewer-not-allowed", "self-review", "no-review"]
    );
    assert!(
        v["failures"][0]["detail"]
            .as_str()
            .expect("detail")
            .contains("alan@example.com"),
        "{v:#}"
    );
    // With self review allowed, an author on the list may review their own commit; others may not.
    set_policy(
        &repo,
        Some("schema = 1\n[gate]\nallow-self-review = true\nreviewers = [\"ada@example.com\"]\n"),
    );
    let v = check_json(&repo, &["main..x"]);
    assert_eq!(
        failed(&v),
        [&rev_grace_upper, &rev_alan, &rev_grace, &approved].map(String::as_str)
    );
    assert_eq!(
        reasons(&v),
        [
            "reviewer-not-allowed",
            "reviewer-not-allowed",
            "reviewer-not-allowed",
            "no-review"
        ]
    );
}

#[test]
fn policy_exemptions_for_merges_and_anchors() {
    let repo = TestRepo::new();
    let init = repo.rev("main").expect("main");
    let x1 = commit_tree(&repo, &[&init], &reviewed("x1"));
    let s1 = commit_tree(&repo, &[&init], &reviewed("s1"));
    let merge = commit_tree(&repo, &[&x1, &s1], "Merge branch 's' into x\n");
    let reviewed_merge = commit_tree(
        &repo,
        &[&merge, &s1],
        &format!("Merge again\n\nReviewed-by: {GRACE}\n"),
    );
    branch(&repo, "x", &merge);
    branch(&repo, "x2", &reviewed_merge);
    repo.new_rate_limit();
    let anchor = repo.rev("aiflow/rate-limit").expect("anchor");

    // Default: merges and the anchor are exempt.
    let v = check_json(&repo, &["main..x"]);
    assert_eq!(
        (
            count(&v, "commits"),
            count(&v, "reviewed"),
            count(&v, "exempt")
        ),
        (3, 2, 1)
    );
    let v = check_json(&repo, &["main..aiflow/rate-limit"]);
    assert_eq!(
        (
            count(&v, "commits"),
            count(&v, "reviewed"),
            count(&v, "exempt")
        ),
        (1, 0, 1)
    );

    // exempt-merges = false: the merge needs its own review; a reviewed merge passes.
    set_policy(&repo, Some("schema = 1\n[gate]\nexempt-merges = false\n"));
    let v = check_json(&repo, &["main..x"]);
    assert_eq!(failed(&v), [&merge].map(String::as_str));
    assert_eq!(reasons(&v), ["no-review"]);
    assert_eq!(count(&v, "exempt"), 0);
    let v = check_json(&repo, &["x..x2"]);
    assert_eq!(
        (count(&v, "reviewed"), v["ok"].clone()),
        (1, Value::Bool(true))
    );
    // The anchor is still exempt.
    let v = check_json(&repo, &["main..aiflow/rate-limit"]);
    assert_eq!(count(&v, "exempt"), 1, "{v:#}");

    // exempt-anchor = false: the anchor fails; merges are exempt again.
    set_policy(&repo, Some("schema = 1\n[gate]\nexempt-anchor = false\n"));
    let v = check_json(&repo, &["main..aiflow/rate-limit"]);
    assert_eq!(failed(&v), [&anchor].map(String::as_str));
    assert_eq!(reasons(&v), ["no-review"]);
    let v = check_json(&repo, &["main..x"]);
    assert_eq!(count(&v, "exempt"), 1, "{v:#}");
    repo.aiflow(&["check", "main..aiflow/rate-limit"]).fails(1);

    // A commit with an Aiflow-Flow trailer that changes the tree is no anchor: it needs a
    // review under the default policy.
    repo.write("src.txt", "work\n");
    repo.git(&["add", "src.txt"]);
    let tree = repo.git(&["write-tree"]);
    let file = repo.outside("fake-anchor", b"Not an anchor\n\nAiflow-Flow: rate-limit\n");
    let fake = repo
        .git(&[
            "commit-tree",
            tree.trim(),
            "-p",
            &anchor,
            "-F",
            file.to_str().expect("utf-8"),
        ])
        .trim()
        .to_string();
    repo.git(&["reset", "-q", "--hard"]);
    set_policy(&repo, None);
    let v = check_json(&repo, &[&format!("{anchor}..{fake}")]);
    assert_eq!(failed(&v), [&fake].map(String::as_str));
}

#[test]
fn invalid_policy_files_are_usage_errors() {
    let repo = TestRepo::new();
    let init = repo.rev("main").expect("main");
    let c = commit_tree(&repo, &[&init], &reviewed("x"));
    branch(&repo, "x", &c);

    set_policy(&repo, Some("schema = 1\n[gate\nallow-self-review = true\n"));
    let err = repo.aiflow(&["check", "main..x"]).fails(2);
    assert!(err.contains(".aiflow.toml"), "{err}");
    assert!(err.starts_with("error: "), "{err}");

    set_policy(
        &repo,
        Some("schema = 1\n[gate]\nreviewer = [\"grace@example.com\"]\n"),
    );
    let run = repo.aiflow(&["check", "main..x", "--json"]);
    assert_eq!(run.stdout, "", "no report when the policy is invalid");
    let err = run.fails(2);
    assert!(err.contains(".aiflow.toml"), "{err}");
    assert!(err.contains("reviewer"), "{err}");

    // Each invalid file exits 2 naming the file and what is wrong in it.
    for (policy, named) in [
        (
            "schema = 1\nallow-self-review = true\n",
            "allow-self-review",
        ),
        ("schema = 2\n", "schema"),
        (
            "schema = 1\n[gate]\nreview-trailers = []\n",
            "review-trailers",
        ),
        ("schema = 1\n[gate]\nreviewers = [\"grace\"]\n", "grace"),
    ] {
        set_policy(&repo, Some(policy));
        let err = repo.aiflow(&["check", "main..x"]).fails(2);
        assert!(
            err.contains(".aiflow.toml") && err.contains(named),
            "{policy}: {err}"
        );
    }

    // A valid file again: exit 0.
    set_policy(&repo, Some("schema = 1\n"));
    repo.aiflow(&["check", "main..x"]).ok();
}

/// Branch `x`: one commit on `main` that its author reviewed; the commit.
fn self_reviewed_branch(repo: &TestRepo) -> String {
    let init = repo.rev("main").expect("main");
    let c = commit_tree(
        repo,
        &[&init],
        "Self reviewed\n\nReviewed-by: Ada Lovelace <ada@example.com>\n",
    );
    branch(repo, "x", &c);
    c
}

#[test]
fn config_applies_only_where_the_policy_file_allows_it() {
    let repo = TestRepo::new();
    let c = self_reviewed_branch(&repo);

    // No policy file: config applies.
    repo.aiflow(&["check", "main..x"]).fails(1);
    repo.git(&["config", "aiflow.allowSelfReview", "true"]);
    let v = check_json(&repo, &["main..x"]);
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(v["policy"], "the default policy with aiflow.* config");

    // A policy file without allow-config: config is ignored.
    set_policy(&repo, Some("schema = 1\n"));
    let v = check_json(&repo, &["main..x"]);
    assert_eq!(reasons(&v), ["self-review"], "{v:#}");
    assert!(
        !v["policy"].as_str().expect("policy").contains("config"),
        "{v:#}"
    );
    set_policy(&repo, Some("schema = 1\n[gate]\nallow-config = false\n"));
    repo.aiflow(&["check", "main..x"]).fails(1);

    // With allow-config = true: honoured.
    set_policy(&repo, Some("schema = 1\n[gate]\nallow-config = true\n"));
    let v = check_json(&repo, &["main..x"]);
    assert_eq!(v["ok"], true, "{v:#}");
    assert!(
        v["policy"]
            .as_str()
            .expect("policy")
            .contains("aiflow.* config"),
        "{v:#}"
    );

    // Config can also tighten, and a bad value is an error, not a silent default.
    repo.git(&["config", "aiflow.allowSelfReview", "false"]);
    repo.aiflow(&["check", "main..x"]).fails(1);
    repo.git(&["config", "aiflow.allowSelfReview", "maybe"]);
    let err = repo.aiflow(&["check", "main..x"]).fails(2);
    assert!(err.contains("aiflow.allowSelfReview"), "{err}");
    repo.git(&["config", "--unset", "aiflow.allowSelfReview"]);

    // Other keys: the review trailer and the reviewer list.
    let approved = commit_tree(&repo, &[&c], &format!("Approved\n\nApproved-by: {GRACE}\n"));
    branch(&repo, "x", &approved);
    repo.git(&["config", "aiflow.reviewTrailer", "Approved-by"]);
    let v = check_json(&repo, &["x^..x"]);
    assert_eq!(v["ok"], true, "{v:#}");
    repo.git(&["config", "aiflow.reviewer", "alan@example.com"]);
    let v = check_json(&repo, &["x^..x"]);
    assert_eq!(reasons(&v), ["reviewer-not-allowed"], "{v:#}");
    // Ignored once the file stops allowing config.
    set_policy(&repo, Some("schema = 1\n"));
    let v = check_json(&repo, &["x^..x"]);
    assert_eq!(reasons(&v), ["no-review"], "{v:#}");
}

/// `git -c key=value aiflow …` (and `--config-env`) reaches git-aiflow in
/// `GIT_CONFIG_PARAMETERS`, which gix does not read: it applies like config, with the highest
/// precedence, quoting and all; a malformed one is refused, not ignored.
#[test]
fn git_dash_c_applies_like_config() {
    let repo = TestRepo::new();
    let c = self_reviewed_branch(&repo);
    let check = |pre: &[&str], range: &str| -> Value {
        let mut args: Vec<&str> = pre.to_vec();
        args.extend(["aiflow", "check", "--json", range]);
        let r = repo.git_run(&args);
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"))
    };
    assert_eq!(reasons(&check(&[], "main..x")), ["self-review"]);
    let v = check(&["-c", "aiflow.allowSelfReview=true"], "main..x");
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(v["policy"], "the default policy with aiflow.* config");
    // Above the repository's config, as git orders them.
    repo.git(&["config", "aiflow.allowSelfReview", "true"]);
    let v = check(&["-c", "aiflow.allowSelfReview=false"], "main..x");
    assert_eq!(reasons(&v), ["self-review"], "{v:#}");
    repo.git(&["config", "--unset", "aiflow.allowSelfReview"]);
    // A key alone means true; `--config-env` takes the value from the environment.
    let v = check(&["-c", "aiflow.allowSelfReview"], "main..x");
    assert_eq!(v["ok"], true, "{v:#}");
    let r = Run::of(repo.command("git").env("ALLOW", "true").args([
        "--config-env=aiflow.allowSelfReview=ALLOW",
        "aiflow",
        "check",
        "main..x",
    ]));
    assert_eq!(r.code, 0, "{r:?}");

    // Values with quotes and `!` (which git quotes specially) arrive whole.
    let odd = "o'hara!@example.com";
    let approved = commit_tree(
        &repo,
        &[&c],
        &format!("Approved\n\nApproved-by: Pat O'Hara <{odd}>\n"),
    );
    branch(&repo, "x", &approved);
    assert_eq!(reasons(&check(&[], "x^..x")), ["no-review"]);
    let trailer = ["-c", "aiflow.reviewTrailer=Approved-by"];
    let v = check(&trailer, "x^..x");
    assert_eq!(v["ok"], true, "{v:#}");
    let only = format!("aiflow.reviewer={odd}");
    let v = check(&[trailer[0], trailer[1], "-c", &only], "x^..x");
    assert_eq!(v["ok"], true, "{v:#}");
    let v = check(
        &[
            trailer[0],
            trailer[1],
            "-c",
            "aiflow.reviewer=o'hara@example.com",
        ],
        "x^..x",
    );
    assert_eq!(reasons(&v), ["reviewer-not-allowed"], "{v:#}");
    // An invalid value is an error naming where it comes from.
    let r = repo.git_run(&[
        "-c",
        "aiflow.reviewTrailer=Not a key",
        "aiflow",
        "check",
        "x^..x",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("`git -c`"), "{r:?}");

    // Malformed (git itself never passes one): refused with the variable named.
    let r = Run::of(
        repo.command(BIN)
            .env("GIT_CONFIG_PARAMETERS", "'aiflow.allowSelfReview")
            .args(["check", "main..x"]),
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("GIT_CONFIG_PARAMETERS"), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// check without a range

#[test]
fn implicit_range_on_flow_branches() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let anchor = repo.rev("aiflow/rate-limit").expect("anchor");

    // A subtask branch: what it brings into its integration branch.
    let s1 = commit_tree(&repo, &[&anchor], &reviewed("s1: token bucket"));
    let s2 = commit_tree(&repo, &[&s1], &unreviewed("s2: headers"));
    let subtask = "aiflow/rate-limit--a1-bucket";
    branch(&repo, subtask, &s2);
    repo.git(&["checkout", "-q", subtask]);
    let v = check_json(&repo, &[]);
    assert_eq!(v["range"], format!("aiflow/rate-limit..{subtask}"));
    assert_eq!(v["scope"], "integration");
    assert_eq!(count(&v, "commits"), 2);
    // On the way into an integration branch, a typed trailer binds to nothing.
    assert_eq!(count(&v, "reviewed"), 0);
    assert_eq!(failed(&v), [&s2, &s1].map(String::as_str));
    assert_eq!(reasons(&v), ["no-review", "unbound-review"]);
    repo.aiflow(&["check"]).fails(1);

    // The integration branch moved on: the subtask's range shrinks to what is new.
    let i1 = commit_tree(&repo, &[&s1], &reviewed("i1: merged s1"));
    branch(&repo, "aiflow/rate-limit", &i1);
    let v = check_json(&repo, &[]);
    assert_eq!(
        count(&v, "commits"),
        rev_list(&repo, &["aiflow/rate-limit..HEAD"]).len() as u64
    );
    assert_eq!(failed(&v), [&s2].map(String::as_str));

    // The integration branch: what it brings into its base (main, guarded for flows).
    repo.git(&["checkout", "-q", "aiflow/rate-limit"]);
    let v = check_json(&repo, &[]);
    assert_eq!(v["range"], "main..aiflow/rate-limit");
    assert_eq!(v["scope"], "flow");
    assert_eq!(
        count(&v, "commits"),
        rev_list(&repo, &["main..aiflow/rate-limit"]).len() as u64
    );
    assert_eq!(count(&v, "exempt"), 1, "the anchor: {v:#}");
    // The flow's commits are in scope, and typed trailers bind to nothing there either.
    assert_eq!(failed(&v), [&i1, &s1].map(String::as_str));
    assert_eq!(reasons(&v), ["unbound-review", "unbound-review"]);
    repo.aiflow(&["check"]).fails(1);
    let bad = commit_tree(
        &repo,
        &[&i1],
        &unreviewed("i2: unreviewed on the integration branch"),
    );
    repo.git(&["reset", "-q", "--hard", &bad]);
    let v = check_json(&repo, &[]);
    assert_eq!(failed(&v), [&bad, &i1, &s1].map(String::as_str));
    // main moved on meanwhile: still only the flow's commits.
    repo.git(&["checkout", "-q", "main"]);
    repo.write("main.txt", "main work\n");
    repo.git(&["add", "main.txt"]);
    repo.git(&["commit", "-q", "-m", "Main moves on"]);
    repo.git(&["checkout", "-q", "aiflow/rate-limit"]);
    let v = check_json(&repo, &[]);
    assert_eq!(count(&v, "commits"), 4, "{v:#}");
    assert_eq!(count(&v, "out_of_scope"), 0, "{v:#}");

    // A branch outside any flow: usage error with a hint.
    repo.git(&["checkout", "-q", "-b", "feature", "main"]);
    let err = repo.aiflow(&["check"]).fails(2);
    assert!(err.contains("feature"), "{err}");
    assert!(err.contains("hint: "), "{err}");
    repo.aiflow(&["check", "--json"]).fails(2);
    // main itself is no flow branch either.
    repo.git(&["checkout", "-q", "main"]);
    repo.aiflow(&["check"]).fails(2);
    // Detached HEAD.
    repo.git(&["checkout", "-q", "--detach", "main"]);
    let err = repo.aiflow(&["check"]).fails(2);
    assert!(err.contains("detached") && err.contains("hint: "), "{err}");

    // The base branch is gone: the integration branch is checked against the base commit.
    let base_commit = repo.git(&["rev-parse", "aiflow/rate-limit~4"]);
    let base_commit = base_commit.trim();
    assert_eq!(
        Some(base_commit),
        repo.git(&["rev-list", "--max-parents=0", "HEAD"])
            .lines()
            .next()
    );
    repo.git(&["checkout", "-q", "aiflow/rate-limit"]);
    repo.git(&["branch", "-D", "main", "feature"]);
    let v = check_json(&repo, &[]);
    assert_eq!(
        v["range"],
        format!("{}..aiflow/rate-limit", &base_commit[..12])
    );
    assert_eq!(
        count(&v, "commits"),
        rev_list(&repo, &[&format!("{base_commit}..aiflow/rate-limit")]).len() as u64
    );
    assert_eq!(failed(&v), [&bad].map(String::as_str));
}

#[test]
fn explicit_range_policy_comes_from_master_without_main() {
    let repo = TestRepo::new();
    repo.git(&["branch", "-m", "main", "master"]);
    let init = repo.rev("master").expect("master");
    let c = commit_tree(
        &repo,
        &[&init],
        "Self reviewed\n\nReviewed-by: Ada Lovelace <ada@example.com>\n",
    );
    branch(&repo, "x", &c);
    repo.aiflow(&["check", "master..x"]).fails(1);
    set_policy(
        &repo,
        Some("schema = 1\n[gate]\nallow-self-review = true\n"),
    );
    let v = check_json(&repo, &["master..x"]);
    assert_eq!(v["ok"], true, "{v:#}");
    assert!(
        v["policy"]
            .as_str()
            .expect("policy")
            .contains(".aiflow.toml"),
        "{v:#}"
    );
    // `A..B` takes A's policy when A has one; a range with nothing hidden takes the trunk's,
    // and main, once it exists, wins over master.
    repo.aiflow(&["check", &format!("^{init}"), "x"]).ok();
    repo.git(&["branch", "main", &init]);
    repo.aiflow(&["check", "master..x"]).ok();
    repo.aiflow(&["check", "x", "^master"]).ok();
    repo.aiflow(&["check", &format!("^{init}"), "x"]).fails(1);
    repo.git(&["branch", "-D", "main"]);
    repo.aiflow(&["check", "master..x"]).ok();
    // The checked-out branch (whose tree has no policy file) does not matter.
    repo.git(&["checkout", "-q", "x"]);
    repo.aiflow(&["check", "master..x"]).ok();
}

#[test]
fn implicit_range_during_a_conflicted_merge() {
    let repo = TestRepo::new();
    repo.new_rate_limit();

    // A flow commit that conflicts with main.
    repo.git(&["checkout", "-q", "aiflow/rate-limit"]);
    repo.write("README.md", "# test\n\nflow side\n");
    repo.git(&["commit", "-q", "-am", "Flow: rewrite the README"]);
    let flow_commit = repo.rev("HEAD").expect("head");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("README.md", "# test\n\nmain side\n");
    repo.git(&["commit", "-q", "-am", "Main: rewrite the README"]);
    let main_before = repo.rev("main").expect("main");

    let run = repo.git_run(&[
        "merge",
        "--no-ff",
        "-m",
        "Merge the flow",
        "aiflow/rate-limit",
    ]);
    assert_eq!(run.code, 1, "conflict: {run:?}");
    assert!(repo.path.join(".git/MERGE_HEAD").exists());
    let v = check_json(&repo, &[]);
    assert_eq!(v["range"], "HEAD..MERGE_HEAD");
    assert_eq!(v["scope"], "flow");
    assert_eq!(
        count(&v, "commits"),
        rev_list(&repo, &["HEAD..MERGE_HEAD"]).len() as u64
    );
    assert_eq!(count(&v, "exempt"), 1, "the anchor: {v:#}");
    assert_eq!(failed(&v), [&flow_commit].map(String::as_str));
    repo.aiflow(&["check"]).fails(1);
    repo.git(&["merge", "--abort"]);
    assert_eq!(repo.rev("main").as_deref(), Some(main_before.as_str()));

    // A conflicted merge into a branch no policy protects: every commit counts.
    repo.git(&["checkout", "-q", "-b", "topic", "main"]);
    repo.git(&["checkout", "-q", "-b", "other", "main~1"]);
    repo.write("README.md", "# test\n\nother side\n");
    repo.git(&["commit", "-q", "-am", "Other: rewrite the README"]);
    let other = repo.rev("HEAD").expect("head");
    repo.git(&["checkout", "-q", "topic"]);
    let run = repo.git_run(&["merge", "-m", "Merge other", "other"]);
    assert_eq!(run.code, 1, "conflict: {run:?}");
    let v = check_json(&repo, &[]);
    assert_eq!(v["range"], "HEAD..MERGE_HEAD");
    assert_eq!(v["scope"], "full");
    assert_eq!(count(&v, "commits"), 1);
    assert_eq!(failed(&v), [&other].map(String::as_str));
    // An explicit range still wins over the merge in progress.
    let v = check_json(&repo, &["topic~1..topic"]);
    assert_eq!(v["range"], "topic~1..topic");
    repo.git(&["merge", "--abort"]);
}

// ---------------------------------------------------------------------------------------------
// The trunk, through the installed hooks

#[test]
fn trunk_refuses_unreviewed_flow_commits_but_not_ordinary_work() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let anchor = repo.rev("aiflow/rate-limit").expect("anchor");
    // An unreviewed commit on the integration branch, made before the hooks exist.
    let f1 = commit_tree(&repo, &[&anchor], &unreviewed("f1: unreviewed flow work"));
    branch(&repo, "aiflow/rate-limit", &f1);
    repo.aiflow(&["hooks", "install"]).ok();

    // Ordinary commits on main, outside any flow: allowed.
    repo.write("main.txt", "one\n");
    repo.git(&["add", "main.txt"]);
    let run = repo.git_run(&["commit", "-q", "-m", "Ordinary work on main"]);
    assert_eq!(run.code, 0, "{run:?}");
    let o1 = repo.rev("main").expect("main");

    // A work branch holding ordinary work and the merged flow.
    repo.git(&["checkout", "-q", "-b", "work"]);
    repo.write("work.txt", "two\n");
    repo.git(&["add", "work.txt"]);
    repo.git(&["commit", "-q", "-m", "o2: ordinary work on a branch"]);
    let o2 = repo.rev("HEAD").expect("head");
    repo.git(&[
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge the flow into work",
        "aiflow/rate-limit",
    ]);
    let work = repo.rev("HEAD").expect("head");
    repo.git(&["checkout", "-q", "main"]);

    // The same as a merge in progress on main: the ordinary commit is out of scope.
    repo.git(&["merge", "--no-commit", "--no-ff", "work"]);
    let v = check_json(&repo, &[]);
    assert_eq!(v["scope"], "flow");
    assert_eq!(count(&v, "commits"), 4, "{v:#}");
    assert_eq!(count(&v, "out_of_scope"), 1, "o2: {v:#}");
    assert_eq!(count(&v, "exempt"), 2, "the merge and the anchor: {v:#}");
    assert_eq!(failed(&v), [&f1].map(String::as_str));
    repo.git(&["merge", "--abort"]);

    // Fast-forwarding main onto it: refused by the reference-transaction hook, naming f1 only.
    let run = repo.git_run(&["merge", "--ff-only", "work"]);
    assert_eq!(
        run.code, 128,
        "git refuses when the reference-transaction hook does: {run:?}"
    );
    assert_eq!(
        repo.rev("main").as_deref(),
        Some(o1.as_str()),
        "main did not move"
    );
    assert!(
        run.stderr.contains("aiflow: main is protected"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(&f1[..12]), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("aiflow: main is protected: 1 commit without a valid review"),
        "o2 is outside any flow: {}",
        run.stderr
    );
    assert!(!run.stderr.contains(&o2[..12]), "{}", run.stderr);
    assert!(!run.stderr.contains(&work[..12]), "{}", run.stderr);
    repo.git(&["reset", "-q", "--hard", "main"]);

    // A --no-ff merge of the integration branch, skipping pre-merge-commit (--no-verify): the
    // reference-transaction hook still refuses it.
    let run = repo.git_run(&[
        "merge",
        "--no-ff",
        "--no-verify",
        "-m",
        "Merge the flow",
        "aiflow/rate-limit",
    ]);
    assert_eq!(run.code, 128, "{run:?}");
    assert!(
        run.stderr.contains("aiflow: main is protected"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(&f1[..12]), "{}", run.stderr);
    assert_eq!(
        repo.rev("main").as_deref(),
        Some(o1.as_str()),
        "main did not move"
    );
    repo.git(&["reset", "-q", "--hard", "main"]);
    // With pre-merge-commit: refused before the commit exists.
    let run = repo.git_run(&[
        "merge",
        "--no-ff",
        "-m",
        "Merge the flow",
        "aiflow/rate-limit",
    ]);
    assert_eq!(run.code, 1, "pre-merge-commit refuses: {run:?}");
    assert!(run.stderr.contains(&f1[..12]), "{}", run.stderr);
    assert!(
        run.stderr.contains("the merge was not committed"),
        "{}",
        run.stderr
    );
    assert_eq!(
        repo.rev("main").as_deref(),
        Some(o1.as_str()),
        "main did not move"
    );
    let _ = repo.git_run(&["merge", "--abort"]);
    repo.git(&["reset", "-q", "--hard", "main"]);

    // Another plain commit on main still succeeds.
    repo.write("main.txt", "three\n");
    let run = repo.git_run(&["commit", "-q", "-am", "More ordinary work"]);
    assert_eq!(run.code, 0, "{run:?}");

    // Once the flow's work is reviewed (a subtask approved by Grace and integrated), the merge
    // goes in.
    let run = repo.git_run(&["branch", "-f", "aiflow/rate-limit", &anchor]);
    assert_eq!(run.code, 0, "moving back brings nothing in: {run:?}");
    repo.plan_subtasks(&[("a1", "Limiter")]);
    repo.aiflow(&["start", "a1"]).ok();
    repo.write("limiter.rs", "limit\n");
    repo.git(&["add", "limiter.rs"]);
    repo.git(&["commit", "-q", "-m", "f1: reviewed flow work"]);
    repo.aiflow_env(
        &["approve", "a1"],
        &[
            ("GIT_COMMITTER_NAME", "Grace Hopper"),
            ("GIT_COMMITTER_EMAIL", "grace@example.com"),
        ],
    )
    .ok();
    repo.git(&["checkout", "-q", "main"]);
    repo.aiflow(&["integrate", "a1"]).ok();
    let run = repo.git_run(&[
        "merge",
        "--no-ff",
        "-m",
        "Merge the flow",
        "aiflow/rate-limit",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        repo.rev("main^2"),
        repo.rev("aiflow/rate-limit"),
        "the merge is on main"
    );
}

// ---------------------------------------------------------------------------------------------
// hooks install, uninstall, status

#[test]
fn hooks_install_is_idempotent_and_matches_the_shipped_shims() {
    let repo = TestRepo::new();
    let dir = repo.path.join(".git/hooks");
    let before = snapshot(&dir);

    let out = repo.aiflow(&["hooks", "install"]).ok();
    for name in CLIENT_HOOKS {
        let path = dir.join(name);
        assert_eq!(
            std::fs::read(&path).expect("installed"),
            shipped(name),
            "{name}"
        );
        assert!(is_executable(&path), "{name} is executable");
        assert!(out.contains(&format!("{name}: installed")), "{name}: {out}");
    }
    assert!(!dir.join("pre-receive").exists(), "no server hook");
    // Nothing else changed (the samples git wrote are left alone).
    let after = snapshot(&dir);
    let added: BTreeSet<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    assert_eq!(
        added,
        CLIENT_HOOKS
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .iter()
            .collect()
    );
    for (k, v) in &before {
        assert_eq!(after.get(k), Some(v), "{k} unchanged");
    }

    // Again: byte-identical, "up to date".
    let out = repo.aiflow(&["hooks", "install"]).ok();
    for name in CLIENT_HOOKS {
        assert!(
            out.contains(&format!("{name}: up to date")),
            "{name}: {out}"
        );
    }
    assert_eq!(snapshot(&dir), after);

    // status --json.
    let v = repo.aiflow(&["hooks", "status", "--json"]).json();
    assert_eq!(v["dir"], canonical(&dir));
    assert_eq!(v["installed"], true);
    let hooks = v["hooks"].as_array().expect("hooks");
    assert_eq!(hooks.len(), 4);
    for (h, name) in hooks.iter().zip(CLIENT_HOOKS) {
        assert_eq!(h["name"], name);
        assert_eq!(h["path"], format!("{}/{name}", canonical(&dir)));
        assert_eq!(h["installed"], true, "{h}");
        assert_eq!(h["chained"], false, "{h}");
        assert_eq!(h["foreign"], false, "{h}");
    }
    let human = repo.aiflow(&["hooks", "status"]).ok();
    assert!(
        human.contains("reference-transaction: installed"),
        "{human}"
    );

    // Uninstall: gone; the samples stay; twice is fine.
    let out = repo.aiflow(&["hooks", "uninstall"]).ok();
    assert!(out.contains("pre-push: removed"), "{out}");
    assert_eq!(snapshot(&dir), before);
    let out = repo.aiflow(&["hooks", "uninstall"]).ok();
    assert!(out.contains("pre-push: not installed"), "{out}");
    assert_eq!(snapshot(&dir), before);
    let v = repo.aiflow(&["hooks", "status", "--json"]).json();
    assert_eq!(v["installed"], false);
    assert!(
        v["hooks"]
            .as_array()
            .expect("hooks")
            .iter()
            .all(|h| h["installed"] == false && h["foreign"] == false)
    );
}

#[test]
fn hooks_chain_to_a_foreign_hook_and_restore_it() {
    let repo = TestRepo::new();
    let dir = repo.path.join(".git/hooks");
    let log = repo.sibling("pre-commit.log");
    let foreign = write_script(
        &dir.join("pre-commit"),
        &format!(
            "echo \"foreign pre-commit ran\" >> '{}'\nexit 0",
            log.display()
        ),
    );

    let out = repo.aiflow(&["hooks", "install"]).ok();
    assert!(
        out.contains("pre-commit: installed, chaining to the existing hook"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(dir.join("pre-commit.aiflow-prev")).expect("kept"),
        foreign
    );
    let shim = std::fs::read_to_string(dir.join("pre-commit")).expect("shim");
    assert!(
        shim.contains("git aiflow hook --chain pre-commit"),
        "{shim}"
    );
    assert!(is_executable(&dir.join("pre-commit")));
    for name in ["pre-merge-commit", "reference-transaction", "pre-push"] {
        assert_eq!(
            std::fs::read(dir.join(name)).expect("installed"),
            shipped(name)
        );
    }
    let v = repo.aiflow(&["hooks", "status", "--json"]).json();
    assert_eq!(v["installed"], true);
    let pre_commit = &v["hooks"][1];
    assert_eq!(pre_commit["name"], "pre-commit");
    assert_eq!(pre_commit["chained"], true);
    assert_eq!(pre_commit["foreign"], false);
    // Idempotent with the chain too.
    let snap = snapshot(&dir);
    let out = repo.aiflow(&["hooks", "install"]).ok();
    assert!(out.contains("pre-commit: up to date"), "{out}");
    assert_eq!(snapshot(&dir), snap);

    // The foreign hook still runs on `git commit`.
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("a.txt", "a\n");
    repo.git(&["add", "a.txt"]);
    repo.git(&["commit", "-q", "-m", "A feature commit"]);
    assert_eq!(
        std::fs::read_to_string(&log).expect("the foreign hook ran"),
        "foreign pre-commit ran\n"
    );

    // A foreign hook that refuses still blocks the commit.
    write_script(&dir.join("pre-commit.aiflow-prev"), "exit 1");
    let head = repo.rev("HEAD");
    repo.write("a.txt", "b\n");
    let run = repo.git_run(&["commit", "-q", "-am", "Blocked by the foreign hook"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(repo.rev("HEAD"), head);
    std::fs::write(dir.join("pre-commit.aiflow-prev"), &foreign).expect("restore");

    // Uninstall restores the foreign hook byte for byte and removes ours.
    let out = repo.aiflow(&["hooks", "uninstall"]).ok();
    assert!(
        out.contains("pre-commit: removed; the previous hook is back"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(dir.join("pre-commit")).expect("back"),
        foreign
    );
    assert!(is_executable(&dir.join("pre-commit")));
    assert!(!dir.join("pre-commit.aiflow-prev").exists());
    for name in ["pre-merge-commit", "reference-transaction", "pre-push"] {
        assert!(!dir.join(name).exists(), "{name} removed");
    }
    // Twice: the foreign hook is left alone.
    let out = repo.aiflow(&["hooks", "uninstall"]).ok();
    assert!(
        out.contains("pre-commit: not git-aiflow's, left alone"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(dir.join("pre-commit")).expect("still"),
        foreign
    );
    let v = repo.aiflow(&["hooks", "status", "--json"]).json();
    assert_eq!(v["installed"], false);
    assert_eq!(v["hooks"][1]["foreign"], true);
    assert_eq!(v["hooks"][1]["installed"], false);
}

#[test]
fn hooks_install_refuses_when_a_foreign_hook_cannot_be_kept() {
    let repo = TestRepo::new();
    let dir = repo.path.join(".git/hooks");
    write_script(&dir.join("pre-push"), "echo foreign\nexit 0");
    write_script(&dir.join("pre-push.aiflow-prev"), "echo older\nexit 0");
    let before = snapshot(&dir);
    let err = repo.aiflow(&["hooks", "install"]).fails(1);
    assert!(err.contains("pre-push.aiflow-prev"), "{err}");
    assert!(err.contains("hint: "), "{err}");
    assert_eq!(snapshot(&dir), before, "nothing changed");
    let v = repo.aiflow(&["hooks", "status", "--json"]).json();
    assert_eq!(v["installed"], false);
    assert_eq!(v["hooks"][3]["foreign"], true);
}

#[test]
fn hooks_honour_a_relative_core_hooks_path() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.git(&["config", "core.hooksPath", ".githooks"]);
    // Run from a subdirectory: the path is relative to the top of the work tree.
    let sub = repo.path.join("sub/dir");
    std::fs::create_dir_all(&sub).expect("mkdir");
    aiflow_in(&repo, &sub, &["hooks", "install"]).ok();
    let dir = repo.path.join(".githooks");
    for name in CLIENT_HOOKS {
        assert_eq!(
            std::fs::read(dir.join(name)).expect("installed in .githooks"),
            shipped(name)
        );
        assert!(!repo.path.join(".git/hooks").join(name).exists(), "{name}");
        assert!(!sub.join(".githooks").exists());
    }
    let v = aiflow_in(&repo, &sub, &["hooks", "status", "--json"]).json();
    assert_eq!(v["dir"], canonical(&dir));
    assert_eq!(v["installed"], true);

    // git runs them from there: an unreviewed commit on the integration branch is refused.
    repo.git(&["checkout", "-q", "aiflow/rate-limit"]);
    let before = repo.rev("aiflow/rate-limit");
    let run = repo.git_run(&["commit", "-q", "--allow-empty", "-m", "Unreviewed"]);
    assert_eq!(run.code, 128, "{run:?}");
    assert!(
        run.stderr
            .contains("aiflow: aiflow/rate-limit is protected"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.rev("aiflow/rate-limit"), before);
    // What needs no review (an empty commit of the flow, like its anchor) goes in.
    let run = repo.git_run(&[
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "Nothing changes\n\nAiflow-Flow: rate-limit",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    repo.git(&["checkout", "-q", "main"]);

    aiflow_in(&repo, &sub, &["hooks", "uninstall"]).ok();
    assert_eq!(snapshot(&dir), BTreeMap::new());
}

#[test]
fn hooks_from_a_linked_worktree_go_to_the_common_dir() {
    let repo = TestRepo::new();
    let wt = repo.sibling("wt");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "wt-branch",
        wt.to_str().expect("utf-8"),
    ]);
    aiflow_in(&repo, &wt, &["hooks", "install"]).ok();
    let common = repo.path.join(".git/hooks");
    for name in CLIENT_HOOKS {
        assert_eq!(
            std::fs::read(common.join(name)).expect("in the common hooks dir"),
            shipped(name)
        );
    }
    let wt_git_dir = PathBuf::from(
        git_in(&repo, &wt, &["rev-parse", "--absolute-git-dir"])
            .ok()
            .trim(),
    );
    assert!(
        wt_git_dir.ends_with("worktrees/wt"),
        "{}",
        wt_git_dir.display()
    );
    assert!(!wt_git_dir.join("hooks").exists());
    let v = aiflow_in(&repo, &wt, &["hooks", "status", "--json"]).json();
    assert_eq!(v["dir"], canonical(&common));
    assert_eq!(v["installed"], true);
    // The main work tree sees them too.
    let v = repo.aiflow(&["hooks", "status", "--json"]).json();
    assert_eq!(v["installed"], true);
    // git in the worktree agrees on the directory.
    let git_says = git_in(&repo, &wt, &["rev-parse", "--git-path", "hooks"]).ok();
    assert_eq!(canonical(&wt.join(git_says.trim())), canonical(&common));

    // A merge in progress in the worktree is the worktree's own (its MERGE_HEAD).
    let init = repo.rev("main").expect("main");
    let other = commit_tree(&repo, &[&init], &unreviewed("Other work"));
    branch(&repo, "other", &other);
    git_in(
        &repo,
        &wt,
        &["merge", "-q", "--no-commit", "--no-ff", "other"],
    )
    .ok();
    assert!(wt_git_dir.join("MERGE_HEAD").exists());
    let run = aiflow_in(&repo, &wt, &["check", "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let v: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(v["range"], "HEAD..MERGE_HEAD");
    assert_eq!(failed(&v), [&other].map(String::as_str));
    repo.aiflow(&["check"]).fails(2);
    // Finishing it with `git commit` runs pre-commit (a merge into an unprotected branch).
    git_in(&repo, &wt, &["commit", "-q", "--no-edit"]).ok();
    assert_eq!(
        git_in(&repo, &wt, &["rev-parse", "HEAD^2"]).ok().trim(),
        other
    );
}

#[test]
fn hooks_install_server_in_a_bare_repository() {
    let repo = TestRepo::new();
    let bare = repo.sibling("server.git");
    repo.git(&["init", "-q", "--bare", bare.to_str().expect("utf-8")]);
    let out = aiflow_in(&repo, &bare, &["hooks", "install", "--server"]).ok();
    assert!(out.contains("pre-receive: installed"), "{out}");
    let dir = bare.join("hooks");
    assert_eq!(
        std::fs::read(dir.join("pre-receive")).expect("pre-receive"),
        shipped("pre-receive")
    );
    assert!(is_executable(&dir.join("pre-receive")));
    for name in CLIENT_HOOKS {
        assert!(!dir.join(name).exists(), "{name} is not a server hook");
    }
    let v = aiflow_in(&repo, &bare, &["hooks", "status", "--server", "--json"]).json();
    assert_eq!(v["dir"], canonical(&dir));
    assert_eq!(v["installed"], true);
    assert_eq!(v["hooks"].as_array().expect("hooks").len(), 1);
    assert_eq!(v["hooks"][0]["name"], "pre-receive");
    let out = aiflow_in(&repo, &bare, &["hooks", "install", "--server"]).ok();
    assert!(out.contains("pre-receive: up to date"), "{out}");
    aiflow_in(&repo, &bare, &["hooks", "uninstall", "--server"]).ok();
    assert!(!dir.join("pre-receive").exists());
}

// ---------------------------------------------------------------------------------------------
// The reference-transaction hook stays out of the way

#[test]
fn hooks_do_not_get_in_the_way_of_ordinary_work() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let anchor = repo.rev("aiflow/rate-limit").expect("anchor");
    // An unreviewed subtask branch (subtask branches are never protected).
    let s1 = commit_tree(&repo, &[&anchor], &unreviewed("s1: work in progress"));
    branch(&repo, "aiflow/rate-limit--a1-bucket", &s1);
    let clone = repo.sibling("clone");
    repo.git(&["clone", "-q", ".", clone.to_str().expect("utf-8")]);
    repo.aiflow(&["hooks", "install"]).ok();

    let ok = |args: &[&str]| {
        let run = repo.git_run(args);
        assert_eq!(run.code, 0, "git {args:?}: {run:?}");
        assert!(
            !run.stderr.contains("aiflow:"),
            "git {args:?}: {}",
            run.stderr
        );
    };
    // Commits on a feature branch, unreviewed.
    ok(&["checkout", "-q", "-b", "feature"]);
    repo.write("f.txt", "1\n");
    ok(&["add", "f.txt"]);
    ok(&["commit", "-q", "-m", "Feature, unreviewed"]);
    ok(&["commit", "-q", "--amend", "-m", "Feature, amended"]);
    ok(&["commit", "-q", "--allow-empty", "-m", "Another"]);
    ok(&["reset"]);
    ok(&["reset", "-q", "--hard"]);
    ok(&["reset", "-q", "--soft", "HEAD~1"]);
    repo.write("f.txt", "2\n");
    ok(&["stash", "-q"]);
    ok(&["stash", "pop", "-q"]);
    ok(&["commit", "-q", "-am", "Feature again"]);
    ok(&["rebase", "-q", "main"]);
    ok(&["tag", "-a", "-m", "a tag", "t1"]);
    ok(&["branch", "-m", "feature", "feature2"]);
    // Subtask branches: check out, commit, delete.
    ok(&["checkout", "-q", "aiflow/rate-limit--a1-bucket"]);
    ok(&["commit", "-q", "--allow-empty", "-m", "More subtask work"]);
    ok(&["checkout", "-q", "feature2"]);
    ok(&["branch", "-D", "aiflow/rate-limit--a1-bucket"]);
    // Fetch from a clone, into remote-tracking refs and into a local branch.
    let clone_run = |args: &[&str]| git_in(&repo, &clone, args).ok();
    clone_run(&["checkout", "-q", "-b", "from-clone"]);
    clone_run(&[
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "Unreviewed, in the clone",
    ]);
    ok(&["remote", "add", "clone", clone.to_str().expect("utf-8")]);
    ok(&["fetch", "-q", "clone"]);
    ok(&["fetch", "-q", "clone", "from-clone:from-clone"]);
    // Notes.
    ok(&["notes", "add", "-m", "a note", "HEAD"]);
    ok(&["notes", "--ref=aiflow-test", "add", "-m", "another", "HEAD"]);
    // A second flow, and an integration branch created by hand on main (nothing new).
    let spec = fixture("specs/rate-limit.md");
    let run = repo.aiflow(&[
        "new",
        "second",
        "-F",
        spec.to_str().expect("utf-8"),
        "--base",
        "main",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(repo.rev("aiflow/second").is_some());
    ok(&["branch", "aiflow/other", "main"]);
    // Packing refs and deleting refs.
    ok(&["pack-refs", "--all"]);
    ok(&["update-ref", "-d", "refs/heads/from-clone"]);
    ok(&["tag", "-d", "t1"]);
    // main moves by fast-forward onto ordinary work.
    ok(&["checkout", "-q", "main"]);
    ok(&["merge", "-q", "--ff-only", "feature2"]);
    assert_eq!(repo.rev("main"), repo.rev("feature2"));
    repo.fsck();

    // The hooks were live all along: an unreviewed commit on an integration branch is refused,
    // and so is one whose review is a typed trailer bound to no recorded approval.
    ok(&["checkout", "-q", "aiflow/other"]);
    let before = repo.rev("aiflow/other");
    let run = repo.git_run(&["commit", "-q", "--allow-empty", "-m", "Unreviewed"]);
    assert_eq!(run.code, 128, "{run:?}");
    assert!(
        run.stderr.contains("aiflow: aiflow/other is protected"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.rev("aiflow/other"), before);
    let run = repo.git_run(&[
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        &format!("Reviewed\n\nReviewed-by: {GRACE}"),
    ]);
    assert_eq!(run.code, 128, "{run:?}");
    assert!(run.stderr.contains("[unbound-review]"), "{}", run.stderr);
    assert_eq!(repo.rev("aiflow/other"), before);
    // Deleting a protected branch is refused until the policy allows it.
    ok(&["checkout", "-q", "main"]);
    let run = repo.git_run(&["branch", "-D", "aiflow/other"]);
    assert_eq!(run.code, 128, "{run:?}");
    assert!(run.stderr.contains("allow-delete"), "{}", run.stderr);
    ok(&["config", "aiflow.allowDelete", "aiflow/*"]);
    ok(&["branch", "-D", "aiflow/other"]);
}
