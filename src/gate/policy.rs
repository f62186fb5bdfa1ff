//! The review policy: `.aiflow.toml` from the protected branch's tree, then `aiflow.*` config
//! where the file allows it.
//!
//! The file is read from the tip a ref has *before* an update, never from incoming commits, so a
//! branch cannot relax its own gate.

use crate::flow::slug::validate_slug;
use gix::bstr::ByteSlice;
use serde::Deserialize;

/// The policy file's name at the root of a branch's tree.
pub const POLICY_FILE: &str = ".aiflow.toml";

/// The trailer keys that count as a review by default.
pub const DEFAULT_REVIEW_TRAILER: &str = "Reviewed-by";

/// How much of what enters a branch the gate checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every commit (integration branches, `strict` branches, explicit ranges).
    Full,
    /// Only what comes from a flow (the trunk): commits carrying `Aiflow-*` trailers, the merged
    /// side of merges that bring such commits, and everything above an anchor commit.
    Flow,
}

impl Scope {
    /// The name used in messages and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Full => "full",
            Scope::Flow => "flow",
        }
    }
}

/// The effective policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Branch patterns guarded for what comes from a flow.
    pub trunk: Vec<String>,
    /// Branch patterns guarded fully.
    pub strict: Vec<String>,
    /// Trailer keys that count as a review.
    pub review_trailers: Vec<String>,
    /// Whether the reviewer may be the commit's author.
    pub allow_self_review: bool,
    /// If not empty, the only reviewers accepted (emails, lower-cased).
    pub reviewers: Vec<String>,
    /// Whether merge commits need no review of their own.
    pub exempt_merges: bool,
    /// Whether a flow's anchor commit (empty, with an `Aiflow-Flow` trailer) needs no review.
    pub exempt_anchor: bool,
    /// Where the policy came from, for messages.
    pub source: String,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            trunk: vec!["main".into(), "master".into()],
            strict: Vec::new(),
            review_trailers: vec![DEFAULT_REVIEW_TRAILER.into()],
            allow_self_review: false,
            reviewers: Vec::new(),
            exempt_merges: true,
            exempt_anchor: true,
            source: "the default policy".into(),
        }
    }
}

/// Why a policy could not be read. The gate fails closed on these.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file is not valid.
    #[error("{POLICY_FILE} in {at} is not a valid policy: {problem}")]
    Invalid {
        /// Which commit's tree held it.
        at: String,
        /// What is wrong.
        problem: String,
    },
    /// A config value is not valid.
    #[error("config {key} = {value:?} is not valid: {problem}")]
    Config {
        /// The config key.
        key: String,
        /// Its value.
        value: String,
        /// What is wrong.
        problem: String,
    },
    /// The repository could not be read.
    #[error("could not read {POLICY_FILE} from {at}: {message}")]
    Read {
        /// Which commit.
        at: String,
        /// What went wrong.
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    schema: u32,
    #[serde(default)]
    gate: GateFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct GateFile {
    trunk: Option<Vec<String>>,
    strict: Option<Vec<String>>,
    review_trailers: Option<Vec<String>>,
    allow_self_review: Option<bool>,
    reviewers: Option<Vec<String>>,
    exempt_merges: Option<bool>,
    exempt_anchor: Option<bool>,
    allow_config: Option<bool>,
}

impl Policy {
    /// Parse a policy file's text; `at` names where it came from.
    pub fn parse(text: &str, at: &str) -> Result<(Policy, bool), PolicyError> {
        let invalid = |problem: String| PolicyError::Invalid {
            at: at.to_owned(),
            problem,
        };
        let file: File = toml::from_str(text).map_err(|e| invalid(e.message().to_owned()))?;
        if file.schema != 1 {
            return Err(invalid(format!(
                "schema = {} is not known to this version (it reads schema = 1)",
                file.schema
            )));
        }
        let g = file.gate;
        let d = Policy::default();
        let mut p = Policy {
            trunk: g.trunk.unwrap_or(d.trunk),
            strict: g.strict.unwrap_or(d.strict),
            review_trailers: g.review_trailers.unwrap_or(d.review_trailers),
            allow_self_review: g.allow_self_review.unwrap_or(d.allow_self_review),
            reviewers: g.reviewers.unwrap_or(d.reviewers),
            exempt_merges: g.exempt_merges.unwrap_or(d.exempt_merges),
            exempt_anchor: g.exempt_anchor.unwrap_or(d.exempt_anchor),
            source: format!("{POLICY_FILE} in {at}"),
        };
        p.normalise().map_err(invalid)?;
        Ok((p, g.allow_config.unwrap_or(false)))
    }

    /// Check and normalise the values: trailer keys are tokens, reviewers become emails.
    fn normalise(&mut self) -> Result<(), String> {
        if self.review_trailers.is_empty() {
            return Err("review-trailers is empty: no commit could ever pass".into());
        }
        for key in &self.review_trailers {
            if key.is_empty() || !key.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
                return Err(format!(
                    "review-trailers: {key:?} is not a trailer key (letters, digits and '-')"
                ));
            }
        }
        for pat in self.trunk.iter().chain(&self.strict) {
            if pat.is_empty() || pat.starts_with("refs/") {
                return Err(format!(
                    "branch pattern {pat:?}: give a branch name such as \"main\" or \"release/*\""
                ));
            }
        }
        let mut emails = Vec::new();
        for r in &self.reviewers {
            let email = match parse_ident(r) {
                Some((_, email)) => email,
                None if r.contains('@') && !r.contains(['<', '>', ' ']) => r.as_str(),
                None => {
                    return Err(format!(
                        "reviewers: {r:?} is neither an email nor \"Name <email>\""
                    ));
                }
            };
            emails.push(email.to_ascii_lowercase());
        }
        self.reviewers = emails;
        Ok(())
    }

    /// Read the policy for a branch whose tip is `tip` (None for a branch that does not exist
    /// yet: then the trunk's policy applies), then apply `aiflow.*` config if allowed.
    pub fn load(repo: &gix::Repository, tip: Option<gix::ObjectId>) -> Result<Self, PolicyError> {
        let tip = tip.or_else(|| trunk_tip(repo));
        let (mut policy, allow_config) = match tip {
            Some(tip) => match read_file(repo, tip)? {
                Some(text) => Policy::parse(&text, &tip.to_hex_with_len(12).to_string())?,
                None => (Policy::default(), true),
            },
            None => (Policy::default(), true),
        };
        if allow_config {
            policy.apply_config(&repo.config_snapshot())?;
        }
        Ok(policy)
    }

    /// The policy of `commit`'s tree if it has a policy file, else the trunk's: what a check of
    /// an explicit range `A..B` uses for A.
    pub fn load_for_range(
        repo: &gix::Repository,
        commit: Option<gix::ObjectId>,
    ) -> Result<Self, PolicyError> {
        match commit {
            Some(c) if read_file(repo, c)?.is_some() => Policy::load(repo, Some(c)),
            _ => Policy::load(repo, None),
        }
    }

    /// Override with `aiflow.trunk`, `aiflow.strict`, `aiflow.reviewTrailer`,
    /// `aiflow.allowSelfReview`, `aiflow.reviewer`, `aiflow.exemptMerges`, `aiflow.exemptAnchor`.
    fn apply_config(&mut self, config: &gix::config::Snapshot<'_>) -> Result<(), PolicyError> {
        let mut changed = false;
        let list = |key: &str| -> Option<Vec<String>> {
            let values = config.strings(key)?;
            let v: Vec<String> = values
                .iter()
                .map(|s| s.to_str_lossy().trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
            Some(v)
        };
        if let Some(v) = list("aiflow.trunk") {
            self.trunk = v;
            changed = true;
        }
        if let Some(v) = list("aiflow.strict") {
            self.strict = v;
            changed = true;
        }
        if let Some(v) = list("aiflow.reviewTrailer") {
            self.review_trailers = v;
            changed = true;
        }
        if let Some(v) = list("aiflow.reviewer") {
            self.reviewers = v;
            changed = true;
        }
        for (key, field) in [
            ("aiflow.allowSelfReview", &mut self.allow_self_review),
            ("aiflow.exemptMerges", &mut self.exempt_merges),
            ("aiflow.exemptAnchor", &mut self.exempt_anchor),
        ] {
            let value = config.try_boolean(key).map_err(|e| PolicyError::Config {
                key: key.into(),
                value: config
                    .string(key)
                    .map(|v| v.to_str_lossy().into_owned())
                    .unwrap_or_default(),
                problem: format!("expected true or false ({e})"),
            })?;
            if let Some(v) = value {
                *field = v;
                changed = true;
            }
        }
        if changed {
            self.normalise().map_err(|problem| PolicyError::Config {
                key: "aiflow.*".into(),
                value: String::new(),
                problem,
            })?;
            self.source.push_str(" with aiflow.* config");
        }
        Ok(())
    }

    /// How a branch (a full ref name) is protected, if at all. A flow's integration branch
    /// (`refs/heads/aiflow/<slug>`) is protected fully; subtask branches
    /// (`aiflow/<slug>--<id>…`) never are.
    pub fn protection(&self, refname: &str) -> Option<Scope> {
        let branch = refname.strip_prefix("refs/heads/")?;
        if let Some(rest) = branch.strip_prefix("aiflow/") {
            if rest.contains("--") || rest.contains('/') {
                return None;
            }
            if validate_slug(rest).is_ok() {
                return Some(Scope::Full);
            }
        }
        if self.strict.iter().any(|p| glob(p, branch)) {
            return Some(Scope::Full);
        }
        if self.trunk.iter().any(|p| glob(p, branch)) {
            return Some(Scope::Flow);
        }
        None
    }

    /// Whether `key` is one of the review trailer keys.
    pub fn is_review_key(&self, key: &[u8]) -> bool {
        self.review_trailers
            .iter()
            .any(|k| k.as_bytes().eq_ignore_ascii_case(key))
    }
}

/// The tip of the first trunk branch that exists (`main`, then `master`), whose policy applies
/// to branches that do not exist yet.
fn trunk_tip(repo: &gix::Repository) -> Option<gix::ObjectId> {
    ["refs/heads/main", "refs/heads/master"]
        .iter()
        .find_map(|name| crate::git::ref_id(repo, name).ok().flatten())
}

/// The policy file's text in `commit`'s tree, if there is one.
fn read_file(repo: &gix::Repository, commit: gix::ObjectId) -> Result<Option<String>, PolicyError> {
    let at = commit.to_hex_with_len(12).to_string();
    let read = |message: String| PolicyError::Read {
        at: at.clone(),
        message,
    };
    let commit = repo.find_commit(commit).map_err(|e| read(e.to_string()))?;
    let tree = commit.tree().map_err(|e| read(e.to_string()))?;
    let Some(entry) = tree
        .lookup_entry_by_path(POLICY_FILE)
        .map_err(|e| read(e.to_string()))?
    else {
        return Ok(None);
    };
    let blob = entry.object().map_err(|e| read(e.to_string()))?;
    let text = std::str::from_utf8(&blob.data).map_err(|_| PolicyError::Invalid {
        at: at.clone(),
        problem: "it is not UTF-8".into(),
    })?;
    Ok(Some(text.to_owned()))
}

/// Parse `Name <email>`: a non-empty name, and an email with one `@` and no spaces.
pub fn parse_ident(value: &str) -> Option<(&str, &str)> {
    let value = value.trim();
    let open = value.find('<')?;
    let rest = value.strip_suffix('>')?;
    let name = value[..open].trim();
    let email = &rest[open + 1..];
    let valid_email = email.matches('@').count() == 1
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !email.contains(['<', '>', ' ', '\t']);
    let valid_name = !name.is_empty() && !name.contains(['<', '>']);
    (valid_name && valid_email).then_some((name, email))
}

/// A branch-name glob: `*` matches within one path component, `**` across components.
pub fn glob(pattern: &str, name: &str) -> bool {
    fn rec(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => {
                if let Some(rest2) = rest.strip_prefix(b"*") {
                    (0..=n.len()).any(|i| rec(rest2, &n[i..]))
                } else {
                    (0..=n.len())
                        .take_while(|&i| i == 0 || n[i - 1] != b'/')
                        .any(|i| rec(rest, &n[i..]))
                }
            }
            Some((c, rest)) => n.first() == Some(c) && rec(rest, &n[1..]),
        }
    }
    rec(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protection_by_name() {
        let p = Policy::default();
        assert_eq!(
            p.protection("refs/heads/aiflow/rate-limit"),
            Some(Scope::Full)
        );
        assert_eq!(p.protection("refs/heads/aiflow/rate-limit--a1-x"), None);
        assert_eq!(p.protection("refs/heads/main"), Some(Scope::Flow));
        assert_eq!(p.protection("refs/heads/feature"), None);
        assert_eq!(p.protection("refs/remotes/origin/main"), None);
        assert_eq!(p.protection("HEAD"), None);
        assert!(glob("release/*", "release/1.0"));
        assert!(!glob("release/*", "release/1.0/x"));
        assert!(glob("release/**", "release/1.0/x"));
    }

    #[test]
    fn idents() {
        assert_eq!(
            parse_ident("Grace Hopper <grace@example.com>"),
            Some(("Grace Hopper", "grace@example.com"))
        );
        for bad in [
            "grace",
            "<g@x>",
            "Grace <>",
            "Grace <g x@y>",
            "Grace g@x",
            "G <a@b@c>",
        ] {
            assert_eq!(parse_ident(bad), None, "{bad}");
        }
    }

    #[test]
    fn file_values_are_checked() {
        let (p, allow) = Policy::parse(
            "schema = 1\n[gate]\nreviewers = [\"Grace <Grace@X.org>\", \"bob@x.org\"]\n",
            "HEAD",
        )
        .unwrap();
        assert_eq!(p.reviewers, ["grace@x.org", "bob@x.org"]);
        assert!(!allow);
        assert!(Policy::parse("schema = 1\n[gate]\nreview-trailers = []\n", "x").is_err());
        assert!(Policy::parse("schema = 2\n", "x").is_err());
        assert!(Policy::parse("schema = 1\n[gate]\nfoo = 1\n", "x").is_err());
    }
}
