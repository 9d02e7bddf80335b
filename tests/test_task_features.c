#include "mtp_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "mtp/config.h"
#include "mtp/task_features.h"

enum { CH_IMAGE, CH_PIXEL };
enum { CORTEX, STRIATUM };

static void set_name(char *dst, const char *src)
{
    snprintf(dst, MTP_NAME_MAX, "%s", src);
}

static void add_region(mtp_config *cfg, const char *name, int64_t x0, int64_t y0, int64_t h,
                       int64_t w)
{
    mtp_region *r = &cfg->regions[cfg->nregions++];
    set_name(r->name, name);
    r->x = (mtp_range){x0, x0 + w};
    r->y = (mtp_range){y0, y0 + h};
}

static const char *const seg4[] = {"background", "vessel", "cell", "axon"};

/*
 * Task 3 as the parser gives it (classes background, vessel, cell, axon; codes 0-3 declared),
 * task index 0, split `all` = z [110, 470), with cortex h x w and striatum h x 2w.
 */
static mtp_config *features_config(int64_t h, int64_t w, int quadrant)
{
    mtp_config *cfg = calloc(1, sizeof *cfg);
    ck_assert_ptr_nonnull(cfg);
    cfg->nchannels = 2;
    set_name(cfg->channels[CH_IMAGE].name, "image");
    set_name(cfg->channels[CH_PIXEL].name, "pixel_labels");
    add_region(cfg, "cortex", 4600, 900, h, w);
    add_region(cfg, "striatum", 3700, 500, h, 2 * w);
    cfg->z = (mtp_range){110, 470};
    cfg->nsplits = 1;
    set_name(cfg->splits[0].name, "all");
    cfg->splits[0].z = (mtp_range){110, 470};
    mtp_task *t = &cfg->tasks[cfg->ntasks++];
    set_name(t->name, "task3");
    t->kind = MTP_TASK_FEATURES;
    t->image_channel = CH_IMAGE;
    t->label_channel = CH_PIXEL;
    t->depth = 1;
    t->nsplits = 1;
    t->splits[0] = 0;
    t->nclasses = 4;
    for (int c = 0; c < 4; c++)
        set_name(t->classes[c], seg4[c]);
    for (int c = 0; c < MTP_MAX_CODES; c++)
        t->code_class[c] = c < 4 ? c : -1;
    t->quadrant = quadrant;
    return cfg;
}

/* A zeroed nz x h x w stack of codes. */
static uint8_t *stack_new(size_t nz, size_t h, size_t w)
{
    uint8_t *v = calloc(nz * h * w, 1);
    ck_assert_ptr_nonnull(v);
    return v;
}

static void put(uint8_t *v, size_t h, size_t w, size_t z, size_t y, size_t x, uint8_t code)
{
    v[(z * h + y) * w + x] = code;
}

/* Cell pixels (code 2) at the listed (z, y, x) triples. */
static void put_cells(uint8_t *v, size_t h, size_t w, const int (*zyx)[3], size_t n)
{
    for (size_t i = 0; i < n; i++)
        put(v, h, w, (size_t)zyx[i][0], (size_t)zyx[i][1], (size_t)zyx[i][2], 2);
}

static mtp_feature_row *compute(const mtp_config *cfg, int region, const uint8_t *v, size_t nz,
                                size_t h, size_t w, int64_t z0, int64_t first)
{
    size_t per = mtp_features_rows_per_slice(cfg, 0, region);
    ck_assert_uint_gt(per, 0);
    mtp_feature_row *rows = calloc(nz * per, sizeof *rows);
    ck_assert_ptr_nonnull(rows);
    mtp_error err = MTP_ERROR_INIT;
    int rc = mtp_features_region(cfg, 0, region, v, nz, h, w, z0, first, rows, &err);
    ck_assert_msg(rc == 0, "rc %d: %s", rc, err.msg);
    return rows;
}

static void expect_cells(const mtp_feature_row *row, int64_t count, double area, double nn)
{
    ck_assert_int_eq(row->cell_count, count);
    ck_assert_msg(row->mean_cell_area == area, "area %.17g, expected %.17g", row->mean_cell_area,
                  area);
    ck_assert_msg(row->mean_nn_distance == nn, "nn %.17g, expected %.17g", row->mean_nn_distance,
                  nn);
}

/* ---- hand-made volumes ------------------------------------------------------------------ */

START_TEST(edge_and_corner_contacts_do_not_join)
{
    mtp_config *cfg = features_config(8, 8, 8);
    uint8_t *v = stack_new(2, 8, 8);
    /* clang-format off */
    static const int cells[][3] = {
        /* slice 0: (0,0) and (0,2) touch the slice-1 row below only by edges (z and y) */
        {0, 0, 0}, {0, 0, 2}, {1, 1, 0}, {1, 1, 1}, {1, 1, 2},
        /* an in-plane corner: (3,3) and (4,4) */
        {0, 3, 3}, {0, 4, 4},
        /* a 3-D corner bridge: (6,4) and (6,6) both touch (z1, 7, 5) only at a corner */
        {0, 6, 4}, {0, 6, 6}, {1, 7, 5},
    };
    /* clang-format on */
    put_cells(v, 8, 8, cells, sizeof cells / sizeof cells[0]);
    mtp_feature_row *rows = compute(cfg, CORTEX, v, 2, 8, 8, 110, 0);
    ck_assert_int_eq(rows[0].cell_count, 6);
    ck_assert_double_eq(rows[0].mean_cell_area, 1.0);
    ck_assert_int_eq(rows[1].cell_count, 2);
    ck_assert_double_eq(rows[1].mean_cell_area, 2.0);
    free(rows);
    free(v);
    free(cfg);
}
END_TEST

START_TEST(face_contacts_join_across_slices)
{
    mtp_config *cfg = features_config(8, 8, 8);
    /* (0,0) and (0,4) of slice 0 meet only through slice 2's row (0, 0..4). */
    uint8_t *v = stack_new(3, 8, 8);
    /* clang-format off */
    static const int cells[][3] = {
        {0, 0, 0}, {0, 0, 4}, {1, 0, 0}, {1, 0, 4},
        {2, 0, 0}, {2, 0, 1}, {2, 0, 2}, {2, 0, 3}, {2, 0, 4},
        /* an in-plane U: (5,0) and (5,2) joined by row 6 */
        {0, 5, 0}, {0, 5, 2}, {0, 6, 0}, {0, 6, 1}, {0, 6, 2},
    };
    /* clang-format on */
    put_cells(v, 8, 8, cells, sizeof cells / sizeof cells[0]);
    mtp_feature_row *rows = compute(cfg, CORTEX, v, 3, 8, 8, 110, 0);
    /* slice 0: the bridged pair (2 px, centroid (0, 2)) and the U (5 px, centroid (5.6, 1)) */
    double d = sqrt(5.6 * 5.6 + 1.0);
    expect_cells(&rows[0], 2, 3.5, d);
    expect_cells(&rows[1], 1, 2.0, 64.0);
    expect_cells(&rows[2], 1, 5.0, 64.0);
    free(rows);
    free(v);
    free(cfg);
}
END_TEST

START_TEST(a_cell_spanning_slices_counts_once_per_quadrant)
{
    mtp_config *cfg = features_config(8, 8, 4);
    uint8_t *v = stack_new(3, 8, 8);
    /* clang-format off */
    static const int cells[][3] = {
        /* a column at (1,1) through all three slices */
        {0, 1, 1}, {1, 1, 1}, {2, 1, 1},
        /* a staircase along row 3 that crosses into quadrant 1 */
        {0, 3, 2}, {0, 3, 3}, {1, 3, 3}, {1, 3, 4}, {2, 3, 4}, {2, 3, 5},
    };
    /* clang-format on */
    put_cells(v, 8, 8, cells, sizeof cells / sizeof cells[0]);
    mtp_feature_row *rows = compute(cfg, CORTEX, v, 3, 8, 8, 110, 0);
    /* slice 0: column (1,1) and stair (3, 2.5) in quadrant 0 */
    expect_cells(&rows[0], 2, 1.5, 2.5);
    expect_cells(&rows[1], 0, 0.0, 64.0);
    expect_cells(&rows[2], 0, 0.0, 64.0);
    expect_cells(&rows[3], 0, 0.0, 64.0);
    /* slice 1: column and the stair's (3,3) in quadrant 0, its (3,4) in quadrant 1 */
    expect_cells(&rows[4], 2, 1.0, sqrt(8.0));
    expect_cells(&rows[5], 1, 1.0, 64.0);
    expect_cells(&rows[6], 0, 0.0, 64.0);
    /* slice 2 */
    expect_cells(&rows[8], 1, 1.0, 64.0);
    expect_cells(&rows[9], 1, 2.0, 64.0);
    free(rows);
    free(v);
    free(cfg);
}
END_TEST

START_TEST(a_cell_split_by_borders_counts_its_part_in_each)
{
    mtp_config *cfg = features_config(8, 8, 4);
    uint8_t *v = stack_new(1, 8, 8);
    /* A 4 x 2 block over y 2..5, x 3..4 meets all four quadrants, 2 px in each. */
    for (int y = 2; y <= 5; y++)
        for (int x = 3; x <= 4; x++)
            put(v, 8, 8, 0, (size_t)y, (size_t)x, 2);
    /* A run in row 0 over x 1..6: 3 px in quadrant 0 and 3 px in quadrant 1. */
    for (int x = 1; x <= 6; x++)
        put(v, 8, 8, 0, 0, (size_t)x, 2);
    mtp_feature_row *rows = compute(cfg, CORTEX, v, 1, 8, 8, 110, 0);
    /* Quadrant 0: run part centroid (0, 2), block part (2.5, 3); quadrant 1: (0, 5), (2.5, 4). */
    double d = sqrt(2.5 * 2.5 + 1.0);
    expect_cells(&rows[0], 2, 2.5, d);
    expect_cells(&rows[1], 2, 2.5, d);
    expect_cells(&rows[2], 1, 2.0, 64.0);
    expect_cells(&rows[3], 1, 2.0, 64.0);
    free(rows);
    free(v);
    free(cfg);
}
END_TEST

START_TEST(nearest_neighbours_of_a_known_arrangement)
{
    mtp_config *cfg = features_config(8, 8, 8);
    uint8_t *v = stack_new(2, 8, 8);
    /* clang-format off */
    static const int cells[][3] = {
        /* slice 0: A (0.5, 0), B (0.5, 3), C (5, 0): nearest 3, 3 and 4.5 */
        {0, 0, 0}, {0, 1, 0}, {0, 0, 3}, {0, 1, 3}, {0, 5, 0},
        /* slice 1: (0,0) (A's cell continued) and (3,4), 5 apart */
        {1, 0, 0}, {1, 3, 4},
    };
    /* clang-format on */
    put_cells(v, 8, 8, cells, sizeof cells / sizeof cells[0]);
    mtp_feature_row *rows = compute(cfg, CORTEX, v, 2, 8, 8, 110, 0);
    expect_cells(&rows[0], 3, 5.0 / 3.0, 3.5);
    expect_cells(&rows[1], 2, 1.0, 5.0);
    free(rows);
    free(v);
    free(cfg);
}
END_TEST

START_TEST(fewer_than_two_cells_fill_64)
{
    mtp_config *cfg = features_config(8, 8, 4);
    uint8_t *v = stack_new(1, 8, 8);
    /* One 3-pixel cell in quadrant 3, nothing elsewhere. */
    put(v, 8, 8, 0, 6, 5, 2);
    put(v, 8, 8, 0, 6, 6, 2);
    put(v, 8, 8, 0, 7, 6, 2);
    mtp_feature_row *rows = compute(cfg, CORTEX, v, 1, 8, 8, 110, 0);
    for (int p = 0; p < 3; p++)
        expect_cells(&rows[p], 0, 0.0, MTP_FEATURES_NN_FILL);
    expect_cells(&rows[3], 1, 3.0, MTP_FEATURES_NN_FILL);
    free(rows);
    free(v);
    free(cfg);
}
END_TEST

START_TEST(vessel_and_axon_percentages_by_class_name)
{
    mtp_config *cfg = features_config(8, 8, 4);
    mtp_task *t = &cfg->tasks[0];
    /* Classes in another order, and code 5 remapped to vessel: counting goes by class. */
    static const char *const order[] = {"background", "axon", "cell", "vessel"};
    for (int c = 0; c < 4; c++)
        set_name(t->classes[c], order[c]);
    t->code_class[5] = 3;
    uint8_t *v = stack_new(1, 8, 8);
    /* quadrant 0: vessel codes 3, 3, 3, 5 and axon code 1 twice */
    put(v, 8, 8, 0, 0, 0, 3);
    put(v, 8, 8, 0, 1, 1, 3);
    put(v, 8, 8, 0, 2, 2, 3);
    put(v, 8, 8, 0, 3, 3, 5);
    put(v, 8, 8, 0, 0, 3, 1);
    put(v, 8, 8, 0, 3, 0, 1);
    /* quadrant 1: one vessel pixel; quadrant 3: all axon */
    put(v, 8, 8, 0, 3, 7, 5);
    for (int y = 4; y < 8; y++)
        for (int x = 4; x < 8; x++)
            put(v, 8, 8, 0, (size_t)y, (size_t)x, 1);
    mtp_feature_row *rows = compute(cfg, CORTEX, v, 1, 8, 8, 110, 0);
    ck_assert_double_eq(rows[0].vessel_pct, 25.0);
    ck_assert_double_eq(rows[0].axon_pct, 12.5);
    ck_assert_double_eq(rows[1].vessel_pct, 6.25);
    ck_assert_double_eq(rows[1].axon_pct, 0.0);
    ck_assert_double_eq(rows[2].vessel_pct, 0.0);
    ck_assert_double_eq(rows[2].axon_pct, 0.0);
    ck_assert_double_eq(rows[3].vessel_pct, 0.0);
    ck_assert_double_eq(rows[3].axon_pct, 100.0);
    for (int p = 0; p < 4; p++)
        expect_cells(&rows[p], 0, 0.0, 64.0);
    free(rows);
    free(v);
    free(cfg);
}
END_TEST

START_TEST(rows_come_slice_by_slice_then_row_major_quadrant)
{
    mtp_config *cfg = features_config(8, 8, 4);
    ck_assert_uint_eq(mtp_features_rows_per_slice(cfg, 0, CORTEX), 4);
    ck_assert_uint_eq(mtp_features_rows_per_slice(cfg, 0, STRIATUM), 8);
    /* Striatum is 8 x 16: two bands of four quadrants. */
    uint8_t *v = stack_new(3, 8, 16);
    put(v, 8, 16, 1, 5, 13, 1); /* slice 1, band 1, column 3: quadrant 7 */
    put(v, 8, 16, 2, 1, 5, 3);  /* slice 2, band 0, column 1: quadrant 1 */
    mtp_feature_row *rows = compute(cfg, STRIATUM, v, 3, 8, 16, 200, 1000);
    for (int i = 0; i < 24; i++) {
        ck_assert_int_eq(rows[i].region, STRIATUM);
        ck_assert_int_eq(rows[i].z, 200 + i / 8);
        ck_assert_int_eq(rows[i].quadrant, i % 8);
        ck_assert_int_eq(rows[i].slice_index, 1000 + i / 8);
        ck_assert_double_eq(rows[i].vessel_pct, i == 15 ? 6.25 : 0.0);
        ck_assert_double_eq(rows[i].axon_pct, i == 17 ? 6.25 : 0.0);
    }
    free(rows);
    free(v);
    free(cfg);
}
END_TEST

START_TEST(undeclared_code_is_a_data_error)
{
    mtp_config *cfg = features_config(8, 8, 4);
    uint8_t *v = stack_new(3, 8, 8);
    put(v, 8, 8, 1, 1, 2, 7);
    put(v, 8, 8, 2, 0, 0, 9);
    mtp_feature_row rows[12];
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_features_region(cfg, 0, CORTEX, v, 3, 8, 8, 110, 0, rows, &err),
                     MTP_EDATA);
    ck_assert_str_eq(err.msg, "pixel_labels: unexpected label code 7 at (x=4602, y=901, z=111) "
                              "for task task3 (declared codes: 0-3)");
    free(v);
    free(cfg);
}
END_TEST

START_TEST(bad_arguments_are_refused)
{
    mtp_config *cfg = features_config(8, 8, 4);
    uint8_t *v = stack_new(1, 8, 8);
    mtp_feature_row rows[4];
    mtp_error err = MTP_ERROR_INIT;

    ck_assert_int_eq(mtp_features_region(cfg, 1, CORTEX, v, 1, 8, 8, 110, 0, rows, &err),
                     MTP_EINVAL);
    ck_assert_str_eq(err.msg, "task index 1 out of range");
    ck_assert_int_eq(mtp_features_region(cfg, 0, CORTEX, NULL, 1, 8, 8, 110, 0, rows, &err),
                     MTP_EINVAL);
    ck_assert_str_eq(err.msg, "task task3: NULL labels or rows");
    ck_assert_int_eq(mtp_features_region(cfg, 0, 2, v, 1, 8, 8, 110, 0, rows, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "task task3: region index 2 out of range");
    ck_assert_int_eq(mtp_features_region(cfg, 0, CORTEX, v, 2, 8, 4, 110, 0, rows, &err),
                     MTP_EINVAL);
    ck_assert_str_eq(err.msg, "region cortex: tile 8x4 is not the region's 8x8");
    ck_assert_int_eq(mtp_features_region(cfg, 0, CORTEX, v, 0, 8, 8, 110, 0, rows, &err),
                     MTP_EINVAL);
    ck_assert_str_eq(err.msg, "region cortex: 0 slices at z=110 out of bounds");
    ck_assert_int_eq(mtp_features_region(cfg, 0, CORTEX, v, 1, 8, 8, -1, 0, rows, &err),
                     MTP_EINVAL);
    ck_assert_str_eq(err.msg, "region cortex: 1 slices at z=-1 out of bounds");

    set_name(cfg->tasks[0].classes[2], "cells");
    ck_assert_int_eq(mtp_features_region(cfg, 0, CORTEX, v, 1, 8, 8, 110, 0, rows, &err),
                     MTP_EINVAL);
    ck_assert_str_eq(err.msg, "task task3: no class named \"cell\"");
    set_name(cfg->tasks[0].classes[2], "cell");

    cfg->tasks[0].quadrant = 3;
    ck_assert_uint_eq(mtp_features_rows_per_slice(cfg, 0, CORTEX), 0);
    ck_assert_int_eq(mtp_features_region(cfg, 0, CORTEX, v, 1, 8, 8, 110, 0, rows, &err),
                     MTP_EINVAL);
    ck_assert_str_eq(err.msg, "task task3: region cortex (8x8) is not a grid of quadrants of 3");
    cfg->tasks[0].quadrant = 0;
    ck_assert_uint_eq(mtp_features_rows_per_slice(cfg, 0, CORTEX), 0);
    cfg->tasks[0].quadrant = 4;

    cfg->tasks[0].kind = MTP_TASK_SEGMENTATION;
    ck_assert_uint_eq(mtp_features_rows_per_slice(cfg, 0, CORTEX), 0);
    ck_assert_int_eq(mtp_features_region(cfg, 0, CORTEX, v, 1, 8, 8, 110, 0, rows, &err),
                     MTP_EINVAL);
    ck_assert_str_eq(err.msg, "task task3: not a features task");
    cfg->tasks[0].kind = MTP_TASK_FEATURES;

    ck_assert_uint_eq(mtp_features_rows_per_slice(cfg, 1, CORTEX), 0);
    ck_assert_uint_eq(mtp_features_rows_per_slice(cfg, 0, -1), 0);
    ck_assert_uint_eq(mtp_features_rows_per_slice(NULL, 0, CORTEX), 0);
    ck_assert_uint_eq(mtp_features_rows_per_slice(cfg, 0, CORTEX), 4);

    /* Too wide for uint16 runs. */
    cfg->regions[CORTEX].x.stop = cfg->regions[CORTEX].x.start + MTP_FEATURES_MAX_WIDTH + 4;
    ck_assert_int_eq(mtp_features_region(cfg, 0, CORTEX, v, 1, 8, MTP_FEATURES_MAX_WIDTH + 4, 110,
                                         0, rows, &err),
                     MTP_ERANGE);
    ck_assert_str_eq(err.msg, "region cortex: width 65540 above 65536 for task task3");
    free(v);
    free(cfg);
}
END_TEST

/* ---- randomized comparison with a brute-force reference ---------------------------------- */

static uint64_t rng_state;

static uint32_t rng(void)
{
    /* xorshift64*: deterministic across platforms, unlike rand(). */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

/* Random codes: background with vessel/axon speckle, cell boxes and single cell pixels. */
static void random_stack(uint8_t *v, size_t nz, size_t h, size_t w, int boxes, int speckle)
{
    for (size_t i = 0; i < nz * h * w; i++) {
        uint32_t r = rng() % 100;
        v[i] = r < 5 ? 1 : r < 10 ? 3 : (int)r < 10 + speckle ? 2 : 0;
    }
    for (int b = 0; b < boxes; b++) {
        size_t z0 = rng() % nz, y0 = rng() % h, x0 = rng() % w;
        size_t dz = 1 + rng() % 4, dy = 1 + rng() % 9, dx = 1 + rng() % 9;
        for (size_t z = z0; z < z0 + dz && z < nz; z++)
            for (size_t y = y0; y < y0 + dy && y < h; y++)
                for (size_t x = x0; x < x0 + dx && x < w; x++)
                    v[(z * h + y) * w + x] = 2;
    }
}

/* Flood fill with an explicit stack: label[i] = component of voxel i (cells), -1 elsewhere. */
static int32_t brute_label(const uint8_t *v, size_t nz, size_t h, size_t w, int32_t *label)
{
    size_t n = nz * h * w;
    size_t *stack = malloc(n * sizeof *stack);
    ck_assert_ptr_nonnull(stack);
    for (size_t i = 0; i < n; i++)
        label[i] = -1;
    int32_t next = 0;
    for (size_t seed = 0; seed < n; seed++) {
        if (v[seed] != 2 || label[seed] >= 0)
            continue;
        size_t top = 0;
        stack[top++] = seed;
        label[seed] = next;
        while (top > 0) {
            size_t i = stack[--top];
            size_t z = i / (h * w), y = i / w % h, x = i % w;
            size_t nb[6];
            int nn = 0;
            if (x > 0)
                nb[nn++] = i - 1;
            if (x + 1 < w)
                nb[nn++] = i + 1;
            if (y > 0)
                nb[nn++] = i - w;
            if (y + 1 < h)
                nb[nn++] = i + w;
            if (z > 0)
                nb[nn++] = i - h * w;
            if (z + 1 < nz)
                nb[nn++] = i + h * w;
            for (int k = 0; k < nn; k++)
                if (v[nb[k]] == 2 && label[nb[k]] < 0) {
                    label[nb[k]] = next;
                    stack[top++] = nb[k];
                }
        }
        next++;
    }
    free(stack);
    return next;
}

/* The rows by definition: parts in order of first appearance, all-pairs nearest neighbours. */
static void brute_rows(const uint8_t *v, size_t nz, size_t h, size_t w, size_t q,
                       mtp_feature_row *rows)
{
    int32_t *label = malloc(nz * h * w * sizeof *label);
    ck_assert_ptr_nonnull(label);
    int32_t ncells = brute_label(v, nz, h, w, label);
    int32_t *part_of = malloc(((size_t)ncells + 1) * sizeof *part_of);
    size_t cap = q * q;
    int32_t *part_label = malloc(cap * sizeof *part_label);
    uint64_t *pix = malloc(cap * sizeof *pix), *sy = malloc(cap * sizeof *sy),
             *sx = malloc(cap * sizeof *sx);
    double *cy = malloc(cap * sizeof *cy), *cx = malloc(cap * sizeof *cx);
    ck_assert(part_of && part_label && pix && sy && sx && cy && cx);
    for (int32_t c = 0; c < ncells; c++)
        part_of[c] = -1;
    size_t nqx = w / q, nq = (h / q) * nqx;
    for (size_t z = 0; z < nz; z++)
        for (size_t p = 0; p < nq; p++) {
            size_t y0 = p / nqx * q, x0 = p % nqx * q;
            size_t n = 0;
            uint64_t vessel = 0, axon = 0;
            for (size_t y = y0; y < y0 + q; y++)
                for (size_t x = x0; x < x0 + q; x++) {
                    size_t i = (z * h + y) * w + x;
                    vessel += v[i] == 1;
                    axon += v[i] == 3;
                    if (label[i] < 0)
                        continue;
                    if (part_of[label[i]] < 0) {
                        part_of[label[i]] = (int32_t)n;
                        part_label[n] = label[i];
                        pix[n] = sy[n] = sx[n] = 0;
                        n++;
                    }
                    size_t k = (size_t)part_of[label[i]];
                    pix[k]++;
                    sy[k] += y;
                    sx[k] += x;
                }
            mtp_feature_row *row = &rows[z * nq + p];
            row->vessel_pct = 100.0 * (double)vessel / (double)(q * q);
            row->axon_pct = 100.0 * (double)axon / (double)(q * q);
            row->cell_count = (int64_t)n;
            uint64_t total = 0;
            for (size_t k = 0; k < n; k++) {
                total += pix[k];
                cy[k] = (double)sy[k] / (double)pix[k];
                cx[k] = (double)sx[k] / (double)pix[k];
            }
            row->mean_cell_area = n > 0 ? (double)total / (double)n : 0.0;
            double sum = 0;
            for (size_t a = 0; a < n; a++) {
                double best = INFINITY;
                for (size_t b = 0; b < n; b++) {
                    if (b == a)
                        continue;
                    double dx = cx[b] - cx[a], dy = cy[b] - cy[a];
                    double d2 = dx * dx + dy * dy;
                    if (d2 < best)
                        best = d2;
                }
                sum += sqrt(best);
            }
            row->mean_nn_distance = n < 2 ? 64.0 : sum / (double)n;
            for (size_t k = 0; k < n; k++)
                part_of[part_label[k]] = -1;
        }
    free(label);
    free(part_of);
    free(part_label);
    free(pix);
    free(sy);
    free(sx);
    free(cy);
    free(cx);
}

START_TEST(random_stacks_match_brute_force)
{
    /* clang-format off */
    static const struct {
        size_t nz, h, w, q;
        int boxes, speckle;
    } cases[] = {
        {20, 64, 64, 16, 60, 0},  {20, 64, 64, 32, 120, 3}, {20, 64, 64, 8, 30, 20},
        {20, 32, 64, 16, 40, 45}, {5, 64, 64, 64, 200, 1},  {20, 64, 64, 1, 10, 30},
    };
    /* clang-format on */
    size_t ncases = sizeof cases / sizeof cases[0];
    size_t compared = 0, cells_seen = 0;
    for (size_t c = 0; c < ncases; c++)
        for (uint64_t seed = 1; seed <= 3; seed++) {
            rng_state = 0x9E3779B97F4A7C15ull * (seed + 7 * c);
            size_t nz = cases[c].nz, h = cases[c].h, w = cases[c].w, q = cases[c].q;
            /* Region "striatum" is h x 2w in features_config, so pass w / 2 for it. */
            mtp_config *cfg = features_config((int64_t)h, (int64_t)w / 2, (int)q);
            uint8_t *v = stack_new(nz, h, w);
            random_stack(v, nz, h, w, cases[c].boxes, cases[c].speckle);
            size_t nrows = nz * (h / q) * (w / q);
            mtp_feature_row *got = compute(cfg, STRIATUM, v, nz, h, w, 110, 360);
            mtp_feature_row *want = calloc(nrows, sizeof *want);
            ck_assert_ptr_nonnull(want);
            brute_rows(v, nz, h, w, q, want);
            for (size_t i = 0; i < nrows; i++) {
                ck_assert_int_eq(got[i].region, STRIATUM);
                ck_assert_int_eq(got[i].z, 110 + (int64_t)(i / (nrows / nz)));
                ck_assert_int_eq(got[i].slice_index, 360 + (int64_t)(i / (nrows / nz)));
                ck_assert_int_eq(got[i].quadrant, (int32_t)(i % (nrows / nz)));
                ck_assert_double_eq(got[i].vessel_pct, want[i].vessel_pct);
                ck_assert_double_eq(got[i].axon_pct, want[i].axon_pct);
                ck_assert_msg(got[i].cell_count == want[i].cell_count,
                              "case %zu seed %llu row %zu: %lld cells, expected %lld", c,
                              (unsigned long long)seed, i, (long long)got[i].cell_count,
                              (long long)want[i].cell_count);
                ck_assert_double_eq(got[i].mean_cell_area, want[i].mean_cell_area);
                ck_assert_double_eq(got[i].mean_nn_distance, want[i].mean_nn_distance);
                cells_seen += (size_t)want[i].cell_count;
                compared++;
            }
            free(got);
            free(want);
            free(v);
            free(cfg);
        }
    /* 3 seeds of (20*16 + 20*4 + 20*64 + 20*8 + 5 + 20*4096) rows */
    ck_assert_uint_eq(compared, 3 * (320 + 80 + 1280 + 160 + 5 + 81920));
    ck_assert_uint_gt(cells_seen, 1000);
}
END_TEST

/* ---- a realistic volume, timed ---------------------------------------------------------- */

/* ~10% of voxels in cell blobs of radius 4..10, plus vessel tubes along z and axon speckle. */
static void realistic_stack(uint8_t *v, size_t nz, size_t h, size_t w, size_t *cell_voxels)
{
    size_t n = nz * h * w;
    for (size_t i = 0; i < n; i++)
        v[i] = rng() % 100 < 15 ? 3 : 0;
    for (int t = 0; t < 6; t++) {
        int cy = (int)(rng() % h), cx = (int)(rng() % w), r = 3 + (int)(rng() % 4);
        for (size_t z = 0; z < nz; z++)
            for (int y = cy - r; y <= cy + r; y++)
                for (int x = cx - r; x <= cx + r; x++)
                    if (y >= 0 && x >= 0 && y < (int)h && x < (int)w &&
                        (y - cy) * (y - cy) + (x - cx) * (x - cx) <= r * r)
                        v[(z * h + (size_t)y) * w + (size_t)x] = 1;
    }
    size_t cells = 0;
    while (cells < n / 10) {
        int r = 4 + (int)(rng() % 7);
        int cz = (int)(rng() % nz), cy = (int)(rng() % h), cx = (int)(rng() % w);
        for (int z = cz - r; z <= cz + r; z++)
            for (int y = cy - r; y <= cy + r; y++)
                for (int x = cx - r; x <= cx + r; x++) {
                    if (z < 0 || y < 0 || x < 0 || z >= (int)nz || y >= (int)h || x >= (int)w)
                        continue;
                    int d2 = (z - cz) * (z - cz) + (y - cy) * (y - cy) + (x - cx) * (x - cx);
                    uint8_t *p = &v[((size_t)z * h + (size_t)y) * w + (size_t)x];
                    if (d2 <= r * r && *p != 2) {
                        *p = 2;
                        cells++;
                    }
                }
    }
    *cell_voxels = cells;
}

static size_t count_runs(const uint8_t *v, size_t n_rows, size_t w)
{
    size_t runs = 0;
    for (size_t r = 0; r < n_rows; r++)
        for (size_t x = 0; x < w; x++)
            runs += v[r * w + x] == 2 && (x == 0 || v[r * w + x - 1] != 2);
    return runs;
}

START_TEST(four_realistic_regions_timed)
{
    const size_t nz = 360, h = 256, w = 256;
    mtp_config *cfg = features_config(256, 256, 128);
    uint8_t *v = stack_new(nz, h, w);
    mtp_feature_row *rows = calloc(nz * 4, sizeof *rows);
    ck_assert_ptr_nonnull(rows);
    double cpu = 0;
    size_t runs = 0, cell_voxels = 0;
    int64_t cells_total = 0;
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    for (int region = 0; region < 4; region++) {
        rng_state = 0x243F6A8885A308D3ull + (uint64_t)region;
        size_t cv;
        realistic_stack(v, nz, h, w, &cv);
        cell_voxels += cv;
        runs += count_runs(v, nz * h, w);
        mtp_error err = MTP_ERROR_INIT;
        clock_t t0 = clock();
        int rc = mtp_features_region(cfg, 0, CORTEX, v, nz, h, w, 110, (int64_t)region * 360, rows,
                                     &err);
        cpu += (double)(clock() - t0) / CLOCKS_PER_SEC;
        ck_assert_msg(rc == 0, "%s", err.msg);
        for (size_t i = 0; i < nz * 4; i++)
            cells_total += rows[i].cell_count;
        ck_assert_int_eq(rows[nz * 4 - 1].slice_index, (int64_t)region * 360 + 359);
    }
    getrusage(RUSAGE_SELF, &after);
    ck_assert_int_gt(cells_total, 0);
    printf("features: 4 regions of %zux%zux%zu, %.1f%% cell voxels, %zu cell runs "
           "(~%.1f MB of runs per region): %.3f s CPU; mean %.1f cells per quadrant; "
           "max RSS %ld kB (before %ld kB)\n",
           nz, h, w, 100.0 * (double)cell_voxels / (4.0 * (double)(nz * h * w)), runs,
           (double)runs / 4 * 8 / 1e6, cpu, (double)cells_total / (4.0 * (double)(nz * 4)),
           after.ru_maxrss, before.ru_maxrss);
    fflush(stdout);
    free(rows);
    free(v);
    free(cfg);
}
END_TEST

Suite *mtp_test_suite(void)
{
    Suite *s = suite_create("features");
    TCase *tc = tcase_create("hand-made");
    tcase_add_test(tc, edge_and_corner_contacts_do_not_join);
    tcase_add_test(tc, face_contacts_join_across_slices);
    tcase_add_test(tc, a_cell_spanning_slices_counts_once_per_quadrant);
    tcase_add_test(tc, a_cell_split_by_borders_counts_its_part_in_each);
    tcase_add_test(tc, nearest_neighbours_of_a_known_arrangement);
    tcase_add_test(tc, fewer_than_two_cells_fill_64);
    tcase_add_test(tc, vessel_and_axon_percentages_by_class_name);
    tcase_add_test(tc, rows_come_slice_by_slice_then_row_major_quadrant);
    tcase_add_test(tc, undeclared_code_is_a_data_error);
    tcase_add_test(tc, bad_arguments_are_refused);
    suite_add_tcase(s, tc);
    TCase *random = tcase_create("random");
    tcase_set_timeout(random, 60);
    tcase_add_test(random, random_stacks_match_brute_force);
    suite_add_tcase(s, random);
    TCase *timed = tcase_create("timed");
    tcase_set_timeout(timed, 120);
    tcase_add_test(timed, four_realistic_regions_timed);
    suite_add_tcase(s, timed);
    return s;
}
