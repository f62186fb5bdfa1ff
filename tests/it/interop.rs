//! Interoperability with git itself: notes written by git-aiflow are read by `git notes`, and notes
//! git writes (hand edits, appends, rewrites, fanouts, hand-made trees, broken notes) are read by
//! git-aiflow.

use crate::harness::TestRepo;
use serde_json::Value;

const NOTES: &str = "--ref=aiflow";

/// The anchor commit of the rate-limit flow (its branch holds only the anchor in these tests).
fn anchor(repo: &TestRepo) -> String {
    repo.rev("aiflow/rate-limit").expect("integration branch")
}

/// `git notes --ref=aiflow show <rev>`.
fn note(repo: &TestRepo, rev: &str) -> String {
    repo.git(&["notes", NOTES, "show", rev])
}

/// The raw bytes of the note on `rev`, read through git.
fn note_bytes(repo: &TestRepo, rev: &str) -> Vec<u8> {
    let blob = repo.git(&["notes", NOTES, "list", rev]);
    repo.command("git")
        .args(["cat-file", "blob", blob.trim()])
        .output()
        .expect("run git")
        .stdout
}

/// How many notes `git notes list` sees.
fn note_count(repo: &TestRepo) -> usize {
    repo.git(&["notes", NOTES, "list"]).lines().count()
}

/// The notes commit `refs/notes/aiflow` points to.
fn notes_tip(repo: &TestRepo) -> String {
    repo.rev("refs/notes/aiflow").expect("notes ref")
}

/// Assert the notes history is a single line of `n` commits, each the child of the previous tip.
#[track_caller]
fn assert_linear_notes(repo: &TestRepo, n: usize) {
    let out = repo.git(&["rev-list", "--parents", "refs/notes/aiflow"]);
    let lines: Vec<Vec<&str>> = out.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(lines.len(), n, "notes commits:\n{out}");
    for (i, l) in lines.iter().enumerate() {
        if i + 1 == lines.len() {
            assert_eq!(
                l.len(),
                1,
                "the first notes commit is a root commit:\n{out}"
            );
        } else {
            assert_eq!(l.len(), 2, "one parent per notes commit:\n{out}");
            assert_eq!(
                l[1],
                lines[i + 1][0],
                "the parent is the previous tip:\n{out}"
            );
        }
    }
}

/// Replace the note on `rev` with `content`, through `git notes add -f -F`.
fn replace_note(repo: &TestRepo, rev: &str, content: &[u8]) {
    let file = repo
        .outside("replacement-note", content)
        .display()
        .to_string();
    repo.git(&["notes", NOTES, "add", "-f", "-F", &file, rev]);
}

/// Replace the first line `key = …` of a document (top-level keys come first).
fn set_key(doc: &str, key: &str, value: &str) -> String {
    let prefix = format!("{key} = ");
    let mut done = false;
    let mut out = String::new();
    for line in doc.split_inclusive('\n') {
        if !done && line.starts_with(&prefix) {
            out.push_str(&format!("{key} = {value}\n"));
            done = true;
        } else {
            out.push_str(line);
        }
    }
    assert!(done, "no `{key}` line in:\n{doc}");
    out
}

fn status_json(repo: &TestRepo, slug: &str) -> Value {
    repo.aiflow(&["status", slug, "--json"]).json()
}

fn list_json(repo: &TestRepo) -> Value {
    repo.aiflow(&["list", "--json"]).json()
}

fn slugs(list: &Value) -> Vec<String> {
    list["flows"]
        .as_array()
        .expect("flows")
        .iter()
        .map(|f| f["slug"].as_str().expect("slug").to_string())
        .collect()
}

fn problems(list: &Value) -> Vec<Value> {
    list["problems"].as_array().expect("problems").clone()
}

/// How many documents git-aiflow's decoder finds in `text`.
fn documents(text: &str) -> usize {
    git_aiflow::flow::upgrade::decode(text.as_bytes())
        .unwrap_or_else(|e| panic!("does not decode ({e}):\n{text}"))
        .flows
        .len()
}

/// Lines of `text` that start a document.
fn schema_lines(text: &str) -> usize {
    text.lines().filter(|l| l.starts_with("schema = ")).count()
}

const NEW_SPEC: &str = "# Rate limiting, revised\n\nClients over quota get a 429 and a Retry-After header.\n\n## Core features\n\n- A token bucket per API key\n- Retry-After on every 429\n- Per-key overrides\n";

/// Replace the spec of rate-limit with `spec edit -m`; returns stdout.
fn spec_edit(repo: &TestRepo, text: &str) -> String {
    repo.aiflow(&["spec", "edit", "rate-limit", "-m", text])
        .ok()
}

// 1. What git-aiflow writes, git reads.

#[test]
fn git_reads_what_git_aiflow_writes() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let anchor = anchor(&repo);

    let text = note(&repo, "aiflow/rate-limit");
    let table: toml::Table =
        toml::from_str(&text).unwrap_or_else(|e| panic!("not TOML ({e}):\n{text}"));
    assert_eq!(table["schema"].as_integer(), Some(3), "{text}");
    assert_eq!(table["kind"].as_str(), Some("flow"), "{text}");
    assert_eq!(table["slug"].as_str(), Some("rate-limit"), "{text}");
    assert_eq!(
        table["integration_branch"].as_str(),
        Some("aiflow/rate-limit"),
        "{text}"
    );
    assert!(text.starts_with("schema = 3\n"), "{text}");
    assert_eq!(documents(&text), 1);
    // The bytes git stores are exactly what it shows.
    assert_eq!(
        String::from_utf8(note_bytes(&repo, &anchor)).expect("utf-8"),
        text
    );

    let log = repo.git(&[
        "log",
        "-1",
        "--format=%N",
        "--notes=aiflow",
        "aiflow/rate-limit",
    ]);
    assert_eq!(log.trim_end(), text.trim_end());
    // `init` set notes.displayRef to the short notes, so a plain `git log` shows the flow in a
    // few lines, and `--notes=aiflow` the document.
    let log = repo.git(&["log", "-1", "aiflow/rate-limit"]);
    assert!(
        log.contains("Notes (aiflow-log):\n    aiflow flow rate-limit: "),
        "{log}"
    );
    assert!(!log.contains("slug = "), "{log}");
    let log = repo.git(&["log", "-1", "--notes=aiflow", "aiflow/rate-limit"]);
    assert!(log.contains("    slug = \"rate-limit\""), "{log}");

    // One notes commit, a root commit, with git's reflog convention.
    assert_linear_notes(&repo, 1);
    let reflog = repo.git(&["reflog", "show", "--format=%gs", "refs/notes/aiflow"]);
    assert_eq!(
        reflog.lines().collect::<Vec<_>>(),
        ["notes: aiflow: new flow rate-limit"]
    );

    // A no-op edit (the text `spec show` prints) makes no notes commit.
    let refs = repo.refs();
    let shown = repo.aiflow(&["spec", "show", "rate-limit"]).ok();
    let out = spec_edit(&repo, &shown);
    assert!(out.contains("unchanged"), "{out}");
    let file = repo
        .outside("shown.md", shown.as_bytes())
        .display()
        .to_string();
    let out = repo
        .aiflow(&["spec", "edit", "rate-limit", "-F", &file])
        .ok();
    assert!(out.contains("unchanged"), "{out}");
    assert_eq!(repo.refs(), refs);
    assert_linear_notes(&repo, 1);

    // A real edit: one more notes commit on top of the previous tip.
    let before = notes_tip(&repo);
    let out = spec_edit(&repo, NEW_SPEC);
    assert!(out.contains("Updated the spec of rate-limit"), "{out}");
    assert_linear_notes(&repo, 2);
    assert_eq!(
        repo.git(&["rev-parse", "refs/notes/aiflow^"]).trim(),
        before
    );
    let reflog = repo.git(&["reflog", "show", "--format=%gs", "refs/notes/aiflow"]);
    assert_eq!(
        reflog.lines().collect::<Vec<_>>(),
        [
            "notes: aiflow: edit spec of rate-limit",
            "notes: aiflow: new flow rate-limit"
        ]
    );
    let text = note(&repo, &anchor);
    let table: toml::Table = toml::from_str(&text).expect("TOML");
    assert_eq!(
        table["title"].as_str(),
        Some("Rate limiting, revised"),
        "{text}"
    );
    assert_eq!(note_count(&repo), 1);
    assert_eq!(
        anchor,
        self::anchor(&repo),
        "editing a spec does not move the branch"
    );

    // The same text again is a no-op once more.
    let shown = repo.aiflow(&["spec", "show", "rate-limit"]).ok();
    let out = spec_edit(&repo, &shown);
    assert!(out.contains("unchanged"), "{out}");
    assert_linear_notes(&repo, 2);
    repo.fsck();
}

// 2. Hand edits with git survive.

#[test]
fn hand_edits_with_git_notes_are_read_and_kept() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let anchor = anchor(&repo);

    // `git notes edit` through an editor.
    repo.git_env(
        &["notes", NOTES, "edit", &anchor],
        &[(
            "GIT_EDITOR",
            "sed -i 's/^title = .*/title = \"Edited by hand\"/'",
        )],
    );
    assert!(note(&repo, &anchor).contains("title = \"Edited by hand\"\n"));
    let status = status_json(&repo, "rate-limit");
    assert_eq!(status["title"], "Edited by hand");
    assert_eq!(status["documents"], 1);
    let list = list_json(&repo);
    assert_eq!(list["flows"][0]["title"], "Edited by hand");
    assert_eq!(problems(&list), Vec::<Value>::new());

    // `git notes add -f -F` with a modified document.
    let doc = note(&repo, &anchor);
    let doc = set_key(&doc, "title", "\"Replaced with git notes add\"");
    let doc = doc.replace(
        "    \"Prometheus for metrics\",\n",
        "    \"Prometheus for metrics\",\n    \"Grafana dashboards\",\n",
    );
    replace_note(&repo, &anchor, doc.as_bytes());
    let status = status_json(&repo, "rate-limit");
    assert_eq!(status["title"], "Replaced with git notes add");
    let stack = status["spec"]["stack"].as_array().expect("stack");
    assert_eq!(stack.last().expect("stack item"), "Grafana dashboards");
    let shown = repo.aiflow(&["spec", "show", "rate-limit"]).ok();
    assert!(
        shown.starts_with("# Replaced with git notes add\n"),
        "{shown}"
    );
    assert!(shown.contains("Grafana dashboards"), "{shown}");

    // git-aiflow writes on top of the hand-made notes, and git reads the result.
    let created_at = status["created_at"].clone();
    let out = spec_edit(&repo, NEW_SPEC);
    assert!(out.contains("Updated the spec of rate-limit"), "{out}");
    let text = note(&repo, &anchor);
    let table: toml::Table = toml::from_str(&text).expect("TOML");
    assert_eq!(
        table["title"].as_str(),
        Some("Rate limiting, revised"),
        "{text}"
    );
    assert!(!text.contains("Grafana"), "the spec was replaced:\n{text}");
    assert!(text.contains("Clients over quota get a 429"), "{text}");
    assert_eq!(table["created_at"].as_str(), created_at.as_str());
    assert_eq!(documents(&text), 1);
    let status = status_json(&repo, "rate-limit");
    assert_eq!(status["title"], "Rate limiting, revised");
    assert_ne!(status["updated_at"], status["created_at"]);
    // new, edit, add -f, spec edit: four commits in one line.
    assert_linear_notes(&repo, 4);
    assert_eq!(note_count(&repo), 1);
    repo.fsck();
}

// 3. Concatenated documents.

#[test]
fn appended_documents_are_read_and_collapsed_by_the_next_write() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let anchor = anchor(&repo);
    let original = note(&repo, &anchor);

    // An older copy appended: the original stays in use.
    let older = set_key(&original, "title", "\"An older copy\"");
    let older = set_key(&older, "updated_at", "\"2025-06-01T00:00:00+00:00\"");
    let file = repo
        .outside("older.toml", older.as_bytes())
        .display()
        .to_string();
    repo.git(&["notes", NOTES, "append", "-F", &file, &anchor]);
    let text = note(&repo, &anchor);
    assert_eq!(schema_lines(&text), 2, "{text}");
    assert_eq!(documents(&text), 2);
    let status = status_json(&repo, "rate-limit");
    assert_eq!(status["title"], "Rate limiting for the public API");
    assert_eq!(status["documents"], 2);
    let human = repo.aiflow(&["status", "rate-limit"]).ok();
    assert!(human.contains("held 2 concatenated documents"), "{human}");
    let list = list_json(&repo);
    assert_eq!(slugs(&list), ["rate-limit"]);
    assert_eq!(problems(&list), Vec::<Value>::new());

    // The next write collapses the note to one document.
    spec_edit(&repo, NEW_SPEC);
    let text = note(&repo, &anchor);
    assert_eq!(schema_lines(&text), 1, "{text}");
    assert_eq!(documents(&text), 1);
    let status = status_json(&repo, "rate-limit");
    assert_eq!(status["documents"], 1);
    assert_eq!(status["title"], "Rate limiting, revised");

    // A newer copy appended: it is the one in use.
    let current = note(&repo, &anchor);
    let newer = set_key(&current, "title", "\"A newer copy\"");
    let newer = set_key(&newer, "updated_at", "\"2030-01-01T00:00:00+00:00\"");
    let file = repo
        .outside("newer.toml", newer.as_bytes())
        .display()
        .to_string();
    repo.git(&["notes", NOTES, "append", "-F", &file, &anchor]);
    let status = status_json(&repo, "rate-limit");
    assert_eq!(status["title"], "A newer copy");
    assert_eq!(status["documents"], 2);

    // Even an edit that keeps the spec as it is collapses the note.
    let shown = repo.aiflow(&["spec", "show", "rate-limit"]).ok();
    assert!(shown.starts_with("# A newer copy\n"), "{shown}");
    spec_edit(&repo, &shown);
    let text = note(&repo, &anchor);
    assert_eq!(schema_lines(&text), 1, "{text}");
    let status = status_json(&repo, "rate-limit");
    assert_eq!(status["documents"], 1);
    assert_eq!(status["title"], "A newer copy");
    assert_eq!(note_count(&repo), 1);
    repo.fsck();
}

#[test]
fn squashing_noted_commits_concatenates_their_notes() {
    let repo = TestRepo::new();
    repo.new_rate_limit(); // `init` set notes.rewriteRef, and rewriteMode defaults to concatenate
    let first = anchor(&repo);
    let original = note(&repo, &first);

    // A second noted commit on the integration branch, holding a newer copy of the flow.
    repo.git(&["checkout", "-q", "aiflow/rate-limit"]);
    repo.write("limiter.txt", "bucket\n");
    repo.git(&["add", "limiter.txt"]);
    repo.git(&["commit", "-q", "-m", "Add the limiter"]);
    let second = repo.rev("HEAD").expect("HEAD");
    let newer = set_key(&original, "title", "\"Squashed in\"");
    let newer = set_key(&newer, "updated_at", "\"2030-01-01T00:00:00+00:00\"");
    let file = repo
        .outside("newer.toml", newer.as_bytes())
        .display()
        .to_string();
    repo.git(&["notes", NOTES, "add", "-F", &file, &second]);

    // Squash the second commit into the anchor; git concatenates the two notes on the result.
    repo.git_env(
        &["rebase", "-q", "-i", "main"],
        &[("GIT_SEQUENCE_EDITOR", "sed -i '2s/^pick/fixup/'")],
    );
    let squashed = anchor(&repo);
    assert_ne!(squashed, first);
    assert_eq!(
        repo.git(&["rev-parse", "aiflow/rate-limit^"]).trim(),
        repo.rev("main").expect("main")
    );
    let text = note(&repo, &squashed);
    assert_eq!(
        schema_lines(&text),
        2,
        "git concatenated the notes:\n{text}"
    );
    // The notes on the old commits are now stale copies; remove them as a user would.
    repo.git(&["notes", NOTES, "remove", &first, &second]);

    let status = status_json(&repo, "rate-limit");
    assert_eq!(status["anchor"], squashed.as_str());
    assert_eq!(status["documents"], 2);
    assert_eq!(status["title"], "Squashed in");
    assert_eq!(problems(&list_json(&repo)), Vec::<Value>::new());

    spec_edit(&repo, NEW_SPEC);
    let text = note(&repo, &squashed);
    assert_eq!(schema_lines(&text), 1, "{text}");
    assert_eq!(status_json(&repo, "rate-limit")["documents"], 1);
    repo.fsck();
}

// 4. Fanout made by git.

#[test]
fn notes_at_the_fanout_git_chooses_are_read_and_written() {
    const OTHERS: usize = 3000;
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let anchor = anchor(&repo);

    // Thousands of blobs (written in one pack by fast-import), one noted with another document of
    // ours, the note copied to all the others.
    let mut stream = String::new();
    for i in 0..OTHERS {
        let content = format!("blob {i}\n");
        stream.push_str(&format!(
            "blob\nmark :{}\ndata {}\n{content}\n",
            i + 1,
            content.len()
        ));
    }
    let marks = repo.sibling("marks");
    let marks_arg = format!("--export-marks={}", marks.to_str().expect("utf-8 path"));
    repo.git_stdin(&["fast-import", "--quiet", &marks_arg], &stream);
    let marks = std::fs::read_to_string(&marks).expect("marks");
    let ids: Vec<&str> = marks
        .lines()
        .map(|l| l.split_once(' ').expect("mark line").1)
        .collect();
    assert_eq!(ids.len(), OTHERS);
    let other = repo
        .outside("other.toml", b"schema = 1\nkind = \"other\"\n")
        .display()
        .to_string();
    repo.git(&["notes", NOTES, "add", "-F", &other, ids[0]]);
    let pairs: String = ids[1..]
        .iter()
        .map(|id| format!("{} {id}\n", ids[0]))
        .collect();
    repo.git_stdin(&["notes", NOTES, "copy", "--stdin"], &pairs);
    assert_eq!(note_count(&repo), OTHERS + 1);
    assert_linear_notes(&repo, 3); // new, add, one copy for all

    // git moved to fanout 1: only 2-hex-digit subtrees at the top.
    let top = repo.git(&["ls-tree", "refs/notes/aiflow"]);
    assert!(top.lines().count() > 1, "{top}");
    for line in top.lines() {
        let (meta, name) = line.split_once('\t').expect("ls-tree line");
        assert!(meta.starts_with("040000 tree "), "not fanout 1: {line}");
        assert_eq!(name.len(), 2, "not fanout 1: {line}");
    }
    let fanned = format!("{}/{}", &anchor[..2], &anchor[2..]);
    let paths = repo.git(&["ls-tree", "-r", "--name-only", "refs/notes/aiflow"]);
    assert!(
        paths.lines().any(|p| p == fanned),
        "the flow note is not at {fanned}"
    );

    let status = status_json(&repo, "rate-limit");
    assert_eq!(status["anchor"], anchor.as_str());
    let list = list_json(&repo);
    assert_eq!(slugs(&list), ["rate-limit"]);
    assert_eq!(problems(&list), Vec::<Value>::new());
    let out = repo.aiflow(&["list"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("rate-limit "), "{}", out.stdout);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);

    let out = spec_edit(&repo, NEW_SPEC);
    assert!(out.contains("Updated the spec of rate-limit"), "{out}");
    let text = note(&repo, "aiflow/rate-limit");
    assert!(
        text.contains("title = \"Rate limiting, revised\"\n"),
        "{text}"
    );
    assert_eq!(
        note_count(&repo),
        OTHERS + 1,
        "the edit neither adds nor drops notes"
    );
    assert_linear_notes(&repo, 4);
    let paths = repo.git(&["ls-tree", "-r", "--name-only", "refs/notes/aiflow"]);
    assert!(
        paths.lines().any(|p| p == fanned),
        "the flow note moved from {fanned}"
    );
    assert_eq!(paths.lines().count(), OTHERS + 1);
    // The other notes are untouched.
    assert_eq!(
        note(&repo, ids[OTHERS - 1]),
        "schema = 1\nkind = \"other\"\n"
    );
    repo.fsck();
}

// 5. A mixed fanout made by hand.

/// Commit `tree` as the next notes commit, as a third-party writer would.
fn commit_notes_tree(repo: &TestRepo, tree: &str, message: &str) {
    let old = notes_tip(repo);
    let commit = repo.git(&["commit-tree", tree, "-p", &old, "-m", message]);
    repo.git(&["update-ref", "refs/notes/aiflow", commit.trim(), &old]);
}

/// Notes on two fresh blobs holding another document of ours.
fn add_other_notes(repo: &TestRepo) -> Vec<String> {
    let other = repo
        .outside("other.toml", b"schema = 1\nkind = \"other\"\n")
        .display()
        .to_string();
    ["first other object\n", "second other object\n"]
        .iter()
        .map(|content| {
            let id = repo.git_stdin(&["hash-object", "-w", "--stdin"], content);
            let id = id.trim().to_string();
            repo.git(&["notes", NOTES, "add", "-F", &other, &id]);
            id
        })
        .collect()
}

#[test]
fn a_hand_made_mixed_fanout_is_read_and_written() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let anchor = anchor(&repo);
    let others = add_other_notes(&repo);
    let deep = &others[1];
    assert_ne!(
        deep[..2],
        anchor[..2],
        "the test needs distinct top-level directories"
    );
    let text = note(&repo, &anchor);
    let note_blob = |obj: &str| repo.git(&["notes", NOTES, "list", obj]).trim().to_string();
    let flow_blob = note_blob(&anchor);
    let deep_blob = note_blob(deep);
    let mktree = |entries: &str| repo.git_stdin(&["mktree"], entries).trim().to_string();

    // The flow note at <2>/<38>, one other note at <2>/<2>/<36>, one at fanout 0, and entries
    // that are not notes (git keeps those).
    let flow_sub = mktree(&format!("100644 blob {flow_blob}\t{}\n", &anchor[2..]));
    let deep_leaf = mktree(&format!("100644 blob {deep_blob}\t{}\n", &deep[4..]));
    let deep_sub = mktree(&format!("040000 tree {deep_leaf}\t{}\n", &deep[2..4]));
    let readme = repo.git_stdin(&["hash-object", "-w", "--stdin"], "not a note\n");
    let readme = readme.trim();
    let docs = mktree(&format!("100644 blob {readme}\tinner.txt\n"));
    let mut entries: String = repo
        .git(&["ls-tree", "refs/notes/aiflow"])
        .lines()
        .filter(|l| !l.ends_with(anchor.as_str()) && !l.ends_with(deep.as_str()))
        .map(|l| format!("{l}\n"))
        .collect();
    entries.push_str(&format!("040000 tree {flow_sub}\t{}\n", &anchor[..2]));
    entries.push_str(&format!("040000 tree {deep_sub}\t{}\n", &deep[..2]));
    entries.push_str(&format!("100644 blob {readme}\tREADME-not-a-note\n"));
    entries.push_str(&format!("040000 tree {docs}\tdocs\n"));
    let tree = mktree(&entries);
    commit_notes_tree(&repo, &tree, "Notes moved by hand");
    let flow_path = format!("{}/{}", &anchor[..2], &anchor[2..]);
    let deep_path = format!("{}/{}/{}", &deep[..2], &deep[2..4], &deep[4..]);
    let paths = repo.git(&["ls-tree", "-r", "--name-only", "refs/notes/aiflow"]);
    for p in [
        &flow_path,
        &deep_path,
        &others[0],
        "README-not-a-note",
        "docs/inner.txt",
    ] {
        assert!(paths.lines().any(|l| l == p), "no {p} in:\n{paths}");
    }

    // git reads it, and so does git-aiflow.
    assert_eq!(note(&repo, &anchor), text);
    assert_eq!(note_count(&repo), 3);
    let status = status_json(&repo, "rate-limit");
    assert_eq!(status["anchor"], anchor.as_str());
    assert_eq!(status["title"], "Rate limiting for the public API");
    assert_eq!(status["documents"], 1);
    let list = list_json(&repo);
    assert_eq!(slugs(&list), ["rate-limit"]);
    assert_eq!(problems(&list), Vec::<Value>::new());

    // A write on top of it is read back by git, and keeps every other entry.
    spec_edit(&repo, NEW_SPEC);
    let text = note(&repo, &anchor);
    assert!(
        text.contains("title = \"Rate limiting, revised\"\n"),
        "{text}"
    );
    assert_eq!(note_count(&repo), 3);
    for o in &others {
        assert_eq!(note(&repo, o), "schema = 1\nkind = \"other\"\n");
    }
    let paths = repo.git(&["ls-tree", "-r", "--name-only", "refs/notes/aiflow"]);
    for p in ["README-not-a-note", "docs/inner.txt"] {
        assert!(paths.lines().any(|l| l == p), "{p} was dropped:\n{paths}");
    }
    assert_eq!(
        repo.git(&["cat-file", "blob", "refs/notes/aiflow:docs/inner.txt"]),
        "not a note\n"
    );
    assert_eq!(status_json(&repo, "rate-limit")["anchor"], anchor.as_str());
    assert_eq!(problems_of(&repo), Vec::<Value>::new());
    repo.fsck();
}

// 6. The same object noted at two fanouts.

#[test]
fn duplicate_fanout_is_read_refused_for_writes_and_repaired_by_the_hint() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let anchor = anchor(&repo);
    add_other_notes(&repo);
    let original = note(&repo, &anchor);

    // A second note for the anchor at <2>/<38>, next to the one at <40>.
    let copy = set_key(&original, "title", "\"The copy at fanout 1\"");
    let copy = set_key(&copy, "updated_at", "\"2025-06-01T00:00:00+00:00\"");
    let blob = repo.git_stdin(&["hash-object", "-w", "--stdin"], &copy);
    let sub = repo.git_stdin(
        &["mktree"],
        &format!("100644 blob {}\t{}\n", blob.trim(), &anchor[2..]),
    );
    let mut entries = repo.git(&["ls-tree", "refs/notes/aiflow"]);
    entries.push_str(&format!("040000 tree {}\t{}\n", sub.trim(), &anchor[..2]));
    let tree = repo.git_stdin(&["mktree"], &entries);
    commit_notes_tree(&repo, tree.trim(), "Two fanouts");
    let paths = repo.git(&["ls-tree", "-r", "--name-only", "refs/notes/aiflow"]);
    assert!(paths.lines().any(|p| p == anchor), "{paths}");
    assert!(
        paths
            .lines()
            .any(|p| p == format!("{}/{}", &anchor[..2], &anchor[2..])),
        "{paths}"
    );

    // git concatenates the two notes on read.
    let text = note(&repo, &anchor);
    assert!(
        text.contains("title = \"Rate limiting for the public API\""),
        "{text}"
    );
    assert!(text.contains("title = \"The copy at fanout 1\""), "{text}");

    // Reading works: the newer document is used, and the duplicate is reported.
    let status = status_json(&repo, "rate-limit");
    assert_eq!(status["title"], "Rate limiting for the public API");
    assert_eq!(status["documents"], 2);
    let hint = format!("git notes --ref=aiflow copy -f {anchor} {anchor}");
    let list = list_json(&repo);
    assert_eq!(slugs(&list), ["rate-limit"]);
    let problems = problems(&list);
    assert_eq!(problems.len(), 1, "{problems:?}");
    let p = &problems[0];
    assert_eq!(p["object"], anchor.as_str());
    assert_eq!(p["slug"], "rate-limit");
    assert!(
        p["error"].as_str().expect("error").contains("two fanouts"),
        "{p}"
    );
    assert!(p["hint"].as_str().expect("hint").contains(&hint), "{p}");
    let out = repo.aiflow(&["list"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("rate-limit "), "{}", out.stdout);
    assert!(
        out.stderr.contains("two fanouts") && out.stderr.contains(&hint),
        "{}",
        out.stderr
    );

    // Writing is refused, with the repair command, and changes nothing.
    let refs = repo.refs();
    let err = repo
        .aiflow(&["spec", "edit", "rate-limit", "-m", NEW_SPEC])
        .fails(1);
    assert!(err.contains(&anchor), "{err}");
    assert!(
        err.contains(&format!("hint: let git merge the two notes with `{hint}`")),
        "{err}"
    );
    assert_eq!(repo.refs(), refs);

    // Running exactly the hint repairs the tree.
    let command = err
        .lines()
        .find_map(|l| l.strip_prefix("hint: let git merge the two notes with `"))
        .and_then(|l| l.strip_suffix('`'))
        .expect("hint line");
    let args: Vec<&str> = command.split(' ').collect();
    assert_eq!(args[0], "git");
    repo.git(&args[1..]);
    let paths = repo.git(&["ls-tree", "-r", "--name-only", "refs/notes/aiflow"]);
    let noted: Vec<&str> = paths
        .lines()
        .filter(|p| p.replace('/', "") == anchor)
        .collect();
    assert_eq!(noted.len(), 1, "{paths}");
    assert_eq!(problems_of(&repo), Vec::<Value>::new());
    assert_eq!(status_json(&repo, "rate-limit")["documents"], 2);

    let out = spec_edit(&repo, NEW_SPEC);
    assert!(out.contains("Updated the spec of rate-limit"), "{out}");
    let text = note(&repo, &anchor);
    assert_eq!(schema_lines(&text), 1, "{text}");
    assert!(
        text.contains("title = \"Rate limiting, revised\"\n"),
        "{text}"
    );
    assert_eq!(status_json(&repo, "rate-limit")["documents"], 1);
    repo.fsck();
}

fn problems_of(repo: &TestRepo) -> Vec<Value> {
    problems(&list_json(repo))
}

// 7. A corrupt note never blocks the other flows.

/// Break rate-limit's note with `corrupt` and check every reader copes; `error` and `hint` are
/// expected in the problem's error and hint.
fn check_broken_note(corrupt: impl Fn(&str) -> Vec<u8>, error: &str, hint: &str) {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.aiflow(&["new", "other", "-m", "Other summary."]).ok();
    let anchor = anchor(&repo);
    let broken = corrupt(&note(&repo, &anchor));
    replace_note(&repo, &anchor, &broken);
    let hint = hint.replace("<id>", &anchor);

    // `list` shows the other flow and warns about the broken note.
    let out = repo.aiflow(&["list"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.lines().any(|l| l.starts_with("other ")),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.lines().any(|l| l.starts_with("rate-limit ")),
        "{}",
        out.stdout
    );
    let warning = out
        .stderr
        .lines()
        .find(|l| l.starts_with("warning:") && l.contains(&anchor))
        .unwrap_or_else(|| panic!("no warning naming {anchor}:\n{}", out.stderr));
    assert!(warning.contains("rate-limit"), "{warning}");
    // The error may span several lines (TOML diagnostics quote the line at fault).
    assert!(out.stderr.contains(error), "{}", out.stderr);
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with("hint:") && l.contains(&hint)),
        "no hint `{hint}`:\n{}",
        out.stderr
    );

    let list = list_json(&repo);
    assert_eq!(slugs(&list), ["other"]);
    let problems = problems(&list);
    assert_eq!(problems.len(), 1, "{problems:?}");
    let p = &problems[0];
    assert_eq!(p["object"], anchor.as_str(), "{p}");
    assert_eq!(p["slug"], "rate-limit", "{p}");
    assert!(p["error"].as_str().expect("error").contains(error), "{p}");
    assert!(p["hint"].as_str().expect("hint").contains(&hint), "{p}");

    // The broken flow is refused by name; the other one is fine.
    let err = repo.aiflow(&["status", "rate-limit"]).fails(1);
    assert!(err.contains("rate-limit") && err.contains(&anchor), "{err}");
    assert!(err.contains(error), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("hint:") && l.contains(&hint)),
        "{err}"
    );
    repo.aiflow(&["status", "rate-limit", "--json"]).fails(1);
    let out = repo.aiflow(&["status", "other"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("Flow other: "), "{}", out.stdout);
    assert!(
        !out.stderr.contains(&anchor),
        "status of another flow warns about rate-limit:\n{}",
        out.stderr
    );
    assert_eq!(status_json(&repo, "other")["slug"], "other");

    // Writes to the broken flow are refused too, and change nothing.
    let refs = repo.refs();
    repo.aiflow(&["spec", "edit", "rate-limit", "-m", NEW_SPEC])
        .fails(1);
    assert_eq!(repo.refs(), refs);
    // git still reads the note as it was written.
    assert_eq!(note_bytes(&repo, &anchor), broken);
}

const EDIT_HINT: &str = "git notes --ref=aiflow edit <id>";

#[test]
fn a_note_that_is_not_toml_is_reported() {
    check_broken_note(
        |doc| set_key(doc, "title", "[unclosed").into_bytes(),
        "not valid TOML",
        EDIT_HINT,
    );
}

#[test]
fn a_note_with_an_unknown_schema_is_reported() {
    check_broken_note(
        |doc| set_key(doc, "schema", "99").into_bytes(),
        "schema 99",
        "upgrade git-aiflow",
    );
}

#[test]
fn a_note_with_an_invalid_value_is_reported() {
    check_broken_note(
        |doc| set_key(doc, "created_at", "\"yesterday\"").into_bytes(),
        "created_at",
        EDIT_HINT,
    );
}

/// A note whose slug is invalid still belongs to the flow whose anchor holds it: `status` must
/// name the note and the repair instead of claiming the flow does not exist.
#[test]
fn a_note_with_an_invalid_slug_is_reported_for_its_flow() {
    check_broken_note(
        |doc| set_key(doc, "slug", "\"a..b\"").into_bytes(),
        "`slug`",
        EDIT_HINT,
    );
}

#[test]
fn a_note_missing_a_key_is_reported() {
    check_broken_note(
        |doc| doc.replace("\ntitle = ", "\ntitel = ").into_bytes(),
        "`title`",
        EDIT_HINT,
    );
}

/// A note written by a newer git-aiflow (same schema, keys this build does not know, at the top
/// and inside tables) is read, and every write this build makes keeps those keys as they were:
/// two clones on different versions can share a flow.
#[test]
fn keys_from_a_newer_version_survive_every_write() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let anchor = anchor(&repo);
    let mut doc: toml::Table = toml::from_str(&note(&repo, &anchor)).expect("TOML");
    doc.insert("owner_team".into(), toml::Value::String("payments".into()));
    let mut nested = toml::Table::new();
    nested.insert("tickets".into(), toml::Value::Array(vec!["PAY-1".into()]));
    doc.insert("tracker".into(), toml::Value::Table(nested));
    doc["spec"]
        .as_table_mut()
        .expect("spec")
        .insert("non_goals".into(), toml::Value::Array(vec!["SSO".into()]));
    replace_note(
        &repo,
        &anchor,
        toml::to_string(&doc).expect("TOML").as_bytes(),
    );
    let kept = |what: &str| {
        let now: toml::Table = toml::from_str(&note(&repo, &anchor)).expect("TOML");
        assert_eq!(now["owner_team"], doc["owner_team"], "after {what}");
        assert_eq!(now["tracker"], doc["tracker"], "after {what}");
        assert_eq!(
            now["spec"]["non_goals"], doc["spec"]["non_goals"],
            "after {what}"
        );
        now
    };
    assert_eq!(
        status_json(&repo, "rate-limit")["title"],
        "Rate limiting for the public API"
    );
    repo.plan_subtasks(&[("a1", "Limiter")]);
    kept("plan and plan edit");
    repo.aiflow(&["start", "a1"]).ok();
    repo.write("limiter.rs", "limit\n");
    repo.aiflow(&["step", "-m", "Limiter"]).ok();
    repo.aiflow(&["ready", "a1"]).ok();
    spec_edit(&repo, NEW_SPEC);
    let now = kept("start, step, ready and spec edit");
    assert_eq!(documents(&toml::to_string(&now).expect("TOML")), 1);
    repo.fsck();
}

#[test]
fn a_note_that_is_not_utf8_is_reported() {
    check_broken_note(
        |doc| {
            let doc = set_key(doc, "title", "\"Rate @@ limiting\"");
            let mut bytes = Vec::new();
            let (head, tail) = doc.split_once("@@").expect("marker");
            bytes.extend_from_slice(head.as_bytes());
            bytes.extend_from_slice(b"\xff\xfe");
            bytes.extend_from_slice(tail.as_bytes());
            bytes
        },
        "UTF-8",
        EDIT_HINT,
    );
}

// 8. Stale copies of a flow on other objects.

/// `init` sets notes.rewriteRef, so rebasing the integration branch onto a newer base copies the
/// flow note, unchanged, to the new anchor; the note on the old anchor stays behind. The flow is on
/// its branch's anchor, whatever the object ids; the old note is the stale copy.
#[test]
fn a_rebased_flow_is_read_from_its_new_anchor() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let old = anchor(&repo);
    let mut olds = vec![old.clone()];
    // Rebase until a stale copy sorts before the current anchor (a tie on `updated_at`
    // must not be broken by object id order).
    let mut current = old.clone();
    for i in 0..20 {
        repo.write("main.txt", &format!("main {i}\n"));
        repo.git(&["add", "main.txt"]);
        repo.git(&["commit", "-q", "-m", &format!("Main {i}")]);
        repo.git(&["rebase", "-q", "main", "aiflow/rate-limit"]);
        repo.git(&["checkout", "-q", "main"]);
        current = anchor(&repo);
        assert_eq!(
            note(&repo, &current),
            note(&repo, &old),
            "git copied the note"
        );
        if olds.iter().any(|o| *o < current) {
            break;
        }
        olds.push(current.clone());
    }
    assert!(
        olds.iter().any(|o| *o < current),
        "no stale copy sorts first"
    );
    assert_eq!(
        repo.git(&["rev-parse", "aiflow/rate-limit^"]).trim(),
        repo.rev("main").expect("main")
    );

    let status = status_json(&repo, "rate-limit");
    assert_eq!(
        status["anchor"],
        current.as_str(),
        "the flow is read from the branch's anchor"
    );
    assert_eq!(status["integration_commits"], 0);
    let list = list_json(&repo);
    assert_eq!(slugs(&list), ["rate-limit"]);
    assert_eq!(list["flows"][0]["anchor"], current.as_str());
    let problems = problems(&list);
    assert_eq!(problems.len(), olds.len(), "{problems:?}");
    for p in &problems {
        let object = p["object"].as_str().expect("object");
        assert!(olds.iter().any(|o| o == object), "{p}");
        assert!(
            p["error"].as_str().expect("error").contains("stale copy"),
            "{p}"
        );
        assert!(!p["hint"].as_str().expect("hint").contains(&current), "{p}");
    }

    // A write goes to the note on the current anchor.
    spec_edit(&repo, NEW_SPEC);
    let text = note(&repo, "aiflow/rate-limit");
    assert!(
        text.contains("title = \"Rate limiting, revised\"\n"),
        "{text}"
    );
    for o in &olds {
        assert!(
            !note(&repo, o).contains("Rate limiting, revised"),
            "written on {o}"
        );
    }
}

#[test]
fn a_stale_copy_is_reported_with_a_hint_to_remove_it() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    let anchor = anchor(&repo);
    let main = repo.rev("main").expect("main");
    repo.git(&["notes", NOTES, "copy", &anchor, &main]);
    repo.git_env(
        &["notes", NOTES, "edit", &main],
        &[(
            "GIT_EDITOR",
            "sed -i 's/^updated_at = .*/updated_at = \"2025-06-01T00:00:00+00:00\"/'",
        )],
    );
    assert!(note(&repo, &main).contains("updated_at = \"2025-06-01T00:00:00+00:00\"\n"));

    let list = list_json(&repo);
    assert_eq!(slugs(&list), ["rate-limit"]);
    assert_eq!(list["flows"][0]["anchor"], anchor.as_str());
    let problems = problems(&list);
    assert_eq!(problems.len(), 1, "{problems:?}");
    let p = &problems[0];
    assert_eq!(p["object"], main.as_str(), "{p}");
    assert_eq!(p["slug"], "rate-limit", "{p}");
    let error = p["error"].as_str().expect("error");
    assert!(
        error.contains("stale copy") && error.contains(&anchor),
        "{p}"
    );
    let hint = format!("git notes --ref=aiflow remove {main}");
    assert!(p["hint"].as_str().expect("hint").contains(&hint), "{p}");
    let out = repo.aiflow(&["list"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    assert!(
        out.stderr.contains(&main) && out.stderr.contains(&hint),
        "{}",
        out.stderr
    );

    // The flow itself reads and writes normally.
    assert_eq!(status_json(&repo, "rate-limit")["anchor"], anchor.as_str());
    spec_edit(&repo, NEW_SPEC);
    assert!(note(&repo, &anchor).contains("title = \"Rate limiting, revised\"\n"));

    // Following the hint removes the problem.
    repo.git(&["notes", NOTES, "remove", &main]);
    assert_eq!(problems_of(&repo), Vec::<Value>::new());
    assert_eq!(slugs(&list_json(&repo)), ["rate-limit"]);
    repo.fsck();
}

// 8. The summary cache (`.git/aiflow/flows.cache`) never makes output wrong.

/// `list` and `status` keep summaries of notes in `.git/aiflow/flows.cache`; every way a note
/// changes behind the cache's back (a hand edit with `git notes add -f`, a note broken by hand,
/// the notes ref moved to another commit as a fetch or a sync moves it, a damaged or foreign cache
/// file) is seen by the next command, which gives what a run with no cache at all gives.
#[test]
fn the_flow_cache_sees_notes_changed_behind_its_back() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.aiflow(&["new", "other", "-m", "Other summary."]).ok();
    let anchor = anchor(&repo);
    let cache = repo.path.join(".git/aiflow/flows.cache");
    // The same output as with no cache file: `list`, `list --json`, `status` and its JSON.
    let fresh = |repo: &TestRepo| {
        let _ = std::fs::remove_file(&cache);
        let out = (
            repo.aiflow(&["list"]),
            list_json(repo),
            repo.aiflow(&["status", "rate-limit"]),
        );
        assert!(cache.is_file(), "list writes the cache");
        out
    };
    let cached = |repo: &TestRepo| {
        assert!(cache.is_file());
        (
            repo.aiflow(&["list"]),
            list_json(repo),
            repo.aiflow(&["status", "rate-limit"]),
        )
    };
    let same = |a: &(crate::harness::Run, Value, crate::harness::Run),
                b: &(crate::harness::Run, Value, crate::harness::Run)| {
        assert_eq!(
            (&a.0.stdout, &a.0.stderr, a.0.code),
            (&b.0.stdout, &b.0.stderr, b.0.code)
        );
        assert_eq!(a.1, b.1);
        assert_eq!(
            (&a.2.stdout, &a.2.stderr, a.2.code),
            (&b.2.stdout, &b.2.stderr, b.2.code)
        );
    };
    let first = fresh(&repo);
    assert!(
        first.0.stdout.contains("Rate limiting"),
        "{}",
        first.0.stdout
    );
    // The file holds no text from the notes: titles are read from the notes when printed.
    let text = std::fs::read_to_string(&cache).expect("cache");
    assert!(!text.contains("Rate limiting"), "{text}");
    same(&first, &cached(&repo));
    let tip_before = notes_tip(&repo);

    // A hand edit with git: the new title shows at once, in list and in status.
    let edited = set_key(&note(&repo, &anchor), "title", "\"Edited by hand\"");
    replace_note(&repo, &anchor, edited.as_bytes());
    let after = cached(&repo);
    assert!(
        after.0.stdout.contains("Edited by hand"),
        "{}",
        after.0.stdout
    );
    assert!(
        !after.0.stdout.contains("Rate limiting"),
        "{}",
        after.0.stdout
    );
    assert!(
        after.2.stdout.contains("Edited by hand"),
        "{}",
        after.2.stdout
    );
    same(&after, &fresh(&repo));

    // A note broken by hand is reported, by list and by status, cache or not.
    replace_note(&repo, &anchor, b"not a document at all\n");
    let broken = cached(&repo);
    assert_eq!(slugs(&broken.1), ["other"]);
    assert_eq!(problems(&broken.1).len(), 1, "{:#}", broken.1);
    assert_eq!(broken.2.code, 1, "{:?}", broken.2);
    same(&broken, &fresh(&repo));
    // And again from a cache that was written with the broken note in it.
    same(&broken, &cached(&repo));

    // The notes ref moved back to an older commit, as a fetch or a sync can move it.
    repo.git(&["update-ref", "refs/notes/aiflow", &tip_before]);
    let back = cached(&repo);
    same(&first, &back);

    // A damaged cache file, one from another version, and an empty one are rebuilt.
    for text in [
        "garbage\n".to_string(),
        // Another version's file, whose summaries say something else: not used.
        {
            let text = std::fs::read_to_string(&cache).expect("cache");
            let (header, rest) = text.split_once('\n').expect("a header line");
            assert!(header.starts_with("aiflow-flows-cache "), "{header}");
            assert!(rest.contains("\tspec\t"), "{rest}");
            format!(
                "{header}-other\n{}",
                rest.replace("\tspec\t", "\tabandoned\t")
            )
        },
        std::fs::read_to_string(&cache).expect("cache")[..200].to_string(),
        String::new(),
    ] {
        std::fs::write(&cache, text).expect("write cache");
        same(&first, &cached(&repo));
    }
    // A cache that cannot be written (a directory in its place) costs speed, not output.
    std::fs::remove_file(&cache).expect("remove cache");
    std::fs::create_dir(&cache).expect("a directory where the cache goes");
    let run = repo.aiflow(&["list"]);
    assert_eq!(
        (&run.stdout, &run.stderr, run.code),
        (&first.0.stdout, &first.0.stderr, first.0.code)
    );
    std::fs::remove_dir(&cache).expect("remove directory");

    // The same note blob on two objects (`git notes copy`): one is a stale copy, found through
    // the cache's lines for the slug as without them.
    let main = repo.rev("main").expect("main");
    repo.git(&["notes", NOTES, "copy", &anchor, &main]);
    let copied = fresh(&repo);
    assert_eq!(problems(&copied.1).len(), 1, "{:#}", copied.1);
    assert!(copied.2.stderr.contains(&main), "{}", copied.2.stderr);
    same(&copied, &cached(&repo));
    repo.fsck();
}
