//! `git aiflow integrate` and `git aiflow finish`: the arguments, and the rendering of what
//! [`crate::work::integrate`] did (the merges, the gate before them and the records).

use super::work::{self, Which};
use super::{CliError, Ctx};
use crate::work::integrate::{self, Finish, Integrated, Merge, NextAfter};
use crate::work::prune::{self, Pruned, Returned};
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
    /// Then delete the flow's branches that are in the base (integration and subtask branches).
    #[arg(long)]
    pub delete_branches: bool,
    /// Print JSON: {"flow", "into", "merge", "via", "switched_to", "branches"}.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `prune`.
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// The finished flows whose branches to delete (default: every finished flow).
    #[arg(value_name = "slug")]
    pub slugs: Vec<String>,
    /// Only say which branches would be deleted.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Print JSON: {"flows": [{"flow", "branches": [{"branch", "tip", "outcome", "reason"}]}]}.
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
        NextAfter::Nothing => writeln!(
            ctx.out,
            "  next: nothing can start yet; `git aiflow status {}` shows what is under way",
            done.flow
        )?,
    }
    Ok(())
}

/// `git aiflow finish`.
pub fn finish(ctx: &mut Ctx, args: &FinishArgs) -> Result<(), CliError> {
    let (_, entry) = ctx.flow(args.slug.as_deref())?;
    let repo = ctx.repo()?.clone();
    let done = match integrate::finish(&repo, &entry)? {
        Finish::Already { flow, finished } => {
            let pruned = match args.delete_branches {
                true => prune::prune(&repo, &entry.flow, false)?,
                false => Vec::new(),
            };
            if args.json {
                ctx.json(&json!({"flow": flow, "into": finished.as_ref().map(|f| &f.into), "merge": finished.as_ref().map(|f| &f.commit), "via": null, "already": true, "branches": pruned}))?;
            } else {
                writeln!(ctx.out, "flow {flow} is finished already")?;
                print_pruned(ctx, &pruned)?;
            }
            return Ok(());
        }
        Finish::Done(done) => done,
    };
    let returned = prune::return_to_base(&repo, &entry.flow, &done.into_short)?;
    let pruned = match args.delete_branches {
        true => prune::prune(&repo, &entry.flow, false)?,
        false => Vec::new(),
    };
    if args.json {
        return ctx.json(&json!({
            "flow": done.flow,
            "into": done.into,
            "merge": done.commit.to_string(),
            "via": done.merge.map(|m| m.via.as_str()),
            "switched_to": match &returned {
                Returned::Switched(b) => Some(b),
                _ => None,
            },
            "branches": pruned,
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
    match &returned {
        Returned::Switched(b) => writeln!(ctx.out, "Switched to branch '{b}'")?,
        Returned::Kept { branch, why } => {
            writeln!(ctx.out, "still on {branch}: {why}")?;
            ctx.hint(format!(
                "go back to the base when you are ready: `git switch {}`",
                done.into_short
            ));
        }
        Returned::Stayed => {}
    }
    if args.delete_branches {
        print_pruned(ctx, &pruned)?;
    } else {
        writeln!(
            ctx.out,
            "  next: delete its merged branches with `git aiflow prune {}`",
            done.flow
        )?;
    }
    Ok(())
}

/// One line per branch `prune` acted on, in `git branch -d`'s words.
fn print_pruned(ctx: &mut Ctx, pruned: &[Pruned]) -> Result<(), CliError> {
    for p in pruned {
        let tip = &p.tip[..7.min(p.tip.len())];
        match p.outcome {
            "deleted" => writeln!(ctx.out, "Deleted branch {} (was {tip}).", p.branch)?,
            "would-delete" => writeln!(ctx.out, "Would delete branch {} (was {tip}).", p.branch)?,
            _ => ctx.warn(format!(
                "kept {}: {}",
                p.branch,
                p.reason.as_deref().unwrap_or(p.outcome)
            )),
        }
    }
    Ok(())
}

/// `git aiflow prune`.
pub fn prune(ctx: &mut Ctx, args: &PruneArgs) -> Result<(), CliError> {
    let set = ctx.flows()?;
    let repo = ctx.repo()?.clone();
    let flows: Vec<crate::flow::Flow> = if args.slugs.is_empty() {
        set.flows
            .iter()
            .filter(|e| prune::is_finished(&e.flow))
            .map(|e| e.flow.clone())
            .collect()
    } else {
        let mut out = Vec::new();
        for slug in &args.slugs {
            let flow = set.find(slug)?.flow.clone();
            if !prune::is_finished(&flow) {
                return Err(CliError::refused(format!(
                    "flow {slug} is not finished; its branches are still in use"
                ))
                .hint(format!("finish it first: `git aiflow finish {slug}`")));
            }
            out.push(flow);
        }
        out
    };
    let mut done = Vec::new();
    for flow in &flows {
        done.push((flow.slug.clone(), prune::prune(&repo, flow, args.dry_run)?));
    }
    if args.json {
        let flows: Vec<serde_json::Value> = done
            .iter()
            .map(|(slug, b)| json!({"flow": slug, "branches": b}))
            .collect();
        return ctx.json(&json!({ "dry_run": args.dry_run, "flows": flows }));
    }
    let mut any = false;
    for (_, pruned) in &done {
        any |= !pruned.is_empty();
        print_pruned(ctx, pruned)?;
    }
    if !any {
        writeln!(ctx.out, "no finished flow has branches left")?;
    }
    Ok(())
}
