#include "volume.h"

#include <stdlib.h>
#include <string.h>

mtp_box mtp_volume_region_box(const mtp_config *cfg, int region)
{
    const mtp_region *r = &cfg->regions[region];
    mtp_box box = {r->x.start, r->x.stop, r->y.start, r->y.stop, cfg->z.start, cfg->z.stop};
    return box;
}

mtp_block_key mtp_volume_block_key(const mtp_config *cfg, const mtp_block *block,
                                   mtp_dtype dtype)
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

/* Copy the part `part` of a decoded block into the cube, narrowing to uint8. */
static int copy_part(mtp_volume *vol, const mtp_box *block_box, const void *block_data,
                     mtp_dtype dtype, const mtp_box *part, const char *channel_name,
                     mtp_error *err)
{
    size_t bx = (size_t)(block_box->x1 - block_box->x0);
    size_t by = (size_t)(block_box->y1 - block_box->y0);
    size_t row = (size_t)(part->x1 - part->x0);
    for (int64_t z = part->z0; z < part->z1; z++) {
        for (int64_t y = part->y0; y < part->y1; y++) {
            size_t src = ((size_t)(z - block_box->z0) * by + (size_t)(y - block_box->y0)) * bx +
                         (size_t)(part->x0 - block_box->x0);
            size_t dst = ((size_t)(z - vol->box.z0) * vol->ny + (size_t)(y - vol->box.y0)) *
                             vol->nx +
                         (size_t)(part->x0 - vol->box.x0);
            uint8_t *out = vol->data + dst;
            if (dtype == MTP_DTYPE_UINT8) {
                memcpy(out, (const uint8_t *)block_data + src, row);
                continue;
            }
            uint64_t over = 0;
            size_t over_at = 0;
            if (dtype == MTP_DTYPE_UINT16) {
                const uint16_t *in = (const uint16_t *)block_data + src;
                for (size_t i = 0; i < row; i++) {
                    out[i] = (uint8_t)in[i];
                    if (in[i] > 255 && over == 0) {
                        over = in[i];
                        over_at = i;
                    }
                }
            } else {
                const uint64_t *in = (const uint64_t *)block_data + src;
                for (size_t i = 0; i < row; i++) {
                    out[i] = (uint8_t)in[i];
                    if (in[i] > 255 && over == 0) {
                        over = in[i];
                        over_at = i;
                    }
                }
            }
            if (over != 0)
                return mtp_error_set(err, MTP_EDATA,
                                     "%s: value %llu at (x=%lld, y=%lld, z=%lld) does not fit "
                                     "in uint8",
                                     channel_name, (unsigned long long)over,
                                     (long long)(part->x0 + (int64_t)over_at), (long long)y,
                                     (long long)z);
        }
    }
    return 0;
}

int mtp_volume_load(mtp_volume *vol, const mtp_config *cfg, const mtp_plan *plan,
                    mtp_cache *cache, int channel, mtp_dtype dtype, const mtp_box *box,
                    mtp_error *err)
{
    int rc = 0;
    void *block_data = NULL;
    size_t block_capacity = 0;
    size_t voxel_size = mtp_dtype_size(dtype);
    memset(vol, 0, sizeof *vol);
    if (voxel_size == 0 || mtp_box_voxels(box) == 0)
        return mtp_error_set(err, MTP_EINVAL, "volume: empty box or unknown dtype");
    vol->box = *box;
    vol->nx = (size_t)(box->x1 - box->x0);
    vol->ny = (size_t)(box->y1 - box->y0);
    vol->nz = (size_t)(box->z1 - box->z0);
    vol->data = malloc(vol->nx * vol->ny * vol->nz);
    if (vol->data == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "volume: cannot allocate %zu bytes",
                             vol->nx * vol->ny * vol->nz);

    uint64_t covered = 0;
    size_t first = plan->first_block[channel];
    for (size_t i = first; i < first + plan->nblocks_of[channel]; i++) {
        const mtp_block *block = &plan->blocks[i];
        mtp_box part;
        if (!mtp_box_intersect(&block->box, box, &part))
            continue;
        size_t nbytes = (size_t)mtp_box_voxels(&block->box) * voxel_size;
        if (nbytes > block_capacity) {
            free(block_data);
            block_data = malloc(nbytes);
            block_capacity = block_data != NULL ? nbytes : 0;
            if (block_data == NULL) {
                rc = mtp_error_set(err, MTP_ENOMEM, "volume: cannot allocate %zu bytes", nbytes);
                goto out;
            }
        }
        mtp_block_key key = mtp_volume_block_key(cfg, block, dtype);
        rc = mtp_cache_get(cache, &key, block_data, nbytes, err);
        if (rc < 0)
            goto out;
        rc = copy_part(vol, &block->box, block_data, dtype, &part, cfg->channels[channel].name,
                       err);
        if (rc < 0)
            goto out;
        covered += mtp_box_voxels(&part);
    }
    if (covered != mtp_box_voxels(box))
        rc = mtp_error_set(err, MTP_EINVAL,
                           "volume: the plan covers %llu of the %llu voxels of channel %s",
                           (unsigned long long)covered,
                           (unsigned long long)mtp_box_voxels(box), cfg->channels[channel].name);
out:
    free(block_data);
    if (rc < 0)
        mtp_volume_release(vol);
    return rc;
}

void mtp_volume_release(mtp_volume *vol)
{
    if (vol == NULL)
        return;
    free(vol->data);
    vol->data = NULL;
}
