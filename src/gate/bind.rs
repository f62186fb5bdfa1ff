//! Binding reviews to content: a `Reviewed-by` trailer on a subtask commit counts only when the
//! flow's note records an approval of that commit, by id, or of the same change, by patch id (a
//! rebase that did not change the patch keeps its review; an amend that changed it does not).
//!
//! The flows are read once, and only when the range holds reviewed subtask commits; patch ids are
//! computed (one `git diff-tree | git patch-id` pipeline) only for commits whose id is not
//! recorded, which after `approve` and `integrate` is none of them.

use super::{Binder, CheckError, Reason};
use crate::flow::{Approvals, EMPTY_PATCH, Flow, Standing};
use crate::store::Snapshot;
use gix::ObjectId;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A [`Binder`] reading `refs/notes/aiflow` with gix and patch ids with git.
pub struct NotesBinder<'r> {
    repo: &'r gix::Repository,
    /// Where git runs (the repository's work tree or git dir).
    dir: PathBuf,
}

impl<'r> NotesBinder<'r> {
    /// A binder for `repo`, running git where the repository is.
    pub fn for_repo(repo: &'r gix::Repository) -> Self {
        NotesBinder {
            repo,
            dir: crate::git::run_dir(repo),
        }
    }
}

impl Binder for NotesBinder<'_> {
    fn bind(
        &mut self,
        items: &[(ObjectId, String, String)],
    ) -> Result<(Vec<Option<Reason>>, Vec<String>), CheckError> {
        let err = |e: Box<dyn std::error::Error + Send + Sync>| CheckError::Records(e);
        let snap = Snapshot::load(self.repo).map_err(|e| err(Box::new(e)))?;
        let set = snap.flows(self.repo).map_err(|e| err(Box::new(e)))?;
        let flows: BTreeMap<&str, &Flow> = set
            .flows
            .iter()
            .map(|e| (e.flow.slug.as_str(), &e.flow))
            .collect();

        // None: bound (or nothing to bind against); the default.
        let mut verdicts: Vec<Option<Reason>> = vec![None; items.len()];
        let mut missing: BTreeMap<&str, usize> = BTreeMap::new();
        let mut approvals: BTreeMap<(&str, &str), Approvals> = BTreeMap::new();
        let mut need_patch = Vec::new();
        for (i, (id, slug, subtask)) in items.iter().enumerate() {
            let Some(flow) = flows.get(slug.as_str()) else {
                // Nothing to bind against here (notes not fetched): the trailer alone decides.
                *missing.entry(slug.as_str()).or_default() += 1;
                continue;
            };
            let a = approvals
                .entry((slug.as_str(), subtask.as_str()))
                .or_insert_with(|| flow.approvals(subtask));
            if a.standing(&id.to_string(), None) != Standing::Approved {
                need_patch.push(i);
            }
        }
        let notices = missing
            .into_iter()
            .map(|(slug, n)| format!(
                "{n} reviewed commit{} of flow {slug} could not be matched to recorded reviews: the flow's note is not in this repository (fetch refs/notes/aiflow, or run `git aiflow sync`)",
                if n == 1 { "" } else { "s" }
            ))
            .collect();
        if !need_patch.is_empty() {
            let ids: Vec<ObjectId> = need_patch.iter().map(|&i| items[i].0).collect();
            let patch_ids =
                crate::git::cli::patch_ids(&self.dir, &ids).map_err(|e| err(Box::new(e)))?;
            for i in need_patch {
                let (id, slug, subtask) = &items[i];
                let pid = patch_ids.get(id).map_or(EMPTY_PATCH, String::as_str);
                let (flow, subtask) = (slug.clone(), subtask.clone());
                verdicts[i] = match approvals[&(slug.as_str(), subtask.as_str())]
                    .standing(&id.to_string(), Some(pid))
                {
                    Standing::Approved => None,
                    Standing::Revoked => Some(Reason::Revoked { flow, subtask }),
                    Standing::Unrecorded => Some(Reason::NotRecorded { flow, subtask }),
                };
            }
        }
        Ok((verdicts, notices))
    }
}
