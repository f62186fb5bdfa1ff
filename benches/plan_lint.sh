#!/usr/bin/env bash
# Benchmark: what plan lint adds to writing a plan revision. Lint looks each of the plan's paths
# up in the tree at the tip of the flow's integration branch, and lists the whole tree only to
# find a file of the same name for a path whose directory does not exist (a did-you-mean), so
# that case grows with the tree. Timed: `git aiflow plan edit -F` of a 20-subtask plan on a
# repository of FILES files (directories of 50, built with fast-import), once with 40 paths in
# existing directories ("grounded") and once with 20 more in a directory nothing creates
# ("invented": the whole tree listed), and the grounded plan on a repository of 10 files; each
# run writes a new revision (two edits alternate). The yardstick is git listing the same tree,
# `git ls-tree -r --name-only <tip>`.
#
#   benches/plan_lint.sh [FILES] [RUNS]      (defaults: 100000 files, 10 runs)
#   AIFLOW_BIN=path/to/git-aiflow benches/plan_lint.sh 200000   (skip the build, use that binary)
#
# CPU (user+sys) per process with its children, medians of RUNS interleaved runs after a warm-up.
# "lint's share" is (edit on FILES files - edit on 10 files), and that over the yardstick.
set -euo pipefail
FILES=${1:-100000}
RUNS=${2:-10}
. "$(dirname "$0")/setup.sh"
find_binary
hermetic
base="${TMPDIR:-/tmp}/aiflow-bench-plan-lint"
mkdir -p "$base"
# shellcheck source=benches/runstat.sh
. "$(dirname "$0")/runstat.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The spec and the plan, shared by both repositories.
cat > "$work/spec.md" <<'MD'
# Bench

A flow to plan.

## Core features

- One thing.

## Edge cases

- Another.
MD
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
subtasks = []
for i in range(20):
    subtasks.append({
        "id": "s%d" % i,
        "title": "Change number %d of the service" % i,
        "description": "Do change %d and test it." % i,
        "files": ["src/d%d/f%d.rs" % (i, i * 50), "src/d%d/new%d.rs" % (i, i)],
        "phase": ["core", "nice-to-have", "production"][i % 3],
        "depends_on": ["s%d" % (i - 1)] if i else [],
        "test": "",
    })
open(work + "/plan.json", "w").write(json.dumps({"subtasks": subtasks}))
for kind, extra in (("grounded", []), ("invented", ["lib/made/up.rs"])):
    for name, suffix in (("a", ""), ("b", " (again)")):
        with open("%s/%s-%s.toml" % (work, kind, name), "w") as f:
            for i, s in enumerate(subtasks):
                files = s["files"] + [p.replace("up", "up%d" % i) for p in extra]
                f.write('[[subtask]]\ntitle = "%s%s"\nphase = "%s"\nfiles = %s\n\n'
                        % (s["title"], suffix, s["phase"], json.dumps(files)))
PY

# make_repo DIR N: a repository with N files in directories of 50, a flow planned by a scripted
# model, and a first edit applied (so that each timed edit is a change).
make_repo() {
    local dir=$1 n=$2
    git init -q -b main "$dir"
    (
        cd "$dir"
        python3 - "$n" <<'PY' | git fast-import --quiet
import sys
n = int(sys.argv[1])
out = ["blob\nmark :1\ndata 2\nx\n",
       "commit refs/heads/main\ncommitter A <a@x> 1767225600 +0000\ndata 5\ntree\n"]
for i in range(n):
    out.append("M 100644 :1 src/d%d/f%d.rs\n" % (i // 50, i))
sys.stdout.write("".join(out))
PY
        git checkout -qf main
        "$bin" init >/dev/null
        "$bin" new bench -F "$work/spec.md" >/dev/null
        git config aiflow.provider command
        git config aiflow.command "if [ \"\$AIFLOW_TEMPLATE\" = questions ]; then echo '{\"questions\": []}'; else cat '$work/plan.json'; fi"
        "$bin" plan bench >/dev/null
        "$bin" plan bench >/dev/null 2>&1
        "$bin" plan edit bench -F "$work/grounded-b.toml" >/dev/null 2>&1
    )
}
make_repo "$work/big" "$FILES"
make_repo "$work/small" 10
tip=$(git -C "$work/big" rev-parse aiflow/bench)
listed=$(git -C "$work/big" ls-tree -r --name-only "$tip" | wc -l)
[ "$listed" -ge "$FILES" ] || { echo "expected $FILES files, listed $listed" >&2; exit 1; }
warnings() { "$bin" plan show bench --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["warnings"]))'; }
grounded=$(cd "$work/big" && warnings)
invented=$(cd "$work/big" && "$bin" plan edit bench -F "$work/invented-a.toml" >/dev/null 2>&1 && warnings)

python3 - "$RUNS" "$launcher" "$bin" "$work" "$tip" "$FILES" "$grounded" "$invented" <<'PY'
import os, statistics, subprocess, sys, tempfile
runs, launcher, bin, work, tip, files = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
grounded, invented = sys.argv[7], sys.argv[8]
turn = [0]
def edit(repo, kind):
    # One counter for both repositories' edits: every edit differs from the one before it.
    turn[0] += 1
    return (work + "/" + repo, [bin, "plan", "edit", "bench", "-F", "%s/%s-%s.toml" % (work, kind, "ab"[turn[0] % 2])])
specs = [
    ("E", "plan edit -F, grounded plan (%d files)" % files, lambda: edit("big", "grounded")),
    ("I", "plan edit -F, invented paths (%d files)" % files, lambda: edit("big", "invented")),
    ("e", "plan edit -F, grounded plan (10 files)", lambda: edit("small", "grounded")),
    ("T", "git ls-tree -r --name-only <tip> (%d files)" % files, lambda: (work + "/big", ["git", "ls-tree", "-r", "--name-only", tip])),
]
def run(cwd, cmd):
    with tempfile.NamedTemporaryFile("r") as st:
        if launcher == "python":
            p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _, status, ru = os.wait4(p.pid, 0)
            if status:
                sys.exit("FAILED: %s" % " ".join(cmd))
            return ru.ru_utime + ru.ru_stime
        pre = [launcher, "-f", "%e %U %S %M", "-o"] if launcher == "/usr/bin/time" else [launcher]
        if subprocess.run(pre + [st.name] + cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode:
            sys.exit("FAILED: %s" % " ".join(cmd))
        f = st.read().split()[-4:]
        return float(f[1]) + float(f[2])
samples = {k: [] for k, *_ in specs}
for r in range(-1, runs):
    for key, label, make in (specs if r % 2 else specs[::-1]):
        cwd, cmd = make()
        cpu = run(cwd, cmd)
        if r >= 0:
            samples[key].append(cpu)
med = {k: statistics.median(v) for k, v in samples.items()}
print("files: %d, plan: 20 subtasks; warnings: %s grounded, %s invented; median of %d interleaved runs"
      % (files, grounded, invented, runs))
for key, label, _ in specs:
    print("  %-58s %9.2f ms CPU" % (label, med[key] * 1e3))
for key, what in (("E", "grounded"), ("I", "invented")):
    share = med[key] - med["e"]
    print("  %-58s %9.2f ms CPU, %.2fx ls-tree" % ("%s: minus the edit on 10 files" % what, share * 1e3, share / med["T"]))
PY
