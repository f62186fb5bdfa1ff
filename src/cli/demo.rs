//! `git aiflow demo`: one flow, from its spec to a merge the gate refuses and then accepts, in a throwaway
//! repository, with no network and no API key. Every step runs the real binary and real git,
//! and is printed as the command a user would type; the script is [`crate::work::demo`].

use super::{Ctx, error::CliError};
use crate::work::demo;
use std::io::Write;
use std::path::PathBuf;

pub use crate::work::demo::{DEMO_ANSWERS, DEMO_SPEC};

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
    demo::prepare(&dir)?;
    let exe = demo::binary()?;
    let repos = demo::run(&dir, &exe, &mut ctx.out)?;
    let (dir, origin, teammate) = (
        repos.dir.display(),
        repos.origin.display(),
        repos.teammate.display(),
    );
    writeln!(
        ctx.out,
        "\nThe demo repository is {dir}, its remote {origin} and a teammate's clone {teammate};\nexplore them, then remove them with `rm -rf {dir} {origin} {teammate}`.",
    )?;
    Ok(())
}
