//! `plan show`, `plan log` and `plan diff`: reading the plan and its history.

use super::super::{Ctx, error::CliError};
use crate::ai::sanitize::clean;
use crate::flow::plan::{self as fplan, Difference, phase_name, subtask_branch};
use crate::flow::{Flow, PlanRevision};
use std::io::Write;

/// Arguments of `plan show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The flow (default: the flow of the current branch).
    pub slug: Option<String>,
    /// Show this revision instead of the current one.
    #[arg(long, value_name = "n")]
    pub revision: Option<u32>,
    /// Print the plan as JSON.
    #[arg(long, conflicts_with = "toml")]
    pub json: bool,
    /// Print the plan as the TOML `plan edit` opens (with `based_on = N`), to edit and apply
    /// with `plan edit -F FILE`.
    #[arg(long)]
    pub toml: bool,
}

/// Arguments of `plan log`.
#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// The flow (default: the flow of the current branch).
    pub slug: Option<String>,
    /// Print the revisions as JSON.
    #[arg(long)]
    pub json: bool,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Arguments of `plan diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// `[<slug>] [<rev> [<rev>]]`: the flow, then the revisions to compare (default: the previous
    /// and the current one; one revision is compared with the current one).
    #[arg(value_name = "slug|rev", num_args = 0..=3)]
    pub args: Vec<String>,
    /// Print the differences as JSON.
    #[arg(long)]
    pub json: bool,
    /// Colour the output: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, default_value = "auto", value_name = "when")]
    pub color: Color,
}

/// `openai (gpt-4o-mini)`, `manual`.
pub fn provider_label(provider: &str, model: Option<&str>) -> String {
    match model {
        Some(m) if !m.is_empty() => format!("{provider} ({m})"),
        _ => provider.to_string(),
    }
}

fn revision(flow: &Flow, n: Option<u32>) -> Result<&PlanRevision, CliError> {
    let slug = &flow.slug;
    let Some(last) = flow.current_plan() else {
        return Err(CliError::refused(format!("flow `{slug}` has no plan yet"))
            .hint(format!("ask for one with `git aiflow plan {slug}`")));
    };
    match n {
        None => Ok(last),
        Some(n) => flow.plans.iter().find(|p| p.revision == n).ok_or_else(|| {
            CliError::usage(format!(
                "flow `{slug}` has no plan revision {n}; revisions are 1 to {}",
                last.revision
            ))
            .hint(format!("list them with `git aiflow plan log {slug}`"))
        }),
    }
}

/// `revisions`: how many revisions the flow has (`flow.plans` may not hold `rev` yet).
fn plan_json(flow: &Flow, rev: &PlanRevision, revisions: usize) -> serde_json::Value {
    let subtasks: Vec<_> = rev
        .subtasks
        .iter()
        .enumerate()
        .map(|(i, s)| {
            serde_json::json!({
                "position": i + 1,
                "id": s.id,
                "title": s.title,
                "description": s.description,
                "files": s.files,
                "phase": phase_name(s.phase),
                "depends_on": s.depends_on,
                "status": s.status.as_str(),
                "branch": s.branch.clone().unwrap_or_else(|| subtask_branch(&flow.integration_branch, &s.id, &s.title)),
                "branch_exists": s.branch.is_some(),
            })
        })
        .collect();
    serde_json::json!({
        "slug": flow.slug,
        "revision": rev.revision,
        "revisions": revisions,
        "source": rev.source,
        "created_at": rev.created_at,
        "created_by": rev.created_by,
        "provider": rev.provider,
        "model": rev.model,
        "subtasks": subtasks,
    })
}

pub fn show(ctx: &mut Ctx, args: &ShowArgs) -> Result<(), CliError> {
    let (_, entry) = ctx.flow(args.slug.as_deref())?;
    let flow = &entry.flow;
    let rev = revision(flow, args.revision)?;
    if args.json {
        return ctx.json(&plan_json(flow, rev, flow.plans.len()));
    }
    if args.toml {
        // Cleaned value by value: TOML would write a control character as an escape.
        let subtasks: Vec<_> = rev
            .subtasks
            .iter()
            .map(|s| crate::flow::Subtask {
                title: clean(&s.title).into_owned(),
                description: clean(&s.description).into_owned(),
                files: s.files.iter().map(|f| clean(f).into_owned()).collect(),
                ..s.clone()
            })
            .collect();
        let text = fplan::edit_text(&flow.slug, rev.revision, &subtasks);
        ctx.out.write_all(clean(&text).as_bytes())?;
        return Ok(());
    }
    // Written to a buffer and cleaned as a whole: the note may hold anything.
    let mut buf = Vec::new();
    let out = &mut buf;
    let latest = flow.plans.len() as u32;
    writeln!(
        out,
        "Plan of {}, revision {}{} ({}, {})",
        flow.slug,
        rev.revision,
        if rev.revision == latest {
            String::new()
        } else {
            format!(" of {latest}")
        },
        origin(rev),
        rev.created_at
    )?;
    let mut phase = None;
    for (i, s) in rev.subtasks.iter().enumerate() {
        if phase != Some(s.phase) {
            phase = Some(s.phase);
            writeln!(out, "\n{}", phase_heading(s.phase))?;
        }
        writeln!(
            out,
            "  {:>2}. {}  {}  [{}]",
            i + 1,
            s.id,
            s.title,
            s.status.as_str()
        )?;
        if !s.depends_on.is_empty() {
            writeln!(out, "      after: {}", s.depends_on.join(", "))?;
        }
        if !s.files.is_empty() {
            writeln!(out, "      files: {}", s.files.join(", "))?;
        }
        let branch = s
            .branch
            .clone()
            .unwrap_or_else(|| subtask_branch(&flow.integration_branch, &s.id, &s.title));
        writeln!(out, "      branch: {branch}")?;
        for line in clean(&s.description).lines() {
            if line.trim().is_empty() {
                writeln!(out)?;
            } else {
                writeln!(out, "      {line}")?;
            }
        }
    }
    write_clean(&mut ctx.out, &buf)
}

/// Write `buf` (text made from a note) to `out` without control sequences or bidi controls.
fn write_clean(out: &mut impl Write, buf: &[u8]) -> Result<(), CliError> {
    out.write_all(clean(&String::from_utf8_lossy(buf)).as_bytes())?;
    Ok(())
}

fn phase_heading(p: crate::flow::Phase) -> &'static str {
    match p {
        crate::flow::Phase::Core => "Core",
        crate::flow::Phase::NiceToHave => "Nice-to-have",
        crate::flow::Phase::Production => "Production readiness",
    }
}

/// `edit by Ada <ada@…>`, `openai (gpt-4o) for Ada <ada@…>`.
fn origin(rev: &PlanRevision) -> String {
    if rev.source == "model" {
        format!(
            "{} for {}",
            provider_label(
                rev.provider.as_deref().unwrap_or("model"),
                rev.model.as_deref()
            ),
            rev.created_by
        )
    } else if rev.source == "merge" {
        format!(
            "merge of concurrent revisions by {} (git aiflow sync)",
            rev.created_by
        )
    } else {
        format!("edit by {}", rev.created_by)
    }
}

/// `2 added, 1 removed, 3 changed, 1 moved`, or `no changes`.
pub fn change_summary(changes: &[Difference]) -> String {
    let mut added = 0;
    let mut removed = 0;
    let mut moved = 0;
    let mut changed = std::collections::BTreeSet::new();
    for c in changes {
        match c {
            Difference::Added { .. } => added += 1,
            Difference::Removed { .. } => removed += 1,
            Difference::Moved { .. } => moved += 1,
            Difference::Changed { id, .. } => {
                changed.insert(id.clone());
            }
        }
    }
    let mut parts = Vec::new();
    for (n, what) in [
        (added, "added"),
        (removed, "removed"),
        (changed.len(), "changed"),
        (moved, "moved"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    if parts.is_empty() {
        "no changes".into()
    } else {
        parts.join(", ")
    }
}

pub fn log(ctx: &mut Ctx, args: &LogArgs) -> Result<(), CliError> {
    let (_, entry) = ctx.flow(args.slug.as_deref())?;
    let flow = &entry.flow;
    revision(flow, None)?;
    if args.json {
        let revs: Vec<_> = flow
            .plans
            .iter()
            .rev()
            .map(|r| {
                let prev = (r.revision as usize)
                    .checked_sub(2)
                    .and_then(|i| flow.plans.get(i));
                let changes = prev.map(|p| fplan::diff(&p.subtasks, &r.subtasks));
                serde_json::json!({
                    "revision": r.revision,
                    "source": r.source,
                    "created_at": r.created_at,
                    "created_by": r.created_by,
                    "provider": r.provider,
                    "model": r.model,
                    "prompt_digest": r.prompt_digest,
                    "prompt_template": r.prompt_template,
                    "tokens_in": r.tokens_in,
                    "tokens_out": r.tokens_out,
                    "duration_ms": r.duration_ms,
                    "subtasks": r.subtasks.len(),
                    "changes": changes.as_deref().map(change_summary),
                })
            })
            .collect();
        return ctx.json(&serde_json::json!({"slug": flow.slug, "revisions": revs}));
    }
    let mut buf = Vec::new();
    let out = &mut buf;
    for r in flow.plans.iter().rev() {
        writeln!(
            out,
            "revision {}  {}  {}",
            r.revision,
            r.created_at,
            origin(r)
        )?;
        if r.source == "model" {
            let mut facts = Vec::new();
            if let (Some(d), Some(t)) = (&r.prompt_digest, &r.prompt_template) {
                facts.push(format!("prompt {} ({t})", &d[..d.len().min(12)]));
            }
            match (r.tokens_in, r.tokens_out) {
                (Some(i), Some(o)) => facts.push(format!("{i} tokens in, {o} out")),
                (Some(i), None) => facts.push(format!("{i} tokens in")),
                (None, Some(o)) => facts.push(format!("{o} tokens out")),
                (None, None) => {}
            }
            if let Some(ms) = r.duration_ms {
                facts.push(format!("{:.1} s", ms as f64 / 1000.0));
            }
            if !facts.is_empty() {
                writeln!(out, "    {}", facts.join(", "))?;
            }
        }
        let n = r.subtasks.len();
        let changes = match (r.revision as usize)
            .checked_sub(2)
            .and_then(|i| flow.plans.get(i))
        {
            Some(p) => format!(
                ": {}",
                change_summary(&fplan::diff(&p.subtasks, &r.subtasks))
            ),
            None => String::new(),
        };
        writeln!(
            out,
            "    {n} subtask{}{changes}",
            if n == 1 { "" } else { "s" }
        )?;
    }
    write_clean(&mut ctx.out, &buf)
}

struct Paint(bool);

impl Paint {
    /// `text` (cleaned of any control sequence it carries from the note) in colour `code`.
    fn wrap(&self, code: &str, text: &str) -> String {
        let text = clean(text);
        if self.0 && !code.is_empty() {
            format!("\x1b[{code}m{text}\x1b[m")
        } else {
            text.into_owned()
        }
    }
}

pub fn diff(ctx: &mut Ctx, args: &DiffArgs) -> Result<(), CliError> {
    // [<slug>] [<rev> [<rev>]]: a leading argument that is not a revision number, or that names
    // a flow, is the slug.
    let set = ctx.flows()?;
    let mut rest: &[String] = &args.args;
    let mut slug = None;
    if let Some(first) = rest.first() {
        // A number is a revision, unless three arguments are given or a flow has that slug.
        if first.parse::<u32>().is_err() || rest.len() == 3 || set.claims(first) {
            slug = Some(first.clone());
            rest = &rest[1..];
        }
    }
    if rest.len() > 2 {
        return Err(CliError::usage("plan diff takes at most two revisions"));
    }
    let mut revs = Vec::new();
    for r in rest {
        let n = r.trim_start_matches('r').parse::<u32>().map_err(|_| {
            CliError::usage(format!("`{r}` is not a plan revision number"))
                .hint("revisions are numbered 1, 2, 3…; see `git aiflow plan log`")
        })?;
        revs.push(n);
    }
    let (_, entry) = ctx.flow_in(set, slug.as_deref())?;
    let flow = &entry.flow;
    let last = revision(flow, None)?.revision;
    let (from, to) = match revs[..] {
        [] if last == 1 => {
            return Err(CliError::refused(format!(
                "flow `{}` has one plan revision; there is nothing to compare",
                flow.slug
            ))
            .hint(format!("show it with `git aiflow plan show {}`", flow.slug)));
        }
        [] => (last - 1, last),
        [a] => (a, last),
        [a, b] => (a, b),
        _ => unreachable!("at most two"),
    };
    let old = revision(flow, Some(from))?;
    let new = revision(flow, Some(to))?;
    let changes = fplan::diff(&old.subtasks, &new.subtasks);
    if args.json {
        return ctx.json(&serde_json::json!({
            "slug": flow.slug,
            "from": from,
            "to": to,
            "changes": changes,
        }));
    }
    let paint = Paint(match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => {
            crate::term::stdout() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    });
    let out = &mut ctx.out;
    writeln!(
        out,
        "{}",
        paint.wrap(
            "1",
            &format!(
                "plan of {}: revision {from} → {to} ({})",
                flow.slug,
                change_summary(&changes)
            )
        )
    )?;
    let mut descriptions = Vec::new();
    for c in &changes {
        match c {
            Difference::Added {
                id,
                title,
                position,
            } => writeln!(
                out,
                "{}",
                paint.wrap("32", &format!("+ {id}  {title}  (added at {position})"))
            )?,
            Difference::Removed { id, title, .. } => writeln!(
                out,
                "{}",
                paint.wrap("31", &format!("- {id}  {title}  (removed)"))
            )?,
            Difference::Moved {
                id,
                title,
                from,
                to,
            } => writeln!(
                out,
                "{}",
                paint.wrap(
                    "36",
                    &format!("↕ {id}  {title}  (moved from {from} to {to})")
                )
            )?,
            Difference::Changed {
                id,
                title,
                field,
                old,
                new,
            } => {
                if *field == "description" {
                    writeln!(
                        out,
                        "{}",
                        paint.wrap("33", &format!("~ {id}  {title}: description changed"))
                    )?;
                    descriptions.push((id.clone(), title.clone(), old.clone(), new.clone()));
                } else {
                    let show = |v: &str| {
                        if v.is_empty() {
                            "(none)".to_string()
                        } else {
                            format!("{:?}", clean(v))
                        }
                    };
                    writeln!(
                        out,
                        "{}",
                        paint.wrap(
                            "33",
                            &format!("~ {id}  {title}: {field} {} → {}", show(old), show(new))
                        )
                    )?;
                }
            }
        }
    }
    for (id, title, old, new) in descriptions {
        writeln!(
            out,
            "\n{}",
            paint.wrap("1", &format!("{id}  {title}: description"))
        )?;
        let old = with_newline(&clean(&old));
        let new = with_newline(&clean(&new));
        let diff = similar::TextDiff::from_lines(&old, &new);
        let text = diff
            .unified_diff()
            .context_radius(3)
            .header(&format!("revision {from}"), &format!("revision {to}"))
            .to_string();
        for line in text.lines() {
            let code = match line.as_bytes().first() {
                Some(b'+') if !line.starts_with("+++") => "32",
                Some(b'-') if !line.starts_with("---") => "31",
                Some(b'@') => "36",
                _ => "",
            };
            writeln!(out, "{}", paint.wrap(code, line))?;
        }
    }
    Ok(())
}

fn with_newline(s: &str) -> String {
    if s.is_empty() || s.ends_with('\n') {
        s.to_string()
    } else {
        format!("{s}\n")
    }
}

/// After `plan` stored a model's revision: what came back and what to do next.
pub fn print_new_revision(
    ctx: &mut Ctx,
    flow: &Flow,
    rev: &PlanRevision,
    json: bool,
) -> Result<(), CliError> {
    if json {
        return ctx.json(&plan_json(flow, rev, rev.revision as usize));
    }
    let slug = &flow.slug;
    let mut buf = Vec::new();
    let out = &mut buf;
    let n = rev.subtasks.len();
    let secs = rev
        .duration_ms
        .map(|ms| format!(" in {:.1} s", ms as f64 / 1000.0))
        .unwrap_or_default();
    writeln!(
        out,
        "Plan revision {} of {slug} from {}: {n} subtask{}{secs}.\n",
        rev.revision,
        provider_label(
            rev.provider.as_deref().unwrap_or("model"),
            rev.model.as_deref()
        ),
        if n == 1 { "" } else { "s" }
    )?;
    for (i, s) in rev.subtasks.iter().enumerate() {
        let after = if s.depends_on.is_empty() {
            String::new()
        } else {
            format!("  (after {})", s.depends_on.join(", "))
        };
        writeln!(
            out,
            "  {:>2}. {}  [{}] {}{after}",
            i + 1,
            s.id,
            phase_name(s.phase),
            s.title
        )?;
    }
    writeln!(
        out,
        "\nReview the plan before any code exists:\n  git aiflow plan show {slug}    the details\n  git aiflow plan edit {slug}    drop what the model invented, add what it missed, reorder"
    )?;
    write_clean(&mut ctx.out, &buf)
}
