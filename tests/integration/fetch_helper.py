"""Helpers for tests/integration/test_fetch_*.sh: read the mock's log and the block cache.

Usage: fetch_helper.py COMMAND ARGS...   (run with /usr/bin/python3: needs numpy, blosc, yaml)
  cutouts LOG [FROM]          cutout requests in LOG from line FROM (0-based) on
  distinct LOG [FROM]         distinct cutout paths among them
  log-boxes LOG [FROM]        the boxes requested, one 'chan x[a,b) y[a,b) z[a,b)' per line, sorted
  voxels LOG [FROM]           voxels of the cutouts answered 200, summed; fails if two of
                              them share a voxel (a voxel downloaded twice)
  lines LOG                   lines in LOG
  cache-boxes DIR             the boxes in a cache, same format, sorted
  check-data DIR URL N        N blocks of the cache (spread over channels) equal the mock's voxels
  tree DIR                    'relative-path sha256' of every block file, below v1/<server>/
  stored-dtypes DIR           'chan dtype stored-dtype count' per kind of block file
  edit-config SRC DST K=V...  copy a YAML config setting keys (dotted paths; V is YAML)
  flip-byte FILE OFFSET       invert one byte (negative OFFSET counts from the end)
"""
import glob
import hashlib
import json
import os
import re
import struct
import sys
import urllib.request

BLK1_HEADER = 108
BLK2_HEADER = 112
DTYPES = {1: "uint8", 2: "uint16", 3: "uint64"}
CUTOUT = re.compile(r"^/v1/cutout/([^/]+)/([^/]+)/([^/]+)/(\d+)/(\d+):(\d+)/(\d+):(\d+)/(\d+):(\d+)/?$")
BLOCK_FILE = re.compile(r"x(\d+)-(\d+)_y(\d+)-(\d+)_z(\d+)-(\d+)\.(\w+)\.blk$")


def log_entries(log, start=0):
    with open(log) as f:
        lines = f.readlines()
    return [json.loads(line) for line in lines[start:] if line.strip()]


def cutout_paths(log, start=0):
    return [e["path"] for e in log_entries(log, start) if e["path"].startswith("/v1/cutout/")]


def box_text(chan, x0, x1, y0, y1, z0, z1):
    return f"{chan} x[{x0},{x1}) y[{y0},{y1}) z[{z0},{z1})"


def log_boxes(log, start=0):
    out = []
    for p in cutout_paths(log, start):
        m = CUTOUT.match(p)
        assert m, p
        out.append(box_text(m.group(3), *m.groups()[4:]))
    return sorted(out)


def answered_voxels(log, start=0):
    boxes = []
    for e in log_entries(log, start):
        m = CUTOUT.match(e["path"])
        if m is None or e["status"] != 200:
            continue
        v = [int(g) for g in m.groups()[4:]]
        boxes.append((m.group(1, 2, 3), v))
    total = 0
    for i, (chan, v) in enumerate(boxes):
        for other, w in boxes[:i]:
            if other == chan and all(max(v[2 * a], w[2 * a]) < min(v[2 * a + 1], w[2 * a + 1])
                                     for a in range(3)):
                sys.exit(f"fetch_helper: {'/'.join(chan)} {v} and {w} overlap")
        total += (v[1] - v[0]) * (v[3] - v[2]) * (v[5] - v[4])
    return total


def block_files(cache):
    return sorted(glob.glob(os.path.join(cache, "**", "*.blk"), recursive=True))


def block_info(path):
    """(coll, exp, chan, res, box, dtype) from a cache path and its header."""
    parts = path.split(os.sep)
    coll, exp, chan, res = parts[-5], parts[-4], parts[-3], int(parts[-2][3:])
    m = BLOCK_FILE.search(parts[-1])
    box = tuple(int(v) for v in m.groups()[:6])
    return coll, exp, chan, res, box, m.group(7)


def read_header(data, path, file_size=None):
    """The header of a .blk file (format in src/cache.c) at the start of data (the whole
    file unless file_size is given): a dict, and the header's length.

    Format 2 ("MTPBLK2\\n") has a stored dtype (uint8 when the block was narrowed);
    format 1 ("MTPBLK1\\n", still read by the cache) stores every block at its own dtype.
    """
    if data[:8] == b"MTPBLK2\n":
        dtype, stored_dtype = struct.unpack_from("<II", data, 8)
        off, length = 16, BLK2_HEADER
    else:
        assert data[:8] == b"MTPBLK1\n", path
        dtype, = struct.unpack_from("<I", data, 8)
        stored_dtype = dtype
        off, length = 12, BLK1_HEADER
    box = struct.unpack_from("<6q", data, off)
    nbytes, = struct.unpack_from("<Q", data, off + 48)
    sha = data[off + 56:off + 88]
    stored, = struct.unpack_from("<Q", data, off + 88)
    assert stored == (len(data) if file_size is None else file_size) - length, path
    return {"dtype": DTYPES[dtype], "stored_dtype": DTYPES[stored_dtype], "box": box,
            "nbytes": nbytes, "sha": sha}, length


def read_block(path):
    """Decode a .blk file and check its SHA-256 (of the bytes as stored); the voxels at the
    block's own dtype (a narrowed block is widened back), and the box."""
    import blosc
    import numpy as np
    with open(path, "rb") as f:
        data = f.read()
    h, length = read_header(data, path)
    raw = blosc.decompress(data[length:])
    assert len(raw) == h["nbytes"] and hashlib.sha256(raw).digest() == h["sha"], path
    x0, x1, y0, y1, z0, z1 = h["box"]
    voxels = np.frombuffer(raw, dtype=h["stored_dtype"]).astype(h["dtype"])
    return voxels.reshape(z1 - z0, y1 - y0, x1 - x0), h["box"]


def stored_dtypes(cache):
    """'chan dtype stored_dtype count' per channel and kind of block, sorted."""
    counts = {}
    for p in block_files(cache):
        with open(p, "rb") as f:
            h, _ = read_header(f.read(BLK2_HEADER), p, os.path.getsize(p))
        k = (block_info(p)[2], h["dtype"], h["stored_dtype"])
        counts[k] = counts.get(k, 0) + 1
    return [f"{c} {d} {s} {n}" for (c, d, s), n in sorted(counts.items())]


def mock_cutout(url, coll, exp, chan, res, box, dtype):
    import blosc
    import numpy as np
    x0, x1, y0, y1, z0, z1 = box
    req = urllib.request.Request(
        f"{url}/v1/cutout/{coll}/{exp}/{chan}/{res}/{x0}:{x1}/{y0}:{y1}/{z0}:{z1}/",
        headers={"Authorization": "Token public", "Accept": "application/blosc"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        body = resp.read()
    return np.frombuffer(blosc.decompress(body), dtype=dtype).reshape(z1 - z0, y1 - y0, x1 - x0)


def check_data(cache, url, n):
    files = block_files(cache)
    by_chan = {}
    for p in files:
        by_chan.setdefault(block_info(p)[2], []).append(p)
    picked = []
    per = max(1, n // max(1, len(by_chan)))
    for chan in sorted(by_chan):
        lst = by_chan[chan]
        step = max(1, len(lst) // per)
        picked += lst[::step][:per]
    checked = 0
    for p in picked:
        coll, exp, chan, res, box, dtype = block_info(p)
        got, hbox = read_block(p)
        assert hbox == box, (p, hbox)
        want = mock_cutout(url, coll, exp, chan, res, box, dtype)
        if not (got == want).all():
            print(f"data differs: {p}", file=sys.stderr)
            return 1
        checked += 1
    print(checked)
    return 0


def tree(cache):
    for p in block_files(cache):
        rel = os.path.relpath(p, cache).split(os.sep)[2:]  # drop v1/<server hash>
        with open(p, "rb") as f:
            print("/".join(rel), hashlib.sha256(f.read()).hexdigest())


def edit_config(src, dst, assignments):
    import yaml
    with open(src) as f:
        cfg = yaml.safe_load(f)
    for a in assignments:
        key, value = a.split("=", 1)
        node = cfg
        parts = key.split(".")
        for k in parts[:-1]:
            node = node[k]
        node[parts[-1]] = yaml.safe_load(value)
    with open(dst, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)


def flip_byte(path, offset):
    with open(path, "r+b") as f:
        size = f.seek(0, 2)
        pos = offset if offset >= 0 else size + offset
        f.seek(pos)
        b = f.read(1)
        f.seek(pos)
        f.write(bytes([b[0] ^ 0xFF]))


def main(argv):
    cmd, args = argv[1], argv[2:]
    start = int(args[1]) if len(args) > 1 and cmd in ("cutouts", "distinct", "log-boxes", "voxels") else 0
    if cmd == "cutouts":
        print(len(cutout_paths(args[0], start)))
    elif cmd == "distinct":
        print(len(set(cutout_paths(args[0], start))))
    elif cmd == "log-boxes":
        print("\n".join(log_boxes(args[0], start)))
    elif cmd == "voxels":
        print(answered_voxels(args[0], start))
    elif cmd == "lines":
        with open(args[0]) as f:
            print(sum(1 for _ in f))
    elif cmd == "cache-boxes":
        print("\n".join(sorted(box_text(block_info(p)[2], *block_info(p)[4])
                               for p in block_files(args[0]))))
    elif cmd == "check-data":
        return check_data(args[0], args[1], int(args[2]))
    elif cmd == "tree":
        tree(args[0])
    elif cmd == "stored-dtypes":
        print("\n".join(stored_dtypes(args[0])))
    elif cmd == "edit-config":
        edit_config(args[0], args[1], args[2:])
    elif cmd == "flip-byte":
        flip_byte(args[0], int(args[1]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
