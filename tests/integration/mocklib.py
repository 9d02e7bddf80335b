"""Helpers for integration tests: run bossdb-mock and mtneuro-pack, read cutouts directly."""
import contextlib
import hashlib
import os
import re
import subprocess
import tempfile
import urllib.request

import blosc
import numpy as np

BUILD_DIR = os.environ.get("MTP_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
SOURCE_DIR = os.environ.get("MTP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
PACK = os.path.join(BUILD_DIR, "mtneuro-pack")
MOCK = os.path.join(BUILD_DIR, "bossdb-mock")
DEMO = os.path.join(SOURCE_DIR, "configs", "demo.yaml")

CHANNELS = {
    "image": ("prasad", "prasad2020", "image", np.uint8),
    "pixel_labels": ("prasad", "prasad_analysis", "pixel_labels", np.uint64),
    "roi_labels": ("prasad", "prasad_analysis", "roi_labels", np.uint64),
}
REGIONS = {  # name: (x0, x1, y0, y1), config order
    "cortex": (4600, 4856, 900, 1156),
    "striatum": (3700, 3956, 500, 756),
    "vp": (3063, 3319, 850, 1106),
    "zi": (1543, 1799, 650, 906),
}
Z = (110, 470)


@contextlib.contextmanager
def mock_server(*args, port=0):
    """Start bossdb-mock on `port` (0: a free one); yield (url, log_path)."""
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "mock.log")
        proc = subprocess.Popen([MOCK, "--port", str(port), "--log", log, *args],
                                stdout=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
            assert m, f"bossdb-mock did not announce a port: {line!r}"
            yield f"http://127.0.0.1:{m.group(1)}", log
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def cutout(url, channel, x, y, z):
    """The voxels of a box straight from the mock, as the official client reads them."""
    coll, exp, chan, dtype = CHANNELS[channel]
    path = f"{url}/v1/cutout/{coll}/{exp}/{chan}/0/{x[0]}:{x[1]}/{y[0]}:{y[1]}/{z[0]}:{z[1]}/"
    req = urllib.request.Request(path, headers={"Authorization": "Token public",
                                                "Accept": "application/blosc"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        body = resp.read()
    arr = np.frombuffer(blosc.decompress(body), dtype=dtype)
    return arr.reshape(z[1] - z[0], y[1] - y[0], x[1] - x[0])


def region_cube(url, channel, region):
    x0, x1, y0, y1 = REGIONS[region]
    return cutout(url, channel, (x0, x1), (y0, y1), Z)


def run_pack(*args, check=True, env=None):
    proc = subprocess.run([PACK, *args], capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"mtneuro-pack {' '.join(args)} exited {proc.returncode}:\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def md5_file(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_files(root):
    """Relative paths of every file under root, sorted (hidden files included)."""
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.relpath(os.path.join(d, f), root) for f in files]
    return sorted(out)
