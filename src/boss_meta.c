/*
 * boss_meta.c — the BossDB metadata requests of the client (boss.h: mtp_boss_channel_meta,
 * mtp_boss_prefetch_meta): GETs with the retry policy, the answers remembered by URL, and the
 * parallel prefetch. The cutout engine is boss.c; the JSON parsers are boss_proto.c.
 */
#include "boss_transport.h"
#include "mtp/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct membuf {
    char *data;
    size_t len, alloc, cap;
    bool too_large;
};

static size_t membuf_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct membuf *m = userdata;
    size_t n = size * nmemb;
    if (n > m->cap - m->len) {
        m->too_large = true;
        return 0;
    }
    if (m->len + n + 1 > m->alloc) {
        size_t want = m->alloc ? m->alloc : 4096;
        while (want < m->len + n + 1)
            want *= 2;
        if (want > m->cap + 1)
            want = m->cap + 1;
        char *p = realloc(m->data, want);
        if (p == NULL)
            return 0;
        m->data = p;
        m->alloc = want;
    }
    memcpy(m->data + m->len, ptr, n);
    m->len += n;
    m->data[m->len] = '\0';
    return n;
}

/*
 * GET a JSON metadata URL with the retry policy (the only request in flight, so waiting
 * with a plain sleep is fine). On success body holds the bytes (caller frees body->data).
 */
static int get_meta(mtp_boss *b, const char *url, struct membuf *body, mtp_error *err)
{
    int rc = 0;
    char errbuf[CURL_ERROR_SIZE];
    char last[DESCR_MAX] = "";
    CURL *e = b->meta_easy;
    /* source.timeout_s bounds the whole sequence of attempts, backoffs included. */
    double deadline = mtp_boss_now_s() + b->opt.timeout_s;
    for (int attempt = 0;; attempt++) {
        free(body->data);
        *body = (struct membuf){NULL, 0, 0, MTP_BOSS_META_MAX, false};
        struct header_count headers = {0, false, 0};
        errbuf[0] = '\0';
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, membuf_write);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, body);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, mtp_boss_count_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, &headers);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, mtp_boss_ms_until(deadline));
        b->stats.requests++;
        CURLcode cc = curl_easy_perform(e);
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        /* Whatever the server sent goes no further with the token in it. */
        mtp_boss_scrub(b, body->data, body->len);
        mtp_boss_action act = MTP_BOSS_RETRY;
        if (cc != CURLE_OK) {
            if (body->too_large)
                snprintf(last, sizeof last, "response larger than %d bytes", MTP_BOSS_META_MAX);
            else
                mtp_boss_describe_failure(b, cc, errbuf, &headers, last, sizeof last);
        } else {
            act = mtp_boss_classify(status);
            if (act == MTP_BOSS_DONE)
                return 0;
            mtp_boss_describe_answer(b, e, status, body->data, body->len, last, sizeof last);
        }
        if (act != MTP_BOSS_RETRY) {
            rc = mtp_error_set(err, MTP_ESERVER, "GET %s: %s", url, last);
            break;
        }
        if (attempt >= b->opt.retries) {
            rc = mtp_error_set(err, MTP_ENET, "GET %s: giving up after %d retries: %s", url,
                               b->opt.retries, last);
            break;
        }
        int64_t delay =
            mtp_boss_backoff_ms(b->opt.backoff_ms, b->opt.backoff_max_ms, attempt, &b->rng);
        if (mtp_boss_now_s() + (double)delay / 1000.0 >= deadline) {
            rc = mtp_error_set(err, MTP_ENET,
                               "GET %s: no answer within source.timeout_s = %d s (%d attempts): %s",
                               url, b->opt.timeout_s, attempt + 1, last);
            break;
        }
        b->stats.retries++;
        mtp_net_sleep_ms(delay);
    }
    free(body->data);
    body->data = NULL;
    return rc;
}

/* Remember a metadata answer by URL (the body moves into the client); false if full. */
static bool remember_answer(mtp_boss *b, const char *url, char **body, size_t len)
{
    if (b->nanswers >= META_ANSWERS || *body == NULL)
        return false;
    char *copy = strdup(url);
    if (copy == NULL)
        return false;
    b->answers[b->nanswers++] = (struct meta_answer){copy, *body, len};
    *body = NULL;
    return true;
}

/* The remembered answer of `url`, or NULL. */
static const struct meta_answer *find_answer(const mtp_boss *b, const char *url)
{
    for (int i = 0; i < b->nanswers; i++)
        if (strcmp(b->answers[i].url, url) == 0)
            return &b->answers[i];
    return NULL;
}

typedef int (*meta_parser)(const char *, size_t, mtp_channel_meta *, mtp_error *);

/* GET url and parse it into out; with `shared` (experiment and coordinate-frame answers,
 * which every channel of an experiment asks for) the answer is remembered by URL. */
static int fetch_meta(mtp_boss *b, const char *url, meta_parser parse, mtp_channel_meta *out,
                      bool shared, mtp_error *err)
{
    const struct meta_answer *known = find_answer(b, url);
    if (known != NULL) {
        int rc = parse(known->body, known->len, out, err);
        if (rc < 0)
            mtp_error_prefix(err, "GET %s", url);
        return rc;
    }
    struct membuf body = {NULL, 0, 0, MTP_BOSS_META_MAX, false};
    int rc = get_meta(b, url, &body, err);
    if (rc < 0)
        goto out;
    rc = parse(body.data != NULL ? body.data : "", body.len, out, err);
    if (rc < 0) {
        mtp_error_prefix(err, "GET %s", url);
    } else if (shared) {
        remember_answer(b, url, &body.data, body.len);
    }
out:
    free(body.data);
    return rc;
}

/* One round of mtp_boss_prefetch_meta: GET the distinct urls not yet answered, all at once
 * on the multi handle, one attempt each; remember every 200. */
static void prefetch_round(mtp_boss *b, char (*urls)[URL_MAX], int n)
{
    struct {
        CURL *easy;
        struct membuf body;
        struct header_count headers;
        bool complete; /* the transfer ended with CURLE_OK */
    } get[3 * MTP_MAX_CHANNELS];
    int k = 0;
    for (int i = 0; i < n && k < (int)(sizeof get / sizeof get[0]); i++) {
        bool dup = find_answer(b, urls[i]) != NULL;
        for (int j = 0; j < i && !dup; j++)
            dup = strcmp(urls[j], urls[i]) == 0;
        if (dup)
            continue;
        CURL *e = curl_easy_duphandle(b->meta_easy);
        if (e == NULL)
            break;
        get[k].easy = e;
        get[k].complete = false;
        get[k].body = (struct membuf){NULL, 0, 0, MTP_BOSS_META_MAX, false};
        curl_easy_setopt(e, CURLOPT_URL, urls[i]);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, membuf_write);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &get[k].body);
        /* Every pointer option is set afresh: the duplicate copies meta_easy's, which may
         * point at a finished get_meta's stack. */
        get[k].headers = (struct header_count){0, false, 0};
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, mtp_boss_count_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, &get[k].headers);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
        /* A stalled or slow answer is left to the sequential pass, so the prefetch costs
         * at most one stall time (not a whole timeout) before that pass asks again. */
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, mtp_boss_stall_s(b) * 1000L);
        curl_easy_setopt(e, CURLOPT_PRIVATE, urls[i]);
        if (curl_multi_add_handle(b->multi, e) != CURLM_OK) {
            curl_easy_cleanup(e);
            break;
        }
        b->stats.requests++;
        k++;
    }
    double deadline = mtp_boss_now_s() + (double)mtp_boss_stall_s(b);
    for (int running = k; running > 0 && mtp_boss_now_s() < deadline;) {
        if (curl_multi_perform(b->multi, &running) != CURLM_OK)
            break;
        CURLMsg *msg;
        int left = 0;
        while ((msg = curl_multi_info_read(b->multi, &left)) != NULL) {
            for (int i = 0; i < k && msg->msg == CURLMSG_DONE; i++)
                if (get[i].easy == msg->easy_handle)
                    get[i].complete = msg->data.result == CURLE_OK;
        }
        if (running > 0)
            curl_multi_poll(b->multi, NULL, 0, TICK_MS, NULL);
    }
    for (int i = 0; i < k; i++) {
        long status = 0;
        char *url = NULL;
        curl_easy_getinfo(get[i].easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(get[i].easy, CURLINFO_PRIVATE, &url);
        curl_multi_remove_handle(b->multi, get[i].easy);
        curl_easy_cleanup(get[i].easy);
        /* A complete 200 only: a transfer cut short (a reset, a truncated body, the
         * deadline) may already have its 200 status. The token is masked before the body is
         * kept, as get_meta does. */
        if (get[i].complete && status == 200 && !get[i].body.too_large &&
            get[i].body.data != NULL) {
            mtp_boss_scrub(b, get[i].body.data, get[i].body.len);
            remember_answer(b, url, &get[i].body.data, get[i].body.len);
        }
        free(get[i].body.data);
    }
}

void mtp_boss_prefetch_meta(mtp_boss *b, const mtp_channel *const *chs, int n)
{
    char urls[2 * MTP_MAX_CHANNELS][URL_MAX];
    int k = 0;
    mtp_error ignored = MTP_ERROR_INIT;
    if (n > MTP_MAX_CHANNELS)
        n = MTP_MAX_CHANNELS;
    for (int i = 0; i < n; i++) {
        const mtp_channel *ch = chs[i];
        if (mtp_boss_experiment_url(urls[k], URL_MAX, b->url, ch->collection, ch->experiment,
                                    &ignored) == 0)
            k++;
        if (mtp_boss_channel_url(urls[k], URL_MAX, b->url, ch->collection, ch->experiment,
                                 ch->channel, &ignored) == 0)
            k++;
    }
    prefetch_round(b, urls, k);
    /* The coordinate frames the experiments name (when their answers parse). */
    int ncoord = 0;
    for (int i = 0; i < n; i++) {
        char url[URL_MAX];
        mtp_channel_meta m;
        memset(&m, 0, sizeof m);
        if (mtp_boss_experiment_url(url, sizeof url, b->url, chs[i]->collection, chs[i]->experiment,
                                    &ignored) != 0)
            continue;
        const struct meta_answer *exp = find_answer(b, url);
        if (exp != NULL && mtp_boss_parse_experiment_json(exp->body, exp->len, &m, &ignored) == 0 &&
            mtp_boss_coord_url(urls[ncoord], URL_MAX, b->url, m.coord_frame, &ignored) == 0)
            ncoord++;
    }
    prefetch_round(b, urls, ncoord);
}

int mtp_boss_channel_meta(mtp_boss *b, const mtp_channel *ch, mtp_channel_meta *out, mtp_error *err)
{
    char url[URL_MAX];
    memset(out, 0, sizeof *out);
    int rc = mtp_boss_experiment_url(url, sizeof url, b->url, ch->collection, ch->experiment, err);
    if (rc == 0)
        rc = fetch_meta(b, url, mtp_boss_parse_experiment_json, out, true, err);
    if (rc == 0)
        rc = mtp_boss_coord_url(url, sizeof url, b->url, out->coord_frame, err);
    if (rc == 0)
        rc = fetch_meta(b, url, mtp_boss_parse_coord_json, out, true, err);
    if (rc == 0)
        rc = mtp_boss_channel_url(url, sizeof url, b->url, ch->collection, ch->experiment,
                                  ch->channel, err);
    if (rc == 0)
        rc = fetch_meta(b, url, mtp_boss_parse_channel_json, out, false, err);
    return rc;
}
