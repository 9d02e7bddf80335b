/*
 * codec.c — blosc1 chunk validation, decoding and server-style encoding.
 *
 * The header is read by hand (little-endian fields at fixed offsets) rather than with
 * blosc_cbuffer_sizes(), so that every size is checked against what the caller asked for
 * before the decoder touches the body or anything is allocated from it.
 */
#include "codec.h"

#include <blosc.h>
#include <stdlib.h>

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

int mtp_codec_decode(const void *body, size_t len, void *dst, size_t expected, mtp_error *err)
{
    mtp_blosc_header h;
    int rc = mtp_codec_header(body, len, &h, err);
    if (rc < 0)
        return rc;
    if (dst == NULL && expected > 0)
        return mtp_error_set(err, MTP_EINVAL, "blosc body: NULL destination");
    if ((unsigned long long)expected > MTP_BLOSC_MAX_NBYTES)
        return mtp_error_set(err, MTP_ECORRUPT,
                             "blosc body: expected %zu bytes, over the blosc1 chunk limit %llu",
                             expected, MTP_BLOSC_MAX_NBYTES);
    if ((size_t)h.cbytes != len)
        return mtp_error_set(err, MTP_ECORRUPT, "blosc body: cbytes %u != body length %zu",
                             (unsigned)h.cbytes, len);
    if ((size_t)h.nbytes != expected)
        return mtp_error_set(err, MTP_ECORRUPT, "blosc body: nbytes %u != expected %zu",
                             (unsigned)h.nbytes, expected);
    if (expected == 0)
        return 0;
    /* Both sizes are now known to be true, so the decoder's own bounds checks are the
     * last line: it never writes past `expected` and must produce all of it. */
    int got = blosc_decompress_ctx(body, dst, expected, 1);
    if (got < 0 || (size_t)got != expected)
        return mtp_error_set(err, MTP_ECORRUPT,
                             "blosc body: decoder returned %d, expected %zu bytes", got, expected);
    return 0;
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
