//! Every flow in brief, without decoding every note each time: what `list` prints, and where each
//! flow's note is, so that a command about one flow decodes that note alone.
//!
//! The summaries are kept in `<common git dir>/aiflow/flows.cache`, keyed by note blob id: a blob
//! never changes, so a summary read back for a blob is the one decoding it would give. The file
//! also holds the notes of one notes commit (the ref's tip when it was written); while the ref
//! still points there, the notes tree is not walked again. When the ref has moved (a note added
//! or removed by git-aiflow, by hand with `git notes`, by a fetch or a sync), the tree is walked
//! and only notes whose blobs the file does not know are read and decoded. Notes that are not
//! usable (they do not decode, are stored at two fanouts, or lose to another note of the same
//! slug) are never summarised: they are read, and reported, every time, as [`Snapshot::flows`]
//! reports them. A file that is missing, from another version, or unreadable is rebuilt; one that
//! cannot be written is skipped. Only commands that read flows (`list`, `status`) write it.
//!
//! The file holds no free text from the notes (a title may quote a key that became a secret later):
//! ids, counts, the status, the slug, the branch and the time. Titles are read from the note blobs
//! when they are printed, with a one-line parse where the cache says that gives the decoded title.

use super::{FlowEntry, LookupError, Problem, Snapshot, StoreError};
use crate::flow::FlowStatus;
use gix::ObjectId;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What the cache file starts with: its format and the version that wrote it (decoding may change
/// between versions, so another version's summaries are not used).
const HEADER: &str = concat!("aiflow-flows-cache 2 ", env!("CARGO_PKG_VERSION"));

/// One flow in brief: what `list` prints, and where its note is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The anchor commit the note is attached to.
    pub anchor: ObjectId,
    /// The flow's slug.
    pub slug: String,
    /// Its title.
    pub title: String,
    /// Its status.
    pub status: FlowStatus,
    /// Its integration branch (short name).
    pub integration_branch: String,
    /// When its document last changed.
    pub updated_at: String,
    /// Subtasks of the current plan that are not dropped.
    pub subtasks: usize,
    /// Those of them merged.
    pub merged: usize,
    /// How many documents the note held.
    pub documents: usize,
}

impl Summary {
    /// The summary of a decoded flow.
    pub fn of(entry: &FlowEntry) -> Self {
        let f = &entry.flow;
        let (subtasks, merged) = f.progress();
        Summary {
            anchor: entry.anchor,
            slug: f.slug.clone(),
            title: f.title.clone(),
            status: f.status,
            integration_branch: f.integration_branch.clone(),
            updated_at: f.updated_at.clone(),
            subtasks,
            merged,
            documents: entry.documents,
        }
    }
}

/// Every flow in brief and every note that is not a usable flow, as [`Snapshot::flows`] finds
/// them. Titles are empty until [`FlowIndex::with_titles`] fills them.
#[derive(Debug, Clone)]
pub struct FlowIndex {
    /// The notes read.
    pub snapshot: Snapshot,
    /// Flows, sorted by slug.
    pub flows: Vec<Summary>,
    /// Notes that could not be used.
    pub problems: Vec<Problem>,
    /// The flows whose summaries came from the cache file (their titles are empty until
    /// [`FlowIndex::with_titles`]), by anchor: whether [`lean_title`] gives the title.
    lean: BTreeMap<ObjectId, bool>,
}

/// What the cache knows of one note blob.
#[derive(Debug, Clone)]
enum Known {
    /// A flow (its anchor is the object the blob is the note of; its title is not kept), and
    /// whether [`lean_title`] of the blob gives its title.
    Flow(Summary, bool),
    /// Another of git-aiflow's documents, valid.
    Other,
}

/// The title of a one-document flow note read from its `title = …` line alone (the first such
/// line before any table), without decoding the document. Whether that is the decoded title is
/// checked once per blob, when it is first decoded ([`Known::Flow`]).
fn lean_title(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Title {
        title: String,
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let line = text
        .lines()
        .take_while(|l| !l.trim_start().starts_with('['))
        .find(|l| l.starts_with("title"))?;
    // `title = "…"` with nothing to unescape is the text between the quotes; else TOML decides.
    if let Some(plain) = line
        .strip_prefix("title = \"")
        .and_then(|r| r.strip_suffix('"'))
        .filter(|p| !p.contains(['"', '\\']))
    {
        return Some(plain.to_owned());
    }
    toml::from_str::<Title>(line).ok().map(|t| t.title)
}

impl FlowIndex {
    /// The index of the notes ref as it is now, titles not filled ([`FlowIndex::with_titles`]).
    /// `keep`: write the cache file when it changed (commands that read flows; others, such as
    /// `plan --print-prompt`, promise to write nothing).
    pub fn load(repo: &gix::Repository, keep: bool) -> Result<Self, StoreError> {
        let tip = super::tip(repo, super::NOTES_REF)?;
        let path = cache_path(repo);
        let cached = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| parse(&text, repo.object_hash().len_in_hex()));
        let cached_tip = cached.as_ref().map(|c| c.0);
        let (snapshot, known) = match cached {
            Some((c_tip, c_tree, notes, known)) if c_tip == tip => (
                Snapshot {
                    tip,
                    tree: c_tree,
                    notes,
                },
                known,
            ),
            Some((_, _, _, known)) => (Snapshot::at(repo, tip)?, known),
            None => (Snapshot::at(repo, tip)?, BTreeMap::new()),
        };
        let mut found = Vec::new();
        let mut problems = Vec::new();
        let mut now: BTreeMap<ObjectId, Known> = BTreeMap::new();
        let mut lean = BTreeMap::new();
        for (object, blobs) in &snapshot.notes {
            if let [blob] = blobs[..]
                && let Some(k) = known.get(&blob)
            {
                if let Known::Flow(s, l) = k {
                    let mut s = s.clone();
                    s.anchor = *object;
                    lean.insert(*object, *l);
                    found.push(s);
                }
                now.insert(blob, k.clone());
                continue;
            }
            let before = problems.len();
            let bytes = snapshot.note_bytes(repo, object)?.unwrap_or_default();
            let entry = super::read_note(repo, object, blobs, &bytes, &mut problems);
            let summary = entry.as_ref().map(Summary::of);
            if let ([blob], true) = (&blobs[..], problems.len() == before) {
                let k = match &summary {
                    Some(s) => {
                        let l = entry.as_ref().is_some_and(|e| e.documents == 1)
                            && lean_title(&bytes).as_ref() == Some(&s.title);
                        Known::Flow(s.clone(), l)
                    }
                    None => Known::Other,
                };
                now.insert(*blob, k);
            }
            found.extend(summary);
        }
        let (flows, stale) = super::resolve(repo, found, |s| super::Claim {
            slug: &s.slug,
            anchor: s.anchor,
            integration_branch: &s.integration_branch,
            updated_at: &s.updated_at,
        });
        problems.extend(stale);
        let index = FlowIndex {
            snapshot,
            flows,
            problems,
            lean,
        };
        let same_blobs = known.len() == now.len() && now.keys().all(|k| known.contains_key(k));
        if keep && (cached_tip != Some(tip) || !same_blobs) {
            write(&path, &index, &now);
        }
        Ok(index)
    }

    /// Fill in the titles the cache does not keep, reading each flow's note blob (a one-line
    /// parse where the cache says that gives the title, else a decode).
    pub fn with_titles(mut self, repo: &gix::Repository) -> Result<Self, StoreError> {
        let mut repo = repo.clone();
        // Note blobs are deltas of one another in a packed notes ref: keep their bases.
        repo.objects
            .set_pack_cache(|| Box::new(DeltaBases::with_capacity(64 << 20)));
        for s in &mut self.flows {
            let Some(lean) = self.lean.get(&s.anchor) else {
                continue; // decoded just now: it has its title
            };
            let bytes = self
                .snapshot
                .note_bytes(&repo, &s.anchor)?
                .unwrap_or_default();
            let title = lean.then(|| lean_title(&bytes)).flatten().or_else(|| {
                let blobs = self.snapshot.notes.get(&s.anchor)?;
                let entry = super::read_note(&repo, &s.anchor, blobs, &bytes, &mut Vec::new())?;
                Some(entry.flow.title)
            });
            s.title = title.ok_or_else(|| {
                StoreError::Read(gix::Error::from_error(std::io::Error::other(format!(
                    "the note on {} no longer decodes as the flow it was",
                    s.anchor
                ))))
            })?;
        }
        Ok(self)
    }

    /// [`FlowIndex::load`] for a command about the flow `slug` alone (`status <slug>`): when
    /// the cache file was written at the notes ref's tip, only its lines about the notes that
    /// claim `slug` are read, and the notes it does not summarise (every unusable note is
    /// among them, and is read and reported as always). The index then holds those flows and
    /// notes only. Anything else (no such file, another tip, no flow of that name) loads all.
    pub fn for_slug(repo: &gix::Repository, slug: &str, keep: bool) -> Result<Self, StoreError> {
        let tip = super::tip(repo, super::NOTES_REF)?;
        let text = std::fs::read_to_string(cache_path(repo)).unwrap_or_default();
        let hex_len = repo.object_hash().len_in_hex();
        let Some((tree, found, unsummarised, lean)) = lines_for(&text, hex_len, tip, slug) else {
            return Self::load(repo, keep);
        };
        let mut snapshot = Snapshot {
            tip,
            tree,
            notes: found
                .iter()
                .map(|(s, blobs)| (s.anchor, blobs.clone()))
                .collect(),
        };
        snapshot.notes.extend(unsummarised.iter().cloned());
        let mut problems = Vec::new();
        let mut flows: Vec<Summary> = found.into_iter().map(|(s, _)| s).collect();
        for (object, blobs) in &unsummarised {
            let bytes = snapshot.note_bytes(repo, object)?.unwrap_or_default();
            let entry = super::read_note(repo, object, blobs, &bytes, &mut problems);
            flows.extend(entry.as_ref().map(Summary::of).filter(|s| s.slug == slug));
        }
        if flows.is_empty() && !problems.iter().any(|p| p.slug.as_deref() == Some(slug)) {
            return Self::load(repo, keep);
        }
        let (flows, stale) = super::resolve(repo, flows, |s| super::Claim {
            slug: &s.slug,
            anchor: s.anchor,
            integration_branch: &s.integration_branch,
            updated_at: &s.updated_at,
        });
        problems.extend(stale);
        Ok(FlowIndex {
            snapshot,
            flows,
            problems,
            lean,
        })
    }

    /// The flow named `slug` in brief, or why there is none (as [`super::FlowSet::find`]).
    pub fn find(&self, slug: &str) -> Result<&Summary, LookupError> {
        super::lookup(
            slug,
            self.flows.iter().map(|s| (s.slug.as_str(), s)),
            &self.problems,
        )
    }

    /// The flow `summary` describes, decoding its note alone. `None` when the note does not
    /// read as the summary says (only a damaged cache file can do that): the caller then reads
    /// every flow.
    pub fn entry(
        &self,
        repo: &gix::Repository,
        summary: &Summary,
    ) -> Result<Option<FlowEntry>, StoreError> {
        let Some(blobs) = self.snapshot.notes.get(&summary.anchor) else {
            return Ok(None);
        };
        let bytes = self
            .snapshot
            .note_bytes(repo, &summary.anchor)?
            .unwrap_or_default();
        let mut problems = Vec::new();
        let entry = super::read_note(repo, &summary.anchor, blobs, &bytes, &mut problems);
        let same = |e: &FlowEntry| {
            let mut s = Summary::of(e);
            if self.lean.contains_key(&s.anchor) {
                s.title.clone_from(&summary.title);
            }
            s == *summary
        };
        Ok(entry.filter(|e| problems.is_empty() && same(e)))
    }
}

/// Ready `repo` for many reads (every note, many diffs, the trees of a long branch): packs kept
/// mapped, and a cache of decoded pack entries (notes, trees and blobs are mostly deltas against
/// each other in a pack; without it each read inflates its whole delta chain again).
pub fn tune(repo: &mut gix::Repository) {
    // Keep packs mapped for the whole read, as pack offsets taken earlier require.
    repo.objects.prevent_pack_unload();
    repo.objects
        .set_pack_cache(|| Box::new(DeltaBases::with_capacity(64 << 20)));
}

/// A cache of decoded pack entries (delta bases) up to a size, emptied when full: reading every
/// note blob of a packed notes ref otherwise decodes each delta chain again (gix keeps none
/// without its `pack-cache-lru-*` features). `list` and `stats` give it to their repository.
pub struct DeltaBases {
    entries: std::collections::HashMap<(u32, u64), (Vec<u8>, gix::object::Kind, usize)>,
    bytes: usize,
    capacity: usize,
}

impl DeltaBases {
    /// An empty cache of up to `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        DeltaBases {
            entries: Default::default(),
            bytes: 0,
            capacity,
        }
    }
}

impl gix::odb::pack::cache::DecodeEntry for DeltaBases {
    fn put(&mut self, pack: u32, offset: u64, data: &[u8], kind: gix::object::Kind, size: usize) {
        if data.len() > self.capacity {
            return;
        }
        if self.bytes + data.len() > self.capacity {
            self.entries.clear();
            self.bytes = 0;
        }
        self.bytes += data.len();
        self.entries
            .insert((pack, offset), (data.to_vec(), kind, size));
    }

    fn get(
        &mut self,
        pack: u32,
        offset: u64,
        out: &mut Vec<u8>,
    ) -> Option<(gix::object::Kind, usize)> {
        let (data, kind, size) = self.entries.get(&(pack, offset))?;
        out.clear();
        out.extend_from_slice(data);
        Some((*kind, *size))
    }
}

/// Where the cache lives: `<common git dir>/aiflow/flows.cache`.
fn cache_path(repo: &gix::Repository) -> PathBuf {
    repo.common_dir().join("aiflow").join("flows.cache")
}

/// A string field: JSON-quoted, so that it holds no tab or newline.
fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

fn unquote(s: &str) -> Option<String> {
    match s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(plain) if !plain.contains(['\\', '"']) => Some(plain.to_owned()),
        _ => serde_json::from_str(s).ok(),
    }
}

fn status_of(s: &str) -> Option<FlowStatus> {
    use FlowStatus::*;
    [Spec, Questions, Planned, Executing, Finished, Abandoned]
        .into_iter()
        .find(|v| v.as_str() == s)
}

/// From a cache file written at `tip` (else `None`): its tree, the flows of the `f` lines for
/// `slug` with their notes (`n` lines with those blobs), the notes of the `u` lines, and which
/// titles [`lean_title`] gives. Only those lines are parsed; the file must end in its `end` line.
#[allow(clippy::type_complexity)]
fn lines_for(
    text: &str,
    hex_len: usize,
    tip: Option<ObjectId>,
    slug: &str,
) -> Option<(
    ObjectId,
    Vec<(Summary, Vec<ObjectId>)>,
    Vec<(ObjectId, Vec<ObjectId>)>,
    BTreeMap<ObjectId, bool>,
)> {
    let id = |s: &str| (s.len() == hex_len).then(|| ObjectId::from_hex(s.as_bytes()).ok())?;
    let (header, rest) = text.split_once('\n')?;
    let (head, _) = rest.split_once('\n')?;
    let mut h = head.split('\t');
    let c_tip = match (h.next()?, h.next()?) {
        ("tip", "-") => None,
        ("tip", t) => Some(id(t)?),
        _ => return None,
    };
    let tree = id(h.next()?)?;
    let last = text.trim_end_matches('\n').rsplit('\n').next()?;
    if header != HEADER || c_tip != tip || !last.starts_with("end\t") || !text.ends_with('\n') {
        return None;
    }
    // The whole line holding byte `at`.
    let line_at = |at: usize| {
        let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
        &text[start..end]
    };
    let blobs_of = |object: &ObjectId| -> Option<Vec<ObjectId>> {
        let needle = format!("\nn\t{object}\t");
        let at = text.find(&needle)?;
        let line = line_at(at + 1);
        line.split('\t').skip(2).map(id).collect()
    };
    let mut found = Vec::new();
    let mut lean = BTreeMap::new();
    let needle = format!("\t{}\t", quote(slug));
    for (at, _) in text.match_indices(&needle) {
        let line = line_at(at);
        let f: Vec<&str> = line.split('\t').collect();
        let [
            "f",
            blob,
            documents,
            subtasks,
            merged,
            l,
            status,
            s_slug,
            branch,
            updated,
        ] = f[..]
        else {
            continue;
        };
        if unquote(s_slug)? != slug {
            continue;
        }
        let blob = id(blob)?;
        let summary = Summary {
            anchor: blob,
            slug: slug.to_owned(),
            title: String::new(),
            status: status_of(status)?,
            integration_branch: unquote(branch)?,
            updated_at: unquote(updated)?,
            subtasks: subtasks.parse().ok()?,
            merged: merged.parse().ok()?,
            documents: documents.parse().ok()?,
        };
        let l = match l {
            "0" => false,
            "1" => true,
            _ => return None,
        };
        // Every note whose one blob this is (a note copied to another object is the same blob).
        for (at, _) in text.match_indices(&format!("\t{blob}\n")) {
            let n: Vec<&str> = line_at(at).split('\t').collect();
            if let ["n", object, b] = n[..]
                && id(b) == Some(blob)
            {
                let mut s = summary.clone();
                s.anchor = id(object)?;
                lean.insert(s.anchor, l);
                found.push((s, vec![blob]));
            }
        }
    }
    let mut unsummarised = Vec::new();
    for (at, _) in text.match_indices("\nu\t") {
        let object = id(line_at(at + 1).strip_prefix("u\t")?)?;
        unsummarised.push((object, blobs_of(&object)?));
    }
    Some((tree, found, unsummarised, lean))
}

/// The file's text:
///
/// ```text
/// aiflow-flows-cache 1 <version>
/// tip <notes commit or ->  <notes tree>
/// n <object> <blob>                      (one line per note of that tree)
/// f <blob> <documents> <subtasks> <merged> <lean 0|1> <status> "<slug>" "<branch>" "<updated>"
/// u <object>                             (a note of that tree no line below summarises)
/// o <blob>                               (another valid document)
/// end <notes> <blobs> <u lines>          (how many of each: the file is whole)
/// ```
///
/// Fields are separated by tabs.
fn render(index: &FlowIndex, known: &BTreeMap<ObjectId, Known>) -> String {
    let snap = &index.snapshot;
    let mut out = String::with_capacity(64 + known.len() * 160 + snap.notes.len() * 90);
    out.push_str(HEADER);
    out.push('\n');
    let tip = snap.tip.map_or("-".to_owned(), |t| t.to_string());
    out.push_str(&format!("tip\t{tip}\t{}\n", snap.tree));
    for (object, blobs) in &snap.notes {
        out.push_str(&format!("n\t{object}"));
        for b in blobs {
            out.push('\t');
            out.push_str(&b.to_string());
        }
        out.push('\n');
    }
    let mut unsummarised = 0;
    for (object, blobs) in &snap.notes {
        if !matches!(&blobs[..], [b] if known.contains_key(b)) {
            out.push_str(&format!("u\t{object}\n"));
            unsummarised += 1;
        }
    }
    for (blob, k) in known {
        match k {
            Known::Other => out.push_str(&format!("o\t{blob}\n")),
            Known::Flow(s, lean) => out.push_str(&format!(
                "f\t{blob}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                s.documents,
                s.subtasks,
                s.merged,
                u8::from(*lean),
                s.status.as_str(),
                quote(&s.slug),
                quote(&s.integration_branch),
                quote(&s.updated_at),
            )),
        }
    }
    out.push_str(&format!(
        "end\t{}\t{}\t{unsummarised}\n",
        snap.notes.len(),
        known.len()
    ));
    out
}

/// The tip, tree, notes and known blobs of a cache file; `None` if any of it does not parse.
#[allow(clippy::type_complexity)]
fn parse(
    text: &str,
    hex_len: usize,
) -> Option<(
    Option<ObjectId>,
    ObjectId,
    BTreeMap<ObjectId, Vec<ObjectId>>,
    BTreeMap<ObjectId, Known>,
)> {
    let id = |s: &str| (s.len() == hex_len).then(|| ObjectId::from_hex(s.as_bytes()).ok())?;
    let mut lines = text.lines();
    if lines.next()? != HEADER {
        return None;
    }
    let mut head = lines.next()?.split('\t');
    if head.next()? != "tip" {
        return None;
    }
    let tip = match head.next()? {
        "-" => None,
        t => Some(id(t)?),
    };
    let tree = id(head.next()?)?;
    let mut notes = BTreeMap::new();
    let mut known = BTreeMap::new();
    let mut end = None;
    let mut unsummarised = 0;
    for line in lines {
        if end.is_some() {
            return None;
        }
        let mut f = line.split('\t');
        match f.next()? {
            "end" => {
                let n: usize = f.next()?.parse().ok()?;
                let k: usize = f.next()?.parse().ok()?;
                let u: usize = f.next()?.parse().ok()?;
                end = Some((n, k, u));
            }
            "u" => {
                id(f.next()?)?;
                unsummarised += 1;
            }
            "n" => {
                let object = id(f.next()?)?;
                let blobs = f.map(id).collect::<Option<Vec<_>>>()?;
                if blobs.is_empty() {
                    return None;
                }
                notes.insert(object, blobs);
            }
            "o" => {
                known.insert(id(f.next()?)?, Known::Other);
            }
            "f" => {
                let blob = id(f.next()?)?;
                let documents = f.next()?.parse().ok()?;
                let subtasks = f.next()?.parse().ok()?;
                let merged = f.next()?.parse().ok()?;
                let lean = match f.next()? {
                    "0" => false,
                    "1" => true,
                    _ => return None,
                };
                let status = status_of(f.next()?)?;
                let summary = Summary {
                    anchor: blob,
                    slug: unquote(f.next()?)?,
                    integration_branch: unquote(f.next()?)?,
                    updated_at: unquote(f.next()?)?,
                    title: String::new(),
                    status,
                    subtasks,
                    merged,
                    documents,
                };
                if f.next().is_some() {
                    return None;
                }
                known.insert(blob, Known::Flow(summary, lean));
            }
            _ => return None,
        }
    }
    (end? == (notes.len(), known.len(), unsummarised)).then_some((tip, tree, notes, known))
}

/// Write the file (through a temporary file and a rename, so that a reader sees the old or the
/// new file whole). Failing to write it only costs speed next time.
fn write(path: &std::path::Path, index: &FlowIndex, known: &BTreeMap<ObjectId, Known>) {
    let Some(dir) = path.parent() else {
        return;
    };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let tmp = dir.join(format!("flows.cache.{}", std::process::id()));
    if std::fs::write(&tmp, render(index, known)).is_err() || std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}
