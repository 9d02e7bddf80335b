/*
 * h5write.h — private to the library: the HDF5 writers' shared file lifecycle and writing
 * primitives (h5write.c), used by h5bundle.c (task bundles) and h5volumes.c (volumes.h5).
 * Every function reports failures as "<path>: <what>: <HDF5's innermost message>" with
 * MTP_EFORMAT (mtp_h5w_fail) unless it says otherwise. Formats: src/FORMAT.md §1-2.
 */
#ifndef MTP_H5WRITE_H
#define MTP_H5WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

#include "mtp/chunks.h"
#include "mtp/config.h"
#include "mtp/error.h"
#include "mtp/fsutil.h"
#include "mtp/h5bundle.h"
#include "h5util.h"

/* Context for the helpers below: where errors are reported and about which file. */
typedef struct mtp_h5ctx {
    const char *path;
    mtp_error *err;
} mtp_h5ctx;

typedef struct mtp_h5file {
    mtp_atomic_file out; /* the final name and the temporary HDF5 writes */
    hid_t file;
} mtp_h5file;

/* Record the HDF5 failure that just happened as "<path>: <what>: <innermost message>";
 * returns MTP_EFORMAT. */
int mtp_h5w_fail(mtp_error *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A config name used as an HDF5 link name: non-empty, no '/', not "." or "..". */
bool mtp_h5w_link_name_ok(const char *name);

/* What a file writer checks before it creates anything: the caller's bundle metadata is
 * complete (MTP_EINVAL otherwise), the config's output settings are ones this writer
 * implements, and its region and channel names can be link names and their counts fit. */
int mtp_h5w_check_inputs(const mtp_bundle_meta *meta, const mtp_config *cfg, mtp_error *err);

/* Creation properties shared by groups, datasets and the file: no timestamps, and links
 * and attributes kept (and listed by h5py) in the order they were written. */
hid_t mtp_h5w_creation_plist(hid_t cls);

/* Attributes on `obj` (`where` names it in errors): UTF-8 variable-length strings (a
 * scalar when `scalar`), one string, int64 / int32 / float64 arrays (n == 0: scalar). */
int mtp_h5w_attr_strings(mtp_h5ctx *c, hid_t obj, const char *where, const char *name,
                         const char *const *values, size_t n, bool scalar);
int mtp_h5w_attr_str(mtp_h5ctx *c, hid_t obj, const char *where, const char *name, const char *v);
int mtp_h5w_attr_i64(mtp_h5ctx *c, hid_t obj, const char *where, const char *name, const int64_t *v,
                     size_t n);
int mtp_h5w_attr_i32(mtp_h5ctx *c, hid_t obj, const char *where, const char *name, int v);
int mtp_h5w_attr_f64(mtp_h5ctx *c, hid_t obj, const char *where, const char *name, const double *v,
                     size_t n);

/* The common tail of a dataset's description: description, axes, unit, H5DS labels. */
int mtp_h5w_dataset_labels(mtp_h5ctx *c, hid_t dset, const char *where, const char *description,
                           const char *axes, const char *unit);

/* Create the file under a temporary next to `path` with the pinned creation and access
 * properties (no timestamps, fixed library-version bounds and metadata cache). */
int mtp_h5file_create(mtp_h5file *f, const char *path, mtp_error *err);

/* Close what is still open of the file (after a failure, so errors no longer matter) and
 * remove the temporary. */
void mtp_h5file_abort(mtp_h5file *f);

/* The descriptor of the temporary file (the same inode HDF5 writes), or -1. */
int mtp_h5file_fd(const mtp_h5file *f);

/* Close the file (all its objects must be closed), make it durable and give it its name.
 * On failure the temporary is removed. */
int mtp_h5file_finish(mtp_h5file *f, mtp_error *err);

/* Release attributes written after the format identification, in format order. */
int mtp_h5w_release_attrs(mtp_h5ctx *c, hid_t root, const mtp_config *cfg);

/* builder .. axes: the provenance and geometry attributes, for `nch` channels. */
int mtp_h5w_provenance_attrs(mtp_h5ctx *c, hid_t root, const mtp_config *cfg,
                             const mtp_bundle_meta *meta, const int *channels, int nch,
                             const char *axes);

/* /regions: one compound row per config region. */
int mtp_h5w_regions_table(mtp_h5ctx *c, hid_t root, const mtp_config *cfg);

/* Access properties of every slice-chunked dataset: no chunk cache, so each chunk is
 * filtered and given its file space when it is written (see the top of this file). */
hid_t mtp_h5w_slice_access_plist(void);

/* A uint8 dataset chunked one slice per chunk: dims (..., h, w), chunk (1, ..., 1, h, w). */
hid_t mtp_h5w_create_slices(mtp_h5ctx *c, hid_t loc, const char *name, const char *where, int rank,
                            const hsize_t *dims, const mtp_output *out);

/* A small contiguous dataset written once at the end (labels, region, origin). */
hid_t mtp_h5w_create_small(mtp_h5ctx *c, hid_t loc, const char *name, const char *where, hid_t type,
                           int rank, const hsize_t *dims);

/*
 * Write one slice — exactly one chunk — of a slice-chunked uint8 dataset: the slice at
 * `index` (the leading rank-2 coordinates); `memspace` has the chunk's shape. Compressed
 * datasets get every chunk from chunks.c, never from HDF5's filter: `chunk` (checked by
 * mtp_h5w_check_chunk()) as it is, or else `bytes` deflated here at out->level; either goes
 * in with H5Dwrite_chunk(), filter mask 0 (the deflate filter counts as applied). With
 * compression "none" `bytes` are written plainly.
 */
herr_t mtp_h5w_write_slice(hid_t dset, int rank, const hsize_t *index, hsize_t h, hsize_t w,
                           hid_t memspace, const uint8_t *bytes, const mtp_chunk *chunk,
                           const mtp_output *out);

/*
 * Is `chunk` a plausible deflate of `raw` (n bytes) at `level`? Returns NULL if so, else a
 * reason. Cheap (Adler-32 runs at memory speed) and catches the likely mistakes: a missing
 * chunk, a chunk of another slice or sample, raw bytes, another level class.
 */
const char *mtp_h5w_check_chunk(const mtp_chunk *chunk, const uint8_t *raw, size_t n, int level,
                                char *why, size_t why_len);

/* An enum over uint8 with names[i] = i. */
hid_t mtp_h5w_enum_type(const char *const *names, int n);

#endif
