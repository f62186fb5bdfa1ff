//! `git aiflow review`, `approve` and `reject`: a human looks at a subtask's commits and either
//! signs them off (review trailers on every commit, the approval recorded with patch ids) or asks
//! for changes.

use super::work::{self, Found, Which};
use super::{CliError, Ctx};
use crate::flow::{EMPTY_PATCH, Review, ReviewedCommit, Standing, SubtaskStatus};
use crate::gate::Policy;
use crate::gate::policy::parse_ident;
use crate::git::{cli as git, rewrite, trailers};
use crate::store::Change;
use gix::ObjectId;
use serde_json::json;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};

/// Arguments of `review`.
#[derive(Debug, clap::Args)]
pub struct ReviewArgs {
    #[command(flatten)]
    pub which: Which,
    /// Print JSON: the commits, their files and review state, and the reviews.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `approve`.
#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    #[command(flatten)]
    pub which: Which,
    /// Approve only the commits up to this one (later commits stay unreviewed).
    #[arg(long, value_name = "rev")]
    pub upto: Option<String>,
    /// A comment recorded with the approval.
    #[arg(short, long = "message", value_name = "text")]
    pub message: Option<String>,
    /// Print JSON: {"flow", "subtask", "reviewer", "branch", "old_tip", "new_tip", "commits"}.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `reject`.
#[derive(Debug, clap::Args)]
pub struct RejectArgs {
    #[command(flatten)]
    pub which: Which,
    /// What must change (several -m make paragraphs).
    #[arg(short, long = "message", value_name = "text", required = true)]
    pub message: Vec<String>,
    /// Print JSON: {"flow", "subtask", "reviewer", "at", "status"}.
    #[arg(long)]
    pub json: bool,
}

/// A started subtask's branch and the range of its commits.
struct Work {
    branch: String,
    integ: ObjectId,
    tip: ObjectId,
    ids: Vec<ObjectId>,
}

fn started(repo: &gix::Repository, found: &Found, verb: &str) -> Result<Work, CliError> {
    let s = found.subtask();
    match s.status {
        SubtaskStatus::Planned => {
            return Err(CliError::refused(format!(
                "subtask {} is not started; there is nothing to {verb}",
                s.id
            ))
            .hint(format!("start it with `git aiflow start {}`", s.id)));
        }
        SubtaskStatus::Dropped => {
            return Err(CliError::refused(format!("subtask {} is dropped", s.id)));
        }
        _ => {}
    }
    let branch = found.branch();
    let tip = work::branch_tip(repo, &branch).ok_or_else(|| {
        CliError::usage(format!(
            "the branch {branch} of subtask {} does not exist",
            s.id
        ))
        .hint(format!(
            "recreate it, or start the subtask again: `git aiflow start {}`",
            s.id
        ))
    })?;
    let integ = work::integration_tip(repo, &found.entry)?;
    let ids = rewrite::range(repo, Some(integ), tip)?;
    Ok(Work {
        branch,
        integ,
        tip,
        ids,
    })
}

/// `git aiflow approve`.
pub fn approve(ctx: &mut Ctx, args: &ApproveArgs) -> Result<(), CliError> {
    let found = work::find(ctx, &args.which)?;
    let repo = ctx.repo()?.clone();
    let s = found.subtask().clone();
    let slug = found.flow().slug.clone();
    if s.status == SubtaskStatus::Merged {
        return Err(CliError::refused(format!(
            "subtask {} is merged already; its review cannot change",
            s.id
        )));
    }
    let w = started(&repo, &found, "approve")?;
    if w.ids.is_empty() {
        return Err(CliError::refused(format!(
            "subtask {} has no commits on {} to approve",
            s.id, w.branch
        ))
        .hint("make steps first: `git aiflow exec` or `git aiflow step`"));
    }
    let selected: Vec<ObjectId> = match &args.upto {
        None => w.ids.clone(),
        Some(rev) => {
            let id = repo
                .rev_parse_single(rev.as_str())
                .map_err(|e| CliError::usage(format!("{rev:?} is not a revision: {e}")))?
                .object()
                .map_err(|e| CliError::usage(format!("{rev:?} cannot be read: {e}")))?
                .peel_to_commit()
                .map_err(|_| CliError::usage(format!("{rev:?} does not name a commit")))?
                .id;
            if !w.ids.contains(&id) {
                return Err(CliError::usage(format!(
                    "{rev} is not one of the commits of subtask {} ({}..{})",
                    s.id,
                    found.flow().integration_branch,
                    w.branch
                ))
                .hint(format!("`git aiflow review {}` lists them", s.id)));
            }
            let keep = rewrite::up_to(&repo, &w.ids, id)?;
            w.ids.iter().copied().filter(|c| keep.contains(c)).collect()
        }
    };
    let whole = selected.len() == w.ids.len();

    // Who reviews, and may they?
    let committer = rewrite::committer(&repo)?;
    let stamp = crate::git::committer_stamp(&repo)?;
    let reviewer = stamp.who.clone();
    let (_, reviewer_email) = parse_ident(&reviewer).ok_or_else(|| {
        CliError::usage(format!("your identity `{reviewer}` is not `Name <email>`"))
            .hint("set user.name and user.email")
    })?;
    let reviewer_email = reviewer_email.to_owned();
    let policy = Policy::load(&repo, Some(w.integ))?;
    if !policy.reviewers.is_empty()
        && !policy
            .reviewers
            .iter()
            .any(|r| r.eq_ignore_ascii_case(&reviewer_email))
    {
        return Err(CliError::refused(format!(
            "{reviewer} is not on the list of reviewers of {}",
            policy.source
        ))
        .hint(format!("ask one of them: {}", policy.reviewers.join(", "))));
    }
    if !policy.allow_self_review {
        let mut own = Vec::new();
        for id in &selected {
            let c = repo
                .find_commit(*id)
                .map_err(|e| CliError::usage(e.to_string()))?;
            let author = c.author().map_err(|e| CliError::usage(e.to_string()))?;
            if author
                .email
                .to_string()
                .eq_ignore_ascii_case(&reviewer_email)
            {
                let subject = c
                    .message()
                    .map(|m| m.summary().to_string())
                    .unwrap_or_default();
                own.push(format!("{} {subject}", id.to_hex_with_len(7)));
            }
        }
        if !own.is_empty() {
            let mut e = CliError::refused(format!(
                "{reviewer} is the author of {} of the commits to approve, and {} forbids self-review",
                own.len(),
                policy.source
            ));
            for o in own.iter().take(5) {
                e = e.hint(format!("authored by you: {o}"));
            }
            return Err(e.hint("ask someone else to review and run `git aiflow approve`"));
        }
    }

    // Already done?
    let approvals = found.flow().approvals(&s.id);
    if whole
        && s.status == SubtaskStatus::Approved
        && selected
            .iter()
            .all(|c| approvals.commits.contains(&c.to_string()))
    {
        if args.json {
            ctx.json(&json!({"flow": slug, "subtask": s.id, "reviewer": reviewer, "branch": w.branch,
                "old_tip": w.tip.to_string(), "new_tip": w.tip.to_string(), "commits": [], "already": true}))?;
        } else {
            writeln!(
                ctx.out,
                "subtask {} is approved already; nothing to do",
                s.id
            )?;
        }
        return Ok(());
    }

    // Rewrite the messages.
    let rules = trailers::Rules::from_config(&repo.config_snapshot());
    let key = policy.review_trailers[0].clone();
    let selected_set: std::collections::HashSet<ObjectId> = selected.iter().copied().collect();
    let sign = super::exec::signing(&repo)?;
    let rewritten = rewrite::reword(&repo, &w.ids, &committer, sign.as_ref(), |_, id, c| {
        if !selected_set.contains(&id) {
            return None;
        }
        let pairs = trailers::parse_commit(&c.message, &rules);
        let has = |k: &str, v: Option<&str>| {
            pairs.iter().any(|(pk, pv)| {
                pk.eq_ignore_ascii_case(k.as_bytes())
                    && v.is_none_or(|v| String::from_utf8_lossy(pv).trim().eq_ignore_ascii_case(v))
            })
        };
        let mut msg = c.message.to_vec();
        let mut changed = false;
        if !has("Aiflow-Flow", None) {
            msg = trailers::add(&msg, "Aiflow-Flow", &slug, &rules);
            changed = true;
        }
        if !has("Aiflow-Subtask", None) {
            msg = trailers::add(&msg, "Aiflow-Subtask", &s.id, &rules);
            changed = true;
        }
        if !has(&key, Some(&reviewer)) {
            msg = trailers::add(&msg, &key, &reviewer, &rules);
            changed = true;
        }
        changed.then_some(msg)
    })?;

    // Patch ids: the rewritten commits have the same trees and parents' trees as the originals.
    let pids = git::patch_ids(&crate::git::run_dir(&repo), &selected)?;
    let by_old: HashMap<ObjectId, ObjectId> = rewritten.commits.iter().copied().collect();
    let commits: Vec<ReviewedCommit> = selected
        .iter()
        .map(|old| ReviewedCommit {
            commit: by_old[old].to_string(),
            patch_id: pids
                .get(old)
                .cloned()
                .unwrap_or_else(|| EMPTY_PATCH.to_owned()),
        })
        .collect();
    let review = Review {
        subtask: s.id.clone(),
        verdict: "approved".into(),
        reviewer: reviewer.clone(),
        at: stamp.at.clone(),
        comment: args.message.clone().filter(|m| !m.trim().is_empty()),
        commits: commits.clone(),
    };
    let refs = if rewritten.changed() {
        vec![work::branch_edit(
            &w.branch,
            Some(w.tip),
            rewritten.tip,
            format!("aiflow approve {} by {reviewer}", s.id),
        )]
    } else {
        Vec::new()
    };
    let pairs: Vec<(ObjectId, ObjectId)> = rewritten
        .commits
        .iter()
        .copied()
        .filter(|(a, b)| a != b)
        .collect();
    let id = s.id.clone();
    crate::store::update_flow_with(
        &repo,
        &slug,
        &format!("aiflow: approve {id} of {slug}"),
        &stamp,
        |flow, snap| -> Result<Option<Change>, CliError> {
            let st = flow.subtask_mut(&id).ok_or_else(|| {
                CliError::refused(format!("subtask {id} left the plan meanwhile"))
            })?;
            if whole {
                st.status = SubtaskStatus::Approved;
            } else if st.status == SubtaskStatus::Planned {
                st.status = SubtaskStatus::Active;
            }
            flow.reviews.push(review.clone());
            // Carry the step notes to the rewritten commits, as notes.rewriteRef would.
            let mut notes = Vec::new();
            for (old, new) in &pairs {
                if let Some(bytes) = snap.note_bytes(&repo, old)? {
                    notes.push((*new, Some(bytes)));
                }
            }
            Ok(Some(Change {
                notes,
                refs: refs.clone(),
            }))
        },
    )?;

    if args.json {
        let list: Vec<serde_json::Value> = selected
            .iter()
            .zip(&commits)
            .map(
                |(old, c)| json!({"old": old.to_string(), "new": c.commit, "patch_id": c.patch_id}),
            )
            .collect();
        ctx.json(&json!({
            "flow": slug,
            "subtask": s.id,
            "reviewer": reviewer,
            "branch": w.branch,
            "old_tip": w.tip.to_string(),
            "new_tip": rewritten.tip.to_string(),
            "whole": whole,
            "commits": list,
        }))?;
    } else {
        writeln!(
            ctx.out,
            "Approved {} commit{} of {} \"{}\" as {reviewer}",
            selected.len(),
            if selected.len() == 1 { "" } else { "s" },
            s.id,
            s.title
        )?;
        writeln!(
            ctx.out,
            "  {} {} -> {}",
            w.branch,
            w.tip.to_hex_with_len(7),
            rewritten.tip.to_hex_with_len(7)
        )?;
        if whole {
            writeln!(ctx.out, "  next: `git aiflow integrate {}`", s.id)?;
        } else {
            writeln!(
                ctx.out,
                "  {} later commit{} not approved yet",
                w.ids.len() - selected.len(),
                if w.ids.len() - selected.len() == 1 {
                    " is"
                } else {
                    "s are"
                }
            )?;
        }
    }
    Ok(())
}

/// `git aiflow reject`.
pub fn reject(ctx: &mut Ctx, args: &RejectArgs) -> Result<(), CliError> {
    let found = work::find(ctx, &args.which)?;
    let repo = ctx.repo()?.clone();
    let s = found.subtask().clone();
    let slug = found.flow().slug.clone();
    if s.status == SubtaskStatus::Merged {
        return Err(CliError::refused(format!(
            "subtask {} is merged already; ask for changes in a new subtask",
            s.id
        ))
        .hint(format!("add one with `git aiflow plan edit {slug}`")));
    }
    started(&repo, &found, "reject")?;
    let comment = args
        .message
        .iter()
        .map(|m| m.trim().to_owned())
        .collect::<Vec<_>>()
        .join("\n\n");
    if comment.is_empty() {
        return Err(CliError::usage("say what must change: -m TEXT"));
    }
    let stamp = crate::git::committer_stamp(&repo)?;
    let review = Review {
        subtask: s.id.clone(),
        verdict: "changes-requested".into(),
        reviewer: stamp.who.clone(),
        at: stamp.at.clone(),
        comment: Some(comment),
        commits: Vec::new(),
    };
    let id = s.id.clone();
    crate::store::update_flow(
        &repo,
        &slug,
        &format!("aiflow: changes requested on {id} of {slug}"),
        &stamp,
        |flow| -> Result<bool, CliError> {
            let st = flow.subtask_mut(&id).ok_or_else(|| {
                CliError::refused(format!("subtask {id} left the plan meanwhile"))
            })?;
            st.status = SubtaskStatus::Active;
            flow.reviews.push(review.clone());
            Ok(true)
        },
    )?;
    if args.json {
        ctx.json(&json!({
            "flow": slug,
            "subtask": s.id,
            "reviewer": stamp.who,
            "at": stamp.at,
            "status": "active",
        }))?;
    } else {
        writeln!(
            ctx.out,
            "Changes requested on {} \"{}\"; it is active again",
            s.id, s.title
        )?;
        writeln!(
            ctx.out,
            "  next: `git aiflow exec {}` (the agent sees the comment) or edit and `git aiflow step`",
            s.id
        )?;
    }
    Ok(())
}

/// `git aiflow review`.
pub fn review(ctx: &mut Ctx, args: &ReviewArgs) -> Result<(), CliError> {
    let found = work::find(ctx, &args.which)?;
    let repo = ctx.repo()?.clone();
    let s = found.subtask().clone();
    let flow = found.flow().clone();
    let w = started(&repo, &found, "review")?;
    let rules = trailers::Rules::from_config(&repo.config_snapshot());
    let policy = Policy::load(&repo, Some(w.integ))?;
    let approvals = flow.approvals(&s.id);
    let range = format!("{}..{}", flow.integration_branch, w.branch);

    // Review state per commit.
    let mut rows = Vec::new();
    let mut need_pid = Vec::new();
    for id in w.ids.iter().rev() {
        let c = repo
            .find_commit(*id)
            .map_err(|e| CliError::usage(e.to_string()))?;
        let raw = c.message_raw_sloppy().to_vec();
        let pairs = trailers::parse_commit(&raw, &rules);
        let value = |k: &str| {
            pairs
                .iter()
                .filter(|(pk, _)| pk.eq_ignore_ascii_case(k.as_bytes()))
                .map(|(_, v)| String::from_utf8_lossy(v).trim().to_owned())
                .collect::<Vec<_>>()
        };
        let reviewed_by: Vec<String> = policy
            .review_trailers
            .iter()
            .flat_map(|k| value(k))
            .collect();
        let step = value("Aiflow-Step")
            .first()
            .and_then(|v| v.parse::<u32>().ok());
        let author = c
            .author()
            .map(|a| format!("{} <{}>", a.name, a.email))
            .unwrap_or_default();
        let subject =
            String::from_utf8_lossy(raw.split(|&b| b == b'\n').next().unwrap_or_default())
                .trim()
                .to_owned();
        let recorded = approvals.standing(&id.to_string(), None) == Standing::Approved;
        if !recorded && !reviewed_by.is_empty() {
            need_pid.push(*id);
        }
        rows.push((*id, subject, author, step, reviewed_by, recorded));
    }
    let pids = git::patch_ids(&crate::git::run_dir(&repo), &need_pid)?;
    // The same rule as `check`'s binding (gate::bind), per commit.
    let state = |id: &ObjectId, reviewed: &[String], recorded: bool| -> &'static str {
        if recorded {
            return "approved";
        }
        if reviewed.is_empty() {
            return "unreviewed";
        }
        let pid = pids.get(id).map_or(EMPTY_PATCH, String::as_str);
        match approvals.standing(&id.to_string(), Some(pid)) {
            Standing::Approved => "approved",
            Standing::Revoked => "revoked",
            Standing::Unrecorded => "stale",
        }
    };

    if args.json {
        let numstat = numstat(&repo, &range)?;
        let commits: Vec<serde_json::Value> = rows
            .iter()
            .map(|(id, subject, author, step, reviewed_by, recorded)| {
                json!({
                    "commit": id.to_string(),
                    "subject": subject,
                    "author": author,
                    "step": step,
                    "reviewed_by": reviewed_by,
                    "review": state(id, reviewed_by, *recorded),
                    "files": numstat.get(id).cloned().unwrap_or_default(),
                })
            })
            .collect();
        let reviews: Vec<&Review> = flow.reviews.iter().filter(|r| r.subtask == s.id).collect();
        return ctx.json(&json!({
            "flow": flow.slug,
            "subtask": {
                "id": s.id,
                "title": s.title,
                "status": s.status.as_str(),
                "branch": w.branch,
                "description": s.description,
                "files": s.files,
            },
            "range": range,
            "commits": commits,
            "reviews": reviews,
        }));
    }

    let mut head = String::new();
    head.push_str(&format!(
        "Subtask {} \"{}\" ({}), flow {}\n",
        s.id,
        s.title,
        s.status.as_str(),
        flow.slug
    ));
    head.push_str(&format!(
        "Range   {range}: {} commit{}\n",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    ));
    for (id, subject, _, step, reviewed, recorded) in rows.iter().rev() {
        head.push_str(&format!(
            "  {} {:10} {}{}\n",
            id.to_hex_with_len(7),
            state(id, reviewed, *recorded),
            step.map(|n| format!("step {n}: ")).unwrap_or_default(),
            subject
        ));
    }
    for r in flow.reviews.iter().filter(|r| r.subtask == s.id) {
        head.push_str(&format!(
            "Review  {} by {} at {}",
            r.verdict, r.reviewer, r.at
        ));
        if let Some(c) = &r.comment {
            head.push_str(&format!(": {}", c.lines().next().unwrap_or_default()));
        }
        head.push('\n');
    }
    head.push('\n');
    let tty = std::io::stdout().is_terminal();
    let dir = crate::git::run_dir(&repo);
    let color = tty
        && git::run(
            &dir,
            &["config", "--get-colorbool", "color.diff", "true"],
            &[],
            None,
        )?
        .ok();
    let log = git::checked(
        &dir,
        &[
            "log",
            "--reverse",
            "--stat",
            "-p",
            "--format=fuller",
            if color {
                "--color=always"
            } else {
                "--color=never"
            },
            &range,
            "--",
        ],
        &[],
        None,
    )?;
    let mut text = head.into_bytes();
    text.extend_from_slice(&log);
    if tty {
        page(&dir, &text)?;
    } else {
        ctx.out.write_all(&text)?;
    }
    Ok(())
}

/// Show `text` through the pager git would use.
fn page(dir: &std::path::Path, text: &[u8]) -> Result<(), CliError> {
    let pager = git::checked(dir, &["var", "GIT_PAGER"], &[], None)
        .map(|o| String::from_utf8_lossy(&o).trim().to_owned())
        .unwrap_or_else(|_| "less".into());
    if pager.is_empty() || pager == "cat" {
        std::io::stdout().write_all(text)?;
        return Ok(());
    }
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(&pager)
        .env(
            "LESS",
            std::env::var("LESS").unwrap_or_else(|_| "FRX".into()),
        )
        .env("LV", std::env::var("LV").unwrap_or_else(|_| "-c".into()))
        .stdin(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(text);
    }
    let _ = child.wait();
    Ok(())
}

/// Per commit of `range`: the files it changes, with lines added and deleted.
fn numstat(
    repo: &gix::Repository,
    range: &str,
) -> Result<HashMap<ObjectId, Vec<serde_json::Value>>, CliError> {
    let out = git::checked(
        &crate::git::run_dir(repo),
        &[
            "log",
            "--numstat",
            "--format=commit %H",
            "--no-renames",
            range,
            "--",
        ],
        &[],
        None,
    )?;
    let mut map: HashMap<ObjectId, Vec<serde_json::Value>> = HashMap::new();
    let mut current = None;
    for line in String::from_utf8_lossy(&out).lines() {
        if let Some(id) = line.strip_prefix("commit ") {
            current = ObjectId::from_hex(id.trim().as_bytes()).ok();
            continue;
        }
        let mut parts = line.splitn(3, '\t');
        let (Some(a), Some(d), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if let Some(id) = current {
            map.entry(id).or_default().push(json!({
                "path": path,
                "added": a.parse::<u64>().ok(),
                "deleted": d.parse::<u64>().ok(),
            }));
        }
    }
    Ok(map)
}
