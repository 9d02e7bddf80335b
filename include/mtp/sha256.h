/*
 * sha256.h — SHA-256 of a buffer (OpenSSL EVP underneath, hidden here), and hex output.
 * Whole files (SHA-256 together with MD5, streamed) are digest.h's.
 *
 * Errors: MTP_ENOMEM when OpenSSL cannot set up a digest (it fails only on allocation).
 */
#ifndef MTP_SHA256_H
#define MTP_SHA256_H

#include <stddef.h>

#include "mtp/error.h"

#define MTP_SHA256_LEN 32      /* digest bytes */
#define MTP_SHA256_HEX_SIZE 65 /* buffer size: 64 lowercase hex digits + NUL */

/* The digest of data[0..n) in out (32 bytes). */
int mtp_sha256(const void *data, size_t n, unsigned char out[MTP_SHA256_LEN]);

/* The same as lowercase hex, NUL-terminated, in out (65 bytes). */
int mtp_sha256_hex(const void *data, size_t n, char out[MTP_SHA256_HEX_SIZE]);

/* Write n bytes as lowercase hex plus NUL into out (2n + 1 bytes). */
void mtp_hex(const unsigned char *bytes, size_t n, char *out);

#endif
