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
