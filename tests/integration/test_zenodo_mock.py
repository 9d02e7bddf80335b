"""zenodo-mock's HTTP surface: status codes and JSON shapes of the deposit API subset, the
Bearer-token check, metadata validation, the record limits, keys with "/", new versions,
the records API, and a log without the token."""
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from mocklib import BUILD_DIR  # noqa: E402

ZMOCK = os.path.join(BUILD_DIR, "zenodo-mock")
TOKEN = "mock-Token-91c2"


def fail(msg):
    raise AssertionError(msg)


def main():
    tmp = tempfile.mkdtemp(prefix="mtp-zmock-")
    log = os.path.join(tmp, "log")
    proc = subprocess.Popen([ZMOCK, "--dir", os.path.join(tmp, "state"), "--token", TOKEN,
                             "--max-bytes", "1000", "--log", log], stdout=subprocess.PIPE,
                            text=True)
    try:
        port = int(re.search(r":(\d+)$", proc.stdout.readline().strip()).group(1))

        def call(method, path, body=None, token=TOKEN, raw=None):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            data = raw if raw is not None else (json.dumps(body) if body is not None else None)
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            text = r.read()
            conn.close()
            try:
                return r.status, json.loads(text) if text else None
            except ValueError:
                return r.status, text

        st, j = call("POST", "/api/deposit/depositions", {}, token=None)
        if st != 401 or j["status"] != 401 or "message" not in j:
            fail(f"no token: {st} {j}")
        st, j = call("POST", "/api/deposit/depositions", {}, token="wrong")
        if st != 401:
            fail(f"wrong token: {st}")
        st, d = call("POST", "/api/deposit/depositions", {})
        if st != 201 or d["state"] != "unsubmitted" or d["submitted"] is not False:
            fail(f"create: {st} {d}")
        for key in ("self", "html", "bucket", "files", "publish", "edit", "discard", "newversion",
                    "latest_draft"):
            if not d["links"][key].startswith(f"http://127.0.0.1:{port}/"):
                fail(f"links.{key}: {d['links'].get(key)}")
        if d["metadata"]["prereserve_doi"]["doi"] != f"10.5072/zenodo.{d['id']}":
            fail(f"prereserve_doi: {d['metadata']}")
        dep = f"/api/deposit/depositions/{d['id']}"
        bucket = d["links"]["bucket"].split(str(port), 1)[1]

        st, j = call("PUT", dep, {"metadata": {"title": "t", "upload_type": "dataset",
                                               "description": "d", "creators": []}})
        if st != 400 or j["message"] != "Validation error." or \
                [e["field"] for e in j["errors"]] != ["metadata.creators"]:
            fail(f"validation: {st} {j}")
        good = {"title": "t", "upload_type": "dataset", "description": "<p>d</p>",
                "creators": [{"name": "Doe, Jane"}]}
        st, j = call("PUT", dep, {"metadata": good})
        if st != 200 or j["metadata"]["title"] != "t":
            fail(f"metadata: {st} {j}")
        st, j = call("POST", dep + "/actions/publish")
        if st != 400 or "file" not in j["message"]:
            fail(f"publish without files: {st} {j}")

        st, j = call("PUT", bucket + "/a.txt", raw=b"hello\n")
        if st != 201 or j["checksum"] != "md5:b1946ac92492d2347c6235b4d2611184" or j["size"] != 6:
            fail(f"upload: {st} {j}")
        st2, j2 = call("PUT", bucket + "/dir/b.txt", raw=b"x")
        if st2 != 400 or "'/'" not in j2["message"]:
            fail(f"key with '/': {st2} {j2}")
        st, j = call("PUT", bucket + "/big.bin", raw=b"x" * 2000)
        if st != 400 or "at most" not in j["message"]:
            fail(f"--max-bytes: {st} {j}")
        st, files = call("GET", dep + "/files")
        names = sorted(f["filename"] for f in files)
        if st != 200 or "a.txt" not in names or files[0]["checksum"] == "":
            fail(f"files: {st} {files}")
        st, _ = call("DELETE", bucket + "/a.txt")
        if st != 204:
            fail(f"delete: {st}")
        st, _ = call("DELETE", bucket + "/a.txt")
        if st != 404:
            fail(f"delete again: {st}")
        # The 100-file limit (with a large enough byte limit this time).
        for i in range(100):
            st, j = call("PUT", bucket + f"/f{i:03d}", raw=b"")
            if st != 201:
                fail(f"file {i}: {st} {j}")
        st, files = call("GET", dep + "/files")
        if len(files) != 100 or st != 200:
            fail(f"{len(files)} files kept, want 100")
        st, j = call("PUT", bucket + "/f101", raw=b"")
        if st != 400 or "at most 100 files" not in j["message"]:
            fail(f"file 101: {st} {j}")

        st, p = call("POST", dep + "/actions/publish")
        if st != 202 or p["state"] != "done" or p["submitted"] is not True or \
                p["doi"] != f"10.5072/zenodo.{d['id']}" or "record_html" not in p["links"]:
            fail(f"publish: {st} {p}")
        st, j = call("PUT", bucket + "/late.txt", raw=b"x")
        if st != 403:
            fail(f"upload to a published record: {st}")
        st, rec = call("GET", f"/api/records/{d['id']}", token=None)
        if st != 200 or len(rec["files"]) != 100:
            fail(f"record: {st}")
        st, nv = call("POST", dep + "/actions/newversion")
        latest = nv["links"]["latest_draft"].split(str(port), 1)[1]
        st2, draft = call("GET", latest)
        if st != 201 or latest == dep or st2 != 200 or len(draft["files"]) != 100 or \
                draft["state"] != "unsubmitted":
            fail(f"newversion: {st} {latest} {st2}")
        print("ok: 401s, 400 field errors, keys with '/', --max-bytes, 100 files, publish, "
              "records, newversion")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    text = open(log).read()
    if TOKEN in text:
        fail("the token is in the log")
    lines = [json.loads(line) for line in text.splitlines()]
    if not all(set(e) == {"method", "path", "status", "bytes"} for e in lines):
        fail("log lines without method/path/status/bytes")
    print(f"ok: {len(lines)} log lines, no token")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
