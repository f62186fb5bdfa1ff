//! Hints and `next:` lines work when followed literally: each situation below provokes one, the
//! command it prints is parsed from the output and run as printed (with `sh -c`, `git aiflow`
//! found on PATH), and it must be accepted: no usage error (exit 2), no clap complaint. Also the
//! output contracts around them: `--json` errors, `finish` back on the base, `prune`, `next` on
//! a complete flow, `step`'s commit line, one unfinished flow as the current flow, `-C` repeated.

use crate::harness::*;

/// The commands a command's output tells the user to run: every `` `git aiflow …` `` in
/// backquotes, and unquoted `next: git aiflow …` / `start it: git aiflow …` lines.
fn suggested(out: &str) -> Vec<String> {
    let mut cmds = Vec::new();
    for line in out.lines() {
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 1 && part.starts_with("git aiflow ") {
                cmds.push(part.to_string());
            }
        }
        let t = line.trim_start();
        for lead in ["next: git aiflow ", "start it: git aiflow "] {
            if let Some(rest) = t.strip_prefix(lead) {
                cmds.push(format!("git aiflow {rest}"));
            }
        }
    }
    cmds
}

/// Run `cmd` as printed, in the repository, and assert git-aiflow accepted it.
#[track_caller]
fn follow(t: &TestRepo, situation: &str, cmd: &str) {
    let r = Run::of(t.command("sh").args(["-c", cmd]));
    let clap = [
        "Usage:",
        "unexpected argument",
        "unrecognized subcommand",
        "required arguments",
    ];
    assert!(
        r.code != 2 && !clap.iter().any(|m| r.stderr.contains(m)),
        "{situation}: the suggested `{cmd}` was not accepted (exit {})\nstdout:\n{}\nstderr:\n{}",
        r.code,
        r.stdout,
        r.stderr
    );
}

/// Provoke `args`, then follow every command it suggests (at least one); returns them.
#[track_caller]
fn provoke_and_follow(
    t: &TestRepo,
    situation: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Vec<String> {
    let r = t.aiflow_bin_env(args, env);
    let cmds = suggested(&format!("{}\n{}", r.stdout, r.stderr));
    assert!(
        !cmds.is_empty(),
        "{situation}: `git aiflow {}` suggested no command\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        r.stdout,
        r.stderr
    );
    for c in &cmds {
        follow(t, situation, c);
    }
    cmds
}

/// A repository with the rate-limit flow planned as a1, a2 (and a second flow, `other`, so
/// that nothing is the current flow on `main` by default).
fn two_flows() -> TestRepo {
    let t = TestRepo::new();
    t.new_rate_limit();
    t.plan_subtasks(&[("a1", "First part"), ("a2", "Second part")]);
    t.aiflow(&["new", "other", "-m", "Another flow\n\nSomething else."])
        .ok();
    t.git(&["switch", "-q", "main"]);
    t
}

/// Make a change and record it as a step on the current subtask.
fn work(t: &TestRepo, file: &str) {
    t.write(file, "work\n");
    t.aiflow(&["step", "-m", &format!("Write {file}")]).ok();
}

#[test]
fn every_hint_and_next_line_runs_as_printed() {
    // The manual provider, nothing pasted: the hint names the flow.
    let t = two_flows();
    t.git(&["config", "aiflow.provider", "manual"]);
    std::fs::write(t.path.join("answer.txt"), "{\"questions\": []}\n").unwrap();
    let cmds = provoke_and_follow(&t, "manual provider, empty answer", &["plan", "other"], &[]);
    assert!(
        cmds.iter()
            .any(|c| c == "git aiflow plan other < answer.txt"),
        "{cmds:?}"
    );
    t.git(&["config", "--unset", "aiflow.provider"]);
    std::fs::remove_file(t.path.join("answer.txt")).unwrap();

    // No current flow on main with two flows: the hint names one.
    provoke_and_follow(&t, "no current flow", &["status"], &[]);
    // `next` on a flow without a plan.
    provoke_and_follow(&t, "no plan yet", &["next", "other"], &[]);
    // `next` with a subtask to start.
    provoke_and_follow(&t, "next names a subtask", &["next", "rate-limit"], &[]);
    // `start` with nothing named.
    provoke_and_follow(&t, "start without a subtask", &["start"], &[]);
    // An unknown subtask.
    provoke_and_follow(
        &t,
        "unknown subtask",
        &["start", "zz", "--flow", "rate-limit"],
        &[],
    );
    // `start`: then exec or step (an agent that writes a file).
    t.git(&["config", "aiflow.agent", "echo agent >> agent.txt"]);
    t.git(&["switch", "-q", "main"]);
    provoke_and_follow(&t, "after start", &["start", "a1"], &[]);
    // `step` off a subtask branch names the subtask to switch to, in a form `step` takes.
    t.git(&["switch", "-q", "main"]);
    let cmds = provoke_and_follow(&t, "step off a subtask branch", &["step", "-m", "x"], &[]);
    assert!(
        cmds.iter().any(|c| c.starts_with("git aiflow start a1")),
        "{cmds:?}"
    );
    let a1 = "aiflow/rate-limit--a1-first-part";
    assert_eq!(t.git(&["branch", "--show-current"]).trim(), a1);
    // `exec`: review, then approve (the agent wrote the steps, so you may approve them).
    provoke_and_follow(&t, "after exec", &["exec"], &[]);
    // `reject`: exec again, or edit and step.
    provoke_and_follow(
        &t,
        "after reject",
        &["reject", "a1", "-m", "Not yet"],
        AS_GRACE,
    );
    // `integrate` before the approval: review, then approve.
    provoke_and_follow(&t, "integrate unapproved", &["integrate", "a1"], &[]);
    // `integrate` of a subtask not started: start it (that switches to a2's branch).
    provoke_and_follow(&t, "integrate not started", &["integrate", "a2"], &[]);
    t.git(&["switch", "-q", a1]);
    // A red test run.
    work(&t, "b.txt");
    t.git(&["config", "aiflow.test", "false"]);
    t.write("c.txt", "more\n");
    provoke_and_follow(&t, "red step", &["step", "-m", "Red"], &[]);
    t.git(&["config", "--unset", "aiflow.test"]);
    // Integrate a1 (a2 is under way already), then a2: next is finish.
    t.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
    let cmds = provoke_and_follow(
        &t,
        "integrate, the rest under way",
        &["integrate", "a1"],
        &[],
    );
    assert_eq!(cmds, ["git aiflow status rate-limit"]);
    t.git(&["switch", "-q", "aiflow/rate-limit--a2-second-part"]);
    work(&t, "d.txt");
    t.aiflow_env(&["approve", "a2"], AS_GRACE).ok();
    let r = t.aiflow_bin(&["integrate", "a2"]);
    let cmds = suggested(&r.stdout);
    assert_eq!(cmds, ["git aiflow finish rate-limit"], "{}", r.stdout);
    // `next` on a complete flow: says to finish, exit 0.
    let r = t.aiflow_bin(&["next", "rate-limit"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(suggested(&r.stdout), ["git aiflow finish rate-limit"]);
    // `finish` (the hint `integrate` gave), then the prune it suggests.
    let cmds = provoke_and_follow(&t, "finish", &["finish", "rate-limit"], &[]);
    assert_eq!(cmds, ["git aiflow prune rate-limit"]);
    // Hooks not installed.
    provoke_and_follow(&t, "hooks not installed", &["hooks", "status"], &[]);
    // A revision that does not exist.
    provoke_and_follow(
        &t,
        "no such revision",
        &["plan", "show", "rate-limit", "--revision", "9"],
        &[],
    );
}

#[test]
fn json_errors_are_an_object_on_stdout_with_the_exit_code() {
    let t = TestRepo::new();
    t.aiflow(&["init"]).ok();
    // A refusal from the library: unknown flow (exit 2).
    let r = t.aiflow_bin(&["status", "nope", "--json"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON on stdout");
    assert_eq!(v["error"]["exit"], 2);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("nope"),
        "{v}"
    );
    assert!(v["error"]["hints"].is_array());
    assert_has(&r.stderr, "error: ");
    // A clap usage error with --json: JSON too.
    let r = t.aiflow_bin(&["list", "--json", "--bogus"]);
    assert_eq!(r.code, 2);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON on stdout");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("--bogus"),
        "{v}"
    );
    // A refusal (exit 1): a subtask branch missing... next on a flow without a plan.
    t.aiflow(&["new", "x", "-m", "X\n\nx."]).ok();
    let r = t.aiflow_bin(&["next", "x", "--json"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON on stdout");
    assert_eq!(v["error"]["exit"], 1);
    // Without --json, stdout stays empty.
    let r = t.aiflow_bin(&["status", "nope"]);
    assert_eq!(r.stdout, "");
}

#[test]
fn init_answer_and_hooks_take_json() {
    let t = TestRepo::new();
    let v = t.aiflow_bin(&["init", "--json"]).json();
    assert_eq!(v["changed"], true);
    assert_eq!(v["keys"][0]["key"], "notes.displayRef");
    let v = t.aiflow_bin(&["init", "--json"]).json();
    assert_eq!(v["changed"], false);
    let v = t.aiflow_bin(&["hooks", "install", "--json"]).json();
    assert!(
        v["hooks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["result"] == "installed"),
        "{v}"
    );
    let v = t.aiflow_bin(&["hooks", "uninstall", "--json"]).json();
    assert!(
        v["hooks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["result"] == "removed"),
        "{v}"
    );
    t.new_rate_limit();
    t.use_scripted_provider();
    t.aiflow(&["plan", "rate-limit"]).ok();
    let mut args: Vec<&str> = ANSWER_RATE_LIMIT.to_vec();
    args.push("--json");
    let v = t.aiflow_bin(&args).json();
    assert_eq!(v["flow"], "rate-limit");
    assert_eq!(v["next"], "git aiflow plan rate-limit");
    assert_eq!(v["open"].as_array().unwrap().len(), 0);
}

#[test]
fn hooks_status_in_a_bare_repository_shows_the_server_hook() {
    let t = TestRepo::new();
    let bare = t.sibling("bare.git");
    t.git(&["clone", "-q", "--bare", ".", bare.to_str().unwrap()]);
    let out = Run::of(t.command_in(BIN, &bare).args(["hooks", "status"])).ok();
    assert_has(&out, "pre-receive");
    assert_lacks(&out, "pre-commit");
}

#[test]
fn finish_returns_to_the_base_and_prune_deletes_only_merged_branches() {
    let t = TestRepo::new();
    t.new_rate_limit();
    t.plan_subtasks(&[("a1", "First part")]);
    t.aiflow(&["start", "a1"]).ok();
    work(&t, "a.txt");
    t.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
    t.aiflow(&["integrate", "a1"]).ok();
    t.git(&["switch", "-q", "aiflow/rate-limit--a1-first-part"]);
    // A dirty tree: finish says it stays.
    t.write("scratch.txt", "x\n");
    let r = t.aiflow_bin(&["finish"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_has(&r.stdout, "still on aiflow/rate-limit--a1-first-part");
    assert_eq!(
        t.git(&["branch", "--show-current"]).trim(),
        "aiflow/rate-limit--a1-first-part"
    );
    std::fs::remove_file(t.path.join("scratch.txt")).unwrap();
    // A branch of the flow with work not in the base is kept by prune.
    t.git(&["switch", "-q", "aiflow/rate-limit"]);
    t.git(&["commit", "-q", "--allow-empty", "-m", "after the finish"]);
    t.git(&["switch", "-q", "main"]);
    let dry = t.aiflow_bin(&["prune", "-n"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_has(
        &dry.stdout,
        "Would delete branch aiflow/rate-limit--a1-first-part ",
    );
    assert_has(
        &dry.stderr,
        "warning: kept aiflow/rate-limit: not merged into main",
    );
    assert!(
        t.rev("aiflow/rate-limit--a1-first-part").is_some(),
        "a dry run deletes nothing"
    );
    let v = t.aiflow_bin(&["prune", "--json"]).json();
    let outcomes: Vec<(String, String)> = v["flows"][0]["branches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["branch"].as_str().unwrap().into(),
                b["outcome"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("aiflow/rate-limit".to_string(), "unmerged".to_string()),
            ("aiflow/rate-limit--a1-first-part".into(), "deleted".into())
        ]
    );
    assert!(t.rev("aiflow/rate-limit--a1-first-part").is_none());
    assert!(t.rev("aiflow/rate-limit").is_some(), "unmerged, kept");
    // A flow not finished is refused.
    t.aiflow(&["new", "open", "-m", "Open\n\nstill open."]).ok();
    let err = t.aiflow_bin(&["prune", "open"]).fails(1);
    assert_has(&err, "not finished");
}

#[test]
fn finish_on_a_clean_subtask_branch_switches_to_the_base_and_can_delete_branches() {
    let t = TestRepo::new();
    t.new_rate_limit();
    t.plan_subtasks(&[("a1", "First part")]);
    t.aiflow(&["start", "a1"]).ok();
    work(&t, "a.txt");
    t.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
    t.aiflow(&["integrate", "a1"]).ok();
    let out = t.aiflow_bin(&["finish", "--delete-branches"]).ok();
    assert_has(&out, "Switched to branch 'main'");
    assert_eq!(t.git(&["branch", "--show-current"]).trim(), "main");
    assert_has(&out, "Deleted branch aiflow/rate-limit--a1-first-part");
    assert!(t.rev("aiflow/rate-limit").is_none());
    // The work is in main.
    assert!(t.path.join("a.txt").exists());
    // `new` from a flow's branch warns.
    t.aiflow(&["new", "one", "-m", "One\n\nfirst."]).ok();
    t.git(&["switch", "-q", "aiflow/one"]);
    let r = t.aiflow_bin(&["new", "two", "-m", "Two\n\nsecond."]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_has(
        &r.stderr,
        "warning: the base aiflow/one is a branch of flow one",
    );
    assert_has(&r.stderr, "--base main");
}

#[test]
fn step_prints_what_git_commit_prints_and_the_step_number() {
    let t = TestRepo::new();
    t.new_rate_limit();
    t.plan_subtasks(&[("a1", "First part")]);
    t.aiflow(&["start", "a1"]).ok();
    t.write("a.txt", "x\n");
    let out = t.aiflow_bin(&["step", "-m", "Add the bucket"]).ok();
    let short = t.git(&["rev-parse", "--short=7", "HEAD"]);
    assert_eq!(
        out.lines().next().unwrap(),
        format!(
            "[aiflow/rate-limit--a1-first-part {}] Add the bucket",
            short.trim()
        )
    );
    assert_has(&out, "step 1 of a1");
}

#[test]
fn one_unfinished_flow_is_the_current_flow_from_any_branch() {
    let t = TestRepo::new();
    t.new_rate_limit();
    t.git(&["switch", "-q", "main"]);
    let v = t.aiflow_bin(&["status", "--json"]).json();
    assert_eq!(v["slug"], "rate-limit", "{v}");
    t.aiflow(&["new", "other", "-m", "Other\n\nother."]).ok();
    t.git(&["switch", "-q", "main"]);
    let err = t.aiflow_bin(&["status"]).fails(2);
    assert_has(&err, "does not belong to a flow");
}

#[test]
fn dash_c_may_be_repeated_and_relative_ones_combine() {
    let t = TestRepo::new();
    std::fs::create_dir_all(t.path.join("sub/deeper")).unwrap();
    let parent = t.path.parent().unwrap();
    let out = Run::of(
        t.command_in(BIN, parent)
            .args(["-C", "repo", "-C", "sub", "-C", "deeper", "init"]),
    )
    .ok();
    assert_has(&out, "git-aiflow is set up");
    let err = Run::of(
        t.command_in(BIN, parent)
            .args(["-C", "repo", "-C", "nowhere", "list"]),
    )
    .fails(2);
    assert_has(&err, "cannot change to 'nowhere'");
    // In-process, the same.
}

#[test]
fn status_cuts_long_titles_with_an_ellipsis() {
    let t = TestRepo::new();
    t.new_rate_limit();
    let long = "A very long subtask title that goes on and on well past the column";
    t.plan_subtasks(&[("a1", long), ("a2", "Short")]);
    let out = t.aiflow(&["status", "rate-limit"]).ok();
    let line = out.lines().find(|l| l.contains(" a1 ")).expect("a1 row");
    assert_has(line, "A very long subtask title that goes on and on w…");
    assert_lacks(&out, long);
}

#[test]
fn the_answer_hint_for_open_questions_runs_as_printed() {
    let t = TestRepo::new();
    t.new_rate_limit();
    t.use_scripted_provider();
    // The questions: answer in the editor (it fails here: exit 1), on the command line, or skip.
    // Followed in that order, the skip comes last; `answer` takes answers after a skip.
    let cmds = provoke_and_follow(&t, "questions asked", &["plan", "rate-limit"], &[]);
    assert_eq!(
        cmds,
        [
            "git aiflow answer rate-limit",
            "git aiflow answer rate-limit --answer 1=TEXT",
            "git aiflow answer rate-limit --skip"
        ]
    );
    // Some answered, the rest open (in a flow not skipped).
    let t = TestRepo::new();
    t.new_rate_limit();
    t.use_scripted_provider();
    t.aiflow(&["plan", "rate-limit"]).ok();
    let cmds = provoke_and_follow(
        &t,
        "questions still open",
        &["answer", "rate-limit", "--answer", "1=Redis"],
        &[],
    );
    assert!(
        cmds.iter()
            .any(|c| c.starts_with("git aiflow answer rate-limit --answer 2=")),
        "{cmds:?}"
    );
}

#[test]
fn every_command_that_prints_state_takes_json() {
    let t = TestRepo::new();
    // Every leaf command, from the commands `-h` lists; demo, man and completions print no state.
    let mut leaves = Vec::new();
    let mut queue: Vec<Vec<String>> = vec![vec![]];
    while let Some(path) = queue.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("-h");
        let help = t.aiflow_bin(&args).ok();
        let subs: Vec<String> = help
            .split("Commands:\n")
            .nth(1)
            .map(|rest| {
                rest.lines()
                    .take_while(|l| l.starts_with("  "))
                    // A wrapped description goes on deeper.
                    .filter(|l| !l.starts_with("   "))
                    .filter_map(|l| l.split_whitespace().next().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if subs.is_empty() || help.contains("[subtask|flow]") {
            leaves.push((path.join(" "), help.clone()));
        }
        for s in subs {
            let mut p = path.clone();
            p.push(s);
            queue.push(p);
        }
    }
    assert!(leaves.len() > 30, "{}", leaves.len());
    let missing: Vec<&str> = leaves
        .iter()
        .filter(|(name, help)| {
            !["demo", "man", "completions"].contains(&name.as_str()) && !help.contains("--json")
        })
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(missing.is_empty(), "no --json: {missing:?}");
}

#[test]
fn spec_and_plan_edits_take_json() {
    let t = TestRepo::new();
    t.new_rate_limit();
    let v = t
        .aiflow_bin(&[
            "spec",
            "edit",
            "rate-limit",
            "-m",
            "Limit the rate\n\nPer client.",
            "--json",
        ])
        .json();
    assert_eq!(v["flow"], "rate-limit");
    assert_eq!(v["changed"], true);
    t.plan_subtasks(&[("a1", "First part")]);
    let file = t.outside(
        "edit.toml",
        b"[[subtask]]\nid = \"a1\"\ntitle = \"First part\"\nphase = \"core\"\n\n[[subtask]]\nid = \"a2\"\ntitle = \"Second\"\nphase = \"core\"\n",
    );
    let v = t
        .aiflow_bin(&[
            "plan",
            "edit",
            "rate-limit",
            "-F",
            file.to_str().unwrap(),
            "--json",
        ])
        .json();
    assert_eq!(v["changed"], true, "{v}");
    assert!(v["revision"].as_u64().unwrap() >= 2, "{v}");
}

/// `cmd` with its placeholders (`<range>`, `<remote>`, …) filled in from `values`.
fn fill(cmd: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(cmd.to_owned(), |c, (k, v)| c.replace(k, v))
}

/// The backquoted commands in `out` that start with `prefix` (`git config`, `git notes` …).
fn suggested_git(out: &str, prefix: &str) -> Vec<String> {
    out.lines()
        .flat_map(|l| l.split('`').skip(1).step_by(2))
        .filter(|p| p.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// The hints of the sync, audit, gate and identity errors, followed as printed (placeholders
/// filled in with a real value of their kind): each is accepted, and where the hint says it
/// fixes the situation, the command that failed then succeeds.
#[test]
fn sync_audit_gate_and_identity_hints_run_as_printed() {
    let t = two_flows();

    // Sync with no remote: the hint names the command with a remote; once one exists, it runs.
    let r = t.aiflow_bin(&["sync"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let cmds = suggested(&r.stderr);
    assert_eq!(cmds, ["git aiflow sync <remote>"], "{}", r.stderr);
    let remote = t.sibling("remote.git");
    t.git(&["init", "-q", "--bare", remote.to_str().expect("utf-8")]);
    t.git(&["remote", "add", "origin", remote.to_str().expect("utf-8")]);
    for c in &cmds {
        let c = fill(c, &[("<remote>", "origin")]);
        follow(&t, "sync without a remote", &c);
    }
    // Ahead of the remote: `status` says to sync, and syncing makes it say nothing more.
    t.aiflow(&["new", "third", "-m", "Third\n\nA third flow."])
        .ok();
    let cmds = provoke_and_follow(&t, "ahead of the remote", &["status", "third"], &[]);
    assert!(cmds.iter().any(|c| c == "git aiflow sync"), "{cmds:?}");
    let r = t.aiflow_bin(&["status", "third"]);
    assert!(
        !suggested(&r.stdout).iter().any(|c| c == "git aiflow sync"),
        "{}",
        r.stdout
    );

    // A clone without the flows: the gate cannot verify a flow's review and says to fetch them;
    // both ways it names work, and then the range passes.
    t.aiflow(&["start", "a1", "--flow", "rate-limit"]).ok();
    work(&t, "a.txt");
    t.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
    t.aiflow(&["sync"]).ok();
    t.git(&[
        "push",
        "-q",
        "origin",
        "aiflow/rate-limit--a1-first-part",
        "main",
    ]);
    let clone = t.sibling("clone");
    t.git(&[
        "clone",
        "-q",
        "--no-tags",
        remote.to_str().expect("utf-8"),
        clone.to_str().expect("utf-8"),
    ]);
    let range = "origin/main..origin/aiflow/rate-limit--a1-first-part";
    let check = |cwd: &std::path::Path| Run::of(t.command_in(BIN, cwd).args(["check", range]));
    let r = check(&clone);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let out = format!("{}{}", r.stdout, r.stderr);
    let fetch = suggested_git(&out, "git fetch");
    assert_eq!(
        fetch,
        ["git fetch <remote> refs/notes/aiflow:refs/notes/aiflow"],
        "{out}"
    );
    let sync = suggested(&out);
    assert!(sync.iter().any(|c| c == "git aiflow sync"), "{out}");
    let fetched = Run::of(
        t.command_in("sh", &clone)
            .args(["-c", &fill(&fetch[0], &[("<remote>", "origin")])]),
    );
    assert_eq!(fetched.code, 0, "{}", fetched.stderr);
    let r = check(&clone);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    Run::of(
        t.command_in("git", &clone)
            .args(["update-ref", "-d", "refs/notes/aiflow"]),
    )
    .ok();
    let synced = Run::of(t.command_in("sh", &clone).args(["-c", "git aiflow sync"]));
    assert_eq!(synced.code, 0, "{}", synced.stderr);
    assert_eq!(check(&clone).code, 0);

    // No range off a flow's branch: the example it gives is a range that runs.
    t.git(&["switch", "-q", "main"]);
    let cmds = provoke_and_follow(&t, "check of no range", &["check"], &[]);
    assert_eq!(cmds, ["git aiflow check main..HEAD"]);

    // Audit: of a subtask not started, of one without changes, of a finding that does not exist.
    t.git(&["config", "aiflow.provider", "manual"]);
    t.git(&["config", "aiflow.agent", "echo agent >> agent.txt"]);
    let cmds = provoke_and_follow(
        &t,
        "audit of a subtask not started",
        &["audit", "a2", "--flow", "rate-limit"],
        &[],
    );
    assert_eq!(cmds, ["git aiflow start a2"]);
    assert_eq!(
        t.git(&["branch", "--show-current"]).trim(),
        "aiflow/rate-limit--a2-second-part"
    );
    let cmds = provoke_and_follow(&t, "audit without changes", &["audit", "a2"], &[]);
    assert_eq!(cmds, ["git aiflow exec", "git aiflow step"]);
    assert_eq!(
        std::fs::read_to_string(t.path.join("agent.txt")).unwrap(),
        "agent\n"
    );
    let r = t.aiflow_bin(&["audit", "accept", "f9", "-m", "fine"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let cmds = suggested(&r.stderr);
    assert_eq!(
        cmds,
        ["git aiflow status", "git aiflow review <subtask>"],
        "{}",
        r.stderr
    );
    for c in &cmds {
        follow(&t, "audit of no finding", &fill(c, &[("<subtask>", "a2")]));
    }
    t.git(&["config", "--unset", "aiflow.provider"]);
    t.git(&["config", "--unset", "aiflow.agent"]);

    // The hooks refuse a merge of unreviewed work and name what lists the same and what shows
    // the hooks.
    t.aiflow(&["hooks", "install"]).ok();
    t.git(&["switch", "-q", "aiflow/rate-limit--a2-second-part"]);
    work(&t, "b.txt");
    t.git(&["switch", "-q", "aiflow/rate-limit"]);
    let r = t.git_run(&[
        "merge",
        "--no-ff",
        "--no-edit",
        "aiflow/rate-limit--a2-second-part",
    ]);
    assert_ne!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let cmds = suggested(&r.stderr);
    assert!(
        cmds.iter().any(|c| c == "git aiflow check <range>")
            && cmds.iter().any(|c| c == "git aiflow hooks status"),
        "{}",
        r.stderr
    );
    t.git(&["merge", "--abort"]);
    for c in &cmds {
        let c = fill(
            c,
            &[(
                "<range>",
                "aiflow/rate-limit..aiflow/rate-limit--a2-second-part",
            )],
        );
        follow(&t, "hook refusal", &c);
    }
    t.aiflow(&["hooks", "uninstall"]).ok();

    // No identity: the hint's `git config` commands, run as printed, are what was missing.
    let anonymous = |program: &str| {
        let mut cmd = t.command(program);
        for k in [
            "GIT_AUTHOR_NAME",
            "GIT_AUTHOR_EMAIL",
            "GIT_COMMITTER_NAME",
            "GIT_COMMITTER_EMAIL",
        ] {
            cmd.env_remove(k);
        }
        cmd
    };
    let new_fourth = ["new", "fourth", "-m", "Fourth\n\nA fourth flow."];
    let r = Run::of(anonymous(BIN).args(new_fourth));
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let config = suggested_git(&r.stderr, "git config");
    assert_eq!(config.len(), 2, "{}", r.stderr);
    for c in &config {
        Run::of(anonymous("sh").args(["-c", c])).ok();
    }
    Run::of(anonymous(BIN).args(new_fourth)).ok();
}

/// A flow may not be named after a subcommand of a command that takes a slug (`plan show`
/// would show the current plan, not plan flow `show`): refused, given or derived from the title,
/// with a slug that works suggested.
#[test]
fn a_slug_that_is_a_subcommand_word_is_refused_with_one_that_works() {
    let t = TestRepo::new();
    for (args, slug) in [
        (&["new", "show", "-m", "Show\n\nShow things."][..], "show"),
        (&["new", "-m", "# Log\n\nLog things."][..], "log"),
        (
            &["new", "accept", "-m", "Accept\n\nAccept things."][..],
            "accept",
        ),
    ] {
        let r = t.aiflow_bin(args);
        assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
        assert_has(&r.stderr, &format!("a flow cannot be named `{slug}`"));
        assert_has(&r.stderr, &format!("for example `{slug}-flow`"));
    }
    assert_eq!(t.git(&["notes", "--ref=aiflow", "list"]), "");
    t.aiflow(&["new", "show-flow", "-m", "Show\n\nShow things."])
        .ok();
    let r = t.aiflow_bin(&["status", "show-flow", "--json"]).json();
    assert_eq!(r["slug"], "show-flow");
}

/// The drafts an invalid edit leaves behind: the hint's `-F` command, run as printed once the
/// draft is fixed by hand, is what applies it (spec, plan and answers).
#[test]
fn draft_hints_run_as_printed_once_the_draft_is_fixed() {
    let t = TestRepo::new();
    t.new_rate_limit();
    t.use_scripted_provider();
    t.aiflow(&["plan", "rate-limit"]).ok();

    // Fix `draft` with `sed` expression `fix`, then run every suggested command: it must succeed.
    let retry = |situation: &str, err: &str, fix: &str| {
        let cmds = suggested(err);
        assert_eq!(cmds.len(), 1, "{situation}: {err}");
        let draft = cmds[0]
            .split(" -F ")
            .nth(1)
            .unwrap_or_else(|| panic!("{situation}: no -F in {}", cmds[0]));
        Run::of(t.command("sed").args(["-i", fix, draft])).ok();
        let r = Run::of(t.command("sh").args(["-c", &cmds[0]]));
        assert_eq!(
            r.code, 0,
            "{situation}: `{}`\n{}{}",
            cmds[0], r.stdout, r.stderr
        );
        assert!(
            !std::path::Path::new(draft).exists() || situation == "answers",
            "{situation}"
        );
    };

    // Answers with a question number that does not exist.
    let editor = t.script(
        "answers.sh",
        r#"printf '[1] q\nRedis\n[9] q\nFall back\n' > "$1""#,
    );
    let err = t
        .aiflow_env(
            &["answer", "rate-limit"],
            &[("GIT_EDITOR", &editor.to_string_lossy())],
        )
        .fails(2);
    retry("answers", &err, "s/^\\[9\\]/[2]/");
    let v = t.aiflow_bin(&["status", "rate-limit", "--json"]).json();
    assert_eq!(v["questions"]["answered"], 2, "{v}");

    // A spec without its summary.
    let editor = t.script("spec.sh", r#"printf '# Rate limiting\n\n' > "$1""#);
    let err = t
        .aiflow_env(
            &["spec", "edit", "rate-limit"],
            &[("GIT_EDITOR", &editor.to_string_lossy())],
        )
        .fails(2);
    retry("spec", &err, "$a A summary of the end state.");
    assert_has(
        &t.aiflow(&["spec", "show", "rate-limit"]).ok(),
        "A summary of the end state.",
    );

    // A plan with a phase that does not exist.
    t.aiflow(&["answer", "rate-limit", "--skip"]).ok();
    t.aiflow(&["plan", "rate-limit"]).ok();
    let editor = t.script(
        "plan.sh",
        r#"sed -e '0,/^phase = "core"$/s//phase = "eventually"/' "$1" > "$1.new" && mv "$1.new" "$1""#,
    );
    let before = t
        .aiflow_bin(&["plan", "log", "rate-limit", "--json"])
        .json();
    let err = t
        .aiflow_env(
            &["plan", "edit", "rate-limit"],
            &[("GIT_EDITOR", &editor.to_string_lossy())],
        )
        .fails(2);
    retry(
        "plan",
        &err,
        "s/^phase = \"eventually\"$/phase = \"nice to have\"/",
    );
    let after = t
        .aiflow_bin(&["plan", "log", "rate-limit", "--json"])
        .json();
    assert_eq!(
        after.as_array().map(Vec::len),
        before.as_array().map(|a| a.len() + 1),
        "{after}"
    );
}

/// A remote that refuses the push (its pre-receive hook says no): `sync` fails with nothing local
/// changed, and its hint, `git aiflow sync --no-push` run as printed, takes the remote's flows
/// without pushing.
#[test]
fn the_refused_push_hint_runs_as_printed() {
    let t = TestRepo::new();
    let remote = t.sibling("remote.git");
    let remote_s = remote.to_str().expect("utf-8");
    t.git(&["init", "-q", "--bare", "-b", "main", remote_s]);
    t.git(&["remote", "add", "origin", remote_s]);
    t.git(&["push", "-q", "origin", "main"]);
    t.new_rate_limit();
    t.aiflow(&["sync"]).ok();
    // Someone else's flow reaches the remote; then the remote stops taking pushes.
    let other = t.sibling("other");
    t.git(&["clone", "-q", remote_s, other.to_str().expect("utf-8")]);
    let in_other = |args: &[&str]| Run::of(t.command_in(BIN, &other).args(args)).ok();
    in_other(&["sync"]);
    in_other(&["new", "theirs", "-m", "Theirs\n\nTheir flow."]);
    in_other(&["sync"]);
    std::fs::write(
        remote.join("hooks/pre-receive"),
        "#!/bin/sh\necho 'no pushes today' >&2\nexit 1\n",
    )
    .expect("hook");
    Run::of(
        t.command("chmod")
            .args(["+x", &format!("{remote_s}/hooks/pre-receive")]),
    )
    .ok();
    t.aiflow(&["new", "ours", "-m", "Ours\n\nOur flow."]).ok();
    let before = t.rev("refs/notes/aiflow");
    let r = t.aiflow_bin(&["sync"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(t.rev("refs/notes/aiflow"), before, "nothing local changed");
    let cmds = suggested(&r.stderr);
    assert_eq!(cmds, ["git aiflow sync --no-push"], "{}", r.stderr);
    let followed = Run::of(t.command("sh").args(["-c", &cmds[0]]));
    assert_eq!(followed.code, 0, "{followed:?}");
    let list = t.aiflow_bin(&["list", "--json"]).json();
    assert!(list.to_string().contains("\"theirs\""), "{list}");
}

/// A bad gate setting: the hint's `git config --show-origin …`, run as printed, shows the
/// setting and where it is; fixed, the check runs.
#[test]
fn the_bad_gate_setting_hint_runs_as_printed() {
    let t = TestRepo::new();
    t.git(&["config", "aiflow.allowSelfReview", "maybe"]);
    let r = t.aiflow_bin(&["check", "main..main"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let shown = suggested_git(&r.stderr, "git config --show-origin");
    assert_eq!(shown.len(), 1, "{}", r.stderr);
    let listed = Run::of(t.command("sh").args(["-c", &shown[0]])).ok();
    assert!(
        listed.contains("file:.git/config\taiflow.allowselfreview maybe"),
        "{listed}"
    );
    t.git(&["config", "aiflow.allowSelfReview", "false"]);
    let r = t.aiflow_bin(&["check", "main..main"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}
