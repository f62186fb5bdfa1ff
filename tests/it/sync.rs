//! `git aiflow sync`: two clones of one remote served by a real `git daemon` on 127.0.0.1 (started
//! and stopped by each test; nothing touches the internet). Every scenario ends with both clones
//! and the remote holding the same `refs/notes/aiflow`, nothing either side made lost, and git's
//! own view (`git notes show`, `git log --format=%(trailers)`, `git fsck`) agreeing.

use crate::harness::{
    BIN, GRACE, GitDaemon, Run, TestRepo, assert_has, fixture, free_port, scripted_provider,
};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

// ---------------------------------------------------------------------------------------------
// Two clones of one remote
// ---------------------------------------------------------------------------------------------

const NOTES: &str = "refs/notes/aiflow";
const TRACKING: &str = "refs/remote-notes/origin/aiflow";
const FLOW: &str = "rate-limit";
const INTEGRATION: &str = "aiflow/rate-limit";
const ADA: &str = "Ada Lovelace <ada@example.com>";
const AS_ADA: &[(&str, &str)] = &[];
const AS_GRACE: &[(&str, &str)] = &[
    ("GIT_AUTHOR_NAME", "Grace Hopper"),
    ("GIT_AUTHOR_EMAIL", "grace@example.com"),
    ("GIT_COMMITTER_NAME", "Grace Hopper"),
    ("GIT_COMMITTER_EMAIL", "grace@example.com"),
];

/// A bare `remote.git` behind a git daemon, and two clones of it (`a` as Ada, `b` as Grace), each
/// with `git aiflow init`. The seed repository (`t.path`) made the remote's `main`.
struct Net {
    t: TestRepo,
    daemon: RefCell<Option<GitDaemon>>,
    url: String,
    remote: PathBuf,
}

impl Net {
    fn new() -> Net {
        let t = TestRepo::new();
        let base = t.sibling("srv");
        std::fs::create_dir_all(&base).expect("mkdir");
        let remote = base.join("remote.git");
        t.git(&[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            remote.to_str().expect("utf-8"),
        ]);
        let daemon = GitDaemon::start(&t, &base);
        let url = daemon.url("remote.git");
        t.git(&["push", "-q", &url, "main"]);
        let top = t.path.parent().expect("parent").to_owned();
        for name in ["a", "b"] {
            Run::of(t.command_in("git", &top).args(["clone", "-q", &url, name])).ok();
        }
        let net = Net {
            t,
            daemon: RefCell::new(Some(daemon)),
            url,
            remote,
        };
        let b = net.b();
        b.git(&["config", "user.name", "Grace Hopper"]);
        b.git(&["config", "user.email", "grace@example.com"]);
        for side in [net.a(), b] {
            side.aiflow(&["init"]).ok();
        }
        net
    }

    fn a(&self) -> Side<'_> {
        Side {
            net: self,
            dir: self.t.sibling("a"),
            name: "a",
            env: AS_ADA,
        }
    }

    fn b(&self) -> Side<'_> {
        Side {
            net: self,
            dir: self.t.sibling("b"),
            name: "b",
            env: AS_GRACE,
        }
    }

    /// Kill the daemon: the remote becomes unreachable.
    fn stop_daemon(&self) {
        drop(self.daemon.borrow_mut().take());
    }

    /// git in the bare remote, asserting success.
    #[track_caller]
    fn remote_git(&self, args: &[&str]) -> String {
        Run::of(self.t.command_in("git", &self.remote).args(args)).ok()
    }

    fn remote_rev(&self, rev: &str) -> Option<String> {
        let r = Run::of(self.t.command_in("git", &self.remote).args([
            "rev-parse",
            "--verify",
            "-q",
            rev,
        ]));
        (r.code == 0).then(|| r.stdout.trim().to_string())
    }

    /// Every ref of the remote and its value.
    fn remote_refs(&self) -> String {
        self.remote_git(&["for-each-ref", "--format=%(refname) %(objectname)"])
    }

    #[track_caller]
    fn remote_fsck(&self) {
        let r = Run::of(self.t.command_in("git", &self.remote).args([
            "fsck",
            "--strict",
            "--no-dangling",
        ]));
        assert_eq!(r.code, 0, "remote fsck failed:\n{}{}", r.stdout, r.stderr);
    }
}

/// One clone, with its identity.
struct Side<'n> {
    net: &'n Net,
    dir: PathBuf,
    name: &'static str,
    env: &'static [(&'static str, &'static str)],
}

/// Unique names for files written next to the clones.
static NEXT_FILE: AtomicUsize = AtomicUsize::new(0);

impl Side<'_> {
    /// A hermetic command run in this clone, as this clone's user.
    fn cmd(&self, program: &str) -> Command {
        let mut cmd = self.net.t.command_in(program, &self.dir);
        for (k, v) in self.env {
            cmd.env(k, v);
        }
        cmd
    }

    fn aiflow(&self, args: &[&str]) -> Run {
        Run::of(self.cmd(BIN).args(args))
    }

    /// `git aiflow sync <args> --json`, asserting success.
    #[track_caller]
    fn sync(&self, args: &[&str]) -> Value {
        let mut all = vec!["sync"];
        all.extend_from_slice(args);
        all.push("--json");
        let run = self.aiflow(&all);
        assert_eq!(
            run.code, 0,
            "sync in {} failed\nstdout:\n{}\nstderr:\n{}",
            self.name, run.stdout, run.stderr
        );
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
            panic!(
                "sync --json in {}: not JSON ({e}):\n{}",
                self.name, run.stdout
            )
        })
    }

    #[track_caller]
    fn git(&self, args: &[&str]) -> String {
        self.git_run(args).ok()
    }

    fn git_run(&self, args: &[&str]) -> Run {
        Run::of(self.cmd("git").args(args))
    }

    fn rev(&self, rev: &str) -> Option<String> {
        let r = self.git_run(&["rev-parse", "--verify", "-q", rev]);
        (r.code == 0).then(|| r.stdout.trim().to_string())
    }

    #[track_caller]
    fn tip(&self, rev: &str) -> String {
        self.rev(rev)
            .unwrap_or_else(|| panic!("{rev} does not exist in {}", self.name))
    }

    /// Local branches and notes refs: what a failed sync must leave as they were.
    fn refs(&self) -> String {
        self.git(&[
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/heads",
            "refs/notes",
        ])
    }

    /// `git rev-list --reverse <range>`: oldest first.
    fn commits(&self, range: &str) -> Vec<String> {
        self.git(&["rev-list", "--reverse", range])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The flows `list --json` shows.
    fn slugs(&self) -> BTreeSet<String> {
        let list = self.aiflow(&["list", "--json"]).json();
        list["flows"]
            .as_array()
            .unwrap_or_else(|| panic!("no flows in {list:#}"))
            .iter()
            .map(|f| f["slug"].as_str().expect("slug").to_string())
            .collect()
    }

    fn status(&self, slug: &str) -> Value {
        self.aiflow(&["status", slug, "--json"]).json()
    }

    /// `git notes --ref=aiflow list`, as git sees it.
    fn notes_list(&self) -> String {
        self.git(&["notes", "--ref=aiflow", "list"])
    }

    /// The note on `object`, as git shows it.
    fn note(&self, object: &str) -> String {
        self.git(&["notes", "--ref=aiflow", "show", object])
    }

    fn write(&self, rel: &str, content: &str) {
        let p = self.dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, content).expect("write");
    }

    /// A file next to the clones (outside every work tree); its path.
    fn outside(&self, stem: &str, content: &str) -> String {
        let n = NEXT_FILE.fetch_add(1, Ordering::Relaxed);
        let p = self
            .dir
            .parent()
            .expect("parent")
            .join(format!("{stem}-{}-{n}", self.name));
        std::fs::write(&p, content).expect("write");
        p.to_str().expect("utf-8").to_string()
    }

    /// The current plan's subtasks, as `plan show --json` prints them.
    fn subtasks(&self, slug: &str) -> Vec<Value> {
        let plan = self.aiflow(&["plan", "show", slug, "--json"]).json();
        plan["subtasks"]
            .as_array()
            .unwrap_or_else(|| panic!("no subtasks in {plan:#}"))
            .clone()
    }

    /// `plan edit <slug> -F <file>` where the file is the current plan changed by `change`.
    #[track_caller]
    fn plan_edit(&self, slug: &str, change: impl FnOnce(&mut Vec<toml::Table>)) {
        let mut entries: Vec<toml::Table> = self
            .subtasks(slug)
            .iter()
            .map(|s| {
                let mut e = toml::Table::new();
                for key in ["id", "title", "phase", "status", "description"] {
                    e.insert(key.into(), toml_str(s[key].as_str().expect(key)));
                }
                for key in ["depends_on", "files"] {
                    let list = s[key]
                        .as_array()
                        .expect(key)
                        .iter()
                        .map(|v| toml_str(v.as_str().expect(key)))
                        .collect();
                    e.insert(key.into(), toml::Value::Array(list));
                }
                e
            })
            .collect();
        change(&mut entries);
        let mut doc = toml::Table::new();
        doc.insert(
            "subtask".into(),
            toml::Value::Array(entries.into_iter().map(toml::Value::Table).collect()),
        );
        let text = toml::to_string(&doc).expect("plan edit TOML");
        let file = self.outside("plan-edit.toml", &text);
        self.aiflow(&["plan", "edit", slug, "-F", &file]).ok();
    }

    #[track_caller]
    fn fsck(&self) {
        let r = self.git_run(&["fsck", "--strict", "--no-dangling"]);
        assert_eq!(
            r.code, 0,
            "fsck in {} failed:\n{}{}",
            self.name, r.stdout, r.stderr
        );
        assert!(
            r.stdout.trim().is_empty() && r.stderr.trim().is_empty(),
            "fsck in {} reported:\n{}{}",
            self.name,
            r.stdout,
            r.stderr
        );
    }
}

fn toml_str(s: &str) -> toml::Value {
    toml::Value::String(s.to_string())
}

/// A new plan entry (no id: one is assigned).
fn new_entry(title: &str) -> toml::Table {
    let mut e = toml::Table::new();
    e.insert("title".into(), toml_str(title));
    e.insert("phase".into(), toml_str("core"));
    e.insert(
        "description".into(),
        toml_str(&format!("{title}, added in a plan edit.")),
    );
    e
}

fn spec_path() -> String {
    fixture("specs/rate-limit.md")
        .to_str()
        .expect("utf-8")
        .to_string()
}

/// The rate-limit flow in `side`, with the scripted `command` provider configured there; the
/// clarifying questions asked (three), nothing answered yet.
fn with_questions(side: &Side) {
    side.aiflow(&["new", FLOW, "-F", &spec_path()]).ok();
    side.git(&["config", "aiflow.provider", "command"]);
    side.git(&["config", "aiflow.command", &scripted_provider()]);
    side.aiflow(&["plan", FLOW]).ok();
}

/// The rate-limit flow in `side`, planned: questions answered, the five-subtask plan made.
fn planned(side: &Side) {
    with_questions(side);
    side.aiflow(&crate::harness::ANSWER_RATE_LIMIT).ok();
    side.aiflow(&["plan", FLOW]).ok();
}

/// The entry for branch `name` in a sync report.
#[track_caller]
fn branch<'v>(report: &'v Value, name: &str) -> &'v Value {
    report["branches"]
        .as_array()
        .unwrap_or_else(|| panic!("no branches in {report:#}"))
        .iter()
        .find(|b| b["name"] == name)
        .unwrap_or_else(|| panic!("no branch {name} in {report:#}"))
}

/// The `change` of flow `slug` in a sync report, if it is listed.
fn flow_change<'v>(report: &'v Value, slug: &str) -> Option<&'v str> {
    report["flows"]
        .as_array()
        .unwrap_or_else(|| panic!("no flows in {report:#}"))
        .iter()
        .find(|f| f["slug"] == slug)
        .map(|f| f["change"].as_str().expect("change"))
}

fn conflicts(report: &Value) -> Vec<Value> {
    report["conflicts"]
        .as_array()
        .unwrap_or_else(|| panic!("no conflicts array in {report:#}"))
        .clone()
}

/// Both clones and the remote hold the same notes ref, and git lists the same notes in both.
#[track_caller]
fn assert_converged(net: &Net) {
    let (a, b) = (net.a(), net.b());
    let tip = a.tip(NOTES);
    assert_eq!(b.rev(NOTES).as_deref(), Some(tip.as_str()), "B's notes ref");
    assert_eq!(
        net.remote_rev(NOTES).as_deref(),
        Some(tip.as_str()),
        "the remote's notes ref"
    );
    assert_eq!(a.notes_list(), b.notes_list());
    assert_eq!(a.slugs(), b.slugs());
}

/// Trailer `key`'s values on `commit`, as `git log --format=%(trailers)` reads them.
fn trailer(side: &Side, commit: &str, key: &str) -> Vec<String> {
    side.git(&[
        "log",
        "-1",
        &format!("--format=%(trailers:key={key},valueonly)"),
        commit,
    ])
    .lines()
    .filter(|l| !l.trim().is_empty())
    .map(|l| l.trim().to_string())
    .collect()
}

// ---------------------------------------------------------------------------------------------
// Merging what both sides made
// ---------------------------------------------------------------------------------------------

#[test]
fn a_flow_made_on_each_side_reaches_both() {
    let net = Net::new();
    let (a, b) = (net.a(), net.b());
    assert_eq!(a.git(&["remote", "get-url", "origin"]).trim(), net.url);
    a.aiflow(&["new", "alpha", "-m", "Alpha flow, made by Ada."])
        .ok();
    b.aiflow(&["new", "beta", "-m", "Beta flow, made by Grace."])
        .ok();

    // A first: the remote has no notes yet, A's are pushed with its branch.
    let a_notes = a.tip(NOTES);
    let r = a.sync(&[]);
    assert_eq!(r["remote"], "origin", "{r:#}");
    assert_eq!(r["dry_run"], false, "{r:#}");
    assert_eq!(r["notes"]["action"], "push", "{r:#}");
    assert_eq!(r["notes"]["remote_before"], Value::Null, "{r:#}");
    assert_eq!(r["notes"]["local_before"], a_notes.as_str(), "{r:#}");
    assert_eq!(r["notes"]["local_after"], a_notes.as_str(), "{r:#}");
    assert_eq!(r["notes"]["pushed"], true, "{r:#}");
    assert_eq!(flow_change(&r, "alpha"), Some("to-remote"), "{r:#}");
    let alpha = branch(&r, "aiflow/alpha");
    assert_eq!(alpha["action"], "pushed", "{r:#}");
    assert_eq!(alpha["remote_before"], Value::Null, "{r:#}");
    assert_eq!(net.remote_rev(NOTES), Some(a_notes.clone()));
    assert_eq!(net.remote_rev("aiflow/alpha"), a.rev("aiflow/alpha"));
    assert_eq!(a.rev(TRACKING), Some(a_notes.clone()));

    // B: both sides changed, so a merge commit with two parents: B's tip, then the remote's.
    let b_notes = b.tip(NOTES);
    let r = b.sync(&[]);
    assert_eq!(r["notes"]["action"], "merged", "{r:#}");
    assert_eq!(r["notes"]["local_before"], b_notes.as_str(), "{r:#}");
    assert_eq!(r["notes"]["remote_before"], a_notes.as_str(), "{r:#}");
    assert_eq!(r["notes"]["pushed"], true, "{r:#}");
    assert_eq!(r["attempts"], 1, "{r:#}");
    let merge = b.tip(NOTES);
    assert_eq!(r["notes"]["local_after"], merge.as_str(), "{r:#}");
    assert_eq!(
        b.git(&["log", "-1", "--format=%P", &merge]).trim(),
        format!("{b_notes} {a_notes}"),
        "the merge's parents: local tip, remote tip"
    );
    assert_eq!(flow_change(&r, "alpha"), Some("from-remote"), "{r:#}");
    assert_eq!(flow_change(&r, "beta"), Some("to-remote"), "{r:#}");
    assert_eq!(branch(&r, "aiflow/alpha")["action"], "created", "{r:#}");
    assert_eq!(branch(&r, "aiflow/beta")["action"], "pushed", "{r:#}");
    assert!(conflicts(&r).is_empty(), "{r:#}");
    assert_eq!(b.rev("aiflow/alpha"), a.rev("aiflow/alpha"));

    // A again: a fast-forward, no merge commit of its own.
    let r = a.sync(&[]);
    assert_eq!(r["notes"]["action"], "fast-forward", "{r:#}");
    assert_eq!(r["notes"]["local_after"], merge.as_str(), "{r:#}");
    assert_eq!(flow_change(&r, "beta"), Some("from-remote"), "{r:#}");
    assert_eq!(branch(&r, "aiflow/beta")["action"], "created", "{r:#}");
    assert_eq!(a.tip(NOTES), merge);

    // B again: nothing to do, nothing written.
    let r = b.sync(&[]);
    assert_eq!(r["notes"]["action"], "up-to-date", "{r:#}");
    assert_eq!(b.tip(NOTES), merge);

    assert_converged(&net);
    let both: BTreeSet<String> = ["alpha", "beta"].iter().map(|s| s.to_string()).collect();
    assert_eq!(a.slugs(), both);
    assert_eq!(b.slugs(), both);
    for slug in ["alpha", "beta"] {
        let branch = format!("aiflow/{slug}");
        let tip = a.tip(&branch);
        assert_eq!(b.rev(&branch).as_deref(), Some(tip.as_str()), "{branch}");
        assert_eq!(net.remote_rev(&branch).as_deref(), Some(tip.as_str()));
        assert_eq!(a.note(&branch), b.note(&branch), "{slug}'s note");
        assert_eq!(a.status(slug)["anchor"], tip.as_str());
        assert_eq!(b.status(slug)["anchor"], tip.as_str());
    }
    // Git agrees: the remote's notes history has exactly the one merge, with two parents.
    let merges = net.remote_git(&["log", "--merges", "--format=%H %P", NOTES]);
    assert_eq!(merges.lines().count(), 1, "{merges}");
    assert_eq!(merges.split_whitespace().count(), 3, "{merges}");
    assert_has(
        &a.note("aiflow/beta"),
        "created_by = \"Grace Hopper <grace@example.com>\"",
    );
    assert_has(
        &b.note("aiflow/alpha"),
        "created_by = \"Ada Lovelace <ada@example.com>\"",
    );
    a.fsck();
    b.fsck();
    net.remote_fsck();
}

#[test]
fn concurrent_plan_edits_keep_both_sides_subtasks_and_revisions() {
    let net = Net::new();
    let (a, b) = (net.a(), net.b());
    planned(&a);
    a.sync(&[]);
    b.sync(&[]);
    let original = a.subtasks(FLOW);
    assert_eq!(original.len(), 5);
    assert_eq!(b.subtasks(FLOW), original);

    // A: renames the second subtask and adds one; B: adds another.
    a.plan_edit(FLOW, |p| {
        p[1].insert(
            "title".into(),
            toml_str("Redis-backed shared bucket state, sharded"),
        );
        p.push(new_entry("Alpha extra subtask"));
    });
    b.plan_edit(FLOW, |p| p.push(new_entry("Beta extra subtask")));

    a.sync(&[]);
    let r = b.sync(&[]);
    assert_eq!(r["notes"]["action"], "merged", "{r:#}");
    assert_eq!(flow_change(&r, FLOW), Some("merged"), "{r:#}");
    assert!(conflicts(&r).is_empty(), "{r:#}");
    a.sync(&[]);
    assert_converged(&net);

    for side in [&a, &b] {
        let subs = side.subtasks(FLOW);
        let titles: Vec<&str> = subs.iter().map(|s| s["title"].as_str().unwrap()).collect();
        assert_eq!(subs.len(), 7, "{}: {titles:?}", side.name);
        assert!(titles.contains(&"Alpha extra subtask"), "{titles:?}");
        assert!(titles.contains(&"Beta extra subtask"), "{titles:?}");
        assert!(
            titles.contains(&"Redis-backed shared bucket state, sharded"),
            "A's rename is kept: {titles:?}"
        );
        let ids: BTreeSet<&str> = subs.iter().map(|s| s["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 7, "distinct ids: {subs:#?}");
        for s in &original {
            assert!(ids.contains(s["id"].as_str().unwrap()), "{s:#}");
        }

        // The history keeps both edits, the earlier (A's) first, then the merge.
        let log = side.aiflow(&["plan", "log", FLOW, "--json"]).json();
        let revs = log["revisions"].as_array().expect("revisions");
        let mut oldest_first: Vec<&Value> = revs.iter().collect();
        oldest_first.sort_by_key(|r| r["revision"].as_u64());
        let summary: Vec<(u64, &str, &str, u64)> = oldest_first
            .iter()
            .map(|r| {
                (
                    r["revision"].as_u64().unwrap(),
                    r["source"].as_str().unwrap_or(""),
                    r["created_by"].as_str().unwrap_or(""),
                    r["subtasks"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(summary.len(), 4, "{log:#}");
        assert_eq!(summary[0].0, 1);
        assert_eq!(summary[0].1, "model", "{log:#}");
        assert_eq!(
            (summary[1].0, summary[1].2, summary[1].3),
            (2, ADA, 6),
            "{log:#}"
        );
        assert_eq!(
            (summary[2].0, summary[2].2, summary[2].3),
            (3, GRACE, 6),
            "{log:#}"
        );
        assert_eq!(
            (summary[3].0, summary[3].1, summary[3].3),
            (4, "merge", 7),
            "{log:#}"
        );
        // Each side's own revision is as it made it.
        let rev2 = side
            .aiflow(&["plan", "show", FLOW, "--revision", "2", "--json"])
            .json()
            .to_string();
        assert_has(&rev2, "Alpha extra subtask");
        let rev3 = side
            .aiflow(&["plan", "show", FLOW, "--revision", "3", "--json"])
            .json()
            .to_string();
        assert_has(&rev3, "Beta extra subtask");
    }
    assert_eq!(
        a.aiflow(&["plan", "show", FLOW, "--json"]).json(),
        b.aiflow(&["plan", "show", FLOW, "--json"]).json()
    );
    a.fsck();
    b.fsck();
}

#[test]
fn answers_on_one_side_and_a_spec_edit_on_the_other_are_both_kept() {
    let net = Net::new();
    let (a, b) = (net.a(), net.b());
    with_questions(&a);
    a.sync(&[]);
    b.sync(&[]);
    assert_eq!(b.status(FLOW)["questions"]["asked"], 3);

    // A answers questions 1 and 2; meanwhile B answers 3 and rewrites the spec.
    a.aiflow(&[
        "answer",
        FLOW,
        "--answer",
        "1=Redis is authoritative",
        "--answer",
        "2=Fall back to an in-process bucket per server",
    ])
    .ok();
    b.aiflow(&[
        "answer",
        FLOW,
        "--answer",
        "3=Last trusted X-Forwarded-For entry",
    ])
    .ok();
    let summary = "Clients of the public API are limited per key, fairly, as Grace rewrote it.";
    b.aiflow(&["spec", "edit", FLOW, "-m", summary]).ok();

    a.sync(&[]);
    let r = b.sync(&[]);
    assert_eq!(r["notes"]["action"], "merged", "{r:#}");
    assert!(conflicts(&r).is_empty(), "{r:#}");
    a.sync(&[]);
    assert_converged(&net);

    for side in [&a, &b] {
        let s = side.status(FLOW);
        assert_eq!(s["spec"]["summary"], summary, "{}: {s:#}", side.name);
        assert_eq!(s["questions"]["answered"], 3, "{}: {s:#}", side.name);
        let list = s["questions"]["list"].as_array().expect("questions");
        assert_eq!(list[0]["answer"], "Redis is authoritative", "{s:#}");
        assert_eq!(list[0]["answered_by"], ADA, "{s:#}");
        assert_eq!(
            list[1]["answer"], "Fall back to an in-process bucket per server",
            "{s:#}"
        );
        assert_eq!(
            list[2]["answer"], "Last trusted X-Forwarded-For entry",
            "{s:#}"
        );
        assert_eq!(list[2]["answered_by"], GRACE, "{s:#}");
    }
    assert_eq!(a.note(INTEGRATION), b.note(INTEGRATION));

    // The merged flow is usable: A plans from it, and B gets the plan.
    a.aiflow(&["plan", FLOW]).ok();
    a.sync(&[]);
    b.sync(&[]);
    assert_eq!(b.subtasks(FLOW).len(), 5);
    assert_converged(&net);
    a.fsck();
    b.fsck();
}

/// A subtask started on A with two steps, both clones synced; Grace approves on B while Ada adds
/// step 3 on A. Returns (subtask id, its branch, B's reviewed commits, the step-3 tree).
fn approval_and_new_step(net: &Net) -> (String, String, Vec<String>, String) {
    let (a, b) = (net.a(), net.b());
    planned(&a);
    let sub = a.subtasks(FLOW)[0].clone();
    let id = sub["id"].as_str().unwrap().to_string();
    let br = sub["branch"].as_str().unwrap().to_string();
    a.aiflow(&["start", &id]).ok();
    a.write("src/limiter/bucket.rs", "pub struct Bucket;\n");
    a.aiflow(&["step", "-m", "Bucket type"]).ok();
    a.write("src/limiter/mod.rs", "pub mod bucket;\n");
    a.aiflow(&["step", "-m", "Limiter module"]).ok();
    let range = format!("{INTEGRATION}..{br}");
    let originals = a.commits(&range);
    assert_eq!(originals.len(), 2);

    let r = a.sync(&[]);
    assert_eq!(branch(&r, &br)["action"], "pushed", "{r:#}");
    let r = b.sync(&[]);
    assert_eq!(branch(&r, &br)["action"], "created", "{r:#}");
    assert_eq!(branch(&r, INTEGRATION)["action"], "created", "{r:#}");
    assert_eq!(b.commits(&range), originals);

    // Grace approves on B: the two commits are rewritten there.
    b.aiflow(&["approve", &id, "--json"]).json();
    let reviewed = b.commits(&range);
    assert_eq!(reviewed.len(), 2);
    assert_ne!(reviewed, originals);

    // Ada adds step 3 on A, on top of the unreviewed commits.
    a.write("src/limiter/refill.rs", "pub fn refill() {}\n");
    a.aiflow(&["step", "-m", "Refill"]).ok();
    let tree = a.tip("HEAD^{tree}");
    (id, br, reviewed, tree)
}

/// Both clones end with the reviewed commits and step 3 re-parented on them.
fn assert_reconciled(net: &Net, id: &str, br: &str, reviewed: &[String], tree: &str) {
    let (a, b) = (net.a(), net.b());
    assert_converged(net);
    let tip = a.tip(br);
    assert_eq!(b.rev(br).as_deref(), Some(tip.as_str()), "B's {br}");
    assert_eq!(
        net.remote_rev(br).as_deref(),
        Some(tip.as_str()),
        "the remote's {br}"
    );
    // A's work tree still has the branch checked out, clean, at the new tip.
    assert_eq!(
        a.git(&["symbolic-ref", "HEAD"]).trim(),
        format!("refs/heads/{br}")
    );
    assert_eq!(a.tip("HEAD"), tip);
    assert_eq!(a.git(&["status", "--porcelain"]), "");

    let range = format!("{INTEGRATION}..{br}");
    let commits = a.commits(&range);
    assert_eq!(commits.len(), 3, "{commits:?}");
    assert_eq!(
        &commits[..2],
        reviewed,
        "the reviewed commits are kept as they are"
    );
    for c in &commits[..2] {
        assert_eq!(trailer(&a, c, "Reviewed-by"), [GRACE], "{c}");
    }
    let step3 = &commits[2];
    assert!(trailer(&a, step3, "Reviewed-by").is_empty(), "{step3}");
    assert_eq!(trailer(&a, step3, "Aiflow-Step"), ["3"]);
    assert_eq!(trailer(&a, step3, "Aiflow-Subtask"), [id]);
    assert_eq!(a.tip(&format!("{step3}^{{tree}}")), tree, "step 3's tree");
    // The step note followed the re-parented commit.
    for side in [&a, &b] {
        let note: toml::Table = toml::from_str(&side.note(step3)).expect("step note is TOML");
        assert_eq!(note["kind"].as_str(), Some("step"), "{note:#?}");
        assert_eq!(note["step"].as_integer(), Some(3), "{note:#?}");
    }
    // The review record, as both clones see it.
    for side in [&a, &b] {
        let status = side.status(FLOW);
        let entry = status["subtasks"]
            .as_array()
            .expect("subtasks")
            .iter()
            .find(|s| s["id"] == id)
            .expect("subtask")
            .clone();
        assert_eq!(entry["review"]["verdict"], "approved", "{entry:#}");
        // Step 3 is work the approval did not see: the subtask is active again, as after a
        // `step` on an approved subtask in one clone.
        assert_eq!(entry["status"], "active", "{entry:#}");
        assert_eq!(entry["review"]["reviewer"], GRACE, "{entry:#}");
        // The gate: only step 3 lacks a review.
        let run = side.aiflow(&["check", &range, "--json"]);
        assert_eq!(run.code, 1, "{}: {run:?}", side.name);
        let v: Value = serde_json::from_str(&run.stdout).expect("check --json");
        let failures: Vec<(&str, &str)> = v["failures"]
            .as_array()
            .expect("failures")
            .iter()
            .map(|f| (f["commit"].as_str().unwrap(), f["reason"].as_str().unwrap()))
            .collect();
        assert_eq!(
            failures,
            [(step3.as_str(), "no-review")],
            "{}: {v:#}",
            side.name
        );
    }
    a.fsck();
    b.fsck();
    net.remote_fsck();
}

#[test]
fn an_approval_on_one_clone_and_a_new_step_on_the_other_b_syncs_first() {
    let net = Net::new();
    let (a, b) = (net.a(), net.b());
    let (id, br, reviewed, tree) = approval_and_new_step(&net);

    // B: the remote still has the unreviewed commits; B's reviewed ones replace them.
    let r = b.sync(&[]);
    assert_eq!(branch(&r, &br)["action"], "reconciled", "{r:#}");
    assert_eq!(net.remote_rev(&br).as_deref(), Some(reviewed[1].as_str()));
    // A: step 3 is re-parented on the reviewed commits, A's checked-out branch moves.
    let r = a.sync(&[]);
    assert_eq!(branch(&r, &br)["action"], "reconciled", "{r:#}");
    // B, with the branch checked out in its clean work tree: a fast-forward there.
    b.git(&["switch", "-q", &br]);
    let r = b.sync(&[]);
    assert_eq!(branch(&r, &br)["action"], "fast-forward", "{r:#}");
    assert_eq!(b.tip("HEAD"), a.tip(&br));
    assert_eq!(b.git(&["status", "--porcelain"]), "");
    assert_eq!(
        std::fs::read_to_string(b.dir.join("src/limiter/refill.rs")).expect("step 3's file"),
        "pub fn refill() {}\n"
    );
    assert_reconciled(&net, &id, &br, &reviewed, &tree);
}

#[test]
fn an_approval_on_one_clone_and_a_new_step_on_the_other_a_syncs_first() {
    let net = Net::new();
    let (a, b) = (net.a(), net.b());
    let (id, br, reviewed, tree) = approval_and_new_step(&net);

    // A: step 3 is simply pushed.
    let r = a.sync(&[]);
    assert_eq!(branch(&r, &br)["action"], "pushed", "{r:#}");
    // B: the remote has step 3 on the unreviewed commits; B keeps its reviewed ones and puts
    // step 3 on top.
    let r = b.sync(&[]);
    assert_eq!(branch(&r, &br)["action"], "reconciled", "{r:#}");
    // A: takes that (its step 3 is already in it, re-parented).
    let r = a.sync(&[]);
    let action = branch(&r, &br)["action"].as_str().unwrap().to_string();
    assert!(action == "reconciled" || action == "fast-forward", "{r:#}");
    let r = b.sync(&[]);
    assert_eq!(branch(&r, &br)["action"], "up-to-date", "{r:#}");
    assert_reconciled(&net, &id, &br, &reviewed, &tree);
}

#[test]
fn the_same_field_changed_on_both_sides_is_a_reported_conflict_the_later_wins() {
    let net = Net::new();
    let (a, b) = (net.a(), net.b());
    planned(&a);
    a.sync(&[]);
    b.sync(&[]);
    let first = a.subtasks(FLOW)[0]["id"].as_str().unwrap().to_string();

    const A_TITLE: &str = "Token bucket core, alpha wording";
    const B_TITLE: &str = "Token bucket core, beta wording";
    const A_SUMMARY: &str = "Alpha rewrite of the rate limiting summary.";
    const B_SUMMARY: &str = "Beta rewrite of the rate limiting summary.";
    a.plan_edit(FLOW, |p| {
        p[0].insert("title".into(), toml_str(A_TITLE));
    });
    a.aiflow(&["spec", "edit", FLOW, "-m", A_SUMMARY]).ok();
    // B's changes come later: B wins both.
    b.plan_edit(FLOW, |p| {
        p[0].insert("title".into(), toml_str(B_TITLE));
    });
    b.aiflow(&["spec", "edit", FLOW, "-m", B_SUMMARY]).ok();

    a.sync(&[]);
    let r = b.sync(&[]);
    assert_eq!(r["notes"]["action"], "merged", "{r:#}");
    let found = conflicts(&r);
    let find = |ours: &str, theirs: &str| -> Value {
        found
            .iter()
            .find(|c| {
                c["ours"].as_str().is_some_and(|o| o.contains(ours))
                    && c["theirs"].as_str().is_some_and(|t| t.contains(theirs))
            })
            .unwrap_or_else(|| panic!("no conflict {ours:?} vs {theirs:?} in {r:#}"))
            .clone()
    };
    let title = find(B_TITLE, A_TITLE);
    assert_eq!(title["flow"], FLOW, "{title:#}");
    assert!(
        title["field"].as_str().is_some_and(|f| f.contains("title")),
        "{title:#}"
    );
    assert_eq!(title["kept"], "ours", "{title:#}");
    assert!(
        title["rule"].as_str().is_some_and(|r| !r.is_empty()),
        "{title:#}"
    );
    let spec = find(B_SUMMARY, A_SUMMARY);
    assert_eq!(spec["flow"], FLOW, "{spec:#}");
    assert!(
        spec["field"]
            .as_str()
            .is_some_and(|f| f.contains("summary") || f.contains("spec")),
        "{spec:#}"
    );
    assert_eq!(spec["kept"], "ours", "{spec:#}");
    a.sync(&[]);
    assert_converged(&net);

    for side in [&a, &b] {
        let subs = side.subtasks(FLOW);
        assert_eq!(subs[0]["id"], first.as_str());
        assert_eq!(subs[0]["title"], B_TITLE, "{}", side.name);
        assert_eq!(side.status(FLOW)["spec"]["summary"], B_SUMMARY);
        // The loser stays reachable: in the notes history and in the plan history.
        let history = side.git(&["log", "-p", NOTES]);
        assert_has(&history, A_TITLE);
        assert_has(&history, A_SUMMARY);
        let revs: Vec<String> = (1..=3)
            .map(|n| {
                side.aiflow(&["plan", "show", FLOW, "--revision", &n.to_string(), "--json"])
                    .json()
                    .to_string()
            })
            .collect();
        assert!(revs[1].contains(A_TITLE), "A's revision: {}", revs[1]);
        assert!(revs[2].contains(B_TITLE), "B's revision: {}", revs[2]);
    }
    // The merge commit says so too, and its second parent holds A's values.
    let merge = net.remote_git(&["log", "--merges", "-1", "--format=%H", NOTES]);
    let merge = merge.trim();
    let message = net.remote_git(&["log", "-1", "--format=%B", merge]);
    assert_has(&message, "title");
    let anchor = a.status(FLOW)["anchor"].as_str().unwrap().to_string();
    let theirs = a.git(&["show", &format!("{merge}^2:{anchor}")]);
    assert_has(&theirs, A_TITLE);
    a.fsck();
    b.fsck();
}

#[test]
fn a_branch_with_new_commits_on_both_sides_is_left_alone_and_the_notes_still_synced() {
    let net = Net::new();
    let (a, b) = (net.a(), net.b());
    planned(&a);
    let sub = a.subtasks(FLOW)[0].clone();
    let id = sub["id"].as_str().unwrap().to_string();
    let br = sub["branch"].as_str().unwrap().to_string();
    a.aiflow(&["start", &id]).ok();
    a.write("src/limiter/bucket.rs", "pub struct Bucket;\n");
    a.aiflow(&["step", "-m", "Bucket type"]).ok();
    a.sync(&[]);
    b.sync(&[]);

    // Both add a different step 2 to the same branch.
    b.git(&["switch", "-q", &br]);
    b.write("src/limiter/grace.rs", "pub fn grace() {}\n");
    b.aiflow(&["step", "-m", "Grace's step"]).ok();
    a.write("src/limiter/ada.rs", "pub fn ada() {}\n");
    a.aiflow(&["step", "-m", "Ada's step"]).ok();
    let (a_tip, b_tip) = (a.tip(&br), b.tip(&br));
    a.sync(&[]);
    assert_eq!(net.remote_rev(&br).as_deref(), Some(a_tip.as_str()));

    let run = b.aiflow(&["sync", "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let r: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("sync --json: not JSON ({e}): {run:?}"));
    let entry = branch(&r, &br);
    assert_eq!(entry["action"], "diverged", "{r:#}");
    assert!(
        entry["reason"].as_str().is_some_and(|s| !s.is_empty()),
        "{r:#}"
    );
    assert_eq!(entry["local_before"], b_tip.as_str(), "{r:#}");
    assert_eq!(entry["remote_before"], a_tip.as_str(), "{r:#}");
    // The branch is left as it was on both ends; the notes went through.
    assert_eq!(b.tip(&br), b_tip);
    assert_eq!(b.tip("HEAD"), b_tip);
    assert_eq!(net.remote_rev(&br).as_deref(), Some(a_tip.as_str()));
    assert_eq!(r["notes"]["action"], "merged", "{r:#}");
    assert_eq!(net.remote_rev(NOTES), b.rev(NOTES));
    // Without --json it says so, and still exits 1.
    let plain = b.aiflow(&["sync"]);
    assert_eq!(plain.code, 1, "{plain:?}");
    let said = format!("{}{}", plain.stdout, plain.stderr);
    assert_has(&said, &br);
    assert_has(&said, "diverged");
    // The refusal itself is an error on stderr naming the branch.
    assert_has(&plain.stderr, "error: 1 flow branch diverged");
    assert_has(&plain.stderr, &br);
    assert_eq!(b.tip(&br), b_tip);
    a.sync(&[]);
    assert_converged(&net);
    // Both steps' notes are in both clones.
    for side in [&a, &b] {
        for tip in [&a_tip, &b_tip] {
            assert_has(&side.note(tip), "kind = \"step\"");
        }
    }
}

#[test]
fn branches_are_pushed_by_their_owner_or_when_named() {
    let net = Net::new();
    let (a, b) = (net.a(), net.b());
    a.aiflow(&["new", "alpha", "-m", "Alpha flow, made by Ada."])
        .ok();
    // Only the notes reach the remote; B takes Ada's branch straight from A's clone.
    a.git(&["push", "-q", "origin", NOTES]);
    let a_dir = a.dir.to_str().expect("utf-8").to_string();
    b.git(&["fetch", "-q", &a_dir, "aiflow/alpha:aiflow/alpha"]);
    let anchor = a.tip("aiflow/alpha");

    // B has new commits on it that are not B's: left alone.
    let r = b.sync(&[]);
    let entry = branch(&r, "aiflow/alpha");
    assert_eq!(entry["action"], "not-owned", "{r:#}");
    assert_eq!(net.remote_rev("aiflow/alpha"), None);
    // Named, it is pushed.
    let r = b.sync(&["--branch", "aiflow/alpha"]);
    assert_eq!(branch(&r, "aiflow/alpha")["action"], "pushed", "{r:#}");
    assert_eq!(
        net.remote_rev("aiflow/alpha").as_deref(),
        Some(anchor.as_str())
    );
}

/// A shares `alpha`, B gets it and shares `beta`, then A makes `gamma` without syncing: A and
/// the remote have both moved since they last met.
fn alpha_beta_then_gamma(a: &Side<'_>, b: &Side<'_>) {
    a.aiflow(&["new", "alpha", "-m", "Alpha flow, made by Ada."])
        .ok();
    a.sync(&[]);
    b.sync(&[]);
    b.aiflow(&["new", "beta", "-m", "Beta flow, made by Grace."])
        .ok();
    b.sync(&[]);
    a.aiflow(&["new", "gamma", "-m", "Gamma flow, made by Ada."])
        .ok();
}

#[test]
fn no_push_merges_locally_and_notes_only_leaves_branches() {
    let net = Net::new();
    let (a, b) = (net.a(), net.b());
    alpha_beta_then_gamma(&a, &b);

    // --no-push: merged here, nothing pushed.
    let a_notes = a.tip(NOTES);
    let remote = net.remote_refs();
    let remote_notes = net.remote_rev(NOTES).expect("remote notes");
    let r = a.sync(&["--no-push"]);
    assert_eq!(r["notes"]["action"], "merged", "{r:#}");
    assert_ne!(r["notes"]["pushed"], true, "{r:#}");
    assert_eq!(net.remote_refs(), remote, "--no-push pushed");
    let merged = a.tip(NOTES);
    assert_eq!(
        a.git(&["log", "-1", "--format=%P", &merged]).trim(),
        format!("{a_notes} {remote_notes}")
    );
    assert!(a.slugs().contains("beta"));

    // --notes-only: the notes go, the branches stay where they are on both ends.
    let heads = a.git(&[
        "for-each-ref",
        "--format=%(refname) %(objectname)",
        "refs/heads",
    ]);
    let r = a.sync(&["--notes-only"]);
    assert_eq!(
        net.remote_rev(NOTES).as_deref(),
        Some(merged.as_str()),
        "{r:#}"
    );
    assert_eq!(net.remote_rev("aiflow/gamma"), None, "{r:#}");
    assert_eq!(
        a.git(&[
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/heads"
        ]),
        heads
    );

    // A plain sync then takes care of the branches.
    let r = a.sync(&[]);
    assert_eq!(r["notes"]["action"], "up-to-date", "{r:#}");
    assert_eq!(branch(&r, "aiflow/gamma")["action"], "pushed", "{r:#}");
    assert_eq!(net.remote_rev("aiflow/gamma"), a.rev("aiflow/gamma"));
    assert_eq!(a.rev("aiflow/beta"), net.remote_rev("aiflow/beta"));
    b.sync(&[]);
    assert_converged(&net);
}

#[test]
fn two_plans_made_from_scratch_keep_the_later_and_the_other_in_history() {
    let net = Net::new();
    let (a, b) = (net.a(), net.b());
    with_questions(&a);
    a.aiflow(&["answer", FLOW, "--skip"]).ok();
    a.sync(&[]);
    b.sync(&[]);
    b.git(&["config", "aiflow.provider", "command"]);
    b.git(&["config", "aiflow.command", &scripted_provider()]);
    // Both plan; B's comes later. Same model answer, different ids.
    a.aiflow(&["plan", FLOW]).ok();
    b.aiflow(&["plan", FLOW]).ok();
    let ids = |side: &Side| -> Vec<String> {
        side.subtasks(FLOW)
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (a_ids, b_ids) = (ids(&a), ids(&b));
    assert_ne!(a_ids, b_ids);

    a.sync(&[]);
    let r = b.sync(&[]);
    assert_eq!(r["notes"]["action"], "merged", "{r:#}");
    let reported = conflicts(&r);
    assert!(
        reported
            .iter()
            .any(|c| c["flow"] == FLOW && c["kept"] == "ours"),
        "the replaced plan is reported: {r:#}"
    );
    a.sync(&[]);
    assert_converged(&net);
    for side in [&a, &b] {
        assert_eq!(ids(side), b_ids, "{}: the later plan is current", side.name);
        let log = side.aiflow(&["plan", "log", FLOW, "--json"]).json();
        assert_eq!(
            log["revisions"].as_array().map(Vec::len),
            Some(2),
            "{log:#}"
        );
        let first = side
            .aiflow(&["plan", "show", FLOW, "--revision", "1", "--json"])
            .json();
        let first: Vec<&str> = first["subtasks"]
            .as_array()
            .expect("subtasks")
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        assert_eq!(first, a_ids, "{}: A's plan is kept in history", side.name);
    }
}

#[test]
fn the_remote_is_the_argument_then_aiflow_remote_then_the_only_one_then_origin() {
    let net = Net::new();
    let (a, b) = (net.a(), net.b());
    // A second repository on the same daemon.
    let backup = net.remote.parent().expect("srv").join("backup.git");
    net.t.git(&[
        "init",
        "-q",
        "--bare",
        "-b",
        "main",
        backup.to_str().expect("utf-8"),
    ]);
    let backup_url = net.url.replace("remote.git", "backup.git");
    a.git(&["remote", "add", "backup", &backup_url]);
    a.aiflow(&["new", "alpha", "-m", "Alpha flow, made by Ada."])
        .ok();
    let backup_rev = |rev: &str| -> Option<String> {
        let r =
            Run::of(
                net.t
                    .command_in("git", &backup)
                    .args(["rev-parse", "--verify", "-q", rev]),
            );
        (r.code == 0).then(|| r.stdout.trim().to_string())
    };

    // Two remotes, no config: origin.
    let r = a.sync(&[]);
    assert_eq!(r["remote"], "origin", "{r:#}");
    assert_eq!(net.remote_rev(NOTES), a.rev(NOTES));
    assert_eq!(backup_rev(NOTES), None);
    // aiflow.remote names the default.
    a.git(&["config", "aiflow.remote", "backup"]);
    let r = a.sync(&[]);
    assert_eq!(r["remote"], "backup", "{r:#}");
    assert_eq!(backup_rev(NOTES), a.rev(NOTES));
    assert_eq!(a.rev("refs/remote-notes/backup/aiflow"), a.rev(NOTES));
    // The argument wins over it.
    a.aiflow(&["spec", "edit", "alpha", "-m", "Alpha flow, edited by Ada."])
        .ok();
    let r = a.sync(&["origin"]);
    assert_eq!(r["remote"], "origin", "{r:#}");
    assert_eq!(net.remote_rev(NOTES), a.rev(NOTES));
    assert_ne!(backup_rev(NOTES), a.rev(NOTES));

    // One remote, whatever its name: that one.
    b.git(&["remote", "rename", "origin", "upstream"]);
    let r = b.sync(&[]);
    assert_eq!(r["remote"], "upstream", "{r:#}");
    assert_eq!(b.rev(NOTES), net.remote_rev(NOTES));
    assert_eq!(
        b.rev("refs/remote-notes/upstream/aiflow"),
        net.remote_rev(NOTES)
    );
    assert_eq!(b.rev("refs/remote-notes/origin/aiflow"), None);
    assert_eq!(b.status("alpha")["sync"]["remote"], "upstream");
}

// ---------------------------------------------------------------------------------------------
// Dry run, status
// ---------------------------------------------------------------------------------------------

#[test]
fn dry_run_moves_no_local_ref_and_pushes_nothing() {
    let net = Net::new();
    let (a, b) = (net.a(), net.b());
    alpha_beta_then_gamma(&a, &b);

    let local = a.refs();
    let remote = net.remote_refs();
    let a_notes = a.tip(NOTES);
    let remote_notes = net.remote_rev(NOTES).expect("remote notes");
    let r = a.sync(&["--dry-run"]);
    assert_eq!(r["dry_run"], true, "{r:#}");
    assert_eq!(a.refs(), local, "a dry run moved a local ref");
    assert_eq!(net.remote_refs(), remote, "a dry run pushed");
    assert_ne!(r["notes"]["pushed"], true, "{r:#}");
    assert_eq!(r["notes"]["local_before"], a_notes.as_str(), "{r:#}");
    assert_eq!(r["notes"]["remote_before"], remote_notes.as_str(), "{r:#}");
    assert_eq!(r["notes"]["action"], "merged", "what would happen: {r:#}");
    assert_eq!(flow_change(&r, "beta"), Some("from-remote"), "{r:#}");
    assert_eq!(flow_change(&r, "gamma"), Some("to-remote"), "{r:#}");
    assert_eq!(branch(&r, "aiflow/beta")["action"], "created", "{r:#}");
    assert_eq!(branch(&r, "aiflow/gamma")["action"], "pushed", "{r:#}");
    // Only the remote-tracking refs moved.
    assert_eq!(a.rev(TRACKING), Some(remote_notes.clone()));
    assert_eq!(
        a.rev("refs/remotes/origin/aiflow/beta"),
        net.remote_rev("aiflow/beta")
    );
    assert_eq!(a.rev("aiflow/beta"), None);
    assert!(!a.slugs().contains("beta"));

    // The real thing does what the dry run said.
    let r = a.sync(&[]);
    assert_eq!(r["notes"]["action"], "merged", "{r:#}");
    assert_eq!(branch(&r, "aiflow/beta")["action"], "created", "{r:#}");
    assert_eq!(branch(&r, "aiflow/gamma")["action"], "pushed", "{r:#}");
    b.sync(&[]);
    assert_converged(&net);
    a.fsck();
}

#[test]
fn status_tells_how_the_notes_stand_against_the_remote() {
    let net = Net::new();
    let (a, b) = (net.a(), net.b());
    a.aiflow(&["new", "alpha", "-m", "Alpha flow, made by Ada."])
        .ok();
    // Never synced: no remote-tracking notes ref, no sync state.
    assert_eq!(a.status("alpha")["sync"], Value::Null);

    a.sync(&[]);
    let s = a.status("alpha")["sync"].clone();
    assert_eq!(s["remote"], "origin", "{s:#}");
    assert_eq!(s["state"], "in-sync", "{s:#}");
    assert_eq!(
        (s["ahead"].as_u64(), s["behind"].as_u64()),
        (Some(0), Some(0)),
        "{s:#}"
    );
    assert_eq!(s["flow"], "in-sync", "{s:#}");

    // A local change: ahead by one notes commit.
    a.aiflow(&["spec", "edit", "alpha", "-m", "Alpha flow, edited by Ada."])
        .ok();
    let s = a.status("alpha")["sync"].clone();
    assert_eq!(s["state"], "ahead", "{s:#}");
    assert_eq!(
        (s["ahead"].as_u64(), s["behind"].as_u64()),
        (Some(1), Some(0)),
        "{s:#}"
    );
    assert_eq!(s["flow"], "ahead", "{s:#}");
    let human_ahead = a.aiflow(&["status", "alpha"]).ok();
    a.sync(&[]);
    assert_eq!(a.status("alpha")["sync"]["state"], "in-sync");

    // B changes alpha and pushes; A learns of it through a dry run (no local change): behind.
    b.sync(&[]);
    b.aiflow(&[
        "spec",
        "edit",
        "alpha",
        "-m",
        "Alpha flow, edited by Grace.",
    ])
    .ok();
    b.sync(&[]);
    let s = a.status("alpha")["sync"].clone();
    assert_eq!(
        s["state"], "in-sync",
        "no network: A does not know yet: {s:#}"
    );
    a.sync(&["--dry-run"]);
    let s = a.status("alpha")["sync"].clone();
    assert_eq!(s["state"], "behind", "{s:#}");
    assert_eq!(
        (s["ahead"].as_u64(), s["behind"].as_u64()),
        (Some(0), Some(1)),
        "{s:#}"
    );
    assert_eq!(s["flow"], "behind", "{s:#}");
    let human_behind = a.aiflow(&["status", "alpha"]).ok();

    // And a local change on top: diverged; the new flow is only local.
    a.aiflow(&["new", "gamma", "-m", "Gamma flow, made by Ada."])
        .ok();
    let s = a.status("alpha")["sync"].clone();
    assert_eq!(s["state"], "diverged", "{s:#}");
    assert_eq!(
        (s["ahead"].as_u64(), s["behind"].as_u64()),
        (Some(1), Some(1)),
        "{s:#}"
    );
    assert_eq!(s["flow"], "behind", "{s:#}");
    assert_eq!(a.status("gamma")["sync"]["flow"], "local-only");

    a.sync(&[]);
    for slug in ["alpha", "gamma"] {
        let s = a.status(slug)["sync"].clone();
        assert_eq!(s["state"], "in-sync", "{slug}: {s:#}");
        assert_eq!(
            (s["ahead"].as_u64(), s["behind"].as_u64()),
            (Some(0), Some(0)),
            "{s:#}"
        );
        assert_eq!(s["flow"], "in-sync", "{slug}: {s:#}");
    }
    assert_eq!(
        a.status("alpha")["spec"]["summary"],
        "Alpha flow, edited by Grace."
    );

    // The human dashboard: a `sync` row naming the state and the remote.
    for (human, state) in [(human_ahead, "ahead"), (human_behind, "behind")] {
        let line = human
            .lines()
            .find(|l| l.trim_start().starts_with("sync "))
            .unwrap_or_else(|| panic!("no `sync` row in\n{human}"));
        assert!(line.contains(state) && line.contains("origin"), "{line}");
    }
}

// ---------------------------------------------------------------------------------------------
// Racing clones
// ---------------------------------------------------------------------------------------------

const ROUNDS: usize = 8;

#[test]
fn two_clones_syncing_in_parallel_lose_nothing() {
    let net = Net::new();
    let (a, b) = (net.a(), net.b());
    planned(&a);
    a.sync(&[]);
    b.sync(&[]);

    // The editor appends one subtask named by $TASK_TITLE to whatever the plan is by then.
    let editor = net.t.script(
        "append-subtask.sh",
        r#"printf '\n[[subtask]]\ntitle = "%s"\nphase = "core"\n' "$TASK_TITLE" >> "$1""#,
    );
    let editor = editor.to_str().expect("utf-8").to_string();

    // Build every command up front (the harness's clock is single-threaded), interleaved so that
    // both sides' dates advance together; each side runs its own sequence on its own thread.
    let mut seq_a: Vec<Command> = Vec::new();
    let mut seq_b: Vec<Command> = Vec::new();
    for i in 0..ROUNDS {
        for (side, seq, who, prefix) in
            [(&a, &mut seq_a, "Ada", "a"), (&b, &mut seq_b, "Grace", "b")]
        {
            let mut new = side.cmd(BIN);
            new.args([
                "new",
                &format!("{prefix}-{i}"),
                "-m",
                &format!("Flow {prefix}-{i}, made by {who}."),
            ]);
            seq.push(new);
            let mut edit = side.cmd(BIN);
            edit.args(["plan", "edit", FLOW])
                .env("GIT_EDITOR", &editor)
                .env("TASK_TITLE", format!("{who} task {i}"));
            seq.push(edit);
            let mut sync = side.cmd(BIN);
            sync.args(["sync", "--json"]);
            seq.push(sync);
        }
    }
    let started = Instant::now();
    let run_all = |cmds: Vec<Command>| -> Vec<String> {
        let mut failures = Vec::new();
        for mut cmd in cmds {
            let out = cmd.output().expect("run");
            if !out.status.success() {
                failures.push(format!(
                    "{:?} {:?}: {}\n{}",
                    cmd.get_args().collect::<Vec<_>>(),
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        failures
    };
    let failures: Vec<String> = std::thread::scope(|s| {
        let ha = s.spawn(|| run_all(seq_a));
        let hb = s.spawn(|| run_all(seq_b));
        let mut f = ha.join().expect("thread a");
        f.extend(hb.join().expect("thread b"));
        f
    });
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
    eprintln!("{ROUNDS} racing rounds took {:?}", started.elapsed());
    // They did race: the remote's notes history has merges of both sides' work.
    let merges = net.remote_git(&["rev-list", "--merges", NOTES]);
    assert!(
        !merges.trim().is_empty(),
        "no merge in the remote's notes history"
    );

    a.sync(&[]);
    b.sync(&[]);
    let r = a.sync(&[]);
    assert_eq!(r["notes"]["action"], "up-to-date", "{r:#}");
    assert_converged(&net);

    let mut expected: BTreeSet<String> = [FLOW.to_string()].into();
    for i in 0..ROUNDS {
        expected.insert(format!("a-{i}"));
        expected.insert(format!("b-{i}"));
    }
    assert_eq!(a.slugs(), expected);
    for slug in expected.iter().filter(|s| *s != FLOW) {
        let br = format!("aiflow/{slug}");
        let tip = a.tip(&br);
        assert_eq!(b.rev(&br).as_deref(), Some(tip.as_str()), "{br}");
        assert_eq!(net.remote_rev(&br).as_deref(), Some(tip.as_str()), "{br}");
    }
    for side in [&a, &b] {
        let subs = side.subtasks(FLOW);
        let titles: BTreeSet<&str> = subs.iter().map(|s| s["title"].as_str().unwrap()).collect();
        for i in 0..ROUNDS {
            for who in ["Ada", "Grace"] {
                let t = format!("{who} task {i}");
                assert!(
                    titles.contains(t.as_str()),
                    "{}: {t} lost: {titles:#?}",
                    side.name
                );
            }
        }
        assert_eq!(subs.len(), 5 + 2 * ROUNDS, "{titles:#?}");
        let ids: BTreeSet<&str> = subs.iter().map(|s| s["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), subs.len());
    }
    a.fsck();
    b.fsck();
    net.remote_fsck();
}

// ---------------------------------------------------------------------------------------------
// Plain git on the other side
// ---------------------------------------------------------------------------------------------

#[test]
fn notes_pushed_and_edited_with_plain_git_merge_cleanly() {
    let net = Net::new();
    let (a, b) = (net.a(), net.b());
    a.aiflow(&["new", "alpha", "-m", "Alpha flow, made by Ada."])
        .ok();
    // Shared the old way: plain pushes of the notes ref and the branch.
    a.git(&["push", "-q", "origin", NOTES, "aiflow/alpha"]);
    let r = b.sync(&[]);
    assert_eq!(r["notes"]["action"], "fast-forward", "{r:#}");
    assert_eq!(branch(&r, "aiflow/alpha")["action"], "created", "{r:#}");

    // A renames the flow by editing its note with git notes, and pushes it plainly.
    let note = a.note("aiflow/alpha");
    let renamed: String = note
        .lines()
        .map(|l| {
            if l.starts_with("title = ") {
                "title = \"Alpha, renamed by hand\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    assert_ne!(renamed, note);
    let file = a.outside("renamed.toml", &renamed);
    a.git(&[
        "notes",
        "--ref=aiflow",
        "add",
        "-f",
        "-F",
        &file,
        "aiflow/alpha",
    ]);
    a.git(&["push", "-q", "origin", NOTES]);
    assert_eq!(a.status("alpha")["title"], "Alpha, renamed by hand");

    // Meanwhile B rewrote alpha's summary and started a flow of its own.
    let summary = "Alpha flow, its summary rewritten by Grace.";
    b.aiflow(&["spec", "edit", "alpha", "-m", summary]).ok();
    b.aiflow(&["new", "beta", "-m", "Beta flow, made by Grace."])
        .ok();
    let r = b.sync(&[]);
    assert_eq!(r["notes"]["action"], "merged", "{r:#}");
    assert!(conflicts(&r).is_empty(), "{r:#}");
    let r = a.sync(&[]);
    assert_eq!(r["notes"]["action"], "fast-forward", "{r:#}");
    assert_converged(&net);
    for side in [&a, &b] {
        let s = side.status("alpha");
        assert_eq!(s["title"], "Alpha, renamed by hand", "{}: {s:#}", side.name);
        assert_eq!(s["spec"]["summary"], summary, "{}: {s:#}", side.name);
        let note = side.note("aiflow/alpha");
        assert_has(&note, "title = \"Alpha, renamed by hand\"");
        assert_has(&note, summary);
        assert_eq!(side.status("beta")["created_by"], GRACE);
    }
    a.fsck();
    b.fsck();
}

// ---------------------------------------------------------------------------------------------
// Failures change nothing locally
// ---------------------------------------------------------------------------------------------

/// Stderr has an `error: ` line.
#[track_caller]
fn assert_error_line(stderr: &str) {
    assert!(
        stderr.lines().any(|l| l.starts_with("error: ")),
        "no `error: ` line in stderr:\n{stderr}"
    );
}

#[test]
fn a_push_refused_by_the_remote_changes_nothing_locally() {
    let net = Net::new();
    let (a, b) = (net.a(), net.b());
    a.aiflow(&["new", "alpha", "-m", "Alpha flow, made by Ada."])
        .ok();
    a.sync(&[]);
    b.aiflow(&["new", "beta", "-m", "Beta flow, made by Grace."])
        .ok();
    b.sync(&[]);
    // A has a change of its own, so its sync would merge and push.
    a.aiflow(&["spec", "edit", "alpha", "-m", "Alpha flow, edited by Ada."])
        .ok();

    let hook = net.remote.join("hooks").join("pre-receive");
    std::fs::create_dir_all(hook.parent().unwrap()).expect("mkdir");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'pushes to this remote are frozen' >&2\nexit 1\n",
    )
    .expect("write hook");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let local = a.refs();
    let remote = net.remote_refs();
    let err = a.aiflow(&["sync"]).fails(1);
    assert_error_line(&err);
    // The remote's own words reach the user.
    assert_has(&err, "pushes to this remote are frozen");
    assert_has(&err, "origin");
    assert_eq!(a.refs(), local, "a refused sync changed local refs");
    assert_eq!(net.remote_refs(), remote);
    assert_eq!(a.rev("aiflow/beta"), None);

    // With the hook gone, the same sync goes through.
    std::fs::remove_file(&hook).expect("rm hook");
    let r = a.sync(&[]);
    assert_eq!(r["notes"]["action"], "merged", "{r:#}");
    b.sync(&[]);
    assert_converged(&net);
}

#[test]
fn a_remote_that_does_not_exist_is_named() {
    let net = Net::new();
    let a = net.a();
    a.aiflow(&["new", "alpha", "-m", "Alpha flow, made by Ada."])
        .ok();
    let local = a.refs();
    let err = a.aiflow(&["sync", "nosuch"]).fails(2);
    assert_error_line(&err);
    assert_has(&err, "nosuch");
    assert_has(&err, "origin");
    assert_eq!(a.refs(), local);
    assert_eq!(a.rev("refs/remote-notes/nosuch/aiflow"), None);
}

#[test]
fn an_unreachable_remote_is_exit_2_and_changes_nothing() {
    let net = Net::new();
    let (a, b) = (net.a(), net.b());
    alpha_beta_then_gamma(&a, &b);

    // A closed port.
    let dead = format!("git://127.0.0.1:{}/x.git", free_port());
    a.git(&["remote", "add", "dead", &dead]);
    let local = a.refs();
    let err = a.aiflow(&["sync", "dead"]).fails(2);
    assert_error_line(&err);
    assert_has(&err, "dead");
    assert_eq!(a.refs(), local);

    // The daemon killed after a good sync: the next one fails the same way.
    let tracking = a.rev(TRACKING);
    net.stop_daemon();
    let err = a.aiflow(&["sync", "origin"]).fails(2);
    assert_error_line(&err);
    assert_has(&err, "origin");
    assert_eq!(a.refs(), local);
    assert_eq!(a.rev(TRACKING), tracking);
    assert_eq!(a.rev("aiflow/beta"), None);
    a.fsck();
}
