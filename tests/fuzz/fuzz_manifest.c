/*
 * fuzz_manifest.c — the release reader of `verify`: the input becomes manifest.json (and,
 * after a NUL byte, SHA256SUMS and MD5SUMS) of an otherwise empty release directory, which
 * mtp_verify then checks.
 */
#include <string.h>

#include "fuzz.h"
#include "mtp/verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t manifest_len = nul != NULL ? (size_t)(nul - data) : size;
    if (fuzz_write_file(0, "manifest.json", data, manifest_len) == NULL)
        return 0;
    const uint8_t *sums = nul != NULL ? nul + 1 : (const uint8_t *)"";
    size_t sums_len = nul != NULL ? size - manifest_len - 1 : 0;
    if (fuzz_write_file(1, "SHA256SUMS", sums, sums_len) == NULL ||
        fuzz_write_file(2, "MD5SUMS", sums, sums_len) == NULL)
        return 0;
    mtp_verify_result result;
    mtp_error err = MTP_ERROR_INIT;
    mtp_verify(fuzz_tmpdir(), NULL, NULL, &result, &err);
    return 0;
}
