/*
 * plan.h — what to download: per channel, the union of every box any task (and
 * volumes.h5) needs, cut into blocks aligned to the server's cuboid grid.
 *
 * Rules (reference/bossdb-api.md §1 "Storage grid"):
 * - The needed set of a channel is the union over tasks using the channel (as images or
 *   labels; volumes.h5 uses every channel) of region.x × region.y × z-range of every
 *   split the task uses, for the regions the task does not exclude.
 * - Blocks are disjoint, cover exactly the needed set (no voxel outside it, none twice),
 *   and each lies inside one cell of a grid counted from 0 whose cell is
 *   source.block (x, y, z) — itself a multiple or divisor of the 512×512×16 cuboid;
 *   so a block never straddles a cuboid boundary that a block-sized cell would not.
 * - Order: channels in config order; within a channel by (z0, y0, x0) ascending.
 * - Each block is far below the server's size cap (checked: MTP_ERANGE otherwise).
 */
#ifndef MTP_PLAN_H
#define MTP_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "mtp/config.h"
#include "mtp/error.h"
#include "mtp/types.h"

typedef struct mtp_block {
    int channel; /* index into config.channels */
    mtp_box box; /* voxel box at source.resolution */
} mtp_block;

typedef struct mtp_plan {
    size_t nblocks;
    mtp_block *blocks; /* owned */
    /* Per channel (index into config.channels): whether any stage uses it, its blocks
     * [first_block[c], first_block[c] + nblocks_of[c]) and voxel count. */
    bool used[MTP_MAX_CHANNELS];
    size_t first_block[MTP_MAX_CHANNELS];
    size_t nblocks_of[MTP_MAX_CHANNELS];
    uint64_t voxels_of[MTP_MAX_CHANNELS];
} mtp_plan;

/*
 * A cutout request (DESIGN §5 "Fewer round trips"): `count` blocks of one channel whose
 * union is exactly `box`. Its blocks are members[first .. first + count) of
 * mtp_plan_requests' member list.
 */
typedef struct mtp_request {
    int channel;
    mtp_box box;
    size_t first, count;
} mtp_request;

/*
 * Build the plan for `cfg`. Bytes per voxel are not known here (they come from the
 * server's metadata); callers multiply voxels by the channel's dtype size.
 * On success *out is owned by the caller (mtp_plan_free); on failure NULL.
 */
int mtp_plan_new(mtp_plan **out, const mtp_config *cfg, mtp_error *err);

void mtp_plan_free(mtp_plan *plan);

/*
 * Requests group blocks up to this many voxels (4 Mi, a 256 x 256 x 64 box): a request's
 * decoded data is held whole until its blocks are stored (a byte per voxel for narrowed
 * label channels), so 16 transfers in flight hold 64 MiB, within MTP_BOSS_INFLIGHT_MAX.
 * Measured on the demo (2 cores, bossdb-mock): 4 Mi voxels per request builds 25 % faster on
 * loopback than one 16 Mi voxel cell per request, and no slower with 150 ms of latency.
 */
#define MTP_PLAN_REQUEST_VOXELS (4ull << 20)

/*
 * The most voxels one cutout request may hold for a channel whose voxels are `elem_size`
 * bytes (0 = unknown: the worst case, 8): MTP_PLAN_REQUEST_VOXELS, never more than one
 * source.block cell (the request size the config asks for) and never over the server's cap
 * (MTP_SERVER_CUTOUT_CAP, which weighs 64-bit voxels as 2 bytes). A block bigger than this
 * is a request of its own.
 */
uint64_t mtp_plan_request_voxels(const mtp_config *cfg, size_t elem_size);

/*
 * Group blocks into as few cutout requests as the sizes allow. `blocks` holds n plan block
 * indices in the order the caller will fetch them. Neighbours are merged when their union
 * is a box of at most max_voxels[channel] voxels: first along x (same y and z extents,
 * touching), then along y, then along z; a block over the limit is a request of its own.
 * Requests come in the order of their first block in `blocks`, and each request's members
 * in that order too. The result depends only on the inputs. On success *requests (*nrequests
 * of them) and *members (n indices) are owned by the caller (free); MTP_ENOMEM or MTP_EINVAL
 * (an index out of range) otherwise.
 */
int mtp_plan_requests(const mtp_plan *plan, const size_t *blocks, size_t n,
                      const uint64_t max_voxels[MTP_MAX_CHANNELS], mtp_request **requests,
                      size_t *nrequests, size_t **members, mtp_error *err);

#endif
