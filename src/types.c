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

uint64_t mtp_cutout_weight(uint64_t voxels, size_t elem_size)
{
    return voxels * (elem_size == 1 ? 1 : 2);
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

/* Offset in voxels of (x, y, z) in an array over box. */
static size_t box_offset(const mtp_box *box, int64_t x, int64_t y, int64_t z)
{
    size_t nx = (size_t)(box->x1 - box->x0), ny = (size_t)(box->y1 - box->y0);
    return ((size_t)(z - box->z0) * ny + (size_t)(y - box->y0)) * nx + (size_t)(x - box->x0);
}

void mtp_box_copy(void *dst, const mtp_box *dst_box, const void *src, const mtp_box *src_box,
                  const mtp_box *part, size_t elem_size)
{
    size_t row = (size_t)(part->x1 - part->x0) * elem_size;
    for (int64_t z = part->z0; z < part->z1; z++)
        for (int64_t y = part->y0; y < part->y1; y++)
            memcpy((uint8_t *)dst + box_offset(dst_box, part->x0, y, z) * elem_size,
                   (const uint8_t *)src + box_offset(src_box, part->x0, y, z) * elem_size, row);
}
