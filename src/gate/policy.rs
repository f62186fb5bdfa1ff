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
const DEFAULT_REVIEW_TRAILER: &str = crate::flow::names::REVIEWED_KEY;

/// How much of what enters a branch the gate checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every commit (`strict` branches, explicit ranges).
    Full,
    /// Every commit, and each must belong to a known flow and subtask with a recorded approval
    /// (a flow's integration branch `aiflow/<slug>`).
    Integration,
    /// Only what comes from a flow (the trunk): commits carrying `Aiflow-*` trailers, the merged
    /// side of merges that bring such commits and those merges, and everything above an anchor
    /// commit.
    Flow,
}

impl Scope {
    /// The name used in messages and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Full => "full",
            Scope::Integration => "integration",
            Scope::Flow => "flow",
        }
    }
}

/// What counts as a review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reviews {
    /// A review trailer by an accepted reviewer, bound to a recorded approval for flow commits.
    Trailer,
    /// Additionally, every review must be a signed attestation by an allowed signer.
    Signed,
}

impl Reviews {
    /// The name used in the policy and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Reviews::Trailer => "trailer",
            Reviews::Signed => "signed",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value {
            "trailer" => Some(Reviews::Trailer),
            "signed" => Some(Reviews::Signed),
            _ => None,
        }
    }
}

/// Who may sign reviews: an allowed-signers file (git's `gpg.ssh.allowedSignersFile` format),
/// read from the trusted side only.
#[derive(Debug, Clone)]
pub struct Signers {
    /// Where it came from, for messages (`allowed_signers in 3f2a1b9c0d4e`, or a server path).
    pub origin: String,
    /// The parsed file.
    pub file: std::sync::Arc<crate::gate::sshsig::AllowedSigners>,
    /// Its path in the branch's tree, when it was read from one (not from a server's config).
    pub tree_path: Option<String>,
}

/// Where a policy is read, which decides what may override the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// A work repository: `aiflow.*` config overrides the file only where the file allows it
    /// (`allow-config`), since anyone (or any agent) with the user's rights can set it.
    Local,
    /// A server's `pre-receive`: the server's own `aiflow.*` config is the administrator's and
    /// always applies over the file.
    Server,
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
    /// What counts as a review.
    pub reviews: Reviews,
    /// Who may sign reviews (required when `reviews` is `signed`).
    pub signers: Option<Signers>,
    /// Protected branches that may be deleted (globs).
    pub allow_delete: Vec<String>,
    /// Whether a push may create or move `refs/replace/*` on a server.
    pub allow_replace_refs: bool,
    /// Whether a review trailer alone counts for a commit outside any flow (outside integration
    /// branches); without it, such commits need a recorded approval (`approve --range`).
    pub typed_trailers: bool,
    /// Whether approvals recorded with `git patch-id --stable` ids (before content ids) still bind
    /// rebased commits; approvals by commit id always do.
    pub legacy_patch_ids: bool,
    /// Whether what a merge brings from a subtask (or from an integration branch into a trunk)
    /// must have a recorded passing run of the test command on its exact tree.
    pub tests_required: bool,
    /// Whether `finish` refuses a flow with a security finding nobody has judged.
    pub audit_resolved: bool,
    /// The test command of the `[test]` table (`aiflow.test` in git config wins).
    pub test_command: Option<String>,
    /// Its time limit in seconds (`aiflow.testTimeout` wins).
    pub test_timeout: Option<u64>,
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
            reviews: Reviews::Trailer,
            signers: None,
            allow_delete: Vec::new(),
            allow_replace_refs: false,
            typed_trailers: true,
            legacy_patch_ids: false,
            tests_required: false,
            audit_resolved: false,
            test_command: None,
            test_timeout: None,
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
    /// The `aiflow.*` config, applied over the policy, makes an invalid one.
    #[error("the aiflow.* config (git config or `git -c`) makes the policy invalid: {problem}")]
    ConfigCombined {
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
    #[serde(default)]
    test: TestFile,
}

/// The `[test]` table: the command `step`, `exec` and `test` run on a subtask's work tree.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    command: Option<String>,
    timeout: Option<u64>,
}

/// The `[gate]` table. Keys are written in kebab-case (`allow-self-review`); the snake_case
/// spelling (`allow_self_review`) is read too.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct GateFile {
    trunk: Option<Vec<String>>,
    strict: Option<Vec<String>>,
    #[serde(alias = "review_trailers")]
    review_trailers: Option<Vec<String>>,
    #[serde(alias = "allow_self_review")]
    allow_self_review: Option<bool>,
    reviewers: Option<Vec<String>>,
    #[serde(alias = "exempt_merges")]
    exempt_merges: Option<bool>,
    #[serde(alias = "exempt_anchor")]
    exempt_anchor: Option<bool>,
    #[serde(alias = "allow_config")]
    allow_config: Option<bool>,
    reviews: Option<String>,
    #[serde(alias = "allowed_signers")]
    allowed_signers: Option<String>,
    #[serde(alias = "allow_delete")]
    allow_delete: Option<Vec<String>>,
    #[serde(alias = "allow_replace_refs")]
    allow_replace_refs: Option<bool>,
    #[serde(alias = "typed_trailers")]
    typed_trailers: Option<bool>,
    #[serde(alias = "legacy_patch_ids")]
    legacy_patch_ids: Option<bool>,
    tests: Option<String>,
    audit: Option<String>,
}

/// What a policy file says, before the allowed-signers file it names is read.
struct Parsed {
    policy: Policy,
    allow_config: bool,
    /// The path of the allowed-signers file in the same tree.
    allowed_signers: Option<String>,
    /// Whether the file set `typed-trailers` (else it follows `reviews`).
    typed_trailers_set: bool,
}

impl Policy {
    /// Parse a policy file's text; `at` names where it came from. Returns the policy and whether
    /// it allows `aiflow.*` config to override it. A file that names an allowed-signers file is
    /// parsed by [`Policy::load`], which reads that file from the same tree.
    pub fn parse(text: &str, at: &str) -> Result<(Policy, bool), PolicyError> {
        let parsed = Self::parse_file(text, at)?;
        if parsed.policy.reviews == Reviews::Signed && parsed.allowed_signers.is_none() {
            return Err(PolicyError::Invalid {
                at: at.to_owned(),
                problem: "reviews = \"signed\" needs allowed-signers, the path of an allowed-signers file in the same tree".into(),
            });
        }
        Ok((parsed.policy, parsed.allow_config))
    }

    fn parse_file(text: &str, at: &str) -> Result<Parsed, PolicyError> {
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
        let reviews = match g.reviews.as_deref() {
            None => d.reviews,
            Some(v) => Reviews::parse(v).ok_or_else(|| {
                invalid(format!("reviews = {v:?}: use \"trailer\" or \"signed\""))
            })?,
        };
        let mut p = Policy {
            trunk: g.trunk.unwrap_or(d.trunk),
            strict: g.strict.unwrap_or(d.strict),
            review_trailers: g.review_trailers.unwrap_or(d.review_trailers),
            allow_self_review: g.allow_self_review.unwrap_or(d.allow_self_review),
            reviewers: g.reviewers.unwrap_or(d.reviewers),
            exempt_merges: g.exempt_merges.unwrap_or(d.exempt_merges),
            exempt_anchor: g.exempt_anchor.unwrap_or(d.exempt_anchor),
            reviews,
            signers: None,
            allow_delete: g.allow_delete.unwrap_or(d.allow_delete),
            allow_replace_refs: g.allow_replace_refs.unwrap_or(d.allow_replace_refs),
            typed_trailers: g.typed_trailers.unwrap_or(reviews == Reviews::Trailer),
            legacy_patch_ids: g.legacy_patch_ids.unwrap_or(d.legacy_patch_ids),
            tests_required: match g.tests.as_deref() {
                None | Some("off") => false,
                Some("required") => true,
                Some(v) => {
                    return Err(invalid(format!(
                        "tests = {v:?}: use \"required\" or \"off\""
                    )));
                }
            },
            audit_resolved: match g.audit.as_deref() {
                None | Some("off") => false,
                Some("resolved") => true,
                Some(v) => {
                    return Err(invalid(format!(
                        "audit = {v:?}: use \"resolved\" or \"off\""
                    )));
                }
            },
            test_command: file.test.command.filter(|c| !c.trim().is_empty()),
            test_timeout: file.test.timeout,
            source: format!("{POLICY_FILE} in {at}"),
        };
        p.normalise().map_err(invalid)?;
        if p.test_timeout == Some(0) {
            return Err(invalid(
                "[test] timeout = 0: give the most seconds a test run may take".into(),
            ));
        }
        if let Some(path) = &g.allowed_signers
            && (path.is_empty() || path.starts_with('/') || path.split('/').any(|c| c == ".."))
        {
            return Err(invalid(format!(
                "allowed-signers = {path:?}: give a path relative to the root of the tree"
            )));
        }
        Ok(Parsed {
            policy: p,
            allow_config: g.allow_config.unwrap_or(false),
            allowed_signers: g.allowed_signers,
            typed_trailers_set: g.typed_trailers.is_some(),
        })
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
        for pat in self
            .trunk
            .iter()
            .chain(&self.strict)
            .chain(&self.allow_delete)
        {
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

    /// Read the policy for a branch whose tip is `tip` in a work repository
    /// ([`Policy::load_with`] with [`Trust::Local`]).
    pub fn load(repo: &gix::Repository, tip: Option<gix::ObjectId>) -> Result<Self, PolicyError> {
        Self::load_with(repo, tip, Trust::Local)
    }

    /// Read the policy for a branch whose tip is `tip`: `.aiflow.toml` in its tree (and the
    /// allowed-signers file it names, from the same tree), then `aiflow.*` config as `trust`
    /// allows. A branch that does not exist yet (`None`) is judged under the policy that
    /// governs new branches: the default branch's (a bare repository's `HEAD`, else `main`,
    /// else `master`), never a policy of its own.
    pub fn load_with(
        repo: &gix::Repository,
        tip: Option<gix::ObjectId>,
        trust: Trust,
    ) -> Result<Self, PolicyError> {
        let tip = tip.or_else(|| governing_tip(repo));
        let (mut policy, allow_config, typed_set) = match tip {
            Some(tip) => match read_file(repo, tip, POLICY_FILE)? {
                Some(text) => {
                    let at = tip.to_hex_with_len(12).to_string();
                    let parsed = Self::parse_file(&text, &at)?;
                    let mut policy = parsed.policy;
                    if let Some(path) = &parsed.allowed_signers {
                        let origin = format!("{path} in {at}");
                        let text =
                            read_file(repo, tip, path)?.ok_or_else(|| PolicyError::Invalid {
                                at: at.clone(),
                                problem: format!(
                                    "allowed-signers names {path}, which is not in the tree"
                                ),
                            })?;
                        let mut signers = Signers::parse(&text, origin)?;
                        signers.tree_path = Some(path.clone());
                        policy.signers = Some(signers);
                    }
                    (policy, parsed.allow_config, parsed.typed_trailers_set)
                }
                None => (Policy::default(), true, false),
            },
            None => (Policy::default(), true, false),
        };
        if allow_config || trust == Trust::Server {
            policy.apply_config(repo, &repo.config_snapshot(), typed_set)?;
        }
        if policy.reviews == Reviews::Signed && policy.signers.is_none() {
            return Err(PolicyError::Invalid {
                at: policy.source.clone(),
                problem: "reviews = \"signed\" needs an allowed-signers file (allowed-signers in the policy file, or aiflow.allowedSignersFile)".into(),
            });
        }
        Ok(policy)
    }

    /// The policy of `commit`'s tree if it has a policy file, else the one that governs new
    /// branches: what a check of an explicit range `A..B` uses for A.
    pub fn load_for_range(
        repo: &gix::Repository,
        commit: Option<gix::ObjectId>,
    ) -> Result<Self, PolicyError> {
        match commit {
            Some(c) if read_file(repo, c, POLICY_FILE)?.is_some() => Policy::load(repo, Some(c)),
            _ => Policy::load(repo, None),
        }
    }

    /// Override with `aiflow.trunk`, `aiflow.strict`, `aiflow.reviewTrailer`, `aiflow.reviewer`,
    /// `aiflow.allowDelete`, `aiflow.allowSelfReview`, `aiflow.exemptMerges`,
    /// `aiflow.exemptAnchor`, `aiflow.allowReplaceRefs`, `aiflow.typedTrailers`,
    /// `aiflow.legacyPatchIds`, `aiflow.tests`, `aiflow.audit`, `aiflow.reviews` and `aiflow.allowedSignersFile` (a path on this
    /// machine, relative to the git directory). `typed_set`: the file set `typed-trailers`.
    fn apply_config(
        &mut self,
        repo: &gix::Repository,
        config: &gix::config::Snapshot<'_>,
        typed_set: bool,
    ) -> Result<(), PolicyError> {
        let mut changed = false;
        let bad = |key: &str, value: String, problem: String| PolicyError::Config {
            key: key.into(),
            value,
            problem,
        };
        let list = |key: &str| -> Option<Vec<String>> {
            let values = config.strings(key)?;
            let v: Vec<String> = values
                .iter()
                .map(|s| s.to_str_lossy().trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
            Some(v)
        };
        for (key, field) in [
            ("aiflow.trunk", &mut self.trunk),
            ("aiflow.strict", &mut self.strict),
            ("aiflow.reviewTrailer", &mut self.review_trailers),
            ("aiflow.reviewer", &mut self.reviewers),
            ("aiflow.allowDelete", &mut self.allow_delete),
        ] {
            if let Some(v) = list(key) {
                *field = v;
                changed = true;
            }
        }
        let mut typed_set = typed_set;
        for (key, field) in [
            ("aiflow.allowSelfReview", &mut self.allow_self_review),
            ("aiflow.exemptMerges", &mut self.exempt_merges),
            ("aiflow.exemptAnchor", &mut self.exempt_anchor),
            ("aiflow.allowReplaceRefs", &mut self.allow_replace_refs),
            ("aiflow.typedTrailers", &mut self.typed_trailers),
            ("aiflow.legacyPatchIds", &mut self.legacy_patch_ids),
        ] {
            let value = config.try_boolean(key).map_err(|e| {
                bad(
                    key,
                    config
                        .string(key)
                        .map(|v| v.to_str_lossy().into_owned())
                        .unwrap_or_default(),
                    format!("expected true or false ({e})"),
                )
            })?;
            if let Some(v) = value {
                *field = v;
                changed = true;
                typed_set |= key == "aiflow.typedTrailers";
            }
        }
        if let Some(v) = config.string("aiflow.tests") {
            let v = v.to_str_lossy().trim().to_owned();
            self.tests_required = match v.as_str() {
                "required" => true,
                "off" => false,
                _ => return Err(bad("aiflow.tests", v, "use required or off".into())),
            };
            changed = true;
        }
        if let Some(v) = config.string("aiflow.audit") {
            let v = v.to_str_lossy().trim().to_owned();
            self.audit_resolved = match v.as_str() {
                "resolved" => true,
                "off" => false,
                _ => return Err(bad("aiflow.audit", v, "use resolved or off".into())),
            };
            changed = true;
        }
        if let Some(v) = config.string("aiflow.reviews") {
            let v = v.to_str_lossy().trim().to_owned();
            self.reviews = Reviews::parse(&v)
                .ok_or_else(|| bad("aiflow.reviews", v.clone(), "use trailer or signed".into()))?;
            if !typed_set {
                self.typed_trailers = self.reviews == Reviews::Trailer;
            }
            changed = true;
        }
        let key = "aiflow.allowedSignersFile";
        if let Some(path) = config
            .trusted_path(key)
            .map_err(|e| bad(key, String::new(), format!("not a usable path: {e}")))?
        {
            let path = repo.git_dir().join(path);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                bad(
                    key,
                    path.display().to_string(),
                    format!("cannot be read: {e}"),
                )
            })?;
            self.signers = Some(Signers::parse(&text, path.display().to_string())?);
            changed = true;
        }
        if changed {
            self.normalise()
                .map_err(|problem| PolicyError::ConfigCombined { problem })?;
            self.source.push_str(" with aiflow.* config");
        }
        Ok(())
    }

    /// How a branch (a full ref name) is protected, if at all. A flow's integration branch
    /// (`refs/heads/aiflow/<slug>`) is protected fully; subtask branches
    /// (`aiflow/<slug>--<id>…`) never are.
    pub fn protection(&self, refname: &str) -> Option<Scope> {
        let branch = refname.strip_prefix("refs/heads/")?;
        if branch.starts_with(crate::flow::names::BRANCH_PREFIX) {
            let rest = crate::flow::names::slug_of_integration(branch)?;
            if validate_slug(rest).is_ok() {
                return Some(Scope::Integration);
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

    /// The files in a branch's tree that govern its gate: the policy file, and the
    /// allowed-signers file it names. A change to them is never ordinary work.
    pub fn governing_files(&self) -> Vec<&str> {
        let mut files = vec![POLICY_FILE];
        if let Some(p) = self.signers.as_ref().and_then(|s| s.tree_path.as_deref()) {
            files.push(p);
        }
        files
    }

    /// Whether the policy lets protected branch `refname` (a full ref name) be deleted.
    pub fn allows_delete(&self, refname: &str) -> bool {
        let branch = refname.strip_prefix("refs/heads/").unwrap_or(refname);
        self.allow_delete.iter().any(|p| glob(p, branch))
    }

    /// Whether `key` is one of the review trailer keys.
    pub fn is_review_key(&self, key: &[u8]) -> bool {
        self.review_trailers
            .iter()
            .any(|k| k.as_bytes().eq_ignore_ascii_case(key))
    }

    /// Whether the reviewer with email `reviewer` is one the policy accepts: any, or one on its
    /// list of reviewers. The gate (a review trailer, the signer of a record) and `approve` ask
    /// this same question.
    pub fn accepts_reviewer(&self, reviewer: &str) -> bool {
        self.reviewers.is_empty()
            || self
                .reviewers
                .iter()
                .any(|r| r.eq_ignore_ascii_case(reviewer))
    }

    /// Whether a review by `reviewer` of a commit whose author's email is `author` is
    /// self-review the policy forbids.
    pub fn forbids_self_review(&self, reviewer: &str, author: &str) -> bool {
        !self.allow_self_review && reviewer.eq_ignore_ascii_case(author)
    }
}

/// The tip whose policy governs branches that do not exist yet: a bare repository's (a server's)
/// default branch, `HEAD`, if it exists; else `main`, else `master`.
/// The policy file that governs a branch whose tip is `tip` (else new branches), as written:
/// where it was read (`.aiflow.toml in <commit>`), its TOML table, and whether it lets `aiflow.*`
/// config apply over it. `None` when that tree has no policy file. For display (`git aiflow
/// config`); the gate reads the file through [`Policy::load_with`].
pub fn file_table(
    repo: &gix::Repository,
    tip: Option<gix::ObjectId>,
) -> Result<Option<(String, toml::Table, bool)>, PolicyError> {
    let Some(tip) = tip.or_else(|| governing_tip(repo)) else {
        return Ok(None);
    };
    let Some(text) = read_file(repo, tip, POLICY_FILE)? else {
        return Ok(None);
    };
    let at = tip.to_hex_with_len(12).to_string();
    let allow_config = Policy::parse_file(&text, &at)?.allow_config;
    let table = toml::from_str(&text).map_err(|e| PolicyError::Invalid {
        at: at.clone(),
        problem: e.message().to_owned(),
    })?;
    Ok(Some((
        format!("{POLICY_FILE} in {at}"),
        table,
        allow_config,
    )))
}

fn governing_tip(repo: &gix::Repository) -> Option<gix::ObjectId> {
    let head = repo
        .is_bare()
        .then(|| repo.head_name().ok().flatten())
        .flatten()
        .map(|n| n.as_bstr().to_string());
    head.iter()
        .map(String::as_str)
        .chain(["refs/heads/main", "refs/heads/master"])
        .find_map(|name| crate::git::ref_id(repo, name).ok().flatten())
}

impl Signers {
    /// Parse an allowed-signers file; a file that does not parse fails the policy (closed).
    fn parse(text: &str, origin: String) -> Result<Self, PolicyError> {
        let file = crate::gate::sshsig::AllowedSigners::parse(text, &origin).map_err(|e| {
            PolicyError::Invalid {
                at: origin.clone(),
                problem: format!("the allowed-signers file is not valid: {e}"),
            }
        })?;
        Ok(Signers {
            origin,
            file: std::sync::Arc::new(file),
            tree_path: None,
        })
    }
}

/// The text of the file at `path` in `commit`'s tree, if there is one.
fn read_file(
    repo: &gix::Repository,
    commit: gix::ObjectId,
    path: &str,
) -> Result<Option<String>, PolicyError> {
    let at = commit.to_hex_with_len(12).to_string();
    let read = |message: String| PolicyError::Read {
        at: at.clone(),
        message,
    };
    let commit = repo.find_commit(commit).map_err(|e| read(e.to_string()))?;
    let tree = commit.tree().map_err(|e| read(e.to_string()))?;
    let Some(entry) = tree
        .lookup_entry_by_path(path)
        .map_err(|e| read(e.to_string()))?
    else {
        return Ok(None);
    };
    if !entry.mode().is_blob() {
        return Err(PolicyError::Invalid {
            at: at.clone(),
            problem: format!("{path} is not a file"),
        });
    }
    let blob = entry.object().map_err(|e| read(e.to_string()))?;
    let text = std::str::from_utf8(&blob.data).map_err(|_| PolicyError::Invalid {
        at: at.clone(),
        problem: format!("{path} is not UTF-8"),
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

    /// The two reviewer rules every reviewer check asks: the list, then self-review.
    #[test]
    fn reviewer_rules() {
        let mut p = Policy::default();
        assert!(p.accepts_reviewer("anyone@x.org"));
        assert!(p.forbids_self_review("Ada@X.org", "ada@x.org"));
        assert!(!p.forbids_self_review("grace@x.org", "ada@x.org"));
        p.reviewers = vec!["grace@x.org".into()];
        assert!(p.accepts_reviewer("Grace@X.org"));
        assert!(!p.accepts_reviewer("ada@x.org"));
        p.allow_self_review = true;
        assert!(!p.forbids_self_review("ada@x.org", "ada@x.org"));
    }

    #[test]
    fn protection_by_name() {
        let p = Policy::default();
        assert_eq!(
            p.protection("refs/heads/aiflow/rate-limit"),
            Some(Scope::Integration)
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
        // Both spellings of a key; the new keys.
        let (p, _) = Policy::parse(
            "schema = 1\n[gate]\nallow_self_review = true\nallow-delete = [\"aiflow/*\"]\nallow_replace_refs = true\n",
            "x",
        )
        .unwrap();
        assert!(p.allow_self_review && p.allow_replace_refs && p.typed_trailers);
        assert!(p.allows_delete("refs/heads/aiflow/x") && !p.allows_delete("refs/heads/main"));
        let e = Policy::parse("schema = 1\n[gate]\nreviews = \"signed\"\n", "x").unwrap_err();
        assert!(e.to_string().contains("allowed-signers"), "{e}");
        assert!(Policy::parse("schema = 1\n[gate]\nreviews = \"gpg\"\n", "x").is_err());
        assert!(
            Policy::parse(
                "schema = 1\n[gate]\nreviews = \"signed\"\nallowed-signers = \"../x\"\n",
                "x"
            )
            .is_err()
        );
    }
}
