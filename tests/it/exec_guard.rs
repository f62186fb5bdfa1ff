//! `exec` and an agent that changes the rules: hooks, config, refs and repository files that
//! govern the review gate. Each agent does its work (`fixtures/agents/scripted-agent.sh`), then
//! tampers; `exec` must exit 1 naming the change, record nothing, and leave refs, hooks and the
//! repository's config as they were (what lives outside the repository is reported, not
//! rewritten).

use crate::harness::{BIN, Run, TestRepo, assert_has, fixture};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const FLOW: &str = "rate-limit";
const INTEGRATION: &str = "aiflow/rate-limit";

/// A repository with the rate-limit flow planned by the scripted provider, the gate's hooks
/// installed, the first subtask started in the main work tree. Returns its id and branch.
fn started_repo() -> (TestRepo, String, String) {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.plan_rate_limit_scripted();
    repo.git(&["config", "aiflow.agentName", "Scripted Agent"]);
    repo.git(&["config", "aiflow.agentEmail", "scripted@agent.invalid"]);
    repo.aiflow(&["hooks", "install"]).ok();
    let plan = repo.aiflow(&["plan", "show", FLOW, "--json"]).json();
    let first = &plan["subtasks"][0];
    let id = first["id"].as_str().expect("id").to_string();
    let branch = first["branch"].as_str().expect("branch").to_string();
    repo.aiflow(&["start", &id]).ok();
    (repo, id, branch)
}

/// An agent command: the scripted agent edits a file, then `tamper` runs in the work tree.
fn agent(tamper: &str) -> String {
    format!(
        "sh '{}' && {{ {tamper}\n}}",
        fixture("agents/scripted-agent.sh").display()
    )
}

/// Run `exec` on `id` with `agent` and extra environment.
fn exec_with(repo: &TestRepo, id: &str, agent: &str, env: &[(&str, &str)]) -> Run {
    let mut all = vec![("AGENT_MODE", "edit")];
    all.extend_from_slice(env);
    repo.aiflow_env(&["exec", id, "--agent", agent], &all)
}

/// A file's content, compared whole and shown by its length.
#[derive(PartialEq, Eq)]
struct Bytes(Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes", self.0.len())
    }
}

/// A directory's files: name -> (mode, content, or the link's target).
fn files(dir: &Path) -> BTreeMap<String, (u32, Bytes)> {
    let mut out = BTreeMap::new();
    let Ok(list) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in list {
        let e = e.expect("entry");
        let meta = std::fs::symlink_metadata(e.path()).expect("metadata");
        let content = if meta.file_type().is_symlink() {
            std::fs::read_link(e.path())
                .expect("link")
                .into_os_string()
                .into_encoded_bytes()
        } else if meta.is_file() {
            std::fs::read(e.path()).expect("read")
        } else {
            b"(dir)".to_vec()
        };
        out.insert(
            e.file_name().to_string_lossy().into_owned(),
            (meta.permissions().mode() & 0o7777, Bytes(content)),
        );
    }
    out
}

/// What the agent must not change, as plain git and the file system see it.
#[derive(Debug, PartialEq, Eq)]
struct Rules {
    refs: String,
    notes: String,
    config: String,
    hooks: BTreeMap<String, (u32, Bytes)>,
    info: BTreeMap<String, (u32, Bytes)>,
    shallow: bool,
}

fn rules(repo: &TestRepo) -> Rules {
    let git_dir = repo.path.join(".git");
    Rules {
        refs: repo.refs(),
        notes: repo.git_run(&["notes", "--ref=aiflow", "list"]).stdout,
        config: std::fs::read_to_string(git_dir.join("config")).expect("config"),
        hooks: files(&git_dir.join("hooks")),
        info: files(&git_dir.join("info")),
        shallow: git_dir.join("shallow").exists(),
    }
}

/// Run `tamper` after the agent's edit; `exec` must refuse naming each of `needles` (case
/// aside), and leave everything as it was; the agent's edit stays in the work tree. Returns
/// stderr.
#[track_caller]
fn refused(
    repo: &TestRepo,
    id: &str,
    branch: &str,
    tamper: &str,
    env: &[(&str, &str)],
    needles: &[&str],
) -> String {
    let before = rules(repo);
    let tip = repo.rev(branch).expect("branch");
    let err = exec_with(repo, id, &agent(tamper), env).fails(1);
    assert!(
        err.lines()
            .any(|l| l.starts_with("error: the agent changed what governs the review gate")),
        "{err}"
    );
    let lower = err.to_lowercase();
    for n in needles {
        assert!(
            lower.contains(&n.to_lowercase()),
            "expected {n:?} in:\n{err}"
        );
    }
    assert_eq!(
        rules(repo),
        before,
        "exec did not put everything back\n{err}"
    );
    assert_eq!(repo.rev(branch).as_deref(), Some(tip.as_str()));
    let status = repo.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert_has(&status, &format!("work/{id}.txt"));
    repo.fsck();
    err
}

/// Drop the agent's leftovers so the next exec starts clean.
fn clean(repo: &TestRepo) {
    repo.git(&["reset", "-q", "--hard"]);
    repo.git(&["clean", "-fdq"]);
}

fn hook_path(repo: &TestRepo, name: &str) -> PathBuf {
    repo.path.join(".git/hooks").join(name)
}

// ---------------------------------------------------------------------------------------------
// The legitimate path
// ---------------------------------------------------------------------------------------------

/// An agent that only edits files, with the gate installed: its step is recorded as before, and
/// the guard leaves the hooks and config alone.
#[test]
fn exec_records_an_agent_that_only_edits_files() {
    let (repo, id, branch) = started_repo();
    let before = rules(&repo);
    let tip = repo.rev(&branch).expect("branch");
    let out = exec_with(&repo, &id, &agent(":"), &[]).ok();
    assert_has(&out, "recorded step 1");
    let new_tip = repo.rev(&branch).expect("branch");
    assert_ne!(new_tip, tip);
    assert_eq!(
        repo.rev(&format!("{new_tip}^")).as_deref(),
        Some(tip.as_str())
    );
    let after = rules(&repo);
    assert_eq!(after.hooks, before.hooks);
    assert_eq!(after.config, before.config);
    assert_ne!(after.notes, before.notes, "no step note");
    assert!(repo.git(&["status", "--porcelain"]).is_empty());
    // An agent that commits itself is recorded too.
    let out = exec_with(
        &repo,
        &id,
        &agent("git add -A && git commit -q -m 'agent work'"),
        &[],
    )
    .ok();
    assert_has(&out, "recorded step 2");
    repo.fsck();
}

// ---------------------------------------------------------------------------------------------
// Hooks
// ---------------------------------------------------------------------------------------------

#[test]
fn exec_restores_a_replaced_deleted_or_disabled_hook() {
    let (repo, id, branch) = started_repo();
    let shim = hook_path(&repo, "reference-transaction");
    let shim_text = std::fs::read(&shim).expect("shim");

    let err = refused(
        &repo,
        &id,
        &branch,
        "printf '#!/bin/sh\\nexit 0\\n' > .git/hooks/reference-transaction",
        &[],
        &["hook reference-transaction", "content replaced: restored"],
    );
    assert!(!err.contains("NOT restored"), "{err}");
    assert_eq!(std::fs::read(&shim).expect("shim"), shim_text);
    clean(&repo);

    refused(
        &repo,
        &id,
        &branch,
        "rm .git/hooks/reference-transaction",
        &[],
        &["hook reference-transaction", "deleted: restored"],
    );
    clean(&repo);

    refused(
        &repo,
        &id,
        &branch,
        "chmod -x .git/hooks/reference-transaction",
        &[],
        &["hook reference-transaction", "no longer executable"],
    );
    clean(&repo);

    // A new hook, and a chained `.aiflow-prev` planted under the shim.
    refused(
        &repo,
        &id,
        &branch,
        "printf '#!/bin/sh\\nexit 0\\n' > .git/hooks/post-commit && cp .git/hooks/post-commit .git/hooks/pre-push.aiflow-prev",
        &[],
        &["hook post-commit", "hook pre-push.aiflow-prev", "added"],
    );
    assert!(!hook_path(&repo, "post-commit").exists());
    clean(&repo);

    // The whole directory.
    refused(
        &repo,
        &id,
        &branch,
        "rm -rf .git/hooks",
        &[],
        &["hooks directory", "deleted: restored"],
    );
    clean(&repo);

    // A hooks directory that is a link, pointed elsewhere.
    let git_dir = repo.path.join(".git");
    std::fs::rename(git_dir.join("hooks"), git_dir.join("hooks-real")).expect("mv");
    std::os::unix::fs::symlink("hooks-real", git_dir.join("hooks")).expect("ln");
    let empty = repo.sibling("empty-hooks");
    refused(
        &repo,
        &id,
        &branch,
        &format!(
            "mkdir -p '{0}' && ln -sfn '{0}' .git/hooks",
            empty.display()
        ),
        &[],
        &["now links to", "the hooks directory of"],
    );
    assert_eq!(
        std::fs::read_link(git_dir.join("hooks")).expect("link"),
        PathBuf::from("hooks-real")
    );
}

#[test]
fn exec_restores_core_hooks_path_pointing_at_an_empty_directory() {
    let (repo, id, branch) = started_repo();
    let empty = repo.sibling("empty-hooks");
    let err = refused(
        &repo,
        &id,
        &branch,
        &format!(
            "mkdir -p '{0}' && git config core.hooksPath '{0}'",
            empty.display()
        ),
        &[],
        &["core.hookspath", "the hooks directory of"],
    );
    assert!(!err.contains("NOT restored"), "{err}");
    assert!(
        repo.git_run(&["config", "core.hooksPath"])
            .stdout
            .is_empty(),
        "core.hooksPath is still set"
    );
}

/// A hooks directory outside the repository (`core.hooksPath` set by the user): a change there
/// is reported, not rewritten.
#[test]
fn exec_reports_a_hook_changed_outside_the_repository() {
    let (repo, id, branch) = started_repo();
    let shared = repo.sibling("shared-hooks");
    std::fs::create_dir_all(&shared).expect("mkdir");
    repo.git(&["config", "core.hooksPath", shared.to_str().expect("utf-8")]);
    repo.aiflow(&["hooks", "install"]).ok();
    let shim = shared.join("pre-merge-commit");
    let before = rules(&repo);
    let tip = repo.rev(&branch).expect("branch");
    let err = exec_with(
        &repo,
        &id,
        &agent(&format!("echo 'exit 0' >> '{}'", shim.display())),
        &[],
    )
    .fails(1);
    assert_has(&err, "hook pre-merge-commit");
    assert_has(&err, "NOT restored: it is outside the repository");
    assert_has(&std::fs::read_to_string(&shim).expect("shim"), "exit 0");
    assert_eq!(rules(&repo), before);
    assert_eq!(repo.rev(&branch).as_deref(), Some(tip.as_str()));
    repo.fsck();
}

// ---------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------

#[test]
fn exec_restores_aiflow_and_trailer_config_set_in_the_repository() {
    let (repo, id, branch) = started_repo();
    let err = refused(
        &repo,
        &id,
        &branch,
        "git config aiflow.exemptMerges false && git config aiflow.reviewer mallory@example.com && git config trailer.separators ':#'",
        &[],
        &[
            "repository config",
            "aiflow.exemptmerges",
            "aiflow.reviewer",
            "trailer.separators",
        ],
    );
    assert!(!err.contains("NOT restored"), "{err}");
    clean(&repo);

    // Config brought in from a file elsewhere.
    let evil = repo.outside(
        "evil.gitconfig",
        b"[aiflow]\n\treviewer = mallory@example.com\n",
    );
    refused(
        &repo,
        &id,
        &branch,
        &format!("git config include.path '{}'", evil.display()),
        &[],
        &["include.path"],
    );
    assert!(
        repo.git_run(&["config", "aiflow.reviewer"])
            .stdout
            .is_empty(),
        "the included reviewer is still in effect"
    );
    clean(&repo);

    // A config git can no longer read.
    refused(
        &repo,
        &id,
        &branch,
        "printf '[broken\n' >> .git/config",
        &[],
        &["repository config", "the config can no longer be read"],
    );
    clean(&repo);

    // A file of the work tree that the repository's config includes: reported, not rewritten.
    repo.write("team.gitconfig", "[aiflow]\n\texemptMerges = true\n");
    repo.git(&["add", "team.gitconfig"]);
    repo.git(&["commit", "-q", "-m", "Team config"]);
    repo.git(&["config", "include.path", "../team.gitconfig"]);
    let err = refused(
        &repo,
        &id,
        &branch,
        "printf '\treviewer = mallory@example.com\n' >> team.gitconfig",
        &[],
        &["config aiflow.reviewer: (unset) -> \"mallory@example.com\""],
    );
    assert_has(&err, "NOT restored: it comes from");
}

/// Global config (here `GIT_CONFIG_GLOBAL`): shared with every repository, so it is reported
/// with its file and values, and not rewritten.
#[test]
fn exec_reports_aiflow_config_set_globally_without_rewriting_it() {
    let (repo, id, branch) = started_repo();
    let global = repo.outside("global.gitconfig", b"[user]\n\tuseConfigOnly = false\n");
    let global_s = global.to_str().expect("utf-8");
    let before = rules(&repo);
    let tip = repo.rev(&branch).expect("branch");
    let err = exec_with(
        &repo,
        &id,
        &agent(
            "git config --global aiflow.exemptMerges false && git config --global aiflow.reviewer mallory@example.com && git config --global trailer.sep.key Reviewed-by",
        ),
        &[("GIT_CONFIG_GLOBAL", global_s)],
    )
    .fails(1);
    for key in ["aiflow.exemptmerges", "aiflow.reviewer", "trailer.sep.key"] {
        let line = err
            .lines()
            .find(|l| l.contains(&format!("config {key}:")))
            .unwrap_or_else(|| panic!("{key} not named in:\n{err}"));
        assert_has(line, "(unset) -> ");
        assert_has(line, global_s);
        assert_has(line, "NOT restored: it is outside the repository");
    }
    assert_eq!(rules(&repo), before);
    assert_eq!(repo.rev(&branch).as_deref(), Some(tip.as_str()));
    // The global file keeps what the agent wrote: the user decides.
    assert_has(
        &std::fs::read_to_string(&global).expect("global"),
        "mallory@example.com",
    );
    repo.fsck();
}

// ---------------------------------------------------------------------------------------------
// Refs and repository files
// ---------------------------------------------------------------------------------------------

#[test]
fn exec_deletes_a_replace_ref_the_agent_created() {
    let (repo, id, branch) = started_repo();
    let err = refused(
        &repo,
        &id,
        &branch,
        "fake=$(git commit-tree -m fake HEAD^{tree}) && git replace HEAD \"$fake\"",
        &[],
        &["ref refs/replace/", "created at"],
    );
    assert!(!err.contains("NOT restored"), "{err}");
    assert!(repo.git(&["replace", "-l"]).trim().is_empty());
}

/// The agent approves its own work with `git aiflow approve` (as the user it runs as), or adds a
/// note with plain git: the notes ref and the subtask branch go back.
#[test]
fn exec_restores_the_notes_ref_after_the_agent_approves_its_own_work() {
    let (repo, id, branch) = started_repo();
    let notes = repo.rev("refs/notes/aiflow").expect("notes");
    let err = refused(
        &repo,
        &id,
        &branch,
        &format!("git add -A && git commit -q -m 'agent work' && git aiflow approve {id}"),
        &[],
        &["ref refs/notes/aiflow: moved from"],
    );
    assert_has(&err, &format!("{branch} is back at"));
    assert_eq!(repo.rev("refs/notes/aiflow"), Some(notes.clone()));
    clean(&repo);

    refused(
        &repo,
        &id,
        &branch,
        "git notes --ref=aiflow add -f -m 'approved = true' HEAD",
        &[],
        &["ref refs/notes/aiflow"],
    );
    assert_eq!(repo.rev("refs/notes/aiflow"), Some(notes));
}

#[test]
fn exec_restores_the_integration_branch_and_main() {
    let (repo, id, branch) = started_repo();
    let integration = repo.rev(INTEGRATION).expect("integration");
    refused(
        &repo,
        &id,
        &branch,
        &format!(
            "git add -A && git commit -q -m 'agent work' && git aiflow approve {id} && git aiflow integrate {id}"
        ),
        &[],
        &[
            &format!("ref refs/heads/{INTEGRATION}: moved from"),
            "ref refs/notes/aiflow",
        ],
    );
    assert_eq!(repo.rev(INTEGRATION), Some(integration));
    clean(&repo);

    let main = repo.rev("main").expect("main");
    refused(
        &repo,
        &id,
        &branch,
        "git add -A && git commit -q -m 'agent work' && git -c core.hooksPath=/dev/null branch -f main HEAD",
        &[],
        &["ref refs/heads/main: moved from"],
    );
    assert_eq!(repo.rev("main"), Some(main));
    clean(&repo);

    // A protected branch the agent creates.
    refused(
        &repo,
        &id,
        &branch,
        "git -c core.hooksPath=/dev/null branch master HEAD",
        &[],
        &["ref refs/heads/master: created"],
    );
    assert_eq!(repo.rev("refs/heads/master"), None);
    clean(&repo);

    // Behind a config that no longer parses, so the refs cannot be read until it is restored.
    let err = refused(
        &repo,
        &id,
        &branch,
        "git add -A && git commit -q -m 'agent work' && git -c core.hooksPath=/dev/null branch -f main HEAD && printf '[broken\\n' >> .git/config",
        &[],
        &[
            "the refs can no longer be read",
            "ref refs/heads/main: moved from",
        ],
    );
    assert!(!err.contains("NOT restored"), "{err}");
}

#[test]
fn exec_removes_grafts_and_shallow_files_the_agent_wrote() {
    let (repo, id, branch) = started_repo();
    refused(
        &repo,
        &id,
        &branch,
        "git rev-parse HEAD > .git/info/grafts",
        &[],
        &["info/grafts: added"],
    );
    assert!(!repo.path.join(".git/info/grafts").exists());
    clean(&repo);

    refused(
        &repo,
        &id,
        &branch,
        "git rev-parse HEAD > .git/shallow && printf '* -diff\\n' > .git/info/attributes",
        &[],
        &["shallow: added", "info/attributes: added"],
    );
}

/// A tampering agent that also fails: the tampering is what is reported, and undone.
#[test]
fn exec_reports_tampering_by_a_failing_agent() {
    let (repo, id, branch) = started_repo();
    let err = refused(
        &repo,
        &id,
        &branch,
        "git config aiflow.exemptMerges false; exit 3",
        &[],
        &["aiflow.exemptmerges", "exit status 3"],
    );
    assert!(!err.contains("NOT restored"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Linked worktrees
// ---------------------------------------------------------------------------------------------

/// The subtask in a linked worktree: the agent changes the common hooks from there, and gives its
/// worktree a hooks directory of its own through worktree config.
#[test]
fn exec_in_a_linked_worktree_guards_the_common_hooks_and_worktree_config() {
    let (repo, _, _) = started_repo();
    let plan = repo.aiflow(&["plan", "show", FLOW, "--json"]).json();
    // A subtask without dependencies other than the first: start it with --force in a worktree.
    let second = &plan["subtasks"][1];
    let id = second["id"].as_str().expect("id").to_string();
    let branch = second["branch"].as_str().expect("branch").to_string();
    let wt = repo.sibling("wt");
    repo.aiflow(&[
        "start",
        &id,
        "--force",
        "--worktree",
        wt.to_str().expect("utf-8"),
    ])
    .ok();
    let empty = repo.sibling("empty-hooks");
    let before = rules(&repo);
    let tip = repo.rev(&branch).expect("branch");
    let tamper = format!(
        "common=$(git rev-parse --git-common-dir) && echo 'exit 0' >> \"$common/hooks/pre-commit\" && mkdir -p '{0}' && git config extensions.worktreeConfig true && git config --worktree core.hooksPath '{0}'",
        empty.display()
    );
    let err = Run::of(
        repo.command_in(BIN, &wt)
            .args(["exec", &id, "--agent", &agent(&tamper)])
            .env("AGENT_MODE", "edit"),
    )
    .fails(1);
    assert_has(&err, "hook pre-commit");
    assert_has(&err, "extensions.worktreeconfig");
    assert_has(&err, "config.worktree: added");
    assert!(!err.contains("NOT restored"), "{err}");
    assert_eq!(rules(&repo), before);
    assert_eq!(repo.rev(&branch).as_deref(), Some(tip.as_str()));
    let admin = repo.path.join(".git/worktrees");
    for e in std::fs::read_dir(&admin).expect("worktrees") {
        let p = e.expect("entry").path().join("config.worktree");
        assert!(!p.exists(), "{} is still there", p.display());
    }
    repo.fsck();
}

// ---------------------------------------------------------------------------------------------
// Cost
// ---------------------------------------------------------------------------------------------

/// The snapshot runs on every `exec`: its cost with 10,000 branches, loose and then packed, next
/// to `git for-each-ref` over the same refs. Run it with
/// `cargo test --locked --test it snapshot_cost -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn snapshot_cost_with_10k_branches() {
    use git_aiflow::gate::guard::Snapshot;
    use std::time::{Duration, Instant};

    let (repo, _, _) = started_repo();
    let head = repo.rev("HEAD").expect("HEAD");
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let runs = 11;
    for layout in [
        "no other branches",
        "10k loose branches",
        "10k packed branches",
    ] {
        match layout {
            // Written directly: `git update-ref --stdin` takes seconds for 10k creations.
            "10k loose branches" => {
                let dir = repo.path.join(".git/refs/heads/feature");
                std::fs::create_dir_all(&dir).expect("mkdir");
                for i in 0..10_000 {
                    std::fs::write(dir.join(format!("b{i:05}")), format!("{head}\n"))
                        .expect("write ref");
                }
            }
            // Without the hooks: git 2.47 prunes each packed loose ref in a transaction of
            // its own, which would start the reference-transaction hook 10,000 times.
            "10k packed branches" => {
                repo.git(&["-c", "core.hooksPath=/dev/null", "pack-refs", "--all"]);
            }
            _ => {}
        }
        let r = gix::open(&repo.path).expect("open");
        let (mut capture, mut changes, mut baseline) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let t = Instant::now();
            let snap = Snapshot::capture(&r, &[]).expect("capture");
            capture.push(t.elapsed());
            let t = Instant::now();
            let found = snap.changes();
            changes.push(t.elapsed());
            assert!(found.is_empty(), "{found:?}");
            let t = Instant::now();
            repo.git(&[
                "for-each-ref",
                "--format=%(refname) %(objectname)",
                "refs/heads/",
            ]);
            baseline.push(t.elapsed());
        }
        eprintln!(
            "{layout}: capture {:?}, changes {:?}; git for-each-ref refs/heads/ {:?} (medians of {runs})",
            median(capture),
            median(changes),
            median(baseline)
        );
    }
}
