#!/usr/bin/env bash
# SIGKILL in the middle of a fetch loses only the blocks in flight: the next run requests
# exactly the blocks that are not in the cache, and then the cache is complete.
source "$(dirname "$0")/fetchlib.sh"

LOG="$TMP/mock.log"
CACHE="$TMP/cache"
start_mock "$LOG" --delay-ms 200

"$PACK" fetch "$DEMO" --cache "$CACHE" --source-url "$MOCK_URL" --quiet &
pid=$!
# Kill it once some blocks are stored (the metadata alone takes 9 x 200 ms).
for _ in $(seq 400); do
    [ "$(count_blocks "$CACHE")" -ge 12 ] && break
    sleep 0.05
done
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
sleep 1 # let the mock finish (and log) the requests that were in flight

cached=$(count_blocks "$CACHE")
echo "cached before the rerun: $cached of 231"
[ "$cached" -gt 0 ] && [ "$cached" -lt 231 ] || fail "expected a partial cache, got $cached"
$PY "$HELPER" cache-boxes "$CACHE" >"$TMP/cached.before"
before=$($PY "$HELPER" lines "$LOG")

"$PACK" fetch "$DEMO" --cache "$CACHE" --source-url "$MOCK_URL" --jobs 16 >"$TMP/out" 2>"$TMP/err" ||
    fail "rerun exited $?: $(cat "$TMP/err")"
cat "$TMP/out"
missing=$((231 - cached))
assert_eq "cutout requests of the rerun" "$missing" "$($PY "$HELPER" cutouts "$LOG" "$before")"
assert_eq "distinct cutout requests of the rerun" "$missing" \
    "$($PY "$HELPER" distinct "$LOG" "$before")"
# None of them was already cached.
$PY "$HELPER" log-boxes "$LOG" "$before" >"$TMP/refetched"
assert_eq "refetched blocks that were cached" "" \
    "$(comm -12 "$TMP/cached.before" "$TMP/refetched")"
grep -qE "^fetched $missing blocks \\($cached cached\\)" "$TMP/out" || fail "summary: $(cat "$TMP/out")"
assert_eq "blocks in the cache" 231 "$(count_blocks "$CACHE")"
echo "ok"
