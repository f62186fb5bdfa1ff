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
/// then `git-aiflow man --install`; `git aiflow --help` must then show the manual.
#[test]
fn git_aiflow_help_shows_the_installed_manual() {
    let repo = TestRepo::new();
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

    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = repo
        .command("git")
        .args(["aiflow", "--help"])
        .env("PATH", &path)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .env_remove("MANPATH")
        .output()
        .expect("run git aiflow --help");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "git aiflow --help failed:\n{stdout}\n{stderr}"
    );
    assert!(!stderr.contains("No manual entry"), "{stderr}");
    assert!(stdout.contains("git-aiflow"), "{stdout}");
    assert!(
        stdout.contains("Plan with an AI, review the plan"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Exit status: 0 success; 1 refused"),
        "{stdout}"
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
            "git-aiflow-audit.1",
            "git-aiflow-check.1",
            "git-aiflow-completions.1",
            "git-aiflow-config.1",
            "git-aiflow-demo.1",
            "git-aiflow-exec.1",
            "git-aiflow-finish.1",
            "git-aiflow-hooks.1",
            "git-aiflow-init.1",
            "git-aiflow-integrate.1",
            "git-aiflow-list.1",
            "git-aiflow-man.1",
            "git-aiflow-new.1",
            "git-aiflow-next.1",
            "git-aiflow-plan.1",
            "git-aiflow-ready.1",
            "git-aiflow-reject.1",
            "git-aiflow-review.1",
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
        bash.contains("-o bashdefault -o default git-aiflow\n"),
        "{bash}"
    );
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
    for sub in ["init", "new", "status", "spec"] {
        assert!(
            fish.contains(&format!("-a \"{sub}\"")),
            "{sub} missing from fish completions"
        );
    }
    let err = repo.aiflow(&["completions", "tcsh"]).fails(2);
    assert!(err.contains("invalid value 'tcsh'"), "{err}");
}
