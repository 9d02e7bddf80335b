/* sync_file_range() (mtp_writeback_start) is Linux's, behind _GNU_SOURCE. */
#define _GNU_SOURCE

#include "mtp/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int mtp_mkdir_p(const char *path, mtp_error *err)
{
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buf)
        return mtp_error_set(err, MTP_ERANGE, "%s: path is empty or too long", path);
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return mtp_error_set(err, MTP_EIO, "%s: cannot create directory: %s", buf,
                                 strerror(errno));
        buf[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return mtp_error_set(err, MTP_EIO, "%s: not a directory", path);
    return 0;
}

/* Depth-first removal below an open directory. `path` names it for messages only. */
static int remove_below(int dirfd, const char *path, int depth, mtp_error *err)
{
    if (depth > 64)
        return mtp_error_set(err, MTP_EIO, "%s: nested too deep to remove", path);
    DIR *d = fdopendir(dirfd);
    if (d == NULL) {
        int saved = errno;
        close(dirfd);
        return mtp_error_set(err, MTP_EIO, "%s: cannot list: %s", path, strerror(saved));
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char child[4096];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        struct stat st;
        if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT)
                rc = mtp_error_set(err, MTP_EIO, "%s: %s", child, strerror(errno));
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            int fd = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0)
                rc = mtp_error_set(err, MTP_EIO, "%s: cannot open: %s", child, strerror(errno));
            else
                rc = remove_below(fd, child, depth + 1, err);
        }
        int flags = S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0;
        if (rc == 0 && unlinkat(dirfd, e->d_name, flags) != 0 && errno != ENOENT)
            rc = mtp_error_set(err, MTP_EIO, "%s: cannot remove: %s", child, strerror(errno));
    }
    closedir(d);
    return rc;
}

int mtp_remove_tree(const char *path, mtp_error *err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : mtp_error_set(err, MTP_EIO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return mtp_error_set(err, MTP_EIO, "%s: cannot open: %s", path, strerror(errno));
        int rc = remove_below(fd, path, 0, err);
        if (rc < 0)
            return rc;
        if (rmdir(path) != 0 && errno != ENOENT)
            return mtp_error_set(err, MTP_EIO, "%s: cannot remove: %s", path, strerror(errno));
        return 0;
    }
    if (unlink(path) != 0 && errno != ENOENT)
        return mtp_error_set(err, MTP_EIO, "%s: cannot remove: %s", path, strerror(errno));
    return 0;
}

int mtp_fsync_dir(const char *dir, mtp_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return mtp_error_set(err, MTP_EIO, "%s: cannot open directory: %s", dir, strerror(errno));
    int rc = fsync(fd) == 0 ? 0 : errno;
    close(fd);
    if (rc != 0)
        return mtp_error_set(err, MTP_EIO, "%s: fsync: %s", dir, strerror(rc));
    return 0;
}

int mtp_fsync_parent(const char *path, mtp_error *err)
{
    char buf[4096];
    if (strlen(path) >= sizeof buf)
        return mtp_error_set(err, MTP_ERANGE, "%s: path too long", path);
    strcpy(buf, path);
    return mtp_fsync_dir(dirname(buf), err);
}

/* This host's name as it appears in temporary names. */
static void host_tag(char *buf, size_t n)
{
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    size_t k = 0;
    for (const char *p = host; *p != '\0' && k + 1 < n; p++) {
        char c = *p;
        int keep =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
        buf[k++] = keep ? c : '_';
    }
    buf[k] = '\0';
}

static atomic_uint_fast64_t atomic_counter;

int mtp_atomic_open(mtp_atomic_file *f, const char *path, mtp_error *err)
{
    f->fd = -1;
    f->temp[0] = '\0';
    size_t len = strlen(path);
    if (len == 0)
        return mtp_error_set(err, MTP_EINVAL, "empty file name");
    if (len >= sizeof f->path)
        return mtp_error_set(err, MTP_ERANGE, "%.200s...: path too long", path);
    memcpy(f->path, path, len + 1);
    char host[64];
    host_tag(host, sizeof host);
    unsigned long long n = (unsigned long long)atomic_fetch_add(&atomic_counter, 1);
    int k = snprintf(f->temp, sizeof f->temp, "%s.tmp.%s.%ld.%llu", path, host, (long)getpid(), n);
    if (k < 0 || (size_t)k >= sizeof f->temp) {
        f->temp[0] = '\0';
        return mtp_error_set(err, MTP_ERANGE, "%s: path too long", path);
    }
    f->fd = open(f->temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        int saved = errno;
        f->temp[0] = '\0';
        return mtp_error_set(err, MTP_EIO, "%s: cannot create: %s", path, strerror(saved));
    }
    /* Whatever the umask: a release (and a cache shared by many) is for everyone to read. */
    if (fchmod(f->fd, 0644) != 0) {
        int saved = errno;
        mtp_atomic_abort(f);
        return mtp_error_set(err, MTP_EIO, "%s: chmod: %s", path, strerror(saved));
    }
    return 0;
}

int mtp_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? errno : EIO;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int mtp_atomic_write(mtp_atomic_file *f, const void *data, size_t len, mtp_error *err)
{
    int e = mtp_write_all(f->fd, data, len);
    if (e != 0)
        return mtp_error_set(err, MTP_EIO, "%s: write: %s", f->path, strerror(e));
    return 0;
}

int mtp_atomic_commit(mtp_atomic_file *f, mtp_error *err)
{
    int rc = 0;
    if (fsync(f->fd) != 0) {
        rc = mtp_error_set(err, MTP_EIO, "%s: fsync: %s", f->path, strerror(errno));
        goto out;
    }
    int closed = close(f->fd);
    f->fd = -1;
    if (closed != 0) {
        rc = mtp_error_set(err, MTP_EIO, "%s: close: %s", f->path, strerror(errno));
        goto out;
    }
    if (rename(f->temp, f->path) != 0) {
        rc = mtp_error_set(err, MTP_EIO, "%s: rename: %s", f->path, strerror(errno));
        goto out;
    }
    f->temp[0] = '\0';
    rc = mtp_fsync_parent(f->path, err);
out:
    mtp_atomic_abort(f);
    return rc;
}

void mtp_atomic_abort(mtp_atomic_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if (f->temp[0] != '\0')
        (void)unlink(f->temp);
    f->temp[0] = '\0';
}

int mtp_write_file_atomic(const char *path, const void *data, size_t len, mtp_error *err)
{
    mtp_atomic_file f;
    int rc = mtp_atomic_open(&f, path, err);
    if (rc < 0)
        return rc;
    rc = mtp_atomic_write(&f, data, len, err);
    if (rc == 0)
        return mtp_atomic_commit(&f, err);
    mtp_atomic_abort(&f);
    return rc;
}

int mtp_atomic_is_temp(const char *name)
{
    size_t len = strlen(name);
    /* "<final>.tmp" is what versions before the atomic-file module left. */
    return strstr(name, ".tmp.") != NULL || (len >= 4 && strcmp(name + len - 4, ".tmp") == 0);
}

/* Whether the writer of temporary `name` (in directory fd `dirfd`) is gone. */
static int temp_is_stale(int dirfd, const char *name, const char *own_host, time_t now)
{
    /* "<final>.tmp.<host>.<pid>.<n>", read from the end: host names may hold dots. */
    const char *tag = strstr(name, ".tmp.");
    while (tag != NULL && strstr(tag + 1, ".tmp.") != NULL)
        tag = strstr(tag + 1, ".tmp.");
    char rest[320];
    snprintf(rest, sizeof rest, "%s", tag + 5);
    char *last = strrchr(rest, '.');
    char *pid_text = NULL, *host = NULL;
    if (last != NULL) {
        *last = '\0';
        char *mid = strrchr(rest, '.');
        pid_text = mid != NULL ? mid + 1 : rest;
        host = mid != NULL ? rest : NULL;
        if (mid != NULL)
            *mid = '\0';
    }
    char *end = NULL;
    long pid = pid_text != NULL ? strtol(pid_text, &end, 10) : 0;
    int parsed = pid_text != NULL && end != pid_text && *end == '\0' && pid > 0;
    /* Older builds wrote "<final>.tmp.<pid>.<n>": no host, so this one. */
    if (parsed && (host == NULL || strcmp(host, own_host) == 0))
        return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return 0;
    return now - st.st_mtime > MTP_ATOMIC_FOREIGN_STALE_S;
}

static int remove_stale_below(const char *dir, int depth, const char *host, time_t now,
                              int *removed, mtp_error *err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT
                   ? 0
                   : mtp_error_set(err, MTP_EIO, "%s: cannot list: %s", dir, strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[MTP_PATH_MAX];
        int n = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (n < 0 || (size_t)n >= sizeof path)
            continue; /* nothing this program writes has such a name */
        int is_dir = e->d_type == DT_DIR;
        if (e->d_type == DT_UNKNOWN) {
            struct stat st;
            is_dir = lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
        }
        if (is_dir) {
            if (depth < 16)
                rc = remove_stale_below(path, depth + 1, host, now, removed, err);
            continue;
        }
        if (!mtp_atomic_is_temp(e->d_name) || !temp_is_stale(dirfd(d), e->d_name, host, now))
            continue;
        if (unlink(path) != 0 && errno != ENOENT)
            rc = mtp_error_set(err, MTP_EIO, "%s: cannot remove: %s", path, strerror(errno));
        else if (removed != NULL)
            (*removed)++;
    }
    closedir(d);
    return rc;
}

int mtp_atomic_remove_stale(const char *dir, int *removed, mtp_error *err)
{
    char host[64];
    host_tag(host, sizeof host);
    if (removed != NULL)
        *removed = 0;
    return remove_stale_below(dir, 0, host, time(NULL), removed, err);
}

typedef struct tree_list {
    mtp_tree_entry *items;
    size_t n, cap;
} tree_list;

static int tree_push(tree_list *t, const char *rel, int is_dir, mtp_error *err)
{
    if (t->n >= MTP_TREE_MAX_ENTRIES)
        return mtp_error_set(err, MTP_ERANGE, "%s: more than %d files and directories", rel,
                             MTP_TREE_MAX_ENTRIES);
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        mtp_tree_entry *grown = realloc(t->items, cap * sizeof *grown);
        if (grown == NULL)
            return mtp_error_set(err, MTP_ENOMEM, "%s: out of memory", rel);
        t->items = grown;
        t->cap = cap;
    }
    char *copy = strdup(rel);
    if (copy == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "%s: out of memory", rel);
    t->items[t->n].path = copy;
    t->items[t->n].is_dir = is_dir;
    t->n++;
    return 0;
}

const char *mtp_file_kind(mode_t mode)
{
    if (S_ISLNK(mode))
        return "symlink";
    if (S_ISFIFO(mode))
        return "fifo";
    if (S_ISSOCK(mode))
        return "socket";
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return "device";
    return "special file";
}

int mtp_name_is_printable_ascii(const char *name)
{
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            return 0;
    return 1;
}

/* Walk root/rel (rel "" for the top), appending every entry below it. */
static int tree_walk(const char *root, const char *rel, int depth, tree_list *t, mtp_error *err)
{
    char path[MTP_PATH_MAX];
    int n = snprintf(path, sizeof path, rel[0] ? "%s/%s" : "%s", root, rel);
    if (n < 0 || (size_t)n >= sizeof path)
        return mtp_error_set(err, MTP_ERANGE, "%s/%s: path too long", root, rel);
    if (depth > MTP_TREE_MAX_DEPTH)
        return mtp_error_set(err, MTP_ERANGE, "%s: directories nested deeper than %d", path,
                             MTP_TREE_MAX_DEPTH);
    DIR *d = opendir(path);
    if (d == NULL)
        return mtp_error_set(err, MTP_EIO, "%s: cannot open directory: %s", path, strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        char child_rel[MTP_PATH_MAX], child[MTP_PATH_MAX];
        int a = snprintf(child_rel, sizeof child_rel, rel[0] ? "%s/%s" : "%s%s", rel, name);
        int b = snprintf(child, sizeof child, "%s/%s", path, name);
        if (a < 0 || (size_t)a >= sizeof child_rel || b < 0 || (size_t)b >= sizeof child) {
            rc = mtp_error_set(err, MTP_ERANGE, "%s/%s: path too long", path, name);
            break;
        }
        struct stat st;
        if (lstat(child, &st) != 0) {
            rc = mtp_error_set(err, MTP_EIO, "%s: %s", child, strerror(errno));
            break;
        }
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
            rc = mtp_error_set(err, MTP_EFORMAT, "%s: not a regular file or directory (%s)", child,
                               mtp_file_kind(st.st_mode));
            break;
        }
        if (S_ISREG(st.st_mode) && mtp_atomic_is_temp(name))
            continue;
        if (!mtp_name_is_printable_ascii(name)) {
            rc = mtp_error_set(err, MTP_EFORMAT, "%s: file name is not printable ASCII", child);
            break;
        }
        rc = tree_push(t, child_rel, S_ISDIR(st.st_mode), err);
        if (rc == 0 && S_ISDIR(st.st_mode))
            rc = tree_walk(root, child_rel, depth + 1, t, err);
    }
    if (rc == 0 && errno != 0)
        rc = mtp_error_set(err, MTP_EIO, "%s: cannot read directory: %s", path, strerror(errno));
    closedir(d);
    return rc;
}

static int compare_tree_entries(const void *a, const void *b)
{
    /* strcmp compares as unsigned char: a bytewise order independent of the locale. */
    return strcmp(((const mtp_tree_entry *)a)->path, ((const mtp_tree_entry *)b)->path);
}

int mtp_tree_list(const char *root, mtp_tree_entry **out, size_t *n, mtp_error *err)
{
    *out = NULL;
    *n = 0;
    tree_list t = {NULL, 0, 0};
    int rc = tree_walk(root, "", 0, &t, err);
    if (rc < 0) {
        mtp_tree_free(t.items, t.n);
        return rc;
    }
    if (t.n > 1)
        qsort(t.items, t.n, sizeof *t.items, compare_tree_entries);
    *out = t.items;
    *n = t.n;
    return 0;
}

void mtp_tree_free(mtp_tree_entry *entries, size_t n)
{
    if (entries == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(entries[i].path);
    free(entries);
}

void mtp_writeback_start(int fd)
{
#ifdef SYNC_FILE_RANGE_WRITE
    if (fd >= 0)
        (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd;
#endif
}
