//! A subtask up for review: the commits on its branch, what the gate says of each of them, the
//! reviews recorded and who signed them, and `ready` (the work waits for a reviewer).

use super::{Found, WorkError};
use crate::flow::deviations::Deviations;
use crate::flow::lifecycle::{self, Action};
use crate::flow::names::STEP_KEY;
use crate::flow::review::Subject;
use crate::flow::{Review, StepNote, SubtaskStatus, TestRun};
use crate::gate::sshsig::Verified;
use crate::gate::{Policy, Reason};
use crate::git::diff::{self, FileStat};
use crate::git::{rewrite, trailers};
use gix::ObjectId;
use std::collections::HashMap;

/// A started subtask's branch and the range of its commits.
#[derive(Debug, Clone)]
pub struct Started {
    /// The subtask's branch (short name).
    pub branch: String,
    /// The tip of the flow's integration branch.
    pub integration_tip: ObjectId,
    /// The tip of the subtask's branch.
    pub tip: ObjectId,
    /// The commits of `integration_tip..tip`, parents first.
    pub commits: Vec<ObjectId>,
}

/// The lifecycle's leave for `action` on `found`, then its branch and commits: refused when
/// the branch or the integration branch does not exist.
pub fn started(
    repo: &gix::Repository,
    found: &Found,
    action: Action,
) -> Result<Started, WorkError> {
    let s = found.subtask();
    lifecycle::may(action, s)?;
    let branch = found.branch();
    let tip = crate::git::branch_tip(repo, &branch).ok_or_else(|| {
        WorkError::invalid(format!(
            "the branch {branch} of subtask {} does not exist",
            s.id
        ))
        .hint(format!(
            "recreate it, or start the subtask again: `git aiflow start {}`",
            s.id
        ))
    })?;
    let integration_tip = super::integration_tip(repo, &found.entry)?;
    let commits = rewrite::range(repo, Some(integration_tip), tip)?;
    Ok(Started {
        branch,
        integration_tip,
        tip,
        commits,
    })
}

/// What `ready` did.
#[derive(Debug, Clone)]
pub struct Ready {
    /// The subtask's branch.
    pub branch: String,
    /// How many commits wait for the review.
    pub commits: usize,
}

/// Mark `found`'s work as waiting for a review (in-review), until a new step, an approval or a
/// request for changes. Refused when it has no commits; nothing is written when it is in review
/// already.
pub fn ready(repo: &gix::Repository, found: &Found) -> Result<Ready, WorkError> {
    let s = found.subtask();
    let slug = &found.flow().slug;
    let w = started(repo, found, Action::Ready)?;
    if w.commits.is_empty() {
        return Err(WorkError::refused(format!(
            "subtask {} has no commits on {} to review",
            s.id, w.branch
        ))
        .hint("make steps first: `git aiflow exec` or `git aiflow step`"));
    }
    if s.status != SubtaskStatus::InReview {
        let stamp = crate::git::committer_stamp(repo)?;
        let id = &s.id;
        crate::store::update_flow(
            repo,
            slug,
            &format!("aiflow: {id} of {slug} ready for review"),
            &stamp,
            |flow| -> Result<bool, WorkError> {
                if lifecycle::apply(flow, id, Action::Ready) {
                    Ok(true)
                } else {
                    Err(WorkError::refused(format!(
                        "subtask {id} left the plan meanwhile"
                    )))
                }
            },
        )?;
    }
    Ok(Ready {
        branch: w.branch,
        commits: w.commits.len(),
    })
}

/// Where a commit stands, by the gate's rules (the check `integrate` runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitState {
    /// A merge without a review of its own that the gate accepts.
    CleanMerge,
    /// A commit the gate does not ask a review of.
    Exempt,
    /// Reviewed, and the review is recorded.
    Approved,
    /// No review.
    Unreviewed,
    /// A review trailer that no recorded approval covers.
    Stale,
    /// The approval was revoked by a later request for changes.
    Revoked,
    /// Another failure, by the gate's code for it.
    Failed(&'static str),
}

impl CommitState {
    /// The state as `review` prints it (also in JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            CommitState::CleanMerge => "clean-merge",
            CommitState::Exempt => "exempt",
            CommitState::Approved => "approved",
            CommitState::Unreviewed => "unreviewed",
            CommitState::Stale => "stale",
            CommitState::Revoked => "revoked",
            CommitState::Failed(code) => code,
        }
    }
}

/// One commit of the subtask, as a reviewer sees it.
#[derive(Debug, Clone)]
pub struct CommitReview {
    /// The commit.
    pub id: ObjectId,
    /// Its subject line.
    pub subject: String,
    /// Its author, `Name <email>` (empty when it cannot be read).
    pub author: String,
    /// The step number it carries.
    pub step: Option<u32>,
    /// The values of its review trailers.
    pub reviewed_by: Vec<String>,
    /// Where it stands.
    pub state: CommitState,
    /// Who signed its approval, when the gate verified a signature.
    pub signer: Option<String>,
    /// The test run recorded in its step note, and whether it ran on this commit's tree.
    pub test: Option<(TestRun, bool)>,
}

impl CommitReview {
    /// The test state as `review` prints it: `passed`, `failed`, `timed-out`, `stale` (the run
    /// was on another tree: the commit was rewritten since), or `untested`.
    pub fn test_state(&self) -> &'static str {
        match &self.test {
            None => "untested",
            Some((_, false)) => "stale",
            Some((run, true)) if run.passed() => "passed",
            Some((run, true)) if run.timed_out => "timed-out",
            Some(_) => "failed",
        }
    }
}

/// Whether a recorded review's signature verifies, as the gate sees it.
#[derive(Debug, Clone)]
pub enum SignatureStatus {
    /// The review carries no signature.
    Unsigned,
    /// The signature verifies.
    Verified(Verified),
    /// The signature could not be verified.
    NotVerified {
        /// Why, for people.
        problem: String,
        /// The gate's code for it, when the signature was checked and failed.
        reason: Option<&'static str>,
    },
}

/// A subtask's commits and reviews, for `review`.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The branch and its commits.
    pub work: Started,
    /// `<integration branch>..<subtask branch>`.
    pub range: String,
    /// The commits, newest first.
    pub commits: Vec<CommitReview>,
    /// The subtask's recorded reviews, oldest first, with their signatures' status.
    pub reviews: Vec<(Review, SignatureStatus)>,
    /// What its commits touched against the files its plan names (`None`: the plan names none).
    pub deviations: Option<Deviations>,
}

/// What `w`'s commits touched against the files `found`'s plan names (`None`: it names none).
pub fn deviations(
    repo: &gix::Repository,
    found: &Found,
    w: &Started,
) -> Result<Option<Deviations>, WorkError> {
    let planned = &found.subtask().files;
    if planned.is_empty() {
        return Ok(None);
    }
    let touched = match w.commits.is_empty() {
        true => Default::default(),
        false => touched(repo, w.integration_tip, w.tip)?,
    };
    Ok(Deviations::of(planned, touched.iter().map(String::as_str)))
}

/// The paths the commits of `base..tip` change, merges aside.
pub fn touched(
    repo: &gix::Repository,
    base: ObjectId,
    tip: ObjectId,
) -> Result<std::collections::BTreeSet<String>, WorkError> {
    let mut touched = std::collections::BTreeSet::new();
    for files in diff::numstat(repo, &format!("{base}..{tip}"))?.into_values() {
        touched.extend(files.into_iter().map(|f| f.path));
    }
    Ok(touched)
}

/// Read `found`'s commits and reviews, judged by the gate's own rules.
pub fn inspect(repo: &gix::Repository, found: &Found) -> Result<Inspection, WorkError> {
    let s = found.subtask();
    let flow = found.flow();
    let w = started(repo, found, Action::Review)?;
    let rules = trailers::Rules::from_config(&repo.config_snapshot());
    let policy = Policy::load(repo, Some(w.integration_tip))?;
    let range = format!("{}..{}", flow.integration_branch, w.branch);

    // Review state per commit, by the gate's own rules: the same check `integrate` runs.
    let report = crate::gate::check(
        repo,
        &mut crate::gate::walk::GixObjects(repo),
        &crate::gate::walk::Range {
            tips: vec![w.tip],
            hidden: vec![w.integration_tip],
        },
        &policy,
        &rules,
        crate::gate::Scope::Integration,
        &mut crate::gate::bind::NotesBinder::for_repo(repo),
    )?;
    let failures: HashMap<ObjectId, &Reason> =
        report.failures.iter().map(|f| (f.id, &f.reason)).collect();
    let signed: HashMap<ObjectId, &str> = report
        .signed
        .iter()
        .map(|g| (g.commit, g.principal.as_str()))
        .collect();
    let notes = crate::store::Snapshot::load(repo)?;
    let mut commits = Vec::new();
    for id in w.commits.iter().rev() {
        let mut row = commit_review(repo, *id, &policy, &rules, failures.get(id).copied())?;
        row.signer = signed.get(id).map(|p| (*p).to_owned());
        row.test = test_run(repo, &notes, *id, &flow.slug, &s.id)?;
        commits.push(row);
    }
    // Who signed each review, as the gate sees it.
    let subject = Subject::Subtask {
        flow: &flow.slug,
        subtask: &s.id,
    };
    let reviews = flow
        .reviews
        .iter()
        .filter(|r| r.subtask == s.id)
        .map(|r| (r.clone(), signature_status(r, subject, &policy)))
        .collect();
    let deviations = deviations(repo, found, &w)?;
    Ok(Inspection {
        work: w,
        range,
        commits,
        reviews,
        deviations,
    })
}

/// One commit's row: its message's trailers and the gate's verdict on it (`failure`).
fn commit_review(
    repo: &gix::Repository,
    id: ObjectId,
    policy: &Policy,
    rules: &trailers::Rules,
    failure: Option<&Reason>,
) -> Result<CommitReview, WorkError> {
    let c = repo
        .find_commit(id)
        .map_err(|e| WorkError::invalid(e.to_string()))?;
    let raw = c.message_raw_sloppy().to_vec();
    let pairs = trailers::parse_commit(&raw, rules);
    let value = |k: &str| {
        pairs
            .iter()
            .filter(|(pk, _)| pk.eq_ignore_ascii_case(k.as_bytes()))
            .map(|(_, v)| String::from_utf8_lossy(v).trim().to_owned())
            .collect::<Vec<_>>()
    };
    let reviewed_by: Vec<String> = policy
        .review_trailers
        .iter()
        .flat_map(|k| value(k))
        .collect();
    let step = value(STEP_KEY).first().and_then(|v| v.parse::<u32>().ok());
    let author = c
        .author()
        .map(|a| format!("{} <{}>", a.name, a.email))
        .unwrap_or_default();
    let subject = String::from_utf8_lossy(raw.split(|&b| b == b'\n').next().unwrap_or_default())
        .trim()
        .to_owned();
    let parents = c.parent_ids().count();
    let state = match failure {
        None if parents > 1 && reviewed_by.is_empty() => CommitState::CleanMerge,
        None if parents <= 1 && reviewed_by.is_empty() => CommitState::Exempt,
        None => CommitState::Approved,
        Some(Reason::NoReview { .. }) => CommitState::Unreviewed,
        Some(Reason::NotRecorded { .. }) => CommitState::Stale,
        Some(Reason::Revoked { .. }) => CommitState::Revoked,
        Some(r) => CommitState::Failed(r.code()),
    };
    Ok(CommitReview {
        id,
        subject,
        author,
        step,
        reviewed_by,
        state,
        signer: None,
        test: None,
    })
}

/// The test run in the step note on `id` of subtask `subtask`, and whether it ran on `id`'s
/// tree.
fn test_run(
    repo: &gix::Repository,
    notes: &crate::store::Snapshot,
    id: ObjectId,
    flow: &str,
    subtask: &str,
) -> Result<Option<(TestRun, bool)>, WorkError> {
    let Some(bytes) = notes.note_bytes(repo, &id)? else {
        return Ok(None);
    };
    let Ok(note) = StepNote::parse(&String::from_utf8_lossy(&bytes)) else {
        return Ok(None);
    };
    let Some(run) = note
        .test
        .filter(|_| note.flow == flow && note.subtask == subtask)
    else {
        return Ok(None);
    };
    let tree = super::test::tree_of(repo, id)?;
    let same = run.tree.parse::<ObjectId>().ok() == Some(tree);
    Ok(Some((run, same)))
}

/// Whether `review`'s signature verifies under `policy`.
fn signature_status(review: &Review, subject: Subject<'_>, policy: &Policy) -> SignatureStatus {
    match (
        &review.signature,
        crate::gate::bind::verify_record(review, subject, policy),
    ) {
        (None, _) => SignatureStatus::Unsigned,
        (Some(_), Ok(Some(v))) => SignatureStatus::Verified(v),
        (Some(_), Ok(None)) => SignatureStatus::NotVerified {
            problem: "no allowed-signers file names this key here".into(),
            reason: None,
        },
        (Some(_), Err(e)) => SignatureStatus::NotVerified {
            problem: e.describe(policy),
            reason: Some(e.code()),
        },
    }
}

impl Inspection {
    /// Per commit: the files it changes, with lines added and deleted.
    pub fn files(
        &self,
        repo: &gix::Repository,
    ) -> Result<HashMap<ObjectId, Vec<FileStat>>, WorkError> {
        Ok(diff::numstat(repo, &self.range)?)
    }

    /// The commits' headers, stats and patches, oldest first, for a reader; coloured when
    /// `color` ([`crate::term::color`] decides).
    pub fn patches(&self, repo: &gix::Repository, color: bool) -> Result<Vec<u8>, WorkError> {
        let dir = crate::git::run_dir(repo);
        Ok(diff::review_log(&dir, &self.range, color)?)
    }
}
