/*
 * server.c — bossdb-mock over libmicrohttpd (behaviour in server.h).
 *
 * One thread per connection: a handler may sleep (delay, slow drip) or spend half a
 * second making a body without holding up any other client. Bodies are sent through a
 * content-reader callback over a reference-counted buffer shared with the cache, so a
 * cached body is never copied, and the faults that need a broken body (truncate,
 * corrupt, slow) are just different ways of reading the same buffer.
 */
#include "server.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "mtp/codec.h"
#include "faults.h"
#include "routes.h"
#include "synth.h"

enum {
    CACHE_MIN_SLOTS = 32,           /* entries in the cache, at least ... */
    CACHE_BYTES_PER_SLOT = 1 << 18, /* ... and one per 256 KiB of cache_bytes */
    GEN_PARALLEL = 2,               /* bodies generated at once */
    READ_BLOCK = 256 * 1024,        /* bytes handed to MHD per reader call */
    SLOW_FIRST = 4096,              /* bytes a slow body sends before it stalls */
    CONNECTION_TIMEOUT_S = 60       /* idle keep-alive connections, like the load balancer */
};

typedef struct body_ref {
    unsigned refs; /* under mtp_mock.cache_lock */
    size_t len;
    unsigned char *data;
} body_ref;

typedef struct cache_entry {
    char key[128];
    body_ref *body; /* NULL: free slot */
    uint64_t used;
} cache_entry;

struct mtp_mock {
    struct MHD_Daemon *daemon;
    mtp_mock_options opt;
    char *token;
    unsigned port;
    atomic_int stopping;

    FILE *log;
    pthread_mutex_t log_lock;

    mtp_fault_counter *counter;

    pthread_mutex_t cache_lock;
    cache_entry *cache; /* cache_slots entries */
    size_t cache_slots;
    size_t cache_total;
    uint64_t cache_clock;

    pthread_mutex_t gen_lock;
    pthread_cond_t gen_cond;
    int gen_active;

    atomic_int inflight;       /* cutouts being answered now (max_inflight) */
    pthread_mutex_t rate_lock; /* bandwidth_mbps: */
    double rate_next;          /* when the link is free for the next bytes (monotonic s) */
    double t0;                 /* start (monotonic s), for the log's t_ms */
};

/* Per-request state, created when the request line arrives. */
typedef struct request {
    char *uri; /* raw, with the query string */
    int seen;
} request;

/* How one cutout body is read out to the client. */
typedef struct send_state {
    mtp_mock *mock;
    body_ref *body;
    unsigned char header[MTP_BLOSC_HEADER]; /* replaces the body's header if patch_header */
    int patch_header;
    size_t send_len; /* bytes served */
    int cut;         /* after send_len, break the connection (the announced length was more) */
    size_t stall_at;
    unsigned stall_ms; /* 0: no stall */
    int stalled;
    int counted; /* holds one of mock->inflight until the body is done */
} send_state;

/* ---- small helpers ------------------------------------------------------------------- */

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Sleep up to ms, in slices, returning early when the server is stopping. */
static void stall(mtp_mock *m, unsigned ms)
{
    while (ms > 0 && !atomic_load(&m->stopping)) {
        unsigned slice = ms < 20 ? ms : 20;
        sleep_ms(slice);
        ms -= slice;
    }
}

static void body_release(mtp_mock *m, body_ref *b)
{
    if (b == NULL)
        return;
    pthread_mutex_lock(&m->cache_lock);
    b->refs--;
    int last = b->refs == 0;
    pthread_mutex_unlock(&m->cache_lock);
    if (last) {
        free(b->data);
        free(b);
    }
}

/* ---- cache and generation ------------------------------------------------------------ */

static void cache_key(const mtp_mock_reply *r, char *key, size_t size)
{
    snprintf(key, size, "%d/%lld:%lld/%lld:%lld/%lld:%lld", (int)r->channel, (long long)r->box.x0,
             (long long)r->box.x1, (long long)r->box.y0, (long long)r->box.y1, (long long)r->box.z0,
             (long long)r->box.z1);
}

/* A new reference to the cached body for key, or NULL. */
static body_ref *cache_get(mtp_mock *m, const char *key)
{
    body_ref *found = NULL;
    pthread_mutex_lock(&m->cache_lock);
    for (size_t i = 0; i < m->cache_slots; i++) {
        cache_entry *e = &m->cache[i];
        if (e->body != NULL && strcmp(e->key, key) == 0) {
            e->used = ++m->cache_clock;
            e->body->refs++;
            found = e->body;
            break;
        }
    }
    pthread_mutex_unlock(&m->cache_lock);
    return found;
}

static void cache_put(mtp_mock *m, const char *key, body_ref *b)
{
    if (b->len > m->opt.cache_bytes / 2)
        return;
    pthread_mutex_lock(&m->cache_lock);
    int present = 0;
    for (size_t i = 0; i < m->cache_slots; i++)
        present |= m->cache[i].body != NULL && strcmp(m->cache[i].key, key) == 0;
    while (!present) {
        /* Take a free slot if there is room; otherwise evict the least recently used. */
        ptrdiff_t free_slot = -1, lru = -1;
        for (ptrdiff_t i = 0; i < (ptrdiff_t)m->cache_slots; i++) {
            if (m->cache[i].body == NULL)
                free_slot = free_slot < 0 ? i : free_slot;
            else if (lru < 0 || m->cache[i].used < m->cache[lru].used)
                lru = i;
        }
        if (free_slot >= 0 && m->cache_total + b->len <= m->opt.cache_bytes) {
            cache_entry *e = &m->cache[free_slot];
            snprintf(e->key, sizeof e->key, "%s", key);
            e->body = b;
            e->used = ++m->cache_clock;
            b->refs++;
            m->cache_total += b->len;
            break;
        }
        body_ref *old = m->cache[lru].body;
        m->cache[lru].body = NULL;
        m->cache_total -= old->len;
        old->refs--;
        if (old->refs == 0) {
            free(old->data);
            free(old);
        }
    }
    pthread_mutex_unlock(&m->cache_lock);
}

static void gen_acquire(mtp_mock *m)
{
    pthread_mutex_lock(&m->gen_lock);
    while (m->gen_active >= GEN_PARALLEL)
        pthread_cond_wait(&m->gen_cond, &m->gen_lock);
    m->gen_active++;
    pthread_mutex_unlock(&m->gen_lock);
}

static void gen_release(mtp_mock *m)
{
    pthread_mutex_lock(&m->gen_lock);
    m->gen_active--;
    pthread_cond_signal(&m->gen_cond);
    pthread_mutex_unlock(&m->gen_lock);
}

/* The body of a valid cutout, from the cache or made now; caller releases it. */
static int cutout_body(mtp_mock *m, const mtp_mock_reply *r, body_ref **out, mtp_error *err)
{
    char key[128];
    cache_key(r, key, sizeof key);
    *out = cache_get(m, key);
    if (*out != NULL)
        return 0;
    body_ref *b = calloc(1, sizeof *b);
    if (b == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "mock: out of memory");
    void *data = NULL;
    gen_acquire(m);
    int rc = mtp_synth_body(m->opt.seed, r->channel, &r->box, &data, &b->len, err);
    gen_release(m);
    if (rc < 0) {
        free(b);
        return rc;
    }
    b->data = data;
    b->refs = 1;
    cache_put(m, key, b);
    *out = b;
    return 0;
}

/* ---- log ----------------------------------------------------------------------------- */

/* A JSON string for untrusted text (invalid UTF-8 is replaced, never dropped silently). */
static json_t *text_or_null(const char *s)
{
    if (s == NULL)
        return json_null();
    json_t *j = json_string(s);
    return j != NULL ? j : json_string("<invalid utf-8>");
}

static void log_request(mtp_mock *m, const char *method, const char *path, const char *query,
                        int status, const char *fault, size_t bytes, const char *accept,
                        const char *user_agent, int auth, int inflight)
{
    if (m->log == NULL)
        return;
    json_t *j = json_object();
    json_object_set_new(j, "method", text_or_null(method));
    json_object_set_new(j, "path", text_or_null(path));
    json_object_set_new(j, "query", text_or_null(query));
    json_object_set_new(j, "status", status > 0 ? json_integer(status) : json_null());
    json_object_set_new(j, "fault", text_or_null(fault));
    json_object_set_new(j, "bytes", json_integer((json_int_t)bytes));
    json_object_set_new(j, "accept", text_or_null(accept));
    json_object_set_new(j, "user_agent", text_or_null(user_agent));
    json_object_set_new(j, "auth", json_boolean(auth));
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    json_object_set_new(j, "t_ms", json_integer((json_int_t)((now - m->t0) * 1000.0)));
    if (inflight > 0) /* max_inflight: cutouts in flight when this one arrived, itself included */
        json_object_set_new(j, "inflight", json_integer(inflight));
    char *line = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (line == NULL)
        return;
    pthread_mutex_lock(&m->log_lock);
    fputs(line, m->log);
    fputc('\n', m->log);
    fflush(m->log);
    pthread_mutex_unlock(&m->log_lock);
    free(line);
}

/* ---- responses ----------------------------------------------------------------------- */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* bandwidth_mbps: the link is one queue shared by every connection; `n` bytes take their
 * turn and wait until they would have gone through. */
static void throttle(mtp_mock *m, size_t n)
{
    if (m->opt.bandwidth_mbps == 0)
        return;
    double dur = (double)n * 8.0 / ((double)m->opt.bandwidth_mbps * 1e6);
    pthread_mutex_lock(&m->rate_lock);
    double now = mono_s();
    double start = m->rate_next > now ? m->rate_next : now;
    m->rate_next = start + dur;
    pthread_mutex_unlock(&m->rate_lock);
    double wait = start + dur - now;
    if (wait > 0)
        stall(m, (unsigned)(wait * 1000.0 + 0.5));
}

static ssize_t read_body(void *cls, uint64_t pos, char *buf, size_t max)
{
    send_state *s = cls;
    if (pos >= s->send_len)
        return s->cut ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    if (s->stall_ms > 0 && !s->stalled && pos >= s->stall_at) {
        stall(s->mock, s->stall_ms);
        s->stalled = 1;
    }
    size_t n = s->send_len - (size_t)pos;
    if (n > max)
        n = max;
    if (s->stall_ms > 0 && !s->stalled && (size_t)pos + n > s->stall_at)
        n = s->stall_at - (size_t)pos;
    throttle(s->mock, n);
    memcpy(buf, s->body->data + pos, n);
    if (s->patch_header)
        for (size_t i = (size_t)pos; i < MTP_BLOSC_HEADER && i < (size_t)pos + n; i++)
            buf[i - (size_t)pos] = (char)s->header[i];
    return (ssize_t)n;
}

static void free_send_state(void *cls)
{
    send_state *s = cls;
    if (s->counted)
        atomic_fetch_sub(&s->mock->inflight, 1);
    body_release(s->mock, s->body);
    free(s);
}

static enum MHD_Result queue_buffer(struct MHD_Connection *conn, const mtp_mock_reply *r)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->body_len, r->body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    if (r->retry_after > 0) {
        char secs[16];
        snprintf(secs, sizeof secs, "%d", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
    }
    if (r->status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Token");
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Queue a cutout body, shaped by the fault; *sent gets the body bytes planned. */
static enum MHD_Result queue_cutout(mtp_mock *m, struct MHD_Connection *conn,
                                    const mtp_mock_reply *r, body_ref *body, mtp_fault fault,
                                    uint64_t variant, size_t *sent, int counted)
{
    send_state *s = calloc(1, sizeof *s);
    if (s == NULL) {
        body_release(m, body);
        if (counted)
            atomic_fetch_sub(&m->inflight, 1);
        return MHD_NO;
    }
    s->counted = counted;
    s->mock = m;
    s->body = body;
    s->send_len = body->len;
    size_t announced = body->len;
    if (fault == MTP_FAULT_TRUNCATE) {
        s->send_len = body->len / 2;
        s->cut = 1;
    } else if (fault == MTP_FAULT_CORRUPT) {
        size_t tail = body->len / 10;
        if ((variant & 1) == 0 || tail == 0 || body->len - tail < MTP_BLOSC_HEADER) {
            /* nbytes halved (or, for an empty array, claimed to be 1). */
            memcpy(s->header, body->data, MTP_BLOSC_HEADER);
            mtp_blosc_header h;
            mtp_codec_header(s->header, MTP_BLOSC_HEADER, &h, NULL);
            put_le32(s->header + 4, h.nbytes > 1 ? h.nbytes / 2 : h.nbytes + 1);
            s->patch_header = 1;
        } else {
            s->send_len = body->len - tail; /* honest length, header now lies */
            announced = s->send_len;
        }
    } else if (fault == MTP_FAULT_SLOW) {
        s->stall_at = body->len / 2 < SLOW_FIRST ? body->len / 2 : SLOW_FIRST;
        s->stall_ms = m->opt.slow_ms;
    }
    *sent = s->send_len;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(announced, READ_BLOCK, read_body, s, free_send_state);
    if (resp == NULL) {
        free_send_state(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static int auth_accepted(const mtp_mock *m, const char *auth)
{
    if (auth == NULL || strcmp(auth, "Token public") == 0)
        return 1;
    return m->token != NULL && strncmp(auth, "Token ", 6) == 0 && strcmp(auth + 6, m->token) == 0;
}

/* The token a request presented ("" without one); only ever echoed, never stored. */
static const char *presented_token(const char *auth)
{
    if (auth == NULL)
        return "";
    return strncmp(auth, "Token ", 6) == 0 ? auth + 6 : auth;
}

static int echoed_or_hostile(const mtp_mock *m, mtp_fault fault, const char *auth)
{
    return (m->opt.echo_token && !auth_accepted(m, auth)) || fault >= MTP_FAULT_REDIRECT;
}

static int answered_status(const mtp_mock *m, mtp_fault fault, const char *auth)
{
    if (m->opt.echo_token && !auth_accepted(m, auth))
        return 403;
    static const int status[] = {302, 204, 206, 200};
    return status[fault - MTP_FAULT_REDIRECT];
}

/* 403 whose message and X-Echo-Token header repeat the presented token. */
static enum MHD_Result queue_echo(struct MHD_Connection *conn, const char *auth, size_t *sent)
{
    json_t *j = json_pack("{s:i, s:i, s:s+}", "status", 403, "code", 3000, "message",
                          "Invalid Token ", presented_token(auth));
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (text == NULL)
        return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    *sent = strlen(text);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, "X-Echo-Token", presented_token(auth));
    enum MHD_Result ok = MHD_queue_response(conn, 403, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* The answers of a misconfigured or hostile server (faults redirect, 204, 206, bigheader). */
static enum MHD_Result queue_hostile(struct MHD_Connection *conn, mtp_fault fault, const char *path,
                                     const char *auth, const mtp_mock_reply *r, size_t *sent)
{
    static const char body[] = "not what was asked for";
    size_t len = fault == MTP_FAULT_NO_CONTENT ? 0 : sizeof body - 1;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    *sent = len;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type != NULL ? r->content_type : "text/plain");
    if (fault == MTP_FAULT_REDIRECT) {
        char location[1024];
        snprintf(location, sizeof location, "http://127.0.0.2:9/moved%.400s?token=%.400s", path,
                 presented_token(auth));
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, location);
    } else if (fault == MTP_FAULT_BIG_HEADER) {
        size_t n = 256 * 1024;
        char *padding = malloc(n + 1);
        if (padding != NULL) {
            memset(padding, 'a', n);
            padding[n] = '\0';
            MHD_add_response_header(resp, "X-Padding", padding);
            free(padding);
        }
    }
    static const unsigned status[] = {302, 204, 206, 200};
    enum MHD_Result ok = MHD_queue_response(conn, status[fault - MTP_FAULT_REDIRECT], resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    mtp_mock *m = cls;
    request *req = *con_cls;
    if (req == NULL || req->uri == NULL)
        return MHD_NO;
    if (!req->seen) {
        req->seen = 1; /* headers are in; answer on the next call */
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* request bodies are ignored */
        return MHD_YES;
    }

    char *path = req->uri;
    char *q = strchr(path, '?');
    const char *query = "";
    if (q != NULL) {
        *q = '\0';
        query = q + 1;
    }
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    const char *accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept");
    const char *agent = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent");

    mtp_error err = MTP_ERROR_INIT;
    mtp_mock_reply reply = MTP_MOCK_REPLY_INIT;
    int rc;
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        rc = mtp_mock_route(path, auth_accepted(m, auth), &reply, &err);
    else
        rc = mtp_mock_method_reply(method, &reply, &err);

    if (rc == 0 && reply.is_cutout && m->opt.cutout_cap > 0) {
        int bits = mtp_synth_bits(reply.channel);
        uint64_t weighed = mtp_box_voxels(&reply.box) * (uint64_t)bits / 8 / (bits == 64 ? 4 : 1);
        if (weighed > m->opt.cutout_cap) {
            mtp_mock_reply_clear(&reply);
            rc = mtp_mock_too_large_reply(&reply, &err);
        }
    }
    mtp_fault fault = MTP_FAULT_NONE;
    uint64_t variant = 0;
    if (rc == 0 && reply.is_cutout && m->opt.fail_rate > 0.0) {
        uint64_t nth = mtp_fault_counter_next(m->counter, path);
        fault =
            mtp_fault_draw(m->opt.seed, path, nth, m->opt.fail_rate, m->opt.fail_kinds, &variant);
    }
    /* A busy server: a cutout is in flight from here until its body is sent. */
    int counted = 0, inflight_now = 0;
    bool busy = false;
    if (rc == 0 && reply.is_cutout && m->opt.max_inflight > 0 && fault == MTP_FAULT_NONE) {
        inflight_now = atomic_fetch_add(&m->inflight, 1) + 1;
        counted = 1;
        if ((unsigned)inflight_now > m->opt.max_inflight) {
            atomic_fetch_sub(&m->inflight, 1);
            counted = 0;
            busy = true;
        }
    }
    if (m->opt.delay_ms > 0)
        stall(m, m->opt.delay_ms);

    enum MHD_Result result = MHD_NO;
    size_t bytes = 0;
    body_ref *body = NULL;
    if (rc == 0 && m->opt.echo_token && !auth_accepted(m, auth)) {
        mtp_mock_reply_clear(&reply);
        fault = MTP_FAULT_NONE;
        result = queue_echo(conn, auth, &bytes);
    } else if (rc == 0 && fault >= MTP_FAULT_REDIRECT) {
        result = queue_hostile(conn, fault, path, auth, &reply, &bytes);
        mtp_mock_reply_clear(&reply);
    } else if (rc == 0 && fault == MTP_FAULT_RESET) {
        result = MHD_NO; /* MHD closes the connection without a response */
    } else if (rc == 0 && fault >= MTP_FAULT_429 && fault <= MTP_FAULT_504) {
        static const int status[] = {429, 500, 502, 503, 504};
        mtp_mock_reply_clear(&reply);
        rc = mtp_mock_status_reply(status[fault], &reply, &err);
    } else if (rc == 0 && busy) {
        mtp_mock_reply_clear(&reply);
        rc = mtp_mock_status_reply(503, &reply, &err);
        reply.retry_after = 1;
    } else if (rc == 0 && reply.is_cutout) {
        rc = cutout_body(m, &reply, &body, &err);
        if (rc < 0) {
            mtp_mock_reply_clear(&reply);
            rc = mtp_mock_status_reply(500, &reply, &err);
        }
    }
    if (rc == 0 && fault != MTP_FAULT_RESET && reply.status != 0) {
        if (body != NULL) {
            result = queue_cutout(m, conn, &reply, body, fault, variant, &bytes, counted);
            counted = 0;
        } else {
            result = queue_buffer(conn, &reply);
            bytes = reply.body_len;
        }
    }
    int status = (rc == 0 && fault != MTP_FAULT_RESET) ? reply.status : 0;
    if (echoed_or_hostile(m, fault, auth))
        status = answered_status(m, fault, auth);
    if (counted) /* answered without a body (an error reply) */
        atomic_fetch_sub(&m->inflight, 1);
    log_request(m, method, path, query, status, busy ? "busy" : mtp_fault_name(fault), bytes,
                accept, agent, auth != NULL, inflight_now);
    mtp_mock_reply_clear(&reply);
    return result;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    request *req = calloc(1, sizeof *req);
    if (req != NULL)
        req->uri = strdup(uri != NULL ? uri : "");
    return req;
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    request *req = *con_cls;
    if (req != NULL) {
        free(req->uri);
        free(req);
    }
    *con_cls = NULL;
}

/* ---- lifecycle ----------------------------------------------------------------------- */

int mtp_mock_start(mtp_mock **out, const mtp_mock_options *options, mtp_error *err)
{
    *out = NULL;
    if (options->port > 65535)
        return mtp_error_set(err, MTP_EINVAL, "port %u is not in 0-65535", options->port);
    if (!(options->fail_rate >= 0.0 && options->fail_rate <= 1.0))
        return mtp_error_set(err, MTP_EINVAL, "fail rate %g is not in [0, 1]", options->fail_rate);
    int rc = 0;
    mtp_mock *m = calloc(1, sizeof *m);
    if (m == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "mock: out of memory");
    m->opt = *options;
    m->opt.token = NULL;
    m->opt.log_path = NULL;
    atomic_init(&m->stopping, 0);
    pthread_mutex_init(&m->log_lock, NULL);
    pthread_mutex_init(&m->cache_lock, NULL);
    pthread_mutex_init(&m->gen_lock, NULL);
    pthread_mutex_init(&m->rate_lock, NULL);
    m->t0 = mono_s();
    atomic_init(&m->inflight, 0);
    pthread_cond_init(&m->gen_cond, NULL);
    if (options->token != NULL) {
        m->token = strdup(options->token);
        if (m->token == NULL) {
            rc = mtp_error_set(err, MTP_ENOMEM, "mock: out of memory");
            goto out;
        }
    }
    /* Enough entries for the bodies that fit: most cutouts of a plan are far below 1 MB. */
    m->cache_slots = options->cache_bytes / CACHE_BYTES_PER_SLOT;
    if (m->cache_slots < CACHE_MIN_SLOTS)
        m->cache_slots = CACHE_MIN_SLOTS;
    m->cache = calloc(m->cache_slots, sizeof *m->cache);
    if (m->cache == NULL) {
        rc = mtp_error_set(err, MTP_ENOMEM, "mock: out of memory");
        goto out;
    }
    rc = mtp_fault_counter_new(&m->counter, err);
    if (rc < 0)
        goto out;
    if (options->log_path != NULL) {
        m->log = fopen(options->log_path, "a");
        if (m->log == NULL) {
            rc = mtp_error_set(err, MTP_EIO, "%s: cannot open the log", options->log_path);
            goto out;
        }
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)options->port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    m->daemon = MHD_start_daemon(
        MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
        (uint16_t)options->port, NULL, NULL, handle, m, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_URI_LOG_CALLBACK, on_uri, m,
        MHD_OPTION_NOTIFY_COMPLETED, on_done, m, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)CONNECTION_TIMEOUT_S,
        /* Room for the bigheader fault's 256 KiB header (the default pool is 32 KiB). */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(1u << 20), MHD_OPTION_END);
    if (m->daemon == NULL) {
        rc = mtp_error_set(err, MTP_ENET, "cannot listen on 127.0.0.1:%u", options->port);
        goto out;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
    m->port = info != NULL ? info->port : options->port;
out:
    if (rc < 0) {
        mtp_mock_free(m);
        m = NULL;
    }
    *out = m;
    return rc;
}

unsigned mtp_mock_port(const mtp_mock *mock)
{
    return mock->port;
}

void mtp_mock_cache_usage(mtp_mock *mock, size_t *entries, size_t *bytes, size_t *slots)
{
    size_t n = 0;
    pthread_mutex_lock(&mock->cache_lock);
    for (size_t i = 0; i < mock->cache_slots; i++)
        n += mock->cache[i].body != NULL;
    *bytes = mock->cache_total;
    pthread_mutex_unlock(&mock->cache_lock);
    *entries = n;
    *slots = mock->cache_slots;
}

void mtp_mock_free(mtp_mock *mock)
{
    if (mock == NULL)
        return;
    atomic_store(&mock->stopping, 1);
    if (mock->daemon != NULL)
        MHD_stop_daemon(mock->daemon);
    for (size_t i = 0; mock->cache != NULL && i < mock->cache_slots; i++)
        if (mock->cache[i].body != NULL) {
            free(mock->cache[i].body->data);
            free(mock->cache[i].body);
        }
    free(mock->cache);
    if (mock->log != NULL)
        fclose(mock->log);
    mtp_fault_counter_free(mock->counter);
    pthread_cond_destroy(&mock->gen_cond);
    pthread_mutex_destroy(&mock->gen_lock);
    pthread_mutex_destroy(&mock->cache_lock);
    pthread_mutex_destroy(&mock->log_lock);
    free(mock->token);
    free(mock);
}
