/*
 * test_h5bundle.c — the HDF5 writer: round trips read back with the HDF5 C API, format
 * attributes, enums, determinism, atomicity, error paths, stock readers (h5dump, h5ls, h5py).
 */
#include "mtp_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "mtp/chunks.h"
#include "mtp/config.h"
#include "fixtures.h"
#include "mtp/fsutil.h"
#include "mtp/h5bundle.h"
#include "synth.h"

#define TOKEN "secret-token-never-in-files"
#define EDGE 8 /* regions are EDGE x EDGE tiles */

/* Short names for the mini config's split and task indices (fixtures.h). */
enum { SPLIT_TRAIN = FIXTURE_SPLIT_TRAIN, SPLIT_VAL = FIXTURE_SPLIT_VAL };
enum { SPLIT_TEST = FIXTURE_SPLIT_TEST, SPLIT_ALL = FIXTURE_SPLIT_ALL };
enum { TASK_CLS = FIXTURE_TASK_CLS, TASK_SEG = FIXTURE_TASK_SEG, TASK_FEA = FIXTURE_TASK_FEA };
#define QUAD 4 /* task 3's quadrant: 4 quadrants per EDGE x EDGE slice */

static char tmpdir[256];

static void make_tmpdir(void)
{
    fixture_make_tmpdir(tmpdir, sizeof tmpdir, "h5bundle");
}

static void remove_tmpdir(void)
{
    fixture_remove_tree(tmpdir);
}

static char *tmp_path(const char *name)
{
    return fixture_path(tmpdir, name);
}

/* Two regions of EDGE x EDGE, z [0, 8): train [0,4), val [4,6), test [6,8), all [0, 8). */
static mtp_config *make_config(void)
{
    fixture_mini_options opts = {.edge = EDGE, .token = TOKEN, .ncitations = 2, .all_split = true};
    mtp_config *cfg = fixture_mini_config(&opts);
    fixture_mini_bundle_tasks(cfg, QUAD);
    return cfg;
}

static const mtp_bundle_meta META = {"mtneuro-pack 0.1.0", {1.17, 1.17, 1.17}, "micrometer"};

/* Known bytes: a pure function of split, sample, slice, y, x. */
static uint8_t pixel(int split, size_t i, int d, int y, int x)
{
    return (uint8_t)(split * 97 + (int)i * 31 + d * 7 + y * EDGE + x);
}

static uint8_t mask_value(size_t i, int d, int y, int x, int nclasses)
{
    return (uint8_t)(((int)i + d + y + x) % nclasses);
}

static void sample_of(const mtp_config *cfg, int task, int split, size_t i, int *region,
                      int64_t origin[3])
{
    int depth = cfg->tasks[task].depth;
    size_t per_region = fixture_split_samples(cfg, task, split) / (size_t)cfg->nregions;
    *region = (int)(i / per_region);
    origin[0] = cfg->splits[split].z.start + (int64_t)(i % per_region) * depth;
    origin[1] = cfg->regions[*region].y.start;
    origin[2] = cfg->regions[*region].x.start;
}

/* Known targets: row r of a features split (slice r / 4, quadrant r % 4). */
static mtp_feature_row target_row(const mtp_config *cfg, int split, size_t r)
{
    mtp_feature_row row;
    memset(&row, 0, sizeof row);
    size_t i = r / 4;
    int64_t origin[3];
    int region;
    sample_of(cfg, TASK_FEA, split, i, &region, origin);
    row.region = region;
    row.z = origin[0];
    row.quadrant = (int32_t)(r % 4);
    row.slice_index = (int64_t)i;
    row.vessel_pct = (double)(r % 17) * 6.25;
    row.axon_pct = (double)(r % 5) * 0.5;
    row.cell_count = (int64_t)(r % 3);
    row.mean_cell_area = row.cell_count == 0 ? 0.0 : 1.0 + (double)r / 8.0;
    row.mean_nn_distance = row.cell_count < 2 ? 64.0 : 1.0 / (double)(r + 1);
    return row;
}

/* Chunks of `depth` slices of EDGE x EDGE at `bytes`, or NULL without a pool. */
static mtp_chunk *make_chunks(mtp_pool *pool, const uint8_t *bytes, int depth, size_t slice)
{
    if (pool == NULL)
        return NULL;
    const uint8_t **ptrs = malloc((size_t)depth * sizeof *ptrs);
    for (int d = 0; d < depth; d++)
        ptrs[d] = bytes + (size_t)d * slice;
    mtp_chunk *chunks = calloc((size_t)depth, sizeof *chunks);
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_msg(mtp_pool_compress(pool, ptrs, (size_t)depth, slice, chunks, &err) == 0, "%s",
                  err.msg);
    free(ptrs);
    return chunks;
}

static void free_chunks(mtp_chunk *chunks, int depth)
{
    mtp_chunks_release(chunks, (size_t)depth);
    free(chunks);
}

static void write_bundle_with(const mtp_config *cfg, int task, const char *path, mtp_pool *pool);

/* Write the whole task file; the test split (task 1) is declared with 0 samples. */
static void write_bundle(const mtp_config *cfg, int task, const char *path)
{
    write_bundle_with(cfg, task, path, NULL);
}

/* The same, with every slice precompressed by `pool` when it is not NULL. Features
 * targets go in two batches, the second first. */
static void write_bundle_with(const mtp_config *cfg, int task, const char *path, mtp_pool *pool)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_bundle *b = NULL;
    int rc = mtp_bundle_create(&b, path, cfg, task, &META, &err);
    ck_assert_msg(rc == 0, "create: %s", err.msg);
    const mtp_task *t = &cfg->tasks[task];
    for (int k = 0; k < t->nsplits; k++) {
        int split = t->splits[k];
        size_t n = split == SPLIT_TEST ? 0 : fixture_split_samples(cfg, task, split);
        rc = mtp_bundle_add_split(b, split, n, &err);
        ck_assert_msg(rc == 0, "add_split: %s", err.msg);
    }
    size_t bytes = (size_t)t->depth * EDGE * EDGE;
    uint8_t *image = malloc(bytes), *mask = malloc(bytes);
    for (int k = 0; k < t->nsplits; k++) {
        int split = t->splits[k];
        if (split == SPLIT_TEST)
            continue;
        size_t n = fixture_split_samples(cfg, task, split);
        for (size_t i = 0; i < n; i++) {
            for (int d = 0; d < t->depth; d++)
                for (int y = 0; y < EDGE; y++)
                    for (int x = 0; x < EDGE; x++) {
                        size_t off = ((size_t)d * EDGE + (size_t)y) * EDGE + (size_t)x;
                        image[off] = pixel(split, i, d, y, x);
                        mask[off] = mask_value(i, d, y, x, t->nclasses);
                    }
            mtp_bundle_sample s = {image, NULL, (int)(i * 3 % 4), 0, {0, 0, 0}};
            if (t->kind == MTP_TASK_SEGMENTATION)
                s.mask = mask;
            sample_of(cfg, task, split, i, &s.region, s.origin);
            mtp_chunk *ic = make_chunks(pool, image, t->depth, EDGE * EDGE);
            mtp_chunk *mc = s.mask != NULL ? make_chunks(pool, mask, t->depth, EDGE * EDGE) : NULL;
            rc = pool != NULL ? mtp_bundle_write_sample_chunks(b, split, i, &s, ic, mc, &err)
                              : mtp_bundle_write_sample(b, split, i, &s, &err);
            ck_assert_msg(rc == 0, "write_sample: %s", err.msg);
            free_chunks(ic, t->depth);
            free_chunks(mc, t->depth);
        }
        if (t->kind == MTP_TASK_FEATURES) {
            size_t nrows = n * 4, half = nrows / 2;
            ck_assert_uint_eq(mtp_bundle_rows_per_slice(b), 4);
            mtp_feature_row *rows = calloc(nrows, sizeof *rows);
            for (size_t r = 0; r < nrows; r++)
                rows[r] = target_row(cfg, split, r);
            rc = mtp_bundle_write_targets(b, split, half, rows + half, nrows - half, &err);
            ck_assert_msg(rc == 0, "write_targets: %s", err.msg);
            rc = mtp_bundle_write_targets(b, split, 0, rows, half, &err);
            ck_assert_msg(rc == 0, "write_targets: %s", err.msg);
            free(rows);
        }
        if (t->kind == MTP_TASK_FEATURES)
            continue;
        rc = mtp_bundle_split_attr(b, split, "label_region_mismatches", 3 + split,
                                   "tiles whose label is not their region", &err);
        ck_assert_msg(rc == 0, "split_attr: %s", err.msg);
    }
    /* On the empty split this is a no-op. */
    if (task == TASK_CLS)
        ck_assert_int_eq(mtp_bundle_split_attr(b, SPLIT_TEST, "x", 1, NULL, &err), 0);
    free(image);
    free(mask);
    rc = mtp_bundle_finish(b, &err);
    ck_assert_msg(rc == 0, "finish: %s", err.msg);
}

/* ---- readers ---------------------------------------------------------------------- */

static char *read_str_attr(hid_t obj, const char *name)
{
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    ck_assert_msg(attr >= 0, "no attribute %s", name);
    hid_t ftype = H5Aget_type(attr);
    ck_assert_int_eq(H5Tget_class(ftype), H5T_STRING);
    ck_assert_int_eq(H5Tis_variable_str(ftype), 1);
    ck_assert_int_eq(H5Tget_cset(ftype), H5T_CSET_UTF8);
    hid_t space = H5Aget_space(attr);
    ck_assert_int_eq(H5Sget_simple_extent_type(space), H5S_SCALAR);
    hid_t mtype = H5Tcopy(H5T_C_S1);
    H5Tset_size(mtype, H5T_VARIABLE);
    H5Tset_cset(mtype, H5T_CSET_UTF8);
    char *value = NULL;
    ck_assert_int_ge(H5Aread(attr, mtype, &value), 0);
    char *copy = strdup(value);
    H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, &value);
    H5Tclose(mtype);
    H5Tclose(ftype);
    H5Sclose(space);
    H5Aclose(attr);
    return copy;
}

static void assert_str_attr(hid_t obj, const char *name, const char *expected)
{
    char *v = read_str_attr(obj, name);
    ck_assert_str_eq(v, expected);
    free(v);
}

/* A string-array attribute joined with '|'. */
static void assert_strs_attr(hid_t obj, const char *name, const char *expected)
{
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    ck_assert_msg(attr >= 0, "no attribute %s", name);
    hid_t space = H5Aget_space(attr);
    ck_assert_int_eq(H5Sget_simple_extent_ndims(space), 1);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    hid_t mtype = H5Tcopy(H5T_C_S1);
    H5Tset_size(mtype, H5T_VARIABLE);
    H5Tset_cset(mtype, H5T_CSET_UTF8);
    char *values[32] = {0};
    ck_assert_int_le(n, 32);
    ck_assert_int_ge(H5Aread(attr, mtype, values), 0);
    char joined[1024] = "";
    for (hssize_t i = 0; i < n; i++) {
        if (i > 0)
            strcat(joined, "|");
        strcat(joined, values[i]);
    }
    ck_assert_str_eq(joined, expected);
    H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, values);
    H5Tclose(mtype);
    H5Sclose(space);
    H5Aclose(attr);
}

static int64_t read_i64_attr(hid_t obj, const char *name, int64_t *values, size_t max)
{
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    ck_assert_msg(attr >= 0, "no attribute %s", name);
    hid_t space = H5Aget_space(attr);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    ck_assert_int_le(n, (hssize_t)max);
    hid_t ftype = H5Aget_type(attr);
    ck_assert_int_eq(H5Tequal(ftype, H5T_STD_I64LE), 1);
    ck_assert_int_ge(H5Aread(attr, H5T_NATIVE_INT64, values), 0);
    H5Tclose(ftype);
    H5Sclose(space);
    H5Aclose(attr);
    return n;
}

static void assert_dims(hid_t dset, int rank, const hsize_t *expected)
{
    hid_t space = H5Dget_space(dset);
    hsize_t dims[4];
    ck_assert_int_eq(H5Sget_simple_extent_ndims(space), rank);
    H5Sget_simple_extent_dims(space, dims, NULL);
    for (int i = 0; i < rank; i++)
        ck_assert_uint_eq(dims[i], expected[i]);
    H5Sclose(space);
}

/* Chunk dims and the deflate level (-1: no filter at all). */
static void assert_layout(hid_t dset, int rank, const hsize_t *chunk, int deflate)
{
    hid_t dcpl = H5Dget_create_plist(dset);
    ck_assert_int_eq(H5Pget_layout(dcpl), H5D_CHUNKED);
    hsize_t got[4];
    ck_assert_int_eq(H5Pget_chunk(dcpl, 4, got), rank);
    for (int i = 0; i < rank; i++)
        ck_assert_uint_eq(got[i], chunk[i]);
    if (deflate < 0) {
        ck_assert_int_eq(H5Pget_nfilters(dcpl), 0);
    } else {
        ck_assert_int_eq(H5Pget_nfilters(dcpl), 1);
        unsigned flags, cd[4];
        size_t ncd = 4;
        char name[64];
        unsigned config;
        H5Z_filter_t f = H5Pget_filter2(dcpl, 0, &flags, &ncd, cd, sizeof name, name, &config);
        ck_assert_int_eq(f, H5Z_FILTER_DEFLATE);
        ck_assert_uint_eq(ncd, 1);
        ck_assert_uint_eq(cd[0], (unsigned)deflate);
    }
    H5Pclose(dcpl);
}

static void assert_dim_labels(hid_t dset, const char *expected)
{
    char joined[256] = "", label[64];
    int rank;
    hid_t space = H5Dget_space(dset);
    rank = H5Sget_simple_extent_ndims(space);
    H5Sclose(space);
    for (int i = 0; i < rank; i++) {
        ck_assert_int_gt(H5DSget_label(dset, (unsigned)i, label, sizeof label), 0);
        if (i > 0)
            strcat(joined, ",");
        strcat(joined, label);
    }
    ck_assert_str_eq(joined, expected);
    assert_str_attr(dset, "axes", expected);
}

static void assert_enum(hid_t dset, const char *expected)
{
    hid_t type = H5Dget_type(dset);
    ck_assert_int_eq(H5Tget_class(type), H5T_ENUM);
    ck_assert_uint_eq(H5Tget_size(type), 1);
    hid_t base = H5Tget_super(type);
    ck_assert_int_eq(H5Tequal(base, H5T_STD_U8LE), 1);
    char joined[512] = "";
    int n = H5Tget_nmembers(type);
    for (int i = 0; i < n; i++) {
        char *name = H5Tget_member_name(type, (unsigned)i);
        uint8_t v;
        H5Tget_member_value(type, (unsigned)i, &v);
        char item[96];
        snprintf(item, sizeof item, "%s%s=%u", i > 0 ? "," : "", name, v);
        strcat(joined, item);
        H5free_memory(name);
    }
    ck_assert_str_eq(joined, expected);
    H5Tclose(base);
    H5Tclose(type);
}

static uint8_t *read_u8(hid_t dset, size_t n)
{
    uint8_t *buf = malloc(n);
    ck_assert_int_ge(H5Dread(dset, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), 0);
    return buf;
}

/* ---- tests ------------------------------------------------------------------------ */

START_TEST(classification_round_trip)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    const char *path = tmp_path("task1.h5");
    write_bundle(cfg, TASK_CLS, path);
    ck_assert(fixture_exists(path));
    ck_assert(!fixture_exists(tmp_path("task1.h5.tmp")));

    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    assert_str_attr(f, "format", "mtneuro-bundle");
    hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
    int version = 0;
    H5Aread(a, H5T_NATIVE_INT, &version);
    H5Aclose(a);
    ck_assert_int_eq(version, 1);
    assert_str_attr(f, "task", "task1");
    assert_str_attr(f, "kind", "classification");
    assert_str_attr(f, "title", "Mini release");
    assert_str_attr(f, "description", "A tiny test release.");
    assert_str_attr(f, "license", "CC-BY-4.0");
    assert_str_attr(f, "citation", "First, A. Paper one. 2020.\nSecond, B. Paper two. 2022.");
    assert_str_attr(f, "builder", "mtneuro-pack 0.1.0");
    assert_str_attr(f, "config_sha256", cfg->sha256);
    assert_str_attr(f, "source", "http://127.0.0.1:8080");
    assert_strs_attr(f, "channel_names", "image|roi_labels");
    assert_strs_attr(f, "channels",
                     "bossdb://prasad/prasad2020/image|bossdb://prasad/prasad_analysis/roi_labels");
    assert_str_attr(f, "voxel_unit", "micrometer");
    assert_str_attr(f, "axes", "sample,y,x");
    assert_strs_attr(f, "classes", "cortex|striatum|vp|zi");
    assert_strs_attr(f, "splits", "train|val");
    int64_t counts[4];
    ck_assert_int_eq(read_i64_attr(f, "counts", counts, 4), 2);
    ck_assert_int_eq(counts[0], 8);
    ck_assert_int_eq(counts[1], 4);
    double vs[3] = {0};
    a = H5Aopen(f, "voxel_size", H5P_DEFAULT);
    H5Aread(a, H5T_NATIVE_DOUBLE, vs);
    H5Aclose(a);
    ck_assert(vs[0] == 1.17 && vs[1] == 1.17 && vs[2] == 1.17);

    /* Zero-sample split left out; no masks in a classification file. */
    ck_assert_int_eq(H5Lexists(f, "test", H5P_DEFAULT), 0);
    ck_assert_int_eq(H5Lexists(f, "train/masks", H5P_DEFAULT), 0);

    hid_t g = H5Gopen2(f, "train", H5P_DEFAULT);
    int64_t v[2];
    ck_assert_int_eq(read_i64_attr(g, "count", v, 2), 1);
    ck_assert_int_eq(v[0], 8);
    ck_assert_int_eq(read_i64_attr(g, "z_range", v, 2), 2);
    ck_assert_int_eq(v[0], 0);
    ck_assert_int_eq(v[1], 4);
    ck_assert_int_eq(read_i64_attr(g, "label_region_mismatches", v, 2), 1);
    ck_assert_int_eq(v[0], 3);
    assert_str_attr(g, "label_region_mismatches_description",
                    "tiles whose label is not their region");
    H5Gclose(g);

    hid_t d = H5Dopen2(f, "train/images", H5P_DEFAULT);
    hsize_t dims[3] = {8, EDGE, EDGE}, chunk[3] = {1, EDGE, EDGE};
    assert_dims(d, 3, dims);
    assert_layout(d, 3, chunk, 4);
    assert_dim_labels(d, "sample,y,x");
    assert_str_attr(d, "unit", "intensity (uint8)");
    uint8_t *px = read_u8(d, 8 * EDGE * EDGE);
    for (size_t i = 0; i < 8; i++)
        for (int y = 0; y < EDGE; y++)
            for (int x = 0; x < EDGE; x++)
                ck_assert_uint_eq(px[(i * EDGE + (size_t)y) * EDGE + (size_t)x],
                                  pixel(SPLIT_TRAIN, i, 0, y, x));
    free(px);
    H5Dclose(d);

    d = H5Dopen2(f, "val/labels", H5P_DEFAULT);
    hsize_t ldims[1] = {4};
    assert_dims(d, 1, ldims);
    assert_enum(d, "cortex=0,striatum=1,vp=2,zi=3");
    assert_dim_labels(d, "sample");
    uint8_t *labels = read_u8(d, 4);
    for (size_t i = 0; i < 4; i++)
        ck_assert_uint_eq(labels[i], i * 3 % 4);
    free(labels);
    H5Dclose(d);

    d = H5Dopen2(f, "train/region", H5P_DEFAULT);
    assert_enum(d, "cortex=0,striatum=1");
    uint8_t *regions = read_u8(d, 8);
    const uint8_t expected_regions[8] = {0, 0, 0, 0, 1, 1, 1, 1};
    ck_assert_mem_eq(regions, expected_regions, 8);
    free(regions);
    H5Dclose(d);

    d = H5Dopen2(f, "val/origin", H5P_DEFAULT);
    hsize_t odims[2] = {4, 3};
    assert_dims(d, 2, odims);
    assert_dim_labels(d, "sample,coordinate");
    assert_str_attr(d, "unit", "voxel");
    assert_strs_attr(d, "coordinates", "z|y|x");
    int64_t origins[12];
    H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, origins);
    const int64_t expected_origins[12] = {4, 200, 100, 5, 200, 100, 4, 400, 300, 5, 400, 300};
    ck_assert_mem_eq(origins, expected_origins, sizeof origins);
    H5Dclose(d);

    /* /regions: name, x0, x1, y0, y1 per config region. */
    struct row {
        char name[64];
        int64_t x0, x1, y0, y1;
    } rows[2];
    d = H5Dopen2(f, "regions", H5P_DEFAULT);
    hid_t str = H5Tcopy(H5T_C_S1);
    H5Tset_size(str, 64);
    H5Tset_cset(str, H5T_CSET_UTF8); /* HDF5 converts no string between csets */
    hid_t mem = H5Tcreate(H5T_COMPOUND, sizeof(struct row));
    H5Tinsert(mem, "name", offsetof(struct row, name), str);
    H5Tinsert(mem, "x0", offsetof(struct row, x0), H5T_NATIVE_INT64);
    H5Tinsert(mem, "x1", offsetof(struct row, x1), H5T_NATIVE_INT64);
    H5Tinsert(mem, "y0", offsetof(struct row, y0), H5T_NATIVE_INT64);
    H5Tinsert(mem, "y1", offsetof(struct row, y1), H5T_NATIVE_INT64);
    ck_assert_int_ge(H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows), 0);
    ck_assert_str_eq(rows[0].name, "cortex");
    ck_assert_int_eq(rows[0].x0, 100);
    ck_assert_int_eq(rows[0].x1, 108);
    ck_assert_int_eq(rows[0].y0, 200);
    ck_assert_int_eq(rows[0].y1, 208);
    ck_assert_str_eq(rows[1].name, "striatum");
    ck_assert_int_eq(rows[1].x0, 300);
    ck_assert_int_eq(rows[1].y1, 408);
    H5Tclose(mem);
    H5Tclose(str);
    H5Dclose(d);
    ck_assert_int_eq(H5Fclose(f), 0);

    /* The token is never written; the URL is. */
    size_t len;
    unsigned char *bytes = fixture_slurp(path, &len);
    ck_assert(!fixture_contains(bytes, len, TOKEN));
    ck_assert(fixture_contains(bytes, len, "http://127.0.0.1:8080"));
    free(bytes);
    free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(segmentation_depth2_round_trip)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    cfg->output.level = 6;
    const char *path = tmp_path("task2_3d.h5");
    write_bundle(cfg, TASK_SEG, path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    assert_str_attr(f, "kind", "segmentation");
    assert_str_attr(f, "axes", "sample,z,y,x");
    assert_strs_attr(f, "channel_names", "image|pixel_labels");
    assert_strs_attr(f, "splits", "train|val");
    int64_t counts[4];
    ck_assert_int_eq(read_i64_attr(f, "counts", counts, 4), 2);
    ck_assert_int_eq(counts[0], 4);
    ck_assert_int_eq(counts[1], 2);
    ck_assert_int_eq(H5Lexists(f, "train/labels", H5P_DEFAULT), 0);

    hsize_t dims[4] = {4, 2, EDGE, EDGE}, chunk[4] = {1, 1, EDGE, EDGE};
    const char *names[2] = {"train/images", "train/masks"};
    for (int k = 0; k < 2; k++) {
        hid_t d = H5Dopen2(f, names[k], H5P_DEFAULT);
        assert_dims(d, 4, dims);
        assert_layout(d, 4, chunk, 6);
        assert_dim_labels(d, "sample,z,y,x");
        uint8_t *px = read_u8(d, 4 * 2 * EDGE * EDGE);
        for (size_t i = 0; i < 4; i++)
            for (int z = 0; z < 2; z++)
                for (int y = 0; y < EDGE; y++)
                    for (int x = 0; x < EDGE; x++) {
                        size_t off = (((i * 2) + (size_t)z) * EDGE + (size_t)y) * EDGE + (size_t)x;
                        uint8_t want =
                            k == 0 ? pixel(SPLIT_TRAIN, i, z, y, x) : mask_value(i, z, y, x, 3);
                        ck_assert_uint_eq(px[off], want);
                    }
        free(px);
        if (k == 1) {
            assert_strs_attr(d, "classes", "background|vessel|cell");
            assert_str_attr(d, "unit", "class index");
        }
        H5Dclose(d);
    }
    hid_t d = H5Dopen2(f, "train/origin", H5P_DEFAULT);
    int64_t origins[12];
    H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, origins);
    const int64_t expected[12] = {0, 200, 100, 2, 200, 100, 0, 400, 300, 2, 400, 300};
    ck_assert_mem_eq(origins, expected, sizeof origins);
    H5Dclose(d);
    ck_assert_int_eq(H5Fclose(f), 0);
    free(cfg);
    remove_tmpdir();
}
END_TEST

static void assert_i64s_attr(hid_t obj, const char *name, const int64_t *expected, size_t n)
{
    int64_t v[64];
    ck_assert_int_eq(read_i64_attr(obj, name, v, 64), (int64_t)n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(v[i] == expected[i], "%s[%zu] = %lld, want %lld", name, i, (long long)v[i],
                      (long long)expected[i]);
}

START_TEST(class_balance_is_recorded)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    write_bundle(cfg, TASK_CLS, tmp_path("task1.h5"));
    write_bundle(cfg, TASK_SEG, tmp_path("task2_3d.h5"));

    hid_t f = H5Fopen(tmp_path("task1.h5"), H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t g = H5Gopen2(f, "train", H5P_DEFAULT);
    const int64_t cls_train[4] = {2, 2, 2, 2}, reg_train[2] = {4, 4};
    assert_i64s_attr(g, "class_counts", cls_train, 4);
    assert_str_attr(g, "class_counts_description",
                    "samples per class, in the order of the classes attribute");
    assert_i64s_attr(g, "region_counts", reg_train, 2);
    assert_str_attr(g, "region_counts_description", "samples per region, in the order of /regions");
    H5Gclose(g);
    g = H5Gopen2(f, "val", H5P_DEFAULT);
    const int64_t cls_val[4] = {1, 1, 1, 1}, reg_val[2] = {2, 2};
    assert_i64s_attr(g, "class_counts", cls_val, 4);
    assert_i64s_attr(g, "region_counts", reg_val, 2);
    H5Gclose(g);
    H5Fclose(f);

    /* Segmentation: mask voxels per class, (i + d + y + x) % 3 over 2 x 8 x 8 windows. */
    f = H5Fopen(tmp_path("task2_3d.h5"), H5F_ACC_RDONLY, H5P_DEFAULT);
    g = H5Gopen2(f, "train", H5P_DEFAULT);
    const int64_t vox_train[3] = {170, 171, 171}, seg_reg_train[2] = {2, 2};
    assert_i64s_attr(g, "class_counts", vox_train, 3);
    assert_str_attr(g, "class_counts_description",
                    "mask voxels per class, in the order of the classes attribute");
    assert_i64s_attr(g, "region_counts", seg_reg_train, 2);
    H5Gclose(g);
    g = H5Gopen2(f, "val", H5P_DEFAULT);
    const int64_t vox_val[3] = {85, 85, 86}, seg_reg_val[2] = {1, 1};
    assert_i64s_attr(g, "class_counts", vox_val, 3);
    assert_i64s_attr(g, "region_counts", seg_reg_val, 2);
    H5Gclose(g);
    H5Fclose(f);

    /* A mask value outside the classes is refused; a rewritten sample counts once. */
    const char *path = tmp_path("rewrite.h5");
    mtp_error err = MTP_ERROR_INIT;
    mtp_bundle *b = NULL;
    ck_assert_int_eq(mtp_bundle_create(&b, path, cfg, TASK_SEG, &META, &err), 0);
    ck_assert_int_eq(mtp_bundle_add_split(b, SPLIT_TRAIN, 4, &err), 0);
    ck_assert_int_eq(mtp_bundle_add_split(b, SPLIT_VAL, 0, &err), 0);
    uint8_t image[2 * EDGE * EDGE] = {0}, mask[2 * EDGE * EDGE] = {0};
    mask[77] = 3;
    mtp_bundle_sample smp = {image, mask, 0, 0, {0, 200, 100}};
    ck_assert_int_eq(mtp_bundle_write_sample(b, SPLIT_TRAIN, 0, &smp, &err), MTP_EINVAL);
    char want[600];
    snprintf(want, sizeof want, "%s: /train sample 0: mask value 3 is not in 0..2", path);
    ck_assert_str_eq(err.msg, want);
    memset(mask, 2, sizeof mask);
    ck_assert_int_eq(mtp_bundle_write_sample(b, SPLIT_TRAIN, 0, &smp, &err), 0);
    memset(mask, 1, sizeof mask);
    ck_assert_int_eq(mtp_bundle_write_sample(b, SPLIT_TRAIN, 0, &smp, &err), 0);
    memset(mask, 0, sizeof mask);
    for (size_t i = 1; i < 4; i++) {
        sample_of(cfg, TASK_SEG, SPLIT_TRAIN, i, &smp.region, smp.origin);
        ck_assert_int_eq(mtp_bundle_write_sample(b, SPLIT_TRAIN, i, &smp, &err), 0);
    }
    ck_assert_msg(mtp_bundle_finish(b, &err) == 0, "finish: %s", err.msg);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    g = H5Gopen2(f, "train", H5P_DEFAULT);
    const int64_t rewritten[3] = {3 * 128, 128, 0};
    assert_i64s_attr(g, "class_counts", rewritten, 3);
    H5Gclose(g);
    H5Fclose(f);
    free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(no_compression_has_no_filter)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    cfg->output.compression = MTP_COMPRESS_NONE;
    const char *path = tmp_path("plain.h5");
    write_bundle(cfg, TASK_CLS, path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "train/images", H5P_DEFAULT);
    hsize_t chunk[3] = {1, EDGE, EDGE};
    assert_layout(d, 3, chunk, -1);
    H5Dclose(d);
    H5Fclose(f);
    free(cfg);
    remove_tmpdir();
}
END_TEST

static void assert_same_file(const char *a, const char *b)
{
    size_t la, lb;
    unsigned char *ba = fixture_slurp(a, &la), *bb = fixture_slurp(b, &lb);
    ck_assert_msg(la == lb, "%s has %zu bytes, %s %zu", a, la, b, lb);
    ck_assert_msg(memcmp(ba, bb, la) == 0, "%s and %s differ", a, b);
    free(ba);
    free(bb);
}

START_TEST(two_writes_are_byte_identical)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    write_bundle(cfg, TASK_CLS, tmp_path("a1.h5"));
    write_bundle(cfg, TASK_SEG, tmp_path("b1.h5"));
    /* Let the clock move on: a timestamp anywhere in the file would now differ. */
    struct timespec pause = {1, 100000000};
    nanosleep(&pause, NULL);
    write_bundle(cfg, TASK_SEG, tmp_path("b2.h5"));
    write_bundle(cfg, TASK_CLS, tmp_path("a2.h5"));
    assert_same_file(tmp_path("a1.h5"), tmp_path("a2.h5"));
    assert_same_file(tmp_path("b1.h5"), tmp_path("b2.h5"));
    free(cfg);
    remove_tmpdir();
}
END_TEST

/* Temporaries of atomic writes in the test's directory ("task1.h5.tmp.<host>.<pid>.<n>"). */
static int count_temps(void)
{
    DIR *d = opendir(tmpdir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += mtp_atomic_is_temp(e->d_name) && strncmp(e->d_name, "task1.h5.tmp.", 13) == 0;
    closedir(d);
    return n;
}

START_TEST(temporary_until_finish_and_abort_removes_it)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    const char *path = tmp_path("task1.h5");
    /* An existing final file is replaced only by the rename at finish. */
    FILE *old = fopen(path, "w");
    fputs("old release", old);
    fclose(old);

    mtp_error err = MTP_ERROR_INIT;
    mtp_bundle *b = NULL;
    ck_assert_int_eq(mtp_bundle_create(&b, path, cfg, TASK_CLS, &META, &err), 0);
    ck_assert_int_eq(count_temps(), 1);
    ck_assert_int_eq(mtp_bundle_add_split(b, SPLIT_TRAIN, 1, &err), 0);
    mtp_bundle_abort(b);
    ck_assert_int_eq(count_temps(), 0);
    size_t len;
    unsigned char *bytes = fixture_slurp(path, &len);
    ck_assert_uint_eq(len, 11);
    ck_assert_mem_eq(bytes, "old release", 11);
    free(bytes);
    mtp_bundle_abort(NULL);

    write_bundle(cfg, TASK_CLS, path);
    ck_assert_int_eq(count_temps(), 0);
    ck_assert_int_gt(H5Fis_hdf5(path), 0);
    free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(finish_fails_on_missing_samples_and_splits)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    const char *path = tmp_path("task1.h5");
    mtp_error err = MTP_ERROR_INIT;
    mtp_bundle *b = NULL;
    uint8_t image[EDGE * EDGE] = {0};

    /* A sample never written. */
    ck_assert_int_eq(mtp_bundle_create(&b, path, cfg, TASK_CLS, &META, &err), 0);
    ck_assert_int_eq(mtp_bundle_add_split(b, SPLIT_TRAIN, 2, &err), 0);
    ck_assert_int_eq(mtp_bundle_add_split(b, SPLIT_VAL, 0, &err), 0);
    ck_assert_int_eq(mtp_bundle_add_split(b, SPLIT_TEST, 0, &err), 0);
    mtp_bundle_sample s = {image, NULL, 1, 0, {0, 200, 100}};
    ck_assert_int_eq(mtp_bundle_write_sample(b, SPLIT_TRAIN, 0, &s, &err), 0);
    ck_assert_int_eq(mtp_bundle_finish(b, &err), MTP_EINVAL);
    char want[600];
    snprintf(want, sizeof want, "%s: /train sample 1 was never written", path);
    ck_assert_str_eq(err.msg, want);
    ck_assert(!fixture_exists(path));
    ck_assert(!fixture_exists(tmp_path("task1.h5.tmp")));

    /* A split never declared. */
    ck_assert_int_eq(mtp_bundle_create(&b, path, cfg, TASK_CLS, &META, &err), 0);
    ck_assert_int_eq(mtp_bundle_add_split(b, SPLIT_TRAIN, 0, &err), 0);
    ck_assert_int_eq(mtp_bundle_add_split(b, SPLIT_VAL, 0, &err), 0);
    ck_assert_int_eq(mtp_bundle_finish(b, &err), MTP_EINVAL);
    snprintf(want, sizeof want, "%s: split test was never declared", path);
    ck_assert_str_eq(err.msg, want);
    ck_assert(!fixture_exists(path));
    ck_assert(!fixture_exists(tmp_path("task1.h5.tmp")));
    free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(bad_calls_are_refused_with_reasons)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    const char *path = tmp_path("task1.h5");
    char want[600];
    mtp_error err = MTP_ERROR_INIT;
    mtp_bundle *b = (mtp_bundle *)&err; /* must come back NULL */

    cfg->output.compression = (mtp_compression)99; /* the config loader never makes it */
    ck_assert_int_eq(mtp_bundle_create(&b, path, cfg, TASK_CLS, &META, &err), MTP_EINVAL);
    ck_assert_ptr_null(b);
    ck_assert_str_eq(err.msg, "unknown compression 99");
    mtp_volumes *v = NULL;
    ck_assert_int_eq(mtp_volumes_create(&v, path, cfg, &META, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "unknown compression 99");
    cfg->output.compression = MTP_COMPRESS_GZIP;

    cfg->tasks[TASK_SEG].kind = MTP_TASK_FEATURES;
    ck_assert_int_eq(mtp_bundle_create(&b, path, cfg, TASK_SEG, &META, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "task2_3d: features tasks have depth 1, not 2");
    cfg->tasks[TASK_SEG].kind = MTP_TASK_SEGMENTATION;
    cfg->tasks[TASK_FEA].quadrant = 3;
    ck_assert_int_eq(mtp_bundle_create(&b, path, cfg, TASK_FEA, &META, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "task3: quadrant 3 does not divide the 8x8 slices");
    cfg->tasks[TASK_FEA].quadrant = QUAD;
    ck_assert_int_eq(mtp_bundle_create(&b, path, cfg, 5, &META, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "bundle: task index 5 out of range");

    cfg->regions[1].x.stop += 1;
    ck_assert_int_eq(mtp_bundle_create(&b, path, cfg, TASK_CLS, &META, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "task1: region striatum is 8x9 but region cortex is 8x8; a "
                              "task's regions must have one size");
    /* ... unless the task excludes the odd region. */
    cfg->tasks[TASK_CLS].excluded[1] = true;
    ck_assert_int_eq(mtp_bundle_create(&b, path, cfg, TASK_CLS, &META, &err), 0);
    mtp_bundle_abort(b);
    cfg->tasks[TASK_CLS].excluded[1] = false;
    cfg->regions[1].x.stop -= 1;

    snprintf(cfg->splits[1].name, MTP_NAME_MAX, "regions");
    ck_assert_int_eq(mtp_bundle_create(&b, path, cfg, TASK_CLS, &META, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "task1: split name 'regions' cannot be an HDF5 group name here");
    snprintf(cfg->splits[1].name, MTP_NAME_MAX, "val");
    ck_assert(!fixture_exists(tmp_path("task1.h5.tmp")));

    ck_assert_int_eq(mtp_bundle_create(&b, path, cfg, TASK_SEG, &META, &err), 0);
    ck_assert_int_eq(mtp_bundle_add_split(b, SPLIT_TEST, 1, &err), MTP_EINVAL);
    snprintf(want, sizeof want, "%s: split index 2 is not one of task task2_3d's splits", path);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(mtp_bundle_add_split(b, SPLIT_TRAIN, 4, &err), 0);
    ck_assert_int_eq(mtp_bundle_add_split(b, SPLIT_TRAIN, 4, &err), MTP_EINVAL);
    snprintf(want, sizeof want, "%s: split train declared twice", path);
    ck_assert_str_eq(err.msg, want);

    uint8_t image[2 * EDGE * EDGE] = {0}, mask[2 * EDGE * EDGE] = {0};
    mtp_bundle_sample s = {image, NULL, 0, 0, {0, 200, 100}};
    ck_assert_int_eq(mtp_bundle_write_sample(b, SPLIT_TRAIN, 0, &s, &err), MTP_EINVAL);
    snprintf(want, sizeof want,
             "%s: /train sample 0: a mask is required for segmentation "
             "tasks and only for them",
             path);
    ck_assert_str_eq(err.msg, want);
    s.mask = mask;
    ck_assert_int_eq(mtp_bundle_write_sample(b, SPLIT_TRAIN, 4, &s, &err), MTP_EINVAL);
    snprintf(want, sizeof want, "%s: /train sample 4: the split has 4 samples", path);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(mtp_bundle_write_sample(b, SPLIT_VAL, 0, &s, &err), MTP_EINVAL);
    snprintf(want, sizeof want, "%s: split index 1 was not declared", path);
    ck_assert_str_eq(err.msg, want);
    s.origin[0] = 3; /* a window of 2 from z 3 leaves train [0, 4) */
    ck_assert_int_eq(mtp_bundle_write_sample(b, SPLIT_TRAIN, 0, &s, &err), MTP_EINVAL);
    snprintf(want, sizeof want,
             "%s: /train sample 0: origin (3, 200, 100) is outside region "
             "cortex over z [0, 4)",
             path);
    ck_assert_str_eq(err.msg, want);
    s.origin[0] = 2;
    s.region = 1; /* origin is cortex's corner, not striatum's */
    ck_assert_int_eq(mtp_bundle_write_sample(b, SPLIT_TRAIN, 0, &s, &err), MTP_EINVAL);
    s.region = 0;
    ck_assert_int_eq(mtp_bundle_write_sample(b, SPLIT_TRAIN, 0, &s, &err), 0);

    /* An HDF5 failure comes back with the file, the action and HDF5's own reason. */
    ck_assert_int_eq(mtp_bundle_split_attr(b, SPLIT_TRAIN, "count", 1, NULL, &err), MTP_EFORMAT);
    snprintf(want, sizeof want, "%s: write attribute count of /train: attribute already exists",
             path);
    ck_assert_str_eq(err.msg, want);
    mtp_bundle_abort(b);
    ck_assert(!fixture_exists(tmp_path("task1.h5.tmp")));

    /* Classification labels must be class indices. */
    ck_assert_int_eq(mtp_bundle_create(&b, path, cfg, TASK_CLS, &META, &err), 0);
    ck_assert_int_eq(mtp_bundle_add_split(b, SPLIT_TRAIN, 1, &err), 0);
    mtp_bundle_sample c = {image, NULL, 4, 0, {0, 200, 100}};
    ck_assert_int_eq(mtp_bundle_write_sample(b, SPLIT_TRAIN, 0, &c, &err), MTP_EINVAL);
    snprintf(want, sizeof want, "%s: /train sample 0: label 4 is not in 0..3", path);
    ck_assert_str_eq(err.msg, want);
    mtp_bundle_abort(b);

    /* A directory that does not exist: the temporary cannot be created. */
    const char *nowhere = "/nonexistent-mtp-dir/task1.h5";
    ck_assert_int_eq(mtp_bundle_create(&b, nowhere, cfg, TASK_CLS, &META, &err), MTP_EIO);
    ck_assert_ptr_null(b);
    snprintf(want, sizeof want, "%s: cannot create: No such file or directory", nowhere);
    ck_assert_str_eq(err.msg, want);
    ck_assert_msg(strstr(err.msg, "No such file or directory") != NULL, "got: %s", err.msg);

    ck_assert_int_eq(mtp_bundle_create(&b, path, cfg, TASK_CLS, NULL, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "bundle: meta, meta->builder and meta->voxel_unit are required");
    free(cfg);
    remove_tmpdir();
}
END_TEST

static int run(const char *cmd)
{
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(stock_readers_open_the_files)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    write_bundle(cfg, TASK_CLS, tmp_path("task1.h5"));
    write_bundle(cfg, TASK_SEG, tmp_path("task2_3d.h5"));
    char cmd[2048];
    const char *files[2] = {"task1.h5", "task2_3d.h5"};
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "h5dump -H %s > /dev/null 2>&1", tmp_path(files[i]));
        ck_assert_int_eq(run(cmd), 0);
        snprintf(cmd, sizeof cmd, "h5ls -r %s > /dev/null 2>&1", tmp_path(files[i]));
        ck_assert_int_eq(run(cmd), 0);
    }
    if (run("/usr/bin/python3 -c 'import h5py' > /dev/null 2>&1") != 0) {
        fprintf(stderr, "h5bundle: /usr/bin/python3 has no h5py; h5py check skipped\n");
    } else {
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c '\n"
                 "import sys, h5py\n"
                 "f = h5py.File(sys.argv[1], \"r\")\n"
                 "m = h5py.check_enum_dtype(f[\"train/labels\"].dtype)\n"
                 "assert m == {\"cortex\": 0, \"striatum\": 1, \"vp\": 2, \"zi\": 3}, m\n"
                 "r = h5py.check_enum_dtype(f[\"train/region\"].dtype)\n"
                 "assert r == {\"cortex\": 0, \"striatum\": 1}, r\n"
                 "assert f.attrs[\"format\"] == \"mtneuro-bundle\", f.attrs[\"format\"]\n"
                 "assert f.attrs[\"format_version\"] == 1\n"
                 "assert list(f.attrs[\"splits\"]) == [\"train\", \"val\"]\n"
                 "assert list(f.attrs[\"counts\"]) == [8, 4]\n"
                 "assert list(f.attrs)[:4] == [\"format\", \"format_version\", \"task\", "
                 "\"kind\"], list(f.attrs)\n"
                 "assert list(f[\"/\"]) == [\"regions\", \"train\", \"val\"]\n"
                 "assert f[\"train/images\"].dims[0].label == \"sample\"\n"
                 "assert f[\"train/images\"][1, 2, 3] == (31 + 2 * 8 + 3)\n"
                 "assert f[\"regions\"][1][\"name\"] == b\"striatum\"\n"
                 "' %s",
                 tmp_path("task1.h5"));
        ck_assert_int_eq(run(cmd), 0);
    }
    free(cfg);
    remove_tmpdir();
}
END_TEST

/* volumes.h5 with voxel k of region r, channel ch = k * 3 + r * 11 + ch * 5 (mod 256); with
 * a pool, every cube's slices precompressed. */
static void write_volumes_with(const mtp_config *cfg, const char *path, mtp_pool *pool)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_volumes *v = NULL;
    ck_assert_msg(mtp_volumes_create(&v, path, cfg, &META, &err) == 0, "%s", err.msg);
    int nz = (int)(cfg->z.stop - cfg->z.start);
    size_t n = (size_t)nz * EDGE * EDGE;
    uint8_t *cube = malloc(n);
    for (int r = 0; r < 2; r++)
        for (int ch = 0; ch < 3; ch++) {
            for (size_t k = 0; k < n; k++)
                cube[k] = (uint8_t)(k * 3 + (size_t)r * 11 + (size_t)ch * 5);
            mtp_chunk *chunks = make_chunks(pool, cube, nz, EDGE * EDGE);
            if (chunks == NULL)
                ck_assert_int_eq(mtp_volumes_write(v, r, ch, cube, &err), 0);
            else
                ck_assert_int_eq(mtp_volumes_write_chunks(v, r, ch, cube, chunks, &err), 0);
            free_chunks(chunks, nz);
        }
    free(cube);
    ck_assert_msg(mtp_volumes_finish(v, &err) == 0, "%s", err.msg);
}

static void write_volumes(const mtp_config *cfg, const char *path)
{
    write_volumes_with(cfg, path, NULL);
}

START_TEST(volumes_round_trip)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    const char *path = tmp_path("volumes.h5");
    mtp_error err = MTP_ERROR_INIT;
    mtp_volumes *v = NULL;
    write_volumes(cfg, path);
    ck_assert(!fixture_exists(tmp_path("volumes.h5.tmp")));
    size_t n = 8 * EDGE * EDGE;
    uint8_t *cube = calloc(n, 1);

    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    assert_str_attr(f, "format", "mtneuro-volumes");
    assert_strs_attr(f, "channel_names", "image|pixel_labels|roi_labels");
    assert_str_attr(f, "axes", "z,y,x");
    hid_t d = H5Dopen2(f, "striatum/pixel_labels", H5P_DEFAULT);
    ck_assert_int_ge(d, 0);
    hsize_t dims[3] = {8, EDGE, EDGE}, chunk[3] = {1, EDGE, EDGE};
    assert_dims(d, 3, dims);
    assert_layout(d, 3, chunk, 4);
    assert_dim_labels(d, "z,y,x");
    assert_str_attr(d, "source", "bossdb://prasad/prasad_analysis/pixel_labels");
    assert_str_attr(d, "unit", "label code");
    int64_t origin[3];
    ck_assert_int_eq(read_i64_attr(d, "origin", origin, 3), 3);
    ck_assert_int_eq(origin[0], 0);
    ck_assert_int_eq(origin[1], 400);
    ck_assert_int_eq(origin[2], 300);
    uint8_t *px = read_u8(d, n);
    for (size_t k = 0; k < n; k++)
        ck_assert_uint_eq(px[k], (uint8_t)(k * 3 + 11 + 5));
    free(px);
    H5Dclose(d);
    d = H5Dopen2(f, "cortex/image", H5P_DEFAULT);
    assert_str_attr(d, "unit", "intensity (uint8)");
    H5Dclose(d);
    ck_assert_int_eq(H5Fclose(f), 0);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "h5dump -H %s > /dev/null 2>&1 && h5ls -r %s > /dev/null 2>&1", path,
             path);
    ck_assert_int_eq(run(cmd), 0);

    /* Every cube must be written before finish. */
    ck_assert_int_eq(mtp_volumes_create(&v, path, cfg, &META, &err), 0);
    ck_assert_int_eq(mtp_volumes_write(v, 0, 0, cube, &err), 0);
    ck_assert_int_eq(mtp_volumes_write(v, 2, 0, cube, &err), MTP_EINVAL);
    ck_assert_int_eq(mtp_volumes_finish(v, &err), MTP_EINVAL);
    char want[600];
    snprintf(want, sizeof want, "%s: /cortex/pixel_labels was never written", path);
    ck_assert_str_eq(err.msg, want);
    ck_assert(!fixture_exists(tmp_path("volumes.h5.tmp")));
    ck_assert(fixture_exists(path)); /* the earlier, finished file is untouched */
    mtp_volumes_abort(NULL);
    free(cube);
    free(cfg);
    remove_tmpdir();
}
END_TEST

/* ---- task 3: features ------------------------------------------------------------- */

/* A targets row as read back: the file's region enum read as uint8 enum. */
typedef struct read_row {
    uint8_t region;
    int64_t z;
    int32_t quadrant;
    int64_t slice_index;
    double vessel_pct, axon_pct;
    int64_t cell_count;
    double mean_cell_area, mean_nn_distance;
} read_row;

START_TEST(features_round_trip)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    const char *path = tmp_path("task3.h5");
    write_bundle(cfg, TASK_FEA, path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    assert_str_attr(f, "kind", "features");
    assert_str_attr(f, "task", "task3");
    assert_str_attr(f, "axes", "sample,y,x");
    assert_strs_attr(f, "classes", "background|vessel|cell|axon");
    assert_strs_attr(f, "splits", "all");
    assert_strs_attr(f, "channel_names", "image|pixel_labels");
    hid_t g = H5Gopen2(f, "all", H5P_DEFAULT);
    ck_assert_int_ge(g, 0);
    ck_assert_int_eq(H5Lexists(g, "masks", H5P_DEFAULT), 0);
    ck_assert_int_eq(H5Lexists(g, "labels", H5P_DEFAULT), 0);
    ck_assert_int_eq(H5Aexists(g, "class_counts"), 0);
    int64_t counts[4];
    ck_assert_int_eq(read_i64_attr(g, "region_counts", counts, 4), 2);
    ck_assert_int_eq(counts[0], 8);
    ck_assert_int_eq(counts[1], 8);
    hid_t img = H5Dopen2(g, "images", H5P_DEFAULT);
    hsize_t idims[3] = {16, EDGE, EDGE}, ichunk[3] = {1, EDGE, EDGE};
    assert_dims(img, 3, idims);
    assert_layout(img, 3, ichunk, 4);
    H5Dclose(img);

    hid_t d = H5Dopen2(g, "targets", H5P_DEFAULT);
    ck_assert_int_ge(d, 0);
    hsize_t dims[1] = {64}, chunk[1] = {64};
    assert_dims(d, 1, dims);
    assert_layout(d, 1, chunk, 4);
    assert_dim_labels(d, "row");
    assert_strs_attr(d, "field_names",
                     "region|z|quadrant|slice_index|vessel_pct|axon_pct|"
                     "cell_count|mean_cell_area|mean_nn_distance");
    assert_strs_attr(d, "field_units", "|voxel|||percent|percent|cells|pixels|pixels");
    int64_t v[1];
    ck_assert_int_eq(read_i64_attr(d, "quadrant", v, 1), 1);
    ck_assert_int_eq(v[0], QUAD);
    ck_assert_int_eq(read_i64_attr(d, "rows_per_slice", v, 1), 1);
    ck_assert_int_eq(v[0], 4);
    char *desc = read_str_attr(d, "description");
    ck_assert_msg(strstr(desc, "numbered 0 = (y 0-4, x 0-4), 1 = (y 0-4, x 4-8), 2 = (y 4-8, "
                               "x 0-4), 3 = (y 4-8, x 4-8)") != NULL,
                  "%s", desc);
    free(desc);

    /* The file type: packed, in field order, region an enum of the region names. */
    hid_t ftype = H5Dget_type(d);
    ck_assert_int_eq(H5Tget_class(ftype), H5T_COMPOUND);
    ck_assert_int_eq(H5Tget_nmembers(ftype), 9);
    ck_assert_uint_eq(H5Tget_size(ftype), 61);
    const hid_t want[9] = {0,
                           H5T_STD_I64LE,
                           H5T_STD_I32LE,
                           H5T_STD_I64LE,
                           H5T_IEEE_F64LE,
                           H5T_IEEE_F64LE,
                           H5T_STD_I64LE,
                           H5T_IEEE_F64LE,
                           H5T_IEEE_F64LE};
    for (unsigned k = 0; k < 9; k++) {
        hid_t mt = H5Tget_member_type(ftype, k);
        if (k == 0) {
            ck_assert_int_eq(H5Tget_class(mt), H5T_ENUM);
            char name[32];
            uint8_t one = 1;
            ck_assert_int_ge(H5Tenum_nameof(mt, &one, name, sizeof name), 0);
            ck_assert_str_eq(name, "striatum");
        } else {
            ck_assert_int_eq(H5Tequal(mt, want[k]), 1);
        }
        H5Tclose(mt);
    }
    hid_t region_type = H5Tget_member_type(ftype, 0);
    hid_t mem = H5Tcreate(H5T_COMPOUND, sizeof(read_row));
    H5Tinsert(mem, "region", offsetof(read_row, region), region_type);
    H5Tinsert(mem, "z", offsetof(read_row, z), H5T_NATIVE_INT64);
    H5Tinsert(mem, "quadrant", offsetof(read_row, quadrant), H5T_NATIVE_INT32);
    H5Tinsert(mem, "slice_index", offsetof(read_row, slice_index), H5T_NATIVE_INT64);
    H5Tinsert(mem, "vessel_pct", offsetof(read_row, vessel_pct), H5T_NATIVE_DOUBLE);
    H5Tinsert(mem, "axon_pct", offsetof(read_row, axon_pct), H5T_NATIVE_DOUBLE);
    H5Tinsert(mem, "cell_count", offsetof(read_row, cell_count), H5T_NATIVE_INT64);
    H5Tinsert(mem, "mean_cell_area", offsetof(read_row, mean_cell_area), H5T_NATIVE_DOUBLE);
    H5Tinsert(mem, "mean_nn_distance", offsetof(read_row, mean_nn_distance), H5T_NATIVE_DOUBLE);
    read_row rows[64];
    ck_assert_int_ge(H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows), 0);
    for (size_t r = 0; r < 64; r++) {
        mtp_feature_row w = target_row(cfg, SPLIT_ALL, r);
        ck_assert_int_eq(rows[r].region, w.region);
        ck_assert_int_eq(rows[r].region, r >= 32 ? 1 : 0);
        ck_assert_int_eq(rows[r].z, (int64_t)(r / 4 % 8));
        ck_assert_int_eq(rows[r].quadrant, (int32_t)(r % 4));
        ck_assert_int_eq(rows[r].slice_index, (int64_t)(r / 4));
        ck_assert(rows[r].vessel_pct == w.vessel_pct && rows[r].axon_pct == w.axon_pct);
        ck_assert_int_eq(rows[r].cell_count, w.cell_count);
        ck_assert(rows[r].mean_cell_area == w.mean_cell_area);
        ck_assert(rows[r].mean_nn_distance == w.mean_nn_distance);
    }
    H5Tclose(mem);
    H5Tclose(region_type);
    H5Tclose(ftype);

    /* field_definitions: one sentence per field, with the definitions a reader needs. */
    hid_t attr = H5Aopen(d, "field_definitions", H5P_DEFAULT);
    hid_t space = H5Aget_space(attr);
    ck_assert_int_eq(H5Sget_simple_extent_npoints(space), 9);
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, H5T_VARIABLE);
    H5Tset_cset(st, H5T_CSET_UTF8);
    char *defs[9] = {0};
    ck_assert_int_ge(H5Aread(attr, st, defs), 0);
    ck_assert_str_eq(defs[4], "100 x pixels of class vessel in the quadrant / 16 (the "
                              "quadrant's pixels)");
    ck_assert_msg(strstr(defs[6], "3-D 6-connected components (voxels sharing a face) of the "
                                  "cell class, computed per region stack") != NULL,
                  "%s", defs[6]);
    ck_assert_msg(strstr(defs[8], "; 64 when fewer than 2 cells") != NULL, "%s", defs[8]);
    H5Dvlen_reclaim(st, space, H5P_DEFAULT, defs);
    H5Tclose(st);
    H5Sclose(space);
    H5Aclose(attr);
    H5Dclose(d);
    H5Gclose(g);
    H5Fclose(f);

    if (run("/usr/bin/python3 -c 'import h5py' > /dev/null 2>&1") == 0) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c '\n"
                 "import sys, h5py\n"
                 "t = h5py.File(sys.argv[1], \"r\")[\"all/targets\"]\n"
                 "assert t.dtype.names == (\"region\", \"z\", \"quadrant\", \"slice_index\", "
                 "\"vessel_pct\", \"axon_pct\", \"cell_count\", \"mean_cell_area\", "
                 "\"mean_nn_distance\"), t.dtype.names\n"
                 "m = h5py.check_enum_dtype(t.dtype[\"region\"])\n"
                 "assert m == {\"cortex\": 0, \"striatum\": 1}, m\n"
                 "r = t[37]\n"
                 "assert (r[\"region\"], r[\"z\"], r[\"quadrant\"], r[\"slice_index\"]) == "
                 "(1, 1, 1, 9), r\n"
                 "assert r[\"mean_nn_distance\"] == 64.0 and r[\"cell_count\"] == 1\n"
                 "' %s",
                 path);
        ck_assert_int_eq(run(cmd), 0);
    }
    free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(targets_are_checked)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    const char *path = tmp_path("task3.h5");
    char want[700];
    mtp_error err = MTP_ERROR_INIT;
    mtp_bundle *b = NULL;
    ck_assert_int_eq(mtp_bundle_create(&b, path, cfg, TASK_FEA, &META, &err), 0);
    ck_assert_int_eq(mtp_bundle_write_targets(b, SPLIT_ALL, 0, NULL, 0, &err), MTP_EINVAL);
    snprintf(want, sizeof want, "%s: split index 3 was not declared", path);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(mtp_bundle_add_split(b, SPLIT_ALL, 2, &err), 0);
    mtp_feature_row row = target_row(cfg, SPLIT_ALL, 5); /* slice 1, quadrant 1 */
    ck_assert_int_eq(mtp_bundle_write_targets(b, SPLIT_ALL, 6, &row, 1, &err), MTP_EINVAL);
    snprintf(want, sizeof want, "%s: /all/targets row 6: quadrant 1 of slice 1 belongs in row 5",
             path);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(mtp_bundle_write_targets(b, SPLIT_ALL, 7, &row, 2, &err), MTP_EINVAL);
    snprintf(want, sizeof want, "%s: /all/targets rows 7..8: the split has 8 rows", path);
    ck_assert_str_eq(err.msg, want);

    mtp_feature_row bad = row;
    bad.quadrant = 4;
    ck_assert_int_eq(mtp_bundle_write_targets(b, SPLIT_ALL, 5, &bad, 1, &err), MTP_EINVAL);
    snprintf(want, sizeof want, "%s: /all/targets row 5: quadrant 4 is not in 0..3", path);
    ck_assert_str_eq(err.msg, want);
    bad = row;
    bad.slice_index = 2;
    ck_assert_int_eq(mtp_bundle_write_targets(b, SPLIT_ALL, 5, &bad, 1, &err), MTP_EINVAL);
    snprintf(want, sizeof want, "%s: /all/targets row 5: slice_index 2 is not in 0..1", path);
    ck_assert_str_eq(err.msg, want);
    bad = row;
    bad.z = 8;
    ck_assert_int_eq(mtp_bundle_write_targets(b, SPLIT_ALL, 5, &bad, 1, &err), MTP_EINVAL);
    snprintf(want, sizeof want, "%s: /all/targets row 5: z 8 is outside the split's z [0, 8)",
             path);
    ck_assert_str_eq(err.msg, want);
    bad = row;
    bad.region = 2;
    ck_assert_int_eq(mtp_bundle_write_targets(b, SPLIT_ALL, 5, &bad, 1, &err), MTP_EINVAL);
    snprintf(want, sizeof want, "%s: /all/targets row 5: region 2 is not one of the task's regions",
             path);
    ck_assert_str_eq(err.msg, want);
    bad = row;
    bad.vessel_pct = 100.5;
    ck_assert_int_eq(mtp_bundle_write_targets(b, SPLIT_ALL, 5, &bad, 1, &err), MTP_EINVAL);
    snprintf(want, sizeof want,
             "%s: /all/targets row 5: vessel_pct and axon_pct must be in [0, 100]", path);
    ck_assert_str_eq(err.msg, want);
    bad = row;
    bad.cell_count = -1;
    ck_assert_int_eq(mtp_bundle_write_targets(b, SPLIT_ALL, 5, &bad, 1, &err), MTP_EINVAL);
    snprintf(want, sizeof want, "%s: /all/targets row 5: cell_count is negative", path);
    ck_assert_str_eq(err.msg, want);
    bad = row;
    bad.mean_nn_distance = NAN;
    ck_assert_int_eq(mtp_bundle_write_targets(b, SPLIT_ALL, 5, &bad, 1, &err), MTP_EINVAL);
    snprintf(want, sizeof want,
             "%s: /all/targets row 5: mean_cell_area and mean_nn_distance must be finite and "
             ">= 0",
             path);
    ck_assert_str_eq(err.msg, want);

    /* Finish: a row never written, then a row that disagrees with its sample. */
    uint8_t image[EDGE * EDGE] = {0};
    for (size_t i = 0; i < 2; i++) {
        mtp_bundle_sample smp = {image, NULL, 0, 0, {(int64_t)i, 200, 100}};
        ck_assert_int_eq(mtp_bundle_write_sample(b, SPLIT_ALL, i, &smp, &err), 0);
    }
    mtp_feature_row rows[8];
    for (size_t r = 0; r < 8; r++)
        rows[r] = target_row(cfg, SPLIT_ALL, r);
    ck_assert_int_eq(mtp_bundle_write_targets(b, SPLIT_ALL, 0, rows, 7, &err), 0);
    ck_assert_int_eq(mtp_bundle_finish(b, &err), MTP_EINVAL);
    snprintf(want, sizeof want, "%s: /all/targets row 7 was never written", path);
    ck_assert_str_eq(err.msg, want);
    ck_assert(!fixture_exists(path) && !fixture_exists(tmp_path("task3.h5.tmp")));

    ck_assert_int_eq(mtp_bundle_create(&b, path, cfg, TASK_FEA, &META, &err), 0);
    ck_assert_int_eq(mtp_bundle_add_split(b, SPLIT_ALL, 2, &err), 0);
    for (size_t i = 0; i < 2; i++) {
        mtp_bundle_sample smp = {image, NULL, 0, 0, {(int64_t)i, 200, 100}};
        ck_assert_int_eq(mtp_bundle_write_sample(b, SPLIT_ALL, i, &smp, &err), 0);
    }
    rows[6].z = 5;
    ck_assert_int_eq(mtp_bundle_write_targets(b, SPLIT_ALL, 0, rows, 8, &err), 0);
    ck_assert_int_eq(mtp_bundle_finish(b, &err), MTP_EINVAL);
    snprintf(want, sizeof want,
             "%s: /all/targets row 6: region cortex, z 5 differ from sample 1's (region "
             "cortex, z 1)",
             path);
    ck_assert_str_eq(err.msg, want);

    /* Only features tasks have targets. */
    ck_assert_int_eq(mtp_bundle_create(&b, path, cfg, TASK_CLS, &META, &err), 0);
    ck_assert_uint_eq(mtp_bundle_rows_per_slice(b), 0);
    ck_assert_int_eq(mtp_bundle_write_targets(b, SPLIT_TRAIN, 0, rows, 1, &err), MTP_EINVAL);
    snprintf(want, sizeof want, "%s: task task1 has no targets (kind is not features)", path);
    ck_assert_str_eq(err.msg, want);
    mtp_bundle_abort(b);
    free(cfg);
    remove_tmpdir();
}
END_TEST

/* ---- compress once ---------------------------------------------------------------- */

START_TEST(precompressed_chunks_give_identical_files)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    mtp_error err = MTP_ERROR_INIT;
    mtp_pool *one = NULL, *four = NULL;
    ck_assert_int_eq(mtp_pool_new(&one, 1, 4, &err), 0);
    ck_assert_int_eq(mtp_pool_new(&four, 4, 4, &err), 0);
    /* depth 1 (classification, features), depth 2 and depth 8 (segmentation). */
    write_bundle(cfg, TASK_CLS, tmp_path("cls-plain.h5"));
    write_bundle_with(cfg, TASK_CLS, tmp_path("cls-chunks.h5"), four);
    assert_same_file(tmp_path("cls-plain.h5"), tmp_path("cls-chunks.h5"));
    write_bundle(cfg, TASK_FEA, tmp_path("fea-plain.h5"));
    write_bundle_with(cfg, TASK_FEA, tmp_path("fea-chunks.h5"), one);
    assert_same_file(tmp_path("fea-plain.h5"), tmp_path("fea-chunks.h5"));
    write_bundle(cfg, TASK_SEG, tmp_path("seg2-plain.h5"));
    write_bundle_with(cfg, TASK_SEG, tmp_path("seg2-chunks.h5"), four);
    assert_same_file(tmp_path("seg2-plain.h5"), tmp_path("seg2-chunks.h5"));
    cfg->z = (mtp_range){0, 16};
    cfg->splits[SPLIT_TRAIN].z = (mtp_range){0, 16};
    cfg->tasks[TASK_SEG].depth = 8;
    write_bundle(cfg, TASK_SEG, tmp_path("seg8-plain.h5"));
    write_bundle_with(cfg, TASK_SEG, tmp_path("seg8-chunks1.h5"), one);
    write_bundle_with(cfg, TASK_SEG, tmp_path("seg8-chunks4.h5"), four);
    assert_same_file(tmp_path("seg8-plain.h5"), tmp_path("seg8-chunks1.h5"));
    assert_same_file(tmp_path("seg8-plain.h5"), tmp_path("seg8-chunks4.h5"));

    /* volumes.h5: each cube's slices precompressed. */
    write_volumes(cfg, tmp_path("vol-plain.h5"));
    write_volumes_with(cfg, tmp_path("vol-chunks.h5"), four);
    assert_same_file(tmp_path("vol-plain.h5"), tmp_path("vol-chunks.h5"));

    /* Compression "none": the chunks are ignored and the raw slices go in. */
    cfg->output.compression = MTP_COMPRESS_NONE;
    write_bundle(cfg, TASK_SEG, tmp_path("none-plain.h5"));
    write_bundle_with(cfg, TASK_SEG, tmp_path("none-chunks.h5"), four);
    assert_same_file(tmp_path("none-plain.h5"), tmp_path("none-chunks.h5"));
    mtp_pool_free(one);
    mtp_pool_free(four);
    free(cfg);
    remove_tmpdir();
}
END_TEST

/* The two regions as edge x edge tiles side by side (MTNeuro's are 256 x 256). */
static void full_size_regions(mtp_config *cfg, int edge)
{
    cfg->regions[0].x = (mtp_range){0, edge};
    cfg->regions[0].y = (mtp_range){0, edge};
    cfg->regions[1].x = (mtp_range){edge, 2 * edge};
    cfg->regions[1].y = (mtp_range){0, edge};
}

/* Write n segmentation samples (image i, mask i; regions in turn) once through HDF5's
 * deflate filter and once as chunks made by a pool, and check the two files are the
 * same bytes. */
static void assert_paths_agree(const mtp_config *cfg, const uint8_t *image, const uint8_t *mask,
                               size_t n, size_t slice, const char *name)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_pool *pool = NULL;
    ck_assert_int_eq(mtp_pool_new(&pool, 2, 4, &err), 0);
    const uint8_t **ptrs = malloc(2 * n * sizeof *ptrs);
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = image + i * slice;
        ptrs[n + i] = mask + i * slice;
    }
    mtp_chunk *chunks = calloc(2 * n, sizeof *chunks);
    ck_assert_int_eq(mtp_pool_compress(pool, ptrs, 2 * n, slice, chunks, &err), 0);
    char paths[2][64];
    for (int direct = 0; direct < 2; direct++) {
        snprintf(paths[direct], sizeof paths[direct], "%s-%s.h5", name,
                 direct ? "direct" : "filter");
        mtp_bundle *b = NULL;
        const char *path = tmp_path(paths[direct]);
        ck_assert_int_eq(mtp_bundle_create(&b, path, cfg, TASK_SEG, &META, &err), 0);
        ck_assert_int_eq(mtp_bundle_add_split(b, SPLIT_TRAIN, n, &err), 0);
        ck_assert_int_eq(mtp_bundle_add_split(b, SPLIT_VAL, 0, &err), 0);
        for (size_t i = 0; i < n; i++) {
            const mtp_region *reg = &cfg->regions[i % 2];
            mtp_bundle_sample smp = {ptrs[i],
                                     ptrs[n + i],
                                     0,
                                     (int)(i % 2),
                                     {(int64_t)(i / 2 % 4), reg->y.start, reg->x.start}};
            int rc = direct ? mtp_bundle_write_sample_chunks(b, SPLIT_TRAIN, i, &smp, &chunks[i],
                                                             &chunks[n + i], &err)
                            : mtp_bundle_write_sample(b, SPLIT_TRAIN, i, &smp, &err);
            ck_assert_msg(rc == 0, "%s", err.msg);
        }
        ck_assert_msg(mtp_bundle_finish(b, &err) == 0, "%s", err.msg);
    }
    assert_same_file(tmp_path(paths[0]), tmp_path(paths[1]));
    mtp_chunks_release(chunks, 2 * n);
    free(chunks);
    free(ptrs);
    mtp_pool_free(pool);
}

/* The same for realistic slices: 256 x 256 synthetic images and masks. */
START_TEST(precompressed_chunks_identical_at_full_size)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    const int edge = 256;
    full_size_regions(cfg, edge);
    cfg->tasks[TASK_SEG].depth = 1;
    const size_t n = 24, slice = (size_t)edge * edge;
    uint8_t *image = malloc(n * slice), *mask = malloc(n * slice);
    uint32_t rng = 99;
    for (size_t k = 0; k < n * slice; k++) {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        size_t y = k / (size_t)edge % (size_t)edge, x = k % (size_t)edge;
        image[k] = (uint8_t)(((x / 16 + y / 16 + k / slice) * 37 & 0xbf) + (rng & 0x3f));
        mask[k] = (uint8_t)(((x / 24) ^ (y / 24)) % 3 == 0 ? (rng >> 8) % 3 : 0);
    }
    assert_paths_agree(cfg, image, mask, n, slice, "full");
    free(image);
    free(mask);
    free(cfg);
    remove_tmpdir();
}
END_TEST

/* Many small chunks: the chunk index outgrows the pinned metadata cache (128 KiB), so
 * nodes are evicted and read back while writing. Both paths still give the same file. */
START_TEST(precompressed_chunks_identical_past_the_metadata_cache)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    cfg->tasks[TASK_SEG].depth = 1;
    const size_t n = 6000, slice = (size_t)EDGE * EDGE;
    uint8_t *image = malloc(n * slice), *mask = malloc(n * slice);
    for (size_t k = 0; k < n * slice; k++) {
        image[k] = (uint8_t)(k * 2654435761u >> 13);
        mask[k] = (uint8_t)(k / 7 % 3);
    }
    assert_paths_agree(cfg, image, mask, n, slice, "many");
    free(image);
    free(mask);
    free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(bad_chunks_are_refused)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    const char *path = tmp_path("task2.h5");
    char want[700];
    mtp_error err = MTP_ERROR_INIT;
    uint8_t image[2 * EDGE * EDGE], mask[2 * EDGE * EDGE] = {0};
    for (size_t k = 0; k < sizeof image; k++)
        image[k] = (uint8_t)(k * 7);
    mtp_chunk good[2], lvl9 = {NULL, 0, NULL};
    for (int d = 0; d < 2; d++)
        ck_assert_int_eq(
            mtp_chunk_deflate_one(image + d * EDGE * EDGE, EDGE * EDGE, 4, &good[d], &err), 0);
    ck_assert_int_eq(mtp_chunk_deflate_one(image, EDGE * EDGE, 9, &lvl9, &err), 0);
    mtp_bundle *b = NULL;
    ck_assert_int_eq(mtp_bundle_create(&b, path, cfg, TASK_SEG, &META, &err), 0);
    ck_assert_int_eq(mtp_bundle_add_split(b, SPLIT_TRAIN, 4, &err), 0);
    mtp_bundle_sample s = {image, mask, 0, 0, {0, 200, 100}};
    mtp_chunk chunks[2] = {good[0], {NULL, 0, NULL}};
    ck_assert_int_eq(mtp_bundle_write_sample_chunks(b, SPLIT_TRAIN, 0, &s, chunks, NULL, &err),
                     MTP_EINVAL);
    snprintf(want, sizeof want, "%s: /train sample 0: image chunk 1: no bytes", path);
    ck_assert_str_eq(err.msg, want);
    chunks[1] = good[0]; /* slice 0's bytes as slice 1 */
    ck_assert_int_eq(mtp_bundle_write_sample_chunks(b, SPLIT_TRAIN, 0, &s, chunks, NULL, &err),
                     MTP_EINVAL);
    snprintf(want, sizeof want,
             "%s: /train sample 0: image chunk 1: its Adler-32 does not match the slice (a "
             "chunk of other bytes)",
             path);
    ck_assert_str_eq(err.msg, want);
    chunks[0] = lvl9;
    chunks[1] = good[1];
    ck_assert_int_eq(mtp_bundle_write_sample_chunks(b, SPLIT_TRAIN, 0, &s, chunks, NULL, &err),
                     MTP_EINVAL);
    snprintf(want, sizeof want,
             "%s: /train sample 0: image chunk 0: deflated at another level than 4", path);
    ck_assert_str_eq(err.msg, want);
    chunks[0] = (mtp_chunk){image, EDGE * EDGE, NULL}; /* raw bytes */
    ck_assert_int_eq(mtp_bundle_write_sample_chunks(b, SPLIT_TRAIN, 0, &s, chunks, NULL, &err),
                     MTP_EINVAL);
    snprintf(want, sizeof want, "%s: /train sample 0: image chunk 0: not a zlib deflate stream",
             path);
    ck_assert_str_eq(err.msg, want);
    chunks[0] = (mtp_chunk){good[0].data, 100000, NULL};
    ck_assert_int_eq(mtp_bundle_write_sample_chunks(b, SPLIT_TRAIN, 0, &s, chunks, NULL, &err),
                     MTP_EINVAL);
    snprintf(want, sizeof want,
             "%s: /train sample 0: image chunk 0: 100000 bytes (a deflated slice of 64 bytes "
             "has 7..84)",
             path);
    ck_assert_str_eq(err.msg, want);
    /* Mask chunks are checked against the mask. */
    ck_assert_int_eq(mtp_bundle_write_sample_chunks(b, SPLIT_TRAIN, 0, &s, good, good, &err),
                     MTP_EINVAL);
    snprintf(want, sizeof want,
             "%s: /train sample 0: mask chunk 0: its Adler-32 does not match the slice (a "
             "chunk of other bytes)",
             path);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(mtp_bundle_write_sample_chunks(b, SPLIT_TRAIN, 0, &s, good, NULL, &err), 0);
    mtp_bundle_abort(b);

    /* Mask chunks without a mask. */
    ck_assert_int_eq(mtp_bundle_create(&b, path, cfg, TASK_CLS, &META, &err), 0);
    ck_assert_int_eq(mtp_bundle_add_split(b, SPLIT_TRAIN, 1, &err), 0);
    mtp_bundle_sample c = {image, NULL, 0, 0, {0, 200, 100}};
    ck_assert_int_eq(mtp_bundle_write_sample_chunks(b, SPLIT_TRAIN, 0, &c, good, good, &err),
                     MTP_EINVAL);
    snprintf(want, sizeof want, "%s: /train sample 0: mask chunks without a mask", path);
    ck_assert_str_eq(err.msg, want);
    mtp_bundle_abort(b);

    /* volumes.h5: a cube's chunks are checked slice by slice. */
    mtp_volumes *v = NULL;
    const char *vpath = tmp_path("volumes.h5");
    ck_assert_int_eq(mtp_volumes_create(&v, vpath, cfg, &META, &err), 0);
    size_t n = 8 * EDGE * EDGE;
    uint8_t *cube = calloc(n, 1);
    mtp_chunk vchunks[8];
    for (int z = 0; z < 8; z++)
        ck_assert_int_eq(mtp_chunk_deflate_one(cube, EDGE * EDGE, 4, &vchunks[z], &err), 0);
    cube[5 * EDGE * EDGE + 3] = 1;
    ck_assert_int_eq(mtp_volumes_write_chunks(v, 1, 2, cube, vchunks, &err), MTP_EINVAL);
    snprintf(want, sizeof want,
             "%s: /striatum/roi_labels chunk 5: its Adler-32 does not match the slice (a chunk "
             "of other bytes)",
             vpath);
    ck_assert_str_eq(err.msg, want);
    mtp_volumes_abort(v);
    mtp_chunks_release(vchunks, 8);
    mtp_chunks_release(good, 2);
    mtp_chunk_release(&lvl9);
    free(cube);
    free(cfg);
    remove_tmpdir();
}
END_TEST

/*
 * The files tests/integration/test_h5bundle_readers.sh checks from outside this process
 * (cross-process determinism, h5py + numpy): written into $MTP_H5BUNDLE_KEEP and kept
 * when that is set (run with CK_RUN_CASE=files), else into a temp dir that is removed.
 */
START_TEST(files_for_readers)
{
    bool keep = fixture_keep_or_make_tmpdir(tmpdir, sizeof tmpdir, "MTP_H5BUNDLE_KEEP", "h5bundle");
    mtp_config *cfg = make_config();
    write_bundle(cfg, TASK_CLS, tmp_path("task1.h5"));
    write_bundle(cfg, TASK_SEG, tmp_path("task2_3d.h5"));
    write_bundle(cfg, TASK_FEA, tmp_path("task3.h5"));
    write_volumes(cfg, tmp_path("volumes.h5"));
    mtp_pool *pool = NULL;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_pool_new(&pool, 2, cfg->output.level, &err), 0);
    write_bundle_with(cfg, TASK_SEG, tmp_path("task2_3d-chunks.h5"), pool);
    mtp_pool_free(pool);
    ck_assert(fixture_exists(tmp_path("task1.h5")) && fixture_exists(tmp_path("task2_3d.h5")) &&
              fixture_exists(tmp_path("task3.h5")) && fixture_exists(tmp_path("volumes.h5")));
    free(cfg);
    if (!keep)
        remove_tmpdir();
}
END_TEST

static double elapsed(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/*
 * Throughput of the MTNeuro train split shape: n 256x256 images + masks, deflate 4.
 * Reported, not asserted. 64 samples by default; MTP_H5BUNDLE_BENCH=1 runs all 1076.
 */
START_TEST(write_throughput_report)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    const int edge = 256;
    full_size_regions(cfg, edge);
    cfg->z = (mtp_range){0, 1076};
    cfg->splits[0].z = (mtp_range){0, 1076};
    cfg->tasks[TASK_SEG].depth = 1;
    cfg->tasks[TASK_SEG].nsplits = 1;
    size_t n = getenv("MTP_H5BUNDLE_BENCH") != NULL ? 1076 : 64;

    size_t slice = (size_t)edge * edge;
    uint8_t *image = malloc(slice), *mask = malloc(slice);
    uint32_t rng = 12345;
    mtp_error err = MTP_ERROR_INIT;
    mtp_bundle *b = NULL;
    struct timespec t0, t1;
    double s = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(mtp_bundle_create(&b, tmp_path("bench.h5"), cfg, TASK_SEG, &META, &err), 0);
    ck_assert_int_eq(mtp_bundle_add_split(b, SPLIT_TRAIN, n, &err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    s += elapsed(&t0, &t1);
    for (size_t i = 0; i < n; i++) {
        /* Smooth structure plus noise, like a microCT slice; blocky masks. */
        for (int y = 0; y < edge; y++)
            for (int x = 0; x < edge; x++) {
                rng ^= rng << 13;
                rng ^= rng >> 17;
                rng ^= rng << 5;
                size_t off = (size_t)y * edge + (size_t)x;
                image[off] = (uint8_t)(((x / 16 + y / 16 + (int)i) * 37 & 0xbf) + (rng & 0x3f));
                mask[off] = (uint8_t)(((x / 24) ^ (y / 24) ^ (int)i) % 3 == 0 ? (rng >> 8) % 3 : 0);
            }
        mtp_bundle_sample smp = {image, mask, 0, 0, {(int64_t)i, 0, 0}};
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ck_assert_int_eq(mtp_bundle_write_sample(b, SPLIT_TRAIN, i, &smp, &err), 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        s += elapsed(&t0, &t1);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(mtp_bundle_finish(b, &err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    s += elapsed(&t0, &t1);
    struct stat st;
    stat(tmp_path("bench.h5"), &st);
    double mb = 2.0 * (double)n * (double)slice / 1e6;
    fprintf(stderr,
            "h5bundle: wrote %zu images + masks (%.1f MB) in %.2f s (writer time "
            "only): %.1f MB/s, file %.1f MB (ratio %.2f)\n",
            n, mb, s, mb / s, (double)st.st_size / 1e6, mb * 1e6 / (double)st.st_size);
    free(image);
    free(mask);
    free(cfg);
    remove_tmpdir();
}
END_TEST

/*
 * Writing n 256 x 256 image slices (a depth-1 task): through HDF5's deflate filter vs
 * compressing them with a 2-thread pool and writing with H5Dwrite_chunk. Reported, not
 * asserted (the files are compared). 96 slices by default; MTP_H5BUNDLE_BENCH=1 runs 1440
 * (MTNeuro's task 3 images).
 */
START_TEST(write_chunk_speed_report)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    const int edge = 256;
    /* The 4 MTNeuro regions over z from 110: tissue in the mock's synthetic volume. */
    size_t n = getenv("MTP_H5BUNDLE_BENCH") != NULL ? 1440 : 96, per_region = n / 4;
    const int64_t corner[4][2] = {{4600, 900}, {3700, 500}, {3063, 850}, {1543, 650}};
    const char *names[4] = {"cortex", "striatum", "vp", "zi"};
    cfg->nregions = 4;
    for (int r = 0; r < 4; r++) {
        snprintf(cfg->regions[r].name, MTP_NAME_MAX, "%s", names[r]);
        cfg->regions[r].x = (mtp_range){corner[r][0], corner[r][0] + edge};
        cfg->regions[r].y = (mtp_range){corner[r][1], corner[r][1] + edge};
    }
    cfg->z = (mtp_range){110, 110 + (int64_t)per_region};
    cfg->splits[SPLIT_TRAIN].z = cfg->z;
    cfg->tasks[TASK_CLS].nsplits = 1;
    size_t slice = (size_t)edge * edge;
    uint8_t *images = malloc(n * slice);
    const uint8_t **ptrs = malloc(n * sizeof *ptrs);
    mtp_error err = MTP_ERROR_INIT;
    for (int r = 0; r < 4; r++) {
        const mtp_region *reg = &cfg->regions[r];
        mtp_box box = {reg->x.start, reg->x.stop,  reg->y.start,
                       reg->y.stop,  cfg->z.start, cfg->z.stop};
        ck_assert_int_eq(mtp_synth_fill(1, MTP_SYNTH_IMAGE, &box, images + r * per_region * slice,
                                        per_region * slice, &err),
                         0);
    }
    for (size_t i = 0; i < n; i++)
        ptrs[i] = images + i * slice;
    mtp_chunk *chunks = calloc(n, sizeof *chunks);
    mtp_pool *pool = NULL;
    ck_assert_int_eq(mtp_pool_new(&pool, 2, 4, &err), 0);
    double secs[3] = {0, 0, 0}; /* filter write, pool compress, direct write */
    struct timespec t0, t1;
    for (int direct = 0; direct < 2; direct++) {
        if (direct) {
            clock_gettime(CLOCK_MONOTONIC, &t0);
            ck_assert_int_eq(mtp_pool_compress(pool, ptrs, n, slice, chunks, &err), 0);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            secs[1] = elapsed(&t0, &t1);
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        mtp_bundle *b = NULL;
        const char *path = tmp_path(direct ? "direct.h5" : "filter.h5");
        ck_assert_int_eq(mtp_bundle_create(&b, path, cfg, TASK_CLS, &META, &err), 0);
        ck_assert_int_eq(mtp_bundle_add_split(b, SPLIT_TRAIN, n, &err), 0);
        for (size_t i = 0; i < n; i++) {
            int r = (int)(i / per_region);
            mtp_bundle_sample smp = {ptrs[i],
                                     NULL,
                                     r,
                                     r,
                                     {cfg->z.start + (int64_t)(i % per_region),
                                      cfg->regions[r].y.start, cfg->regions[r].x.start}};
            ck_assert_int_eq(mtp_bundle_write_sample_chunks(b, SPLIT_TRAIN, i, &smp,
                                                            direct ? &chunks[i] : NULL, NULL, &err),
                             0);
        }
        ck_assert_msg(mtp_bundle_finish(b, &err) == 0, "%s", err.msg);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        secs[direct ? 2 : 0] = elapsed(&t0, &t1);
    }
    assert_same_file(tmp_path("filter.h5"), tmp_path("direct.h5"));
    fprintf(stderr,
            "h5bundle: %zu image slices 256x256, deflate 4: filter path %.2f s; pool (2 "
            "threads) %.2f s + H5Dwrite_chunk %.3f s = %.2f s; identical files\n",
            n, secs[0], secs[1], secs[2], secs[1] + secs[2]);
    mtp_chunks_release(chunks, n);
    free(chunks);
    mtp_pool_free(pool);
    free(ptrs);
    free(images);
    free(cfg);
    remove_tmpdir();
}
END_TEST

Suite *mtp_test_suite(void)
{
    Suite *s = suite_create("h5bundle");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, classification_round_trip);
    tcase_add_test(tc, segmentation_depth2_round_trip);
    tcase_add_test(tc, class_balance_is_recorded);
    tcase_add_test(tc, no_compression_has_no_filter);
    tcase_add_test(tc, two_writes_are_byte_identical);
    tcase_add_test(tc, temporary_until_finish_and_abort_removes_it);
    tcase_add_test(tc, finish_fails_on_missing_samples_and_splits);
    tcase_add_test(tc, bad_calls_are_refused_with_reasons);
    tcase_add_test(tc, stock_readers_open_the_files);
    tcase_add_test(tc, volumes_round_trip);
    tcase_add_test(tc, features_round_trip);
    tcase_add_test(tc, targets_are_checked);
    tcase_add_test(tc, precompressed_chunks_give_identical_files);
    tcase_add_test(tc, precompressed_chunks_identical_at_full_size);
    tcase_add_test(tc, precompressed_chunks_identical_past_the_metadata_cache);
    tcase_add_test(tc, bad_chunks_are_refused);
    tcase_add_test(tc, write_throughput_report);
    tcase_add_test(tc, write_chunk_speed_report);
    suite_add_tcase(s, tc);
    TCase *files = tcase_create("files");
    tcase_add_test(files, files_for_readers);
    suite_add_tcase(s, files);
    return s;
}
