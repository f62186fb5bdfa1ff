//! `git aiflow status` and `git aiflow list`: the dashboard of one flow, and a line per flow.
//!
//! Both take `--json`; the fields are documented in the README and are a contract for scripts.

use super::{Ctx, context::report_problems, error::CliError};
use crate::flow::{Flow, FlowStatus, SubtaskStatus};
use crate::store::FlowEntry;
use crate::sync::SyncState;
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
    let set = ctx.flows()?;
    if args.json {
        let flows: Vec<Value> = set
            .flows
            .iter()
            .map(|e| {
                let (total, merged) = subtask_progress(&e.flow);
                json!({
                    "slug": e.flow.slug,
                    "title": e.flow.title,
                    "status": e.flow.status.as_str(),
                    "integration_branch": e.flow.integration_branch,
                    "anchor": e.anchor.to_string(),
                    "updated_at": e.flow.updated_at,
                    "subtasks": total,
                    "subtasks_merged": merged,
                })
            })
            .collect();
        let problems: Vec<Value> = set
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
    let width = set
        .flows
        .iter()
        .map(|e| e.flow.slug.len())
        .max()
        .unwrap_or(0);
    for e in &set.flows {
        let (total, merged) = subtask_progress(&e.flow);
        let progress = if total == 0 {
            String::from("-")
        } else {
            format!("{merged}/{total}")
        };
        writeln!(
            ctx.out,
            "{:width$}  {:9}  {:>5}  {}",
            e.flow.slug,
            e.flow.status.as_str(),
            progress,
            crate::ai::sanitize::clean(&e.flow.title)
        )?;
    }
    if set.flows.is_empty() && set.problems.is_empty() {
        ctx.hint("no flows yet; start one with `git aiflow new <slug>`");
    }
    report_problems(ctx, &set, None);
    Ok(())
}

pub fn status(ctx: &mut Ctx, args: &StatusArgs) -> Result<(), CliError> {
    let (set, entry) = ctx.flow(args.slug.as_deref())?;
    let repo = ctx.repo()?.clone();
    let sync = crate::sync::state(&repo, &entry.anchor);
    let value = status_value(&repo, &entry, sync.as_ref())?;
    if args.json {
        ctx.json(&value)?;
    } else {
        // Built in a buffer and cleaned as a whole: a note can be written by anyone who can push
        // refs/notes/aiflow, so no control sequence in it reaches the terminal.
        let mut buf = Vec::new();
        dashboard(&mut buf, &entry, &value, sync.as_ref())?;
        let text = String::from_utf8_lossy(&buf);
        ctx.out
            .write_all(crate::ai::sanitize::clean(&text).as_bytes())?;
    }
    report_problems(ctx, &set, Some(&entry.flow.slug));
    Ok(())
}

fn dashboard(
    out: &mut impl Write,
    entry: &FlowEntry,
    value: &Value,
    sync: Option<&SyncState>,
) -> Result<(), CliError> {
    let f = &entry.flow;
    writeln!(out, "Flow {}: {}", f.slug, f.title)?;
    writeln!(out, "  status     {}", f.status.as_str())?;
    let branch_state = match value["integration_tip"].as_str() {
        None => "missing".to_string(),
        Some(_) => {
            let n = value["integration_commits"].as_u64().unwrap_or(0);
            format!(
                "{n} commit{} after the anchor",
                if n == 1 { "" } else { "s" }
            )
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
    let asked = f.questions.len();
    let answered = f.questions.iter().filter(|q| q.answer.is_some()).count();
    let questions = if asked == 0 && f.questions_asked.is_some() {
        "none needed (the model had no questions)".to_string()
    } else if asked == 0 && f.questions_skipped {
        "skipped".to_string()
    } else if asked == 0 {
        "none asked".to_string()
    } else {
        format!(
            "{answered} of {asked} answered{}",
            if f.questions_skipped {
                " (skipped)"
            } else {
                ""
            }
        )
    };
    writeln!(out, "  questions  {questions}")?;
    if let Some(sync) = sync {
        writeln!(out, "  sync       {}", sync.line())?;
    }
    if f.plans.is_empty() && !f.questions_skipped {
        for q in f.questions.iter().filter(|q| q.answer.is_none()) {
            writeln!(out, "    {}. {}", q.id, q.question)?;
        }
    }
    match f.current_plan() {
        None => writeln!(out, "  plan       none")?,
        Some(p) => {
            let counts: Vec<String> = SubtaskStatus::ALL
                .iter()
                .filter_map(|st| {
                    let n = p.subtasks.iter().filter(|s| s.status == *st).count();
                    (n > 0).then(|| format!("{n} {}", st.as_str()))
                })
                .collect();
            writeln!(
                out,
                "  plan       revision {}, {} subtask{}{}",
                p.revision,
                p.subtasks.len(),
                plural(p.subtasks.len()),
                if counts.is_empty() {
                    String::new()
                } else {
                    format!(": {}", counts.join(", "))
                }
            )?;
        }
    }
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
    if entry.documents > 1 {
        writeln!(
            out,
            "  note       held {} concatenated documents (git notes rewrite); the newest is used",
            entry.documents
        )?;
    }
    // The subtasks, phase by phase.
    if let Some(list) = value["subtasks"].as_array().filter(|l| !l.is_empty()) {
        let title_width = list
            .iter()
            .map(|s| s["title"].as_str().unwrap_or("").chars().count())
            .max()
            .unwrap_or(0)
            .min(48);
        let mut phase = "";
        for st in list {
            let p = st["phase"].as_str().unwrap_or("");
            if p != phase {
                writeln!(out)?;
                writeln!(out, "  {p}")?;
                phase = p;
            }
            let title: String = st["title"]
                .as_str()
                .unwrap_or("")
                .chars()
                .take(48)
                .collect();
            let steps = st["steps"].as_u64().unwrap_or(0);
            let mut detail = Vec::new();
            if steps > 0 {
                detail.push(format!("{steps} step{}", plural(steps as usize)));
            }
            if let Some(r) = st["review"].as_object() {
                let verdict = r["verdict"].as_str().unwrap_or("");
                let who = r["reviewer"].as_str().unwrap_or("");
                let at = r["at"].as_str().unwrap_or("");
                detail.push(format!(
                    "{} by {who} {at}",
                    if verdict == "approved" {
                        "approved"
                    } else {
                        "changes requested"
                    }
                ));
            }
            if let Some(w) = st["waiting_for"].as_array().filter(|w| !w.is_empty()) {
                let ids: Vec<&str> = w.iter().filter_map(Value::as_str).collect();
                detail.push(format!("waits for {}", ids.join(", ")));
            }
            writeln!(
                out,
                "    {:9} {}  {:title_width$}  {}",
                st["status"].as_str().unwrap_or(""),
                st["id"].as_str().unwrap_or(""),
                title,
                detail.join("; ")
            )?;
            if st["status"] != "planned"
                && st["status"] != "dropped"
                && let Some(b) = st["branch"].as_str()
            {
                writeln!(out, "{:16}{b}", "")?;
            }
        }
        writeln!(out)?;
    }
    if let Some(next) = value["next"].as_str() {
        writeln!(out, "next: {next}")?;
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn subtask_progress(flow: &Flow) -> (usize, usize) {
    flow.current_plan()
        .map(|p| {
            let live = p
                .subtasks
                .iter()
                .filter(|s| s.status != SubtaskStatus::Dropped);
            let total = live.clone().count();
            let merged = live.filter(|s| s.status == SubtaskStatus::Merged).count();
            (total, merged)
        })
        .unwrap_or((0, 0))
}

/// What the user would do next with this flow.
fn next_step(flow: &Flow) -> Option<String> {
    let slug = &flow.slug;
    let unanswered = flow.questions.iter().any(|q| q.answer.is_none());
    Some(match flow.status {
        FlowStatus::Finished | FlowStatus::Abandoned => return None,
        _ if flow.plans.is_empty() && flow.questions.is_empty() => {
            format!("git aiflow plan {slug}")
        }
        _ if flow.plans.is_empty() && unanswered && !flow.questions_skipped => {
            format!("git aiflow answer {slug}")
        }
        _ if flow.plans.is_empty() => format!("git aiflow plan {slug}"),
        _ => {
            let plan = flow.current_plan()?;
            let first = |st: SubtaskStatus| plan.subtasks.iter().find(|s| s.status == st);
            if let Some(s) = first(SubtaskStatus::Approved) {
                format!("git aiflow integrate {}", s.id)
            } else if let Some(s) = first(SubtaskStatus::InReview) {
                format!(
                    "git aiflow review {} (then a reviewer runs `git aiflow approve {}`)",
                    s.id, s.id
                )
            } else if let Some(s) = first(SubtaskStatus::Active) {
                format!(
                    "git aiflow exec {} (or edit and `git aiflow step`), then `git aiflow review {}`",
                    s.id, s.id
                )
            } else if let Some(s) = crate::flow::lifecycle::next_ready(flow).0 {
                format!("git aiflow start {}", s.id)
            } else if plan
                .subtasks
                .iter()
                .all(|s| matches!(s.status, SubtaskStatus::Merged | SubtaskStatus::Dropped))
            {
                format!("git aiflow finish {slug}")
            } else {
                return None;
            }
        }
    })
}

/// The subtasks of the current plan for `status --json`: ordered phase by phase (plan order
/// within a phase), with steps and the latest review.
fn subtasks_json(repo: &gix::Repository, entry: &FlowEntry) -> Vec<Value> {
    let f = &entry.flow;
    let Some(plan) = f.current_plan() else {
        return Vec::new();
    };
    let mut list: Vec<&crate::flow::Subtask> = plan.subtasks.iter().collect();
    list.sort_by_key(|s| s.phase);
    list.into_iter()
        .map(|s| {
            let branch = s.branch.clone();
            let tip = branch
                .as_deref()
                .and_then(|b| crate::git::ref_id(repo, &format!("refs/heads/{b}")).ok().flatten());
            let steps = tip.map_or(0, |t| super::work::steps_of(repo, entry.anchor, t, &s.id).0);
            let review = f.reviews.iter().rev().find(|r| r.subtask == s.id).map(|r| {
                json!({
                    "verdict": r.verdict,
                    "reviewer": r.reviewer,
                    "at": r.at,
                    "comment": r.comment,
                    "commits": r.commits.len(),
                })
            });
            let waiting: Vec<&str> = if s.status == SubtaskStatus::Planned {
                crate::flow::lifecycle::unmet(f, s).iter().map(|d| d.id.as_str()).collect()
            } else {
                Vec::new()
            };
            json!({
                "id": s.id,
                "title": s.title,
                "phase": crate::flow::plan::phase_name(s.phase),
                "status": s.status.as_str(),
                "branch": branch.unwrap_or_else(|| crate::flow::plan::subtask_branch(&f.integration_branch, &s.id, &s.title)),
                "branch_exists": tip.is_some(),
                "tip": tip.map(|t| t.to_string()),
                "depends_on": s.depends_on,
                "waiting_for": waiting,
                "steps": steps,
                "review": review,
            })
        })
        .collect()
}

/// The JSON form of `status` (documented in the README).
pub fn status_json(repo: &gix::Repository, entry: &FlowEntry) -> Result<Value, CliError> {
    let sync = crate::sync::state(repo, &entry.anchor);
    status_value(repo, entry, sync.as_ref())
}

/// [`status_json`] with the flow's sync state already read.
fn status_value(
    repo: &gix::Repository,
    entry: &FlowEntry,
    sync: Option<&SyncState>,
) -> Result<Value, CliError> {
    let f = &entry.flow;
    let full = format!("refs/heads/{}", f.integration_branch);
    let tip = crate::git::ref_id(repo, &full).ok().flatten();
    let commits = match tip {
        Some(tip) => repo
            .rev_walk([tip])
            .with_hidden([entry.anchor])
            .all()
            .map(|walk| walk.filter_map(Result::ok).count())
            .unwrap_or(0),
        None => 0,
    };
    let mut subtasks = serde_json::Map::new();
    let plan = f.current_plan();
    for st in SubtaskStatus::ALL {
        let n = plan.map_or(0, |p| p.subtasks.iter().filter(|s| s.status == st).count());
        subtasks.insert(st.as_str().to_string(), json!(n));
    }
    Ok(json!({
        "slug": f.slug,
        "title": f.title,
        "status": f.status.as_str(),
        "base_ref": f.base_ref,
        "base_commit": f.base_commit,
        "integration_branch": f.integration_branch,
        "integration_tip": tip.map(|t| t.to_string()),
        "integration_commits": commits,
        "anchor": entry.anchor.to_string(),
        "created_at": f.created_at,
        "created_by": f.created_by,
        "updated_at": f.updated_at,
        "updated_by": f.updated_by,
        "spec": f.spec,
        "questions": {
            "asked": f.questions.len(),
            "answered": f.questions.iter().filter(|q| q.answer.is_some()).count(),
            "skipped": f.questions_skipped,
            "list": f.questions,
        },
        "plan": {
            "revision": plan.map(|p| p.revision),
            "subtasks": plan.map_or(0, |p| p.subtasks.len()),
            "by_status": subtasks,
        },
        "subtasks": subtasks_json(repo, entry),
        "reviews": f.reviews.len(),
        "finished": f.finished,
        "documents": entry.documents,
        "next": next_step(f),
        "sync": sync,
    }))
}
