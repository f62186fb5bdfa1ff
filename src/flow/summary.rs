//! What `git log` shows of a git-aiflow note: a few lines instead of the whole TOML document.
//!
//! The summaries live in their own notes ref (`refs/notes/aiflow-log`, kept by
//! [`crate::work::display`]); this module only turns one note's text into its summary. It reads
//! the TOML loosely (a table, not the typed documents), so that a note from a newer or older
//! version, or one git concatenated, still gets a line; a note that is not TOML says where to
//! read it.

use toml::{Table, Value};

/// The summary of a note on `object` (its text `text`): one line per step or review, three for a
/// flow, each ending in a newline.
pub fn summarize(object: &str, text: &str) -> String {
    let docs: Vec<Table> = match toml::from_str::<Table>(text) {
        Ok(t) => vec![t],
        Err(_) => match super::upgrade::split_concatenated(text) {
            Some(parts) => parts
                .iter()
                .filter_map(|p| toml::from_str(p).ok())
                .collect(),
            None => Vec::new(),
        },
    };
    if docs.is_empty() {
        return format!(
            "aiflow: not a document; read it with `git notes --ref=aiflow show {}`\n",
            short(object)
        );
    }
    docs.iter().map(|d| document(object, d)).collect()
}

/// The summary of one document.
fn document(object: &str, doc: &Table) -> String {
    match text(doc, "kind") {
        "flow" => flow(doc),
        "step" => format!("{}\n", step(doc)),
        "review" => reviews(doc),
        kind => format!(
            "aiflow: a {} note; read it with `git notes --ref=aiflow show {}`\n",
            if kind.is_empty() { "git-aiflow" } else { kind },
            short(object)
        ),
    }
}

/// `aiflow flow <slug>: <title>`, its status, plan and reviews, and where the rest is.
fn flow(doc: &Table) -> String {
    let slug = text(doc, "slug");
    let mut state = vec![format!("status {}", text(doc, "status"))];
    let plans = array(doc, "plans");
    if !plans.is_empty() {
        state.push(format!("plan revision {}", plans.len()));
    }
    let (approved, rejected) = verdicts(doc);
    if approved + rejected > 0 {
        state.push(format!(
            "{approved} {}, {rejected} {}",
            plural(approved, "approval", "approvals"),
            plural(rejected, "rejection", "rejections")
        ));
    }
    format!(
        "aiflow flow {slug}: {}\n  {}\n  the rest: git aiflow status {slug}; the document: git log --notes=aiflow\n",
        text(doc, "title"),
        state.join("; ")
    )
}

/// How many reviews of a flow approved and rejected.
fn verdicts(doc: &Table) -> (usize, usize) {
    let verdict = |v: &str| {
        array(doc, "reviews")
            .iter()
            .filter(|r| r.get("verdict").and_then(Value::as_str) == Some(v))
            .count()
    };
    (verdict("approved"), verdict("rejected"))
}

/// `aiflow <flow> <subtask> step N (agent|hand); test <state>`.
fn step(doc: &Table) -> String {
    let n = doc
        .get("step")
        .and_then(Value::as_integer)
        .map(|n| n.to_string())
        .unwrap_or_else(|| "?".into());
    // Who: the commit's author already says which agent or person.
    let by = match text(doc, "by") {
        "" => "?",
        by => by,
    };
    let test = match doc.get("test").and_then(Value::as_table) {
        None => "untested".to_owned(),
        Some(t) => {
            let command = t.get("command").and_then(Value::as_str).unwrap_or("?");
            if t.get("timed_out").and_then(Value::as_bool) == Some(true) {
                format!("test timed out: {command}")
            } else if t.get("exit").and_then(Value::as_integer) == Some(0) {
                format!("test passed: {command}")
            } else {
                format!("test failed: {command}")
            }
        }
    };
    format!(
        "aiflow {} {} step {n} ({by}); {test}",
        text(doc, "flow"),
        text(doc, "subtask")
    )
}

/// One line per review of a commit outside a flow's records (`approve --range`).
fn reviews(doc: &Table) -> String {
    let all = array(doc, "reviews");
    if all.is_empty() {
        return "aiflow review: none\n".into();
    }
    all.iter()
        .map(|r| {
            let get = |k| r.get(k).and_then(Value::as_str).unwrap_or("?");
            format!(
                "aiflow review: {} by {} at {}\n",
                get("verdict"),
                get("reviewer"),
                get("at")
            )
        })
        .collect()
}

fn text<'a>(doc: &'a Table, key: &str) -> &'a str {
    doc.get(key).and_then(Value::as_str).unwrap_or("")
}

fn array<'a>(doc: &'a Table, key: &str) -> &'a [Value] {
    doc.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

fn short(object: &str) -> &str {
    &object[..object.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::summarize;

    const ID: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn a_step_is_one_line_with_its_test() {
        let note = "schema = 2\nkind = \"step\"\nflow = \"rl\"\nsubtask = \"xbeie6\"\nstep = 1\n\
                    by = \"agent\"\nagent_identity = \"Demo Agent <a@b>\"\n\n[test]\n\
                    command = \"sh test.sh\"\nexit = 1\ntimed_out = false\n";
        assert_eq!(
            summarize(ID, note),
            "aiflow rl xbeie6 step 1 (agent); test failed: sh test.sh\n"
        );
        let person = "schema = 2\nkind = \"step\"\nflow = \"rl\"\nsubtask = \"x\"\nstep = 3\nby = \"hand\"\n";
        assert_eq!(
            summarize(ID, person),
            "aiflow rl x step 3 (hand); untested\n"
        );
    }

    #[test]
    fn a_flow_is_three_lines_whatever_its_size() {
        let note = "schema = 2\nkind = \"flow\"\nslug = \"rl\"\ntitle = \"Rate limits\"\n\
                    status = \"executing\"\n\n[[plans]]\nn = 1\n[[plans]]\nn = 2\n\n\
                    [[reviews]]\nverdict = \"approved\"\n[[reviews]]\nverdict = \"rejected\"\n\
                    [[reviews]]\nverdict = \"approved\"\n";
        assert_eq!(
            summarize(ID, note),
            "aiflow flow rl: Rate limits\n  status executing; plan revision 2; 2 approvals, 1 rejection\n  \
             the rest: git aiflow status rl; the document: git log --notes=aiflow\n"
        );
    }

    #[test]
    fn concatenated_and_unreadable_notes_still_get_a_line() {
        let two = "schema = 2\nkind = \"step\"\nflow = \"f\"\nsubtask = \"s\"\nstep = 1\nby = \"hand\"\n\n\
                   schema = 2\nkind = \"step\"\nflow = \"f\"\nsubtask = \"s\"\nstep = 2\nby = \"hand\"\n";
        assert_eq!(
            summarize(ID, two),
            "aiflow f s step 1 (hand); untested\naiflow f s step 2 (hand); untested\n"
        );
        assert_eq!(
            summarize(ID, "not toml [\n"),
            "aiflow: not a document; read it with `git notes --ref=aiflow show 0123456789ab`\n"
        );
        let review = "schema = 2\nkind = \"review\"\n[[reviews]]\nverdict = \"approved\"\n\
                      reviewer = \"R <r@x>\"\nat = \"2026-01-01T00:00:00Z\"\n";
        assert_eq!(
            summarize(ID, review),
            "aiflow review: approved by R <r@x> at 2026-01-01T00:00:00Z\n"
        );
    }
}
