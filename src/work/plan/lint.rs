//! Plan lint at the write points: what [`crate::flow::lint`] is checked against (the
//! repository's paths at the integration branch's tip, the prompt's instructions), and strict
//! mode (`--strict`, `aiflow.planStrict`), where any warning refuses the write.
//!
//! [`super::write_plan`] lints every revision it writes (a model's answer, a `plan edit`, and
//! anything else that writes through it); the questions are linted where they are written.

use super::super::WorkError;
use super::super::edit::EditError;
use crate::ai::answer;
use crate::ai::prompt::Templates;
use crate::flow::lint::{self as flint, Context, Paths, RepoPaths, Warning};
use crate::flow::{Flow, Question, Subtask};

/// The configuration key that makes warnings refuse the write.
pub const STRICT_KEY: &str = "aiflow.planStrict";

/// A write refused because lint found problems and strict mode is on (or the key is not a
/// boolean). Nothing was written.
#[derive(Debug)]
pub struct Refused(pub WorkError);

impl From<Refused> for WorkError {
    fn from(r: Refused) -> Self {
        r.0
    }
}

impl From<Refused> for EditError {
    fn from(r: Refused) -> Self {
        // The edit is worth keeping: it is fixed and given again.
        EditError::Keep(r.0)
    }
}

/// Whether warnings refuse a write: `aiflow.planStrict` (`--strict` sets it for one command,
/// as `git -c aiflow.planStrict=true` would).
pub fn strict(repo: &gix::Repository) -> Result<bool, WorkError> {
    match repo.config_snapshot().try_boolean(STRICT_KEY) {
        Ok(v) => Ok(v.unwrap_or(false)),
        Err(_) => Err(
            WorkError::invalid(format!("`{STRICT_KEY}` must be true or false"))
                .hint(format!("fix it with `git config {STRICT_KEY} true`")),
        ),
    }
}

/// Turn strict mode on for the commands run with `repo` (what `--strict` does): the setting is
/// applied over the configuration in memory, like `git -c`, and nothing is written.
pub fn set_strict(repo: &mut gix::Repository) -> Result<(), WorkError> {
    let setting = (STRICT_KEY.into(), Some("true".into()));
    let file =
        crate::git::params::as_config(&[setting]).map_err(|e| WorkError::invalid(e.to_string()))?;
    let mut config = repo.config_snapshot_mut();
    config
        .append(file)
        .map_err(|e| WorkError::invalid(format!("cannot apply --strict: {e}")))?;
    config
        .commit()
        .map_err(|e| WorkError::invalid(format!("cannot apply --strict: {e}")))?;
    Ok(())
}

/// The warnings about `subtasks`, a new plan revision of `flow`; under strict mode, a refusal
/// when there are any.
pub fn check_plan(
    repo: &gix::Repository,
    flow: &Flow,
    subtasks: &[Subtask],
) -> Result<Vec<Warning>, Refused> {
    let paths = repo_paths(repo, flow);
    let text = instructions(
        repo,
        &["system", "plan", "repair", "expand"],
        &[answer::PLAN_SHAPE, &answer::plan_schema().to_string()],
    );
    let warnings = flint::lint_plan(subtasks, &Context::new(flow, &text, &paths));
    // A refused plan is not written, so its ids name nothing yet: say which subtask by its
    // place and title.
    let label = |id: &str| {
        subtasks.iter().position(|s| s.id == id).map(|i| {
            let title: String = subtasks[i].title.chars().take(60).collect();
            format!("subtask {} ({id}, {title:?})", i + 1)
        })
    };
    refuse_if_strict(repo, &flow.slug, "plan", warnings, label)
}

/// The warnings about `questions`, the clarifying questions a model asked about `flow`; under
/// strict mode, a refusal when there are any.
pub fn check_questions(
    repo: &gix::Repository,
    flow: &Flow,
    questions: &[Question],
) -> Result<Vec<Warning>, Refused> {
    let paths = repo_paths(repo, flow);
    let text = instructions(
        repo,
        &["system", "questions", "repair"],
        &[
            answer::QUESTIONS_SHAPE,
            &answer::questions_schema().to_string(),
        ],
    );
    let warnings = flint::lint_questions(questions, &Context::new(flow, &text, &paths));
    refuse_if_strict(repo, &flow.slug, "questions", warnings, |_| None)
}

fn refuse_if_strict(
    repo: &gix::Repository,
    slug: &str,
    what: &str,
    warnings: Vec<Warning>,
    label: impl Fn(&str) -> Option<String>,
) -> Result<Vec<Warning>, Refused> {
    // A bad value is an error even when there is nothing to refuse, as git's own keys are.
    if !strict(repo).map_err(Refused)? || warnings.is_empty() {
        return Ok(warnings);
    }
    let n = warnings.len();
    let list: Vec<String> = warnings
        .iter()
        .map(|w| {
            let line = match w.subtask.as_deref().and_then(&label) {
                Some(l) => format!("{l}: {}", w.message),
                None => w.to_string(),
            };
            crate::ai::sanitize::clean(&line).into_owned()
        })
        .collect();
    let again = if what == "plan" {
        format!(
            "change it with `git aiflow plan edit {slug}`, or ask for another with `git aiflow plan {slug} --again`"
        )
    } else {
        format!("ask again with `git aiflow plan {slug}`")
    };
    Err(Refused(
        WorkError::refused(format!(
            "plan lint found {n} problem{} in the {what}, and strict mode refuses {}; nothing was written:\n  - {}",
            if n == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "them" },
            list.join("\n  - ")
        ))
        .hint(again)
        .hint(format!(
            "to write it with the warnings, run without --strict (and with `{STRICT_KEY}` false)"
        )),
    ))
}

/// The tree at the tip of `flow`'s integration branch (else its base commit): what the plan's
/// paths are checked against. Without one, the repository counts as empty (every path new).
pub fn repo_paths<'r>(repo: &'r gix::Repository, flow: &Flow) -> TreePaths<'r> {
    let tip = super::planning_tip(repo, flow);
    TreePaths {
        tree: tip.and_then(|t| repo.find_commit(t).ok()?.tree().ok()),
        listed: std::cell::OnceCell::new(),
    }
}

/// A tree's paths, looked up one by one (a few object reads each); listed whole only when a
/// file is looked for by name, which only a path whose directory does not exist needs (a tree of
/// 100,000 files takes about 10 times what `git ls-tree -r` takes: see benches/plan_lint.sh).
pub struct TreePaths<'r> {
    tree: Option<gix::Tree<'r>>,
    listed: std::cell::OnceCell<RepoPaths>,
}

impl TreePaths<'_> {
    /// The entry at `path`, if the tree has one.
    fn entry(&self, path: &str) -> Option<gix::object::tree::Entry<'_>> {
        let tree = self.tree.as_ref()?;
        tree.lookup_entry(path.split('/').filter(|c| !c.is_empty()))
            .ok()
            .flatten()
    }

    fn listed(&self) -> &RepoPaths {
        self.listed.get_or_init(|| {
            let Some(tree) = &self.tree else {
                return RepoPaths::default();
            };
            let mut rec = gix::traverse::tree::Recorder::default();
            if tree.traverse().breadthfirst(&mut rec).is_err() {
                return RepoPaths::default();
            }
            RepoPaths::new(
                rec.records
                    .iter()
                    .filter(|e| !e.mode.is_tree())
                    .map(|e| e.filepath.to_string()),
            )
        })
    }
}

impl Paths for TreePaths<'_> {
    fn is_empty(&self) -> bool {
        self.tree.as_ref().is_none_or(|t| t.data.is_empty())
    }

    fn exists(&self, path: &str) -> bool {
        let dir_only = path.ends_with('/');
        if path.trim_end_matches('/').is_empty() {
            return true;
        }
        self.entry(path)
            .is_some_and(|e| !dir_only || e.mode().is_tree())
    }

    fn is_dir(&self, dir: &str) -> bool {
        dir.is_empty() || self.entry(dir).is_some_and(|e| e.mode().is_tree())
    }

    fn named(&self, name: &str) -> Vec<String> {
        self.listed().named(name)
    }
}

/// The prompt's own text: the templates `names` (as this repository overrides them; a name
/// that does not exist is skipped) and the answer's JSON shape and schema. The data rendered
/// into the prompt (the spec, the repository's files) is not part of it.
fn instructions(repo: &gix::Repository, names: &[&str], shapes: &[&str]) -> String {
    let templates = Templates::new(repo.workdir());
    let mut out = String::new();
    for name in names {
        if let Ok(source) = templates.source(name) {
            out.push_str(&source.text);
            out.push('\n');
        }
    }
    for s in shapes {
        out.push_str(s);
        out.push('\n');
    }
    out
}
