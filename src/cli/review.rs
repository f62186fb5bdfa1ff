//! `git aiflow review`, `ready`, `approve` and `reject`: a human looks at a subtask's commits and
//! either signs them off (review trailers on every commit, the approval recorded with content ids)
//! or asks for changes. The behaviour lives in [`crate::work::review`] and
//! [`crate::work::approve`]; this file turns arguments into their options and renders the result.

use super::work::{self, Found, Which};
use super::{CliError, Ctx};
use crate::ai::sanitize::clean;
use crate::flow::SubtaskStatus;
use crate::work::approve::{
    self as lib, AlreadyApproved, Approval, ApproveOptions, Approved, RangeApproved, RangeOptions,
    RejectOptions, Signing,
};
use crate::work::review::{self as state, Inspection, SignatureStatus};
use serde_json::json;
use std::io::Write;

/// Arguments of `review`.
#[derive(Debug, clap::Args)]
pub struct ReviewArgs {
    #[command(flatten)]
    pub which: Which,
    /// Print JSON: the commits, their files and review state, and the reviews.
    #[arg(long)]
    pub json: bool,
    /// Colour the diffs: always (the default of a bare --color), never, or auto (on a terminal,
    /// unless NO_COLOR is set); without it, color.diff and color.ui decide, as for git log.
    #[arg(long, value_enum, value_name = "when", num_args = 0..=1, default_missing_value = "always")]
    pub color: Option<crate::term::ColorWhen>,
}

/// Arguments of `approve`.
#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    #[command(flatten)]
    pub which: Which,
    /// Approve only the commits up to this one (later commits stay unreviewed).
    #[arg(long, value_name = "rev")]
    pub upto: Option<String>,
    /// Approve the commits of A..B outside any flow (a hot fix, hand commits on a trunk); B is a
    /// branch, whose commits get the review trailer and a review note each.
    #[arg(long, value_name = "A..B", conflicts_with = "upto")]
    pub range: Option<String>,
    /// A comment recorded with the approval.
    #[arg(short, long = "message", value_name = "text")]
    pub message: Option<String>,
    /// Print JSON: {"flow", "subtask", "reviewer", "branch", "old_tip", "new_tip", "commits"}.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `reject`.
#[derive(Debug, clap::Args)]
pub struct RejectArgs {
    #[command(flatten)]
    pub which: Which,
    /// What must change (several -m make paragraphs).
    #[arg(short, long = "message", value_name = "text", required = true)]
    pub message: Vec<String>,
    /// Print JSON: {"flow", "subtask", "reviewer", "at", "status"}.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `ready`.
#[derive(Debug, clap::Args)]
pub struct ReadyArgs {
    #[command(flatten)]
    pub which: Which,
    /// Print JSON: {"flow", "subtask", "branch", "commits", "status"}.
    #[arg(long)]
    pub json: bool,
}

/// `git aiflow approve`.
pub fn approve(ctx: &mut Ctx, args: &ApproveArgs) -> Result<(), CliError> {
    if let Some(range) = &args.range {
        return approve_range(ctx, args, range);
    }
    let found = work::find(ctx, &args.which)?;
    let repo = ctx.repo()?.clone();
    let options = ApproveOptions {
        upto: args.upto.clone(),
        comment: args.message.clone(),
    };
    match lib::approve(&repo, &found, &options)? {
        Approval::Approved(done) => approved(ctx, args.json, &found, &done),
        Approval::Already(already) => already_approved(ctx, args.json, &found, &already),
    }
}

/// Report a recorded approval of a subtask.
fn approved(ctx: &mut Ctx, json: bool, found: &Found, done: &Approved) -> Result<(), CliError> {
    let s = found.subtask();
    if let Some(why) = &done.untested {
        ctx.warn(format!(
            "subtask {} {why}; the policy says tests = \"required\", so `integrate` will refuse it until `git aiflow test {}` passes",
            s.id, s.id
        ));
    }
    if json {
        let list: Vec<serde_json::Value> = done
            .commits
            .iter()
            .map(|c| {
                json!({"old": c.old.to_string(), "new": c.new.to_string(), "content_id": c.content_id})
            })
            .collect();
        return ctx.json(&json!({
            "flow": found.flow().slug,
            "subtask": s.id,
            "reviewer": done.reviewer,
            "branch": done.branch,
            "old_tip": done.old_tip.to_string(),
            "new_tip": done.new_tip.to_string(),
            "whole": done.whole,
            "commits": list,
            "signed": signer_json(&done.signing),
            "untested": done.untested,
            "deviations": done.deviations,
        }));
    }
    let n = done.commits.len();
    writeln!(
        ctx.out,
        "Approved {n} commit{} of {} \"{}\" as {}{}",
        if n == 1 { "" } else { "s" },
        s.id,
        s.title,
        done.reviewer,
        signed_note(&done.signing)
    )?;
    moved(ctx, &done.branch, done.old_tip, done.new_tip)?;
    if let Some(d) = done.deviations.as_ref().filter(|d| !d.is_empty()) {
        writeln!(ctx.out, "  recorded with the approval, as accepted:")?;
        for line in deviation_lines(d).lines() {
            writeln!(ctx.out, "  {line}")?;
        }
    }
    if done.whole {
        writeln!(ctx.out, "  next: `git aiflow integrate {}`", s.id)?;
    } else {
        writeln!(
            ctx.out,
            "  {} later commit{} not approved yet",
            done.later,
            if done.later == 1 { " is" } else { "s are" }
        )?;
    }
    Ok(())
}

/// `signed` in JSON: who the gate will see as the signer.
fn signer_json(signing: &Signing) -> serde_json::Value {
    match signing {
        Signing::Unsigned => serde_json::Value::Null,
        Signing::Signed { signer: Some(v) } => {
            json!({"signer": v.principal, "key": v.fingerprint, "algorithm": v.algorithm})
        }
        Signing::Signed { signer: None } => {
            json!({"signer": null, "key": null, "algorithm": null})
        }
    }
}

/// ", signed (by X, key Y)" for people.
fn signed_note(signing: &Signing) -> String {
    match signing {
        Signing::Unsigned => String::new(),
        Signing::Signed { signer: Some(v) } => format!(
            ", signed ({} key {} of {})",
            v.algorithm, v.fingerprint, v.principal
        ),
        Signing::Signed { signer: None } => ", signed".into(),
    }
}

/// Report that the subtask is approved already (exit 0).
fn already_approved(
    ctx: &mut Ctx,
    json: bool,
    found: &Found,
    already: &AlreadyApproved,
) -> Result<(), CliError> {
    let id = &found.id;
    if json {
        ctx.json(&json!({"flow": found.flow().slug, "subtask": id, "reviewer": already.reviewer, "branch": already.branch,
            "old_tip": already.old_tip.to_string(), "new_tip": already.new_tip.map(|t| t.to_string()), "commits": [], "already": true}))?;
    } else {
        writeln!(
            ctx.out,
            "subtask {id} is approved already{}; nothing to do",
            already
                .by
                .as_ref()
                .map(|b| format!(" (by {b})"))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}

/// `git aiflow approve --range A..B`: commits outside any flow (a hot fix, hand commits on a
/// trunk that requires signed reviews).
fn approve_range(ctx: &mut Ctx, args: &ApproveArgs, range: &str) -> Result<(), CliError> {
    let repo = ctx.repo()?.clone();
    let options = RangeOptions {
        range: range.to_owned(),
        comment: args.message.clone(),
        selection_given: args.which.subtask.is_some()
            || args.which.flow.is_some()
            || args.upto.is_some(),
    };
    let done = lib::approve_range(&repo, &options)?;
    if args.json {
        return range_json(ctx, range, &done);
    }
    let n = done.commits.len();
    writeln!(
        ctx.out,
        "Approved {n} commit{} of {} as {}{}",
        if n == 1 { "" } else { "s" },
        done.branch,
        done.reviewer,
        signed_note(&done.signing)
    )?;
    moved(ctx, &done.branch, done.old_tip, done.new_tip)?;
    Ok(())
}

/// The line saying how an approval moved `branch`.
fn moved(
    ctx: &mut Ctx,
    branch: &str,
    old: crate::git::ObjectId,
    new: crate::git::ObjectId,
) -> Result<(), CliError> {
    writeln!(
        ctx.out,
        "  {branch} {} -> {}",
        old.to_hex_with_len(7),
        new.to_hex_with_len(7)
    )?;
    Ok(())
}

/// A range approval in JSON.
fn range_json(ctx: &mut Ctx, range: &str, done: &RangeApproved) -> Result<(), CliError> {
    let commits: Vec<serde_json::Value> = done
        .commits
        .iter()
        .map(|c| json!({"old": c.old.to_string(), "new": c.new.to_string(), "content_id": c.content_id}))
        .collect();
    ctx.json(&json!({
        "range": range,
        "branch": done.branch,
        "reviewer": done.reviewer,
        "old_tip": done.old_tip.to_string(),
        "new_tip": done.new_tip.to_string(),
        "notes": done.notes.map(|c| c.to_string()),
        "commits": commits,
        "signed": signer_json(&done.signing),
    }))
}

/// `git aiflow reject`.
pub fn reject(ctx: &mut Ctx, args: &RejectArgs) -> Result<(), CliError> {
    let found = work::find(ctx, &args.which)?;
    let repo = ctx.repo()?.clone();
    let s = found.subtask();
    let options = RejectOptions {
        comments: args.message.clone(),
    };
    let done = lib::reject(&repo, &found, &options)?;
    if args.json {
        ctx.json(&json!({
            "flow": found.flow().slug,
            "subtask": s.id,
            "reviewer": done.reviewer,
            "at": done.at,
            "status": "active",
        }))?;
    } else {
        writeln!(
            ctx.out,
            "Changes requested on {} \"{}\"; it is active again",
            s.id, s.title
        )?;
        writeln!(
            ctx.out,
            "  next: `git aiflow exec {}` (the agent sees the comment) or edit and `git aiflow step`",
            s.id
        )?;
    }
    Ok(())
}

/// `git aiflow review`.
pub fn review(ctx: &mut Ctx, args: &ReviewArgs) -> Result<(), CliError> {
    let found = work::find(ctx, &args.which)?;
    let repo = ctx.repo()?.clone();
    let seen = state::inspect(&repo, &found)?;
    if args.json {
        return review_json(ctx, &found, &seen);
    }
    let tty = crate::term::stdout();
    let color = crate::term::color(args.color, &repo.config_snapshot(), "color.diff");
    let mut text = review_head(&found, &seen).into_bytes();
    text.extend_from_slice(&seen.patches(&repo, color)?);
    if tty {
        crate::git::pager::page(&crate::git::run_dir(&repo), &text, &mut ctx.out)?;
    } else {
        ctx.out.write_all(&text)?;
    }
    Ok(())
}

/// `review --json`.
fn review_json(ctx: &mut Ctx, found: &Found, seen: &Inspection) -> Result<(), CliError> {
    let s = found.subtask();
    let files = seen.files(ctx.repo()?)?;
    let commits: Vec<serde_json::Value> = seen
        .commits
        .iter()
        .map(|c| {
            json!({
                "commit": c.id.to_string(),
                "subject": c.subject,
                "author": c.author,
                "step": c.step,
                "reviewed_by": c.reviewed_by,
                "review": c.state.as_str(),
                "signed_by": c.signer,
                "test": c.test_state(),
                "test_run": c.test.as_ref().map(|(run, _)| run),
                "files": files.get(&c.id).cloned().unwrap_or_default(),
            })
        })
        .collect();
    let mut reviews = Vec::new();
    for (r, sig) in &seen.reviews {
        let mut v = serde_json::to_value(r)
            .map_err(|e| CliError::usage("a review cannot be written as JSON").source(e))?;
        v["signature_status"] = signature_json(sig);
        reviews.push(v);
    }
    ctx.json(&json!({
        "flow": found.flow().slug,
        "subtask": {
            "id": s.id,
            "title": s.title,
            "status": s.status.as_str(),
            "branch": seen.work.branch,
            "description": s.description,
            "files": s.files,
        },
        "range": seen.range,
        "commits": commits,
        "reviews": reviews,
        "deviations": seen.deviations,
        "audits": found.flow().audits.iter().filter(|a| a.subtask == s.id).collect::<Vec<_>>(),
    }))
}

/// A review's `signature_status` in JSON.
fn signature_json(sig: &SignatureStatus) -> serde_json::Value {
    match sig {
        SignatureStatus::Unsigned => json!({"signed": false}),
        SignatureStatus::Verified(v) => {
            json!({"signed": true, "verified": true, "signer": v.principal, "key": v.fingerprint, "algorithm": v.algorithm})
        }
        SignatureStatus::NotVerified {
            problem,
            reason: None,
        } => json!({"signed": true, "verified": false, "problem": problem}),
        SignatureStatus::NotVerified {
            problem,
            reason: Some(code),
        } => json!({"signed": true, "verified": false, "problem": problem, "reason": code}),
    }
}

/// What `review` prints above the patches: the subtask, its commits and its reviews.
fn review_head(found: &Found, seen: &Inspection) -> String {
    let s = found.subtask();
    let n = seen.commits.len();
    let mut head = format!(
        "Subtask {} \"{}\" ({}), flow {}\n",
        s.id,
        clean(&s.title),
        s.status.as_str(),
        found.flow().slug
    );
    head.push_str(&format!(
        "Range   {}: {n} commit{}\n",
        seen.range,
        if n == 1 { "" } else { "s" }
    ));
    // The test history, once any step has a run: green, red, or none, per commit.
    let tested = seen.commits.iter().any(|c| c.test.is_some());
    for c in seen.commits.iter().rev() {
        head.push_str(&format!(
            "  {} {:10} {}{}{}{}\n",
            c.id.to_hex_with_len(7),
            c.state.as_str(),
            c.step.map(|n| format!("step {n}: ")).unwrap_or_default(),
            clean(&c.subject),
            c.signer
                .as_ref()
                .map(|p| format!(" (signed by {p})"))
                .unwrap_or_default(),
            if tested {
                format!(" [test {}]", c.test_state())
            } else {
                String::new()
            }
        ));
    }
    for (r, sig) in &seen.reviews {
        head.push_str(&format!(
            "Review  {} by {} at {}",
            clean(r.verdict.as_str()),
            clean(&r.reviewer),
            clean(&r.at)
        ));
        match sig {
            SignatureStatus::Verified(v) => head.push_str(&format!(
                ", signed by {} ({} {})",
                v.principal, v.algorithm, v.fingerprint
            )),
            SignatureStatus::NotVerified { problem, .. } => {
                head.push_str(&format!(", signature not verified: {problem}"))
            }
            SignatureStatus::Unsigned => head.push_str(", unsigned"),
        }
        if let Some(c) = &r.comment {
            head.push_str(&format!(
                ": {}",
                clean(c.lines().next().unwrap_or_default())
            ));
        }
        head.push('\n');
    }
    if let Some(d) = &seen.deviations {
        head.push_str(&deviation_lines(d));
    }
    // Security findings on this subtask: advice to read, never a review.
    for a in found.flow().audits.iter().filter(|a| a.subtask == s.id) {
        let open = a
            .findings
            .iter()
            .filter(|f| f.status == crate::flow::audit::FindingStatus::Open)
            .count();
        head.push_str(&format!(
            "Audit   {} by {} at {}: {} finding{}, {open} open\n",
            a.id,
            clean(&a.provenance.provider),
            clean(&a.provenance.at),
            a.findings.len(),
            if a.findings.len() == 1 { "" } else { "s" }
        ));
        let mut lines = Vec::new();
        for f in &a.findings {
            let _ = super::audit::finding_lines(&mut lines, f);
        }
        head.push_str(&String::from_utf8_lossy(&lines));
    }
    head.push('\n');
    head
}

/// What a subtask did against its plan, a line each kind (`Plan    as planned` when nothing
/// deviates).
pub fn deviation_lines(d: &crate::flow::deviations::Deviations) -> String {
    let list = |paths: &[String]| {
        paths
            .iter()
            .map(|p| clean(p))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = String::new();
    if d.is_empty() {
        out.push_str("Plan    the files touched are the files planned\n");
    }
    if !d.outside_plan.is_empty() {
        out.push_str(&format!(
            "Plan    changed outside the plan: {}\n",
            list(&d.outside_plan)
        ));
    }
    if !d.untouched.is_empty() {
        out.push_str(&format!(
            "Plan    planned but untouched: {}\n",
            list(&d.untouched)
        ));
    }
    out
}

/// `git aiflow ready`: the subtask's work waits for a review (in-review) until a new step, an
/// approval or a request for changes.
pub fn ready(ctx: &mut Ctx, args: &ReadyArgs) -> Result<(), CliError> {
    let found = work::find(ctx, &args.which)?;
    let repo = ctx.repo()?.clone();
    let s = found.subtask();
    let done = state::ready(&repo, &found)?;
    let n = done.commits;
    if args.json {
        return ctx.json(&json!({
            "flow": found.flow().slug,
            "subtask": s.id,
            "branch": done.branch,
            "commits": n,
            "status": SubtaskStatus::InReview.as_str(),
        }));
    }
    writeln!(
        ctx.out,
        "Subtask {} \"{}\" is ready for review: {n} commit{} on {}",
        s.id,
        s.title,
        if n == 1 { "" } else { "s" },
        done.branch
    )?;
    writeln!(
        ctx.out,
        "  next, for a reviewer: `git aiflow review {0}`, then `git aiflow approve {0}` or `git aiflow reject {0} -m TEXT`",
        s.id
    )?;
    Ok(())
}
