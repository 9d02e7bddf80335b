#!/usr/bin/env bash
# With 30% of requests failing in every way the mock knows (429, 5xx, resets, truncated
# and corrupt bodies, slow drips), fetch still completes, and the cache holds exactly the
# same files as after a fetch from a mock without faults.
source "$(dirname "$0")/fetchlib.sh"

# Short stall detection (timeout_s / 4 = 3 s) and backoff so that the test takes seconds; a
# block's whole retry sequence has 12 s.
$PY "$HELPER" edit-config "$DEMO" "$TMP/faults.yaml" source.timeout_s=12 source.retries=30 \
    source.backoff_ms=10 source.backoff_max_ms=200

start_mock "$TMP/clean.log" --seed 7
"$PACK" fetch "$TMP/faults.yaml" --cache "$TMP/clean" --source-url "$MOCK_URL" --quiet ||
    fail "fault-free fetch failed"
stop_mock

start_mock "$TMP/faults.log" --seed 7 --fail-rate 0.3 \
    --fail-kinds 429,500,502,503,504,reset,truncate,corrupt,slow
"$PACK" fetch "$TMP/faults.yaml" --cache "$TMP/faulty" --source-url "$MOCK_URL" --jobs 8 \
    >"$TMP/out" 2>"$TMP/err" || fail "fetch with faults exited $?: $(tail -5 "$TMP/err")"
cat "$TMP/out"
grep -c '^retry ' "$TMP/err" || true
# Some requests failed, and were retried.
$PY - "$TMP/faults.log" <<'PY' || fail "the mock injected no faults"
import json, sys
faults = {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["fault"]:
        faults[e["fault"]] = faults.get(e["fault"], 0) + 1
print("faults injected:", dict(sorted(faults.items())))
assert sum(faults.values()) >= 20  # of 84 cutouts and their retries
PY
assert_eq "blocks in the cache" 231 "$(count_blocks "$TMP/faulty")"
$PY "$HELPER" tree "$TMP/clean" >"$TMP/clean.tree"
$PY "$HELPER" tree "$TMP/faulty" >"$TMP/faulty.tree"
assert_eq "files" 231 "$(wc -l <"$TMP/clean.tree")"
diff "$TMP/clean.tree" "$TMP/faulty.tree" || fail "cache contents differ"
echo "ok"
