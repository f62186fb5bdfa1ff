//! Security audits: a model's findings on a subtask's or a flow's diff, kept in the flow's note as
//! advice. A person accepts or dismisses each finding with a reason; findings never count as a
//! review.

use super::{Extra, Invalid, Provenance};
use serde::{Deserialize, Serialize};

/// How serious a finding is.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Worth knowing.
    Low,
    /// Should be fixed.
    Medium,
    /// Must be fixed before production.
    High,
    /// Exploitable now.
    Critical,
}

impl Severity {
    /// Every severity, least first.
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The name used in notes and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parse a name, as a model may write it.
    pub fn parse(s: &str) -> Option<Severity> {
        let s = s.trim().to_ascii_lowercase();
        Severity::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Where a finding stands.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FindingStatus {
    /// Nobody has judged it yet.
    #[default]
    Open,
    /// A person agrees: it is real (and is, or will be, fixed).
    Accepted,
    /// A person judged it not to apply.
    Dismissed,
}

impl FindingStatus {
    /// The name used in notes and output.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingStatus::Open => "open",
            FindingStatus::Accepted => "accepted",
            FindingStatus::Dismissed => "dismissed",
        }
    }
}

/// One finding of an audit.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Finding {
    /// Short id, unique within the flow (`F1a2b3c`).
    pub id: String,
    /// The file, relative to the repository root.
    pub file: String,
    /// The line, when the model named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// How serious.
    pub severity: Severity,
    /// What is wrong.
    pub what: String,
    /// Why it matters.
    #[serde(default)]
    pub why: String,
    /// The suggested fix.
    #[serde(default)]
    pub fix: String,
    /// Where it stands.
    #[serde(default)]
    pub status: FindingStatus,
    /// Why it was accepted or dismissed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who judged it (`Name <email>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judged_by: Option<String>,
    /// When (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judged_at: Option<String>,
    /// Keys this build does not know, from a newer git-aiflow: kept, and written back as they
    /// were (the compatibility rule of `docs/SCHEMA.md`).
    #[serde(flatten, default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// One audit: what was looked at, by which model, and what it found.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Audit {
    /// Short id, unique within the flow (`A1a2b3c`).
    pub id: String,
    /// The subtask audited; empty for the whole flow (its integration branch against its base).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subtask: String,
    /// The commits compared, `<from>..<to>` (full ids).
    pub range: String,
    /// Whether the diff was cut to fit the prompt.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// Who asked, when, and what answered.
    pub provenance: Provenance,
    /// What it found, in the model's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// Keys this build does not know, from a newer git-aiflow: kept, and written back as they
    /// were (the compatibility rule of `docs/SCHEMA.md`).
    #[serde(flatten, default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

impl Audit {
    /// Check an audit's invariants; `key` names it in errors (`audits[0]`).
    pub fn validate(&self, key: &str) -> Result<(), Invalid> {
        let bad = |k: String, problem: String| Invalid {
            key: k,
            problem,
            fix: "repair the note, or run the audit again".into(),
        };
        if self.id.is_empty() {
            return Err(bad(format!("{key}.id"), "is empty".into()));
        }
        for (i, f) in self.findings.iter().enumerate() {
            let k = format!("{key}.findings[{i}]");
            if f.id.is_empty() {
                return Err(bad(format!("{k}.id"), "is empty".into()));
            }
            if f.what.trim().is_empty() {
                return Err(bad(format!("{k}.what"), "is empty".into()));
            }
            if f.status != FindingStatus::Open && f.reason.as_deref().is_none_or(str::is_empty) {
                return Err(bad(
                    format!("{k}.reason"),
                    format!("a {} finding needs a reason", f.status.as_str()),
                ));
            }
        }
        Ok(())
    }
}

/// A short id from `parts`: `prefix` and the first 7 hex digits of their SHA-256.
pub fn short_id(prefix: char, parts: &[&str]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{}", &hex[..7])
}

/// Both sides' audits, each once (by id); a finding judged on one side and open on the other is
/// judged, and judged on both sides, the later judgement wins.
pub fn union(ours: &[Audit], theirs: &[Audit]) -> Vec<Audit> {
    let mut out: Vec<Audit> = ours.to_vec();
    for t in theirs {
        match out.iter_mut().find(|o| o.id == t.id) {
            None => out.push(t.clone()),
            Some(o) => {
                for tf in &t.findings {
                    match o.findings.iter_mut().find(|of| of.id == tf.id) {
                        None => o.findings.push(tf.clone()),
                        Some(of) => {
                            let later = |f: &Finding| {
                                f.judged_at
                                    .as_deref()
                                    .and_then(super::epoch)
                                    .unwrap_or(i64::MIN)
                            };
                            let take_theirs = match (of.status, tf.status) {
                                (FindingStatus::Open, s) => s != FindingStatus::Open,
                                (_, FindingStatus::Open) => false,
                                _ => later(tf) > later(of),
                            };
                            if take_theirs {
                                *of = tf.clone();
                            }
                        }
                    }
                }
            }
        }
    }
    out.sort_by_key(|a| super::epoch(&a.provenance.at).unwrap_or(0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(id: &str, status: FindingStatus, at: Option<&str>) -> Finding {
        Finding {
            id: id.into(),
            file: "app.py".into(),
            line: Some(3),
            severity: Severity::High,
            what: "SQL built from input".into(),
            why: String::new(),
            fix: String::new(),
            status,
            reason: (status != FindingStatus::Open).then(|| "checked".into()),
            judged_by: None,
            judged_at: at.map(str::to_owned),
            extra: Default::default(),
        }
    }

    fn audit(findings: Vec<Finding>) -> Audit {
        Audit {
            id: "A1234567".into(),
            subtask: "a1".into(),
            range: "a..b".into(),
            truncated: false,
            provenance: Provenance {
                at: "2026-01-01T00:00:00Z".into(),
                by: "Ada <ada@example.com>".into(),
                provider: "openai".into(),
                model: None,
                prompt_digest: None,
                prompt_template: None,
                tokens_in: None,
                tokens_out: None,
                duration_ms: None,
                context: None,
                feedback: None,
                expanded: None,
                warnings: Vec::new(),
                extra: Default::default(),
            },
            findings,
            extra: Default::default(),
        }
    }

    #[test]
    fn a_judgement_beats_open_and_the_later_judgement_wins() {
        let ours = audit(vec![
            finding("F1", FindingStatus::Open, None),
            finding("F2", FindingStatus::Accepted, Some("2026-01-02T00:00:00Z")),
        ]);
        let theirs = audit(vec![
            finding("F1", FindingStatus::Dismissed, Some("2026-01-02T00:00:00Z")),
            finding("F2", FindingStatus::Dismissed, Some("2026-01-03T00:00:00Z")),
        ]);
        let merged = union(std::slice::from_ref(&ours), &[theirs]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].findings[0].status, FindingStatus::Dismissed);
        assert_eq!(merged[0].findings[1].status, FindingStatus::Dismissed);
        assert_eq!(union(std::slice::from_ref(&ours), &[]), vec![ours.clone()]);
    }

    #[test]
    fn severities_parse_as_models_write_them_and_ids_are_stable() {
        assert_eq!(Severity::parse(" High"), Some(Severity::High));
        assert_eq!(Severity::parse("severe"), None);
        assert_eq!(short_id('F', &["a", "b"]), short_id('F', &["a", "b"]));
        assert_ne!(short_id('F', &["a", "b"]), short_id('F', &["ab", ""]));
        assert_eq!(short_id('F', &["x"]).len(), 8);
    }
}
