/*
 * net.h — what the HTTP clients (boss.c for BossDB, zenodo.c for Zenodo) share: the
 * process-wide libcurl init, the rule for where a token may be sent, and masking a token in
 * texts a server sent back.
 */
#ifndef MTP_NET_H
#define MTP_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtp/error.h"

/*
 * libcurl's process-wide init and cleanup (curl_global_init is not thread-safe and must not
 * run per handle): the tools call mtp_net_init() once at start, before any thread, and
 * mtp_net_cleanup() once at exit. MTP_ENET if libcurl cannot initialise. A library user that
 * never calls mtp_net_init still works: libcurl then initialises itself on the first handle.
 */
int mtp_net_init(mtp_error *err);
void mtp_net_cleanup(void);

/*
 * Whether `token` may be sent to `url`: always over https, and over plain http only to a
 * loopback host (127.x.y.z, localhost, [::1]), where nobody else can read it. An empty token
 * (nothing secret) may go anywhere.
 */
bool mtp_net_token_may_travel(const char *url, const char *token);

/* The longest wait a Retry-After header may ask for that the clients honour, in seconds. */
#define MTP_NET_RETRY_AFTER_MAX_S 600

/* If the raw header line `line` (n bytes, as libcurl's header callback gets it) is
 * "Retry-After: <seconds>", the seconds (0 < s <= MTP_NET_RETRY_AFTER_MAX_S); else 0. */
double mtp_net_retry_after(const char *line, size_t n);

/* Sleep `ms` milliseconds (nothing if ms <= 0), resumed after a signal: the clients' backoff
 * waits. */
void mtp_net_sleep_ms(int64_t ms);

/* Replace every copy of `secret` in text[0..len) with '*' (a server may echo it). An empty
 * or NULL secret changes nothing. */
void mtp_net_mask(char *text, size_t len, const char *secret);

#endif
