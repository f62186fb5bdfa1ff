//! `git aiflow man` and `git aiflow completions`: the manual and shell completions, generated
//! from the clap definitions so they never drift from the real options.
//!
//! git turns `git aiflow --help` into `man git-aiflow`; `man --install` puts the pages in
//! `<dir of the binary>/../share/man/man1`, which man-db searches for every directory on PATH.

use super::{Cli, Ctx, error::CliError};
use clap::CommandFactory;
use std::io::Write;
use std::path::PathBuf;

/// Print or install the manual pages.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write the pages (git-aiflow.1 and one per subcommand) to the man directory next to the
    /// binary, where `man` and `git aiflow --help` find them.
    #[arg(long)]
    pub install: bool,
    /// With --install: the man1 directory to write to instead.
    #[arg(long, value_name = "dir", requires = "install")]
    pub dir: Option<PathBuf>,
}

/// Print shell completions.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Every page: (file name, roff text).
pub fn pages() -> Result<Vec<(String, Vec<u8>)>, std::io::Error> {
    let cmd = Cli::command();
    let mut pages = Vec::new();
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .title("git-aiflow")
        .render(&mut buf)?;
    buf.extend_from_slice(crate::config_keys::man_section().as_bytes());
    pages.push(("git-aiflow.1".to_string(), buf));
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() {
            continue;
        }
        let name = format!("git-aiflow-{}", sub.get_name());
        let sub = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("git aiflow {}", sub.get_name()));
        let mut buf = Vec::new();
        clap_mangen::Man::new(sub)
            .title(name.clone())
            .render(&mut buf)?;
        pages.push((format!("{name}.1"), buf));
    }
    Ok(pages)
}

pub fn man(ctx: &mut Ctx, args: &ManArgs) -> Result<(), CliError> {
    let pages = pages()?;
    if !args.install {
        ctx.out.write_all(&pages[0].1)?;
        return Ok(());
    }
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            let exe = std::env::current_exe()
                .map_err(|e| CliError::usage("could not find the running binary").source(e))?;
            let bin = exe
                .parent()
                .ok_or_else(|| CliError::usage("the binary has no directory"))?;
            bin.join("../share/man/man1")
        }
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::usage(format!("could not create {}", dir.display())).source(e))?;
    for (name, text) in &pages {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| {
            CliError::usage(format!("could not write {}", path.display())).source(e)
        })?;
    }
    let shown = std::fs::canonicalize(&dir).unwrap_or(dir);
    writeln!(
        ctx.out,
        "Installed {} manual pages in {}",
        pages.len(),
        shown.display()
    )?;
    Ok(())
}

pub fn completions(ctx: &mut Ctx, args: &CompletionsArgs) -> Result<(), CliError> {
    let mut cmd = Cli::command();
    // Into memory first: clap_complete panics on a failed write (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "git-aiflow", &mut script);
    ctx.out.write_all(&script)?;
    Ok(())
}
