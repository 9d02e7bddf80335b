/* fuzz_net.c — the header and URL texts both clients judge: a Retry-After header line (the
 * wait must be 0 or in (0, MTP_NET_RETRY_AFTER_MAX_S]), whether a token may travel to a URL,
 * and the masking of a secret in a server's text (no copy may survive). The first byte picks
 * the check. */
#include <stdlib.h>
#include <string.h>

#include "mtp/net.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    char *text = malloc(size);
    if (text == NULL)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    switch (data[0] % 3) {
    case 0: {
        double s = mtp_net_retry_after(text, size - 1);
        if (!(s == 0.0 || (s > 0.0 && s <= MTP_NET_RETRY_AFTER_MAX_S)))
            abort();
        break;
    }
    case 1:
        mtp_net_token_may_travel(text, "secret");
        break;
    default: {
        /* The secret is the text's first line, masked in the rest. A secret with the mask
         * character '*' in it can be re-formed from a masked copy and a neighbour ("o*" in
         * "oo*" gives "o**"): no token has one, so such secrets are not checked. */
        char *nl = strchr(text, '\n');
        if (nl == NULL || nl == text)
            break;
        *nl = '\0';
        if (strchr(text, '*') != NULL)
            break;
        char *rest = nl + 1;
        mtp_net_mask(rest, strlen(rest), text);
        if (strstr(rest, text) != NULL)
            abort();
        break;
    }
    }
    free(text);
    return 0;
}
