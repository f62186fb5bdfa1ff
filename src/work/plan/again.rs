//! Asking the clarifying questions again (`plan --questions`): when it is allowed, and what it
//! would lose.

use super::super::WorkError;
use crate::flow::Flow;

/// Whether `flow`'s clarifying questions may be asked again: only before the first plan (the
/// plan was made from their answers; feedback on it goes with `plan --again -m`), and, when some
/// are answered, only with `force` (the new questions replace them and their answers, which stay
/// in the history of the notes ref).
pub(super) fn reask_questions(flow: &Flow, force: bool) -> Result<(), WorkError> {
    let slug = &flow.slug;
    if let Some(plan) = flow.current_plan() {
        return Err(WorkError::refused(format!(
            "flow `{slug}` has a plan (revision {}); its clarifying questions can be asked again only before the first plan",
            plan.revision
        ))
        .hint(format!(
            "to tell the model what is wrong with the plan, run `git aiflow plan {slug} --again -m TEXT`"
        )));
    }
    let answered: Vec<String> = flow
        .questions
        .iter()
        .filter(|q| q.answer.is_some())
        .map(|q| q.id.to_string())
        .collect();
    if !answered.is_empty() && !force {
        let (s, are) = if answered.len() == 1 {
            ("", "is")
        } else {
            ("s", "are")
        };
        return Err(WorkError::refused(format!(
            "question{s} {} of flow `{slug}` {are} answered; asking again would replace every question and its answer",
            answered.join(", ")
        ))
        .hint(format!(
            "to ask again anyway, run `git aiflow plan {slug} --questions --force` (the answers stay in the history of refs/notes/aiflow)"
        ))
        .hint(format!(
            "to plan with these answers, run `git aiflow plan {slug}`"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::tests_support::sample;

    #[test]
    fn questions_are_asked_again_before_the_plan_and_answers_only_by_force() {
        let mut flow = sample();
        let e = reask_questions(&flow, true).unwrap_err().to_string();
        assert!(e.contains("has a plan (revision 1)"), "{e}");
        flow.plans.clear();
        assert!(flow.questions.iter().any(|q| q.answer.is_some()));
        let e = reask_questions(&flow, false).unwrap_err().to_string();
        assert!(
            e.contains("question 1 of flow `rate-limit` is answered"),
            "{e}"
        );
        assert!(reask_questions(&flow, true).is_ok());
        for q in &mut flow.questions {
            q.answer = None;
        }
        assert!(reask_questions(&flow, false).is_ok());
    }
}
