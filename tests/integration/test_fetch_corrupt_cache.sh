#!/usr/bin/env bash
# A damaged cache file (a flipped byte, a truncation) is detected by the next fetch,
# reported by name, deleted and fetched again: exactly one cutout request per damaged file.
source "$(dirname "$0")/fetchlib.sh"

LOG="$TMP/mock.log"
CACHE="$TMP/cache"
start_mock "$LOG"
"$PACK" fetch "$DEMO" --cache "$CACHE" --source-url "$MOCK_URL" --quiet ||
    fail "first fetch failed"
assert_eq "blocks in the cache" 231 "$(count_blocks "$CACHE")"

# check_refetch FILE WHAT: fetch again; exactly FILE's box is requested once, the note names it.
check_refetch() {
    local file=$1 what=$2
    local before
    before=$($PY "$HELPER" lines "$LOG")
    "$PACK" fetch "$DEMO" --cache "$CACHE" --source-url "$MOCK_URL" >"$TMP/out" 2>"$TMP/err" ||
        fail "fetch exited $?: $(cat "$TMP/err")"
    cat "$TMP/err" "$TMP/out"
    assert_eq "cutout requests after $what" 1 "$($PY "$HELPER" cutouts "$LOG" "$before")"
    grep -qF "damaged cache file, fetching again: cache: $file: " "$TMP/err" ||
        fail "no note naming $file"
    grep -qE '^fetched 1 blocks \(230 cached\)' "$TMP/out" || fail "summary: $(cat "$TMP/out")"
    local box
    box=$($PY "$HELPER" log-boxes "$LOG" "$before")
    case "$file" in
    *"$(echo "$box" | sed -E 's/^[a-z_]+ x\[([0-9]+),([0-9]+)\) y\[([0-9]+),([0-9]+)\) z\[([0-9]+),([0-9]+)\)$/x\1-\2_y\3-\4_z\5-\6/')"*) ;;
    *) fail "refetched $box, not $file" ;;
    esac
    assert_eq "blocks in the cache" 231 "$(count_blocks "$CACHE")"
    # The new file is intact.
    $PY "$HELPER" check-data "$CACHE" "$MOCK_URL" 3 >/dev/null || fail "data after refetch"
}

victim=$(find "$CACHE" -name '*.blk' | sort | sed -n 40p)
$PY "$HELPER" flip-byte "$victim" -10
check_refetch "$victim" "a flipped byte"

victim=$(find "$CACHE" -name '*.blk' | sort | sed -n 200p)
truncate -s -100 "$victim"
check_refetch "$victim" "a truncation"
echo "ok"
