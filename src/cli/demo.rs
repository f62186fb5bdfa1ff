//! `git aiflow demo`: one flow, from its spec to a merge the gate refuses and then accepts, in a throwaway
//! repository, with no network and no API key. Every step runs the real binary and real git,
//! and is printed as the command a user would type.

use super::{Ctx, error::CliError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The spec the demo uses.
pub const DEMO_SPEC: &str = include_str!("../../fixtures/specs/rate-limit.md");

/// The recorded answers the demo's "model" replays: clarifying questions, then a plan (in a
/// Markdown fence with prose around it, as real models answer).
pub const DEMO_ANSWERS: &[(&str, &str)] = &[
    (
        "questions",
        include_str!("../../fixtures/demo/questions.json"),
    ),
    ("plan", include_str!("../../fixtures/demo/plan.json")),
];

/// Walk through a flow in a throwaway repository (offline, no API key).
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where to create the demo repository (default: a new directory under the system temp dir).
    #[arg(long, value_name = "dir")]
    pub dir: Option<PathBuf>,
}

pub fn run(ctx: &mut Ctx, args: &DemoArgs) -> Result<(), CliError> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("git-aiflow-demo-{}", std::process::id())),
    };
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(
            CliError::usage(format!("{} exists and is not empty", dir.display()))
                .hint("give an empty or new directory with --dir"),
        );
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::usage(format!("could not create {}", dir.display())).source(e))?;
    let exe = std::env::current_exe()
        .map_err(|e| CliError::usage("could not find the running binary").source(e))?;
    let spec = dir.join(".git").join("rate-limit.md");

    writeln!(ctx.out, "# A throwaway repository in {}", dir.display())?;
    step(ctx, &dir, "git", &["init", "-q", "-b", "main"], None)?;
    step(
        ctx,
        &dir,
        "git",
        &["config", "user.name", "Demo User"],
        None,
    )?;
    step(
        ctx,
        &dir,
        "git",
        &["config", "user.email", "demo@example.com"],
        None,
    )?;
    std::fs::write(dir.join("README.md"), "# Demo service\n")
        .map_err(|e| CliError::usage("could not write the demo repository").source(e))?;
    step(ctx, &dir, "git", &["add", "README.md"], None)?;
    step(
        ctx,
        &dir,
        "git",
        &["commit", "-q", "-m", "Initial commit"],
        None,
    )?;
    std::fs::write(&spec, DEMO_SPEC)
        .map_err(|e| CliError::usage("could not write the demo spec").source(e))?;

    writeln!(
        ctx.out,
        "\n# Configure the repository, then start a flow from a spec"
    )?;
    step(
        ctx,
        &dir,
        &exe.to_string_lossy(),
        &["init"],
        Some("git aiflow init"),
    )?;
    step(
        ctx,
        &dir,
        &exe.to_string_lossy(),
        &["new", "rate-limit", "-F", ".git/rate-limit.md"],
        Some("git aiflow new rate-limit -F rate-limit.md"),
    )?;
    writeln!(
        ctx.out,
        "\n# The flow is a branch whose first commit is the spec, with the flow's TOML note"
    )?;
    step(
        ctx,
        &dir,
        "git",
        &[
            "--no-pager",
            "log",
            "-1",
            "--notes=aiflow",
            "aiflow/rate-limit",
        ],
        None,
    )?;
    let subtask = plan(ctx, &dir, &exe)?;
    writeln!(ctx.out, "\n# The dashboard")?;
    step(
        ctx,
        &dir,
        &exe.to_string_lossy(),
        &["status", "rate-limit"],
        Some("git aiflow status rate-limit"),
    )?;
    step(
        ctx,
        &dir,
        &exe.to_string_lossy(),
        &["list"],
        Some("git aiflow list"),
    )?;
    gate(ctx, &dir, &exe, &subtask)?;
    writeln!(
        ctx.out,
        "\nThe demo repository is {}; explore it, then remove it with `rm -rf {}`.",
        dir.display(),
        dir.display()
    )?;
    Ok(())
}

/// The review gate: an agent's unreviewed commit is refused, then accepted once reviewed.
fn gate(ctx: &mut Ctx, dir: &Path, exe: &Path, subtask: &str) -> Result<(), CliError> {
    let aiflow = exe.to_string_lossy().into_owned();
    writeln!(ctx.out, "\n# Install the review gate's hooks")?;
    step(
        ctx,
        dir,
        &aiflow,
        &["hooks", "install"],
        Some("git aiflow hooks install"),
    )?;
    writeln!(
        ctx.out,
        "\n# An agent does a subtask on its own branch (its commit is authored by the agent)"
    )?;
    step(
        ctx,
        dir,
        "git",
        &["switch", "-q", "-c", subtask, "aiflow/rate-limit"],
        None,
    )?;
    std::fs::write(
        dir.join("limiter.py"),
        "def allow(bucket):\n    return bucket.take(1)\n",
    )
    .map_err(|e| CliError::usage("could not write the demo repository").source(e))?;
    step(ctx, dir, "git", &["add", "limiter.py"], None)?;
    run_step(
        ctx,
        dir,
        &Step {
            program: "git",
            args: &["commit", "-q", "-m", "Add a token-bucket limiter"],
            shown: None,
            env: &[
                ("GIT_AUTHOR_NAME", "Demo Agent"),
                ("GIT_AUTHOR_EMAIL", "agent@example.com"),
            ],
            succeeds: true,
        },
    )?;
    writeln!(
        ctx.out,
        "\n# Nobody has reviewed it, so the gate refuses to merge it into the integration branch"
    )?;
    step(
        ctx,
        dir,
        "git",
        &["switch", "-q", "aiflow/rate-limit"],
        None,
    )?;
    run_step(
        ctx,
        dir,
        &Step {
            program: "git",
            args: &[
                "merge",
                "--no-ff",
                "-q",
                "-m",
                "Integrate the token bucket",
                subtask,
            ],
            shown: None,
            env: &[],
            succeeds: false,
        },
    )?;
    step(ctx, dir, "git", &["merge", "--abort"], None)?;
    let range = format!("aiflow/rate-limit..{subtask}");
    run_step(
        ctx,
        dir,
        &Step {
            program: &aiflow,
            args: &["check", &range],
            shown: Some(&format!("git aiflow check {range}")),
            env: &[],
            succeeds: false,
        },
    )?;
    writeln!(
        ctx.out,
        "\n# A human reviews the commit and signs it off with a Reviewed-by trailer"
    )?;
    step(ctx, dir, "git", &["switch", "-q", subtask], None)?;
    step(
        ctx,
        dir,
        "git",
        &[
            "commit",
            "-q",
            "--amend",
            "--no-edit",
            "--trailer",
            "Reviewed-by: Demo User <demo@example.com>",
        ],
        None,
    )?;
    step(
        ctx,
        dir,
        &aiflow,
        &["check", &range],
        Some(&format!("git aiflow check {range}")),
    )?;
    writeln!(ctx.out, "\n# Now the gate lets the merge through")?;
    step(
        ctx,
        dir,
        "git",
        &["switch", "-q", "aiflow/rate-limit"],
        None,
    )?;
    step(
        ctx,
        dir,
        "git",
        &[
            "merge",
            "--no-ff",
            "-q",
            "-m",
            "Integrate the token bucket",
            subtask,
        ],
        None,
    )?;
    step(
        ctx,
        dir,
        "git",
        &[
            "--no-pager",
            "log",
            "--graph",
            "--format=%h %s  %(trailers:key=Reviewed-by,separator=%x2C )",
            "aiflow/rate-limit",
        ],
        None,
    )
}

/// Planning: questions, answers, the plan, a human edit of it, and the difference. Returns the
/// branch of the plan's first subtask.
fn plan(ctx: &mut Ctx, dir: &Path, exe: &Path) -> Result<String, CliError> {
    let aiflow = exe.to_string_lossy().into_owned();
    let answers = dir.join(".git").join("demo-model");
    std::fs::create_dir_all(&answers)
        .map_err(|e| CliError::usage("could not write the demo repository").source(e))?;
    for (name, text) in DEMO_ANSWERS {
        std::fs::write(answers.join(format!("{name}.json")), text)
            .map_err(|e| CliError::usage("could not write the demo repository").source(e))?;
    }
    writeln!(
        ctx.out,
        "\n# Plan with a model. The demo's model is a command that replays recorded answers; a real\n# one is configured the same way (aiflow.provider openai|anthropic|command|manual)"
    )?;
    step(
        ctx,
        dir,
        "git",
        &["config", "aiflow.provider", "command"],
        None,
    )?;
    step(
        ctx,
        dir,
        "git",
        &[
            "config",
            "aiflow.command",
            "cat \"$(git rev-parse --git-dir)/demo-model/$AIFLOW_TEMPLATE.json\"",
        ],
        None,
    )?;
    writeln!(
        ctx.out,
        "\n# First the model asks what the spec leaves open"
    )?;
    step(
        ctx,
        dir,
        &aiflow,
        &["plan", "rate-limit"],
        Some("git aiflow plan rate-limit"),
    )?;
    let a1 = "1=A lower quota: 20 requests per minute per IP";
    let a2 = "2=Local in-memory fallback";
    let a3 = "3=Key id from api_keys";
    step(
        ctx,
        dir,
        &aiflow,
        &[
            "answer",
            "rate-limit",
            "--answer",
            a1,
            "--answer",
            a2,
            "--answer",
            a3,
        ],
        Some(&format!(
            "git aiflow answer rate-limit --answer {} --answer {} --answer {}",
            quote(a1),
            quote(a2),
            quote(a3)
        )),
    )?;
    writeln!(
        ctx.out,
        "\n# With the answers, it returns an ordered plan of small subtasks"
    )?;
    step(
        ctx,
        dir,
        &aiflow,
        &["plan", "rate-limit"],
        Some("git aiflow plan rate-limit"),
    )?;
    writeln!(
        ctx.out,
        "\n# You review the plan before any code exists: drop the dashboard nobody asked for\n# (your editor opens the plan as TOML; here a script does the edit)"
    )?;
    run_step(
        ctx,
        dir,
        &Step {
            program: &aiflow,
            args: &["plan", "edit", "rate-limit"],
            shown: Some("git aiflow plan edit rate-limit"),
            env: &[(
                "GIT_EDITOR",
                "f() { awk -v RS= -v ORS='\\n\\n' '!/Admin dashboard/' \"$1\" > \"$1.new\" && mv \"$1.new\" \"$1\"; }; f",
            )],
            succeeds: true,
        },
    )?;
    step(
        ctx,
        dir,
        &aiflow,
        &["plan", "diff", "rate-limit"],
        Some("git aiflow plan diff rate-limit"),
    )?;
    step(
        ctx,
        dir,
        &aiflow,
        &["plan", "log", "rate-limit"],
        Some("git aiflow plan log rate-limit"),
    )?;
    let out = Command::new(exe)
        .args(["plan", "show", "rate-limit", "--json"])
        .current_dir(dir)
        .env("GIT_DIR", dir.join(".git"))
        .output()
        .map_err(|e| CliError::usage("could not read the demo plan").source(e))?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| CliError::usage("could not read the demo plan").source(e))?;
    v.pointer("/subtasks/0/branch")
        .and_then(|b| b.as_str())
        .map(str::to_string)
        .ok_or_else(|| CliError::usage("the demo plan has no subtasks"))
}

fn step(
    ctx: &mut Ctx,
    dir: &Path,
    program: &str,
    args: &[&str],
    shown: Option<&str>,
) -> Result<(), CliError> {
    run_step(
        ctx,
        dir,
        &Step {
            program,
            args,
            shown,
            env: &[],
            succeeds: true,
        },
    )
}

/// One command of the demo, and whether it must succeed or must be refused.
struct Step<'a> {
    program: &'a str,
    args: &'a [&'a str],
    shown: Option<&'a str>,
    env: &'a [(&'a str, &'a str)],
    succeeds: bool,
}

fn run_step(ctx: &mut Ctx, dir: &Path, s: &Step<'_>) -> Result<(), CliError> {
    let shown = s.shown.map(str::to_string).unwrap_or_else(|| {
        let args: Vec<String> = s.args.iter().map(|a| quote(a)).collect();
        format!("{} {}", s.program, args.join(" "))
    });
    writeln!(ctx.out, "$ {shown}")?;
    ctx.out.flush()?;
    // The hook shims run `git aiflow`: put this binary first on PATH.
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_owned));
    let path = std::env::join_paths(exe_dir.into_iter().chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .map_err(|e| CliError::usage("could not set PATH for the demo").source(e))?;
    let out = Command::new(s.program)
        .args(s.args)
        .current_dir(dir)
        .env("GIT_DIR", dir.join(".git"))
        .env("GIT_WORK_TREE", dir)
        .env("PATH", path)
        .envs(s.env.iter().copied())
        .output()
        .map_err(|e| CliError::usage(format!("could not run `{shown}`")).source(e))?;
    ctx.out.write_all(&out.stdout)?;
    ctx.out.write_all(&out.stderr)?;
    if out.status.success() != s.succeeds {
        return Err(CliError::usage(format!(
            "the demo step `{shown}` {} ({})",
            if s.succeeds {
                "failed"
            } else {
                "was expected to be refused"
            },
            out.status
        )));
    }
    if !s.succeeds {
        writeln!(
            ctx.out,
            "(refused, as it should be: exit {})",
            out.status.code().unwrap_or(-1)
        )?;
    }
    Ok(())
}

/// Quote an argument for display the way a shell user would type it.
fn quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&c))
    {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}
