#!/usr/bin/env bash
# The performance benchmark of issue "[6/6] Performance" (DESIGN §9): builds against a
# warmed bossdb-mock on loopback and their measured lower bounds, one table on stdout,
# the same as JSON in build/bench.json, progress on stderr.
#
# Rows (each the median of --runs runs; every build gets a fresh out dir):
#   cold            build configs/demo.yaml, empty cache
#   warm            the same build again with the cache full
#   fetch-floor     the cutout URLs of `plan --verbose`, curl --parallel --parallel-max JOBS
#   compress-floor  build/compress-floor --compressor zlib: every unique image slice deflated
#                   once, one thread, with zlib (HDF5's own filter; the floor of a zlib writer)
#   libdeflate-floor  the same slices, same level, one thread, with libdeflate (the writer's
#                   compressor). Wall and cpu of both floors are the deflate calls alone.
#   x4              build configs/bench-x4.yaml (16 regions, 4x the voxels), empty cache
#   cold-wan        the cold build against a distant server: a second mock with
#                   --delay-ms 150 (each answer 150 ms late), default settings
#   cold-wan-busy   the same, the server also busy: --delay-ms 150 --max-inflight 6
#                   (cutouts beyond 6 at once answer 503 + Retry-After: 1); the row shows
#                   the 503s received, and both WAN rows the peak concurrency the mock saw
# Columns: wall, user+sys CPU and peak RSS of the client process (/usr/bin/time), HTTP
# requests and MB served by the mock during the run (from its --log).
#
# usage: scripts/bench.sh [--runs N] [--quick] [--jobs N] [--threads N] [--mock-cache-mb N]
#                         [--rows LIST] [--keep]
# --jobs is the builds' concurrent transfers and curl's --parallel-max (default: the
# config's source.jobs); --threads, when given, is passed to the builds (compression threads).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=$ROOT/build
PY=/usr/bin/python3
LIB=$ROOT/tools/bench/benchlib.py
DEMO=configs/demo.yaml
X4=configs/bench-x4.yaml

runs=3
jobs=""
threads=""
mock_cache_mb=1024 # the demo's bodies are ~112 MB, x4's ~4x that; the mock needs them all
rows="cold,warm,fetch-floor,compress-floor,libdeflate-floor,x4,cold-wan,cold-wan-busy"
keep=0
usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=${2:?--runs needs a value}; shift 2 ;;
    --quick) runs=1; shift ;;
    --jobs) jobs=${2:?--jobs needs a value}; shift 2 ;;
    --threads) threads=${2:?--threads needs a value}; shift 2 ;;
    --mock-cache-mb) mock_cache_mb=${2:?--mock-cache-mb needs a value}; shift 2 ;;
    --rows) rows=${2:?--rows needs a value}; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$runs" in
  ''|*[!0-9]*|0) echo "bench: --runs: '$runs' is not a positive integer" >&2; exit 2 ;;
esac
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)

log() { echo "bench: $*" >&2; }
want() { case ",$rows," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

if [ ! -x "$BUILD/mtneuro-pack" ] || [ ! -x "$BUILD/bossdb-mock" ] || \
   [ ! -x "$BUILD/compress-floor" ]; then
  log "build/ is incomplete: running scripts/setup.sh"
  scripts/setup.sh >&2
fi
if [ -z "$jobs" ]; then
  jobs=$($PY -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["source"]["jobs"])' \
         "$DEMO")
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mtp-bench.XXXXXX")
MOCK_PID=""
WAN_PIDS=()
cleanup() {
  for pid in $MOCK_PID "${WAN_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$keep" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the mock, warmed ------------------------------------------------------------------
MOCK_LOG=$WORK/mock.log
"$BUILD/bossdb-mock" --port 0 --log "$MOCK_LOG" --cache-mb "$mock_cache_mb" \
  >"$WORK/mock.out" 2>"$WORK/mock.err" &
MOCK_PID=$!
URL=""
for _ in $(seq 100); do
  URL=$(sed -n 's/^listening on //p' "$WORK/mock.out")
  [ -n "$URL" ] && break
  kill -0 "$MOCK_PID" 2>/dev/null || { cat "$WORK/mock.err" >&2; exit 1; }
  sleep 0.1
done
[ -n "$URL" ] || { log "the mock did not start"; exit 1; }
log "mock at $URL (pid $MOCK_PID, cache ${mock_cache_mb} MB); it shares the $(nproc) cores" \
    "with the client"

curl_cfg() { # CONFIG OUT: the -K file of the config's planned cutouts
  "$BUILD/mtneuro-pack" plan "$1" --verbose | $PY "$LIB" curlcfg "$1" "$URL" >"$2"
}
CURL=(curl --parallel --parallel-max "$jobs" -s --no-progress-meter -H "Authorization: Token public"
      -H "Accept: application/blosc" -K)
curl_cfg "$DEMO" "$WORK/demo.curl"
curl_cfg "$X4" "$WORK/x4.curl"
demo_urls=$(grep -c '^url' "$WORK/demo.curl")
x4_urls=$(grep -c '^url' "$WORK/x4.curl")
warm_cfg=("$WORK/demo.curl")
want x4 && warm_cfg+=("$WORK/x4.curl")
grep -h '^url' "${warm_cfg[@]}" | sort -u | sed 's|$|\noutput = "/dev/null"|' >"$WORK/warm.curl"
log "warming the mock: $(grep -c '^url' "$WORK/warm.curl") cutouts (demo $demo_urls, x4 $x4_urls)"
t0=$(date +%s)
"${CURL[@]}" "$WORK/warm.curl"
# A second pass is the check: from the mock's memory it takes a small part of the first.
warm_off=$(stat -c %s "$MOCK_LOG")
t1=$(date +%s)
"${CURL[@]}" "$WORK/warm.curl"
log "warmed in $((t1 - t0)) s; second pass $(($(date +%s) - t1)) s"
read -r _ warm_bytes _ warm_bad < <($PY -c '
import sys; sys.path.insert(0, sys.argv[3]); import benchlib
r = benchlib.log_since(sys.argv[1], int(sys.argv[2])); print(*r)' "$MOCK_LOG" "$warm_off" \
  "$ROOT/tools/bench")
[ "$warm_bad" = 0 ] || { log "warming: $warm_bad requests failed"; exit 1; }

# ---- the distant mocks (WAN rows), each warmed with the demo's cutouts -----------------------
start_wan() { # NAME ARGS...: a mock with ARGS; sets WAN_URL_<NAME>, its log WORK/NAME.log
  local name=$1
  shift
  "$BUILD/bossdb-mock" --port 0 --log "$WORK/$name.log" --cache-mb "$mock_cache_mb" "$@" \
    >"$WORK/$name.out" 2>"$WORK/$name.err" &
  WAN_PIDS+=($!)
  local url=""
  for _ in $(seq 100); do
    url=$(sed -n 's/^listening on //p' "$WORK/$name.out")
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || { log "the $name mock did not start"; exit 1; }
  sed "s|$URL|$url|" "$WORK/demo.curl" >"$WORK/$name.curl"
  curl --parallel --parallel-max 6 -s --no-progress-meter -H "Authorization: Token public" \
    -H "Accept: application/blosc" -K "$WORK/$name.curl" || true
  printf -v "WAN_URL_${name//-/_}" '%s' "$url"
  log "$name mock at $url ($*), warmed"
}
want cold-wan && start_wan cold-wan --delay-ms 150 --max-inflight 1000
want cold-wan-busy && start_wan cold-wan-busy --delay-ms 150 --max-inflight 6

# ---- measuring -------------------------------------------------------------------------
RUNS=$WORK/runs.jsonl
: >"$RUNS"
timed() { # NAME RUN CMD...: run CMD under /usr/bin/time, record the row
  local name=$1 run=$2
  shift 2
  local off
  off=$(stat -c %s "$MOCK_LOG")
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/time.txt" "$@" >"$WORK/cmd.out" 2>"$WORK/cmd.err" || {
    log "$name run $run failed:"
    tail -5 "$WORK/cmd.err" >&2
    exit 1
  }
  local floor_line=""
  case "$name" in
    compress-floor | libdeflate-floor) floor_line=$(grep '^compress-floor ' "$WORK/cmd.out") ;;
  esac
  $PY "$LIB" record "$RUNS" "$name" "$run" "$WORK/time.txt" "$MOCK_LOG" "$off" "$floor_line"
  log "$name run $run: $(tail -1 "$RUNS" | $PY -c 'import json, sys; r = json.load(sys.stdin)
print("wall %.2f s, cpu %.2f s, rss %.0f MB, %d requests, %.1f MB" % (r["wall_s"], r["cpu_s"],
      r["rss_mb"], r["requests"], r["mb"]))')"
}
BUILD_CMD=("$BUILD/mtneuro-pack" build --source-url "$URL" --quiet --jobs "$jobs")
[ -n "$threads" ] && BUILD_CMD+=(--threads "$threads")
WARM_CACHE=$WORK/cache-demo
for run in $(seq "$runs"); do
  if want cold; then
    rm -rf "$WORK/out" "$WARM_CACHE"
    timed cold "$run" "${BUILD_CMD[@]}" "$DEMO" --cache "$WARM_CACHE" --out "$WORK/out"
    rm -rf "$WORK/out"
  elif [ "$run" = 1 ] && { want warm || want compress-floor || want libdeflate-floor; }; then
    log "filling the cache for warm / compress-floor"
    "${BUILD_CMD[@]}" "$DEMO" --cache "$WARM_CACHE" --out "$WORK/out" >/dev/null
    rm -rf "$WORK/out"
  fi
  if want warm; then
    timed warm "$run" "${BUILD_CMD[@]}" "$DEMO" --cache "$WARM_CACHE" --out "$WORK/out"
    rm -rf "$WORK/out"
  fi
  if want fetch-floor; then
    timed fetch-floor "$run" "${CURL[@]}" "$WORK/demo.curl"
  fi
  if want compress-floor; then
    timed compress-floor "$run" "$BUILD/compress-floor" "$DEMO" --source-url "$URL" \
      --cache "$WARM_CACHE" --compressor zlib
  fi
  if want libdeflate-floor; then
    timed libdeflate-floor "$run" "$BUILD/compress-floor" "$DEMO" --source-url "$URL" \
      --cache "$WARM_CACHE" --compressor libdeflate
  fi
  if want x4; then
    rm -rf "$WORK/out" "$WORK/cache-x4"
    timed x4 "$run" "${BUILD_CMD[@]}" "$X4" --cache "$WORK/cache-x4" --out "$WORK/out"
    rm -rf "$WORK/out" "$WORK/cache-x4"
  fi
  for wan in cold-wan cold-wan-busy; do
    want $wan || continue
    var="WAN_URL_${wan//-/_}"
    rm -rf "$WORK/out" "$WORK/cache-$wan"
    MOCK_LOG=$WORK/$wan.log timed $wan "$run" "$BUILD/mtneuro-pack" build --source-url "${!var}" \
      --quiet "$DEMO" --cache "$WORK/cache-$wan" --out "$WORK/out"
    rm -rf "$WORK/out" "$WORK/cache-$wan"
  done
done

mkdir -p "$BUILD"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit+dirty"
mock_note="bossdb-mock on loopback, warmed first ($warm_bytes bytes in the check pass);"
mock_note="$mock_note it shares the $(nproc) cores with the client, its CPU is not in the rows"
$PY "$LIB" table "$RUNS" "$BUILD/bench.json" "commit=$commit" "runs=$runs" "jobs=$jobs" \
  "threads=${threads:-default}" \
  "cores=$(nproc)" "loadavg at start=$load_at_start" \
  "loadavg at end=$(cut -d' ' -f1-3 /proc/loadavg) (other processes on the machine count)" \
  "mock=$mock_note" "json=$BUILD/bench.json"
