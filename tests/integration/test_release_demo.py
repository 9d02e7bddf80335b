"""The Zenodo-ready demo release, end to end ([4/6]): scripts/demo.sh, then `build --archive`
with a warm cache, and everything a downloader or an uploader relies on.

Two full builds only: scripts/demo.sh (cold cache, its own bossdb-mock) and one `build
--archive` against a fresh bossdb-mock on the SAME port (the source URL is recorded in the
files, so the port must match for byte-identical releases) with the demo's cache, now warm.
Every other check reuses these two releases. Tampering works on hard-linked copies, the one
file being damaged replaced by a real copy first, so the originals are never touched (the
final `diff -r` between the two releases would catch it if they were).
"""
import concurrent.futures
import contextlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib

import h5py
import yaml

sys.path.insert(0, os.path.dirname(__file__))
from mocklib import (BUILD_DIR, DEMO, SOURCE_DIR, md5_file, mock_server,  # noqa: E402
                     run_pack, sha256_file, tree_files)

NAME = "mtneuro-demo-1.0.0"
REGIONS = ["cortex", "striatum", "vp", "zi"]
SPLITS = {"train": (110, 379), "val": (380, 409), "test": (420, 470)}
TASKS = {  # name: (kind, depth, excluded regions, classes, counts)
    "task1": ("classification", 1, set(), ["cortex", "striatum", "vp", "zi"],
              {"train": 1076, "val": 116, "test": 200}),
    "task2_2d_4class": ("segmentation", 1, {"zi"}, ["background", "vessel", "cell", "axon"],
                        {"train": 807, "val": 87, "test": 150}),
    "task2_2d_3class": ("segmentation", 1, set(), ["background", "vessel", "cell"],
                        {"train": 1076, "val": 116, "test": 200}),
    "task2_3d_4class": ("segmentation", 8, {"zi"}, ["background", "vessel", "cell", "axon"],
                        {"train": 99, "val": 9, "test": 18}),
    "task2_3d_3class": ("segmentation", 8, set(), ["background", "vessel", "cell"],
                        {"train": 132, "val": 12, "test": 24}),
}
# Task 3 (features): one split "all" of 1440 slices and 5760 target rows.
TASK3 = "task3"
H5_FILES = sorted([f"{t}.h5" for t in TASKS] + [f"{TASK3}.h5", "volumes.h5"])
META_FILES = [".zenodo.json", "CITATION.cff", "README.md", "config.yaml", "croissant.json"]
PNG_FILES = sorted([f"preview_{t}_{s}.png" for t in TASKS for s in SPLITS] +
                   [f"preview_{TASK3}_all.png"])
# Every file of the release but the three that describe the others.
LISTED = sorted(H5_FILES + META_FILES + PNG_FILES)
ALL_FILES = sorted(LISTED + ["manifest.json", "SHA256SUMS", "MD5SUMS"])


def fail(msg):
    raise AssertionError(msg)


def step(msg, t0=[time.monotonic()]):  # noqa: B006 (a deliberate static)
    now = time.monotonic()
    print(f"[{now - t0[0]:6.1f} s] {msg}", flush=True)


# ---- verify ---------------------------------------------------------------------------------

def verify(path):
    proc = run_pack("verify", path, check=False)
    return proc.returncode, proc.stdout.splitlines(), proc.stderr


def expect_ok(path):
    rc, lines, err = verify(path)
    want = (f"{path}: OK: {len(LISTED) + 1} files checked (sizes, SHA-256, MD5), "
            f"{len(H5_FILES)} HDF5 files read in full")
    if rc != 0 or lines != [want]:
        fail(f"verify {path}: exit {rc}, expected 0 and exactly [{want!r}]; got:\n"
             + "\n".join(lines) + err)


def expect_caught(what, path, must_have):
    """verify exits 1, prints every line of must_have (exactly) and the FAILED summary."""
    rc, lines, err = verify(path)
    if rc != 1:
        fail(f"{what}: verify exited {rc}, expected 1:\n" + "\n".join(lines) + err)
    for line in must_have:
        if line not in lines:
            fail(f"{what}: verify did not print {line!r}; it printed:\n" + "\n".join(lines))
    summary = re.compile(re.escape(path) + r": FAILED: (\d+) problems? in \d+ files checked "
                         r"\(\d+ HDF5 files read\)$")
    m = summary.match(lines[-1]) if lines else None
    if m is None:
        fail(f"{what}: last line is not the FAILED summary: {lines[-1:]!r}")
    if int(m.group(1)) != len(lines) - 1:
        fail(f"{what}: summary counts {m.group(1)} problems, {len(lines) - 1} lines printed")
    if not must_have and not lines[0].startswith(path + ": "):
        fail(f"{what}: the problem line does not name {path}: {lines[0]!r}")
    return lines


def fresh_copy(src, dst):
    """A copy of the release whose files are hard links (cheap); see own() before writing."""
    shutil.copytree(src, dst, copy_function=os.link)


def own(path):
    """Replace a hard link by a private copy so that it can be damaged safely."""
    tmp = path + ".own"
    shutil.copyfile(path, tmp)
    os.replace(tmp, path)


def flip_middle_byte(path, private=False):
    if not private:
        own(path)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(size // 2)
        b = f.read(1)
        f.seek(size // 2)
        f.write(bytes([b[0] ^ 0x5A]))


def repack_with_flip(src, dst, member):
    """Copy the tar.gz src to dst, flipping the middle byte of `member` as flip_middle_byte."""
    with tarfile.open(src, "r|gz") as tin, \
            tarfile.open(dst, "w:gz", compresslevel=0, format=tarfile.GNU_FORMAT) as tout:
        found = False
        for m in tin:
            if not m.isfile():
                tout.addfile(m)
            elif m.name == member:
                data = bytearray(tin.extractfile(m).read())
                data[len(data) // 2] ^= 0x5A
                tout.addfile(m, io.BytesIO(data))
                found = True
            else:
                tout.addfile(m, tin.extractfile(m))
    if not found:
        fail(f"{src}: no member {member}")


def digest_change(orig, path):
    """The 12-hex-digit abbreviations verify prints for the manifest's and the file's sha256."""
    return sha256_file(orig)[:12], sha256_file(path)[:12]


# ---- PNG ------------------------------------------------------------------------------------

def png_decode(path):
    """Decode an 8-bit RGB non-interlaced PNG: (width, height, rows of bytes), CRCs checked."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{path}: not a PNG signature")
    pos, ihdr, idat, chunks = 8, None, b"", []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            fail(f"{path}: bad CRC in chunk {kind!r}")
        chunks.append(kind)
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    if chunks[0] != b"IHDR" or chunks[-1] != b"IEND" or pos != len(data):
        fail(f"{path}: chunk order {chunks[:3]}...{chunks[-2:]}, {len(data) - pos} bytes left")
    if b"tIME" in chunks or b"tEXt" in chunks:
        fail(f"{path}: has a tIME/tEXt chunk (not deterministic)")
    w, h, depth, colour, _, _, interlace = ihdr
    if (depth, colour, interlace) != (8, 2, 0):
        fail(f"{path}: bit depth {depth}, colour type {colour}, interlace {interlace}")
    raw = zlib.decompress(idat)
    stride = 3 * w
    if len(raw) != h * (1 + stride):
        fail(f"{path}: {len(raw)} bytes of image data for {w}x{h}, want {h * (1 + stride)}")
    rows, prev = [], bytearray(stride)
    for y in range(h):
        ftype = raw[y * (1 + stride)]
        line = bytearray(raw[y * (1 + stride) + 1:(y + 1) * (1 + stride)])
        if ftype == 0:
            pass
        elif ftype == 2:  # Up: the only filter the writer uses (preview.h)
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        else:
            fail(f"{path}: row {y} uses filter {ftype}, preview.h promises Up (2) only")
        rows.append(line)
        prev = line
    return w, h, rows


def montage_size(task, split):
    """The size preview.h's layout formula gives for the demo's (task, split)."""
    _, depth, excluded, classes, _ = TASKS[task]
    z0, z1 = SPLITS[split]
    per_region = (z1 - z0) // depth
    rows = len([r for r in REGIONS if r not in excluded])
    pad, band, cw, chh = 4, 22, 128 + 12, 128 + 12
    cols = min(4, per_region)
    width = pad + cols * (cw + pad)
    legend = classes if TASKS[task][0] == "classification" else classes[1:]
    lines, x = 1, pad
    for name in legend:
        entry = 14 + 6 + 12 * len(name)
        if x > pad and x + entry > width - pad:
            lines, x = lines + 1, pad
        x += entry + 12
    return width, band + rows * (band + chh) + lines * 18 + pad


# ---- the checks -----------------------------------------------------------------------------

def check_sums_tools(rel):
    for tool, sums in (("sha256sum", "SHA256SUMS"), ("md5sum", "MD5SUMS")):
        proc = subprocess.run([tool, "--strict", "-c", sums], cwd=rel, capture_output=True,
                              text=True)
        if proc.returncode != 0:
            fail(f"{tool} -c {sums} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
        ok = sorted(line[:-4] for line in proc.stdout.splitlines() if line.endswith(": OK"))
        if ok != sorted(LISTED + ["manifest.json"]):
            fail(f"{tool} -c {sums} checked {ok}")


def check_manifest(rel, digests):
    with open(os.path.join(rel, "manifest.json")) as f:
        m = json.load(f)
    for key, want in (("format", "mtneuro-release"), ("manifest_version", 1),
                      ("name", "mtneuro-demo"), ("version", "1.0.0"), ("license", "CC-BY-4.0"),
                      ("bundle_format_version", 1),
                      ("config_sha256", digests["config.yaml"][0])):
        if m.get(key) != want:
            fail(f"manifest.json: {key} is {m.get(key)!r}, want {want!r}")
    if not str(m.get("builder", "")).startswith("mtneuro-pack "):
        fail(f"manifest.json: builder {m.get('builder')!r}")
    # The compressor that made the chunk bytes (configs/demo.yaml: gzip level 4), recorded in
    # the manifest and in every HDF5 file's root attributes.
    compressor = m.get("compressor", "")
    if not re.fullmatch(r"libdeflate 1\.\d+, level 4", compressor):
        fail(f"manifest.json: compressor {compressor!r}")
    for name in H5_FILES:
        with h5py.File(os.path.join(rel, name), "r") as f:
            got = f.attrs.get("compressor")
            if got != compressor:
                fail(f"{name}: root attribute compressor {got!r}, manifest says {compressor!r}")
    paths = [e["path"] for e in m["files"]]
    if paths != LISTED:
        fail(f"manifest.json: files {paths}, want {LISTED}")
    for e in m["files"]:
        sha, md5, size = digests[e["path"]]
        if (e["size"], e["sha256"], e["md5"]) != (size, sha, md5):
            fail(f"manifest.json: {e['path']}: {e['size']} {e['sha256']} {e['md5']}, "
                 f"file {size} {sha} {md5}")
    if "token" in json.dumps(m).lower():
        fail("manifest.json mentions a token")
    tasks = {t["name"]: t for t in m["tasks"]}
    if list(tasks) != list(TASKS) + [TASK3]:
        fail(f"manifest.json: tasks {list(tasks)}")
    t3 = tasks[TASK3]
    split3 = t3["splits"]
    if (t3["kind"], len(split3), split3[0]["name"], split3[0]["count"],
            split3[0]["target_rows"], split3[0]["shape"]) != \
            ("features", 1, "all", 1440, 5760, [1440, 256, 256]):
        fail(f"manifest.json: {TASK3}: {t3}")
    for name, (kind, depth, excluded, classes, counts) in TASKS.items():
        t = tasks[name]
        if (t["file"], t["kind"], t["classes"]) != (f"{name}.h5", kind, classes):
            fail(f"manifest.json: {name}: {t['file']} {t['kind']} {t['classes']}")
        got = {s["name"]: s["count"] for s in t["splits"]}
        if got != counts:
            fail(f"manifest.json: {name}: counts {got}, want {counts}")
        for s in t["splits"]:
            shape = [counts[s["name"]]] + ([] if depth == 1 else [depth]) + [256, 256]
            if s["shape"] != shape or s["z_range"] != list(SPLITS[s["name"]]):
                fail(f"manifest.json: {name} {s['name']}: shape {s['shape']}, "
                     f"z_range {s['z_range']}")
            z0, z1 = SPLITS[s["name"]]
            regions = {r: 0 if r in excluded else (z1 - z0) // depth for r in REGIONS}
            if s["region_counts"] != regions:
                fail(f"manifest.json: {name} {s['name']}: region_counts {s['region_counts']}")
    return m


def check_citation(rel):
    with open(os.path.join(rel, "CITATION.cff")) as f:
        c = yaml.safe_load(f)
    if c.get("cff-version") != "1.2.0":
        fail(f"CITATION.cff: cff-version {c.get('cff-version')!r}")
    for key in ("message", "title", "authors", "version", "license", "references"):
        if not c.get(key):
            fail(f"CITATION.cff: {key} missing or empty")
    if (c["version"], c["license"]) != ("1.0.0", "CC-BY-4.0"):
        fail(f"CITATION.cff: version {c['version']!r}, license {c['license']!r}")
    if len(c["authors"]) != 7 or c["authors"][0] != {"family-names": "Quesada",
                                                     "given-names": "Jorge"}:
        fail(f"CITATION.cff: authors {c['authors']}")
    refs = c["references"]
    if len(refs) != 2 or [r["year"] for r in refs] != [2022, 2020] or \
            not all(r.get("title") and r.get("authors") and r.get("type") for r in refs):
        fail(f"CITATION.cff: references {refs}")


def check_zenodo(rel):
    with open(os.path.join(rel, ".zenodo.json")) as f:
        z = json.load(f)
    if (z.get("upload_type"), z.get("license"), z.get("version")) != \
            ("dataset", "cc-by-4.0", "1.0.0"):
        fail(f".zenodo.json: upload_type/license/version {z.get('upload_type')!r} "
             f"{z.get('license')!r} {z.get('version')!r}")
    if z.get("title") != "MTNeuro demo release (synthetic data from bossdb-mock)":
        fail(f".zenodo.json: title {z.get('title')!r}")
    if not z.get("description") or "bossdb-mock" not in z["description"]:
        fail(".zenodo.json: description missing")
    if [c.get("name") for c in z.get("creators", [])][:1] != ["Quesada, Jorge"] or \
            len(z["creators"]) != 7:
        fail(f".zenodo.json: creators {z.get('creators')}")
    if len(z.get("keywords", [])) != 11 or "HDF5" not in z["keywords"]:
        fail(f".zenodo.json: keywords {z.get('keywords')}")


def check_croissant(rel, digests):
    with open(os.path.join(rel, "croissant.json")) as f:
        c = json.load(f)
    if not isinstance(c.get("@context"), dict) or c["@context"].get("cr") != \
            "http://mlcommons.org/croissant/":
        fail("croissant.json: @context missing or without cr")
    if c.get("@type") != "sc:Dataset":
        fail(f"croissant.json: @type {c.get('@type')!r}")
    for key in ("name", "description", "license", "version"):
        if not c.get(key):
            fail(f"croissant.json: {key} missing")
    if c["version"] != "1.0.0" or c["name"] != "mtneuro-demo":
        fail(f"croissant.json: name {c['name']!r} version {c['version']!r}")
    objs = [d for d in c.get("distribution", []) if d.get("@type") == "cr:FileObject"]
    h5 = sorted(d["contentUrl"] for d in objs if d.get("contentUrl", "").endswith(".h5"))
    if h5 != H5_FILES:
        fail(f"croissant.json: FileObjects for {h5}, want one per .h5: {H5_FILES}")
    for d in objs:
        if d["contentUrl"] not in H5_FILES:
            continue
        if d.get("encodingFormat") != "application/x-hdf5":
            fail(f"croissant.json: {d['contentUrl']}: encodingFormat {d.get('encodingFormat')}")
        if d.get("sha256") != digests[d["contentUrl"]][0]:
            fail(f"croissant.json: {d['contentUrl']}: sha256 {d.get('sha256')} is not the "
                 "file's")


def check_previews(rel):
    for png in PNG_FILES:
        w, h, rows = png_decode(os.path.join(rel, png))
        task, split = os.path.basename(png)[len("preview_"):-4].rsplit("_", 1)
        if task == TASK3:
            if (w, h) != (580, 22 + 4 * (22 + 140) + 4):  # 4 region rows of 4 tiles, no legend
                fail(f"{png}: {w}x{h}")
        elif (w, h) != montage_size(task, split):
            fail(f"{png}: {w}x{h}, the layout formula gives {montage_size(task, split)}")
        if bytes(rows[0][:3]) != bytes([32, 32, 32]):  # the corner is background
            fail(f"{png}: pixel (0, 0) is {tuple(rows[0][:3])}, want (32, 32, 32)")


def check_inspect(rel):
    proc = run_pack("inspect", os.path.join(rel, "task1.h5"))
    out = proc.stdout
    for split, n, z in (("train", 1076, "[110, 379)"), ("val", 116, "[380, 409)"),
                        ("test", 200, "[420, 470)")):
        if f"split {split}: {n} samples, z {z}" not in out:
            fail(f"inspect task1.h5: no line for {split} with {n} samples:\n{out}")
    if not re.search(r"^  classes +cortex, striatum, vp, zi$", out, re.M):
        fail(f"inspect task1.h5: no class names:\n{out}")
    if not re.search(r"^  /train/images +uint8 +\(1076, 256, 256\)", out, re.M):
        fail(f"inspect task1.h5: no /train/images (1076, 256, 256):\n{out}")
    # test split: 30 tiles of empty ROI annotation go to cortex (80 = 50 + 30)
    if not re.search(r"^  cortex +80 +40\.0$", out, re.M):
        fail(f"inspect task1.h5: test class balance missing:\n{out}")


def damaged_copies(tmp, rel, archive):
    """Make every damaged release; returns [(what, path, lines verify must print)]."""
    cases = []
    orig = lambda name: os.path.join(rel, name)  # noqa: E731

    t = os.path.join(tmp, "flip-task1")
    fresh_copy(rel, t)
    flip_middle_byte(os.path.join(t, "task1.h5"))
    a, b = digest_change(orig("task1.h5"), os.path.join(t, "task1.h5"))
    task1_lines = [f"task1.h5: sha256 mismatch (manifest {a}..., file {b}...)",
                   "SHA256SUMS: task1.h5: checksum mismatch",
                   "MD5SUMS: task1.h5: checksum mismatch"]
    cases.append(("task1.h5 byte flipped", t, task1_lines))
    # The same damage inside the archive: the release's .tar.gz re-packed (stored, not
    # compressed, to be quick) with that one byte of task1.h5 flipped.
    tar = os.path.join(tmp, "flip-task1.tar.gz")
    repack_with_flip(archive, tar, f"{NAME}/task1.h5")
    cases.append(("task1.h5 byte flipped, in the archive", tar, task1_lines))

    t = os.path.join(tmp, "delete-task2")
    fresh_copy(rel, t)
    os.unlink(os.path.join(t, "task2_2d_3class.h5"))
    cases.append(("task2_2d_3class.h5 deleted", t, [
        "task2_2d_3class.h5: missing", "SHA256SUMS: task2_2d_3class.h5: missing",
        "MD5SUMS: task2_2d_3class.h5: missing",
        "manifest.json: task2_2d_3class: file task2_2d_3class.h5 is not in the release"]))

    t = os.path.join(tmp, "edit-manifest")
    fresh_copy(rel, t)
    path = os.path.join(t, "manifest.json")
    with open(path) as f:
        text = f.read()
    edited = text.replace('"count": 1076,', '"count": 1075,', 1)
    if edited == text:
        fail("manifest.json has no '\"count\": 1076,' to edit")
    os.unlink(path)  # a hard link: write a new file rather than through the link
    with open(path, "w") as f:
        f.write(edited)
    cases.append(("manifest.json count edited", t, [
        "manifest.json: task1 /train count 1075 in manifest, 1076 in file",
        "SHA256SUMS: manifest.json: checksum mismatch",
        "MD5SUMS: manifest.json: checksum mismatch"]))

    t = os.path.join(tmp, "flip-readme")
    fresh_copy(rel, t)
    flip_middle_byte(os.path.join(t, "README.md"))
    a, b = digest_change(orig("README.md"), os.path.join(t, "README.md"))
    cases.append(("README.md byte flipped", t, [
        f"README.md: sha256 mismatch (manifest {a}..., file {b}...)",
        "SHA256SUMS: README.md: checksum mismatch", "MD5SUMS: README.md: checksum mismatch"]))

    # One byte of the compressed stream: the gzip check (or inflate) fails; verify names the
    # archive and checks nothing more.
    bad = os.path.join(tmp, "flipped.tar.gz")
    shutil.copyfile(archive, bad)
    flip_middle_byte(bad, private=True)
    cases.append(("archive byte flipped", bad, []))
    return cases


def main():
    with tempfile.TemporaryDirectory() as tmp:
        cache = os.path.join(tmp, "cache")
        demo_out, out = os.path.join(tmp, "demo"), os.path.join(tmp, "out")

        # 1. scripts/demo.sh: a full build (cold cache) and verify, with its own mock.
        env = dict(os.environ, DEMO_OUT=demo_out, DEMO_CACHE=cache, MTP_BUILD_DIR=BUILD_DIR)
        proc = subprocess.run(["bash", os.path.join(SOURCE_DIR, "scripts", "demo.sh")],
                              env=env, capture_output=True, text=True, timeout=600)
        demo_rel = os.path.join(demo_out, NAME)
        if proc.returncode != 0:
            fail(f"scripts/demo.sh exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        ok = f"{demo_rel}: OK: {len(LISTED) + 1} files checked (sizes, SHA-256, MD5), " \
             f"{len(H5_FILES)} HDF5 files read in full"
        if ok not in proc.stdout.splitlines() or \
                f"demo: a verified release is in {demo_rel}" not in proc.stdout:
            fail(f"scripts/demo.sh did not print the verified line:\n{proc.stdout}")
        m = re.search(r"serving synthetic prasad2020 at (http://127\.0\.0\.1:(\d+))",
                      proc.stdout)
        if m is None:
            fail(f"scripts/demo.sh did not print the mock's URL:\n{proc.stdout}")
        url, port = m.group(1), int(m.group(2))
        step(f"demo.sh: verified release from {url}")

        # 2. The same build again with the warm cache, a new mock on the same port, --archive.
        stack = contextlib.ExitStack()
        try:
            url2, log = stack.enter_context(mock_server(port=port))
        except AssertionError:
            # Someone took the port meanwhile: fall back to a second build from one mock.
            print(f"note: port {port} could not be bound again; comparing two builds of a "
                  "new mock instead of demo.sh's release", flush=True)
            url2, log = stack.enter_context(mock_server())
        with stack:
            run_pack("build", DEMO, "--out", out, "--cache", cache, "--source-url", url2,
                     "--archive", "--quiet")
            with open(log) as f:
                cutouts = [json.loads(line)["path"] for line in f if "/cutout/" in line]
            same_rel = demo_rel
            if url2 != url:
                run_pack("build", DEMO, "--out", os.path.join(tmp, "out2"), "--cache", cache,
                         "--source-url", url2, "--quiet")
                same_rel = os.path.join(tmp, "out2", NAME)
        if cutouts and url2 == url:  # the cache is per server URL: warm only on that port
            fail(f"a warm-cache build fetched {len(cutouts)} cutouts, e.g. {cutouts[0]}")
        rel = os.path.join(out, NAME)
        archive = os.path.join(out, NAME + ".tar.gz")
        if sorted(os.listdir(out)) != [NAME, NAME + ".tar.gz"]:
            fail(f"build --archive wrote {sorted(os.listdir(out))}")
        if tree_files(rel) != ALL_FILES:
            fail(f"release files {tree_files(rel)}, want {ALL_FILES}")
        step("build --archive (warm cache, no cutout fetched)")

        # 3. Inspect what was written.
        digests = {p: (sha256_file(os.path.join(rel, p)), md5_file(os.path.join(rel, p)),
                       os.path.getsize(os.path.join(rel, p))) for p in LISTED}
        with open(os.path.join(rel, "config.yaml"), "rb") as a, open(DEMO, "rb") as b:
            if a.read() != b.read():
                fail("config.yaml in the release differs from configs/demo.yaml")
        # verify runs two at a time (the other core is often idle once the other tests end).
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
        good = [pool.submit(expect_ok, p) for p in (rel, archive)]
        with tarfile.open(archive) as tf:
            names = sorted(i.name for i in tf.getmembers() if i.isfile())
            meta = {(i.mtime, i.uid, i.gid, i.uname, i.gname) for i in tf.getmembers()}
        if names != [f"{NAME}/{p}" for p in ALL_FILES]:
            fail(f"archive members {names}")
        if meta != {(0, 0, 0, "", "")}:
            fail(f"archive members carry mtime/uid/gid/user names {meta}")
        check_sums_tools(rel)
        check_manifest(rel, digests)
        check_citation(rel)
        check_zenodo(rel)
        check_croissant(rel, digests)
        step("SHA256SUMS, MD5SUMS, manifest, CITATION.cff, .zenodo.json, croissant.json")
        check_previews(rel)
        check_inspect(rel)
        step("previews decode with the layout's sizes; inspect")

        # 4. Each kind of damage, each on its own copy, is caught.
        cases = damaged_copies(tmp, rel, archive)
        for f in good:
            f.result()
        step("verify: directory and archive OK")
        caught = [pool.submit(expect_caught, *case) for case in cases]
        for case, f in zip(cases, caught):
            lines = f.result()
            print(f"  {case[0]}: " + " | ".join(lines))
        pool.shutdown()
        step("verify catches: task1.h5 flip (directory and archive), deletion, manifest edit, "
             "README.md flip, damaged archive")

        # 5. The demo's release and this one: identical directories (and untouched by 4).
        proc = subprocess.run(["diff", "-r", same_rel, rel], capture_output=True, text=True)
        if proc.returncode != 0:
            fail(f"diff -r {same_rel} {rel}: exit {proc.returncode}\n{proc.stdout[:2000]}")
        step(f"diff -r: {os.path.relpath(same_rel, tmp)} == warm-cache build release")
    print("release demo: all checks passed")


if __name__ == "__main__":
    main()
