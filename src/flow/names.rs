//! The names git-aiflow writes into git: the trailer keys of its commits and the shape of its
//! branch names. Everything that writes or recognises one of them uses these, so that the
//! spelling lives in one place.

/// The trailer naming a commit's flow.
pub const FLOW_KEY: &str = "Aiflow-Flow";
/// The trailer naming a commit's subtask.
pub const SUBTASK_KEY: &str = "Aiflow-Subtask";
/// The trailer numbering a step of a subtask.
pub const STEP_KEY: &str = "Aiflow-Step";
/// The trailer naming the agent that made a step.
pub const ASSISTED_KEY: &str = "Assisted-by";
/// The review trailer the gate always accepts.
pub const REVIEWED_KEY: &str = "Reviewed-by";
/// The trailer keys git-aiflow writes on steps; nobody else may write them.
pub const STEP_KEYS: [&str; 3] = [FLOW_KEY, SUBTASK_KEY, STEP_KEY];

/// The prefix of every integration branch.
pub const BRANCH_PREFIX: &str = "aiflow/";
/// What separates a subtask branch's integration branch from its id.
const SUBTASK_SEPARATOR: &str = "--";

/// The integration branch (short name) of the flow `slug`.
pub fn integration_branch(slug: &str) -> String {
    format!("{BRANCH_PREFIX}{slug}")
}

/// The slug of an integration branch's short name, if `branch` is one in shape: `aiflow/<rest>`
/// with no separator and no further `/`. Whether the slug is valid is the caller's question.
pub fn slug_of_integration(branch: &str) -> Option<&str> {
    let rest = branch.strip_prefix(BRANCH_PREFIX)?;
    (!rest.contains(SUBTASK_SEPARATOR) && !rest.contains('/')).then_some(rest)
}

/// Whether `branch` (a short name) is in shape a subtask branch of `integration`.
pub fn is_subtask_branch_of(branch: &str, integration: &str) -> bool {
    branch
        .strip_prefix(integration)
        .is_some_and(|rest| rest.starts_with(SUBTASK_SEPARATOR))
}

/// The integration branch a subtask branch (short name) goes into: `aiflow/<slug>` for
/// `aiflow/<slug>--<id>…`.
pub fn integration_of_subtask(branch: &str) -> Option<&str> {
    let rest = branch.strip_prefix(BRANCH_PREFIX)?;
    let (slug, _) = rest.split_once(SUBTASK_SEPARATOR)?;
    Some(&branch[..BRANCH_PREFIX.len() + slug.len()])
}

/// The branch a subtask gets when it starts: `<integration branch>--<id>-<title words>`.
pub fn subtask_branch(integration_branch: &str, id: &str, title: &str) -> String {
    let words = super::slug::slugify(title).unwrap_or_default();
    let mut part = String::new();
    for w in words.split('-') {
        if !part.is_empty() && part.len() + 1 + w.len() > 40 {
            break;
        }
        if !part.is_empty() {
            part.push('-');
        }
        part.push_str(w);
    }
    if part.is_empty() {
        format!("{integration_branch}{SUBTASK_SEPARATOR}{id}")
    } else {
        format!("{integration_branch}{SUBTASK_SEPARATOR}{id}-{part}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_round_trip() {
        let integ = integration_branch("rate-limit");
        assert_eq!(integ, "aiflow/rate-limit");
        assert_eq!(slug_of_integration(&integ), Some("rate-limit"));
        let sub = subtask_branch(&integ, "k3f9", "Token bucket: refill!");
        assert_eq!(sub, "aiflow/rate-limit--k3f9-token-bucket-refill");
        assert!(is_subtask_branch_of(&sub, &integ));
        assert!(!is_subtask_branch_of("aiflow/rate-limiter--x", &integ));
        assert_eq!(integration_of_subtask(&sub), Some("aiflow/rate-limit"));
        assert_eq!(slug_of_integration(&sub), None);
        assert_eq!(slug_of_integration("aiflow/a/b"), None);
        assert_eq!(integration_of_subtask("main"), None);
        assert_eq!(
            subtask_branch(&integ, "k3f9", "!!"),
            "aiflow/rate-limit--k3f9"
        );
    }
}
