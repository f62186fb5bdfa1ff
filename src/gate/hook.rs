//! The hook entry points: what `git aiflow hook <name>` does for each git hook.
//!
//! Every path ends in [`super::check`]. `pre-receive` first makes the pushed objects, which sit
//! in git's quarantine, visible to gix ([`crate::git::see_pushed_objects`]); it judges a push by
//! the notes the push brings when `refs/notes/aiflow` moves in the same push, refuses a notes
//! update that would drop recorded approvals of protected work, refuses deleting protected
//! branches and pushing replacement refs unless the policy allows them, and applies the server's
//! own `aiflow.*` config over the policy file ([`Trust::Server`]).

use super::bind::NotesBinder;
use super::walk::{GixObjects, Range};
use super::{CheckError, Policy, PolicyError, Report, Trust, check};
use crate::flow::Review;
use crate::git::cli::GitError;
use crate::git::trailers::Rules;
use crate::store::{NOTES_REF, Snapshot};
use gix::ObjectId;
use std::collections::BTreeSet;
use std::io::Write;

/// The hooks git-aiflow installs in a work repository.
pub const CLIENT_HOOKS: [&str; 4] = [
    "pre-merge-commit",
    "pre-commit",
    "reference-transaction",
    "pre-push",
];
/// The hooks git-aiflow installs on a server.
pub const SERVER_HOOKS: [&str; 1] = ["pre-receive"];

/// Why a hook could not decide. Hooks fail closed on these.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The policy could not be read.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The check could not run.
    #[error(transparent)]
    Check(#[from] CheckError),
    /// git failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The pushed objects could not be read.
    #[error(transparent)]
    Quarantine(#[from] crate::git::QuarantineError),
    /// The repository could not be read.
    #[error("{0}")]
    Repo(String),
    /// git gave the hook input it does not understand.
    #[error("unexpected hook input {0:?}")]
    Input(String),
    /// Not a hook git-aiflow handles.
    #[error("unknown hook {0:?} (git-aiflow handles {hooks})", hooks = all_hooks().join(", "))]
    Unknown(String),
}

/// Every hook name `git aiflow hook` accepts.
fn all_hooks() -> Vec<&'static str> {
    CLIENT_HOOKS.iter().chain(&SERVER_HOOKS).copied().collect()
}

/// Run hook `name` with git's arguments and stdin; refusals and notices are written to `err`,
/// each line starting with `aiflow:`. Returns whether git may go on.
pub fn run(
    repo: &gix::Repository,
    name: &str,
    args: &[String],
    stdin: &[u8],
    err: &mut dyn Write,
) -> Result<bool, HookError> {
    match name {
        "pre-merge-commit" => Gate::new(repo, Trust::Local).merge(err),
        "pre-commit" => {
            if repo.git_dir().join("MERGE_HEAD").exists() {
                Gate::new(repo, Trust::Local).merge(err)
            } else {
                Ok(true)
            }
        }
        "reference-transaction" => {
            if args.first().map(String::as_str) != Some("prepared") {
                return Ok(true);
            }
            Gate::new(repo, Trust::Local).transaction(stdin, err)
        }
        "pre-push" => Gate::new(repo, Trust::Local).push(
            args.first().map(String::as_str).unwrap_or(""),
            stdin,
            err,
        ),
        "pre-receive" => {
            let mut repo = repo.clone();
            let _objects = crate::git::see_pushed_objects(&mut repo)?;
            Gate::new(&repo, Trust::Server).receive(stdin, err)
        }
        other => Err(HookError::Unknown(other.to_owned())),
    }
}

/// What is being merged: `MERGE_HEAD` once git wrote it (a merge finished by `git commit`),
/// else the `GITHEAD_<id>` variables `git merge` exports while `pre-merge-commit` runs, before
/// `MERGE_HEAD` exists.
pub fn merge_heads(repo: &gix::Repository) -> Result<Vec<ObjectId>, HookError> {
    let path = repo.git_dir().join("MERGE_HEAD");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return text
            .lines()
            .map(|l| ObjectId::from_hex(l.trim().as_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| HookError::Input(format!("{}: {text}", path.display())));
    }
    let mut ids: Vec<ObjectId> = std::env::vars_os()
        .filter_map(|(k, _)| {
            let k = k.to_str()?;
            ObjectId::from_hex(k.strip_prefix("GITHEAD_")?.as_bytes()).ok()
        })
        .collect();
    ids.sort();
    Ok(ids)
}

/// The zero id git uses for "no object".
fn is_null(hex: &str) -> bool {
    hex.bytes().all(|c| c == b'0')
}

/// One line of hook input: a ref moving from `old` to `new` (`None`: absent).
struct Update {
    refname: String,
    old: Option<ObjectId>,
    new: Option<ObjectId>,
}

struct Gate<'r> {
    repo: &'r gix::Repository,
    rules: Rules,
    trust: Trust,
    /// The notes commit to judge by, when a push brings one.
    notes: Option<Option<ObjectId>>,
}

/// Why one update is refused.
enum Refusal {
    /// Commits without a valid review.
    Unreviewed {
        refname: String,
        policy: Box<Policy>,
        report: Report,
    },
    /// Something else, said in one line, with where the rule comes from.
    Rule { refname: String, message: String },
}

impl<'r> Gate<'r> {
    fn new(repo: &'r gix::Repository, trust: Trust) -> Self {
        Gate {
            repo,
            rules: Rules::from_config(&repo.config_snapshot()),
            trust,
            notes: None,
        }
    }

    fn repo_err(e: impl std::fmt::Display) -> HookError {
        HookError::Repo(e.to_string())
    }

    fn policy(&self, tip: Option<ObjectId>) -> Result<Policy, HookError> {
        Ok(Policy::load_with(self.repo, tip, self.trust)?)
    }

    /// The id a ref points to now, peeled.
    fn current(&self, refname: &str) -> Result<Option<ObjectId>, HookError> {
        crate::git::ref_id(self.repo, refname)
            .map_err(|e| HookError::Repo(format!("{e}: {}", e.source)))
    }

    /// Tips of the refs under `prefix` protected by `policy`, except `except`.
    fn protected_tips(
        &self,
        prefix: &str,
        policy: &Policy,
        except: &str,
        as_local: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<ObjectId>, HookError> {
        let refs = self.repo.references().map_err(Self::repo_err)?;
        let mut tips = Vec::new();
        for r in refs.prefixed(prefix).map_err(Self::repo_err)? {
            let mut r = r.map_err(Self::repo_err)?;
            let name = r.name().as_bstr().to_string();
            if name == except {
                continue;
            }
            let Some(local) = as_local(&name) else {
                continue;
            };
            if policy.protection(&local).is_some()
                && let Ok(id) = r.peel_to_id()
            {
                tips.push(id.detach());
            }
        }
        Ok(tips)
    }

    /// Tips of the local protected branches, except `except`.
    fn local_protected_tips(
        &self,
        policy: &Policy,
        except: &str,
    ) -> Result<Vec<ObjectId>, HookError> {
        self.protected_tips("refs/heads/", policy, except, |n| Some(n.to_owned()))
    }

    /// Check what updating `refname` from `current` to `new` brings in, if the ref is protected.
    fn update(
        &self,
        (refname, current, new): (&str, Option<ObjectId>, ObjectId),
        policy: Policy,
        batch: &[(String, ObjectId)],
        hidden_if_new: impl FnOnce(&Policy) -> Result<Vec<ObjectId>, HookError>,
    ) -> Result<Option<Refusal>, HookError> {
        let Some(scope) = policy.protection(refname) else {
            return Ok(None);
        };
        if current == Some(new) {
            return Ok(None);
        }
        let hidden = match current {
            Some(c) => vec![c],
            None => {
                // A new branch brings what no other protected branch has, counting the other
                // protected branches this same update creates or moves (checked themselves).
                let mut hidden = hidden_if_new(&policy)?;
                hidden.extend(
                    batch
                        .iter()
                        .filter(|(r, _)| r != refname && policy.protection(r).is_some())
                        .map(|(_, id)| *id),
                );
                hidden
            }
        };
        let range = Range {
            tips: vec![new],
            hidden,
        };
        let mut binder = NotesBinder::for_repo(self.repo);
        if let Some(tip) = self.notes {
            binder = binder.at_notes(tip);
        }
        let report = check(
            self.repo,
            &mut GixObjects(self.repo),
            &range,
            &policy,
            &self.rules,
            scope,
            &mut binder,
        )?;
        Ok(Some(Refusal::Unreviewed {
            refname: refname.to_owned(),
            policy: Box::new(policy),
            report,
        }))
    }

    /// The refs in `packed-refs` and their values.
    fn packed_refs(&self) -> std::collections::HashMap<String, ObjectId> {
        let text =
            std::fs::read_to_string(self.repo.common_dir().join("packed-refs")).unwrap_or_default();
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with('^'))
            .filter_map(|l| {
                let (oid, name) = l.split_once(' ')?;
                Some((name.to_owned(), ObjectId::from_hex(oid.as_bytes()).ok()?))
            })
            .collect()
    }

    /// A protected branch being deleted: refused unless its own policy (`tip`'s, when its tip
    /// is known here) or the policy that governs new branches (the trunk's, with the server's
    /// config on a server) allows it, so that allowing it on the trunk covers branches made
    /// before. A branch neither protects is not the gate's business.
    fn deletion(&self, refname: &str, tip: Option<ObjectId>) -> Result<Option<Refusal>, HookError> {
        let own = self.policy(tip)?;
        let governing = match tip {
            Some(_) => self.policy(None)?,
            None => own.clone(),
        };
        let protected = [&own, &governing]
            .iter()
            .any(|p| p.protection(refname).is_some());
        if !protected || own.allows_delete(refname) || governing.allows_delete(refname) {
            return Ok(None);
        }
        let policy = governing;
        let branch = refname.trim_start_matches("refs/heads/");
        Ok(Some(Refusal::Rule {
            refname: refname.to_owned(),
            message: format!(
                "deleting {branch} is refused: it is protected ({}); a branch created again later is judged under the policy that governs new branches, but its history and policy would be gone. To allow it, add it to allow-delete (e.g. allow-delete = [\"{branch}\"]) in the policy",
                policy.source
            ),
        }))
    }

    /// `pre-merge-commit`, and `pre-commit` during a merge: what `MERGE_HEAD` brings into the
    /// current branch.
    fn merge(&self, err: &mut dyn Write) -> Result<bool, HookError> {
        let head = self.repo.head().map_err(Self::repo_err)?;
        let Some(refname) = head.referent_name().map(|n| n.as_bstr().to_string()) else {
            return Ok(true);
        };
        let current = self.current(&refname)?;
        let policy = self.policy(current)?;
        let Some(scope) = policy.protection(&refname) else {
            return Ok(true);
        };
        let tips = merge_heads(self.repo)?;
        if tips.is_empty() {
            // Nothing says what is merged; the reference-transaction hook checks the result.
            return Ok(true);
        }
        let range = Range {
            tips,
            hidden: current.into_iter().collect(),
        };
        let mut binder = NotesBinder::for_repo(self.repo);
        let report = check(
            self.repo,
            &mut GixObjects(self.repo),
            &range,
            &policy,
            &self.rules,
            scope,
            &mut binder,
        )?;
        let refused = vec![Refusal::Unreviewed {
            refname,
            policy: Box::new(policy),
            report,
        }];
        Ok(refuse(
            err,
            refused,
            "the merge was not committed: `git merge --abort` to drop it, or get the commits reviewed (another person approves them, adding Reviewed-by trailers), then merge again",
        ))
    }

    /// `reference-transaction prepared`: every protected branch moving to a new commit or being
    /// deleted.
    fn transaction(&self, stdin: &[u8], err: &mut dyn Write) -> Result<bool, HookError> {
        let mut batch = Vec::new();
        let mut deleted = Vec::new();
        for line in String::from_utf8_lossy(stdin).lines() {
            let mut parts = line.split(' ');
            let (Some(old), Some(new), Some(refname)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if !refname.starts_with("refs/heads/") {
                continue;
            }
            if is_null(new) {
                deleted.push((refname.to_owned(), !is_null(old)));
                continue;
            }
            let new = match new.strip_prefix("ref:") {
                // A symbolic ref: the branch comes to point where its target points.
                Some(target) => match self.current(target)? {
                    Some(id) => id,
                    None => continue,
                },
                None => ObjectId::from_hex(new.as_bytes())
                    .map_err(|_| HookError::Input(line.to_owned()))?,
            };
            batch.push((refname.to_owned(), new));
        }
        let mut refused = Vec::new();
        let packed = if deleted.is_empty() {
            Default::default()
        } else {
            self.packed_refs()
        };
        for (refname, old_given) in &deleted {
            let Some(current) = self.current(refname)? else {
                continue;
            };
            // `git pack-refs` (and `git gc`) prunes a loose ref, naming its value, after writing
            // it to packed-refs: the same value stays, nothing is deleted.
            let loose = self.repo.common_dir().join(refname).is_file();
            if *old_given && loose && packed.get(refname.as_str()) == Some(&current) {
                continue;
            }
            refused.extend(self.deletion(refname, Some(current))?);
        }
        for (refname, new) in &batch {
            let current = self.current(refname)?;
            if current == Some(*new) {
                continue;
            }
            let policy = self.policy(current)?;
            refused.extend(self.update((refname, current, *new), policy, &batch, |p| {
                self.local_protected_tips(p, refname)
            })?);
        }
        Ok(refuse(
            err,
            refused,
            "the branch was not moved (your index and work tree may already show the new commits: `git status`); get the commits reviewed, then retry",
        ))
    }

    /// `pre-push <remote> <url>`: every protected branch of the remote that the push moves or
    /// deletes.
    fn push(&self, remote: &str, stdin: &[u8], err: &mut dyn Write) -> Result<bool, HookError> {
        let mut batch = Vec::new();
        let mut remote_oids = Vec::new();
        let mut refused = Vec::new();
        let prefix = format!("refs/remotes/{remote}/");
        let tracking_tip = |remote_ref: &str| {
            if remote.is_empty() {
                return None;
            }
            let tracking = format!("{prefix}{}", remote_ref.trim_start_matches("refs/heads/"));
            self.current(&tracking).ok().flatten()
        };
        // The remote's tip is known here only if it was fetched.
        let known = |oid: &str| {
            ObjectId::from_hex(oid.as_bytes())
                .ok()
                .filter(|_| !is_null(oid))
                .filter(|id| self.repo.has_object(id))
        };
        for line in String::from_utf8_lossy(stdin).lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            let [_local_ref, local_oid, remote_ref, remote_oid] = parts[..] else {
                continue;
            };
            if !remote_ref.starts_with("refs/heads/") {
                continue;
            }
            if is_null(local_oid) {
                if !is_null(remote_oid) {
                    // The branch's own policy if its tip was fetched, else the governing one.
                    let tip = known(remote_oid).or_else(|| tracking_tip(remote_ref));
                    refused.extend(self.deletion(remote_ref, tip)?);
                }
                continue;
            }
            let new = ObjectId::from_hex(local_oid.as_bytes())
                .map_err(|_| HookError::Input(line.to_owned()))?;
            batch.push((remote_ref.to_owned(), new));
            remote_oids.push(remote_oid.to_owned());
        }
        for ((remote_ref, new), remote_oid) in batch.iter().zip(&remote_oids) {
            let remote_tip = known(remote_oid);
            let policy = self.policy(remote_tip.or_else(|| tracking_tip(remote_ref)))?;
            refused.extend(
                self.update((remote_ref, remote_tip, *new), policy, &batch, |p| {
                    // What the remote has is known from its tracking refs when the push names a
                    // remote; pushed by URL, there are none, so the local protected branches
                    // (guarded by the local hooks) stand in for them.
                    let mut hidden = self.local_protected_tips(p, remote_ref)?;
                    if !remote.is_empty() {
                        hidden.extend(self.protected_tips(&prefix, p, "", |n| {
                            n.strip_prefix(&prefix).map(|b| format!("refs/heads/{b}"))
                        })?);
                    }
                    Ok(hidden)
                })?,
            );
        }
        Ok(refuse(
            err,
            refused,
            "nothing was pushed; get the commits reviewed, then push again",
        ))
    }

    /// `pre-receive` on a server: every ref the push creates, moves or deletes.
    fn receive(mut self, stdin: &[u8], err: &mut dyn Write) -> Result<bool, HookError> {
        let mut updates = Vec::new();
        for line in String::from_utf8_lossy(stdin).lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            let [old, new, refname] = parts[..] else {
                continue;
            };
            let parse = |hex: &str| -> Result<Option<ObjectId>, HookError> {
                if is_null(hex) {
                    return Ok(None);
                }
                ObjectId::from_hex(hex.as_bytes())
                    .map(Some)
                    .map_err(|_| HookError::Input(line.to_owned()))
            };
            updates.push(Update {
                refname: refname.to_owned(),
                old: parse(old)?,
                new: parse(new)?,
            });
        }
        let mut refused = Vec::new();
        // The notes the push brings are what its branches are judged by.
        if let Some(u) = updates.iter().find(|u| u.refname == NOTES_REF) {
            self.notes = Some(u.new);
            refused.extend(self.notes_update(u.old, u.new, &updates)?);
        }
        let governing = self.policy(None)?;
        let batch: Vec<(String, ObjectId)> = updates
            .iter()
            .filter(|u| u.refname.starts_with("refs/heads/"))
            .filter_map(|u| Some((u.refname.clone(), u.new?)))
            .collect();
        for u in &updates {
            if u.refname.starts_with("refs/replace/") {
                if u.new.is_some() && !governing.allow_replace_refs {
                    refused.push(Refusal::Rule {
                        refname: u.refname.clone(),
                        message: format!(
                            "pushing replacement objects ({}) is refused: a replacement makes git show another commit than the one a ref points to ({}); allow-replace-refs = true allows it",
                            u.refname, governing.source
                        ),
                    });
                }
                continue;
            }
            if !u.refname.starts_with("refs/heads/") {
                continue;
            }
            let Some(new) = u.new else {
                if u.old.is_some() {
                    refused.extend(self.deletion(&u.refname, u.old)?);
                }
                continue;
            };
            let policy = self.policy(u.old)?;
            refused.extend(self.update((&u.refname, u.old, new), policy, &batch, |p| {
                self.local_protected_tips(p, &u.refname)
            })?);
        }
        Ok(refuse(
            err,
            refused,
            "the push was refused; get the commits reviewed (another person approves them with `git aiflow approve`), then push again",
        ))
    }

    /// A push moving `refs/notes/aiflow` from `old` to `new` must keep every recorded review of
    /// work already on a protected branch: a review record that disappears or changes is
    /// refused when any commit it names is on a protected branch (before or after the push).
    fn notes_update(
        &self,
        old: Option<ObjectId>,
        new: Option<ObjectId>,
        updates: &[Update],
    ) -> Result<Option<Refusal>, HookError> {
        let Some(old) = old else { return Ok(None) };
        let records = |tip: Option<ObjectId>| -> Result<BTreeSet<String>, HookError> {
            let snap = Snapshot::at(self.repo, tip).map_err(Self::repo_err)?;
            let mut out = BTreeSet::new();
            if tip.is_none() {
                return Ok(out);
            }
            for e in snap.flows(self.repo).map_err(Self::repo_err)?.flows {
                for r in &e.flow.reviews {
                    out.insert(record_key(&e.flow.slug, r));
                }
            }
            for object in snap.notes.keys() {
                let Some(bytes) = snap.note_bytes(self.repo, object).map_err(Self::repo_err)?
                else {
                    continue;
                };
                let text = String::from_utf8_lossy(&bytes);
                if !text.contains("kind = \"review\"") {
                    continue;
                }
                if let Ok(note) = crate::flow::ReviewNote::decode(&text) {
                    for r in &note.reviews {
                        out.insert(record_key(&format!("note {object}"), r));
                    }
                }
            }
            Ok(out)
        };
        let before = records(Some(old))?;
        let after = records(new)?;
        let lost: Vec<&String> = before.difference(&after).collect();
        if lost.is_empty() {
            return Ok(None);
        }
        // Which of the lost records name commits on protected branches?
        let governing = self.policy(None)?;
        let mut tips = self.local_protected_tips(&governing, "")?;
        tips.extend(
            updates
                .iter()
                .filter(|u| governing.protection(&u.refname).is_some())
                .filter_map(|u| u.new),
        );
        let mut protected = Vec::new();
        for key in &lost {
            let commits = key
                .lines()
                .filter_map(|l| l.strip_prefix("commit "))
                .filter_map(|c| ObjectId::from_hex(c.split(' ').next()?.as_bytes()).ok());
            for c in commits {
                if tips
                    .iter()
                    .any(|t| crate::git::is_ancestor(self.repo, c, *t))
                {
                    protected.push(c);
                    break;
                }
            }
        }
        if protected.is_empty() {
            return Ok(None);
        }
        Ok(Some(Refusal::Rule {
            refname: NOTES_REF.to_owned(),
            message: format!(
                "this update of {NOTES_REF} removes or rewrites {} recorded review{} of work already on a protected branch (e.g. commit {}); reviews are kept for good: merge the notes instead of replacing them (`git aiflow sync`)",
                protected.len(),
                if protected.len() == 1 { "" } else { "s" },
                protected[0].to_hex_with_len(12)
            ),
        }))
    }
}

/// A review record's identity and content, for comparing two versions of the notes.
fn record_key(owner: &str, r: &Review) -> String {
    let mut key = format!("{owner}\n");
    key.push_str(&String::from_utf8_lossy(&r.attestation(
        crate::flow::review::Subject::Subtask {
            flow: owner,
            subtask: &r.subtask,
        },
    )));
    key.push_str(&format!(
        "signature {}\nrange {}\n",
        r.signature.as_deref().unwrap_or("-"),
        r.range.as_deref().unwrap_or("-")
    ));
    for c in &r.commits {
        key.push_str(&format!(
            "patch {} {}\n",
            c.commit,
            c.patch_id.as_deref().unwrap_or("-")
        ));
    }
    key
}

/// Write the refusal for every refused update; returns whether git may go on. Notices of the
/// checks are written too, refused or not, so a pusher sees them.
fn refuse(err: &mut dyn Write, refused: Vec<Refusal>, next: &str) -> bool {
    let mut any = false;
    for r in &refused {
        match r {
            Refusal::Unreviewed {
                refname,
                policy,
                report,
            } => {
                for n in &report.notices {
                    let _ = writeln!(err, "aiflow: notice: {n}");
                }
                if report.ok() {
                    continue;
                }
                any = true;
                let branch = refname.trim_start_matches("refs/heads/");
                let n = report.failures.len();
                let _ = writeln!(
                    err,
                    "aiflow: {branch} is protected: {n} commit{s} without a valid review",
                    s = if n == 1 { "" } else { "s" },
                );
                for f in &report.failures {
                    let _ = writeln!(
                        err,
                        "aiflow:   {} {} ({}): [{}] {}",
                        f.id.to_hex_with_len(12),
                        f.subject,
                        f.author,
                        f.reason.code(),
                        f.reason.describe(policy)
                    );
                }
                let _ = writeln!(err, "aiflow: policy: {}", policy.source);
            }
            Refusal::Rule { refname, message } => {
                any = true;
                let _ = writeln!(err, "aiflow: {refname}: {message}");
            }
        }
    }
    if !any {
        return true;
    }
    let _ = writeln!(err, "aiflow: {next}.");
    let _ = writeln!(
        err,
        "aiflow: `git aiflow check <range>` lists the same; `git aiflow hooks status` shows the hooks."
    );
    false
}
