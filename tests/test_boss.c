/*
 * test_boss.c — the BossDB client: URLs, metadata parsers, error texts, retry policy,
 * 413 splits, and the cutout engine against a tiny libmicrohttpd server run in-process
 * (each test scripts exactly what the server answers).
 */
#include "mtp_test.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <blosc.h>
#include <microhttpd.h>

#include "mtp/boss.h"

/* ---- URLs ----------------------------------------------------------------------------- */

START_TEST(cutout_url_is_exact)
{
    char buf[512];
    mtp_error err = MTP_ERROR_INIT;
    mtp_box box = {4600, 4608, 900, 1024, 110, 128};
    ck_assert_int_eq(mtp_boss_cutout_url(buf, sizeof buf, "https://api.bossdb.io", "prasad",
                                         "prasad2020", "image", 0, &box, &err),
                     0);
    ck_assert_str_eq(buf, "https://api.bossdb.io/v1/cutout/prasad/prasad2020/image/0/"
                          "4600:4608/900:1024/110:128/?access-mode=no-cache");
}
END_TEST

START_TEST(metadata_urls_are_exact)
{
    char buf[512];
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_boss_experiment_url(buf, sizeof buf, "http://127.0.0.1:8080", "prasad",
                                             "prasad2020", &err),
                     0);
    ck_assert_str_eq(buf, "http://127.0.0.1:8080/v1/collection/prasad/experiment/prasad2020/");
    ck_assert_int_eq(mtp_boss_coord_url(buf, sizeof buf, "http://h", "prasad_prasad2020", &err), 0);
    ck_assert_str_eq(buf, "http://h/v1/coord/prasad_prasad2020/");
    ck_assert_int_eq(mtp_boss_channel_url(buf, sizeof buf, "http://h", "prasad", "prasad_analysis",
                                          "roi_labels", &err),
                     0);
    ck_assert_str_eq(
        buf, "http://h/v1/collection/prasad/experiment/prasad_analysis/channel/roi_labels/");
}
END_TEST

START_TEST(url_builders_reject_bad_input)
{
    char buf[64];
    mtp_error err = MTP_ERROR_INIT;
    mtp_box box = {0, 10, 0, 10, 0, 10};
    ck_assert_int_eq(
        mtp_boss_channel_url(buf, sizeof buf, "http://h", "prasad", "..", "image", &err),
        MTP_EINVAL);
    ck_assert_str_eq(err.msg, "invalid BossDB resource name '..'");
    ck_assert_int_eq(mtp_boss_coord_url(buf, sizeof buf, "http://h", "a/b", &err), MTP_EINVAL);
    ck_assert_int_eq(
        mtp_boss_cutout_url(buf, sizeof buf, "http://h", "c", "e", "ch", 10, &box, &err),
        MTP_EINVAL);
    mtp_box empty = {5, 5, 0, 10, 0, 10};
    ck_assert_int_eq(
        mtp_boss_cutout_url(buf, sizeof buf, "http://h", "c", "e", "ch", 0, &empty, &err),
        MTP_EINVAL);
    ck_assert_str_eq(err.msg, "empty or negative cutout box");
    char tiny[32];
    ck_assert_int_eq(
        mtp_boss_cutout_url(tiny, sizeof tiny, "http://h", "c", "e", "ch", 0, &box, &err),
        MTP_ERANGE);
    ck_assert_str_eq(err.msg, "URL longer than 32 bytes");
}
END_TEST

START_TEST(block_description)
{
    mtp_channel ch = {"image", "bossdb://prasad/prasad2020/image", "prasad", "prasad2020", "image"};
    mtp_box box = {4600, 4608, 900, 1024, 110, 128};
    char buf[128];
    mtp_boss_describe_block(buf, sizeof buf, &ch, &box);
    ck_assert_str_eq(buf, "prasad2020/image x[4600,4608) y[900,1024) z[110,128)");
}
END_TEST

/* ---- metadata parsers ----------------------------------------------------------------- */

static const char experiment_json[] =
    "{\"channels\": [\"image\"], \"name\": \"prasad2020\", \"description\": \"\","
    " \"collection\": \"prasad\", \"coord_frame\": \"prasad_prasad2020\","
    " \"num_hierarchy_levels\": 8, \"hierarchy_method\": \"isotropic\","
    " \"num_time_samples\": 1, \"time_step\": null, \"time_step_unit\": \"\","
    " \"creator\": \"someone\", \"public\": true, \"new_key\": {\"nested\": [1, 2]}}";

static const char coord_json[] =
    "{\"name\": \"prasad_prasad2020\", \"description\": \"\", \"x_start\": 0,"
    " \"x_stop\": 5805, \"y_start\": 0, \"y_stop\": 1420, \"z_start\": 0, \"z_stop\": 720,"
    " \"x_voxel_size\": 1.17, \"y_voxel_size\": 1.17, \"z_voxel_size\": 1.17,"
    " \"voxel_unit\": \"micrometers\", \"extra\": null}";

static const char channel_json[] =
    "{\"name\": \"pixel_labels\", \"public\": true, \"description\": \"\","
    " \"experiment\": \"prasad_analysis\", \"default_time_sample\": 0, \"type\": \"annotation\","
    " \"base_resolution\": 0, \"datatype\": \"uint64\", \"creator\": \"x\", \"sources\": [],"
    " \"downsample_status\": \"DOWNSAMPLED\", \"related\": [], \"storage_type\": \"spdb\","
    " \"bucket\": null, \"cv_path\": null, \"unknown\": 42}";

START_TEST(parse_full_metadata)
{
    mtp_channel_meta m;
    mtp_error err = MTP_ERROR_INIT;
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(
        mtp_boss_parse_experiment_json(experiment_json, strlen(experiment_json), &m, &err), 0);
    ck_assert_int_eq(mtp_boss_parse_coord_json(coord_json, strlen(coord_json), &m, &err), 0);
    ck_assert_int_eq(mtp_boss_parse_channel_json(channel_json, strlen(channel_json), &m, &err), 0);
    ck_assert_str_eq(m.coord_frame, "prasad_prasad2020");
    ck_assert_int_eq(m.num_hierarchy_levels, 8);
    ck_assert_int_eq(m.isotropic, 1);
    ck_assert_int_eq(m.frame.x0, 0);
    ck_assert_int_eq(m.frame.x1, 5805);
    ck_assert_int_eq(m.frame.y1, 1420);
    ck_assert_int_eq(m.frame.z1, 720);
    ck_assert_double_eq_tol(m.voxel_size[0], 1.17, 1e-12);
    ck_assert_double_eq_tol(m.voxel_size[2], 1.17, 1e-12);
    ck_assert_str_eq(m.voxel_unit, "micrometers");
    ck_assert_str_eq(m.type, "annotation");
    ck_assert_str_eq(m.datatype, "uint64");
    ck_assert_int_eq(m.dtype, MTP_DTYPE_UINT64);
    ck_assert_int_eq(m.base_resolution, 0);
}
END_TEST

START_TEST(parse_tolerates_missing_optional_keys)
{
    mtp_channel_meta m;
    mtp_error err = MTP_ERROR_INIT;
    memset(&m, 0, sizeof m);
    const char *exp = "{\"coord_frame\": \"f\", \"num_hierarchy_levels\": 3}";
    ck_assert_int_eq(mtp_boss_parse_experiment_json(exp, strlen(exp), &m, &err), 0);
    ck_assert_int_eq(m.isotropic, 0);
    const char *ch = "{\"datatype\": \"uint8\"}";
    m.base_resolution = 7;
    ck_assert_int_eq(mtp_boss_parse_channel_json(ch, strlen(ch), &m, &err), 0);
    ck_assert_int_eq(m.dtype, MTP_DTYPE_UINT8);
    ck_assert_str_eq(m.type, "");
    ck_assert_int_eq(m.base_resolution, 0);
    const char *coord = "{\"x_start\": 10, \"x_stop\": 20, \"y_start\": 0, \"y_stop\": 5,"
                        " \"z_start\": 0, \"z_stop\": 1, \"x_voxel_size\": 4,"
                        " \"y_voxel_size\": 4, \"z_voxel_size\": 40.5,"
                        " \"voxel_unit\": \"nanometers\"}";
    ck_assert_int_eq(mtp_boss_parse_coord_json(coord, strlen(coord), &m, &err), 0);
    ck_assert_int_eq(m.frame.x0, 10);
    ck_assert_double_eq_tol(m.voxel_size[0], 4.0, 1e-12);
    ck_assert_double_eq_tol(m.voxel_size[2], 40.5, 1e-12);
}
END_TEST

START_TEST(parse_rejects_bad_metadata)
{
    mtp_channel_meta m;
    mtp_error err = MTP_ERROR_INIT;
    memset(&m, 0, sizeof m);
    const char *a = "{\"num_hierarchy_levels\": 3}";
    ck_assert_int_eq(mtp_boss_parse_experiment_json(a, strlen(a), &m, &err), MTP_ECORRUPT);
    ck_assert_str_eq(err.msg, "experiment: missing 'coord_frame'");
    const char *b = "{\"coord_frame\": \"f\", \"num_hierarchy_levels\": \"8\"}";
    ck_assert_int_eq(mtp_boss_parse_experiment_json(b, strlen(b), &m, &err), MTP_ECORRUPT);
    ck_assert_str_eq(err.msg, "experiment: 'num_hierarchy_levels' is not an integer");
    const char *c = "{\"coord_frame\": \"f\", \"num_hierarchy_levels\": 0}";
    ck_assert_int_eq(mtp_boss_parse_experiment_json(c, strlen(c), &m, &err), MTP_ECORRUPT);
    ck_assert_str_eq(err.msg, "experiment: 'num_hierarchy_levels' = 0 outside [1, 32]");
    const char *d = "{\"x_start\": 5, \"x_stop\": 5, \"y_start\": 0, \"y_stop\": 5,"
                    " \"z_start\": 0, \"z_stop\": 1}";
    ck_assert_int_eq(mtp_boss_parse_coord_json(d, strlen(d), &m, &err), MTP_ECORRUPT);
    ck_assert_str_eq(err.msg, "coordinate frame: empty range x_start 5 >= x_stop 5");
    const char *e = "{\"x_start\": 0, \"x_stop\": 5, \"y_start\": 0, \"y_stop\": 5,"
                    " \"z_start\": 0, \"z_stop\": 1, \"x_voxel_size\": 1, \"y_voxel_size\": 1,"
                    " \"z_voxel_size\": 1}";
    ck_assert_int_eq(mtp_boss_parse_coord_json(e, strlen(e), &m, &err), MTP_ECORRUPT);
    ck_assert_str_eq(err.msg, "coordinate frame: missing 'voxel_unit'");
    const char *f = "[1, 2]";
    ck_assert_int_eq(mtp_boss_parse_channel_json(f, strlen(f), &m, &err), MTP_ECORRUPT);
    ck_assert_str_eq(err.msg, "channel: expected a JSON object");
    const char *g = "{\"datatype\": \"float32\", \"base_resolution\": 12}";
    ck_assert_int_eq(mtp_boss_parse_channel_json(g, strlen(g), &m, &err), MTP_ECORRUPT);
    ck_assert_str_eq(err.msg, "channel: 'base_resolution' = 12 outside [0, 9]");
    const char *h = "{\"datatype\": \"float32\"}";
    ck_assert_int_eq(mtp_boss_parse_channel_json(h, strlen(h), &m, &err), 0);
    ck_assert_int_eq(m.dtype, MTP_DTYPE_UNKNOWN);
    ck_assert_str_eq(m.datatype, "float32");
    const char *dup = "{\"datatype\": \"uint8\", \"datatype\": \"uint64\"}";
    ck_assert_int_eq(mtp_boss_parse_channel_json(dup, strlen(dup), &m, &err), MTP_ECORRUPT);
    ck_assert_int_eq(mtp_boss_parse_channel_json("{", 1, &m, &err), MTP_ECORRUPT);
    ck_assert_int_eq(mtp_boss_parse_channel_json("{}", MTP_BOSS_META_MAX + 1, &m, &err),
                     MTP_ECORRUPT);
    ck_assert_str_eq(err.msg, "channel: response larger than 1048576 bytes");
}
END_TEST

START_TEST(error_descriptions)
{
    char buf[512];
    const char *nf =
        "{\"status\": 404, \"code\": 4000, \"message\": \"Experiment nope not found\"}";
    mtp_boss_describe_error(buf, sizeof buf, 404, nf, strlen(nf));
    ck_assert_str_eq(buf, "404 (code 4000): Experiment nope not found");
    const char *tok = "{\"detail\": \"Invalid token.\"}";
    mtp_boss_describe_error(buf, sizeof buf, 401, tok, strlen(tok));
    ck_assert_str_eq(buf, "401: Invalid token.");
    const char *html = "<html><body>502 Bad Gateway</body></html>";
    mtp_boss_describe_error(buf, sizeof buf, 502, html, strlen(html));
    ck_assert_str_eq(buf, "502");
    mtp_boss_describe_error(buf, sizeof buf, 503, NULL, 0);
    ck_assert_str_eq(buf, "503");
    const char *nl = "{\"status\": 429, \"message\": \"User is\\nthrottled.\", \"code\": 3004}";
    mtp_boss_describe_error(buf, sizeof buf, 429, nl, strlen(nl));
    ck_assert_str_eq(buf, "429 (code 3004): User is throttled.");
}
END_TEST

/* ---- policy --------------------------------------------------------------------------- */

START_TEST(classify_statuses)
{
    ck_assert_int_eq(mtp_boss_classify(200), MTP_BOSS_DONE);
    ck_assert_int_eq(mtp_boss_classify(400), MTP_BOSS_FATAL);
    ck_assert_int_eq(mtp_boss_classify(401), MTP_BOSS_FATAL);
    ck_assert_int_eq(mtp_boss_classify(403), MTP_BOSS_FATAL);
    ck_assert_int_eq(mtp_boss_classify(404), MTP_BOSS_FATAL);
    ck_assert_int_eq(mtp_boss_classify(413), MTP_BOSS_SPLIT);
    ck_assert_int_eq(mtp_boss_classify(429), MTP_BOSS_RETRY);
    ck_assert_int_eq(mtp_boss_classify(500), MTP_BOSS_RETRY);
    ck_assert_int_eq(mtp_boss_classify(502), MTP_BOSS_RETRY);
    ck_assert_int_eq(mtp_boss_classify(503), MTP_BOSS_RETRY);
    ck_assert_int_eq(mtp_boss_classify(504), MTP_BOSS_RETRY);
    ck_assert_int_eq(mtp_boss_classify(301), MTP_BOSS_FATAL);
    ck_assert_int_eq(mtp_boss_classify(501), MTP_BOSS_FATAL);
}
END_TEST

START_TEST(backoff_bounds_and_jitter)
{
    uint64_t rng = 12345;
    /* backoff 100 ms doubling to a 2000 ms cap: bases 100 200 400 800 1600 2000 2000 ... */
    static const int64_t base[] = {100, 200, 400, 800, 1600, 2000, 2000, 2000, 2000, 2000};
    for (int round = 0; round < 200; round++) {
        for (int a = 0; a < 10; a++) {
            int64_t d = mtp_boss_backoff_ms(100, 2000, a, &rng);
            ck_assert_int_ge(d, base[a] / 2);
            ck_assert_int_le(d, base[a]);
        }
    }
    /* Jitter: draws differ; the same seed gives the same sequence. */
    uint64_t r1 = 7, r2 = 7;
    int64_t first = mtp_boss_backoff_ms(1000, 60000, 3, &r1), distinct = 0;
    ck_assert_int_eq(first, mtp_boss_backoff_ms(1000, 60000, 3, &r2));
    for (int i = 0; i < 50; i++)
        distinct += mtp_boss_backoff_ms(1000, 60000, 3, &r1) != first;
    ck_assert_int_ge(distinct, 45);
    /* Huge attempts stay at the cap and never overflow. */
    ck_assert_int_le(mtp_boss_backoff_ms(500, 60000, 1000, &rng), 60000);
    ck_assert_int_ge(mtp_boss_backoff_ms(500, 60000, 1000, &rng), 30000);
    ck_assert_int_eq(mtp_boss_backoff_ms(0, 0, 3, &rng), 0);
}
END_TEST

START_TEST(split_prefers_cuboid_boundaries)
{
    mtp_box a, b;
    /* x is longest and 4608 = 9 * 512 lies inside. */
    mtp_box box = {4600, 4856, 900, 1000, 110, 128};
    ck_assert_int_eq(mtp_boss_split_box(&box, &a, &b), 0);
    ck_assert_int_eq(a.x0, 4600);
    ck_assert_int_eq(a.x1, 4608);
    ck_assert_int_eq(b.x0, 4608);
    ck_assert_int_eq(b.x1, 4856);
    ck_assert_int_eq(a.y0, 900);
    ck_assert_int_eq(b.z1, 128);
    /* No boundary inside: the middle. */
    mtp_box mid = {0, 100, 0, 10, 0, 10};
    ck_assert_int_eq(mtp_boss_split_box(&mid, &a, &b), 0);
    ck_assert_int_eq(a.x1, 50);
    ck_assert_int_eq(b.x0, 50);
    /* z longest: cut on a 16 boundary nearest the middle (110..470: mid 290 -> 288). */
    mtp_box zbox = {0, 256, 0, 256, 110, 470};
    ck_assert_int_eq(mtp_boss_split_box(&zbox, &a, &b), 0);
    ck_assert_int_eq(a.z0, 110);
    ck_assert_int_eq(a.z1, 288);
    ck_assert_int_eq(b.z0, 288);
    ck_assert_int_eq(b.z1, 470);
    ck_assert_int_eq(a.x1, 256);
    /* Two boundaries inside: the one nearer the middle (0..2048: 1024). */
    mtp_box wide = {0, 2048, 0, 1, 0, 1};
    ck_assert_int_eq(mtp_boss_split_box(&wide, &a, &b), 0);
    ck_assert_int_eq(a.x1, 1024);
    /* Ties: x before y before z. */
    mtp_box cube = {0, 8, 0, 8, 0, 8};
    ck_assert_int_eq(mtp_boss_split_box(&cube, &a, &b), 0);
    ck_assert_int_eq(a.x1, 4);
    ck_assert_int_eq(a.y1, 8);
    mtp_box one = {3, 4, 5, 6, 7, 8};
    ck_assert_int_eq(mtp_boss_split_box(&one, &a, &b), MTP_ERANGE);
}
END_TEST

START_TEST(options_are_checked)
{
    mtp_boss *boss = NULL;
    mtp_error err = MTP_ERROR_INIT;
    mtp_boss_options opt = MTP_BOSS_OPTIONS_INIT;
    opt.url = "http://127.0.0.1:1";
    opt.token = "se\ncret";
    ck_assert_int_eq(mtp_boss_new(&boss, &opt, &err), MTP_ECONFIG);
    ck_assert_ptr_null(boss);
    ck_assert_ptr_null(strstr(err.msg, "se"));
    opt.token = "public";
    opt.jobs = 0;
    ck_assert_int_eq(mtp_boss_new(&boss, &opt, &err), MTP_EINVAL);
    opt.jobs = 2;
    ck_assert_int_eq(mtp_boss_new(&boss, &opt, &err), 0);
    ck_assert_ptr_nonnull(boss);
    mtp_boss_free(boss);
    mtp_boss_free(NULL);
}
END_TEST

/* ---- the cutout engine against a scripted in-process server ------------------------------ */

enum script {
    SERVE_DATA,     /* 200 with the voxels f(x, y, z) of the box, uint16 */
    SERVE_413_BIG,  /* 413 for boxes over 1000 voxels, else data */
    SERVE_503,      /* always 503 with a Boss JSON body */
    SERVE_404,      /* 404 with a Boss JSON body */
    SERVE_OVERSIZE, /* 200 with a body 100 bytes longer than a stored chunk of the box */
    SERVE_FLAKY,    /* odd-numbered requests 500, even ones data */
    SERVE_BYTES,    /* 200 with voxels f(x, y, z) % 256 (label-like: all fit in a byte) */
    SERVE_ECHO_CUT, /* 404 whose message echoes the token where it is cut (300) */
};

struct server {
    struct MHD_Daemon *daemon;
    int port;
    enum script script;
    pthread_mutex_t lock;
    int requests;
    char last_auth[256];
    char last_accept[256];
    char last_agent[256];
    char last_query[256];
};

static uint16_t voxel(int64_t x, int64_t y, int64_t z)
{
    return (uint16_t)(x * 7 + y * 131 + z * 1009);
}

static struct MHD_Response *data_response(const mtp_box *box, size_t pad, bool bytes)
{
    uint64_t nvox = mtp_box_voxels(box);
    size_t nbytes = (size_t)nvox * 2;
    uint16_t *raw = malloc(nbytes);
    size_t k = 0;
    for (int64_t z = box->z0; z < box->z1; z++)
        for (int64_t y = box->y0; y < box->y1; y++)
            for (int64_t x = box->x0; x < box->x1; x++)
                raw[k++] = bytes ? voxel(x, y, z) % 256 : voxel(x, y, z);
    char *body = malloc(nbytes + BLOSC_MAX_OVERHEAD + pad);
    int clen = blosc_compress_ctx(9, 1, 2, nbytes, raw, body, nbytes + BLOSC_MAX_OVERHEAD,
                                  "blosclz", 0, 1);
    free(raw);
    size_t len = (size_t)clen;
    if (pad > 0) {
        /* A stored chunk padded past the cap: the client must refuse it unread. */
        len = nbytes + BLOSC_MAX_OVERHEAD + pad;
        memset(body, 0, len);
    }
    return MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
}

static struct MHD_Response *json_response(const char *json)
{
    return MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_PERSISTENT);
}

static int parse_box(const char *url, mtp_box *box)
{
    const char *p = strstr(url, "/v1/cutout/");
    int slashes = 0;
    for (; p != NULL && *p != '\0' && slashes < 7; p++)
        slashes += *p == '/';
    if (p == NULL)
        return -1;
    long long v[6];
    if (sscanf(p, "%lld:%lld/%lld:%lld/%lld:%lld", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
        return -1;
    *box = (mtp_box){v[0], v[1], v[2], v[3], v[4], v[5]};
    return 0;
}

static enum MHD_Result on_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    struct server *s = cls;
    snprintf(s->last_query, sizeof s->last_query, "%s=%s", key, value ? value : "");
    return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    struct server *s = cls;
    pthread_mutex_lock(&s->lock);
    int n = s->requests++;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    snprintf(s->last_auth, sizeof s->last_auth, "%s", h ? h : "");
    h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept");
    snprintf(s->last_accept, sizeof s->last_accept, "%s", h ? h : "");
    h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent");
    snprintf(s->last_agent, sizeof s->last_agent, "%s", h ? h : "");
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, on_query_arg, s);
    pthread_mutex_unlock(&s->lock);

    mtp_box box;
    struct MHD_Response *resp = NULL;
    unsigned status = 200;
    if (parse_box(url, &box) < 0) {
        status = 404;
        resp = json_response("{\"status\": 404, \"code\": 4000, \"message\": \"no route\"}");
    } else if (s->script == SERVE_503 || (s->script == SERVE_FLAKY && n % 2 == 1)) {
        status = s->script == SERVE_503 ? 503 : 500;
        resp = json_response("{\"status\": 503, \"code\": 5000, \"message\": \"Busy\"}");
    } else if (s->script == SERVE_ECHO_CUT) {
        static char body[700];
        snprintf(body, sizeof body,
                 "{\"status\": 404, \"code\": 4000, \"message\": \"%0297d"
                 "s3cret\"}",
                 0);
        status = 404;
        resp = json_response(body);
    } else if (s->script == SERVE_404) {
        status = 404;
        resp = json_response(
            "{\"status\": 404, \"code\": 4000, \"message\": \"Channel nope not found\"}");
    } else if (s->script == SERVE_413_BIG && mtp_box_voxels(&box) > 1000) {
        status = 413;
        resp = json_response("{\"status\": 413, \"code\": 2000, \"message\": \"Cutout request "
                             "is over 500MB when uncompressed. Reduce cutout dimensions.\"}");
    } else {
        resp = data_response(&box, s->script == SERVE_OVERSIZE ? 100 : 0, s->script == SERVE_BYTES);
    }
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static void server_start(struct server *s, enum script script)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    s->script = script;
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                                 NULL, NULL, handle, s, MHD_OPTION_END);
    ck_assert_ptr_nonnull(s->daemon);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    ck_assert_ptr_nonnull(info);
    s->port = info->port;
}

static void server_stop(struct server *s)
{
    MHD_stop_daemon(s->daemon);
    pthread_mutex_destroy(&s->lock);
}

struct collect {
    int narrow; /* handler.narrow */
    int ndone;
    int narrowed; /* deliveries of one byte per voxel */
    int bad_voxels;
    size_t bytes;
    int notes;
    char last_note[1024];
    const mtp_cutout *cutouts;
};

static int collect_done(void *userdata, size_t index, const void *data, size_t nbytes,
                        mtp_error *err)
{
    struct collect *c = userdata;
    const mtp_box *b = &c->cutouts[index].box;
    const uint16_t *v = data;
    const uint8_t *v8 = data;
    bool bytes = nbytes == mtp_box_voxels(b);
    c->narrowed += bytes;
    size_t k = 0;
    for (int64_t z = b->z0; z < b->z1; z++)
        for (int64_t y = b->y0; y < b->y1; y++)
            for (int64_t x = b->x0; x < b->x1; x++, k++) {
                uint16_t want = c->narrow == 2 ? voxel(x, y, z) % 256 : voxel(x, y, z);
                c->bad_voxels += (bytes ? v8[k] : v[k]) != want;
            }
    c->ndone++;
    c->bytes += nbytes;
    return 0;
}

static void collect_note(void *userdata, const char *line)
{
    struct collect *c = userdata;
    c->notes++;
    snprintf(c->last_note, sizeof c->last_note, "%s", line);
}

static const mtp_channel test_channel = {"image", "bossdb://coll/exp/chan", "coll", "exp", "chan"};

static mtp_boss *client(const struct server *s, int jobs, int retries)
{
    static char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", s->port);
    mtp_boss_options opt = MTP_BOSS_OPTIONS_INIT;
    opt.url = url;
    opt.token = "s3cret";
    opt.jobs = jobs;
    opt.retries = retries;
    opt.timeout_s = 10;
    opt.backoff_ms = 1;
    opt.backoff_max_ms = 4;
    mtp_boss *boss = NULL;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_boss_new(&boss, &opt, &err), 0);
    return boss;
}

static int run_cutouts(mtp_boss *boss, mtp_cutout *cutouts, size_t n, struct collect *c,
                       mtp_error *err)
{
    int narrow = c->narrow;
    memset(c, 0, sizeof *c);
    c->narrow = narrow;
    c->cutouts = cutouts;
    /* narrow 2: the server sends byte-sized values, and they are asked for as bytes */
    mtp_cutout_handler h = {collect_done, collect_note, NULL, c, narrow != 0};
    return mtp_boss_cutouts(boss, cutouts, n, &h, err);
}

START_TEST(cutouts_arrive_intact_with_headers)
{
    struct server s;
    server_start(&s, SERVE_DATA);
    mtp_boss *boss = client(&s, 3, 2);
    mtp_cutout cutouts[7];
    for (int i = 0; i < 7; i++)
        cutouts[i] = (mtp_cutout){
            &test_channel, 0, MTP_DTYPE_UINT16, {i * 40, i * 40 + 33, 5, 29, 110 + i, 118 + i}};
    struct collect c = {0};
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(run_cutouts(boss, cutouts, 7, &c, &err), 0);
    ck_assert_int_eq(c.ndone, 7);
    ck_assert_int_eq(c.bad_voxels, 0);
    ck_assert_uint_eq(c.bytes, 7 * 33 * 24 * 8 * 2);
    ck_assert_int_eq(c.notes, 0);
    ck_assert_int_eq(s.requests, 7);
    ck_assert_str_eq(s.last_auth, "Token s3cret");
    ck_assert_str_eq(s.last_accept, "application/blosc");
    ck_assert_str_eq(s.last_agent, "mtneuro-pack/" MTP_VERSION);
    ck_assert_str_eq(s.last_query, "access-mode=no-cache");
    mtp_boss_stats st;
    mtp_boss_get_stats(boss, &st);
    ck_assert_uint_eq(st.requests, 7);
    ck_assert_uint_eq(st.retries, 0);
    ck_assert_uint_eq(st.bytes_decoded, 7 * 33 * 24 * 8 * 2);
    mtp_boss_free(boss);
    server_stop(&s);
}
END_TEST

/* With handler.narrow, a uint16 cutout whose values all fit arrives as bytes; one with a
 * larger value, and one split by a 413 (assembled from parts), arrive wide. */
START_TEST(narrow_cutouts_arrive_as_bytes_when_they_fit)
{
    struct server s;
    server_start(&s, SERVE_BYTES);
    mtp_boss *boss = client(&s, 2, 0);
    mtp_cutout cut = {&test_channel, 0, MTP_DTYPE_UINT16, {3, 40, 5, 29, 110, 118}};
    struct collect c = {.narrow = 2};
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(run_cutouts(boss, &cut, 1, &c, &err), 0);
    ck_assert_int_eq(c.ndone, 1);
    ck_assert_int_eq(c.narrowed, 1);
    ck_assert_int_eq(c.bad_voxels, 0);
    ck_assert_uint_eq(c.bytes, 37 * 24 * 8);
    mtp_boss_stats st;
    mtp_boss_get_stats(boss, &st);
    ck_assert_uint_eq(st.bytes_decoded, 37 * 24 * 8 * 2); /* counted at the dtype's width */
    mtp_boss_free(boss);
    server_stop(&s);

    server_start(&s, SERVE_DATA); /* values up to ~30000 */
    boss = client(&s, 2, 0);
    c = (struct collect){.narrow = 1};
    ck_assert_int_eq(run_cutouts(boss, &cut, 1, &c, &err), 0);
    ck_assert_int_eq(c.narrowed, 0);
    ck_assert_int_eq(c.bad_voxels, 0);
    ck_assert_uint_eq(c.bytes, 37 * 24 * 8 * 2);
    mtp_boss_free(boss);
    server_stop(&s);

    server_start(&s, SERVE_413_BIG);
    boss = client(&s, 2, 0);
    mtp_cutout big = {&test_channel, 0, MTP_DTYPE_UINT16, {0, 20, 0, 10, 0, 16}};
    c = (struct collect){.narrow = 1};
    ck_assert_int_eq(run_cutouts(boss, &big, 1, &c, &err), 0);
    ck_assert_int_eq(c.ndone, 1);
    ck_assert_int_eq(c.narrowed, 0);
    ck_assert_int_eq(c.bad_voxels, 0);
    mtp_boss_free(boss);
    server_stop(&s);
}
END_TEST

START_TEST(too_big_blocks_are_split_and_assembled)
{
    struct server s;
    server_start(&s, SERVE_413_BIG);
    mtp_boss *boss = client(&s, 2, 0);
    /* 20 x 10 x 16 = 3200 voxels refused: every part is cut to half of it (x 20 -> 10 + 10,
     * 1600 voxels each); the first half goes alone (a probe) and is refused too, so all are
     * cut to 800 (z 16 -> 8 + 8) and the second half never goes out whole. 2 splits (one
     * per 413), 6 requests, 4 data bodies. */
    mtp_cutout cut = {&test_channel, 0, MTP_DTYPE_UINT16, {0, 20, 0, 10, 0, 16}};
    struct collect c = {0};
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(run_cutouts(boss, &cut, 1, &c, &err), 0);
    ck_assert_int_eq(c.ndone, 1);
    ck_assert_int_eq(c.bad_voxels, 0);
    mtp_boss_stats st;
    mtp_boss_get_stats(boss, &st);
    ck_assert_uint_eq(st.splits, 2);
    ck_assert_uint_eq(st.requests, 6);
    ck_assert_int_eq(c.notes, 2);
    mtp_boss_free(boss);
    server_stop(&s);
}
END_TEST

START_TEST(retries_then_gives_up_naming_the_block)
{
    struct server s;
    server_start(&s, SERVE_503);
    mtp_boss *boss = client(&s, 2, 3);
    mtp_cutout cut = {&test_channel, 0, MTP_DTYPE_UINT16, {0, 8, 0, 8, 0, 8}};
    struct collect c = {0};
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(run_cutouts(boss, &cut, 1, &c, &err), MTP_ENET);
    ck_assert_str_eq(err.msg, "exp/chan x[0,8) y[0,8) z[0,8): giving up after 3 retries: "
                              "503 (code 5000): Busy");
    ck_assert_int_eq(s.requests, 4);
    ck_assert_int_eq(c.notes, 3);
    ck_assert_str_eq(c.last_note, "retry 3/3 exp/chan x[0,8) y[0,8) z[0,8): 503 (code 5000): Busy");
    ck_assert_int_eq(c.ndone, 0);
    mtp_boss_free(boss);
    server_stop(&s);
}
END_TEST

START_TEST(flaky_server_is_retried_to_completion)
{
    struct server s;
    server_start(&s, SERVE_FLAKY);
    mtp_boss *boss = client(&s, 1, 3);
    mtp_cutout cutouts[4];
    for (int i = 0; i < 4; i++)
        cutouts[i] = (mtp_cutout){&test_channel, 0, MTP_DTYPE_UINT16, {0, 16, 0, 16, i, i + 1}};
    struct collect c = {0};
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(run_cutouts(boss, cutouts, 4, &c, &err), 0);
    ck_assert_int_eq(c.ndone, 4);
    ck_assert_int_eq(c.bad_voxels, 0);
    /* One transfer at a time: data, 500, data, 500, ... so blocks 2..4 need one retry. */
    ck_assert_int_eq(s.requests, 7);
    ck_assert_int_eq(c.notes, 3);
    mtp_boss_free(boss);
    server_stop(&s);
}
END_TEST

START_TEST(not_found_is_fatal_with_the_server_message)
{
    struct server s;
    server_start(&s, SERVE_404);
    mtp_boss *boss = client(&s, 2, 5);
    mtp_cutout cut = {&test_channel, 0, MTP_DTYPE_UINT16, {0, 8, 0, 8, 0, 8}};
    struct collect c = {0};
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(run_cutouts(boss, &cut, 1, &c, &err), MTP_ESERVER);
    char want[512];
    snprintf(want, sizeof want,
             "exp/chan x[0,8) y[0,8) z[0,8): GET http://127.0.0.1:%d/v1/cutout/coll/exp/chan/0/"
             "0:8/0:8/0:8/?access-mode=no-cache: 404 (code 4000): Channel nope not found",
             s.port);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(s.requests, 1);
    ck_assert_ptr_null(strstr(err.msg, "s3cret"));
    mtp_boss_free(boss);
    server_stop(&s);

    /* The server's message is cut to 300 bytes inside the echoed token: it
     * was masked before the cut, so not even its start ("s3c") survives. */
    server_start(&s, SERVE_ECHO_CUT);
    boss = client(&s, 2, 5);
    ck_assert_int_eq(run_cutouts(boss, &cut, 1, &c, &err), MTP_ESERVER);
    ck_assert_ptr_null(strstr(err.msg, "s3c"));
    ck_assert_msg(strstr(err.msg, "0000***") != NULL, "%s", err.msg);
    mtp_boss_free(boss);
    server_stop(&s);
}
END_TEST

START_TEST(oversize_body_is_corrupt)
{
    struct server s;
    server_start(&s, SERVE_OVERSIZE);
    mtp_boss *boss = client(&s, 1, 1);
    mtp_cutout cut = {&test_channel, 0, MTP_DTYPE_UINT16, {0, 64, 0, 64, 0, 4}};
    struct collect c = {0};
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(run_cutouts(boss, &cut, 1, &c, &err), MTP_ENET);
    ck_assert_str_eq(err.msg, "exp/chan x[0,64) y[0,64) z[0,4): giving up after 1 retries: "
                              "corrupt body: longer than the 32784 bytes asked for");
    mtp_boss_stats st;
    mtp_boss_get_stats(boss, &st);
    ck_assert_uint_eq(st.bytes_body, 0);
    mtp_boss_free(boss);
    server_stop(&s);
}
END_TEST

static const char *meta_channel_json;

static enum MHD_Result handle_meta(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload,
                                   size_t *upload_size, void **con_cls)
{
    struct MHD_Response *resp;
    unsigned status = 200;
    if (strstr(url, "/channel/nope/") != NULL) {
        status = 404;
        resp = json_response(
            "{\"status\": 404, \"code\": 4000, \"message\": \"Channel nope not found\"}");
    } else if (strstr(url, "/channel/") != NULL) {
        resp = json_response(meta_channel_json);
    } else if (strstr(url, "/coord/") != NULL) {
        resp = json_response(coord_json);
    } else {
        resp = json_response(experiment_json);
    }
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

/* The first channel GET is a 200 cut after 20 bytes (the connection closes), later ones whole. */
static int cut_channel_gets;

static ssize_t cut_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    const char *json = cls;
    if (pos >= 20)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = 20 - (size_t)pos < max ? 20 - (size_t)pos : max;
    memcpy(buf, json + pos, n);
    return (ssize_t)n;
}

static enum MHD_Result handle_meta_cut(void *cls, struct MHD_Connection *conn, const char *url,
                                       const char *method, const char *version, const char *upload,
                                       size_t *upload_size, void **con_cls)
{
    if (strstr(url, "/channel/") != NULL &&
        __atomic_fetch_add(&cut_channel_gets, 1, __ATOMIC_SEQ_CST) == 0) {
        struct MHD_Response *resp = MHD_create_response_from_callback(
            strlen(channel_json), 64, cut_reader, (void *)channel_json, NULL);
        enum MHD_Result r = MHD_queue_response(conn, 200, resp);
        MHD_destroy_response(resp);
        return r;
    }
    return handle_meta(cls, conn, url, method, version, upload, upload_size, con_cls);
}

START_TEST(prefetch_keeps_no_cut_answer)
{
    meta_channel_json = channel_json;
    cut_channel_gets = 0;
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                                            handle_meta_cut, NULL, MHD_OPTION_END);
    ck_assert_ptr_nonnull(d);
    int port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    struct server fake = {.port = port};
    mtp_boss *boss = client(&fake, 1, 0);
    mtp_channel ch = {"pixel_labels", "bossdb://prasad/prasad_analysis/pixel_labels", "prasad",
                      "prasad_analysis", "pixel_labels"};
    const mtp_channel *chs[1] = {&ch};
    mtp_boss_prefetch_meta(boss, chs, 1);
    ck_assert_int_eq(cut_channel_gets, 1);
    /* The cut answer was not remembered: the channel is asked for again, whole. */
    mtp_channel_meta m;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_boss_channel_meta(boss, &ch, &m, &err), 0);
    ck_assert_int_eq(cut_channel_gets, 2);
    ck_assert_int_eq(m.dtype, MTP_DTYPE_UINT64);
    ck_assert_int_eq(m.frame.x1, 5805);
    mtp_boss_free(boss);
    MHD_stop_daemon(d);
}
END_TEST

START_TEST(channel_metadata_over_http)
{
    meta_channel_json = channel_json;
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                                            handle_meta, NULL, MHD_OPTION_END);
    ck_assert_ptr_nonnull(d);
    int port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    struct server fake = {.port = port};
    mtp_boss *boss = client(&fake, 1, 0);
    mtp_channel_meta m;
    mtp_error err = MTP_ERROR_INIT;
    mtp_channel ch = {"pixel_labels", "bossdb://prasad/prasad_analysis/pixel_labels", "prasad",
                      "prasad_analysis", "pixel_labels"};
    ck_assert_int_eq(mtp_boss_channel_meta(boss, &ch, &m, &err), 0);
    ck_assert_int_eq(m.dtype, MTP_DTYPE_UINT64);
    ck_assert_int_eq(m.frame.x1, 5805);
    ck_assert_int_eq(m.num_hierarchy_levels, 8);
    mtp_channel nope = {"x", "bossdb://prasad/prasad_analysis/nope", "prasad", "prasad_analysis",
                        "nope"};
    ck_assert_int_eq(mtp_boss_channel_meta(boss, &nope, &m, &err), MTP_ESERVER);
    char want[256];
    snprintf(want, sizeof want,
             "GET http://127.0.0.1:%d/v1/collection/prasad/experiment/prasad_analysis/channel/"
             "nope/: 404 (code 4000): Channel nope not found",
             port);
    ck_assert_str_eq(err.msg, want);
    meta_channel_json = "{\"type\": \"image\"}";
    ck_assert_int_eq(mtp_boss_channel_meta(boss, &ch, &m, &err), MTP_ECORRUPT);
    snprintf(want, sizeof want,
             "GET http://127.0.0.1:%d/v1/collection/prasad/experiment/prasad_analysis/channel/"
             "pixel_labels/: channel: missing 'datatype'",
             port);
    ck_assert_str_eq(err.msg, want);
    mtp_boss_free(boss);
    MHD_stop_daemon(d);
}
END_TEST

Suite *mtp_test_suite(void)
{
    Suite *s = suite_create("boss");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, cutout_url_is_exact);
    tcase_add_test(tc, metadata_urls_are_exact);
    tcase_add_test(tc, url_builders_reject_bad_input);
    tcase_add_test(tc, block_description);
    tcase_add_test(tc, parse_full_metadata);
    tcase_add_test(tc, parse_tolerates_missing_optional_keys);
    tcase_add_test(tc, parse_rejects_bad_metadata);
    tcase_add_test(tc, error_descriptions);
    tcase_add_test(tc, classify_statuses);
    tcase_add_test(tc, backoff_bounds_and_jitter);
    tcase_add_test(tc, split_prefers_cuboid_boundaries);
    tcase_add_test(tc, options_are_checked);
    suite_add_tcase(s, tc);
    TCase *http = tcase_create("http");
    tcase_set_timeout(http, 30);
    tcase_add_test(http, cutouts_arrive_intact_with_headers);
    tcase_add_test(http, narrow_cutouts_arrive_as_bytes_when_they_fit);
    tcase_add_test(http, too_big_blocks_are_split_and_assembled);
    tcase_add_test(http, retries_then_gives_up_naming_the_block);
    tcase_add_test(http, flaky_server_is_retried_to_completion);
    tcase_add_test(http, not_found_is_fatal_with_the_server_message);
    tcase_add_test(http, oversize_body_is_corrupt);
    tcase_add_test(http, channel_metadata_over_http);
    tcase_add_test(http, prefetch_keeps_no_cut_answer);
    suite_add_tcase(s, http);
    return s;
}
