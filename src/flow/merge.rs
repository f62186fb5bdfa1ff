//! The three-way merge of flow documents, keyed by stable ids, used when `sync` joins two clones'
//! notes.
//!
//! The rules, in the order they apply:
//! - A value changed on one side only takes that side's value; a value changed the same way on
//!   both sides is simply kept.
//! - Lists of things with ids are merged item by item: questions by number, plan revisions by
//!   number, subtasks by id. What either side added is kept. An item removed on one side and left
//!   alone on the other is removed; one removed on one side and changed on the other is kept.
//! - Review records are a union, ordered by time (a later request for changes revokes earlier
//!   approvals, so the order matters).
//! - Statuses only move forward: a flow's and a subtask's status take the further of two
//!   concurrent changes, and `finished` once recorded stays. A subtask's status is progress (the
//!   flow's `progress`, carried by the current revision in memory), never a revision's decision:
//!   both sides' progress is kept whatever revision each side made.
//! - Concurrent plan revisions are all kept in the plan's history (the earlier side's first). The
//!   current plan is a merge of both sides' subtasks, recorded as one more revision with
//!   `source = "merge"` when its decisions differ from the later side's (progress alone never
//!   makes a revision).
//! - Any other value changed differently on both sides takes the value of the side whose
//!   document was updated later. Every such choice is reported as a [`Conflict`]; the other value
//!   stays reachable through the merge commit's other parent.

use super::{Flow, PlanRevision, Progress, Question, Review, Subtask, SubtaskStatus, epoch};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Which side of a merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The local clone.
    Ours,
    /// The remote.
    Theirs,
}

impl Side {
    /// `ours` or `theirs`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Ours => "ours",
            Side::Theirs => "theirs",
        }
    }
}

/// A value both sides changed differently, and how it was resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// The key, as in the document (`plans[2].subtasks[k3x9pq].title`).
    pub field: String,
    /// Our value, as TOML-like text.
    pub ours: String,
    /// Their value.
    pub theirs: String,
    /// `ours`, `theirs`, or `both` (lists whose items were all kept).
    pub kept: String,
    /// The rule that decided.
    pub rule: String,
}

/// The result of merging two flow documents.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The merged document.
    pub flow: Flow,
    /// What had to be decided.
    pub conflicts: Vec<Conflict>,
}

/// Merge `ours` and `theirs`, which both descend from `base` (absent when the two histories share
/// no version of this flow). `who` and `at` stamp a plan revision the merge has to create.
pub fn merge_flows(base: Option<&Flow>, ours: &Flow, theirs: &Flow, who: &str, at: &str) -> Merged {
    let later = if epoch(&theirs.updated_at) > epoch(&ours.updated_at) {
        Side::Theirs
    } else {
        Side::Ours
    };
    let mut m = Merger {
        later,
        conflicts: Vec::new(),
    };
    let b = base;
    let mut flow = Flow {
        extra: m.extra("", b.map(|b| &b.extra), &ours.extra, &theirs.extra),
        schema: ours.schema.max(theirs.schema),
        kind: ours.kind,
        slug: m.pick("slug", b.map(|b| &b.slug), &ours.slug, &theirs.slug),
        title: m.pick("title", b.map(|b| &b.title), &ours.title, &theirs.title),
        status: m.forward(
            "status",
            b.map(|b| b.status),
            ours.status,
            theirs.status,
            |s| s as u8,
        ),
        base_ref: m.pick(
            "base_ref",
            b.map(|b| &b.base_ref),
            &ours.base_ref,
            &theirs.base_ref,
        ),
        base_commit: m.pick(
            "base_commit",
            b.map(|b| &b.base_commit),
            &ours.base_commit,
            &theirs.base_commit,
        ),
        integration_branch: m.pick(
            "integration_branch",
            b.map(|b| &b.integration_branch),
            &ours.integration_branch,
            &theirs.integration_branch,
        ),
        created_at: m.pick(
            "created_at",
            b.map(|b| &b.created_at),
            &ours.created_at,
            &theirs.created_at,
        ),
        created_by: m.pick(
            "created_by",
            b.map(|b| &b.created_by),
            &ours.created_by,
            &theirs.created_by,
        ),
        updated_at: match later {
            Side::Ours => ours.updated_at.clone(),
            Side::Theirs => theirs.updated_at.clone(),
        },
        updated_by: match later {
            Side::Ours => ours.updated_by.clone(),
            Side::Theirs => theirs.updated_by.clone(),
        },
        questions_skipped: m.pick(
            "questions_skipped",
            b.map(|b| &b.questions_skipped),
            &ours.questions_skipped,
            &theirs.questions_skipped,
        ),
        spec: m.spec(b.map(|b| &b.spec), &ours.spec, &theirs.spec),
        questions: Vec::new(),
        questions_asked: None,
        plans: Vec::new(),
        progress: m.progress(
            b.map(|b| b.progress.as_slice()).unwrap_or(&[]),
            &ours.progress,
            &theirs.progress,
        ),
        reviews: union_reviews(&ours.reviews, &theirs.reviews),
        refused_approvals: union_by_time(&ours.refused_approvals, &theirs.refused_approvals, |r| {
            &r.at
        }),
        audits: super::audit::union(&ours.audits, &theirs.audits),
        finished: match (&ours.finished, &theirs.finished) {
            (Some(o), Some(t)) if o != t => {
                Some(m.pick("finished", b.and_then(|b| b.finished.as_ref()), o, t))
            }
            (o, t) => o.clone().or_else(|| t.clone()),
        },
    };
    m.questions(b, ours, theirs, &mut flow);
    flow.plans = m.plans(
        b.map(|b| b.plans.as_slice()).unwrap_or(&[]),
        &ours.plans,
        &theirs.plans,
        who,
        at,
    );
    // Revisions before the current one hold their decisions only, as when read.
    let older = flow.plans.len().saturating_sub(1);
    for p in flow.plans.iter_mut().take(older) {
        *p = p.decided();
    }
    Merged {
        flow,
        conflicts: m.conflicts,
    }
}

struct Merger {
    later: Side,
    conflicts: Vec<Conflict>,
}

fn show<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The side whose value a three-way merge takes without a decision: the one that changed, or
/// either when both agree; `None` when both changed differently.
fn unchanged_side<T: PartialEq>(base: Option<&T>, ours: &T, theirs: &T) -> Option<Side> {
    if ours == theirs || base == Some(theirs) {
        Some(Side::Ours)
    } else if base == Some(ours) {
        Some(Side::Theirs)
    } else {
        None
    }
}

fn take<T: Clone>(side: Side, ours: &T, theirs: &T) -> T {
    match side {
        Side::Ours => ours.clone(),
        Side::Theirs => theirs.clone(),
    }
}

impl Merger {
    /// The three-way choice for one value; both changed: the later side wins, reported.
    fn pick<T: PartialEq + Clone + Serialize>(
        &mut self,
        field: &str,
        base: Option<&T>,
        ours: &T,
        theirs: &T,
    ) -> T {
        self.pick_by(field, base, ours, theirs, self.later)
    }

    fn pick_by<T: PartialEq + Clone + Serialize>(
        &mut self,
        field: &str,
        base: Option<&T>,
        ours: &T,
        theirs: &T,
        prefer: Side,
    ) -> T {
        if let Some(side) = unchanged_side(base, ours, theirs) {
            return take(side, ours, theirs);
        }
        self.report(
            field,
            show(ours),
            show(theirs),
            prefer.as_str(),
            "the later change wins",
        );
        take(prefer, ours, theirs)
    }

    /// Keys a newer version wrote that this one does not know, merged key by key like the
    /// others (`prefix` names where they are, for the report).
    fn extra(
        &mut self,
        prefix: &str,
        base: Option<&super::Extra>,
        ours: &super::Extra,
        theirs: &super::Extra,
    ) -> super::Extra {
        let mut out = super::Extra::new();
        for key in ours.keys().chain(theirs.keys()) {
            if out.contains_key(key) {
                continue;
            }
            let b = base.map(|b| b.get(key).cloned());
            let value = self.pick(
                &format!("{prefix}{key}"),
                b.as_ref(),
                &ours.get(key).cloned(),
                &theirs.get(key).cloned(),
            );
            if let Some(v) = value {
                out.insert(key.clone(), v);
            }
        }
        out
    }

    /// The three-way choice for a status: both changed, the further one wins, reported.
    fn forward<T: PartialEq + Copy + Serialize>(
        &mut self,
        field: &str,
        base: Option<T>,
        ours: T,
        theirs: T,
        rank: impl Fn(T) -> u8,
    ) -> T {
        if let Some(side) = unchanged_side(base.as_ref(), &ours, &theirs) {
            return take(side, &ours, &theirs);
        }
        let kept = if rank(theirs) > rank(ours) {
            Side::Theirs
        } else {
            Side::Ours
        };
        self.report(
            field,
            show(&ours),
            show(&theirs),
            kept.as_str(),
            "a status only moves forward",
        );
        take(kept, &ours, &theirs)
    }

    fn report(&mut self, field: &str, ours: String, theirs: String, kept: &str, rule: &str) {
        self.conflicts.push(Conflict {
            field: field.to_owned(),
            ours,
            theirs,
            kept: kept.to_owned(),
            rule: rule.to_owned(),
        });
    }

    fn spec(
        &mut self,
        base: Option<&super::Spec>,
        ours: &super::Spec,
        theirs: &super::Spec,
    ) -> super::Spec {
        let b = base;
        super::Spec {
            extra: self.extra("spec.", b.map(|b| &b.extra), &ours.extra, &theirs.extra),
            summary: self.pick(
                "spec.summary",
                b.map(|b| &b.summary),
                &ours.summary,
                &theirs.summary,
            ),
            features: self.pick(
                "spec.features",
                b.map(|b| &b.features),
                &ours.features,
                &theirs.features,
            ),
            stack: self.pick(
                "spec.stack",
                b.map(|b| &b.stack),
                &ours.stack,
                &theirs.stack,
            ),
            constraints: self.pick(
                "spec.constraints",
                b.map(|b| &b.constraints),
                &ours.constraints,
                &theirs.constraints,
            ),
            edge_cases: self.pick(
                "spec.edge_cases",
                b.map(|b| &b.edge_cases),
                &ours.edge_cases,
                &theirs.edge_cases,
            ),
            other: self.pick(
                "spec.other",
                b.map(|b| &b.other),
                &ours.other,
                &theirs.other,
            ),
        }
    }

    /// Questions by number; answers (with who and when) as one value.
    fn questions(&mut self, base: Option<&Flow>, ours: &Flow, theirs: &Flow, out: &mut Flow) {
        let bq: &[Question] = base.map(|b| b.questions.as_slice()).unwrap_or(&[]);
        let asked = |qs: &[Question]| -> Vec<String> {
            qs.iter().map(|q| q.question.clone()).collect::<Vec<_>>()
        };
        if bq.is_empty()
            && !ours.questions.is_empty()
            && !theirs.questions.is_empty()
            && asked(&ours.questions) != asked(&theirs.questions)
        {
            // Both sides asked their own questions: the later set is kept whole.
            let keep = match self.later {
                Side::Ours => ours,
                Side::Theirs => theirs,
            };
            self.report(
                "questions",
                show(&asked(&ours.questions)),
                show(&asked(&theirs.questions)),
                self.later.as_str(),
                "both sides asked questions: the later set is kept",
            );
            out.questions = keep.questions.clone();
            out.questions_asked = keep.questions_asked.clone();
            return;
        }
        let n = ours.questions.len().max(theirs.questions.len());
        for i in 0..n {
            let b = bq.get(i);
            let q = match (ours.questions.get(i), theirs.questions.get(i)) {
                (Some(o), Some(t)) => {
                    let key = format!("questions[{}]", i + 1);
                    let answer = |q: &Question| {
                        (
                            q.answer.clone(),
                            q.answered_at.clone(),
                            q.answered_by.clone(),
                        )
                    };
                    let (ba, oa, ta) = (b.map(answer), answer(o), answer(t));
                    let chosen = match unchanged_side(ba.as_ref(), &oa, &ta) {
                        Some(side) => take(side, &oa, &ta),
                        None => {
                            // Both answered: the later answer wins.
                            let prefer = if epoch(ta.1.as_deref().unwrap_or(""))
                                > epoch(oa.1.as_deref().unwrap_or(""))
                            {
                                Side::Theirs
                            } else {
                                Side::Ours
                            };
                            self.report(
                                &format!("{key}.answer"),
                                show(&oa.0),
                                show(&ta.0),
                                prefer.as_str(),
                                "the later answer wins",
                            );
                            take(prefer, &oa, &ta)
                        }
                    };
                    Question {
                        extra: self.extra(
                            &format!("{key}."),
                            b.map(|b| &b.extra),
                            &o.extra,
                            &t.extra,
                        ),
                        id: o.id,
                        question: self.pick(
                            &format!("{key}.question"),
                            b.map(|b| &b.question),
                            &o.question,
                            &t.question,
                        ),
                        why: self.pick(&format!("{key}.why"), b.map(|b| &b.why), &o.why, &t.why),
                        choices: self.pick(
                            &format!("{key}.choices"),
                            b.map(|b| &b.choices),
                            &o.choices,
                            &t.choices,
                        ),
                        answer: chosen.0,
                        answered_at: chosen.1,
                        answered_by: chosen.2,
                    }
                }
                (Some(q), None) | (None, Some(q)) => q.clone(),
                (None, None) => unreachable!("i is below the longer list's length"),
            };
            out.questions.push(q);
        }
        out.questions_asked = self.pick(
            "questions_asked",
            base.map(|b| &b.questions_asked),
            &ours.questions_asked,
            &theirs.questions_asked,
        );
    }

    fn plans(
        &mut self,
        base: &[PlanRevision],
        ours: &[PlanRevision],
        theirs: &[PlanRevision],
        who: &str,
        at: &str,
    ) -> Vec<PlanRevision> {
        let common = base.len().min(ours.len()).min(theirs.len());
        let mut out: Vec<PlanRevision> = (0..common)
            .map(|i| self.revision(&base[i], &ours[i], &theirs[i]))
            .collect();
        let (new_o, new_t) = (&ours[common..], &theirs[common..]);
        let base_current: &[Subtask] = common
            .checked_sub(1)
            .map(|i| base[i].subtasks.as_slice())
            .unwrap_or(&[]);
        match (new_o.is_empty(), new_t.is_empty()) {
            (true, true) => {}
            (false, true) | (true, false) => {
                // One side revised the plan; the other may have moved statuses in the revision
                // that was current: carry those into the new current revision.
                let (new, side, other) = if new_t.is_empty() {
                    (new_o, Side::Ours, theirs)
                } else {
                    (new_t, Side::Theirs, ours)
                };
                out.extend(new.iter().cloned());
                if let Some(other_current) = common.checked_sub(1).map(|i| &other[i]) {
                    let last = out.last_mut().expect("one revision was added");
                    let key = format!("plans[{}]", last.revision);
                    let (revised, other) = (last.subtasks.clone(), &other_current.subtasks);
                    let (o, t) = match side {
                        Side::Ours => (&revised, other),
                        Side::Theirs => (other, &revised),
                    };
                    last.subtasks = self.subtasks(&key, base_current, o, t, side);
                }
            }
            (false, false) => {
                let o_last = new_o.last().expect("not empty");
                let t_last = new_t.last().expect("not empty");
                let later = if epoch(&t_last.created_at) > epoch(&o_last.created_at) {
                    Side::Theirs
                } else {
                    Side::Ours
                };
                let (early, late) = match later {
                    Side::Ours => (new_t, new_o),
                    Side::Theirs => (new_o, new_t),
                };
                let late_last = late.last().expect("not empty").clone();
                out.extend(early.iter().cloned());
                out.extend(late.iter().cloned());
                if common == 0 {
                    self.report(
                        "plans",
                        format!("{} revision(s)", new_o.len()),
                        format!("{} revision(s)", new_t.len()),
                        later.as_str(),
                        "both sides planned from scratch: the later plan is current, the other \
                         is kept in the plan's history",
                    );
                } else {
                    let key = format!("plans[{}]", out.len() + 1);
                    let merged = self.subtasks(
                        &key,
                        base_current,
                        &o_last.subtasks,
                        &t_last.subtasks,
                        later,
                    );
                    let decided =
                        |l: &[Subtask]| l.iter().map(Subtask::decided).collect::<Vec<_>>();
                    if decided(&merged) != decided(&late_last.subtasks) {
                        out.push(PlanRevision::by_hand(
                            super::vocab::RevisionSource::Merge,
                            who,
                            at,
                            merged,
                        ));
                    } else {
                        // The same decisions: the later revision stays current, with the
                        // progress both sides made.
                        out.last_mut().expect("not empty").subtasks = merged;
                    }
                }
            }
        }
        for (i, r) in out.iter_mut().enumerate() {
            r.revision = i as u32 + 1;
        }
        out
    }

    /// Progress kept for subtasks outside the current plan, by subtask: a status moves forward.
    fn progress(
        &mut self,
        base: &[Progress],
        ours: &[Progress],
        theirs: &[Progress],
    ) -> Vec<Progress> {
        let mut out: Vec<Progress> = Vec::new();
        for p in ours.iter().chain(theirs) {
            if out.iter().any(|o| o.subtask == p.subtask) {
                continue;
            }
            let find = |l: &[Progress]| l.iter().find(|x| x.subtask == p.subtask).cloned();
            let merged = match (find(ours), find(theirs)) {
                (Some(o), Some(t)) if o != t => {
                    let b = find(base);
                    let key = format!("progress[{}]", p.subtask);
                    Progress {
                        status: self.forward(
                            &format!("{key}.status"),
                            b.as_ref().map(|b| b.status),
                            o.status,
                            t.status,
                            status_rank,
                        ),
                        branch: self.pick(
                            &format!("{key}.branch"),
                            b.as_ref().map(|b| &b.branch),
                            &o.branch,
                            &t.branch,
                        ),
                        extra: self.extra(
                            &format!("{key}."),
                            b.as_ref().map(|b| &b.extra),
                            &o.extra,
                            &t.extra,
                        ),
                        ..o
                    }
                }
                (Some(x), _) | (None, Some(x)) => x,
                (None, None) => unreachable!("found on one side"),
            };
            out.push(merged);
        }
        out
    }

    /// A revision both sides have: its metadata three-way, its subtasks by id.
    fn revision(&mut self, b: &PlanRevision, o: &PlanRevision, t: &PlanRevision) -> PlanRevision {
        if o == t {
            return o.clone();
        }
        let key = format!("plans[{}]", o.revision);
        let subtasks = self.subtasks(&key, &b.subtasks, &o.subtasks, &t.subtasks, self.later);
        let meta = |r: &PlanRevision| PlanRevision {
            subtasks: Vec::new(),
            ..r.clone()
        };
        let mut merged = self.pick(&key, Some(&meta(b)), &meta(o), &meta(t));
        merged.subtasks = subtasks;
        merged
    }

    /// Subtasks by id; the order is the preferred side's, with the other side's additions placed
    /// after the subtask they follow there.
    fn subtasks(
        &mut self,
        key: &str,
        base: &[Subtask],
        ours: &[Subtask],
        theirs: &[Subtask],
        prefer: Side,
    ) -> Vec<Subtask> {
        let index = |l: &[Subtask]| -> BTreeMap<String, Subtask> {
            l.iter().map(|s| (s.id.clone(), s.clone())).collect()
        };
        let (bi, oi, ti) = (index(base), index(ours), index(theirs));
        let (first, second) = match prefer {
            Side::Ours => (ours, theirs),
            Side::Theirs => (theirs, ours),
        };
        // Order: the preferred side's, then the other's extras after their predecessor.
        let mut order: Vec<String> = first.iter().map(|s| s.id.clone()).collect();
        let mut prev: Option<String> = None;
        for s in second {
            if !order.contains(&s.id) {
                let at = match &prev {
                    Some(p) => order
                        .iter()
                        .position(|x| x == p)
                        .map_or(order.len(), |i| i + 1),
                    None => 0,
                };
                order.insert(at, s.id.clone());
            }
            prev = Some(s.id.clone());
        }
        let mut out = Vec::new();
        for id in order {
            let skey = format!("{key}.subtasks[{id}]");
            let (b, o, t) = (bi.get(&id), oi.get(&id), ti.get(&id));
            let merged = match (o, t) {
                (Some(o), Some(t)) => Some(self.subtask(&skey, b, o, t, prefer)),
                (Some(s), None) | (None, Some(s)) => match b {
                    None => Some(s.clone()),   // added on one side
                    Some(b) if b == s => None, // removed on the other, untouched here
                    Some(_) => {
                        let side = if o.is_some() {
                            Side::Ours
                        } else {
                            Side::Theirs
                        };
                        let (ov, tv) = match side {
                            Side::Ours => (show(&s.title), "removed".to_owned()),
                            Side::Theirs => ("removed".to_owned(), show(&s.title)),
                        };
                        self.report(
                            &skey,
                            ov,
                            tv,
                            side.as_str(),
                            "removed on one side and changed on the other: kept",
                        );
                        Some(s.clone())
                    }
                },
                (None, None) => None,
            };
            out.extend(merged);
        }
        // Dependencies on subtasks the merge removed are dropped, and reported.
        let ids: BTreeSet<String> = out.iter().map(|s| s.id.clone()).collect();
        for s in &mut out {
            let before = s.depends_on.clone();
            s.depends_on.retain(|d| ids.contains(d));
            if s.depends_on != before {
                self.conflicts.push(Conflict {
                    field: format!("{key}.subtasks[{}].depends_on", s.id),
                    ours: show(&before),
                    theirs: "removed".into(),
                    kept: "both".into(),
                    rule: "a dependency on a removed subtask is dropped".into(),
                });
            }
        }
        if super::validate_subtasks(key, &out).is_err() {
            // A cycle only the combination creates: the preferred side's list is kept whole.
            self.report(
                key,
                show(&ours.iter().map(|s| &s.id).collect::<Vec<_>>()),
                show(&theirs.iter().map(|s| &s.id).collect::<Vec<_>>()),
                prefer.as_str(),
                "the combined dependencies are invalid: the later side's subtasks are kept",
            );
            return first.to_vec();
        }
        out
    }

    fn subtask(
        &mut self,
        key: &str,
        b: Option<&Subtask>,
        o: &Subtask,
        t: &Subtask,
        prefer: Side,
    ) -> Subtask {
        if o == t {
            return o.clone();
        }
        Subtask {
            extra: self.extra(&format!("{key}."), b.map(|b| &b.extra), &o.extra, &t.extra),
            id: o.id.clone(),
            title: self.pick_by(
                &format!("{key}.title"),
                b.map(|b| &b.title),
                &o.title,
                &t.title,
                prefer,
            ),
            description: self.pick_by(
                &format!("{key}.description"),
                b.map(|b| &b.description),
                &o.description,
                &t.description,
                prefer,
            ),
            files: self.pick_by(
                &format!("{key}.files"),
                b.map(|b| &b.files),
                &o.files,
                &t.files,
                prefer,
            ),
            phase: self.pick_by(
                &format!("{key}.phase"),
                b.map(|b| &b.phase),
                &o.phase,
                &t.phase,
                prefer,
            ),
            depends_on: self.pick_by(
                &format!("{key}.depends_on"),
                b.map(|b| &b.depends_on),
                &o.depends_on,
                &t.depends_on,
                prefer,
            ),
            status: self.forward(
                &format!("{key}.status"),
                b.map(|b| b.status),
                o.status,
                t.status,
                status_rank,
            ),
            branch: self.pick_by(
                &format!("{key}.branch"),
                b.map(|b| &b.branch),
                &o.branch,
                &t.branch,
                prefer,
            ),
            test: self.pick_by(
                &format!("{key}.test"),
                b.map(|b| &b.test),
                &o.test,
                &t.test,
                prefer,
            ),
        }
    }
}

/// How far along a subtask is; merged work outranks a drop, since its commits are in the branch.
fn status_rank(s: SubtaskStatus) -> u8 {
    match s {
        SubtaskStatus::Planned => 0,
        SubtaskStatus::Active => 1,
        SubtaskStatus::InReview => 2,
        SubtaskStatus::Approved => 3,
        SubtaskStatus::Dropped => 4,
        SubtaskStatus::Merged => 5,
    }
}

/// Both sides' reviews, each once, ordered by time (ours first on a tie).
fn union_reviews(ours: &[Review], theirs: &[Review]) -> Vec<Review> {
    union_by_time(ours, theirs, |r| &r.at)
}

/// Both sides' records, each once, ordered by time (a stable sort: ours first at equal times).
fn union_by_time<T: Clone + PartialEq>(
    ours: &[T],
    theirs: &[T],
    at: impl Fn(&T) -> &str,
) -> Vec<T> {
    let mut out: Vec<T> = ours.to_vec();
    for r in theirs {
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    out.sort_by_key(|r| epoch(at(r)));
    out
}

/// Merge two step notes (or any of our other single-table documents) key by key; a key both sides
/// set differently keeps ours, reported. `None` when a side is not one TOML table.
pub fn merge_tables(
    base: Option<&str>,
    ours: &str,
    theirs: &str,
) -> Option<(String, Vec<Conflict>)> {
    let parse = |s: &str| s.parse::<toml::Table>().ok();
    let (o, t) = (parse(ours)?, parse(theirs)?);
    let b = base.and_then(parse);
    let mut m = Merger {
        later: Side::Ours,
        conflicts: Vec::new(),
    };
    let mut out = toml::Table::new();
    let keys: BTreeSet<&String> = o.keys().chain(t.keys()).collect();
    for k in keys {
        let bv = b.as_ref().and_then(|b| b.get(k));
        let v = match (o.get(k), t.get(k)) {
            (Some(ov), Some(tv)) => Some(m.pick(k, bv, ov, tv)),
            (Some(v), None) | (None, Some(v)) => {
                // Added on one side, or removed on one side: removal wins only if untouched.
                if bv.is_some_and(|bv| bv == v) {
                    None
                } else {
                    Some(v.clone())
                }
            }
            (None, None) => None,
        };
        if let Some(v) = v {
            out.insert(k.clone(), v);
        }
    }
    // A step note is written back in its own key order (`schema` first), so that it stays
    // readable after git concatenates it with another.
    let text = match toml::Value::Table(out.clone()).try_into::<super::StepNote>() {
        Ok(step) => step.to_toml(),
        Err(_) => toml::to_string_pretty(&out).ok()?,
    };
    Some((text, m.conflicts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{DocKind, FlowStatus, Phase, Spec};

    fn flow() -> Flow {
        Flow {
            extra: Default::default(),
            schema: crate::flow::FLOW_SCHEMA,
            kind: DocKind::Flow,
            slug: "rate-limit".into(),
            title: "Rate limit".into(),
            status: FlowStatus::Planned,
            base_ref: Some("refs/heads/main".into()),
            base_commit: "a".repeat(40),
            integration_branch: "aiflow/rate-limit".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            created_by: "Ada <ada@example.com>".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
            updated_by: "Ada <ada@example.com>".into(),
            questions_skipped: false,
            spec: Spec {
                extra: Default::default(),
                summary: "Limit requests.".into(),
                features: vec!["a".into()],
                stack: vec![],
                constraints: vec![],
                edge_cases: vec![],
                other: vec![],
            },
            questions: vec![],
            questions_asked: None,
            plans: vec![rev(1, "2026-01-01T00:00:00Z", &["aaaaaa", "bbbbbb"])],
            progress: Vec::new(),
            reviews: vec![],
            refused_approvals: vec![],
            audits: vec![],
            finished: None,
        }
    }

    fn sub(id: &str) -> Subtask {
        Subtask {
            extra: Default::default(),
            id: id.into(),
            title: format!("Do {id}"),
            description: String::new(),
            files: vec![],
            phase: Phase::Core,
            depends_on: vec![],
            status: SubtaskStatus::Planned,
            branch: None,
            test: None,
        }
    }

    fn rev(n: u32, at: &str, ids: &[&str]) -> PlanRevision {
        let subtasks = ids.iter().map(|i| sub(i)).collect();
        PlanRevision {
            revision: n,
            ..PlanRevision::by_hand(
                crate::flow::vocab::RevisionSource::Edit,
                "Ada <ada@example.com>",
                at,
                subtasks,
            )
        }
    }

    fn at(minute: u32) -> String {
        format!("2026-01-01T00:{minute:02}:00Z")
    }

    #[test]
    fn one_sided_changes_take_that_side_without_conflicts() {
        let base = flow();
        let mut ours = base.clone();
        ours.title = "Rate limiting".into();
        ours.updated_at = at(1);
        let mut theirs = base.clone();
        theirs.spec.summary = "Limit every request.".into();
        theirs.updated_at = at(2);
        let m = merge_flows(Some(&base), &ours, &theirs, "Me <me@x>", &at(3));
        assert_eq!(m.flow.title, "Rate limiting");
        assert_eq!(m.flow.spec.summary, "Limit every request.");
        assert_eq!(m.flow.updated_at, at(2));
        assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
    }

    /// Keys written by a newer version merge like the others: each side's own additions stay,
    /// a removal on one side wins over no change, the same key changed on both sides keeps
    /// the later change and says so.
    #[test]
    fn unknown_keys_merge_key_by_key() {
        let v = |s: &str| toml::Value::String(s.into());
        let mut base = flow();
        base.extra.insert("gone".into(), v("x"));
        base.extra.insert("both".into(), v("base"));
        let mut ours = base.clone();
        ours.extra.insert("mine".into(), v("ours"));
        ours.extra.remove("gone");
        ours.extra.insert("both".into(), v("ours"));
        ours.updated_at = at(1);
        let mut theirs = base.clone();
        theirs.spec.extra.insert("risk".into(), v("theirs"));
        theirs.extra.insert("both".into(), v("theirs"));
        theirs.updated_at = at(2);
        let m = merge_flows(Some(&base), &ours, &theirs, "Me <me@x>", &at(3));
        assert_eq!(m.flow.extra.get("mine"), Some(&v("ours")));
        assert_eq!(m.flow.extra.get("gone"), None);
        assert_eq!(m.flow.extra.get("both"), Some(&v("theirs")));
        assert_eq!(m.flow.spec.extra.get("risk"), Some(&v("theirs")));
        assert_eq!(m.conflicts.len(), 1, "{:?}", m.conflicts);
        assert_eq!(m.conflicts[0].field, "both");
    }

    #[test]
    fn both_sides_adding_subtasks_keeps_both_and_history() {
        let base = flow();
        let mut ours = base.clone();
        let mut r = rev(2, &at(1), &["aaaaaa", "bbbbbb", "cccccc"]);
        r.subtasks[0].title = "Ours renamed".into();
        ours.plans.push(r);
        ours.updated_at = at(1);
        let mut theirs = base.clone();
        theirs
            .plans
            .push(rev(2, &at(2), &["aaaaaa", "dddddd", "bbbbbb"]));
        theirs.updated_at = at(2);
        let m = merge_flows(Some(&base), &ours, &theirs, "Me <me@x>", &at(3));
        let ids: Vec<_> = m.flow.plans.iter().map(|p| p.revision).collect();
        assert_eq!(ids, [1, 2, 3, 4]);
        let cur = m.flow.current_plan().unwrap();
        assert_eq!(cur.source, "merge");
        let cur_ids: Vec<_> = cur.subtasks.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(cur_ids, ["aaaaaa", "dddddd", "bbbbbb", "cccccc"]);
        assert_eq!(cur.subtasks[0].title, "Ours renamed");
        assert!(m.flow.validate().is_ok(), "{:?}", m.flow.validate());
    }

    #[test]
    fn the_same_field_changed_twice_keeps_the_later_and_reports_both() {
        let base = flow();
        let mut ours = base.clone();
        ours.title = "Ours".into();
        ours.updated_at = at(5);
        let mut theirs = base.clone();
        theirs.title = "Theirs".into();
        theirs.updated_at = at(4);
        let m = merge_flows(Some(&base), &ours, &theirs, "Me <me@x>", &at(6));
        assert_eq!(m.flow.title, "Ours");
        assert_eq!(m.conflicts.len(), 1);
        assert_eq!(m.conflicts[0].field, "title");
        assert_eq!(m.conflicts[0].theirs, "\"Theirs\"");
        assert_eq!(m.conflicts[0].kept, "ours");
    }

    #[test]
    fn statuses_move_forward_and_reviews_are_a_union_in_time_order() {
        let base = flow();
        let mut ours = base.clone();
        ours.plans[0].subtasks[0].status = SubtaskStatus::Approved;
        ours.reviews.push(Review {
            subtask: "aaaaaa".into(),
            verdict: crate::flow::vocab::Verdict::Approved,
            reviewer: "G <g@x>".into(),
            at: at(3),
            comment: None,
            commits: vec![],
            ..Review::default()
        });
        ours.updated_at = at(3);
        let mut theirs = base.clone();
        theirs.plans[0].subtasks[0].status = SubtaskStatus::Active;
        theirs.reviews.push(Review {
            subtask: "aaaaaa".into(),
            verdict: crate::flow::vocab::Verdict::ChangesRequested,
            reviewer: "H <h@x>".into(),
            at: at(2),
            comment: Some("no".into()),
            commits: vec![],
            ..Review::default()
        });
        theirs.updated_at = at(4);
        let m = merge_flows(Some(&base), &ours, &theirs, "Me <me@x>", &at(6));
        assert_eq!(m.flow.plans[0].subtasks[0].status, SubtaskStatus::Approved);
        let verdicts: Vec<_> = m.flow.reviews.iter().map(|r| r.verdict.as_str()).collect();
        assert_eq!(verdicts, ["changes-requested", "approved"]);
    }

    #[test]
    fn one_side_revising_the_plan_keeps_the_others_status_moves() {
        let base = flow();
        let mut ours = base.clone();
        ours.plans[0].subtasks[1].status = SubtaskStatus::Active;
        ours.plans[0].subtasks[1].branch = Some("aiflow/rate-limit--bbbbbb-do".into());
        let mut theirs = base.clone();
        theirs
            .plans
            .push(rev(2, &at(2), &["bbbbbb", "aaaaaa", "eeeeee"]));
        theirs.updated_at = at(2);
        let m = merge_flows(Some(&base), &ours, &theirs, "Me <me@x>", &at(6));
        let cur = m.flow.current_plan().unwrap();
        assert_eq!(cur.revision, 2);
        assert_eq!(cur.subtasks[0].id, "bbbbbb");
        assert_eq!(cur.subtasks[0].status, SubtaskStatus::Active);
        assert!(cur.subtasks[0].branch.is_some());
        assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
    }

    /// Both sides made a revision with the same decisions; one side also started a subtask.
    /// No `merge` revision is recorded (progress is not a decision), the later revision stays
    /// current with the progress, and the document's revisions are written as decided.
    #[test]
    fn progress_alone_never_makes_a_merge_revision() {
        let base = flow();
        let mut ours = base.clone();
        ours.plans.push(rev(2, &at(2), &["bbbbbb", "aaaaaa"]));
        ours.plans[1].subtasks[0].status = SubtaskStatus::Active;
        ours.plans[1].subtasks[0].branch = Some("aiflow/rate-limit--bbbbbb-do".into());
        ours.updated_at = at(4);
        let mut theirs = base.clone();
        theirs.plans.push(rev(2, &at(3), &["bbbbbb", "aaaaaa"]));
        theirs.updated_at = at(3);
        let m = merge_flows(Some(&base), &ours, &theirs, "Me <me@x>", &at(6));
        let revs: Vec<_> = m.flow.plans.iter().map(|p| p.source.clone()).collect();
        assert!(
            !revs.contains(&crate::flow::vocab::RevisionSource::Merge),
            "{revs:?}"
        );
        let cur = m.flow.current_plan().unwrap();
        assert_eq!(cur.created_at, at(3), "the later revision is current");
        assert_eq!(cur.subtasks[0].status, SubtaskStatus::Active);
        let text = m.flow.to_toml();
        let doc: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(doc["progress"].as_array().map(Vec::len), Some(1), "{text}");
        for p in doc["plans"].as_array().unwrap() {
            for s in p["subtasks"].as_array().unwrap() {
                assert!(
                    s.get("status").is_none() && s.get("branch").is_none(),
                    "{text}"
                );
            }
        }
    }

    /// Progress kept for subtasks outside the current plan merges by subtask, forward.
    #[test]
    fn progress_outside_the_plan_moves_forward() {
        let base = flow();
        let entry = |status| Progress {
            subtask: "gone01".into(),
            status,
            branch: Some("aiflow/rate-limit--gone01-x".into()),
            extra: Default::default(),
        };
        let (mut ours, mut theirs) = (base.clone(), base.clone());
        ours.progress = vec![entry(SubtaskStatus::Approved)];
        theirs.progress = vec![entry(SubtaskStatus::Merged)];
        let m = merge_flows(Some(&base), &ours, &theirs, "Me <me@x>", &at(6));
        assert_eq!(m.flow.progress, vec![entry(SubtaskStatus::Merged)]);
        assert_eq!(m.conflicts.len(), 1, "{:?}", m.conflicts);
    }

    fn question(id: u32, text: &str) -> Question {
        Question {
            extra: Default::default(),
            id,
            question: text.into(),
            why: None,
            choices: vec![],
            answer: None,
            answered_at: None,
            answered_by: None,
        }
    }

    #[test]
    fn answers_on_one_side_and_a_plan_edit_on_the_other_both_stay() {
        let mut base = flow();
        base.questions = vec![question(1, "Which store?"), question(2, "Which limit?")];
        let mut ours = base.clone();
        ours.questions[1].answer = Some("100/min".into());
        ours.questions[1].answered_at = Some(at(1));
        ours.questions[1].answered_by = Some("Ada <ada@example.com>".into());
        ours.updated_at = at(1);
        let mut theirs = base.clone();
        theirs.plans.push(rev(2, &at(2), &["aaaaaa"]));
        theirs.updated_at = at(2);
        let m = merge_flows(Some(&base), &ours, &theirs, "Me <me@x>", &at(3));
        assert_eq!(m.flow.questions[1].answer.as_deref(), Some("100/min"));
        assert_eq!(m.flow.plans.len(), 2);
        assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
    }

    #[test]
    fn two_answers_to_one_question_keep_the_later_and_report_both() {
        let mut base = flow();
        base.questions = vec![question(1, "Which store?")];
        let answered = |text: &str, minute| {
            let mut f = base.clone();
            f.questions[0].answer = Some(text.into());
            f.questions[0].answered_at = Some(at(minute));
            f.updated_at = at(minute);
            f
        };
        let (ours, theirs) = (answered("Redis", 2), answered("Postgres", 1));
        let m = merge_flows(Some(&base), &ours, &theirs, "Me <me@x>", &at(3));
        assert_eq!(m.flow.questions[0].answer.as_deref(), Some("Redis"));
        assert_eq!(m.conflicts.len(), 1);
        assert_eq!(m.conflicts[0].field, "questions[1].answer");
        assert!(m.conflicts[0].theirs.contains("Postgres"));
    }

    #[test]
    fn plans_made_from_scratch_on_both_sides_keep_the_later_current_and_both_in_history() {
        let mut base = flow();
        base.plans.clear();
        let mut ours = base.clone();
        ours.plans.push(rev(1, &at(1), &["oooooo"]));
        let mut theirs = base.clone();
        theirs.plans.push(rev(1, &at(2), &["tttttt"]));
        let m = merge_flows(Some(&base), &ours, &theirs, "Me <me@x>", &at(3));
        let ids: Vec<_> = m
            .flow
            .plans
            .iter()
            .map(|p| p.subtasks[0].id.as_str())
            .collect();
        assert_eq!(ids, ["oooooo", "tttttt"]);
        assert_eq!(m.flow.plans[1].revision, 2);
        assert_eq!(m.conflicts[0].field, "plans");
    }

    #[test]
    fn a_subtask_removed_on_one_side_and_changed_on_the_other_is_kept() {
        let base = flow();
        let mut ours = base.clone();
        ours.plans.push(rev(2, &at(1), &["aaaaaa"]));
        ours.updated_at = at(1);
        let mut theirs = base.clone();
        theirs.plans[0].subtasks[1].status = SubtaskStatus::Active;
        theirs.updated_at = at(2);
        let m = merge_flows(Some(&base), &ours, &theirs, "Me <me@x>", &at(3));
        let cur: Vec<_> = m
            .flow
            .current_plan()
            .unwrap()
            .subtasks
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(cur, ["aaaaaa", "bbbbbb"]);
        assert_eq!(m.conflicts.len(), 1, "{:?}", m.conflicts);
    }

    #[test]
    fn times_with_offsets_compare_by_instant() {
        assert!(epoch("2026-01-01T01:00:00+02:00") < epoch("2026-01-01T00:00:00Z"));
        assert_eq!(epoch("2026-01-01T00:00:00Z"), Some(1_767_225_600));
        assert_eq!(epoch("yesterday"), None);
    }

    #[test]
    fn step_notes_merge_key_by_key() {
        let base = "schema = 1\nkind = \"step\"\nflow = \"f\"\nsubtask = \"aaaaaa\"\nstep = 1\n\
                    by = \"agent\"\nat = \"2026-01-01T00:00:00Z\"\nrecorded_by = \"A <a@x>\"\n";
        let ours = format!("{base}duration_ms = 5\n");
        let theirs = format!("{base}exit_code = 0\n");
        let (text, conflicts) = merge_tables(Some(base), &ours, &theirs).unwrap();
        assert!(conflicts.is_empty());
        assert!(
            text.contains("duration_ms = 5") && text.contains("exit_code = 0"),
            "{text}"
        );
        assert!(text.starts_with("schema = 1"));
    }
}
