#!/usr/bin/env bash
# A cache block damaged after the fetch stage is caught while the build reads its region
# (the blocks are read in parallel there): the build names it, fetches exactly that block
# again and finishes with the same release as a build from an intact cache.
source "$(dirname "$0")/fetchlib.sh"

LOG="$TMP/mock.log"
CACHE="$TMP/cache"
start_mock "$LOG"
"$PACK" fetch "$DEMO" --cache "$CACHE" --source-url "$MOCK_URL" --quiet ||
    fail "fetch failed"

victim=$(find "$CACHE" -name '*.blk' | sort | sed -n 100p)
$PY "$HELPER" flip-byte "$victim" -10
before=$($PY "$HELPER" lines "$LOG")
"$PACK" build "$DEMO" --cache "$CACHE" --source-url "$MOCK_URL" --out "$TMP/a" \
    >"$TMP/out" 2>"$TMP/err" || fail "build exited $?: $(cat "$TMP/err")"
assert_eq "cutout requests during the build" 1 "$($PY "$HELPER" cutouts "$LOG" "$before")"
grep -qF "cache: $victim: " "$TMP/err" || fail "no note naming $victim: $(cat "$TMP/err")"
grep -qF "fetched 1 blocks (230 cached), 1 requests" "$TMP/out" ||
    fail "summary: $(cat "$TMP/out")"
$PY "$HELPER" check-data "$CACHE" "$MOCK_URL" 3 >/dev/null || fail "cache data after refetch"

# The same release as from the intact cache (now warm: no cutout at all).
before=$($PY "$HELPER" lines "$LOG")
"$PACK" build "$DEMO" --cache "$CACHE" --source-url "$MOCK_URL" --out "$TMP/b" --quiet ||
    fail "second build failed"
assert_eq "cutout requests of the warm build" 0 "$($PY "$HELPER" cutouts "$LOG" "$before")"
diff "$TMP/a/mtneuro-demo-1.0.0/SHA256SUMS" "$TMP/b/mtneuro-demo-1.0.0/SHA256SUMS" ||
    fail "the two releases differ"
"$PACK" verify "$TMP/a/mtneuro-demo-1.0.0" >/dev/null || fail "verify failed"
echo "ok"
