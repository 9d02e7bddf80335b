/*
 * stage.h — a release directory written as a transaction (DESIGN §7).
 *
 * A build never writes into `<out>/<name>-<version>/` itself. It takes the output lock,
 * writes the whole release into a private staging directory beside it (same file system),
 * and swaps that in at the end. Under the final name there is, at every instant, either
 * the complete old release or the complete new one; a build killed anywhere leaves at most
 * hidden leftovers, which the next build into the same `--out` removes.
 *
 * Names inside `<out>/`, for a release `<rel>` = "<name>-<version>":
 *   .<rel>.lock              the lock file: flock()ed (exclusive) for the build's whole
 *                            run, holding the owner's pid as decimal text; removed by its
 *                            holder at the end (a taker checks that the name still leads to
 *                            the inode it locked, else tries again).
 *   .<rel>.staging.<pid>     the tree being written by build <pid>.
 *   .<rel>.old.<pid>         the previous release while build <pid> swaps (fallback only).
 *
 * The swap (mtp_stage_commit):
 *   1. fsync the staging directory (its files were fsynced when written);
 *   2. if `<rel>` exists: renameat2(staging, <rel>, RENAME_EXCHANGE) — one atomic step,
 *      after which the old tree sits under the staging name; where the file system does
 *      not support the exchange (EINVAL, ENOSYS, ENOTSUP), the fallback sequence is
 *      rename(<rel>, .<rel>.old.<pid>) then rename(staging, <rel>);
 *      if `<rel>` does not exist: rename(staging, <rel>);
 *   3. fsync `<out>`; remove the old tree.
 * Recovery (mtp_stage_begin, under the lock, so every leftover belongs to a dead build):
 *   if `<rel>` is missing and an `.<rel>.old.*` exists (a fallback swap killed between its
 *   two renames), that old tree is renamed back to `<rel>` first; then every
 *   `.<rel>.staging.*` and `.<rel>.old.*` is removed.
 *
 * The lock is an flock() on a local file system: it protects one `--out` against a second
 * build on the same machine (or the same NFS client). It is released when the handle is
 * freed or the process dies.
 */
#ifndef MTP_STAGE_H
#define MTP_STAGE_H

#include "mtp/error.h"

typedef struct mtp_stage mtp_stage;

/*
 * Lock `<out_dir>/<release>` for this process, recover and clean what earlier builds left,
 * and create a fresh staging directory (`out_dir` is created if missing).
 * On success *out is a new handle (free with mtp_stage_free). Errors: MTP_EBUSY
 * "<out_dir>/<release>: another build (pid N) is writing this release; wait for it or use
 * another --out" when the lock is held; MTP_EIO naming the path and the OS error;
 * MTP_ERANGE for a path beyond MTP_STAGE_PATH_MAX; MTP_ENOMEM.
 */
int mtp_stage_begin(mtp_stage **out, const char *out_dir, const char *release, mtp_error *err);

/* The staging directory to write the release into (borrowed, valid until free). */
const char *mtp_stage_dir(const mtp_stage *stage);

/* The final directory, `<out_dir>/<release>` (borrowed, valid until free). */
const char *mtp_stage_final_dir(const mtp_stage *stage);

/*
 * Swap the staging directory in under the final name (sequence above). After success the
 * staging name is gone and the old release removed; the lock is still held until free.
 * Errors: MTP_EIO naming the path and the OS error (the final name then still holds the
 * old release, or — in the fallback sequence only — nothing, which the next begin repairs).
 */
int mtp_stage_commit(mtp_stage *stage, mtp_error *err);

/* Remove the staging directory if it was not committed, release the lock, free. NULL ok. */
void mtp_stage_free(mtp_stage *stage);

#define MTP_STAGE_PATH_MAX 4096

#endif
