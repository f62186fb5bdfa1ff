//! Concurrent edits of one flow never lose work: a plan edit is a compare-and-swap on the plan
//! revision it was made from, answers from the editor change only what the user changed, and
//! `spec edit -F` refuses a spec that changed while it read the file.

use crate::harness::{BIN, Run, TestRepo, assert_has, assert_lacks};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The rate-limit flow with three questions skipped and a plan of five subtasks (revision 1),
/// from the scripted `command` provider.
fn planned() -> TestRepo {
    let repo = with_questions();
    repo.aiflow(&["answer", "rate-limit", "--skip"]).ok();
    repo.aiflow(&["plan", "rate-limit"]).ok();
    repo
}

/// The rate-limit flow with the scripted provider's three questions, unanswered.
fn with_questions() -> TestRepo {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.use_scripted_provider();
    repo.aiflow(&["plan", "rate-limit"]).ok();
    repo
}

fn plan_json(repo: &TestRepo) -> Value {
    repo.aiflow(&["plan", "show", "rate-limit", "--json"])
        .json()
}

fn ids(plan: &Value) -> Vec<String> {
    plan["subtasks"]
        .as_array()
        .expect("subtasks")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_string())
        .collect()
}

fn titles(plan: &Value) -> Vec<String> {
    plan["subtasks"]
        .as_array()
        .expect("subtasks")
        .iter()
        .map(|s| s["title"].as_str().expect("title").to_string())
        .collect()
}

/// `base` (a plan's TOML) with one more subtask titled `title`.
fn with_subtask(base: &str, title: &str) -> String {
    format!("{base}\n[[subtask]]\ntitle = \"{title}\"\nphase = \"production\"\n")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn notes_commits(repo: &TestRepo) -> usize {
    repo.git(&["rev-list", "--count", "refs/notes/aiflow"])
        .trim()
        .parse()
        .expect("count")
}

/// Run every command at once, each on its own thread.
fn all_at_once(commands: Vec<Command>) -> Vec<Run> {
    let handles: Vec<_> = commands
        .into_iter()
        .map(|mut c| std::thread::spawn(move || Run::of(&mut c)))
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// plan edit
// ---------------------------------------------------------------------------------------------

#[test]
fn eight_parallel_plan_edits_from_one_revision_one_wins_and_nothing_is_lost() {
    let repo = planned();
    let base = repo.aiflow(&["plan", "show", "rate-limit", "--toml"]).ok();
    assert_has(&base, "\nbased_on = 1\n");
    let first = plan_json(&repo);
    let files: Vec<PathBuf> = (0..8)
        .map(|p| {
            repo.outside(
                &format!("edit-{p}.toml"),
                with_subtask(&base, &format!("Added by editor {p}")).as_bytes(),
            )
        })
        .collect();
    let commits = notes_commits(&repo);
    let commands = files
        .iter()
        .map(|f| {
            let mut c = repo.command(BIN);
            c.args(["plan", "edit", "rate-limit", "-F", path(f)]);
            c
        })
        .collect();
    let runs = all_at_once(commands);

    let winners: Vec<usize> = (0..8).filter(|p| runs[*p].code == 0).collect();
    assert_eq!(winners.len(), 1, "exactly one edit applies:\n{runs:#?}");
    let winner = winners[0];
    assert_has(
        &runs[winner].stdout,
        "Plan revision 2 of rate-limit: 1 added.",
    );
    for (p, r) in runs.iter().enumerate().filter(|(p, _)| *p != winner) {
        assert_eq!(r.code, 1, "editor {p}: {r:?}");
        assert_has(
            &r.stderr,
            "error: the plan of `rate-limit` is at revision 2, but this edit was made from revision 1; nothing was written",
        );
        assert_has(&r.stderr, "git aiflow plan diff rate-limit 1 2");
        assert_has(
            &r.stderr,
            &format!("your edit is kept in {}", path(&files[p])),
        );
        assert_has(&r.stderr, "set `based_on = 2` in it");
        assert_eq!(r.stdout, "", "editor {p}");
    }

    // Revision 2 is revision 1 plus the winner's subtask: nothing lost, nothing reverted.
    let now = plan_json(&repo);
    assert_eq!(now["revision"], 2);
    assert_eq!(now["revisions"], 2);
    let mut expected = titles(&first);
    expected.push(format!("Added by editor {winner}"));
    assert_eq!(titles(&now), expected);
    assert_eq!(ids(&now)[..5], ids(&first)[..]);
    assert_eq!(notes_commits(&repo), commits + 1);
    repo.fsck();
}

#[test]
fn a_stale_plan_file_is_refused_and_a_file_without_based_on_applies_to_the_current_plan() {
    let repo = planned();
    let base = repo.aiflow(&["plan", "show", "rate-limit", "--toml"]).ok();
    let a = repo.outside("a.toml", with_subtask(&base, "From A").as_bytes());
    let b = repo.outside("b.toml", with_subtask(&base, "From B").as_bytes());
    repo.aiflow(&["plan", "edit", "rate-limit", "-F", path(&a)])
        .ok();

    // B was made from revision 1 too: applying it would silently drop A's subtask.
    let notes = repo.rev("refs/notes/aiflow");
    let err = repo
        .aiflow(&["plan", "edit", "rate-limit", "-F", path(&b)])
        .fails(1);
    assert_has(
        &err,
        "is at revision 2, but this edit was made from revision 1",
    );
    assert_has(
        &err,
        "hint: applying it would undo what changed since; see that with `git aiflow plan diff rate-limit 1 2`",
    );
    assert_has(
        &err,
        &format!("git aiflow plan edit rate-limit -F {}", path(&b)),
    );
    assert_eq!(repo.rev("refs/notes/aiflow"), notes, "a refused edit wrote");
    assert!(titles(&plan_json(&repo)).contains(&"From A".to_string()));

    // Following the hint: B brought up to date (A's subtask kept) with `based_on = 2`.
    let current = repo.aiflow(&["plan", "show", "rate-limit", "--toml"]).ok();
    assert_has(&current, "\nbased_on = 2\n");
    std::fs::write(&b, with_subtask(&current, "From B")).expect("write");
    repo.aiflow(&["plan", "edit", "rate-limit", "-F", path(&b)])
        .ok();

    // A file without `based_on` is an edit of the plan as it is when the command starts.
    let current = repo.aiflow(&["plan", "show", "rate-limit", "--toml"]).ok();
    let without: String = with_subtask(&current, "From C")
        .lines()
        .filter(|l| !l.starts_with("based_on"))
        .map(|l| format!("{l}\n"))
        .collect();
    let c = repo.outside("c.toml", without.as_bytes());
    let out = repo
        .aiflow(&["plan", "edit", "rate-limit", "-F", path(&c)])
        .ok();
    assert_has(&out, "Plan revision 4 of rate-limit: 1 added.");
    let t = titles(&plan_json(&repo));
    for want in ["From A", "From B", "From C"] {
        assert!(t.contains(&want.to_string()), "{want} missing: {t:?}");
    }

    // A revision that does not exist yet is an input error.
    let future = repo.outside(
        "d.toml",
        current.replace("based_on = 3", "based_on = 9").as_bytes(),
    );
    let err = repo
        .aiflow(&["plan", "edit", "rate-limit", "-F", path(&future)])
        .fails(2);
    assert_has(
        &err,
        "the edit says `based_on = 9`, but the plan of `rate-limit` has revisions 1 to 4",
    );
    let zero = repo.outside(
        "e.toml",
        current.replace("based_on = 3", "based_on = 0").as_bytes(),
    );
    let err = repo
        .aiflow(&["plan", "edit", "rate-limit", "-F", path(&zero)])
        .fails(2);
    assert_has(&err, "numbered from 1");
    repo.fsck();
}

#[test]
fn an_editor_session_overtaken_by_another_edit_keeps_its_draft() {
    let repo = planned();
    let other = repo.outside(
        "other.toml",
        with_subtask(
            &repo.aiflow(&["plan", "show", "rate-limit", "--toml"]).ok(),
            "From elsewhere",
        )
        .as_bytes(),
    );
    // While "the editor is open", another process edits the plan; then the user adds a subtask.
    let editor = repo.script(
        "racer.sh",
        &format!(
            "{BIN} plan edit rate-limit -F '{}' >/dev/null || exit 5\n\
             printf '\\n[[subtask]]\\ntitle = \"Mine\"\\nphase = \"core\"\\n' >> \"$1\"",
            path(&other)
        ),
    );
    let r = repo.aiflow_env(
        &["plan", "edit", "rate-limit"],
        &[("GIT_EDITOR", path(&editor))],
    );
    let err = r.fails(1);
    assert_has(
        &err,
        "is at revision 2, but this edit was made from revision 1",
    );
    let draft = std::fs::canonicalize(repo.path.join(".git"))
        .expect("git dir")
        .join("aiflow/PLAN_EDIT-rate-limit.toml");
    assert_has(&err, &format!("your edit is kept in {}", draft.display()));
    let kept = std::fs::read_to_string(&draft).expect("draft kept");
    assert_has(&kept, "title = \"Mine\"");
    assert_has(&kept, "based_on = 1");
    assert!(titles(&plan_json(&repo)).contains(&"From elsewhere".to_string()));

    // A second refused session does not overwrite the first one's draft.
    let editor2 = repo.script(
        "racer2.sh",
        &format!(
            "{BIN} plan edit rate-limit -F '{}' >/dev/null || exit 5\n\
             printf '\\n[[subtask]]\\ntitle = \"Mine too\"\\nphase = \"core\"\\n' >> \"$1\"",
            path(
                &repo.outside(
                    "other2.toml",
                    with_subtask(
                        &repo.aiflow(&["plan", "show", "rate-limit", "--toml"]).ok(),
                        "Also from elsewhere",
                    )
                    .as_bytes(),
                )
            )
        ),
    );
    let err = repo
        .aiflow_env(
            &["plan", "edit", "rate-limit"],
            &[("GIT_EDITOR", path(&editor2))],
        )
        .fails(1);
    let second = draft.with_file_name("PLAN_EDIT-rate-limit-2.toml");
    assert_has(&err, &format!("your edit is kept in {}", second.display()));
    assert_has(
        &std::fs::read_to_string(&second).expect("second draft"),
        "Mine too",
    );
    assert_has(
        &std::fs::read_to_string(&draft).expect("first draft"),
        "title = \"Mine\"",
    );

    // Redo the first on the current revision, as the hint says; its draft is then removed.
    let current = repo.aiflow(&["plan", "show", "rate-limit", "--toml"]).ok();
    std::fs::write(&draft, with_subtask(&current, "Mine")).expect("write");
    repo.aiflow(&["plan", "edit", "rate-limit", "-F", path(&draft)])
        .ok();
    assert!(!draft.exists(), "the applied draft was left behind");
    let t = titles(&plan_json(&repo));
    for want in ["From elsewhere", "Also from elsewhere", "Mine"] {
        assert!(t.contains(&want.to_string()), "{want} missing: {t:?}");
    }
}

/// A FIFO next to the repository.
fn fifo(repo: &TestRepo, name: &str) -> PathBuf {
    let p = repo.sibling(name);
    let st = Command::new("mkfifo").arg(&p).status().expect("mkfifo");
    assert!(st.success());
    p
}

/// Open `fifo` for writing once `child` has opened it for reading (that is, after the child read
/// the flow), without hanging if the child never does.
fn writer_when_read(fifo: &Path, child: &mut Child) -> std::fs::File {
    use std::os::unix::fs::OpenOptionsExt;
    const O_NONBLOCK: i32 = 0o4000;
    let start = Instant::now();
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(O_NONBLOCK)
            .open(fifo)
        {
            Ok(f) => return f,
            Err(_) if start.elapsed() < Duration::from_secs(30) => {
                if let Some(status) = child.try_wait().expect("wait") {
                    panic!(
                        "the command ended before reading {}: {status}",
                        fifo.display()
                    );
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("the command never opened {}: {e}", fifo.display()),
        }
    }
}

fn spawn(repo: &TestRepo, args: &[&str]) -> Child {
    repo.command(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

fn finish(child: Child) -> Run {
    let out = child.wait_with_output().expect("wait");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn plan_edit_from_a_file_refuses_a_plan_that_moved_while_it_read() {
    let repo = planned();
    let current = repo.aiflow(&["plan", "show", "rate-limit", "--toml"]).ok();
    // No `based_on`: the edit is of the revision current when the command started.
    let text: String = with_subtask(&current, "Slow")
        .lines()
        .filter(|l| !l.starts_with("based_on"))
        .map(|l| format!("{l}\n"))
        .collect();
    let pipe = fifo(&repo, "plan.fifo");
    let mut slow = spawn(&repo, &["plan", "edit", "rate-limit", "-F", path(&pipe)]);
    let mut w = writer_when_read(&pipe, &mut slow);
    let quick = repo.outside("quick.toml", with_subtask(&current, "Quick").as_bytes());
    repo.aiflow(&["plan", "edit", "rate-limit", "-F", path(&quick)])
        .ok();
    w.write_all(text.as_bytes()).expect("write");
    drop(w);
    let err = finish(slow).fails(1);
    assert_has(
        &err,
        "is at revision 2, but this edit was made from revision 1",
    );
    assert_eq!(
        titles(&plan_json(&repo)).last().map(String::as_str),
        Some("Quick")
    );
}

// ---------------------------------------------------------------------------------------------
// spec edit
// ---------------------------------------------------------------------------------------------

#[test]
fn spec_edit_from_a_file_refuses_a_spec_that_changed_while_it_read() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let pipe = fifo(&repo, "spec.fifo");
    let mut slow = spawn(&repo, &["spec", "edit", "rate-limit", "-F", path(&pipe)]);
    let mut w = writer_when_read(&pipe, &mut slow);
    repo.aiflow(&["spec", "edit", "rate-limit", "-m", "Changed meanwhile."])
        .ok();
    w.write_all(b"# Rate limiting\n\nMy version.\n")
        .expect("write");
    drop(w);
    let err = finish(slow).fails(1);
    assert_has(
        &err,
        "the spec of `rate-limit` changed while you were editing it; nothing was written",
    );
    let v = repo
        .aiflow(&["spec", "show", "--json", "rate-limit"])
        .json();
    assert_eq!(v["spec"]["summary"], "Changed meanwhile.");
}

// ---------------------------------------------------------------------------------------------
// answer
// ---------------------------------------------------------------------------------------------

fn answers(repo: &TestRepo) -> Vec<Value> {
    let v = repo.aiflow(&["status", "rate-limit", "--json"]).json();
    v["questions"]["list"]
        .as_array()
        .expect("questions")
        .iter()
        .map(|q| q["answer"].clone())
        .collect()
}

#[test]
fn parallel_answers_to_different_questions_all_land() {
    let repo = with_questions();
    for round in 0..3 {
        let commands = (1..=3)
            .map(|q| {
                let mut c = repo.command(BIN);
                c.args([
                    "answer",
                    "rate-limit",
                    "--answer",
                    &format!("{q}=Round {round}, question {q}"),
                ]);
                c
            })
            .collect();
        for r in all_at_once(commands) {
            assert_eq!(r.code, 0, "{r:?}");
        }
        let got = answers(&repo);
        for q in 1..=3 {
            assert_eq!(got[q - 1], format!("Round {round}, question {q}"));
        }
    }
    repo.fsck();
}

#[test]
fn the_same_question_answered_at_once_keeps_the_later_answer() {
    let repo = with_questions();
    let commands = (0..4)
        .map(|p| {
            let mut c = repo.command(BIN);
            c.args(["answer", "rate-limit", "--answer", &format!("1=Answer {p}")]);
            c
        })
        .collect();
    for r in all_at_once(commands) {
        assert_eq!(r.code, 0, "{r:?}");
    }
    // The answer is the one the newest notes commit wrote.
    let last_written = repo.git(&["show", "refs/notes/aiflow", "--format="]);
    let final_answer = answers(&repo)[0].as_str().expect("answered").to_string();
    assert_has(&last_written, &format!("+answer = \"{final_answer}\""));
}

#[test]
fn answers_from_the_editor_change_only_what_the_user_changed() {
    let repo = with_questions();
    repo.aiflow(&["answer", "rate-limit", "--answer", "2=A"])
        .ok();

    // Someone answers question 3 while the editor is open; the user answers question 1. The
    // editor's text still has question 3 empty: that is no answer, not a removal.
    let editor = repo.script(
        "answer-1.sh",
        &format!(
            "{BIN} answer rate-limit --answer '3=Given meanwhile' >/dev/null || exit 5\n\
             sed -i '/^\\[1\\]/a First answer' \"$1\""
        ),
    );
    repo.aiflow_env(&["answer", "rate-limit"], &[("GIT_EDITOR", path(&editor))])
        .ok();
    assert_eq!(answers(&repo), ["First answer", "A", "Given meanwhile"]);

    // Someone changes answer 2 while the editor is open, and so does the user: refused, kept.
    let editor = repo.script(
        "answer-2.sh",
        &format!(
            "{BIN} answer rate-limit --answer '2=Changed meanwhile' >/dev/null || exit 5\n\
             sed -i 's/^A$/Mine/' \"$1\""
        ),
    );
    let notes = repo.rev("refs/notes/aiflow");
    let err = repo
        .aiflow_env(&["answer", "rate-limit"], &[("GIT_EDITOR", path(&editor))])
        .fails(1);
    assert_has(
        &err,
        "the answer to question 2 of `rate-limit` was changed by Ada Lovelace <ada@example.com> meanwhile; nothing was written",
    );
    assert_has(&err, "ANSWERS-rate-limit.txt");
    assert_ne!(
        repo.rev("refs/notes/aiflow"),
        notes,
        "the other answer landed"
    );
    assert_eq!(
        answers(&repo),
        ["First answer", "Changed meanwhile", "Given meanwhile"]
    );
    let draft = std::fs::canonicalize(repo.path.join(".git"))
        .expect("git dir")
        .join("aiflow/ANSWERS-rate-limit.txt");
    let kept = std::fs::read_to_string(&draft).expect("draft kept");
    assert_has(&kept, "\nMine\n");
    assert_lacks(&kept, "Changed meanwhile");
}
