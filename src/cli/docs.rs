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
    pub shell: Shell,
}

/// The shells there are completions for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    /// bash, for `git-aiflow` and, through git's completion, `git aiflow`.
    Bash,
    /// zsh, for `git-aiflow` and, through zsh's `_git`, `git aiflow`.
    Zsh,
    /// fish.
    Fish,
}

/// Every page: (file name, roff text).
pub fn pages() -> Result<Vec<(String, Vec<u8>)>, std::io::Error> {
    let cmd = Cli::command();
    let mut pages = Vec::new();
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .title("git-aiflow")
        .render(&mut buf)?;
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
    let script = match args.shell {
        Shell::Bash => BASH,
        Shell::Zsh => ZSH,
        Shell::Fish => FISH,
    };
    ctx.out.write_all(script.as_bytes())?;
    Ok(())
}

/// bash: `git-aiflow <TAB>`, and `git aiflow <TAB>` through git's own completion, which calls
/// `_git_aiflow` with its `words`, `cword` and `__git_cmd_idx` set (and `-o nospace`). Install as
/// `git-aiflow` in bash-completion's completions directory, or source it from ~/.bashrc.
const BASH: &str = r#"# bash completion for git-aiflow: `git-aiflow <TAB>` and `git aiflow <TAB>`.
# The candidates come from `git-aiflow __complete <words>`.

# Print the candidates for the words "$@" (the words after the program's name).
__git_aiflow_candidates() {
    local prog="$1"
    shift
    if [ "$prog" = git ] && declare -F __git >/dev/null; then
        __git aiflow __complete -- "$@"
    else
        command "$prog" __complete -- "$@" 2>/dev/null
    fi
}

# Set COMPREPLY from the candidates; $1 is "git" or the program, $2 a suffix to add.
__git_aiflow_reply() {
    local prog="$1" suffix="$2" IFS=$'
' c
    shift 2
    local -a found
    found=($(__git_aiflow_candidates "$prog" "$@"))
    COMPREPLY=()
    if [ "${found[0]-}" = :files ]; then
        compopt -o default 2>/dev/null
        return 0
    fi
    for c in "${found[@]}"; do
        # bash completes only what follows `=` in `--opt=value`.
        COMPREPLY+=("${c#--*=}$suffix")
    done
}

# `git aiflow …`, called by git's completion.
_git_aiflow() {
    local idx="${__git_cmd_idx:-1}"
    __git_aiflow_reply git " " "${words[@]:idx+1:cword-idx}"
}

# `git-aiflow …`.
_git_aiflow_command() {
    compopt +o default 2>/dev/null
    __git_aiflow_reply "${COMP_WORDS[0]}" "" "${COMP_WORDS[@]:1:COMP_CWORD}"
}

complete -F _git_aiflow_command git-aiflow
"#;

/// zsh: `git-aiflow <TAB>`, and `git aiflow <TAB>` through zsh's `_git`, which calls
/// `_git-aiflow`. Install as `_git-aiflow` in a directory on `$fpath`, or source it.
const ZSH: &str = r#"#compdef git-aiflow
# zsh completion for git-aiflow: `git-aiflow <TAB>` and `git aiflow <TAB>`.
# The candidates come from `git-aiflow __complete <words>`.

_git-aiflow() {
    local -a found
    found=("${(@f)$(git-aiflow __complete -- "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    found=("${(@)found:#}")
    if [[ "${found[1]-}" == :files ]]; then
        _files
        return
    fi
    (( ${#found} )) || return 1
    compadd -Q -- "${(@)found}"
}

if [[ "${funcstack[1]-}" == _git-aiflow ]]; then
    _git-aiflow "$@"
elif (( $+functions[compdef] )); then
    compdef _git-aiflow git-aiflow
fi
"#;

/// fish: `git-aiflow <TAB>` and `git aiflow <TAB>`.
const FISH: &str = r#"# fish completion for git-aiflow: `git-aiflow <TAB>` and `git aiflow <TAB>`.
# The candidates come from `git-aiflow __complete <words>`.

function __git_aiflow_complete
    set -l words (commandline -opc)
    # Drop the program: `git-aiflow`, or `git … aiflow`.
    set -l at (contains -i -- aiflow $words)
    if test "$words[1]" = git -a -n "$at"
        set -e words[1..$at]
    else
        set -e words[1]
    end
    set -l found (git-aiflow __complete -- $words (commandline -ct) 2>/dev/null)
    if test "$found[1]" = :files
        __fish_complete_path (commandline -ct)
    else
        printf '%s
' $found
    end
end

complete -c git-aiflow -f -a '(__git_aiflow_complete)'
complete -c git -f -n '__fish_seen_subcommand_from aiflow' -a '(__git_aiflow_complete)'
"#;
