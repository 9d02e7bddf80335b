#include "mtp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtp/config.h"
#include "mtp/plan.h"
#include "mtp/shard.h"

/* ---- the partition -------------------------------------------------------------------- */

static uint64_t lcg(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return *state >> 33;
}

/* n items with random boxes in two groups; bytes from a few sizes, so ties happen. */
static mtp_shard_item *random_items(size_t n, uint64_t seed)
{
    static const char *groups[] = {"image", "labels"};
    static const uint64_t sizes[] = {4194304, 4194304, 1048576, 262144, 8192, 777};
    mtp_shard_item *items = calloc(n, sizeof *items);
    ck_assert_ptr_nonnull(items);
    for (size_t i = 0; i < n; i++) {
        int64_t x = (int64_t)(i % 37) * 512, y = (int64_t)(i / 37) * 512;
        items[i].group = groups[lcg(&seed) % 2];
        items[i].box = (mtp_box){x, x + 512, y, y + 512, 0, 16};
        items[i].bytes = sizes[lcg(&seed) % 6];
    }
    return items;
}

static void check_properties(const mtp_shard_item *items, size_t n, int count,
                             const uint32_t *shard_of)
{
    uint64_t *loads = calloc((size_t)count, sizeof *loads);
    ck_assert_ptr_nonnull(loads);
    uint64_t biggest = 0;
    for (size_t i = 0; i < n; i++) {
        /* Complete and disjoint: exactly one shard per item, in range. */
        ck_assert_uint_lt(shard_of[i], (uint32_t)count);
        loads[shard_of[i]] += items[i].bytes;
        if (items[i].bytes > biggest)
            biggest = items[i].bytes;
    }
    uint64_t lo = UINT64_MAX, hi = 0, total = 0, sum = 0;
    for (int s = 0; s < count; s++) {
        lo = loads[s] < lo ? loads[s] : lo;
        hi = loads[s] > hi ? loads[s] : hi;
        total += loads[s];
    }
    for (size_t i = 0; i < n; i++)
        sum += items[i].bytes;
    ck_assert_uint_eq(total, sum);
    /* Balanced within one block's bytes. */
    ck_assert_uint_le(hi - lo, biggest);
    free(loads);
}

START_TEST(partition_complete_disjoint_balanced_stable)
{
    static const int counts[] = {1, 2, 3, 4, 7, 16, 64};
    size_t n = 1000;
    mtp_shard_item *items = random_items(n, 42);
    uint32_t *a = calloc(n, sizeof *a), *b = calloc(n, sizeof *b), *c = calloc(n, sizeof *c);
    mtp_shard_item *shuffled = calloc(n, sizeof *shuffled);
    size_t *perm = calloc(n, sizeof *perm);
    ck_assert(a && b && c && shuffled && perm);
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        mtp_error err = MTP_ERROR_INIT;
        ck_assert_int_eq(mtp_shard_assign(items, n, counts[k], a, &err), 0);
        check_properties(items, n, counts[k], a);
        /* The same on a second call ... */
        ck_assert_int_eq(mtp_shard_assign(items, n, counts[k], b, &err), 0);
        ck_assert_mem_eq(a, b, n * sizeof *a);
        /* ... and whatever the input order: each item keeps its shard. */
        uint64_t seed = 7 + (uint64_t)k;
        for (size_t i = 0; i < n; i++)
            perm[i] = i;
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = (size_t)(lcg(&seed) % (i + 1));
            size_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        for (size_t i = 0; i < n; i++)
            shuffled[i] = items[perm[i]];
        ck_assert_int_eq(mtp_shard_assign(shuffled, n, counts[k], c, &err), 0);
        for (size_t i = 0; i < n; i++)
            ck_assert_uint_eq(c[i], a[perm[i]]);
    }
    free(items);
    free(shuffled);
    free(perm);
    free(a);
    free(b);
    free(c);
}
END_TEST

START_TEST(partition_is_longest_processing_time)
{
    /* 10, 9, 8, 7, 6, 5 into 2: 10->0, 9->1, 8->1 (17), 7->0 (17), 6->0 (equal loads:
     * the lower index; 23), 5->1 (22). Items given in a scrambled order. */
    mtp_shard_item items[6];
    static const uint64_t bytes[6] = {7, 5, 10, 6, 9, 8};
    for (int i = 0; i < 6; i++)
        items[i] = (mtp_shard_item){bytes[i], "c", {0, 1, 0, 1, i, i + 1}};
    uint32_t shard_of[6];
    ck_assert_int_eq(mtp_shard_assign(items, 6, 2, shard_of, NULL), 0);
    static const uint32_t want[6] = {0, 1, 0, 0, 1, 1};
    ck_assert_mem_eq(shard_of, want, sizeof want);

    /* Equal bytes: ordered by group, then z0: "a" z0=0, "a" z0=1, then "b". */
    mtp_shard_item ties[3] = {
        {4, "b", {0, 1, 0, 1, 0, 1}}, {4, "a", {0, 1, 0, 1, 1, 2}}, {4, "a", {0, 1, 0, 1, 0, 1}}};
    ck_assert_int_eq(mtp_shard_assign(ties, 3, 3, shard_of, NULL), 0);
    ck_assert_uint_eq(shard_of[2], 0);
    ck_assert_uint_eq(shard_of[1], 1);
    ck_assert_uint_eq(shard_of[0], 2);

    /* More shards than blocks: the extra shards are empty. */
    ck_assert_int_eq(mtp_shard_assign(items, 2, 5, shard_of, NULL), 0);
    ck_assert_uint_eq(shard_of[0], 0);
    ck_assert_uint_eq(shard_of[1], 1);

    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_shard_assign(items, 6, 0, shard_of, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "shards: count 0 not in [1, 65536]");
    ck_assert_int_eq(mtp_shard_assign(items, 6, MTP_SHARD_MAX + 1, shard_of, &err), MTP_EINVAL);
}
END_TEST

/* A config with an image and a label channel over two regions, 64^3 blocks. */
static mtp_config *two_channel_config(void)
{
    mtp_config *cfg = calloc(1, sizeof *cfg);
    ck_assert_ptr_nonnull(cfg);
    cfg->source.block[0] = 64;
    cfg->source.block[1] = 64;
    cfg->source.block[2] = 16;
    cfg->nchannels = 2;
    snprintf(cfg->channels[0].name, sizeof cfg->channels[0].name, "image");
    snprintf(cfg->channels[1].name, sizeof cfg->channels[1].name, "labels");
    cfg->nregions = 2;
    snprintf(cfg->regions[0].name, sizeof cfg->regions[0].name, "a");
    cfg->regions[0].x = (mtp_range){0, 200};
    cfg->regions[0].y = (mtp_range){10, 130};
    snprintf(cfg->regions[1].name, sizeof cfg->regions[1].name, "b");
    cfg->regions[1].x = (mtp_range){300, 410};
    cfg->regions[1].y = (mtp_range){20, 64};
    cfg->nsplits = 1;
    snprintf(cfg->splits[0].name, sizeof cfg->splits[0].name, "train");
    cfg->splits[0].z = (mtp_range){0, 40};
    cfg->ntasks = 1;
    mtp_task *t = &cfg->tasks[0];
    snprintf(t->name, sizeof t->name, "seg");
    t->kind = MTP_TASK_SEGMENTATION;
    t->image_channel = 0;
    t->label_channel = 1;
    t->nsplits = 1;
    t->splits[0] = 0;
    return cfg;
}

START_TEST(plan_partition_and_subplans)
{
    mtp_config *cfg = two_channel_config();
    mtp_plan *plan = NULL;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_plan_new(&plan, cfg, &err), 0);
    ck_assert_uint_eq(plan->nblocks, 2 * (4 * 3 + 3 * 1) * 3);
    /* Image blocks weigh their voxels, label blocks 8 bytes per voxel. */
    ck_assert_uint_eq(mtp_shard_block_bytes(cfg, plan, 0), 64 * 54 * 16);
    size_t first_label = plan->first_block[1];
    ck_assert_uint_eq(mtp_shard_block_bytes(cfg, plan, first_label), 8 * 64 * 54 * 16);

    for (int count = 1; count <= 5; count++) {
        uint32_t *shard_of = NULL;
        ck_assert_int_eq(mtp_shard_partition(cfg, plan, count, &shard_of, &err), 0);
        size_t seen = 0;
        uint64_t voxels[2] = {0, 0};
        for (int s = 0; s < count; s++) {
            mtp_plan *sub = NULL;
            ck_assert_int_eq(mtp_shard_subplan(&sub, plan, shard_of, s, &err), 0);
            ck_assert(sub->used[0] && sub->used[1]);
            ck_assert_uint_eq(sub->first_block[1], sub->nblocks_of[0]);
            ck_assert_uint_eq(sub->nblocks, sub->nblocks_of[0] + sub->nblocks_of[1]);
            /* In plan order: each sub-plan block is the next plan block of that shard. */
            size_t k = 0;
            for (size_t i = 0; i < plan->nblocks; i++) {
                if (shard_of[i] != (uint32_t)s)
                    continue;
                ck_assert_mem_eq(&sub->blocks[k], &plan->blocks[i], sizeof(mtp_block));
                k++;
            }
            ck_assert_uint_eq(k, sub->nblocks);
            seen += sub->nblocks;
            voxels[0] += sub->voxels_of[0];
            voxels[1] += sub->voxels_of[1];
            mtp_plan_free(sub);
        }
        ck_assert_uint_eq(seen, plan->nblocks);
        ck_assert_uint_eq(voxels[0], plan->voxels_of[0]);
        ck_assert_uint_eq(voxels[1], plan->voxels_of[1]);
        free(shard_of);
    }
    mtp_plan_free(plan);
    free(cfg);
}
END_TEST

START_TEST(offline_report_names_the_shards)
{
    mtp_config *cfg = two_channel_config();
    mtp_plan *plan = NULL;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_plan_new(&plan, cfg, &err), 0);
    unsigned char *missing = calloc(plan->nblocks, 1);
    uint32_t *shard_of = NULL;
    ck_assert_int_eq(mtp_shard_partition(cfg, plan, 4, &shard_of, &err), 0);

    ck_assert_int_eq(mtp_shard_report_missing(cfg, plan, missing, 4, "/c", &err), 0);
    /* Every block of shard 2 gone (a cancelled array task). */
    size_t n2 = 0;
    for (size_t i = 0; i < plan->nblocks; i++)
        if (shard_of[i] == 2) {
            missing[i] = 1;
            n2++;
        }
    ck_assert_uint_eq(n2, 23);
    ck_assert_int_eq(mtp_shard_report_missing(cfg, plan, missing, 4, "/c", &err), MTP_ENOTFOUND);
    ck_assert_str_eq(err.msg, "build --offline: 23 of 90 blocks are missing from the cache /c, "
                              "all of shard 2 of 4: run fetch --shard 2/4 again");
    /* And one block of shard 0. */
    for (size_t i = 0; i < plan->nblocks; i++)
        if (shard_of[i] == 0) {
            missing[i] = 1;
            break;
        }
    ck_assert_int_eq(mtp_shard_report_missing(cfg, plan, missing, 4, "/c", &err), MTP_ENOTFOUND);
    ck_assert_str_eq(err.msg, "build --offline: 24 of 90 blocks are missing from the cache /c, "
                              "of shards 0, 2 of 4: run fetch --shard I/4 again for each");
    /* Without the shard count: how many, and the first one. */
    ck_assert_int_eq(mtp_shard_report_missing(cfg, plan, missing, 0, "/c", &err), MTP_ENOTFOUND);
    ck_assert_str_eq(err.msg, "build --offline: 24 of 90 blocks are missing from the cache /c "
                              "(first: image x[0,64) y[10,64) z[0,16)); give --shards N to name "
                              "the shards that lack them");
    /* Over 16 shards: the first 16 listed. */
    free(shard_of);
    ck_assert_int_eq(mtp_shard_partition(cfg, plan, 40, &shard_of, &err), 0);
    memset(missing, 1, plan->nblocks);
    ck_assert_int_eq(mtp_shard_report_missing(cfg, plan, missing, 40, "/c", &err), MTP_ENOTFOUND);
    ck_assert_str_eq(err.msg, "build --offline: 90 of 90 blocks are missing from the cache /c, "
                              "of shards 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 and "
                              "24 more of 40: run fetch --shard I/40 again for each");
    free(shard_of);
    free(missing);
    mtp_plan_free(plan);
    free(cfg);
}
END_TEST

/* ---- "I/N" ---------------------------------------------------------------------------- */

START_TEST(parse_index_and_count)
{
    mtp_shard s = {-1, -1};
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_shard_parse("0/4", &s, &err), 0);
    ck_assert_int_eq(s.index, 0);
    ck_assert_int_eq(s.count, 4);
    ck_assert_int_eq(mtp_shard_parse("3/4", &s, &err), 0);
    ck_assert_int_eq(s.index, 3);
    ck_assert_int_eq(mtp_shard_parse("4/4", &s, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "--shard 4/4: I must be an integer in [0, N)");
    ck_assert_int_eq(mtp_shard_parse("-1/4", &s, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "--shard -1/4: I must be an integer in [0, N)");
    ck_assert_int_eq(mtp_shard_parse("1/0", &s, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "--shard 1/0: N must be an integer in [1, 65536]");
    ck_assert_int_eq(mtp_shard_parse("1/4x", &s, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "--shard 1/4x: N must be an integer in [1, 65536]");
    ck_assert_int_eq(mtp_shard_parse("1/65537", &s, &err), MTP_ECONFIG);
    ck_assert_int_eq(mtp_shard_parse("2", &s, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "--shard 2: expected I/N (e.g. 0/4) or auto");
    ck_assert_int_eq(s.index, 3);
}
END_TEST

/* ---- the environment ------------------------------------------------------------------ */

/* A fake environment: "NAME=value" strings, NULL-terminated. */
static const char *table_getenv(void *userdata, const char *name)
{
    const char *const *vars = userdata;
    size_t len = strlen(name);
    for (; *vars != NULL; vars++)
        if (strncmp(*vars, name, len) == 0 && (*vars)[len] == '=')
            return *vars + len + 1;
    return NULL;
}

static int from_env(const char *const *vars, int shards, mtp_shard *s, char *source, mtp_error *err)
{
    s->index = s->count = -1;
    return mtp_shard_from_env(table_getenv, (void *)vars, shards, s, source, 256, err);
}

START_TEST(env_slurm_array)
{
    mtp_shard s;
    char source[256];
    mtp_error err = MTP_ERROR_INIT;
    const char *minmax[] = {"SLURM_ARRAY_TASK_ID=5", "SLURM_ARRAY_TASK_MIN=3",
                            "SLURM_ARRAY_TASK_MAX=6", NULL};
    ck_assert_int_eq(from_env(minmax, 0, &s, source, &err), 0);
    ck_assert_int_eq(s.index, 2);
    ck_assert_int_eq(s.count, 4);
    ck_assert_str_eq(source, "SLURM_ARRAY_TASK_ID: shard 2/4 (SLURM_ARRAY_TASK_MIN..MAX)");

    const char *all[] = {"SLURM_ARRAY_TASK_ID=2", "SLURM_ARRAY_TASK_MIN=0",
                         "SLURM_ARRAY_TASK_MAX=3", "SLURM_ARRAY_TASK_COUNT=4", NULL};
    ck_assert_int_eq(from_env(all, 4, &s, source, &err), 0);
    ck_assert_int_eq(s.index, 2);
    ck_assert_int_eq(s.count, 4);

    const char *count[] = {"SLURM_ARRAY_TASK_ID=1", "SLURM_ARRAY_TASK_COUNT=3", NULL};
    ck_assert_int_eq(from_env(count, 0, &s, source, &err), 0);
    ck_assert_int_eq(s.index, 1);
    ck_assert_int_eq(s.count, 3);
    ck_assert_str_eq(source, "SLURM_ARRAY_TASK_ID: shard 1/3 (SLURM_ARRAY_TASK_COUNT)");

    /* --array=0-12:4 has 4 tasks but MIN..MAX spans 13: refused. */
    const char *stepped[] = {"SLURM_ARRAY_TASK_ID=4", "SLURM_ARRAY_TASK_MIN=0",
                             "SLURM_ARRAY_TASK_MAX=12", "SLURM_ARRAY_TASK_COUNT=4", NULL};
    ck_assert_int_eq(from_env(stepped, 0, &s, source, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "--shard auto: SLURM_ARRAY_TASK_COUNT=4 disagrees with "
                              "SLURM_ARRAY_TASK_MIN..MAX = 0..12 (13 tasks): submit a "
                              "contiguous array, --array=0-3");
    ck_assert_int_eq(s.index, -1);

    const char *alone[] = {"SLURM_ARRAY_TASK_ID=1", NULL};
    ck_assert_int_eq(from_env(alone, 0, &s, source, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "--shard auto: SLURM_ARRAY_TASK_ID is set without "
                              "SLURM_ARRAY_TASK_MIN/MAX or SLURM_ARRAY_TASK_COUNT");
    const char *half[] = {"SLURM_ARRAY_TASK_ID=1", "SLURM_ARRAY_TASK_MIN=0", NULL};
    ck_assert_int_eq(from_env(half, 0, &s, source, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "--shard auto: SLURM_ARRAY_TASK_MIN is set without "
                              "SLURM_ARRAY_TASK_MAX");
    const char *garbage[] = {"SLURM_ARRAY_TASK_ID=two", "SLURM_ARRAY_TASK_COUNT=4", NULL};
    ck_assert_int_eq(from_env(garbage, 0, &s, source, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "--shard auto: SLURM_ARRAY_TASK_ID=two is not an integer in "
                              "[0, 1000000000]");
    const char *beyond[] = {"SLURM_ARRAY_TASK_ID=4", "SLURM_ARRAY_TASK_COUNT=4", NULL};
    ck_assert_int_eq(from_env(beyond, 0, &s, source, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "--shard auto: SLURM_ARRAY_TASK_COUNT gives shard 4 of 4, not in "
                              "[0, 4)");
    /* --shards must agree with the array. */
    ck_assert_int_eq(from_env(minmax, 8, &s, source, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "--shard auto: --shards 8 disagrees with SLURM_ARRAY_TASK_ID: "
                              "shard 2/4 (SLURM_ARRAY_TASK_MIN..MAX)");
}
END_TEST

START_TEST(env_kubernetes_indexed_job)
{
    mtp_shard s;
    char source[256];
    mtp_error err = MTP_ERROR_INIT;
    const char *k8s[] = {"JOB_COMPLETION_INDEX=3", "HOSTNAME=fetch-3-abcde", NULL};
    ck_assert_int_eq(from_env(k8s, 4, &s, source, &err), 0);
    ck_assert_int_eq(s.index, 3);
    ck_assert_int_eq(s.count, 4);
    ck_assert_str_eq(source, "JOB_COMPLETION_INDEX: shard 3/4 (--shards)");
    ck_assert_int_eq(from_env(k8s, 0, &s, source, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "--shard auto: JOB_COMPLETION_INDEX=3 (Kubernetes Indexed Job) "
                              "needs --shards N, the Job's completions");
    ck_assert_int_eq(from_env(k8s, 3, &s, source, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "--shard auto: --shards gives shard 3 of 3, not in [0, 3)");
}
END_TEST

START_TEST(env_mpi_launchers)
{
    mtp_shard s;
    char source[256];
    mtp_error err = MTP_ERROR_INIT;
    const char *ompi[] = {"OMPI_COMM_WORLD_RANK=1", "OMPI_COMM_WORLD_SIZE=2", NULL};
    ck_assert_int_eq(from_env(ompi, 0, &s, source, &err), 0);
    ck_assert_int_eq(s.index, 1);
    ck_assert_int_eq(s.count, 2);
    ck_assert_str_eq(source, "OMPI_COMM_WORLD_RANK: shard 1/2 (OMPI_COMM_WORLD_SIZE)");
    const char *pmi[] = {"PMI_RANK=0", "PMI_SIZE=3", NULL};
    ck_assert_int_eq(from_env(pmi, 3, &s, source, &err), 0);
    ck_assert_int_eq(s.index, 0);
    ck_assert_int_eq(s.count, 3);
    /* Open MPI also exporting PMI_*: fine when they agree. */
    const char *both[] = {"OMPI_COMM_WORLD_RANK=2", "OMPI_COMM_WORLD_SIZE=4", "PMI_RANK=2",
                          "PMI_SIZE=4", NULL};
    ck_assert_int_eq(from_env(both, 0, &s, source, &err), 0);
    ck_assert_int_eq(s.index, 2);
    const char *disagree[] = {"OMPI_COMM_WORLD_RANK=2", "OMPI_COMM_WORLD_SIZE=4", "PMI_RANK=0",
                              "PMI_SIZE=1", NULL};
    ck_assert_int_eq(from_env(disagree, 0, &s, source, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "--shard auto: launchers disagree: OMPI_COMM_WORLD_RANK: shard "
                              "2/4 (OMPI_COMM_WORLD_SIZE), but PMI_RANK: shard 0/1 (PMI_SIZE)");
    const char *lonely[] = {"PMI_RANK=0", NULL};
    ck_assert_int_eq(from_env(lonely, 0, &s, source, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "--shard auto: PMI_RANK is set without PMI_SIZE");
}
END_TEST

START_TEST(env_none_or_mixed)
{
    mtp_shard s;
    char source[256];
    mtp_error err = MTP_ERROR_INIT;
    const char *none[] = {"HOME=/root", NULL};
    ck_assert_int_eq(from_env(none, 4, &s, source, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "--shard auto: no scheduler variables set (SLURM_ARRAY_TASK_ID, "
                              "JOB_COMPLETION_INDEX, OMPI_COMM_WORLD_RANK or PMI_RANK); use "
                              "--shard I/N");
    /* A SLURM array task that also runs under srun --mpi=pmi2 with one rank. */
    const char *mixed[] = {"SLURM_ARRAY_TASK_ID=2", "SLURM_ARRAY_TASK_COUNT=4", "PMI_RANK=0",
                           "PMI_SIZE=1", NULL};
    ck_assert_int_eq(from_env(mixed, 0, &s, source, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "--shard auto: launchers disagree: SLURM_ARRAY_TASK_ID: shard 2/4 "
                              "(SLURM_ARRAY_TASK_COUNT), but PMI_RANK: shard 0/1 (PMI_SIZE)");
    const char *k8s_and_slurm[] = {"SLURM_ARRAY_TASK_ID=2", "SLURM_ARRAY_TASK_COUNT=4",
                                   "JOB_COMPLETION_INDEX=1", NULL};
    ck_assert_int_eq(from_env(k8s_and_slurm, 4, &s, source, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "--shard auto: launchers disagree: SLURM_ARRAY_TASK_ID: shard 2/4 "
                              "(SLURM_ARRAY_TASK_COUNT), but JOB_COMPLETION_INDEX: shard 1/4 "
                              "(--shards)");
    ck_assert_int_eq(from_env(none, -1, &s, source, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "--shards -1: not in [1, 65536]");
}
END_TEST

Suite *mtp_test_suite(void)
{
    Suite *s = suite_create("shard");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, partition_complete_disjoint_balanced_stable);
    tcase_add_test(tc, partition_is_longest_processing_time);
    tcase_add_test(tc, plan_partition_and_subplans);
    tcase_add_test(tc, offline_report_names_the_shards);
    tcase_add_test(tc, parse_index_and_count);
    tcase_add_test(tc, env_slurm_array);
    tcase_add_test(tc, env_kubernetes_indexed_job);
    tcase_add_test(tc, env_mpi_launchers);
    tcase_add_test(tc, env_none_or_mixed);
    suite_add_tcase(s, tc);
    return s;
}
