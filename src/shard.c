/*
 * shard.c — the partition of a plan into shards and the shard from a scheduler's
 * environment. See shard.h.
 */
#include "mtp/shard.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- partition ------------------------------------------------------------------------ */

static int cmp_i64(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}

/* Sorting indices needs the items: qsort has no context argument in C11. */
typedef struct order_entry {
    const mtp_shard_item *item;
    size_t index;
} order_entry;

static int cmp_entry(const void *pa, const void *pb)
{
    const order_entry *ea = pa, *eb = pb;
    const mtp_shard_item *a = ea->item, *b = eb->item;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1;
    int c = strcmp(a->group != NULL ? a->group : "", b->group != NULL ? b->group : "");
    if (c == 0)
        c = cmp_i64(a->box.z0, b->box.z0);
    if (c == 0)
        c = cmp_i64(a->box.y0, b->box.y0);
    if (c == 0)
        c = cmp_i64(a->box.x0, b->box.x0);
    if (c == 0)
        c = cmp_i64(a->box.z1, b->box.z1);
    if (c == 0)
        c = cmp_i64(a->box.y1, b->box.y1);
    if (c == 0)
        c = cmp_i64(a->box.x1, b->box.x1);
    if (c == 0)
        c = (ea->index > eb->index) - (ea->index < eb->index);
    return c;
}

/* A binary min-heap of shards by (bytes, index): the next block goes to the root. */
typedef struct load {
    uint64_t bytes;
    uint32_t shard;
} load;

static bool load_less(const load *a, const load *b)
{
    return a->bytes < b->bytes || (a->bytes == b->bytes && a->shard < b->shard);
}

static void sift_down(load *heap, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && load_less(&heap[l], &heap[m]))
            m = l;
        if (r < n && load_less(&heap[r], &heap[m]))
            m = r;
        if (m == i)
            return;
        load t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
    }
}

int mtp_shard_assign(const mtp_shard_item *items, size_t n, int count, uint32_t *shard_of,
                     mtp_error *err)
{
    if (count < 1 || count > MTP_SHARD_MAX)
        return mtp_error_set(err, MTP_EINVAL, "shards: count %d not in [1, %d]", count,
                             MTP_SHARD_MAX);
    if (n == 0)
        return 0;
    int rc = 0;
    order_entry *order = malloc(n * sizeof *order);
    load *heap = malloc((size_t)count * sizeof *heap);
    if (order == NULL || heap == NULL) {
        rc = mtp_error_set(err, MTP_ENOMEM, "shards: out of memory for %zu blocks", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = (order_entry){&items[i], i};
    qsort(order, n, sizeof *order, cmp_entry);
    /* All zero, in index order: already a heap. */
    for (int s = 0; s < count; s++)
        heap[s] = (load){0, (uint32_t)s};
    for (size_t k = 0; k < n; k++) {
        shard_of[order[k].index] = heap[0].shard;
        heap[0].bytes += order[k].item->bytes;
        sift_down(heap, (size_t)count, 0);
    }
out:
    free(order);
    free(heap);
    return rc;
}

uint64_t mtp_shard_block_bytes(const mtp_config *cfg, const mtp_plan *plan, size_t i)
{
    const mtp_block *b = &plan->blocks[i];
    uint64_t per_voxel = mtp_config_channel_is_image(cfg, b->channel) ? 1 : 8;
    return mtp_box_voxels(&b->box) * per_voxel;
}

int mtp_shard_partition(const mtp_config *cfg, const mtp_plan *plan, int count, uint32_t **shard_of,
                        mtp_error *err)
{
    *shard_of = NULL;
    size_t n = plan->nblocks;
    mtp_shard_item *items = malloc((n > 0 ? n : 1) * sizeof *items);
    uint32_t *out = malloc((n > 0 ? n : 1) * sizeof *out);
    int rc = 0;
    if (items == NULL || out == NULL) {
        rc = mtp_error_set(err, MTP_ENOMEM, "shards: out of memory for %zu blocks", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const mtp_block *b = &plan->blocks[i];
        items[i] = (mtp_shard_item){mtp_shard_block_bytes(cfg, plan, i),
                                    cfg->channels[b->channel].name, b->box};
    }
    rc = mtp_shard_assign(items, n, count, out, err);
    if (rc == 0) {
        *shard_of = out;
        out = NULL;
    }
out:
    free(items);
    free(out);
    return rc;
}

int mtp_shard_subplan(mtp_plan **out, const mtp_plan *plan, const uint32_t *shard_of, int index,
                      mtp_error *err)
{
    *out = NULL;
    mtp_plan *sub = calloc(1, sizeof *sub);
    size_t n = 0;
    for (size_t i = 0; i < plan->nblocks; i++)
        n += shard_of[i] == (uint32_t)index;
    if (sub != NULL)
        sub->blocks = malloc((n > 0 ? n : 1) * sizeof *sub->blocks);
    if (sub == NULL || sub->blocks == NULL) {
        mtp_plan_free(sub);
        return mtp_error_set(err, MTP_ENOMEM, "shards: out of memory for %zu blocks", n);
    }
    memcpy(sub->used, plan->used, sizeof sub->used);
    /* Plan order groups blocks by channel in config order: first_block stays monotonic. */
    for (int c = 0; c < MTP_MAX_CHANNELS; c++) {
        sub->first_block[c] = sub->nblocks;
        size_t first = plan->first_block[c];
        for (size_t i = first; i < first + plan->nblocks_of[c]; i++) {
            if (shard_of[i] != (uint32_t)index)
                continue;
            sub->blocks[sub->nblocks++] = plan->blocks[i];
            sub->nblocks_of[c]++;
            sub->voxels_of[c] += mtp_box_voxels(&plan->blocks[i].box);
        }
    }
    *out = sub;
    return 0;
}

/* ---- build --offline ----------------------------------------------------------------- */

#define REPORT_MAX_LISTED 16

int mtp_shard_report_missing(const mtp_config *cfg, const mtp_plan *plan,
                             const unsigned char *missing, int count, const char *cache_dir,
                             mtp_error *err)
{
    size_t nmissing = 0, first = 0;
    for (size_t i = plan->nblocks; i-- > 0;)
        if (missing[i]) {
            nmissing++;
            first = i;
        }
    if (nmissing == 0)
        return 0;
    if (count == 0) {
        const mtp_block *b = &plan->blocks[first];
        return mtp_error_set(err, MTP_ENOTFOUND,
                             "build --offline: %zu of %zu blocks are missing from the cache %s "
                             "(first: %s x[%" PRId64 ",%" PRId64 ") y[%" PRId64 ",%" PRId64
                             ") z[%" PRId64 ",%" PRId64 ")); give --shards N to name the shards "
                             "that lack them",
                             nmissing, plan->nblocks, cache_dir, cfg->channels[b->channel].name,
                             b->box.x0, b->box.x1, b->box.y0, b->box.y1, b->box.z0, b->box.z1);
    }
    uint32_t *shard_of = NULL;
    unsigned char *lacking = NULL;
    int rc = mtp_shard_partition(cfg, plan, count, &shard_of, err);
    if (rc < 0)
        return rc;
    lacking = calloc((size_t)count, 1);
    if (lacking == NULL) {
        free(shard_of);
        return mtp_error_set(err, MTP_ENOMEM, "out of memory for %d shards", count);
    }
    int nlacking = 0, last = 0;
    for (size_t i = 0; i < plan->nblocks; i++)
        if (missing[i] && !lacking[shard_of[i]]) {
            lacking[shard_of[i]] = 1;
            nlacking++;
            last = (int)shard_of[i];
        }
    char list[REPORT_MAX_LISTED * 8 + 32] = "";
    size_t at = 0;
    int listed = 0;
    for (int s = 0; s < count && listed < REPORT_MAX_LISTED; s++) {
        if (!lacking[s])
            continue;
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%d", listed > 0 ? ", " : "", s);
        listed++;
    }
    if (nlacking > listed)
        snprintf(list + at, sizeof list - at, " and %d more", nlacking - listed);
    if (nlacking == 1)
        rc = mtp_error_set(err, MTP_ENOTFOUND,
                           "build --offline: %zu of %zu blocks are missing from the cache %s, "
                           "all of shard %d of %d: run fetch --shard %d/%d again",
                           nmissing, plan->nblocks, cache_dir, last, count, last, count);
    else
        rc = mtp_error_set(err, MTP_ENOTFOUND,
                           "build --offline: %zu of %zu blocks are missing from the cache %s, "
                           "of shards %s of %d: run fetch --shard I/%d again for each",
                           nmissing, plan->nblocks, cache_dir, list, count, count);
    free(shard_of);
    free(lacking);
    return rc;
}

/* ---- "I/N" ---------------------------------------------------------------------------- */

/* A decimal in [lo, hi], the whole string: 0, or -1. */
static int parse_count(const char *text, long lo, long hi, long *out)
{
    if (text == NULL || text[0] < '0' || text[0] > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int mtp_shard_parse(const char *text, mtp_shard *out, mtp_error *err)
{
    char buf[32];
    const char *slash = text != NULL ? strchr(text, '/') : NULL;
    if (slash == NULL || (size_t)(slash - text) >= sizeof buf)
        return mtp_error_set(err, MTP_ECONFIG, "--shard %s: expected I/N (e.g. 0/4) or auto",
                             text != NULL ? text : "");
    memcpy(buf, text, (size_t)(slash - text));
    buf[slash - text] = '\0';
    long i = 0, n = 0;
    if (parse_count(slash + 1, 1, MTP_SHARD_MAX, &n) < 0)
        return mtp_error_set(err, MTP_ECONFIG, "--shard %s: N must be an integer in [1, %d]", text,
                             MTP_SHARD_MAX);
    if (parse_count(buf, 0, MTP_SHARD_MAX, &i) < 0 || i >= n)
        return mtp_error_set(err, MTP_ECONFIG, "--shard %s: I must be an integer in [0, N)", text);
    out->index = (int)i;
    out->count = (int)n;
    return 0;
}

/* ---- the environment ------------------------------------------------------------------ */

/* One launcher's answer, for comparing with the others. */
typedef struct env_shard {
    bool found;
    mtp_shard shard;
    char source[160];
} env_shard;

/* The variable as a number in [lo, hi] into *v: 0; 1 if unset; MTP_ECONFIG if invalid. */
static int env_number(mtp_getenv_fn get, void *ud, const char *name, long lo, long hi, long *v,
                      mtp_error *err)
{
    const char *text = get(ud, name);
    if (text == NULL)
        return 1;
    if (parse_count(text, lo, hi, v) < 0) {
        /* The value is the scheduler's, not a secret; cut it to keep the line short. */
        return mtp_error_set(err, MTP_ECONFIG,
                             "--shard auto: %s=%.32s is not an integer in "
                             "[%ld, %ld]",
                             name, text, lo, hi);
    }
    return 0;
}

static int env_shard_set(env_shard *e, long index, long count, const char *name, const char *how,
                         mtp_error *err)
{
    if (count < 1 || count > MTP_SHARD_MAX)
        return mtp_error_set(err, MTP_ECONFIG, "--shard auto: %s: %ld shards, not in [1, %d]", how,
                             count, MTP_SHARD_MAX);
    if (index < 0 || index >= count)
        return mtp_error_set(err, MTP_ECONFIG,
                             "--shard auto: %s gives shard %ld of %ld, not in "
                             "[0, %ld)",
                             how, index, count, count);
    e->found = true;
    e->shard.index = (int)index;
    e->shard.count = (int)count;
    snprintf(e->source, sizeof e->source, "%s: shard %ld/%ld (%s)", name, index, count, how);
    return 0;
}

#define ENV_NUM_MAX 1000000000L

static int from_slurm(mtp_getenv_fn get, void *ud, env_shard *e, mtp_error *err)
{
    long id = 0, lo = 0, hi = 0, count = 0;
    int rc_id = env_number(get, ud, "SLURM_ARRAY_TASK_ID", 0, ENV_NUM_MAX, &id, err);
    if (rc_id < 0)
        return rc_id;
    int rc_lo = env_number(get, ud, "SLURM_ARRAY_TASK_MIN", 0, ENV_NUM_MAX, &lo, err);
    if (rc_lo < 0)
        return rc_lo;
    int rc_hi = env_number(get, ud, "SLURM_ARRAY_TASK_MAX", 0, ENV_NUM_MAX, &hi, err);
    if (rc_hi < 0)
        return rc_hi;
    int rc_n = env_number(get, ud, "SLURM_ARRAY_TASK_COUNT", 1, ENV_NUM_MAX, &count, err);
    if (rc_n < 0)
        return rc_n;
    if (rc_id == 1) {
        if (rc_lo == 0 || rc_hi == 0 || rc_n == 0)
            return mtp_error_set(err, MTP_ECONFIG,
                                 "--shard auto: SLURM_ARRAY_TASK_* set but "
                                 "not SLURM_ARRAY_TASK_ID");
        return 0;
    }
    if (rc_lo != rc_hi)
        return mtp_error_set(err, MTP_ECONFIG,
                             "--shard auto: SLURM_ARRAY_TASK_%s is set "
                             "without SLURM_ARRAY_TASK_%s",
                             rc_lo == 0 ? "MIN" : "MAX", rc_lo == 0 ? "MAX" : "MIN");
    if (rc_lo == 0 && hi < lo)
        return mtp_error_set(err, MTP_ECONFIG,
                             "--shard auto: SLURM_ARRAY_TASK_MAX=%ld is below "
                             "SLURM_ARRAY_TASK_MIN=%ld",
                             hi, lo);
    if (rc_lo == 0 && rc_n == 0 && hi - lo + 1 != count)
        return mtp_error_set(err, MTP_ECONFIG,
                             "--shard auto: SLURM_ARRAY_TASK_COUNT=%ld "
                             "disagrees with SLURM_ARRAY_TASK_MIN..MAX = "
                             "%ld..%ld (%ld tasks): submit a contiguous "
                             "array, --array=0-%ld",
                             count, lo, hi, hi - lo + 1, count - 1);
    if (rc_lo == 0)
        return env_shard_set(e, id - lo, hi - lo + 1, "SLURM_ARRAY_TASK_ID",
                             "SLURM_ARRAY_TASK_MIN..MAX", err);
    if (rc_n == 0)
        return env_shard_set(e, id, count, "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", err);
    return mtp_error_set(err, MTP_ECONFIG,
                         "--shard auto: SLURM_ARRAY_TASK_ID is set without "
                         "SLURM_ARRAY_TASK_MIN/MAX or SLURM_ARRAY_TASK_COUNT");
}

static int from_k8s(mtp_getenv_fn get, void *ud, int shards, env_shard *e, mtp_error *err)
{
    long index = 0;
    int rc = env_number(get, ud, "JOB_COMPLETION_INDEX", 0, ENV_NUM_MAX, &index, err);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (shards == 0)
        return mtp_error_set(err, MTP_ECONFIG,
                             "--shard auto: JOB_COMPLETION_INDEX=%ld "
                             "(Kubernetes Indexed Job) needs --shards N, the "
                             "Job's completions",
                             index);
    return env_shard_set(e, index, shards, "JOB_COMPLETION_INDEX", "--shards", err);
}

/* A rank/size pair of an MPI launcher. */
static int from_mpi(mtp_getenv_fn get, void *ud, const char *rank_var, const char *size_var,
                    env_shard *e, mtp_error *err)
{
    long rank = 0, size = 0;
    int rc_r = env_number(get, ud, rank_var, 0, ENV_NUM_MAX, &rank, err);
    if (rc_r < 0)
        return rc_r;
    int rc_s = env_number(get, ud, size_var, 1, ENV_NUM_MAX, &size, err);
    if (rc_s < 0)
        return rc_s;
    if (rc_r == 1 && rc_s == 1)
        return 0;
    if (rc_r != rc_s)
        return mtp_error_set(err, MTP_ECONFIG, "--shard auto: %s is set without %s",
                             rc_r == 0 ? rank_var : size_var, rc_r == 0 ? size_var : rank_var);
    return env_shard_set(e, rank, size, rank_var, size_var, err);
}

int mtp_shard_from_env(mtp_getenv_fn get, void *userdata, int shards, mtp_shard *out, char *source,
                       size_t n, mtp_error *err)
{
    if (shards < 0 || shards > MTP_SHARD_MAX)
        return mtp_error_set(err, MTP_ECONFIG, "--shards %d: not in [1, %d]", shards,
                             MTP_SHARD_MAX);
    env_shard found[4];
    memset(found, 0, sizeof found);
    int rc = from_slurm(get, userdata, &found[0], err);
    if (rc == 0)
        rc = from_k8s(get, userdata, shards, &found[1], err);
    if (rc == 0)
        rc =
            from_mpi(get, userdata, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", &found[2], err);
    if (rc == 0)
        rc = from_mpi(get, userdata, "PMI_RANK", "PMI_SIZE", &found[3], err);
    if (rc < 0)
        return rc;
    const env_shard *first = NULL;
    for (int k = 0; k < 4; k++) {
        if (!found[k].found)
            continue;
        if (first == NULL) {
            first = &found[k];
            continue;
        }
        if (found[k].shard.index != first->shard.index ||
            found[k].shard.count != first->shard.count)
            return mtp_error_set(err, MTP_ECONFIG, "--shard auto: launchers disagree: %s, but %s",
                                 first->source, found[k].source);
    }
    if (first == NULL)
        return mtp_error_set(err, MTP_ECONFIG,
                             "--shard auto: no scheduler variables set (SLURM_ARRAY_TASK_ID, "
                             "JOB_COMPLETION_INDEX, OMPI_COMM_WORLD_RANK or PMI_RANK); use "
                             "--shard I/N");
    if (shards != 0 && first->shard.count != shards)
        return mtp_error_set(err, MTP_ECONFIG, "--shard auto: --shards %d disagrees with %s",
                             shards, first->source);
    *out = first->shard;
    if (source != NULL && n > 0)
        snprintf(source, n, "%s", first->source);
    return 0;
}
