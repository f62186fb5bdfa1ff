//! Talking to a model: providers behind one trait, prompt templates, and reading the structured
//! answers a model returns.
//!
//! Model output is data. Nothing here runs it, and nothing it contains becomes a ref name or a
//! trailer without passing through [`answer`]'s validation and sanitising. Every provider is
//! wrapped by [`provider`] so that its answers and errors come out [`sanitize`]d and with the
//! API keys of the environment [`secrets`] redacted, and its prompts go in redacted.

pub mod answer;
mod anthropic;
pub mod ask;
pub(crate) mod command;
pub mod config;
mod http;
pub(crate) use http::Spinner;
mod manual;
mod openai;
pub mod prompt;
pub mod sanitize;
pub mod secrets;

pub use config::{Overrides, ProviderKind, Settings};
pub use secrets::Redactor;

use std::time::Duration;

/// Who says a message in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The human side: prompts and repair requests.
    User,
    /// The model's earlier answer (for a repair request).
    Assistant,
}

impl Role {
    /// The role's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone)]
pub struct Message {
    /// Who says it.
    pub role: Role,
    /// What is said.
    pub content: String,
}

/// What a provider is asked.
#[derive(Debug, Clone)]
pub struct Request {
    /// Which template the prompt came from (`questions`, `plan`): names files and the JSON schema.
    pub kind: &'static str,
    /// Instructions for the model.
    pub system: String,
    /// The conversation: the prompt, and for a repair the earlier answer and the repair request.
    pub messages: Vec<Message>,
    /// A JSON schema for the answer, for servers that can enforce one.
    pub schema: Option<serde_json::Value>,
}

impl Request {
    /// The system text and the conversation as one text, for providers that take a single prompt
    /// (command, manual, `--print-prompt`).
    pub fn transcript(&self) -> String {
        let mut out = String::new();
        if !self.system.trim().is_empty() {
            out.push_str(self.system.trim_end());
            out.push_str("\n\n");
        }
        if self.messages.len() == 1 {
            out.push_str(&self.messages[0].content);
            return out;
        }
        for m in &self.messages {
            let head = match m.role {
                Role::User => "## Request",
                Role::Assistant => "## Your earlier answer",
            };
            out.push_str(head);
            out.push_str("\n\n");
            out.push_str(m.content.trim_end());
            out.push_str("\n\n");
        }
        out
    }
}

/// What a provider answered.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    /// The answer text.
    pub text: String,
    /// The model that answered, as the server reports it.
    pub model: Option<String>,
    /// Prompt tokens, when reported.
    pub tokens_in: Option<u64>,
    /// Answer tokens, when reported.
    pub tokens_out: Option<u64>,
    /// How long it took, retries included.
    pub duration: Duration,
}

/// A provider: turns a request into an answer.
pub trait Provider {
    /// The provider's name (`openai`, `anthropic`, `command`, `manual`).
    fn name(&self) -> &'static str;
    /// The configured model, if the provider has one.
    fn model(&self) -> Option<&str>;
    /// Ask.
    fn complete(&self, request: &Request) -> Result<Reply, AiError>;
    /// Whether a failed answer can be repaired by asking again without the user's help.
    fn can_repair(&self) -> bool {
        true
    }
}

/// What went wrong, for the exit code and the wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The settings are incomplete or wrong.
    Config,
    /// The server could not be reached, timed out, or failed.
    Transport,
    /// The server refused the credentials or the model (401, 403, 404).
    Rejected,
    /// The answer is unusable (cut off, not JSON, invalid).
    Answer,
    /// The user stopped (empty manual answer, editor failure).
    Aborted,
}

/// An error from a provider, with what to do about it. The text never contains an API key.
#[derive(Debug, Clone)]
pub struct AiError {
    /// The category.
    pub kind: ErrorKind,
    /// The message.
    pub message: String,
    /// Why, outermost first: each link of the underlying error's chain, or the server's own
    /// words. Kept as text so that every link is scrubbed of secrets before it is printed.
    pub causes: Vec<String>,
    /// What to do about it.
    pub hints: Vec<String>,
    /// The raw answer, when there was one: saved for inspection.
    pub raw: Option<String>,
    /// The HTTP status, for errors a server answered.
    pub status: Option<u16>,
}

impl AiError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        AiError {
            kind,
            message: message.into(),
            causes: Vec::new(),
            hints: Vec::new(),
            raw: None,
            status: None,
        }
    }

    /// Attach a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Attach a cause in words (the server's explanation, an excerpt of an answer).
    pub fn cause(mut self, cause: impl Into<String>) -> Self {
        self.causes.push(cause.into());
        self
    }

    /// Attach an underlying error and its chain, link by link (a link that repeats the one
    /// before it, as some errors' messages do, is left out).
    pub fn caused_by(mut self, error: &(dyn std::error::Error + 'static)) -> Self {
        let mut cur = Some(error);
        while let Some(e) = cur {
            let text = e.to_string();
            if !self.causes.iter().any(|c| c.contains(&text)) {
                self.causes.push(text);
            }
            cur = e.source();
        }
        self
    }

    /// Attach the raw answer.
    pub fn raw(mut self, raw: impl Into<String>) -> Self {
        self.raw = Some(raw.into());
        self
    }

    /// Every text made safe to print and store: control sequences removed, secrets redacted.
    pub fn scrub(mut self, redactor: &Redactor) -> Self {
        self.message = redactor.scrub(&self.message);
        self.causes = self.causes.iter().map(|c| redactor.scrub(c)).collect();
        self.raw = self.raw.map(|r| redactor.scrub(&r));
        self.hints = self.hints.iter().map(|h| redactor.scrub(h)).collect();
        self
    }
}

impl std::fmt::Display for AiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AiError {}

/// Where a provider works: the directory for prompt and answer files, the work tree a command
/// runs in, a label naming the files (`rate-limit-plan`), and the editor for the manual provider.
#[derive(Debug, Clone)]
pub struct Place {
    /// Where prompt files go (`<git common dir>/aiflow`).
    pub prompt_dir: std::path::PathBuf,
    /// Where a command runs (the work tree's root, or the git dir of a bare repository).
    pub workdir: std::path::PathBuf,
    /// Names the prompt file: `PROMPT-<label>.md`.
    pub label: String,
    /// The editor command git would use, for the manual provider on a terminal.
    pub editor: Option<String>,
    /// The command that asks again (`git aiflow plan rate-limit`), for the manual provider's hints.
    pub again: String,
}

impl Place {
    /// Write `prompt` to `PROMPT-<label>.md` in the prompt directory and return its path.
    pub fn write_prompt(&self, prompt: &str) -> Result<std::path::PathBuf, AiError> {
        let fail = |what: &str, path: &std::path::Path, e: std::io::Error| {
            AiError::new(
                ErrorKind::Config,
                format!("could not {what} {}", path.display()),
            )
            .caused_by(&e)
        };
        std::fs::create_dir_all(&self.prompt_dir)
            .map_err(|e| fail("create", &self.prompt_dir, e))?;
        let path = self.prompt_dir.join(format!("PROMPT-{}.md", self.label));
        let prompt = Redactor::current().redact(prompt).into_owned();
        std::fs::write(&path, prompt).map_err(|e| fail("write", &path, e))?;
        Ok(path)
    }
}

/// Build the provider `settings` names, working in `place`: wrapped so that what it is sent is
/// redacted, and what it answers (text, model name, errors) is sanitised and redacted, whichever
/// provider it is.
pub fn provider(settings: &Settings, place: &Place) -> Result<Box<dyn Provider>, AiError> {
    if let Some(name) = &settings.api_key_env {
        secrets::remember_var(name);
    }
    let redactor = Redactor::current();
    let inner: Box<dyn Provider> = match settings.provider {
        ProviderKind::OpenAi => {
            Box::new(openai::OpenAi::new(settings).map_err(|e| e.scrub(&redactor))?)
        }
        ProviderKind::Anthropic => {
            Box::new(anthropic::Anthropic::new(settings).map_err(|e| e.scrub(&redactor))?)
        }
        ProviderKind::Command => Box::new(
            command::CommandProvider::new(settings, place).map_err(|e| e.scrub(&redactor))?,
        ),
        ProviderKind::Manual => Box::new(manual::Manual::new(place)),
    };
    Ok(Box::new(Guarded { inner, redactor }))
}

/// The boundary every provider's answer crosses.
struct Guarded {
    inner: Box<dyn Provider>,
    redactor: Redactor,
}

impl Provider for Guarded {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn model(&self) -> Option<&str> {
        self.inner.model()
    }

    fn can_repair(&self) -> bool {
        self.inner.can_repair()
    }

    fn complete(&self, request: &Request) -> Result<Reply, AiError> {
        let r = &self.redactor;
        let mut sent = request.clone();
        r.redact_in_place(&mut sent.system);
        for m in &mut sent.messages {
            r.redact_in_place(&mut m.content);
        }
        match self.inner.complete(&sent) {
            Ok(reply) => Ok(Reply {
                text: r.scrub(&sanitize::clean_model_text(&reply.text)),
                model: reply.model.map(|m| r.scrub(&m)),
                ..reply
            }),
            Err(mut e) => {
                e.raw = e
                    .raw
                    .map(|raw| sanitize::clean_model_text(&raw).into_owned());
                Err(e.scrub(r))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-test-boundary-0001";

    /// A provider that answers with what it was asked, putting the key back in (a server that
    /// echoes it), and fails when asked something starting with `fail`.
    struct Echo;

    impl Provider for Echo {
        fn name(&self) -> &'static str {
            "echo"
        }
        fn model(&self) -> Option<&str> {
            None
        }
        fn complete(&self, request: &Request) -> Result<Reply, AiError> {
            assert!(
                !format!("{request:?}").contains(KEY),
                "the key was sent: {request:?}"
            );
            let text = request.messages[0].content.replace("[redacted]", KEY);
            if text.starts_with("fail") {
                return Err(AiError::new(ErrorKind::Answer, text.clone())
                    .cause(text.clone())
                    .hint(text.clone())
                    .raw(text));
            }
            Ok(Reply {
                model: Some(format!("m\x1b]0;t\x07{text}")),
                text,
                ..Reply::default()
            })
        }
    }

    fn ask(p: &Guarded, content: &str) -> Result<Reply, AiError> {
        p.complete(&Request {
            kind: "plan",
            system: format!("system {content}"),
            messages: vec![Message {
                role: Role::User,
                content: content.to_string(),
            }],
            schema: None,
        })
    }

    #[test]
    fn the_boundary_redacts_what_goes_in_and_cleans_what_comes_out() {
        let key = KEY;
        let p = Guarded {
            inner: Box::new(Echo),
            redactor: Redactor::new([key]),
        };
        let reply = ask(&p, &format!("\x1b[31m{key}\u{202e}\r\n")).unwrap();
        assert_eq!(reply.text, "[redacted]\n");
        assert_eq!(reply.model.as_deref(), Some("m[redacted]\n"));
        let err = ask(&p, &format!("fail \x1b]8;;x\x07{key}")).unwrap_err();
        for t in [
            &err.message,
            &err.causes[0],
            &err.hints[0],
            err.raw.as_ref().unwrap(),
        ] {
            assert_eq!(t, "fail [redacted]");
        }
    }
}
