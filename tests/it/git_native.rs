//! Behaving like part of git: `git -c` and git's environment, colour by git's rules under a real
//! pseudo-terminal, closed pipes, and the `aiflow.*` configuration reference.

use crate::harness::{Run, TestRepo, assert_has, assert_lacks};

/// A flow with a two-revision plan and subtask `s1` started with one step: something for every
/// printing command to show.
fn flow_with_a_step() -> TestRepo {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.plan_subtasks(&[("s1", "First"), ("s2", "Second")]);
    repo.aiflow(&["start", "s1"]).ok();
    repo.write("a.txt", "a\n");
    repo.aiflow(&["step", "-m", "Add a"]).ok();
    repo
}

/// `script` from util-linux runs a command under a new pseudo-terminal.
fn have_script() -> bool {
    std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Run the shell command `line` in the repository with `env` (`NO_COLOR` and `TERM` removed
/// first), under a pseudo-terminal when `tty`, else with its output in a pipe. Returns stdout.
fn sh(repo: &TestRepo, line: &str, tty: bool, env: &[(&str, &str)]) -> String {
    let mut cmd = if tty {
        let mut c = repo.command("script");
        c.args(["-qec", line, "/dev/null"]);
        c
    } else {
        let mut c = repo.command("sh");
        c.args(["-c", line]);
        c
    };
    cmd.env_remove("NO_COLOR")
        .env_remove("TERM")
        .env("GIT_PAGER", "cat")
        .envs(env.iter().copied());
    let r = Run::of(&mut cmd);
    assert_eq!(r.code, 0, "{line}: {r:?}");
    r.stdout
}

#[test]
fn colour_follows_git_rules_under_a_terminal() {
    if !have_script() {
        eprintln!("skipped: no `script` (util-linux)");
        return;
    }
    let repo = flow_with_a_step();
    let configs = [
        "",
        "-c color.ui=never",
        "-c color.ui=always",
        "-c color.diff=false",
        "-c color.diff=never -c color.ui=always",
        "-c color.ui=false -c color.diff=auto",
        "-c color.ui",
    ];
    for command in ["review s1", "plan diff rate-limit"] {
        for term in ["xterm", "dumb"] {
            for tty in [true, false] {
                for config in configs {
                    let env = [("TERM", term)];
                    // git's own answer, in the same place: exit status 0 when it would colour.
                    let git = sh(
                        &repo,
                        &format!(
                            "git {config} config --get-colorbool color.diff && echo yes || echo no"
                        ),
                        tty,
                        &env,
                    );
                    let want = git.trim() == "yes";
                    let out = sh(&repo, &format!("git {config} aiflow {command}"), tty, &env);
                    assert_eq!(
                        out.contains("\x1b["),
                        want,
                        "git {config} aiflow {command}, TERM={term}, terminal: {tty}:\n{out}"
                    );
                    // NO_COLOR turns off what would be automatic, not an explicit `always`.
                    let env = [("TERM", term), ("NO_COLOR", "1")];
                    let out = sh(&repo, &format!("git {config} aiflow {command}"), tty, &env);
                    let always = config.ends_with("color.ui=always") && !config.contains("never");
                    assert_eq!(
                        out.contains("\x1b["),
                        want && always,
                        "NO_COLOR=1 git {config} aiflow {command}, TERM={term}, terminal: {tty}:\n{out}"
                    );
                }
            }
            // --color wins over the config, and a bare --color means always.
            let env = [("TERM", term)];
            for (flags, want) in [
                ("-c color.ui=always aiflow {command} --color=never", false),
                ("-c color.ui=never aiflow {command} --color", true),
                ("-c color.ui=never aiflow {command} --color=always", true),
                ("aiflow {command} --color=auto", term != "dumb"),
            ] {
                let line = format!("git {}", flags.replace("{command}", command));
                let out = sh(&repo, &line, true, &env);
                assert_eq!(out.contains("\x1b["), want, "{line}, TERM={term}:\n{out}");
                let out = sh(&repo, &line, false, &env);
                assert_eq!(
                    out.contains("\x1b["),
                    want && !line.ends_with("auto"),
                    "{line} into a pipe:\n{out}"
                );
            }
        }
    }
}

/// Every printing command, its output cut short by `head -c1`: no panic, and the status git
/// gives in the same place (0, or 141 when SIGPIPE ends it), or the command's own.
#[test]
fn no_command_panics_on_a_closed_pipe() {
    let repo = flow_with_a_step();
    repo.git(&["switch", "-q", "main"]);
    let commands = [
        "list",
        "list --json",
        "status rate-limit",
        "status rate-limit --json",
        "spec show rate-limit",
        "plan show rate-limit",
        "plan show rate-limit --json",
        "plan log rate-limit",
        "plan diff rate-limit",
        "plan diff rate-limit --color",
        "review s1 --flow rate-limit",
        "review s1 --flow rate-limit --json",
        "next rate-limit",
        "check main",
        "stats",
        "stats --json",
        "hooks status",
        "completions bash",
        "completions zsh",
        "completions fish",
        "man",
        "config",
        "config --json",
        "-h",
        "plan -h",
        "--version",
    ];
    for args in commands {
        let line = format!("set -o pipefail; git aiflow {args} | head -c1 >/dev/null");
        let r = Run::of(repo.command("bash").args(["-c", &line]));
        assert!(
            !r.stderr.contains("panicked") && r.code != 101,
            "{args}: {r:?}"
        );
        // What it exits with when nothing cuts its output short is fine too (check refuses).
        let alone = Run::of(
            repo.command("bash")
                .args(["-c", &format!("git aiflow {args} >/dev/null")]),
        );
        assert!([0, 141, alone.code].contains(&r.code), "{args}: {r:?}");
    }
    // The same with standard error the closed pipe.
    let line = "set -o pipefail; git aiflow completions bash 2>&1 >/dev/null | head -c1; git aiflow frobnicate 2>&1 | head -c1 >/dev/null; echo ${PIPESTATUS[0]}";
    let r = Run::of(repo.command("bash").args(["-c", line]));
    assert!(!r.stderr.contains("panicked"), "{r:?}");
}

/// Every `aiflow.<key>` the source names is in the one table, and the README shows the table.
#[test]
fn every_config_key_is_in_the_reference_and_the_readme() {
    use git_aiflow::config_keys;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut named = std::collections::BTreeSet::new();
    let mut dirs = vec![root.join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            // `aiflow.<key>` not inside a path or ref (`refs/notes/aiflow`, `.aiflow.toml`).
            for (at, _) in text.match_indices("aiflow.") {
                let before = text[..at].chars().next_back();
                if before.is_some_and(|c| c.is_alphanumeric() || "/._-".contains(c)) {
                    continue;
                }
                let key: String = text[at + 7..]
                    .chars()
                    .take_while(char::is_ascii_alphanumeric)
                    .collect();
                if key.is_empty() || key == "toml" {
                    continue;
                }
                named.insert((format!("aiflow.{key}"), path.clone()));
            }
        }
    }
    assert!(named.len() > 30, "the search finds the keys: {named:?}");
    for (key, path) in &named {
        // A unit test's made-up key.
        if key == "aiflow.x" {
            continue;
        }
        assert!(
            config_keys::find(key).is_some(),
            "{key} (in {}) is missing from src/config_keys.rs",
            path.display()
        );
    }

    let readme_path = root.join("README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("README");
    let begin =
        "<!-- config-keys:begin (generated from src/config_keys.rs; a test keeps it in step) -->\n";
    let end = "<!-- config-keys:end -->";
    let (head, rest) = readme
        .split_once(begin)
        .expect("README has the begin marker");
    let (shown, tail) = rest.split_once(end).expect("README has the end marker");
    let want = config_keys::markdown();
    if shown != want && std::env::var_os("AIFLOW_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&readme_path, format!("{head}{begin}{want}{end}{tail}")).expect("write");
        return;
    }
    assert_eq!(
        shown, want,
        "README's Configuration table differs from src/config_keys.rs (AIFLOW_UPDATE_SNAPSHOTS=1 rewrites it)"
    );
    // The manual shows the same keys.
    let man = Run::of(TestRepo::new().command(crate::harness::BIN).arg("man")).ok();
    assert!(man.contains(".SH CONFIGURATION"), "{man}");
    for k in config_keys::KEYS {
        assert!(
            man.contains(&format!("\\fB{}\\fR", k.name)),
            "{} not in the manual",
            k.name
        );
    }
}

/// `git aiflow config` reports what git reports, from every place git reads.
#[test]
fn config_lists_effective_values_with_their_origin() {
    let repo = TestRepo::new();
    repo.git(&["config", "aiflow.trunk", "main"]);
    repo.git(&["config", "--add", "aiflow.trunk", "release/*"]);
    repo.git(&["config", "aiflow.provdier", "openai"]);
    let global = repo.outside("global.gitconfig", b"[aiflow]\n\tmodel = from-global\n");
    let global = global.to_str().expect("utf-8");
    let config = |prefix: &[&str], env: &[(&str, &str)]| -> serde_json::Value {
        let mut cmd = repo.command("git");
        cmd.args(prefix)
            .args(["aiflow", "config", "--json"])
            .envs(env.iter().copied());
        Run::of(&mut cmd).json()
    };
    let key = |v: &serde_json::Value, name: &str| -> serde_json::Value {
        v["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| {
                k["key"]
                    .as_str()
                    .is_some_and(|k| k.eq_ignore_ascii_case(name))
            })
            .cloned()
            .unwrap_or_else(|| panic!("{name} not listed: {v:#}"))
    };
    let v = config(
        &[
            "-c",
            "aiflow.remote=up",
            "-c",
            "aiflow.baseUrl=http://127.0.0.1:9/v1",
        ],
        &[
            ("GIT_CONFIG_GLOBAL", global),
            ("GIT_CONFIG_COUNT", "1"),
            ("GIT_CONFIG_KEY_0", "aiflow.timeout"),
            ("GIT_CONFIG_VALUE_0", "42"),
        ],
    );
    // git's own answer for each, from the same place.
    let git_origin = |k: &str, env: &[(&str, &str)], prefix: &[&str]| -> String {
        let mut cmd = repo.command("git");
        cmd.args(prefix)
            .args(["config", "--show-scope", "--show-origin", "--get-all", k])
            .envs(env.iter().copied());
        Run::of(&mut cmd).ok()
    };
    let env = [
        ("GIT_CONFIG_GLOBAL", global),
        ("GIT_CONFIG_COUNT", "1"),
        ("GIT_CONFIG_KEY_0", "aiflow.timeout"),
        ("GIT_CONFIG_VALUE_0", "42"),
    ];
    let prefix = [
        "-c",
        "aiflow.remote=up",
        "-c",
        "aiflow.baseUrl=http://127.0.0.1:9/v1",
    ];
    for (k, value) in [
        ("aiflow.remote", "up"),
        ("aiflow.baseUrl", "http://127.0.0.1:9/v1"),
        ("aiflow.model", "from-global"),
        ("aiflow.timeout", "42"),
        ("aiflow.trunk", "main"),
    ] {
        let got = key(&v, k);
        let first = &got["values"][0];
        assert_eq!(first["value"], value, "{got:#}");
        let want = git_origin(k, &env, &prefix);
        let line = want.lines().next().expect("git lists it");
        assert_eq!(
            line,
            format!(
                "{}\t{}\t{value}",
                first["scope"].as_str().expect("scope"),
                first["origin"].as_str().expect("origin")
            ),
            "{k}"
        );
    }
    assert_eq!(key(&v, "aiflow.trunk")["values"][1]["value"], "release/*");
    let unset = key(&v, "aiflow.retries");
    assert_eq!(
        (unset["set"].clone(), unset["default"].clone()),
        (false.into(), "3".into())
    );
    assert_eq!(key(&v, "aiflow.provdier")["known"], false);
    // GIT_CONFIG_NOSYSTEM and GIT_CONFIG_SYSTEM: as git reads them.
    let system = repo.outside("system.gitconfig", b"[aiflow]\n\tagent = from-system\n");
    let system = system.to_str().expect("utf-8");
    for (nosystem, seen) in [(true, false), (false, true)] {
        let mut cmd = repo.command("git");
        cmd.args(["aiflow", "config"])
            .env("GIT_CONFIG_SYSTEM", system);
        if !nosystem {
            cmd.env_remove("GIT_CONFIG_NOSYSTEM");
        }
        let text = Run::of(&mut cmd).ok();
        let mut git = repo.command("git");
        git.args(["config", "--get", "aiflow.agent"])
            .env("GIT_CONFIG_SYSTEM", system);
        if !nosystem {
            git.env_remove("GIT_CONFIG_NOSYSTEM");
        }
        assert_eq!(Run::of(&mut git).code == 0, seen);
        assert_eq!(text.contains("from-system  (system, file:"), seen, "{text}");
    }
    let text = Run::of(repo.command("git").args(["aiflow", "config"])).ok();
    assert!(
        text.contains("aiflow.provdier") && text.contains("unknown key"),
        "{text}"
    );
}

/// Who git-aiflow records as the author of a change made with `prefix` (git options before
/// `aiflow`) and `env`, with no identity in the environment unless `env` gives one, next to
/// what `git var GIT_COMMITTER_IDENT` says in the same place (`None`: git refuses).
fn who(
    repo: &TestRepo,
    slug: &str,
    prefix: &[&str],
    env: &[(&str, &str)],
    remove: &[&str],
) -> (Option<String>, Option<String>) {
    let spec = repo.outside("who-spec.md", b"Say who made this\n");
    let command = |args: &[&str]| {
        let mut cmd = repo.command("git");
        for var in [
            "GIT_AUTHOR_NAME",
            "GIT_AUTHOR_EMAIL",
            "GIT_COMMITTER_NAME",
            "GIT_COMMITTER_EMAIL",
        ]
        .iter()
        .chain(remove)
        {
            cmd.env_remove(var);
        }
        cmd.args(prefix).args(args).envs(env.iter().copied());
        Run::of(&mut cmd)
    };
    let git = command(&["var", "GIT_COMMITTER_IDENT"]);
    let git = (git.code == 0).then(|| {
        let line = git.stdout.trim_end();
        // Drop the date: `Name <email> 1767225600 +0000`.
        line.rsplitn(3, ' ').nth(2).expect("ident").to_owned()
    });
    // `config` says who you are, as git does.
    let shown = command(&["aiflow", "config", "--json"]).json()["identity"].clone();
    assert_eq!(
        shown.as_str().map(str::to_owned),
        git,
        "config --json, {slug}"
    );
    let made = command(&["aiflow", "new", slug, "-F", spec.to_str().expect("utf-8")]);
    let ours = (made.code == 0).then(|| {
        let v = repo.aiflow(&["status", slug, "--json"]).json();
        v["created_by"].as_str().expect("created_by").to_owned()
    });
    (git, ours)
}

/// A case of [`identity_is_the_one_git_would_commit_as`]: slug, git options, variables set,
/// variables removed.
type IdentityCase<'a> = (
    &'a str,
    &'a [&'a str],
    &'a [(&'a str, &'a str)],
    &'a [&'a str],
);

/// `git -c`, `GIT_CONFIG_*` and the identity variables choose who you are exactly as for git:
/// `git var GIT_COMMITTER_IDENT` is the reference, case by case.
#[test]
fn identity_is_the_one_git_would_commit_as() {
    let repo = TestRepo::new();
    repo.aiflow(&["init"]).ok();
    let global = repo.outside(
        "global.gitconfig",
        b"[user]\n\tname = Global Gail\n\temail = gail@example.com\n",
    );
    let global = global.to_str().expect("utf-8");
    let system = repo.outside(
        "system.gitconfig",
        b"[user]\n\tname = System Sam\n\temail = sam@example.com\n",
    );
    let system = system.to_str().expect("utf-8");
    let cases: &[IdentityCase] = &[
        (
            "c-user",
            &[
                "-c",
                "user.name=Grace Hopper",
                "-c",
                "user.email=grace@example.com",
            ],
            &[],
            &[],
        ),
        (
            "c-committer",
            &[
                "-c",
                "user.name=U",
                "-c",
                "user.email=u@example.com",
                "-c",
                "committer.name=Cora",
                "-c",
                "committer.email=cora@example.com",
            ],
            &[],
            &[],
        ),
        (
            "env-wins",
            &[
                "-c",
                "user.name=Grace",
                "-c",
                "user.email=grace@example.com",
            ],
            &[("GIT_COMMITTER_NAME", "Env Eve")],
            &[],
        ),
        (
            "count",
            &[],
            &[
                ("GIT_CONFIG_COUNT", "2"),
                ("GIT_CONFIG_KEY_0", "user.name"),
                ("GIT_CONFIG_VALUE_0", "Counted Carl"),
                ("GIT_CONFIG_KEY_1", "user.email"),
                ("GIT_CONFIG_VALUE_1", "carl@example.com"),
            ],
            &[],
        ),
        (
            "count-and-c",
            &[
                "-c",
                "user.name=Dash Dora",
                "-c",
                "user.email=dora@example.com",
            ],
            &[
                ("GIT_CONFIG_COUNT", "1"),
                ("GIT_CONFIG_KEY_0", "user.name"),
                ("GIT_CONFIG_VALUE_0", "Counted Carl"),
            ],
            &[],
        ),
        ("global", &[], &[("GIT_CONFIG_GLOBAL", global)], &[]),
        (
            "system",
            &[],
            &[("GIT_CONFIG_SYSTEM", system)],
            &["GIT_CONFIG_NOSYSTEM"],
        ),
        (
            "nosystem",
            &[],
            &[("GIT_CONFIG_SYSTEM", system), ("EMAIL", "mail@example.com")],
            &[],
        ),
        // No name anywhere: git takes the account's; the email from EMAIL.
        ("email-env", &[], &[("EMAIL", "mail@example.com")], &[]),
        (
            "email-only",
            &["-c", "user.email=only@example.com"],
            &[],
            &[],
        ),
    ];
    for (slug, prefix, env, remove) in cases {
        let (git, ours) = who(&repo, slug, prefix, env, remove);
        assert!(git.is_some(), "{slug}: git finds an identity");
        assert_eq!(ours, git, "{slug}");
    }
    // With no identity at all both refuse (git cannot guess an email here, or guesses one).
    let (git, ours) = who(&repo, "nobody", &[], &[("EMAIL", "")], &[]);
    if git.is_none() {
        assert_eq!(ours, None);
    }
}

/// The issue's case: `git -c user.name=… -c user.email=… aiflow approve` approves as that
/// reviewer, not as the configured author.
#[test]
fn approve_with_git_c_identity_is_not_self_review() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.plan_subtasks(&[("s1", "First")]);
    repo.aiflow(&["start", "s1"]).ok();
    repo.write("a.txt", "a\n");
    repo.aiflow(&["step", "-m", "Add a"]).ok();
    let mut cmd = repo.command("git");
    cmd.env_remove("GIT_COMMITTER_NAME")
        .env_remove("GIT_COMMITTER_EMAIL")
        .env("GIT_AUTHOR_NAME", "Ada Lovelace")
        .args([
            "-c",
            "user.name=Grace Hopper",
            "-c",
            "user.email=grace@example.com",
            "aiflow",
            "approve",
            "s1",
            "--json",
        ]);
    let v = Run::of(&mut cmd).json();
    assert_eq!(v["reviewer"], crate::harness::GRACE, "{v:#}");
    let trailer = repo.git(&[
        "log",
        "-1",
        "--format=%(trailers:key=Reviewed-by,valueonly)",
        "HEAD",
    ]);
    assert_eq!(trailer.trim(), crate::harness::GRACE);
}

/// `git -c aiflow.baseUrl=…` and `git -c aiflow.remote=…` win over the repository's config.
#[test]
fn git_c_reaches_the_model_and_sync_settings() {
    use crate::llm_server::{LlmServer, Step};
    let server = LlmServer::start(vec![Step::openai(r#"{"findings": []}"#)]);
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.plan_subtasks(&[("s1", "First")]);
    repo.git(&["config", "aiflow.provider", "openai"]);
    repo.git(&["config", "aiflow.model", "m-1"]);
    repo.git(&["config", "aiflow.baseUrl", "http://127.0.0.1:9/v1"]);
    repo.git(&["config", "aiflow.retries", "0"]);
    repo.aiflow(&["start", "s1"]).ok();
    repo.write("a.txt", "a\n");
    repo.aiflow(&["step", "-m", "Add a"]).ok();
    let url = format!("aiflow.baseUrl={}/v1", server.url());
    let r = Run::of(
        repo.command("git")
            .args(["-c", &url, "aiflow", "audit", "s1"])
            .env("OPENAI_API_KEY", "sk-test"),
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(server.requests().len(), 1, "{r:?}");

    // Two remotes; the config names one, `git -c` the other.
    for name in ["one", "two"] {
        let bare = repo.sibling(&format!("{name}.git"));
        repo.git(&["init", "-q", "--bare", bare.to_str().expect("utf-8")]);
        repo.git(&["remote", "add", name, bare.to_str().expect("utf-8")]);
    }
    repo.git(&["config", "aiflow.remote", "one"]);
    let r = Run::of(repo.command("git").args([
        "-c",
        "aiflow.remote=two",
        "aiflow",
        "sync",
        "--notes-only",
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    let two = repo.sibling("two.git");
    let one = repo.sibling("one.git");
    let has_notes = |dir: &std::path::Path| {
        Run::of(repo.command_in("git", dir).args([
            "rev-parse",
            "-q",
            "--verify",
            "refs/notes/aiflow",
        ]))
        .code
            == 0
    };
    assert!(
        has_notes(&two) && !has_notes(&one),
        "sync used aiflow.remote from git -c"
    );
}

/// `GIT_DIR` and `GIT_WORK_TREE` (from anywhere), and `GIT_DIR` with `GIT_COMMON_DIR` (a linked
/// worktree's), choose the repository and work tree as they do for git.
#[test]
fn git_dir_work_tree_and_common_dir_choose_the_repository() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.plan_subtasks(&[("s1", "First")]);
    repo.aiflow(&["start", "s1"]).ok();
    let elsewhere = repo.sibling("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    let git_dir = repo.path.join(".git");
    let git_dir = git_dir.to_str().expect("utf-8");
    let work = repo.path.to_str().expect("utf-8");
    repo.write("b.txt", "b\n");
    let env = [("GIT_DIR", git_dir), ("GIT_WORK_TREE", work)];
    let run = |args: &[&str], env: &[(&str, &str)]| {
        Run::of(
            repo.command_in("git", &elsewhere)
                .args(args)
                .envs(env.iter().copied()),
        )
    };
    // git sees the change from here, and so does step.
    assert!(run(&["status", "--porcelain"], &env).ok().contains("b.txt"));
    run(&["aiflow", "step", "-m", "Add b"], &env).ok();
    assert_eq!(run(&["status", "--porcelain"], &env).ok(), "");
    assert_eq!(
        run(&["log", "-1", "--format=%s", "HEAD"], &env).ok().trim(),
        "Add b"
    );
    // Relative, as `git --git-dir=… --work-tree=…` passes them on: from elsewhere, and from a
    // directory inside the work tree, where git-aiflow's own git commands run elsewhere.
    let sub = repo.path.join("sub");
    std::fs::create_dir_all(&sub).expect("mkdir");
    for (dir, git_dir, work, file) in [
        (&elsewhere, "../repo/.git", "../repo", "c.txt"),
        (&sub, "../.git", "..", "d.txt"),
    ] {
        repo.write(file, "c\n");
        let flags = [
            &format!("--git-dir={git_dir}")[..],
            &format!("--work-tree={work}"),
        ];
        let r = Run::of(repo.command_in("git", dir).args(flags).args([
            "aiflow",
            "step",
            "-m",
            &format!("Add {file}"),
        ]));
        assert_eq!(r.code, 0, "{r:?}");
        assert_eq!(repo.git(&["status", "--porcelain"]), "", "{file}");
        assert_eq!(
            repo.git(&["log", "-1", "--format=%s"]).trim(),
            format!("Add {file}")
        );
    }
    // A linked worktree's git dir with the common dir: the same flows.
    let linked = repo.sibling("linked");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "--detach",
        linked.to_str().expect("utf-8"),
    ]);
    let wt_dir = repo.path.join(".git/worktrees/linked");
    let env = [
        ("GIT_DIR", wt_dir.to_str().expect("utf-8")),
        ("GIT_COMMON_DIR", git_dir),
    ];
    assert_eq!(
        run(&["rev-parse", "--git-common-dir"], &env).ok().trim(),
        git_dir
    );
    let listed = run(&["aiflow", "list"], &env).ok();
    assert_eq!(listed, repo.aiflow(&["list"]).ok());
}

/// A slow model: on a terminal a spinner; without one, a progress line on stderr at each interval (ten seconds;
/// shortened here), in git's style; the answer is used as usual.
#[test]
fn a_slow_model_reports_progress_on_a_terminal_and_without_one() {
    use crate::llm_server::{LlmServer, Step};
    let server = LlmServer::start(vec![Step::Late(
        std::time::Duration::from_millis(1500),
        Box::new(Step::openai(r#"{"findings": []}"#)),
    )]);
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.plan_subtasks(&[("s1", "First")]);
    repo.aiflow(&["start", "s1"]).ok();
    repo.write("a.txt", "a\n");
    repo.aiflow(&["step", "-m", "Add a"]).ok();
    let url = format!("aiflow.baseUrl={}/v1", server.url());
    let r = Run::of(
        repo.command("git")
            .args([
                "-c",
                "aiflow.provider=openai",
                "-c",
                "aiflow.model=slow-1",
                "-c",
                &url,
            ])
            .args(["aiflow", "audit", "s1"])
            .env("OPENAI_API_KEY", "sk-test")
            .env("AIFLOW_PROGRESS_INTERVAL_MS", "300"),
    );
    assert_eq!(r.code, 0, "{r:?}");
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("waiting for openai (slow-1): "))
        .collect();
    assert!(!lines.is_empty(), "{r:?}");
    assert!(lines.iter().all(|l| l.ends_with(" s")), "{lines:?}");
    assert!(
        !r.stderr.contains('\x1b') && !r.stderr.contains('\r'),
        "{r:?}"
    );

    // On a terminal: a spinner redrawn in place, then its line cleared.
    if have_script() {
        let server = LlmServer::start(vec![Step::Late(
            std::time::Duration::from_millis(800),
            Box::new(Step::openai(r#"{"findings": []}"#)),
        )]);
        let line = format!(
            "git -c aiflow.provider=openai -c aiflow.model=slow-1 -c aiflow.baseUrl={}/v1 aiflow audit s1",
            server.url()
        );
        let out = sh(
            &repo,
            &line,
            true,
            &[("TERM", "xterm"), ("OPENAI_API_KEY", "sk-test")],
        );
        assert!(out.contains("\r\x1b[2K"), "{out:?}");
        assert!(out.contains(" waiting for openai (slow-1) "), "{out:?}");
        assert!(!out.contains("waiting for openai (slow-1): "), "{out:?}");
    }

    // The command provider too.
    let r = Run::of(
        repo.command("git")
            .args(["-c", "aiflow.provider=command"])
            .args(["-c", r#"aiflow.command=sleep 1; echo '{"findings": []}'"#])
            .args(["aiflow", "audit", "s1"])
            .env("AIFLOW_PROGRESS_INTERVAL_MS", "300"),
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("waiting for `sleep 1;"), "{r:?}");
}

/// clap's help and usage errors colour by the same rules: `color.ui`, `NO_COLOR`, a terminal.
#[test]
fn help_and_usage_errors_colour_by_color_ui() {
    if !have_script() {
        eprintln!("skipped: no `script` (util-linux)");
        return;
    }
    let repo = TestRepo::new();
    let term = [("TERM", "xterm")];
    let no_color = [("TERM", "xterm"), ("NO_COLOR", "1")];
    for (line, tty, env, want) in [
        ("git aiflow -h", true, &term[..], true),
        ("git -c color.ui=never aiflow -h", true, &term[..], false),
        (
            "git -c color.ui=never aiflow frobnicate 2>&1; true",
            true,
            &term[..],
            false,
        ),
        ("git aiflow frobnicate 2>&1; true", true, &term[..], true),
        (
            "git aiflow frobnicate 2>&1; true",
            true,
            &no_color[..],
            false,
        ),
        ("git aiflow frobnicate 2>&1; true", false, &term[..], false),
        (
            "git -c color.ui=always aiflow frobnicate 2>&1; true",
            false,
            &term[..],
            true,
        ),
    ] {
        let out = sh(&repo, line, tty, env);
        assert_eq!(
            out.contains("\x1b["),
            want,
            "{line} (terminal: {tty}, {env:?}):\n{out}"
        );
    }
}

/// `git aiflow config` shows what the policy file of the current branch's tip sets, and whether
/// config overrides it there: the gate's keys only where the file sets `allow-config`, the test
/// command's always. An edit of the file not yet committed is not what governs, and is not shown.
#[test]
fn config_shows_the_policy_files_values_and_whether_config_applies_over_them() {
    let repo = TestRepo::new();
    repo.write(
        ".aiflow.toml",
        "schema = 1\n[gate]\ntrunk = [\"main\", \"release/*\"]\nreviewers = [\"grace@example.com\"]\n[test]\ncommand = \"make check\"\n",
    );
    repo.git(&["add", ".aiflow.toml"]);
    repo.git(&["commit", "-q", "-m", "Policy"]);
    let tip = repo.rev("HEAD").expect("a tip");
    repo.git(&["config", "aiflow.trunk", "other"]);
    repo.git(&["config", "aiflow.test", "cargo test"]);
    let key = |v: &serde_json::Value, name: &str| -> serde_json::Value {
        v["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["key"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} not listed: {v:#}"))
    };
    let v = repo.aiflow_bin(&["config", "--json"]).json();
    let trunk = key(&v, "aiflow.trunk");
    let origin = format!(".aiflow.toml in {}", &tip[..12]);
    assert_eq!(
        trunk["policy_file_value"],
        serde_json::json!({"value": ["main", "release/*"], "origin": origin, "key": "gate.trunk", "config_applies": false}),
        "{trunk:#}"
    );
    assert_eq!(trunk["values"][0]["value"], "other");
    let test = key(&v, "aiflow.test");
    assert_eq!(test["policy_file_value"]["value"], "make check");
    assert_eq!(test["policy_file_value"]["config_applies"], true);
    let reviewer = key(&v, "aiflow.reviewer");
    assert_eq!(reviewer["set"], false);
    assert_eq!(
        reviewer["policy_file_value"]["value"],
        serde_json::json!(["grace@example.com"])
    );
    assert!(key(&v, "aiflow.strict").get("policy_file_value").is_none());

    // Columns aligned by padding: compare with runs of spaces as two.
    let squeeze = |t: String| -> String {
        t.lines()
            .map(|l| {
                l.split("  ")
                    .filter(|p| !p.is_empty())
                    .map(str::trim)
                    .collect::<Vec<_>>()
                    .join("  ")
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    };
    let text = squeeze(repo.aiflow_bin(&["config"]).ok());
    assert_has(
        &text,
        &format!("aiflow.trunk  main, release/*  ({origin}, gate.trunk)"),
    );
    assert_has(
        &text,
        "other  (local, file:.git/config)  ignored: .aiflow.toml does not set allow-config",
    );
    assert_has(&text, "cargo test  (local, file:.git/config)\n");
    assert_has(
        &text,
        &format!("aiflow.reviewer  grace@example.com  ({origin}, gate.reviewers)"),
    );

    // What the gate does agrees: config's trunk is ignored, the file's governs.
    // (An uncommitted edit is not the policy: the listing stays the same.)
    repo.write(
        ".aiflow.toml",
        "schema = 1\n[gate]\ntrunk = [\"nothing\"]\n",
    );
    assert_eq!(squeeze(repo.aiflow_bin(&["config"]).ok()), text);

    // allow-config committed: config applies over the file's gate keys.
    repo.write(
        ".aiflow.toml",
        "schema = 1\n[gate]\nallow-config = true\ntrunk = [\"main\"]\n",
    );
    repo.git(&["commit", "-qam", "Allow config"]);
    let v = repo.aiflow_bin(&["config", "--json"]).json();
    assert_eq!(
        key(&v, "aiflow.trunk")["policy_file_value"]["config_applies"],
        true
    );
    let text = repo.aiflow_bin(&["config"]).ok();
    assert_lacks(&text, "ignored");
}

/// A long agent run is never silent in a log: without a terminal, `exec` prints a progress line
/// every interval while the agent runs; on a terminal, which the agent's own output shares,
/// nothing is drawn over it.
#[test]
fn exec_reports_progress_while_the_agent_runs_except_on_a_terminal() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.plan_subtasks(&[("s1", "First"), ("s2", "Second")]);
    repo.aiflow(&["start", "s1"]).ok();
    let r = Run::of(
        repo.command("git")
            .args(["-c", "aiflow.agent=sleep 1; echo a >> a.txt"])
            .args(["aiflow", "exec"])
            .env("AIFLOW_PROGRESS_INTERVAL_MS", "300"),
    );
    assert_eq!(r.code, 0, "{r:?}");
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("exec: the agent `sleep 1; echo a >> a.txt` is running: "))
        .collect();
    assert!(!lines.is_empty(), "{r:?}");
    assert!(
        !r.stdout.contains("is running"),
        "progress stays off stdout: {r:?}"
    );

    if have_script() {
        repo.aiflow(&["start", "s2"]).ok();
        let out = sh(
            &repo,
            "git -c 'aiflow.agent=sleep 1; echo b >> b.txt' aiflow exec",
            true,
            &[("TERM", "xterm"), ("AIFLOW_PROGRESS_INTERVAL_MS", "300")],
        );
        assert!(!out.contains("is running"), "{out:?}");
        assert!(!out.contains("\x1b[2K"), "no spinner either: {out:?}");
        assert!(out.contains("recorded step 1"), "{out:?}");
    }
}
