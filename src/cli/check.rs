//! `git aiflow check`: the gate, from the command line and CI.

use super::{CliError, Ctx, Exit};
use crate::gate::Report;
use crate::gate::range::{self, Plan};
use std::io::Write;

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Revisions as `git rev-list` takes them: `A..B`, `^A`, `B`. With none: what the current
    /// merge (MERGE_HEAD) or the current flow branch would bring into its integration branch or
    /// base.
    #[arg(value_name = "rev-range")]
    pub revs: Vec<String>,
    /// Every ref (all of `refs/`, and HEAD) as a tip, as `git log --all`; refs that point to
    /// trees or blobs are skipped as git skips them. Combines with `^A` to hide commits.
    #[arg(long)]
    pub all: bool,
    /// Print JSON (the fields are listed in the README).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Output format: human, json, or github (workflow-command annotations for GitHub Actions).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Lines for people.
    Human,
    /// One JSON object.
    Json,
    /// GitHub Actions `::error` annotations.
    Github,
}

/// Run `check`.
pub fn run(ctx: &mut Ctx, args: &CheckArgs) -> Result<(), CliError> {
    let format = if args.json {
        Format::Json
    } else {
        args.format.unwrap_or(Format::Human)
    };
    let repo = ctx.repo()?;
    let plan = if args.revs.is_empty() && !args.all {
        range::implicit(repo)?
    } else {
        range::explicit(repo, &args.revs, args.all)?
    };
    let report = range::run(repo, &plan)?;
    print(ctx, format, &plan, &report)?;
    if format != Format::Json {
        for n in &report.notices {
            ctx.warn(n);
        }
    }
    if report.ok() {
        Ok(())
    } else {
        // The report is the message.
        Err(CliError::silent(Exit::Refused))
    }
}

fn print(ctx: &mut Ctx, format: Format, plan: &Plan, report: &Report) -> Result<(), CliError> {
    match format {
        Format::Json => ctx.json(&json(plan, report)),
        Format::Human => human(ctx, plan, report),
        Format::Github => github(ctx, plan, report),
    }
}

/// The report as one JSON object.
fn json(plan: &Plan, report: &Report) -> serde_json::Value {
    let policy = &plan.policy;
    let failures: Vec<serde_json::Value> = report
        .failures
        .iter()
        .map(|f| {
            serde_json::json!({
                "commit": f.id.to_string(),
                "subject": f.subject,
                "author": f.author,
                "reason": f.reason.code(),
                "detail": f.reason.describe(policy),
            })
        })
        .collect();
    let signatures: Vec<serde_json::Value> = report
        .signed
        .iter()
        .map(|s| {
            serde_json::json!({
                "commit": s.commit.to_string(),
                "signer": s.principal,
                "key": s.fingerprint,
                "algorithm": s.algorithm,
                "at": s.at,
            })
        })
        .collect();
    serde_json::json!({
        "ok": report.ok(),
        "range": plan.label,
        "scope": plan.scope.name(),
        "policy": policy.source,
        "reviews": policy.reviews.name(),
        "commits": report.commits,
        "reviewed": report.reviewed,
        "exempt": report.exempt,
        "out_of_scope": report.out_of_scope,
        "failures": failures,
        "signatures": signatures,
        "notices": report.notices,
    })
}

/// The report as lines for people: each failure, then the summary.
fn human(ctx: &mut Ctx, plan: &Plan, report: &Report) -> Result<(), CliError> {
    for f in &report.failures {
        writeln!(
            ctx.out,
            "{} {} ({}): {}",
            f.id.to_hex_with_len(12),
            f.subject,
            f.author,
            f.reason.describe(&plan.policy)
        )?;
    }
    writeln!(ctx.out, "{}", summary(plan, report))?;
    Ok(())
}

/// The report as GitHub Actions workflow commands.
fn github(ctx: &mut Ctx, plan: &Plan, report: &Report) -> Result<(), CliError> {
    for f in &report.failures {
        writeln!(
            ctx.out,
            "::error title={}::{}",
            escape_property(&format!("Unreviewed commit {}", f.id.to_hex_with_len(12))),
            escape_data(&format!(
                "{} ({}): {}",
                f.subject,
                f.author,
                f.reason.describe(&plan.policy)
            ))
        )?;
    }
    let level = if report.ok() { "notice" } else { "error" };
    writeln!(
        ctx.out,
        "::{level} title=aiflow check::{}",
        escape_data(&summary(plan, report))
    )?;
    Ok(())
}

fn summary(plan: &Plan, report: &Report) -> String {
    let mut parts = vec![format!("{} reviewed", report.reviewed)];
    if report.exempt > 0 {
        parts.push(format!("{} exempt", report.exempt));
    }
    if report.out_of_scope > 0 {
        parts.push(format!("{} outside any flow", report.out_of_scope));
    }
    let verdict = if report.ok() {
        "ok".to_owned()
    } else {
        format!("{} without a valid review", report.failures.len())
    };
    format!(
        "aiflow: {} commit{} in {} ({}; {}): {verdict}",
        report.commits,
        if report.commits == 1 { "" } else { "s" },
        plan.label,
        parts.join(", "),
        plan.policy.source,
    )
}

/// Escape a workflow-command message (GitHub's `escapeData`).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape a workflow-command property (GitHub's `escapeProperty`).
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}
