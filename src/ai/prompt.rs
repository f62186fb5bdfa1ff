//! Prompt templates: minijinja templates embedded in the binary, overridable per repository by a
//! file of the same name in `.aiflow/templates/`.
//!
//! A template's digest is its git blob id (what `git hash-object <file>` prints), so a recorded
//! digest can be matched to a file in any commit.

use serde::Serialize;
use std::path::{Path, PathBuf};

/// The directory, relative to the work tree's root, where per-repository templates live.
pub const OVERRIDE_DIR: &str = ".aiflow/templates";

/// The templates embedded in the binary: name and source.
const EMBEDDED: &[(&str, &str)] = &[
    ("system", include_str!("templates/system.md")),
    ("questions", include_str!("templates/questions.md")),
    ("plan", include_str!("templates/plan.md")),
    ("expand", include_str!("templates/expand.md")),
    ("repair", include_str!("templates/repair.md")),
    ("execute", include_str!("templates/execute.md")),
    ("audit-system", include_str!("templates/audit-system.md")),
    ("audit", include_str!("templates/audit.md")),
];

/// A rendered prompt and where its template came from.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The text.
    pub text: String,
    /// The template's file name (`plan.md`).
    pub file: String,
    /// `embedded`, or the override's path relative to the work tree.
    pub origin: String,
    /// The template source's git blob id.
    pub digest: String,
}

/// A template that does not parse or render: the file, the line, and what is wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[error("template {file}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
pub struct TemplateError {
    /// The file (`.aiflow/templates/plan.md`, or `plan.md (embedded)`).
    pub file: String,
    /// The line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// Where templates are looked up.
#[derive(Debug, Clone)]
pub struct Templates {
    workdir: Option<PathBuf>,
}

/// Where the template `name` comes from: an override file, or the binary.
#[derive(Debug, Clone)]
pub struct Source {
    /// The source text.
    pub text: String,
    /// `embedded`, or the path relative to the work tree.
    pub origin: String,
}

impl Templates {
    /// Templates for a repository whose work tree is `workdir` (`None`: bare, embedded only).
    pub fn new(workdir: Option<&Path>) -> Templates {
        Templates {
            workdir: workdir.map(Path::to_owned),
        }
    }

    /// The source of template `name`.
    pub fn source(&self, name: &str) -> Result<Source, TemplateError> {
        let file = format!("{name}.md");
        if let Some(dir) = &self.workdir {
            let path = dir.join(OVERRIDE_DIR).join(&file);
            let origin = format!("{OVERRIDE_DIR}/{file}");
            match std::fs::read(&path) {
                Ok(bytes) => {
                    let text = String::from_utf8(bytes).map_err(|e| TemplateError {
                        file: origin.clone(),
                        line: None,
                        message: format!("not valid UTF-8 ({e})"),
                    })?;
                    return Ok(Source { text, origin });
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(TemplateError {
                        file: origin,
                        line: None,
                        message: format!("could not be read ({e})"),
                    });
                }
            }
        }
        let text = EMBEDDED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s.to_string())
            .ok_or_else(|| TemplateError {
                file: file.clone(),
                line: None,
                message: "no such template".into(),
            })?;
        Ok(Source {
            text,
            origin: "embedded".into(),
        })
    }

    /// Render template `name` with `context`.
    pub fn render(&self, name: &str, context: &impl Serialize) -> Result<Rendered, TemplateError> {
        let source = self.source(name)?;
        let file = format!("{name}.md");
        let shown = if source.origin == "embedded" {
            format!("{file} (embedded)")
        } else {
            source.origin.clone()
        };
        let text = render_source(&shown, &source.text, context)?;
        Ok(Rendered {
            text,
            file,
            digest: blob_id(source.text.as_bytes()),
            origin: source.origin,
        })
    }
}

fn render_source(
    shown: &str,
    source: &str,
    context: &impl Serialize,
) -> Result<String, TemplateError> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::SemiStrict);
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .expect("default delimiters are valid");
    env.set_syntax(syntax);
    // Prompts are plain text: no HTML escaping, whatever the file name.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    let convert = |e: minijinja::Error| {
        let mut message = e.kind().to_string();
        if let Some(d) = e.detail() {
            message = format!("{message}: {d}");
        }
        TemplateError {
            file: shown.to_string(),
            line: e.line(),
            message,
        }
    };
    env.add_template_owned(shown.to_string(), source.to_string())
        .map_err(convert)?;
    let template = env.get_template(shown).map_err(convert)?;
    let text = template
        .render(minijinja::Value::from(minijinja::value::Serde(context)))
        .map_err(convert)?;
    Ok(text)
}

/// The git blob id of `bytes` (`git hash-object`).
fn blob_id(bytes: &[u8]) -> String {
    gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, bytes)
        .map(|id| id.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_ids_match_git() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(
            blob_id(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = render_source("x.md", "one\ntwo {{ nope }}\n", &serde_json::json!({})).unwrap_err();
        assert_eq!(e.file, "x.md");
        assert_eq!(e.line, Some(2));
        assert!(e.to_string().starts_with("template x.md, line 2: "), "{e}");
        let e = render_source("y.md", "a\nb\n{% if %}\n", &serde_json::json!({})).unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
    }
}
