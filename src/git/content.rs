//! Content ids: what a review binds to, so that an approval covers exactly the change a reviewer
//! saw.
//!
//! `git patch-id --stable` ignores every whitespace byte (`rm -rf /var/cache/app` and
//! `rm -rf / var/cache/app` share one) and `git patch-id --verbatim` still skips mode lines and
//! abbreviates binary changes, so neither can bind a review. A content id is a SHA-256 over the
//! change itself, as git's objects name it:
//!
//! - `c1:<hex>` for a commit with at most one parent: every path the commit changes against its
//!   first parent (or the empty tree), recursively, without rename detection, each as
//!   `<old mode> <old blob> <new mode> <new blob> <path>` (an absent side is mode `0` and the
//!   null id), sorted by path bytes. Any byte of content changes a blob id; a mode change, a
//!   rename (a deletion and an addition), a binary change all change the id. The parent commit
//!   is not part of it: a pure re-parent (a rebase onto a base where the commit's files are the
//!   same) keeps its id, and so its review.
//! - `m1:<hex>` for a merge: its tree and its parents, in order. A merge's content is what it makes
//!   of exactly these parents; re-parenting it is a different merge.
//!
//! Computed in-process from objects (through gix, which also sees a server's quarantine when
//! opened for it), so every machine computes the same id whatever its git version, diff
//! configuration or attributes.

use gix::ObjectId;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The prefix of a change's content id.
const CHANGE_PREFIX: &str = "c1:";
/// The prefix of a merge's content id.
const MERGE_PREFIX: &str = "m1:";

/// Whether `s` is a content id this build can produce.
pub fn is_content_id(s: &str) -> bool {
    let hex = s
        .strip_prefix(CHANGE_PREFIX)
        .or_else(|| s.strip_prefix(MERGE_PREFIX));
    hex.is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// Why a content id could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// An object could not be read.
    #[error("could not read object {id} to compute a content id")]
    Read {
        /// The object.
        id: ObjectId,
        /// What gix reported.
        #[source]
        source: gix::Error,
    },
}

/// One entry of a tree: its mode (as git writes it, octal) and object.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Entry {
    mode: u16,
    oid: ObjectId,
    tree: bool,
}

/// The content id of `commit`.
pub fn content_id(repo: &gix::Repository, commit: ObjectId) -> Result<String, ContentError> {
    let read = |id: ObjectId| move |source: gix::Error| ContentError::Read { id, source };
    let c = repo.find_commit(commit).map_err(read(commit))?;
    let tree = c.tree_id().map_err(read(commit))?.detach();
    let parents: Vec<ObjectId> = c.parent_ids().map(|p| p.detach()).collect();
    let mut hasher = Sha256::new();
    if parents.len() > 1 {
        hasher.update(b"aiflow merge v1\n");
        hasher.update(format!("tree {tree}\n"));
        for p in &parents {
            hasher.update(format!("parent {p}\n"));
        }
        return Ok(format!("{MERGE_PREFIX}{}", hex(&hasher.finalize())));
    }
    let old = match parents.first() {
        Some(p) => Some(
            repo.find_commit(*p)
                .map_err(read(*p))?
                .tree_id()
                .map_err(read(*p))?
                .detach(),
        ),
        None => None,
    };
    let mut changes = Vec::new();
    diff(repo, old, Some(tree), &mut Vec::new(), &mut changes)?;
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    hasher.update(b"aiflow change v1\n");
    let null = ObjectId::null(repo.object_hash());
    for (path, old, new) in &changes {
        let (om, oo) = old.map_or((0, null), |e| (e.mode, e.oid));
        let (nm, no) = new.map_or((0, null), |e| (e.mode, e.oid));
        hasher.update(format!("{om:o} {oo} {nm:o} {no} ").as_bytes());
        hasher.update(path);
        hasher.update(b"\0");
    }
    Ok(format!("{CHANGE_PREFIX}{}", hex(&hasher.finalize())))
}

type Change = (Vec<u8>, Option<Entry>, Option<Entry>);

/// The entries of tree `id` by name (empty for `None`).
fn entries(
    repo: &gix::Repository,
    id: Option<ObjectId>,
) -> Result<BTreeMap<Vec<u8>, Entry>, ContentError> {
    let mut out = BTreeMap::new();
    let Some(id) = id else {
        return Ok(out);
    };
    let read = |source: gix::Error| ContentError::Read { id, source };
    let tree = repo.find_tree(id).map_err(read)?;
    let decoded = tree.decode().map_err(|e| read(gix::Error::from_error(e)))?;
    for e in &decoded.entries {
        out.insert(
            e.filename.to_vec(),
            Entry {
                mode: e.mode.value(),
                oid: e.oid.into(),
                tree: e.mode.is_tree(),
            },
        );
    }
    Ok(out)
}

/// Collect every blob-level change between trees `old` and `new` under `prefix`.
fn diff(
    repo: &gix::Repository,
    old: Option<ObjectId>,
    new: Option<ObjectId>,
    prefix: &mut Vec<u8>,
    out: &mut Vec<Change>,
) -> Result<(), ContentError> {
    if old == new {
        return Ok(());
    }
    let (a, b) = (entries(repo, old)?, entries(repo, new)?);
    let mut names: Vec<&Vec<u8>> = a.keys().chain(b.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let (x, y) = (a.get(name).copied(), b.get(name).copied());
        if x == y {
            continue;
        }
        let len = prefix.len();
        if !prefix.is_empty() {
            prefix.push(b'/');
        }
        prefix.extend_from_slice(name);
        let tree = |e: Option<Entry>| e.filter(|e| e.tree).map(|e| e.oid);
        let blob = |e: Option<Entry>| e.filter(|e| !e.tree);
        // Subtrees are walked (their blobs are what changed); blobs are compared as they are.
        if tree(x).is_some() || tree(y).is_some() {
            diff(repo, tree(x), tree(y), prefix, out)?;
        }
        if blob(x).is_some() || blob(y).is_some() {
            out.push((prefix.clone(), blob(x), blob(y)));
        }
        prefix.truncate(len);
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
