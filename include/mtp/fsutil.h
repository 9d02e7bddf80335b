/*
 * fsutil.h — small file-system helpers: mkdir -p and atomic whole-file writes.
 */
#ifndef MTP_FSUTIL_H
#define MTP_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "mtp/error.h"

/* Create `path` and its missing parents (mode 0755). Existing directories are fine. */
int mtp_mkdir_p(const char *path, mtp_error *err);

/*
 * The one way this program gives a file its final name (cache blocks, HDF5 files, metadata,
 * previews, archives): write everything under a unique temporary name in the same
 * directory, fsync, rename over the final name, fsync the directory. A reader sees the old
 * file or the complete new one, never part of one; a process killed at any instant leaves
 * at most its temporary, which mtp_atomic_remove_stale() recognises as dead later.
 *
 * Temporary names: "<final>.tmp.<host>.<pid>.<n>" — host from gethostname() (characters
 * other than [A-Za-z0-9-] as '_'), pid of the writer, n a per-process counter. A name
 * containing ".tmp." is a temporary to every reader here (manifest, archive, verify).
 */
#define MTP_PATH_MAX 4096

typedef struct mtp_atomic_file {
    char path[MTP_PATH_MAX]; /* the final name */
    char temp[MTP_PATH_MAX]; /* the temporary being written */
    int fd;                  /* open for writing the temporary, -1 once closed */
} mtp_atomic_file;

/*
 * Create the temporary for `path` (O_EXCL, mode 0644 whatever the umask) and open it for
 * writing. The caller
 * writes through f->fd, or by name through f->temp (HDF5, libarchive: fsync on f->fd then
 * flushes what they wrote to the same inode). Then exactly one of commit or abort.
 * Errors: MTP_ERANGE (path too long), MTP_EIO "<temp>: cannot create: <OS error>".
 */
int mtp_atomic_open(mtp_atomic_file *f, const char *path, mtp_error *err);

/* Write all `len` bytes to `fd`, retrying short writes and EINTR: 0, or the errno that
 * stopped it. */
int mtp_write_all(int fd, const void *data, size_t len);

/* Write all `len` bytes at the current offset of f->fd. MTP_EIO "<temp>: write: <OS error>". */
int mtp_atomic_write(mtp_atomic_file *f, const void *data, size_t len, mtp_error *err);

/*
 * fsync and close the temporary, rename it over f->path, fsync the directory. On failure
 * the temporary is removed and the final name is untouched (unless the directory fsync
 * failed: then the rename happened but may not survive a crash). MTP_EIO naming the path
 * and the OS error (e.g. "...: fsync: No space left on device").
 */
int mtp_atomic_commit(mtp_atomic_file *f, mtp_error *err);

/* Close and remove the temporary (idempotent; a zeroed or committed f is fine). */
void mtp_atomic_abort(mtp_atomic_file *f);

/* Write `len` bytes to `path` through one atomic file (open, write, commit). */
int mtp_write_file_atomic(const char *path, const void *data, size_t len, mtp_error *err);

/* 1 if `name` (a file name or path) is a temporary of an atomic write — it contains ".tmp."
 * or ends in ".tmp" (what earlier versions left) — else 0. */
int mtp_atomic_is_temp(const char *name);

/* Temporaries of another host are removed only when older than this (it may still run). */
#define MTP_ATOMIC_FOREIGN_STALE_S (24 * 3600)

/*
 * Remove the temporaries under `dir` (recursively, at most 16 levels) whose writer is gone:
 * those of this host whose pid no longer exists, and those of another host (or with a name
 * this program did not make) older than MTP_ATOMIC_FOREIGN_STALE_S. A live process's
 * temporaries are never touched, so this is safe while other processes write into `dir`
 * (many fetchers sharing one cache). *removed (optional) counts what was removed.
 * Errors: MTP_EIO naming the directory or file.
 */
int mtp_atomic_remove_stale(const char *dir, int *removed, mtp_error *err);

/*
 * The one walk of a release tree (used by the manifest and the archive): every directory
 * and regular file under `root`, as paths relative to it ("previews", "previews/a.png"),
 * sorted bytewise (locale-independent). Temporaries of atomic writes (mtp_atomic_is_temp)
 * are skipped when they are regular files. Anything else — symlink, fifo, socket, device,
 * even under a temporary's name — is MTP_EFORMAT "<path>: not a regular file or directory
 * (symlink)"; a name with bytes outside printable ASCII is MTP_EFORMAT "<path>: file name is
 * not printable ASCII"; deeper than MTP_TREE_MAX_DEPTH levels or more than
 * MTP_TREE_MAX_ENTRIES entries is MTP_ERANGE; unreadable directories MTP_EIO.
 * On success *out is an array of *n entries the caller frees with mtp_tree_free(); on
 * failure *out is NULL and *n 0.
 */
#define MTP_TREE_MAX_DEPTH 16
#define MTP_TREE_MAX_ENTRIES 100000

typedef struct mtp_tree_entry {
    char *path; /* relative to the root, no leading "./" */
    int is_dir;
} mtp_tree_entry;

int mtp_tree_list(const char *root, mtp_tree_entry **out, size_t *n, mtp_error *err);
void mtp_tree_free(mtp_tree_entry *entries, size_t n);

/* 1 if every byte of `name` is printable ASCII (0x20..0x7e): other bytes would make names in
 * an archive depend on the locale (libarchive's pax writer converts them through it). */
int mtp_name_is_printable_ascii(const char *name);

/* What a non-regular file is, for messages: "symlink", "fifo", "socket", "device", ... */
const char *mtp_file_kind(mode_t mode);

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

/* fsync the directory `dir` itself (after renames inside it). */
int mtp_fsync_dir(const char *dir, mtp_error *err);

#endif
