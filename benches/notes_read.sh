#!/usr/bin/env bash
# Benchmark: reading every flow (`git aiflow list`) against git's own read-all-notes pipeline
# (`git notes list | git cat-file --batch`), the yardstick "N" of PERF-BASELINE.md, on a
# repository with FLOWS flow notes (fanout as git would write it, via fast-import).
#
#   benches/notes_read.sh [FLOWS] [RUNS]     (defaults: 2000 flows, 10 runs)
#
# Prints CPU seconds (user+sys) per run for each command and the ratio. Uses the release binary.
set -euo pipefail
FLOWS=${1:-2000}
RUNS=${2:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin="$root/target/release/git-aiflow"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
git init -q -b main "$work/repo"
cd "$work/repo"
python3 - "$FLOWS" > "$work/stream" <<'PY'
import sys
n = int(sys.argv[1])
out = []
t = 1767225600
out.append("commit refs/heads/main\nmark :1\ncommitter A <a@x> %d +0000\ndata 5\ninit\n" % t)
for i in range(n):
    out.append("commit refs/heads/main\nmark :%d\ncommitter A <a@x> %d +0000\ndata 8\nanchor%d\n" % (i + 2, t + i + 1, i % 10))
doc = '''schema = 1
kind = "flow"
slug = "flow-%d"
title = "Flow number %d"
status = "spec"
base_ref = "refs/heads/main"
base_commit = "%s"
integration_branch = "aiflow/flow-%d"
created_at = "2026-01-01T00:00:00+00:00"
created_by = "A <a@x>"
updated_at = "2026-01-01T00:00:00+00:00"
updated_by = "A <a@x>"

[spec]
summary = "Summary of flow %d, a paragraph on the end state of the work."
features = ["one", "two", "three"]
stack = ["Rust"]
constraints = ["fast"]
edge_cases = ["none"]
'''
out.append("commit refs/notes/aiflow\ncommitter A <a@x> %d +0000\ndata 5\nnotes\n" % (t + n + 1))
for i in range(n):
    body = doc % (i, i, "0" * 40, i, i)
    data = body.encode()
    out.append("N inline :%d\ndata %d\n%s\n" % (i + 2, len(data), body))
sys.stdout.write("".join(out))
PY
git fast-import --quiet < "$work/stream"
count=$("$bin" list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["flows"]))')
[ "$count" = "$FLOWS" ] || { echo "expected $FLOWS flows, read $count" >&2; exit 1; }

cpu() { # command... -> total user+sys seconds over RUNS runs
    local start end
    start=$(python3 -c 'import os; t=os.times(); print(t.children_user+t.children_system)')
    python3 - "$RUNS" "$@" <<'PY'
import os, subprocess, sys
runs = int(sys.argv[1]); cmd = sys.argv[2:]
for _ in range(runs):
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
t = os.times()
print(f"{(t.children_user + t.children_system) / runs:.4f}")
PY
}
ours=$(cpu "$bin" list)
theirs=$(cpu sh -c 'git notes --ref=aiflow list | git cat-file --batch >/dev/null')
echo "flows: $FLOWS, runs: $RUNS"
echo "git aiflow list:                                 ${ours}s CPU per run"
echo "git notes list | git cat-file --batch (N):       ${theirs}s CPU per run"
python3 -c "print(f'ratio (ours / N): {float(\"$ours\") / float(\"$theirs\"):.2f}')"
