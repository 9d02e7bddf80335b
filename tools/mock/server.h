/*
 * server.h — bossdb-mock's HTTP server (libmicrohttpd): routes.h over real HTTP, with a
 * small cache of cutout bodies, deterministic fault injection and a request log.
 *
 * Binds 127.0.0.1 only. One thread per connection, keep-alive, so several clients can
 * stream at once. At most two cutout bodies are generated at the same time (the rest
 * wait), which bounds memory and CPU.
 *
 * Auth: no Authorization header, "Token public" and "Token <token>" (when a token is
 * configured) are accepted; any other value is a wrong token (see routes.h for the
 * answer). The header's value is never stored or logged.
 *
 * Faults (only for cutouts that would succeed, one draw per request, see faults.h):
 *   429 -> JSON 429 code 3004; 500 -> HTML 500; 502/503/504 -> load-balancer HTML;
 *   reset -> the connection is closed without a response;
 *   truncate -> 200 announcing the full Content-Length, half the body, then the
 *     connection is closed;
 *   corrupt -> 200 with a blosc body whose header lies: either nbytes is halved (body
 *     otherwise intact) or the last tenth of the body is cut off with a Content-Length
 *     that matches the cut body, so cbytes no longer equals the length (the draw picks);
 *   slow -> 200 whose body stalls for slow_ms after its first min(4096, len/2) bytes;
 *   redirect -> 302 with Location http://127.0.0.2:9/moved<path>?token=<presented token>;
 *   204 -> 204 with no body; 206 -> 206 with a short body;
 *   bigheader -> 200 with the body and a 256 KiB X-Padding header (over libcurl's cap).
 * delay_ms is added before every response.
 * echo_token: a request with a wrong token gets 403 {"status": 403, "code": 3000,
 * "message": "Invalid Token <token>"} and the header X-Echo-Token: <token> (tests check that
 * the client never shows it).
 *
 * Log (when log_path is set): one JSON object per line per request, flushed per line:
 *   {"method","path","query","status","fault","bytes","accept","user_agent","auth"}
 * with query "" when absent, status null for a reset, fault a kind name or null, bytes
 * the body bytes sent or planned, accept/user_agent null when absent, auth whether an
 * Authorization header was present.
 */
#ifndef MTP_SERVER_H
#define MTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtp/error.h"
#include "faults.h"

typedef struct mtp_mock_options {
    unsigned port;           /* 0: any free port */
    uint64_t seed;           /* data and fault draws */
    const char *token;       /* an extra accepted token, or NULL (copied) */
    double fail_rate;        /* [0, 1] */
    unsigned fail_kinds;     /* mask of mtp_fault bits */
    unsigned delay_ms;       /* added to every response */
    unsigned slow_ms;        /* the stall of a "slow" fault */
    const char *log_path;    /* NULL: no log (appended to, created if missing) */
    size_t cache_bytes;      /* total size of cached cutout bodies; the cache also holds at
                              * most max(32, cache_bytes / 256 KiB) bodies */
    bool echo_token;         /* a wrong token is answered 403 with the token in the message
                              * and in an X-Echo-Token header, as a careless server might */
    unsigned max_inflight;   /* a busy server: cutouts beyond this many at once answer 503 with
                              * Retry-After: 1 (0: no limit) */
    unsigned bandwidth_mbps; /* a total rate cap on cutout bodies, shared by all connections,
                              * in megabits per second (0: none) */
    uint64_t cutout_cap;     /* answer 413 to cutouts over this many bytes (weighed as the
                              * server does; 0: the real server's 500 MB) */
} mtp_mock_options;

#define MTP_MOCK_OPTIONS_INIT                                                                      \
    {                                                                                              \
        .fail_kinds = MTP_FAULT_TRANSIENT, .slow_ms = 10000, .cache_bytes = 256u << 20,            \
        .echo_token = false                                                                        \
    }

typedef struct mtp_mock mtp_mock;

/*
 * Start serving on a new thread; *out is the running server (stop and free it with
 * mtp_mock_free), NULL on failure. MTP_EINVAL for bad options, MTP_EIO when the log
 * cannot be opened, MTP_ENET when the port cannot be bound.
 */
int mtp_mock_start(mtp_mock **out, const mtp_mock_options *options, mtp_error *err);

/* The port actually bound. */
unsigned mtp_mock_port(const mtp_mock *mock);

/*
 * The cutout-body cache right now: bodies held, their total bytes, and the number of
 * entries it can hold (for tests and for sizing --cache-mb).
 */
void mtp_mock_cache_usage(mtp_mock *mock, size_t *entries, size_t *bytes, size_t *slots);

/* Stop serving (in-flight stalls end early), close the log, free everything. Accepts NULL. */
void mtp_mock_free(mtp_mock *mock);

#endif
