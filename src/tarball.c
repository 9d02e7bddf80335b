/* realpath() is XSI, beyond _POSIX_C_SOURCE: it names the top folder and spots an output
 * path inside the tree. */
#define _XOPEN_SOURCE 700

#include "mtp/tarball.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mtp/fsutil.h"

#include <zlib.h>

#include <archive.h>
#include <archive_entry.h>

#if ARCHIVE_VERSION_NUMBER < 3002000
#error "libarchive >= 3.2 is needed (gzip:!timestamp, pax restricted)"
#endif

#define CHUNK_SIZE ((size_t)1 << 20)
/* zlib's default level. Fixed, so the archive bytes never follow a library default. On 100 MB
 * of half image-like, half incompressible data: level 1 68 MB/s → 75 MB, 6 23 MB/s → 70 MB,
 * 9 21 MB/s → 70 MB. */
#define GZIP_LEVEL_OPTION "gzip:compression-level=6"
/* Largest mtime a plain ustar header holds (11 octal digits); beyond it libarchive would
 * add a pax time header, which the format promises never to contain. */
#define USTAR_MTIME_MAX INT64_C(077777777777)

/* ---------------------------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------------------------- */

typedef struct tree_entry {
    char *path; /* inside the archive: "<top>/<rel>" */
    int is_dir;
} tree_entry;

typedef struct tree {
    tree_entry *entries;
    size_t count, cap;
    const char *root; /* the real path of the directory archived */
    size_t top_len;   /* strlen of "<top>" at the start of every entry path */
} tree;

static void tree_clear(tree *t)
{
    for (size_t i = 0; i < t->count; i++)
        free(t->entries[i].path);
    free(t->entries);
    t->entries = NULL;
    t->count = t->cap = 0;
}

static int tree_add(tree *t, const char *path, int is_dir, mtp_error *err)
{
    if (t->count >= MTP_ARCHIVE_ENTRIES_MAX)
        return mtp_error_set(err, MTP_ERANGE, "%s: more than %d entries to archive", t->root,
                             MTP_ARCHIVE_ENTRIES_MAX);
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        tree_entry *grown = realloc(t->entries, cap * sizeof *grown);
        if (grown == NULL)
            return mtp_error_set(err, MTP_ENOMEM, "%s: out of memory", t->root);
        t->entries = grown;
        t->cap = cap;
    }
    char *copy = strdup(path);
    if (copy == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "%s: out of memory", t->root);
    t->entries[t->count].path = copy;
    t->entries[t->count].is_dir = is_dir;
    t->count++;
    return 0;
}

/* The on-disk path of an entry: the archived directory's real path plus the entry's path
 * after "<top>". */
static int fs_path_of(const tree *t, const char *arc_path, char *buf, size_t n, mtp_error *err)
{
    int len = snprintf(buf, n, "%s%s", t->root, arc_path + t->top_len);
    if (len < 0 || (size_t)len >= n)
        return mtp_error_set(err, MTP_ERANGE, "%s%s: path too long", t->root,
                             arc_path + t->top_len);
    return 0;
}

/* "<top>" and then "<top>/<path>" for every entry of the release walk. */
static int collect(tree *t, const char *top, mtp_error *err)
{
    mtp_tree_entry *list = NULL;
    size_t count = 0;
    int rc = tree_add(t, top, 1, err);
    if (rc == 0)
        rc = mtp_tree_list(t->root, &list, &count, err);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        char arc_path[MTP_ARCHIVE_PATH_MAX + 1];
        int len = snprintf(arc_path, sizeof arc_path, "%s/%s", top, list[i].path);
        if (len < 0 || (size_t)len >= sizeof arc_path)
            rc = mtp_error_set(err, MTP_ERANGE,
                               "%s/%s: path inside the archive longer than %d bytes", t->root,
                               list[i].path, MTP_ARCHIVE_PATH_MAX);
        else
            rc = tree_add(t, arc_path, list[i].is_dir, err);
    }
    mtp_tree_free(list, count);
    return rc;
}

static int compare_entries(const void *a, const void *b)
{
    /* strcmp compares as unsigned char: a bytewise order independent of the locale. */
    return strcmp(((const tree_entry *)a)->path, ((const tree_entry *)b)->path);
}

static int archive_fail(struct archive *a, mtp_error *err, int code, const char *path,
                        const char *what)
{
    const char *msg = archive_error_string(a);
    int os_error = archive_errno(a);
    /* libarchive says only "Write error" when the disk is full: add the OS's reason. */
    if (os_error > 0 && (msg == NULL || strstr(msg, strerror(os_error)) == NULL))
        return mtp_error_set(err, code, "%s: %s: %s: %s", path, what,
                             msg ? msg : "libarchive error", strerror(os_error));
    return mtp_error_set(err, code, "%s: %s: %s", path, what, msg ? msg : "libarchive error");
}

/* Every entry's header: owner 0:0, the fixed mtime, nothing else from the file system. */
static void set_header(struct archive_entry *entry, const char *path, unsigned type, int perm,
                       int64_t size, int64_t mtime)
{
    archive_entry_clear(entry);
    archive_entry_set_pathname(entry, path);
    archive_entry_set_filetype(entry, type);
    archive_entry_set_perm(entry, (mode_t)perm);
    archive_entry_set_size(entry, (la_int64_t)size);
    archive_entry_set_mtime(entry, (time_t)mtime, 0);
    archive_entry_set_uid(entry, 0);
    archive_entry_set_gid(entry, 0);
}

/* Copy one regular file into the archive: the header is written from the size seen after
 * opening, and the file must still hold exactly that many bytes at the end. */
static int write_file_entry(struct archive *a, struct archive_entry *entry, const tree *t,
                            const tree_entry *te, int64_t mtime, unsigned char *chunk,
                            const char *out_path, const volatile sig_atomic_t *cancel,
                            mtp_error *err)
{
    int rc = 0;
    char fs_path[MTP_ARCHIVE_PATH_MAX * 2];
    rc = fs_path_of(t, te->path, fs_path, sizeof fs_path, err);
    if (rc < 0)
        return rc;
    int fd = open(fs_path, O_RDONLY | O_NOFOLLOW);
    if (fd < 0)
        return mtp_error_set(err, MTP_EIO, "%s: cannot open: %s", fs_path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = mtp_error_set(err, MTP_EIO, "%s: cannot stat: %s", fs_path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = mtp_error_set(err, MTP_EFORMAT, "%s: not a regular file or directory (%s)", fs_path,
                           mtp_file_kind(st.st_mode));
        goto out;
    }
    set_header(entry, te->path, AE_IFREG, 0644, (int64_t)st.st_size, mtime);
    if (archive_write_header(a, entry) != ARCHIVE_OK) {
        rc = archive_fail(a, err, MTP_EIO, out_path, te->path);
        goto out;
    }
    uint64_t left = (uint64_t)st.st_size;
    while (left > 0) {
        if (cancel != NULL && *cancel) {
            rc = mtp_error_set(err, MTP_ECANCEL, "%s: cancelled", out_path);
            goto out;
        }
        size_t want = left < CHUNK_SIZE ? (size_t)left : CHUNK_SIZE;
        ssize_t got = read(fd, chunk, want);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = mtp_error_set(err, MTP_EIO, "%s: read failed: %s", fs_path, strerror(errno));
            goto out;
        }
        if (got == 0) {
            rc = mtp_error_set(err, MTP_EIO, "%s: file shrank while being archived", fs_path);
            goto out;
        }
        if (archive_write_data(a, chunk, (size_t)got) != got) {
            rc = archive_fail(a, err, MTP_EIO, out_path, te->path);
            goto out;
        }
        left -= (uint64_t)got;
    }
    ssize_t extra = read(fd, chunk, 1);
    if (extra != 0) {
        rc = mtp_error_set(err, MTP_EIO, "%s: file %s while being archived", fs_path,
                           extra > 0 ? "grew" : "became unreadable");
        goto out;
    }
    if (archive_write_finish_entry(a) != ARCHIVE_OK)
        rc = archive_fail(a, err, MTP_EIO, out_path, te->path);
out:
    close(fd);
    return rc;
}

static int write_dir_entry(struct archive *a, struct archive_entry *entry, const tree_entry *te,
                           int64_t mtime, const char *out_path, mtp_error *err)
{
    set_header(entry, te->path, AE_IFDIR, 0755, 0, mtime);
    if (archive_write_header(a, entry) != ARCHIVE_OK || archive_write_finish_entry(a) != ARCHIVE_OK)
        return archive_fail(a, err, MTP_EIO, out_path, te->path);
    return 0;
}

/* Refuse to write the archive into the tree it packs: it would archive itself next time. */
static int check_out_outside(const char *root, const char *out_path, mtp_error *err)
{
    char buf[MTP_ARCHIVE_PATH_MAX * 2];
    if (strlen(out_path) >= sizeof buf)
        return mtp_error_set(err, MTP_ERANGE, "%s: path too long", out_path);
    strcpy(buf, out_path);
    char *parent = realpath(dirname(buf), NULL);
    if (parent == NULL)
        return 0; /* creating the temporary file reports the real problem */
    size_t root_len = strlen(root);
    int inside = strncmp(parent, root, root_len) == 0 &&
                 (parent[root_len] == '\0' || parent[root_len] == '/');
    free(parent);
    if (inside)
        return mtp_error_set(err, MTP_ECONFIG, "%s: archive would be inside %s", out_path, root);
    return 0;
}

int mtp_archive_write_into(const char *dir, const char *top_name, mtp_atomic_file *file,
                           int64_t mtime, const volatile sig_atomic_t *cancel, mtp_error *err)
{
    int rc = 0;
    tree t = {0};
    char *root = NULL;
    const char *out_path = file->path;
    struct archive *a = NULL;
    struct archive_entry *entry = NULL;
    unsigned char *chunk = NULL;

    if (mtime < 0 || mtime > USTAR_MTIME_MAX) {
        rc = mtp_error_set(err, MTP_EINVAL, "archive mtime %lld is outside 0..%lld",
                           (long long)mtime, (long long)USTAR_MTIME_MAX);
        goto out;
    }
    root = realpath(dir, NULL);
    if (root == NULL) {
        rc = mtp_error_set(err, MTP_EIO, "%s: cannot resolve: %s", dir, strerror(errno));
        goto out;
    }
    struct stat st;
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rc = mtp_error_set(err, MTP_EIO, "%s: not a directory", dir);
        goto out;
    }
    /* realpath is absolute: there is a '/' */
    const char *top = top_name != NULL ? top_name : strrchr(root, '/') + 1;
    if (*top == '\0' || strchr(top, '/') != NULL || !mtp_name_is_printable_ascii(top)) {
        rc = mtp_error_set(err, MTP_ECONFIG, "%s: cannot be the top folder of an archive", dir);
        goto out;
    }
    rc = check_out_outside(root, out_path, err);
    if (rc < 0)
        goto out;

    t.root = root;
    t.top_len = strlen(top);
    rc = collect(&t, top, err);
    if (rc < 0)
        goto out;
    qsort(t.entries, t.count, sizeof *t.entries, compare_entries);

    chunk = malloc(CHUNK_SIZE);
    a = archive_write_new();
    entry = archive_entry_new();
    if (chunk == NULL || a == NULL || entry == NULL) {
        rc = mtp_error_set(err, MTP_ENOMEM, "%s: out of memory", out_path);
        goto out;
    }
    /* Each option is checked: an unknown one would silently leave a timestamp behind. */
    if (archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
        archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_set_options(a, "gzip:!timestamp") != ARCHIVE_OK ||
        archive_write_set_options(a, GZIP_LEVEL_OPTION) != ARCHIVE_OK) {
        rc = archive_fail(a, err, MTP_EIO, out_path, "cannot set up gzip'ed tar");
        goto out;
    }
    if (archive_write_open_fd(a, file->fd) != ARCHIVE_OK) {
        rc = archive_fail(a, err, MTP_EIO, out_path, "cannot open");
        goto out;
    }
    for (size_t i = 0; i < t.count; i++) {
        if (t.entries[i].is_dir)
            rc = write_dir_entry(a, entry, &t.entries[i], mtime, out_path, err);
        else
            rc = write_file_entry(a, entry, &t, &t.entries[i], mtime, chunk, out_path, cancel, err);
        if (rc < 0)
            goto out;
    }
    if (archive_write_close(a) != ARCHIVE_OK) {
        rc = archive_fail(a, err, MTP_EIO, out_path, "cannot finish");
        goto out;
    }
out:
    if (a != NULL)
        archive_write_free(a); /* after a failure: closes without completing the archive */
    archive_entry_free(entry);
    free(chunk);
    tree_clear(&t);
    free(root);
    return rc;
}

int mtp_archive_write(const char *dir, const char *out_path, int64_t mtime,
                      const volatile sig_atomic_t *cancel, mtp_error *err)
{
    mtp_atomic_file file;
    int rc = mtp_atomic_open(&file, out_path, err);
    if (rc < 0)
        return rc;
    rc = mtp_archive_write_into(dir, NULL, &file, mtime, cancel, err);
    if (rc == 0)
        return mtp_atomic_commit(&file, err);
    mtp_atomic_abort(&file);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------------------- */

/* Called for each checked entry with its path relative to the top folder. 0 continues; any
 * other value stops the walk and is returned. */
typedef int (*entry_handler)(struct archive *a, const char *archive_path, const char *rel,
                             int is_dir, uint64_t size, void *ctx, mtp_error *err);

/* Every component non-empty and neither "." nor "..", not absolute. */
static int path_is_safe(const char *path)
{
    if (path[0] == '/' || path[0] == '\0')
        return 0;
    const char *p = path;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (slash == NULL)
            return 1;
        p = slash + 1;
    }
}

static int check_entry(struct archive_entry *entry, const char *archive_path, char *path,
                       size_t path_size, int *is_dir, uint64_t *size, mtp_error *err)
{
    const char *name = archive_entry_pathname(entry);
    if (name == NULL)
        return mtp_error_set(err, MTP_ECORRUPT, "%s: entry without a readable path", archive_path);
    size_t len = strlen(name);
    if (len >= path_size)
        return mtp_error_set(err, MTP_ERANGE, "%s: entry path longer than %d bytes", archive_path,
                             MTP_ARCHIVE_PATH_MAX);
    memcpy(path, name, len + 1);
    mode_t type = archive_entry_filetype(entry);
    if (archive_entry_hardlink(entry) != NULL || archive_entry_symlink(entry) != NULL ||
        (type != AE_IFREG && type != AE_IFDIR))
        return mtp_error_set(err, MTP_ECORRUPT, "%s: %s: not a regular file or directory",
                             archive_path, path);
    *is_dir = type == AE_IFDIR;
    if (*is_dir && len > 1 && path[len - 1] == '/')
        path[len - 1] = '\0';
    if (!path_is_safe(path))
        return mtp_error_set(err, MTP_ECORRUPT, "%s: %s: unsafe path", archive_path, path);
    if (!archive_entry_size_is_set(entry) || archive_entry_size(entry) < 0)
        return mtp_error_set(err, MTP_ECORRUPT, "%s: %s: entry without a size", archive_path, path);
    *size = (uint64_t)archive_entry_size(entry);
    if (*size > MTP_ARCHIVE_ENTRY_MAX)
        return mtp_error_set(err, MTP_ERANGE,
                             "%s: %s: entry of %llu bytes is over the cap of "
                             "%llu",
                             archive_path, path, (unsigned long long)*size,
                             (unsigned long long)MTP_ARCHIVE_ENTRY_MAX);
    return 0;
}

/*
 * The gzip layer is ours (zlib), not libarchive's: libarchive 3.6's gzip reader ignores the
 * CRC-32 and length in the gzip trailer, so a flipped byte in file data would read back as
 * different data without any error. zlib checks both; we also insist that the stream ends
 * exactly at the end of the file and read it to its end even after the tar end marker.
 */
#define GZ_IN_SIZE ((size_t)64 << 10)
#define GZ_OUT_SIZE ((size_t)256 << 10)

typedef struct gz_stream {
    int fd;
    z_stream zs;
    int zs_ready;
    int ended; /* the gzip trailer was read and checked */
    unsigned char *in, *out;
    char problem[160]; /* why the stream failed, "" if it did not */
} gz_stream;

static ssize_t gz_fail(struct archive *a, gz_stream *gz, const char *what, const char *detail)
{
    snprintf(gz->problem, sizeof gz->problem, "%s%s", what, detail);
    if (a != NULL)
        archive_set_error(a, EIO, "%s", gz->problem);
    return -1;
}

/* Fill gz->out with the next decompressed bytes: their count, 0 at the end, -1 on error. */
static ssize_t gz_next(struct archive *a, gz_stream *gz)
{
    if (gz->problem[0] != '\0')
        return -1;
    if (gz->ended)
        return 0;
    gz->zs.next_out = gz->out;
    gz->zs.avail_out = (uInt)GZ_OUT_SIZE;
    while (gz->zs.avail_out == GZ_OUT_SIZE) {
        if (gz->zs.avail_in == 0) {
            ssize_t got = read(gz->fd, gz->in, GZ_IN_SIZE);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0)
                return gz_fail(a, gz, "read failed: ", strerror(errno));
            if (got == 0)
                return gz_fail(a, gz, "truncated gzip stream", "");
            gz->zs.next_in = gz->in;
            gz->zs.avail_in = (uInt)got;
        }
        int zrc = inflate(&gz->zs, Z_NO_FLUSH);
        if (zrc == Z_STREAM_END) {
            gz->ended = 1;
            unsigned char extra;
            if (gz->zs.avail_in > 0 || read(gz->fd, &extra, 1) != 0)
                return gz_fail(a, gz, "data after the end of the gzip stream", "");
            break;
        }
        if (zrc != Z_OK && zrc != Z_BUF_ERROR)
            return gz_fail(a, gz,
                           "corrupt gzip stream: ", gz->zs.msg ? gz->zs.msg : "inflate failed");
    }
    return (ssize_t)(GZ_OUT_SIZE - gz->zs.avail_out);
}

static la_ssize_t gz_read_callback(struct archive *a, void *client, const void **buffer)
{
    gz_stream *gz = client;
    *buffer = gz->out;
    return gz_next(a, gz);
}

/* libarchive stops at the tar end marker; the rest of the stream still has to check out. */
static int gz_drain(gz_stream *gz)
{
    for (;;) {
        ssize_t got = gz_next(NULL, gz);
        if (got <= 0)
            return (int)got;
    }
}

/* The error of a failed libarchive read call: the gzip layer's problem if it had one. */
static int read_fail(struct archive *a, const gz_stream *gz, mtp_error *err,
                     const char *archive_path, const char *what)
{
    if (gz->problem[0] != '\0')
        return mtp_error_set(err, MTP_ECORRUPT, "%s: %s", archive_path, gz->problem);
    return archive_fail(a, err, MTP_ECORRUPT, archive_path, what);
}

static int read_archive(const char *archive_path, entry_handler handler, void *ctx, mtp_error *err)
{
    int rc = 0;
    struct archive *a = NULL;
    char *prev = NULL, *path = NULL, *top = NULL;
    size_t count = 0;
    gz_stream gz;
    memset(&gz, 0, sizeof gz);
    gz.fd = open(archive_path, O_RDONLY);
    if (gz.fd < 0) {
        rc = mtp_error_set(err, MTP_EIO, "%s: cannot open: %s", archive_path, strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(gz.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = mtp_error_set(err, MTP_EIO, "%s: not a regular file", archive_path);
        goto out;
    }
    prev = malloc(MTP_ARCHIVE_PATH_MAX + 1);
    path = malloc(MTP_ARCHIVE_PATH_MAX + 1);
    top = malloc(MTP_ARCHIVE_PATH_MAX + 2);
    gz.in = malloc(GZ_IN_SIZE);
    gz.out = malloc(GZ_OUT_SIZE);
    a = archive_read_new();
    if (prev == NULL || path == NULL || top == NULL || gz.in == NULL || gz.out == NULL ||
        a == NULL) {
        rc = mtp_error_set(err, MTP_ENOMEM, "%s: out of memory", archive_path);
        goto out;
    }
    /* 16 + MAX_WBITS: gzip wrapper only (no zlib or raw deflate), trailer checked. */
    if (inflateInit2(&gz.zs, 16 + MAX_WBITS) != Z_OK) {
        rc = mtp_error_set(err, MTP_ENOMEM, "%s: cannot initialise zlib", archive_path);
        goto out;
    }
    gz.zs_ready = 1;
    if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
        archive_read_open(a, &gz, NULL, gz_read_callback, NULL) != ARCHIVE_OK) {
        rc = read_fail(a, &gz, err, archive_path, "not a tar archive");
        goto out;
    }
    for (;;) {
        struct archive_entry *entry = NULL;
        int r = archive_read_next_header(a, &entry);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK) {
            rc = read_fail(a, &gz, err, archive_path, "bad entry header");
            goto out;
        }
        if (++count > MTP_ARCHIVE_ENTRIES_MAX) {
            rc = mtp_error_set(err, MTP_ERANGE, "%s: more than %d entries", archive_path,
                               MTP_ARCHIVE_ENTRIES_MAX);
            goto out;
        }
        int is_dir = 0;
        uint64_t size = 0;
        rc = check_entry(entry, archive_path, path, MTP_ARCHIVE_PATH_MAX + 1, &is_dir, &size, err);
        if (rc < 0)
            goto out;
        const char *rel = NULL;
        if (count == 1) {
            /* mtp_archive_write puts the top folder first; everything else lies in it. */
            if (!is_dir || strchr(path, '/') != NULL) {
                rc = mtp_error_set(err, MTP_ECORRUPT, "%s: first entry %s is not a top folder",
                                   archive_path, path);
                goto out;
            }
            snprintf(top, MTP_ARCHIVE_PATH_MAX + 2, "%s/", path);
        } else {
            size_t top_len = strlen(top);
            if (strncmp(path, top, top_len) != 0) {
                rc = mtp_error_set(err, MTP_ECORRUPT, "%s: %s: outside the top folder %s",
                                   archive_path, path, top);
                goto out;
            }
            if (strcmp(path, prev) <= 0) {
                rc = mtp_error_set(err, MTP_ECORRUPT, "%s: %s: entry out of order or repeated",
                                   archive_path, path);
                goto out;
            }
            rel = path + top_len;
        }
        strcpy(prev, path);
        if (rel == NULL)
            continue;
        rc = handler(a, archive_path, rel, is_dir, size, ctx, err);
        if (rc != 0)
            goto out;
    }
    if (gz_drain(&gz) < 0) {
        rc = mtp_error_set(err, MTP_ECORRUPT, "%s: %s", archive_path, gz.problem);
        goto out;
    }
    if (count == 0)
        rc = mtp_error_set(err, MTP_ECORRUPT, "%s: empty archive", archive_path);
out:
    if (a != NULL)
        archive_read_free(a);
    if (gz.zs_ready)
        inflateEnd(&gz.zs);
    if (gz.fd >= 0)
        close(gz.fd);
    free(gz.in);
    free(gz.out);
    free(prev);
    free(path);
    free(top);
    return rc;
}

/* Pass every byte of the current entry to `sink`; exactly `size` bytes must come. */
typedef int (*data_sink)(void *ctx, const void *data, size_t len, mtp_error *err);

static int read_entry_data(struct archive *a, const char *archive_path, const char *rel,
                           uint64_t size, data_sink sink, void *ctx, mtp_error *err)
{
    uint64_t total = 0;
    const void *block = NULL;
    size_t len = 0;
    la_int64_t offset = 0;
    for (;;) {
        /* The block API hands out libarchive's own buffers: no copy for digesting. */
        int r = archive_read_data_block(a, &block, &len, &offset);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK)
            return archive_fail(a, err, MTP_ECORRUPT, archive_path, rel);
        /* Sparse entries (holes) are never written by mtp_archive_write. */
        if (offset < 0 || (uint64_t)offset != total || len > size - total)
            return mtp_error_set(err, MTP_ECORRUPT, "%s: %s: data does not match its size",
                                 archive_path, rel);
        int rc = sink(ctx, block, len, err);
        if (rc < 0)
            return rc;
        total += len;
    }
    if (total != size)
        return mtp_error_set(err, MTP_ECORRUPT, "%s: %s: %llu bytes instead of %llu", archive_path,
                             rel, (unsigned long long)total, (unsigned long long)size);
    return 0;
}

typedef struct scan_ctx {
    mtp_archive_entry_fn fn;
    void *userdata;
} scan_ctx;

static int digest_sink(void *ctx, const void *data, size_t len, mtp_error *err)
{
    return mtp_digest_update(ctx, data, len, err);
}

static int scan_entry(struct archive *a, const char *archive_path, const char *rel, int is_dir,
                      uint64_t size, void *ctx, mtp_error *err)
{
    const scan_ctx *sc = ctx;
    if (is_dir)
        return 0;
    mtp_digest_ctx *dctx = NULL;
    int rc = mtp_digest_begin(&dctx, err);
    if (rc < 0)
        return rc;
    rc = read_entry_data(a, archive_path, rel, size, digest_sink, dctx, err);
    if (rc < 0) {
        mtp_digest_free(dctx);
        return rc;
    }
    mtp_digest digest;
    rc = mtp_digest_end(dctx, &digest, err);
    if (rc < 0)
        return rc;
    return sc->fn(rel, &digest, sc->userdata);
}

int mtp_archive_scan(const char *archive_path, mtp_archive_entry_fn fn, void *userdata,
                     mtp_error *err)
{
    scan_ctx sc = {fn, userdata};
    return read_archive(archive_path, scan_entry, &sc, err);
}

typedef struct member_ctx {
    const char *member;
    size_t cap;
    char *buf;
    size_t len;
} member_ctx;

static int member_sink(void *ctx, const void *data, size_t len, mtp_error *err)
{
    member_ctx *mc = ctx;
    memcpy(mc->buf + mc->len, data, len); /* read_entry_data bounds len by the size */
    mc->len += len;
    return 0;
}

#define MEMBER_FOUND 1

static int member_entry(struct archive *a, const char *archive_path, const char *rel, int is_dir,
                        uint64_t size, void *ctx, mtp_error *err)
{
    member_ctx *mc = ctx;
    if (strcmp(rel, mc->member) != 0)
        return 0;
    if (is_dir)
        return mtp_error_set(err, MTP_ENOTFOUND, "%s: member %s is a directory", archive_path, rel);
    if (size > mc->cap)
        return mtp_error_set(err, MTP_ERANGE, "%s: member %s is %llu bytes, over the cap of %zu",
                             archive_path, rel, (unsigned long long)size, mc->cap);
    mc->buf = malloc((size_t)size + 1);
    if (mc->buf == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "%s: %s: out of memory", archive_path, rel);
    mc->len = 0;
    int rc = read_entry_data(a, archive_path, rel, size, member_sink, mc, err);
    if (rc < 0)
        return rc;
    mc->buf[mc->len] = '\0';
    return MEMBER_FOUND;
}

int mtp_archive_read_member(const char *archive_path, const char *member, char **out, size_t *len,
                            size_t cap, mtp_error *err)
{
    *out = NULL;
    *len = 0;
    member_ctx mc = {member, cap, NULL, 0};
    int rc = read_archive(archive_path, member_entry, &mc, err);
    if (rc == MEMBER_FOUND) {
        *out = mc.buf;
        *len = mc.len;
        return 0;
    }
    free(mc.buf);
    if (rc == 0)
        rc = mtp_error_set(err, MTP_ENOTFOUND, "%s: no member %s", archive_path, member);
    return rc;
}

/* ---- extraction ---------------------------------------------------------------------------- */

typedef struct extract_ctx {
    const char *dest;
    mtp_atomic_file file;
} extract_ctx;

static int extract_sink(void *ctx, const void *data, size_t len, mtp_error *err)
{
    extract_ctx *xc = ctx;
    return mtp_atomic_write(&xc->file, data, len, err);
}

static int extract_entry(struct archive *a, const char *archive_path, const char *rel, int is_dir,
                         uint64_t size, void *ctx, mtp_error *err)
{
    extract_ctx *xc = ctx;
    char path[MTP_PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", xc->dest, rel);
    if (n < 0 || (size_t)n >= sizeof path)
        return mtp_error_set(err, MTP_ERANGE, "%s/%s: path too long", xc->dest, rel);
    if (is_dir)
        return mtp_mkdir_p(path, err);
    xc->file = (mtp_atomic_file){.fd = -1};
    int rc = mtp_atomic_open(&xc->file, path, err);
    if (rc == 0)
        rc = read_entry_data(a, archive_path, rel, size, extract_sink, xc, err);
    if (rc == 0)
        rc = mtp_atomic_commit(&xc->file, err);
    else
        mtp_atomic_abort(&xc->file);
    return rc;
}

int mtp_archive_extract(const char *archive_path, const char *dest_dir, mtp_error *err)
{
    if (archive_path == NULL || dest_dir == NULL)
        return mtp_error_set(err, MTP_EINVAL, "mtp_archive_extract: NULL argument");
    int rc = mtp_mkdir_p(dest_dir, err);
    extract_ctx xc = {.dest = dest_dir};
    return rc < 0 ? rc : read_archive(archive_path, extract_entry, &xc, err);
}
