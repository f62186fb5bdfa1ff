//! The `manual` provider, the default: no key, no network. The prompt is written to a file (and
//! shown on a terminal); the user pastes it into any chat model and gives the answer back on
//! standard input, or in the editor when standard input is a terminal.

use super::{AiError, ErrorKind, Place, Provider, Reply, Request};
use std::io::{Read, Write};
use std::time::Instant;

/// Everything from this line on is dropped from the editor's text.
pub const SCISSORS: &str = "# ------------------------ >8 ------------------------";

const MAX_ANSWER: u64 = 8 * 1024 * 1024;

pub(crate) struct Manual {
    place: Place,
    interactive: bool,
}

impl Manual {
    pub(crate) fn new(place: &Place) -> Manual {
        Manual {
            place: place.clone(),
            interactive: crate::term::stdin(),
        }
    }

    fn read_editor(&self, prompt: &str, editor: &str) -> Result<String, AiError> {
        let path = self.place.prompt_dir.join(format!(
            "ANSWER-{}.{}.md",
            self.place.label,
            std::process::id()
        ));
        let mut text = String::from("\n\n");
        text.push_str(SCISSORS);
        text.push_str("\n# Paste the model's answer above this line, save and quit.\n# An empty answer stops without changing anything. The prompt follows.\n\n");
        text.push_str(prompt);
        std::fs::write(&path, text).map_err(|e| {
            AiError::new(
                ErrorKind::Config,
                format!("could not write {}", path.display()),
            )
            .caused_by(&e)
        })?;
        let status = crate::git::process::edit(editor, &path, &self.place.workdir);
        let result = match status {
            Ok(s) if s.success() => std::fs::read_to_string(&path).map_err(|e| {
                AiError::new(
                    ErrorKind::Config,
                    format!("could not read {}", path.display()),
                )
                .caused_by(&e)
            }),
            Ok(s) => Err(AiError::new(
                ErrorKind::Aborted,
                format!("the editor `{editor}` failed ({s}); nothing was changed"),
            )),
            Err(e) => Err(AiError::new(
                ErrorKind::Config,
                format!("could not start the editor `{editor}`"),
            )
            .caused_by(crate::git::process::cause(e).as_ref())),
        };
        let _ = std::fs::remove_file(&path);
        let text = result?;
        Ok(match text.find(SCISSORS) {
            Some(i) => text[..i].to_string(),
            None => text,
        })
    }
}

impl Provider for Manual {
    fn name(&self) -> &'static str {
        "manual"
    }

    fn model(&self) -> Option<&str> {
        None
    }

    fn can_repair(&self) -> bool {
        // A repair needs a second answer; standard input has given its one already.
        self.interactive && self.place.editor.is_some()
    }

    fn complete(&self, request: &Request) -> Result<Reply, AiError> {
        let prompt = request.transcript();
        let path = self.place.write_prompt(&prompt)?;
        let start = Instant::now();
        let text = if self.interactive {
            let editor = self.place.editor.clone().ok_or_else(|| {
                AiError::new(ErrorKind::Config, "no editor to paste the answer into").hint(format!(
                    "pipe the answer in instead: `{} < answer.txt`, or set GIT_EDITOR",
                    self.place.again
                ))
            })?;
            // Not `eprintln!`, which panics when standard error is a closed pipe.
            let _ = writeln!(
                std::io::stderr(),
                "The prompt is in {} (also below the scissors line in the editor).\nPaste it into any chat model, then paste the model's answer into the editor.",
                path.display()
            );
            self.read_editor(&prompt, &editor)?
        } else {
            let _ = writeln!(
                std::io::stderr(),
                "The prompt is in {}; reading the model's answer from standard input.",
                path.display()
            );
            let mut buf = Vec::new();
            std::io::stdin()
                .lock()
                .take(MAX_ANSWER)
                .read_to_end(&mut buf)
                .map_err(|e| {
                    AiError::new(ErrorKind::Config, "could not read standard input").caused_by(&e)
                })?;
            String::from_utf8_lossy(&buf).into_owned()
        };
        if text.trim().is_empty() {
            return Err(AiError::new(
                ErrorKind::Aborted,
                "no answer was given; nothing was changed",
            )
            .hint(format!(
                "paste the prompt from {} into a chat model, then pipe its answer in: `{} < answer.txt`",
                path.display(),
                self.place.again
            ))
            .hint("or configure a provider: `git config aiflow.provider openai` (see `git aiflow plan -h`)"));
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
