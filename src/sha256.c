#include "sha256.h"

#include <stdlib.h>

#include <openssl/evp.h>

struct mtp_sha256_stream {
    EVP_MD_CTX *ctx;
};

int mtp_sha256_stream_new(mtp_sha256_stream **out)
{
    *out = NULL;
    mtp_sha256_stream *s = calloc(1, sizeof *s);
    if (s == NULL)
        return MTP_ENOMEM;
    s->ctx = EVP_MD_CTX_new();
    if (s->ctx == NULL || EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL) != 1) {
        mtp_sha256_stream_free(s);
        return MTP_ENOMEM;
    }
    *out = s;
    return 0;
}

int mtp_sha256_stream_update(mtp_sha256_stream *s, const void *data, size_t n)
{
    if (n == 0)
        return 0;
    return EVP_DigestUpdate(s->ctx, data, n) == 1 ? 0 : MTP_ENOMEM;
}

int mtp_sha256_stream_final(mtp_sha256_stream *s, unsigned char out[MTP_SHA256_LEN])
{
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(s->ctx, out, &len) != 1 || len != MTP_SHA256_LEN)
        return MTP_ENOMEM;
    return 0;
}

void mtp_sha256_stream_free(mtp_sha256_stream *s)
{
    if (s == NULL)
        return;
    EVP_MD_CTX_free(s->ctx);
    free(s);
}

int mtp_sha256(const void *data, size_t n, unsigned char out[MTP_SHA256_LEN])
{
    mtp_sha256_stream *s = NULL;
    int rc = mtp_sha256_stream_new(&s);
    if (rc == 0)
        rc = mtp_sha256_stream_update(s, data, n);
    if (rc == 0)
        rc = mtp_sha256_stream_final(s, out);
    mtp_sha256_stream_free(s);
    return rc;
}

void mtp_hex(const unsigned char *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

int mtp_sha256_hex(const void *data, size_t n, char out[MTP_SHA256_HEX_SIZE])
{
    unsigned char digest[MTP_SHA256_LEN];
    int rc = mtp_sha256(data, n, digest);
    if (rc == 0)
        mtp_hex(digest, sizeof digest, out);
    else
        out[0] = '\0';
    return rc;
}
