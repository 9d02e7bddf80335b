#!/usr/bin/env bash
# The bundle writer seen from outside: two separate processes write the same files and
# get identical bytes; h5dump, h5ls and h5py + numpy (Debian's /usr/bin/python3) read them.
# The files come from test_h5bundle's "files" case (see files_for_readers there).
set -euo pipefail
: "${MTP_BUILD_DIR:?MTP_BUILD_DIR must point at the build directory}"
work=$(mktemp -d /tmp/mtp-h5readers-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/a" "$work/b"

CK_RUN_CASE=files MTP_H5BUNDLE_KEEP="$work/a" "$MTP_BUILD_DIR/test_h5bundle" > /dev/null
sleep 1.1 # a timestamp anywhere in a file would now differ
CK_RUN_CASE=files MTP_H5BUNDLE_KEEP="$work/b" "$MTP_BUILD_DIR/test_h5bundle" > /dev/null

files="task1.h5 task2_3d.h5 task3.h5 volumes.h5 task2_3d-chunks.h5"
for f in $files; do
    [ -f "$work/a/$f" ] || { echo "FAIL: $f not written"; exit 1; }
    if ! cmp -s "$work/a/$f" "$work/b/$f"; then
        echo "FAIL: $f differs between two processes"
        exit 1
    fi
    h5dump -H "$work/a/$f" > /dev/null
    h5ls -r "$work/a/$f" > /dev/null
done
# Precompressed chunks (H5Dwrite_chunk) give the very bytes of the filter path.
if ! cmp -s "$work/a/task2_3d.h5" "$work/a/task2_3d-chunks.h5"; then
    echo "FAIL: task2_3d.h5 written from precompressed chunks differs"
    exit 1
fi
if ls "$work"/a/*.tmp > /dev/null 2>&1; then
    echo "FAIL: temporary files left behind"
    exit 1
fi

/usr/bin/python3 - "$work/a" <<'EOF'
import sys
import h5py
import numpy as np

d = sys.argv[1]
with h5py.File(f"{d}/task2_3d.h5", "r") as f:
    assert f.attrs["format"] == "mtneuro-bundle" and f.attrs["format_version"] == 1
    assert f.attrs["kind"] == "segmentation"
    assert list(f.attrs["splits"]) == ["train", "val"], f.attrs["splits"]
    assert list(f.attrs["counts"]) == [4, 2]
    img, msk = f["train/images"], f["train/masks"]
    assert img.shape == (4, 2, 8, 8) and img.dtype == np.uint8
    assert img.chunks == (1, 1, 8, 8) and img.compression == "gzip"
    assert img.compression_opts == 4 and not img.shuffle
    assert [dim.label for dim in msk.dims] == ["sample", "z", "y", "x"]
    assert list(msk.attrs["classes"]) == ["background", "vessel", "cell"]
    i, z, y, x = np.indices(img.shape)
    want_img = (0 * 97 + i * 31 + z * 7 + y * 8 + x) % 256
    assert np.array_equal(img[...], want_img.astype(np.uint8))
    assert np.array_equal(msk[...], ((i + z + y + x) % 3).astype(np.uint8))
    assert h5py.check_enum_dtype(f["val/region"].dtype) == {"cortex": 0, "striatum": 1}
    assert f["val/region"][...].tolist() == [0, 1]
    assert f["val/origin"][...].tolist() == [[4, 200, 100], [4, 400, 300]]
    assert f["regions"]["name"].tolist() == [b"cortex", b"striatum"]
    assert f["train"].attrs["label_region_mismatches"] == 3

with h5py.File(f"{d}/task1.h5", "r") as f:
    labels = f["train/labels"]
    assert h5py.check_enum_dtype(labels.dtype) == {"cortex": 0, "striatum": 1, "vp": 2, "zi": 3}
    assert labels[...].tolist() == [k * 3 % 4 for k in range(8)]
    assert "test" not in f

with h5py.File(f"{d}/volumes.h5", "r") as f:
    assert f.attrs["format"] == "mtneuro-volumes"
    # Links are listed in creation order; h5py 3.7 honours it through f["/"] (iterating
    # the File object itself sorts by name).
    assert list(f["/"]) == ["regions", "cortex", "striatum"], list(f["/"])
    assert list(f["cortex"]) == ["image", "pixel_labels", "roi_labels"]
    v = f["striatum/roi_labels"]
    assert v.shape == (8, 8, 8) and v.chunks == (1, 8, 8)
    assert v.attrs["origin"].tolist() == [0, 400, 300]
    assert v.attrs["source"] == "bossdb://prasad/prasad_analysis/roi_labels"
    k = np.arange(v.size).reshape(v.shape)
    assert np.array_equal(v[...], ((k * 3 + 11 + 10) % 256).astype(np.uint8))
with h5py.File(f"{d}/task3.h5", "r") as f:
    assert f.attrs["kind"] == "features"
    assert sorted(f["all"]) == ["images", "origin", "region", "targets"]
    t = f["all/targets"]
    assert t.shape == (64,) and t.chunks == (64,) and t.compression == "gzip"
    assert t.dtype.names == ("region", "z", "quadrant", "slice_index", "vessel_pct", "axon_pct",
                             "cell_count", "mean_cell_area", "mean_nn_distance")
    assert t.dtype.itemsize == 61
    assert h5py.check_enum_dtype(t.dtype["region"]) == {"cortex": 0, "striatum": 1}
    rows = t[...]
    r = np.arange(64)
    assert np.array_equal(rows["slice_index"], r // 4)
    assert np.array_equal(rows["quadrant"], r % 4)
    assert np.array_equal(rows["region"], f["all/region"][...][r // 4])
    assert np.array_equal(rows["z"], f["all/origin"][...][r // 4, 0])
    assert np.array_equal(rows["vessel_pct"], (r % 17) * 6.25)
    fill = rows["cell_count"] < 2
    assert np.all(rows["mean_nn_distance"][fill] == 64.0)
    assert list(t.attrs["field_units"]) == ["", "voxel", "", "", "percent", "percent", "cells",
                                            "pixels", "pixels"]
    assert len(t.attrs["field_definitions"]) == 9
    assert t.attrs["quadrant"] == 4 and t.attrs["rows_per_slice"] == 4

print("h5py: all checks passed")
EOF
echo "PASS: identical across processes; h5dump, h5ls, h5py read every file"
