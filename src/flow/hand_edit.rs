//! The plan as a person edits it: the TOML `plan edit` opens (and `plan show --toml` prints),
//! read back with every problem found in one pass, each at its line.
//!
//! The keys of a `[[subtask]]` are a table (`FIELDS`): each says how it is read into a
//! [`Draft`] and written from a [`Subtask`], so that a new key is one entry.

use super::plan::{Draft, Ids, finalize_issues, parse_phase, phase_name};
use super::{Phase, Subtask, SubtaskStatus};
use std::collections::BTreeSet;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The key naming the revision the edit was made from.
pub const BASED_ON: &str = "based_on";

/// The key of the subtask tables (`[[subtask]]`).
const SUBTASK: &str = "subtask";

/// A problem of a hand edit, at its 1-based line when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The line, when the problem has one (a subtask removed from the edit has none).
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl Located {
    /// The order problems are told in: by line, those without one last.
    fn key(&self) -> (bool, usize, &str) {
        (self.line.is_none(), self.line.unwrap_or(0), &self.message)
    }

    /// Sort `problems` by line (those without one last) and drop repeats.
    fn tidy(problems: &mut Vec<Located>) {
        problems.sort_by(|a, b| a.key().cmp(&b.key()));
        problems.dedup();
    }

    /// `origin:line: message` (or `origin: message`), as compilers write it.
    pub fn render(&self, origin: &str) -> String {
        match self.line {
            Some(l) => format!("{origin}:{l}: {}", self.message),
            None => format!("{origin}: {}", self.message),
        }
    }
}

/// A TOML value of the edit, with its place.
type Value<'i> = Spanned<DeValue<'i>>;

/// Why a value could not be read: the item of a list it is about (if one), and what is wrong.
type Unread = (Option<usize>, String);

/// One key of a `[[subtask]]`.
struct Field {
    /// The key.
    name: &'static str,
    /// Whether every subtask must have it.
    required: bool,
    /// Read the value into the draft; `Err` says what is wrong (with the item of a list, when
    /// it is about one).
    read: fn(&Value<'_>, &mut Draft) -> Result<(), Unread>,
    /// The value of a subtask to write, `None` to leave the key out.
    write: fn(&Subtask) -> Option<toml::Value>,
}

/// The keys of a `[[subtask]]`, in the order they are written.
const FIELDS: &[Field] = &[
    Field {
        name: "id",
        required: false,
        read: |v, d| {
            d.id = Some(string(v, "id")?);
            Ok(())
        },
        write: |s| Some(s.id.clone().into()),
    },
    Field {
        name: "title",
        required: true,
        read: |v, d| {
            d.title = string(v, "title")?;
            Ok(())
        },
        write: |s| Some(s.title.clone().into()),
    },
    Field {
        name: "phase",
        required: true,
        read: |v, d| {
            d.phase = phase(v)?;
            Ok(())
        },
        write: |s| Some(phase_name(s.phase).into()),
    },
    Field {
        name: "status",
        required: false,
        read: |v, d| {
            d.status = Some(status(v)?);
            Ok(())
        },
        write: |s| Some(s.status.as_str().into()),
    },
    Field {
        name: "depends_on",
        required: false,
        read: |v, d| {
            d.depends_on = strings(v, "depends_on")?;
            Ok(())
        },
        write: |s| Some(list(&s.depends_on)),
    },
    Field {
        name: "files",
        required: false,
        read: |v, d| {
            d.files = strings(v, "files")?;
            Ok(())
        },
        write: |s| Some(list(&s.files)),
    },
    Field {
        name: "description",
        required: false,
        read: |v, d| {
            d.description = string(v, "description")?;
            Ok(())
        },
        write: |s| Some(s.description.clone().into()),
    },
    Field {
        name: "test",
        required: false,
        read: |v, d| {
            d.test = Some(string(v, "test")?);
            Ok(())
        },
        write: |s| s.test.clone().map(Into::into),
    },
];

fn list(items: &[String]) -> toml::Value {
    toml::Value::Array(items.iter().map(|s| s.clone().into()).collect())
}

/// The string value of key `key`.
fn string(v: &Value<'_>, key: &str) -> Result<String, Unread> {
    match v.get_ref() {
        DeValue::String(s) => Ok(s.to_string()),
        other => Err((
            None,
            format!("`{key}` must be a string, found {}", a(other)),
        )),
    }
}

/// The list of strings of key `key` (a single string is a list of one).
fn strings(v: &Value<'_>, key: &str) -> Result<Vec<String>, Unread> {
    match v.get_ref() {
        DeValue::String(s) => Ok(vec![s.to_string()]),
        DeValue::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, x)| match x.get_ref() {
                DeValue::String(s) => Ok(s.to_string()),
                other => Err((
                    Some(i),
                    format!("`{key}` must hold strings, found {}", a(other)),
                )),
            })
            .collect(),
        other => Err((
            None,
            format!("`{key}` must be a list of strings, found {}", a(other)),
        )),
    }
}

/// A phase, spelled as the model path accepts it (`nice to have`, `Production readiness`).
fn phase(v: &Value<'_>) -> Result<Phase, Unread> {
    let name = string(v, "phase")?;
    parse_phase(&name).ok_or_else(|| {
        (
            None,
            format!("unknown phase {name:?} (expected core, nice-to-have, production)"),
        )
    })
}

/// A status, in any letter case and with spaces or underscores for dashes.
fn status(v: &Value<'_>) -> Result<SubtaskStatus, Unread> {
    let name = string(v, "status")?;
    let norm = |s: &str| -> String {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase()
    };
    SubtaskStatus::ALL
        .into_iter()
        .find(|st| norm(st.as_str()) == norm(&name))
        .ok_or_else(|| {
            let all: Vec<&str> = SubtaskStatus::ALL.iter().map(|s| s.as_str()).collect();
            (
                None,
                format!(
                    "unknown status {name:?} (expected {}; only planned and dropped can be set by hand)",
                    all.join(", ")
                ),
            )
        })
}

/// `a string`, `an integer`: a TOML value's type, for messages.
fn a(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

/// The names of `FIELDS`, for messages.
fn field_names() -> String {
    FIELDS.iter().map(|f| f.name).collect::<Vec<_>>().join(", ")
}

/// A known name close to `name` (a typo), if any.
fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    known
        .into_iter()
        .map(|k| (distance(&name, k), k))
        .filter(|(d, k)| *d <= 2.min(k.len() / 2))
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The TOML `plan edit` opens for `subtasks` of revision `revision` of flow `slug`: a comment
/// on how to edit, `based_on = <revision>` (so that the edit is refused if the plan moves on
/// before it is applied), and one `[[subtask]]` per subtask with the keys of `FIELDS`.
pub fn edit_text(slug: &str, revision: u32, subtasks: &[Subtask]) -> String {
    let mut out = format!(
        "# Plan of flow `{slug}`, revision {revision}. Edit it, save and quit; an empty file changes nothing.\n\
         #\n\
         # Each [[subtask]] is one small, reviewable change, in the order to do them. Reorder, change,\n\
         # add or delete entries. A new entry needs no id: one is assigned.\n\
         #   phase       \"core\", \"nice-to-have\" or \"production\"\n\
         #   depends_on  ids of the subtasks that must be integrated first\n\
         #   files       paths relative to the repository root\n\
         #   status      set by git aiflow; you may only set \"dropped\" (or \"planned\" to restore one)\n\
         #   test        one line for `sh -c` that shows the subtask is done; it runs after each step\n\
         #               instead of the configured test command. One the model proposed runs only\n\
         #               once a person keeps it: applying this plan with it accepts it.\n\
         # Started subtasks cannot be deleted: drop them instead.\n\
         # {BASED_ON} is the revision this edit starts from: if the plan has a newer revision when the\n\
         # edit is applied, it is refused instead of undoing that revision. Without it, the edit\n\
         # applies to the revision current when `plan edit` starts.\n\n\
         {BASED_ON} = {revision}\n"
    );
    for s in subtasks {
        out.push_str("\n[[subtask]]\n");
        for f in FIELDS {
            if let Some(v) = (f.write)(s) {
                let mut one = toml::Table::new();
                one.insert(f.name.to_string(), v);
                out.push_str(&toml::to_string_pretty(&one).expect("a TOML value serializes"));
            }
        }
    }
    out
}

/// A hand edit as read: the drafts, with what could be read of them, and every problem found.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// The revision the edit was made from, when the text says.
    pub based_on: Option<u32>,
    /// The line of `based_on`.
    pub based_on_line: Option<usize>,
    /// The subtasks; `None` when the text holds none at all (cancel).
    pub drafts: Option<Vec<Draft>>,
    /// Every problem found, by line.
    pub problems: Vec<Located>,
    /// Whether the TOML itself is broken (then what was read may be partial).
    pub syntax: bool,
    /// Where each draft's keys are, for problems found later.
    places: Vec<Places>,
}

/// Where one `[[subtask]]` and its keys are.
#[derive(Debug, Clone, Default)]
struct Places {
    /// The `[[subtask]]` line.
    header: usize,
    /// Each key present.
    keys: Vec<KeyPlace>,
}

/// Where one key of a `[[subtask]]` is.
#[derive(Debug, Clone)]
struct KeyPlace {
    /// The key.
    name: &'static str,
    /// Its line.
    line: usize,
    /// The lines of its list's items.
    items: Vec<usize>,
    /// Whether its value was read (else its problem is told already).
    read: bool,
}

impl Places {
    fn key(&self, name: &str) -> Option<&KeyPlace> {
        self.keys.iter().find(|k| k.name == name)
    }
}

/// The 1-based line of byte `at` of `text`.
fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Read the text of a `plan edit`: every problem of syntax, keys and values, each at its line.
pub fn parse(text: &str) -> Parsed {
    let (doc, errors) = DeTable::parse_recoverable(text);
    let mut out = Parsed {
        syntax: !errors.is_empty(),
        ..Parsed::default()
    };
    let at = |span: std::ops::Range<usize>| Some(line_of(text, span.start));
    for e in &errors {
        out.problems.push(Located {
            line: e.span().and_then(at),
            message: format!("invalid TOML: {}", e.message().trim()),
        });
    }
    let mut drafts = Vec::new();
    for (key, value) in doc.get_ref().iter() {
        let line = at(key.span());
        match key.get_ref().as_ref() {
            BASED_ON => {
                out.based_on_line = line;
                let n = match value.get_ref() {
                    DeValue::Integer(i) => u32::from_str_radix(i.as_str(), i.radix()).ok(),
                    _ => None,
                };
                match n {
                    Some(0) => out.problems.push(Located {
                        line,
                        message: format!(
                            "`{BASED_ON} = 0` names no revision; revisions are numbered from 1"
                        ),
                    }),
                    Some(n) => out.based_on = Some(n),
                    None => out.problems.push(Located {
                        line,
                        message: format!(
                            "`{BASED_ON}` must be a revision number (1, 2, …), found {}",
                            a(value.get_ref())
                        ),
                    }),
                }
            }
            SUBTASK => match value.get_ref() {
                DeValue::Array(items) => {
                    for item in items.iter() {
                        let n = drafts.len() + 1;
                        let header = line_of(text, item.span().start);
                        match item.get_ref() {
                            DeValue::Table(t) => {
                                let (d, p) = read_subtask(text, n, header, t, &mut out.problems);
                                drafts.push(d);
                                out.places.push(p);
                            }
                            other => out.problems.push(Located {
                                line: Some(header),
                                message: format!(
                                    "subtask {n} must be a table (`[[subtask]]`), found {}",
                                    a(other)
                                ),
                            }),
                        }
                    }
                }
                other => out.problems.push(Located {
                    line,
                    message: format!(
                        "`{SUBTASK}` must be a list of tables, written `[[subtask]]`, found {}",
                        a(other)
                    ),
                }),
            },
            other => {
                let hint = match did_you_mean(other, [BASED_ON, SUBTASK]) {
                    Some(k) => format!("; did you mean `{k}`?"),
                    None => String::new(),
                };
                out.problems.push(Located {
                    line,
                    message: format!(
                        "unknown key {other:?} (expected `{BASED_ON}` and `[[{SUBTASK}]]` tables){hint}"
                    ),
                });
            }
        }
    }
    out.drafts = (!drafts.is_empty()).then_some(drafts);
    Located::tidy(&mut out.problems);
    out
}

/// Read one `[[subtask]]` (the `n`th, at line `header`) into a draft, pushing its problems.
fn read_subtask(
    text: &str,
    n: usize,
    header: usize,
    table: &DeTable<'_>,
    problems: &mut Vec<Located>,
) -> (Draft, Places) {
    let mut d = Draft {
        id: None,
        title: String::new(),
        description: String::new(),
        files: Vec::new(),
        phase: Phase::Core,
        depends_on: Vec::new(),
        status: None,
        test: None,
    };
    let mut places = Places {
        header,
        keys: Vec::new(),
    };
    let who = format!("subtask {n}");
    for (key, value) in table.iter() {
        let line = line_of(text, key.span().start);
        let name = key.get_ref().as_ref();
        let Some(field) = FIELDS.iter().find(|f| f.name == name) else {
            let hint = match did_you_mean(name, FIELDS.iter().map(|f| f.name)) {
                Some(k) => format!("did you mean `{k}`? "),
                None => String::new(),
            };
            problems.push(Located {
                line: Some(line),
                message: format!(
                    "{who}: unknown key {name:?} ({hint}expected {})",
                    field_names()
                ),
            });
            continue;
        };
        let items = match value.get_ref() {
            DeValue::Array(a) => a.iter().map(|x| line_of(text, x.span().start)).collect(),
            _ => Vec::new(),
        };
        let read = match (field.read)(value, &mut d) {
            Ok(()) => true,
            Err((item, message)) => {
                let line = item.and_then(|i| items.get(i).copied()).unwrap_or(line);
                problems.push(Located {
                    line: Some(line),
                    message: format!("{who}: {message}"),
                });
                false
            }
        };
        places.keys.push(KeyPlace {
            name: field.name,
            line,
            items,
            read,
        });
    }
    for f in FIELDS.iter().filter(|f| f.required) {
        if places.key(f.name).is_none() {
            problems.push(Located {
                line: Some(header),
                message: format!("{who} has no `{}`", f.name),
            });
        }
    }
    (d, places)
}

/// What a hand edit comes to: the subtasks of the new plan, or every problem, by line.
#[derive(Debug)]
pub enum Checked {
    /// The text holds no subtasks: cancel.
    Empty,
    /// The subtasks, and the revision the edit says it was made from.
    Plan {
        /// The revision named by `based_on`, when the text names one.
        based_on: Option<u32>,
        /// The new plan's subtasks.
        subtasks: Vec<Subtask>,
    },
}

/// Read and check a hand edit of the plan of flow `slug`, at revision `current` with subtasks
/// `previous` (`taken`: the ids of the flow's history): syntax, keys, values, `based_on`, ids,
/// dependencies, paths, titles and removed started subtasks, every problem at once, by line.
pub fn check(
    text: &str,
    slug: &str,
    current: u32,
    previous: &[Subtask],
    taken: &BTreeSet<String>,
) -> Result<Checked, Vec<Located>> {
    let parsed = parse(text);
    let mut problems = parsed.problems;
    if let Some(n) = parsed.based_on.filter(|n| *n > current) {
        problems.push(Located {
            line: parsed.based_on_line,
            message: format!(
                "the edit says `{BASED_ON} = {n}`, but the plan of `{slug}` has revisions 1 to {current}; set it to the revision the edit was made from (see `git aiflow plan log {slug}`)"
            ),
        });
    }
    let Some(drafts) = parsed.drafts else {
        return if problems.is_empty() {
            Ok(Checked::Empty)
        } else {
            Err(problems)
        };
    };
    let places = parsed.places;
    match finalize_issues(drafts, previous, taken, Ids::Edit) {
        Ok(subtasks) if problems.is_empty() => {
            return Ok(Checked::Plan {
                based_on: parsed.based_on,
                subtasks,
            });
        }
        Ok(_) => {}
        Err(issues) => {
            for issue in issues {
                let place = issue.subtask.and_then(|i| places.get(i));
                let key = place.zip(issue.field).and_then(|(p, f)| p.key(f));
                // A value that could not be read, or a required key that is missing, was
                // reported already; what the checks say of the placeholder it left is noise. So
                // is all that the partial document of a broken TOML leads to beyond the values
                // themselves.
                let missing = key.is_none()
                    && FIELDS
                        .iter()
                        .any(|f| f.required && Some(f.name) == issue.field);
                if key.is_some_and(|k| !k.read) || missing || (parsed.syntax && key.is_none()) {
                    continue;
                }
                let line = match (place, key) {
                    (_, Some(k)) => Some(
                        issue
                            .item
                            .and_then(|i| k.items.get(i).copied())
                            .unwrap_or(k.line),
                    ),
                    (Some(p), None) => Some(p.header),
                    (None, _) => None,
                };
                problems.push(Located {
                    line,
                    message: issue.message,
                });
            }
        }
    }
    Located::tidy(&mut problems);
    Err(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subtask(id: &str, title: &str) -> Subtask {
        Subtask {
            extra: Default::default(),
            id: id.into(),
            title: title.into(),
            description: "Line one.\nLine \"two\".".into(),
            files: vec!["src/a.rs".into(), "b c/d.rs".into()],
            phase: Phase::NiceToHave,
            depends_on: vec![],
            status: SubtaskStatus::Planned,
            branch: None,
            test: Some("cargo test 'a b'".into()),
        }
    }

    #[test]
    fn every_field_round_trips() {
        let mut b = subtask("bbb2", "Second");
        b.depends_on = vec!["aaa1".into()];
        b.test = None;
        b.phase = Phase::Production;
        let plan = vec![subtask("aaa1", "First"), b];
        let text = edit_text("x", 3, &plan);
        let taken = BTreeSet::new();
        match check(&text, "x", 3, &plan, &taken).unwrap() {
            Checked::Plan { based_on, subtasks } => {
                assert_eq!(based_on, Some(3));
                assert_eq!(subtasks, plan);
            }
            Checked::Empty => panic!("empty"),
        }
        // Every key of the table is written for a subtask that has it.
        for f in FIELDS {
            assert!(text.contains(&format!("\n{} = ", f.name)), "{}", f.name);
        }
    }

    #[test]
    fn spellings_of_phases_and_statuses() {
        let text = "[[subtask]]\ntitle = \"A\"\nphase = \"Nice to have\"\nstatus = \"Dropped\"\n\n\
                    [[subtask]]\ntitle = \"B\"\nphase = \"production_readiness\"\nstatus = \"in review\"\n";
        let p = parse(text);
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        let d = p.drafts.unwrap();
        assert_eq!(
            (d[0].phase, d[0].status),
            (Phase::NiceToHave, Some(SubtaskStatus::Dropped))
        );
        assert_eq!(
            (d[1].phase, d[1].status),
            (Phase::Production, Some(SubtaskStatus::InReview))
        );
    }

    #[test]
    fn problems_of_keys_and_types_are_at_their_lines() {
        let text = "based_on = \"two\"\nrevison = 2\n[[subtask]]\ntitle = 3\nphase = \"core\"\nfiles = [\n  \"a\",\n  4,\n]\nid = \"x\"\ndescripton = \"\"\n";
        let p = parse(text);
        let got: Vec<(Option<usize>, &str)> = p
            .problems
            .iter()
            .map(|l| (l.line, l.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    Some(1),
                    "`based_on` must be a revision number (1, 2, …), found a string"
                ),
                (
                    Some(2),
                    "unknown key \"revison\" (expected `based_on` and `[[subtask]]` tables)"
                ),
                (
                    Some(4),
                    "subtask 1: `title` must be a string, found an integer"
                ),
                (
                    Some(8),
                    "subtask 1: `files` must hold strings, found an integer"
                ),
                (
                    Some(11),
                    "subtask 1: unknown key \"descripton\" (did you mean `description`? expected id, title, phase, status, depends_on, files, description, test)"
                ),
            ]
        );
    }

    #[test]
    fn a_missing_title_is_said_once_at_the_subtask() {
        let errs = check(
            "based_on = 1\n\n[[subtask]]\nphase = \"core\"\n",
            "x",
            1,
            &[],
            &BTreeSet::new(),
        )
        .unwrap_err();
        assert_eq!(
            errs,
            vec![Located {
                line: Some(3),
                message: "subtask 1 has no `title`".into()
            }]
        );
    }

    #[test]
    fn typos_are_matched_to_the_closest_key() {
        let keys = FIELDS.iter().map(|f| f.name);
        assert_eq!(did_you_mean("titel", keys.clone()), Some("title"));
        assert_eq!(did_you_mean("Depends-On", keys.clone()), Some("depends_on"));
        assert_eq!(did_you_mean("owner", keys), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
