//! Signing off and asking for changes: `approve` (a subtask's commits, all or up to one),
//! `approve --range` (commits outside any flow) and `reject`. An approval adds the review trailer
//! to every approved commit, records them with their content ids (signed where a key is
//! configured or the policy requires it), and moves the branch and the notes in one transaction.

use super::review::{Started, started};
use super::{Found, WorkError};
use crate::flow::lifecycle::{self, Action};
use crate::flow::names::{FLOW_KEY, SUBTASK_KEY};
use crate::flow::review::{self, Subject};
use crate::flow::{Review, ReviewNote, ReviewedCommit, SubtaskStatus};
use crate::gate::policy::parse_ident;
use crate::gate::sshsig::Verified;
use crate::gate::{Policy, Scope};
use crate::git::{Stamp, rewrite, trailers};
use crate::store::{Change, LookupError, StoreError};
use gix::ObjectId;
use std::collections::{HashMap, HashSet};

/// How to approve a subtask.
#[derive(Debug, Clone, Default)]
pub struct ApproveOptions {
    /// Approve only the commits up to this revision (later commits stay unreviewed).
    pub upto: Option<String>,
    /// A comment recorded with the approval (blank: none).
    pub comment: Option<String>,
}

/// Whether an approval was signed, and who the gate will see as the signer.
#[derive(Debug, Clone)]
pub enum Signing {
    /// No signature.
    Unsigned,
    /// Signed; `signer` is who the gate will see, when the policy names signers and the key is
    /// among them.
    Signed {
        /// Who the gate will see as the signer.
        signer: Option<Verified>,
    },
}

impl Signing {
    fn of(review: &Review, signer: Option<Verified>) -> Self {
        match review.signature {
            None => Signing::Unsigned,
            Some(_) => Signing::Signed { signer },
        }
    }
}

/// An approved commit: its id before and after the review trailer, and its content id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovedCommit {
    /// The commit as it was.
    pub old: ObjectId,
    /// The commit with the review trailer.
    pub new: ObjectId,
    /// Its content id, as recorded.
    pub content_id: String,
}

/// A recorded approval of a subtask.
#[derive(Debug, Clone)]
pub struct Approved {
    /// Who approved, `Name <email>`.
    pub reviewer: String,
    /// The subtask's branch.
    pub branch: String,
    /// Its tip before.
    pub old_tip: ObjectId,
    /// Its tip now.
    pub new_tip: ObjectId,
    /// Whether every commit of the subtask is approved.
    pub whole: bool,
    /// How many later commits are not approved.
    pub later: usize,
    /// The approved commits, parents first.
    pub commits: Vec<ApprovedCommit>,
    /// The signature.
    pub signing: Signing,
    /// Under `tests = "required"`, why the tip has no passing test run (integrate will refuse
    /// it until it has one).
    pub untested: Option<String>,
    /// The deviations from the plan recorded with the approval.
    pub deviations: Option<crate::flow::deviations::Deviations>,
}

/// The subtask was approved already; nothing was recorded.
#[derive(Debug, Clone)]
pub struct AlreadyApproved {
    /// Who approved it: the earlier reviewer when another process recorded it meanwhile, else
    /// the one asking now.
    pub reviewer: String,
    /// The reviewer who recorded it meanwhile.
    pub by: Option<String>,
    /// The subtask's branch.
    pub branch: String,
    /// Its tip when the approval started.
    pub old_tip: ObjectId,
    /// Its tip now.
    pub new_tip: Option<ObjectId>,
}

/// What `approve` did.
#[derive(Debug, Clone)]
pub enum Approval {
    /// The approval is recorded.
    Approved(Approved),
    /// Nothing to do.
    Already(AlreadyApproved),
}

/// Who approves: the committer identity git would use now.
struct Reviewer {
    stamp: Stamp,
    email: String,
    committer: gix::actor::Signature,
}

impl Reviewer {
    fn now(repo: &gix::Repository) -> Result<Self, WorkError> {
        let committer = rewrite::committer(repo)?;
        let stamp = crate::git::committer_stamp(repo)?;
        let email = parse_ident(&stamp.who)
            .ok_or_else(|| {
                WorkError::invalid(format!(
                    "your identity `{}` is not `Name <email>`",
                    stamp.who
                ))
                .hint("set user.name and user.email")
            })?
            .1
            .to_owned();
        Ok(Reviewer {
            stamp,
            email,
            committer,
        })
    }

    fn who(&self) -> &str {
        &self.stamp.who
    }

    /// Refuse a reviewer the policy does not accept for `commits`: not on its list, or (unless
    /// the policy allows it) an author of one of them.
    fn may_approve(
        &self,
        repo: &gix::Repository,
        policy: &Policy,
        commits: &[ObjectId],
    ) -> Result<(), WorkError> {
        may_approve(repo, policy, self.who(), &self.email, commits)
    }

    /// Whether `ident` (`Name <email>`) is this reviewer, by email.
    fn is(&self, ident: &str) -> bool {
        parse_ident(ident).map(|(_, e)| e.to_ascii_lowercase())
            == Some(self.email.to_ascii_lowercase())
    }
}

/// Refuse `who` (whose email is `email`) as the reviewer of `commits` where the policy does not
/// accept them: not on its list, or (unless the policy allows it) an author of one of them.
///
/// The gate judges each review trailer by the same two rules ([`Policy::accepts_reviewer`] and
/// [`Policy::forbids_self_review`], in `gate::check` and, for the signer of a record, in
/// `gate::bind`); here they are asked before anything is written, over every commit at once, so
/// that the refusal can name the commits.
fn may_approve(
    repo: &gix::Repository,
    policy: &Policy,
    who: &str,
    email: &str,
    commits: &[ObjectId],
) -> Result<(), WorkError> {
    if !policy.accepts_reviewer(email) {
        return Err(WorkError::refused(format!(
            "{who} is not on the list of reviewers of {}",
            policy.source
        ))
        .hint(format!("ask one of them: {}", policy.reviewers.join(", "))));
    }
    let mut own = Vec::new();
    for id in commits {
        let c = repo
            .find_commit(*id)
            .map_err(|e| WorkError::invalid(e.to_string()))?;
        let author = c.author().map_err(|e| WorkError::invalid(e.to_string()))?;
        if policy.forbids_self_review(email, &author.email.to_string()) {
            let subject = c
                .message()
                .map(|m| m.summary().to_string())
                .unwrap_or_default();
            own.push(format!("{} {subject}", id.to_hex_with_len(7)));
        }
    }
    if own.is_empty() {
        return Ok(());
    }
    let mut e = WorkError::refused(format!(
        "{who} is the author of {} of the commits to approve, and {} forbids self-review",
        own.len(),
        policy.source
    ));
    for o in own.iter().take(5) {
        e = e.hint(format!("authored by you: {o}"));
    }
    Err(e.hint("ask someone else to review and run `git aiflow approve`"))
}

/// Record in the flow's note that `me` was refused as the reviewer of `commits` (for `stats`),
/// and return the refusal `e`, with a word when the record could not be written. Errors other
/// than a refusal (an unreadable commit) are returned as they are, unrecorded.
fn record_refusal(
    repo: &gix::Repository,
    found: &Found,
    me: &Reviewer,
    policy: &Policy,
    commits: &[ObjectId],
    e: WorkError,
) -> WorkError {
    if !matches!(e, WorkError::Refused { .. }) {
        return e;
    }
    let (reason, count) = if !policy.accepts_reviewer(&me.email) {
        (review::RefusedApproval::NOT_ALLOWED, commits.len())
    } else {
        let own = commits
            .iter()
            .filter_map(|id| repo.find_commit(*id).ok())
            .filter(|c| {
                c.author()
                    .is_ok_and(|a| policy.forbids_self_review(&me.email, &a.email.to_string()))
            })
            .count();
        (review::RefusedApproval::SELF_REVIEW, own)
    };
    let record = review::RefusedApproval {
        subtask: found.id.clone(),
        reviewer: me.who().to_owned(),
        at: me.stamp.at.clone(),
        reason: reason.to_owned(),
        commits: count,
        ..Default::default()
    };
    let slug = &found.flow().slug;
    let written = crate::store::update_flow(
        repo,
        slug,
        &format!(
            "aiflow: approval of {} of {slug} refused ({reason})",
            found.id
        ),
        &me.stamp,
        |flow| -> Result<bool, WorkError> {
            flow.refused_approvals.push(record.clone());
            Ok(true)
        },
    );
    match written {
        Ok(_) => e,
        Err(w) => e.hint(format!("(the refusal could not be recorded: {w})")),
    }
}

/// `msg` with the trailers an approval adds: the review trailer `key: reviewer`, and `extra`
/// where a trailer of that key is missing; `None` when it has them all.
fn approved_message(
    msg: &[u8],
    key: &str,
    reviewer: &str,
    extra: &[(&str, &str)],
    rules: &trailers::Rules,
) -> Option<Vec<u8>> {
    let pairs = trailers::parse_commit(msg, rules);
    let has = |k: &str, v: Option<&str>| {
        pairs.iter().any(|(pk, pv)| {
            pk.eq_ignore_ascii_case(k.as_bytes())
                && v.is_none_or(|v| String::from_utf8_lossy(pv).trim().eq_ignore_ascii_case(v))
        })
    };
    let mut msg = msg.to_vec();
    let mut changed = false;
    for (k, v) in extra {
        if !has(k, None) {
            msg = trailers::add(&msg, k, v, rules);
            changed = true;
        }
    }
    if !has(key, Some(reviewer)) {
        msg = trailers::add(&msg, key, reviewer, rules);
        changed = true;
    }
    changed.then_some(msg)
}

/// The content ids of `commits`.
fn content_ids(repo: &gix::Repository, commits: &[ObjectId]) -> Result<Vec<String>, WorkError> {
    commits
        .iter()
        .map(|c| {
            crate::git::content::content_id(repo, *c).map_err(|e| {
                WorkError::invalid(format!("could not compute the content id of {c}")).because(e)
            })
        })
        .collect()
}

/// The records of `commits` (as rewritten) with their content ids.
fn reviewed_commits(commits: &[ObjectId], contents: &[String]) -> Vec<ReviewedCommit> {
    commits
        .iter()
        .zip(contents)
        .map(|(id, content)| ReviewedCommit {
            extra: Default::default(),
            commit: id.to_string(),
            content_id: Some(content.clone()),
            patch_id: None,
        })
        .collect()
}

/// Sign `review` of `commits` (as rewritten), mapping refusals to what the user must do. The
/// signer the gate will see (the key's principal) must be a reviewer the policy accepts for them.
fn sign(
    repo: &gix::Repository,
    policy: &Policy,
    review: &mut Review,
    subject: Subject<'_>,
    commits: &[ObjectId],
) -> Result<Signing, WorkError> {
    let signer = sign_only(repo, policy, review, subject)?;
    if let Some(v) = &signer {
        let who = format!("{} (the principal your key is allowed as)", v.principal);
        may_approve(repo, policy, &who, &v.principal, commits)?;
    }
    Ok(Signing::of(review, signer))
}

fn sign_only(
    repo: &gix::Repository,
    policy: &Policy,
    review: &mut Review,
    subject: Subject<'_>,
) -> Result<Option<Verified>, WorkError> {
    crate::gate::attest::sign_review(repo, policy, review, subject).map_err(|e| {
        let hints = e.hints();
        let mut err = if e.is_refusal() {
            WorkError::refused(e.to_string())
        } else {
            WorkError::invalid(e.to_string())
        };
        if let crate::gate::attest::AttestError::Sign(source) = e {
            err = err.because(source);
        }
        hints.into_iter().fold(err, WorkError::hint)
    })
}

/// The version string recorded (and signed) with each review.
fn tool() -> String {
    format!("git-aiflow {}", env!("CARGO_PKG_VERSION"))
}

/// A comment worth recording: not blank.
fn comment(text: Option<&String>) -> Option<String> {
    text.filter(|m| !m.trim().is_empty()).cloned()
}

/// How an approval ended when another process got there first.
enum Raced {
    /// It failed for its own reasons.
    Failed(WorkError),
    /// The subtask was approved meanwhile, by `by`.
    Approved { by: String },
    /// The branch moved and what is recorded does not cover it (yet: the notes read may
    /// predate the approval that moved it).
    Moved,
}

impl From<WorkError> for Raced {
    fn from(e: WorkError) -> Self {
        Raced::Failed(e)
    }
}

impl From<StoreError> for Raced {
    fn from(e: StoreError) -> Self {
        Raced::Failed(e.into())
    }
}

impl From<LookupError> for Raced {
    fn from(e: LookupError) -> Self {
        Raced::Failed(e.into())
    }
}

/// Approve `found`'s commits (all of them, or up to `options.upto`) as the committer identity
/// git would use now.
pub fn approve(
    repo: &gix::Repository,
    found: &Found,
    options: &ApproveOptions,
) -> Result<Approval, WorkError> {
    // Every commit rewritten and a note for each: written as one pack when the store moves the
    // refs (git::pack), not as thousands of loose files.
    let repo = &crate::git::pack::in_memory(repo);
    let s = found.subtask();
    let slug = &found.flow().slug;
    let action = if options.upto.is_none() {
        Action::Approve
    } else {
        Action::ApproveSome
    };
    let w = started(repo, found, action)?;
    if w.commits.is_empty() {
        return Err(WorkError::refused(format!(
            "subtask {} has no commits on {} to approve",
            s.id, w.branch
        ))
        .hint("make steps first: `git aiflow exec` or `git aiflow step`"));
    }
    let selected = select(repo, found, &w, options.upto.as_deref())?;
    let whole = selected.len() == w.commits.len();

    // Who reviews, and may they?
    let me = Reviewer::now(repo)?;
    let policy = Policy::load(repo, Some(w.integration_tip))?;
    if let Err(e) = me.may_approve(repo, &policy, &selected) {
        return Err(record_refusal(repo, found, &me, &policy, &selected, e));
    }

    // Already done?
    let approvals = found.flow().approvals(&s.id);
    if whole
        && s.status == SubtaskStatus::Approved
        && selected
            .iter()
            .all(|c| approvals.by_id(&c.to_string()).is_approved())
    {
        return Ok(already(repo, me.who(), &w, None));
    }

    // The reviewer approves knowingly: a tip without a passing test run is said, not refused.
    let untested = match policy.tests_required {
        true => super::test::passed(repo, w.tip)?.err(),
        false => None,
    };
    // What the reviewer accepts besides the code: where it strays from the plan.
    let deviations = match whole {
        true => super::review::deviations(repo, found, &w)?,
        false => None,
    };
    let rewritten = reword_selected(repo, found, &policy, &me, &w.commits, &selected)?;

    // The record: each approved commit (as rewritten) with its content id, signed where a key is
    // configured or the policy requires it.
    let by_old: HashMap<ObjectId, ObjectId> = rewritten.commits.iter().copied().collect();
    let new_ids: Vec<ObjectId> = selected.iter().map(|old| by_old[old]).collect();
    let contents = content_ids(repo, &new_ids)?;
    let mut review = Review {
        subtask: s.id.clone(),
        verdict: review::Verdict::Approved,
        reviewer: me.who().to_owned(),
        at: me.stamp.at.clone(),
        comment: comment(options.comment.as_ref()),
        tool: Some(tool()),
        commits: reviewed_commits(&new_ids, &contents),
        deviations: deviations.clone(),
        ..Review::default()
    };
    let subject = Subject::Subtask {
        flow: slug,
        subtask: &s.id,
    };
    let signing = sign(repo, &policy, &mut review, subject, &new_ids)?;
    let change = Recording {
        found,
        work: &w,
        whole,
        review: &review,
        rewritten: &rewritten,
    };
    if let Some(by) = change.write(repo, &me)? {
        return Ok(already(repo, me.who(), &w, Some(by)));
    }
    Ok(Approval::Approved(Approved {
        reviewer: me.who().to_owned(),
        branch: w.branch.clone(),
        old_tip: w.tip,
        new_tip: rewritten.tip,
        whole,
        later: w.commits.len() - selected.len(),
        commits: approved_commits(selected.iter().copied().zip(new_ids), contents),
        signing,
        untested,
        deviations,
    }))
}

/// Add the approval's trailers to the `selected` ones of `commits` (rewriting the commits after
/// them too).
fn reword_selected(
    repo: &gix::Repository,
    found: &Found,
    policy: &Policy,
    me: &Reviewer,
    commits: &[ObjectId],
    selected: &[ObjectId],
) -> Result<rewrite::Rewritten, WorkError> {
    let rules = trailers::Rules::from_config(&repo.config_snapshot());
    let key = &policy.review_trailers[0];
    let selected_set: HashSet<ObjectId> = selected.iter().copied().collect();
    let sign_commits = super::signing(repo)?;
    let extra = [
        (FLOW_KEY, found.flow().slug.as_str()),
        (SUBTASK_KEY, found.id.as_str()),
    ];
    Ok(rewrite::reword(
        repo,
        commits,
        &me.committer,
        sign_commits.as_ref(),
        |_, id, c| {
            if !selected_set.contains(&id) {
                return None;
            }
            approved_message(&c.message, key, me.who(), &extra, &rules)
        },
    )?)
}

/// The approved commits' records for the caller: (old, new) pairs with their content ids.
fn approved_commits(
    pairs: impl Iterator<Item = (ObjectId, ObjectId)>,
    contents: Vec<String>,
) -> Vec<ApprovedCommit> {
    pairs
        .zip(contents)
        .map(|((old, new), content_id)| ApprovedCommit {
            old,
            new,
            content_id,
        })
        .collect()
}

/// The commits to approve: all of `w`'s, or those up to `upto`.
fn select(
    repo: &gix::Repository,
    found: &Found,
    w: &Started,
    upto: Option<&str>,
) -> Result<Vec<ObjectId>, WorkError> {
    let Some(rev) = upto else {
        return Ok(w.commits.clone());
    };
    let id = repo
        .rev_parse_single(rev)
        .map_err(|e| WorkError::invalid(format!("{rev:?} is not a revision: {e}")))?
        .object()
        .map_err(|e| WorkError::invalid(format!("{rev:?} cannot be read: {e}")))?
        .peel_to_commit()
        .map_err(|_| WorkError::invalid(format!("{rev:?} does not name a commit")))?
        .id;
    if !w.commits.contains(&id) {
        let s = found.subtask();
        return Err(WorkError::invalid(format!(
            "{rev} is not one of the commits of subtask {} ({}..{})",
            s.id,
            found.flow().integration_branch,
            w.branch
        ))
        .hint(format!("`git aiflow review {}` lists them", s.id)));
    }
    let keep = rewrite::up_to(repo, &w.commits, id)?;
    Ok(w.commits
        .iter()
        .copied()
        .filter(|c| keep.contains(c))
        .collect())
}

/// The subtask is approved already; `by` recorded it meanwhile.
fn already(repo: &gix::Repository, reviewer: &str, w: &Started, by: Option<String>) -> Approval {
    Approval::Already(AlreadyApproved {
        reviewer: by.clone().unwrap_or_else(|| reviewer.to_owned()),
        by,
        branch: w.branch.clone(),
        old_tip: w.tip,
        new_tip: crate::git::branch_tip(repo, &w.branch),
    })
}

/// An approval of a subtask, ready to be written: the review, and the rewritten commits the
/// branch moves to.
struct Recording<'a> {
    found: &'a Found,
    work: &'a Started,
    whole: bool,
    review: &'a Review,
    rewritten: &'a rewrite::Rewritten,
}

impl Recording<'_> {
    /// Record the review, move the branch and carry the step notes, in one transaction;
    /// `Some(by)` when `me` approved the subtask meanwhile (from another process) and nothing
    /// was recorded. Refused when someone else did, or when the branch moved.
    fn write(&self, repo: &gix::Repository, me: &Reviewer) -> Result<Option<String>, WorkError> {
        let id = &self.found.id;
        match self.attempt(repo, &me.stamp) {
            Ok(()) => Ok(None),
            Err(Raced::Moved) => Err(WorkError::refused(format!(
                "{} moved while you approved it; nothing was recorded",
                self.work.branch
            ))
            .hint(format!(
                "look again with `git aiflow review {id}`, then approve what is there now"
            ))),
            Err(Raced::Approved { by }) if me.is(&by) => Ok(Some(by)),
            Err(Raced::Approved { by }) => Err(WorkError::refused(format!(
                "subtask {id} was approved meanwhile by {by}; nothing was recorded"
            ))
            .hint(format!("`git aiflow review {id}` shows the approval"))),
            Err(Raced::Failed(e)) => Err(e),
        }
    }

    /// Write the approval, looking again (up to three times) when the branch moved.
    fn attempt(&self, repo: &gix::Repository, stamp: &Stamp) -> Result<(), Raced> {
        let slug = &self.found.flow().slug;
        let id = &self.found.id;
        // A parallel approval moves the branch and the notes in one transaction, but the notes
        // this attempt read may predate it: look again (a fresh read) before saying the branch
        // moved.
        let mut looks = 0;
        loop {
            let written = crate::store::update_flow_with(
                repo,
                slug,
                &format!("aiflow: approve {id} of {slug}"),
                stamp,
                |flow, snap| -> Result<Option<Change>, Raced> {
                    self.check_race(repo, flow)?;
                    self.change(repo, flow, snap).map(Some)
                },
            );
            match written {
                Err(Raced::Moved) if looks < 3 => {
                    looks += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20 * looks));
                }
                written => return written.map(|_| ()),
            }
        }
    }

    /// Another approval may have landed since the branch and the notes were read (two reads,
    /// not one): when what the branch holds now is covered, by this snapshot of the notes, say
    /// so; when it moved and is not covered, look again.
    fn check_race(&self, repo: &gix::Repository, flow: &crate::flow::Flow) -> Result<(), Raced> {
        let w = self.work;
        let id = &self.found.id;
        let now = crate::git::branch_tip(repo, &w.branch);
        let moved = now != Some(w.tip);
        if !(moved || self.whole) {
            return Ok(());
        }
        let approvals = flow.approvals(id);
        let covered = now.is_some_and(|tip| {
            rewrite::range(repo, Some(w.integration_tip), tip).is_ok_and(|ids| {
                !ids.is_empty()
                    && ids
                        .iter()
                        .all(|c| approvals.by_id(&c.to_string()).is_approved())
            })
        });
        let last = flow
            .reviews
            .iter()
            .rev()
            .find(|r| &r.subtask == id && r.approves());
        match (covered, last) {
            (true, Some(r)) => Err(Raced::Approved {
                by: r.reviewer.clone(),
            }),
            _ if moved => Err(Raced::Moved),
            _ => Ok(()),
        }
    }

    /// The flow with the review and the new status, the branch moved, and the step notes
    /// carried to the rewritten commits, as notes.rewriteRef would.
    fn change(
        &self,
        repo: &gix::Repository,
        flow: &mut crate::flow::Flow,
        snap: &crate::store::Snapshot,
    ) -> Result<Change, Raced> {
        let id = &self.found.id;
        let action = if self.whole {
            Action::Approve
        } else {
            Action::ApproveSome
        };
        if !lifecycle::apply(flow, id, action) {
            return Err(Raced::Failed(WorkError::refused(format!(
                "subtask {id} left the plan meanwhile"
            ))));
        }
        flow.reviews.push(self.review.clone());
        let mut notes = Vec::new();
        for (old, new) in self.rewritten.commits.iter().filter(|(a, b)| a != b) {
            if let Some(bytes) = snap.note_bytes(repo, old)? {
                notes.push((*new, Some(bytes)));
            }
        }
        let refs = if self.rewritten.changed() {
            vec![super::branch_edit(
                &self.work.branch,
                Some(self.work.tip),
                self.rewritten.tip,
                format!("aiflow approve {id} by {}", self.review.reviewer),
            )?]
        } else {
            Vec::new()
        };
        Ok(Change { notes, refs })
    }
}

/// How to approve commits outside any flow.
#[derive(Debug, Clone, Default)]
pub struct RangeOptions {
    /// `A..B`: B is a branch (or HEAD on a branch), A what it is based on.
    pub range: String,
    /// A comment recorded with the approval (blank: none).
    pub comment: Option<String>,
    /// A subtask, a flow or `upto` was given too, which a range approval refuses.
    pub selection_given: bool,
}

/// A recorded approval of a range.
#[derive(Debug, Clone)]
pub struct RangeApproved {
    /// The branch whose commits were approved.
    pub branch: String,
    /// Who approved, `Name <email>`.
    pub reviewer: String,
    /// The branch's tip before.
    pub old_tip: ObjectId,
    /// Its tip now.
    pub new_tip: ObjectId,
    /// The notes commit that records the approval.
    pub notes: Option<ObjectId>,
    /// Every commit of the range, parents first.
    pub commits: Vec<ApprovedCommit>,
    /// The signature.
    pub signing: Signing,
}

/// The branch and commits of a range `A..B` to approve.
struct RangeWork {
    base: ObjectId,
    branch: String,
    tip: ObjectId,
    ids: Vec<ObjectId>,
}

/// Approve the commits of `options.range` outside any flow (a hot fix, hand commits on a trunk
/// that requires signed reviews). B must be a branch's tip; the commits get the review trailer,
/// the branch moves by compare-and-swap, and each approved commit gets a review note with the
/// (signed) record, in one transaction.
pub fn approve_range(
    repo: &gix::Repository,
    options: &RangeOptions,
) -> Result<RangeApproved, WorkError> {
    let repo = &crate::git::pack::in_memory(repo);
    let RangeWork {
        base,
        branch,
        tip,
        ids,
    } = range_work(repo, &options.range)?;
    if options.selection_given {
        return Err(WorkError::invalid(
            "--range approves commits outside flows; it takes no subtask, --flow or --upto",
        ));
    }
    // The policy of what the commits are based on (as `check A..B` uses), never of the commits.
    let policy = Policy::load_for_range(repo, Some(base))?;
    if policy.protection(&format!("refs/heads/{branch}")) == Some(Scope::Integration) {
        return Err(WorkError::refused(format!(
            "{branch} is a flow's integration branch: its commits are approved per subtask"
        ))
        .hint("`git aiflow approve <subtask>`"));
    }
    let me = Reviewer::now(repo)?;
    me.may_approve(repo, &policy, &ids)?;
    let rules = trailers::Rules::from_config(&repo.config_snapshot());
    outside_flows(repo, &ids, &rules)?;
    let key = &policy.review_trailers[0];
    let sign_commits = super::signing(repo)?;
    let rewritten = rewrite::reword(
        repo,
        &ids,
        &me.committer,
        sign_commits.as_ref(),
        |_, _, c| approved_message(&c.message, key, me.who(), &[], &rules),
    )?;
    let new_ids: Vec<ObjectId> = rewritten.commits.iter().map(|(_, n)| *n).collect();
    let contents = content_ids(repo, &new_ids)?;
    let mut review = Review {
        range: Some(format!(
            "{}..{}",
            base.to_hex_with_len(12),
            rewritten.tip.to_hex_with_len(12)
        )),
        verdict: review::Verdict::Approved,
        reviewer: me.who().to_owned(),
        at: me.stamp.at.clone(),
        comment: comment(options.comment.as_ref()),
        tool: Some(tool()),
        commits: reviewed_commits(&new_ids, &contents),
        ..Review::default()
    };
    let signing = sign(repo, &policy, &mut review, Subject::Range, &new_ids)?;
    let notes = write_range(repo, &branch, tip, &review, &rewritten)?;
    Ok(RangeApproved {
        branch,
        reviewer: me.who().to_owned(),
        old_tip: tip,
        new_tip: rewritten.tip,
        notes,
        commits: approved_commits(rewritten.commits.iter().copied(), contents),
        signing,
    })
}

/// Read `A..B`: the base, the branch B names (HEAD: the current branch), its tip and the
/// commits; refused when there are none.
fn range_work(repo: &gix::Repository, range: &str) -> Result<RangeWork, WorkError> {
    let bad = |why: String| {
        WorkError::invalid(format!("{range:?}: {why}"))
            .hint("give the commits as A..B, where B is a branch (or HEAD on a branch) and A what it is based on, e.g. `origin/main..HEAD`")
    };
    let Some((from, to)) = range.split_once("..").filter(|(_, b)| !b.starts_with('.')) else {
        return Err(bad("not a range A..B".into()));
    };
    let peel = |rev: &str| -> Result<ObjectId, WorkError> {
        Ok(repo
            .rev_parse_single(rev)
            .map_err(|e| bad(format!("{rev:?} is not a revision: {e}")))?
            .object()
            .map_err(|e| bad(e.to_string()))?
            .peel_to_commit()
            .map_err(|_| bad(format!("{rev:?} does not name a commit")))?
            .id)
    };
    let base = peel(if from.is_empty() { "HEAD" } else { from })?;
    let to = if to.is_empty() { "HEAD" } else { to };
    let branch = if to == "HEAD" {
        crate::git::current_branch(repo).ok_or_else(|| bad("HEAD is detached".into()))?
    } else {
        let full = repo
            .find_reference(to)
            .map_err(|_| {
                bad(format!(
                    "{to} is not a branch: its commits could not be rewritten"
                ))
            })?
            .name()
            .as_bstr()
            .to_string();
        full.strip_prefix("refs/heads/")
            .ok_or_else(|| bad(format!("{to} is not a local branch")))?
            .to_owned()
    };
    let tip = crate::git::branch_tip(repo, &branch)
        .ok_or_else(|| bad(format!("{branch} has no commits")))?;
    let ids = rewrite::range(repo, Some(base), tip)?;
    if ids.is_empty() {
        return Err(WorkError::refused(format!(
            "{range} holds no commits to approve"
        )));
    }
    Ok(RangeWork {
        base,
        branch,
        tip,
        ids,
    })
}

/// Refuse commits of a flow (they carry `Aiflow-*` trailers): they are approved per subtask.
fn outside_flows(
    repo: &gix::Repository,
    ids: &[ObjectId],
    rules: &trailers::Rules,
) -> Result<(), WorkError> {
    for id in ids {
        let c = repo
            .find_commit(*id)
            .map_err(|e| WorkError::invalid(e.to_string()))?;
        let pairs = trailers::parse_commit(c.message_raw_sloppy(), rules);
        if pairs.iter().any(|(k, _)| {
            k.eq_ignore_ascii_case(FLOW_KEY.as_bytes())
                || k.eq_ignore_ascii_case(SUBTASK_KEY.as_bytes())
        }) {
            return Err(WorkError::refused(format!(
                "{} belongs to a flow (Aiflow-* trailers); approve it with its subtask",
                id.to_hex_with_len(12)
            ))
            .hint("`git aiflow approve <subtask>`"));
        }
    }
    Ok(())
}

/// Move `branch` from `tip` to the rewritten commits and give each of them a review note with
/// `review` (earlier reviews of the same commit, whose note came along, are kept), in one
/// transaction; returns the notes commit.
fn write_range(
    repo: &gix::Repository,
    branch: &str,
    tip: ObjectId,
    review: &Review,
    rewritten: &rewrite::Rewritten,
) -> Result<Option<ObjectId>, WorkError> {
    let edit = super::branch_edit(
        branch,
        Some(tip),
        rewritten.tip,
        format!("aiflow approve --range by {}", review.reviewer),
    )?;
    let written = crate::store::update(
        repo,
        &format!(
            "aiflow: approve {} commit(s) of {branch}",
            rewritten.commits.len()
        ),
        |snap| -> Result<Change, WorkError> {
            if crate::git::branch_tip(repo, branch) != Some(tip) {
                return Err(WorkError::refused(format!(
                    "{branch} moved while you approved it; nothing was recorded"
                ))
                .hint("look again, then approve what is there now"));
            }
            let mut notes = Vec::new();
            for (old, new) in &rewritten.commits {
                let mut reviews = Vec::new();
                if let Some(bytes) = snap.note_bytes(repo, old)? {
                    let text = String::from_utf8_lossy(&bytes);
                    if let Ok(n) = ReviewNote::decode(&text) {
                        reviews = n.reviews;
                    }
                }
                reviews.push(review.clone());
                notes.push((*new, Some(ReviewNote::new(reviews).to_toml().into_bytes())));
            }
            Ok(Change {
                notes,
                refs: vec![edit.clone()],
            })
        },
    )?;
    Ok(written.commit)
}

/// How to ask for changes.
#[derive(Debug, Clone, Default)]
pub struct RejectOptions {
    /// What must change, paragraph by paragraph.
    pub comments: Vec<String>,
}

/// A recorded request for changes; the subtask is active again.
#[derive(Debug, Clone)]
pub struct Rejected {
    /// Who asked, `Name <email>`.
    pub reviewer: String,
    /// When.
    pub at: String,
}

/// Ask for changes on `found`: record the request (the comment is what the agent sees next)
/// and make the subtask active again.
pub fn reject(
    repo: &gix::Repository,
    found: &Found,
    options: &RejectOptions,
) -> Result<Rejected, WorkError> {
    let s = found.subtask();
    let slug = &found.flow().slug;
    started(repo, found, Action::Reject)?;
    let comment = options
        .comments
        .iter()
        .map(|m| m.trim().to_owned())
        .collect::<Vec<_>>()
        .join("\n\n");
    if comment.is_empty() {
        return Err(WorkError::invalid("say what must change: -m TEXT"));
    }
    let stamp = crate::git::committer_stamp(repo)?;
    let review = Review {
        subtask: s.id.clone(),
        verdict: review::Verdict::ChangesRequested,
        reviewer: stamp.who.clone(),
        at: stamp.at.clone(),
        comment: Some(comment),
        tool: Some(tool()),
        ..Review::default()
    };
    let id = &s.id;
    crate::store::update_flow(
        repo,
        slug,
        &format!("aiflow: changes requested on {id} of {slug}"),
        &stamp,
        |flow| -> Result<bool, WorkError> {
            if !lifecycle::apply(flow, id, Action::Reject) {
                return Err(WorkError::refused(format!(
                    "subtask {id} left the plan meanwhile"
                )));
            }
            flow.reviews.push(review.clone());
            Ok(true)
        },
    )?;
    Ok(Rejected {
        reviewer: stamp.who,
        at: stamp.at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::names::REVIEWED_KEY;

    const GRACE: &str = "Grace <grace@example.com>";

    #[test]
    fn approval_adds_the_review_and_missing_flow_trailers() {
        let rules = trailers::Rules::default();
        let msg = b"Add the bucket\n\nAiflow-Flow: rate\n";
        let out = approved_message(
            msg,
            REVIEWED_KEY,
            GRACE,
            &[(FLOW_KEY, "rate"), (SUBTASK_KEY, "k3f9")],
            &rules,
        )
        .expect("changed");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "Add the bucket\n\nAiflow-Flow: rate\nAiflow-Subtask: k3f9\nReviewed-by: Grace <grace@example.com>\n"
        );
    }

    #[test]
    fn approval_of_a_reviewed_message_changes_nothing() {
        let rules = trailers::Rules::default();
        let msg = b"Fix\n\nreviewed-by:  grace <GRACE@example.com> \n";
        assert_eq!(
            approved_message(msg, REVIEWED_KEY, GRACE, &[], &rules),
            None
        );
        // Another reviewer's trailer does not count for this one.
        let other = b"Fix\n\nReviewed-by: Bob <bob@example.com>\n";
        let out = approved_message(other, REVIEWED_KEY, GRACE, &[], &rules).expect("changed");
        assert!(out.ends_with(
            b"Reviewed-by: Bob <bob@example.com>\nReviewed-by: Grace <grace@example.com>\n"
        ));
    }

    #[test]
    fn blank_comments_are_not_recorded() {
        assert_eq!(comment(Some(&" \n".to_owned())), None);
        assert_eq!(comment(Some(&"ok".to_owned())), Some("ok".to_owned()));
        assert_eq!(comment(None), None);
    }
}
