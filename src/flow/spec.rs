//! The spec: a summary paragraph, core features, stack, constraints and edge cases.
//!
//! Specs are written as a small Markdown document (what `new -F` reads and what `spec edit` opens):
//! an optional `# Title`, the summary paragraphs, then `## Core features`, `## Stack`,
//! `## Constraints` and `## Edge cases` sections with `-` list items. Sections with other headings
//! are kept as they are. `parse` and `to_markdown` round-trip.

use super::Extra;
use super::Invalid;
use serde::{Deserialize, Serialize};

/// The spec of a flow.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct Spec {
    /// The end state, in a paragraph or a few.
    pub summary: String,
    /// Core features; 3-5 expected, not enforced.
    #[serde(default)]
    pub features: Vec<String>,
    /// Stack: languages, frameworks, services.
    #[serde(default)]
    pub stack: Vec<String>,
    /// Constraints: what must hold.
    #[serde(default)]
    pub constraints: Vec<String>,
    /// Edge cases the implementation must handle.
    #[serde(default)]
    pub edge_cases: Vec<String>,
    /// Sections with headings of the user's own, kept verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other: Vec<OtherSection>,
    /// Keys this build does not know, from a newer git-aiflow: kept, and written back as they
    /// were (the compatibility rule of `docs/SCHEMA.md`).
    #[serde(flatten, default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// A spec section under a heading the tool does not interpret.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct OtherSection {
    /// The heading, without `#`.
    pub heading: String,
    /// The section's text, verbatim.
    pub text: String,
    /// Keys this build does not know, from a newer git-aiflow: kept, and written back as they
    /// were (the compatibility rule of `docs/SCHEMA.md`).
    #[serde(flatten, default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// The result of parsing a spec document.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSpec {
    /// The `# Title` line, if the document had one.
    pub title: Option<String>,
    /// The spec.
    pub spec: Spec,
}

/// The scissors line: everything from it on is ignored, as with `git commit --cleanup=scissors`.
pub const SCISSORS: &str = "# ------------------------ >8 ------------------------";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Summary,
    Features,
    Stack,
    Constraints,
    EdgeCases,
    Other(usize),
}

fn classify(heading: &str) -> Option<Section> {
    let norm: String = heading
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let norm = norm.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(match norm.as_str() {
        "summary" | "end state" | "overview" | "goal" | "goals" => Section::Summary,
        "core features" | "features" | "feature" | "core feature" => Section::Features,
        "stack" | "tech stack" | "technology" | "technologies" => Section::Stack,
        "constraints" | "constraint" | "stack and constraints" => Section::Constraints,
        // A combined heading holds both kinds; its items are cases the plan must handle, and the
        // advice about missing edge cases must not fire on a spec that has them.
        "edge cases"
        | "edge case"
        | "corner cases"
        | "constraints and edge cases"
        | "edge cases and constraints" => Section::EdgeCases,
        _ => return None,
    })
}

/// Strip what the reader ignores: a BOM, CRLF, the scissors section and `<!-- -->` comments.
fn clean(text: &str) -> String {
    // A byte-order mark says nothing in UTF-8; editors on some systems add one.
    let text = text
        .strip_prefix('\u{feff}')
        .unwrap_or(text)
        .replace("\r\n", "\n");
    let mut kept = String::new();
    for line in text.split_inclusive('\n') {
        if line.trim_end() == SCISSORS {
            break;
        }
        kept.push_str(line);
    }
    // HTML comments, possibly spanning lines.
    let mut out = String::with_capacity(kept.len());
    let mut rest = kept.as_str();
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        match rest[start..].find("-->") {
            Some(end) => rest = &rest[start + end + 3..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.bytes().take_while(|b| *b == b'#').count();
    if level == 0 || level > 6 {
        return None;
    }
    let rest = &line[level..];
    if !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t')) {
        return None;
    }
    Some((level, rest.trim().trim_end_matches('#').trim()))
}

fn bullet(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if line.len() - t.len() > 3 {
        return None;
    }
    for p in ["- ", "* ", "+ "] {
        if let Some(rest) = t.strip_prefix(p) {
            return Some(rest);
        }
    }
    if t == "-" || t == "*" || t == "+" {
        return Some("");
    }
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && digits < 4 {
        let rest = &t[digits..];
        for p in [". ", ") "] {
            if let Some(r) = rest.strip_prefix(p) {
                return Some(r);
            }
        }
    }
    None
}

/// Parse a spec document. Never fails: validation is separate (see [`Spec::validate`]).
pub fn parse(text: &str) -> ParsedSpec {
    let text = clean(text);
    let mut title = None;
    let mut summary: Vec<String> = Vec::new();
    let mut lists: [Vec<String>; 4] = Default::default();
    let mut other: Vec<(String, Vec<String>)> = Vec::new();
    let mut section = Section::Summary;
    // In list sections: whether the previous line continues an item.
    let mut in_item = false;
    let mut seen_heading = false;

    for raw in text.lines() {
        let line = raw.trim_end();
        if let Some((level, h)) = heading(line) {
            if level == 1
                && title.is_none()
                && !seen_heading
                && summary.iter().all(|l| l.is_empty())
            {
                title = Some(h.to_string());
                continue;
            }
            seen_heading = true;
            in_item = false;
            section = match classify(h) {
                Some(s) => s,
                None => {
                    other.push((h.to_string(), Vec::new()));
                    Section::Other(other.len() - 1)
                }
            };
            continue;
        }
        let list = match section {
            Section::Summary => {
                summary.push(line.to_string());
                continue;
            }
            Section::Other(i) => {
                other[i].1.push(line.to_string());
                continue;
            }
            Section::Features => &mut lists[0],
            Section::Stack => &mut lists[1],
            Section::Constraints => &mut lists[2],
            Section::EdgeCases => &mut lists[3],
        };
        if line.is_empty() {
            in_item = false;
            continue;
        }
        if let Some(item) = bullet(line) {
            list.push(item.trim().to_string());
            in_item = true;
        } else if in_item {
            // A soft line break inside an item, as Markdown reads it: a space.
            let last = list.last_mut().expect("in_item implies an item");
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(line.trim_start());
        } else {
            // A plain paragraph in a list section is one item.
            list.push(line.trim().to_string());
            in_item = true;
        }
    }
    let [features, stack, constraints, edge_cases] =
        lists.map(|l| l.into_iter().filter(|i| !i.is_empty()).collect());
    ParsedSpec {
        title,
        spec: Spec {
            extra: Default::default(),
            summary: trim_block(&summary),
            features,
            stack,
            constraints,
            edge_cases,
            other: other
                .into_iter()
                .map(|(heading, lines)| OtherSection {
                    extra: Default::default(),
                    heading,
                    text: trim_block(&lines),
                })
                .collect(),
        },
    }
}

/// Join lines, dropping leading and trailing blank lines and collapsing runs of blank lines.
fn trim_block(lines: &[String]) -> String {
    let mut out = String::new();
    let mut blank = false;
    for l in lines {
        if l.trim().is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if blank {
            out.push_str("\n\n");
        } else if !out.is_empty() {
            out.push('\n');
        }
        blank = false;
        out.push_str(l);
    }
    out
}

/// Section headings as written by [`Spec::to_markdown`], in order.
const HEADINGS: [&str; 4] = ["Core features", "Stack", "Constraints", "Edge cases"];

impl Spec {
    fn lists(&self) -> [(&'static str, &Vec<String>); 4] {
        [
            (HEADINGS[0], &self.features),
            (HEADINGS[1], &self.stack),
            (HEADINGS[2], &self.constraints),
            (HEADINGS[3], &self.edge_cases),
        ]
    }

    /// Render as the Markdown document `parse` reads back to the same spec.
    pub fn to_markdown(&self, title: &str) -> String {
        let mut out = format!("# {title}\n\n");
        if !self.summary.is_empty() {
            out.push_str(&self.summary);
            out.push_str("\n\n");
        }
        for (heading, items) in self.lists() {
            out.push_str(&format!("## {heading}\n\n"));
            for item in items {
                out.push_str("- ");
                out.push_str(&item.replace('\n', "\n  "));
                out.push('\n');
            }
            if !items.is_empty() {
                out.push('\n');
            }
        }
        for o in &self.other {
            out.push_str(&format!("## {}\n\n", o.heading));
            if !o.text.is_empty() {
                out.push_str(&o.text);
                out.push_str("\n\n");
            }
        }
        while out.ends_with("\n\n") {
            out.pop();
        }
        out
    }

    /// Render as readable prose for a commit message body (no title line, no trailers).
    pub fn to_prose(&self) -> String {
        let mut out = String::new();
        out.push_str(&self.summary);
        for (heading, items) in self.lists() {
            if items.is_empty() {
                continue;
            }
            out.push_str(&format!("\n\n{heading}:\n"));
            for item in items {
                out.push_str(&wrap_item(item, 72));
            }
            out.pop();
        }
        for o in &self.other {
            out.push_str(&format!("\n\n{}:\n{}", o.heading, o.text));
        }
        out
    }

    /// Check what the practice requires: a summary of the end state. The feature count is advisory
    /// (see [`Spec::advice`]).
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.summary.trim().is_empty() {
            return Err(Invalid {
                key: "spec.summary".into(),
                problem: "the spec has no summary".into(),
                fix: "write a paragraph on the end state before the first `##` section".into(),
            });
        }
        for (key, items) in [
            ("spec.features", &self.features),
            ("spec.stack", &self.stack),
            ("spec.constraints", &self.constraints),
            ("spec.edge_cases", &self.edge_cases),
        ] {
            if let Some(i) = items.iter().position(|s| s.trim().is_empty()) {
                return Err(Invalid {
                    key: format!("{key}[{i}]"),
                    problem: "the item is empty".into(),
                    fix: "write the item or remove it".into(),
                });
            }
        }
        Ok(())
    }

    /// Advice that does not block: what the practice expects and this spec lacks.
    pub fn advice(&self) -> Vec<String> {
        let mut out = Vec::new();
        let n = self.features.len();
        if !(3..=5).contains(&n) {
            out.push(format!(
                "the spec lists {n} core feature{}; 3 to 5 work best (add them under `## Core features`)",
                if n == 1 { "" } else { "s" }
            ));
        }
        if self.edge_cases.is_empty() {
            out.push(
                "the spec lists no edge cases; naming them now saves a plan revision later".into(),
            );
        }
        out
    }
}

fn wrap_item(item: &str, width: usize) -> String {
    let mut out = String::new();
    let mut first_line = true;
    for para_line in item.split('\n') {
        let mut line = String::from(if first_line { "- " } else { "  " });
        first_line = false;
        let mut empty = true;
        for word in para_line.split_whitespace() {
            if !empty && line.chars().count() + 1 + word.chars().count() > width {
                out.push_str(line.trim_end());
                out.push('\n');
                line = String::from("  ");
                empty = true;
            }
            if !empty {
                line.push(' ');
            }
            line.push_str(word);
            empty = false;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The document the editor opens for a new spec.
pub fn template() -> String {
    format!(
        "# \n\
         <!-- The title above becomes the flow's title; the slug is derived from it unless given. -->\n\
         \n\
         <!-- Summary: one paragraph on the end state. What exists when this is done, and for whom? -->\n\
         \n\
         ## Core features\n\
         <!-- 3 to 5 items, one per line, each starting with \"- \". -->\n\
         - \n\
         \n\
         ## Stack\n\
         <!-- Languages, frameworks, services, versions. -->\n\
         - \n\
         \n\
         ## Constraints\n\
         <!-- What must hold: performance, compatibility, security, what not to touch. -->\n\
         - \n\
         \n\
         ## Edge cases\n\
         <!-- Failure modes and odd inputs the implementation must handle. -->\n\
         - \n\
         \n\
         {SCISSORS}\n\
         # Do not modify or remove the line above.\n\
         # Everything below it is ignored, and so are <!-- comments -->.\n\
         # An empty spec aborts.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE_LIMIT: &str = "# Rate limiting\n\nClients that exceed\ntheir quota get 429.\n\nSecond paragraph.\n\n## Core features\n\n- Token bucket per API key\n- `Retry-After` header,\n  computed from the bucket\n* Admin override\n1. Metrics\n\n## Stack\nRust and axum\n\n## Constraints\n- No new services\n\n## Edge Cases:\n- Clock skew\n\n## Non-goals\n\nBilling.\n";

    #[test]
    fn parses_sections() {
        let p = parse(RATE_LIMIT);
        assert_eq!(p.title.as_deref(), Some("Rate limiting"));
        assert_eq!(
            p.spec.summary,
            "Clients that exceed\ntheir quota get 429.\n\nSecond paragraph."
        );
        assert_eq!(
            p.spec.features,
            vec![
                "Token bucket per API key",
                "`Retry-After` header, computed from the bucket",
                "Admin override",
                "Metrics"
            ]
        );
        assert_eq!(p.spec.stack, vec!["Rust and axum"]);
        assert_eq!(p.spec.edge_cases, vec!["Clock skew"]);
        assert_eq!(
            p.spec.other,
            vec![OtherSection {
                extra: Default::default(),
                heading: "Non-goals".into(),
                text: "Billing.".into()
            }]
        );
    }

    #[test]
    fn a_combined_constraints_and_edge_cases_heading_holds_edge_cases() {
        let p = parse(
            "# T\n\nEnd.\n\n## Constraints and edge cases\n\n- Only https.\n- A 404 for unknown codes.\n",
        );
        assert_eq!(
            p.spec.edge_cases,
            vec!["Only https.", "A 404 for unknown codes."]
        );
        assert!(p.spec.other.is_empty());
        assert!(!p.spec.advice().iter().any(|a| a.contains("edge cases")));
    }

    #[test]
    fn markdown_round_trips() {
        let p = parse(RATE_LIMIT);
        let md = p.spec.to_markdown("Rate limiting");
        let again = parse(&md);
        assert_eq!(again.spec, p.spec);
        assert_eq!(again.title.as_deref(), Some("Rate limiting"));
        assert_eq!(again.spec.to_markdown("Rate limiting"), md);
    }

    #[test]
    fn plain_text_is_a_summary() {
        let p = parse("Add a rate limiter to the public API.\r\n");
        assert_eq!(p.title, None);
        assert_eq!(p.spec.summary, "Add a rate limiter to the public API.");
        assert!(p.spec.features.is_empty());
    }

    #[test]
    fn template_parses_to_nothing() {
        let p = parse(&template());
        assert_eq!(p.title.as_deref(), Some(""));
        assert_eq!(p.spec, Spec::default());
        assert!(p.spec.validate().is_err());
    }

    #[test]
    fn scissors_and_comments_are_dropped() {
        let p = parse(
            "Summary <!-- hidden -->here.\n<!--\nmulti\n-->\n## Stack\n- Go\n# ------------------------ >8 ------------------------\n## Stack\n- Ignored\n",
        );
        assert_eq!(p.spec.summary, "Summary here.");
        assert_eq!(p.spec.stack, vec!["Go"]);
    }

    #[test]
    fn prose_wraps_items() {
        let mut s = parse(RATE_LIMIT).spec;
        s.constraints = vec!["word ".repeat(30).trim().to_string()];
        let prose = s.to_prose();
        assert!(prose.lines().all(|l| l.chars().count() <= 72), "{prose}");
        assert!(
            prose.contains("\n\nCore features:\n- Token bucket per API key\n"),
            "{prose}"
        );
        assert!(prose.contains("\n  word"), "{prose}");
    }

    #[test]
    fn advice_on_feature_count() {
        let s = parse("Summary.\n## Core features\n- one\n").spec;
        assert!(s.advice()[0].contains("1 core feature;"));
    }
}
