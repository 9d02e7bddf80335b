/*
 * boss.h — the BossDB client (reference/bossdb-api.md): URLs, metadata, cutout transfers.
 *
 * One mtp_boss handle owns a libcurl multi handle and a small pool of easy handles, so
 * connections are kept alive across requests. Every request carries
 * `Authorization: Token <token>` and a `User-Agent`; cutouts also `Accept:
 * application/blosc` and `?access-mode=no-cache`. TLS certificates are always verified.
 *
 * Errors:
 * - MTP_ESERVER: the server refused (400, 401, 403, 404, or 413 on a block that cannot
 *   be split). The message names the method, the URL (never the token), the status, the
 *   Boss code and the server's message: `GET URL: 404 (code 4000): Experiment x not found`.
 * - MTP_ENET: a request failed after every retry (transport errors, stalls, corrupt
 *   bodies, 429, 500, 502, 503, 504); the message names the block and the last error.
 * - MTP_ECORRUPT: a metadata response that is not the JSON we need (after retries).
 * - MTP_ECANCEL: the caller's tick callback asked to stop.
 * The token never appears in any message.
 *
 * Not thread-safe: one handle is used by one thread at a time.
 */
#ifndef MTP_BOSS_H
#define MTP_BOSS_H

#include <stddef.h>
#include <stdint.h>

#include "mtp/config.h"
#include "mtp/error.h"
#include "mtp/types.h"

typedef struct mtp_boss mtp_boss;

#define MTP_BOSS_USER_AGENT "mtneuro-pack/" MTP_VERSION
#define MTP_BOSS_META_MAX (1024 * 1024) /* cap on a metadata response body */
#define MTP_BOSS_ERROR_BODY_MAX 65536   /* cap on an error body kept for its message */
/* Cap on a response's headers (all lines together). */
#define MTP_BOSS_HEADER_MAX (64 * 1024)
/* A transfer slower than this many bytes/s for min(timeout_s / 4, 30) seconds (at least 1)
 * is a stall, retried within the block's deadline. */
#define MTP_BOSS_STALL_BYTES 1024L
/* Memory: blocks in flight at once are also bounded by their decoded sizes, in bytes (one
 * block is always allowed), whatever the concurrency limit says. */
#define MTP_BOSS_INFLIGHT_MAX ((size_t)96 << 20)

typedef struct mtp_boss_options {
    const char *url;    /* scheme://host[:port], no trailing slash (copied) */
    const char *token;  /* sent as `Authorization: Token <token>` (copied, never shown) */
    int jobs;           /* concurrent cutout transfers at the start, 1..max_jobs */
    int max_jobs;       /* the adaptive concurrency never goes above this, jobs..MTP_MAX_JOBS */
    int retries;        /* retries per block (and per metadata request) */
    int timeout_s;      /* deadline of one block (or metadata request): its whole sequence of
                         * attempts and backoffs ends within this many seconds */
    int backoff_ms;     /* first retry delay (before jitter) */
    int backoff_max_ms; /* cap on the delay (before jitter) */
    uint64_t seed;      /* seeds the jitter PRNG */
} mtp_boss_options;

#define MTP_BOSS_OPTIONS_INIT                                                                      \
    {                                                                                              \
        .url = NULL, .token = "public", .jobs = 4, .max_jobs = 16, .retries = 8, .timeout_s = 120, \
        .backoff_ms = 500, .backoff_max_ms = 60000, .seed = 1                                      \
    }

/* Fill url, token, jobs, retries, timeout_s, backoff_ms, backoff_max_ms from the config. */
void mtp_boss_options_from_source(mtp_boss_options *opt, const mtp_source *src);

/*
 * Create a client. Strings in `opt` are copied. MTP_EINVAL if an option is out of range
 * or the URL/token contains control characters; MTP_ECONFIG "<url>: refusing to send a token
 * over plain http to a host that is not this machine (...)" for a token other than "public"
 * and an http:// URL whose host is not 127.0.0.0/8, [::1] or localhost (nothing is sent);
 * MTP_ENOMEM; MTP_ENET if a libcurl handle cannot be set up. Caller frees *out with
 * mtp_boss_free (NULL on failure).
 *
 * What a server sends is never shown as it is: every copy of the token in a body, an error
 * message, a header value (a redirect's Location) is masked with '*' before it reaches a
 * message, a parser or a file; a redirect is named without its query string.
 */
int mtp_boss_new(mtp_boss **out, const mtp_boss_options *opt, mtp_error *err);
void mtp_boss_free(mtp_boss *boss);

/* ---- URLs ------------------------------------------------------------------------------
 * Each writes a NUL-terminated URL into buf (size n). Names must be non-empty and made of
 * [A-Za-z0-9_.-] (not "." or ".."), else MTP_EINVAL; MTP_ERANGE if buf is too small. */
int mtp_boss_experiment_url(char *buf, size_t n, const char *url, const char *coll, const char *exp,
                            mtp_error *err);
int mtp_boss_coord_url(char *buf, size_t n, const char *url, const char *frame, mtp_error *err);
int mtp_boss_channel_url(char *buf, size_t n, const char *url, const char *coll, const char *exp,
                         const char *chan, mtp_error *err);
/* {url}/v1/cutout/{coll}/{exp}/{chan}/{res}/{x0}:{x1}/{y0}:{y1}/{z0}:{z1}/?access-mode=no-cache
 * MTP_EINVAL also for an empty or negative box or res outside 0..9. */
int mtp_boss_cutout_url(char *buf, size_t n, const char *url, const char *coll, const char *exp,
                        const char *chan, int res, const mtp_box *box, mtp_error *err);

/* ---- metadata ------------------------------------------------------------------------- */

/* What the server says about one channel, its experiment and its coordinate frame. */
typedef struct mtp_channel_meta {
    char type[16];                  /* channel type: "image" | "annotation" ("" if absent) */
    char datatype[16];              /* the server's datatype string, e.g. "uint8" */
    mtp_dtype dtype;                /* parsed datatype (UNKNOWN if not one we read) */
    int base_resolution;            /* channel; 0 if absent */
    int num_hierarchy_levels;       /* experiment */
    int isotropic;                  /* experiment hierarchy_method == "isotropic" */
    char coord_frame[MTP_NAME_MAX]; /* experiment's frame name */
    mtp_box frame;                  /* frame extents at level 0 (stops exclusive) */
    double voxel_size[3];           /* x, y, z at level 0 */
    char voxel_unit[32];            /* "nanometers" | "micrometers" | ... */
} mtp_channel_meta;

/*
 * Fetch and check the experiment, coordinate frame and channel of `ch`:
 * GET /v1/collection/{c}/experiment/{e}/, /v1/coord/{frame}/,
 * /v1/collection/{c}/experiment/{e}/channel/{ch}/ (retrying transient failures).
 * MTP_ESERVER with the server's message on 4xx; MTP_ECORRUPT if a body is not what the
 * parsers below accept.
 */
int mtp_boss_channel_meta(mtp_boss *boss, const mtp_channel *ch, mtp_channel_meta *out,
                          mtp_error *err);

/*
 * Ask for the metadata of channels chs[0..n) all at once, so that the mtp_boss_channel_meta
 * calls that follow find the answers already there instead of making one round trip each
 * (on a distant server, 6 sequential GETs for the demo's 3 channels become 2 rounds): the
 * experiments and channels in one parallel round, then the coordinate frames the
 * experiments name. One attempt per URL; every 200 is remembered by URL (token masked).
 * Failures are not reported here: mtp_boss_channel_meta asks again, with the retry policy,
 * and reports them.
 */
void mtp_boss_prefetch_meta(mtp_boss *boss, const mtp_channel *const *chs, int n);

/*
 * The parsers behind mtp_boss_channel_meta, each filling its part of *out from one JSON
 * body (text, len bytes; len <= MTP_BOSS_META_MAX). Unknown keys are ignored; required
 * keys: experiment coord_frame, num_hierarchy_levels (1..32); coord x/y/z_start/stop
 * (0 <= start < stop <= 2^40), x/y/z_voxel_size (> 0), voxel_unit; channel datatype.
 * Optional: experiment hierarchy_method (default anisotropic), channel type and
 * base_resolution (0..9, default 0). MTP_ECORRUPT naming the key otherwise.
 */
int mtp_boss_parse_experiment_json(const char *text, size_t len, mtp_channel_meta *out,
                                   mtp_error *err);
int mtp_boss_parse_coord_json(const char *text, size_t len, mtp_channel_meta *out, mtp_error *err);
int mtp_boss_parse_channel_json(const char *text, size_t len, mtp_channel_meta *out,
                                mtp_error *err);

/*
 * Describe an error response in buf: "404 (code 4000): Channel x not found" for a Boss
 * JSON error, "401: Invalid token." for {"detail": ...}, and just "502" for other bodies.
 * The server's text is cut at 300 characters and control characters become spaces.
 */
void mtp_boss_describe_error(char *buf, size_t n, long status, const char *body, size_t len);

/* ---- retry policy --------------------------------------------------------------------- */

typedef enum mtp_boss_action {
    MTP_BOSS_DONE = 0, /* 200: use the body */
    MTP_BOSS_RETRY,    /* 429, 500, 502, 503, 504 (and transport errors, corrupt bodies) */
    MTP_BOSS_SPLIT,    /* 413: cut the block in two */
    MTP_BOSS_FATAL,    /* any other status: 204, 206, 3xx (not followed), 400, 401, ... */
} mtp_boss_action;

/* What to do with a response of HTTP `status`. */
mtp_boss_action mtp_boss_classify(long status);

/*
 * The delay before retry number `attempt` (0 for the first retry):
 * min(backoff_max_ms, backoff_ms * 2^attempt) * uniform(0.5, 1.0), in milliseconds, with
 * the uniform drawn from the splitmix64 state *rng (advanced).
 */
int64_t mtp_boss_backoff_ms(int backoff_ms, int backoff_max_ms, int attempt, uint64_t *rng);

/*
 * Where to cut a box that the server found too big (413): along its longest axis
 * (x, then y, then z on ties), at the 512 (x, y) or 16 (z) cuboid boundary nearest the
 * middle when one lies strictly inside, else at the middle. Returns 0 and the halves in
 * a and b; MTP_ERANGE if the box is a single voxel.
 */
int mtp_boss_split_box(const mtp_box *box, mtp_box *a, mtp_box *b);

/* ---- cutouts -------------------------------------------------------------------------- */

/* One block to download. */
typedef struct mtp_cutout {
    const mtp_channel *channel; /* borrowed: collection, experiment, channel names */
    int resolution;
    mtp_dtype dtype; /* the channel's dtype (from its metadata) */
    mtp_box box;
} mtp_cutout;

typedef struct mtp_cutout_handler {
    /*
     * Cutout `index` is complete: `data` holds its nbytes decoded voxels in (z, y, x)
     * C order, borrowed until the call returns: nbytes = voxels x the dtype's size, or,
     * with `narrow` set, nbytes = voxels for a uint16/uint64 cutout whose every value is
     * <= 255 (one byte per voxel). Return 0 to go on, or a negative MTP_E* code (filling
     * err) to stop everything with that error.
     */
    int (*done)(void *userdata, size_t index, const void *data, size_t nbytes, mtp_error *err);
    /* Optional: one line about an event (a retry, a split). */
    void (*note)(void *userdata, const char *line);
    /* Optional: called about every 100 ms; return nonzero to cancel (MTP_ECANCEL). */
    int (*tick)(void *userdata);
    void *userdata;
    /* Nonzero: wide cutouts whose values all fit in a byte arrive as bytes (decoded a
     * blosc block at a time, mtp_codec_decode_u8; much cheaper than 8-byte values). Only
     * cutouts that came in one response; one split by a 413 arrives wide. */
    int narrow;
} mtp_cutout_handler;

/* Counters since the handle was created. */
typedef struct mtp_boss_stats {
    uint64_t requests;      /* HTTP requests started (metadata and cutouts) */
    uint64_t retries;       /* requests repeated after a retryable failure */
    uint64_t splits;        /* 413s answered (each tightens the learned cap) */
    uint64_t bytes_body;    /* bytes of successful cutout bodies received */
    uint64_t bytes_decoded; /* decoded bytes delivered to done() */
    /* Adaptive concurrency (mtp_boss_cutouts): the current and the highest limit on
     * transfers in flight, the answers that said the server is loaded (429, 503, timeouts
     * and stalls), and how often the limit was halved for them. */
    uint64_t concurrency, peak_concurrency, busy, throttles;
} mtp_boss_stats;

void mtp_boss_get_stats(const mtp_boss *boss, mtp_boss_stats *out);

/*
 * Download `n` cutouts on the multi handle, in the given order, with an adaptive number of
 * transfers at once (memory: per transfer one body buffer capped at the block's decoded
 * size + 16 bytes, plus the decoded block; at most opt.max_jobs blocks in flight):
 * - it starts at opt.jobs (or where the previous call on this client ended), doubles while
 *   the completed-bytes throughput rises by 10 % per 0.5 s window, and never goes above
 *   opt.max_jobs;
 * - a sign of load (429, 503, a timeout or a stall) halves it, at most once a second; from
 *   then on it grows by one per window (additive increase) until the next sign;
 * - a Retry-After header sets the least wait before the part is asked for again;
 * - the blocks in flight also stay within MTP_BOSS_INFLIGHT_MAX decoded bytes (memory).
 * The output does not depend on any of it (blocks are delivered whole, in any order).
 * Each body is checked with mtp_codec_decode before it is used; a body longer than that cap
 * is corrupt and aborted, whatever its Content-Length says. Retries wait their backoff
 * without holding up other transfers. A 413 teaches the client the server's cap, in the
 * bytes the server counts (mtp_cutout_weight), for every dtype: from then on (this and later
 * calls) every part is cut in halves (mtp_boss_split_box, the halves assembled into the
 * block) to at most half the lightest refused weight before it is asked for, and a part
 * heavier than any answered 200 goes out alone, so each further 413 halves the bound.
 * Parts over a quarter of MTP_SERVER_CUTOUT_CAP go out alone from the start.
 * done() is called once per cutout as soon as it is complete, in completion order.
 * Returns 0 when all are done; on the first fatal error stops every transfer and returns
 * it (MTP_ESERVER, MTP_ENET, MTP_ECANCEL, or done()'s code) naming the block.
 */
int mtp_boss_cutouts(mtp_boss *boss, const mtp_cutout *cutouts, size_t n,
                     const mtp_cutout_handler *handler, mtp_error *err);

/* "prasad2020/image x[4600,4608) y[900,1024) z[110,128)" for messages. */
void mtp_boss_describe_block(char *buf, size_t n, const mtp_channel *ch, const mtp_box *box);

#endif
