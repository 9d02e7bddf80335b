/*
 * boss_proto.c — the BossDB wire protocol without the transport (boss.c): resource URLs,
 * the retry policy (which answers are retried, the backoff), error bodies and the metadata
 * JSON of experiments, coordinate frames and channels. Nothing here does I/O.
 */
#include "boss_internal.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static bool valid_name(const char *s)
{
    if (s == NULL || s[0] == '\0' || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (; *s != '\0'; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
            return false;
    return true;
}

/* ---- URLs ----------------------------------------------------------------------------- */

static int check_names(const char *a, const char *b, const char *c, mtp_error *err)
{
    const char *names[3] = {a, b, c};
    for (int i = 0; i < 3; i++)
        if (names[i] != NULL && !valid_name(names[i]))
            return mtp_error_set(err, MTP_EINVAL, "invalid BossDB resource name '%.64s'", names[i]);
    return 0;
}

static int finish_url(int len, size_t n, mtp_error *err)
{
    if (len < 0 || (size_t)len >= n)
        return mtp_error_set(err, MTP_ERANGE, "URL longer than %zu bytes", n);
    return 0;
}

int mtp_boss_experiment_url(char *buf, size_t n, const char *url, const char *coll, const char *exp,
                            mtp_error *err)
{
    int rc = check_names(coll, exp, NULL, err);
    if (rc < 0)
        return rc;
    if (coll == NULL || exp == NULL)
        return mtp_error_set(err, MTP_EINVAL, "missing collection or experiment");
    return finish_url(snprintf(buf, n, "%s/v1/collection/%s/experiment/%s/", url, coll, exp), n,
                      err);
}

int mtp_boss_coord_url(char *buf, size_t n, const char *url, const char *frame, mtp_error *err)
{
    if (frame == NULL || !valid_name(frame))
        return mtp_error_set(err, MTP_EINVAL, "invalid BossDB resource name '%.64s'",
                             frame != NULL ? frame : "");
    return finish_url(snprintf(buf, n, "%s/v1/coord/%s/", url, frame), n, err);
}

int mtp_boss_channel_url(char *buf, size_t n, const char *url, const char *coll, const char *exp,
                         const char *chan, mtp_error *err)
{
    int rc = check_names(coll, exp, chan, err);
    if (rc < 0)
        return rc;
    if (coll == NULL || exp == NULL || chan == NULL)
        return mtp_error_set(err, MTP_EINVAL, "missing collection, experiment or channel");
    return finish_url(
        snprintf(buf, n, "%s/v1/collection/%s/experiment/%s/channel/%s/", url, coll, exp, chan), n,
        err);
}

int mtp_boss_cutout_url(char *buf, size_t n, const char *url, const char *coll, const char *exp,
                        const char *chan, int res, const mtp_box *box, mtp_error *err)
{
    int rc = check_names(coll, exp, chan, err);
    if (rc < 0)
        return rc;
    if (coll == NULL || exp == NULL || chan == NULL)
        return mtp_error_set(err, MTP_EINVAL, "missing collection, experiment or channel");
    if (res < 0 || res > 9)
        return mtp_error_set(err, MTP_EINVAL, "resolution %d outside 0..9", res);
    if (box->x0 < 0 || box->y0 < 0 || box->z0 < 0 || box->x0 >= box->x1 || box->y0 >= box->y1 ||
        box->z0 >= box->z1)
        return mtp_error_set(err, MTP_EINVAL, "empty or negative cutout box");
    return finish_url(snprintf(buf, n,
                               "%s/v1/cutout/%s/%s/%s/%d/%" PRId64 ":%" PRId64 "/%" PRId64
                               ":%" PRId64 "/%" PRId64 ":%" PRId64 "/?access-mode=no-cache",
                               url, coll, exp, chan, res, box->x0, box->x1, box->y0, box->y1,
                               box->z0, box->z1),
                      n, err);
}

void mtp_boss_describe_block(char *buf, size_t n, const mtp_channel *ch, const mtp_box *box)
{
    snprintf(buf, n,
             "%s/%s x[%" PRId64 ",%" PRId64 ") y[%" PRId64 ",%" PRId64 ") z[%" PRId64 ",%" PRId64
             ")",
             ch->experiment, ch->channel, box->x0, box->x1, box->y0, box->y1, box->z0, box->z1);
}

/* ---- policy --------------------------------------------------------------------------- */

mtp_boss_action mtp_boss_classify(long status)
{
    /* 204, 206 and the other 2xx are not the answer asked for: fatal, with their name. */
    if (status == 200)
        return MTP_BOSS_DONE;
    switch (status) {
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
        return MTP_BOSS_RETRY;
    case 413:
        return MTP_BOSS_SPLIT;
    default:
        return MTP_BOSS_FATAL;
    }
}

int64_t mtp_boss_backoff_ms(int backoff_ms, int backoff_max_ms, int attempt, uint64_t *rng)
{
    double base = backoff_ms > 0 ? (double)backoff_ms : 0.0;
    double cap = backoff_max_ms > 0 ? (double)backoff_max_ms : 0.0;
    if (attempt < 0)
        attempt = 0;
    /* Doubling past 2^40 ms only matters if the cap is absurd; stop early to stay finite. */
    for (int i = 0; i < attempt && base < cap && i < 40; i++)
        base *= 2.0;
    if (base > cap)
        base = cap;
    double u = 0.5 + 0.5 * ((double)(splitmix64(rng) >> 11) * 0x1.0p-53);
    return (int64_t)(base * u);
}

static int64_t axis_len(const mtp_box *b, int axis)
{
    return axis == 0 ? b->x1 - b->x0 : axis == 1 ? b->y1 - b->y0 : b->z1 - b->z0;
}

int mtp_boss_split_box(const mtp_box *box, mtp_box *a, mtp_box *b)
{
    int axis = 0;
    for (int i = 1; i < 3; i++)
        if (axis_len(box, i) > axis_len(box, axis))
            axis = i;
    int64_t len = axis_len(box, axis);
    if (len < 2)
        return MTP_ERANGE;
    int64_t lo = axis == 0 ? box->x0 : axis == 1 ? box->y0 : box->z0;
    int64_t hi = lo + len;
    int64_t grid = axis == 0 ? MTP_CUBOID_X : axis == 1 ? MTP_CUBOID_Y : MTP_CUBOID_Z;
    int64_t mid = lo + len / 2;
    /* The cuboid boundaries nearest the middle on either side; keep the closer inner one. */
    int64_t below = (mid / grid) * grid;
    int64_t above = below + grid;
    int64_t cut = mid;
    bool below_ok = below > lo && below < hi;
    bool above_ok = above > lo && above < hi;
    if (below_ok && (!above_ok || mid - below <= above - mid))
        cut = below;
    else if (above_ok)
        cut = above;
    *a = *box;
    *b = *box;
    if (axis == 0) {
        a->x1 = cut;
        b->x0 = cut;
    } else if (axis == 1) {
        a->y1 = cut;
        b->y0 = cut;
    } else {
        a->z1 = cut;
        b->z0 = cut;
    }
    return 0;
}

/* ---- error bodies --------------------------------------------------------------------- */

void mtp_boss_clean_text(char *dst, size_t n, const char *src)
{
    size_t k = 0;
    for (; src[0] != '\0' && k + 1 < n && k < 300; src++)
        dst[k++] = ((unsigned char)src[0] < 0x20 || src[0] == 0x7f) ? ' ' : src[0];
    dst[k] = '\0';
}

void mtp_boss_describe_error(char *buf, size_t n, long status, const char *body, size_t len)
{
    char text[512] = "";
    json_int_t code = -1;
    json_t *root = NULL;
    if (body != NULL && len > 0 && len <= MTP_BOSS_ERROR_BODY_MAX)
        root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_object(root)) {
        json_t *msg = json_object_get(root, "message");
        json_t *detail = json_object_get(root, "detail");
        json_t *jcode = json_object_get(root, "code");
        if (json_is_string(msg))
            mtp_boss_clean_text(text, sizeof text, json_string_value(msg));
        else if (json_is_string(detail))
            mtp_boss_clean_text(text, sizeof text, json_string_value(detail));
        if (json_is_integer(jcode))
            code = json_integer_value(jcode);
    }
    json_decref(root);
    if (code >= 0 && text[0] != '\0')
        snprintf(buf, n, "%ld (code %" JSON_INTEGER_FORMAT "): %s", status, code, text);
    else if (text[0] != '\0')
        snprintf(buf, n, "%ld: %s", status, text);
    else if (code >= 0)
        snprintf(buf, n, "%ld (code %" JSON_INTEGER_FORMAT ")", status, code);
    else
        snprintf(buf, n, "%ld", status);
}

/* ---- metadata parsers ----------------------------------------------------------------- */

static int load_object(json_t **out, const char *what, const char *text, size_t len, mtp_error *err)
{
    *out = NULL;
    if (len > MTP_BOSS_META_MAX)
        return mtp_error_set(err, MTP_ECORRUPT, "%s: response larger than %d bytes", what,
                             MTP_BOSS_META_MAX);
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return mtp_error_set(err, MTP_ECORRUPT, "%s: invalid JSON at line %d: %s", what, jerr.line,
                             jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return mtp_error_set(err, MTP_ECORRUPT, "%s: expected a JSON object", what);
    }
    *out = root;
    return 0;
}

static int get_int(json_t *obj, const char *what, const char *key, bool required, int64_t lo,
                   int64_t hi, int64_t *out, mtp_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        if (required)
            return mtp_error_set(err, MTP_ECORRUPT, "%s: missing '%s'", what, key);
        return 1;
    }
    if (!json_is_integer(v))
        return mtp_error_set(err, MTP_ECORRUPT, "%s: '%s' is not an integer", what, key);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return mtp_error_set(err, MTP_ECORRUPT,
                             "%s: '%s' = %" JSON_INTEGER_FORMAT " outside [%" PRId64 ", %" PRId64
                             "]",
                             what, key, x, lo, hi);
    *out = (int64_t)x;
    return 0;
}

static int get_str(json_t *obj, const char *what, const char *key, bool required, char *dst,
                   size_t n, mtp_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        if (required)
            return mtp_error_set(err, MTP_ECORRUPT, "%s: missing '%s'", what, key);
        return 1;
    }
    if (!json_is_string(v))
        return mtp_error_set(err, MTP_ECORRUPT, "%s: '%s' is not a string", what, key);
    if (strlen(json_string_value(v)) >= n)
        return mtp_error_set(err, MTP_ECORRUPT, "%s: '%s' longer than %zu characters", what, key,
                             n - 1);
    mtp_boss_copy_str(dst, n, json_string_value(v));
    return 0;
}

int mtp_boss_parse_experiment_json(const char *text, size_t len, mtp_channel_meta *out,
                                   mtp_error *err)
{
    const char *what = "experiment";
    json_t *root = NULL;
    int rc = load_object(&root, what, text, len, err);
    if (rc < 0)
        goto out;
    rc = get_str(root, what, "coord_frame", true, out->coord_frame, sizeof out->coord_frame, err);
    if (rc < 0)
        goto out;
    int64_t levels = 0;
    rc = get_int(root, what, "num_hierarchy_levels", true, 1, 32, &levels, err);
    if (rc < 0)
        goto out;
    out->num_hierarchy_levels = (int)levels;
    char method[32] = "anisotropic";
    rc = get_str(root, what, "hierarchy_method", false, method, sizeof method, err);
    if (rc < 0)
        goto out;
    out->isotropic = strcmp(method, "isotropic") == 0;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int mtp_boss_parse_coord_json(const char *text, size_t len, mtp_channel_meta *out, mtp_error *err)
{
    static const char *const range_keys[3][2] = {
        {"x_start", "x_stop"}, {"y_start", "y_stop"}, {"z_start", "z_stop"}};
    static const char *const size_keys[3] = {"x_voxel_size", "y_voxel_size", "z_voxel_size"};
    const char *what = "coordinate frame";
    const int64_t coord_cap = (int64_t)1 << 40;
    json_t *root = NULL;
    int64_t r[3][2] = {{0, 0}, {0, 0}, {0, 0}};
    int rc = load_object(&root, what, text, len, err);
    if (rc < 0)
        goto out;
    for (int a = 0; a < 3; a++) {
        for (int k = 0; k < 2; k++) {
            rc = get_int(root, what, range_keys[a][k], true, 0, coord_cap, &r[a][k], err);
            if (rc < 0)
                goto out;
        }
        if (r[a][0] >= r[a][1]) {
            rc = mtp_error_set(err, MTP_ECORRUPT, "%s: empty range %s %" PRId64 " >= %s %" PRId64,
                               what, range_keys[a][0], r[a][0], range_keys[a][1], r[a][1]);
            goto out;
        }
        json_t *v = json_object_get(root, size_keys[a]);
        if (!json_is_number(v) || !(json_number_value(v) > 0.0) ||
            !isfinite(json_number_value(v))) {
            rc = mtp_error_set(err, MTP_ECORRUPT, "%s: '%s' is not a positive number", what,
                               size_keys[a]);
            goto out;
        }
        out->voxel_size[a] = json_number_value(v);
    }
    rc = get_str(root, what, "voxel_unit", true, out->voxel_unit, sizeof out->voxel_unit, err);
    if (rc < 0)
        goto out;
    out->frame = (mtp_box){r[0][0], r[0][1], r[1][0], r[1][1], r[2][0], r[2][1]};
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int mtp_boss_parse_channel_json(const char *text, size_t len, mtp_channel_meta *out, mtp_error *err)
{
    const char *what = "channel";
    json_t *root = NULL;
    int rc = load_object(&root, what, text, len, err);
    if (rc < 0)
        goto out;
    rc = get_str(root, what, "datatype", true, out->datatype, sizeof out->datatype, err);
    if (rc < 0)
        goto out;
    out->dtype = mtp_dtype_parse(out->datatype);
    out->type[0] = '\0';
    rc = get_str(root, what, "type", false, out->type, sizeof out->type, err);
    if (rc < 0)
        goto out;
    int64_t base = 0;
    rc = get_int(root, what, "base_resolution", false, 0, 9, &base, err);
    if (rc < 0)
        goto out;
    out->base_resolution = (int)base;
    rc = 0;
out:
    json_decref(root);
    return rc;
}
