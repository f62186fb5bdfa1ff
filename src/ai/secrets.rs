//! Secrets never stored: one redactor that knows the API keys in the environment and replaces
//! them with `[redacted]` in everything written to notes, to `.git/aiflow/` (prompts, saved
//! answers, drafts), sent to a model, or printed.
//!
//! The secrets are the values of the environment variables a provider may read: the one
//! `aiflow.apiKeyEnv` names, `OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, and any other variable whose
//! name ends in `_API_KEY` (what `command` providers such as `llm` or `claude` read), each
//! trimmed as the providers send it. A value shorter than [`MIN_SECRET_LEN`] characters is not
//! treated as a secret: real keys are far longer (40 to 200 characters), and a local server's
//! placeholder such as `none` or `local` would otherwise be redacted from every sentence that
//! contains the word.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Mutex;

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// The shortest value treated as a secret, in characters.
pub const MIN_SECRET_LEN: usize = 8;

/// The variables the built-in providers read by default.
const DEFAULT_KEY_VARS: &[&str] = &["OPENAI_API_KEY", "ANTHROPIC_API_KEY"];

/// Variable names learnt from configuration (`aiflow.apiKeyEnv`) in this process.
static CONFIGURED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// [`remember_config`] of `repo`'s configuration.
pub fn remember_repo(repo: &gix::Repository) {
    remember_config(&repo.config_snapshot());
}

/// Remember the variable `aiflow.apiKeyEnv` names in `config`, so that every later
/// [`Redactor::current`] in this process redacts its value too.
pub fn remember_config(config: &gix::config::Snapshot<'_>) {
    if let Some(name) = config.string("aiflow.apiKeyEnv") {
        remember_var(name.to_string().trim());
    }
}

/// Remember that the environment variable `name` holds a secret.
pub fn remember_var(name: &str) {
    if name.is_empty() {
        return;
    }
    if let Ok(mut names) = CONFIGURED.lock() {
        names.insert(name.to_string());
    }
}

/// Replaces known secret values with [`REDACTED`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    /// Longest first, so that a secret containing another is replaced whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for `values`: trimmed, without those shorter than [`MIN_SECRET_LEN`] (or that
    /// [`REDACTED`] itself contains), without duplicates.
    pub fn new(values: impl IntoIterator<Item = impl AsRef<str>>) -> Redactor {
        let mut secrets: Vec<String> = values
            .into_iter()
            .map(|v| v.as_ref().trim().to_string())
            .filter(|v| v.chars().count() >= MIN_SECRET_LEN && !REDACTED.contains(v.as_str()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        Redactor { secrets }
    }

    /// The secrets in this process's environment now (see the module's documentation).
    pub fn current() -> Redactor {
        let mut names: BTreeSet<String> = DEFAULT_KEY_VARS.iter().map(|s| s.to_string()).collect();
        if let Ok(configured) = CONFIGURED.lock() {
            names.extend(configured.iter().cloned());
        }
        let mut values = Vec::new();
        for (name, value) in std::env::vars_os() {
            let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else {
                continue;
            };
            if names.contains(name) || name.to_ascii_uppercase().ends_with("_API_KEY") {
                values.push(value.to_string());
            }
        }
        Redactor::new(values)
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Whether `text` holds a secret.
    pub fn finds(&self, text: &str) -> bool {
        self.secrets.iter().any(|s| text.contains(s.as_str()))
    }

    /// `text` with every secret replaced by [`REDACTED`]; borrowed when there was none.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.finds(text) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        Cow::Owned(out)
    }

    /// [`Redactor::redact`] on an owned string.
    pub fn redact_string(&self, text: String) -> String {
        match self.redact(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(s) => s,
        }
    }

    /// Redact `text` in place; returns whether anything was replaced.
    pub fn redact_in_place(&self, text: &mut String) -> bool {
        match self.redact(text) {
            Cow::Borrowed(_) => false,
            Cow::Owned(s) => {
                *text = s;
                true
            }
        }
    }

    /// Model text made safe to store and print: [`super::sanitize::clean`], then redacted (in
    /// that order, so that a key split by a control sequence is still found). A key spelt with
    /// JSON escapes (`sk-\u0061bc…`) is found too: when it is there, the escapes of letters,
    /// digits, `-`, `_` and `.` are written as the characters they stand for (the JSON means the
    /// same) before the key is replaced.
    pub fn scrub(&self, text: &str) -> String {
        let clean = super::sanitize::clean(text);
        if self.is_empty() {
            return clean.into_owned();
        }
        let plain = unescape_json_word_chars(&clean);
        if self.finds(&plain) {
            self.redact(&plain).into_owned()
        } else {
            clean.into_owned()
        }
    }
}

/// `text` with each JSON `\uXXXX` escape of an ASCII letter, digit, `-`, `_` or `.` replaced by
/// that character; escaped backslashes (`\\`) are left alone.
fn unescape_json_word_chars(text: &str) -> Cow<'_, str> {
    if !text.contains("\\u") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('\\') {
            out.push_str("\\\\");
            rest = tail;
            continue;
        }
        let decoded = after
            .strip_prefix('u')
            .and_then(|h| h.get(..4))
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32)
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &after[5..];
            }
            None => {
                out.push('\\');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_not_secrets() {
        let r = Redactor::new(["none", "local", "sk-1234", "  ", "redacted", "edacted]"]);
        assert!(r.is_empty(), "{r:?}");
        assert_eq!(
            r.redact("none of the local sk-1234 things"),
            "none of the local sk-1234 things"
        );
    }

    #[test]
    fn every_occurrence_is_replaced_longest_first() {
        let r = Redactor::new([" sk-abcdefgh ", "sk-abcdefgh-long-tail", "sk-abcdefgh"]);
        assert_eq!(
            r.redact("a sk-abcdefgh b sk-abcdefgh-long-tail csk-abcdefghd"),
            "a [redacted] b [redacted] c[redacted]d"
        );
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
        let mut s = String::from("x sk-abcdefgh");
        assert!(r.redact_in_place(&mut s));
        assert_eq!(s, "x [redacted]");
        assert!(!r.redact_in_place(&mut s));
    }

    #[test]
    fn scrub_finds_a_key_spelt_with_json_escapes() {
        let r = Redactor::new(["sk-abcdefgh"]);
        let text = r#"{"a": "sk-\u0061bcd\u0065fgh", "b": "\\u0061 \u001b \u00"}"#;
        assert_eq!(
            r.scrub(text),
            r#"{"a": "[redacted]", "b": "\\u0061 \u001b \u00"}"#
        );
        // Without a key in it, the text is left as it is.
        assert_eq!(r.scrub(r#""\u0061""#), r#""\u0061""#);
        assert_eq!(
            unescape_json_word_chars(r#"\u0041\\u0041\u002F\uZZZZ\"#),
            r#"A\\u0041\u002F\uZZZZ\"#
        );
    }

    #[test]
    fn scrub_finds_a_key_split_by_a_control_sequence() {
        let r = Redactor::new(["sk-abcdefgh"]);
        assert_eq!(r.scrub("key: sk-abcd\x1b[0mefgh\x07"), "key: [redacted]");
    }
}
