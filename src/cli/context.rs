//! What every command gets: the starting directory, output streams, the repository, and the
//! lookup of the flow a command is about.

use super::error::CliError;
use crate::store::{FlowEntry, FlowSet, Snapshot};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// The command context.
pub struct Ctx {
    /// Where the command was started (after `-C`).
    pub dir: PathBuf,
    /// Standard output, buffered.
    pub out: BufWriter<std::io::Stdout>,
    repo: Option<gix::Repository>,
}

impl Ctx {
    /// A context starting in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Ctx {
            dir,
            out: BufWriter::new(std::io::stdout()),
            repo: None,
        }
    }

    /// The repository, opened on first use.
    pub fn repo(&mut self) -> Result<&gix::Repository, CliError> {
        if self.repo.is_none() {
            self.repo = Some(crate::git::open(&self.dir)?);
        }
        Ok(self.repo.as_ref().expect("just opened"))
    }

    /// Print a warning on stderr.
    pub fn warn(&mut self, message: impl std::fmt::Display) {
        let _ = self.out.flush();
        eprintln!("warning: {message}");
    }

    /// Print a hint on stderr.
    pub fn hint(&mut self, message: impl std::fmt::Display) {
        let _ = self.out.flush();
        eprintln!("hint: {message}");
    }

    /// Write a value as pretty JSON followed by a newline.
    pub fn json(&mut self, value: &serde_json::Value) -> Result<(), CliError> {
        serde_json::to_writer_pretty(&mut self.out, value).map_err(std::io::Error::from)?;
        writeln!(self.out)?;
        Ok(())
    }

    /// Every flow in the repository.
    pub fn flows(&mut self) -> Result<FlowSet, CliError> {
        let repo = self.repo()?;
        let snap = Snapshot::load(repo)?;
        Ok(snap.flows(repo)?)
    }

    /// The flow named `slug`, or the one the current branch belongs to.
    pub fn flow(&mut self, slug: Option<&str>) -> Result<(FlowSet, FlowEntry), CliError> {
        let set = self.flows()?;
        let slug = match slug {
            Some(s) => s.to_string(),
            None => self.current_flow_slug(&set)?,
        };
        let entry = set.find(&slug)?.clone();
        Ok((set, entry))
    }

    fn current_flow_slug(&mut self, set: &FlowSet) -> Result<String, CliError> {
        let repo = self.repo()?;
        let head = repo
            .head_name()
            .map_err(|e| CliError::usage("could not read HEAD").source(e))?;
        let hint = if set.flows.is_empty() {
            "there are no flows yet; start one with `git aiflow new <slug>`".to_string()
        } else {
            format!(
                "name the flow, for example `git aiflow status {}`; flows: {}",
                set.flows[0].flow.slug,
                set.flows
                    .iter()
                    .map(|e| e.flow.slug.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let Some(head) = head else {
            return Err(
                CliError::usage("HEAD is detached, so there is no current flow").hint(hint),
            );
        };
        let branch = head.as_bstr().to_string();
        let short = crate::git::short_ref(&branch).to_string();
        if let Some(slug) = flow_of_branch(set, &short) {
            return Ok(slug);
        }
        Err(CliError::usage(format!(
            "the current branch `{short}` does not belong to a flow"
        ))
        .hint(hint))
    }
}

/// The flow whose integration branch or one of whose subtask branches is `branch`.
pub fn flow_of_branch(set: &FlowSet, branch: &str) -> Option<String> {
    for e in &set.flows {
        let f = &e.flow;
        if f.integration_branch == branch {
            return Some(f.slug.clone());
        }
        let is_subtask = f
            .plans
            .iter()
            .flat_map(|p| &p.subtasks)
            .any(|s| s.branch.as_deref() == Some(branch));
        if is_subtask || branch.starts_with(&format!("{}--", f.integration_branch)) {
            return Some(f.slug.clone());
        }
    }
    None
}

/// Print a warning for each problem note, limited to those of `slug` when given.
pub fn report_problems(ctx: &mut Ctx, set: &FlowSet, slug: Option<&str>) {
    for p in &set.problems {
        if slug.is_some() && p.slug.as_deref() != slug {
            continue;
        }
        ctx.warn(format!("{}: {}", p.subject(), p.error));
        ctx.hint(p.hint());
    }
}
