//! The README's configuration snippets are what the tools read: every fenced `toml` block parses
//! as TOML, every `yaml` block as YAML (with PyYAML, through `python3`), and the hook-manager and
//! CI recipes say what the gate needs.

use std::process::{Command, Stdio};

/// Every fenced block of `lang` in `text`, with its line number, its fence's indentation
/// removed.
fn blocks(text: &str, lang: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut open: Option<(usize, usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim_start();
        match &mut open {
            None if t == format!("```{lang}") => open = Some((n + 1, indent, String::new())),
            Some((start, ind, body)) => {
                if t == "```" && indent == *ind {
                    out.push((*start, std::mem::take(body)));
                    open = None;
                } else {
                    body.push_str(line.get(*ind..).unwrap_or(line.trim_start()));
                    body.push('\n');
                }
            }
            None => {}
        }
    }
    out
}

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README")
}

/// Parse `yaml` with PyYAML and return it as JSON.
#[track_caller]
fn yaml(line: usize, yaml: &str) -> serde_json::Value {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with PyYAML is needed to check the README's YAML");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(yaml.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("python3");
    assert!(
        out.status.success(),
        "README line {line}: not valid YAML:\n{yaml}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from python")
}

#[test]
fn every_toml_and_yaml_snippet_in_the_readme_parses() {
    let text = readme();
    let tomls = blocks(&text, "toml");
    assert!(!tomls.is_empty());
    for (line, body) in &tomls {
        if let Err(e) = body.parse::<toml::Table>() {
            panic!("README line {line}: not valid TOML: {e}\n{body}");
        }
    }
    let yamls = blocks(&text, "yaml");
    assert!(yamls.len() >= 4, "{yamls:?}");
    for (line, body) in &yamls {
        yaml(*line, body);
    }
}

#[test]
fn the_hook_manager_recipes_run_the_gate_hooks() {
    let text = readme();
    let parsed: Vec<serde_json::Value> = blocks(&text, "yaml")
        .iter()
        .map(|(l, b)| yaml(*l, b))
        .collect();
    // lefthook: each hook runs `git aiflow hook <name>`; pre-push gets the refs on stdin.
    let lefthook = parsed
        .iter()
        .find(|v| v.get("pre-push").is_some())
        .expect("the lefthook recipe");
    for hook in ["pre-merge-commit", "pre-commit", "pre-push"] {
        let run = lefthook[hook]["commands"]["aiflow"]["run"]
            .as_str()
            .unwrap_or_else(|| panic!("lefthook {hook}: no run: {lefthook}"));
        assert!(run.starts_with(&format!("git aiflow hook {hook}")), "{run}");
    }
    assert_eq!(
        lefthook["pre-push"]["commands"]["aiflow"]["use_stdin"],
        true
    );
    // pre-commit: no `rev` that names a release that does not exist; the hook is the one the
    // repository's .pre-commit-hooks.yaml describes.
    let precommit = parsed
        .iter()
        .find(|v| v.get("repos").is_some())
        .expect("the pre-commit recipe");
    let shipped = yaml(
        0,
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/.pre-commit-hooks.yaml"
        ))
        .expect(".pre-commit-hooks.yaml"),
    );
    let repo = &precommit["repos"][0];
    assert_eq!(repo["repo"], "local", "{precommit}");
    assert!(repo.get("rev").is_none());
    let hook = &repo["hooks"][0];
    for key in [
        "id",
        "entry",
        "language",
        "stages",
        "pass_filenames",
        "always_run",
    ] {
        assert_eq!(hook[key], shipped[0][key], "{key}");
    }
}

#[test]
fn the_ci_recipes_fetch_the_flows_and_run_the_gate() {
    let text = readme();
    let ci: Vec<(usize, String)> = blocks(&text, "yaml")
        .into_iter()
        .filter(|(_, b)| b.contains("git aiflow check"))
        .collect();
    assert_eq!(ci.len(), 2, "the GitHub and GitLab jobs");
    for (line, body) in &ci {
        yaml(*line, body);
        assert!(
            body.contains("refs/notes/aiflow:refs/notes/aiflow"),
            "README line {line}: the job does not fetch the flows:\n{body}"
        );
    }
}

/// The GitLab job run as CI runs it: its script lines, in order, in a fresh clone (the install
/// line aside: the binary is on the PATH). An approved subtask's range passes; the same job
/// without its fetch of the flows cannot verify the review and fails (`review-unverifiable`),
/// saying what to fetch.
#[test]
fn the_gitlab_job_passes_a_reviewed_range_and_fails_without_the_flows() {
    use crate::harness::{AS_GRACE, Run, TestRepo};
    let repo = TestRepo::new();
    repo.new_rate_limit();
    repo.plan_subtasks(&[("a1", "Limiter")]);
    repo.aiflow(&["start", "a1"]).ok();
    repo.write("limiter.rs", "limit\n");
    repo.aiflow(&["step", "-m", "Limiter"]).ok();
    repo.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
    let tip = repo
        .rev("aiflow/rate-limit--a1-limiter")
        .expect("the subtask");

    let text = readme();
    let (line, body) = blocks(&text, "yaml")
        .into_iter()
        .find(|(_, b)| b.contains("CI_MERGE_REQUEST_TARGET_BRANCH_NAME"))
        .expect("the GitLab job");
    let job = yaml(line, &body);
    let script: Vec<String> = job["aiflow-review-gate"]["script"]
        .as_array()
        .expect("a script")
        .iter()
        .map(|l| l.as_str().expect("a line").to_owned())
        .filter(|l| !l.starts_with("cargo install"))
        .collect();
    assert!(script.iter().any(|l| l.starts_with("git aiflow check")));

    let run = |name: &str, lines: &[&String]| -> Run {
        let dir = repo.sibling(name);
        repo.git(&["clone", "-q", ".", dir.to_str().expect("utf-8")]);
        let mut last = None;
        for l in lines {
            let r = Run::of(
                repo.command_in("sh", &dir)
                    .args(["-c", l])
                    .env("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "aiflow/rate-limit")
                    .env("CI_COMMIT_SHA", &tip),
            );
            if r.code != 0 {
                return r;
            }
            last = Some(r);
        }
        last.expect("a line ran")
    };
    let all: Vec<&String> = script.iter().collect();
    let passed = run("ci", &all);
    assert_eq!(passed.code, 0, "{}\n{}", passed.stdout, passed.stderr);

    let without: Vec<&String> = script
        .iter()
        .filter(|l| !l.contains("refs/notes/aiflow"))
        .collect();
    assert_eq!(without.len(), all.len() - 1);
    let failed = run("ci-without-notes", &without);
    assert_eq!(failed.code, 1, "{}\n{}", failed.stdout, failed.stderr);
    assert!(
        format!("{}{}", failed.stdout, failed.stderr)
            .contains("so its review cannot be verified; fetch it"),
        "{}\n{}",
        failed.stdout,
        failed.stderr
    );
}

/// Whether `tool` is on the `PATH` the tests run with. CI installs the hook managers (see
/// `.ci/run`) and sets `AIFLOW_TEST_REQUIRE_TOOLS=1`, so that there a missing tool fails the
/// test instead of skipping it.
fn have_tool(tool: &str) -> bool {
    let found =
        std::env::split_paths(&crate::harness::path_with_bin()).any(|dir| dir.join(tool).is_file());
    if !found {
        assert!(
            std::env::var_os("AIFLOW_TEST_REQUIRE_TOOLS").is_none(),
            "{tool} is not on PATH, and AIFLOW_TEST_REQUIRE_TOOLS is set (.ci/run installs it)"
        );
        eprintln!("SKIPPED: {tool} is not installed (.ci/run installs it)");
    }
    found
}

/// A repository whose first commit holds the README's `file` recipe (the fenced YAML block for
/// which `pick` is true), with the rate-limit flow and subtask a1's one step, not approved, on
/// its branch; the integration branch is checked out.
fn recipe_repo(file: &str, pick: impl Fn(&serde_json::Value) -> bool) -> crate::harness::TestRepo {
    use crate::harness::TestRepo;
    let text = readme();
    let (_, body) = blocks(&text, "yaml")
        .into_iter()
        .find(|(l, b)| pick(&yaml(*l, b)))
        .unwrap_or_else(|| panic!("the README's recipe for {file}"));
    let repo = TestRepo::new();
    repo.write(file, &body);
    repo.git(&["add", file]);
    repo.git(&["commit", "-q", "-m", "Hook manager configuration"]);
    repo.new_rate_limit();
    repo.plan_subtasks(&[("a1", "Limiter")]);
    repo.aiflow(&["start", "a1"]).ok();
    repo.write("limiter.rs", "limit\n");
    repo.aiflow(&["step", "-m", "Limiter"]).ok();
    repo.git(&["switch", "-q", "aiflow/rate-limit"]);
    repo
}

const SUBTASK_BRANCH: &str = "aiflow/rate-limit--a1-limiter";

/// Merge the unreviewed subtask into the checked-out integration branch: the hooks must refuse
/// it, saying `no-review`, and leave HEAD where it was (the merge is then aborted). Returns the
/// merge's output and HEAD.
#[track_caller]
fn unreviewed_merge_is_refused(repo: &crate::harness::TestRepo) -> (String, Option<String>) {
    let before = repo.rev("HEAD");
    let r = repo.git_run(&["merge", "--no-ff", "--no-edit", SUBTASK_BRANCH]);
    let said = format!("{}{}", r.stdout, r.stderr);
    assert_ne!(r.code, 0, "{said}");
    assert!(said.contains("no-review"), "the gate refused: {said}");
    assert_eq!(repo.rev("HEAD"), before);
    repo.git(&["merge", "--abort"]);
    (said, before)
}

/// The pre-commit framework, installed as the README says (`pre-commit install` with the
/// recipe's `default_install_hook_types`), runs the gate: the merge of an unreviewed subtask is
/// refused and nothing moves; once approved, the same merge is made.
#[test]
fn the_pre_commit_recipe_refuses_an_unreviewed_merge_through_pre_commit_itself() {
    use crate::harness::{AS_GRACE, Run};
    if !have_tool("pre-commit") {
        return;
    }
    let repo = recipe_repo(".pre-commit-config.yaml", |v| v.get("repos").is_some());
    let installed = Run::of(repo.command("pre-commit").arg("install")).ok();
    assert!(installed.contains("pre-merge-commit"), "{installed}");
    let (said, before) = unreviewed_merge_is_refused(&repo);
    assert!(
        said.contains("aiflow review gate"),
        "pre-commit ran: {said}"
    );

    repo.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
    let r = repo.git_run(&["merge", "--no-ff", "--no-edit", SUBTASK_BRANCH]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("Passed"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    assert_ne!(repo.rev("HEAD"), before);
}

/// lefthook, installed as the README says (`lefthook install`), runs the gate on the merge in
/// progress and on push, where it hands the hook git's refs on stdin (`use_stdin`): an
/// unreviewed merge is refused; forced past the local hook, the push of it is refused; approved,
/// both go through.
#[test]
fn the_lefthook_recipe_refuses_an_unreviewed_merge_and_its_push() {
    use crate::harness::{AS_GRACE, Run};
    if !have_tool("lefthook") {
        return;
    }
    let repo = recipe_repo("lefthook.yml", |v| v.get("pre-push").is_some());
    let remote = repo.sibling("remote.git");
    repo.git(&["init", "-q", "--bare", remote.to_str().expect("utf-8")]);
    repo.git(&["remote", "add", "origin", remote.to_str().expect("utf-8")]);
    repo.git(&["push", "-q", "origin", "aiflow/rate-limit"]);
    Run::of(repo.command("lefthook").arg("install")).ok();
    let (_, before) = unreviewed_merge_is_refused(&repo);

    // Past the local hook (`--no-verify`, as anyone may), the push is where it is caught.
    repo.git(&[
        "merge",
        "-q",
        "--no-ff",
        "--no-edit",
        "--no-verify",
        SUBTASK_BRANCH,
    ]);
    let r = repo.git_run(&["push", "origin", "aiflow/rate-limit"]);
    assert_ne!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("no-review"), "{}", r.stderr);
    let remote_tip = Run::of(repo.command("git").args([
        "--git-dir",
        remote.to_str().expect("utf-8"),
        "rev-parse",
        "aiflow/rate-limit",
    ]))
    .ok();
    assert_eq!(Some(remote_tip.trim().to_owned()), before);

    // Approved (which rewrites the subtask's commits), merged again, pushed.
    repo.git(&["reset", "-q", "--hard", before.as_deref().expect("a tip")]);
    repo.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
    repo.git(&["merge", "-q", "--no-ff", "--no-edit", SUBTASK_BRANCH]);
    let r = repo.git_run(&["push", "origin", "aiflow/rate-limit"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}
