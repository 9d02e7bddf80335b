#!/usr/bin/env bash
# fetch configs/demo.yaml from bossdb-mock: plan and fetch agree request for request and
# block for block, every voxel is requested exactly once, the data equals the mock's voxels, and a second run
# makes no cutout request.
source "$(dirname "$0")/fetchlib.sh"

LOG="$TMP/mock.log"
CACHE="$TMP/cache"
start_mock "$LOG"

# plan: offline, the exact totals of the demo release (3 channels x 77 blocks, grouped
# into 7 requests per region and channel: one 256 x 256 slab of up to 64 slices each).
"$PACK" plan "$DEMO" >"$TMP/plan.out"
grep -q '^total: 231 blocks in 84 cutout requests, 283,115,520 voxels, <= 1604.3 MB$' \
    "$TMP/plan.out" || fail "plan totals: $(cat "$TMP/plan.out")"
grep -qE '^image +bossdb://prasad/prasad2020/image +77 +28 +94,371,840  94\.4 MB \(uint8\)$' \
    "$TMP/plan.out" || fail "plan image row: $(cat "$TMP/plan.out")"
"$PACK" plan "$DEMO" --verbose >"$TMP/plan.verbose"
grep -E '^[a-z_]+ x\[' "$TMP/plan.verbose" | sort >"$TMP/plan.requests"
grep -E '^  [a-z_]+ x\[' "$TMP/plan.verbose" | sed 's/^  //' | sort >"$TMP/plan.blocks"
assert_eq "plan --verbose request lines" 84 "$(wc -l <"$TMP/plan.requests")"
assert_eq "plan --verbose block lines" 231 "$(wc -l <"$TMP/plan.blocks")"

# Cold fetch.
"$PACK" fetch "$DEMO" --cache "$CACHE" --source-url "$MOCK_URL" >"$TMP/out1" 2>"$TMP/err1" ||
    fail "fetch exited $?: $(cat "$TMP/err1")"
cat "$TMP/out1"
grep -qE '^fetched 231 blocks \(0 cached\), 90 requests, 1604\.3 MB \([0-9.]+ MB transferred\) in [0-9.]+ s$' \
    "$TMP/out1" || fail "cold summary: $(cat "$TMP/out1")"
assert_eq "blocks in the cache" 231 "$(count_blocks "$CACHE")"
assert_eq "cutout requests" 84 "$($PY "$HELPER" cutouts "$LOG")"
assert_eq "distinct cutout requests" 84 "$($PY "$HELPER" distinct "$LOG")"
assert_eq "requests in the mock log" 90 "$($PY "$HELPER" lines "$LOG")"
assert_eq "voxels requested" 283115520 "$($PY "$HELPER" voxels "$LOG")"
# Exactly the requests plan listed, and the blocks it listed in the cache.
$PY "$HELPER" log-boxes "$LOG" >"$TMP/log.requests"
diff "$TMP/plan.requests" "$TMP/log.requests" >/dev/null || fail "requests differ from plan"
$PY "$HELPER" cache-boxes "$CACHE" >"$TMP/cache.blocks"
diff "$TMP/plan.blocks" "$TMP/cache.blocks" >/dev/null || fail "cached blocks differ from plan"
# Every request carried the headers the protocol asks for.
$PY - "$LOG" <<'PY' || fail "request headers"
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    assert e["user_agent"].startswith("mtneuro-pack/"), e
    assert e["auth"] is True, e
    if e["path"].startswith("/v1/cutout/"):
        assert e["accept"] == "application/blosc" and e["query"] == "access-mode=no-cache", e
PY
# The data: 12 blocks spread over the channels, decoded from the cache (checksum checked)
# and compared with the same box read straight from the mock.
assert_eq "blocks compared with the mock" 12 "$($PY "$HELPER" check-data "$CACHE" "$MOCK_URL" 12)"

# Warm fetch: metadata only.
before=$($PY "$HELPER" lines "$LOG")
"$PACK" fetch "$DEMO" --cache "$CACHE" --source-url "$MOCK_URL" >"$TMP/out2" 2>"$TMP/err2" ||
    fail "warm fetch exited $?: $(cat "$TMP/err2")"
cat "$TMP/out2"
grep -qE '^fetched 0 blocks \(231 cached\), 6 requests, 0\.0 MB \(0\.0 MB transferred\) in [0-9.]+ s$' \
    "$TMP/out2" || fail "warm summary: $(cat "$TMP/out2")"
assert_eq "cutout requests of the warm run" 0 "$($PY "$HELPER" cutouts "$LOG" "$before")"

# --quiet prints nothing at all on success.
"$PACK" fetch "$DEMO" --cache "$CACHE" --source-url "$MOCK_URL" --quiet >"$TMP/out3" 2>&1
assert_eq "quiet output" "" "$(cat "$TMP/out3")"
echo "ok"
