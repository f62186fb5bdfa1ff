//! `git aiflow sync [<remote>]`: share flows and their branches with a remote, losing nothing.
//!
//! 1. `git ls-remote` lists the remote's `refs/notes/aiflow` and `refs/heads/aiflow/*`.
//! 2. `git fetch` copies them into remote-tracking refs: `refs/remote-notes/<remote>/aiflow`
//!    and `refs/remotes/<remote>/aiflow/*`. Never into `refs/notes/aiflow` or a local branch.
//! 3. The notes are merged three ways ([`crate::store::merge`]) into a commit with both tips as
//!    parents; nothing local moves yet.
//! 4. Each flow branch is compared with the remote's: created, fast-forwarded, pushed, reconciled
//!    (one side only reworded commits, as `approve` does), or reported as diverged.
//! 5. One `git push --atomic` sends the merged notes (a fast-forward of the remote's) and the
//!    branches. If the remote moved meanwhile, everything is fetched and merged again, at most
//!    [`ATTEMPTS`] times. If the remote refuses, nothing local has moved.
//! 6. Only then the local `refs/notes/aiflow` and branches move, by compare-and-swap.

use super::{CliError, Ctx, error::Message, work};
use crate::flow::{Flow, SubtaskStatus};
use crate::git::{
    self,
    cli::{self as gitcli, GitError},
    rewrite,
    transport::{self, PushError, PushRef, Update},
};
use crate::store::{
    self, NOTES_REF, Snapshot,
    merge::{Action, NotesMerge, Side},
};
use gix::ObjectId;
use gix::refs::{
    Target,
    transaction::{Change as RefChange, LogChange, PreviousValue, RefEdit, RefLog},
};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

/// How many times the whole fetch-merge-push is tried while the remote keeps moving.
const ATTEMPTS: u32 = 8;

/// Arguments of `git aiflow sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// The remote (default: `aiflow.remote`, the only remote, or `origin`).
    pub remote: Option<String>,
    /// Fetch into the remote-tracking refs and say what would move; change nothing else.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Fetch and merge, but push nothing (for remotes you cannot write to).
    #[arg(long)]
    pub no_push: bool,
    /// Sync only the flows (the notes), not their branches.
    #[arg(long)]
    pub notes_only: bool,
    /// Also push this flow branch when it has no commit of yours (repeatable).
    #[arg(long = "branch", value_name = "NAME")]
    pub branches: Vec<String>,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What happens to one flow branch.
#[derive(Debug, Clone)]
struct BranchPlan {
    name: String,
    action: &'static str,
    local: Option<ObjectId>,
    remote: Option<ObjectId>,
    /// Where the local branch moves (or is created).
    new_local: Option<ObjectId>,
    /// What the remote branch becomes, and whether that needs a lease (not a fast-forward).
    push: Option<(ObjectId, bool)>,
    reason: Option<String>,
}

pub fn run(ctx: &mut Ctx, args: &SyncArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?.clone();
    let dir = git::run_dir(&repo);
    let remote = resolve_remote(&repo, args.remote.as_deref())?;
    let tracking = tracking_notes(&remote);
    let stamp = git::committer_stamp(&repo)?;
    let me = email(&stamp.who).to_lowercase();
    let mut attempt = 0;
    let mut jitter = store::Jitter::new();
    loop {
        attempt += 1;
        let listed = ls_remote(&dir, &remote)?;
        fetch(&repo, &dir, &remote, &listed)?;
        let ours = store::tip(&repo, NOTES_REF)?;
        let theirs = store::tip(&repo, &tracking)?;
        let mut merged =
            store::merge::merge(&repo, ours, theirs, &tracking, &stamp.who, &stamp.at)?;
        let flows = match merged.result {
            Some(tip) => Snapshot::at(&repo, Some(tip))?.flows(&repo)?.flows,
            None => Vec::new(),
        };
        let mut plans = Vec::new();
        if !args.notes_only {
            let names = flow_branches(&flows);
            for wanted in &args.branches {
                if !names.contains_key(wanted.as_str()) {
                    return Err(CliError::usage(format!(
                        "`{wanted}` is not a branch of any flow"
                    ))
                    .hint("`--branch` names a flow's integration or subtask branch, e.g. `aiflow/<slug>`"));
                }
            }
            let mut copies = Vec::new();
            let mut reopened: BTreeMap<ObjectId, Flow> = BTreeMap::new();
            for (name, entry) in &names {
                let forced = args.branches.iter().any(|b| b == name);
                let before = copies.len();
                let plan =
                    plan_branch(&repo, &remote, name, &entry.flow, &me, forced, &mut copies)?;
                // Commits re-parented onto an approved subtask's reviewed ones are new work the
                // review did not see: the subtask is active again, as after `git aiflow step`.
                let approved = |s: &&crate::flow::Subtask| {
                    s.branch.as_deref() == Some(name.as_str())
                        && s.status == SubtaskStatus::Approved
                };
                if copies.len() > before
                    && let Some(id) = entry
                        .flow
                        .current_plan()
                        .and_then(|p| p.subtasks.iter().find(approved).map(|s| s.id.clone()))
                {
                    let flow = reopened
                        .entry(entry.anchor)
                        .or_insert_with(|| entry.flow.clone());
                    if let Some(s) = flow.subtask_mut(&id) {
                        s.status = SubtaskStatus::Active;
                    }
                    flow.updated_at = stamp.at.clone();
                    flow.updated_by = stamp.who.clone();
                }
                if plan.action != "absent" {
                    plans.push(plan);
                }
            }
            if !copies.is_empty() {
                let flows: Vec<(ObjectId, Flow)> = reopened.into_iter().collect();
                merged.result = Some(copy_notes(&repo, merged.result, &copies, &flows)?);
            }
        }
        let outcome = Outcome {
            remote: &remote,
            dry_run: args.dry_run,
            attempts: attempt,
            merged: &merged,
            branches: &plans,
        };
        if args.dry_run {
            return outcome.print(ctx, args.json, false, None);
        }
        let push_notes = merged.result.is_some() && merged.result != theirs;
        let to_push: Vec<&BranchPlan> = plans.iter().filter(|p| p.push.is_some()).collect();
        let mut pushed = false;
        if !args.no_push && (push_notes || !to_push.is_empty()) {
            let notes = if push_notes { merged.result } else { None };
            match push(&dir, &remote, notes, &to_push) {
                Ok(()) => pushed = true,
                Err(PushError::Stale(why)) if attempt < ATTEMPTS => {
                    ctx.warn(format!(
                        "{remote} moved during the sync ({why}); merging again"
                    ));
                    // A jittered pause (25 ms to 0.8 s), so that racing clones stop colliding.
                    let cap_ms = 25u64 << attempt.min(5);
                    let pause = 25 + jitter.next() % cap_ms;
                    std::thread::sleep(std::time::Duration::from_millis(pause));
                    continue;
                }
                Err(PushError::Stale(why)) => {
                    return Err(CliError::refused(format!(
                        "{remote} kept changing: gave up after {ATTEMPTS} attempts ({why})"
                    ))
                    .hint("nothing local was changed; run `git aiflow sync` again"));
                }
                Err(PushError::Refused(why)) => {
                    return Err(CliError::refused(format!("{remote} refused the push"))
                        .source(Message(why))
                        .hint(format!(
                            "nothing local was changed; the remote's flows are in {tracking}"
                        ))
                        .hint("to take the remote's flows without pushing: `git aiflow sync --no-push`"));
                }
                Err(PushError::Network(why)) => {
                    return Err(CliError::usage(format!("could not push to {remote}"))
                        .source(Message(why))
                        .hint("nothing local was changed; check the remote's URL and your network, then sync again"));
                }
            }
        }
        let notes_after = apply_local(ctx, &repo, &remote, &merged, &plans, pushed, &stamp)?;
        outcome.print(ctx, args.json, pushed, notes_after)?;
        let diverged: Vec<&str> = plans
            .iter()
            .filter(|p| p.action == "diverged")
            .map(|p| p.name.as_str())
            .collect();
        if !diverged.is_empty() {
            return Err(CliError::refused(format!(
                "{} flow branch{} diverged from {remote}'s: {}",
                diverged.len(),
                if diverged.len() == 1 { "" } else { "es" },
                diverged.join(", ")
            ))
            .hint("the flows were synced; combine each branch with the remote's by hand (`git rebase` or `git merge` it onto `<remote>/<branch>`), then sync again"));
        }
        return Ok(());
    }
}

/// Where the remote's notes are fetched to.
pub fn tracking_notes(remote: &str) -> String {
    format!("refs/remote-notes/{remote}/aiflow")
}

/// The remote to use: the one named, `aiflow.remote`, the only one, or `origin`.
pub fn resolve_remote(repo: &gix::Repository, named: Option<&str>) -> Result<String, CliError> {
    let names: Vec<String> = repo
        .remote_names()
        .into_iter()
        .map(|n| n.to_string())
        .collect();
    let configured = repo
        .config_snapshot()
        .string("aiflow.remote")
        .map(|s| s.to_string());
    let chosen = match named.map(str::to_owned).or(configured) {
        Some(n) => n,
        None if names.len() == 1 => names[0].clone(),
        None => "origin".to_owned(),
    };
    if !names.contains(&chosen) {
        let list = if names.is_empty() {
            "this repository has no remotes".to_owned()
        } else {
            format!("its remotes: {}", names.join(", "))
        };
        return Err(CliError::usage(format!("no remote named `{chosen}`"))
            .hint(list)
            .hint("add one with `git remote add <name> <url>`, or name one: `git aiflow sync <remote>`"));
    }
    if gix::validate::reference::name_partial(tracking_notes(&chosen).as_str().into()).is_err() {
        return Err(CliError::usage(format!(
            "the remote name `{chosen}` cannot be part of a ref name"
        )));
    }
    Ok(chosen)
}

/// The remote's `refs/notes/aiflow` and `refs/heads/aiflow/*`.
fn ls_remote(dir: &Path, remote: &str) -> Result<BTreeSet<String>, CliError> {
    let listed = transport::ls_remote(dir, remote, &[NOTES_REF, "refs/heads/aiflow/*"])
        .map_err(|e| match e {
            GitError::Failed { stderr, .. } => {
                CliError::usage(format!("could not reach {remote}"))
                    .source(Message(stderr))
                    .hint("nothing was changed; check the remote's URL (`git remote -v`) and your network")
            }
            e => CliError::usage("could not run git").source(e),
        })?;
    Ok(listed
        .into_iter()
        .filter(|name| name == NOTES_REF || name.starts_with("refs/heads/aiflow/"))
        .collect())
}

/// Fetch what `ls_remote` listed into the remote-tracking refs; drop tracking refs of what the
/// remote no longer has.
fn fetch(
    repo: &gix::Repository,
    dir: &Path,
    remote: &str,
    listed: &BTreeSet<String>,
) -> Result<(), CliError> {
    let tracking = tracking_notes(remote);
    // One glob for the branches: git matches explicit refspecs against each other, which grows
    // quadratically (1,000 of them cost 0.25 s of CPU against 10 ms for the glob).
    let mut specs = Vec::new();
    if listed.contains(NOTES_REF) {
        specs.push(format!("+{NOTES_REF}:{tracking}"));
    }
    if listed.iter().any(|k| k.starts_with("refs/heads/")) {
        specs.push(format!(
            "+refs/heads/aiflow/*:refs/remotes/{remote}/aiflow/*"
        ));
    }
    transport::fetch(dir, remote, &specs).map_err(|e| match e {
        GitError::Failed { stderr, .. } => {
            CliError::usage(format!("could not fetch from {remote}"))
                .source(Message(stderr))
                .hint("nothing local was changed; check your network and sync again")
        }
        e => CliError::usage("could not run git").source(e),
    })?;
    // The remote deleted its notes or a branch: so does its tracking copy.
    let mut stale = Vec::new();
    if !listed.contains(NOTES_REF) && store::tip(repo, &tracking)?.is_some() {
        stale.push(tracking.clone());
    }
    let prefix = format!("refs/remotes/{remote}/");
    if let Ok(platform) = repo.references()
        && let Ok(iter) = platform.prefixed(format!("{prefix}aiflow/").as_str())
    {
        for r in iter.flatten() {
            let full = r.name().as_bstr().to_string();
            if !listed.contains(&format!("refs/heads/{}", &full[prefix.len()..])) {
                stale.push(full);
            }
        }
    }
    if !stale.is_empty() {
        let edits = stale
            .into_iter()
            .map(|name| RefEdit {
                change: RefChange::Delete {
                    expected: PreviousValue::Any,
                    log: RefLog::AndReference,
                },
                name: name.try_into().expect("a ref name that exists"),
                deref: false,
            })
            .collect::<Vec<_>>();
        repo.edit_references(edits)
            .map_err(|e| CliError::usage("could not update remote-tracking refs").source(e))?;
    }
    Ok(())
}

/// Every flow branch (integration and started subtasks), with its flow.
fn flow_branches(flows: &[store::FlowEntry]) -> BTreeMap<String, &store::FlowEntry> {
    let mut out = BTreeMap::new();
    for e in flows {
        out.insert(e.flow.integration_branch.clone(), e);
        if let Some(plan) = e.flow.current_plan() {
            for s in &plan.subtasks {
                if let Some(b) = &s.branch {
                    out.insert(b.clone(), e);
                }
            }
        }
    }
    out
}

/// Decide what to do with one flow branch.
fn plan_branch(
    repo: &gix::Repository,
    remote: &str,
    name: &str,
    flow: &Flow,
    me: &str,
    forced: bool,
    copies: &mut Vec<(ObjectId, ObjectId)>,
) -> Result<BranchPlan, CliError> {
    let local = work::branch_tip(repo, name);
    let theirs = git::ref_id(repo, &format!("refs/remotes/{remote}/{name}"))
        .ok()
        .flatten();
    let mut plan = BranchPlan {
        name: name.to_owned(),
        action: "up-to-date",
        local,
        remote: theirs,
        new_local: None,
        push: None,
        reason: None,
    };
    let push_if_owned = |plan: &mut BranchPlan, tip: ObjectId, hidden: Vec<ObjectId>| {
        if forced || owned(repo, tip, &hidden, me) {
            plan.action = "pushed";
            plan.push = Some((tip, false));
        } else {
            plan.action = "not-owned";
            plan.reason = Some(format!(
                "its new commits are not yours; push it with `--branch {name}`"
            ));
        }
    };
    match (local, theirs) {
        (None, None) => plan.action = "absent",
        (None, Some(r)) => {
            plan.action = "created";
            plan.new_local = Some(r);
        }
        (Some(l), None) => {
            let mut hidden = remote_tips(repo, remote);
            if let Ok(base) = ObjectId::from_hex(flow.base_commit.as_bytes()) {
                hidden.push(base);
            }
            push_if_owned(&mut plan, l, hidden);
        }
        (Some(l), Some(r)) if l == r => {}
        (Some(l), Some(r)) if super::exec::is_ancestor(repo, l, r) => {
            plan.action = "fast-forward";
            plan.new_local = Some(r);
        }
        (Some(l), Some(r)) if super::exec::is_ancestor(repo, r, l) => {
            push_if_owned(&mut plan, l, vec![r]);
        }
        (Some(l), Some(r)) => match reconcile(repo, flow, l, r, copies)? {
            Some(tip) => {
                plan.action = "reconciled";
                if tip != l {
                    plan.new_local = Some(tip);
                }
                if tip != r {
                    plan.push = Some((tip, true));
                }
                plan.reason = Some(
                    "one side only reworded commits (a review): the reviewed commits are kept and \
                     the other side's new commits follow them"
                        .into(),
                );
            }
            None => {
                plan.action = "diverged";
                plan.reason = Some(format!(
                    "both sides have different new commits; combine them by hand, e.g. \
                     `git switch {name} && git rebase {remote}/{name}`, then sync again"
                ));
            }
        },
    }
    Ok(plan)
}

/// Every `refs/remotes/<remote>/*` tip: what the remote is known to have.
fn remote_tips(repo: &gix::Repository, remote: &str) -> Vec<ObjectId> {
    let prefix = format!("refs/remotes/{remote}/");
    let mut out = Vec::new();
    if let Ok(platform) = repo.references()
        && let Ok(iter) = platform.prefixed(prefix.as_str())
    {
        for mut r in iter.flatten() {
            if let Ok(id) = r.peel_to_id() {
                out.push(id.detach());
            }
        }
    }
    out
}

/// Whether any commit of `tip` not reachable from `hidden` was committed by `me`; also when
/// there is none (a branch just started: pushing it only names commits the remote has).
fn owned(repo: &gix::Repository, tip: ObjectId, hidden: &[ObjectId], me: &str) -> bool {
    let Ok(walk) = repo
        .rev_walk([tip])
        .with_hidden(hidden.iter().copied())
        .all()
    else {
        return false;
    };
    let mut empty = true;
    for info in walk.flatten() {
        empty = false;
        if let Ok(c) = info.object()
            && let Ok(sig) = c.committer()
            && sig.email.to_string().to_lowercase() == me
        {
            return true;
        }
    }
    empty
}

/// [`rewrite::reconcile`] for a flow's branch: the commits its reviews approved are the ones
/// kept; the copies made are added to `copies`.
fn reconcile(
    repo: &gix::Repository,
    flow: &Flow,
    local: ObjectId,
    remote: ObjectId,
    copies: &mut Vec<(ObjectId, ObjectId)>,
) -> Result<Option<ObjectId>, CliError> {
    let approved: BTreeSet<String> = flow
        .reviews
        .iter()
        .filter(|r| r.approves())
        .flat_map(|r| r.commits.iter().map(|c| c.commit.clone()))
        .collect();
    let joined = rewrite::reconcile(repo, local, remote, |id| approved.contains(&id.to_string()))
        .map_err(|e| CliError::usage("could not read commits").source(e))?;
    Ok(joined.map(|j| {
        copies.extend(j.copies);
        j.tip
    }))
}

/// A notes commit on top of `tip` that copies each re-parented commit's note to its new id, and
/// writes `flows` (subtasks reopened because commits were re-parented onto their review).
fn copy_notes(
    repo: &gix::Repository,
    tip: Option<ObjectId>,
    copies: &[(ObjectId, ObjectId)],
    flows: &[(ObjectId, Flow)],
) -> Result<ObjectId, CliError> {
    let snap = Snapshot::at(repo, tip)?;
    let mut notes = Vec::new();
    for (old, new) in copies {
        if let Some(bytes) = snap.note_bytes(repo, old)?
            && !snap.notes.contains_key(new)
        {
            notes.push((*new, Some(bytes)));
        }
    }
    for (anchor, flow) in flows {
        notes.push(store::flow_note(*anchor, flow)?);
    }
    let Some(base) = tip else {
        return Err(CliError::usage("re-parented commits but no notes to carry"));
    };
    if notes.is_empty() {
        return Ok(base);
    }
    let tree = store::edit_tree(repo, snap.tree, &notes)?;
    let mut message = "Copied step notes to re-parented commits".to_owned();
    if !flows.is_empty() {
        message.push_str("; approved subtasks that gained commits are active again");
    }
    let commit = repo
        .new_commit(message, tree, [base])
        .map_err(|e| CliError::usage("could not write the notes commit").source(e))?;
    Ok(commit.id)
}

/// Push the notes and branches in one atomic push.
fn push(
    dir: &Path,
    remote: &str,
    notes: Option<ObjectId>,
    branches: &[&BranchPlan],
) -> Result<(), PushError> {
    let mut refs = Vec::new();
    if let Some(n) = notes {
        refs.push(PushRef {
            name: NOTES_REF.to_owned(),
            tip: n,
            update: Update::FastForward,
        });
    }
    for b in branches {
        let (tip, lease) = b.push.expect("only branches to push");
        refs.push(PushRef {
            name: format!("refs/heads/{}", b.name),
            tip,
            update: if lease {
                Update::Lease { expected: b.remote }
            } else {
                Update::FastForward
            },
        });
    }
    transport::push(dir, remote, &refs)
}

/// Move the local notes ref and branches to what was pushed (or merged, with `--no-push`), each
/// by compare-and-swap. When a local command changed the flows meanwhile, the merge is merged
/// into them once more, locally.
fn apply_local(
    ctx: &mut Ctx,
    repo: &gix::Repository,
    remote: &str,
    merged: &NotesMerge,
    plans: &[BranchPlan],
    pushed: bool,
    stamp: &git::Stamp,
) -> Result<Option<ObjectId>, CliError> {
    let tracking = tracking_notes(remote);
    let message = format!("aiflow sync {remote}");
    let checkouts = work::checkouts(repo);
    let mut edits = Vec::new();
    let mut late = Vec::new();
    for p in plans {
        if let Some(new) = p.new_local {
            let full = format!("refs/heads/{}", p.name);
            let workdir = checkouts
                .iter()
                .find(|c| c.head.as_deref() == Some(full.as_str()))
                .map(|c| c.workdir.clone());
            match (p.local, workdir) {
                // Checked out, and its files would change: the work tree must follow.
                (Some(old), Some(workdir)) if !same_tree(repo, old, new) => late.push((p, workdir)),
                _ => edits.push(work::branch_edit(&p.name, p.local, new, message.clone())),
            }
        }
        if pushed && let Some((tip, _)) = p.push {
            edits.push(tracking_edit(
                &format!("refs/remotes/{remote}/{}", p.name),
                tip,
            ));
        }
    }
    if pushed && let Some(tip) = merged.result {
        edits.push(tracking_edit(&tracking, tip));
    }
    let mut target = merged.result;
    let mut expected = merged.ours;
    let mut after = merged.ours;
    for _ in 0..ATTEMPTS {
        let mut all = edits.clone();
        if let Some(t) = target
            && Some(t) != expected
        {
            all.push(store::cas_edit(
                NOTES_REF,
                expected,
                t,
                &format!("notes: {message}"),
            ));
        }
        if all.is_empty() {
            break;
        }
        match repo.edit_references(all) {
            Ok(_) => {
                after = target.or(expected);
                break;
            }
            Err(e) if store::is_transient(&e) => {
                // Our own flows moved during the sync: merge the result into them, locally.
                let now = store::tip(repo, NOTES_REF)?;
                if now == expected {
                    return Err(CliError::usage("could not update local refs")
                        .source(e)
                        .hint(
                            "a local branch moved during the sync; the push landed: sync again",
                        ));
                }
                let Some(t) = target else { break };
                let again =
                    store::merge::merge(repo, now, Some(t), NOTES_REF, &stamp.who, &stamp.at)?;
                expected = now;
                target = again.result;
            }
            Err(e) => return Err(CliError::usage("could not update local refs").source(e)),
        }
    }
    for (p, workdir) in late {
        let new = p.new_local.expect("only moving branches");
        let moved = gitcli::reset_keep(&workdir, new)
            .map_err(|e| CliError::usage("could not run git").source(e))?;
        if !moved {
            ctx.warn(format!(
                "{} is checked out in {} with changes in the way; it stays at {} (the remote's is {}): commit or stash, then `git reset --keep {new}`",
                p.name,
                workdir.display(),
                short(p.local),
                short(Some(new)),
            ));
        }
    }
    Ok(after)
}

fn tracking_edit(name: &str, tip: ObjectId) -> RefEdit {
    RefEdit {
        change: RefChange::Update {
            log: LogChange {
                mode: RefLog::AndReference,
                force_create_reflog: false,
                message: "aiflow sync: pushed".into(),
            },
            expected: PreviousValue::Any,
            new: Target::Object(tip),
        },
        name: name.try_into().expect("valid ref name"),
        deref: false,
    }
}

fn same_tree(repo: &gix::Repository, a: ObjectId, b: ObjectId) -> bool {
    let tree = |id| {
        repo.find_commit(id)
            .ok()
            .and_then(|c| c.tree_id().ok())
            .map(|t| t.detach())
    };
    tree(a).is_some() && tree(a) == tree(b)
}

fn short(id: Option<ObjectId>) -> String {
    id.map_or_else(|| "nothing".into(), |i| i.to_hex_with_len(12).to_string())
}

fn email(who: &str) -> &str {
    who.rsplit_once('<')
        .and_then(|(_, e)| e.strip_suffix('>'))
        .unwrap_or(who)
}

/// What a sync did, for printing.
struct Outcome<'a> {
    remote: &'a str,
    dry_run: bool,
    attempts: u32,
    merged: &'a NotesMerge,
    branches: &'a [BranchPlan],
}

impl Outcome<'_> {
    fn print(
        &self,
        ctx: &mut Ctx,
        json: bool,
        pushed: bool,
        local_after: Option<ObjectId>,
    ) -> Result<(), CliError> {
        let m = self.merged;
        let hex = |id: Option<ObjectId>| id.map(|i| i.to_string());
        if json {
            let value = serde_json::json!({
                "remote": self.remote,
                "dry_run": self.dry_run,
                "attempts": self.attempts,
                "notes": {
                    "local_before": hex(m.ours),
                    "remote_before": hex(m.theirs),
                    "local_after": hex(if self.dry_run { m.ours } else { local_after }),
                    "result": hex(m.result),
                    "action": m.action.as_str(),
                    "pushed": pushed,
                },
                "flows": m.flows,
                "steps": {
                    "from_remote": m.other_notes.0,
                    "to_remote": m.other_notes.1,
                    "merged": m.other_notes.2,
                },
                "conflicts": m.conflicts,
                "branches": self.branches.iter().map(|b| serde_json::json!({
                    "name": b.name,
                    "action": b.action,
                    "local_before": hex(b.local),
                    "local_after": hex(if self.dry_run { b.local } else { b.new_local.or(b.local) }),
                    "remote_before": hex(b.remote),
                    "remote_after": hex(if pushed { b.push.map(|p| p.0).or(b.remote) } else { b.remote }),
                    "reason": b.reason,
                })).collect::<Vec<_>>(),
            });
            return ctx.json(&value);
        }
        let would = if self.dry_run { "would be " } else { "" };
        let out = &mut ctx.out;
        let remote = self.remote;
        match m.action {
            Action::None => writeln!(out, "No flows here or on {remote}.")?,
            Action::UpToDate => writeln!(out, "Flows: up to date with {remote}.")?,
            Action::FastForward => writeln!(
                out,
                "Flows: {would}fast-forwarded to {remote}'s ({}).",
                short(m.result)
            )?,
            Action::Ahead => {
                let verb = if self.dry_run {
                    "would take"
                } else if pushed {
                    "took"
                } else {
                    "did not take (nothing pushed)"
                };
                writeln!(out, "Flows: {remote} {verb} yours ({}).", short(m.result))?
            }
            Action::Merged => writeln!(
                out,
                "Flows: yours and {remote}'s {would}merged in {}.",
                short(m.result)
            )?,
        }
        for f in &m.flows {
            let what = match f.change {
                Side::FromRemote => format!("changed on {remote}"),
                Side::ToRemote => "changed here".to_owned(),
                Side::Merged => "changed on both sides, merged".to_owned(),
            };
            writeln!(out, "  {:<24} {what}", f.slug)?;
        }
        let (from, to, both) = m.other_notes;
        if from + to + both > 0 {
            writeln!(
                out,
                "  step notes: {from} from {remote}, {to} from here, {both} merged"
            )?;
        }
        for c in &m.conflicts {
            writeln!(
                out,
                "  conflict {} {}: kept {} ({})\n      ours:   {}\n      theirs: {}",
                c.flow.as_deref().unwrap_or(&c.object),
                c.conflict.field,
                c.conflict.kept,
                c.conflict.rule,
                c.conflict.ours,
                c.conflict.theirs,
            )?;
        }
        if !m.conflicts.is_empty() {
            writeln!(
                out,
                "  Both values stay in `git log -p {NOTES_REF}` (the merge's parents)."
            )?;
        }
        for b in self.branches.iter().filter(|b| b.action != "up-to-date") {
            let what = match b.action {
                "created" => format!("{would}created from {remote} at {}", short(b.remote)),
                "fast-forward" => format!(
                    "{would}fast-forwarded {}..{}",
                    short(b.local),
                    short(b.new_local)
                ),
                "pushed" if self.dry_run => format!("would be pushed ({})", short(b.local)),
                "pushed" if pushed => format!("pushed {}..{}", short(b.remote), short(b.local)),
                "pushed" => format!("not pushed ({} ahead)", short(b.local)),
                "reconciled" => format!(
                    "{would}reconciled at {}: {}",
                    short(b.push.map(|p| p.0).or(b.new_local)),
                    b.reason.as_deref().unwrap_or_default()
                ),
                other => format!("{other}: {}", b.reason.as_deref().unwrap_or_default()),
            };
            writeln!(out, "Branch {}: {what}", b.name)?;
        }
        if self.dry_run {
            writeln!(out, "Dry run: nothing local moved and nothing was pushed.")?;
        }
        Ok(())
    }
}

/// How the local flows compare with a remote's, as of the last sync (no network): the
/// `sync` field of `status --json`. `None` when no remote's notes were ever fetched.
pub fn state(repo: &gix::Repository, anchor: &ObjectId) -> Option<serde_json::Value> {
    let configured = repo
        .config_snapshot()
        .string("aiflow.remote")
        .map(|s| s.to_string());
    let remote = match configured {
        Some(r) => r,
        None => {
            let mut found: Vec<String> = Vec::new();
            if let Ok(platform) = repo.references()
                && let Ok(iter) = platform.prefixed("refs/remote-notes/")
            {
                for r in iter.flatten() {
                    let name = r.name().as_bstr().to_string();
                    if let Some(remote) = name
                        .strip_prefix("refs/remote-notes/")
                        .and_then(|n| n.strip_suffix("/aiflow"))
                    {
                        found.push(remote.to_owned());
                    }
                }
            }
            match found.len() {
                0 => return None,
                1 => found.remove(0),
                _ if found.iter().any(|f| f == "origin") => "origin".to_owned(),
                _ => found.remove(0),
            }
        }
    };
    let theirs = store::tip(repo, &tracking_notes(&remote)).ok()??;
    let ours = store::tip(repo, NOTES_REF).ok().flatten();
    if ours == Some(theirs) {
        // The common case costs no walk and no notes tree read.
        return Some(serde_json::json!({
            "remote": remote, "state": "in-sync", "ahead": 0, "behind": 0, "flow": "in-sync",
        }));
    }
    let count = |tip: Option<ObjectId>, hidden: Option<ObjectId>| -> usize {
        let Some(tip) = tip else { return 0 };
        repo.rev_walk([tip])
            .with_hidden(hidden)
            .all()
            .map(|w| w.filter_map(Result::ok).count())
            .unwrap_or(0)
    };
    let (ahead, behind) = (count(ours, Some(theirs)), count(Some(theirs), ours));
    let word = |ahead: bool, behind: bool| match (ahead, behind) {
        (false, false) => "in-sync",
        (true, false) => "ahead",
        (false, true) => "behind",
        (true, true) => "diverged",
    };
    let base = ours.and_then(|o| {
        repo.merge_base(o, theirs)
            .ok()
            .flatten()
            .map(|b| b.detach())
    });
    let blob = |tip: Option<ObjectId>| -> Option<Vec<ObjectId>> {
        Snapshot::at(repo, tip).ok()?.notes.get(anchor).cloned()
    };
    let (o, t, b) = (blob(ours), blob(Some(theirs)), blob(base));
    let flow = match (&o, &t) {
        (Some(_), None) => "local-only",
        (None, Some(_)) => "remote-only",
        _ => word(o != t && o != b, o != t && t != b),
    };
    Some(serde_json::json!({
        "remote": remote,
        "state": word(ahead > 0, behind > 0),
        "ahead": ahead,
        "behind": behind,
        "flow": flow,
    }))
}

/// The dashboard's line for [`state`].
pub fn state_line(state: &serde_json::Value) -> String {
    let remote = state["remote"].as_str().unwrap_or("origin");
    let n = |k: &str| state[k].as_u64().unwrap_or(0);
    let commits = |n: u64| format!("{n} notes commit{}", if n == 1 { "" } else { "s" });
    let whole = match state["state"].as_str() {
        Some("ahead") => format!(
            "ahead of {remote} by {}: run `git aiflow sync`",
            commits(n("ahead"))
        ),
        Some("behind") => format!(
            "behind {remote} by {}: run `git aiflow sync`",
            commits(n("behind"))
        ),
        Some("diverged") => format!(
            "diverged from {remote} ({} here, {} there): run `git aiflow sync`",
            commits(n("ahead")),
            commits(n("behind"))
        ),
        _ => format!("in sync with {remote} (as of the last sync)"),
    };
    let flow = match state["flow"].as_str() {
        Some("ahead") => "; this flow changed here",
        Some("behind") => "; this flow changed there",
        Some("diverged") => "; this flow changed on both sides",
        Some("local-only") => "; this flow is not on the remote yet",
        _ => "",
    };
    format!("{whole}{flow}")
}
