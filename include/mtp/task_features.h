/*
 * task_features.h — Task 3's targets (reference/mtneuro.md "Task 3"): per-quadrant statistics
 * of one region's stack of label codes, with cells as 3-D connected components.
 * (Not "features.h": with src/ on the include path that name would shadow glibc's <features.h>.)
 *
 * Pure computation on a parsed config and caller-owned buffers: no I/O, no global state,
 * thread-safe for distinct output buffers.
 *
 * Definitions. Task `t` must be of kind features and have classes named "vessel", "cell" and
 * "axon" (looked up by name; source codes reach them through task.code_class, so a remap
 * counts). q = task.quadrant. A region stack is nz slices of h x w codes (h, w the region's y
 * and x extents, both multiples of q). Each slice is cut into (h/q) x (w/q) quadrants of q x q,
 * numbered row-major: quadrant = (y / q) * (w / q) + x / q. For one slice and quadrant:
 *   vessel_pct, axon_pct  100.0 * (pixels of that class in the quadrant) / (q * q);
 *   cells                 the 3-D connected components of class "cell" over the whole region
 *                         stack with 6-connectivity (voxels sharing a face; edge or corner
 *                         contact does not join), labelled per region stack, so a component
 *                         never crosses regions; a cell is "in" the quadrant when at least one
 *                         of its voxels lies in this slice inside the quadrant;
 *   cell_count            the number of cells in the quadrant;
 *   mean_cell_area        the mean over those cells of their pixel count inside the quadrant
 *                         (this slice only), 0 when there are none;
 *   mean_nn_distance      the mean over those cells of the Euclidean distance in pixels from the
 *                         cell's centroid in the quadrant (mean y and mean x of its pixels there)
 *                         to the nearest centroid of another cell in the quadrant;
 *                         MTP_FEATURES_NN_FILL (64) when there are fewer than 2 cells.
 * Differences from the reference code (which labels all regions stacked together and averages
 * in each cell's zero distance to itself) are for the datasheet; see the issue.
 *
 * Memory. Cells are labelled by union-find over x-runs of cell pixels (run-length labelling),
 * not per voxel: 8 bytes per run (two uint16 x bounds, one uint32 parent/label) plus 4 bytes per
 * row of the stack, and per slice one h x w scratch slice for the class mapping. At most
 * ceil(w/2) runs fit in a row, so the worst case (a checkerboard) for 360 x 256 x 256 is 94 MB,
 * the size of a uint32 label volume; realistic cell layers (10% of voxels in blobs) need a few
 * MB. Widths above MTP_FEATURES_MAX_WIDTH are refused because runs store x as uint16.
 *
 * Time. Linear in voxels plus runs (one pass maps and checks codes through mtp_tasks_mask, one
 * extracts runs and joins them with the row above and the slice below); nearest neighbours use
 * a bucket grid per quadrant, about linear in its cells for any layout. Measured on this
 * project's 2-core test machine (-O2): 4 regions of 360 x 256 x 256 with 10% cell voxels in
 * blobs take 0.16 s of CPU in total; a pathological checkerboard region takes 0.65 s.
 */
#ifndef MTP_TASK_FEATURES_H
#define MTP_TASK_FEATURES_H

#include <stddef.h>
#include <stdint.h>

#include "mtp/config.h"
#include "mtp/error.h"

/* mean_nn_distance of a quadrant with fewer than 2 cells (the reference's fill). */
#define MTP_FEATURES_NN_FILL 64.0
/* Largest region x extent mtp_features_region() accepts. */
#define MTP_FEATURES_MAX_WIDTH 65536

/* One row of Task 3's `targets`: one quadrant of one slice. */
typedef struct mtp_feature_row {
    int32_t region;          /* index into cfg->regions */
    int64_t z;               /* absolute z of the slice */
    int32_t quadrant;        /* 0 .. (h/q)*(w/q)-1, row-major */
    int64_t slice_index;     /* index of the slice among the task's samples (its images row) */
    double vessel_pct;       /* percent of the quadrant's pixels */
    double axon_pct;         /* percent of the quadrant's pixels */
    int64_t cell_count;      /* distinct 3-D cells with pixels in the quadrant */
    double mean_cell_area;   /* pixels per cell inside the quadrant, 0 without cells */
    double mean_nn_distance; /* pixels; MTP_FEATURES_NN_FILL with fewer than 2 cells */
} mtp_feature_row;

/*
 * The rows of one region stack. `labels` holds nz x h x w source label codes (uint8, C order
 * z, y, x; h and w the region's y and x extents) for absolute z in [z0, z0 + nz): the region's
 * slices of the task's split (for split `all` of MTNeuro, the whole 360-slice cube). Cells are
 * labelled over exactly this stack. `first_slice_index` is the sample index of the stack's first
 * slice in the task's images (region by region, z ascending: region r's first slice is
 * r * nz when every earlier region has nz slices); row k*P + p (P quadrants per slice) gets
 * z = z0 + k and slice_index = first_slice_index + k.
 *
 * `rows_out` is caller-owned and must hold nz * mtp_features_rows_per_slice(cfg, t, region)
 * rows; they are written slice by slice, then quadrant. Nothing is kept after the call.
 *
 * Errors (rows_out then holds unspecified values):
 *   MTP_EDATA   a code outside the task's declared set (code_class < 0), with the message of
 *               mtp_tasks_mask() naming the first such voxel in C order, e.g.
 *               "pixel_labels: unexpected label code 7 at (x=4602, y=901, z=111) for task task3
 *                (declared codes: 0-3)";
 *   MTP_EINVAL  a NULL buffer, an index out of range, a task that is not of kind features or
 *               has no class named "vessel", "cell" or "axon", a quadrant below 1, h or w not
 *               the region's extents or not multiples of the quadrant, nz of 0 or beyond
 *               MTP_MAX_COORD, z0 out of bounds;
 *   MTP_ERANGE  w above MTP_FEATURES_MAX_WIDTH, more than INT32_MAX quadrants per slice,
 *               more than 2^32 - 2 cell runs in the stack or 2^31 cells in one quadrant;
 *   MTP_ENOMEM  allocation failed.
 */
int mtp_features_region(const mtp_config *cfg, int t, int region, const uint8_t *labels, size_t nz,
                        size_t h, size_t w, int64_t z0, int64_t first_slice_index,
                        mtp_feature_row *rows_out, mtp_error *err);

/*
 * Quadrants per slice of `region` for task `t`: (h/q) * (w/q) with h, w the region's extents;
 * 0 on a bad index, a task that is not of kind features, a quadrant below 1 or extents that
 * are not multiples of it. For MTNeuro (256 x 256 tiles, q = 128) it is 4.
 */
size_t mtp_features_rows_per_slice(const mtp_config *cfg, int t, int region);

#endif
