/* fuzz_channel_meta.c — a channel-meta.txt record of the cache (FORMAT.md §5.3), which
 * build --offline trusts instead of the server: decoded, and when it decodes, encoded again
 * and decoded to the same record. */
#include <stdlib.h>
#include <string.h>

#include "mtp/fetch.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MTP_CACHE_RECORD_MAX)
        return 0;
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    mtp_channel_meta a, b;
    memset(&a, 0, sizeof a);
    mtp_error err = MTP_ERROR_INIT;
    if (mtp_fetch_meta_decode(text, &a, &err) == 0) {
        char again[MTP_CACHE_RECORD_MAX + 1];
        int len = mtp_fetch_meta_encode(&a, again, sizeof again);
        memset(&b, 0, sizeof b);
        if (len < 0 || mtp_fetch_meta_decode(again, &b, &err) != 0 || memcmp(&a, &b, sizeof a) != 0)
            abort();
    }
    free(text);
    return 0;
}
