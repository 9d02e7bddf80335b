/*
 * codec.c — blosc1 chunk validation, decoding and server-style encoding.
 *
 * The header is read by hand (little-endian fields at fixed offsets) rather than with
 * blosc_cbuffer_sizes(), so that every size is checked against what the caller asked for
 * before the decoder touches the body or anything is allocated from it.
 */
#include "mtp/codec.h"

#include <blosc.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint32_t read_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

int mtp_codec_header(const void *body, size_t len, mtp_blosc_header *out, mtp_error *err)
{
    if (body == NULL || out == NULL)
        return mtp_error_set(err, MTP_EINVAL, "blosc body: NULL argument");
    if (len < MTP_BLOSC_HEADER)
        return mtp_error_set(err, MTP_ECORRUPT,
                             "blosc body: %zu bytes, shorter than the %d-byte header", len,
                             MTP_BLOSC_HEADER);
    const unsigned char *p = body;
    out->version = p[0];
    out->versionlz = p[1];
    out->flags = p[2];
    out->typesize = p[3];
    out->nbytes = read_le32(p + 4);
    out->blocksize = read_le32(p + 8);
    out->cbytes = read_le32(p + 12);
    return 0;
}

/* The whole chunk, checked against its own header before any decoder reads it: the sizes,
 * the block layout and the table of block starts (what c-blosc 1.x trusts). */
static int check_layout(const unsigned char *p, size_t len, const mtp_blosc_header *h,
                        mtp_error *err)
{
    if (h->version == 0 || h->version > BLOSC_VERSION_FORMAT)
        return mtp_error_set(err, MTP_ECORRUPT, "blosc body: format version %u (known: 1..%d)",
                             h->version, BLOSC_VERSION_FORMAT);
    if (h->typesize == 0)
        return mtp_error_set(err, MTP_ECORRUPT, "blosc body: typesize 0");
    if (h->nbytes == 0)
        return len == MTP_BLOSC_HEADER
                   ? 0
                   : mtp_error_set(err, MTP_ECORRUPT, "blosc body: %zu bytes for no data", len);
    if (h->flags & BLOSC_MEMCPYED) {
        if ((size_t)h->nbytes + MTP_BLOSC_HEADER != len)
            return mtp_error_set(err, MTP_ECORRUPT,
                                 "blosc body: stored uncompressed, but %zu bytes for %u", len,
                                 (unsigned)h->nbytes);
        return 0;
    }
    if (h->blocksize == 0 || h->blocksize > h->nbytes)
        return mtp_error_set(err, MTP_ECORRUPT, "blosc body: block size %u for %u bytes",
                             (unsigned)h->blocksize, (unsigned)h->nbytes);
    size_t nblocks = ((size_t)h->nbytes + h->blocksize - 1) / h->blocksize;
    size_t table_end = MTP_BLOSC_HEADER + 4 * nblocks;
    if (table_end > len)
        return mtp_error_set(err, MTP_ECORRUPT,
                             "blosc body: %zu blocks do not fit their start table in %zu bytes",
                             nblocks, len);
    for (size_t k = 0; k < nblocks; k++) {
        uint32_t start = read_le32(p + MTP_BLOSC_HEADER + 4 * k);
        if (start < table_end || start >= len)
            return mtp_error_set(err, MTP_ECORRUPT,
                                 "blosc body: block %zu starts at %u, outside %zu..%zu", k,
                                 (unsigned)start, table_end, len - 1);
    }
    size_t claimed = 0;
    if (blosc_cbuffer_validate(p, len, &claimed) != 0 || claimed != h->nbytes)
        return mtp_error_set(err, MTP_ECORRUPT, "blosc body: rejected by c-blosc's validation");
    return 0;
}

/* The header, checked to promise exactly `expected` bytes from exactly `len`. */
static int check_body(const void *body, size_t len, size_t expected, mtp_blosc_header *h,
                      mtp_error *err)
{
    if (body == NULL || len == 0)
        return mtp_error_set(err, MTP_ECORRUPT, "empty body, expected a blosc chunk of %zu bytes",
                             expected);
    int rc = mtp_codec_header(body, len, h, err);
    if (rc < 0)
        return rc;
    if ((unsigned long long)expected > MTP_BLOSC_MAX_NBYTES)
        return mtp_error_set(err, MTP_ECORRUPT,
                             "blosc body: expected %zu bytes, over the blosc1 chunk limit %llu",
                             expected, MTP_BLOSC_MAX_NBYTES);
    if ((size_t)h->cbytes != len)
        return mtp_error_set(err, MTP_ECORRUPT, "blosc body: cbytes %u != body length %zu",
                             (unsigned)h->cbytes, len);
    if ((size_t)h->nbytes != expected)
        return mtp_error_set(err, MTP_ECORRUPT, "blosc body: nbytes %u != expected %zu",
                             (unsigned)h->nbytes, expected);
    return check_layout(body, len, h, err);
}

int mtp_codec_decode(const void *body, size_t len, void *dst, size_t expected, mtp_error *err)
{
    if (dst == NULL && expected > 0)
        return mtp_error_set(err, MTP_EINVAL, "blosc body: NULL destination");
    mtp_blosc_header h;
    int rc = check_body(body, len, expected, &h, err);
    if (rc < 0 || expected == 0)
        return rc;
    /* Both sizes are now known to be true, so the decoder's own bounds checks are the
     * last line: it never writes past `expected` and must produce all of it. */
    int got = blosc_decompress_ctx(body, dst, expected, 1);
    if (got < 0 || (size_t)got != expected)
        return mtp_error_set(err, MTP_ECORRUPT,
                             "blosc body: decoder returned %d, expected %zu bytes", got, expected);
    return 0;
}

/* The most bytes one piece of mtp_codec_decode_u8 decodes at a time (a blosc block; the
 * server's are 256 KiB). Larger blocks go the wide way. */
#define MAX_PIECE ((size_t)16 << 20)

bool mtp_codec_narrow(const void *data, size_t count, size_t elem_size, uint8_t *out)
{
    const unsigned char *in = data;
    if (elem_size == 2) {
        uint16_t high = 0;
        for (size_t k = 0; k < count; k++) {
            uint16_t v;
            memcpy(&v, in + 2 * k, 2);
            high |= v;
            out[k] = (uint8_t)v;
        }
        return high <= 255;
    }
    uint64_t high = 0;
    for (size_t k = 0; k < count; k++) {
        uint64_t v;
        memcpy(&v, in + 8 * k, 8);
        high |= v;
        out[k] = (uint8_t)v;
    }
    return high <= 255;
}

int mtp_codec_decode_u8(const void *body, size_t len, uint8_t *dst, size_t voxels, size_t elem_size,
                        mtp_error *err)
{
    if (dst == NULL || (elem_size != 2 && elem_size != 8) || voxels > SIZE_MAX / elem_size)
        return mtp_error_set(err, MTP_EINVAL, "blosc body: bad narrowing request");
    size_t nbytes = voxels * elem_size;
    mtp_blosc_header h;
    int rc = check_body(body, len, nbytes, &h, err);
    if (rc < 0 || nbytes == 0)
        return rc;
    /* Pieces are whole blosc blocks of whole items (blosc_getitem counts in typesize
     * units); a layout that does not allow that is left to mtp_codec_decode. */
    size_t ts = h.typesize, bs = h.blocksize;
    if (ts == 0 || bs == 0 || bs > MAX_PIECE || bs % ts != 0 || bs % elem_size != 0 ||
        nbytes % ts != 0 || nbytes / ts > INT_MAX)
        return mtp_error_set(err, MTP_EDATA, "blosc body: layout not decodable piecewise");
    unsigned char *piece = malloc(bs);
    if (piece == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "blosc body: out of memory (%zu bytes)", bs);
    for (size_t off = 0; off < nbytes && rc == 0; off += bs) {
        size_t n = nbytes - off < bs ? nbytes - off : bs;
        int got = blosc_getitem(body, (int)(off / ts), (int)(n / ts), piece);
        if (got < 0 || (size_t)got != n) {
            rc = mtp_error_set(err, MTP_ECORRUPT,
                               "blosc body: decoder returned %d for bytes %zu..%zu", got, off,
                               off + n);
            break;
        }
        if (!mtp_codec_narrow(piece, n / elem_size, elem_size, dst + off / elem_size))
            rc = mtp_error_set(err, MTP_EDATA, "blosc body: a value does not fit in uint8");
    }
    free(piece);
    return rc;
}

int mtp_codec_encode_boss(const void *src, size_t nbytes, int bits, void **out, size_t *out_len,
                          mtp_error *err)
{
    if (out == NULL || out_len == NULL)
        return mtp_error_set(err, MTP_EINVAL, "blosc encode: NULL output");
    *out = NULL;
    *out_len = 0;
    if (src == NULL && nbytes > 0)
        return mtp_error_set(err, MTP_EINVAL, "blosc encode: NULL source");
    if (bits != 8 && bits != 16 && bits != 64)
        return mtp_error_set(err, MTP_EINVAL, "blosc encode: bit depth %d not 8, 16 or 64", bits);
    if ((unsigned long long)nbytes > MTP_BLOSC_MAX_NBYTES)
        return mtp_error_set(err, MTP_ERANGE,
                             "blosc encode: %zu bytes, over the blosc1 chunk limit %llu", nbytes,
                             MTP_BLOSC_MAX_NBYTES);
    size_t cap = nbytes + BLOSC_MAX_OVERHEAD;
    void *dst = malloc(cap);
    if (dst == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "blosc encode: cannot allocate %zu bytes", cap);
    /* The real server passes typesize = the bit depth (a python-blosc quirk it keeps). */
    int n =
        blosc_compress_ctx(9, BLOSC_SHUFFLE, (size_t)bits, nbytes, src, dst, cap, "blosclz", 0, 1);
    if (n <= 0) {
        free(dst);
        return mtp_error_set(err, MTP_EINVAL, "blosc encode: compressor returned %d for %zu bytes",
                             n, nbytes);
    }
    /* Give back the slack; if shrinking fails the larger block is still valid. */
    void *tight = realloc(dst, (size_t)n);
    *out = tight != NULL ? tight : dst;
    *out_len = (size_t)n;
    return 0;
}
