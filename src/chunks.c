/*
 * chunks.c — compress-once slice chunks (DESIGN §9).
 *
 * Why compress2() into a compressBound() buffer: that is what H5Z_filter_deflate() in HDF5
 * 1.10 does for each chunk, so a chunk made here and written with H5Dwrite_chunk() gives the
 * same file bytes as the same slice pushed through the filter (tests/test_h5bundle.c
 * compares whole files).
 *
 * The pool: slices are handed out one at a time from a shared counter under the mutex. A
 * 64 KiB slice takes about a millisecond to deflate, so one lock per slice costs nothing
 * measurable and balances uneven slices better than fixed ranges. Each result lands in its
 * own out[i], so nothing about the order in which threads finish reaches the output.
 */
#include "chunks.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

void mtp_chunk_release(mtp_chunk *c)
{
    if (c == NULL)
        return;
    free(c->data);
    c->data = NULL;
    c->size = 0;
}

void mtp_chunks_release(mtp_chunk *chunks, size_t n)
{
    if (chunks == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        mtp_chunk_release(&chunks[i]);
}

static int check_level(int level, mtp_error *err)
{
    if (level < 0 || level > 9)
        return mtp_error_set(err, MTP_EINVAL, "chunker: deflate level %d is not in 0..9", level);
    return 0;
}

static int check_size(size_t nbytes, mtp_error *err)
{
    if (nbytes == 0 || nbytes > MTP_CHUNK_MAX_BYTES)
        return mtp_error_set(err, MTP_EINVAL, "chunker: slice size %zu is not in 1..%u", nbytes,
                             MTP_CHUNK_MAX_BYTES);
    return 0;
}

/* The filter's call, with its error mapping; no argument checks (callers did them). */
static int deflate_slice(const uint8_t *src, size_t nbytes, int level, mtp_chunk *out,
                         mtp_error *err)
{
    out->data = NULL;
    out->size = 0;
    out->source = NULL;
    uLongf dst_len = compressBound((uLong)nbytes);
    uint8_t *dst = malloc(dst_len);
    if (dst == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "chunker: out of memory");
    int status = compress2(dst, &dst_len, src, (uLong)nbytes, level);
    if (status != Z_OK) {
        free(dst);
        return mtp_error_set(err, status == Z_MEM_ERROR ? MTP_ENOMEM : MTP_EFORMAT,
                             "chunker: zlib compress2 failed (%d)", status);
    }
    /* Keep only what the chunk needs: a region's worth of chunks is held at once. */
    uint8_t *shrunk = realloc(dst, dst_len);
    out->data = shrunk != NULL ? shrunk : dst;
    out->size = dst_len;
    out->source = src;
    return 0;
}

int mtp_chunk_deflate_one(const uint8_t *src, size_t nbytes, int level, mtp_chunk *out,
                          mtp_error *err)
{
    if (out == NULL || src == NULL)
        return mtp_error_set(err, MTP_EINVAL, "chunker: NULL source or output");
    out->data = NULL;
    out->size = 0;
    int rc = check_level(level, err);
    if (rc == 0)
        rc = check_size(nbytes, err);
    if (rc == 0)
        rc = deflate_slice(src, nbytes, level, out, err);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * The pool
 */

struct mtp_chunker {
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* a new batch (or stop) for the workers */
    pthread_cond_t done_cv; /* a worker left the batch */
    pthread_t *workers;
    int nworkers; /* started; the caller is thread nworkers + 1 */
    int level;
    bool stop;
    /* The current batch, valid while busy > 0 or the caller works on it. */
    unsigned long generation;
    const uint8_t *const *slices;
    size_t nslices, slice_bytes, next;
    mtp_chunk *out;
    int busy; /* workers still inside the batch */
    /* The failure of the lowest failing slice, if any. */
    bool failed;
    size_t fail_index;
    mtp_error fail;
};

/* Take slices from the shared counter until none are left. */
static void work_batch(mtp_chunker *c)
{
    for (;;) {
        pthread_mutex_lock(&c->mu);
        size_t i = c->next;
        if (i < c->nslices)
            c->next++;
        const uint8_t *src = i < c->nslices ? c->slices[i] : NULL;
        size_t nbytes = c->slice_bytes;
        int level = c->level;
        mtp_chunk *dst = i < c->nslices ? &c->out[i] : NULL;
        pthread_mutex_unlock(&c->mu);
        if (dst == NULL)
            return;
        mtp_error e = MTP_ERROR_INIT;
        int rc = deflate_slice(src, nbytes, level, dst, &e);
        if (rc < 0) {
            pthread_mutex_lock(&c->mu);
            if (!c->failed || i < c->fail_index) {
                c->failed = true;
                c->fail_index = i;
                c->fail = e;
            }
            pthread_mutex_unlock(&c->mu);
        }
    }
}

static void *worker_main(void *arg)
{
    mtp_chunker *c = arg;
    unsigned long seen = 0;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->stop && c->generation == seen)
            pthread_cond_wait(&c->work_cv, &c->mu);
        if (c->stop)
            break;
        seen = c->generation;
        pthread_mutex_unlock(&c->mu);
        work_batch(c);
        pthread_mutex_lock(&c->mu);
        c->busy--;
        if (c->busy == 0)
            pthread_cond_signal(&c->done_cv);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static void stop_workers(mtp_chunker *c)
{
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_broadcast(&c->work_cv);
    pthread_mutex_unlock(&c->mu);
    for (int i = 0; i < c->nworkers; i++)
        pthread_join(c->workers[i], NULL);
    c->nworkers = 0;
}

void mtp_chunker_free(mtp_chunker *c)
{
    if (c == NULL)
        return;
    stop_workers(c);
    pthread_cond_destroy(&c->done_cv);
    pthread_cond_destroy(&c->work_cv);
    pthread_mutex_destroy(&c->mu);
    free(c->workers);
    free(c);
}

static int online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > MTP_CHUNKER_MAX_THREADS ? MTP_CHUNKER_MAX_THREADS : (int)n;
}

int mtp_chunker_new(mtp_chunker **out, int nthreads, int level, mtp_error *err)
{
    if (out == NULL)
        return mtp_error_set(err, MTP_EINVAL, "chunker: out is required");
    *out = NULL;
    int rc = check_level(level, err);
    if (rc < 0)
        return rc;
    if (nthreads > MTP_CHUNKER_MAX_THREADS)
        return mtp_error_set(err, MTP_EINVAL, "chunker: %d threads (at most %d)", nthreads,
                             MTP_CHUNKER_MAX_THREADS);
    if (nthreads <= 0)
        nthreads = online_cores();
    mtp_chunker *c = calloc(1, sizeof *c);
    if (c == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "chunker: out of memory");
    c->level = level;
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return mtp_error_set(err, MTP_ENOMEM, "chunker: cannot create a mutex");
    }
    if (pthread_cond_init(&c->work_cv, NULL) != 0) {
        pthread_mutex_destroy(&c->mu);
        free(c);
        return mtp_error_set(err, MTP_ENOMEM, "chunker: cannot create a condition variable");
    }
    if (pthread_cond_init(&c->done_cv, NULL) != 0) {
        pthread_cond_destroy(&c->work_cv);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return mtp_error_set(err, MTP_ENOMEM, "chunker: cannot create a condition variable");
    }
    if (nthreads > 1) {
        c->workers = calloc((size_t)(nthreads - 1), sizeof *c->workers);
        if (c->workers == NULL) {
            rc = mtp_error_set(err, MTP_ENOMEM, "chunker: out of memory");
            goto out;
        }
    }
    for (int i = 0; i < nthreads - 1; i++) {
        int e = pthread_create(&c->workers[i], NULL, worker_main, c);
        if (e != 0) {
            rc = mtp_error_set(err, MTP_EIO, "chunker: cannot start thread %d of %d: %s", i + 2,
                               nthreads, strerror(e));
            goto out;
        }
        c->nworkers++;
    }
out:
    if (rc < 0) {
        mtp_chunker_free(c);
        c = NULL;
    }
    *out = c;
    return rc;
}

int mtp_chunker_threads(const mtp_chunker *c)
{
    return c == NULL ? 0 : c->nworkers + 1;
}

int mtp_chunker_level(const mtp_chunker *c)
{
    return c == NULL ? -1 : c->level;
}

int mtp_chunker_compress(mtp_chunker *c, const uint8_t *const *slices, size_t nslices,
                         size_t slice_bytes, mtp_chunk *out, mtp_error *err)
{
    if (c == NULL || (nslices > 0 && (slices == NULL || out == NULL)))
        return mtp_error_set(err, MTP_EINVAL, "chunker: NULL chunker, slices or output");
    if (nslices == 0)
        return 0;
    for (size_t i = 0; i < nslices; i++) {
        out[i].data = NULL;
        out[i].size = 0;
    }
    int rc = check_size(slice_bytes, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < nslices; i++)
        if (slices[i] == NULL)
            return mtp_error_set(err, MTP_EINVAL, "chunker: slice %zu is NULL", i);

    pthread_mutex_lock(&c->mu);
    c->slices = slices;
    c->nslices = nslices;
    c->slice_bytes = slice_bytes;
    c->out = out;
    c->next = 0;
    c->failed = false;
    c->busy = c->nworkers;
    c->generation++;
    pthread_cond_broadcast(&c->work_cv);
    pthread_mutex_unlock(&c->mu);

    work_batch(c);

    pthread_mutex_lock(&c->mu);
    while (c->busy > 0)
        pthread_cond_wait(&c->done_cv, &c->mu);
    bool failed = c->failed;
    size_t fail_index = c->fail_index;
    mtp_error fail = c->fail;
    c->slices = NULL;
    c->out = NULL;
    c->nslices = 0;
    pthread_mutex_unlock(&c->mu);

    if (failed) {
        mtp_chunks_release(out, nslices);
        return mtp_error_set(err, fail.code, "%s (slice %zu)", fail.msg, fail_index);
    }
    return 0;
}
