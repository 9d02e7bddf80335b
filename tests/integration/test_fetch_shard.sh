#!/usr/bin/env bash
# fetch --shard auto under a simulated Kubernetes Indexed Job and an mpirun-style launch: four
# fetchers at once on one cache directory, each taking its shard from the environment. Every
# voxel of the plan is requested exactly once, the cache ends complete, and build --offline
# writes the release from it with no cutout request. Without scheduler variables, or with
# launchers that disagree, --shard auto is a usage error (exit 2).
source "$(dirname "$0")/fetchlib.sh"

LOG="$TMP/mock.log"
start_mock "$LOG"
nplan=$("$PACK" plan "$DEMO" | sed -n 's/^total: \([0-9]*\) blocks.*/\1/p')
"$PACK" plan "$DEMO" --shards 4 >"$TMP/plan4"

# run_four CACHE ENV-OF-SHARD-I...: four fetchers in parallel, shard i with "env ARGS[i]".
run_four() {
    local cache=$1
    shift
    local pids=() i=0
    for vars in "$@"; do
        env $vars "$PACK" fetch "$DEMO" --cache "$cache" --source-url "$MOCK_URL" --shard auto \
            ${SHARDS_FLAG:-} >"$TMP/out.$i" 2>"$TMP/err.$i" &
        pids+=($!)
        i=$((i + 1))
    done
    for i in 0 1 2 3; do
        wait "${pids[$i]}" || fail "fetcher $i exited $?: $(cat "$TMP/err.$i")"
    done
}

check_run() { # check_run WHAT CACHE FROM-LINE SOURCE-TEXT-OF-SHARD-I...
    local what=$1 cache=$2 from=$3
    shift 3
    # Every voxel requested once (each fetcher groups its shard's blocks into requests).
    assert_eq "$what: voxels requested" 283115520 "$($PY "$HELPER" voxels "$LOG" "$from")"
    assert_eq "$what: distinct cutout requests" "$($PY "$HELPER" cutouts "$LOG" "$from")" \
        "$($PY "$HELPER" distinct "$LOG" "$from")"
    assert_eq "$what: blocks in the cache" "$nplan" "$(count_blocks "$cache")"
    local i=0
    for source in "$@"; do
        n=$(sed -n "s/^$i  *\([0-9]*\) .*/\1/p" "$TMP/plan4")
        grep -qF "shard $i/4 ($source): $n of $nplan blocks" "$TMP/err.$i" ||
            fail "$what: fetcher $i: $(head -1 "$TMP/err.$i")"
        grep -q "^fetched $n blocks (0 cached)" "$TMP/out.$i" || fail "$what: fetcher $i: $(cat "$TMP/out.$i")"
        i=$((i + 1))
    done
    echo "$what: 4 fetchers, $nplan blocks in $($PY "$HELPER" cutouts "$LOG" "$from" ) requests, each voxel requested once"
}

# Kubernetes Indexed Job: JOB_COMPLETION_INDEX, the count from --shards.
SHARDS_FLAG="--shards 4" run_four "$TMP/k8s" JOB_COMPLETION_INDEX=0 JOB_COMPLETION_INDEX=1 \
    JOB_COMPLETION_INDEX=2 JOB_COMPLETION_INDEX=3
check_run "indexed job" "$TMP/k8s" 0 "JOB_COMPLETION_INDEX: shard 0/4 (--shards)" \
    "JOB_COMPLETION_INDEX: shard 1/4 (--shards)" "JOB_COMPLETION_INDEX: shard 2/4 (--shards)" \
    "JOB_COMPLETION_INDEX: shard 3/4 (--shards)"

# mpirun (Open MPI) exports OMPI_COMM_WORLD_RANK/SIZE; Hydra and srun --mpi=pmi2 PMI_RANK/SIZE.
from=$($PY "$HELPER" lines "$LOG")
run_four "$TMP/mpi" "OMPI_COMM_WORLD_RANK=0 OMPI_COMM_WORLD_SIZE=4" \
    "OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=4 PMI_RANK=1 PMI_SIZE=4" \
    "PMI_RANK=2 PMI_SIZE=4" "PMI_RANK=3 PMI_SIZE=4"
check_run "mpirun" "$TMP/mpi" "$from" "OMPI_COMM_WORLD_RANK: shard 0/4 (OMPI_COMM_WORLD_SIZE)" \
    "OMPI_COMM_WORLD_RANK: shard 1/4 (OMPI_COMM_WORLD_SIZE)" "PMI_RANK: shard 2/4 (PMI_SIZE)" \
    "PMI_RANK: shard 3/4 (PMI_SIZE)"

# The two caches hold the same blocks, byte for byte.
$PY "$HELPER" tree "$TMP/k8s" >"$TMP/tree.k8s"
$PY "$HELPER" tree "$TMP/mpi" >"$TMP/tree.mpi"
diff "$TMP/tree.k8s" "$TMP/tree.mpi" >/dev/null || fail "the two sharded caches differ"

# build --offline from it: no request at all (metadata included).
from=$($PY "$HELPER" lines "$LOG")
"$PACK" build "$DEMO" --offline --shards 4 --cache "$TMP/mpi" --source-url "$MOCK_URL" \
    --out "$TMP/rel" --quiet || fail "build --offline failed"
assert_eq "requests of build --offline" 0 "$(($($PY "$HELPER" lines "$LOG") - from))"
[ -f "$TMP/rel/mtneuro-demo-1.0.0/manifest.json" ] || fail "no release"
echo "build --offline: release written, 0 requests"

# Usage errors: exit 2, one line.
expect_usage() { # expect_usage MESSAGE ENV...
    local msg=$1
    shift
    set +e
    env -u SLURM_ARRAY_TASK_ID -u JOB_COMPLETION_INDEX -u OMPI_COMM_WORLD_RANK -u PMI_RANK "$@" \
        "$PACK" fetch "$DEMO" --cache "$TMP/none" --source-url "$MOCK_URL" --shard auto \
        2>"$TMP/usage.err"
    local rc=$?
    set -e
    assert_eq "exit status" 2 "$rc"
    assert_eq "message" "mtneuro-pack: $msg" "$(cat "$TMP/usage.err")"
}
expect_usage "--shard auto: no scheduler variables set (SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX, OMPI_COMM_WORLD_RANK or PMI_RANK); use --shard I/N"
expect_usage "--shard auto: launchers disagree: OMPI_COMM_WORLD_RANK: shard 1/4 (OMPI_COMM_WORLD_SIZE), but PMI_RANK: shard 0/1 (PMI_SIZE)" \
    OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=4 PMI_RANK=0 PMI_SIZE=1
expect_usage "--shard auto: JOB_COMPLETION_INDEX=1 (Kubernetes Indexed Job) needs --shards N, the Job's completions" \
    JOB_COMPLETION_INDEX=1
[ ! -e "$TMP/none" ] || fail "a refused fetch created its cache"
echo "ok"
