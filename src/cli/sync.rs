//! `git aiflow sync [<remote>]`: share flows and their branches with a remote, losing nothing.
//!
//! The protocol is [`crate::sync`]; this file turns the arguments into its options and prints
//! its report, as text or `--json`.

use super::{CliError, Ctx};
use crate::store::{
    NOTES_REF,
    merge::{Action, Side},
};
use crate::sync::{self, BranchAction, BranchOutcome, Report, short};
use std::io::Write;

/// Arguments of `git aiflow sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// The remote (default: `aiflow.remote`, the only remote, or `origin`).
    pub remote: Option<String>,
    /// Fetch into the remote-tracking refs and say what would move; change nothing else.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Fetch and merge, but push nothing (for remotes you cannot write to).
    #[arg(long)]
    pub no_push: bool,
    /// Sync only the flows (the notes), not their branches.
    #[arg(long)]
    pub notes_only: bool,
    /// Also push this flow branch when it has no commit of yours (repeatable).
    #[arg(long = "branch", value_name = "NAME")]
    pub branches: Vec<String>,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &mut Ctx, args: &SyncArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?.clone();
    let options = sync::Options {
        remote: sync::resolve_remote(&repo, args.remote.as_deref())?,
        dry_run: args.dry_run,
        no_push: args.no_push,
        notes_only: args.notes_only,
        branches: args.branches.clone(),
    };
    let report = sync::run(&repo, &options, &mut |w| ctx.warn(w))?;
    if args.json {
        let value = serde_json::to_value(&report)
            .map_err(|e| CliError::usage("could not write the report as JSON").source(e))?;
        ctx.json(&value)?;
    } else {
        print(&mut ctx.out, &report)?;
    }
    Ok(report.check()?)
}

/// The report as text.
fn print(out: &mut impl Write, r: &Report) -> Result<(), CliError> {
    print_notes(out, r)?;
    for b in r.branches.iter() {
        if b.action != BranchAction::UpToDate {
            writeln!(out, "Branch {}: {}", b.name, branch_line(r, b))?;
        }
    }
    if r.dry_run {
        writeln!(out, "Dry run: nothing local moved and nothing was pushed.")?;
    }
    Ok(())
}

/// The notes: what the merge did, the flows and notes that differed, the conflicts decided.
fn print_notes(out: &mut impl Write, r: &Report) -> Result<(), CliError> {
    let would = if r.dry_run { "would be " } else { "" };
    let (remote, n) = (&r.remote, &r.notes);
    match n.action {
        Action::None => writeln!(out, "No flows here or on {remote}.")?,
        Action::UpToDate => writeln!(out, "Flows: up to date with {remote}.")?,
        Action::FastForward => writeln!(
            out,
            "Flows: {would}fast-forwarded to {remote}'s ({}).",
            short(n.result)
        )?,
        Action::Ahead => {
            let verb = if r.dry_run {
                "would take"
            } else if n.pushed {
                "took"
            } else {
                "did not take (nothing pushed)"
            };
            writeln!(out, "Flows: {remote} {verb} yours ({}).", short(n.result))?
        }
        Action::Merged => writeln!(
            out,
            "Flows: yours and {remote}'s {would}merged in {}.",
            short(n.result)
        )?,
    }
    for f in &r.flows {
        let what = match f.change {
            Side::FromRemote => format!("changed on {remote}"),
            Side::ToRemote => "changed here".to_owned(),
            Side::Merged => "changed on both sides, merged".to_owned(),
        };
        writeln!(out, "  {:<24} {what}", f.slug)?;
    }
    let s = r.steps;
    if s.from_remote + s.to_remote + s.merged > 0 {
        writeln!(
            out,
            "  step notes: {} from {remote}, {} from here, {} merged",
            s.from_remote, s.to_remote, s.merged
        )?;
    }
    for c in &r.conflicts {
        writeln!(
            out,
            "  conflict {} {}: kept {} ({})\n      ours:   {}\n      theirs: {}",
            c.flow.as_deref().unwrap_or(&c.object),
            c.conflict.field,
            c.conflict.kept,
            c.conflict.rule,
            c.conflict.ours,
            c.conflict.theirs,
        )?;
    }
    if !r.conflicts.is_empty() {
        writeln!(
            out,
            "  Both values stay in `git log -p {NOTES_REF}` (the merge's parents)."
        )?;
    }
    Ok(())
}

/// What happened to one branch, after `Branch <name>: `.
fn branch_line(r: &Report, b: &BranchOutcome) -> String {
    let would = if r.dry_run { "would be " } else { "" };
    let remote = &r.remote;
    let reason = b.reason.as_deref().unwrap_or_default();
    match b.action {
        BranchAction::Created => {
            format!("{would}created from {remote} at {}", short(b.remote_before))
        }
        BranchAction::FastForward => format!(
            "{would}fast-forwarded {}..{}",
            short(b.local_before),
            short(b.target)
        ),
        BranchAction::Pushed if r.dry_run => {
            format!("would be pushed ({})", short(b.local_before))
        }
        BranchAction::Pushed if r.notes.pushed => format!(
            "pushed {}..{}",
            short(b.remote_before),
            short(b.local_before)
        ),
        BranchAction::Pushed => format!("not pushed ({} ahead)", short(b.local_before)),
        BranchAction::Reconciled => {
            format!("{would}reconciled at {}: {reason}", short(b.target))
        }
        other => format!("{other}: {reason}"),
    }
}
