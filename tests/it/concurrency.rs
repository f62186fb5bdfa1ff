//! Concurrent writers: the notes ref moves by compare-and-swap, so no update is ever lost and
//! retries never reach the user.

use crate::harness::{BIN, TestRepo};
use std::process::Command;

const PROCESSES: usize = 8;
const UPDATES: usize = 25;

#[test]
fn eight_processes_writing_25_updates_each_lose_nothing() {
    let repo = TestRepo::new();
    repo.aiflow(&["init"]).ok();
    for p in 0..PROCESSES {
        repo.aiflow(&["new", &format!("flow-{p}"), "-m", &format!("Flow {p}.")])
            .ok();
    }
    let before = repo.git(&["rev-list", "--count", "refs/notes/aiflow"]);
    assert_eq!(before.trim(), PROCESSES.to_string());

    // Build every command up front (the harness is single-threaded), then run each process's
    // sequence on its own thread so all eight write at once.
    let mut sequences: Vec<Vec<Command>> = (0..PROCESSES)
        .map(|p| {
            (0..UPDATES)
                .map(|u| {
                    let mut cmd = repo.command(BIN);
                    cmd.args([
                        "spec",
                        "edit",
                        &format!("flow-{p}"),
                        "-m",
                        &format!("Flow {p}, update {u}."),
                        "-m",
                        &format!("## Core features\n- feature {u} of flow {p}"),
                    ]);
                    cmd
                })
                .collect()
        })
        .collect();
    let handles: Vec<_> = sequences
        .drain(..)
        .map(|cmds| {
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                for mut cmd in cmds {
                    let out = cmd.output().expect("run");
                    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
                    // Advice about the feature count is expected; anything else is a surfaced error.
                    let unexpected: Vec<&str> = stderr
                        .lines()
                        .filter(|l| !l.starts_with("hint: the spec lists"))
                        .collect();
                    if !out.status.success() || !unexpected.is_empty() {
                        failures.push(format!("{:?}: {stderr}", out.status));
                    }
                }
                failures
            })
        })
        .collect();
    let failures: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("thread"))
        .collect();
    assert!(
        failures.is_empty(),
        "errors reached the user:\n{}",
        failures.join("\n")
    );

    // Every update is a notes commit on one linear history.
    let count = repo.git(&["rev-list", "--count", "refs/notes/aiflow"]);
    assert_eq!(count.trim(), (PROCESSES + PROCESSES * UPDATES).to_string());
    let merges = repo.git(&["rev-list", "--min-parents=2", "refs/notes/aiflow"]);
    assert!(merges.is_empty());
    let subjects = repo.git(&["log", "--format=%s", "refs/notes/aiflow"]);
    for p in 0..PROCESSES {
        let n = subjects
            .lines()
            .filter(|s| *s == format!("aiflow: edit spec of flow-{p}"))
            .count();
        assert_eq!(n, UPDATES, "flow-{p}");
    }
    // Each notes commit of a flow's sequence holds that flow's update in order, and the final
    // tree holds the last update of every flow: nothing was overwritten by a stale writer.
    for p in 0..PROCESSES {
        let v = repo
            .aiflow(&["spec", "show", "--json", &format!("flow-{p}")])
            .json();
        assert_eq!(
            v["spec"]["summary"],
            format!("Flow {p}, update {}.", UPDATES - 1)
        );
        assert_eq!(
            v["spec"]["features"][0],
            format!("feature {} of flow {p}", UPDATES - 1)
        );
        let anchor = repo.rev(&format!("aiflow/flow-{p}")).expect("branch");
        let history = repo.git(&["log", "--format=%H", "refs/notes/aiflow"]);
        let mut seen = Vec::new();
        for commit in history.lines().rev() {
            let note = repo.git_run(&["show", &format!("{commit}:{anchor}")]);
            let note = if note.code == 0 {
                note.stdout
            } else {
                // Not created yet at this commit, or at a fanout path.
                let fanned = repo.git_run(&[
                    "show",
                    &format!("{commit}:{}/{}", &anchor[..2], &anchor[2..]),
                ]);
                if fanned.code != 0 {
                    continue;
                }
                fanned.stdout
            };
            let summary = toml::from_str::<toml::Table>(&note).expect("toml")["spec"]["summary"]
                .as_str()
                .expect("summary")
                .to_string();
            if seen.last() != Some(&summary) {
                seen.push(summary);
            }
        }
        let expected: Vec<String> = std::iter::once(format!("Flow {p}."))
            .chain((0..UPDATES).map(|u| format!("Flow {p}, update {u}.")))
            .collect();
        assert_eq!(seen, expected, "flow-{p}'s history");
    }
    repo.fsck();
}
