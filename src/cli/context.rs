//! What every command gets: the starting directory, output streams, the repository, and the
//! lookup of the flow a command is about.

use super::error::CliError;
use crate::git::Repository;
use crate::store::index::FlowIndex;
use crate::store::{FlowEntry, FlowSet, Problem, Snapshot};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The command context: where the command runs, where its output and diagnostics go, and the
/// repository once opened. The binary gives it the process's streams; [`super::run_in`] gives
/// it any writers, so that a command can run in-process and its output be compared.
pub struct Ctx {
    /// Standard output, buffered.
    pub out: BufWriter<Box<dyn Write>>,
    /// Standard error: warnings, hints and errors.
    pub err: Box<dyn Write>,
    dir: PathBuf,
    /// `out` and `err` are the process's own standard output and error.
    process_streams: bool,
    repo: Option<Repository>,
    /// A JSON document was written to `out`: an error after it is not written as JSON too.
    pub(super) json_written: bool,
}

/// Where a command's output goes, for a child process whose output is the command's.
pub enum Streams<'a> {
    /// The process's standard output and error: a child inherits them (a terminal stays one).
    Process,
    /// Writers the caller gave ([`super::run_in`]): a child's output is forwarded to them.
    Given {
        /// The command's output.
        out: &'a mut dyn Write,
        /// Its diagnostics.
        err: &'a mut dyn Write,
    },
}

impl Default for Ctx {
    /// A context in the current directory (`-C` has already changed to it), on the process's
    /// standard output and error.
    fn default() -> Self {
        let mut ctx = Ctx::new(
            PathBuf::from("."),
            Box::new(std::io::stdout()),
            Box::new(std::io::stderr()),
        );
        ctx.process_streams = true;
        ctx
    }
}

impl Ctx {
    /// A context running in `dir`, writing to `out` and `err`.
    pub fn new(dir: PathBuf, out: Box<dyn Write>, err: Box<dyn Write>) -> Self {
        Ctx {
            out: BufWriter::new(out),
            err,
            dir,
            process_streams: false,
            repo: None,
            json_written: false,
        }
    }

    /// Where output goes, for a child whose output is this command's. What was written so far
    /// is flushed first, so that the child's output follows it.
    pub fn streams(&mut self) -> Streams<'_> {
        let _ = self.out.flush();
        let _ = self.err.flush();
        if self.process_streams {
            Streams::Process
        } else {
            Streams::Given {
                out: &mut self.out,
                err: &mut self.err,
            }
        }
    }

    /// `path` as the user meant it: relative to the directory the command runs in.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() || self.dir == Path::new(".") {
            path.to_owned()
        } else {
            self.dir.join(path)
        }
    }

    /// The repository, opened on first use.
    pub fn repo(&mut self) -> Result<&Repository, CliError> {
        if self.repo.is_none() {
            let repo = crate::git::open(&self.dir)?;
            // Learn which environment variable holds the API key, so that every write redacts it.
            crate::ai::secrets::remember_repo(&repo);
            self.repo = Some(repo);
        }
        Ok(self.repo.as_ref().expect("just opened"))
    }

    /// Keep `refs/notes/aiflow-log`, what `git log` shows, in step with `refs/notes/aiflow` after a
    /// command that opened the repository ([`crate::work::display::refresh`]); `fresh` reopens it
    /// first, for a command that changed its config. A failure is a warning: the display ref is
    /// derived, and the next command tries again.
    pub fn refresh_display(&mut self, fresh: bool) {
        // In a server's quarantine (a pre-receive hook running a command), a ref written to
        // objects git may delete would corrupt the repository: write nothing there.
        if std::env::var_os("GIT_QUARANTINE_PATH").is_some() {
            return;
        }
        let Some(repo) = &self.repo else { return };
        let reopened;
        let repo = if fresh {
            match crate::git::open(&self.dir) {
                Ok(r) => {
                    reopened = r;
                    &reopened
                }
                Err(_) => return,
            }
        } else {
            repo
        };
        if let Err(e) = crate::work::display::refresh(repo) {
            let mut message = format!(
                "could not update {}: {e}",
                crate::work::display::DISPLAY_REF
            );
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            self.warn(message);
        }
    }

    /// The repository and the error stream at once, for a library call that reports on
    /// standard error while it reads the repository (the hooks).
    pub fn repo_and_err(&mut self) -> Result<(&Repository, &mut dyn Write), CliError> {
        self.repo()?;
        let _ = self.out.flush();
        match &self.repo {
            Some(repo) => Ok((repo, &mut self.err)),
            // `repo()` just opened it.
            None => Err(CliError::usage("the repository could not be opened")),
        }
    }

    /// Print a warning on stderr.
    pub fn warn(&mut self, message: impl std::fmt::Display) {
        let _ = self.out.flush();
        let _ = writeln!(self.err, "warning: {message}");
    }

    /// Print a hint on stderr.
    pub fn hint(&mut self, message: impl std::fmt::Display) {
        let _ = self.out.flush();
        let _ = writeln!(self.err, "hint: {message}");
    }

    /// Write a value as pretty JSON followed by a newline. Strings keep their values exactly, but
    /// what a terminal would act on is written as `\u` escapes (notes are written by anyone who
    /// can push them): serde_json escapes C0 controls, and [`crate::ai::sanitize::SafeJson`]
    /// the C1 controls, DEL, bidi controls and tag characters.
    pub fn json(&mut self, value: &serde_json::Value) -> Result<(), CliError> {
        self.json_written = true;
        crate::ai::sanitize::write_json_pretty(&mut self.out, value)
            .map_err(std::io::Error::from)?;
        writeln!(self.out)?;
        Ok(())
    }

    /// Every flow in the repository.
    pub fn flows(&mut self) -> Result<FlowSet, CliError> {
        let repo = self.repo()?;
        let snap = Snapshot::load(repo)?;
        Ok(snap.flows(repo)?)
    }

    /// Every flow in brief ([`FlowIndex`]: only notes it has not seen are decoded), keeping the
    /// cache file up to date; titles are filled.
    pub fn flow_index(&mut self) -> Result<FlowIndex, CliError> {
        let repo = self.repo()?;
        Ok(FlowIndex::load(repo, true)?.with_titles(repo)?)
    }

    /// The flow named `slug` (its note alone is decoded), or the one the current branch belongs
    /// to; with the notes that are not usable flows. Writes nothing.
    pub fn flow(&mut self, slug: Option<&str>) -> Result<(Vec<Problem>, FlowEntry), CliError> {
        self.flow_keeping(slug, false)
    }

    /// [`Ctx::flow`]; with `keep`, the flow cache file is brought up to date (`status`).
    pub fn flow_keeping(
        &mut self,
        slug: Option<&str>,
        keep: bool,
    ) -> Result<(Vec<Problem>, FlowEntry), CliError> {
        let Some(slug) = slug else {
            let set = self.flows()?;
            let (set, entry) = self.flow_in(set, None)?;
            return Ok((set.problems, entry));
        };
        let index = FlowIndex::for_slug(self.repo()?, slug, keep)?;
        let summary = index.find(slug)?;
        match index.entry(self.repo()?, summary)? {
            Some(entry) => Ok((index.problems, entry)),
            None => {
                let set = self.flows()?;
                let (set, entry) = self.flow_in(set, Some(slug))?;
                Ok((set.problems, entry))
            }
        }
    }

    /// The flow named `slug` in `set` (already read), or the one the current branch belongs to.
    pub fn flow_in(
        &mut self,
        set: FlowSet,
        slug: Option<&str>,
    ) -> Result<(FlowSet, FlowEntry), CliError> {
        let slug = match slug {
            Some(s) => s.to_string(),
            None => self.current_flow_slug(&set)?,
        };
        let entry = set.find(&slug)?.clone();
        Ok((set, entry))
    }

    fn current_flow_slug(&mut self, set: &FlowSet) -> Result<String, CliError> {
        Ok(crate::work::flow_of_head(self.repo()?, set)?)
    }
}

/// Print a warning for each problem note, limited to those of `slug` when given.
pub fn report_problems(ctx: &mut Ctx, set: &FlowSet, slug: Option<&str>) {
    report_problem_list(ctx, &set.problems, slug);
}

/// Print a warning for each of `problems`, limited to those of `slug` when given.
pub fn report_problem_list(ctx: &mut Ctx, problems: &[Problem], slug: Option<&str>) {
    for p in problems {
        if slug.is_some() && p.slug.as_deref() != slug {
            continue;
        }
        ctx.warn(format!("{}: {}", p.subject(), p.error));
        ctx.hint(p.hint());
    }
}
