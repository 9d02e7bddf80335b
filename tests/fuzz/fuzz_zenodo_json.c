/* fuzz_zenodo_json.c — what a Zenodo server answers, on any body (the first byte picks the
 * parser): a deposition, a deposition's file list, and an error body described for a message
 * (which must never contain the token, whatever the server echoes). */
#include <stdlib.h>
#include <string.h>

#include "mtp/zenodo.h"
#include "fuzz.h"

#define TOKEN "s3cretZenodoToken"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size - 1 > MTP_ZENODO_ANSWER_MAX)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    mtp_error err = MTP_ERROR_INIT;
    switch (data[0] % 3) {
    case 0: {
        mtp_zenodo_deposit dep;
        mtp_zenodo_parse_deposit(text, len, "GET /api/deposit/depositions/1", &dep, &err);
        break;
    }
    case 1: {
        mtp_zenodo_file *files = NULL;
        int n = 0;
        if (mtp_zenodo_parse_files(text, len, "GET /files", &files, &n, &err) == 0 && n > 0 &&
            strlen(files[n - 1].md5) != 32)
            abort();
        free(files);
        break;
    }
    default: {
        /* Cut short, the line is the start of the whole one (masking happens before the cut,
         * so no start of a token survives at the end; the last 3 bytes may differ where a
         * UTF-8 sequence was cut and became '?'). */
        char whole[900], line[900];
        mtp_zenodo_describe_refusal(text, len, TOKEN, whole, sizeof whole);
        mtp_zenodo_describe_refusal(text, len, TOKEN, line, 1 + data[0] % sizeof line);
        size_t cut = strlen(line);
        if (strstr(whole, TOKEN) != NULL || strstr(line, TOKEN) != NULL ||
            (cut > 3 && strncmp(line, whole, cut - 3) != 0))
            abort();
        break;
    }
    }
    return 0;
}
