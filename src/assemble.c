#include "mtp/assemble.h"

#include <stdlib.h>
#include <string.h>

mtp_box mtp_assemble_region_box(const mtp_config *cfg, int region)
{
    const mtp_region *r = &cfg->regions[region];
    mtp_box box = {r->x.start, r->x.stop, r->y.start, r->y.stop, cfg->z.start, cfg->z.stop};
    return box;
}

mtp_block_key mtp_assemble_block_key(const mtp_config *cfg, const mtp_block *block, mtp_dtype dtype)
{
    const mtp_channel *ch = &cfg->channels[block->channel];
    mtp_block_key key = {
        .server = cfg->source.url,
        .collection = ch->collection,
        .experiment = ch->experiment,
        .channel = ch->channel,
        .resolution = cfg->source.resolution,
        .dtype = dtype,
        .box = block->box,
    };
    return key;
}

static int overflow_error(mtp_error *err, const char *channel_name, uint64_t value, int64_t x,
                          int64_t y, int64_t z)
{
    return mtp_error_set(err, MTP_EDATA,
                         "%s: value %llu at (x=%lld, y=%lld, z=%lld) does not fit "
                         "in uint8",
                         channel_name, (unsigned long long)value, (long long)x, (long long)y,
                         (long long)z);
}

static uint64_t wide_value(const unsigned char *block, size_t size, size_t index)
{
    if (size == 2) {
        uint16_t v;
        memcpy(&v, block + 2 * index, 2);
        return v;
    }
    uint64_t v;
    memcpy(&v, block + 8 * index, 8);
    return v;
}

/*
 * The block holds a value > 255, but its first one (in the block's order) lies outside
 * `part`. Read the block at full width and report the first one inside `part` in the
 * cube's order, or return 0 if there is none (the low bytes the caller has are then exact).
 * Rare (only blocks shared with another region), so the extra block buffer is fine here.
 */
static int check_part_wide(mtp_cache *cache, const mtp_block_key *key, const mtp_box *part,
                           const char *channel_name, mtp_error *err)
{
    int rc = 0;
    size_t size = mtp_dtype_size(key->dtype);
    size_t voxels = (size_t)mtp_box_voxels(&key->box);
    const mtp_box *b = &key->box;
    size_t bx = (size_t)(b->x1 - b->x0), by = (size_t)(b->y1 - b->y0);
    unsigned char *wide = malloc(voxels * size);
    if (wide == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "volume: cannot allocate %zu bytes", voxels * size);
    rc = mtp_cache_get(cache, key, wide, voxels * size, err);
    if (rc < 0)
        goto out;
    for (int64_t z = part->z0; z < part->z1; z++)
        for (int64_t y = part->y0; y < part->y1; y++)
            for (int64_t x = part->x0; x < part->x1; x++) {
                size_t i =
                    ((size_t)(z - b->z0) * by + (size_t)(y - b->y0)) * bx + (size_t)(x - b->x0);
                uint64_t v = wide_value(wide, size, i);
                if (v > 255) {
                    rc = overflow_error(err, channel_name, v, x, y, z);
                    goto out;
                }
            }
out:
    free(wide);
    return rc;
}

/* Read one block as uint8 into block_data and check the voxels of `part` fit. */
static int load_block(mtp_cache *cache, const mtp_block_key *key, uint8_t *block_data,
                      const mtp_box *part, const char *channel_name, mtp_error *err)
{
    mtp_cache_overflow over = {0, 0};
    size_t voxels = (size_t)mtp_box_voxels(&key->box);
    int rc = mtp_cache_get_u8(cache, key, block_data, voxels, &over, err);
    if (rc != MTP_EDATA)
        return rc;
    const mtp_box *b = &key->box;
    uint64_t bx = (uint64_t)(b->x1 - b->x0), by = (uint64_t)(b->y1 - b->y0);
    int64_t x = b->x0 + (int64_t)(over.index % bx);
    int64_t y = b->y0 + (int64_t)(over.index / bx % by);
    int64_t z = b->z0 + (int64_t)(over.index / (bx * by));
    /* The block's first bad voxel is also the part's first if it lies in the part: the
     * part's voxels come in the same (z, y, x) order. */
    if (x >= part->x0 && x < part->x1 && y >= part->y0 && y < part->y1 && z >= part->z0 &&
        z < part->z1)
        return overflow_error(err, channel_name, over.value, x, y, z);
    return check_part_wide(cache, key, part, channel_name, err);
}

int mtp_assemble_begin(mtp_volume *vol, const mtp_config *cfg, const mtp_plan *plan, int channel,
                       const mtp_box *box, mtp_error *err)
{
    memset(vol, 0, sizeof *vol);
    if (mtp_box_voxels(box) == 0)
        return mtp_error_set(err, MTP_EINVAL, "volume: empty box");
    uint64_t covered = 0;
    size_t first = plan->first_block[channel];
    for (size_t i = first; i < first + plan->nblocks_of[channel]; i++) {
        mtp_box part;
        if (mtp_box_intersect(&plan->blocks[i].box, box, &part))
            covered += mtp_box_voxels(&part);
    }
    if (covered != mtp_box_voxels(box))
        return mtp_error_set(err, MTP_EINVAL,
                             "volume: the plan covers %llu of the %llu voxels of channel %s",
                             (unsigned long long)covered, (unsigned long long)mtp_box_voxels(box),
                             cfg->channels[channel].name);
    vol->box = *box;
    vol->nx = (size_t)(box->x1 - box->x0);
    vol->ny = (size_t)(box->y1 - box->y0);
    vol->nz = (size_t)(box->z1 - box->z0);
    /* The config loader refuses larger regions; this guards every other caller. */
    if ((uint64_t)vol->nx * vol->ny * vol->nz > MTP_MAX_REGION_VOXELS)
        return mtp_error_set(err, MTP_ERANGE,
                             "volume: %zu x %zu x %zu voxels, over the cap of %llu", vol->nx,
                             vol->ny, vol->nz, (unsigned long long)MTP_MAX_REGION_VOXELS);
    vol->data = malloc(vol->nx * vol->ny * vol->nz);
    if (vol->data == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "volume: cannot allocate %zu bytes",
                             vol->nx * vol->ny * vol->nz);
    return 0;
}

int mtp_assemble_load_block(mtp_volume *vol, const mtp_config *cfg, const mtp_plan *plan,
                            mtp_cache *cache, mtp_dtype dtype, size_t block, mtp_error *err)
{
    if (mtp_dtype_size(dtype) == 0)
        return mtp_error_set(err, MTP_EINVAL, "volume: unknown dtype");
    const mtp_block *b = &plan->blocks[block];
    mtp_box part;
    if (!mtp_box_intersect(&b->box, &vol->box, &part))
        return 0;
    /* One byte per voxel whatever the dtype: the cache narrows (or checks) for us. */
    size_t voxels = (size_t)mtp_box_voxels(&b->box);
    uint8_t *block_data = malloc(voxels);
    if (block_data == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "volume: cannot allocate %zu bytes", voxels);
    mtp_block_key key = mtp_assemble_block_key(cfg, b, dtype);
    int rc = load_block(cache, &key, block_data, &part, cfg->channels[b->channel].name, err);
    if (rc == 0)
        mtp_box_copy(vol->data, &vol->box, block_data, &b->box, &part, 1);
    free(block_data);
    return rc;
}

int mtp_assemble_load(mtp_volume *vol, const mtp_config *cfg, const mtp_plan *plan,
                      mtp_cache *cache, int channel, mtp_dtype dtype, const mtp_box *box,
                      mtp_error *err)
{
    if (mtp_dtype_size(dtype) == 0 || mtp_box_voxels(box) == 0) {
        memset(vol, 0, sizeof *vol);
        return mtp_error_set(err, MTP_EINVAL, "volume: empty box or unknown dtype");
    }
    int rc = mtp_assemble_begin(vol, cfg, plan, channel, box, err);
    size_t first = plan->first_block[channel];
    for (size_t i = first; rc == 0 && i < first + plan->nblocks_of[channel]; i++)
        rc = mtp_assemble_load_block(vol, cfg, plan, cache, dtype, i, err);
    if (rc < 0)
        mtp_assemble_release(vol);
    return rc;
}

void mtp_assemble_release(mtp_volume *vol)
{
    if (vol == NULL)
        return;
    free(vol->data);
    vol->data = NULL;
}
