/* renameat2() and RENAME_EXCHANGE are Linux's, declared by glibc behind _GNU_SOURCE. */
#define _GNU_SOURCE

#include "mtp/stage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mtp/fsutil.h"

struct mtp_stage {
    char out_dir[MTP_STAGE_PATH_MAX];
    char release[MTP_STAGE_PATH_MAX];     /* "<name>-<version>" */
    char final_dir[MTP_STAGE_PATH_MAX];   /* <out>/<release> */
    char staging_dir[MTP_STAGE_PATH_MAX]; /* <out>/.<release>.staging.<pid> */
    char lock_path[MTP_STAGE_PATH_MAX];   /* <out>/.<release>.lock */
    int lock_fd;
    bool committed;
};

/* buf (MTP_STAGE_PATH_MAX) = "<dir>/.<release>.<kind>" or, with pid >= 0, ".<pid>" after. */
static int hidden_path(char *buf, const char *dir, const char *release, const char *kind, long pid,
                       mtp_error *err)
{
    int n = pid >= 0 ? snprintf(buf, MTP_STAGE_PATH_MAX, "%s/.%s.%s.%ld", dir, release, kind, pid)
                     : snprintf(buf, MTP_STAGE_PATH_MAX, "%s/.%s.%s", dir, release, kind);
    if (n < 0 || n >= MTP_STAGE_PATH_MAX)
        return mtp_error_set(err, MTP_ERANGE, "%s/%s: path too long", dir, release);
    return 0;
}

/* Open and flock the lock file. 1: locked; 0: the file was replaced meanwhile (try again). */
static int lock_once(mtp_stage *s, const char *path, mtp_error *err)
{
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0)
        return mtp_error_set(err, MTP_EIO, "%s: cannot open the lock file: %s", path,
                             strerror(errno));
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int saved = errno;
        if (saved != EWOULDBLOCK)
            return mtp_error_set(err, MTP_EIO, "%s: cannot lock: %s", path, strerror(saved));
        /* The holder writes its pid right after it takes the lock: give it up to ~100 ms
         * to do so, so the message names it even when both builds started together. */
        long pid = 0;
        for (int tries = 0; tries < 100 && pid <= 0; tries++) {
            char text[32] = {0};
            ssize_t got = pread(s->lock_fd, text, sizeof text - 1, 0);
            pid = got > 0 ? strtol(text, NULL, 10) : 0;
            if (pid <= 0)
                nanosleep(&(struct timespec){0, 1000000L}, NULL);
        }
        if (pid > 0)
            return mtp_error_set(err, MTP_EBUSY,
                                 "%s: another build (pid %ld) is writing this release; wait for "
                                 "it or use another --out",
                                 s->final_dir, pid);
        return mtp_error_set(err, MTP_EBUSY,
                             "%s: another build is writing this release (lock %s); wait for it "
                             "or use another --out",
                             s->final_dir, path);
    }
    /* The holder before us removes the file as it finishes: a lock on a file that no longer
     * has the name locks nothing, so check that the name still leads to ours. */
    struct stat by_fd, by_name;
    if (fstat(s->lock_fd, &by_fd) != 0 || stat(path, &by_name) != 0 ||
        by_fd.st_ino != by_name.st_ino || by_fd.st_dev != by_name.st_dev) {
        close(s->lock_fd);
        s->lock_fd = -1;
        return 0;
    }
    return 1;
}

/* Take the lock without waiting; name the holder when it is taken. */
static int take_lock(mtp_stage *s, mtp_error *err)
{
    int rc = hidden_path(s->lock_path, s->out_dir, s->release, "lock", -1, err);
    for (int attempt = 0; rc == 0; attempt++) {
        if (attempt == 100)
            return mtp_error_set(err, MTP_EBUSY, "%s: the lock file keeps changing", s->lock_path);
        rc = lock_once(s, s->lock_path, err);
    }
    if (rc < 0)
        return rc;
    char text[32];
    int len = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    if (ftruncate(s->lock_fd, 0) != 0 || pwrite(s->lock_fd, text, (size_t)len, 0) != len)
        return mtp_error_set(err, MTP_EIO, "%s: cannot write the lock file: %s", s->lock_path,
                             strerror(errno));
    return 0;
}

static bool has_prefix(const char *name, const char *prefix)
{
    return strncmp(name, prefix, strlen(prefix)) == 0;
}

/* Under the lock, every staging or old tree of this release belongs to a dead build. */
static int recover_and_clean(mtp_stage *s, mtp_error *err)
{
    /* The release name fits in 4095 bytes, so these prefixes fit in twice that. */
    char staging_prefix[2 * MTP_STAGE_PATH_MAX], old_prefix[2 * MTP_STAGE_PATH_MAX];
    snprintf(staging_prefix, sizeof staging_prefix, ".%s.staging.", s->release);
    snprintf(old_prefix, sizeof old_prefix, ".%s.old.", s->release);
    struct stat st;
    bool have_final = lstat(s->final_dir, &st) == 0;
    DIR *d = opendir(s->out_dir);
    if (d == NULL)
        return mtp_error_set(err, MTP_EIO, "%s: cannot list: %s", s->out_dir, strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        bool old = has_prefix(e->d_name, old_prefix);
        if (!old && !has_prefix(e->d_name, staging_prefix))
            continue;
        char path[MTP_STAGE_PATH_MAX];
        int n = snprintf(path, sizeof path, "%s/%s", s->out_dir, e->d_name);
        if (n < 0 || (size_t)n >= sizeof path)
            continue; /* cannot be one of ours: ours fit */
        if (old && !have_final) {
            /* A fallback swap died between its renames: the old release comes back. */
            if (rename(path, s->final_dir) != 0)
                rc = mtp_error_set(err, MTP_EIO, "%s: cannot restore from %s: %s", s->final_dir,
                                   path, strerror(errno));
            have_final = true;
            continue;
        }
        rc = mtp_remove_tree(path, err);
    }
    closedir(d);
    return rc;
}

int mtp_stage_begin(mtp_stage **out, const char *out_dir, const char *release, mtp_error *err)
{
    *out = NULL;
    mtp_stage *s = calloc(1, sizeof *s);
    if (s == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "out of memory");
    s->lock_fd = -1;
    int rc = 0;
    size_t lo = strlen(out_dir), lr = strlen(release);
    if (lo >= sizeof s->out_dir || lr >= sizeof s->release) {
        rc = mtp_error_set(err, MTP_ERANGE, "%s: path too long", out_dir);
        goto out;
    }
    memcpy(s->out_dir, out_dir, lo + 1);
    memcpy(s->release, release, lr + 1);
    int n = snprintf(s->final_dir, sizeof s->final_dir, "%s/%s", out_dir, release);
    if (n < 0 || (size_t)n >= sizeof s->final_dir) {
        rc = mtp_error_set(err, MTP_ERANGE, "%s/%s: path too long", out_dir, release);
        goto out;
    }
    rc = hidden_path(s->staging_dir, out_dir, release, "staging", (long)getpid(), err);
    if (rc == 0)
        rc = mtp_mkdir_p(out_dir, err);
    if (rc == 0)
        rc = take_lock(s, err);
    if (rc == 0)
        rc = recover_and_clean(s, err);
    if (rc == 0 && mkdir(s->staging_dir, 0755) != 0)
        rc = mtp_error_set(err, MTP_EIO, "%s: cannot create: %s", s->staging_dir, strerror(errno));
out:
    if (rc < 0) {
        if (s->lock_fd >= 0)
            close(s->lock_fd);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

const char *mtp_stage_dir(const mtp_stage *stage)
{
    return stage->staging_dir;
}

const char *mtp_stage_final_dir(const mtp_stage *stage)
{
    return stage->final_dir;
}

static bool exchange_unsupported(int e)
{
    return e == EINVAL || e == ENOSYS || e == ENOTSUP || e == EOPNOTSUPP;
}

int mtp_stage_commit(mtp_stage *s, mtp_error *err)
{
    int rc = mtp_fsync_dir(s->staging_dir, err);
    if (rc < 0)
        return rc;
    struct stat st;
    bool have_final = lstat(s->final_dir, &st) == 0;
    char old_dir[MTP_STAGE_PATH_MAX] = "";
    if (!have_final) {
        if (rename(s->staging_dir, s->final_dir) != 0)
            return mtp_error_set(err, MTP_EIO, "%s: cannot rename %s into place: %s", s->final_dir,
                                 s->staging_dir, strerror(errno));
    } else if (renameat2(AT_FDCWD, s->staging_dir, AT_FDCWD, s->final_dir, RENAME_EXCHANGE) == 0) {
        /* The old release now sits under the staging name. */
        snprintf(old_dir, sizeof old_dir, "%s", s->staging_dir);
    } else if (exchange_unsupported(errno)) {
        rc = hidden_path(old_dir, s->out_dir, s->release, "old", (long)getpid(), err);
        if (rc < 0)
            return rc;
        if (rename(s->final_dir, old_dir) != 0)
            return mtp_error_set(err, MTP_EIO, "%s: cannot move aside to %s: %s", s->final_dir,
                                 old_dir, strerror(errno));
        if (rename(s->staging_dir, s->final_dir) != 0) {
            int saved = errno;
            (void)rename(old_dir, s->final_dir); /* put the old release back */
            return mtp_error_set(err, MTP_EIO, "%s: cannot rename %s into place: %s", s->final_dir,
                                 s->staging_dir, strerror(saved));
        }
    } else {
        return mtp_error_set(err, MTP_EIO, "%s: cannot swap in %s: %s", s->final_dir,
                             s->staging_dir, strerror(errno));
    }
    s->committed = true;
    rc = mtp_fsync_dir(s->out_dir, err);
    if (rc == 0 && old_dir[0] != '\0')
        rc = mtp_remove_tree(old_dir, err);
    return rc;
}

void mtp_stage_free(mtp_stage *stage)
{
    if (stage == NULL)
        return;
    if (!stage->committed) {
        mtp_error ignored = MTP_ERROR_INIT;
        (void)mtp_remove_tree(stage->staging_dir, &ignored);
    }
    if (stage->lock_fd >= 0) {
        /* Unlinked while still held, so no one can lock this inode by its name after us. */
        (void)unlink(stage->lock_path);
        close(stage->lock_fd); /* releases the flock */
    }
    free(stage);
}
