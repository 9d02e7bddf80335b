#include "mtp/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <blosc.h>

#include "mtp/codec.h"
#include "mtp/config.h"
#include "mtp/fsutil.h"
#include "mtp/sha256.h"

/*
 * .blk file format, version 2 (all integers little-endian, no padding):
 *   offset  size  field
 *        0     8  magic "MTPBLK2\n"
 *        8     4  dtype (u32): the key's mtp_dtype (1 uint8, 2 uint16, 3 uint64), what
 *                 mtp_cache_get returns
 *       12     4  stored dtype (u32): the dtype of the voxels as stored: the key's dtype, or
 *                 1 (uint8) when the key's dtype is wider and every value is <= 255
 *                 ("narrowed"; mtp_cache_get widens them again)
 *       16    48  box x0 x1 y0 y1 z0 z1 (6 × i64)
 *       64     8  decoded byte count (u64) = voxels × stored dtype size
 *       72    32  SHA-256 of the decoded bytes as stored (after narrowing, if narrowed)
 *      104     8  stored byte count (u64) = file size − 112
 *      112     …  one blosc1 chunk: lz4, clevel 1, byte shuffle by the stored dtype size
 * Narrowing is why the build's uint64 label channels (codes 0..8) cost 1 byte per voxel to
 * decode and checksum instead of 8.
 *
 * Version 1 (magic "MTPBLK1\n", written before narrowing existed) is still read, so old
 * caches stay valid: no stored dtype field (it is the key's dtype), so every later field
 * sits 4 bytes earlier — box at 12, decoded byte count at 60, SHA-256 at 68, stored byte
 * count at 100, blosc chunk at 108. Only version 2 is written.
 */
#define BLK_MAGIC_LEN 8
#define BLK_OFF_DTYPE 8

#define BLK1_MAGIC "MTPBLK1\n"
#define BLK1_HEADER 108

#define BLK2_MAGIC "MTPBLK2\n"
#define BLK2_OFF_STORED_DTYPE 12
#define BLK2_HEADER 112
#define BLK_HEADER_MAX BLK2_HEADER

/* Longest path the cache builds (file names are short; the root is the caller's). */
#define CACHE_PATH_MAX 4096

struct mtp_cache {
    char *dir;
};

/* Makes temporary names unique among the threads of this process (the pid does the rest). */

typedef struct blk_header {
    size_t length;         /* header bytes: BLK1_HEADER or BLK2_HEADER */
    uint32_t dtype;        /* the key's dtype */
    uint32_t stored_dtype; /* the stored voxels' dtype */
    mtp_box box;
    uint64_t nbytes; /* decoded bytes as stored */
    unsigned char sha[MTP_SHA256_LEN];
    uint64_t stored; /* compressed bytes after the header */
} blk_header;

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void encode_header(const blk_header *h, unsigned char out[BLK2_HEADER])
{
    const int64_t box[6] = {h->box.x0, h->box.x1, h->box.y0, h->box.y1, h->box.z0, h->box.z1};
    unsigned char *p = out + BLK2_OFF_STORED_DTYPE + 4;
    memcpy(out, BLK2_MAGIC, BLK_MAGIC_LEN);
    put_u32(out + BLK_OFF_DTYPE, h->dtype);
    put_u32(out + BLK2_OFF_STORED_DTYPE, h->stored_dtype);
    for (int i = 0; i < 6; i++, p += 8)
        put_u64(p, (uint64_t)box[i]);
    put_u64(p, h->nbytes);
    memcpy(p + 8, h->sha, MTP_SHA256_LEN);
    put_u64(p + 8 + MTP_SHA256_LEN, h->stored);
}

/* The header length a file's first 8 bytes announce; 0 if they are no known magic. */
static size_t header_length(const unsigned char magic[BLK_MAGIC_LEN])
{
    if (memcmp(magic, BLK2_MAGIC, BLK_MAGIC_LEN) == 0)
        return BLK2_HEADER;
    if (memcmp(magic, BLK1_MAGIC, BLK_MAGIC_LEN) == 0)
        return BLK1_HEADER;
    return 0;
}

/* Decode a header of header_length(in) bytes. */
static void decode_header(const unsigned char *in, blk_header *h)
{
    int64_t box[6];
    const unsigned char *p;
    h->length = header_length(in);
    h->dtype = get_u32(in + BLK_OFF_DTYPE);
    if (h->length == BLK2_HEADER) {
        h->stored_dtype = get_u32(in + BLK2_OFF_STORED_DTYPE);
        p = in + BLK2_OFF_STORED_DTYPE + 4;
    } else {
        h->stored_dtype = h->dtype;
        p = in + BLK_OFF_DTYPE + 4;
    }
    for (int i = 0; i < 6; i++, p += 8)
        box[i] = (int64_t)get_u64(p);
    h->box = (mtp_box){box[0], box[1], box[2], box[3], box[4], box[5]};
    h->nbytes = get_u64(p);
    memcpy(h->sha, p + 8, MTP_SHA256_LEN);
    h->stored = get_u64(p + 8 + MTP_SHA256_LEN);
}

/* strerror is not thread-safe; the XSI strerror_r (what _POSIX_C_SOURCE selects) is. */
static const char *errtext(int e, char *buf, size_t n)
{
    if (strerror_r(e, buf, n) != 0)
        snprintf(buf, n, "error %d", e);
    return buf;
}

static int io_error(mtp_error *err, const char *path, int e)
{
    char msg[128];
    return mtp_error_set(err, MTP_EIO, "cache: %s: %s", path, errtext(e, msg, sizeof msg));
}

/* A name used as one path component: non-empty, no '/', not "." or "..". */
static int component_ok(const char *s)
{
    if (s == NULL || s[0] == '\0' || strlen(s) >= MTP_TEXT_MAX)
        return 0;
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    return strchr(s, '/') == NULL;
}

static int key_ok(const mtp_block_key *key, mtp_error *err)
{
    if (key == NULL || key->server == NULL)
        return mtp_error_set(err, MTP_EINVAL, "cache: no key or no server");
    if (!component_ok(key->collection) || !component_ok(key->experiment) ||
        !component_ok(key->channel))
        return mtp_error_set(err, MTP_EINVAL,
                             "cache: collection/experiment/channel must be "
                             "plain names");
    if (key->resolution < 0 || key->resolution > 9)
        return mtp_error_set(err, MTP_EINVAL, "cache: resolution %d out of range", key->resolution);
    if (mtp_dtype_size(key->dtype) == 0)
        return mtp_error_set(err, MTP_EINVAL, "cache: unknown dtype");
    const mtp_box *b = &key->box;
    if (b->x0 < 0 || b->y0 < 0 || b->z0 < 0 || b->x1 > MTP_MAX_COORD || b->y1 > MTP_MAX_COORD ||
        b->z1 > MTP_MAX_COORD || mtp_box_voxels(b) == 0)
        return mtp_error_set(err, MTP_EINVAL, "cache: empty or out-of-range box");
    return 0;
}

/* The decoded size of the key's block; 0 if it overflows (boxes are capped, so never). */
static uint64_t key_nbytes(const mtp_block_key *key)
{
    return mtp_box_voxels(&key->box) * mtp_dtype_size(key->dtype);
}

static int build_path(const mtp_cache *cache, const mtp_block_key *key, char *buf, size_t n,
                      mtp_error *err)
{
    char server_hex[MTP_SHA256_HEX_SIZE];
    int rc = mtp_sha256_hex(key->server, strlen(key->server), server_hex);
    if (rc < 0)
        return mtp_error_set(err, rc, "cache: cannot hash the server URL");
    server_hex[16] = '\0';
    const mtp_box *b = &key->box;
    int len =
        snprintf(buf, n, "%s/v1/%s/%s/%s/%s/res%d/x%lld-%lld_y%lld-%lld_z%lld-%lld.%s.blk",
                 cache->dir, server_hex, key->collection, key->experiment, key->channel,
                 key->resolution, (long long)b->x0, (long long)b->x1, (long long)b->y0,
                 (long long)b->y1, (long long)b->z0, (long long)b->z1, mtp_dtype_name(key->dtype));
    if (len < 0 || (size_t)len >= n)
        return mtp_error_set(err, MTP_ERANGE, "cache: path longer than %zu bytes", n);
    return 0;
}

/* mkdir -p with mode 0755; concurrent creators are fine (EEXIST is success). */
static int make_dirs(const char *dir, mtp_error *err)
{
    char path[CACHE_PATH_MAX];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof path)
        return mtp_error_set(err, MTP_ERANGE, "cache: directory name too long");
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return io_error(err, path, errno);
        path[i] = saved;
    }
    struct stat st;
    if (stat(dir, &st) != 0)
        return io_error(err, dir, errno);
    if (!S_ISDIR(st.st_mode))
        return io_error(err, dir, ENOTDIR);
    return 0;
}

/* Reads exactly n bytes: 0; errno on error; -1 on end of file first. */
static int read_all(int fd, unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return errno;
        if (r == 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int mtp_cache_open(mtp_cache **out, const char *dir, mtp_error *err)
{
    int rc = 0;
    mtp_cache *cache = NULL;
    if (out == NULL)
        return mtp_error_set(err, MTP_EINVAL, "cache: no output pointer");
    *out = NULL;
    if (dir == NULL || dir[0] == '\0')
        return mtp_error_set(err, MTP_EINVAL, "cache: no directory");
    /* Leave room for the key's part of every path. */
    if (strlen(dir) > CACHE_PATH_MAX - 1024)
        return mtp_error_set(err, MTP_ERANGE, "cache: directory name too long");
    rc = make_dirs(dir, err);
    if (rc < 0)
        goto out;
    /* Blocks half-written by processes that died (SIGKILL, power loss): those of live
     * processes, maybe fetching into this cache right now, stay. */
    rc = mtp_atomic_remove_stale(dir, NULL, err);
    if (rc < 0) {
        mtp_error_prefix(err, "cache");
        goto out;
    }
    cache = calloc(1, sizeof *cache);
    if (cache == NULL) {
        rc = mtp_error_set(err, MTP_ENOMEM, "cache: out of memory");
        goto out;
    }
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    cache->dir = malloc(len + 1);
    if (cache->dir == NULL) {
        rc = mtp_error_set(err, MTP_ENOMEM, "cache: out of memory");
        goto out;
    }
    memcpy(cache->dir, dir, len);
    cache->dir[len] = '\0';
    *out = cache;
    cache = NULL;
out:
    mtp_cache_free(cache);
    return rc;
}

void mtp_cache_free(mtp_cache *cache)
{
    if (cache == NULL)
        return;
    free(cache->dir);
    free(cache);
}

int mtp_cache_default_dir(char *buf, size_t n, mtp_error *err)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int len;
    if (xdg != NULL && xdg[0] != '\0')
        len = snprintf(buf, n, "%s/mtneuro-pack", xdg);
    else if (home != NULL && home[0] != '\0')
        len = snprintf(buf, n, "%s/.cache/mtneuro-pack", home);
    else
        return mtp_error_set(err, MTP_ENOTFOUND, "cache: neither XDG_CACHE_HOME nor HOME is set");
    if (len < 0 || (size_t)len >= n)
        return mtp_error_set(err, MTP_ERANGE, "cache: default directory longer than %zu bytes", n);
    return 0;
}

int mtp_cache_path(mtp_cache *cache, const mtp_block_key *key, char *buf, size_t n, mtp_error *err)
{
    if (cache == NULL || buf == NULL)
        return mtp_error_set(err, MTP_EINVAL, "cache: no cache or buffer");
    int rc = key_ok(key, err);
    if (rc < 0)
        return rc;
    return build_path(cache, key, buf, n, err);
}

/* Cheap header checks shared by has() and the readers: what the file size alone can confirm. */
static const char *header_problem(const blk_header *h, const mtp_block_key *key, uint64_t file_size)
{
    if (h->dtype != (uint32_t)key->dtype)
        return "dtype mismatch";
    if (h->stored_dtype != h->dtype && h->stored_dtype != (uint32_t)MTP_DTYPE_UINT8)
        return "stored dtype invalid";
    if (!mtp_box_equal(&h->box, &key->box))
        return "box mismatch";
    if (h->nbytes != mtp_box_voxels(&key->box) * mtp_dtype_size((mtp_dtype)h->stored_dtype))
        return "decoded size mismatch";
    if (h->stored != file_size - h->length)
        return "stored size does not match the file size";
    if (h->stored < BLOSC_MIN_HEADER_LENGTH || h->stored > h->nbytes + BLOSC_MAX_OVERHEAD)
        return "stored size implausible";
    return NULL;
}

/*
 * Read and decode the header of an open file of `file_size` bytes: 0 with *h filled; a
 * positive errno on a read error; -1 with *problem set if the file is no block file.
 */
static int read_header(int fd, uint64_t file_size, blk_header *h, const char **problem)
{
    unsigned char raw[BLK_HEADER_MAX];
    size_t length;
    int r;
    if (file_size < BLK_MAGIC_LEN) {
        *problem = "truncated header";
        return -1;
    }
    r = read_all(fd, raw, BLK_MAGIC_LEN);
    if (r != 0) {
        *problem = "truncated header";
        return r;
    }
    length = header_length(raw);
    if (length == 0) {
        *problem = "bad magic";
        return -1;
    }
    if (file_size < length) {
        *problem = "truncated header";
        return -1;
    }
    r = read_all(fd, raw + BLK_MAGIC_LEN, length - BLK_MAGIC_LEN);
    if (r != 0) {
        *problem = "truncated header";
        return r;
    }
    decode_header(raw, h);
    return 0;
}

int mtp_cache_has(mtp_cache *cache, const mtp_block_key *key)
{
    char path[CACHE_PATH_MAX];
    blk_header h;
    struct stat st;
    const char *problem = NULL;
    int present = 0;
    if (cache == NULL || key_ok(key, NULL) < 0 ||
        build_path(cache, key, path, sizeof path, NULL) < 0)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        read_header(fd, (uint64_t)st.st_size, &h, &problem) == 0 &&
        header_problem(&h, key, (uint64_t)st.st_size) == NULL)
        present = 1;
    close(fd);
    return present;
}

/* Delete a damaged file and say so; always MTP_ECORRUPT. */
static int discard(const char *path, const char *what, mtp_error *err)
{
    (void)unlink(path);
    return mtp_error_set(err, MTP_ECORRUPT, "cache: %s: %s (discarded)", path, what);
}

/* A block file read into memory: its header and compressed payload. */
typedef struct blk_file {
    char path[CACHE_PATH_MAX];
    blk_header h;
    unsigned char *payload; /* owned: h.stored bytes */
} blk_file;

/*
 * Read the file for `key` into f (free f->payload afterwards, also on failure). Returns 0;
 * MTP_ENOTFOUND; MTP_EIO; MTP_ENOMEM; or MTP_ECORRUPT after discarding a file whose header
 * is damaged. On success the header agrees with the key and the file size.
 */
static int load_file(mtp_cache *cache, const mtp_block_key *key, blk_file *f, mtp_error *err)
{
    int rc = 0;
    int fd = -1;
    struct stat st;
    const char *problem = NULL;
    int r;

    f->payload = NULL;
    rc = build_path(cache, key, f->path, sizeof f->path, err);
    if (rc < 0)
        return rc;
    fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return mtp_error_set(err, MTP_ENOTFOUND, "cache: %s: not cached", f->path);
        return io_error(err, f->path, errno);
    }
    if (fstat(fd, &st) != 0) {
        rc = io_error(err, f->path, errno);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = io_error(err, f->path, EISDIR);
        goto out;
    }
    r = read_header(fd, (uint64_t)st.st_size, &f->h, &problem);
    if (r > 0) {
        problem = NULL;
        rc = io_error(err, f->path, r);
        goto out;
    }
    if (r < 0)
        goto out;
    /* After this every size is bounded by the key's box and the real file size. */
    problem = header_problem(&f->h, key, (uint64_t)st.st_size);
    if (problem != NULL)
        goto out;
    f->payload = malloc(f->h.stored);
    if (f->payload == NULL) {
        rc = mtp_error_set(err, MTP_ENOMEM, "cache: out of memory");
        goto out;
    }
    r = read_all(fd, f->payload, f->h.stored);
    if (r > 0) {
        rc = io_error(err, f->path, r);
        goto out;
    }
    if (r < 0)
        problem = "truncated payload";
out:
    if (fd >= 0)
        close(fd);
    if (problem != NULL)
        rc = discard(f->path, problem, err);
    return rc;
}

/*
 * Decompress f's payload into dst (f->h.nbytes bytes) and check its SHA-256. Returns 0;
 * MTP_ECORRUPT after discarding the file; or the hash's error.
 */
static int unpack(const blk_file *f, void *dst, mtp_error *err)
{
    unsigned char sha[MTP_SHA256_LEN];
    size_t nbytes = (size_t)f->h.nbytes;
    /* A file on disk is checked as completely as a server's body before it is decoded. */
    mtp_error why = MTP_ERROR_INIT;
    if (mtp_codec_decode(f->payload, (size_t)f->h.stored, dst, nbytes, &why) < 0)
        return discard(f->path,
                       strncmp(why.msg, "blosc body: decoder returned", 28) == 0
                           ? "decompression failed"
                           : "bad blosc header",
                       err);
    int rc = mtp_sha256(dst, nbytes, sha);
    if (rc < 0)
        return mtp_error_set(err, rc, "cache: cannot hash");
    if (memcmp(sha, f->h.sha, sizeof sha) != 0)
        return discard(f->path, "checksum mismatch", err);
    return 0;
}

/* Arguments shared by get() and get_u8(); the block's decoded size is checked here too. */
static int get_args_ok(mtp_cache *cache, const mtp_block_key *key, const void *dst, mtp_error *err)
{
    if (cache == NULL || dst == NULL)
        return mtp_error_set(err, MTP_EINVAL, "cache: no cache or destination");
    int rc = key_ok(key, err);
    if (rc < 0)
        return rc;
    if (key_nbytes(key) > MTP_BLOSC_MAX_NBYTES)
        return mtp_error_set(err, MTP_ERANGE,
                             "cache: block of %llu bytes exceeds one blosc "
                             "chunk",
                             (unsigned long long)key_nbytes(key));
    return 0;
}

/* uint8 values to `size`-byte ones (host order); `out` may be unaligned. */
static void widen(const uint8_t *in, size_t voxels, size_t size, unsigned char *out)
{
    if (size == 2) {
        for (size_t i = 0; i < voxels; i++) {
            uint16_t v = in[i];
            memcpy(out + 2 * i, &v, 2);
        }
        return;
    }
    for (size_t i = 0; i < voxels; i++) {
        uint64_t v = in[i];
        memcpy(out + 8 * i, &v, 8);
    }
}

/* The first value > 255 of `voxels` wide values: its index and value in *over. */
static void first_overflow(const unsigned char *in, size_t size, size_t voxels,
                           mtp_cache_overflow *over)
{
    for (size_t i = 0; i < voxels; i++) {
        uint64_t v;
        if (size == 2) {
            uint16_t v16;
            memcpy(&v16, in + 2 * i, 2);
            v = v16;
        } else {
            memcpy(&v, in + 8 * i, 8);
        }
        if (v > 255) {
            over->index = i;
            over->value = v;
            return;
        }
    }
}

int mtp_cache_get(mtp_cache *cache, const mtp_block_key *key, void *dst, size_t nbytes,
                  mtp_error *err)
{
    int rc = 0;
    uint8_t *narrowed = NULL;
    blk_file f = {.payload = NULL};

    rc = get_args_ok(cache, key, dst, err);
    if (rc < 0)
        return rc;
    if (nbytes != key_nbytes(key))
        return mtp_error_set(err, MTP_EINVAL, "cache: %zu bytes asked for a block of %llu", nbytes,
                             (unsigned long long)key_nbytes(key));
    rc = load_file(cache, key, &f, err);
    if (rc < 0)
        goto out;
    if (f.h.stored_dtype == f.h.dtype) {
        rc = unpack(&f, dst, err);
        goto out;
    }
    /* Narrowed: decode the uint8 voxels aside (an eighth of dst at most), then widen. */
    narrowed = malloc((size_t)f.h.nbytes);
    if (narrowed == NULL) {
        rc = mtp_error_set(err, MTP_ENOMEM, "cache: out of memory");
        goto out;
    }
    rc = unpack(&f, narrowed, err);
    if (rc < 0)
        goto out;
    widen(narrowed, (size_t)f.h.nbytes, mtp_dtype_size(key->dtype), dst);
out:
    free(f.payload);
    free(narrowed);
    return rc;
}

int mtp_cache_get_u8(mtp_cache *cache, const mtp_block_key *key, uint8_t *dst, size_t voxels,
                     mtp_cache_overflow *over, mtp_error *err)
{
    int rc = 0;
    unsigned char *wide = NULL;
    blk_file f = {.payload = NULL};

    rc = get_args_ok(cache, key, dst, err);
    if (rc < 0)
        return rc;
    if (voxels != mtp_box_voxels(&key->box))
        return mtp_error_set(err, MTP_EINVAL, "cache: %zu voxels asked for a block of %llu", voxels,
                             (unsigned long long)mtp_box_voxels(&key->box));
    rc = load_file(cache, key, &f, err);
    if (rc < 0)
        goto out;
    if (f.h.stored_dtype == (uint32_t)MTP_DTYPE_UINT8) {
        rc = unpack(&f, dst, err);
        goto out;
    }
    /* Stored wide (a value > 255 when it was put, or a version 1 file): decode, narrow. */
    size_t size = mtp_dtype_size(key->dtype);
    wide = malloc((size_t)f.h.nbytes);
    if (wide == NULL) {
        rc = mtp_error_set(err, MTP_ENOMEM, "cache: out of memory");
        goto out;
    }
    rc = unpack(&f, wide, err);
    if (rc < 0)
        goto out;
    if (!mtp_codec_narrow(wide, voxels, size, dst)) {
        mtp_cache_overflow first = {0, 0};
        first_overflow(wide, size, voxels, &first);
        if (over != NULL)
            *over = first;
        rc =
            mtp_error_set(err, MTP_EDATA,
                          "cache: %s: value %llu at voxel %llu does not fit "
                          "in uint8",
                          f.path, (unsigned long long)first.value, (unsigned long long)first.index);
    }
out:
    free(f.payload);
    free(wide);
    return rc;
}

int mtp_cache_put(mtp_cache *cache, const mtp_block_key *key, const void *data, size_t nbytes,
                  mtp_error *err)
{
    int rc = 0;
    unsigned char *buf = NULL;
    uint8_t *narrowed = NULL;
    char path[CACHE_PATH_MAX];
    blk_header h = {0};

    if (cache == NULL || data == NULL)
        return mtp_error_set(err, MTP_EINVAL, "cache: no cache or data");
    rc = key_ok(key, err);
    if (rc < 0)
        return rc;
    if (nbytes > MTP_BLOSC_MAX_NBYTES)
        return mtp_error_set(err, MTP_ERANGE,
                             "cache: block of %zu bytes exceeds one blosc "
                             "chunk",
                             nbytes);
    size_t voxels = (size_t)mtp_box_voxels(&key->box);
    bool given_narrowed = key->dtype != MTP_DTYPE_UINT8 && nbytes == voxels && voxels > 0;
    if (nbytes != key_nbytes(key) && !given_narrowed)
        return mtp_error_set(err, MTP_EINVAL, "cache: %zu bytes given for a block of %llu", nbytes,
                             (unsigned long long)key_nbytes(key));
    rc = build_path(cache, key, path, sizeof path, err);
    if (rc < 0)
        return rc;

    /* Narrow when every value fits in a byte (label codes): what the build reads is then
     * a byte per voxel to decompress and hash, not 8. */
    const void *stored_data = data;
    size_t stored_size = given_narrowed ? 1 : mtp_dtype_size(key->dtype);
    size_t stored_nbytes = nbytes;
    if (key->dtype != MTP_DTYPE_UINT8 && !given_narrowed) {
        narrowed = malloc(voxels);
        if (narrowed == NULL)
            return mtp_error_set(err, MTP_ENOMEM, "cache: out of memory");
        if (mtp_codec_narrow(data, voxels, stored_size, narrowed)) {
            stored_data = narrowed;
            stored_size = 1;
            stored_nbytes = voxels;
        }
    }
    h.dtype = (uint32_t)key->dtype;
    h.stored_dtype = (uint32_t)(stored_size == 1 ? MTP_DTYPE_UINT8 : key->dtype);
    h.box = key->box;
    h.nbytes = stored_nbytes;
    rc = mtp_sha256(stored_data, stored_nbytes, h.sha);
    if (rc < 0) {
        mtp_error_set(err, rc, "cache: cannot hash");
        goto out;
    }
    buf = malloc(BLK2_HEADER + stored_nbytes + BLOSC_MAX_OVERHEAD);
    if (buf == NULL) {
        rc = mtp_error_set(err, MTP_ENOMEM, "cache: out of memory");
        goto out;
    }
    /* Fast lz4 at level 1: the cache trades a little disk for speed on every run. */
    int cbytes =
        blosc_compress_ctx(1, BLOSC_SHUFFLE, stored_size, stored_nbytes, stored_data,
                           buf + BLK2_HEADER, stored_nbytes + BLOSC_MAX_OVERHEAD, "lz4", 0, 1);
    if (cbytes <= 0) {
        rc = mtp_error_set(err, MTP_ECORRUPT, "cache: %s: blosc compression failed (%d)", path,
                           cbytes);
        goto out;
    }
    h.stored = (uint64_t)cbytes;
    encode_header(&h, buf);

    char *slash = strrchr(path, '/');
    *slash = '\0';
    rc = make_dirs(path, err);
    *slash = '/';
    if (rc < 0)
        goto out;
    rc = mtp_write_file_atomic(path, buf, BLK2_HEADER + (size_t)cbytes, err);
    if (rc < 0)
        mtp_error_prefix(err, "cache");
out:
    free(buf);
    free(narrowed);
    return rc;
}

/* ---- per-channel records -------------------------------------------------------------- */

static int record_path(const mtp_cache *cache, const mtp_block_key *key, const char *name,
                       char *buf, size_t n, mtp_error *err)
{
    if (cache == NULL || key == NULL || key->server == NULL)
        return mtp_error_set(err, MTP_EINVAL, "cache: no cache, key or server");
    if (!component_ok(key->collection) || !component_ok(key->experiment) ||
        !component_ok(key->channel))
        return mtp_error_set(err, MTP_EINVAL,
                             "cache: collection/experiment/channel must be plain names");
    size_t len = name != NULL ? strlen(name) : 0;
    if (!component_ok(name) || len < 5 || strcmp(name + len - 4, ".txt") != 0)
        return mtp_error_set(err, MTP_EINVAL, "cache: record name must be a plain NAME.txt");
    char server_hex[MTP_SHA256_HEX_SIZE];
    int rc = mtp_sha256_hex(key->server, strlen(key->server), server_hex);
    if (rc < 0)
        return mtp_error_set(err, rc, "cache: cannot hash the server URL");
    server_hex[16] = '\0';
    int w = snprintf(buf, n, "%s/v1/%s/%s/%s/%s/%s", cache->dir, server_hex, key->collection,
                     key->experiment, key->channel, name);
    if (w < 0 || (size_t)w >= n)
        return mtp_error_set(err, MTP_ERANGE, "cache: path longer than %zu bytes", n);
    return 0;
}

int mtp_cache_put_record(mtp_cache *cache, const mtp_block_key *key, const char *name,
                         const void *data, size_t len, mtp_error *err)
{
    char path[CACHE_PATH_MAX];
    if (data == NULL || len > MTP_CACHE_RECORD_MAX)
        return mtp_error_set(err, MTP_EINVAL, "cache: record %s: no data or over %d bytes",
                             name != NULL ? name : "", MTP_CACHE_RECORD_MAX);
    int rc = record_path(cache, key, name, path, sizeof path, err);
    if (rc < 0)
        return rc;
    char *slash = strrchr(path, '/');
    *slash = '\0';
    rc = make_dirs(path, err);
    *slash = '/';
    if (rc == 0)
        rc = mtp_write_file_atomic(path, data, len, err);
    if (rc < 0 && rc != MTP_EIO)
        return rc;
    if (rc < 0)
        mtp_error_prefix(err, "cache");
    return rc;
}

int mtp_cache_get_record(mtp_cache *cache, const mtp_block_key *key, const char *name, char *buf,
                         size_t cap, size_t *len, mtp_error *err)
{
    char path[CACHE_PATH_MAX];
    *len = 0;
    if (buf == NULL || cap == 0)
        return mtp_error_set(err, MTP_EINVAL, "cache: no buffer");
    buf[0] = '\0';
    int rc = record_path(cache, key, name, path, sizeof path, err);
    if (rc < 0)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return mtp_error_set(err, MTP_ENOTFOUND, "cache: %s: %s", path, strerror(ENOENT));
    if (fd < 0)
        return io_error(err, path, errno);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = io_error(err, path, errno);
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap - 1) {
            char extra;
            ssize_t more = read(fd, &extra, 1);
            if (more != 0)
                rc = mtp_error_set(err, MTP_ERANGE, "cache: %s: longer than %zu bytes", path,
                                   cap - 1);
            break;
        }
    }
    close(fd);
    if (rc < 0)
        return rc;
    buf[n] = '\0';
    *len = n;
    return 0;
}
