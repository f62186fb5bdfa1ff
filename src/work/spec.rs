//! `spec edit` as a library call: re-validate an edited spec and write it by compare-and-swap on
//! the notes ref, refusing when someone else changed the spec meanwhile.

use super::WorkError;
use super::edit::EditError;
use crate::flow::{Flow, spec};
use crate::store::{self, Change};

/// The text the editor opens: the spec as Markdown, then the scissors line and a note.
pub fn editor_text(flow: &Flow) -> String {
    format!(
        "{}\n\n{}\n# Edit the spec of flow `{}` above.\n",
        flow.spec.to_markdown(&flow.title),
        spec::SCISSORS,
        flow.slug
    )
}

/// What [`apply`] did.
#[derive(Debug)]
pub struct Edited {
    /// Whether the spec or title changed (and was written).
    pub changed: bool,
    /// Advice on the new spec (when it changed).
    pub advice: Vec<String>,
}

/// Write `text` (the spec as Markdown, with an optional title) as the spec of `original`'s flow
/// (as read when the edit started), as `stamp`'s change.
pub fn apply(
    repo: &gix::Repository,
    original: &Flow,
    text: &str,
    stamp: &crate::git::Stamp,
) -> Result<Edited, EditError> {
    let slug = &original.slug;
    let parsed = spec::parse(text);
    if parsed.spec == spec::Spec::default()
        && parsed.title.as_deref().is_none_or(|t| t.trim().is_empty())
    {
        return Err(EditError::Other(
            WorkError::invalid("the spec is empty; nothing was changed")
                .hint("to keep the spec as it is, save it unchanged"),
        ));
    }
    let new_title = checked(&parsed)?;
    let mut unchanged = false;
    let written = store::update(repo, &format!("aiflow: edit spec of {slug}"), |snap| {
        let set = snap.flows(repo)?;
        let current = set.find(slug)?;
        // Someone else changed the spec while the editor was open: do not overwrite their work.
        if current.flow.spec != original.spec || current.flow.title != original.title {
            return Err(EditError::Keep(
                WorkError::refused(format!(
                    "the spec of `{slug}` changed while you were editing it; nothing was written"
                ))
                .hint(format!(
                    "see the new version with `git aiflow spec show {slug}`"
                )),
            ));
        }
        let mut flow = current.flow.clone();
        // Keys a newer version keeps in the spec have no Markdown form here: they stay.
        let extra = std::mem::take(&mut flow.spec.extra);
        flow.spec = parsed.spec.clone();
        flow.spec.extra = extra;
        if let Some(t) = &new_title {
            flow.title = t.clone();
        }
        if flow.spec == current.flow.spec
            && flow.title == current.flow.title
            && current.documents == 1
        {
            unchanged = true;
            return Ok(Change::default());
        }
        flow.updated_at = stamp.at.clone();
        flow.updated_by = stamp.who.clone();
        let note = store::flow_note(current.anchor, &flow)
            .map_err(|e| EditError::Keep(WorkError::from(e)))?;
        Ok(Change {
            notes: vec![note],
            refs: vec![],
        })
    })?;
    let changed = !unchanged && written.commit.is_some();
    Ok(Edited {
        changed,
        advice: if changed {
            parsed.spec.advice()
        } else {
            Vec::new()
        },
    })
}

/// The new title, if the text gives one, once the spec and title are found valid.
fn checked(parsed: &spec::ParsedSpec) -> Result<Option<String>, EditError> {
    if let Err(e) = parsed.spec.validate() {
        return Err(EditError::Keep(
            WorkError::invalid(format!("the spec is not valid: {}", e.problem)).hint(e.fix),
        ));
    }
    let new_title = parsed
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    if let Some(t) = &new_title
        && let Err(e) = crate::flow::validate_title("title", t)
    {
        return Err(EditError::Keep(
            WorkError::invalid(format!("invalid title: {}", e.problem)).hint(e.fix),
        ));
    }
    Ok(new_title)
}
