/*
 * test_h5read.c — reading bundles back: summaries of files written with the writer API,
 * exact fields; check on good files (no problems) and on files damaged with the HDF5 API
 * (exact problem lines); files that are not bundles.
 *
 * The "fixture" case writes the files tests/integration/test_inspect.sh prints with
 * `mtneuro-pack inspect`: into $MTP_H5READ_KEEP when that is set (run it alone with
 * CK_RUN_CASE=fixture), else into a temporary directory that is removed.
 */
#include "mtp_test.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "mtp/config.h"
#include "fixtures.h"
#include "mtp/h5bundle.h"
#include "mtp/h5check.h"
#include "mtp/h5read.h"
#include "mtp/summary.h"

#define EDGE 16 /* regions are EDGE x EDGE tiles */

/* Short names for the mini config's split and task indices (fixtures.h). */
enum { SPLIT_TRAIN = FIXTURE_SPLIT_TRAIN, SPLIT_VAL = FIXTURE_SPLIT_VAL };
enum { SPLIT_TEST = FIXTURE_SPLIT_TEST, SPLIT_ALL = FIXTURE_SPLIT_ALL };
enum { TASK_CLS = FIXTURE_TASK_CLS, TASK_SEG = FIXTURE_TASK_SEG, TASK_FEA = FIXTURE_TASK_FEA };

static char tmpdir[256];

static void make_tmpdir(void)
{
    fixture_make_tmpdir(tmpdir, sizeof tmpdir, "h5read");
}

static void remove_tmpdir(void)
{
    fixture_remove_tree(tmpdir);
}

static char *tmp_path(const char *name)
{
    return fixture_path(tmpdir, name);
}

/* Two regions of EDGE x EDGE, z [0, 8): train [0,4), val [4,6), test [6,8), all [0,8). */
static mtp_config *make_config(void)
{
    fixture_mini_options opts = {
        .edge = EDGE, .token = "secret", .ncitations = 1, .all_split = true};
    mtp_config *cfg = fixture_mini_config(&opts);
    fixture_mini_bundle_tasks(cfg, EDGE / 2); /* 4 quadrants per slice */
    return cfg;
}

static const mtp_bundle_meta META = {"mtneuro-pack 0.1.0", {1.17, 1.17, 1.17}, "micrometer"};

/* Classification labels: the region's class, except train samples 1 and 6 (zi): two
 * label/region mismatches in train, none in val. */
static int label_of(int split, size_t i, int region)
{
    return split == SPLIT_TRAIN && (i == 1 || i == 6) ? 3 : region;
}

/* Masks: vessel where x < 4, cell in the second slice where y < 2 and x >= 4, else
 * background: per 2 x 16 x 16 window 360 / 128 / 24 voxels. */
static uint8_t mask_value(int d, int y, int x)
{
    return x < 4 ? 1 : (d == 1 && y < 2) ? 2 : 0;
}

/* The test split is declared with 0 samples and so left out of the file. */
static void write_bundle(const mtp_config *cfg, int task, const char *path)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_bundle *b = NULL;
    ck_assert_msg(mtp_bundle_create(&b, path, cfg, task, &META, &err) == 0, "%s", err.msg);
    const mtp_task *t = &cfg->tasks[task];
    for (int k = 0; k < t->nsplits; k++) {
        int split = t->splits[k];
        size_t n = split == SPLIT_TEST ? 0 : fixture_split_samples(cfg, task, split);
        ck_assert_msg(mtp_bundle_add_split(b, split, n, &err) == 0, "%s", err.msg);
    }
    size_t bytes = (size_t)t->depth * EDGE * EDGE;
    uint8_t *image = malloc(bytes), *mask = malloc(bytes);
    for (int k = 0; k < t->nsplits; k++) {
        int split = t->splits[k];
        if (split == SPLIT_TEST)
            continue;
        size_t n = fixture_split_samples(cfg, task, split), per_region = n / 2;
        int64_t mismatches = 0;
        for (size_t i = 0; i < n; i++) {
            for (int d = 0; d < t->depth; d++)
                for (int y = 0; y < EDGE; y++)
                    for (int x = 0; x < EDGE; x++) {
                        size_t off = ((size_t)d * EDGE + (size_t)y) * EDGE + (size_t)x;
                        image[off] = (uint8_t)(i * 16 + (size_t)(y / 4));
                        mask[off] = mask_value(d, y, x);
                    }
            int region = (int)(i / per_region);
            int64_t z = cfg->splits[split].z.start + (int64_t)(i % per_region) * t->depth;
            mtp_bundle_sample s = {image,
                                   NULL,
                                   label_of(split, i, region),
                                   region,
                                   {z, cfg->regions[region].y.start, cfg->regions[region].x.start}};
            if (t->kind == MTP_TASK_SEGMENTATION)
                s.mask = mask;
            mismatches += s.label != region;
            ck_assert_msg(mtp_bundle_write_sample(b, split, i, &s, &err) == 0, "%s", err.msg);
        }
        if (t->kind == MTP_TASK_FEATURES) {
            /* Row r: quadrant r % 4 of slice r / 4, with that slice's region and z. */
            mtp_feature_row *rows = calloc(4 * n, sizeof *rows);
            for (size_t r = 0; r < 4 * n; r++) {
                size_t i = r / 4;
                rows[r].region = (int32_t)(i / per_region);
                rows[r].z = cfg->splits[split].z.start + (int64_t)(i % per_region);
                rows[r].quadrant = (int32_t)(r % 4);
                rows[r].slice_index = (int64_t)i;
                rows[r].vessel_pct = 25.0;
                rows[r].mean_nn_distance = 64.0;
            }
            ck_assert_msg(mtp_bundle_write_targets(b, split, 0, rows, 4 * n, &err) == 0, "%s",
                          err.msg);
            free(rows);
        }
        if (t->kind == MTP_TASK_CLASSIFICATION)
            ck_assert_int_eq(mtp_bundle_split_attr(b, split, "label_region_mismatches", mismatches,
                                                   "tiles whose label is not their "
                                                   "region",
                                                   &err),
                             0);
    }
    free(image);
    free(mask);
    ck_assert_msg(mtp_bundle_finish(b, &err) == 0, "%s", err.msg);
}

static void write_volumes(const mtp_config *cfg, const char *path)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_volumes *v = NULL;
    ck_assert_msg(mtp_volumes_create(&v, path, cfg, &META, &err) == 0, "%s", err.msg);
    size_t n = 8 * EDGE * EDGE;
    uint8_t *cube = malloc(n);
    for (int r = 0; r < cfg->nregions; r++)
        for (int c = 0; c < cfg->nchannels; c++) {
            for (size_t k = 0; k < n; k++)
                cube[k] = (uint8_t)(k / 64 + (size_t)r + (size_t)c);
            ck_assert_msg(mtp_volumes_write(v, r, c, cube, &err) == 0, "%s", err.msg);
        }
    free(cube);
    ck_assert_msg(mtp_volumes_finish(v, &err) == 0, "%s", err.msg);
}

/* ---- problem lines collected into one string ---------------------------------------- */

typedef struct lines {
    char text[8192];
} lines;

static void collect(void *userdata, const char *line)
{
    lines *l = userdata;
    size_t len = strlen(l->text);
    snprintf(l->text + len, sizeof l->text - len, "%s\n", line);
}

/* Run check; it must read the file and report exactly `expected` (lines joined by \n). */
static void assert_check(const char *path, const char *expected)
{
    lines got = {{0}};
    int nproblems = -1, nlines = 0;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_msg(mtp_h5check_file(path, collect, &got, &nproblems, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(got.text, expected);
    for (const char *p = expected; *p; p++)
        nlines += *p == '\n';
    ck_assert_int_eq(nproblems, nlines);
}

/* ---- damage with the HDF5 API ------------------------------------------------------- */

static hid_t open_rw(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    return f;
}

/* Overwrite bytes [at, at + n) of a dataset of 1-byte elements in its own type. */
static void poke_bytes(const char *path, const char *dataset, int rank, const hsize_t *start,
                       const hsize_t *count, const uint8_t *values)
{
    hid_t f = open_rw(path);
    hid_t d = H5Dopen2(f, dataset, H5P_DEFAULT);
    ck_assert_int_ge(d, 0);
    hid_t type = H5Dget_type(d), fspace = H5Dget_space(d);
    hid_t mspace = H5Screate_simple(rank, count, NULL);
    ck_assert_int_ge(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL), 0);
    ck_assert_int_ge(H5Dwrite(d, type, mspace, fspace, H5P_DEFAULT, values), 0);
    H5Sclose(mspace);
    H5Sclose(fspace);
    H5Tclose(type);
    H5Dclose(d);
    ck_assert_int_ge(H5Fclose(f), 0);
}

/* Replace an int64 attribute (same shape). Delete and create: HDF5 1.10 cannot rewrite an
 * attribute in place in dense storage with an indexed creation order ("unable to modify
 * record in v2 B-tree"), and the split groups hold enough attributes to be dense. */
static void set_i64_attr(const char *path, const char *object, const char *name,
                         const int64_t *values)
{
    hid_t f = open_rw(path);
    hid_t obj = H5Oopen(f, object, H5P_DEFAULT);
    ck_assert_int_ge(obj, 0);
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    ck_assert_int_ge(a, 0);
    hid_t space = H5Aget_space(a);
    H5Aclose(a);
    ck_assert_int_ge(H5Adelete(obj, name), 0);
    a = H5Acreate2(obj, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(a, 0);
    ck_assert_int_ge(H5Awrite(a, H5T_NATIVE_INT64, values), 0);
    H5Aclose(a);
    H5Sclose(space);
    H5Oclose(obj);
    ck_assert_int_ge(H5Fclose(f), 0);
}

/* Replace a root string attribute by a fixed-length (not variable-length) one. */
static void set_fixed_str_attr(const char *path, const char *name, const char *value)
{
    hid_t f = open_rw(path);
    ck_assert_int_ge(H5Adelete(f, name), 0);
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, strlen(value));
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(a, 0);
    ck_assert_int_ge(H5Awrite(a, type, value), 0);
    H5Aclose(a);
    H5Sclose(space);
    H5Tclose(type);
    ck_assert_int_ge(H5Fclose(f), 0);
}

/* ---- tests -------------------------------------------------------------------------- */

static void assert_dataset(const mtp_dataset_summary *ds, const char *name, const char *dtype,
                           int ndims, int64_t s0, int64_t s1, int64_t s2, int64_t s3)
{
    ck_assert_str_eq(ds->name, name);
    ck_assert_str_eq(ds->dtype, dtype);
    ck_assert_int_eq(ds->ndims, ndims);
    const int64_t shape[4] = {s0, s1, s2, s3};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(ds->shape[i], shape[i]);
}

START_TEST(classification_summary)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    const char *path = tmp_path("task1.h5");
    write_bundle(cfg, TASK_CLS, path);
    mtp_bundle_summary *s = malloc(sizeof *s);
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_msg(mtp_h5read_summary(path, s, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(s->task, "task1");
    ck_assert_str_eq(s->kind, "classification");
    ck_assert_int_eq(s->format_version, 1);
    ck_assert_str_eq(s->builder, "mtneuro-pack 0.1.0");
    ck_assert_str_eq(s->config_sha256, cfg->sha256);
    ck_assert_str_eq(s->source, "http://127.0.0.1:8080");
    ck_assert_str_eq(s->title, "Mini release");
    ck_assert_int_eq(s->nclasses, 4);
    ck_assert_str_eq(s->classes[0], "cortex");
    ck_assert_str_eq(s->classes[3], "zi");
    ck_assert_int_eq(s->nregions, 2);
    ck_assert_str_eq(s->regions[0], "cortex");
    ck_assert_str_eq(s->regions[1], "striatum");
    ck_assert_int_eq(s->ndatasets, 1);
    assert_dataset(&s->datasets[0], "regions", "compound", 1, 2, 0, 0, 0);
    ck_assert_uint_eq(s->datasets[0].raw_bytes, 2 * (64 + 4 * 8));
    ck_assert_uint_eq(s->datasets[0].stored_bytes, 2 * (64 + 4 * 8));

    ck_assert_int_eq(s->nsplits, 2); /* test had no samples */
    const mtp_split_summary *t = &s->splits[0];
    ck_assert_str_eq(t->name, "train");
    ck_assert_int_eq(t->count, 8);
    ck_assert_int_eq(t->z_range[0], 0);
    ck_assert_int_eq(t->z_range[1], 4);
    ck_assert_int_eq(t->ndims, 3);
    ck_assert_int_eq(t->shape[0], 8);
    ck_assert_int_eq(t->shape[1], EDGE);
    ck_assert_int_eq(t->shape[2], EDGE);
    ck_assert_int_eq(t->shape[3], 0);
    const int64_t cls_train[4] = {3, 3, 0, 2};
    for (int c = 0; c < 4; c++)
        ck_assert_int_eq(t->class_counts[c], cls_train[c]);
    ck_assert_int_eq(t->class_counts[4], 0);
    ck_assert_int_eq(t->region_counts[0], 4);
    ck_assert_int_eq(t->region_counts[1], 4);
    ck_assert_int_eq(t->label_region_mismatches, 2);
    ck_assert_int_eq(t->target_rows, 0);
    ck_assert_uint_eq(t->raw_bytes, 8 * EDGE * EDGE);
    ck_assert_uint_gt(t->stored_bytes, 0);
    ck_assert_uint_lt(t->stored_bytes, t->raw_bytes / 4); /* deflate on smooth tiles */
    ck_assert_int_eq(t->ndatasets, 4);
    assert_dataset(&t->datasets[0], "images", "uint8", 3, 8, EDGE, EDGE, 0);
    assert_dataset(&t->datasets[1], "labels", "enum(uint8)", 1, 8, 0, 0, 0);
    assert_dataset(&t->datasets[2], "region", "enum(uint8)", 1, 8, 0, 0, 0);
    assert_dataset(&t->datasets[3], "origin", "int64", 2, 8, 3, 0, 0);
    ck_assert_uint_eq(t->datasets[0].stored_bytes, t->stored_bytes);
    ck_assert_uint_eq(t->datasets[1].raw_bytes, 8);
    ck_assert_uint_eq(t->datasets[1].stored_bytes, 8);
    ck_assert_uint_eq(t->datasets[3].raw_bytes, 8 * 3 * 8);

    const mtp_split_summary *v = &s->splits[1];
    ck_assert_str_eq(v->name, "val");
    ck_assert_int_eq(v->count, 4);
    ck_assert_int_eq(v->z_range[0], 4);
    ck_assert_int_eq(v->z_range[1], 6);
    const int64_t cls_val[4] = {2, 2, 0, 0};
    for (int c = 0; c < 4; c++)
        ck_assert_int_eq(v->class_counts[c], cls_val[c]);
    ck_assert_int_eq(v->region_counts[0], 2);
    ck_assert_int_eq(v->region_counts[1], 2);
    ck_assert_int_eq(v->label_region_mismatches, 0);

    assert_check(path, "");
    free(s);
    free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(segmentation_and_volumes_summary)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    const char *path = tmp_path("task2_3d.h5");
    write_bundle(cfg, TASK_SEG, path);
    mtp_bundle_summary *s = malloc(sizeof *s);
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_msg(mtp_h5read_summary(path, s, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(s->kind, "segmentation");
    ck_assert_int_eq(s->nclasses, 3);
    ck_assert_str_eq(s->classes[2], "cell");
    ck_assert_int_eq(s->nsplits, 2);
    const mtp_split_summary *t = &s->splits[0];
    ck_assert_int_eq(t->count, 4);
    ck_assert_int_eq(t->ndims, 4);
    ck_assert_int_eq(t->shape[0], 4);
    ck_assert_int_eq(t->shape[1], 2);
    ck_assert_int_eq(t->shape[2], EDGE);
    ck_assert_int_eq(t->shape[3], EDGE);
    ck_assert_int_eq(t->class_counts[0], 4 * 360);
    ck_assert_int_eq(t->class_counts[1], 4 * 128);
    ck_assert_int_eq(t->class_counts[2], 4 * 24);
    ck_assert_int_eq(t->region_counts[0], 2);
    ck_assert_int_eq(t->region_counts[1], 2);
    ck_assert_int_eq(t->label_region_mismatches, -1);
    ck_assert_uint_eq(t->raw_bytes, 2 * 4 * 2 * EDGE * EDGE); /* images + masks */
    ck_assert_uint_lt(t->stored_bytes, t->raw_bytes / 4);
    ck_assert_int_eq(t->ndatasets, 4);
    assert_dataset(&t->datasets[0], "images", "uint8", 4, 4, 2, EDGE, EDGE);
    assert_dataset(&t->datasets[1], "masks", "uint8", 4, 4, 2, EDGE, EDGE);
    assert_dataset(&t->datasets[2], "region", "enum(uint8)", 1, 4, 0, 0, 0);
    assert_dataset(&t->datasets[3], "origin", "int64", 2, 4, 3, 0, 0);
    ck_assert_uint_eq(t->stored_bytes, t->datasets[0].stored_bytes + t->datasets[1].stored_bytes);
    const mtp_split_summary *v = &s->splits[1];
    ck_assert_int_eq(v->count, 2);
    ck_assert_int_eq(v->class_counts[0], 2 * 360);
    ck_assert_int_eq(v->class_counts[1], 2 * 128);
    ck_assert_int_eq(v->class_counts[2], 2 * 24);
    assert_check(path, "");

    /* volumes.h5: kind "volumes", no task, classes or splits, every cube listed. */
    const char *vpath = tmp_path("volumes.h5");
    write_volumes(cfg, vpath);
    ck_assert_msg(mtp_h5read_summary(vpath, s, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(s->kind, "volumes");
    ck_assert_str_eq(s->task, "");
    ck_assert_int_eq(s->format_version, 1);
    ck_assert_str_eq(s->builder, "mtneuro-pack 0.1.0");
    ck_assert_int_eq(s->nclasses, 0);
    ck_assert_int_eq(s->nsplits, 0);
    ck_assert_int_eq(s->nregions, 2);
    ck_assert_int_eq(s->ndatasets, 7);
    assert_dataset(&s->datasets[0], "regions", "compound", 1, 2, 0, 0, 0);
    assert_dataset(&s->datasets[1], "cortex/image", "uint8", 3, 8, EDGE, EDGE, 0);
    assert_dataset(&s->datasets[6], "striatum/roi_labels", "uint8", 3, 8, EDGE, EDGE, 0);
    ck_assert_uint_eq(s->datasets[6].raw_bytes, 8 * EDGE * EDGE);
    ck_assert_uint_lt(s->datasets[6].stored_bytes, s->datasets[6].raw_bytes);
    assert_check(vpath, "");

    /* A missing cube. */
    hid_t f = open_rw(vpath);
    ck_assert_int_ge(H5Ldelete(f, "striatum/roi_labels", H5P_DEFAULT), 0);
    H5Fclose(f);
    assert_check(vpath, "volumes.h5: /striatum/roi_labels: missing dataset\n");
    ck_assert_int_eq(mtp_h5read_summary(vpath, s, &err), MTP_EFORMAT);
    char want[700];
    snprintf(want, sizeof want, "%s: /striatum/roi_labels: missing dataset", vpath);
    ck_assert_str_eq(err.msg, want);
    free(s);
    free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(damaged_labels_counts_and_origins)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    const char *path = tmp_path("task1.h5");

    /* A label outside the classes: the value, its class count, the mismatch count. */
    write_bundle(cfg, TASK_CLS, path);
    hsize_t start[1] = {3}, count[1] = {1};
    const uint8_t seven = 7;
    poke_bytes(path, "/val/labels", 1, start, count, &seven);
    assert_check(path, "task1.h5: /val/labels: value 7 at sample 3 outside classes 0-3\n"
                       "task1.h5: /val: class_counts[1] (striatum) is 2, the data has 1\n"
                       "task1.h5: /val: label_region_mismatches is 0, the data has 1\n");

    /* A split's count that disagrees with the root and with every dataset. */
    write_bundle(cfg, TASK_CLS, path);
    const int64_t nine = 9;
    set_i64_attr(path, "/train", "count", &nine);
    assert_check(path, "task1.h5: /train: count is 9, the root's counts say 8\n"
                       "task1.h5: /train/images: 8 samples, the split's count is 9\n"
                       "task1.h5: /train/labels: 8 samples, the split's count is 9\n"
                       "task1.h5: /train/region: 8 samples, the split's count is 9\n"
                       "task1.h5: /train/origin: 8 samples, the split's count is 9\n");

    /* Recorded balance that the data does not support. */
    write_bundle(cfg, TASK_CLS, path);
    const int64_t classes[4] = {3, 3, 1, 1}, regions[2] = {4, 4};
    set_i64_attr(path, "/train", "class_counts", classes);
    set_i64_attr(path, "/train", "region_counts", regions);
    assert_check(path, "task1.h5: /train: class_counts[2] (vp) is 1, the data has 0\n"
                       "task1.h5: /train: class_counts[3] (zi) is 1, the data has 2\n");

    /* Regions and origins: a region value outside the table, an origin outside z. */
    write_bundle(cfg, TASK_CLS, path);
    hsize_t r0[1] = {0}, r2[1] = {2};
    const uint8_t five = 5, bad_regions[2] = {5, 5};
    poke_bytes(path, "/train/region", 1, r0, count, &five);
    hsize_t rc2[1] = {2};
    poke_bytes(path, "/val/region", 1, r2, rc2, bad_regions);
    hid_t f = open_rw(path);
    hid_t d = H5Dopen2(f, "/val/origin", H5P_DEFAULT);
    int64_t origins[12];
    ck_assert_int_ge(H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, origins), 0);
    origins[0] = 9;
    ck_assert_int_ge(H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, origins), 0);
    H5Dclose(d);
    H5Fclose(f);
    assert_check(path,
                 "task1.h5: /train/region: value 5 at sample 0 outside regions 0-1\n"
                 "task1.h5: /train: region_counts[0] (cortex) is 4, the data has 3\n"
                 "task1.h5: /val/region: value 5 at sample 2 outside regions 0-1 (2 values "
                 "in all)\n"
                 "task1.h5: /val/origin: sample 0 at (9, 200, 100) is not its region's corner "
                 "inside z [4, 6)\n"
                 "task1.h5: /val: region_counts[1] (striatum) is 2, the data has 0\n");
    free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(damaged_masks_and_recorded_voxels)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    const char *path = tmp_path("task2_3d.h5");
    write_bundle(cfg, TASK_SEG, path);
    /* Two voxels of val sample 1 (vessel, x < 4) become 9. */
    hsize_t start[4] = {1, 0, 0, 0}, count[4] = {1, 1, 1, 2};
    const uint8_t nines[2] = {9, 9};
    poke_bytes(path, "/val/masks", 4, start, count, nines);
    const int64_t voxels[3] = {1, 2, 3};
    set_i64_attr(path, "/train", "class_counts", voxels);
    assert_check(path, "task2_3d.h5: /train: class_counts[0] (background) is 1, the data has 1440\n"
                       "task2_3d.h5: /train: class_counts[1] (vessel) is 2, the data has 512\n"
                       "task2_3d.h5: /train: class_counts[2] (cell) is 3, the data has 96\n"
                       "task2_3d.h5: /val/masks: value 9 at sample 1 outside classes 0-2 (2 values "
                       "in all)\n"
                       "task2_3d.h5: /val: class_counts[1] (vessel) is 256, the data has 254\n");

    /* A missing mask dataset: a problem for check, a format error for summary. */
    write_bundle(cfg, TASK_SEG, path);
    hid_t f = open_rw(path);
    ck_assert_int_ge(H5Ldelete(f, "train/masks", H5P_DEFAULT), 0);
    H5Fclose(f);
    assert_check(path, "task2_3d.h5: /train/masks: missing dataset\n");
    mtp_bundle_summary *s = malloc(sizeof *s);
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_h5read_summary(path, s, &err), MTP_EFORMAT);
    char want[700];
    snprintf(want, sizeof want, "%s: /train/masks: missing dataset", path);
    ck_assert_str_eq(err.msg, want);
    ck_assert_str_eq(s->task, ""); /* zeroed on failure */
    free(s);
    free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(format_attributes_and_not_hdf5)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    mtp_bundle_summary *s = malloc(sizeof *s);
    mtp_error err = MTP_ERROR_INIT;
    char want[700];
    const char *path = tmp_path("task1.h5");

    /* Fixed-length strings read like variable-length ones. */
    write_bundle(cfg, TASK_CLS, path);
    set_fixed_str_attr(path, "format", "mtneuro-bundle");
    set_fixed_str_attr(path, "task", "task1");
    ck_assert_msg(mtp_h5read_summary(path, s, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(s->task, "task1");
    assert_check(path, "");

    set_fixed_str_attr(path, "format", "other-format");
    ck_assert_int_eq(mtp_h5read_summary(path, s, &err), MTP_EFORMAT);
    snprintf(want, sizeof want,
             "%s: format is 'other-format', not mtneuro-bundle or mtneuro-volumes", path);
    ck_assert_str_eq(err.msg, want);
    assert_check(path, "task1.h5: format is 'other-format', not mtneuro-bundle or "
                       "mtneuro-volumes\n");

    write_bundle(cfg, TASK_CLS, path);
    hid_t f = open_rw(path);
    hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
    const int two = 2;
    H5Awrite(a, H5T_NATIVE_INT, &two);
    H5Aclose(a);
    H5Adelete(f, "builder");
    H5Fclose(f);
    ck_assert_int_eq(mtp_h5read_summary(path, s, &err), MTP_EFORMAT);
    snprintf(want, sizeof want, "%s: format_version 2 is not supported (this reader reads 1)",
             path);
    ck_assert_str_eq(err.msg, want);

    write_bundle(cfg, TASK_CLS, path);
    f = open_rw(path);
    H5Adelete(f, "builder");
    H5Fclose(f);
    ck_assert_int_eq(mtp_h5read_summary(path, s, &err), MTP_EFORMAT);
    snprintf(want, sizeof want, "%s: /: missing attribute builder", path);
    ck_assert_str_eq(err.msg, want);
    assert_check(path, "task1.h5: /: missing attribute builder\n");

    /* Not HDF5 at all, and no file. */
    const char *junk = tmp_path("junk.h5");
    FILE *j = fopen(junk, "w");
    fputs("this is not HDF5\n", j);
    fclose(j);
    ck_assert_int_eq(mtp_h5read_summary(junk, s, &err), MTP_EFORMAT);
    snprintf(want, sizeof want, "%s: not an HDF5 file", junk);
    ck_assert_str_eq(err.msg, want);
    lines got = {{0}};
    int nproblems = -1;
    ck_assert_int_eq(mtp_h5check_file(junk, collect, &got, &nproblems, &err), MTP_EFORMAT);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(nproblems, 0);
    const char *missing = tmp_path("missing.h5");
    ck_assert_int_eq(mtp_h5read_summary(missing, s, &err), MTP_EIO);
    snprintf(want, sizeof want, "%s: No such file or directory", missing);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(mtp_h5check_file(missing, NULL, NULL, NULL, &err), MTP_EIO);
    ck_assert_int_eq(mtp_h5read_summary(path, NULL, &err), MTP_EINVAL);

    /* The caller's HDF5 error handler is silenced during a call and restored after it. */
    H5Eset_auto2(H5E_DEFAULT, (H5E_auto2_t)H5Eprint2, stderr);
    ck_assert_int_eq(mtp_h5read_summary(junk, s, &err), MTP_EFORMAT);
    H5E_auto2_t func = NULL;
    void *data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &func, &data);
    ck_assert_ptr_eq((void *)func, (void *)H5Eprint2);
    ck_assert_ptr_eq(data, stderr);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    free(s);
    free(cfg);
    remove_tmpdir();
}
END_TEST

/* Overwrite one int field of targets rows [row, row + n) with `value`, leaving the others. */
static void poke_target_field(const char *path, const char *field, hsize_t row, hsize_t n,
                              int64_t value)
{
    hid_t f = open_rw(path);
    hid_t d = H5Dopen2(f, "/all/targets", H5P_DEFAULT);
    ck_assert_int_ge(d, 0);
    /* region is an enum in the file: write it in that type (1 byte), the rest as int64. */
    bool region = strcmp(field, "region") == 0;
    hid_t ftype = H5Dget_type(d);
    hid_t ftype_member = H5Tget_member_type(ftype, (unsigned)H5Tget_member_index(ftype, field));
    hid_t mem = H5Tcreate(H5T_COMPOUND, region ? 1 : sizeof(int64_t));
    H5Tinsert(mem, field, 0, region ? ftype_member : H5T_NATIVE_INT64);
    H5Tclose(ftype_member);
    H5Tclose(ftype);
    int64_t values[8];
    uint8_t bytes[8];
    ck_assert_uint_le(n, 8);
    for (hsize_t k = 0; k < n; k++) {
        values[k] = value;
        bytes[k] = (uint8_t)value;
    }
    hid_t fspace = H5Dget_space(d), mspace = H5Screate_simple(1, &n, NULL);
    ck_assert_int_ge(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &row, NULL, &n, NULL), 0);
    ck_assert_int_ge(H5Dwrite(d, mem, mspace, fspace, H5P_DEFAULT, region ? (void *)bytes : values),
                     0);
    H5Sclose(mspace);
    H5Sclose(fspace);
    H5Tclose(mem);
    H5Dclose(d);
    ck_assert_int_ge(H5Fclose(f), 0);
}

START_TEST(features_summary_and_check)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    const char *path = tmp_path("task3.h5");
    write_bundle(cfg, TASK_FEA, path);
    mtp_bundle_summary *s = malloc(sizeof *s);
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_msg(mtp_h5read_summary(path, s, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(s->task, "task3");
    ck_assert_str_eq(s->kind, "features");
    ck_assert_int_eq(s->nclasses, 4);
    ck_assert_str_eq(s->classes[2], "cell");
    ck_assert_int_eq(s->nsplits, 1);
    const mtp_split_summary *a = &s->splits[0];
    ck_assert_str_eq(a->name, "all");
    ck_assert_int_eq(a->count, 16);
    ck_assert_int_eq(a->target_rows, 64);
    ck_assert_int_eq(a->class_counts[0], 0);
    ck_assert_int_eq(a->region_counts[0], 8);
    ck_assert_int_eq(a->region_counts[1], 8);
    ck_assert_int_eq(a->label_region_mismatches, -1);
    ck_assert_int_eq(a->ndatasets, 4);
    assert_dataset(&a->datasets[0], "images", "uint8", 3, 16, EDGE, EDGE, 0);
    assert_dataset(&a->datasets[1], "region", "enum(uint8)", 1, 16, 0, 0, 0);
    assert_dataset(&a->datasets[2], "origin", "int64", 2, 16, 3, 0, 0);
    assert_dataset(&a->datasets[3], "targets", "compound", 1, 64, 0, 0, 0);
    ck_assert_uint_eq(a->datasets[3].raw_bytes, 64 * 61);
    assert_check(path, "");

    /* Rows out of range or out of place. */
    poke_target_field(path, "quadrant", 5, 1, 7);
    poke_target_field(path, "slice_index", 9, 2, 99);
    assert_check(path, "task3.h5: /all/targets: row 5: quadrant 7 outside 0-3 (3 rows in all)\n");
    write_bundle(cfg, TASK_FEA, path);
    poke_target_field(path, "slice_index", 12, 1, 2);
    poke_target_field(path, "z", 13, 1, 8);
    assert_check(path, "task3.h5: /all/targets: row 12: quadrant 0 of slice 2 belongs in row 8 "
                       "(2 rows in all)\n");
    write_bundle(cfg, TASK_FEA, path);
    poke_target_field(path, "region", 2, 1, 1);
    assert_check(path, "task3.h5: /all/targets: row 2: region 1 but its slice's region is 0\n");
    write_bundle(cfg, TASK_FEA, path);
    poke_target_field(path, "z", 63, 1, 8);
    assert_check(path, "task3.h5: /all/targets: row 63: z 8 outside the split's z range\n");

    /* The row count follows count x rows_per_slice. */
    write_bundle(cfg, TASK_FEA, path);
    const int64_t five = 5;
    set_i64_attr(path, "/all/targets", "rows_per_slice", &five);
    assert_check(path, "task3.h5: /all/targets: 64 rows, expected count 16 x rows_per_slice 5 = "
                       "80\n");
    free(s);
    free(cfg);
    remove_tmpdir();
}
END_TEST

/* The file test_inspect.sh prints: see the comment at the top. */
START_TEST(fixture)
{
    bool keep = fixture_keep_or_make_tmpdir(tmpdir, sizeof tmpdir, "MTP_H5READ_KEEP", "h5read");
    mtp_config *cfg = make_config();
    write_bundle(cfg, TASK_CLS, tmp_path("task1.h5"));
    write_bundle(cfg, TASK_SEG, tmp_path("task2_3d.h5"));
    write_volumes(cfg, tmp_path("volumes.h5"));
    assert_check(tmp_path("task1.h5"), "");
    free(cfg);
    if (!keep)
        remove_tmpdir();
}
END_TEST

Suite *mtp_test_suite(void)
{
    Suite *s = suite_create("h5read");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, classification_summary);
    tcase_add_test(tc, segmentation_and_volumes_summary);
    tcase_add_test(tc, damaged_labels_counts_and_origins);
    tcase_add_test(tc, damaged_masks_and_recorded_voxels);
    tcase_add_test(tc, format_attributes_and_not_hdf5);
    tcase_add_test(tc, features_summary_and_check);
    suite_add_tcase(s, tc);
    TCase *files = tcase_create("fixture");
    tcase_add_test(files, fixture);
    suite_add_tcase(s, files);
    return s;
}
