#!/usr/bin/python3
"""bossdb-mock fault injection over real HTTP: each kind really happens, and draws are
reproducible under --seed.

Run by CTest with MTP_BUILD_DIR set (Debian's /usr/bin/python3 with numpy and blosc).
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import blosc
import numpy as np

BUILD = os.environ.get("MTP_BUILD_DIR", "build")
MOCK = os.path.join(BUILD, "bossdb-mock")
FAILURES = []
PATH = "/v1/cutout/prasad/prasad_analysis/pixel_labels/0/3000:3128/800:928/100:116/"
EXPECTED = 128 * 128 * 16 * 8  # bytes the cutout decodes to
HEADERS = {"Authorization": "Token public", "Accept": "application/blosc",
           "User-Agent": "mtp-test/1.0"}


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what)


class Mock:
    def __init__(self, *args):
        self.log = tempfile.NamedTemporaryFile(prefix="mock-faults-", suffix=".jsonl",
                                               delete=False)
        self.log.close()
        self.proc = subprocess.Popen([MOCK, "--port", "0", "--log", self.log.name, *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on http://127.0.0.1:"):
            self.stop()
            raise RuntimeError("bad first line %r" % line)
        self.port = int(line.strip().rsplit(":", 1)[1])

    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def log_lines(self):
        with open(self.log.name) as f:
            return [json.loads(line) for line in f]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if os.path.exists(self.log.name):
            os.unlink(self.log.name)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        rc = self.stop()
        check(rc == 0, "server exit status %r on SIGTERM" % rc)


def fetch(mock, path=PATH, timeout=10):
    """(status, headers, body) on a fresh connection; exceptions propagate."""
    c = mock.conn(timeout)
    try:
        c.request("GET", path, headers=HEADERS)
        r = c.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        c.close()


def outcome(mock, path):
    """What a careful client sees: ok, a status code, reset, truncated or corrupt."""
    try:
        status, _, body = fetch(mock, path)
    except http.client.IncompleteRead:
        return "truncated"
    except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
        return "reset"
    if status != 200:
        return str(status)
    if (len(body) < 16 or int.from_bytes(body[12:16], "little") != len(body) or
            int.from_bytes(body[4:8], "little") != EXPECTED):
        return "corrupt"
    return "ok"


def clean_body():
    with Mock() as m:
        status, _, body = fetch(m)
        check(status == 200, "clean fetch")
        return body


def test_status_kinds():
    pages = {"500": b"Server Error (500)", "502": b"502 Bad Gateway",
             "503": b"503 Service Temporarily Unavailable", "504": b"504 Gateway Time-out"}
    for kind in ("429", "500", "502", "503", "504"):
        with Mock("--fail-rate", "1", "--fail-kinds", kind) as m:
            status, headers, body = fetch(m)
            headers = dict(headers)
            check(status == int(kind), "%s: status %d" % (kind, status))
            if kind == "429":
                check(headers.get("Content-Type") == "application/json", "429 is JSON")
                check(json.loads(body) == {"status": 429, "code": 3004, "message":
                                           "User is throttled. Expected available tomorrow."},
                      "429 body %r" % body)
                check("Retry-After" not in headers, "no Retry-After")
            else:
                check(headers.get("Content-Type", "").startswith("text/html"),
                      "%s is HTML" % kind)
                check(pages[kind] in body, "%s page %r" % (kind, body[:80]))
            # Only cutouts fail: metadata and refused cutouts are untouched.
            status, _, _ = fetch(m, "/v1/coord/prasad_prasad2020/")
            check(status == 200, "%s: metadata unaffected" % kind)
            status, _, body = fetch(m, "/v1/cutout/prasad/x/image/0/0:1/0:1/0:1/")
            check(status == 404 and b"Experiment x not found" in body,
                  "%s: 404 unaffected" % kind)
            log = m.log_lines()
            check([e["fault"] for e in log] == [kind, None, None], "%s: log faults %r" %
                  (kind, [e["fault"] for e in log]))
            check(log[0]["status"] == int(kind), "%s: log status" % kind)


def test_reset():
    with Mock("--fail-rate", "1", "--fail-kinds", "reset") as m:
        try:
            fetch(m)
            check(False, "reset: the request should fail")
        except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
            pass
        entry = m.log_lines()[0]
        check(entry["fault"] == "reset" and entry["status"] is None and entry["bytes"] == 0,
              "reset log %r" % entry)


def test_truncate(full):
    with Mock("--fail-rate", "1", "--fail-kinds", "truncate") as m:
        c = m.conn()
        c.request("GET", PATH, headers=HEADERS)
        r = c.getresponse()
        check(r.status == 200, "truncate: status 200")
        check(int(r.getheader("Content-Length")) == len(full), "truncate: full length announced")
        try:
            r.read()
            check(False, "truncate: read should be incomplete")
        except http.client.IncompleteRead as e:
            check(len(e.partial) == len(full) // 2, "truncate: half the body arrived (%d)" %
                  len(e.partial))
            check(e.partial == full[:len(full) // 2], "truncate: the start is the real body")
            try:
                blosc.decompress(e.partial)
                check(False, "truncate: partial body must not decode")
            except Exception:
                pass
        c.close()
        entry = m.log_lines()[0]
        check(entry["fault"] == "truncate" and entry["bytes"] == len(full) // 2,
              "truncate log %r" % entry)


def test_corrupt(full):
    with Mock("--fail-rate", "1", "--fail-kinds", "corrupt") as m:
        shapes = set()
        for _ in range(12):
            status, _, body = fetch(m)
            check(status == 200, "corrupt: status 200")
            cbytes = int.from_bytes(body[12:16], "little")
            nbytes = int.from_bytes(body[4:8], "little")
            if nbytes != EXPECTED:
                shapes.add("nbytes")
                check(nbytes == EXPECTED // 2 and body[16:] == full[16:] and
                      cbytes == len(body), "corrupt nbytes: only nbytes lies")
            elif cbytes != len(body):
                shapes.add("cut")
                check(body == full[:len(body)] and len(body) == len(full) - len(full) // 10,
                      "corrupt cut: a prefix with an honest length")
            else:
                check(False, "corrupt: the header does not lie")
        check(shapes == {"nbytes", "cut"}, "corrupt: both shapes seen %r" % shapes)


def test_slow(full):
    with Mock("--fail-rate", "1", "--fail-kinds", "slow", "--slow-ms", "1500") as m:
        # A client with a short read timeout gives up mid-body.
        c = m.conn(timeout=0.5)
        c.request("GET", PATH, headers=HEADERS)
        r = c.getresponse()
        check(r.status == 200, "slow: status 200")
        first = r.read(4096)
        check(first == full[:4096], "slow: the first bytes come at once")
        t0 = time.monotonic()
        try:
            r.read()
            check(False, "slow: a 0.5 s read timeout should trip")
        except (socket.timeout, TimeoutError):
            check(time.monotonic() - t0 < 1.4, "slow: timed out early")
        c.close()
        # A patient client gets the whole, valid body, late.
        t0 = time.monotonic()
        status, _, body = fetch(m, timeout=10)
        took = time.monotonic() - t0
        check(status == 200 and body == full, "slow: body intact")
        check(took >= 1.4, "slow: stalled %.2f s" % took)
        check(np.frombuffer(blosc.decompress(body), np.uint64).size == EXPECTED // 8,
              "slow: decodes")


def test_delay():
    with Mock("--delay-ms", "300") as m:
        t0 = time.monotonic()
        status, _, _ = fetch(m, "/v1/coord/prasad_prasad2020/")
        check(status == 200 and time.monotonic() - t0 >= 0.29, "delay-ms on metadata")


def sequence(*args):
    """Outcomes and logged faults of a fixed request sequence against a fresh server."""
    paths = [PATH.replace("100:116", "%d:%d" % (100 + 16 * k, 116 + 16 * k)) for k in range(4)]
    with Mock("--fail-rate", "0.5", "--slow-ms", "50", *args) as m:
        seen = [outcome(m, p) for _ in range(6) for p in paths]
        faults = [e["fault"] for e in m.log_lines()]
    return seen, faults


def test_determinism():
    a, fa = sequence("--seed", "42")
    b, fb = sequence("--seed", "42")
    check(a == b and fa == fb, "same seed, same faults:\n%r\n%r" % (fa, fb))
    check(len(fa) == 24, "one log line per request")
    failed = sum(f is not None for f in fa)
    check(4 <= failed <= 20, "rate 0.5 fails some, not all (%d of 24)" % failed)
    # Outcomes match the logged kinds (slow still delivers the body).
    expect = {None: "ok", "slow": "ok", "truncate": "truncated", "corrupt": "corrupt",
              "reset": "reset"}
    check(all(o == expect.get(f, f) for o, f in zip(a, fa)), "outcomes match faults:\n%r\n%r"
          % (a, fa))
    c, fc = sequence("--seed", "43")
    check(fc != fa, "another seed, other faults")


def main():
    t0 = time.monotonic()
    full = clean_body()
    test_status_kinds()
    test_reset()
    test_truncate(full)
    test_corrupt(full)
    test_slow(full)
    test_delay()
    test_determinism()
    print("took %.1f s" % (time.monotonic() - t0))
    if FAILURES:
        print("%d failure(s)" % len(FAILURES))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
