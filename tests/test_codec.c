/* test_codec.c — blosc body validation, decoding and server-style encoding. */
#include "mtp_test.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtp/codec.h"

/* A smooth, compressible uint64 ramp of n voxels. */
static uint64_t *ramp64(size_t n)
{
    uint64_t *v = malloc(n * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++)
        v[i] = (uint64_t)(i / 37) * 0x0101010101ull;
    return v;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* Encode a uint8 ramp of n bytes; *len gets the body length. */
static unsigned char *encode8(size_t n, size_t *len)
{
    unsigned char *src = malloc(n);
    ck_assert_ptr_nonnull(src);
    for (size_t i = 0; i < n; i++)
        src[i] = (unsigned char)(i * 7 / 13);
    void *body = NULL;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_codec_encode_boss(src, n, 8, &body, len, &err), 0);
    free(src);
    return body;
}

START_TEST(round_trip_uint64)
{
    size_t n = 100000;
    uint64_t *src = ramp64(n);
    void *body = NULL;
    size_t len = 0;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_codec_encode_boss(src, n * 8, 64, &body, &len, &err), 0);
    ck_assert_uint_lt(len, n * 8 / 10); /* a ramp compresses well */
    uint64_t *dst = malloc(n * 8);
    ck_assert_int_eq(mtp_codec_decode(body, len, dst, n * 8, &err), 0);
    ck_assert_int_eq(memcmp(src, dst, n * 8), 0);
    free(dst);
    free(body);
    free(src);
}
END_TEST

/* Label-like uint64 codes (0..255) decode straight to bytes, whatever the typesize the
 * server used (its bit depth, 64, or the element size, 8); the same for uint16. */
START_TEST(narrow_decode_gives_the_low_bytes)
{
    size_t n = 300000; /* several 256 KiB blosc blocks and a partial last one */
    uint64_t *src = malloc(n * 8);
    uint16_t *src16 = malloc(n * 2);
    uint8_t *want = malloc(n), *got = malloc(n);
    for (size_t i = 0; i < n; i++) {
        want[i] = (uint8_t)((i / 97) % 9 + (i % 1013 == 0 ? 200 : 0));
        src[i] = want[i];
        src16[i] = want[i];
    }
    mtp_error err = MTP_ERROR_INIT;
    const int bits[] = {64, 8};
    for (int k = 0; k < 2; k++) {
        void *body = NULL;
        size_t len = 0;
        ck_assert_int_eq(mtp_codec_encode_boss(src, n * 8, bits[k], &body, &len, &err), 0);
        memset(got, 0xee, n);
        ck_assert_int_eq(mtp_codec_decode_u8(body, len, got, n, 8, &err), 0);
        ck_assert_int_eq(memcmp(got, want, n), 0);
        free(body);
    }
    void *body = NULL;
    size_t len = 0;
    ck_assert_int_eq(mtp_codec_encode_boss(src16, n * 2, 16, &body, &len, &err), 0);
    ck_assert_int_eq(mtp_codec_decode_u8(body, len, got, n, 2, &err), 0);
    ck_assert_int_eq(memcmp(got, want, n), 0);
    free(body);
    free(src16);
    free(src);
    free(want);
    free(got);
}
END_TEST

/* A value above 255, or a layout blosc_getitem cannot cut, is MTP_EDATA: decode wide. The
 * body is checked like mtp_codec_decode's. */
START_TEST(narrow_decode_refuses_what_does_not_fit)
{
    size_t n = 5000;
    uint64_t *src = ramp64(n); /* values up to 135 * 0x0101010101 */
    uint8_t *got = malloc(n);
    void *body = NULL;
    size_t len = 0;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_codec_encode_boss(src, n * 8, 64, &body, &len, &err), 0);
    ck_assert_int_eq(mtp_codec_decode_u8(body, len, got, n, 8, &err), MTP_EDATA);
    ck_assert_str_eq(err.msg, "blosc body: a value does not fit in uint8");
    ck_assert_int_eq(mtp_codec_decode_u8(body, len, got, n - 1, 8, &err), MTP_ECORRUPT);
    ck_assert_str_eq(err.msg, "blosc body: nbytes 40000 != expected 39992");
    ck_assert_int_eq(mtp_codec_decode_u8(body, len, got, n, 4, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "blosc body: bad narrowing request");
    free(body);
    /* 27 values of 8 bytes with typesize 64: 216 bytes are not whole items. */
    for (size_t i = 0; i < 27; i++)
        src[i] = i;
    ck_assert_int_eq(mtp_codec_encode_boss(src, 27 * 8, 64, &body, &len, &err), 0);
    ck_assert_int_eq(mtp_codec_decode_u8(body, len, got, 27, 8, &err), MTP_EDATA);
    ck_assert_str_eq(err.msg, "blosc body: layout not decodable piecewise");
    free(body);
    free(src);
    free(got);
}
END_TEST

START_TEST(round_trip_uint8_and_empty)
{
    size_t len = 0;
    unsigned char *body = encode8(65536 + 5, &len);
    unsigned char *dst = malloc(65536 + 5);
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_codec_decode(body, len, dst, 65536 + 5, &err), 0);
    for (size_t i = 0; i < 65536 + 5; i++)
        ck_assert_uint_eq(dst[i], (unsigned char)(i * 7 / 13));
    free(dst);
    free(body);

    void *empty = NULL;
    ck_assert_int_eq(mtp_codec_encode_boss("", 0, 8, &empty, &len, &err), 0);
    ck_assert_uint_eq(len, 16);
    ck_assert_int_eq(mtp_codec_decode(empty, len, NULL, 0, &err), 0);
    free(empty);
}
END_TEST

START_TEST(header_bytes_like_the_server)
{
    size_t len = 0;
    unsigned char *body = encode8(4096, &len);
    mtp_blosc_header h;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_codec_header(body, len, &h, &err), 0);
    ck_assert_uint_eq(body[0], 2); /* blosc1 format version */
    ck_assert_uint_eq(h.version, 2);
    ck_assert_uint_eq(h.versionlz, 1); /* blosclz format 1 */
    ck_assert_uint_eq(body[3], 8);
    ck_assert_uint_eq(h.typesize, 8);
    ck_assert_uint_eq(h.nbytes, 4096);
    ck_assert_uint_eq(h.cbytes, len);
    ck_assert_uint_eq(h.flags & 0x1, 0x1); /* byte shuffle */
    ck_assert_uint_eq(h.flags >> 5, 0);    /* compressor code 0: blosclz */
    free(body);

    uint64_t *src = ramp64(4096);
    void *body64 = NULL;
    ck_assert_int_eq(mtp_codec_encode_boss(src, 4096 * 8, 64, &body64, &len, &err), 0);
    ck_assert_int_eq(mtp_codec_header(body64, len, &h, &err), 0);
    ck_assert_uint_eq(((unsigned char *)body64)[3], 64);
    ck_assert_uint_eq(h.typesize, 64);
    ck_assert_uint_eq(h.nbytes, 4096 * 8);
    ck_assert_uint_eq(h.cbytes, len);
    free(body64);
    free(src);
}
END_TEST

START_TEST(encode_rejects_bad_bit_depth)
{
    void *body = (void *)1;
    size_t len = 1;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_codec_encode_boss("abcd", 4, 32, &body, &len, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "blosc encode: bit depth 32 not 8, 16 or 64");
    ck_assert_ptr_null(body);
    ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(short_body_is_corrupt)
{
    unsigned char buf[10] = {2, 1, 1, 8};
    mtp_blosc_header h;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_codec_header(buf, 10, &h, &err), MTP_ECORRUPT);
    ck_assert_str_eq(err.msg, "blosc body: 10 bytes, shorter than the 16-byte header");
    unsigned char dst[100];
    err = (mtp_error)MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_codec_decode(buf, 10, dst, 100, &err), MTP_ECORRUPT);
    ck_assert_int_eq(err.code, MTP_ECORRUPT);
    ck_assert_str_eq(err.msg, "blosc body: 10 bytes, shorter than the 16-byte header");
}
END_TEST

START_TEST(cbytes_lies)
{
    size_t len = 0;
    unsigned char *body = encode8(4096, &len);
    unsigned char dst[4096];
    char want[128];
    mtp_error err = MTP_ERROR_INIT;

    /* Header claims more than was received. */
    put_le32(body + 12, (uint32_t)len + 34);
    ck_assert_int_eq(mtp_codec_decode(body, len, dst, 4096, &err), MTP_ECORRUPT);
    snprintf(want, sizeof want, "blosc body: cbytes %zu != body length %zu", len + 34, len);
    ck_assert_str_eq(err.msg, want);

    /* Header claims less than was received. */
    put_le32(body + 12, (uint32_t)len - 1);
    ck_assert_int_eq(mtp_codec_decode(body, len, dst, 4096, &err), MTP_ECORRUPT);
    snprintf(want, sizeof want, "blosc body: cbytes %zu != body length %zu", len - 1, len);
    ck_assert_str_eq(err.msg, want);
    free(body);
}
END_TEST

START_TEST(truncated_body)
{
    size_t len = 0;
    unsigned char *body = encode8(4096, &len);
    unsigned char dst[4096];
    char want[128];
    mtp_error err = MTP_ERROR_INIT;
    /* The transfer lost its tail: the honest header now disagrees with the length. */
    ck_assert_int_eq(mtp_codec_decode(body, len - 20, dst, 4096, &err), MTP_ECORRUPT);
    snprintf(want, sizeof want, "blosc body: cbytes %zu != body length %zu", len, len - 20);
    ck_assert_str_eq(err.msg, want);
    free(body);
}
END_TEST

START_TEST(nbytes_lies)
{
    size_t len = 0;
    unsigned char *body = encode8(200, &len);
    unsigned char dst[200];
    mtp_error err = MTP_ERROR_INIT;
    put_le32(body + 4, 100);
    ck_assert_int_eq(mtp_codec_decode(body, len, dst, 200, &err), MTP_ECORRUPT);
    ck_assert_str_eq(err.msg, "blosc body: nbytes 100 != expected 200");

    /* An honest header that is not what was asked for is just as wrong. */
    put_le32(body + 4, 200);
    ck_assert_int_eq(mtp_codec_decode(body, len, dst, 150, &err), MTP_ECORRUPT);
    ck_assert_str_eq(err.msg, "blosc body: nbytes 200 != expected 150");
    free(body);
}
END_TEST

START_TEST(oversize_claim_rejected_before_anything)
{
    unsigned char hdr[16] = {2, 1, 1, 8};
    put_le32(hdr + 4, 0xFFFFFFF0u);
    put_le32(hdr + 12, 16);
    mtp_error err = MTP_ERROR_INIT;
    unsigned char dst[1];
    ck_assert_int_eq(mtp_codec_decode(hdr, 16, dst, 3000000000ull, &err), MTP_ECORRUPT);
    ck_assert_str_eq(err.msg, "blosc body: expected 3000000000 bytes, over the blosc1 chunk limit "
                              "2147483631");
    /* A huge nbytes claim against a modest request is an nbytes lie. */
    ck_assert_int_eq(mtp_codec_decode(hdr, 16, dst, 1, &err), MTP_ECORRUPT);
    ck_assert_str_eq(err.msg, "blosc body: nbytes 4294967280 != expected 1");
}
END_TEST

START_TEST(garbage_after_header)
{
    uint64_t *src = ramp64(4096);
    void *body = NULL;
    size_t len = 0;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_codec_encode_boss(src, 4096 * 8, 64, &body, &len, &err), 0);
    unsigned char *b = body;
    ck_assert_uint_eq(b[2] & 0x2, 0); /* really compressed, not a stored copy */
    /* Sizes stay true, the block offsets and data become garbage. */
    memset(b + 16, 0xFF, len - 16);
    int rc = mtp_codec_decode(body, len, src, 4096 * 8, &err);
    ck_assert_int_eq(rc, MTP_ECORRUPT);
    ck_assert_str_eq(err.msg, "blosc body: block 0 starts at 4294967295, outside 20..1922");
    free(body);
    free(src);
}
END_TEST

/* A real server-style body of 4096 uint64 values, to be damaged by each case below. */
static unsigned char *good_body(size_t *len)
{
    uint64_t *src = ramp64(4096);
    void *body = NULL;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_codec_encode_boss(src, 4096 * 8, 64, &body, len, &err), 0);
    free(src);
    return body;
}

/* Each lie is caught before a decoder reads the body, with a message saying which. */
START_TEST(layout_lies_are_caught_before_decoding)
{
    size_t len = 0;
    unsigned char *b = good_body(&len);
    ck_assert_uint_eq(len, 1923); /* one block of 32 KiB: a start table of 4 bytes */
    uint8_t dst[4096 * 8];
    mtp_error err = MTP_ERROR_INIT;
    struct {
        size_t offset;
        uint32_t value;
        int width; /* 1 or 4 bytes */
        const char *msg;
    } cases[] = {
        {0, 0, 1, "blosc body: format version 0 (known: 1..2)"},
        {0, 3, 1, "blosc body: format version 3 (known: 1..2)"},
        {3, 0, 1, "blosc body: typesize 0"},
        {8, 0, 4, "blosc body: block size 0 for 32768 bytes"},
        {8, 40000, 4, "blosc body: block size 40000 for 32768 bytes"},
        {8, 1, 4, "blosc body: 32768 blocks do not fit their start table in 1923 bytes"},
        {16, 3, 4, "blosc body: block 0 starts at 3, outside 20..1922"},
        {16, 1923, 4, "blosc body: block 0 starts at 1923, outside 20..1922"},
        {2, 0x3, 1, "blosc body: stored uncompressed, but 1923 bytes for 32768"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char *copy = malloc(len);
        memcpy(copy, b, len);
        if (cases[i].width == 1)
            copy[cases[i].offset] = (unsigned char)cases[i].value;
        else
            put_le32(copy + cases[i].offset, cases[i].value);
        ck_assert_int_eq(mtp_codec_decode(copy, len, dst, sizeof dst, &err), MTP_ECORRUPT);
        ck_assert_str_eq(err.msg, cases[i].msg);
        ck_assert_int_eq(mtp_codec_decode_u8(copy, len, dst, 4096, 8, &err), MTP_ECORRUPT);
        ck_assert_str_eq(err.msg, cases[i].msg);
        free(copy);
    }
    /* An empty body (a 200 with nothing in it) says so. */
    ck_assert_int_eq(mtp_codec_decode(NULL, 0, dst, sizeof dst, &err), MTP_ECORRUPT);
    ck_assert_str_eq(err.msg, "empty body, expected a blosc chunk of 32768 bytes");
    ck_assert_int_eq(mtp_codec_decode(b, 0, dst, sizeof dst, &err), MTP_ECORRUPT);
    ck_assert_str_eq(err.msg, "empty body, expected a blosc chunk of 32768 bytes");
    free(b);
}
END_TEST

Suite *mtp_test_suite(void)
{
    Suite *s = suite_create("codec");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, round_trip_uint64);
    tcase_add_test(tc, round_trip_uint8_and_empty);
    tcase_add_test(tc, narrow_decode_gives_the_low_bytes);
    tcase_add_test(tc, narrow_decode_refuses_what_does_not_fit);
    tcase_add_test(tc, header_bytes_like_the_server);
    tcase_add_test(tc, encode_rejects_bad_bit_depth);
    tcase_add_test(tc, short_body_is_corrupt);
    tcase_add_test(tc, cbytes_lies);
    tcase_add_test(tc, truncated_body);
    tcase_add_test(tc, nbytes_lies);
    tcase_add_test(tc, oversize_claim_rejected_before_anything);
    tcase_add_test(tc, garbage_after_header);
    tcase_add_test(tc, layout_lies_are_caught_before_decoding);
    suite_add_tcase(s, tc);
    return s;
}
