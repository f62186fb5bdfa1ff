//! `plan show`, `plan log` and `plan diff`: reading the plan and its history.

use super::super::{Ctx, error::CliError};
use crate::ai::sanitize::clean;
use crate::flow::names::subtask_branch;
use crate::flow::plan::{self as fplan, Difference, phase_name};
use crate::flow::vocab::RevisionSource;
use crate::flow::{Flow, PlanRevision};
use crate::term::ColorWhen;
use crate::work::plan::view::{self as pview, LogEntry, PlanDiff, Revisions, Summary, revision};
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
    /// Print the plan exactly as `plan edit` opens it (with `based_on = N`), to edit and apply
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
    /// Colour the output: always (the default of a bare --color), never, or auto (on a terminal,
    /// unless NO_COLOR is set); without it, color.diff and color.ui decide, as for git diff.
    #[arg(long, value_enum, value_name = "when", num_args = 0..=1, default_missing_value = "always")]
    pub color: Option<ColorWhen>,
}

/// `openai (gpt-4o-mini)`, `manual`.
pub fn provider_label(provider: &str, model: Option<&str>) -> String {
    match model {
        Some(m) if !m.is_empty() => format!("{provider} ({m})"),
        _ => provider.to_string(),
    }
}

/// `revisions`: how many revisions the flow has (`flow.plans` may not hold `rev` yet), `None`
/// for a revision asked for by number: then the revision as it was written (its decisions, the
/// tests accepted up to it), the same forever.
pub(super) fn plan_json(
    flow: &Flow,
    rev: &PlanRevision,
    revisions: Option<usize>,
) -> serde_json::Value {
    let history = accepted_history(flow, rev, revisions.is_none());
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
                "test": s.test,
                "test_accepted": s.test.as_deref().map(|t| fplan::test_accepted(history, &s.id, t)),
            })
        })
        .collect();
    let mut v = serde_json::json!({
        "slug": flow.slug,
        "revision": rev.revision,
        "source": rev.source,
        "created_at": rev.created_at,
        "created_by": rev.created_by,
        "provider": rev.provider,
        "model": rev.model,
        "feedback": rev.feedback,
        "expanded": rev.expanded,
        "subtasks": subtasks,
        "warnings": rev.warnings,
    });
    if let Some(n) = revisions {
        v["revisions"] = n.into();
    }
    v
}

/// The revisions whose edits count when telling whether `rev` holds an accepted test: all of
/// them for the current plan, those up to `rev` for a revision shown as written.
fn accepted_history<'a>(
    flow: &'a Flow,
    rev: &PlanRevision,
    as_written: bool,
) -> &'a [PlanRevision] {
    if as_written {
        let n = (rev.revision as usize).min(flow.plans.len());
        &flow.plans[..n]
    } else {
        &flow.plans
    }
}

pub fn show(ctx: &mut Ctx, args: &ShowArgs) -> Result<(), CliError> {
    let (_, entry) = ctx.flow(args.slug.as_deref())?;
    let flow = &entry.flow;
    let current = revision(flow, args.revision)?;
    // A revision asked for by number is shown as it was written: its decisions, never the
    // progress the subtasks made since, so that it reads the same forever.
    let decided = current.decided();
    let rev = if args.revision.is_some() {
        &decided
    } else {
        current
    };
    if args.json {
        let revisions = args.revision.is_none().then_some(flow.plans.len());
        return ctx.json(&plan_json(flow, rev, revisions));
    }
    if args.toml {
        let text = crate::work::plan::edit::editable_text(flow, rev);
        ctx.out.write_all(text.as_bytes())?;
        return Ok(());
    }
    // Written to a buffer and cleaned as a whole: the note may hold anything.
    let mut buf = Vec::new();
    show_text(&mut buf, flow, rev, args.revision.is_some())?;
    write_clean(&mut ctx.out, &buf)
}

/// `rev` of `flow`'s plan as text, phase by phase: the current plan with each subtask's
/// progress, or (`as_written`) a revision as it was written, without progress or later facts.
fn show_text(
    out: &mut Vec<u8>,
    flow: &Flow,
    rev: &PlanRevision,
    as_written: bool,
) -> std::io::Result<()> {
    let latest = flow.plans.len() as u32;
    let history = accepted_history(flow, rev, as_written);
    writeln!(
        out,
        "Plan of {}, revision {}{} ({}, {})",
        flow.slug,
        rev.revision,
        if rev.revision == latest || as_written {
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
        if let Some(t) = &s.test {
            let how = if fplan::test_accepted(history, &s.id, t) {
                ""
            } else {
                " (proposed by the model: runs once a person accepts it with `git aiflow plan edit`)"
            };
            writeln!(out, "      test: `{t}`{how}")?;
        }
        if !as_written {
            let branch = s
                .branch
                .clone()
                .unwrap_or_else(|| subtask_branch(&flow.integration_branch, &s.id, &s.title));
            writeln!(out, "      branch: {branch}")?;
        }
        for line in clean(&s.description).lines() {
            if line.trim().is_empty() {
                writeln!(out)?;
            } else {
                writeln!(out, "      {line}")?;
            }
        }
    }
    lint_lines(out, rev)
}

/// What plan lint found when `rev` was written, one `warning:` line each.
fn lint_lines(out: &mut Vec<u8>, rev: &PlanRevision) -> std::io::Result<()> {
    let n = rev.warnings.len();
    if n == 0 {
        return Ok(());
    }
    writeln!(
        out,
        "
Plan lint: {n} warning{} on revision {}",
        if n == 1 { "" } else { "s" },
        rev.revision
    )?;
    for w in &rev.warnings {
        writeln!(out, "  warning: {w}")?;
    }
    Ok(())
}

/// Write `buf` (text made from a note) to `out` without control sequences or bidi controls.
pub(super) fn write_clean(out: &mut impl Write, buf: &[u8]) -> Result<(), CliError> {
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
    if rev.source == RevisionSource::Model {
        format!(
            "{} for {}",
            provider_label(
                rev.provider.as_deref().unwrap_or("model"),
                rev.model.as_deref()
            ),
            rev.created_by
        )
    } else if rev.source == RevisionSource::Merge {
        format!(
            "merge of concurrent revisions by {} (git aiflow sync)",
            rev.created_by
        )
    } else {
        format!("edit by {}", rev.created_by)
    }
}

/// `2 added, 1 removed, 3 changed, 1 moved`, or `no changes`.
fn change_summary(changes: &[Difference]) -> String {
    Summary::of(changes).to_string()
}

pub fn log(ctx: &mut Ctx, args: &LogArgs) -> Result<(), CliError> {
    let (_, entry) = ctx.flow(args.slug.as_deref())?;
    let flow = &entry.flow;
    let entries = pview::log(flow)?;
    // Each revision's entry depends on that revision and the one before only, so it reads the
    // same forever; approvals that deviated from a revision come after all of them.
    let deviations: Vec<(u32, &crate::flow::Review)> = entries
        .iter()
        .rev()
        .flat_map(|e| e.deviations.iter().map(|r| (e.revision.revision, *r)))
        .collect();
    if args.json {
        let revs: Vec<_> = entries.iter().map(log_json).collect();
        let devs: Vec<_> = deviations
            .iter()
            .map(|(n, d)| {
                serde_json::json!({
                    "revision": n,
                    "subtask": d.subtask,
                    "reviewer": d.reviewer,
                    "at": d.at,
                    "outside_plan": d.deviations.as_ref().map(|x| &x.outside_plan),
                    "untouched": d.deviations.as_ref().map(|x| &x.untouched),
                })
            })
            .collect();
        return ctx.json(&serde_json::json!({
            "slug": flow.slug,
            "revisions": revs,
            "deviations": devs,
        }));
    }
    let mut buf = Vec::new();
    for e in &entries {
        log_text(&mut buf, e)?;
    }
    deviations_text(&mut buf, &deviations)?;
    write_clean(&mut ctx.out, &buf)
}

fn log_json(e: &LogEntry<'_>) -> serde_json::Value {
    let r = e.revision;
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
        "feedback": r.feedback,
        "expanded": r.expanded,
        "subtasks": r.subtasks.len(),
        "changes": e.changes.as_deref().map(change_summary),
    })
}

/// One revision of the log: who or what made it, what the request cost, what it changed.
fn log_text(out: &mut Vec<u8>, e: &LogEntry<'_>) -> std::io::Result<()> {
    let r = e.revision;
    writeln!(
        out,
        "revision {}  {}  {}",
        r.revision,
        r.created_at,
        origin(r)
    )?;
    if r.source == RevisionSource::Model {
        let mut facts = Vec::new();
        if let (Some(d), Some(t)) = (&r.prompt_digest, &r.prompt_template) {
            let short: String = d.chars().take(12).collect();
            facts.push(format!("prompt {short} ({t})"));
        }
        match (r.tokens_in, r.tokens_out) {
            (Some(i), Some(o)) => facts.push(format!("{i} tokens in, {o} out")),
            (Some(i), None) => facts.push(format!("{i} tokens in")),
            (None, Some(o)) => facts.push(format!("{o} tokens out")),
            (None, None) => {}
        }
        if let Some(ms) = r.duration_ms {
            facts.push(format!("{:.1} s", ms as f64 / 1000.0))
        }
        if !facts.is_empty() {
            writeln!(out, "    {}", facts.join(", "))?;
        }
    }
    if let Some(id) = &r.expanded {
        writeln!(out, "    expanded {id} into smaller subtasks")?;
    }
    if let Some(f) = &r.feedback {
        // Every line under the first, indented like it; blank lines stay blank.
        let mut lines = f.lines();
        writeln!(out, "    feedback: {}", lines.next().unwrap_or_default())?;
        for line in lines {
            match line.trim_end() {
                "" => writeln!(out)?,
                l => writeln!(out, "              {l}")?,
            }
        }
    }
    let n = r.subtasks.len();
    let changes = match &e.changes {
        Some(c) => format!(": {}", change_summary(c)),
        None => String::new(),
    };
    writeln!(
        out,
        "    {n} subtask{}{changes}",
        if n == 1 { "" } else { "s" }
    )
}

/// The approvals that accepted deviations from the plan, oldest revision first, after the
/// revisions (which never change).
fn deviations_text(
    out: &mut Vec<u8>,
    deviations: &[(u32, &crate::flow::Review)],
) -> std::io::Result<()> {
    if deviations.is_empty() {
        return Ok(());
    }
    writeln!(out, "\ndeviations from the plan accepted in review")?;
    for (n, review) in deviations {
        let Some(d) = &review.deviations else {
            continue;
        };
        let mut what = Vec::new();
        if !d.outside_plan.is_empty() {
            what.push(format!("changed outside it: {}", d.outside_plan.join(", ")));
        }
        if !d.untouched.is_empty() {
            what.push(format!("untouched: {}", d.untouched.join(", ")));
        }
        writeln!(
            out,
            "    {} left revision {n}, accepted by {} at {}: {}",
            review.subtask,
            review.reviewer,
            review.at,
            what.join("; ")
        )?;
    }
    Ok(())
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
    let which = revisions(rest)?;
    let (_, entry) = ctx.flow_in(set, slug.as_deref())?;
    let flow = &entry.flow;
    let d = pview::compare(flow, which)?;
    let (from, to) = (d.from.revision, d.to.revision);
    if args.json {
        return ctx.json(&serde_json::json!({
            "slug": flow.slug,
            "from": from,
            "to": to,
            "changes": d.changes,
        }));
    }
    let paint = Paint(crate::term::color(
        args.color,
        &ctx.repo()?.config_snapshot(),
        "color.diff",
    ));
    diff_text(&mut ctx.out, &paint, &flow.slug, &d)?;
    Ok(())
}

/// The revisions `plan diff` is asked to compare: none, one or two numbers (`r2` is `2`).
fn revisions(args: &[String]) -> Result<Revisions, CliError> {
    if args.len() > 2 {
        return Err(CliError::usage("plan diff takes at most two revisions"));
    }
    let mut revs = Vec::new();
    for r in args {
        let n = r.trim_start_matches('r').parse::<u32>().map_err(|_| {
            CliError::usage(format!("`{r}` is not a plan revision number"))
                .hint("revisions are numbered 1, 2, 3…; see `git aiflow plan log`")
        })?;
        revs.push(n);
    }
    Ok(match revs[..] {
        [a, b] => Revisions::Between(a, b),
        [a] => Revisions::Since(a),
        _ => Revisions::Last,
    })
}

/// The comparison as text: a heading, a line per change, then each changed description as a
/// unified diff.
fn diff_text(
    out: &mut dyn Write,
    paint: &Paint,
    slug: &str,
    d: &PlanDiff<'_>,
) -> std::io::Result<()> {
    let (from, to) = (d.from.revision, d.to.revision);
    writeln!(
        out,
        "{}",
        paint.wrap(
            "1",
            &format!(
                "plan of {slug}: revision {from} → {to} ({})",
                change_summary(&d.changes)
            )
        )
    )?;
    for c in &d.changes {
        writeln!(out, "{}", change_line(paint, c))?;
    }
    for c in &d.changes {
        if let Difference::Changed {
            id,
            title,
            field: "description",
            old,
            new,
        } = c
        {
            description_diff(out, paint, (id, title), (from, old), (to, new))?;
        }
    }
    Ok(())
}

/// One change, coloured: `+` added, `-` removed, `↕` moved, `~` changed.
fn change_line(paint: &Paint, c: &Difference) -> String {
    match c {
        Difference::Added {
            id,
            title,
            position,
        } => paint.wrap("32", &format!("+ {id}  {title}  (added at {position})")),
        Difference::Removed { id, title, .. } => {
            paint.wrap("31", &format!("- {id}  {title}  (removed)"))
        }
        Difference::Moved {
            id,
            title,
            from,
            to,
        } => paint.wrap(
            "36",
            &format!("↕ {id}  {title}  (moved from {from} to {to})"),
        ),
        Difference::Changed {
            id, title, field, ..
        } if *field == "description" => {
            paint.wrap("33", &format!("~ {id}  {title}: description changed"))
        }
        Difference::Changed {
            id,
            title,
            field,
            old,
            new,
        } => {
            let show = |v: &str| {
                if v.is_empty() {
                    "(none)".to_string()
                } else {
                    format!("{:?}", clean(v))
                }
            };
            paint.wrap(
                "33",
                &format!("~ {id}  {title}: {field} {} → {}", show(old), show(new)),
            )
        }
    }
}

/// A changed description as a coloured unified diff between revisions `from` and `to`.
fn description_diff(
    out: &mut dyn Write,
    paint: &Paint,
    (id, title): (&str, &str),
    (from, old): (u32, &str),
    (to, new): (u32, &str),
) -> std::io::Result<()> {
    writeln!(
        out,
        "\n{}",
        paint.wrap("1", &format!("{id}  {title}: description"))
    )?;
    let old = with_newline(&clean(old));
    let new = with_newline(&clean(new));
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
        return ctx.json(&plan_json(flow, rev, Some(rev.revision as usize)));
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
        subtask_line(out, i + 1, s)?;
    }
    let proposed: Vec<&str> = rev
        .subtasks
        .iter()
        .filter(|s| s.test.is_some())
        .map(|s| s.id.as_str())
        .collect();
    if !proposed.is_empty() {
        writeln!(
            out,
            "\nThe model proposed test commands for {}: they run only once a person accepts them (`git aiflow plan edit`).",
            proposed.join(", ")
        )?;
    }
    writeln!(
        out,
        "\nReview the plan before any code exists:\n  git aiflow plan show {slug}    the details\n  git aiflow plan edit {slug}    drop what the model invented, add what it missed, reorder"
    )?;
    write_clean(&mut ctx.out, &buf)
}

/// One subtask of a new revision: `   3. k3f9  [core] Title  (after a1, b2)`.
pub(super) fn subtask_line(
    out: &mut impl Write,
    position: usize,
    s: &crate::flow::Subtask,
) -> std::io::Result<()> {
    let after = if s.depends_on.is_empty() {
        String::new()
    } else {
        format!("  (after {})", s.depends_on.join(", "))
    };
    writeln!(
        out,
        "  {position:>2}. {}  [{}] {}{after}",
        s.id,
        phase_name(s.phase),
        s.title
    )
}
