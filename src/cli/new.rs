//! `git aiflow new`: start a flow from a spec.
//!
//! Creates the integration branch with its anchor commit (an empty commit on the base whose
//! message is the spec as prose, with an `Aiflow-Flow` trailer) and the flow note on it, in one
//! ref transaction: either both exist afterwards or neither does.

use super::{
    Ctx,
    error::CliError,
    input::{self, Source},
    status,
};
use crate::flow::{self, DocKind, Flow, FlowStatus, SCHEMA, spec};
use crate::store::{self, Change, StoreError};
use gix::ObjectId;
use gix::refs::{
    Target,
    transaction::{Change as RefChange, LogChange, PreviousValue, RefEdit, RefLog},
};
use std::io::Write;
use std::path::PathBuf;

/// Start a flow from a spec.
///
/// The spec is a short Markdown document: an optional `# Title`, a summary paragraph on the end
/// state, then `## Core features`, `## Stack`, `## Constraints` and `## Edge cases` lists. Without
/// -m or -F, the editor opens on a template of these sections.
///
/// Creates the integration branch aiflow/<slug> from the base with an empty anchor commit whose
/// message is the spec in prose, and attaches the flow's TOML note to it.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The flow's name: lower-case letters, digits and single hyphens. Derived from the title
    /// when omitted.
    pub slug: Option<String>,
    /// The spec text; several -m are joined as paragraphs.
    #[arg(short = 'm', long = "message", value_name = "text")]
    pub message: Vec<String>,
    /// Read the spec from a file, or from standard input with `-F -`.
    #[arg(short = 'F', long = "file", value_name = "file")]
    pub file: Option<PathBuf>,
    /// The revision to branch from (default: the current branch).
    #[arg(long, value_name = "rev")]
    pub base: Option<String>,
    /// The title, when the spec has no `# Title` line.
    #[arg(long, value_name = "text")]
    pub title: Option<String>,
    /// Print the new flow's status as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Where a rejected spec is kept.
const DRAFT: &str = "NEW_SPEC.md";

use crate::flow::names::BRANCH_PREFIX;

pub fn run(ctx: &mut Ctx, args: &NewArgs) -> Result<(), CliError> {
    // Check everything that does not need the spec first, so the editor never opens in vain.
    if let Some(title) = &args.title
        && let Err(e) = flow::validate_title("title", title.trim())
    {
        return Err(
            CliError::usage(format!("invalid title: {} (given with --title)", e.problem))
                .hint(e.fix),
        );
    }
    if let Some(slug) = &args.slug {
        flow::validate_slug(slug)
            .map_err(|e| CliError::usage(format!("invalid slug: {e}")).hint(e.hint()))?;
    }
    let repo = ctx.repo()?.clone();
    let (base_ref, base_commit) = resolve_base(&repo, args.base.as_deref())?;
    let stamp = crate::git::committer_stamp(&repo)?;
    if let Some(slug) = &args.slug {
        check_free(&repo, &ctx.flows()?, slug)?;
    }

    let (text, source) = match input::from_args(ctx, &args.message, args.file.as_deref(), "spec")? {
        Some(t) => t,
        None => (
            input::edit_text(ctx, &repo, DRAFT, &spec::template(), "spec")?,
            Source::Editor,
        ),
    };
    let keep = |text: &str, err: CliError| -> CliError {
        match &source {
            Source::File(_) => err,
            _ => match input::write_draft(&repo, DRAFT, text) {
                Ok(path) => err.hint(format!(
                    "your text is kept in {}; fix it and run `git aiflow new -F {}`",
                    path.display(),
                    path.display()
                )),
                Err(_) => err,
            },
        }
    };
    let parsed = spec::parse(&text);
    if parsed.title.as_deref().unwrap_or("").trim().is_empty()
        && parsed.spec == spec::Spec::default()
        && args.title.is_none()
    {
        return Err(CliError::usage("the spec is empty; no flow was created")
            .hint("write at least a summary paragraph describing the end state"));
    }
    if let Err(e) = parsed.spec.validate() {
        return Err(keep(
            &text,
            CliError::usage(format!("the spec is not valid: {}", e.problem)).hint(e.fix),
        ));
    }
    let title = match (
        &args.title,
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
            &text,
            CliError::usage(format!("invalid title: {}", e.problem)).hint(e.fix),
        ));
    }
    let slug = match &args.slug {
        Some(s) => s.clone(),
        None => {
            let derived = flow::slugify(&title).ok_or_else(|| {
                keep(
                    &text,
                    CliError::usage(format!("cannot derive a slug from the title `{title}`"))
                        .hint("name the flow: `git aiflow new <slug> …`"),
                )
            })?;
            check_free(&repo, &ctx.flows()?, &derived).map_err(|e| keep(&text, e))?;
            derived
        }
    };
    let branch = format!("{BRANCH_PREFIX}{slug}");

    let mut flow = Flow {
        extra: Default::default(),
        schema: SCHEMA,
        kind: DocKind::Flow,
        slug: slug.clone(),
        title: title.clone(),
        status: FlowStatus::Spec,
        base_ref: base_ref.clone(),
        base_commit: base_commit.to_string(),
        integration_branch: branch.clone(),
        created_at: stamp.at.clone(),
        created_by: stamp.who.clone(),
        updated_at: stamp.at.clone(),
        updated_by: stamp.who.clone(),
        questions_skipped: false,
        spec: parsed.spec,
        questions: vec![],
        questions_asked: None,
        plans: vec![],
        reviews: vec![],
        finished: None,
    };
    flow.validate().map_err(|e| keep(&text, e.into()))?;
    let anchor = write_anchor(&repo, &flow, base_commit)?;
    flow.base_commit = base_commit.to_string();

    let branch_ref = format!("refs/heads/{branch}");
    let written = store::update(&repo, &format!("aiflow: new flow {slug}"), |snap| {
        let set = snap.flows(&repo)?;
        check_free(&repo, &set, &slug)?;
        let note = store::flow_note(anchor, &flow)?;
        Ok::<_, CliError>(Change {
            notes: vec![note],
            refs: vec![RefEdit {
                change: RefChange::Update {
                    log: LogChange {
                        mode: RefLog::AndReference,
                        force_create_reflog: false,
                        message: format!("aiflow: new flow {slug}").into(),
                    },
                    expected: PreviousValue::MustNotExist,
                    new: Target::Object(anchor),
                },
                name: branch_ref.as_str().try_into().map_err(|e| {
                    CliError::usage(format!("`{branch_ref}` is not a valid ref name")).source(e)
                })?,
                deref: false,
            }],
        })
    })
    .map_err(|e| keep(&text, e))?;
    input::clean_drafts(&repo, DRAFT, &source);

    if args.json {
        let set = ctx.flows()?;
        let entry = set.find(&slug)?.clone();
        let value = status::status_json(ctx.repo()?, &entry)?;
        return ctx.json(&value);
    }
    let short = |id: ObjectId| id.to_hex_with_len(7).to_string();
    let base_name = base_ref
        .as_deref()
        .map(crate::git::short_ref)
        .map(str::to_string)
        .unwrap_or_else(|| short(base_commit));
    let out = &mut ctx.out;
    writeln!(out, "Created flow {slug}: {title}")?;
    writeln!(
        out,
        "  branch  {branch} (anchor {}, on {base_name} at {})",
        short(anchor),
        short(base_commit)
    )?;
    writeln!(
        out,
        "  note    {} (notes commit {})",
        store::NOTES_REF,
        written.commit.map(short).unwrap_or_default()
    )?;
    for advice in flow.spec.advice() {
        ctx.hint(advice);
    }
    if base_ref.is_none() {
        ctx.hint("HEAD was detached, so the flow's base is a commit, not a branch");
    }
    writeln!(ctx.out, "next: git aiflow plan {slug}")?;
    Ok(())
}

/// The base ref (when a branch) and commit.
fn resolve_base(
    repo: &gix::Repository,
    base: Option<&str>,
) -> Result<(Option<String>, ObjectId), CliError> {
    match base {
        None => {
            let head = repo
                .head()
                .map_err(|e| CliError::usage("could not read HEAD").source(e))?;
            if head.is_unborn() {
                let name = head
                    .referent_name()
                    .map(|n| n.shorten().to_string())
                    .unwrap_or_default();
                return Err(CliError::refused(format!(
                    "the current branch `{name}` has no commits yet, so there is nothing to branch a flow from"
                ))
                .hint("make a first commit, for example `git commit --allow-empty -m \"Initial commit\"`"));
            }
            let name = head.referent_name().map(|n| n.as_bstr().to_string());
            let id = repo
                .head_id()
                .map_err(|e| CliError::usage("could not read HEAD").source(e))?
                .detach();
            Ok((name, id))
        }
        Some(rev) => {
            let full = repo
                .try_find_reference(rev)
                .ok()
                .flatten()
                .filter(|r| r.name().as_bstr().starts_with(b"refs/heads/"))
                .map(|r| r.name().as_bstr().to_string());
            let id = repo
                .rev_parse_single(rev)
                .map_err(|e| {
                    CliError::usage(format!("`{rev}` is not a revision in this repository"))
                        .source(e)
                        .hint("give a branch, tag or commit, for example `--base main`")
                })?
                .object()
                .map_err(|e| CliError::usage(format!("could not read `{rev}`")).source(e))?
                .peel_to_commit()
                .map_err(|e| {
                    CliError::usage(format!("`{rev}` does not point to a commit")).source(e)
                })?
                .id;
            Ok((full, id))
        }
    }
}

/// Refuse a slug that a flow or a ref already uses.
fn check_free(repo: &gix::Repository, set: &store::FlowSet, slug: &str) -> Result<(), CliError> {
    if set.claims(slug) {
        return Err(
            CliError::usage(format!("a flow named `{slug}` already exists")).hint(format!(
                "choose another slug, or see it with `git aiflow status {slug}`"
            )),
        );
    }
    let branch = format!("refs/heads/{BRANCH_PREFIX}{slug}");
    if repo
        .try_find_reference(branch.as_str())
        .ok()
        .flatten()
        .is_some()
    {
        return Err(CliError::usage(format!(
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
    if conflict.is_none()
        && repo
            .try_find_reference(parent.as_str())
            .ok()
            .flatten()
            .is_some()
    {
        conflict = Some(parent);
    }
    if let Some(c) = conflict {
        return Err(CliError::usage(format!(
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
pub fn anchor_message(flow: &Flow) -> String {
    format!(
        "aiflow: start {}: {}\n\n{}\n\nAiflow-Flow: {}\n",
        flow.slug,
        flow.title,
        flow.spec.to_prose(),
        flow.slug
    )
}

/// Write the anchor commit: the base's tree, the base as parent, the spec as message.
fn write_anchor(repo: &gix::Repository, flow: &Flow, base: ObjectId) -> Result<ObjectId, CliError> {
    let tree = repo
        .find_commit(base)
        .and_then(|c| c.tree_id().map(|t| t.detach()))
        .map_err(|e| CliError::usage("could not read the base commit").source(e))?;
    let commit = repo
        .new_commit(anchor_message(flow), tree, [base])
        .map_err(|e| {
            CliError::usage("could not write the anchor commit").source(StoreError::Write(e))
        })?;
    Ok(commit.id)
}
