/*
 * shard.h — scale-out (DESIGN §10): a deterministic partition of the plan's blocks into N
 * shards, balanced by bytes, and the shard a process is from its scheduler's environment.
 *
 * N copies of `fetch --shard I/N` (or `--shard auto`), on as many machines, each fetch the
 * blocks of their shard into one cache on a shared file system; one `build --offline` then
 * writes the release from the cache. Shards are numbered from 0: I in [0, N).
 *
 * The partition depends only on the plan (so only on the config): not on the machine, the
 * server, the time or the order of the input. Each block weighs its plan bytes (voxels × 1
 * for channels the tasks use as images, × 8 — the uint64 bound `plan` prints — for the
 * others). Blocks are taken by (bytes descending, channel name, z0, y0, x0, z1, y1, x1) and
 * each goes to the shard with the least bytes so far, the lowest index among equals
 * (greedy longest-processing-time). Hence every block is in exactly one shard, and the
 * heaviest and lightest shard differ by at most one block's bytes.
 */
#ifndef MTP_SHARD_H
#define MTP_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "mtp/config.h"
#include "mtp/error.h"
#include "mtp/plan.h"
#include "mtp/types.h"

/* At most this many shards (a cap on --shard, --shards and the environment's counts). */
#define MTP_SHARD_MAX 65536

/* Shard `index` of `count` (0 <= index < count <= MTP_SHARD_MAX). */
typedef struct mtp_shard {
    int index;
    int count;
} mtp_shard;

/* One thing to place: its weight and the key that orders it (group: e.g. a channel name). */
typedef struct mtp_shard_item {
    uint64_t bytes;
    const char *group; /* borrowed; compared with strcmp */
    mtp_box box;
} mtp_shard_item;

/*
 * The partition of `n` items into `count` shards described above: shard_of[i] in
 * [0, count) for every item. Two items with equal keys are placed in input order (a plan
 * has no such items). MTP_EINVAL if count is not in [1, MTP_SHARD_MAX], MTP_ENOMEM.
 */
int mtp_shard_assign(const mtp_shard_item *items, size_t n, int count, uint32_t *shard_of,
                     mtp_error *err);

/* The plan bytes of block i (the partition's weight). */
uint64_t mtp_shard_block_bytes(const mtp_config *cfg, const mtp_plan *plan, size_t i);

/*
 * The partition of `plan`'s blocks into `count` shards: *shard_of (plan->nblocks entries,
 * caller frees with free(); NULL on failure).
 */
int mtp_shard_partition(const mtp_config *cfg, const mtp_plan *plan, int count, uint32_t **shard_of,
                        mtp_error *err);

/*
 * The plan restricted to the blocks with shard_of[i] == index, in plan order: per-channel
 * counts and voxels recomputed, `used` kept as it is (so the fetch still checks every
 * channel's metadata). Caller frees *out with mtp_plan_free.
 */
int mtp_shard_subplan(mtp_plan **out, const mtp_plan *plan, const uint32_t *shard_of, int index,
                      mtp_error *err);

/*
 * What `build --offline` says when the cache lacks blocks: missing[i] is nonzero for each
 * plan block not in the cache `cache_dir`. 0 if none is missing; otherwise MTP_ENOTFOUND
 * (exit 1) with one line:
 * - count > 0 (the fetch's N): "build --offline: 3 of 90 blocks are missing from the
 *   cache DIR, all of shard 2 of 4: run fetch --shard 2/4 again" — or, over several,
 *   "..., of shards 1, 2 of 4: run fetch --shard I/4 again for each" (at most 16 listed,
 *   then "and K more");
 * - count == 0: "build --offline: 3 of 90 blocks are missing from the cache DIR (first:
 *   CHANNEL x[x0,x1) y[y0,y1) z[z0,z1)); give --shards N to name the shards that lack them".
 * MTP_EINVAL if count is out of range, MTP_ENOMEM.
 */
int mtp_shard_report_missing(const mtp_config *cfg, const mtp_plan *plan,
                             const unsigned char *missing, int count, const char *cache_dir,
                             mtp_error *err);

/*
 * Parse "I/N" (decimal, 0 <= I < N <= MTP_SHARD_MAX) into *out. MTP_ECONFIG otherwise:
 * "--shard 4/4: I must be in [0, N)".
 */
int mtp_shard_parse(const char *text, mtp_shard *out, mtp_error *err);

/* A getenv-like lookup: the value of `name`, or NULL if unset. */
typedef const char *(*mtp_getenv_fn)(void *userdata, const char *name);

/*
 * The shard from the scheduler's environment, read through `get` (the tool passes
 * getenv; tests pass a table). `shards` is the count from --shards N, 0 if not given.
 * Launchers (each is used only if its variables are set):
 * - SLURM job array: SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_MIN and _MAX (index =
 *   ID - MIN, count = MAX - MIN + 1) and/or SLURM_ARRAY_TASK_COUNT (count; index = ID -
 *   MIN, or ID without MIN); MIN/MAX and COUNT must agree (a stepped or listed array does
 *   not: use --array=0-(N-1));
 * - Kubernetes Indexed Job: JOB_COMPLETION_INDEX, the count from `shards` (Kubernetes does
 *   not export it);
 * - MPI: OMPI_COMM_WORLD_RANK with OMPI_COMM_WORLD_SIZE (Open MPI), PMI_RANK with
 *   PMI_SIZE (MPICH, Intel MPI, srun --mpi=pmi2).
 * Every launcher found must give the same shard, and `shards`, when given, the same
 * count. On success *out is the shard and `source` (if not NULL, n bytes) names where it
 * came from, e.g. "SLURM_ARRAY_TASK_ID=2 of 4 (SLURM_ARRAY_TASK_MIN..MAX)". MTP_ECONFIG
 * with one line otherwise: none set, a value not a number or out of range, a variable
 * missing its partner, or a disagreement naming both sides.
 */
int mtp_shard_from_env(mtp_getenv_fn get, void *userdata, int shards, mtp_shard *out, char *source,
                       size_t n, mtp_error *err);

#endif
