//! A plan revision, once written, reads the same forever: `plan show --revision N`, `plan diff A
//! B` and each revision's entry in `plan log` (text and JSON) are byte-identical after the rest of
//! a flow runs (start, steps, review, integrate, more revisions, a sync with another clone,
//! finish), and in the other clone. And a note in the layout of schema 2 (before the plan's
//! decisions were split from the subtasks' progress) reads and migrates without loss.

use crate::harness::{AS_GRACE, BIN, Run, TestRepo, assert_has, fixture};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

const FLOW: &str = "rate-limit";

/// Every output that shows a revision, as first seen: `(what was run, stdout)`.
#[derive(Default)]
struct Book {
    seen: BTreeMap<String, String>,
    revisions: u32,
}

fn run(dir: &Path, repo: &TestRepo, args: &[&str]) -> String {
    Run::of(repo.command_in(BIN, dir).args(args)).ok()
}

/// Each revision's entry of `plan log`: from its `revision N` line to the next revision or the
/// blank line before what follows the revisions.
fn log_entries(text: &str) -> BTreeMap<u32, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<(u32, String)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("revision ") {
            out.extend(current.take());
            let n = rest
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .expect("a revision number");
            current = Some((n, String::new()));
        } else if line.is_empty() {
            out.extend(current.take());
        }
        if let Some((_, entry)) = &mut current {
            entry.push_str(line);
            entry.push('\n');
        }
    }
    out.extend(current);
    out
}

impl Book {
    /// Run every command that shows a revision in `dir`; each output seen before must be byte
    /// for byte what it was, each new one is recorded. `when` names the step, for the message.
    #[track_caller]
    fn check(&mut self, repo: &TestRepo, dir: &Path, when: &str) {
        let log_json: Value =
            serde_json::from_str(&run(dir, repo, &["plan", "log", FLOW, "--json"])).expect("json");
        let revs = log_json["revisions"].as_array().expect("revisions");
        let latest = revs.len() as u32;
        assert!(latest >= self.revisions, "{when}: revisions disappeared");
        self.revisions = latest;
        let mut now = BTreeMap::new();
        for r in revs {
            let n = r["revision"].as_u64().expect("number");
            now.insert(format!("plan log --json: revision {n}"), r.to_string());
        }
        let log = run(dir, repo, &["plan", "log", FLOW]);
        let entries = log_entries(&log);
        assert_eq!(entries.len() as u32, latest, "{when}: {log}");
        for (n, e) in entries {
            now.insert(format!("plan log: revision {n}"), e);
        }
        for n in 1..=latest {
            let n_s = n.to_string();
            for extra in [&[][..], &["--json"], &["--toml"]] {
                let mut args = vec!["plan", "show", FLOW, "--revision", &n_s];
                args.extend_from_slice(extra);
                now.insert(args.join(" "), run(dir, repo, &args));
            }
            for m in n + 1..=latest {
                let m_s = m.to_string();
                for extra in [&[][..], &["--json"]] {
                    let mut args = vec!["plan", "diff", FLOW, &n_s, &m_s];
                    args.extend_from_slice(extra);
                    now.insert(args.join(" "), run(dir, repo, &args));
                }
            }
        }
        for (what, out) in now {
            match self.seen.get(&what) {
                Some(first) => assert_eq!(
                    &out, first,
                    "`{what}` changed after the fact ({when})\nfirst:\n{first}\nnow:\n{out}"
                ),
                None => {
                    self.seen.insert(what, out);
                }
            }
        }
    }
}

/// The flow's note, found as git lists it (on the flow's anchor commit).
fn flow_note(repo: &TestRepo) -> String {
    let list = repo.git(&["notes", "--ref=aiflow", "list"]);
    list.lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|object| repo.git(&["notes", "--ref=aiflow", "show", object]))
        .find(|note| note.contains("kind = \"flow\""))
        .expect("a flow note")
}

fn plan_edit(dir: &Path, repo: &TestRepo, toml: &str) {
    let file = repo.outside("history-edit.toml", toml.as_bytes());
    run(
        dir,
        repo,
        &["plan", "edit", FLOW, "-F", file.to_str().expect("utf-8")],
    );
}

fn step(repo: &TestRepo, file: &str, text: &str) {
    repo.write(file, text);
    repo.aiflow(&["step", "-m", &format!("Write {file}")]).ok();
}

#[test]
fn revisions_read_the_same_forever_through_a_whole_flow_and_a_sync() {
    let repo = TestRepo::new();
    let here = repo.path.clone();
    let mut book = Book::default();
    repo.new_rate_limit();
    repo.git(&["config", "aiflow.provider", "command"]);
    repo.git(&[
        "config",
        "aiflow.command",
        r#"if [ "$AIFLOW_TEMPLATE" = questions ]; then echo '{"questions": []}'; else echo '{"subtasks": [{"id": "a1", "title": "Bucket", "phase": "core", "description": "The bucket.", "files": ["bucket.rs"], "depends_on": [], "test": "true"}, {"id": "b2", "title": "Headers", "phase": "core", "description": "", "files": [], "depends_on": ["a1"]}]}'; fi"#,
    ]);
    repo.aiflow(&["plan", FLOW]).ok();
    repo.aiflow(&["plan", FLOW]).ok();
    book.check(&repo, &here, "revision 1 written");
    assert_eq!(book.revisions, 1);

    // Revision 2: a person accepts a1's test, adds c3.
    plan_edit(
        &here,
        &repo,
        "[[subtask]]\nid = \"a1\"\ntitle = \"Bucket\"\nphase = \"core\"\ndescription = \"The bucket.\"\nfiles = [\"bucket.rs\"]\ntest = \"true\"\n\n\
         [[subtask]]\nid = \"b2\"\ntitle = \"Headers\"\nphase = \"core\"\ndepends_on = [\"a1\"]\n\n\
         [[subtask]]\nid = \"c3\"\ntitle = \"Docs\"\nphase = \"production\"\n",
    );
    book.check(&repo, &here, "revision 2 written");
    assert_eq!(book.revisions, 2);

    repo.aiflow(&["start", "a1"]).ok();
    book.check(&repo, &here, "a1 started");
    step(&repo, "bucket.rs", "bucket\n");
    book.check(&repo, &here, "a1 step 1");
    step(&repo, "README.md", "outside the plan\n");
    book.check(&repo, &here, "a1 step 2");
    repo.aiflow(&["ready", "a1"]).ok();
    book.check(&repo, &here, "a1 ready");
    repo.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
    book.check(&repo, &here, "a1 approved");
    repo.git(&["switch", "-q", "main"]);
    repo.aiflow(&["integrate", "a1"]).ok();
    book.check(&repo, &here, "a1 integrated");

    // Revision 3: c3 dropped, b2 retitled; a1 (merged) stays as it is.
    plan_edit(
        &here,
        &repo,
        "[[subtask]]\nid = \"a1\"\ntitle = \"Bucket\"\nphase = \"core\"\ndescription = \"The bucket.\"\nfiles = [\"bucket.rs\"]\ntest = \"true\"\n\n\
         [[subtask]]\nid = \"b2\"\ntitle = \"Rate headers\"\nphase = \"core\"\ndepends_on = [\"a1\"]\n\n\
         [[subtask]]\nid = \"c3\"\ntitle = \"Docs\"\nphase = \"production\"\nstatus = \"dropped\"\n",
    );
    book.check(&repo, &here, "revision 3 written");
    assert_eq!(book.revisions, 3);
    // The diffs show decisions only: never a status the lifecycle set, never a branch.
    let d23 = run(&here, &repo, &["plan", "diff", FLOW, "2", "3"]);
    assert_has(&d23, "c3  Docs: status \"planned\" → \"dropped\"");
    assert_has(
        &d23,
        "b2  Rate headers: title \"Headers\" → \"Rate headers\"",
    );
    assert!(!d23.contains("merged") && !d23.contains("branch"), "{d23}");

    repo.aiflow(&["start", "b2"]).ok();
    step(&repo, "headers.rs", "headers\n");
    book.check(&repo, &here, "b2 step 1");

    // Another clone syncs, revises the plan (revision 4) and syncs back.
    let other = repo.sibling("other");
    repo.git(&["clone", "-q", ".", other.to_str().expect("utf-8")]);
    run(&other, &repo, &["init"]);
    run(&other, &repo, &["sync"]);
    let mut theirs = Book::default();
    theirs.check(&repo, &other, "the other clone synced");
    for (what, out) in &theirs.seen {
        assert_eq!(
            Some(out),
            book.seen.get(what),
            "`{what}` reads differently in the other clone"
        );
    }
    plan_edit(
        &other,
        &repo,
        "[[subtask]]\nid = \"a1\"\ntitle = \"Bucket\"\nphase = \"core\"\ndescription = \"The bucket.\"\nfiles = [\"bucket.rs\"]\ntest = \"true\"\n\n\
         [[subtask]]\nid = \"b2\"\ntitle = \"Rate headers\"\nphase = \"core\"\ndepends_on = [\"a1\"]\n\n\
         [[subtask]]\nid = \"c3\"\ntitle = \"Docs\"\nphase = \"production\"\nstatus = \"dropped\"\n\n\
         [[subtask]]\nid = \"d4\"\ntitle = \"Metrics\"\nphase = \"nice-to-have\"\nstatus = \"dropped\"\n",
    );
    theirs.check(&repo, &other, "revision 4 written in the other clone");
    run(&other, &repo, &["sync"]);
    // Meanwhile b2 moved on here.
    repo.aiflow(&["ready", "b2"]).ok();
    book.check(&repo, &here, "b2 ready");
    // Here the other clone is the remote (it is not bare: this side only fetches and merges).
    repo.git(&["remote", "add", "origin", other.to_str().expect("utf-8")]);
    repo.aiflow(&["sync", "--no-push"]).ok();
    book.check(&repo, &here, "synced");
    assert_eq!(book.revisions, 4, "the other clone's revision arrived");
    assert_eq!(
        book.seen.get("plan show rate-limit --revision 4"),
        theirs.seen.get("plan show rate-limit --revision 4"),
        "revision 4 reads the same in both clones"
    );
    // The sync kept the progress made here: b2 is in review, on its branch.
    let plan: Value = repo.aiflow(&["plan", "show", FLOW, "--json"]).json();
    assert_eq!(plan["subtasks"][1]["status"], "in-review", "{plan:#}");
    assert_eq!(plan["subtasks"][1]["branch_exists"], true, "{plan:#}");

    repo.aiflow_env(&["approve", "b2"], AS_GRACE).ok();
    book.check(&repo, &here, "b2 approved");
    repo.git(&["switch", "-q", "main"]);
    repo.aiflow(&["integrate", "b2"]).ok();
    book.check(&repo, &here, "b2 integrated");
    repo.aiflow(&["finish", FLOW]).ok();
    book.check(&repo, &here, "finished");
    run(&other, &repo, &["sync"]);
    theirs.check(&repo, &other, "the other clone synced the finished flow");
    for (what, out) in &theirs.seen {
        assert_eq!(Some(out), book.seen.get(what), "`{what}` differs");
    }

    // The note holds the revisions as decided and the progress apart from them.
    let note: toml::Table = toml::from_str(&flow_note(&repo)).expect("toml");
    assert_eq!(note["schema"].as_integer(), Some(3));
    for p in note["plans"].as_array().expect("plans") {
        for s in p["subtasks"].as_array().expect("subtasks") {
            let s = s.as_table().expect("table");
            assert!(
                !s.contains_key("status") && !s.contains_key("branch"),
                "a revision holds progress: {s:?}"
            );
        }
    }
    let progress: Vec<(&str, &str)> = note["progress"]
        .as_array()
        .expect("progress")
        .iter()
        .map(|p| {
            (
                p["subtask"].as_str().expect("subtask"),
                p["status"].as_str().expect("status"),
            )
        })
        .collect();
    assert_eq!(progress, [("a1", "merged"), ("b2", "merged")]);
}

/// The note git-aiflow's main (schema 2, before this change) wrote for a flow planned by a model
/// (revision 1), edited to a1, b2, c3 (revision 2), a1 started and stepped, c3 dropped
/// (revision 3), a1 approved and integrated. Its revision 2 says a1 is `active` (it was planned
/// when written), and `plan diff 2 3` there showed `a1: status "active" → "merged"`.
const OLD_NOTE: &str = "notes/flow-schema2.toml";

#[test]
fn a_schema_2_note_reads_and_migrates_without_loss() {
    let repo = TestRepo::new();
    repo.aiflow(&["init"]).ok();
    let text = std::fs::read_to_string(fixture(OLD_NOTE)).expect("fixture");
    // An anchor commit, the integration branch and a1's branch, as git-aiflow made them.
    repo.git(&[
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "aiflow: start rate-limit: Rate limiting for the public API",
    ]);
    repo.git(&["branch", "aiflow/rate-limit"]);
    repo.git(&["branch", "aiflow/rate-limit--a1-bucket"]);
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    repo.set_note("aiflow/rate-limit", &text);
    let before: toml::Table = toml::from_str(&text).expect("toml");

    // Read: the current statuses and branches are the progress; the revisions show decisions.
    let plan: Value = repo.aiflow(&["plan", "show", FLOW, "--json"]).json();
    let subs = plan["subtasks"].as_array().expect("subtasks");
    assert_eq!(subs[0]["status"], "merged");
    assert_eq!(subs[0]["branch"], "aiflow/rate-limit--a1-bucket");
    assert_eq!(subs[1]["status"], "planned");
    assert_eq!(subs[2]["status"], "dropped");
    let d = repo.aiflow(&["plan", "diff", FLOW, "2", "3"]).ok();
    assert_eq!(
        d,
        "plan of rate-limit: revision 2 → 3 (1 changed)\n~ c3  Docs: status \"planned\" → \"dropped\"\n"
    );
    let r2 = repo.aiflow(&["plan", "show", FLOW, "--revision", "2"]).ok();
    assert_has(&r2, "   1. a1  Bucket  [planned]\n");
    assert!(!r2.contains("active") && !r2.contains("branch"), "{r2}");

    // Reading changed nothing; the next write migrates, and every decision is kept.
    assert_eq!(flow_note(&repo).trim_end(), text.trim_end());
    repo.aiflow(&["start", "b2"]).ok();
    let after: toml::Table = toml::from_str(&flow_note(&repo)).expect("toml");
    assert_eq!(after["schema"].as_integer(), Some(3));
    let plans = |t: &toml::Table| t["plans"].as_array().expect("plans").clone();
    let (old_plans, new_plans) = (plans(&before), plans(&after));
    assert_eq!(old_plans.len(), new_plans.len());
    for (o, n) in old_plans.iter().zip(&new_plans) {
        let (o, n) = (o.as_table().expect("t"), n.as_table().expect("t"));
        for (k, v) in o {
            if k != "subtasks" {
                assert_eq!(n.get(k), Some(v), "revision key {k}");
            }
        }
        let (os, ns) = (
            o["subtasks"].as_array().expect("s"),
            n["subtasks"].as_array().expect("s"),
        );
        assert_eq!(os.len(), ns.len());
        for (a, b) in os.iter().zip(ns) {
            let (a, b) = (a.as_table().expect("t"), b.as_table().expect("t"));
            for (k, v) in a {
                match k.as_str() {
                    "status" => assert_eq!(
                        b.get("dropped").and_then(|d| d.as_bool()).unwrap_or(false),
                        v.as_str() == Some("dropped"),
                        "{a:?} -> {b:?}"
                    ),
                    "branch" => assert!(!b.contains_key("branch")),
                    _ => assert_eq!(b.get(k), Some(v), "subtask key {k}"),
                }
            }
        }
    }
    let progress: Vec<Value> = after["progress"]
        .as_array()
        .expect("progress")
        .iter()
        .map(|p| serde_json::to_value(p).expect("json"))
        .collect();
    assert_eq!(
        progress,
        [
            serde_json::json!({"subtask": "a1", "status": "merged", "branch": "aiflow/rate-limit--a1-bucket"}),
            serde_json::json!({"subtask": "b2", "status": "active", "branch": "aiflow/rate-limit--b2-headers"}),
        ]
    );
    // Everything else in the document is as it was.
    for (k, v) in &before {
        if !["schema", "plans", "updated_at", "updated_by"].contains(&k.as_str()) {
            assert_eq!(after.get(k), Some(v), "key {k}");
        }
    }
}
