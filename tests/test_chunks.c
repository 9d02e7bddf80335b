/*
 * test_chunks.c — compress-once chunks: the bytes equal libdeflate_zlib_compress() per slice
 * at levels 1-9 and zlib's compress2() at level 0 (the call of HDF5's deflate filter), do not
 * depend on the thread count, decompress back to the slice with stock zlib, and bad calls are
 * refused with exact reasons; submitted batches can be collected in any order and range, freed
 * early, and jobs run each part once with the failing part's own error. A reported (not asserted)
 * speed test uses the mock's synthetic image slices.
 */
#include "mtp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libdeflate.h>
#include <zlib.h>

#include "mtp/chunks.h"
#include "synth.h"

#define EDGE 256
#define SLICE ((size_t)EDGE * EDGE)

/* The MTNeuro region boxes (x0, y0) and their z range: real tissue in the mock's volume. */
static const int64_t boxes[4][2] = {{4600, 900}, {3700, 500}, {3063, 850}, {1543, 650}};
#define Z0 110
#define NZ 360

/* n slices (n <= 4 * NZ) of the mock's synthetic image (seed 1): region by region, z from
 * Z0, like MTNeuro's task 3 images. */
static uint8_t *image_slices(size_t n)
{
    ck_assert_uint_le(n, 4 * NZ);
    uint8_t *buf = malloc(n * SLICE);
    ck_assert_ptr_nonnull(buf);
    mtp_error err = MTP_ERROR_INIT;
    for (size_t done = 0, r = 0; done < n; r++) {
        size_t k = n - done < NZ ? n - done : NZ;
        mtp_box box = {boxes[r][0], boxes[r][0] + EDGE, boxes[r][1], boxes[r][1] + EDGE,
                       Z0,          Z0 + (int64_t)k};
        ck_assert_msg(
            mtp_synth_fill(1, MTP_SYNTH_IMAGE, &box, buf + done * SLICE, k * SLICE, &err) == 0,
            "%s", err.msg);
        done += k;
    }
    return buf;
}

static const uint8_t **slice_pointers(const uint8_t *buf, size_t n)
{
    const uint8_t **p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = buf + i * SLICE;
    return p;
}

/* A fresh libdeflate compressor at `level` (1-9); at level 0 compress2 exactly as
 * H5Zdeflate.c calls it. */
static void reference_deflate(const uint8_t *src, size_t n, int level, uint8_t **out, size_t *len)
{
    if (level > 0) {
        struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
        ck_assert_ptr_nonnull(c);
        size_t cap = libdeflate_zlib_compress_bound(NULL, n);
        *out = malloc(cap);
        *len = libdeflate_zlib_compress(c, src, n, *out, cap);
        ck_assert_uint_gt(*len, 0);
        libdeflate_free_compressor(c);
        return;
    }
    uLongf dst_len = compressBound((uLong)n);
    *out = malloc(dst_len);
    ck_assert_int_eq(compress2(*out, &dst_len, src, (uLong)n, level), Z_OK);
    *len = dst_len;
}

/* The chunk holds exactly what libdeflate makes of the slice at level 4. */
static void assert_level4_chunk(const mtp_chunk *c, const uint8_t *slice)
{
    uint8_t *ref;
    size_t ref_len;
    reference_deflate(slice, SLICE, 4, &ref, &ref_len);
    ck_assert_uint_eq(c->size, ref_len);
    ck_assert_mem_eq(c->data, ref, ref_len);
    free(ref);
}

START_TEST(compressor_names_what_makes_the_bytes)
{
    char buf[64];
    ck_assert_str_eq(mtp_chunk_compressor(4, buf, sizeof buf),
                     "libdeflate " LIBDEFLATE_VERSION_STRING ", level 4");
    char want[64];
    snprintf(want, sizeof want, "zlib %s, level 0", zlibVersion());
    ck_assert_str_eq(mtp_chunk_compressor(0, buf, sizeof buf), want);
    ck_assert_uint_eq(mtp_chunk_bound(SLICE, 4), libdeflate_zlib_compress_bound(NULL, SLICE));
    ck_assert_uint_eq(mtp_chunk_bound(SLICE, 0), compressBound(SLICE));
}
END_TEST

START_TEST(deflate_one_equals_the_reference_and_round_trips)
{
    uint8_t *img = image_slices(3);
    for (int level = 0; level <= 9; level += 3) {
        for (size_t i = 0; i < 3; i++) {
            mtp_chunk c = {NULL, 0, NULL};
            mtp_error err = MTP_ERROR_INIT;
            ck_assert_int_eq(mtp_chunk_deflate_one(img + i * SLICE, SLICE, level, &c, &err), 0);
            uint8_t *ref;
            size_t ref_len;
            reference_deflate(img + i * SLICE, SLICE, level, &ref, &ref_len);
            ck_assert_uint_eq(c.size, ref_len);
            ck_assert_mem_eq(c.data, ref, ref_len);
            uint8_t *back = malloc(SLICE);
            uLongf back_len = SLICE;
            ck_assert_int_eq(uncompress(back, &back_len, c.data, (uLong)c.size), Z_OK);
            ck_assert_uint_eq(back_len, SLICE);
            ck_assert_mem_eq(back, img + i * SLICE, SLICE);
            free(back);
            free(ref);
            mtp_chunk_release(&c);
            ck_assert_ptr_null(c.data);
            ck_assert_uint_eq(c.size, 0);
        }
    }
    free(img);
}
END_TEST

START_TEST(chunker_output_does_not_depend_on_threads)
{
    const size_t n = 37;
    uint8_t *img = image_slices(n);
    const uint8_t **ptrs = slice_pointers(img, n);
    mtp_chunk *one = calloc(n, sizeof *one), *four = calloc(n, sizeof *four);
    mtp_error err = MTP_ERROR_INIT;
    mtp_pool *c1 = NULL, *c4 = NULL;
    ck_assert_int_eq(mtp_pool_new(&c1, 1, 4, &err), 0);
    ck_assert_int_eq(mtp_pool_new(&c4, 4, 4, &err), 0);
    ck_assert_int_eq(mtp_pool_threads(c1), 1);
    ck_assert_int_eq(mtp_pool_threads(c4), 4);
    ck_assert_int_eq(mtp_pool_level(c4), 4);
    ck_assert_int_eq(mtp_pool_compress(c1, ptrs, n, SLICE, one, &err), 0);
    /* Several batches on one pool: each must see every slice exactly once. */
    for (int round = 0; round < 3; round++) {
        ck_assert_int_eq(mtp_pool_compress(c4, ptrs, n, SLICE, four, &err), 0);
        for (size_t i = 0; i < n; i++) {
            uint8_t *ref;
            size_t ref_len;
            reference_deflate(ptrs[i], SLICE, 4, &ref, &ref_len);
            ck_assert_uint_eq(one[i].size, ref_len);
            ck_assert_mem_eq(one[i].data, ref, ref_len);
            ck_assert_uint_eq(four[i].size, ref_len);
            ck_assert_mem_eq(four[i].data, ref, ref_len);
            free(ref);
        }
        mtp_chunks_release(four, n);
    }
    /* A batch smaller than the pool, and an empty one. */
    ck_assert_int_eq(mtp_pool_compress(c4, ptrs + 5, 2, SLICE, four, &err), 0);
    ck_assert_uint_eq(four[0].size, one[5].size);
    ck_assert_mem_eq(four[0].data, one[5].data, one[5].size);
    ck_assert_mem_eq(four[1].data, one[6].data, one[6].size);
    mtp_chunks_release(four, 2);
    ck_assert_int_eq(mtp_pool_compress(c4, NULL, 0, SLICE, NULL, &err), 0);
    mtp_chunks_release(one, n);
    mtp_pool_free(c1);
    mtp_pool_free(c4);
    mtp_pool_free(NULL);
    free(one);
    free(four);
    free(ptrs);
    free(img);
}
END_TEST

START_TEST(default_threads_are_the_online_cores)
{
    mtp_pool *c = NULL;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_pool_new(&c, 0, 6, &err), 0);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    ck_assert_int_eq(mtp_pool_threads(c), cores < 1 ? 1 : (int)cores);
    mtp_pool_free(c);
}
END_TEST

START_TEST(bad_calls_are_refused)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_pool *c = (mtp_pool *)&err;
    ck_assert_int_eq(mtp_pool_new(&c, 2, 10, &err), MTP_EINVAL);
    ck_assert_ptr_null(c);
    ck_assert_str_eq(err.msg, "pool: deflate level 10 is not in 0..9");
    ck_assert_int_eq(mtp_pool_new(&c, 2, -1, &err), MTP_EINVAL);
    ck_assert_int_eq(mtp_pool_new(&c, 1000, 4, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "pool: 1000 threads (at most 256)");
    ck_assert_int_eq(mtp_pool_new(NULL, 2, 4, &err), MTP_EINVAL);

    uint8_t slice[64] = {1, 2, 3};
    mtp_chunk one = {(uint8_t *)&err, 99, NULL};
    ck_assert_int_eq(mtp_chunk_deflate_one(slice, 0, 4, &one, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "pool: slice size 0 is not in 1..1073741824");
    ck_assert_ptr_null(one.data);
    ck_assert_uint_eq(one.size, 0);
    ck_assert_int_eq(mtp_chunk_deflate_one(slice, 64, 12, &one, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "pool: deflate level 12 is not in 0..9");
    ck_assert_int_eq(mtp_chunk_deflate_one(NULL, 64, 4, &one, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "pool: NULL source or output");

    ck_assert_int_eq(mtp_pool_new(&c, 2, 4, &err), 0);
    const uint8_t *ptrs[5] = {slice, slice, slice, NULL, slice};
    mtp_chunk out[5];
    memset(out, 0x5a, sizeof out);
    ck_assert_int_eq(mtp_pool_compress(c, ptrs, 5, sizeof slice, out, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "pool: slice 3 is NULL");
    for (int i = 0; i < 5; i++) {
        ck_assert_ptr_null(out[i].data);
        ck_assert_uint_eq(out[i].size, 0);
    }
    ck_assert_int_eq(mtp_pool_compress(c, ptrs, 3, 0, out, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "pool: slice size 0 is not in 1..1073741824");
    ck_assert_int_eq(mtp_pool_compress(c, NULL, 3, 64, out, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "pool: NULL pool, slices or output");
    ck_assert_int_eq(mtp_pool_compress(NULL, ptrs, 3, 64, out, &err), MTP_EINVAL);
    /* The pool still works after refused calls. */
    ck_assert_int_eq(mtp_pool_compress(c, ptrs, 3, sizeof slice, out, &err), 0);
    ck_assert_uint_gt(out[2].size, 0);
    mtp_chunks_release(out, 3);
    mtp_chunks_release(NULL, 3);
    mtp_chunk_release(NULL);
    mtp_pool_free(c);
}
END_TEST

/* Batches queue behind each other and are collected in any order, range by range. */
START_TEST(submitted_batches_are_collected_in_any_order)
{
    const size_t n = 24;
    uint8_t *img = image_slices(n);
    mtp_error err = MTP_ERROR_INIT;
    mtp_pool *c = NULL;
    ck_assert_int_eq(mtp_pool_new(&c, 2, 4, &err), 0);
    mtp_chunk_batch *a = NULL, *b = NULL, *empty = NULL;
    ck_assert_int_eq(mtp_pool_submit(c, img, n / 2, SLICE, &a, &err), 0);
    ck_assert_int_eq(mtp_pool_submit(c, img + (n / 2) * SLICE, n / 2, SLICE, &b, &err), 0);
    ck_assert_int_eq(mtp_pool_submit(c, img, 0, SLICE, &empty, &err), 0);
    ck_assert_uint_eq(mtp_chunk_batch_size(a), n / 2);
    ck_assert_uint_eq(mtp_chunk_batch_size(empty), 0);
    ck_assert_uint_eq(mtp_chunk_batch_size(NULL), 0);
    ck_assert_int_eq(mtp_chunk_batch_wait(empty, 0, 0, NULL, &err), 0);
    /* The second batch's last chunks first, then the first batch a window at a time. */
    const mtp_chunk *got = NULL;
    ck_assert_int_eq(mtp_chunk_batch_wait(b, n / 2 - 3, 3, &got, &err), 0);
    for (size_t k = 0; k < 3; k++)
        assert_level4_chunk(&got[k], img + (n - 3 + k) * SLICE);
    for (size_t z = 0; z + 4 <= n / 2; z += 4) {
        ck_assert_int_eq(mtp_chunk_batch_wait(a, z, 4, &got, &err), 0);
        for (size_t k = 0; k < 4; k++) {
            assert_level4_chunk(&got[k], img + (z + k) * SLICE);
            ck_assert_ptr_eq(got[k].source, img + (z + k) * SLICE);
        }
    }
    ck_assert_int_eq(mtp_chunk_batch_wait(a, n / 2, 1, &got, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "pool: chunks 12..+1 outside the batch");
    ck_assert_ptr_null(got);
    mtp_chunk_batch_free(a);
    mtp_chunk_batch_free(b);
    mtp_chunk_batch_free(empty);
    mtp_chunk_batch_free(NULL);
    ck_assert_int_eq(mtp_pool_submit(c, NULL, 3, SLICE, &a, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "pool: NULL pool or data");
    ck_assert_ptr_null(a);
    mtp_pool_free(c);
    free(img);
}
END_TEST

/* A run of equal slices (a region inside one ROI) is compressed once and shared. */
START_TEST(repeated_slices_share_one_chunk)
{
    const size_t n = 6;
    uint8_t *stack = malloc(n * SLICE);
    ck_assert_ptr_nonnull(stack);
    memset(stack, 3, 3 * SLICE); /* slices 0-2 equal */
    uint8_t *img = image_slices(1);
    memcpy(stack + 3 * SLICE, img, SLICE);   /* slice 3 different */
    memset(stack + 4 * SLICE, 3, 2 * SLICE); /* 4-5 equal to each other and to 0 */
    mtp_error err = MTP_ERROR_INIT;
    mtp_pool *c = NULL;
    ck_assert_int_eq(mtp_pool_new(&c, 2, 4, &err), 0);
    mtp_chunk_batch *b = NULL;
    ck_assert_int_eq(mtp_pool_submit(c, stack, n, SLICE, &b, &err), 0);
    const mtp_chunk *got = NULL;
    ck_assert_int_eq(mtp_chunk_batch_wait(b, 0, n, &got, &err), 0);
    for (size_t i = 0; i < n; i++) {
        assert_level4_chunk(&got[i], stack + i * SLICE);
        ck_assert_ptr_eq(got[i].source, stack + i * SLICE);
    }
    /* Only runs of consecutive equal slices share: 1 and 2 with 0, 5 with 4, not 4 with 0. */
    ck_assert_ptr_eq(got[1].data, got[0].data);
    ck_assert_ptr_eq(got[2].data, got[0].data);
    ck_assert_ptr_ne(got[3].data, got[0].data);
    ck_assert_ptr_ne(got[4].data, got[0].data);
    ck_assert_ptr_eq(got[5].data, got[4].data);
    mtp_chunk_batch_free(b); /* each shared buffer freed once (ASan builds check) */
    mtp_pool_free(c);
    free(img);
    free(stack);
}
END_TEST

/* Freeing a batch no one waited for drops its queued slices; the pool goes on. */
START_TEST(a_batch_freed_early_is_dropped)
{
    const size_t n = 200;
    uint8_t *img = image_slices(n);
    mtp_error err = MTP_ERROR_INIT;
    mtp_pool *c = NULL;
    ck_assert_int_eq(mtp_pool_new(&c, 1, 4, &err), 0);
    mtp_chunk_batch *big = NULL, *small = NULL;
    ck_assert_int_eq(mtp_pool_submit(c, img, n, SLICE, &big, &err), 0);
    ck_assert_int_eq(mtp_pool_submit(c, img, 2, SLICE, &small, &err), 0);
    mtp_chunk_batch_free(big); /* long before one thread could do 200 slices */
    const mtp_chunk *got = NULL;
    ck_assert_int_eq(mtp_chunk_batch_wait(small, 0, 2, &got, &err), 0);
    ck_assert_uint_gt(got[1].size, 0);
    mtp_chunk_batch_free(small);
    mtp_pool_free(c);
    free(img);
}
END_TEST

typedef struct job_state {
    int hits[64];
    size_t fail_at; /* parts >= this fail, with their index in the message */
} job_state;

static int count_part(void *arg, size_t i, mtp_error *err)
{
    job_state *js = arg;
    js->hits[i]++; /* each part runs once, on one thread: no race */
    if (i >= js->fail_at)
        return mtp_error_set(err, MTP_EIO, "part %zu failed", i);
    return 0;
}

/* Jobs run every part exactly once; the lowest failing part's own error comes back. */
START_TEST(jobs_run_every_part_once)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_pool *c = NULL;
    ck_assert_int_eq(mtp_pool_new(&c, 3, 4, &err), 0);
    job_state js;
    memset(&js, 0, sizeof js);
    js.fail_at = 64;
    mtp_chunk_batch *b = NULL;
    ck_assert_int_eq(mtp_pool_run(c, count_part, &js, 64, &b, &err), 0);
    const mtp_chunk *got = (const mtp_chunk *)&err;
    ck_assert_int_eq(mtp_chunk_batch_wait(b, 0, 64, &got, &err), 0);
    ck_assert_ptr_null(got);
    mtp_chunk_batch_free(b);
    for (int i = 0; i < 64; i++)
        ck_assert_int_eq(js.hits[i], 1);

    memset(&js, 0, sizeof js);
    js.fail_at = 40;
    ck_assert_int_eq(mtp_pool_run(c, count_part, &js, 64, &b, &err), 0);
    ck_assert_int_eq(mtp_chunk_batch_wait(b, 0, 40, NULL, &err), 0);
    ck_assert_int_eq(mtp_chunk_batch_wait(b, 0, 64, NULL, &err), MTP_EIO);
    ck_assert_str_eq(err.msg, "part 40 failed");
    mtp_chunk_batch_free(b);
    ck_assert_int_eq(mtp_pool_run(c, NULL, &js, 4, &b, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "pool: NULL pool or job");
    mtp_pool_free(c);
}
END_TEST

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * Deflate speed at level 4 on synthetic 256x256 image slices: one thread with
 * mtp_chunk_deflate_one(), then the pool with 2 threads. Reported, not asserted.
 * 96 slices by default; MTP_CHUNKS_BENCH=1 uses 1440 (MTNeuro's task 3 images).
 */
START_TEST(speed_report)
{
    size_t n = getenv("MTP_CHUNKS_BENCH") != NULL ? 1440 : 96;
    uint8_t *img = image_slices(n);
    const uint8_t **ptrs = slice_pointers(img, n);
    mtp_chunk *out = calloc(n, sizeof *out);
    mtp_error err = MTP_ERROR_INIT;
    struct timespec t0;
    size_t packed = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(mtp_chunk_deflate_one(ptrs[i], SLICE, 4, &out[i], &err), 0);
        packed += out[i].size;
    }
    double one = seconds_since(&t0);
    mtp_chunks_release(out, n);
    mtp_pool *c = NULL;
    ck_assert_int_eq(mtp_pool_new(&c, 2, 4, &err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(mtp_pool_compress(c, ptrs, n, SLICE, out, &err), 0);
    double two = seconds_since(&t0);
    mtp_chunks_release(out, n);
    mtp_pool_free(c);
    double mb = (double)(n * SLICE) / 1e6;
    fprintf(stderr,
            "chunks: %zu slices 256x256 (%.1f MB, ratio %.2f) at level 4: 1 thread %.1f MB/s, "
            "pool 2 threads %.1f MB/s (x%.2f)\n",
            n, mb, (double)(n * SLICE) / (double)packed, mb / one, mb / two, one / two);
    free(out);
    free(ptrs);
    free(img);
}
END_TEST

Suite *mtp_test_suite(void)
{
    Suite *s = suite_create("chunks");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, compressor_names_what_makes_the_bytes);
    tcase_add_test(tc, deflate_one_equals_the_reference_and_round_trips);
    tcase_add_test(tc, chunker_output_does_not_depend_on_threads);
    tcase_add_test(tc, default_threads_are_the_online_cores);
    tcase_add_test(tc, bad_calls_are_refused);
    tcase_add_test(tc, submitted_batches_are_collected_in_any_order);
    tcase_add_test(tc, a_batch_freed_early_is_dropped);
    tcase_add_test(tc, repeated_slices_share_one_chunk);
    tcase_add_test(tc, jobs_run_every_part_once);
    tcase_add_test(tc, speed_report);
    suite_add_tcase(s, tc);
    return s;
}
