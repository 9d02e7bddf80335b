/*
 * h5write.c — what the HDF5 writers (h5bundle.c: task bundles, h5volumes.c: volumes.h5) share:
 * the file lifecycle (an mtp_atomic_file temporary, finished by close + fsync + rename) and
 * the writing primitives. The formats are specified in src/FORMAT.md §1-2.
 *
 * Everything that could make two builds differ is pinned here: object timestamps are off
 * on every creation property list (the file creation list too, which covers the root
 * group), the library-version bounds are fixed, so is the metadata cache (its evictions
 * decide where some metadata lands), attributes and links are written in a fixed order,
 * nothing reads the clock, and every byte handed to HDF5 (fixed strings, compound rows)
 * comes from zeroed memory.
 *
 * Image and mask bytes reach the file one chunk (one slice) at a time through
 * mtp_h5w_write_slice(): chunks made by chunks.c (libdeflate; the caller's, compressed once
 * for every file, or made there) written with H5Dwrite_chunk() (DESIGN §9); HDF5's deflate
 * filter only decodes them. The slice datasets are opened with HDF5's chunk cache off, so a
 * chunk's file space is allocated at the call, in call order. The task 3 targets (a small
 * compound dataset) are the one chunked dataset HDF5's own filter (zlib) compresses.
 */
#include "h5write.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>
#include <hdf5_hl.h>
#include <zlib.h>

/* ---------------------------------------------------------------------------------------
 * Errors
 */

/* Record the HDF5 failure that just happened as "<path>: <what>: <innermost message>". */
int mtp_h5w_fail(mtp_error *err, const char *path, const char *fmt, ...)
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
bool mtp_h5w_link_name_ok(const char *name)
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
        if (!mtp_h5w_link_name_ok(reg->name) || strcmp(reg->name, "regions") == 0)
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

int mtp_h5w_check_inputs(const mtp_bundle_meta *meta, const mtp_config *cfg, mtp_error *err)
{
    int rc = check_meta(meta, err);
    if (rc == 0)
        rc = check_output(cfg, err);
    if (rc == 0)
        rc = check_regions(cfg, err);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Property lists and attributes
 */

/* Creation properties shared by groups, datasets and the file: no timestamps, and links
 * and attributes kept (and listed by h5py) in the order they were written. */
hid_t mtp_h5w_creation_plist(hid_t cls)
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
static int attr_write(mtp_h5ctx *c, hid_t obj, const char *where, const char *name, hid_t type,
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
    err = mtp_h5w_fail(c->err, c->path, "write attribute %s of %s", name, where);
out:
    mtp_h5_close(&attr);
    mtp_h5_close(&space);
    return err;
}

int mtp_h5w_attr_strings(mtp_h5ctx *c, hid_t obj, const char *where, const char *name,
                         const char *const *values, size_t n, bool scalar)
{
    hid_t type = vlen_string_type();
    if (type < 0)
        return mtp_h5w_fail(c->err, c->path, "string type for attribute %s", name);
    int err = attr_write(c, obj, where, name, type, type, scalar ? 0 : n, values);
    H5Tclose(type);
    return err;
}

int mtp_h5w_attr_str(mtp_h5ctx *c, hid_t obj, const char *where, const char *name, const char *v)
{
    const char *values[1] = {v};
    return mtp_h5w_attr_strings(c, obj, where, name, values, 1, true);
}

int mtp_h5w_attr_i64(mtp_h5ctx *c, hid_t obj, const char *where, const char *name, const int64_t *v,
                     size_t n)
{
    /* Stored little-endian whatever the host; HDF5 converts from the native layout. */
    return attr_write(c, obj, where, name, H5T_STD_I64LE, H5T_NATIVE_INT64, n, v);
}

int mtp_h5w_attr_i32(mtp_h5ctx *c, hid_t obj, const char *where, const char *name, int v)
{
    int32_t value = v;
    return attr_write(c, obj, where, name, H5T_STD_I32LE, H5T_NATIVE_INT32, 0, &value);
}

int mtp_h5w_attr_f64(mtp_h5ctx *c, hid_t obj, const char *where, const char *name, const double *v,
                     size_t n)
{
    return attr_write(c, obj, where, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, n, v);
}

/* The common tail of a dataset's description: description, axes, unit, H5DS labels. */
int mtp_h5w_dataset_labels(mtp_h5ctx *c, hid_t dset, const char *where, const char *description,
                           const char *axes, const char *unit)
{
    int err = mtp_h5w_attr_str(c, dset, where, "description", description);
    if (err == 0)
        err = mtp_h5w_attr_str(c, dset, where, "axes", axes);
    if (err == 0 && unit != NULL)
        err = mtp_h5w_attr_str(c, dset, where, "unit", unit);
    if (err < 0)
        return err;
    /* Dimension labels are the comma-separated names of `axes`, one per dimension. */
    char names[256];
    snprintf(names, sizeof names, "%s", axes);
    unsigned idx = 0;
    char *save = NULL;
    for (char *tok = strtok_r(names, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (H5DSset_label(dset, idx, tok) < 0)
            return mtp_h5w_fail(c->err, c->path, "label dimension %u of %s", idx, where);
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

int mtp_h5file_create(mtp_h5file *f, const char *path, mtp_error *err)
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
    hid_t fcpl = mtp_h5w_creation_plist(H5P_FILE_CREATE);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fcpl < 0 || fapl < 0) {
        rc = mtp_h5w_fail(err, path, "file property lists");
        goto out;
    }
    /* Fixed bounds: every object is written in the 1.8 formats, which HDF5 >= 1.8, h5py
     * and HDFView all read; SEMI makes a forgotten open object an error at close. */
    if (H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0 ||
        H5Pset_fclose_degree(fapl, H5F_CLOSE_SEMI) < 0 || pin_metadata_cache(fapl) < 0) {
        rc = mtp_h5w_fail(err, path, "file access properties");
        goto out;
    }
    /* HDF5 writes the temporary by name; the atomic file's descriptor fsyncs it. */
    f->file = H5Fcreate(f->out.temp, H5F_ACC_TRUNC, fcpl, fapl);
    if (f->file < 0)
        rc = mtp_h5w_fail(err, path, "create %s", f->out.temp);
out:
    mtp_h5_close(&fcpl);
    mtp_h5_close(&fapl);
    if (rc < 0)
        mtp_atomic_abort(&f->out);
    return rc;
}

/* Close what is still open of the file (after a failure, so errors no longer matter) and
 * remove the temporary. */
void mtp_h5file_abort(mtp_h5file *f)
{
    if (f->file >= 0) {
        H5Fclose(f->file);
        H5Eclear2(H5E_DEFAULT);
        f->file = H5I_INVALID_HID;
    }
    mtp_atomic_abort(&f->out);
}

/* The descriptor of the temporary file (the same inode HDF5 writes), or -1. */
int mtp_h5file_fd(const mtp_h5file *f)
{
    return f->out.fd;
}

/* Close the file (all its objects must be closed), make it durable and give it its name.
 * On failure the temporary is removed. */
int mtp_h5file_finish(mtp_h5file *f, mtp_error *err)
{
    int rc = 0;
    if (H5Fflush(f->file, H5F_SCOPE_GLOBAL) < 0) {
        rc = mtp_h5w_fail(err, f->out.path, "flush");
        goto out;
    }
    herr_t closed = H5Fclose(f->file);
    f->file = H5I_INVALID_HID;
    if (closed < 0) {
        rc = mtp_h5w_fail(err, f->out.path, "close");
        goto out;
    }
    rc = mtp_atomic_commit(&f->out, err);
out:
    if (rc < 0)
        mtp_h5file_abort(f);
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
int mtp_h5w_release_attrs(mtp_h5ctx *c, hid_t root, const mtp_config *cfg)
{
    const mtp_release *rel = &cfg->release;
    int err = mtp_h5w_attr_str(c, root, "/", "title", rel->title);
    if (err == 0)
        err = mtp_h5w_attr_str(c, root, "/", "description", rel->description);
    if (err == 0)
        err = mtp_h5w_attr_str(c, root, "/", "license", rel->license);
    if (err < 0)
        return err;
    char *citation = joined_citations(rel);
    if (citation == NULL)
        return mtp_error_set(c->err, MTP_ENOMEM, "%s: out of memory", c->path);
    err = mtp_h5w_attr_str(c, root, "/", "citation", citation);
    free(citation);
    return err;
}

/* builder .. axes: the provenance and geometry attributes, for `nch` channels. */
int mtp_h5w_provenance_attrs(mtp_h5ctx *c, hid_t root, const mtp_config *cfg,
                             const mtp_bundle_meta *meta, const int *channels, int nch,
                             const char *axes)
{
    const char *names[MTP_MAX_CHANNELS], *uris[MTP_MAX_CHANNELS];
    for (int i = 0; i < nch; i++) {
        names[i] = cfg->channels[channels[i]].name;
        uris[i] = cfg->channels[channels[i]].uri;
    }
    char compressor[64];
    mtp_chunk_compressor(cfg->output.compression == MTP_COMPRESS_GZIP ? cfg->output.level : -1,
                         compressor, sizeof compressor);
    int err = mtp_h5w_attr_str(c, root, "/", "builder", meta->builder);
    if (err == 0)
        err = mtp_h5w_attr_str(c, root, "/", "compressor", compressor);
    if (err == 0)
        err = mtp_h5w_attr_str(c, root, "/", "config_sha256", cfg->sha256);
    if (err == 0)
        err = mtp_h5w_attr_str(c, root, "/", "source", cfg->source.url);
    if (err == 0)
        err = mtp_h5w_attr_strings(c, root, "/", "channel_names", names, (size_t)nch, false);
    if (err == 0)
        err = mtp_h5w_attr_strings(c, root, "/", "channels", uris, (size_t)nch, false);
    if (err == 0)
        err = mtp_h5w_attr_i32(c, root, "/", "resolution", cfg->source.resolution);
    if (err == 0)
        err = mtp_h5w_attr_f64(c, root, "/", "voxel_size", meta->voxel_size, 3);
    if (err == 0)
        err = mtp_h5w_attr_str(c, root, "/", "voxel_unit", meta->voxel_unit);
    if (err == 0)
        err = mtp_h5w_attr_str(c, root, "/", "axes", axes);
    return err;
}

typedef struct region_row {
    char name[MTP_NAME_MAX];
    int64_t x0, x1, y0, y1;
} region_row;

/* /regions: one compound row per config region. */
int mtp_h5w_regions_table(mtp_h5ctx *c, hid_t root, const mtp_config *cfg)
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
    dcpl = mtp_h5w_creation_plist(H5P_DATASET_CREATE);
    if (space < 0 || dcpl < 0)
        goto fail;
    dset = H5Dcreate2(root, "regions", disk, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dset < 0 || H5Dwrite(dset, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) < 0)
        goto fail;
    err = mtp_h5w_dataset_labels(c, dset, "/regions",
                                 "the regions samples come from: name and half-open voxel ranges "
                                 "[x0, x1), [y0, y1) at the release's resolution; the region "
                                 "datasets store row indices into this table",
                                 "region", "voxel");
    goto out;
fail:
    err = mtp_h5w_fail(c->err, c->path, "create /regions");
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
hid_t mtp_h5w_slice_access_plist(void)
{
    hid_t p = H5Pcreate(H5P_DATASET_ACCESS);
    if (p >= 0 && H5Pset_chunk_cache(p, 0, 0, 1.0) < 0) {
        H5Pclose(p);
        return H5I_INVALID_HID;
    }
    return p;
}

/* A uint8 dataset chunked one slice per chunk: dims (..., h, w), chunk (1, ..., 1, h, w). */
hid_t mtp_h5w_create_slices(mtp_h5ctx *c, hid_t loc, const char *name, const char *where, int rank,
                            const hsize_t *dims, const mtp_output *out)
{
    hid_t dset = H5I_INVALID_HID, space = H5I_INVALID_HID, dapl = H5I_INVALID_HID;
    hsize_t chunk[4];
    for (int i = 0; i < rank; i++)
        chunk[i] = i < rank - 2 ? 1 : dims[i];
    hid_t dcpl = mtp_h5w_creation_plist(H5P_DATASET_CREATE);
    if (dcpl < 0 || H5Pset_chunk(dcpl, rank, chunk) < 0)
        goto fail;
    /* uint8 has one byte per element, so shuffle would change nothing: deflate alone. */
    if (out->compression == MTP_COMPRESS_GZIP && H5Pset_deflate(dcpl, (unsigned)out->level) < 0)
        goto fail;
    space = H5Screate_simple(rank, dims, NULL);
    dapl = mtp_h5w_slice_access_plist();
    if (space < 0 || dapl < 0)
        goto fail;
    dset = H5Dcreate2(loc, name, H5T_STD_U8LE, space, H5P_DEFAULT, dcpl, dapl);
    if (dset < 0)
        goto fail;
    goto out;
fail:
    mtp_h5w_fail(c->err, c->path, "create %s", where);
out:
    mtp_h5_close(&dapl);
    mtp_h5_close(&space);
    mtp_h5_close(&dcpl);
    return dset;
}

/* A small contiguous dataset written once at the end (labels, region, origin). */
hid_t mtp_h5w_create_small(mtp_h5ctx *c, hid_t loc, const char *name, const char *where, hid_t type,
                           int rank, const hsize_t *dims)
{
    hid_t dset = H5I_INVALID_HID;
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = mtp_h5w_creation_plist(H5P_DATASET_CREATE);
    if (space >= 0 && dcpl >= 0)
        dset = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dset < 0)
        mtp_h5w_fail(c->err, c->path, "create %s", where);
    mtp_h5_close(&space);
    mtp_h5_close(&dcpl);
    return dset;
}

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
                           const mtp_output *out)
{
    hsize_t d = rank == 4 ? index[1] : 0;
    if (out->compression != MTP_COMPRESS_GZIP)
        return mtp_h5_write_slice(dset, memspace, rank, index[0], d, h, w, bytes);
    hsize_t start[4] = {index[0], d, 0, 0};
    if (chunk != NULL)
        return H5Dwrite_chunk(dset, H5P_DEFAULT, 0, start, chunk->size, chunk->data);
    mtp_chunk made = {NULL, 0, NULL};
    if (mtp_chunk_deflate_one(bytes, (size_t)(h * w), out->level, &made, NULL) < 0)
        return -1;
    herr_t st = H5Dwrite_chunk(dset, H5P_DEFAULT, 0, start, made.size, made.data);
    mtp_chunk_release(&made);
    return st;
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
const char *mtp_h5w_check_chunk(const mtp_chunk *chunk, const uint8_t *raw, size_t n, int level,
                                char *why, size_t why_len)
{
    if (chunk->data == NULL || chunk->size == 0)
        return "no bytes";
    size_t bound = mtp_chunk_bound(n, level);
    if (chunk->size < 7 || chunk->size > bound) {
        snprintf(why, why_len, "%zu bytes (a deflated slice of %zu bytes has 7..%zu)", chunk->size,
                 n, bound);
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

hid_t mtp_h5w_enum_type(const char *const *names, int n)
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
