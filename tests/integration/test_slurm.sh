#!/usr/bin/env bash
# A real SLURM on this machine: munged, slurmctld and slurmd with a one-node slurm.conf in a
# temp dir (own ports, state and spool dirs, a fresh munge key). The fetch of the demo config
# runs as a job array of 4 tasks (scripts/slurm/fetch.sbatch, --shard auto) against
# bossdb-mock, then scripts/slurm/build.sbatch runs build --offline after it
# (--dependency=afterok). Asserts:
#  - the mock's log shows every block of the plan requested exactly once across the tasks;
#  - the release is byte-identical (diff -r) to a single-process build;
#  - a cancelled array task (scancel JOBID_2, while the array is held, so the cancel cannot
#    race the task) makes build --offline fail naming shard 2; rerunning that one task
#    (MTP_SHARDS=4 sbatch --array=2) completes the cache and the build.
# Skips (exit 77) when the daemons cannot run here (not root, no slurm-wlm/munge).
source "$(dirname "$0")/fetchlib.sh"

skip() {
    echo "SKIP: $*"
    exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root (slurmd runs jobs as their user; SlurmUser=root)"
for b in munged slurmctld slurmd sbatch scancel scontrol squeue; do
    command -v "$b" >/dev/null || skip "$b not installed (scripts/setup.sh installs slurm-wlm and munge)"
done

S="$TMP/slurm"
mkdir -p "$S/state" "$S/spool" "$S/jobs"
DAEMON_PIDS=()
stop_daemons() {
    # slurmd first (it runs the jobs), then the controller, then munge; each by its pid.
    local pid
    for ((i = ${#DAEMON_PIDS[@]} - 1; i >= 0; i--)); do
        pid=${DAEMON_PIDS[i]}
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    DAEMON_PIDS=()
}
cleanup_all() {
    stop_daemons
    cleanup
}
trap cleanup_all EXIT

free_port() {
    $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
HOST=$(hostname -s)
CTLD_PORT=$(free_port)
SLURMD_PORT=$(free_port)
while [ "$SLURMD_PORT" = "$CTLD_PORT" ]; do SLURMD_PORT=$(free_port); done

# munge, with a key of its own
dd if=/dev/urandom of="$S/munge.key" bs=1024 count=1 status=none
chmod 0400 "$S/munge.key"
munged --foreground --force --socket="$S/munge.sock" --key-file="$S/munge.key" \
    --pid-file="$S/munged.pid" --log-file="$S/munged.log" --seed-file="$S/munged.seed" \
    >"$S/munged.out" 2>&1 &
DAEMON_PIDS+=($!)
for _ in $(seq 50); do [ -S "$S/munge.sock" ] && break; sleep 0.1; done
[ -S "$S/munge.sock" ] || skip "munged did not start: $(tail -3 "$S/munged.out" "$S/munged.log" 2>/dev/null)"

cat >"$S/slurm.conf" <<EOF
ClusterName=mtptest
SlurmctldHost=$HOST
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$S/munge.sock
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/slurmctld.log
SlurmdLogFile=$S/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MailProg=/bin/true
KillWait=2
MinJobAge=300
SlurmctldTimeout=10
SlurmdTimeout=10
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=test Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$S/slurm.conf"

slurmctld -D -i -f "$SLURM_CONF" >"$S/slurmctld.out" 2>&1 &
DAEMON_PIDS+=($!)
slurmd -D -f "$SLURM_CONF" -N "$HOST" >"$S/slurmd.out" 2>&1 &
DAEMON_PIDS+=($!)
up=""
for _ in $(seq 100); do
    if sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        up=1
        break
    fi
    for pid in "${DAEMON_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || break 2; done
    sleep 0.2
done
[ -n "$up" ] || skip "slurm did not come up: $(tail -2 "$S/slurmctld.out" "$S/slurmctld.log" \
    "$S/slurmd.out" "$S/slurmd.log" 2>/dev/null | tr '\n' ' ')"
echo "slurm up: node $HOST, slurmctld :$CTLD_PORT, slurmd :$SLURMD_PORT"

# wait_job JOBID: until squeue no longer lists it (sbatch --wait polls with growing sleeps,
# which cost ~25 s here); then prints each of its jobs' "ArrayTaskId JobState".
wait_job() {
    for _ in $(seq 1200); do
        [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && break
        sleep 0.1
    done
    [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] || fail "job $1 did not finish in 120 s"
    scontrol -o show job "$1" | while read -r line; do
        task=$(echo "$line" | grep -oE 'ArrayTaskId=[0-9]+' | cut -d= -f2 || true)
        echo "${task:--} $(echo "$line" | grep -oE 'JobState=[A-Z_]+' | cut -d= -f2)"
    done | sort
}

LOG="$TMP/mock.log"
start_mock "$LOG"
export MTNEURO_PACK="$PACK"
FETCH="$SOURCE_DIR/scripts/slurm/fetch.sbatch"
BUILD="$SOURCE_DIR/scripts/slurm/build.sbatch"
CACHE="$TMP/cache"
nplan=$("$PACK" plan "$DEMO" | sed -n 's/^total: \([0-9]*\) blocks.*/\1/p')

# ---- 1. the array of 4 fetches, then the offline build after it --------------------------
t0=$(date +%s.%N)
fetch_job=$(sbatch --parsable --array=0-3 --output="$S/jobs/fetch-%a.out" "$FETCH" "$DEMO" \
    --cache "$CACHE" --source-url "$MOCK_URL")
build_job=$(sbatch --parsable --dependency="afterok:$fetch_job" --output="$S/jobs/build.out" \
    "$BUILD" "$DEMO" 4 --cache "$CACHE" --source-url "$MOCK_URL" --out "$TMP/sharded" --quiet)
states=$(wait_job "$fetch_job" | paste -sd,)
assert_eq "states of the fetch tasks" "0 COMPLETED,1 COMPLETED,2 COMPLETED,3 COMPLETED" "$states"
assert_eq "state of the build job" "- COMPLETED" "$(wait_job "$build_job")"
t1=$(date +%s.%N)
echo "array job $fetch_job (4 fetch tasks) + build job $build_job (afterok): $($PY -c "print(round($t1-$t0,1))") s"

# Each task took its shard from SLURM's variables (--shard auto), as plan --shards 4 says.
"$PACK" plan "$DEMO" --shards 4 >"$TMP/plan4"
for i in 0 1 2 3; do
    n=$(sed -n "s/^$i  *\([0-9]*\) .*/\1/p" "$TMP/plan4")
    grep -q "^shard $i/4 (SLURM_ARRAY_TASK_ID: shard $i/4 (SLURM_ARRAY_TASK_MIN..MAX)): $n of $nplan blocks" \
        "$S/jobs/fetch-$i.out" || fail "task $i: $(head -3 "$S/jobs/fetch-$i.out")"
    grep -q "^fetched $n blocks (0 cached)" "$S/jobs/fetch-$i.out" || fail "task $i: $(tail -2 "$S/jobs/fetch-$i.out")"
done
# Each task groups its blocks into requests: every voxel is asked for once, no request twice.
assert_eq "voxels requested by the 4 tasks" 283115520 "$($PY "$HELPER" voxels "$LOG")"
ncut=$($PY "$HELPER" cutouts "$LOG")
assert_eq "distinct cutout requests of the 4 tasks" "$ncut" "$($PY "$HELPER" distinct "$LOG")"
assert_eq "blocks in the shared cache" "$nplan" "$(count_blocks "$CACHE")"
echo "mock log: $ncut cutout requests for $nplan blocks, all distinct: every voxel fetched exactly once"

# The same release from one process, with a cache of its own.
"$PACK" build "$DEMO" --cache "$TMP/cache1" --source-url "$MOCK_URL" --out "$TMP/single" --quiet ||
    fail "single-process build failed"
diff -r "$TMP/single" "$TMP/sharded" || fail "the sharded release differs from the single-process one"
echo "release byte-identical to a single-process build ($(find "$TMP/sharded" -type f | wc -l) files)"

# ---- 2. a cancelled array task: build --offline names its shard; rerun it ------------------
CACHE2="$TMP/cache2"
held=$(sbatch --parsable --hold --array=0-3 --output="$S/jobs/held-%a.out" "$FETCH" "$DEMO" \
    --cache "$CACHE2" --source-url "$MOCK_URL" --quiet)
scancel "${held}_2"
# The release answers an error for the cancelled task; the states are checked below.
scontrol release "$held" >"$S/release.out" 2>&1 || true
states=$(wait_job "$held" | paste -sd,)
# A task cancelled while pending leaves no record of its own: it never ran.
assert_eq "states of the held array's tasks" "0 COMPLETED,1 COMPLETED,3 COMPLETED" "$states"
[ ! -e "$S/jobs/held-2.out" ] || fail "the cancelled task 2 ran"
set +e
"$PACK" build "$DEMO" --offline --shards 4 --cache "$CACHE2" --source-url "$MOCK_URL" \
    --out "$TMP/partial" --quiet 2>"$TMP/offline.err"
rc=$?
set -e
cat "$TMP/offline.err"
assert_eq "exit status of build --offline with a shard missing" 1 "$rc"
missing=$(sed -n 's/^2  *\([0-9]*\) .*/\1/p' "$TMP/plan4")
assert_eq "build --offline message" \
    "mtneuro-pack: build --offline: $missing of $nplan blocks are missing from the cache $CACHE2, all of shard 2 of 4: run fetch --shard 2/4 again" \
    "$(cat "$TMP/offline.err")"
[ ! -e "$TMP/partial/mtneuro-demo-1.0.0" ] || fail "build --offline left a release behind"
before=$($PY "$HELPER" lines "$LOG")
rerun=$(MTP_SHARDS=4 sbatch --parsable --array=2 --output="$S/jobs/rerun-%a.out" "$FETCH" "$DEMO" \
    --cache "$CACHE2" --source-url "$MOCK_URL")
assert_eq "state of the rerun of task 2" "2 COMPLETED" "$(wait_job "$rerun")"
grep -q "^shard 2/4 (--shard 2/4): $missing of $nplan blocks" "$S/jobs/rerun-2.out" ||
    fail "rerun: $(head -2 "$S/jobs/rerun-2.out")"
shard2_voxels=$("$PACK" plan "$DEMO" --shards 4 --verbose | $PY -c '
import re, sys
shard, total = None, 0
for line in sys.stdin:
    m = re.match(r"^(\d+) +\d+ ", line)
    if m:
        shard = int(m.group(1))
    elif shard == 2 and line.startswith("  "):
        v = [int(g) for g in re.findall(r"\d+", line.split(" x", 1)[1])]
        total += (v[1] - v[0]) * (v[3] - v[2]) * (v[5] - v[4])
print(total)')
assert_eq "voxels requested by the rerun (shard 2's)" "$shard2_voxels" \
    "$($PY "$HELPER" voxels "$LOG" "$before")"
assert_eq "blocks in the cache after the rerun" "$nplan" "$(count_blocks "$CACHE2")"
"$PACK" build "$DEMO" --offline --shards 4 --cache "$CACHE2" --source-url "$MOCK_URL" \
    --out "$TMP/rerun" --quiet || fail "build --offline after the rerun failed"
diff -r "$TMP/single" "$TMP/rerun" || fail "the release after the rerun differs"
echo "scancel ${held}_2: build --offline named shard 2 ($missing blocks); rerunning task 2 fetched exactly those; release identical"
echo "ok"
