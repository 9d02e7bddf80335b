#include "mtp/types.h"

#include <string.h>

size_t mtp_dtype_size(mtp_dtype dtype)
{
    switch (dtype) {
    case MTP_DTYPE_UINT8:
        return 1;
    case MTP_DTYPE_UINT16:
        return 2;
    case MTP_DTYPE_UINT64:
        return 8;
    default:
        return 0;
    }
}

const char *mtp_dtype_name(mtp_dtype dtype)
{
    switch (dtype) {
    case MTP_DTYPE_UINT8:
        return "uint8";
    case MTP_DTYPE_UINT16:
        return "uint16";
    case MTP_DTYPE_UINT64:
        return "uint64";
    default:
        return "unknown";
    }
}

mtp_dtype mtp_dtype_parse(const char *name)
{
    if (name == NULL)
        return MTP_DTYPE_UNKNOWN;
    if (strcmp(name, "uint8") == 0)
        return MTP_DTYPE_UINT8;
    if (strcmp(name, "uint16") == 0)
        return MTP_DTYPE_UINT16;
    if (strcmp(name, "uint64") == 0)
        return MTP_DTYPE_UINT64;
    return MTP_DTYPE_UNKNOWN;
}

uint64_t mtp_box_voxels(const mtp_box *box)
{
    if (box->x1 <= box->x0 || box->y1 <= box->y0 || box->z1 <= box->z0)
        return 0;
    return (uint64_t)(box->x1 - box->x0) * (uint64_t)(box->y1 - box->y0) *
           (uint64_t)(box->z1 - box->z0);
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

int mtp_box_intersect(const mtp_box *a, const mtp_box *b, mtp_box *out)
{
    mtp_box r = {
        max64(a->x0, b->x0), min64(a->x1, b->x1), max64(a->y0, b->y0),
        min64(a->y1, b->y1), max64(a->z0, b->z0), min64(a->z1, b->z1),
    };
    *out = r;
    return mtp_box_voxels(&r) > 0;
}

int mtp_box_equal(const mtp_box *a, const mtp_box *b)
{
    return a->x0 == b->x0 && a->x1 == b->x1 && a->y0 == b->y0 && a->y1 == b->y1 && a->z0 == b->z0 &&
           a->z1 == b->z1;
}

int mtp_box_intersects(const mtp_box *a, const mtp_box *b)
{
    mtp_box r;
    return mtp_box_intersect(a, b, &r);
}
