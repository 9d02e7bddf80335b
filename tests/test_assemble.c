#include "mtp_test.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mtp/cache.h"
#include "mtp/config.h"
#include "fixtures.h"
#include "mtp/plan.h"
#include "mtp/assemble.h"

/* Each test gets a fresh cache under /tmp, a hand-made config and plan. */
static char root[256];
static mtp_cache *cache;
static mtp_config *cfg;
static mtp_plan plan;

/* Channel 0 "image" (uint8), channel 1 "labels" (uint64 on the server). */
enum { IMAGE = 0, LABELS = 1 };

static void setup(void)
{
    fixture_make_tmpdir(root, sizeof root, "volume-test");
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_cache_open(&cache, root, &err), 0);
    cfg = calloc(1, sizeof *cfg);
    ck_assert_ptr_nonnull(cfg);
    snprintf(cfg->source.url, sizeof cfg->source.url, "http://127.0.0.1:1");
    cfg->source.resolution = 0;
    cfg->nchannels = 2;
    const char *names[2] = {"image", "labels"};
    for (int c = 0; c < 2; c++) {
        mtp_channel *ch = &cfg->channels[c];
        snprintf(ch->name, sizeof ch->name, "%s", names[c]);
        snprintf(ch->collection, sizeof ch->collection, "coll");
        snprintf(ch->experiment, sizeof ch->experiment, "exp");
        snprintf(ch->channel, sizeof ch->channel, "%s", names[c]);
        snprintf(ch->uri, sizeof ch->uri, "bossdb://coll/exp/%s", names[c]);
    }
    memset(&plan, 0, sizeof plan);
}

static void teardown(void)
{
    mtp_cache_free(cache);
    cache = NULL;
    free(cfg);
    cfg = NULL;
    free(plan.blocks);
    memset(&plan, 0, sizeof plan);
    fixture_remove_tree(root);
}

/* One region and the config's z range. */
static void set_region(int64_t x0, int64_t x1, int64_t y0, int64_t y1, int64_t z0, int64_t z1)
{
    cfg->nregions = 1;
    snprintf(cfg->regions[0].name, sizeof cfg->regions[0].name, "r0");
    cfg->regions[0].x = (mtp_range){x0, x1};
    cfg->regions[0].y = (mtp_range){y0, y1};
    cfg->z = (mtp_range){z0, z1};
}

/* Cut `box` into a grid of cells of size (gx, gy, gz) counted from 0: the channel's blocks. */
static void plan_grid(int channel, const mtp_box *box, int64_t gx, int64_t gy, int64_t gz)
{
    plan.first_block[channel] = plan.nblocks;
    plan.used[channel] = true;
    for (int64_t z = box->z0 - box->z0 % gz; z < box->z1; z += gz)
        for (int64_t y = box->y0 - box->y0 % gy; y < box->y1; y += gy)
            for (int64_t x = box->x0 - box->x0 % gx; x < box->x1; x += gx) {
                mtp_box cell = {x, x + gx, y, y + gy, z, z + gz}, part;
                if (!mtp_box_intersect(&cell, box, &part))
                    continue;
                plan.blocks = realloc(plan.blocks, (plan.nblocks + 1) * sizeof *plan.blocks);
                ck_assert_ptr_nonnull(plan.blocks);
                plan.blocks[plan.nblocks++] = (mtp_block){channel, part};
                plan.nblocks_of[channel]++;
                plan.voxels_of[channel] += mtp_box_voxels(&part);
            }
}

/* The value every test puts at absolute voxel (x, y, z): label-like runs of codes 0..3. */
static uint64_t label_at(int64_t x, int64_t y, int64_t z)
{
    return (uint64_t)(((x / 5) ^ (y / 7) ^ (z / 3)) & 3);
}

static uint8_t image_at(int64_t x, int64_t y, int64_t z)
{
    return (uint8_t)(x * 7 + y * 13 + z * 29);
}

/* Put every planned block of `channel`, values from label_at / image_at. */
static void put_blocks(int channel, mtp_dtype dtype)
{
    mtp_error err = MTP_ERROR_INIT;
    size_t size = mtp_dtype_size(dtype);
    for (size_t i = plan.first_block[channel];
         i < plan.first_block[channel] + plan.nblocks_of[channel]; i++) {
        const mtp_box *b = &plan.blocks[i].box;
        size_t n = (size_t)mtp_box_voxels(b);
        unsigned char *data = malloc(n * size);
        ck_assert_ptr_nonnull(data);
        size_t k = 0;
        for (int64_t z = b->z0; z < b->z1; z++)
            for (int64_t y = b->y0; y < b->y1; y++)
                for (int64_t x = b->x0; x < b->x1; x++, k++) {
                    uint64_t v = channel == IMAGE ? image_at(x, y, z) : label_at(x, y, z);
                    if (size == 1)
                        data[k] = (uint8_t)v;
                    else if (size == 2)
                        ((uint16_t *)data)[k] = (uint16_t)v;
                    else
                        ((uint64_t *)data)[k] = v;
                }
        mtp_block_key key = mtp_assemble_block_key(cfg, &plan.blocks[i], dtype);
        ck_assert_int_eq(mtp_cache_put(cache, &key, data, n * size, &err), 0);
        free(data);
    }
}

/* Overwrite one voxel of the cached block holding (x, y, z) with `value`. */
static void poke(int channel, mtp_dtype dtype, int64_t x, int64_t y, int64_t z, uint64_t value)
{
    mtp_error err = MTP_ERROR_INIT;
    size_t size = mtp_dtype_size(dtype);
    for (size_t i = plan.first_block[channel];
         i < plan.first_block[channel] + plan.nblocks_of[channel]; i++) {
        const mtp_box *b = &plan.blocks[i].box;
        if (x < b->x0 || x >= b->x1 || y < b->y0 || y >= b->y1 || z < b->z0 || z >= b->z1)
            continue;
        size_t n = (size_t)mtp_box_voxels(b);
        unsigned char *data = malloc(n * size);
        ck_assert_ptr_nonnull(data);
        mtp_block_key key = mtp_assemble_block_key(cfg, &plan.blocks[i], dtype);
        ck_assert_int_eq(mtp_cache_get(cache, &key, data, n * size, &err), 0);
        size_t k = ((size_t)(z - b->z0) * (size_t)(b->y1 - b->y0) + (size_t)(y - b->y0)) *
                       (size_t)(b->x1 - b->x0) +
                   (size_t)(x - b->x0);
        if (size == 2)
            ((uint16_t *)data)[k] = (uint16_t)value;
        else
            ((uint64_t *)data)[k] = value;
        ck_assert_int_eq(mtp_cache_put(cache, &key, data, n * size, &err), 0);
        free(data);
        return;
    }
    ck_abort_msg("no block holds (%lld, %lld, %lld)", (long long)x, (long long)y, (long long)z);
}

/* Every voxel of the cube equals the generator's value at its absolute position. */
static void check_cube(const mtp_volume *vol, int channel)
{
    size_t k = 0;
    for (int64_t z = vol->box.z0; z < vol->box.z1; z++)
        for (int64_t y = vol->box.y0; y < vol->box.y1; y++)
            for (int64_t x = vol->box.x0; x < vol->box.x1; x++, k++) {
                uint8_t want = channel == IMAGE ? image_at(x, y, z) : (uint8_t)label_at(x, y, z);
                if (vol->data[k] != want)
                    ck_abort_msg("voxel (%lld, %lld, %lld): %u, want %u", (long long)x,
                                 (long long)y, (long long)z, vol->data[k], want);
            }
}

START_TEST(region_from_several_blocks)
{
    /* A region straddling grid cells on every axis: 8 blocks per channel, some thin. */
    mtp_error err = MTP_ERROR_INIT;
    set_region(60, 100, 30, 50, 5, 19);
    mtp_box region = mtp_assemble_region_box(cfg, 0);
    ck_assert_int_eq(region.x0, 60);
    ck_assert_int_eq(region.z1, 19);
    plan_grid(IMAGE, &region, 64, 32, 16);
    plan_grid(LABELS, &region, 64, 32, 16);
    ck_assert_uint_eq(plan.nblocks_of[LABELS], 8);
    put_blocks(IMAGE, MTP_DTYPE_UINT8);
    put_blocks(LABELS, MTP_DTYPE_UINT64);

    mtp_volume vol;
    ck_assert_int_eq(
        mtp_assemble_load(&vol, cfg, &plan, cache, IMAGE, MTP_DTYPE_UINT8, &region, &err), 0);
    ck_assert_uint_eq(vol.nx, 40);
    ck_assert_uint_eq(vol.ny, 20);
    ck_assert_uint_eq(vol.nz, 14);
    check_cube(&vol, IMAGE);
    mtp_assemble_release(&vol);
    ck_assert_ptr_null(vol.data);

    ck_assert_int_eq(
        mtp_assemble_load(&vol, cfg, &plan, cache, LABELS, MTP_DTYPE_UINT64, &region, &err), 0);
    check_cube(&vol, LABELS);
    mtp_assemble_release(&vol);

    /* A sub-box of the planned set: only the intersecting parts are copied. */
    mtp_box inner = {63, 65, 31, 33, 15, 17};
    ck_assert_int_eq(
        mtp_assemble_load(&vol, cfg, &plan, cache, LABELS, MTP_DTYPE_UINT64, &inner, &err), 0);
    ck_assert_uint_eq(vol.nx * vol.ny * vol.nz, 8);
    check_cube(&vol, LABELS);
    mtp_assemble_release(&vol);
    mtp_assemble_release(NULL);
}
END_TEST

START_TEST(uint16_labels)
{
    mtp_error err = MTP_ERROR_INIT;
    set_region(0, 33, 0, 17, 0, 9);
    mtp_box region = mtp_assemble_region_box(cfg, 0);
    plan_grid(LABELS, &region, 16, 16, 4);
    put_blocks(LABELS, MTP_DTYPE_UINT16);
    mtp_volume vol;
    ck_assert_int_eq(
        mtp_assemble_load(&vol, cfg, &plan, cache, LABELS, MTP_DTYPE_UINT16, &region, &err), 0);
    check_cube(&vol, LABELS);
    mtp_assemble_release(&vol);

    poke(LABELS, MTP_DTYPE_UINT16, 20, 16, 8, 65535);
    ck_assert_int_eq(
        mtp_assemble_load(&vol, cfg, &plan, cache, LABELS, MTP_DTYPE_UINT16, &region, &err),
        MTP_EDATA);
    ck_assert_str_eq(err.msg, "labels: value 65535 at (x=20, y=16, z=8) does not fit in uint8");
    ck_assert_ptr_null(vol.data);
}
END_TEST

START_TEST(value_over_255_names_the_position)
{
    mtp_error err = MTP_ERROR_INIT;
    set_region(60, 100, 30, 50, 5, 19);
    mtp_box region = mtp_assemble_region_box(cfg, 0);
    plan_grid(LABELS, &region, 64, 32, 16);
    put_blocks(LABELS, MTP_DTYPE_UINT64);
    /* Two bad voxels in the block x[64,100) y[32,50) z[16,19): the first in C order counts. */
    poke(LABELS, MTP_DTYPE_UINT64, 99, 33, 17, 300);
    poke(LABELS, MTP_DTYPE_UINT64, 70, 40, 17, 0x0123456789abcdefull);
    mtp_volume vol;
    ck_assert_int_eq(
        mtp_assemble_load(&vol, cfg, &plan, cache, LABELS, MTP_DTYPE_UINT64, &region, &err),
        MTP_EDATA);
    ck_assert_str_eq(err.msg, "labels: value 300 at (x=99, y=33, z=17) does not fit in uint8");
    ck_assert_ptr_null(vol.data);

    /* A box that leaves the first bad voxel out reports the second. */
    mtp_box part = {64, 98, 32, 50, 16, 19};
    ck_assert_int_eq(
        mtp_assemble_load(&vol, cfg, &plan, cache, LABELS, MTP_DTYPE_UINT64, &part, &err),
        MTP_EDATA);
    ck_assert_str_eq(err.msg, "labels: value 81985529216486895 at (x=70, y=40, z=17) does not "
                              "fit in uint8");

    /* A box that leaves both out loads, although its block holds them: exact values. */
    mtp_box clean = {60, 100, 30, 50, 5, 17};
    ck_assert_int_eq(
        mtp_assemble_load(&vol, cfg, &plan, cache, LABELS, MTP_DTYPE_UINT64, &clean, &err), 0);
    check_cube(&vol, LABELS);
    mtp_assemble_release(&vol);
    mtp_box beside = {60, 69, 30, 50, 5, 19};
    ck_assert_int_eq(
        mtp_assemble_load(&vol, cfg, &plan, cache, LABELS, MTP_DTYPE_UINT64, &beside, &err), 0);
    check_cube(&vol, LABELS);
    mtp_assemble_release(&vol);
}
END_TEST

START_TEST(missing_damaged_and_uncovered)
{
    mtp_error err = MTP_ERROR_INIT;
    set_region(0, 20, 0, 20, 0, 8);
    mtp_box region = mtp_assemble_region_box(cfg, 0);
    plan_grid(LABELS, &region, 16, 16, 8);
    ck_assert_uint_eq(plan.nblocks_of[LABELS], 4);
    mtp_volume vol;
    ck_assert_int_eq(
        mtp_assemble_load(&vol, cfg, &plan, cache, LABELS, MTP_DTYPE_UINT64, &region, &err),
        MTP_ENOTFOUND);
    char path[1024], want[1200];
    mtp_block_key key =
        mtp_assemble_block_key(cfg, &plan.blocks[plan.first_block[LABELS]], MTP_DTYPE_UINT64);
    ck_assert_int_eq(mtp_cache_path(cache, &key, path, sizeof path, &err), 0);
    snprintf(want, sizeof want, "cache: %s: not cached", path);
    ck_assert_str_eq(err.msg, want);
    ck_assert_ptr_null(vol.data);

    put_blocks(LABELS, MTP_DTYPE_UINT64);
    /* A damaged block: MTP_ECORRUPT, and the cache has dropped it. */
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, -3, SEEK_END);
    int c = fgetc(f);
    fseek(f, -3, SEEK_END);
    fputc(c ^ 0xFF, f);
    fclose(f);
    ck_assert_int_eq(
        mtp_assemble_load(&vol, cfg, &plan, cache, LABELS, MTP_DTYPE_UINT64, &region, &err),
        MTP_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "(discarded)"));
    ck_assert_int_eq(mtp_cache_has(cache, &key), 0);
    put_blocks(LABELS, MTP_DTYPE_UINT64);

    /* A plan that misses part of the box (a planning bug). */
    plan.nblocks_of[LABELS] = 3;
    ck_assert_int_eq(
        mtp_assemble_load(&vol, cfg, &plan, cache, LABELS, MTP_DTYPE_UINT64, &region, &err),
        MTP_EINVAL);
    ck_assert_str_eq(err.msg, "volume: the plan covers 3072 of the 3200 voxels of channel labels");
    ck_assert_int_eq(
        mtp_assemble_load(&vol, cfg, &plan, cache, LABELS, MTP_DTYPE_UNKNOWN, &region, &err),
        MTP_EINVAL);
    ck_assert_str_eq(err.msg, "volume: empty box or unknown dtype");
}
END_TEST

START_TEST(timing_mtneuro_region_uint64)
{
    /* A timing for the report, not an assertion: one MTNeuro region (256×256 over z
     * [110, 470)) of a uint64 label channel, blocks on the demo's 512×512×64 grid. */
    mtp_error err = MTP_ERROR_INIT;
    set_region(4600, 4856, 900, 1156, 110, 470);
    mtp_box region = mtp_assemble_region_box(cfg, 0);
    plan_grid(LABELS, &region, 512, 512, 64);
    put_blocks(LABELS, MTP_DTYPE_UINT64);
    mtp_volume vol;
    const int reps = 3;
    double best = 1e9;
    for (int r = 0; r < reps; r++) {
        double t0 = fixture_now_s();
        ck_assert_int_eq(
            mtp_assemble_load(&vol, cfg, &plan, cache, LABELS, MTP_DTYPE_UINT64, &region, &err), 0);
        double t = fixture_now_s() - t0;
        best = t < best ? t : best;
        if (r + 1 < reps)
            mtp_assemble_release(&vol);
    }
    check_cube(&vol, LABELS);
    mtp_assemble_release(&vol);
    printf("volume load (360x256x256 uint64 labels, %zu blocks): best of %d %.1f ms\n",
           plan.nblocks_of[LABELS], reps, best * 1e3);
}
END_TEST

Suite *mtp_test_suite(void)
{
    Suite *s = suite_create("assemble");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, region_from_several_blocks);
    tcase_add_test(tc, uint16_labels);
    tcase_add_test(tc, value_over_255_names_the_position);
    tcase_add_test(tc, missing_damaged_and_uncovered);
    tcase_add_test(tc, timing_mtneuro_region_uint64);
    suite_add_tcase(s, tc);
    return s;
}
