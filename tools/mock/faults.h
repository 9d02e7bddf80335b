/*
 * faults.h — which fault bossdb-mock injects into a cutout response, decided
 * deterministically.
 *
 * Each cutout request that would otherwise succeed gets one draw from a hash of
 * (seed, request path, n) where n is how many times this exact path was requested before.
 * A retried request therefore gets a fresh draw, and a run is reproducible whatever the
 * order in which threads happen to serve it.
 */
#ifndef MTP_FAULTS_H
#define MTP_FAULTS_H

#include <stdint.h>

#include "mtp/error.h"

typedef enum mtp_fault {
    MTP_FAULT_NONE = -1,
    MTP_FAULT_429 = 0,      /* JSON 429 code 3004 (throttled) */
    MTP_FAULT_500 = 1,      /* HTML 500 (server crash) */
    MTP_FAULT_502 = 2,      /* HTML 502 from the load balancer */
    MTP_FAULT_503 = 3,      /* HTML 503 from the load balancer */
    MTP_FAULT_504 = 4,      /* HTML 504 from the load balancer */
    MTP_FAULT_RESET = 5,    /* connection closed without any response */
    MTP_FAULT_TRUNCATE = 6, /* 200, full Content-Length announced, connection closed mid-body */
    MTP_FAULT_CORRUPT = 7,  /* 200 blosc body whose header sizes lie */
    MTP_FAULT_SLOW = 8,     /* 200 body that stalls mid-way */
    /* Answers a hostile or misconfigured server gives (not retryable; only when named): */
    MTP_FAULT_REDIRECT = 9,    /* 302 to another host, the presented token in the query */
    MTP_FAULT_NO_CONTENT = 10, /* 204, no body */
    MTP_FAULT_PARTIAL = 11,    /* 206 with the body */
    MTP_FAULT_BIG_HEADER = 12, /* 200 whose header block is 256 KiB (one huge header) */
    MTP_FAULT_COUNT = 13,
} mtp_fault;

/* Every kind (the parser's mask for "all" is the caller's business). */
#define MTP_FAULT_ALL ((1u << MTP_FAULT_COUNT) - 1u)
/* The transient kinds a client retries (429 ... slow). */
#define MTP_FAULT_TRANSIENT ((1u << (MTP_FAULT_SLOW + 1)) - 1u)

/* "429", "500", "502", "503", "504", "reset", "truncate", "corrupt", "slow", "redirect",
 * "204", "206", "bigheader"; NULL for NONE or an unknown value. */
const char *mtp_fault_name(mtp_fault fault);

/*
 * Parse a comma-separated list of fault names into a bit mask (bit k = mtp_fault k).
 * MTP_ECONFIG naming the first unknown or empty item; an empty list is an error too.
 */
int mtp_fault_parse_kinds(const char *list, unsigned *mask, mtp_error *err);

/*
 * The draw for the n-th (from 0) request of `path`: MTP_FAULT_NONE with probability
 * 1 - rate, else one of the kinds in `mask`, uniformly. rate <= 0 or an empty mask never
 * faults; rate >= 1 always does. *variant (if not NULL) gets 64 more bits of the same
 * draw, used to pick how a fault is shaped.
 */
mtp_fault mtp_fault_draw(uint64_t seed, const char *path, uint64_t n, double rate, unsigned mask,
                         uint64_t *variant);

/* Thread-safe count of requests per path. */
typedef struct mtp_fault_counter mtp_fault_counter;

/* A new, empty counter in *out (caller frees with mtp_fault_counter_free). MTP_ENOMEM. */
int mtp_fault_counter_new(mtp_fault_counter **out, mtp_error *err);

/* How many times `path` was counted before, counting this one (0 the first time). When
 * memory runs out the path is not remembered and 0 is returned. */
uint64_t mtp_fault_counter_next(mtp_fault_counter *counter, const char *path);

void mtp_fault_counter_free(mtp_fault_counter *counter);

#endif
