//! `stats`: read what the figures of `flow::stats` need from git alone (the notes, the step
//! commits they annotate, their diffs, the integration branch's merges), so that it works in a
//! fresh clone after `sync` and in a bare repository.

use super::WorkError;
use crate::flow::names::{FLOW_KEY, SUBTASK_KEY};
use crate::flow::stats::{self, Comparison, Facts, FlowStats, Rework, ReworkAfter, StepFact};
use crate::flow::vocab::StepAuthor;
use crate::flow::{Flow, StepNote};
use crate::git::trailers;
use crate::store::{FlowEntry, Snapshot};
use gix::ObjectId;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

/// The figures of the flows asked for, and their comparison.
#[derive(Debug, Clone)]
pub struct Report {
    /// Per flow, in the order given.
    pub flows: Vec<FlowStats>,
    /// Planned against unplanned flows.
    pub comparison: Comparison,
}

/// What to count besides the defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Follow each finished flow's lines on its base branch for this many days after its
    /// finish merge ([`ReworkAfter`]).
    pub rework_days: Option<u32>,
}

/// A step commit as read from git: its facts, parent and tree.
struct StepCommit {
    fact: StepFact,
    id: ObjectId,
    parent: Option<ObjectId>,
    tree: ObjectId,
}

pub use crate::store::index::tune;

/// The notes read once: a snapshot holding only the flow documents' notes (for
/// [`Snapshot::flows`], which then decodes no step note), and every step note, parsed.
#[derive(Debug, Clone)]
pub struct Notes {
    /// Every note but the step notes: the flow documents, our other documents and the notes
    /// that cannot be read (which [`Snapshot::flows`] reports).
    pub flows: Snapshot,
    /// The text of those notes, read once.
    texts: HashMap<ObjectId, Vec<u8>>,
    /// The step notes: the noted commit and the note.
    pub steps: Vec<(ObjectId, StepNote)>,
}

/// Split `snapshot`'s notes into step notes, parsed, and the rest (flow documents, our other
/// documents, unreadable notes), reading each once.
pub fn read_notes(repo: &gix::Repository, snapshot: &Snapshot) -> Result<Notes, WorkError> {
    let mut flows = std::collections::BTreeMap::new();
    let mut texts = HashMap::new();
    let mut steps = Vec::new();
    for (object, blobs) in in_pack_order(repo, &snapshot.notes) {
        let Some(bytes) = snapshot.note_bytes(repo, object)? else {
            continue;
        };
        if blobs.len() == 1
            && !crate::flow::upgrade::looks_like_flow(&bytes)
            && contains(&bytes, b"kind = \"step\"")
            && let Ok(note) = StepNote::parse(&String::from_utf8_lossy(&bytes))
        {
            steps.push((*object, note));
        } else {
            // Flow documents, and everything else for [`Snapshot::flows`] to judge: our other
            // documents pass, an unreadable note is reported as `list` and `status` report it.
            flows.insert(*object, blobs.clone());
            texts.insert(*object, bytes);
        }
    }
    Ok(Notes {
        flows: Snapshot {
            tip: snapshot.tip,
            tree: snapshot.tree,
            notes: flows,
        },
        texts,
        steps,
    })
}

/// `notes` in the order their blobs lie in the packs (loose ones last). A delta's base lies
/// before it in a pack, and the cache of [`tune`] keeps each object read: read in this order,
/// each delta's base is at hand and no delta chain is inflated twice (in the order of the
/// annotated objects, a third of the objects read were bases inflated again).
fn in_pack_order<'a>(
    repo: &gix::Repository,
    notes: &'a BTreeMap<ObjectId, Vec<ObjectId>>,
) -> Vec<(&'a ObjectId, &'a Vec<ObjectId>)> {
    use gix::odb::pack::Find;
    let mut buf = Vec::new();
    let mut out: Vec<_> = notes
        .iter()
        .map(|(object, blobs)| {
            let at = blobs
                .first()
                .and_then(|b| repo.objects.location_by_oid(b, &mut buf).ok().flatten())
                .map_or((u32::MAX, u64::MAX), |l| (l.pack_id, l.pack_offset));
            (at, object, blobs)
        })
        .collect();
    out.sort_unstable_by_key(|(at, object, _)| (*at, **object));
    out.into_iter().map(|(_, o, b)| (o, b)).collect()
}

impl Notes {
    /// The flows of [`Notes::flows`] and its problems, decoded from the text read already.
    pub fn flow_set(&self, repo: &gix::Repository) -> Result<crate::store::FlowSet, WorkError> {
        Ok(self
            .flows
            .flows_read(repo, |object| Ok(self.texts.get(object).cloned()))?)
    }
}

/// The figures of `entries`' flows, from `notes` and the repository.
pub fn stats(
    repo: &gix::Repository,
    notes: &Notes,
    entries: &[&FlowEntry],
    options: &Options,
) -> Result<Report, WorkError> {
    let wanted: HashMap<&str, usize> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.flow.slug.as_str(), i))
        .collect();
    let mut steps: Vec<Vec<StepCommit>> = entries.iter().map(|_| Vec::new()).collect();
    for (object, note) in &notes.steps {
        let Some(&i) = wanted.get(note.flow.as_str()) else {
            continue;
        };
        // A noted object that is not here (a clone without the branch) is left out.
        let Ok(commit) = repo.find_commit(*object) else {
            continue;
        };
        let Ok(tree) = commit.tree_id() else { continue };
        let tree = tree.detach();
        // The note's `at`; else the author date, which approval keeps when it rewrites the
        // commit (the committer date becomes the approval's).
        let author = commit.author().ok().and_then(|a| a.time().ok());
        let Some(time) = crate::flow::epoch(&note.at).or(author.map(|t| t.seconds)) else {
            continue;
        };
        let parent = commit.parent_ids().next().map(|p| p.detach());
        let test = note
            .test
            .as_ref()
            .filter(|t| ObjectId::from_hex(t.tree.as_bytes()).ok() == Some(tree))
            .map(|t| t.passed());
        steps[i].push(StepCommit {
            fact: StepFact {
                commit: object.to_string(),
                subtask: note.subtask.clone(),
                step: note.step,
                by: note.by.clone(),
                time,
                test,
            },
            id: *object,
            parent,
            tree,
        });
    }
    // Approval rewrites step commits and copies their notes, so a step can be noted on its
    // original and its rewritten commit: same subtask, number and tree. Keep one of each.
    for list in &mut steps {
        list.sort_by(|a, b| {
            (&a.fact.subtask, a.fact.step, a.tree, a.id).cmp(&(
                &b.fact.subtask,
                b.fact.step,
                b.tree,
                b.id,
            ))
        });
        list.dedup_by(|a, b| {
            a.fact.subtask == b.fact.subtask && a.fact.step == b.fact.step && a.tree == b.tree
        });
    }
    let rules = trailers::Rules::from_config(&repo.config_snapshot());
    let mut flows = Vec::with_capacity(entries.len());
    for (entry, mut list) in entries.iter().zip(steps) {
        list.sort_by(|a, b| {
            (a.fact.time, &a.fact.subtask, a.fact.step, a.id).cmp(&(
                b.fact.time,
                &b.fact.subtask,
                b.fact.step,
                b.id,
            ))
        });
        let mut seen = Seen::default();
        let (mut rework, tracked) = rework(repo, &list, &mut seen)?;
        if let Some(days) = options.rework_days {
            rework.after_finish = rework_after(repo, &entry.flow, &list, tracked, days, &mut seen)?;
        }
        let facts = Facts {
            rework,
            merges: merges(repo, entry, &rules),
            steps: list.into_iter().map(|s| s.fact).collect(),
        };
        flows.push(stats::compute(&entry.flow, &facts));
    }
    let comparison = stats::compare(&flows);
    Ok(Report { flows, comparison })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else {
        return true;
    };
    hay.windows(needle.len())
        .any(|w| w[0] == first && w == needle)
}

/// The flow's integration tip: its branch, a remote-tracking copy of it (a fresh clone after
/// `sync`), or the second parent of its finish merge.
fn integration_tip(repo: &gix::Repository, flow: &Flow) -> Option<ObjectId> {
    let branch = &flow.integration_branch;
    if let Some(tip) = crate::git::branch_tip(repo, branch) {
        return Some(tip);
    }
    for remote in repo.remote_names() {
        let name = format!("refs/remotes/{remote}/{branch}");
        if let Ok(Some(tip)) = crate::git::ref_id(repo, &name) {
            return Some(tip);
        }
    }
    let finish = ObjectId::from_hex(flow.finished.as_ref()?.commit.as_bytes()).ok()?;
    let commit = repo.find_commit(finish).ok()?;
    commit.parent_ids().nth(1).map(|p| p.detach())
}

/// Subtask -> the committer date of its merge on the integration branch (the latest, if it was
/// merged twice): merge commits on the first-parent line from the tip to the anchor carrying
/// `Aiflow-Flow` and `Aiflow-Subtask`.
fn merges(
    repo: &gix::Repository,
    entry: &FlowEntry,
    rules: &trailers::Rules,
) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    let Some(tip) = integration_tip(repo, &entry.flow) else {
        return out;
    };
    // `integrate` merges onto the integration branch, so its merges are on the first-parent
    // line from the tip down to the anchor.
    let mut next = Some(tip);
    let mut budget = 1_000_000u32;
    while let Some(id) = next.take() {
        budget = budget.saturating_sub(1);
        if id == entry.anchor || budget == 0 {
            break;
        }
        let Ok(c) = repo.find_commit(id) else { break };
        let mut parents = c.parent_ids();
        next = parents.next().map(|p| p.detach());
        if parents.next().is_none() {
            continue;
        }
        let pairs = trailers::parse_commit(c.message_raw_sloppy(), rules);
        let value = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key.as_bytes()))
                .map(|(_, v)| String::from_utf8_lossy(v.trim_ascii()).into_owned())
        };
        if value(FLOW_KEY).as_deref() != Some(entry.flow.slug.as_str()) {
            continue;
        }
        let (Some(id), Ok(time)) = (value(SUBTASK_KEY), c.time()) else {
            continue;
        };
        let t = out.entry(id).or_insert(time.seconds);
        *t = (*t).max(time.seconds);
    }
    out
}

/// A file's change between two trees: its path and its blob before and after.
type BlobChange = (Vec<u8>, Option<ObjectId>, Option<ObjectId>);

/// What the rework walk leaves behind for [`rework_after`]: per path the steps changed, the
/// last blob a step gave it; and per blob a step wrote, the origin of each line.
#[derive(Default)]
struct Tracked {
    last: HashMap<Vec<u8>, Option<ObjectId>>,
    origins: HashMap<ObjectId, Vec<Option<usize>>>,
}

/// Rework: walk the steps in order, diff each against its first parent, and follow the lines
/// each step added (keyed by the blob that holds them) until a later step removes them.
fn rework(
    repo: &gix::Repository,
    steps: &[StepCommit],
    seen: &mut Seen,
) -> Result<(Rework, Tracked), WorkError> {
    let mut t = Tracked::default();
    let mut r = Rework::default();
    let empty = ObjectId::empty_tree(repo.object_hash());
    // A step's parent is mostly the step before, whose tree is known.
    let trees: HashMap<ObjectId, ObjectId> = steps.iter().map(|s| (s.id, s.tree)).collect();
    for (i, s) in steps.iter().enumerate() {
        let parent_tree = match s.parent {
            Some(p) if trees.contains_key(&p) => trees[&p],
            Some(p) => match repo.find_commit(p).ok().and_then(|c| c.tree_id().ok()) {
                Some(t) => t.detach(),
                None => continue,
            },
            None => empty,
        };
        let mut changes = Vec::new();
        diff_trees(
            repo,
            Some(parent_tree),
            Some(s.tree),
            &mut Vec::new(),
            &mut changes,
            seen,
        )?;
        for (path, old, new) in changes {
            let Some((lines, added, removed)) = follow(
                repo,
                seen,
                old.and_then(|o| t.origins.get(&o)),
                old,
                new,
                Some(i),
            )?
            else {
                continue;
            };
            r.written += added;
            for j in removed.into_iter().filter(|j| *j != i) {
                count(&mut r.lines, &mut r.by_agent, &mut r.by_person, &steps[j]);
            }
            if let Some(n) = new {
                t.origins.insert(n, lines);
            }
            t.last.insert(path, new);
        }
    }
    Ok((r, t))
}

/// Count one reworked line written by `step`.
fn count(lines: &mut u64, by_agent: &mut u64, by_person: &mut u64, step: &StepCommit) {
    *lines += 1;
    match step.fact.by {
        StepAuthor::Agent => *by_agent += 1,
        _ => *by_person += 1,
    }
}

/// One file's change from blob `old` to `new` (either absent), `known` giving the origins of
/// `old`'s lines: the origins of `new`'s lines, the lines added, and the origins of the lines
/// removed. `None` for a binary file.
#[allow(clippy::type_complexity)]
fn follow(
    repo: &gix::Repository,
    seen: &mut Seen,
    known: Option<&Vec<Option<usize>>>,
    old: Option<ObjectId>,
    new: Option<ObjectId>,
    step: Option<usize>,
) -> Result<Option<(Vec<Option<usize>>, u64, Vec<usize>)>, WorkError> {
    let old_data = blob(repo, old, seen)?;
    let new_data = blob(repo, new, seen)?;
    if is_binary(&old_data) || is_binary(&new_data) {
        return Ok(None);
    }
    let a: Vec<&[u8]> = old_data.split_inclusive(|b| *b == b'\n').collect();
    let b: Vec<&[u8]> = new_data.split_inclusive(|b| *b == b'\n').collect();
    Ok(Some(stats::track_lines(
        known.map_or(&[][..], Vec::as_slice),
        &a,
        &b,
        step,
    )))
}

/// Rework after the finish: the lines of the flow's steps that are in the finish merge's tree,
/// followed along the base branch's first-parent line through the commits made within `days`
/// after the finish merge. `None` when the flow is not finished, or its finish merge is not on
/// the base branch's first-parent line (nothing to follow it by).
fn rework_after(
    repo: &gix::Repository,
    flow: &Flow,
    steps: &[StepCommit],
    tracked: Tracked,
    days: u32,
    seen: &mut Seen,
) -> Result<Option<ReworkAfter>, WorkError> {
    let Some(finish) = flow
        .finished
        .as_ref()
        .and_then(|f| ObjectId::from_hex(f.commit.as_bytes()).ok())
    else {
        return Ok(None);
    };
    let Some(tip) = base_tip(repo, flow) else {
        return Ok(None);
    };
    let Ok(finish_commit) = repo.find_commit(finish) else {
        return Ok(None);
    };
    let Ok(finish_time) = finish_commit.time() else {
        return Ok(None);
    };
    let end = finish_time.seconds + i64::from(days) * 86_400;
    // The first-parent line from the tip down to the finish merge: (commit, tree), newest first.
    let mut line = Vec::new();
    let mut next = Some(tip);
    let mut found = false;
    while let Some(id) = next.take() {
        if id == finish {
            found = true;
            break;
        }
        let Ok(c) = repo.find_commit(id) else { break };
        let (Ok(tree), Ok(time)) = (c.tree_id(), c.time()) else {
            break;
        };
        next = c.parent_ids().next().map(|p| p.detach());
        line.push((tree.detach(), time.seconds));
    }
    if !found {
        return Ok(None);
    }
    let mut after = ReworkAfter {
        days,
        ..ReworkAfter::default()
    };
    // The flow's lines as the finish merge holds them: per path the steps changed, the blob
    // there, with the origins of its lines (through a diff from the last step's blob where the
    // integration changed the file further).
    let mut tree = finish_commit
        .tree_id()
        .map_err(|e| WorkError::Store(crate::store::StoreError::Read(e)))?
        .detach();
    let mut state: HashMap<Vec<u8>, (ObjectId, Vec<Option<usize>>)> = HashMap::new();
    for (path, last) in &tracked.last {
        let Some(at_finish) = blob_at(repo, tree, path, seen)? else {
            continue;
        };
        let origins = match tracked.origins.get(&at_finish) {
            Some(o) => o.clone(),
            None => {
                let known = last.and_then(|l| tracked.origins.get(&l));
                match follow(repo, seen, known, *last, Some(at_finish), None)? {
                    Some((origins, _, _)) => origins,
                    None => continue,
                }
            }
        };
        if origins.iter().any(Option::is_some) {
            state.insert(path.clone(), (at_finish, origins));
        }
    }
    for (next_tree, time) in line.into_iter().rev() {
        if time > end {
            break;
        }
        after.commits += 1;
        let mut changes = Vec::new();
        diff_trees(
            repo,
            Some(tree),
            Some(next_tree),
            &mut Vec::new(),
            &mut changes,
            seen,
        )?;
        tree = next_tree;
        for (path, old, new) in changes {
            let Some((blob_id, origins)) = state.remove(&path) else {
                continue;
            };
            if old != Some(blob_id) {
                continue;
            }
            let Some((lines, _, removed)) = follow(repo, seen, Some(&origins), old, new, None)?
            else {
                continue;
            };
            for j in removed {
                count(
                    &mut after.lines,
                    &mut after.by_agent,
                    &mut after.by_person,
                    &steps[j],
                );
            }
            if let Some(n) = new
                && lines.iter().any(Option::is_some)
            {
                state.insert(path, (n, lines));
            }
        }
    }
    Ok(Some(after))
}

/// The tip of the branch `flow` started from: the local branch, else a remote-tracking copy.
fn base_tip(repo: &gix::Repository, flow: &Flow) -> Option<ObjectId> {
    let full = flow.base_ref.as_deref()?;
    if let Ok(Some(tip)) = crate::git::ref_id(repo, full) {
        return Some(tip);
    }
    let short = full.strip_prefix("refs/heads/")?;
    repo.remote_names().into_iter().find_map(|remote| {
        crate::git::ref_id(repo, &format!("refs/remotes/{remote}/{short}"))
            .ok()
            .flatten()
    })
}

/// The blob at `path` (`a/b/c`) in `tree`, if it is a file there.
fn blob_at(
    repo: &gix::Repository,
    tree: ObjectId,
    path: &[u8],
    seen: &mut Seen,
) -> Result<Option<ObjectId>, WorkError> {
    let mut tree = tree;
    let mut parts = path.split(|b| *b == b'/').peekable();
    while let Some(name) = parts.next() {
        let e = entries(repo, Some(tree), seen)?;
        let Some(&(id, is_tree)) = e.get(name) else {
            return Ok(None);
        };
        match (parts.peek().is_some(), is_tree) {
            (true, true) => tree = id,
            (false, false) => return Ok(Some(id)),
            _ => return Ok(None),
        }
    }
    Ok(None)
}

fn blob(
    repo: &gix::Repository,
    id: Option<ObjectId>,
    seen: &mut Seen,
) -> Result<Rc<Vec<u8>>, WorkError> {
    let Some(id) = id else {
        return Ok(Rc::default());
    };
    if let Some(b) = seen.blobs.get(&id) {
        return Ok(Rc::clone(b));
    }
    let data = Rc::new(
        repo.find_blob(id)
            .map_err(|e| WorkError::Store(crate::store::StoreError::Read(e)))?
            .take_data(),
    );
    seen.blobs.insert(id, Rc::clone(&data));
    Ok(data)
}

/// Git's rule: a NUL in the first 8000 bytes makes a file binary.
fn is_binary(data: &[u8]) -> bool {
    data.iter().take(8000).any(|b| *b == 0)
}

/// A tree's entries by name: (blob or tree id, whether a tree).
type Entries = BTreeMap<Vec<u8>, (ObjectId, bool)>;

/// What one flow's diffs have read: trees' entries and blobs, by id (a step's old side is
/// mostly the step before's new side).
#[derive(Default)]
struct Seen {
    trees: HashMap<ObjectId, Rc<Entries>>,
    blobs: HashMap<ObjectId, Rc<Vec<u8>>>,
}

/// The entries of tree `id` (none for `None`), submodules aside; read once per flow.
fn entries(
    repo: &gix::Repository,
    id: Option<ObjectId>,
    seen: &mut Seen,
) -> Result<Rc<Entries>, WorkError> {
    let Some(id) = id else {
        return Ok(Rc::default());
    };
    if let Some(e) = seen.trees.get(&id) {
        return Ok(Rc::clone(e));
    }
    let mut out = BTreeMap::new();
    let read = |e: gix::Error| WorkError::Store(crate::store::StoreError::Read(e));
    let tree = repo.find_tree(id).map_err(read)?;
    let decoded = tree.decode().map_err(|e| read(gix::Error::from_error(e)))?;
    for e in &decoded.entries {
        if e.mode.is_commit() {
            continue;
        }
        out.insert(e.filename.to_vec(), (e.oid.into(), e.mode.is_tree()));
    }
    let out = Rc::new(out);
    seen.trees.insert(id, Rc::clone(&out));
    Ok(out)
}

/// Every blob that differs between trees `old` and `new`, under `prefix`.
fn diff_trees(
    repo: &gix::Repository,
    old: Option<ObjectId>,
    new: Option<ObjectId>,
    prefix: &mut Vec<u8>,
    out: &mut Vec<BlobChange>,
    seen: &mut Seen,
) -> Result<(), WorkError> {
    if old == new {
        return Ok(());
    }
    let (a, b) = (entries(repo, old, seen)?, entries(repo, new, seen)?);
    let mut names: Vec<&Vec<u8>> = a.keys().chain(b.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let (x, y) = (a.get(name), b.get(name));
        if x == y {
            continue;
        }
        let len = prefix.len();
        prefix.extend_from_slice(name);
        let tree = |e: Option<&(ObjectId, bool)>| e.filter(|e| e.1).map(|e| e.0);
        let file = |e: Option<&(ObjectId, bool)>| e.filter(|e| !e.1).map(|e| e.0);
        if tree(x).is_some() || tree(y).is_some() {
            prefix.push(b'/');
            diff_trees(repo, tree(x), tree(y), prefix, out, seen)?;
            prefix.truncate(len + name.len());
        }
        if file(x) != file(y) {
            out.push((prefix.clone(), file(x), file(y)));
        }
        prefix.truncate(len);
    }
    Ok(())
}
