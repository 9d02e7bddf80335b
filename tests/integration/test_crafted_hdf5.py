"""Crafted HDF5 files never crash `verify`, `inspect` or `preview` ([1/6] item 5).

libhdf5 can crash or loop on a malformed file, so these commands read HDF5 files in a reader
process; some of the mutants below do crash libhdf5, and that must be one line, exit 1. Here a small release's task file is damaged byte by byte (deterministic offsets in
its metadata), with manifest.json, SHA256SUMS and MD5SUMS fixed to match, so that only the
HDF5 reader stands between the damage and the user. For every mutant: the exit status is 0
or 1 (never a signal), no libhdf5 diagnostic reaches the terminal, and every problem is one
line naming the file. Plus two hand-made files: a format_version that is an array of 1000
integers (preview read it into one integer before), and class_counts near INT64_MAX
(inspect summed them in int64 before).
"""
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import yaml

sys.path.insert(0, os.path.dirname(__file__))
from mocklib import DEMO, PACK, mock_server, run_pack  # noqa: E402

NAME = "mtneuro-demo-1.0.0"
DIAGNOSTICS = ("HDF5-DIAG", "infinite loop", "#000:", "H5E")


def fail(msg):
    raise AssertionError(msg)


def small_config(path):
    cfg = yaml.safe_load(open(DEMO))
    cfg["z"] = [110, 150]
    cfg["splits"] = {"train": [110, 130], "val": [130, 140], "test": [140, 150]}
    cfg["tasks"] = {"task1": cfg["tasks"]["task1"]}
    cfg["output"].update(volumes=False, previews=False)
    yaml.safe_dump(cfg, open(path, "w"), sort_keys=False, width=100)


def digests(path):
    data = open(path, "rb").read()
    return len(data), hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()


def fix_sums(rel_dir, name):
    """Make manifest.json, SHA256SUMS and MD5SUMS agree with the file as it is now."""
    size, sha, md5 = digests(os.path.join(rel_dir, name))
    mpath = os.path.join(rel_dir, "manifest.json")
    manifest = json.load(open(mpath))
    for f in manifest["files"]:
        if f["path"] == name:
            f.update(size=size, sha256=sha, md5=md5)
    with open(mpath, "w") as f:
        f.write(json.dumps(manifest, indent=2) + "\n")
    _, msha, mmd5 = digests(mpath)
    for sums, algo in (("SHA256SUMS", "sha256"), ("MD5SUMS", "md5")):
        spath = os.path.join(rel_dir, sums)
        lines = []
        for line in open(spath):
            digest, path = line.rstrip("\n").split("  ", 1)
            if path == name:
                digest = sha if algo == "sha256" else md5
            if path == "manifest.json":
                digest = msha if algo == "sha256" else mmd5
            lines.append(f"{digest}  {path}\n")
        open(spath, "w").writelines(lines)


def run(args, timeout=300):
    return subprocess.run([PACK, *args], capture_output=True, text=True, timeout=timeout)


def check_clean(what, proc):
    if proc.returncode not in (0, 1):
        fail(f"{what}: exit {proc.returncode} (a signal?)\nstderr: {proc.stderr[-1500:]}")
    for marker in DIAGNOSTICS:
        if marker in proc.stderr or marker in proc.stdout:
            fail(f"{what}: a libhdf5 diagnostic reached the user: {proc.stderr[-1500:]}")
    if len(proc.stderr.splitlines()) > 1:
        fail(f"{what}: more than one line on stderr: {proc.stderr[-1500:]}")


def main():
    with tempfile.TemporaryDirectory() as tmp, mock_server() as (url, _log):
        config = os.path.join(tmp, "small.yaml")
        small_config(config)
        run_pack("build", config, "--out", os.path.join(tmp, "ref"), "--cache",
                 os.path.join(tmp, "cache"), "--source-url", url, "--quiet")
        ref = os.path.join(tmp, "ref", NAME)
        target = os.path.join(ref, "task1.h5")
        original = open(target, "rb").read()
        # Offsets where HDF5 keeps metadata: the superblock and object headers at the start,
        # the attribute heap and B-tree nodes near the end (metadata is written last).
        rng = random.Random(4711)
        # 2076, 2162, 3228, 3548: flips in the attributes' global heap that crash libhdf5 1.10
        # (found by scanning this file's first 4 KiB; the file is the same on every build).
        offsets = sorted(set([0, 8, 16, 24, 40, 60, 96, 128, 200, 300, 400, 512, 700, 800, 1024,
                              1500, 2048, 2076, 2162, 3000, 3228, 3548, 4096]
                             + [rng.randrange(0, 65536) for _ in range(20)]
                             + [len(original) - rng.randrange(1, 65536) for _ in range(21)]))
        exits = {0: 0, 1: 0}
        crashes = 0
        for k, off in enumerate(offsets):
            mutant = os.path.join(tmp, f"m{k}")
            shutil.copytree(ref, mutant, copy_function=os.link)
            path = os.path.join(mutant, "task1.h5")
            os.unlink(path)  # the copy is a hard link: write a new file
            data = bytearray(original)
            data[off] ^= 0xFF
            open(path, "wb").write(data)
            fix_sums(mutant, "task1.h5")
            v = run(["verify", mutant])
            check_clean(f"verify, byte {off} flipped", v)
            exits[v.returncode] += 1
            crashes += v.stdout.count("unreadable HDF5 (the HDF5 library crashed")
            for line in v.stdout.splitlines()[:-1]:
                if not (line.startswith("task1.h5") or line.startswith("manifest.json")):
                    fail(f"verify, byte {off} flipped: a problem line that names no file: {line}")
            i = run(["inspect", path])
            check_clean(f"inspect, byte {off} flipped", i)
            if i.returncode == 1 and f": {path}: " not in i.stderr:
                fail(f"inspect, byte {off} flipped: the error does not name the file: {i.stderr}")
            shutil.rmtree(mutant)
        print(f"{len(offsets)} mutants: verify exit 0 for {exits[0]}, exit 1 for {exits[1]}; "
              f"libhdf5 crashes caught: {crashes}")
        if exits[1] == 0:
            fail("no mutant was found damaged")
        if crashes == 0:
            fail("no mutant crashed libhdf5: the reader process went untested")

        # format_version as an array of 1000 integers: a clean error, no overrun.
        bad = os.path.join(tmp, "array-version.h5")
        shutil.copy(target, bad)
        with h5py.File(bad, "r+") as f:
            del f.attrs["format_version"]
            f.attrs["format_version"] = np.arange(1000, dtype=np.int64)
        p = run(["preview", bad, "--out", os.path.join(tmp, "pv")])
        check_clean("preview of an array format_version", p)
        want = f"mtneuro-pack: {bad}: unsupported format_version (want 1)\n"
        if p.returncode != 1 or p.stderr != want:
            fail(f"preview of an array format_version: exit {p.returncode}, {p.stderr!r}")
        i = run(["inspect", bad])
        check_clean("inspect of an array format_version", i)
        if i.returncode != 1:
            fail(f"inspect of an array format_version: exit {i.returncode}")
        print(f"array format_version: preview and inspect exit 1: {p.stderr.strip()}")

        # class_counts near INT64_MAX: inspect prints, no overflow.
        big = os.path.join(tmp, "big-counts.h5")
        shutil.copy(target, big)
        with h5py.File(big, "r+") as f:
            n = len(f["train"].attrs["class_counts"])
            f["train"].attrs["class_counts"] = np.full(n, np.iinfo(np.int64).max, np.int64)
        i = run(["inspect", big])
        check_clean("inspect of huge class_counts", i)
        if i.returncode != 0 or "9223372036854775807    25.0" not in i.stdout:
            fail(f"inspect of huge class_counts: exit {i.returncode}\n{i.stdout}")
        print("class_counts at INT64_MAX: inspect shows 25.0 % each")
    print("crafted HDF5: all checks passed")


if __name__ == "__main__":
    main()
