//! `git aiflow stats`: figures per flow and across flows, as text or JSON (the fields are a
//! contract, documented in the README, "Stats").

use super::{Ctx, context::report_problems, error::CliError};
use crate::flow::stats::{Comparison, FlowStats, Group, Phases, SubtaskTimes};
use crate::store::{FlowEntry, Snapshot};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;

/// Time per phase, plan churn, rework, reviews, tests and model use, per flow and across flows.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// The flows (default: every flow).
    pub slugs: Vec<String>,
    /// Only flows created on or after DATE (`2026-11-21` or RFC 3339).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Print JSON (fields documented in the README).
    #[arg(long)]
    pub json: bool,
    /// Also draw the flow's timeline into FILE as a standalone SVG (one flow only).
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Also count rework after each finished flow: its lines removed or rewritten on its base
    /// branch within DAYS after the finish merge.
    #[arg(long, value_name = "DAYS")]
    pub rework_days: Option<u32>,
}

/// `--since` as seconds since 1970.
fn since(text: &str) -> Result<i64, CliError> {
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    crate::flow::epoch(&full).ok_or_else(|| {
        CliError::usage(format!(
            "--since `{}` is not a date such as 2026-11-21 or 2026-11-21T17:52:59+01:00",
            text.escape_debug()
        ))
    })
}

pub fn stats(ctx: &mut Ctx, args: &StatsArgs) -> Result<(), CliError> {
    let floor = args.since.as_deref().map(since).transpose()?;
    let mut repo = ctx.repo()?.clone();
    crate::work::stats::tune(&mut repo);
    let notes = crate::work::stats::read_notes(&repo, &Snapshot::load(&repo)?)?;
    let set = notes.flow_set(&repo)?;
    let mut entries: Vec<&FlowEntry> = if args.slugs.is_empty() {
        set.flows.iter().collect()
    } else {
        args.slugs
            .iter()
            .map(|s| set.find(s))
            .collect::<Result<_, _>>()?
    };
    if let Some(floor) = floor {
        entries.retain(|e| crate::flow::epoch(&e.flow.created_at).is_some_and(|c| c >= floor));
    }
    let options = crate::work::stats::Options {
        rework_days: args.rework_days,
    };
    let report = crate::work::stats::stats(&repo, &notes, &entries, &options)?;
    if let Some(path) = &args.svg {
        let [one] = report.flows.as_slice() else {
            return Err(CliError::usage(format!(
                "--svg draws one flow, and {} are selected; name it: git aiflow stats <slug> --svg FILE",
                report.flows.len()
            )));
        };
        std::fs::write(ctx.resolve(path), svg(one))?;
    }
    if args.json {
        let flows: Vec<Value> = report.flows.iter().map(flow_json).collect();
        ctx.json(&json!({
            "flows": flows,
            "totals": totals_json(&report.flows),
            "comparison": comparison_json(&report.comparison),
        }))?;
    } else {
        // Cleaned as a whole: titles and names come from notes anyone can push.
        let mut buf = Vec::new();
        for f in &report.flows {
            flow_text(&mut buf, f)?;
        }
        if report.flows.len() > 1 {
            totals_text(&mut buf, &report.flows)?;
        }
        if !report.flows.is_empty() {
            comparison_text(&mut buf, &report.comparison)?;
        }
        let text = String::from_utf8_lossy(&buf);
        ctx.out
            .write_all(crate::ai::sanitize::clean(&text).as_bytes())?;
        if report.flows.is_empty() {
            ctx.hint("no flows to count");
        }
    }
    report_problems(ctx, &set, None);
    Ok(())
}

fn phases_json(p: &Phases) -> Value {
    json!({
        "spec": p.spec,
        "questions": p.questions,
        "planning": p.planning,
        "execution": p.execution,
        "integration": p.integration,
        "total": p.total,
    })
}

fn subtask_json(s: &SubtaskTimes) -> Value {
    json!({
        "id": s.id,
        "started": s.started,
        "approved": s.approved,
        "merged": s.merged,
        "working_s": s.working_s,
        "waiting_s": s.waiting_s,
        "integration_s": s.integration_s,
        "steps": s.steps,
        "rejections": s.rejections,
    })
}

fn flow_json(f: &FlowStats) -> Value {
    json!({
        "slug": f.slug,
        "title": f.title,
        "status": f.status,
        "planned": f.planned,
        "phases": phases_json(&f.phases),
        "subtasks": f.subtasks.iter().map(subtask_json).collect::<Vec<_>>(),
        "plan": f.plan,
        "questions": f.questions,
        "rework": f.rework,
        "reviews": f.reviews,
        "tests": f.tests,
        "model": f.model,
    })
}

fn totals_json(all: &[FlowStats]) -> Value {
    let sum = |g: &dyn Fn(&FlowStats) -> u64| all.iter().map(g).sum::<u64>();
    json!({
        "flows": all.len(),
        "rework": {
            "written": sum(&|f| f.rework.written),
            "lines": sum(&|f| f.rework.lines),
            "by_agent": sum(&|f| f.rework.by_agent),
            "by_person": sum(&|f| f.rework.by_person),
        },
        "reviews": {
            "approvals": sum(&|f| f.reviews.approvals as u64),
            "rejections": sum(&|f| f.reviews.rejections as u64),
        },
        "model": {
            "calls": sum(&|f| f.model.calls as u64),
            "tokens_in": sum(&|f| f.model.tokens_in),
            "tokens_out": sum(&|f| f.model.tokens_out),
            "seconds": all.iter().map(|f| f.model.seconds).sum::<f64>(),
        },
    })
}

fn group_json(g: &Group) -> Value {
    let medians: serde_json::Map<String, Value> = g
        .medians
        .iter()
        .map(|(k, m)| (k.clone(), json!({ "n": m.n, "median": m.median })))
        .collect();
    json!({ "flows": g.flows, "medians": medians })
}

fn comparison_json(c: &Comparison) -> Value {
    json!({ "planned": group_json(&c.planned), "unplanned": group_json(&c.unplanned) })
}

/// A duration as `45s`, `3m05s`, `2h07m`, `3d04h`; `-` for none.
pub fn duration(s: Option<i64>) -> String {
    let Some(s) = s else { return "-".into() };
    let (sign, s) = if s < 0 { ("-", -s) } else { ("", s) };
    match s {
        _ if s < 60 => format!("{sign}{s}s"),
        _ if s < 3600 => format!("{sign}{}m{:02}s", s / 60, s % 60),
        _ if s < 86_400 => format!("{sign}{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{sign}{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// `count` and the noun, singular for one: `1 step`, `2 steps`.
fn n(count: impl Into<u64>, one: &str, many: &str) -> String {
    match count.into() {
        1 => format!("1 {one}"),
        c => format!("{c} {many}"),
    }
}

fn flow_text(out: &mut impl Write, f: &FlowStats) -> std::io::Result<()> {
    let kind = if f.planned { "planned" } else { "unplanned" };
    writeln!(out, "{}  {}  ({kind})  {}", f.slug, f.status, f.title)?;
    let p = &f.phases;
    writeln!(
        out,
        "  phases     spec {}, questions {}, planning {}, execution {}, integration {}, total {}",
        duration(p.spec),
        duration(p.questions),
        duration(p.planning),
        duration(p.execution),
        duration(p.integration),
        duration(p.total)
    )?;
    for s in &f.subtasks {
        writeln!(
            out,
            "  subtask    {}: working {}, waiting for review {}, to merge {}, {}, {} rejected",
            s.id,
            duration(s.working_s),
            duration(s.waiting_s),
            duration(s.integration_s),
            n(s.steps as u64, "step", "steps"),
            s.rejections
        )?;
    }
    let c = &f.plan;
    writeln!(
        out,
        "  plan       {}, {} added, {} dropped; changes by a person {}, by a model {}",
        n(c.revisions as u64, "revision", "revisions"),
        n(c.added as u64, "subtask", "subtasks"),
        c.dropped,
        c.changed_by_human,
        c.changed_by_model
    )?;
    writeln!(
        out,
        "  questions  {} asked, {} answered",
        f.questions.asked, f.questions.answered
    )?;
    let r = &f.rework;
    writeln!(
        out,
        "  rework     {} of {} written {} removed or rewritten later (written by the agent {}, by a person {})",
        r.lines,
        n(r.written, "line", "lines"),
        if r.lines == 1 { "was" } else { "were" },
        r.by_agent,
        r.by_person
    )?;
    if let Some(a) = &r.after_finish {
        writeln!(
            out,
            "             after the finish: {} removed or rewritten within {} on the base branch, by {} (written by the agent {}, by a person {})",
            n(a.lines, "line", "lines"),
            n(a.days, "day", "days"),
            n(a.commits, "commit", "commits"),
            a.by_agent,
            a.by_person
        )?;
    }
    let v = &f.reviews;
    writeln!(
        out,
        "  reviews    {} approved, {} rejected ({} after a rejection); latency {} (median); {} per review; {} accepted",
        v.approvals,
        v.rejections,
        n(v.steps_after_rejection as u64, "step", "steps"),
        duration(v.latency_s),
        match v.commits_per_review {
            Some(1.0) => "1 commit".to_owned(),
            Some(c) => format!("{c:.2} commits"),
            None => "- commits".to_owned(),
        },
        n(v.deviations_accepted as u64, "deviation", "deviations")
    )?;
    if v.self_review_refusals + v.reviewer_refusals > 0 {
        writeln!(
            out,
            "             refused: {} as self-review, {} from a reviewer not allowed",
            n(v.self_review_refusals as u64, "approval", "approvals"),
            v.reviewer_refusals
        )?;
    }
    if !v.reviewers.is_empty() {
        writeln!(out, "  reviewers  {}", v.reviewers.join(", "))?;
    }
    let t = &f.tests;
    writeln!(
        out,
        "  tests      {} tested, {} red then green, {}",
        n(t.tested_steps as u64, "step", "steps"),
        t.red_then_green,
        n(t.fix_attempts as u64, "fix attempt", "fix attempts")
    )?;
    let m = &f.model;
    writeln!(
        out,
        "  model      {}, {} tokens in, {} out, {:.1}s",
        n(m.calls as u64, "call", "calls"),
        m.tokens_in,
        m.tokens_out,
        m.seconds
    )?;
    for u in &m.by {
        writeln!(
            out,
            "             {}{}: {}, {} tokens in, {} out, {:.1}s",
            u.provider,
            u.model
                .as_deref()
                .map(|m| format!(" {m}"))
                .unwrap_or_default(),
            n(u.calls as u64, "call", "calls"),
            u.tokens_in,
            u.tokens_out,
            u.seconds
        )?;
    }
    writeln!(out)
}

fn totals_text(out: &mut impl Write, all: &[FlowStats]) -> std::io::Result<()> {
    let sum = |g: &dyn Fn(&FlowStats) -> u64| all.iter().map(g).sum::<u64>();
    writeln!(
        out,
        "all {}: rework {} of {}; {} approved, {} rejected; model {}, {} tokens in, {} out",
        n(all.len() as u64, "flow", "flows"),
        sum(&|f| f.rework.lines),
        n(sum(&|f| f.rework.written), "line", "lines"),
        sum(&|f| f.reviews.approvals as u64),
        sum(&|f| f.reviews.rejections as u64),
        n(sum(&|f| f.model.calls as u64), "call", "calls"),
        sum(&|f| f.model.tokens_in),
        sum(&|f| f.model.tokens_out),
    )?;
    writeln!(out)
}

fn comparison_text(out: &mut impl Write, c: &Comparison) -> std::io::Result<()> {
    writeln!(
        out,
        "comparison: medians (n = flows it rests on; none below 3)"
    )?;
    writeln!(
        out,
        "  {:14}{:>22}{:>22}",
        "",
        format!("planned ({})", c.planned.flows),
        format!("unplanned ({})", c.unplanned.flows)
    )?;
    for ((name, a), (_, b)) in c.planned.medians.iter().zip(&c.unplanned.medians) {
        let cell = |m: &crate::flow::stats::Median| {
            let v = match m.median {
                None => "-".to_owned(),
                Some(v) if name.ends_with("_s") => duration(Some(v)),
                Some(v) => v.to_string(),
            };
            format!("{v} (n={})", m.n)
        };
        writeln!(out, "  {name:14}{:>22}{:>22}", cell(a), cell(b))?;
    }
    Ok(())
}

/// `&`, `<`, `>` and quotes as XML entities; control characters dropped.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The flow's timeline as a standalone SVG: the phases as bands on the first row, then each
/// subtask as a bar from its start to its approval (grey while unapproved), with its reviews as
/// marks (green: approved, red: changes requested) and its merge as a tick.
pub fn svg(f: &FlowStats) -> String {
    const LEFT: f64 = 140.0;
    const WIDTH: f64 = 640.0;
    const ROW: f64 = 28.0;
    let mut times: Vec<i64> = f.created.into_iter().chain(f.finished).collect();
    for b in &f.bands {
        times.extend([b.1, b.2]);
    }
    for s in &f.subtasks {
        times.extend(s.started.iter().chain(&s.approved).chain(&s.merged));
        times.extend(s.reviews.iter().map(|r| r.0));
    }
    let t0 = times.iter().copied().min().unwrap_or(0);
    let t1 = times.iter().copied().max().unwrap_or(0).max(t0 + 1);
    let x = |t: i64| LEFT + (t - t0) as f64 / (t1 - t0) as f64 * WIDTH;
    let height = ROW * (f.subtasks.len() as f64 + 3.0);
    let mut o = String::new();
    let mut line = |s: String| {
        o.push_str(&s);
        o.push('\n');
    };
    line(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" viewBox=\"0 0 {w} {height}\" font-family=\"sans-serif\" font-size=\"12\">",
        w = LEFT + WIDTH + 20.0
    ));
    line(format!(
        "<title>{}: {}</title>",
        xml(&f.slug),
        xml(&f.title)
    ));
    line("<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"white\"/>".to_owned());
    line(format!(
        "<text x=\"4\" y=\"16\" font-weight=\"bold\">{} ({})</text>",
        xml(&f.slug),
        duration(f.phases.total)
    ));
    let colours = ["#c6dbef", "#fdd0a2", "#c7e9c0", "#dadaeb", "#fcbba1"];
    let y = ROW;
    line(format!("<text x=\"4\" y=\"{}\">phases</text>", y + 16.0));
    for (i, (name, a, b)) in f.bands.iter().enumerate() {
        let (xa, xb) = (x(*a), x(*b));
        line(format!(
            "<rect x=\"{xa:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"{}\" fill=\"{}\"><title>{name}: {}</title></rect>",
            (xb - xa).max(1.0),
            ROW - 6.0,
            colours[i % colours.len()],
            duration(Some(b - a))
        ));
        line(format!(
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"10\">{name}</text>",
            xa + 2.0,
            y + 14.0
        ));
    }
    for (row, s) in f.subtasks.iter().enumerate() {
        let y = ROW * (row as f64 + 2.0);
        line(format!(
            "<text x=\"4\" y=\"{}\">{}</text>",
            y + 16.0,
            xml(&s.id)
        ));
        if let Some(start) = s.started {
            let end = s
                .approved
                .or(s.reviews.last().map(|r| r.0))
                .unwrap_or(start);
            let fill = if s.approved.is_some() {
                "#6baed6"
            } else {
                "#bdbdbd"
            };
            line(format!(
                "<rect x=\"{:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"{fill}\"><title>{}: working {}, waiting for review {}</title></rect>",
                x(start),
                y + 4.0,
                (x(end) - x(start)).max(1.0),
                ROW - 12.0,
                xml(&s.id),
                duration(s.working_s),
                duration(s.waiting_s)
            ));
        }
        for (at, approved) in &s.reviews {
            let colour = if *approved { "#31a354" } else { "#de2d26" };
            line(format!(
                "<circle cx=\"{:.1}\" cy=\"{}\" r=\"5\" fill=\"{colour}\"><title>{}</title></circle>",
                x(*at),
                y + ROW / 2.0 - 2.0,
                if *approved {
                    "approved"
                } else {
                    "changes requested"
                }
            ));
        }
        if let Some(m) = s.merged {
            line(format!(
                "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1}\" y2=\"{2}\" stroke=\"black\" stroke-width=\"2\"><title>merged</title></line>",
                x(m),
                y + 2.0,
                y + ROW - 6.0
            ));
        }
    }
    line("</svg>".to_owned());
    o
}
