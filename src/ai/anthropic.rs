//! The `anthropic` provider: the Messages API.

use super::http::{Http, excerpt};
use super::{AiError, ErrorKind, Provider, Reply, Request, Settings};
use serde_json::json;

const DEFAULT_URL: &str = "https://api.anthropic.com";
const VERSION: &str = "2023-06-01";

pub(crate) struct Anthropic {
    http: Http,
    url: String,
    model: String,
    max_tokens: u32,
    key: String,
}

impl Anthropic {
    pub(crate) fn new(settings: &Settings) -> Result<Anthropic, AiError> {
        let base = settings.base_url.as_deref().unwrap_or(DEFAULT_URL);
        let model = settings.require_model("anthropic", "claude-sonnet-4-5")?;
        let (var, key) = settings.api_key("ANTHROPIC_API_KEY");
        let key = key.ok_or_else(|| Settings::missing_key("anthropic", &var))?;
        // The base URL may be given with or without the version path.
        let url = if base.ends_with("/v1") {
            format!("{base}/messages")
        } else {
            format!("{base}/v1/messages")
        };
        Ok(Anthropic {
            http: Http::new("anthropic", &model, settings)?,
            url,
            model,
            max_tokens: settings.max_tokens,
            key,
        })
    }
}

impl Provider for Anthropic {
    fn name(&self) -> &'static str {
        "anthropic"
    }

    fn model(&self) -> Option<&str> {
        Some(&self.model)
    }

    fn complete(&self, request: &Request) -> Result<Reply, AiError> {
        let messages: Vec<_> = request
            .messages
            .iter()
            .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
            .collect();
        let body = json!({
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": request.system,
            "messages": messages,
            "temperature": 0,
        });
        let headers = [
            ("x-api-key", self.key.clone()),
            ("anthropic-version", VERSION.to_string()),
        ];
        let answer = self.http.post_json(&self.url, &headers, &body)?;
        let v = &answer.json;
        let blocks = v.get("content").and_then(|c| c.as_array()).ok_or_else(|| {
            AiError::new(
                ErrorKind::Answer,
                format!("the reply from anthropic at {} has no content", self.url),
            )
            .cause(excerpt(&v.to_string()))
        })?;
        let text: String = blocks
            .iter()
            .filter(|b| b.get("type").and_then(|t| t.as_str()) == Some("text"))
            .filter_map(|b| b.get("text").and_then(|t| t.as_str()))
            .collect::<Vec<_>>()
            .join("");
        let stop = v.get("stop_reason").and_then(|s| s.as_str()).unwrap_or("");
        if stop == "max_tokens" {
            return Err(AiError::new(
                ErrorKind::Answer,
                format!(
                    "the model stopped at its token limit (max_tokens = {}) before finishing its answer",
                    self.max_tokens
                ),
            )
            .hint("raise the limit with `git config aiflow.maxTokens 8192`")
            .raw(text));
        }
        if text.trim().is_empty() {
            return Err(AiError::new(
                ErrorKind::Answer,
                format!(
                    "the reply from anthropic at {} has no text (stop_reason `{stop}`)",
                    self.url
                ),
            ));
        }
        Ok(Reply {
            text,
            model: v.get("model").and_then(|m| m.as_str()).map(str::to_string),
            tokens_in: v.pointer("/usage/input_tokens").and_then(|t| t.as_u64()),
            tokens_out: v.pointer("/usage/output_tokens").and_then(|t| t.as_u64()),
            duration: answer.duration,
        })
    }
}
