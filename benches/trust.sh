#!/usr/bin/env bash
# Benchmark: what signed reviews cost the gate. A protected update (the integration branch
# moving onto an approved subtask of COMMITS commits, through the installed reference-transaction
# hook) is timed under a policy that takes recorded approvals as they are (`reviews = "trailer"`)
# and under one that requires them signed (`reviews = "signed"`), and the cost of verifying one
# signed attestation is measured from a subtask approved in COMMITS separate signed reviews.
#
#   benches/trust.sh [--commits N] [--runs N]     (defaults: 100 commits, 5 runs)
#   AIFLOW_BIN=path/to/git-aiflow benches/trust.sh   (skip the build, use that binary)
#
# It builds (once per COMMITS; cached in ${TMPDIR:-/tmp}/aiflow-bench-trust/<commits>) three
# repositories from one history: a flow `bench` whose first subtask holds COMMITS commits by Ada,
# approved by Grace with `git aiflow approve`
#   - "trailer": one unsigned approval, under a policy that takes recorded approvals as they are;
#   - "signed": one approval signed with an ed25519 key made by ssh-keygen, under a policy on main
#     that requires signed reviews from an allowed-signers file;
#   - "signed-each": the same policy, the commits approved one at a time (`approve --upto`), so
#     that COMMITS signed attestations cover them.
# and times, with one warm-up and interleaved runs (hook figures: median of max(20, 4N) runs):
#   - `git update-ref refs/heads/aiflow/bench <subtask tip>` with the hooks installed, against the
#     same with `core.hooksPath=/dev/null`, in each repository;
#   - the hook process alone (`git-aiflow hook reference-transaction prepared`, fed the line git
#     feeds it), in each repository;
#   - Y-hook, git's own trailer read over the same range, as in benches/check.sh.
# Every run's result is checked: the hook must accept the approved update, and refuse it once the
# signature of the approval is removed (signed) or the approval is removed (trailer).
# CPU (user+sys), wall and peak RSS are those of each process with its children (wait4(2), through
# benches/runstat.sh). It ends with the targets: verifying attestations adds at most 10% to a
# COMMITS-commit hook, and the per-attestation cost.
set -euo pipefail

commits=100
runs=5
while [ $# -gt 0 ]; do
    case $1 in
        --commits) commits=${2:?--commits needs a number}; shift 2 ;;
        --runs) runs=${2:?--runs needs a number}; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [--commits N] [--runs N]" >&2; exit 2 ;;
    esac
done
case "$commits$runs" in *[!0-9]*) echo "--commits and --runs take numbers" >&2; exit 2 ;; esac
[ "$commits" -ge 1 ] && [ "$runs" -ge 1 ] || { echo "--commits and --runs must be positive" >&2; exit 2; }
command -v ssh-keygen >/dev/null || { echo "ssh-keygen is needed (openssh-client)" >&2; exit 2; }

. "$(dirname "$0")/setup.sh"
find_binary

hermetic

base="${TMPDIR:-/tmp}/aiflow-bench-trust"
dir="$base/$commits"
mkdir -p "$base"
as_grace() { GIT_COMMITTER_NAME='Grace Hopper' GIT_COMMITTER_EMAIL=grace@example.com "$@"; }

# make NAME POLICY: a repository with the flow and its subtask's commits; POLICY is "signed" or
# "trailer". Prints nothing; leaves HEAD on main.
make_repo() {
    local repo=$1 policy=$2
    git init -q -b main "$repo"
    git -C "$repo" config gc.auto 0
    echo "# bench" > "$repo/README.md"
    git -C "$repo" add README.md
    # The same policy file and allowed signers in both, so that only verifying differs.
    mkdir -p "$repo/.aiflow"
    printf 'grace@example.com namespaces="aiflow-review" %s\n' "$(cat "$dir/grace.pub")" > "$repo/.aiflow/allowed_signers"
    printf 'schema = 1\n[gate]\nreviews = "%s"\nallowed-signers = ".aiflow/allowed_signers"\n' "$policy" > "$repo/.aiflow.toml"
    git -C "$repo" add .aiflow.toml .aiflow/allowed_signers
    git -C "$repo" commit -q -m "Initial commit"
    "$bin" -C "$repo" init >/dev/null
    "$bin" -C "$repo" new bench -F "$root/fixtures/specs/rate-limit.md" >/dev/null 2>&1
    git -C "$repo" config aiflow.provider command
    git -C "$repo" config aiflow.command "if [ \"\$AIFLOW_TEMPLATE\" = questions ]; then echo '{\"questions\": []}'; else echo '{\"subtasks\": [{\"id\": \"x\", \"title\": \"Work\", \"phase\": \"core\", \"description\": \"\", \"files\": [], \"depends_on\": []}]}'; fi"
    "$bin" -C "$repo" plan bench >/dev/null 2>&1
    "$bin" -C "$repo" plan bench >/dev/null 2>&1
    local id
    id=$("$bin" -C "$repo" plan show bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["subtasks"][0]["id"])')
    "$bin" -C "$repo" start "$id" >/dev/null 2>&1
    local i
    for i in $(seq 1 "$commits"); do
        echo "line $i" >> "$repo/work.txt"
        git -C "$repo" add work.txt
        git -C "$repo" commit -q -m "Step $i"
    done
    git -C "$repo" switch -q main
    echo "$id" > "$repo/.git/bench-subtask"
}

prepare() {
    if [ "$(cat "$dir/complete" 2>/dev/null)" = "$commits-2" ]; then
        return
    fi
    echo "building the repositories for $commits commits in $dir ..." >&2
    rm -rf "$dir"
    mkdir -p "$dir"
    ssh-keygen -q -t ed25519 -N '' -C grace -f "$dir/grace"
    make_repo "$dir/trailer" trailer
    as_grace "$bin" -C "$dir/trailer" approve "$(cat "$dir/trailer/.git/bench-subtask")" >/dev/null
    for r in signed signed-each; do
        make_repo "$dir/$r" signed
        git -C "$dir/$r" config gpg.format ssh
        git -C "$dir/$r" config user.signingKey "$dir/grace"
    done
    as_grace "$bin" -C "$dir/signed" approve "$(cat "$dir/signed/.git/bench-subtask")" >/dev/null
    local id branch n
    id=$(cat "$dir/signed-each/.git/bench-subtask")
    branch=$("$bin" -C "$dir/signed-each" plan show bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["subtasks"][0]["branch"])')
    for n in $(seq $((commits - 1)) -1 0); do
        as_grace "$bin" -C "$dir/signed-each" approve "$id" --upto "$branch~$n" >/dev/null
    done
    for r in trailer signed signed-each; do
        git -C "$dir/$r" repack -adq
        git -C "$dir/$r" commit-graph write --reachable --no-progress
        "$bin" -C "$dir/$r" hooks install >/dev/null
    done
    echo "$commits-2" > "$dir/complete"
}
prepare

# shellcheck source=benches/runstat.sh
. "$(dirname "$0")/runstat.sh"

read -r -d '' harness <<'PY' || true
import json, os, statistics, subprocess, sys, tempfile, time

commits, runs, bin, d, launcher = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
hook_runs = max(20, 4 * runs)
OFF = ["-c", "core.hooksPath=/dev/null"]
Y = ["log", "--format=%H %(trailers:key=Reviewed-by,valueonly,separator=%x2C)"]

def git(repo, *args):
    return ["git", "-C", repo, *args]

def out(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()

def run(cmd, stdin=None):
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as stat, \
            open(stdin or os.devnull, "rb") as inp:
        if launcher == "python":
            t0 = time.perf_counter()
            p = subprocess.Popen(cmd, stdin=inp, stdout=subprocess.DEVNULL, stderr=err)
            _, status, ru = os.wait4(p.pid, 0)
            wall, cpu, rss = time.perf_counter() - t0, ru.ru_utime + ru.ru_stime, ru.ru_maxrss
            status = os.waitstatus_to_exitcode(status)
        else:
            pre = [launcher, "-f", "%e %U %S %M", "-o"] if launcher == "/usr/bin/time" else [launcher]
            status = subprocess.run(pre + [stat.name] + cmd, stdin=inp, stdout=subprocess.DEVNULL, stderr=err).returncode
            f = stat.read().split()[-4:]
            wall, cpu, rss = float(f[0]), float(f[1]) + float(f[2]), int(f[3])
        err.seek(0)
        return wall, cpu, rss, status, err.read().decode(errors="replace")

def measure(specs, n):
    samples = {k: [] for k, *_ in specs}
    for r in range(-1, n):
        for key, label, cmd, reset, stdin in (specs if r % 2 else specs[::-1]):
            if reset:
                subprocess.run(reset, check=True, stdout=subprocess.DEVNULL)
            wall, cpu, rss, status, err = run(cmd, stdin)
            if status != 0:
                sys.exit("FAILED (exit %d): %s\n  %s\n%s" % (status, label, " ".join(cmd), err))
            if r >= 0:
                samples[key].append((cpu, wall, rss))
    return {k: tuple(statistics.median(s[i] for s in v) for i in range(3)) for k, v in samples.items()}

specs = []
info = {}
for name in ["trailer", "signed", "signed-each"]:
    repo = d + "/" + name
    sub = out(git(repo, "for-each-ref", "--format=%(refname)", "refs/heads/aiflow/bench--*"))
    anchor = out(git(repo, "rev-parse", "refs/heads/aiflow/bench"))
    tip = out(git(repo, "rev-parse", sub))
    info[name] = (repo, anchor, tip)
    reset = git(repo, *OFF, "update-ref", "refs/heads/aiflow/bench", anchor)
    stdin = "%s/stdin-%s" % (d, name)
    with open(stdin, "w") as f:
        f.write("%s %s refs/heads/aiflow/bench\n" % (anchor, tip))
    specs += [
        ("on-" + name, "update-ref, hooks, " + name, git(repo, "update-ref", "refs/heads/aiflow/bench", tip), reset, None),
        ("off-" + name, "update-ref, no hooks, " + name, git(repo, *OFF, "update-ref", "refs/heads/aiflow/bench", tip), reset, None),
        ("hook-" + name, "the hook alone, " + name, [bin, "-C", repo, "hook", "reference-transaction", "prepared"], reset, stdin),
    ]
repo, anchor, tip = info["trailer"]
specs.append(("Y", "Y-hook", git(repo, *Y, "%s..%s" % (anchor, tip)), None, None))
m = measure(specs, hook_runs)

print("\n%-64s %8s %8s %8s" % ("%d commits, median of %d runs" % (commits, hook_runs), "CPU ms", "wall ms", "RSS MiB"))
for key, label in [("on-trailer", "update-ref onto the approved subtask, hooks, trailer"),
                   ("on-signed", "the same, signed reviews (one attestation)"),
                   ("on-signed-each", "the same, %d attestations (one per commit)" % commits),
                   ("off-trailer", "update-ref, core.hooksPath=/dev/null"),
                   ("hook-trailer", "the hook process alone, trailer"),
                   ("hook-signed", "the hook process alone, signed, one attestation"),
                   ("hook-signed-each", "the hook process alone, signed, %d attestations" % commits),
                   ("Y", "Y-hook: git's trailer read over the same %d commits" % commits)]:
    cpu, wall, rss = m[key]
    print("%-64s %8.2f %8.2f %8.1f" % (label, cpu * 1e3, wall * 1e3, rss / 1024))
added = lambda a, b: (m[a][0] - m[b][0]) * 1e3
one = added("hook-signed", "hook-trailer")
each = added("hook-signed-each", "hook-trailer") / commits
print("%-64s %+8.2f" % ("verifying one attestation (hook, signed - trailer), CPU ms", one))
print("%-64s %+8.3f" % ("per attestation, from %d of them, CPU ms" % commits, each))
ratio = (m["on-signed"][0] - m["on-trailer"][0]) / m["on-trailer"][0]
print("\nTargets")
print("  %-4s  %-66s %+.1f%%" % ("PASS" if ratio <= 0.10 else "MISS",
      "verifying the attestation adds at most 10%% to a %d-commit hooked update" % commits, ratio * 100))
PY

# The hooks must accept the approved update and refuse it without the approval's signature or
# the approval itself, or the timings mean nothing.
verify_setup() {
    local name=$1 repo="$dir/$1"
    local sub anchor tip
    sub=$(git -C "$repo" for-each-ref --format='%(refname)' 'refs/heads/aiflow/bench--*')
    anchor=$(git -C "$repo" rev-parse refs/heads/aiflow/bench)
    tip=$(git -C "$repo" rev-parse "$sub")
    git -C "$repo" update-ref refs/heads/aiflow/bench "$tip" ||
        { echo "$name: the hook refused the approved update" >&2; exit 1; }
    git -C "$repo" -c core.hooksPath=/dev/null update-ref refs/heads/aiflow/bench "$anchor"
    local notes copy
    notes=$(git -C "$repo" rev-parse refs/notes/aiflow)
    copy=$(mktemp)
    git -C "$repo" notes --ref=aiflow show "$anchor" > "$copy"
    python3 - "$copy" "$name" <<'PY'
import re, sys
p, name = sys.argv[1], sys.argv[2]
t = open(p).read()
if name == "trailer":
    t = t[: t.find("[[reviews]]")] if "[[reviews]]" in t else t
else:
    # The signature, whatever TOML string form it was written in.
    t = re.sub(r'(?ms)^signature = ("""|\'\'\'|"|\').*?\1\n', "", t)
open(p, "w").write(t)
PY
    git -C "$repo" notes --ref=aiflow add -f -F "$copy" "$anchor"
    if git -C "$repo" update-ref refs/heads/aiflow/bench "$tip" 2>/dev/null; then
        echo "$name: the hook accepted the update without the approval or its signature" >&2; exit 1
    fi
    git -C "$repo" -c core.hooksPath=/dev/null update-ref refs/notes/aiflow "$notes"
    rm -f "$copy"
}
for r in trailer signed signed-each; do verify_setup "$r"; done
python3 -u -c "$harness" "$commits" "$runs" "$bin" "$dir" "$launcher"
