/*
 * h5bundle.c — the HDF5 writer (bundle format version 1, DESIGN §6).
 *
 * Everything that could make two builds differ is pinned here: object timestamps are off
 * on every creation property list (the file creation list too, which covers the root
 * group), the library-version bounds are fixed, so is the metadata cache (its evictions
 * decide where some metadata lands), attributes and links are written in a fixed order,
 * nothing reads the clock, and every byte handed to HDF5 (fixed strings, compound rows)
 * comes from zeroed memory.
 *
 * Image and mask bytes reach the file one chunk (one slice) at a time through
 * write_slice(): through HDF5's deflate filter, or, when the caller compressed the slice
 * already (chunks.h), as those bytes with H5Dwrite_chunk() (DESIGN §9). Both give the same
 * file because (1) the chunk bytes are equal (compress2 at the same level, as H5Zdeflate.c
 * calls it) and (2) the slice datasets are opened with HDF5's chunk cache off: with a cache
 * the filter path would allocate a chunk's file space when the cache evicts it, an order
 * that differs from the direct path's (at the call); without one both allocate at the call.
 */
#include "mtp/h5bundle.h"

#include "mtp/fsutil.h"
#include "h5util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>
#include <hdf5_hl.h>
#include <zlib.h>

/* ---------------------------------------------------------------------------------------
 * Errors
 */

/* Record the HDF5 failure that just happened as "<path>: <what>: <innermost message>". */
static int h5_fail(mtp_error *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int h5_fail(mtp_error *err, const char *path, const char *fmt, ...)
{
    char reason[512];
    mtp_h5_reason(reason, sizeof reason);
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return mtp_error_set(err, MTP_EFORMAT, "%s: %s: %s", path, what, reason);
}

static void quiet_hdf5(void)
{
    /* The library never prints: failures come back through the error stack instead. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* ---------------------------------------------------------------------------------------
 * Names and checks
 */

/* A config name used as an HDF5 link name: non-empty, no '/', not "." or "..". */
static bool link_name_ok(const char *name)
{
    return name[0] != '\0' && strchr(name, '/') == NULL && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0;
}

static int check_meta(const mtp_bundle_meta *meta, mtp_error *err)
{
    if (meta == NULL || meta->builder == NULL || meta->voxel_unit == NULL)
        return mtp_error_set(err, MTP_EINVAL,
                             "bundle: meta, meta->builder and "
                             "meta->voxel_unit are required");
    return 0;
}

static int check_output(const mtp_config *cfg, mtp_error *err)
{
    if (cfg->output.compression != MTP_COMPRESS_GZIP &&
        cfg->output.compression != MTP_COMPRESS_NONE)
        return mtp_error_set(err, MTP_EINVAL, "unknown compression %d",
                             (int)cfg->output.compression);
    if (cfg->output.compression == MTP_COMPRESS_GZIP &&
        (cfg->output.level < 0 || cfg->output.level > 9))
        return mtp_error_set(err, MTP_EINVAL, "gzip level %d is not in 0..9", cfg->output.level);
    return 0;
}

static int check_regions(const mtp_config *cfg, mtp_error *err)
{
    if (cfg->nregions < 1 || cfg->nregions > MTP_MAX_REGIONS)
        return mtp_error_set(err, MTP_EINVAL, "bundle: %d regions (need 1..%d)", cfg->nregions,
                             MTP_MAX_REGIONS);
    if (cfg->nchannels < 1 || cfg->nchannels > MTP_MAX_CHANNELS)
        return mtp_error_set(err, MTP_EINVAL, "bundle: %d channels (need 1..%d)", cfg->nchannels,
                             MTP_MAX_CHANNELS);
    for (int r = 0; r < cfg->nregions; r++) {
        const mtp_region *reg = &cfg->regions[r];
        if (!link_name_ok(reg->name) || strcmp(reg->name, "regions") == 0)
            return mtp_error_set(err, MTP_EINVAL,
                                 "bundle: region name '%s' cannot be an "
                                 "HDF5 group name here",
                                 reg->name);
        int64_t h = reg->y.stop - reg->y.start, w = reg->x.stop - reg->x.start;
        if (h < 1 || w < 1 || h > MTP_BUNDLE_MAX_EDGE || w > MTP_BUNDLE_MAX_EDGE ||
            (uint64_t)h * (uint64_t)w > MTP_BUNDLE_MAX_CHUNK_BYTES)
            return mtp_error_set(err, MTP_ERANGE,
                                 "bundle: region %s is %" PRId64 "x%" PRId64
                                 " pixels (each edge 1..%d, at most %u per "
                                 "slice)",
                                 reg->name, h, w, MTP_BUNDLE_MAX_EDGE, MTP_BUNDLE_MAX_CHUNK_BYTES);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Property lists and attributes
 */

/* Creation properties shared by groups, datasets and the file: no timestamps, and links
 * and attributes kept (and listed by h5py) in the order they were written. */
static hid_t creation_plist(hid_t cls)
{
    hid_t p = H5Pcreate(cls);
    if (p < 0)
        return p;
    unsigned order = H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED;
    if (H5Pset_obj_track_times(p, 0) < 0 || H5Pset_attr_creation_order(p, order) < 0)
        goto fail;
    if (cls != H5P_DATASET_CREATE && H5Pset_link_creation_order(p, order) < 0)
        goto fail;
    return p;
fail:
    H5Pclose(p);
    return H5I_INVALID_HID;
}

/* Context for the helpers below: where errors are reported and about which file. */
typedef struct h5ctx {
    const char *path;
    mtp_error *err;
} h5ctx;

static hid_t vlen_string_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0)
        return t;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

/* Write attribute `name` of file type `type` and `n` elements (n == 0: scalar) on `obj`,
 * from `data` laid out as `mem_type`. */
static int attr_write(h5ctx *c, hid_t obj, const char *where, const char *name, hid_t type,
                      hid_t mem_type, size_t n, const void *data)
{
    int err = 0;
    hid_t space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    hsize_t dims[1] = {n};
    space = n == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL);
    if (space < 0)
        goto fail;
    attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attr < 0 || H5Awrite(attr, mem_type, data) < 0)
        goto fail;
    goto out;
fail:
    err = h5_fail(c->err, c->path, "write attribute %s of %s", name, where);
out:
    mtp_h5_close(&attr);
    mtp_h5_close(&space);
    return err;
}

static int attr_strings(h5ctx *c, hid_t obj, const char *where, const char *name,
                        const char *const *values, size_t n, bool scalar)
{
    hid_t type = vlen_string_type();
    if (type < 0)
        return h5_fail(c->err, c->path, "string type for attribute %s", name);
    int err = attr_write(c, obj, where, name, type, type, scalar ? 0 : n, values);
    H5Tclose(type);
    return err;
}

static int attr_str(h5ctx *c, hid_t obj, const char *where, const char *name, const char *v)
{
    const char *values[1] = {v};
    return attr_strings(c, obj, where, name, values, 1, true);
}

static int attr_i64(h5ctx *c, hid_t obj, const char *where, const char *name, const int64_t *v,
                    size_t n)
{
    /* Stored little-endian whatever the host; HDF5 converts from the native layout. */
    return attr_write(c, obj, where, name, H5T_STD_I64LE, H5T_NATIVE_INT64, n, v);
}

static int attr_i32(h5ctx *c, hid_t obj, const char *where, const char *name, int v)
{
    int32_t value = v;
    return attr_write(c, obj, where, name, H5T_STD_I32LE, H5T_NATIVE_INT32, 0, &value);
}

static int attr_f64(h5ctx *c, hid_t obj, const char *where, const char *name, const double *v,
                    size_t n)
{
    return attr_write(c, obj, where, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, n, v);
}

/* The common tail of a dataset's description: description, axes, unit, H5DS labels. */
static int dataset_labels(h5ctx *c, hid_t dset, const char *where, const char *description,
                          const char *axes, const char *unit)
{
    int err = attr_str(c, dset, where, "description", description);
    if (err == 0)
        err = attr_str(c, dset, where, "axes", axes);
    if (err == 0 && unit != NULL)
        err = attr_str(c, dset, where, "unit", unit);
    if (err < 0)
        return err;
    /* Dimension labels are the comma-separated names of `axes`, one per dimension. */
    char names[256];
    snprintf(names, sizeof names, "%s", axes);
    unsigned idx = 0;
    char *save = NULL;
    for (char *tok = strtok_r(names, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (H5DSset_label(dset, idx, tok) < 0)
            return h5_fail(c->err, c->path, "label dimension %u of %s", idx, where);
        idx++;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Files: created under an mtp_atomic_file temporary, finished by close + commit (fsync,
 * rename), aborted by close + unlink
 */

/* The metadata cache of each file, fixed: 128 KiB of serialized entries. Left to adapt, it
 * keeps every chunk-index B-tree node it has seen (about 17 KB of memory each, for ~3 KB
 * counted), so a build's memory grew with the number of chunks written, ~1.5 MB per region
 * (bench x4: 16 regions, 186 MB against 161 MB for 4). Appending chunks touches only the
 * right edge of each index, so a small cache costs no time. A fixed size also keeps the
 * cache's evictions, which decide where some metadata lands, the same on every build. */
static int pin_metadata_cache(hid_t fapl)
{
    H5AC_cache_config_t mdc;
    memset(&mdc, 0, sizeof mdc);
    mdc.version = H5AC__CURR_CACHE_CONFIG_VERSION;
    if (H5Pget_mdc_config(fapl, &mdc) < 0)
        return -1;
    mdc.set_initial_size = 1;
    mdc.initial_size = 128 << 10;
    mdc.min_size = 64 << 10;
    mdc.max_size = 128 << 10;
    mdc.incr_mode = H5C_incr__off;
    mdc.flash_incr_mode = H5C_flash_incr__off;
    mdc.decr_mode = H5C_decr__off;
    return H5Pset_mdc_config(fapl, &mdc) < 0 ? -1 : 0;
}

typedef struct h5file {
    mtp_atomic_file out; /* the final name and the temporary HDF5 writes */
    hid_t file;
} h5file;

static int h5file_create(h5file *f, const char *path, mtp_error *err)
{
    f->out.fd = -1;
    f->out.temp[0] = '\0';
    f->file = H5I_INVALID_HID;
    if (path == NULL || path[0] == '\0')
        return mtp_error_set(err, MTP_EINVAL, "bundle: empty path");
    size_t len = strlen(path);
    if (len > MTP_BUNDLE_MAX_PATH)
        return mtp_error_set(err, MTP_ERANGE, "bundle: path longer than %d bytes",
                             MTP_BUNDLE_MAX_PATH);
    int rc = mtp_atomic_open(&f->out, path, err);
    if (rc < 0)
        return rc;

    quiet_hdf5();
    hid_t fcpl = creation_plist(H5P_FILE_CREATE);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fcpl < 0 || fapl < 0) {
        rc = h5_fail(err, path, "file property lists");
        goto out;
    }
    /* Fixed bounds: every object is written in the 1.8 formats, which HDF5 >= 1.8, h5py
     * and HDFView all read; SEMI makes a forgotten open object an error at close. */
    if (H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0 ||
        H5Pset_fclose_degree(fapl, H5F_CLOSE_SEMI) < 0 || pin_metadata_cache(fapl) < 0) {
        rc = h5_fail(err, path, "file access properties");
        goto out;
    }
    /* HDF5 writes the temporary by name; the atomic file's descriptor fsyncs it. */
    f->file = H5Fcreate(f->out.temp, H5F_ACC_TRUNC, fcpl, fapl);
    if (f->file < 0)
        rc = h5_fail(err, path, "create %s", f->out.temp);
out:
    mtp_h5_close(&fcpl);
    mtp_h5_close(&fapl);
    if (rc < 0)
        mtp_atomic_abort(&f->out);
    return rc;
}

/* Close what is still open of the file (after a failure, so errors no longer matter) and
 * remove the temporary. */
static void h5file_abort(h5file *f)
{
    if (f->file >= 0) {
        H5Fclose(f->file);
        H5Eclear2(H5E_DEFAULT);
        f->file = H5I_INVALID_HID;
    }
    mtp_atomic_abort(&f->out);
}

/* The descriptor of the temporary file (the same inode HDF5 writes), or -1. */
static int h5file_fd(const h5file *f)
{
    return f->out.fd;
}

/* Close the file (all its objects must be closed), make it durable and give it its name.
 * On failure the temporary is removed. */
static int h5file_finish(h5file *f, mtp_error *err)
{
    int rc = 0;
    if (H5Fflush(f->file, H5F_SCOPE_GLOBAL) < 0) {
        rc = h5_fail(err, f->out.path, "flush");
        goto out;
    }
    herr_t closed = H5Fclose(f->file);
    f->file = H5I_INVALID_HID;
    if (closed < 0) {
        rc = h5_fail(err, f->out.path, "close");
        goto out;
    }
    rc = mtp_atomic_commit(&f->out, err);
out:
    if (rc < 0)
        h5file_abort(f);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Content shared by task files and volumes.h5
 */

/* The release's citation texts joined with newlines; caller frees. NULL on ENOMEM. */
static char *joined_citations(const mtp_release *rel)
{
    size_t len = 1;
    int n = rel->ncitations < 0 ? 0 : rel->ncitations;
    if (n > MTP_MAX_CITATIONS)
        n = MTP_MAX_CITATIONS;
    for (int i = 0; i < n; i++)
        len += strnlen(rel->citations[i].text, MTP_LONGTEXT_MAX) + 1;
    char *s = malloc(len), *p = s;
    if (s == NULL)
        return NULL;
    for (int i = 0; i < n; i++) {
        size_t l = strnlen(rel->citations[i].text, MTP_LONGTEXT_MAX);
        if (i > 0)
            *p++ = '\n';
        memcpy(p, rel->citations[i].text, l);
        p += l;
    }
    *p = '\0';
    return s;
}

/* Release attributes written after the format identification, in format order. */
static int release_attrs(h5ctx *c, hid_t root, const mtp_config *cfg)
{
    const mtp_release *rel = &cfg->release;
    int err = attr_str(c, root, "/", "title", rel->title);
    if (err == 0)
        err = attr_str(c, root, "/", "description", rel->description);
    if (err == 0)
        err = attr_str(c, root, "/", "license", rel->license);
    if (err < 0)
        return err;
    char *citation = joined_citations(rel);
    if (citation == NULL)
        return mtp_error_set(c->err, MTP_ENOMEM, "%s: out of memory", c->path);
    err = attr_str(c, root, "/", "citation", citation);
    free(citation);
    return err;
}

/* builder .. axes: the provenance and geometry attributes, for `nch` channels. */
static int provenance_attrs(h5ctx *c, hid_t root, const mtp_config *cfg,
                            const mtp_bundle_meta *meta, const int *channels, int nch,
                            const char *axes)
{
    const char *names[MTP_MAX_CHANNELS], *uris[MTP_MAX_CHANNELS];
    for (int i = 0; i < nch; i++) {
        names[i] = cfg->channels[channels[i]].name;
        uris[i] = cfg->channels[channels[i]].uri;
    }
    int err = attr_str(c, root, "/", "builder", meta->builder);
    if (err == 0)
        err = attr_str(c, root, "/", "config_sha256", cfg->sha256);
    if (err == 0)
        err = attr_str(c, root, "/", "source", cfg->source.url);
    if (err == 0)
        err = attr_strings(c, root, "/", "channel_names", names, (size_t)nch, false);
    if (err == 0)
        err = attr_strings(c, root, "/", "channels", uris, (size_t)nch, false);
    if (err == 0)
        err = attr_i32(c, root, "/", "resolution", cfg->source.resolution);
    if (err == 0)
        err = attr_f64(c, root, "/", "voxel_size", meta->voxel_size, 3);
    if (err == 0)
        err = attr_str(c, root, "/", "voxel_unit", meta->voxel_unit);
    if (err == 0)
        err = attr_str(c, root, "/", "axes", axes);
    return err;
}

typedef struct region_row {
    char name[MTP_NAME_MAX];
    int64_t x0, x1, y0, y1;
} region_row;

/* /regions: one compound row per config region. */
static int regions_table(h5ctx *c, hid_t root, const mtp_config *cfg)
{
    int err = 0;
    hid_t str = H5I_INVALID_HID, mem = H5I_INVALID_HID, disk = H5I_INVALID_HID;
    hid_t space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, dset = H5I_INVALID_HID;
    /* calloc: the bytes after each name's NUL go into the file and must be zero. */
    region_row *rows = calloc((size_t)cfg->nregions, sizeof *rows);
    if (rows == NULL)
        return mtp_error_set(c->err, MTP_ENOMEM, "%s: out of memory", c->path);
    for (int r = 0; r < cfg->nregions; r++) {
        const mtp_region *reg = &cfg->regions[r];
        memcpy(rows[r].name, reg->name, strnlen(reg->name, MTP_NAME_MAX - 1));
        rows[r].x0 = reg->x.start;
        rows[r].x1 = reg->x.stop;
        rows[r].y0 = reg->y.start;
        rows[r].y1 = reg->y.stop;
    }
    str = H5Tcopy(H5T_C_S1);
    if (str < 0 || H5Tset_size(str, MTP_NAME_MAX) < 0 || H5Tset_strpad(str, H5T_STR_NULLTERM) < 0 ||
        H5Tset_cset(str, H5T_CSET_UTF8) < 0)
        goto fail;
    mem = H5Tcreate(H5T_COMPOUND, sizeof(region_row));
    disk = H5Tcreate(H5T_COMPOUND, MTP_NAME_MAX + 4 * 8);
    if (mem < 0 || disk < 0)
        goto fail;
    const char *fields[4] = {"x0", "x1", "y0", "y1"};
    const size_t offsets[4] = {offsetof(region_row, x0), offsetof(region_row, x1),
                               offsetof(region_row, y0), offsetof(region_row, y1)};
    if (H5Tinsert(mem, "name", offsetof(region_row, name), str) < 0 ||
        H5Tinsert(disk, "name", 0, str) < 0)
        goto fail;
    for (int i = 0; i < 4; i++)
        if (H5Tinsert(mem, fields[i], offsets[i], H5T_NATIVE_INT64) < 0 ||
            H5Tinsert(disk, fields[i], MTP_NAME_MAX + 8 * (size_t)i, H5T_STD_I64LE) < 0)
            goto fail;
    hsize_t dims[1] = {(hsize_t)cfg->nregions};
    space = H5Screate_simple(1, dims, NULL);
    dcpl = creation_plist(H5P_DATASET_CREATE);
    if (space < 0 || dcpl < 0)
        goto fail;
    dset = H5Dcreate2(root, "regions", disk, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dset < 0 || H5Dwrite(dset, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) < 0)
        goto fail;
    err = dataset_labels(c, dset, "/regions",
                         "the regions samples come from: name and half-open voxel ranges "
                         "[x0, x1), [y0, y1) at the release's resolution; the region "
                         "datasets store row indices into this table",
                         "region", "voxel");
    goto out;
fail:
    err = h5_fail(c->err, c->path, "create /regions");
out:
    mtp_h5_close(&dset);
    mtp_h5_close(&dcpl);
    mtp_h5_close(&space);
    mtp_h5_close(&disk);
    mtp_h5_close(&mem);
    mtp_h5_close(&str);
    free(rows);
    return err;
}

/* Access properties of every slice-chunked dataset: no chunk cache, so each chunk is
 * filtered and given its file space when it is written (see the top of this file). */
static hid_t slice_access_plist(void)
{
    hid_t p = H5Pcreate(H5P_DATASET_ACCESS);
    if (p >= 0 && H5Pset_chunk_cache(p, 0, 0, 1.0) < 0) {
        H5Pclose(p);
        return H5I_INVALID_HID;
    }
    return p;
}

/* A uint8 dataset chunked one slice per chunk: dims (..., h, w), chunk (1, ..., 1, h, w). */
static hid_t create_slices(h5ctx *c, hid_t loc, const char *name, const char *where, int rank,
                           const hsize_t *dims, const mtp_output *out)
{
    hid_t dset = H5I_INVALID_HID, space = H5I_INVALID_HID, dapl = H5I_INVALID_HID;
    hsize_t chunk[4];
    for (int i = 0; i < rank; i++)
        chunk[i] = i < rank - 2 ? 1 : dims[i];
    hid_t dcpl = creation_plist(H5P_DATASET_CREATE);
    if (dcpl < 0 || H5Pset_chunk(dcpl, rank, chunk) < 0)
        goto fail;
    /* uint8 has one byte per element, so shuffle would change nothing: deflate alone. */
    if (out->compression == MTP_COMPRESS_GZIP && H5Pset_deflate(dcpl, (unsigned)out->level) < 0)
        goto fail;
    space = H5Screate_simple(rank, dims, NULL);
    dapl = slice_access_plist();
    if (space < 0 || dapl < 0)
        goto fail;
    dset = H5Dcreate2(loc, name, H5T_STD_U8LE, space, H5P_DEFAULT, dcpl, dapl);
    if (dset < 0)
        goto fail;
    goto out;
fail:
    h5_fail(c->err, c->path, "create %s", where);
out:
    mtp_h5_close(&dapl);
    mtp_h5_close(&space);
    mtp_h5_close(&dcpl);
    return dset;
}

/* A small contiguous dataset written once at the end (labels, region, origin). */
static hid_t create_small(h5ctx *c, hid_t loc, const char *name, const char *where, hid_t type,
                          int rank, const hsize_t *dims)
{
    hid_t dset = H5I_INVALID_HID;
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = creation_plist(H5P_DATASET_CREATE);
    if (space >= 0 && dcpl >= 0)
        dset = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dset < 0)
        h5_fail(c->err, c->path, "create %s", where);
    mtp_h5_close(&space);
    mtp_h5_close(&dcpl);
    return dset;
}

/*
 * Write one slice — exactly one chunk — of a slice-chunked uint8 dataset: the slice at
 * `index` (the leading rank-2 coordinates); `memspace` has the chunk's shape. With `chunk`
 * (checked by check_chunk()) its bytes go in as they are, filter mask 0: the deflate filter
 * counts as applied. Otherwise HDF5's filter compresses `bytes`.
 */
static herr_t write_slice(hid_t dset, int rank, const hsize_t *index, hsize_t h, hsize_t w,
                          hid_t memspace, const uint8_t *bytes, const mtp_chunk *chunk)
{
    hsize_t d = rank == 4 ? index[1] : 0;
    if (chunk != NULL) {
        hsize_t start[4] = {index[0], d, 0, 0};
        return H5Dwrite_chunk(dset, H5P_DEFAULT, 0, start, chunk->size, chunk->data);
    }
    return mtp_h5_write_slice(dset, memspace, rank, index[0], d, h, w, bytes);
}

/* zlib's FLEVEL header bits for a compression level (deflate.c: 0 for levels 0-1, 1 for
 * 2-5, 2 for 6, 3 for 7-9). */
static unsigned zlib_level_class(int level)
{
    if (level < 2)
        return 0;
    if (level < 6)
        return 1;
    return level == 6 ? 2 : 3;
}

/*
 * Is `chunk` a plausible deflate of `raw` (n bytes) at `level`? Returns NULL if so, else a
 * reason. Cheap (Adler-32 runs at memory speed) and catches the likely mistakes: a missing
 * chunk, a chunk of another slice or sample, raw bytes, another level class.
 */
static const char *check_chunk(const mtp_chunk *chunk, const uint8_t *raw, size_t n, int level,
                               char *why, size_t why_len)
{
    if (chunk->data == NULL || chunk->size == 0)
        return "no bytes";
    uLong bound = compressBound((uLong)n);
    if (chunk->size < 7 || chunk->size > bound) {
        snprintf(why, why_len, "%zu bytes (a deflated slice of %zu bytes has 7..%lu)", chunk->size,
                 n, (unsigned long)bound);
        return why;
    }
    const uint8_t *d = chunk->data;
    unsigned header = (unsigned)d[0] << 8 | d[1];
    if ((d[0] & 0x0f) != 8 || (d[0] >> 4) > 7 || header % 31 != 0 || (d[1] & 0x20) != 0)
        return "not a zlib deflate stream";
    if ((unsigned)(d[1] >> 6) != zlib_level_class(level)) {
        snprintf(why, why_len, "deflated at another level than %d", level);
        return why;
    }
    /* Made by the pool from this very slice: the pairing is known, skip the hash (a
     * slice goes into up to six files; hashing it each time was a tenth of a build). */
    if (chunk->source == raw)
        return NULL;
    const uint8_t *t = d + chunk->size - 4;
    uLong stored = (uLong)t[0] << 24 | (uLong)t[1] << 16 | (uLong)t[2] << 8 | (uLong)t[3];
    uLong sum = adler32(adler32(0L, Z_NULL, 0), raw, (uInt)n);
    if (stored != sum)
        return "its Adler-32 does not match the slice (a chunk of other bytes)";
    return NULL;
}

static hid_t enum_type(const char *const *names, int n)
{
    hid_t t = H5Tenum_create(H5T_STD_U8LE);
    if (t < 0)
        return t;
    for (int i = 0; i < n; i++) {
        uint8_t v = (uint8_t)i;
        if (H5Tenum_insert(t, names[i], &v) < 0) {
            H5Tclose(t);
            return H5I_INVALID_HID;
        }
    }
    return t;
}

/* ---------------------------------------------------------------------------------------
 * Task bundles
 */

typedef struct split_state {
    bool declared;
    size_t n;
    hid_t group, images, masks, labels, region, origin, targets;
    uint8_t *written;   /* n flags */
    uint8_t *label;     /* n class indices (classification) */
    uint8_t *region_of; /* n region indices */
    int64_t *origins;   /* 3n: z, y, x */
    /* Segmentation: mask voxels per value over the samples written so far (class_counts);
     * a rewritten sample's old mask is subtracted before its new one is added. */
    uint64_t mask_hist[256];
    /* Features: n * rows_per_slice target rows and which of them were written. */
    size_t nrows;
    mtp_feature_row *rows;
    uint8_t *row_written;
} split_state;

struct mtp_bundle {
    h5file f;
    const mtp_config *cfg;
    const mtp_task *task;
    int depth;
    hsize_t height, width;
    hid_t root;
    hid_t label_type;      /* enum of class names (classification) */
    hid_t region_type;     /* enum of region names */
    hid_t memspace;        /* one chunk: (1, h, w) or (1, 1, h, w) */
    hid_t target_mem;      /* features: compound type of mtp_feature_row in memory */
    hid_t target_disk;     /* features: the packed compound type in the file */
    size_t rows_per_slice; /* features: quadrants per slice */
    split_state splits[MTP_MAX_SPLITS];
};

static void split_release(split_state *s)
{
    mtp_h5_close(&s->targets);
    mtp_h5_close(&s->origin);
    mtp_h5_close(&s->region);
    mtp_h5_close(&s->labels);
    mtp_h5_close(&s->masks);
    mtp_h5_close(&s->images);
    mtp_h5_close(&s->group);
    free(s->written);
    free(s->label);
    free(s->region_of);
    free(s->origins);
    free(s->rows);
    free(s->row_written);
    s->written = s->label = s->region_of = s->row_written = NULL;
    s->origins = NULL;
    s->rows = NULL;
}

/* Close every HDF5 object but the file, and free the arrays. */
static void bundle_release(mtp_bundle *b)
{
    for (int i = 0; i < MTP_MAX_SPLITS; i++)
        split_release(&b->splits[i]);
    mtp_h5_close(&b->target_disk);
    mtp_h5_close(&b->target_mem);
    mtp_h5_close(&b->memspace);
    mtp_h5_close(&b->region_type);
    mtp_h5_close(&b->label_type);
    mtp_h5_close(&b->root);
}

void mtp_bundle_abort(mtp_bundle *b)
{
    if (b == NULL)
        return;
    bundle_release(b);
    h5file_abort(&b->f);
    free(b);
}

static bool task_has_split(const mtp_task *t, int split)
{
    for (int i = 0; i < t->nsplits; i++)
        if (t->splits[i] == split)
            return true;
    return false;
}

/* Validate the task against what this writer supports; set depth, height, width. */
static int check_task(mtp_bundle *b, int task, mtp_error *err)
{
    const mtp_config *cfg = b->cfg;
    if (task < 0 || task >= cfg->ntasks || task >= MTP_MAX_TASKS)
        return mtp_error_set(err, MTP_EINVAL, "bundle: task index %d out of range", task);
    const mtp_task *t = &cfg->tasks[task];
    b->task = t;
    if (t->kind != MTP_TASK_CLASSIFICATION && t->kind != MTP_TASK_SEGMENTATION &&
        t->kind != MTP_TASK_FEATURES)
        return mtp_error_set(err, MTP_EINVAL, "%s: unknown task kind %d", t->name, (int)t->kind);
    if (t->depth < 1 || t->depth > MTP_BUNDLE_MAX_DEPTH)
        return mtp_error_set(err, MTP_ERANGE, "%s: depth %d is not in 1..%d", t->name, t->depth,
                             MTP_BUNDLE_MAX_DEPTH);
    if (t->nclasses < 1 || t->nclasses > MTP_MAX_CLASSES)
        return mtp_error_set(err, MTP_EINVAL, "%s: %d classes (need 1..%d)", t->name, t->nclasses,
                             MTP_MAX_CLASSES);
    if (t->nsplits < 1 || t->nsplits > MTP_MAX_SPLITS)
        return mtp_error_set(err, MTP_EINVAL, "%s: %d splits (need 1..%d)", t->name, t->nsplits,
                             MTP_MAX_SPLITS);
    for (int i = 0; i < t->nsplits; i++) {
        int s = t->splits[i];
        if (s < 0 || s >= cfg->nsplits || s >= MTP_MAX_SPLITS)
            return mtp_error_set(err, MTP_EINVAL, "%s: split index %d out of range", t->name, s);
        const char *name = cfg->splits[s].name;
        if (!link_name_ok(name) || strcmp(name, "regions") == 0)
            return mtp_error_set(err, MTP_EINVAL,
                                 "%s: split name '%s' cannot be an HDF5 "
                                 "group name here",
                                 t->name, name);
    }
    if (t->image_channel < 0 || t->image_channel >= cfg->nchannels || t->label_channel < 0 ||
        t->label_channel >= cfg->nchannels)
        return mtp_error_set(err, MTP_EINVAL, "%s: channel index out of range", t->name);
    /* Every sample of a dataset has one shape: the regions the task uses must agree. */
    int first = -1;
    for (int r = 0; r < cfg->nregions; r++) {
        if (t->excluded[r])
            continue;
        const mtp_region *reg = &cfg->regions[r];
        hsize_t h = (hsize_t)(reg->y.stop - reg->y.start);
        hsize_t w = (hsize_t)(reg->x.stop - reg->x.start);
        if (first < 0) {
            first = r;
            b->height = h;
            b->width = w;
        } else if (h != b->height || w != b->width) {
            return mtp_error_set(err, MTP_EINVAL,
                                 "%s: region %s is %llux%llu but region %s "
                                 "is %llux%llu; a task's regions must have "
                                 "one size",
                                 t->name, reg->name, (unsigned long long)h, (unsigned long long)w,
                                 cfg->regions[first].name, (unsigned long long)b->height,
                                 (unsigned long long)b->width);
        }
    }
    if (first < 0)
        return mtp_error_set(err, MTP_EINVAL, "%s: every region is excluded", t->name);
    if ((uint64_t)b->height * b->width > MTP_BUNDLE_MAX_CHUNK_BYTES)
        return mtp_error_set(err, MTP_ERANGE, "%s: slices larger than %u bytes", t->name,
                             MTP_BUNDLE_MAX_CHUNK_BYTES);
    b->depth = t->depth;
    if (t->kind == MTP_TASK_FEATURES) {
        if (t->depth != 1)
            return mtp_error_set(err, MTP_EINVAL, "%s: features tasks have depth 1, not %d",
                                 t->name, t->depth);
        b->rows_per_slice = mtp_features_rows_per_slice(cfg, task, first);
        if (b->rows_per_slice == 0)
            return mtp_error_set(
                err, MTP_EINVAL, "%s: quadrant %d does not divide the %llux%llu slices", t->name,
                t->quadrant, (unsigned long long)b->height, (unsigned long long)b->width);
    }
    return 0;
}

static int bundle_root(mtp_bundle *b, const mtp_bundle_meta *meta, mtp_error *err)
{
    h5ctx c = {b->f.out.path, err};
    const mtp_config *cfg = b->cfg;
    const mtp_task *t = b->task;
    int err_code = attr_str(&c, b->root, "/", "format", MTP_BUNDLE_FORMAT);
    if (err_code == 0)
        err_code = attr_i32(&c, b->root, "/", "format_version", MTP_BUNDLE_FORMAT_VERSION);
    if (err_code == 0)
        err_code = attr_str(&c, b->root, "/", "task", t->name);
    if (err_code == 0)
        err_code = attr_str(&c, b->root, "/", "kind", mtp_task_kind_name(t->kind));
    if (err_code == 0)
        err_code = release_attrs(&c, b->root, cfg);
    int channels[2] = {t->image_channel, t->label_channel};
    int nch = t->label_channel == t->image_channel ? 1 : 2;
    if (err_code == 0)
        err_code = provenance_attrs(&c, b->root, cfg, meta, channels, nch,
                                    b->depth == 1 ? "sample,y,x" : "sample,z,y,x");
    const char *classes[MTP_MAX_CLASSES];
    for (int i = 0; i < t->nclasses; i++)
        classes[i] = t->classes[i];
    if (err_code == 0)
        err_code = attr_strings(&c, b->root, "/", "classes", classes, (size_t)t->nclasses, false);
    if (err_code == 0)
        err_code = regions_table(&c, b->root, cfg);
    return err_code;
}

static int target_types(mtp_bundle *b, mtp_error *err);

int mtp_bundle_create(mtp_bundle **out, const char *path, const mtp_config *cfg, int task,
                      const mtp_bundle_meta *meta, mtp_error *err)
{
    int rc = 0;
    mtp_bundle *b = NULL;
    if (out == NULL || cfg == NULL)
        return mtp_error_set(err, MTP_EINVAL, "bundle: out and cfg are required");
    *out = NULL;
    rc = check_meta(meta, err);
    if (rc == 0)
        rc = check_output(cfg, err);
    if (rc == 0)
        rc = check_regions(cfg, err);
    if (rc < 0)
        return rc;
    b = calloc(1, sizeof *b);
    if (b == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "bundle: out of memory");
    b->cfg = cfg;
    b->root = b->label_type = b->region_type = b->memspace = H5I_INVALID_HID;
    b->target_mem = b->target_disk = H5I_INVALID_HID;
    b->f.file = H5I_INVALID_HID;
    b->f.out.fd = -1;
    for (int i = 0; i < MTP_MAX_SPLITS; i++) {
        split_state *s = &b->splits[i];
        s->group = s->images = s->masks = s->labels = s->region = s->origin = H5I_INVALID_HID;
        s->targets = H5I_INVALID_HID;
    }
    rc = check_task(b, task, err);
    if (rc < 0)
        goto out;
    rc = h5file_create(&b->f, path, err);
    if (rc < 0)
        goto out;

    const mtp_task *t = b->task;
    const char *names[MTP_MAX_REGIONS > MTP_MAX_CLASSES ? MTP_MAX_REGIONS : MTP_MAX_CLASSES];
    for (int r = 0; r < cfg->nregions; r++)
        names[r] = cfg->regions[r].name;
    b->region_type = enum_type(names, cfg->nregions);
    if (t->kind == MTP_TASK_CLASSIFICATION) {
        for (int i = 0; i < t->nclasses; i++)
            names[i] = t->classes[i];
        b->label_type = enum_type(names, t->nclasses);
    }
    /* The memory space has the chunk's own shape: with any other shape HDF5 maps the
     * selection element by element (measured: 3x slower than deflate itself). */
    hsize_t one_chunk[4] = {1, 1, b->height, b->width};
    int rank = b->depth == 1 ? 3 : 4;
    b->memspace = H5Screate_simple(rank, one_chunk + (4 - rank), NULL);
    b->root = H5Gopen2(b->f.file, "/", H5P_DEFAULT);
    if (b->region_type < 0 || b->memspace < 0 || b->root < 0 ||
        (t->kind == MTP_TASK_CLASSIFICATION && b->label_type < 0)) {
        rc = h5_fail(err, path, "enum types (class and region names must be unique)");
        goto out;
    }
    if (t->kind == MTP_TASK_FEATURES) {
        rc = target_types(b, err);
        if (rc < 0)
            goto out;
    }
    rc = bundle_root(b, meta, err);
out:
    if (rc < 0) {
        mtp_bundle_abort(b);
        b = NULL;
    }
    *out = b;
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Features: the targets table
 */

/* The fields of mtp_feature_row in file order, with their units and definitions. */
enum { TARGET_FIELDS = 9 };
static const char *const target_names[TARGET_FIELDS] = {
    "region",   "z",          "quadrant",       "slice_index",     "vessel_pct",
    "axon_pct", "cell_count", "mean_cell_area", "mean_nn_distance"};
static const char *const target_units[TARGET_FIELDS] = {
    "", "voxel", "", "", "percent", "percent", "cells", "pixels", "pixels"};

/* The memory and file compound types of a targets row. The region field is an enum of the
 * region names in both: int32-based in memory (mtp_feature_row.region), uint8 in the file. */
static int target_types(mtp_bundle *b, mtp_error *err)
{
    const mtp_config *cfg = b->cfg;
    int rc = 0;
    hid_t mem_region = H5Tenum_create(H5T_NATIVE_INT32);
    if (mem_region < 0)
        goto fail;
    for (int r = 0; r < cfg->nregions; r++) {
        int32_t v = r;
        if (H5Tenum_insert(mem_region, cfg->regions[r].name, &v) < 0)
            goto fail;
    }
    const size_t mem_off[TARGET_FIELDS] = {
        offsetof(mtp_feature_row, region),          offsetof(mtp_feature_row, z),
        offsetof(mtp_feature_row, quadrant),        offsetof(mtp_feature_row, slice_index),
        offsetof(mtp_feature_row, vessel_pct),      offsetof(mtp_feature_row, axon_pct),
        offsetof(mtp_feature_row, cell_count),      offsetof(mtp_feature_row, mean_cell_area),
        offsetof(mtp_feature_row, mean_nn_distance)};
    const hid_t mem_types[TARGET_FIELDS] = {mem_region,       H5T_NATIVE_INT64,  H5T_NATIVE_INT32,
                                            H5T_NATIVE_INT64, H5T_NATIVE_DOUBLE, H5T_NATIVE_DOUBLE,
                                            H5T_NATIVE_INT64, H5T_NATIVE_DOUBLE, H5T_NATIVE_DOUBLE};
    const hid_t disk_types[TARGET_FIELDS] = {b->region_type, H5T_STD_I64LE,  H5T_STD_I32LE,
                                             H5T_STD_I64LE,  H5T_IEEE_F64LE, H5T_IEEE_F64LE,
                                             H5T_STD_I64LE,  H5T_IEEE_F64LE, H5T_IEEE_F64LE};
    /* Packed in the file: no padding bytes, so nothing uninitialised can reach it. */
    size_t disk_size = 0;
    for (int i = 0; i < TARGET_FIELDS; i++)
        disk_size += H5Tget_size(disk_types[i]);
    b->target_mem = H5Tcreate(H5T_COMPOUND, sizeof(mtp_feature_row));
    b->target_disk = H5Tcreate(H5T_COMPOUND, disk_size);
    if (b->target_mem < 0 || b->target_disk < 0)
        goto fail;
    size_t off = 0;
    for (int i = 0; i < TARGET_FIELDS; i++) {
        if (H5Tinsert(b->target_mem, target_names[i], mem_off[i], mem_types[i]) < 0 ||
            H5Tinsert(b->target_disk, target_names[i], off, disk_types[i]) < 0)
            goto fail;
        off += H5Tget_size(disk_types[i]);
    }
    goto out;
fail:
    rc = h5_fail(err, b->f.out.path, "targets row types");
out:
    mtp_h5_close(&mem_region);
    return rc;
}

/* "(y 0-128, x 0-128), (y 0-128, x 128-256), ..." for up to 16 quadrants, else the rule. */
static void quadrant_order(const mtp_bundle *b, char *buf, size_t cap)
{
    size_t q = (size_t)b->task->quadrant, across = (size_t)b->width / q;
    if (b->rows_per_slice > 16) {
        snprintf(buf, cap, "row-major: quadrant = (y / %zu) * %zu + x / %zu", q, across, q);
        return;
    }
    size_t len = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < b->rows_per_slice && len < cap; k++) {
        size_t y = k / across * q, x = k % across * q;
        int n = snprintf(buf + len, cap - len, "%s%zu = (y %zu-%zu, x %zu-%zu)", k ? ", " : "", k,
                         y, y + q, x, x + q);
        if (n < 0)
            break;
        len += (size_t)n;
    }
}

/* /<split>/targets: declared at add_split, written whole at finish. */
static int create_targets(mtp_bundle *b, split_state *s, const char *name, mtp_error *err)
{
    h5ctx c = {b->f.out.path, err};
    char where[MTP_NAME_MAX + 16];
    snprintf(where, sizeof where, "/%s/targets", name);
    hsize_t dims[1] = {s->nrows};
    hsize_t chunk[1] = {s->nrows < MTP_BUNDLE_TARGET_CHUNK_ROWS ? s->nrows
                                                                : MTP_BUNDLE_TARGET_CHUNK_ROWS};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t dcpl = creation_plist(H5P_DATASET_CREATE);
    int rc = 0;
    if (space < 0 || dcpl < 0 || H5Pset_chunk(dcpl, 1, chunk) < 0 ||
        (b->cfg->output.compression == MTP_COMPRESS_GZIP &&
         H5Pset_deflate(dcpl, (unsigned)b->cfg->output.level) < 0))
        goto fail;
    s->targets =
        H5Dcreate2(s->group, "targets", b->target_disk, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (s->targets < 0)
        goto fail;
    goto out;
fail:
    rc = h5_fail(err, b->f.out.path, "create %s", where);
out:
    mtp_h5_close(&dcpl);
    mtp_h5_close(&space);
    if (rc < 0)
        return rc;

    const int q = b->task->quadrant;
    char order[1024], description[2048];
    quadrant_order(b, order, sizeof order);
    snprintf(description, sizeof description,
             "Task 3 targets: one row per (sample, quadrant) of this split's images; row "
             "slice_index * rows_per_slice + quadrant describes quadrant `quadrant` of "
             "images[slice_index], the %d x %d quadrants of each slice numbered %s",
             q, q, order);
    char defs[TARGET_FIELDS][1024];
    snprintf(defs[0], sizeof defs[0], "region of the slice (enum: region name -> row of /regions)");
    snprintf(defs[1], sizeof defs[1], "absolute z of the slice in the frame, in voxels");
    snprintf(defs[2], sizeof defs[2], "quadrant of the slice, 0..%zu, row-major: %.900s",
             b->rows_per_slice - 1, order);
    snprintf(defs[3], sizeof defs[3],
             "index of the slice in this split's images, region and origin");
    snprintf(defs[4], sizeof defs[4],
             "100 x pixels of class vessel in the quadrant / %d (the quadrant's pixels)", q * q);
    snprintf(defs[5], sizeof defs[5],
             "100 x pixels of class axon in the quadrant / %d (the quadrant's pixels)", q * q);
    snprintf(defs[6], sizeof defs[6],
             "number of cells with at least one pixel in the quadrant of this slice; cells = "
             "3-D 6-connected components (voxels sharing a face) of the cell class, computed "
             "per region stack over the split's slices, so a cell never crosses regions");
    snprintf(defs[7], sizeof defs[7],
             "mean over those cells of their pixel count inside the quadrant of this slice; 0 "
             "when there are none");
    snprintf(defs[8], sizeof defs[8],
             "mean over those cells of the Euclidean distance, in pixels, from the cell's "
             "centroid inside the quadrant to the nearest centroid of another cell in the "
             "quadrant; %g when fewer than 2 cells",
             MTP_FEATURES_NN_FILL);
    const char *def_ptrs[TARGET_FIELDS];
    for (int i = 0; i < TARGET_FIELDS; i++)
        def_ptrs[i] = defs[i];
    rc = dataset_labels(&c, s->targets, where, description, "row", NULL);
    if (rc == 0)
        rc = attr_strings(&c, s->targets, where, "field_names", target_names, TARGET_FIELDS, false);
    if (rc == 0)
        rc = attr_strings(&c, s->targets, where, "field_units", target_units, TARGET_FIELDS, false);
    if (rc == 0)
        rc = attr_strings(&c, s->targets, where, "field_definitions", def_ptrs, TARGET_FIELDS,
                          false);
    int64_t quadrant = q, rows_per_slice = (int64_t)b->rows_per_slice;
    if (rc == 0)
        rc = attr_i64(&c, s->targets, where, "quadrant", &quadrant, 0);
    if (rc == 0)
        rc = attr_i64(&c, s->targets, where, "rows_per_slice", &rows_per_slice, 0);
    return rc;
}

size_t mtp_bundle_rows_per_slice(const mtp_bundle *b)
{
    return b == NULL || b->task->kind != MTP_TASK_FEATURES ? 0 : b->rows_per_slice;
}

/* One row against the task and split; NULL if fine, else the reason. */
static const char *check_row(const mtp_bundle *b, int split, size_t r, const mtp_feature_row *row,
                             char *why, size_t why_len)
{
    const mtp_config *cfg = b->cfg;
    const split_state *s = &b->splits[split];
    size_t rps = b->rows_per_slice;
    if (row->quadrant < 0 || (size_t)row->quadrant >= rps) {
        snprintf(why, why_len, "quadrant %" PRId32 " is not in 0..%zu", row->quadrant, rps - 1);
        return why;
    }
    if (row->slice_index < 0 || (uint64_t)row->slice_index >= s->n) {
        snprintf(why, why_len, "slice_index %" PRId64 " is not in 0..%zu", row->slice_index,
                 s->n - 1);
        return why;
    }
    if ((size_t)row->slice_index * rps + (size_t)row->quadrant != r) {
        snprintf(why, why_len, "quadrant %" PRId32 " of slice %" PRId64 " belongs in row %zu",
                 row->quadrant, row->slice_index,
                 (size_t)row->slice_index * rps + (size_t)row->quadrant);
        return why;
    }
    if (row->region < 0 || row->region >= cfg->nregions || b->task->excluded[row->region]) {
        snprintf(why, why_len, "region %" PRId32 " is not one of the task's regions", row->region);
        return why;
    }
    const mtp_range *z = &cfg->splits[split].z;
    if (row->z < z->start || row->z >= z->stop) {
        snprintf(why, why_len, "z %" PRId64 " is outside the split's z [%" PRId64 ", %" PRId64 ")",
                 row->z, z->start, z->stop);
        return why;
    }
    if (!(row->vessel_pct >= 0 && row->vessel_pct <= 100) ||
        !(row->axon_pct >= 0 && row->axon_pct <= 100))
        return "vessel_pct and axon_pct must be in [0, 100]";
    if (row->cell_count < 0)
        return "cell_count is negative";
    if (!(isfinite(row->mean_cell_area) && row->mean_cell_area >= 0) ||
        !(isfinite(row->mean_nn_distance) && row->mean_nn_distance >= 0))
        return "mean_cell_area and mean_nn_distance must be finite and >= 0";
    return NULL;
}

int mtp_bundle_write_targets(mtp_bundle *b, int split, size_t first_row,
                             const mtp_feature_row *rows, size_t nrows, mtp_error *err)
{
    if (b == NULL || (rows == NULL && nrows > 0))
        return mtp_error_set(err, MTP_EINVAL, "bundle: NULL handle or rows");
    if (b->task->kind != MTP_TASK_FEATURES)
        return mtp_error_set(err, MTP_EINVAL, "%s: task %s has no targets (kind is not features)",
                             b->f.out.path, b->task->name);
    if (split < 0 || split >= b->cfg->nsplits || !b->splits[split].declared)
        return mtp_error_set(err, MTP_EINVAL, "%s: split index %d was not declared", b->f.out.path,
                             split);
    split_state *s = &b->splits[split];
    const char *name = b->cfg->splits[split].name;
    if (first_row > s->nrows || nrows > s->nrows - first_row)
        return mtp_error_set(err, MTP_EINVAL,
                             "%s: /%s/targets rows %zu..%zu: the split has %zu rows", b->f.out.path,
                             name, first_row, first_row + nrows - 1, s->nrows);
    char why[256];
    for (size_t k = 0; k < nrows; k++) {
        const char *bad = check_row(b, split, first_row + k, &rows[k], why, sizeof why);
        if (bad != NULL)
            return mtp_error_set(err, MTP_EINVAL, "%s: /%s/targets row %zu: %s", b->f.out.path,
                                 name, first_row + k, bad);
    }
    if (nrows > 0) {
        memcpy(&s->rows[first_row], rows, nrows * sizeof *rows);
        memset(&s->row_written[first_row], 1, nrows);
    }
    return 0;
}

/* Finish: every row written and agreeing with its sample; then the dataset. */
static int split_targets(mtp_bundle *b, split_state *s, const char *name, mtp_error *err)
{
    for (size_t r = 0; r < s->nrows; r++) {
        if (!s->row_written[r])
            return mtp_error_set(err, MTP_EINVAL, "%s: /%s/targets row %zu was never written",
                                 b->f.out.path, name, r);
        const mtp_feature_row *row = &s->rows[r];
        size_t i = (size_t)row->slice_index;
        if (row->region != s->region_of[i] || row->z != s->origins[3 * i])
            return mtp_error_set(err, MTP_EINVAL,
                                 "%s: /%s/targets row %zu: region %s, z %" PRId64
                                 " differ from sample %zu's (region %s, z %" PRId64 ")",
                                 b->f.out.path, name, r, b->cfg->regions[row->region].name, row->z,
                                 i, b->cfg->regions[s->region_of[i]].name, s->origins[3 * i]);
    }
    if (H5Dwrite(s->targets, b->target_mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->rows) < 0)
        return h5_fail(err, b->f.out.path, "write /%s/targets", name);
    return 0;
}

static int split_datasets(mtp_bundle *b, split_state *s, const char *name, mtp_error *err)
{
    h5ctx c = {b->f.out.path, err};
    const mtp_task *t = b->task;
    int rank = b->depth == 1 ? 3 : 4;
    hsize_t dims[4] = {s->n, (hsize_t)b->depth, b->height, b->width};
    if (rank == 3) {
        dims[1] = b->height;
        dims[2] = b->width;
    }
    const char *axes = rank == 3 ? "sample,y,x" : "sample,z,y,x";
    char where[MTP_NAME_MAX + 16];

    snprintf(where, sizeof where, "/%s/images", name);
    s->images = create_slices(&c, s->group, "images", where, rank, dims, &b->cfg->output);
    if (s->images < 0)
        return MTP_EFORMAT;
    int rc = dataset_labels(&c, s->images, where,
                            rank == 3 ? "image tiles, one slice per sample"
                                      : "image windows of consecutive slices, one per sample",
                            axes, "intensity (uint8)");
    if (rc < 0)
        return rc;

    if (t->kind == MTP_TASK_SEGMENTATION) {
        snprintf(where, sizeof where, "/%s/masks", name);
        s->masks = create_slices(&c, s->group, "masks", where, rank, dims, &b->cfg->output);
        if (s->masks < 0)
            return MTP_EFORMAT;
        rc = dataset_labels(&c, s->masks, where,
                            "segmentation masks: the class index of every voxel of the "
                            "matching image (names in the classes attribute)",
                            axes, "class index");
        const char *classes[MTP_MAX_CLASSES];
        for (int i = 0; i < t->nclasses; i++)
            classes[i] = t->classes[i];
        if (rc == 0)
            rc = attr_strings(&c, s->masks, where, "classes", classes, (size_t)t->nclasses, false);
        if (rc < 0)
            return rc;
    } else if (t->kind == MTP_TASK_CLASSIFICATION) {
        snprintf(where, sizeof where, "/%s/labels", name);
        s->labels = create_small(&c, s->group, "labels", where, b->label_type, 1, dims);
        if (s->labels < 0)
            return MTP_EFORMAT;
        rc = dataset_labels(&c, s->labels, where,
                            "reference class of each sample (enum: class name -> index)", "sample",
                            NULL);
        if (rc < 0)
            return rc;
    }

    snprintf(where, sizeof where, "/%s/region", name);
    s->region = create_small(&c, s->group, "region", where, b->region_type, 1, dims);
    if (s->region < 0)
        return MTP_EFORMAT;
    rc = dataset_labels(&c, s->region, where,
                        "region each sample came from (enum: region name -> row of /regions)",
                        "sample", NULL);
    if (rc < 0)
        return rc;

    snprintf(where, sizeof where, "/%s/origin", name);
    hsize_t odims[2] = {s->n, 3};
    s->origin = create_small(&c, s->group, "origin", where, H5T_STD_I64LE, 2, odims);
    if (s->origin < 0)
        return MTP_EFORMAT;
    rc = dataset_labels(&c, s->origin, where,
                        "absolute (z, y, x) voxel coordinates of each sample's first voxel",
                        "sample,coordinate", "voxel");
    const char *zyx[3] = {"z", "y", "x"};
    if (rc == 0)
        rc = attr_strings(&c, s->origin, where, "coordinates", zyx, 3, false);
    if (rc == 0 && t->kind == MTP_TASK_FEATURES)
        rc = create_targets(b, s, name, err);
    return rc;
}

int mtp_bundle_add_split(mtp_bundle *b, int split, size_t n, mtp_error *err)
{
    if (b == NULL)
        return mtp_error_set(err, MTP_EINVAL, "bundle: NULL handle");
    const mtp_config *cfg = b->cfg;
    if (split < 0 || split >= cfg->nsplits || !task_has_split(b->task, split))
        return mtp_error_set(err, MTP_EINVAL,
                             "%s: split index %d is not one of task %s's "
                             "splits",
                             b->f.out.path, split, b->task->name);
    split_state *s = &b->splits[split];
    const char *name = cfg->splits[split].name;
    if (s->declared)
        return mtp_error_set(err, MTP_EINVAL, "%s: split %s declared twice", b->f.out.path, name);
    if (n > MTP_BUNDLE_MAX_SAMPLES)
        return mtp_error_set(err, MTP_ERANGE, "%s: split %s: %zu samples (at most %u)",
                             b->f.out.path, name, n, MTP_BUNDLE_MAX_SAMPLES);
    size_t nrows = n * b->rows_per_slice; /* both capped: no overflow */
    if (nrows > MTP_BUNDLE_MAX_TARGET_ROWS)
        return mtp_error_set(err, MTP_ERANGE, "%s: split %s: %zu target rows (at most %u)",
                             b->f.out.path, name, nrows, MTP_BUNDLE_MAX_TARGET_ROWS);
    s->declared = true;
    s->n = n;
    s->nrows = nrows;
    if (n == 0)
        return 0;
    s->written = calloc(n, 1);
    s->label = calloc(n, 1);
    s->region_of = calloc(n, 1);
    s->origins = calloc(n, 3 * sizeof *s->origins);
    if (s->written == NULL || s->label == NULL || s->region_of == NULL || s->origins == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "%s: split %s: out of memory", b->f.out.path, name);
    if (nrows > 0) {
        s->rows = calloc(nrows, sizeof *s->rows);
        s->row_written = calloc(nrows, 1);
        if (s->rows == NULL || s->row_written == NULL)
            return mtp_error_set(err, MTP_ENOMEM, "%s: split %s: out of memory", b->f.out.path,
                                 name);
    }

    h5ctx c = {b->f.out.path, err};
    hid_t gcpl = creation_plist(H5P_GROUP_CREATE);
    if (gcpl >= 0)
        s->group = H5Gcreate2(b->root, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    mtp_h5_close(&gcpl);
    if (s->group < 0)
        return h5_fail(err, b->f.out.path, "create /%s", name);
    char where[MTP_NAME_MAX + 2];
    snprintf(where, sizeof where, "/%s", name);
    int64_t count = (int64_t)n;
    int64_t z_range[2] = {cfg->splits[split].z.start, cfg->splits[split].z.stop};
    int rc = attr_i64(&c, s->group, where, "count", &count, 0);
    if (rc == 0)
        rc = attr_i64(&c, s->group, where, "z_range", z_range, 2);
    if (rc == 0)
        rc = split_datasets(b, s, name, err);
    return rc;
}

static int check_sample(const mtp_bundle *b, int split, size_t i, const mtp_bundle_sample *smp,
                        mtp_error *err)
{
    const mtp_config *cfg = b->cfg;
    const mtp_task *t = b->task;
    const char *path = b->f.out.path;
    if (split < 0 || split >= cfg->nsplits || !b->splits[split].declared)
        return mtp_error_set(err, MTP_EINVAL, "%s: split index %d was not declared", path, split);
    const split_state *s = &b->splits[split];
    const char *name = cfg->splits[split].name;
    if (i >= s->n)
        return mtp_error_set(err, MTP_EINVAL, "%s: /%s sample %zu: the split has %zu samples", path,
                             name, i, s->n);
    if (smp == NULL || smp->image == NULL)
        return mtp_error_set(err, MTP_EINVAL, "%s: /%s sample %zu: no image", path, name, i);
    if ((t->kind == MTP_TASK_SEGMENTATION) != (smp->mask != NULL))
        return mtp_error_set(err, MTP_EINVAL,
                             "%s: /%s sample %zu: a mask is required for "
                             "segmentation tasks and only for them",
                             path, name, i);
    if (t->kind == MTP_TASK_CLASSIFICATION && (smp->label < 0 || smp->label >= t->nclasses))
        return mtp_error_set(err, MTP_EINVAL, "%s: /%s sample %zu: label %d is not in 0..%d", path,
                             name, i, smp->label, t->nclasses - 1);
    if (smp->region < 0 || smp->region >= cfg->nregions || t->excluded[smp->region])
        return mtp_error_set(err, MTP_EINVAL,
                             "%s: /%s sample %zu: region %d is not one of "
                             "the task's regions",
                             path, name, i, smp->region);
    const mtp_region *reg = &cfg->regions[smp->region];
    const mtp_range *z = &cfg->splits[split].z;
    if (smp->origin[1] != reg->y.start || smp->origin[2] != reg->x.start ||
        smp->origin[0] < z->start || smp->origin[0] > z->stop - b->depth)
        return mtp_error_set(err, MTP_EINVAL,
                             "%s: /%s sample %zu: origin (%" PRId64 ", %" PRId64 ", %" PRId64
                             ") is outside region "
                             "%s over z [%" PRId64 ", %" PRId64 ")",
                             path, name, i, smp->origin[0], smp->origin[1], smp->origin[2],
                             reg->name, z->start, z->stop);
    return 0;
}

/* Count the sample's mask voxels per value into hist; every value must be a class. */
static int check_mask(const mtp_bundle *b, int split, size_t i, const uint8_t *mask,
                      uint64_t hist[256], mtp_error *err)
{
    size_t bytes = (size_t)b->depth * (size_t)(b->height * b->width);
    /* Four interleaved histograms: consecutive equal values (runs of background) would
     * otherwise serialise on one counter. */
    uint64_t part[4][256];
    memset(part, 0, sizeof part);
    size_t k = 0;
    for (; k + 4 <= bytes; k += 4) {
        part[0][mask[k]]++;
        part[1][mask[k + 1]]++;
        part[2][mask[k + 2]]++;
        part[3][mask[k + 3]]++;
    }
    for (; k < bytes; k++)
        part[0][mask[k]]++;
    for (int v = 0; v < 256; v++)
        hist[v] += part[0][v] + part[1][v] + part[2][v] + part[3][v];
    for (int v = b->task->nclasses; v < 256; v++)
        if (hist[v] != 0)
            return mtp_error_set(err, MTP_EINVAL,
                                 "%s: /%s sample %zu: mask value %d is not in 0..%d", b->f.out.path,
                                 b->cfg->splits[split].name, i, v, b->task->nclasses - 1);
    return 0;
}

/* Sample i is about to be replaced: take its old mask, read back from the file, out of the
 * split's histogram. Rewrites are rare, so keeping no per-sample histograms is the better
 * trade (a split may hold 2^24 samples). */
static int forget_mask(mtp_bundle *b, int split, size_t i, mtp_error *err)
{
    split_state *s = &b->splits[split];
    int rank = b->depth == 1 ? 3 : 4;
    size_t slice = (size_t)(b->height * b->width);
    uint8_t *old = malloc(slice);
    if (old == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "%s: out of memory", b->f.out.path);
    int rc = 0;
    for (int d = 0; d < b->depth && rc == 0; d++) {
        hsize_t index[2] = {i, (hsize_t)d};
        if (mtp_h5_read_slice(s->masks, b->memspace, rank, index[0], index[1], b->height, b->width,
                              old) < 0) {
            rc = h5_fail(err, b->f.out.path, "read back /%s/masks sample %zu",
                         b->cfg->splits[split].name, i);
            break;
        }
        for (size_t k = 0; k < slice; k++)
            s->mask_hist[old[k]]--;
    }
    free(old);
    return rc;
}

/* The chunks a caller gave for `depth` slices of `raw`, each checked; "what" names them. */
static int check_chunks(const char *path, const char *split, size_t i, const char *what,
                        const mtp_chunk *chunks, const uint8_t *raw, int depth, size_t slice,
                        int level, mtp_error *err)
{
    char why[160];
    for (int d = 0; d < depth; d++) {
        const char *bad =
            check_chunk(&chunks[d], raw + (size_t)d * slice, slice, level, why, sizeof why);
        if (bad != NULL)
            return mtp_error_set(err, MTP_EINVAL, "%s: /%s sample %zu: %s chunk %d: %s", path,
                                 split, i, what, d, bad);
    }
    return 0;
}

int mtp_bundle_write_sample(mtp_bundle *b, int split, size_t i, const mtp_bundle_sample *smp,
                            mtp_error *err)
{
    return mtp_bundle_write_sample_chunks(b, split, i, smp, NULL, NULL, err);
}

int mtp_bundle_write_sample_chunks(mtp_bundle *b, int split, size_t i, const mtp_bundle_sample *smp,
                                   const mtp_chunk *image_chunks, const mtp_chunk *mask_chunks,
                                   mtp_error *err)
{
    if (b == NULL)
        return mtp_error_set(err, MTP_EINVAL, "bundle: NULL handle");
    int rc = check_sample(b, split, i, smp, err);
    if (rc < 0)
        return rc;
    const char *split_name = b->cfg->splits[split].name;
    if (smp->mask == NULL && mask_chunks != NULL)
        return mtp_error_set(err, MTP_EINVAL, "%s: /%s sample %zu: mask chunks without a mask",
                             b->f.out.path, split_name, i);
    /* Precompressed chunks are bytes for the deflate filter: with "none" the raw slices go. */
    if (b->cfg->output.compression != MTP_COMPRESS_GZIP) {
        image_chunks = NULL;
        mask_chunks = NULL;
    }
    size_t slice_bytes = (size_t)(b->height * b->width);
    if (image_chunks != NULL)
        rc = check_chunks(b->f.out.path, split_name, i, "image", image_chunks, smp->image, b->depth,
                          slice_bytes, b->cfg->output.level, err);
    if (rc == 0 && mask_chunks != NULL)
        rc = check_chunks(b->f.out.path, split_name, i, "mask", mask_chunks, smp->mask, b->depth,
                          slice_bytes, b->cfg->output.level, err);
    if (rc < 0)
        return rc;
    split_state *s = &b->splits[split];
    const char *name = b->cfg->splits[split].name;
    int rank = b->depth == 1 ? 3 : 4;
    size_t slice = (size_t)(b->height * b->width);
    uint64_t hist[256] = {0};
    if (smp->mask != NULL) {
        rc = check_mask(b, split, i, smp->mask, hist, err);
        if (rc == 0 && s->written[i])
            rc = forget_mask(b, split, i, err);
        if (rc < 0)
            return rc;
    }
    for (int d = 0; d < b->depth; d++) {
        hsize_t index[2] = {i, (hsize_t)d};
        size_t off = (size_t)d * slice;
        if (write_slice(s->images, rank, index, b->height, b->width, b->memspace, smp->image + off,
                        image_chunks != NULL ? &image_chunks[d] : NULL) < 0)
            return h5_fail(err, b->f.out.path, "write /%s/images sample %zu", name, i);
        if (smp->mask != NULL &&
            write_slice(s->masks, rank, index, b->height, b->width, b->memspace, smp->mask + off,
                        mask_chunks != NULL ? &mask_chunks[d] : NULL) < 0)
            return h5_fail(err, b->f.out.path, "write /%s/masks sample %zu", name, i);
    }
    for (int v = 0; v < 256; v++)
        s->mask_hist[v] += hist[v];
    s->label[i] = b->task->kind == MTP_TASK_CLASSIFICATION ? (uint8_t)smp->label : 0;
    s->region_of[i] = (uint8_t)smp->region;
    memcpy(&s->origins[3 * i], smp->origin, sizeof smp->origin);
    s->written[i] = 1;
    return 0;
}

int mtp_bundle_split_attr(mtp_bundle *b, int split, const char *name, int64_t value,
                          const char *description, mtp_error *err)
{
    if (b == NULL || name == NULL || name[0] == '\0')
        return mtp_error_set(err, MTP_EINVAL, "bundle: NULL handle or empty attribute name");
    if (split < 0 || split >= b->cfg->nsplits || !b->splits[split].declared)
        return mtp_error_set(err, MTP_EINVAL, "%s: split index %d was not declared", b->f.out.path,
                             split);
    split_state *s = &b->splits[split];
    if (s->n == 0)
        return 0;
    h5ctx c = {b->f.out.path, err};
    char where[MTP_NAME_MAX + 2];
    snprintf(where, sizeof where, "/%s", b->cfg->splits[split].name);
    int rc = attr_i64(&c, s->group, where, name, &value, 0);
    if (rc == 0 && description != NULL) {
        char desc_name[256];
        int len = snprintf(desc_name, sizeof desc_name, "%s_description", name);
        if (len < 0 || (size_t)len >= sizeof desc_name)
            return mtp_error_set(err, MTP_ERANGE, "%s: attribute name too long", b->f.out.path);
        rc = attr_str(&c, s->group, where, desc_name, description);
    }
    return rc;
}

/* class_counts and region_counts (with descriptions) on the group of a written split. */
static int split_balance(mtp_bundle *b, split_state *s, const char *name, mtp_error *err)
{
    const mtp_config *cfg = b->cfg;
    const mtp_task *t = b->task;
    int64_t classes[MTP_MAX_CLASSES] = {0}, regions[MTP_MAX_REGIONS] = {0};
    for (size_t i = 0; i < s->n; i++) {
        if (t->kind == MTP_TASK_CLASSIFICATION)
            classes[s->label[i]]++;
        regions[s->region_of[i]]++;
    }
    if (t->kind == MTP_TASK_SEGMENTATION)
        for (int c = 0; c < t->nclasses; c++)
            classes[c] = (int64_t)s->mask_hist[c];
    h5ctx c = {b->f.out.path, err};
    char where[MTP_NAME_MAX + 2];
    snprintf(where, sizeof where, "/%s", name);
    int rc = 0;
    /* Features files carry no masks, so there is nothing to count per class. */
    if (t->kind != MTP_TASK_FEATURES)
        rc = attr_i64(&c, s->group, where, "class_counts", classes, (size_t)t->nclasses);
    if (rc == 0 && t->kind != MTP_TASK_FEATURES)
        rc = attr_str(&c, s->group, where, "class_counts_description",
                      t->kind == MTP_TASK_CLASSIFICATION
                          ? "samples per class, in the order of the classes attribute"
                          : "mask voxels per class, in the order of the classes attribute");
    if (rc == 0)
        rc = attr_i64(&c, s->group, where, "region_counts", regions, (size_t)cfg->nregions);
    if (rc == 0)
        rc = attr_str(&c, s->group, where, "region_counts_description",
                      "samples per region, in the order of /regions");
    return rc;
}

/* Write the per-sample arrays kept in memory: labels, region, origin. */
static int split_tables(mtp_bundle *b, split_state *s, const char *name, mtp_error *err)
{
    if (s->labels >= 0 &&
        H5Dwrite(s->labels, b->label_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->label) < 0)
        return h5_fail(err, b->f.out.path, "write /%s/labels", name);
    if (H5Dwrite(s->region, b->region_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->region_of) < 0)
        return h5_fail(err, b->f.out.path, "write /%s/region", name);
    if (H5Dwrite(s->origin, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->origins) < 0)
        return h5_fail(err, b->f.out.path, "write /%s/origin", name);
    if (s->targets >= 0)
        return split_targets(b, s, name, err);
    return 0;
}

int mtp_bundle_finish(mtp_bundle *b, mtp_error *err)
{
    if (b == NULL)
        return mtp_error_set(err, MTP_EINVAL, "bundle: NULL handle");
    int rc = 0;
    const mtp_config *cfg = b->cfg;
    const mtp_task *t = b->task;
    const char *split_names[MTP_MAX_SPLITS];
    int64_t counts[MTP_MAX_SPLITS];
    size_t nwritten = 0;
    for (int k = 0; k < t->nsplits; k++) {
        int si = t->splits[k];
        split_state *s = &b->splits[si];
        const char *name = cfg->splits[si].name;
        if (!s->declared) {
            rc = mtp_error_set(err, MTP_EINVAL, "%s: split %s was never declared", b->f.out.path,
                               name);
            goto out;
        }
        for (size_t i = 0; i < s->n; i++) {
            if (!s->written[i]) {
                rc = mtp_error_set(err, MTP_EINVAL, "%s: /%s sample %zu was never written",
                                   b->f.out.path, name, i);
                goto out;
            }
        }
        if (s->n == 0)
            continue;
        rc = split_tables(b, s, name, err);
        if (rc == 0)
            rc = split_balance(b, s, name, err);
        if (rc < 0)
            goto out;
        split_names[nwritten] = name;
        counts[nwritten] = (int64_t)s->n;
        nwritten++;
    }
    h5ctx c = {b->f.out.path, err};
    rc = attr_strings(&c, b->root, "/", "splits", split_names, nwritten, false);
    if (rc == 0)
        rc = attr_i64(&c, b->root, "/", "counts", counts, nwritten);
    if (rc < 0)
        goto out;
    bundle_release(b);
    rc = h5file_finish(&b->f, err);
    free(b);
    return rc;
out:
    mtp_bundle_abort(b);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * volumes.h5
 */

struct mtp_volumes {
    h5file f;
    const mtp_config *cfg;
    int64_t nz;
    uint8_t written[MTP_MAX_REGIONS][MTP_MAX_CHANNELS];
};

void mtp_volumes_abort(mtp_volumes *v)
{
    if (v == NULL)
        return;
    h5file_abort(&v->f);
    free(v);
}

static int volume_dataset(mtp_volumes *v, hid_t group, int r, int ch, const mtp_bundle_meta *meta,
                          mtp_error *err)
{
    const mtp_config *cfg = v->cfg;
    const mtp_region *reg = &cfg->regions[r];
    const mtp_channel *chan = &cfg->channels[ch];
    h5ctx c = {v->f.out.path, err};
    char where[2 * MTP_NAME_MAX + 4];
    snprintf(where, sizeof where, "/%s/%s", reg->name, chan->name);
    hsize_t dims[3] = {(hsize_t)v->nz, (hsize_t)(reg->y.stop - reg->y.start),
                       (hsize_t)(reg->x.stop - reg->x.start)};
    hid_t dset = create_slices(&c, group, chan->name, where, 3, dims, &cfg->output);
    if (dset < 0)
        return MTP_EFORMAT;
    char description[MTP_TEXT_MAX + 2 * MTP_NAME_MAX + 64];
    snprintf(description, sizeof description,
             "channel %s of region %s over z [%" PRId64 ", %" PRId64 ")", chan->name, reg->name,
             cfg->z.start, cfg->z.stop);
    bool image = mtp_config_channel_is_image(cfg, ch);
    int rc = attr_str(&c, dset, where, "description", description);
    if (rc == 0)
        rc = attr_str(&c, dset, where, "axes", "z,y,x");
    if (rc == 0)
        rc = attr_str(&c, dset, where, "unit", image ? "intensity (uint8)" : "label code");
    int64_t origin[3] = {cfg->z.start, reg->y.start, reg->x.start};
    if (rc == 0)
        rc = attr_i64(&c, dset, where, "origin", origin, 3);
    if (rc == 0)
        rc = attr_f64(&c, dset, where, "voxel_size", meta->voxel_size, 3);
    if (rc == 0)
        rc = attr_str(&c, dset, where, "voxel_unit", meta->voxel_unit);
    if (rc == 0)
        rc = attr_str(&c, dset, where, "source", chan->uri);
    const char *labels[3] = {"z", "y", "x"};
    for (unsigned d = 0; rc == 0 && d < 3; d++)
        if (H5DSset_label(dset, d, labels[d]) < 0)
            rc = h5_fail(err, v->f.out.path, "label dimension %u of %s", d, where);
    if (H5Dclose(dset) < 0 && rc == 0)
        rc = h5_fail(err, v->f.out.path, "close %s", where);
    return rc;
}

static int volumes_layout(mtp_volumes *v, const mtp_bundle_meta *meta, mtp_error *err)
{
    const mtp_config *cfg = v->cfg;
    h5ctx c = {v->f.out.path, err};
    hid_t root = H5Gopen2(v->f.file, "/", H5P_DEFAULT);
    hid_t gcpl = creation_plist(H5P_GROUP_CREATE);
    hid_t group = H5I_INVALID_HID;
    int rc = 0;
    if (root < 0 || gcpl < 0) {
        rc = h5_fail(err, v->f.out.path, "open /");
        goto out;
    }
    int channels[MTP_MAX_CHANNELS];
    for (int ch = 0; ch < cfg->nchannels; ch++) {
        channels[ch] = ch;
        if (!link_name_ok(cfg->channels[ch].name)) {
            rc = mtp_error_set(err, MTP_EINVAL,
                               "%s: channel name '%s' cannot be an HDF5 "
                               "dataset name",
                               v->f.out.path, cfg->channels[ch].name);
            goto out;
        }
    }
    rc = attr_str(&c, root, "/", "format", MTP_VOLUMES_FORMAT);
    if (rc == 0)
        rc = attr_i32(&c, root, "/", "format_version", MTP_VOLUMES_FORMAT_VERSION);
    if (rc == 0)
        rc = release_attrs(&c, root, cfg);
    if (rc == 0)
        rc = provenance_attrs(&c, root, cfg, meta, channels, cfg->nchannels, "z,y,x");
    if (rc == 0)
        rc = regions_table(&c, root, cfg);
    for (int r = 0; rc == 0 && r < cfg->nregions; r++) {
        group = H5Gcreate2(root, cfg->regions[r].name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
        if (group < 0) {
            rc = h5_fail(err, v->f.out.path, "create /%s", cfg->regions[r].name);
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
    int rc = check_meta(meta, err);
    if (rc == 0)
        rc = check_output(cfg, err);
    if (rc == 0)
        rc = check_regions(cfg, err);
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
    rc = h5file_create(&v->f, path, err);
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
        const char *bad = check_chunk(&chunks[z], cube + (size_t)z * h * w, (size_t)(h * w),
                                      cfg->output.level, why, sizeof why);
        if (bad != NULL)
            return mtp_error_set(err, MTP_EINVAL, "%s: %s chunk %" PRId64 ": %s", v->f.out.path,
                                 where, z, bad);
    }
    int rc = 0;
    hid_t memspace = H5Screate_simple(3, one_chunk, NULL);
    hid_t dapl = slice_access_plist();
    hid_t dset = dapl < 0 ? H5I_INVALID_HID : H5Dopen2(v->f.file, where, dapl);
    if (memspace < 0 || dset < 0) {
        rc = h5_fail(err, v->f.out.path, "open %s", where);
        goto out;
    }
    for (int64_t z = 0; z < v->nz; z++) {
        hsize_t index[1] = {(hsize_t)z};
        if (write_slice(dset, 3, index, h, w, memspace, cube + (size_t)z * h * w,
                        chunks != NULL ? &chunks[z] : NULL) < 0) {
            rc = h5_fail(err, v->f.out.path, "write %s slice %" PRId64, where, z);
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

int mtp_bundle_fd(const mtp_bundle *b)
{
    return b == NULL ? -1 : h5file_fd(&b->f);
}

int mtp_volumes_fd(const mtp_volumes *v)
{
    return v == NULL ? -1 : h5file_fd(&v->f);
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
    int rc = h5file_finish(&v->f, err);
    free(v);
    return rc;
}
