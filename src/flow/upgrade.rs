//! Decoding note text into flow documents: schema dispatch, migrations, and concatenated documents.
//!
//! This is the one place that knows about schema versions (the contract is `docs/SCHEMA.md`):
//! - schema 1 (git-aiflow 0.1.0): flows and step notes; review records name each approved commit
//!   with its `git patch-id --stable` id.
//! - schema 2: review records carry content ids (`content_id`), the tool that wrote them and the
//!   reviewer's signature; `kind = "review"` notes hold reviews of commits outside any flow.
//!   A schema 1 document reads as schema 2 unchanged: its records keep their patch ids, which
//!   count only where the policy allows (`legacy-patch-ids`), and bind by commit id otherwise.
//! - schema 3 (flow documents only): a plan revision holds decisions only (a subtask's `dropped
//!   = true`, no `status`, no `branch`), and the subtasks' progress is the flow's `[[progress]]`.
//!   A schema 1 or 2 flow is migrated when read ([`migrate_statuses`]): the current revision's
//!   `status` and `branch` become its progress, every revision keeps `dropped`, and the statuses
//!   older revisions held (the progress they had when they stopped being current) are not
//!   decisions and are not kept. Step, test and review notes stay at schema 2.
//!
//! git concatenates notes when it rewrites or squashes noted commits (`notes.rewriteMode`
//! defaults to `concatenate`) and when one object has notes at two fanouts. Every document starts
//! with `schema = N`, so a note holding several documents is split at those lines; each part must
//! parse on its own.

use super::{FLOW_SCHEMA, Flow, Invalid, SubtaskStatus, invalid};

/// The schema versions this build reads.
pub const KNOWN_SCHEMAS: [u32; 3] = [1, 2, 3];

/// Why a note's text is not a usable document.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DecodeError {
    /// Not UTF-8.
    #[error("the note is not valid UTF-8 (at byte {offset})")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// Not TOML.
    #[error("the note is not valid TOML: {message}")]
    Toml {
        /// The parser's message, with line and column.
        message: String,
    },
    /// Valid TOML that does not fit the flow schema (a missing or mistyped key; unknown keys are
    /// kept, see `docs/SCHEMA.md`).
    #[error("the note does not fit the flow schema: {message}")]
    Schema {
        /// The parser's message, naming the key.
        message: String,
    },
    /// No `schema` key: not written by git-aiflow.
    #[error("the note has no `schema` key, so it was not written by git-aiflow")]
    NoSchema,
    /// A schema this build does not know.
    #[error(
        "the note uses schema {found}; this build of git-aiflow reads schema {FLOW_SCHEMA} and older"
    )]
    UnknownSchema {
        /// The version found.
        found: i64,
    },
    /// A document of another kind (for instance a step note).
    #[error("the note is a `{kind}` document, not a flow")]
    OtherKind {
        /// The kind found.
        kind: String,
    },
    /// Fails validation.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// Larger than any flow this tool writes; not read, so that a note pushed by anyone cannot
    /// make every reader (a server's hook among them) spend its memory.
    #[error("the note is {size} bytes, more than the {max} bytes a flow note may have")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
}

/// The largest note read as a flow (16 MiB: a flow with thousands of reviewed commits is well
/// under 1 MiB).
pub const MAX_NOTE: usize = 16 << 20;

impl DecodeError {
    /// How to repair a note with this problem; `object` is the annotated object's id.
    pub fn repair_hint(&self, object: &str) -> String {
        let edit = format!("git notes --ref=aiflow edit {object}");
        match self {
            DecodeError::UnknownSchema { .. } => {
                "upgrade git-aiflow to a version that knows this schema".to_string()
            }
            DecodeError::Invalid(i) => format!("{}: fix it with `{edit}`", i.fix),
            DecodeError::OtherKind { .. } => {
                "nothing to repair; this note is not a flow".to_string()
            }
            _ => format!(
                "fix it with `{edit}`, or restore an earlier version from `git log -p refs/notes/aiflow`"
            ),
        }
    }
}

/// A note's documents, oldest first as git concatenated them.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The flow documents found; more than one when git concatenated notes.
    pub flows: Vec<Flow>,
}

impl Decoded {
    /// The document to use: the one updated last (the later one on a tie).
    pub fn newest(self) -> Flow {
        self.flows
            .into_iter()
            .reduce(|a, b| if b.updated_at >= a.updated_at { b } else { a })
            .expect("a decoded note holds at least one document")
    }
}

/// Decode a note's bytes into one or more flow documents.
pub fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    if bytes.len() > MAX_NOTE {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            max: MAX_NOTE,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| DecodeError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let first_err = match decode_one(text) {
        Ok(flow) => return Ok(Decoded { flows: vec![flow] }),
        Err(e) => e,
    };
    if let Some(parts) = split_concatenated(text)
        && let Ok(flows) = parts
            .iter()
            .map(|p| decode_one(p))
            .collect::<Result<Vec<Flow>, DecodeError>>()
    {
        return Ok(Decoded { flows });
    }
    Err(first_err)
}

fn decode_one(text: &str) -> Result<Flow, DecodeError> {
    match toml::from_str::<Flow>(text) {
        Ok(mut flow) => {
            if !KNOWN_SCHEMAS.contains(&flow.schema) {
                return Err(DecodeError::UnknownSchema {
                    found: flow.schema.into(),
                });
            }
            // 1 -> 2: nothing to convert; new fields are optional.
            if flow.schema < 3 {
                migrate_statuses(&mut flow)?;
            } else {
                refuse_progress_in_revisions(&flow)?;
            }
            flow.schema = FLOW_SCHEMA;
            // Checked as written: absorbing keeps only the entries the current plan cannot hold.
            for (i, p) in flow.progress.iter().enumerate() {
                p.validate(&format!("progress[{i}]"))?;
            }
            flow.absorb_progress();
            flow.validate()?;
            Ok(flow)
        }
        Err(err) => {
            // Diagnose the header before reporting a field-level error: an unknown schema or kind
            // explains everything that follows.
            let table: toml::Table = match toml::from_str(text) {
                Ok(t) => t,
                Err(_) => {
                    return Err(DecodeError::Toml {
                        message: err.to_string().trim_end().to_string(),
                    });
                }
            };
            match table.get("schema") {
                None => return Err(DecodeError::NoSchema),
                Some(toml::Value::Integer(n))
                    if !KNOWN_SCHEMAS.iter().any(|k| i64::from(*k) == *n) =>
                {
                    return Err(DecodeError::UnknownSchema { found: *n });
                }
                _ => {}
            }
            if let Some(kind) = table.get("kind").and_then(|k| k.as_str())
                && kind != "flow"
            {
                return Err(DecodeError::OtherKind {
                    kind: kind.to_string(),
                });
            }
            Err(DecodeError::Schema {
                message: err.to_string().trim_end().to_string(),
            })
        }
    }
}

/// Schema 1 and 2 flows kept each subtask's `status` and `branch` in the plan revisions, and
/// moved them in the current one: they were read as unknown keys, and become the flow's
/// `progress` (from the current revision) and `dropped` decisions (in every revision).
pub fn migrate_statuses(flow: &mut Flow) -> Result<(), Invalid> {
    let last = flow.plans.len().saturating_sub(1);
    let mut progress = Vec::new();
    for (i, plan) in flow.plans.iter_mut().enumerate() {
        for (j, s) in plan.subtasks.iter_mut().enumerate() {
            let key = format!("plans[{i}].subtasks[{j}]");
            let status = match s.extra.remove("status") {
                None => {
                    return Err(invalid(
                        format!("{key}.status"),
                        "missing (a schema 1 or 2 subtask has a status)",
                        "add `status = \"planned\"`",
                    ));
                }
                Some(v) => v.clone().try_into::<SubtaskStatus>().map_err(|_| {
                    invalid(
                        format!("{key}.status"),
                        format!("unknown status {v}"),
                        "use planned, active, in-review, approved, merged or dropped",
                    )
                })?,
            };
            let branch = match s.extra.remove("branch") {
                None => None,
                Some(toml::Value::String(b)) => Some(b),
                Some(v) => {
                    return Err(invalid(
                        format!("{key}.branch"),
                        format!("{v} is not a branch name"),
                        "write the branch name as a string",
                    ));
                }
            };
            s.status = status.decided();
            s.branch = None;
            if i == last && (status.decided() != status || branch.is_some()) {
                progress.push(super::Progress {
                    subtask: s.id.clone(),
                    status: if status == SubtaskStatus::Dropped {
                        SubtaskStatus::Planned
                    } else {
                        status
                    },
                    branch,
                    extra: Default::default(),
                });
            }
        }
    }
    flow.progress = progress;
    Ok(())
}

/// A schema 3 revision holds no progress: a `status` or `branch` in one is a mistake (a hand
/// edit, or an older layout with the schema number raised), refused rather than kept unread.
fn refuse_progress_in_revisions(flow: &Flow) -> Result<(), Invalid> {
    for (i, plan) in flow.plans.iter().enumerate() {
        for (j, s) in plan.subtasks.iter().enumerate() {
            for k in ["status", "branch"] {
                if s.extra.contains_key(k) {
                    return Err(invalid(
                        format!("plans[{i}].subtasks[{j}].{k}"),
                        format!("a schema 3 plan revision holds no `{k}`: it is progress"),
                        format!(
                            "move it to a `[[progress]]` entry with `subtask = \"{}\"`, or remove it",
                            s.id
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Cheap test used by the store to skip notes that cannot be flows without parsing them.
pub fn looks_like_flow(bytes: &[u8]) -> bool {
    let needle = b"kind = \"flow\"";
    bytes.windows(needle.len()).any(|w| w == needle)
}

fn is_schema_line(line: &str) -> bool {
    line.strip_prefix("schema")
        .map(|rest| rest.trim_start().starts_with('='))
        .unwrap_or(false)
}

/// Split text holding several documents at top-level `schema = N` lines. Tries every way of
/// grouping the candidate lines (a `schema = …` line may also sit inside a multi-line string) and
/// returns the first grouping in which every part parses as TOML.
pub(crate) fn split_concatenated(text: &str) -> Option<Vec<String>> {
    let mut starts = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if is_schema_line(line) {
            starts.push(offset);
        }
        offset += line.len();
    }
    if starts.len() < 2 || starts[0] != text.len() - text.trim_start().len() {
        return None;
    }
    starts.push(text.len());
    // best[i]: how to cover text[starts[i]..] with parts that parse; computed from the end.
    let n = starts.len() - 1;
    let mut best: Vec<Option<Vec<usize>>> = vec![None; n + 1];
    best[n] = Some(vec![]);
    for i in (0..n).rev() {
        for j in i + 1..=n {
            if best[j].is_none() {
                continue;
            }
            let part = &text[starts[i]..starts[j]];
            if toml::from_str::<toml::Table>(part).is_ok() {
                let mut cuts = vec![j];
                cuts.extend(best[j].as_ref().expect("checked"));
                best[i] = Some(cuts);
                break;
            }
        }
    }
    let cuts = best[0].take()?;
    let mut parts = Vec::new();
    let mut from = 0;
    for cut in cuts {
        parts.push(text[starts[from]..starts[cut]].to_string());
        from = cut;
    }
    (parts.len() > 1).then_some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::tests_support::sample;

    #[test]
    fn decodes_a_single_document() {
        let flow = sample();
        let d = decode(flow.to_toml().as_bytes()).expect("decodes");
        assert_eq!(d.flows, vec![flow.clone()]);
        // A schema 1 document with a legacy record reads as the current schema (its subtasks
        // carry their status, as schema 1 and 2 wrote them).
        let old = flow
            .to_toml()
            .replace("schema = 3", "schema = 1")
            .replace("content_id = ", "patch_id = ")
            .replace("phase = ", "status = \"planned\"\nphase = ");
        let d = decode(old.as_bytes()).expect("decodes schema 1");
        assert_eq!(d.flows[0].schema, FLOW_SCHEMA);
        assert!(d.flows[0].reviews[0].commits[0].patch_id.is_some());
    }

    /// A schema 3 revision holds no progress, and progress holds no decision: both refused,
    /// naming the key.
    #[test]
    fn schema_3_keeps_decisions_and_progress_apart() {
        let text = sample().to_toml();
        assert!(text.contains("[[progress]]"), "{text}");
        let in_revision = text.replacen("phase = ", "status = \"merged\"\nphase = ", 1);
        let e = decode(in_revision.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("plans[0].subtasks[0].status"), "{e}");
        let dropped = text.replace("status = \"approved\"", "status = \"dropped\"");
        let e = decode(dropped.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("progress[0].status"), "{e}");
        let bad_branch = text.replace(
            "branch = \"aiflow/rate-limit--k3f9-bucket\"",
            "branch = \"bad..name\"",
        );
        let e = decode(bad_branch.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("progress[0].branch"), "{e}");
    }

    #[test]
    fn decodes_concatenated_documents_as_git_writes_them() {
        let mut old = sample();
        old.title = "Old title".into();
        old.updated_at = "2026-11-21T09:00:00+00:00".into();
        let new = sample();
        // what `git notes append` / rewriteMode=concatenate produce: a blank line between
        let text = format!("{}\n{}", new.to_toml(), old.to_toml());
        let d = decode(text.as_bytes()).expect("decodes");
        assert_eq!(d.flows.len(), 2);
        assert_eq!(d.newest(), new);
    }

    #[test]
    fn a_schema_line_inside_a_string_is_not_a_boundary() {
        let mut flow = sample();
        flow.spec.summary = "first line\nschema = 3\nlast line".into();
        let text = format!("{}\n{}", flow.to_toml(), flow.to_toml());
        let d = decode(text.as_bytes()).expect("decodes");
        assert_eq!(d.flows.len(), 2);
        assert_eq!(d.flows[0].spec.summary, "first line\nschema = 3\nlast line");
    }

    #[test]
    fn diagnoses_bad_notes() {
        assert!(matches!(
            decode(b"\xff\xfe"),
            Err(DecodeError::NotUtf8 { offset: 0 })
        ));
        let e = decode(b"schema = 1\nkind = \"flow\"\ntitle = [unclosed\n").unwrap_err();
        assert!(matches!(e, DecodeError::Toml { .. }), "{e}");
        assert!(e.to_string().contains("line 3"), "{e}");
        assert!(matches!(decode(b"hello = 1\n"), Err(DecodeError::NoSchema)));
        let future = sample().to_toml().replace("schema = 3", "schema = 7");
        assert!(matches!(
            decode(future.as_bytes()),
            Err(DecodeError::UnknownSchema { found: 7 })
        ));
        let step = b"schema = 1\nkind = \"step\"\nn = 2\n";
        assert!(matches!(decode(step), Err(DecodeError::OtherKind { .. })));
        let invalid = sample()
            .to_toml()
            .replace("slug = \"rate-limit\"", "slug = \"a..b\"");
        let e = decode(invalid.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("`slug`"), "{e}");
    }
}
