/* The fetch module's channel metadata in the cache (what build --offline reads). */
#include "mtp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "mtp/cache.h"
#include "mtp/fetch.h"
#include "mtp/plan.h"

static mtp_channel_meta sample_meta(void)
{
    mtp_channel_meta m;
    memset(&m, 0, sizeof m);
    snprintf(m.type, sizeof m.type, "image");
    snprintf(m.datatype, sizeof m.datatype, "uint8");
    m.dtype = MTP_DTYPE_UINT8;
    m.base_resolution = 0;
    m.num_hierarchy_levels = 8;
    m.isotropic = 1;
    snprintf(m.coord_frame, sizeof m.coord_frame, "prasad frame%%\n");
    m.frame = (mtp_box){0, 5805, 0, 1420, 0, 720};
    m.voxel_size[0] = m.voxel_size[1] = m.voxel_size[2] = 1.17;
    snprintf(m.voxel_unit, sizeof m.voxel_unit, "micrometers");
    return m;
}

START_TEST(meta_text_round_trip)
{
    mtp_channel_meta m = sample_meta(), back;
    char text[4096];
    int len = mtp_fetch_meta_encode(&m, text, sizeof text);
    ck_assert_int_gt(len, 0);
    ck_assert_str_eq(text, "mtneuro-pack channel-meta 1\n"
                           "type image\n"
                           "datatype uint8\n"
                           "base_resolution 0\n"
                           "num_hierarchy_levels 8\n"
                           "isotropic 1\n"
                           "coord_frame prasad%20frame%25%0A\n"
                           "frame 0 5805 0 1420 0 720\n"
                           "voxel_size 1.1699999999999999 1.1699999999999999 "
                           "1.1699999999999999\n"
                           "voxel_unit micrometers\n");
    ck_assert_int_eq((int)strlen(text), len);
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_fetch_meta_decode(text, &back, &err), 0);
    ck_assert_mem_eq(&back, &m, sizeof m);
    /* Too small a buffer is an error, not a cut. */
    ck_assert_int_eq(mtp_fetch_meta_encode(&m, text, 100), MTP_ERANGE);
}
END_TEST

START_TEST(meta_text_refused)
{
    mtp_channel_meta m = sample_meta(), back;
    char text[4096], bad[4096];
    mtp_fetch_meta_encode(&m, text, sizeof text);
    mtp_error err = MTP_ERROR_INIT;
    struct {
        const char *from, *to, *msg;
    } cases[] = {
        {"channel-meta 1", "channel-meta 2", "line 1: not 'mtneuro-pack channel-meta 1'"},
        {"levels 8", "levels 33", "line 5: invalid num_hierarchy_levels"},
        {"isotropic 1", "isotropic yes", "line 6: invalid isotropic"},
        {"%0A", "%0", "line 7: invalid coord_frame"},
        {"%0A", "%00", "line 7: invalid coord_frame"},
        {"0 720", "720 720", "line 8: invalid frame"},
        {"0 720", "0 720 9", "line 8: invalid frame"},
        {"voxel_size 1.1699999999999999", "voxel_size -1", "line 9: invalid voxel_size"},
        {"datatype uint8\n", "", "line 3: expected 'datatype VALUE'"},
        {"micrometers\n", "micrometers\nmore\n", "line 11: unexpected text after voxel_unit"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *at = strstr(text, cases[k].from);
        ck_assert_ptr_nonnull(at);
        snprintf(bad, sizeof bad, "%.*s%s%s", (int)(at - text), text, cases[k].to,
                 at + strlen(cases[k].from));
        ck_assert_int_eq(mtp_fetch_meta_decode(bad, &back, &err), MTP_ECORRUPT);
        ck_assert_str_eq(err.msg, cases[k].msg);
    }
}
END_TEST

START_TEST(meta_saved_and_loaded_through_the_cache)
{
    char dir[512];
    fixture_make_tmpdir(dir, sizeof dir, "fetchmeta");
    mtp_cache *cache = NULL;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_cache_open(&cache, dir, &err), 0);

    mtp_config *cfg = calloc(1, sizeof *cfg);
    ck_assert_ptr_nonnull(cfg);
    snprintf(cfg->source.url, sizeof cfg->source.url, "http://127.0.0.1:1");
    cfg->nchannels = 2;
    const char *names[2] = {"image", "labels"};
    for (int c = 0; c < 2; c++) {
        snprintf(cfg->channels[c].name, sizeof cfg->channels[c].name, "%s", names[c]);
        snprintf(cfg->channels[c].uri, sizeof cfg->channels[c].uri, "bossdb://coll/exp/%s",
                 names[c]);
        snprintf(cfg->channels[c].collection, sizeof cfg->channels[c].collection, "coll");
        snprintf(cfg->channels[c].experiment, sizeof cfg->channels[c].experiment, "exp");
        snprintf(cfg->channels[c].channel, sizeof cfg->channels[c].channel, "%s", names[c]);
    }
    cfg->nregions = 1;
    cfg->regions[0].x = (mtp_range){0, 100};
    cfg->regions[0].y = (mtp_range){0, 100};
    cfg->z = (mtp_range){0, 10};
    mtp_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.used[0] = true;
    plan.used[1] = true;

    mtp_channel_meta meta[MTP_MAX_CHANNELS], back[MTP_MAX_CHANNELS];
    memset(meta, 0, sizeof meta);
    meta[0] = sample_meta();
    meta[1] = sample_meta();
    snprintf(meta[1].datatype, sizeof meta[1].datatype, "uint64");
    meta[1].dtype = MTP_DTYPE_UINT64;

    /* Nothing saved yet: the message names the channel and the file. */
    ck_assert_int_eq(mtp_fetch_load_metadata(cache, cfg, &plan, back, &err), MTP_ENOTFOUND);
    char want[1024];
    snprintf(want, sizeof want,
             "channel image (bossdb://coll/exp/image): metadata missing from the cache (cache: "
             "%s/v1/",
             dir);
    ck_assert_int_eq(strncmp(err.msg, want, strlen(want)), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "/coll/exp/image/channel-meta.txt: No such file or "
                                          "directory): run fetch first"));

    ck_assert_int_eq(mtp_fetch_save_metadata(cache, cfg, &plan, meta, &err), 0);
    /* Saving again (another shard) is fine. */
    ck_assert_int_eq(mtp_fetch_save_metadata(cache, cfg, &plan, meta, &err), 0);
    ck_assert_int_eq(mtp_fetch_load_metadata(cache, cfg, &plan, back, &err), 0);
    ck_assert_mem_eq(&back[0], &meta[0], sizeof meta[0]);
    ck_assert_mem_eq(&back[1], &meta[1], sizeof meta[1]);

    /* The checks of the online fetch apply: a region outside the frame. */
    cfg->regions[0].x = (mtp_range){0, 6000};
    ck_assert_int_eq(mtp_fetch_load_metadata(cache, cfg, &plan, back, &err), MTP_EDATA);
    ck_assert_str_eq(err.msg, "region  x [0, 6000) lies outside the frame x [0, 5805) of "
                              "coll/exp");

    mtp_cache_free(cache);
    free(cfg);
    fixture_remove_tree(dir);
}
END_TEST

Suite *mtp_test_suite(void)
{
    Suite *s = suite_create("fetch");
    TCase *tc = tcase_create("metadata");
    tcase_add_test(tc, meta_text_round_trip);
    tcase_add_test(tc, meta_text_refused);
    tcase_add_test(tc, meta_saved_and_loaded_through_the_cache);
    suite_add_tcase(s, tc);
    return s;
}
