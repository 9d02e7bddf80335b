#!/usr/bin/python3
"""Helpers of scripts/bench.sh (Debian's /usr/bin/python3; standard library plus yaml).

  benchlib.py curlcfg CONFIG BASEURL < plan-verbose-output
      the cutout URLs of every request `mtneuro-pack plan CONFIG --verbose` lists (its
      unindented lines; the indented ones are the blocks of each request), as a curl -K file (url = "..." / output = "/dev/null"); channel URIs come from CONFIG.
  benchlib.py record RUNS NAME RUN TIMEFILE LOG OFFSET [FLOOR_LINE]
      append one run to RUNS (JSON lines): /usr/bin/time output (-f "%e %U %S %M"), the
      mock's log lines from byte OFFSET on, and for compress-floor its output line.
  benchlib.py table RUNS JSON_OUT [key=value ...]
      the median of each metric per row, the ratios, printed as a table; JSON to JSON_OUT.
"""
import json
import re
import statistics
import sys

import yaml

REQUEST = re.compile(r"^(\S+) x\[(\d+),(\d+)\) y\[(\d+),(\d+)\) z\[(\d+),(\d+)\)$")
ROWS = ["cold", "warm", "fetch-floor", "compress-floor", "libdeflate-floor", "x4", "cold-wan",
        "cold-wan-busy"]


def curlcfg(config, base):
    with open(config) as f:
        cfg = yaml.safe_load(f)
    res = int(cfg.get("source", {}).get("resolution", 0))
    paths = {}
    for name, uri in cfg["channels"].items():
        m = re.fullmatch(r"bossdb://([^/]+)/([^/]+)/([^/]+)", uri)
        if m is None:
            sys.exit("benchlib: channel %s: cannot read URI %r" % (name, uri))
        paths[name] = "/".join(m.groups())
    n = 0
    for line in sys.stdin:
        m = REQUEST.match(line.rstrip("\n"))
        if m is None:
            continue
        chan, x0, x1, y0, y1, z0, z1 = m.groups()
        if chan not in paths:
            sys.exit("benchlib: plan names channel %r that the config does not" % chan)
        url = "%s/v1/cutout/%s/%d/%s:%s/%s:%s/%s:%s/?access-mode=no-cache" % (
            base, paths[chan], res, x0, x1, y0, y1, z0, z1)
        print('url = "%s"\noutput = "/dev/null"' % url)
        n += 1
    if n == 0:
        sys.exit("benchlib: no request lines in the plan output")


def log_since(log, offset, detail=None):
    """(requests, bytes, cutouts, not_ok) of the mock's log from byte offset on; `detail`
    (a dict) also gets busy (503s), busy_late (503s after the first two seconds of the
    run), peak_inflight (most cutouts the mock served at once)."""
    requests = nbytes = cutouts = not_ok = 0
    busy = busy_late = peak = 0
    t0 = None
    with open(log, "rb") as f:
        f.seek(offset)
        for raw in f:
            entry = json.loads(raw)
            requests += 1
            nbytes += entry["bytes"]
            cutouts += entry["path"].startswith("/v1/cutout/")
            not_ok += entry["status"] != 200
            t0 = entry.get("t_ms", 0) if t0 is None else t0
            if entry["status"] == 503:
                busy += 1
                busy_late += entry.get("t_ms", 0) - t0 > 2000
            elif entry["status"] == 200:
                peak = max(peak, entry.get("inflight", 0))
    if detail is not None:
        detail.update(busy=busy, busy_late=busy_late, peak_inflight=peak)
    return requests, nbytes, cutouts, not_ok


def record(runs, name, run, timefile, log, offset, floor_line=None):
    with open(timefile) as f:
        fields = f.read().split()
    wall, user, sys_s, rss_kb = float(fields[-4]), float(fields[-3]), float(fields[-2]), \
        int(fields[-1])
    detail = {}
    requests, nbytes, cutouts, not_ok = log_since(log, int(offset), detail)
    row = {"row": name, "run": int(run), "wall_s": wall, "cpu_s": round(user + sys_s, 3),
           "rss_mb": round(rss_kb / 1024.0, 1), "requests": requests, "cutouts": cutouts,
           "mb": round(nbytes / 1e6, 3), "not_ok": not_ok - detail["busy"], **detail}
    if floor_line:
        kv = dict(item.split("=", 1) for item in floor_line.split()[1:])
        # The floor is the compression alone: its own timers, not the process's.
        row["process_wall_s"] = wall
        row["wall_s"] = float(kv["compress_s"])
        row["cpu_s"] = float(kv["compress_cpu_s"])
        row["floor"] = {k: (v if not v[0].isdigit() else float(v) if "." in v else int(v))
                        for k, v in kv.items()}
    with open(runs, "a") as f:
        f.write(json.dumps(row) + "\n")


def ratio(a, b):
    return round(a / b, 3) if b > 0 else None


def table(runs, out, meta):
    with open(runs) as f:
        entries = [json.loads(line) for line in f if line.strip()]
    rows = {}
    for name in ROWS:
        mine = [e for e in entries if e["row"] == name]
        if not mine:
            continue
        med = {"runs": len(mine)}
        for key in ("wall_s", "cpu_s", "rss_mb", "requests", "cutouts", "mb", "not_ok"):
            med[key] = statistics.median(e[key] for e in mine)
        med["all_wall_s"] = [e["wall_s"] for e in mine]
        for key in ("busy", "busy_late", "peak_inflight"):
            med[key] = statistics.median(e.get(key, 0) for e in mine)
        if "floor" in mine[0]:
            med["floor"] = mine[0]["floor"]
        rows[name] = med
    wall = {k: v["wall_s"] for k, v in rows.items()}
    ratios = {}
    # compress-floor is zlib's (HDF5's filter), libdeflate-floor the writer's compressor's.
    if {"cold", "fetch-floor", "compress-floor"} <= wall.keys():
        ratios["cold / max(fetch-floor, compress-floor)"] = ratio(
            wall["cold"], max(wall["fetch-floor"], wall["compress-floor"]))
    if {"cold", "compress-floor"} <= wall.keys():
        ratios["cold / compress-floor"] = ratio(wall["cold"], wall["compress-floor"])
    if {"cold", "fetch-floor", "libdeflate-floor"} <= wall.keys():
        ratios["cold / max(fetch-floor, libdeflate-floor)"] = ratio(
            wall["cold"], max(wall["fetch-floor"], wall["libdeflate-floor"]))
    if {"warm", "compress-floor"} <= wall.keys():
        ratios["warm / compress-floor"] = ratio(wall["warm"], wall["compress-floor"])
    if {"warm", "libdeflate-floor"} <= wall.keys():
        ratios["warm / libdeflate-floor"] = ratio(wall["warm"], wall["libdeflate-floor"])
    if {"cold-wan", "cold"} <= wall.keys():
        ratios["cold-wan / cold"] = ratio(wall["cold-wan"], wall["cold"])
    if {"cold-wan-busy", "cold-wan"} <= wall.keys():
        ratios["cold-wan-busy / cold-wan"] = ratio(wall["cold-wan-busy"], wall["cold-wan"])
    if "cold-wan-busy" in rows:
        r = rows["cold-wan-busy"]
        ratios["cold-wan-busy: refused after 2 s / cutouts"] = ratio(r["busy_late"],
                                                                     r["cutouts"])
    if {"x4", "cold"} <= wall.keys():
        ratios["x4 / cold"] = ratio(wall["x4"], wall["cold"])
        ratios["x4 / cold (peak RSS)"] = ratio(rows["x4"]["rss_mb"], rows["cold"]["rss_mb"])
    targets = {"cold / max(fetch-floor, compress-floor)": "<= 1.3",
               "cold / compress-floor": "<= 0.9",
               "cold / max(fetch-floor, libdeflate-floor)": "(reported)",
               "warm / compress-floor": "<= 0.75", "warm / libdeflate-floor": "<= 1.6",
               "x4 / cold": "3.6 - 4.4", "cold-wan / cold": "<= 1.3",
               "cold-wan-busy / cold-wan": "<= 1.5",
               "cold-wan-busy: refused after 2 s / cutouts": "<= 0.05",
               "x4 / cold (peak RSS)": "<= 1.1"}

    head = "%-16s %9s %9s %9s %9s %10s  %s" % ("row", "wall s", "cpu s", "rss MB", "requests",
                                              "MB fetched", "wall of each run")
    print(head)
    print("-" * len(head))
    for name, r in rows.items():
        print("%-16s %9.2f %9.2f %9.1f %9d %10.1f  %s" % (
            name, r["wall_s"], r["cpu_s"], r["rss_mb"], r["requests"], r["mb"],
            " ".join("%.2f" % w for w in r["all_wall_s"])))
    if ratios:
        print()
    for name, value in ratios.items():
        shown = "n/a" if value is None else "%.2f" % value
        print("%-46s %6s   (target %s)" % (name, shown, targets[name]))
    for name in ("compress-floor", "libdeflate-floor"):
        if name not in rows:
            continue
        fl = rows[name]["floor"]
        print()
        print("%s: %s, %d slices, %.1f MB -> %.1f MB at level %d (wall and cpu of the row are "
              "the deflate calls alone)" % (name, fl.get("compressor", "zlib"), fl["slices"],
                                             fl["bytes_in"] / 1e6, fl["bytes_out"] / 1e6,
                                             fl["level"]))
    for name in ("cold-wan", "cold-wan-busy"):
        if name in rows:
            r = rows[name]
            print("%s: %d cutouts, %d answered 503 (%d after the first 2 s), peak %d served at "
                  "once" % (name, r["cutouts"], r["busy"], r["busy_late"], r["peak_inflight"]))
    for k, v in meta.items():
        print("%s: %s" % (k, v))
    bad = {k: v["not_ok"] for k, v in rows.items() if v["not_ok"]}
    if bad:
        print("WARNING: requests that did not answer 200: %r" % bad)
    with open(out, "w") as f:
        json.dump({"meta": meta, "rows": rows, "ratios": ratios, "targets": targets,
                   "runs": entries}, f, indent=2, sort_keys=False)
        f.write("\n")


def main(argv):
    if len(argv) >= 3 and argv[0] == "curlcfg":
        curlcfg(argv[1], argv[2])
    elif len(argv) in (7, 8) and argv[0] == "record":
        record(*argv[1:])
    elif len(argv) >= 3 and argv[0] == "table":
        meta = dict(a.split("=", 1) for a in argv[3:])
        table(argv[1], argv[2], meta)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
