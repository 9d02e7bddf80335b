"""The BossDB client adapts its concurrency to a distant, loaded server ([5/6]).

configs/demo.yaml cut to z [110, 270) (about half the demo's blocks) is fetched from
bossdb-mock playing (with source.block [256, 256, 32] for the first two, so that there are
~200 requests to adapt over instead of 12):
- a busy server (--max-inflight 6 --delay-ms 50): the client settles at <= 6 transfers (the
  mock's log shows the peak of accepted cutouts), waits the 503's Retry-After: 1 before it
  asks for the same block again, finishes, and the cache is byte-identical to a fetch
  from a fault-free server;
- a distant server (--delay-ms 100), with source.jobs 4 and source.max_jobs 10: the
  channels' metadata comes in two parallel rounds, and the concurrency grows above 4 and
  never above 10 (client summary and mock log agree);
- a server with a small cutout limit (--cutout-cap-mb 3), with source.jobs = max_jobs = 4:
  the first requests (4 of them, in flight together) are refused; from then on every part is cut to half the
  lightest refused weight and heavier parts go one at a time, so each further 413 halves
  the bound: the log's 413s are at most 4 + the halvings from the heaviest request to the
  cap, and the cache is again byte-identical;
- --bandwidth-mbps: two cutouts at once take the time their bytes need at the shared rate.
"""
import concurrent.futures
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from mocklib import DEMO, PACK, mock_server  # noqa: E402


def fail(msg):
    raise AssertionError(msg)


def cache_digest(root):
    """Every block file of a cache (path -> sha256), temporaries excluded; the path without
    its server component (v1/<hash of the server URL>/...), as each mock has its own port."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            if ".tmp" in f:
                continue
            p = os.path.join(d, f)
            parts = os.path.relpath(p, root).split(os.sep)
            key = os.sep.join(parts[:1] + parts[2:])
            out[key] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return out


def fetch(cfg, url, cache):
    proc = subprocess.run([PACK, "fetch", cfg, "--cache", cache, "--source-url", url],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        fail(f"fetch exited {proc.returncode}: {proc.stderr[-2000:]}")
    m = re.search(r"^concurrency: (\d+) at the start, peak (\d+), (\d+) at the end "
                  r"\(source\.max_jobs (\d+)\); (\d+) answers said the server is busy$",
                  proc.stdout, re.M)
    if not m:
        fail(f"no concurrency line in:\n{proc.stdout}")
    return proc.stdout, [int(g) for g in m.groups()]


def weight(entry):
    """The bytes the server counts for a cutout (bits/8, a quarter for 64-bit channels)."""
    m = re.search(r"/cutout/[^/]+/[^/]+/([^/]+)/\d+/(\d+):(\d+)/(\d+):(\d+)/(\d+):(\d+)",
                  entry["path"])
    v = [int(g) for g in m.groups()[1:]]
    voxels = (v[1] - v[0]) * (v[3] - v[2]) * (v[5] - v[4])
    return voxels * (1 if m.group(1) == "image" else 2)


def cutouts(log):
    return [e for e in (json.loads(line) for line in open(log)) if "/cutout/" in e["path"]]


def main():
    tmp = tempfile.mkdtemp(prefix="mtp-adaptive-")
    try:
        text = open(DEMO).read()
        for old, new in (("z: [110, 470]", "z: [110, 270]"),
                         ("train: [110, 379]", "train: [110, 230]"),
                         ("val: [380, 409]", "val: [230, 250]"),
                         ("test: [420, 470]", "test: [250, 270]"),
                         ("all: [110, 470]", "all: [110, 270]")):
            assert text.count(old) == 1, old
            text = text.replace(old, new)
        cfg = os.path.join(tmp, "half.yaml")
        open(cfg, "w").write(text)
        assert text.count("  block: [512, 512, 64]\n") == 1
        text = text.replace("  block: [512, 512, 64]\n", "  block: [256, 256, 32]\n")
        small = os.path.join(tmp, "small.yaml")
        open(small, "w").write(text)
        capped = os.path.join(tmp, "capped.yaml")
        open(capped, "w").write(text.replace("  max_jobs: 16\n", "  max_jobs: 10\n"))

        with mock_server() as (url, log):
            fetch(cfg, url, os.path.join(tmp, "ref"))
            fetch(small, url, os.path.join(tmp, "ref-small"))
        ref = cache_digest(os.path.join(tmp, "ref"))
        ref_small = cache_digest(os.path.join(tmp, "ref-small"))
        print(f"ok: reference fetches, {len(ref)} and {len(ref_small)} cache files")

        # A busy server.
        with mock_server("--max-inflight", "6", "--delay-ms", "50") as (url, log):
            out, (start, peak, end, cap, busy) = fetch(small, url, os.path.join(tmp, "busy"))
            entries = cutouts(log)
        accepted = [e.get("inflight", 0) for e in entries if e["status"] == 200]
        rejected = [e for e in entries if e["status"] == 503]
        if max(accepted) > 6:
            fail(f"the mock accepted {max(accepted)} cutouts at once")
        if not rejected or busy != len(rejected):
            fail(f"{len(rejected)} 503s in the log, the client counted {busy}")
        # After the first cut the limit probes upward by one per 0.5 s window and is refused
        # again at 7: about one refusal per 2 s of run, so a slow (loaded) machine sees more.
        if len(rejected) > 0.25 * len(entries):
            fail(f"{len(rejected)} of {len(entries)} cutouts refused: the client did not settle")
        for e in rejected:
            later = [x for x in entries if x["path"] == e["path"] and x["t_ms"] > e["t_ms"]]
            if not later or later[0]["t_ms"] - e["t_ms"] < 1000:
                fail(f"{e['path']}: asked again {later[0]['t_ms'] - e['t_ms'] if later else '-'} "
                     "ms after a 503 with Retry-After: 1")
        if cache_digest(os.path.join(tmp, "busy")) != ref_small:
            fail("the cache after the busy server differs from the reference")
        print(f"ok: busy server: peak {max(accepted)} accepted at once, {len(rejected)} of "
              f"{len(entries)} refused, each retried >= 1 s later, limit {start} -> peak {peak} "
              f"-> {end}; cache identical")

        # A distant server: grows above jobs, never above max_jobs.
        with mock_server("--delay-ms", "100", "--max-inflight", "1000") as (url, log):
            out, (start, peak, end, cap, busy) = fetch(capped, url, os.path.join(tmp, "far"))
            entries = cutouts(log)
            meta = [e for e in (json.loads(line) for line in open(log))
                    if "/cutout/" not in e["path"]]
        # The metadata in two parallel rounds: the 2 experiments and 3 channels answered
        # together (not 100 ms apart each), then the one coordinate frame they name.
        first = [e for e in meta if "/coord/" not in e["path"]]
        coord = [e for e in meta if "/coord/" in e["path"]]
        span = max(e["t_ms"] for e in first) - min(e["t_ms"] for e in first)
        if len(first) != 5 or len(coord) != 1 or span >= 100 or \
                coord[0]["t_ms"] < max(e["t_ms"] for e in first):
            fail(f"metadata not in two rounds: {[(e['path'], e['t_ms']) for e in meta]}")
        print(f"ok: distant server: 6 metadata answers in two rounds (the first 5 within "
              f"{span} ms)")
        seen = max(e.get("inflight", 0) for e in entries)
        if not (start == 4 and cap == 10 and 4 < peak <= 10 and 4 < seen <= 10):
            fail(f"distant server: start {start}, peak {peak} (log {seen}), cap {cap}")
        print(f"ok: distant server: concurrency 4 -> peak {peak} (mock saw {seen} at once), "
              "never above max_jobs 10")

        # A small cutout limit, learned once.
        # max_jobs 4 = jobs: the first wave of refusals is at most the 4 transfers in flight,
        # however slow the machine (no window can double the limit before the first 413).
        one_limit = os.path.join(tmp, "four.yaml")
        open(one_limit, "w").write(open(cfg).read().replace("  max_jobs: 16\n", "  max_jobs: 4\n"))
        with mock_server("--cutout-cap-mb", "3") as (url, log):
            out, _ = fetch(one_limit, url, os.path.join(tmp, "cap"))
            entries = cutouts(log)
        refused = [e for e in entries if e["status"] == 413]
        big = [e for e in entries if e["status"] == 200]
        heaviest = max(weight(e) for e in refused) if refused else 0
        bound = 4 + math.ceil(math.log2(heaviest / 3e6)) if refused else 0
        if not refused or len(refused) > bound:
            fail(f"{len(refused)} 413s (bound {bound}) for {len(big)} answered parts: "
                 "the limit was not learned")
        if any(weight(e) > 3e6 for e in big):
            fail("a part over the cap was answered: the mock does not weigh like the server")
        if cache_digest(os.path.join(tmp, "cap")) != ref:
            fail("the cache after the 413s differs from the reference")
        print(f"ok: cutout limit 3 MB: {len(refused)} refused requests in all (at most 4 at "
              f"the start + the halvings from {heaviest} bytes = {bound}), then every part cut "
              f"to the learned size ({len(big)} parts answered); cache identical")
        # The bandwidth cap is shared: two cutouts at once take their bytes' time at the rate.
        boxes = ["4600:4856/900:1156/110:126", "3700:3956/500:756/110:126"]
        with mock_server("--bandwidth-mbps", "16") as (url, log):
            def get(box):
                req = urllib.request.Request(
                    f"{url}/v1/cutout/prasad/prasad2020/image/0/{box}/?access-mode=no-cache",
                    headers={"Authorization": "Token public", "Accept": "application/blosc"})
                return len(urllib.request.urlopen(req, timeout=60).read())
            t0 = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(2) as ex:
                sizes = list(ex.map(get, boxes))
            took = time.monotonic() - t0
        least = sum(sizes) * 8 / 16e6
        if took < least * 0.95 or took > least * 2 + 1:
            fail(f"--bandwidth-mbps 16: {sum(sizes)} bytes in {took:.2f} s, want ~{least:.2f} s")
        print(f"ok: --bandwidth-mbps 16: {sum(sizes)} bytes on two connections in {took:.2f} s "
              f"(the cap allows {least:.2f} s)")
        print("ok")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
