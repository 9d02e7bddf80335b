/*
 * zenodo.c — the Zenodo deposit client (zenodo.h): one libcurl easy handle, one request at a
 * time, each with the retry policy of the BossDB client.
 */
#include "mtp/zenodo.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "mtp/boss.h"
#include "mtp/net.h"

#define STALL_BYTES_PER_S 1024

struct mtp_zenodo {
    mtp_zenodo_options opt;
    char url[MTP_ZENODO_URL_MAX - 128]; /* the base; request URLs add at most ~80 bytes */
    char token[512];
    char auth_header[600];
    CURL *easy;
    uint64_t rng;
    mtp_zenodo_stats stats;
};

/* A request. Exactly one of json_body / upload_path, or neither. */
typedef struct request {
    const char *method;
    const char *url;
    const char *json_body;
    const char *upload_path;
    const char *upload_name;
} request;

typedef struct answer {
    char *data;
    size_t len;
    bool too_big;
    double retry_after_s; /* from a Retry-After header, 0 if none */
} answer;

typedef struct upload_state {
    FILE *f;
    mtp_zenodo *z;
    const char *name;
} upload_state;

/* ---- helpers -------------------------------------------------------------------------- */

static bool cancelled(const mtp_zenodo *z)
{
    return z->opt.cancel != NULL && *z->opt.cancel;
}

/* The URL without the base, for messages ("/api/deposit/depositions/12"). */
static const char *shown_path(const mtp_zenodo *z, const char *url)
{
    size_t n = strlen(z->url);
    return strncmp(url, z->url, n) == 0 ? url + n : url;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    answer *a = userdata;
    size_t n = size * nmemb;
    if (a->len + n > MTP_ZENODO_ANSWER_MAX) {
        a->too_big = true;
        return 0; /* aborts the transfer */
    }
    char *grown = realloc(a->data, a->len + n + 1);
    if (grown == NULL)
        return 0;
    a->data = grown;
    memcpy(a->data + a->len, data, n);
    a->len += n;
    a->data[a->len] = '\0';
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    answer *a = userdata;
    size_t n = size * nmemb;
    double s = mtp_net_retry_after(data, n);
    if (s > 0)
        a->retry_after_s = s;
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *userdata)
{
    upload_state *u = userdata;
    size_t got = fread(buf, 1, size * nmemb, u->f);
    if (got == 0 && ferror(u->f))
        return CURL_READFUNC_ABORT;
    return got;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    upload_state *u = userdata;
    if (cancelled(u->z))
        return 1;
    if (u->name != NULL && u->z->opt.progress != NULL && ultotal > 0)
        u->z->opt.progress(u->z->opt.progress_data, u->name, (int64_t)ulnow, (int64_t)ultotal);
    return 0;
}

/* ---- one attempt ------------------------------------------------------------------------ */

static CURLcode attempt(mtp_zenodo *z, const request *r, answer *a, long *status, char *errbuf,
                        int *open_errno)
{
    CURL *e = z->easy;
    curl_easy_reset(e);
    struct curl_slist *headers = curl_slist_append(NULL, z->auth_header);
    headers = curl_slist_append(headers, "Accept: application/json");
    headers = curl_slist_append(headers, "Expect:");
    upload_state up = {NULL, z, r->upload_name};
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, &up);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)STALL_BYTES_PER_S);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)z->opt.stall_s);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (r->upload_path != NULL) {
        struct stat st;
        up.f = fopen(r->upload_path, "rb");
        if (up.f == NULL || fstat(fileno(up.f), &st) != 0) {
            *open_errno = errno;
            if (up.f != NULL)
                fclose(up.f);
            curl_slist_free_all(headers);
            return CURLE_READ_ERROR;
        }
        headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, &up);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
    } else {
        curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)z->opt.timeout_s);
        if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "DELETE") != 0) {
            const char *body = r->json_body != NULL ? r->json_body : "";
            if (r->json_body != NULL)
                headers = curl_slist_append(headers, "Content-Type: application/json");
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        }
        if (strcmp(r->method, "POST") != 0 && strcmp(r->method, "GET") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    CURLcode cc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
    if (up.f != NULL)
        fclose(up.f);
    curl_slist_free_all(headers);
    z->stats.requests++;
    return cc;
}

/* ---- the server's words ------------------------------------------------------------------ */

void mtp_zenodo_describe_refusal(const char *body, size_t len, const char *token, char *out,
                                 size_t n)
{
    if (n == 0)
        return;
    out[0] = '\0';
    /* The token is masked in the body first and in the line before it is cut to n, so no
     * part of it survives a cut either. */
    const char *secret = token != NULL ? token : "";
    size_t room = n + strlen(secret);
    char *masked = body != NULL ? malloc(len + 1) : NULL;
    char *line = malloc(room);
    if (line == NULL || (body != NULL && masked == NULL)) {
        free(masked);
        free(line);
        return;
    }
    line[0] = '\0';
    if (masked != NULL) {
        memcpy(masked, body, len);
        masked[len] = '\0';
        mtp_net_mask(masked, len, secret);
    }
    json_t *j = masked != NULL ? json_loadb(masked, len, 0, NULL) : NULL;
    const char *message = json_string_value(json_object_get(j, "message"));
    size_t used = 0;
    if (message != NULL)
        used += (size_t)snprintf(line, room, "%s", message);
    json_t *errors = json_object_get(j, "errors");
    for (size_t i = 0; json_is_array(errors) && i < json_array_size(errors) && used < room; i++) {
        json_t *e = json_array_get(errors, i);
        const char *field = json_string_value(json_object_get(e, "field"));
        json_t *m = json_object_get(e, "messages");
        const char *msg = json_string_value(json_object_get(e, "message"));
        if (msg == NULL && json_is_array(m))
            msg = json_string_value(json_array_get(m, 0));
        used += (size_t)snprintf(line + used, room - used, "%s%s: %s", used > 0 ? "; " : "",
                                 field != NULL ? field : "(no field)", msg != NULL ? msg : "?");
    }
    if (line[0] == '\0' && masked != NULL)
        snprintf(line, room, "%.*s", (int)(len < 200 ? len : 200), masked);
    json_decref(j);
    mtp_net_mask(line, strlen(line), secret);
    snprintf(out, n, "%s", line);
    mtp_text_printable(out);
    free(masked);
    free(line);
}

static void describe_refusal(const mtp_zenodo *z, const answer *a, char *out, size_t n)
{
    mtp_zenodo_describe_refusal(a->data, a->len, z->token, out, n);
}

/* ---- a request with retries --------------------------------------------------------------- */

/* Perform `r`; on 2xx parse the answer into *out (when out != NULL and there is a body). */
static int perform(mtp_zenodo *z, const request *r, json_t **out, mtp_error *err)
{
    if (out != NULL)
        *out = NULL;
    const char *path = shown_path(z, r->url);
    char errbuf[CURL_ERROR_SIZE];
    answer a = {NULL, 0, false, 0};
    long status = 0;
    CURLcode cc = CURLE_OK;
    int open_errno = 0;
    int tries = 0;
    for (;;) {
        if (cancelled(z))
            return mtp_error_set(err, MTP_ECANCEL, "cancelled");
        free(a.data);
        a = (answer){NULL, 0, false, 0};
        errbuf[0] = '\0';
        status = 0;
        cc = attempt(z, r, &a, &status, errbuf, &open_errno);
        tries++;
        if (cc == CURLE_READ_ERROR && open_errno != 0) {
            free(a.data);
            return mtp_error_set(err, MTP_EIO, "%s: %s", r->upload_path, strerror(open_errno));
        }
        if (cc == CURLE_ABORTED_BY_CALLBACK && cancelled(z)) {
            free(a.data);
            return mtp_error_set(err, MTP_ECANCEL, "cancelled");
        }
        bool retryable =
            (cc != CURLE_OK && !a.too_big) || (cc == CURLE_OK && (status == 429 || status >= 500));
        if (!retryable || tries > z->opt.retries)
            break;
        z->stats.retries++;
        int64_t wait =
            mtp_boss_backoff_ms(z->opt.backoff_ms, z->opt.backoff_max_ms, tries - 1, &z->rng);
        if (a.retry_after_s * 1000.0 > (double)wait)
            wait = (int64_t)(a.retry_after_s * 1000.0);
        for (int64_t waited = 0; waited < wait && !cancelled(z); waited += 100)
            mtp_net_sleep_ms(wait - waited < 100 ? wait - waited : 100);
    }
    int rc = 0;
    if (a.too_big) {
        rc = mtp_error_set(err, MTP_EFORMAT, "%s %s: answer larger than %u bytes", r->method, path,
                           MTP_ZENODO_ANSWER_MAX);
    } else if (cc != CURLE_OK) {
        char why[CURL_ERROR_SIZE + 64];
        snprintf(why, sizeof why, "%s", errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
        mtp_net_mask(why, strlen(why), z->token);
        rc = mtp_error_set(err, MTP_ENET, "%s %s: %s (after %d attempts)", r->method, path, why,
                           tries);
    } else if (status >= 400 || status < 200) {
        char why[900];
        describe_refusal(z, &a, why, sizeof why);
        rc = mtp_error_set(err, status >= 500 || status == 429 ? MTP_ENET : MTP_ESERVER,
                           "%s %s: %ld: %s%s", r->method, path, status, why,
                           status >= 500 || status == 429 ? " (after every retry)" : "");
    } else if (out != NULL && a.len > 0) {
        json_error_t jerr;
        *out = json_loadb(a.data, a.len, 0, &jerr);
        if (*out == NULL)
            rc = mtp_error_set(err, MTP_EFORMAT, "%s %s: answer is not JSON: %s", r->method, path,
                               jerr.text);
    }
    free(a.data);
    return rc;
}

/* ---- parsing --------------------------------------------------------------------------------- */

static void copy_json_string(char *dst, size_t n, json_t *v)
{
    const char *s = json_string_value(v);
    snprintf(dst, n, "%s", s != NULL ? s : "");
    mtp_text_printable(dst);
}

static int parse_deposit(const json_t *j, mtp_zenodo_deposit *dep, const char *what, mtp_error *err)
{
    memset(dep, 0, sizeof *dep);
    json_t *id = json_object_get(j, "id");
    json_t *links = json_object_get(j, "links");
    if (!json_is_integer(id) || json_integer_value(id) <= 0 || !json_is_object(links))
        return mtp_error_set(err, MTP_EFORMAT, "%s: the answer is not a deposition", what);
    dep->id = (int64_t)json_integer_value(id);
    dep->submitted = json_is_true(json_object_get(j, "submitted"));
    copy_json_string(dep->state, sizeof dep->state, json_object_get(j, "state"));
    copy_json_string(dep->bucket, sizeof dep->bucket, json_object_get(links, "bucket"));
    copy_json_string(dep->html, sizeof dep->html, json_object_get(links, "html"));
    copy_json_string(dep->latest_draft, sizeof dep->latest_draft,
                     json_object_get(links, "latest_draft"));
    copy_json_string(dep->record_html, sizeof dep->record_html,
                     json_object_get(links, "record_html"));
    copy_json_string(dep->doi, sizeof dep->doi, json_object_get(j, "doi"));
    json_t *pre = json_object_get(json_object_get(j, "metadata"), "prereserve_doi");
    copy_json_string(dep->prereserved_doi, sizeof dep->prereserved_doi,
                     json_object_get(pre, "doi"));
    return 0;
}

/* The file list of a deposition (GET .../files) into *files (caller frees), *n entries. */
static int files_from_json(const json_t *j, const char *what, mtp_zenodo_file **files, int *n,
                           mtp_error *err)
{
    *files = NULL;
    *n = 0;
    size_t count = json_array_size(j);
    if (!json_is_array(j) || count > 1000)
        return mtp_error_set(err, MTP_EFORMAT, "%s: not a list of at most 1000 files", what);
    mtp_zenodo_file *out = calloc(count > 0 ? count : 1, sizeof *out);
    if (out == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "zenodo: out of memory");
    for (size_t i = 0; i < count; i++) {
        json_t *f = json_array_get(j, i);
        const char *name = json_string_value(json_object_get(f, "filename"));
        const char *md5 = json_string_value(json_object_get(f, "checksum"));
        json_t *size = json_object_get(f, "filesize");
        if (md5 != NULL && strncmp(md5, "md5:", 4) == 0)
            md5 += 4;
        if (name == NULL || strlen(name) >= sizeof out[i].name || md5 == NULL ||
            strlen(md5) != 32 || !json_is_number(size) || json_number_value(size) < 0 ||
            json_number_value(size) > 9.0e18) {
            free(out);
            return mtp_error_set(err, MTP_EFORMAT, "%s: file %zu is malformed", what, i);
        }
        snprintf(out[i].name, sizeof out[i].name, "%s", name);
        snprintf(out[i].md5, sizeof out[i].md5, "%s", md5);
        out[i].size = (int64_t)json_number_value(size);
    }
    *files = out;
    *n = (int)count;
    return 0;
}

/* The text forms of the two parsers, for the fuzz targets and tests (see zenodo.h). */
static int load_answer(const char *body, size_t len, const char *what, json_t **j, mtp_error *err)
{
    json_error_t jerr;
    *j = len <= MTP_ZENODO_ANSWER_MAX ? json_loadb(body, len, 0, &jerr) : NULL;
    if (*j == NULL)
        return mtp_error_set(err, MTP_EFORMAT, "%s: answer is not JSON of at most %u bytes", what,
                             MTP_ZENODO_ANSWER_MAX);
    return 0;
}

int mtp_zenodo_parse_deposit(const char *body, size_t len, const char *what,
                             mtp_zenodo_deposit *dep, mtp_error *err)
{
    json_t *j = NULL;
    memset(dep, 0, sizeof *dep);
    int rc = load_answer(body, len, what, &j, err);
    if (rc == 0)
        rc = parse_deposit(j, dep, what, err);
    json_decref(j);
    return rc;
}

int mtp_zenodo_parse_files(const char *body, size_t len, const char *what, mtp_zenodo_file **files,
                           int *n, mtp_error *err)
{
    json_t *j = NULL;
    *files = NULL;
    *n = 0;
    int rc = load_answer(body, len, what, &j, err);
    if (rc == 0)
        rc = files_from_json(j, what, files, n, err);
    json_decref(j);
    return rc;
}

/* ---- the API ------------------------------------------------------------------------------- */

int mtp_zenodo_new(mtp_zenodo **out, const mtp_zenodo_options *opt, mtp_error *err)
{
    if (out == NULL || opt == NULL)
        return mtp_error_set(err, MTP_EINVAL, "zenodo: NULL argument");
    *out = NULL;
    const char *url = opt->url != NULL ? opt->url : "";
    const char *token = opt->token != NULL ? opt->token : "";
    size_t ulen = strlen(url);
    while (ulen > 0 && url[ulen - 1] == '/')
        ulen--;
    if ((strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) ||
        ulen >= MTP_ZENODO_URL_MAX - 128 || strpbrk(url, " \t\r\n") != NULL)
        return mtp_error_set(err, MTP_ECONFIG, "Zenodo URL '%.200s' is not an http(s) URL", url);
    if (token[0] == '\0' || strlen(token) >= 500 || strpbrk(token, " \t\r\n") != NULL)
        return mtp_error_set(err, MTP_ECONFIG, "the Zenodo token is empty, too long or has spaces");
    if (!mtp_net_token_may_travel(url, token))
        return mtp_error_set(err, MTP_ECONFIG,
                             "%.200s: a token is never sent over plain http to a host that is "
                             "not this machine; use https",
                             url);
    if (opt->retries < 0 || opt->retries > 100 || opt->timeout_s < 1 || opt->stall_s < 1 ||
        opt->stall_s > 3600 || opt->backoff_ms < 0 || opt->backoff_max_ms < opt->backoff_ms)
        return mtp_error_set(err, MTP_EINVAL, "zenodo: retry options out of range");
    mtp_zenodo *z = calloc(1, sizeof *z);
    if (z == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "zenodo: out of memory");
    z->opt = *opt;
    snprintf(z->url, sizeof z->url, "%.*s", (int)ulen, url);
    snprintf(z->token, sizeof z->token, "%s", token);
    snprintf(z->auth_header, sizeof z->auth_header, "Authorization: Bearer %s", token);
    z->opt.url = z->url;
    z->opt.token = z->token;
    z->rng = opt->seed;
    z->easy = curl_easy_init();
    if (z->easy == NULL) {
        free(z);
        return mtp_error_set(err, MTP_ENOMEM, "zenodo: cannot create a libcurl handle");
    }
    *out = z;
    return 0;
}

void mtp_zenodo_free(mtp_zenodo *z)
{
    if (z == NULL)
        return;
    curl_easy_cleanup(z->easy);
    memset(z->token, 0, sizeof z->token);
    memset(z->auth_header, 0, sizeof z->auth_header);
    free(z);
}

mtp_zenodo_stats mtp_zenodo_get_stats(const mtp_zenodo *z)
{
    return z->stats;
}

static int deposit_request(mtp_zenodo *z, const char *method, const char *url, const char *body,
                           mtp_zenodo_deposit *dep, mtp_error *err)
{
    request r = {.method = method, .url = url, .json_body = body};
    json_t *j = NULL;
    int rc = perform(z, &r, &j, err);
    if (rc == 0 && dep != NULL) {
        char what[MTP_ZENODO_URL_MAX + 16];
        snprintf(what, sizeof what, "%s %s", method, shown_path(z, url));
        rc = parse_deposit(j, dep, what, err);
    }
    json_decref(j);
    return rc;
}

static void deposition_url(const mtp_zenodo *z, int64_t id, const char *rest, char *buf, size_t n)
{
    snprintf(buf, n, "%s/api/deposit/depositions/%" PRId64 "%s", z->url, id, rest);
}

int mtp_zenodo_create(mtp_zenodo *z, mtp_zenodo_deposit *dep, mtp_error *err)
{
    char url[MTP_ZENODO_URL_MAX];
    snprintf(url, sizeof url, "%s/api/deposit/depositions", z->url);
    return deposit_request(z, "POST", url, "{}", dep, err);
}

int mtp_zenodo_get(mtp_zenodo *z, int64_t id, mtp_zenodo_deposit *dep, mtp_error *err)
{
    char url[MTP_ZENODO_URL_MAX];
    deposition_url(z, id, "", url, sizeof url);
    return deposit_request(z, "GET", url, NULL, dep, err);
}

int mtp_zenodo_new_version(mtp_zenodo *z, int64_t id, mtp_zenodo_deposit *dep, mtp_error *err)
{
    char url[MTP_ZENODO_URL_MAX];
    deposition_url(z, id, "/actions/newversion", url, sizeof url);
    mtp_zenodo_deposit old;
    int rc = deposit_request(z, "POST", url, NULL, &old, err);
    if (rc < 0)
        return rc;
    if (strncmp(old.latest_draft, z->url, strlen(z->url)) != 0)
        return mtp_error_set(err, MTP_EFORMAT, "POST %s: links.latest_draft '%.200s' is not on %s",
                             shown_path(z, url), old.latest_draft, z->url);
    return deposit_request(z, "GET", old.latest_draft, NULL, dep, err);
}

int mtp_zenodo_set_metadata(mtp_zenodo *z, int64_t id, const char *metadata_json, mtp_error *err)
{
    json_error_t jerr;
    json_t *md = json_loads(metadata_json, 0, &jerr);
    if (!json_is_object(md)) {
        json_decref(md);
        return mtp_error_set(err, MTP_EFORMAT, "the deposit metadata is not a JSON object");
    }
    json_t *body = json_pack("{s:o}", "metadata", md);
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "zenodo: out of memory");
    char url[MTP_ZENODO_URL_MAX];
    deposition_url(z, id, "", url, sizeof url);
    int rc = deposit_request(z, "PUT", url, text, NULL, err);
    free(text);
    return rc;
}

int mtp_zenodo_list_files(mtp_zenodo *z, int64_t id, mtp_zenodo_file **files, int *n,
                          mtp_error *err)
{
    *files = NULL;
    *n = 0;
    char url[MTP_ZENODO_URL_MAX];
    deposition_url(z, id, "/files", url, sizeof url);
    request r = {.method = "GET", .url = url};
    json_t *j = NULL;
    int rc = perform(z, &r, &j, err);
    if (rc < 0)
        return rc;
    char what[MTP_ZENODO_URL_MAX + 8];
    snprintf(what, sizeof what, "GET %s", shown_path(z, url));
    rc = files_from_json(j, what, files, n, err);
    json_decref(j);
    return rc;
}

static void bucket_url(const char *bucket, const char *name, char *buf, size_t n)
{
    /* File names of a release are [A-Za-z0-9._-] plus a few; escape anything else. */
    size_t len = (size_t)snprintf(buf, n, "%s/", bucket);
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0' && len + 4 < n; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '.' || *p == '_' || *p == '-')
            buf[len++] = (char)*p;
        else
            len += (size_t)snprintf(buf + len, n - len, "%%%02X", *p);
    }
    buf[len] = '\0';
}

int mtp_zenodo_delete_file(mtp_zenodo *z, const char *bucket, const char *name, mtp_error *err)
{
    char url[MTP_ZENODO_URL_MAX + MTP_ZENODO_NAME_MAX * 3];
    bucket_url(bucket, name, url, sizeof url);
    request r = {.method = "DELETE", .url = url};
    return perform(z, &r, NULL, err);
}

int mtp_zenodo_upload(mtp_zenodo *z, const char *bucket, const char *name, const char *path,
                      const char *md5, mtp_error *err)
{
    if (strncmp(bucket, z->url, strlen(z->url)) != 0)
        return mtp_error_set(err, MTP_EFORMAT, "bucket '%.200s' is not on %s", bucket, z->url);
    char url[MTP_ZENODO_URL_MAX + MTP_ZENODO_NAME_MAX * 3];
    bucket_url(bucket, name, url, sizeof url);
    for (int round = 0; round < 2; round++) {
        request r = {.method = "PUT", .url = url, .upload_path = path, .upload_name = name};
        json_t *j = NULL;
        int rc = perform(z, &r, &j, err);
        if (rc < 0)
            return rc;
        const char *sum = json_string_value(json_object_get(j, "checksum"));
        bool same = sum != NULL && strncmp(sum, "md5:", 4) == 0 && strcmp(sum + 4, md5) == 0;
        char got[64];
        snprintf(got, sizeof got, "%s", sum != NULL ? sum : "(none)");
        mtp_text_printable(got);
        json_decref(j);
        z->stats.uploads++;
        struct stat st;
        if (stat(path, &st) == 0)
            z->stats.uploaded_bytes += (int64_t)st.st_size;
        if (same)
            return 0;
        rc = mtp_zenodo_delete_file(z, bucket, name, err);
        if (rc < 0)
            return rc;
        if (round == 1)
            return mtp_error_set(err, MTP_ECORRUPT,
                                 "%s: Zenodo's checksum %s differs from md5:%s twice", name, got,
                                 md5);
    }
    return 0;
}

int mtp_zenodo_publish(mtp_zenodo *z, int64_t id, mtp_zenodo_deposit *dep, mtp_error *err)
{
    char url[MTP_ZENODO_URL_MAX];
    deposition_url(z, id, "/actions/publish", url, sizeof url);
    return deposit_request(z, "POST", url, NULL, dep, err);
}
