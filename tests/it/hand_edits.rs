//! Hand edits that report everything at once: `plan edit` (editor and `-F`) and `answer -F`
//! collect every problem of the text in one pass, each at its line, write nothing, and keep the
//! text; they accept the spellings the model path accepts; `plan show --toml` prints exactly what
//! `plan edit` opens, so that show, edit, `edit -F` is a loop.

use crate::harness::{TestRepo, assert_has, assert_lacks};
use std::path::Path;

const NOTES: &str = "refs/notes/aiflow";

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The 1-based line of `text` holding `needle` (exactly one must).
#[track_caller]
fn line_of(text: &str, needle: &str) -> usize {
    let hits: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(hits.len(), 1, "{needle:?} on lines {hits:?} of:\n{text}");
    hits[0]
}

/// Stderr reports `file:line: …` with `says` in it.
#[track_caller]
fn assert_at(stderr: &str, file: &str, line: usize, says: &str) {
    let prefix = format!("{file}:{line}: ");
    assert!(
        stderr
            .lines()
            .any(|l| l.trim_start().starts_with(&prefix) && l.contains(says)),
        "expected `{prefix}…{says}…` in:\n{stderr}"
    );
}

/// The rate-limit flow planned as three subtasks `aaa1`, `bbb2`, `ccc3` (revision 2, a hand
/// edit), with `aaa1` started.
fn planned_and_started() -> TestRepo {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.plan_subtasks(&[("aaa1", "Bucket"), ("bbb2", "Headers"), ("ccc3", "Metrics")]);
    repo.aiflow(&["start", "aaa1"]).ok();
    repo
}

/// An edit of revision 2 of [`planned_and_started`] with mistakes of ten kinds.
const BROKEN: &str = r#"based_on = 2

[[subtask]]
id = "bbb2"
title = "Headers"
phase = "later"
depends_on = ["zzz9"]

[[subtask]]
id = "Bad Id"
title = "   "
phase = "core"
files = [
  "/etc/passwd",
  "../outside.rs",
]
titel = "typo"

[[subtask]]
id = "ccc3"
title = "Metrics"
phase = "nice to have"
status = "finished"
depends_on = ["ddd4"]

[[subtask]]
id = "ddd4"
title = "Cycle"
phase = "production"
depends_on = ["ccc3"]

[[subtask]]
id = "bbb2"
title = "Again"
"#;

#[test]
fn a_plan_edit_reports_every_problem_at_once_with_its_line_and_writes_nothing() {
    let repo = planned_and_started();
    let notes = repo.rev(NOTES);
    let refs = repo.refs();
    let file = repo.outside("p.toml", BROKEN.as_bytes());
    let f = path(&file);
    let err = repo
        .aiflow(&["plan", "edit", "rate-limit", "-F", f])
        .fails(2);
    let at = |needle: &str, says: &str| assert_at(&err, f, line_of(BROKEN, needle), says);
    at(
        "phase = \"later\"",
        "unknown phase \"later\" (expected core, nice-to-have, production)",
    );
    at("depends_on = [\"zzz9\"]", "depends on `zzz9`");
    at("id = \"Bad Id\"", "`Bad Id` is not a valid id");
    at("title = \"   \"", "the title is empty");
    at("\"/etc/passwd\"", "`/etc/passwd` is absolute");
    at("\"../outside.rs\"", "`../outside.rs` leaves the repository");
    at("titel = ", "unknown key \"titel\" (did you mean `title`?");
    at("status = \"finished\"", "unknown status \"finished\"");
    at("depends_on = [\"ddd4\"]", "the dependencies form a cycle");
    // The last entry repeats an id, and has no phase: said at its `[[subtask]]` line.
    let header = BROKEN.lines().count() - 2;
    assert_eq!(BROKEN.lines().nth(header - 1), Some("[[subtask]]"));
    assert_at(
        &err,
        f,
        header + 1,
        "the id `bbb2` is also used by subtask 1",
    );
    assert_at(&err, f, header, "subtask 5 has no `phase`");
    // The started subtask it leaves out has no line.
    assert!(
        err.lines()
            .any(|l| l.trim_start().starts_with(&format!("{f}: "))
                && l.contains("aaa1")
                && l.contains("cannot be removed")),
        "{err}"
    );
    assert_has(&err, "the edited plan is not valid (12 problems)");
    // In the order of the file.
    let lines: Vec<usize> = err
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix(&format!("{f}:")))
        .filter_map(|rest| rest.split(':').next()?.parse().ok())
        .collect();
    assert!(lines.is_sorted(), "{lines:?}\n{err}");
    assert_has(&err, "nothing was written");
    assert_eq!(repo.rev(NOTES), notes);
    assert_eq!(repo.refs(), refs);
    // The file given is kept as it was.
    assert_eq!(std::fs::read_to_string(&file).expect("read"), BROKEN);
}

#[test]
fn broken_toml_reports_its_syntax_errors_and_what_else_it_can() {
    let repo = planned_and_started();
    let notes = repo.rev(NOTES);
    let text = "based_on = 2\n\n[[subtask]]\nid = \"aaa1\"\ntitle = \"Bucket\nphase = \"core\"\n\n[[subtask]]\nid = \"bbb2\"\ntitle = \"Headers\"\nphase = \"someday\"\nfiles = [\"/abs.rs\"]\n";
    let file = repo.outside("s.toml", text.as_bytes());
    let f = path(&file);
    let err = repo
        .aiflow(&["plan", "edit", "rate-limit", "-F", f])
        .fails(2);
    assert_at(&err, f, 5, "invalid TOML");
    assert_at(&err, f, 11, "unknown phase \"someday\"");
    assert_at(&err, f, 12, "`/abs.rs` is absolute");
    assert_eq!(repo.rev(NOTES), notes);
}

#[test]
fn an_editor_session_with_problems_is_kept_as_a_draft_named_in_the_problems() {
    let repo = planned_and_started();
    let notes = repo.rev(NOTES);
    // The editor sets an unknown phase and a dependency on nothing.
    let editor = repo.script(
        "edit.sh",
        r#"sed -e 's/^phase = "core"$/phase = "eventually"/' -e 's/^depends_on = \[\]$/depends_on = ["nope"]/' "$1" > "$1.new" && mv "$1.new" "$1""#,
    );
    let err = repo
        .aiflow_env(
            &["plan", "edit", "rate-limit"],
            &[("GIT_EDITOR", path(&editor))],
        )
        .fails(2);
    assert_has(&err, "unknown phase \"eventually\"");
    assert_has(&err, "depends on `nope`");
    assert_eq!(repo.rev(NOTES), notes);
    let kept = err
        .lines()
        .filter(|l| l.starts_with("hint: your edit is kept in "))
        .find_map(|l| l.split_whitespace().nth(6))
        .unwrap_or_else(|| panic!("no draft in:\n{err}"))
        .trim_end_matches(';');
    let draft = std::fs::read_to_string(kept).expect("the draft");
    assert_has(&draft, "phase = \"eventually\"");
    // The problems name the draft, at the lines that hold what they are about.
    let at: Vec<usize> = draft
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == "phase = \"eventually\"")
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(at.len(), 3, "{draft}");
    for n in at {
        assert_at(&err, kept, n, "unknown phase \"eventually\"");
    }
}

#[test]
fn answers_from_the_editor_name_the_draft_they_are_kept_in() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.use_scripted_provider();
    repo.aiflow(&["plan", "rate-limit"]).ok();
    let notes = repo.rev(NOTES);
    let editor = repo.script(
        "answers.sh",
        r#"printf 'oops\n[1] a\nRedis\n[9] b\nx\n[1] c\nPostgres\n' > "$1""#,
    );
    let err = repo
        .aiflow_env(&["answer", "rate-limit"], &[("GIT_EDITOR", path(&editor))])
        .fails(2);
    let kept = err
        .lines()
        .filter(|l| l.starts_with("hint: your answers are kept in "))
        .find_map(|l| l.split_whitespace().nth(6))
        .unwrap_or_else(|| panic!("no draft in:\n{err}"))
        .trim_end_matches(';');
    assert_has(&err, "the answers could not be read (3 problems)");
    assert_at(&err, kept, 1, "text before the first question");
    assert_at(&err, kept, 4, "there is no question 9");
    assert_at(
        &err,
        kept,
        6,
        "question 1 is answered twice (first on line 2)",
    );
    assert_has(&std::fs::read_to_string(kept).expect("draft"), "Postgres");
    assert_eq!(repo.rev(NOTES), notes);
}

#[test]
fn the_model_paths_phase_spellings_are_accepted() {
    let repo = planned_and_started();
    let shown = repo.aiflow(&["plan", "show", "rate-limit", "--toml"]).ok();
    let spellings = ["nice to have", "Production readiness", "nice_to_have"];
    let mut edited = String::new();
    let mut n = 0;
    for l in shown.lines() {
        if l == "phase = \"core\"" && n < spellings.len() {
            edited.push_str(&format!("phase = \"{}\"\n", spellings[n]));
            n += 1;
        } else {
            edited.push_str(l);
            edited.push('\n');
        }
    }
    assert_eq!(n, 3, "{shown}");
    let file = repo.outside("phases.toml", edited.as_bytes());
    repo.aiflow(&["plan", "edit", "rate-limit", "-F", path(&file)])
        .ok();
    let plan = repo
        .aiflow(&["plan", "show", "rate-limit", "--json"])
        .json();
    let phases: Vec<&str> = plan["subtasks"]
        .as_array()
        .expect("subtasks")
        .iter()
        .map(|s| s["phase"].as_str().expect("phase"))
        .collect();
    assert_eq!(phases, ["nice-to-have", "production", "nice-to-have"]);
    // Written back in the canonical spelling.
    let again = repo.aiflow(&["plan", "show", "rate-limit", "--toml"]).ok();
    assert_has(&again, "phase = \"nice-to-have\"");
    assert_lacks(&again, "nice to have");
}

#[test]
fn show_toml_is_what_plan_edit_opens_and_a_round_trip_changes_nothing() {
    let repo = planned_and_started();
    let shown = repo.aiflow(&["plan", "show", "rate-limit", "--toml"]).ok();
    // The editor gets the same text: it copies it out, and changes nothing.
    let copy = repo.sibling("opened.toml");
    let editor = repo.script("copy.sh", &format!("cp \"$1\" '{}'", path(&copy)));
    let notes = repo.rev(NOTES);
    let out = repo
        .aiflow_env(
            &["plan", "edit", "rate-limit"],
            &[("GIT_EDITOR", path(&editor))],
        )
        .ok();
    assert_eq!(std::fs::read_to_string(&copy).expect("copied"), shown);
    assert_has(&out, "unchanged (revision 2)");
    // show --toml > p.toml; plan edit -F p.toml: nothing changes, nothing is written.
    let file = repo.outside("p.toml", shown.as_bytes());
    let out = repo
        .aiflow(&["plan", "edit", "rate-limit", "-F", path(&file)])
        .ok();
    assert_has(&out, "The plan of rate-limit is unchanged (revision 2).");
    assert_eq!(repo.rev(NOTES), notes);
    // An edit of that file is applied as a new revision, and shows as the new editable form.
    let edited = shown.replace("title = \"Metrics\"", "title = \"Prometheus metrics\"");
    let file = repo.outside("p2.toml", edited.as_bytes());
    let out = repo
        .aiflow(&["plan", "edit", "rate-limit", "-F", path(&file)])
        .ok();
    assert_has(&out, "Plan revision 3 of rate-limit");
    let now = repo.aiflow(&["plan", "show", "rate-limit", "--toml"]).ok();
    assert_eq!(
        now,
        edited
            .replace("based_on = 2", "based_on = 3")
            .replace("revision 2.", "revision 3.")
    );
}

#[test]
fn answer_file_reports_every_problem_at_once() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.use_scripted_provider();
    repo.aiflow(&["plan", "rate-limit"]).ok();
    let notes = repo.rev(NOTES);
    let text = "stray text before any question\n\n[1] Which store?\nRedis\n\n[7] No such question\nyes\n\n[2] Fallback?\nin-process\n\n[1] Which store, again?\nPostgres\n\n[0] Zero\nno\n";
    let file = repo.outside("answers.txt", text.as_bytes());
    let f = path(&file);
    let err = repo.aiflow(&["answer", "rate-limit", "-F", f]).fails(2);
    assert_at(&err, f, 1, "text before the first question");
    assert_at(
        &err,
        f,
        6,
        "there is no question 7 (the questions are 1 to 3)",
    );
    assert_at(
        &err,
        f,
        12,
        "question 1 is answered twice (first on line 3)",
    );
    assert_at(&err, f, 15, "there is no question 0");
    assert_eq!(repo.rev(NOTES), notes);
    assert_eq!(std::fs::read_to_string(&file).expect("kept"), text);
    // Fixed, it is applied.
    let good = "[1] Which store?\nRedis\n\n[2] Fallback?\nin-process\n";
    let file = repo.outside("good.txt", good.as_bytes());
    let out = repo
        .aiflow(&["answer", "rate-limit", "-F", path(&file)])
        .ok();
    assert_has(&out, "Answered 2 of 3 questions");
}
