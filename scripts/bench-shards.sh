#!/usr/bin/env bash
# The overhead of sharding on one machine (issue [6/6] Scale-out): `fetch CONFIG` as 1, 2 and
# 4 shards run at once (`fetch --shard i/N`, one process each) into a fresh cache, against a
# warmed bossdb-mock on loopback. One machine gives no speed-up (the same cores and loopback
# serve every shard); the rows show what splitting costs: wall time, the processes' summed
# user+sys CPU, and the requests the mock served (each block exactly once).
#
# usage: scripts/bench-shards.sh [CONFIG] [--runs N]    (default configs/bench-x4.yaml, 3 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
PACK=$PWD/build/mtneuro-pack
MOCK=$PWD/build/bossdb-mock
PY=/usr/bin/python3
config=configs/bench-x4.yaml
runs=3
while [ $# -gt 0 ]; do
    case "$1" in
    --runs) runs=${2:?}; shift 2 ;;
    *) config=$1; shift ;;
    esac
done
TMP=$(mktemp -d /tmp/mtp-bench-shards.XXXXXX)
MOCK_PID=""
cleanup() {
    [ -z "$MOCK_PID" ] || { kill "$MOCK_PID" 2>/dev/null || true; wait "$MOCK_PID" 2>/dev/null || true; }
    rm -rf "$TMP"
}
trap cleanup EXIT
"$MOCK" --port 0 --log "$TMP/mock.log" --cache-mb 2048 >"$TMP/mock.out" 2>&1 &
MOCK_PID=$!
for _ in $(seq 100); do
    url=$(sed -n '1s|^listening on \(http://127\.0\.0\.1:[0-9]*\).*|\1|p' "$TMP/mock.out")
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { echo "bossdb-mock did not start" >&2; exit 1; }
# Warm the mock (it encodes each body once), so the rows measure the client.
"$PACK" fetch "$config" --cache "$TMP/warm" --source-url "$url" --quiet
rm -rf "$TMP/warm"
nplan=$("$PACK" plan "$config" | sed -n 's/^total: \([0-9]*\) blocks.*/\1/p')

printf '%-8s %6s %9s %9s %9s %9s\n' shards runs "wall s" "cpu s" requests "MB body"
for n in 1 2 4; do
    walls=() cpus=()
    for r in $(seq "$runs"); do
        from=$(wc -l <"$TMP/mock.log")
        cache="$TMP/cache.$n.$r"
        t0=$(date +%s.%N)
        pids=()
        for i in $(seq 0 $((n - 1))); do
            /usr/bin/time -f '%U %S' -o "$TMP/time.$i" "$PACK" fetch "$config" --cache "$cache" \
                --source-url "$url" --shard "$i/$n" --quiet &
            pids+=($!)
        done
        for p in "${pids[@]}"; do wait "$p"; done
        t1=$(date +%s.%N)
        walls+=("$($PY -c "print($t1 - $t0)")")
        cpus+=("$(cat "$TMP"/time.* | awk '{s += $1 + $2} END {print s}')")
        rm -f "$TMP"/time.*
        stats=$($PY - "$TMP/mock.log" "$from" <<'PYEOF'
import json, sys
lines = open(sys.argv[1]).read().splitlines()[int(sys.argv[2]):]
cut = [json.loads(l) for l in lines if '"/v1/cutout/' in l]
paths = {e["path"] for e in cut}
print(len(cut), len(paths), sum(e.get("bytes", 0) for e in cut))
PYEOF
)
        set -- $stats
        [ "$1" = "$nplan" ] && [ "$2" = "$nplan" ] ||
            { echo "shards $n: $1 cutout requests, $2 distinct, plan $nplan" >&2; exit 1; }
        body=$3
        rm -rf "$cache"
    done
    median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
    printf '%-8s %6s %9.2f %9.2f %9s %9.1f\n' "$n" "$runs" "$(median "${walls[@]}")" \
        "$(median "${cpus[@]}")" "$nplan" "$($PY -c "print($body/1e6)")"
done
