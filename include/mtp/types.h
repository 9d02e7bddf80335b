/*
 * types.h — small value types shared across modules: half-open ranges, boxes, dtypes.
 */
#ifndef MTP_TYPES_H
#define MTP_TYPES_H

#include <stddef.h>
#include <stdint.h>

/* A half-open range [start, stop). */
typedef struct mtp_range {
    int64_t start;
    int64_t stop;
} mtp_range;

/* A half-open box in voxel coordinates, [x0,x1) x [y0,y1) x [z0,z1). */
typedef struct mtp_box {
    int64_t x0, x1, y0, y1, z0, z1;
} mtp_box;

/* Voxel data types BossDB serves. */
typedef enum mtp_dtype {
    MTP_DTYPE_UNKNOWN = 0,
    MTP_DTYPE_UINT8,
    MTP_DTYPE_UINT16,
    MTP_DTYPE_UINT64,
} mtp_dtype;

/* Bytes per voxel (0 for UNKNOWN). */
size_t mtp_dtype_size(mtp_dtype dtype);
/* "uint8", "uint16", "uint64" or "unknown". */
const char *mtp_dtype_name(mtp_dtype dtype);
/* Parse a BossDB datatype name; MTP_DTYPE_UNKNOWN if it is none of them. */
mtp_dtype mtp_dtype_parse(const char *name);

/* The server's cap on one cutout: x·y·z·bits/8 (÷4 for 64-bit channels), in bytes. */
#define MTP_SERVER_CUTOUT_CAP 545259520ull

/* What BossDB counts against its cutout cap for `voxels` voxels of elem_size bytes
 * (reference/bossdb-api.md §1: bits/8, a quarter of that for 64-bit voxels): one byte per
 * voxel for uint8, two for uint16 and uint64, and two when the size is unknown (0). */
uint64_t mtp_cutout_weight(uint64_t voxels, size_t elem_size);

/* Voxels in a box (0 if any axis is empty). */
uint64_t mtp_box_voxels(const mtp_box *box);
/* 1 if the boxes have the same bounds. */
int mtp_box_equal(const mtp_box *a, const mtp_box *b);
/* 1 if the boxes share at least one voxel. */
int mtp_box_intersects(const mtp_box *a, const mtp_box *b);
/* The intersection of a and b in *out; returns 0 if empty (then *out is unspecified). */
int mtp_box_intersect(const mtp_box *a, const mtp_box *b, mtp_box *out);
/* Copy the voxels of `part` (which lies inside both boxes) from `src`, an array over
 * src_box, into `dst`, an array over dst_box: both z, y, x C order (x fastest), elem_size
 * bytes per voxel; one memcpy per row. */
void mtp_box_copy(void *dst, const mtp_box *dst_box, const void *src, const mtp_box *src_box,
                  const mtp_box *part, size_t elem_size);

#endif
