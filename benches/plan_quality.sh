#!/usr/bin/env bash
# benches/plan_quality.sh — how usable a real model's questions and plans are, spec by spec.
#
# For each case (a spec in fixtures/specs/ and a seed repository in fixtures/seeds/ that the spec
# extends), it makes a fresh repository from the seed, starts a flow from the spec, asks the model
# for clarifying questions, answers every one with the same neutral answer, asks for the plan, and
# reports, from the flow's note as git stores it:
#   questions: how many, how many distinct (case, punctuation and spacing ignored), placeholders
#              (`…`, `...`, `TODO`, `<…>`) in a question, its why or a choice, questions whose
#              choices repeat;
#   plan:      subtasks, distinct titles, phases, subtasks with a test (a `test` command or a test
#              file among its paths), paths that exist in the seed, paths that are new and plausible
#              (their directory or its parent exists), paths that name an existing file in another
#              directory (`src/app/db.py` for `app/db.py`), other invented paths, placeholder paths,
#              titles copied from the old prompt's example;
#   warnings:  what git-aiflow's own lint recorded with the questions and the plan (when the build
#              has lint: `warnings` in the note);
#   time:      each call's duration as recorded in the provenance.
#
# Usage:
#   AIFLOW_BIN=target/release/git-aiflow bash benches/plan_quality.sh [--json] [--keep] [case...]
# --keep leaves the repositories (and each call's output) in the temporary directory it names.
# Cases: url-shortener (Python, Flask) and log-tail (Go); default: both.
# The model: $AIFLOW_TEST_LLM_URL (an OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1);
# when unset, the script starts tests/local-model.sh --serve-only (Qwen2.5-Coder-0.5B on llama.cpp,
# THREADS threads, default 2) and stops it on exit. Offline: nothing but 127.0.0.1 is reached.
# Extra settings for every run: PLAN_QUALITY_ARGS (passed to `plan`, e.g. "--context-budget 0").
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${AIFLOW_BIN:-$root/target/debug/git-aiflow}
[ -x "$bin" ] || { echo "plan_quality: no binary at $bin (set AIFLOW_BIN)" >&2; exit 2; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
json=false
keep=false
cases=()
for a in "$@"; do
    case $a in
        --json) json=true ;;
        --keep) keep=true ;;
        url-shortener | log-tail) cases+=("$a") ;;
        *) echo "plan_quality: unknown argument $a" >&2; exit 2 ;;
    esac
done
[ ${#cases[@]} -gt 0 ] || cases=(url-shortener log-tail)

work=$(mktemp -d)
server=
cleanup() {
    if [ -n "$server" ]; then kill -- -"$server" 2>/dev/null || kill "$server" 2>/dev/null || true; fi
    if $keep; then echo "plan_quality: repositories kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

url=${AIFLOW_TEST_LLM_URL:-}
if [ -z "$url" ]; then
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    set -m
    PORT=$port bash "$root/tests/local-model.sh" --serve-only > "$work/server.out" 2>&1 &
    server=$!
    set +m
    for _ in $(seq 1 600); do
        curl -sf "http://127.0.0.1:$port/health" > /dev/null 2>&1 && break
        kill -0 "$server" 2>/dev/null || { cat "$work/server.out" >&2; exit 1; }
        sleep 0.5
    done
    url=http://127.0.0.1:$port/v1
fi

seed_of() {
    case $1 in
        url-shortener) echo shortener-py ;;
        log-tail) echo logtail-go ;;
    esac
}

export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=Dev GIT_AUTHOR_EMAIL=dev@example.com
export GIT_COMMITTER_NAME=Dev GIT_COMMITTER_EMAIL=dev@example.com
answer="No preference; choose the simplest option that fits the spec."

for c in "${cases[@]}"; do
    repo=$work/$c
    mkdir -p "$repo"
    cp -r "$root/fixtures/seeds/$(seed_of "$c")/." "$repo/"
    (
        cd "$repo"
        git init -q -b main
        git add -A
        git commit -qm "seed"
        git config aiflow.provider openai
        git config aiflow.model local
        git config aiflow.baseUrl "$url"
        git config aiflow.maxTokens 1536
        "$bin" new "$c" -F "$root/fixtures/specs/$c.md" > /dev/null
        # shellcheck disable=SC2086
        if "$bin" plan "$c" ${PLAN_QUALITY_ARGS:-} > "$work/$c.questions.out" 2>&1; then
            n=$(git notes --ref=aiflow show "$(git notes --ref=aiflow list | cut -d' ' -f2 | head -1)" |
                grep -c '^\[\[questions\]\]' || true)
            args=()
            for i in $(seq 1 "$n"); do args+=(--answer "$i=$answer"); done
            if [ "$n" -gt 0 ]; then "$bin" answer "$c" "${args[@]}" > /dev/null; else "$bin" answer "$c" --skip > /dev/null; fi
        else
            echo "questions failed" >> "$work/$c.failed"
            "$bin" answer "$c" --skip > /dev/null 2>&1 || true
        fi
        # shellcheck disable=SC2086
        "$bin" plan "$c" ${PLAN_QUALITY_ARGS:-} > "$work/$c.plan.out" 2>&1 || echo "plan failed: $(tail -3 "$work/$c.plan.out" | tr '\n' ' ')" >> "$work/$c.failed"
        git notes --ref=aiflow show "$(git notes --ref=aiflow list | cut -d' ' -f2 | head -1)" > "$work/$c.note.toml"
        git ls-files > "$work/$c.files"
        cp "$root/fixtures/specs/$c.md" "$work/$c.spec.md"
    )
done

python3 - "$work" "$json" "${cases[@]}" <<'PY'
import json, os, re, sys, tomllib

work, as_json, cases = sys.argv[1], sys.argv[2] == "true", sys.argv[3:]
PLACEHOLDER = re.compile(r"…|\.\.\.|\bTODO\b|<[^<>\s]{0,20}>")

def norm(s):
    return " ".join(re.sub(r"[^\w\s]", " ", (s or "").lower()).split())

def ms(p):
    return (p or {}).get("duration_ms")

report = []
for c in cases:
    note = tomllib.load(open(os.path.join(work, c + ".note.toml"), "rb"))
    files = set(open(os.path.join(work, c + ".files")).read().split())
    dirs = {os.path.dirname(f) for f in files} | {""}
    for f in list(dirs):
        while f:
            f = os.path.dirname(f)
            dirs.add(f)
    failed = open(os.path.join(work, c + ".failed")).read().strip() if os.path.exists(os.path.join(work, c + ".failed")) else ""
    spec_md = open(os.path.join(work, c + ".spec.md")).read()

    def placeholder(t):
        # `<code>` in `GET /<code>` is the spec's own, not a placeholder.
        return any(m.group(0) not in spec_md for m in PLACEHOLDER.finditer(t or ""))

    qs = note.get("questions", [])
    qtexts = [norm(q.get("question")) for q in qs]
    q = {
        "count": len(qs),
        "distinct": len(set(qtexts)),
        "placeholders": sum(1 for x in qs if any(placeholder(t) for t in [x.get("question"), x.get("why")] + list(x.get("choices", [])))),
        "repeated_choices": sum(1 for x in qs if len({norm(ch) for ch in x.get("choices", [])}) < len(x.get("choices", []))),
        "warnings": len(note.get("questions_asked", {}).get("warnings", [])),
        "ms": ms(note.get("questions_asked")),
    }
    plans = note.get("plans", [])
    plan = plans[-1] if plans else {"subtasks": []}
    subs = [s for s in plan.get("subtasks", []) if not s.get("dropped")]
    paths = [p for s in subs for p in s.get("files", [])]
    exist = [p for p in paths if p in files]
    placeholder_paths = [p for p in paths if placeholder(p)]
    by_name = {}
    for f in files:
        by_name.setdefault(os.path.basename(f), []).append(f)
    misplaced = [p for p in paths if p not in files and os.path.basename(p) in by_name]
    new_ok = [p for p in paths if p not in files and p not in misplaced and not placeholder(p)
              and (os.path.dirname(p) in dirs or os.path.dirname(os.path.dirname(p)) in dirs)]
    invented = [p for p in paths if p not in files and p not in new_ok and p not in placeholder_paths and p not in misplaced]
    testy = re.compile(r"(^|/)(tests?/|test_[^/]*$|[^/]*_test\.\w+$|[^/]*\.test\.\w+$)")
    phases = {}
    for s in subs:
        phases[s.get("phase")] = phases.get(s.get("phase"), 0) + 1
    p = {
        "subtasks": len(subs),
        "distinct_titles": len({norm(s.get("title")) for s in subs}),
        "phases": phases,
        "with_test": sum(1 for s in subs if (s.get("test") or "").strip() or any(testy.search(f) for f in s.get("files", []))),
        "paths": len(paths),
        "paths_existing": len(exist),
        "paths_new_plausible": len(new_ok),
        "paths_misplaced": misplaced,
        "paths_invented": invented,
        "paths_placeholder": placeholder_paths,
        "prompt_example_titles": sum(1 for s in subs if "token bucket" in norm(s.get("title"))),
        "warnings": [w.get("code", "?") + (":" + w["subtask"] if w.get("subtask") else "") for w in plan.get("warnings", [])],
        "ms": ms(plan),
    }
    report.append({"case": c, "failed": failed, "questions": q, "plan": p})

if as_json:
    print(json.dumps(report, indent=2))
    sys.exit(0)
for r in report:
    q, p = r["questions"], r["plan"]
    print(f"== {r['case']}" + (f"  ({r['failed']})" if r["failed"] else ""))
    print(f"questions: {q['count']} ({q['distinct']} distinct), placeholders in {q['placeholders']}, repeated choices in {q['repeated_choices']}, lint warnings {q['warnings']}, {q['ms']} ms")
    print(f"plan: {p['subtasks']} subtasks ({p['distinct_titles']} distinct titles), phases {p['phases']}, {p['with_test']} with a test, {p['ms']} ms")
    print(f"paths: {p['paths']}: {p['paths_existing']} existing, {p['paths_new_plausible']} new and plausible, an existing file's name elsewhere {p['paths_misplaced']}, invented {p['paths_invented']}, placeholders {p['paths_placeholder']}")
    print(f"prompt example copied into {p['prompt_example_titles']} titles; lint warnings: {p['warnings'] or 'none'}")
PY
