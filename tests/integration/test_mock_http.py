#!/usr/bin/python3
"""bossdb-mock over real HTTP: metadata, cutouts, errors, aliases, auth and the log.

Run by CTest with MTP_BUILD_DIR set; uses only the Python standard library plus numpy and
blosc (Debian's /usr/bin/python3). The client side is written like the official one:
Authorization: Token public, Accept: application/blosc, blosc.decompress, np.frombuffer.
"""
import concurrent.futures
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import blosc
import numpy as np

BUILD = os.environ.get("MTP_BUILD_DIR", "build")
MOCK = os.path.join(BUILD, "bossdb-mock")
TOKEN = "s3cret-token-xyz"
WRONG = "wrong-token-abc"

FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what)


def start(*args):
    proc = subprocess.Popen([MOCK, "--port", "0", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("listening on http://127.0.0.1:"):
        proc.kill()
        raise RuntimeError("bad first line %r, stderr %r" % (line, proc.stderr.read()))
    return proc, line.strip()[len("listening on "):]


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def get(base, path, token="public", accept="application/blosc"):
    """(status, headers, body) of a GET; token None sends no Authorization header."""
    headers = {"Accept": accept, "User-Agent": "mtp-test/1.0"}
    if token is not None:
        headers["Authorization"] = "Token " + token
    req = urllib.request.Request(base + path, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def cutout(base, chan, x, y, z, dtype):
    exp = "prasad2020" if chan == "image" else "prasad_analysis"
    path = "/v1/cutout/prasad/%s/%s/0/%d:%d/%d:%d/%d:%d/?access-mode=no-cache" % (
        exp, chan, x[0], x[1], y[0], y[1], z[0], z[1])
    status, headers, body = get(base, path)
    check(status == 200, "cutout %s status %d" % (path, status))
    check(headers.get("Content-Type") == "application/blosc", "cutout content type")
    arr = np.frombuffer(blosc.decompress(body), dtype=dtype)
    return arr.reshape(z[1] - z[0], y[1] - y[0], x[1] - x[0]), body


def expect_json(base, path, status, body, token="public"):
    got_status, headers, raw = get(base, path, token=token)
    check(got_status == status, "%s: status %d, want %d" % (path, got_status, status))
    check(headers.get("Content-Type") == "application/json",
          "%s: content type %s" % (path, headers.get("Content-Type")))
    try:
        got = json.loads(raw)
    except ValueError:
        got = raw
    check(got == body, "%s: body %r, want %r" % (path, got, body))
    return raw


def expect_html(base, path, status, token="public"):
    got_status, headers, raw = get(base, path, token=token)
    check(got_status == status, "%s: status %d, want %d" % (path, got_status, status))
    check(headers.get("Content-Type", "").startswith("text/html"),
          "%s: content type %s" % (path, headers.get("Content-Type")))
    return raw


def test_metadata(base):
    status, _, raw = get(base, "/v1/collection/prasad/experiment/prasad2020/")
    exp = json.loads(raw)
    check(status == 200, "experiment status")
    want = {"channels": ["image"], "name": "prasad2020", "public": True,
            "collection": "prasad", "coord_frame": "prasad_prasad2020",
            "num_hierarchy_levels": 8, "hierarchy_method": "isotropic",
            "num_time_samples": 1, "time_step": None, "time_step_unit": ""}
    for k, v in want.items():
        check(exp.get(k) == v, "experiment %s = %r" % (k, exp.get(k)))
    check(isinstance(exp.get("description"), str) and isinstance(exp.get("creator"), str),
          "experiment description/creator")
    _, _, raw = get(base, "/v1/collection/prasad/experiment/prasad_analysis")
    check(json.loads(raw)["channels"] == ["pixel_labels", "roi_labels"], "analysis channels")

    _, _, raw = get(base, "/v1/coord/prasad_prasad2020/")
    frame = json.loads(raw)
    want = {"name": "prasad_prasad2020", "x_start": 0, "x_stop": 5805, "y_start": 0,
            "y_stop": 1420, "z_start": 0, "z_stop": 720, "voxel_unit": "micrometers"}
    for k, v in want.items():
        check(frame.get(k) == v, "coord %s = %r" % (k, frame.get(k)))
    for k in ("x_voxel_size", "y_voxel_size", "z_voxel_size"):
        check(isinstance(frame[k], float) and frame[k] == 1.17, "coord %s" % k)
    check(b'"x_voxel_size":1.17' in raw, "voxel size printed as 1.17: %r" % raw[:200])

    for exp_name, chan, ctype, dtype in (("prasad2020", "image", "image", "uint8"),
                                         ("prasad_analysis", "pixel_labels", "annotation",
                                          "uint64"),
                                         ("prasad_analysis", "roi_labels", "annotation",
                                          "uint64")):
        status, _, raw = get(base, "/v1/collection/prasad/experiment/%s/channel/%s/" %
                             (exp_name, chan))
        ch = json.loads(raw)
        check(status == 200, "channel %s status" % chan)
        want = {"name": chan, "public": True, "experiment": exp_name,
                "default_time_sample": 0, "type": ctype, "base_resolution": 0,
                "datatype": dtype, "downsample_status": "DOWNSAMPLED", "sources": [],
                "related": []}
        for k, v in want.items():
            check(ch.get(k) == v, "channel %s %s = %r" % (chan, k, ch.get(k)))
        for k in ("description", "creator", "storage_type", "bucket", "cv_path"):
            check(k in ch, "channel %s has %s" % (chan, k))

    _, _, raw = get(base, "/v1/downsample/prasad/prasad_analysis/roi_labels/")
    ds = json.loads(raw)
    check(ds["status"] == "DOWNSAMPLED" and ds["num_hierarchy_levels"] == 8, "downsample")
    check(sorted(ds["extent"]) == [str(i) for i in range(8)], "downsample levels")
    check(ds["extent"]["0"] == [5805, 1420, 720], "extent 0")
    check(ds["extent"]["1"] == [2903, 710, 360], "extent 1 (ceil halving)")
    check(ds["extent"]["7"] == [46, 12, 6], "extent 7")
    check(ds["voxel_size"]["0"] == [1.17] * 3 and ds["voxel_size"]["3"] == [9.36] * 3,
          "voxel sizes")
    check(all(ds["cuboid_size"][str(i)] == [512, 512, 16] for i in range(8)), "cuboids")


def test_cutouts(base):
    x, y, z = (3000, 3100), (800, 880), (455, 465)
    for chan, dtype in (("image", np.uint8), ("pixel_labels", np.uint64),
                        ("roi_labels", np.uint64)):
        whole, body = cutout(base, chan, x, y, z, dtype)
        # Header: blosc1 format version 2, typesize = the bit depth, sizes true.
        check(body[0] == 2, "%s version byte %d" % (chan, body[0]))
        check(body[3] == (8 if dtype == np.uint8 else 64), "%s typesize %d" % (chan, body[3]))
        check(int.from_bytes(body[4:8], "little") == whole.nbytes, "%s nbytes" % chan)
        check(int.from_bytes(body[12:16], "little") == len(body), "%s cbytes" % chan)
        # Eight smaller cutouts, uneven, assembled, give the same box.
        assembled = np.zeros_like(whole)
        xs, ys, zs = (3000, 3037, 3100), (800, 801, 880), (455, 460, 465)
        for i in range(8):
            bx = (xs[i & 1], xs[(i & 1) + 1])
            by = (ys[(i >> 1) & 1], ys[((i >> 1) & 1) + 1])
            bz = (zs[i >> 2], zs[(i >> 2) + 1])
            part, _ = cutout(base, chan, bx, by, bz, dtype)
            assembled[bz[0] - z[0]:bz[1] - z[0], by[0] - y[0]:by[1] - y[0],
                      bx[0] - x[0]:bx[1] - x[0]] = part
        check(np.array_equal(whole, assembled), "%s: whole == 8 parts" % chan)
        if chan == "pixel_labels":
            check(int(whole.max()) <= 3, "pixel codes <= 3")
        if chan == "roi_labels":
            check(not whole[5:].any(), "roi empty for z >= 460")
            check(whole[:5].all(), "roi set below 460 here")

    # Region tiles over HTTP: the roi mode is the region's code.
    for name, rx, ry, code in (("cortex", 4600, 900, 1), ("striatum", 3700, 500, 2),
                               ("vp", 3063, 850, 4), ("zi", 1543, 650, 5)):
        tile, _ = cutout(base, "roi_labels", (rx, rx + 256), (ry, ry + 256), (200, 201),
                         np.uint64)
        check(np.bincount(tile.ravel().astype(np.int64)).argmax() == code,
              "%s roi mode" % name)

    # Trailing slash optional, /latest/ alias, query ignored: identical bytes.
    p = "/cutout/prasad/prasad2020/image/0/10:20/30:40/50:60"
    bodies = [get(base, "/v1" + p + "/")[2], get(base, "/v1" + p)[2],
              get(base, "/latest" + p + "/?access-mode=cache&foo=bar")[2],
              get(base, "/latest" + p, token=None)[2]]
    check(all(b == bodies[0] for b in bodies), "aliases give the same body")
    check(len(blosc.decompress(bodies[0])) == 1000, "10x10x10 uint8")

    # Several clients at once, each over its own connection.
    def fetch(i):
        return cutout(base, "pixel_labels", (1000 + 64 * i, 1064 + 64 * i), (200, 264),
                      (100, 132), np.uint64)[0]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        parts = list(pool.map(fetch, range(8)))
    row, _ = cutout(base, "pixel_labels", (1000, 1512), (200, 264), (100, 132), np.uint64)
    check(np.array_equal(np.concatenate(parts, axis=2), row), "8 parallel cutouts agree")

    # Keep-alive: many requests on one connection.
    host, port = base[len("http://"):].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    for i in range(5):
        conn.request("GET", "/v1/cutout/prasad/prasad2020/image/0/0:8/0:8/%d:%d/" % (i, i + 1),
                     headers={"Authorization": "Token public"})
        r = conn.getresponse()
        check(r.status == 200 and len(blosc.decompress(r.read())) == 64, "keep-alive %d" % i)
    conn.close()


def test_errors(base):
    c = "/v1/cutout/prasad/"
    expect_json(base, "/v1/cutout/foo/prasad2020/image/0/0:10/0:10/0:10/", 404,
                {"status": 404, "code": 4000, "message": "Collection foo not found"})
    expect_json(base, c + "nope/image/0/0:10/0:10/0:10/", 404,
                {"status": 404, "code": 4000, "message": "Experiment nope not found"})
    expect_json(base, c + "prasad_analysis/image/0/0:10/0:10/0:10/", 404,
                {"status": 404, "code": 4000, "message": "Channel image not found"})
    expect_json(base, "/v1/collection/foo/experiment/prasad2020/", 404,
                {"status": 404, "code": 4000, "message": "Collection foo not found"})
    expect_json(base, "/v1/collection/prasad/experiment/X/", 404,
                {"status": 404, "code": 4000, "message": "Experiment X not found"})
    expect_json(base, "/v1/collection/prasad/experiment/prasad2020/channel/X", 404,
                {"status": 404, "code": 4000, "message": "Channel X not found"})
    expect_json(base, "/v1/downsample/prasad/prasad2020/X/", 404,
                {"status": 404, "code": 4000, "message": "Channel X not found"})
    raw = expect_json(base, c + "prasad2020/image/0/0:6000/0:10/0:10/", 400,
                      {"status": 400, "code": 1001,
                       "message": "Incorrect cutout arguments 0/0:6000/0:10/0:10"})
    check(raw == b'{"status": 400, "code": 1001, "message": '
                 b'"Incorrect cutout arguments 0/0:6000/0:10/0:10"}', "boss error bytes")
    expect_json(base, c + "prasad2020/image/0/0:10/5:5/0:10/", 400,
                {"status": 400, "code": 1001,
                 "message": "Incorrect cutout arguments 0/0:10/5:5/0:10"})
    expect_json(base, c + "prasad2020/image/0/0:10/0:10/700:721/", 400,
                {"status": 400, "code": 1001,
                 "message": "Incorrect cutout arguments 0/0:10/0:10/700:721"})
    expect_json(base, c + "prasad2020/image/9/0:10/0:10/0:10/", 400,
                {"status": 400, "code": 1002,
                 "message": "Invalid resolution 9. The resolution has to be within 0 and 8"})
    expect_json(base, c + "prasad2020/image/3/0:10/0:10/0:10/", 400,
                {"status": 400, "code": 1002,
                 "message": "Invalid resolution 3. The resolution has to be within 0 and 1"})
    big = "Cutout request is over 500MB when uncompressed. Reduce cutout dimensions."
    expect_json(base, c + "prasad_analysis/pixel_labels/0/0:4000/0:1420/0:400/", 413,
                {"status": 413, "code": 2000, "message": big})
    # One slice past the cap: 5805*1420*34 uint64 voxels weigh 560,530,800 (33 slices would
    # weigh 544,045,... and pass); 67 uint8 slices weigh 552,288,... (66 would pass).
    expect_json(base, c + "prasad_analysis/roi_labels/0/0:5805/0:1420/0:34/", 413,
                {"status": 413, "code": 2000, "message": big})
    expect_json(base, c + "prasad2020/image/0/0:5805/0:1420/0:67/", 413,
                {"status": 413, "code": 2000, "message": big})
    for p in ("/v1/collection/prasad/experiment/prasad2020/",
              "/v1/collection/prasad/experiment/prasad2020/channel/image/",
              "/v1/coord/prasad_prasad2020/", "/v1/downsample/prasad/prasad2020/image/"):
        expect_json(base, p, 401, {"detail": "Invalid token."}, token=WRONG)
    expect_html(base, c + "prasad2020/image/0/0:10/0:10/0:10/", 500, token=WRONG)
    for p in ("/v1/nothing/", "/v2/coord/prasad_prasad2020/",
              c + "prasad2020/image/0/0:-1/0:10/0:10/", c + "prasad2020/image/0/5/0:10/0:10/",
              c + "prasad2020/image/10/0:10/0:10/0:10/", c + "prasad2020/image/0/0:10/0:10/",
              "/v1//coord/prasad_prasad2020/", "/"):
        body = expect_html(base, p, 404)
        check(b"Not Found" in body, "%s: HTML not found page" % p)
    # The configured token is accepted; POST is not allowed.
    status, _, _ = get(base, "/v1/coord/prasad_prasad2020/", token=TOKEN)
    check(status == 200, "configured token accepted")
    req = urllib.request.Request(base + "/v1/coord/prasad_prasad2020/", data=b"x",
                                 method="POST")
    try:
        urllib.request.urlopen(req, timeout=10)
        check(False, "POST refused")
    except urllib.error.HTTPError as e:
        check(e.code == 405, "POST gives 405")


def test_log(log_path):
    with open(log_path) as f:
        text = f.read()
    check(TOKEN not in text and WRONG not in text, "no token value in the log")
    lines = [json.loads(line) for line in text.splitlines()]
    check(len(lines) > 50, "log has one line per request (%d)" % len(lines))
    keys = ["method", "path", "query", "status", "fault", "bytes", "accept", "user_agent",
            "auth", "t_ms"]
    check(all(list(entry) == keys for entry in lines), "log keys in order")
    first = lines[0]
    check(first["method"] == "GET" and first["path"] ==
          "/v1/collection/prasad/experiment/prasad2020/", "first log line %r" % first)
    check(first["status"] == 200 and first["fault"] is None and first["auth"] is True,
          "first line fields")
    check(first["user_agent"] == "mtp-test/1.0" and first["accept"] == "application/blosc",
          "first line headers")
    cut = [e for e in lines if e["query"] == "access-mode=no-cache"]
    check(cut and all(e["bytes"] > 16 for e in cut), "cutout lines have bytes")
    anon = [e for e in lines if e["path"] == "/latest/cutout/prasad/prasad2020/image/0/10:20/"
            "30:40/50:60"]
    check(len(anon) == 1 and anon[0]["auth"] is False and anon[0]["query"] == "",
          "anonymous line %r" % anon)
    check(any(e["status"] == 401 and e["auth"] is True for e in lines), "401 logged")
    check(any(e["status"] == 413 for e in lines), "413 logged")


def test_cli():
    for args, msg in ((["--port", "abc"], "--port"), (["--fail-kinds", "bogus"], "bogus"),
                      (["--fail-rate", "2"], "--fail-rate"), (["--wat"], "--wat"),
                      (["--seed"], "--seed"), (["--cache-mb", "8193"], "--cache-mb"),
                      (["--cache-mb", "-1"], "--cache-mb")):
        p = subprocess.run([MOCK, *args], capture_output=True, text=True, timeout=10)
        check(p.returncode == 2, "%s exits 2 (got %d)" % (args, p.returncode))
        check(p.stdout == "" and p.stderr.count("\n") == 1 and msg in p.stderr,
              "%s: one-line error %r" % (args, p.stderr))
    p = subprocess.run([MOCK, "--help"], capture_output=True, text=True, timeout=10)
    check(p.returncode == 0 and "usage: bossdb-mock" in p.stdout, "--help")
    check("--cache-mb N" in p.stdout, "--help lists --cache-mb")


def test_timing(base):
    path = ("/v1/cutout/prasad/prasad_analysis/pixel_labels/0/3063:3319/850:1106/110:470/"
            "?access-mode=no-cache")
    t0 = time.monotonic()
    status, _, body = get(base, path)
    t1 = time.monotonic()
    status2, _, body2 = get(base, path)
    t2 = time.monotonic()
    check(status == 200 and body == body2, "big cutout")
    check(len(blosc.decompress(body)) == 360 * 256 * 256 * 8, "big cutout size")
    print("timing: 360x256x256 uint64 cutout %.3f s first, %.3f s cached, %d bytes body" %
          (t1 - t0, t2 - t1, len(body)))
    check(t1 - t0 < 5.0, "big cutout in under 5 s (took %.2f)" % (t1 - t0))


def main():
    test_cli()
    log = tempfile.NamedTemporaryFile(prefix="mock-log-", suffix=".jsonl", delete=False)
    log.close()
    proc = None
    try:
        proc, base = start("--log", log.name, "--token", TOKEN, "--seed", "3", "--cache-mb", "64")
        test_metadata(base)
        test_cutouts(base)
        test_errors(base)
        test_timing(base)
        t0 = time.monotonic()
        rc = stop(proc)
        check(rc == 0, "exit status on SIGTERM %r" % rc)
        check(time.monotonic() - t0 < 3, "stops promptly (%.2f s)" % (time.monotonic() - t0))
        test_log(log.name)
    finally:
        if proc is not None:
            stop(proc)
        os.unlink(log.name)
    if FAILURES:
        print("%d failure(s)" % len(FAILURES))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
