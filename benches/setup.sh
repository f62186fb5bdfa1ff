# Sourced by the benchmark scripts: the binary under test, and a hermetic git.

root=$(cd "$(dirname "$0")/.." && pwd)

# find_binary: $AIFLOW_BIN if set (no build), else a release build of this checkout (in
# $CARGO_TARGET_DIR when set, as cargo does); sets `bin`.
find_binary() {
    if [ -n "${AIFLOW_BIN:-}" ]; then
        bin=$(cd "$(dirname "$AIFLOW_BIN")" && pwd)/$(basename "$AIFLOW_BIN")
    else
        cargo build --release --locked --quiet --manifest-path "$root/Cargo.toml"
        bin="${CARGO_TARGET_DIR:-$root/target}/release/git-aiflow"
    fi
    [ -x "$bin" ] || { echo "no binary at $bin" >&2; exit 1; }
}

# hermetic: no user or system config, a fixed identity (Ada) and date, UTC and the C locale, and
# the binary's directory first on PATH so that `git aiflow` and the hook shims run it.
hermetic() {
    export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 TZ=UTC LC_ALL=C
    export GIT_AUTHOR_NAME='Ada Lovelace' GIT_AUTHOR_EMAIL=ada@example.com
    export GIT_COMMITTER_NAME='Ada Lovelace' GIT_COMMITTER_EMAIL=ada@example.com
    export GIT_AUTHOR_DATE='1767225600 +0000' GIT_COMMITTER_DATE='1767225600 +0000'
    PATH="$(dirname "$bin"):$PATH"
    export PATH
    unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY GIT_CONFIG_COUNT AIFLOW_TEMPLATE
}
