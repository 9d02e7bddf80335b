#!/usr/bin/env bash
# fetch fails fast and explains: a missing channel (the server's 404 message), a wrong
# token (401; the token appears nowhere), a box outside the frame, an image channel that
# is not uint8, a bad option (exit 2). None of them downloads a voxel.
source "$(dirname "$0")/fetchlib.sh"

LOG="$TMP/mock.log"
CACHE="$TMP/cache"
start_mock "$LOG" --token other
port=${MOCK_URL##*:}

# expect_fail STATUS STDERR-LINE -- ARGS...: run fetch, check the status and the one line.
expect_fail() {
    local want_status=$1 want_line=$2
    shift 3
    local status=0
    "$PACK" fetch "$@" --cache "$CACHE" >"$TMP/out" 2>"$TMP/err" || status=$?
    assert_eq "exit status of fetch $*" "$want_status" "$status"
    assert_eq "stderr of fetch $*" "$want_line" "$(cat "$TMP/err")"
    assert_eq "stdout of fetch $*" "" "$(cat "$TMP/out")"
}

$PY "$HELPER" edit-config "$DEMO" "$TMP/nope.yaml" \
    channels.roi_labels=bossdb://prasad/prasad_analysis/nope
expect_fail 1 "mtneuro-pack: GET $MOCK_URL/v1/collection/prasad/experiment/prasad_analysis/channel/nope/: 404 (code 4000): Channel nope not found" \
    -- "$TMP/nope.yaml" --source-url "$MOCK_URL"

$PY "$HELPER" edit-config "$DEMO" "$TMP/noexp.yaml" \
    channels.image=bossdb://prasad/nope/image
expect_fail 1 "mtneuro-pack: GET $MOCK_URL/v1/collection/prasad/experiment/nope/: 404 (code 4000): Experiment nope not found" \
    -- "$TMP/noexp.yaml" --source-url "$MOCK_URL"

$PY "$HELPER" edit-config "$DEMO" "$TMP/wide.yaml" "regions.cortex.x=[5700, 5956]"
expect_fail 1 "mtneuro-pack: region cortex x [5700, 5956) lies outside the frame x [0, 5805) of prasad/prasad2020" \
    -- "$TMP/wide.yaml" --source-url "$MOCK_URL"

$PY "$HELPER" edit-config "$DEMO" "$TMP/dtype.yaml" \
    channels.image=bossdb://prasad/prasad_analysis/pixel_labels
expect_fail 1 "mtneuro-pack: channel image (bossdb://prasad/prasad_analysis/pixel_labels) is uint64, but the tasks use it as images, which must be uint8" \
    -- "$TMP/dtype.yaml" --source-url "$MOCK_URL"

expect_fail 2 "mtneuro-pack: --jobs 65: at most 64" -- "$DEMO" --source-url "$MOCK_URL" --jobs 65

# A wrong token: 401 with the server's text, and the token nowhere.
export MTP_TEST_TOKEN=secret123
expect_fail 1 "mtneuro-pack: GET $MOCK_URL/v1/collection/prasad/experiment/prasad2020/: 401: Invalid token." \
    -- "$DEMO" --source-url "$MOCK_URL" --token-env MTP_TEST_TOKEN
"$PACK" fetch "$DEMO" --cache "$CACHE" --source-url "$MOCK_URL" --token-env MTP_TEST_TOKEN \
    --verbose >"$TMP/out.v" 2>&1 || true
stop_mock
if grep -rl secret123 "$TMP"; then
    fail "the token appears in the files above"
fi

assert_eq "cutout requests" 0 "$($PY "$HELPER" cutouts "$LOG")"
assert_eq "blocks in the cache" 0 "$(count_blocks "$CACHE")"
echo "ok"
