//! The `anthropic` provider: the Messages API.

use super::http::{Http, excerpt};
use super::{AiError, ErrorKind, Provider, Reply, Request, Settings};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};

const DEFAULT_URL: &str = "https://api.anthropic.com";
const VERSION: &str = "2023-06-01";

pub(crate) struct Anthropic {
    http: Http,
    url: String,
    model: String,
    max_tokens: u32,
    key: String,
    /// Whether to send the answer's JSON schema as a tool the model must call (cleared when
    /// the server refuses tools, as a proxy in front of an older API may).
    tools: AtomicBool,
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
            tools: AtomicBool::new(settings.json_schema),
        })
    }

    /// The request body. With a schema, structured output is tool use: the schema is the
    /// `input_schema` of one tool named after the request's kind, and `tool_choice` makes the
    /// model call it, so that the answer is the tool call's `input`.
    fn body(&self, request: &Request) -> serde_json::Value {
        let messages: Vec<_> = request
            .messages
            .iter()
            .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
            .collect();
        let mut body = json!({
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": request.system,
            "messages": messages,
            "temperature": 0,
        });
        if self.tools.load(Ordering::Relaxed)
            && let Some(schema) = &request.schema
        {
            body["tools"] = json!([{
                "name": request.kind,
                "description": format!("Give your {} answer: call this tool once, with the whole answer as its input.", request.kind),
                "input_schema": schema,
            }]);
            body["tool_choice"] = json!({"type": "tool", "name": request.kind});
        }
        body
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
        let headers = [
            ("x-api-key", self.key.clone()),
            ("anthropic-version", VERSION.to_string()),
        ];
        let answer = loop {
            match self
                .http
                .post_json(&self.url, &headers, &self.body(request))
            {
                // A server that refuses tools is asked again without them (once per run).
                Err(e)
                    if e.status == Some(400)
                        && request.schema.is_some()
                        && format!("{} {}", e.message, e.causes.join(" "))
                            .to_lowercase()
                            .contains("tool")
                        && self.tools.swap(false, Ordering::Relaxed) => {}
                other => break other?,
            }
        };
        parse_reply(&answer.json, &self.url, self.max_tokens, request.kind).map(|mut r| {
            r.duration = answer.duration;
            r
        })
    }
}

/// Read a Messages API reply: the `input` of the `tool_use` block calling `tool` (as JSON text),
/// else the text blocks (a server or model that answered without the tool).
fn parse_reply(
    v: &serde_json::Value,
    url: &str,
    max_tokens: u32,
    tool: &str,
) -> Result<Reply, AiError> {
    let blocks = v.get("content").and_then(|c| c.as_array()).ok_or_else(|| {
        AiError::new(
            ErrorKind::Answer,
            format!("the reply from anthropic at {url} has no content"),
        )
        .cause(excerpt(&v.to_string()))
    })?;
    let of_type = |t: &'static str| {
        blocks
            .iter()
            .filter(move |b| b.get("type").and_then(|x| x.as_str()) == Some(t))
    };
    let called = of_type("tool_use")
        .find(|b| b.get("name").and_then(|n| n.as_str()) == Some(tool))
        .or_else(|| of_type("tool_use").next())
        .and_then(|b| b.get("input"));
    let text: String = match called {
        Some(input) => input.to_string(),
        None => of_type("text")
            .filter_map(|b| b.get("text").and_then(|t| t.as_str()))
            .collect::<Vec<_>>()
            .join(""),
    };
    let stop = v.get("stop_reason").and_then(|s| s.as_str()).unwrap_or("");
    if stop == "max_tokens" {
        return Err(AiError::new(
            ErrorKind::Answer,
            format!(
                "the model stopped at its token limit (max_tokens = {max_tokens}) before finishing its answer"
            ),
        )
        .hint("raise the limit with `git config aiflow.maxTokens 8192`")
        .raw(text));
    }
    if stop == "refusal" {
        return Err(AiError::new(
            ErrorKind::Answer,
            format!("the model at {url} refused to answer (stop_reason `refusal`)"),
        )
        .raw(text));
    }
    if text.trim().is_empty() {
        return Err(AiError::new(
            ErrorKind::Answer,
            format!("the reply from anthropic at {url} has no answer (stop_reason `{stop}`)"),
        ));
    }
    Ok(Reply {
        text,
        model: v.get("model").and_then(|m| m.as_str()).map(str::to_string),
        tokens_in: v.pointer("/usage/input_tokens").and_then(|t| t.as_u64()),
        tokens_out: v.pointer("/usage/output_tokens").and_then(|t| t.as_u64()),
        duration: std::time::Duration::ZERO,
    })
}
