/*
 * h5read.c — bundle files read back: summary (structure and recorded attributes only) and
 * check (every byte, recomputed counts).
 *
 * Internal helpers report failures as "<object>: <what>" without the file; the public
 * functions add "<path>: " (summary) or "<base name>: " (check's problem lines), so one set
 * of helpers serves both the strict summary and the tolerant check.
 */
#include "mtp/h5read.h"

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

#define ROWS_PER_READ 4096 /* origin rows read at once */

/* ---------------------------------------------------------------------------------------
 * HDF5 plumbing
 */

typedef struct innermost {
    char msg[512];
} innermost;

/* The innermost message of HDF5's error stack (then cleared), into `in`. */
static const char *h5_reason(innermost *in)
{
    return mtp_h5_reason(in->msg, sizeof in->msg);
}

/* ---------------------------------------------------------------------------------------
 * Datasets and groups
 */

static bool has_link(hid_t loc, const char *name)
{
    htri_t has = H5Lexists(loc, name, H5P_DEFAULT);
    if (has < 0)
        H5Eclear2(H5E_DEFAULT);
    return has > 0;
}

/* Open dataset `name` in group loc (whose path is gwhere, "" for the root). */
static int open_dataset(hid_t loc, const char *gwhere, const char *name, hid_t *dset, mtp_error *e)
{
    *dset = H5I_INVALID_HID;
    if (!has_link(loc, name))
        return mtp_error_set(e, MTP_EFORMAT, "%s/%s: missing dataset", gwhere, name);
    *dset = H5Dopen2(loc, name, H5P_DEFAULT);
    if (*dset < 0) {
        innermost in;
        return mtp_error_set(e, MTP_EFORMAT, "%s/%s: not a dataset: %s", gwhere, name,
                             h5_reason(&in));
    }
    return 0;
}

static int open_group(hid_t loc, const char *name, hid_t *group, mtp_error *e)
{
    *group = H5I_INVALID_HID;
    if (!has_link(loc, name))
        return mtp_error_set(e, MTP_EFORMAT, "/%s: missing group", name);
    *group = H5Gopen2(loc, name, H5P_DEFAULT);
    if (*group < 0) {
        innermost in;
        return mtp_error_set(e, MTP_EFORMAT, "/%s: not a group: %s", name, h5_reason(&in));
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
static int describe(hid_t dset, const char *where, const char *name, mtp_dataset_summary *ds,
                    mtp_error *e)
{
    memset(ds, 0, sizeof *ds);
    snprintf(ds->name, sizeof ds->name, "%s", name);
    hid_t space = H5Dget_space(dset), type = H5Dget_type(dset);
    int rc = 0;
    innermost in;
    if (space < 0 || type < 0) {
        rc = mtp_error_set(e, MTP_EFORMAT, "%s: %s", where, h5_reason(&in));
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

typedef struct region_row {
    char name[MTP_NAME_MAX];
    int64_t x0, x1, y0, y1;
} region_row;

static int read_regions(hid_t file, region_row *rows, int *nrows, mtp_dataset_summary *ds,
                        mtp_error *e)
{
    hid_t dset = H5I_INVALID_HID, ftype = H5I_INVALID_HID, fname = H5I_INVALID_HID;
    hid_t str = H5I_INVALID_HID, mem = H5I_INVALID_HID;
    innermost in;
    *nrows = 0;
    int rc = open_dataset(file, "", "regions", &dset, e);
    if (rc == 0)
        rc = describe(dset, "/regions", "regions", ds, e);
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
    mem = H5Tcreate(H5T_COMPOUND, sizeof(region_row));
    const char *fields[4] = {"x0", "x1", "y0", "y1"};
    const size_t offsets[4] = {offsetof(region_row, x0), offsetof(region_row, x1),
                               offsetof(region_row, y0), offsetof(region_row, y1)};
    bool ok = str >= 0 && mem >= 0 && H5Tset_size(str, MTP_NAME_MAX) >= 0 &&
              H5Tset_strpad(str, H5T_STR_NULLTERM) >= 0 &&
              H5Tset_cset(str, H5Tget_cset(fname)) >= 0 &&
              H5Tinsert(mem, "name", offsetof(region_row, name), str) >= 0;
    for (int i = 0; ok && i < 4; i++)
        ok = H5Tinsert(mem, fields[i], offsets[i], H5T_NATIVE_INT64) >= 0;
    if (!ok || H5Dread(dset, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) < 0) {
        rc = mtp_error_set(e, MTP_EFORMAT, "/regions: %s", h5_reason(&in));
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

static const char *base_name(const char *path)
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
        innermost in;
        return mtp_error_set(e, MTP_EFORMAT, "cannot open: %s", h5_reason(&in));
    }
    return 0;
}

typedef enum file_format { FORMAT_BUNDLE, FORMAT_VOLUMES } file_format;

/* format and format_version of the root. */
static int root_format(hid_t root, file_format *format, int *version, mtp_error *e)
{
    char name[MTP_NAME_MAX];
    int rc = mtp_h5_attr_string(root, "/", "format", name, sizeof name, e);
    if (rc < 0)
        return rc == MTP_ERANGE ? mtp_error_set(e, MTP_EFORMAT, "format is not %s or %s",
                                                MTP_BUNDLE_FORMAT, MTP_VOLUMES_FORMAT)
                                : rc;
    if (strcmp(name, MTP_BUNDLE_FORMAT) == 0)
        *format = FORMAT_BUNDLE;
    else if (strcmp(name, MTP_VOLUMES_FORMAT) == 0)
        *format = FORMAT_VOLUMES;
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

/* What summary and check both need from a task bundle's root. */
typedef struct bundle_root {
    region_row regions[MTP_MAX_REGIONS];
    char split_names[MTP_MAX_SPLITS][MTP_NAME_MAX];
    int64_t counts[MTP_MAX_SPLITS];
    int nsplits;
} bundle_root;

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

static int read_bundle_root(hid_t file, hid_t root, mtp_bundle_summary *out, bundle_root *br,
                            mtp_error *e)
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
        rc = read_regions(file, br->regions, &out->nregions, &out->datasets[0], e);
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
static int read_counts(hid_t group, const char *where, const char *name, int64_t *out, int want,
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
    int rc = open_group(file, name, &group, e);
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
        if (!has_link(group, dataset_names[k])) {
            if (dataset_required(b->kind, k))
                rc = mtp_error_set(e, MTP_EFORMAT, "%s/%s: missing dataset", where,
                                   dataset_names[k]);
            continue;
        }
        char dwhere[MTP_NAME_MAX + 16];
        snprintf(dwhere, sizeof dwhere, "%s/%s", where, dataset_names[k]);
        mtp_dataset_summary *ds = &s->datasets[s->ndatasets];
        rc = open_dataset(group, where, dataset_names[k], &dset, e);
        if (rc == 0)
            rc = describe(dset, dwhere, dataset_names[k], ds, e);
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
        rc = read_counts(group, where, "class_counts", s->class_counts, b->nclasses, "class", e);
    if (rc == 0)
        rc = read_counts(group, where, "region_counts", s->region_counts, b->nregions, "region", e);
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
    region_row regions[MTP_MAX_REGIONS];
    char channels[MTP_MAX_CHANNELS][MTP_NAME_MAX];
    size_t nch = 0;
    int rc = provenance(root, out, e);
    if (rc == 0)
        rc = mtp_h5_attr_strings(root, "/", "channel_names", &channels[0][0], MTP_NAME_MAX,
                                 MTP_MAX_CHANNELS, &nch, e);
    if (rc == 0)
        rc = read_regions(file, regions, &out->nregions, &out->datasets[0], e);
    if (rc < 0)
        return rc;
    out->ndatasets = 1;
    for (int r = 0; r < out->nregions && rc == 0; r++) {
        memcpy(out->regions[r], regions[r].name, MTP_NAME_MAX);
        hid_t group = H5I_INVALID_HID, dset = H5I_INVALID_HID;
        rc = open_group(file, regions[r].name, &group, e);
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
            rc = open_dataset(group, gwhere, channels[c], &dset, e);
            if (rc == 0)
                rc = describe(dset, name, name, &out->datasets[out->ndatasets], e);
            if (rc == 0)
                out->ndatasets++;
            mtp_h5_close(&dset);
        }
        mtp_h5_close(&group);
    }
    return rc;
}

/* Open the file read-only and its root group (open_file's errors, or "/: reason"). */
static int open_root(const char *path, hid_t *file, hid_t *root, mtp_error *e)
{
    int rc = open_file(path, file, e);
    if (rc == 0) {
        *root = H5Gopen2(*file, "/", H5P_DEFAULT);
        if (*root < 0) {
            innermost in;
            rc = mtp_error_set(e, MTP_EFORMAT, "/: %s", h5_reason(&in));
        }
    }
    return rc;
}

int mtp_h5read_summary(const char *path, mtp_bundle_summary *out, mtp_error *err)
{
    if (out == NULL)
        return mtp_error_set(err, MTP_EINVAL, "h5read: out is required");
    memset(out, 0, sizeof *out);
    mtp_error e = MTP_ERROR_INIT;
    bundle_root *br = NULL;
    hid_t file = H5I_INVALID_HID, root = H5I_INVALID_HID;
    mtp_h5_quiet q;
    mtp_h5_quiet_begin(&q);
    int rc = open_root(path, &file, &root, &e);
    file_format format = FORMAT_BUNDLE;
    if (rc == 0)
        rc = root_format(root, &format, &out->format_version, &e);
    if (rc < 0)
        goto out;
    if (format == FORMAT_VOLUMES) {
        rc = summarize_volumes(file, root, out, &e);
        goto out;
    }
    br = calloc(1, sizeof *br);
    if (br == NULL) {
        rc = mtp_error_set(&e, MTP_ENOMEM, "out of memory");
        goto out;
    }
    rc = read_bundle_root(file, root, out, br, &e);
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
        return mtp_error_set(err, code, "%s: %s", path != NULL ? path : "(null)", e.msg);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Check
 */

typedef struct checker {
    const char *name; /* the file's base name, first on every line */
    mtp_h5read_problem_fn fn;
    void *userdata;
    int nproblems;
} checker;

static void problem(checker *ck, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(checker *ck, const char *fmt, ...)
{
    char line[2 * MTP_ERROR_MSG_MAX];
    int len = snprintf(line, sizeof line, "%s: ", ck->name);
    if (len < 0 || (size_t)len >= sizeof line)
        len = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + len, sizeof line - (size_t)len, fmt, ap);
    va_end(ap);
    ck->nproblems++;
    if (ck->fn != NULL)
        ck->fn(ck->userdata, line);
}

/* A helper's failure, as a problem line. */
static void problem_from(checker *ck, const mtp_error *e)
{
    problem(ck, "%s", e->msg);
}

/* First bad value of a dataset and how many there were. */
typedef struct bad_values {
    uint64_t count;
    int value;
    int64_t sample;
} bad_values;

static void note_bad(bad_values *bad, int value, int64_t sample)
{
    if (bad->count == 0) {
        bad->value = value;
        bad->sample = sample;
    }
    bad->count++;
}

static void report_bad(checker *ck, const char *where, const bad_values *bad, const char *what,
                       int n)
{
    if (bad->count == 0)
        return;
    char more[64] = "";
    if (bad->count > 1)
        snprintf(more, sizeof more, " (%" PRIu64 " values in all)", bad->count);
    problem(ck, "%s: value %d at sample %" PRId64 " outside %s 0-%d%s", where, bad->value,
            bad->sample, what, n - 1, more);
}

/* Recorded counts against recomputed ones: one line per differing entry. */
static void compare_counts(checker *ck, hid_t group, const char *where, const char *attr,
                           const int64_t *data, int n, const char names[][MTP_NAME_MAX],
                           const char *what)
{
    int64_t recorded[MTP_MAX_REGIONS > MTP_MAX_CLASSES ? MTP_MAX_REGIONS : MTP_MAX_CLASSES];
    mtp_error e = MTP_ERROR_INIT;
    if (read_counts(group, where, attr, recorded, n, what, &e) < 0) {
        problem_from(ck, &e);
        return;
    }
    for (int i = 0; i < n; i++)
        if (recorded[i] != data[i])
            problem(ck, "%s: %s[%d] (%s) is %" PRId64 ", the data has %" PRId64, where, attr, i,
                    names[i], recorded[i], data[i]);
}

/* Everything check needs about one split while it reads. */
typedef struct split_check {
    const mtp_bundle_summary *b;
    const bundle_root *br;
    checker *ck;
    const char *name;
    char where[MTP_NAME_MAX + 2];
    hid_t group;
    int64_t n; /* the group's count */
    int64_t z_range[2];
    bool have_z;
    int depth;       /* slices per sample, from images */
    uint8_t *labels; /* n, or NULL if not read */
    uint8_t *region; /* n, or NULL if not read */
    uint64_t mask_hist[256];
    bool masks_read; /* every mask voxel went into mask_hist */
} split_check;

/* Open a dataset of the split; problems for missing, and for a first dimension != n. */
static hid_t split_dataset(split_check *sc, const char *name, int *rank, hsize_t dims[4])
{
    mtp_error e = MTP_ERROR_INIT;
    hid_t dset = H5I_INVALID_HID;
    mtp_dataset_summary ds;
    char where[MTP_NAME_MAX + 16];
    snprintf(where, sizeof where, "%s/%s", sc->where, name);
    if (open_dataset(sc->group, sc->where, name, &dset, &e) < 0 ||
        describe(dset, where, name, &ds, &e) < 0) {
        problem_from(sc->ck, &e);
        mtp_h5_close(&dset);
        return H5I_INVALID_HID;
    }
    *rank = ds.ndims;
    for (int i = 0; i < 4; i++)
        dims[i] = (hsize_t)ds.shape[i];
    if (ds.shape[0] != sc->n)
        problem(sc->ck, "%s: %" PRId64 " samples, the split's count is %" PRId64, where,
                ds.shape[0], sc->n);
    return dset;
}

static bool is_byte_type(hid_t dset, bool enum_ok)
{
    hid_t type = H5Dget_type(dset);
    H5T_class_t cls = H5Tget_class(type);
    bool ok = H5Tget_size(type) == 1 && (cls == H5T_INTEGER || (enum_ok && cls == H5T_ENUM));
    mtp_h5_close(&type);
    return ok;
}

static void shape_text(char *buf, size_t cap, int rank, const hsize_t *dims)
{
    int len = snprintf(buf, cap, "(");
    for (int i = 0; i < rank && len >= 0 && (size_t)len < cap; i++)
        len += snprintf(buf + len, cap - (size_t)len, "%s%llu", i > 0 ? ", " : "",
                        (unsigned long long)dims[i]);
    if (len >= 0 && (size_t)len < cap)
        snprintf(buf + len, cap - (size_t)len, ")");
}

/* images (and masks): shapes, types, every slice read; mask values into mask_hist. */
static void check_pixels(split_check *sc)
{
    checker *ck = sc->ck;
    const bool seg = strcmp(sc->b->kind, "segmentation") == 0;
    int rank = 0, mrank = 0;
    hsize_t dims[4], mdims[4];
    hid_t images = split_dataset(sc, "images", &rank, dims);
    hid_t masks = seg ? split_dataset(sc, "masks", &mrank, mdims) : H5I_INVALID_HID;
    hid_t memspace = H5I_INVALID_HID;
    uint8_t *slice = NULL;
    if (images < 0)
        goto out;
    if (rank != 3 && rank != 4) {
        problem(ck, "%s/images: rank %d (expected 3 or 4)", sc->where, rank);
        goto out;
    }
    hsize_t depth = rank == 4 ? dims[1] : 1, h = dims[rank - 2], w = dims[rank - 1];
    if (dims[0] > MTP_BUNDLE_MAX_SAMPLES || depth < 1 || depth > MTP_BUNDLE_MAX_DEPTH || h < 1 ||
        w < 1 || h > MTP_BUNDLE_MAX_EDGE || w > MTP_BUNDLE_MAX_EDGE ||
        h * w > MTP_BUNDLE_MAX_CHUNK_BYTES) {
        problem(ck, "%s/images: shape beyond the format's caps", sc->where);
        goto out;
    }
    sc->depth = (int)depth;
    if (!is_byte_type(images, false))
        problem(ck, "%s/images: not uint8", sc->where);
    if (masks >= 0) {
        char a[96], b[96];
        bool same = mrank == rank;
        for (int i = 0; same && i < rank; i++)
            same = mdims[i] == dims[i];
        if (!same) {
            shape_text(a, sizeof a, mrank, mdims);
            shape_text(b, sizeof b, rank, dims);
            problem(ck, "%s/masks: shape %s differs from images %s", sc->where, a, b);
            mtp_h5_close(&masks);
        } else if (!is_byte_type(masks, false)) {
            problem(ck, "%s/masks: not uint8", sc->where);
            mtp_h5_close(&masks);
        }
    }
    hsize_t one[4] = {1, 1, h, w};
    memspace = H5Screate_simple(rank, one + (4 - rank), NULL);
    slice = malloc((size_t)(h * w));
    if (memspace < 0 || slice == NULL) {
        problem(ck, "%s: out of memory", sc->where);
        goto out;
    }
    bool images_ok = true, masks_ok = masks >= 0;
    bad_values bad = {0, 0, 0};
    int nclasses = sc->b->nclasses;
    innermost in;
    for (hsize_t i = 0; i < dims[0] && (images_ok || masks_ok); i++) {
        for (hsize_t d = 0; d < depth; d++) {
            if (images_ok && mtp_h5_read_slice(images, memspace, rank, i, d, h, w, slice) < 0) {
                problem(ck, "%s/images: cannot read sample %llu: %s", sc->where,
                        (unsigned long long)i, h5_reason(&in));
                images_ok = false;
            }
            if (!masks_ok)
                continue;
            if (mtp_h5_read_slice(masks, memspace, rank, i, d, h, w, slice) < 0) {
                problem(ck, "%s/masks: cannot read sample %llu: %s", sc->where,
                        (unsigned long long)i, h5_reason(&in));
                masks_ok = false;
                continue;
            }
            for (size_t k = 0; k < (size_t)(h * w); k++) {
                sc->mask_hist[slice[k]]++;
                if (slice[k] >= nclasses)
                    note_bad(&bad, slice[k], (int64_t)i);
            }
        }
    }
    if (masks >= 0) {
        char where[MTP_NAME_MAX + 16];
        snprintf(where, sizeof where, "%s/masks", sc->where);
        report_bad(ck, where, &bad, "classes", nclasses);
    }
    sc->masks_read = masks_ok;
out:
    free(slice);
    mtp_h5_close(&memspace);
    mtp_h5_close(&masks);
    mtp_h5_close(&images);
}

/* A 1-D byte dataset (labels, region): read whole, values checked against 0..n-1. */
static uint8_t *check_bytes(split_check *sc, const char *name, const char *what, int n)
{
    int rank = 0;
    hsize_t dims[4];
    uint8_t *values = NULL;
    hid_t type = H5I_INVALID_HID;
    hid_t dset = split_dataset(sc, name, &rank, dims);
    if (dset < 0)
        return NULL;
    char where[MTP_NAME_MAX + 16];
    snprintf(where, sizeof where, "%s/%s", sc->where, name);
    if (rank != 1 || dims[0] != (hsize_t)sc->n) {
        if (rank != 1)
            problem(sc->ck, "%s: rank %d (expected 1)", where, rank);
        goto out;
    }
    if (!is_byte_type(dset, true)) {
        problem(sc->ck, "%s: not an enum of uint8 or uint8", where);
        goto out;
    }
    values = malloc(dims[0] > 0 ? (size_t)dims[0] : 1);
    type = H5Dget_type(dset);
    /* Read in the dataset's own type: no conversion, so values outside the enum come back
     * as they are stored instead of failing the read. */
    if (values == NULL || type < 0 ||
        (dims[0] > 0 && H5Dread(dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0)) {
        innermost in;
        problem(sc->ck, "%s: cannot read: %s", where, h5_reason(&in));
        free(values);
        values = NULL;
        goto out;
    }
    bad_values bad = {0, 0, 0};
    for (hsize_t i = 0; i < dims[0]; i++)
        if (values[i] >= n)
            note_bad(&bad, values[i], (int64_t)i);
    report_bad(sc->ck, where, &bad, what, n);
out:
    mtp_h5_close(&type);
    mtp_h5_close(&dset);
    return values;
}

/* origin: (n, 3), each its region's corner inside the split's z range. */
static void check_origin(split_check *sc)
{
    int rank = 0;
    hsize_t dims[4];
    int64_t *rows = NULL;
    hid_t memspace = H5I_INVALID_HID, fspace = H5I_INVALID_HID;
    hid_t dset = split_dataset(sc, "origin", &rank, dims);
    if (dset < 0)
        return;
    char where[MTP_NAME_MAX + 16];
    snprintf(where, sizeof where, "%s/origin", sc->where);
    if (rank != 2 || dims[1] != 3) {
        problem(sc->ck, "%s: expected shape (n, 3)", where);
        goto out;
    }
    if (dims[0] != (hsize_t)sc->n)
        goto out;
    rows = malloc(ROWS_PER_READ * 3 * sizeof *rows);
    fspace = H5Dget_space(dset);
    if (rows == NULL || fspace < 0) {
        problem(sc->ck, "%s: out of memory", where);
        goto out;
    }
    uint64_t nbad = 0;
    char first[256] = "";
    for (hsize_t start = 0; start < dims[0]; start += ROWS_PER_READ) {
        hsize_t count[2] = {dims[0] - start < ROWS_PER_READ ? dims[0] - start : ROWS_PER_READ, 3};
        hsize_t offset[2] = {start, 0};
        mtp_h5_close(&memspace);
        memspace = H5Screate_simple(2, count, NULL);
        if (memspace < 0 ||
            H5Sselect_hyperslab(fspace, H5S_SELECT_SET, offset, NULL, count, NULL) < 0 ||
            H5Dread(dset, H5T_NATIVE_INT64, memspace, fspace, H5P_DEFAULT, rows) < 0) {
            innermost in;
            problem(sc->ck, "%s: cannot read: %s", where, h5_reason(&in));
            goto out;
        }
        for (hsize_t k = 0; k < count[0]; k++) {
            const int64_t *o = &rows[3 * k];
            hsize_t i = start + k;
            bool ok = true;
            if (sc->region != NULL && sc->region[i] < sc->b->nregions) {
                const region_row *r = &sc->br->regions[sc->region[i]];
                ok = o[1] == r->y0 && o[2] == r->x0;
            }
            if (sc->have_z && (o[0] < sc->z_range[0] || o[0] > sc->z_range[1] - sc->depth))
                ok = false;
            if (ok)
                continue;
            if (nbad++ == 0)
                snprintf(first, sizeof first,
                         "sample %llu at (%" PRId64 ", %" PRId64 ", %" PRId64
                         ") is not its region's corner inside z [%" PRId64 ", %" PRId64 ")",
                         (unsigned long long)i, o[0], o[1], o[2], sc->z_range[0], sc->z_range[1]);
        }
    }
    if (nbad == 1)
        problem(sc->ck, "%s: %s", where, first);
    else if (nbad > 1)
        problem(sc->ck, "%s: %s (%" PRIu64 " samples in all)", where, first, nbad);
out:
    free(rows);
    mtp_h5_close(&fspace);
    mtp_h5_close(&memspace);
    mtp_h5_close(&dset);
}

/* class_counts, region_counts and label_region_mismatches against the data. */
static void check_balance(split_check *sc)
{
    const mtp_bundle_summary *b = sc->b;
    int64_t data[MTP_MAX_REGIONS > MTP_MAX_CLASSES ? MTP_MAX_REGIONS : MTP_MAX_CLASSES];
    bool cls = strcmp(b->kind, "classification") == 0;
    if (cls && sc->labels != NULL) {
        memset(data, 0, sizeof data);
        for (int64_t i = 0; i < sc->n; i++)
            if (sc->labels[i] < b->nclasses)
                data[sc->labels[i]]++;
        compare_counts(sc->ck, sc->group, sc->where, "class_counts", data, b->nclasses, b->classes,
                       "class");
    }
    if (strcmp(b->kind, "segmentation") == 0 && sc->masks_read) {
        for (int c = 0; c < b->nclasses; c++)
            data[c] = (int64_t)sc->mask_hist[c];
        compare_counts(sc->ck, sc->group, sc->where, "class_counts", data, b->nclasses, b->classes,
                       "class");
    }
    if (sc->region != NULL) {
        memset(data, 0, sizeof data);
        for (int64_t i = 0; i < sc->n; i++)
            if (sc->region[i] < b->nregions)
                data[sc->region[i]]++;
        compare_counts(sc->ck, sc->group, sc->where, "region_counts", data, b->nregions, b->regions,
                       "region");
    }
    if (!cls || sc->labels == NULL || sc->region == NULL ||
        H5Aexists(sc->group, "label_region_mismatches") <= 0)
        return;
    /* The build's rule (tasks.h, mtp_tasks_region_class): a tile's label should be the class
     * named like its region; a region with no such class mismatches every label. */
    int region_class[MTP_MAX_REGIONS];
    for (int r = 0; r < b->nregions; r++) {
        region_class[r] = -1;
        for (int c = 0; c < b->nclasses; c++)
            if (strcmp(b->classes[c], b->regions[r]) == 0)
                region_class[r] = c;
    }
    int64_t mismatches = 0, recorded = 0;
    for (int64_t i = 0; i < sc->n; i++)
        if (sc->region[i] < b->nregions && sc->labels[i] != region_class[sc->region[i]])
            mismatches++;
    mtp_error e = MTP_ERROR_INIT;
    if (mtp_h5_attr_int(sc->group, sc->where, "label_region_mismatches", &recorded, &e) < 0)
        problem_from(sc->ck, &e);
    else if (recorded != mismatches)
        problem(sc->ck, "%s: label_region_mismatches is %" PRId64 ", the data has %" PRId64,
                sc->where, recorded, mismatches);
}

/* A targets row as check reads it: region either as the file's 1-byte enum or as int64. */
typedef struct target_row {
    uint8_t region_u8;
    int64_t region_i64;
    int64_t z;
    int32_t quadrant;
    int64_t slice_index;
} target_row;

/* The memory type for the fields check reads; problems for missing or odd fields. */
static hid_t target_mem_type(split_check *sc, hid_t dset, const char *where, bool *region_u8)
{
    hid_t ftype = H5Dget_type(dset), mem = H5I_INVALID_HID, region = H5I_INVALID_HID;
    if (ftype < 0 || H5Tget_class(ftype) != H5T_COMPOUND) {
        problem(sc->ck, "%s: not a compound dataset", where);
        goto out;
    }
    const char *names[4] = {"region", "z", "quadrant", "slice_index"};
    for (int k = 0; k < 4; k++) {
        int idx = H5Tget_member_index(ftype, names[k]);
        if (idx < 0) {
            H5Eclear2(H5E_DEFAULT);
            problem(sc->ck, "%s: missing field %s", where, names[k]);
            goto out;
        }
        hid_t mt = H5Tget_member_type(ftype, (unsigned)idx);
        H5T_class_t cls = H5Tget_class(mt);
        size_t size = H5Tget_size(mt);
        if (k == 0 && cls == H5T_ENUM && size == 1) {
            region = mt;
            *region_u8 = true;
            continue;
        }
        mtp_h5_close(&mt);
        if (cls != H5T_INTEGER) {
            problem(sc->ck, "%s: field %s is not an integer%s", where, names[k],
                    k == 0 ? " or a 1-byte enum" : "");
            goto out;
        }
    }
    mem = H5Tcreate(H5T_COMPOUND, sizeof(target_row));
    if (mem < 0 ||
        (*region_u8
             ? H5Tinsert(mem, "region", offsetof(target_row, region_u8), region)
             : H5Tinsert(mem, "region", offsetof(target_row, region_i64), H5T_NATIVE_INT64)) < 0 ||
        H5Tinsert(mem, "z", offsetof(target_row, z), H5T_NATIVE_INT64) < 0 ||
        H5Tinsert(mem, "quadrant", offsetof(target_row, quadrant), H5T_NATIVE_INT32) < 0 ||
        H5Tinsert(mem, "slice_index", offsetof(target_row, slice_index), H5T_NATIVE_INT64) < 0) {
        innermost in;
        problem(sc->ck, "%s: cannot make a row type: %s", where, h5_reason(&in));
        mtp_h5_close(&mem);
    }
out:
    mtp_h5_close(&region);
    mtp_h5_close(&ftype);
    return mem;
}

/*
 * Features: targets has count * rows_per_slice rows; row r is quadrant r % rows_per_slice of
 * slice r / rows_per_slice, with a region that is a row of /regions and the slice's own, and
 * a z inside the split's z range.
 */
static void check_targets(split_check *sc)
{
    checker *ck = sc->ck;
    mtp_error e = MTP_ERROR_INIT;
    hid_t dset = H5I_INVALID_HID, mem = H5I_INVALID_HID, fspace = H5I_INVALID_HID;
    hid_t memspace = H5I_INVALID_HID;
    target_row *rows = NULL;
    char where[MTP_NAME_MAX + 16];
    snprintf(where, sizeof where, "%s/targets", sc->where);
    mtp_dataset_summary ds;
    if (open_dataset(sc->group, sc->where, "targets", &dset, &e) < 0 ||
        describe(dset, where, "targets", &ds, &e) < 0) {
        problem_from(ck, &e);
        goto out;
    }
    int64_t rps = 0;
    if (mtp_h5_attr_int(dset, where, "rows_per_slice", &rps, &e) < 0) {
        problem_from(ck, &e);
        goto out;
    }
    if (rps < 1 || rps > (int64_t)MTP_BUNDLE_MAX_EDGE * MTP_BUNDLE_MAX_EDGE) {
        problem(ck, "%s: rows_per_slice %" PRId64 " is out of range", where, rps);
        goto out;
    }
    if (ds.ndims != 1 || ds.shape[0] != sc->n * rps) {
        problem(ck,
                "%s: %" PRId64 " rows, expected count %" PRId64 " x rows_per_slice %" PRId64
                " = %" PRId64,
                where, ds.ndims == 1 ? ds.shape[0] : -1, sc->n, rps, sc->n * rps);
        goto out;
    }
    bool region_u8 = false;
    mem = target_mem_type(sc, dset, where, &region_u8);
    if (mem < 0)
        goto out;
    rows = calloc(ROWS_PER_READ, sizeof *rows);
    fspace = H5Dget_space(dset);
    if (rows == NULL || fspace < 0) {
        problem(ck, "%s: out of memory", where);
        goto out;
    }
    uint64_t nbad = 0;
    char first[256] = "";
    int64_t total = ds.shape[0];
    for (int64_t start = 0; start < total; start += ROWS_PER_READ) {
        hsize_t count[1] = {
            (hsize_t)(total - start < ROWS_PER_READ ? total - start : ROWS_PER_READ)};
        hsize_t offset[1] = {(hsize_t)start};
        mtp_h5_close(&memspace);
        memspace = H5Screate_simple(1, count, NULL);
        if (memspace < 0 ||
            H5Sselect_hyperslab(fspace, H5S_SELECT_SET, offset, NULL, count, NULL) < 0 ||
            H5Dread(dset, mem, memspace, fspace, H5P_DEFAULT, rows) < 0) {
            innermost in;
            problem(ck, "%s: cannot read: %s", where, h5_reason(&in));
            goto out;
        }
        for (hsize_t k = 0; k < count[0]; k++) {
            const target_row *t = &rows[k];
            int64_t r = start + (int64_t)k;
            int64_t region = region_u8 ? t->region_u8 : t->region_i64;
            const char *bad = NULL;
            char why[200];
            if (region < 0 || region >= sc->b->nregions) {
                snprintf(why, sizeof why, "region %" PRId64 " is not a row of /regions", region);
                bad = why;
            } else if (t->quadrant < 0 || t->quadrant >= rps) {
                snprintf(why, sizeof why, "quadrant %" PRId32 " outside 0-%" PRId64, t->quadrant,
                         rps - 1);
                bad = why;
            } else if (t->slice_index < 0 || t->slice_index >= sc->n) {
                snprintf(why, sizeof why, "slice_index %" PRId64 " outside 0-%" PRId64,
                         t->slice_index, sc->n - 1);
                bad = why;
            } else if (t->slice_index * rps + t->quadrant != r) {
                snprintf(why, sizeof why,
                         "quadrant %" PRId32 " of slice %" PRId64 " belongs in row %" PRId64,
                         t->quadrant, t->slice_index, t->slice_index * rps + t->quadrant);
                bad = why;
            } else if (sc->region != NULL && sc->region[t->slice_index] != region) {
                snprintf(why, sizeof why, "region %" PRId64 " but its slice's region is %d", region,
                         sc->region[t->slice_index]);
                bad = why;
            } else if (sc->have_z && (t->z < sc->z_range[0] || t->z >= sc->z_range[1])) {
                snprintf(why, sizeof why, "z %" PRId64 " outside the split's z range", t->z);
                bad = why;
            }
            if (bad != NULL && nbad++ == 0)
                snprintf(first, sizeof first, "row %" PRId64 ": %s", r, bad);
        }
    }
    if (nbad == 1)
        problem(ck, "%s: %s", where, first);
    else if (nbad > 1)
        problem(ck, "%s: %s (%" PRIu64 " rows in all)", where, first, nbad);
out:
    free(rows);
    mtp_h5_close(&memspace);
    mtp_h5_close(&fspace);
    mtp_h5_close(&mem);
    mtp_h5_close(&dset);
}

static void check_split(hid_t file, const mtp_bundle_summary *b, const bundle_root *br, int k,
                        checker *ck)
{
    split_check sc;
    memset(&sc, 0, sizeof sc);
    sc.b = b;
    sc.br = br;
    sc.ck = ck;
    sc.name = br->split_names[k];
    sc.depth = 1;
    snprintf(sc.where, sizeof sc.where, "/%s", sc.name);
    mtp_error e = MTP_ERROR_INIT;
    if (open_group(file, sc.name, &sc.group, &e) < 0) {
        problem_from(ck, &e);
        return;
    }
    /* The datasets are held to the group's own count; the root's list must agree with it. */
    sc.n = br->counts[k];
    int64_t count = 0;
    if (mtp_h5_attr_int(sc.group, sc.where, "count", &count, &e) < 0) {
        problem_from(ck, &e);
    } else {
        if (count != br->counts[k])
            problem(ck, "%s: count is %" PRId64 ", the root's counts say %" PRId64, sc.where, count,
                    br->counts[k]);
        sc.n = count;
    }
    if (sc.n < 0 || sc.n > MTP_BUNDLE_MAX_SAMPLES) {
        problem(ck, "%s: count %" PRId64 " is not in 0..%u", sc.where, sc.n,
                MTP_BUNDLE_MAX_SAMPLES);
        mtp_h5_close(&sc.group);
        return;
    }
    size_t nz = 0;
    if (mtp_h5_attr_ints(sc.group, sc.where, "z_range", sc.z_range, 2, &nz, &e) < 0)
        problem_from(ck, &e);
    else if (nz != 2)
        problem(ck, "%s: z_range does not have 2 entries", sc.where);
    else
        sc.have_z = true;

    check_pixels(&sc);
    if (strcmp(b->kind, "classification") == 0)
        sc.labels = check_bytes(&sc, "labels", "classes", b->nclasses);
    sc.region = check_bytes(&sc, "region", "regions", b->nregions);
    check_origin(&sc);
    if (strcmp(b->kind, "features") == 0)
        check_targets(&sc);
    check_balance(&sc);
    free(sc.labels);
    free(sc.region);
    mtp_h5_close(&sc.group);
}

static void check_bundle(hid_t file, hid_t root, checker *ck)
{
    mtp_bundle_summary *b = calloc(1, sizeof *b);
    bundle_root *br = calloc(1, sizeof *br);
    mtp_error e = MTP_ERROR_INIT;
    if (b == NULL || br == NULL) {
        problem(ck, "out of memory");
        goto out;
    }
    if (read_bundle_root(file, root, b, br, &e) < 0) {
        problem_from(ck, &e);
        goto out;
    }
    for (int k = 0; k < br->nsplits; k++)
        check_split(file, b, br, k, ck);
out:
    free(br);
    free(b);
}

/* volumes.h5: each /<region>/<channel> exists, has its region's shape and origin, reads. */
static void check_volume(hid_t group, const char *gwhere, const char *channel, const region_row *r,
                         int64_t *nz, int64_t *z0, checker *ck)
{
    mtp_error e = MTP_ERROR_INIT;
    hid_t dset = H5I_INVALID_HID, memspace = H5I_INVALID_HID;
    uint8_t *slice = NULL;
    mtp_dataset_summary ds;
    char where[2 * MTP_NAME_MAX + 4];
    snprintf(where, sizeof where, "%s/%s", gwhere, channel);
    if (open_dataset(group, gwhere, channel, &dset, &e) < 0 ||
        describe(dset, where, channel, &ds, &e) < 0) {
        problem_from(ck, &e);
        goto out;
    }
    int64_t h = r->y1 - r->y0, w = r->x1 - r->x0;
    if (ds.ndims != 3 || ds.shape[1] != h || ds.shape[2] != w) {
        char shape[96];
        hsize_t dims[4] = {(hsize_t)ds.shape[0], (hsize_t)ds.shape[1], (hsize_t)ds.shape[2],
                           (hsize_t)ds.shape[3]};
        shape_text(shape, sizeof shape, ds.ndims, dims);
        problem(ck, "%s: shape %s does not match region %s (%" PRId64 " x %" PRId64 ")", where,
                shape, r->name, h, w);
        goto out;
    }
    if (!is_byte_type(dset, false)) {
        problem(ck, "%s: not uint8", where);
        goto out;
    }
    if (ds.shape[0] < 1 || ds.shape[0] > MTP_MAX_COORD || h < 1 || w < 1 ||
        h > MTP_BUNDLE_MAX_EDGE || w > MTP_BUNDLE_MAX_EDGE ||
        (uint64_t)(h * w) > MTP_BUNDLE_MAX_CHUNK_BYTES) {
        problem(ck, "%s: shape beyond the format's caps", where);
        goto out;
    }
    if (*nz < 0)
        *nz = ds.shape[0];
    else if (ds.shape[0] != *nz)
        problem(ck, "%s: %" PRId64 " slices, other volumes have %" PRId64, where, ds.shape[0], *nz);
    int64_t origin[3];
    size_t n = 0;
    if (mtp_h5_attr_ints(dset, where, "origin", origin, 3, &n, &e) < 0) {
        problem_from(ck, &e);
    } else if (n != 3 || origin[1] != r->y0 || origin[2] != r->x0 ||
               (*z0 != INT64_MIN && origin[0] != *z0)) {
        problem(ck, "%s: origin attribute does not match region %s", where, r->name);
    } else {
        *z0 = origin[0];
    }
    hsize_t one[3] = {1, (hsize_t)h, (hsize_t)w};
    memspace = H5Screate_simple(3, one, NULL);
    slice = malloc((size_t)(h * w));
    if (memspace < 0 || slice == NULL) {
        problem(ck, "%s: out of memory", where);
        goto out;
    }
    for (int64_t z = 0; z < ds.shape[0]; z++) {
        if (mtp_h5_read_slice(dset, memspace, 3, (hsize_t)z, 0, (hsize_t)h, (hsize_t)w, slice) <
            0) {
            innermost in;
            problem(ck, "%s: cannot read slice %" PRId64 ": %s", where, z, h5_reason(&in));
            break;
        }
    }
out:
    free(slice);
    mtp_h5_close(&memspace);
    mtp_h5_close(&dset);
}

static void check_volumes(hid_t file, hid_t root, checker *ck)
{
    mtp_error e = MTP_ERROR_INIT;
    region_row regions[MTP_MAX_REGIONS];
    char channels[MTP_MAX_CHANNELS][MTP_NAME_MAX];
    mtp_dataset_summary ds;
    size_t nch = 0;
    int nregions = 0;
    if (mtp_h5_attr_strings(root, "/", "channel_names", &channels[0][0], MTP_NAME_MAX,
                            MTP_MAX_CHANNELS, &nch, &e) < 0 ||
        read_regions(file, regions, &nregions, &ds, &e) < 0) {
        problem_from(ck, &e);
        return;
    }
    int64_t nz = -1, z0 = INT64_MIN;
    for (int r = 0; r < nregions; r++) {
        hid_t group = H5I_INVALID_HID;
        if (open_group(file, regions[r].name, &group, &e) < 0) {
            problem_from(ck, &e);
            continue;
        }
        char gwhere[MTP_NAME_MAX + 2];
        snprintf(gwhere, sizeof gwhere, "/%.*s", MTP_NAME_MAX - 1, regions[r].name);
        for (size_t c = 0; c < nch; c++)
            check_volume(group, gwhere, channels[c], &regions[r], &nz, &z0, ck);
        mtp_h5_close(&group);
    }
}

int mtp_h5read_check(const char *path, mtp_h5read_problem_fn fn, void *userdata, int *nproblems,
                     mtp_error *err)
{
    if (nproblems != NULL)
        *nproblems = 0;
    mtp_error e = MTP_ERROR_INIT;
    hid_t file = H5I_INVALID_HID, root = H5I_INVALID_HID;
    mtp_h5_quiet q;
    mtp_h5_quiet_begin(&q);
    int rc = open_root(path, &file, &root, &e);
    if (rc < 0) {
        rc = mtp_error_set(err, e.code, "%s: %s", path != NULL ? path : "(null)", e.msg);
        goto out;
    }
    checker ck = {base_name(path), fn, userdata, 0};
    file_format format = FORMAT_BUNDLE;
    int version = 0;
    if (root_format(root, &format, &version, &e) < 0)
        problem_from(&ck, &e);
    else if (format == FORMAT_VOLUMES)
        check_volumes(file, root, &ck);
    else
        check_bundle(file, root, &ck);
    if (nproblems != NULL)
        *nproblems = ck.nproblems;
out:
    mtp_h5_close(&root);
    mtp_h5_close(&file);
    mtp_h5_quiet_end(&q);
    return rc;
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
