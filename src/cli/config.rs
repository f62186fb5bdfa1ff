//! `git aiflow config`: who you are to git-aiflow, then every `aiflow.*` key with its effective
//! value and where it came from, as `git config --show-scope --show-origin` shows them, the
//! value the policy file (`.aiflow.toml` of the current branch's tip) gives the keys it can set
//! (listed first: config that applies comes after it and wins, as the last value does in git),
//! and the keys' defaults.

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
    // The policy file that governs the current branch (else new branches), read as the gate
    // reads it: from the branch tip's tree, not the work tree.
    let policy = match ctx.repo() {
        Ok(repo) => {
            let tip = repo.head_id().ok().map(|id| id.detach());
            crate::gate::policy::file_table(repo, tip)?
        }
        Err(_) => None,
    };
    let from_file = |s: &Setting| -> Option<FileValue> {
        let (origin, table, allow_config) = policy.as_ref()?;
        let path = s.known.map(|k| k.policy_file).filter(|p| !p.is_empty())?;
        let value = lookup(table, path)?;
        // The gate's keys apply over the file only where it allows it; the test command's
        // keys always do.
        let config_applies = !path.starts_with("gate.") || *allow_config;
        Some(FileValue {
            path,
            value: value.clone(),
            origin: origin.clone(),
            config_applies,
        })
    };
    if args.json {
        let keys: Vec<serde_json::Value> = settings
            .iter()
            .map(|s| {
                let mut v = json(s);
                if let Some(f) = from_file(s) {
                    v["policy_file_value"] = serde_json::json!({
                        "value": toml_to_json(&f.value),
                        "origin": f.origin,
                        "key": f.path,
                        "config_applies": f.config_applies,
                    });
                }
                v
            })
            .collect();
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
        let file = from_file(s);
        if let Some(f) = &file {
            writeln!(
                ctx.out,
                "{:width$}  {}  ({}, {})",
                s.key,
                show_toml(&f.value),
                f.origin,
                f.path
            )?;
        }
        if s.values.is_empty() {
            if file.is_none() {
                let default = s.known.map(|k| k.default).unwrap_or("");
                writeln!(ctx.out, "{:width$}  (default: {default})", s.key)?;
            }
            continue;
        }
        for (value, (scope, origin)) in s.values.iter().zip(&s.origins) {
            let value = value.as_deref().unwrap_or("(true)");
            write!(ctx.out, "{:width$}  {value}  ({scope}, {origin})", s.key)?;
            if s.known.is_none() {
                write!(ctx.out, "  unknown key: git-aiflow does not read it")?;
            }
            if file.as_ref().is_some_and(|f| !f.config_applies) {
                write!(
                    ctx.out,
                    "  ignored: {} does not set allow-config",
                    crate::gate::policy::POLICY_FILE
                )?;
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

/// A key's value in the policy file.
struct FileValue {
    /// Its path in the file (`gate.trunk`).
    path: &'static str,
    value: toml::Value,
    /// `.aiflow.toml in <commit>`.
    origin: String,
    /// Whether `aiflow.*` config overrides it.
    config_applies: bool,
}

/// `path` (`gate.review-trailers`) in `table`; the file also accepts `_` for `-`.
fn lookup<'a>(table: &'a toml::Table, path: &str) -> Option<&'a toml::Value> {
    let (section, key) = path.split_once('.')?;
    let section = table.get(section)?.as_table()?;
    section
        .get(key)
        .or_else(|| section.get(&key.replace('-', "_")))
}

/// A TOML value as `git config` would show it: strings bare, arrays joined by commas.
fn show_toml(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(a) => a.iter().map(show_toml).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}
