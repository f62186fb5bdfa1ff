//! How the local flows stand against a remote's as of the last sync, without the network: the
//! `sync` field of `status --json` and the dashboard's `sync` line.

use super::remote::tracking_notes;
use crate::store::{self, NOTES_REF, Snapshot};
use gix::ObjectId;
use serde::Serialize;

/// How two notes histories (or one flow's note in them) compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Standing {
    /// Nothing on either side that the other lacks.
    InSync,
    /// Changes here that the remote lacks.
    Ahead,
    /// Changes on the remote that are not here.
    Behind,
    /// Changes on both sides.
    Diverged,
}

impl Standing {
    fn of(ahead: bool, behind: bool) -> Self {
        match (ahead, behind) {
            (false, false) => Standing::InSync,
            (true, false) => Standing::Ahead,
            (false, true) => Standing::Behind,
            (true, true) => Standing::Diverged,
        }
    }
}

/// How one flow's note compares with the remote's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlowStanding {
    /// The same note on both sides.
    InSync,
    /// Changed here since the common notes commit.
    Ahead,
    /// Changed on the remote since then.
    Behind,
    /// Changed on both sides.
    Diverged,
    /// Only here.
    LocalOnly,
    /// Only on the remote.
    RemoteOnly,
}

impl From<Standing> for FlowStanding {
    fn from(s: Standing) -> Self {
        match s {
            Standing::InSync => FlowStanding::InSync,
            Standing::Ahead => FlowStanding::Ahead,
            Standing::Behind => FlowStanding::Behind,
            Standing::Diverged => FlowStanding::Diverged,
        }
    }
}

/// How the local notes, and one flow, compare with a remote's as last fetched. Field order is
/// the JSON's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncState {
    /// The remote.
    pub remote: String,
    /// The notes as a whole.
    pub state: Standing,
    /// Notes commits here that the remote lacks.
    pub ahead: usize,
    /// Notes commits on the remote that are not here.
    pub behind: usize,
    /// The flow asked about.
    pub flow: FlowStanding,
}

/// How the local flows compare with a remote's, as of the last sync (no network), and the flow
/// anchored at `anchor`. `None` when no remote's notes were ever fetched.
pub fn state(repo: &gix::Repository, anchor: &ObjectId) -> Option<SyncState> {
    let remote = state_remote(repo)?;
    let theirs = store::tip(repo, &tracking_notes(&remote)).ok()??;
    let ours = store::tip(repo, NOTES_REF).ok().flatten();
    if ours == Some(theirs) {
        // The common case costs no walk and no notes tree read.
        return Some(SyncState {
            remote,
            state: Standing::InSync,
            ahead: 0,
            behind: 0,
            flow: FlowStanding::InSync,
        });
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
    Some(SyncState {
        remote,
        state: Standing::of(ahead > 0, behind > 0),
        ahead,
        behind,
        flow: flow_standing(repo, anchor, ours, theirs),
    })
}

/// The remote [`state`] reports on: `aiflow.remote`, else the only one whose notes were
/// fetched, else `origin` among several, else the first.
fn state_remote(repo: &gix::Repository) -> Option<String> {
    let configured = repo
        .config_snapshot()
        .string("aiflow.remote")
        .map(|s| s.to_string());
    if configured.is_some() {
        return configured;
    }
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
        0 => None,
        1 => Some(found.remove(0)),
        _ if found.iter().any(|f| f == "origin") => Some("origin".to_owned()),
        _ => Some(found.remove(0)),
    }
}

/// How the note on `anchor` differs between `ours` and `theirs`, against their merge base.
fn flow_standing(
    repo: &gix::Repository,
    anchor: &ObjectId,
    ours: Option<ObjectId>,
    theirs: ObjectId,
) -> FlowStanding {
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
    match (&o, &t) {
        (Some(_), None) => FlowStanding::LocalOnly,
        (None, Some(_)) => FlowStanding::RemoteOnly,
        _ => Standing::of(o != t && o != b, o != t && t != b).into(),
    }
}

impl SyncState {
    /// The dashboard's line: how the notes stand, and what to do about it.
    pub fn line(&self) -> String {
        let remote = &self.remote;
        let commits = |n: usize| format!("{n} notes commit{}", if n == 1 { "" } else { "s" });
        let whole = match self.state {
            Standing::Ahead => format!(
                "ahead of {remote} by {}: run `git aiflow sync`",
                commits(self.ahead)
            ),
            Standing::Behind => format!(
                "behind {remote} by {}: run `git aiflow sync`",
                commits(self.behind)
            ),
            Standing::Diverged => format!(
                "diverged from {remote} ({} here, {} there): run `git aiflow sync`",
                commits(self.ahead),
                commits(self.behind)
            ),
            Standing::InSync => format!("in sync with {remote} (as of the last sync)"),
        };
        let flow = match self.flow {
            FlowStanding::Ahead => "; this flow changed here",
            FlowStanding::Behind => "; this flow changed there",
            FlowStanding::Diverged => "; this flow changed on both sides",
            FlowStanding::LocalOnly => "; this flow is not on the remote yet",
            FlowStanding::InSync | FlowStanding::RemoteOnly => "",
        };
        format!("{whole}{flow}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_and_the_line_of_a_diverged_state() {
        let s = SyncState {
            remote: "origin".into(),
            state: Standing::Diverged,
            ahead: 1,
            behind: 2,
            flow: FlowStanding::LocalOnly,
        };
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"remote":"origin","state":"diverged","ahead":1,"behind":2,"flow":"local-only"}"#
        );
        assert_eq!(
            s.line(),
            "diverged from origin (1 notes commit here, 2 notes commits there): run \
             `git aiflow sync`; this flow is not on the remote yet"
        );
    }
}
