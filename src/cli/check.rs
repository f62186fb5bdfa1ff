//! `git aiflow check`: the gate, from the command line and CI.

use super::{CliError, Ctx, Exit};
use crate::flow::names::BRANCH_PREFIX;
use crate::gate::walk::{GixObjects, Range};
use crate::gate::{Policy, Report, Scope, check};
use crate::git::trailers::Rules;
use gix::ObjectId;

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Revisions as `git rev-list` takes them: `A..B`, `^A`, `B`. With none: what the current
    /// merge (MERGE_HEAD) or the current flow branch would bring into its integration branch or
    /// base.
    #[arg(value_name = "rev-range")]
    pub revs: Vec<String>,
    /// Print JSON (the fields are listed in the README).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Output format: human, json, or github (workflow-command annotations for GitHub Actions).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Lines for people.
    Human,
    /// One JSON object.
    Json,
    /// GitHub Actions `::error` annotations.
    Github,
}

/// What to check and how.
struct Plan {
    range: Range,
    label: String,
    policy: Policy,
    scope: Scope,
}

/// Run `check`.
pub fn run(ctx: &mut Ctx, args: &CheckArgs) -> Result<(), CliError> {
    let format = if args.json {
        Format::Json
    } else {
        args.format.unwrap_or(Format::Human)
    };
    let plan = if args.revs.is_empty() {
        implicit(ctx)?
    } else {
        explicit(ctx, &args.revs)?
    };
    let repo = ctx.repo()?;
    let rules = Rules::from_config(&repo.config_snapshot());
    let mut binder = crate::gate::bind::NotesBinder::for_repo(repo);
    let report = check(
        repo,
        &mut GixObjects(repo),
        &plan.range,
        &plan.policy,
        &rules,
        plan.scope,
        &mut binder,
    )?;
    print(ctx, format, &plan, &report)?;
    if format != Format::Json {
        for n in &report.notices {
            ctx.warn(n);
        }
    }
    if report.ok() {
        Ok(())
    } else {
        // The report is the message.
        Err(CliError::silent(Exit::Refused))
    }
}

/// Resolve explicit revisions.
fn explicit(ctx: &mut Ctx, revs: &[String]) -> Result<Plan, CliError> {
    let repo = ctx.repo()?;
    let mut range = Range::default();
    for arg in revs {
        if arg.contains("...") {
            return Err(CliError::usage(format!(
                "{arg:?}: symmetric ranges (A...B) are not supported"
            ))
            .hint("give A..B (what B brings that A lacks)"));
        }
        if let Some(rest) = arg.strip_prefix('^') {
            range.hidden.push(commit_of(repo, rest, arg)?);
            continue;
        }
        let spec = repo
            .rev_parse(arg.as_str())
            .map_err(|e| bad_rev(arg, e))?
            .detach();
        use gix::revision::plumbing::Spec;
        match spec {
            Spec::Include(id) => range.tips.push(peel(repo, id, arg)?),
            Spec::Exclude(id) => range.hidden.push(peel(repo, id, arg)?),
            Spec::Range { from, to } => {
                range.hidden.push(peel(repo, from, arg)?);
                range.tips.push(peel(repo, to, arg)?);
            }
            _ => {
                return Err(CliError::usage(format!(
                    "{arg:?} is not a revision or a range check understands"
                ))
                .hint("give revisions as git rev-list takes them: A..B, ^A, B"));
            }
        }
    }
    // `A..B` is what B brings into A: A's policy applies if A has one, else the trunk's. When A
    // names a flow's integration branch (`aiflow/x`, `origin/aiflow/x`), every commit must also
    // belong to a subtask with a recorded approval, as the hooks require.
    let policy = Policy::load_for_range(repo, range.hidden.first().copied())?;
    let scope = if revs.iter().filter_map(|r| excluded_name(r)).any(|name| {
        integration_branch(repo, name).is_some_and(|b| {
            policy.protection(&format!("refs/heads/{b}")) == Some(Scope::Integration)
        })
    }) {
        Scope::Integration
    } else {
        Scope::Full
    };
    Ok(Plan {
        range,
        label: revs.join(" "),
        policy,
        scope,
    })
}

/// The revision a range argument excludes, as written (`A` in `A..B` and `^A`).
fn excluded_name(arg: &str) -> Option<&str> {
    arg.strip_prefix('^')
        .or_else(|| arg.split_once("..").map(|(a, _)| a))
        .filter(|a| !a.is_empty())
}

/// The local name of the branch `name` refers to (`aiflow/x` for `aiflow/x`, `refs/heads/aiflow/x`,
/// `origin/aiflow/x`, `refs/remotes/origin/aiflow/x`), if it names a branch at all.
fn integration_branch<'a>(repo: &gix::Repository, name: &'a str) -> Option<&'a str> {
    let name = name
        .strip_prefix("refs/heads/")
        .or_else(|| name.strip_prefix("refs/remotes/"))
        .unwrap_or(name);
    if name.starts_with(BRANCH_PREFIX) {
        return Some(name);
    }
    let (remote, rest) = name.split_once('/')?;
    let is_remote = repo
        .remote_names()
        .iter()
        .any(|r| AsRef::<[u8]>::as_ref(r) == remote.as_bytes());
    (is_remote && rest.starts_with(BRANCH_PREFIX)).then_some(rest)
}

fn bad_rev(arg: &str, e: impl std::fmt::Display) -> CliError {
    CliError::usage(format!("{arg:?} is not a revision: {e}"))
        .hint("give revisions as git rev-list takes them: A..B, ^A, B")
}

fn commit_of(repo: &gix::Repository, rev: &str, arg: &str) -> Result<ObjectId, CliError> {
    let id = repo.rev_parse_single(rev).map_err(|e| bad_rev(arg, e))?;
    peel(repo, id.detach(), arg)
}

fn peel(repo: &gix::Repository, id: ObjectId, arg: &str) -> Result<ObjectId, CliError> {
    let object = repo.find_object(id).map_err(|e| bad_rev(arg, e))?;
    let commit = object
        .peel_to_commit()
        .map_err(|_| CliError::usage(format!("{arg:?} does not name a commit")))?;
    Ok(commit.id)
}

/// With no revisions: the current merge, or the current flow branch against its target.
fn implicit(ctx: &mut Ctx) -> Result<Plan, CliError> {
    let repo = ctx.repo()?;
    let head = repo
        .head()
        .map_err(|e| CliError::usage(format!("cannot read HEAD: {e}")))?;
    let branch = head.referent_name().map(|n| n.as_bstr().to_string());

    let tips = crate::gate::hook::merge_heads(repo)?;
    if !tips.is_empty() {
        let current = branch.as_deref().and_then(|b| tip(repo, b));
        let policy = Policy::load(repo, current)?;
        let scope = branch
            .as_deref()
            .and_then(|b| policy.protection(b))
            .unwrap_or(Scope::Full);
        return Ok(Plan {
            range: Range {
                tips,
                hidden: current.into_iter().collect(),
            },
            label: "HEAD..MERGE_HEAD".into(),
            policy,
            scope,
        });
    }
    let Some(branch) = branch else {
        return Err(
            CliError::usage("HEAD is detached and no merge is in progress")
                .hint("name a range, for example `git aiflow check main..HEAD`"),
        );
    };
    let short = branch.trim_start_matches("refs/heads/").to_owned();
    let head_id = tip(repo, &branch).ok_or_else(|| {
        CliError::usage(format!("{short} has no commits yet")).hint("nothing to check")
    })?;
    // A subtask branch goes into its integration branch.
    if let Some(integration) = crate::flow::names::integration_of_subtask(&short) {
        let target = format!("refs/heads/{integration}");
        let current = tip(repo, &target);
        let policy = Policy::load(repo, current)?;
        return Ok(Plan {
            range: Range {
                tips: vec![head_id],
                hidden: current.into_iter().collect(),
            },
            label: format!("{}..{short}", target.trim_start_matches("refs/heads/")),
            scope: policy.protection(&target).unwrap_or(Scope::Full),
            policy,
        });
    }
    // An integration branch goes into its flow's base.
    let set = ctx.flows()?;
    let repo = ctx.repo()?;

    if let Some(slug) = super::context::flow_of_branch(&set, &short)
        && let Ok(entry) = set.find(&slug)
    {
        let flow = &entry.flow;
        let base = flow.base_ref.clone();
        let base_tip = base.as_deref().and_then(|b| {
            let full = if b.starts_with("refs/") {
                b.to_owned()
            } else {
                format!("refs/heads/{b}")
            };
            tip(repo, &full).map(|id| (full, id))
        });
        let (hidden, label, target) = match base_tip {
            Some((full, id)) => (
                id,
                format!("{}..{short}", full.trim_start_matches("refs/heads/")),
                Some(full),
            ),
            None => {
                let id = ObjectId::from_hex(flow.base_commit.as_bytes()).map_err(|_| {
                    CliError::usage(format!("flow {slug} has a malformed base_commit"))
                })?;
                (id, format!("{}..{short}", &flow.base_commit[..12]), None)
            }
        };
        let policy = Policy::load(repo, Some(hidden))?;
        let scope = target
            .as_deref()
            .and_then(|t| policy.protection(t))
            .unwrap_or(Scope::Full);
        return Ok(Plan {
            range: Range {
                tips: vec![head_id],
                hidden: vec![hidden],
            },
            label,
            policy,
            scope,
        });
    }
    Err(CliError::usage(format!(
        "{short} is not a flow branch and no merge is in progress"
    ))
    .hint("name a range, for example `git aiflow check main..HEAD`"))
}

/// The commit a ref points to, if it exists and can be read.
fn tip(repo: &gix::Repository, name: &str) -> Option<ObjectId> {
    crate::git::ref_id(repo, name).ok().flatten()
}

fn print(ctx: &mut Ctx, format: Format, plan: &Plan, report: &Report) -> Result<(), CliError> {
    use std::io::Write;
    let policy = &plan.policy;
    match format {
        Format::Json => {
            let failures: Vec<serde_json::Value> = report
                .failures
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "commit": f.id.to_string(),
                        "subject": f.subject,
                        "author": f.author,
                        "reason": f.reason.code(),
                        "detail": f.reason.describe(policy),
                    })
                })
                .collect();
            let signatures: Vec<serde_json::Value> = report
                .signed
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "commit": s.commit.to_string(),
                        "signer": s.principal,
                        "key": s.fingerprint,
                        "algorithm": s.algorithm,
                        "at": s.at,
                    })
                })
                .collect();
            ctx.json(&serde_json::json!({
                "ok": report.ok(),
                "range": plan.label,
                "scope": plan.scope.name(),
                "policy": policy.source,
                "reviews": policy.reviews.name(),
                "commits": report.commits,
                "reviewed": report.reviewed,
                "exempt": report.exempt,
                "out_of_scope": report.out_of_scope,
                "failures": failures,
                "signatures": signatures,
                "notices": report.notices,
            }))?;
        }
        Format::Human => {
            for f in &report.failures {
                writeln!(
                    ctx.out,
                    "{} {} ({}): {}",
                    f.id.to_hex_with_len(12),
                    f.subject,
                    f.author,
                    f.reason.describe(policy)
                )?;
            }
            writeln!(ctx.out, "{}", summary(plan, report))?;
        }
        Format::Github => {
            for f in &report.failures {
                writeln!(
                    ctx.out,
                    "::error title={}::{}",
                    escape_property(&format!("Unreviewed commit {}", f.id.to_hex_with_len(12))),
                    escape_data(&format!(
                        "{} ({}): {}",
                        f.subject,
                        f.author,
                        f.reason.describe(policy)
                    ))
                )?;
            }
            let level = if report.ok() { "notice" } else { "error" };
            writeln!(
                ctx.out,
                "::{level} title=aiflow check::{}",
                escape_data(&summary(plan, report))
            )?;
        }
    }
    Ok(())
}

fn summary(plan: &Plan, report: &Report) -> String {
    let mut parts = vec![format!("{} reviewed", report.reviewed)];
    if report.exempt > 0 {
        parts.push(format!("{} exempt", report.exempt));
    }
    if report.out_of_scope > 0 {
        parts.push(format!("{} outside any flow", report.out_of_scope));
    }
    let verdict = if report.ok() {
        "ok".to_owned()
    } else {
        format!("{} without a valid review", report.failures.len())
    };
    format!(
        "aiflow: {} commit{} in {} ({}; {}): {verdict}",
        report.commits,
        if report.commits == 1 { "" } else { "s" },
        plan.label,
        parts.join(", "),
        plan.policy.source,
    )
}

/// Escape a workflow-command message (GitHub's `escapeData`).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape a workflow-command property (GitHub's `escapeProperty`).
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}
