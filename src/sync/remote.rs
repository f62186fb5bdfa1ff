//! The remote: which one to use, what it has, and fetching that into the remote-tracking refs
//! (`refs/remote-notes/<remote>/aiflow`, `refs/remotes/<remote>/aiflow/*`), never into local refs.

use super::{Reason, SyncError};
use crate::git::{cli::GitError, transport};
use crate::store::{self, NOTES_REF};
use gix::refs::transaction::{Change, PreviousValue, RefEdit, RefLog};
use std::collections::BTreeSet;
use std::path::Path;

/// Where the remote's notes are fetched to: `refs/remote-notes/<remote>/aiflow`.
pub fn tracking_notes(remote: &str) -> String {
    format!("refs/remote-notes/{remote}/aiflow")
}

/// The remote to use: the one named, `aiflow.remote`, the only one, or `origin`; it must exist
/// and its name must fit in a ref name.
pub fn resolve_remote(repo: &gix::Repository, named: Option<&str>) -> Result<String, SyncError> {
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
        return Err(SyncError::NoSuchRemote {
            name: chosen,
            known: names,
        });
    }
    if gix::validate::reference::name_partial(tracking_notes(&chosen).as_str().into()).is_err() {
        return Err(SyncError::BadRemoteName { name: chosen });
    }
    Ok(chosen)
}

/// The remote's `refs/notes/aiflow` and `refs/heads/aiflow/*`.
pub(super) fn list(dir: &Path, remote: &str) -> Result<BTreeSet<String>, SyncError> {
    let listed = transport::ls_remote(dir, remote, &[NOTES_REF, "refs/heads/aiflow/*"]).map_err(
        |e| match e {
            GitError::Failed { stderr, .. } => SyncError::Unreachable {
                remote: remote.to_owned(),
                reason: Reason(stderr),
            },
            e => SyncError::Git(e),
        },
    )?;
    Ok(listed
        .into_iter()
        .filter(|name| name == NOTES_REF || name.starts_with("refs/heads/aiflow/"))
        .collect())
}

/// Fetch what [`list`] listed into the remote-tracking refs; drop the tracking refs of what the
/// remote no longer has.
pub(super) fn fetch(
    repo: &gix::Repository,
    dir: &Path,
    remote: &str,
    listed: &BTreeSet<String>,
) -> Result<(), SyncError> {
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
        GitError::Failed { stderr, .. } => SyncError::Fetch {
            remote: remote.to_owned(),
            reason: Reason(stderr),
        },
        e => SyncError::Git(e),
    })?;
    prune(repo, remote, listed)
}

/// The remote deleted its notes or a branch: so does its tracking copy.
fn prune(repo: &gix::Repository, remote: &str, listed: &BTreeSet<String>) -> Result<(), SyncError> {
    let tracking = tracking_notes(remote);
    let mut stale: Vec<gix::refs::FullName> = Vec::new();
    if !listed.contains(NOTES_REF) && store::tip(repo, &tracking)?.is_some() {
        stale.push(full_name(&tracking)?);
    }
    let prefix = format!("refs/remotes/{remote}/");
    if let Ok(platform) = repo.references()
        && let Ok(iter) = platform.prefixed(format!("{prefix}aiflow/").as_str())
    {
        for r in iter.flatten() {
            let full = r.name().as_bstr().to_string();
            if !listed.contains(&format!("refs/heads/{}", &full[prefix.len()..])) {
                stale.push(r.name().to_owned());
            }
        }
    }
    if stale.is_empty() {
        return Ok(());
    }
    let edits = stale
        .into_iter()
        .map(|name| RefEdit {
            change: Change::Delete {
                expected: PreviousValue::Any,
                log: RefLog::AndReference,
            },
            name,
            deref: false,
        })
        .collect::<Vec<_>>();
    repo.edit_references(edits)
        .map_err(SyncError::TrackingRefs)?;
    Ok(())
}

/// `name` as a full ref name.
pub(super) fn full_name(name: &str) -> Result<gix::refs::FullName, SyncError> {
    name.try_into().map_err(|source| SyncError::RefName {
        name: name.to_owned(),
        source,
    })
}
