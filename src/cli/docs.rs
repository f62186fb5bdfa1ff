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

/// The page of the command at `path` (`["plan", "show"]` is `git-aiflow-plan-show`).
pub fn page_name(path: &[String]) -> String {
    std::iter::once("git-aiflow")
        .chain(path.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("-")
}

/// Every page: (file name, roff text). One for `git aiflow` and one for each visible command at
/// every depth (`git-aiflow-plan-show.1`); every page a page names is among them.
pub fn pages() -> Result<Vec<(String, Vec<u8>)>, std::io::Error> {
    let mut top = Cli::command();
    top.build();
    let mut pages = Vec::new();
    add_pages(&top, &[], &mut pages)?;
    Ok(pages)
}

fn add_pages(
    cmd: &clap::Command,
    path: &[String],
    pages: &mut Vec<(String, Vec<u8>)>,
) -> Result<(), std::io::Error> {
    let name = page_name(path);
    pages.push((format!("{name}.1"), page(cmd, path)?));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let mut path = path.to_vec();
        path.push(sub.get_name().to_string());
        add_pages(sub, &path, pages)?;
    }
    Ok(())
}

/// roff's preamble, which clap_mangen writes before each section it renders.
const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// `text` as roff text: backslashes and hyphens escaped, no line read as a request.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    escaped
        .lines()
        .map(|l| {
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn bold(text: &str) -> String {
    format!("\\fB{}\\fR", roff(text))
}

fn italic(text: &str) -> String {
    format!("\\fI{}\\fR", roff(text))
}

/// A page reference: `git-aiflow-plan(1)`.
fn page_ref(name: &str) -> String {
    format!("{}(1)", bold(name))
}

/// The argument as the synopsis shows it: `[--provider <name>]`, `[-C <path>]`, `<subtask>`.
fn synopsis_arg(arg: &clap::Arg) -> String {
    let value_names: Vec<String> = arg
        .get_value_names()
        .map(|v| v.iter().map(|n| n.to_string()).collect())
        .unwrap_or_else(|| vec![arg.get_id().to_string()]);
    let value = value_names
        .iter()
        .map(|n| format!("<{}>", n.to_lowercase()))
        .collect::<Vec<_>>()
        .join(" ");
    let many = matches!(arg.get_action(), clap::ArgAction::Append)
        || arg.get_num_args().is_some_and(|n| n.max_values() > 1);
    let dots = if many { "..." } else { "" };
    let takes = arg.get_action().takes_values();
    let optional_value = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
    let text = if arg.is_positional() {
        format!("{}{dots}", italic(&value))
    } else {
        let flag = match (arg.get_long(), arg.get_short()) {
            (Some(l), _) => format!("--{l}"),
            (None, Some(c)) => format!("-{c}"),
            (None, None) => return String::new(),
        };
        match (takes, optional_value) {
            (false, _) => bold(&flag),
            (true, false) => format!("{} {}{dots}", bold(&flag), italic(&value)),
            (true, true) => format!("{} [{}]{dots}", bold(&flag), italic(&value)),
        }
    };
    if arg.is_required_set() {
        text
    } else {
        format!("[{text}]")
    }
}

/// What the pages show of `cmd`: its arguments, less `--help`/`--version` and, below the top,
/// the global `-C` (git-aiflow(1) has it).
fn shown_args(cmd: &clap::Command, top: bool) -> impl Iterator<Item = &clap::Arg> {
    cmd.get_arguments().filter(move |a| {
        !a.is_hide_set()
            && !matches!(a.get_id().as_str(), "help" | "version")
            && (top || !a.is_global_set())
    })
}

fn synopsis(cmd: &clap::Command, path: &[String]) -> String {
    let name = std::iter::once("git aiflow")
        .chain(path.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let top = path.is_empty();
    let mut lines = Vec::new();
    let subs = cmd.get_subcommands().any(|s| !s.is_hide_set());
    let own: Vec<String> = shown_args(cmd, top)
        .filter(|a| !a.is_positional())
        .map(synopsis_arg)
        .chain(
            shown_args(cmd, top)
                .filter(|a| a.is_positional())
                .map(synopsis_arg),
        )
        .collect();
    if top {
        lines.push(format!(
            "{} {} {} [{}]",
            bold(&name),
            own.join(" "),
            italic("<command>"),
            italic("<args>")
        ));
        lines.push(format!("{} {}", bold(&name), bold("-h")));
        lines.push(format!("{} {}", bold(&name), bold("--version")));
    } else {
        if !subs || shown_args(cmd, false).next().is_some() {
            lines.push(
                format!("{} {}", bold(&name), own.join(" "))
                    .trim_end()
                    .to_string(),
            );
        }
        if subs {
            lines.push(format!(
                "{} {} [{}]",
                bold(&name),
                italic("<command>"),
                italic("<args>")
            ));
        }
    }
    lines.join("\n.br\n")
}

/// One page.
fn page(cmd: &clap::Command, path: &[String]) -> Result<Vec<u8>, std::io::Error> {
    let name = page_name(path);
    let top = path.is_empty();
    let mut shown = cmd.clone();
    if !top {
        shown = shown.mut_arg("chdir", |a| a.hide(true));
    }
    let man = clap_mangen::Man::new(shown);
    let mut out = String::new();
    let mut section = |render: &dyn Fn(&mut Vec<u8>) -> Result<(), std::io::Error>| {
        let mut buf = Vec::new();
        render(&mut buf)?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let text = match out.is_empty() {
            true => text,
            false => text.strip_prefix(PREAMBLE).unwrap_or(&text).to_string(),
        };
        out.push_str(&text);
        Ok::<(), std::io::Error>(())
    };
    // clap_mangen drops the empty date from .TH, which shifts the source into its place.
    section(&|w| {
        writeln!(
            w,
            "{PREAMBLE}.TH {name} 1 \"\" \"git-aiflow {}\" \"Git Manual\"",
            env!("CARGO_PKG_VERSION")
        )
    })?;
    // As git's pages: no hyphenation (config keys and options stay whole), ragged right.
    section(&|w| {
        w.write_all(b".nh\n.ad l\n")?;
        let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
        writeln!(w, ".SH NAME\n{} \\- {}", roff(&name), roff(&about))?;
        writeln!(w, ".SH SYNOPSIS\n{}", synopsis(cmd, path))
    })?;
    section(&|w| man.render_description_section(w))?;
    if shown_args(cmd, top).next().is_some() {
        section(&|w| man.render_options_section(w))?;
    }
    let subs: Vec<&clap::Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    let mut text = String::new();
    if !subs.is_empty() {
        text.push_str(".SH COMMANDS\n");
        for sub in &subs {
            let mut p = path.to_vec();
            p.push(sub.get_name().to_string());
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            text.push_str(&format!(
                ".TP\n{}\n{}\n",
                page_ref(&page_name(&p)),
                roff(&about)
            ));
        }
    }
    if top {
        text.push_str(&configuration_section());
        text.push_str(&format!(".SH ENVIRONMENT\n{}\n", environment_section()));
    }
    text.push_str(&format!(".SH \"EXIT STATUS\"\n{}\n", exit_status_section()));
    let examples = examples(path);
    if !examples.is_empty() {
        text.push_str(".SH EXAMPLES\n");
        for (line, what) in examples {
            text.push_str(&format!(".TP\n{}\n{}\n", bold(line), roff(what)));
        }
    }
    if top && let Some(version) = cmd.get_version() {
        text.push_str(&format!(".SH VERSION\n{}\n", roff(version)));
    }
    text.push_str(".SH \"SEE ALSO\"\n");
    let mut see: Vec<String> = Vec::new();
    for n in (0..path.len()).rev() {
        see.push(page_ref(&page_name(&path[..n])));
    }
    if top {
        see.extend(["git(1)", "git-notes(1)", "githooks(5)"].map(|p| {
            let (n, s) = p.split_once('(').unwrap_or((p, ""));
            format!("{}({s}", bold(n))
        }));
    }
    text.push_str(&see.join(", "));
    text.push('\n');
    section(&|w| w.write_all(text.as_bytes()))?;
    Ok(out.into_bytes())
}

/// The CONFIGURATION section: every `aiflow.*` key, from the one table of them
/// ([`crate::config_keys`]).
pub fn configuration_section() -> String {
    crate::config_keys::man_section()
}

fn environment_section() -> String {
    let vars: [(&str, &str); 9] = [
        (
            "GIT_DIR, GIT_WORK_TREE, GIT_COMMON_DIR, GIT_CONFIG_GLOBAL, GIT_CONFIG_SYSTEM, GIT_CONFIG_NOSYSTEM",
            "As for git: which repository and which configuration files are read.",
        ),
        (
            "GIT_AUTHOR_NAME, GIT_AUTHOR_EMAIL, GIT_COMMITTER_NAME, GIT_COMMITTER_EMAIL, GIT_AUTHOR_DATE, GIT_COMMITTER_DATE",
            "As for git: the identity and dates of commits and of the records in the flow's note. The committer is the reviewer for approve.",
        ),
        (
            "GIT_EDITOR, VISUAL, EDITOR",
            "The editor for new, spec edit, plan edit and answer, in git's order (core.editor after GIT_EDITOR).",
        ),
        (
            "GIT_PAGER, PAGER",
            "The pager for review: the one git would use (GIT_PAGER, core.pager, PAGER, in that order).",
        ),
        ("NO_COLOR", "When set, nothing is coloured."),
        (
            "OPENAI_API_KEY, ANTHROPIC_API_KEY",
            "The API keys of the openai and anthropic providers (or the variable aiflow.apiKeyEnv names). Keys are never read from config, and are redacted from everything written.",
        ),
        (
            "AIFLOW_TEMPLATE, AIFLOW_PROMPT_FILE",
            "Set for the command provider (aiflow.command) and the agent (aiflow.agent): the prompt template's name, and a file holding the prompt.",
        ),
        (
            "AIFLOW_FLOW, AIFLOW_SUBTASK, AIFLOW_STEP, AIFLOW_BRANCH, AIFLOW_MESSAGE_FILE",
            "Set for the agent: the flow, the subtask, the step it makes, its branch, and a file where a commit message may be written.",
        ),
        (
            "AIFLOW_TREE",
            "Set for the test command (aiflow.test), with AIFLOW_FLOW and AIFLOW_SUBTASK: the tree being tested.",
        ),
    ];
    vars.iter()
        .map(|(names, what)| format!(".TP\n{}\n{}", bold(names), roff(what)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn exit_status_section() -> String {
    [
        (
            "0",
            "Success (also when standard output is a closed pipe, as in git aiflow list | head -1).",
        ),
        (
            "1",
            "Refused: the gate failed, or you must act first (questions to answer, a subtask not approved, a dependency not merged, nothing to commit, ...).",
        ),
        (
            "2",
            "Usage, input or environment error: a bad option or slug, an unknown flow, not a repository, a provider that cannot be reached.",
        ),
    ]
    .iter()
    .map(|(code, what)| format!(".TP\n{}\n{}", bold(code), roff(what)))
    .collect::<Vec<_>>()
    .join("\n")
}

/// Examples per page: (command line, what it does).
fn examples(path: &[String]) -> Vec<(&'static str, &'static str)> {
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    match path.as_slice() {
        [] => vec![
            (
                "git aiflow init",
                "Once per repository: show the flows' notes in git log.",
            ),
            (
                "git aiflow new rate-limit -F rate-limit.md",
                "Start a flow from a spec.",
            ),
            (
                "git aiflow plan rate-limit",
                "Ask the model for clarifying questions, then (once answered) for a plan.",
            ),
            (
                "git aiflow next rate-limit",
                "Name the next subtask whose dependencies are merged.",
            ),
            (
                "git aiflow start k3f9ab",
                "Create the subtask's branch and switch to it.",
            ),
            (
                "git aiflow step -m \"Add the token bucket\"",
                "Commit the work tree as one step of the subtask.",
            ),
            (
                "git aiflow approve k3f9ab",
                "As the reviewer: add Reviewed-by to its commits and record the review.",
            ),
            (
                "git aiflow integrate k3f9ab",
                "Merge the approved subtask into the flow's integration branch.",
            ),
            (
                "git aiflow finish rate-limit",
                "Merge the complete flow into its base.",
            ),
        ],
        ["init"] => vec![(
            "git aiflow init",
            "Set notes.displayRef (git log shows a few lines per note) and notes.rewriteRef; running it again changes nothing.",
        )],
        ["new"] => vec![
            (
                "git aiflow new rate-limit -F rate-limit.md",
                "Start the flow rate-limit from a spec in a file.",
            ),
            (
                "git aiflow new",
                "Write the spec in the editor; the slug comes from its title.",
            ),
        ],
        ["spec", "edit"] => vec![(
            "git aiflow spec edit rate-limit",
            "Revise the spec in the editor.",
        )],
        ["plan"] => vec![
            (
                "git aiflow plan rate-limit",
                "Ask for clarifying questions, then, once they are answered, for a plan.",
            ),
            (
                "git aiflow plan --again --provider anthropic",
                "Ask another provider for a new revision of the current flow's plan.",
            ),
        ],
        ["plan", "show"] => vec![(
            "git aiflow plan show rate-limit --revision 1",
            "Show the first revision of the plan.",
        )],
        ["plan", "edit"] => vec![(
            "git aiflow plan edit rate-limit",
            "Review the plan as TOML in the editor: drop, add, reorder.",
        )],
        ["plan", "diff"] => vec![(
            "git aiflow plan diff rate-limit 1 2",
            "What changed between revisions 1 and 2.",
        )],
        ["answer"] => vec![(
            "git aiflow answer rate-limit --answer 2=\"Redis 7\"",
            "Answer question 2 without the editor.",
        )],
        ["start"] => vec![(
            "git aiflow start k3f9ab --worktree",
            "Start the subtask in a linked worktree.",
        )],
        ["exec"] => vec![(
            "git aiflow exec --fix 2",
            "Run the agent on the current subtask; while the tests fail, up to twice more.",
        )],
        ["approve"] => vec![(
            "git aiflow approve k3f9ab -m \"Looks right\"",
            "Approve the subtask with a comment.",
        )],
        ["reject"] => vec![(
            "git aiflow reject k3f9ab -m \"Handle the empty bucket\"",
            "Request changes.",
        )],
        ["check"] => vec![(
            "git aiflow check origin/main..HEAD",
            "Report the commits of the range that lack a valid review; exit 1 if any.",
        )],
        ["hooks", "install"] => vec![(
            "git aiflow hooks install",
            "Install the gate's hooks in this repository.",
        )],
        ["sync"] => vec![(
            "git aiflow sync origin",
            "Fetch, merge and push the flows and their branches.",
        )],
        ["man"] => vec![(
            "git aiflow man --install",
            "Install the pages next to the binary, where man and git help find them.",
        )],
        ["completions"] => vec![(
            "git aiflow completions bash > ~/.local/share/bash-completion/completions/git-aiflow",
            "Complete git-aiflow and git aiflow in bash.",
        )],
        _ => Vec::new(),
    }
}

/// Show the manual page of the command at `path` with `man`, as git's `<cmd> --help` does.
/// `None` when there is no such page (not installed, or no `man`): the caller prints clap's
/// help instead.
pub fn open_manual(path: &[String]) -> Option<std::process::ExitCode> {
    let page = page_name(path);
    let found = std::process::Command::new("man")
        .args(["-w", &page])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    if !found.success() {
        return None;
    }
    let shown = std::process::Command::new("man").arg(&page).status().ok()?;
    Some(std::process::ExitCode::from(if shown.success() {
        0
    } else {
        2
    }))
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
        # Without the description after the tab; bash completes only what follows `=` in
        # `--opt=value`.
        c="${c%%$'\t'*}"
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
    local -a values shown
    local c
    for c in "${found[@]}"; do
        values+=("${c%%$'\t'*}")
        if [[ "$c" == *$'\t'* ]]; then
            shown+=("${c%%$'\t'*} -- ${c#*$'\t'}")
        else
            shown+=("$c")
        fi
    done
    compadd -Q -l -d shown -- "${(@)values}"
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
