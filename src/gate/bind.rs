//! Binding reviews to content: a review trailer counts only when a recorded approval covers the
//! commit, by its id or by its content id ([`crate::git::content`]): a pure re-parent keeps its
//! review, any change of content does not.
//!
//! Commits of a flow (`Aiflow-Flow` and `Aiflow-Subtask` trailers) are bound to the reviews of
//! their subtask in the flow's note; commits outside any flow, where the policy does not accept a
//! typed trailer alone, to the review note on the commit itself (`approve --range`). Where reviews
//! must be signed, the approval must also carry a signature by an allowed signer other than the
//! commit's author ([`super::sshsig`]).
//!
//! Every way of not knowing fails closed: a missing notes ref, a note that cannot be read, a flow
//! or subtask that does not exist. The notes are read once, and only when the range holds
//! reviewed commits; content ids are computed only for commits whose id is not recorded, which
//! after `approve` and `integrate` is none of them.

use super::policy::parse_ident;
use super::{BindItem, BindKind, Binder, Bound, CheckError, Policy, Reason, Reviews, Signed};
use crate::flow::review::{Review, Subject};
use crate::flow::{Approvals, EMPTY_PATCH, Flow, ReviewNote, Standing};
use crate::gate::sshsig::Verified;
use crate::store::{FlowSet, LookupError, NOTES_REF, Snapshot};
use gix::ObjectId;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A [`Binder`] reading `refs/notes/aiflow` with gix.
pub struct NotesBinder<'r> {
    repo: &'r gix::Repository,
    /// Where git runs (legacy patch ids).
    dir: PathBuf,
    /// The notes commit to judge by, when not the notes ref as it is (a push that brings notes).
    notes: Option<Option<ObjectId>>,
    /// The notes read, once.
    snap: Option<Snapshot>,
}

impl<'r> NotesBinder<'r> {
    /// A binder for `repo`, reading its notes ref.
    pub fn for_repo(repo: &'r gix::Repository) -> Self {
        NotesBinder {
            repo,
            dir: crate::git::run_dir(repo),
            notes: None,
            snap: None,
        }
    }

    /// Judge by the notes commit `tip` (`None`: no notes at all) instead of the notes ref.
    pub fn at_notes(mut self, tip: Option<ObjectId>) -> Self {
        self.notes = Some(tip);
        self
    }
}

/// Where a commit's approvals come from.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Subtask { flow: String, subtask: String },
    Note(ObjectId),
}

/// The approvals of one source, with the records they index.
struct Records {
    reviews: Vec<Review>,
    approvals: Approvals,
}

impl NotesBinder<'_> {
    /// The notes to judge by, read once.
    fn snapshot(&mut self) -> Result<&Snapshot, crate::store::StoreError> {
        if self.snap.is_none() {
            self.snap = Some(match self.notes {
                Some(tip) => Snapshot::at(self.repo, tip)?,
                None => Snapshot::load(self.repo)?,
            });
        }
        Ok(self.snap.as_ref().expect("read above"))
    }
}

impl Binder for NotesBinder<'_> {
    fn test_run(&mut self, commit: ObjectId) -> Result<Option<crate::flow::TestRun>, Reason> {
        let unreadable = |what: String| Reason::Unverifiable {
            what,
            hint: format!(
                "repair the note (`git notes --ref=aiflow edit {commit}`), or run the test again (`git aiflow test`)"
            ),
        };
        let repo = self.repo;
        let snap = self
            .snapshot()
            .map_err(|e| unreadable(format!("the notes in {NOTES_REF} cannot be read ({e})")))?;
        let Some(bytes) = snap
            .note_bytes(repo, &commit)
            .map_err(|e| unreadable(format!("the note on {commit} cannot be read ({e})")))?
        else {
            return Ok(None);
        };
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| unreadable(format!("the note on {commit} is not UTF-8")))?;
        Ok(crate::flow::recorded_test(text).map(|(_, run)| run))
    }

    fn bind(&mut self, items: &[BindItem], policy: &Policy) -> Result<Bound, CheckError> {
        let err = |e: Box<dyn std::error::Error + Send + Sync>| CheckError::Records(e);
        let repo = self.repo;
        self.snapshot().map_err(|e| err(Box::new(e)))?;
        // Taken for the call and put back at its end (kept for `test_run`).
        let snap = self.snap.take().expect("read above");
        let wants_flows = items
            .iter()
            .any(|i| matches!(i.kind, BindKind::Subtask { .. }));
        let set = if wants_flows && snap.tip.is_some() {
            snap.flows(repo).map_err(|e| err(Box::new(e)))?
        } else {
            FlowSet::default()
        };

        let mut bound = Bound {
            verdicts: vec![None; items.len()],
            ..Bound::default()
        };
        // Where each item's approvals are, or why there are none to look at.
        let mut sources: BTreeMap<Source, Records> = BTreeMap::new();
        let mut item_source: Vec<Option<Source>> = vec![None; items.len()];
        // Once per subtask (and per commit outside flows), however many commits it has.
        let mut failed: BTreeMap<Source, Reason> = BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            let key = match &item.kind {
                BindKind::Subtask { flow, subtask } => Source::Subtask {
                    flow: flow.clone(),
                    subtask: subtask.clone(),
                },
                BindKind::Outside => Source::Note(item.id),
            };
            if sources.contains_key(&key) {
                item_source[i] = Some(key);
                continue;
            }
            if let Some(reason) = failed.get(&key) {
                bound.verdicts[i] = Some(reason.clone());
                continue;
            }
            match self.source(&snap, &set, item, policy) {
                Ok((source, records)) => {
                    sources.insert(source.clone(), records);
                    item_source[i] = Some(source);
                }
                Err(reason) => {
                    failed.insert(key, reason.clone());
                    bound.verdicts[i] = Some(reason);
                }
            }
        }

        // By id first; content ids (and legacy patch ids) only for what is left.
        let mut standing: Vec<Standing> = vec![Standing::Unrecorded; items.len()];
        let mut need_content = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Some(src) = &item_source[i] else { continue };
            standing[i] = sources[src].approvals.by_id(&item.id.to_string());
            if !standing[i].is_approved() {
                need_content.push(i);
            }
        }
        let mut legacy = Vec::new();
        for &i in &need_content {
            let src = item_source[i].as_ref().expect("has a source");
            let content =
                crate::git::content::content_id(repo, items[i].id).map_err(|e| err(Box::new(e)))?;
            let a = &sources[src].approvals;
            standing[i] = a.standing(&items[i].id.to_string(), Some(&content), None);
            if !standing[i].is_approved() && a.has_patch_ids() {
                legacy.push((i, content));
            }
        }
        // Approvals recorded by 0.1.0 name patch ids: they count where the policy says so, and
        // where it does not, the user learns that one would have covered the commit.
        if !legacy.is_empty() {
            let ids: Vec<ObjectId> = legacy.iter().map(|(i, _)| items[*i].id).collect();
            let patch_ids =
                crate::git::cli::patch_ids(&self.dir, &ids).map_err(|e| err(Box::new(e)))?;
            for (i, content) in legacy {
                let src = item_source[i].as_ref().expect("has a source");
                let pid = patch_ids
                    .get(&items[i].id)
                    .map_or(EMPTY_PATCH, String::as_str);
                let by_patch_id = sources[src].approvals.standing(
                    &items[i].id.to_string(),
                    Some(&content),
                    Some(pid),
                );
                if policy.legacy_patch_ids {
                    standing[i] = by_patch_id;
                } else if by_patch_id.is_approved() {
                    bound.notices.push(format!(
                        "{} would be covered by an approval recorded by git-aiflow 0.1.0, which binds by patch id (blind to whitespace); to accept such approvals set `legacy-patch-ids = true` under [gate] in the policy (or `git config aiflow.legacyPatchIds true`), or approve it again",
                        &items[i].id.to_string()[..12]
                    ));
                }
            }
        }

        // Whether each approval stands as the policy asks: signed by an allowed signer.
        let mut verified: BTreeMap<(Source, usize), Result<Option<Verified>, Reason>> =
            BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            let Some(src) = &item_source[i] else { continue };
            let records = match &standing[i] {
                Standing::Approved(records) => records.clone(),
                Standing::Revoked => {
                    bound.verdicts[i] = Some(match src {
                        Source::Subtask { flow, subtask } => Reason::Revoked {
                            flow: flow.clone(),
                            subtask: subtask.clone(),
                        },
                        Source::Note(_) => Reason::Unbound(
                            "its approval was revoked by a later request for changes in its review note".into(),
                        ),
                    });
                    continue;
                }
                Standing::Unrecorded => {
                    bound.verdicts[i] = Some(not_recorded(src));
                    continue;
                }
            };
            let mut best: Option<Reason> = None;
            let mut passed = None;
            for r in records {
                let key = (src.clone(), r);
                let result = verified.entry(key).or_insert_with(|| {
                    let subject = match src {
                        Source::Subtask { flow, subtask } => Subject::Subtask { flow, subtask },
                        Source::Note(_) => Subject::Range,
                    };
                    verify_record(&sources[src].reviews[r], subject, policy)
                });
                match result
                    .as_ref()
                    .map_err(Clone::clone)
                    .and_then(|v| accept(v.as_ref(), item, policy))
                {
                    Ok(v) => {
                        passed = Some(v.map(|v| Signed {
                            commit: item.id,
                            principal: v.principal.clone(),
                            fingerprint: v.fingerprint.clone(),
                            algorithm: v.algorithm.clone(),
                            at: sources[src].reviews[r].at.clone(),
                        }));
                        break;
                    }
                    Err(reason) => {
                        if best.as_ref().is_none_or(|b| rank(&reason) > rank(b)) {
                            best = Some(reason);
                        }
                    }
                }
            }
            match passed {
                Some(Some(signed)) => bound.signed.push(signed),
                Some(None) => {}
                None => bound.verdicts[i] = best,
            }
        }
        self.snap = Some(snap);
        Ok(bound)
    }
}

/// How bad a refusal is, to report the worst of several records.
fn rank(r: &Reason) -> u8 {
    match r {
        Reason::BadSignature(_) => 5,
        Reason::UnknownSigner(_) => 4,
        Reason::SelfReview(_) => 3,
        Reason::NotAllowed(_) => 2,
        _ => 1,
    }
}

/// Why an unrecorded commit fails.
fn not_recorded(src: &Source) -> Reason {
    match src {
        Source::Subtask { flow, subtask } => Reason::NotRecorded {
            subject: format!("subtask {subtask} of flow {flow}"),
            fix: format!("git aiflow approve {subtask}"),
        },
        Source::Note(id) => Reason::NotRecorded {
            subject: "this commit".into(),
            fix: format!(
                "git aiflow approve --range {}^..{}",
                id.to_hex_with_len(12),
                id.to_hex_with_len(12)
            ),
        },
    }
}

impl NotesBinder<'_> {
    /// Where `item`'s approvals are recorded, with them; or why the gate cannot look.
    fn source(
        &self,
        snap: &Snapshot,
        set: &FlowSet,
        item: &BindItem,
        policy: &Policy,
    ) -> Result<(Source, Records), Reason> {
        let repo = self.repo;
        match &item.kind {
            BindKind::Subtask { flow, subtask } => {
                if snap.tip.is_none() {
                    return Err(Reason::Unverifiable {
                        what: format!(
                            "{NOTES_REF}, where flow {flow} records its reviews, is not in this repository"
                        ),
                        hint: format!(
                            "fetch it (`git fetch <remote> {NOTES_REF}:{NOTES_REF}`, or `git aiflow sync`)"
                        ),
                    });
                }
                let entry = match set.find(flow) {
                    Ok(e) => e,
                    Err(LookupError::Broken { problem, source }) => {
                        return Err(Reason::Unverifiable {
                            what: format!("{} cannot be read ({source})", problem.subject()),
                            hint: problem.hint(),
                        });
                    }
                    Err(LookupError::NotFound { .. }) => {
                        return Err(Reason::Unbound(format!(
                            "its review names flow {flow}, which {NOTES_REF} does not have (fetch the flows with `git aiflow sync` if they live elsewhere)"
                        )));
                    }
                };
                let f: &Flow = &entry.flow;
                if !f.knows_subtask(subtask) {
                    return Err(Reason::Unbound(format!(
                        "its review names subtask {subtask}, which flow {flow} has never planned"
                    )));
                }
                let reviews: Vec<Review> = f
                    .reviews
                    .iter()
                    .filter(|r| &r.subtask == subtask)
                    .cloned()
                    .collect();
                let approvals = Approvals::of(reviews.iter().enumerate());
                Ok((
                    Source::Subtask {
                        flow: flow.clone(),
                        subtask: subtask.clone(),
                    },
                    Records { reviews, approvals },
                ))
            }
            BindKind::Outside => {
                let unrecorded = || {
                    match policy.reviews {
                    Reviews::Trailer if item.governs => Reason::Unbound(
                        "it changes what governs the gate (the policy or the allowed-signers file): a review trailer alone does not count; approve it with `git aiflow approve --range A..B`".into(),
                    ),
                    Reviews::Signed => Reason::Unsigned(
                        "a review trailer alone does not count: this policy requires signed reviews (reviews = \"signed\"); approve it with `git aiflow approve --range A..B` and a signing key".into(),
                    ),
                    Reviews::Trailer => Reason::Unbound(
                        "a review trailer alone does not count outside flows here (typed-trailers = false); approve it with `git aiflow approve --range A..B`".into(),
                    ),
                }
                };
                let bytes = snap
                    .note_bytes(repo, &item.id)
                    .map_err(|e| Reason::Unverifiable {
                        what: format!("the notes in {NOTES_REF} cannot be read ({e})"),
                        hint: "repair the notes ref".into(),
                    })?
                    .ok_or_else(unrecorded)?;
                let text = std::str::from_utf8(&bytes).map_err(|_| Reason::Unverifiable {
                    what: format!("the note on {} is not UTF-8", item.id),
                    hint: format!("repair it: `git notes --ref=aiflow edit {}`", item.id),
                })?;
                if !text.contains("kind = \"review\"") {
                    return Err(unrecorded());
                }
                let note = ReviewNote::decode(text).map_err(|e| Reason::Unverifiable {
                    what: format!("the review note on {} cannot be read ({e})", item.id),
                    hint: format!(
                        "repair it (`git notes --ref=aiflow edit {0}`) or restore it from `git log -p {NOTES_REF}`",
                        item.id
                    ),
                })?;
                let approvals = Approvals::of(note.reviews.iter().enumerate());
                Ok((
                    Source::Note(item.id),
                    Records {
                        reviews: note.reviews,
                        approvals,
                    },
                ))
            }
        }
    }
}

/// Check a record's signature where the policy can: `Ok(None)` when there is nothing to verify
/// and the policy does not ask for it (trailer reviews, no allowed signers, or a key they do not
/// name), `Ok(Some(who))` when it verifies.
pub fn verify_record(
    review: &Review,
    subject: Subject<'_>,
    policy: &Policy,
) -> Result<Option<Verified>, Reason> {
    let signed = policy.reviews == Reviews::Signed;
    let Some(signers) = &policy.signers else {
        // Trailer reviews with nobody named to sign: the record is taken as it is.
        return Ok(None);
    };
    let who = format!("the approval by {} at {}", review.reviewer, review.at);
    let Some(signature) = &review.signature else {
        return if signed {
            Err(Reason::Unsigned(format!(
                "{who} is not signed, and this policy requires signed reviews; the reviewer approves again with a signing key (git config gpg.format ssh, user.signingKey)"
            )))
        } else {
            Ok(None)
        };
    };
    let payload = review.attestation(subject);
    let claimed = parse_ident(&review.reviewer).map(|(_, e)| e.to_owned());
    match crate::gate::sshsig::verify(
        &signers.file,
        &payload,
        signature,
        crate::gate::sshsig::NAMESPACE,
        crate::flow::epoch(&review.at),
        claimed.as_deref(),
    ) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.code() == "unknown-signer" => {
            if signed {
                Err(Reason::UnknownSigner(format!(
                    "{who} is signed by a key {} does not allow: {e}",
                    signers.origin
                )))
            } else {
                Ok(None)
            }
        }
        Err(e) => Err(Reason::BadSignature(format!(
            "{who} carries a signature that does not verify ({e}): the record was changed after it was signed, or the signature is not one"
        ))),
    }
}

/// Whether a verified signer may approve `item`: not its author (unless the policy allows
/// self-review), and on the list of reviewers if the policy has one. The signer's principal
/// decides who the reviewer is, not the record's claim.
fn accept<'v>(
    verified: Option<&'v Verified>,
    item: &BindItem,
    policy: &Policy,
) -> Result<Option<&'v Verified>, Reason> {
    let Some(v) = verified else { return Ok(None) };
    if policy.forbids_self_review(&v.principal, &item.author_email) {
        return Err(Reason::SelfReview(format!(
            "{} (who signed the approval)",
            v.principal
        )));
    }
    if !policy.accepts_reviewer(&v.principal) {
        return Err(Reason::NotAllowed(format!(
            "{} (who signed the approval)",
            v.principal
        )));
    }
    Ok(Some(v))
}
