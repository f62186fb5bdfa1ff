//! `git aiflow demo`: one flow, from its spec to a merge the gate refuses and then accepts, in a throwaway
//! repository, with no network and no API key. Every step runs the real binary and real git,
//! and is printed as the command a user would type.

use super::{Ctx, error::CliError};
use crate::git::process::{Finished, Process, Sink};
use std::io::Write;
use std::path::{Path, PathBuf};

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
    let exe = binary()?;
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
    let (origin, teammate) = share(ctx, &dir, &exe)?;
    writeln!(
        ctx.out,
        "\nThe demo repository is {}, its remote {} and a teammate's clone {};\nexplore them, then remove them with `rm -rf {} {} {}`.",
        dir.display(),
        origin.display(),
        teammate.display(),
        dir.display(),
        origin.display(),
        teammate.display(),
    )?;
    Ok(())
}

/// Collaboration: a remote and a teammate's clone; both change the flow at once, and `sync`
/// merges the two without losing either change.
fn share(ctx: &mut Ctx, dir: &Path, exe: &Path) -> Result<(PathBuf, PathBuf), CliError> {
    let aiflow = exe.to_string_lossy().into_owned();
    let sibling = |suffix: &str| {
        let mut name = dir.file_name().unwrap_or_default().to_os_string();
        name.push(suffix);
        dir.with_file_name(name)
    };
    let (origin, teammate) = (sibling("-origin.git"), sibling("-teammate"));
    let (o, t) = (origin.to_string_lossy(), teammate.to_string_lossy());
    writeln!(
        ctx.out,
        "\n# Share the flow: a remote, then a teammate's clone (notes need `sync`; `git push` leaves them out)"
    )?;
    step(ctx, dir, "git", &["clone", "-q", "--bare", ".", &o], None)?;
    step(ctx, dir, "git", &["remote", "add", "origin", &o], None)?;
    step(ctx, dir, &aiflow, &["sync"], Some("git aiflow sync"))?;
    let parent = teammate.parent().unwrap_or(dir).to_owned();
    step(ctx, &parent, "git", &["clone", "-q", &o, &t], None)?;
    for (key, value) in [
        ("user.name", "Grace Teammate"),
        ("user.email", "grace@example.com"),
    ] {
        step(ctx, &teammate, "git", &["config", key, value], None)?;
    }
    step(ctx, &teammate, &aiflow, &["init"], Some("git aiflow init"))?;
    step(ctx, &teammate, &aiflow, &["sync"], Some("git aiflow sync"))?;
    writeln!(
        ctx.out,
        "\n# Both change the plan at once: the teammate adds a subtask, you start the next one"
    )?;
    run_step(
        ctx,
        &teammate,
        &Step {
            program: &aiflow,
            args: &["plan", "edit", "rate-limit"],
            shown: Some("git aiflow plan edit rate-limit   # (the teammate)"),
            env: &[(
                "GIT_EDITOR",
                "f() { printf '\n[[subtask]]\ntitle = \"Load test the limiter at 10k requests per second\"\nphase = \"production\"\ndescription = \"A k6 script and its results in docs/.\"\n' >> \"$1\"; }; f",
            )],
            succeeds: true,
        },
    )?;
    step(
        ctx,
        dir,
        &aiflow,
        &["next", "rate-limit"],
        Some("git aiflow next rate-limit"),
    )?;
    let out = read_json(exe, dir, &["next", "rate-limit", "--json"])?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| CliError::usage("could not read the demo plan").source(e))?;
    let next = v
        .pointer("/subtask/id")
        .and_then(|b| b.as_str())
        .map(str::to_string)
        .ok_or_else(|| CliError::usage("the demo plan has no next subtask"))?;
    step(
        ctx,
        dir,
        &aiflow,
        &["start", &next],
        Some(&format!("git aiflow start {next}")),
    )?;
    writeln!(
        ctx.out,
        "\n# sync merges both sides, flow by flow and subtask by subtask"
    )?;
    step(
        ctx,
        &teammate,
        &aiflow,
        &["sync"],
        Some("git aiflow sync   # (the teammate)"),
    )?;
    step(ctx, dir, &aiflow, &["sync"], Some("git aiflow sync"))?;
    step(
        ctx,
        dir,
        "git",
        &[
            "--no-pager",
            "log",
            "--graph",
            "--format=%h %s",
            "-6",
            "refs/notes/aiflow",
        ],
        None,
    )?;
    step(
        ctx,
        dir,
        &aiflow,
        &["plan", "log", "rate-limit"],
        Some("git aiflow plan log rate-limit"),
    )?;
    step(
        ctx,
        dir,
        &aiflow,
        &["status", "rate-limit"],
        Some("git aiflow status rate-limit"),
    )?;
    Ok((origin, teammate))
}

/// Execution and the review gate: an agent does the first subtask; the gate refuses its
/// unreviewed work, a human approves it, and it is integrated.
fn gate(ctx: &mut Ctx, dir: &Path, exe: &Path, subtask: &str) -> Result<(), CliError> {
    let aiflow = exe.to_string_lossy().into_owned();
    let id = subtask
        .split_once("--")
        .and_then(|(_, rest)| rest.split('-').next())
        .unwrap_or(subtask)
        .to_owned();
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
        "\n# Execute the plan one subtask at a time, each on its own branch"
    )?;
    step(
        ctx,
        dir,
        &aiflow,
        &["next", "rate-limit"],
        Some("git aiflow next rate-limit"),
    )?;
    step(
        ctx,
        dir,
        &aiflow,
        &["start", &id],
        Some(&format!("git aiflow start {id}")),
    )?;
    writeln!(
        ctx.out,
        "\n# A coding agent does the work (here a script standing in for `claude -p` or `codex exec`);\n# its changes become a step commit authored by the agent"
    )?;
    let agent = dir.join(".git").join("demo-model").join("agent.sh");
    std::fs::write(&agent, DEMO_AGENT)
        .map_err(|e| CliError::usage("could not write the demo repository").source(e))?;
    step(
        ctx,
        dir,
        "git",
        &[
            "config",
            "aiflow.agent",
            "sh \"$(git rev-parse --git-common-dir)/demo-model/agent.sh\"",
        ],
        None,
    )?;
    step(
        ctx,
        dir,
        "git",
        &["config", "aiflow.agentName", "Demo Agent"],
        None,
    )?;
    step(ctx, dir, &aiflow, &["exec"], Some("git aiflow exec"))?;
    writeln!(
        ctx.out,
        "\n# Nobody has reviewed it, so the gate refuses it"
    )?;
    run_step(
        ctx,
        dir,
        &Step {
            program: &aiflow,
            args: &["check"],
            shown: Some("git aiflow check"),
            env: &[],
            succeeds: false,
        },
    )?;
    run_step(
        ctx,
        dir,
        &Step {
            program: &aiflow,
            args: &["integrate", &id],
            shown: Some(&format!("git aiflow integrate {id}")),
            env: &[],
            succeeds: false,
        },
    )?;
    writeln!(
        ctx.out,
        "\n# Nor can plain git merge it: the hooks run the same gate"
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
            args: &["merge", "--no-ff", "-q", "--no-edit", subtask],
            shown: None,
            env: &[],
            succeeds: false,
        },
    )?;
    step(ctx, dir, "git", &["merge", "--abort"], None)?;
    step(ctx, dir, "git", &["switch", "-q", subtask], None)?;
    writeln!(
        ctx.out,
        "\n# You review the agent's work and approve it: every commit gets Reviewed-by"
    )?;
    step(
        ctx,
        dir,
        &aiflow,
        &["review", &id],
        Some(&format!("git aiflow review {id}")),
    )?;
    step(
        ctx,
        dir,
        &aiflow,
        &["approve", &id],
        Some(&format!("git aiflow approve {id}")),
    )?;
    step(ctx, dir, &aiflow, &["check"], Some("git aiflow check"))?;
    writeln!(ctx.out, "\n# Now it may enter the integration branch")?;
    step(
        ctx,
        dir,
        &aiflow,
        &["integrate", &id],
        Some(&format!("git aiflow integrate {id}")),
    )?;
    step(
        ctx,
        dir,
        "git",
        &[
            "--no-pager",
            "log",
            "--graph",
            "--format=%h %s%n%(trailers:key=Aiflow-Step,key=Assisted-by,key=Reviewed-by)",
            "aiflow/rate-limit",
        ],
        None,
    )?;
    step(
        ctx,
        dir,
        &aiflow,
        &["status", "rate-limit"],
        Some("git aiflow status rate-limit"),
    )
}

/// The demo's agent: it writes a token bucket.
const DEMO_AGENT: &str = r#"cat > /dev/null
echo "demo agent: writing limiter.py for subtask $AIFLOW_SUBTASK (step $AIFLOW_STEP)"
cat > limiter.py <<'PY'
import time


class TokenBucket:
    """A token bucket refilled continuously: rate tokens per second, up to burst."""

    def __init__(self, rate, burst):
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = burst, time.monotonic()

    def take(self, n=1):
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < n:
            return False
        self.tokens -= n
        return True
PY
printf 'Add a token bucket with continuous refill\n' > "$AIFLOW_MESSAGE_FILE"
"#;

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
    let out = read_json(exe, dir, &["plan", "show", "rate-limit", "--json"])?;
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
    let exe_dir = binary().ok().and_then(|e| e.parent().map(Path::to_owned));
    let path = std::env::join_paths(exe_dir.into_iter().chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .map_err(|e| CliError::usage("could not set PATH for the demo").source(e))?;
    let mut cmd = Process::new(s.program, format!("`{shown}`"))
        .args(s.args)
        .dir(dir)
        // The demo repository's own identity (Demo User), whatever the environment says.
        .env_remove("GIT_AUTHOR_NAME")
        .env_remove("GIT_AUTHOR_EMAIL")
        .env_remove("GIT_COMMITTER_NAME")
        .env_remove("GIT_COMMITTER_EMAIL")
        .env("PATH", path);
    // Pin the demo's repositories, whatever repository the demo was started in; a step run
    // outside them (a clone) gets neither, or git would clone into the demo's work tree.
    cmd = if dir.join(".git").exists() {
        cmd.env("GIT_DIR", dir.join(".git"))
            .env("GIT_WORK_TREE", dir)
    } else {
        cmd.env_remove("GIT_DIR").env_remove("GIT_WORK_TREE")
    };
    let out = cmd
        .envs(s.env.iter().copied())
        .stdout(Sink::capture())
        .stderr(Sink::capture())
        .run()
        .map_err(|e| CliError::usage(format!("could not run `{shown}`")).process(e))?;
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

/// The git-aiflow binary the demo runs: this one, or when the command runs in-process in
/// another program (a test), the one on PATH.
fn binary() -> Result<std::path::PathBuf, CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::usage("could not find the running binary").source(e))?;
    let is_ours = exe
        .file_stem()
        .is_some_and(|n| n.to_string_lossy() == "git-aiflow");
    if is_ours {
        return Ok(exe);
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("git-aiflow"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            CliError::usage("could not find the git-aiflow binary on PATH")
                .hint("install it, or put its directory on PATH")
        })
}

/// Run `exe args` in the demo repository and return what it printed, to read JSON from.
fn read_json(exe: &Path, dir: &Path, args: &[&str]) -> Result<Finished, CliError> {
    Process::new(exe, "the demo's git-aiflow")
        .args(args)
        .dir(dir)
        .env("GIT_DIR", dir.join(".git"))
        .stdout(Sink::capture())
        .stderr(Sink::capture())
        .run()
        .map_err(|e| CliError::usage("could not read the demo plan").process(e))
}
