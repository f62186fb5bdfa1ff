//! The `command` provider: pipe the prompt into any program (`claude -p`, `llm`, `codex exec`, a
//! script) and read its answer from standard output.
//!
//! The command runs with `sh -c`, as git runs its own configured commands, in the work tree's
//! root. It gets the prompt on stdin, and also in a file named by `AIFLOW_PROMPT_FILE` for
//! programs that want a path; `AIFLOW_TEMPLATE` names the template (`questions`, `plan`,
//! `expand`, `repair`).

use super::http::{Spinner, excerpt};
use super::{AiError, ErrorKind, Place, Provider, Reply, Request, Settings};
use crate::git::process::{Input, Process, ProcessError, Sink};
use std::time::{Duration, Instant};

/// The most output read from a command; a plan is a few kilobytes.
const MAX_OUTPUT: usize = 8 * 1024 * 1024;

pub(crate) struct CommandProvider {
    command: String,
    /// The program's name, recorded as the "model": never the whole command line, which may hold
    /// a key or an environment assignment.
    program: String,
    place: Place,
    timeout: Duration,
}

impl CommandProvider {
    pub(crate) fn new(settings: &Settings, place: &Place) -> Result<CommandProvider, AiError> {
        let command = settings.command.clone().ok_or_else(|| {
            AiError::new(ErrorKind::Config, "the command provider needs a command to run").hint(
                "set one with `git config aiflow.command 'claude -p'` or --command; it gets the prompt on stdin and answers on stdout",
            )
        })?;
        Ok(CommandProvider {
            program: program_name(&command),
            command,
            place: place.clone(),
            timeout: settings.timeout,
        })
    }
}

impl Provider for CommandProvider {
    fn name(&self) -> &'static str {
        "command"
    }

    fn model(&self) -> Option<&str> {
        Some(&self.program)
    }

    fn complete(&self, request: &Request) -> Result<Reply, AiError> {
        let prompt = request.transcript();
        let prompt_file = self.place.write_prompt(&prompt)?;
        let start = Instant::now();
        let _spinner = Spinner::start(format!("waiting for `{}`", self.command));
        let template = if request.messages.len() > 1 {
            "repair"
        } else {
            request.kind
        };
        let done = Process::shell(&self.command, &[], format!("`{}`", self.command))
            .dir(&self.place.workdir)
            .env("AIFLOW_PROMPT_FILE", &prompt_file)
            .env("AIFLOW_TEMPLATE", template)
            .stdin(Input::Bytes(prompt.into_bytes()))
            .stdout(Sink::Capture { limit: MAX_OUTPUT })
            .stderr(Sink::Capture { limit: MAX_OUTPUT })
            .timeout(Some(self.timeout))
            .run();
        let done = match done {
            Ok(done) => done,
            Err(ProcessError::TimedOut { .. }) => {
                return Err(AiError::new(
                    ErrorKind::Transport,
                    format!(
                        "`{}` did not finish within {} s; it was stopped",
                        self.command,
                        self.timeout.as_secs()
                    ),
                )
                .hint(
                    "raise the limit with --timeout SECONDS or `git config aiflow.timeout SECONDS`",
                ));
            }
            Err(ProcessError::Start { source, .. }) => {
                return Err(AiError::new(
                    ErrorKind::Config,
                    format!("could not start `{}`", self.command),
                )
                .caused_by(&source));
            }
            Err(ProcessError::Wait { source, .. }) => {
                return Err(AiError::new(
                    ErrorKind::Transport,
                    format!("could not wait for `{}`", self.command),
                )
                .caused_by(&source));
            }
        };
        let (status, out, err) = (done.status, done.stdout, done.stderr);
        let text = String::from_utf8_lossy(&out).into_owned();
        if !status.success() {
            let tail: Vec<&str> = std::str::from_utf8(&err)
                .unwrap_or("")
                .lines()
                .rev()
                .take(10)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let mut e = AiError::new(
                ErrorKind::Transport,
                format!("`{}` failed ({status})", self.command),
            )
            .hint("run the command by hand with the prompt on stdin to see what it needs")
            .hint(format!("the prompt is in {}", prompt_file.display()));
            if !tail.is_empty() {
                e = e.cause(excerpt(&tail.join(" | ")));
            }
            if !text.trim().is_empty() {
                e = e.raw(text);
            }
            return Err(e);
        }
        if text.trim().is_empty() {
            return Err(AiError::new(
                ErrorKind::Answer,
                format!("`{}` printed nothing on standard output", self.command),
            )
            .hint("the command must print the model's answer on stdout"));
        }
        Ok(Reply {
            text,
            model: None,
            tokens_in: None,
            tokens_out: None,
            duration: start.elapsed(),
        })
    }
}

/// The name of the program a shell command line runs: the first word that is not a variable
/// assignment, without its directory (`OPENAI_API_KEY=… /usr/bin/llm -m x` gives `llm`).
pub(crate) fn program_name(command: &str) -> String {
    command
        .split_whitespace()
        .find(|w| !w.contains('='))
        .map(|w| w.trim_matches(['"', '\'']))
        .map(|w| w.rsplit('/').next().unwrap_or(w).to_string())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "command".to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn program_names_hide_arguments_and_assignments() {
        assert_eq!(super::program_name("claude -p"), "claude");
        assert_eq!(
            super::program_name("OPENAI_API_KEY=sk-x /usr/local/bin/llm -m gpt"),
            "llm"
        );
        assert_eq!(super::program_name("x=1 y=2"), "command");
    }
}
