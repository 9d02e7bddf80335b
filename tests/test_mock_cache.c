/* test_mock_cache.c — bossdb-mock's cutout-body cache: its entry count follows cache_bytes. */
#include "mtp_test.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "server.h"

static size_t count_bytes(char *data, size_t size, size_t n, void *userdata)
{
    (void)data;
    *(size_t *)userdata += size * n;
    return size * n;
}

/* GET `count` distinct one-slice image cutouts; returns the body bytes received. */
static size_t get_cutouts(unsigned port, int count)
{
    CURL *curl = curl_easy_init();
    ck_assert_ptr_nonnull(curl);
    size_t total = 0;
    for (int z = 0; z < count; z++) {
        char url[256];
        snprintf(url, sizeof url,
                 "http://127.0.0.1:%u/v1/cutout/prasad/prasad2020/image/0/100:164/200:264/"
                 "%d:%d/?access-mode=no-cache",
                 port, 100 + z, 101 + z);
        size_t body = 0;
        long status = 0;
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, count_bytes);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
        ck_assert_int_eq(curl_easy_perform(curl), CURLE_OK);
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        ck_assert_int_eq(status, 200);
        ck_assert_uint_gt(body, 16);
        total += body;
    }
    curl_easy_cleanup(curl);
    return total;
}

/* Start a mock with `cache_bytes`, fetch 40 bodies, return what its cache holds. */
static void run(size_t cache_bytes, size_t *entries, size_t *bytes, size_t *slots, size_t *received)
{
    mtp_mock_options opt = MTP_MOCK_OPTIONS_INIT;
    opt.cache_bytes = cache_bytes;
    mtp_mock *mock = NULL;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_mock_start(&mock, &opt, &err), 0);
    mtp_mock_cache_usage(mock, entries, bytes, slots);
    ck_assert_uint_eq(*entries, 0);
    ck_assert_uint_eq(*bytes, 0);
    *received = get_cutouts(mtp_mock_port(mock), 40);
    mtp_mock_cache_usage(mock, entries, bytes, slots);
    mtp_mock_free(mock);
}

START_TEST(default_holds_1024_bodies)
{
    size_t entries = 0, bytes = 0, slots = 0, received = 0;
    mtp_mock_options def = MTP_MOCK_OPTIONS_INIT;
    ck_assert_uint_eq(def.cache_bytes, 256u << 20);
    run(def.cache_bytes, &entries, &bytes, &slots, &received);
    ck_assert_uint_eq(slots, 1024);
    ck_assert_uint_eq(entries, 40); /* more than the old fixed 32 entries */
    ck_assert_uint_eq(bytes, received);
}
END_TEST

START_TEST(entries_follow_megabytes)
{
    size_t entries = 0, bytes = 0, slots = 0, received = 0;
    run((size_t)8192 << 20, &entries, &bytes, &slots, &received);
    ck_assert_uint_eq(slots, 32768);
    ck_assert_uint_eq(entries, 40);
    ck_assert_uint_eq(bytes, received);
}
END_TEST

START_TEST(small_cache_keeps_32_entries)
{
    size_t entries = 0, bytes = 0, slots = 0, received = 0;
    run((size_t)1 << 20, &entries, &bytes, &slots, &received);
    ck_assert_uint_eq(slots, 32);
    ck_assert_uint_eq(entries, 32); /* the 8 least recently used were evicted */
    ck_assert_uint_lt(bytes, received);
}
END_TEST

START_TEST(zero_caches_nothing)
{
    size_t entries = 0, bytes = 0, slots = 0, received = 0;
    run(0, &entries, &bytes, &slots, &received);
    ck_assert_uint_eq(slots, 32);
    ck_assert_uint_eq(entries, 0);
    ck_assert_uint_eq(bytes, 0);
    ck_assert_uint_gt(received, 0);
}
END_TEST

Suite *mtp_test_suite(void)
{
    Suite *s = suite_create("mock_cache");
    TCase *tc = tcase_create("cache");
    tcase_add_test(tc, default_holds_1024_bodies);
    tcase_add_test(tc, entries_follow_megabytes);
    tcase_add_test(tc, small_cache_keeps_32_entries);
    tcase_add_test(tc, zero_caches_nothing);
    suite_add_tcase(s, tc);
    return s;
}
