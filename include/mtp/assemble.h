/*
 * assemble.h — the assembly stage: one region's cube of one channel from cached blocks.
 *
 * The build works one region at a time: for each channel it needs, the region's box over
 * the config's z range is copied out of the cached blocks that cover it and narrowed to
 * uint8 (images are uint8 already; label codes are checked to fit). Blocks are read with
 * mtp_cache_get_u8, so label blocks the cache stores narrowed cost a byte per voxel to
 * decode and checksum. Memory is the cube plus one block at one byte per voxel (plus, only
 * when a block holds a value > 255 outside the box, that block at full width).
 */
#ifndef MTP_ASSEMBLE_H
#define MTP_ASSEMBLE_H

#include <stddef.h>
#include <stdint.h>

#include "mtp/cache.h"
#include "mtp/config.h"
#include "mtp/error.h"
#include "mtp/plan.h"
#include "mtp/types.h"

/* A uint8 cube over `box`, C order (z, y, x). */
typedef struct mtp_volume {
    mtp_box box;
    size_t nx, ny, nz;
    uint8_t *data; /* owned, nz*ny*nx bytes */
} mtp_volume;

/* The box of region r over the config's z range. */
mtp_box mtp_assemble_region_box(const mtp_config *cfg, int region);

/*
 * Fill `vol` (allocated here; free with mtp_assemble_release) with channel `channel` over
 * `box`, reading every planned block of that channel that intersects it from `cache`.
 * `dtype` is the channel's type on the server. Values above 255 are MTP_EDATA naming the
 * channel, the absolute position and the value. A block missing from the cache is
 * MTP_ENOTFOUND; a damaged one MTP_ECORRUPT (the cache has discarded it, so a fetch
 * gets it again). Voxels of `box` no block covers are an MTP_EINVAL (a planning bug).
 */
int mtp_assemble_load(mtp_volume *vol, const mtp_config *cfg, const mtp_plan *plan,
                      mtp_cache *cache, int channel, mtp_dtype dtype, const mtp_box *box,
                      mtp_error *err);

/*
 * mtp_assemble_load() in two steps, so the blocks can be read on several threads:
 * mtp_assemble_begin() checks that the plan's blocks of `channel` cover `box` (MTP_EINVAL
 * otherwise) and allocates the cube (contents undefined until every block is loaded);
 * mtp_assemble_load_block() reads plan block `block` (an index into plan->blocks) and copies
 * its part inside the box, if any, into the cube, with the errors of mtp_assemble_load().
 * Distinct blocks write distinct voxels, so they may be loaded concurrently.
 */
int mtp_assemble_begin(mtp_volume *vol, const mtp_config *cfg, const mtp_plan *plan, int channel,
                       const mtp_box *box, mtp_error *err);
int mtp_assemble_load_block(mtp_volume *vol, const mtp_config *cfg, const mtp_plan *plan,
                            mtp_cache *cache, mtp_dtype dtype, size_t block, mtp_error *err);

/* Free the cube's data (the struct itself is the caller's). NULL ok. */
void mtp_assemble_release(mtp_volume *vol);

/* The cache key of a planned block (pointers borrow from cfg). */
mtp_block_key mtp_assemble_block_key(const mtp_config *cfg, const mtp_block *block,
                                     mtp_dtype dtype);

#endif
