/*
 * h5check.c — the content check verify runs on every .h5 file of a release (mtp_h5check_file):
 * every byte of every split read back and the recorded counts recomputed (FORMAT.md §1.4, §3.3).
 * It reads through h5read's helpers (h5read_internal.h) and h5util's attribute reader.
 */
#include "mtp/h5check.h"

#include "h5read_internal.h"
#include "h5util.h"
#include "mtp/h5bundle.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#define ROWS_PER_READ 4096 /* origin rows read at once */

typedef struct checker {
    const char *name; /* the file's base name, first on every line */
    mtp_h5check_problem_fn fn;
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
    mtp_text_printable(line); /* names and strings may come from a crafted file */
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
    if (mtp_h5r_read_counts(group, where, attr, recorded, n, what, &e) < 0) {
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
    const mtp_h5r_bundle_root *br;
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
    if (mtp_h5r_open_dataset(sc->group, sc->where, name, &dset, &e) < 0 ||
        mtp_h5r_describe(dset, where, name, &ds, &e) < 0) {
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
    char in[512];
    for (hsize_t i = 0; i < dims[0] && (images_ok || masks_ok); i++) {
        for (hsize_t d = 0; d < depth; d++) {
            if (images_ok && mtp_h5_read_slice(images, memspace, rank, i, d, h, w, slice) < 0) {
                problem(ck, "%s/images: cannot read sample %llu: %s", sc->where,
                        (unsigned long long)i, mtp_h5_reason(in, sizeof in));
                images_ok = false;
            }
            if (!masks_ok)
                continue;
            if (mtp_h5_read_slice(masks, memspace, rank, i, d, h, w, slice) < 0) {
                problem(ck, "%s/masks: cannot read sample %llu: %s", sc->where,
                        (unsigned long long)i, mtp_h5_reason(in, sizeof in));
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
        char in[512];
        problem(sc->ck, "%s: cannot read: %s", where, mtp_h5_reason(in, sizeof in));
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
            char in[512];
            problem(sc->ck, "%s: cannot read: %s", where, mtp_h5_reason(in, sizeof in));
            goto out;
        }
        for (hsize_t k = 0; k < count[0]; k++) {
            const int64_t *o = &rows[3 * k];
            hsize_t i = start + k;
            bool ok = true;
            if (sc->region != NULL && sc->region[i] < sc->b->nregions) {
                const mtp_h5r_region *r = &sc->br->regions[sc->region[i]];
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
        char in[512];
        problem(sc->ck, "%s: cannot make a row type: %s", where, mtp_h5_reason(in, sizeof in));
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
    if (mtp_h5r_open_dataset(sc->group, sc->where, "targets", &dset, &e) < 0 ||
        mtp_h5r_describe(dset, where, "targets", &ds, &e) < 0) {
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
            char in[512];
            problem(ck, "%s: cannot read: %s", where, mtp_h5_reason(in, sizeof in));
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

static void check_split(hid_t file, const mtp_bundle_summary *b, const mtp_h5r_bundle_root *br,
                        int k, checker *ck)
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
    if (mtp_h5r_open_group(file, sc.name, &sc.group, &e) < 0) {
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
    mtp_h5r_bundle_root *br = calloc(1, sizeof *br);
    mtp_error e = MTP_ERROR_INIT;
    if (b == NULL || br == NULL) {
        problem(ck, "out of memory");
        goto out;
    }
    if (mtp_h5r_read_bundle_root(file, root, b, br, &e) < 0) {
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
static void check_volume(hid_t group, const char *gwhere, const char *channel,
                         const mtp_h5r_region *r, int64_t *nz, int64_t *z0, checker *ck)
{
    mtp_error e = MTP_ERROR_INIT;
    hid_t dset = H5I_INVALID_HID, memspace = H5I_INVALID_HID;
    uint8_t *slice = NULL;
    mtp_dataset_summary ds;
    char where[2 * MTP_NAME_MAX + 4];
    snprintf(where, sizeof where, "%s/%s", gwhere, channel);
    if (mtp_h5r_open_dataset(group, gwhere, channel, &dset, &e) < 0 ||
        mtp_h5r_describe(dset, where, channel, &ds, &e) < 0) {
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
            char in[512];
            problem(ck, "%s: cannot read slice %" PRId64 ": %s", where, z,
                    mtp_h5_reason(in, sizeof in));
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
    mtp_h5r_region regions[MTP_MAX_REGIONS];
    char channels[MTP_MAX_CHANNELS][MTP_NAME_MAX];
    mtp_dataset_summary ds;
    size_t nch = 0;
    int nregions = 0;
    if (mtp_h5_attr_strings(root, "/", "channel_names", &channels[0][0], MTP_NAME_MAX,
                            MTP_MAX_CHANNELS, &nch, &e) < 0 ||
        mtp_h5r_read_regions(file, regions, &nregions, &ds, &e) < 0) {
        problem_from(ck, &e);
        return;
    }
    int64_t nz = -1, z0 = INT64_MIN;
    for (int r = 0; r < nregions; r++) {
        hid_t group = H5I_INVALID_HID;
        if (mtp_h5r_open_group(file, regions[r].name, &group, &e) < 0) {
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

int mtp_h5check_file(const char *path, mtp_h5check_problem_fn fn, void *userdata, int *nproblems,
                     mtp_error *err)
{
    if (nproblems != NULL)
        *nproblems = 0;
    mtp_error e = MTP_ERROR_INIT;
    hid_t file = H5I_INVALID_HID, root = H5I_INVALID_HID;
    mtp_h5_quiet q;
    mtp_h5_quiet_begin(&q);
    int rc = mtp_h5r_open_root(path, &file, &root, &e);
    if (rc < 0) {
        rc = mtp_error_set(err, e.code, "%s: %s", path != NULL ? path : "(null)", e.msg);
        goto out;
    }
    checker ck = {mtp_h5r_base_name(path), fn, userdata, 0};
    mtp_h5r_format format = MTP_H5R_BUNDLE;
    int version = 0;
    if (mtp_h5r_root_format(root, &format, &version, &e) < 0)
        problem_from(&ck, &e);
    else if (format == MTP_H5R_VOLUMES)
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
