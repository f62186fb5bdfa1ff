//! Which provider to use and how: `aiflow.*` git config, overridden by command-line flags. API
//! keys come only from the environment.

use super::{AiError, ErrorKind};
use std::time::Duration;

/// The providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// Any OpenAI-compatible `/chat/completions` server.
    OpenAi,
    /// Anthropic's Messages API.
    Anthropic,
    /// A local program: prompt on stdin, answer on stdout.
    Command,
    /// Copy and paste: the prompt goes to a file, the answer comes from stdin or the editor.
    Manual,
}

impl ProviderKind {
    /// The name used in config, flags and provenance.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Command => "command",
            ProviderKind::Manual => "manual",
        }
    }

    /// Parse a provider name.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "openai" => ProviderKind::OpenAi,
            "anthropic" => ProviderKind::Anthropic,
            "command" => ProviderKind::Command,
            "manual" => ProviderKind::Manual,
            _ => return None,
        })
    }
}

/// Values given on the command line, which win over config.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--provider`.
    pub provider: Option<String>,
    /// `--model`.
    pub model: Option<String>,
    /// `--base-url`.
    pub base_url: Option<String>,
    /// `--command`.
    pub command: Option<String>,
    /// `--timeout`, in seconds.
    pub timeout: Option<u64>,
}

/// The resolved settings of one request.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Which provider.
    pub provider: ProviderKind,
    /// The model name (`aiflow.model`).
    pub model: Option<String>,
    /// The server's base URL (`aiflow.baseUrl`), without a trailing slash.
    pub base_url: Option<String>,
    /// The environment variable holding the key (`aiflow.apiKeyEnv`).
    pub api_key_env: Option<String>,
    /// The program for the `command` provider (`aiflow.command`).
    pub command: Option<String>,
    /// The whole-request limit (`aiflow.timeout`, seconds; default 300).
    pub timeout: Duration,
    /// The connection limit (`aiflow.connectTimeout`, seconds; default 10).
    pub connect_timeout: Duration,
    /// How many times to retry a 429 or 5xx (`aiflow.retries`; default 3).
    pub retries: u32,
    /// The answer's token limit (`aiflow.maxTokens`; default 4096).
    pub max_tokens: u32,
    /// Whether to send a JSON schema to OpenAI-compatible servers (`aiflow.jsonSchema`).
    pub json_schema: bool,
}

/// The longest total timeout accepted (a day); more is surely a typo.
const MAX_TIMEOUT: u64 = 86_400;

impl Settings {
    /// Resolve from `config` and `flags`.
    pub fn resolve(
        config: &gix::config::Snapshot<'_>,
        flags: &Overrides,
    ) -> Result<Settings, AiError> {
        let string = |key: &str| -> Option<String> {
            config
                .string(key)
                .map(|v| v.to_string())
                .filter(|v| !v.trim().is_empty())
        };
        let provider_name = flags.provider.clone().or_else(|| string("aiflow.provider"));
        let provider = match &provider_name {
            None => ProviderKind::Manual,
            Some(name) => ProviderKind::parse(name).ok_or_else(|| {
                AiError::new(ErrorKind::Config, format!("unknown provider `{name}`")).hint(
                    "use openai, anthropic, command or manual (aiflow.provider or --provider)",
                )
            })?,
        };
        let number = |key: &str, default: u64, max: u64| -> Result<u64, AiError> {
            let bad = |shown: String| {
                AiError::new(
                    ErrorKind::Config,
                    format!("`{key}` must be a whole number from 0 to {max}; found `{shown}`"),
                )
                .hint(format!("fix it with `git config {key} {default}`"))
            };
            match config.try_integer(key) {
                Ok(None) => Ok(default),
                Ok(Some(v)) if (0..=max as i64).contains(&v) => Ok(v as u64),
                Ok(Some(v)) => Err(bad(v.to_string())),
                Err(_) => Err(bad(string(key).unwrap_or_default())),
            }
        };
        let timeout = match flags.timeout {
            Some(0) => {
                return Err(AiError::new(
                    ErrorKind::Config,
                    "--timeout must be at least 1 second",
                ));
            }
            Some(t) if t > MAX_TIMEOUT => {
                return Err(AiError::new(
                    ErrorKind::Config,
                    format!("--timeout must be at most {MAX_TIMEOUT} seconds"),
                ));
            }
            Some(t) => t,
            None => number("aiflow.timeout", 300, MAX_TIMEOUT)?.max(1),
        };
        let connect_timeout = number("aiflow.connectTimeout", 10, 600)?.max(1);
        let retries = number("aiflow.retries", 3, 10)? as u32;
        let max_tokens = number("aiflow.maxTokens", 4096, 1_000_000)?.max(16) as u32;
        let json_schema = config.try_boolean("aiflow.jsonSchema").map_err(|_| {
            AiError::new(
                ErrorKind::Config,
                "`aiflow.jsonSchema` must be true or false",
            )
        })?;
        let base_url = flags
            .base_url
            .clone()
            .or_else(|| string("aiflow.baseUrl"))
            .map(|u| u.trim().trim_end_matches('/').to_string());
        if let Some(url) = &base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(AiError::new(
                ErrorKind::Config,
                format!("the base URL `{url}` is not an http:// or https:// URL"),
            )
            .hint("set it with `git config aiflow.baseUrl http://127.0.0.1:8080/v1`"));
        }
        let api_key_env = string("aiflow.apiKeyEnv").map(|s| s.trim().to_string());
        if let Some(name) = &api_key_env
            && (name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        {
            return Err(AiError::new(
                ErrorKind::Config,
                format!("`aiflow.apiKeyEnv` must name an environment variable; found `{name}`"),
            )
            .hint(
                "it holds the variable's name, such as OPENROUTER_API_KEY, never the key itself",
            ));
        }
        Ok(Settings {
            provider,
            model: flags.model.clone().or_else(|| string("aiflow.model")),
            base_url,
            api_key_env,
            command: flags.command.clone().or_else(|| string("aiflow.command")),
            timeout: Duration::from_secs(timeout),
            connect_timeout: Duration::from_secs(connect_timeout),
            retries,
            max_tokens,
            json_schema: json_schema.unwrap_or(true),
        })
    }

    /// The model, which network providers need; `example` goes in the hint.
    pub fn require_model(&self, provider: &str, example: &str) -> Result<String, AiError> {
        self.model.clone().ok_or_else(|| {
            AiError::new(
                ErrorKind::Config,
                format!("the {provider} provider needs a model name"),
            )
            .hint(format!(
                "set one with `git config aiflow.model {example}` or --model"
            ))
        })
    }

    /// The error for a key that `provider` needs and the environment variable `var` lacks.
    pub fn missing_key(provider: &str, var: &str) -> AiError {
        AiError::new(
            ErrorKind::Config,
            format!("the {provider} provider needs an API key in the environment variable {var}"),
        )
        .hint(format!(
            "export {var}=… (keys are read from the environment only, never from config)"
        ))
    }

    /// The API key from the environment: `aiflow.apiKeyEnv`, else `default_env`. Returns the
    /// variable's name, and its value when set and not empty.
    pub fn api_key(&self, default_env: &str) -> (String, Option<String>) {
        let name = self
            .api_key_env
            .clone()
            .unwrap_or_else(|| default_env.to_string());
        let value = std::env::var(&name)
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        (name, value)
    }
}
