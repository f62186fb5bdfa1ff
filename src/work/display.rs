//! What `git log` shows: `refs/notes/aiflow-log`, a few lines per git-aiflow note
//! ([`crate::flow::summary`]), derived from `refs/notes/aiflow`.
//!
//! `init` points `notes.displayRef` here instead of at the documents themselves, which run to
//! hundreds of lines. The ref is derived, never the source of anything:
//! - one root commit (no history, so `git log --all` gains one commit, not a second history),
//!   whose message names the `refs/notes/aiflow` commit it was made from, dated and signed as that
//!   commit: the same documents always give the same display commit;
//! - brought up to date after every git-aiflow command ([`refresh`]), re-summarizing only the
//!   notes whose blobs changed since that commit;
//! - moved by compare-and-swap; a refresh that loses the race leaves it to the winner (both
//!   derive it from the same source), and it never touches `refs/notes/aiflow`;
//! - never pushed or fetched: every clone derives its own, so `sync` has nothing to merge.

use crate::flow::summary::summarize;
use crate::store::NoteEntry as Entry;
use crate::store::{self, NOTES_REF, StoreError};
use gix::ObjectId;
use std::collections::BTreeMap;

/// Annotated object -> its note blobs (more than one when git left it at two fanouts).
type Notes = BTreeMap<ObjectId, Vec<ObjectId>>;

/// The notes ref `git log` shows.
pub const DISPLAY_REF: &str = "refs/notes/aiflow-log";

/// What the commit message says before the source commit's id.
const SOURCE: &str = "source ";

/// Whether the repository's `notes.displayRef` shows [`DISPLAY_REF`] (`init` set it up).
pub fn wanted(repo: &gix::Repository) -> bool {
    let config = repo.config_snapshot();
    config
        .strings("notes.displayRef")
        .unwrap_or_default()
        .iter()
        .any(|v| crate::git::setup::covers(&v.to_string(), DISPLAY_REF))
}

/// Bring [`DISPLAY_REF`] up to date with [`NOTES_REF`] when [`wanted`]. Returns the new display
/// commit, or `None` when nothing changed. When another process moves the display ref meanwhile,
/// it starts again from what that one wrote (a few times; it is only a view).
pub fn refresh(repo: &gix::Repository) -> Result<Option<ObjectId>, StoreError> {
    if !wanted(repo) {
        return Ok(None);
    }
    for _ in 0..4 {
        if let Some(done) = refresh_once(repo)? {
            return Ok(done);
        }
    }
    Ok(None)
}

/// One attempt: `None` when another process moved the display ref first.
fn refresh_once(repo: &gix::Repository) -> Result<Option<Option<ObjectId>>, StoreError> {
    let Some(source) = store::tip(repo, NOTES_REF)? else {
        return Ok(Some(None));
    };
    let current = store::tip(repo, DISPLAY_REF)?;
    // The display tree and the source commit it was derived from, when both can be read.
    let derived = current.and_then(|c| {
        let commit = repo.find_commit(c).ok()?;
        let from = commit
            .message_raw_sloppy()
            .to_string()
            .lines()
            .find_map(|l| l.strip_prefix(SOURCE).map(str::to_owned))?;
        let from = ObjectId::from_hex(from.trim().as_bytes()).ok()?;
        Some((commit.tree_id().ok()?.detach(), from))
    });
    if derived.is_some_and(|(_, from)| from == source) {
        return Ok(Some(None));
    }
    // Something to write (after an approval of many commits, a summary for each): through
    // memory, flushed as one pack when there are many (git::pack). Most commands change
    // nothing here and stop above without this copy of the handle.
    let repo = &crate::git::pack::in_memory(repo);
    let new_tree = repo
        .find_commit(source)
        .map_err(StoreError::Read)?
        .tree_id()
        .map_err(StoreError::Read)?
        .detach();
    let empty = ObjectId::empty_tree(repo.object_hash());
    // The display tree to edit and the documents tree it shows; an unreadable source commit
    // (pruned) means starting again from an empty tree.
    let (base_tree, old_tree) = derived
        .and_then(|(tree, from)| {
            let old = repo.find_commit(from).ok()?.tree_id().ok()?.detach();
            Some((tree, old))
        })
        .unwrap_or((empty, empty));
    let (old, new) = changed_notes(repo, old_tree, new_tree)?;
    let mut changes = Vec::new();
    for (object, blobs) in &new {
        if old.get(object) == Some(blobs) {
            continue; // the same note, moved to another fanout
        }
        let text = crate::store::join_blobs(repo, blobs)?;
        let summary = summarize(&object.to_string(), &String::from_utf8_lossy(&text));
        changes.push((*object, Some(summary.into_bytes())));
    }
    for object in old.keys().filter(|o| !new.contains_key(*o)) {
        changes.push((*object, None));
    }
    let tree = store::edit_tree(repo, base_tree, &changes)?;
    let message = format!(
        "aiflow: what `git log` shows of {NOTES_REF}\n\n{SOURCE}{source}\n\
         Derived by git-aiflow after each command; the documents are in {NOTES_REF}.\n"
    );
    // Dated and signed as the source commit, so that the same documents always give the same
    // display commit: putting `refs/notes/aiflow` back (as `exec`'s guard does) puts this back too.
    let who = repo
        .find_commit(source)
        .map_err(StoreError::Read)?
        .committer()
        .map_err(|e| StoreError::Read(gix::Error::from_error(e)))?
        .to_owned()
        .map_err(|e| StoreError::Read(gix::Error::from_error(e)))?;
    let commit = gix::objs::Commit {
        tree,
        parents: Default::default(),
        author: who.clone(),
        committer: who,
        encoding: None,
        message: message.into(),
        extra_headers: Vec::new(),
    };
    let commit = repo
        .write_object(&commit)
        .map_err(|e| StoreError::Write(gix::Error::from_error(e)))?
        .detach();
    if current == Some(commit) {
        // Nothing new to keep: what was written to memory goes with the handle.
        return Ok(Some(None));
    }
    let edit = store::cas_edit(
        DISPLAY_REF,
        current,
        commit,
        &format!("notes: summaries of {NOTES_REF} at {source}"),
    )?;
    let _flushed = crate::git::pack::flush(repo)?;
    match repo.edit_references([edit]) {
        Ok(_) => Ok(Some(Some(commit))),
        // Another git-aiflow refreshed it first: look again.
        Err(e) if store::is_transient(&e) => Ok(None),
        Err(e) => Err(StoreError::Write(e)),
    }
}

/// The notes that differ between two notes trees, as each tree has them: subtrees with the same id
/// on both sides are skipped, so the cost follows the change, not the number of notes. A note that
/// only moved to another fanout is in both, with the same blobs.
fn changed_notes(
    repo: &gix::Repository,
    old: ObjectId,
    new: ObjectId,
) -> Result<(Notes, Notes), StoreError> {
    let (mut before, mut after) = (Notes::new(), Notes::new());
    let hex_len = repo.object_hash().len_in_hex();
    diff(
        repo,
        Some(old),
        Some(new),
        &mut Vec::new(),
        hex_len,
        &mut before,
        &mut after,
    )?;
    Ok((before, after))
}

/// The note and fanout entries of `tree` (whose path so far is `prefix`), by name.
fn entries(
    repo: &gix::Repository,
    tree: Option<ObjectId>,
    prefix: usize,
    hex_len: usize,
) -> Result<BTreeMap<Vec<u8>, Entry>, StoreError> {
    let mut out = BTreeMap::new();
    let Some(tree) = tree else { return Ok(out) };
    let tree = repo.find_tree(tree).map_err(StoreError::Read)?;
    let decoded = tree
        .decode()
        .map_err(|e| StoreError::Read(gix::Error::from_error(e)))?;
    for entry in &decoded.entries {
        if let Some(e) = Entry::of(entry, prefix, hex_len) {
            out.insert(entry.filename.to_vec(), e);
        }
    }
    Ok(out)
}

/// Collect into `before` and `after` the notes below `old` and `new` that are not shared.
fn diff(
    repo: &gix::Repository,
    old: Option<ObjectId>,
    new: Option<ObjectId>,
    prefix: &mut Vec<u8>,
    hex_len: usize,
    before: &mut Notes,
    after: &mut Notes,
) -> Result<(), StoreError> {
    let a = entries(repo, old, prefix.len(), hex_len)?;
    let b = entries(repo, new, prefix.len(), hex_len)?;
    let names: std::collections::BTreeSet<&Vec<u8>> = a.keys().chain(b.keys()).collect();
    for name in names {
        let (x, y) = (a.get(name).copied(), b.get(name).copied());
        if x == y {
            continue;
        }
        let sub = |e: Option<Entry>| match e {
            Some(Entry::Fanout(t)) => Some(t),
            _ => None,
        };
        let (sx, sy) = (sub(x), sub(y));
        if sx.is_some() || sy.is_some() {
            prefix.extend_from_slice(name);
            diff(repo, sx, sy, prefix, hex_len, before, after)?;
            prefix.truncate(prefix.len() - name.len());
        }
        for (entry, out) in [(x, &mut *before), (y, &mut *after)] {
            if let Some(Entry::Note(blob)) = entry {
                let mut hex = prefix.clone();
                hex.extend_from_slice(name);
                hex.make_ascii_lowercase();
                if let Ok(id) = ObjectId::from_hex(&hex) {
                    out.entry(id).or_default().push(blob);
                }
            }
        }
    }
    Ok(())
}
