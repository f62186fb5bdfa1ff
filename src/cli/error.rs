//! The one place where errors become a message, a `caused by:` chain, hints and an exit code.

use crate::flow::Invalid;
use crate::git::{IdentityError, OpenError};
use crate::store::{LookupError, StoreError};
use std::error::Error as StdError;
use std::fmt;
use std::io::Write;

/// Process exit codes (documented in the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// Refused: the gate failed, or the user must act first.
    Refused = 1,
    /// Usage, input or environment error.
    Usage = 2,
}

/// An error on its way to the user.
#[derive(Debug)]
pub struct CliError {
    /// The exit code it maps to.
    pub exit: Exit,
    /// The top-level message.
    pub message: String,
    /// The cause, printed as a `caused by:` chain.
    pub source: Option<Box<dyn StdError + Send + Sync>>,
    /// What to do about it.
    pub hints: Vec<String>,
    /// Stdout went away (a closed pipe): exit quietly.
    pub broken_pipe: bool,
}

impl CliError {
    /// A usage, input or environment error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    /// A refusal: the user must act first (exit 1).
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(Exit::Refused, message)
    }

    /// An exit code whose message was printed already.
    pub fn silent(exit: Exit) -> Self {
        Self::new(exit, String::new())
    }

    fn new(exit: Exit, message: impl Into<String>) -> Self {
        CliError {
            exit,
            message: message.into(),
            source: None,
            hints: Vec::new(),
            broken_pipe: false,
        }
    }

    /// Attach a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Attach the cause.
    pub fn source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Attach the cause of a process that could not be run: the system's error or the timeout
    /// (the message names the command already).
    pub fn process(mut self, e: crate::git::process::ProcessError) -> Self {
        self.source = Some(crate::git::process::cause(e));
        self
    }

    /// Nothing to print: the message was printed already.
    pub fn is_silent(&self) -> bool {
        self.message.is_empty() && self.source.is_none() && self.hints.is_empty()
    }

    /// The `caused by:` lines, outermost first, each printed once.
    fn causes(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut cause: Option<&(dyn StdError + 'static)> = self.source.as_deref().map(|e| e as _);
        let mut last = self.message.clone();
        while let Some(c) = cause {
            let text = c.to_string();
            // thiserror's `transparent` and our own wrapping can repeat a message; print it once.
            if text != last && !last.ends_with(&text) {
                out.push(text.clone());
            }
            last = text;
            cause = c.source();
        }
        out
    }

    /// Print to `err` in git's style.
    pub fn print(&self, err: &mut dyn Write) {
        if self.is_silent() {
            return;
        }
        let _ = writeln!(err, "error: {}", self.message);
        for c in self.causes() {
            let _ = writeln!(err, "caused by: {c}");
        }
        for h in &self.hints {
            let _ = writeln!(err, "hint: {h}");
        }
    }

    /// The error as `--json` prints it on stdout:
    /// `{"error": {"message", "causes": [..], "hints": [..], "exit"}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "message": self.message,
                "causes": self.causes(),
                "hints": self.hints,
                "exit": self.exit as u8,
            }
        })
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            let mut c = CliError::usage("broken pipe");
            c.exit = Exit::Ok;
            c.broken_pipe = true;
            return c;
        }
        CliError::usage("input/output error").source(e)
    }
}

impl From<OpenError> for CliError {
    fn from(e: OpenError) -> Self {
        let hint = match &e {
            OpenError::NotARepository { .. } => {
                "run this inside a git repository, or create one with `git init`"
            }
            OpenError::Reftable { .. } => {
                "convert the repository with `git refs migrate --ref-format=files`, or use git-aiflow in a clone made with `git clone --ref-format=files`"
            }
            OpenError::Params(_) | OpenError::ApplyParams { .. } => {
                "check the `-c` options given to git (`git -c key=value aiflow …`)"
            }
            OpenError::Other { .. } => "check that `git status` works here",
        };
        CliError::usage(e.to_string())
            .hint(hint)
            .source_opt(StdError::source(&e).map(|s| s.to_string()))
    }
}

impl CliError {
    fn source_opt(self, text: Option<String>) -> Self {
        match text {
            Some(t) => self.source(Message(t)),
            None => self,
        }
    }
}

pub use crate::Message;

/// A chain of causes known only as text (scrubbed of secrets), printed link by link.
#[derive(Debug)]
struct Chain {
    text: String,
    next: Option<Box<Chain>>,
}

impl Chain {
    /// The chain of `texts`, outermost first; `None` when there are none.
    pub fn of(texts: &[String]) -> Option<Chain> {
        let (first, rest) = texts.split_first()?;
        Some(Chain {
            text: first.clone(),
            next: Chain::of(rest).map(Box::new),
        })
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl StdError for Chain {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.next.as_deref().map(|c| c as _)
    }
}

impl From<IdentityError> for CliError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::Missing => CliError::usage("no identity is configured, so git-aiflow cannot record who made this change")
                .hint("set it as you would for git: `git config user.name \"Your Name\"` and `git config user.email you@example.com`"),
            IdentityError::BadDate(_) => CliError::usage(e.to_string())
                .hint("check GIT_COMMITTER_DATE")
                .source(e),
        }
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::DuplicateFanout { object } => {
                let hint = crate::store::duplicate_fanout_hint(object);
                CliError::refused(e.to_string()).hint(hint)
            }
            StoreError::Contention { .. } => CliError::usage(e.to_string())
                .hint("another program is writing refs/notes/aiflow continuously; try again when it is done"),
            StoreError::Invalid(i) => {
                let fix = i.fix.clone();
                CliError::usage(e.to_string()).hint(fix).source(e)
            }
            StoreError::RefName { .. } => CliError::usage(e.to_string())
                .hint("a note names this ref; check `git notes --ref=aiflow list` and the flow's subtask branches")
                .source(e),
            StoreError::Read(_) | StoreError::Write(_) | StoreError::Pack(_) => CliError::usage(e.to_string()).source(e),
        }
    }
}

impl From<LookupError> for CliError {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::NotFound { ref known, .. } => {
                let hint = if known.is_empty() {
                    "there are no flows yet; start one with `git aiflow new <slug>`".to_string()
                } else {
                    format!("known flows: {}", known.join(", "))
                };
                CliError::usage(e.to_string()).hint(hint)
            }
            LookupError::Broken { ref problem, .. } => {
                let hint = problem.hint();
                CliError::refused(e.to_string()).hint(hint).source(e)
            }
        }
    }
}

impl From<Invalid> for CliError {
    fn from(e: Invalid) -> Self {
        let fix = e.fix.clone();
        CliError::usage(e.to_string()).hint(fix)
    }
}

impl From<crate::ai::AiError> for CliError {
    fn from(e: crate::ai::AiError) -> Self {
        let mut c = match e.kind {
            crate::ai::ErrorKind::Aborted => CliError::refused(e.message.clone()),
            _ => CliError::usage(e.message.clone()),
        };
        if let Some(chain) = Chain::of(&e.causes) {
            c = c.source(chain);
        }
        for h in &e.hints {
            c = c.hint(h.clone());
        }
        c
    }
}

impl From<crate::ai::prompt::TemplateError> for CliError {
    fn from(e: crate::ai::prompt::TemplateError) -> Self {
        let hint = if e.file.starts_with(crate::ai::prompt::OVERRIDE_DIR) {
            format!("fix {}, or remove it to use the embedded template", e.file)
        } else {
            "this is a bug in git-aiflow's embedded template; please report it".to_string()
        };
        CliError::usage(e.to_string()).hint(hint)
    }
}

impl From<crate::work::WorkError> for CliError {
    fn from(e: crate::work::WorkError) -> Self {
        use crate::work::WorkError as W;
        let (mut c, hints, source) = match e {
            W::Lifecycle(r) => return r.into(),
            W::Refused {
                message,
                hints,
                source,
            } => (CliError::refused(message), hints, source),
            W::Invalid {
                message,
                hints,
                source,
            } => (CliError::usage(message), hints, source),
            W::Lookup(e) => return e.into(),
            W::Store(e) => return e.into(),
            W::Git(e) => return e.into(),
            W::Rewrite(e) => return e.into(),
            W::Identity(e) => return e.into(),
            W::Open(e) => return e.into(),
            W::Check(e) => return e.into(),
            W::Policy(e) => return e.into(),
            W::Template(e) => return e.into(),
            W::Io(e) => return e.into(),
            W::Ask(e) => return e.into(),
        };
        for h in hints {
            c = c.hint(h);
        }
        c.source = source;
        c
    }
}

impl From<crate::ai::ask::AskError> for CliError {
    fn from(e: crate::ai::ask::AskError) -> Self {
        match e {
            crate::ai::ask::AskError::Ai(e) => e.into(),
            crate::ai::ask::AskError::Template(e) => e.into(),
        }
    }
}

impl From<crate::work::edit::EditError> for CliError {
    fn from(e: crate::work::edit::EditError) -> Self {
        e.into_work(None).into()
    }
}

impl From<crate::flow::lifecycle::Refusal> for CliError {
    fn from(e: crate::flow::lifecycle::Refusal) -> Self {
        use crate::flow::lifecycle::{Action, Refusal as R};
        let hint = match &e {
            R::NotStarted { id, .. } => format!("start it first: `git aiflow start {id}`"),
            R::Dropped { .. } => {
                "set its status back to planned with `git aiflow plan edit`".to_owned()
            }
            R::Merged {
                action: Action::Step | Action::Reject,
                ..
            } => "add a subtask for it with `git aiflow plan edit`".to_owned(),
            R::Merged { .. } => "`git aiflow next` names what is left".to_owned(),
            R::NotApproved { id, .. } => format!(
                "a reviewer approves it first: `git aiflow review {id}`, then `git aiflow approve {id}`"
            ),
            R::Approved { id } => format!("integrate it: `git aiflow integrate {id}`"),
            R::Waiting { deps, .. } => format!(
                "integrate {} first, or start anyway with --force",
                if deps.len() == 1 { "it" } else { "them" }
            ),
        };
        CliError::refused(e.to_string()).hint(hint)
    }
}

impl From<crate::gate::PolicyError> for CliError {
    fn from(e: crate::gate::PolicyError) -> Self {
        use crate::gate::PolicyError as P;
        let hint = match &e {
            P::Config { .. } | P::ConfigCombined { .. } => {
                "fix the aiflow.* setting (`git config --show-origin --get-regexp '^aiflow\\.'`, or the `-c` given to git); the keys are in the README, \"The review gate\"".to_owned()
            }
            _ => format!(
                "fix {} on the protected branch (its format is in the README, \"The review gate\")",
                crate::gate::policy::POLICY_FILE
            ),
        };
        CliError::usage(e.to_string()).hint(hint)
    }
}

impl From<crate::gate::CheckError> for CliError {
    fn from(e: crate::gate::CheckError) -> Self {
        CliError::usage("the check could not read the commits").source(e)
    }
}

impl From<crate::gate::hook::HookError> for CliError {
    fn from(e: crate::gate::hook::HookError) -> Self {
        CliError::usage(format!("aiflow: the hook could not decide: {e}"))
    }
}

impl From<crate::git::cli::GitError> for CliError {
    fn from(e: crate::git::cli::GitError) -> Self {
        CliError::usage(e.to_string())
    }
}

impl From<crate::git::rewrite::RewriteError> for CliError {
    fn from(e: crate::git::rewrite::RewriteError) -> Self {
        CliError::usage(e.to_string()).source(e)
    }
}

impl From<crate::sync::SyncError> for CliError {
    fn from(e: crate::sync::SyncError) -> Self {
        use crate::sync::SyncError as S;
        let text = e.to_string();
        match e {
            S::Identity(e) => e.into(),
            S::Store(e) => e.into(),
            S::NoSuchRemote { ref known, .. } => {
                let list = if known.is_empty() {
                    "this repository has no remotes".to_owned()
                } else {
                    format!("its remotes: {}", known.join(", "))
                };
                CliError::usage(text).hint(list).hint(
                    "add one with `git remote add <name> <url>`, or name one: `git aiflow sync <remote>`",
                )
            }
            S::UnknownBranch { .. } => CliError::usage(text).hint(
                "`--branch` names a flow's integration or subtask branch, e.g. `aiflow/<slug>`",
            ),
            S::Unreachable { .. } => CliError::usage(text).source(e).hint(
                "nothing was changed; check the remote's URL (`git remote -v`) and your network",
            ),
            S::Fetch { .. } => CliError::usage(text)
                .source(e)
                .hint("nothing local was changed; check your network and sync again"),
            S::KeptChanging { .. } => CliError::refused(text)
                .hint("nothing local was changed; run `git aiflow sync` again"),
            S::PushRefused { ref remote, .. } => {
                let tracking = crate::sync::tracking_notes(remote);
                CliError::refused(text)
                    .source(e)
                    .hint(format!(
                        "nothing local was changed; the remote's flows are in {tracking}"
                    ))
                    .hint("to take the remote's flows without pushing: `git aiflow sync --no-push`")
            }
            S::PushFailed { .. } => CliError::usage(text).source(e).hint(
                "nothing local was changed; check the remote's URL and your network, then sync again",
            ),
            S::LocalBranchMoved(_) => CliError::usage(text)
                .source(e)
                .hint("a local branch moved during the sync; the push landed: sync again"),
            S::Diverged { .. } => CliError::refused(text).hint(
                "the flows were synced; combine each branch with the remote's by hand (`git rebase` or `git merge` it onto `<remote>/<branch>`), then sync again",
            ),
            S::BadRemoteName { .. } | S::NoNotesToCarry => CliError::usage(text),
            S::Git(_)
            | S::TrackingRefs(_)
            | S::Commits(_)
            | S::NotesCommit(_)
            | S::RefName { .. }
            | S::LocalRefs(_) => CliError::usage(text).source(e),
        }
    }
}

impl From<crate::gate::range::RangeError> for CliError {
    fn from(e: crate::gate::range::RangeError) -> Self {
        use crate::gate::range::RangeError as R;
        const REVS: &str = "give revisions as git rev-list takes them: A..B, ^A, B";
        const NAME: &str = "name a range, for example `git aiflow check main..HEAD`";
        let text = e.to_string();
        match e {
            R::Policy(e) => e.into(),
            R::Merge(e) => e.into(),
            R::Store(e) => e.into(),
            R::Symmetric { .. } => {
                CliError::usage(text).hint("give A..B (what B brings that A lacks)")
            }
            R::NotARevision { .. } | R::Unsupported { .. } => CliError::usage(text).hint(REVS),
            R::Detached | R::NotAFlowBranch { .. } => CliError::usage(text).hint(NAME),
            R::Unborn { .. } => CliError::usage(text).hint("nothing to check"),
            R::NotACommit { .. } | R::Head(_) | R::Refs(_) | R::MalformedBase { .. } => {
                CliError::usage(text)
            }
        }
    }
}

impl From<crate::git::setup::SetupError> for CliError {
    fn from(e: crate::git::setup::SetupError) -> Self {
        let mut c = CliError::usage(e.to_string());
        if let crate::git::setup::SetupError::Lock { .. } = e {
            c = c.hint("another git command is changing the config; try again");
        }
        c.source = Some(e.into_source());
        c
    }
}

impl From<crate::gate::install::InstallError> for CliError {
    fn from(e: crate::gate::install::InstallError) -> Self {
        use crate::gate::install::InstallError as I;
        let text = e.to_string();
        match e {
            I::HooksPath(_) => CliError::usage(text),
            I::Taken { .. } => CliError::refused(text).hint(
                "merge the two hooks by hand, or move one away, then run `git aiflow hooks install` again",
            ),
            I::File { source, .. } => CliError::usage(text).source(source),
            I::Previous { source, .. } => CliError::usage(text).process(source),
        }
    }
}
