#!/usr/bin/env bash
# SIGKILL in the middle of a fetch loses only the requests in flight: the next run requests
# exactly the voxels of the blocks that are not in the cache, and then the cache is complete.
source "$(dirname "$0")/fetchlib.sh"

LOG="$TMP/mock.log"
CACHE="$TMP/cache"
start_mock "$LOG" --delay-ms 200

"$PACK" fetch "$DEMO" --cache "$CACHE" --source-url "$MOCK_URL" --quiet &
pid=$!
# Kill it once some blocks are stored (the metadata alone takes 2 rounds of 200 ms).
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
# The rerun asks for the missing blocks' voxels, each once (the blocks are grouped into
# requests, so requests and blocks differ in number), and for no voxel of a cached block.
cached_voxels=$($PY - "$TMP/cached.before" <<'PY'
import re, sys
total = 0
for line in open(sys.argv[1]):
    v = [int(g) for g in re.findall(r"\d+", line.split(" ", 1)[1])]
    total += (v[1] - v[0]) * (v[3] - v[2]) * (v[5] - v[4])
print(total)
PY
)
assert_eq "voxels requested by the rerun" "$((283115520 - cached_voxels))" \
    "$($PY "$HELPER" voxels "$LOG" "$before")"
assert_eq "distinct cutout requests of the rerun" "$($PY "$HELPER" cutouts "$LOG" "$before")" \
    "$($PY "$HELPER" distinct "$LOG" "$before")"
$PY "$HELPER" log-boxes "$LOG" "$before" >"$TMP/refetched"
$PY - "$TMP/cached.before" "$TMP/refetched" <<'PY' || fail "the rerun asked for cached voxels"
import re, sys
def boxes(path):
    out = []
    for line in open(path):
        chan, rest = line.split(" ", 1)
        out.append((chan, [int(g) for g in re.findall(r"\d+", rest)]))
    return out
for chan, v in boxes(sys.argv[2]):
    for other, w in boxes(sys.argv[1]):
        if chan == other and all(max(v[2 * a], w[2 * a]) < min(v[2 * a + 1], w[2 * a + 1])
                                 for a in range(3)):
            sys.exit(f"{chan} {v} overlaps the cached block {w}")
PY
grep -qE "^fetched $missing blocks \\($cached cached\\)" "$TMP/out" || fail "summary: $(cat "$TMP/out")"
assert_eq "blocks in the cache" 231 "$(count_blocks "$CACHE")"
echo "ok"
