//! `git aiflow integrate` and `git aiflow finish`: the arguments, and the rendering of what
//! [`crate::work::integrate`] did (the merges, the gate before them and the records).

use super::work::{self, Which};
use super::{CliError, Ctx};
use crate::work::integrate::{self, Finish, Integrated, Merge, NextAfter};
use serde_json::json;
use std::io::Write;

/// Arguments of `integrate`.
#[derive(Debug, clap::Args)]
pub struct IntegrateArgs {
    #[command(flatten)]
    pub which: Which,
    /// Print JSON: {"flow", "subtask", "merge", "via"}.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `finish`.
#[derive(Debug, clap::Args)]
pub struct FinishArgs {
    /// The flow (default: the current branch's flow).
    pub slug: Option<String>,
    /// Print JSON: {"flow", "into", "merge", "via"}.
    #[arg(long)]
    pub json: bool,
}

/// `git aiflow integrate`.
pub fn integrate(ctx: &mut Ctx, args: &IntegrateArgs) -> Result<(), CliError> {
    let found = work::find(ctx, &args.which)?;
    let repo = ctx.repo()?.clone();
    let done = match integrate::integrate(&repo, &found)? {
        Integrated::Already { flow, subtask } => {
            if args.json {
                ctx.json(&json!({"flow": flow, "subtask": subtask, "merge": null, "via": null, "already": true}))?;
            } else {
                writeln!(ctx.out, "subtask {subtask} is merged already")?;
            }
            return Ok(());
        }
        Integrated::Done(done) => done,
    };
    if args.json {
        return ctx.json(&json!({
            "flow": done.flow,
            "subtask": done.subtask,
            "merge": done.merge.map(|m| m.commit.to_string()),
            "integration_tip": done.integration_tip.map(|t| t.to_string()),
            "via": done.merge.map(|m| m.via.as_str()),
        }));
    }
    let integration = &done.integration;
    match &done.merge {
        Some(m) => writeln!(
            ctx.out,
            "Integrated {} \"{}\" into {integration} ({}, merge {})",
            done.subtask,
            done.title,
            m.via.as_str(),
            m.commit.to_hex_with_len(7)
        )?,
        None => writeln!(
            ctx.out,
            "{} is in {integration} already; recorded {} as merged",
            done.branch, done.subtask
        )?,
    }
    match &done.next {
        NextAfter::Start { id, title } => {
            writeln!(ctx.out, "  next: `git aiflow start {id}` ({title})")?
        }
        NextAfter::Finish => writeln!(
            ctx.out,
            "  next: every subtask is in; `git aiflow finish {}`",
            done.flow
        )?,
        NextAfter::Nothing => {}
    }
    Ok(())
}

/// `git aiflow finish`.
pub fn finish(ctx: &mut Ctx, args: &FinishArgs) -> Result<(), CliError> {
    let (_, entry) = ctx.flow(args.slug.as_deref())?;
    let repo = ctx.repo()?.clone();
    let done = match integrate::finish(&repo, &entry)? {
        Finish::Already { flow, finished } => {
            if args.json {
                ctx.json(&json!({"flow": flow, "into": finished.as_ref().map(|f| &f.into), "merge": finished.as_ref().map(|f| &f.commit), "via": null, "already": true}))?;
            } else {
                writeln!(ctx.out, "flow {flow} is finished already")?;
            }
            return Ok(());
        }
        Finish::Done(done) => done,
    };
    if args.json {
        return ctx.json(&json!({
            "flow": done.flow,
            "into": done.into,
            "merge": done.commit.to_string(),
            "via": done.merge.map(|m| m.via.as_str()),
        }));
    }
    writeln!(
        ctx.out,
        "Finished {}: {} merged into {} ({})",
        done.flow,
        done.integration,
        done.into_short,
        done.merge
            .as_ref()
            .map(|m: &Merge| format!("{}, merge {}", m.via.as_str(), m.commit.to_hex_with_len(7)))
            .unwrap_or_else(|| "it was there already".into())
    )?;
    Ok(())
}
