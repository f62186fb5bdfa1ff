//! `git aiflow config`: who you are to git-aiflow, then every `aiflow.*` key with its effective
//! value and where it came from, as `git config --show-scope --show-origin` shows them, and the
//! keys' defaults.

use super::{Ctx, error::CliError};
use crate::config_keys::{self, Setting};
use std::io::Write;

/// List the `aiflow.*` configuration: effective values, where each came from, defaults.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// Print JSON: the identity, and every key with its values, their scopes and origins, type,
    /// default, the commands that read it and what in .aiflow.toml sets the same thing.
    #[arg(long)]
    pub json: bool,
}

/// `git aiflow config`.
pub fn run(ctx: &mut Ctx, args: &ConfigArgs) -> Result<(), CliError> {
    let dir = ctx.resolve(std::path::Path::new("."));
    let settings = config_keys::effective(&dir)?;
    // Who approvals and notes are recorded as: the committer git would use now (none outside a
    // repository, or when git has no identity either).
    let identity = ctx
        .repo()
        .ok()
        .and_then(|repo| crate::git::committer_stamp(repo).ok())
        .map(|s| s.who);
    if args.json {
        let keys: Vec<serde_json::Value> = settings.iter().map(json).collect();
        return ctx.json(&serde_json::json!({ "identity": identity, "keys": keys }));
    }
    let width = settings.iter().map(|s| s.key.len()).max().unwrap_or(0);
    let shown = identity
        .as_deref()
        .unwrap_or("(none: set user.name and user.email)");
    writeln!(
        ctx.out,
        "{:width$}  {shown}  (git var GIT_COMMITTER_IDENT)",
        "identity"
    )?;
    for s in &settings {
        if s.values.is_empty() {
            let default = s.known.map(|k| k.default).unwrap_or("");
            writeln!(ctx.out, "{:width$}  (default: {default})", s.key)?;
            continue;
        }
        for (value, (scope, origin)) in s.values.iter().zip(&s.origins) {
            let value = value.as_deref().unwrap_or("(true)");
            write!(ctx.out, "{:width$}  {value}  ({scope}, {origin})", s.key)?;
            if s.known.is_none() {
                write!(ctx.out, "  unknown key: git-aiflow does not read it")?;
            }
            writeln!(ctx.out)?;
        }
    }
    Ok(())
}

fn json(s: &Setting) -> serde_json::Value {
    let values: Vec<serde_json::Value> = s
        .values
        .iter()
        .zip(&s.origins)
        .map(|(v, (scope, origin))| {
            serde_json::json!({ "value": v, "scope": scope, "origin": origin })
        })
        .collect();
    let mut v = serde_json::json!({
        "key": s.key,
        "set": !s.values.is_empty(),
        "values": values,
        "known": s.known.is_some(),
    });
    if let Some(k) = s.known {
        v["type"] = k.kind.into();
        v["default"] = k.default.into();
        v["read_by"] = k.read_by.into();
        v["policy_file"] = (!k.policy_file.is_empty()).then_some(k.policy_file).into();
        v["about"] = k.about.into();
    }
    v
}
