//! Rewriting the messages of a range of commits without touching their trees: what `approve`
//! does to add review trailers, and what `exec` does to give an agent's own commits their step
//! trailers.
//!
//! Commits are rewritten parents first (topological order, so merges inside the range work);
//! each keeps its tree, author and author date, gets the given committer, loses a signature that
//! no longer matches (or is signed again when commit signing is configured), and is written only
//! when its message or parents changed. No ref moves here: the caller moves the branch by
//! compare-and-swap together with its notes.
//!
//! [`reconcile`] re-parents instead: it joins two histories of a branch that only reworded
//! commits, as `sync` needs when one clone approved a subtask and another added a step.

use gix::ObjectId;
use std::collections::{HashMap, HashSet};

/// Why a range could not be rewritten.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    /// Walking or reading the commits failed.
    #[error("could not read the commits of {range}")]
    Read {
        /// The range, as `base..tip`.
        range: String,
        /// What gix reported.
        #[source]
        source: gix::Error,
    },
    /// Writing a commit failed.
    #[error("could not write the rewritten commit for {commit}")]
    Write {
        /// The original commit.
        commit: ObjectId,
        /// What gix reported.
        #[source]
        source: gix::Error,
    },
    /// Reading or writing an object failed (gix's own message).
    #[error(transparent)]
    Object(gix::Error),
    /// Signing failed.
    #[error("could not sign the rewritten commit for {commit} (commit.gpgSign is on)")]
    Sign {
        /// The original commit.
        commit: ObjectId,
        /// What the signer reported.
        #[source]
        source: gix::Error,
    },
}

/// The commits of `hidden..tip` (what `git rev-list --topo-order --reverse ^hidden tip` lists),
/// parents before children.
pub fn range(
    repo: &gix::Repository,
    hidden: Option<ObjectId>,
    tip: ObjectId,
) -> Result<Vec<ObjectId>, RewriteError> {
    let name = || match hidden {
        Some(h) => format!("{}..{}", h.to_hex_with_len(12), tip.to_hex_with_len(12)),
        None => tip.to_hex_with_len(12).to_string(),
    };
    let read = |e: gix::Error| RewriteError::Read {
        range: name(),
        source: e,
    };
    if hidden == Some(tip) {
        return Ok(Vec::new());
    }
    let graph = repo
        .commit_graph_if_enabled()
        .map_err(|e| read(gix::Error::from_error(e)))?;
    let walk = gix::traverse::commit::topo::Builder::from_iters(&repo.objects, [tip], Some(hidden))
        .sorting(gix::traverse::commit::topo::Sorting::TopoOrder)
        .with_commit_graph(graph)
        .build()
        .map_err(|e| read(gix::Error::from_error(e)))?;
    let mut ids = Vec::new();
    for info in walk {
        ids.push(info.map_err(|e| read(gix::Error::from_error(e)))?.id);
    }
    ids.reverse();
    Ok(ids)
}

/// The result of a rewrite.
#[derive(Debug, Clone)]
pub struct Rewritten {
    /// Every commit of the range, oldest first: (original, rewritten); equal when kept.
    pub commits: Vec<(ObjectId, ObjectId)>,
    /// The new tip.
    pub tip: ObjectId,
}

impl Rewritten {
    /// Whether any commit changed.
    pub fn changed(&self) -> bool {
        self.commits.iter().any(|(a, b)| a != b)
    }
}

/// Rewrite `ids` (parents first, as [`range`] returns them): `edit` gets each commit's position,
/// id and message and returns a new message, or `None` to keep it. A commit whose message and
/// parents are unchanged keeps its id. `committer` replaces the committer of rewritten commits;
/// `sign` signs them (otherwise their stale signatures are dropped).
pub fn reword(
    repo: &gix::Repository,
    ids: &[ObjectId],
    committer: &gix::actor::Signature,
    sign: Option<&gix::objs::signature::sign::Options>,
    mut edit: impl FnMut(usize, ObjectId, &gix::objs::Commit) -> Option<Vec<u8>>,
) -> Result<Rewritten, RewriteError> {
    let mut map: HashMap<ObjectId, ObjectId> = HashMap::with_capacity(ids.len());
    let mut commits = Vec::with_capacity(ids.len());
    let mut tip = None;
    for (i, &old) in ids.iter().enumerate() {
        let read = |e: gix::Error| RewriteError::Read {
            range: old.to_string(),
            source: e,
        };
        let found = repo.find_commit(old).map_err(read)?;
        let mut c: gix::objs::Commit = found.decode().map_err(read)?.to_owned().map_err(read)?;
        let message = edit(i, old, &c);
        let mut parents_changed = false;
        for p in c.parents.iter_mut() {
            if let Some(new) = map.get(p) {
                *p = *new;
                parents_changed = true;
            }
        }
        let new = if message.is_none() && !parents_changed {
            old
        } else {
            if let Some(m) = message {
                c.message = m.into();
            }
            c.committer = committer.clone();
            drop_signature(repo, &mut c);
            if let Some(options) = sign {
                c = c.sign(options.clone()).map_err(|e| RewriteError::Sign {
                    commit: old,
                    source: e,
                })?;
            }
            repo.write_object(&c)
                .map_err(|e| RewriteError::Write {
                    commit: old,
                    source: e,
                })?
                .detach()
        };
        if new != old {
            map.insert(old, new);
        }
        commits.push((old, new));
        tip = Some(new);
    }
    Ok(Rewritten {
        tip: tip.unwrap_or_else(|| ObjectId::null(repo.object_hash())),
        commits,
    })
}

/// Remove a commit's signature, which no longer matches once anything in it changed.
fn drop_signature(repo: &gix::Repository, c: &mut gix::objs::Commit) {
    let field = gix::objs::commit::signature_field_name(repo.object_hash());
    c.extra_headers
        .retain(|(k, _)| k != "gpgsig" && k != "gpgsig-sha256" && k != field);
}

/// The commits of `ids` that are `upto` or its ancestors.
pub fn up_to(
    repo: &gix::Repository,
    ids: &[ObjectId],
    upto: ObjectId,
) -> Result<HashSet<ObjectId>, RewriteError> {
    let wanted: HashSet<ObjectId> = ids.iter().copied().collect();
    let mut out = HashSet::new();
    let mut stack = vec![upto];
    while let Some(id) = stack.pop() {
        if !wanted.contains(&id) || !out.insert(id) {
            continue;
        }
        let c = repo.find_commit(id).map_err(|e| RewriteError::Read {
            range: id.to_string(),
            source: e,
        })?;
        stack.extend(c.parent_ids().map(|p| p.detach()));
    }
    Ok(out)
}

/// One commit of a linear history.
#[derive(Debug, Clone, Copy)]
struct Link {
    id: ObjectId,
    tree: ObjectId,
    parent: ObjectId,
}

/// Two histories of a branch joined by [`reconcile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// The joined history's tip.
    pub tip: ObjectId,
    /// The commits that were re-parented: (original, copy).
    pub copies: Vec<(ObjectId, ObjectId)>,
}

impl Reconciled {
    /// Put commit `link` on the tip, re-parenting it (a copy without its signature) when its
    /// parent is not the tip.
    fn place(&mut self, repo: &gix::Repository, link: Link) -> Result<(), RewriteError> {
        if link.parent == self.tip {
            self.tip = link.id;
            return Ok(());
        }
        let c = repo.find_commit(link.id).map_err(RewriteError::Object)?;
        let mut moved: gix::objs::Commit = c
            .decode()
            .map_err(RewriteError::Object)?
            .to_owned()
            .map_err(RewriteError::Object)?;
        moved.parents = vec![self.tip].into();
        drop_signature(repo, &mut moved);
        let new = repo
            .write_object(&moved)
            .map_err(RewriteError::Object)?
            .detach();
        self.copies.push((link.id, new));
        self.tip = new;
        Ok(())
    }
}

/// Join two histories of a branch that differ only in commit messages up to a point (one side
/// reviewed, the other went on): `reviewed` commits are preferred, the rest of the longer side is
/// re-parented onto the chosen ones with its trees, authors, committers and messages unchanged,
/// so that both clones compute the same commits. `None` when the trees differ (a real
/// divergence), the histories share no commit, or a side has merges.
pub fn reconcile(
    repo: &gix::Repository,
    local: ObjectId,
    remote: ObjectId,
    reviewed: impl Fn(ObjectId) -> bool,
) -> Result<Option<Reconciled>, RewriteError> {
    let Some(base) = repo
        .merge_base(local, remote)
        .map_err(RewriteError::Object)?
        .map(|b| b.detach())
    else {
        return Ok(None);
    };
    let (Some(l), Some(r)) = (linear(repo, base, local)?, linear(repo, base, remote)?) else {
        return Ok(None);
    };
    let common = l.len().min(r.len());
    if (0..common).any(|i| l[i].tree != r[i].tree) {
        return Ok(None);
    }
    let mut out = Reconciled {
        tip: base,
        copies: Vec::new(),
    };
    for i in 0..common {
        // The reviewed one, else the one already on the chain, else the lower id.
        let score = |link: &Link| {
            (
                reviewed(link.id),
                link.parent == out.tip,
                std::cmp::Reverse(link.id),
            )
        };
        let chosen = if score(&l[i]) >= score(&r[i]) {
            l[i]
        } else {
            r[i]
        };
        out.place(repo, chosen)?;
    }
    let longer = if l.len() > common { &l } else { &r };
    for link in &longer[common..] {
        out.place(repo, *link)?;
    }
    Ok(Some(out))
}

/// The commits of `base..tip`, parents first, each with its tree and parent; `None` when one of
/// them is a merge (or a root).
fn linear(
    repo: &gix::Repository,
    base: ObjectId,
    tip: ObjectId,
) -> Result<Option<Vec<Link>>, RewriteError> {
    let ids = range(repo, Some(base), tip)?;
    let mut out = Vec::with_capacity(ids.len());
    let mut parent = base;
    for id in ids {
        let c = repo.find_commit(id).map_err(RewriteError::Object)?;
        let parents: Vec<ObjectId> = c.parent_ids().map(|p| p.detach()).collect();
        if parents != [parent] {
            return Ok(None);
        }
        let tree = c.tree_id().map_err(RewriteError::Object)?.detach();
        out.push(Link { id, tree, parent });
        parent = id;
    }
    Ok(Some(out))
}

/// The committer signature git would use for a commit made now.
pub fn committer(
    repo: &gix::Repository,
) -> Result<gix::actor::Signature, crate::git::IdentityError> {
    let sig = repo
        .committer()
        .ok_or(crate::git::IdentityError::Missing)?
        .map_err(crate::git::IdentityError::BadDate)?;
    let sig: gix::actor::Signature = sig.into();
    if sig.name.is_empty() || sig.email.is_empty() {
        return Err(crate::git::IdentityError::Missing);
    }
    Ok(sig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    /// git in `dir` with a fixed identity and date and no user configuration; returns stdout.
    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(dir)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Ada")
            .env("GIT_AUTHOR_EMAIL", "ada@example.com")
            .env("GIT_COMMITTER_NAME", "Ada")
            .env("GIT_COMMITTER_EMAIL", "ada@example.com")
            .env("GIT_AUTHOR_DATE", "1767225600 +0000")
            .env("GIT_COMMITTER_DATE", "1767225600 +0000")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .trim()
            .to_owned()
    }

    fn id(hex: &str) -> ObjectId {
        ObjectId::from_hex(hex.as_bytes()).expect("hex")
    }

    /// A commit of `file` = `content` on `parent` with `message`, made without moving any branch.
    fn commit(dir: &Path, parent: &str, file: &str, content: &str, message: &str) -> String {
        git(dir, &["read-tree", parent]);
        std::fs::write(dir.join(file), content).expect("write");
        git(dir, &["update-index", "--add", file]);
        let tree = git(dir, &["write-tree"]);
        git(dir, &["commit-tree", &tree, "-p", parent, "-m", message])
    }

    /// A repository with one commit on `main`, and its id.
    fn base_repo() -> (tempfile::TempDir, String) {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path();
        git(dir, &["init", "-q", "-b", "main"]);
        std::fs::write(dir.join("a"), "base\n").expect("write");
        git(dir, &["add", "a"]);
        git(dir, &["commit", "-q", "-m", "base"]);
        let base = git(dir, &["rev-parse", "HEAD"]);
        (tmp, base)
    }

    /// One clone approved step 1 (reworded it), the other added step 2 on the unreviewed step 1:
    /// the join keeps the reviewed commit and re-parents step 2 onto it, with its tree, author
    /// and message, and both clones, whichever side they call local, compute the same commits.
    #[test]
    fn a_rewording_and_a_new_step_join_the_same_way_on_both_sides() {
        let (tmp, base) = base_repo();
        let dir = tmp.path();
        let step1 = commit(dir, &base, "a", "one\n", "step 1");
        let step2 = commit(dir, &step1, "a", "two\n", "step 2");
        let reviewed = commit(
            dir,
            &base,
            "a",
            "one\n",
            "step 1\n\nReviewed-by: Grace <grace@example.com>",
        );
        let repo = crate::git::open(dir).expect("opens");
        let is_reviewed = |c: ObjectId| c == id(&reviewed);

        let here = reconcile(&repo, id(&step2), id(&reviewed), is_reviewed)
            .expect("reads")
            .expect("joins");
        let there = reconcile(&repo, id(&reviewed), id(&step2), is_reviewed)
            .expect("reads")
            .expect("joins");
        assert_eq!(here.tip, there.tip, "both clones compute the same tip");
        let tip = here.tip.to_string();
        assert_eq!(git(dir, &["rev-parse", &format!("{tip}^")]), reviewed);
        assert_eq!(
            git(dir, &["rev-parse", &format!("{tip}^{{tree}}")]),
            git(dir, &["rev-parse", &format!("{step2}^{{tree}}")])
        );
        for format in ["%B", "%an <%ae> %ad", "%cn <%ce> %cd"] {
            assert_eq!(
                git(dir, &["log", "-1", &format!("--format={format}"), &tip]),
                git(dir, &["log", "-1", &format!("--format={format}"), &step2]),
                "{format}"
            );
        }
        assert_eq!(here.copies, vec![(id(&step2), here.tip)]);
        git(dir, &["fsck", "--strict"]);
    }

    /// Different trees at the same position are a real divergence: no join.
    #[test]
    fn different_trees_do_not_join() {
        let (tmp, base) = base_repo();
        let dir = tmp.path();
        let ours = commit(dir, &base, "a", "ours\n", "step 1");
        let theirs = commit(dir, &base, "a", "theirs\n", "step 1");
        let repo = crate::git::open(dir).expect("opens");
        assert!(
            reconcile(&repo, id(&ours), id(&theirs), |_| false)
                .expect("reads")
                .is_none()
        );
    }
}
