#!/usr/bin/env bash
# The release directory is a transaction: a build takes a lock on its output, writes into a
# hidden staging directory and swaps it in whole.
#   - empty paths on the command line: exit 2 and one line;
#   - two builds into one --out at once: exactly one succeeds, the other exits 1 at once
#     with one line naming the winner's pid and the directory;
#   - SIGKILL at 12 instants of a rebuild (other settings) over an existing release: after
#     each kill the directory under the final name verifies and is the old or the new
#     release, byte for byte; the next build finishes the job and removes every leftover;
#   - SIGINT/SIGTERM while previews and digests run, and while the archive is written:
#     exit 1 with the interrupted message, the old release untouched, nothing left over.
source "$(dirname "$0")/fetchlib.sh"
NAME=mtneuro-demo-1.0.0
INTERRUPTED="mtneuro-pack: interrupted; nothing half-written was kept, and every fetched block stays cached for the next run"

# Two settings of a smaller release (z 110..206, three tasks): A as in the demo, B with
# another compression level and one task fewer.
make_config() {
    $PY - "$DEMO" "$1" "$2" <<'PY'
import sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
cfg["z"] = [110, 206]
cfg["splits"] = {"train": [110, 170], "val": [170, 190], "test": [190, 206]}
tasks = ("task1", "task2_2d_3class", "task2_3d_4class")
if sys.argv[3] == "B":
    tasks = tasks[:2]
    cfg["output"]["level"] = 1
cfg["tasks"] = {t: cfg["tasks"][t] for t in tasks}
yaml.safe_dump(cfg, open(sys.argv[2], "w"), sort_keys=False, width=100)
PY
}
A="$TMP/a.yaml"
B="$TMP/b.yaml"
make_config "$A" A
make_config "$B" B
CACHE="$TMP/cache"
start_mock "$TMP/mock.log"
# exec: run in the background, $! is the tool's own pid.
build() { exec "$PACK" build "$1" --cache "$CACHE" --source-url "$MOCK_URL" --quiet --out "$2" "${@:3}"; }
(build "$A" "$TMP/refA") || fail "reference build A"
t0=$(date +%s%N)
(build "$B" "$TMP/refB") || fail "reference build B"
build_ms=$((($(date +%s%N) - t0) / 1000000))
SUMS_A=$(sha256sum <"$TMP/refA/$NAME/SHA256SUMS")
SUMS_B=$(sha256sum <"$TMP/refB/$NAME/SHA256SUMS")
[ "$SUMS_A" != "$SUMS_B" ] || fail "settings A and B give the same release"
echo "reference builds done (B takes $build_ms ms)"

# --- empty paths ----------------------------------------------------------------------
expect_usage() {
    local want=$1
    shift
    set +e
    "$PACK" "$@" >"$TMP/out" 2>"$TMP/err"
    local status=$?
    set -e
    assert_eq "$* exit status" 2 "$status"
    assert_eq "$* message" "$want" "$(cat "$TMP/err")"
}
expect_usage "mtneuro-pack build: option --out: the value is empty" build "$A" --out ""
expect_usage "mtneuro-pack build: option --cache: the value is empty" build "$A" --cache " "
expect_usage "mtneuro-pack build: the CONFIG argument is empty" build ""
expect_usage "mtneuro-pack verify: the path argument is empty" verify ""
echo "empty paths: exit 2, one line each"

# --- two builds into one --out ----------------------------------------------------------
for round in 1 2 3; do
    out="$TMP/race$round"
    (build "$A" "$out") 2>"$TMP/err1" &
    p1=$!
    (build "$A" "$out") 2>"$TMP/err2" &
    p2=$!
    set +e
    wait $p1
    s1=$?
    wait $p2
    s2=$?
    set -e
    if [ $s1 -eq 0 ] && [ $s2 -eq 1 ]; then
        winner=$p1 loser_err="$TMP/err2"
    elif [ $s1 -eq 1 ] && [ $s2 -eq 0 ]; then
        winner=$p2 loser_err="$TMP/err1"
    else
        fail "race $round: exit statuses $s1 and $s2: $(cat "$TMP/err1" "$TMP/err2")"
    fi
    want="mtneuro-pack: $out/$NAME: another build (pid $winner) is writing this release; wait for it or use another --out"
    assert_eq "race $round: the loser's message" "$want" "$(cat "$loser_err")"
    diff -r "$TMP/refA/$NAME" "$out/$NAME" >/dev/null || fail "race $round: the winner's release differs"
    assert_eq "race $round: entries in --out" "$NAME" "$(ls -A "$out")"
done
echo "two builds at once, 3 rounds: one wins, the other names its pid and exits 1"

# --- SIGKILL during a rebuild with other settings ---------------------------------------
OUT="$TMP/killed"
mkdir -p "$OUT"
cp -a "$TMP/refA/$NAME" "$OUT/$NAME"
seen_old=0 seen_new=0
for k in $(seq 1 12); do
    delay_ms=$((build_ms * k / 12))
    (build "$B" "$OUT") 2>/dev/null &
    pid=$!
    sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    [ -d "$OUT/$NAME" ] || fail "kill $k (${delay_ms} ms): no release under the final name"
    "$PACK" verify "$OUT/$NAME" >"$TMP/verify" 2>&1 ||
        fail "kill $k (${delay_ms} ms): the release does not verify: $(head -5 "$TMP/verify")"
    sums=$(sha256sum <"$OUT/$NAME/SHA256SUMS")
    if [ "$sums" = "$SUMS_A" ]; then
        seen_old=$((seen_old + 1))
    elif [ "$sums" = "$SUMS_B" ]; then
        seen_new=$((seen_new + 1))
    else
        fail "kill $k: the release is neither the old nor the new one"
    fi
    # Once the new release is in, the next kills hit a rebuild of the same settings: put the
    # old one back, so that every kill interrupts a real change.
    if [ "$sums" = "$SUMS_B" ]; then
        rm -rf "${OUT:?}/$NAME"
        cp -a "$TMP/refA/$NAME" "$OUT/$NAME"
    fi
done
echo "12 kills: the old release $seen_old times, the new one $seen_new times, each verified"
(build "$B" "$OUT") || fail "the rerun after the kills failed"
diff -r "$TMP/refB/$NAME" "$OUT/$NAME" >/dev/null || fail "the rerun differs from a clean build"
assert_eq "entries in --out after the rerun" "$NAME" "$(ls -A "$OUT")"
echo "rerun: identical to a clean build, no leftovers"

# --- SIGINT / SIGTERM in the last phases -------------------------------------------------
# interrupt_when SIGNAL WHAT FIND-ARGS...: rebuild B over A (with --archive) and send SIGNAL
# as soon as `find $OUT FIND-ARGS` finds something.
interrupt_when() {
    local sig=$1 what=$2
    shift 2
    rm -rf "${OUT:?}"/* "$OUT"/.[!.]* 2>/dev/null || true
    cp -a "$TMP/refA/$NAME" "$OUT/$NAME"
    (build "$B" "$OUT" --archive) 2>"$TMP/err" &
    local pid=$! found=""
    for _ in $(seq 3000); do
        found=$(find "$OUT" "$@" 2>/dev/null | head -1)
        [ -n "$found" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.005
    done
    [ -n "$found" ] || fail "$what: never reached ($(cat "$TMP/err"))"
    kill "-$sig" "$pid"
    set +e
    wait "$pid"
    local status=$?
    set -e
    assert_eq "$what ($sig): exit status" 1 "$status"
    assert_eq "$what ($sig): message" "$INTERRUPTED" "$(cat "$TMP/err")"
    diff -r "$TMP/refA/$NAME" "$OUT/$NAME" >/dev/null || fail "$what: the old release changed"
    assert_eq "$what: entries in --out" "$NAME" "$(ls -A "$OUT")"
    echo "$what ($sig at $(basename "$found")): exit 1, old release untouched, nothing left over"
}
interrupt_when INT "previews and digests" -path '*staging*' -name '*.png'
interrupt_when TERM "previews and digests" -path '*staging*' -name '*.png'
interrupt_when INT "metadata" -path '*staging*' -name 'README.md'
interrupt_when INT "archive" -name "$NAME.tar.gz.tmp.*" -size +1k
interrupt_when TERM "archive" -name "$NAME.tar.gz.tmp.*" -size +1k
echo "ok"
