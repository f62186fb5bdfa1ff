//! Review records: what a reviewer approved (or asked to change), bound to exact content, and the
//! canonical bytes a reviewer signs (the attestation).
//!
//! A record names each approved commit by its id and by its content id
//! ([`crate::git::content`]): the id binds the commit itself, the content id lets a pure
//! re-parent of the same change keep its review. Records written before content ids existed carry
//! `git patch-id --stable` ids instead; those count only where the policy allows
//! (`legacy-patch-ids`), because a stable patch id ignores whitespace.
//!
//! A flow's records live in its note (`Flow::reviews`); records of commits outside any flow
//! (`git aiflow approve --range`) live in a `kind = "review"` note on each approved commit.

use super::Extra;
use super::{DocKind, Invalid, SCHEMA, invalid, is_hex_id, validate_identity, validate_time};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub use super::vocab::Verdict;

/// A human review of a subtask (in a flow's note) or of a range of commits (in a review note).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct Review {
    /// The subtask reviewed (empty in a review note, which names a range instead).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subtask: String,
    /// The range reviewed (`A..B` as given to `approve --range`), in a review note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
    /// `approved` or `changes-requested`.
    pub verdict: Verdict,
    /// The reviewer (`Name <email>`), as git's committer identity named them.
    pub reviewer: String,
    /// When (RFC 3339).
    pub at: String,
    /// What the reviewer said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The program that recorded the review (`git-aiflow 0.1.0`); part of what is signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The commits the review covers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<ReviewedCommit>,
    /// The reviewer's signature over [`Review::attestation`] (an armored SSH signature in the
    /// `aiflow-review` namespace), when the review was signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// An approval's deviations from the plan, as the reviewer saw them (files changed outside
    /// the plan, planned files untouched): accepted knowingly. Informational: not part of the
    /// signed attestation, so that older versions still verify the signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deviations: Option<super::deviations::Deviations>,
    /// Keys this build does not know, from a newer git-aiflow: kept, and written back as they
    /// were (the compatibility rule of `docs/SCHEMA.md`).
    #[serde(flatten, default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// An approval `approve` refused because of who asked: kept in the flow's note so that `stats`
/// can count them (git records nothing else of a refusal). It changes nothing the gate reads.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct RefusedApproval {
    /// The subtask whose approval was refused.
    pub subtask: String,
    /// Who asked to approve (`Name <email>`).
    pub reviewer: String,
    /// When (RFC 3339).
    pub at: String,
    /// Why: `self-review` (the reviewer wrote some of the commits) or `reviewer-not-allowed`
    /// (not on the policy's list of reviewers).
    pub reason: String,
    /// The commits the reason names (for `self-review`, those the reviewer wrote).
    #[serde(default)]
    pub commits: usize,
    /// Keys this build does not know, from a newer git-aiflow: kept, and written back as they
    /// were (the compatibility rule of `docs/SCHEMA.md`).
    #[serde(flatten, default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

impl RefusedApproval {
    /// The reason for a reviewer outside the policy's list.
    pub const NOT_ALLOWED: &str = "reviewer-not-allowed";
    /// The reason for a reviewer who wrote some of the commits.
    pub const SELF_REVIEW: &str = "self-review";

    /// Check a record's invariants; `key` names it in errors (`refused_approvals[0]`).
    pub fn validate(&self, key: &str) -> Result<(), Invalid> {
        if self.subtask.trim().is_empty() {
            return Err(invalid(
                format!("{key}.subtask"),
                "the subtask is empty",
                "name the subtask, or remove the entry",
            ));
        }
        validate_identity(&format!("{key}.reviewer"), &self.reviewer)?;
        validate_time(&format!("{key}.at"), &self.at)
    }
}

/// One commit covered by a review.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ReviewedCommit {
    /// The commit id.
    pub commit: String,
    /// Its content id (`c1:…` for a change, `m1:…` for a merge), which changes with any byte of
    /// content, any mode, any rename.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
    /// Its stable patch id (`git patch-id --stable`), in records written before content ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_id: Option<String>,
    /// Keys this build does not know, from a newer git-aiflow: kept, and written back as they
    /// were (the compatibility rule of `docs/SCHEMA.md`).
    #[serde(flatten, default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// What a signed review is about, for its attestation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// Subtask `subtask` of flow `flow`.
    Subtask {
        /// The flow's slug.
        flow: &'a str,
        /// The subtask's id.
        subtask: &'a str,
    },
    /// Commits outside any flow, approved with `approve --range`.
    Range,
}

/// The first line of every attestation: what it is and its format's version.
pub const ATTESTATION_HEADER: &str = "git-aiflow review attestation v1";

impl Review {
    /// The canonical bytes a reviewer signs: every repository-independent fact of the review, one
    /// `key value` line each, in a fixed order, values escaped so that no value can add a line:
    ///
    /// ```text
    /// git-aiflow review attestation v1
    /// flow rate-limit            (or `range A..B` for a range review)
    /// subtask k3f9ab
    /// verdict approved
    /// reviewer Grace Hopper <grace@example.com>
    /// at 2026-11-21T12:00:00+00:00
    /// tool git-aiflow 0.1.0
    /// comment Looks good.\nShip it.
    /// commit 89abcdef… c1:5e0f…
    /// ```
    ///
    /// `comment` is present only when the review has one; one `commit` line per commit, in the
    /// record's order, with its content id (or `-` when the record has none).
    pub fn attestation(&self, subject: Subject<'_>) -> Vec<u8> {
        let mut out = String::with_capacity(256 + self.commits.len() * 120);
        let mut line = |key: &str, value: &str| {
            out.push_str(key);
            out.push(' ');
            escape_into(&mut out, value);
            out.push('\n');
        };
        line("git-aiflow", "review attestation v1");
        match subject {
            Subject::Subtask { flow, subtask } => {
                line("flow", flow);
                line("subtask", subtask);
            }
            Subject::Range => line("range", self.range.as_deref().unwrap_or("")),
        }
        line("verdict", self.verdict.as_str());
        line("reviewer", &self.reviewer);
        line("at", &self.at);
        line("tool", self.tool.as_deref().unwrap_or(""));
        if let Some(c) = &self.comment {
            line("comment", c);
        }
        for c in &self.commits {
            out.push_str("commit ");
            escape_into(&mut out, &c.commit);
            out.push(' ');
            escape_into(&mut out, c.content_id.as_deref().unwrap_or("-"));
            out.push('\n');
        }
        out.into_bytes()
    }

    /// Check a record's invariants; `key` names it in errors (`reviews[2]`).
    pub fn validate(&self, key: &str) -> Result<(), Invalid> {
        if !self.verdict.is_known() {
            return Err(invalid(
                format!("{key}.verdict"),
                format!("unknown verdict `{}`", self.verdict),
                "use `approved` or `changes-requested`",
            ));
        }
        validate_identity(&format!("{key}.reviewer"), &self.reviewer)?;
        validate_time(&format!("{key}.at"), &self.at)?;
        for (j, c) in self.commits.iter().enumerate() {
            if !is_hex_id(&c.commit) {
                return Err(invalid(
                    format!("{key}.commits[{j}].commit"),
                    format!("`{}` is not a full commit id", c.commit),
                    "use the 40-character commit id",
                ));
            }
            if let Some(id) = &c.content_id
                && !crate::git::content::is_content_id(id)
            {
                return Err(invalid(
                    format!("{key}.commits[{j}].content_id"),
                    format!("`{id}` is not a content id"),
                    "remove it, or approve the commit again",
                ));
            }
        }
        Ok(())
    }

    /// Whether this is an approval.
    pub fn approves(&self) -> bool {
        self.verdict == Verdict::Approved
    }
}

/// Append `value` to an attestation line, escaping backslash, newline and carriage return.
fn escape_into(out: &mut String, value: &str) {
    if !value.contains(['\\', '\n', '\r']) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// The note on a commit approved outside any flow (`git aiflow approve --range`): its reviews.
///
/// Every commit of one approved range gets the same document (git stores the blob once), so the
/// gate finds the record from the commit itself; `notes.rewriteRef` carries it through a rebase.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ReviewNote {
    /// Schema version; always first.
    pub schema: u32,
    /// Always `review`.
    pub kind: DocKind,
    /// The reviews, oldest first.
    #[serde(default)]
    pub reviews: Vec<Review>,
    /// Keys this build does not know, from a newer git-aiflow: kept, and written back as they
    /// were (the compatibility rule of `docs/SCHEMA.md`).
    #[serde(flatten, default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

impl ReviewNote {
    /// A note holding `reviews`.
    pub fn new(reviews: Vec<Review>) -> Self {
        ReviewNote {
            extra: Default::default(),
            schema: SCHEMA,
            kind: DocKind::Review,
            reviews,
        }
    }

    /// Serialize to TOML (`schema` first, ending in a newline).
    pub fn to_toml(&self) -> String {
        let mut out = toml::to_string_pretty(self).expect("review notes always serialize");
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out
    }

    /// Decode a review note; several concatenated documents (a squash under
    /// `notes.rewriteMode=concatenate`) are joined.
    pub fn decode(text: &str) -> Result<Self, String> {
        if text.len() > super::upgrade::MAX_NOTE {
            return Err(format!(
                "it is {} bytes, more than the {} bytes a note may have",
                text.len(),
                super::upgrade::MAX_NOTE
            ));
        }
        let one = |t: &str| -> Result<ReviewNote, String> {
            let note: ReviewNote = toml::from_str(t).map_err(|e| e.message().to_owned())?;
            if !super::upgrade::KNOWN_SCHEMAS.contains(&note.schema) {
                return Err(format!("unknown schema {}", note.schema));
            }
            if note.kind != DocKind::Review {
                return Err("not a review note".into());
            }
            for (i, r) in note.reviews.iter().enumerate() {
                r.validate(&format!("reviews[{i}]"))
                    .map_err(|e| e.to_string())?;
            }
            Ok(note)
        };
        match one(text) {
            Ok(n) => Ok(n),
            Err(first) => match super::upgrade::split_concatenated(text) {
                Some(parts) => {
                    let mut all = Vec::new();
                    for p in parts {
                        all.extend(one(&p)?.reviews);
                    }
                    Ok(ReviewNote::new(all))
                }
                None => Err(first),
            },
        }
    }
}

/// Whether a commit's review stands, by the recorded reviews.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Approvals cover it; the indices of the records (into the reviews given) that do.
    Approved(Vec<usize>),
    /// It was approved, and changes were requested since.
    Revoked,
    /// No approval covers it: changed after its review, or never approved.
    Unrecorded,
}

impl Standing {
    /// Whether an approval covers the commit.
    pub fn is_approved(&self) -> bool {
        matches!(self, Standing::Approved(_))
    }
}

/// What a sequence of reviews (of one subtask, or on one commit) says, in order: the commits,
/// content ids and legacy patch ids of approvals not revoked since, each with the records that
/// approved it, and what a later request for changes revoked.
#[derive(Debug, Clone, Default)]
pub struct Approvals {
    by_commit: BTreeMap<String, Vec<usize>>,
    by_content: BTreeMap<String, Vec<usize>>,
    by_patch: BTreeMap<String, Vec<usize>>,
    revoked: BTreeSet<String>,
}

impl Approvals {
    /// Fold `reviews` (oldest first, with their indices) into what stands.
    pub fn of<'a>(reviews: impl IntoIterator<Item = (usize, &'a Review)>) -> Self {
        let mut a = Approvals::default();
        for (i, r) in reviews {
            if r.approves() {
                for c in &r.commits {
                    a.by_commit.entry(c.commit.clone()).or_default().push(i);
                    if let Some(id) = &c.content_id {
                        a.by_content.entry(id.clone()).or_default().push(i);
                    }
                    if let Some(p) = &c.patch_id {
                        a.by_patch.entry(p.clone()).or_default().push(i);
                    }
                }
            } else {
                for map in [&mut a.by_commit, &mut a.by_content, &mut a.by_patch] {
                    a.revoked.extend(std::mem::take(map).into_keys());
                }
            }
        }
        a
    }

    /// The standing of `commit` by its id alone.
    pub fn by_id(&self, commit: &str) -> Standing {
        self.standing(commit, None, None)
    }

    /// The standing of `commit`, with its content id and (where legacy patch ids count) its stable
    /// patch id; without them only an approval by id can be found.
    pub fn standing(&self, commit: &str, content: Option<&str>, patch: Option<&str>) -> Standing {
        let mut records: Vec<usize> = Vec::new();
        let mut add = |map: &BTreeMap<String, Vec<usize>>, key: Option<&str>| {
            if let Some(v) = key.and_then(|k| map.get(k)) {
                records.extend(v);
            }
        };
        add(&self.by_commit, Some(commit));
        add(&self.by_content, content);
        add(&self.by_patch, patch);
        if !records.is_empty() {
            records.sort_unstable();
            records.dedup();
            return Standing::Approved(records);
        }
        let revoked = |k: Option<&str>| k.is_some_and(|k| self.revoked.contains(k));
        if revoked(Some(commit)) || revoked(content) || revoked(patch) {
            Standing::Revoked
        } else {
            Standing::Unrecorded
        }
    }

    /// Whether any standing approval carries a legacy patch id (so computing patch ids can
    /// change a verdict).
    pub fn has_patch_ids(&self) -> bool {
        !self.by_patch.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(verdict: &str, commits: &[(&str, Option<&str>)]) -> Review {
        Review {
            extra: Default::default(),
            subtask: "k3f9".into(),
            range: None,
            verdict: Verdict::from(verdict),
            reviewer: "Grace Hopper <grace@example.com>".into(),
            at: "2026-11-21T12:00:00+00:00".into(),
            comment: None,
            tool: Some("git-aiflow 0.1.0".into()),
            commits: commits
                .iter()
                .map(|(c, id)| ReviewedCommit {
                    extra: Default::default(),
                    commit: c.to_string(),
                    content_id: id.map(str::to_owned),
                    patch_id: None,
                })
                .collect(),
            signature: None,
            deviations: None,
        }
    }

    #[test]
    fn attestation_is_canonical_and_cannot_be_extended_by_a_value() {
        let mut r = review("approved", &[("a".repeat(40).as_str(), Some("c1:ab"))]);
        r.comment = Some("fine\ncommit ffff c1:evil\\".into());
        let text = String::from_utf8(r.attestation(Subject::Subtask {
            flow: "rate-limit",
            subtask: "k3f9",
        }))
        .unwrap();
        assert_eq!(
            text,
            format!(
                "git-aiflow review attestation v1\nflow rate-limit\nsubtask k3f9\nverdict approved\n\
                 reviewer Grace Hopper <grace@example.com>\nat 2026-11-21T12:00:00+00:00\n\
                 tool git-aiflow 0.1.0\ncomment fine\\ncommit ffff c1:evil\\\\\ncommit {} c1:ab\n",
                "a".repeat(40)
            )
        );
        assert_eq!(text.lines().filter(|l| l.starts_with("commit ")).count(), 1);
        assert!(text.starts_with(ATTESTATION_HEADER));
    }

    #[test]
    fn a_request_for_changes_revokes_what_came_before() {
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let reviews = [
            review("approved", &[(&a, Some("c1:1"))]),
            review("changes-requested", &[]),
            review("approved", &[(&b, Some("c1:2"))]),
        ];
        let ap = Approvals::of(reviews.iter().enumerate());
        assert_eq!(ap.by_id(&a), Standing::Revoked);
        assert_eq!(ap.standing("x", Some("c1:1"), None), Standing::Revoked);
        assert_eq!(ap.by_id(&b), Standing::Approved(vec![2]));
        assert_eq!(
            ap.standing("y", Some("c1:2"), None),
            Standing::Approved(vec![2])
        );
        assert_eq!(ap.standing("z", Some("c1:3"), None), Standing::Unrecorded);
    }
}
