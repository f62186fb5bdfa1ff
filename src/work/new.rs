//! `new` as library calls: a flow from a spec. [`prepare`] checks what does not need the spec
//! (the base, the identity, a free slug), so that an editor never opens in vain; [`create`] reads
//! the spec and creates the integration branch with its anchor commit (an empty commit on the
//! base whose message is the spec as prose, with an `Aiflow-Flow` trailer) and the flow note on
//! it, in one ref transaction: either both exist afterwards or neither does.

use super::WorkError;
use crate::flow::names::{BRANCH_PREFIX, FLOW_KEY, integration_branch};
use crate::flow::{self, DocKind, Flow, FlowStatus, spec};
use crate::git::Stamp;
use crate::store::{self, Change, FlowSet, Snapshot, StoreError};
use gix::ObjectId;
use gix::refs::{
    Target,
    transaction::{Change as RefChange, LogChange, PreviousValue, RefEdit, RefLog},
};

/// What the user asked of `new`, besides the spec.
#[derive(Debug, Clone, Default)]
pub struct NewOptions {
    /// The flow's slug; derived from the title when `None`.
    pub slug: Option<String>,
    /// The title, over the spec's `# Title`.
    pub title: Option<String>,
    /// The revision to branch from; the current branch when `None`.
    pub base: Option<String>,
}

/// What [`prepare`] found: where the flow starts, and who starts it.
#[derive(Debug, Clone)]
pub struct Start {
    /// The base branch (full ref name); `None` when HEAD is detached and no branch was named.
    pub base_ref: Option<String>,
    /// The base commit.
    pub base_commit: ObjectId,
    /// Who starts the flow, and when.
    pub stamp: Stamp,
}

/// A flow created by [`create`].
#[derive(Debug, Clone)]
pub struct Created {
    /// The flow, as written.
    pub flow: Flow,
    /// Its anchor commit, the tip of its new integration branch.
    pub anchor: ObjectId,
    /// The notes commit that holds its note.
    pub notes_commit: Option<ObjectId>,
}

/// Why [`create`] made no flow.
#[derive(Debug)]
pub struct Rejected {
    /// What went wrong.
    pub error: WorkError,
    /// Whether the spec text is worth keeping for another try (it was read, and the problem is
    /// in it or in what it names).
    pub keep_text: bool,
}

impl From<WorkError> for Rejected {
    fn from(error: WorkError) -> Self {
        Rejected {
            error,
            keep_text: false,
        }
    }
}

/// Check the options that need no repository: a title given, a slug given.
pub fn check_options(options: &NewOptions) -> Result<(), WorkError> {
    if let Some(title) = &options.title
        && let Err(e) = flow::validate_title("title", title.trim())
    {
        return Err(WorkError::invalid(format!(
            "invalid title: {} (given with --title)",
            e.problem
        ))
        .hint(e.fix));
    }
    if let Some(slug) = &options.slug {
        flow::validate_slug(slug)
            .map_err(|e| WorkError::invalid(format!("invalid slug: {e}")).hint(e.hint()))?;
    }
    Ok(())
}

/// What does not need the spec: the base, the identity, and that a slug given is free.
pub fn prepare(repo: &gix::Repository, options: &NewOptions) -> Result<Start, WorkError> {
    let (base_ref, base_commit) = resolve_base(repo, options.base.as_deref())?;
    let stamp = crate::git::committer_stamp(repo)?;
    if let Some(slug) = &options.slug {
        check_free(repo, &flows(repo)?, slug)?;
    }
    Ok(Start {
        base_ref,
        base_commit,
        stamp,
    })
}

/// Every flow in the repository now.
fn flows(repo: &gix::Repository) -> Result<FlowSet, WorkError> {
    Ok(Snapshot::load(repo)?.flows(repo)?)
}

/// Create the flow of spec `text` on `start`: the anchor commit, the integration branch and the
/// flow's note.
pub fn create(
    repo: &gix::Repository,
    options: &NewOptions,
    start: &Start,
    text: &str,
) -> Result<Created, Rejected> {
    let keep = |error| Rejected {
        error,
        keep_text: true,
    };
    let parsed = spec::parse(text);
    if parsed.title.as_deref().unwrap_or("").trim().is_empty()
        && parsed.spec == spec::Spec::default()
        && options.title.is_none()
    {
        return Err(WorkError::invalid("the spec is empty; no flow was created")
            .hint("write at least a summary paragraph describing the end state")
            .into());
    }
    if let Err(e) = parsed.spec.validate() {
        return Err(keep(
            WorkError::invalid(format!("the spec is not valid: {}", e.problem)).hint(e.fix),
        ));
    }
    let title = match (
        &options.title,
        parsed
            .title
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty()),
    ) {
        (Some(t), _) => t.trim().to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => title_from_summary(&parsed.spec.summary),
    };
    if let Err(e) = flow::validate_title("title", &title) {
        return Err(keep(
            WorkError::invalid(format!("invalid title: {}", e.problem)).hint(e.fix),
        ));
    }
    let slug = match &options.slug {
        Some(s) => s.clone(),
        None => {
            let derived = flow::slugify(&title).ok_or_else(|| {
                keep(
                    WorkError::invalid(format!("cannot derive a slug from the title `{title}`"))
                        .hint("name the flow: `git aiflow new <slug> …`"),
                )
            })?;
            let set = flows(repo)?;
            check_free(repo, &set, &derived).map_err(keep)?;
            derived
        }
    };
    let flow = new_flow(slug, title, start, parsed.spec);
    flow.validate()
        .map_err(|e| keep(WorkError::invalid(e.to_string()).hint(e.fix)))?;
    let anchor = write_anchor(repo, &flow, start.base_commit)?;
    let written = store::update(repo, &format!("aiflow: new flow {}", flow.slug), |snap| {
        let set = snap.flows(repo)?;
        check_free(repo, &set, &flow.slug)?;
        let note = store::flow_note(anchor, &flow)?;
        Ok::<_, WorkError>(Change {
            notes: vec![note],
            refs: vec![new_branch(&flow, anchor)?],
        })
    })
    .map_err(keep)?;
    Ok(Created {
        flow,
        anchor,
        notes_commit: written.commit,
    })
}

/// The flow document of a new flow.
fn new_flow(slug: String, title: String, start: &Start, spec: flow::Spec) -> Flow {
    Flow {
        extra: Default::default(),
        schema: flow::FLOW_SCHEMA,
        kind: DocKind::Flow,
        integration_branch: integration_branch(&slug),
        slug,
        title,
        status: FlowStatus::Spec,
        base_ref: start.base_ref.clone(),
        base_commit: start.base_commit.to_string(),
        created_at: start.stamp.at.clone(),
        created_by: start.stamp.who.clone(),
        updated_at: start.stamp.at.clone(),
        updated_by: start.stamp.who.clone(),
        questions_skipped: false,
        spec,
        questions: vec![],
        questions_asked: None,
        plans: vec![],
        progress: Vec::new(),
        reviews: vec![],
        refused_approvals: vec![],
        audits: vec![],
        finished: None,
    }
}

/// The ref edit creating the flow's integration branch at `anchor`; it must not exist.
fn new_branch(flow: &Flow, anchor: ObjectId) -> Result<RefEdit, WorkError> {
    let branch_ref = format!("refs/heads/{}", flow.integration_branch);
    Ok(RefEdit {
        change: RefChange::Update {
            log: LogChange {
                mode: RefLog::AndReference,
                force_create_reflog: false,
                message: format!("aiflow: new flow {}", flow.slug).into(),
            },
            expected: PreviousValue::MustNotExist,
            new: Target::Object(anchor),
        },
        name: branch_ref.as_str().try_into().map_err(|e| {
            WorkError::invalid(format!("`{branch_ref}` is not a valid ref name")).because(e)
        })?,
        deref: false,
    })
}

/// The base ref (when a branch) and commit.
fn resolve_base(
    repo: &gix::Repository,
    base: Option<&str>,
) -> Result<(Option<String>, ObjectId), WorkError> {
    let Some(rev) = base else {
        let head = repo
            .head()
            .map_err(|e| WorkError::invalid("could not read HEAD").because(e))?;
        if head.is_unborn() {
            let name = head
                .referent_name()
                .map(|n| n.shorten().to_string())
                .unwrap_or_default();
            return Err(WorkError::refused(format!(
                "the current branch `{name}` has no commits yet, so there is nothing to branch a flow from"
            ))
            .hint("make a first commit, for example `git commit --allow-empty -m \"Initial commit\"`"));
        }
        let name = head.referent_name().map(|n| n.as_bstr().to_string());
        let id = repo
            .head_id()
            .map_err(|e| WorkError::invalid("could not read HEAD").because(e))?
            .detach();
        return Ok((name, id));
    };
    let full = repo
        .try_find_reference(rev)
        .ok()
        .flatten()
        .filter(|r| r.name().as_bstr().starts_with(b"refs/heads/"))
        .map(|r| r.name().as_bstr().to_string());
    let id = repo
        .rev_parse_single(rev)
        .map_err(|e| {
            WorkError::invalid(format!("`{rev}` is not a revision in this repository"))
                .because(e)
                .hint("give a branch, tag or commit, for example `--base main`")
        })?
        .object()
        .map_err(|e| WorkError::invalid(format!("could not read `{rev}`")).because(e))?
        .peel_to_commit()
        .map_err(|e| WorkError::invalid(format!("`{rev}` does not point to a commit")).because(e))?
        .id;
    Ok((full, id))
}

/// Refuse a slug that a flow or a ref already uses.
fn check_free(repo: &gix::Repository, set: &FlowSet, slug: &str) -> Result<(), WorkError> {
    if let Some(command) = flow::slug::command_word(slug) {
        return Err(WorkError::invalid(format!(
            "a flow cannot be named `{slug}`: `git aiflow {command} {slug}` would run the subcommand `{command} {slug}`"
        ))
        .hint(format!("choose another slug, for example `{slug}-flow`")));
    }
    if set.claims(slug) {
        return Err(
            WorkError::invalid(format!("a flow named `{slug}` already exists")).hint(format!(
                "choose another slug, or see it with `git aiflow status {slug}`"
            )),
        );
    }
    let exists = |name: &str| repo.try_find_reference(name).ok().flatten().is_some();
    let branch = format!("refs/heads/{BRANCH_PREFIX}{slug}");
    if exists(&branch) {
        return Err(WorkError::invalid(format!(
            "the branch `{BRANCH_PREFIX}{slug}` already exists but holds no flow"
        ))
        .hint(format!(
            "choose another slug, or delete the branch with `git branch -D {BRANCH_PREFIX}{slug}` if it is stale"
        )));
    }
    // git cannot have both `a/b` and `a/b/c`: look for refs the new branch would collide with.
    let prefix = format!("{branch}/");
    let mut conflict = None;
    if let Ok(platform) = repo.references()
        && let Ok(iter) = platform.prefixed(prefix.as_str())
    {
        conflict = iter
            .flatten()
            .next()
            .map(|r| r.name().as_bstr().to_string());
    }
    let parent = format!("refs/heads/{}", BRANCH_PREFIX.trim_end_matches('/'));
    if conflict.is_none() && exists(&parent) {
        conflict = Some(parent);
    }
    if let Some(c) = conflict {
        return Err(WorkError::invalid(format!(
            "the branch `{BRANCH_PREFIX}{slug}` cannot be created because `{c}` exists (git cannot have both)"
        ))
        .hint("rename or delete that branch, or choose another slug"));
    }
    Ok(())
}

/// The first line of the summary, shortened to a title.
fn title_from_summary(summary: &str) -> String {
    let collapsed: String = summary
        .lines()
        .next()
        .unwrap_or("")
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let first = collapsed.as_str();
    let first = first
        .split(". ")
        .next()
        .unwrap_or(first)
        .trim_end_matches('.');
    if first.chars().count() <= 72 {
        return first.to_string();
    }
    let mut out = String::new();
    for word in first.split_whitespace() {
        if out.chars().count() + word.chars().count() + 1 > 71 {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.is_empty() {
        out = first.chars().take(71).collect();
    }
    out.push('…');
    out
}

/// The anchor commit's message: the spec as prose, with the `Aiflow-Flow` trailer.
fn anchor_message(flow: &Flow) -> String {
    format!(
        "aiflow: start {}: {}\n\n{}\n\n{FLOW_KEY}: {}\n",
        flow.slug,
        flow.title,
        flow.spec.to_prose(),
        flow.slug
    )
}

/// Write the anchor commit: the base's tree, the base as parent, the spec as message.
fn write_anchor(
    repo: &gix::Repository,
    flow: &Flow,
    base: ObjectId,
) -> Result<ObjectId, WorkError> {
    let tree = repo
        .find_commit(base)
        .and_then(|c| c.tree_id().map(|t| t.detach()))
        .map_err(|e| WorkError::invalid("could not read the base commit").because(e))?;
    let commit = repo
        .new_commit(anchor_message(flow), tree, [base])
        .map_err(|e| {
            WorkError::invalid("could not write the anchor commit").because(StoreError::Write(e))
        })?;
    Ok(commit.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_from_summaries() {
        assert_eq!(
            title_from_summary("Rate limiting for the API. Requests over the limit get 429."),
            "Rate limiting for the API"
        );
        assert_eq!(
            title_from_summary("  Tabs\tand\u{7}controls  collapse.\nSecond line"),
            "Tabs and controls collapse"
        );
        let long = "word ".repeat(30);
        let t = title_from_summary(&long);
        assert!(t.ends_with('…'), "{t}");
        assert!(t.chars().count() <= 72, "{t}");
        let one = "x".repeat(100);
        assert_eq!(title_from_summary(&one), format!("{}…", "x".repeat(71)));
    }
}
