//! The hook entry points: what `git aiflow hook <name>` does for each git hook.
//!
//! Every path ends in [`super::check`]. Client hooks read objects with gix; `pre-receive` reads
//! them with `git cat-file --batch`, because the pushed objects sit in a quarantine directory
//! that gix does not see.

use super::walk::{GitObjects, GixObjects, Objects, Range};
use super::{CheckError, Policy, PolicyError, Report, check};
use crate::git::cli::{CatFile, GitError};
use crate::git::trailers::Rules;
use gix::ObjectId;
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
pub fn all_hooks() -> Vec<&'static str> {
    CLIENT_HOOKS.iter().chain(&SERVER_HOOKS).copied().collect()
}

/// Run hook `name` with git's arguments and stdin; refusals are written to `err`, each line
/// starting with `aiflow:`. Returns whether git may go on.
pub fn run(
    repo: &gix::Repository,
    name: &str,
    args: &[String],
    stdin: &[u8],
    err: &mut dyn Write,
) -> Result<bool, HookError> {
    let gate = Gate::new(repo);
    match name {
        "pre-merge-commit" => gate.merge(err),
        "pre-commit" => {
            if repo.git_dir().join("MERGE_HEAD").exists() {
                gate.merge(err)
            } else {
                Ok(true)
            }
        }
        "reference-transaction" => {
            if args.first().map(String::as_str) != Some("prepared") {
                return Ok(true);
            }
            gate.transaction(stdin, err)
        }
        "pre-push" => gate.push(args.first().map(String::as_str).unwrap_or(""), stdin, err),
        "pre-receive" => gate.receive(stdin, err),
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

struct Gate<'r> {
    repo: &'r gix::Repository,
    rules: Rules,
}

/// A checked update, for the refusal message.
struct Checked {
    refname: String,
    policy: Policy,
    report: Report,
}

impl<'r> Gate<'r> {
    fn new(repo: &'r gix::Repository) -> Self {
        Gate {
            repo,
            rules: Rules::from_config(&repo.config_snapshot()),
        }
    }

    fn repo_err(e: impl std::fmt::Display) -> HookError {
        HookError::Repo(e.to_string())
    }

    /// The id a ref points to now, peeled.
    fn current(&self, refname: &str) -> Result<Option<ObjectId>, HookError> {
        crate::git::ref_id(self.repo, refname).map_err(Self::repo_err)
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
        objects: &mut dyn Objects,
        (refname, current, new): (&str, Option<ObjectId>, ObjectId),
        policy: Policy,
        batch: &[(String, ObjectId)],
        hidden_if_new: impl FnOnce(&Policy) -> Result<Vec<ObjectId>, HookError>,
    ) -> Result<Option<Checked>, HookError> {
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
        let mut binder = super::bind::NotesBinder::for_repo(self.repo);
        let report = check(
            objects,
            &range,
            &policy,
            &self.rules,
            scope,
            Some(&mut binder),
        )?;
        Ok(Some(Checked {
            refname: refname.to_owned(),
            policy,
            report,
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
        let policy = Policy::load(self.repo, current)?;
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
        let mut binder = super::bind::NotesBinder::for_repo(self.repo);
        let report = check(
            &mut GixObjects(self.repo),
            &range,
            &policy,
            &self.rules,
            scope,
            Some(&mut binder),
        )?;
        let checked = Checked {
            refname,
            policy,
            report,
        };
        let refused: Vec<Checked> = Some(checked)
            .filter(|c| !c.report.ok())
            .into_iter()
            .collect();
        Ok(refuse(
            err,
            &refused,
            "the merge was not committed: `git merge --abort` to drop it, or get the commits reviewed (another person approves them, adding Reviewed-by trailers), then merge again",
        ))
    }

    /// `reference-transaction prepared`: every protected branch moving to a new commit.
    fn transaction(&self, stdin: &[u8], err: &mut dyn Write) -> Result<bool, HookError> {
        let mut objects = GixObjects(self.repo);
        let mut batch = Vec::new();
        for line in String::from_utf8_lossy(stdin).lines() {
            let mut parts = line.split(' ');
            let (Some(_old), Some(new), Some(refname)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if !refname.starts_with("refs/heads/") || is_null(new) {
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
        for (refname, new) in &batch {
            let current = self.current(refname)?;
            if current == Some(*new) {
                continue;
            }
            let policy = Policy::load(self.repo, current)?;
            let checked = self.update(
                &mut objects,
                (refname, current, *new),
                policy,
                &batch,
                |p| self.local_protected_tips(p, refname),
            )?;
            refused.extend(checked.filter(|c| !c.report.ok()));
        }
        Ok(refuse(
            err,
            &refused,
            "the branch was not moved (your index and work tree may already show the new commits: `git status`); get the commits reviewed, then retry",
        ))
    }

    /// `pre-push <remote> <url>`: every protected branch of the remote that the push moves.
    fn push(&self, remote: &str, stdin: &[u8], err: &mut dyn Write) -> Result<bool, HookError> {
        let mut objects = GixObjects(self.repo);
        let mut batch = Vec::new();
        let mut remote_oids = Vec::new();
        for line in String::from_utf8_lossy(stdin).lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            let [_local_ref, local_oid, remote_ref, remote_oid] = parts[..] else {
                continue;
            };
            if is_null(local_oid) || !remote_ref.starts_with("refs/heads/") {
                continue;
            }
            let new = ObjectId::from_hex(local_oid.as_bytes())
                .map_err(|_| HookError::Input(line.to_owned()))?;
            batch.push((remote_ref.to_owned(), new));
            remote_oids.push(remote_oid.to_owned());
        }
        let mut refused = Vec::new();
        let prefix = format!("refs/remotes/{remote}/");
        for ((remote_ref, new), remote_oid) in batch.iter().zip(&remote_oids) {
            let tracking = format!("{prefix}{}", remote_ref.trim_start_matches("refs/heads/"));
            let tracking_tip = if remote.is_empty() {
                None
            } else {
                self.current(&tracking).ok().flatten()
            };
            // The remote's tip is known here only if it was fetched.
            let remote_tip = ObjectId::from_hex(remote_oid.as_bytes())
                .ok()
                .filter(|_| !is_null(remote_oid))
                .filter(|id| self.repo.has_object(id));
            let policy = Policy::load(self.repo, remote_tip.or(tracking_tip))?;
            let checked = self.update(
                &mut objects,
                (remote_ref, remote_tip, *new),
                policy,
                &batch,
                |p| {
                    // What the remote has is known from its tracking refs when the push names
                    // a remote; pushed by URL, there are none, so the local protected branches
                    // (guarded by the local hooks) stand in for them.
                    let mut hidden = self.local_protected_tips(p, remote_ref)?;
                    if !remote.is_empty() {
                        hidden.extend(self.protected_tips(&prefix, p, "", |n| {
                            n.strip_prefix(&prefix).map(|b| format!("refs/heads/{b}"))
                        })?);
                    }
                    Ok(hidden)
                },
            )?;
            refused.extend(checked.filter(|c| !c.report.ok()));
        }
        Ok(refuse(
            err,
            &refused,
            "nothing was pushed; get the commits reviewed, then push again",
        ))
    }

    /// `pre-receive` on a server: every protected branch the push moves, with objects read
    /// through git because they are still in the quarantine.
    fn receive(&self, stdin: &[u8], err: &mut dyn Write) -> Result<bool, HookError> {
        let dir = self.repo.git_dir().to_owned();
        let mut objects = GitObjects(CatFile::start(&dir)?);
        let mut batch = Vec::new();
        let mut olds = Vec::new();
        for line in String::from_utf8_lossy(stdin).lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            let [old, new, refname] = parts[..] else {
                continue;
            };
            if is_null(new) || !refname.starts_with("refs/heads/") {
                continue;
            }
            let parse = |hex: &str| {
                ObjectId::from_hex(hex.as_bytes()).map_err(|_| HookError::Input(line.to_owned()))
            };
            batch.push((refname.to_owned(), parse(new)?));
            olds.push(if is_null(old) {
                None
            } else {
                Some(parse(old)?)
            });
        }
        let mut refused = Vec::new();
        for ((refname, new), current) in batch.iter().zip(&olds) {
            let policy = Policy::load(self.repo, *current)?;
            let checked = self.update(
                &mut objects,
                (refname, *current, *new),
                policy,
                &batch,
                |p| self.local_protected_tips(p, refname),
            )?;
            refused.extend(checked.filter(|c| !c.report.ok()));
        }
        Ok(refuse(
            err,
            &refused,
            "the push was refused; get the commits reviewed (another person approves them, adding Reviewed-by trailers), then push again",
        ))
    }
}

/// Write the refusal for every failed update; returns whether git may go on.
fn refuse(err: &mut dyn Write, refused: &[Checked], next: &str) -> bool {
    if refused.is_empty() {
        return true;
    }
    for c in refused {
        let branch = c.refname.trim_start_matches("refs/heads/");
        let n = c.report.failures.len();
        let _ = writeln!(
            err,
            "aiflow: {branch} is protected: {n} commit{s} without a valid review",
            s = if n == 1 { "" } else { "s" },
        );
        for f in &c.report.failures {
            let _ = writeln!(
                err,
                "aiflow:   {} {} ({}): {}",
                f.id.to_hex_with_len(12),
                f.subject,
                f.author,
                f.reason.describe(&c.policy)
            );
        }
        let _ = writeln!(err, "aiflow: policy: {}", c.policy.source);
    }
    let _ = writeln!(err, "aiflow: {next}.");
    let _ = writeln!(
        err,
        "aiflow: `git aiflow check <range>` lists the same; `git aiflow hooks status` shows the hooks."
    );
    false
}
