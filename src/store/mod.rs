//! The flow store: flow documents as TOML notes under `refs/notes/aiflow`.
//!
//! Reading walks the notes tree itself (gix has no note iterator), so it understands every fanout
//! git writes, mixed fanouts, and the same object noted at two fanouts (concatenated, as git does).
//! A note that cannot be decoded becomes a [`Problem`] and never hides the other flows.
//!
//! Writing goes through gix's notes plumbing, which produces the same trees as `git notes`, and
//! commits one notes commit per operation whose parent is the previous tip. The notes ref moves by
//! compare-and-swap together with any other ref the operation creates, in one transaction; when
//! another writer got there first, the operation is recomputed on the new tip and tried again.

use crate::flow::{
    Flow,
    upgrade::{self, DecodeError},
};
use gix::ObjectId;
use gix::refs::{
    Target,
    transaction::{Change as RefChange, LogChange, PreviousValue, RefEdit, RefLog},
};
use std::collections::BTreeMap;
use std::time::Duration;

pub mod index;
pub mod merge;

/// The notes ref holding every flow.
pub const NOTES_REF: &str = "refs/notes/aiflow";

/// How many times an operation is recomputed when other writers keep moving the notes ref.
const MAX_ATTEMPTS: u32 = 200;

/// A failure of the store itself (not of one note).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading the notes ref or its objects failed.
    #[error("could not read {NOTES_REF}")]
    Read(#[source] gix::Error),
    /// The notes tree maps one object at two fanouts; gix refuses to write such a tree.
    #[error(
        "{NOTES_REF} has two notes for object {object} at different fanouts, so it cannot be updated"
    )]
    DuplicateFanout {
        /// The object noted twice.
        object: ObjectId,
    },
    /// Writing objects or moving refs failed.
    #[error("could not update {NOTES_REF}")]
    Write(#[source] gix::Error),
    /// The batch of new objects could not be written.
    #[error(transparent)]
    Pack(#[from] crate::git::pack::PackError),
    /// Other writers kept winning.
    #[error("{NOTES_REF} kept changing under {attempts} attempts to update it")]
    Contention {
        /// Attempts made.
        attempts: u32,
    },
    /// A ref to move has a name git would refuse (a forged or corrupted note can name one).
    #[error("`{name}` is not a valid ref name")]
    RefName {
        /// The name.
        name: String,
        /// Why.
        #[source]
        source: <gix::refs::FullName as TryFrom<&'static str>>::Error,
    },
    /// A document failed validation just before being written; nothing was written.
    #[error("refusing to write an invalid flow document")]
    Invalid(#[source] crate::flow::Invalid),
}

/// The notes ref at one moment: its tip and every note in it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The notes commit, if the ref exists.
    pub tip: Option<ObjectId>,
    /// The notes tree (the empty tree when the ref does not exist).
    pub tree: ObjectId,
    /// Annotated object -> note blobs (more than one when git left notes at two fanouts).
    pub notes: BTreeMap<ObjectId, Vec<ObjectId>>,
}

/// A flow read from the store.
#[derive(Debug, Clone)]
pub struct FlowEntry {
    /// The anchor commit the note is attached to.
    pub anchor: ObjectId,
    /// The document.
    pub flow: Flow,
    /// How many documents the note held (more than 1 after git concatenated notes).
    pub documents: usize,
}

/// A note that is not a usable flow document.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The annotated object.
    pub object: ObjectId,
    /// The flow the note seems to belong to, when that can be told.
    pub slug: Option<String>,
    /// What is wrong.
    pub error: ProblemKind,
}

/// What is wrong with a note.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProblemKind {
    /// The note does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Another note holds a newer document for the same slug.
    #[error("a stale copy of flow `{slug}`, whose current document is on {current}")]
    Stale {
        /// The slug both notes claim.
        slug: String,
        /// The object holding the document in use.
        current: ObjectId,
    },
    /// The object is noted at two fanouts (readable, but blocks writes).
    #[error("the note is stored twice, at two fanouts of the notes tree")]
    DuplicateFanout,
}

impl Problem {
    /// How to repair it.
    pub fn hint(&self) -> String {
        let obj = self.object.to_string();
        match &self.error {
            ProblemKind::Decode(e) => e.repair_hint(&obj),
            ProblemKind::Stale { .. } => {
                format!("remove it with `git notes --ref=aiflow remove {obj}`")
            }
            ProblemKind::DuplicateFanout => duplicate_fanout_hint(&self.object),
        }
    }

    /// One line naming the note and its flow.
    pub fn subject(&self) -> String {
        match &self.slug {
            Some(slug) => format!("the note of flow `{slug}` on {}", self.object),
            None => format!("the note on {}", self.object),
        }
    }
}

/// The command that makes git rewrite a notes tree with an object noted at two fanouts.
pub fn duplicate_fanout_hint(object: &ObjectId) -> String {
    format!("let git merge the two notes with `git notes --ref=aiflow copy -f {object} {object}`")
}

/// Every flow in the store, and every note that is not a usable flow.
#[derive(Debug, Clone, Default)]
pub struct FlowSet {
    /// Flows, sorted by slug.
    pub flows: Vec<FlowEntry>,
    /// Notes that could not be used.
    pub problems: Vec<Problem>,
}

/// Why a flow could not be found.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// No flow has this slug.
    #[error("there is no flow named `{slug}`")]
    NotFound {
        /// The slug asked for.
        slug: String,
        /// The slugs that exist.
        known: Vec<String>,
    },
    /// The flow's note exists but cannot be read.
    #[error("{} cannot be read", problem.subject())]
    Broken {
        /// The problem.
        problem: Box<Problem>,
        /// The underlying error, for the `caused by:` chain.
        #[source]
        source: ProblemKind,
    },
}

impl FlowSet {
    /// The flow named `slug`.
    pub fn find(&self, slug: &str) -> Result<&FlowEntry, LookupError> {
        lookup(
            slug,
            self.flows.iter().map(|e| (e.flow.slug.as_str(), e)),
            &self.problems,
        )
    }

    /// Whether a flow (readable or not) already claims `slug`.
    pub fn claims(&self, slug: &str) -> bool {
        self.flows.iter().any(|e| e.flow.slug == slug)
            || self
                .problems
                .iter()
                .any(|p| p.slug.as_deref() == Some(slug))
    }
}

/// The flow named `slug` among `flows` (slug, item), else the unusable note that claims it, else
/// not found (naming the slugs there are).
fn lookup<'a, T>(
    slug: &str,
    flows: impl Iterator<Item = (&'a str, &'a T)> + Clone,
    problems: &[Problem],
) -> Result<&'a T, LookupError> {
    if let Some((_, e)) = flows.clone().find(|(s, _)| *s == slug) {
        return Ok(e);
    }
    if let Some(p) = problems
        .iter()
        .find(|p| p.slug.as_deref() == Some(slug) && !matches!(p.error, ProblemKind::Stale { .. }))
    {
        return Err(LookupError::Broken {
            problem: Box::new(p.clone()),
            source: p.error.clone(),
        });
    }
    Err(LookupError::NotFound {
        slug: slug.to_string(),
        known: flows.map(|(s, _)| s.to_owned()).collect(),
    })
}

/// What a note claims, for choosing between two notes of one slug.
pub(crate) struct Claim<'a> {
    slug: &'a str,
    anchor: ObjectId,
    integration_branch: &'a str,
    updated_at: &'a str,
}

/// One flow per slug: where two notes claim a slug, [`prefer`] picks one and the other becomes a
/// stale problem. Returns the flows sorted by slug, and the problems.
fn resolve<T>(
    repo: &gix::Repository,
    found: Vec<T>,
    claim: impl Fn(&T) -> Claim<'_>,
) -> (Vec<T>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut by_slug: BTreeMap<String, T> = BTreeMap::new();
    for entry in found {
        let slug = claim(&entry).slug.to_owned();
        match by_slug.remove(&slug) {
            None => {
                by_slug.insert(slug, entry);
            }
            Some(other) => {
                let (keep, stale) = if prefer(repo, &claim(&entry), &claim(&other)) {
                    (entry, other)
                } else {
                    (other, entry)
                };
                problems.push(Problem {
                    object: claim(&stale).anchor,
                    slug: Some(slug.clone()),
                    error: ProblemKind::Stale {
                        slug: slug.clone(),
                        current: claim(&keep).anchor,
                    },
                });
                by_slug.insert(slug, keep);
            }
        }
    }
    (by_slug.into_values().collect(), problems)
}

impl Snapshot {
    /// Read the notes ref as it is now.
    pub fn load(repo: &gix::Repository) -> Result<Self, StoreError> {
        Self::at(repo, tip(repo, NOTES_REF)?)
    }

    /// Read the notes commit `tip` (another clone's notes, a merge base); `None` reads as empty.
    pub fn at(repo: &gix::Repository, tip: Option<ObjectId>) -> Result<Self, StoreError> {
        let tree = match tip {
            Some(tip) => repo
                .find_commit(tip)
                .map_err(StoreError::Read)?
                .tree_id()
                .map_err(StoreError::Read)?
                .detach(),
            None => ObjectId::empty_tree(repo.object_hash()),
        };
        let mut notes = BTreeMap::new();
        let hex_len = repo.object_hash().len_in_hex();
        let mut buf = Vec::new();
        walk(repo, tree, &mut buf, hex_len, &mut notes)?;
        Ok(Snapshot { tip, tree, notes })
    }

    /// The note's text, with notes at two fanouts joined by a blank line as git does.
    pub fn note_bytes(
        &self,
        repo: &gix::Repository,
        object: &ObjectId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(blobs) = self.notes.get(object) else {
            return Ok(None);
        };
        join_blobs(repo, blobs).map(Some)
    }

    /// Decode every flow; a note that fails to decode becomes a problem.
    pub fn flows(&self, repo: &gix::Repository) -> Result<FlowSet, StoreError> {
        self.flows_read(repo, |object| self.note_bytes(repo, object))
    }

    /// [`Snapshot::flows`], with each note's text from `read` (a caller that has read the notes
    /// already hands their text in rather than have them read again).
    pub fn flows_read(
        &self,
        repo: &gix::Repository,
        mut read: impl FnMut(&ObjectId) -> Result<Option<Vec<u8>>, StoreError>,
    ) -> Result<FlowSet, StoreError> {
        let mut problems = Vec::new();
        let mut found = Vec::new();
        for (object, blobs) in &self.notes {
            let bytes = read(object)?.unwrap_or_default();
            found.extend(read_note(repo, object, blobs, &bytes, &mut problems));
        }
        let (flows, stale) = resolve(repo, found, |e: &FlowEntry| Claim {
            slug: &e.flow.slug,
            anchor: e.anchor,
            integration_branch: &e.flow.integration_branch,
            updated_at: &e.flow.updated_at,
        });
        problems.extend(stale);
        Ok(FlowSet { flows, problems })
    }
}

/// The note on `object` (stored in `blobs`, reading `bytes`): the flow it holds, if it holds one
/// that decodes; what is wrong with it goes to `problems` (stored at two fanouts, not decoding, not
/// one of git-aiflow's documents).
pub(crate) fn read_note(
    repo: &gix::Repository,
    object: &ObjectId,
    blobs: &[ObjectId],
    bytes: &[u8],
    problems: &mut Vec<Problem>,
) -> Option<FlowEntry> {
    if blobs.len() > 1 {
        problems.push(Problem {
            object: *object,
            slug: slug_hint(repo, object, bytes),
            error: ProblemKind::DuplicateFanout,
        });
    }
    if !upgrade::looks_like_flow(bytes) {
        // Not a flow: fine if it is another document of ours; a problem otherwise.
        if let Err(e) = check_other_document(bytes) {
            problems.push(Problem {
                object: *object,
                slug: slug_hint(repo, object, bytes),
                error: e.into(),
            });
        }
        return None;
    }
    match upgrade::decode(bytes) {
        Ok(decoded) => {
            let documents = decoded.flows.len();
            Some(FlowEntry {
                anchor: *object,
                flow: decoded.newest(),
                documents,
            })
        }
        Err(e) => {
            problems.push(Problem {
                object: *object,
                slug: slug_hint(repo, object, bytes),
                error: e.into(),
            });
            None
        }
    }
}

/// The commit a notes ref (or a remote-tracking copy of one) points to, if it exists.
pub fn tip(repo: &gix::Repository, name: &str) -> Result<Option<ObjectId>, StoreError> {
    match repo.try_find_reference(name).map_err(StoreError::Read)? {
        Some(mut r) => Ok(Some(r.peel_to_id().map_err(StoreError::Read)?.detach())),
        None => Ok(None),
    }
}

/// A note that is not a flow must still be one of our documents (`schema = N` first), or
/// several of them as git concatenates them (step notes after a squash of two steps).
pub(crate) fn check_other_document(bytes: &[u8]) -> Result<(), DecodeError> {
    if bytes.len() > upgrade::MAX_NOTE {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            max: upgrade::MAX_NOTE,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| DecodeError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let table: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(_) if upgrade::split_concatenated(text).is_some() => return Ok(()),
        Err(e) => {
            return Err(DecodeError::Toml {
                message: e.to_string().trim_end().to_string(),
            });
        }
    };
    match table.get("schema") {
        None => Err(DecodeError::NoSchema),
        Some(_) => Ok(()),
    }
}

/// When two notes claim one slug, whether `a` is the one to use rather than `b`: the note on a
/// commit of the flow's integration branch wins (after a rebase with `notes.rewriteRef`, git copies
/// the note to the new anchor and leaves the old one behind), then the newer document.
fn prefer(repo: &gix::Repository, a: &Claim<'_>, b: &Claim<'_>) -> bool {
    let on_branch = |e: &Claim<'_>| -> bool {
        let full = format!("refs/heads/{}", e.integration_branch);
        let Ok(Some(tip)) = crate::git::ref_id(repo, &full) else {
            return false;
        };
        tip == e.anchor
            || repo
                .merge_base(e.anchor, tip)
                .ok()
                .flatten()
                .is_some_and(|base| base.detach() == e.anchor)
    };
    match (on_branch(a), on_branch(b)) {
        (true, false) => true,
        (false, true) => false,
        _ => a.updated_at > b.updated_at,
    }
}

/// Which flow a note that does not decode belongs to: the `Aiflow-Flow` trailer of the commit it
/// is attached to (the anchor), else a `slug = "…"` line in the note.
pub(crate) fn slug_hint(repo: &gix::Repository, object: &ObjectId, bytes: &[u8]) -> Option<String> {
    if let Ok(commit) = repo.find_commit(*object)
        && let Ok(decoded) = commit.decode()
        && let Some(slug) = decoded
            .message_trailers()
            .find(|t| {
                t.token
                    .eq_ignore_ascii_case(crate::flow::names::FLOW_KEY.as_bytes())
            })
            .map(|t| t.value.to_string())
            .filter(|s| crate::flow::validate_slug(s).is_ok())
    {
        return Some(slug);
    }
    slug_line(bytes)
}

/// The slug a note's text claims on a `slug = "…"` line, for notes that do not decode.
pub(crate) fn slug_line(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    text.lines().find_map(|l| {
        let rest = l
            .strip_prefix("slug")?
            .trim_start()
            .strip_prefix('=')?
            .trim();
        let s = rest.strip_prefix('"')?.split('"').next()?;
        (!s.is_empty() && s.len() <= 100).then(|| s.to_string())
    })
}

/// Collect the notes of `tree`, whose path so far is the hex digits in `prefix`.
fn walk(
    repo: &gix::Repository,
    tree: ObjectId,
    prefix: &mut Vec<u8>,
    hex_len: usize,
    out: &mut BTreeMap<ObjectId, Vec<ObjectId>>,
) -> Result<(), StoreError> {
    let tree = repo.find_tree(tree).map_err(StoreError::Read)?;
    let decoded = tree
        .decode()
        .map_err(|e| StoreError::Read(gix::Error::from_error(e)))?;
    for entry in &decoded.entries {
        let name: &[u8] = entry.filename.as_ref();
        match NoteEntry::of(entry, prefix.len(), hex_len) {
            Some(NoteEntry::Fanout(tree)) => {
                prefix.extend_from_slice(name);
                walk(repo, tree, prefix, hex_len, out)?;
                prefix.truncate(prefix.len() - 2);
            }
            Some(NoteEntry::Note(blob)) => {
                let mut hex = prefix.clone();
                hex.extend_from_slice(name);
                hex.make_ascii_lowercase();
                if let Ok(id) = ObjectId::from_hex(&hex) {
                    out.entry(id).or_default().push(blob);
                }
            }
            None => {}
        }
    }
    Ok(())
}

/// An entry of a notes tree, as git reads notes at any fanout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteEntry {
    /// A fanout subtree (two hex digits of the annotated object's id).
    Fanout(ObjectId),
    /// A note blob (the rest of the annotated object's id).
    Note(ObjectId),
}

impl NoteEntry {
    /// What `entry` is in a notes tree whose path so far has `prefix` hex digits; `None` for an
    /// entry that is neither (git keeps those, and so does gix when writing, and readers skip
    /// them).
    pub fn of(
        entry: &gix::objs::tree::EntryRef<'_>,
        prefix: usize,
        hex_len: usize,
    ) -> Option<Self> {
        let name: &[u8] = entry.filename.as_ref();
        if !name.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let len = prefix + name.len();
        if entry.mode.is_tree() && name.len() == 2 && len < hex_len {
            Some(NoteEntry::Fanout(entry.oid.into()))
        } else if entry.mode.is_blob() && len == hex_len {
            Some(NoteEntry::Note(entry.oid.into()))
        } else {
            None
        }
    }
}

/// What one operation changes: notes to set (`Some`) or remove (`None`), and other refs to move in
/// the same transaction.
#[derive(Debug, Default)]
pub struct Change {
    /// Notes to write or remove, by annotated object.
    pub notes: Vec<(ObjectId, Option<Vec<u8>>)>,
    /// Other ref edits, applied atomically with the notes ref.
    pub refs: Vec<RefEdit>,
}

impl Change {
    /// Whether the change does nothing.
    pub fn is_empty(&self) -> bool {
        self.notes.is_empty() && self.refs.is_empty()
    }
}

/// The result of an update.
#[derive(Debug, Clone)]
pub struct Written {
    /// The new notes commit, or `None` when the operation changed nothing.
    pub commit: Option<ObjectId>,
    /// How many attempts it took.
    pub attempts: u32,
}

/// Apply one operation to the store: `compute` sees the current snapshot and returns what to
/// change; the change is committed as one notes commit with `message`, moving the notes ref by
/// compare-and-swap together with `Change::refs`. When another writer moved the notes ref first,
/// `compute` runs again on the new snapshot.
pub fn update<E>(
    repo: &gix::Repository,
    message: &str,
    mut compute: impl FnMut(&Snapshot) -> Result<Change, E>,
) -> Result<Written, E>
where
    E: From<StoreError>,
{
    let mut rng = Jitter::new();
    for attempt in 1..=MAX_ATTEMPTS {
        let snap = Snapshot::load(repo)?;
        let change = compute(&snap)?;
        if change.is_empty() {
            return Ok(Written {
                commit: None,
                attempts: attempt,
            });
        }
        if let Some((object, _)) = snap.notes.iter().find(|(_, blobs)| blobs.len() > 1) {
            return Err(StoreError::DuplicateFanout { object: *object }.into());
        }
        let mut edits = Vec::with_capacity(1 + change.refs.len());
        let mut new_tip = snap.tip;
        if !change.notes.is_empty() {
            let tree = edit_tree(repo, snap.tree, &change.notes)?;
            if tree != snap.tree {
                let commit = repo
                    .new_commit(message, tree, snap.tip)
                    .map_err(StoreError::Write)?
                    .id;
                new_tip = Some(commit);
                edits.push(cas_edit(
                    NOTES_REF,
                    snap.tip,
                    commit,
                    &format!("notes: {message}"),
                )?);
            }
        }
        edits.extend(change.refs);
        if edits.is_empty() {
            return Ok(Written {
                commit: None,
                attempts: attempt,
            });
        }
        // Objects written to memory (a command writing many) reach the disk, as one pack, right
        // before the refs that make them reachable; the pack's `.keep` goes once they have moved.
        let _flushed = crate::git::pack::flush(repo).map_err(StoreError::from)?;
        match repo.edit_references(edits) {
            Ok(_) => {
                return Ok(Written {
                    commit: new_tip.filter(|t| Some(*t) != snap.tip),
                    attempts: attempt,
                });
            }
            Err(e) if is_transient(&e) => {
                std::thread::sleep(rng.backoff(attempt));
                continue;
            }
            Err(e) => return Err(StoreError::Write(e).into()),
        }
    }
    Err(StoreError::Contention {
        attempts: MAX_ATTEMPTS,
    }
    .into())
}

/// Write the notes tree `tree` with `notes` set (`Some`) or removed (`None`), through gix's notes
/// plumbing (the fanout git would choose; non-note entries kept).
pub fn edit_tree(
    repo: &gix::Repository,
    tree: ObjectId,
    notes: &[(ObjectId, Option<Vec<u8>>)],
) -> Result<ObjectId, StoreError> {
    let mut state =
        gix::note::plumbing::State::new(tree, &repo.objects).map_err(StoreError::Write)?;
    for (object, content) in notes {
        let blob = match content {
            Some(bytes) => Some(repo.write_blob(bytes).map_err(StoreError::Write)?.detach()),
            None => None,
        };
        state
            .edit(*object, blob, &repo.objects)
            .map_err(StoreError::Write)?;
    }
    state.write(&repo.objects).map_err(StoreError::Write)
}

/// The ref edit moving `name` from `old` (`None`: it must not exist) to `new`, with a reflog
/// entry `message`.
pub fn cas_edit(
    name: &str,
    old: Option<ObjectId>,
    new: ObjectId,
    message: &str,
) -> Result<RefEdit, StoreError> {
    let full = gix::refs::FullName::try_from(name).map_err(|source| StoreError::RefName {
        name: name.to_owned(),
        source,
    })?;
    Ok(RefEdit {
        change: RefChange::Update {
            log: LogChange {
                mode: RefLog::AndReference,
                force_create_reflog: false,
                message: message.into(),
            },
            expected: match old {
                Some(tip) => PreviousValue::MustExistAndMatch(Target::Object(tip)),
                None => PreviousValue::MustNotExist,
            },
            new: Target::Object(new),
        },
        name: full,
        deref: false,
    })
}

/// A lost compare-and-swap or a ref lock held by another writer: worth another attempt.
pub fn is_transient(e: &gix::Error) -> bool {
    if e.is_conflict() || e.can_retry() {
        return true;
    }
    let text = format!("{e:#}").to_lowercase();
    text.contains("lock") && (text.contains("could not be obtained") || text.contains("lock file"))
}

/// A small jittered exponential backoff, seeded per process so concurrent writers spread out.
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64)
            .unwrap_or(0);
        Jitter(nanos ^ (u64::from(std::process::id()) << 32) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        // xorshift64
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn backoff(&mut self, attempt: u32) -> Duration {
        let cap_ms = 1u64 << attempt.min(6); // 2, 4, … 64 ms
        Duration::from_micros(500 + self.next() % (cap_ms * 1000))
    }
}

/// A note's text from its `blobs`: notes at two fanouts joined by a blank line, as git does.
pub fn join_blobs(repo: &gix::Repository, blobs: &[ObjectId]) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    for blob in blobs {
        let data = repo.find_blob(*blob).map_err(StoreError::Read)?.take_data();
        if !out.is_empty() {
            while out.last() == Some(&b'\n') {
                out.pop();
            }
            out.extend_from_slice(b"\n\n");
        }
        out.extend_from_slice(&data);
    }
    Ok(out)
}

/// Change the flow named `slug` as one operation: `edit` sees the current flow (read again on each
/// attempt) and returns whether it changed it; a changed flow gets `stamp` as its last update and
/// is written by [`update`]. Returns what was written and the flow as it now is.
pub fn update_flow<E>(
    repo: &gix::Repository,
    slug: &str,
    message: &str,
    stamp: &crate::git::Stamp,
    mut edit: impl FnMut(&mut Flow) -> Result<bool, E>,
) -> Result<(Written, Flow), E>
where
    E: From<StoreError> + From<LookupError>,
{
    update_flow_with(repo, slug, message, stamp, |flow, _| {
        Ok(edit(flow)?.then(Change::default))
    })
}

/// Like [`update_flow`], but `edit` also sees the snapshot and returns, when it changed the flow,
/// the other notes and refs to change in the same transaction (step notes, a branch to move).
pub fn update_flow_with<E>(
    repo: &gix::Repository,
    slug: &str,
    message: &str,
    stamp: &crate::git::Stamp,
    mut edit: impl FnMut(&mut Flow, &Snapshot) -> Result<Option<Change>, E>,
) -> Result<(Written, Flow), E>
where
    E: From<StoreError> + From<LookupError>,
{
    let mut last = None;
    let written = update(repo, message, |snap| -> Result<Change, E> {
        let set = snap.flows(repo)?;
        let current = set.find(slug)?;
        let mut flow = current.flow.clone();
        let Some(mut change) = edit(&mut flow, snap)? else {
            last = Some(current.flow.clone());
            return Ok(Change::default());
        };
        flow.updated_at = stamp.at.clone();
        flow.updated_by = stamp.who.clone();
        let note = flow_note(current.anchor, &flow)?;
        last = Some(flow);
        change.notes.insert(0, note);
        Ok(change)
    })?;
    Ok((written, last.expect("the edit ran at least once")))
}

/// Write `flow` as the note on `anchor`, replacing any concatenated documents there.
pub fn flow_note(anchor: ObjectId, flow: &Flow) -> Result<(ObjectId, Option<Vec<u8>>), StoreError> {
    flow.validate().map_err(StoreError::Invalid)?;
    Ok((anchor, Some(flow.to_toml().into_bytes())))
}
