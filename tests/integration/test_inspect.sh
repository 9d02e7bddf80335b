#!/usr/bin/env bash
# `mtneuro-pack inspect` prints exactly this for the files test_h5read's "fixture" case writes
# (tests/test_h5read.c: two 16x16 regions, task1 classification with 2 label/region
# mismatches in train, task2_3d segmentation with depth-2 windows, volumes.h5), and fails
# with one line and exit 1 on files it cannot read.
# Until the CLI routes `inspect` to cli_inspect() (tools/cli/inspect.c) the command answers
# "not implemented yet": then this test prints SKIP and passes.
# Stored sizes come from libdeflate 1.14 at level 4 (the writer's compressor) and are exact for it.
set -euo pipefail
: "${MTP_BUILD_DIR:?MTP_BUILD_DIR must point at the build directory}"
work=$(mktemp -d /tmp/mtp-inspect-XXXXXX)
trap 'rm -rf "$work"' EXIT
pack="$MTP_BUILD_DIR/mtneuro-pack"

CK_RUN_CASE=fixture MTP_H5READ_KEEP="$work" "$MTP_BUILD_DIR/test_h5read" > /dev/null

fail() {
    echo "FAIL: $*"
    exit 1
}

# Run inspect on $1; stdout to $work/out, stderr to $work/err, status in $status.
run_inspect() {
    set +e
    "$pack" inspect "$@" > "$work/out" 2> "$work/err"
    status=$?
    set -e
}

run_inspect "$work/task1.h5"
if grep -q "not implemented yet" "$work/err"; then
    echo "SKIP: inspect not wired ($(cat "$work/err"))"
    exit 0
fi

# expect NAME: compare $work/out with stdin, exit status 0, nothing on stderr, <= 100 columns.
expect() {
    [ "$status" -eq 0 ] || fail "$1: exit status $status: $(cat "$work/err")"
    [ ! -s "$work/err" ] || fail "$1: unexpected stderr: $(cat "$work/err")"
    diff -u - "$work/out" || fail "$1: output differs (- expected, + got)"
    awk -v f="$1" 'length($0) > 100 { print "FAIL: " f ": line longer than 100: " $0; bad = 1 }
                   END { exit bad }' "$work/out"
}

expect task1.h5 <<'OUT'
task1.h5: mtneuro-bundle, format version 1
  task       task1
  kind       classification
  title      Mini release
  builder    mtneuro-pack 0.1.0
  source     http://127.0.0.1:8080
  config     sha256 0000000000000000000000000000000000000000000000000000000000000007
  classes    cortex, striatum, vp, zi
  regions    cortex, striatum

datasets                     dtype        shape                       stored         raw  ratio
  /regions                   compound     (2)                          192 B       192 B   1.00
  /train/images              uint8        (8, 16, 16)                  159 B     2.0 KiB   0.08
  /train/labels              enum(uint8)  (8)                            8 B         8 B   1.00
  /train/region              enum(uint8)  (8)                            8 B         8 B   1.00
  /train/origin              int64        (8, 3)                       192 B       192 B   1.00
  /val/images                uint8        (4, 16, 16)                   79 B     1.0 KiB   0.08
  /val/labels                enum(uint8)  (4)                            4 B         4 B   1.00
  /val/region                enum(uint8)  (4)                            4 B         4 B   1.00
  /val/origin                int64        (4, 3)                        96 B        96 B   1.00

split train: 8 samples, z [0, 4)
  class                         samples       %
  cortex                              3    37.5
  striatum                            3    37.5
  vp                                  0     0.0
  zi                                  2    25.0
  region                        samples       %
  cortex                              4    50.0
  striatum                            4    50.0
  label != region: 2 samples (reference label kept; MTNeuro's ROI annotation is empty at z >= ~460)

split val: 4 samples, z [4, 6)
  class                         samples       %
  cortex                              2    50.0
  striatum                            2    50.0
  vp                                  0     0.0
  zi                                  0     0.0
  region                        samples       %
  cortex                              2    50.0
  striatum                            2    50.0
  label != region: 0 samples
OUT

run_inspect "$work/task2_3d.h5"
expect task2_3d.h5 <<'OUT'
task2_3d.h5: mtneuro-bundle, format version 1
  task       task2_3d
  kind       segmentation
  title      Mini release
  builder    mtneuro-pack 0.1.0
  source     http://127.0.0.1:8080
  config     sha256 0000000000000000000000000000000000000000000000000000000000000007
  classes    background, vessel, cell
  regions    cortex, striatum

datasets                     dtype        shape                       stored         raw  ratio
  /regions                   compound     (2)                          192 B       192 B   1.00
  /train/images              uint8        (4, 2, 16, 16)               158 B     2.0 KiB   0.08
  /train/masks               uint8        (4, 2, 16, 16)               160 B     2.0 KiB   0.08
  /train/region              enum(uint8)  (4)                            4 B         4 B   1.00
  /train/origin              int64        (4, 3)                        96 B        96 B   1.00
  /val/images                uint8        (2, 2, 16, 16)                78 B     1.0 KiB   0.08
  /val/masks                 uint8        (2, 2, 16, 16)                80 B     1.0 KiB   0.08
  /val/region                enum(uint8)  (2)                            2 B         2 B   1.00
  /val/origin                int64        (2, 3)                        48 B        48 B   1.00

split train: 4 samples of 2 slices, z [0, 4)
  class                          voxels       %
  background                       1440    70.3
  vessel                            512    25.0
  cell                               96     4.7
  region                        samples       %
  cortex                              2    50.0
  striatum                            2    50.0

split val: 2 samples of 2 slices, z [4, 6)
  class                          voxels       %
  background                        720    70.3
  vessel                            256    25.0
  cell                               48     4.7
  region                        samples       %
  cortex                              1    50.0
  striatum                            1    50.0
OUT

run_inspect "$work/volumes.h5"
expect volumes.h5 <<'OUT'
volumes.h5: mtneuro-volumes, format version 1
  kind       volumes (raw region cubes)
  title      Mini release
  builder    mtneuro-pack 0.1.0
  source     http://127.0.0.1:8080
  config     sha256 0000000000000000000000000000000000000000000000000000000000000007
  regions    cortex, striatum

datasets                     dtype        shape                       stored         raw  ratio
  /regions                   compound     (2)                          192 B       192 B   1.00
  /cortex/image              uint8        (8, 16, 16)                  159 B     2.0 KiB   0.08
  /cortex/pixel_labels       uint8        (8, 16, 16)                  160 B     2.0 KiB   0.08
  /cortex/roi_labels         uint8        (8, 16, 16)                  160 B     2.0 KiB   0.08
  /striatum/image            uint8        (8, 16, 16)                  160 B     2.0 KiB   0.08
  /striatum/pixel_labels     uint8        (8, 16, 16)                  160 B     2.0 KiB   0.08
  /striatum/roi_labels       uint8        (8, 16, 16)                  160 B     2.0 KiB   0.08
OUT

# Failures: one line on stderr, exit 1; a missing argument is a usage error, exit 2.
run_inspect "$work/missing.h5"
[ "$status" -eq 1 ] || fail "missing file: exit status $status"
[ "$(cat "$work/err")" = "mtneuro-pack inspect: $work/missing.h5: No such file or directory" ] ||
    fail "missing file: stderr: $(cat "$work/err")"
[ ! -s "$work/out" ] || fail "missing file: printed on stdout"

echo "not HDF5" > "$work/junk.h5"
run_inspect "$work/junk.h5"
[ "$status" -eq 1 ] || fail "junk file: exit status $status"
[ "$(cat "$work/err")" = "mtneuro-pack inspect: $work/junk.h5: not an HDF5 file" ] ||
    fail "junk file: stderr: $(cat "$work/err")"

run_inspect
[ "$status" -eq 2 ] || fail "no argument: exit status $status"

echo "PASS: inspect output of task1.h5, task2_3d.h5 and volumes.h5; failures exit 1 and 2"
