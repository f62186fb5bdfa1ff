//! Asking a provider for structured output: provider resolution, the request, one repair round,
//! and saving an unusable answer for inspection. Shared by the planning commands (questions and
//! plans); nothing here prints, except the one progress line a repair request writes to the
//! caller's writer.

use super::prompt::{Rendered, TemplateError, Templates};
use super::{AiError, ErrorKind, Message, Overrides, Provider, Request, Role, Settings};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// Why a question could not be asked, or its answer not used. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    /// The provider could not be set up, failed, or gave an unusable answer.
    #[error(transparent)]
    Ai(#[from] AiError),
    /// The repair prompt could not be rendered.
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// Where an asker keeps its files, and what it names them after.
#[derive(Debug, Clone)]
pub struct Place {
    /// Names prompt and answer files (`rate-limit-plan`).
    pub label: String,
    /// Where prompt files and unusable answers go (`<git common dir>/aiflow`).
    pub save_dir: PathBuf,
    /// The editor command git would use, for the manual provider on a terminal.
    pub editor: Option<String>,
    /// The command that asks again (`git aiflow plan rate-limit`), for the manual provider's hints.
    pub again: String,
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
    /// Resolve the settings (the repository's config under `overrides`) and build the provider.
    pub fn new(
        repo: &gix::Repository,
        overrides: &Overrides,
        templates: Templates,
        place: Place,
    ) -> Result<Asker, AskError> {
        let config = repo.config_snapshot();
        super::secrets::remember_config(&config);
        let settings = Settings::resolve(&config, overrides)?;
        let ai_place = super::Place {
            prompt_dir: place.save_dir.clone(),
            workdir: repo
                .workdir()
                .map(|p| p.to_owned())
                .unwrap_or_else(|| repo.git_dir().to_owned()),
            label: place.label.clone(),
            editor: place.editor,
            again: place.again,
        };
        let provider = super::provider(&settings, &ai_place)?;
        Ok(Asker {
            provider_name: provider.name(),
            model: provider.model().map(str::to_string),
            provider,
            templates,
            save_dir: place.save_dir,
            label: place.label,
        })
    }

    /// Where an unusable answer is saved.
    fn reply_file(&self) -> PathBuf {
        self.save_dir.join(format!("REPLY-{}.txt", self.label))
    }

    /// Save `raw` for inspection and return a hint naming the file. (The provider's answers are
    /// sanitised and redacted where they enter; this redacts again, for keys set since.)
    pub fn keep(&self, raw: &str) -> Option<String> {
        let path = self.reply_file();
        std::fs::create_dir_all(&self.save_dir).ok()?;
        std::fs::write(&path, super::Redactor::current().scrub(raw)).ok()?;
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
    ) -> Result<Answered<T>, AskError> {
        let start = Instant::now();
        let mut usage = Usage::default();
        let first = self.complete(&request, &mut usage)?;
        let errors = match parse(&first.text) {
            Ok(value) => return Ok(usage.finish(value, first.text, start, &self.model)),
            Err(errors) => redact_all(errors),
        };
        if !self.provider.can_repair() {
            return Err(self.invalid(&first.text, &errors, false).into());
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
            Err(errors) => Err(self.invalid(&second.text, &redact_all(errors), true).into()),
        }
    }

    fn complete(&self, request: &Request, usage: &mut Usage) -> Result<super::Reply, AiError> {
        match self.provider.complete(request) {
            Ok(reply) => {
                usage.add(&reply);
                Ok(reply)
            }
            Err(mut e) => {
                if let Some(raw) = e.raw.clone().filter(|r| !r.trim().is_empty())
                    && let Some(h) = self.keep(&raw)
                {
                    e = e.hint(h);
                }
                Err(e.hint("nothing was written"))
            }
        }
    }

    fn invalid(&self, raw: &str, errors: &[String], repaired: bool) -> AiError {
        let what = if repaired {
            format!(
                "the answer from {} is still not usable after a repair request",
                self.provider_name
            )
        } else {
            format!("the answer from {} is not usable", self.provider_name)
        };
        let mut err = AiError::new(
            ErrorKind::Answer,
            format!("{what}:\n  - {}", errors.join("\n  - ")),
        );
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
    let r = super::Redactor::current();
    errors.into_iter().map(|e| r.redact_string(e)).collect()
}

/// The problems in a few words: the one problem, or how many there are.
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
    fn add(&mut self, r: &super::Reply) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_one_problem_or_counts_them() {
        assert_eq!(summary(&["x is missing".into()]), "x is missing");
        assert_eq!(summary(&["a".into(), "b".into()]), "2 problems");
    }

    #[test]
    fn usage_sums_what_is_reported() {
        let mut u = Usage::default();
        let reply = |model: Option<&str>, i, o| super::super::Reply {
            text: String::new(),
            model: model.map(str::to_string),
            tokens_in: i,
            tokens_out: o,
            duration: std::time::Duration::ZERO,
        };
        u.add(&reply(Some("m1"), Some(3), None));
        u.add(&reply(None, Some(4), None));
        assert_eq!(u.model.as_deref(), Some("m1"));
        assert_eq!(u.tokens_in, Some(7));
        assert_eq!(u.tokens_out, None);
    }
}
