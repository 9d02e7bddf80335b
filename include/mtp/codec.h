/*
 * codec.h — BossDB cutout bodies: one blosc1 chunk (reference/bossdb-api.md §1).
 *
 * Validation happens before any allocation driven by the body and before any decoder reads
 * it: the header's cbytes must equal the body length, its nbytes exactly what was asked for,
 * and the whole chunk must be consistent with its header — a known format version, a
 * typesize, a block size within the data, a block-start table that fits and points inside
 * the body (or, for a chunk stored uncompressed, exactly nbytes after the header), and
 * c-blosc's own blosc_cbuffer_validate. A body failing any check is MTP_ECORRUPT
 * (retryable), never data; an empty body says so ("empty body, expected a blosc chunk of N
 * bytes").
 */
#ifndef MTP_CODEC_H
#define MTP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtp/error.h"

#define MTP_BLOSC_HEADER 16
#define MTP_BLOSC_MAX_NBYTES 2147483631ull /* largest blosc1 chunk */

/* Header fields of a blosc1 chunk. */
typedef struct mtp_blosc_header {
    uint8_t version, versionlz, flags, typesize;
    uint32_t nbytes, blocksize, cbytes;
} mtp_blosc_header;

/* Parse the 16-byte header; MTP_ECORRUPT if len < 16. */
int mtp_codec_header(const void *body, size_t len, mtp_blosc_header *out, mtp_error *err);

/*
 * Check `body` (len bytes) is one blosc1 chunk decoding to exactly `expected` bytes,
 * then decode it into dst (which holds `expected` bytes) with blosc_decompress_ctx.
 * MTP_ECORRUPT with a message naming the lie (cbytes vs length, nbytes vs expected,
 * decoder failure).
 */
int mtp_codec_decode(const void *body, size_t len, void *dst, size_t expected, mtp_error *err);

/*
 * `count` values of `elem_size` bytes (2 or 8, host order, as decoded; `data` need not be
 * aligned) to their low bytes in out. Returns whether every value was <= 255 (out holds
 * the low bytes either way).
 */
bool mtp_codec_narrow(const void *data, size_t count, size_t elem_size, uint8_t *out);

/*
 * Decode a body of `voxels` little-endian values of `elem_size` bytes (2 or 8) straight to
 * one byte per voxel in dst (voxels bytes), a blosc block at a time: the wide values never
 * reach main memory, which makes label cutouts (uint64 codes 0..8) about 40% cheaper to
 * take in than mtp_codec_decode followed by narrowing. The body is checked as by
 * mtp_codec_decode (MTP_ECORRUPT with the same messages).
 * MTP_EDATA when a value is above 255, or the body's block layout cannot be read in pieces:
 * dst is then unspecified and the caller decodes wide instead. MTP_EINVAL for a NULL dst
 * or another elem_size; MTP_ENOMEM.
 * (blosc_getitem prints to stderr only for an item range outside the chunk, which the
 * checks here rule out.)
 */
int mtp_codec_decode_u8(const void *body, size_t len, uint8_t *dst, size_t voxels, size_t elem_size,
                        mtp_error *err);

/*
 * Compress like the real server (python-blosc defaults: clevel 9, byte shuffle,
 * blosclz, typesize = the *bit* depth 8/16/64). *out is malloc'ed, owned by the caller.
 */
int mtp_codec_encode_boss(const void *src, size_t nbytes, int bits, void **out, size_t *out_len,
                          mtp_error *err);

#endif
