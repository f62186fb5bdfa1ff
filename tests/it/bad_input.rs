//! Bad input and unusual repositories: every refusal exits with the documented code, says what is
//! wrong and what to do, and writes nothing (no branch, no note); the unusual repositories that
//! git-aiflow supports (bare, detached HEAD, linked worktrees) work.

use crate::harness::{AS_GRACE, BIN, Run, TestRepo, assert_has, assert_lacks, fixture};
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Run `git-aiflow` in `dir` with the repository's hermetic environment.
fn aiflow_in(repo: &TestRepo, dir: &Path, args: &[&str]) -> Run {
    Run::of(repo.command_in(BIN, dir).args(args))
}

/// Run git in `dir`, asserting success; returns stdout.
#[track_caller]
fn git_in(repo: &TestRepo, dir: &Path, args: &[&str]) -> String {
    Run::of(repo.command_in("git", dir).args(args)).ok()
}

/// The error line (the first line of stderr) must name the problem.
#[track_caller]
fn assert_error(stderr: &str, needle: &str) {
    let first = stderr.lines().next().unwrap_or("");
    assert!(
        first.starts_with("error: "),
        "stderr does not start with `error: `:\n{stderr}"
    );
    assert_has(stderr, needle);
}

/// Some `hint:` line must contain `needle`.
#[track_caller]
fn assert_hint(stderr: &str, needle: &str) {
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("hint: ") && l.contains(needle)),
        "expected a hint containing {needle:?} in:\n{stderr}"
    );
}

/// No flow branch and no notes ref.
#[track_caller]
fn assert_no_flow_refs(refs: &str) {
    assert_lacks(refs, "refs/heads/aiflow/");
    assert_lacks(refs, "refs/notes/aiflow");
}

/// The refs are exactly what they were.
#[track_caller]
fn assert_refs_unchanged(repo: &TestRepo, before: &str) {
    assert_eq!(repo.refs(), before, "a failed command changed the refs");
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The repository's draft directory, `.git/aiflow/`, as the binary names it (absolute, canonical).
fn draft_dir(repo: &TestRepo) -> PathBuf {
    std::fs::canonicalize(repo.path.join(".git"))
        .expect("git dir")
        .join("aiflow")
}

/// The draft `name` under the repository's `.git/aiflow/`.
fn draft(repo: &TestRepo, name: &str) -> PathBuf {
    draft_dir(repo).join(name)
}

/// The names of the files in the draft directory, sorted.
fn drafts(repo: &TestRepo) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(draft_dir(repo)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// `new <slug> -m "Some summary."` must be refused as an invalid slug, writing nothing.
#[track_caller]
fn refuse_slug(slug: &str, what: &str) -> String {
    let repo = TestRepo::new();
    let before = repo.refs();
    let err = repo
        .aiflow(&["new", "-m", "Some summary.", "--", slug])
        .fails(2);
    assert_error(&err, "invalid slug");
    assert_has(&err, what);
    assert_hint(&err, "lower-case letters, digits and single hyphens");
    assert_refs_unchanged(&repo, &before);
    assert_no_flow_refs(&repo.refs());
    assert!(
        !draft(&repo, "NEW_SPEC.md").exists(),
        "a draft was written for a bad slug"
    );
    err
}

// ---------------------------------------------------------------------------------------------
// Slugs
// ---------------------------------------------------------------------------------------------

#[test]
fn slug_with_dot_dot() {
    let err = refuse_slug("a..b", "`..`");
    assert_hint(&err, "try `a-b`");
}

#[test]
fn slug_with_tilde() {
    refuse_slug("a~1", "`~`");
}

#[test]
fn slug_with_caret() {
    refuse_slug("a^b", "`^`");
}

#[test]
fn slug_with_colon() {
    refuse_slug("a:b", "`:`");
}

#[test]
fn slug_with_slash() {
    refuse_slug("a/b", "`/`");
}

#[test]
fn slug_with_reflog_syntax() {
    refuse_slug("a@{1}", "`@`");
}

#[test]
fn slug_with_space() {
    let err = refuse_slug("has space", "a space");
    assert_hint(&err, "try `has-space`");
}

#[test]
fn slug_with_leading_hyphen() {
    let err = refuse_slug("-lead", "starts with `-`");
    assert_hint(&err, "try `lead`");
}

#[test]
fn slug_with_trailing_hyphen() {
    refuse_slug("trail-", "ends with `-`");
}

#[test]
fn slug_with_lock_suffix() {
    refuse_slug("x.lock", "`.`");
}

#[test]
fn slug_with_tab() {
    let err = refuse_slug("a\tb", "U+0009");
    // The control character is shown escaped, never raw.
    assert_lacks(&err, "a\tb");
}

#[test]
fn slug_with_bell() {
    let err = refuse_slug("a\u{7}b", "U+0007");
    assert_lacks(&err, "\u{7}");
}

#[test]
fn slug_too_long() {
    let slug = "a".repeat(300);
    let err = refuse_slug(&slug, "300 characters long; the limit is 64");
    // The slug is shortened for display.
    assert_lacks(&err, &slug);
}

#[test]
fn slug_upper_case() {
    let err = refuse_slug("Rate-Limit", "upper-case letter `R`");
    assert_hint(&err, "try `rate-limit`");
}

#[test]
fn slug_double_hyphen() {
    let err = refuse_slug("a--b", "reserved for subtask branches");
    assert_hint(&err, "try `a-b`");
}

#[test]
fn slug_empty() {
    refuse_slug("", "the slug is empty");
}

#[test]
fn slug_non_ascii() {
    let err = refuse_slug("caf\u{e9}", "`\u{e9}`");
    assert_hint(&err, "try `caf`");
}

#[test]
fn slug_cannot_be_derived_from_title() {
    let repo = TestRepo::new();
    let before = repo.refs();
    let err = repo
        .aiflow(&["new", "-m", "# \u{65e5}\u{672c}\n\nSome summary."])
        .fails(2);
    assert_error(&err, "cannot derive a slug from the title");
    assert_hint(&err, "git aiflow new <slug>");
    assert_refs_unchanged(&repo, &before);
    assert_no_flow_refs(&repo.refs());
}

// ---------------------------------------------------------------------------------------------
// Titles
// ---------------------------------------------------------------------------------------------

#[track_caller]
fn refuse_title_option(title: &str, what: &str, hint: &str) {
    let repo = TestRepo::new();
    let before = repo.refs();
    let err = repo
        .aiflow(&["new", "rate-limit", "-m", "Some summary.", "--title", title])
        .fails(2);
    assert_error(&err, "invalid title");
    assert_has(&err, what);
    assert_hint(&err, hint);
    assert_refs_unchanged(&repo, &before);
    assert_no_flow_refs(&repo.refs());
}

#[test]
fn title_option_with_newline() {
    refuse_title_option(
        "Rate limit\nSecond line",
        "control character U+000A at position 11",
        "one line",
    );
}

#[test]
fn title_option_with_control_character() {
    refuse_title_option(
        "Rate\u{1b}[31m limit",
        "control character U+001B at position 5",
        "control characters",
    );
}

#[test]
fn title_option_too_long() {
    refuse_title_option(
        &"t".repeat(300),
        "the title is 300 characters long",
        "at most 200 characters",
    );
}

#[test]
fn spec_title_line_with_control_character() {
    let repo = TestRepo::new();
    let spec = repo.outside("spec.md", b"# Rate\x07limit\n\nSome summary.\n");
    let before = repo.refs();
    let err = repo
        .aiflow(&["new", "rate-limit", "-F", path_str(&spec)])
        .fails(2);
    assert_error(&err, "invalid title");
    assert_has(&err, "U+0007");
    assert_hint(&err, "without tabs or control characters");
    assert_refs_unchanged(&repo, &before);
    assert_no_flow_refs(&repo.refs());
    // The user has the file: no draft.
    assert!(!draft(&repo, "NEW_SPEC.md").exists());
}

#[test]
fn spec_title_line_with_control_character_via_message_keeps_draft() {
    let repo = TestRepo::new();
    let before = repo.refs();
    let text = "# Rate\u{7}limit\n\nSome summary.\n";
    let err = repo.aiflow(&["new", "rate-limit", "-m", text]).fails(2);
    assert_error(&err, "invalid title");
    assert_hint(&err, ".git/aiflow/NEW_SPEC.md");
    assert_refs_unchanged(&repo, &before);
    let kept = std::fs::read_to_string(draft(&repo, "NEW_SPEC.md")).expect("draft kept");
    assert_eq!(kept, text);
}

// ---------------------------------------------------------------------------------------------
// Slugs that are taken, or whose branch cannot be created
// ---------------------------------------------------------------------------------------------

#[test]
fn duplicate_slug() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let before = repo.refs();
    let err = repo
        .aiflow(&["new", "rate-limit", "-m", "Some summary."])
        .fails(2);
    assert_error(&err, "a flow named `rate-limit` already exists");
    assert_hint(&err, "git aiflow status rate-limit");
    assert_refs_unchanged(&repo, &before);
}

#[test]
fn existing_branch_without_flow() {
    let repo = TestRepo::new();
    repo.git(&["branch", "aiflow/x"]);
    let before = repo.refs();
    let err = repo.aiflow(&["new", "x", "-m", "Some summary."]).fails(2);
    assert_error(
        &err,
        "the branch `aiflow/x` already exists but holds no flow",
    );
    assert_hint(&err, "git branch -D aiflow/x");
    assert_refs_unchanged(&repo, &before);
    assert_lacks(&before, "refs/notes/aiflow");
}

#[test]
fn branch_named_aiflow_blocks_the_prefix() {
    let repo = TestRepo::new();
    repo.git(&["branch", "aiflow"]);
    let before = repo.refs();
    let err = repo.aiflow(&["new", "x", "-m", "Some summary."]).fails(2);
    assert_error(
        &err,
        "the branch `aiflow/x` cannot be created because `refs/heads/aiflow` exists",
    );
    assert_hint(&err, "rename or delete that branch");
    assert_refs_unchanged(&repo, &before);
    assert_no_flow_refs(&repo.refs());
}

#[test]
fn branch_below_the_flow_branch_blocks_it() {
    let repo = TestRepo::new();
    repo.git(&["branch", "aiflow/x/y"]);
    let before = repo.refs();
    let err = repo.aiflow(&["new", "x", "-m", "Some summary."]).fails(2);
    assert_error(
        &err,
        "the branch `aiflow/x` cannot be created because `refs/heads/aiflow/x/y` exists",
    );
    assert_hint(&err, "rename or delete that branch");
    assert_refs_unchanged(&repo, &before);
    assert_lacks(&before, "refs/notes/aiflow");
}

#[test]
fn similar_branch_does_not_block() {
    // `aiflow/xy` and `aiflow/x-y` are unrelated to `aiflow/x`.
    let repo = TestRepo::new();
    repo.git(&["branch", "aiflow/xy"]);
    repo.git(&["branch", "aiflow/x-y"]);
    repo.aiflow(&["new", "x", "-m", "Some summary."]).ok();
    assert!(repo.rev("refs/heads/aiflow/x").is_some());
}

// ---------------------------------------------------------------------------------------------
// Repositories: empty, bare, detached, worktrees, reftable, none
// ---------------------------------------------------------------------------------------------

#[test]
fn repository_without_commits() {
    let repo = TestRepo::empty();
    let before = repo.refs();
    let err = repo
        .aiflow(&["new", "rate-limit", "-m", "Some summary."])
        .fails(1);
    assert_error(&err, "no commits yet");
    assert_has(&err, "`main`");
    assert_hint(&err, "make a first commit");
    assert_refs_unchanged(&repo, &before);
    assert!(before.trim().is_empty(), "{before}");
}

#[test]
fn bare_repository_works() {
    let repo = TestRepo::new();
    let bare = repo.sibling("bare.git");
    repo.git(&["clone", "-q", "--bare", ".", path_str(&bare)]);
    let out = aiflow_in(&repo, &bare, &["new", "rate-limit", "-m", "Some summary."]).ok();
    assert_has(&out, "Created flow rate-limit");
    let refs = git_in(&repo, &bare, &["for-each-ref", "--format=%(refname)"]);
    assert_has(&refs, "refs/heads/aiflow/rate-limit\n");
    assert_has(&refs, "refs/notes/aiflow\n");
    let note = git_in(
        &repo,
        &bare,
        &["notes", "--ref=aiflow", "show", "aiflow/rate-limit"],
    );
    assert_has(&note, "rate-limit");

    let status = aiflow_in(&repo, &bare, &["status", "rate-limit", "--json"]);
    let v: serde_json::Value = status.json();
    assert_eq!(v["slug"], "rate-limit");
    assert_eq!(v["base_ref"], "refs/heads/main");
    let list = aiflow_in(&repo, &bare, &["list", "--json"]).json();
    assert_eq!(list["flows"][0]["slug"], "rate-limit");
    // The original repository is untouched.
    assert_no_flow_refs(&repo.refs());
}

#[test]
fn detached_head() {
    let repo = TestRepo::new();
    repo.git(&["checkout", "-q", "--detach"]);
    let head = repo.rev("HEAD").expect("HEAD");
    let r = repo.aiflow(&["new", "rate-limit", "-m", "Some summary."]);
    assert_hint(&r.stderr, "HEAD was detached");
    r.ok();
    assert!(repo.rev("refs/heads/aiflow/rate-limit").is_some());

    let v = repo.aiflow(&["status", "rate-limit", "--json"]).json();
    assert!(v["base_ref"].is_null(), "{v}");
    assert_eq!(v["base_commit"], head.as_str());

    // Without a slug, there is no current flow to show (two flows: neither is the only one).
    repo.aiflow(&["new", "second", "-m", "Second summary."])
        .ok();
    let before = repo.refs();
    let err = repo.aiflow(&["status"]).fails(2);
    assert_error(&err, "HEAD is detached");
    assert_hint(&err, "git aiflow status");
    // The hint names the flows there are, as it does on a branch that belongs to no flow.
    assert_hint(&err, "rate-limit");
    assert_refs_unchanged(&repo, &before);
}

#[test]
fn branch_without_flow_names_the_flows() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    // With one unfinished flow, that flow is the current one from any branch; with two, none is.
    repo.aiflow(&["status"]).ok();
    repo.aiflow(&["new", "second", "-m", "Second summary."])
        .ok();
    let err = repo.aiflow(&["status"]).fails(2);
    assert_error(&err, "the current branch `main` does not belong to a flow");
    assert_hint(&err, "rate-limit");
}

#[test]
fn linked_worktree() {
    let repo = TestRepo::new();
    let wt = repo.sibling("wt");
    repo.git(&["worktree", "add", "-q", path_str(&wt), "-b", "feature"]);

    aiflow_in(&repo, &wt, &["init"]).ok();
    // Written to the common config, so the main worktree sees it.
    assert_eq!(
        repo.git(&["config", "--get-all", "notes.displayRef"])
            .trim(),
        "refs/notes/aiflow-log"
    );
    assert_eq!(
        repo.git(&["config", "--get-all", "notes.rewriteRef"])
            .trim(),
        "refs/notes/aiflow"
    );
    assert!(!repo.path.join(".git/worktrees/wt/config.worktree").exists());

    let out = aiflow_in(&repo, &wt, &["new", "rate-limit", "-m", "Some summary."]).ok();
    assert_has(&out, "Created flow rate-limit");

    // The flow and its note are visible from both worktrees.
    for dir in [&repo.path, &wt] {
        let v = aiflow_in(&repo, dir, &["status", "rate-limit", "--json"]).json();
        assert_eq!(v["base_ref"], "refs/heads/feature");
        let note = git_in(
            &repo,
            dir,
            &["notes", "--ref=aiflow", "show", "aiflow/rate-limit"],
        );
        assert_has(&note, "rate-limit");
    }
    // A draft from the worktree lands in the common git dir.
    let err = aiflow_in(&repo, &wt, &["new", "other", "-m", "## Stack\n- x\n"]).fails(2);
    assert_hint(&err, "NEW_SPEC.md");
    assert!(
        draft(&repo, "NEW_SPEC.md").exists(),
        "draft not in the common git dir:\n{err}"
    );
}

#[test]
fn reftable_repository_is_refused() {
    let repo = TestRepo::bare_dir();
    repo.git(&["init", "-q", "-b", "main", "--ref-format=reftable"]);
    repo.write("README.md", "# test\n");
    repo.git(&["add", "README.md"]);
    repo.git(&["commit", "-q", "-m", "Initial commit"]);
    let before = repo.refs();
    assert_has(&before, "refs/heads/main");
    for args in [
        &["status"][..],
        &["status", "rate-limit"][..],
        &["new", "rate-limit", "-m", "Some summary."][..],
        &["list"][..],
        &["init"][..],
    ] {
        let err = repo.aiflow(args).fails(2);
        assert_error(&err, "reftable");
        assert_hint(&err, "git refs migrate");
        assert_refs_unchanged(&repo, &before);
    }
    assert_no_flow_refs(&repo.refs());
    let cfg = repo.git_run(&["config", "--get-all", "notes.displayRef"]);
    assert_eq!(
        cfg.code, 1,
        "init wrote to a reftable repository's config: {}",
        cfg.stdout
    );
}

#[test]
fn not_a_repository() {
    let repo = TestRepo::bare_dir();
    for args in [
        &["status"][..],
        &["new", "rate-limit", "-m", "Some summary."][..],
        &["list"][..],
        &["init"][..],
    ] {
        let err = repo.aiflow(args).fails(2);
        assert_error(&err, "not a git repository");
        assert_hint(&err, "git init");
    }
    assert_eq!(
        std::fs::read_dir(&repo.path).expect("read dir").count(),
        0,
        "something was created"
    );
}

// ---------------------------------------------------------------------------------------------
// Spec input: encoding, size, emptiness, validity, options
// ---------------------------------------------------------------------------------------------

#[test]
fn non_utf8_file() {
    let repo = TestRepo::new();
    let spec = repo.outside("latin1.md", b"# Title\n\nCaf\xe9 summary\n");
    let before = repo.refs();
    let err = repo
        .aiflow(&["new", "rate-limit", "-F", path_str(&spec)])
        .fails(2);
    assert_error(&err, "is not valid UTF-8");
    assert_has(&err, "latin1.md");
    assert_has(&err, "byte 0xe9 at line 3, column 4");
    assert_hint(&err, "iconv -f latin1 -t utf-8");
    assert_refs_unchanged(&repo, &before);
    assert_no_flow_refs(&repo.refs());
}

#[test]
fn non_utf8_stdin() {
    let repo = TestRepo::new();
    let before = repo.refs();
    let err = repo
        .aiflow_stdin(&["new", "rate-limit", "-F", "-"], b"Caf\xe9 summary\n")
        .fails(2);
    assert_error(&err, "standard input is not valid UTF-8");
    assert_has(&err, "byte 0xe9 at line 1, column 4");
    assert_hint(&err, "iconv");
    // The hint must be a command that can be run: not `iconv ... standard input > spec.md`.
    assert_lacks(&err, "utf-8 standard input");
    assert_refs_unchanged(&repo, &before);
    assert_no_flow_refs(&repo.refs());
}

fn huge_spec() -> Vec<u8> {
    let mut text = b"Some summary.\n\n".to_vec();
    text.resize(10 * 1024 * 1024, b'x');
    text
}

#[test]
fn huge_spec_file() {
    let repo = TestRepo::new();
    let spec = repo.outside("huge.md", &huge_spec());
    let before = repo.refs();
    let err = repo
        .aiflow(&["new", "rate-limit", "-F", path_str(&spec)])
        .fails(2);
    assert_error(&err, "larger than the limit of 1024 KiB");
    assert_has(&err, "huge.md");
    assert_hint(&err, "short plain-English description");
    assert_refs_unchanged(&repo, &before);
    assert_no_flow_refs(&repo.refs());
}

#[test]
fn huge_spec_stdin() {
    let repo = TestRepo::new();
    let before = repo.refs();
    let err = repo
        .aiflow_stdin(&["new", "rate-limit", "-F", "-"], &huge_spec())
        .fails(2);
    assert_error(
        &err,
        "the spec from standard input is larger than the limit of 1024 KiB",
    );
    assert_hint(&err, "short plain-English description");
    assert_refs_unchanged(&repo, &before);
    assert_no_flow_refs(&repo.refs());
    assert!(
        !draft(&repo, "NEW_SPEC.md").exists(),
        "a 10 MiB draft was kept"
    );
}

#[track_caller]
fn refuse_empty(args: &[&str]) {
    let repo = TestRepo::new();
    let before = repo.refs();
    let err = repo.aiflow(args).fails(2);
    assert_error(&err, "the spec is empty; no flow was created");
    assert_hint(&err, "write at least a summary paragraph");
    assert_refs_unchanged(&repo, &before);
    assert_no_flow_refs(&repo.refs());
}

#[test]
fn empty_message() {
    refuse_empty(&["new", "rate-limit", "-m", ""]);
}

#[test]
fn whitespace_message() {
    refuse_empty(&["new", "rate-limit", "-m", "  \n\t\n"]);
}

#[test]
fn whitespace_file() {
    let repo = TestRepo::new();
    let spec = repo.outside("blank.md", b"   \n\n\t\n");
    let before = repo.refs();
    let err = repo
        .aiflow(&["new", "rate-limit", "-F", path_str(&spec)])
        .fails(2);
    assert_error(&err, "the spec is empty");
    assert_hint(&err, "write at least a summary paragraph");
    assert_refs_unchanged(&repo, &before);
}

#[test]
fn comments_only_file() {
    let repo = TestRepo::new();
    let spec = repo.outside("comments.md", b"<!-- x -->\n\n<!--\nmore\n-->\n");
    let before = repo.refs();
    let err = repo
        .aiflow(&["new", "rate-limit", "-F", path_str(&spec)])
        .fails(2);
    assert_error(&err, "the spec is empty");
    assert_hint(&err, "write at least a summary paragraph");
    assert_refs_unchanged(&repo, &before);
}

#[test]
fn empty_stdin() {
    let repo = TestRepo::new();
    let before = repo.refs();
    let err = repo
        .aiflow_stdin(&["new", "rate-limit", "-F", "-"], b"")
        .fails(2);
    assert_error(&err, "the spec is empty");
    assert_refs_unchanged(&repo, &before);
}

#[test]
fn spec_without_summary_from_message_keeps_draft() {
    let repo = TestRepo::new();
    let before = repo.refs();
    let text = "## Core features\n- a\n";
    let err = repo.aiflow(&["new", "rate-limit", "-m", text]).fails(2);
    assert_error(&err, "the spec is not valid: the spec has no summary");
    assert_hint(&err, "write a paragraph on the end state");
    assert_hint(&err, ".git/aiflow/NEW_SPEC.md");
    assert_hint(&err, "git aiflow new -F");
    // The path is absolute, so the command in the hint works from any directory.
    assert_hint(&err, path_str(&draft(&repo, "NEW_SPEC.md")));
    assert_refs_unchanged(&repo, &before);
    assert_no_flow_refs(&repo.refs());
    let kept = std::fs::read_to_string(draft(&repo, "NEW_SPEC.md")).expect("draft kept");
    assert_eq!(kept, text);
}

#[test]
fn spec_without_summary_from_file_keeps_no_draft() {
    let repo = TestRepo::new();
    let spec = repo.outside("nosummary.md", b"## Core features\n- a\n");
    let before = repo.refs();
    let err = repo
        .aiflow(&["new", "rate-limit", "-F", path_str(&spec)])
        .fails(2);
    assert_error(&err, "the spec has no summary");
    assert_hint(&err, "write a paragraph on the end state");
    assert_lacks(&err, "NEW_SPEC.md");
    assert_refs_unchanged(&repo, &before);
    assert!(!draft(&repo, "NEW_SPEC.md").exists());
}

#[test]
fn spec_without_summary_from_stdin_keeps_draft() {
    let repo = TestRepo::new();
    let before = repo.refs();
    let err = repo
        .aiflow_stdin(&["new", "rate-limit", "-F", "-"], b"## Stack\n- Rust\n")
        .fails(2);
    assert_error(&err, "the spec has no summary");
    assert_hint(&err, ".git/aiflow/NEW_SPEC.md");
    assert_refs_unchanged(&repo, &before);
    let kept = std::fs::read_to_string(draft(&repo, "NEW_SPEC.md")).expect("draft kept");
    assert_has(&kept, "## Stack");
}

#[test]
fn message_and_file_together() {
    let repo = TestRepo::new();
    let spec = fixture("specs/rate-limit.md");
    let before = repo.refs();
    let err = repo
        .aiflow(&[
            "new",
            "rate-limit",
            "-m",
            "Some summary.",
            "-F",
            path_str(&spec),
        ])
        .fails(2);
    assert_error(&err, "-m and -F cannot be used together");
    assert_refs_unchanged(&repo, &before);
    assert_no_flow_refs(&repo.refs());
}

#[test]
fn missing_spec_file() {
    let repo = TestRepo::new();
    let missing = repo.sibling("no-such-spec.md");
    let before = repo.refs();
    let err = repo
        .aiflow(&["new", "rate-limit", "-F", path_str(&missing)])
        .fails(2);
    assert_error(&err, "could not read");
    assert_has(&err, "no-such-spec.md");
    assert_has(&err, "caused by: ");
    assert_refs_unchanged(&repo, &before);
}

#[test]
fn unknown_base() {
    let repo = TestRepo::new();
    let before = repo.refs();
    let err = repo
        .aiflow(&[
            "new",
            "rate-limit",
            "-m",
            "Some summary.",
            "--base",
            "nosuchrev",
        ])
        .fails(2);
    assert_error(&err, "`nosuchrev` is not a revision in this repository");
    assert_hint(&err, "--base main");
    assert_refs_unchanged(&repo, &before);
    assert_no_flow_refs(&repo.refs());
}

#[test]
fn base_that_is_not_a_commit() {
    let repo = TestRepo::new();
    let before = repo.refs();
    let err = repo
        .aiflow(&[
            "new",
            "rate-limit",
            "-m",
            "Some summary.",
            "--base",
            "HEAD^{tree}",
        ])
        .fails(2);
    assert_error(&err, "does not point to a commit");
    assert_refs_unchanged(&repo, &before);
}

// ---------------------------------------------------------------------------------------------
// The editor
// ---------------------------------------------------------------------------------------------

#[test]
fn editor_writes_invalid_spec() {
    let repo = TestRepo::new();
    let editor = repo.script("editor.sh", "printf '## Stack\\n- Rust\\n' > \"$1\"\n");
    let before = repo.refs();
    let err = repo
        .aiflow_env(&["new", "rate-limit"], &[("GIT_EDITOR", path_str(&editor))])
        .fails(2);
    assert_error(&err, "the spec has no summary");
    assert_hint(&err, ".git/aiflow/NEW_SPEC.md");
    assert_refs_unchanged(&repo, &before);
    assert_no_flow_refs(&repo.refs());
    let kept = std::fs::read_to_string(draft(&repo, "NEW_SPEC.md")).expect("draft kept");
    assert_eq!(kept, "## Stack\n- Rust\n");
    // Only the kept draft: the editor's own file is gone.
    assert_eq!(drafts(&repo), ["NEW_SPEC.md"]);
}

#[test]
fn editor_leaves_the_template() {
    // Saving the template unchanged is an empty spec.
    let repo = TestRepo::new();
    let before = repo.refs();
    let err = repo
        .aiflow_env(&["new", "rate-limit"], &[("GIT_EDITOR", ":")])
        .fails(2);
    assert_error(&err, "the spec is empty");
    assert_refs_unchanged(&repo, &before);
}

#[test]
fn editor_fails() {
    let repo = TestRepo::new();
    let editor = repo.script("fail.sh", "exit 1\n");
    let before = repo.refs();
    let err = repo
        .aiflow_env(&["new", "rate-limit"], &[("GIT_EDITOR", path_str(&editor))])
        .fails(1);
    assert_error(&err, "failed");
    assert_has(&err, "nothing was changed");
    assert_hint(&err, "your text is kept in");
    // The file the hint names exists, in the repository's draft directory.
    let kept = err
        .lines()
        .find_map(|l| l.strip_prefix("hint: your text is kept in "))
        .expect("hint names the file");
    let kept = Path::new(kept.split(';').next().unwrap_or(kept).trim());
    assert!(kept.is_file(), "{}", kept.display());
    assert!(kept.starts_with(draft_dir(&repo)), "{}", kept.display());
    assert_refs_unchanged(&repo, &before);
    assert_no_flow_refs(&repo.refs());
}

#[test]
fn no_editor_on_a_dumb_terminal() {
    let repo = TestRepo::new();
    let before = repo.refs();
    let err = Run::of(
        repo.command(BIN)
            .env_remove("GIT_EDITOR")
            .env("TERM", "dumb")
            .args(["new", "rate-limit"]),
    )
    .fails(2);
    assert_error(&err, "the terminal is dumb and no editor is set");
    assert_hint(&err, "-m or -F");
    assert_refs_unchanged(&repo, &before);
    assert_no_flow_refs(&repo.refs());
    // No editor could open, so no file for it is left behind either.
    assert_eq!(
        drafts(&repo),
        Vec::<String>::new(),
        "files left in the draft directory"
    );
}

#[test]
fn slug_checked_before_the_editor_opens() {
    // An editor that would leave a marker if it ran.
    let repo = TestRepo::new();
    let marker = repo.sibling("editor-ran");
    let editor = repo.script("marker.sh", &format!("touch '{}'\n", path_str(&marker)));
    repo.aiflow_env(&["new", "Bad Slug"], &[("GIT_EDITOR", path_str(&editor))])
        .fails(2);
    repo.aiflow_env(
        &["new", "x", "--base", "nosuchrev"],
        &[("GIT_EDITOR", path_str(&editor))],
    )
    .fails(2);
    repo.new_rate_limit();
    repo.aiflow_env(&["new", "rate-limit"], &[("GIT_EDITOR", path_str(&editor))])
        .fails(2);
    assert!(
        !marker.exists(),
        "the editor opened for a command that was bound to fail"
    );
}

// ---------------------------------------------------------------------------------------------
// spec edit, status
// ---------------------------------------------------------------------------------------------

#[test]
fn spec_edit_without_summary() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let note = repo.rev("refs/notes/aiflow").expect("notes ref");
    let before = repo.refs();
    let err = repo
        .aiflow(&["spec", "edit", "rate-limit", "-m", "## Stack\n- x"])
        .fails(2);
    assert_error(&err, "the spec is not valid: the spec has no summary");
    assert_hint(&err, "write a paragraph on the end state");
    assert_hint(&err, ".git/aiflow/SPEC_EDIT-rate-limit.md");
    assert_hint(&err, "git aiflow spec edit rate-limit -F");
    assert_eq!(
        repo.rev("refs/notes/aiflow").as_deref(),
        Some(note.as_str())
    );
    assert_refs_unchanged(&repo, &before);
    let kept =
        std::fs::read_to_string(draft(&repo, "SPEC_EDIT-rate-limit.md")).expect("draft kept");
    assert_eq!(kept, "## Stack\n- x");
}

#[test]
fn spec_edit_empty() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let before = repo.refs();
    let err = repo
        .aiflow(&["spec", "edit", "rate-limit", "-m", ""])
        .fails(2);
    assert_error(&err, "the spec is empty; nothing was changed");
    assert_refs_unchanged(&repo, &before);
}

#[test]
fn spec_edit_title_with_control_character() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let before = repo.refs();
    let err = repo
        .aiflow(&[
            "spec",
            "edit",
            "rate-limit",
            "-m",
            "# Bad\u{7}title\n\nSome summary.",
        ])
        .fails(2);
    assert_error(&err, "invalid title");
    assert_has(&err, "U+0007");
    assert_refs_unchanged(&repo, &before);
}

#[test]
fn spec_edit_unknown_flow() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let before = repo.refs();
    let err = repo
        .aiflow(&["spec", "edit", "nosuchflow", "-m", "Some summary."])
        .fails(2);
    assert_error(&err, "there is no flow named `nosuchflow`");
    assert_hint(&err, "known flows: rate-limit");
    assert_refs_unchanged(&repo, &before);
}

#[test]
fn status_unknown_flow() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let before = repo.refs();
    let err = repo.aiflow(&["status", "nosuchflow"]).fails(2);
    assert_error(&err, "there is no flow named `nosuchflow`");
    assert_hint(&err, "known flows: rate-limit");
    assert_refs_unchanged(&repo, &before);
}

#[test]
fn status_unknown_flow_without_flows() {
    let repo = TestRepo::new();
    let err = repo.aiflow(&["status", "nosuchflow"]).fails(2);
    assert_error(&err, "there is no flow named `nosuchflow`");
    assert_hint(&err, "there are no flows yet");
    assert_no_flow_refs(&repo.refs());
}

// ---------------------------------------------------------------------------------------------
// More input edges
// ---------------------------------------------------------------------------------------------

#[test]
fn slug_at_the_length_limit() {
    let repo = TestRepo::new();
    let slug = "a".repeat(64);
    repo.aiflow(&["new", &slug, "-m", "Some summary."]).ok();
    assert!(repo.rev(&format!("refs/heads/aiflow/{slug}")).is_some());
    let before = repo.refs();
    let err = repo
        .aiflow(&["new", &"b".repeat(65), "-m", "Some summary."])
        .fails(2);
    assert_error(&err, "65 characters long; the limit is 64");
    assert_refs_unchanged(&repo, &before);
}

#[test]
fn empty_title_option() {
    let repo = TestRepo::new();
    let before = repo.refs();
    let err = repo
        .aiflow(&["new", "rate-limit", "-m", "Some summary.", "--title", "  "])
        .fails(2);
    assert_error(&err, "invalid title: the title is empty");
    assert_hint(&err, "write a one-line title");
    assert_refs_unchanged(&repo, &before);
    assert_no_flow_refs(&repo.refs());
}

#[test]
fn title_derived_from_summary_with_tab() {
    // The user wrote no title; a tab in the summary is not a reason to refuse one they never gave.
    let repo = TestRepo::new();
    let r = repo.aiflow(&["new", "rate-limit", "-m", "Rate\tlimit every client."]);
    assert_lacks(&r.stderr, "invalid title");
    r.ok();
    let v = repo.aiflow(&["status", "rate-limit", "--json"]).json();
    assert_eq!(v["title"], "Rate limit every client");
}

#[test]
fn spec_file_with_utf8_bom() {
    // Editors on Windows start UTF-8 files with a byte-order mark; it is not part of the title.
    let repo = TestRepo::new();
    let spec = repo.outside("bom.md", b"\xef\xbb\xbf# Title here\n\nSome summary.\n");
    repo.aiflow(&["new", "-F", path_str(&spec)]).ok();
    let v = repo.aiflow(&["status", "title-here", "--json"]).json();
    assert_eq!(v["title"], "Title here");
    assert_eq!(v["spec"]["summary"], "Some summary.");
}

#[test]
fn spec_file_is_a_directory() {
    let repo = TestRepo::new();
    let dir = repo.sibling("a-dir");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let before = repo.refs();
    let err = repo
        .aiflow(&["new", "rate-limit", "-F", path_str(&dir)])
        .fails(2);
    assert_error(&err, "could not read");
    assert_has(&err, "a-dir");
    assert_has(&err, "caused by: ");
    assert_refs_unchanged(&repo, &before);
    assert_no_flow_refs(&repo.refs());
}

#[test]
fn non_utf8_argument() {
    use std::os::unix::ffi::OsStrExt;
    let repo = TestRepo::new();
    let before = repo.refs();
    let err = Run::of(
        repo.command(BIN)
            .args(["new", "rate-limit", "-m"])
            .arg(std::ffi::OsStr::from_bytes(b"Caf\xe9")),
    )
    .fails(2);
    assert_error(&err, "invalid UTF-8");
    assert_refs_unchanged(&repo, &before);
    assert_no_flow_refs(&repo.refs());
}

#[test]
fn c_option_resolves_the_spec_file_like_git() {
    // `git -C <dir>` runs "as if started in <dir>": relative paths are relative to it.
    let repo = TestRepo::new();
    repo.write("spec.md", "Some summary.\n");
    let parent = repo.path.parent().expect("parent").to_owned();
    let r = aiflow_in(
        &repo,
        &parent,
        &["-C", "repo", "new", "rate-limit", "-F", "spec.md"],
    );
    r.ok();
    assert!(repo.rev("refs/heads/aiflow/rate-limit").is_some());
}

#[test]
fn c_option_with_missing_directory() {
    let repo = TestRepo::new();
    let missing = repo.sibling("no-such-dir");
    let err = repo.aiflow(&["-C", path_str(&missing), "status"]).fails(2);
    assert_error(&err, "no-such-dir");
    // As git says: the directory does not exist; not "not a git repository".
    assert_lacks(&err, "not a git repository");
}

/// A note is written by anyone who can push it: a prompt digest that is not hex, with
/// multi-byte characters, is shown cut at a character, not a byte (which panicked).
#[test]
fn a_forged_prompt_digest_of_any_text_is_shown_not_a_crash() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.plan_rate_limit_scripted();
    let note = repo.git(&["notes", "--ref=aiflow", "show", "aiflow/rate-limit"]);
    assert!(note.contains("prompt_digest = "), "{note}");
    let forged: String = note
        .lines()
        .map(|l| {
            if l.starts_with("prompt_digest = ") {
                "prompt_digest = \"aéééééééééééééé\"".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    repo.set_note("aiflow/rate-limit", &forged);
    let out = repo.aiflow(&["plan", "log", "rate-limit"]).ok();
    assert_has(&out, "prompt aééééééééééé (");
}

/// A subtask branch in a note becomes a ref edit: a forged one git would refuse makes the flow
/// unreadable, with the reason, for every command (it panicked in the ref edit before), and the
/// gate, which cannot read the flow, refuses.
#[test]
fn a_forged_subtask_branch_git_would_refuse_is_an_error_not_a_crash() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.plan_rate_limit_scripted();
    let next = repo.aiflow(&["next", "rate-limit", "--json"]).json();
    let id = next["subtask"]["id"].as_str().expect("next").to_owned();
    repo.aiflow(&["start", &id]).ok();
    repo.write("src/limit.rs", "pub fn limit() {}\n");
    repo.aiflow(&["step", "-m", "A limiter"]).ok();
    let note = repo.git(&["notes", "--ref=aiflow", "show", "aiflow/rate-limit"]);
    assert!(note.contains("branch = \"aiflow/rate-limit--"), "{note}");
    let forged: String = note
        .lines()
        .map(|l| {
            if l.starts_with("branch = \"aiflow/rate-limit--") {
                "branch = \"aiflow/x..y\"".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    repo.set_note("aiflow/rate-limit", &forged);
    for args in [
        &["status", "rate-limit"][..],
        &["approve", &id],
        &["integrate", &id],
    ] {
        let run = repo.aiflow_env(args, AS_GRACE);
        assert!(run.code == 1 || run.code == 2, "{args:?}: {run:?}");
        assert_has(&run.stderr, "`aiflow/x..y` is not a valid branch name");
    }
    // What the subtask would bring into its integration branch needs the flow's records.
    let branch = repo.git(&[
        "branch",
        "--list",
        "--format=%(refname:short)",
        "aiflow/rate-limit--*",
    ]);
    let check = repo.aiflow(&["check", &format!("aiflow/rate-limit..{}", branch.trim())]);
    assert_eq!(check.code, 1, "{check:?}");
}
