/*
 * cache.h — the on-disk block cache: atomic, checksummed, resumable (DESIGN §5).
 *
 * Layout under the cache directory:
 *   <dir>/v1/<sha256(server url)[0:16]>/<coll>/<exp>/<chan>/res<r>/
 *       x<x0>-<x1>_y<y0>-<y1>_z<z0>-<z1>.<dtype>.blk
 * ("v1" is the layout of the tree; the files inside carry their own format version.)
 * A .blk file is a fixed header (magic "MTPBLK2\n", the key's dtype, the stored dtype, box,
 * decoded byte count, SHA-256 of the decoded bytes as stored, stored byte count) followed
 * by the voxels, compressed with blosc (lz4, shuffle by the stored dtype's size). A uint16
 * or uint64 block whose values are all <= 255 is stored narrowed to uint8 (a label
 * channel's codes: an eighth of the bytes to decompress and hash); get() widens it back.
 * Files of format 1 ("MTPBLK1\n", never narrowed) are still read. The byte layout is in
 * cache.c. Writes go through mtp_write_file_atomic (fsutil.h: a temporary named for the
 * host and pid in the same directory, fsync, rename, fsync of the directory), so a crash
 * leaves either the whole block or nothing.
 *
 * Sharing: no lock, so many threads and processes — on several hosts, over a shared file
 * system whose rename within a directory is atomic (NFS) — may use one cache at once.
 * Distinct blocks are written in parallel; the same block written twice ends as one of two
 * identical files (the last rename wins). Opening the cache removes the temporaries of dead
 * writers (mtp_atomic_remove_stale: this host's whose pid is gone, other hosts' after a day)
 * and never those of live ones; it lists every directory of the cache once to do so.
 */
#ifndef MTP_CACHE_H
#define MTP_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "mtp/error.h"
#include "mtp/types.h"

typedef struct mtp_cache mtp_cache;

/* Identifies one block: the same key in two configs means the same bytes. */
typedef struct mtp_block_key {
    const char *server; /* source URL, e.g. "https://api.bossdb.io" */
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
 * Read the block into dst, which must hold exactly `nbytes` = voxels × dtype size, at the
 * key's dtype: the exact bytes given to put() (a narrowed file is widened back).
 * Verifies the header and the SHA-256 of the decoded bytes as stored.
 * Returns 0; MTP_ENOTFOUND if absent; MTP_ECORRUPT if damaged — in that case the file
 * has been deleted (so the next fetch gets it again) and err names it:
 * "cache: <path>: <what> (discarded)".
 */
int mtp_cache_get(mtp_cache *cache, const mtp_block_key *key, void *dst, size_t nbytes,
                  mtp_error *err);

/* Where mtp_cache_get_u8 found the first value that does not fit in uint8. */
typedef struct mtp_cache_overflow {
    uint64_t index; /* voxel index in the block, C order (z, y, x) */
    uint64_t value;
} mtp_cache_overflow;

/*
 * Read the block as uint8 values into dst, which must hold exactly `voxels` = the key's
 * box's voxel count (whatever the key's dtype). A narrowed file decodes straight into dst;
 * a file stored at full width (uint16/uint64 with a value > 255, or a format 1 file) is
 * decoded aside, checked, then narrowed. The SHA-256 is verified either way.
 * Returns 0; MTP_EDATA if a value is > 255 — then *over (if not NULL) holds the first
 * such voxel's index and value, err says "cache: <path>: value V at voxel I does not fit
 * in uint8", and dst holds every voxel's low byte; otherwise the same as mtp_cache_get
 * (MTP_ENOTFOUND, MTP_ECORRUPT with the file deleted, ...).
 */
int mtp_cache_get_u8(mtp_cache *cache, const mtp_block_key *key, uint8_t *dst, size_t voxels,
                     mtp_cache_overflow *over, mtp_error *err);

/*
 * Store `nbytes` (= voxels × the key's dtype size) decoded bytes for `key` atomically
 * (tmp -> fsync -> rename), narrowed to uint8 when the dtype is wider and every value is
 * <= 255. For a wider dtype, nbytes = voxels means `data` is narrowed already (one byte
 * per voxel, e.g. from mtp_codec_decode_u8) and is stored as it is. `data` need not be
 * aligned.
 */
int mtp_cache_put(mtp_cache *cache, const mtp_block_key *key, const void *data, size_t nbytes,
                  mtp_error *err);

/*
 * A small per-channel record beside the blocks (the channel's metadata, so that `build
 * --offline` needs no server): <dir>/v1/<server hash>/<coll>/<exp>/<chan>/<name>, where
 * only the key's server, collection, experiment and channel count and `name` is a plain
 * file name ending in ".txt". put writes `len` <= MTP_CACHE_RECORD_MAX bytes atomically (as
 * blocks are: concurrent writers of the same bytes are fine). get reads it into buf (cap
 * bytes, NUL-terminated, *len without the NUL): MTP_ENOTFOUND if absent, MTP_ERANGE if it
 * is longer than cap - 1, MTP_EIO naming the path.
 */
#define MTP_CACHE_RECORD_MAX 4096
int mtp_cache_put_record(mtp_cache *cache, const mtp_block_key *key, const char *name,
                         const void *data, size_t len, mtp_error *err);
int mtp_cache_get_record(mtp_cache *cache, const mtp_block_key *key, const char *name, char *buf,
                         size_t cap, size_t *len, mtp_error *err);

/* The path a key maps to (for messages and tests); MTP_ERANGE if buf is too small. */
int mtp_cache_path(mtp_cache *cache, const mtp_block_key *key, char *buf, size_t n, mtp_error *err);

#endif
