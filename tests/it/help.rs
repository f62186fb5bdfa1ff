//! Help the git way: `-h` from clap, `--help` through git and man, and shell completions.

use crate::harness::{BIN, TestRepo};
use std::path::Path;

#[test]
fn dash_h_prints_clap_help() {
    let repo = TestRepo::new();
    let out = repo.aiflow(&["-h"]).ok();
    assert!(
        out.contains("Usage: git aiflow [OPTIONS] <COMMAND>"),
        "{out}"
    );
    for cmd in [
        "init",
        "new",
        "spec",
        "list",
        "status",
        "demo",
        "man",
        "completions",
        "check",
        "hooks",
    ] {
        assert!(
            out.contains(&format!("\n  {cmd} ")),
            "{cmd} missing from:\n{out}"
        );
    }
    let out = repo.aiflow(&["new", "-h"]).ok();
    assert!(
        out.contains("Usage: git aiflow new [OPTIONS] [SLUG]"),
        "{out}"
    );
    // A usage error exits 2.
    let err = repo.aiflow(&["frobnicate"]).fails(2);
    assert!(
        err.contains("unrecognized subcommand 'frobnicate'"),
        "{err}"
    );
}

/// The README's install step, reproduced in a private prefix: the binary in `<prefix>/bin`,
/// then `git-aiflow man --install`. Returns the `PATH` to run git with.
fn install_in_prefix(repo: &TestRepo) -> String {
    let prefix = repo.sibling("prefix");
    let bin = prefix.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    std::fs::copy(BIN, bin.join("git-aiflow")).expect("copy binary");
    let installed = bin.join("git-aiflow");
    // Another test thread may fork while the copy's write handle is open, and the child keeps it
    // open until it execs: exec then fails with "text file busy" for a moment. Retry only that.
    let mut attempts = 0;
    let out = loop {
        match repo
            .command(installed.to_str().expect("utf-8"))
            .args(["man", "--install"])
            .output()
        {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 100 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => break other.expect("run the installed binary"),
        }
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = prefix.join("share/man/man1/git-aiflow.1");
    assert!(page.is_file(), "{}", page.display());
    assert!(prefix.join("share/man/man1/git-aiflow-new.1").is_file());
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Run git with `args` where the prefix's binary and pages are found; returns stdout.
fn git_with_manual(repo: &TestRepo, path: &str, args: &[&str]) -> String {
    let out = repo
        .command("git")
        .args(args)
        .env("PATH", path)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .env_remove("MANPATH")
        .output()
        .expect("run git");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "git {args:?} failed:\n{stdout}\n{stderr}"
    );
    assert!(!stderr.contains("No manual entry"), "{stderr}");
    stdout
}

/// `git aiflow --help` and `git help aiflow` show git-aiflow(1), as git does for its own
/// commands; `git aiflow <cmd> --help`, `git aiflow <cmd> help [<sub>]` and `git help
/// git-aiflow-<cmd>` show that command's page; `-h` stays clap's short help.
#[test]
fn git_aiflow_help_shows_the_installed_manual() {
    let repo = TestRepo::new();
    let path = install_in_prefix(&repo);
    for args in [&["aiflow", "--help"][..], &["help", "aiflow"]] {
        let stdout = git_with_manual(&repo, &path, args);
        assert!(
            stdout.contains("git-aiflow - Plan with an AI, review the plan"),
            "{args:?}: {stdout}"
        );
        assert!(stdout.contains("EXIT STATUS"), "{stdout}");
    }
    let pages: &[(&[&str], &str)] = &[
        (
            &["aiflow", "plan", "--help"],
            "git-aiflow-plan - Ask for clarifying questions",
        ),
        (
            &["aiflow", "plan", "help"],
            "git-aiflow-plan - Ask for clarifying questions",
        ),
        (
            &["aiflow", "plan", "show", "--help"],
            "git-aiflow-plan-show - Show the current plan",
        ),
        (
            &["aiflow", "plan", "help", "show"],
            "git-aiflow-plan-show - Show the current plan",
        ),
        (
            &["aiflow", "help", "hooks"],
            "git-aiflow-hooks - Install, remove or show",
        ),
        (
            &["help", "git-aiflow-plan-diff"],
            "git-aiflow-plan-diff - Compare two plan revisions",
        ),
    ];
    for (args, want) in pages {
        let stdout = git_with_manual(&repo, &path, args);
        assert!(stdout.contains(want), "{args:?}: {stdout}");
    }
    let short = git_with_manual(&repo, &path, &["aiflow", "plan", "-h"]);
    assert!(short.starts_with("Ask for clarifying questions"), "{short}");
    assert!(
        short.contains("Usage: git aiflow plan [OPTIONS] [SLUG]"),
        "{short}"
    );

    // `git aiflow` finds the binary on PATH and runs it like any other subcommand.
    let out = repo
        .command("git")
        .args(["aiflow", "list"])
        .env("PATH", &path)
        .output()
        .expect("run");
    assert!(out.status.success());
}

/// `help` where a subcommand could be is help, never a slug or a subtask: `plan help`,
/// `audit help`, `hooks help install`, `help plan`.
#[test]
fn help_word_is_help_not_a_slug() {
    let repo = TestRepo::new();
    for (args, usage) in [
        (
            &["plan", "help"][..],
            "Usage: git aiflow plan [OPTIONS] [SLUG]",
        ),
        (
            &["plan", "help", "show"],
            "Usage: git aiflow plan show [OPTIONS] [SLUG]",
        ),
        (
            &["audit", "help"],
            "Usage: git aiflow audit [OPTIONS] [subtask|flow]",
        ),
        (
            &["spec", "help"],
            "Usage: git aiflow spec [OPTIONS] <COMMAND>",
        ),
        (
            &["hooks", "help", "install"],
            "Usage: git aiflow hooks install",
        ),
        (&["help", "plan"], "Usage: git aiflow plan [OPTIONS] [SLUG]"),
    ] {
        let out = repo.aiflow(args).ok();
        assert!(out.contains(usage), "{args:?}:\n{out}");
    }
}

/// The pages as `man` shows them: (file name, text) for every installed page.
fn rendered_pages(repo: &TestRepo, width: &str) -> Vec<(String, String)> {
    let dir = repo.sibling(&format!("man-{width}/man1"));
    repo.aiflow(&["man", "--install", "--dir", dir.to_str().expect("utf-8")])
        .ok();
    let mut pages = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("dir") {
        let file = entry.expect("entry").path();
        let out = repo
            .command("man")
            .arg("-l")
            .arg(&file)
            .env("MANWIDTH", width)
            .env("MANPAGER", "cat")
            .env("LANG", "C.UTF-8")
            .output()
            .expect("run man (.ci/run installs man-db)");
        assert!(out.status.success(), "{}", file.display());
        let name = file
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        pages.push((name, String::from_utf8_lossy(&out.stdout).into_owned()));
    }
    pages.sort();
    pages
}

/// Every page a page names exists (`man -w` finds it in the installed tree), nested commands
/// included; and the hidden `hook` has none.
#[test]
fn every_page_named_in_the_manual_exists() {
    let repo = TestRepo::new();
    let pages = rendered_pages(&repo, "100");
    let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
    for nested in [
        "git-aiflow-plan-show.1",
        "git-aiflow-hooks-install.1",
        "git-aiflow-audit-accept.1",
        "git-aiflow-spec-edit.1",
    ] {
        assert!(names.contains(&nested), "{nested} missing from {names:?}");
    }
    assert!(
        !names.iter().any(|n| n.starts_with("git-aiflow-hook.")),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains("help")), "{names:?}");
    let mut named = std::collections::BTreeSet::new();
    for (page, text) in &pages {
        let mut rest = text.as_str();
        while let Some(at) = rest.find("git-aiflow") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_lowercase() || c == '-'))
                .unwrap_or(tail.len());
            if tail[end..].starts_with("(1)") {
                named.insert((tail[..end].to_string(), page.clone()));
            }
            rest = &tail[end..];
        }
    }
    assert!(named.len() > 40, "{named:?}");
    let man_dir = repo.sibling("man-100");
    for (name, page) in &named {
        assert!(
            names.contains(&format!("{name}.1").as_str()),
            "{page} names {name}(1), which does not exist"
        );
    }
    for name in [
        "git-aiflow",
        "git-aiflow-plan-show",
        "git-aiflow-hooks-status",
    ] {
        let out = repo
            .command("man")
            .args(["-w", name])
            .env("MANPATH", &man_dir)
            .output()
            .expect("man -w");
        assert!(
            out.status.success(),
            "man -w {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Whether groff broke a word at the end of `line` (a hyphen that is not an option's).
fn broken(line: &str) -> bool {
    line.ends_with('\u{2010}')
        || (line.ends_with('-') && !line.ends_with(" -") && !line.ends_with("--"))
}

/// The synopsis keeps the argument names; no word is hyphenated across lines (config keys such
/// as aiflow.provider stay whole); the top page has CONFIGURATION, ENVIRONMENT, EXIT STATUS and
/// EXAMPLES, and every page EXIT STATUS and SEE ALSO; the roff is clean for mandoc.
#[test]
fn manual_pages_read_like_gits() {
    let repo = TestRepo::new();
    for width in ["60", "80", "100"] {
        for (page, text) in rendered_pages(&repo, width) {
            for (n, line) in text.lines().enumerate() {
                let line = line.trim_end();
                assert!(
                    !broken(line),
                    "{page} at width {width}, line {}: a word is broken: {line:?}",
                    n + 1
                );
            }
            for section in ["SYNOPSIS", "EXIT STATUS", "SEE ALSO"] {
                assert!(
                    text.contains(&format!("\n{section}\n")),
                    "{page}: no {section}"
                );
            }
        }
    }
    let pages = rendered_pages(&repo, "100");
    let text = |name: &str| {
        pages
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    let top = text("git-aiflow.1");
    for section in ["CONFIGURATION", "ENVIRONMENT", "EXIT STATUS", "EXAMPLES"] {
        assert!(
            top.contains(&format!("\n{section}\n")),
            "no {section}:\n{top}"
        );
    }
    assert!(
        top.contains("git aiflow [-C <path>...] <command> [<args>]"),
        "{top}"
    );
    let plan = text("git-aiflow-plan.1");
    assert!(plan.contains("[--provider <name>]"), "{plan}");
    assert!(plan.contains("[--timeout <seconds>]"), "{plan}");
    assert!(plan.contains("[<slug>]"), "{plan}");
    assert!(plan.contains("aiflow.provider"), "{plan}");
    let show = text("git-aiflow-plan-show.1");
    assert!(
        show.contains("git aiflow plan show [--revision <n>]"),
        "{show}"
    );
    assert!(show.contains("git-aiflow-plan(1), git-aiflow(1)"), "{show}");

    let dir = repo.sibling("man-100/man1");
    for entry in std::fs::read_dir(&dir).expect("dir") {
        let file = entry.expect("entry").path();
        let out = repo
            .command("mandoc")
            .args(["-T", "lint", "-W", "error"])
            .arg(&file)
            .output()
            .expect("run mandoc (.ci/run installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn man_prints_roff_for_every_command() {
    let repo = TestRepo::new();
    let out = repo.aiflow(&["man"]).ok();
    assert!(
        out.starts_with(".ie \\n(.g .ds Aq"),
        "{}",
        &out[..out.len().min(200)]
    );
    assert!(out.contains(".TH git-aiflow 1"), "{out}");
    let dir = repo.sibling("man1");
    repo.aiflow(&["man", "--install", "--dir", dir.to_str().expect("utf-8")])
        .ok();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "git-aiflow-answer.1",
            "git-aiflow-approve.1",
            "git-aiflow-audit-accept.1",
            "git-aiflow-audit-dismiss.1",
            "git-aiflow-audit.1",
            "git-aiflow-check.1",
            "git-aiflow-completions.1",
            "git-aiflow-config.1",
            "git-aiflow-demo.1",
            "git-aiflow-exec.1",
            "git-aiflow-finish.1",
            "git-aiflow-hooks-install.1",
            "git-aiflow-hooks-status.1",
            "git-aiflow-hooks-uninstall.1",
            "git-aiflow-hooks.1",
            "git-aiflow-init.1",
            "git-aiflow-integrate.1",
            "git-aiflow-list.1",
            "git-aiflow-man.1",
            "git-aiflow-new.1",
            "git-aiflow-next.1",
            "git-aiflow-plan-diff.1",
            "git-aiflow-plan-edit.1",
            "git-aiflow-plan-expand.1",
            "git-aiflow-plan-log.1",
            "git-aiflow-plan-show.1",
            "git-aiflow-plan.1",
            "git-aiflow-prune.1",
            "git-aiflow-ready.1",
            "git-aiflow-reject.1",
            "git-aiflow-review.1",
            "git-aiflow-spec-edit.1",
            "git-aiflow-spec-show.1",
            "git-aiflow-spec.1",
            "git-aiflow-start.1",
            "git-aiflow-stats.1",
            "git-aiflow-status.1",
            "git-aiflow-step.1",
            "git-aiflow-sync.1",
            "git-aiflow-test.1",
            "git-aiflow.1"
        ]
    );
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    let repo = TestRepo::new();
    let bash = repo.aiflow(&["completions", "bash"]).ok();
    assert!(
        bash.contains("\ncomplete -F _git_aiflow_command git-aiflow\n"),
        "{bash}"
    );
    // The function git's own completion calls for `git aiflow`.
    assert!(bash.contains("\n_git_aiflow() {\n"), "{bash}");
    let script = repo.write("completion.bash", &bash);
    if Path::new("/bin/bash").exists() {
        let r = repo
            .command("bash")
            .arg("-n")
            .arg(&script)
            .output()
            .expect("bash");
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    }
    let zsh = repo.aiflow(&["completions", "zsh"]).ok();
    assert!(zsh.starts_with("#compdef git-aiflow"), "{zsh}");
    let fish = repo.aiflow(&["completions", "fish"]).ok();
    assert!(fish.contains("complete -c git-aiflow"), "{fish}");
    let err = repo.aiflow(&["completions", "tcsh"]).fails(2);
    assert!(err.contains("invalid value 'tcsh'"), "{err}");
}

/// The subcommands `-h` lists: (name, one-line description), continuation lines joined.
fn dash_h_commands(help: &str) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = Vec::new();
    let section = help
        .split("\nCommands:\n")
        .nth(1)
        .expect("a Commands: section");
    for line in section.lines().take_while(|l| !l.trim().is_empty()) {
        let continued = line.starts_with("   ");
        match (continued, rows.last_mut()) {
            (true, Some(last)) => {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
            _ => {
                let line = line.trim();
                let (name, text) = line.split_once(' ').expect("name and text");
                rows.push((name.to_string(), text.trim().to_string()));
            }
        }
    }
    rows
}

/// The README's command table (the one that follows "as `git aiflow -h` lists them").
fn readme_commands(readme: &str) -> Vec<(String, String)> {
    let table = readme
        .split("as `git aiflow -h` lists them")
        .nth(1)
        .expect("the README's command table");
    table
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").collect();
            assert_eq!(cells.len(), 2, "{l}");
            (
                cells[0].trim().trim_matches('`').to_string(),
                cells[1].trim().to_string(),
            )
        })
        .collect()
}

/// The README's command table is `-h`'s list, name for name and word for word; and the README
/// calls nothing that exists "planned".
#[test]
fn readme_command_table_is_dash_h() {
    let repo = TestRepo::new();
    let help = repo.aiflow_bin(&["-h"]).ok();
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let from_help = dash_h_commands(&help);
    assert!(from_help.len() > 20, "{help}");
    assert_eq!(readme_commands(&readme), from_help);
    for word in [
        "(planned)",
        "planned:",
        "not yet implemented",
        "coming soon",
        "is planned",
    ] {
        for (n, line) in readme.lines().enumerate() {
            assert!(
                !line.to_lowercase().contains(word),
                "README.md:{}: {line}",
                n + 1
            );
        }
    }
}
