/*
 * tarball.h — the deterministic release archive (<name>-<version>.tar.gz), made and read
 * with libarchive.
 *
 * The same directory contents always give the same archive bytes, whatever the files'
 * mtimes, permissions, owners or the umask, so the archive's own SHA-256 is reproducible:
 *   - pax (restricted) tar: a plain ustar header per entry; a pax extended header only where
 *     ustar cannot express a field (a path ustar's 100+155 bytes cannot split, a size of
 *     8 GiB or more), and never with atime/ctime; names are printable ASCII only;
 *   - entries sorted by path (bytewise), the top folder and every directory included;
 *   - every entry: mtime = the caller's value, uid/gid 0, empty uname/gname, mode 0644 for
 *     files and 0755 for directories;
 *   - gzip level 6 with no timestamp and no original file name in the gzip header (the
 *     header's MTIME is 0 and its FLG byte 0).
 */
#ifndef MTP_TARBALL_H
#define MTP_TARBALL_H

#include <stddef.h>
#include <signal.h>
#include <stdint.h>

#include "mtp/digest.h"
#include "mtp/fsutil.h"
#include "mtp/error.h"

/* Largest entry mtp_archive_scan / mtp_archive_read_member accept. */
#define MTP_ARCHIVE_ENTRY_MAX ((uint64_t)64 << 30)
/* Most entries an archive may hold (written or read). */
#define MTP_ARCHIVE_ENTRIES_MAX 1000000
/* Longest path inside an archive, top folder included. */
#define MTP_ARCHIVE_PATH_MAX 4096

/*
 * Pack the directory `dir` into `out_path` as a deterministic .tar.gz. The basename of `dir`
 * becomes the top-level folder in the archive (e.g. mtneuro-demo-1.0.0/task1.h5). Every entry
 * gets mtime `mtime` (seconds since the epoch, >= 0). The tree is read with mtp_tree_list
 * (fsutil.h: the release walk, which skips temporaries of atomic writes); the archive is
 * written through an mtp_atomic_file, so on failure nothing is left behind and an existing
 * `out_path` is untouched. The result has mode 0644.
 * Errors: MTP_EFORMAT "<path>: not a regular file or directory (symlink)" (or "(special
 * file)") for anything else in the tree; MTP_ECONFIG "<out_path>: archive would be inside
 * <dir>" when out_path lies in the tree, or "<dir>: cannot be the top folder of an archive";
 * MTP_EINVAL for a bad mtime (a bug); MTP_EIO for file system errors (naming the path,
 * "<dir>: not a directory"), including a file that changes size while it is archived; MTP_ERANGE
 * for paths longer than MTP_ARCHIVE_PATH_MAX, or beyond the walk's caps (MTP_TREE_MAX_DEPTH,
 * MTP_TREE_MAX_ENTRIES); MTP_EFORMAT "<path>: file name is not printable ASCII" (a
 * non-ASCII name would make the bytes depend on the locale); MTP_ENOMEM; MTP_ECANCEL when
 * `cancel` (optional) becomes nonzero, checked every 1 MiB copied.
 */
int mtp_archive_write(const char *dir, const char *out_path, int64_t mtime,
                      const volatile sig_atomic_t *cancel, mtp_error *err);

/*
 * The same archive, written into `file` (opened by mtp_atomic_open, neither committed nor
 * aborted here: the caller does one or the other), with `top_name` as the top folder
 * instead of the basename of `dir` (NULL: the basename). A build packs its staging
 * directory under the release's final name this way, before swapping either into place.
 */
int mtp_archive_write_into(const char *dir, const char *top_name, mtp_atomic_file *file,
                           int64_t mtime, const volatile sig_atomic_t *cancel, mtp_error *err);

/*
 * Called by mtp_archive_scan for each regular file: `path` is relative to the top folder
 * (e.g. "previews/task1.png"), `digest` its SHA-256, MD5 and size. Both are borrowed for the
 * duration of the call. Return 0 to continue; any other value stops the scan and is
 * returned by mtp_archive_scan unchanged.
 */
typedef int (*mtp_archive_entry_fn)(const char *path, const mtp_digest *digest, void *userdata);

/*
 * Read an archive made by mtp_archive_write (gzip'ed tar only) and call `fn` for every
 * regular file, in archive order, digesting its contents on the fly (nothing is extracted).
 * The gzip layer is decoded with zlib, which checks the trailer's CRC-32 and length, so a
 * changed byte anywhere in the archive is an error, not silently different data (libarchive
 * 3.6's own gzip reader skips that check); the stream must end exactly at the end of the
 * file and is read to its end. Each failing with MTP_ECORRUPT "<archive_path>: ...":
 * "corrupt gzip stream: <zlib's reason>" (e.g. "incorrect data check", "incorrect header
 * check" for a file that is not gzip), "truncated gzip stream", "data after the end of the
 * gzip stream", "empty archive"; per entry "<path>: unsafe path" (absolute, or a ".", ".."
 * or empty component), "<path>: not a regular file or directory" (links, devices),
 * "<path>: outside the top folder <top>/", "first entry <path> is not a top folder",
 * "<path>: entry out of order or repeated" (entries must be strictly increasing bytewise, as
 * mtp_archive_write sorts them), or a size that does not match the data. MTP_ERANGE for an
 * entry over MTP_ARCHIVE_ENTRY_MAX, a path over MTP_ARCHIVE_PATH_MAX or more than
 * MTP_ARCHIVE_ENTRIES_MAX entries; MTP_EIO "<archive_path>: cannot open: <strerror>".
 * Returns 0 when every entry was read and the stream checked out, or fn's nonzero value
 * (the rest of the archive is then not checked).
 */
int mtp_archive_scan(const char *archive_path, mtp_archive_entry_fn fn, void *userdata,
                     mtp_error *err);

/*
 * Extract the whole archive into `dest_dir` (created if missing), with the checks of
 * mtp_archive_scan: the top folder's entries land directly in dest_dir ("manifest.json" as
 * dest_dir/manifest.json), each file written through an atomic file (never half-written
 * under its name). Errors as mtp_archive_scan's, plus MTP_EIO (naming the path) and
 * MTP_ERANGE for a path too long.
 */
int mtp_archive_extract(const char *archive_path, const char *dest_dir, mtp_error *err);

/*
 * Extract the regular file `member` (path relative to the top folder, e.g. "manifest.json")
 * into memory. On success *out is a malloc'ed buffer owned by the caller, NUL-terminated
 * for convenience (the NUL is not counted in *len); on failure *out is NULL and *len 0.
 * Only the entries up to the member are read and checked (as in mtp_archive_scan); use
 * mtp_archive_scan to check a whole archive.
 * Errors: MTP_ENOTFOUND "<archive_path>: no member <member>" or "<archive_path>: member
 * <member> is a directory"; MTP_ERANGE "<archive_path>: member <member> is <n> bytes, over
 * the cap of <cap>"; MTP_ECORRUPT, MTP_EIO as in mtp_archive_scan; MTP_ENOMEM.
 */
int mtp_archive_read_member(const char *archive_path, const char *member, char **out, size_t *len,
                            size_t cap, mtp_error *err);

#endif
