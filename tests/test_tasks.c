#include "mtp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtp/config.h"
#include "fixtures.h"
#include "mtp/tasks.h"

/* Task indices in the hand-built MTNeuro config. */
enum { T1, T2_2D_4, T2_2D_3, T2_3D_4, T2_3D_3, T3, NTASKS };
/* Split indices. */
enum { TRAIN, VAL, TEST, ALL };
/* Channel indices. */
enum { CH_IMAGE, CH_PIXEL, CH_ROI };

#define EDGE 256
#define PLANE (EDGE * EDGE)

static void set_name(char *dst, const char *src)
{
    snprintf(dst, MTP_NAME_MAX, "%s", src);
}

static void add_region(mtp_config *cfg, const char *name, int64_t x0, int64_t y0, int64_t edge)
{
    mtp_region *r = &cfg->regions[cfg->nregions++];
    set_name(r->name, name);
    r->x = (mtp_range){x0, x0 + edge};
    r->y = (mtp_range){y0, y0 + edge};
}

static void add_split(mtp_config *cfg, const char *name, int64_t z0, int64_t z1)
{
    mtp_split *s = &cfg->splits[cfg->nsplits++];
    set_name(s->name, name);
    s->z = (mtp_range){z0, z1};
}

/* A task with no declared codes, the given splits and no exclusions. */
static mtp_task *add_task(mtp_config *cfg, const char *name, mtp_task_kind kind, int labels,
                          int depth)
{
    mtp_task *t = &cfg->tasks[cfg->ntasks++];
    set_name(t->name, name);
    t->kind = kind;
    t->image_channel = CH_IMAGE;
    t->label_channel = labels;
    t->depth = depth;
    for (int c = 0; c < MTP_MAX_CODES; c++)
        t->code_class[c] = -1;
    return t;
}

static void set_classes(mtp_task *t, int n, const char *const *names)
{
    t->nclasses = n;
    for (int i = 0; i < n; i++)
        set_name(t->classes[i], names[i]);
}

static void set_splits(mtp_task *t, int n, const int *splits)
{
    t->nsplits = n;
    for (int i = 0; i < n; i++)
        t->splits[i] = splits[i];
}

static const char *const region_names[] = {"cortex", "striatum", "vp", "zi"};
static const char *const seg4[] = {"background", "vessel", "cell", "axon"};
static const int tvt[] = {TRAIN, VAL, TEST};

static void segmentation(mtp_task *t, int nclasses, int exclude_zi, int remap_axon)
{
    set_classes(t, nclasses, seg4);
    set_splits(t, 3, tvt);
    for (int c = 0; c < nclasses; c++)
        t->code_class[c] = c;
    if (remap_axon)
        t->code_class[3] = 0;
    t->excluded[3] = exclude_zi;
}

/* The MTNeuro release (mtneuro.md) as the parser would give it. */
static mtp_config *mtneuro_config(void)
{
    mtp_config *cfg = calloc(1, sizeof *cfg);
    ck_assert_ptr_nonnull(cfg);
    cfg->nchannels = 3;
    set_name(cfg->channels[CH_IMAGE].name, "image");
    set_name(cfg->channels[CH_PIXEL].name, "pixel_labels");
    set_name(cfg->channels[CH_ROI].name, "roi_labels");
    add_region(cfg, "cortex", 4600, 900, EDGE);
    add_region(cfg, "striatum", 3700, 500, EDGE);
    add_region(cfg, "vp", 3063, 850, EDGE);
    add_region(cfg, "zi", 1543, 650, EDGE);
    cfg->z = (mtp_range){110, 470};
    add_split(cfg, "train", 110, 379);
    add_split(cfg, "val", 380, 409);
    add_split(cfg, "test", 420, 470);
    add_split(cfg, "all", 110, 470);

    mtp_task *t1 = add_task(cfg, "task1", MTP_TASK_CLASSIFICATION, CH_ROI, 1);
    set_name(t1->rule, "roi_mode");
    set_classes(t1, 4, region_names);
    set_splits(t1, 3, tvt);
    static const int roi_map[9] = {0, 0, 1, 2, 2, 3, 3, 3, 1};
    for (int c = 0; c < 9; c++)
        t1->code_class[c] = roi_map[c];

    segmentation(add_task(cfg, "task2_2d_4class", MTP_TASK_SEGMENTATION, CH_PIXEL, 1), 4, 1, 0);
    segmentation(add_task(cfg, "task2_2d_3class", MTP_TASK_SEGMENTATION, CH_PIXEL, 1), 3, 0, 1);
    segmentation(add_task(cfg, "task2_3d_4class", MTP_TASK_SEGMENTATION, CH_PIXEL, 8), 4, 1, 0);
    segmentation(add_task(cfg, "task2_3d_3class", MTP_TASK_SEGMENTATION, CH_PIXEL, 8), 3, 0, 1);

    mtp_task *t3 = add_task(cfg, "task3", MTP_TASK_FEATURES, CH_PIXEL, 1);
    set_classes(t3, 4, seg4);
    static const int all_split[] = {ALL};
    set_splits(t3, 1, all_split);
    for (int c = 0; c < 4; c++)
        t3->code_class[c] = c;
    t3->quadrant = 128;
    ck_assert_int_eq(cfg->ntasks, NTASKS);
    return cfg;
}

/* ---- samples ------------------------------------------------------------------------- */

START_TEST(counts_match_the_reference)
{
    mtp_config *cfg = mtneuro_config();
    static const size_t expect[NTASKS][3] = {
        {1076, 116, 200}, {807, 87, 150}, {1076, 116, 200}, {99, 9, 18}, {132, 12, 24}, {0, 0, 0},
    };
    for (int t = 0; t < T3; t++)
        for (int s = TRAIN; s <= TEST; s++) {
            ck_assert_uint_eq(mtp_tasks_count(cfg, t, s), expect[t][s]);
            mtp_sample *samples = NULL;
            size_t n = 99;
            mtp_error err = MTP_ERROR_INIT;
            ck_assert_int_eq(mtp_tasks_samples(cfg, t, s, &samples, &n, &err), 0);
            ck_assert_uint_eq(n, expect[t][s]);
            free(samples);
        }
    /* Task 3: every slice of every region over `all`. */
    ck_assert_uint_eq(mtp_tasks_count(cfg, T3, ALL), 1440);
    free(cfg);
}
END_TEST

START_TEST(samples_are_region_by_region_then_z)
{
    mtp_config *cfg = mtneuro_config();
    mtp_sample *samples = NULL;
    size_t n = 0;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_tasks_samples(cfg, T2_3D_3, TRAIN, &samples, &n, &err), 0);
    ck_assert_uint_eq(n, 132);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(samples[i].region, (int)(i / 33));
        ck_assert_int_eq(samples[i].z, 110 + (int64_t)(i % 33) * 8);
        ck_assert_int_le(samples[i].z + 8, 379);
    }
    /* First and last window of each region: 110 and 110 + 32*8 = 366 (ends at 374). */
    ck_assert_int_eq(samples[0].z, 110);
    ck_assert_int_eq(samples[32].z, 366);
    ck_assert_int_eq(samples[33].region, 1);
    ck_assert_int_eq(samples[33].z, 110);
    ck_assert_int_eq(samples[131].region, 3);
    ck_assert_int_eq(samples[131].z, 366);
    free(samples);

    /* 2D task1 test split: 50 slices per region, z 420..469. */
    ck_assert_int_eq(mtp_tasks_samples(cfg, T1, TEST, &samples, &n, &err), 0);
    ck_assert_uint_eq(n, 200);
    ck_assert_int_eq(samples[0].region, 0);
    ck_assert_int_eq(samples[0].z, 420);
    ck_assert_int_eq(samples[49].z, 469);
    ck_assert_int_eq(samples[50].region, 1);
    ck_assert_int_eq(samples[50].z, 420);
    ck_assert_int_eq(samples[199].region, 3);
    ck_assert_int_eq(samples[199].z, 469);
    free(samples);

    /* 3D val: [380, 409) holds 3 windows 380, 388, 396 (the last ends at 404). */
    ck_assert_int_eq(mtp_tasks_samples(cfg, T2_3D_4, VAL, &samples, &n, &err), 0);
    ck_assert_uint_eq(n, 9);
    ck_assert_int_eq(samples[2].z, 396);
    ck_assert_int_eq(samples[8].region, 2);
    ck_assert_int_eq(samples[8].z, 396);
    free(samples);

    /* Task 3: one slice per sample over all of z. */
    ck_assert_int_eq(mtp_tasks_samples(cfg, T3, ALL, &samples, &n, &err), 0);
    ck_assert_uint_eq(n, 1440);
    ck_assert_int_eq(samples[359].z, 469);
    ck_assert_int_eq(samples[360].region, 1);
    ck_assert_int_eq(samples[360].z, 110);
    free(samples);
    free(cfg);
}
END_TEST

START_TEST(excluded_regions_are_skipped)
{
    mtp_config *cfg = mtneuro_config();
    mtp_sample *samples = NULL;
    size_t n = 0;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_tasks_samples(cfg, T2_2D_4, VAL, &samples, &n, &err), 0);
    ck_assert_uint_eq(n, 87);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_ne(samples[i].region, 3);
    ck_assert_int_eq(samples[86].region, 2);
    free(samples);

    /* Excluding the first and third regions keeps the others in config order. */
    cfg->tasks[T2_3D_3].excluded[0] = true;
    cfg->tasks[T2_3D_3].excluded[2] = true;
    ck_assert_int_eq(mtp_tasks_samples(cfg, T2_3D_3, TEST, &samples, &n, &err), 0);
    ck_assert_uint_eq(n, 12);
    ck_assert_int_eq(samples[0].region, 1);
    ck_assert_int_eq(samples[0].z, 420);
    ck_assert_int_eq(samples[5].region, 1);
    ck_assert_int_eq(samples[5].z, 460);
    ck_assert_int_eq(samples[6].region, 3);
    ck_assert_int_eq(samples[11].region, 3);
    free(samples);

    /* Everything excluded: no samples, NULL array. */
    for (int r = 0; r < 4; r++)
        cfg->tasks[T2_3D_3].excluded[r] = true;
    samples = (mtp_sample *)cfg; /* must be overwritten */
    n = 5;
    ck_assert_int_eq(mtp_tasks_samples(cfg, T2_3D_3, TEST, &samples, &n, &err), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(samples);
    ck_assert_uint_eq(mtp_tasks_count(cfg, T2_3D_3, TEST), 0);
    free(cfg);
}
END_TEST

/* Windows per region for a split [z0, z1) and depth 8 in the MTNeuro frame. */
static size_t windows(int64_t z0, int64_t z1)
{
    mtp_config *cfg = mtneuro_config();
    cfg->splits[VAL].z = (mtp_range){z0, z1};
    size_t n = mtp_tasks_count(cfg, T2_3D_3, VAL);
    ck_assert_uint_eq(n % 4, 0);
    free(cfg);
    return n / 4;
}

START_TEST(window_edges)
{
    ck_assert_uint_eq(windows(200, 215), 1);
    ck_assert_uint_eq(windows(200, 216), 2);
    ck_assert_uint_eq(windows(200, 207), 0);
    ck_assert_uint_eq(windows(200, 208), 1);
    ck_assert_uint_eq(windows(200, 200), 0);
    ck_assert_uint_eq(windows(300, 200), 0);
    /* A window never reaches outside cfg->z [110, 470): the grid stays anchored at 100,
     * so 100 and 108 are dropped and 116 is the only window of [100, 130). */
    ck_assert_uint_eq(windows(100, 130), 1);
    ck_assert_uint_eq(windows(460, 480), 1); /* 460..467; 468..475 leaves z */

    mtp_config *cfg = mtneuro_config();
    cfg->splits[VAL].z = (mtp_range){100, 130};
    mtp_sample *samples = NULL;
    size_t n = 0;
    ck_assert_int_eq(mtp_tasks_samples(cfg, T2_3D_3, VAL, &samples, &n, NULL), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(samples[0].z, 116);
    ck_assert_int_eq(samples[3].z, 116);
    free(samples);
    free(cfg);
}
END_TEST

START_TEST(sample_arguments_are_checked)
{
    mtp_config *cfg = mtneuro_config();
    mtp_sample *samples = NULL;
    size_t n = 7;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_tasks_samples(cfg, NTASKS, TRAIN, &samples, &n, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "task index 6 out of range");
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(mtp_tasks_samples(cfg, T1, 4, &samples, &n, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "task task1: split index 4 out of range");
    ck_assert_int_eq(mtp_tasks_samples(cfg, T1, -1, &samples, &n, &err), MTP_EINVAL);
    ck_assert_ptr_null(samples);
    cfg->tasks[T1].depth = 0;
    ck_assert_int_eq(mtp_tasks_samples(cfg, T1, TRAIN, &samples, &n, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "task task1: depth 0 out of range");
    ck_assert_uint_eq(mtp_tasks_count(cfg, T1, TRAIN), 0);
    ck_assert_uint_eq(mtp_tasks_count(cfg, NTASKS, TRAIN), 0);
    ck_assert_uint_eq(mtp_tasks_count(cfg, T2_2D_3, 9), 0);
    ck_assert_uint_eq(mtp_tasks_count(NULL, 0, 0), 0);
    free(cfg);
}
END_TEST

/* ---- classification labels -------------------------------------------------------------- */

static int label_of(const mtp_config *cfg, const uint8_t *tile)
{
    int label = -7;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_tasks_tile_label(cfg, T1, 0, 200, tile, EDGE, EDGE, &label, &err), 0);
    return label;
}

START_TEST(tile_label_mode_and_map)
{
    mtp_config *cfg = mtneuro_config();
    uint8_t *tile = calloc(PLANE, 1);
    ck_assert_ptr_nonnull(tile);

    /* All zero ("clear") -> code 0 -> cortex. */
    ck_assert_int_eq(label_of(cfg, tile), 0);

    /* Each code alone: {0,1}->0 {2,8}->1 {3,4}->2 {5,6,7}->3. */
    static const int expect[9] = {0, 0, 1, 2, 2, 3, 3, 3, 1};
    for (int c = 0; c < 9; c++) {
        memset(tile, c, PLANE);
        ck_assert_int_eq(label_of(cfg, tile), expect[c]);
    }

    /* A tie between codes 5 (first half) and 2 (second half) goes to 2 -> striatum, though
     * 5 comes first in the tile. */
    memset(tile, 5, PLANE / 2);
    memset(tile + PLANE / 2, 2, PLANE / 2);
    ck_assert_int_eq(label_of(cfg, tile), 1);

    /* 8 and 7 tie at 30000 with 0 behind: 7 -> zi. */
    memset(tile, 8, 30000);
    memset(tile + 30000, 0, PLANE - 60000);
    memset(tile + PLANE - 30000, 7, 30000);
    ck_assert_int_eq(label_of(cfg, tile), 3);

    /* One more 8 breaks the tie: 8 -> striatum. */
    tile[30000] = 8;
    ck_assert_int_eq(label_of(cfg, tile), 1);

    /* Interleaved codes: 1 (two thirds) beats 6 (one third) -> cortex. */
    for (size_t i = 0; i < PLANE; i++)
        tile[i] = (i % 3 == 0) ? 6 : 1;
    ck_assert_int_eq(label_of(cfg, tile), 0);

    free(tile);
    free(cfg);
}
END_TEST

START_TEST(tile_label_unexpected_code)
{
    mtp_config *cfg = mtneuro_config();
    uint8_t *tile = calloc(PLANE, 1);
    ck_assert_ptr_nonnull(tile);
    mtp_error err = MTP_ERROR_INIT;
    int label = -7;

    /* The first bad voxel in C order is (row 0, col 1); a later 200 is not the one named. */
    tile[1] = 9;
    tile[5 * EDGE + 3] = 200;
    ck_assert_int_eq(mtp_tasks_tile_label(cfg, T1, 0, 115, tile, EDGE, EDGE, &label, &err),
                     MTP_EDATA);
    ck_assert_int_eq(err.code, MTP_EDATA);
    ck_assert_str_eq(err.msg, "roi_labels: unexpected label code 9 at (x=4601, y=900, z=115) "
                              "for task task1 (declared codes: 0-8)");
    ck_assert_int_eq(label, -7);

    /* Only the later one: its position in another region. */
    tile[1] = 0;
    ck_assert_int_eq(mtp_tasks_tile_label(cfg, T1, 3, 469, tile, EDGE, EDGE, &label, &err),
                     MTP_EDATA);
    ck_assert_str_eq(err.msg, "roi_labels: unexpected label code 200 at (x=1546, y=655, z=469) "
                              "for task task1 (declared codes: 0-8)");

    /* A bad code in the minority still fails, and the declared set prints as ranges. */
    cfg->tasks[T1].code_class[3] = -1;
    cfg->tasks[T1].code_class[4] = -1;
    cfg->tasks[T1].code_class[6] = -1;
    cfg->tasks[T1].code_class[7] = -1;
    memset(tile, 0, PLANE);
    tile[PLANE - 1] = 4;
    ck_assert_int_eq(mtp_tasks_tile_label(cfg, T1, 1, 300, tile, EDGE, EDGE, &label, &err),
                     MTP_EDATA);
    ck_assert_str_eq(err.msg, "roi_labels: unexpected label code 4 at (x=3955, y=755, z=300) "
                              "for task task1 (declared codes: 0-2, 5, 8)");
    ck_assert_int_eq(label, -7);

    /* No declared codes at all. */
    for (int c = 0; c < MTP_MAX_CODES; c++)
        cfg->tasks[T1].code_class[c] = -1;
    ck_assert_int_eq(mtp_tasks_tile_label(cfg, T1, 1, 300, tile, EDGE, EDGE, &label, &err),
                     MTP_EDATA);
    ck_assert_str_eq(err.msg, "roi_labels: unexpected label code 0 at (x=3700, y=500, z=300) "
                              "for task task1 (declared codes: none)");
    free(tile);
    free(cfg);
}
END_TEST

START_TEST(tile_label_arguments_are_checked)
{
    mtp_config *cfg = mtneuro_config();
    uint8_t *tile = calloc(PLANE, 1);
    ck_assert_ptr_nonnull(tile);
    mtp_error err = MTP_ERROR_INIT;
    int label = -7;
    ck_assert_int_eq(mtp_tasks_tile_label(cfg, T1, 0, 115, tile, EDGE, EDGE - 1, &label, &err),
                     MTP_EINVAL);
    ck_assert_str_eq(err.msg, "region cortex: tile 256x255 is not the region's 256x256");
    ck_assert_int_eq(mtp_tasks_tile_label(cfg, T1, 4, 115, tile, EDGE, EDGE, &label, &err),
                     MTP_EINVAL);
    ck_assert_str_eq(err.msg, "task task1: region index 4 out of range");
    ck_assert_int_eq(mtp_tasks_tile_label(cfg, T1, 0, 115, NULL, EDGE, EDGE, &label, &err),
                     MTP_EINVAL);
    cfg->tasks[T1].code_class[9] = 4;
    ck_assert_int_eq(mtp_tasks_tile_label(cfg, T1, 0, 115, tile, EDGE, EDGE, &label, &err),
                     MTP_EINVAL);
    ck_assert_str_eq(err.msg, "task task1: code 9 maps to class 4 of 4");
    ck_assert_int_eq(label, -7);
    free(tile);
    free(cfg);
}
END_TEST

START_TEST(region_class_names)
{
    mtp_config *cfg = mtneuro_config();
    for (int r = 0; r < 4; r++)
        ck_assert_int_eq(mtp_tasks_region_class(cfg, T1, r), r);
    ck_assert_int_eq(mtp_tasks_region_class(cfg, T2_2D_4, 0), -1);
    ck_assert_int_eq(mtp_tasks_region_class(cfg, T1, 4), -1);
    ck_assert_int_eq(mtp_tasks_region_class(cfg, NTASKS, 0), -1);
    /* Class order need not follow region order. */
    set_name(cfg->tasks[T1].classes[0], "zi");
    set_name(cfg->tasks[T1].classes[3], "cortex");
    ck_assert_int_eq(mtp_tasks_region_class(cfg, T1, 0), 3);
    ck_assert_int_eq(mtp_tasks_region_class(cfg, T1, 3), 0);
    free(cfg);
}
END_TEST

/* ---- masks ------------------------------------------------------------------------------ */

START_TEST(mask_remaps_and_identity)
{
    mtp_config *cfg = mtneuro_config();
    size_t n = 8 * (size_t)PLANE;
    uint8_t *src = malloc(n), *dst = malloc(n);
    ck_assert_ptr_nonnull(src);
    ck_assert_ptr_nonnull(dst);
    for (size_t i = 0; i < n; i++)
        src[i] = (uint8_t)((i * 7 + i / 3) % 4);
    mtp_error err = MTP_ERROR_INIT;

    /* 4-class: identity. */
    memset(dst, 0xAA, n);
    ck_assert_int_eq(mtp_tasks_mask(cfg, T2_2D_4, 0, 110, src, dst, 1, EDGE, EDGE, &err), 0);
    ck_assert_mem_eq(dst, src, PLANE);
    ck_assert_int_eq(dst[PLANE], 0xAA); /* only one slice written */

    /* 3-class, depth 8: 3 -> 0, others unchanged. */
    ck_assert_int_eq(mtp_tasks_mask(cfg, T2_3D_3, 2, 110, src, dst, 8, EDGE, EDGE, &err), 0);
    size_t counts[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(dst[i], src[i] == 3 ? 0 : src[i]);
        counts[dst[i]]++;
    }
    ck_assert_uint_eq(counts[3], 0);
    ck_assert_uint_gt(counts[0], 0);
    ck_assert_uint_gt(counts[2], 0);
    free(src);
    free(dst);
    free(cfg);
}
END_TEST

START_TEST(mask_unexpected_code)
{
    mtp_config *cfg = mtneuro_config();
    size_t n = 8 * (size_t)PLANE;
    uint8_t *src = calloc(n, 1), *dst = malloc(n);
    ck_assert_ptr_nonnull(src);
    ck_assert_ptr_nonnull(dst);
    mtp_error err = MTP_ERROR_INIT;

    /* Slice 1, row 2, col 3 is the first bad voxel; later ones are not named. */
    src[1 * PLANE + 2 * EDGE + 3] = 4;
    src[1 * PLANE + 2 * EDGE + 9] = 255;
    src[7 * PLANE] = 17;
    ck_assert_int_eq(mtp_tasks_mask(cfg, T2_3D_4, 0, 115, src, dst, 8, EDGE, EDGE, &err),
                     MTP_EDATA);
    ck_assert_str_eq(err.msg, "pixel_labels: unexpected label code 4 at (x=4603, y=902, z=116) "
                              "for task task2_3d_4class (declared codes: 0-3)");

    /* In the 3-class task 4 is just as unexpected; 3 is declared (it becomes 0). */
    src[1 * PLANE + 2 * EDGE + 3] = 3;
    ck_assert_int_eq(mtp_tasks_mask(cfg, T2_3D_3, 2, 366, src, dst, 8, EDGE, EDGE, &err),
                     MTP_EDATA);
    ck_assert_str_eq(err.msg, "pixel_labels: unexpected label code 255 at (x=3072, y=852, "
                              "z=367) for task task2_3d_3class (declared codes: 0-3)");

    /* The last voxel of the block. */
    memset(src, 1, n);
    src[n - 1] = 9;
    ck_assert_int_eq(
        mtp_tasks_mask(cfg, T2_2D_3, 3, 469, src + 7 * PLANE, dst, 1, EDGE, EDGE, &err), MTP_EDATA);
    ck_assert_str_eq(err.msg, "pixel_labels: unexpected label code 9 at (x=1798, y=905, z=469) "
                              "for task task2_2d_3class (declared codes: 0-3)");

    /* Bad arguments. */
    ck_assert_int_eq(mtp_tasks_mask(cfg, T2_2D_3, 3, 469, src, src, 1, EDGE, EDGE, &err),
                     MTP_EINVAL);
    ck_assert_str_eq(err.msg, "task task2_2d_3class: NULL or aliased mask buffers");
    ck_assert_int_eq(mtp_tasks_mask(cfg, T2_2D_3, 3, 469, src, dst, 0, EDGE, EDGE, &err),
                     MTP_EINVAL);
    ck_assert_str_eq(err.msg, "region zi: 0 slices at z=469 out of bounds");
    cfg->tasks[T2_2D_3].label_channel = 3;
    ck_assert_int_eq(mtp_tasks_mask(cfg, T2_2D_3, 3, 469, src, dst, 1, EDGE, EDGE, &err),
                     MTP_EINVAL);
    ck_assert_str_eq(err.msg, "task task2_2d_3class: label channel 3 out of range");
    free(src);
    free(dst);
    free(cfg);
}
END_TEST

/* A whole region cube in one call; reports throughput (not asserted: machines differ). */
START_TEST(mask_region_cube_throughput)
{
    mtp_config *cfg = mtneuro_config();
    size_t nz = 360, n = nz * PLANE;
    uint8_t *src = malloc(n), *dst = malloc(n);
    ck_assert_ptr_nonnull(src);
    ck_assert_ptr_nonnull(dst);
    uint32_t state = 12345;
    for (size_t i = 0; i < n; i++) {
        state = state * 1103515245u + 12345u;
        src[i] = (uint8_t)((state >> 16) & 3);
    }
    mtp_error err = MTP_ERROR_INIT;
    double best = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = fixture_now_s();
        ck_assert_int_eq(mtp_tasks_mask(cfg, T2_2D_3, 1, 110, src, dst, nz, EDGE, EDGE, &err), 0);
        double dt = fixture_now_s() - t0;
        if (dt < best)
            best = dt;
    }
    size_t threes = 0, zeros_in = 0, zeros_out = 0;
    for (size_t i = 0; i < n; i++) {
        threes += src[i] == 3;
        zeros_in += src[i] == 0;
        zeros_out += dst[i] == 0;
    }
    ck_assert_uint_eq(zeros_out, zeros_in + threes);
    fprintf(stderr, "mask throughput: %.0f MB/s (%zu voxels in %.1f ms)\n", (double)n / best / 1e6,
            n, best * 1e3);
    free(src);
    free(dst);
    free(cfg);
}
END_TEST

Suite *mtp_test_suite(void)
{
    Suite *s = suite_create("tasks");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, counts_match_the_reference);
    tcase_add_test(tc, samples_are_region_by_region_then_z);
    tcase_add_test(tc, excluded_regions_are_skipped);
    tcase_add_test(tc, window_edges);
    tcase_add_test(tc, sample_arguments_are_checked);
    tcase_add_test(tc, tile_label_mode_and_map);
    tcase_add_test(tc, tile_label_unexpected_code);
    tcase_add_test(tc, tile_label_arguments_are_checked);
    tcase_add_test(tc, region_class_names);
    tcase_add_test(tc, mask_remaps_and_identity);
    tcase_add_test(tc, mask_unexpected_code);
    tcase_add_test(tc, mask_region_cube_throughput);
    suite_add_tcase(s, tc);
    return s;
}
