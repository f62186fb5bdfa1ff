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
//! mismatch, so that a refusal is git's own verdict) goes to one `git merge-tree --write-tree
//! --stdin` run: git's merge, with its default rename settings whatever the local config says.
//! Octopus merges are never exempt: git has no automatic result to compare them with.

use crate::git::cli::{self as git, GitError};
use gix::ObjectId;
use std::collections::BTreeMap;

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
    /// Its tree is the clean automatic merge.
    Clean,
    /// The automatic merge conflicts, so the tree holds a resolution someone made.
    Conflicted {
        /// The conflicted paths.
        paths: Vec<String>,
    },
    /// The automatic merge is clean but the tree differs from it.
    Differs,
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
            Verdict::Differs => "its tree differs from the automatic merge of its parents (`git show --remerge-diff` shows how)".into(),
            Verdict::Octopus => "an octopus merge, which the gate cannot compare with an automatic merge".into(),
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
    let mut trees = Trees::default();
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
        let bases = repo
            .merge_bases_many_with_graph(ours, &[theirs], &mut graph)
            .map_err(read("the merge bases of its parents".into()))?;
        let [base] = bases[..] else {
            by_git.push(i);
            continue;
        };
        let tree_of = |id: ObjectId| -> Result<ObjectId, RemergeError> {
            Ok(repo
                .find_commit(id)
                .map_err(read(format!("commit {id}")))?
                .tree_id()
                .map_err(read(format!("commit {id}")))?
                .detach())
        };
        let (b, o, t) = (tree_of(base.detach())?, tree_of(ours)?, tree_of(theirs)?);
        let outcome = Trivial::dir(repo, &mut trees, [Some(b), Some(o), Some(t), Some(m.tree)])
            .map_err(read("trees".into()))?;
        if outcome != Outcome::Same {
            by_git.push(i);
        }
    }
    if !by_git.is_empty() {
        let asked: Vec<&MergeCommit> = by_git.iter().map(|&i| &merges[i]).collect();
        for (&i, v) in by_git.iter().zip(merge_tree(repo, &asked)?) {
            verdicts[i] = v;
        }
    }
    Ok(verdicts)
}

/// Ask `git merge-tree` for the automatic merge of each merge's two parents, in one process.
fn merge_tree(repo: &gix::Repository, merges: &[&MergeCommit]) -> Result<Vec<Verdict>, GitError> {
    const ARGS: [&str; 11] = [
        "-c",
        "merge.renames=true",
        "-c",
        "merge.directoryRenames=conflict",
        "merge-tree",
        "--write-tree",
        "--stdin",
        "--no-messages",
        "--name-only",
        "--allow-unrelated-histories",
        "-z",
    ];
    let mut input = String::new();
    for m in merges {
        input.push_str(&format!("{} {}\n", m.parents[0], m.parents[1]));
    }
    let out = git::checked(
        &crate::git::run_dir(repo),
        &ARGS,
        &[],
        Some(input.as_bytes()),
    )?;
    let protocol = |problem: &str| GitError::Protocol {
        args: ARGS.join(" "),
        problem: problem.into(),
    };
    // Per merge: `<1 clean | 0 conflicted>\0<tree>\0` then conflicted paths, each `\0`-ended,
    // then an empty field.
    let mut fields = out.split(|&b| b == 0);
    let mut verdicts = Vec::with_capacity(merges.len());
    for m in merges {
        let status = fields.next().ok_or_else(|| protocol("too few results"))?;
        let tree = fields
            .next()
            .ok_or_else(|| protocol("a result without a tree"))?;
        let tree =
            ObjectId::from_hex(tree).map_err(|_| protocol("a result with a malformed tree id"))?;
        let mut paths = Vec::new();
        loop {
            match fields.next() {
                None => return Err(protocol("a result that does not end")),
                Some([]) => break,
                Some(p) => paths.push(String::from_utf8_lossy(p).into_owned()),
            }
        }
        verdicts.push(match status {
            b"1" if tree == m.tree => Verdict::Clean,
            b"1" => Verdict::Differs,
            b"0" => {
                paths.dedup();
                Verdict::Conflicted { paths }
            }
            _ => return Err(protocol("an unknown merge status")),
        });
    }
    Ok(verdicts)
}

/// One entry of a tree.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Entry {
    mode: u16,
    oid: ObjectId,
    tree: bool,
}

/// Decoded trees, kept for the whole verification (merges share most of their trees).
#[derive(Default)]
struct Trees {
    cache: gix::hashtable::HashMap<ObjectId, std::rc::Rc<BTreeMap<Vec<u8>, Entry>>>,
}

impl Trees {
    fn get(
        &mut self,
        repo: &gix::Repository,
        id: Option<ObjectId>,
    ) -> Result<std::rc::Rc<BTreeMap<Vec<u8>, Entry>>, gix::Error> {
        let Some(id) = id else {
            return Ok(Default::default());
        };
        if let Some(t) = self.cache.get(&id) {
            return Ok(t.clone());
        }
        let tree = repo.find_tree(id)?;
        let decoded = tree.decode().map_err(gix::Error::from_error)?;
        let map: BTreeMap<Vec<u8>, Entry> = decoded
            .entries
            .iter()
            .map(|e| {
                (
                    e.filename.to_vec(),
                    Entry {
                        mode: e.mode.value(),
                        oid: e.oid.into(),
                        tree: e.mode.is_tree(),
                    },
                )
            })
            .collect();
        let map = std::rc::Rc::new(map);
        self.cache.insert(id, map.clone());
        Ok(map)
    }
}

/// How a directory compares with the path-by-path automatic merge.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The merge's directory is the automatic result.
    Same,
    /// It is not.
    Differs,
    /// A path changed differently on both sides: only a real merge can tell.
    Full,
}

/// The path-by-path merge.
struct Trivial;

impl Trivial {
    /// Compare directory `[base, ours, theirs, result]` (tree ids; `None` for absent).
    ///
    /// A path changed on one side takes that side. Changed differently on both sides, two
    /// directories are compared entry by entry; anything else needs a real merge. So does a path
    /// both sides changed the same way: a deletion on both sides may be two renames of one file,
    /// which git reports as a conflict.
    fn dir(
        repo: &gix::Repository,
        trees: &mut Trees,
        ids: [Option<ObjectId>; 4],
    ) -> Result<Outcome, gix::Error> {
        let [b, o, t, r] = [
            trees.get(repo, ids[0])?,
            trees.get(repo, ids[1])?,
            trees.get(repo, ids[2])?,
            trees.get(repo, ids[3])?,
        ];
        let mut names: Vec<&Vec<u8>> = b
            .keys()
            .chain(o.keys())
            .chain(t.keys())
            .chain(r.keys())
            .collect();
        names.sort();
        names.dedup();
        let mut outcome = Outcome::Same;
        for name in names {
            let [be, oe, te, re] = [&b, &o, &t, &r].map(|m| m.get(name).copied());
            let expected = if oe == te {
                if be != oe {
                    return Ok(Outcome::Full);
                }
                oe
            } else if be == oe {
                te
            } else if be == te {
                oe
            } else {
                let tree = |e: Option<Entry>| e.filter(|e| e.tree).map(|e| e.oid);
                match (be, tree(be), tree(oe), tree(te), tree(re)) {
                    (None, _, Some(o), Some(t), Some(r))
                    | (Some(_), Some(_), Some(o), Some(t), Some(r)) => {
                        match Self::dir(repo, trees, [tree(be), Some(o), Some(t), Some(r)])? {
                            Outcome::Same => continue,
                            Outcome::Differs => {
                                outcome = Outcome::Differs;
                                continue;
                            }
                            Outcome::Full => return Ok(Outcome::Full),
                        }
                    }
                    _ => return Ok(Outcome::Full),
                }
            };
            if re != expected {
                // Keep looking: a path that needs a real merge makes git the judge either way.
                outcome = Outcome::Differs;
            }
        }
        Ok(outcome)
    }
}
