#!/usr/bin/env bash
# A full disk anywhere — the HDF5 files, the metadata and previews, the archive, the cache —
# gives one line naming the path and the OS error and exit 1: no crash, no temporary or
# staging directory left, a previous release untouched, the cache still valid. Each disk is
# a small tmpfs (needs root; skipped, saying why, where mounting is not allowed).
source "$(dirname "$0")/fetchlib.sh"

MNT="$TMP/mnt"
mkdir -p "$MNT"
unmount() { mountpoint -q "$MNT" && umount "$MNT" || true; }
trap 'unmount; cleanup' EXIT
if ! mount -t tmpfs -o size=1m tmpfs "$MNT" 2>"$TMP/mount.err"; then
    echo "SKIP: cannot mount a tmpfs here ($(cat "$TMP/mount.err")); the test needs root"
    exit 77
fi
umount "$MNT"
NAME=mtneuro-demo-1.0.0

# A smaller release than the demo (z 110..206, three tasks), so each run is quick.
SMALL="$TMP/small.yaml"
$PY - "$DEMO" "$SMALL" <<'PY'
import sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
cfg["z"] = [110, 206]
cfg["splits"] = {"train": [110, 170], "val": [170, 190], "test": [190, 206]}
cfg["tasks"] = {t: cfg["tasks"][t] for t in ("task1", "task2_2d_3class", "task2_3d_4class")}
yaml.safe_dump(cfg, open(sys.argv[2], "w"), sort_keys=False, width=100)
PY

LOG="$TMP/mock.log"
CACHE="$TMP/cache"
start_mock "$LOG"
"$PACK" build "$SMALL" --cache "$CACHE" --source-url "$MOCK_URL" --out "$TMP/ref" --quiet ||
    fail "reference build failed"
REF="$TMP/ref/$NAME"
ref_kb=$(du -sk "$REF" | cut -f1)

# full_run WHAT SIZE_KB OUT_SUBDIR [build options]: build onto a fresh tmpfs that is too
# small; check the exit status, the one-line message and that nothing is left over.
full_run() {
    local what=$1 size=$2
    shift 2
    mount -t tmpfs -o "size=${size}k" tmpfs "$MNT"
    set +e
    "$PACK" build "$SMALL" --source-url "$MOCK_URL" --quiet "$@" >"$TMP/out" 2>"$TMP/err"
    local status=$?
    set -e
    assert_eq "$what: exit status" 1 "$status"
    assert_eq "$what: lines on stderr" 1 "$(wc -l <"$TMP/err")"
    grep -q "^mtneuro-pack: $MNT/.*: No space left on device$" "$TMP/err" ||
        fail "$what: message does not name a path on the full disk and the OS error: $(cat "$TMP/err")"
    local left
    left=$(find "$MNT" \( -name '*.tmp*' -o -name '.*.staging.*' -o -name '.*.lock' \) | head -3)
    [ -z "$left" ] || fail "$what: left behind: $left"
    echo "  $what (${size} KiB): $(cat "$TMP/err")"
}

# No previous release: out of space while writing the HDF5 files, later while writing the
# metadata and previews (room for the data files only), and in the archive (room for the
# directory but not for its .tar.gz beside it).
for pct in 10 50; do
    full_run "HDF5 files, ${pct}% of the release" $((ref_kb * pct / 100)) \
        --cache "$CACHE" --out "$MNT/out"
    [ ! -e "$MNT/out/$NAME" ] || fail "a release directory appeared on a full disk"
    unmount
done
data_kb=$(du -sk "$REF"/*.h5 | awk '{s += $1} END {print s}')
full_run "metadata and previews" $((data_kb + 64)) --cache "$CACHE" --out "$MNT/out"
unmount
full_run "archive" $((ref_kb * 3 / 2)) --cache "$CACHE" --out "$MNT/out" --archive
[ ! -e "$MNT/out/$NAME" ] && [ ! -e "$MNT/out/$NAME.tar.gz" ] ||
    fail "archive: a release or archive appeared although the archive did not fit"
unmount

# A previous release on the disk, then too little room for the new one: the old release is
# untouched, byte for byte, and still verifies.
mount -t tmpfs -o "size=$((ref_kb * 5 / 2))k" tmpfs "$MNT"
mkdir -p "$MNT/out"
cp -a "$REF" "$MNT/out/$NAME"
free_kb=$(df -k --output=avail "$MNT" | tail -1)
fallocate -l "$(((free_kb - ref_kb / 3) * 1024))" "$MNT/filler"
set +e
"$PACK" build "$SMALL" --source-url "$MOCK_URL" --quiet --cache "$CACHE" --out "$MNT/out" \
    >"$TMP/out" 2>"$TMP/err"
status=$?
set -e
assert_eq "over a previous release: exit status" 1 "$status"
grep -q "No space left on device$" "$TMP/err" || fail "over a previous release: $(cat "$TMP/err")"
(cd "$MNT/out/$NAME" && sha256sum -c --quiet SHA256SUMS) || fail "the previous release changed"
diff -r "$REF" "$MNT/out/$NAME" >/dev/null || fail "the previous release differs from the reference"
"$PACK" verify "$MNT/out/$NAME" >/dev/null || fail "the previous release does not verify"
assert_eq "entries in --out" "$NAME" "$(ls -A "$MNT/out")"
echo "  over a previous release: $(cat "$TMP/err"); the old release verifies"
unmount

# The cache on a full disk (a cold fetch): same message rules; the blocks already there are
# valid, and after making room the same cache completes and gives the reference release.
mount -t tmpfs -o size=2m tmpfs "$MNT"
set +e
"$PACK" fetch "$SMALL" --source-url "$MOCK_URL" --quiet --cache "$MNT/cache" >"$TMP/out" 2>"$TMP/err"
status=$?
set -e
assert_eq "cache: exit status" 1 "$status"
grep -q "$MNT/cache/.*No space left on device" "$TMP/err" || fail "cache: $(cat "$TMP/err")"
[ -z "$(find "$MNT" -name '*.tmp*')" ] || fail "cache: temporaries left: $(find "$MNT" -name '*.tmp*')"
kept=$(count_blocks "$MNT/cache")
echo "  cache (2 MiB): $(tail -1 "$TMP/err"); $kept blocks kept"
mount -o remount,size=512m "$MNT"
"$PACK" build "$SMALL" --source-url "$MOCK_URL" --quiet --cache "$MNT/cache" --out "$TMP/again" ||
    fail "build after making room failed"
diff -r "$REF" "$TMP/again/$NAME" >/dev/null || fail "the release from the refilled cache differs"
echo "ok"
