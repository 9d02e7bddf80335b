#!/usr/bin/env bash
# The pieces of scripts/bench.sh on a tiny release (demo.yaml over z [110, 126)), so they
# keep working: compress-floor's output line and its exact byte counts (checked against
# Python's zlib on the mock's own voxels), its errors, and the fetch-floor URL list
# (benchlib.py curlcfg) fetched with curl --parallel. The full benchmark is not run here.
source "$(dirname "$0")/fetchlib.sh"

FLOOR="$BUILD_DIR/compress-floor"
LIB="$SOURCE_DIR/tools/bench/benchlib.py"
TINY="$TMP/tiny.yaml"
LOG="$TMP/mock.log"
CACHE="$TMP/cache"

# demo.yaml with 16 slices: z [110, 126); train 8, val 3, test 4, all 16.
$PY - "$DEMO" "$TINY" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for old, new in (("z: [110, 470]", "z: [110, 126]"), ("train: [110, 379]", "train: [110, 118]"),
                 ("val: [380, 409]", "val: [118, 121]"), ("test: [420, 470]", "test: [122, 126]"),
                 ("all: [110, 470]", "all: [110, 126]")):
    assert text.count(old) == 1, old
    text = text.replace(old, new)
open(sys.argv[2], "w").write(text)
PY
"$PACK" plan "$TINY" >"$TMP/plan.out" || fail "plan of the tiny config: $(cat "$TMP/plan.out")"
grep -q '^total: 33 blocks in 12 cutout requests, 12,582,912 voxels' "$TMP/plan.out" ||
    fail "tiny plan totals: $(cat "$TMP/plan.out")"

start_mock "$LOG"
LINE='^compress-floor compressor=libdeflate slices=64 bytes_in=4194304 bytes_out=([0-9]+) level=4 compress_s=[0-9]+\.[0-9]{3} compress_cpu_s=[0-9]+\.[0-9]{3} load_s=[0-9]+\.[0-9]{3} fetched=%d$'

# First run: fetches the 33 blocks it needs into the empty cache, then compresses.
"$FLOOR" "$TINY" --source-url "$MOCK_URL" --cache "$CACHE" >"$TMP/f1" 2>"$TMP/e1" ||
    fail "compress-floor exited $?: $(cat "$TMP/e1")"
cat "$TMP/f1"
assert_eq "stderr" "" "$(cat "$TMP/e1")"
assert_eq "output lines" 1 "$(wc -l <"$TMP/f1")"
# shellcheck disable=SC2059
grep -qE "$(printf "$LINE" 33)" "$TMP/f1" || fail "first output: $(cat "$TMP/f1")"
assert_eq "blocks in the cache" 33 "$(count_blocks "$CACHE")"
out1=$(sed -E 's/.* bytes_out=([0-9]+) .*/\1/' "$TMP/f1")

# Second run: the cache is warm, nothing fetched, the same bytes.
cutouts_before=$($PY "$HELPER" cutouts "$LOG")
"$FLOOR" "$TINY" --source-url "$MOCK_URL" --cache "$CACHE" >"$TMP/f2" 2>"$TMP/e2" ||
    fail "second compress-floor exited $?: $(cat "$TMP/e2")"
# shellcheck disable=SC2059
grep -qE "$(printf "$LINE" 0)" "$TMP/f2" || fail "second output: $(cat "$TMP/f2")"
assert_eq "bytes_out of the second run" "$out1" "$(sed -E 's/.* bytes_out=([0-9]+) .*/\1/' "$TMP/f2")"
assert_eq "cutout requests of the warm run" "$cutouts_before" "$($PY "$HELPER" cutouts "$LOG")"

# The exact bytes of the zlib row: every 256x256 image slice of the 4 regions, zlib level 4
# (and 1), as HDF5's deflate filter would compress each chunk.
"$FLOOR" "$TINY" --source-url "$MOCK_URL" --cache "$CACHE" --compressor zlib >"$TMP/f4" 2>&1 ||
    fail "--compressor zlib exited $?: $(cat "$TMP/f4")"
grep -qE '^compress-floor compressor=zlib slices=64 bytes_in=4194304 bytes_out=[0-9]+ level=4 ' \
    "$TMP/f4" || fail "--compressor zlib output: $(cat "$TMP/f4")"
out_z4=$(sed -E 's/.* bytes_out=([0-9]+) .*/\1/' "$TMP/f4")
"$FLOOR" "$TINY" --source-url "$MOCK_URL" --cache "$CACHE" --level 1 --compressor zlib \
    >"$TMP/f3" 2>&1 || fail "--level 1 exited $?: $(cat "$TMP/f3")"
grep -qE '^compress-floor compressor=zlib slices=64 bytes_in=4194304 bytes_out=[0-9]+ level=1 ' \
    "$TMP/f3" || fail "--level 1 output: $(cat "$TMP/f3")"
out_l1=$(sed -E 's/.* bytes_out=([0-9]+) .*/\1/' "$TMP/f3")
expected=$($PY - "$MOCK_URL" <<'PY'
import sys, urllib.request, zlib
import blosc
import numpy as np
regions = {"cortex": (4600, 900), "striatum": (3700, 500), "vp": (3063, 850), "zi": (1543, 650)}
sizes = {4: 0, 1: 0}
for x, y in regions.values():
    url = "%s/v1/cutout/prasad/prasad2020/image/0/%d:%d/%d:%d/110:126/?access-mode=no-cache" % (
        sys.argv[1], x, x + 256, y, y + 256)
    req = urllib.request.Request(url, headers={"Authorization": "Token public",
                                               "Accept": "application/blosc"})
    cube = np.frombuffer(blosc.decompress(urllib.request.urlopen(req).read()), dtype=np.uint8)
    for z in cube.reshape(16, 256 * 256):
        for level in sizes:
            sizes[level] += len(zlib.compress(z.tobytes(), level))
print(sizes[4], sizes[1])
PY
)
assert_eq "bytes_out at levels 4 and 1 (Python zlib)" "$expected" "$out_z4 $out_l1"
# libdeflate (the writer's compressor) at the same level: within 3 % of zlib's bytes.
$PY -c "import sys; a, b = int(sys.argv[1]), int(sys.argv[2]); sys.exit(0 if abs(a - b) <= 0.03 * b else 1)" \
    "$out1" "$out_z4" || fail "libdeflate level 4 made $out1 bytes, zlib $out_z4"

# Errors: usage and config problems exit 2 with one line.
expect_error() { # STATUS MESSAGE ARGS...
    local status=$1 msg=$2
    shift 2
    local rc=0
    "$FLOOR" "$@" >"$TMP/eo" 2>"$TMP/ee" || rc=$?
    assert_eq "exit status of compress-floor $*" "$status" "$rc"
    assert_eq "stdout of compress-floor $*" "" "$(cat "$TMP/eo")"
    assert_eq "stderr of compress-floor $*" "$msg" "$(cat "$TMP/ee")"
}
expect_error 2 "compress-floor: no CONFIG given (see --help)"
expect_error 2 "compress-floor: --level: '12' is not an integer in 0-9" "$TINY" --level 12
expect_error 2 "compress-floor: --cache needs a value" "$TINY" --cache
expect_error 2 "compress-floor: unknown argument '--wat' (see --help)" "$TINY" --wat
expect_error 2 "compress-floor: --compressor: 'lz4' is not libdeflate or zlib" "$TINY" --compressor lz4
sed 's/compression: gzip/compression: none/' "$TINY" >"$TMP/none.yaml"
expect_error 2 "compress-floor: $TMP/none.yaml: output.compression is not gzip; this floor measures deflate" \
    "$TMP/none.yaml" --cache "$CACHE"
"$FLOOR" --help | grep -q '^usage: compress-floor CONFIG' || fail "--help"

# fetch-floor: benchlib's curl config lists exactly the planned requests (each region's
# pieces grouped: 4 regions x 3 channels), all fetchable.
"$PACK" plan "$TINY" --verbose | $PY "$LIB" curlcfg "$TINY" "$MOCK_URL" >"$TMP/tiny.curl" ||
    fail "benchlib curlcfg"
assert_eq "url lines" 12 "$(grep -c '^url = "http://127.0.0.1:[0-9]*/v1/cutout/prasad/' "$TMP/tiny.curl")"
assert_eq "output lines" 12 "$(grep -c '^output = "/dev/null"$' "$TMP/tiny.curl")"
grep -q '^url = ".*/v1/cutout/prasad/prasad_analysis/roi_labels/0/4600:4856/900:1156/110:126/?access-mode=no-cache"$' \
    "$TMP/tiny.curl" || fail "the cortex roi_labels block URL"
lines_before=$($PY "$HELPER" lines "$LOG")
curl --parallel --parallel-max 4 -s --no-progress-meter -H "Authorization: Token public" \
    -H "Accept: application/blosc" -K "$TMP/tiny.curl" || fail "curl --parallel"
$PY - "$LOG" "$lines_before" <<'PY' || fail "curl requests in the mock log"
import json, sys
lines = open(sys.argv[1]).read().splitlines()[int(sys.argv[2]):]
assert len(lines) == 12, len(lines)
for line in lines:
    e = json.loads(line)
    assert e["status"] == 200 and e["auth"] and e["accept"] == "application/blosc", e
PY
echo "ok"
