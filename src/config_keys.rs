//! Every `aiflow.*` configuration key, in one table: its type, default, the commands that read
//! it, and what in `.aiflow.toml` sets the same thing. `git aiflow config` lists them with their
//! effective values; the README's "Configuration" section and the manual's CONFIGURATION section
//! are generated from it (a test keeps the README's copy and the keys the code reads in step).
//!
//! Keys are read from git's configuration as git reads it: every scope, `include`s, `git -c`
//! (`GIT_CONFIG_PARAMETERS`), `GIT_CONFIG_COUNT`/`_KEY_n`/`_VALUE_n`, `GIT_CONFIG_GLOBAL`,
//! `GIT_CONFIG_SYSTEM` and `GIT_CONFIG_NOSYSTEM`. The gate's keys apply over `.aiflow.toml` only
//! where the file allows it (`allow-config = true`, or no policy file), in a work repository; in
//! a server's `pre-receive` the server's own config always applies. What the gate ignores on
//! purpose (replacement objects, grafts, diff settings that hide a change) stays ignored whatever
//! config or `git -c` says.

/// One key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Key {
    /// `aiflow.<name>`, spelled as the documentation spells it (git compares keys ignoring case).
    pub name: &'static str,
    /// `string`, `bool`, `integer`, `path`, `list` (a key that may be given several times), or
    /// one of a few words (`openai|anthropic|command|manual`).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The value when the key is not set, in words.
    pub default: &'static str,
    /// The commands that read it.
    pub read_by: &'static str,
    /// What in `.aiflow.toml` sets the same thing (`gate.trunk`), or `""` when the file cannot.
    pub policy_file: &'static str,
    /// What it does.
    pub about: &'static str,
}

const MODEL: &str = "plan, audit";
const GATE: &str = "check, hooks, integrate, finish, approve, status";

/// Every key, by topic.
pub const KEYS: &[Key] = &[
    Key {
        name: "aiflow.provider",
        kind: "openai|anthropic|command|manual",
        default: "manual",
        read_by: MODEL,
        policy_file: "",
        about: "Which model provider answers (--provider wins).",
    },
    Key {
        name: "aiflow.model",
        kind: "string",
        default: "none (openai and anthropic need one)",
        read_by: MODEL,
        policy_file: "",
        about: "The model name (--model wins).",
    },
    Key {
        name: "aiflow.baseUrl",
        kind: "string",
        default: "the provider's public API",
        read_by: MODEL,
        policy_file: "",
        about: "The API's base URL, http:// or https:// (--base-url wins).",
    },
    Key {
        name: "aiflow.apiKeyEnv",
        kind: "string",
        default: "OPENAI_API_KEY or ANTHROPIC_API_KEY",
        read_by: MODEL,
        policy_file: "",
        about: "The name of the environment variable holding the API key, never the key.",
    },
    Key {
        name: "aiflow.command",
        kind: "string",
        default: "none",
        read_by: MODEL,
        policy_file: "",
        about: "The command provider's command (sh -c; prompt on stdin, answer on stdout).",
    },
    Key {
        name: "aiflow.timeout",
        kind: "integer",
        default: "300",
        read_by: MODEL,
        policy_file: "",
        about: "Seconds a model call may take (--timeout wins).",
    },
    Key {
        name: "aiflow.connectTimeout",
        kind: "integer",
        default: "10",
        read_by: MODEL,
        policy_file: "",
        about: "Seconds to connect to the API.",
    },
    Key {
        name: "aiflow.retries",
        kind: "integer",
        default: "3",
        read_by: MODEL,
        policy_file: "",
        about: "Retries after a rate limit or a server error (0 to 10).",
    },
    Key {
        name: "aiflow.maxTokens",
        kind: "integer",
        default: "4096",
        read_by: MODEL,
        policy_file: "",
        about: "The most tokens the model may answer with.",
    },
    Key {
        name: "aiflow.jsonSchema",
        kind: "bool",
        default: "true",
        read_by: MODEL,
        policy_file: "",
        about: "Send the answer's JSON schema (structured output) to the API: `response_format` to OpenAI-compatible servers, a tool the model must call to Anthropic.",
    },
    Key {
        name: "aiflow.planContextBudget",
        kind: "integer",
        default: "1024",
        read_by: "plan",
        policy_file: "",
        about: "Tokens (about 4 bytes each) of the repository map in planning prompts; 0: no map (--context-budget wins).",
    },
    Key {
        name: "aiflow.planStrict",
        kind: "bool",
        default: "false",
        read_by: "plan, plan edit, plan expand",
        policy_file: "",
        about: "Refuse questions or a plan revision that plan lint warns about; nothing is written (--strict sets it for one command).",
    },
    Key {
        name: "aiflow.agent",
        kind: "string",
        default: "none",
        read_by: "exec",
        policy_file: "",
        about: "The coding agent's command (sh -c; prompt on stdin and in $AIFLOW_PROMPT_FILE).",
    },
    Key {
        name: "aiflow.agentTimeout",
        kind: "integer",
        default: "3600",
        read_by: "exec",
        policy_file: "",
        about: "Seconds the agent may run (--timeout wins).",
    },
    Key {
        name: "aiflow.agentName",
        kind: "string",
        default: "the agent's program name",
        read_by: "exec",
        policy_file: "",
        about: "The author name of the agent's commits.",
    },
    Key {
        name: "aiflow.agentEmail",
        kind: "string",
        default: "<name>@agent.invalid",
        read_by: "exec",
        policy_file: "",
        about: "The author email of the agent's commits.",
    },
    Key {
        name: "aiflow.fixAttempts",
        kind: "integer",
        default: "0",
        read_by: "exec",
        policy_file: "",
        about: "How many times exec runs the agent again while the tests fail (--fix wins).",
    },
    Key {
        name: "aiflow.test",
        kind: "string",
        default: "none",
        read_by: "step, exec, test",
        policy_file: "test.command",
        about: "The test command run on each step (a subtask's own command in the plan wins).",
    },
    Key {
        name: "aiflow.testTimeout",
        kind: "integer",
        default: "1800",
        read_by: "step, exec, test",
        policy_file: "test.timeout",
        about: "Seconds a test run may take (--timeout wins).",
    },
    Key {
        name: "aiflow.remote",
        kind: "string",
        default: "the only remote, else origin",
        read_by: "sync, status",
        policy_file: "",
        about: "The remote sync shares flows with (a remote named on the command line wins).",
    },
    Key {
        name: "aiflow.trunk",
        kind: "list",
        default: "main, master",
        read_by: GATE,
        policy_file: "gate.trunk",
        about: "Branches guarded for what comes from a flow.",
    },
    Key {
        name: "aiflow.strict",
        kind: "list",
        default: "none",
        read_by: GATE,
        policy_file: "gate.strict",
        about: "Branches on which every commit needs a review.",
    },
    Key {
        name: "aiflow.reviewTrailer",
        kind: "list",
        default: "Reviewed-by",
        read_by: GATE,
        policy_file: "gate.review-trailers",
        about: "Trailer keys that count as a review.",
    },
    Key {
        name: "aiflow.reviewer",
        kind: "list",
        default: "anyone",
        read_by: GATE,
        policy_file: "gate.reviewers",
        about: "The only reviewers accepted (emails, or Name <email>).",
    },
    Key {
        name: "aiflow.allowSelfReview",
        kind: "bool",
        default: "false",
        read_by: GATE,
        policy_file: "gate.allow-self-review",
        about: "Whether a commit's author may review it.",
    },
    Key {
        name: "aiflow.exemptMerges",
        kind: "bool",
        default: "true",
        read_by: GATE,
        policy_file: "gate.exempt-merges",
        about: "Whether merge commits need no review of their own.",
    },
    Key {
        name: "aiflow.exemptAnchor",
        kind: "bool",
        default: "true",
        read_by: GATE,
        policy_file: "gate.exempt-anchor",
        about: "Whether a flow's empty anchor commit needs no review.",
    },
    Key {
        name: "aiflow.allowDelete",
        kind: "list",
        default: "none",
        read_by: GATE,
        policy_file: "gate.allow-delete",
        about: "Protected branches that may be deleted (globs).",
    },
    Key {
        name: "aiflow.allowReplaceRefs",
        kind: "bool",
        default: "false",
        read_by: "hooks (server)",
        policy_file: "gate.allow-replace-refs",
        about: "Whether a push may create or move refs/replace/*.",
    },
    Key {
        name: "aiflow.typedTrailers",
        kind: "bool",
        default: "true with reviews = trailer",
        read_by: GATE,
        policy_file: "gate.typed-trailers",
        about: "Whether a review trailer alone counts for a commit outside any flow.",
    },
    Key {
        name: "aiflow.legacyPatchIds",
        kind: "bool",
        default: "false",
        read_by: GATE,
        policy_file: "gate.legacy-patch-ids",
        about: "Whether approvals recorded by patch id (0.1.0) still bind rebased commits.",
    },
    Key {
        name: "aiflow.tests",
        kind: "required|off",
        default: "off",
        read_by: GATE,
        policy_file: "gate.tests",
        about: "Whether merges need a recorded passing test run on their exact tree.",
    },
    Key {
        name: "aiflow.audit",
        kind: "resolved|off",
        default: "off",
        read_by: "finish",
        policy_file: "gate.audit",
        about: "Whether finish refuses a flow with an unjudged security finding.",
    },
    Key {
        name: "aiflow.reviews",
        kind: "trailer|signed",
        default: "trailer",
        read_by: GATE,
        policy_file: "gate.reviews",
        about: "What counts as a review: a trailer, or a signed attestation.",
    },
    Key {
        name: "aiflow.allowedSignersFile",
        kind: "path",
        default: "none",
        read_by: GATE,
        policy_file: "gate.allowed-signers",
        about: "Who may sign reviews (relative to the git directory).",
    },
];

/// The key named `name`, compared as git compares keys (ignoring case).
pub fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name.eq_ignore_ascii_case(name))
}

/// One `aiflow.*` key's effective setting.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Setting {
    /// The key, spelled as the table spells it (as git printed it when unknown).
    pub key: String,
    /// The values git gives, in git's order (the last wins for a single value; a list key takes
    /// them all); empty when unset. `None`: a key written without `=` (true).
    pub values: Vec<Option<String>>,
    /// Where each value came from: (scope, origin) as `git config --show-scope --show-origin`
    /// prints them (`local`, `file:.git/config`; `command`, `command line:`).
    pub origins: Vec<(String, String)>,
    /// The table's entry; `None` for a key git-aiflow does not read (a typo?).
    pub known: Option<&'static Key>,
}

/// Every key of the table and every other `aiflow.*` key that is set, with what git gives for
/// it in `dir`: git itself is asked (`git config --list --show-scope --show-origin`), so every
/// scope, include, `git -c` and `GIT_CONFIG_*` variable counts exactly as for git.
pub fn effective(dir: &std::path::Path) -> Result<Vec<Setting>, crate::git::cli::GitError> {
    let out = crate::git::cli::output(
        dir,
        &["config", "--list", "-z", "--show-scope", "--show-origin"],
    )?;
    let mut settings: Vec<Setting> = KEYS
        .iter()
        .map(|k| Setting {
            key: k.name.to_owned(),
            values: Vec::new(),
            origins: Vec::new(),
            known: Some(k),
        })
        .collect();
    for (key, value) in crate::gate::guard::parse_config_list(&out) {
        if !key.to_ascii_lowercase().starts_with("aiflow.") {
            continue;
        }
        let at = match settings
            .iter()
            .position(|s| s.key.eq_ignore_ascii_case(&key))
        {
            Some(i) => i,
            None => {
                settings.push(Setting {
                    key,
                    values: Vec::new(),
                    origins: Vec::new(),
                    known: None,
                });
                settings.len() - 1
            }
        };
        settings[at].values.push(value.value);
        settings[at].origins.push((value.scope, value.origin));
    }
    Ok(settings)
}

/// The table as Markdown, as the README's "Configuration" section shows it.
pub fn markdown() -> String {
    let mut out = String::from(
        "| key | type | default | read by | `.aiflow.toml` | what it does |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    for k in KEYS {
        let file = if k.policy_file.is_empty() {
            "-".to_owned()
        } else {
            format!("`{}`", k.policy_file)
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            k.name,
            k.kind.replace('|', "\\|"),
            k.default,
            k.read_by,
            file,
            k.about
        ));
    }
    out
}

/// The manual's CONFIGURATION section, in roff.
pub fn man_section() -> String {
    let esc = |s: &str| s.replace('\\', "\\e").replace('-', "\\-");
    let mut out = String::from(
        ".SH CONFIGURATION\n.nh\nSet with \\fBgit config\\fR, or for one command with \\fBgit \\-c\\fR \\fIkey\\fR=\\fIvalue\\fR \\fBaiflow\\fR; \\fBgit aiflow config\\fR lists the effective values and where each comes from. The gate's keys apply over \\fI.aiflow.toml\\fR only where the file allows it (\\fBallow\\-config = true\\fR).\n",
    );
    for k in KEYS {
        out.push_str(&format!(
            ".TP\n\\fB{}\\fR ({}; default: {})\n{} Read by: {}.",
            esc(k.name),
            esc(k.kind),
            esc(k.default),
            esc(k.about),
            esc(k.read_by)
        ));
        if !k.policy_file.is_empty() {
            out.push_str(&format!(
                " In .aiflow.toml: \\fB{}\\fR.",
                esc(k.policy_file)
            ));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_aiflow_keys() {
        for (i, k) in KEYS.iter().enumerate() {
            assert!(k.name.starts_with("aiflow."), "{}", k.name);
            assert!(find(&k.name.to_ascii_lowercase()).is_some());
            assert!(
                KEYS[..i]
                    .iter()
                    .all(|o| !o.name.eq_ignore_ascii_case(k.name)),
                "{} twice",
                k.name
            );
        }
    }

    #[test]
    fn the_man_section_hyphenates_nothing_and_names_every_key() {
        let roff = man_section();
        for k in KEYS {
            assert!(roff.contains(&k.name.replace('-', "\\-")), "{}", k.name);
        }
        assert!(
            !roff.contains("\n-"),
            "a line starting with - is not roff text"
        );
    }
}
