"""`mtneuro-pack publish` against zenodo-mock ([3/6]).

A small release (configs/demo.yaml cut to 16 slices) is built once from bossdb-mock, then:
- published with --publish: the record's files are exactly the release's, every MD5 equal,
  the metadata equal to .zenodo.json; the record downloaded back into an empty directory
  verifies (round trip);
- SIGKILL in the middle of the uploads, rerun with --deposition ID: only the files the draft
  lacks are uploaded (counted in the mock's log);
- --fail-rate 0.3 (503, 429, resets mid-body): the same record as without faults;
- a new version with one changed file (README.md, and so manifest.json and the SUMS): only
  those are uploaded, the others kept from the previous version;
- a wrong token: exit 1, one clear line, the token nowhere; a metadata validation error:
  exit 1 naming the field; a release that does not verify: exit 1 before any request;
  plain http to a host that is not this machine: exit 2 before any request.
"""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from mocklib import BUILD_DIR, DEMO, PACK, md5_file, mock_server  # noqa: E402

ZMOCK = os.path.join(BUILD_DIR, "zenodo-mock")
TOKEN = "zq-Secret-7f3a9c"  # must never appear in any output
NAME = "mtneuro-demo-1.0.0"


def fail(msg):
    raise AssertionError(msg)


def step(msg):
    print(f"ok: {msg}", flush=True)


class Zenodo:
    """A zenodo-mock process with its own state directory and log."""

    def __init__(self, tmp, *args):
        self.dir = tempfile.mkdtemp(dir=tmp)
        self.log = os.path.join(self.dir, "log")
        self.proc = subprocess.Popen([ZMOCK, "--dir", os.path.join(self.dir, "state"), "--token",
                                      TOKEN, "--log", self.log, *args],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:\d+", line)
        if not m:
            fail(f"zenodo-mock did not announce a port: {line!r}")
        self.url = m.group(0)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def entries(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [json.loads(line) for line in f if line.strip()]

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=30) as r:
            return r.read()


def publish(z, rel, *args, token=TOKEN, env_extra=None):
    env = dict(os.environ, ZENODO_TOKEN=token, **(env_extra or {}))
    return subprocess.run([PACK, "publish", rel, "--zenodo", z.url, *args], capture_output=True,
                          text=True, env=env, timeout=300)


def expect_ok(proc, what):
    if proc.returncode != 0:
        fail(f"{what}: exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}")
    for text in (proc.stdout, proc.stderr):
        if TOKEN in text:
            fail(f"{what}: the token appears in the output")


def deposition_id(proc):
    m = re.search(r"^deposition (\d+) ", proc.stdout, re.M)
    if not m:
        fail(f"no deposition line in:\n{proc.stdout}")
    return int(m.group(1))


def release_md5s(rel):
    return {name: md5_file(os.path.join(rel, name)) for name in os.listdir(rel)}


def record_files(z, record_id):
    rec = json.loads(z.get(f"/api/records/{record_id}"))
    return rec, {f["key"]: f["checksum"][4:] for f in rec["files"]}


def uploads(entries):
    return [e["path"].rsplit("/", 1)[1] for e in entries
            if e["method"] == "PUT" and e["path"].startswith("/api/files/") and e["status"] == 201]


def resum(rel, changed):
    """After editing files of `rel`: their entries in manifest.json, then both SUMS."""
    man_path = os.path.join(rel, "manifest.json")
    man = json.load(open(man_path))
    for e in man["files"]:
        if e["path"] in changed:
            data = open(os.path.join(rel, e["path"]), "rb").read()
            e.update(size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                     md5=hashlib.md5(data).hexdigest())
    with open(man_path, "w") as f:
        json.dump(man, f, indent=2)
        f.write("\n")
    names = sorted(n for n in os.listdir(rel) if n not in ("SHA256SUMS", "MD5SUMS"))
    for sums, algo in (("SHA256SUMS", hashlib.sha256), ("MD5SUMS", hashlib.md5)):
        with open(os.path.join(rel, sums), "w") as f:
            for n in names:
                f.write(f"{algo(open(os.path.join(rel, n), 'rb').read()).hexdigest()}  {n}\n")


def build_release(tmp):
    text = open(DEMO).read()
    for old, new in (("z: [110, 470]", "z: [110, 126]"), ("train: [110, 379]", "train: [110, 118]"),
                     ("val: [380, 409]", "val: [118, 121]"), ("test: [420, 470]", "test: [122, 126]"),
                     ("all: [110, 470]", "all: [110, 126]")):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    cfg = os.path.join(tmp, "small.yaml")
    open(cfg, "w").write(text)
    with mock_server() as (url, _log):
        proc = subprocess.run([PACK, "build", cfg, "--out", os.path.join(tmp, "out"), "--cache",
                               os.path.join(tmp, "cache"), "--source-url", url, "--quiet"],
                              capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        fail(f"build: {proc.stderr}")
    return os.path.join(tmp, "out", NAME)


def main():
    tmp = tempfile.mkdtemp(prefix="mtp-publish-")
    zs = []
    try:
        rel = build_release(tmp)
        want = release_md5s(rel)
        step(f"a release of {len(want)} files")

        # Publish, then the round trip.
        z = Zenodo(tmp)
        zs.append(z)
        p = publish(z, rel, "--publish")
        expect_ok(p, "publish --publish")
        rid = deposition_id(p)
        rec, got = record_files(z, rid)
        if got != want:
            fail(f"record files differ from the release: {sorted(set(got) ^ set(want))}")
        meta = json.load(open(os.path.join(rel, ".zenodo.json")))
        rec_meta = {k: v for k, v in rec["metadata"].items() if k != "prereserve_doi"}
        if rec_meta != meta:
            fail("record metadata differs from .zenodo.json")
        if f"published: DOI 10.5072/zenodo.{rid}" not in p.stdout:
            fail(f"no DOI line: {p.stdout}")
        back = os.path.join(tmp, "downloaded", NAME)
        os.makedirs(back)
        for f in rec["files"]:
            with urllib.request.urlopen(f["links"]["self"], timeout=30) as r, \
                    open(os.path.join(back, f["key"]), "wb") as out:
                shutil.copyfileobj(r, out)
        v = subprocess.run([PACK, "verify", back], capture_output=True, text=True, timeout=300)
        if v.returncode != 0 or ": OK:" not in v.stdout:
            fail(f"verify of the downloaded record: {v.stdout}{v.stderr}")
        step(f"published record {rid}: {len(got)} files, MD5s and metadata equal; "
             "downloaded back, it verifies")

        # SIGKILL in the middle of the uploads, then --deposition ID.
        z2 = Zenodo(tmp, "--delay-ms", "150")
        zs.append(z2)
        env = dict(os.environ, ZENODO_TOKEN=TOKEN)
        proc = subprocess.Popen([PACK, "publish", rel, "--zenodo", z2.url], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while len(uploads(z2.entries())) < 5 and time.time() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
        first = uploads(z2.entries())
        if not 5 <= len(first) < len(want):
            fail(f"killed after {len(first)} uploads, want 5..{len(want) - 1}")
        did = int(re.search(r"^deposition (\d+) ", out, re.M).group(1))
        n_before = len(z2.entries())
        p = publish(z2, rel, "--deposition", str(did), "--publish")
        expect_ok(p, "rerun with --deposition")
        second = uploads(z2.entries()[n_before:])
        if sorted(second) != sorted(set(want) - set(first)):
            fail(f"the rerun uploaded {sorted(second)}, want the {len(want) - len(first)} missing")
        _, got = record_files(z2, did)
        if got != want:
            fail("record after the rerun differs from the release")
        step(f"SIGKILL after {len(first)} uploads; the rerun uploaded only the "
             f"{len(second)} missing files")

        # The release's archive publishes the same files.
        a = subprocess.run([PACK, "archive", rel, "--out", os.path.join(tmp, "rel.tar.gz")],
                           capture_output=True, text=True, timeout=120)
        if a.returncode != 0:
            fail(f"archive: {a.stderr}")
        z5 = Zenodo(tmp)
        zs.append(z5)
        p = publish(z5, os.path.join(tmp, "rel.tar.gz"), "--publish")
        expect_ok(p, "publish ARCHIVE")
        _, got = record_files(z5, deposition_id(p))
        if got != want:
            fail("the record made from the archive differs from the release")
        step("publishing the .tar.gz gives the same record")

        # A checksum that comes back wrong: the file is deleted and uploaded again.
        z4 = Zenodo(tmp, "--corrupt-md5", "task1.h5")
        zs.append(z4)
        p = publish(z4, rel, "--publish")
        expect_ok(p, "publish with a corrupted checksum")
        puts = uploads(z4.entries())
        deletes = [e["path"] for e in z4.entries() if e["method"] == "DELETE"]
        _, got = record_files(z4, deposition_id(p))
        if puts.count("task1.h5") != 2 or len(deletes) != 1 or got != want:
            fail(f"corrupt md5: task1.h5 uploaded {puts.count('task1.h5')}x, deletes {deletes}")
        step("a wrong md5 in the answer: task1.h5 deleted and uploaded again, the record is right")

        # Faults on 30 % of the uploads.
        z3 = Zenodo(tmp, "--fail-rate", "0.3", "--seed", "7")
        zs.append(z3)
        p = publish(z3, rel, "--publish")
        expect_ok(p, "publish with --fail-rate 0.3")
        faults = [e for e in z3.entries() if e["method"] == "PUT" and e["status"] != 201]
        _, got = record_files(z3, deposition_id(p))
        if got != want or len(faults) < 3:
            fail(f"--fail-rate 0.3: {len(faults)} faults, record equal: {got == want}")
        step(f"--fail-rate 0.3: {len(faults)} failed uploads retried, the same record")

        # A new version with one changed file.
        rel2 = os.path.join(tmp, "v2", NAME)
        shutil.copytree(rel, rel2)
        with open(os.path.join(rel2, "README.md"), "a") as f:
            f.write("\nErratum: a note added in version 2.\n")
        resum(rel2, {"README.md"})
        n_before = len(z.entries())
        p = publish(z, rel2, "--new-version-of", str(rid), "--publish")
        expect_ok(p, "publish --new-version-of")
        sent = sorted(uploads(z.entries()[n_before:]))
        if sent != ["MD5SUMS", "README.md", "SHA256SUMS", "manifest.json"]:
            fail(f"new version uploaded {sent}")
        m = re.search(r"files: (\d+) uploaded .*?, (\d+) already there, (\d+) deleted", p.stdout)
        if not m or (int(m.group(2)), int(m.group(3))) != (len(want) - 4, 4):
            fail(f"new version summary: {p.stdout}")
        _, got = record_files(z, deposition_id(p))
        if got != release_md5s(rel2):
            fail("the new version's files differ from the changed release")
        step("new version: README.md, manifest.json and the SUMS uploaded, "
             f"{len(want) - 4} files kept")

        # Refusals.
        n_before = len(z.entries())
        p = publish(z, rel, token="wrong-" + TOKEN[::-1])
        if p.returncode != 1 or "401" not in p.stderr or len(p.stderr.strip().splitlines()) != 1:
            fail(f"wrong token: exit {p.returncode}, stderr {p.stderr!r}")
        step(f"wrong token: exit 1, {p.stderr.strip()}")
        bad = os.path.join(tmp, "bad", NAME)
        shutil.copytree(rel, bad)
        zj = json.load(open(os.path.join(bad, ".zenodo.json")))
        zj["creators"] = []
        json.dump(zj, open(os.path.join(bad, ".zenodo.json"), "w"), indent=2)
        resum(bad, {".zenodo.json"})
        p = publish(z, bad)
        if p.returncode != 1 or "metadata.creators: " not in p.stderr:
            fail(f"validation error: exit {p.returncode}, stderr {p.stderr!r}")
        step(f"metadata refused: {p.stderr.strip()}")
        with open(os.path.join(bad, "task1.h5"), "r+b") as f:
            f.seek(4096)
            byte = f.read(1)
            f.seek(4096)
            f.write(bytes([byte[0] ^ 0xFF]))
        n_before = len(z.entries())
        p = publish(z, bad)
        if p.returncode != 1 or "does not verify" not in p.stderr or len(z.entries()) != n_before:
            fail(f"unverified release: exit {p.returncode}, {len(z.entries()) - n_before} requests")
        step("a release that does not verify: exit 1, no request")
        p = subprocess.run([PACK, "publish", rel, "--zenodo", "http://zenodo.example.org"],
                           capture_output=True, text=True, env=dict(os.environ,
                                                                    ZENODO_TOKEN=TOKEN))
        if p.returncode != 2 or "plain http" not in p.stderr:
            fail(f"plain http: exit {p.returncode}, {p.stderr!r}")
        step("plain http to another host: exit 2 before any request")

        for zz in zs:
            log = open(zz.log).read() if os.path.exists(zz.log) else ""
            if TOKEN in log:
                fail("the token appears in the mock's log")
        print("ok")
    finally:
        for zz in zs:
            zz.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
