//! Shell completion, driven in the real shells: bash with git's own completion loaded (for
//! `git aiflow <TAB>`) and ours, zsh and fish.

use crate::harness::TestRepo;
use std::path::{Path, PathBuf};

/// git's bash completion, as the `git` package installs it (`.ci/run` installs it if missing).
const GIT_COMPLETION: &str = "/usr/share/bash-completion/completions/git";

/// A repository with two flows: `rate-limit`, planned (revisions 1 and 2, subtasks `limiter`
/// and `headers`), and `docs`, not planned.
fn repo_with_flows() -> TestRepo {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.plan_subtasks(&[("limiter", "Limiter"), ("headers", "Headers")]);
    repo.aiflow(&["new", "docs", "-m", "Write the docs", "--base", "main"])
        .ok();
    repo.git(&["checkout", "-q", "main"]);
    repo
}

/// Each case: the command `complete -p` is asked about, then the words (`COMP_WORDS`), the
/// last one being completed. Returns `COMPREPLY` for each case, the words joined by spaces.
fn bash_complete(repo: &TestRepo, dir: &Path, cases: &[(&str, &[&str])]) -> Vec<Vec<String>> {
    assert!(
        Path::new(GIT_COMPLETION).is_file(),
        "{GIT_COMPLETION} is missing: install git's bash completion (.ci/run does)"
    );
    let ours = repo.write(
        "../completion.bash",
        &repo.aiflow(&["completions", "bash"]).ok(),
    );
    let mut script = format!(
        r#"source {GIT_COMPLETION}
source {ours}
run() {{
    local cmd=$1
    shift
    COMP_WORDS=("$@")
    COMP_CWORD=$(( $# - 1 ))
    COMP_LINE="$*"
    COMP_POINT=${{#COMP_LINE}}
    local spec fn
    spec=$(complete -p "$cmd") || {{ echo "no completion for $cmd"; return; }}
    fn=${{spec##*-F }}
    fn=${{fn%% *}}
    COMPREPLY=()
    "$fn" "$cmd" "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
    printf '%s|' "${{COMPREPLY[@]}}"
    echo
}}
"#,
        ours = ours.display()
    );
    for (cmd, words) in cases {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        script.push_str(&format!("run {cmd} {}\n", quoted.join(" ")));
    }
    let out = repo
        .command_in("bash", dir)
        .args(["--norc", "--noprofile", "-c", &script])
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Vec<String>> = stdout
        .lines()
        .map(|l| {
            l.split('|')
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        })
        .collect();
    assert_eq!(lines.len(), cases.len(), "{stdout}");
    lines
}

#[test]
fn bash_completes_both_spellings_at_every_depth_with_values_from_the_repository() {
    let repo = repo_with_flows();
    let cases: &[(&str, &[&str])] = &[
        ("git-aiflow", &["git-aiflow", "pl"]),
        ("git-aiflow", &["git-aiflow", "plan", "sh"]),
        ("git-aiflow", &["git-aiflow", "plan", ""]),
        ("git-aiflow", &["git-aiflow", "hooks", ""]),
        ("git-aiflow", &["git-aiflow", "new", "--ti"]),
        ("git-aiflow", &["git-aiflow", "status", ""]),
        (
            "git-aiflow",
            &["git-aiflow", "start", "--flow", "rate-limit", ""],
        ),
        (
            "git-aiflow",
            &["git-aiflow", "plan", "show", "rate-limit", "--revision", ""],
        ),
        (
            "git-aiflow",
            &["git-aiflow", "plan", "--provider", "=", "an"],
        ),
        ("git-aiflow", &["git-aiflow", "ho"]),
        // git's completion calls `_git_aiflow` for `git aiflow …`.
        ("git", &["git", "aiflow", "pl"]),
        ("git", &["git", "aiflow", "plan", "sh"]),
        ("git", &["git", "aiflow", "status", "rate"]),
        (
            "git",
            &["git", "aiflow", "approve", "--flow", "rate-limit", "h"],
        ),
        ("git", &["git", "aiflow", "plan", "diff", "rate-limit", ""]),
        ("git", &["git", "aiflow", "new", "--"]),
        ("git", &["git", "aiflow", "audit", "--provider", "co"]),
        // git's completion offers `aiflow` among the commands: it is on PATH.
        ("git", &["git", "aif"]),
        ("git-aiflow", &["git-aiflow", "new", "--base", "ma"]),
        ("git-aiflow", &["git-aiflow", "check", "main..aiflow/r"]),
    ];
    let got = bash_complete(&repo, &repo.path, cases);
    let want: &[&[&str]] = &[
        &["plan"],
        &["show"],
        &[
            "show",
            "edit",
            "log",
            "diff",
            "expand",
            "docs",
            "rate-limit",
        ],
        &["install", "uninstall", "status"],
        &["--title"],
        &["docs", "rate-limit"],
        &["limiter", "headers"],
        &["1", "2"],
        &["anthropic"],
        // The hidden `hook` is never offered.
        &["hooks"],
        // git's completion has `-o nospace`: each word carries its space.
        &["plan "],
        &["show "],
        &["rate-limit "],
        &["headers "],
        &["1 ", "2 "],
        &[
            "--message ",
            "--file ",
            "--base ",
            "--title ",
            "--json ",
            "--help ",
        ],
        &["command "],
        &["aiflow "],
        &["main"],
        &["main..aiflow/rate-limit"],
    ];
    for (((cmd, words), got), want) in cases.iter().zip(&got).zip(want) {
        assert_eq!(got, want, "{cmd}: {words:?}");
    }
}

/// Installed as the README says (`git-aiflow` in bash-completion's user directory), the script
/// is loaded on demand by bash-completion for both spellings: for `git aiflow`, git's completion
/// asks the loader for `git-aiflow` when it has no `_git_aiflow`.
#[test]
fn bash_completion_loads_the_installed_script_for_both_spellings() {
    const LOADER: &str = "/usr/share/bash-completion/bash_completion";
    assert!(
        Path::new(LOADER).is_file(),
        "{LOADER} is missing: install bash-completion (.ci/run does)"
    );
    let repo = repo_with_flows();
    let user_dir = repo.sibling("bash-completion");
    std::fs::create_dir_all(user_dir.join("completions")).expect("mkdir");
    std::fs::write(
        user_dir.join("completions/git-aiflow"),
        repo.aiflow(&["completions", "bash"]).ok(),
    )
    .expect("write");
    let script = format!(
        r#"source {LOADER}
run() {{
    local cmd=$1
    shift
    COMP_WORDS=("$@")
    COMP_CWORD=$(( $# - 1 ))
    COMP_LINE="$*"
    COMP_POINT=${{#COMP_LINE}}
    local spec fn
    spec=$(complete -p "$cmd" 2>/dev/null) || {{ _completion_loader "$cmd"; spec=$(complete -p "$cmd"); }}
    fn=${{spec##*-F }}
    fn=${{fn%% *}}
    COMPREPLY=()
    "$fn" "$cmd" "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
    printf '%s|' "${{COMPREPLY[@]}}"
    echo
}}
run git git aiflow plan sh
run git-aiflow git-aiflow status r
"#
    );
    let out = repo
        .command("bash")
        .args(["--norc", "--noprofile", "-c", &script])
        .env("BASH_COMPLETION_USER_DIR", &user_dir)
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "show |\nrate-limit|\n");
}

/// `git -C <dir> aiflow …` and `git-aiflow -C <dir> …` read the flows of that repository.
#[test]
fn bash_completion_follows_dash_c() {
    let repo = repo_with_flows();
    let elsewhere = repo.sibling("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    let path = repo.path.to_str().expect("utf-8");
    let cases: &[(&str, &[&str])] = &[
        ("git", &["git", "-C", path, "aiflow", "status", ""]),
        ("git-aiflow", &["git-aiflow", "-C", path, "status", ""]),
        // Outside a repository: no candidates, no error.
        ("git-aiflow", &["git-aiflow", "status", ""]),
    ];
    let got = bash_complete(&repo, &elsewhere, cases);
    assert_eq!(got[0], ["docs ", "rate-limit "]);
    assert_eq!(got[1], ["docs", "rate-limit"]);
    assert!(got[2].is_empty(), "{:?}", got[2]);
}

/// The zsh script loads under compinit, registers `_git-aiflow` (the function zsh's `_git`
/// calls for `git aiflow`) and offers what `__complete` says.
#[test]
fn zsh_script_loads_and_completes() {
    let repo = repo_with_flows();
    let script = repo.write("../_git-aiflow", &repo.aiflow(&["completions", "zsh"]).ok());
    let out = repo
        .command("zsh")
        .args([
            "-fc",
            &format!(
                r#"autoload -Uz compinit && compinit -u -D && source {s} || exit 3
print -r -- "registered: ${{_comps[git-aiflow]}}"
compadd() {{ print -r -- "shown: ${{(j:|:)shown}}"; shift 5; print -r -- "offered: $*"; }}
words=(git-aiflow plan sh); CURRENT=3; _git-aiflow
words=(aiflow status ""); CURRENT=3; _git-aiflow"#,
                s = script.display()
            ),
        ])
        .output()
        .expect("run zsh (.ci/run installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(
        stdout,
        "registered: _git-aiflow\nshown: show -- Show the current plan (or --revision N)\n\
         offered: show\nshown: docs|rate-limit\noffered: docs rate-limit\n"
    );
}

/// In an interactive zsh with compinit and zsh's own `_git`, TAB completes `git aiflow …` and
/// `git-aiflow …` with the script installed as `_git-aiflow` on `$fpath`: the line is then
/// echoed, to read what TAB made of it.
#[test]
fn zsh_tab_completes_both_spellings() {
    let repo = repo_with_flows();
    let fpath = repo.sibling("zfunc");
    std::fs::create_dir_all(&fpath).expect("mkdir");
    std::fs::write(
        fpath.join("_git-aiflow"),
        repo.aiflow(&["completions", "zsh"]).ok(),
    )
    .expect("write");
    let mut script = format!(
        "zmodload zsh/zpty\nzpty z 'zsh -f -i'\nzpty -w z 'PS1=\"> \"; fpath=({} $fpath); \
         autoload -Uz compinit; compinit -u -D'\n",
        fpath.display()
    );
    let lines = [
        "git aiflow plan sh",
        "git-aiflow pl",
        "git aiflow status rate",
        "git aiflow start --flow rate-limit li",
    ];
    for line in lines {
        script.push_str(&format!(
            "zpty -w -n z $'{line}\\t\\C-aecho LINE:\\n'\nzpty -r z out $'*\\nLINE:*\\n' || exit 4\n\
             print -r -- \"${{${{out##*$'\\n'LINE:}}%%$'\\r'*}}\"\n"
        ));
    }
    script.push_str("zpty -d z\n");
    let out = repo
        .command("timeout")
        .args(["60", "zsh", "-f", "-c", &script])
        .output()
        .expect("run zsh (.ci/run installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout,
        "git aiflow plan show\ngit-aiflow plan\ngit aiflow status rate-limit\n\
         git aiflow start --flow rate-limit limiter\n"
    );
}

/// The fish script parses, and `complete -C` (what fish runs on TAB) offers the candidates,
/// for `git-aiflow` and for `git aiflow`.
#[test]
fn fish_script_loads_and_completes() {
    let repo = repo_with_flows();
    let script: PathBuf = repo.write(
        "../git-aiflow.fish",
        &repo.aiflow(&["completions", "fish"]).ok(),
    );
    let syntax = repo
        .command("fish")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("run fish (.ci/run installs it)");
    assert!(
        syntax.status.success(),
        "{}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    let out = repo
        .command("fish")
        .args([
            "--no-config",
            "-c",
            &format!(
                r#"source {s}
complete -C "git-aiflow pl"
complete -C "git-aiflow plan sh"
complete -C "git aiflow status r"
complete -C "git-aiflow start --flow rate-limit l""#,
                s = script.display()
            ),
        ])
        .output()
        .expect("run fish");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout,
        "plan\tAsk for clarifying questions, then for a plan; show, edit, log or diff the plan\n\
         show\tShow the current plan (or --revision N)\nrate-limit\nlimiter\n"
    );
}
