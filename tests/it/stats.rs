//! `git aiflow stats`: every figure of a scripted flow with fixed timestamps (each command one
//! minute after the one before), including rework and a rejected review; the same figures from
//! a bare copy and from a fresh clone after `sync`.

use crate::harness::{AS_GRACE, BIN, Run, TestRepo, assert_has, fixture};
use serde_json::{Value, json};

const MIN: i64 = 60;

/// The scripted flow, command by command; the comment is the minute (tick) each runs at.
fn scripted() -> TestRepo {
    let repo = TestRepo::new(); // 1-3
    repo.write(
        "check.sh",
        "n=$(cat work/a1.txt 2>/dev/null | wc -l)\ntest \"$n\" -ge 2\n",
    );
    repo.git(&["add", "check.sh"]); // 4
    repo.git(&["commit", "-q", "-m", "Add the check"]); // 5
    repo.new_rate_limit(); // init 6, new 7: created
    // config 8, 9; questions asked (none) 10; model plan 11; edit 12; unset 13, 14.
    repo.plan_subtasks(&[("a1", "Limiter"), ("b2", "Wiring")]);
    repo.git(&[
        "config",
        "aiflow.agent",
        fixture("agents/scripted-agent.sh").to_str().expect("utf-8"),
    ]); // 15
    repo.git(&["config", "aiflow.test", "sh check.sh"]); // 16
    repo.aiflow(&["start", "a1"]).ok(); // 17
    repo.write("work/a1.txt", "one\n");
    repo.aiflow(&["step", "-m", "One"]).fails(1); // 18: red
    repo.write("work/a1.txt", "one\ntwo\nthree\n");
    repo.aiflow(&["step", "-m", "Three"]).ok(); // 19: green
    repo.aiflow(&["ready", "a1"]).ok(); // 20
    repo.aiflow_env(&["reject", "a1", "-m", "No third line"], AS_GRACE)
        .ok(); // 21
    // Rewrites `two` and removes `three`: two lines step 2 (by hand) wrote.
    repo.write("work/a1.txt", "one\nTWO\n");
    repo.aiflow(&["step", "-m", "Rework"]).ok(); // 22
    // Ada wrote the steps: refused as self-review, and recorded.
    repo.aiflow(&["approve", "a1"]).fails(1); // 23
    repo.aiflow_env(&["approve", "a1"], AS_GRACE).ok(); // 24
    repo.aiflow(&["integrate", "a1"]).ok(); // 25
    repo.aiflow(&["start", "b2"]).ok(); // 26
    repo.aiflow(&["exec", "b2"]).ok(); // 27: the agent adds a line
    repo.aiflow(&["exec", "b2"]).ok(); // 28: and another
    // Removes the agent's first line.
    let text = std::fs::read_to_string(repo.path.join("work/b2.txt")).expect("read");
    let second = text.lines().nth(1).expect("two lines").to_owned();
    repo.write("work/b2.txt", &format!("{second}\n"));
    repo.aiflow(&["step", "-m", "Trim"]).ok(); // 29
    repo.aiflow_env(&["approve", "b2"], AS_GRACE).ok(); // 30
    repo.aiflow(&["integrate", "b2"]).ok(); // 31
    repo.git(&["switch", "-q", "main"]); // 32
    repo.aiflow(&["finish", "rate-limit"]).ok(); // 33
    repo
}

/// The figures the scripted flow must show (the model's seconds aside: real time).
fn expected() -> Value {
    json!({
        "slug": "rate-limit",
        "status": "finished",
        "planned": true,
        "phases": {
            "spec": 3 * MIN,
            "questions": 0,
            "planning": MIN,
            "execution": 12 * MIN,
            "integration": 3 * MIN,
            "total": 26 * MIN,
        },
        "subtasks": [
            {
                "id": "a1",
                "started": null, "approved": null, "merged": null,
                "working_s": 2 * MIN,
                "waiting_s": 4 * MIN,
                "integration_s": MIN,
                "steps": 3,
                "rejections": 1,
            },
            {
                "id": "b2",
                "started": null, "approved": null, "merged": null,
                "working_s": 2 * MIN,
                "waiting_s": MIN,
                "integration_s": MIN,
                "steps": 3,
                "rejections": 0,
            },
        ],
        "plan": {
            "revisions": 2,
            "added": 2,
            "dropped": 1,
            "changed_by_human": 3,
            "changed_by_model": 0,
        },
        "questions": { "asked": 0, "answered": 0 },
        "rework": {
            "written": 6, "lines": 3, "by_agent": 1, "by_person": 2, "after_finish": null,
        },
        "reviews": {
            "latency_s": 90,
            "approvals": 2,
            "rejections": 1,
            "steps_after_rejection": 1,
            "reviewers": ["Grace Hopper <grace@example.com>"],
            "commits_reviewed": 6,
            "commits_per_review": 3.0,
            "deviations_accepted": 0,
            "self_review_refusals": 1,
            "reviewer_refusals": 0,
        },
        "tests": { "tested_steps": 6, "red_then_green": 1, "fix_attempts": 1 },
    })
}

/// The flow's JSON with what is not compared exactly set aside: absolute times are checked
/// against the ticks, and the model's seconds are real time.
fn comparable(flow: &Value) -> Value {
    let mut f = flow.clone();
    let o = f.as_object_mut().expect("object");
    o.remove("title");
    o.remove("model");
    for s in o["subtasks"].as_array_mut().expect("subtasks") {
        for k in ["started", "approved", "merged"] {
            s[k] = Value::Null;
        }
    }
    f
}

/// The time of the command run at `tick`.
fn at(tick: i64) -> i64 {
    1_767_225_600 + tick * MIN
}

fn stats_json(dir: &std::path::Path, repo: &TestRepo) -> Value {
    let run = Run::of(repo.command_in(BIN, dir).args(["stats", "--json"]));
    run.json()
}

#[test]
fn every_figure_of_a_scripted_flow() {
    let repo = scripted();
    let v = repo.aiflow(&["stats", "--json", "rate-limit"]).json();
    let flow = &v["flows"][0];
    assert_eq!(comparable(flow), expected(), "{flow:#}");
    let subs = &flow["subtasks"];
    assert_eq!(subs[0]["started"], at(18));
    assert_eq!(subs[0]["approved"], at(24));
    assert_eq!(subs[0]["merged"], at(25));
    assert_eq!(subs[1]["started"], at(27));
    assert_eq!(subs[1]["approved"], at(30));
    assert_eq!(subs[1]["merged"], at(31));

    // Model use: the questions and the first plan, from the `command` provider; the time is
    // the requests' recorded milliseconds.
    let m = &flow["model"];
    assert_eq!(m["calls"], 2);
    assert_eq!(m["tokens_in"], 0);
    assert_eq!(m["tokens_out"], 0);
    assert_eq!(m["by"].as_array().expect("by").len(), 1);
    assert_eq!(m["by"][0]["provider"], "command");
    assert_eq!(m["by"][0]["calls"], 2);

    // Across flows, and the comparison: one planned flow, too few for a median.
    assert_eq!(v["totals"]["flows"], 1);
    assert_eq!(v["totals"]["rework"]["lines"], 3);
    let c = &v["comparison"];
    assert_eq!(c["planned"]["flows"], 1);
    assert_eq!(c["unplanned"]["flows"], 0);
    assert_eq!(
        c["planned"]["medians"]["total_s"],
        json!({"n": 1, "median": null})
    );
    assert_eq!(
        c["unplanned"]["medians"]["rework_lines"],
        json!({"n": 0, "median": null})
    );

    // The text says the same.
    let text = repo.aiflow(&["stats"]).ok();
    assert_has(
        &text,
        "  phases     spec 3m00s, questions 0s, planning 1m00s, execution 12m00s, integration 3m00s, total 26m00s",
    );
    assert_has(
        &text,
        "  subtask    a1: working 2m00s, waiting for review 4m00s, to merge 1m00s, 3 steps, 1 rejected",
    );
    assert_has(
        &text,
        "  plan       2 revisions, 2 subtasks added, 1 dropped; changes by a person 3, by a model 0",
    );
    assert_has(
        &text,
        "  rework     3 of 6 lines written were removed or rewritten later (written by the agent 1, by a person 2)",
    );
    assert_has(
        &text,
        "  reviews    2 approved, 1 rejected (1 step after a rejection); latency 1m30s (median); 3.00 commits per review; 0 deviations accepted",
    );
    assert_has(
        &text,
        "             refused: 1 approval as self-review, 0 from a reviewer not allowed",
    );
    assert_has(
        &text,
        "  tests      6 steps tested, 1 red then green, 1 fix attempt",
    );
    assert_has(&text, "  model      2 calls, 0 tokens in, 0 out, ");
    assert_has(
        &text,
        "  total_s                      - (n=1)               - (n=0)",
    );

    // --since: the flow was created at tick 7, on 2026-01-01.
    let later = repo
        .aiflow(&["stats", "--json", "--since", "2026-01-02"])
        .json();
    assert_eq!(later["flows"], json!([]));
    let same = repo
        .aiflow(&["stats", "--json", "--since", "2026-01-01"])
        .json();
    assert_eq!(same["flows"].as_array().expect("flows").len(), 1);
    assert_has(
        &repo.aiflow(&["stats", "--since", "yesterday"]).fails(2),
        "--since `yesterday` is not a date",
    );
}

#[test]
fn a_bare_copy_and_a_fresh_clone_after_sync_show_the_same_figures() {
    let repo = scripted();
    let mine = repo.aiflow(&["stats", "--json"]).json();

    let bare = repo.sibling("bare.git");
    let bare_s = bare.to_str().expect("utf-8");
    repo.git(&["clone", "-q", "--bare", ".", bare_s]);
    Run::of(repo.command_in("git", &bare).args([
        "fetch",
        "-q",
        "origin",
        "refs/notes/aiflow:refs/notes/aiflow",
    ]))
    .ok();
    assert_eq!(stats_json(&bare, &repo)["flows"], mine["flows"]);

    let fresh = repo.sibling("fresh");
    repo.git(&["clone", "-q", ".", fresh.to_str().expect("utf-8")]);
    Run::of(repo.command_in(BIN, &fresh).args(["init"])).ok();
    Run::of(repo.command_in(BIN, &fresh).args(["sync"])).ok();
    assert_eq!(stats_json(&fresh, &repo)["flows"], mine["flows"]);
}

/// `--svg` draws the timeline as a standalone SVG that librsvg renders.
#[test]
fn the_timeline_is_a_standalone_svg() {
    let repo = scripted();
    let file = repo.sibling("timeline.svg");
    let path = file.to_str().expect("utf-8");
    repo.aiflow(&["stats", "rate-limit", "--svg", path]).ok();
    let svg = std::fs::read_to_string(&file).expect("the SVG is written");
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    for mark in [
        "<title>spec: 3m00s</title>",
        "<title>execution: 12m00s</title>",
        "<title>a1: working 2m00s, waiting for review 4m00s</title>",
        "<title>changes requested</title>",
        "<title>approved</title>",
        "<title>merged</title>",
    ] {
        assert_has(&svg, mark);
    }
    // One flow only.
    assert_has(
        &repo
            .aiflow(&["stats", "--svg", path, "rate-limit", "rate-limit"])
            .fails(2),
        "--svg draws one flow, and 2 are selected",
    );

    let Ok(rsvg) = which("rsvg-convert") else {
        eprintln!("SKIPPED the rendering check: rsvg-convert (librsvg2-bin) is not installed");
        return;
    };
    let png = repo.sibling("timeline.png");
    let out = std::process::Command::new(rsvg)
        .args(["-o", png.to_str().expect("utf-8"), path])
        .output()
        .expect("run rsvg-convert");
    assert!(
        out.status.success(),
        "rsvg-convert failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&png).expect("the image is produced");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(bytes.len() > 1000, "a nearly empty image");
}

/// A program on the PATH.
fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .ok_or(())
}

/// `--rework-days N`: the flow's lines removed or rewritten on the base branch within N days
/// after the finish merge, by the kind of step that wrote them; later commits are outside.
#[test]
fn rework_after_the_finish_within_n_days() {
    let repo = scripted();
    // At finish, work/a1.txt is `one` (hand step 1) and `TWO` (hand step 3); work/b2.txt is the
    // agent's second line. A commit on main removes `TWO` and the agent's line, and adds one.
    repo.write("work/a1.txt", "one\nthree\n");
    repo.git(&["rm", "-q", "work/b2.txt"]);
    repo.git(&["commit", "-qam", "Rewrite after the finish"]); // 35-36
    // Three days later, `one` goes too.
    let later = format!("{} +0000", at(36) + 3 * 86_400);
    repo.write("work/a1.txt", "three\n");
    repo.git_env(
        &["commit", "-qam", "Much later"],
        &[("GIT_COMMITTER_DATE", &later), ("GIT_AUTHOR_DATE", &later)],
    );
    let after = |days: &str| {
        let v = repo
            .aiflow(&["stats", "--json", "--rework-days", days, "rate-limit"])
            .json();
        v["flows"][0]["rework"]["after_finish"].clone()
    };
    assert_eq!(
        after("0"),
        json!({"days": 0, "commits": 0, "lines": 0, "by_agent": 0, "by_person": 0})
    );
    assert_eq!(
        after("1"),
        json!({"days": 1, "commits": 1, "lines": 2, "by_agent": 1, "by_person": 1})
    );
    assert_eq!(
        after("7"),
        json!({"days": 7, "commits": 2, "lines": 3, "by_agent": 1, "by_person": 2})
    );
    // The rework within the flow is unchanged by what came after it.
    let v = repo
        .aiflow(&["stats", "--json", "--rework-days", "7", "rate-limit"])
        .json();
    assert_eq!(v["flows"][0]["rework"]["lines"], 3);
    assert_has(
        &repo.aiflow(&["stats", "--rework-days", "1"]).ok(),
        "             after the finish: 2 lines removed or rewritten within 1 day on the base branch, by 1 commit (written by the agent 1, by a person 1)",
    );
    // Without the flag, nothing is followed; an unfinished flow has nothing to follow.
    let v = repo.aiflow(&["stats", "--json"]).json();
    assert_eq!(v["flows"][0]["rework"]["after_finish"], Value::Null);
    assert_has(
        &repo.aiflow(&["stats", "--rework-days", "soon"]).fails(2),
        "soon",
    );
}

/// A note that cannot be read is reported as `list` reports it (and hides no flow), whether it
/// looks like a step note or not.
#[test]
fn unreadable_notes_are_reported_as_list_reports_them() {
    let repo = TestRepo::new();
    repo.new_rate_limit();
    for (i, text) in ["kind = \"step\"\nflow = [broken\n", "just some text\n"]
        .iter()
        .enumerate()
    {
        let blob = repo.git_stdin(&["hash-object", "-w", "--stdin"], &format!("object {i}\n"));
        repo.git(&["notes", "--ref=aiflow", "add", "-m", text, blob.trim()]);
    }
    let warnings = |run: Run| -> Vec<String> {
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stderr
            .lines()
            .filter(|l| l.starts_with("warning: ") || l.starts_with("hint: "))
            .map(str::to_owned)
            .collect()
    };
    let list = warnings(repo.aiflow(&["list"]));
    assert_eq!(list.len(), 4, "{list:?}");
    assert_eq!(warnings(repo.aiflow(&["stats"])), list);
    let v = repo.aiflow(&["stats", "--json"]).json();
    assert_eq!(v["flows"][0]["slug"], "rate-limit");
}
