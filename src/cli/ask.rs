//! Asking a provider for structured output: provider flags, the request, one repair round, and
//! saving an unusable answer for inspection. Shared by `plan` (questions and plans) and, later,
//! the commands that run agents.

use super::error::CliError;
use super::input;
use crate::ai::prompt::{Rendered, Templates};
use crate::ai::{self, Message, Overrides, Provider, Request, Role, Settings};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// The flags that choose and configure a provider.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ProviderArgs {
    /// The provider: openai, anthropic, command or manual [default: aiflow.provider, else manual].
    #[arg(long, value_name = "name")]
    pub provider: Option<String>,
    /// The model [default: aiflow.model].
    #[arg(long, value_name = "name")]
    pub model: Option<String>,
    /// The server's base URL, such as http://127.0.0.1:8080/v1 [default: aiflow.baseUrl].
    #[arg(long, value_name = "url")]
    pub base_url: Option<String>,
    /// The program the command provider runs, prompt on stdin [default: aiflow.command].
    #[arg(long = "command", value_name = "cmd")]
    pub command: Option<String>,
    /// The limit for one request, in seconds [default: aiflow.timeout, else 300].
    #[arg(long, value_name = "seconds")]
    pub timeout: Option<u64>,
}

impl ProviderArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            provider: self.provider.clone(),
            model: self.model.clone(),
            base_url: self.base_url.clone(),
            command: self.command.clone(),
            timeout: self.timeout,
        }
    }
}

/// A provider ready to be asked, with what provenance needs.
pub struct Asker {
    provider: Box<dyn Provider>,
    /// The provider's name.
    pub provider_name: &'static str,
    /// The configured model.
    pub model: Option<String>,
    templates: Templates,
    save_dir: PathBuf,
    label: String,
}

/// What came back, after parsing.
pub struct Answered<T> {
    /// The parsed value.
    pub value: T,
    /// The raw text it was parsed from.
    pub raw: String,
    /// What the requests cost.
    pub usage: Usage,
}

/// What the requests of one question cost, summed over the repair request.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    /// The model that answered, as reported (else the configured one).
    pub model: Option<String>,
    /// Prompt tokens over all requests, when reported.
    pub tokens_in: Option<u64>,
    /// Answer tokens over all requests, when reported.
    pub tokens_out: Option<u64>,
    /// Milliseconds over all requests.
    pub duration_ms: u64,
}

impl Asker {
    /// Resolve settings and build the provider. `label` names prompt and answer files
    /// (`rate-limit-plan`).
    pub fn new(
        repo: &gix::Repository,
        args: &ProviderArgs,
        templates: Templates,
        label: &str,
    ) -> Result<Asker, CliError> {
        let config = repo.config_snapshot();
        crate::ai::secrets::remember_config(&config);
        let settings = Settings::resolve(&config, &args.overrides())?;
        let save_dir = input::draft_dir(repo);
        let place = ai::Place {
            prompt_dir: save_dir.clone(),
            workdir: repo
                .workdir()
                .map(|p| p.to_owned())
                .unwrap_or_else(|| repo.git_dir().to_owned()),
            label: label.to_string(),
            editor: input::editor_command(repo).ok(),
        };
        let provider = ai::provider(&settings, &place)?;
        Ok(Asker {
            provider_name: provider.name(),
            model: provider.model().map(str::to_string),
            provider,
            templates,
            save_dir,
            label: label.to_string(),
        })
    }

    /// Where an unusable answer is saved.
    pub fn reply_file(&self) -> PathBuf {
        self.save_dir.join(format!("REPLY-{}.txt", self.label))
    }

    /// Save `raw` for inspection and return a hint naming the file. (The provider's answers are
    /// sanitised and redacted where they enter; this redacts again, for keys set since.)
    pub fn keep(&self, raw: &str) -> Option<String> {
        let path = self.reply_file();
        std::fs::create_dir_all(&self.save_dir).ok()?;
        std::fs::write(&path, ai::Redactor::current().scrub(raw)).ok()?;
        Some(format!("the answer is saved in {}", path.display()))
    }

    /// Ask, parse with `parse`, and if that fails ask once more quoting the problems (saying so
    /// on `progress`).
    pub fn ask<T>(
        &self,
        progress: &mut dyn std::io::Write,
        mut request: Request,
        shape: &str,
        parse: impl Fn(&str) -> Result<T, Vec<String>>,
    ) -> Result<Answered<T>, CliError> {
        let start = Instant::now();
        let mut usage = Usage::default();
        let first = self.complete(&request, &mut usage)?;
        let errors = match parse(&first.text) {
            Ok(value) => return Ok(usage.finish(value, first.text, start, &self.model)),
            Err(errors) => redact_all(errors),
        };
        if !self.provider.can_repair() {
            return Err(self.invalid(&first.text, &errors, false));
        }
        let repair = self.templates.render(
            "repair",
            &RepairContext {
                errors: &errors,
                shape,
            },
        )?;
        let _ = writeln!(
            progress,
            "The answer could not be used ({}); asking once more.",
            summary(&errors)
        );
        request.messages.push(Message {
            role: Role::Assistant,
            content: first.text.clone(),
        });
        request.messages.push(Message {
            role: Role::User,
            content: repair.text,
        });
        let second = self.complete(&request, &mut usage)?;
        match parse(&second.text) {
            Ok(value) => Ok(usage.finish(value, second.text, start, &self.model)),
            Err(errors) => Err(self.invalid(&second.text, &redact_all(errors), true)),
        }
    }

    fn complete(&self, request: &Request, usage: &mut Usage) -> Result<ai::Reply, CliError> {
        match self.provider.complete(request) {
            Ok(reply) => {
                usage.add(&reply);
                Ok(reply)
            }
            Err(e) => {
                let raw = e.raw.clone();
                let mut err = CliError::from(e);
                if let Some(raw) = raw.filter(|r| !r.trim().is_empty())
                    && let Some(h) = self.keep(&raw)
                {
                    err = err.hint(h);
                }
                Err(err.hint("nothing was written"))
            }
        }
    }

    fn invalid(&self, raw: &str, errors: &[String], repaired: bool) -> CliError {
        let what = if repaired {
            format!(
                "the answer from {} is still not usable after a repair request",
                self.provider_name
            )
        } else {
            format!("the answer from {} is not usable", self.provider_name)
        };
        let mut err = CliError::usage(format!("{what}:\n  - {}", errors.join("\n  - ")));
        if let Some(h) = self.keep(raw) {
            err = err.hint(h);
        }
        if !repaired && self.provider_name == "manual" {
            err = err.hint("fix the answer (or ask the model again) and pipe it in once more");
        }
        err.hint("nothing was written")
    }
}

/// Problems quote the answer's strings, decoded from JSON escapes the boundary could not see
/// through: redact them before they are printed or sent back.
fn redact_all(errors: Vec<String>) -> Vec<String> {
    let r = ai::Redactor::current();
    errors.into_iter().map(|e| r.redact_string(e)).collect()
}

fn summary(errors: &[String]) -> String {
    match errors {
        [one] => one.clone(),
        _ => format!("{} problems", errors.len()),
    }
}

#[derive(Serialize)]
struct RepairContext<'a> {
    errors: &'a [String],
    shape: &'a str,
}

impl Usage {
    fn add(&mut self, r: &ai::Reply) {
        if r.model.is_some() {
            self.model = r.model.clone();
        }
        let sum = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        self.tokens_in = sum(self.tokens_in, r.tokens_in);
        self.tokens_out = sum(self.tokens_out, r.tokens_out);
    }

    fn finish<T>(
        mut self,
        value: T,
        raw: String,
        start: Instant,
        configured: &Option<String>,
    ) -> Answered<T> {
        self.model = self.model.or_else(|| configured.clone());
        self.duration_ms = start.elapsed().as_millis() as u64;
        Answered {
            value,
            raw,
            usage: self,
        }
    }
}

/// A request from rendered templates.
pub fn request(
    kind: &'static str,
    system: &Rendered,
    prompt: &Rendered,
    schema: Option<serde_json::Value>,
) -> Request {
    Request {
        kind,
        system: system.text.clone(),
        messages: vec![Message {
            role: Role::User,
            content: prompt.text.clone(),
        }],
        schema,
    }
}
