/* sync_file_range() (mtp_writeback_start) is Linux's, behind _GNU_SOURCE. */
#define _GNU_SOURCE

#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

int mtp_fsync_parent(const char *path, mtp_error *err)
{
    char buf[4096];
    if (strlen(path) >= sizeof buf)
        return mtp_error_set(err, MTP_ERANGE, "%s: path too long", path);
    strcpy(buf, path);
    const char *dir = dirname(buf);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return mtp_error_set(err, MTP_EIO, "%s: cannot open directory: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    if (rc != 0)
        return mtp_error_set(err, MTP_EIO, "%s: fsync: %s", dir, strerror(saved));
    return 0;
}

int mtp_write_file_atomic(const char *path, const void *data, size_t len, mtp_error *err)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return mtp_error_set(err, MTP_ERANGE, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return mtp_error_set(err, MTP_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int saved = errno;
            close(fd);
            unlink(tmp);
            return mtp_error_set(err, MTP_EIO, "%s: write: %s", tmp, strerror(saved));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int saved = errno;
        unlink(tmp);
        return mtp_error_set(err, MTP_EIO, "%s: fsync: %s", tmp, strerror(saved));
    }
    if (rename(tmp, path) != 0) {
        int saved = errno;
        unlink(tmp);
        return mtp_error_set(err, MTP_EIO, "%s: rename: %s", path, strerror(saved));
    }
    return mtp_fsync_parent(path, err);
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
