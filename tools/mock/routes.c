/*
 * routes.c — bossdb-mock's answers (see routes.h), built as plain data so that the HTTP
 * layer only has to send them.
 *
 * JSON shapes follow the real server: Boss errors come from Django's JsonResponse (Python's
 * default separators ", " and ": "), metadata and 401s from Django REST framework (compact).
 */
#include "routes.h"

#include "mtp/codec.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_CT "application/json"
#define HTML_CT "text/html; charset=utf-8"
#define BLOSC_CT "application/blosc"

enum { MAX_SEGMENTS = 16, MAX_PATH = 4096 };

static const char HTML_404[] =
    "<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n"
    "<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this "
    "server.</p>\n</body>\n</html>\n";
static const char HTML_500[] =
    "<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server Error (500)</title>\n"
    "</head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n";
static const char HTML_502[] =
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
    "Gateway</h1></center>\r\n</body>\r\n</html>\r\n";
static const char HTML_503[] =
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n";
static const char HTML_504[] =
    "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 "
    "Gateway Time-out</h1></center>\r\n</body>\r\n</html>\r\n";

/* ---- the catalogue ------------------------------------------------------------------- */

typedef struct channel_info {
    const char *experiment, *name, *type, *datatype, *description;
    mtp_synth_channel synth;
} channel_info;

static const channel_info CHANNELS[] = {
    {"prasad2020", "image", "image", "uint8",
     "Synthetic X-ray microtomography intensities (bossdb-mock)", MTP_SYNTH_IMAGE},
    {"prasad_analysis", "pixel_labels", "annotation", "uint64",
     "Synthetic pixel labels: 0 background, 1 vessel, 2 cell, 3 axon (bossdb-mock)",
     MTP_SYNTH_PIXEL_LABELS},
    {"prasad_analysis", "roi_labels", "annotation", "uint64",
     "Synthetic brain-region labels, codes 0-8 (bossdb-mock)", MTP_SYNTH_ROI_LABELS},
};
enum { N_CHANNELS = sizeof CHANNELS / sizeof CHANNELS[0] };

static const char *const EXPERIMENTS[] = {"prasad2020", "prasad_analysis"};
static const char COLLECTION[] = "prasad";
static const char FRAME[] = "prasad_prasad2020";
static const char CREATOR[] = "bossdb-mock";
enum { LEVELS = 8 };
static const double VOXEL_SIZE = 1.17;

/* ---- replies ------------------------------------------------------------------------- */

static int set_body(mtp_mock_reply *out, int status, const char *ct, const char *text, size_t len,
                    mtp_error *err)
{
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "mock: out of memory");
    memcpy(copy, text, len);
    copy[len] = '\0';
    free(out->body);
    out->status = status;
    out->content_type = ct;
    out->body = copy;
    out->body_len = len;
    out->is_cutout = 0;
    return 0;
}

static int html_reply(mtp_mock_reply *out, int status, const char *html, mtp_error *err)
{
    return set_body(out, status, status >= 502 ? "text/html" : HTML_CT, html, strlen(html), err);
}

/* Serialise and take ownership of `json` (NULL means an allocation failed). */
static int json_reply(mtp_mock_reply *out, int status, json_t *json, size_t flags, mtp_error *err)
{
    char *text = json != NULL ? json_dumps(json, flags | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(json);
    if (text == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "mock: out of memory");
    free(out->body);
    out->status = status;
    out->content_type = JSON_CT;
    out->body = text;
    out->body_len = strlen(text);
    out->is_cutout = 0;
    return 0;
}

/* {"status": S, "code": C, "message": M} as the Boss sends its errors. */
static int boss_error(mtp_mock_reply *out, int status, int code, mtp_error *err, const char *fmt,
                      ...) __attribute__((format(printf, 5, 6)));

static int boss_error(mtp_mock_reply *out, int status, int code, mtp_error *err, const char *fmt,
                      ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *j = json_pack("{s:i, s:i, s:s}", "status", status, "code", code, "message", msg);
    return json_reply(out, status, j, 0, err);
}

static int bad_token(mtp_mock_reply *out, mtp_error *err)
{
    return json_reply(out, 401, json_pack("{s:s}", "detail", "Invalid token."), JSON_COMPACT, err);
}

/* ---- path parsing -------------------------------------------------------------------- */

typedef struct segments {
    char buf[MAX_PATH];
    const char *seg[MAX_SEGMENTS];
    int n;
} segments;

/* Split "/a/b/c[/]" into a, b, c; 0 if the path is not of that shape. */
static int split_path(const char *path, segments *s)
{
    size_t len = strlen(path);
    if (len < 2 || len >= MAX_PATH || path[0] != '/')
        return 0;
    memcpy(s->buf, path + 1, len); /* includes the NUL */
    len--;
    if (s->buf[len - 1] == '/')
        s->buf[--len] = '\0';
    s->n = 0;
    char *p = s->buf;
    for (;;) {
        if (s->n == MAX_SEGMENTS)
            return 0;
        s->seg[s->n++] = p;
        char *slash = strchr(p, '/');
        if (slash == NULL)
            break;
        *slash = '\0';
        p = slash + 1;
    }
    for (int i = 0; i < s->n; i++)
        if (s->seg[i][0] == '\0')
            return 0;
    return 1;
}

static int is_name(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++) {
        char c = *s;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

/* Parse digits into *v; values past 10^18 saturate (they are outside any frame). */
static int parse_uint(const char *s, size_t n, int64_t *v)
{
    if (n == 0)
        return 0;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        if (x < INT64_C(1000000000000000000))
            x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 1;
}

/* "a:b" with a, b runs of digits. */
static int parse_range(const char *s, mtp_range *r)
{
    const char *colon = strchr(s, ':');
    if (colon == NULL)
        return 0;
    return parse_uint(s, (size_t)(colon - s), &r->start) &&
           parse_uint(colon + 1, strlen(colon + 1), &r->stop);
}

/* ---- resource lookup ----------------------------------------------------------------- */

/* 0 found; else a 404/4000 reply was written (or an error returned). `out_ch` may be
 * NULL when only the experiment is asked for. */
static int lookup(const char *coll, const char *exp, const char *chan, const channel_info **out_ch,
                  mtp_mock_reply *out, mtp_error *err, int *found)
{
    *found = 0;
    if (strcmp(coll, COLLECTION) != 0)
        return boss_error(out, 404, 4000, err, "Collection %s not found", coll);
    int exp_ok = 0;
    for (size_t i = 0; i < sizeof EXPERIMENTS / sizeof EXPERIMENTS[0]; i++)
        exp_ok |= strcmp(exp, EXPERIMENTS[i]) == 0;
    if (!exp_ok)
        return boss_error(out, 404, 4000, err, "Experiment %s not found", exp);
    if (chan != NULL) {
        for (int i = 0; i < N_CHANNELS; i++)
            if (strcmp(CHANNELS[i].experiment, exp) == 0 && strcmp(CHANNELS[i].name, chan) == 0)
                *out_ch = &CHANNELS[i];
        if (*out_ch == NULL)
            return boss_error(out, 404, 4000, err, "Channel %s not found", chan);
    }
    *found = 1;
    return 0;
}

/* ---- metadata ------------------------------------------------------------------------ */

static int experiment_reply(const char *exp, mtp_mock_reply *out, mtp_error *err)
{
    json_t *channels = json_array();
    for (int i = 0; i < N_CHANNELS; i++)
        if (strcmp(CHANNELS[i].experiment, exp) == 0)
            json_array_append_new(channels, json_string(CHANNELS[i].name));
    json_t *j = json_pack(
        "{s:o, s:s, s:b, s:s, s:s, s:s, s:i, s:s, s:i, s:n, s:s, s:s}", "channels", channels,
        "name", exp, "public", 1, "description",
        "Synthetic stand-in for the Prasad et al. 2020 thalamocortical volume (bossdb-mock)",
        "collection", COLLECTION, "coord_frame", FRAME, "num_hierarchy_levels", LEVELS,
        "hierarchy_method", "isotropic", "num_time_samples", 1, "time_step", "time_step_unit", "",
        "creator", CREATOR);
    return json_reply(out, 200, j, JSON_COMPACT, err);
}

static int channel_reply(const channel_info *ch, mtp_mock_reply *out, mtp_error *err)
{
    json_t *j =
        json_pack("{s:s, s:b, s:s, s:s, s:i, s:s, s:i, s:s, s:s, s:[], s:s, s:[], s:s, "
                  "s:n, s:n}",
                  "name", ch->name, "public", 1, "description", ch->description, "experiment",
                  ch->experiment, "default_time_sample", 0, "type", ch->type, "base_resolution", 0,
                  "datatype", ch->datatype, "creator", CREATOR, "sources", "downsample_status",
                  "DOWNSAMPLED", "related", "storage_type", "spdb", "bucket", "cv_path");
    return json_reply(out, 200, j, JSON_COMPACT, err);
}

static int coord_reply(mtp_mock_reply *out, mtp_error *err)
{
    json_t *j = json_pack(
        "{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:s}", "name", FRAME,
        "description", "Coordinate frame of the synthetic prasad2020 volume (bossdb-mock)",
        "x_start", 0, "x_stop", MTP_SYNTH_X_STOP, "y_start", 0, "y_stop", MTP_SYNTH_Y_STOP,
        "z_start", 0, "z_stop", MTP_SYNTH_Z_STOP, "x_voxel_size", VOXEL_SIZE, "y_voxel_size",
        VOXEL_SIZE, "z_voxel_size", VOXEL_SIZE, "voxel_unit", "micrometers");
    return json_reply(out, 200, j, JSON_COMPACT, err);
}

static int downsample_reply(mtp_mock_reply *out, mtp_error *err)
{
    json_t *voxel = json_object(), *extent = json_object(), *cuboid = json_object();
    int64_t ext[3] = {MTP_SYNTH_X_STOP, MTP_SYNTH_Y_STOP, MTP_SYNTH_Z_STOP};
    double size = VOXEL_SIZE;
    for (int level = 0; level < LEVELS; level++) {
        char key[8];
        snprintf(key, sizeof key, "%d", level);
        json_object_set_new(voxel, key, json_pack("[f, f, f]", size, size, size));
        json_object_set_new(
            extent, key,
            json_pack("[I, I, I]", (json_int_t)ext[0], (json_int_t)ext[1], (json_int_t)ext[2]));
        json_object_set_new(cuboid, key, json_pack("[i, i, i]", 512, 512, 16));
        /* Isotropic hierarchy: every axis halves, rounding up. */
        for (int a = 0; a < 3; a++)
            ext[a] = (ext[a] + 1) / 2;
        size *= 2.0;
    }
    json_t *j =
        json_pack("{s:s, s:i, s:o, s:o, s:o}", "status", "DOWNSAMPLED", "num_hierarchy_levels",
                  LEVELS, "voxel_size", voxel, "extent", extent, "cuboid_size", cuboid);
    return json_reply(out, 200, j, JSON_COMPACT, err);
}

/* ---- cutout -------------------------------------------------------------------------- */

static int cutout_reply(const segments *s, int auth_ok, mtp_mock_reply *out, mtp_error *err)
{
    /* s: v1 cutout c e ch res x y z [t] */
    const char *res_s = s->seg[5];
    mtp_range r[4] = {{0, 0}, {0, 0}, {0, 0}, {0, 1}};
    int ranges = s->n - 6;
    int shape_ok = is_name(s->seg[2]) && is_name(s->seg[3]) && is_name(s->seg[4]) &&
                   strlen(res_s) == 1 && res_s[0] >= '0' && res_s[0] <= '9';
    for (int i = 0; i < ranges && shape_ok; i++)
        shape_ok = parse_range(s->seg[6 + i], &r[i]);
    if (!shape_ok)
        return html_reply(out, 404, HTML_404, err);
    if (!auth_ok)
        return html_reply(out, 500, HTML_500, err); /* (inferred) the real server crashes */

    const channel_info *ch = NULL;
    int found = 0;
    int rc = lookup(s->seg[2], s->seg[3], s->seg[4], &ch, out, err, &found);
    if (rc < 0 || !found)
        return rc;

    int res = res_s[0] - '0';
    if (res >= LEVELS)
        return boss_error(out, 400, 1002, err,
                          "Invalid resolution %d. The resolution has to be within 0 and %d", res,
                          LEVELS);
    if (res > 0) /* valid on the real server, not served here (see routes.h) */
        return boss_error(out, 400, 1002, err,
                          "Invalid resolution %d. The resolution has to be within 0 and 1", res);

    const int64_t stop[4] = {MTP_SYNTH_X_STOP, MTP_SYNTH_Y_STOP, MTP_SYNTH_Z_STOP, 1};
    int inside = 1;
    for (int i = 0; i < 4; i++)
        inside &= r[i].start < r[i].stop && r[i].stop <= stop[i];
    if (!inside) {
        if (ranges == 4)
            return boss_error(out, 400, 1001, err, "Incorrect cutout arguments %s/%s/%s/%s/%s",
                              res_s, s->seg[6], s->seg[7], s->seg[8], s->seg[9]);
        return boss_error(out, 400, 1001, err, "Incorrect cutout arguments %s/%s/%s/%s", res_s,
                          s->seg[6], s->seg[7], s->seg[8]);
    }

    /* Every extent is now capped by the frame, so the product fits easily in 64 bits. */
    int bits = mtp_synth_bits(ch->synth);
    unsigned long long voxels = (unsigned long long)(r[0].stop - r[0].start) *
                                (unsigned long long)(r[1].stop - r[1].start) *
                                (unsigned long long)(r[2].stop - r[2].start) *
                                (unsigned long long)(r[3].stop - r[3].start);
    unsigned long long weighed = voxels * (unsigned long long)bits / 8;
    if (bits == 64)
        weighed /= 4; /* the real server's rule for 64-bit channels */
    if (weighed > MTP_MOCK_CUTOUT_CAP)
        return boss_error(out, 413, 2000, err,
                          "Cutout request is over 500MB when uncompressed. Reduce cutout "
                          "dimensions.");
    if (voxels * (unsigned long long)bits / 8 > MTP_BLOSC_MAX_NBYTES)
        return html_reply(out, 500, HTML_500, err);

    free(out->body);
    *out = (mtp_mock_reply)MTP_MOCK_REPLY_INIT;
    out->status = 200;
    out->content_type = BLOSC_CT;
    out->is_cutout = 1;
    out->channel = ch->synth;
    out->box = (mtp_box){r[0].start, r[0].stop, r[1].start, r[1].stop, r[2].start, r[2].stop};
    return 0;
}

/* Metadata routes; 0 in *routed when the segments match none of them. */
static int metadata_reply(const segments *s, int auth_ok, mtp_mock_reply *out, mtp_error *err,
                          int *routed)
{
    const char *kind = s->seg[1];
    int experiment = strcmp(kind, "collection") == 0 && (s->n == 5 || s->n == 7) &&
                     is_name(s->seg[2]) && strcmp(s->seg[3], "experiment") == 0 &&
                     is_name(s->seg[4]) &&
                     (s->n == 5 || (strcmp(s->seg[5], "channel") == 0 && is_name(s->seg[6])));
    int coord = strcmp(kind, "coord") == 0 && s->n == 3 && is_name(s->seg[2]);
    int downsample = strcmp(kind, "downsample") == 0 && s->n == 5 && is_name(s->seg[2]) &&
                     is_name(s->seg[3]) && is_name(s->seg[4]);
    *routed = experiment || coord || downsample;
    if (!*routed)
        return 0;
    if (!auth_ok)
        return bad_token(out, err);
    if (coord) {
        if (strcmp(s->seg[2], FRAME) != 0)
            return boss_error(out, 404, 4000, err, "Coordinate frame %s not found", s->seg[2]);
        return coord_reply(out, err);
    }
    const channel_info *ch = NULL;
    int found = 0;
    if (downsample) {
        int rc = lookup(s->seg[2], s->seg[3], s->seg[4], &ch, out, err, &found);
        return (rc < 0 || !found) ? rc : downsample_reply(out, err);
    }
    const char *chan = s->n == 7 ? s->seg[6] : NULL;
    int rc = lookup(s->seg[2], s->seg[4], chan, &ch, out, err, &found);
    if (rc < 0 || !found)
        return rc;
    return chan != NULL ? channel_reply(ch, out, err) : experiment_reply(s->seg[4], out, err);
}

int mtp_mock_too_large_reply(mtp_mock_reply *out, mtp_error *err)
{
    *out = (mtp_mock_reply)MTP_MOCK_REPLY_INIT;
    return boss_error(out, 413, 2000, err,
                      "Cutout request is over 500MB when uncompressed. Reduce cutout dimensions.");
}

int mtp_mock_route(const char *path, int auth_ok, mtp_mock_reply *out, mtp_error *err)
{
    if (path == NULL || out == NULL)
        return mtp_error_set(err, MTP_EINVAL, "mock route: NULL argument");
    *out = (mtp_mock_reply)MTP_MOCK_REPLY_INIT;
    segments *s = malloc(sizeof *s);
    if (s == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "mock: out of memory");
    int rc = 0, routed = 0;
    if (split_path(path, s) && s->n >= 2 &&
        (strcmp(s->seg[0], "v1") == 0 || strcmp(s->seg[0], "latest") == 0)) {
        if (strcmp(s->seg[1], "cutout") == 0 && (s->n == 9 || s->n == 10)) {
            routed = 1;
            rc = cutout_reply(s, auth_ok, out, err);
        } else {
            rc = metadata_reply(s, auth_ok, out, err, &routed);
        }
    }
    if (rc == 0 && !routed)
        rc = html_reply(out, 404, HTML_404, err);
    free(s);
    return rc;
}

int mtp_mock_status_reply(int status, mtp_mock_reply *out, mtp_error *err)
{
    *out = (mtp_mock_reply)MTP_MOCK_REPLY_INIT;
    switch (status) {
    case 429: {
        json_t *j = json_pack("{s:i, s:s, s:i}", "status", 429, "message",
                              "User is throttled. Expected available tomorrow.", "code", 3004);
        return json_reply(out, 429, j, 0, err);
    }
    case 500:
        return html_reply(out, 500, HTML_500, err);
    case 502:
        return html_reply(out, 502, HTML_502, err);
    case 503:
        return html_reply(out, 503, HTML_503, err);
    case 504:
        return html_reply(out, 504, HTML_504, err);
    default:
        return mtp_error_set(err, MTP_EINVAL, "mock: no canned reply for status %d", status);
    }
}

int mtp_mock_method_reply(const char *method, mtp_mock_reply *out, mtp_error *err)
{
    *out = (mtp_mock_reply)MTP_MOCK_REPLY_INIT;
    char detail[128];
    snprintf(detail, sizeof detail, "Method \"%.32s\" not allowed.", method);
    return json_reply(out, 405, json_pack("{s:s}", "detail", detail), JSON_COMPACT, err);
}

void mtp_mock_reply_clear(mtp_mock_reply *reply)
{
    if (reply == NULL)
        return;
    free(reply->body);
    *reply = (mtp_mock_reply)MTP_MOCK_REPLY_INIT;
}
