/*
 * sha256.h — SHA-256 over a buffer or a stream (OpenSSL EVP underneath, hidden here).
 *
 * Errors: MTP_ENOMEM when OpenSSL cannot set up a digest (it fails only on allocation).
 */
#ifndef MTP_SHA256_H
#define MTP_SHA256_H

#include <stddef.h>

#include "error.h"

#define MTP_SHA256_LEN 32      /* digest bytes */
#define MTP_SHA256_HEX_SIZE 65 /* buffer size: 64 lowercase hex digits + NUL */

/* The digest of data[0..n) in out (32 bytes). */
int mtp_sha256(const void *data, size_t n, unsigned char out[MTP_SHA256_LEN]);

/* The same as lowercase hex, NUL-terminated, in out (65 bytes). */
int mtp_sha256_hex(const void *data, size_t n, char out[MTP_SHA256_HEX_SIZE]);

/* Write n bytes as lowercase hex plus NUL into out (2n + 1 bytes). */
void mtp_hex(const unsigned char *bytes, size_t n, char *out);

/* Streaming: new -> update* -> final (once) -> free. Caller frees with _free (NULL ok). */
typedef struct mtp_sha256_stream mtp_sha256_stream;
int mtp_sha256_stream_new(mtp_sha256_stream **out);
int mtp_sha256_stream_update(mtp_sha256_stream *s, const void *data, size_t n);
int mtp_sha256_stream_final(mtp_sha256_stream *s, unsigned char out[MTP_SHA256_LEN]);
void mtp_sha256_stream_free(mtp_sha256_stream *s);

#endif
