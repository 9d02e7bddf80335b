/*
 * zenodo.h — a client of Zenodo's deposit API (../shared/reference/zenodo-api.md): drafts,
 * new versions, metadata, file uploads streamed from disk, publishing. One request at a
 * time over one libcurl handle (connections are kept alive).
 *
 * The token is sent as "Authorization: Bearer TOKEN" only, never in a URL, and never over
 * plain http to a host that is not loopback (mtp_net_token_may_travel: MTP_ECONFIG at
 * mtp_zenodo_new). Every text a server sends back is masked before it reaches an error
 * message (mtp_net_mask), so the token appears in no output.
 *
 * Retries: answers 429 and 5xx, transport failures (resets, timeouts) and stalls (less than
 * 1 KB/s for stall_s seconds, default 30) are retried with the BossDB client's backoff
 * (mtp_boss_backoff_ms: the delay doubles from backoff_ms up to backoff_max_ms, jittered), waiting
 * at least what a Retry-After header asks, at most `retries` times. Other 4xx answers are not
 * retried.
 *
 * Errors: MTP_ECONFIG (a bad URL, or a token that may not travel there), MTP_ESERVER (the
 * server refused: 4xx; err->msg "<METHOD> <path>: 401: <message>", a 400 validation error
 * with one "field: message" per error, joined with "; "), MTP_ENET (after every retry),
 * MTP_EIO (a file to upload cannot be read), MTP_EFORMAT (an answer that is not the JSON
 * expected, or larger than MTP_ZENODO_ANSWER_MAX), MTP_ECORRUPT (an uploaded file's
 * checksum differs twice), MTP_ECANCEL, MTP_ENOMEM.
 */
#ifndef MTP_ZENODO_H
#define MTP_ZENODO_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "mtp/error.h"

#define MTP_ZENODO_URL "https://zenodo.org"
#define MTP_ZENODO_SANDBOX_URL "https://sandbox.zenodo.org"
#define MTP_ZENODO_ANSWER_MAX (4u << 20) /* bytes of one JSON answer */
#define MTP_ZENODO_URL_MAX 1024
#define MTP_ZENODO_NAME_MAX 256

/* Bytes of the current upload so far, of `total`; called about every 100 ms. */
typedef void (*mtp_zenodo_progress_fn)(void *userdata, const char *name, int64_t done,
                                       int64_t total);

typedef struct mtp_zenodo_options {
    const char *url;   /* e.g. MTP_ZENODO_URL, no trailing slash needed */
    const char *token; /* personal access token (deposit:write, deposit:actions) */
    int retries;       /* retries of one request (default 8) */
    int timeout_s;     /* one attempt of a JSON request (default 120; uploads: stall rule) */
    int stall_s;       /* a transfer below 1 KB/s this long is a stall, retried (default 30) */
    int backoff_ms, backoff_max_ms;
    uint64_t seed; /* of the backoff jitter */
    mtp_zenodo_progress_fn progress;
    void *progress_data;
    const volatile sig_atomic_t *cancel; /* optional: nonzero stops between and inside requests */
} mtp_zenodo_options;

#define MTP_ZENODO_OPTIONS_INIT                                                                    \
    {                                                                                              \
        .url = MTP_ZENODO_URL, .token = "", .retries = 8, .timeout_s = 120, .stall_s = 30,         \
        .backoff_ms = 500, .backoff_max_ms = 30000, .seed = 1, .progress = NULL,                   \
        .progress_data = NULL, .cancel = NULL                                                      \
    }

typedef struct mtp_zenodo mtp_zenodo;

/* What the client needs of a deposition. Strings empty when the server did not send them. */
typedef struct mtp_zenodo_deposit {
    int64_t id;
    bool submitted; /* published */
    char state[32];
    char bucket[MTP_ZENODO_URL_MAX];       /* links.bucket */
    char html[MTP_ZENODO_URL_MAX];         /* links.html: the draft's page */
    char latest_draft[MTP_ZENODO_URL_MAX]; /* links.latest_draft */
    char record_html[MTP_ZENODO_URL_MAX];  /* links.record_html (published) */
    char doi[128];                         /* doi (published) */
    char prereserved_doi[128];             /* metadata.prereserve_doi.doi */
} mtp_zenodo_deposit;

typedef struct mtp_zenodo_file {
    char name[MTP_ZENODO_NAME_MAX];
    int64_t size;
    char md5[33];
} mtp_zenodo_file;

int mtp_zenodo_new(mtp_zenodo **out, const mtp_zenodo_options *opt, mtp_error *err);
void mtp_zenodo_free(mtp_zenodo *z);

/* POST /api/deposit/depositions: a new empty draft. */
int mtp_zenodo_create(mtp_zenodo *z, mtp_zenodo_deposit *dep, mtp_error *err);
/* GET /api/deposit/depositions/{id}. */
int mtp_zenodo_get(mtp_zenodo *z, int64_t id, mtp_zenodo_deposit *dep, mtp_error *err);
/* POST .../{id}/actions/newversion on a published record, then GET links.latest_draft: *dep
 * is the new draft, which starts with the previous version's files. */
int mtp_zenodo_new_version(mtp_zenodo *z, int64_t id, mtp_zenodo_deposit *dep, mtp_error *err);
/* PUT .../{id} {"metadata": metadata}, where `metadata_json` is a JSON object (the text of a
 * release's .zenodo.json). A 400 gives "field: message" lines in err->msg. */
int mtp_zenodo_set_metadata(mtp_zenodo *z, int64_t id, const char *metadata_json, mtp_error *err);
/* GET .../{id}/files: *files malloc'ed (caller frees), *n entries (at most 100). */
int mtp_zenodo_list_files(mtp_zenodo *z, int64_t id, mtp_zenodo_file **files, int *n,
                          mtp_error *err);
/*
 * PUT {bucket}/{name} with the bytes of `path`, streamed from disk with its Content-Length.
 * The answer's "md5:<hex>" must equal `md5` (lowercase hex); if it differs the file is
 * deleted and uploaded once more, and a second difference is MTP_ECORRUPT.
 */
int mtp_zenodo_upload(mtp_zenodo *z, const char *bucket, const char *name, const char *path,
                      const char *md5, mtp_error *err);
/* DELETE {bucket}/{name}. */
int mtp_zenodo_delete_file(mtp_zenodo *z, const char *bucket, const char *name, mtp_error *err);
/* POST .../{id}/actions/publish; *dep is the published deposition (doi, record_html). */
int mtp_zenodo_publish(mtp_zenodo *z, int64_t id, mtp_zenodo_deposit *dep, mtp_error *err);

/*
 * The parsers behind the calls above, on an answer's text (what = "<METHOD> <path>" for
 * messages). mtp_zenodo_parse_deposit: a deposition (id > 0 and links required; strings
 * truncated to their fields and made printable), MTP_EFORMAT otherwise.
 * mtp_zenodo_parse_files: a list of at most 1000 files, each with a filename that fits (kept
 * byte for byte: it names the file in later requests), an
 * "md5:"-prefixed (or bare) 32-character checksum and a size in [0, 9e18]; *files is freed
 * by the caller. mtp_zenodo_describe_refusal: an error body as one printable line, the
 * "message" then "field: message" per entry of "errors" (joined with "; "), or the body's
 * first 200 bytes if it is not that JSON; every copy of `token` masked.
 */
int mtp_zenodo_parse_deposit(const char *body, size_t len, const char *what,
                             mtp_zenodo_deposit *dep, mtp_error *err);
int mtp_zenodo_parse_files(const char *body, size_t len, const char *what, mtp_zenodo_file **files,
                           int *n, mtp_error *err);
void mtp_zenodo_describe_refusal(const char *body, size_t len, const char *token, char *out,
                                 size_t n);

/* Requests made, retried, and bytes uploaded so far (for the progress line and the tests). */
typedef struct mtp_zenodo_stats {
    int64_t requests, retries, uploaded_bytes, uploads;
} mtp_zenodo_stats;
mtp_zenodo_stats mtp_zenodo_get_stats(const mtp_zenodo *z);

#endif
