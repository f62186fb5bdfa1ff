#!/usr/bin/env bash
# Benchmark: `git aiflow stats` over FLOWS finished flows of 5 subtasks each, against `git log
# --numstat` over the same commits.
#
#   benches/stats.sh [FLOWS] [--runs N]         (defaults: 1000 flows, 5 runs)
#   AIFLOW_BIN=path/to/git-aiflow benches/stats.sh   (skip the build, use that binary)
#
# It builds (once; cached in ${TMPDIR:-/tmp}/aiflow-bench-stats/<flows>) a repository where each
# flow `fNNNN` has an anchor commit, and per subtask a branch of 3 step commits (two by hand, one
# by the agent; the second rewrites 2 lines of the first and adds 4, the third removes one line of
# the second) merged --no-ff into the flow's integration branch with the `Aiflow-Flow` and
# `Aiflow-Subtask` trailers; each step commit has a step note (the first one red, the others
# green), and the anchor a finished flow document: questions asked and answered, a model
# revision and a human edit, a rejection of subtask 2 and an approval of each subtask. All
# commits through one `git fast-import`, the notes through a second one (they name the commits),
# then `git repack -adq` and a commit-graph.
# Timed, interleaved, N runs after one warm-up: `git-aiflow stats --json` and
# `git log --numstat --branches` (every step and merge commit; the notes are not branches).
# CPU is user+sys of each process with its children, as wait4(2) reports them (benches/runstat.sh).
# It ends with the target: stats CPU <= 2x the git log CPU, PASS or MISS.
set -euo pipefail

flows=1000
runs=5
while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=${2:?--runs needs a number}; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *[!0-9]*|'') echo "usage: $0 [FLOWS] [--runs N]" >&2; exit 2 ;;
        *) flows=$1; shift ;;
    esac
done

. "$(dirname "$0")/setup.sh"
find_binary
hermetic
base="${TMPDIR:-/tmp}/aiflow-bench-stats"
mkdir -p "$base"
# shellcheck source=benches/runstat.sh
. "$(dirname "$0")/runstat.sh"

# Pass 1, the commits: argv = flows marks_out. Prints the fast-import stream.
read -r -d '' commits_py <<'PY' || true
import sys
flows = int(sys.argv[1])
out = sys.stdout.buffer
T0 = 1767225600
mark = [0]
def new_mark():
    mark[0] += 1
    return mark[0]
def data(b):
    return b"data %d\n%s\n" % (len(b), b)
def commit(ref, m, when, author, msg, parents, files):
    out.write(b"commit %s\nmark :%d\nauthor %s %d +0000\ncommitter Ada Lovelace <ada@example.com> %d +0000\n"
              % (ref.encode(), m, author.encode(), when, when))
    out.write(data(msg.encode()))
    if parents:
        out.write(b"from :%d\n" % parents[0] if isinstance(parents[0], int) else b"from %s\n" % parents[0].encode())
        for p in parents[1:]:
            out.write(b"merge :%d\n" % p)
    for path, text in files:
        out.write(b"M 100644 inline %s\n%s" % (path.encode(), data(text.encode())))
ADA = "Ada Lovelace <ada@example.com>"
AGENT = "Agent <agent@agent.invalid>"
out.write(b"reset refs/heads/main\nfrom %s\n\n" % sys.argv[2].encode())
for k in range(1, flows + 1):
    slug = "f%04d" % k
    t = T0 + k * 86400
    integ = "refs/heads/aiflow/" + slug
    anchor = new_mark()
    print(slug, "anchor", anchor, file=sys.stderr)
    commit(integ, anchor, t + 60, ADA, "aiflow: start %s: Flow %d\n\nAiflow-Flow: %s\n" % (slug, k, slug),
           [sys.argv[2]], [])
    tip = anchor
    when = t + 600
    for s in range(1, 6):
        sid = "s%d" % s
        branch = "refs/heads/aiflow/%s--%s-part-%d" % (slug, sid, s)
        path = "src/%s/part%d.rs" % (slug, s)
        v1 = ["fn line_%d() -> u32 { %d }\n" % (i, i * k) for i in range(8)]
        v2 = list(v1)
        v2[2] = "fn line_2() -> u32 { 2 * %d }\n" % k
        v2[5] = "fn line_5() -> u32 { 5 * %d }\n" % k
        v2 += ["fn extra_%d() {}\n" % i for i in range(4)]
        v3 = [l for l in v2 if l != "fn extra_1() {}\n"]
        prev = tip
        for n, (text, who) in enumerate([(v1, ADA), (v2, ADA), (v3, AGENT)], 1):
            m = new_mark()
            msg = "Step %d of %s\n\nAiflow-Flow: %s\nAiflow-Subtask: %s\nAiflow-Step: %d\n" % (n, sid, slug, sid, n)
            commit(branch, m, when, who, msg, [prev], [(path, "".join(text))])
            print(slug, "step", m, sid, n, when, file=sys.stderr)
            prev = m
            when += 300
        when += 600
        merge = new_mark()
        msg = "Merge subtask %s: Part %d\n\nFlow %s: Flow %d\n\nAiflow-Flow: %s\nAiflow-Subtask: %s\n" % (
            sid, s, slug, k, slug, sid)
        commit(integ, merge, when, ADA, msg, [tip, prev], [(path, "".join(v3))])
        print(slug, "merge", merge, sid, when, file=sys.stderr)
        tip = merge
        when += 300
    print(slug, "end", tip, when, file=sys.stderr)
out.write(b"done\n")
PY

# Pass 2, the notes: argv = flows log marks notes_parent. Prints the fast-import stream.
read -r -d '' notes_py <<'PY' || true
import sys, datetime
flows, log, marks = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ids = dict(l.split() for l in open(marks))
trees = dict(l.split() for l in open(sys.argv[5]))
out = sys.stdout.buffer
def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")
def data(b):
    return b"data %d\n%s\n" % (len(b), b)
ADA = "Ada Lovelace <ada@example.com>"
GRACE = "Grace Hopper <grace@example.com>"
T0 = 1767225600
flows_of = {}
for line in open(log):
    f = line.split()
    flows_of.setdefault(f[0], []).append(f[1:])
out.write(b"commit refs/notes/aiflow\ncommitter %s %d +0000\n" % (ADA.encode(), T0))
out.write(data(b"aiflow: bench notes\n"))
for slug, events in flows_of.items():
    k = int(slug[1:])
    t = T0 + k * 86400
    steps = {}
    merges = {}
    anchor = tip = end = None
    for e in events:
        if e[0] == "anchor":
            anchor = ids[":" + e[1]]
        elif e[0] == "step":
            steps.setdefault(e[2], []).append((ids[":" + e[1]], int(e[3]), int(e[4])))
        elif e[0] == "merge":
            merges[e[2]] = int(e[3])
        elif e[0] == "end":
            tip, end = ids[":" + e[1]], int(e[2])
    for sid, lst in steps.items():
        for cid, n, when in lst:
            note = ('schema = 2\nkind = "step"\nflow = "%s"\nsubtask = "%s"\nstep = %d\nby = "%s"\n'
                    'at = "%s"\nrecorded_by = "%s"\n' % (slug, sid, n, "agent" if n == 3 else "hand", iso(when), ADA))
            if n == 3:
                note += 'agent = "scripted"\nduration_ms = 1200\nexit_code = 0\n'
            note += ('\n[test]\ncommand = "sh check.sh"\nexit = %d\ntree = "%s"\nat = "%s"\nby = "%s"\nduration_ms = 40\noutput = ""\n'
                     % (1 if n == 1 else 0, trees[cid], iso(when), ADA))
            out.write(b"N inline %s\n%s" % (cid.encode(), data(note.encode())))
    doc = ['schema = 2', 'kind = "flow"', 'slug = "%s"' % slug, 'title = "Flow %d"' % k, 'status = "finished"',
           'base_ref = "refs/heads/main"', 'base_commit = "%s"' % sys.argv[4],
           'integration_branch = "aiflow/%s"' % slug, 'created_at = "%s"' % iso(t + 60), 'created_by = "%s"' % ADA,
           'updated_at = "%s"' % iso(end + 600), 'updated_by = "%s"' % ADA, '',
           '[spec]', 'summary = "Flow %d"' % k, 'features = []', 'stack = []', 'constraints = []', 'edge_cases = []', '',
           '[[questions]]', 'id = 1', 'question = "Which way?"', 'answer = "This way"',
           'answered_at = "%s"' % iso(t + 240), 'answered_by = "%s"' % ADA, '',
           '[questions_asked]', 'at = "%s"' % iso(t + 120), 'by = "%s"' % ADA, 'provider = "openai"', 'model = "m1"',
           'tokens_in = 1000', 'tokens_out = 200', 'duration_ms = 3000', '']
    for rev, (src, at) in enumerate([("model", t + 300), ("edit", t + 360)], 1):
        doc += ['[[plans]]', 'revision = %d' % rev, 'created_at = "%s"' % iso(at), 'created_by = "%s"' % ADA,
                'source = "%s"' % src]
        if src == "model":
            doc += ['provider = "openai"', 'model = "m1"', 'tokens_in = 3000', 'tokens_out = 900', 'duration_ms = 9000']
        doc.append('')
        for s in range(1, 6 if rev == 2 else 5):
            doc += ['[[plans.subtasks]]', 'id = "s%d"' % s, 'title = "Part %d"' % s, 'phase = "core"',
                    'status = "%s"' % ("merged" if rev == 2 else "planned")]
            if rev == 2:
                doc.append('branch = "aiflow/%s--s%d-part-%d"' % (slug, s, s))
            doc.append('')
    for sid, lst in sorted(steps.items()):
        last = lst[-1][2]
        if sid == "s2":
            doc += ['[[reviews]]', 'subtask = "s2"', 'verdict = "changes-requested"', 'reviewer = "%s"' % GRACE,
                    'at = "%s"' % iso(lst[1][2] + 120), '']
        doc += ['[[reviews]]', 'subtask = "%s"' % sid, 'verdict = "approved"', 'reviewer = "%s"' % GRACE,
                'at = "%s"' % iso(last + 300), '']
        for cid, _, _ in lst:
            doc += ['[[reviews.commits]]', 'commit = "%s"' % cid, 'patch_id = "%s"' % ("1" * 40), '']
    doc += ['[finished]', 'at = "%s"' % iso(end + 600), 'by = "%s"' % ADA, 'into = "refs/heads/main"',
            'commit = "%s"' % tip, '']
    out.write(b"N inline %s\n%s" % (anchor.encode(), data("\n".join(doc).encode())))
out.write(b"done\n")
PY

prepare() {
    local dir="$base/$flows" gen
    gen=$(printf '%s%s' "$commits_py" "$notes_py" | sha1sum | cut -c1-12)
    if [ "$(cat "$dir/complete" 2>/dev/null)" = "$gen" ]; then
        return
    fi
    echo "generating $flows finished flows of 5 subtasks in $dir ..." >&2
    local start=$SECONDS
    rm -rf "$dir" "$dir.tmp"
    mkdir -p "$dir.tmp"
    local repo="$dir.tmp/repo"
    git init -q -b main "$repo"
    git -C "$repo" config gc.auto 0
    printf '# Bench\n' > "$repo/README.md"
    git -C "$repo" add README.md
    git -C "$repo" commit -q -m 'Initial commit'
    local root_commit
    root_commit=$(git -C "$repo" rev-parse HEAD)
    python3 -c "$commits_py" "$flows" "$root_commit" 2> "$dir.tmp/log" |
        git -C "$repo" fast-import --quiet --done --export-marks="$dir.tmp/marks"
    git -C "$repo" log --format='%H %T' --branches > "$dir.tmp/trees"
    python3 -c "$notes_py" "$flows" "$dir.tmp/log" "$dir.tmp/marks" "$root_commit" "$dir.tmp/trees" |
        git -C "$repo" fast-import --quiet --done
    git -C "$repo" repack -adq
    git -C "$repo" prune-packed
    git -C "$repo" commit-graph write --reachable --no-progress
    # git-aiflow must read every flow, with no problems, and count what was built.
    git -C "$repo" aiflow stats --json f0001 > "$dir.tmp/one.json"
    python3 - "$dir.tmp/one.json" <<'PY' || { echo "the generated flows do not read as expected" >&2; exit 1; }
import json, sys
f = json.load(open(sys.argv[1]))["flows"][0]
want = {"rework": {"written": 70, "lines": 15, "by_agent": 0, "by_person": 15},
        "tests": {"tested_steps": 15, "red_then_green": 5, "fix_attempts": 5}}
errs = ["%s: %s, expected %s" % (k, f[k], v) for k, v in want.items() if f[k] != v]
if f["reviews"]["rejections"] != 1 or f["reviews"]["approvals"] != 5 or f["phases"]["total"] is None:
    errs.append("reviews/phases: %s %s" % (f["reviews"], f["phases"]))
if errs:
    sys.exit("\n".join(errs))
PY
    echo "$gen" > "$dir.tmp/complete"
    mv "$dir.tmp" "$dir"
    echo "  $(git -C "$dir/repo" rev-list --count --branches) commits, $(git -C "$dir/repo" notes --ref=aiflow list | wc -l) notes, $((SECONDS - start)) s" >&2
}

prepare
repo="$base/$flows/repo"
stat="$base/stat.$$"
trap 'rm -f "$stat"' EXIT
measure() { # measure LABEL CMD...: one run; appends "label wall cpu rss" to $samples
    "$launcher" "$stat" "${@:2}" > /dev/null
    read -r wall user sys rss < "$stat"
    echo "$1 $wall $(python3 -c "print($user + $sys)") $rss" >> "$samples"
}
[ "$launcher" != python ] || { echo "needs a C compiler or GNU time for the launcher" >&2; exit 1; }
samples="$base/samples.$$"
: > "$samples"
for r in $(seq 0 "$runs"); do
    if [ $((r % 2)) = 0 ]; then
        measure stats "$bin" -C "$repo" stats --json
        measure log git -C "$repo" log --numstat --branches
    else
        measure log git -C "$repo" log --numstat --branches
        measure stats "$bin" -C "$repo" stats --json
    fi
    [ "$r" != 0 ] || : > "$samples" # the warm-up run is not counted
done
python3 - "$samples" "$flows" "$runs" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = {k: [statistics.median(float(r[i]) for r in rows if r[0] == k) for i in (1, 2, 3)] for k in ("stats", "log")}
print("%s flows x 5 subtasks, median of %s runs      wall ms    CPU ms   RSS MiB" % (sys.argv[2], sys.argv[3]))
print("%-42s %9.1f %9.1f %9.1f" % ("git-aiflow stats --json", med["stats"][0] * 1e3, med["stats"][1] * 1e3, med["stats"][2] / 1024))
print("%-42s %9.1f %9.1f %9.1f" % ("git log --numstat --branches", med["log"][0] * 1e3, med["log"][1] * 1e3, med["log"][2] / 1024))
ratio = med["stats"][1] / med["log"][1]
print("stats CPU / git log --numstat CPU: %.2f -> %s (target <= 2)" % (ratio, "PASS" if ratio <= 2 else "MISS"))
PY
rm -f "$samples"
