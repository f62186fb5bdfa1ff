//! Step commits: their trailers, counting them on a branch, and recording their notes.

use super::WorkError;
use crate::flow::StepNote;
use crate::flow::lifecycle::{self, Action};
use crate::flow::names::{ASSISTED_KEY, FLOW_KEY, REVIEWED_KEY, STEP_KEY, SUBTASK_KEY};
use crate::gate::Policy;
use crate::git::{Stamp, trailers};
use crate::store::Change;
use gix::ObjectId;

pub use crate::flow::names::STEP_KEYS;

/// The step commits of `subtask` on `base..tip` (merges aside, such as the merges `integrate`
/// makes): how many there are, and the number the last one carries (at least the count).
pub fn steps_of(
    repo: &gix::Repository,
    base: ObjectId,
    tip: ObjectId,
    subtask: &str,
) -> (usize, u32) {
    let rules = trailers::Rules::from_config(&repo.config_snapshot());
    let Ok(walk) = repo.rev_walk([tip]).with_hidden([base]).all() else {
        return (0, 0);
    };
    let mut max = 0;
    let mut count = 0;
    for info in walk.filter_map(Result::ok) {
        if info.parent_ids.len() > 1 {
            continue;
        }
        let Ok(c) = info.object() else { continue };
        let pairs = trailers::parse_commit(c.message_raw_sloppy(), &rules);
        let mine = pairs.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case(SUBTASK_KEY.as_bytes()) && v.trim_ascii() == subtask.as_bytes()
        });
        if !mine {
            continue;
        }
        count += 1;
        for (k, v) in &pairs {
            if k.eq_ignore_ascii_case(STEP_KEY.as_bytes())
                && let Some(n) = std::str::from_utf8(v)
                    .ok()
                    .and_then(|v| v.trim().parse::<u32>().ok())
            {
                max = max.max(n);
            }
        }
    }
    (count, max.max(count as u32))
}

/// `msg` with the step trailers added.
pub fn with_step_trailers(
    msg: &[u8],
    slug: &str,
    id: &str,
    step: u32,
    assisted: Option<&str>,
    rules: &trailers::Rules,
) -> Vec<u8> {
    let mut m = trailers::add(msg, FLOW_KEY, slug, rules);
    m = trailers::add(&m, SUBTASK_KEY, id, rules);
    m = trailers::add(&m, STEP_KEY, &step.to_string(), rules);
    if let Some(a) = assisted {
        m = trailers::add(&m, ASSISTED_KEY, a, rules);
    }
    m
}

/// The review trailer keys the gate accepts here (the policy's, and always `Reviewed-by`).
pub fn review_keys(repo: &gix::Repository, integration_tip: Option<ObjectId>) -> Vec<String> {
    let mut keys = Policy::load(repo, integration_tip)
        .map(|p| p.review_trailers)
        .unwrap_or_default();
    if !keys.iter().any(|k| k.eq_ignore_ascii_case(REVIEWED_KEY)) {
        keys.push(REVIEWED_KEY.into());
    }
    keys
}

/// Write step notes on `steps` and reopen the subtask, as one notes commit.
pub fn record_steps(
    repo: &gix::Repository,
    slug: &str,
    id: &str,
    stamp: &Stamp,
    steps: &[(ObjectId, StepNote)],
) -> Result<(), WorkError> {
    crate::store::update_flow_with(
        repo,
        slug,
        &format!("aiflow: step of {id} in {slug}"),
        stamp,
        |flow, _| -> Result<Option<Change>, WorkError> {
            lifecycle::apply(flow, id, Action::Step);
            Ok(Some(Change {
                notes: steps
                    .iter()
                    .map(|(c, n)| (*c, Some(n.to_toml().into_bytes())))
                    .collect(),
                refs: vec![],
            }))
        },
    )?;
    Ok(())
}
