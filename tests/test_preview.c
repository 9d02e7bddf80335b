#include "mtp_test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>
#include <png.h>

#include "fixtures.h"
#include "mtp/preview.h"

/*
 * Bundle-like fixtures made with the HDF5 C API (DESIGN §6). Split "train": 6 samples of
 * 16x16, regions [cortex x5, zi x1] (striatum is an enum member without samples); sample i
 * is gray 100 + 10 i. Split "val": 2 samples in striatum, gray 200 + i. Masks: class 1 in the
 * top-left quadrant, class 2 in the bottom-right, 0 elsewhere. Labels: i % 3.
 */
#define EDGE 16
#define NTRAIN 6
#define NVAL 2

typedef struct fixture {
    const char *kind;
    const char *task;
    int depth;         /* 1: images (N, H, W); > 1: (N, D, H, W), slice d = 0 except d 0 */
    int fixed_strings; /* attributes as fixed-length instead of variable-length strings */
    const char *omit;  /* split whose images dataset is left out, or NULL */
} fixture;

static const char *const CLASSES[] = {"bg", "red", "green"};
static const char *const SPLITS[] = {"train", "val"};

static char tmp_root[256];

static void setup(void)
{
    fixture_make_tmpdir(tmp_root, sizeof tmp_root, "preview");
}

static void teardown(void)
{
    fixture_remove_tree(tmp_root);
}

static void tmp_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmp_root, name);
}

static void put_strings(hid_t obj, const char *name, const char *const *values, size_t n,
                        int scalar, int fixed)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    size_t width = 1;
    char *packed = NULL;
    if (fixed) {
        for (size_t i = 0; i < n; i++)
            if (strlen(values[i]) + 1 > width)
                width = strlen(values[i]) + 1;
        H5Tset_size(type, width);
        H5Tset_strpad(type, H5T_STR_NULLTERM);
        packed = calloc(n, width);
        for (size_t i = 0; i < n; i++)
            memcpy(packed + i * width, values[i], strlen(values[i]));
    } else {
        H5Tset_size(type, H5T_VARIABLE);
    }
    H5Tset_cset(type, H5T_CSET_UTF8);
    hsize_t dims = n;
    hid_t space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dims, NULL);
    hid_t attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(attr, 0);
    ck_assert_int_ge(H5Awrite(attr, type, fixed ? (const void *)packed : (const void *)values), 0);
    H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(type);
    free(packed);
}

static hid_t make_enum(const char *const *names, int n)
{
    hid_t type = H5Tenum_create(H5T_STD_U8LE);
    for (int i = 0; i < n; i++) {
        uint8_t v = (uint8_t)i;
        H5Tenum_insert(type, names[i], &v);
    }
    return type;
}

static void put_dataset(hid_t group, const char *name, hid_t type, int rank, const hsize_t *dims,
                        const void *data)
{
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t dset = H5Dcreate2(group, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(dset, 0);
    ck_assert_int_ge(H5Dwrite(dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0);
    H5Dclose(dset);
    H5Sclose(space);
}

static void put_split(hid_t file, const fixture *fx, const char *split, size_t n,
                      const uint8_t *region, int gray0, int gray_step)
{
    static const char *const REGIONS[] = {"cortex", "striatum", "zi"};
    hid_t group = H5Gcreate2(file, split, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(group, 0);
    int depth = fx->depth;
    size_t plane = EDGE * EDGE;
    uint8_t *images = calloc(n * (size_t)depth, plane);
    uint8_t *masks = calloc(n * (size_t)depth, plane);
    uint8_t labels[NTRAIN];
    int64_t origin[NTRAIN][3];
    for (size_t i = 0; i < n; i++) {
        labels[i] = (uint8_t)(i % 3);
        origin[i][0] = (int64_t)i;
        origin[i][1] = origin[i][2] = 0;
        for (int d = 0; d < depth; d++)
            for (size_t p = 0; p < plane; p++) {
                size_t y = p / EDGE, x = p % EDGE;
                size_t at = (i * (size_t)depth + (size_t)d) * plane + p;
                images[at] = d == 0 ? (uint8_t)(gray0 + gray_step * (int)i) : 0;
                masks[at] = (y < 8 && x < 8) ? 1 : (y >= 8 && x >= 8) ? 2 : 0;
            }
    }
    hsize_t dims[4] = {n, EDGE, EDGE, EDGE};
    int rank = 3;
    if (depth > 1) {
        dims[1] = (hsize_t)depth;
        rank = 4;
    }
    if (fx->omit == NULL || strcmp(fx->omit, split) != 0)
        put_dataset(group, "images", H5T_STD_U8LE, rank, dims, images);
    if (strcmp(fx->kind, "segmentation") == 0)
        put_dataset(group, "masks", H5T_STD_U8LE, rank, dims, masks);
    hid_t region_type = make_enum(REGIONS, 3);
    put_dataset(group, "region", region_type, 1, dims, region);
    H5Tclose(region_type);
    if (strcmp(fx->kind, "classification") == 0) {
        hid_t label_type = make_enum(CLASSES, 3);
        put_dataset(group, "labels", label_type, 1, dims, labels);
        H5Tclose(label_type);
    }
    hsize_t odims[2] = {n, 3};
    put_dataset(group, "origin", H5T_NATIVE_INT64, 2, odims, origin);
    free(images);
    free(masks);
    H5Gclose(group);
}

static void make_bundle(const char *path, const fixture *fx)
{
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(file, 0);
    const char *task = fx->task ? fx->task : "task1";
    put_strings(file, "task", &task, 1, 1, fx->fixed_strings);
    put_strings(file, "kind", &fx->kind, 1, 1, fx->fixed_strings);
    put_strings(file, "classes", CLASSES, 3, 0, fx->fixed_strings);
    put_strings(file, "splits", SPLITS, 2, 0, fx->fixed_strings);
    const uint8_t train_region[NTRAIN] = {0, 0, 0, 0, 0, 2};
    const uint8_t val_region[NVAL] = {1, 1};
    put_split(file, fx, "train", NTRAIN, train_region, 100, 10);
    put_split(file, fx, "val", NVAL, val_region, 200, 1);
    H5Fclose(file);
}

/* ---- reading PNGs back ------------------------------------------------------------------- */
typedef struct decoded {
    uint8_t *rgb;
    size_t w, h;
} decoded;

static decoded decode(const char *path)
{
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    ck_assert_msg(png_image_begin_read_from_file(&image, path), "%s: %s", path, image.message);
    ck_assert_int_eq(image.format & PNG_FORMAT_FLAG_ALPHA, 0);
    image.format = PNG_FORMAT_RGB;
    decoded out = {malloc(PNG_IMAGE_SIZE(image)), image.width, image.height};
    ck_assert(png_image_finish_read(&image, NULL, out.rgb, 0, NULL));
    return out;
}

static void assert_pixel(const decoded *d, size_t x, size_t y, int r, int g, int b)
{
    const uint8_t *p = d->rgb + (y * d->w + x) * 3;
    ck_assert_msg(p[0] == r && p[1] == g && p[2] == b,
                  "pixel (%zu, %zu) is (%d, %d, %d), want (%d, %d, %d)", x, y, p[0], p[1], p[2], r,
                  g, b);
}

/* Layout of the 16x16 fixtures (preview.h): tile 16, cell 28, pad 4, band 22. */
#define CELL 28
#define TILE_X(col) (4 + (col) * (CELL + 4) + 6)
#define TILE_Y(row) (22 + (row) * (22 + CELL) + 22 + 6)
#define CELL_X(col) (4 + (col) * (CELL + 4))
#define CELL_Y(row) (22 + (row) * (22 + CELL) + 22)
/* train: 4 columns (cortex shows 4 of 5), 2 rows; width 4 + 4 * 32. */
#define TRAIN_W 132
/* Legend, width 132: entries are 14 + 6 + 12 * chars wide with 12 px between, wrapping at
 * 128. Classification "bg" 44 (x 4), "red" 56 (x 60, ends 116), "green" 80 (x 128: wraps);
 * segmentation "red" (x 4), "green" (x 72, ends 152: wraps). Both 2 lines. */
#define TRAIN_H_LEGEND (22 + 2 * (22 + CELL) + 2 * 18 + 4)
#define TRAIN_H_FEATURES (22 + 2 * (22 + CELL) + 4)

static void run_preview(const char *h5, const char *out, int want_written)
{
    mtp_error err = MTP_ERROR_INIT;
    int written = -1;
    int rc = mtp_preview_bundle(h5, out, &written, &err);
    ck_assert_msg(rc == 0, "rc %d: %s", rc, err.msg);
    ck_assert_int_eq(written, want_written);
}

START_TEST(test_segmentation_overlay)
{
    char h5[512], out[512], png[600];
    fixture fx = {.kind = "segmentation", .depth = 1};
    tmp_path(h5, sizeof h5, "task2.h5");
    tmp_path(out, sizeof out, "a/b/previews");
    make_bundle(h5, &fx);
    run_preview(h5, out, 2);

    snprintf(png, sizeof png, "%s/preview_task1_train.png", out);
    decoded d = decode(png);
    ck_assert_uint_eq(d.w, TRAIN_W);
    ck_assert_uint_eq(d.h, TRAIN_H_LEGEND);
    ck_assert_uint_eq(d.h, 162);
    /* Sample 0 (gray 100): class 1 red at 45%: (100*55 + 255*45 + 50) / 100 = 170, 55, 55. */
    assert_pixel(&d, TILE_X(0), TILE_Y(0), 170, 55, 55);
    assert_pixel(&d, TILE_X(0) + 15, TILE_Y(0) + 15, 55, 170, 55); /* class 2 green */
    assert_pixel(&d, TILE_X(0) + 15, TILE_Y(0), 100, 100, 100);    /* class 0: gray */
    /* Evenly spaced picks over cortex's 5 samples: 0, 1, 2, 4. */
    assert_pixel(&d, TILE_X(1) + 15, TILE_Y(0), 110, 110, 110);
    assert_pixel(&d, TILE_X(2) + 15, TILE_Y(0), 120, 120, 120);
    assert_pixel(&d, TILE_X(3) + 15, TILE_Y(0), 140, 140, 140);
    /* Row 1 is zi (striatum has no train samples): sample 5, then empty cells. */
    assert_pixel(&d, TILE_X(0) + 15, TILE_Y(1), 150, 150, 150);
    assert_pixel(&d, TILE_X(1) + 15, TILE_Y(1), 32, 32, 32);
    /* Segmentation borders are background. */
    assert_pixel(&d, CELL_X(0), CELL_Y(0), 32, 32, 32);
    /* Legend swatches: red on line 1, green on line 2, both at x 4. */
    assert_pixel(&d, 5, 22 + 2 * 50 + 4, 255, 0, 0);
    assert_pixel(&d, 5, 22 + 2 * 50 + 4 + 13, 255, 0, 0);
    assert_pixel(&d, 5, 22 + 2 * 50 + 18 + 4, 0, 255, 0);
    assert_pixel(&d, 5, 22 + 2 * 50 + 3, 32, 32, 32); /* the pad above the legend */
    free(d.rgb);

    /* val: one row (striatum, 2 samples); width 4 + 2 * 32 = 68; the legend wraps. */
    snprintf(png, sizeof png, "%s/preview_task1_val.png", out);
    d = decode(png);
    ck_assert_uint_eq(d.w, 68);
    ck_assert_uint_eq(d.h, 22 + (22 + CELL) + 2 * 18 + 4);
    assert_pixel(&d, TILE_X(1) + 15, TILE_Y(0), 201, 201, 201);
    free(d.rgb);

    /* Nothing but the two PNGs in out_dir (no temp files left behind). */
    DIR *dir = opendir(out);
    ck_assert_ptr_nonnull(dir);
    int files = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL)
        if (e->d_name[0] != '.') {
            files++;
            ck_assert_msg(strcmp(e->d_name, "preview_task1_train.png") == 0 ||
                              strcmp(e->d_name, "preview_task1_val.png") == 0,
                          "unexpected %s", e->d_name);
        }
    closedir(dir);
    ck_assert_int_eq(files, 2);
}
END_TEST

START_TEST(test_classification_border)
{
    char h5[512], out[512], png[600];
    fixture fx = {.kind = "classification", .depth = 1};
    tmp_path(h5, sizeof h5, "task1.h5");
    tmp_path(out, sizeof out, "out");
    make_bundle(h5, &fx);
    run_preview(h5, out, 2);
    snprintf(png, sizeof png, "%s/preview_task1_train.png", out);
    decoded d = decode(png);
    ck_assert_uint_eq(d.w, TRAIN_W);
    ck_assert_uint_eq(d.h, TRAIN_H_LEGEND);
    /* Borders by label (i % 3): sample 0 -> class 0 white, 1 -> red, 2 -> green, 4 -> red. */
    assert_pixel(&d, CELL_X(0), CELL_Y(0), 255, 255, 255);
    assert_pixel(&d, CELL_X(1), CELL_Y(0), 255, 0, 0);
    assert_pixel(&d, CELL_X(2) + CELL - 1, CELL_Y(0) + CELL - 1, 0, 255, 0);
    assert_pixel(&d, CELL_X(3) + 5, CELL_Y(0) + 10, 255, 0, 0);
    assert_pixel(&d, CELL_X(0), CELL_Y(1), 0, 255, 0); /* sample 5 */
    /* The image inside the border is plain gray. */
    assert_pixel(&d, TILE_X(0), TILE_Y(0), 100, 100, 100);
    assert_pixel(&d, TILE_X(1) + 15, TILE_Y(0) + 15, 110, 110, 110);
    /* Legend (from y 122, 4 px pad): white "bg" at x 4, red at x 60, green on line 2. */
    assert_pixel(&d, 4, 126, 255, 255, 255);
    assert_pixel(&d, 60 + 13, 126 + 13, 255, 0, 0);
    assert_pixel(&d, 59, 126, 32, 32, 32);
    assert_pixel(&d, 4, 144, 0, 255, 0);
    free(d.rgb);
}
END_TEST

START_TEST(test_features_depth_first_slice)
{
    char h5[512], out[512], png[600];
    fixture fx = {.kind = "features", .depth = 3};
    tmp_path(h5, sizeof h5, "task3.h5");
    tmp_path(out, sizeof out, "out");
    make_bundle(h5, &fx);
    run_preview(h5, out, 2);
    snprintf(png, sizeof png, "%s/preview_task1_train.png", out);
    decoded d = decode(png);
    ck_assert_uint_eq(d.w, TRAIN_W);
    ck_assert_uint_eq(d.h, TRAIN_H_FEATURES);
    /* The window's first slice (the others are 0), no overlay, no border. */
    assert_pixel(&d, TILE_X(0), TILE_Y(0), 100, 100, 100);
    assert_pixel(&d, TILE_X(3) + 15, TILE_Y(0) + 15, 140, 140, 140);
    assert_pixel(&d, CELL_X(0), CELL_Y(0), 32, 32, 32);
    free(d.rgb);
}
END_TEST

START_TEST(test_deterministic_bytes)
{
    char h5[512], h5_fixed[512], out_a[512], out_b[512], out_c[512], png[600];
    fixture fx = {.kind = "segmentation", .depth = 1};
    fixture fixed = {.kind = "segmentation", .depth = 1, .fixed_strings = 1};
    tmp_path(h5, sizeof h5, "task2.h5");
    tmp_path(h5_fixed, sizeof h5_fixed, "task2_fixed.h5");
    tmp_path(out_a, sizeof out_a, "a");
    tmp_path(out_b, sizeof out_b, "b");
    tmp_path(out_c, sizeof out_c, "c");
    make_bundle(h5, &fx);
    make_bundle(h5_fixed, &fixed);
    run_preview(h5, out_a, 2);
    run_preview(h5, out_b, 2);
    run_preview(h5_fixed, out_c, 2); /* fixed-length string attributes read the same */
    size_t la, lb, lc;
    snprintf(png, sizeof png, "%s/preview_task1_train.png", out_a);
    uint8_t *a = fixture_slurp(png, &la);
    snprintf(png, sizeof png, "%s/preview_task1_train.png", out_b);
    uint8_t *b = fixture_slurp(png, &lb);
    snprintf(png, sizeof png, "%s/preview_task1_train.png", out_c);
    uint8_t *c = fixture_slurp(png, &lc);
    ck_assert_uint_eq(la, lb);
    ck_assert_int_eq(memcmp(a, b, la), 0);
    ck_assert_uint_eq(la, lc);
    ck_assert_int_eq(memcmp(a, c, la), 0);
    ck_assert(!fixture_contains(a, la, "tIME"));
    ck_assert(!fixture_contains(a, la, "tEXt"));
    ck_assert(!fixture_contains(a, la, "zTXt"));
    ck_assert(!fixture_contains(a, la, "iTXt"));
    free(a);
    free(b);
    free(c);
}
END_TEST

START_TEST(test_task_name_sanitized)
{
    char h5[512], out[512], png[600];
    fixture fx = {.kind = "features", .depth = 1, .task = "my task/1"};
    tmp_path(h5, sizeof h5, "odd.h5");
    tmp_path(out, sizeof out, "out");
    make_bundle(h5, &fx);
    run_preview(h5, out, 2);
    snprintf(png, sizeof png, "%s/preview_my_task_1_train.png", out);
    ck_assert_int_eq(access(png, F_OK), 0);
}
END_TEST

START_TEST(test_missing_images)
{
    char h5[512], out[512], want[700];
    fixture fx = {.kind = "segmentation", .depth = 1, .omit = "train"};
    tmp_path(h5, sizeof h5, "task1.h5");
    tmp_path(out, sizeof out, "out");
    make_bundle(h5, &fx);
    mtp_error err = MTP_ERROR_INIT;
    int written = -1;
    ck_assert_int_eq(mtp_preview_bundle(h5, out, &written, &err), MTP_EFORMAT);
    snprintf(want, sizeof want, "%s: /train/images: dataset not found", h5);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(written, 0);

    /* The second split failing keeps the first split's PNG and counts it. */
    fixture fx_val = {.kind = "segmentation", .depth = 1, .omit = "val"};
    make_bundle(h5, &fx_val);
    ck_assert_int_eq(mtp_preview_bundle(h5, out, &written, &err), MTP_EFORMAT);
    snprintf(want, sizeof want, "%s: /val/images: dataset not found", h5);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(written, 1);
}
END_TEST

START_TEST(test_not_hdf5)
{
    char path[512], out[512], want[700];
    tmp_path(path, sizeof path, "fake.h5");
    tmp_path(out, sizeof out, "out");
    FILE *f = fopen(path, "w");
    fputs("not an HDF5 file at all\n", f);
    fclose(f);
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_preview_bundle(path, out, NULL, &err), MTP_EFORMAT);
    snprintf(want, sizeof want, "%s: not an HDF5 file", path);
    ck_assert_str_eq(err.msg, want);
    /* Nothing was created for a file that is not a bundle. */
    ck_assert_int_ne(access(out, F_OK), 0);

    tmp_path(path, sizeof path, "missing.h5");
    ck_assert_int_eq(mtp_preview_bundle(path, out, NULL, &err), MTP_EIO);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
    ck_assert_str_eq(err.msg, want);
}
END_TEST

START_TEST(test_bad_attributes_and_shapes)
{
    char h5[512], out[512], want[700];
    tmp_path(h5, sizeof h5, "bad.h5");
    tmp_path(out, sizeof out, "out");
    mtp_error err = MTP_ERROR_INIT;

    /* No `kind` attribute. */
    hid_t file = H5Fcreate(h5, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const char *task = "task1";
    put_strings(file, "task", &task, 1, 1, 0);
    H5Fclose(file);
    ck_assert_int_eq(mtp_preview_bundle(h5, out, NULL, &err), MTP_EFORMAT);
    snprintf(want, sizeof want, "%s: /: missing attribute kind", h5);
    ck_assert_str_eq(err.msg, want);

    /* A slice wider than the cap: rejected before anything is allocated or read. (A
     * features task needs no `classes` attribute, so the attributes pass.) */
    file = H5Fcreate(h5, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const char *kind = "features";
    const char *split = "train";
    put_strings(file, "task", &task, 1, 1, 0);
    put_strings(file, "kind", &kind, 1, 1, 0);
    put_strings(file, "splits", &split, 1, 0, 0);
    hid_t group = H5Gcreate2(file, "train", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[3] = {1, 16, 5000}, chunk[3] = {1, 16, 500};
    hid_t space = H5Screate_simple(3, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 3, chunk);
    hid_t dset = H5Dcreate2(group, "images", H5T_STD_U8LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Dclose(dset);
    H5Pclose(dcpl);
    H5Sclose(space);
    H5Gclose(group);
    H5Fclose(file);
    ck_assert_int_eq(mtp_preview_bundle(h5, out, NULL, &err), MTP_ERANGE);
    snprintf(want, sizeof want, "%s: /train/images: slice 16x5000 not within 1x1 to 4096x4096", h5);
    ck_assert_str_eq(err.msg, want);

    /* Segmentation whose masks are missing. */
    fixture fx = {.kind = "segmentation", .depth = 1};
    make_bundle(h5, &fx);
    file = H5Fopen(h5, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(file, "/train/masks", H5P_DEFAULT);
    H5Fclose(file);
    ck_assert_int_eq(mtp_preview_bundle(h5, out, NULL, &err), MTP_EFORMAT);
    snprintf(want, sizeof want, "%s: /train/masks: dataset not found", h5);
    ck_assert_str_eq(err.msg, want);
}
END_TEST

START_TEST(test_write_png_roundtrip)
{
    char path[512];
    tmp_path(path, sizeof path, "tiny.png");
    const uint8_t rgb[2 * 3 * 3] = {1,   2,   3,   4, 5, 6, 7,   8,   9,
                                    250, 251, 252, 0, 0, 0, 255, 255, 255};
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_preview_write_png(path, rgb, 3, 2, &err), 0);
    decoded d = decode(path);
    ck_assert_uint_eq(d.w, 3);
    ck_assert_uint_eq(d.h, 2);
    ck_assert_int_eq(memcmp(d.rgb, rgb, sizeof rgb), 0);
    free(d.rgb);
    ck_assert_int_eq(mtp_preview_write_png(path, rgb, 0, 2, &err), MTP_EINVAL);
    char want[700];
    snprintf(want, sizeof want, "%s: invalid PNG size 0x2", path);
    ck_assert_str_eq(err.msg, want);
}
END_TEST

/* A release-sized case: 4 regions x 8 samples of 256x256, segmentation with 4 classes. */
START_TEST(test_realistic_size)
{
    enum { N = 32, E = 256 };
    static const char *const REGIONS[] = {"cortex", "striatum", "vp", "zi"};
    static const char *const SEG_CLASSES[] = {"background", "vessel", "cell", "axon"};
    char h5[512], out[512], png[600];
    tmp_path(h5, sizeof h5, "task2_2d_4class.h5");
    tmp_path(out, sizeof out, "out");
    hid_t file = H5Fcreate(h5, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const char *task = "task2_2d_4class", *kind = "segmentation", *split = "train";
    put_strings(file, "task", &task, 1, 1, 0);
    put_strings(file, "kind", &kind, 1, 1, 0);
    put_strings(file, "classes", SEG_CLASSES, 4, 0, 0);
    put_strings(file, "splits", &split, 1, 0, 0);
    hid_t group = H5Gcreate2(file, "train", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    uint8_t *images = malloc((size_t)N * E * E), *masks = malloc((size_t)N * E * E);
    uint8_t region[N];
    uint32_t seed = 12345;
    for (size_t i = 0; i < N; i++) {
        region[i] = (uint8_t)(i / 8);
        for (size_t y = 0; y < E; y++)
            for (size_t x = 0; x < E; x++) {
                /* Textured gray with noise, round "cells", a "vessel" band, "axon" lines. */
                seed = seed * 1103515245u + 12345u;
                int noise = (int)((seed >> 16) % 41) - 20;
                int v = 120 + (int)((x * 7 + y * 3 + i * 11) % 50) + noise;
                size_t at = (i * E + y) * E + x;
                long cx = (long)(x % 64) - 32, cy = (long)(y % 64) - 32;
                uint8_t m = 0;
                if (cx * cx + cy * cy < 100)
                    m = 2;
                else if (x >= 100 + i && x < 116 + i)
                    m = 1;
                else if ((x + 2 * y) % 40 < 3)
                    m = 3;
                images[at] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                masks[at] = m;
            }
    }
    hsize_t dims[3] = {N, E, E};
    put_dataset(group, "images", H5T_STD_U8LE, 3, dims, images);
    put_dataset(group, "masks", H5T_STD_U8LE, 3, dims, masks);
    hid_t region_type = make_enum(REGIONS, 4);
    put_dataset(group, "region", region_type, 1, dims, region);
    H5Tclose(region_type);
    H5Gclose(group);
    H5Fclose(file);
    free(images);
    free(masks);

    run_preview(h5, out, 1);
    snprintf(png, sizeof png, "%s/preview_task2_2d_4class_train.png", out);
    decoded d = decode(png);
    /* Tiles 128 (2x), cells 140, 4 columns: 4 + 4 * 144; 4 rows of 22 + 140; legend of
     * vessel/cell/axon (92 + 12 + 68 + 12 + 68 from x 4) on one line. */
    ck_assert_uint_eq(d.w, 580);
    ck_assert_uint_eq(d.h, 22 + 4 * (22 + 140) + 18 + 4);
    free(d.rgb);
    struct stat st;
    ck_assert_int_eq(stat(png, &st), 0);
    printf("realistic preview %zux%zu: %lld bytes\n", d.w, d.h, (long long)st.st_size);
}
END_TEST

Suite *mtp_test_suite(void)
{
    Suite *s = suite_create("preview");
    TCase *tc = tcase_create("preview");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_segmentation_overlay);
    tcase_add_test(tc, test_classification_border);
    tcase_add_test(tc, test_features_depth_first_slice);
    tcase_add_test(tc, test_deterministic_bytes);
    tcase_add_test(tc, test_task_name_sanitized);
    tcase_add_test(tc, test_missing_images);
    tcase_add_test(tc, test_not_hdf5);
    tcase_add_test(tc, test_bad_attributes_and_shapes);
    tcase_add_test(tc, test_write_png_roundtrip);
    tcase_add_test(tc, test_realistic_size);
    suite_add_tcase(s, tc);
    return s;
}
