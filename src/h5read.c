/*
 * h5read.c — bundle files read back: summary (structure and recorded attributes only); the
 * content check that reads every byte is h5check.c, through the helpers shared here.
 *
 * Internal helpers report failures as "<object>: <what>" without the file; the public
 * functions add "<path>: " (summary) or "<base name>: " (check's problem lines), so one set
 * of helpers serves both the strict summary and the tolerant check.
 */
#include "mtp/h5read.h"

#include "h5read_internal.h"
#include "h5util.h"
#include "mtp/isolate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hdf5.h>

#include "mtp/h5bundle.h"

/* ---------------------------------------------------------------------------------------
 * HDF5 plumbing
 */

/* ---------------------------------------------------------------------------------------
 * Datasets and groups
 */

bool mtp_h5r_has_link(hid_t loc, const char *name)
{
    htri_t has = H5Lexists(loc, name, H5P_DEFAULT);
    if (has < 0)
        H5Eclear2(H5E_DEFAULT);
    return has > 0;
}

/* Open dataset `name` in group loc (whose path is gwhere, "" for the root). */
int mtp_h5r_open_dataset(hid_t loc, const char *gwhere, const char *name, hid_t *dset, mtp_error *e)
{
    *dset = H5I_INVALID_HID;
    if (!mtp_h5r_has_link(loc, name))
        return mtp_error_set(e, MTP_EFORMAT, "%s/%s: missing dataset", gwhere, name);
    *dset = H5Dopen2(loc, name, H5P_DEFAULT);
    if (*dset < 0) {
        char in[512];
        return mtp_error_set(e, MTP_EFORMAT, "%s/%s: not a dataset: %s", gwhere, name,
                             mtp_h5_reason(in, sizeof in));
    }
    return 0;
}

int mtp_h5r_open_group(hid_t loc, const char *name, hid_t *group, mtp_error *e)
{
    *group = H5I_INVALID_HID;
    if (!mtp_h5r_has_link(loc, name))
        return mtp_error_set(e, MTP_EFORMAT, "/%s: missing group", name);
    *group = H5Gopen2(loc, name, H5P_DEFAULT);
    if (*group < 0) {
        char in[512];
        return mtp_error_set(e, MTP_EFORMAT, "/%s: not a group: %s", name,
                             mtp_h5_reason(in, sizeof in));
    }
    return 0;
}

/* "uint8", "int64", "enum(uint8)", "float64", "compound", "string" or "other". */
static void dtype_name(hid_t type, char *buf, size_t cap)
{
    size_t bits = H5Tget_size(type) * 8;
    switch (H5Tget_class(type)) {
    case H5T_INTEGER:
        snprintf(buf, cap, "%sint%zu", H5Tget_sign(type) == H5T_SGN_NONE ? "u" : "", bits);
        break;
    case H5T_FLOAT:
        snprintf(buf, cap, "float%zu", bits);
        break;
    case H5T_ENUM: {
        char base[16] = "other";
        hid_t super = H5Tget_super(type);
        if (super >= 0)
            dtype_name(super, base, sizeof base);
        mtp_h5_close(&super);
        snprintf(buf, cap, "enum(%s)", base);
        break;
    }
    case H5T_COMPOUND:
        snprintf(buf, cap, "compound");
        break;
    case H5T_STRING:
        snprintf(buf, cap, "string");
        break;
    default:
        snprintf(buf, cap, "other");
        break;
    }
}

/* Shape, type and sizes of an open dataset into ds (name given). Rank must be 1..4. */
int mtp_h5r_describe(hid_t dset, const char *where, const char *name, mtp_dataset_summary *ds,
                     mtp_error *e)
{
    memset(ds, 0, sizeof *ds);
    snprintf(ds->name, sizeof ds->name, "%s", name);
    hid_t space = H5Dget_space(dset), type = H5Dget_type(dset);
    int rc = 0;
    char in[512];
    if (space < 0 || type < 0) {
        rc = mtp_error_set(e, MTP_EFORMAT, "%s: %s", where, mtp_h5_reason(in, sizeof in));
        goto out;
    }
    int rank = H5Sget_simple_extent_ndims(space);
    if (rank < 1 || rank > 4) {
        rc = mtp_error_set(e, MTP_EFORMAT, "%s: rank %d (expected 1 to 4)", where, rank);
        goto out;
    }
    hsize_t dims[4] = {0, 0, 0, 0};
    H5Sget_simple_extent_dims(space, dims, NULL);
    ds->ndims = rank;
    uint64_t npoints = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] > (hsize_t)INT64_MAX || (dims[i] > 0 && npoints > UINT64_MAX / dims[i])) {
            rc = mtp_error_set(e, MTP_ERANGE, "%s: dimension %d is too large", where, i);
            goto out;
        }
        ds->shape[i] = (int64_t)dims[i];
        npoints *= dims[i];
    }
    dtype_name(type, ds->dtype, sizeof ds->dtype);
    size_t size = H5Tget_size(type);
    ds->raw_bytes = size > 0 && npoints <= UINT64_MAX / size ? npoints * size : UINT64_MAX;
    ds->stored_bytes = H5Dget_storage_size(dset);
out:
    mtp_h5_close(&type);
    mtp_h5_close(&space);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * /regions
 */

int mtp_h5r_read_regions(hid_t file, mtp_h5r_region *rows, int *nrows, mtp_dataset_summary *ds,
                         mtp_error *e)
{
    hid_t dset = H5I_INVALID_HID, ftype = H5I_INVALID_HID, fname = H5I_INVALID_HID;
    hid_t str = H5I_INVALID_HID, mem = H5I_INVALID_HID;
    char in[512];
    *nrows = 0;
    int rc = mtp_h5r_open_dataset(file, "", "regions", &dset, e);
    if (rc == 0)
        rc = mtp_h5r_describe(dset, "/regions", "regions", ds, e);
    if (rc < 0)
        goto out;
    if (ds->ndims != 1 || ds->shape[0] < 1 || ds->shape[0] > MTP_MAX_REGIONS) {
        rc = mtp_error_set(e, MTP_EFORMAT, "/regions: expected 1 to %d rows in a 1-D table",
                           MTP_MAX_REGIONS);
        goto out;
    }
    ftype = H5Dget_type(dset);
    int member =
        ftype >= 0 && H5Tget_class(ftype) == H5T_COMPOUND ? H5Tget_member_index(ftype, "name") : -1;
    if (member >= 0)
        fname = H5Tget_member_type(ftype, (unsigned)member);
    if (fname < 0 || H5Tget_class(fname) != H5T_STRING || H5Tis_variable_str(fname) != 0 ||
        H5Tget_size(fname) > MTP_NAME_MAX) {
        H5Eclear2(H5E_DEFAULT);
        rc = mtp_error_set(e, MTP_EFORMAT,
                           "/regions: expected a compound with a fixed-length string 'name' of "
                           "at most %d bytes",
                           MTP_NAME_MAX);
        goto out;
    }
    str = H5Tcopy(H5T_C_S1);
    mem = H5Tcreate(H5T_COMPOUND, sizeof(mtp_h5r_region));
    const char *fields[4] = {"x0", "x1", "y0", "y1"};
    const size_t offsets[4] = {offsetof(mtp_h5r_region, x0), offsetof(mtp_h5r_region, x1),
                               offsetof(mtp_h5r_region, y0), offsetof(mtp_h5r_region, y1)};
    bool ok = str >= 0 && mem >= 0 && H5Tset_size(str, MTP_NAME_MAX) >= 0 &&
              H5Tset_strpad(str, H5T_STR_NULLTERM) >= 0 &&
              H5Tset_cset(str, H5Tget_cset(fname)) >= 0 &&
              H5Tinsert(mem, "name", offsetof(mtp_h5r_region, name), str) >= 0;
    for (int i = 0; ok && i < 4; i++)
        ok = H5Tinsert(mem, fields[i], offsets[i], H5T_NATIVE_INT64) >= 0;
    if (!ok || H5Dread(dset, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) < 0) {
        rc = mtp_error_set(e, MTP_EFORMAT, "/regions: %s", mtp_h5_reason(in, sizeof in));
        goto out;
    }
    for (int r = 0; r < (int)ds->shape[0]; r++) {
        rows[r].name[MTP_NAME_MAX - 1] = '\0';
        if (rows[r].name[0] == '\0') {
            rc = mtp_error_set(e, MTP_EFORMAT, "/regions: row %d has an empty name", r);
            goto out;
        }
    }
    *nrows = (int)ds->shape[0];
out:
    mtp_h5_close(&mem);
    mtp_h5_close(&str);
    mtp_h5_close(&fname);
    mtp_h5_close(&ftype);
    mtp_h5_close(&dset);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Opening a file and its root
 */

const char *mtp_h5r_base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL && slash[1] != '\0' ? slash + 1 : path;
}

/* Open read-only; MTP_EIO if it cannot be stat'ed, MTP_EFORMAT if it is not HDF5. */
static int open_file(const char *path, hid_t *file, mtp_error *e)
{
    *file = H5I_INVALID_HID;
    if (path == NULL || path[0] == '\0')
        return mtp_error_set(e, MTP_EINVAL, "empty path");
    struct stat st;
    if (stat(path, &st) != 0)
        return mtp_error_set(e, MTP_EIO, "%s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return mtp_error_set(e, MTP_EIO, "not a regular file");
    if (H5Fis_hdf5(path) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return mtp_error_set(e, MTP_EFORMAT, "not an HDF5 file");
    }
    *file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*file < 0) {
        char in[512];
        return mtp_error_set(e, MTP_EFORMAT, "cannot open: %s", mtp_h5_reason(in, sizeof in));
    }
    return 0;
}

/* format and format_version of the root. */
int mtp_h5r_root_format(hid_t root, mtp_h5r_format *format, int *version, mtp_error *e)
{
    char name[MTP_NAME_MAX];
    int rc = mtp_h5_attr_string(root, "/", "format", name, sizeof name, e);
    if (rc < 0)
        return rc == MTP_ERANGE ? mtp_error_set(e, MTP_EFORMAT, "format is not %s or %s",
                                                MTP_BUNDLE_FORMAT, MTP_VOLUMES_FORMAT)
                                : rc;
    if (strcmp(name, MTP_BUNDLE_FORMAT) == 0)
        *format = MTP_H5R_BUNDLE;
    else if (strcmp(name, MTP_VOLUMES_FORMAT) == 0)
        *format = MTP_H5R_VOLUMES;
    else
        return mtp_error_set(e, MTP_EFORMAT, "format is '%s', not %s or %s", name,
                             MTP_BUNDLE_FORMAT, MTP_VOLUMES_FORMAT);
    int64_t v = 0;
    rc = mtp_h5_attr_int(root, "/", "format_version", &v, e);
    if (rc < 0)
        return rc;
    if (v != MTP_BUNDLE_FORMAT_VERSION)
        return mtp_error_set(e, MTP_EFORMAT,
                             "format_version %lld is not supported (this "
                             "reader reads %d)",
                             (long long)v, MTP_BUNDLE_FORMAT_VERSION);
    *version = (int)v;
    return 0;
}

static int kind_known(const char *kind)
{
    return strcmp(kind, "classification") == 0 || strcmp(kind, "segmentation") == 0 ||
           strcmp(kind, "features") == 0;
}

/* Common root attributes of both formats (not task, kind, classes). */
static int provenance(hid_t root, mtp_bundle_summary *out, mtp_error *e)
{
    int rc = mtp_h5_attr_string(root, "/", "title", out->title, sizeof out->title, e);
    if (rc == 0)
        rc = mtp_h5_attr_string(root, "/", "builder", out->builder, sizeof out->builder, e);
    if (rc == 0)
        rc = mtp_h5_attr_string(root, "/", "config_sha256", out->config_sha256,
                                sizeof out->config_sha256, e);
    if (rc == 0)
        rc = mtp_h5_attr_string(root, "/", "source", out->source, sizeof out->source, e);
    return rc;
}

int mtp_h5r_read_bundle_root(hid_t file, hid_t root, mtp_bundle_summary *out,
                             mtp_h5r_bundle_root *br, mtp_error *e)
{
    int rc = mtp_h5_attr_string(root, "/", "task", out->task, sizeof out->task, e);
    if (rc == 0)
        rc = mtp_h5_attr_string(root, "/", "kind", out->kind, sizeof out->kind, e);
    if (rc == 0 && !kind_known(out->kind))
        rc = mtp_error_set(e, MTP_EFORMAT,
                           "/: kind '%s' is not classification, segmentation or features",
                           out->kind);
    if (rc == 0)
        rc = provenance(root, out, e);
    size_t n = 0;
    /* Features files may name their classes (the label classes the targets are about). */
    bool features = rc == 0 && strcmp(out->kind, "features") == 0;
    if (rc == 0 && (!features || H5Aexists(root, "classes") > 0)) {
        rc = mtp_h5_attr_strings(root, "/", "classes", &out->classes[0][0], MTP_NAME_MAX,
                                 MTP_MAX_CLASSES, &n, e);
        if (rc == 0 && n == 0 && !features)
            rc = mtp_error_set(e, MTP_EFORMAT, "/: attribute classes is empty");
        out->nclasses = (int)n;
    }
    if (rc == 0)
        rc = mtp_h5r_read_regions(file, br->regions, &out->nregions, &out->datasets[0], e);
    if (rc < 0)
        return rc;
    out->ndatasets = 1;
    for (int r = 0; r < out->nregions; r++)
        memcpy(out->regions[r], br->regions[r].name, MTP_NAME_MAX);
    size_t ncounts = 0;
    rc = mtp_h5_attr_strings(root, "/", "splits", &br->split_names[0][0], MTP_NAME_MAX,
                             MTP_MAX_SPLITS, &n, e);
    if (rc == 0)
        rc = mtp_h5_attr_ints(root, "/", "counts", br->counts, MTP_MAX_SPLITS, &ncounts, e);
    if (rc == 0 && n != ncounts)
        rc = mtp_error_set(e, MTP_EFORMAT, "/: %zu splits but %zu counts", n, ncounts);
    br->nsplits = (int)n;
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Summary
 */

enum { DS_IMAGES, DS_MASKS, DS_LABELS, DS_REGION, DS_ORIGIN, DS_TARGETS, DS_COUNT };
static const char *const dataset_names[DS_COUNT] = {"images", "masks",  "labels",
                                                    "region", "origin", "targets"};

/* Which datasets a split of this kind must have. */
static bool dataset_required(const char *kind, int k)
{
    if (k == DS_IMAGES || k == DS_REGION || k == DS_ORIGIN)
        return true;
    if (k == DS_LABELS)
        return strcmp(kind, "classification") == 0;
    if (k == DS_MASKS)
        return strcmp(kind, "segmentation") == 0;
    return strcmp(kind, "features") == 0;
}

/* Counts attribute of exactly `want` entries. */
/* Integer attribute `name` with exactly `want` entries, one per `what`. */
int mtp_h5r_read_counts(hid_t group, const char *where, const char *name, int64_t *out, int want,
                        const char *what, mtp_error *e)
{
    size_t n = 0;
    int rc = mtp_h5_attr_ints(group, where, name, out, (size_t)want, &n, e);
    if (rc == MTP_ERANGE || (rc == 0 && n != (size_t)want))
        return mtp_error_set(e, MTP_EFORMAT, "%s: %s does not have %d entries (one per %s)", where,
                             name, want, what);
    return rc;
}

static int summarize_split(hid_t file, const mtp_bundle_summary *b, const char *name,
                           mtp_split_summary *s, mtp_error *e)
{
    hid_t group = H5I_INVALID_HID, dset = H5I_INVALID_HID;
    char where[MTP_NAME_MAX + 2];
    snprintf(where, sizeof where, "/%s", name);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->label_region_mismatches = -1;
    int rc = mtp_h5r_open_group(file, name, &group, e);
    if (rc < 0)
        goto out;
    size_t n = 0;
    rc = mtp_h5_attr_int(group, where, "count", &s->count, e);
    if (rc == 0 && (s->count < 0 || s->count > MTP_BUNDLE_MAX_SAMPLES))
        rc = mtp_error_set(e, MTP_ERANGE, "%s: count %lld is not in 0..%u", where,
                           (long long)s->count, MTP_BUNDLE_MAX_SAMPLES);
    if (rc == 0)
        rc = mtp_h5_attr_ints(group, where, "z_range", s->z_range, 2, &n, e);
    if (rc == 0 && n != 2)
        rc = mtp_error_set(e, MTP_EFORMAT, "%s: z_range does not have 2 entries", where);
    for (int k = 0; rc == 0 && k < DS_COUNT; k++) {
        if (!mtp_h5r_has_link(group, dataset_names[k])) {
            if (dataset_required(b->kind, k))
                rc = mtp_error_set(e, MTP_EFORMAT, "%s/%s: missing dataset", where,
                                   dataset_names[k]);
            continue;
        }
        char dwhere[MTP_NAME_MAX + 16];
        snprintf(dwhere, sizeof dwhere, "%s/%s", where, dataset_names[k]);
        mtp_dataset_summary *ds = &s->datasets[s->ndatasets];
        rc = mtp_h5r_open_dataset(group, where, dataset_names[k], &dset, e);
        if (rc == 0)
            rc = mtp_h5r_describe(dset, dwhere, dataset_names[k], ds, e);
        mtp_h5_close(&dset);
        if (rc < 0)
            break;
        s->ndatasets++;
        if (k == DS_IMAGES) {
            if (ds->ndims < 3) {
                rc = mtp_error_set(e, MTP_EFORMAT, "%s: rank %d (expected 3 or 4)", dwhere,
                                   ds->ndims);
                break;
            }
            s->ndims = ds->ndims;
            memcpy(s->shape, ds->shape, sizeof s->shape);
        }
        if (k == DS_IMAGES || k == DS_MASKS) {
            s->stored_bytes += ds->stored_bytes;
            s->raw_bytes += ds->raw_bytes;
        }
        if (k == DS_TARGETS)
            s->target_rows = ds->shape[0];
    }
    if (rc == 0 && strcmp(b->kind, "features") != 0)
        rc = mtp_h5r_read_counts(group, where, "class_counts", s->class_counts, b->nclasses,
                                 "class", e);
    if (rc == 0)
        rc = mtp_h5r_read_counts(group, where, "region_counts", s->region_counts, b->nregions,
                                 "region", e);
    if (rc == 0 && strcmp(b->kind, "classification") == 0 &&
        H5Aexists(group, "label_region_mismatches") > 0)
        rc = mtp_h5_attr_int(group, where, "label_region_mismatches", &s->label_region_mismatches,
                             e);
out:
    H5Eclear2(H5E_DEFAULT);
    mtp_h5_close(&dset);
    mtp_h5_close(&group);
    return rc;
}

static int summarize_volumes(hid_t file, hid_t root, mtp_bundle_summary *out, mtp_error *e)
{
    snprintf(out->kind, sizeof out->kind, "volumes");
    mtp_h5r_region regions[MTP_MAX_REGIONS];
    char channels[MTP_MAX_CHANNELS][MTP_NAME_MAX];
    size_t nch = 0;
    int rc = provenance(root, out, e);
    if (rc == 0)
        rc = mtp_h5_attr_strings(root, "/", "channel_names", &channels[0][0], MTP_NAME_MAX,
                                 MTP_MAX_CHANNELS, &nch, e);
    if (rc == 0)
        rc = mtp_h5r_read_regions(file, regions, &out->nregions, &out->datasets[0], e);
    if (rc < 0)
        return rc;
    out->ndatasets = 1;
    for (int r = 0; r < out->nregions && rc == 0; r++) {
        memcpy(out->regions[r], regions[r].name, MTP_NAME_MAX);
        hid_t group = H5I_INVALID_HID, dset = H5I_INVALID_HID;
        rc = mtp_h5r_open_group(file, regions[r].name, &group, e);
        for (size_t c = 0; rc == 0 && c < nch; c++) {
            if (out->ndatasets >= MTP_SUMMARY_MAX_DATASETS) {
                rc =
                    mtp_error_set(e, MTP_ERANGE, "more than %d datasets", MTP_SUMMARY_MAX_DATASETS);
                break;
            }
            char gwhere[MTP_NAME_MAX + 2], name[2 * MTP_NAME_MAX + 2];
            snprintf(gwhere, sizeof gwhere, "/%.*s", MTP_NAME_MAX - 1, regions[r].name);
            snprintf(name, sizeof name, "%.*s/%.*s", MTP_NAME_MAX - 1, regions[r].name,
                     MTP_NAME_MAX - 1, channels[c]);
            rc = mtp_h5r_open_dataset(group, gwhere, channels[c], &dset, e);
            if (rc == 0)
                rc = mtp_h5r_describe(dset, name, name, &out->datasets[out->ndatasets], e);
            if (rc == 0)
                out->ndatasets++;
            mtp_h5_close(&dset);
        }
        mtp_h5_close(&group);
    }
    return rc;
}

/* Open the file read-only and its root group (open_file's errors, or "/: reason"). */
int mtp_h5r_open_root(const char *path, hid_t *file, hid_t *root, mtp_error *e)
{
    int rc = open_file(path, file, e);
    if (rc == 0) {
        *root = H5Gopen2(*file, "/", H5P_DEFAULT);
        if (*root < 0) {
            char in[512];
            rc = mtp_error_set(e, MTP_EFORMAT, "/: %s", mtp_h5_reason(in, sizeof in));
        }
    }
    return rc;
}

/* Every string of a summary as printable text (a crafted file's strings reach inspect's
 * output and the datasheet); the strings of a valid bundle are unchanged. */
static void summary_printable(mtp_bundle_summary *s)
{
    char *fields[] = {s->task, s->kind, s->builder, s->config_sha256, s->source, s->title};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        mtp_text_printable(fields[i]);
    for (int c = 0; c < s->nclasses && c < MTP_MAX_CLASSES; c++)
        mtp_text_printable(s->classes[c]);
    for (int r = 0; r < s->nregions && r < MTP_MAX_REGIONS; r++)
        mtp_text_printable(s->regions[r]);
    for (int k = 0; k < s->nsplits && k < MTP_MAX_SPLITS; k++) {
        mtp_split_summary *sp = &s->splits[k];
        mtp_text_printable(sp->name);
        for (int d = 0; d < sp->ndatasets && d < MTP_SUMMARY_MAX_SPLIT_DATASETS; d++)
            mtp_text_printable(sp->datasets[d].name);
    }
    for (int d = 0; d < s->ndatasets && d < MTP_SUMMARY_MAX_DATASETS; d++)
        mtp_text_printable(s->datasets[d].name);
}

int mtp_h5read_summary(const char *path, mtp_bundle_summary *out, mtp_error *err)
{
    if (out == NULL)
        return mtp_error_set(err, MTP_EINVAL, "h5read: out is required");
    memset(out, 0, sizeof *out);
    mtp_error e = MTP_ERROR_INIT;
    mtp_h5r_bundle_root *br = NULL;
    hid_t file = H5I_INVALID_HID, root = H5I_INVALID_HID;
    mtp_h5_quiet q;
    mtp_h5_quiet_begin(&q);
    int rc = mtp_h5r_open_root(path, &file, &root, &e);
    mtp_h5r_format format = MTP_H5R_BUNDLE;
    if (rc == 0)
        rc = mtp_h5r_root_format(root, &format, &out->format_version, &e);
    if (rc < 0)
        goto out;
    if (format == MTP_H5R_VOLUMES) {
        rc = summarize_volumes(file, root, out, &e);
        goto out;
    }
    br = calloc(1, sizeof *br);
    if (br == NULL) {
        rc = mtp_error_set(&e, MTP_ENOMEM, "out of memory");
        goto out;
    }
    rc = mtp_h5r_read_bundle_root(file, root, out, br, &e);
    for (int i = 0; rc == 0 && i < br->nsplits; i++) {
        rc = summarize_split(file, out, br->split_names[i], &out->splits[i], &e);
        out->nsplits = i + 1;
    }
out:
    free(br);
    mtp_h5_close(&root);
    mtp_h5_close(&file);
    mtp_h5_quiet_end(&q);
    if (rc < 0) {
        int code = e.code;
        memset(out, 0, sizeof *out);
        mtp_text_printable(e.msg);
        return mtp_error_set(err, code, "%s: %s", path != NULL ? path : "(null)", e.msg);
    }
    summary_printable(out);
    return 0;
}

/* ---- the same, in a reader process ------------------------------------------------------ */

/* A string field holds its NUL. */
#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

bool mtp_h5read_summary_sane(const mtp_bundle_summary *s)
{
    if (s->nclasses < 0 || s->nclasses > MTP_MAX_CLASSES || s->nregions < 0 ||
        s->nregions > MTP_MAX_REGIONS || s->nsplits < 0 || s->nsplits > MTP_MAX_SPLITS ||
        s->ndatasets < 0 || s->ndatasets > MTP_SUMMARY_MAX_DATASETS)
        return false;
    if (!TERMINATED(s->task) || !TERMINATED(s->kind) || !TERMINATED(s->builder) ||
        !TERMINATED(s->config_sha256) || !TERMINATED(s->source) || !TERMINATED(s->title))
        return false;
    for (int i = 0; i < s->nclasses; i++)
        if (!TERMINATED(s->classes[i]))
            return false;
    for (int i = 0; i < s->nregions; i++)
        if (!TERMINATED(s->regions[i]))
            return false;
    for (int i = 0; i < s->ndatasets; i++)
        if (!TERMINATED(s->datasets[i].name) || !TERMINATED(s->datasets[i].dtype))
            return false;
    for (int k = 0; k < s->nsplits; k++) {
        const mtp_split_summary *sp = &s->splits[k];
        if (!TERMINATED(sp->name) || sp->ndatasets < 0 ||
            sp->ndatasets > MTP_SUMMARY_MAX_SPLIT_DATASETS)
            return false;
        for (int i = 0; i < sp->ndatasets; i++)
            if (!TERMINATED(sp->datasets[i].name) || !TERMINATED(sp->datasets[i].dtype))
                return false;
    }
    return true;
}

static int summary_in_child(void *arg, mtp_isolate_out *out, mtp_error *err)
{
    mtp_bundle_summary *s = calloc(1, sizeof *s);
    if (s == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "out of memory");
    int rc = mtp_h5read_summary(arg, s, err);
    if (rc == 0)
        rc = mtp_isolate_append(out, s, sizeof *s);
    free(s);
    return rc;
}

int mtp_h5read_summary_isolated(const char *path, mtp_bundle_summary *out, mtp_error *err)
{
    char *answer = NULL;
    size_t len = 0;
    bool reader_failed = false;
    int rc = mtp_isolate_call(summary_in_child, (void *)path, MTP_ISOLATE_TIMEOUT_S, &answer, &len,
                              &reader_failed, err);
    if (rc == 0 && (len != sizeof *out || !mtp_h5read_summary_sane((void *)answer))) {
        rc = mtp_error_set(err, MTP_EFORMAT, "the reader ended without an answer");
        reader_failed = true;
    }
    if (rc == 0)
        memcpy(out, answer, sizeof *out);
    if (reader_failed) {
        char why[MTP_ERROR_MSG_MAX];
        snprintf(why, sizeof why, "%s", err->msg);
        mtp_error_set(err, rc, "%s: unreadable HDF5 (%s)", path, why);
    }
    free(answer);
    return rc;
}
