/*
 * net.c — the HTTP clients' shared rules (net.h): libcurl's global init, where a token may go,
 * masking a token in server texts.
 */
#include "mtp/net.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

int mtp_net_init(mtp_error *err)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return mtp_error_set(err, MTP_ENET, "libcurl initialisation failed");
    return 0;
}

void mtp_net_cleanup(void)
{
    curl_global_cleanup();
}

bool mtp_net_token_may_travel(const char *url, const char *token)
{
    if (token == NULL || token[0] == '\0' || strncmp(url, "http://", 7) != 0)
        return true;
    const char *host = url + 7;
    size_t len = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":/");
    if (len == 9 && strncmp(host, "localhost", 9) == 0)
        return true;
    if (len == 5 && strncmp(host, "[::1]", 5) == 0)
        return true;
    if (strncmp(host, "127.", 4) != 0)
        return false;
    for (size_t i = 4; i < len; i++)
        if (!(host[i] == '.' || (host[i] >= '0' && host[i] <= '9')))
            return false;
    return true;
}

double mtp_net_retry_after(const char *line, size_t n)
{
    if (n <= 12 || strncasecmp(line, "Retry-After:", 12) != 0)
        return 0;
    char num[32];
    size_t k = n - 12 < sizeof num - 1 ? n - 12 : sizeof num - 1;
    memcpy(num, line + 12, k);
    num[k] = '\0';
    double s = strtod(num, NULL);
    return s > 0 && s <= MTP_NET_RETRY_AFTER_MAX_S ? s : 0;
}

void mtp_net_mask(char *text, size_t len, const char *secret)
{
    size_t slen = secret != NULL ? strlen(secret) : 0;
    if (slen == 0 || text == NULL)
        return;
    for (size_t i = 0; i + slen <= len; i++)
        if (memcmp(text + i, secret, slen) == 0)
            memset(text + i, '*', slen);
}

void mtp_net_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
