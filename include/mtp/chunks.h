/*
 * chunks.h — compress slice chunks once, on worker threads, as zlib streams that HDF5's
 * deflate filter reads, so the bytes can go into every file that holds the slice with
 * H5Dwrite_chunk() (DESIGN §9). No HDF5 here: libdeflate, zlib and pthreads.
 *
 * The bytes of one chunk are a zlib stream (header, deflate data, Adler-32 trailer) of the
 * raw slice: for levels 1-9 libdeflate_zlib_compress() at the same level (libdeflate's
 * levels 1-9), for level 0 zlib's compress2() (stored blocks, as HDF5's filter writes them).
 * The zlib header's FLEVEL bits follow the level as zlib sets them (0 for 1, 1 for 2-5, 2
 * for 6, 3 for 7-9). The output depends only on the input bytes, the level and the
 * compressor's version (mtp_chunk_compressor), never on the thread count or timing.
 *
 * Errors: MTP_EINVAL for caller mistakes (NULL pointers, a level outside 0..9, a slice size
 * of 0 or above MTP_CHUNK_MAX_BYTES), MTP_ENOMEM, MTP_EFORMAT when zlib fails (it does not
 * with a compressBound buffer, short of memory), MTP_EIO when a thread cannot be started.
 */
#ifndef MTP_CHUNKS_H
#define MTP_CHUNKS_H

#include <stddef.h>
#include <stdint.h>

#include "mtp/error.h"

/* Largest slice, in bytes, one chunk may hold (HDF5's chunk limit is 4 GiB). */
#define MTP_CHUNK_MAX_BYTES (1u << 30)
/* Most threads a pool runs. */
#define MTP_POOL_MAX_THREADS 256

/* One compressed chunk. `data` is malloc'ed and owned by whoever holds the struct; release
 * it with mtp_chunk_release(). An empty chunk is {NULL, 0}. */
typedef struct mtp_chunk {
    uint8_t *data;
    size_t size;
    /* The slice it was deflated from (set by this module; borrowed, never dereferenced
     * here). A writer handed the chunk together with that same pointer knows the pair
     * belongs together without hashing the slice again. */
    const uint8_t *source;
} mtp_chunk;

/* Free c->data and set *c to {NULL, 0}. NULL is fine. */
void mtp_chunk_release(mtp_chunk *c);

/* mtp_chunk_release() on each of chunks[0..n). NULL is fine. */
void mtp_chunks_release(mtp_chunk *chunks, size_t n);

/* The most bytes a chunk of an `nbytes` slice at `level` can take. */
size_t mtp_chunk_bound(size_t nbytes, int level);

/* What makes the chunk bytes at `level`, for the files' provenance: "libdeflate 1.14, level
 * 4" (levels 1-9), "zlib 1.2.13, level 0", or "none" for a negative level (no compression),
 * into buf[n]. Returns buf. */
const char *mtp_chunk_compressor(int level, char *buf, size_t n);

/*
 * Deflate `nbytes` bytes at `src` at `level` (0..9) on the calling thread, as the pool does. On success *out holds the new chunk (caller releases it); on
 * failure *out is {NULL, 0}. nbytes must be 1..MTP_CHUNK_MAX_BYTES.
 */
int mtp_chunk_deflate_one(const uint8_t *src, size_t nbytes, int level, mtp_chunk *out,
                          mtp_error *err);

typedef struct mtp_pool mtp_pool;
typedef struct mtp_chunk_batch mtp_chunk_batch;

/*
 * A pool of `nthreads` worker threads that compress slices at `level` (0..9) in the
 * background: batches are queued and taken in the order they were submitted, one slice at
 * a time, so the caller can go on with other work and collect each chunk when it needs it.
 * nthreads <= 0 means the number of online cores (sysconf(_SC_NPROCESSORS_ONLN), 1 if
 * unknown); at most MTP_POOL_MAX_THREADS. On success *out is a new pool the caller
 * frees; on failure *out is NULL. The workers never call into HDF5.
 */
int mtp_pool_new(mtp_pool **out, int nthreads, int level, mtp_error *err);

/* Worker threads and the level of a pool. */
int mtp_pool_threads(const mtp_pool *c);
int mtp_pool_level(const mtp_pool *c);

/*
 * Queue `nslices` slices of `slice_bytes` bytes each, slice i at data + i * slice_bytes, and
 * return at once with *out a new batch that owns their chunks. The bytes are borrowed until
 * mtp_chunk_batch_free(); they must not change before then. Chunk i is byte for byte what
 * mtp_chunk_deflate_one() gives for slice i, whatever the thread count or timing. A slice
 * equal to the one before it is not compressed again: its chunk shares that slice's bytes
 * (`data`), with `source` still its own slice.
 */
int mtp_pool_submit(mtp_pool *c, const uint8_t *data, size_t nslices, size_t slice_bytes,
                    mtp_chunk_batch **out, mtp_error *err);

/*
 * Other work for the same workers, queued behind the batches submitted before it: part i of
 * the job is fn(arg, i, err), for i in [0, nparts), on any thread, in any order; a part
 * returns 0 or a negative error it set in err. Collect it like slices with
 * mtp_chunk_batch_wait() (*out stays NULL: a job has no chunks) and mtp_chunk_batch_free().
 * `arg` is borrowed until the batch is freed.
 */
typedef int (*mtp_job_fn)(void *arg, size_t i, mtp_error *err);
int mtp_pool_run(mtp_pool *c, mtp_job_fn fn, void *arg, size_t nparts, mtp_chunk_batch **out,
                 mtp_error *err);

/* The number of slices (or parts) of a batch (0 for NULL). */
size_t mtp_chunk_batch_size(const mtp_chunk_batch *b);

/*
 * Wait until chunks [first, first + count) of `b` are made; *out (optional) then points at
 * chunk `first` of `count` consecutive chunks, valid until the batch is freed. While the
 * batch has items no worker has started, the calling thread does them itself instead of
 * sleeping (the output is the same whoever makes a chunk). A slice whose
 * compression failed gives that slice's error ("... (slice 7)"), the lowest such slice in the
 * range; a range outside the batch is MTP_EINVAL.
 */
int mtp_chunk_batch_wait(mtp_chunk_batch *b, size_t first, size_t count, const mtp_chunk **out,
                         mtp_error *err);

/* Drop the slices not started yet, wait for those being compressed, and free the batch with
 * its chunks. NULL is fine. */
void mtp_chunk_batch_free(mtp_chunk_batch *b);

/*
 * Deflate slices[0..nslices), each `slice_bytes` long, on the pool; returns when all are
 * done. out[i] receives slice i's chunk (the caller releases them, e.g. with
 * mtp_chunks_release()). `slices` and their bytes are borrowed for the call and only read.
 * nslices == 0 does nothing.
 * On failure every out[i] is {NULL, 0} and the error is that of the lowest failing slice;
 * MTP_EINVAL for a NULL array or slice pointer ("pool: slice 3 is NULL").
 */
int mtp_pool_compress(mtp_pool *c, const uint8_t *const *slices, size_t nslices, size_t slice_bytes,
                      mtp_chunk *out, mtp_error *err);

/* Stop and join the workers, and free c. NULL is fine. */
void mtp_pool_free(mtp_pool *c);

#endif
