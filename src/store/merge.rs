//! The three-way merge of two notes commits: what `sync` does with the local `refs/notes/aiflow`
//! and the remote's copy fetched into `refs/remote-notes/<remote>/aiflow`.
//!
//! Notes are compared object by object against the merge base. A note changed on one side only
//! takes that side. A note changed on both sides is merged by its document: flows by
//! [`crate::flow::merge::merge_flows`], step notes key by key. A note deleted on one side and
//! changed on the other is kept. The result is a commit with both tips as parents, so
//! `git log refs/notes/aiflow` shows both histories and every value either side wrote stays
//! reachable. Nothing here moves a ref.

use super::{Snapshot, StoreError, check_other_document, edit_tree, slug_hint, slug_line};
use crate::flow::{
    merge::{Conflict, merge_flows, merge_tables},
    upgrade,
};
use gix::ObjectId;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// A note to set (`Some`) or remove (`None`).
type NoteEdit = (ObjectId, Option<Vec<u8>>);

/// What the merge had to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Neither side has notes.
    None,
    /// Both sides point at the same commit.
    UpToDate,
    /// Only the other side changed: take its commit.
    FastForward,
    /// Only our side changed: the other side can take ours (named for what it leads to).
    #[serde(rename = "push")]
    Ahead,
    /// Both changed: a merge commit with both as parents.
    Merged,
}

impl Action {
    /// The name used in output and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::UpToDate => "up-to-date",
            Action::FastForward => "fast-forward",
            Action::Ahead => "push",
            Action::Merged => "merged",
        }
    }
}

/// Which side changed a note since the merge base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// Only theirs changed: theirs is taken.
    FromRemote,
    /// Only ours changed: ours is kept.
    ToRemote,
    /// Both changed: the note is merged.
    Merged,
}

/// How one flow differs between the two sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowChange {
    /// The flow's slug.
    pub slug: String,
    /// Which side changed it (`from-remote`, `to-remote` or `merged` in JSON).
    pub change: Side,
}

/// A conflict in one note.
#[derive(Debug, Clone, Serialize)]
pub struct NoteConflict {
    /// The flow the note belongs to, when known.
    pub flow: Option<String>,
    /// The annotated object (the anchor, or a step commit).
    pub object: String,
    /// What was decided.
    #[serde(flatten)]
    pub conflict: Conflict,
}

/// The outcome of [`merge`].
#[derive(Debug, Clone)]
pub struct NotesMerge {
    /// Our tip.
    pub ours: Option<ObjectId>,
    /// Their tip.
    pub theirs: Option<ObjectId>,
    /// What was done.
    pub action: Action,
    /// The notes commit both sides should point at afterwards.
    pub result: Option<ObjectId>,
    /// Flows that differ between the sides.
    pub flows: Vec<FlowChange>,
    /// Step and other notes that differ: (from theirs, from ours, merged).
    pub other_notes: (usize, usize, usize),
    /// What had to be decided.
    pub conflicts: Vec<NoteConflict>,
}

/// Merge the notes commit `theirs` (named `label` in the merge commit's message) into `ours`.
/// Writes objects (the merge commit) but moves no ref. `who`/`at` stamp any plan revision the
/// merge creates.
pub fn merge(
    repo: &gix::Repository,
    ours: Option<ObjectId>,
    theirs: Option<ObjectId>,
    label: &str,
    who: &str,
    at: &str,
) -> Result<NotesMerge, StoreError> {
    let mut out = NotesMerge {
        ours,
        theirs,
        action: Action::None,
        result: ours.or(theirs),
        flows: Vec::new(),
        other_notes: (0, 0, 0),
        conflicts: Vec::new(),
    };
    let base = match (ours, theirs) {
        (None, None) => return Ok(out),
        (Some(o), Some(t)) if o == t => {
            out.action = Action::UpToDate;
            return Ok(out);
        }
        (Some(o), Some(t)) => repo.merge_base(o, t).ok().flatten().map(|id| id.detach()),
        _ => None,
    };
    let (bs, os, ts) = (
        Snapshot::at(repo, base)?,
        Snapshot::at(repo, ours)?,
        Snapshot::at(repo, theirs)?,
    );
    // One side is the merge base (or absent): the other side's commit is the result.
    let one_sided = if base == theirs {
        Some((Action::Ahead, ours))
    } else if base == ours {
        Some((Action::FastForward, theirs))
    } else {
        None
    };
    if let Some((action, result)) = one_sided {
        out.action = action;
        out.result = result;
        describe(repo, (who, at), &bs, &os, &ts, &mut out)?;
        return Ok(out);
    }
    if let Some((object, _)) = os.notes.iter().find(|(_, b)| b.len() > 1) {
        return Err(StoreError::DuplicateFanout { object: *object });
    }
    let edits = describe(repo, (who, at), &bs, &os, &ts, &mut out)?;
    let tree = edit_tree(repo, os.tree, &edits)?;
    let mut message = format!("Merged notes from {label} into {}\n", super::NOTES_REF);
    if !out.conflicts.is_empty() {
        message.push_str("\nConflicts resolved:\n");
        for c in &out.conflicts {
            message.push_str(&format!(
                "  {} {}: kept {} ({}); ours {}, theirs {}\n",
                c.flow.as_deref().unwrap_or(&c.object),
                c.conflict.field,
                c.conflict.kept,
                c.conflict.rule,
                clip(&c.conflict.ours),
                clip(&c.conflict.theirs),
            ));
        }
    }
    let commit = repo
        .new_commit(message.trim_end(), tree, ours.into_iter().chain(theirs))
        .map_err(StoreError::Write)?
        .id;
    out.action = Action::Merged;
    out.result = Some(commit);
    Ok(out)
}

fn clip(s: &str) -> String {
    let one = s.replace('\n', " ");
    if one.chars().count() > 60 {
        format!("{}…", one.chars().take(59).collect::<String>())
    } else {
        one
    }
}

/// Compare the three snapshots note by note: record which flows changed on which side, merge the
/// notes both changed, and return the edits that turn ours into the merge.
fn describe(
    repo: &gix::Repository,
    stamp: (&str, &str),
    base: &Snapshot,
    ours: &Snapshot,
    theirs: &Snapshot,
    out: &mut NotesMerge,
) -> Result<Vec<NoteEdit>, StoreError> {
    let objects: BTreeSet<&ObjectId> = ours.notes.keys().chain(theirs.notes.keys()).collect();
    let mut edits = Vec::new();
    let bytes = |snap: &Snapshot, id: &ObjectId| snap.note_bytes(repo, id);
    // Slugs claimed by notes only one side added: the same slug on two anchors is reported.
    let mut added: BTreeMap<String, [Option<ObjectId>; 2]> = BTreeMap::new();
    for object in objects {
        let (b, o, t) = (
            base.notes.get(object),
            ours.notes.get(object),
            theirs.notes.get(object),
        );
        if o == t {
            continue;
        }
        let (ob, tb, bb) = (
            bytes(ours, object)?,
            bytes(theirs, object)?,
            bytes(base, object)?,
        );
        let any = ob.as_deref().or(tb.as_deref()).unwrap_or_default();
        let is_flow = upgrade::looks_like_flow(any);
        let slug = || slug_line(any).or_else(|| slug_hint(repo, object, any));
        let side = if b == o {
            Side::FromRemote
        } else if b == t {
            Side::ToRemote
        } else {
            Side::Merged
        };
        if is_flow && let Some(slug) = slug() {
            out.flows.push(FlowChange {
                slug: slug.clone(),
                change: side,
            });
            if b.is_none() && (o.is_none() || t.is_none()) {
                added.entry(slug).or_default()[usize::from(o.is_none())] = Some(*object);
            }
        } else {
            match side {
                Side::FromRemote => out.other_notes.0 += 1,
                Side::ToRemote => out.other_notes.1 += 1,
                Side::Merged => out.other_notes.2 += 1,
            }
        }
        match side {
            Side::FromRemote => edits.push((*object, tb)),
            Side::ToRemote => {}
            Side::Merged => {
                if let Some(merged) = merge_note(object, bb, ob, tb, is_flow, stamp, out) {
                    edits.push((*object, Some(merged)));
                }
            }
        }
    }
    for (slug, [ours_anchor, theirs_anchor]) in added {
        if let (Some(oa), Some(ta)) = (ours_anchor, theirs_anchor) {
            out.conflicts.push(NoteConflict {
                flow: Some(slug.clone()),
                object: oa.to_string(),
                conflict: Conflict {
                    field: "slug".into(),
                    ours: format!("flow on anchor {oa}"),
                    theirs: format!("flow on anchor {ta}"),
                    kept: "both".into(),
                    rule: format!(
                        "both sides created a flow `{slug}`: both notes are kept; remove one with \
                         `git notes --ref=aiflow remove <anchor>` (its integration branches differ too)"
                    ),
                },
            });
        }
    }
    Ok(edits)
}

/// Merge one note both sides changed; `None` keeps ours.
fn merge_note(
    object: &ObjectId,
    base: Option<Vec<u8>>,
    ours: Option<Vec<u8>>,
    theirs: Option<Vec<u8>>,
    is_flow: bool,
    (who, at): (&str, &str),
    out: &mut NotesMerge,
) -> Option<Vec<u8>> {
    let mut report =
        |flow: Option<String>, field: &str, o: String, t: String, kept: &str, rule: &str| {
            conflict(&mut out.conflicts, flow, object, field, o, t, kept, rule)
        };
    let (ours, theirs) = match (ours, theirs) {
        (Some(o), Some(t)) => (o, t),
        (o, t) => {
            // Deleted on one side, changed on the other: the change is kept.
            let kept = if o.is_some() { "ours" } else { "theirs" };
            let text = |b: &Option<Vec<u8>>| match b {
                Some(b) => String::from_utf8_lossy(b).into_owned(),
                None => "deleted".to_owned(),
            };
            let flow = o.as_deref().or(t.as_deref()).and_then(slug_line);
            report(
                flow,
                "note",
                text(&o),
                text(&t),
                kept,
                "deleted on one side and changed on the other: the change is kept",
            );
            return t;
        }
    };
    if is_flow {
        let decode = |b: &[u8]| upgrade::decode(b).map(|d| d.newest());
        let (o, t) = match (decode(&ours), decode(&theirs)) {
            (Ok(o), Ok(t)) => (o, t),
            (o, t) => {
                report(
                    slug_line(&ours).or_else(|| slug_line(&theirs)),
                    "note",
                    o.err().map_or("valid".into(), |e| e.to_string()),
                    t.err().map_or("valid".into(), |e| e.to_string()),
                    "ours",
                    "a side does not decode: ours is kept, theirs is in the merge's second parent",
                );
                return None;
            }
        };
        let b = base.as_deref().and_then(|b| decode(b).ok());
        let merged = merge_flows(b.as_ref(), &o, &t, who, at);
        if let Err(e) = merged.flow.validate() {
            report(
                Some(o.slug.clone()),
                "note",
                "valid".into(),
                "valid".into(),
                "ours",
                &format!("the merged document does not validate ({e}): ours is kept"),
            );
            return None;
        }
        for c in merged.conflicts {
            out.conflicts.push(NoteConflict {
                flow: Some(o.slug.clone()),
                object: object.to_string(),
                conflict: c,
            });
        }
        return Some(merged.flow.to_toml().into_bytes());
    }
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).ok();
    let merged = match (text(&ours), text(&theirs)) {
        (Some(o), Some(t)) => {
            let bt = base.as_deref().and_then(text);
            merge_tables(bt.as_deref(), &o, &t)
        }
        _ => None,
    };
    match merged {
        Some((text, conflicts)) if check_other_document(text.as_bytes()).is_ok() => {
            for c in conflicts {
                out.conflicts.push(NoteConflict {
                    flow: None,
                    object: object.to_string(),
                    conflict: c,
                });
            }
            Some(text.into_bytes())
        }
        _ => {
            report(
                None,
                "note",
                String::from_utf8_lossy(&ours).into_owned(),
                String::from_utf8_lossy(&theirs).into_owned(),
                "ours",
                "not one TOML table on both sides: ours is kept, theirs is in the merge's second parent",
            );
            None
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn conflict(
    to: &mut Vec<NoteConflict>,
    flow: Option<String>,
    object: &ObjectId,
    field: &str,
    ours: String,
    theirs: String,
    kept: &str,
    rule: &str,
) {
    to.push(NoteConflict {
        flow,
        object: object.to_string(),
        conflict: Conflict {
            field: field.into(),
            ours,
            theirs,
            kept: kept.into(),
            rule: rule.into(),
        },
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// JSON and text name an action the same way.
    #[test]
    fn serde_names_are_the_printed_names() {
        for a in [
            Action::None,
            Action::UpToDate,
            Action::FastForward,
            Action::Ahead,
            Action::Merged,
        ] {
            assert_eq!(
                serde_json::to_value(a).expect("serializes"),
                serde_json::Value::String(a.as_str().into())
            );
        }
    }
}
