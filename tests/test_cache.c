#include "mtp_test.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <blosc.h>

#include "mtp/cache.h"
#include "fixtures.h"
#include "mtp/sha256.h"

/* Each test gets a fresh directory under /tmp, removed at the end. */
static char root[256];
static mtp_cache *cache;

static void setup(void)
{
    fixture_make_tmpdir(root, sizeof root, "cache-test");
    mtp_error err = MTP_ERROR_INIT;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/c", root); /* open must create it */
    ck_assert_int_eq(mtp_cache_open(&cache, dir, &err), 0);
}

static void teardown(void)
{
    mtp_cache_free(cache);
    cache = NULL;
    fixture_remove_tree(root);
}

static mtp_block_key make_key(mtp_dtype dtype, int64_t x0, int64_t x1, int64_t y0, int64_t y1,
                              int64_t z0, int64_t z1)
{
    mtp_block_key key = {
        .server = "https://api.bossdb.io",
        .collection = "prasad",
        .experiment = "prasad2020",
        .channel = "image",
        .resolution = 0,
        .dtype = dtype,
        .box = {x0, x1, y0, y1, z0, z1},
    };
    return key;
}

/* Deterministic, poorly compressible bytes (xorshift). */
static void fill_noise(unsigned char *p, size_t n, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        p[i] = (unsigned char)(s >> 24);
    }
}

static void patch_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)(p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24);
}

static long long file_size(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return (long long)st.st_size;
}

/* The stored dtype field of a format 2 file. */
static uint32_t stored_dtype(const char *path)
{
    size_t len;
    unsigned char *f = fixture_slurp(path, &len);
    ck_assert_uint_ge(len, 112);
    ck_assert_mem_eq(f, "MTPBLK2\n", 8);
    uint32_t d = get_u32(f + 12);
    free(f);
    return d;
}

START_TEST(sha256_known_vector)
{
    char hex[MTP_SHA256_HEX_SIZE];
    ck_assert_int_eq(mtp_sha256_hex("abc", 3, hex), 0);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ck_assert_int_eq(mtp_sha256_hex("", 0, hex), 0);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    unsigned char digest[MTP_SHA256_LEN];
    ck_assert_int_eq(mtp_sha256("abc", 3, digest), 0);
    mtp_hex(digest, 2, hex);
    ck_assert_str_eq(hex, "ba78");
}
END_TEST

START_TEST(round_trip_uint8)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_block_key key = make_key(MTP_DTYPE_UINT8, 512, 576, 1024, 1056, 16, 24);
    size_t n = 64 * 32 * 8;
    unsigned char *data = malloc(n), *back = malloc(n);
    fill_noise(data, n, 1);
    char path[1024], want[1024];
    ck_assert_int_eq(mtp_cache_path(cache, &key, path, sizeof path, &err), 0);
    snprintf(want, sizeof want,
             "%s/c/v1/a38bd34222a91817/prasad/prasad2020/image/res0/"
             "x512-576_y1024-1056_z16-24.uint8.blk",
             root);
    ck_assert_str_eq(path, want);
    ck_assert_int_eq(mtp_cache_has(cache, &key), 0);
    ck_assert_int_eq(mtp_cache_put(cache, &key, data, n, &err), 0);
    ck_assert_int_eq(mtp_cache_has(cache, &key), 1);
    memset(back, 0xAA, n);
    ck_assert_int_eq(mtp_cache_get(cache, &key, back, n, &err), 0);
    ck_assert_mem_eq(back, data, n);

    /* The header as documented: magic, dtype 1, stored dtype 1, box, sizes, sha, stored =
     * rest of file. */
    size_t len;
    unsigned char *file = fixture_slurp(path, &len);
    ck_assert_mem_eq(file, "MTPBLK2\n", 8);
    ck_assert_uint_eq(get_u64(file + 8), 0x0000000100000001ull);
    ck_assert_uint_eq(get_u64(file + 16), 512);
    ck_assert_uint_eq(get_u64(file + 24), 576);
    ck_assert_uint_eq(get_u64(file + 56), 24);
    ck_assert_uint_eq(get_u64(file + 64), n);
    unsigned char sha[MTP_SHA256_LEN];
    mtp_sha256(data, n, sha);
    ck_assert_mem_eq(file + 72, sha, 32);
    ck_assert_uint_eq(get_u64(file + 104), len - 112);
    free(file);

    /* Putting again replaces the file atomically; no temporary is left behind. */
    fill_noise(data, n, 2);
    ck_assert_int_eq(mtp_cache_put(cache, &key, data, n, &err), 0);
    ck_assert_int_eq(mtp_cache_get(cache, &key, back, n, &err), 0);
    ck_assert_mem_eq(back, data, n);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    int entries = 0;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", path);
    FILE *p = popen(cmd, "r");
    ck_assert_int_eq(fscanf(p, "%d", &entries), 1);
    pclose(p);
    ck_assert_int_eq(entries, 1);
    free(data);
    free(back);
}
END_TEST

START_TEST(round_trip_uint64)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_block_key key = make_key(MTP_DTYPE_UINT64, 0, 100, 0, 50, 0, 3);
    key.channel = "pixel_labels";
    key.resolution = 2;
    size_t nvox = 100 * 50 * 3, n = nvox * 8;
    uint64_t *data = malloc(n), *back = malloc(n);
    for (size_t i = 0; i < nvox; i++)
        data[i] = (i / 7) % 4 + (i % 1000 == 0 ? 0x0123456789abcdefull : 0);
    ck_assert_int_eq(mtp_cache_put(cache, &key, data, n, &err), 0);
    ck_assert_int_eq(mtp_cache_get(cache, &key, back, n, &err), 0);
    ck_assert_mem_eq(back, data, n);
    char path[1024];
    ck_assert_int_eq(mtp_cache_path(cache, &key, path, sizeof path, &err), 0);
    ck_assert_ptr_nonnull(strstr(path, "/pixel_labels/res2/x0-100_y0-50_z0-3.uint64.blk"));
    /* Values > 255: stored at full width; get_u8 names the first. */
    ck_assert_uint_eq(stored_dtype(path), 3);
    uint8_t *back8 = malloc(nvox);
    mtp_cache_overflow over = {9, 9};
    ck_assert_int_eq(mtp_cache_get_u8(cache, &key, back8, nvox, &over, &err), MTP_EDATA);
    ck_assert_uint_eq(over.index, 0);
    ck_assert_uint_eq(over.value, 0x0123456789abcdefull);
    free(back8);
    /* Same box, other dtype: another key, absent. */
    key.dtype = MTP_DTYPE_UINT16;
    ck_assert_int_eq(mtp_cache_has(cache, &key), 0);
    ck_assert_int_eq(mtp_cache_get(cache, &key, back, nvox * 2, &err), MTP_ENOTFOUND);
    free(data);
    free(back);
}
END_TEST

START_TEST(missing_key)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_block_key key = make_key(MTP_DTYPE_UINT8, 0, 4, 0, 4, 0, 4);
    unsigned char buf[64];
    ck_assert_int_eq(mtp_cache_has(cache, &key), 0);
    ck_assert_int_eq(mtp_cache_get(cache, &key, buf, sizeof buf, &err), MTP_ENOTFOUND);
    char want[1024];
    snprintf(want, sizeof want,
             "cache: %s/c/v1/a38bd34222a91817/prasad/prasad2020/image/res0/"
             "x0-4_y0-4_z0-4.uint8.blk: not cached",
             root);
    ck_assert_str_eq(err.msg, want);
}
END_TEST

/* Put a block, let `damage` change the file, then expect get to discard it with `what`. */
typedef void (*damage_fn)(const char *path);

static void expect_discarded(damage_fn damage, const char *what, int has_before_get)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_block_key key = make_key(MTP_DTYPE_UINT8, 0, 64, 0, 64, 0, 4);
    size_t n = 64 * 64 * 4;
    unsigned char *data = malloc(n), *back = malloc(n);
    fill_noise(data, n, 3);
    ck_assert_int_eq(mtp_cache_put(cache, &key, data, n, &err), 0);
    char path[1024], want[1200];
    ck_assert_int_eq(mtp_cache_path(cache, &key, path, sizeof path, &err), 0);
    damage(path);
    ck_assert_int_eq(mtp_cache_has(cache, &key), has_before_get);
    ck_assert_int_eq(mtp_cache_get(cache, &key, back, n, &err), MTP_ECORRUPT);
    snprintf(want, sizeof want, "cache: %s: %s (discarded)", path, what);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(err.code, MTP_ECORRUPT);
    ck_assert(!fixture_exists(path));
    ck_assert_int_eq(mtp_cache_has(cache, &key), 0);
    ck_assert_int_eq(mtp_cache_get(cache, &key, back, n, &err), MTP_ENOTFOUND);
    /* and the next put heals it */
    ck_assert_int_eq(mtp_cache_put(cache, &key, data, n, &err), 0);
    ck_assert_int_eq(mtp_cache_get(cache, &key, back, n, &err), 0);
    ck_assert_mem_eq(back, data, n);
    free(data);
    free(back);
}

static void flip_last_byte(const char *path)
{
    size_t len;
    unsigned char *f = fixture_slurp(path, &len);
    f[len - 1] ^= 0x40;
    fixture_write_file(path, f, len);
    free(f);
}

static void flip_blosc_nbytes(const char *path)
{
    size_t len;
    unsigned char *f = fixture_slurp(path, &len);
    f[112 + 5] ^= 0x01; /* blosc header nbytes, second byte */
    fixture_write_file(path, f, len);
    free(f);
}

static void truncate_payload(const char *path)
{
    ck_assert_int_eq(truncate(path, 112 + 10), 0);
}

static void truncate_header(const char *path)
{
    ck_assert_int_eq(truncate(path, 50), 0);
}

static void huge_nbytes(const char *path)
{
    size_t len;
    unsigned char *f = fixture_slurp(path, &len);
    patch_u64(f + 64, 1ull << 60);
    fixture_write_file(path, f, len);
    free(f);
}

static void huge_stored(const char *path)
{
    size_t len;
    unsigned char *f = fixture_slurp(path, &len);
    patch_u64(f + 104, 1ull << 60);
    fixture_write_file(path, f, len);
    free(f);
}

static void wrong_dtype(const char *path)
{
    size_t len;
    unsigned char *f = fixture_slurp(path, &len);
    f[8] = 3;
    fixture_write_file(path, f, len);
    free(f);
}

static void wrong_box(const char *path)
{
    size_t len;
    unsigned char *f = fixture_slurp(path, &len);
    patch_u64(f + 16 + 8 * 4, 1); /* z0 */
    fixture_write_file(path, f, len);
    free(f);
}

static void bad_magic(const char *path)
{
    size_t len;
    unsigned char *f = fixture_slurp(path, &len);
    f[6] = 'X';
    fixture_write_file(path, f, len);
    free(f);
}

START_TEST(flipped_payload_byte)
{
    /* Noise does not compress: blosc stores it verbatim, so the flip reaches the data. */
    expect_discarded(flip_last_byte, "checksum mismatch", 1);
}
END_TEST

START_TEST(flipped_blosc_header)
{
    expect_discarded(flip_blosc_nbytes, "bad blosc header", 1);
}
END_TEST

START_TEST(truncated_files)
{
    expect_discarded(truncate_payload, "stored size does not match the file size", 0);
    expect_discarded(truncate_header, "truncated header", 0);
}
END_TEST

START_TEST(huge_header_sizes)
{
    expect_discarded(huge_nbytes, "decoded size mismatch", 0);
    expect_discarded(huge_stored, "stored size does not match the file size", 0);
}
END_TEST

START_TEST(wrong_header_fields)
{
    expect_discarded(wrong_dtype, "dtype mismatch", 0);
    expect_discarded(wrong_box, "box mismatch", 0);
    expect_discarded(bad_magic, "bad magic", 0);
}
END_TEST

START_TEST(narrowed_uint64)
{
    /* Label codes 0..8 and some 255s in a uint64 block: stored as uint8. */
    mtp_error err = MTP_ERROR_INIT;
    mtp_block_key key = make_key(MTP_DTYPE_UINT64, 0, 100, 0, 50, 0, 3);
    key.channel = "pixel_labels";
    size_t nvox = 100 * 50 * 3, n = nvox * 8;
    uint64_t *data = malloc(n), *back = malloc(n);
    uint8_t *codes = malloc(nvox), *back8 = malloc(nvox);
    for (size_t i = 0; i < nvox; i++) {
        data[i] = i % 977 == 5 ? 255 : (i / 7) % 9;
        codes[i] = (uint8_t)data[i];
    }
    ck_assert_int_eq(mtp_cache_put(cache, &key, data, n, &err), 0);
    char path[1024];
    ck_assert_int_eq(mtp_cache_path(cache, &key, path, sizeof path, &err), 0);
    size_t len;
    unsigned char *file = fixture_slurp(path, &len);
    ck_assert_mem_eq(file, "MTPBLK2\n", 8);
    ck_assert_uint_eq(get_u32(file + 8), 3);  /* the key's dtype */
    ck_assert_uint_eq(get_u32(file + 12), 1); /* stored as uint8 */
    ck_assert_uint_eq(get_u64(file + 64), nvox);
    unsigned char sha[MTP_SHA256_LEN];
    mtp_sha256(codes, nvox, sha); /* of the bytes as stored */
    ck_assert_mem_eq(file + 72, sha, 32);
    ck_assert_uint_eq(get_u64(file + 104), len - 112);
    ck_assert_int_eq(mtp_cache_has(cache, &key), 1);

    /* Given narrowed already (a byte per voxel, as the client decodes labels), the same
     * file, byte for byte. */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(mtp_cache_put(cache, &key, codes, nvox, &err), 0);
    size_t len2;
    unsigned char *file2 = fixture_slurp(path, &len2);
    ck_assert_uint_eq(len2, len);
    ck_assert_mem_eq(file2, file, len);
    free(file2);
    free(file);
    ck_assert_int_eq(mtp_cache_put(cache, &key, codes, nvox + 1, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "cache: 15001 bytes given for a block of 120000");

    memset(back, 0xAA, n);
    ck_assert_int_eq(mtp_cache_get(cache, &key, back, n, &err), 0);
    ck_assert_mem_eq(back, data, n);
    memset(back8, 0xAA, nvox);
    mtp_cache_overflow over = {7, 7};
    ck_assert_int_eq(mtp_cache_get_u8(cache, &key, back8, nvox, &over, &err), 0);
    ck_assert_mem_eq(back8, codes, nvox);
    ck_assert_uint_eq(over.index, 7); /* untouched */

    /* The same values plus one 300 (the last voxel), under the next key: stored wide. */
    mtp_block_key wide_key = key;
    wide_key.box.z0 = 3;
    wide_key.box.z1 = 6;
    data[nvox - 1] = 300;
    ck_assert_int_eq(mtp_cache_put(cache, &wide_key, data, n, &err), 0);
    char wide_path[1024];
    ck_assert_int_eq(mtp_cache_path(cache, &wide_key, wide_path, sizeof wide_path, &err), 0);
    ck_assert_uint_eq(stored_dtype(wide_path), 3);
    long long narrow_size = file_size(path), wide_size = file_size(wide_path);
    printf("narrowed uint64 block (%zu voxels): %lld bytes; wide: %lld bytes\n", nvox, narrow_size,
           wide_size);
    ck_assert_int_lt(narrow_size * 3, wide_size * 2);
    memset(back, 0xAA, n);
    ck_assert_int_eq(mtp_cache_get(cache, &wide_key, back, n, &err), 0);
    ck_assert_mem_eq(back, data, n);
    memset(back8, 0xAA, nvox);
    ck_assert_int_eq(mtp_cache_get_u8(cache, &wide_key, back8, nvox, &over, &err), MTP_EDATA);
    ck_assert_uint_eq(over.index, nvox - 1);
    ck_assert_uint_eq(over.value, 300);
    char want[1200];
    snprintf(want, sizeof want, "cache: %s: value 300 at voxel 14999 does not fit in uint8",
             wide_path);
    ck_assert_str_eq(err.msg, want);
    codes[nvox - 1] = 300 & 0xFF; /* dst holds the low bytes */
    ck_assert_mem_eq(back8, codes, nvox);
    /* A block with an error is kept: it is the data, not the file, that is wrong. */
    ck_assert_int_eq(mtp_cache_has(cache, &wide_key), 1);
    ck_assert_int_eq(mtp_cache_get_u8(cache, &wide_key, back8, nvox, NULL, &err), MTP_EDATA);
    free(data);
    free(back);
    free(codes);
    free(back8);
}
END_TEST

START_TEST(uint16_unaligned)
{
    /* uint16 blocks, given and read back through odd addresses: narrowed, then wide. */
    mtp_error err = MTP_ERROR_INIT;
    mtp_block_key key = make_key(MTP_DTYPE_UINT16, 0, 30, 0, 20, 0, 5);
    size_t nvox = 30 * 20 * 5, n = nvox * 2;
    unsigned char *data = malloc(n + 1), *back = malloc(n + 1);
    uint8_t *back8 = malloc(nvox + 1);
    for (size_t i = 0; i < nvox; i++) {
        data[1 + 2 * i] = (unsigned char)(i * 31 % 256);
        data[2 + 2 * i] = 0;
    }
    ck_assert_int_eq(mtp_cache_put(cache, &key, data + 1, n, &err), 0);
    char path[1024];
    ck_assert_int_eq(mtp_cache_path(cache, &key, path, sizeof path, &err), 0);
    ck_assert_uint_eq(stored_dtype(path), 1);
    ck_assert_int_eq(mtp_cache_get(cache, &key, back + 1, n, &err), 0);
    ck_assert_mem_eq(back + 1, data + 1, n);
    ck_assert_int_eq(mtp_cache_get_u8(cache, &key, back8 + 1, nvox, NULL, &err), 0);
    for (size_t i = 0; i < nvox; i++)
        ck_assert_uint_eq(back8[1 + i], i * 31 % 256);

    data[2 + 2 * 123] = 1; /* voxel 123 becomes 256 + its low byte */
    data[2 + 2 * 500] = 0xFF;
    ck_assert_int_eq(mtp_cache_put(cache, &key, data + 1, n, &err), 0);
    ck_assert_uint_eq(stored_dtype(path), 2);
    ck_assert_int_eq(mtp_cache_get(cache, &key, back + 1, n, &err), 0);
    ck_assert_mem_eq(back + 1, data + 1, n);
    mtp_cache_overflow over = {0, 0};
    ck_assert_int_eq(mtp_cache_get_u8(cache, &key, back8 + 1, nvox, &over, &err), MTP_EDATA);
    ck_assert_uint_eq(over.index, 123);
    ck_assert_uint_eq(over.value, 256 + 123 * 31 % 256);
    free(data);
    free(back);
    free(back8);
}
END_TEST

START_TEST(get_u8_of_uint8_and_arguments)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_block_key key = make_key(MTP_DTYPE_UINT8, 0, 8, 0, 8, 0, 8);
    unsigned char data[512], back[512];
    fill_noise(data, sizeof data, 9);
    ck_assert_int_eq(mtp_cache_get_u8(cache, &key, back, sizeof back, NULL, &err), MTP_ENOTFOUND);
    ck_assert_int_eq(mtp_cache_put(cache, &key, data, sizeof data, &err), 0);
    ck_assert_int_eq(mtp_cache_get_u8(cache, &key, back, sizeof back, NULL, &err), 0);
    ck_assert_mem_eq(back, data, sizeof data);
    ck_assert_int_eq(mtp_cache_get_u8(cache, &key, back, 511, NULL, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "cache: 511 voxels asked for a block of 512");
    key.dtype = MTP_DTYPE_UINT64; /* voxels, not bytes, whatever the dtype */
    ck_assert_int_eq(mtp_cache_get_u8(cache, &key, back, 4096, NULL, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "cache: 4096 voxels asked for a block of 512");
    ck_assert_int_eq(mtp_cache_get_u8(cache, &key, NULL, 512, NULL, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "cache: no cache or destination");
    ck_assert_int_eq(mtp_cache_get_u8(NULL, &key, back, 512, NULL, &err), MTP_EINVAL);
    key = make_key(MTP_DTYPE_UINT64, 0, 4096, 0, 4096, 0, 16);
    ck_assert_int_eq(mtp_cache_get_u8(cache, &key, back, (size_t)4096 * 4096 * 16, NULL, &err),
                     MTP_ERANGE);
    ck_assert_str_eq(err.msg, "cache: block of 2147483648 bytes exceeds one blosc chunk");
}
END_TEST

/* A uint64 block of noise bytes: narrowed, and incompressible so blosc stores it verbatim. */
static void put_noise_u64(const mtp_block_key *key, uint64_t *data, size_t nvox)
{
    mtp_error err = MTP_ERROR_INIT;
    unsigned char *bytes = malloc(nvox);
    fill_noise(bytes, nvox, 11);
    for (size_t i = 0; i < nvox; i++)
        data[i] = bytes[i];
    free(bytes);
    ck_assert_int_eq(mtp_cache_put(cache, key, data, nvox * 8, &err), 0);
}

START_TEST(narrowed_damage)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_block_key key = make_key(MTP_DTYPE_UINT64, 0, 64, 0, 64, 0, 2);
    size_t nvox = 64 * 64 * 2;
    uint64_t *data = malloc(nvox * 8), *back = malloc(nvox * 8);
    uint8_t *back8 = malloc(nvox);
    char path[1024], want[1200];
    ck_assert_int_eq(mtp_cache_path(cache, &key, path, sizeof path, &err), 0);
    snprintf(want, sizeof want, "cache: %s: checksum mismatch (discarded)", path);

    /* A flipped payload byte, seen by get_u8 and by get. */
    put_noise_u64(&key, data, nvox);
    ck_assert_uint_eq(stored_dtype(path), 1);
    ck_assert_int_lt(file_size(path), (long long)nvox + 200);
    flip_last_byte(path);
    ck_assert_int_eq(mtp_cache_has(cache, &key), 1);
    ck_assert_int_eq(mtp_cache_get_u8(cache, &key, back8, nvox, NULL, &err), MTP_ECORRUPT);
    ck_assert_str_eq(err.msg, want);
    ck_assert(!fixture_exists(path));
    ck_assert_int_eq(mtp_cache_get_u8(cache, &key, back8, nvox, NULL, &err), MTP_ENOTFOUND);
    put_noise_u64(&key, data, nvox);
    flip_last_byte(path);
    ck_assert_int_eq(mtp_cache_get(cache, &key, back, nvox * 8, &err), MTP_ECORRUPT);
    ck_assert_str_eq(err.msg, want);
    ck_assert(!fixture_exists(path));

    /* Header fields that contradict each other. */
    const struct {
        uint32_t stored;
        const char *what;
    } cases[] = {
        {2, "stored dtype invalid"}, {0, "stored dtype invalid"}, {3, "decoded size mismatch"}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        put_noise_u64(&key, data, nvox);
        size_t len;
        unsigned char *f = fixture_slurp(path, &len);
        f[12] = (unsigned char)cases[c].stored;
        fixture_write_file(path, f, len);
        free(f);
        ck_assert_int_eq(mtp_cache_has(cache, &key), 0);
        ck_assert_int_eq(mtp_cache_get_u8(cache, &key, back8, nvox, NULL, &err), MTP_ECORRUPT);
        snprintf(want, sizeof want, "cache: %s: %s (discarded)", path, cases[c].what);
        ck_assert_str_eq(err.msg, want);
        ck_assert(!fixture_exists(path));
    }
    /* Healed by the next put. */
    put_noise_u64(&key, data, nvox);
    ck_assert_int_eq(mtp_cache_get(cache, &key, back, nvox * 8, &err), 0);
    ck_assert_mem_eq(back, data, nvox * 8);
    free(data);
    free(back);
    free(back8);
}
END_TEST

/* Write `n` bytes for `key` as a format 1 file, the way the code before narrowing did. */
static void write_v1(const mtp_block_key *key, const void *data, size_t n, char *path,
                     size_t path_size)
{
    mtp_error err = MTP_ERROR_INIT;
    size_t size = mtp_dtype_size(key->dtype);
    ck_assert_int_eq(mtp_cache_put(cache, key, data, n, &err), 0); /* makes the directories */
    ck_assert_int_eq(mtp_cache_path(cache, key, path, path_size, &err), 0);
    unsigned char *buf = malloc(108 + n + BLOSC_MAX_OVERHEAD);
    ck_assert_ptr_nonnull(buf);
    memset(buf, 0, 108);
    memcpy(buf, "MTPBLK1\n", 8);
    buf[8] = (unsigned char)key->dtype;
    const int64_t box[6] = {key->box.x0, key->box.x1, key->box.y0,
                            key->box.y1, key->box.z0, key->box.z1};
    for (int i = 0; i < 6; i++)
        patch_u64(buf + 12 + 8 * i, (uint64_t)box[i]);
    patch_u64(buf + 60, n);
    mtp_sha256(data, n, buf + 68);
    int cbytes = blosc_compress_ctx(1, BLOSC_SHUFFLE, size, n, data, buf + 108,
                                    n + BLOSC_MAX_OVERHEAD, "lz4", 0, 1);
    ck_assert_int_gt(cbytes, 0);
    patch_u64(buf + 100, (uint64_t)cbytes);
    fixture_write_file(path, buf, 108 + (size_t)cbytes);
    free(buf);
}

START_TEST(format_1_files_still_read)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_block_key key = make_key(MTP_DTYPE_UINT64, 0, 40, 0, 30, 0, 4);
    key.channel = "roi_labels";
    size_t nvox = 40 * 30 * 4, n = nvox * 8;
    uint64_t *data = malloc(n), *back = malloc(n);
    uint8_t *back8 = malloc(nvox);
    for (size_t i = 0; i < nvox; i++)
        data[i] = (i / 13) % 9;
    char path[1024], want[1200];

    /* Small values: get returns them, get_u8 narrows them. */
    write_v1(&key, data, n, path, sizeof path);
    size_t len;
    unsigned char *f = fixture_slurp(path, &len);
    ck_assert_mem_eq(f, "MTPBLK1\n", 8);
    free(f);
    ck_assert_int_eq(mtp_cache_has(cache, &key), 1);
    memset(back, 0xAA, n);
    ck_assert_int_eq(mtp_cache_get(cache, &key, back, n, &err), 0);
    ck_assert_mem_eq(back, data, n);
    ck_assert_int_eq(mtp_cache_get_u8(cache, &key, back8, nvox, NULL, &err), 0);
    for (size_t i = 0; i < nvox; i++)
        ck_assert_uint_eq(back8[i], data[i]);

    /* A value > 255: get_u8 names it. */
    data[777] = 1000;
    write_v1(&key, data, n, path, sizeof path);
    mtp_cache_overflow over = {0, 0};
    ck_assert_int_eq(mtp_cache_get_u8(cache, &key, back8, nvox, &over, &err), MTP_EDATA);
    ck_assert_uint_eq(over.index, 777);
    ck_assert_uint_eq(over.value, 1000);
    ck_assert_int_eq(mtp_cache_get(cache, &key, back, n, &err), 0);
    ck_assert_mem_eq(back, data, n);

    /* A uint8 block. */
    mtp_block_key key8 = make_key(MTP_DTYPE_UINT8, 8, 16, 0, 8, 0, 8);
    unsigned char img[512], img_back[512];
    char path8[1024];
    fill_noise(img, sizeof img, 12);
    write_v1(&key8, img, sizeof img, path8, sizeof path8);
    ck_assert_int_eq(mtp_cache_get(cache, &key8, img_back, sizeof img_back, &err), 0);
    ck_assert_mem_eq(img_back, img, sizeof img);
    memset(img_back, 0, sizeof img_back);
    ck_assert_int_eq(mtp_cache_get_u8(cache, &key8, img_back, sizeof img_back, NULL, &err), 0);
    ck_assert_mem_eq(img_back, img, sizeof img);

    /* Damage is found as before. */
    flip_last_byte(path8);
    ck_assert_int_eq(mtp_cache_get_u8(cache, &key8, img_back, sizeof img_back, NULL, &err),
                     MTP_ECORRUPT);
    snprintf(want, sizeof want, "cache: %s: checksum mismatch (discarded)", path8);
    ck_assert_str_eq(err.msg, want);
    ck_assert(!fixture_exists(path8));
    write_v1(&key8, img, sizeof img, path8, sizeof path8);
    ck_assert_int_eq(truncate(path8, 100), 0); /* shorter than a format 1 header */
    ck_assert_int_eq(mtp_cache_has(cache, &key8), 0);
    ck_assert_int_eq(mtp_cache_get(cache, &key8, img_back, sizeof img_back, &err), MTP_ECORRUPT);
    snprintf(want, sizeof want, "cache: %s: truncated header (discarded)", path8);
    ck_assert_str_eq(err.msg, want);
    write_v1(&key8, img, sizeof img, path8, sizeof path8);
    ck_assert_int_eq(truncate(path8, 108 + 10), 0);
    ck_assert_int_eq(mtp_cache_get(cache, &key8, img_back, sizeof img_back, &err), MTP_ECORRUPT);
    snprintf(want, sizeof want,
             "cache: %s: stored size does not match the file size "
             "(discarded)",
             path8);
    ck_assert_str_eq(err.msg, want);

    /* A put replaces a format 1 file with a format 2 one. */
    data[777] = 7;
    write_v1(&key, data, n, path, sizeof path);
    ck_assert_int_eq(mtp_cache_put(cache, &key, data, n, &err), 0);
    ck_assert_uint_eq(stored_dtype(path), 1);
    ck_assert_int_eq(mtp_cache_get(cache, &key, back, n, &err), 0);
    ck_assert_mem_eq(back, data, n);
    free(data);
    free(back);
    free(back8);
}
END_TEST

START_TEST(stray_tmp_file_is_not_a_block)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_block_key key = make_key(MTP_DTYPE_UINT8, 0, 8, 0, 8, 0, 8);
    unsigned char data[512];
    fill_noise(data, sizeof data, 4);
    ck_assert_int_eq(mtp_cache_put(cache, &key, data, sizeof data, &err), 0);
    char path[1024], tmp[1100];
    ck_assert_int_eq(mtp_cache_path(cache, &key, path, sizeof path, &err), 0);
    /* What a process killed between write and rename leaves: a complete tmp, no block. */
    snprintf(tmp, sizeof tmp, "%s.tmp.12345.0", path);
    ck_assert_int_eq(rename(path, tmp), 0);
    ck_assert_int_eq(mtp_cache_has(cache, &key), 0);
    ck_assert_int_eq(mtp_cache_get(cache, &key, data, sizeof data, &err), MTP_ENOTFOUND);
    ck_assert_int_eq(mtp_cache_put(cache, &key, data, sizeof data, &err), 0);
    ck_assert_int_eq(mtp_cache_has(cache, &key), 1);
    ck_assert(fixture_exists(tmp)); /* left alone */
}
END_TEST

/* A pid that no longer exists: a child that has exited and been reaped. */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return pid;
}

static void plant(const char *path, time_t mtime)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("half a block", f);
    fclose(f);
    struct timespec times[2] = {{mtime, 0}, {mtime, 0}};
    ck_assert_int_eq(utimensat(AT_FDCWD, path, times, 0), 0);
}

START_TEST(open_removes_only_dead_writers_temporaries)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_block_key key = make_key(MTP_DTYPE_UINT8, 0, 8, 0, 8, 0, 8);
    unsigned char data[512];
    fill_noise(data, sizeof data, 9);
    ck_assert_int_eq(mtp_cache_put(cache, &key, data, sizeof data, &err), 0);
    char path[1024], host[256] = "";
    ck_assert_int_eq(mtp_cache_path(cache, &key, path, sizeof path, &err), 0);
    gethostname(host, sizeof host - 1);
    for (char *p = host; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-'))
            *p = '_';
    /* Host names may hold dots and digits: the name is read from its end. */
    char dead[1300], live[1300], old_style[1300], foreign_new[1300], foreign_old[1300];
    time_t now = time(NULL);
    snprintf(dead, sizeof dead, "%s.tmp.%s.%ld.3", path, host, (long)dead_pid());
    snprintf(live, sizeof live, "%s.tmp.%s.%ld.4", path, host, (long)getpid());
    snprintf(old_style, sizeof old_style, "%s.tmp.%ld.0", path, (long)dead_pid());
    snprintf(foreign_new, sizeof foreign_new, "%s.tmp.node7.cluster.1.5", path);
    snprintf(foreign_old, sizeof foreign_old, "%s.tmp.node7.cluster.1.6", path);
    plant(dead, now);
    plant(live, now);
    plant(old_style, now);
    plant(foreign_new, now - 3600);
    plant(foreign_old, now - 2 * 24 * 3600);

    mtp_cache *again = NULL;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/c", root);
    ck_assert_int_eq(mtp_cache_open(&again, dir, &err), 0);
    ck_assert(!fixture_exists(dead));
    ck_assert(!fixture_exists(old_style));
    ck_assert(!fixture_exists(foreign_old));
    ck_assert(fixture_exists(live));
    ck_assert(fixture_exists(foreign_new));
    ck_assert_int_eq(mtp_cache_has(again, &key), 1); /* the block itself stays */
    mtp_cache_free(again);
}
END_TEST

/* Processes sharing one cache with no lock: each writes every block (the same keys, the same
 * bytes) plus blocks of its own, all at once. */
START_TEST(concurrent_processes_share_the_cache)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/shared", root);
    enum { PROCS = 4, SHARED = 24, OWN = 8 };
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        ck_assert_int_ge(pids[p], 0);
        if (pids[p] != 0)
            continue;
        mtp_error err = MTP_ERROR_INIT;
        mtp_cache *c = NULL;
        int bad = mtp_cache_open(&c, dir, &err) != 0;
        unsigned char data[8 * 8 * 8];
        for (int i = 0; i < SHARED + OWN && !bad; i++) {
            int x = i < SHARED ? 8 * i : 8 * (SHARED + p * OWN + i - SHARED);
            mtp_block_key key = make_key(MTP_DTYPE_UINT8, x, x + 8, 0, 8, 0, 8);
            fill_noise(data, sizeof data, (uint64_t)x);
            bad |= mtp_cache_put(c, &key, data, sizeof data, &err) != 0;
        }
        mtp_cache_free(c);
        _exit(bad);
    }
    for (int p = 0; p < PROCS; p++) {
        int status;
        ck_assert_int_eq(waitpid(pids[p], &status, 0), pids[p]);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    mtp_error err = MTP_ERROR_INIT;
    mtp_cache *c = NULL;
    ck_assert_int_eq(mtp_cache_open(&c, dir, &err), 0);
    unsigned char want[8 * 8 * 8], got[8 * 8 * 8];
    for (int i = 0; i < SHARED + PROCS * OWN; i++) {
        mtp_block_key key = make_key(MTP_DTYPE_UINT8, 8 * i, 8 * i + 8, 0, 8, 0, 8);
        fill_noise(want, sizeof want, (uint64_t)(8 * i));
        ck_assert_msg(mtp_cache_get(c, &key, got, sizeof got, &err) == 0, "%s", err.msg);
        ck_assert_mem_eq(got, want, sizeof want);
    }
    mtp_cache_free(c);
    /* No temporary is left behind by anyone. */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test -z \"$(find '%s' -name '*.tmp.*')\"", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(server_is_part_of_the_key)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_block_key a = make_key(MTP_DTYPE_UINT8, 0, 8, 0, 8, 0, 8);
    mtp_block_key b = a;
    b.server = "http://127.0.0.1:8080";
    char pa[1024], pb[1024], want[1024];
    ck_assert_int_eq(mtp_cache_path(cache, &a, pa, sizeof pa, &err), 0);
    ck_assert_int_eq(mtp_cache_path(cache, &b, pb, sizeof pb, &err), 0);
    ck_assert_str_ne(pa, pb);
    snprintf(want, sizeof want,
             "%s/c/v1/d30a576c03187167/prasad/prasad2020/image/res0/x0-8_y0-8_z0-8.uint8.blk",
             root);
    ck_assert_str_eq(pb, want);
    unsigned char data[512], back[512];
    fill_noise(data, sizeof data, 5);
    ck_assert_int_eq(mtp_cache_put(cache, &a, data, sizeof data, &err), 0);
    ck_assert_int_eq(mtp_cache_has(cache, &b), 0);
    ck_assert_int_eq(mtp_cache_get(cache, &b, back, sizeof back, &err), MTP_ENOTFOUND);

    /* A path too long for the buffer is an error, not a truncation. */
    char small[40];
    ck_assert_int_eq(mtp_cache_path(cache, &a, small, sizeof small, &err), MTP_ERANGE);
    ck_assert_str_eq(err.msg, "cache: path longer than 40 bytes");
}
END_TEST

START_TEST(invalid_arguments)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_block_key key = make_key(MTP_DTYPE_UINT8, 0, 8, 0, 8, 0, 8);
    unsigned char data[512];
    memset(data, 7, sizeof data);
    ck_assert_int_eq(mtp_cache_put(cache, &key, data, 511, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "cache: 511 bytes given for a block of 512");
    ck_assert_int_eq(mtp_cache_get(cache, &key, data, 513, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "cache: 513 bytes asked for a block of 512");
    key.experiment = "..";
    ck_assert_int_eq(mtp_cache_put(cache, &key, data, sizeof data, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "cache: collection/experiment/channel must be plain names");
    key.experiment = "a/b";
    ck_assert_int_eq(mtp_cache_has(cache, &key), 0);
    key.experiment = "prasad2020";
    key.dtype = MTP_DTYPE_UNKNOWN;
    ck_assert_int_eq(mtp_cache_put(cache, &key, data, sizeof data, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "cache: unknown dtype");
    key.dtype = MTP_DTYPE_UINT8;
    key.box.z1 = 0;
    ck_assert_int_eq(mtp_cache_put(cache, &key, data, sizeof data, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "cache: empty or out-of-range box");
    /* Over one blosc chunk: refused before anything is touched. */
    key = make_key(MTP_DTYPE_UINT64, 0, 4096, 0, 4096, 0, 16);
    ck_assert_int_eq(mtp_cache_put(cache, &key, data, (size_t)4096 * 4096 * 16 * 8, &err),
                     MTP_ERANGE);
    ck_assert_str_eq(err.msg, "cache: block of 2147483648 bytes exceeds one blosc chunk");

    /* A cache root that is a file. */
    char file[300];
    snprintf(file, sizeof file, "%s/plain", root);
    fixture_write_file(file, (const unsigned char *)"x", 1);
    mtp_cache *other = (mtp_cache *)&err;
    ck_assert_int_eq(mtp_cache_open(&other, file, &err), MTP_EIO);
    ck_assert_ptr_null(other);
    char want[400];
    snprintf(want, sizeof want, "cache: %s: Not a directory", file);
    ck_assert_str_eq(err.msg, want);
    mtp_cache_free(NULL);
}
END_TEST

START_TEST(default_dir_from_environment)
{
    mtp_error err = MTP_ERROR_INIT;
    char buf[256];
    setenv("XDG_CACHE_HOME", "/var/cache/u", 1);
    setenv("HOME", "/home/u", 1);
    ck_assert_int_eq(mtp_cache_default_dir(buf, sizeof buf, &err), 0);
    ck_assert_str_eq(buf, "/var/cache/u/mtneuro-pack");
    setenv("XDG_CACHE_HOME", "", 1);
    ck_assert_int_eq(mtp_cache_default_dir(buf, sizeof buf, &err), 0);
    ck_assert_str_eq(buf, "/home/u/.cache/mtneuro-pack");
    unsetenv("XDG_CACHE_HOME");
    ck_assert_int_eq(mtp_cache_default_dir(buf, sizeof buf, &err), 0);
    ck_assert_str_eq(buf, "/home/u/.cache/mtneuro-pack");
    ck_assert_int_eq(mtp_cache_default_dir(buf, 20, &err), MTP_ERANGE);
    ck_assert_str_eq(err.msg, "cache: default directory longer than 20 bytes");
    unsetenv("HOME");
    ck_assert_int_eq(mtp_cache_default_dir(buf, sizeof buf, &err), MTP_ENOTFOUND);
    ck_assert_str_eq(err.msg, "cache: neither XDG_CACHE_HOME nor HOME is set");
}
END_TEST

/* Concurrency: 4 threads put and get 50 distinct blocks each. */
typedef struct worker {
    int id;
    int failures;
} worker;

static void *worker_run(void *arg)
{
    worker *w = arg;
    unsigned char data[16 * 16 * 4], back[sizeof data];
    for (int i = 0; i < 50; i++) {
        mtp_error err = MTP_ERROR_INIT;
        mtp_block_key key =
            make_key(MTP_DTYPE_UINT8, 16 * w->id, 16 * w->id + 16, 0, 16, 4 * i, 4 * i + 4);
        fill_noise(data, sizeof data, (uint64_t)(w->id * 1000 + i));
        if (i % 2)
            memset(data, i, sizeof data / 2); /* some compressible blocks too */
        if (mtp_cache_put(cache, &key, data, sizeof data, &err) != 0 ||
            mtp_cache_get(cache, &key, back, sizeof back, &err) != 0 ||
            memcmp(data, back, sizeof data) != 0 || mtp_cache_has(cache, &key) != 1)
            w->failures++;
    }
    return NULL;
}

START_TEST(concurrent_put_get)
{
    pthread_t threads[4];
    worker workers[4];
    for (int t = 0; t < 4; t++) {
        workers[t] = (worker){t, 0};
        ck_assert_int_eq(pthread_create(&threads[t], NULL, worker_run, &workers[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(threads[t], NULL);
        ck_assert_int_eq(workers[t].failures, 0);
    }
    /* Everything is still there afterwards, from the main thread. */
    unsigned char back[16 * 16 * 4];
    mtp_error err = MTP_ERROR_INIT;
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < 50; i++) {
            mtp_block_key key =
                make_key(MTP_DTYPE_UINT8, 16 * t, 16 * t + 16, 0, 16, 4 * i, 4 * i + 4);
            ck_assert_int_eq(mtp_cache_get(cache, &key, back, sizeof back, &err), 0);
        }
}
END_TEST

START_TEST(throughput_256x256x64_uint64)
{
    /* A timing for the report, not an assertion: label-like data (codes 0..3 in runs). */
    mtp_error err = MTP_ERROR_INIT;
    size_t nvox = 256 * 256 * 64, n = nvox * 8;
    uint64_t *data = malloc(n), *back = malloc(n);
    ck_assert_ptr_nonnull(data);
    ck_assert_ptr_nonnull(back);
    for (size_t i = 0; i < nvox; i++)
        data[i] = ((i / 37) ^ (i / 256 / 11)) % 4;
    uint8_t *back8 = malloc(nvox);
    ck_assert_ptr_nonnull(back8);
    const int reps = 5;
    double put = 0, get = 0, get_u8 = 0;
    for (int r = 0; r < reps; r++) {
        mtp_block_key key = make_key(MTP_DTYPE_UINT64, 0, 256, 0, 256, 64 * r, 64 * r + 64);
        double t0 = fixture_now_s();
        ck_assert_int_eq(mtp_cache_put(cache, &key, data, n, &err), 0);
        double t1 = fixture_now_s();
        ck_assert_int_eq(mtp_cache_get(cache, &key, back, n, &err), 0);
        double t2 = fixture_now_s();
        ck_assert_int_eq(mtp_cache_get_u8(cache, &key, back8, nvox, NULL, &err), 0);
        double t3 = fixture_now_s();
        put += t1 - t0;
        get += t2 - t1;
        get_u8 += t3 - t2;
    }
    ck_assert_mem_eq(back, data, n);
    for (size_t i = 0; i < nvox; i++)
        ck_assert_uint_eq(back8[i], data[i]);
    free(back8);
    mtp_block_key key = make_key(MTP_DTYPE_UINT64, 0, 256, 0, 256, 0, 64);
    char path[1024];
    ck_assert_int_eq(mtp_cache_path(cache, &key, path, sizeof path, &err), 0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    /* MB/s of uint64 voxels (8 bytes each) for all three, to compare them. */
    printf("cache throughput (256x256x64 uint64, %zu MB, file %lld bytes): put %.0f MB/s, "
           "get %.0f MB/s, get_u8 %.0f MB/s\n",
           n >> 20, (long long)st.st_size, reps * (double)n / 1e6 / put,
           reps * (double)n / 1e6 / get, reps * (double)n / 1e6 / get_u8);
    free(data);
    free(back);
}
END_TEST

Suite *mtp_test_suite(void)
{
    Suite *s = suite_create("cache");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, sha256_known_vector);
    tcase_add_test(tc, round_trip_uint8);
    tcase_add_test(tc, round_trip_uint64);
    tcase_add_test(tc, missing_key);
    tcase_add_test(tc, flipped_payload_byte);
    tcase_add_test(tc, flipped_blosc_header);
    tcase_add_test(tc, truncated_files);
    tcase_add_test(tc, huge_header_sizes);
    tcase_add_test(tc, wrong_header_fields);
    tcase_add_test(tc, narrowed_uint64);
    tcase_add_test(tc, uint16_unaligned);
    tcase_add_test(tc, get_u8_of_uint8_and_arguments);
    tcase_add_test(tc, narrowed_damage);
    tcase_add_test(tc, format_1_files_still_read);
    tcase_add_test(tc, stray_tmp_file_is_not_a_block);
    tcase_add_test(tc, server_is_part_of_the_key);
    tcase_add_test(tc, invalid_arguments);
    tcase_add_test(tc, default_dir_from_environment);
    tcase_add_test(tc, concurrent_put_get);
    tcase_add_test(tc, open_removes_only_dead_writers_temporaries);
    tcase_add_test(tc, concurrent_processes_share_the_cache);
    tcase_add_test(tc, throughput_256x256x64_uint64);
    suite_add_tcase(s, tc);
    return s;
}
