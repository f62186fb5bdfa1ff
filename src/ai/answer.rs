//! Reading what a model returned: the JSON object (bare, in a Markdown fence, or inside prose),
//! then the questions or plan in it, with every problem listed for a repair request.

use crate::ai::sanitize::clean_string;
use crate::flow::Phase;
use crate::flow::plan::{Draft, collapse_whitespace, parse_phase};
use serde_json::{Value, json};

/// The most clarifying questions kept.
pub const MAX_QUESTIONS: usize = 5;

/// The JSON shape the questions prompt asks for (quoted in repair requests): keys with their
/// types, no value a model could copy into its answer (the prompt says what each key holds).
pub const QUESTIONS_SHAPE: &str =
    r#"{"questions": [{"question": string, "why": string, "choices": [string]}]}"#;

/// The JSON shape the plan prompt asks for: keys with their types.
pub const PLAN_SHAPE: &str = r#"{"subtasks": [{"id": string, "title": string, "description": string, "files": [string], "phase": "core" | "nice-to-have" | "production", "depends_on": [string], "test": string}]}"#;

/// A clarifying question as asked.
#[derive(Debug, Clone, PartialEq)]
pub struct Asked {
    /// The question.
    pub question: String,
    /// The gap it exposes.
    pub why: Option<String>,
    /// Suggested answers.
    pub choices: Vec<String>,
}

/// Find the JSON answer in `text`: the whole text, a fenced block, or a balanced `{…}` inside
/// prose. A value holding `key` (or a bare list) wins; when none does and the outer JSON is
/// broken, the syntax error is reported (not some inner object that happened to parse).
///
/// Every string of the value (keys too) is [`crate::ai::sanitize::clean`]ed: JSON escapes such as `\u001b` decode to
/// the control characters the raw text no longer holds.
fn extract_json(text: &str, key: &str) -> Result<Value, String> {
    find_json(text, key).map(clean_value)
}

/// `v` with every string and key [`crate::ai::sanitize::clean`]ed.
fn clean_value(v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(clean_string(s)),
        Value::Array(a) => Value::Array(a.into_iter().map(clean_value).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (clean_string(k), clean_value(v)))
                .collect(),
        ),
        other => other,
    }
}

fn find_json(text: &str, key: &str) -> Result<Value, String> {
    let trimmed = text.trim().trim_start_matches('\u{feff}');
    let wanted = |v: &Value| v.is_array() || v.get(key).is_some();
    let mut fallback: Option<Value> = None;
    let whole_error = match serde_json::from_str::<Value>(trimmed) {
        Ok(v) if wanted(&v) => return Ok(v),
        Ok(v) => {
            fallback = Some(v);
            None
        }
        Err(e) => Some(e.to_string()),
    };
    let mut fence_error = None;
    for block in fenced_blocks(trimmed) {
        match serde_json::from_str::<Value>(block.trim()) {
            Ok(v) if wanted(&v) => return Ok(v),
            Ok(v) => {
                fallback.get_or_insert(v);
            }
            Err(e) => {
                fence_error.get_or_insert(format!("{e} (in the fenced block)"));
            }
        }
    }
    let bytes = trimmed.as_bytes();
    for (start, _) in trimmed.match_indices(['{', '[']) {
        if let Some(end) = balanced_end(&bytes[start..])
            && let Ok(v) = serde_json::from_str::<Value>(&trimmed[start..start + end])
            && (v.is_object() || v.is_array())
        {
            // Inside prose, only an object holding `key`: a bare list found there is more likely
            // a piece of a broken answer than the answer.
            if v.get(key).is_some() {
                return Ok(v);
            }
            fallback.get_or_insert(v);
        }
    }
    if !trimmed.contains('{') && !trimmed.contains('[') {
        return Err("the answer contains no JSON object".into());
    }
    // A syntax error in the outer JSON explains more than an inner object without the key.
    let syntax = fence_error.or(if trimmed.starts_with(['{', '[']) {
        whole_error.clone()
    } else {
        None
    });
    match (syntax, fallback) {
        (Some(e), _) => Err(format!("the answer is not valid JSON: {e}")),
        (None, Some(v)) => Ok(v),
        (None, None) => Err(format!(
            "the answer is not valid JSON: {}",
            whole_error.unwrap_or_else(|| "no complete JSON object".into())
        )),
    }
}

/// The contents of Markdown code fences (```json … ```), in order.
fn fenced_blocks(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        // Skip the info string (`json`) up to the end of the line.
        let Some(nl) = after.find('\n') else { break };
        let body = &after[nl + 1..];
        let Some(end) = body.find("```") else {
            // An unclosed fence: take the rest.
            out.push(body);
            break;
        };
        out.push(&body[..end]);
        rest = &body[end + 3..];
    }
    out
}

/// The length of the balanced JSON value starting at `b[0]` (`{` or `[`), strings respected.
fn balanced_end(b: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_str = false;
    let mut escaped = false;
    for (i, &c) in b.iter().enumerate() {
        if in_str {
            match c {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// The list under `key`, or the value itself when it is a bare list.
fn list<'a>(v: &'a Value, key: &str) -> Result<&'a Vec<Value>, String> {
    if let Some(a) = v.as_array() {
        return Ok(a);
    }
    match v.get(key) {
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(format!("`{key}` must be a list")),
        None => Err(format!(
            "the JSON object has no `{key}` list (keys found: {})",
            v.as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default()
        )),
    }
}

fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn strings(v: Option<&Value>, what: &str, errors: &mut Vec<String>) -> Vec<String> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| match text_of(Some(x)) {
                Some(s) => Some(s),
                None => {
                    errors.push(format!("{what} must hold strings; found {x}"));
                    None
                }
            })
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(other) => {
            errors.push(format!("{what} must be a list of strings; found {other}"));
            Vec::new()
        }
    }
}

/// `s` on one line, cut to at most `max` characters (an ellipsis marks the cut).
fn clip(s: &str, max: usize) -> String {
    let s = collapse_whitespace(s);
    if s.chars().count() > max {
        let mut c: String = s.chars().take(max).collect();
        c.push('…');
        c
    } else {
        s
    }
}

/// Parse clarifying questions. Returns the questions kept and how many were dropped over the
/// limit, or every problem found.
pub fn parse_questions(text: &str) -> Result<(Vec<Asked>, usize), Vec<String>> {
    let v = extract_json(text, "questions").map_err(|e| vec![e])?;
    let items = list(&v, "questions").map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let n = i + 1;
        let (question, why, choices) = match item {
            Value::String(s) => (Some(s.clone()), None, Vec::new()),
            Value::Object(o) => (
                text_of(o.get("question")),
                text_of(o.get("why")).or_else(|| text_of(o.get("rationale"))),
                strings(
                    o.get("choices"),
                    &format!("question {n}: choices"),
                    &mut errors,
                ),
            ),
            other => {
                errors.push(format!("question {n} must be an object; found {other}"));
                continue;
            }
        };
        let question = clip(&question.unwrap_or_default(), 1000);
        if question.is_empty() {
            errors.push(format!("question {n} has no `question` text"));
            continue;
        }
        out.push(Asked {
            question,
            why: why.map(|w| clip(&w, 1000)).filter(|w| !w.is_empty()),
            choices: choices
                .into_iter()
                .map(|c| clip(&c, 200))
                .filter(|c| !c.is_empty())
                .take(8)
                .collect(),
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let dropped = out.len().saturating_sub(MAX_QUESTIONS);
    out.truncate(MAX_QUESTIONS);
    Ok((out, dropped))
}

/// Parse a plan into drafts (ids are the model's hints), or every problem found.
pub fn parse_plan(text: &str) -> Result<Vec<Draft>, Vec<String>> {
    let v = extract_json(text, "subtasks").map_err(|e| vec![e])?;
    let items = list(&v, "subtasks").map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let n = i + 1;
        let Some(o) = item.as_object() else {
            errors.push(format!("subtask {n} must be an object; found {item}"));
            continue;
        };
        let title = text_of(o.get("title")).unwrap_or_default();
        let who = if title.trim().is_empty() {
            format!("subtask {n}")
        } else {
            format!(
                "subtask {n} ({:?})",
                title.chars().take(60).collect::<String>()
            )
        };
        if title.trim().is_empty() {
            errors.push(format!("{who} has no title"));
        }
        let phase = match o.get("phase") {
            None | Some(Value::Null) => {
                errors.push(format!(
                    "{who} has no phase; use \"core\", \"nice-to-have\" or \"production\""
                ));
                Phase::Core
            }
            Some(p) => match text_of(Some(p)).as_deref().and_then(parse_phase) {
                Some(p) => p,
                None => {
                    errors.push(format!(
                        "{who} has the unknown phase {p}; use \"core\", \"nice-to-have\" or \"production\""
                    ));
                    Phase::Core
                }
            },
        };
        let files = strings(o.get("files"), &format!("{who}: files"), &mut errors);
        let depends_on = strings(
            o.get("depends_on").or_else(|| o.get("dependencies")),
            &format!("{who}: depends_on"),
            &mut errors,
        );
        // The subtask's own acceptance command: a proposal, which runs only once a person
        // accepts it (`crate::flow::plan::accepted_test`); empty or absent: none.
        let test = match o.get("test") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                errors.push(format!(
                    "{who}: test must be a string (a shell command, or \"\" for none); found {other}"
                ));
                None
            }
        };
        out.push(Draft {
            id: text_of(o.get("id")),
            title,
            description: text_of(o.get("description")).unwrap_or_default(),
            files,
            phase,
            depends_on,
            status: None,
            test,
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The JSON shape the audit prompt asks for (described, with no values a model could copy).
pub const FINDINGS_SHAPE: &str = r#"{"findings": [{"file": <path in the diff>, "line": <line number in the new file, or null>, "severity": "low" | "medium" | "high" | "critical", "what": <the problem>, "why": <why it matters>, "fix": <the change that fixes it>}]}"#;

/// The most findings kept from one audit.
pub const MAX_FINDINGS: usize = 50;

/// A finding as the model reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportedFinding {
    /// The file.
    pub file: String,
    /// The line, when given.
    pub line: Option<u32>,
    /// How serious.
    pub severity: crate::flow::audit::Severity,
    /// What is wrong.
    pub what: String,
    /// Why it matters.
    pub why: String,
    /// The suggested fix.
    pub fix: String,
}

/// Parse an audit's findings (an empty list is an answer: nothing found), or every problem.
pub fn parse_findings(text: &str) -> Result<Vec<ReportedFinding>, Vec<String>> {
    let v = extract_json(text, "findings").map_err(|e| vec![e])?;
    let items = list(&v, "findings").map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    let mut out: Vec<ReportedFinding> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let n = i + 1;
        let Value::Object(o) = item else {
            errors.push(format!("finding {n} must be an object; found {item}"));
            continue;
        };
        let file = clip(&text_of(o.get("file")).unwrap_or_default(), 300);
        let what = clip(&text_of(o.get("what")).unwrap_or_default(), 1000);
        let severity = text_of(o.get("severity")).unwrap_or_default();
        let line = match o.get("line") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_u64().and_then(|l| u32::try_from(l).ok()),
            Some(Value::String(s)) => s.trim().parse::<u32>().ok(),
            Some(_) => None,
        };
        if file.is_empty() {
            errors.push(format!("finding {n} has no `file`"));
        } else if file.starts_with('/') || file.split('/').any(|c| c == "..") {
            errors.push(format!(
                "finding {n}: `file` must be a path relative to the repository root; found {file:?}"
            ));
        }
        if what.is_empty() {
            errors.push(format!("finding {n} has no `what`"));
        }
        let Some(severity) = crate::flow::audit::Severity::parse(&severity) else {
            errors.push(format!(
                "finding {n}: `severity` must be low, medium, high or critical; found {severity:?}"
            ));
            continue;
        };
        let f = ReportedFinding {
            file,
            line,
            severity,
            what,
            why: clip(&text_of(o.get("why")).unwrap_or_default(), 1000),
            fix: clip(&text_of(o.get("fix")).unwrap_or_default(), 1000),
        };
        // A model that repeats itself says one thing once.
        if !out
            .iter()
            .any(|o| o.file == f.file && o.line == f.line && o.what == f.what)
        {
            out.push(f);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    out.truncate(MAX_FINDINGS);
    Ok(out)
}

/// The JSON schema for an audit's findings.
pub fn findings_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["findings"],
        "properties": {
            "findings": {
                "type": "array",
                "maxItems": MAX_FINDINGS,
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["file", "line", "severity", "what", "why", "fix"],
                    "properties": {
                        "file": {"type": "string", "minLength": 1, "maxLength": 300},
                        "line": {"type": ["integer", "null"]},
                        "severity": {"type": "string", "enum": ["low", "medium", "high", "critical"]},
                        "what": {"type": "string", "minLength": 1, "maxLength": 1000},
                        "why": {"type": "string", "maxLength": 1000},
                        "fix": {"type": "string", "maxLength": 1000}
                    }
                }
            }
        }
    })
}

/// The JSON schema for questions: bounded, for servers that enforce it.
pub fn questions_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["questions"],
        "properties": {
            "questions": {
                "type": "array",
                "maxItems": MAX_QUESTIONS,
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["question", "why", "choices"],
                    "properties": {
                        "question": {
                            "type": "string", "minLength": 1, "maxLength": 300,
                            "description": "One question about a decision this spec leaves open, answerable in a sentence or two; no two questions alike."
                        },
                        "why": {
                            "type": "string", "maxLength": 300,
                            "description": "In your own words: the gap in the spec the question exposes, and what in the work depends on the answer."
                        },
                        "choices": {
                            "type": "array",
                            "maxItems": 4,
                            "description": "2 to 4 distinct, complete, short answers to this question; empty when the likely answers are not few.",
                            "items": {"type": "string", "maxLength": 100}
                        }
                    }
                }
            }
        }
    })
}

/// The JSON schema for a plan.
pub fn plan_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["subtasks"],
        "properties": {
            "subtasks": {
                "type": "array",
                "minItems": 1,
                "maxItems": 20,
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["id", "title", "description", "files", "phase", "depends_on", "test"],
                    "properties": {
                        "id": {
                            "type": "string", "minLength": 1, "maxLength": 24,
                            "description": "A short id of your choice, unique in this answer, used only in depends_on."
                        },
                        "title": {
                            "type": "string", "minLength": 1, "maxLength": 120,
                            "description": "One imperative line naming this subtask's own change; no two titles alike."
                        },
                        "description": {
                            "type": "string", "maxLength": 1500,
                            "description": "What to do, in a few sentences, ending with the acceptance check: a sentence starting \"Done when:\" that names a command to run or a result someone can observe."
                        },
                        "files": {
                            "type": "array",
                            "maxItems": 12,
                            "description": "Paths relative to the repository root that the subtask creates or changes: existing paths where the file exists, the tests it adds included.",
                            "items": {"type": "string", "maxLength": 200}
                        },
                        "phase": {"type": "string", "enum": ["core", "nice-to-have", "production"]},
                        "depends_on": {
                            "type": "array",
                            "maxItems": 12,
                            "description": "Ids of earlier subtasks in this answer that must be done first.",
                            "items": {"type": "string", "maxLength": 24}
                        },
                        "test": {
                            "type": "string", "maxLength": crate::flow::MAX_TEST_COMMAND,
                            "description": "One shell command, run at the repository root, that exits 0 once the subtask is done; empty when none fits."
                        }
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_in_fences_and_prose() {
        let fenced = "Here is the plan:\n\n```json\n{\"subtasks\": []}\n```\nGood luck!";
        assert_eq!(
            extract_json(fenced, "subtasks").unwrap(),
            json!({"subtasks": []})
        );
        let prose = "Sure! {\"questions\": [{\"question\": \"a } b\"}]} Hope that helps.";
        assert_eq!(
            extract_json(prose, "questions").unwrap()["questions"][0]["question"],
            "a } b"
        );
        assert!(
            extract_json("no json here", "questions")
                .unwrap_err()
                .contains("no JSON object")
        );
        assert!(
            extract_json("{\"subtasks\": [", "subtasks")
                .unwrap_err()
                .contains("not valid JSON")
        );
    }

    #[test]
    fn a_broken_outer_object_is_reported_not_an_inner_one() {
        // As a 0.5B model answered: a stray bracket at the end.
        let text = "```json\n{\"subtasks\": [{\"id\": \"1\", \"title\": \"A\"}, {\"id\": \"2\", \"title\": \"B\", \"depends_on\": [\"1\"]}]]}\n```";
        let err = extract_json(text, "subtasks").unwrap_err();
        assert!(err.starts_with("the answer is not valid JSON: "), "{err}");
        assert!(
            err.contains("line 1 column 89 (in the fenced block)"),
            "{err}"
        );
        // A well-formed object with other keys is returned, for the caller to name them.
        let v = extract_json("{\"plan\": []}", "subtasks").unwrap();
        assert_eq!(v, json!({"plan": []}));
    }

    #[test]
    fn questions_are_capped_and_cleaned() {
        let many: Vec<Value> = (1..=7)
            .map(|i| json!({"question": format!("Q{i}?\n"), "why": "w", "choices": ["a", 2]}))
            .collect();
        let (q, dropped) = parse_questions(&json!({ "questions": many }).to_string()).unwrap();
        assert_eq!(q.len(), 5);
        assert_eq!(dropped, 2);
        assert_eq!(q[0].question, "Q1?");
        assert_eq!(q[0].choices, vec!["a", "2"]);
        let errs = parse_questions(r#"{"questions": [{"why": "x"}, 3]}"#).unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
    }

    #[test]
    fn json_escaped_control_sequences_are_cleaned() {
        let text = r#"{"questions": [{"question": "\u001b[31mRed?\u001b[0m", "why": "\u009b2J\u202ewhy", "choices": ["\u001b]8;;http://x\u0007a\u001b]8;;\u0007", "b\r\nc"]}]}"#;
        let (q, _) = parse_questions(text).unwrap();
        assert_eq!(q[0].question, "Red?");
        assert_eq!(q[0].why.as_deref(), Some("why"));
        assert_eq!(q[0].choices, vec!["a", "b c"]);
        let v = extract_json(r#"{"\u009b1mk": "\u001b]0;t\u0007v"}"#, "k").unwrap();
        assert_eq!(v, json!({"k": "v"}));
    }

    #[test]
    fn plan_problems_are_all_listed() {
        let errs = parse_plan(
            r#"{"subtasks": [{"id": 1, "title": "", "phase": "later"}, {"title": "x", "phase": "core", "files": "a.rs"}]}"#,
        )
        .unwrap_err();
        assert!(errs.iter().any(|e| e.contains("no title")), "{errs:?}");
        assert!(errs.iter().any(|e| e.contains("unknown phase")), "{errs:?}");
        let ok =
            parse_plan(r#"[{"id": 1, "title": "T", "phase": "Nice to have", "depends_on": [2]}]"#)
                .unwrap();
        assert_eq!(ok[0].id.as_deref(), Some("1"));
        assert_eq!(ok[0].phase, Phase::NiceToHave);
        assert_eq!(ok[0].depends_on, vec!["2"]);
        assert_eq!(ok[0].test, None);
    }

    #[test]
    fn shapes_and_schemas_hold_no_value_a_model_could_echo() {
        for text in [
            PLAN_SHAPE.to_string(),
            QUESTIONS_SHAPE.to_string(),
            plan_schema().to_string(),
            questions_schema().to_string(),
        ] {
            for echo in ["…", "src/", "\"...\"", "such as", "e.g."] {
                assert!(!text.contains(echo), "{echo:?} in {text}");
            }
        }
        // Every key of a plan's subtask is described, in the shape and in the schema.
        let schema = plan_schema();
        let props = schema["properties"]["subtasks"]["items"]["properties"]
            .as_object()
            .unwrap();
        for (key, p) in props {
            assert!(PLAN_SHAPE.contains(&format!("\"{key}\": ")), "{key}");
            assert!(key == "phase" || p.get("description").is_some(), "{key}");
        }
    }

    #[test]
    fn a_plan_may_propose_a_test_per_subtask() {
        let ok = parse_plan(
            r#"{"subtasks": [{"title": "A", "phase": "core", "test": "sh check.sh"}, {"title": "B", "phase": "core", "test": ""}]}"#,
        )
        .unwrap();
        assert_eq!(ok[0].test.as_deref(), Some("sh check.sh"));
        assert_eq!(ok[1].test.as_deref(), Some(""));
        let errs = parse_plan(r#"{"subtasks": [{"title": "A", "phase": "core", "test": ["x"]}]}"#)
            .unwrap_err();
        assert!(errs[0].contains("test must be a string"), "{errs:?}");
        // The strict schema lists every property as required; `test` may be empty.
        let schema = plan_schema();
        let item = &schema["properties"]["subtasks"]["items"];
        let required: Vec<&str> = item["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let props: Vec<&String> = item["properties"].as_object().unwrap().keys().collect();
        assert_eq!(required.len(), props.len());
        assert!(required.contains(&"test"));
        assert!(item["properties"]["test"].get("minLength").is_none());
        assert!(PLAN_SHAPE.contains(r#""test": string"#));
    }
}
