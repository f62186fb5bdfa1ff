//! Merge verification: a merge commit is exempt from review only when its tree is exactly what
//! git's automatic merge of its parents gives, as `git log --remerge-diff` would show it: no
//! hand-resolved conflict, nothing slipped in with `merge --no-commit`, no amended merge, no
//! reviewed change dropped.
//!
//! Most merges are settled without running git: when the two parents have one merge base and
//! every path changed on at most one side, the automatic result is fixed path by path (a path
//! takes the side that changed it; renames are detected per side, so they cannot change that),
//! and the merge's tree is compared against it while walking only the subtrees that differ.
//! Everything else (content merges, a path both sides changed, several merge bases, and every
//! mismatch, so that a refusal is git's own verdict) goes to one `git log --remerge-diff` run:
//! the reference itself, with git's default rename settings whatever the local config says.
//! Octopus merges are never exempt: git has no automatic result to compare them with.

use crate::git::cli::{self as git, GitError};
use gix::ObjectId;

/// A merge commit to verify.
#[derive(Debug, Clone)]
pub struct MergeCommit {
    /// The merge.
    pub id: ObjectId,
    /// Its parents, in order.
    pub parents: Vec<ObjectId>,
    /// Its tree.
    pub tree: ObjectId,
}

/// What a merge is, against the automatic merge of its parents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Its tree is the automatic merge (what `git show --remerge-diff` shows as empty).
    Clean,
    /// The automatic merge conflicts, and the tree holds a resolution someone made.
    Conflicted {
        /// The conflicted paths.
        paths: Vec<String>,
    },
    /// The automatic merge is clean but the tree differs from it.
    Differs {
        /// The paths that differ.
        paths: Vec<String>,
    },
    /// More than two parents: git has no automatic result to compare with.
    Octopus,
}

impl Verdict {
    /// A sentence for people.
    pub fn describe(&self) -> String {
        match self {
            Verdict::Clean => "a clean automatic merge".into(),
            Verdict::Conflicted { paths } => format!(
                "its parents conflict in {}; the resolution is content nobody reviewed",
                paths.join(", ")
            ),
            Verdict::Differs { paths } => format!(
                "its tree differs from the automatic merge of its parents in {} (`git show --remerge-diff` shows how)",
                paths.join(", ")
            ),
            Verdict::Octopus => {
                "an octopus merge, which the gate cannot compare with an automatic merge".into()
            }
        }
    }
}

/// Why merges could not be verified. The gate fails closed on these.
#[derive(Debug, thiserror::Error)]
pub enum RemergeError {
    /// Reading commits or trees failed.
    #[error("could not read {what} to verify merge {merge}")]
    Read {
        /// The merge being verified.
        merge: ObjectId,
        /// What was read.
        what: String,
        /// What gix reported.
        #[source]
        source: gix::Error,
    },
    /// git's merge failed.
    #[error(transparent)]
    Git(#[from] GitError),
}

/// Verify `merges` in `repo`; one verdict each, in order.
pub fn verify(
    repo: &gix::Repository,
    merges: &[MergeCommit],
) -> Result<Vec<Verdict>, RemergeError> {
    let mut verdicts = vec![Verdict::Clean; merges.len()];
    let mut by_git = Vec::new();
    let graph_cache = repo.commit_graph_if_enabled().ok().flatten();
    let mut graph = repo.revision_graph(graph_cache.as_ref());
    let mut trivial = Trivial::default();
    for (i, m) in merges.iter().enumerate() {
        let read = |what: String| {
            move |source: gix::Error| RemergeError::Read {
                merge: m.id,
                what,
                source,
            }
        };
        let [ours, theirs] = m.parents[..] else {
            verdicts[i] = Verdict::Octopus;
            continue;
        };
        // gix clears every commit the graph holds before and after each search: starting
        // empty keeps that to the commits this merge's search touches.
        graph.clear();
        let bases = repo
            .merge_bases_many_with_graph(ours, &[theirs], &mut graph)
            .map_err(read("the merge bases of its parents".into()))?;
        let [base] = bases[..] else {
            by_git.push(i);
            continue;
        };
        // From the commit-graph when there is one: no commit to inflate.
        let tree_of = |id: ObjectId| -> Result<ObjectId, RemergeError> {
            if let Some(c) = graph_cache.as_ref().and_then(|g| g.commit_by_id(id)) {
                return Ok(c.root_tree_id().to_owned());
            }
            Ok(repo
                .find_commit(id)
                .map_err(read(format!("commit {id}")))?
                .tree_id()
                .map_err(read(format!("commit {id}")))?
                .detach())
        };
        let (b, o, t) = (tree_of(base.detach())?, tree_of(ours)?, tree_of(theirs)?);
        let outcome = trivial
            .dir(repo, [Some(&b), Some(&o), Some(&t), Some(&m.tree)], 0)
            .map_err(read("trees".into()))?;
        if outcome != Outcome::Same {
            by_git.push(i);
        }
    }
    if !by_git.is_empty() {
        let asked: Vec<&MergeCommit> = by_git.iter().map(|&i| &merges[i]).collect();
        for (&i, v) in by_git.iter().zip(remerge_diff(repo, &asked)?) {
            verdicts[i] = v;
        }
    }
    Ok(verdicts)
}

/// Ask git itself, in one `git log --remerge-diff` run, what each merge changed against the
/// automatic merge of its parents: nothing for a clean merge. External diff drivers, textconv,
/// ignored submodules and relative diffs are off whatever the config says (each could hide a
/// difference), and the rename settings are git's defaults.
fn remerge_diff(repo: &gix::Repository, merges: &[&MergeCommit]) -> Result<Vec<Verdict>, GitError> {
    let args: Vec<String> = [
        "-c",
        "merge.renames=true",
        "-c",
        "merge.directoryRenames=conflict",
        "log",
        "--no-walk=unsorted",
        "--stdin",
        "--remerge-diff",
        "--no-ext-diff",
        "--no-textconv",
        "--ignore-submodules=none",
        "--no-relative",
        "--no-color",
        "--format=aiflow-merge %H",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let input: String = merges.iter().map(|m| format!("{}\n", m.id)).collect();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = git::checked(
        &crate::git::run_dir(repo),
        &argv,
        &[],
        Some(input.as_bytes()),
    )?;
    let mut found: std::collections::HashMap<ObjectId, (bool, Vec<String>, bool)> =
        std::collections::HashMap::new();
    let mut current: Option<ObjectId> = None;
    for line in String::from_utf8_lossy(&out).lines() {
        if let Some(id) = line.strip_prefix("aiflow-merge ") {
            current = ObjectId::from_hex(id.trim().as_bytes()).ok();
            if let Some(c) = current {
                found.insert(c, (false, Vec::new(), false));
            }
            continue;
        }
        let Some(entry) = current.and_then(|c| found.get_mut(&c)) else {
            continue;
        };
        if line.trim().is_empty() {
            continue;
        }
        entry.0 = true;
        if line.starts_with("remerge CONFLICT") {
            entry.2 = true;
        }
        if let Some(rest) = line.strip_prefix("diff --git a/")
            && let Some((path, _)) = rest.split_once(" b/")
            && !entry.1.iter().any(|p| p == path)
        {
            entry.1.push(path.to_owned());
        }
    }
    merges
        .iter()
        .map(|m| match found.remove(&m.id) {
            None => Err(GitError::Protocol {
                args: args.join(" "),
                problem: format!("no result for merge {}", m.id),
            }),
            Some((false, _, _)) => Ok(Verdict::Clean),
            Some((true, paths, true)) => Ok(Verdict::Conflicted { paths }),
            Some((true, paths, false)) => Ok(Verdict::Differs { paths }),
        })
        .collect()
}

/// One entry of a tree, borrowed from its object's bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Entry<'a> {
    name: &'a [u8],
    tree: bool,
    mode: u16,
    oid: &'a gix::oid,
}

impl<'a> Entry<'a> {
    /// The value a merge compares: what the path holds.
    fn value(&self) -> (u16, &'a gix::oid) {
        (self.mode, self.oid)
    }
}

/// The next entry of a tree.
fn next_entry<'a>(it: &mut gix::objs::TreeRefIter<'a>) -> Result<Option<Entry<'a>>, gix::Error> {
    match it.next() {
        None => Ok(None),
        Some(Err(e)) => Err(gix::Error::from_error(e)),
        Some(Ok(e)) => Ok(Some(Entry {
            name: e.filename,
            tree: e.mode.is_tree(),
            mode: e.mode.value(),
            oid: e.oid,
        })),
    }
}

/// The tree an entry names, if it is one.
fn subtree<'a>(e: Option<Entry<'a>>) -> Option<&'a gix::oid> {
    e.filter(|e| e.tree).map(|e| e.oid)
}

/// git's order of tree entries: by name, a tree's name compared as if it ended in `/`.
fn git_order(a: &Entry<'_>, b: &Entry<'_>) -> std::cmp::Ordering {
    let n = a.name.len().min(b.name.len());
    a.name[..n].cmp(&b.name[..n]).then_with(|| {
        let end = |e: &Entry<'_>| {
            e.name
                .get(n)
                .copied()
                .unwrap_or(if e.tree { b'/' } else { 0 })
        };
        end(a).cmp(&end(b))
    })
}

/// How a directory compares with the path-by-path automatic merge.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The merge's directory is the automatic result.
    Same,
    /// It is not.
    Differs,
    /// A path changed on both sides: only a real merge can tell.
    Full,
}

/// The path-by-path merge, reading trees into buffers kept from one merge to the next (one set
/// of four per directory level).
#[derive(Default)]
struct Trivial {
    levels: Vec<[Vec<u8>; 4]>,
}

impl Trivial {
    /// Compare directory `[base, ours, theirs, result]` (tree ids; `None` for absent).
    ///
    /// A path changed on one side takes that side. Changed differently on both sides, two
    /// directories are compared entry by entry; anything else needs a real merge. So does a path
    /// both sides changed the same way: a deletion on both sides may be two renames of one file,
    /// which git reports as a conflict. Entries are walked in git's order, the four trees side
    /// by side, so only differing subtrees are read.
    fn dir(
        &mut self,
        repo: &gix::Repository,
        ids: [Option<&gix::oid>; 4],
        depth: usize,
    ) -> Result<Outcome, gix::Error> {
        use gix::objs::Find;
        if self.levels.len() <= depth {
            self.levels.push(Default::default());
        }
        let mut bufs = std::mem::take(&mut self.levels[depth]);
        let hash = repo.object_hash();
        let mut iters: Vec<gix::objs::TreeRefIter<'_>> = Vec::with_capacity(4);
        // Read the four trees (absent ones read as empty).
        let mut lens = [0usize; 4];
        for (i, id) in ids.iter().enumerate() {
            bufs[i].clear();
            if let Some(id) = id {
                let data = repo
                    .objects
                    .try_find(id, &mut bufs[i])?
                    .ok_or_else(|| gix::Error::from_error(MissingTree((*id).to_owned())))?;
                lens[i] = data.data.len();
            }
        }
        for (i, b) in bufs.iter().enumerate() {
            iters.push(gix::objs::TreeRefIter::from_bytes(&b[..lens[i]], hash));
        }
        let mut heads: [Option<Entry<'_>>; 4] = [None; 4];
        let mut its: Vec<gix::objs::TreeRefIter<'_>> = iters;
        for i in 0..4 {
            heads[i] = next_entry(&mut its[i])?;
        }
        let mut outcome = Outcome::Same;
        while let Some(min) = heads
            .iter()
            .flatten()
            .min_by(|a, b| git_order(a, b))
            .copied()
        {
            let mut at: [Option<Entry<'_>>; 4] = [None; 4];
            for i in 0..4 {
                if heads[i].is_some_and(|h| git_order(&h, &min).is_eq()) {
                    at[i] = heads[i];
                    heads[i] = next_entry(&mut its[i])?;
                }
            }
            let [b, o, t, r] = at.map(|e| e.map(|e| e.value()));
            let expected = if o == t {
                if b != o {
                    outcome = Outcome::Full;
                    break;
                }
                o
            } else if b == o {
                t
            } else if b == t {
                o
            } else {
                // Changed differently on both sides: two directories are merged entry by entry.
                let [be, oe, te, re] = at;
                if min.tree
                    && subtree(oe).is_some()
                    && subtree(te).is_some()
                    && subtree(re).is_some()
                {
                    let sub = [subtree(be), subtree(oe), subtree(te), subtree(re)];
                    match self.dir(repo, sub, depth + 1)? {
                        Outcome::Same => continue,
                        Outcome::Differs => {
                            outcome = Outcome::Differs;
                            continue;
                        }
                        Outcome::Full => {
                            outcome = Outcome::Full;
                            break;
                        }
                    }
                }
                outcome = Outcome::Full;
                break;
            };
            if r != expected {
                // Keep looking: a path that needs a real merge makes git the judge either way.
                outcome = Outcome::Differs;
            }
        }
        drop(its);
        self.levels[depth] = bufs;
        Ok(outcome)
    }
}

/// A tree an object database does not have.
#[derive(Debug, thiserror::Error)]
#[error("tree {0} is missing from the object database")]
struct MissingTree(ObjectId);
