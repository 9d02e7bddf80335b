#include "mtp/preview.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>
#include <png.h>

#include "mtp/fsutil.h"
#include "h5util.h"

/* ---- layout constants (the header documents the formula they make) ----------------------- */
enum {
    TEXT_SCALE = 2,
    GLYPH_W = 5,
    GLYPH_H = 7,
    TEXT_ADV = (GLYPH_W + 1) * TEXT_SCALE, /* 12 */
    TEXT_H = GLYPH_H * TEXT_SCALE,         /* 14 */
    PAD = 4,
    BAND = TEXT_H + 2 * PAD,    /* 22: title and region-name bands */
    LEGEND_LINE = TEXT_H + PAD, /* 18 */
    SWATCH = TEXT_H,
    SWATCH_GAP = 6,
    ENTRY_GAP = 12,
    BORDER = 6,
    DOWNSCALE_FROM = 128,
    LEGEND_MAX_CHARS = 24,
    ALPHA_PERCENT = 45,
};

static const uint8_t BACKGROUND[3] = {32, 32, 32};
static const uint8_t TEXT_COLOUR[3] = {240, 240, 240};

static const uint8_t PALETTE[][3] = {
    {255, 255, 255}, /* 0: white (a classification border only) */
    {255, 0, 0},     /* 1: red */
    {0, 255, 0},     /* 2: green */
    {0, 0, 255},     /* 3: blue */
    {255, 255, 0},   /* 4: yellow */
    {255, 0, 255},   /* 5: magenta */
    {0, 255, 255},   /* 6: cyan */
    {255, 128, 0},   /* 7: orange */
    {128, 0, 255},   /* 8: violet */
};
#define NPALETTE (sizeof PALETTE / sizeof PALETTE[0])

void mtp_preview_class_colour(unsigned cls, uint8_t rgb[3])
{
    size_t i = cls < NPALETTE ? cls : 1 + (cls - 1) % (NPALETTE - 1);
    memcpy(rgb, PALETTE[i], 3);
}

/* ---- a 5x7 font: rows top to bottom, bit 4 is the leftmost column ------------------------- */
static const char FONT_CHARS[] = " -_.=?0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
static const uint8_t FONT[][GLYPH_H] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* space */
    {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}, /* - */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}, /* _ */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}, /* . */
    {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}, /* = */
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}, /* ? */
    {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, /* 0 */
    {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}, /* 1 */
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, /* 2 */
    {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}, /* 3 */
    {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, /* 4 */
    {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}, /* 5 */
    {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, /* 6 */
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}, /* 7 */
    {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, /* 8 */
    {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}, /* 9 */
    {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}, /* A */
    {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}, /* B */
    {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}, /* C */
    {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}, /* D */
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}, /* E */
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}, /* F */
    {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}, /* G */
    {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}, /* H */
    {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, /* I */
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}, /* J */
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}, /* K */
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}, /* L */
    {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}, /* M */
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}, /* N */
    {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, /* O */
    {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}, /* P */
    {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}, /* Q */
    {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}, /* R */
    {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}, /* S */
    {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, /* T */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, /* U */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}, /* V */
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}, /* W */
    {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}, /* X */
    {0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04}, /* Y */
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}, /* Z */
};

static const uint8_t *glyph(char c)
{
    if (c >= 'a' && c <= 'z')
        c = (char)(c - 'a' + 'A');
    const char *at = c != '\0' ? strchr(FONT_CHARS, c) : NULL;
    if (at == NULL)
        at = strchr(FONT_CHARS, '?');
    return FONT[at - FONT_CHARS];
}

/* ---- canvas ------------------------------------------------------------------------------ */
typedef struct canvas {
    uint8_t *rgb;
    size_t w, h;
} canvas;

static void fill_rect(canvas *cv, size_t x0, size_t y0, size_t w, size_t h, const uint8_t c[3])
{
    for (size_t y = y0; y < y0 + h && y < cv->h; y++)
        for (size_t x = x0; x < x0 + w && x < cv->w; x++)
            memcpy(cv->rgb + (y * cv->w + x) * 3, c, 3);
}

/* Draws whole glyphs only: a character that would cross the right edge ends the text. */
static void draw_text(canvas *cv, size_t x, size_t y, const char *text, size_t max_chars)
{
    for (size_t i = 0; text[i] != '\0' && i < max_chars; i++, x += TEXT_ADV) {
        if (x + GLYPH_W * TEXT_SCALE > cv->w)
            return;
        const uint8_t *g = glyph(text[i]);
        for (int row = 0; row < GLYPH_H; row++)
            for (int col = 0; col < GLYPH_W; col++)
                if ((g[row] >> (GLYPH_W - 1 - col)) & 1)
                    fill_rect(cv, x + (size_t)col * TEXT_SCALE, y + (size_t)row * TEXT_SCALE,
                              TEXT_SCALE, TEXT_SCALE, TEXT_COLOUR);
    }
}

static size_t text_width(const char *text, size_t max_chars)
{
    return strnlen(text, max_chars) * TEXT_ADV;
}

/* ---- PNG encoding ------------------------------------------------------------------------ */
typedef struct png_sink {
    uint8_t *data;
    size_t len, cap;
    char msg[256]; /* libpng's error message */
} png_sink;

static void sink_write(png_structp png, png_bytep bytes, png_size_t n)
{
    png_sink *sink = png_get_io_ptr(png);
    if (sink->len + n > sink->cap) {
        size_t cap = sink->cap ? sink->cap : 65536;
        while (cap < sink->len + n)
            cap *= 2;
        uint8_t *grown = realloc(sink->data, cap);
        if (grown == NULL)
            png_error(png, "out of memory");
        sink->data = grown;
        sink->cap = cap;
    }
    memcpy(sink->data + sink->len, bytes, n);
    sink->len += n;
}

static void sink_flush(png_structp png)
{
    (void)png;
}

/* libpng's defaults print to stderr; the library never prints, so keep the text instead. */
static void on_png_error(png_structp png, png_const_charp msg)
{
    png_sink *sink = png_get_error_ptr(png);
    snprintf(sink->msg, sizeof sink->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static int encode_png(const uint8_t *rgb, size_t w, size_t h, png_sink *sink)
{
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, sink, on_png_error, on_png_warning);
    if (png == NULL)
        return MTP_ENOMEM;
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_write_struct(&png, NULL);
        return MTP_ENOMEM;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return MTP_EFORMAT;
    }
    png_set_write_fn(png, sink, sink_write, sink_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    /* Every encoder choice is pinned so the bytes depend on the pixels only. */
    png_set_compression_level(png, 2);
    png_set_compression_mem_level(png, 8);
    png_set_compression_strategy(png, 0 /* Z_DEFAULT_STRATEGY */);
    png_set_compression_window_bits(png, 15);
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_UP);
    png_write_info(png, info);
    for (size_t y = 0; y < h; y++)
        png_write_row(png, rgb + y * w * 3);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int mtp_preview_write_png(const char *path, const uint8_t *rgb, size_t w, size_t h, mtp_error *err)
{
    if (path == NULL || rgb == NULL || w == 0 || h == 0 || w > MTP_PREVIEW_MAX_PIXELS ||
        h > MTP_PREVIEW_MAX_PIXELS / w)
        return mtp_error_set(err, MTP_EINVAL, "%s: invalid PNG size %zux%zu",
                             path ? path : "(null)", w, h);
    png_sink sink = {0};
    int rc = encode_png(rgb, w, h, &sink);
    if (rc == MTP_ENOMEM)
        mtp_error_set(err, rc, "%s: out of memory", path);
    else if (rc < 0)
        mtp_error_set(err, strcmp(sink.msg, "out of memory") == 0 ? MTP_ENOMEM : rc,
                      "%s: libpng: %s", path, sink.msg);
    else
        rc = mtp_write_file_atomic(path, sink.data, sink.len, err);
    free(sink.data);
    return rc;
}

/* ---- reading the bundle ------------------------------------------------------------------ */
typedef enum kind { KIND_CLASSIFICATION, KIND_SEGMENTATION, KIND_FEATURES } kind;

typedef struct bundle {
    const char *path;
    hid_t file;
    char task[MTP_NAME_MAX];
    kind kind;
    char classes[MTP_MAX_CLASSES][MTP_NAME_MAX];
    size_t nclasses;
    char splits[MTP_MAX_SPLITS][MTP_NAME_MAX];
    size_t nsplits;
} bundle;

static const char *h5_detail(char buf[128])
{
    return mtp_h5_reason(buf, 128);
}

/* Copy at most `cap` bytes of `src` into a new NUL-terminated string. */
static char *dup_bounded(const char *src, size_t cap)
{
    size_t len = src ? strnlen(src, cap) : 0;
    char *out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    if (len > 0)
        memcpy(out, src, len);
    out[len] = '\0';
    return out;
}

static void bundle_close(bundle *b)
{
    mtp_h5_close(&b->file);
}

static int bundle_open(bundle *b, const char *path, mtp_error *err)
{
    int rc = 0;
    char kind_name[MTP_NAME_MAX];
    char detail[128];

    if (access(path, R_OK) != 0)
        return mtp_error_set(err, MTP_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (H5Fis_hdf5(path) <= 0)
        return mtp_error_set(err, MTP_EFORMAT, "%s: not an HDF5 file", path);
    b->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (b->file < 0)
        return mtp_error_set(err, MTP_EFORMAT, "%s: cannot open: %s", path, h5_detail(detail));
    char where[MTP_PATH_MAX + 8];
    snprintf(where, sizeof where, "%s: /", path);
    if (H5Aexists(b->file, "format_version") > 0) {
        int64_t version = 0;
        if (mtp_h5_attr_int(b->file, where, "format_version", &version, err) < 0 || version != 1)
            return mtp_error_set(err, MTP_EFORMAT, "%s: unsupported format_version (want 1)", path);
    }
    rc = mtp_h5_attr_string(b->file, where, "task", b->task, sizeof b->task, err);
    if (rc == 0)
        rc = mtp_h5_attr_string(b->file, where, "kind", kind_name, sizeof kind_name, err);
    if (rc < 0)
        return rc;
    if (strcmp(kind_name, "classification") == 0)
        b->kind = KIND_CLASSIFICATION;
    else if (strcmp(kind_name, "segmentation") == 0)
        b->kind = KIND_SEGMENTATION;
    else if (strcmp(kind_name, "features") == 0)
        b->kind = KIND_FEATURES;
    else
        rc = mtp_error_set(err, MTP_EFORMAT, "%s: attribute 'kind': unknown kind '%.64s'", path,
                           kind_name);
    /* Only the legend uses class names, and a features task has no legend. */
    if (rc == 0 && b->kind != KIND_FEATURES)
        rc = mtp_h5_attr_strings(b->file, where, "classes", &b->classes[0][0], MTP_NAME_MAX,
                                 MTP_MAX_CLASSES, &b->nclasses, err);
    if (rc == 0)
        rc = mtp_h5_attr_strings(b->file, where, "splits", &b->splits[0][0], MTP_NAME_MAX,
                                 MTP_MAX_SPLITS, &b->nsplits, err);
    return rc;
}

/* One split's datasets, open for the duration of its montage. */
typedef struct split_data {
    const bundle *b;
    const char *name;
    hid_t images, masks, labels, region;
    int rank; /* of images: 3 (N, H, W) or 4 (N, D, H, W) */
    hsize_t n, h, w;
    hid_t region_mtype; /* memory types for the 1-byte enum datasets */
    hid_t labels_mtype;
} split_data;

static int split_error(const split_data *sd, const char *dset, int code, const char *what,
                       mtp_error *err)
{
    return mtp_error_set(err, code, "%s: /%s/%s: %s", sd->b->path, sd->name, dset, what);
}

static int open_dataset(const split_data *sd, const char *name, hid_t *out, mtp_error *err)
{
    char link[2 * MTP_NAME_MAX + 4];
    char detail[128];
    snprintf(link, sizeof link, "/%s/%s", sd->name, name);
    /* H5Lexists fails (1.10) or says no (1.12+) when the group itself is missing. */
    htri_t group = H5Lexists(sd->b->file, sd->name, H5P_DEFAULT);
    if (group <= 0 || H5Lexists(sd->b->file, link, H5P_DEFAULT) <= 0)
        return split_error(sd, name, MTP_EFORMAT, "dataset not found", err);
    *out = H5Dopen2(sd->b->file, link, H5P_DEFAULT);
    if (*out < 0)
        return split_error(sd, name, MTP_EFORMAT, h5_detail(detail), err);
    return 0;
}

/* The dataset's shape in dims[] (at most 4 axes); rank outside [min, max] is an error. */
static int dataset_shape(const split_data *sd, hid_t dset, const char *name, int min_rank,
                         int max_rank, hsize_t dims[4], int *rank, mtp_error *err)
{
    hid_t space = H5Dget_space(dset);
    int r = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (r >= min_rank && r <= max_rank)
        H5Sget_simple_extent_dims(space, dims, NULL);
    mtp_h5_close(&space);
    if (r < min_rank || r > max_rank) {
        char what[64];
        if (max_rank == min_rank)
            snprintf(what, sizeof what, "rank %d, expected %d", r, min_rank);
        else
            snprintf(what, sizeof what, "rank %d, expected %d to %d", r, min_rank, max_rank);
        return split_error(sd, name, MTP_EFORMAT, what, err);
    }
    *rank = r;
    return 0;
}

/* Images and masks: unsigned 8-bit integers. */
static int check_u8(const split_data *sd, hid_t dset, const char *name, mtp_error *err)
{
    hid_t type = H5Dget_type(dset);
    int ok = type >= 0 && H5Tget_class(type) == H5T_INTEGER && H5Tget_size(type) == 1 &&
             H5Tget_sign(type) == H5T_SGN_NONE;
    mtp_h5_close(&type);
    return ok ? 0 : split_error(sd, name, MTP_EFORMAT, "not uint8", err);
}

/*
 * labels and region: enum(uint8) (or plain uint8). The memory type is the file type's native
 * twin, so reading converts nothing (HDF5 has no enum-to-integer conversion).
 */
static int enum_mtype(const split_data *sd, hid_t dset, const char *name, hid_t *out,
                      mtp_error *err)
{
    hid_t type = H5Dget_type(dset);
    H5T_class_t cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    int ok = (cls == H5T_ENUM || cls == H5T_INTEGER) && H5Tget_size(type) == 1;
    if (ok && cls == H5T_ENUM) {
        hid_t super = H5Tget_super(type);
        ok = super >= 0 && H5Tget_sign(super) == H5T_SGN_NONE;
        mtp_h5_close(&super);
    }
    *out = ok ? H5Tget_native_type(type, H5T_DIR_ASCEND) : -1;
    mtp_h5_close(&type);
    if (*out < 0)
        return split_error(sd, name, MTP_EFORMAT, "not enum(uint8)", err);
    return 0;
}

/* Read `count` bytes starting at sample `index` of a 1-D dataset of 1-byte elements. */
static int read_1d(const split_data *sd, hid_t dset, hid_t mtype, const char *name, hsize_t index,
                   hsize_t count, uint8_t *out, mtp_error *err)
{
    char detail[128];
    hid_t fspace = H5Dget_space(dset);
    hid_t mspace = H5Screate_simple(1, &count, NULL);
    herr_t st = fspace >= 0 && mspace >= 0
                    ? H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &index, NULL, &count, NULL)
                    : -1;
    if (st >= 0)
        st = H5Dread(dset, mtype, mspace, fspace, H5P_DEFAULT, out);
    mtp_h5_close(&fspace);
    mtp_h5_close(&mspace);
    return st < 0 ? split_error(sd, name, MTP_EFORMAT, h5_detail(detail), err) : 0;
}

/* The first slice (z = origin z) of sample `index`: H * W bytes. */
static int read_slice(const split_data *sd, hid_t dset, const char *name, hsize_t index,
                      uint8_t *out, mtp_error *err)
{
    char detail[128];
    hsize_t count[4] = {1, 1, 1, 1};
    count[sd->rank - 2] = sd->h;
    count[sd->rank - 1] = sd->w;
    /* A memory space shaped like the selection: a flat one sends HDF5 down its
     * element-by-element path, several times slower per slice. */
    hid_t mspace = H5Screate_simple(sd->rank, count, NULL);
    herr_t st =
        mspace < 0 ? -1 : mtp_h5_read_slice(dset, mspace, sd->rank, index, 0, sd->h, sd->w, out);
    mtp_h5_close(&mspace);
    return st < 0 ? split_error(sd, name, MTP_EFORMAT, h5_detail(detail), err) : 0;
}

static void split_close(split_data *sd)
{
    mtp_h5_close(&sd->images);
    mtp_h5_close(&sd->masks);
    mtp_h5_close(&sd->labels);
    mtp_h5_close(&sd->region);
    mtp_h5_close(&sd->region_mtype);
    mtp_h5_close(&sd->labels_mtype);
}

static int split_open(split_data *sd, mtp_error *err)
{
    hsize_t dims[4] = {0}, other[4] = {0};
    int rank = 0, orank = 0;
    char what[128];
    int rc = open_dataset(sd, "images", &sd->images, err);
    if (rc == 0)
        rc = check_u8(sd, sd->images, "images", err);
    if (rc == 0)
        rc = dataset_shape(sd, sd->images, "images", 3, 4, dims, &rank, err);
    if (rc < 0)
        return rc;
    sd->rank = rank;
    sd->n = dims[0];
    sd->h = dims[rank - 2];
    sd->w = dims[rank - 1];
    if (sd->n == 0 || sd->n > MTP_PREVIEW_MAX_SAMPLES) {
        snprintf(what, sizeof what, "%llu samples, expected 1 to %d", (unsigned long long)sd->n,
                 MTP_PREVIEW_MAX_SAMPLES);
        return split_error(sd, "images", sd->n == 0 ? MTP_EFORMAT : MTP_ERANGE, what, err);
    }
    if (sd->h == 0 || sd->w == 0 || sd->h > MTP_PREVIEW_MAX_EDGE || sd->w > MTP_PREVIEW_MAX_EDGE) {
        snprintf(what, sizeof what, "slice %llux%llu not within 1x1 to %dx%d",
                 (unsigned long long)sd->h, (unsigned long long)sd->w, MTP_PREVIEW_MAX_EDGE,
                 MTP_PREVIEW_MAX_EDGE);
        return split_error(sd, "images", MTP_ERANGE, what, err);
    }
    if (rank == 4 && (dims[1] == 0 || dims[1] > MTP_PREVIEW_MAX_DEPTH)) {
        snprintf(what, sizeof what, "depth %llu not within 1 to %d", (unsigned long long)dims[1],
                 MTP_PREVIEW_MAX_DEPTH);
        return split_error(sd, "images", MTP_ERANGE, what, err);
    }

    rc = open_dataset(sd, "region", &sd->region, err);
    if (rc == 0)
        rc = enum_mtype(sd, sd->region, "region", &sd->region_mtype, err);
    if (rc == 0)
        rc = dataset_shape(sd, sd->region, "region", 1, 1, other, &orank, err);
    if (rc < 0)
        return rc;
    if (other[0] != sd->n)
        return split_error(sd, "region", MTP_EFORMAT, "length differs from /images", err);

    if (sd->b->kind == KIND_SEGMENTATION) {
        rc = open_dataset(sd, "masks", &sd->masks, err);
        if (rc == 0)
            rc = check_u8(sd, sd->masks, "masks", err);
        if (rc == 0)
            rc = dataset_shape(sd, sd->masks, "masks", 3, 4, other, &orank, err);
        if (rc < 0)
            return rc;
        if (orank != rank || memcmp(dims, other, sizeof dims) != 0) {
            snprintf(what, sizeof what, "shape differs from /%.64s/images", sd->name);
            return split_error(sd, "masks", MTP_EFORMAT, what, err);
        }
    } else if (sd->b->kind == KIND_CLASSIFICATION) {
        rc = open_dataset(sd, "labels", &sd->labels, err);
        if (rc == 0)
            rc = enum_mtype(sd, sd->labels, "labels", &sd->labels_mtype, err);
        if (rc == 0)
            rc = dataset_shape(sd, sd->labels, "labels", 1, 1, other, &orank, err);
        if (rc < 0)
            return rc;
        if (other[0] != sd->n)
            return split_error(sd, "labels", MTP_EFORMAT, "length differs from /images", err);
    }
    return 0;
}

/* ---- choosing the samples ---------------------------------------------------------------- */
typedef struct region_row {
    char *name;
    unsigned value;
    size_t count;                          /* samples of this region in the split */
    size_t k;                              /* samples shown */
    size_t pick[MTP_PREVIEW_PER_REGION];   /* positions within the region, ascending */
    hsize_t index[MTP_PREVIEW_PER_REGION]; /* sample indices in the split */
} region_row;

typedef struct selection {
    region_row *rows;
    size_t nrows;
} selection;

static void selection_free(selection *sel)
{
    for (size_t r = 0; r < sel->nrows; r++)
        free(sel->rows[r].name);
    free(sel->rows);
    sel->rows = NULL;
    sel->nrows = 0;
}

static int compare_rows(const void *a, const void *b)
{
    const region_row *ra = a, *rb = b;
    return (ra->value > rb->value) - (ra->value < rb->value);
}

/*
 * Rows from the region enum's members (value order), keeping only regions with samples;
 * a region value that is no member of the enum is a format error. Reads the region
 * dataset (N bytes) whole: it is the index, not the image data.
 */
static int select_samples(const split_data *sd, selection *sel, mtp_error *err)
{
    int rc = 0;
    uint8_t *values = malloc(sd->n);
    region_row *all = NULL;
    size_t counts[256] = {0};
    int row_of[256];
    size_t seen[256] = {0};
    int nmembers =
        H5Tget_class(sd->region_mtype) == H5T_ENUM ? H5Tget_nmembers(sd->region_mtype) : 0;

    if (nmembers <= 0) {
        rc = split_error(sd, "region", MTP_EFORMAT, "not an enum with members", err);
        goto out;
    }
    all = calloc((size_t)nmembers, sizeof *all);
    if (values == NULL || all == NULL) {
        rc = split_error(sd, "region", MTP_ENOMEM, "out of memory", err);
        goto out;
    }
    rc = read_1d(sd, sd->region, sd->region_mtype, "region", 0, sd->n, values, err);
    if (rc < 0)
        goto out;
    for (int v = 0; v < 256; v++)
        row_of[v] = -1;
    for (int m = 0; m < nmembers; m++) {
        uint8_t value = 0;
        char *name = H5Tget_member_name(sd->region_mtype, (unsigned)m);
        all[m].name = name ? dup_bounded(name, LEGEND_MAX_CHARS * 4) : NULL;
        if (name != NULL)
            H5free_memory(name);
        if (all[m].name == NULL || H5Tget_member_value(sd->region_mtype, (unsigned)m, &value) < 0) {
            rc = split_error(sd, "region", MTP_EFORMAT, "cannot read enum members", err);
            goto out;
        }
        all[m].value = value;
    }
    for (hsize_t i = 0; i < sd->n; i++)
        counts[values[i]]++;
    qsort(all, (size_t)nmembers, sizeof *all, compare_rows);
    sel->rows = all;
    for (int m = 0; m < nmembers; m++) {
        region_row *row = &all[m];
        row->count = counts[row->value];
        if (row->count == 0) {
            free(row->name);
            continue;
        }
        region_row *dst = &sel->rows[sel->nrows];
        if (dst != row)
            *dst = *row;
        row_of[dst->value] = (int)sel->nrows++;
        size_t m_count = dst->count;
        dst->k = m_count < MTP_PREVIEW_PER_REGION ? m_count : MTP_PREVIEW_PER_REGION;
        for (size_t i = 0; i < dst->k; i++)
            dst->pick[i] = dst->k == 1 ? 0 : i * (m_count - 1) / (dst->k - 1);
    }
    all = NULL; /* now owned by sel */
    for (hsize_t i = 0; i < sd->n; i++) {
        int r = row_of[values[i]];
        if (r < 0) {
            char what[64];
            snprintf(what, sizeof what, "value %u is not a member of the enum", values[i]);
            rc = split_error(sd, "region", MTP_EFORMAT, what, err);
            goto out;
        }
        region_row *row = &sel->rows[r];
        size_t pos = seen[values[i]]++;
        for (size_t j = 0; j < row->k; j++)
            if (row->pick[j] == pos)
                row->index[j] = i;
    }
out:
    if (all != NULL) {
        for (int m = 0; m < nmembers; m++)
            free(all[m].name);
        free(all);
    }
    free(values);
    return rc;
}

/* ---- layout and drawing ------------------------------------------------------------------ */
typedef struct layout {
    size_t factor, tw, th, cw, ch, cols, legend_lines, width, height;
    unsigned first_class; /* the first class in the legend */
    size_t nlegend;       /* classes in the legend */
} layout;

static size_t legend_entry_width(const char *name)
{
    return SWATCH + SWATCH_GAP + text_width(name, LEGEND_MAX_CHARS);
}

/* Lay out (and, with cv, draw) the legend from y0; returns the number of lines. */
static size_t legend(const bundle *b, const layout *lo, canvas *cv, size_t y0)
{
    if (lo->nlegend == 0)
        return 0;
    /* Each line keeps its pad above, away from the last row of tiles. */
    size_t lines = 1, x = PAD, y = y0 + PAD;
    for (size_t c = lo->first_class; c < lo->first_class + lo->nlegend; c++) {
        size_t ew = legend_entry_width(b->classes[c]);
        if (x > PAD && x + ew > lo->width - PAD) {
            lines++;
            x = PAD;
            y += LEGEND_LINE;
        }
        if (cv != NULL) {
            uint8_t colour[3];
            mtp_preview_class_colour((unsigned)c, colour);
            fill_rect(cv, x, y, SWATCH, SWATCH, colour);
            draw_text(cv, x + SWATCH + SWATCH_GAP, y, b->classes[c], LEGEND_MAX_CHARS);
        }
        x += ew + ENTRY_GAP;
    }
    return lines;
}

static int plan_layout(const split_data *sd, const selection *sel, layout *lo, mtp_error *err)
{
    const bundle *b = sd->b;
    lo->factor = sd->h >= DOWNSCALE_FROM && sd->w >= DOWNSCALE_FROM ? 2 : 1;
    lo->tw = sd->w / lo->factor;
    lo->th = sd->h / lo->factor;
    lo->cw = lo->tw + 2 * BORDER;
    lo->ch = lo->th + 2 * BORDER;
    lo->cols = 0;
    for (size_t r = 0; r < sel->nrows; r++)
        if (sel->rows[r].k > lo->cols)
            lo->cols = sel->rows[r].k;
    lo->width = PAD + lo->cols * (lo->cw + PAD);
    lo->first_class = b->kind == KIND_SEGMENTATION ? 1 : 0;
    lo->nlegend = b->kind == KIND_FEATURES || b->nclasses <= lo->first_class
                      ? 0
                      : b->nclasses - lo->first_class;
    lo->legend_lines = legend(b, lo, NULL, 0);
    /* rows <= 256 and ch <= 4108 keep this far from overflow before the cap check. */
    lo->height = BAND + sel->nrows * (BAND + lo->ch) + lo->legend_lines * LEGEND_LINE + PAD;
    if (lo->height > MTP_PREVIEW_MAX_PIXELS / lo->width) {
        char what[96];
        snprintf(what, sizeof what, "montage %zux%zu exceeds %d pixels", lo->width, lo->height,
                 MTP_PREVIEW_MAX_PIXELS);
        return split_error(sd, "images", MTP_ERANGE, what, err);
    }
    return 0;
}

/* Gray image with the mask blended in, at full resolution, into rgb (H * W * 3). */
static void colour_slice(const uint8_t *image, const uint8_t *mask, size_t npix, uint8_t *rgb)
{
    for (size_t i = 0; i < npix; i++) {
        uint8_t g = image[i];
        uint8_t *px = rgb + i * 3;
        if (mask == NULL || mask[i] == 0) {
            px[0] = px[1] = px[2] = g;
            continue;
        }
        uint8_t c[3];
        mtp_preview_class_colour(mask[i], c);
        for (int k = 0; k < 3; k++)
            px[k] = (uint8_t)((g * (100 - ALPHA_PERCENT) + c[k] * ALPHA_PERCENT + 50) / 100);
    }
}

/* Copy (factor 1) or 2x2-average (factor 2) the slice's RGB into the canvas at (x0, y0). */
static void place_tile(canvas *cv, const layout *lo, const uint8_t *rgb, size_t w, size_t x0,
                       size_t y0)
{
    for (size_t y = 0; y < lo->th; y++) {
        uint8_t *dst = cv->rgb + ((y0 + y) * cv->w + x0) * 3;
        if (lo->factor == 1) {
            memcpy(dst, rgb + y * w * 3, lo->tw * 3);
            continue;
        }
        const uint8_t *r0 = rgb + (2 * y) * w * 3;
        const uint8_t *r1 = r0 + w * 3;
        for (size_t x = 0; x < lo->tw; x++)
            for (int k = 0; k < 3; k++) {
                size_t a = 2 * x * 3 + (size_t)k, b = a + 3;
                dst[x * 3 + (size_t)k] = (uint8_t)((r0[a] + r0[b] + r1[a] + r1[b] + 2) / 4);
            }
    }
}

static int draw_montage(const split_data *sd, const selection *sel, const layout *lo, canvas *cv,
                        mtp_error *err)
{
    int rc = 0;
    size_t npix = (size_t)sd->h * (size_t)sd->w;
    uint8_t *image = malloc(npix);
    uint8_t *mask = sd->masks >= 0 ? malloc(npix) : NULL;
    uint8_t *rgb = malloc(npix * 3);
    char text[256];

    if (image == NULL || rgb == NULL || (sd->masks >= 0 && mask == NULL)) {
        rc = split_error(sd, "images", MTP_ENOMEM, "out of memory", err);
        goto out;
    }
    fill_rect(cv, 0, 0, cv->w, cv->h, BACKGROUND);
    snprintf(text, sizeof text, "%.64s %.64s n=%llu", sd->b->task, sd->name,
             (unsigned long long)sd->n);
    draw_text(cv, PAD, PAD, text, sizeof text);
    for (size_t r = 0; r < sel->nrows; r++) {
        const region_row *row = &sel->rows[r];
        size_t y0 = BAND + r * (BAND + lo->ch);
        snprintf(text, sizeof text, "%.64s n=%zu", row->name, row->count);
        draw_text(cv, PAD, y0 + PAD, text, sizeof text);
        for (size_t c = 0; c < row->k; c++) {
            size_t cx = PAD + c * (lo->cw + PAD), cy = y0 + BAND;
            hsize_t index = row->index[c];
            rc = read_slice(sd, sd->images, "images", index, image, err);
            if (rc == 0 && mask != NULL)
                rc = read_slice(sd, sd->masks, "masks", index, mask, err);
            if (rc == 0 && sd->labels >= 0) {
                uint8_t label = 0;
                uint8_t colour[3];
                rc = read_1d(sd, sd->labels, sd->labels_mtype, "labels", index, 1, &label, err);
                mtp_preview_class_colour(label, colour);
                fill_rect(cv, cx, cy, lo->cw, lo->ch, colour);
            }
            if (rc < 0)
                goto out;
            colour_slice(image, mask, npix, rgb);
            place_tile(cv, lo, rgb, (size_t)sd->w, cx + BORDER, cy + BORDER);
        }
    }
    legend(sd->b, lo, cv, BAND + sel->nrows * (BAND + lo->ch));
out:
    free(image);
    free(mask);
    free(rgb);
    return rc;
}

static void sanitize(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src[i] != '\0' && i + 1 < cap; i++) {
        char c = src[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        dst[i] = ok ? c : '_';
    }
    dst[i] = '\0';
}

static int preview_split(const bundle *b, const char *split, const char *out_dir, mtp_error *err)
{
    int rc = 0;
    split_data sd = {.b = b,
                     .name = split,
                     .images = -1,
                     .masks = -1,
                     .labels = -1,
                     .region = -1,
                     .region_mtype = -1,
                     .labels_mtype = -1};
    selection sel = {0};
    layout lo = {0};
    canvas cv = {0};
    char task_name[128], split_name[128], path[4096];

    /* Names are capped so the file name stays within NAME_MAX (255). */
    if (strlen(b->task) > 100 || strlen(split) > 100) {
        rc = mtp_error_set(err, MTP_ERANGE, "%s: task or split name longer than 100 characters",
                           b->path);
        goto out;
    }
    sanitize(task_name, sizeof task_name, b->task);
    sanitize(split_name, sizeof split_name, split);
    int n = snprintf(path, sizeof path, "%s/preview_%s_%s.png", out_dir, task_name, split_name);
    if (n < 0 || (size_t)n >= sizeof path) {
        rc = mtp_error_set(err, MTP_ERANGE, "%s: output path too long", out_dir);
        goto out;
    }
    rc = split_open(&sd, err);
    if (rc == 0)
        rc = select_samples(&sd, &sel, err);
    if (rc == 0)
        rc = plan_layout(&sd, &sel, &lo, err);
    if (rc < 0)
        goto out;
    cv.w = lo.width;
    cv.h = lo.height;
    cv.rgb = malloc(cv.w * cv.h * 3);
    if (cv.rgb == NULL) {
        rc = split_error(&sd, "images", MTP_ENOMEM, "out of memory", err);
        goto out;
    }
    rc = draw_montage(&sd, &sel, &lo, &cv, err);
    if (rc == 0)
        rc = mtp_preview_write_png(path, cv.rgb, cv.w, cv.h, err);
out:
    free(cv.rgb);
    selection_free(&sel);
    split_close(&sd);
    return rc;
}

int mtp_preview_bundle(const char *h5_path, const char *out_dir, int *nwritten, mtp_error *err)
{
    int rc = 0;
    bundle b = {.path = h5_path, .file = -1};
    mtp_h5_quiet quiet;

    if (nwritten != NULL)
        *nwritten = 0;
    if (h5_path == NULL || out_dir == NULL)
        return mtp_error_set(err, MTP_EINVAL, "preview: NULL bundle path or output directory");
    /* Silence HDF5's printing for this call only; errors are reported through err. */
    mtp_h5_quiet_begin(&quiet);

    rc = bundle_open(&b, h5_path, err);
    if (rc == 0)
        rc = mtp_mkdir_p(out_dir, err);
    for (size_t s = 0; rc == 0 && s < b.nsplits; s++) {
        rc = preview_split(&b, b.splits[s], out_dir, err);
        if (rc == 0 && nwritten != NULL)
            (*nwritten)++;
    }
    bundle_close(&b);
    mtp_h5_quiet_end(&quiet);
    return rc;
}
