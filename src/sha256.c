#include "mtp/sha256.h"

#include <openssl/evp.h>

int mtp_sha256(const void *data, size_t n, unsigned char out[MTP_SHA256_LEN])
{
    unsigned int len = 0;
    if (EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) != 1 || len != MTP_SHA256_LEN)
        return MTP_ENOMEM; /* OpenSSL fails here only when it cannot allocate */
    return 0;
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
