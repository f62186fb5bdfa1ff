//! `git aiflow review`, `approve` and `reject`: a human looks at a subtask's commits and either
//! signs them off (review trailers on every commit, the approval recorded with patch ids) or asks
//! for changes.

use super::work::{self, Found, Which};
use super::{CliError, Ctx};
use crate::flow::lifecycle::{self, Action};
use crate::flow::review::{self, Subject};
use crate::flow::{Review, ReviewedCommit, SubtaskStatus};
use crate::gate::policy::parse_ident;
use crate::gate::{Policy, Reason};
use crate::git::{cli as git, rewrite, trailers};
use crate::store::Change;
use gix::ObjectId;
use serde_json::json;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};

/// Arguments of `review`.
#[derive(Debug, clap::Args)]
pub struct ReviewArgs {
    #[command(flatten)]
    pub which: Which,
    /// Print JSON: the commits, their files and review state, and the reviews.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `approve`.
#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    #[command(flatten)]
    pub which: Which,
    /// Approve only the commits up to this one (later commits stay unreviewed).
    #[arg(long, value_name = "rev")]
    pub upto: Option<String>,
    /// Approve the commits of A..B outside any flow (a hot fix, hand commits on a trunk); B is a
    /// branch, whose commits get the review trailer and a review note each.
    #[arg(long, value_name = "A..B", conflicts_with = "upto")]
    pub range: Option<String>,
    /// A comment recorded with the approval.
    #[arg(short, long = "message", value_name = "text")]
    pub message: Option<String>,
    /// Print JSON: {"flow", "subtask", "reviewer", "branch", "old_tip", "new_tip", "commits"}.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `reject`.
#[derive(Debug, clap::Args)]
pub struct RejectArgs {
    #[command(flatten)]
    pub which: Which,
    /// What must change (several -m make paragraphs).
    #[arg(short, long = "message", value_name = "text", required = true)]
    pub message: Vec<String>,
    /// Print JSON: {"flow", "subtask", "reviewer", "at", "status"}.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `ready`.
#[derive(Debug, clap::Args)]
pub struct ReadyArgs {
    #[command(flatten)]
    pub which: Which,
    /// Print JSON: {"flow", "subtask", "branch", "commits", "status"}.
    #[arg(long)]
    pub json: bool,
}

/// A started subtask's branch and the range of its commits.
struct Work {
    branch: String,
    integ: ObjectId,
    tip: ObjectId,
    ids: Vec<ObjectId>,
}

fn started(repo: &gix::Repository, found: &Found, action: Action) -> Result<Work, CliError> {
    let s = found.subtask();
    lifecycle::may(action, s)?;
    let branch = found.branch();
    let tip = work::branch_tip(repo, &branch).ok_or_else(|| {
        CliError::usage(format!(
            "the branch {branch} of subtask {} does not exist",
            s.id
        ))
        .hint(format!(
            "recreate it, or start the subtask again: `git aiflow start {}`",
            s.id
        ))
    })?;
    let integ = work::integration_tip(repo, &found.entry)?;
    let ids = rewrite::range(repo, Some(integ), tip)?;
    Ok(Work {
        branch,
        integ,
        tip,
        ids,
    })
}

/// Who approves: the committer identity git would use now.
struct Reviewer {
    stamp: crate::git::Stamp,
    email: String,
    committer: gix::actor::Signature,
}

impl Reviewer {
    fn now(repo: &gix::Repository) -> Result<Self, CliError> {
        let committer = rewrite::committer(repo)?;
        let stamp = crate::git::committer_stamp(repo)?;
        let email = parse_ident(&stamp.who)
            .ok_or_else(|| {
                CliError::usage(format!(
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
    ) -> Result<(), CliError> {
        may_approve(repo, policy, self.who(), &self.email, commits)
    }
}

/// Refuse `who` (whose email is `email`) as the reviewer of `commits` where the policy does not
/// accept them: not on its list, or (unless the policy allows it) an author of one of them.
fn may_approve(
    repo: &gix::Repository,
    policy: &Policy,
    who: &str,
    email: &str,
    commits: &[ObjectId],
) -> Result<(), CliError> {
    if !policy.reviewers.is_empty()
        && !policy
            .reviewers
            .iter()
            .any(|r| r.eq_ignore_ascii_case(email))
    {
        return Err(CliError::refused(format!(
            "{who} is not on the list of reviewers of {}",
            policy.source
        ))
        .hint(format!("ask one of them: {}", policy.reviewers.join(", "))));
    }
    if policy.allow_self_review {
        return Ok(());
    }
    let mut own = Vec::new();
    for id in commits {
        let c = repo
            .find_commit(*id)
            .map_err(|e| CliError::usage(e.to_string()))?;
        let author = c.author().map_err(|e| CliError::usage(e.to_string()))?;
        if author.email.to_string().eq_ignore_ascii_case(email) {
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
    let mut e = CliError::refused(format!(
        "{who} is the author of {} of the commits to approve, and {} forbids self-review",
        own.len(),
        policy.source
    ));
    for o in own.iter().take(5) {
        e = e.hint(format!("authored by you: {o}"));
    }
    Err(e.hint("ask someone else to review and run `git aiflow approve`"))
}

/// `msg` with the trailers an approval adds: the review trailer, and `extra` where missing.
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
fn content_ids(repo: &gix::Repository, commits: &[ObjectId]) -> Result<Vec<String>, CliError> {
    commits
        .iter()
        .map(|c| {
            crate::git::content::content_id(repo, *c).map_err(|e| {
                CliError::usage(format!("could not compute the content id of {c}")).source(e)
            })
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
) -> Result<Option<crate::gate::sshsig::Verified>, CliError> {
    let signer = sign_only(repo, policy, review, subject)?;
    if let Some(v) = &signer {
        let who = format!("{} (the principal your key is allowed as)", v.principal);
        may_approve(repo, policy, &who, &v.principal, commits)?;
    }
    Ok(signer)
}

fn sign_only(
    repo: &gix::Repository,
    policy: &Policy,
    review: &mut Review,
    subject: Subject<'_>,
) -> Result<Option<crate::gate::sshsig::Verified>, CliError> {
    crate::gate::attest::sign_review(repo, policy, review, subject).map_err(|e| {
        let hints = e.hints();
        let mut err = if e.is_refusal() {
            CliError::refused(e.to_string())
        } else {
            CliError::usage(e.to_string())
        };
        if let crate::gate::attest::AttestError::Sign(source) = e {
            err = err.source(source);
        }
        hints.into_iter().fold(err, CliError::hint)
    })
}

/// How an approval ended when another process got there first.
enum Raced {
    /// It failed for its own reasons.
    Failed(CliError),
    /// The subtask was approved meanwhile, by `by`.
    Approved { by: String },
    /// The branch moved and what is recorded does not cover it (yet: the notes read may
    /// predate the approval that moved it).
    Moved,
}

impl From<CliError> for Raced {
    fn from(e: CliError) -> Self {
        Raced::Failed(e)
    }
}

impl From<crate::store::StoreError> for Raced {
    fn from(e: crate::store::StoreError) -> Self {
        Raced::Failed(e.into())
    }
}

impl From<crate::store::LookupError> for Raced {
    fn from(e: crate::store::LookupError) -> Self {
        Raced::Failed(e.into())
    }
}

/// `git aiflow approve`.
pub fn approve(ctx: &mut Ctx, args: &ApproveArgs) -> Result<(), CliError> {
    if let Some(range) = &args.range {
        return approve_range(ctx, args, range);
    }
    let found = work::find(ctx, &args.which)?;
    let repo = ctx.repo()?.clone();
    let s = found.subtask().clone();
    let slug = found.flow().slug.clone();
    let whole_asked = args.upto.is_none();
    let w = started(
        &repo,
        &found,
        if whole_asked {
            Action::Approve
        } else {
            Action::ApproveSome
        },
    )?;
    if w.ids.is_empty() {
        return Err(CliError::refused(format!(
            "subtask {} has no commits on {} to approve",
            s.id, w.branch
        ))
        .hint("make steps first: `git aiflow exec` or `git aiflow step`"));
    }
    let selected: Vec<ObjectId> = match &args.upto {
        None => w.ids.clone(),
        Some(rev) => {
            let id = repo
                .rev_parse_single(rev.as_str())
                .map_err(|e| CliError::usage(format!("{rev:?} is not a revision: {e}")))?
                .object()
                .map_err(|e| CliError::usage(format!("{rev:?} cannot be read: {e}")))?
                .peel_to_commit()
                .map_err(|_| CliError::usage(format!("{rev:?} does not name a commit")))?
                .id;
            if !w.ids.contains(&id) {
                return Err(CliError::usage(format!(
                    "{rev} is not one of the commits of subtask {} ({}..{})",
                    s.id,
                    found.flow().integration_branch,
                    w.branch
                ))
                .hint(format!("`git aiflow review {}` lists them", s.id)));
            }
            let keep = rewrite::up_to(&repo, &w.ids, id)?;
            w.ids.iter().copied().filter(|c| keep.contains(c)).collect()
        }
    };
    let whole = selected.len() == w.ids.len();

    // Who reviews, and may they?
    let me = Reviewer::now(&repo)?;
    let reviewer = me.who().to_owned();
    let policy = Policy::load(&repo, Some(w.integ))?;
    me.may_approve(&repo, &policy, &selected)?;

    // Already done?
    let approvals = found.flow().approvals(&s.id);
    if whole
        && s.status == SubtaskStatus::Approved
        && selected
            .iter()
            .all(|c| approvals.by_id(&c.to_string()).is_approved())
    {
        return already(ctx, args.json, &slug, &s.id, &reviewer, &w, None);
    }

    // Rewrite the messages.
    let rules = trailers::Rules::from_config(&repo.config_snapshot());
    let key = policy.review_trailers[0].clone();
    let selected_set: std::collections::HashSet<ObjectId> = selected.iter().copied().collect();
    let sign_commits = super::exec::signing(&repo)?;
    let rewritten = rewrite::reword(
        &repo,
        &w.ids,
        &me.committer,
        sign_commits.as_ref(),
        |_, id, c| {
            if !selected_set.contains(&id) {
                return None;
            }
            approved_message(
                &c.message,
                &key,
                &reviewer,
                &[("Aiflow-Flow", &slug), ("Aiflow-Subtask", &s.id)],
                &rules,
            )
        },
    )?;

    // The record: each approved commit (as rewritten) with its content id, signed where a key is
    // configured or the policy requires it.
    let by_old: HashMap<ObjectId, ObjectId> = rewritten.commits.iter().copied().collect();
    let new_ids: Vec<ObjectId> = selected.iter().map(|old| by_old[old]).collect();
    let contents = content_ids(&repo, &new_ids)?;
    let commits: Vec<ReviewedCommit> = new_ids
        .iter()
        .zip(&contents)
        .map(|(id, content)| ReviewedCommit {
            extra: Default::default(),
            commit: id.to_string(),
            content_id: Some(content.clone()),
            patch_id: None,
        })
        .collect();
    let mut review = Review {
        subtask: s.id.clone(),
        verdict: review::APPROVED.into(),
        reviewer: reviewer.clone(),
        at: me.stamp.at.clone(),
        comment: args.message.clone().filter(|m| !m.trim().is_empty()),
        tool: Some(tool()),
        commits: commits.clone(),
        ..Review::default()
    };
    let signer = sign(
        &repo,
        &policy,
        &mut review,
        Subject::Subtask {
            flow: &slug,
            subtask: &s.id,
        },
        &new_ids,
    )?;
    let refs = if rewritten.changed() {
        vec![work::branch_edit(
            &w.branch,
            Some(w.tip),
            rewritten.tip,
            format!("aiflow approve {} by {reviewer}", s.id),
        )]
    } else {
        Vec::new()
    };
    let pairs: Vec<(ObjectId, ObjectId)> = rewritten
        .commits
        .iter()
        .copied()
        .filter(|(a, b)| a != b)
        .collect();
    let id = s.id.clone();
    // A parallel approval moves the branch and the notes in one transaction, but the notes this
    // attempt read may predate it: look again (a fresh read) before saying the branch moved.
    let mut looks = 0;
    let written = loop {
        let written = crate::store::update_flow_with(
            &repo,
            &slug,
            &format!("aiflow: approve {id} of {slug}"),
            &me.stamp,
            |flow, snap| -> Result<Option<Change>, Raced> {
                // Another approval may have landed since the branch and the notes were read (two
                // reads, not one): when what the branch holds now is covered, by this snapshot of
                // the notes, say so; when it moved and is not covered, look again.
                let now = work::branch_tip(&repo, &w.branch);
                let moved = now != Some(w.tip);
                if moved || whole {
                    let approvals = flow.approvals(&id);
                    let covered = now.is_some_and(|tip| {
                        rewrite::range(&repo, Some(w.integ), tip).is_ok_and(|ids| {
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
                        .find(|r| r.subtask == id && r.approves());
                    match (covered, last) {
                        (true, Some(r)) => {
                            return Err(Raced::Approved {
                                by: r.reviewer.clone(),
                            });
                        }
                        _ if moved => return Err(Raced::Moved),
                        _ => {}
                    }
                }
                let action = if whole {
                    Action::Approve
                } else {
                    Action::ApproveSome
                };
                if !lifecycle::apply(flow, &id, action) {
                    return Err(Raced::Failed(CliError::refused(format!(
                        "subtask {id} left the plan meanwhile"
                    ))));
                }
                flow.reviews.push(review.clone());
                // Carry the step notes to the rewritten commits, as notes.rewriteRef would.
                let mut notes = Vec::new();
                for (old, new) in &pairs {
                    if let Some(bytes) = snap.note_bytes(&repo, old).map_err(CliError::from)? {
                        notes.push((*new, Some(bytes)));
                    }
                }
                Ok(Some(Change {
                    notes,
                    refs: refs.clone(),
                }))
            },
        );
        match written {
            Err(Raced::Moved) if looks < 3 => {
                looks += 1;
                std::thread::sleep(std::time::Duration::from_millis(20 * looks));
            }
            written => break written,
        }
    };
    match written {
        Ok(_) => {}
        Err(Raced::Moved) => {
            return Err(CliError::refused(format!(
                "{} moved while you approved it; nothing was recorded",
                w.branch
            ))
            .hint(format!(
                "look again with `git aiflow review {}`, then approve what is there now",
                s.id
            )));
        }
        Err(Raced::Approved { by })
            if parse_ident(&by).map(|(_, e)| e.to_ascii_lowercase())
                == Some(me.email.to_ascii_lowercase()) =>
        {
            return already(ctx, args.json, &slug, &s.id, &reviewer, &w, Some(&by));
        }
        Err(Raced::Approved { by }) => {
            return Err(CliError::refused(format!(
                "subtask {} was approved meanwhile by {by}; nothing was recorded",
                s.id
            ))
            .hint(format!("`git aiflow review {}` shows the approval", s.id)));
        }
        Err(Raced::Failed(e)) => return Err(e),
    }

    if args.json {
        let list: Vec<serde_json::Value> = selected
            .iter()
            .zip(&commits)
            .map(|(old, c)| {
                json!({"old": old.to_string(), "new": c.commit, "content_id": c.content_id})
            })
            .collect();
        ctx.json(&json!({
            "flow": slug,
            "subtask": s.id,
            "reviewer": reviewer,
            "branch": w.branch,
            "old_tip": w.tip.to_string(),
            "new_tip": rewritten.tip.to_string(),
            "whole": whole,
            "commits": list,
            "signed": signer_json(&review, signer.as_ref()),
        }))?;
    } else {
        writeln!(
            ctx.out,
            "Approved {} commit{} of {} \"{}\" as {reviewer}{}",
            selected.len(),
            if selected.len() == 1 { "" } else { "s" },
            s.id,
            s.title,
            signed_note(&review, signer.as_ref())
        )?;
        writeln!(
            ctx.out,
            "  {} {} -> {}",
            w.branch,
            w.tip.to_hex_with_len(7),
            rewritten.tip.to_hex_with_len(7)
        )?;
        if whole {
            writeln!(ctx.out, "  next: `git aiflow integrate {}`", s.id)?;
        } else {
            writeln!(
                ctx.out,
                "  {} later commit{} not approved yet",
                w.ids.len() - selected.len(),
                if w.ids.len() - selected.len() == 1 {
                    " is"
                } else {
                    "s are"
                }
            )?;
        }
    }
    Ok(())
}

/// The version string recorded (and signed) with each review.
fn tool() -> String {
    format!("git-aiflow {}", env!("CARGO_PKG_VERSION"))
}

/// `signed` in JSON: who the gate will see as the signer.
fn signer_json(
    review: &Review,
    signer: Option<&crate::gate::sshsig::Verified>,
) -> serde_json::Value {
    match (&review.signature, signer) {
        (None, _) => serde_json::Value::Null,
        (Some(_), Some(v)) => {
            json!({"signer": v.principal, "key": v.fingerprint, "algorithm": v.algorithm})
        }
        (Some(_), None) => json!({"signer": null, "key": null, "algorithm": null}),
    }
}

/// ", signed (by X, key Y)" for people.
fn signed_note(review: &Review, signer: Option<&crate::gate::sshsig::Verified>) -> String {
    match (&review.signature, signer) {
        (None, _) => String::new(),
        (Some(_), Some(v)) => format!(
            ", signed ({} key {} of {})",
            v.algorithm, v.fingerprint, v.principal
        ),
        (Some(_), None) => ", signed".into(),
    }
}

/// Report that the subtask is approved already (exit 0).
fn already(
    ctx: &mut Ctx,
    json: bool,
    slug: &str,
    id: &str,
    reviewer: &str,
    w: &Work,
    by: Option<&str>,
) -> Result<(), CliError> {
    if json {
        let now = work::branch_tip(ctx.repo()?, &w.branch).map(|t| t.to_string());
        ctx.json(&json!({"flow": slug, "subtask": id, "reviewer": by.unwrap_or(reviewer), "branch": w.branch,
            "old_tip": w.tip.to_string(), "new_tip": now, "commits": [], "already": true}))?;
    } else {
        writeln!(
            ctx.out,
            "subtask {id} is approved already{}; nothing to do",
            by.map(|b| format!(" (by {b})")).unwrap_or_default()
        )?;
    }
    Ok(())
}

/// `git aiflow approve --range A..B`: commits outside any flow (a hot fix, hand commits on a
/// trunk that requires signed reviews). B must be a branch's tip; the commits get the review
/// trailer, the branch moves by compare-and-swap, and each approved commit gets a review note
/// with the (signed) record, in one transaction.
fn approve_range(ctx: &mut Ctx, args: &ApproveArgs, range: &str) -> Result<(), CliError> {
    let repo = ctx.repo()?.clone();
    let bad = |why: String| {
        CliError::usage(format!("{range:?}: {why}"))
            .hint("give the commits as A..B, where B is a branch (or HEAD on a branch) and A what it is based on, e.g. `origin/main..HEAD`")
    };
    let Some((from, to)) = range.split_once("..").filter(|(_, b)| !b.starts_with('.')) else {
        return Err(bad("not a range A..B".into()));
    };
    let peel = |rev: &str| -> Result<ObjectId, CliError> {
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
        work::current_branch(&repo).ok_or_else(|| bad("HEAD is detached".into()))?
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
    let tip =
        work::branch_tip(&repo, &branch).ok_or_else(|| bad(format!("{branch} has no commits")))?;
    let ids = rewrite::range(&repo, Some(base), tip)?;
    if ids.is_empty() {
        return Err(CliError::refused(format!(
            "{range} holds no commits to approve"
        )));
    }
    if args.which.subtask.is_some() || args.which.flow.is_some() || args.upto.is_some() {
        return Err(CliError::usage(
            "--range approves commits outside flows; it takes no subtask, --flow or --upto",
        ));
    }
    // The policy of what the commits are based on (as `check A..B` uses), never of the commits.
    let full = format!("refs/heads/{branch}");
    let policy = Policy::load_for_range(&repo, Some(base))?;
    if policy.protection(&full) == Some(crate::gate::Scope::Integration) {
        return Err(CliError::refused(format!(
            "{branch} is a flow's integration branch: its commits are approved per subtask"
        ))
        .hint("`git aiflow approve <subtask>`"));
    }
    let me = Reviewer::now(&repo)?;
    let reviewer = me.who().to_owned();
    me.may_approve(&repo, &policy, &ids)?;
    let rules = trailers::Rules::from_config(&repo.config_snapshot());
    // Commits of a flow are approved per subtask.
    for id in &ids {
        let c = repo
            .find_commit(*id)
            .map_err(|e| CliError::usage(e.to_string()))?;
        let pairs = trailers::parse_commit(c.message_raw_sloppy(), &rules);
        if pairs.iter().any(|(k, _)| {
            k.eq_ignore_ascii_case(b"Aiflow-Flow") || k.eq_ignore_ascii_case(b"Aiflow-Subtask")
        }) {
            return Err(CliError::refused(format!(
                "{} belongs to a flow (Aiflow-* trailers); approve it with its subtask",
                id.to_hex_with_len(12)
            ))
            .hint("`git aiflow approve <subtask>`"));
        }
    }
    let key = policy.review_trailers[0].clone();
    let sign_commits = super::exec::signing(&repo)?;
    let rewritten = rewrite::reword(
        &repo,
        &ids,
        &me.committer,
        sign_commits.as_ref(),
        |_, _, c| approved_message(&c.message, &key, &reviewer, &[], &rules),
    )?;
    let new_ids: Vec<ObjectId> = rewritten.commits.iter().map(|(_, n)| *n).collect();
    let contents = content_ids(&repo, &new_ids)?;
    let mut review = Review {
        range: Some(format!(
            "{}..{}",
            base.to_hex_with_len(12),
            rewritten.tip.to_hex_with_len(12)
        )),
        verdict: review::APPROVED.into(),
        reviewer: reviewer.clone(),
        at: me.stamp.at.clone(),
        comment: args.message.clone().filter(|m| !m.trim().is_empty()),
        tool: Some(tool()),
        commits: new_ids
            .iter()
            .zip(&contents)
            .map(|(id, c)| ReviewedCommit {
                extra: Default::default(),
                commit: id.to_string(),
                content_id: Some(c.clone()),
                patch_id: None,
            })
            .collect(),
        ..Review::default()
    };
    let signer = sign(&repo, &policy, &mut review, Subject::Range, &new_ids)?;
    let edit = work::branch_edit(
        &branch,
        Some(tip),
        rewritten.tip,
        format!("aiflow approve --range by {reviewer}"),
    );
    let written = crate::store::update(
        &repo,
        &format!("aiflow: approve {} commit(s) of {branch}", ids.len()),
        |snap| -> Result<Change, CliError> {
            if work::branch_tip(&repo, &branch) != Some(tip) {
                return Err(CliError::refused(format!(
                    "{branch} moved while you approved it; nothing was recorded"
                ))
                .hint("look again, then approve what is there now"));
            }
            let mut notes = Vec::new();
            for (old, new) in &rewritten.commits {
                // Earlier reviews of the same commit (its note came along) are kept.
                let mut reviews = Vec::new();
                if let Some(bytes) = snap.note_bytes(&repo, old)? {
                    let text = String::from_utf8_lossy(&bytes);
                    if let Ok(n) = crate::flow::ReviewNote::decode(&text) {
                        reviews = n.reviews;
                    }
                }
                reviews.push(review.clone());
                notes.push((
                    *new,
                    Some(crate::flow::ReviewNote::new(reviews).to_toml().into_bytes()),
                ));
            }
            Ok(Change {
                notes,
                refs: vec![edit.clone()],
            })
        },
    )?;
    if args.json {
        ctx.json(&json!({
            "range": range,
            "branch": branch,
            "reviewer": reviewer,
            "old_tip": tip.to_string(),
            "new_tip": rewritten.tip.to_string(),
            "notes": written.commit.map(|c| c.to_string()),
            "commits": rewritten.commits.iter().zip(&contents).map(|((o, n), c)| json!({"old": o.to_string(), "new": n.to_string(), "content_id": c})).collect::<Vec<_>>(),
            "signed": signer_json(&review, signer.as_ref()),
        }))?;
    } else {
        writeln!(
            ctx.out,
            "Approved {} commit{} of {branch} as {reviewer}{}",
            ids.len(),
            if ids.len() == 1 { "" } else { "s" },
            signed_note(&review, signer.as_ref())
        )?;
        writeln!(
            ctx.out,
            "  {branch} {} -> {}",
            tip.to_hex_with_len(7),
            rewritten.tip.to_hex_with_len(7)
        )?;
    }
    Ok(())
}

/// `git aiflow reject`.
pub fn reject(ctx: &mut Ctx, args: &RejectArgs) -> Result<(), CliError> {
    let found = work::find(ctx, &args.which)?;
    let repo = ctx.repo()?.clone();
    let s = found.subtask().clone();
    let slug = found.flow().slug.clone();
    started(&repo, &found, Action::Reject)?;
    let comment = args
        .message
        .iter()
        .map(|m| m.trim().to_owned())
        .collect::<Vec<_>>()
        .join("\n\n");
    if comment.is_empty() {
        return Err(CliError::usage("say what must change: -m TEXT"));
    }
    let stamp = crate::git::committer_stamp(&repo)?;
    let review = Review {
        subtask: s.id.clone(),
        verdict: review::CHANGES_REQUESTED.into(),
        reviewer: stamp.who.clone(),
        at: stamp.at.clone(),
        comment: Some(comment),
        tool: Some(tool()),
        ..Review::default()
    };
    let id = s.id.clone();
    crate::store::update_flow(
        &repo,
        &slug,
        &format!("aiflow: changes requested on {id} of {slug}"),
        &stamp,
        |flow| -> Result<bool, CliError> {
            if !lifecycle::apply(flow, &id, Action::Reject) {
                return Err(CliError::refused(format!(
                    "subtask {id} left the plan meanwhile"
                )));
            }
            flow.reviews.push(review.clone());
            Ok(true)
        },
    )?;
    if args.json {
        ctx.json(&json!({
            "flow": slug,
            "subtask": s.id,
            "reviewer": stamp.who,
            "at": stamp.at,
            "status": "active",
        }))?;
    } else {
        writeln!(
            ctx.out,
            "Changes requested on {} \"{}\"; it is active again",
            s.id, s.title
        )?;
        writeln!(
            ctx.out,
            "  next: `git aiflow exec {}` (the agent sees the comment) or edit and `git aiflow step`",
            s.id
        )?;
    }
    Ok(())
}

/// `git aiflow review`.
pub fn review(ctx: &mut Ctx, args: &ReviewArgs) -> Result<(), CliError> {
    let found = work::find(ctx, &args.which)?;
    let repo = ctx.repo()?.clone();
    let s = found.subtask().clone();
    let flow = found.flow().clone();
    let w = started(&repo, &found, Action::Review)?;
    let rules = trailers::Rules::from_config(&repo.config_snapshot());
    let policy = Policy::load(&repo, Some(w.integ))?;
    let range = format!("{}..{}", flow.integration_branch, w.branch);

    // Review state per commit, by the gate's own rules: the same check `integrate` runs.
    let report = crate::gate::check(
        &repo,
        &mut crate::gate::walk::GixObjects(&repo),
        &crate::gate::walk::Range {
            tips: vec![w.tip],
            hidden: vec![w.integ],
        },
        &policy,
        &rules,
        crate::gate::Scope::Integration,
        &mut crate::gate::bind::NotesBinder::for_repo(&repo),
    )?;
    let failures: HashMap<ObjectId, &crate::gate::Failure> =
        report.failures.iter().map(|f| (f.id, f)).collect();
    let signed: HashMap<ObjectId, &crate::gate::Signed> =
        report.signed.iter().map(|g| (g.commit, g)).collect();
    let mut rows = Vec::new();
    for id in w.ids.iter().rev() {
        let c = repo
            .find_commit(*id)
            .map_err(|e| CliError::usage(e.to_string()))?;
        let raw = c.message_raw_sloppy().to_vec();
        let pairs = trailers::parse_commit(&raw, &rules);
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
        let step = value("Aiflow-Step")
            .first()
            .and_then(|v| v.parse::<u32>().ok());
        let author = c
            .author()
            .map(|a| format!("{} <{}>", a.name, a.email))
            .unwrap_or_default();
        let subject =
            String::from_utf8_lossy(raw.split(|&b| b == b'\n').next().unwrap_or_default())
                .trim()
                .to_owned();
        let merge = c.parent_ids().count() > 1;
        let state: &'static str = match failures.get(id).map(|f| &f.reason) {
            None if merge && reviewed_by.is_empty() => "clean-merge",
            None if c.parent_ids().count() <= 1 && reviewed_by.is_empty() => "exempt",
            None => "approved",
            Some(Reason::NoReview { .. }) => "unreviewed",
            Some(Reason::NotRecorded { .. }) => "stale",
            Some(Reason::Revoked { .. }) => "revoked",
            Some(r) => r.code(),
        };
        let signer = signed.get(id).map(|g| g.principal.clone());
        rows.push((*id, subject, author, step, reviewed_by, state, signer));
    }
    let reviews: Vec<&Review> = flow.reviews.iter().filter(|r| r.subtask == s.id).collect();
    // Who signed each review, as the gate sees it.
    let signatures: Vec<serde_json::Value> = reviews
        .iter()
        .map(|r| {
            let subject = Subject::Subtask {
                flow: &flow.slug,
                subtask: &s.id,
            };
            match (&r.signature, crate::gate::bind::verify_record(r, subject, &policy)) {
                (None, _) => json!({"signed": false}),
                (Some(_), Ok(Some(v))) => json!({"signed": true, "verified": true, "signer": v.principal, "key": v.fingerprint, "algorithm": v.algorithm}),
                (Some(_), Ok(None)) => json!({"signed": true, "verified": false, "problem": "no allowed-signers file names this key here"}),
                (Some(_), Err(e)) => json!({"signed": true, "verified": false, "problem": e.describe(&policy), "reason": e.code()}),
            }
        })
        .collect();

    if args.json {
        let numstat = numstat(&repo, &range)?;
        let commits: Vec<serde_json::Value> = rows
            .iter()
            .map(|(id, subject, author, step, reviewed_by, state, signer)| {
                json!({
                    "commit": id.to_string(),
                    "subject": subject,
                    "author": author,
                    "step": step,
                    "reviewed_by": reviewed_by,
                    "review": state,
                    "signed_by": signer,
                    "files": numstat.get(id).cloned().unwrap_or_default(),
                })
            })
            .collect();
        let reviews: Vec<serde_json::Value> = reviews
            .iter()
            .zip(&signatures)
            .map(|(r, sig)| {
                let mut v = serde_json::to_value(r).expect("reviews serialize");
                v["signature_status"] = sig.clone();
                v
            })
            .collect();
        return ctx.json(&json!({
            "flow": flow.slug,
            "subtask": {
                "id": s.id,
                "title": s.title,
                "status": s.status.as_str(),
                "branch": w.branch,
                "description": s.description,
                "files": s.files,
            },
            "range": range,
            "commits": commits,
            "reviews": reviews,
        }));
    }

    let mut head = String::new();
    head.push_str(&format!(
        "Subtask {} \"{}\" ({}), flow {}\n",
        s.id,
        crate::ai::sanitize::clean(&s.title),
        s.status.as_str(),
        flow.slug
    ));
    head.push_str(&format!(
        "Range   {range}: {} commit{}\n",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    ));
    let clean = |t: &str| crate::ai::sanitize::clean(t).into_owned();
    for (id, subject, _, step, _, state, signer) in rows.iter().rev() {
        head.push_str(&format!(
            "  {} {:10} {}{}{}\n",
            id.to_hex_with_len(7),
            state,
            step.map(|n| format!("step {n}: ")).unwrap_or_default(),
            clean(subject),
            signer
                .as_ref()
                .map(|p| format!(" (signed by {p})"))
                .unwrap_or_default()
        ));
    }
    for (r, sig) in reviews.iter().zip(&signatures) {
        head.push_str(&format!(
            "Review  {} by {} at {}",
            clean(&r.verdict),
            clean(&r.reviewer),
            clean(&r.at)
        ));
        match (sig["signed"].as_bool(), sig["verified"].as_bool()) {
            (Some(true), Some(true)) => head.push_str(&format!(
                ", signed by {} ({} {})",
                sig["signer"].as_str().unwrap_or_default(),
                sig["algorithm"].as_str().unwrap_or_default(),
                sig["key"].as_str().unwrap_or_default()
            )),
            (Some(true), _) => head.push_str(&format!(
                ", signature not verified: {}",
                sig["problem"].as_str().unwrap_or_default()
            )),
            _ => head.push_str(", unsigned"),
        }
        if let Some(c) = &r.comment {
            head.push_str(&format!(
                ": {}",
                clean(c.lines().next().unwrap_or_default())
            ));
        }
        head.push('\n');
    }
    head.push('\n');
    let tty = std::io::stdout().is_terminal();
    let dir = crate::git::run_dir(&repo);
    let color = tty
        && git::run(
            &dir,
            &["config", "--get-colorbool", "color.diff", "true"],
            &[],
            None,
        )?
        .ok();
    let log = git::checked(
        &dir,
        &[
            "log",
            "--reverse",
            "--stat",
            "-p",
            // A merge shows what it changed against the automatic merge of its parents.
            "--remerge-diff",
            // Every change the approval will cover, whatever the config hides.
            "--no-ext-diff",
            "--ignore-submodules=none",
            "--no-relative",
            "--format=fuller",
            if color {
                "--color=always"
            } else {
                "--color=never"
            },
            &range,
            "--",
        ],
        &[],
        None,
    )?;
    let mut text = head.into_bytes();
    text.extend_from_slice(&log);
    if tty {
        page(&dir, &text)?;
    } else {
        ctx.out.write_all(&text)?;
    }
    Ok(())
}

/// Show `text` through the pager git would use.
fn page(dir: &std::path::Path, text: &[u8]) -> Result<(), CliError> {
    let pager = git::checked(dir, &["var", "GIT_PAGER"], &[], None)
        .map(|o| String::from_utf8_lossy(&o).trim().to_owned())
        .unwrap_or_else(|_| "less".into());
    if pager.is_empty() || pager == "cat" {
        std::io::stdout().write_all(text)?;
        return Ok(());
    }
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(&pager)
        .env(
            "LESS",
            std::env::var("LESS").unwrap_or_else(|_| "FRX".into()),
        )
        .env("LV", std::env::var("LV").unwrap_or_else(|_| "-c".into()))
        .stdin(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(text);
    }
    let _ = child.wait();
    Ok(())
}

/// Per commit of `range`: the files it changes, with lines added and deleted.
fn numstat(
    repo: &gix::Repository,
    range: &str,
) -> Result<HashMap<ObjectId, Vec<serde_json::Value>>, CliError> {
    let out = git::checked(
        &crate::git::run_dir(repo),
        &[
            "log",
            "--numstat",
            "--format=commit %H",
            "--no-renames",
            range,
            "--",
        ],
        &[],
        None,
    )?;
    let mut map: HashMap<ObjectId, Vec<serde_json::Value>> = HashMap::new();
    let mut current = None;
    for line in String::from_utf8_lossy(&out).lines() {
        if let Some(id) = line.strip_prefix("commit ") {
            current = ObjectId::from_hex(id.trim().as_bytes()).ok();
            continue;
        }
        let mut parts = line.splitn(3, '\t');
        let (Some(a), Some(d), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if let Some(id) = current {
            map.entry(id).or_default().push(json!({
                "path": path,
                "added": a.parse::<u64>().ok(),
                "deleted": d.parse::<u64>().ok(),
            }));
        }
    }
    Ok(map)
}

/// `git aiflow ready`: the subtask's work waits for a review (in-review) until a new step, an
/// approval or a request for changes.
pub fn ready(ctx: &mut Ctx, args: &ReadyArgs) -> Result<(), CliError> {
    let found = work::find(ctx, &args.which)?;
    let repo = ctx.repo()?.clone();
    let s = found.subtask().clone();
    let slug = found.flow().slug.clone();
    let w = started(&repo, &found, Action::Ready)?;
    if w.ids.is_empty() {
        return Err(CliError::refused(format!(
            "subtask {} has no commits on {} to review",
            s.id, w.branch
        ))
        .hint("make steps first: `git aiflow exec` or `git aiflow step`"));
    }
    if s.status != SubtaskStatus::InReview {
        let stamp = crate::git::committer_stamp(&repo)?;
        let id = s.id.clone();
        crate::store::update_flow(
            &repo,
            &slug,
            &format!("aiflow: {id} of {slug} ready for review"),
            &stamp,
            |flow| -> Result<bool, CliError> {
                if lifecycle::apply(flow, &id, Action::Ready) {
                    Ok(true)
                } else {
                    Err(CliError::refused(format!(
                        "subtask {id} left the plan meanwhile"
                    )))
                }
            },
        )?;
    }
    let n = w.ids.len();
    if args.json {
        return ctx.json(&json!({
            "flow": slug,
            "subtask": s.id,
            "branch": w.branch,
            "commits": n,
            "status": SubtaskStatus::InReview.as_str(),
        }));
    }
    writeln!(
        ctx.out,
        "Subtask {} \"{}\" is ready for review: {n} commit{} on {}",
        s.id,
        s.title,
        if n == 1 { "" } else { "s" },
        w.branch
    )?;
    writeln!(
        ctx.out,
        "  next, for a reviewer: `git aiflow review {0}`, then `git aiflow approve {0}` or `git aiflow reject {0} -m TEXT`",
        s.id
    )?;
    Ok(())
}
