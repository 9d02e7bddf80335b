# fetchlib.sh — shared by tests/integration/test_fetch_*.sh (sourced, not a test itself).
# Starts bossdb-mock on a free port, gives each test a temp dir, and cleans up on exit.
set -euo pipefail

BUILD_DIR=${MTP_BUILD_DIR:?MTP_BUILD_DIR must be set}
SOURCE_DIR=${MTP_SOURCE_DIR:?MTP_SOURCE_DIR must be set}
PACK="$BUILD_DIR/mtneuro-pack"
MOCK="$BUILD_DIR/bossdb-mock"
DEMO="$SOURCE_DIR/configs/demo.yaml"
PY=/usr/bin/python3
HELPER="$SOURCE_DIR/tests/integration/fetch_helper.py"
TMP=$(mktemp -d)
MOCK_PID=""
MOCK_URL=""

cleanup() {
    if [ -n "$MOCK_PID" ]; then
        kill "$MOCK_PID" 2>/dev/null || true
        wait "$MOCK_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# start_mock LOG [mock options...]: sets MOCK_PID and MOCK_URL.
start_mock() {
    local log=$1
    shift
    local out="$TMP/mock.$$.$RANDOM.out"
    : >"$out" # exists before the mock starts, so the first read below cannot fail
    "$MOCK" --port 0 --log "$log" "$@" >"$out" 2>"$out.err" &
    MOCK_PID=$!
    for _ in $(seq 100); do
        MOCK_URL=$(sed -n '1s|^listening on \(http://127\.0\.0\.1:[0-9]*\).*|\1|p' "$out")
        [ -n "$MOCK_URL" ] && return 0
        kill -0 "$MOCK_PID" 2>/dev/null || fail "bossdb-mock exited: $(cat "$out.err")"
        sleep 0.1
    done
    fail "bossdb-mock did not announce its port"
}

stop_mock() {
    kill "$MOCK_PID" 2>/dev/null || true
    wait "$MOCK_PID" 2>/dev/null || true
    MOCK_PID=""
}

# count_blocks DIR: number of finished block files in a cache.
count_blocks() {
    { find "$1" -name '*.blk' -type f 2>/dev/null || true; } | wc -l
}

# assert_eq WHAT EXPECTED ACTUAL
assert_eq() {
    [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
}
