//! The `openai` provider: any OpenAI-compatible `/chat/completions` server (OpenAI, OpenRouter,
//! vLLM, llama.cpp's llama-server, LM Studio, Ollama's `/v1`).

use super::http::{Http, excerpt};
use super::{AiError, ErrorKind, Provider, Reply, Request, Settings};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};

const DEFAULT_URL: &str = "https://api.openai.com/v1";

pub(crate) struct OpenAi {
    http: Http,
    url: String,
    model: String,
    max_tokens: u32,
    key: Option<String>,
    /// Whether to send `response_format` (cleared when the server rejects it).
    schema: AtomicBool,
    /// Whether to send `temperature` (cleared for models that only take their default).
    temperature: AtomicBool,
    /// Whether to name the limit `max_completion_tokens` (newer OpenAI models refuse `max_tokens`).
    completion_tokens: AtomicBool,
}

impl OpenAi {
    pub(crate) fn new(settings: &Settings) -> Result<OpenAi, AiError> {
        let base = settings.base_url.as_deref().unwrap_or(DEFAULT_URL);
        let model = settings
            .require_model("openai", "gpt-4o-mini")
            .map_err(|e| e.hint("local servers accept any name"))?;
        let (var, key) = settings.api_key("OPENAI_API_KEY");
        // Local servers need no key; OpenAI's own does.
        if key.is_none() && base.starts_with("https://api.openai.com") {
            return Err(Settings::missing_key("openai", &var));
        }
        let url = format!("{base}/chat/completions");
        Ok(OpenAi {
            http: Http::new("openai", &model, settings)?,
            url,
            model,
            max_tokens: settings.max_tokens,
            key,
            schema: AtomicBool::new(settings.json_schema),
            temperature: AtomicBool::new(true),
            completion_tokens: AtomicBool::new(false),
        })
    }

    fn body(&self, request: &Request) -> serde_json::Value {
        let mut messages = vec![json!({"role": "system", "content": request.system})];
        for m in &request.messages {
            messages.push(json!({"role": m.role.as_str(), "content": m.content}));
        }
        let mut body = json!({
            "model": self.model,
            "messages": messages,
            "stream": false,
        });
        let limit = if self.completion_tokens.load(Ordering::Relaxed) {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body[limit] = json!(self.max_tokens);
        if self.temperature.load(Ordering::Relaxed) {
            body["temperature"] = json!(0);
        }
        if self.schema.load(Ordering::Relaxed)
            && let Some(schema) = &request.schema
        {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": request.kind, "strict": true, "schema": schema},
            });
        }
        body
    }
}

impl Provider for OpenAi {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn model(&self) -> Option<&str> {
        Some(&self.model)
    }

    fn complete(&self, request: &Request) -> Result<Reply, AiError> {
        let mut headers = Vec::new();
        if let Some(key) = &self.key {
            headers.push(("authorization", format!("Bearer {key}")));
        }
        // Servers and models differ in what they accept; a 400 that names a parameter is answered
        // by asking again without it (or under its newer name), and remembered for this run.
        let mut adjustments = 0;
        let answer = loop {
            match self
                .http
                .post_json(&self.url, &headers, &self.body(request))
            {
                Err(e) if e.status == Some(400) && adjustments < 3 && self.adjust(&e, request) => {
                    adjustments += 1;
                }
                other => break other?,
            }
        };
        parse_reply(&answer.json, &self.url, self.max_tokens).map(|mut r| {
            r.duration = answer.duration;
            r
        })
    }
}

impl OpenAi {
    /// Change what the next request sends after the server refused a parameter. Returns whether
    /// anything changed.
    fn adjust(&self, e: &AiError, request: &Request) -> bool {
        let text = format!("{} {}", e.message, e.causes.join(" ")).to_lowercase();
        let flip = |flag: &AtomicBool, to: bool| flag.swap(to, Ordering::Relaxed) != to;
        if request.schema.is_some()
            && (text.contains("response_format") || text.contains("json_schema"))
            && flip(&self.schema, false)
        {
            return true;
        }
        if text.contains("max_completion_tokens") && flip(&self.completion_tokens, true) {
            return true;
        }
        text.contains("temperature") && flip(&self.temperature, false)
    }
}

/// Read a `chat.completion` object.
fn parse_reply(v: &serde_json::Value, url: &str, max_tokens: u32) -> Result<Reply, AiError> {
    let choice = v.pointer("/choices/0").ok_or_else(|| {
        AiError::new(
            ErrorKind::Answer,
            format!("the reply from openai at {url} has no choices"),
        )
        .cause(excerpt(&v.to_string()))
    })?;
    let text = choice
        .pointer("/message/content")
        .and_then(|c| c.as_str())
        .unwrap_or("")
        .to_string();
    let finish = choice
        .get("finish_reason")
        .and_then(|f| f.as_str())
        .unwrap_or("");
    if finish == "length" {
        return Err(AiError::new(
            ErrorKind::Answer,
            format!("the model stopped at its token limit (max_tokens = {max_tokens}) before finishing its answer"),
        )
        .hint("raise the limit with `git config aiflow.maxTokens 8192`, or use a model that answers more briefly")
        .raw(text));
    }
    if text.trim().is_empty() {
        let refusal = choice
            .pointer("/message/refusal")
            .and_then(|r| r.as_str())
            .map(str::to_string);
        let mut err = AiError::new(
            ErrorKind::Answer,
            format!("the reply from openai at {url} has no content (finish_reason `{finish}`)"),
        );
        if let Some(r) = refusal {
            err = err.cause(format!("the model refused: {r}"));
        }
        return Err(err);
    }
    Ok(Reply {
        text,
        model: v.get("model").and_then(|m| m.as_str()).map(str::to_string),
        tokens_in: v.pointer("/usage/prompt_tokens").and_then(|t| t.as_u64()),
        tokens_out: v
            .pointer("/usage/completion_tokens")
            .and_then(|t| t.as_u64()),
        duration: Default::default(),
    })
}
