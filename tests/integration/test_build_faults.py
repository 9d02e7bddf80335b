"""`build` when things go wrong ([3/6]) and with a secret token:

- source.token_env: the token from the environment is sent (a wrong one fails with 401) and
  appears nowhere: not in any file of the release or the cache, not on stdout/stderr (even
  with --verbose); an inline source.token is redacted in the release's config.yaml;
- SIGKILL while the HDF5 files are being written (in the hidden staging directory), then a
  rerun: nothing exists under the final name meanwhile, and the rerun removes the leftovers
  of dead builds and writes the same bytes as a clean build;
- a label code the task does not declare: the build fails with the promised message naming
  the first offending voxel (computed here from the mock's own voxels), and no task file.

To stay quick, all builds but the last use a reduced copy of configs/demo.yaml (z 110..206,
three tasks); the bytes compared always come from builds of the same config.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import yaml

sys.path.insert(0, os.path.dirname(__file__))
from mocklib import (DEMO, PACK, REGIONS, cutout, mock_server, run_pack,  # noqa: E402
                     sha256_file, tree_files)

SECRET = "s3cr3t-value"
NAME = "mtneuro-demo-1.0.0"
Z_SMALL = [110, 206]
SPLITS_SMALL = {"train": [110, 170], "val": [170, 190], "test": [190, 206]}
TASKS_SMALL = ("task1", "task2_2d_3class", "task2_3d_4class")
COUNTS_SMALL = {  # per split: 60, 20 and 16 slices; 3-D windows of 8, zi excluded
    "task1": {"train": 240, "val": 80, "test": 64},
    "task2_2d_3class": {"train": 240, "val": 80, "test": 64},
    "task2_3d_4class": {"train": 21, "val": 6, "test": 6},
}


def fail(msg):
    raise AssertionError(msg)


def step(msg, t0=[time.monotonic()]):  # noqa: B006 (a deliberate static)
    print(f"[{time.monotonic() - t0[0]:6.1f} s] {msg}", flush=True)


def small_config(path, **source):
    """configs/demo.yaml with a shorter z range and three tasks; `source` replaces the token."""
    with open(DEMO) as f:
        cfg = yaml.safe_load(f)
    cfg["z"] = Z_SMALL
    cfg["splits"] = SPLITS_SMALL
    cfg["tasks"] = {t: cfg["tasks"][t] for t in TASKS_SMALL}
    del cfg["source"]["token"]
    cfg["source"].update(source)
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False, width=100)
    return path


def grep_secret(root):
    """Files under root whose bytes contain SECRET (grep -r, binary files included)."""
    proc = subprocess.run(["grep", "-r", "-l", "-a", "-F", SECRET, root], capture_output=True,
                          text=True)
    if proc.returncode not in (0, 1):
        fail(f"grep -r {root}: exit {proc.returncode}: {proc.stderr}")
    return proc.stdout.split()


def build_cmd(config, out, cache, url, *extra):
    return [PACK, "build", config, "--out", out, "--cache", cache, "--source-url", url, *extra]


def kill_when(cmd, env, ready, what):
    """Start cmd; SIGKILL it as soon as ready() is true. Fails if it ends first."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not ready():
            if proc.poll() is not None:
                fail(f"the build ended (exit {proc.returncode}) before {what}: "
                     f"{proc.stderr.read().decode()[-500:]}")
            if time.monotonic() > deadline:
                fail(f"no {what} within 120 s")
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stderr.close()
    if proc.returncode != -signal.SIGKILL:
        fail(f"build exited {proc.returncode} instead of being killed at {what}")


def staging_dirs(out):
    """The hidden staging directories of builds into out (DESIGN §7: .<release>.staging.<pid>)."""
    if not os.path.isdir(out):
        return []
    return [os.path.join(out, d) for d in os.listdir(out) if d.startswith(f".{NAME}.staging.")]


def tmp_bytes(out):
    """Bytes of HDF5 temporaries being written in out's staging directories."""
    total = 0
    for d in staging_dirs(out):
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            continue
        for p in names:
            if ".h5.tmp." in p:
                try:
                    total += os.path.getsize(os.path.join(d, p))
                except FileNotFoundError:
                    pass
    return total


def dead_pid():
    """A pid that no longer runs: a child that exited and was reaped."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_token_and_kill(tmp, url, log):
    cache = os.path.join(tmp, "cache")
    config = small_config(os.path.join(tmp, "small.yaml"), token_env="DEMO_TOKEN")
    env = dict(os.environ, DEMO_TOKEN=SECRET)

    # A wrong token in the variable: the server says 401, so the variable's value is sent.
    wrong = "wrong-token-4711"
    proc = subprocess.run(build_cmd(config, os.path.join(tmp, "wrong"),
                                    os.path.join(tmp, "wrong-cache"), url, "--quiet"),
                          env=dict(os.environ, DEMO_TOKEN=wrong), capture_output=True,
                          text=True)
    if proc.returncode != 1 or "401" not in proc.stderr:
        fail(f"build with a wrong token: exit {proc.returncode}, expected 1 and a 401:\n"
             f"{proc.stderr}")
    if wrong in proc.stdout + proc.stderr:
        fail(f"build printed the (wrong) token: {proc.stderr}")
    if os.path.exists(os.path.join(tmp, "wrong", NAME)):
        fail("a build that could not fetch created its release directory")
    step("wrong token in DEMO_TOKEN: 401, exit 1, token not printed")

    # The clean build: the token from DEMO_TOKEN, --verbose for as much output as there is.
    clean_out = os.path.join(tmp, "clean")
    proc = subprocess.run(build_cmd(config, clean_out, cache, url, "--verbose"), env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        fail(f"clean build exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    clean = os.path.join(clean_out, NAME)
    if SECRET in proc.stdout or SECRET in proc.stderr:
        fail("the build printed the token")
    for root in (clean_out, cache):
        leaks = grep_secret(root)
        if leaks:
            fail(f"the token is written in {leaks}")
    with open(config, "rb") as a, open(os.path.join(clean, "config.yaml"), "rb") as b:
        if a.read() != b.read():
            fail("config.yaml in the release is not the config used")
    with open(log) as f:
        entries = [json.loads(line) for line in f]
    cutouts = [e for e in entries if "/cutout/" in e["path"]]
    if not cutouts or not all(e["auth"] and e["status"] == 200 for e in cutouts):
        fail(f"{len(cutouts)} cutouts fetched, not all authorized and 200")
    manifest = json.load(open(os.path.join(clean, "manifest.json")))
    counts = {t["name"]: {s["name"]: s["count"] for s in t["splits"]} for t in manifest["tasks"]}
    if counts != COUNTS_SMALL:
        fail(f"reduced config: counts {counts}, want {COUNTS_SMALL}")
    if any(".tmp" in p for p in tree_files(clean_out)):
        fail(f"clean build left temporary files: {tree_files(clean_out)}")
    run_pack("verify", clean)
    step(f"token from DEMO_TOKEN: {len(cutouts)} authorized cutouts, no trace of it in "
         "release, cache or output; release verifies")

    # An inline token is redacted in the release's config.yaml (a one-task build).
    inline = small_config(os.path.join(tmp, "inline.yaml"), token=SECRET)
    with open(inline) as f:
        cfg = yaml.safe_load(f)
    cfg["tasks"] = {"task1": cfg["tasks"]["task1"]}
    cfg["output"].update(volumes=False, previews=False)
    with open(inline, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False, width=100)
    inline_out = os.path.join(tmp, "inline")
    proc = subprocess.run(build_cmd(inline, inline_out, cache, url, "--verbose"),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        fail(f"inline-token build exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    if SECRET in proc.stdout + proc.stderr or grep_secret(inline_out):
        fail(f"inline token leaked: output or {grep_secret(inline_out)}")
    with open(inline) as f:
        want = f.read().replace(f"token: {SECRET}", 'token: "<redacted>"')
    with open(os.path.join(inline_out, NAME, "config.yaml")) as f:
        got = f.read()
    if got != want:
        fail(f"config.yaml with an inline token: got\n{got}\nwant\n{want}")
    step("inline token: config.yaml has token \"<redacted>\", no trace elsewhere")

    # SIGKILL while the task files are being written (warm cache: writing starts at once),
    # into an empty directory: the release is written in a hidden staging directory, so
    # nothing exists under the final name; then the same command again.
    out = os.path.join(tmp, "killed")
    rel = os.path.join(out, NAME)
    cmd = build_cmd(config, out, cache, url, "--quiet")
    kill_when(cmd, env, lambda: tmp_bytes(out) >= (1 << 20), "1 MiB of .h5 temporaries written")
    if os.path.exists(rel):
        fail(f"killed while writing, yet {rel} exists")
    if len(staging_dirs(out)) != 1:
        fail(f"killed while writing: staging directories {staging_dirs(out)}")
    # What a build killed inside an atomic write leaves, planted in the staging directory of
    # another dead build: the next build removes every leftover of dead builds.
    planted = os.path.join(out, f".{NAME}.staging.{dead_pid()}")
    os.makedirs(os.path.join(planted, "previews"))
    for p in (f"README.md.tmp.host.{dead_pid()}.0", "previews/task1_train.png"):
        with open(os.path.join(planted, p), "w") as f:
            f.write("half")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        fail(f"rerun after SIGKILL exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    if sorted(os.listdir(out)) != [NAME]:
        fail(f"rerun after SIGKILL left {sorted(os.listdir(out))} in --out")
    left = [p for p in tree_files(rel) if ".tmp" in p]
    if left:
        fail(f"rerun after SIGKILL left temporary files: {left}")
    if tree_files(rel) != tree_files(clean):
        fail(f"rerun after SIGKILL: files {tree_files(rel)}, clean build {tree_files(clean)}")
    for p in tree_files(clean):
        if sha256_file(os.path.join(rel, p)) != sha256_file(os.path.join(clean, p)):
            fail(f"rerun after SIGKILL: {p} differs from the clean build's")
    step("SIGKILL while writing: no release under the final name; rerun removes every "
         "staging leftover, every file identical to the clean build")


def test_unexpected_code(tmp, url):
    """task2_2d_3class declaring [background, vessel] only meets codes 2 and 3."""
    with open(DEMO) as f:
        text = f.read()
    old = ("  task2_2d_3class:\n    kind: segmentation\n    labels: pixel_labels\n"
           "    depth: 1\n    classes: [background, vessel, cell]\n    remap: {3: 0}\n")
    if text.count(old) != 1:
        fail("configs/demo.yaml: task2_2d_3class is not as this test expects")
    config = os.path.join(tmp, "two-classes.yaml")
    with open(config, "w") as f:
        f.write(text.replace(old, old.replace("classes: [background, vessel, cell]\n"
                                              "    remap: {3: 0}\n",
                                              "classes: [background, vessel]\n")))

    # The first bad voxel in build order: cortex (first region), train (first split of the
    # task), z ascending, C order within the 256 x 256 tile. Tasks before it (task1,
    # task2_2d_4class) declare every code they meet.
    x0, x1, y0, y1 = REGIONS["cortex"]
    z0, z1 = 110, 379
    cube = cutout(url, "pixel_labels", (x0, x1), (y0, y1), (z0, z1))
    bad = np.flatnonzero(cube.ravel() > 1)
    if bad.size == 0:
        fail("the mock's cortex train labels have no code above 1; the test needs one")
    k, y, x = np.unravel_index(bad[0], cube.shape)
    code = int(cube[k, y, x])
    want = (f"mtneuro-pack: pixel_labels: unexpected label code {code} at "
            f"(x={x0 + x}, y={y0 + y}, z={z0 + k}) for task task2_2d_3class "
            "(declared codes: 0-1)")
    out = os.path.join(tmp, "bad-code")
    proc = subprocess.run(build_cmd(config, out, os.path.join(tmp, "cache"), url, "--quiet"),
                          capture_output=True, text=True)
    print(f"  stderr: {proc.stderr.strip()}")
    if proc.returncode != 1:
        fail(f"build with an undeclared code exited {proc.returncode}, expected 1")
    shape = re.compile(r"^mtneuro-pack: pixel_labels: unexpected label code \d+ at "
                       r"\(x=\d+, y=\d+, z=\d+\) for task task2_2d_3class "
                       r"\(declared codes: [0-9, -]+\)$")
    if not shape.match(proc.stderr.rstrip("\n")):
        fail(f"stderr is not the promised one-line message: {proc.stderr!r}")
    if proc.stderr.rstrip("\n") != want:
        fail(f"stderr: {proc.stderr.strip()!r}\n  want: {want!r}")
    rel = os.path.join(out, NAME)
    left = tree_files(rel) if os.path.isdir(rel) else []
    if "task2_2d_3class.h5" in left or any(p.endswith(".h5") for p in left):
        fail(f"a failed build left finished-looking files: {left}")
    if any(".tmp" in p for p in left):
        fail(f"a failed build left temporary files: {left}")
    step(f"undeclared code {code} at z={z0 + k}: exact message, exit 1, no task file")


def test_threads(tmp, url):
    """Compression on 1 or 4 threads writes the same bytes (writes happen in a fixed order)."""
    config = small_config(os.path.join(tmp, "threads.yaml"))
    cache = os.path.join(tmp, "threads-cache")
    outs = []
    for threads in ("1", "4"):
        out = os.path.join(tmp, f"threads-{threads}")
        proc = subprocess.run(build_cmd(config, out, cache, url, "--quiet", "--threads", threads),
                              capture_output=True, text=True)
        if proc.returncode != 0:
            fail(f"build --threads {threads} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
        outs.append(os.path.join(out, NAME))
    files = tree_files(outs[0])
    if files != tree_files(outs[1]) or not any(f.endswith(".h5") for f in files):
        fail(f"--threads 1 and 4 wrote different file sets: {files} / {tree_files(outs[1])}")
    for f in files:
        if sha256_file(os.path.join(outs[0], f)) != sha256_file(os.path.join(outs[1], f)):
            fail(f"{f}: --threads 1 and --threads 4 differ")
    step(f"--threads 1 and --threads 4: {len(files)} files, identical SHA-256")


def main():
    with tempfile.TemporaryDirectory() as tmp, \
            mock_server("--token", SECRET) as (url, log):
        test_token_and_kill(tmp, url, log)
        test_unexpected_code(tmp, url)
        test_threads(tmp, url)
    print("build faults: all checks passed")


if __name__ == "__main__":
    main()
