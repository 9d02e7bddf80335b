/* test_synth.c — the synthetic volume of bossdb-mock and its cutout body maker. */
#include "mtp_test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mtp/codec.h"
#include "faults.h"
#include "synth.h"

static const mtp_synth_channel CHANNELS[3] = {MTP_SYNTH_IMAGE, MTP_SYNTH_PIXEL_LABELS,
                                              MTP_SYNTH_ROI_LABELS};

/* A freshly filled box; the caller frees it. */
static void *fill(uint64_t seed, mtp_synth_channel ch, mtp_box box, size_t *len)
{
    mtp_error err = MTP_ERROR_INIT;
    size_t n = 0;
    ck_assert_int_eq(mtp_synth_box_bytes(ch, &box, &n, &err), 0);
    void *buf = malloc(n);
    ck_assert_ptr_nonnull(buf);
    memset(buf, 0xAB, n);
    ck_assert_int_eq(mtp_synth_fill(seed, ch, &box, buf, n, &err), 0);
    if (len != NULL)
        *len = n;
    return buf;
}

static uint64_t voxel64(const void *buf, size_t i)
{
    const uint8_t *p = buf;
    uint64_t v = 0;
    for (int k = 7; k >= 0; k--)
        v = (v << 8) | p[8 * i + (size_t)k];
    return v;
}

START_TEST(same_box_twice_is_identical)
{
    mtp_box box = {3000, 3100, 800, 870, 100, 140};
    for (int c = 0; c < 3; c++) {
        size_t n = 0;
        void *a = fill(7, CHANNELS[c], box, &n);
        void *b = fill(7, CHANNELS[c], box, NULL);
        ck_assert_int_eq(memcmp(a, b, n), 0);
        void *other = fill(8, CHANNELS[c], box, NULL);
        ck_assert_int_ne(memcmp(a, other, n), 0); /* the seed matters */
        free(a);
        free(b);
        free(other);
    }
}
END_TEST

START_TEST(box_equals_eight_sub_boxes)
{
    /* Uneven split points, a box crossing tissue start (z 15) and grid lines. */
    const mtp_box box = {4590, 4700, 1130, 1190, 5, 61};
    const int64_t xs[3] = {4590, 4633, 4700}, ys[3] = {1130, 1131, 1190}, zs[3] = {5, 29, 61};
    const int64_t nx = 110, ny = 60;
    for (int c = 0; c < 3; c++) {
        size_t vsize = (size_t)mtp_synth_bits(CHANNELS[c]) / 8;
        size_t n = 0;
        uint8_t *whole = fill(3, CHANNELS[c], box, &n);
        uint8_t *assembled = calloc(n, 1);
        for (int i = 0; i < 8; i++) {
            mtp_box sub = {xs[i & 1],  xs[(i & 1) + 1], ys[(i >> 1) & 1], ys[((i >> 1) & 1) + 1],
                           zs[i >> 2], zs[(i >> 2) + 1]};
            uint8_t *part = fill(3, CHANNELS[c], sub, NULL);
            int64_t sx = sub.x1 - sub.x0;
            size_t at = 0;
            for (int64_t z = sub.z0; z < sub.z1; z++)
                for (int64_t y = sub.y0; y < sub.y1; y++) {
                    size_t dst =
                        (size_t)(((z - box.z0) * ny + (y - box.y0)) * nx + (sub.x0 - box.x0));
                    memcpy(assembled + dst * vsize, part + at * vsize, (size_t)sx * vsize);
                    at += (size_t)sx;
                }
            free(part);
        }
        ck_assert_int_eq(memcmp(whole, assembled, n), 0);
        free(whole);
        free(assembled);
    }
}
END_TEST

START_TEST(label_codes_in_range)
{
    mtp_box box = {1500, 1756, 600, 856, 100, 132};
    size_t n = 0;
    void *pix = fill(1, MTP_SYNTH_PIXEL_LABELS, box, &n);
    size_t count[4] = {0}, bad = 0;
    for (size_t i = 0; i < n / 8; i++) {
        uint64_t v = voxel64(pix, i);
        if (v > 3)
            bad++;
        else
            count[v]++;
    }
    ck_assert_uint_eq(bad, 0);
    /* Every class occurs; background dominates, as in tissue. */
    for (int k = 0; k < 4; k++)
        ck_assert_uint_gt(count[k], 0);
    ck_assert_uint_gt(count[0], n / 8 / 2);
    free(pix);

    mtp_box wide = {0, 5805, 0, 1420, 300, 301};
    void *roi = fill(1, MTP_SYNTH_ROI_LABELS, wide, &n);
    size_t seen[9] = {0};
    bad = 0;
    for (size_t i = 0; i < n / 8; i++) {
        uint64_t v = voxel64(roi, i);
        if (v > 8)
            bad++;
        else
            seen[v]++;
    }
    ck_assert_uint_eq(bad, 0);
    for (int k = 0; k < 9; k++)
        ck_assert_uint_gt(seen[k], 0); /* all nine codes somewhere in the frame */
    free(roi);
}
END_TEST

START_TEST(roi_empty_from_z_460)
{
    mtp_box box = {3000, 3064, 800, 864, 455, 466};
    size_t n = 0;
    void *roi = fill(5, MTP_SYNTH_ROI_LABELS, box, &n);
    size_t slice = 64 * 64;
    for (int64_t z = 455; z < 466; z++) {
        size_t nonzero = 0;
        for (size_t i = 0; i < slice; i++)
            nonzero += voxel64(roi, (size_t)(z - 455) * slice + i) != 0;
        if (z < 460)
            ck_assert_uint_eq(nonzero, slice);
        else
            ck_assert_uint_eq(nonzero, 0);
    }
    free(roi);
}
END_TEST

/* Share of each code in a region tile; the tile's mode must be `want`. */
static void check_region(uint64_t seed, int64_t x0, int64_t y0, int64_t z, int want, int minority_a,
                         int minority_b)
{
    mtp_box box = {x0, x0 + 256, y0, y0 + 256, z, z + 1};
    size_t n = 0;
    void *roi = fill(seed, MTP_SYNTH_ROI_LABELS, box, &n);
    size_t count[9] = {0};
    for (size_t i = 0; i < n / 8; i++)
        count[voxel64(roi, i)]++;
    free(roi);
    size_t total = 256 * 256;
    for (int k = 0; k < 9; k++) {
        if (k == want)
            ck_assert_uint_gt(count[k], total / 2);
        else if (k == minority_a || k == minority_b)
            ck_assert_uint_lt(count[k], total / 4);
        else
            ck_assert_uint_eq(count[k], 0);
    }
    if (minority_a >= 0 && want == 4)
        ck_assert_uint_gt(count[minority_a], 0); /* vp always shows some TRN */
}

START_TEST(roi_region_modes)
{
    const uint64_t seeds[3] = {0, 1, 987654321};
    const int64_t zs[4] = {110, 250, 379, 459};
    for (int s = 0; s < 3; s++)
        for (int k = 0; k < 4; k++) {
            check_region(seeds[s], 4600, 900, zs[k], 1, -1, -1); /* cortex */
            check_region(seeds[s], 3700, 500, zs[k], 2, -1, -1); /* striatum */
            check_region(seeds[s], 3063, 850, zs[k], 4, 3, -1);  /* vp, some TRN */
            check_region(seeds[s], 1543, 650, zs[k], 5, 6, 7);   /* zi, some IC, hypo */
        }
}
END_TEST

START_TEST(image_matches_labels)
{
    mtp_box box = {2000, 2128, 300, 428, 100, 164};
    size_t n = 0;
    uint8_t *img = fill(11, MTP_SYNTH_IMAGE, box, &n);
    void *pix = fill(11, MTP_SYNTH_PIXEL_LABELS, box, NULL);
    static const int base[4] = {130, 40, 200, 90};
    double sum[4] = {0};
    size_t count[4] = {0}, off = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t c = voxel64(pix, i) & 3;
        int diff = (int)img[i] - base[c];
        /* Each voxel is its class's level plus noise in [-20, 20]. */
        off += diff > 20 || diff < -20;
        sum[c] += img[i];
        count[c]++;
    }
    ck_assert_uint_eq(off, 0);
    for (int k = 0; k < 4; k++)
        ck_assert_uint_gt(count[k], 100);
    double vessel = sum[1] / (double)count[1], cell = sum[2] / (double)count[2];
    double axon = sum[3] / (double)count[3], background = sum[0] / (double)count[0];
    ck_assert_double_lt(vessel, axon);
    ck_assert_double_lt(axon, background);
    ck_assert_double_lt(background, cell);
    ck_assert_double_lt(background, 132.0); /* the noise is centred */
    ck_assert_double_gt(background, 128.0);
    free(img);
    free(pix);
}
END_TEST

START_TEST(no_structures_outside_tissue)
{
    mtp_box box = {100, 228, 100, 228, 0, 15};
    size_t n = 0;
    void *pix = fill(2, MTP_SYNTH_PIXEL_LABELS, box, &n);
    size_t labelled = 0;
    for (size_t i = 0; i < n / 8; i++)
        labelled += voxel64(pix, i) != 0;
    ck_assert_uint_eq(labelled, 0);
    free(pix);
    uint8_t *img = fill(2, MTP_SYNTH_IMAGE, (mtp_box){100, 228, 100, 228, 690, 700}, &n);
    size_t bright = 0;
    for (size_t i = 0; i < n; i++)
        bright += img[i] > 15;
    ck_assert_uint_eq(bright, 0);
    free(img);
}
END_TEST

START_TEST(body_header_and_round_trip)
{
    mtp_box box = {3063, 3127, 850, 914, 110, 126};
    for (int c = 0; c < 3; c++) {
        size_t n = 0;
        void *raw = fill(9, CHANNELS[c], box, &n);
        void *body = NULL;
        size_t len = 0;
        mtp_error err = MTP_ERROR_INIT;
        ck_assert_int_eq(mtp_synth_body(9, CHANNELS[c], &box, &body, &len, &err), 0);
        const uint8_t *b = body;
        ck_assert_uint_eq(b[0], 2);
        ck_assert_uint_eq(b[3], CHANNELS[c] == MTP_SYNTH_IMAGE ? 8 : 64);
        mtp_blosc_header h;
        ck_assert_int_eq(mtp_codec_header(body, len, &h, &err), 0);
        ck_assert_uint_eq(h.nbytes, 64 * 64 * 16 * (CHANNELS[c] == MTP_SYNTH_IMAGE ? 1 : 8));
        ck_assert_uint_eq(h.cbytes, len);
        void *dec = malloc(n);
        ck_assert_int_eq(mtp_codec_decode(body, len, dec, n, &err), 0);
        ck_assert_int_eq(memcmp(dec, raw, n), 0);
        free(dec);
        free(body);
        free(raw);
    }
}
END_TEST

START_TEST(box_sizes_are_checked)
{
    mtp_error err = MTP_ERROR_INIT;
    size_t n = 1;
    mtp_box empty = {10, 10, 0, 5, 0, 5};
    ck_assert_int_eq(mtp_synth_box_bytes(MTP_SYNTH_IMAGE, &empty, &n, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "synth: box 10:10/0:5/0:5 is empty or too far");
    ck_assert_uint_eq(n, 0);
    mtp_box far = {0, INT64_C(1) << 50, 0, 5, 0, 5};
    ck_assert_int_eq(mtp_synth_box_bytes(MTP_SYNTH_IMAGE, &far, &n, &err), MTP_EINVAL);
    /* 2^40 on every axis: the product would overflow 64 bits, the check must not. */
    mtp_box huge = {0, INT64_C(1) << 40, 0, INT64_C(1) << 40, 0, INT64_C(1) << 40};
    ck_assert_int_eq(mtp_synth_box_bytes(MTP_SYNTH_PIXEL_LABELS, &huge, &n, &err), MTP_ERANGE);
    /* The whole frame of uint64 is over the blosc1 limit; 200 slices of uint8 are not. */
    mtp_box frame = {0, 5805, 0, 1420, 0, 720};
    mtp_box part = {0, 5805, 0, 1420, 0, 200};
    ck_assert_int_eq(mtp_synth_box_bytes(MTP_SYNTH_ROI_LABELS, &frame, &n, &err), MTP_ERANGE);
    ck_assert_str_eq(err.msg, "synth: box 0:5805/0:1420/0:720 is over the blosc1 chunk limit "
                              "2147483631 bytes");
    ck_assert_int_eq(mtp_synth_box_bytes(MTP_SYNTH_IMAGE, &part, &n, &err), 0);
    ck_assert_uint_eq(n, 5805ull * 1420 * 200);

    mtp_box small = {0, 4, 0, 4, 0, 4};
    uint8_t buf[64 * 8];
    ck_assert_int_eq(mtp_synth_fill(0, MTP_SYNTH_PIXEL_LABELS, &small, buf, 64, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "synth: buffer of 64 bytes, box needs 512");
    ck_assert_int_eq(mtp_synth_fill(0, MTP_SYNTH_PIXEL_LABELS, &small, buf, sizeof buf, &err), 0);
}
END_TEST

/* ---- faults: the mock's deterministic draws (tools/mock/faults.h) ---------------------- */

START_TEST(fault_kinds_parse)
{
    unsigned mask = 0;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_fault_parse_kinds("429,reset,slow", &mask, &err), 0);
    ck_assert_uint_eq(mask,
                      (1u << MTP_FAULT_429) | (1u << MTP_FAULT_RESET) | (1u << MTP_FAULT_SLOW));
    ck_assert_int_eq(mtp_fault_parse_kinds("500,bogus", &mask, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "unknown fault kind 'bogus' (expected 429, 500, 502, 503, 504, "
                              "reset, truncate, corrupt, slow, redirect, 204, 206 or bigheader)");
    ck_assert_int_eq(mtp_fault_parse_kinds("", &mask, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "unknown fault kind '' (expected 429, 500, 502, 503, 504, "
                              "reset, truncate, corrupt, slow, redirect, 204, 206 or bigheader)");
    ck_assert_str_eq(mtp_fault_name(MTP_FAULT_TRUNCATE), "truncate");
    ck_assert_ptr_null(mtp_fault_name(MTP_FAULT_NONE));
}
END_TEST

START_TEST(fault_draws_are_deterministic)
{
    const char *path = "/v1/cutout/prasad/prasad2020/image/0/0:512/0:512/0:16/";
    int faults = 0, seen[MTP_FAULT_COUNT] = {0}, differs = 0;
    for (uint64_t n = 0; n < 2000; n++) {
        mtp_fault a = mtp_fault_draw(42, path, n, 0.5, MTP_FAULT_ALL, NULL);
        ck_assert_int_eq(a, mtp_fault_draw(42, path, n, 0.5, MTP_FAULT_ALL, NULL));
        differs += a != mtp_fault_draw(43, path, n, 0.5, MTP_FAULT_ALL, NULL);
        if (a != MTP_FAULT_NONE) {
            faults++;
            seen[a]++;
        }
        ck_assert_int_eq(mtp_fault_draw(42, path, n, 0.0, MTP_FAULT_ALL, NULL), MTP_FAULT_NONE);
        ck_assert_int_eq(mtp_fault_draw(42, path, n, 1.0, 1u << MTP_FAULT_504, NULL),
                         MTP_FAULT_504);
        ck_assert_int_eq(mtp_fault_draw(42, path, n, 1.0, 0, NULL), MTP_FAULT_NONE);
    }
    ck_assert_int_gt(faults, 900); /* about half of 2000 */
    ck_assert_int_lt(faults, 1100);
    for (int k = 0; k < MTP_FAULT_COUNT; k++)
        ck_assert_int_gt(seen[k], 50); /* every kind, about 77 each */
    ck_assert_int_gt(differs, 500);
}
END_TEST

START_TEST(fault_counter_counts_per_path)
{
    mtp_fault_counter *c = NULL;
    ck_assert_int_eq(mtp_fault_counter_new(&c, NULL), 0);
    ck_assert_uint_eq(mtp_fault_counter_next(c, "/a"), 0);
    ck_assert_uint_eq(mtp_fault_counter_next(c, "/b"), 0);
    ck_assert_uint_eq(mtp_fault_counter_next(c, "/a"), 1);
    ck_assert_uint_eq(mtp_fault_counter_next(c, "/a"), 2);
    ck_assert_uint_eq(mtp_fault_counter_next(c, "/b"), 1);
    mtp_fault_counter_free(c);
    mtp_fault_counter_free(NULL);
}
END_TEST

Suite *mtp_test_suite(void)
{
    Suite *s = suite_create("synth");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, same_box_twice_is_identical);
    tcase_add_test(tc, box_equals_eight_sub_boxes);
    tcase_add_test(tc, label_codes_in_range);
    tcase_add_test(tc, roi_empty_from_z_460);
    tcase_add_test(tc, roi_region_modes);
    tcase_add_test(tc, image_matches_labels);
    tcase_add_test(tc, no_structures_outside_tissue);
    tcase_add_test(tc, body_header_and_round_trip);
    tcase_add_test(tc, box_sizes_are_checked);
    suite_add_tcase(s, tc);
    TCase *faults = tcase_create("faults");
    tcase_add_test(faults, fault_kinds_parse);
    tcase_add_test(faults, fault_draws_are_deterministic);
    tcase_add_test(faults, fault_counter_counts_per_path);
    suite_add_tcase(s, faults);
    return s;
}
