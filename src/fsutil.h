/*
 * fsutil.h — small file-system helpers: mkdir -p and atomic whole-file writes.
 */
#ifndef MTP_FSUTIL_H
#define MTP_FSUTIL_H

#include <stddef.h>

#include "error.h"

/* Create `path` and its missing parents (mode 0755). Existing directories are fine. */
int mtp_mkdir_p(const char *path, mtp_error *err);

/*
 * Write `len` bytes to `path` atomically: a temporary file in the same directory, fsync,
 * rename over `path`, fsync the directory. On failure nothing is left at `path` that was
 * not there before.
 */
int mtp_write_file_atomic(const char *path, const void *data, size_t len, mtp_error *err);

/* Ask the kernel to start writing fd's dirty pages to disk now, without waiting for them
 * (Linux sync_file_range; elsewhere nothing). A hint: the fsync that makes the file durable
 * later has less to wait for. It may block while the disk's queue is full, so call it off
 * the threads that compute. Errors are ignored. */
void mtp_writeback_start(int fd);

/*
 * Remove `path` and everything under it, not following symlinks (a symlink is removed, not
 * its target). A missing path is fine. Errors: MTP_EIO naming the entry that could not be
 * removed and the OS error.
 */
int mtp_remove_tree(const char *path, mtp_error *err);

/* fsync the directory holding `path` (so a rename into it is durable). */
int mtp_fsync_parent(const char *path, mtp_error *err);

#endif
