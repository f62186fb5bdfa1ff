//! `step`: commit what is in the work tree of the current subtask as its next step, by hand.

use super::steps::{STEP_KEYS, record_steps, review_keys, steps_of, with_step_trailers};
use super::test::{TestCommand, TestOptions, test_step};
use super::tree::{commit_all, workdir};
use super::{Found, WorkError, integration_tip};
use crate::flow::StepNote;
use crate::flow::lifecycle::{self, Action};
use crate::flow::plan::Unaccepted;
use crate::git::trailers;
use gix::ObjectId;

/// How to make a step.
#[derive(Debug, Clone, Default)]
pub struct StepOptions {
    /// The message, one paragraph each (none: `<title> (step N)`).
    pub message: Vec<String>,
    /// Do not run the test command on the new step.
    pub no_test: bool,
}

/// A step made.
#[derive(Debug, Clone)]
pub struct Stepped {
    /// The step commit.
    pub commit: ObjectId,
    /// Its number.
    pub step: u32,
    /// The flow's slug.
    pub flow: String,
    /// The subtask's id.
    pub subtask: String,
    /// The subtask's branch.
    pub branch: String,
    /// The test command run on the step, and how it went (`None`: none is configured, or
    /// `no_test`). The run is in the step's note.
    pub test: Option<(super::test::TestCommand, crate::flow::TestRun)>,
    /// The subtask's own `test`, not run because no person accepted it.
    pub unaccepted: Option<Unaccepted>,
}

/// Commit everything in `repo`'s work tree as the next step of `found`, whose branch it has
/// checked out.
pub fn step(
    repo: &gix::Repository,
    found: &Found,
    options: &StepOptions,
) -> Result<Stepped, WorkError> {
    let dir = workdir(repo)?;
    let s = found.subtask();
    lifecycle::may(Action::Step, s)?;
    let slug = &found.flow().slug;
    let integ = integration_tip(repo, &found.entry)?;
    let keys = review_keys(repo, Some(integ));
    let mut text = message_text(&options.message, &keys)?;
    if !crate::git::cli::is_dirty(&dir)? {
        return Err(
            WorkError::refused("nothing to commit: the work tree has no changes")
                .hint("edit the files of the subtask, then run `git aiflow step` again"),
        );
    }
    // The test command is resolved before anything is written: a bad setting stops here.
    let resolved = match options.no_test {
        true => None,
        false => Some(TestCommand::resolve(
            repo,
            Some(integ),
            &TestOptions::default(),
            Some((found.flow(), &s.id)),
        )?),
    };
    let n = steps_of(repo, integ, head(repo)?, &s.id).1 + 1;
    if text.trim().is_empty() {
        text = format!("{} (step {n})", s.title);
    }
    let rules = trailers::Rules::from_config(&repo.config_snapshot());
    let mut msg = text.into_bytes();
    msg.push(b'\n');
    let msg = with_step_trailers(&msg, slug, &s.id, n, None, &rules);
    if let Err(said) = commit_all(&dir, &msg, &[])? {
        return Err(WorkError::refused("git did not make the step commit")
            .because(said)
            .hint("fix what git or a hook reported, then run `git aiflow step` again"));
    }
    let repo = crate::git::open(&dir)?;
    let commit = head(&repo)?;
    let stamp = crate::git::committer_stamp(&repo)?;
    let note = StepNote::new(slug, &s.id, n, crate::flow::vocab::StepAuthor::Hand, &stamp);
    record_steps(&repo, slug, &s.id, &stamp, &[(commit, note)])?;
    // The step is kept whatever the test does: it runs after the step and its note are written.
    let (test, unaccepted) = match resolved {
        None => (None, None),
        Some(r) => {
            let test = match r.command {
                Some(command) => {
                    let run = test_step(&repo, &dir, found, &command, commit)?;
                    Some((command, run))
                }
                None => None,
            };
            (test, r.unaccepted)
        }
    };
    Ok(Stepped {
        commit,
        step: n,
        flow: slug.clone(),
        subtask: s.id.clone(),
        branch: found.branch(),
        test,
        unaccepted,
    })
}

/// The commit HEAD points to.
fn head(repo: &gix::Repository) -> Result<ObjectId, WorkError> {
    Ok(repo
        .head_id()
        .map_err(|e| WorkError::invalid("cannot read HEAD").because(e))?
        .detach())
}

/// The step message from its paragraphs; refused when it carries a review trailer (one of
/// `review_keys`) or a step trailer, which only git-aiflow adds.
fn message_text(paragraphs: &[String], review_keys: &[String]) -> Result<String, WorkError> {
    let text = paragraphs
        .iter()
        .map(|m| m.trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n\n");
    let key_refs: Vec<&str> = review_keys.iter().map(String::as_str).collect();
    let (_, review) = trailers::strip_keys(text.as_bytes(), &key_refs);
    if let Some(first) = review.first() {
        return Err(WorkError::invalid(format!(
            "a step cannot carry a review: the message contains `{first}`"
        ))
        .hint("reviews are added by `git aiflow approve`, run by the reviewer"));
    }
    let (_, forged) = trailers::strip_keys(text.as_bytes(), &STEP_KEYS);
    if let Some(first) = forged.first() {
        return Err(WorkError::invalid(format!(
            "the message contains `{first}`; git-aiflow adds the step trailers itself"
        ))
        .hint("leave out the Aiflow-* lines"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<String> {
        vec!["Reviewed-by".into()]
    }

    #[test]
    fn paragraphs_join_with_a_blank_line() {
        let text = message_text(&["Subject  ".into(), "Body\n".into()], &keys()).unwrap();
        assert_eq!(text, "Subject\n\nBody");
        assert_eq!(message_text(&[], &keys()).unwrap(), "");
    }

    #[test]
    fn review_and_step_trailers_are_refused() {
        let review = message_text(
            &["Fix".into(), "Reviewed-by: Ada <ada@example.com>".into()],
            &keys(),
        )
        .unwrap_err();
        assert!(
            review
                .to_string()
                .starts_with("a step cannot carry a review: the message contains `Reviewed-by")
        );
        let forged = message_text(&["Fix".into(), "Aiflow-Step: 3".into()], &keys()).unwrap_err();
        assert!(
            forged
                .to_string()
                .starts_with("the message contains `Aiflow-Step")
        );
    }
}
