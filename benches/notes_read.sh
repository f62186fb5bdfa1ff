#!/usr/bin/env bash
# Benchmark: reading flows. `git aiflow list` against git's own read-all-notes pipeline, the
# yardstick "N" of PERF-BASELINE.md:
#     git notes --ref=aiflow list | git cat-file --batch='%(objectname) %(objecttype) %(objectsize) %(rest)'
# (the `%(rest)` matters: a plain `--batch` takes each whole `<blob> <object>` line as one name,
# prints `missing` for every note and reads nothing), and `git aiflow status <slug>` against
# `git notes --ref=aiflow show <anchor>` of that flow, on a repository with FLOWS flow notes
# (fanout as git writes it, via fast-import).
#
#   benches/notes_read.sh [FLOWS] [RUNS]     (defaults: 2000 flows, 10 runs)
#   AIFLOW_BIN=path/to/git-aiflow benches/notes_read.sh 10000   (skip the build, use that binary)
#
# CPU (user+sys) per process with its children, medians of RUNS interleaved runs after a warm-up.
# `list` and `status` are timed with the summary cache (.git/aiflow/flows.cache) as the previous
# run left it, and cold (the file removed before each run: every note decoded, the file written).
# Ends with the targets of issue 17 and PASS/MISS beside each.
set -euo pipefail
FLOWS=${1:-2000}
RUNS=${2:-10}
. "$(dirname "$0")/setup.sh"
find_binary
hermetic
base="${TMPDIR:-/tmp}/aiflow-bench-notes"
mkdir -p "$base"
# shellcheck source=benches/runstat.sh
. "$(dirname "$0")/runstat.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
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
git repack -adq
count=$("$bin" list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["flows"]))')
[ "$count" = "$FLOWS" ] || { echo "expected $FLOWS flows, read $count" >&2; exit 1; }
# The yardstick must read every note: no `missing` line.
fmt='%(objectname) %(objecttype) %(objectsize) %(rest)'
missing=$(git notes --ref=aiflow list | git cat-file --batch="$fmt" | grep -c ' missing$' || true)
[ "$missing" = 0 ] || { echo "the yardstick read nothing ($missing missing)" >&2; exit 1; }
slug="flow-$((FLOWS / 2))"
anchor=$("$bin" list --json | python3 -c "import json,sys; print([f['anchor'] for f in json.load(sys.stdin)['flows'] if f['slug'] == '$slug'][0])")

python3 - "$RUNS" "$launcher" "$bin" "$slug" "$anchor" "$FLOWS" <<'PY'
import os, statistics, subprocess, sys, tempfile
runs, launcher, bin, slug, anchor, flows = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
cache = ".git/aiflow/flows.cache"
fmt = "%(objectname) %(objecttype) %(objectsize) %(rest)"
N = ["sh", "-c", "git notes --ref=aiflow list | git cat-file --batch='%s' >/dev/null" % fmt]
def drop():
    if os.path.exists(cache):
        os.remove(cache)
specs = [
    ("L", "git aiflow list (cache warm)", [bin, "list"], None),
    ("Lc", "git aiflow list (no cache)", [bin, "list"], drop),
    ("N", "N: git notes list | git cat-file --batch=…%(rest)", N, None),
    ("S", "git aiflow status %s (cache warm)" % slug, [bin, "status", slug], None),
    ("Sc", "git aiflow status %s (no cache)" % slug, [bin, "status", slug], drop),
    ("G", "git notes --ref=aiflow show <its anchor>", ["git", "notes", "--ref=aiflow", "show", anchor], None),
]
def run(cmd):
    with tempfile.NamedTemporaryFile("r") as st:
        if launcher == "python":
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
            _, status, ru = os.wait4(p.pid, 0)
            if status:
                sys.exit("FAILED: %s" % " ".join(cmd))
            return ru.ru_utime + ru.ru_stime
        pre = [launcher, "-f", "%e %U %S %M", "-o"] if launcher == "/usr/bin/time" else [launcher]
        if subprocess.run(pre + [st.name] + cmd, stdout=subprocess.DEVNULL).returncode:
            sys.exit("FAILED: %s" % " ".join(cmd))
        f = st.read().split()[-4:]
        return float(f[1]) + float(f[2])
samples = {k: [] for k, *_ in specs}
for r in range(-1, runs):
    for key, label, cmd, reset in (specs if r % 2 else specs[::-1]):
        if reset:
            reset()
        elif key in ("L", "S") and not os.path.exists(cache):
            subprocess.run([bin, "list"], stdout=subprocess.DEVNULL, check=True)
        cpu = run(cmd)
        if r >= 0:
            samples[key].append(cpu)
med = {k: statistics.median(v) for k, v in samples.items()}
print("flows: %d, median of %d interleaved runs" % (flows, runs))
for key, label, *_ in specs:
    print("  %-58s %9.2f ms CPU" % (label, med[key] * 1e3))
print("  %-58s %9.2f" % ("list / N (cache warm)", med["L"] / med["N"]))
print("  %-58s %9.2f" % ("list / N (no cache)", med["Lc"] / med["N"]))
print("  %-58s %9.2f" % ("status / git notes show (cache warm)", med["S"] / med["G"]))
print("  %-58s %9.2f" % ("status / git notes show (no cache)", med["Sc"] / med["G"]))
ok = lambda c: "PASS" if c else "MISS"
note = "" if flows >= 10000 else "  (set at 10k flows; indicative at %d)" % flows
print("Targets (issue 17)%s" % note)
print("  %s  list <= 1.5x N                       %.2fx" % (ok(med["L"] <= 1.5 * med["N"]), med["L"] / med["N"]))
print("  %s  status <slug> <= 3x git notes show   %.2fx" % (ok(med["S"] <= 3 * med["G"]), med["S"] / med["G"]))
PY
