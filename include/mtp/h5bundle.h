/*
 * h5bundle.h — the HDF5 writer: one bundle file per task and the optional volumes.h5
 * (DESIGN §6, bundle format version 1).
 *
 * The layout of both files (every group, dataset, attribute and type, fixed by format version
 * 1) is specified in src/FORMAT.md §1 (task file) and §2 (volumes.h5). Written by
 * src/h5bundle.c (task semantics), src/h5volumes.c and src/h5write.c (file lifecycle).
 *
 * Every dataset has the attributes axes, description and (where it has one) unit, and H5DS
 * dimension labels equal to its axes. Strings (attributes) are variable-length UTF-8, so
 * h5py 3 reads them as str. Compression: deflate at output.level (no shuffle) for gzip,
 * none for "none" (the config loader refuses blosc; another value here is MTP_EINVAL).
 *
 * Compress once, write many (DESIGN §9). Slice chunks reach the file one at a time, in call
 * order, with HDF5's chunk cache off for the slice datasets, so a chunk's place in the file
 * depends only on the sequence of calls. A caller may hand in each slice already deflated
 * (chunks.h: made by mtp_pool_compress() / mtp_chunk_deflate_one() at output.level); the
 * writer then stores those bytes with H5Dwrite_chunk() instead of running the filter, and
 * the file is byte-identical to the one the plain path writes. Each given chunk is checked
 * against its raw slice before anything is written (zlib header of a deflate stream at the
 * configured level class, size at most compressBound, Adler-32 trailer equal to the raw
 * slice's): MTP_EINVAL otherwise. With compression "none" given chunks are ignored.
 *
 * Determinism: the same calls with the same bytes give a byte-identical file. Object
 * time tracking is off on every creation property list (root group included), library
 * version bounds are fixed to (1.8, 1.8), link and attribute creation order are tracked,
 * and nothing reads the clock.
 *
 * Atomicity: a file is written under an mtp_atomic_file temporary (fsutil.h:
 * "<path>.tmp.<host>.<pid>.<n>"); finish closes, fsyncs and renames it to
 * `path` (replacing an existing file only by that rename); abort deletes the temporary.
 *
 * Errors: MTP_EINVAL for caller mistakes (bad index, missing buffer, unsupported option),
 * MTP_ERANGE for sizes beyond the caps below, MTP_ENOMEM, MTP_EIO for fsync/rename, and
 * MTP_EFORMAT for HDF5 failures, with err->msg = "<path>: <what was being done>: <the
 * innermost HDF5 error message>", e.g. "out/task1.h5: create /train/images: ...".
 * HDF5's automatic error printing is switched off (process-wide) by the create calls.
 *
 * Threads: a handle is used by one thread at a time; the HDF5 library is not thread-safe
 * in Debian's build, so at most one thread in the process should call into this module.
 */
#ifndef MTP_H5BUNDLE_H
#define MTP_H5BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "mtp/chunks.h"
#include "mtp/config.h"
#include "mtp/error.h"
#include "mtp/task_features.h"

#define MTP_BUNDLE_FORMAT "mtneuro-bundle"
#define MTP_BUNDLE_FORMAT_VERSION 1
#define MTP_VOLUMES_FORMAT "mtneuro-volumes"
#define MTP_VOLUMES_FORMAT_VERSION 1

/* Caps: samples per split, pixels per tile edge, bytes per chunk (HDF5 allows < 4 GiB). */
#define MTP_BUNDLE_MAX_SAMPLES (1u << 24)
#define MTP_BUNDLE_MAX_EDGE 65536
#define MTP_BUNDLE_MAX_CHUNK_BYTES (1u << 30)
#define MTP_BUNDLE_MAX_DEPTH 4096
#define MTP_BUNDLE_MAX_PATH 4000
/* Features: target rows per split (kept in memory until finish, 72 bytes each). */
#define MTP_BUNDLE_MAX_TARGET_ROWS (1u << 22)
/* Rows per chunk of a targets dataset. */
#define MTP_BUNDLE_TARGET_CHUNK_ROWS 4096

typedef struct mtp_bundle mtp_bundle;

/* What the writer cannot get from the config. Strings are borrowed for the call only. */
typedef struct mtp_bundle_meta {
    const char *builder;    /* "mtneuro-pack 0.1.0" */
    double voxel_size[3];   /* z, y, x, from the server's coordinate frame */
    const char *voxel_unit; /* "micrometer" */
} mtp_bundle_meta;

/* One sample; every pointer is borrowed for the call. */
typedef struct mtp_bundle_sample {
    const uint8_t *image; /* depth*H*W bytes, C order (z, y, x) */
    const uint8_t *mask;  /* same size; segmentation only, else NULL */
    int label;            /* class index, classification only, else ignored */
    int region;           /* index into cfg->regions; not one the task excludes */
    int64_t origin[3];    /* absolute (z, y, x) corner: y, x = the region's y0, x0, and
                             z..z+depth inside the split's z range */
} mtp_bundle_sample;

/*
 * Create the bundle of task `task` (index into cfg->tasks) at `path`, written as
 * its temporary (fsutil.h) until mtp_bundle_finish(). Writes the root attributes (all but splits
 * and counts) and /regions. H and W are the task's region extents, which must all be equal (regions
 * the task excludes do not count). `cfg` is borrowed and must stay valid and unchanged until finish
 * or abort; `meta` is read during the call only. On success *out is a new handle, which finish or
 * abort frees; on failure *out is NULL and no file is left behind. Features tasks need a quadrant
 * that divides H and W (MTP_EINVAL otherwise).
 */
int mtp_bundle_create(mtp_bundle **out, const char *path, const mtp_config *cfg, int task,
                      const mtp_bundle_meta *meta, mtp_error *err);

/*
 * Declare split `split` (index into cfg->splits; must be one of the task's splits) with n
 * samples. n == 0 writes nothing (the split is left out of the file). Otherwise creates
 * /<split> with count and z_range, and its datasets. Declare every split of the task,
 * once each, before finish. The groups appear in the order of these calls.
 * Features tasks: the split also gets /<split>/targets with n * rows_per_slice rows
 * (mtp_bundle_rows_per_slice()); more than MTP_BUNDLE_MAX_TARGET_ROWS: MTP_ERANGE.
 */
int mtp_bundle_add_split(mtp_bundle *b, int split, size_t n, mtp_error *err);

/* Features tasks: target rows per sample (quadrants per slice, mtp_features_rows_per_slice());
 * 0 for other kinds or a NULL handle. */
size_t mtp_bundle_rows_per_slice(const mtp_bundle *b);

/*
 * Features tasks: copy rows[0..nrows) into rows first_row.. of the split's targets (kept in
 * memory, written by finish, so the file does not depend on how the rows were batched).
 * Rows may come in any batches and order; writing a row again replaces it. `rows` is
 * borrowed for the call. Each row is checked (MTP_EINVAL, nothing copied, e.g.
 * "<path>: /all/targets row 5: quadrant 2 of slice 1 belongs in row 6"):
 * row index = slice_index * rows_per_slice + quadrant with quadrant < rows_per_slice and
 * slice_index < n; region one of the task's; z inside the split's z range; vessel_pct and
 * axon_pct in [0, 100]; cell_count >= 0; mean_cell_area and mean_nn_distance finite and
 * >= 0. At finish each row's region and z must equal its sample's region and origin z.
 * MTP_EINVAL also for a task that is not of kind features, an undeclared split or rows
 * beyond the split's row count.
 */
int mtp_bundle_write_targets(mtp_bundle *b, int split, size_t first_row,
                             const mtp_feature_row *rows, size_t nrows, mtp_error *err);

/*
 * Write sample i (0 <= i < n) of a declared split. Any order is allowed; writing the same
 * i again replaces it (and its old mask leaves class_counts). The sample is checked against
 * the task (mask present iff segmentation, every mask value < nclasses, label < nclasses,
 * region valid and not excluded, origin consistent with the region and the split's z
 * range): MTP_EINVAL otherwise, e.g. "<path>: /train sample 3: mask value 5 is not in 0..2".
 */
int mtp_bundle_write_sample(mtp_bundle *b, int split, size_t i, const mtp_bundle_sample *s,
                            mtp_error *err);

/*
 * The same with the slices already deflated (compress once, see above): image_chunks[d]
 * (resp. mask_chunks[d]) is slice d of s->image (s->mask) deflated at output.level, for d in
 * 0..depth-1; either array may be NULL (the writer then compresses those slices itself).
 * s->image and s->mask are still required (checks, class counts). Used only with compression
 * gzip; with "none" the chunks are ignored. Every chunk is checked before anything is
 * written: MTP_EINVAL, e.g. "<path>: /train sample 3: image chunk 0: its Adler-32 does not
 * match the slice (a chunk of other bytes)"; mask chunks without a mask are refused too.
 * The arrays are borrowed for the call. mtp_bundle_write_sample(b, split, i, s, err) is this
 * with both arrays NULL.
 */
int mtp_bundle_write_sample_chunks(mtp_bundle *b, int split, size_t i, const mtp_bundle_sample *s,
                                   const mtp_chunk *image_chunks, const mtp_chunk *mask_chunks,
                                   mtp_error *err);

/*
 * Set an int64 attribute `name` on the group of a declared split, and when `description`
 * is non-NULL a string attribute "<name>_description" with that text. On a split declared
 * with n == 0 (not in the file) it does nothing and returns 0. Setting the same name twice
 * is an error (MTP_EFORMAT).
 */
int mtp_bundle_split_attr(mtp_bundle *b, int split, const char *name, int64_t value,
                          const char *description, mtp_error *err);

/*
 * Check that every split of the task was declared and every sample (and, for features, every
 * target row) written (MTP_EINVAL naming the first gap otherwise), write labels/region/origin
 * (and targets), each split's class_counts and region_counts, and the splits and counts
 * attributes, close, fsync, and rename the temporary to `path`. Frees b in all cases; on
 * failure the temporary file is deleted and `path` is left as it was.
 */
int mtp_bundle_finish(mtp_bundle *b, mtp_error *err);

/* Close and delete the temporary file, and free b. NULL is fine. */
void mtp_bundle_abort(mtp_bundle *b);

/*
 * volumes.h5: the raw region cubes of every channel over cfg->z, for users who define their
 * own tasks (layout: src/FORMAT.md §2).
 * Same compression, determinism, atomicity and error rules as the task files.
 */
typedef struct mtp_volumes mtp_volumes;

/* Create `path` (under its temporary) with every dataset declared. Ownership as for bundles. */
int mtp_volumes_create(mtp_volumes **out, const char *path, const mtp_config *cfg,
                       const mtp_bundle_meta *meta, mtp_error *err);

/* cube: nz*H*W uint8 (C order z, y, x) of channel `channel` for region `region` over cfg->z,
 * H and W being that region's extents. Borrowed for the call. */
int mtp_volumes_write(mtp_volumes *v, int region, int channel, const uint8_t *cube, mtp_error *err);

/* The same with the cube's nz slices already deflated (compress once, see the task files):
 * chunks[z] = slice z of cube at output.level, checked like a sample's chunks. chunks NULL,
 * or compression "none": exactly mtp_volumes_write(). */
int mtp_volumes_write_chunks(mtp_volumes *v, int region, int channel, const uint8_t *cube,
                             const mtp_chunk *chunks, mtp_error *err);

/* The file descriptor HDF5 writes the temporary file through, or -1 (NULL handle, another
 * driver). Only for hints such as mtp_writeback_start(): never write, close or seek it. Valid
 * until finish or abort. */
int mtp_bundle_fd(const mtp_bundle *b);
int mtp_volumes_fd(const mtp_volumes *v);

/* Check every (region, channel) was written, then close, fsync and rename. Frees v. */
int mtp_volumes_finish(mtp_volumes *v, mtp_error *err);

/* Close and delete the temporary file, and free v. NULL is fine. */
void mtp_volumes_abort(mtp_volumes *v);

#endif
