/*
 * h5volumes.c — the volumes.h5 writer (src/FORMAT.md §2): one dataset per region and
 * channel, chunked one slice per chunk, on top of h5write.c's file lifecycle.
 */
#include "mtp/h5bundle.h"

#include "h5write.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <hdf5.h>
#include <hdf5_hl.h>

/* ---------------------------------------------------------------------------------------
 * volumes.h5
 */

struct mtp_volumes {
    mtp_h5file f;
    const mtp_config *cfg;
    int64_t nz;
    uint8_t written[MTP_MAX_REGIONS][MTP_MAX_CHANNELS];
};

void mtp_volumes_abort(mtp_volumes *v)
{
    if (v == NULL)
        return;
    mtp_h5file_abort(&v->f);
    free(v);
}

static int volume_dataset(mtp_volumes *v, hid_t group, int r, int ch, const mtp_bundle_meta *meta,
                          mtp_error *err)
{
    const mtp_config *cfg = v->cfg;
    const mtp_region *reg = &cfg->regions[r];
    const mtp_channel *chan = &cfg->channels[ch];
    mtp_h5ctx c = {v->f.out.path, err};
    char where[2 * MTP_NAME_MAX + 4];
    snprintf(where, sizeof where, "/%s/%s", reg->name, chan->name);
    hsize_t dims[3] = {(hsize_t)v->nz, (hsize_t)(reg->y.stop - reg->y.start),
                       (hsize_t)(reg->x.stop - reg->x.start)};
    hid_t dset = mtp_h5w_create_slices(&c, group, chan->name, where, 3, dims, &cfg->output);
    if (dset < 0)
        return MTP_EFORMAT;
    char description[MTP_TEXT_MAX + 2 * MTP_NAME_MAX + 64];
    snprintf(description, sizeof description,
             "channel %s of region %s over z [%" PRId64 ", %" PRId64 ")", chan->name, reg->name,
             cfg->z.start, cfg->z.stop);
    bool image = mtp_config_channel_is_image(cfg, ch);
    int rc = mtp_h5w_attr_str(&c, dset, where, "description", description);
    if (rc == 0)
        rc = mtp_h5w_attr_str(&c, dset, where, "axes", "z,y,x");
    if (rc == 0)
        rc = mtp_h5w_attr_str(&c, dset, where, "unit", image ? "intensity (uint8)" : "label code");
    int64_t origin[3] = {cfg->z.start, reg->y.start, reg->x.start};
    if (rc == 0)
        rc = mtp_h5w_attr_i64(&c, dset, where, "origin", origin, 3);
    if (rc == 0)
        rc = mtp_h5w_attr_f64(&c, dset, where, "voxel_size", meta->voxel_size, 3);
    if (rc == 0)
        rc = mtp_h5w_attr_str(&c, dset, where, "voxel_unit", meta->voxel_unit);
    if (rc == 0)
        rc = mtp_h5w_attr_str(&c, dset, where, "source", chan->uri);
    const char *labels[3] = {"z", "y", "x"};
    for (unsigned d = 0; rc == 0 && d < 3; d++)
        if (H5DSset_label(dset, d, labels[d]) < 0)
            rc = mtp_h5w_fail(err, v->f.out.path, "label dimension %u of %s", d, where);
    if (H5Dclose(dset) < 0 && rc == 0)
        rc = mtp_h5w_fail(err, v->f.out.path, "close %s", where);
    return rc;
}

static int volumes_layout(mtp_volumes *v, const mtp_bundle_meta *meta, mtp_error *err)
{
    const mtp_config *cfg = v->cfg;
    mtp_h5ctx c = {v->f.out.path, err};
    hid_t root = H5Gopen2(v->f.file, "/", H5P_DEFAULT);
    hid_t gcpl = mtp_h5w_creation_plist(H5P_GROUP_CREATE);
    hid_t group = H5I_INVALID_HID;
    int rc = 0;
    if (root < 0 || gcpl < 0) {
        rc = mtp_h5w_fail(err, v->f.out.path, "open /");
        goto out;
    }
    int channels[MTP_MAX_CHANNELS];
    for (int ch = 0; ch < cfg->nchannels; ch++) {
        channels[ch] = ch;
        if (!mtp_h5w_link_name_ok(cfg->channels[ch].name)) {
            rc = mtp_error_set(err, MTP_EINVAL,
                               "%s: channel name '%s' cannot be an HDF5 "
                               "dataset name",
                               v->f.out.path, cfg->channels[ch].name);
            goto out;
        }
    }
    rc = mtp_h5w_attr_str(&c, root, "/", "format", MTP_VOLUMES_FORMAT);
    if (rc == 0)
        rc = mtp_h5w_attr_i32(&c, root, "/", "format_version", MTP_VOLUMES_FORMAT_VERSION);
    if (rc == 0)
        rc = mtp_h5w_release_attrs(&c, root, cfg);
    if (rc == 0)
        rc = mtp_h5w_provenance_attrs(&c, root, cfg, meta, channels, cfg->nchannels, "z,y,x");
    if (rc == 0)
        rc = mtp_h5w_regions_table(&c, root, cfg);
    for (int r = 0; rc == 0 && r < cfg->nregions; r++) {
        group = H5Gcreate2(root, cfg->regions[r].name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
        if (group < 0) {
            rc = mtp_h5w_fail(err, v->f.out.path, "create /%s", cfg->regions[r].name);
            break;
        }
        for (int ch = 0; rc == 0 && ch < cfg->nchannels; ch++)
            rc = volume_dataset(v, group, r, ch, meta, err);
        mtp_h5_close(&group);
    }
out:
    mtp_h5_close(&group);
    mtp_h5_close(&gcpl);
    mtp_h5_close(&root);
    return rc;
}

int mtp_volumes_create(mtp_volumes **out, const char *path, const mtp_config *cfg,
                       const mtp_bundle_meta *meta, mtp_error *err)
{
    if (out == NULL || cfg == NULL)
        return mtp_error_set(err, MTP_EINVAL, "volumes: out and cfg are required");
    *out = NULL;
    int rc = mtp_h5w_check_inputs(meta, cfg, err);
    if (rc < 0)
        return rc;
    int64_t nz = cfg->z.stop - cfg->z.start;
    if (nz < 1 || nz > MTP_MAX_COORD)
        return mtp_error_set(err, MTP_ERANGE,
                             "volumes: z range [%" PRId64 ", %" PRId64 ") is empty or too long",
                             cfg->z.start, cfg->z.stop);
    mtp_volumes *v = calloc(1, sizeof *v);
    if (v == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "volumes: out of memory");
    v->cfg = cfg;
    v->nz = nz;
    rc = mtp_h5file_create(&v->f, path, err);
    if (rc == 0)
        rc = volumes_layout(v, meta, err);
    if (rc < 0) {
        mtp_volumes_abort(v);
        v = NULL;
    }
    *out = v;
    return rc;
}

int mtp_volumes_write(mtp_volumes *v, int region, int channel, const uint8_t *cube, mtp_error *err)
{
    return mtp_volumes_write_chunks(v, region, channel, cube, NULL, err);
}

int mtp_volumes_write_chunks(mtp_volumes *v, int region, int channel, const uint8_t *cube,
                             const mtp_chunk *chunks, mtp_error *err)
{
    if (v == NULL || cube == NULL)
        return mtp_error_set(err, MTP_EINVAL, "volumes: NULL handle or cube");
    const mtp_config *cfg = v->cfg;
    if (region < 0 || region >= cfg->nregions || channel < 0 || channel >= cfg->nchannels)
        return mtp_error_set(err, MTP_EINVAL, "%s: region %d / channel %d out of range",
                             v->f.out.path, region, channel);
    const mtp_region *reg = &cfg->regions[region];
    const char *chan = cfg->channels[channel].name;
    char where[2 * MTP_NAME_MAX + 4];
    snprintf(where, sizeof where, "/%s/%s", reg->name, chan);
    hsize_t h = (hsize_t)(reg->y.stop - reg->y.start), w = (hsize_t)(reg->x.stop - reg->x.start);
    hsize_t one_chunk[3] = {1, h, w};
    if (cfg->output.compression != MTP_COMPRESS_GZIP)
        chunks = NULL;
    char why[160];
    for (int64_t z = 0; chunks != NULL && z < v->nz; z++) {
        const char *bad = mtp_h5w_check_chunk(&chunks[z], cube + (size_t)z * h * w, (size_t)(h * w),
                                              cfg->output.level, why, sizeof why);
        if (bad != NULL)
            return mtp_error_set(err, MTP_EINVAL, "%s: %s chunk %" PRId64 ": %s", v->f.out.path,
                                 where, z, bad);
    }
    int rc = 0;
    hid_t memspace = H5Screate_simple(3, one_chunk, NULL);
    hid_t dapl = mtp_h5w_slice_access_plist();
    hid_t dset = dapl < 0 ? H5I_INVALID_HID : H5Dopen2(v->f.file, where, dapl);
    if (memspace < 0 || dset < 0) {
        rc = mtp_h5w_fail(err, v->f.out.path, "open %s", where);
        goto out;
    }
    for (int64_t z = 0; z < v->nz; z++) {
        hsize_t index[1] = {(hsize_t)z};
        if (mtp_h5w_write_slice(dset, 3, index, h, w, memspace, cube + (size_t)z * h * w,
                                chunks != NULL ? &chunks[z] : NULL, &cfg->output) < 0) {
            rc = mtp_h5w_fail(err, v->f.out.path, "write %s slice %" PRId64, where, z);
            goto out;
        }
    }
    v->written[region][channel] = 1;
out:
    mtp_h5_close(&dset);
    mtp_h5_close(&dapl);
    mtp_h5_close(&memspace);
    return rc;
}

int mtp_volumes_fd(const mtp_volumes *v)
{
    return v == NULL ? -1 : mtp_h5file_fd(&v->f);
}

int mtp_volumes_finish(mtp_volumes *v, mtp_error *err)
{
    if (v == NULL)
        return mtp_error_set(err, MTP_EINVAL, "volumes: NULL handle");
    const mtp_config *cfg = v->cfg;
    for (int r = 0; r < cfg->nregions; r++) {
        for (int ch = 0; ch < cfg->nchannels; ch++) {
            if (!v->written[r][ch]) {
                int rc = mtp_error_set(err, MTP_EINVAL, "%s: /%s/%s was never written",
                                       v->f.out.path, cfg->regions[r].name, cfg->channels[ch].name);
                mtp_volumes_abort(v);
                return rc;
            }
        }
    }
    int rc = mtp_h5file_finish(&v->f, err);
    free(v);
    return rc;
}
