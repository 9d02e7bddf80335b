/*
 * chunks.h — compress slice chunks once, on worker threads, exactly as HDF5's deflate filter
 * would, so the bytes can go into every file that holds the slice with H5Dwrite_chunk()
 * (DESIGN §9). No HDF5 here: only zlib and pthreads.
 *
 * The bytes of one chunk are what HDF5 1.10's deflate filter (H5Zdeflate.c) stores for it:
 * zlib's compress2(dst, &dst_len, src, nbytes, level) into a compressBound(nbytes) buffer,
 * i.e. a zlib stream (header, deflate data, Adler-32 trailer) of the raw slice. The output
 * depends only on the input bytes and the level, never on the thread count or timing.
 *
 * Errors: MTP_EINVAL for caller mistakes (NULL pointers, a level outside 0..9, a slice size
 * of 0 or above MTP_CHUNK_MAX_BYTES), MTP_ENOMEM, MTP_EFORMAT when zlib fails (it does not
 * with a compressBound buffer, short of memory), MTP_EIO when a thread cannot be started.
 */
#ifndef MTP_CHUNKS_H
#define MTP_CHUNKS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Largest slice, in bytes, one chunk may hold (HDF5's chunk limit is 4 GiB). */
#define MTP_CHUNK_MAX_BYTES (1u << 30)
/* Most threads a chunker runs. */
#define MTP_CHUNKER_MAX_THREADS 256

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

/*
 * Deflate `nbytes` bytes at `src` at `level` (0..9) on the calling thread, with the zlib call
 * of HDF5's deflate filter. On success *out holds the new chunk (caller releases it); on
 * failure *out is {NULL, 0}. nbytes must be 1..MTP_CHUNK_MAX_BYTES.
 */
int mtp_chunk_deflate_one(const uint8_t *src, size_t nbytes, int level, mtp_chunk *out,
                          mtp_error *err);

typedef struct mtp_chunker mtp_chunker;

/*
 * A pool that compresses batches of slices at `level` (0..9) with `nthreads` threads in all:
 * the calling thread of mtp_chunker_compress() plus nthreads - 1 workers started here and
 * kept until mtp_chunker_free(). nthreads <= 0 means the number of online cores
 * (sysconf(_SC_NPROCESSORS_ONLN), 1 if unknown); at most MTP_CHUNKER_MAX_THREADS.
 * On success *out is a new chunker the caller frees; on failure *out is NULL.
 */
int mtp_chunker_new(mtp_chunker **out, int nthreads, int level, mtp_error *err);

/* Threads in all (the caller's included) and the level of a chunker. */
int mtp_chunker_threads(const mtp_chunker *c);
int mtp_chunker_level(const mtp_chunker *c);

/*
 * Deflate slices[0..nslices), each `slice_bytes` long, in parallel; returns when all are
 * done. out[i] receives slice i's chunk, byte for byte what mtp_chunk_deflate_one() gives
 * (the caller releases them, e.g. with mtp_chunks_release()). `slices` and their bytes are
 * borrowed for the call and only read. nslices == 0 does nothing.
 * On failure every out[i] is {NULL, 0} and the error is that of the lowest failing slice;
 * MTP_EINVAL for a NULL array or slice pointer ("chunker: slice 3 is NULL").
 * One call at a time per chunker (it is not reentrant); the workers never call into HDF5.
 */
int mtp_chunker_compress(mtp_chunker *c, const uint8_t *const *slices, size_t nslices,
                         size_t slice_bytes, mtp_chunk *out, mtp_error *err);

/* Stop and join the workers, and free c. NULL is fine. */
void mtp_chunker_free(mtp_chunker *c);

#endif
