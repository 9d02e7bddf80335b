#include "mtp_test.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtp/config.h"
#include "mtp/plan.h"

/* Configs are built by hand so this suite does not depend on the YAML parser. */

static mtp_config *new_config(int64_t bx, int64_t by, int64_t bz)
{
    mtp_config *cfg = calloc(1, sizeof *cfg);
    ck_assert_ptr_nonnull(cfg);
    cfg->source.block[0] = bx;
    cfg->source.block[1] = by;
    cfg->source.block[2] = bz;
    return cfg;
}

static int add_channel(mtp_config *cfg, const char *name)
{
    int c = cfg->nchannels++;
    snprintf(cfg->channels[c].name, sizeof cfg->channels[c].name, "%s", name);
    return c;
}

static int add_region(mtp_config *cfg, const char *name, int64_t x0, int64_t x1, int64_t y0,
                      int64_t y1)
{
    int r = cfg->nregions++;
    snprintf(cfg->regions[r].name, sizeof cfg->regions[r].name, "%s", name);
    cfg->regions[r].x = (mtp_range){x0, x1};
    cfg->regions[r].y = (mtp_range){y0, y1};
    return r;
}

static int add_split(mtp_config *cfg, const char *name, int64_t z0, int64_t z1)
{
    int s = cfg->nsplits++;
    snprintf(cfg->splits[s].name, sizeof cfg->splits[s].name, "%s", name);
    cfg->splits[s].z = (mtp_range){z0, z1};
    return s;
}

/* A task over the given splits (-1 terminated). */
static mtp_task *add_task(mtp_config *cfg, const char *name, int image, int labels, ...)
{
    mtp_task *t = &cfg->tasks[cfg->ntasks++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->kind = MTP_TASK_SEGMENTATION;
    t->image_channel = image;
    t->label_channel = labels;
    va_list ap;
    va_start(ap, labels);
    for (int s = va_arg(ap, int); s >= 0; s = va_arg(ap, int))
        t->splits[t->nsplits++] = s;
    va_end(ap);
    return t;
}

static mtp_plan *plan_ok(const mtp_config *cfg)
{
    mtp_plan *plan = NULL;
    mtp_error err = MTP_ERROR_INIT;
    int rc = mtp_plan_new(&plan, cfg, &err);
    ck_assert_msg(rc == 0, "mtp_plan_new: %d %s", rc, err.msg);
    ck_assert_ptr_nonnull(plan);
    return plan;
}

static void assert_block(const mtp_plan *plan, size_t i, int channel, int64_t x0, int64_t x1,
                         int64_t y0, int64_t y1, int64_t z0, int64_t z1)
{
    ck_assert_uint_lt(i, plan->nblocks);
    const mtp_block *b = &plan->blocks[i];
    ck_assert_msg(b->channel == channel && b->box.x0 == x0 && b->box.x1 == x1 && b->box.y0 == y0 &&
                      b->box.y1 == y1 && b->box.z0 == z0 && b->box.z1 == z1,
                  "block %zu: got c%d x[%lld,%lld) y[%lld,%lld) z[%lld,%lld), want c%d "
                  "x[%lld,%lld) y[%lld,%lld) z[%lld,%lld)",
                  i, b->channel, (long long)b->box.x0, (long long)b->box.x1, (long long)b->box.y0,
                  (long long)b->box.y1, (long long)b->box.z0, (long long)b->box.z1, channel,
                  (long long)x0, (long long)x1, (long long)y0, (long long)y1, (long long)z0,
                  (long long)z1);
}

static int box_order(const mtp_box *a, const mtp_box *b)
{
    int64_t ka[6] = {a->z0, a->y0, a->x0, a->z1, a->y1, a->x1};
    int64_t kb[6] = {b->z0, b->y0, b->x0, b->z1, b->y1, b->x1};
    for (int i = 0; i < 6; i++)
        if (ka[i] != kb[i])
            return ka[i] < kb[i] ? -1 : 1;
    return 0;
}

/* Invariants every plan must hold: per-channel bookkeeping, order, cells, disjointness. */
static void assert_invariants(const mtp_plan *plan, const mtp_config *cfg)
{
    size_t next = 0;
    const int64_t *blk = cfg->source.block;
    for (int c = 0; c < cfg->nchannels; c++) {
        ck_assert_uint_eq(plan->first_block[c], next);
        uint64_t voxels = 0;
        for (size_t i = next; i < next + plan->nblocks_of[c]; i++) {
            const mtp_box *b = &plan->blocks[i].box;
            ck_assert_int_eq(plan->blocks[i].channel, c);
            ck_assert_uint_gt(mtp_box_voxels(b), 0);
            ck_assert_int_eq(b->x0 / blk[0], (b->x1 - 1) / blk[0]);
            ck_assert_int_eq(b->y0 / blk[1], (b->y1 - 1) / blk[1]);
            ck_assert_int_eq(b->z0 / blk[2], (b->z1 - 1) / blk[2]);
            if (i > next)
                ck_assert_int_lt(box_order(&plan->blocks[i - 1].box, b), 0);
            for (size_t j = next; j < i; j++)
                ck_assert(!mtp_box_intersects(&plan->blocks[j].box, b));
            voxels += mtp_box_voxels(b);
        }
        ck_assert_uint_eq(plan->voxels_of[c], voxels);
        if (!plan->used[c])
            ck_assert_uint_eq(plan->nblocks_of[c], 0);
        next += plan->nblocks_of[c];
    }
    ck_assert_uint_eq(next, plan->nblocks);
}

START_TEST(straddles_x_and_z)
{
    mtp_config *cfg = new_config(512, 512, 64);
    int img = add_channel(cfg, "image");
    int lab = add_channel(cfg, "labels");
    add_region(cfg, "r", 500, 600, 0, 100);
    int s = add_split(cfg, "train", 60, 70);
    add_task(cfg, "t", img, lab, s, -1);
    mtp_plan *plan = plan_ok(cfg);
    assert_invariants(plan, cfg);
    ck_assert_uint_eq(plan->nblocks, 8);
    for (int c = 0; c < 2; c++) {
        size_t f = plan->first_block[c];
        ck_assert(plan->used[c]);
        ck_assert_uint_eq(plan->nblocks_of[c], 4);
        ck_assert_uint_eq(plan->voxels_of[c], 100 * 100 * 10);
        assert_block(plan, f + 0, c, 500, 512, 0, 100, 60, 64);
        assert_block(plan, f + 1, c, 512, 600, 0, 100, 60, 64);
        assert_block(plan, f + 2, c, 500, 512, 0, 100, 64, 70);
        assert_block(plan, f + 3, c, 512, 600, 0, 100, 64, 70);
    }
    mtp_plan_free(plan);
    free(cfg);
}
END_TEST

START_TEST(overlapping_z_ranges_same_region)
{
    /* One region in two tasks with splits [0,20) and [10,40): the union is z [0,40). */
    mtp_config *cfg = new_config(512, 512, 16);
    int img = add_channel(cfg, "image");
    add_region(cfg, "r", 0, 100, 0, 100);
    int a = add_split(cfg, "a", 0, 20);
    int b = add_split(cfg, "b", 10, 40);
    add_task(cfg, "ta", img, -1, a, -1);
    add_task(cfg, "tb", img, -1, b, -1);
    mtp_plan *plan = plan_ok(cfg);
    assert_invariants(plan, cfg);
    ck_assert_uint_eq(plan->nblocks, 3);
    assert_block(plan, 0, 0, 0, 100, 0, 100, 0, 16);
    assert_block(plan, 1, 0, 0, 100, 0, 100, 16, 32);
    assert_block(plan, 2, 0, 0, 100, 0, 100, 32, 40);
    ck_assert_uint_eq(plan->voxels_of[0], 100 * 100 * 40);
    mtp_plan_free(plan);
    free(cfg);
}
END_TEST

START_TEST(overlapping_boxes_non_rectangular_union)
{
    /* R1 x[0,100) z[0,20) and R2 x[50,150) z[10,40): an L-shaped union in one cell. */
    mtp_config *cfg = new_config(512, 512, 64);
    int img = add_channel(cfg, "image");
    int r1 = add_region(cfg, "r1", 0, 100, 0, 100);
    int r2 = add_region(cfg, "r2", 50, 150, 0, 100);
    int a = add_split(cfg, "a", 0, 20);
    int b = add_split(cfg, "b", 10, 40);
    mtp_task *ta = add_task(cfg, "ta", img, -1, a, -1);
    ta->excluded[r2] = true;
    mtp_task *tb = add_task(cfg, "tb", img, -1, b, -1);
    tb->excluded[r1] = true;
    mtp_plan *plan = plan_ok(cfg);
    assert_invariants(plan, cfg);
    ck_assert_uint_eq(plan->nblocks, 3);
    assert_block(plan, 0, 0, 0, 100, 0, 100, 0, 20);
    assert_block(plan, 1, 0, 100, 150, 0, 100, 10, 40);
    assert_block(plan, 2, 0, 50, 100, 0, 100, 20, 40);
    /* |R1| + |R2| - |R1 ∩ R2| = 200000 + 300000 - 50000 */
    ck_assert_uint_eq(plan->voxels_of[0], 450000);

    /* Brute force: every voxel of the cell is covered exactly as often as it is needed. */
    unsigned char *count = calloc(150 * 100 * 40, 1);
    ck_assert_ptr_nonnull(count);
    for (size_t i = 0; i < plan->nblocks; i++) {
        const mtp_box *bx = &plan->blocks[i].box;
        for (int64_t z = bx->z0; z < bx->z1; z++)
            for (int64_t y = bx->y0; y < bx->y1; y++)
                for (int64_t x = bx->x0; x < bx->x1; x++)
                    count[(z * 100 + y) * 150 + x]++;
    }
    for (int64_t z = 0; z < 40; z++)
        for (int64_t y = 0; y < 100; y++)
            for (int64_t x = 0; x < 150; x++) {
                int need = (x < 100 && z < 20) || (x >= 50 && z >= 10);
                ck_assert_int_eq(count[(z * 100 + y) * 150 + x], need);
            }
    free(count);
    mtp_plan_free(plan);
    free(cfg);
}
END_TEST

START_TEST(abutting_boxes_merge)
{
    mtp_config *cfg = new_config(512, 512, 64);
    int img = add_channel(cfg, "image");
    add_region(cfg, "left", 0, 100, 0, 100);
    add_region(cfg, "right", 100, 200, 0, 100);
    /* also abutting across the cell boundary x=512: stays two blocks */
    add_region(cfg, "a", 400, 512, 200, 300);
    add_region(cfg, "b", 512, 600, 200, 300);
    int s1 = add_split(cfg, "s1", 0, 10);
    int s2 = add_split(cfg, "s2", 10, 20);
    add_task(cfg, "t", img, -1, s1, s2, -1);
    mtp_plan *plan = plan_ok(cfg);
    assert_invariants(plan, cfg);
    ck_assert_uint_eq(plan->nblocks, 3);
    assert_block(plan, 0, 0, 0, 200, 0, 100, 0, 20);
    assert_block(plan, 1, 0, 400, 512, 200, 300, 0, 20);
    assert_block(plan, 2, 0, 512, 600, 200, 300, 0, 20);
    ck_assert_uint_eq(plan->voxels_of[0], 200 * 100 * 20 + 200 * 100 * 20);
    mtp_plan_free(plan);
    free(cfg);
}
END_TEST

START_TEST(block_smaller_than_cuboid)
{
    mtp_config *cfg = new_config(256, 256, 8);
    int img = add_channel(cfg, "image");
    add_region(cfg, "r", 200, 300, 250, 260);
    int s = add_split(cfg, "s", 5, 20);
    add_task(cfg, "t", img, -1, s, -1);
    mtp_plan *plan = plan_ok(cfg);
    assert_invariants(plan, cfg);
    ck_assert_uint_eq(plan->nblocks, 12);
    const int64_t zs[4] = {5, 8, 16, 20}, ys[3] = {250, 256, 260}, xs[3] = {200, 256, 300};
    size_t i = 0;
    for (int z = 0; z < 3; z++)
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 2; x++)
                assert_block(plan, i++, 0, xs[x], xs[x + 1], ys[y], ys[y + 1], zs[z], zs[z + 1]);
    ck_assert_uint_eq(plan->voxels_of[0], 100 * 10 * 15);
    mtp_plan_free(plan);
    free(cfg);
}
END_TEST

START_TEST(excluded_regions_and_unused_channel)
{
    mtp_config *cfg = new_config(512, 512, 64);
    int img = add_channel(cfg, "image");
    int lab = add_channel(cfg, "labels");
    int unused = add_channel(cfg, "other");
    add_region(cfg, "a", 0, 10, 0, 10);
    int rb = add_region(cfg, "b", 600, 610, 0, 10);
    int s = add_split(cfg, "s", 0, 5);
    mtp_task *t = add_task(cfg, "t", img, lab, s, -1);
    t->excluded[rb] = true;
    mtp_plan *plan = plan_ok(cfg);
    assert_invariants(plan, cfg);
    ck_assert_uint_eq(plan->nblocks, 2);
    assert_block(plan, 0, img, 0, 10, 0, 10, 0, 5);
    assert_block(plan, 1, lab, 0, 10, 0, 10, 0, 5);
    ck_assert(!plan->used[unused]);
    ck_assert_uint_eq(plan->nblocks_of[unused], 0);
    ck_assert_uint_eq(plan->first_block[unused], 2);
    ck_assert_uint_eq(plan->voxels_of[unused], 0);
    mtp_plan_free(plan);

    /* A second task using the image channel without the exclusion brings b back. */
    add_task(cfg, "t2", img, -1, s, -1);
    plan = plan_ok(cfg);
    assert_invariants(plan, cfg);
    ck_assert_uint_eq(plan->nblocks, 3);
    assert_block(plan, 0, img, 0, 10, 0, 10, 0, 5);
    assert_block(plan, 1, img, 600, 610, 0, 10, 0, 5);
    assert_block(plan, 2, lab, 0, 10, 0, 10, 0, 5);
    mtp_plan_free(plan);
    free(cfg);
}
END_TEST

START_TEST(volumes_use_every_region_over_z)
{
    mtp_config *cfg = new_config(512, 512, 64);
    int img = add_channel(cfg, "image");
    add_channel(cfg, "labels"); /* used by no task */
    int ra = add_region(cfg, "a", 0, 10, 0, 10);
    add_region(cfg, "b", 20, 30, 0, 10);
    cfg->z = (mtp_range){0, 70};
    int s = add_split(cfg, "s", 0, 5);
    mtp_task *t = add_task(cfg, "t", img, -1, s, -1);
    (void)ra;
    t->excluded[1] = true;
    cfg->output.volumes = true;
    mtp_plan *plan = plan_ok(cfg);
    assert_invariants(plan, cfg);
    ck_assert_uint_eq(plan->nblocks, 8);
    for (int c = 0; c < 2; c++) {
        size_t f = plan->first_block[c];
        ck_assert(plan->used[c]);
        ck_assert_uint_eq(plan->nblocks_of[c], 4);
        ck_assert_uint_eq(plan->voxels_of[c], 2 * 10 * 10 * 70);
        assert_block(plan, f + 0, c, 0, 10, 0, 10, 0, 64);
        assert_block(plan, f + 1, c, 20, 30, 0, 10, 0, 64);
        assert_block(plan, f + 2, c, 0, 10, 0, 10, 64, 70);
        assert_block(plan, f + 3, c, 20, 30, 0, 10, 64, 70);
    }
    mtp_plan_free(plan);
    free(cfg);
}
END_TEST

/* The MTNeuro release (reference/mtneuro.md), tasks as in DESIGN §4. */
static mtp_config *mtneuro_config(bool volumes)
{
    mtp_config *cfg = new_config(512, 512, 64);
    int img = add_channel(cfg, "image");
    int pix = add_channel(cfg, "pixel_labels");
    int roi = add_channel(cfg, "roi_labels");
    add_region(cfg, "cortex", 4600, 4856, 900, 1156);
    add_region(cfg, "striatum", 3700, 3956, 500, 756);
    add_region(cfg, "vp", 3063, 3319, 850, 1106);
    int zi = add_region(cfg, "zi", 1543, 1799, 650, 906);
    cfg->z = (mtp_range){110, 470};
    int tr = add_split(cfg, "train", 110, 379);
    int va = add_split(cfg, "val", 380, 409);
    int te = add_split(cfg, "test", 420, 470);
    int all = add_split(cfg, "all", 110, 470);
    add_task(cfg, "task1", img, roi, tr, va, te, -1);
    mtp_task *t = add_task(cfg, "task2_2d_4class", img, pix, tr, va, te, -1);
    t->excluded[zi] = true;
    add_task(cfg, "task2_2d_3class", img, pix, tr, va, te, -1);
    t = add_task(cfg, "task2_3d_4class", img, pix, tr, va, te, -1);
    t->excluded[zi] = true;
    add_task(cfg, "task2_3d_3class", img, pix, tr, va, te, -1);
    add_task(cfg, "task3", img, pix, all, -1);
    cfg->output.volumes = volumes;
    return cfg;
}

START_TEST(mtneuro_77_blocks_per_channel)
{
    for (int volumes = 0; volumes < 2; volumes++) {
        mtp_config *cfg = mtneuro_config(volumes);
        mtp_plan *plan = plan_ok(cfg);
        assert_invariants(plan, cfg);
        /* roi_labels is used by task1 only (train/val/test, with gaps at 379 and 409..419)
         * unless volumes.h5 asks for all of z: 9 z pieces per xy piece instead of 7. */
        size_t roi_blocks = volumes ? 77 : 99;
        uint64_t roi_slices = volumes ? 360 : 269 + 29 + 50;
        ck_assert_uint_eq(plan->nblocks, 2 * 77 + roi_blocks);
        for (int c = 0; c < 3; c++) {
            ck_assert(plan->used[c]);
            ck_assert_uint_eq(plan->first_block[c], (size_t)c * 77);
            ck_assert_uint_eq(plan->nblocks_of[c], c == 2 ? roi_blocks : 77);
            uint64_t slices = c == 2 ? roi_slices : 360;
            ck_assert_uint_eq(plan->voxels_of[c], 4ull * 256 * 256 * slices);
        }
        /* The z pieces of zi's single xy piece in roi_labels. */
        const int64_t gaps[9][2] = {{110, 128}, {128, 192}, {192, 256}, {256, 320}, {320, 379},
                                    {380, 384}, {384, 409}, {420, 448}, {448, 470}};
        const int64_t full[7][2] = {{110, 128}, {128, 192}, {192, 256}, {256, 320},
                                    {320, 384}, {384, 448}, {448, 470}};
        size_t nz = 0;
        for (size_t i = plan->first_block[2]; i < plan->nblocks; i++) {
            const mtp_box *b = &plan->blocks[i].box;
            if (b->x0 != 1543)
                continue;
            ck_assert_uint_lt(nz, volumes ? 7 : 9);
            ck_assert_int_eq(b->z0, volumes ? full[nz][0] : gaps[nz][0]);
            ck_assert_int_eq(b->z1, volumes ? full[nz][1] : gaps[nz][1]);
            nz++;
        }
        ck_assert_uint_eq(nz, volumes ? 7 : 9);
        /* First blocks: z [110,128), y ascending then x: striatum's lower piece first. */
        assert_block(plan, 0, 0, 3700, 3956, 500, 512, 110, 128);
        assert_block(plan, 1, 0, 3700, 3956, 512, 756, 110, 128);
        assert_block(plan, 2, 0, 1543, 1799, 650, 906, 110, 128);
        assert_block(plan, 3, 0, 3063, 3072, 850, 1024, 110, 128);
        assert_block(plan, 4, 0, 3072, 3319, 850, 1024, 110, 128);
        assert_block(plan, 5, 0, 4600, 4608, 900, 1024, 110, 128);
        assert_block(plan, 6, 0, 4608, 4856, 900, 1024, 110, 128);
        assert_block(plan, 7, 0, 3063, 3072, 1024, 1106, 110, 128);
        assert_block(plan, 8, 0, 3072, 3319, 1024, 1106, 110, 128);
        assert_block(plan, 9, 0, 4600, 4608, 1024, 1156, 110, 128);
        assert_block(plan, 10, 0, 4608, 4856, 1024, 1156, 110, 128);
        assert_block(plan, 76, 0, 4608, 4856, 1024, 1156, 448, 470);
        assert_block(plan, 77, 1, 3700, 3956, 500, 512, 110, 128);
        mtp_plan_free(plan);
        free(cfg);
    }
}
END_TEST

/* Requests: each is exactly tiled by its members (disjoint blocks whose voxels add up to
 * the box, all inside it), within the limit unless a single block, every block in exactly
 * one request, requests ordered by their first member's position. Returns the count. */
static size_t requests_ok(const mtp_plan *plan, const size_t *blocks, size_t n,
                          const uint64_t max_voxels[MTP_MAX_CHANNELS], mtp_request **req,
                          size_t **members)
{
    size_t nreq = 0;
    mtp_error err = MTP_ERROR_INIT;
    int rc = mtp_plan_requests(plan, blocks, n, max_voxels, req, &nreq, members, &err);
    ck_assert_msg(rc == 0, "mtp_plan_requests: %d %s", rc, err.msg);
    size_t *pos_of = calloc(plan->nblocks, sizeof *pos_of);
    ck_assert_ptr_nonnull(pos_of);
    for (size_t i = 0; i < n; i++)
        pos_of[blocks[i]] = i + 1;
    size_t seen = 0, last_first = 0;
    for (size_t r = 0; r < nreq; r++) {
        const mtp_request *q = &(*req)[r];
        ck_assert_uint_eq(q->first, seen);
        ck_assert_uint_gt(q->count, 0);
        uint64_t voxels = 0;
        for (size_t k = 0; k < q->count; k++) {
            size_t b = (*members)[q->first + k];
            ck_assert_uint_ne(pos_of[b], 0); /* given, and not yet in another request */
            if (k == 0) {
                ck_assert(r == 0 || pos_of[b] > last_first);
                last_first = pos_of[b];
            } else {
                ck_assert_uint_gt(pos_of[b], pos_of[(*members)[q->first + k - 1]]);
            }
            pos_of[b] = 0;
            const mtp_block *blk = &plan->blocks[b];
            mtp_box in;
            ck_assert_int_eq(blk->channel, q->channel);
            ck_assert(mtp_box_intersect(&blk->box, &q->box, &in) && mtp_box_equal(&in, &blk->box));
            voxels += mtp_box_voxels(&blk->box);
        }
        ck_assert_uint_eq(voxels, mtp_box_voxels(&q->box));
        ck_assert(q->count == 1 || voxels <= max_voxels[q->channel]);
        seen += q->count;
    }
    ck_assert_uint_eq(seen, n);
    free(pos_of);
    return nreq;
}

START_TEST(requests_group_neighbours)
{
    mtp_config *cfg = mtneuro_config(true);
    mtp_plan *plan = plan_ok(cfg);
    size_t *all = calloc(plan->nblocks, sizeof *all);
    ck_assert_ptr_nonnull(all);
    for (size_t i = 0; i < plan->nblocks; i++)
        all[i] = i;
    /* What fetch uses: 4 Mi voxels, a 256 x 256 x 64 slab, for every dtype here. */
    ck_assert_uint_eq(mtp_plan_request_voxels(cfg, 1), 4ull << 20);
    ck_assert_uint_eq(mtp_plan_request_voxels(cfg, 8), 4ull << 20);
    /* One 512 x 512 x 64 cell per request: a region's 256 x 256 column of 360 slices
     * takes two (z 110..320 = 13,762,560 voxels, then z 320..470). */
    uint64_t cell = 512ull * 512 * 64;
    uint64_t max[MTP_MAX_CHANNELS] = {cell, cell, cell};
    mtp_request *req = NULL;
    size_t *members = NULL;
    ck_assert_uint_eq(requests_ok(plan, all, plan->nblocks, max, &req, &members), 24);
    /* The first request: striatum's two y pieces over z [110, 320). */
    ck_assert_int_eq(req[0].channel, 0);
    ck_assert(mtp_box_equal(&req[0].box, &(mtp_box){3700, 3956, 500, 756, 110, 320}));
    ck_assert_uint_eq(req[0].count, 8);
    ck_assert_uint_eq(members[0], 0);
    ck_assert_uint_eq(members[1], 1);
    ck_assert_uint_eq(members[2], 11);
    /* vp's four xy pieces over z [110, 320): 16 blocks in one request. */
    ck_assert(mtp_box_equal(&req[2].box, &(mtp_box){3063, 3319, 850, 1106, 110, 320}));
    ck_assert_uint_eq(req[2].count, 16);
    free(req);
    free(members);

    /* fetch's limit, one slab (256 x 256 x 64 voxels): xy pieces still merge, z slabs do
     * not (the first, 18 slices, plus a full one is over it). */
    for (int c = 0; c < 3; c++)
        max[c] = mtp_plan_request_voxels(cfg, c == 0 ? 1 : 8);
    ck_assert_uint_eq(requests_ok(plan, all, plan->nblocks, max, &req, &members), 3 * 4 * 7);
    free(req);
    free(members);
    /* No limit known (0): every block alone. */
    uint64_t none[MTP_MAX_CHANNELS] = {0};
    ck_assert_uint_eq(requests_ok(plan, all, plan->nblocks, none, &req, &members), 231);
    free(req);
    free(members);

    /* Only some blocks missing, in another order: the image channel backwards without
     * every third block. The gaps break runs, the rest still merge. */
    size_t some[51], n = 0;
    for (size_t i = 77; i-- > 0;)
        if (i % 3 != 0)
            some[n++] = i;
    ck_assert_uint_eq(n, 51);
    size_t got = requests_ok(plan, some, n, (uint64_t[MTP_MAX_CHANNELS]){cell}, &req, &members);
    ck_assert_uint_eq(got, 38);
    ck_assert_uint_eq(members[req[0].first], 76); /* the first given block leads */
    free(req);
    free(members);

    /* A block index outside the plan. */
    size_t bad = plan->nblocks;
    mtp_error err = MTP_ERROR_INIT;
    size_t nreq = 7;
    ck_assert_int_eq(mtp_plan_requests(plan, &bad, 1, max, &req, &nreq, &members, &err),
                     MTP_EINVAL);
    ck_assert_ptr_null(req);
    ck_assert_uint_eq(nreq, 0);
    ck_assert_str_eq(err.msg, "plan: block 231 of 231");
    free(all);
    mtp_plan_free(plan);
    free(cfg);
}
END_TEST

static uint32_t lcg_next(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*state >> 33);
}

/* Random disjoint blocks: per channel a lattice of cells of random sizes (some cells merged
 * with their x neighbour, so not every block is a lattice cell), a random subset of them in
 * a random order, random limits. Every result must pass requests_ok and be the same when
 * asked twice. */
START_TEST(requests_hold_for_random_block_sets)
{
    uint64_t rng = 20260405;
    for (int iter = 0; iter < 200; iter++) {
        mtp_plan *plan = calloc(1, sizeof *plan);
        ck_assert_ptr_nonnull(plan);
        plan->blocks = calloc(3 * 6 * 6 * 6, sizeof *plan->blocks);
        ck_assert_ptr_nonnull(plan->blocks);
        for (int c = 0; c < 3; c++) {
            int64_t cut[3][7];
            int ncell[3];
            for (int a = 0; a < 3; a++) {
                ncell[a] = 1 + (int)(lcg_next(&rng) % 6);
                cut[a][0] = (int64_t)(lcg_next(&rng) % 50);
                for (int i = 1; i <= ncell[a]; i++)
                    cut[a][i] = cut[a][i - 1] + 1 + (int64_t)(lcg_next(&rng) % 5);
            }
            for (int z = 0; z < ncell[2]; z++)
                for (int y = 0; y < ncell[1]; y++)
                    for (int x = 0; x < ncell[0]; x++) {
                        int x1 = x + 1;
                        if (x1 < ncell[0] && lcg_next(&rng) % 4 == 0)
                            x1++; /* this cell and its x neighbour: one block */
                        plan->blocks[plan->nblocks++] =
                            (mtp_block){c,
                                        {cut[0][x], cut[0][x1], cut[1][y], cut[1][y + 1], cut[2][z],
                                         cut[2][z + 1]}};
                        x = x1 - 1;
                    }
        }
        size_t *blocks = calloc(plan->nblocks, sizeof *blocks);
        ck_assert_ptr_nonnull(blocks);
        size_t n = 0;
        for (size_t i = 0; i < plan->nblocks; i++)
            if (lcg_next(&rng) % 5 != 0)
                blocks[n++] = i;
        for (size_t i = n; i > 1; i--) { /* shuffle */
            size_t j = lcg_next(&rng) % i, t = blocks[i - 1];
            blocks[i - 1] = blocks[j];
            blocks[j] = t;
        }
        uint64_t max[MTP_MAX_CHANNELS] = {0};
        for (int c = 0; c < 3; c++)
            max[c] = lcg_next(&rng) % 3 == 0 ? 0 : lcg_next(&rng) % 400;
        mtp_request *req = NULL, *req2 = NULL;
        size_t *members = NULL, *members2 = NULL;
        size_t nreq = requests_ok(plan, blocks, n, max, &req, &members);
        ck_assert_uint_le(nreq, n);
        ck_assert_uint_eq(requests_ok(plan, blocks, n, max, &req2, &members2), nreq);
        ck_assert(n == 0 || memcmp(req, req2, nreq * sizeof *req) == 0);
        ck_assert(n == 0 || memcmp(members, members2, n * sizeof *members) == 0);
        /* No limit known: every block alone, in the given order. */
        uint64_t none[MTP_MAX_CHANNELS] = {0};
        free(req2);
        free(members2);
        ck_assert_uint_eq(requests_ok(plan, blocks, n, none, &req2, &members2), n);
        for (size_t i = 0; i < n; i++)
            ck_assert_uint_eq(members2[i], blocks[i]);
        free(req);
        free(members);
        free(req2);
        free(members2);
        free(blocks);
        mtp_plan_free(plan);
    }
}
END_TEST

START_TEST(request_voxels_follow_budget_and_cell)
{
    mtp_config *cfg = new_config(4096, 4096, 4096);
    /* A large cell: the request budget (4 Mi voxels) binds. */
    ck_assert_uint_eq(mtp_plan_request_voxels(cfg, 1), 4ull << 20);
    ck_assert_uint_eq(mtp_plan_request_voxels(cfg, 8), 4ull << 20);
    /* A small cell binds (64 x 64 x 16). */
    cfg->source.block[0] = cfg->source.block[1] = 64;
    cfg->source.block[2] = 16;
    ck_assert_uint_eq(mtp_plan_request_voxels(cfg, 1), 65536);
    ck_assert_uint_eq(mtp_plan_request_voxels(cfg, 0), 65536);
    free(cfg);
}
END_TEST

START_TEST(errors_are_reported)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_plan *plan = (mtp_plan *)&err; /* must be reset to NULL on failure */

    /* One 4096 × 4096 × 64 block is 1 Gi voxels: over the cap at 8 bytes/voxel ÷ 4. */
    mtp_config *cfg = new_config(4096, 4096, 64);
    int img = add_channel(cfg, "image");
    add_region(cfg, "big", 0, 4096, 0, 4096);
    int s = add_split(cfg, "s", 0, 64);
    add_task(cfg, "t", img, -1, s, -1);
    ck_assert_int_eq(mtp_plan_new(&plan, cfg, &err), MTP_ERANGE);
    ck_assert_ptr_null(plan);
    ck_assert_str_eq(err.msg, "plan: channel image: block x0-4096_y0-4096_z0-64 has "
                              "1073741824 voxels, over the server's cutout cap");
    /* 2048 × 2048 × 64 = 256 Mi voxels: exactly within 4 × cap / 8 = 272629760. */
    cfg->source.block[0] = cfg->source.block[1] = 2048;
    plan = plan_ok(cfg);
    ck_assert_uint_eq(plan->nblocks, 4);
    mtp_plan_free(plan);

    /* 1-voxel blocks over 1000 × 1000 × 100 = 1e8 blocks: refused before allocating. */
    cfg->source.block[0] = cfg->source.block[1] = cfg->source.block[2] = 1;
    cfg->regions[0].x = (mtp_range){0, 1000};
    cfg->regions[0].y = (mtp_range){0, 1000};
    cfg->splits[0].z = (mtp_range){0, 100};
    ck_assert_int_eq(mtp_plan_new(&plan, cfg, &err), MTP_ERANGE);
    ck_assert_str_eq(err.msg, "plan: channel image: more than 10000000 blocks (source.block "
                              "too small?)");

    cfg->source.block[2] = 0;
    ck_assert_int_eq(mtp_plan_new(&plan, cfg, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "plan: source.block[2] = 0 out of range");

    cfg->source.block[2] = 64;
    cfg->splits[0].z = (mtp_range){10, 10};
    ck_assert_int_eq(mtp_plan_new(&plan, cfg, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "plan: s: empty or out-of-range z range");

    cfg->splits[0].z = (mtp_range){0, 10};
    cfg->tasks[0].splits[0] = 5;
    ck_assert_int_eq(mtp_plan_new(&plan, cfg, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "plan: task t: split index 5 invalid");
    ck_assert_ptr_null(plan);
    free(cfg);
    mtp_plan_free(NULL);
}
END_TEST

Suite *mtp_test_suite(void)
{
    Suite *s = suite_create("plan");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, straddles_x_and_z);
    tcase_add_test(tc, overlapping_z_ranges_same_region);
    tcase_add_test(tc, overlapping_boxes_non_rectangular_union);
    tcase_add_test(tc, abutting_boxes_merge);
    tcase_add_test(tc, block_smaller_than_cuboid);
    tcase_add_test(tc, excluded_regions_and_unused_channel);
    tcase_add_test(tc, volumes_use_every_region_over_z);
    tcase_add_test(tc, mtneuro_77_blocks_per_channel);
    tcase_add_test(tc, errors_are_reported);
    tcase_add_test(tc, requests_group_neighbours);
    tcase_add_test(tc, requests_hold_for_random_block_sets);
    tcase_add_test(tc, request_voxels_follow_budget_and_cell);
    suite_add_tcase(s, tc);
    return s;
}
