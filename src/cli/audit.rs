//! `git aiflow audit`: ask a model for a security review of a subtask or a whole flow, and
//! `audit accept|dismiss`, a person's judgement of each finding; the work is
//! [`crate::work::audit`]'s.

use super::ask::ProviderArgs;
use super::work::{self, Which};
use super::{CliError, Ctx};
use crate::ai::sanitize::clean;
use crate::flow::audit::{Audit, Finding, FindingStatus};
use crate::work::audit::{self as audit, Scope};
use serde_json::json;
use std::io::Write;

/// Arguments of `audit`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    /// What to audit: a subtask (its id, a unique prefix, or its branch), or a flow's slug for
    /// the whole flow (default: the current branch's subtask, or its flow on an integration
    /// branch).
    #[arg(value_name = "subtask|flow")]
    pub target: Option<String>,
    /// The flow to look for the subtask in.
    #[arg(long, value_name = "slug")]
    pub flow: Option<String>,
    #[command(flatten)]
    pub provider: ProviderArgs,
    /// Print the prompt that would be sent, and stop: nothing is asked or written.
    #[arg(long)]
    pub print_prompt: bool,
    /// Print the audit as JSON: {"flow", "id", "subtask", "range", "findings", ...}.
    #[arg(long)]
    pub json: bool,
}

/// A person's judgement of a finding.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// The finding is real: it is, or will be, fixed.
    Accept(JudgeArgs),
    /// The finding does not apply here.
    Dismiss(JudgeArgs),
}

/// Arguments of `audit accept|dismiss`.
#[derive(Debug, clap::Args)]
pub struct JudgeArgs {
    /// The finding: its id (or a unique prefix of it), or where it is (`file:line`).
    #[arg(value_name = "finding")]
    pub id: String,
    /// Why (required).
    #[arg(short, long = "message", value_name = "reason", required = true)]
    pub message: String,
    /// Print the finding as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `git aiflow audit`.
pub fn audit(ctx: &mut Ctx, args: &AuditArgs) -> Result<(), CliError> {
    match &args.command {
        Some(AuditCommand::Accept(j)) => return judge(ctx, j, FindingStatus::Accepted),
        Some(AuditCommand::Dismiss(j)) => return judge(ctx, j, FindingStatus::Dismissed),
        None => {}
    }
    let repo = ctx.repo()?.clone();
    let set = ctx.flows()?;
    let whole_flow = match (&args.target, &args.flow) {
        (Some(t), None) => set.flows.iter().find(|e| e.flow.slug == *t).cloned(),
        _ => None,
    };
    let found;
    let entry;
    let scope = match whole_flow {
        Some(e) => {
            entry = e;
            Scope::Flow(&entry)
        }
        None => {
            let which = Which {
                subtask: args.target.clone(),
                flow: args.flow.clone(),
            };
            match work::find(ctx, &which) {
                Ok(f) => {
                    found = f;
                    Scope::Subtask(&found)
                }
                // On an integration branch, with nothing named: the whole flow.
                Err(e) if args.target.is_none() => match ctx.flow(args.flow.as_deref()) {
                    Ok((_, e)) => {
                        entry = e;
                        Scope::Flow(&entry)
                    }
                    Err(_) => return Err(e),
                },
                Err(e) => return Err(e),
            }
        }
    };
    let prepared = audit::prepare(&repo, &scope)?;
    if args.print_prompt {
        ctx.out.write_all(prepared.transcript().as_bytes())?;
        return Ok(());
    }
    let slug = prepared.flow.slug.clone();
    let (label, again) = match prepared.subtask.as_str() {
        "" => (format!("{slug}-audit"), format!("git aiflow audit {slug}")),
        s => (
            format!("{slug}-{s}-audit"),
            format!("git aiflow audit {s} --flow {slug}"),
        ),
    };
    let asker = args
        .provider
        .asker(&repo, prepared.templates.clone(), &label, again)?;
    let stamp = crate::git::committer_stamp(&repo)?;
    let done = audit::ask(&repo, prepared, &asker, &stamp, &mut ctx.err)?;
    if args.json {
        let mut v = serde_json::to_value(&done)
            .map_err(|e| CliError::usage("the audit cannot be written as JSON").source(e))?;
        v["flow"] = json!(slug);
        return ctx.json(&v);
    }
    render(ctx, &slug, &done)
}

/// The human answer: the audit and each finding.
fn render(ctx: &mut Ctx, slug: &str, done: &Audit) -> Result<(), CliError> {
    let subject = match done.subtask.as_str() {
        "" => format!("flow {slug}"),
        s => format!("subtask {s} of {slug}"),
    };
    let p = &done.provenance;
    let n = done.findings.len();
    writeln!(
        ctx.out,
        "Audit {} of {subject} by {}{}: {n} finding{}{}",
        done.id,
        p.provider,
        p.model
            .as_deref()
            .map(|m| format!(" ({})", clean(m)))
            .unwrap_or_default(),
        if n == 1 { "" } else { "s" },
        if done.truncated {
            " (the diff was cut to fit the prompt)"
        } else {
            ""
        }
    )?;
    for f in &done.findings {
        finding_lines(&mut ctx.out, f)?;
    }
    if n > 0 {
        writeln!(
            ctx.out,
            "  judge each: `git aiflow audit accept <id> -m REASON` or `git aiflow audit dismiss <id> -m REASON`"
        )?;
    }
    Ok(())
}

/// A finding as people read it: id, severity, where, what; then why and the fix, indented.
pub fn finding_lines(out: &mut impl Write, f: &Finding) -> std::io::Result<()> {
    let at = match f.line {
        Some(l) => format!("{}:{l}", clean(&f.file)),
        None => clean(&f.file).into_owned(),
    };
    writeln!(
        out,
        "  {} {:8} {:9} {}  {}",
        f.id,
        f.severity.as_str(),
        f.status.as_str(),
        at,
        clean(&f.what)
    )?;
    for (label, text) in [("why", &f.why), ("fix", &f.fix)] {
        if !text.trim().is_empty() {
            writeln!(out, "      {label}: {}", clean(text))?;
        }
    }
    if let Some(r) = &f.reason {
        writeln!(
            out,
            "      {} by {}: {}",
            f.status.as_str(),
            clean(f.judged_by.as_deref().unwrap_or("?")),
            clean(r)
        )?;
    }
    Ok(())
}

/// `audit accept|dismiss`.
fn judge(ctx: &mut Ctx, args: &JudgeArgs, status: FindingStatus) -> Result<(), CliError> {
    let repo = ctx.repo()?.clone();
    let set = ctx.flows()?;
    let stamp = crate::git::committer_stamp(&repo)?;
    let done = audit::judge(&repo, &set, &args.id, status, &args.message, &stamp)?;
    if args.json {
        let mut v = serde_json::to_value(&done.finding)
            .map_err(|e| CliError::usage("the finding cannot be written as JSON").source(e))?;
        v["flow"] = json!(done.flow);
        v["was"] = json!(done.was.as_str());
        return ctx.json(&v);
    }
    writeln!(
        ctx.out,
        "Finding {} of {} {} (was {})",
        done.finding.id,
        done.flow,
        status.as_str(),
        done.was.as_str()
    )?;
    Ok(())
}
