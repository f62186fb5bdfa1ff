#!/usr/bin/env bash
# Benchmark: the repository map of a planning prompt. Times `git-aiflow plan bench
# --print-prompt` (the questions prompt: the tree listed, blobs read, files scored, the map built
# and rendered; nothing sent) with the map off (`--context-budget 0`), at the default budget (1024
# tokens) and at 8192 tokens, beside `git ls-tree -r HEAD` and `git grep -c def HEAD` (git reading
# the same tree and blobs).
#
#   benches/plan_prompt.sh [FILES...] [--runs N]     (defaults: 1000 5000 20000, 5 runs)
#   AIFLOW_BIN=path/to/git-aiflow benches/plan_prompt.sh 5000   (skip the build, use that binary)
#
# For each size it builds (once; cached in ${TMPDIR:-/tmp}/aiflow-bench-prompt/<files>) a
# repository of FILES Python files of about 2 KiB in 100-file directories, written with `git
# fast-import` and packed, with the rate-limit flow of fixtures/specs started on it. The map reads
# at most 5000 files, so the 20000 size shows the cap. Figures are medians of N runs after one
# warm-up run, wall and CPU (user+sys) as wait4(2) reports them (benches/runstat.sh).
set -euo pipefail

sizes=()
runs=5
while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=$2; shift 2 ;;
        *) sizes+=("$1"); shift ;;
    esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 5000 20000)

. "$(dirname "$0")/setup.sh"
find_binary
hermetic
base="${TMPDIR:-/tmp}/aiflow-bench-prompt"
mkdir -p "$base"
# shellcheck source=benches/runstat.sh
. "$(dirname "$0")/runstat.sh"
[ "$launcher" != python ] || { echo "needs a C compiler or GNU time for the launcher" >&2; exit 1; }

read -r -d '' files_py <<'PY' || true
import sys
n = int(sys.argv[1])
out = sys.stdout.buffer
out.write(b"commit refs/heads/main\ncommitter Ada Lovelace <ada@example.com> 1767225600 +0000\n")
out.write(b"data 12\nA big tree\n\n")
for i in range(n):
    body = "".join("def handler_%d_%d(request):\n    return request.value * %d\n\n" % (i, j, j) for j in range(40))
    body = "import os\n\nclass Module%d:\n    pass\n\n%s" % (i, body)
    path = "pkg/d%03d/module_%05d.py" % (i // 100, i)
    b = body.encode()
    out.write(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(b), b))
out.write(b"done\n")
PY

prepare() { # prepare FILES
    local dir="$base/$1"
    [ -f "$dir/complete" ] && return
    echo "generating $1 files in $dir ..." >&2
    rm -rf "$dir"
    git init -q -b main "$dir/repo"
    git -C "$dir/repo" config gc.auto 0
    python3 -c "$files_py" "$1" | git -C "$dir/repo" fast-import --quiet --done
    git -C "$dir/repo" reset -q --hard main
    git -C "$dir/repo" repack -adq
    (cd "$dir/repo" && "$bin" init > /dev/null && "$bin" new bench -F "$root/fixtures/specs/rate-limit.md" > /dev/null)
    touch "$dir/complete"
}

stat="$base/stat.$$"
samples="$base/samples.$$"
trap 'rm -f "$stat" "$samples"' EXIT
measure() { # measure LABEL CMD...
    "$launcher" "$stat" "${@:2}" > /dev/null 2>&1
    read -r wall user sys _ < "$stat"
    echo "$1 $wall $(python3 -c "print($user + $sys)")" >> "$samples"
}

for n in "${sizes[@]}"; do
    prepare "$n"
    repo="$base/$n/repo"
    : > "$samples"
    for r in $(seq 0 "$runs"); do
        measure map0 "$bin" -C "$repo" plan bench --print-prompt --context-budget 0
        measure map1k "$bin" -C "$repo" plan bench --print-prompt
        measure map8k "$bin" -C "$repo" plan bench --print-prompt --context-budget 8192
        measure lstree git -C "$repo" ls-tree -r HEAD
        measure grep git -C "$repo" grep -c def HEAD
        [ "$r" != 0 ] || : > "$samples"
    done
    python3 - "$samples" "$n" "$runs" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
names = [("map0", "plan --print-prompt --context-budget 0"), ("map1k", "plan --print-prompt (budget 1024)"),
         ("map8k", "plan --print-prompt --context-budget 8192"), ("lstree", "git ls-tree -r HEAD"),
         ("grep", "git grep -c def HEAD")]
print("%s files, median of %s runs                       wall ms    CPU ms" % (sys.argv[2], sys.argv[3]))
for k, label in names:
    w = statistics.median(float(r[1]) for r in rows if r[0] == k)
    c = statistics.median(float(r[2]) for r in rows if r[0] == k)
    print("%-48s %9.1f %9.1f" % (label, w * 1e3, c * 1e3))
PY
done
