/*
 * tasks.h — the task rules (DESIGN §3 "tasks", reference/mtneuro.md "Tasks"): which samples a
 * task has in a split, and how label cubes become task labels and masks.
 *
 * Pure computation on a parsed config and caller-owned buffers: no I/O, no global state,
 * thread-safe for distinct output buffers.
 *
 * Data model. The build loads one region at a time: uint8 cubes of each channel over cfg->z,
 * shape nz x H x W in C order (z, y, x), where H and W are the region's y and x extents. A
 * tile is one H x W slice of such a cube; a sample is `task.depth` consecutive tiles of one
 * region. Label channels arrive as uint64 and are narrowed to uint8 by the caller, which has
 * already rejected codes above 255; the functions here reject every code outside the set the
 * task declares (code_class[c] < 0), so no code is ever silently mapped.
 *
 * Arguments: `t` indexes cfg->tasks, `s` indexes cfg->splits (usually one of task.splits[]),
 * `region` indexes cfg->regions. An index out of range, a task whose code_class[] holds
 * something other than -1 or a class index, a depth below 1, or a buffer shape that is not the
 * region's is MTP_EINVAL (a caller bug).
 *
 * Task 3's targets (kind features: per-quadrant statistics, 3-D connected components) are in
 * task_features.h; its samples (depth 1, split `all`) follow the same window rule as every task.
 */
#ifndef MTP_TASKS_H
#define MTP_TASKS_H

#include <stddef.h>
#include <stdint.h>

#include "mtp/config.h"
#include "mtp/error.h"

/* One sample: a region and the absolute z of the first slice of its window. */
typedef struct mtp_sample {
    int region; /* index into cfg->regions */
    int64_t z;  /* first slice; the window is [z, z + task.depth) */
} mtp_sample;

/*
 * The samples of task `t` in split `s`, in release order: region by region in config order,
 * skipping regions the task excludes; within a region, windows of task.depth slices starting
 * at split.z.start and stepping by depth, z ascending. A window never leaves its region or its
 * split: a last partial window is dropped (a split of 15 slices gives 1 window of 8, not 2).
 * Windows that would reach outside cfg->z are dropped too (the parser keeps splits inside z,
 * so that only matters for hand-made configs); the grid stays anchored at split.z.start.
 *
 * On success *out is a malloc'ed array of *n samples the caller frees (NULL when *n == 0).
 * On failure *out is NULL and *n is 0. Errors: MTP_EINVAL (bad index or depth), MTP_ENOMEM.
 */
int mtp_tasks_samples(const mtp_config *cfg, int t, int s, mtp_sample **out, size_t *n,
                      mtp_error *err);

/* The number of samples mtp_tasks_samples() gives, for sizing datasets; 0 on a bad argument. */
size_t mtp_tasks_count(const mtp_config *cfg, int t, int s);

/*
 * The classification label of one tile (rule "roi_mode", task 1 of the reference): the most
 * frequent code in the h x w tile (row-major, h = region y extent, w = region x extent), ties
 * going to the smallest code, mapped through task.code_class. `z` is the tile's absolute z,
 * used only in error messages. On success *label is the class index.
 *
 * Errors: MTP_EDATA when any code in the tile is outside the task's declared set, naming the
 * first such voxel in C order, e.g.
 *   "roi_labels: unexpected label code 9 at (x=4601, y=900, z=115) for task task1
 *    (declared codes: 0-8)"
 * (one line; the channel is the task's label channel, coordinates are absolute voxels);
 * MTP_EINVAL for bad arguments. *label is untouched on failure.
 */
int mtp_tasks_tile_label(const mtp_config *cfg, int t, int region, int64_t z, const uint8_t *tile,
                         size_t h, size_t w, int *label, mtp_error *err);

/*
 * The mask of `depth` consecutive tiles starting at absolute slice `z`:
 * dst[i] = task.code_class[src[i]] for the depth*h*w voxels (C order z, y, x; h and w the
 * region's extents). `depth` is usually task.depth (one sample), but a whole region cube
 * (depth = nz, z = cfg->z.start) works the same. src and dst must not overlap (the error
 * message needs the source code of the first bad voxel after the pass).
 *
 * Errors: MTP_EDATA for a code outside the declared set, with the message of
 * mtp_tasks_tile_label() naming the first such voxel in C order (dst then holds unspecified
 * bytes); MTP_EINVAL for bad arguments.
 */
int mtp_tasks_mask(const mtp_config *cfg, int t, int region, int64_t z, const uint8_t *src,
                   uint8_t *dst, size_t depth, size_t h, size_t w, mtp_error *err);

/*
 * The class of task `t` whose name equals the name of region `region` (task 1's classes are
 * region names), or -1 when there is none or an index is out of range. The build compares it
 * with each tile's label to count, per split, the tiles whose label differs from their region
 * (the ROI annotation is empty near the top of the volume, see mtneuro.md "Known quirk").
 */
int mtp_tasks_region_class(const mtp_config *cfg, int t, int region);

#endif
