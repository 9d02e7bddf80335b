#include "h5util.h"
#include "mtp/h5read.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct innermost {
    char *buf;
    size_t n;
    bool found;
} innermost;

static herr_t take_innermost(unsigned n, const H5E_error2_t *e, void *data)
{
    (void)n;
    innermost *in = data;
    /* Walking upward, entry 0 is the deepest frame. */
    if (in->found || e == NULL)
        return 0;
    const char *desc = e->desc;
    char minor[256] = "";
    if (desc == NULL || desc[0] == '\0') {
        H5E_type_t type;
        if (H5Eget_msg(e->min_num, &type, minor, sizeof minor) > 0)
            desc = minor;
    }
    if (desc == NULL || desc[0] == '\0')
        desc = "unknown error";
    /* The sec2 driver's I/O failures are long ("file write failed: time = ..., filename =
     * ..., errno = 28, error message = ..."): keep what failed and the OS's reason. */
    const char *errno_at = strstr(desc, "errno = ");
    const char *colon = strchr(desc, ':');
    int os_error = errno_at != NULL ? atoi(errno_at + 8) : 0;
    if (os_error > 0 && colon != NULL)
        snprintf(in->buf, in->n, "%.*s: %s", (int)(colon - desc), desc, strerror(os_error));
    else
        snprintf(in->buf, in->n, "%s", desc);
    in->found = true;
    return 0;
}

void mtp_h5_policy_init(void)
{
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

const char *mtp_h5_reason(char *buf, size_t n)
{
    innermost in = {buf, n, false};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, take_innermost, &in);
    H5Eclear2(H5E_DEFAULT);
    if (!in.found)
        snprintf(buf, n, "unknown HDF5 error");
    return buf;
}

void mtp_h5_quiet_begin(mtp_h5_quiet *q)
{
    q->func = NULL;
    q->data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void mtp_h5_quiet_end(const mtp_h5_quiet *q)
{
    H5Eclear2(H5E_DEFAULT);
    H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

void mtp_h5_close(hid_t *id)
{
    if (*id < 0)
        return;
    switch (H5Iget_type(*id)) {
    case H5I_FILE:
        H5Fclose(*id);
        break;
    case H5I_GROUP:
        H5Gclose(*id);
        break;
    case H5I_DATASET:
        H5Dclose(*id);
        break;
    case H5I_DATATYPE:
        H5Tclose(*id);
        break;
    case H5I_DATASPACE:
        H5Sclose(*id);
        break;
    case H5I_ATTR:
        H5Aclose(*id);
        break;
    case H5I_GENPROP_LST:
        H5Pclose(*id);
        break;
    default:
        break;
    }
    *id = H5I_INVALID_HID;
}

/* The file space of dset with the slice selected, or negative. */
static hid_t select_slice(hid_t dset, int rank, hsize_t i, hsize_t d, hsize_t h, hsize_t w)
{
    hsize_t start[4] = {i, 0, 0, 0}, count[4] = {1, 1, 1, 1};
    if (rank == 4)
        start[1] = d;
    count[rank - 2] = h;
    count[rank - 1] = w;
    hid_t fspace = H5Dget_space(dset);
    if (fspace >= 0 && H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0)
        mtp_h5_close(&fspace);
    return fspace;
}

herr_t mtp_h5_read_slice(hid_t dset, hid_t memspace, int rank, hsize_t i, hsize_t d, hsize_t h,
                         hsize_t w, uint8_t *buf)
{
    hid_t fspace = select_slice(dset, rank, i, d, h, w);
    herr_t rc =
        fspace < 0 ? -1 : H5Dread(dset, H5T_NATIVE_UINT8, memspace, fspace, H5P_DEFAULT, buf);
    mtp_h5_close(&fspace);
    return rc;
}

herr_t mtp_h5_write_slice(hid_t dset, hid_t memspace, int rank, hsize_t i, hsize_t d, hsize_t h,
                          hsize_t w, const uint8_t *buf)
{
    hid_t fspace = select_slice(dset, rank, i, d, h, w);
    herr_t rc =
        fspace < 0 ? -1 : H5Dwrite(dset, H5T_NATIVE_UINT8, memspace, fspace, H5P_DEFAULT, buf);
    mtp_h5_close(&fspace);
    return rc;
}

/* ---- attributes: the one reader (h5read, preview) ------------------------------------ */

static int open_attr(hid_t obj, const char *where, const char *name, hid_t *attr, mtp_error *e)
{
    *attr = H5I_INVALID_HID;
    if (H5Aexists(obj, name) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return mtp_error_set(e, MTP_EFORMAT, "%s: missing attribute %s", where, name);
    }
    *attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (*attr < 0) {
        char in[512];
        return mtp_error_set(e, MTP_EFORMAT, "%s: attribute %s: %s", where, name,
                             mtp_h5_reason(in, sizeof in));
    }
    return 0;
}

/* Elements of an attribute's (scalar or 1-D) space, checked against 0..max. */
static int attr_count(hid_t space, const char *where, const char *name, size_t max, size_t *n,
                      mtp_error *e)
{
    int rank = H5Sget_simple_extent_ndims(space);
    hssize_t npoints = H5Sget_simple_extent_npoints(space);
    if (rank < 0 || rank > 1 || npoints < 0)
        return mtp_error_set(e, MTP_EFORMAT, "%s: attribute %s is not a scalar or a 1-D array",
                             where, name);
    if ((uint64_t)npoints > max)
        return mtp_error_set(e, MTP_ERANGE, "%s: attribute %s has %lld values (at most %zu)", where,
                             name, (long long)npoints, max);
    *n = (size_t)npoints;
    return 0;
}

/* Copy a string of `len` bytes into out[width]; too long is MTP_ERANGE. */
static int copy_string(char *out, size_t width, const char *s, size_t len, const char *where,
                       const char *name, mtp_error *e)
{
    if (len >= width)
        return mtp_error_set(e, MTP_ERANGE, "%s: attribute %s: a string longer than %zu bytes",
                             where, name, width - 1);
    memcpy(out, s, len);
    out[len] = '\0';
    return 0;
}

/*
 * Read the strings of attribute `name` (scalar or 1-D, variable- or fixed-length) into
 * out + i * width, at most `max`; *n gets how many.
 */
int mtp_h5_attr_strings(hid_t obj, const char *where, const char *name, char *out, size_t width,
                        size_t max, size_t *n, mtp_error *e)
{
    hid_t attr = H5I_INVALID_HID, ftype = H5I_INVALID_HID, space = H5I_INVALID_HID;
    hid_t mtype = H5I_INVALID_HID;
    char **vbuf = NULL;
    char *fbuf = NULL;
    size_t count = 0;
    char in[512];
    int rc = open_attr(obj, where, name, &attr, e);
    if (rc < 0)
        goto out;
    ftype = H5Aget_type(attr);
    space = H5Aget_space(attr);
    mtype = H5Tcopy(H5T_C_S1);
    if (ftype < 0 || space < 0 || mtype < 0) {
        rc = mtp_error_set(e, MTP_EFORMAT, "%s: attribute %s: %s", where, name,
                           mtp_h5_reason(in, sizeof in));
        goto out;
    }
    if (H5Tget_class(ftype) != H5T_STRING) {
        rc = mtp_error_set(e, MTP_EFORMAT, "%s: attribute %s is not a string", where, name);
        goto out;
    }
    rc = attr_count(space, where, name, max, &count, e);
    if (rc < 0 || count == 0)
        goto out;
    /* HDF5 does not convert between character sets: read in the file's own. */
    H5T_cset_t cset = H5Tget_cset(ftype);
    htri_t variable = H5Tis_variable_str(ftype);
    if (cset < 0 || variable < 0 || H5Tset_cset(mtype, cset) < 0) {
        rc = mtp_error_set(e, MTP_EFORMAT, "%s: attribute %s: %s", where, name,
                           mtp_h5_reason(in, sizeof in));
        goto out;
    }
    if (variable > 0) {
        vbuf = calloc(count, sizeof *vbuf);
        if (vbuf == NULL) {
            rc = mtp_error_set(e, MTP_ENOMEM, "%s: attribute %s: out of memory", where, name);
            goto out;
        }
        if (H5Tset_size(mtype, H5T_VARIABLE) < 0 || H5Aread(attr, mtype, vbuf) < 0) {
            free(vbuf);
            vbuf = NULL;
            rc = mtp_error_set(e, MTP_EFORMAT, "%s: attribute %s: %s", where, name,
                               mtp_h5_reason(in, sizeof in));
            goto out;
        }
        for (size_t i = 0; i < count && rc == 0; i++) {
            const char *s = vbuf[i] != NULL ? vbuf[i] : "";
            rc = copy_string(out + i * width, width, s, strnlen(s, width), where, name, e);
        }
    } else {
        size_t size = H5Tget_size(ftype);
        if (size == 0 || size > MTP_H5_ATTR_STRING_MAX) {
            rc = mtp_error_set(e, MTP_ERANGE, "%s: attribute %s: string size %zu not in 1..%d",
                               where, name, size, MTP_H5_ATTR_STRING_MAX);
            goto out;
        }
        fbuf = calloc(count, size);
        if (fbuf == NULL) {
            rc = mtp_error_set(e, MTP_ENOMEM, "%s: attribute %s: out of memory", where, name);
            goto out;
        }
        if (H5Tset_size(mtype, size) < 0 || H5Tset_strpad(mtype, H5T_STR_NULLPAD) < 0 ||
            H5Aread(attr, mtype, fbuf) < 0) {
            rc = mtp_error_set(e, MTP_EFORMAT, "%s: attribute %s: %s", where, name,
                               mtp_h5_reason(in, sizeof in));
            goto out;
        }
        for (size_t i = 0; i < count && rc == 0; i++) {
            const char *s = fbuf + i * size;
            rc = copy_string(out + i * width, width, s, strnlen(s, size), where, name, e);
        }
    }
out:
    if (vbuf != NULL) {
#if H5_VERSION_GE(1, 12, 0)
        H5Treclaim(mtype, space, H5P_DEFAULT, vbuf);
#else
        H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, vbuf);
#endif
        free(vbuf);
    }
    free(fbuf);
    mtp_h5_close(&mtype);
    mtp_h5_close(&space);
    mtp_h5_close(&ftype);
    mtp_h5_close(&attr);
    *n = rc == 0 ? count : 0;
    return rc;
}

/* One string (a scalar, or an array of one). */
int mtp_h5_attr_string(hid_t obj, const char *where, const char *name, char *out, size_t width,
                       mtp_error *e)
{
    size_t n = 0;
    int rc = mtp_h5_attr_strings(obj, where, name, out, width, 1, &n, e);
    if (rc == 0 && n != 1)
        rc = mtp_error_set(e, MTP_EFORMAT, "%s: attribute %s is empty", where, name);
    return rc;
}

/* Integer attribute values (scalar or 1-D, any integer type) as int64, at most `max`. */
int mtp_h5_attr_ints(hid_t obj, const char *where, const char *name, int64_t *out, size_t max,
                     size_t *n, mtp_error *e)
{
    hid_t attr = H5I_INVALID_HID, ftype = H5I_INVALID_HID, space = H5I_INVALID_HID;
    size_t count = 0;
    char in[512];
    int rc = open_attr(obj, where, name, &attr, e);
    if (rc < 0)
        goto out;
    ftype = H5Aget_type(attr);
    space = H5Aget_space(attr);
    if (ftype < 0 || space < 0) {
        rc = mtp_error_set(e, MTP_EFORMAT, "%s: attribute %s: %s", where, name,
                           mtp_h5_reason(in, sizeof in));
        goto out;
    }
    size_t size = H5Tget_size(ftype);
    if (H5Tget_class(ftype) != H5T_INTEGER || size < 1 || size > 8) {
        rc = mtp_error_set(e, MTP_EFORMAT, "%s: attribute %s is not an integer", where, name);
        goto out;
    }
    rc = attr_count(space, where, name, max, &count, e);
    if (rc == 0 && count > 0 && H5Aread(attr, H5T_NATIVE_INT64, out) < 0)
        rc = mtp_error_set(e, MTP_EFORMAT, "%s: attribute %s: %s", where, name,
                           mtp_h5_reason(in, sizeof in));
out:
    mtp_h5_close(&space);
    mtp_h5_close(&ftype);
    mtp_h5_close(&attr);
    *n = rc == 0 ? count : 0;
    return rc;
}

int mtp_h5_attr_int(hid_t obj, const char *where, const char *name, int64_t *out, mtp_error *e)
{
    size_t n = 0;
    int rc = mtp_h5_attr_ints(obj, where, name, out, 1, &n, e);
    if (rc == 0 && n != 1)
        rc = mtp_error_set(e, MTP_EFORMAT, "%s: attribute %s is empty", where, name);
    return rc;
}
