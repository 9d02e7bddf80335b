/*
 * cache.h — the on-disk block cache: atomic, checksummed, resumable (DESIGN §5).
 *
 * Layout under the cache directory:
 *   <dir>/v1/<sha256(server url)[0:16]>/<coll>/<exp>/<chan>/res<r>/
 *       x<x0>-<x1>_y<y0>-<y1>_z<z0>-<z1>.<dtype>.blk
 * A .blk file is a fixed header (magic "MTPBLK1\n", dtype, box, decoded byte count,
 * SHA-256 of the decoded bytes, stored byte count) followed by the decoded voxels,
 * compressed with blosc (lz4, shuffle by dtype). Writes go to a unique temporary name
 * in the same directory, are fsync'ed, then renamed into place (and the directory
 * fsync'ed), so a crash leaves either the whole block or nothing.
 */
#ifndef MTP_CACHE_H
#define MTP_CACHE_H

#include <stddef.h>

#include "error.h"
#include "types.h"

typedef struct mtp_cache mtp_cache;

/* Identifies one block: the same key in two configs means the same bytes. */
typedef struct mtp_block_key {
    const char *server;     /* source URL, e.g. "https://api.bossdb.io" */
    const char *collection;
    const char *experiment;
    const char *channel;
    int resolution;
    mtp_dtype dtype;
    mtp_box box;
} mtp_block_key;

/* Open (creating as needed) the cache rooted at `dir`. Caller frees with mtp_cache_free. */
int mtp_cache_open(mtp_cache **out, const char *dir, mtp_error *err);
void mtp_cache_free(mtp_cache *cache);

/*
 * The default cache directory: $XDG_CACHE_HOME/mtneuro-pack, else
 * $HOME/.cache/mtneuro-pack. Writes into buf (size n); MTP_ERANGE if it does not fit,
 * MTP_ENOTFOUND if neither variable is set.
 */
int mtp_cache_default_dir(char *buf, size_t n, mtp_error *err);

/* 1 if a file for `key` exists with a plausible header (cheap: no checksum), else 0. */
int mtp_cache_has(mtp_cache *cache, const mtp_block_key *key);

/*
 * Read the block into dst, which must hold exactly `nbytes` = voxels × dtype size.
 * Verifies the header and the SHA-256 of the decoded bytes.
 * Returns 0; MTP_ENOTFOUND if absent; MTP_ECORRUPT if damaged — in that case the file
 * has been deleted (so the next fetch gets it again) and err names it.
 */
int mtp_cache_get(mtp_cache *cache, const mtp_block_key *key, void *dst, size_t nbytes,
                  mtp_error *err);

/* Store `nbytes` decoded bytes for `key` atomically (tmp -> fsync -> rename). */
int mtp_cache_put(mtp_cache *cache, const mtp_block_key *key, const void *data,
                  size_t nbytes, mtp_error *err);

/* The path a key maps to (for messages and tests); MTP_ERANGE if buf is too small. */
int mtp_cache_path(mtp_cache *cache, const mtp_block_key *key, char *buf, size_t n,
                   mtp_error *err);

#endif
