#!/usr/bin/env bash
# Benchmark: what the test loop costs a step beyond the test command itself and the model.
#
#   benches/test_loop.sh [--steps N]      (default: 50 steps of each kind)
#   AIFLOW_BIN=path/to/git-aiflow benches/test_loop.sh   (skip the build, use that binary)
#
# In a temporary repository with a flow `bench` (planned by an inline `command` provider, one
# subtask, started), `aiflow.test=true` (a test command that costs only its `sh -c`), it times,
# interleaved and alternating which goes first:
#   - `git-aiflow step -m MSG` against `git-aiflow step -m MSG --no-test`, the same change each
#     time (one line of one file rewritten);
#   - `git-aiflow exec` against `git-aiflow exec --no-test`, with the scripted agent of
#     fixtures/agents (AGENT_MODE=edit: it appends one line to one file);
#   - `git-aiflow test` on the checked-out tip, a step (the fixed cost of a run: resolving the
#     command, running it, recording it in the step's note), against `sh -c true`, the test
#     command alone.
# The binary is run itself, as benches/approve.sh does (`git aiflow` adds the git dispatcher,
# about a millisecond, to both sides); the gate's hooks are not installed (they cost both sides
# the same). After each command (outside the timing) it checks the note of the new step: a
# `[test]` table with exit 0 after a tested step, none after `--no-test`.
# Each kind starts with a warm-up run, not counted. Figures are medians over the N runs of each,
# wall (and CPU, user+sys, when a C compiler builds benches/runstat.sh's launcher) in ms; "the
# loop adds" is the median of the N paired differences. Of what the loop adds, the test run's own
# duration (`duration_ms` of its `[test]` table: starting `sh -c true` and waiting for it) is the
# test command's, the rest git-aiflow's. A line shows how `step --no-test` grows with the branch
# (the mean of its first and last tenth of runs), and the load average before and after (the
# wall figures mean little on a busy machine). It ends with the target: the loop adds < 50 ms to
# a step (step and exec), PASS or MISS.
set -euo pipefail

steps=50
while [ $# -gt 0 ]; do
    case $1 in
        --steps) steps=${2:?--steps needs a number}; shift 2 ;;
        --steps=*) steps=${1#--steps=}; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [--steps N]" >&2; exit 2 ;;
    esac
done
case $steps in ''|*[!0-9]*|0) echo "--steps must be a positive number" >&2; exit 2 ;; esac

. "$(dirname "$0")/setup.sh"
find_binary
"$bin" test --help >/dev/null 2>&1 || { echo "$bin has no working 'test' command" >&2; exit 1; }
agent="$root/fixtures/agents/scripted-agent.sh"
[ -f "$agent" ] || { echo "no scripted agent at $agent" >&2; exit 1; }

hermetic

base="${TMPDIR:-/tmp}/aiflow-bench-test-loop"
mkdir -p "$base"
# shellcheck source=benches/runstat.sh
. "$(dirname "$0")/runstat.sh"
case $launcher in
    python|/usr/bin/time) launcher= ;; # wall from bash's clock only: 10 ms is too coarse here
esac
work=$(mktemp -d "$base/run.XXXXXX")
trap 'rm -rf "$work"' EXIT
repo="$work/repo"
samples="$work/samples"
mkdir -p "$samples"

# The repository: a flow with one subtask, started, and the test command.
git init -q -b main "$repo"
cd "$repo"
git config gc.auto 0
git config maintenance.auto false
printf '# Bench\n\nA repository for benches/test_loop.sh.\n' > README.md
git add README.md
git commit -q -m 'Initial commit'
{
    "$bin" init
    "$bin" new bench -F "$root/fixtures/specs/rate-limit.md"
    git config aiflow.provider command
    git config aiflow.command "if [ \"\$AIFLOW_TEMPLATE\" = questions ]; then echo '{\"questions\": []}'; else echo '{\"subtasks\": [{\"id\": \"x\", \"title\": \"Work\", \"phase\": \"core\", \"description\": \"\", \"files\": [], \"depends_on\": []}]}'; fi"
    "$bin" plan bench
    "$bin" plan bench
} > "$work/setup.log" 2>&1 || { cat "$work/setup.log" >&2; echo "setting up the flow failed in $repo" >&2; exit 1; }
id=$("$bin" next bench --json | grep -o '"id": *"[^"]*"' | head -1 | cut -d'"' -f4)
[ -n "$id" ] || { echo "git aiflow next bench gave no subtask" >&2; exit 1; }
"$bin" start "$id" > /dev/null
git config aiflow.test true
git config aiflow.agent "sh '$agent'"
export AGENT_MODE=edit
unset AGENT_LOG

# timed KEY COMMAND...: run it, fail loudly unless it exits 0, and append "wall_ms cpu_ms" to
# $samples/KEY (cpu "-" without the launcher).
timed() {
    local key=$1 status=0 t0 t1
    shift
    if [ -n "$launcher" ]; then
        "$launcher" "$work/stat" "$@" > "$work/out" 2>&1 || status=$?
    else
        t0=${EPOCHREALTIME/./}
        "$@" > "$work/out" 2>&1 || status=$?
        t1=${EPOCHREALTIME/./}
    fi
    if [ "$status" != 0 ]; then
        cat "$work/out" >&2
        echo "FAILED (exit $status): $*" >&2
        exit 1
    fi
    if [ -n "$launcher" ]; then
        awk '{ printf "%.3f %.3f\n", $1 * 1000, ($2 + $3) * 1000 }' "$work/stat" >> "$samples/$key"
    else
        awk -v us=$((t1 - t0)) 'BEGIN { printf "%.3f -\n", us / 1000 }' >> "$samples/$key"
    fi
}

# key RUN KEY: KEY, or "warm-up" for run 0, which is not counted.
key() {
    if [ "$1" = 0 ]; then echo warm-up; else echo "$2"; fi
}

# checked TESTED: the note of HEAD, a step of the subtask, has a [test] table with exit 0 (TESTED
# yes; its duration_ms goes to $samples/run) or none (TESTED no).
checked() {
    local note
    note=$(git notes --ref=aiflow show HEAD)
    case $note in *"subtask = \"$id\""*) ;; *) echo "HEAD has no step note of $id:" >&2; echo "$note" >&2; exit 1 ;; esac
    if [ "$1" = yes ]; then
        printf '%s\n' "$note" | awk '/^\[test\]/ { t = 1 } t && /^exit = 0$/ { ok = 1 } END { exit !ok }' ||
            { echo "the tested step HEAD has no passing [test] in its note:" >&2; echo "$note" >&2; exit 1; }
        printf '%s\n' "$note" | sed -n '/^\[test\]/,$ s/^duration_ms = //p' >> "$samples/run"
    elif printf '%s\n' "$note" | grep -q '^\[test\]'; then
        echo "the step HEAD made with --no-test has a [test] in its note:" >&2; echo "$note" >&2; exit 1
    fi
    [ -z "$(git status --porcelain)" ] || { echo "the work tree is not clean after the step" >&2; exit 1; }
}

echo "test loop benchmark: $steps steps of each kind after a warm-up, binary $bin" >&2
echo "(load average before: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown))" >&2
[ -n "$launcher" ] || echo "(no C compiler: wall time from bash's clock, no CPU figures)" >&2

# step: the same change each time, one line of one file.
for i in $(seq 0 "$steps"); do
    if [ $((i % 2)) = 1 ]; then order="test no"; else order="no test"; fi
    for v in $order; do
        printf 'change %d, %s\n' "$i" "$v" > change.txt
        if [ "$v" = test ]; then
            timed "$(key "$i" step-test)" "$bin" step -m "Step $i, tested"
            checked yes
        else
            timed "$(key "$i" step-no)" "$bin" step -m "Step $i, not tested" --no-test
            checked no
        fi
    done
done
tail -n +2 "$samples/run" > "$samples/run-step" && rm "$samples/run"

# exec: the scripted agent appends one line to one file.
for i in $(seq 0 "$steps"); do
    if [ $((i % 2)) = 1 ]; then order="test no"; else order="no test"; fi
    for v in $order; do
        if [ "$v" = test ]; then
            timed "$(key "$i" exec-test)" "$bin" exec
            checked yes
        else
            timed "$(key "$i" exec-no)" "$bin" exec --no-test
            checked no
        fi
    done
done
tail -n +2 "$samples/run" > "$samples/run-exec" && rm "$samples/run"

# test: a run on the checked-out tip, recorded in its note each time; the command alone beside.
for i in $(seq 0 "$steps"); do
    if [ $((i % 2)) = 1 ]; then order="test sh"; else order="sh test"; fi
    for v in $order; do
        if [ "$v" = test ]; then
            timed "$(key "$i" test)" "$bin" test
            checked yes
        else
            timed "$(key "$i" sh)" sh -c true
        fi
    done
done
tail -n +2 "$samples/run" > "$samples/run-test"

# mean FILE WHICH: the mean wall of the first (head) or last (tail) tenth of the runs in FILE.
mean() {
    local n=$(( (steps + 9) / 10 ))
    "$2" -n "$n" "$1" | awk '{ s += $1 } END { printf "%.1f\n", s / NR }'
}

# median FILE COLUMN: the median of that column (of numbers), or "-".
median() {
    awk -v c="$2" '$c != "-" { print $c }' "$1" | sort -n |
        awk '{ v[NR] = $1 } END { if (!NR) print "-"; else printf "%.1f\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# paired A B COLUMN: the median of the differences A - B, run by run.
paired() {
    paste -d' ' "$samples/$1" "$samples/$2" |
        awk -v c="$3" '{ if ($c == "-") print "-"; else print $c - $(c + 2) }' > "$work/diff"
    median "$work/diff" 1
}

row() { printf '%-62s %9s %9s\n' "$@"; }
echo
row "median per step of $steps ($(uname -m), $(nproc) CPUs)" "wall ms" "CPU ms"
row "git-aiflow step -m MSG               (aiflow.test=true)" "$(median "$samples/step-test" 1)" "$(median "$samples/step-test" 2)"
row "git-aiflow step -m MSG --no-test" "$(median "$samples/step-no" 1)" "$(median "$samples/step-no" 2)"
step_adds=$(paired step-test step-no 1)
row "  the loop adds" "$step_adds" "$(paired step-test step-no 2)"
row "    of it the test run (its duration_ms in the note)" "$(median "$samples/run-step" 1)" ""
printf '  (step --no-test, mean wall of the first and last tenth of the runs: %s and %s ms;\n   the branch grows by two steps a run)\n' \
    "$(mean "$samples/step-no" head)" "$(mean "$samples/step-no" tail)"
row "git-aiflow exec, scripted agent      (aiflow.test=true)" "$(median "$samples/exec-test" 1)" "$(median "$samples/exec-test" 2)"
row "git-aiflow exec --no-test" "$(median "$samples/exec-no" 1)" "$(median "$samples/exec-no" 2)"
exec_adds=$(paired exec-test exec-no 1)
row "  the loop adds" "$exec_adds" "$(paired exec-test exec-no 2)"
row "    of it the test run (its duration_ms in the note)" "$(median "$samples/run-exec" 1)" ""
row "git-aiflow test on the tip (a run, recorded in its note)" "$(median "$samples/test" 1)" "$(median "$samples/test" 2)"
row "    of it the test run (its duration_ms in the note)" "$(median "$samples/run-test" 1)" ""
row "sh -c true (the test command alone)" "$(median "$samples/sh" 1)" "$(median "$samples/sh" 2)"
echo "(load average after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown))"
echo
verdict=$(awk -v s="$step_adds" -v e="$exec_adds" 'BEGIN { print (s < 50 && e < 50) ? "PASS" : "MISS" }')
echo "the loop adds < 50 ms to a step: $verdict (step +$step_adds ms, exec +$exec_adds ms, median wall)"
