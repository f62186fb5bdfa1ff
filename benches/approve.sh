#!/usr/bin/env bash
# Benchmark: `git aiflow approve` over a subtask branch of SIZE step commits, beside the parts of
# the work git itself does and what a reviewer would otherwise do by hand.
#
#   benches/approve.sh [SIZES...] [--runs N]     (defaults: 1000 100 5000, 5 runs)
#   benches/approve.sh 1000                      (a quick run)
#   AIFLOW_BIN=path/to/git-aiflow benches/approve.sh 1000   (skip the build, use that binary)
#
# For each size it builds (once; cached in ${TMPDIR:-/tmp}/aiflow-bench-approve/<size>) a
# repository with a flow `bench` (`git aiflow new`, planned by the scripted `command` provider of
# fixtures/providers), its first subtask started, and SIZE step commits on the subtask branch made
# with `git fast-import`: each changes one small file, is authored by `Agent <agent@agent.invalid>`
# and carries the step trailers as `git aiflow step` writes them, with a step note on every commit
# (also through fast-import), packed with `git repack -adq` and a commit-graph.
# Every timed run starts from a fresh `cp -a` of that repository (copied outside the timing) and
# times, as the reviewer Grace Hopper <grace@example.com>:
#   - `git-aiflow approve <id>` (the binary itself, as benches/check.sh does; going through
#     `git aiflow` adds the git dispatcher, about a millisecond);
#   - yardsticks on the same copy, before the approval: `git rev-list --count`, `git log
#     --format=%B` and git's own way of naming each change, the patch-id pipeline (`git rev-list
#     | git diff-tree --stdin -p --root | git patch-id --stable`, under `sh -c`; approve names
#     them by content ids, computed in-process from the trees) over aiflow/bench..<branch>;
#   - for sizes <= 200 only, on a second copy: what a reviewer would do by hand, `git rebase -x
#     'git commit --amend --no-edit --trailer "Reviewed-by: ..."' aiflow/bench` (no patch ids,
#     no review record; it reports how many step notes survive it).
# After every approval (outside the timing) it checks the result: every commit of the branch
# has the reviewer's Reviewed-by trailer, `git aiflow check aiflow/bench..<branch>` passes, the
# tip's tree is unchanged, every rewritten commit kept its step note, the subtask is approved and
# its recorded review lists exactly the branch's commits.
# CPU (user+sys, and the sys part alone: approve, like git, writes a loose object file per
# rewritten commit, so it is mostly file creation in the kernel), wall and peak RSS are those of
# each process with its children, as wait4(2) reports them to a tiny launcher (built with cc; GNU
# time, at 10 ms resolution, without one). Figures are medians of N runs after one warm-up run.
# It ends with a summary table and the target `approve over 1000 commits: < 2 s` (median wall),
# PASS or MISS.
set -euo pipefail

sizes=()
runs=5
while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=${2:?--runs needs a number}; shift 2 ;;
        --runs=*) runs=${1#--runs=}; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *[!0-9]*|'') echo "usage: $0 [SIZES...] [--runs N]" >&2; exit 2 ;;
        *) sizes+=("$1"); shift ;;
    esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 100 5000)
case $runs in ''|*[!0-9]*|0) echo "--runs must be a positive number" >&2; exit 2 ;; esac
for size in "${sizes[@]}"; do
    [ "$size" -ge 1 ] || { echo "sizes must be at least 1 commit" >&2; exit 2; }
done

. "$(dirname "$0")/setup.sh"
find_binary
"$bin" approve --help >/dev/null 2>&1 || { echo "$bin has no working 'approve' command" >&2; exit 1; }
provider="$root/fixtures/providers/scripted.sh"
[ -f "$provider" ] || { echo "no scripted provider at $provider" >&2; exit 1; }

# Hermetic git: no user or system config, a fixed identity (the author of the flow; the reviewer
# is set for the timed commands only), and the binary's directory first on PATH so that
# `git aiflow` is this binary.
hermetic

base="${TMPDIR:-/tmp}/aiflow-bench-approve"
results="$base/results.$$.jsonl"
mkdir -p "$base"
trap 'rm -f "$results"' EXIT

# The fast-import stream: argv = n branch parent notes_tip slug id. n step commits on the
# branch from parent, then one notes commit on refs/notes/aiflow adding a step note to each.
read -r -d '' generator <<'PY' || true
import random, sys

n, branch, parent, notes_tip, slug, sid = sys.argv[1:7]
n = int(n)
rng = random.Random(20260101 + n)
out = sys.stdout.buffer

words = ("the a of to in for on with when after each one no empty bucket token refill rate limit "
         "quota key request clock burst window server redis cache retry error path value state "
         "update read write check count reset header response so that because instead now").split()
paths = ["src/bucket/part%02d.rs" % i for i in range(24)] + ["tests/bucket%02d.rs" % i for i in range(8)]
files = {}

def text(lo, hi):
    target, ws, length = rng.randint(lo, hi), [], 0
    while length < target:
        w = rng.choice(words)
        ws.append(w)
        length += len(w) + 1
    return " ".join(ws)

def line():
    return "    let %s = %d; // %s\n" % (rng.choice(words), rng.randint(0, 99999), text(8, 40))

def data(b):
    return b"data %d\n%s\n" % (len(b), b)

clock = 1767225600
for k in range(1, n + 1):
    clock += rng.randint(20, 600)
    p = rng.choice(paths)
    lines = files.get(p)
    if lines is None:
        lines = [line() for _ in range(rng.randint(6, 16))]
    elif len(lines) < 30 and rng.random() < 0.3:
        lines.insert(rng.randint(0, len(lines)), line())
    else:
        lines[rng.randrange(len(lines))] = line()
    files[p] = lines
    subject = "%s %s" % (rng.choice(["Add", "Fix", "Handle", "Check", "Test", "Simplify"]), text(16, 48))
    msg = "%s\n\n%s.\n\nAiflow-Flow: %s\nAiflow-Subtask: %s\nAiflow-Step: %d\n" % (
        subject, text(30, 70), slug, sid, k)
    content = "".join(lines).encode()
    out.write(b"commit refs/heads/%s\nmark :%d\nauthor Agent <agent@agent.invalid> %d +0000\n"
              b"committer Ada Lovelace <ada@example.com> %d +0000\n%s"
              % (branch.encode(), k, clock, clock, data(msg.encode())))
    if k == 1:
        out.write(b"from %s\n" % parent.encode())
    out.write(b"M 100644 inline %s\n%s" % (p.encode(), data(content)))

note = ('schema = 1\nkind = "step"\nflow = "%s"\nsubtask = "%s"\nstep = %%d\nby = "hand"\n'
        'at = "2026-01-01T00:00:00+00:00"\nrecorded_by = "Ada Lovelace <ada@example.com>"\n' % (slug, sid))
out.write(b"commit refs/notes/aiflow\ncommitter Ada Lovelace <ada@example.com> %d +0000\n%sfrom %s\n"
          % (clock + 1, data(("aiflow: step of %s in %s\n" % (sid, slug)).encode()), notes_tip.encode()))
for k in range(1, n + 1):
    out.write(b"N inline :%d\n%s" % (k, data((note % k).encode())))
out.write(b"done\n")
PY
gen_id=$(printf '%s' "$generator" | sha1sum | cut -c1-12)

# The flow's status as seen by git-aiflow: one document, no problems; argv[1] a status --json,
# argv[2] a list --json, argv[3] the subtask id, argv[4] the status it must have.
read -r -d '' status_ok <<'PY' || true
import json, sys
st, ls = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
errs = []
if ls.get("problems"):
    errs.append("list --json reports problems: %s" % json.dumps(ls["problems"])[:2000])
if st.get("documents") != 1:
    errs.append("the flow note holds %r documents" % st.get("documents"))
sub = [s for s in st.get("subtasks", []) if s.get("id") == sys.argv[3]]
if len(sub) != 1:
    errs.append("subtask %s not in the status" % sys.argv[3])
elif sub[0].get("status") != sys.argv[4]:
    errs.append("subtask %s is %r, not %r" % (sys.argv[3], sub[0].get("status"), sys.argv[4]))
if errs:
    sys.exit("\n".join(errs))
PY

# prepare SIZE: make $base/SIZE/repo (and SIZE/meta: subtask id, branch, tip tree) unless a
# complete one from this generator exists.
prepare() {
    local size=$1 dir="$base/$1"
    if [ "$(cat "$dir/complete" 2>/dev/null)" = "$gen_id" ] && [ -f "$dir/meta" ] &&
        [ -f "$dir/repo/.git/objects/info/commit-graph" ]; then
        local id branch
        read -r id branch _ < "$dir/meta"
        if [ "$(git -C "$dir/repo" rev-list --count "aiflow/bench..$branch" 2>/dev/null)" = "$size" ]; then
            return
        fi
    fi
    echo "generating a flow with a subtask of $size commits in $dir ..." >&2
    local start=$SECONDS
    rm -rf "$dir" "$dir.tmp"
    mkdir -p "$dir.tmp"
    local repo="$dir.tmp/repo"
    git init -q -b main "$repo"
    git -C "$repo" config gc.auto 0
    git -C "$repo" config maintenance.auto false
    printf '# Bench\n\nA repository for benches/approve.sh.\n' > "$repo/README.md"
    git -C "$repo" add README.md
    git -C "$repo" commit -q -m 'Initial commit'
    (
        cd "$repo"
        git aiflow init >/dev/null
        git aiflow new bench -m "Bench flow

A flow for the approve benchmark." >/dev/null
        git config aiflow.provider command
        git config aiflow.command "sh $provider"
        git aiflow plan bench >/dev/null
        git aiflow answer bench --skip >/dev/null
        git aiflow plan bench >/dev/null
    ) 2> "$dir.tmp/setup.log" || { cat "$dir.tmp/setup.log" >&2; echo "setting up the flow failed in $repo" >&2; exit 1; }
    local id branch
    id=$(git -C "$repo" aiflow next bench --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["subtask"]["id"])')
    git -C "$repo" aiflow start "$id" >/dev/null
    branch=$(git -C "$repo" symbolic-ref --short HEAD)
    [ "$branch" != main ] || { echo "git aiflow start $id left HEAD on main" >&2; exit 1; }
    local parent notes_tip
    parent=$(git -C "$repo" rev-parse HEAD)
    notes_tip=$(git -C "$repo" rev-parse refs/notes/aiflow)
    python3 -c "$generator" "$size" "$branch" "$parent" "$notes_tip" bench "$id" |
        git -C "$repo" fast-import --quiet --done
    git -C "$repo" reset -q --hard "$branch"
    git -C "$repo" repack -adq
    git -C "$repo" prune-packed
    git -C "$repo" commit-graph write --reachable --no-progress
    local got notes
    got=$(git -C "$repo" rev-list --count "aiflow/bench..$branch")
    [ "$got" = "$size" ] || { echo "generator made $got commits, not $size" >&2; exit 1; }
    notes=$(comm -12 <(git -C "$repo" notes --ref=aiflow list | cut -d' ' -f2 | sort) \
        <(git -C "$repo" rev-list "aiflow/bench..$branch" | sort) | wc -l)
    [ "$notes" = "$size" ] || { echo "$notes of $size commits have a step note" >&2; exit 1; }
    # git-aiflow must still read the flow, and its gate must refuse the unreviewed commits (or
    # the check after each approval proves nothing).
    git -C "$repo" aiflow status bench --json > "$dir.tmp/status.json"
    git -C "$repo" aiflow list --json > "$dir.tmp/list.json"
    python3 -c "$status_ok" "$dir.tmp/status.json" "$dir.tmp/list.json" "$id" active ||
        { echo "git aiflow status/list do not accept the generated repository" >&2; exit 1; }
    if git -C "$repo" aiflow check "aiflow/bench..$branch" >/dev/null 2>&1; then
        echo "git aiflow check accepted $size unreviewed commits" >&2; exit 1
    fi
    echo "$id $branch $(git -C "$repo" rev-parse "$branch^{tree}")" > "$dir.tmp/meta"
    echo "$gen_id" > "$dir.tmp/complete"
    mv "$dir.tmp" "$dir"
    echo "  subtask $id on $branch: $got commits with step notes, pack $(du -sh "$dir/repo/.git/objects/pack" | cut -f1), $((SECONDS - start)) s" >&2
}

# Per-process CPU and peak RSS. A process forked from Python starts with Python's peak RSS
# (~15 MiB: the high-water mark survives exec), so each command runs under a tiny launcher that
# reports its child's wait4(2) figures as "wall user sys maxrss_kib": this C helper when a C
# compiler is around (microsecond resolution), else GNU time (10 ms resolution), else Python.
# shellcheck source=benches/runstat.sh
. "$(dirname "$0")/runstat.sh"

# The measuring harness: argv = size runs bin dir results launcher id branch tree.
read -r -d '' harness <<'PY' || true
import json, os, shutil, statistics, subprocess, sys, tempfile, time

size, runs = int(sys.argv[1]), int(sys.argv[2])
bin, d, results, launcher, sid, branch, tree = sys.argv[3:10]
repo = d + "/repo"
REVIEWER = "Grace Hopper <grace@example.com>"
env = dict(os.environ, GIT_COMMITTER_NAME="Grace Hopper", GIT_COMMITTER_EMAIL="grace@example.com")
RANGE = "aiflow/bench.." + branch
BY_HAND = size <= 200

def git(where, *args):
    return ["git", "-C", where, *args]

def run(cmd, out=subprocess.DEVNULL):
    """Run cmd as the reviewer; return (wall s, cpu s, peak RSS KiB, status, stderr, sys s) for
    it and its children."""
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as stat:
        if launcher == "python":
            t0 = time.perf_counter()
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
            _, status, ru = os.wait4(p.pid, 0)
            wall, cpu, rss = time.perf_counter() - t0, ru.ru_utime + ru.ru_stime, ru.ru_maxrss
            sys_s = ru.ru_stime
            status = p.returncode = os.waitstatus_to_exitcode(status)
        else:
            pre = [launcher, "-f", "%e %U %S %M", "-o"] if launcher == "/usr/bin/time" else [launcher]
            status = subprocess.run(pre + [stat.name] + cmd, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=err, env=env).returncode
            fields = stat.read().split()[-4:]
            if len(fields) != 4:
                sys.exit("the launcher %s gave no figures for: %s" % (launcher, " ".join(cmd)))
            wall, cpu, rss = float(fields[0]), float(fields[1]) + float(fields[2]), int(fields[3])
            sys_s = float(fields[2])
        err.seek(0)
        return wall, cpu, rss, status, err.read().decode(errors="replace"), sys_s

def fail(what, cmd, status, out):
    sys.exit("FAILED (exit %d): %s\n  %s\n%s" % (status, what, " ".join(cmd), out))

def fresh(dst):
    shutil.rmtree(dst, ignore_errors=True)
    subprocess.run(["cp", "-a", repo, dst], check=True)

def out_of(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    return p.returncode, p.stdout, p.stderr

def verify(where, what):
    """The branch in `where` must be approved by REVIEWER: fail loudly otherwise."""
    errs = []
    _, log, _ = out_of(git(where, "log", "--format=%(trailers:key=Reviewed-by,valueonly)", "main.." + branch))
    grace = sum(1 for l in log.splitlines() if "Grace" in l)
    if grace != size:
        errs.append("%d of %d commits carry Reviewed-by: Grace (git log main..%s)" % (grace, size, branch))
    _, count, _ = out_of(git(where, "rev-list", "--count", RANGE))
    if count.strip() != str(size):
        errs.append("%s has %s commits, not %d" % (RANGE, count.strip(), size))
    _, t, _ = out_of(git(where, "rev-parse", branch + "^{tree}"))
    if t.strip() != tree:
        errs.append("the tip's tree changed: %s, was %s" % (t.strip(), tree))
    _, noted, _ = out_of(git(where, "notes", "--ref=aiflow", "list"))
    _, ids, _ = out_of(git(where, "rev-list", RANGE))
    kept = len(set(l.split()[1] for l in noted.splitlines()) & set(ids.split()))
    if kept != size and what == "approve":
        errs.append("%d of %d rewritten commits kept their step note" % (kept, size))
    if what == "approve":
        rc, o, e = out_of(["git", "-C", where, "aiflow", "check", RANGE])
        if rc != 0:
            errs.append("git aiflow check %s exits %d:\n%s%s" % (RANGE, rc, o[-3000:], e[-3000:]))
        rc, o, e = out_of(["git", "-C", where, "aiflow", "status", "bench", "--json"])
        if rc != 0:
            errs.append("git aiflow status bench --json exits %d: %s" % (rc, e))
        else:
            st = json.loads(o)
            sub = [s for s in st["subtasks"] if s["id"] == sid]
            if not sub or sub[0]["status"] != "approved":
                errs.append("subtask %s is %r after approve" % (sid, sub and sub[0]["status"]))
            if st.get("documents") != 1:
                errs.append("the flow note holds %r documents" % st.get("documents"))
        rc, o, e = out_of(["git", "-C", where, "aiflow", "review", sid, "--json"])
        if rc != 0:
            errs.append("git aiflow review %s --json exits %d: %s" % (sid, rc, e))
        else:
            rv = json.loads(o)
            mine = [x for x in rv.get("reviews", []) if x.get("subtask") == sid]
            listed = set(c["commit"] for c in mine[-1]["commits"]) if mine else set()
            if not mine or mine[-1].get("verdict") != "approved" or listed != set(ids.split()):
                errs.append("the recorded review does not list the %d commits of the branch "
                            "(%d listed, %d of them on it)" % (size, len(listed), len(listed & set(ids.split()))))
            unapproved = [c["commit"] for c in rv.get("commits", []) if c.get("review") != "approved"]
            if unapproved:
                errs.append("git aiflow review shows %d commits not approved, e.g. %s"
                            % (len(unapproved), unapproved[0]))
    if errs:
        sys.exit("FAILED: after %s of %d commits in %s:\n  %s" % (what, size, where, "\n  ".join(errs)))
    return kept

def yardsticks(work):
    return [
        ("count", "git rev-list --count " + RANGE, git(work, "rev-list", "--count", RANGE)),
        ("log", "git log --format=%B " + RANGE, git(work, "log", "--format=%B", RANGE)),
        ("pid", "rev-list | diff-tree -p | patch-id", ["sh", "-c",
            'git -C "$1" rev-list "$2" | git -C "$1" diff-tree --stdin -p --root | git -C "$1" patch-id --stable >/dev/null',
            "sh", work, RANGE]),
    ]

# Each round gets copies of its own, all removed only after the last round: freeing thousands of
# inodes just before a run makes ext4 slower to allocate new ones (it skips recently deleted
# inodes), and approve, like git, creates a file per object it writes.
def scratch(name):
    return "%s/%s-%d" % (d, name, r + 1)

for old in os.listdir(d):
    if old.startswith(("run-", "hand-", "fi-")):
        shutil.rmtree(os.path.join(d, old))
samples = {k: [] for k in ["approve", "hand", "count", "log", "pid", "fi"]}
shown = None
_, OLD_NOTES, _ = out_of(git(repo, "rev-parse", "refs/notes/aiflow"))
OLD_NOTES = OLD_NOTES.strip()
STREAM = d + "/approved.fast-import"

def make_stream(approved):
    """What approve wrote in `approved`, as one fast-import stream: the rewritten commits (their
    trees' blobs exist already: --no-data) and the notes commits with their new notes."""
    with open(STREAM, "wb") as f:
        for args in (["--no-data", "aiflow/bench.." + branch], [OLD_NOTES + "..refs/notes/aiflow"]):
            subprocess.run(git(approved, "fast-export", "--reference-excluded-parents",
                               "--signed-tags=strip", *args), stdout=f, check=True, env=env)

for r in range(-1, runs):
    work, hand, fi = scratch("run"), scratch("hand"), scratch("fi")
    fresh(work)
    fresh(fi)
    if BY_HAND:
        fresh(hand)
    APPROVE = [bin, "-C", work, "approve", sid]
    HAND = git(hand, "rebase", "-q", "-x",
               'git commit --quiet --amend --no-edit --trailer "Reviewed-by: %s"' % REVIEWER, "aiflow/bench")
    yard = yardsticks(work)
    # The yardsticks read the same unapproved copy, just before approve (they change nothing).
    for key, label, cmd in (yard if r % 2 else yard[::-1]):
        wall, cpu, rss, status, err, sys_s = run(cmd)
        if status != 0:
            fail(label, cmd, status, err)
        if r >= 0:
            samples[key].append((cpu, wall, rss, sys_s))
    timed = [("approve", APPROVE)] + ([("hand", HAND)] if BY_HAND else [])
    for key, cmd in (timed if r % 2 else timed[::-1]):
        with tempfile.TemporaryFile() as o:
            wall, cpu, rss, status, err, sys_s = run(cmd, out=o)
            o.seek(0)
            text = o.read().decode(errors="replace")
        if status != 0:
            fail("git aiflow approve" if key == "approve" else "the rebase by hand", cmd, status, text + err)
        if key == "approve" and shown is None:
            shown = text.strip().splitlines() + ["(stderr) " + l for l in err.strip().splitlines()]
        if r >= 0:
            samples[key].append((cpu, wall, rss, sys_s))
    verify(work, "approve")
    if r == -1:
        make_stream(work)
    # The yardstick of the writing: git fast-import writing the same commits and notes into an
    # unapproved copy (one pack, as approve writes).
    FI = ["sh", "-c", 'git -C "$1" fast-import --quiet --force < "$2"', "sh", fi, STREAM]
    wall, cpu, rss, status, err, sys_s = run(FI)
    if status != 0:
        fail("git fast-import of what approve wrote", FI, status, err)
    if r >= 0:
        samples["fi"].append((cpu, wall, rss, sys_s))
    if r == -1:
        _, a_tip, _ = out_of(git(work, "rev-parse", branch, "refs/notes/aiflow"))
        _, f_tip, _ = out_of(git(fi, "rev-parse", branch, "refs/notes/aiflow"))
        if a_tip != f_tip:
            sys.exit("FAILED: fast-import of approve's objects gave other tips:\n%s\n%s" % (a_tip, f_tip))
    if BY_HAND:
        hand_notes = verify(hand, "the rebase by hand")
        _, a_tip, _ = out_of(git(work, "rev-parse", branch))
        _, h_tip, _ = out_of(git(hand, "rev-parse", branch))
        same_tip = a_tip == h_tip

print("\n== %d commits: git-aiflow approve %s says:" % (size, sid))
if launcher == "python":
    print("   (no C compiler or GNU time: peak RSS includes ~15 MiB inherited from Python)")
elif launcher == "/usr/bin/time":
    print("   (no C compiler: GNU time measures CPU and wall to 10 ms only)")
for l in shown[-8:]:
    print("   | " + l)
print("   verified after each run: %d Reviewed-by: Grace trailers, `git aiflow check` of the range"
      % size)
print("   passes, tree unchanged, step notes carried, subtask approved with a %d-commit review" % size)
if BY_HAND:
    print("   by hand (rebase -x amend): same trailers; %s; step notes on %d of %d commits"
          % ("the very same commits as approve" if same_tip else "other commit ids than approve",
             hand_notes, size))
    if hand_notes != size:
        print("     (rebase copies notes to its picks only when it finishes, after exec's amend has")
        print("      replaced them, so the amended commits lose their notes)")

med = {k: tuple(statistics.median(s[i] for s in v) for i in range(4)) for k, v in samples.items() if v}
print("\n%-64s %9s %9s %9s %8s" % ("%d commits, median of %d runs" % (size, runs), "wall ms", "CPU ms",
                                    "of it sys", "RSS MiB"))
rows = [("approve", "git-aiflow approve %s" % sid),
        ("count", "git rev-list --count aiflow/bench..<branch>"),
        ("log", "git log --format=%B aiflow/bench..<branch>"),
        ("pid", "git rev-list | git diff-tree --stdin -p --root | git patch-id"),
        ("fi", "git fast-import of the same commits and notes")]
if BY_HAND:
    rows.append(("hand", "by hand: git rebase -x 'git commit --amend --trailer Reviewed-by…'"))
for key, label in rows:
    cpu, wall, rss, sys_s = med[key]
    print("%-64s %9.1f %9.1f %9.1f %8.1f" % (label, wall * 1e3, cpu * 1e3, sys_s * 1e3, rss / 1024))
a = med["approve"]
print("%-64s %9.2f %9.2f" % ("approve ÷ the patch-id pipeline", a[1] / med["pid"][1], a[0] / med["pid"][0]))
print("%-64s %9.2f %9.2f" % ("approve ÷ git log --format=%B", a[1] / med["log"][1], a[0] / med["log"][0]))
print("%-64s %9.2f %9.2f" % ("approve ÷ git fast-import of the same (target <= 1.0)", a[1] / med["fi"][1], a[0] / med["fi"][0]))
if BY_HAND:
    print("%-64s %9.2f %9.2f" % ("by hand ÷ approve", med["hand"][1] / a[1], med["hand"][0] / a[0]))

with open(results, "a") as f:
    f.write(json.dumps({"size": size, "runs": runs, "median": med}) + "\n")
PY

# The summary table over the sizes run, and the target.
read -r -d '' summary <<'PY' || true
import json, sys
rows = sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda r: r["size"])
print("\nSummary: medians, wall ms (CPU ms) unless said")
print("%7s %9s %9s %9s %8s %13s %13s %13s %17s" % ("commits", "approve", "CPU", "of it sys", "RSS MiB",
                                                     "rev-list -c", "log %B", "patch-id", "by hand rebase"))
for r in rows:
    m = r["median"]
    f = lambda k: "%.1f (%.1f)" % (m[k][1] * 1e3, m[k][0] * 1e3) if k in m else "-"
    print("%7d %9.1f %9.1f %9.1f %8.1f %13s %13s %13s %17s" % (
        r["size"], m["approve"][1] * 1e3, m["approve"][0] * 1e3, m["approve"][3] * 1e3, m["approve"][2] / 1024,
        f("count"), f("log"), f("pid"), f("hand")))
at = [r for r in rows if r["size"] == 1000]
if at:
    wall = at[0]["median"]["approve"][1]
    print("\napprove over 1000 commits: < 2 s -> %s  (median wall %.3f s)" % ("PASS" if wall < 2 else "MISS", wall))
else:
    print("\napprove over 1000 commits: < 2 s -> not run (add size 1000)")
PY

for size in "${sizes[@]}"; do
    prepare "$size"
    dir="$base/$size"
    read -r id branch tree < "$dir/meta"
    python3 -u -c "$harness" "$size" "$runs" "$bin" "$dir" "$results" "$launcher" "$id" "$branch" "$tree"
    rm -rf "$dir"/run-* "$dir"/hand-* "$dir"/fi-*
done
python3 -c "$summary" "$results"
