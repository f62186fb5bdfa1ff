//! Work on subtasks as library calls: finding a subtask, and the actions on it. Each action takes
//! a repository and typed options, applies the lifecycle (`crate::flow::lifecycle`), and returns a
//! typed result for the command line to render; nothing here prints or knows about exit codes.

use crate::flow::lifecycle::Refusal;
use crate::flow::{Flow, Subtask, plan::subtask_branch};
use crate::store::{FlowEntry, FlowSet, LookupError, StoreError};
use gix::ObjectId;
use gix::refs::transaction::RefEdit;
use std::error::Error as StdError;

pub mod answer;
pub mod approve;
pub mod audit;
pub mod demo;
pub mod display;
pub mod edit;
pub mod exec;
pub mod integrate;
pub mod new;
pub mod next;
pub mod plan;
pub mod prune;
pub mod review;
pub mod spec;
pub mod start;
pub mod stats;
pub mod status;
pub mod step;
pub mod steps;
pub mod test;
pub mod tree;

/// Which subtask an action is about, as a user names it.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    /// Its id, a unique prefix of it (two characters at least), or its branch; `None`: the
    /// subtask whose branch is checked out.
    pub subtask: Option<String>,
    /// The flow to look in; `None`: every flow, the current branch's first.
    pub flow: Option<String>,
}

/// A subtask found in the store.
#[derive(Debug, Clone)]
pub struct Found {
    /// The subtask's flow.
    pub entry: FlowEntry,
    /// The subtask's id.
    pub id: String,
}

impl Found {
    /// The flow.
    pub fn flow(&self) -> &Flow {
        &self.entry.flow
    }

    /// The subtask, as the current plan has it.
    pub fn subtask(&self) -> &Subtask {
        // `find` makes a `Found` only for a subtask of the current plan, and nothing changes
        // the plan it holds.
        self.entry
            .flow
            .subtask(&self.id)
            .expect("found in the plan")
    }

    /// The subtask's branch: the recorded one, or the one it will get.
    pub fn branch(&self) -> String {
        let s = self.subtask();
        s.branch
            .clone()
            .unwrap_or_else(|| subtask_branch(&self.flow().integration_branch, &s.id, &s.title))
    }
}

/// The flow a branch belongs to (its integration branch or one of its subtasks' branches).
pub fn flow_of_branch(set: &FlowSet, branch: &str) -> Option<String> {
    set.flows.iter().find_map(|e| {
        let f = &e.flow;
        let is_subtask = f
            .plans
            .iter()
            .flat_map(|p| &p.subtasks)
            .any(|s| s.branch.as_deref() == Some(branch));
        (f.integration_branch == branch
            || is_subtask
            || crate::flow::names::is_subtask_branch_of(branch, &f.integration_branch))
        .then(|| f.slug.clone())
    })
}

/// The flow the branch checked out in `repo` belongs to, or an error naming the flows there are.
pub fn flow_of_head(repo: &gix::Repository, set: &FlowSet) -> Result<String, WorkError> {
    let head = repo
        .head_name()
        .map_err(|e| WorkError::invalid("could not read HEAD").because(e))?;
    let short = head.map(|h| crate::git::short_ref(&h.as_bstr().to_string()).to_string());
    if let Some(slug) = short.as_deref().and_then(|b| flow_of_branch(set, b)) {
        return Ok(slug);
    }
    // Off every flow's branches, a repository with one unfinished flow means that one.
    let mut unfinished = set.flows.iter().filter(|e| {
        !matches!(
            e.flow.status,
            crate::flow::FlowStatus::Finished | crate::flow::FlowStatus::Abandoned
        )
    });
    if let (Some(only), None) = (unfinished.next(), unfinished.next()) {
        return Ok(only.flow.slug.clone());
    }
    let hint = if set.flows.is_empty() {
        "there are no flows yet; start one with `git aiflow new <slug>`".to_string()
    } else {
        let slugs: Vec<&str> = set.flows.iter().map(|e| e.flow.slug.as_str()).collect();
        format!(
            "name the flow, for example `git aiflow status {}`; flows: {}",
            slugs[0],
            slugs.join(", ")
        )
    };
    let message = match short {
        None => "HEAD is detached, so there is no current flow".to_string(),
        Some(b) => format!("the current branch `{b}` does not belong to a flow"),
    };
    Err(WorkError::invalid(message).hint(hint))
}

/// Find the subtask `which` names among `set`'s flows; `current` is the branch checked out.
pub fn find(set: &FlowSet, current: Option<&str>, which: &Selector) -> Result<Found, WorkError> {
    let flows: Vec<&FlowEntry> = match &which.flow {
        Some(slug) => vec![set.find(slug)?],
        None => set.flows.iter().collect(),
    };
    let Some(arg) = which.subtask.as_deref() else {
        return on_branch(&flows, current);
    };
    let arg = arg.strip_prefix("refs/heads/").unwrap_or(arg);
    // The current flow first, so that a prefix is read in the flow one is working on.
    let current_flow = current.and_then(|b| flow_of_branch(set, b));
    let mut ordered = flows;
    ordered.sort_by_key(|e| Some(&e.flow.slug) != current_flow.as_ref());
    let mut exact = Vec::new();
    let mut prefix = Vec::new();
    for e in &ordered {
        let Some(plan) = e.flow.current_plan() else {
            continue;
        };
        for s in &plan.subtasks {
            let branch = subtask_branch(&e.flow.integration_branch, &s.id, &s.title);
            if s.id == arg || s.branch.as_deref() == Some(arg) || branch == arg {
                exact.push((*e, s));
            } else if arg.len() >= 2 && s.id.starts_with(arg) {
                prefix.push((*e, s));
            }
        }
    }
    let hits = if exact.is_empty() { prefix } else { exact };
    match hits.as_slice() {
        [(e, s)] => Ok(Found {
            entry: (*e).clone(),
            id: s.id.clone(),
        }),
        [] => Err(
            WorkError::invalid(format!("no subtask `{arg}`")).hint(match &which.flow {
                Some(slug) => format!("`git aiflow status {slug}` lists the subtasks of {slug}"),
                None => "`git aiflow status <slug>` lists a flow's subtasks and their ids".into(),
            }),
        ),
        many => {
            let names: Vec<String> = many
                .iter()
                .map(|(e, s)| format!("{} ({}: {})", s.id, e.flow.slug, s.title))
                .collect();
            Err(WorkError::invalid(format!(
                "`{arg}` names several subtasks: {}",
                names.join(", ")
            ))
            .hint("give more of the id, or --flow SLUG"))
        }
    }
}

/// The subtask whose branch is `current`.
fn on_branch(flows: &[&FlowEntry], current: Option<&str>) -> Result<Found, WorkError> {
    let Some(branch) = current else {
        return Err(
            WorkError::invalid("HEAD is detached, so there is no current subtask")
                .hint("name the subtask, for example `git aiflow status` lists them"),
        );
    };
    flows
        .iter()
        .find_map(|e| {
            let s = e
                .flow
                .current_plan()?
                .subtasks
                .iter()
                .find(|s| s.branch.as_deref() == Some(branch))?;
            Some(Found {
                entry: (*e).clone(),
                id: s.id.clone(),
            })
        })
        .ok_or_else(|| {
            WorkError::invalid(format!(
                "the current branch `{branch}` is not a subtask branch"
            ))
            .hint("name the subtask (its id from `git aiflow status`), or switch to its branch")
        })
}

/// The tip of the flow's integration branch, or an error saying how to restore it.
pub fn integration_tip(repo: &gix::Repository, entry: &FlowEntry) -> Result<ObjectId, WorkError> {
    let name = &entry.flow.integration_branch;
    crate::git::branch_tip(repo, name).ok_or_else(|| {
        WorkError::invalid(format!("the integration branch {name} does not exist")).hint(format!(
            "recreate it at the flow's anchor: `git branch {name} {}`",
            entry.anchor
        ))
    })
}

/// A ref edit moving `refs/heads/<branch>` from `from` (`None`: it must not exist) to `to`.
pub fn branch_edit(
    branch: &str,
    from: Option<ObjectId>,
    to: ObjectId,
    message: String,
) -> Result<RefEdit, WorkError> {
    Ok(crate::store::cas_edit(
        &format!("refs/heads/{branch}"),
        from,
        to,
        &message,
    )?)
}

/// Commit signing options when `commit.gpgSign` is on.
pub fn signing(
    repo: &gix::Repository,
) -> Result<Option<gix::objs::signature::sign::Options>, WorkError> {
    repo.commit_signing_options_if_enabled().map_err(|e| {
        WorkError::invalid("commit.gpgSign is on, but the signing configuration cannot be used")
            .because(e)
            .hint("check gpg.format, user.signingKey and gpg.program, or turn signing off")
    })
}

/// Why an action on a subtask was not done. Nothing was changed when it is returned, unless it
/// says otherwise.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    /// The lifecycle does not allow the action now.
    #[error(transparent)]
    Lifecycle(#[from] Refusal),
    /// The user (or a reviewer) must act first.
    #[error("{message}")]
    Refused {
        /// What is wrong.
        message: String,
        /// What to do about it.
        hints: Vec<String>,
        /// What caused it.
        #[source]
        source: Option<Box<dyn StdError + Send + Sync>>,
    },
    /// Bad input, or an environment that cannot work (a missing branch, no work tree).
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// What to do about it.
        hints: Vec<String>,
        /// What caused it.
        #[source]
        source: Option<Box<dyn StdError + Send + Sync>>,
    },
    /// A flow or subtask lookup failed.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// The notes could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// git failed.
    #[error(transparent)]
    Git(#[from] crate::git::cli::GitError),
    /// Commits could not be rewritten.
    #[error(transparent)]
    Rewrite(#[from] crate::git::rewrite::RewriteError),
    /// No identity to record.
    #[error(transparent)]
    Identity(#[from] crate::git::IdentityError),
    /// A repository could not be opened.
    #[error(transparent)]
    Open(#[from] crate::git::OpenError),
    /// The gate could not read the commits.
    #[error(transparent)]
    Check(#[from] crate::gate::CheckError),
    /// The policy could not be read.
    #[error(transparent)]
    Policy(#[from] crate::gate::PolicyError),
    /// A prompt template could not be rendered.
    #[error(transparent)]
    Template(#[from] crate::ai::prompt::TemplateError),
    /// A file could not be read or written, or the output went away.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A model could not be asked, or its answer not used.
    #[error(transparent)]
    Ask(#[from] crate::ai::ask::AskError),
}

impl WorkError {
    /// The user must act first.
    pub fn refused(message: impl Into<String>) -> Self {
        WorkError::Refused {
            message: message.into(),
            hints: Vec::new(),
            source: None,
        }
    }

    /// Bad input or environment.
    pub fn invalid(message: impl Into<String>) -> Self {
        WorkError::Invalid {
            message: message.into(),
            hints: Vec::new(),
            source: None,
        }
    }

    /// Add what to do about it (on [`WorkError::Refused`] and [`WorkError::Invalid`]).
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        if let WorkError::Refused { hints, .. } | WorkError::Invalid { hints, .. } = &mut self {
            hints.push(hint.into());
        }
        self
    }

    /// Add what caused it (on [`WorkError::Refused`] and [`WorkError::Invalid`]).
    pub fn because(mut self, cause: impl StdError + Send + Sync + 'static) -> Self {
        if let WorkError::Refused { source, .. } | WorkError::Invalid { source, .. } = &mut self {
            *source = Some(Box::new(cause));
        }
        self
    }
}
