/*
 * boss.c — the BossDB client: the handle, the cutout engine, and what makes a server's words
 * safe to show (the metadata requests are boss_meta.c, the protocol without I/O boss_proto.c,
 * what they share boss_transport.h). See boss.h for the contract.
 *
 * Cutouts run on one libcurl multi handle with a fixed pool of easy handles (one per
 * job) that are reused, so libcurl keeps their connections alive. Work is a queue of
 * "parts": a part is a box of one block (the whole block, or a piece after a 413 split)
 * with a time before which it must not start (its retry backoff). Waiting parts hold no
 * easy handle, so a backoff never stalls the other transfers.
 */
#include "boss_transport.h"
#include "mtp/net.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mtp/codec.h"

#define KEEP_BODY_BYTES ((size_t)1 << 20) /* a transfer slot keeps a body buffer up to this */
/* Adaptive concurrency (mtp_boss_cutouts): the throughput is measured over windows of
 * WINDOW_S. Until the first sign of load the limit doubles while the throughput rises by
 * GROWTH; after one it grows by one per window; a sign of load (429, 503, a timeout or
 * stall) halves it, at most once per CUT_HOLD_S. */
#define WINDOW_S 0.5
#define GROWTH 1.10
#define CUT_HOLD_S 1.0

/* ---- small helpers -------------------------------------------------------------------- */

double mtp_boss_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool has_control_chars(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            return true;
    return false;
}

/* ---- what the server said, made safe to show -------------------------------------------- */

/* The token this client sends ("" for the public one, which is no secret). */
static const char *secret_token(const mtp_boss *b)
{
    const char *token = b->auth_header + strlen("Authorization: Token ");
    return strcmp(token, "public") == 0 ? "" : token;
}

/* Mask every copy of the token in `text` (which came from the server) with '*'. */
void mtp_boss_scrub(const mtp_boss *b, char *text, size_t len)
{
    mtp_net_mask(text, len, secret_token(b));
}

static const char *status_name(long status)
{
    switch (status) {
    case 201:
        return " (Created)";
    case 202:
        return " (Accepted)";
    case 203:
        return " (Non-Authoritative Information)";
    case 204:
        return " (No Content)";
    case 205:
        return " (Reset Content)";
    case 206:
        return " (Partial Content)";
    default:
        return "";
    }
}

/* The reason an answer of `status` is not used, for messages: the server's own error text,
 * a redirect with its target (without the query, which may hold a signature or a token),
 * or the name of an unexpected status. The token never survives into `buf`: `body` (the
 * whole error body, which this masks in place) and the target are masked before anything
 * is cut to length, so no part of a token at a cut survives either. */
void mtp_boss_describe_answer(const mtp_boss *b, CURL *easy, long status, char *body, size_t len,
                              char *buf, size_t n)
{
    if (body != NULL)
        mtp_boss_scrub(b, body, len);
    if (status >= 300 && status < 400) {
        char *location = NULL;
        char target[MTP_TEXT_MAX] = "an unnamed location";
        if (curl_easy_getinfo(easy, CURLINFO_REDIRECT_URL, &location) == CURLE_OK &&
            location != NULL) {
            char whole[2 * MTP_TEXT_MAX];
            size_t keep = strcspn(location, "?#");
            snprintf(whole, sizeof whole, "%.*s",
                     (int)(keep < sizeof whole - 1 ? keep : sizeof whole - 1), location);
            mtp_boss_scrub(b, whole, strlen(whole));
            snprintf(target, sizeof target, "%.400s", whole);
            mtp_boss_clean_text(target, sizeof target, target);
        }
        snprintf(buf, n, "the server redirected (%ld) to %s; redirects are not followed", status,
                 target);
    } else if (status >= 200 && status < 300) {
        snprintf(buf, n, "unexpected HTTP status %ld%s", status, status_name(status));
    } else {
        mtp_boss_describe_error(buf, n, status, body, len);
    }
    mtp_boss_scrub(b, buf, strlen(buf));
}

size_t mtp_boss_count_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct header_count *h = userdata;
    size_t n = size * nmemb;
    if (h->bytes > MTP_BOSS_HEADER_MAX - n) {
        h->too_large = true;
        return 0;
    }
    h->bytes += n;
    double s = mtp_net_retry_after(ptr, n);
    if (s > 0)
        h->retry_after_s = s;
    return n;
}

/* A transport failure in words; the reasons libcurl names vaguely are said plainly. */
void mtp_boss_describe_failure(const mtp_boss *b, CURLcode cc, const char *errbuf,
                               const struct header_count *headers, char *buf, size_t n)
{
    if (headers->too_large || cc == CURLE_OUT_OF_MEMORY)
        snprintf(buf, n,
                 "response headers larger than %d KiB (or a single header over libcurl's "
                 "100 KiB limit)",
                 MTP_BOSS_HEADER_MAX / 1024);
    else if (cc == CURLE_OPERATION_TIMEDOUT)
        snprintf(buf, n, "timed out: %s", errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
    else
        snprintf(buf, n, "%s", errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
    mtp_boss_scrub(b, buf, strlen(buf));
}

/* Milliseconds left until `deadline` (monotonic seconds), at least 1. */
long mtp_boss_ms_until(double deadline)
{
    double left = (deadline - mtp_boss_now_s()) * 1000.0;
    return left < 1.0 ? 1L : left > 2e9 ? 2000000000L : (long)left;
}

/* ---- handle --------------------------------------------------------------------------- */

void mtp_boss_options_from_source(mtp_boss_options *opt, const mtp_source *src)
{
    opt->url = src->url;
    opt->token = src->token;
    opt->jobs = src->jobs;
    /* A config made by hand (not loaded) may leave max_jobs at 0: the loader's default. */
    opt->max_jobs = src->max_jobs >= src->jobs ? src->max_jobs : (src->jobs > 16 ? src->jobs : 16);
    opt->retries = src->retries;
    opt->timeout_s = src->timeout_s;
    opt->backoff_ms = src->backoff_ms;
    opt->backoff_max_ms = src->backoff_max_ms;
}

long mtp_boss_stall_s(const mtp_boss *b)
{
    /* A stall is retried within the block's deadline: leave room for a few attempts. */
    long s = b->opt.timeout_s / 4 < 30 ? b->opt.timeout_s / 4 : 30;
    return s < 1 ? 1 : s;
}

static int setup_easy(mtp_boss *b, CURL *easy, struct curl_slist *headers)
{
    const mtp_boss_options *o = &b->opt;
    long low_time = mtp_boss_stall_s(b);
    CURLcode c = CURLE_OK;
    c |= curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    c |= curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    c |= curl_easy_setopt(easy, CURLOPT_USERAGENT, MTP_BOSS_USER_AGENT);
    c |= curl_easy_setopt(easy, CURLOPT_TIMEOUT, (long)o->timeout_s);
    c |= curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, low_time);
    c |= curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, MTP_BOSS_STALL_BYTES);
    c |= curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, low_time);
    c |= curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    c |= curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    c |= curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    /* TLS verification stays at libcurl's default (on); it is never turned off. */
    return c == CURLE_OK ? 0 : MTP_ENET;
}

/* Whether `token` may be sent to `url`: always over https, and over plain http only the
 * public token or to this machine (127.0.0.0/8, ::1, localhost), where nobody listens in. */
int mtp_boss_new(mtp_boss **out, const mtp_boss_options *opt, mtp_error *err)
{
    int rc = 0;
    mtp_boss *b = NULL;
    *out = NULL;
    if (opt->url == NULL || opt->url[0] == '\0' || strlen(opt->url) >= MTP_TEXT_MAX ||
        has_control_chars(opt->url)) {
        rc = mtp_error_set(err, MTP_ECONFIG, "source URL missing or invalid");
        goto out;
    }
    if (opt->token == NULL || strlen(opt->token) >= MTP_TEXT_MAX || has_control_chars(opt->token)) {
        /* Say nothing about the token's content. */
        rc = mtp_error_set(err, MTP_ECONFIG, "token missing, too long or with control characters");
        goto out;
    }
    if (strcmp(opt->token, "public") != 0 && !mtp_net_token_may_travel(opt->url, opt->token)) {
        rc = mtp_error_set(err, MTP_ECONFIG,
                           "%s: refusing to send a token over plain http to a host that is not "
                           "this machine (use https, or the public token)",
                           opt->url);
        goto out;
    }
    if (opt->jobs < 1 || opt->jobs > MTP_MAX_JOBS || opt->max_jobs < opt->jobs ||
        opt->max_jobs > MTP_MAX_JOBS || opt->retries < 0 || opt->retries > MTP_MAX_RETRIES ||
        opt->timeout_s < 1 || opt->backoff_ms < 0 || opt->backoff_max_ms < opt->backoff_ms) {
        rc = mtp_error_set(err, MTP_EINVAL,
                           "client options out of range (jobs %d..%d, retries %d, timeout %d s, "
                           "backoff %d..%d ms)",
                           opt->jobs, opt->max_jobs, opt->retries, opt->timeout_s, opt->backoff_ms,
                           opt->backoff_max_ms);
        goto out;
    }
    b = calloc(1, sizeof *b);
    if (b == NULL) {
        rc = mtp_error_set(err, MTP_ENOMEM, "out of memory");
        goto out;
    }
    b->opt = *opt;
    mtp_boss_copy_str(b->url, sizeof b->url, opt->url);
    snprintf(b->auth_header, sizeof b->auth_header, "Authorization: Token %s", opt->token);
    b->opt.url = b->url;
    b->opt.token = NULL; /* only the header keeps it */
    b->rng = opt->seed;
    struct curl_slist *h = curl_slist_append(NULL, b->auth_header);
    if (h != NULL)
        b->cutout_headers = h;
    h = h != NULL ? curl_slist_append(h, "Accept: application/blosc") : NULL;
    struct curl_slist *m = curl_slist_append(NULL, b->auth_header);
    if (m != NULL)
        b->meta_headers = m;
    m = m != NULL ? curl_slist_append(m, "Accept: application/json") : NULL;
    b->easy = calloc((size_t)opt->max_jobs, sizeof *b->easy);
    b->multi = curl_multi_init();
    b->meta_easy = curl_easy_init();
    if (h == NULL || m == NULL || b->easy == NULL || b->multi == NULL || b->meta_easy == NULL) {
        rc = mtp_error_set(err, MTP_ENOMEM, "out of memory (libcurl handles)");
        goto out;
    }
    curl_multi_setopt(b->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)opt->max_jobs);
    /* HTTP/2 over TLS when the server offers it: the transfers then share one connection. */
    curl_multi_setopt(b->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    rc = setup_easy(b, b->meta_easy, b->meta_headers);
    for (int i = 0; rc == 0 && i < opt->max_jobs; i++) {
        b->easy[i] = curl_easy_init();
        rc = b->easy[i] != NULL ? setup_easy(b, b->easy[i], b->cutout_headers) : MTP_ENOMEM;
    }
    if (rc < 0) {
        rc = mtp_error_set(err, rc, "cannot set up libcurl handles");
        goto out;
    }
    *out = b;
    b = NULL;
out:
    mtp_boss_free(b);
    return rc;
}

void mtp_boss_free(mtp_boss *b)
{
    if (b == NULL)
        return;
    if (b->easy != NULL) {
        for (int i = 0; i < b->opt.max_jobs; i++)
            if (b->easy[i] != NULL)
                curl_easy_cleanup(b->easy[i]);
        free(b->easy);
    }
    for (int i = 0; i < b->nanswers; i++) {
        free(b->answers[i].url);
        free(b->answers[i].body);
    }
    if (b->meta_easy != NULL)
        curl_easy_cleanup(b->meta_easy);
    if (b->multi != NULL)
        curl_multi_cleanup(b->multi);
    curl_slist_free_all(b->cutout_headers);
    curl_slist_free_all(b->meta_headers);
    /* Do not leave the token lying in freed memory. */
    volatile char *p = b->auth_header;
    for (size_t i = 0; i < sizeof b->auth_header; i++)
        p[i] = 0;
    free(b);
}

void mtp_boss_get_stats(const mtp_boss *b, mtp_boss_stats *out)
{
    *out = b->stats;
}

/* ---- cutouts -------------------------------------------------------------------------- */

struct job {
    size_t index; /* into the caller's cutouts */
    const mtp_cutout *cutout;
    size_t nbytes; /* decoded size of the whole block */
    uint8_t *data; /* decoded block (allocated when its first part completes) */
    int parts_pending;
    int retries;     /* retries used by this block and its parts */
    double deadline; /* monotonic seconds: source.timeout_s after the block's first request */
    bool active;
    bool narrowed; /* data holds a byte per voxel (mtp_cutout_handler.narrow) */
};

struct part {
    struct job *job;
    mtp_box box;
    double not_before; /* monotonic seconds */
    struct part *next;
};

struct transfer {
    CURL *easy;
    struct part *part; /* NULL when idle */
    uint8_t *body;
    size_t len, alloc;
    size_t limit;    /* body cap for this response, set on the first bytes */
    size_t expected; /* decoded bytes of the part */
    bool probe;      /* heavier than any part answered 200 so far (boss.max_weight) */
    bool limit_set, too_large, oom;
    struct header_count headers;
    char url[URL_MAX];
    char errbuf[CURL_ERROR_SIZE];
};

struct run {
    mtp_boss *b;
    const mtp_cutout *cutouts;
    size_t n, next;
    const mtp_cutout_handler *h;
    struct job *jobs;       /* opt.max_jobs slots */
    struct transfer *xfers; /* opt.max_jobs slots */
    struct part *queue;     /* waiting parts, FIFO */
    int active_jobs;
    int probes; /* transfers in flight with t->probe */
    /* Adaptive concurrency: at most `limit` transfers and blocks at once. */
    int limit;
    size_t inflight_bytes; /* decoded sizes of the blocks in flight (MTP_BOSS_INFLIGHT_MAX) */
    bool slow_start;       /* doubling until the first sign of load */
    double win_start;      /* the current measuring window */
    uint64_t win_bytes;    /* body bytes completed in it */
    int win_busy;          /* most transfers running at once in it */
    double last_rate;      /* bytes/s of the previous window */
    double last_cut;       /* when the limit was last halved */
};

static void cut(struct run *r, double now);
static size_t held_bytes(const struct run *r, const mtp_cutout *c);

static size_t part_bytes(const struct job *job, const mtp_box *box)
{
    return (size_t)mtp_box_voxels(box) * mtp_dtype_size(job->cutout->dtype);
}

static size_t transfer_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct transfer *t = userdata;
    size_t n = size * nmemb;
    if (!t->limit_set) {
        long status = 0;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
        /* Success bodies may be at most a stored (incompressible) chunk of the block. */
        t->limit = status == 200 ? t->expected + MTP_BLOSC_HEADER : MTP_BOSS_ERROR_BODY_MAX;
        t->limit_set = true;
        curl_off_t hint = -1;
        curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &hint);
        if (status == 200 && hint > 0 && (uint64_t)hint > t->limit) {
            t->too_large = true;
            return 0;
        }
        if (status == 200 && hint > 0 && (size_t)hint > t->alloc) {
            uint8_t *p = realloc(t->body, (size_t)hint);
            if (p != NULL) {
                t->body = p;
                t->alloc = (size_t)hint;
            }
        }
    }
    if (n > t->limit - t->len) {
        if (t->limit == MTP_BOSS_ERROR_BODY_MAX)
            return n; /* an error body: keep its start for the message, drop the rest */
        t->too_large = true;
        return 0;
    }
    if (t->len + n > t->alloc) {
        size_t want = t->alloc ? t->alloc : 65536;
        while (want < t->len + n)
            want *= 2;
        if (want > t->limit)
            want = t->limit;
        uint8_t *p = realloc(t->body, want);
        if (p == NULL) {
            t->oom = true;
            return 0;
        }
        t->body = p;
        t->alloc = want;
    }
    memcpy(t->body + t->len, ptr, n);
    t->len += n;
    return n;
}

static void queue_push(struct run *r, struct part *p)
{
    p->next = NULL;
    struct part **tail = &r->queue;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = p;
}

static uint64_t part_weight(const struct part *p)
{
    return mtp_cutout_weight(mtp_box_voxels(&p->box), mtp_dtype_size(p->job->cutout->dtype));
}

/* A part that must go alone: heavier than any answered 200, when the cap is in doubt. */
static bool is_probe(const mtp_boss *b, const struct part *p)
{
    uint64_t w = part_weight(p);
    return w > b->ok_weight && (b->max_weight > 0 || w > MTP_SERVER_CUTOUT_CAP / 4);
}

/* Cut part p in halves (mtp_boss_split_box) until it is within the cap a 413 taught this
 * client; the other halves go into the queue right after it. A known cap costs no refused
 * request, whenever it was learned. */
static int fit_part(struct run *r, struct part *p, mtp_error *err)
{
    uint64_t max = r->b->max_weight;
    mtp_box a, bb;
    while (max > 0 && part_weight(p) > max && mtp_boss_split_box(&p->box, &a, &bb) == 0) {
        struct part *q = calloc(1, sizeof *q);
        if (q == NULL)
            return mtp_error_set(err, MTP_ENOMEM, "out of memory");
        *q = *p;
        q->box = bb;
        p->box = a;
        p->next = q;
        p->job->parts_pending++;
    }
    return 0;
}

/* The first part whose backoff has passed and that may start (one probe at a time), cut to
 * the learned cap and unlinked from the queue; *out NULL if none. */
static int queue_pop_ready(struct run *r, double now, struct part **out, mtp_error *err)
{
    *out = NULL;
    for (struct part **pp = &r->queue; *pp != NULL; pp = &(*pp)->next) {
        struct part *p = *pp;
        if (p->not_before > now)
            continue;
        int rc = fit_part(r, p, err);
        if (rc < 0)
            return rc;
        if (r->probes > 0 && is_probe(r->b, p))
            continue;
        *pp = p->next;
        p->next = NULL;
        *out = p;
        return 0;
    }
    return 0;
}

static int start_job(struct run *r, mtp_error *err)
{
    struct job *job = NULL;
    for (int i = 0; i < r->b->opt.max_jobs; i++)
        if (!r->jobs[i].active)
            job = &r->jobs[i];
    struct part *p = calloc(1, sizeof *p);
    if (job == NULL || p == NULL) {
        free(p);
        return mtp_error_set(err, MTP_ENOMEM, "out of memory");
    }
    const mtp_cutout *c = &r->cutouts[r->next];
    size_t es = mtp_dtype_size(c->dtype);
    uint64_t voxels = mtp_box_voxels(&c->box);
    if (es == 0 || voxels == 0 || voxels > MTP_BLOSC_MAX_NBYTES / es) {
        free(p);
        char what[DESCR_MAX];
        mtp_boss_describe_block(what, sizeof what, c->channel, &c->box);
        return mtp_error_set(err, MTP_ERANGE, "%s: empty block, unknown dtype or over %llu bytes",
                             what, (unsigned long long)MTP_BLOSC_MAX_NBYTES);
    }
    *job = (struct job){.index = r->next,
                        .cutout = c,
                        .nbytes = (size_t)voxels * es,
                        .parts_pending = 1,
                        .deadline = mtp_boss_now_s() + r->b->opt.timeout_s,
                        .active = true};
    r->next++;
    r->active_jobs++;
    r->inflight_bytes += held_bytes(r, c);
    p->job = job;
    p->box = c->box;
    p->not_before = 0;
    queue_push(r, p);
    return 0;
}

static int start_transfer(struct run *r, struct transfer *t, struct part *p, mtp_error *err)
{
    const mtp_cutout *c = p->job->cutout;
    int rc = mtp_boss_cutout_url(t->url, sizeof t->url, r->b->url, c->channel->collection,
                                 c->channel->experiment, c->channel->channel, c->resolution,
                                 &p->box, err);
    if (rc < 0)
        return rc;
    t->part = p;
    t->probe = is_probe(r->b, p);
    r->probes += t->probe;
    t->len = 0;
    t->limit = 0;
    t->limit_set = t->too_large = t->oom = false;
    t->expected = part_bytes(p->job, &p->box);
    t->errbuf[0] = '\0';
    t->headers = (struct header_count){0, false, 0};
    curl_easy_setopt(t->easy, CURLOPT_URL, t->url);
    curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, transfer_write);
    curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(t->easy, CURLOPT_HEADERFUNCTION, mtp_boss_count_header);
    curl_easy_setopt(t->easy, CURLOPT_HEADERDATA, &t->headers);
    /* This attempt may use what is left of the block's deadline, no more. */
    curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, mtp_boss_ms_until(p->job->deadline));
    curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
    if (curl_multi_add_handle(r->b->multi, t->easy) != CURLM_OK) {
        t->part = NULL;
        r->probes -= t->probe;
        return mtp_error_set(err, MTP_ENET, "cannot add a transfer to the multi handle");
    }
    r->b->stats.requests++;
    return 0;
}

/* Decode a 200 body into the job. Returns 0, MTP_ECORRUPT (retryable) or MTP_ENOMEM. */
static int accept_body(struct run *r, struct transfer *t, struct part *p, mtp_error *perr)
{
    struct job *job = p->job;
    bool whole = mtp_box_equal(&p->box, &job->cutout->box);
    int rc = 0;
    uint8_t *tmp = NULL;
    size_t es = mtp_dtype_size(job->cutout->dtype);
    if (whole && r->h->narrow && es > 1 && job->data == NULL) {
        size_t voxels = job->nbytes / es;
        uint8_t *bytes = malloc(voxels > 0 ? voxels : 1);
        if (bytes == NULL)
            return mtp_error_set(perr, MTP_ENOMEM, "out of memory (%zu bytes)", voxels);
        rc = mtp_codec_decode_u8(t->body, t->len, bytes, voxels, es, perr);
        if (rc == 0) {
            job->data = bytes;
            job->narrowed = true;
            r->b->stats.bytes_body += t->len;
            return 0;
        }
        free(bytes);
        if (rc != MTP_EDATA)
            return rc;
        rc = 0; /* a value above 255 (or an odd layout): the wide way below */
    }
    if (job->data == NULL) {
        job->data = malloc(job->nbytes);
        if (job->data == NULL)
            return mtp_error_set(perr, MTP_ENOMEM, "out of memory (%zu bytes)", job->nbytes);
    }
    if (whole) {
        rc = mtp_codec_decode(t->body, t->len, job->data, job->nbytes, perr);
    } else {
        tmp = malloc(t->expected);
        if (tmp == NULL)
            return mtp_error_set(perr, MTP_ENOMEM, "out of memory (%zu bytes)", t->expected);
        rc = mtp_codec_decode(t->body, t->len, tmp, t->expected, perr);
        if (rc == 0)
            mtp_box_copy(job->data, &job->cutout->box, tmp, &p->box, &p->box, es);
        free(tmp);
    }
    if (rc == 0)
        r->b->stats.bytes_body += t->len;
    return rc;
}

static void job_release(struct run *r, struct job *job)
{
    free(job->data);
    job->data = NULL;
    job->narrowed = false;
    job->active = false;
    r->active_jobs--;
    r->inflight_bytes -= held_bytes(r, job->cutout);
}

/* A transfer finished (curl result cc). Decide what happens to its part. */
static int finish_transfer(struct run *r, struct transfer *t, CURLcode cc, mtp_error *err)
{
    mtp_boss *b = r->b;
    struct part *p = t->part;
    struct job *job = p->job;
    const mtp_cutout *c = job->cutout;
    char what[DESCR_MAX], last[DESCR_MAX] = "";
    mtp_error perr = MTP_ERROR_INIT;
    long status = 0;
    int rc = 0;
    mtp_boss_action act = MTP_BOSS_RETRY;

    curl_multi_remove_handle(b->multi, t->easy);
    t->part = NULL;
    if (t->probe)
        r->probes--;
    mtp_boss_describe_block(what, sizeof what, c->channel, &p->box);
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    if (t->oom) {
        rc = mtp_error_set(err, MTP_ENOMEM, "%s: out of memory for the body", what);
        goto out;
    }
    if (cc != CURLE_OK) {
        if (t->too_large)
            snprintf(last, sizeof last, "corrupt body: longer than the %zu bytes asked for",
                     t->limit);
        else
            mtp_boss_describe_failure(b, cc, t->errbuf, &t->headers, last, sizeof last);
        if (cc == CURLE_OPERATION_TIMEDOUT)
            cut(r, mtp_boss_now_s()); /* a stall or timeout: the server or the path is loaded */
    } else {
        if (status == 429 || status == 503)
            cut(r, mtp_boss_now_s());
        act = mtp_boss_classify(status);
        if (act == MTP_BOSS_DONE) {
            int drc = accept_body(r, t, p, &perr);
            if (drc == MTP_ENOMEM) {
                rc = mtp_error_set(err, drc, "%s: %s", what, perr.msg);
                goto out;
            }
            if (drc < 0) {
                act = MTP_BOSS_RETRY;
                snprintf(last, sizeof last, "corrupt body: %.400s", perr.msg);
            }
        } else {
            mtp_boss_describe_answer(b, t->easy, status, (char *)t->body,
                                     t->len < MTP_BOSS_ERROR_BODY_MAX ? t->len : 0, last,
                                     sizeof last);
        }
    }

    if (act == MTP_BOSS_DONE) {
        r->win_bytes += t->len;
        if (part_weight(p) > b->ok_weight)
            b->ok_weight = part_weight(p);
        free(p);
        p = NULL;
        if (--job->parts_pending == 0) {
            b->stats.bytes_decoded += job->nbytes;
            size_t len =
                job->narrowed ? job->nbytes / mtp_dtype_size(job->cutout->dtype) : job->nbytes;
            rc = r->h->done(r->h->userdata, job->index, job->data, len, err);
            job_release(r, job);
        }
        goto out;
    }
    if (act == MTP_BOSS_SPLIT) {
        mtp_box a, bb;
        if (mtp_boss_split_box(&p->box, &a, &bb) < 0) {
            rc = mtp_error_set(err, MTP_ESERVER, "%s: %s (cannot split further)", what, last);
            goto out;
        }
        b->stats.splits++;
        /* The server's cap is below this part's weight: from now on every part, this one
         * first, is cut to half of it before it is asked for (fit_part). Halving (not just
         * "below") makes every further 413 halve the bound, so a cap far below the parts'
         * size costs one refusal per halving; parts may end up to 2x smaller than the cap
         * would allow. */
        uint64_t half = part_weight(p) / 2;
        if (b->max_weight == 0 || half < b->max_weight)
            b->max_weight = half > 0 ? half : 1;
        if (r->h->note != NULL) {
            char line[DESCR_MAX * 2];
            snprintf(line, sizeof line, "split %.500s: %.500s", what, last);
            r->h->note(r->h->userdata, line);
        }
        p->not_before = 0;
        queue_push(r, p);
        p = NULL;
        goto out;
    }
    if (act == MTP_BOSS_FATAL) {
        rc = mtp_error_set(err, MTP_ESERVER, "%s: GET %s: %s", what, t->url, last);
        goto out;
    }
    /* Retryable. */
    if (job->retries >= b->opt.retries) {
        rc = mtp_error_set(err, MTP_ENET, "%s: giving up after %d retries: %s", what,
                           b->opt.retries, last);
        goto out;
    }
    int64_t delay =
        mtp_boss_backoff_ms(b->opt.backoff_ms, b->opt.backoff_max_ms, job->retries, &b->rng);
    if (t->headers.retry_after_s * 1000.0 > (double)delay)
        delay = (int64_t)(t->headers.retry_after_s * 1000.0); /* the server asked for it */
    if (mtp_boss_now_s() + (double)delay / 1000.0 >= job->deadline) {
        rc = mtp_error_set(err, MTP_ENET,
                           "%s: no answer within source.timeout_s = %d s (%d attempts): %s", what,
                           b->opt.timeout_s, job->retries + 1, last);
        goto out;
    }
    job->retries++;
    b->stats.retries++;
    if (r->h->note != NULL) {
        char line[DESCR_MAX * 2];
        snprintf(line, sizeof line, "retry %d/%d %.480s: %.480s", job->retries, b->opt.retries,
                 what, last);
        r->h->note(r->h->userdata, line);
    }
    p->not_before = mtp_boss_now_s() + (double)delay / 1000.0;
    queue_push(r, p);
    p = NULL;
out:
    free(p);
    /* A large body buffer is not kept for the slot's next transfer: with many slots the
     * buffers alone would hold a block each (MTP_BOSS_INFLIGHT_MAX bounds the blocks). */
    if (t->alloc > KEEP_BODY_BYTES) {
        free(t->body);
        t->body = NULL;
        t->alloc = 0;
    }
    return rc;
}

static void run_cleanup(struct run *r)
{
    for (int i = 0; i < r->b->opt.max_jobs; i++) {
        struct transfer *t = &r->xfers[i];
        if (t->part != NULL) {
            curl_multi_remove_handle(r->b->multi, t->easy);
            free(t->part);
            t->part = NULL;
        }
        /* The handle outlives the run; do not leave it pointing at freed memory. */
        curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, NULL);
        curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, NULL);
        free(t->body);
        free(r->jobs[i].data);
    }
    while (r->queue != NULL) {
        struct part *p = r->queue;
        r->queue = p->next;
        free(p);
    }
    free(r->jobs);
    free(r->xfers);
}

/* What a block holds in memory once decoded: a byte per voxel when the handler narrows,
 * else its full size (0 if unknown; start_job checks the block). */
static size_t held_bytes(const struct run *r, const mtp_cutout *c)
{
    uint64_t voxels = mtp_box_voxels(&c->box);
    size_t es = r->h->narrow ? 1 : mtp_dtype_size(c->dtype);
    return es > 0 && voxels <= SIZE_MAX / es ? (size_t)voxels * es : 0;
}

static int running_transfers(const struct run *r)
{
    int k = 0;
    for (int i = 0; i < r->b->opt.max_jobs; i++)
        k += r->xfers[i].part != NULL;
    return k;
}

/* Give every idle transfer a ready part, starting new blocks while slots allow. */
static int fill_transfers(struct run *r, double now, mtp_error *err)
{
    int rc = 0;
    int running = running_transfers(r);
    for (int i = 0; i < r->b->opt.max_jobs && rc == 0 && running < r->limit; i++) {
        struct transfer *t = &r->xfers[i];
        if (t->part != NULL)
            continue;
        struct part *p = NULL;
        rc = queue_pop_ready(r, now, &p, err);
        if (rc < 0)
            break;
        if (p == NULL && r->next < r->n && r->active_jobs < r->b->opt.max_jobs &&
            (r->active_jobs == 0 ||
             r->inflight_bytes + held_bytes(r, &r->cutouts[r->next]) <= MTP_BOSS_INFLIGHT_MAX)) {
            rc = start_job(r, err);
            if (rc == 0)
                rc = queue_pop_ready(r, now, &p, err);
            if (rc < 0)
                break;
        }
        if (p == NULL)
            break;
        rc = start_transfer(r, t, p, err);
        if (rc < 0)
            free(p);
        else
            running++;
    }
    if (running > r->win_busy)
        r->win_busy = running;
    return rc;
}

/* At the end of each window: grow the limit while the throughput rises and the limit was
 * the constraint (doubling until the first sign of load, then by one). */
static void adapt(struct run *r, double now)
{
    mtp_boss *b = r->b;
    double span = now - r->win_start;
    if (span < WINDOW_S)
        return;
    double rate = (double)r->win_bytes / span;
    bool constrained = r->win_busy >= r->limit && (r->queue != NULL || r->next < r->n);
    if (constrained && now - r->last_cut >= CUT_HOLD_S && r->limit < b->opt.max_jobs) {
        /* After a sign of load the server's limit is near: probe upward by one per window
         * (additive increase; the next 429/503 halves it again). Before, only a clear rise
         * of the throughput pays for another transfer (and its memory). */
        double bar = GROWTH;
        if (b->grown || rate > r->last_rate * bar) {
            int grown = r->slow_start ? r->limit * 2 : r->limit + 1;
            r->limit = grown < b->opt.max_jobs ? grown : b->opt.max_jobs;
        } else {
            r->slow_start = false; /* more transfers stopped paying: probe by one from now */
        }
    }
    r->last_rate = rate;
    r->win_start = now;
    r->win_bytes = 0;
    r->win_busy = 0;
    b->stats.concurrency = (uint64_t)r->limit;
    if ((uint64_t)r->limit > b->stats.peak_concurrency)
        b->stats.peak_concurrency = (uint64_t)r->limit;
}

/* A sign that the server is loaded (429, 503, a timeout or stall): halve the limit, at most
 * once per CUT_HOLD_S (a burst of refusals is one event). */
static void cut(struct run *r, double now)
{
    mtp_boss *b = r->b;
    b->stats.busy++;
    if (now - r->last_cut < CUT_HOLD_S)
        return;
    r->last_cut = now;
    r->slow_start = false;
    b->grown = true;
    r->limit = r->limit > 1 ? r->limit / 2 : 1;
    r->last_rate = 0; /* measure afresh at the new limit */
    b->stats.throttles++;
    b->stats.concurrency = (uint64_t)r->limit;
}

int mtp_boss_cutouts(mtp_boss *b, const mtp_cutout *cutouts, size_t n,
                     const mtp_cutout_handler *handler, mtp_error *err)
{
    struct run r = {.b = b, .cutouts = cutouts, .n = n, .h = handler};
    int rc = 0;
    double last_tick = mtp_boss_now_s();
    r.limit = b->limit > 0 ? b->limit : b->opt.jobs;
    r.slow_start = b->limit == 0;
    r.win_start = last_tick;
    r.last_cut = last_tick - CUT_HOLD_S;
    b->stats.concurrency = (uint64_t)r.limit;
    if ((uint64_t)r.limit > b->stats.peak_concurrency)
        b->stats.peak_concurrency = (uint64_t)r.limit;
    r.jobs = calloc((size_t)b->opt.max_jobs, sizeof *r.jobs);
    r.xfers = calloc((size_t)b->opt.max_jobs, sizeof *r.xfers);
    if (r.jobs == NULL || r.xfers == NULL) {
        free(r.jobs);
        free(r.xfers);
        return mtp_error_set(err, MTP_ENOMEM, "out of memory");
    }
    for (int i = 0; i < b->opt.max_jobs; i++)
        r.xfers[i].easy = b->easy[i];

    for (;;) {
        double now = mtp_boss_now_s();
        if (handler->tick != NULL && now - last_tick >= TICK_MS / 1000.0) {
            last_tick = now;
            if (handler->tick(handler->userdata) != 0) {
                rc = mtp_error_set(err, MTP_ECANCEL, "cancelled");
                break;
            }
        }
        adapt(&r, now);
        rc = fill_transfers(&r, now, err);
        if (rc < 0)
            break;
        if (running_transfers(&r) == 0 && r.queue == NULL && r.next >= r.n)
            break;

        int still = 0, finished = 0;
        CURLMcode mc = curl_multi_perform(b->multi, &still);
        if (mc != CURLM_OK) {
            rc = mtp_error_set(err, MTP_ENET, "libcurl: %s", curl_multi_strerror(mc));
            break;
        }
        CURLMsg *msg;
        int left = 0;
        while (rc == 0 && (msg = curl_multi_info_read(b->multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            char *priv = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            rc = finish_transfer(&r, (struct transfer *)priv, msg->data.result, err);
            finished++;
        }
        if (rc < 0)
            break;
        if (finished > 0)
            continue; /* hand the freed slots new work before sleeping */

        /* Sleep until there is socket activity, the next tick, or (when a transfer slot
         * is free) the end of the earliest backoff. */
        double wait_ms = TICK_MS;
        if (running_transfers(&r) < r.limit) {
            double t_now = mtp_boss_now_s();
            for (struct part *p = r.queue; p != NULL; p = p->next) {
                if (r.probes > 0 && is_probe(b, p))
                    continue; /* waits for the probe's answer: socket activity */
                double d = (p->not_before - t_now) * 1000.0;
                if (d < wait_ms)
                    wait_ms = d;
            }
        }
        if (wait_ms >= 1)
            curl_multi_poll(b->multi, NULL, 0, (int)wait_ms, NULL);
    }
    b->limit = r.limit; /* the next run (the next region of a build) starts where this ended */
    run_cleanup(&r);
    return rc;
}
