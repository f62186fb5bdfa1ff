//! A fast reader for step notes in the exact shape this tool writes them, for commands that read
//! thousands (`stats` reads every step note; the TOML parser was an eighth of its time).
//!
//! It accepts only a strict subset of TOML: `key = value` lines with bare keys, basic strings
//! without escapes, literal strings, decimal integers and booleans, and one `[test]` table; every
//! key must be one [`StepNote`] or [`TestRun`] knows, each at most once. Anything else (an escape,
//! a multi-line string, an array, a comment, an unknown key, a value of the wrong type) makes it
//! answer `None`, and the caller reads the note with the full parser, which gives the same result
//! or the error. So it never accepts what the full parser refuses, and where it accepts, the
//! result is the one the full parser gives (a test compares them).

use super::vocab::StepAuthor;
use super::{DocKind, StepNote, TestRun};

/// One value of the subset.
#[derive(Clone, Copy)]
enum Value<'a> {
    Str(&'a str),
    Int(i64),
    Bool(bool),
}

/// The step note in `text`, when it is in the subset; `None` otherwise (not an error: read it
/// with the full parser).
pub(crate) fn step_note(text: &str) -> Option<StepNote> {
    let mut top: Vec<(&str, Value)> = Vec::with_capacity(12);
    let mut test: Option<Vec<(&str, Value)>> = None;
    for line in text.lines() {
        let line = line.trim_matches([' ', '\t']);
        if line.is_empty() {
            continue;
        }
        if line == "[test]" {
            if test.is_some() {
                return None;
            }
            test = Some(Vec::with_capacity(8));
            continue;
        }
        let (key, value) = line.split_once('=')?;
        let key = key.trim_end_matches([' ', '\t']);
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return None;
        }
        let value = scalar(value.trim_start_matches([' ', '\t']))?;
        let table = test.as_mut().unwrap_or(&mut top);
        if table.iter().any(|(k, _)| *k == key) {
            return None;
        }
        table.push((key, value));
    }

    let nobody = crate::git::Stamp {
        who: String::new(),
        at: String::new(),
    };
    let mut note = StepNote::new("", "", 0, StepAuthor::Hand, &nobody);
    let mut required = 0u8;
    for (key, value) in top {
        match (key, value) {
            ("schema", Value::Int(n)) => note.schema = u32::try_from(n).ok()?,
            ("kind", Value::Str(s)) => {
                note.kind = match s {
                    "flow" => DocKind::Flow,
                    "step" => DocKind::Step,
                    "review" => DocKind::Review,
                    "test" => DocKind::Test,
                    _ => return None,
                }
            }
            ("flow", Value::Str(s)) => note.flow = s.to_owned(),
            ("subtask", Value::Str(s)) => note.subtask = s.to_owned(),
            ("step", Value::Int(n)) => note.step = u32::try_from(n).ok()?,
            ("by", Value::Str(s)) => note.by = StepAuthor::from(s),
            ("at", Value::Str(s)) => note.at = s.to_owned(),
            ("recorded_by", Value::Str(s)) => note.recorded_by = s.to_owned(),
            ("agent", Value::Str(s)) => note.agent = Some(s.to_owned()),
            ("agent_identity", Value::Str(s)) => note.agent_identity = Some(s.to_owned()),
            ("prompt_digest", Value::Str(s)) => note.prompt_digest = Some(s.to_owned()),
            ("prompt_template", Value::Str(s)) => note.prompt_template = Some(s.to_owned()),
            ("duration_ms", Value::Int(n)) => note.duration_ms = Some(u64::try_from(n).ok()?),
            ("exit_code", Value::Int(n)) => note.exit_code = Some(i32::try_from(n).ok()?),
            ("agent_commit", Value::Bool(b)) => note.agent_commit = b,
            _ => return None,
        }
        required |= match key {
            "schema" => 1,
            "kind" => 2,
            "flow" => 4,
            "subtask" => 8,
            "step" => 16,
            "by" => 32,
            "at" => 64,
            "recorded_by" => 128,
            _ => 0,
        };
    }
    if required != u8::MAX {
        return None;
    }
    if let Some(fields) = test {
        note.test = Some(test_run(fields)?);
    }
    Some(note)
}

/// The `[test]` table.
fn test_run(fields: Vec<(&str, Value)>) -> Option<TestRun> {
    let mut run = TestRun {
        command: String::new(),
        exit: None,
        timed_out: false,
        tree: String::new(),
        at: String::new(),
        by: String::new(),
        duration_ms: 0,
        output: String::new(),
        extra: Default::default(),
    };
    let mut required = 0u8;
    for (key, value) in fields {
        match (key, value) {
            ("command", Value::Str(s)) => run.command = s.to_owned(),
            ("exit", Value::Int(n)) => run.exit = Some(i32::try_from(n).ok()?),
            ("timed_out", Value::Bool(b)) => run.timed_out = b,
            ("tree", Value::Str(s)) => run.tree = s.to_owned(),
            ("at", Value::Str(s)) => run.at = s.to_owned(),
            ("by", Value::Str(s)) => run.by = s.to_owned(),
            ("duration_ms", Value::Int(n)) => run.duration_ms = u64::try_from(n).ok()?,
            ("output", Value::Str(s)) => run.output = s.to_owned(),
            _ => return None,
        }
        required |= match key {
            "command" => 1,
            "tree" => 2,
            "at" => 4,
            "by" => 8,
            "duration_ms" => 16,
            _ => 0,
        };
    }
    (required == 31).then_some(run)
}

/// A value that is the whole rest of the line: a basic string without escapes, a literal
/// string, a decimal integer or a boolean.
fn scalar(text: &str) -> Option<Value<'_>> {
    let text = text.trim_end_matches([' ', '\t']);
    let bytes = text.as_bytes();
    match bytes.first()? {
        b'"' => {
            let inner = text.strip_prefix('"')?.strip_suffix('"')?;
            // Escapes, quotes and control characters (a tab aside) are the full parser's.
            if inner
                .bytes()
                .any(|b| b == b'"' || b == b'\\' || (b < 0x20 && b != b'\t') || b == 0x7f)
            {
                return None;
            }
            Some(Value::Str(inner))
        }
        b'\'' => {
            let inner = text.strip_prefix('\'')?.strip_suffix('\'')?;
            if inner
                .bytes()
                .any(|b| b == b'\'' || (b < 0x20 && b != b'\t') || b == 0x7f)
            {
                return None;
            }
            Some(Value::Str(inner))
        }
        _ if text == "true" => Some(Value::Bool(true)),
        _ if text == "false" => Some(Value::Bool(false)),
        _ => {
            let digits = text.strip_prefix('-').unwrap_or(text);
            // No sign but `-`, no leading zero, no `_`: plain decimal, as the writer writes it.
            if digits.is_empty()
                || !digits.bytes().all(|b| b.is_ascii_digit())
                || (digits.len() > 1 && digits.starts_with('0'))
                || digits.len() > 18
            {
                return None;
            }
            text.parse().ok().map(Value::Int)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(text: &str) -> Option<StepNote> {
        toml::from_str::<StepNote>(text).ok()
    }

    /// Notes as the writer writes them, in every combination of the optional fields.
    fn written() -> Vec<String> {
        let mut out = Vec::new();
        for mask in 0u32..256 {
            let stamp = crate::git::Stamp {
                who: "Ada Lovelace <ada@example.com>".into(),
                at: "2026-01-16T01:40:00+00:00".into(),
            };
            let by = if mask & 1 == 0 {
                StepAuthor::Hand
            } else {
                StepAuthor::Agent
            };
            let mut n = StepNote::new("rate-limit", "k3f9ab", 1 + mask, by, &stamp);
            if mask & 2 != 0 {
                n.agent = Some("claude".into());
                n.agent_identity = Some("Claude <agent@example.com>".into());
                n.duration_ms = Some(18_900);
                n.exit_code = Some(if mask & 4 != 0 { 0 } else { -1 });
            }
            if mask & 8 != 0 {
                n.prompt_digest = Some("0123abcd".into());
                n.prompt_template = Some("embedded".into());
                n.agent_commit = true;
            }
            if mask & 16 != 0 {
                n.stripped = vec!["Reviewed-by: Mallory <m@example.com>".into()];
            }
            if mask & 32 != 0 {
                n.test = Some(TestRun {
                    command: "cargo test".into(),
                    exit: (mask & 64 == 0).then_some(101),
                    timed_out: mask & 64 != 0,
                    tree: "af889b89f846f86da17867f6ae13b9fa9858a98a".into(),
                    at: stamp.at.clone(),
                    by: stamp.who.clone(),
                    duration_ms: 40,
                    output: match mask & 128 {
                        0 => String::new(),
                        _ => "test result: FAILED.\n\t\"quoted\" and \\ back\n".into(),
                    },
                    extra: Default::default(),
                });
            }
            out.push(n.to_toml());
        }
        out
    }

    #[test]
    fn where_it_answers_it_answers_as_the_full_parser() {
        let mut answered = 0;
        for text in written() {
            let expected = full(&text).expect("the writer's notes parse");
            if let Some(quick) = step_note(&text) {
                assert_eq!(quick, expected, "{text}");
                answered += 1;
            }
        }
        // Most notes are in the subset (arrays and escaped output are not).
        assert!(answered >= 96, "only {answered} of 256 answered");
    }

    #[test]
    fn it_declines_what_the_full_parser_refuses_or_reads_otherwise() {
        let base = written().remove(32);
        assert!(step_note(&base).is_some());
        let variants = [
            base.replace("step = ", "step = 0"),
            base.replace("step = ", "step = +"),
            base.replace("step = 33", "step = 3_3"),
            base.replace("step = 33", "step = -1"),
            base.replace("step = 33", "step = \"33\""),
            base.replace("kind = \"step\"", "kind = \"stepp\""),
            base.replace("flow = ", "flow = 1 #"),
            base.replace("flow = \"rate-limit\"", "flow = \"rate\\u002dlimit\""),
            base.replace("flow = \"rate-limit\"", "flow = \"\"\"rate-limit\"\"\""),
            base.replace("flow = \"rate-limit\"", "\"flow\" = \"rate-limit\""),
            base.replace("flow = \"rate-limit\"", "flow = \"rate-limit\" # c"),
            base.replace("flow = \"rate-limit\"\n", ""),
            base.replace("[test]", "[tests]"),
            base.replace("[test]\n", ""),
            base.replace("duration_ms = 40", "duration_ms = 40.0"),
            format!("{base}[test]\n"),
            format!("{base}extra = 1\n"),
            format!("{base}{base}"),
            format!("novel = true\n{base}"),
        ];
        for v in &variants {
            let quick = step_note(v);
            assert!(
                quick.is_none() || quick == full(v),
                "answered differently from the full parser:\n{v}"
            );
            assert!(quick.is_none(), "answered where it should decline:\n{v}");
        }
        // Literal strings and spacing the full parser takes are read the same.
        let literal = base
            .replace("flow = \"rate-limit\"", "flow='rate-limit'")
            .replace("step = 33", "step\t=  33  ");
        assert_eq!(step_note(&literal), full(&literal));
        assert!(step_note(&literal).is_some());
    }
}
