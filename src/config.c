/*
 * config.c — YAML release description -> mtp_config: the loader's entry points, pass 2 for
 * every section but `tasks` (config_tasks.c), the shared validators, the config digest and
 * the token redaction. Pass 1 (YAML -> tree) and the typed getters are config_yaml.c. Every
 * error names the position and the dotted key path of the node that is wrong.
 */
#include "mtp/config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "config_yaml.h"
#include "mtp/sha256.h"

#define MAX_FILE_BYTES (1024 * 1024)
#define MAX_TIMEOUT_S 3600
#define MAX_BACKOFF_MS 600000
#define MAX_BACKOFF_MAX_MS 3600000
#define MAX_MTIME INT64_C(4102444800) /* 2100-01-01T00:00:00Z */
#define MAX_RESOLUTION 9

/* BossDB stores voxels in cuboids; blocks must tile them evenly. */
static const int64_t cuboid_size[3] = {MTP_CUBOID_X, MTP_CUBOID_Y, MTP_CUBOID_Z};
static const char axis_names[3] = {'x', 'y', 'z'};

/* ---- shared validators (also used by mtp_config_override) --------------------------- */

/* NULL when `in` is a valid source URL (then the normalised form is in out), else why not. */
static const char *normalize_source_url(const char *in, size_t len, char *out, size_t cap)
{
    if (strlen(in) != len)
        return "contains a NUL character";
    if (len >= cap)
        return "longer than 511 characters";
    size_t skip = 0;
    if (strncmp(in, "http://", 7) == 0)
        skip = 7;
    else if (strncmp(in, "https://", 8) == 0)
        skip = 8;
    else
        return "expected http:// or https:// followed by host[:port]";
    size_t end = len;
    if (end > skip && in[end - 1] == '/')
        end--;
    const char *host = in + skip;
    size_t hlen = end - skip;
    if (hlen == 0)
        return "missing host";
    if (memchr(host, '@', hlen) != NULL)
        return "must not contain user information";
    if (memchr(host, '/', hlen) || memchr(host, '?', hlen) || memchr(host, '#', hlen))
        return "must not contain a path, query or fragment (expected scheme://host[:port])";
    size_t i = 0;
    if (host[0] == '[') {
        /* an IPv6 literal */
        i = 1;
        while (i < hlen && host[i] != ']') {
            char ch = host[i];
            bool hex =
                (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
            if (!hex && ch != ':' && ch != '.')
                return "invalid host";
            i++;
        }
        if (i == hlen || i < 3)
            return "invalid host";
        i++;
    } else {
        while (i < hlen && (mtp_cfg_name_char(host[i]) && host[i] != '_'))
            i++;
        if (i == 0 || host[0] == '.' || host[0] == '-')
            return "invalid host";
    }
    if (i < hlen) {
        if (host[i] != ':')
            return "invalid host";
        size_t digits = hlen - i - 1;
        const char *port = host + i + 1;
        if (digits == 0 || digits > 5 || port[0] == '0')
            return "invalid port";
        long value = 0;
        for (size_t k = 0; k < digits; k++) {
            if (port[k] < '0' || port[k] > '9')
                return "invalid port";
            value = value * 10 + (port[k] - '0');
        }
        if (value > 65535)
            return "invalid port";
    }
    memcpy(out, in, end);
    out[end] = '\0';
    return NULL;
}

static const char *check_env_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0)
        return "expected an environment variable name, got an empty string";
    if (len >= MTP_NAME_MAX)
        return "longer than 63 characters";
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_' ||
                  (i > 0 && ch >= '0' && ch <= '9');
        if (!ok)
            return "expected an environment variable name ([A-Za-z_][A-Za-z0-9_]*)";
    }
    return NULL;
}

/* Tokens go into an HTTP header: printable ASCII, no spaces, nothing that splits lines. */
static const char *check_token(const char *token, size_t len)
{
    if (len == 0)
        return "is empty";
    if (len >= MTP_TEXT_MAX)
        return "is longer than 511 characters";
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)token[i] <= 0x20 || (unsigned char)token[i] >= 0x7f)
            return "holds characters other than printable ASCII without spaces";
    return NULL;
}

/*
 * Reads the token from environment variable `var` (named by the config or the command
 * line, never implicitly). On failure `why` says what is wrong without the value.
 */
static int token_from_env(const char *var, char *token, char *why, size_t whycap)
{
    const char *value = getenv(var);
    if (value == NULL) {
        snprintf(why, whycap, "environment variable %s is not set", var);
        return -1;
    }
    if (value[0] == '\0') {
        snprintf(why, whycap, "environment variable %s is empty", var);
        return -1;
    }
    const char *bad = check_token(value, strlen(value));
    if (bad != NULL) {
        snprintf(why, whycap, "the token in environment variable %s %s", var, bad);
        return -1;
    }
    memcpy(token, value, strlen(value) + 1);
    return 0;
}

/* ---- release ------------------------------------------------------------------------- */

static bool digits_at(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool valid_date(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || !digits_at(s, 4) || !digits_at(s + 5, 2) ||
        !digits_at(s + 8, 2))
        return false;
    int year = atoi(s), month = atoi(s + 5), day = atoi(s + 8);
    static const int days[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12 || day < 1 || day > days[month - 1])
        return false;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return !(month == 2 && day == 29 && !leap);
}

static bool valid_orcid(const char *s)
{
    if (strlen(s) != 19)
        return false;
    for (int i = 0; i < 19; i++) {
        if (i % 5 == 4) {
            if (s[i] != '-')
                return false;
        } else if (!(s[i] >= '0' && s[i] <= '9') && !(i == 18 && s[i] == 'X')) {
            return false;
        }
    }
    return true;
}

/* A landing-page URL: http(s)://, something after it, no spaces. */
static bool valid_web_url(const char *s)
{
    size_t skip = strncmp(s, "http://", 7) == 0 ? 7 : strncmp(s, "https://", 8) == 0 ? 8 : 0;
    return skip > 0 && s[skip] != '\0' && s[skip] != '/' && strchr(s, ' ') == NULL;
}

static int check_web_url(const parse_ctx *pc, const node *map, const char *path, const char *key,
                         const char *value)
{
    if (value[0] == '\0' || valid_web_url(value))
        return 0;
    char sub[PATH_LEN];
    mtp_cfg_join_key(sub, sizeof sub, path, key);
    return mtp_cfg_fail(pc, mtp_cfg_map_value(map, key), sub,
                        "expected an http:// or https:// URL");
}

static int parse_person(const parse_ctx *pc, const node *n, const char *path, mtp_person *p)
{
    if (n->kind == NODE_SCALAR)
        return mtp_cfg_get_str(pc, n, path, p->name, sizeof p->name, STR_LINE);
    static const char *const known[] = {"name", "affiliation", "orcid", NULL};
    static const char *const required[] = {"name", NULL};
    int err = mtp_cfg_check_keys(pc, n, path, known, required);
    if (err == 0)
        err = mtp_cfg_opt_str(pc, n, path, "name", p->name, sizeof p->name, STR_LINE);
    if (err == 0)
        err = mtp_cfg_opt_str(pc, n, path, "affiliation", p->affiliation, sizeof p->affiliation,
                              STR_LINE);
    if (err == 0)
        err = mtp_cfg_opt_str(pc, n, path, "orcid", p->orcid, sizeof p->orcid, STR_LINE);
    if (err == 0 && p->orcid[0] != '\0' && !valid_orcid(p->orcid)) {
        char sub[PATH_LEN];
        mtp_cfg_join_key(sub, sizeof sub, path, "orcid");
        err = mtp_cfg_fail(pc, mtp_cfg_map_value(n, "orcid"), sub,
                           "expected an ORCID iD like 0000-0002-1825-0097");
    }
    return err;
}

static int parse_citation(const parse_ctx *pc, const node *n, const char *path, mtp_citation *c)
{
    if (n->kind == NODE_SCALAR)
        return mtp_cfg_get_str(pc, n, path, c->text, sizeof c->text, STR_LONGTEXT);
    static const char *const known[] = {"text", "doi", "title", "year", "venue", "authors", NULL};
    static const char *const required[] = {"text", NULL};
    char sub[PATH_LEN];
    int err = mtp_cfg_check_keys(pc, n, path, known, required);
    if (err == 0)
        err = mtp_cfg_opt_str(pc, n, path, "text", c->text, sizeof c->text, STR_LONGTEXT);
    if (err == 0)
        err = mtp_cfg_opt_str(pc, n, path, "doi", c->doi, sizeof c->doi, STR_LINE);
    if (err == 0 && c->doi[0] != '\0' &&
        (strncmp(c->doi, "10.", 3) != 0 || strchr(c->doi, '/') == NULL ||
         strchr(c->doi, ' ') != NULL)) {
        mtp_cfg_join_key(sub, sizeof sub, path, "doi");
        err = mtp_cfg_fail(pc, mtp_cfg_map_value(n, "doi"), sub,
                           "expected a DOI like 10.1038/s41597-020-00692-y");
    }
    if (err == 0)
        err = mtp_cfg_opt_str(pc, n, path, "title", c->title, sizeof c->title, STR_LINE);
    if (err == 0)
        err = mtp_cfg_opt_int(pc, n, path, "year", 1, 9999, &c->year);
    if (err == 0)
        err = mtp_cfg_opt_str(pc, n, path, "venue", c->venue, sizeof c->venue, STR_LINE);
    const node *authors = mtp_cfg_map_value(n, "authors");
    if (err == 0 && authors != NULL) {
        mtp_cfg_join_key(sub, sizeof sub, path, "authors");
        err = mtp_cfg_expect_seq(pc, authors, sub, 1, MTP_MAX_CREATORS, "authors");
        for (size_t i = 0; err == 0 && i < authors->nkids; i++) {
            char item[PATH_LEN];
            mtp_cfg_join_index(item, sizeof item, sub, i);
            err = mtp_cfg_get_str(pc, authors->kids[i], item, c->authors[i], sizeof c->authors[i],
                                  STR_LINE);
        }
        if (err == 0)
            c->nauthors = (int)authors->nkids;
    }
    return err;
}

static int parse_release(const parse_ctx *pc, const node *n, mtp_release *r)
{
    static const char *const known[] = {"name",      "version",  "title", "description",
                                        "license",   "date",     "url",   "creators",
                                        "citations", "keywords", NULL};
    static const char *const required[] = {"name",    "version",  "title", "description",
                                           "license", "creators", NULL};
    const char *path = "release";
    char sub[PATH_LEN], item[PATH_LEN];
    int err = mtp_cfg_check_keys(pc, n, path, known, required);
    if (err == 0)
        err = mtp_cfg_opt_str(pc, n, path, "name", r->name, sizeof r->name, STR_NAME);
    if (err == 0)
        err = mtp_cfg_opt_str(pc, n, path, "version", r->version, sizeof r->version, STR_NAME);
    if (err == 0)
        err = mtp_cfg_opt_str(pc, n, path, "title", r->title, sizeof r->title, STR_LINE);
    if (err == 0)
        err = mtp_cfg_opt_str(pc, n, path, "description", r->description, sizeof r->description,
                              STR_LONGTEXT);
    if (err == 0)
        err = mtp_cfg_opt_str(pc, n, path, "license", r->license, sizeof r->license, STR_LINE);
    if (err == 0)
        err = mtp_cfg_opt_str(pc, n, path, "date", r->date, sizeof r->date, STR_LINE);
    if (err == 0 && r->date[0] != '\0' && !valid_date(r->date)) {
        char shown[SHOWN_LEN];
        const node *v = mtp_cfg_map_value(n, "date");
        err = mtp_cfg_fail(pc, v, "release.date", "expected a date YYYY-MM-DD, got %s",
                           mtp_cfg_describe(v, shown, sizeof shown));
    }
    if (err == 0)
        err = mtp_cfg_opt_str(pc, n, path, "url", r->url, sizeof r->url, STR_LINE);
    if (err == 0)
        err = check_web_url(pc, n, path, "url", r->url);

    const node *creators = mtp_cfg_map_value(n, "creators");
    mtp_cfg_join_key(sub, sizeof sub, path, "creators");
    if (err == 0)
        err = mtp_cfg_expect_seq(pc, creators, sub, 1, MTP_MAX_CREATORS, "creators");
    for (size_t i = 0; err == 0 && i < creators->nkids; i++) {
        mtp_cfg_join_index(item, sizeof item, sub, i);
        err = parse_person(pc, creators->kids[i], item, &r->creators[i]);
        r->ncreators = (int)i + 1;
    }

    const node *citations = mtp_cfg_map_value(n, "citations");
    mtp_cfg_join_key(sub, sizeof sub, path, "citations");
    if (err == 0 && citations != NULL) {
        err = mtp_cfg_expect_seq(pc, citations, sub, 0, MTP_MAX_CITATIONS, "citations");
        for (size_t i = 0; err == 0 && i < citations->nkids; i++) {
            mtp_cfg_join_index(item, sizeof item, sub, i);
            err = parse_citation(pc, citations->kids[i], item, &r->citations[i]);
            r->ncitations = (int)i + 1;
        }
    }

    const node *keywords = mtp_cfg_map_value(n, "keywords");
    mtp_cfg_join_key(sub, sizeof sub, path, "keywords");
    if (err == 0 && keywords != NULL) {
        err = mtp_cfg_expect_seq(pc, keywords, sub, 0, MTP_MAX_KEYWORDS, "keywords");
        for (size_t i = 0; err == 0 && i < keywords->nkids; i++) {
            mtp_cfg_join_index(item, sizeof item, sub, i);
            err = mtp_cfg_get_str(pc, keywords->kids[i], item, r->keywords[i],
                                  sizeof r->keywords[i], STR_LINE);
            r->nkeywords = (int)i + 1;
        }
    }
    return err;
}

/* ---- source -------------------------------------------------------------------------- */

static int parse_block(const parse_ctx *pc, const node *n, const char *path, int64_t block[3])
{
    char shown[SHOWN_LEN];
    if (n->kind != NODE_SEQ || n->nkids != 3)
        return mtp_cfg_fail(pc, n, path, "expected [x, y, z], got %s",
                            n->kind == NODE_SEQ ? "a list of another length"
                                                : mtp_cfg_describe(n, shown, sizeof shown));
    for (int axis = 0; axis < 3; axis++) {
        int64_t v = 0;
        int err = mtp_cfg_get_int(pc, n->kids[axis], path, 1, MTP_MAX_BLOCK, &v);
        if (err < 0)
            return err;
        int64_t c = cuboid_size[axis];
        if (v % c != 0 && c % v != 0)
            return mtp_cfg_fail(pc, n->kids[axis], path,
                                "%" PRId64 " on axis %c neither divides nor is a multiple of the "
                                "cuboid size %" PRId64,
                                v, axis_names[axis], c);
        block[axis] = v;
    }
    return 0;
}

static int parse_source(parse_ctx *pc, const node *n, mtp_source *s)
{
    static const char *const known[] = {"url",       "token",      "token_env",      "resolution",
                                        "block",     "jobs",       "max_jobs",       "retries",
                                        "timeout_s", "backoff_ms", "backoff_max_ms", NULL};
    static const char *const required[] = {"url", NULL};
    const char *path = "source";
    const node *v = NULL;
    const char *why = NULL;
    int err = mtp_cfg_check_keys(pc, n, path, known, required);
    if (err < 0)
        return err;

    char raw[MTP_TEXT_MAX];
    v = mtp_cfg_map_value(n, "url");
    err = mtp_cfg_get_str(pc, v, "source.url", raw, sizeof raw, STR_LINE);
    if (err == 0) {
        why = normalize_source_url(raw, strlen(raw), s->url, sizeof s->url);
        if (why != NULL)
            err = mtp_cfg_fail(pc, v, "source.url", "%s", why);
    }
    if (err < 0)
        return err;

    const node *token = mtp_cfg_map_value(n, "token");
    const node *token_env = mtp_cfg_map_value(n, "token_env");
    if (token != NULL && token_env != NULL)
        return mtp_cfg_fail(pc, token_env, "source.token_env",
                            "mutually exclusive with source.token");
    if (token != NULL) {
        char shown[SHOWN_LEN];
        /* mtp_cfg_describe() echoes only non-null scalars, which never get here */
        if (token->kind != NODE_SCALAR || mtp_cfg_is_null(token))
            return mtp_cfg_fail(pc, token, "source.token", "expected a string, got %s",
                                mtp_cfg_describe(token, shown, sizeof shown));
        if (token->block)
            return mtp_cfg_fail(pc, token, "source.token", "must be a plain or quoted scalar");
        why = strlen(token->value) != token->len ? "contains a NUL character"
              : pc->no_token                     ? NULL
                                                 : check_token(token->value, token->len);
        if (why != NULL)
            return mtp_cfg_fail(pc, token, "source.token", "%s", why);
        memcpy(s->token, token->value, token->len + 1);
        pc->token_node = token;
    }
    if (token_env != NULL) {
        err = mtp_cfg_get_str(pc, token_env, "source.token_env", s->token_env, sizeof s->token_env,
                              STR_LINE);
        if (err < 0)
            return err;
        why = check_env_name(s->token_env);
        if (why != NULL)
            return mtp_cfg_fail(pc, token_env, "source.token_env", "%s", why);
        char because[MTP_TEXT_MAX];
        if (!pc->no_token && token_from_env(s->token_env, s->token, because, sizeof because) < 0)
            return mtp_cfg_fail(pc, token_env, "source.token_env", "%s", because);
    }

    err = mtp_cfg_opt_int(pc, n, path, "resolution", 0, MAX_RESOLUTION, &s->resolution);
    v = mtp_cfg_map_value(n, "block");
    if (err == 0 && v != NULL)
        err = parse_block(pc, v, "source.block", s->block);
    if (err == 0)
        err = mtp_cfg_opt_int(pc, n, path, "jobs", 1, MTP_MAX_JOBS, &s->jobs);
    if (err == 0)
        err = mtp_cfg_opt_int(pc, n, path, "max_jobs", 1, MTP_MAX_JOBS, &s->max_jobs);
    if (err == 0 && s->max_jobs == 0) /* not given: 16, or jobs when that is more */
        s->max_jobs = s->jobs > 16 ? s->jobs : 16;
    if (err == 0 && s->max_jobs < s->jobs)
        err = mtp_cfg_fail(pc, mtp_cfg_map_value(n, "max_jobs"), "source.max_jobs",
                           "%d is below source.jobs (%d): the concurrency starts at jobs and "
                           "never goes above max_jobs",
                           s->max_jobs, s->jobs);
    if (err == 0)
        err = mtp_cfg_opt_int(pc, n, path, "retries", 0, MTP_MAX_RETRIES, &s->retries);
    if (err == 0)
        err = mtp_cfg_opt_int(pc, n, path, "timeout_s", 1, MAX_TIMEOUT_S, &s->timeout_s);
    if (err == 0)
        err = mtp_cfg_opt_int(pc, n, path, "backoff_ms", 1, MAX_BACKOFF_MS, &s->backoff_ms);
    if (err == 0)
        err = mtp_cfg_opt_int(pc, n, path, "backoff_max_ms", 1, MAX_BACKOFF_MAX_MS,
                              &s->backoff_max_ms);
    if (err == 0 && s->backoff_max_ms < s->backoff_ms) {
        v = mtp_cfg_map_value(n, "backoff_max_ms");
        err = mtp_cfg_fail(pc, v != NULL ? v : n, "source.backoff_max_ms",
                           "%d is below backoff_ms %d", s->backoff_max_ms, s->backoff_ms);
    }
    return err;
}

/* ---- channels, regions, z, splits ------------------------------------------------------ */

/* Splits "bossdb://coll/exp/chan" into its three parts. */
static bool split_boss_uri(const char *uri, mtp_channel *ch)
{
    static const char prefix[] = "bossdb://";
    if (strncmp(uri, prefix, sizeof prefix - 1) != 0)
        return false;
    const char *p = uri + sizeof prefix - 1;
    char *parts[3] = {ch->collection, ch->experiment, ch->channel};
    for (int k = 0; k < 3; k++) {
        size_t len = 0;
        while (p[len] != '\0' && p[len] != '/') {
            char c = p[len];
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-';
            if (!ok)
                return false;
            len++;
        }
        if (len == 0 || len >= MTP_NAME_MAX)
            return false;
        memcpy(parts[k], p, len);
        parts[k][len] = '\0';
        p += len;
        if (k < 2) {
            if (*p != '/')
                return false;
            p++;
        }
    }
    return *p == '\0';
}

static int parse_channels(const parse_ctx *pc, const node *n, mtp_config *cfg)
{
    const char *path = "channels";
    int err = mtp_cfg_expect_named_map(pc, n, path, MTP_MAX_CHANNELS, "channel");
    for (size_t i = 0; err == 0 && i < n->nkids; i += 2) {
        mtp_channel *ch = &cfg->channels[i / 2];
        char sub[PATH_LEN];
        mtp_cfg_join_key(sub, sizeof sub, path, n->kids[i]->value);
        err = mtp_cfg_get_str(pc, n->kids[i], sub, ch->name, sizeof ch->name, STR_NAME);
        if (err == 0)
            err = mtp_cfg_get_str(pc, n->kids[i + 1], sub, ch->uri, sizeof ch->uri, STR_LINE);
        if (err == 0 && !split_boss_uri(ch->uri, ch))
            err = mtp_cfg_fail(pc, n->kids[i + 1], sub,
                               "expected bossdb://collection/experiment/channel (parts of "
                               "A-Z a-z 0-9 _ -, each at most 63 characters)");
        cfg->nchannels = (int)(i / 2) + 1;
    }
    return err;
}

static int parse_regions(const parse_ctx *pc, const node *n, mtp_config *cfg)
{
    static const char *const known[] = {"x", "y", NULL};
    const char *path = "regions";
    int err = mtp_cfg_expect_named_map(pc, n, path, MTP_MAX_REGIONS, "region");
    for (size_t i = 0; err == 0 && i < n->nkids; i += 2) {
        mtp_region *r = &cfg->regions[i / 2];
        const node *box = n->kids[i + 1];
        char sub[PATH_LEN], axis[PATH_LEN];
        mtp_cfg_join_key(sub, sizeof sub, path, n->kids[i]->value);
        err = mtp_cfg_get_str(pc, n->kids[i], sub, r->name, sizeof r->name, STR_NAME);
        if (err == 0)
            err = mtp_cfg_check_keys(pc, box, sub, known, known);
        mtp_cfg_join_key(axis, sizeof axis, sub, "x");
        if (err == 0)
            err = mtp_cfg_get_range(pc, mtp_cfg_map_value(box, "x"), axis, &r->x);
        mtp_cfg_join_key(axis, sizeof axis, sub, "y");
        if (err == 0)
            err = mtp_cfg_get_range(pc, mtp_cfg_map_value(box, "y"), axis, &r->y);
        cfg->nregions = (int)(i / 2) + 1;
        /* tiles of all regions are stacked into one array, so they must be the same size */
        const mtp_region *first = &cfg->regions[0];
        int64_t w = r->x.stop - r->x.start, h = r->y.stop - r->y.start;
        int64_t w0 = first->x.stop - first->x.start, h0 = first->y.stop - first->y.start;
        if (err == 0 && (w != w0 || h != h0))
            err = mtp_cfg_fail(pc, box, sub,
                               "size %" PRId64 " x %" PRId64 " differs from %" PRId64 " x %" PRId64
                               " of region \"%s\" (all regions must have the same size)",
                               w, h, w0, h0, first->name);
    }
    return err;
}

/* A build holds one region's cube of every channel in memory at a time (a byte per voxel):
 * a region too large for that is refused now, not after the whole fetch. All regions have
 * one size (parse_regions), so the first one speaks for all. */
static int check_region_size(const parse_ctx *pc, const node *regions, const mtp_config *cfg)
{
    const mtp_region *r = &cfg->regions[0];
    uint64_t w = (uint64_t)(r->x.stop - r->x.start), h = (uint64_t)(r->y.stop - r->y.start);
    uint64_t d = (uint64_t)(cfg->z.stop - cfg->z.start);
    char path[PATH_LEN];
    mtp_cfg_join_key(path, sizeof path, "regions", r->name);
    if (w > MTP_MAX_REGION_EDGE || h > MTP_MAX_REGION_EDGE)
        return mtp_cfg_fail(pc, mtp_cfg_map_value(regions, r->name), path,
                            "%" PRIu64 " x %" PRIu64
                            " pixels: a region (and so a tile) is at most %d "
                            "pixels on a side",
                            w, h, MTP_MAX_REGION_EDGE);
    if (w * h * d > MTP_MAX_REGION_VOXELS)
        return mtp_cfg_fail(pc, mtp_cfg_map_value(regions, r->name), path,
                            "%" PRIu64 " x %" PRIu64 " x %" PRIu64
                            " voxels (with z) is over the cap of "
                            "%llu voxels per region (a region's cubes are held in memory)",
                            w, h, d, (unsigned long long)MTP_MAX_REGION_VOXELS);
    return 0;
}

static int parse_splits(const parse_ctx *pc, const node *n, mtp_config *cfg)
{
    const char *path = "splits";
    int err = mtp_cfg_expect_named_map(pc, n, path, MTP_MAX_SPLITS, "split");
    for (size_t i = 0; err == 0 && i < n->nkids; i += 2) {
        mtp_split *s = &cfg->splits[i / 2];
        char sub[PATH_LEN];
        mtp_cfg_join_key(sub, sizeof sub, path, n->kids[i]->value);
        err = mtp_cfg_get_str(pc, n->kids[i], sub, s->name, sizeof s->name, STR_NAME);
        if (err == 0)
            err = mtp_cfg_get_range(pc, n->kids[i + 1], sub, &s->z);
        if (err == 0 && (s->z.start < cfg->z.start || s->z.stop > cfg->z.stop))
            err =
                mtp_cfg_fail(pc, n->kids[i + 1], sub,
                             "[%" PRId64 ", %" PRId64 ") lies outside z [%" PRId64 ", %" PRId64 ")",
                             s->z.start, s->z.stop, cfg->z.start, cfg->z.stop);
        cfg->nsplits = (int)(i / 2) + 1;
    }
    return err;
}

/* ---- output and the whole document ------------------------------------------------------ */

static int parse_output(const parse_ctx *pc, const node *n, mtp_output *o)
{
    static const char *const known[] = {"compression", "level", "volumes",
                                        "previews",    "mtime", NULL};
    const char *path = "output";
    char name[MTP_NAME_MAX];
    int err = mtp_cfg_check_keys(pc, n, path, known, NULL);
    const node *v = mtp_cfg_map_value(n, "compression");
    if (err == 0 && v != NULL) {
        err = mtp_cfg_get_str(pc, v, "output.compression", name, sizeof name, STR_NAME);
        if (err == 0 && strcmp(name, "gzip") == 0)
            o->compression = MTP_COMPRESS_GZIP;
        else if (err == 0 && strcmp(name, "blosc") == 0)
            err = mtp_cfg_fail(
                pc, v, "output.compression",
                "blosc is not implemented (its files would need the hdf5plugin filter to "
                "be read); use gzip or none");
        else if (err == 0 && strcmp(name, "none") == 0)
            o->compression = MTP_COMPRESS_NONE;
        else if (err == 0)
            err = mtp_cfg_fail(pc, v, "output.compression",
                               "unknown compression \"%s\" (expected gzip or none)", name);
    }
    if (err == 0)
        err = mtp_cfg_opt_int(pc, n, path, "level", 0, 9, &o->level);
    if (err == 0)
        err = mtp_cfg_opt_bool(pc, n, path, "volumes", &o->volumes);
    if (err == 0)
        err = mtp_cfg_opt_bool(pc, n, path, "previews", &o->previews);
    v = mtp_cfg_map_value(n, "mtime");
    if (err == 0 && v != NULL)
        err = mtp_cfg_get_int(pc, v, "output.mtime", 0, MAX_MTIME, &o->mtime);
    return err;
}

static void set_defaults(mtp_config *cfg)
{
    mtp_source *s = &cfg->source;
    snprintf(s->token, sizeof s->token, "%s", "public");
    s->resolution = 0;
    s->block[0] = 512;
    s->block[1] = 512;
    s->block[2] = 64;
    s->jobs = 4;
    s->max_jobs = 0; /* not given: set after jobs (parse_source) */
    s->retries = 8;
    s->timeout_s = 120;
    s->backoff_ms = 500;
    s->backoff_max_ms = 30000;
    cfg->output.compression = MTP_COMPRESS_GZIP;
    cfg->output.level = 4;
    cfg->output.volumes = false;
    cfg->output.previews = true;
    cfg->output.mtime = 0;
}

static int parse_root(parse_ctx *pc, const node *root)
{
    static const char *const known[] = {"release", "source", "channels", "regions", "z",
                                        "splits",  "tasks",  "output",   NULL};
    static const char *const required[] = {"release", "source", "channels", "regions",
                                           "z",       "splits", "tasks",    NULL};
    mtp_config *cfg = pc->cfg;
    char shown[SHOWN_LEN];
    if (root->kind != NODE_MAP)
        return mtp_cfg_fail(pc, root, NULL, "expected a mapping at the top level, got %s",
                            mtp_cfg_describe(root, shown, sizeof shown));
    int err = mtp_cfg_check_keys(pc, root, "", known, required);
    if (err == 0)
        err = parse_release(pc, mtp_cfg_map_value(root, "release"), &cfg->release);
    if (err == 0)
        err = parse_source(pc, mtp_cfg_map_value(root, "source"), &cfg->source);
    if (err == 0)
        err = parse_channels(pc, mtp_cfg_map_value(root, "channels"), cfg);
    if (err == 0)
        err = parse_regions(pc, mtp_cfg_map_value(root, "regions"), cfg);
    if (err == 0)
        err = mtp_cfg_get_range(pc, mtp_cfg_map_value(root, "z"), "z", &cfg->z);
    if (err == 0)
        err = check_region_size(pc, mtp_cfg_map_value(root, "regions"), cfg);
    if (err == 0)
        err = parse_splits(pc, mtp_cfg_map_value(root, "splits"), cfg);
    if (err == 0)
        err = mtp_cfg_parse_tasks(pc, mtp_cfg_map_value(root, "tasks"), cfg);
    const node *output = mtp_cfg_map_value(root, "output");
    if (err == 0 && output != NULL)
        err = parse_output(pc, output, &cfg->output);
    return err;
}

/* ---- digest and redaction -------------------------------------------------------------- */

/* Byte offset of character number `index` (libyaml counts UTF-8 sequences as one). */
static size_t byte_offset(const char *text, size_t len, size_t index)
{
    size_t chars = 0;
    for (size_t i = 0; i < len; i++) {
        if (((unsigned char)text[i] & 0xC0) != 0x80) {
            if (chars == index)
                return i;
            chars++;
        }
    }
    return len;
}

static bool contains(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
    for (size_t i = 0; nlen <= hlen && i <= hlen - nlen; i++)
        if (memcmp(hay + i, needle, nlen) == 0)
            return true;
    return false;
}

/*
 * config.yaml in a release is this text: the token scalar (with any anchor or tag on it)
 * becomes "<redacted>" and every other byte stays. A token that also appears elsewhere
 * (a comment, a description) would survive that, so it is refused.
 */
static int redact(const parse_ctx *pc, const char *text, size_t len, mtp_config *cfg)
{
    static const char mask[] = "\"<redacted>\"";
    const node *tok = pc->token_node;
    bool secret = tok != NULL && strcmp(cfg->source.token, "public") != 0;
    size_t b0 = 0, b1 = 0, out_len = len;
    if (secret) {
        b0 = byte_offset(text, len, tok->start.index);
        b1 = byte_offset(text, len, tok->end.index);
        out_len = len - (b1 - b0) + (sizeof mask - 1);
    }
    char *out = malloc(out_len + 1);
    if (out == NULL)
        return mtp_error_set(pc->err, MTP_ENOMEM, "%s: out of memory", pc->name);
    if (secret) {
        memcpy(out, text, b0);
        memcpy(out + b0, mask, sizeof mask - 1);
        memcpy(out + b0 + sizeof mask - 1, text + b1, len - b1);
    } else if (len > 0) {
        memcpy(out, text, len);
    }
    out[out_len] = '\0';
    if (secret && contains(out, out_len, tok->value, tok->len)) {
        free(out);
        return mtp_cfg_fail(pc, tok, "source.token",
                            "the token's value also appears elsewhere in the file, so it cannot be "
                            "redacted (use source.token_env)");
    }
    cfg->redacted_text = out;
    cfg->redacted_len = out_len;
    return 0;
}

/* ---- public API -------------------------------------------------------------------------- */

static int parse_text(mtp_config **out, const char *name, const char *text, size_t len,
                      bool no_token, mtp_error *err)
{
    if (out == NULL || name == NULL || (text == NULL && len > 0))
        return mtp_error_set(err, MTP_EINVAL, "mtp_config_parse: invalid argument");
    *out = NULL;
    if (text == NULL)
        text = "";
    if (len > MAX_FILE_BYTES)
        return mtp_error_set(err, MTP_ECONFIG, "%s: file is larger than 1 MiB", name);
    if (strlen(name) >= MTP_TEXT_MAX)
        return mtp_error_set(err, MTP_ECONFIG, "%.64s...: path longer than %d characters", name,
                             MTP_TEXT_MAX - 1);
    int rc = 0;
    node *root = NULL;
    mtp_config *cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "%s: out of memory", name);
    parse_ctx pc = {name, err, cfg, NULL, no_token};
    snprintf(cfg->path, sizeof cfg->path, "%s", name);
    set_defaults(cfg);
    rc = mtp_cfg_build_tree(&pc, text, len, &root);
    if (rc == 0)
        rc = parse_root(&pc, root);
    if (rc == 0 && mtp_sha256_hex(text, len, cfg->sha256) < 0)
        rc = mtp_error_set(err, MTP_ENOMEM, "%s: SHA-256 failed", name);
    if (rc == 0)
        rc = redact(&pc, text, len, cfg);
    mtp_cfg_node_free(root);
    if (rc == 0 && no_token)
        memset(cfg->source.token, 0, sizeof cfg->source.token);
    if (rc < 0) {
        mtp_config_free(cfg);
        cfg = NULL;
    }
    *out = cfg;
    return rc;
}

int mtp_config_parse(mtp_config **out, const char *name, const char *text, size_t len,
                     mtp_error *err)
{
    return parse_text(out, name, text, len, false, err);
}

/* Reads at most MAX_FILE_BYTES + 1 bytes, so a huge file is refused without reading it all. */
static int read_config_file(const char *path, char **text, size_t *len, mtp_error *err)
{
    int rc = 0;
    size_t cap = MAX_FILE_BYTES + 1, used = 0;
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = mtp_error_set(err, MTP_ECONFIG, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    buf = malloc(cap);
    if (buf == NULL) {
        rc = mtp_error_set(err, MTP_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    while (used < cap) {
        ssize_t got = read(fd, buf + used, cap - used);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = mtp_error_set(err, MTP_ECONFIG, "%s: cannot read: %s", path, strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        used += (size_t)got;
    }
    if (used > MAX_FILE_BYTES)
        rc = mtp_error_set(err, MTP_ECONFIG, "%s: file is larger than 1 MiB", path);
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0) {
        free(buf);
        buf = NULL;
        used = 0;
    }
    *text = buf;
    *len = used;
    return rc;
}

static int load_file(mtp_config **out, const char *path, bool no_token, mtp_error *err)
{
    if (out == NULL || path == NULL)
        return mtp_error_set(err, MTP_EINVAL, "mtp_config_load: invalid argument");
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = read_config_file(path, &text, &len, err);
    if (rc == 0)
        rc = parse_text(out, path, text, len, no_token, err);
    free(text);
    return rc;
}

int mtp_config_load(mtp_config **out, const char *path, mtp_error *err)
{
    return load_file(out, path, false, err);
}

int mtp_config_load_copy(mtp_config **out, const char *path, mtp_error *err)
{
    return load_file(out, path, true, err);
}

int mtp_config_override(mtp_config *cfg, const char *source_url, const char *token_env,
                        mtp_error *err)
{
    if (cfg == NULL)
        return mtp_error_set(err, MTP_EINVAL, "mtp_config_override: cfg is NULL");
    char url[MTP_TEXT_MAX], token[MTP_TEXT_MAX], why[MTP_TEXT_MAX];
    const char *bad = NULL;
    /* validate both before changing anything, so a failed override leaves cfg as it was */
    if (source_url != NULL) {
        bad = normalize_source_url(source_url, strlen(source_url), url, sizeof url);
        if (bad != NULL)
            return mtp_error_set(err, MTP_ECONFIG, "--source-url: %s", bad);
    }
    if (token_env != NULL) {
        bad = check_env_name(token_env);
        if (bad != NULL)
            return mtp_error_set(err, MTP_ECONFIG, "--token-env: %s", bad);
        if (token_from_env(token_env, token, why, sizeof why) < 0)
            return mtp_error_set(err, MTP_ECONFIG, "--token-env: %s", why);
    }
    if (source_url != NULL)
        memcpy(cfg->source.url, url, strlen(url) + 1);
    if (token_env != NULL) {
        memcpy(cfg->source.token, token, strlen(token) + 1);
        memcpy(cfg->source.token_env, token_env, strlen(token_env) + 1);
    }
    return 0;
}

int mtp_config_channel(const mtp_config *cfg, const char *name)
{
    for (int i = 0; cfg != NULL && name != NULL && i < cfg->nchannels; i++)
        if (strcmp(cfg->channels[i].name, name) == 0)
            return i;
    return -1;
}

int mtp_config_region(const mtp_config *cfg, const char *name)
{
    for (int i = 0; cfg != NULL && name != NULL && i < cfg->nregions; i++)
        if (strcmp(cfg->regions[i].name, name) == 0)
            return i;
    return -1;
}

int mtp_config_split(const mtp_config *cfg, const char *name)
{
    for (int i = 0; cfg != NULL && name != NULL && i < cfg->nsplits; i++)
        if (strcmp(cfg->splits[i].name, name) == 0)
            return i;
    return -1;
}

int mtp_config_task(const mtp_config *cfg, const char *name)
{
    for (int i = 0; cfg != NULL && name != NULL && i < cfg->ntasks; i++)
        if (strcmp(cfg->tasks[i].name, name) == 0)
            return i;
    return -1;
}

int mtp_config_class(const mtp_task *t, const char *name)
{
    for (int c = 0; c < t->nclasses && c < MTP_MAX_CLASSES; c++)
        if (strncmp(t->classes[c], name, MTP_NAME_MAX) == 0)
            return c;
    return -1;
}

const char *mtp_task_kind_name(mtp_task_kind kind)
{
    switch (kind) {
    case MTP_TASK_CLASSIFICATION:
        return "classification";
    case MTP_TASK_SEGMENTATION:
        return "segmentation";
    case MTP_TASK_FEATURES:
        return "features";
    }
    return "unknown";
}

bool mtp_config_channel_is_image(const mtp_config *cfg, int c)
{
    for (int t = 0; t < cfg->ntasks && t < MTP_MAX_TASKS; t++)
        if (cfg->tasks[t].image_channel == c)
            return true;
    return false;
}

void mtp_config_free(mtp_config *cfg)
{
    if (cfg == NULL)
        return;
    /* the token lived in this struct: do not leave it in freed memory */
    OPENSSL_cleanse(cfg->source.token, sizeof cfg->source.token);
    free(cfg->redacted_text);
    free(cfg);
}
