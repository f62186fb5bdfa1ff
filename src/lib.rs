//! git-aiflow: separate planning from execution in AI-assisted coding, as a git-native workflow.
//!
//! A flow's spec, clarifying questions, plan revisions and reviews live as TOML notes under
//! `refs/notes/aiflow` ([`store`]); the document schema is in [`flow`]; repository access is in
//! [`git`]; sharing flows with a remote is [`sync`]; the command line, which never leaks into the
//! rest, is in [`cli`].

pub mod ai;
pub mod cli;
pub mod flow;
pub mod gate;
pub mod git;
pub mod store;
pub mod sync;
pub mod term;
pub mod work;
