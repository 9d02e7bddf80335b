#include "mtp/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "mtp/sha256.h"

#define CHUNK_SIZE ((size_t)1 << 20)

struct mtp_digest_ctx {
    EVP_MD_CTX *sha256;
    EVP_MD_CTX *md5;
    uint64_t size;
};

void mtp_digest_free(mtp_digest_ctx *ctx)
{
    if (ctx == NULL)
        return;
    EVP_MD_CTX_free(ctx->sha256);
    EVP_MD_CTX_free(ctx->md5);
    free(ctx);
}

int mtp_digest_begin(mtp_digest_ctx **out, mtp_error *err)
{
    *out = NULL;
    mtp_digest_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "digest: out of memory");
    ctx->sha256 = EVP_MD_CTX_new();
    ctx->md5 = EVP_MD_CTX_new();
    /* MD5 lives in OpenSSL's default provider; a FIPS-only setup refuses it here. */
    if (ctx->sha256 == NULL || ctx->md5 == NULL ||
        EVP_DigestInit_ex(ctx->sha256, EVP_sha256(), NULL) != 1 ||
        EVP_DigestInit_ex(ctx->md5, EVP_md5(), NULL) != 1) {
        mtp_digest_free(ctx);
        return mtp_error_set(err, MTP_ENOMEM, "digest: cannot initialise SHA-256/MD5");
    }
    *out = ctx;
    return 0;
}

int mtp_digest_update(mtp_digest_ctx *ctx, const void *data, size_t len, mtp_error *err)
{
    if (len == 0)
        return 0;
    if (EVP_DigestUpdate(ctx->sha256, data, len) != 1 || EVP_DigestUpdate(ctx->md5, data, len) != 1)
        return mtp_error_set(err, MTP_ENOMEM, "digest: update failed");
    ctx->size += len;
    return 0;
}

int mtp_digest_end(mtp_digest_ctx *ctx, mtp_digest *out, mtp_error *err)
{
    int rc = 0;
    unsigned char sha[EVP_MAX_MD_SIZE], md5[EVP_MAX_MD_SIZE];
    unsigned int sha_len = 0, md5_len = 0;
    if (EVP_DigestFinal_ex(ctx->sha256, sha, &sha_len) != 1 ||
        EVP_DigestFinal_ex(ctx->md5, md5, &md5_len) != 1 || sha_len != MTP_SHA256_LEN ||
        md5_len != 16) {
        rc = mtp_error_set(err, MTP_ENOMEM, "digest: finalisation failed");
        goto out;
    }
    mtp_hex(sha, sha_len, out->sha256);
    mtp_hex(md5, md5_len, out->md5);
    out->size = ctx->size;
out:
    mtp_digest_free(ctx);
    return rc;
}

int mtp_digest_buffer(const void *data, size_t len, mtp_digest *out)
{
    mtp_digest_ctx *ctx = NULL;
    int rc = mtp_digest_begin(&ctx, NULL);
    if (rc < 0)
        return rc;
    rc = mtp_digest_update(ctx, data, len, NULL);
    if (rc < 0) {
        mtp_digest_free(ctx);
        return rc;
    }
    return mtp_digest_end(ctx, out, NULL);
}

int mtp_digest_file(const char *path, mtp_digest *out, mtp_error *err)
{
    int rc = 0;
    int fd = -1;
    unsigned char *chunk = NULL;
    mtp_digest_ctx *ctx = NULL;

    fd = open(path, O_RDONLY);
    if (fd < 0) {
        rc = mtp_error_set(err, MTP_EIO, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = mtp_error_set(err, MTP_EIO, "%s: cannot stat: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = mtp_error_set(err, MTP_EFORMAT, "%s: not a regular file", path);
        goto out;
    }
    chunk = malloc(CHUNK_SIZE);
    if (chunk == NULL) {
        rc = mtp_error_set(err, MTP_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    rc = mtp_digest_begin(&ctx, err);
    if (rc < 0)
        goto out;
    for (;;) {
        ssize_t got = read(fd, chunk, CHUNK_SIZE);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = mtp_error_set(err, MTP_EIO, "%s: read failed: %s", path, strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        rc = mtp_digest_update(ctx, chunk, (size_t)got, err);
        if (rc < 0)
            goto out;
    }
    rc = mtp_digest_end(ctx, out, err);
    ctx = NULL; /* freed by mtp_digest_end either way */
out:
    mtp_digest_free(ctx);
    free(chunk);
    if (fd >= 0)
        close(fd);
    return rc;
}

static int is_lower_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int mtp_digest_sums_line(char *buf, size_t n, const char *hex, const char *name, mtp_error *err)
{
    if (n > 0)
        buf[0] = '\0';
    size_t hex_len = strlen(hex);
    if ((hex_len != MTP_SHA256_HEX_LEN && hex_len != MTP_MD5_HEX_LEN) ||
        !is_lower_hex(hex, hex_len))
        return mtp_error_set(err, MTP_EINVAL, "%s: digest is not 32 or 64 lowercase hex digits",
                             name);
    if (name[0] == '\0')
        return mtp_error_set(err, MTP_EINVAL, "empty file name in checksum list");
    /* coreutils writes such names escaped with a leading '\\'; older readers and other
     * tools mis-handle that, so the release simply never contains them. */
    if (strpbrk(name, "\n\r\\") != NULL)
        return mtp_error_set(err, MTP_EFORMAT,
                             "file name with a newline or backslash cannot be listed in a "
                             "checksum file");
    int len = snprintf(buf, n, "%s  %s\n", hex, name);
    if (len < 0 || (size_t)len >= n) {
        if (n > 0)
            buf[0] = '\0';
        return mtp_error_set(err, MTP_ERANGE, "%s: checksum line longer than %zu bytes", name,
                             n > 0 ? n - 1 : 0);
    }
    return 0;
}
