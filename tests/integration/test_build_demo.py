"""`build configs/demo.yaml` against bossdb-mock: counts, exact contents, format, determinism."""
import hashlib
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from mocklib import DEMO, REGIONS, Z, mock_server, region_cube, run_pack  # noqa: E402

SPLITS = {"train": (110, 379), "val": (380, 409), "test": (420, 470)}
TASKS = {  # name: (kind, depth, excluded regions, remap, expected counts per split)
    "task1": ("classification", 1, set(), None, {"train": 1076, "val": 116, "test": 200}),
    "task2_2d_4class": ("segmentation", 1, {"zi"}, None, {"train": 807, "val": 87, "test": 150}),
    "task2_2d_3class": ("segmentation", 1, set(), {3: 0}, {"train": 1076, "val": 116, "test": 200}),
    "task2_3d_4class": ("segmentation", 8, {"zi"}, None, {"train": 99, "val": 9, "test": 18}),
    "task2_3d_3class": ("segmentation", 8, set(), {3: 0}, {"train": 132, "val": 12, "test": 24}),
}
ROI_MAP = {0: 0, 1: 0, 2: 1, 8: 1, 3: 2, 4: 2, 5: 3, 6: 3, 7: 3}


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def expected_samples(task, split):
    kind, depth, excluded, _, _ = TASKS[task]
    z0, z1 = SPLITS[split]
    out = []
    for r, name in enumerate(REGIONS):
        if name in excluded:
            continue
        z = z0
        while z + depth <= z1:
            out.append((r, name, z))
            z += depth
    return out


def roi_label(tile):
    counts = np.bincount(tile.ravel().astype(np.int64), minlength=9)
    return ROI_MAP[int(np.argmax(counts))]  # argmax takes the smallest code on ties


def check_file(path, task, cubes):
    kind, depth, _, remap, counts = TASKS[task]
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "mtneuro-bundle", f.attrs["format"]
        assert int(f.attrs["format_version"]) == 1
        assert f.attrs["task"] == task
        assert f.attrs["kind"] == kind
        assert "token" not in str(dict(f.attrs)).lower()
        region_enum = h5py.check_enum_dtype(f["train/region"].dtype)
        assert region_enum == {"cortex": 0, "striatum": 1, "vp": 2, "zi": 3}, region_enum
        for split, n in counts.items():
            g = f[split]
            samples = expected_samples(task, split)
            assert len(samples) == n, (task, split, len(samples), n)
            shape = (n, 256, 256) if depth == 1 else (n, depth, 256, 256)
            assert g["images"].shape == shape, (task, split, g["images"].shape)
            assert g["images"].dtype == np.uint8
            assert g["images"].chunks == ((1, 256, 256) if depth == 1 else (1, 1, 256, 256))
            assert g["images"].compression == "gzip"
            images = g["images"][()]
            regions = g["region"][()]
            origin = g["origin"][()]
            masks = g["masks"][()] if kind == "segmentation" else None
            labels = g["labels"][()] if kind == "classification" else None
            mismatches = 0
            for i, (r, name, z) in enumerate(samples):
                k = z - Z[0]
                img = cubes[name]["image"][k:k + depth]
                assert regions[i] == r
                assert tuple(origin[i]) == (z, REGIONS[name][2], REGIONS[name][0])
                np.testing.assert_array_equal(images[i].reshape(img.shape), img)
                if kind == "segmentation":
                    m = cubes[name]["pixel_labels"][k:k + depth].astype(np.uint8)
                    if remap:
                        for a, b in remap.items():
                            m = np.where(m == a, b, m)
                    np.testing.assert_array_equal(masks[i].reshape(m.shape), m)
                else:
                    want = roi_label(cubes[name]["roi_labels"][k])
                    assert labels[i] == want, (split, i, name, z, labels[i], want)
                    mismatches += int(want != r)
            if kind == "classification":
                enum = h5py.check_enum_dtype(g["labels"].dtype)
                assert enum == {"cortex": 0, "striatum": 1, "vp": 2, "zi": 3}, enum
                assert int(g.attrs["label_region_mismatches"]) == mismatches
                if split == "test":
                    # z >= 460 has empty ROI annotation: 10 slices of 3 non-cortex regions
                    assert mismatches == 30, mismatches
                else:
                    assert mismatches == 0, mismatches
    for tool in (["h5dump", "-H", path], ["h5ls", "-r", path]):
        subprocess.run(tool, check=True, stdout=subprocess.DEVNULL)


def features_rows(pixel, region_index, first_slice):
    """Task 3 targets recomputed independently: scipy labelling, numpy statistics."""
    from scipy import ndimage
    cells, _ = ndimage.label(pixel == 2, structure=ndimage.generate_binary_structure(3, 1))
    rows = []
    for k in range(pixel.shape[0]):
        for q, (y0, x0) in enumerate([(0, 0), (0, 128), (128, 0), (128, 128)]):
            quad = pixel[k, y0:y0 + 128, x0:x0 + 128]
            lab = cells[k, y0:y0 + 128, x0:x0 + 128]
            ids, first = np.unique(lab[lab > 0], return_index=True)
            # order cells by first appearance in row-major order, like the C code sums them
            flat = lab.ravel()
            order = np.argsort([np.flatnonzero(flat == i)[0] for i in ids]) if len(ids) else []
            ids = ids[order] if len(ids) else ids
            areas, cents = [], []
            for i in ids:
                ys, xs = np.nonzero(lab == i)
                areas.append(len(ys))
                cents.append((ys.mean(), xs.mean()))
            if len(ids) >= 2:
                c = np.array(cents)
                d = np.sqrt(((c[:, None, :] - c[None, :, :]) ** 2).sum(-1))
                np.fill_diagonal(d, np.inf)
                nn = float(d.min(axis=1).mean())
            else:
                nn = 64.0
            rows.append((region_index, Z[0] + k, q, first_slice + k,
                         100.0 * np.count_nonzero(quad == 1) / 16384,
                         100.0 * np.count_nonzero(quad == 3) / 16384,
                         len(ids), float(np.mean(areas)) if areas else 0.0, nn))
    return rows


def check_task3(path, cubes):
    with h5py.File(path, "r") as f:
        assert f.attrs["kind"] == "features"
        g = f["all"]
        assert g["images"].shape == (1440, 256, 256), g["images"].shape
        targets = g["targets"][()]
        assert targets.shape == (5760,), targets.shape
        names = targets.dtype.names
        assert names == ("region", "z", "quadrant", "slice_index", "vessel_pct", "axon_pct",
                         "cell_count", "mean_cell_area", "mean_nn_distance"), names
        for r, name in enumerate(REGIONS):
            pixel = cubes[name]["pixel_labels"].astype(np.uint8)
            np.testing.assert_array_equal(g["images"][r * 360:(r + 1) * 360],
                                          cubes[name]["image"])
            want = features_rows(pixel, r, r * 360)
            got = targets[r * 1440:(r + 1) * 1440]
            for i, row in enumerate(want):
                for j, field in enumerate(names):
                    a, b = float(got[i][field]), float(row[j])
                    assert abs(a - b) <= 1e-9, (name, i, field, a, b)


def main():
    with tempfile.TemporaryDirectory() as tmp, mock_server() as (url, log):
        cache = os.path.join(tmp, "cache")
        out1, out2 = os.path.join(tmp, "out1"), os.path.join(tmp, "out2")
        common = ["--cache", cache, "--source-url", url, "--quiet"]
        run_pack("build", DEMO, "--out", out1, *common)
        rel1 = os.path.join(out1, "mtneuro-demo-1.0.0")
        files = sorted(os.listdir(rel1))
        want = sorted([f"{t}.h5" for t in TASKS] + ["task3.h5", "config.yaml", "volumes.h5"])
        assert all(f in files for f in want), files
        assert not [f for f in files if ".tmp" in f], files

        cubes = {name: {ch: region_cube(url, ch, name)
                        for ch in ("image", "pixel_labels", "roi_labels")}
                 for name in REGIONS}
        for task in TASKS:
            check_file(os.path.join(rel1, f"{task}.h5"), task, cubes)

        check_task3(os.path.join(rel1, "task3.h5"), cubes)

        with h5py.File(os.path.join(rel1, "volumes.h5"), "r") as f:
            for name in REGIONS:
                for ch in ("image", "pixel_labels", "roi_labels"):
                    np.testing.assert_array_equal(f[f"{name}/{ch}"][()],
                                                  cubes[name][ch].astype(np.uint8))

        # A second build (warm cache) into another directory is byte-identical.
        run_pack("build", DEMO, "--out", out2, *common)
        rel2 = os.path.join(out2, "mtneuro-demo-1.0.0")
        for f in want:
            assert sha256(os.path.join(rel1, f)) == sha256(os.path.join(rel2, f)), f
    print("build demo: all checks passed")


if __name__ == "__main__":
    main()
