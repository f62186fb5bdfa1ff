//! git-aiflow: separate planning from execution in AI-assisted coding, as a git-native workflow.
//!
//! A flow's spec, clarifying questions, plan revisions and reviews live as TOML notes under
//! `refs/notes/aiflow` ([`store`]); the document schema is in [`flow`]; repository access is in
//! [`git`]; sharing flows with a remote is [`sync`]; the command line, which never leaks into the
//! rest, is in [`cli`].

pub mod ai;
pub mod cli;
pub mod config_keys;
pub mod flow;
pub mod gate;
pub mod git;
pub mod store;
pub mod sync;
pub mod term;
pub mod work;

/// A plain message used as an error's cause: what a program printed when it refused, or a line
/// of a cause chain kept as text.
#[derive(Debug)]
pub struct Message(pub String);

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}
