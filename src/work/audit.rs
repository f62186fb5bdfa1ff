//! `audit`: a security review by a model of a subtask's diff (against the integration branch) or
//! a whole flow's (the integration branch against its base), kept in the flow's note as advice;
//! and a person's judgement of each finding (`accept`, `dismiss`, with a reason).
//!
//! The model's answer is data: its findings are stored as text for people to read and judge. They
//! are never a review, and nothing in them runs or names a ref.

use super::{Found, WorkError};
use crate::ai::answer::{self, ReportedFinding};
use crate::ai::ask::{self, Asker};
use crate::ai::prompt::{Rendered, Templates};
use crate::ai::secrets::Redactor;
use crate::flow::audit::{Audit, Finding, FindingStatus, short_id};
use crate::flow::{Flow, Provenance};
use crate::store::FlowEntry;
use gix::ObjectId;
use serde::Serialize;

/// The most bytes of diff put into the prompt.
pub const MAX_DIFF: usize = 96 * 1024;

/// What an audit looks at.
pub enum Scope<'a> {
    /// A subtask's commits: its branch against the integration branch.
    Subtask(&'a Found),
    /// A whole flow: the integration branch against the flow's base.
    Flow(&'a FlowEntry),
}

/// An audit ready to be asked: the request, and what it covers.
pub struct Prepared {
    /// The request.
    pub request: crate::ai::Request,
    /// The rendered prompt.
    pub prompt: Rendered,
    /// The templates, for the repair request.
    pub templates: Templates,
    /// The flow, as read.
    pub flow: Flow,
    /// The subtask audited (empty: the flow).
    pub subtask: String,
    /// `<from>..<to>`, full ids.
    pub range: String,
    /// Whether the diff was cut to fit.
    pub truncated: bool,
}

impl Prepared {
    /// The whole prompt as one text, API keys redacted (what `--print-prompt` shows).
    pub fn transcript(&self) -> String {
        Redactor::current()
            .redact(&self.request.transcript())
            .into_owned()
    }
}

#[derive(Serialize)]
struct Context<'a> {
    flow: FlowView<'a>,
    subject: String,
    what: String,
    range: &'a str,
    shape: &'static str,
    spec_text: String,
    diff: String,
    truncated: bool,
    shown: usize,
    size: usize,
}

#[derive(Serialize)]
struct FlowView<'a> {
    slug: &'a str,
    title: &'a str,
}

/// Find what `scope` covers, read its diff and render the prompt; nothing is asked.
pub fn prepare(repo: &gix::Repository, scope: &Scope<'_>) -> Result<Prepared, WorkError> {
    let (flow, subtask, from, to, subject, what) = match scope {
        Scope::Subtask(found) => {
            let s = found.subtask();
            let branch = found.branch();
            let tip = crate::git::branch_tip(repo, &branch).ok_or_else(|| {
                WorkError::refused(format!("subtask {} has no branch {branch}", s.id))
                    .hint(format!("start it first: `git aiflow start {}`", s.id))
            })?;
            let integ = super::integration_tip(repo, &found.entry)?;
            let base = merge_base(repo, integ, tip)?;
            (
                found.flow().clone(),
                s.id.clone(),
                base,
                tip,
                format!("subtask {} \"{}\"", s.id, s.title),
                format!("what the branch {branch} adds to the integration branch"),
            )
        }
        Scope::Flow(entry) => {
            let flow = &entry.flow;
            let integ = super::integration_tip(repo, entry)?;
            let base = ObjectId::from_hex(flow.base_commit.as_bytes()).map_err(|_| {
                WorkError::invalid(format!("flow {} has no valid base commit", flow.slug))
            })?;
            let base = merge_base(repo, base, integ)?;
            (
                flow.clone(),
                String::new(),
                base,
                integ,
                format!("flow {}", flow.slug),
                format!(
                    "everything the integration branch {} adds to its base",
                    flow.integration_branch
                ),
            )
        }
    };
    if from == to {
        return Err(
            WorkError::refused(format!("{subject} has no changes to audit"))
                .hint("make steps first: `git aiflow exec` or `git aiflow step`"),
        );
    }
    let range = format!("{from}..{to}");
    let dir = crate::git::run_dir(repo);
    let raw = crate::git::cli::checked(
        &dir,
        &[
            "-c",
            "core.quotePath=false",
            "-c",
            "diff.noprefix=false",
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--no-renames",
            &from.to_string(),
            &to.to_string(),
            "--",
        ],
        &[],
        None,
    )?;
    let size = raw.len();
    let (diff, truncated) = cut(&String::from_utf8_lossy(&raw), MAX_DIFF);
    // A key in the code goes to no model.
    let diff = Redactor::current().redact_string(diff);
    let templates = Templates::new(repo.workdir());
    let context = Context {
        flow: FlowView {
            slug: &flow.slug,
            title: &flow.title,
        },
        subject,
        what,
        range: &range,
        shape: answer::FINDINGS_SHAPE,
        spec_text: flow.spec.to_markdown(&flow.title).trim_end().to_string(),
        shown: diff.len(),
        diff,
        truncated,
        size,
    };
    let system = templates.render("audit-system", &context)?;
    let prompt = templates.render("audit", &context)?;
    let request = ask::request("audit", &system, &prompt, Some(answer::findings_schema()));
    Ok(Prepared {
        request,
        prompt,
        templates,
        flow,
        subtask,
        range,
        truncated,
    })
}

/// The merge base of `a` and `b` (`a` when there is none to find).
fn merge_base(repo: &gix::Repository, a: ObjectId, b: ObjectId) -> Result<ObjectId, WorkError> {
    match repo.merge_base(a, b) {
        Ok(Some(id)) => Ok(id.detach()),
        Ok(None) | Err(_) => Ok(a),
    }
}

/// `text` cut to at most `max` bytes at a line end; and whether it was cut.
fn cut(text: &str, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text.to_owned(), false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let end = text[..end].rfind('\n').map_or(end, |i| i + 1);
    (text[..end].to_owned(), true)
}

/// Ask `asker` for the findings of `prepared` and record them as an audit of the flow.
pub fn ask(
    repo: &gix::Repository,
    prepared: Prepared,
    asker: &Asker,
    stamp: &crate::git::Stamp,
    progress: &mut dyn std::io::Write,
) -> Result<Audit, WorkError> {
    let answered = asker.ask(
        progress,
        prepared.request,
        answer::FINDINGS_SHAPE,
        answer::parse_findings,
    )?;
    let usage = &answered.usage;
    let provenance = Provenance {
        extra: Default::default(),
        at: stamp.at.clone(),
        by: stamp.who.clone(),
        provider: asker.provider_name.to_string(),
        model: usage.model.clone(),
        prompt_digest: Some(prepared.prompt.digest.clone()),
        prompt_template: Some(prepared.prompt.origin.clone()),
        tokens_in: usage.tokens_in,
        tokens_out: usage.tokens_out,
        duration_ms: Some(usage.duration_ms),
        context: None,
        feedback: None,
        expanded: None,
        warnings: Vec::new(),
    };
    let slug = prepared.flow.slug.clone();
    let id = short_id('A', &[&slug, &prepared.subtask, &prepared.range, &stamp.at]);
    let audit = Audit {
        findings: answered.value.iter().map(|f| finding(&id, f)).collect(),
        id,
        subtask: prepared.subtask,
        range: prepared.range,
        truncated: prepared.truncated,
        provenance,
        extra: Default::default(),
    };
    let what = match audit.subtask.as_str() {
        "" => format!("aiflow: audit of {slug}"),
        s => format!("aiflow: audit of {s} in {slug}"),
    };
    crate::store::update_flow(
        repo,
        &slug,
        &what,
        stamp,
        |flow| -> Result<bool, WorkError> {
            flow.audits.retain(|a| a.id != audit.id);
            flow.audits.push(audit.clone());
            Ok(true)
        },
    )?;
    Ok(audit)
}

/// A reported finding as stored: open, with its id.
fn finding(audit: &str, f: &ReportedFinding) -> Finding {
    let line = f.line.map(|l| l.to_string()).unwrap_or_default();
    Finding {
        id: short_id('F', &[audit, &f.file, &line, &f.what]),
        file: f.file.clone(),
        line: f.line,
        severity: f.severity,
        what: f.what.clone(),
        why: f.why.clone(),
        fix: f.fix.clone(),
        status: FindingStatus::Open,
        reason: None,
        judged_by: None,
        judged_at: None,
        extra: Default::default(),
    }
}

/// A finding judged.
#[derive(Debug, Clone)]
pub struct Judged {
    /// The flow.
    pub flow: String,
    /// The finding as recorded now.
    pub finding: Finding,
    /// Its status before.
    pub was: FindingStatus,
}

/// Record a person's judgement of finding `id` (its id, a unique prefix of it, or its place
/// `file:line`) in some flow of `set`: accepted or dismissed, with `reason`.
pub fn judge(
    repo: &gix::Repository,
    set: &crate::store::FlowSet,
    id: &str,
    status: FindingStatus,
    reason: &str,
    stamp: &crate::git::Stamp,
) -> Result<Judged, WorkError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(
            WorkError::invalid(format!("a finding is {} with a reason", status.as_str()))
                .hint("say why with -m REASON"),
        );
    }
    let found: Vec<(&str, &Finding)> = set
        .flows
        .iter()
        .flat_map(|e| {
            e.flow
                .audits
                .iter()
                .flat_map(|a| &a.findings)
                .filter(|f| names(f, id))
                .map(move |f| (e.flow.slug.as_str(), f))
        })
        .collect();
    let (slug, finding) = match found.as_slice() {
        [one] => *one,
        [] => {
            return Err(WorkError::invalid(format!("no finding {id}"))
                .hint("list them with `git aiflow status` or `git aiflow review <subtask>`"));
        }
        many => {
            return Err(WorkError::invalid(format!(
                "{id} names {} findings: {}",
                many.len(),
                many.iter()
                    .map(|(_, f)| f.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .hint("give more of the id"));
        }
    };
    let full = finding.id.clone();
    let was = finding.status;
    let mut now = None;
    crate::store::update_flow(
        repo,
        slug,
        &format!("aiflow: finding {full} of {slug} {}", status.as_str()),
        stamp,
        |flow| -> Result<bool, WorkError> {
            let f = flow
                .audits
                .iter_mut()
                .flat_map(|a| a.findings.iter_mut())
                .find(|f| f.id == full)
                .ok_or_else(|| {
                    WorkError::refused(format!("finding {full} left the flow meanwhile"))
                })?;
            f.status = status;
            f.reason = Some(reason.to_owned());
            f.judged_by = Some(stamp.who.clone());
            f.judged_at = Some(stamp.at.clone());
            now = Some(f.clone());
            Ok(true)
        },
    )?;
    Ok(Judged {
        flow: slug.to_owned(),
        finding: now.expect("the edit ran"),
        was,
    })
}

/// Whether `given` names finding `f`: its id or a prefix of it (any case), or its place,
/// `file:line` (or `file` for a finding without a line).
fn names(f: &Finding, given: &str) -> bool {
    let lower = given.to_ascii_lowercase();
    let place = match f.line {
        Some(l) => format!("{}:{l}", f.file),
        None => f.file.clone(),
    };
    f.id.to_ascii_lowercase().starts_with(&lower) || place == given
}

/// The findings of `flow` that nobody has judged yet, with the subtask of their audit.
pub fn open_findings(flow: &Flow) -> Vec<(&str, &Finding)> {
    flow.audits
        .iter()
        .flat_map(|a| {
            a.findings
                .iter()
                .filter(|f| f.status == FindingStatus::Open)
                .map(move |f| (a.subtask.as_str(), f))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_diff_is_cut_at_a_line_end() {
        assert_eq!(cut("a\nb\n", 10), ("a\nb\n".to_owned(), false));
        assert_eq!(cut("abc\ndef\nghi\n", 9), ("abc\ndef\n".to_owned(), true));
        let (s, cutted) = cut("ééé", 3);
        assert!(cutted);
        assert_eq!(s, "é");
    }
}
