/*
 * digest.h — SHA-256 and MD5 of files, buffers and streams, computed together in one pass
 * (libcrypto EVP), plus the lines of SHA256SUMS / MD5SUMS files.
 *
 * Digests are lowercase hex, NUL-terminated. The manifest records both (Zenodo shows MD5,
 * SHA-256 is what anyone should check), so every file is read exactly once for both.
 */
#ifndef MTP_DIGEST_H
#define MTP_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "mtp/error.h"

#define MTP_SHA256_HEX_LEN 64
#define MTP_MD5_HEX_LEN 32

typedef struct mtp_digest {
    char sha256[MTP_SHA256_HEX_LEN + 1]; /* lowercase hex */
    char md5[MTP_MD5_HEX_LEN + 1];       /* lowercase hex */
    uint64_t size;                       /* bytes digested */
} mtp_digest;

/*
 * Digest the whole file at `path`, read in 1 MiB chunks. Errors: MTP_EIO with
 * "<path>: cannot open: <strerror>" or "<path>: read failed: <strerror>"; MTP_EFORMAT
 * "<path>: not a regular file"; MTP_ENOMEM. `*out` is only written on success.
 */
int mtp_digest_file(const char *path, mtp_digest *out, mtp_error *err);

/* Digest `len` bytes at `data` (NULL allowed when len is 0). MTP_ENOMEM on failure. */
int mtp_digest_buffer(const void *data, size_t len, mtp_digest *out);

/*
 * Streaming digests, for data that is not a file (archive entries). begin → update* → end.
 * mtp_digest_begin: *out is owned by the caller, NULL on failure (MTP_ENOMEM).
 * mtp_digest_end: writes the result and frees `ctx` whether it succeeds or not.
 * mtp_digest_free: abandon a context without a result; accepts NULL.
 */
typedef struct mtp_digest_ctx mtp_digest_ctx;
int mtp_digest_begin(mtp_digest_ctx **out, mtp_error *err);
int mtp_digest_update(mtp_digest_ctx *ctx, const void *data, size_t len, mtp_error *err);
int mtp_digest_end(mtp_digest_ctx *ctx, mtp_digest *out, mtp_error *err);
void mtp_digest_free(mtp_digest_ctx *ctx);

/*
 * Format one SHA256SUMS / MD5SUMS line into `buf` (size `n`): "<hex>  <name>\n" — two
 * spaces (text mode), exactly what `sha256sum -c` / `md5sum -c` read. `hex` must be 32 or
 * 64 lowercase hex digits and the name non-empty (MTP_EINVAL otherwise, a bug). Names that
 * GNU coreutils would escape ('\n', '\r', '\\') are MTP_EFORMAT, as the escaped form is not
 * portable.
 * MTP_ERANGE when the line does not fit in `buf`. On error buf is set to "" (if n > 0).
 */
int mtp_digest_sums_line(char *buf, size_t n, const char *hex, const char *name, mtp_error *err);

#endif
