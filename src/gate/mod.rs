//! The review gate: one verifier for `check`, the hooks, CI and servers.
//!
//! [`check`] walks a range ([`walk`]), reads each commit once, finds its trailer block exactly as
//! git does ([`crate::git::trailers`]) and judges it against the [`Policy`]: a commit passes
//! when one of its review trailers names a valid `Name <email>` that the policy accepts, and,
//! for commits of a flow (and, where the policy asks, for every commit), when a recorded approval
//! covers its exact content ([`bind`]), signed by an allowed signer where reviews must be signed
//! ([`sshsig`]). Merge commits are exempt only when their tree is the clean automatic merge of
//! their parents ([`remerge`]).

pub mod attest;
pub mod bind;
pub mod guard;
pub mod hook;
pub mod install;
pub mod policy;
pub mod range;
pub mod remerge;
pub mod sshsig;
pub mod walk;

use crate::flow::names;
use crate::git::trailers::{Block, Rules};
use gix::ObjectId;
use policy::parse_ident;
pub use policy::{Policy, PolicyError, Reviews, Scope, Trust};
use walk::{CommitRef, Objects, Range, WalkError, parse_commit};

/// The trailer that names a commit's flow.
const FLOW_TRAILER: &[u8] = names::FLOW_KEY.as_bytes();
const SUBTASK_TRAILER: &[u8] = names::SUBTASK_KEY.as_bytes();
const STEP_TRAILER: &[u8] = names::STEP_KEY.as_bytes();

/// git's empty tree.
const EMPTY_TREE: &[u8] = b"4b825dc642cb6eb9a060e54bf8d69288fbee4904";

/// Why a commit fails the gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// No review trailer in the trailer block. `elsewhere` is set when a review line appears
    /// in the message outside the trailer block, where git does not read it as a trailer.
    NoReview {
        /// A review line outside the trailer block.
        elsewhere: bool,
    },
    /// A review trailer whose value is not `Name <email>`.
    Malformed(String),
    /// The reviewer is the commit's author (by the trailer, or by the signer's principal).
    SelfReview(String),
    /// The reviewer is not on the policy's allow-list.
    NotAllowed(String),
    /// A review trailer that no recorded approval covers: neither the commit's id nor its
    /// content id was approved (it was amended or rebased with changes after the review, or the
    /// trailer was typed by hand). `subject` says whose approvals were looked at.
    NotRecorded {
        /// `subtask k3f9ab of flow rate-limit`, or `this commit` for a range approval.
        subject: String,
        /// The command that approves it again.
        fix: String,
    },
    /// The approval of this commit was revoked by a later request for changes.
    Revoked {
        /// The flow.
        flow: String,
        /// The subtask.
        subtask: String,
    },
    /// A merge whose tree is not the clean automatic merge of its parents, without a review of
    /// its own.
    MergeNotClean(remerge::Verdict),
    /// A review that binds to nothing: no known flow and subtask, conflicting or duplicated
    /// `Aiflow-*` trailers, or a typed trailer where the policy needs a recorded approval.
    Unbound(String),
    /// A note the verdict depends on cannot be read (missing, invalid, unknown schema, too
    /// large): the gate cannot tell, so it refuses.
    Unverifiable {
        /// What could not be read.
        what: String,
        /// How to repair it.
        hint: String,
    },
    /// Reviews must be signed, and no signed approval covers the commit (a typed trailer, or a
    /// record without a signature).
    Unsigned(String),
    /// The approval is signed by a key the allowed-signers file does not allow here.
    UnknownSigner(String),
    /// The approval's signature does not verify: the record was changed after it was signed, or
    /// the signature is not one.
    BadSignature(String),
    /// Under `tests = "required"`: a merge brings flow work (`what`: a subtask's tip, or an
    /// integration branch's) with no recorded run of the test command on that commit's tree.
    Untested {
        /// The commit brought in.
        tip: ObjectId,
        /// What it is, for people.
        what: String,
    },
    /// Under `tests = "required"`: the run recorded on the tip brought in did not pass.
    TestFailed {
        /// The commit brought in.
        tip: ObjectId,
        /// What it is, for people.
        what: String,
        /// How the run ended (`failed (exit 1)`, `timed out`).
        verdict: String,
    },
}

impl Reason {
    /// A stable code for JSON and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::NoReview { .. } => "no-review",
            Reason::Malformed(_) => "malformed-review",
            Reason::SelfReview(_) => "self-review",
            Reason::NotAllowed(_) => "reviewer-not-allowed",
            Reason::NotRecorded { .. } => "review-not-recorded",
            Reason::Revoked { .. } => "review-revoked",
            Reason::MergeNotClean(_) => "merge-not-clean",
            Reason::Unbound(_) => "unbound-review",
            Reason::Unverifiable { .. } => "review-unverifiable",
            Reason::Unsigned(_) => "unsigned-review",
            Reason::UnknownSigner(_) => "unknown-signer",
            Reason::BadSignature(_) => "bad-signature",
            Reason::Untested { .. } => "untested",
            Reason::TestFailed { .. } => "test-failed",
        }
    }

    /// A sentence for people.
    pub fn describe(&self, policy: &Policy) -> String {
        let key = &policy.review_trailers[0];
        match self {
            Reason::NoReview { elsewhere: false } => format!("no {key} trailer"),
            Reason::NoReview { elsewhere: true } => format!(
                "a {key} line is in the message but not in its trailer block (the last paragraph), so git does not read it as a trailer"
            ),
            Reason::Malformed(v) => format!("{key}: {v:?} is not \"Name <email>\""),
            Reason::SelfReview(v) => {
                format!("{key}: {v} is the commit's author; the policy requires another reviewer")
            }
            Reason::NotAllowed(v) => {
                format!("{key}: {v} is not on the policy's list of reviewers")
            }
            Reason::NotRecorded { subject, fix } => format!(
                "carries {key}, but no approval recorded for {subject} covers this content (changed after the review?); approve it again with `{fix}`"
            ),
            Reason::Revoked { flow, subtask } => format!(
                "its approval was revoked: changes were requested on subtask {subtask} of flow {flow} since; approve it again with `git aiflow approve {subtask}`"
            ),
            Reason::MergeNotClean(v) => format!(
                "a merge that needs its own review: {}; resolve conflicts on a subtask branch and have it approved, or approve this merge",
                v.describe()
            ),
            Reason::Untested { tip, what } => format!(
                "merges {what} {}, which has no recorded run of the test command on its tree (the policy says tests = \"required\"); run `git aiflow test` where it is checked out",
                tip.to_hex_with_len(7)
            ),
            Reason::TestFailed { tip, what, verdict } => format!(
                "merges {what} {}, whose test run {verdict} (the policy says tests = \"required\"); fix it and test again",
                tip.to_hex_with_len(7)
            ),
            Reason::Unbound(detail) => detail.clone(),
            Reason::Unverifiable { what, hint } => {
                format!("{what}, so its review cannot be verified; {hint}")
            }
            Reason::Unsigned(detail)
            | Reason::UnknownSigner(detail)
            | Reason::BadSignature(detail) => detail.clone(),
        }
    }
}

/// A commit that fails the gate.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The commit.
    pub id: ObjectId,
    /// Its subject line.
    pub subject: String,
    /// Its author, `Name <email>`.
    pub author: String,
    /// Why it fails.
    pub reason: Reason,
}

/// A commit whose approval carries a verified signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The commit.
    pub commit: ObjectId,
    /// Who signed, as the allowed-signers file names them.
    pub principal: String,
    /// The key (`SHA256:…`).
    pub fingerprint: String,
    /// The key's algorithm.
    pub algorithm: String,
    /// When the review was recorded.
    pub at: String,
}

/// What a check found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Commits in the range.
    pub commits: usize,
    /// Commits with a valid review.
    pub reviewed: usize,
    /// Commits the policy exempts (clean merges, anchors).
    pub exempt: usize,
    /// Commits outside the scope (trunk work outside any flow).
    pub out_of_scope: usize,
    /// Commits that fail, newest first.
    pub failures: Vec<Failure>,
    /// Things worth knowing that do not fail the check, for people.
    pub notices: Vec<String>,
    /// Reviewed commits whose approval's signature was verified, newest first.
    pub signed: Vec<Signed>,
}

impl Report {
    /// Whether every commit passes.
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Why a check could not run.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The walk failed.
    #[error(transparent)]
    Walk(#[from] WalkError),
    /// Merges could not be verified.
    #[error(transparent)]
    Remerge(#[from] remerge::RemergeError),
    /// The recorded reviews could not be read.
    #[error("could not read the recorded reviews")]
    Records(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What the walk keeps of each commit.
struct Seen {
    id: ObjectId,
    /// Parents (kept for merges and for the flow scope).
    parents: Vec<ObjectId>,
    merge: bool,
    /// Carries an `Aiflow-Flow` trailer.
    flow: bool,
    /// The tree of a merge (to verify it), or of an anchor candidate with its first parent
    /// (confirmed after the walk).
    tree: Option<ObjectId>,
    anchor: bool,
    /// Why it fails, if it does (boxed: most commits pass, and ranges can be long).
    failure: Option<Box<Failure>>,
    /// A reviewed commit, to match against recorded reviews.
    bind: Option<Box<Bind>>,
}

/// What binding needs of a reviewed commit.
struct Bind {
    kind: BindKind,
    author_email: String,
}

/// What a reviewed commit claims to belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindKind {
    /// A subtask of a flow (`Aiflow-Flow` and `Aiflow-Subtask` trailers).
    Subtask {
        /// The flow's slug.
        flow: String,
        /// The subtask's id.
        subtask: String,
    },
    /// No flow: its approval, if any, is in a review note on the commit itself.
    Outside,
}

/// A reviewed commit to bind to a recorded approval.
#[derive(Debug, Clone)]
pub struct BindItem {
    /// The commit.
    pub id: ObjectId,
    /// What it claims to belong to.
    pub kind: BindKind,
    /// Its author's email (a signer must be someone else).
    pub author_email: String,
    /// It changes what governs the gate (the policy or allowed-signers file): outside a flow,
    /// only a recorded review counts, whatever `typed-trailers` says.
    pub governs: bool,
}

/// What binding found.
#[derive(Debug, Default)]
pub struct Bound {
    /// Per item: `None` when a recorded approval covers it, or why not.
    pub verdicts: Vec<Option<Reason>>,
    /// Things worth knowing, for people.
    pub notices: Vec<String>,
    /// Verified signatures of the items that passed.
    pub signed: Vec<Signed>,
}

/// Matches reviewed commits against the reviews recorded in notes.
pub trait Binder {
    /// Bind `items` under `policy`.
    fn bind(&mut self, items: &[BindItem], policy: &Policy) -> Result<Bound, CheckError>;

    /// The test run recorded on `commit` (in its step note, or a test note), if any; a note
    /// that cannot be read is a [`Reason::Unverifiable`].
    fn test_run(&mut self, commit: ObjectId) -> Result<Option<crate::flow::TestRun>, Reason>;
}

/// Check every commit of `range` against `policy`; `repo` verifies merges.
pub fn check(
    repo: &gix::Repository,
    objects: &mut dyn Objects,
    range: &Range,
    policy: &Policy,
    rules: &Rules,
    scope: Scope,
    binder: &mut dyn Binder,
) -> Result<Report, CheckError> {
    let keep_parents = scope == Scope::Flow;
    let mut seen = walk::walk(objects, range, |id, parents, commit| {
        Ok(judge(id, parents, commit, policy, rules, keep_parents))
    })?;

    // Confirm anchors: empty commits (same tree as their parent) with a flow trailer.
    let mut buf = Vec::new();
    let mut scratch = Vec::new();
    for s in seen.iter_mut() {
        if !s.anchor {
            continue;
        }
        let tree = s.tree.take().expect("anchor candidates keep their tree");
        let parent_tree = match s.parents.first() {
            None => ObjectId::from_hex(EMPTY_TREE).expect("valid hex"),
            Some(p) => {
                objects.commit(p, &mut buf)?;
                scratch.clear();
                let c = parse_commit(&buf, &mut scratch).ok_or(WalkError::Malformed(*p))?;
                ObjectId::from_hex(c.tree).map_err(|_| WalkError::Malformed(*p))?
            }
        };
        s.anchor = parent_tree == tree;
    }

    let mut in_scope = match scope {
        Scope::Full | Scope::Integration => vec![true; seen.len()],
        Scope::Flow => flow_scope(&seen),
    };
    // What the scope holds for itself; commits that change the policy join it below.
    let of_flow = in_scope.clone();
    let governs = policy_changes(repo, range, policy, &seen)?;
    for (s, g) in in_scope.iter_mut().zip(&governs) {
        *s |= *g;
    }

    let mut report = Report {
        commits: seen.len(),
        ..Report::default()
    };

    // Merges: exempt only when clean; a merge that is not needs a review of its own.
    let mut exempt = vec![false; seen.len()];
    if policy.exempt_merges {
        let merges: Vec<usize> = (0..seen.len())
            .filter(|&i| in_scope[i] && seen[i].merge)
            .collect();
        let list: Vec<remerge::MergeCommit> = merges
            .iter()
            .map(|&i| remerge::MergeCommit {
                id: seen[i].id,
                parents: seen[i].parents.clone(),
                tree: seen[i].tree.expect("merges keep their tree"),
            })
            .collect();
        for (&i, verdict) in merges.iter().zip(remerge::verify(repo, &list)?) {
            match verdict {
                remerge::Verdict::Clean => exempt[i] = true,
                verdict => {
                    if let Some(f) = seen[i].failure.as_deref_mut()
                        && matches!(f.reason, Reason::NoReview { .. })
                    {
                        f.reason = Reason::MergeNotClean(verdict);
                    }
                }
            }
        }
    }
    for (i, s) in seen.iter().enumerate() {
        if s.anchor && policy.exempt_anchor {
            exempt[i] = true;
        }
    }

    if policy.tests_required {
        let brought = Brought {
            tips: &range.tips,
            scope,
        };
        tests_required(
            objects,
            &mut seen,
            &in_scope,
            &mut exempt,
            rules,
            &brought,
            binder,
        )?;
    }

    // Bind reviews to recorded approvals.
    let mut wanted = Vec::new();
    let mut items = Vec::new();
    for i in 0..seen.len() {
        let s = &mut seen[i];
        if !in_scope[i] || exempt[i] || s.failure.is_some() {
            continue;
        }
        let Some(b) = s.bind.take() else { continue };
        let governs = governs[i];
        match (&b.kind, scope) {
            // What comes from a flow (on its integration branch, or into the trunk) must be
            // subtask work with a recorded approval.
            (BindKind::Outside, Scope::Integration | Scope::Flow) if of_flow[i] => {
                s.failure = Some(failure_of(objects, s.id, Reason::Unbound(
                    "a commit of a flow must belong to one of its subtasks (Aiflow-Flow and Aiflow-Subtask trailers) with a recorded approval; this one carries a review trailer alone".into(),
                ), &mut buf)?);
            }
            (BindKind::Outside, _) if policy.typed_trailers && !governs => {}
            _ => {
                wanted.push(i);
                items.push(BindItem {
                    id: s.id,
                    kind: b.kind,
                    author_email: b.author_email,
                    governs,
                });
            }
        }
    }
    if !items.is_empty() {
        let bound = binder.bind(&items, policy)?;
        report.notices = bound.notices;
        report.signed = bound.signed;
        for (&i, verdict) in wanted.iter().zip(bound.verdicts) {
            if let Some(reason) = verdict {
                let id = seen[i].id;
                seen[i].failure = Some(failure_of(objects, id, reason, &mut buf)?);
            }
        }
    }
    for ((s, in_scope), exempt) in seen.into_iter().zip(in_scope).zip(exempt) {
        if !in_scope {
            report.out_of_scope += 1;
        } else if exempt {
            report.exempt += 1;
        } else {
            match s.failure {
                None => report.reviewed += 1,
                Some(f) => report.failures.push(*f),
            }
        }
    }
    Ok(report)
}

/// Which commits of the range change what governs the gate: the policy file or the
/// allowed-signers file. On a trunk they are in scope though outside any flow, and outside a
/// flow only a recorded review counts for them (a trailer is too easy to write).
///
/// What matters is the state the update leaves against the one it starts from (the policy is
/// always read from the tip before an update, so a change made and undone inside the range
/// governs nothing): when those files are the same at every tip as at some start of the range,
/// nothing is looked at beyond two path lookups per end. A range with no start (a whole
/// history, the first push to an empty server) has no earlier state to protect. Otherwise each
/// commit's files are compared with its first parent's, each tree read once.
fn policy_changes(
    repo: &gix::Repository,
    range: &Range,
    policy: &Policy,
    seen: &[Seen],
) -> Result<Vec<bool>, CheckError> {
    let mut governs = vec![false; seen.len()];
    if range.hidden.is_empty() {
        return Ok(governs);
    }
    let read = |id: ObjectId, e: gix::Error| {
        CheckError::Walk(WalkError::Read {
            id,
            message: e.to_string(),
        })
    };
    let files = policy.governing_files();
    let blobs_of_tree = |commit: ObjectId, tree: gix::Tree<'_>| {
        files
            .iter()
            .map(|f| {
                Ok(tree
                    .lookup_entry_by_path(f)
                    .map_err(|e| read(commit, gix::Error::from_error(e)))?
                    .map(|e| e.object_id()))
            })
            .collect::<Result<Vec<Option<ObjectId>>, CheckError>>()
    };
    // A commit's files, and its first parent.
    let files_of = |id: ObjectId| -> Result<(Vec<Option<ObjectId>>, Option<ObjectId>), CheckError> {
        let commit = repo.find_commit(id).map_err(|e| read(id, e))?;
        let parent = commit.parent_ids().next().map(|p| p.detach());
        let tree = commit.tree().map_err(|e| read(id, e))?;
        Ok((blobs_of_tree(id, tree)?, parent))
    };
    let before: Vec<Vec<Option<ObjectId>>> = range
        .hidden
        .iter()
        .map(|h| files_of(*h).map(|f| f.0))
        .collect::<Result<_, _>>()?;
    let mut changed = false;
    for tip in &range.tips {
        if !before.contains(&files_of(*tip)?.0) {
            changed = true;
        }
    }
    if !changed {
        return Ok(governs);
    }
    let mut memo: gix::hashtable::HashMap<ObjectId, (Vec<Option<ObjectId>>, Option<ObjectId>)> =
        gix::hashtable::HashMap::default();
    let mut lookup =
        |id: ObjectId| -> Result<(Vec<Option<ObjectId>>, Option<ObjectId>), CheckError> {
            if let Some(f) = memo.get(&id) {
                return Ok(f.clone());
            }
            let f = files_of(id)?;
            memo.insert(id, f.clone());
            Ok(f)
        };
    for (i, s) in seen.iter().enumerate() {
        let (own, parent) = lookup(s.id)?;
        let parent = match parent {
            Some(p) => lookup(p)?.0,
            None => vec![None; files.len()],
        };
        governs[i] = parent != own;
    }
    Ok(governs)
}

/// A failure of commit `id` (read again for its subject and author: failures are rare).
fn failure_of(
    objects: &mut dyn Objects,
    id: ObjectId,
    reason: Reason,
    buf: &mut Vec<u8>,
) -> Result<Box<Failure>, CheckError> {
    objects.commit(&id, buf)?;
    let mut scratch = Vec::new();
    let c = parse_commit(buf, &mut scratch).ok_or(WalkError::Malformed(id))?;
    Ok(Box::new(Failure {
        id,
        subject: subject(c.message),
        author: String::from_utf8_lossy(c.author).into_owned(),
        reason,
    }))
}

/// How far down a side's first parents [`tests_required`] looks past merges without trailers.
const MAX_FIRST_PARENTS: usize = 64;

/// What an update brings without a merge of its own: the range's tips, and the scope they are
/// judged in (a fast-forward is the one way to bring flow work with no merge to judge).
struct Brought<'a> {
    tips: &'a [ObjectId],
    scope: Scope,
}

/// Under `tests = "required"`: every merge in scope that brings flow work needs a passing run of
/// the test command recorded on what it brings, on that commit's exact tree. Flow work is a side
/// that carries `Aiflow-Flow` or `Aiflow-Subtask` (or, when it is a merge without trailers, whose
/// first parents lead to one that does), and every side of a merge that carries them itself
/// (the merges `integrate` and `finish` make). A fast-forward brings its tip with no merge: a
/// tip that carries `Aiflow-Subtask` needs the run itself, unless it is a merge `integrate` made
/// on the integration branch being checked (its sides are judged as above). A commit that fails
/// this is not exempt, however clean; a failure it has already (it is not clean, say) is kept.
fn tests_required(
    objects: &mut dyn Objects,
    seen: &mut [Seen],
    in_scope: &[bool],
    exempt: &mut [bool],
    rules: &Rules,
    brought: &Brought<'_>,
    binder: &mut dyn Binder,
) -> Result<(), CheckError> {
    let mut buf = Vec::new();
    let mut parents = Vec::new();
    let mut fails: Vec<(usize, Reason)> = Vec::new();
    for i in 0..seen.len() {
        if !in_scope[i] {
            continue;
        }
        let id = seen[i].id;
        // A merge `integrate` made on the integration branch is judged by its sides, below.
        if brought.tips.contains(&id) && (!seen[i].merge || brought.scope != Scope::Integration) {
            // A fast-forward: the tip itself is what the update brings.
            objects.commit(&id, &mut buf)?;
            parents.clear();
            let t = flow_trailers(&buf, &mut parents, id, rules)?;
            if t.subtask
                && let Some(reason) = judge_run(binder, id, t.tree, "the subtask tip")
            {
                fails.push((i, reason));
                continue;
            }
        }
        if !seen[i].merge {
            continue;
        }
        objects.commit(&id, &mut buf)?;
        parents.clear();
        let merge_of_flow = flow_trailers(&buf, &mut parents, id, rules)?.any;
        for p in seen[i].parents.clone().iter().skip(1) {
            objects.commit(p, &mut buf)?;
            parents.clear();
            let side = flow_trailers(&buf, &mut parents, *p, rules)?;
            let mut side_of_flow = side.any;
            let side_is_merge = parents.len() > 1;
            // A merge made by hand on a subtask branch carries no trailers: the branch's own
            // history, down its first parents, says whose it is.
            let mut down = parents.first().copied().filter(|_| side_is_merge);
            for _ in 0..MAX_FIRST_PARENTS {
                let (true, Some(next)) = (!side_of_flow, down) else {
                    break;
                };
                objects.commit(&next, &mut buf)?;
                parents.clear();
                side_of_flow = flow_trailers(&buf, &mut parents, next, rules)?.any;
                down = parents.first().copied().filter(|_| parents.len() > 1);
            }
            if !(merge_of_flow || side_of_flow) {
                continue;
            }
            let what = if side_is_merge {
                "the branch tip"
            } else {
                "the subtask tip"
            };
            if let Some(reason) = judge_run(binder, *p, side.tree, what) {
                fails.push((i, reason));
                break;
            }
        }
    }
    for (i, reason) in fails {
        // A clean merge was exempt from review: the test is what it now lacks. A commit that
        // needs a review of its own keeps that failure until it has one.
        if std::mem::replace(&mut exempt[i], false) || seen[i].failure.is_none() {
            let id = seen[i].id;
            seen[i].failure = Some(failure_of(objects, id, reason, &mut buf)?);
        }
    }
    Ok(())
}

/// The flow trailers of a raw commit, and its tree.
struct FlowTrailers {
    /// `Aiflow-Flow` or `Aiflow-Subtask`.
    any: bool,
    /// `Aiflow-Subtask`.
    subtask: bool,
    tree: ObjectId,
}

/// Read `raw` (commit `id`, its parents into `parents`) for [`FlowTrailers`].
fn flow_trailers(
    raw: &[u8],
    parents: &mut Vec<ObjectId>,
    id: ObjectId,
    rules: &Rules,
) -> Result<FlowTrailers, CheckError> {
    let c = parse_commit(raw, parents).ok_or(WalkError::Malformed(id))?;
    let block = Block::find_in_commit(c.message, rules);
    let (mut flow, mut subtask) = (false, false);
    for t in block.trailers(rules) {
        let key = t.key(rules);
        subtask |= key.eq_ignore_ascii_case(SUBTASK_TRAILER);
        flow |= key.eq_ignore_ascii_case(FLOW_TRAILER);
    }
    let tree = ObjectId::from_hex(c.tree).map_err(|_| WalkError::Malformed(id))?;
    Ok(FlowTrailers {
        any: flow || subtask,
        subtask,
        tree,
    })
}

/// The reason `tip` (`what`, for people) fails under `tests = "required"`: no passing run of
/// the test command recorded on it, on `tree`; a note that cannot be read fails too.
fn judge_run(binder: &mut dyn Binder, tip: ObjectId, tree: ObjectId, what: &str) -> Option<Reason> {
    match binder.test_run(tip) {
        Err(reason) => Some(reason),
        Ok(Some(run)) if run.tree.parse::<ObjectId>().ok() == Some(tree) => {
            (!run.passed()).then(|| Reason::TestFailed {
                tip,
                what: what.into(),
                verdict: run.verdict(),
            })
        }
        Ok(_) => Some(Reason::Untested {
            tip,
            what: what.into(),
        }),
    }
}

/// Judge one commit from its raw bytes.
fn judge(
    id: &ObjectId,
    parents: &[ObjectId],
    commit: &CommitRef<'_>,
    policy: &Policy,
    rules: &Rules,
    keep_parents: bool,
) -> Seen {
    let block = Block::find_in_commit(commit.message, rules);
    let author_email = email_of(commit.author);

    // Borrowed from the message; made into strings only for reviewed commits.
    let mut flows: Vec<std::borrow::Cow<'_, [u8]>> = Vec::new();
    let mut subtasks: Vec<std::borrow::Cow<'_, [u8]>> = Vec::new();
    let mut steps = 0usize;
    let mut best: Option<Reason> = None;
    let mut reviewed = false;
    for t in block.trailers(rules) {
        let key = t.key(rules);
        if key.eq_ignore_ascii_case(FLOW_TRAILER) {
            flows.push(t.value());
        } else if key.eq_ignore_ascii_case(SUBTASK_TRAILER) {
            subtasks.push(t.value());
        } else if key.eq_ignore_ascii_case(STEP_TRAILER) {
            steps += 1;
        }
        if reviewed || !policy.is_review_key(key) {
            continue;
        }
        let value = t.value();
        let value = String::from_utf8_lossy(&value);
        let reason = match parse_ident(&value) {
            None => Reason::Malformed(value.into_owned()),
            Some((_, email)) if policy.forbids_self_review(email, author_email) => {
                Reason::SelfReview(value.into_owned())
            }
            Some((_, email)) if !policy.accepts_reviewer(email) => {
                Reason::NotAllowed(value.into_owned())
            }
            Some(_) => {
                reviewed = true;
                continue;
            }
        };
        if best.is_none() {
            best = Some(reason);
        }
    }

    let merge = parents.len() > 1;
    let flow = !flows.is_empty();
    let step = steps > 0 || !subtasks.is_empty();
    let anchor = flow && !step && parents.len() <= 1;
    let tree = (merge || anchor)
        .then(|| ObjectId::from_hex(commit.tree).ok())
        .flatten();
    let failure = |reason: Reason| {
        Some(Box::new(Failure {
            id: *id,
            subject: subject(commit.message),
            author: String::from_utf8_lossy(commit.author).into_owned(),
            reason,
        }))
    };
    let mut seen = Seen {
        id: *id,
        // Only where they are needed: most commits are neither merges nor anchors.
        parents: if keep_parents || merge || anchor {
            parents.to_vec()
        } else {
            Vec::new()
        },
        merge,
        flow,
        anchor: anchor && tree.is_some(),
        tree,
        failure: None,
        bind: None,
    };
    if !reviewed {
        seen.failure = failure(best.unwrap_or_else(|| Reason::NoReview {
            elsewhere: mentions_review(commit.message, policy),
        }));
        return seen;
    }
    let one =
        |values: &[std::borrow::Cow<'_, [u8]>], what: &str| -> Result<Option<String>, String> {
            match values {
                [] => Ok(None),
                [v] => {
                    let v = String::from_utf8_lossy(v.trim_ascii()).into_owned();
                    if v.is_empty() {
                        Err(format!("its {what} trailer is empty"))
                    } else {
                        Ok(Some(v))
                    }
                }
                _ => Err(format!(
                    "it carries {} {what} trailers; a commit belongs to one subtask of one flow",
                    values.len()
                )),
            }
        };
    let kind = match (
        one(&flows, names::FLOW_KEY),
        one(&subtasks, names::SUBTASK_KEY),
    ) {
        (Err(e), _) | (_, Err(e)) => Err(e),
        _ if steps > 1 => Err(format!(
            "it carries {steps} Aiflow-Step trailers; a commit is one step"
        )),
        (Ok(Some(flow)), Ok(Some(subtask))) => Ok(BindKind::Subtask { flow, subtask }),
        (Ok(None), Ok(None)) if steps == 0 => Ok(BindKind::Outside),
        (Ok(Some(flow)), Ok(None)) => Err(format!(
            "it names flow {flow} but no subtask (no Aiflow-Subtask trailer)"
        )),
        _ => Err("it carries Aiflow-Subtask or Aiflow-Step without Aiflow-Flow".into()),
    };
    match kind {
        Ok(kind) => {
            seen.bind = Some(Box::new(Bind {
                kind,
                author_email: author_email.to_owned(),
            }))
        }
        Err(e) => {
            // Anchors and clean merges are exempt whatever their trailers say; everything else
            // with contradictory trailers is refused.
            if !(seen.anchor || merge) {
                seen.failure =
                    failure(Reason::Unbound(format!("its review binds to nothing: {e}")));
            }
        }
    }
    seen
}

/// The email inside `Name <email>`.
fn email_of(ident: &[u8]) -> &str {
    let s = std::str::from_utf8(ident).unwrap_or("");
    match (s.rfind('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => &s[a + 1..b],
        _ => s,
    }
}

/// Whether any line of the message starts with a review key and a colon.
fn mentions_review(message: &[u8], policy: &Policy) -> bool {
    message.split(|&c| c == b'\n').any(|line| {
        policy.review_trailers.iter().any(|k| {
            line.len() > k.len()
                && line[..k.len()].eq_ignore_ascii_case(k.as_bytes())
                && line[k.len()..].trim_ascii_start().starts_with(b":")
        })
    })
}

/// The first line of a message.
fn subject(message: &[u8]) -> String {
    let line = message.split(|&c| c == b'\n').next().unwrap_or_default();
    String::from_utf8_lossy(line).trim().to_owned()
}

/// Which commits of the range a trunk checks: those with a flow trailer, everything above an
/// anchor commit in the range (the trunk moved onto a flow's line), and every merge whose merged
/// side holds a commit with a flow trailer, with that merged side.
fn flow_scope(seen: &[Seen]) -> Vec<bool> {
    let index: gix::hashtable::HashMap<ObjectId, usize> =
        seen.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
    let mut scope: Vec<bool> = seen.iter().map(|s| s.flow).collect();
    if !scope.iter().any(|&f| f) {
        return scope;
    }
    let parents_in_range = |i: usize| seen[i].parents.iter().filter_map(|p| index.get(p).copied());

    // Above an anchor: descendants within the range.
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); seen.len()];
    for i in 0..seen.len() {
        for p in parents_in_range(i) {
            children[p].push(i);
        }
    }
    let mut stack: Vec<usize> = (0..seen.len()).filter(|&i| seen[i].anchor).collect();
    let mut above = vec![false; seen.len()];
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut above[i], true) {
            continue;
        }
        stack.extend(children[i].iter().copied());
    }
    for (s, a) in scope.iter_mut().zip(&above) {
        *s |= *a;
    }

    // The merged side of merges that bring flow commits.
    let reach = |starts: &[usize]| -> Vec<bool> {
        let mut seen_set = vec![false; seen.len()];
        let mut stack = starts.to_vec();
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen_set[i], true) {
                continue;
            }
            stack.extend(parents_in_range(i));
        }
        seen_set
    };
    for (i, s) in seen.iter().enumerate() {
        if s.parents.len() < 2 {
            continue;
        }
        let first: Vec<usize> = index.get(&s.parents[0]).copied().into_iter().collect();
        let others: Vec<usize> = s.parents[1..]
            .iter()
            .filter_map(|p| index.get(p).copied())
            .collect();
        if others.is_empty() {
            continue;
        }
        let mainline = reach(&first);
        let side = reach(&others);
        let brings_flow = (0..seen.len()).any(|j| side[j] && !mainline[j] && seen[j].flow);
        if brings_flow || seen[i].flow {
            // The merge itself too: what it makes of the flow's work must be clean or reviewed.
            scope[i] = true;
            for j in 0..seen.len() {
                if side[j] && !mainline[j] {
                    scope[j] = true;
                }
            }
        }
    }
    scope
}
