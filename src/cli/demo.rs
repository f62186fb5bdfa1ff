//! `git aiflow demo`: one flow, start to finish as far as this build goes, in a throwaway
//! repository, with no network and no API key. Every step runs the real binary and real git,
//! and is printed as the command a user would type.

use super::{Ctx, error::CliError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The spec the demo uses.
pub const DEMO_SPEC: &str = include_str!("../../fixtures/specs/rate-limit.md");

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
    writeln!(
        ctx.out,
        "\nThe demo repository is {}; explore it, then remove it with `rm -rf {}`.",
        dir.display(),
        dir.display()
    )?;
    Ok(())
}

fn step(
    ctx: &mut Ctx,
    dir: &Path,
    program: &str,
    args: &[&str],
    shown: Option<&str>,
) -> Result<(), CliError> {
    let shown = shown
        .map(str::to_string)
        .unwrap_or_else(|| format!("{program} {}", args.join(" ")));
    writeln!(ctx.out, "$ {shown}")?;
    ctx.out.flush()?;
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("GIT_DIR", dir.join(".git"))
        .env("GIT_WORK_TREE", dir)
        .output()
        .map_err(|e| CliError::usage(format!("could not run `{shown}`")).source(e))?;
    ctx.out.write_all(&out.stdout)?;
    ctx.out.write_all(&out.stderr)?;
    if !out.status.success() {
        return Err(CliError::usage(format!(
            "the demo step `{shown}` failed ({})",
            out.status
        )));
    }
    Ok(())
}
