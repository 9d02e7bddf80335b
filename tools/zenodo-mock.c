/*
 * zenodo-mock — a local Zenodo for the tests and the demo: the deposit API subset that
 * `mtneuro-pack publish` uses (../shared/reference/zenodo-api.md), with Zenodo's status codes
 * and JSON shapes, served by libmicrohttpd on 127.0.0.1.
 *
 *   POST   /api/deposit/depositions                      201 a new draft
 *   GET    /api/deposit/depositions/{id}                 200
 *   PUT    /api/deposit/depositions/{id}                 200, or 400 with field errors
 *   GET    /api/deposit/depositions/{id}/files           200 [{id, filename, filesize, checksum}]
 *   POST   /api/deposit/depositions/{id}/actions/publish     202 (>= 1 file, metadata set)
 *   POST   /api/deposit/depositions/{id}/actions/newversion  201, links.latest_draft = new draft
 *   POST   /api/deposit/depositions/{id}/actions/discard     201 (drafts)
 *   PUT    /api/files/{bucket}/{name}                    201 {key, size, checksum "md5:…", links}
 *   DELETE /api/files/{bucket}/{name}                    204
 *   GET    /api/records/{id}                             200 {id, doi, metadata,
 * files[…links.self]} GET    /api/records/{id}/files/{name}/content        200 the bytes
 *
 * Every /api/deposit and /api/files request needs "Authorization: Bearer TOKEN" (401
 * otherwise); records are public. The state lives in memory, uploaded bytes under --dir. One
 * thread serves everything, so no locking. The token never appears in the log or output.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <time.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/evp.h>

#define PROG "zenodo-mock"
#define MAX_DEPOSITS 256
#define MAX_FILES 100 /* Zenodo's per-record limit */
#define NAME_MAX_LEN 255
#define JSON_MAX (1 << 20) /* request bodies other than uploads */

static const char USAGE[] =
    "usage: zenodo-mock --dir DIR [--port N] [--token T] [--fail-rate P] [--seed S]\n"
    "                   [--max-bytes N] [--delay-ms N] [--corrupt-md5 NAME]\n"
    "                   [--stall-upload NAME] [--log FILE]\n"
    "\n"
    "A local Zenodo deposit API on 127.0.0.1 for tests and the demo. Prints\n"
    "'listening on http://127.0.0.1:PORT' when ready; stops on SIGINT/SIGTERM.\n"
    "\n"
    "  --dir DIR        where uploaded files are kept (created if missing)\n"
    "  --port N         port to listen on; 0 (default) picks a free one\n"
    "  --token T        the token clients must send as 'Authorization: Bearer T'\n"
    "                   (default: the ZENODO_MOCK_TOKEN environment variable, else 'sandbox')\n"
    "  --fail-rate P    fraction of file uploads that fail (0..1, default 0): a 503, a 429\n"
    "                   with Retry-After: 1, or a connection reset in the middle of the body\n"
    "  --seed S         seed of the failure choices (default 1; the same seed, the same faults)\n"
    "  --max-bytes N    bytes a record may hold (default 50000000000, Zenodo's 50 GB)\n"
    "  --delay-ms N     answer each file upload N ms late (a slow link; default 0)\n"
    "  --corrupt-md5 NAME  answer the first upload of file NAME with a wrong checksum (as if\n"
    "                   the bytes were damaged on the way)\n"
    "  --stall-upload NAME  leave the first upload of file NAME without an answer for 5 s\n"
    "                   (a stalled transfer; the server serves nothing else meanwhile)\n"
    "  --log FILE       append one JSON line per request: method, path, status, bytes\n";

typedef struct zfile {
    char name[NAME_MAX_LEN + 1];
    int64_t size;
    char md5[33];
} zfile;

typedef struct deposit {
    bool used;
    int id, conceptrecid;
    bool published, discarded;
    json_t *metadata; /* the last valid metadata set, or NULL */
    char doi[64];
    int latest_draft; /* newest draft of this concept made by newversion, 0 if none */
    int nfiles;
    zfile files[MAX_FILES];
} deposit;

typedef struct server {
    const char *dir;
    char token[512];
    double fail_rate;
    uint64_t rng;
    int64_t max_bytes;
    int delay_ms;
    const char *corrupt_name; /* the first upload of this name gets a wrong checksum */
    const char *stall_name;   /* the first upload of this name stalls 5 s before its answer */
    FILE *log;
    unsigned port;
    int ndeposits;
    deposit deposits[MAX_DEPOSITS];
} server;

/* One request's state across libmicrohttpd's calls. */
typedef struct request {
    char *body; /* JSON requests */
    size_t body_len;
    bool too_big;
    /* uploads */
    bool upload;
    int fault; /* 0 none, 1 503, 2 429, 3 reset */
    int status;
    char error[256];
    deposit *dep;
    char name[NAME_MAX_LEN + 1];
    FILE *out;
    char tmp_path[PATH_MAX];
    EVP_MD_CTX *md5;
    int64_t received;
} request;

static volatile sig_atomic_t stop_flag = 0;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static uint64_t next_random(server *s)
{
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ---- JSON answers ---------------------------------------------------------------------- */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *text,
                                 const char *type, const char *retry_after)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (retry_after != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (text == NULL)
        return send_text(c, 500, "{\"status\": 500, \"message\": \"out of memory\"}",
                         "application/json", NULL);
    enum MHD_Result ok = send_text(c, status, text, "application/json", NULL);
    free(text);
    return ok;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *message)
{
    return send_json(c, status, json_pack("{s:i, s:s}", "status", (int)status, "message", message));
}

static void base_url(const server *s, char *buf, size_t n)
{
    snprintf(buf, n, "http://127.0.0.1:%u", s->port);
}

static json_t *deposit_json(const server *s, const deposit *d)
{
    char base[64], self[128], html[256], bucket[256], files[256], publish[256], edit[256],
        discard[256], newversion[256], latest[256];
    base_url(s, base, sizeof base);
    snprintf(self, sizeof self, "%s/api/deposit/depositions/%d", base, d->id);
    snprintf(html, sizeof html, "%s/deposit/%d", base, d->id);
    snprintf(bucket, sizeof bucket, "%s/api/files/bucket-%d", base, d->id);
    snprintf(files, sizeof files, "%s/files", self);
    snprintf(publish, sizeof publish, "%s/actions/publish", self);
    snprintf(edit, sizeof edit, "%s/actions/edit", self);
    snprintf(discard, sizeof discard, "%s/actions/discard", self);
    snprintf(newversion, sizeof newversion, "%s/actions/newversion", self);
    snprintf(latest, sizeof latest, "%s/api/deposit/depositions/%d", base,
             d->latest_draft > 0 ? d->latest_draft : d->id);
    json_t *md = d->metadata != NULL ? json_deep_copy(d->metadata) : json_object();
    json_object_set_new(md, "prereserve_doi",
                        json_pack("{s:s, s:i}", "doi", d->doi, "recid", d->id));
    json_t *fl = json_array();
    for (int i = 0; i < d->nfiles; i++)
        json_array_append_new(fl,
                              json_pack("{s:s, s:s, s:I, s:s}", "id", d->files[i].name, "filename",
                                        d->files[i].name, "filesize", (json_int_t)d->files[i].size,
                                        "checksum", d->files[i].md5));
    json_t *links =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "self", self, "html", html,
                  "bucket", bucket, "files", files, "publish", publish, "edit", edit, "discard",
                  discard, "newversion", newversion, "latest_draft", latest);
    if (d->published) {
        char doi_url[128], record_html[256];
        snprintf(doi_url, sizeof doi_url, "https://doi.org/%s", d->doi);
        snprintf(record_html, sizeof record_html, "%s/records/%d", base, d->id);
        json_object_set_new(links, "doi", json_string(doi_url));
        json_object_set_new(links, "record_html", json_string(record_html));
    }
    json_t *j = json_pack("{s:i, s:i, s:s, s:b, s:o, s:o, s:o}", "id", d->id, "conceptrecid",
                          d->conceptrecid, "state", d->published ? "done" : "unsubmitted",
                          "submitted", d->published, "metadata", md, "files", fl, "links", links);
    if (d->published)
        json_object_set_new(j, "doi", json_string(d->doi));
    return j;
}

/* ---- state ------------------------------------------------------------------------------ */

static deposit *find_deposit(server *s, int id)
{
    for (int i = 0; i < s->ndeposits; i++)
        if (s->deposits[i].used && s->deposits[i].id == id && !s->deposits[i].discarded)
            return &s->deposits[i];
    return NULL;
}

static deposit *new_deposit(server *s, int conceptrecid)
{
    if (s->ndeposits >= MAX_DEPOSITS)
        return NULL;
    deposit *d = &s->deposits[s->ndeposits++];
    memset(d, 0, sizeof *d);
    d->used = true;
    d->id = 1000 + s->ndeposits;
    d->conceptrecid = conceptrecid > 0 ? conceptrecid : d->id - 500;
    snprintf(d->doi, sizeof d->doi, "10.5072/zenodo.%d", d->id);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%d", s->dir, d->id);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return NULL;
    return d;
}

static void file_path(const server *s, const deposit *d, const char *name, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%d/%s", s->dir, d->id, name);
}

static zfile *find_file(deposit *d, const char *name)
{
    for (int i = 0; i < d->nfiles; i++)
        if (strcmp(d->files[i].name, name) == 0)
            return &d->files[i];
    return NULL;
}

static int64_t total_bytes(const deposit *d)
{
    int64_t sum = 0;
    for (int i = 0; i < d->nfiles; i++)
        sum += d->files[i].size;
    return sum;
}

/* Zenodo's required deposit metadata; one {field, message} per problem. */
static json_t *validate_metadata(const json_t *md)
{
    json_t *errors = json_array();
    static const char *const types[] = {"dataset",      "publication", "software", "poster",
                                        "presentation", "image",       "video",    "lesson",
                                        "other",        NULL};
    const char *type = json_string_value(json_object_get(md, "upload_type"));
    bool type_ok = false;
    for (int i = 0; type != NULL && types[i] != NULL; i++)
        type_ok |= strcmp(type, types[i]) == 0;
    if (!type_ok)
        json_array_append_new(errors, json_pack("{s:s, s:s}", "field", "metadata.upload_type",
                                                "message", "Missing or invalid upload type."));
    const char *title = json_string_value(json_object_get(md, "title"));
    if (title == NULL || title[0] == '\0')
        json_array_append_new(errors, json_pack("{s:s, s:s}", "field", "metadata.title", "message",
                                                "Missing data for required field."));
    const char *descr = json_string_value(json_object_get(md, "description"));
    if (descr == NULL || descr[0] == '\0')
        json_array_append_new(errors, json_pack("{s:s, s:s}", "field", "metadata.description",
                                                "message", "Missing data for required field."));
    json_t *creators = json_object_get(md, "creators");
    bool creators_ok = json_is_array(creators) && json_array_size(creators) > 0;
    for (size_t i = 0; creators_ok && i < json_array_size(creators); i++) {
        const char *name = json_string_value(json_object_get(json_array_get(creators, i), "name"));
        creators_ok = name != NULL && name[0] != '\0';
    }
    if (!creators_ok)
        json_array_append_new(
            errors, json_pack("{s:s, s:s}", "field", "metadata.creators", "message",
                              "Shorter than minimum length 1 or a creator without a name."));
    return errors;
}

/* ---- the log ------------------------------------------------------------------------------ */

static void log_request(server *s, const char *method, const char *url, unsigned status,
                        int64_t bytes)
{
    if (s->log == NULL)
        return;
    json_t *j = json_pack("{s:s, s:s, s:i, s:I}", "method", method, "path", url, "status",
                          (int)status, "bytes", (json_int_t)bytes);
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    if (text != NULL) {
        fprintf(s->log, "%s\n", text);
        fflush(s->log);
    }
    free(text);
    json_decref(j);
}

/* ---- routes ------------------------------------------------------------------------------- */

static bool authorized(server *s, struct MHD_Connection *c)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    return auth != NULL && strncmp(auth, "Bearer ", 7) == 0 && strcmp(auth + 7, s->token) == 0;
}

/* "/api/deposit/depositions/{id}[/rest]": the id and the rest ("" if none), or -1. */
static int deposition_id(const char *url, const char **rest)
{
    const char *prefix = "/api/deposit/depositions/";
    size_t n = strlen(prefix);
    if (strncmp(url, prefix, n) != 0)
        return -1;
    char *end = NULL;
    long id = strtol(url + n, &end, 10);
    if (end == url + n || id <= 0 || id > INT_MAX || (*end != '\0' && *end != '/'))
        return -1;
    *rest = end;
    return (int)id;
}

static enum MHD_Result deposition_route(server *s, struct MHD_Connection *c, const char *method,
                                        const char *url, request *rq, unsigned *status)
{
    const char *rest = "";
    if (strcmp(url, "/api/deposit/depositions") == 0 && strcmp(method, "POST") == 0) {
        deposit *d = new_deposit(s, 0);
        if (d == NULL)
            return send_error(c, *status = 500, "too many depositions");
        return send_json(c, *status = 201, deposit_json(s, d));
    }
    int id = deposition_id(url, &rest);
    deposit *d = id > 0 ? find_deposit(s, id) : NULL;
    if (d == NULL)
        return send_error(c, *status = 404, "PID does not exist.");
    if (rest[0] == '\0' && strcmp(method, "GET") == 0)
        return send_json(c, *status = 200, deposit_json(s, d));
    if (rest[0] == '\0' && strcmp(method, "PUT") == 0) {
        if (d->published)
            return send_error(c, *status = 400, "The deposition is published: edit it first.");
        json_error_t jerr;
        json_t *body = rq->body != NULL ? json_loadb(rq->body, rq->body_len, 0, &jerr) : NULL;
        json_t *md = json_object_get(body, "metadata");
        if (!json_is_object(md)) {
            json_decref(body);
            return send_error(c, *status = 400, "Invalid JSON: a metadata object is required.");
        }
        json_t *errors = validate_metadata(md);
        if (json_array_size(errors) > 0) {
            json_decref(body);
            return send_json(c, *status = 400,
                             json_pack("{s:i, s:s, s:o}", "status", 400, "message",
                                       "Validation error.", "errors", errors));
        }
        json_decref(errors);
        json_decref(d->metadata);
        d->metadata = json_incref(md);
        json_decref(body);
        return send_json(c, *status = 200, deposit_json(s, d));
    }
    if (strcmp(rest, "/files") == 0 && strcmp(method, "GET") == 0) {
        json_t *all = deposit_json(s, d);
        json_t *files = json_incref(json_object_get(all, "files"));
        json_decref(all);
        return send_json(c, *status = 200, files);
    }
    if (strcmp(rest, "/actions/publish") == 0 && strcmp(method, "POST") == 0) {
        if (d->published)
            return send_error(c, *status = 400, "The deposition is already published.");
        if (d->nfiles == 0)
            return send_error(c, *status = 400, "Minimum one file must be provided.");
        if (d->metadata == NULL)
            return send_json(c, *status = 400,
                             json_pack("{s:i, s:s, s:o}", "status", 400, "message",
                                       "Validation error.", "errors",
                                       validate_metadata(json_object())));
        d->published = true;
        return send_json(c, *status = 202, deposit_json(s, d));
    }
    if (strcmp(rest, "/actions/newversion") == 0 && strcmp(method, "POST") == 0) {
        if (!d->published)
            return send_error(c, *status = 400, "Only a published record has new versions.");
        deposit *nd = new_deposit(s, d->conceptrecid);
        if (nd == NULL)
            return send_error(c, *status = 500, "too many depositions");
        d = find_deposit(s, id); /* new_deposit may not move entries, but be plain */
        for (int i = 0; i < d->nfiles; i++) {
            char from[PATH_MAX], to[PATH_MAX];
            file_path(s, d, d->files[i].name, from, sizeof from);
            file_path(s, nd, d->files[i].name, to, sizeof to);
            if (link(from, to) != 0)
                return send_error(c, *status = 500, "cannot copy a file of the previous version");
            nd->files[nd->nfiles++] = d->files[i];
        }
        nd->metadata = d->metadata != NULL ? json_deep_copy(d->metadata) : NULL;
        d->latest_draft = nd->id;
        return send_json(c, *status = 201, deposit_json(s, d));
    }
    if (strcmp(rest, "/actions/discard") == 0 && strcmp(method, "POST") == 0) {
        if (d->published)
            return send_error(c, *status = 400, "A published record cannot be discarded.");
        d->discarded = true;
        return send_json(c, *status = 201, json_object());
    }
    if (strcmp(rest, "/actions/edit") == 0 && strcmp(method, "POST") == 0)
        return send_json(c, *status = 201, deposit_json(s, d));
    return send_error(c, *status = 405, "Method not allowed.");
}

/* "/api/files/bucket-{id}/{name}": the draft and the name, or a status with a message. */
static unsigned bucket_target(server *s, const char *url, deposit **dep, char *name,
                              const char **why)
{
    const char *prefix = "/api/files/bucket-";
    size_t n = strlen(prefix);
    char *end = NULL;
    long id = strncmp(url, prefix, n) == 0 ? strtol(url + n, &end, 10) : -1;
    if (id <= 0 || id > INT_MAX || end == NULL || *end != '/') {
        *why = "No such bucket.";
        return 404;
    }
    deposit *d = find_deposit(s, (int)id);
    if (d == NULL) {
        *why = "No such bucket.";
        return 404;
    }
    const char *key = end + 1;
    if (key[0] == '\0' || strchr(key, '/') != NULL || strlen(key) > NAME_MAX_LEN ||
        strcmp(key, ".") == 0 || strcmp(key, "..") == 0) {
        *why = "Invalid file key: keys cannot contain '/' (a record has no folders).";
        return 400;
    }
    if (d->published) {
        *why = "The bucket of a published record is locked.";
        return 403;
    }
    *dep = d;
    snprintf(name, NAME_MAX_LEN + 1, "%s", key);
    return 0;
}

static void upload_abort(request *rq)
{
    if (rq->out != NULL) {
        fclose(rq->out);
        rq->out = NULL;
        unlink(rq->tmp_path);
    }
    EVP_MD_CTX_free(rq->md5);
    rq->md5 = NULL;
}

/* The first call of an upload: decide its fate and open the temporary. */
static void upload_begin(server *s, struct MHD_Connection *c, const char *url, request *rq)
{
    rq->upload = true;
    const char *why = NULL;
    unsigned st = bucket_target(s, url, &rq->dep, rq->name, &why);
    if (st != 0) {
        rq->status = (int)st;
        snprintf(rq->error, sizeof rq->error, "%s", why);
        return;
    }
    const char *len_text = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    int64_t announced = len_text != NULL ? strtoll(len_text, NULL, 10) : -1;
    zfile *same = find_file(rq->dep, rq->name);
    int nfiles = rq->dep->nfiles + (same == NULL ? 1 : 0);
    int64_t bytes =
        total_bytes(rq->dep) - (same != NULL ? same->size : 0) + (announced > 0 ? announced : 0);
    if (nfiles > MAX_FILES || bytes > s->max_bytes) {
        rq->status = 400;
        snprintf(rq->error, sizeof rq->error,
                 "A record holds at most %d files and %" PRId64 " bytes.", MAX_FILES, s->max_bytes);
        return;
    }
    if (s->fail_rate > 0 && (double)(next_random(s) >> 11) / 9007199254740992.0 < s->fail_rate)
        rq->fault = 1 + (int)(next_random(s) % 3);
    snprintf(rq->tmp_path, sizeof rq->tmp_path, "%s/%d/.upload.%s", s->dir, rq->dep->id, rq->name);
    rq->out = fopen(rq->tmp_path, "wb");
    rq->md5 = EVP_MD_CTX_new();
    if (rq->out == NULL || rq->md5 == NULL || EVP_DigestInit_ex(rq->md5, EVP_md5(), NULL) != 1) {
        upload_abort(rq);
        rq->status = 500;
        snprintf(rq->error, sizeof rq->error, "cannot store the upload");
    }
}

static enum MHD_Result upload_finish(server *s, struct MHD_Connection *c, request *rq,
                                     unsigned *status)
{
    if (rq->status != 0) {
        upload_abort(rq);
        return send_error(c, *status = (unsigned)rq->status, rq->error);
    }
    if (rq->fault == 1 || rq->fault == 2) {
        upload_abort(rq);
        *status = rq->fault == 1 ? 503 : 429;
        return send_text(c, *status,
                         rq->fault == 1 ? "{\"status\": 503, \"message\": \"Service unavailable.\"}"
                                        : "{\"status\": 429, \"message\": \"Too many requests.\"}",
                         "application/json", rq->fault == 2 ? "1" : NULL);
    }
    if (s->delay_ms > 0)
        nanosleep(&(struct timespec){s->delay_ms / 1000, (s->delay_ms % 1000) * 1000000L}, NULL);
    if (s->stall_name != NULL && strcmp(s->stall_name, rq->name) == 0) {
        s->stall_name = NULL; /* once */
        nanosleep(&(struct timespec){5, 0}, NULL);
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned dlen = 0;
    bool ok = fclose(rq->out) == 0;
    rq->out = NULL;
    ok = ok && EVP_DigestFinal_ex(rq->md5, digest, &dlen) == 1 && dlen == 16;
    char final_path[PATH_MAX];
    file_path(s, rq->dep, rq->name, final_path, sizeof final_path);
    ok = ok && rename(rq->tmp_path, final_path) == 0;
    EVP_MD_CTX_free(rq->md5);
    rq->md5 = NULL;
    if (!ok) {
        unlink(rq->tmp_path);
        return send_error(c, *status = 500, "cannot store the upload");
    }
    zfile *f = find_file(rq->dep, rq->name);
    if (f == NULL)
        f = &rq->dep->files[rq->dep->nfiles++];
    snprintf(f->name, sizeof f->name, "%s", rq->name);
    f->size = rq->received;
    for (unsigned i = 0; i < 16; i++)
        snprintf(f->md5 + 2 * i, 3, "%02x", digest[i]);
    char checksum[40], base[64], self[512];
    snprintf(checksum, sizeof checksum, "md5:%s", f->md5);
    if (s->corrupt_name != NULL && strcmp(s->corrupt_name, f->name) == 0) {
        s->corrupt_name = NULL; /* once */
        f->md5[0] = f->md5[0] == '0' ? '1' : '0';
        snprintf(checksum, sizeof checksum, "md5:%s", f->md5);
    }
    base_url(s, base, sizeof base);
    snprintf(self, sizeof self, "%s/api/files/bucket-%d/%s", base, rq->dep->id, f->name);
    return send_json(c, *status = 201,
                     json_pack("{s:s, s:I, s:s, s:{s:s}}", "key", f->name, "size",
                               (json_int_t)f->size, "checksum", checksum, "links", "self", self));
}

static enum MHD_Result file_delete(server *s, struct MHD_Connection *c, const char *url,
                                   unsigned *status)
{
    deposit *d = NULL;
    char name[NAME_MAX_LEN + 1];
    const char *why = NULL;
    unsigned st = bucket_target(s, url, &d, name, &why);
    if (st != 0)
        return send_error(c, *status = st, why);
    zfile *f = find_file(d, name);
    if (f == NULL)
        return send_error(c, *status = 404, "No such file.");
    char path[PATH_MAX];
    file_path(s, d, name, path, sizeof path);
    unlink(path);
    *f = d->files[--d->nfiles];
    return send_text(c, *status = 204, "", "application/json", NULL);
}

static enum MHD_Result record_route(server *s, struct MHD_Connection *c, const char *url,
                                    unsigned *status)
{
    const char *prefix = "/api/records/";
    char *end = NULL;
    long id = strtol(url + strlen(prefix), &end, 10);
    deposit *d = id > 0 && id <= INT_MAX ? find_deposit(s, (int)id) : NULL;
    if (d == NULL || !d->published)
        return send_error(c, *status = 404, "PID does not exist.");
    if (*end == '\0') {
        char base[64];
        base_url(s, base, sizeof base);
        json_t *files = json_array();
        for (int i = 0; i < d->nfiles; i++) {
            char self[512], checksum[40];
            snprintf(self, sizeof self, "%s/api/records/%d/files/%s/content", base, d->id,
                     d->files[i].name);
            snprintf(checksum, sizeof checksum, "md5:%s", d->files[i].md5);
            json_array_append_new(files,
                                  json_pack("{s:s, s:I, s:s, s:{s:s}}", "key", d->files[i].name,
                                            "size", (json_int_t)d->files[i].size, "checksum",
                                            checksum, "links", "self", self));
        }
        return send_json(c, *status = 200,
                         json_pack("{s:i, s:i, s:s, s:O, s:o}", "id", d->id, "conceptrecid",
                                   d->conceptrecid, "doi", d->doi, "metadata",
                                   d->metadata != NULL ? d->metadata : json_null(), "files",
                                   files));
    }
    char name[NAME_MAX_LEN + 1];
    const char *f0 = strncmp(end, "/files/", 7) == 0 ? end + 7 : NULL;
    const char *f1 = f0 != NULL ? strstr(f0, "/content") : NULL;
    if (f1 == NULL || f1[8] != '\0' || f1 - f0 > NAME_MAX_LEN)
        return send_error(c, *status = 404, "No such file.");
    snprintf(name, sizeof name, "%.*s", (int)(f1 - f0), f0);
    zfile *f = find_file(d, name);
    char path[PATH_MAX];
    file_path(s, d, name, path, sizeof path);
    int fd = f != NULL ? open(path, O_RDONLY) : -1;
    if (fd < 0)
        return send_error(c, *status = 404, "No such file.");
    struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)f->size, fd);
    if (r == NULL) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    enum MHD_Result ok = MHD_queue_response(c, *status = 200, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_size, void **con_cls)
{
    (void)version;
    server *s = cls;
    request *rq = *con_cls;
    bool is_upload = strcmp(method, "PUT") == 0 && strncmp(url, "/api/files/", 11) == 0;
    if (rq == NULL) {
        rq = calloc(1, sizeof *rq);
        if (rq == NULL)
            return MHD_NO;
        *con_cls = rq;
        if (is_upload && authorized(s, c))
            upload_begin(s, c, url, rq);
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (rq->upload && rq->status == 0) {
            if (rq->fault == 3 && rq->received + (int64_t)*upload_size > 0) {
                upload_abort(rq);
                log_request(s, method, url, 0, rq->received);
                return MHD_NO; /* the connection is reset in the middle of the body */
            }
            if (fwrite(upload_data, 1, *upload_size, rq->out) != *upload_size ||
                EVP_DigestUpdate(rq->md5, upload_data, *upload_size) != 1) {
                rq->status = 500;
                snprintf(rq->error, sizeof rq->error, "cannot store the upload");
            }
            rq->received += (int64_t)*upload_size;
        } else if (!rq->upload) {
            if (rq->body_len + *upload_size > JSON_MAX) {
                rq->too_big = true;
            } else {
                char *grown = realloc(rq->body, rq->body_len + *upload_size + 1);
                if (grown == NULL)
                    return MHD_NO;
                rq->body = grown;
                memcpy(rq->body + rq->body_len, upload_data, *upload_size);
                rq->body_len += *upload_size;
                rq->body[rq->body_len] = '\0';
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    unsigned status = 0;
    enum MHD_Result ok;
    if (strncmp(url, "/api/records/", 13) == 0 && strcmp(method, "GET") == 0) {
        ok = record_route(s, c, url, &status);
    } else if (!authorized(s, c)) {
        upload_abort(rq);
        ok = send_error(c, status = 401,
                        "The server could not verify that you are authorized to access the URL "
                        "requested.");
    } else if (rq->too_big) {
        ok = send_error(c, status = 413, "Request body too large.");
    } else if (is_upload) {
        ok = upload_finish(s, c, rq, &status);
    } else if (strcmp(method, "DELETE") == 0 && strncmp(url, "/api/files/", 11) == 0) {
        ok = file_delete(s, c, url, &status);
    } else if (strncmp(url, "/api/deposit/depositions", 24) == 0) {
        ok = deposition_route(s, c, method, url, rq, &status);
    } else {
        ok = send_error(c, status = 404, "Not found.");
    }
    log_request(s, method, url, status, rq->received);
    return ok;
}

static void request_done(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    request *rq = *con_cls;
    if (rq == NULL)
        return;
    upload_abort(rq);
    free(rq->body);
    free(rq);
    *con_cls = NULL;
}

/* ---- main --------------------------------------------------------------------------------- */

static int parse_number(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    double x = strtod(v, &end);
    if (v[0] == '\0' || *end != '\0' || errno != 0 || x < lo || x > hi) {
        fprintf(stderr, "%s: %s: '%s' is not a number in [%g, %g]\n", PROG, opt, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

int main(int argc, char **argv)
{
    static server s;
    double port = 0, seed = 1, max_bytes = 50e9, delay_ms = 0;
    const char *log_path = NULL, *token = getenv("ZENODO_MOCK_TOKEN");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(USAGE, stdout);
            return 0;
        }
        static const char *const with_value[] = {
            "--dir", "--port",     "--token",       "--fail-rate",    "--seed", "--max-bytes",
            "--log", "--delay-ms", "--corrupt-md5", "--stall-upload", NULL};
        int k = 0;
        while (with_value[k] != NULL && strcmp(a, with_value[k]) != 0)
            k++;
        if (with_value[k] == NULL) {
            fprintf(stderr, "%s: unknown argument '%s' (see --help)\n", PROG, a);
            return 2;
        }
        if (i + 1 >= argc || argv[i + 1][0] == '\0') {
            fprintf(stderr, "%s: %s needs a value\n", PROG, a);
            return 2;
        }
        const char *v = argv[++i];
        int rc = 0;
        if (k == 0)
            s.dir = v;
        else if (k == 1)
            rc = parse_number(a, v, 0, 65535, &port);
        else if (k == 2)
            token = v;
        else if (k == 3)
            rc = parse_number(a, v, 0, 1, &s.fail_rate);
        else if (k == 4)
            rc = parse_number(a, v, 0, 9007199254740992.0, &seed);
        else if (k == 5)
            rc = parse_number(a, v, 1, 9e15, &max_bytes);
        else if (k == 6)
            log_path = v;
        else if (k == 7)
            rc = parse_number(a, v, 0, 60000, &delay_ms);
        else if (k == 8)
            s.corrupt_name = v;
        else
            s.stall_name = v;
        if (rc < 0)
            return 2;
    }
    if (s.dir == NULL) {
        fprintf(stderr, "%s: --dir is required (see --help)\n", PROG);
        return 2;
    }
    if (mkdir(s.dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: %s: %s\n", PROG, s.dir, strerror(errno));
        return 1;
    }
    snprintf(s.token, sizeof s.token, "%s", token != NULL && token[0] != '\0' ? token : "sandbox");
    s.rng = (uint64_t)seed;
    s.max_bytes = (int64_t)max_bytes;
    s.delay_ms = (int)delay_ms;
    if (log_path != NULL && (s.log = fopen(log_path, "a")) == NULL) {
        fprintf(stderr, "%s: %s: %s\n", PROG, log_path, strerror(errno));
        return 1;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
                         NULL, handle, &s, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_NOTIFY_COMPLETED,
                         request_done, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "%s: cannot listen on 127.0.0.1:%u\n", PROG, (unsigned)port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    s.port = info != NULL ? info->port : (unsigned)port;
    printf("listening on http://127.0.0.1:%u\n", s.port);
    fflush(stdout);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (!stop_flag)
        pause();
    MHD_stop_daemon(d);
    for (int i = 0; i < s.ndeposits; i++)
        json_decref(s.deposits[i].metadata);
    if (s.log != NULL)
        fclose(s.log);
    return 0;
}
