//! The review gate: one verifier for `check`, the hooks, CI and servers.
//!
//! [`check`] walks a range ([`walk`]), reads each commit once, finds its trailer block exactly as
//! git does ([`crate::git::trailers`]) and judges it against the [`Policy`]: a commit passes
//! when one of its review trailers names a valid `Name <email>` that the policy accepts.

pub mod bind;
pub mod guard;
pub mod hook;
pub mod policy;
pub mod walk;

use crate::git::trailers::{Block, Rules};
use gix::ObjectId;
use policy::parse_ident;
pub use policy::{Policy, PolicyError, Scope};
use walk::{CommitRef, Objects, Range, WalkError, parse_commit};

/// The trailer that names a commit's flow.
pub const FLOW_TRAILER: &[u8] = b"Aiflow-Flow";
const SUBTASK_TRAILER: &[u8] = b"Aiflow-Subtask";
const STEP_TRAILER: &[u8] = b"Aiflow-Step";

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
    /// The reviewer is the commit's author.
    SelfReview(String),
    /// The reviewer is not on the policy's allow-list.
    NotAllowed(String),
    /// A review trailer on a subtask commit that no approval recorded in the flow's note covers:
    /// neither its id nor its patch id was approved (it was amended or rebased with changes
    /// after the review, or the trailer was typed by hand).
    NotRecorded {
        /// The flow.
        flow: String,
        /// The subtask.
        subtask: String,
    },
    /// The approval of this commit was revoked by a later request for changes.
    Revoked {
        /// The flow.
        flow: String,
        /// The subtask.
        subtask: String,
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
            Reason::NotRecorded { flow, subtask } => format!(
                "carries {key}, but no approval recorded for subtask {subtask} of flow {flow} covers this content (changed after the review?); approve it again with `git aiflow approve {subtask}`"
            ),
            Reason::Revoked { flow, subtask } => format!(
                "its approval was revoked: changes were requested on subtask {subtask} of flow {flow} since; approve it again with `git aiflow approve {subtask}`"
            ),
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

/// What a check found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Commits in the range.
    pub commits: usize,
    /// Commits with a valid review.
    pub reviewed: usize,
    /// Commits the policy exempts (merges, anchors).
    pub exempt: usize,
    /// Commits outside the scope (trunk work outside any flow).
    pub out_of_scope: usize,
    /// Commits that fail, newest first.
    pub failures: Vec<Failure>,
    /// Things the check could not verify, for people (a flow whose note is missing).
    pub notices: Vec<String>,
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
    /// The recorded reviews could not be read.
    #[error("could not read the recorded reviews")]
    Records(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What the walk keeps of each commit.
struct Seen {
    id: ObjectId,
    /// Parents (kept only for the flow scope).
    parents: Vec<ObjectId>,
    merge: bool,
    /// Carries an `Aiflow-Flow` trailer.
    flow: bool,
    /// The tree and first parent of an anchor candidate, confirmed after the walk.
    anchor: Option<Box<(ObjectId, Option<ObjectId>)>>,
    /// Why it fails, if it does (boxed: most commits pass, and ranges can be long).
    failure: Option<Box<Failure>>,
    /// A reviewed subtask commit, to match against recorded reviews.
    bind: Option<Box<Bind>>,
}

/// What binding needs of a reviewed subtask commit: its flow and subtask.
struct Bind {
    flow: String,
    subtask: String,
}

/// Matches reviewed subtask commits against the reviews recorded in the flows' notes.
pub trait Binder {
    /// For each `(commit, flow, subtask)`, `None` when a recorded approval covers the commit, or
    /// why not; and notices about what could not be verified.
    fn bind(
        &mut self,
        items: &[(ObjectId, String, String)],
    ) -> Result<(Vec<Option<Reason>>, Vec<String>), CheckError>;
}

/// Check every commit of `range` against `policy`.
pub fn check(
    objects: &mut dyn Objects,
    range: &Range,
    policy: &Policy,
    rules: &Rules,
    scope: Scope,
    binder: Option<&mut dyn Binder>,
) -> Result<Report, CheckError> {
    let keep_parents = scope == Scope::Flow;
    let mut seen = walk::walk(objects, range, |id, parents, commit| {
        Ok(judge(id, parents, commit, policy, rules, keep_parents))
    })?;

    // Confirm anchors: empty commits (same tree as their parent) with a flow trailer.
    let mut buf = Vec::new();
    let mut scratch = Vec::new();
    for s in seen.iter_mut() {
        let Some((tree, parent)) = s.anchor.as_deref().copied() else {
            continue;
        };
        let parent_tree = match parent {
            None => ObjectId::from_hex(EMPTY_TREE).expect("valid hex"),
            Some(p) => {
                objects.commit(&p, &mut buf)?;
                scratch.clear();
                let c = parse_commit(&buf, &mut scratch).ok_or(WalkError::Malformed(p))?;
                ObjectId::from_hex(c.tree).map_err(|_| WalkError::Malformed(p))?
            }
        };
        if parent_tree != tree {
            s.anchor = None;
        }
    }

    let in_scope = match scope {
        Scope::Full => vec![true; seen.len()],
        Scope::Flow => flow_scope(&seen),
    };

    let mut report = Report {
        commits: seen.len(),
        ..Report::default()
    };

    // Bind reviews to content: reviewed subtask commits must match a recorded approval.
    if let Some(binder) = binder {
        let wanted: Vec<usize> = (0..seen.len())
            .filter(|&i| {
                let s = &seen[i];
                in_scope[i] && s.bind.is_some() && s.failure.is_none() && !s.merge
            })
            .collect();
        if !wanted.is_empty() {
            let items: Vec<(ObjectId, String, String)> = wanted
                .iter()
                .map(|&i| {
                    let b = seen[i].bind.as_deref().expect("filtered");
                    (seen[i].id, b.flow.clone(), b.subtask.clone())
                })
                .collect();
            let (verdicts, notices) = binder.bind(&items)?;
            report.notices = notices;
            for (&i, verdict) in wanted.iter().zip(verdicts) {
                if let Some(reason) = verdict {
                    // Rare: read the commit again for its subject and author.
                    let s = &mut seen[i];
                    objects.commit(&s.id, &mut buf)?;
                    scratch.clear();
                    let c = parse_commit(&buf, &mut scratch).ok_or(WalkError::Malformed(s.id))?;
                    s.failure = Some(Box::new(Failure {
                        id: s.id,
                        subject: subject(c.message),
                        author: String::from_utf8_lossy(c.author).into_owned(),
                        reason,
                    }));
                }
            }
        }
    }
    for (s, in_scope) in seen.into_iter().zip(in_scope) {
        if !in_scope {
            report.out_of_scope += 1;
        } else if (s.merge && policy.exempt_merges) || (s.anchor.is_some() && policy.exempt_anchor)
        {
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

    let mut flow = false;
    let mut step = false;
    // Borrowed from the message; made into strings only for reviewed commits.
    let mut flow_name = None;
    let mut subtask_id = None;
    let mut best: Option<Reason> = None;
    let mut reviewed = false;
    for t in block.trailers(rules) {
        let key = t.key(rules);
        if key.eq_ignore_ascii_case(FLOW_TRAILER) {
            flow = true;
            if flow_name.is_none() {
                flow_name = Some(t.value());
            }
        } else if key.eq_ignore_ascii_case(SUBTASK_TRAILER)
            || key.eq_ignore_ascii_case(STEP_TRAILER)
        {
            step = true;
            if subtask_id.is_none() && key.eq_ignore_ascii_case(SUBTASK_TRAILER) {
                subtask_id = Some(t.value());
            }
        }
        if reviewed || !policy.is_review_key(key) {
            continue;
        }
        let value = t.value();
        let value = String::from_utf8_lossy(&value);
        let reason = match parse_ident(&value) {
            None => Reason::Malformed(value.into_owned()),
            Some((_, email))
                if !policy.allow_self_review && email.eq_ignore_ascii_case(author_email) =>
            {
                Reason::SelfReview(value.into_owned())
            }
            Some((_, email))
                if !policy.reviewers.is_empty()
                    && !policy
                        .reviewers
                        .iter()
                        .any(|r| r.eq_ignore_ascii_case(email)) =>
            {
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
    let anchor = (flow && !step && parents.len() <= 1)
        .then(|| ObjectId::from_hex(commit.tree).ok())
        .flatten()
        .map(|tree| Box::new((tree, parents.first().copied())));
    let bind = match (reviewed, flow_name, subtask_id) {
        (true, Some(flow), Some(subtask)) => {
            let (flow, subtask) = (flow.trim_ascii(), subtask.trim_ascii());
            (!flow.is_empty() && !subtask.is_empty()).then(|| {
                Box::new(Bind {
                    flow: String::from_utf8_lossy(flow).into_owned(),
                    subtask: String::from_utf8_lossy(subtask).into_owned(),
                })
            })
        }
        _ => None,
    };
    let failure = if reviewed {
        None
    } else {
        let reason = best.unwrap_or_else(|| Reason::NoReview {
            elsewhere: mentions_review(commit.message, policy),
        });
        Some(Box::new(Failure {
            id: *id,
            subject: subject(commit.message),
            author: String::from_utf8_lossy(commit.author).into_owned(),
            reason,
        }))
    };
    Seen {
        id: *id,
        parents: if keep_parents {
            parents.to_vec()
        } else {
            Vec::new()
        },
        merge,
        flow,
        anchor,
        failure,
        bind,
    }
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
/// anchor commit in the range (the trunk moved onto a flow's line), and the merged side of every
/// merge whose merged side holds a commit with a flow trailer.
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
    let mut stack: Vec<usize> = (0..seen.len())
        .filter(|&i| seen[i].anchor.is_some())
        .collect();
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
            for j in 0..seen.len() {
                if side[j] && !mainline[j] {
                    scope[j] = true;
                }
            }
        }
    }
    scope
}
