#!/usr/bin/env bash
# Benchmark: `git aiflow sync` merging two diverged notes histories of FLOWS flows through a local
# bare remote (a file path: no network, no daemon), beside git's own notes sync of the same shape.
#
#   benches/sync.sh [FLOWS...] [--runs N] [--changed PCT]   (defaults: 100 1000, 5 runs, 10 %)
#   benches/sync.sh 100 --runs 3                             (a quick run)
#   AIFLOW_BIN=path/to/git-aiflow benches/sync.sh 1000       (skip the build, use that binary)
#
# For each FLOWS it builds (once; cached in ${TMPDIR:-/tmp}/aiflow-bench-sync/<flows>-<pct>):
#   - the flow note template: one real flow made with `git aiflow new` in a scratch repository,
#     its note (`git notes --ref=aiflow show`) and its anchor's message;
#   - a seed repository, with `git fast-import`: FLOWS branches `aiflow/flow-NNNNN`, each tip an
#     empty anchor commit on `main` whose message is the template's (trailer `Aiflow-Flow: <slug>`),
#     and one notes commit per flow on refs/notes/aiflow (as `git aiflow new` writes them) holding
#     the template with slug, title, summary, base_commit, integration_branch and the times put in;
#   - `remote.git`, a bare repository the seed pushes its branches and notes to, and `local`, a
#     clone of it with the flow branches and refs/notes/aiflow fetched (`git aiflow init` run);
#   - then K = FLOWS * PCT / 100 flows changed on each side, one notes commit per flow (fast-import
#     again): the remote side (committer Grace Hopper) retitles flows K..2K-O-1 and rewrites the
#     spec summary of flows K-O..K-1, pushed to remote.git; the local side (Ada Lovelace) retitles
#     flows 0..K-1 and does not push. So O = K/5 flows changed on both sides, in different fields.
#   Both repositories are repacked (`git repack -adq`, `git pack-refs --all`), with gc.auto 0.
# Every timed run works on a fresh `cp -a` of `local` and `remote.git` (copied outside the
# timing, origin's URL pointed at the copy) and times, as Ada Lovelace:
#   - `git-aiflow sync --json` (the binary itself, as benches/approve.sh does; going through
#     `git aiflow` adds the git dispatcher, about a millisecond): ls-remote, fetch of the notes
#     and the FLOWS branches, three-way TOML merge, one push;
#   - `git-aiflow sync --json --notes-only` (the same without the branches: the same shape as (a));
#   - yardstick (a), git's own TOML-unaware notes sync, under `sh -c`:
#       git fetch origin +refs/notes/aiflow:refs/remote-notes/origin/aiflow &&
#       git notes --ref=aiflow merge -s ours refs/remote-notes/origin/aiflow &&
#       git push origin refs/notes/aiflow
#   - yardstick (b), the fetch and push alone (the pack-transfer floor): the same fetch, then
#       git push origin refs/notes/aiflow:refs/bench/floor
# After every run (outside the timing) it checks the result, so that a failure cannot be timed:
#   sync exits 0, its JSON says notes.action "merged", pushed, K-O flows `to-remote`, K-O
#   `from-remote`, O `merged`, no conflicts, every flow branch `up-to-date` (none with
#   --notes-only); the local and the remote's refs/notes/aiflow are the merge result, a commit
#   whose parents are both tips; the notes tree holds exactly FLOWS notes, one per anchor, each a
#   valid TOML flow with the title and summary it must have (both sides' changes, including both
#   fields of the flows changed on both sides); `git aiflow list --json` reads FLOWS flows and no
#   problems. (a) is checked the same way with git's `-s ours` result (the remote's summaries of
#   the flows changed on both sides are lost), (b) by the refs it must have moved.
# CPU (user+sys, and sys alone), wall and peak RSS are those of each process with its children, as
# wait4(2) reports them to a tiny launcher (built with cc; GNU time, at 10 ms resolution, without
# one). Figures are medians of N runs after one warm-up run; the 4 commands run in alternating
# order. PERF-BASELINE.md: judge on the CPU ratios on this loaded 2-core machine.
set -euo pipefail

sizes=()
runs=5
pct=10
while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=${2:?--runs needs a number}; shift 2 ;;
        --runs=*) runs=${1#--runs=}; shift ;;
        --changed) pct=${2:?--changed needs a percentage}; shift 2 ;;
        --changed=*) pct=${1#--changed=}; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *[!0-9]*|'') echo "usage: $0 [FLOWS...] [--runs N] [--changed PCT]" >&2; exit 2 ;;
        *) sizes+=("$1"); shift ;;
    esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(100 1000)
case $runs in ''|*[!0-9]*|0) echo "--runs must be a positive number" >&2; exit 2 ;; esac
case $pct in ''|*[!0-9]*|0) echo "--changed must be a percentage from 1 to 50" >&2; exit 2 ;; esac
[ "$pct" -le 50 ] || { echo "--changed must be a percentage from 1 to 50" >&2; exit 2; }
for size in "${sizes[@]}"; do
    if [ "$size" -lt 10 ] || [ "$size" -gt 99999 ]; then echo "FLOWS must be from 10 to 99999" >&2; exit 2; fi
done

. "$(dirname "$0")/setup.sh"
find_binary
"$bin" sync --help >/dev/null 2>&1 || { echo "$bin has no working 'sync' command" >&2; exit 1; }

# Hermetic git: no user or system config, a fixed identity (Ada, the local side; the remote side's
# notes commits are Grace's, written by fast-import) and date, and the binary's directory first on
# PATH so that `git aiflow` is this binary.
hermetic

base="${TMPDIR:-/tmp}/aiflow-bench-sync"
results="$base/results.$$.jsonl"
tool="$base/tool.$$.py"
mkdir -p "$base"
trap 'rm -rf "$results" "$tool" "$base/template.$$"' EXIT

# The generator and checker, one module: `seed`, `change` and `check` from the command line,
# check() imported by the harness.
read -r -d '' tool_py <<'PY' || true
import json, subprocess, sys, tomllib

T0 = 1767225600
ADA, GRACE = "Ada Lovelace <ada@example.com>", "Grace Hopper <grace@example.com>"
AT = {"base": "2026-01-01T00:00:00+00:00", "local": "2026-01-01T01:00:00+00:00",
      "remote": "2026-01-01T02:00:00+00:00"}
KEYS = ("slug", "title", "base_commit", "integration_branch", "created_at", "created_by",
        "updated_at", "updated_by")

def slug(i): return "flow-%05d" % i
def title(i): return "Flow %d of the sync benchmark" % i
def summary(i): return "Flow %d: a paragraph on the end state of the work, as a spec says it." % i
def local_title(i): return "Flow %d, retitled here" % i
def remote_title(i): return "Flow %d, retitled on the remote" % i
def remote_summary(i): return "Flow %d: the summary as revised on the remote." % i

def expected(i, k, o, state):
    """(title, summary) of flow i in a state: base, local, remote, merged (sync), ours (git -s ours)."""
    t, s = title(i), summary(i)
    if state in ("local", "merged", "ours") and i < k:
        t = local_title(i)
    if state in ("remote", "merged", "ours") and k <= i < 2 * k - o:
        t = remote_title(i)
    if state in ("remote", "merged") and k - o <= i < k:
        s = remote_summary(i)
    return t, s

def render(tpl, i, base_commit, t, s, at, who):
    """The template note with flow i's fields."""
    out, seen, table = [], dict.fromkeys(KEYS, 0), False
    values = {"slug": slug(i), "title": t, "base_commit": base_commit,
              "integration_branch": "aiflow/" + slug(i), "created_at": AT["base"],
              "created_by": ADA, "updated_at": at, "updated_by": who}
    for line in tpl.split("\n"):
        table = table or line.startswith("[")
        key = line.split(" = ", 1)[0]
        if not table and key in values:
            line = "%s = %s" % (key, json.dumps(values[key]))
            seen[key] += 1
        out.append(line)
    if any(v != 1 for v in seen.values()):
        sys.exit("the template note does not have each of %s once: %r" % (", ".join(KEYS), seen))
    text = "\n".join(out).replace("TEMPLATE-TITLE", title(i)).replace("TEMPLATE-SUMMARY", s)
    if "TEMPLATE-" in text or "tmpl-flow" in text:
        sys.exit("the template note has fields this generator does not know:\n" + text)
    return text

def data(s):
    b = s.encode()
    return b"data %d\n%s\n" % (len(b), b)

def seed(n, base_commit, note_file, msg_file):
    tpl, msg = open(note_file).read(), open(msg_file).read()
    out = sys.stdout.buffer
    for i in range(n):
        m = msg.replace("tmpl-flow", slug(i)).replace("TEMPLATE-TITLE", title(i)).replace(
            "TEMPLATE-SUMMARY", summary(i))
        out.write(b"commit refs/heads/aiflow/%s\nmark :%d\nauthor %s %d +0000\ncommitter %s %d +0000\n"
                  % (slug(i).encode(), i + 1, ADA.encode(), T0, ADA.encode(), T0))
        out.write(data(m) + b"from %s\n\n" % base_commit.encode())
    for i in range(n):
        out.write(b"commit refs/notes/aiflow\ncommitter %s %d +0000\n" % (ADA.encode(), T0 + i))
        out.write(data("aiflow: new flow %s" % slug(i)))
        out.write(b"N inline :%d\n" % (i + 1) + data(render(tpl, i, base_commit, title(i), summary(i), AT["base"], ADA)))
        out.write(b"\n")
    out.write(b"done\n")

def change(side, n, k, o, notes_tip, anchors_file, base_commit, note_file):
    tpl = open(note_file).read()
    anchors = {}
    for line in open(anchors_file):
        sha, ref = line.split()
        anchors[ref.rsplit("/", 1)[1]] = sha
    idx = range(0, k) if side == "local" else range(k - o, 2 * k - o)
    who, t = (ADA, T0 + 3600) if side == "local" else (GRACE, T0 + 7200)
    out = sys.stdout.buffer
    for j, i in enumerate(idx):
        ti, su = expected(i, k, o, side)
        out.write(b"commit refs/notes/aiflow\ncommitter %s %d +0000\n" % (who.encode(), t + j))
        out.write(data("aiflow: edit flow %s" % slug(i)))
        if j == 0:
            out.write(b"from %s\n" % notes_tip.encode())
        out.write(b"N inline %s\n" % anchors[slug(i)].encode() + data(render(tpl, i, base_commit, ti, su, AT[side], who)))
        out.write(b"\n")
    out.write(b"done\n")

def git(repo, *args, inp=None):
    p = subprocess.run(["git", "-C", repo, *args], input=inp, capture_output=True)
    if p.returncode != 0:
        raise RuntimeError("git %s: %s" % (" ".join(args), p.stderr.decode(errors="replace")))
    return p.stdout

def check(repo, rev, n, k, o, state):
    """Errors (a list) in the notes of commit `rev` of repo against `state`, and the number of
    flows changed on both sides whose remote summary survived."""
    errs = []
    paths = git(repo, "ls-tree", "-r", "--format=%(objecttype) %(objectname) %(path)", rev).decode().split("\n")
    notes = {}
    for line in filter(None, paths):
        kind, blob, path = line.split(" ", 2)
        notes[path.replace("/", "")] = blob
        if kind != "blob" or len(path.replace("/", "")) != 40:
            errs.append("a notes tree entry that is not a note: %s" % line)
    if len(notes) != n:
        errs.append("%d notes, not %d" % (len(notes), n))
    refs = git(repo, "for-each-ref", "--format=%(objectname) %(refname:strip=3)", "refs/heads/aiflow/").decode().split()
    anchor = dict(zip(refs[1::2], refs[0::2]))
    blobs = list(notes.values())
    raw = git(repo, "cat-file", "--batch", inp="".join(b + "\n" for b in blobs).encode())
    docs, pos = {}, 0
    for obj, blob in zip(notes, blobs):
        head_end = raw.index(b"\n", pos)
        size = int(raw[pos:head_end].split()[2])
        body = raw[head_end + 1:head_end + 1 + size]
        pos = head_end + 1 + size + 1
        try:
            doc = tomllib.loads(body.decode())
        except Exception as e:
            errs.append("the note of %s is not one TOML document: %s" % (obj, e))
            continue
        docs[doc.get("slug")] = (obj, doc)
    kept = 0
    for i in range(n):
        s = slug(i)
        if s not in docs:
            errs.append("no note for flow %s" % s)
            continue
        obj, doc = docs[s]
        if anchor.get(s) != obj:
            errs.append("the note of %s is on %s, not on its anchor %s" % (s, obj, anchor.get(s)))
        t, su = expected(i, k, o, state)
        got_s = doc.get("spec", {}).get("summary", "")
        if doc.get("title") != t:
            errs.append("%s has title %r, not %r" % (s, doc.get("title"), t))
        if su not in got_s:
            errs.append("%s has summary %r, which lacks %r" % (s, got_s, su))
        if doc.get("integration_branch") != "aiflow/" + s or doc.get("kind") != "flow":
            errs.append("%s: integration_branch %r, kind %r" % (s, doc.get("integration_branch"), doc.get("kind")))
        if k - o <= i < k and remote_summary(i) in got_s:
            kept += 1
    return errs[:20] + (["... %d more" % (len(errs) - 20)] if len(errs) > 20 else []), kept

if __name__ == "__main__":
    mode, a = sys.argv[1], sys.argv[2:]
    if mode == "seed":
        seed(int(a[0]), a[1], a[2], a[3])
    elif mode == "change":
        change(a[0], int(a[1]), int(a[2]), int(a[3]), a[4], a[5], a[6], a[7])
    elif mode == "check":
        errs, kept = check(a[0], a[1], int(a[2]), int(a[3]), int(a[4]), a[5])
        if errs:
            sys.exit("FAILED: notes of %s in %s against %s:\n  %s" % (a[1], a[0], a[5], "\n  ".join(errs)))
PY
printf '%s\n' "$tool_py" > "$tool"

# The template: one real flow, made by this binary.
tdir="$base/template.$$"
rm -rf "$tdir"
git init -q -b main "$tdir/repo"
git -C "$tdir/repo" commit -q --allow-empty -m 'Initial commit'
(
    cd "$tdir/repo"
    git aiflow init >/dev/null
    git aiflow new tmpl-flow -m 'TEMPLATE-TITLE

TEMPLATE-SUMMARY' >/dev/null 2>&1
) || { echo "git aiflow new failed in $tdir/repo" >&2; exit 1; }
git -C "$tdir/repo" notes --ref=aiflow show aiflow/tmpl-flow > "$tdir/note"
git -C "$tdir/repo" log -1 --format=%B aiflow/tmpl-flow > "$tdir/msg"
grep -q '^Aiflow-Flow: tmpl-flow$' "$tdir/msg" || { echo "the anchor has no Aiflow-Flow trailer:" >&2; cat "$tdir/msg" >&2; exit 1; }
gen_id=$(cat "$tool" "$tdir/note" "$tdir/msg" | sha1sum | cut -c1-12)

# prepare FLOWS: make $base/FLOWS-PCT/{local,remote.git,meta} unless a complete one from this
# generator and template exists.
prepare() {
    local n=$1 k=$2 o=$3 dir=$4
    if [ "$(cat "$dir/complete" 2>/dev/null)" = "$gen_id" ] && [ -f "$dir/meta" ]; then
        return
    fi
    echo "generating $n flows, $k changed on each side ($o on both), in $dir ..." >&2
    local start=$SECONDS
    rm -rf "$dir" "$dir.tmp"
    mkdir -p "$dir.tmp"
    local seed="$dir.tmp/seed" remote="$dir.tmp/remote.git" local_="$dir.tmp/local"
    git init -q -b main "$seed"
    printf '# Bench\n\nA repository for benches/sync.sh.\n' > "$seed/README.md"
    git -C "$seed" add README.md
    git -C "$seed" commit -q -m 'Initial commit'
    local base_commit
    base_commit=$(git -C "$seed" rev-parse HEAD)
    python3 "$tool" seed "$n" "$base_commit" "$tdir/note" "$tdir/msg" | git -C "$seed" fast-import --quiet --done
    git init -q --bare -b main "$remote"
    git -C "$seed" push -q "$remote" 'refs/heads/*:refs/heads/*' refs/notes/aiflow:refs/notes/aiflow
    git clone -q "$remote" "$local_"
    git -C "$local_" fetch -q origin '+refs/heads/aiflow/*:refs/heads/aiflow/*' refs/notes/aiflow:refs/notes/aiflow
    (cd "$local_" && git aiflow init >/dev/null)
    # The remote side's changes, pushed; then the local side's, not pushed.
    git -C "$seed" for-each-ref --format='%(objectname) %(refname)' refs/heads/aiflow/ > "$dir.tmp/anchors"
    [ "$(wc -l < "$dir.tmp/anchors")" = "$n" ] || { echo "the seed has not $n flow branches" >&2; exit 1; }
    python3 "$tool" change remote "$n" "$k" "$o" "$(git -C "$seed" rev-parse refs/notes/aiflow)" \
        "$dir.tmp/anchors" "$base_commit" "$tdir/note" | git -C "$seed" fast-import --quiet --done
    git -C "$seed" push -q "$remote" refs/notes/aiflow
    python3 "$tool" change local "$n" "$k" "$o" "$(git -C "$local_" rev-parse refs/notes/aiflow)" \
        "$dir.tmp/anchors" "$base_commit" "$tdir/note" | git -C "$local_" fast-import --quiet --done
    local r
    for r in "$local_" "$remote"; do
        git -C "$r" config gc.auto 0
        git -C "$r" config maintenance.auto false
        git -C "$r" repack -adq
        git -C "$r" prune-packed
        git -C "$r" pack-refs --all
    done
    rm -rf "$seed"
    # The two sides: diverged, each with its changes, and readable by git-aiflow.
    local lt rt
    lt=$(git -C "$local_" rev-parse refs/notes/aiflow)
    rt=$(git -C "$remote" rev-parse refs/notes/aiflow)
    if git -C "$local_" cat-file -e "$rt" 2>/dev/null || git -C "$remote" cat-file -e "$lt" 2>/dev/null; then
        echo "the local and the remote notes have not diverged" >&2; exit 1
    fi
    python3 "$tool" check "$local_" "$lt" "$n" "$k" "$o" local
    python3 "$tool" check "$remote" "$rt" "$n" "$k" "$o" remote
    git -C "$local_" aiflow list --json > "$dir.tmp/list.json"
    python3 - "$dir.tmp/list.json" "$n" <<'PY' || { echo "git aiflow list does not accept the generated repository" >&2; exit 1; }
import json, sys
ls = json.load(open(sys.argv[1]))
if ls.get("problems") or len(ls.get("flows", [])) != int(sys.argv[2]):
    sys.exit("list --json: %d flows, problems %s" % (len(ls.get("flows", [])), json.dumps(ls.get("problems"))[:2000]))
PY
    echo "$lt $rt $base_commit" > "$dir.tmp/meta"
    echo "$gen_id" > "$dir.tmp/complete"
    mv "$dir.tmp" "$dir"
    echo "  local $(du -sh "$dir/local/.git" | cut -f1), remote $(du -sh "$dir/remote.git" | cut -f1), $((SECONDS - start)) s" >&2
}

# Per-process CPU and peak RSS, as in benches/approve.sh: a tiny launcher reports its child's
# wait4(2) figures as "wall user sys maxrss_kib" (C when a compiler is around, else GNU time, else
# Python).
# shellcheck source=benches/runstat.sh
. "$(dirname "$0")/runstat.sh"

# The measuring harness: argv = flows k o runs bin dir results launcher tool.
read -r -d '' harness <<'PY' || true
import importlib.util, json, os, shutil, statistics, subprocess, sys, tempfile, time

n, k, o, runs = (int(x) for x in sys.argv[1:5])
bin, d, results, launcher, toolpath = sys.argv[5:10]
spec = importlib.util.spec_from_file_location("synctool", toolpath)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)
local0, remote0, _ = open(d + "/meta").read().split()
env = dict(os.environ)
FETCH = 'git -C "$1" fetch -q origin +refs/notes/aiflow:refs/remote-notes/origin/aiflow'

def run(cmd, out=subprocess.DEVNULL):
    """Run cmd; return (wall s, cpu s, peak RSS KiB, status, stderr, sys s) for it and its children."""
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

def out_of(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    return p.returncode, p.stdout, p.stderr

def rev(repo, ref):
    rc, o_, _ = out_of(["git", "-C", repo, "rev-parse", "-q", "--verify", ref])
    return o_.strip() if rc == 0 else None

def parents(repo, commit):
    return out_of(["git", "-C", repo, "rev-list", "--parents", "-n1", commit])[1].split()[1:]

def fresh(work):
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    subprocess.run(["cp", "-a", d + "/local", d + "/remote.git", work], check=True)
    subprocess.run(["git", "-C", work + "/local", "config", "remote.origin.url", work + "/remote.git"], check=True)

def verify(key, work, text):
    """The result of run `key` in work: fail loudly when it is not what it must be; return the
    number of flows changed on both sides that kept the remote's summary."""
    loc, rem = work + "/local", work + "/remote.git"
    errs, kept = [], None
    lt, rt = rev(loc, "refs/notes/aiflow"), rev(rem, "refs/notes/aiflow")
    if key in ("sync", "notes"):
        try:
            j = json.loads(text)
        except ValueError as e:
            sys.exit("FAILED: git-aiflow sync --json printed no JSON (%s):\n%s" % (e, text[-3000:]))
        nt = j.get("notes", {})
        if nt.get("action") != "merged":
            errs.append("notes.action is %r, not 'merged'" % nt.get("action"))
        if nt.get("pushed") is not True:
            errs.append("notes.pushed is %r" % nt.get("pushed"))
        if (nt.get("local_before"), nt.get("remote_before")) != (local0, remote0):
            errs.append("notes tips before: %s %s, not %s %s" % (nt.get("local_before"), nt.get("remote_before"), local0, remote0))
        if not (nt.get("result") == nt.get("local_after") == lt == rt):
            errs.append("result %s, local_after %s; local refs/notes/aiflow %s, remote's %s"
                        % (nt.get("result"), nt.get("local_after"), lt, rt))
        changes = {}
        for f in j.get("flows", []):
            changes[f["change"]] = changes.get(f["change"], 0) + 1
        want = {"to-remote": k - o, "from-remote": k - o, "merged": o}
        if changes != want:
            errs.append("flows changed %r, not %r" % (changes, want))
        if j.get("conflicts"):
            errs.append("%d conflicts, e.g. %s" % (len(j["conflicts"]), json.dumps(j["conflicts"][0])[:500]))
        branches = {}
        for b in j.get("branches", []):
            branches[b["action"]] = branches.get(b["action"], 0) + 1
        if branches != ({"up-to-date": n} if key == "sync" else {}):
            errs.append("branches %r" % branches)
        rc, o_, e = out_of([bin, "-C", loc, "list", "--json"])
        ls = json.loads(o_) if rc == 0 else {}
        if rc != 0 or ls.get("problems") or len(ls.get("flows", [])) != n:
            errs.append("git aiflow list --json (exit %d): %d flows, problems %s %s"
                        % (rc, len(ls.get("flows", [])), json.dumps(ls.get("problems"))[:1000], e[-1000:]))
        state = "merged"
    elif key == "git":
        if lt != rt:
            errs.append("local refs/notes/aiflow %s, the remote's %s" % (lt, rt))
        state = "ours"
    else:
        if rev(rem, "refs/bench/floor") != local0 or rev(loc, "refs/remote-notes/origin/aiflow") != remote0:
            errs.append("refs/bench/floor on the remote %s (want %s), refs/remote-notes/origin/aiflow %s (want %s)"
                        % (rev(rem, "refs/bench/floor"), local0, rev(loc, "refs/remote-notes/origin/aiflow"), remote0))
        state = None
    if state:
        if lt and parents(loc, lt) != [local0, remote0]:
            errs.append("the merge %s has parents %s, not [ours, theirs]" % (lt, parents(loc, lt)))
        found, kept = tool.check(loc, lt or "refs/notes/aiflow", n, k, o, state)
        errs += found
    if errs:
        sys.exit("FAILED: %s, %d flows, in %s:\n  %s" % (LABEL[key], n, work, "\n  ".join(errs)))
    return kept

LABEL = {"sync": "git-aiflow sync --json",
         "notes": "git-aiflow sync --json --notes-only",
         "git": "(a) git fetch + notes merge -s ours + push",
         "floor": "(b) git fetch + push (floor)"}

def command(key, loc):
    if key == "sync":
        return [bin, "-C", loc, "sync", "--json"]
    if key == "notes":
        return [bin, "-C", loc, "sync", "--json", "--notes-only"]
    if key == "git":
        return ["sh", "-c", FETCH + ' && git -C "$1" notes --ref=aiflow merge -q -s ours refs/remote-notes/origin/aiflow'
                ' && git -C "$1" push -q origin refs/notes/aiflow', "sh", loc]
    return ["sh", "-c", FETCH + ' && git -C "$1" push -q origin refs/notes/aiflow:refs/bench/floor', "sh", loc]

# Each round gets copies of its own, all removed only after the last round (freeing inodes just
# before a run slows ext4 down, see benches/approve.sh).
for old in os.listdir(d):
    if old.startswith("run-"):
        shutil.rmtree(os.path.join(d, old))
keys = ["sync", "notes", "git", "floor"]
samples = {key: [] for key in keys}
shown, ours_kept = None, None
for r in range(-1, runs):
    works = {key: "%s/run-%s-%d" % (d, key, r + 1) for key in keys}
    for key in keys:
        fresh(works[key])
    for key in (keys if r % 2 else keys[::-1]):
        cmd = command(key, works[key] + "/local")
        with tempfile.TemporaryFile() as out:
            wall, cpu, rss, status, err, sys_s = run(cmd, out=out)
            out.seek(0)
            text = out.read().decode(errors="replace")
        if status != 0:
            sys.exit("FAILED (exit %d): %s\n  %s\n%s%s" % (status, LABEL[key], " ".join(cmd), text[-3000:], err[-3000:]))
        kept = verify(key, works[key], text)
        if key == "git":
            ours_kept = kept
        if key == "sync" and shown is None:
            j = json.loads(text)
            shown = (j["notes"]["action"], j["attempts"], len(j["flows"]), len(j["branches"]), len(j["conflicts"]),
                     err.strip().splitlines())
        if r >= 0:
            samples[key].append((cpu, wall, rss, sys_s))

kd = k - o
print("\n== %d flows; changed: %d here, %d on the remote, %d of them on both sides (title here, summary there)"
      % (n, k, k, o))
if launcher == "python":
    print("   (no C compiler or GNU time: peak RSS includes ~15 MiB inherited from Python)")
elif launcher == "/usr/bin/time":
    print("   (no C compiler: GNU time measures CPU and wall to 10 ms only)")
print("   git-aiflow sync --json: notes.action %s, %d attempt(s), %d flows reported, %d branches, %d conflicts"
      % shown[:5])
for line in shown[5][-5:]:
    print("   | (stderr) " + line)
print("   verified after each run: exit 0, merged and pushed (local = remote = a merge of both tips),")
print("   %d notes on their anchors, %d+%d+%d flows to-remote/from-remote/merged with both sides' titles"
      % (n, kd, kd, o))
print("   and summaries, no conflicts, `git aiflow list` reads %d flows; (a) and (b) checked likewise" % n)
print("   (a) git notes merge -s ours kept the remote's summary in %d of the %d flows changed on both sides"
      % (ours_kept, o))

med = {key: tuple(statistics.median(s[i] for s in v) for i in range(4)) for key, v in samples.items()}
print("\n%-56s %9s %9s %9s %8s" % ("%d flows, median of %d runs" % (n, runs), "wall ms", "CPU ms", "of it sys", "RSS MiB"))
for key in keys:
    cpu, wall, rss, sys_s = med[key]
    print("%-56s %9.1f %9.1f %9.1f %8.1f" % (LABEL[key], wall * 1e3, cpu * 1e3, sys_s * 1e3, rss / 1024))
print("%-56s %9s %9s" % ("ratios", "wall", "CPU"))
for a, b, label in [("sync", "git", "sync ÷ (a)"), ("sync", "floor", "sync ÷ (b)"),
                    ("notes", "git", "sync --notes-only ÷ (a)"), ("notes", "floor", "sync --notes-only ÷ (b)"),
                    ("git", "floor", "(a) ÷ (b)")]:
    print("%-56s %9.2f %9.2f" % (label, med[a][1] / med[b][1], med[a][0] / med[b][0]))

with open(results, "a") as f:
    f.write(json.dumps({"flows": n, "k": k, "o": o, "runs": runs, "median": med}) + "\n")
PY

# The summary table over the sizes run.
read -r -d '' summary <<'PY' || true
import json, sys
rows = sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda r: r["flows"])
print("\nSummary: medians, wall ms (CPU ms); ratios to the yardsticks as wall / CPU")
print("%6s %5s %15s %15s %15s %15s %13s %13s %13s" % ("flows", "K", "sync", "sync notes-only",
      "(a) git merge", "(b) fetch+push", "sync÷(a)", "sync÷(b)", "n-only÷(a)"))
for r in rows:
    m = r["median"]
    f = lambda key: "%.1f (%.1f)" % (m[key][1] * 1e3, m[key][0] * 1e3)
    q = lambda a, b: "%.2f / %.2f" % (m[a][1] / m[b][1], m[a][0] / m[b][0])
    print("%6d %5d %15s %15s %15s %15s %13s %13s %13s" % (r["flows"], r["k"], f("sync"), f("notes"), f("git"),
          f("floor"), q("sync", "git"), q("sync", "floor"), q("notes", "git")))
PY

for size in "${sizes[@]}"; do
    k=$((size * pct / 100))
    [ "$k" -ge 1 ] || k=1
    o=$((k / 5))
    [ "$o" -ge 1 ] || o=1
    dir="$base/$size-$pct"
    prepare "$size" "$k" "$o" "$dir"
    python3 -u -c "$harness" "$size" "$k" "$o" "$runs" "$bin" "$dir" "$results" "$launcher" "$tool"
    rm -rf "$dir"/run-*
done
python3 -c "$summary" "$results"
