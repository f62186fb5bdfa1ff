//! `git aiflow status` and `git aiflow list`: the dashboard of one flow, and a line per flow.
//!
//! Both take `--json`; the fields are documented in the README and are a contract for scripts.

use super::{Ctx, context::report_problem_list, error::CliError};
use crate::flow::SubtaskStatus;
use crate::flow::plan::phase_name;
use crate::store::FlowEntry;
use crate::work::status::{Dashboard, Next, Questions, Row};
use serde_json::{Value, json};
use std::io::Write;

/// List every flow, a line each.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Print JSON: {"flows": [...], "problems": [...]}.
    #[arg(long)]
    pub json: bool,
}

/// Show a flow's dashboard.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The flow (default: the flow of the current branch).
    pub slug: Option<String>,
    /// Print JSON (fields documented in the README).
    #[arg(long)]
    pub json: bool,
}

pub fn list(ctx: &mut Ctx, args: &ListArgs) -> Result<(), CliError> {
    let index = ctx.flow_index()?;
    if args.json {
        let flows: Vec<Value> = index
            .flows
            .iter()
            .map(|s| {
                json!({
                    "slug": s.slug,
                    "title": s.title,
                    "status": s.status.as_str(),
                    "integration_branch": s.integration_branch,
                    "anchor": s.anchor.to_string(),
                    "updated_at": s.updated_at,
                    "subtasks": s.subtasks,
                    "subtasks_merged": s.merged,
                })
            })
            .collect();
        let problems: Vec<Value> = index
            .problems
            .iter()
            .map(|p| {
                json!({
                    "object": p.object.to_string(),
                    "slug": p.slug,
                    "error": p.error.to_string(),
                    "hint": p.hint(),
                })
            })
            .collect();
        return ctx.json(&json!({ "flows": flows, "problems": problems }));
    }
    let width = index.flows.iter().map(|s| s.slug.len()).max().unwrap_or(0);
    for s in &index.flows {
        let progress = if s.subtasks == 0 {
            String::from("-")
        } else {
            format!("{}/{}", s.merged, s.subtasks)
        };
        writeln!(
            ctx.out,
            "{:width$}  {:9}  {:>5}  {}",
            s.slug,
            s.status.as_str(),
            progress,
            crate::ai::sanitize::clean(&s.title)
        )?;
    }
    if index.flows.is_empty() && index.problems.is_empty() {
        ctx.hint("no flows yet; start one with `git aiflow new <slug>`");
    }
    report_problem_list(ctx, &index.problems, None);
    Ok(())
}

pub fn status(ctx: &mut Ctx, args: &StatusArgs) -> Result<(), CliError> {
    let (problems, entry) = ctx.flow_keeping(args.slug.as_deref(), true)?;
    let repo = ctx.repo()?.clone();
    let view = crate::work::status::dashboard(&repo, &entry);
    if args.json {
        ctx.json(&dashboard_json(&view))?;
    } else {
        // Built in a buffer and cleaned as a whole: a note can be written by anyone who can push
        // refs/notes/aiflow, so no control sequence in it reaches the terminal.
        let mut buf = Vec::new();
        dashboard(&mut buf, &view)?;
        let text = String::from_utf8_lossy(&buf);
        ctx.out
            .write_all(crate::ai::sanitize::clean(&text).as_bytes())?;
    }
    report_problem_list(ctx, &problems, Some(&entry.flow.slug));
    Ok(())
}

/// The dashboard as text.
fn dashboard(out: &mut impl Write, d: &Dashboard<'_>) -> std::io::Result<()> {
    header(out, d)?;
    let f = &d.entry.flow;
    match &d.plan {
        None => writeln!(out, "  plan       none")?,
        Some(p) => {
            let counts: Vec<String> = p
                .by_status
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(st, n)| format!("{n} {}", st.as_str()))
                .collect();
            writeln!(
                out,
                "  plan       revision {}, {} subtask{}{}",
                p.revision,
                p.subtasks,
                plural(p.subtasks),
                if counts.is_empty() {
                    String::new()
                } else {
                    format!(": {}", counts.join(", "))
                }
            )?;
        }
    }
    lint_lines(out, f)?;
    if let Some(fin) = &f.finished {
        writeln!(
            out,
            "  finished   {} by {}, merged into {} ({})",
            fin.at,
            fin.by,
            crate::git::short_ref(&fin.into),
            &fin.commit[..7.min(fin.commit.len())]
        )?;
    }
    if d.entry.documents > 1 {
        writeln!(
            out,
            "  note       held {} concatenated documents (git notes rewrite); the newest is used",
            d.entry.documents
        )?;
    }
    subtask_rows(out, &d.subtasks)?;
    audit_lines(out, f)?;
    if let Some(next) = &d.next {
        writeln!(out, "next: {}", next.command())?;
    }
    Ok(())
}

/// What plan lint found in the current plan revision, else (before any plan) in the questions.
fn lint_lines(out: &mut impl Write, f: &crate::flow::Flow) -> std::io::Result<()> {
    let (warnings, on) = match f.current_plan() {
        Some(p) => (&p.warnings, format!("plan revision {}", p.revision)),
        None => match &f.questions_asked {
            Some(asked) => (&asked.warnings, "the questions".to_string()),
            None => return Ok(()),
        },
    };
    if warnings.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "  lint       {} warning{} on {on}",
        warnings.len(),
        plural(warnings.len())
    )?;
    for w in warnings {
        writeln!(out, "    {w}")?;
    }
    Ok(())
}

/// The flow's security audits: how many findings each has, and every finding still open.
fn audit_lines(out: &mut impl Write, f: &crate::flow::Flow) -> std::io::Result<()> {
    if f.audits.is_empty() {
        return Ok(());
    }
    let open = crate::work::audit::open_findings(f);
    let total: usize = f.audits.iter().map(|a| a.findings.len()).sum();
    writeln!(
        out,
        "  audits     {}, {total} finding{}, {} open",
        f.audits.len(),
        plural(total),
        open.len()
    )?;
    for (subtask, finding) in open {
        let mut line = Vec::new();
        super::audit::finding_lines(&mut line, finding)?;
        let on = match subtask {
            "" => "the flow".to_owned(),
            s => format!("subtask {s}"),
        };
        writeln!(out, "    on {on}:")?;
        out.write_all(&line)?;
    }
    writeln!(out)
}

/// The dashboard's first lines: the flow, its branch and base, the spec, the questions, sync.
fn header(out: &mut impl Write, d: &Dashboard<'_>) -> std::io::Result<()> {
    let (entry, f) = (d.entry, &d.entry.flow);
    writeln!(out, "Flow {}: {}", f.slug, f.title)?;
    writeln!(out, "  status     {}", f.status.as_str())?;
    let branch_state = match d.integration_tip {
        None => "missing".to_string(),
        Some(_) => {
            let n = d.integration_commits;
            format!("{n} commit{} after the anchor", plural(n))
        }
    };
    writeln!(
        out,
        "  branch     {} (anchor {}, {branch_state})",
        f.integration_branch,
        entry.anchor.to_hex_with_len(7)
    )?;
    let base = f
        .base_ref
        .as_deref()
        .map(crate::git::short_ref)
        .unwrap_or("(detached)");
    writeln!(
        out,
        "  base       {base} at {}",
        &f.base_commit[..7.min(f.base_commit.len())]
    )?;
    writeln!(out, "  created    {} by {}", f.created_at, f.created_by)?;
    if f.updated_at != f.created_at || f.updated_by != f.created_by {
        writeln!(out, "  updated    {} by {}", f.updated_at, f.updated_by)?;
    }
    let s = &f.spec;
    writeln!(
        out,
        "  spec       {} core feature{}, {} stack, {} constraint{}, {} edge case{}",
        s.features.len(),
        plural(s.features.len()),
        s.stack.len(),
        s.constraints.len(),
        plural(s.constraints.len()),
        s.edge_cases.len(),
        plural(s.edge_cases.len())
    )?;
    writeln!(out, "  questions  {}", questions(&d.questions))?;
    if let Some(sync) = &d.sync {
        writeln!(out, "  sync       {}", sync.line())?;
    }
    if f.plans.is_empty() && !f.questions_skipped {
        for q in f.questions.iter().filter(|q| q.answer.is_none()) {
            writeln!(out, "    {}. {}", q.id, q.question)?;
        }
    }
    Ok(())
}

/// Where the questions stand, in words.
fn questions(q: &Questions) -> String {
    if q.asked == 0 && q.model_asked {
        "none needed (the model had no questions)".to_string()
    } else if q.asked == 0 && q.skipped {
        "skipped".to_string()
    } else if q.asked == 0 {
        "none asked".to_string()
    } else {
        format!(
            "{} of {} answered{}",
            q.answered,
            q.asked,
            if q.skipped { " (skipped)" } else { "" }
        )
    }
}

/// The widest a title is shown in the subtask table, in terminal columns.
const TITLE_WIDTH: usize = 48;

/// How many terminal columns `c` takes: 0 for combining marks and zero-width characters, 2 for
/// East Asian wide and fullwidth characters and emoji, else 1.
fn char_width(c: char) -> usize {
    let u = c as u32;
    if c.is_control()
        || matches!(u, 0x0300..=0x036F | 0x200B..=0x200F | 0x20D0..=0x20FF | 0xFE00..=0xFE0F | 0xFE20..=0xFE2F)
    {
        return 0;
    }
    let wide = matches!(u,
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6 | 0x1F300..=0x1F64F | 0x1F900..=0x1F9FF | 0x20000..=0x3FFFD);
    if wide { 2 } else { 1 }
}

/// How many terminal columns `s` takes.
fn width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// `s` cut to at most `max` columns, ending in `…` when it was cut.
fn fit(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = char_width(c);
        if used + w > max.saturating_sub(1) {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// `s` padded with spaces to `columns` columns.
fn pad(s: &str, columns: usize) -> String {
    format!("{s}{}", " ".repeat(columns.saturating_sub(width(s))))
}

/// The subtasks, phase by phase, a line each (and their branch once started).
fn subtask_rows(out: &mut impl Write, rows: &[Row<'_>]) -> std::io::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let title_width = rows
        .iter()
        .map(|r| width(&r.subtask.title))
        .max()
        .unwrap_or(0)
        .min(TITLE_WIDTH);
    let mut phase = "";
    for r in rows {
        let s = r.subtask;
        let p = phase_name(s.phase);
        if p != phase {
            writeln!(out)?;
            writeln!(out, "  {p}")?;
            phase = p;
        }
        let title = pad(&fit(&s.title, TITLE_WIDTH), title_width);
        let mut detail = Vec::new();
        if r.steps > 0 {
            detail.push(format!("{} step{}", r.steps, plural(r.steps)));
        }
        if let Some(review) = r.review {
            detail.push(format!(
                "{} by {} {}",
                if review.verdict == crate::flow::vocab::Verdict::Approved {
                    "approved"
                } else {
                    "changes requested"
                },
                review.reviewer,
                review.at
            ));
        }
        if !r.waiting_for.is_empty() {
            detail.push(format!("waits for {}", r.waiting_for.join(", ")));
        }
        writeln!(
            out,
            "    {:9} {}  {}  {}",
            s.status.as_str(),
            s.id,
            title,
            detail.join("; ")
        )?;
        if !matches!(s.status, SubtaskStatus::Planned | SubtaskStatus::Dropped) {
            writeln!(out, "{:16}{}", "", r.branch)?;
        }
        if let Some(d) = r.deviations.as_ref().filter(|d| !d.is_empty()) {
            if !d.outside_plan.is_empty() {
                writeln!(
                    out,
                    "{:16}changed outside the plan: {}",
                    "",
                    d.outside_plan.join(", ")
                )?;
            }
            if !d.untouched.is_empty() {
                writeln!(
                    out,
                    "{:16}planned but untouched: {}",
                    "",
                    d.untouched.join(", ")
                )?;
            }
        }
    }
    writeln!(out)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The subtasks of the current plan for `status --json`.
fn subtasks_json(rows: &[Row<'_>]) -> Vec<Value> {
    rows.iter()
        .map(|r| {
            let s = r.subtask;
            let review = r.review.map(|r| {
                json!({
                    "verdict": r.verdict,
                    "reviewer": r.reviewer,
                    "at": r.at,
                    "comment": r.comment,
                    "commits": r.commits.len(),
                })
            });
            json!({
                "id": s.id,
                "title": s.title,
                "phase": phase_name(s.phase),
                "status": s.status.as_str(),
                "branch": r.branch,
                "branch_exists": r.tip.is_some(),
                "tip": r.tip.map(|t| t.to_string()),
                "depends_on": s.depends_on,
                "waiting_for": r.waiting_for,
                "steps": r.steps,
                "review": review,
                "deviations": r.deviations,
            })
        })
        .collect()
}

/// The JSON form of `status` (documented in the README).
pub fn status_json(ctx: &mut Ctx, entry: &FlowEntry) -> Result<Value, CliError> {
    let repo = ctx.repo()?;
    Ok(dashboard_json(&crate::work::status::dashboard(repo, entry)))
}

/// The JSON form of a dashboard.
fn dashboard_json(d: &Dashboard<'_>) -> Value {
    let (entry, f) = (d.entry, &d.entry.flow);
    let mut by_status = serde_json::Map::new();
    for st in SubtaskStatus::ALL {
        let n = d.plan.as_ref().map_or(0, |p| {
            p.by_status
                .iter()
                .find(|(s, _)| *s == st)
                .map_or(0, |(_, n)| *n)
        });
        by_status.insert(st.as_str().to_string(), json!(n));
    }
    json!({
        "slug": f.slug,
        "title": f.title,
        "status": f.status.as_str(),
        "base_ref": f.base_ref,
        "base_commit": f.base_commit,
        "integration_branch": f.integration_branch,
        "integration_tip": d.integration_tip.map(|t| t.to_string()),
        "integration_commits": d.integration_commits,
        "anchor": entry.anchor.to_string(),
        "created_at": f.created_at,
        "created_by": f.created_by,
        "updated_at": f.updated_at,
        "updated_by": f.updated_by,
        "spec": f.spec,
        "questions": {
            "asked": d.questions.asked,
            "answered": d.questions.answered,
            "skipped": d.questions.skipped,
            "list": f.questions,
            "warnings": f.questions_asked.as_ref().map_or(&[][..], |a| &a.warnings[..]),
        },
        "plan": {
            "revision": d.plan.as_ref().map(|p| p.revision),
            "subtasks": d.plan.as_ref().map_or(0, |p| p.subtasks),
            "by_status": by_status,
            "warnings": f.current_plan().map_or(&[][..], |p| &p.warnings[..]),
        },
        "subtasks": subtasks_json(&d.subtasks),
        "reviews": f.reviews.len(),
        "audits": f.audits,
        "open_findings": crate::work::audit::open_findings(f).len(),
        "finished": f.finished,
        "documents": entry.documents,
        "next": d.next.as_ref().map(Next::command),
        "sync": d.sync,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_cut_by_display_width_with_an_ellipsis() {
        assert_eq!(fit("short", 10), "short");
        assert_eq!(fit("exactly ten", 11), "exactly ten");
        assert_eq!(fit("abcdefghijkl", 10), "abcdefghi…");
        assert_eq!(width(&fit("abcdefghijkl", 10)), 10);
        // Wide characters take two columns: five of them fill ten.
        assert_eq!(fit("日本語のタイトルです", 10), "日本語の…");
        assert_eq!(width(&fit("日本語のタイトルです", 10)), 9);
        assert_eq!(width("e\u{301}"), 1);
        assert_eq!(pad("日本", 6), "日本  ");
    }
}
