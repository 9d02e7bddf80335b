/*
 * h5bundle.c — the task bundle writer (bundle format version 1, src/FORMAT.md §1): task and
 * split semantics (which samples, labels, masks, class counts, task 3 targets) on top of
 * h5write.c's file lifecycle and primitives.
 */
#include "mtp/h5bundle.h"

#include "h5write.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

/* ---------------------------------------------------------------------------------------
 * Task bundles
 */

typedef struct split_state {
    bool declared;
    size_t n;
    hid_t group, images, masks, labels, region, origin, targets;
    uint8_t *written;   /* n flags */
    uint8_t *label;     /* n class indices (classification) */
    uint8_t *region_of; /* n region indices */
    int64_t *origins;   /* 3n: z, y, x */
    /* Segmentation: mask voxels per value over the samples written so far (class_counts);
     * a rewritten sample's old mask is subtracted before its new one is added. */
    uint64_t mask_hist[256];
    /* Features: n * rows_per_slice target rows and which of them were written. */
    size_t nrows;
    mtp_feature_row *rows;
    uint8_t *row_written;
} split_state;

struct mtp_bundle {
    mtp_h5file f;
    const mtp_config *cfg;
    const mtp_task *task;
    int depth;
    hsize_t height, width;
    hid_t root;
    hid_t label_type;      /* enum of class names (classification) */
    hid_t region_type;     /* enum of region names */
    hid_t memspace;        /* one chunk: (1, h, w) or (1, 1, h, w) */
    hid_t target_mem;      /* features: compound type of mtp_feature_row in memory */
    hid_t target_disk;     /* features: the packed compound type in the file */
    size_t rows_per_slice; /* features: quadrants per slice */
    split_state splits[MTP_MAX_SPLITS];
};

static void split_release(split_state *s)
{
    mtp_h5_close(&s->targets);
    mtp_h5_close(&s->origin);
    mtp_h5_close(&s->region);
    mtp_h5_close(&s->labels);
    mtp_h5_close(&s->masks);
    mtp_h5_close(&s->images);
    mtp_h5_close(&s->group);
    free(s->written);
    free(s->label);
    free(s->region_of);
    free(s->origins);
    free(s->rows);
    free(s->row_written);
    s->written = s->label = s->region_of = s->row_written = NULL;
    s->origins = NULL;
    s->rows = NULL;
}

/* Close every HDF5 object but the file, and free the arrays. */
static void bundle_release(mtp_bundle *b)
{
    for (int i = 0; i < MTP_MAX_SPLITS; i++)
        split_release(&b->splits[i]);
    mtp_h5_close(&b->target_disk);
    mtp_h5_close(&b->target_mem);
    mtp_h5_close(&b->memspace);
    mtp_h5_close(&b->region_type);
    mtp_h5_close(&b->label_type);
    mtp_h5_close(&b->root);
}

void mtp_bundle_abort(mtp_bundle *b)
{
    if (b == NULL)
        return;
    bundle_release(b);
    mtp_h5file_abort(&b->f);
    free(b);
}

static bool task_has_split(const mtp_task *t, int split)
{
    for (int i = 0; i < t->nsplits; i++)
        if (t->splits[i] == split)
            return true;
    return false;
}

/* Validate the task against what this writer supports; set depth, height, width. */
static int check_task(mtp_bundle *b, int task, mtp_error *err)
{
    const mtp_config *cfg = b->cfg;
    if (task < 0 || task >= cfg->ntasks || task >= MTP_MAX_TASKS)
        return mtp_error_set(err, MTP_EINVAL, "bundle: task index %d out of range", task);
    const mtp_task *t = &cfg->tasks[task];
    b->task = t;
    if (t->kind != MTP_TASK_CLASSIFICATION && t->kind != MTP_TASK_SEGMENTATION &&
        t->kind != MTP_TASK_FEATURES)
        return mtp_error_set(err, MTP_EINVAL, "%s: unknown task kind %d", t->name, (int)t->kind);
    if (t->depth < 1 || t->depth > MTP_BUNDLE_MAX_DEPTH)
        return mtp_error_set(err, MTP_ERANGE, "%s: depth %d is not in 1..%d", t->name, t->depth,
                             MTP_BUNDLE_MAX_DEPTH);
    if (t->nclasses < 1 || t->nclasses > MTP_MAX_CLASSES)
        return mtp_error_set(err, MTP_EINVAL, "%s: %d classes (need 1..%d)", t->name, t->nclasses,
                             MTP_MAX_CLASSES);
    if (t->nsplits < 1 || t->nsplits > MTP_MAX_SPLITS)
        return mtp_error_set(err, MTP_EINVAL, "%s: %d splits (need 1..%d)", t->name, t->nsplits,
                             MTP_MAX_SPLITS);
    for (int i = 0; i < t->nsplits; i++) {
        int s = t->splits[i];
        if (s < 0 || s >= cfg->nsplits || s >= MTP_MAX_SPLITS)
            return mtp_error_set(err, MTP_EINVAL, "%s: split index %d out of range", t->name, s);
        const char *name = cfg->splits[s].name;
        if (!mtp_h5w_link_name_ok(name) || strcmp(name, "regions") == 0)
            return mtp_error_set(err, MTP_EINVAL,
                                 "%s: split name '%s' cannot be an HDF5 "
                                 "group name here",
                                 t->name, name);
    }
    if (t->image_channel < 0 || t->image_channel >= cfg->nchannels || t->label_channel < 0 ||
        t->label_channel >= cfg->nchannels)
        return mtp_error_set(err, MTP_EINVAL, "%s: channel index out of range", t->name);
    /* Every sample of a dataset has one shape: the regions the task uses must agree. */
    int first = -1;
    for (int r = 0; r < cfg->nregions; r++) {
        if (t->excluded[r])
            continue;
        const mtp_region *reg = &cfg->regions[r];
        hsize_t h = (hsize_t)(reg->y.stop - reg->y.start);
        hsize_t w = (hsize_t)(reg->x.stop - reg->x.start);
        if (first < 0) {
            first = r;
            b->height = h;
            b->width = w;
        } else if (h != b->height || w != b->width) {
            return mtp_error_set(err, MTP_EINVAL,
                                 "%s: region %s is %llux%llu but region %s "
                                 "is %llux%llu; a task's regions must have "
                                 "one size",
                                 t->name, reg->name, (unsigned long long)h, (unsigned long long)w,
                                 cfg->regions[first].name, (unsigned long long)b->height,
                                 (unsigned long long)b->width);
        }
    }
    if (first < 0)
        return mtp_error_set(err, MTP_EINVAL, "%s: every region is excluded", t->name);
    if ((uint64_t)b->height * b->width > MTP_BUNDLE_MAX_CHUNK_BYTES)
        return mtp_error_set(err, MTP_ERANGE, "%s: slices larger than %u bytes", t->name,
                             MTP_BUNDLE_MAX_CHUNK_BYTES);
    b->depth = t->depth;
    if (t->kind == MTP_TASK_FEATURES) {
        if (t->depth != 1)
            return mtp_error_set(err, MTP_EINVAL, "%s: features tasks have depth 1, not %d",
                                 t->name, t->depth);
        b->rows_per_slice = mtp_features_rows_per_slice(cfg, task, first);
        if (b->rows_per_slice == 0)
            return mtp_error_set(
                err, MTP_EINVAL, "%s: quadrant %d does not divide the %llux%llu slices", t->name,
                t->quadrant, (unsigned long long)b->height, (unsigned long long)b->width);
    }
    return 0;
}

static int bundle_root(mtp_bundle *b, const mtp_bundle_meta *meta, mtp_error *err)
{
    mtp_h5ctx c = {b->f.out.path, err};
    const mtp_config *cfg = b->cfg;
    const mtp_task *t = b->task;
    int err_code = mtp_h5w_attr_str(&c, b->root, "/", "format", MTP_BUNDLE_FORMAT);
    if (err_code == 0)
        err_code = mtp_h5w_attr_i32(&c, b->root, "/", "format_version", MTP_BUNDLE_FORMAT_VERSION);
    if (err_code == 0)
        err_code = mtp_h5w_attr_str(&c, b->root, "/", "task", t->name);
    if (err_code == 0)
        err_code = mtp_h5w_attr_str(&c, b->root, "/", "kind", mtp_task_kind_name(t->kind));
    if (err_code == 0)
        err_code = mtp_h5w_release_attrs(&c, b->root, cfg);
    int channels[2] = {t->image_channel, t->label_channel};
    int nch = t->label_channel == t->image_channel ? 1 : 2;
    if (err_code == 0)
        err_code = mtp_h5w_provenance_attrs(&c, b->root, cfg, meta, channels, nch,
                                            b->depth == 1 ? "sample,y,x" : "sample,z,y,x");
    const char *classes[MTP_MAX_CLASSES];
    for (int i = 0; i < t->nclasses; i++)
        classes[i] = t->classes[i];
    if (err_code == 0)
        err_code =
            mtp_h5w_attr_strings(&c, b->root, "/", "classes", classes, (size_t)t->nclasses, false);
    if (err_code == 0)
        err_code = mtp_h5w_regions_table(&c, b->root, cfg);
    return err_code;
}

static int target_types(mtp_bundle *b, mtp_error *err);

int mtp_bundle_create(mtp_bundle **out, const char *path, const mtp_config *cfg, int task,
                      const mtp_bundle_meta *meta, mtp_error *err)
{
    int rc = 0;
    mtp_bundle *b = NULL;
    if (out == NULL || cfg == NULL)
        return mtp_error_set(err, MTP_EINVAL, "bundle: out and cfg are required");
    *out = NULL;
    rc = mtp_h5w_check_inputs(meta, cfg, err);
    if (rc < 0)
        return rc;
    b = calloc(1, sizeof *b);
    if (b == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "bundle: out of memory");
    b->cfg = cfg;
    b->root = b->label_type = b->region_type = b->memspace = H5I_INVALID_HID;
    b->target_mem = b->target_disk = H5I_INVALID_HID;
    b->f.file = H5I_INVALID_HID;
    b->f.out.fd = -1;
    for (int i = 0; i < MTP_MAX_SPLITS; i++) {
        split_state *s = &b->splits[i];
        s->group = s->images = s->masks = s->labels = s->region = s->origin = H5I_INVALID_HID;
        s->targets = H5I_INVALID_HID;
    }
    rc = check_task(b, task, err);
    if (rc < 0)
        goto out;
    rc = mtp_h5file_create(&b->f, path, err);
    if (rc < 0)
        goto out;

    const mtp_task *t = b->task;
    const char *names[MTP_MAX_REGIONS > MTP_MAX_CLASSES ? MTP_MAX_REGIONS : MTP_MAX_CLASSES];
    for (int r = 0; r < cfg->nregions; r++)
        names[r] = cfg->regions[r].name;
    b->region_type = mtp_h5w_enum_type(names, cfg->nregions);
    if (t->kind == MTP_TASK_CLASSIFICATION) {
        for (int i = 0; i < t->nclasses; i++)
            names[i] = t->classes[i];
        b->label_type = mtp_h5w_enum_type(names, t->nclasses);
    }
    /* The memory space has the chunk's own shape: with any other shape HDF5 maps the
     * selection element by element (measured: 3x slower than deflate itself). */
    hsize_t one_chunk[4] = {1, 1, b->height, b->width};
    int rank = b->depth == 1 ? 3 : 4;
    b->memspace = H5Screate_simple(rank, one_chunk + (4 - rank), NULL);
    b->root = H5Gopen2(b->f.file, "/", H5P_DEFAULT);
    if (b->region_type < 0 || b->memspace < 0 || b->root < 0 ||
        (t->kind == MTP_TASK_CLASSIFICATION && b->label_type < 0)) {
        rc = mtp_h5w_fail(err, path, "enum types (class and region names must be unique)");
        goto out;
    }
    if (t->kind == MTP_TASK_FEATURES) {
        rc = target_types(b, err);
        if (rc < 0)
            goto out;
    }
    rc = bundle_root(b, meta, err);
out:
    if (rc < 0) {
        mtp_bundle_abort(b);
        b = NULL;
    }
    *out = b;
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Features: the targets table
 */

/* The fields of mtp_feature_row in file order, with their units and definitions. */
enum { TARGET_FIELDS = 9 };
static const char *const target_names[TARGET_FIELDS] = {
    "region",   "z",          "quadrant",       "slice_index",     "vessel_pct",
    "axon_pct", "cell_count", "mean_cell_area", "mean_nn_distance"};
static const char *const target_units[TARGET_FIELDS] = {
    "", "voxel", "", "", "percent", "percent", "cells", "pixels", "pixels"};

/* The memory and file compound types of a targets row. The region field is an enum of the
 * region names in both: int32-based in memory (mtp_feature_row.region), uint8 in the file. */
static int target_types(mtp_bundle *b, mtp_error *err)
{
    const mtp_config *cfg = b->cfg;
    int rc = 0;
    hid_t mem_region = H5Tenum_create(H5T_NATIVE_INT32);
    if (mem_region < 0)
        goto fail;
    for (int r = 0; r < cfg->nregions; r++) {
        int32_t v = r;
        if (H5Tenum_insert(mem_region, cfg->regions[r].name, &v) < 0)
            goto fail;
    }
    const size_t mem_off[TARGET_FIELDS] = {
        offsetof(mtp_feature_row, region),          offsetof(mtp_feature_row, z),
        offsetof(mtp_feature_row, quadrant),        offsetof(mtp_feature_row, slice_index),
        offsetof(mtp_feature_row, vessel_pct),      offsetof(mtp_feature_row, axon_pct),
        offsetof(mtp_feature_row, cell_count),      offsetof(mtp_feature_row, mean_cell_area),
        offsetof(mtp_feature_row, mean_nn_distance)};
    const hid_t mem_types[TARGET_FIELDS] = {mem_region,       H5T_NATIVE_INT64,  H5T_NATIVE_INT32,
                                            H5T_NATIVE_INT64, H5T_NATIVE_DOUBLE, H5T_NATIVE_DOUBLE,
                                            H5T_NATIVE_INT64, H5T_NATIVE_DOUBLE, H5T_NATIVE_DOUBLE};
    const hid_t disk_types[TARGET_FIELDS] = {b->region_type, H5T_STD_I64LE,  H5T_STD_I32LE,
                                             H5T_STD_I64LE,  H5T_IEEE_F64LE, H5T_IEEE_F64LE,
                                             H5T_STD_I64LE,  H5T_IEEE_F64LE, H5T_IEEE_F64LE};
    /* Packed in the file: no padding bytes, so nothing uninitialised can reach it. */
    size_t disk_size = 0;
    for (int i = 0; i < TARGET_FIELDS; i++)
        disk_size += H5Tget_size(disk_types[i]);
    b->target_mem = H5Tcreate(H5T_COMPOUND, sizeof(mtp_feature_row));
    b->target_disk = H5Tcreate(H5T_COMPOUND, disk_size);
    if (b->target_mem < 0 || b->target_disk < 0)
        goto fail;
    size_t off = 0;
    for (int i = 0; i < TARGET_FIELDS; i++) {
        if (H5Tinsert(b->target_mem, target_names[i], mem_off[i], mem_types[i]) < 0 ||
            H5Tinsert(b->target_disk, target_names[i], off, disk_types[i]) < 0)
            goto fail;
        off += H5Tget_size(disk_types[i]);
    }
    goto out;
fail:
    rc = mtp_h5w_fail(err, b->f.out.path, "targets row types");
out:
    mtp_h5_close(&mem_region);
    return rc;
}

/* "(y 0-128, x 0-128), (y 0-128, x 128-256), ..." for up to 16 quadrants, else the rule. */
static void quadrant_order(const mtp_bundle *b, char *buf, size_t cap)
{
    size_t q = (size_t)b->task->quadrant, across = (size_t)b->width / q;
    if (b->rows_per_slice > 16) {
        snprintf(buf, cap, "row-major: quadrant = (y / %zu) * %zu + x / %zu", q, across, q);
        return;
    }
    size_t len = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < b->rows_per_slice && len < cap; k++) {
        size_t y = k / across * q, x = k % across * q;
        int n = snprintf(buf + len, cap - len, "%s%zu = (y %zu-%zu, x %zu-%zu)", k ? ", " : "", k,
                         y, y + q, x, x + q);
        if (n < 0)
            break;
        len += (size_t)n;
    }
}

/* /<split>/targets: declared at add_split, written whole at finish. */
static int create_targets(mtp_bundle *b, split_state *s, const char *name, mtp_error *err)
{
    mtp_h5ctx c = {b->f.out.path, err};
    char where[MTP_NAME_MAX + 16];
    snprintf(where, sizeof where, "/%s/targets", name);
    hsize_t dims[1] = {s->nrows};
    hsize_t chunk[1] = {s->nrows < MTP_BUNDLE_TARGET_CHUNK_ROWS ? s->nrows
                                                                : MTP_BUNDLE_TARGET_CHUNK_ROWS};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t dcpl = mtp_h5w_creation_plist(H5P_DATASET_CREATE);
    int rc = 0;
    if (space < 0 || dcpl < 0 || H5Pset_chunk(dcpl, 1, chunk) < 0 ||
        (b->cfg->output.compression == MTP_COMPRESS_GZIP &&
         H5Pset_deflate(dcpl, (unsigned)b->cfg->output.level) < 0))
        goto fail;
    s->targets =
        H5Dcreate2(s->group, "targets", b->target_disk, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (s->targets < 0)
        goto fail;
    goto out;
fail:
    rc = mtp_h5w_fail(err, b->f.out.path, "create %s", where);
out:
    mtp_h5_close(&dcpl);
    mtp_h5_close(&space);
    if (rc < 0)
        return rc;

    const int q = b->task->quadrant;
    char order[1024], description[2048];
    quadrant_order(b, order, sizeof order);
    snprintf(description, sizeof description,
             "Task 3 targets: one row per (sample, quadrant) of this split's images; row "
             "slice_index * rows_per_slice + quadrant describes quadrant `quadrant` of "
             "images[slice_index], the %d x %d quadrants of each slice numbered %s",
             q, q, order);
    char defs[TARGET_FIELDS][1024];
    snprintf(defs[0], sizeof defs[0], "region of the slice (enum: region name -> row of /regions)");
    snprintf(defs[1], sizeof defs[1], "absolute z of the slice in the frame, in voxels");
    snprintf(defs[2], sizeof defs[2], "quadrant of the slice, 0..%zu, row-major: %.900s",
             b->rows_per_slice - 1, order);
    snprintf(defs[3], sizeof defs[3],
             "index of the slice in this split's images, region and origin");
    snprintf(defs[4], sizeof defs[4],
             "100 x pixels of class vessel in the quadrant / %d (the quadrant's pixels)", q * q);
    snprintf(defs[5], sizeof defs[5],
             "100 x pixels of class axon in the quadrant / %d (the quadrant's pixels)", q * q);
    snprintf(defs[6], sizeof defs[6],
             "number of cells with at least one pixel in the quadrant of this slice; cells = "
             "3-D 6-connected components (voxels sharing a face) of the cell class, computed "
             "per region stack over the split's slices, so a cell never crosses regions");
    snprintf(defs[7], sizeof defs[7],
             "mean over those cells of their pixel count inside the quadrant of this slice; 0 "
             "when there are none");
    snprintf(defs[8], sizeof defs[8],
             "mean over those cells of the Euclidean distance, in pixels, from the cell's "
             "centroid inside the quadrant to the nearest centroid of another cell in the "
             "quadrant; %g when fewer than 2 cells",
             MTP_FEATURES_NN_FILL);
    const char *def_ptrs[TARGET_FIELDS];
    for (int i = 0; i < TARGET_FIELDS; i++)
        def_ptrs[i] = defs[i];
    rc = mtp_h5w_dataset_labels(&c, s->targets, where, description, "row", NULL);
    if (rc == 0)
        rc = mtp_h5w_attr_strings(&c, s->targets, where, "field_names", target_names, TARGET_FIELDS,
                                  false);
    if (rc == 0)
        rc = mtp_h5w_attr_strings(&c, s->targets, where, "field_units", target_units, TARGET_FIELDS,
                                  false);
    if (rc == 0)
        rc = mtp_h5w_attr_strings(&c, s->targets, where, "field_definitions", def_ptrs,
                                  TARGET_FIELDS, false);
    int64_t quadrant = q, rows_per_slice = (int64_t)b->rows_per_slice;
    if (rc == 0)
        rc = mtp_h5w_attr_i64(&c, s->targets, where, "quadrant", &quadrant, 0);
    if (rc == 0)
        rc = mtp_h5w_attr_i64(&c, s->targets, where, "rows_per_slice", &rows_per_slice, 0);
    return rc;
}

size_t mtp_bundle_rows_per_slice(const mtp_bundle *b)
{
    return b == NULL || b->task->kind != MTP_TASK_FEATURES ? 0 : b->rows_per_slice;
}

/* One row against the task and split; NULL if fine, else the reason. */
static const char *check_row(const mtp_bundle *b, int split, size_t r, const mtp_feature_row *row,
                             char *why, size_t why_len)
{
    const mtp_config *cfg = b->cfg;
    const split_state *s = &b->splits[split];
    size_t rps = b->rows_per_slice;
    if (row->quadrant < 0 || (size_t)row->quadrant >= rps) {
        snprintf(why, why_len, "quadrant %" PRId32 " is not in 0..%zu", row->quadrant, rps - 1);
        return why;
    }
    if (row->slice_index < 0 || (uint64_t)row->slice_index >= s->n) {
        snprintf(why, why_len, "slice_index %" PRId64 " is not in 0..%zu", row->slice_index,
                 s->n - 1);
        return why;
    }
    if ((size_t)row->slice_index * rps + (size_t)row->quadrant != r) {
        snprintf(why, why_len, "quadrant %" PRId32 " of slice %" PRId64 " belongs in row %zu",
                 row->quadrant, row->slice_index,
                 (size_t)row->slice_index * rps + (size_t)row->quadrant);
        return why;
    }
    if (row->region < 0 || row->region >= cfg->nregions || b->task->excluded[row->region]) {
        snprintf(why, why_len, "region %" PRId32 " is not one of the task's regions", row->region);
        return why;
    }
    const mtp_range *z = &cfg->splits[split].z;
    if (row->z < z->start || row->z >= z->stop) {
        snprintf(why, why_len, "z %" PRId64 " is outside the split's z [%" PRId64 ", %" PRId64 ")",
                 row->z, z->start, z->stop);
        return why;
    }
    if (!(row->vessel_pct >= 0 && row->vessel_pct <= 100) ||
        !(row->axon_pct >= 0 && row->axon_pct <= 100))
        return "vessel_pct and axon_pct must be in [0, 100]";
    if (row->cell_count < 0)
        return "cell_count is negative";
    if (!(isfinite(row->mean_cell_area) && row->mean_cell_area >= 0) ||
        !(isfinite(row->mean_nn_distance) && row->mean_nn_distance >= 0))
        return "mean_cell_area and mean_nn_distance must be finite and >= 0";
    return NULL;
}

int mtp_bundle_write_targets(mtp_bundle *b, int split, size_t first_row,
                             const mtp_feature_row *rows, size_t nrows, mtp_error *err)
{
    if (b == NULL || (rows == NULL && nrows > 0))
        return mtp_error_set(err, MTP_EINVAL, "bundle: NULL handle or rows");
    if (b->task->kind != MTP_TASK_FEATURES)
        return mtp_error_set(err, MTP_EINVAL, "%s: task %s has no targets (kind is not features)",
                             b->f.out.path, b->task->name);
    if (split < 0 || split >= b->cfg->nsplits || !b->splits[split].declared)
        return mtp_error_set(err, MTP_EINVAL, "%s: split index %d was not declared", b->f.out.path,
                             split);
    split_state *s = &b->splits[split];
    const char *name = b->cfg->splits[split].name;
    if (first_row > s->nrows || nrows > s->nrows - first_row)
        return mtp_error_set(err, MTP_EINVAL,
                             "%s: /%s/targets rows %zu..%zu: the split has %zu rows", b->f.out.path,
                             name, first_row, first_row + nrows - 1, s->nrows);
    char why[256];
    for (size_t k = 0; k < nrows; k++) {
        const char *bad = check_row(b, split, first_row + k, &rows[k], why, sizeof why);
        if (bad != NULL)
            return mtp_error_set(err, MTP_EINVAL, "%s: /%s/targets row %zu: %s", b->f.out.path,
                                 name, first_row + k, bad);
    }
    if (nrows > 0) {
        memcpy(&s->rows[first_row], rows, nrows * sizeof *rows);
        memset(&s->row_written[first_row], 1, nrows);
    }
    return 0;
}

/* Finish: every row written and agreeing with its sample; then the dataset. */
static int split_targets(mtp_bundle *b, split_state *s, const char *name, mtp_error *err)
{
    for (size_t r = 0; r < s->nrows; r++) {
        if (!s->row_written[r])
            return mtp_error_set(err, MTP_EINVAL, "%s: /%s/targets row %zu was never written",
                                 b->f.out.path, name, r);
        const mtp_feature_row *row = &s->rows[r];
        size_t i = (size_t)row->slice_index;
        if (row->region != s->region_of[i] || row->z != s->origins[3 * i])
            return mtp_error_set(err, MTP_EINVAL,
                                 "%s: /%s/targets row %zu: region %s, z %" PRId64
                                 " differ from sample %zu's (region %s, z %" PRId64 ")",
                                 b->f.out.path, name, r, b->cfg->regions[row->region].name, row->z,
                                 i, b->cfg->regions[s->region_of[i]].name, s->origins[3 * i]);
    }
    if (H5Dwrite(s->targets, b->target_mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->rows) < 0)
        return mtp_h5w_fail(err, b->f.out.path, "write /%s/targets", name);
    return 0;
}

static int split_datasets(mtp_bundle *b, split_state *s, const char *name, mtp_error *err)
{
    mtp_h5ctx c = {b->f.out.path, err};
    const mtp_task *t = b->task;
    int rank = b->depth == 1 ? 3 : 4;
    hsize_t dims[4] = {s->n, (hsize_t)b->depth, b->height, b->width};
    if (rank == 3) {
        dims[1] = b->height;
        dims[2] = b->width;
    }
    const char *axes = rank == 3 ? "sample,y,x" : "sample,z,y,x";
    char where[MTP_NAME_MAX + 16];

    snprintf(where, sizeof where, "/%s/images", name);
    s->images = mtp_h5w_create_slices(&c, s->group, "images", where, rank, dims, &b->cfg->output);
    if (s->images < 0)
        return MTP_EFORMAT;
    int rc =
        mtp_h5w_dataset_labels(&c, s->images, where,
                               rank == 3 ? "image tiles, one slice per sample"
                                         : "image windows of consecutive slices, one per sample",
                               axes, "intensity (uint8)");
    if (rc < 0)
        return rc;

    if (t->kind == MTP_TASK_SEGMENTATION) {
        snprintf(where, sizeof where, "/%s/masks", name);
        s->masks = mtp_h5w_create_slices(&c, s->group, "masks", where, rank, dims, &b->cfg->output);
        if (s->masks < 0)
            return MTP_EFORMAT;
        rc = mtp_h5w_dataset_labels(&c, s->masks, where,
                                    "segmentation masks: the class index of every voxel of the "
                                    "matching image (names in the classes attribute)",
                                    axes, "class index");
        const char *classes[MTP_MAX_CLASSES];
        for (int i = 0; i < t->nclasses; i++)
            classes[i] = t->classes[i];
        if (rc == 0)
            rc = mtp_h5w_attr_strings(&c, s->masks, where, "classes", classes, (size_t)t->nclasses,
                                      false);
        if (rc < 0)
            return rc;
    } else if (t->kind == MTP_TASK_CLASSIFICATION) {
        snprintf(where, sizeof where, "/%s/labels", name);
        s->labels = mtp_h5w_create_small(&c, s->group, "labels", where, b->label_type, 1, dims);
        if (s->labels < 0)
            return MTP_EFORMAT;
        rc = mtp_h5w_dataset_labels(&c, s->labels, where,
                                    "reference class of each sample (enum: class name -> index)",
                                    "sample", NULL);
        if (rc < 0)
            return rc;
    }

    snprintf(where, sizeof where, "/%s/region", name);
    s->region = mtp_h5w_create_small(&c, s->group, "region", where, b->region_type, 1, dims);
    if (s->region < 0)
        return MTP_EFORMAT;
    rc = mtp_h5w_dataset_labels(
        &c, s->region, where, "region each sample came from (enum: region name -> row of /regions)",
        "sample", NULL);
    if (rc < 0)
        return rc;

    snprintf(where, sizeof where, "/%s/origin", name);
    hsize_t odims[2] = {s->n, 3};
    s->origin = mtp_h5w_create_small(&c, s->group, "origin", where, H5T_STD_I64LE, 2, odims);
    if (s->origin < 0)
        return MTP_EFORMAT;
    rc = mtp_h5w_dataset_labels(&c, s->origin, where,
                                "absolute (z, y, x) voxel coordinates of each sample's first voxel",
                                "sample,coordinate", "voxel");
    const char *zyx[3] = {"z", "y", "x"};
    if (rc == 0)
        rc = mtp_h5w_attr_strings(&c, s->origin, where, "coordinates", zyx, 3, false);
    if (rc == 0 && t->kind == MTP_TASK_FEATURES)
        rc = create_targets(b, s, name, err);
    return rc;
}

int mtp_bundle_add_split(mtp_bundle *b, int split, size_t n, mtp_error *err)
{
    if (b == NULL)
        return mtp_error_set(err, MTP_EINVAL, "bundle: NULL handle");
    const mtp_config *cfg = b->cfg;
    if (split < 0 || split >= cfg->nsplits || !task_has_split(b->task, split))
        return mtp_error_set(err, MTP_EINVAL,
                             "%s: split index %d is not one of task %s's "
                             "splits",
                             b->f.out.path, split, b->task->name);
    split_state *s = &b->splits[split];
    const char *name = cfg->splits[split].name;
    if (s->declared)
        return mtp_error_set(err, MTP_EINVAL, "%s: split %s declared twice", b->f.out.path, name);
    if (n > MTP_BUNDLE_MAX_SAMPLES)
        return mtp_error_set(err, MTP_ERANGE, "%s: split %s: %zu samples (at most %u)",
                             b->f.out.path, name, n, MTP_BUNDLE_MAX_SAMPLES);
    size_t nrows = n * b->rows_per_slice; /* both capped: no overflow */
    if (nrows > MTP_BUNDLE_MAX_TARGET_ROWS)
        return mtp_error_set(err, MTP_ERANGE, "%s: split %s: %zu target rows (at most %u)",
                             b->f.out.path, name, nrows, MTP_BUNDLE_MAX_TARGET_ROWS);
    s->declared = true;
    s->n = n;
    s->nrows = nrows;
    if (n == 0)
        return 0;
    s->written = calloc(n, 1);
    s->label = calloc(n, 1);
    s->region_of = calloc(n, 1);
    s->origins = calloc(n, 3 * sizeof *s->origins);
    if (s->written == NULL || s->label == NULL || s->region_of == NULL || s->origins == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "%s: split %s: out of memory", b->f.out.path, name);
    if (nrows > 0) {
        s->rows = calloc(nrows, sizeof *s->rows);
        s->row_written = calloc(nrows, 1);
        if (s->rows == NULL || s->row_written == NULL)
            return mtp_error_set(err, MTP_ENOMEM, "%s: split %s: out of memory", b->f.out.path,
                                 name);
    }

    mtp_h5ctx c = {b->f.out.path, err};
    hid_t gcpl = mtp_h5w_creation_plist(H5P_GROUP_CREATE);
    if (gcpl >= 0)
        s->group = H5Gcreate2(b->root, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    mtp_h5_close(&gcpl);
    if (s->group < 0)
        return mtp_h5w_fail(err, b->f.out.path, "create /%s", name);
    char where[MTP_NAME_MAX + 2];
    snprintf(where, sizeof where, "/%s", name);
    int64_t count = (int64_t)n;
    int64_t z_range[2] = {cfg->splits[split].z.start, cfg->splits[split].z.stop};
    int rc = mtp_h5w_attr_i64(&c, s->group, where, "count", &count, 0);
    if (rc == 0)
        rc = mtp_h5w_attr_i64(&c, s->group, where, "z_range", z_range, 2);
    if (rc == 0)
        rc = split_datasets(b, s, name, err);
    return rc;
}

static int check_sample(const mtp_bundle *b, int split, size_t i, const mtp_bundle_sample *smp,
                        mtp_error *err)
{
    const mtp_config *cfg = b->cfg;
    const mtp_task *t = b->task;
    const char *path = b->f.out.path;
    if (split < 0 || split >= cfg->nsplits || !b->splits[split].declared)
        return mtp_error_set(err, MTP_EINVAL, "%s: split index %d was not declared", path, split);
    const split_state *s = &b->splits[split];
    const char *name = cfg->splits[split].name;
    if (i >= s->n)
        return mtp_error_set(err, MTP_EINVAL, "%s: /%s sample %zu: the split has %zu samples", path,
                             name, i, s->n);
    if (smp == NULL || smp->image == NULL)
        return mtp_error_set(err, MTP_EINVAL, "%s: /%s sample %zu: no image", path, name, i);
    if ((t->kind == MTP_TASK_SEGMENTATION) != (smp->mask != NULL))
        return mtp_error_set(err, MTP_EINVAL,
                             "%s: /%s sample %zu: a mask is required for "
                             "segmentation tasks and only for them",
                             path, name, i);
    if (t->kind == MTP_TASK_CLASSIFICATION && (smp->label < 0 || smp->label >= t->nclasses))
        return mtp_error_set(err, MTP_EINVAL, "%s: /%s sample %zu: label %d is not in 0..%d", path,
                             name, i, smp->label, t->nclasses - 1);
    if (smp->region < 0 || smp->region >= cfg->nregions || t->excluded[smp->region])
        return mtp_error_set(err, MTP_EINVAL,
                             "%s: /%s sample %zu: region %d is not one of "
                             "the task's regions",
                             path, name, i, smp->region);
    const mtp_region *reg = &cfg->regions[smp->region];
    const mtp_range *z = &cfg->splits[split].z;
    if (smp->origin[1] != reg->y.start || smp->origin[2] != reg->x.start ||
        smp->origin[0] < z->start || smp->origin[0] > z->stop - b->depth)
        return mtp_error_set(err, MTP_EINVAL,
                             "%s: /%s sample %zu: origin (%" PRId64 ", %" PRId64 ", %" PRId64
                             ") is outside region "
                             "%s over z [%" PRId64 ", %" PRId64 ")",
                             path, name, i, smp->origin[0], smp->origin[1], smp->origin[2],
                             reg->name, z->start, z->stop);
    return 0;
}

/* Count the sample's mask voxels per value into hist; every value must be a class. */
static int check_mask(const mtp_bundle *b, int split, size_t i, const uint8_t *mask,
                      uint64_t hist[256], mtp_error *err)
{
    size_t bytes = (size_t)b->depth * (size_t)(b->height * b->width);
    /* Four interleaved histograms: consecutive equal values (runs of background) would
     * otherwise serialise on one counter. */
    uint64_t part[4][256];
    memset(part, 0, sizeof part);
    size_t k = 0;
    for (; k + 4 <= bytes; k += 4) {
        part[0][mask[k]]++;
        part[1][mask[k + 1]]++;
        part[2][mask[k + 2]]++;
        part[3][mask[k + 3]]++;
    }
    for (; k < bytes; k++)
        part[0][mask[k]]++;
    for (int v = 0; v < 256; v++)
        hist[v] += part[0][v] + part[1][v] + part[2][v] + part[3][v];
    for (int v = b->task->nclasses; v < 256; v++)
        if (hist[v] != 0)
            return mtp_error_set(err, MTP_EINVAL,
                                 "%s: /%s sample %zu: mask value %d is not in 0..%d", b->f.out.path,
                                 b->cfg->splits[split].name, i, v, b->task->nclasses - 1);
    return 0;
}

/* Sample i is about to be replaced: take its old mask, read back from the file, out of the
 * split's histogram. Rewrites are rare, so keeping no per-sample histograms is the better
 * trade (a split may hold 2^24 samples). */
static int forget_mask(mtp_bundle *b, int split, size_t i, mtp_error *err)
{
    split_state *s = &b->splits[split];
    int rank = b->depth == 1 ? 3 : 4;
    size_t slice = (size_t)(b->height * b->width);
    uint8_t *old = malloc(slice);
    if (old == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "%s: out of memory", b->f.out.path);
    int rc = 0;
    for (int d = 0; d < b->depth && rc == 0; d++) {
        hsize_t index[2] = {i, (hsize_t)d};
        if (mtp_h5_read_slice(s->masks, b->memspace, rank, index[0], index[1], b->height, b->width,
                              old) < 0) {
            rc = mtp_h5w_fail(err, b->f.out.path, "read back /%s/masks sample %zu",
                              b->cfg->splits[split].name, i);
            break;
        }
        for (size_t k = 0; k < slice; k++)
            s->mask_hist[old[k]]--;
    }
    free(old);
    return rc;
}

/* The chunks a caller gave for `depth` slices of `raw`, each checked; "what" names them. */
static int check_chunks(const char *path, const char *split, size_t i, const char *what,
                        const mtp_chunk *chunks, const uint8_t *raw, int depth, size_t slice,
                        int level, mtp_error *err)
{
    char why[160];
    for (int d = 0; d < depth; d++) {
        const char *bad =
            mtp_h5w_check_chunk(&chunks[d], raw + (size_t)d * slice, slice, level, why, sizeof why);
        if (bad != NULL)
            return mtp_error_set(err, MTP_EINVAL, "%s: /%s sample %zu: %s chunk %d: %s", path,
                                 split, i, what, d, bad);
    }
    return 0;
}

int mtp_bundle_write_sample(mtp_bundle *b, int split, size_t i, const mtp_bundle_sample *smp,
                            mtp_error *err)
{
    return mtp_bundle_write_sample_chunks(b, split, i, smp, NULL, NULL, err);
}

int mtp_bundle_write_sample_chunks(mtp_bundle *b, int split, size_t i, const mtp_bundle_sample *smp,
                                   const mtp_chunk *image_chunks, const mtp_chunk *mask_chunks,
                                   mtp_error *err)
{
    if (b == NULL)
        return mtp_error_set(err, MTP_EINVAL, "bundle: NULL handle");
    int rc = check_sample(b, split, i, smp, err);
    if (rc < 0)
        return rc;
    const char *split_name = b->cfg->splits[split].name;
    if (smp->mask == NULL && mask_chunks != NULL)
        return mtp_error_set(err, MTP_EINVAL, "%s: /%s sample %zu: mask chunks without a mask",
                             b->f.out.path, split_name, i);
    /* Precompressed chunks are bytes for the deflate filter: with "none" the raw slices go. */
    if (b->cfg->output.compression != MTP_COMPRESS_GZIP) {
        image_chunks = NULL;
        mask_chunks = NULL;
    }
    size_t slice_bytes = (size_t)(b->height * b->width);
    if (image_chunks != NULL)
        rc = check_chunks(b->f.out.path, split_name, i, "image", image_chunks, smp->image, b->depth,
                          slice_bytes, b->cfg->output.level, err);
    if (rc == 0 && mask_chunks != NULL)
        rc = check_chunks(b->f.out.path, split_name, i, "mask", mask_chunks, smp->mask, b->depth,
                          slice_bytes, b->cfg->output.level, err);
    if (rc < 0)
        return rc;
    split_state *s = &b->splits[split];
    const char *name = b->cfg->splits[split].name;
    int rank = b->depth == 1 ? 3 : 4;
    size_t slice = (size_t)(b->height * b->width);
    uint64_t hist[256] = {0};
    if (smp->mask != NULL) {
        rc = check_mask(b, split, i, smp->mask, hist, err);
        if (rc == 0 && s->written[i])
            rc = forget_mask(b, split, i, err);
        if (rc < 0)
            return rc;
    }
    for (int d = 0; d < b->depth; d++) {
        hsize_t index[2] = {i, (hsize_t)d};
        size_t off = (size_t)d * slice;
        if (mtp_h5w_write_slice(s->images, rank, index, b->height, b->width, b->memspace,
                                smp->image + off, image_chunks != NULL ? &image_chunks[d] : NULL,
                                &b->cfg->output) < 0)
            return mtp_h5w_fail(err, b->f.out.path, "write /%s/images sample %zu", name, i);
        if (smp->mask != NULL &&
            mtp_h5w_write_slice(s->masks, rank, index, b->height, b->width, b->memspace,
                                smp->mask + off, mask_chunks != NULL ? &mask_chunks[d] : NULL,
                                &b->cfg->output) < 0)
            return mtp_h5w_fail(err, b->f.out.path, "write /%s/masks sample %zu", name, i);
    }
    for (int v = 0; v < 256; v++)
        s->mask_hist[v] += hist[v];
    s->label[i] = b->task->kind == MTP_TASK_CLASSIFICATION ? (uint8_t)smp->label : 0;
    s->region_of[i] = (uint8_t)smp->region;
    memcpy(&s->origins[3 * i], smp->origin, sizeof smp->origin);
    s->written[i] = 1;
    return 0;
}

int mtp_bundle_split_attr(mtp_bundle *b, int split, const char *name, int64_t value,
                          const char *description, mtp_error *err)
{
    if (b == NULL || name == NULL || name[0] == '\0')
        return mtp_error_set(err, MTP_EINVAL, "bundle: NULL handle or empty attribute name");
    if (split < 0 || split >= b->cfg->nsplits || !b->splits[split].declared)
        return mtp_error_set(err, MTP_EINVAL, "%s: split index %d was not declared", b->f.out.path,
                             split);
    split_state *s = &b->splits[split];
    if (s->n == 0)
        return 0;
    mtp_h5ctx c = {b->f.out.path, err};
    char where[MTP_NAME_MAX + 2];
    snprintf(where, sizeof where, "/%s", b->cfg->splits[split].name);
    int rc = mtp_h5w_attr_i64(&c, s->group, where, name, &value, 0);
    if (rc == 0 && description != NULL) {
        char desc_name[256];
        int len = snprintf(desc_name, sizeof desc_name, "%s_description", name);
        if (len < 0 || (size_t)len >= sizeof desc_name)
            return mtp_error_set(err, MTP_ERANGE, "%s: attribute name too long", b->f.out.path);
        rc = mtp_h5w_attr_str(&c, s->group, where, desc_name, description);
    }
    return rc;
}

/* class_counts and region_counts (with descriptions) on the group of a written split. */
static int split_balance(mtp_bundle *b, split_state *s, const char *name, mtp_error *err)
{
    const mtp_config *cfg = b->cfg;
    const mtp_task *t = b->task;
    int64_t classes[MTP_MAX_CLASSES] = {0}, regions[MTP_MAX_REGIONS] = {0};
    for (size_t i = 0; i < s->n; i++) {
        if (t->kind == MTP_TASK_CLASSIFICATION)
            classes[s->label[i]]++;
        regions[s->region_of[i]]++;
    }
    if (t->kind == MTP_TASK_SEGMENTATION)
        for (int c = 0; c < t->nclasses; c++)
            classes[c] = (int64_t)s->mask_hist[c];
    mtp_h5ctx c = {b->f.out.path, err};
    char where[MTP_NAME_MAX + 2];
    snprintf(where, sizeof where, "/%s", name);
    int rc = 0;
    /* Features files carry no masks, so there is nothing to count per class. */
    if (t->kind != MTP_TASK_FEATURES)
        rc = mtp_h5w_attr_i64(&c, s->group, where, "class_counts", classes, (size_t)t->nclasses);
    if (rc == 0 && t->kind != MTP_TASK_FEATURES)
        rc = mtp_h5w_attr_str(&c, s->group, where, "class_counts_description",
                              t->kind == MTP_TASK_CLASSIFICATION
                                  ? "samples per class, in the order of the classes attribute"
                                  : "mask voxels per class, in the order of the classes attribute");
    if (rc == 0)
        rc = mtp_h5w_attr_i64(&c, s->group, where, "region_counts", regions, (size_t)cfg->nregions);
    if (rc == 0)
        rc = mtp_h5w_attr_str(&c, s->group, where, "region_counts_description",
                              "samples per region, in the order of /regions");
    return rc;
}

/* Write the per-sample arrays kept in memory: labels, region, origin. */
static int split_tables(mtp_bundle *b, split_state *s, const char *name, mtp_error *err)
{
    if (s->labels >= 0 &&
        H5Dwrite(s->labels, b->label_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->label) < 0)
        return mtp_h5w_fail(err, b->f.out.path, "write /%s/labels", name);
    if (H5Dwrite(s->region, b->region_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->region_of) < 0)
        return mtp_h5w_fail(err, b->f.out.path, "write /%s/region", name);
    if (H5Dwrite(s->origin, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->origins) < 0)
        return mtp_h5w_fail(err, b->f.out.path, "write /%s/origin", name);
    if (s->targets >= 0)
        return split_targets(b, s, name, err);
    return 0;
}

int mtp_bundle_finish(mtp_bundle *b, mtp_error *err)
{
    if (b == NULL)
        return mtp_error_set(err, MTP_EINVAL, "bundle: NULL handle");
    int rc = 0;
    const mtp_config *cfg = b->cfg;
    const mtp_task *t = b->task;
    const char *split_names[MTP_MAX_SPLITS];
    int64_t counts[MTP_MAX_SPLITS];
    size_t nwritten = 0;
    for (int k = 0; k < t->nsplits; k++) {
        int si = t->splits[k];
        split_state *s = &b->splits[si];
        const char *name = cfg->splits[si].name;
        if (!s->declared) {
            rc = mtp_error_set(err, MTP_EINVAL, "%s: split %s was never declared", b->f.out.path,
                               name);
            goto out;
        }
        for (size_t i = 0; i < s->n; i++) {
            if (!s->written[i]) {
                rc = mtp_error_set(err, MTP_EINVAL, "%s: /%s sample %zu was never written",
                                   b->f.out.path, name, i);
                goto out;
            }
        }
        if (s->n == 0)
            continue;
        rc = split_tables(b, s, name, err);
        if (rc == 0)
            rc = split_balance(b, s, name, err);
        if (rc < 0)
            goto out;
        split_names[nwritten] = name;
        counts[nwritten] = (int64_t)s->n;
        nwritten++;
    }
    mtp_h5ctx c = {b->f.out.path, err};
    rc = mtp_h5w_attr_strings(&c, b->root, "/", "splits", split_names, nwritten, false);
    if (rc == 0)
        rc = mtp_h5w_attr_i64(&c, b->root, "/", "counts", counts, nwritten);
    if (rc < 0)
        goto out;
    bundle_release(b);
    rc = mtp_h5file_finish(&b->f, err);
    free(b);
    return rc;
out:
    mtp_bundle_abort(b);
    return rc;
}

int mtp_bundle_fd(const mtp_bundle *b)
{
    return b == NULL ? -1 : mtp_h5file_fd(&b->f);
}
