#include "mtp/tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Marks a code outside the declared set in the lookup table; class indices stay below 32. */
#define BAD_CLASS 0xFF

static int coord_ok(int64_t v)
{
    return v >= 0 && v <= MTP_MAX_COORD;
}

static int range_ok(mtp_range r)
{
    return coord_ok(r.start) && coord_ok(r.stop);
}

static const mtp_task *task_at(const mtp_config *cfg, int t)
{
    if (cfg == NULL || t < 0 || t >= cfg->ntasks || cfg->ntasks > MTP_MAX_TASKS)
        return NULL;
    return &cfg->tasks[t];
}

static const mtp_region *region_at(const mtp_config *cfg, int region)
{
    if (region < 0 || region >= cfg->nregions || cfg->nregions > MTP_MAX_REGIONS)
        return NULL;
    return &cfg->regions[region];
}

/*
 * The window grid of a task in a split, the same for every region (regions differ in x and
 * y only): windows start at split.z.start + k*depth for k in [*k0, *k0 + *count), each lying
 * inside both the split and cfg->z. Coordinates are capped first so nothing below overflows.
 */
static int window_grid(const mtp_config *cfg, const mtp_task *task, int s, int64_t *first,
                       size_t *count, mtp_error *err)
{
    *first = 0;
    *count = 0;
    if (s < 0 || s >= cfg->nsplits || cfg->nsplits > MTP_MAX_SPLITS)
        return mtp_error_set(err, MTP_EINVAL, "task %s: split index %d out of range", task->name,
                             s);
    const mtp_split *split = &cfg->splits[s];
    if (task->depth < 1 || task->depth > MTP_MAX_COORD)
        return mtp_error_set(err, MTP_EINVAL, "task %s: depth %d out of range", task->name,
                             task->depth);
    if (!range_ok(split->z) || !range_ok(cfg->z))
        return mtp_error_set(err, MTP_EINVAL, "task %s: split %s: z range out of bounds",
                             task->name, split->name);
    int64_t depth = task->depth;
    int64_t anchor = split->z.start;
    int64_t lo = split->z.start > cfg->z.start ? split->z.start : cfg->z.start;
    int64_t hi = split->z.stop < cfg->z.stop ? split->z.stop : cfg->z.stop;
    if (hi - lo < depth)
        return 0;
    /* First grid point at or after lo; last one whose window still ends by hi. */
    int64_t k0 = (lo - anchor + depth - 1) / depth;
    int64_t k1 = (hi - depth - anchor) / depth;
    if (k1 < k0)
        return 0;
    *first = anchor + k0 * depth;
    *count = (size_t)(k1 - k0 + 1);
    return 0;
}

/* Regions of the task that are not excluded. */
static size_t included_regions(const mtp_config *cfg, const mtp_task *task)
{
    size_t n = 0;
    for (int r = 0; r < cfg->nregions && r < MTP_MAX_REGIONS; r++)
        if (!task->excluded[r])
            n++;
    return n;
}

int mtp_tasks_samples(const mtp_config *cfg, int t, int s, mtp_sample **out, size_t *n,
                      mtp_error *err)
{
    if (out == NULL || n == NULL)
        return mtp_error_set(err, MTP_EINVAL, "mtp_tasks_samples: NULL output");
    *out = NULL;
    *n = 0;
    const mtp_task *task = task_at(cfg, t);
    if (task == NULL)
        return mtp_error_set(err, MTP_EINVAL, "task index %d out of range", t);
    if (cfg->nregions < 0 || cfg->nregions > MTP_MAX_REGIONS)
        return mtp_error_set(err, MTP_EINVAL, "region count %d out of range", cfg->nregions);
    int64_t first;
    size_t per_region;
    int rc = window_grid(cfg, task, s, &first, &per_region, err);
    if (rc < 0)
        return rc;
    size_t regions = included_regions(cfg, task);
    /* per_region <= MTP_MAX_COORD and regions <= MTP_MAX_REGIONS: the product fits. */
    size_t total = per_region * regions;
    if (total == 0)
        return 0;
    mtp_sample *samples = malloc(total * sizeof *samples);
    if (samples == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "task %s: %zu samples", task->name, total);
    size_t i = 0;
    for (int r = 0; r < cfg->nregions; r++) {
        if (task->excluded[r])
            continue;
        for (size_t k = 0; k < per_region; k++) {
            samples[i].region = r;
            samples[i].z = first + (int64_t)k * task->depth;
            i++;
        }
    }
    *out = samples;
    *n = total;
    return 0;
}

size_t mtp_tasks_count(const mtp_config *cfg, int t, int s)
{
    const mtp_task *task = task_at(cfg, t);
    if (task == NULL || cfg->nregions < 0 || cfg->nregions > MTP_MAX_REGIONS)
        return 0;
    int64_t first;
    size_t per_region;
    if (window_grid(cfg, task, s, &first, &per_region, NULL) < 0)
        return 0;
    return per_region * included_regions(cfg, task);
}

/*
 * The task's code -> class table, with BAD_CLASS for codes outside the declared set. A
 * code_class entry that is neither -1 nor a class index is a broken config (the parser never
 * makes one), refused here so that no class can collide with BAD_CLASS.
 */
static int class_table(const mtp_task *task, uint8_t lut[MTP_MAX_CODES], mtp_error *err)
{
    if (task->nclasses < 1 || task->nclasses > MTP_MAX_CLASSES)
        return mtp_error_set(err, MTP_EINVAL, "task %s: class count %d out of range", task->name,
                             task->nclasses);
    for (int c = 0; c < MTP_MAX_CODES; c++) {
        int cls = task->code_class[c];
        if (cls < -1 || cls >= task->nclasses)
            return mtp_error_set(err, MTP_EINVAL, "task %s: code %d maps to class %d of %d",
                                 task->name, c, cls, task->nclasses);
        lut[c] = cls < 0 ? BAD_CLASS : (uint8_t)cls;
    }
    return 0;
}

/* Checks shared by tile_label and mask; *voxels = depth*h*w, which must match the region. */
static int check_shape(const mtp_config *cfg, const mtp_task *task, int region,
                       const mtp_region **reg, int64_t z, size_t depth, size_t h, size_t w,
                       size_t *voxels, mtp_error *err)
{
    *reg = region_at(cfg, region);
    if (*reg == NULL)
        return mtp_error_set(err, MTP_EINVAL, "task %s: region index %d out of range", task->name,
                             region);
    const mtp_region *r = *reg;
    if (!range_ok(r->x) || !range_ok(r->y) || r->x.stop <= r->x.start || r->y.stop <= r->y.start)
        return mtp_error_set(err, MTP_EINVAL, "region %s: empty or out-of-bounds box", r->name);
    if ((int64_t)h != r->y.stop - r->y.start || (int64_t)w != r->x.stop - r->x.start)
        return mtp_error_set(
            err, MTP_EINVAL, "region %s: tile %zux%zu is not the region's %lldx%lld", r->name, h, w,
            (long long)(r->y.stop - r->y.start), (long long)(r->x.stop - r->x.start));
    if (depth < 1 || depth > MTP_MAX_COORD || !coord_ok(z))
        return mtp_error_set(err, MTP_EINVAL, "region %s: %zu slices at z=%lld out of bounds",
                             r->name, depth, (long long)z);
    if (task->label_channel < 0 || task->label_channel >= cfg->nchannels ||
        cfg->nchannels > MTP_MAX_CHANNELS)
        return mtp_error_set(err, MTP_EINVAL, "task %s: label channel %d out of range", task->name,
                             task->label_channel);
    /* h, w <= MTP_MAX_COORD (1e6) each: h*w fits; the depth factor is checked. */
    size_t plane = h * w;
    if (depth > SIZE_MAX / plane)
        return mtp_error_set(err, MTP_EINVAL, "region %s: %zu slices overflow", r->name, depth);
    *voxels = depth * plane;
    return 0;
}

/* The declared codes as compact ranges, "0-3" or "0-2, 5" ("none" if the set is empty). */
static void declared_codes(const mtp_task *task, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    int c = 0;
    while (c < MTP_MAX_CODES) {
        if (task->code_class[c] < 0) {
            c++;
            continue;
        }
        int end = c;
        while (end + 1 < MTP_MAX_CODES && task->code_class[end + 1] >= 0)
            end++;
        int wrote;
        const char *sep = len > 0 ? ", " : "";
        if (end == c)
            wrote = snprintf(buf + len, size - len, "%s%d", sep, c);
        else
            wrote = snprintf(buf + len, size - len, "%s%d-%d", sep, c, end);
        if (wrote < 0 || (size_t)wrote >= size - len)
            return; /* truncated; the error line is capped anyway */
        len += (size_t)wrote;
        c = end + 1;
    }
    if (len == 0)
        snprintf(buf, size, "none");
}

/* The MTP_EDATA error for code `code` found at flat index `index` of a depth x h x w block. */
static int unexpected_code(const mtp_config *cfg, const mtp_task *task, const mtp_region *reg,
                           int64_t z, size_t index, size_t h, size_t w, uint8_t code,
                           mtp_error *err)
{
    char codes[MTP_ERROR_MSG_MAX];
    declared_codes(task, codes, sizeof codes);
    size_t plane = h * w;
    long long slice = (long long)(index / plane);
    long long row = (long long)(index % plane / w);
    long long col = (long long)(index % w);
    return mtp_error_set(err, MTP_EDATA,
                         "%s: unexpected label code %u at (x=%lld, y=%lld, z=%lld) for task %s "
                         "(declared codes: %s)",
                         cfg->channels[task->label_channel].name, (unsigned)code,
                         (long long)reg->x.start + col, (long long)reg->y.start + row,
                         (long long)z + slice, task->name, codes);
}

int mtp_tasks_tile_label(const mtp_config *cfg, int t, int region, int64_t z, const uint8_t *tile,
                         size_t h, size_t w, int *label, mtp_error *err)
{
    const mtp_task *task = task_at(cfg, t);
    if (task == NULL)
        return mtp_error_set(err, MTP_EINVAL, "task index %d out of range", t);
    if (tile == NULL || label == NULL)
        return mtp_error_set(err, MTP_EINVAL, "task %s: NULL tile or label", task->name);
    const mtp_region *reg;
    size_t voxels;
    int rc = check_shape(cfg, task, region, &reg, z, 1, h, w, &voxels, err);
    if (rc < 0)
        return rc;
    uint8_t lut[MTP_MAX_CODES];
    rc = class_table(task, lut, err);
    if (rc < 0)
        return rc;

    /* Four interleaved histograms so consecutive equal codes do not serialise on one bin. */
    uint64_t hist[4][MTP_MAX_CODES];
    memset(hist, 0, sizeof hist);
    size_t i = 0;
    for (; i + 4 <= voxels; i += 4) {
        hist[0][tile[i]]++;
        hist[1][tile[i + 1]]++;
        hist[2][tile[i + 2]]++;
        hist[3][tile[i + 3]]++;
    }
    for (; i < voxels; i++)
        hist[0][tile[i]]++;

    int mode = -1;
    uint64_t best = 0;
    int bad = 0;
    for (int c = 0; c < MTP_MAX_CODES; c++) {
        uint64_t count = hist[0][c] + hist[1][c] + hist[2][c] + hist[3][c];
        if (count > 0 && lut[c] == BAD_CLASS)
            bad = 1;
        /* Strictly greater: on a tie the smaller code, seen first, stays. */
        if (count > best) {
            best = count;
            mode = c;
        }
    }
    if (bad) {
        for (i = 0; i < voxels; i++)
            if (lut[tile[i]] == BAD_CLASS)
                return unexpected_code(cfg, task, reg, z, i, h, w, tile[i], err);
    }
    *label = lut[mode];
    return 0;
}

int mtp_tasks_mask(const mtp_config *cfg, int t, int region, int64_t z, const uint8_t *src,
                   uint8_t *dst, size_t depth, size_t h, size_t w, mtp_error *err)
{
    const mtp_task *task = task_at(cfg, t);
    if (task == NULL)
        return mtp_error_set(err, MTP_EINVAL, "task index %d out of range", t);
    if (src == NULL || dst == NULL || src == dst)
        return mtp_error_set(err, MTP_EINVAL, "task %s: NULL or aliased mask buffers", task->name);
    const mtp_region *reg;
    size_t voxels;
    int rc = check_shape(cfg, task, region, &reg, z, depth, h, w, &voxels, err);
    if (rc < 0)
        return rc;
    uint8_t lut[MTP_MAX_CODES];
    rc = class_table(task, lut, err);
    if (rc < 0)
        return rc;

    /*
     * One branch-free pass: every valid class is below 32, BAD_CLASS has the top bit, so the
     * OR of all outputs says whether any code was bad. Only then look for the first one.
     */
    uint8_t any = 0;
    for (size_t i = 0; i < voxels; i++) {
        uint8_t cls = lut[src[i]];
        dst[i] = cls;
        any |= cls;
    }
    if (any & 0x80) {
        for (size_t i = 0; i < voxels; i++)
            if (dst[i] == BAD_CLASS) {
                return unexpected_code(cfg, task, reg, z, i, h, w, src[i], err);
            }
    }
    return 0;
}

int mtp_tasks_region_class(const mtp_config *cfg, int t, int region)
{
    const mtp_task *task = task_at(cfg, t);
    if (task == NULL)
        return -1;
    const mtp_region *reg = region_at(cfg, region);
    if (reg == NULL || task->nclasses < 0 || task->nclasses > MTP_MAX_CLASSES)
        return -1;
    return mtp_config_class(task, reg->name);
}
