/*
 * chunks.c — compress-once slice chunks (DESIGN §9).
 *
 * Levels 1-9 compress with libdeflate (its levels 1-9, the same numbers), which writes
 * standard zlib streams that HDF5's deflate filter and every stock reader decode, about 2x
 * faster than zlib at the same ratio. A libdeflate compressor is large to set up, so each
 * thread keeps one per level it has used (thread-local, freed when the thread ends). Level 0
 * stays zlib's compress2() into a compressBound() buffer, exactly what HDF5's deflate filter
 * stores (stored blocks), so level-0 files are what they always were. The writer stores
 * every slice chunk through here and H5Dwrite_chunk() (tests/test_h5bundle.c compares the
 * files of both of its entry points).
 *
 * The pool: batches wait in a FIFO; workers take one slice at a time from the batch at its
 * head, under the mutex. A 64 KiB slice takes about a millisecond to deflate, so one lock
 * per slice costs nothing measurable and balances uneven slices better than fixed ranges.
 * Each result lands in its own out[i], so nothing about the order in which threads finish
 * reaches the output. Being asynchronous lets the build's writer thread compute masks,
 * labels and features and write finished chunks while the workers compress the rest.
 */
#include "mtp/chunks.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libdeflate.h>
#include <zlib.h>

/* libdeflate's levels go to 12; ours to 9 (output.level). */
#define MAX_LEVEL 9

/* The calling thread's compressors, one per level used; freed by the key's destructor when
 * the thread ends. */
typedef struct thread_compressors {
    struct libdeflate_compressor *by_level[MAX_LEVEL + 1];
} thread_compressors;

static pthread_key_t compressors_key;
static pthread_once_t compressors_once = PTHREAD_ONCE_INIT;
static int compressors_key_ok;

static void compressors_free(void *p)
{
    thread_compressors *tc = p;
    for (int l = 0; l <= MAX_LEVEL; l++)
        libdeflate_free_compressor(tc->by_level[l]);
    free(tc);
}

static void compressors_init(void)
{
    compressors_key_ok = pthread_key_create(&compressors_key, compressors_free) == 0;
}

/* The calling thread's libdeflate compressor for `level` (1..9), or NULL without memory. */
static struct libdeflate_compressor *thread_compressor(int level)
{
    pthread_once(&compressors_once, compressors_init);
    if (!compressors_key_ok)
        return NULL;
    thread_compressors *tc = pthread_getspecific(compressors_key);
    if (tc == NULL) {
        tc = calloc(1, sizeof *tc);
        if (tc == NULL || pthread_setspecific(compressors_key, tc) != 0) {
            free(tc);
            return NULL;
        }
    }
    if (tc->by_level[level] == NULL)
        tc->by_level[level] = libdeflate_alloc_compressor(level);
    return tc->by_level[level];
}

size_t mtp_chunk_bound(size_t nbytes, int level)
{
    return level > 0 ? libdeflate_zlib_compress_bound(NULL, nbytes)
                     : (size_t)compressBound((uLong)nbytes);
}

const char *mtp_chunk_compressor(int level, char *buf, size_t n)
{
    if (level < 0)
        snprintf(buf, n, "none");
    else if (level == 0)
        snprintf(buf, n, "zlib %s, level 0", zlibVersion());
    else
        snprintf(buf, n, "libdeflate %s, level %d", LIBDEFLATE_VERSION_STRING, level);
    return buf;
}

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
        return mtp_error_set(err, MTP_EINVAL, "pool: deflate level %d is not in 0..9", level);
    return 0;
}

static int check_size(size_t nbytes, mtp_error *err)
{
    if (nbytes == 0 || nbytes > MTP_CHUNK_MAX_BYTES)
        return mtp_error_set(err, MTP_EINVAL, "pool: slice size %zu is not in 1..%u", nbytes,
                             MTP_CHUNK_MAX_BYTES);
    return 0;
}

/* One slice as a zlib stream: libdeflate for levels 1-9, zlib's compress2 (HDF5's filter
 * call) for level 0. No argument checks (callers did them). */
static int deflate_slice(const uint8_t *src, size_t nbytes, int level, mtp_chunk *out,
                         mtp_error *err)
{
    out->data = NULL;
    out->size = 0;
    out->source = NULL;
    size_t dst_len = mtp_chunk_bound(nbytes, level);
    uint8_t *dst = malloc(dst_len);
    if (dst == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "pool: out of memory");
    if (level > 0) {
        struct libdeflate_compressor *c = thread_compressor(level);
        size_t got = c != NULL ? libdeflate_zlib_compress(c, src, nbytes, dst, dst_len) : 0;
        if (got == 0) { /* cannot happen with a bound-sized buffer, short of memory */
            free(dst);
            return mtp_error_set(err, MTP_ENOMEM, "pool: libdeflate level %d: out of memory",
                                 level);
        }
        dst_len = got;
    } else {
        uLongf zlen = (uLongf)dst_len;
        int status = compress2(dst, &zlen, src, (uLong)nbytes, level);
        if (status != Z_OK) {
            free(dst);
            return mtp_error_set(err, status == Z_MEM_ERROR ? MTP_ENOMEM : MTP_EFORMAT,
                                 "pool: zlib compress2 failed (%d)", status);
        }
        dst_len = (size_t)zlen;
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
        return mtp_error_set(err, MTP_EINVAL, "pool: NULL source or output");
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
 * The pool: a FIFO of batches, workers take one slice at a time from the batch at its head.
 */

struct mtp_chunk_batch {
    mtp_pool *owner;
    struct mtp_chunk_batch *next_queued; /* in owner's queue while queued */
    bool queued;
    /* A job (mtp_pool_run): part i is fn(arg, i); no slices, no chunks. */
    mtp_job_fn fn;
    void *arg;
    /* Slice i is slices[i] when slices != NULL, else data + i * slice_bytes. */
    const uint8_t *const *slices;
    const uint8_t *data;
    size_t nslices, slice_bytes;
    mtp_chunk *out; /* nslices results: the batch's own (submit), the caller's, or NULL */
    bool owns_out;
    uint8_t *state; /* per slice, SLICE_* below */
    size_t next;    /* the next slice to hand out */
    size_t running; /* slices being compressed now */
    /* The failure of the lowest failing slice, if any. */
    bool failed;
    size_t fail_index;
    mtp_error fail;
};

/* Per slice. REPEAT: equal to the slice before it, so it gets that slice's chunk when that
 * one is made (never compressed itself). Everything from DONE on is finished; SHARED is a
 * finished REPEAT, whose bytes belong to an earlier slice. */
enum { SLICE_WAITING, SLICE_RUNNING, SLICE_REPEAT, SLICE_DONE, SLICE_SHARED, SLICE_FAILED };

struct mtp_pool {
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* a batch was queued (or stop) */
    pthread_cond_t done_cv; /* a slice was finished */
    pthread_t *workers;
    int nworkers;
    int level;
    bool stop;
    mtp_chunk_batch *head, *tail; /* batches with slices not yet handed out */
};

static const uint8_t *batch_slice(const mtp_chunk_batch *b, size_t i)
{
    return b->slices != NULL ? b->slices[i] : b->data + i * b->slice_bytes;
}

/* Unlink b from its pool's queue (mutex held). */
static void dequeue(mtp_pool *c, mtp_chunk_batch *b)
{
    mtp_chunk_batch **link = &c->head, *prev = NULL;
    while (*link != NULL && *link != b) {
        prev = *link;
        link = &(*link)->next_queued;
    }
    if (*link == b) {
        *link = b->next_queued;
        if (c->tail == b)
            c->tail = prev;
    }
    b->next_queued = NULL;
    b->queued = false;
}

/* Take the next unstarted item of b and do it, unlocking while it runs (mutex held on entry
 * and on return). */
static void run_next(mtp_pool *c, mtp_chunk_batch *b)
{
    /* Repeats are not compressed (and may be finished already, by their original). */
    while (b->next < b->nslices && b->state[b->next] != SLICE_WAITING)
        b->next++;
    if (b->next == b->nslices) { /* only repeats were left */
        if (b->queued)
            dequeue(c, b);
        return;
    }
    size_t i = b->next++;
    if (b->next == b->nslices && b->queued)
        dequeue(c, b);
    b->state[i] = SLICE_RUNNING;
    b->running++;
    pthread_mutex_unlock(&c->mu);

    mtp_error e = MTP_ERROR_INIT;
    int rc;
    if (b->fn != NULL)
        rc = b->fn(b->arg, i, &e);
    else
        rc = deflate_slice(batch_slice(b, i), b->slice_bytes, c->level, &b->out[i], &e);

    pthread_mutex_lock(&c->mu);
    b->running--;
    b->state[i] = rc < 0 ? SLICE_FAILED : SLICE_DONE;
    /* The repeats that follow share the chunk (or the failure). */
    for (size_t k = i + 1; k < b->nslices && b->state[k] == SLICE_REPEAT; k++) {
        b->state[k] = rc < 0 ? SLICE_FAILED : SLICE_SHARED;
        if (rc == 0)
            b->out[k] = (mtp_chunk){b->out[i].data, b->out[i].size, batch_slice(b, k)};
    }
    if (rc < 0 && (!b->failed || i < b->fail_index)) {
        b->failed = true;
        b->fail_index = i;
        b->fail = e;
    }
    pthread_cond_broadcast(&c->done_cv);
}

static void *worker_main(void *arg)
{
    mtp_pool *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->stop && c->head == NULL)
            pthread_cond_wait(&c->work_cv, &c->mu);
        if (c->stop)
            break;
        run_next(c, c->head);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static void stop_workers(mtp_pool *c)
{
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_broadcast(&c->work_cv);
    pthread_mutex_unlock(&c->mu);
    for (int i = 0; i < c->nworkers; i++)
        pthread_join(c->workers[i], NULL);
    c->nworkers = 0;
}

void mtp_pool_free(mtp_pool *c)
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
    return n > MTP_POOL_MAX_THREADS ? MTP_POOL_MAX_THREADS : (int)n;
}

int mtp_pool_new(mtp_pool **out, int nthreads, int level, mtp_error *err)
{
    if (out == NULL)
        return mtp_error_set(err, MTP_EINVAL, "pool: out is required");
    *out = NULL;
    int rc = check_level(level, err);
    if (rc < 0)
        return rc;
    if (nthreads > MTP_POOL_MAX_THREADS)
        return mtp_error_set(err, MTP_EINVAL, "pool: %d threads (at most %d)", nthreads,
                             MTP_POOL_MAX_THREADS);
    if (nthreads <= 0)
        nthreads = online_cores();
    mtp_pool *c = calloc(1, sizeof *c);
    if (c == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "pool: out of memory");
    c->level = level;
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return mtp_error_set(err, MTP_ENOMEM, "pool: cannot create a mutex");
    }
    if (pthread_cond_init(&c->work_cv, NULL) != 0) {
        pthread_mutex_destroy(&c->mu);
        free(c);
        return mtp_error_set(err, MTP_ENOMEM, "pool: cannot create a condition variable");
    }
    if (pthread_cond_init(&c->done_cv, NULL) != 0) {
        pthread_cond_destroy(&c->work_cv);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return mtp_error_set(err, MTP_ENOMEM, "pool: cannot create a condition variable");
    }
    c->workers = calloc((size_t)nthreads, sizeof *c->workers);
    if (c->workers == NULL) {
        rc = mtp_error_set(err, MTP_ENOMEM, "pool: out of memory");
        goto out;
    }
    for (int i = 0; i < nthreads; i++) {
        int e = pthread_create(&c->workers[i], NULL, worker_main, c);
        if (e != 0) {
            rc = mtp_error_set(err, MTP_EIO, "pool: cannot start thread %d of %d: %s", i + 1,
                               nthreads, strerror(e));
            goto out;
        }
        c->nworkers++;
    }
out:
    if (rc < 0) {
        mtp_pool_free(c);
        c = NULL;
    }
    *out = c;
    return rc;
}

int mtp_pool_threads(const mtp_pool *c)
{
    return c == NULL ? 0 : c->nworkers;
}

int mtp_pool_level(const mtp_pool *c)
{
    return c == NULL ? -1 : c->level;
}

/* A new batch, queued at once: a job (fn), or slices (slices[] or data) whose chunks go
 * into `out` or, with out NULL, an array of the batch's own. */
static int enqueue(mtp_pool *c, mtp_job_fn fn, void *arg, const uint8_t *const *slices,
                   const uint8_t *data, size_t nslices, size_t slice_bytes, mtp_chunk *out,
                   mtp_chunk_batch **batch, mtp_error *err)
{
    *batch = NULL;
    if (fn == NULL) {
        int rc = check_size(slice_bytes, err);
        if (rc < 0)
            return rc;
    }
    mtp_chunk_batch *b = calloc(1, sizeof *b);
    if (b == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "pool: out of memory");
    b->owner = c;
    b->fn = fn;
    b->arg = arg;
    b->slices = slices;
    b->data = data;
    b->nslices = nslices;
    b->slice_bytes = slice_bytes;
    b->out = out;
    if (out == NULL && fn == NULL) {
        b->out = calloc(nslices > 0 ? nslices : 1, sizeof *b->out);
        b->owns_out = true;
    }
    b->state = calloc(nslices > 0 ? nslices : 1, 1);
    if ((fn == NULL && b->out == NULL) || b->state == NULL) {
        if (b->owns_out)
            free(b->out);
        free(b->state);
        free(b);
        return mtp_error_set(err, MTP_ENOMEM, "pool: out of memory for %zu chunks", nslices);
    }
    for (size_t i = 0; fn == NULL && i < nslices; i++)
        b->out[i] = (mtp_chunk){NULL, 0, NULL};
    /* Slices equal to the one before are compressed once: label stacks repeat (a region
     * inside one ROI has the same ROI slice 360 times). Unequal slices differ early, so
     * the comparison costs little. Only where the batch owns the chunks it can share. */
    for (size_t i = 1; b->owns_out && i < nslices; i++)
        if (memcmp(batch_slice(b, i), batch_slice(b, i - 1), slice_bytes) == 0)
            b->state[i] = SLICE_REPEAT;
    if (nslices > 0) {
        pthread_mutex_lock(&c->mu);
        b->queued = true;
        if (c->tail != NULL)
            c->tail->next_queued = b;
        else
            c->head = b;
        c->tail = b;
        pthread_cond_broadcast(&c->work_cv);
        pthread_mutex_unlock(&c->mu);
    }
    *batch = b;
    return 0;
}

int mtp_pool_submit(mtp_pool *c, const uint8_t *data, size_t nslices, size_t slice_bytes,
                    mtp_chunk_batch **out, mtp_error *err)
{
    if (out == NULL)
        return mtp_error_set(err, MTP_EINVAL, "pool: out is required");
    *out = NULL;
    if (c == NULL || (nslices > 0 && data == NULL))
        return mtp_error_set(err, MTP_EINVAL, "pool: NULL pool or data");
    return enqueue(c, NULL, NULL, NULL, data, nslices, slice_bytes, NULL, out, err);
}

int mtp_pool_run(mtp_pool *c, mtp_job_fn fn, void *arg, size_t nparts, mtp_chunk_batch **out,
                 mtp_error *err)
{
    if (out == NULL)
        return mtp_error_set(err, MTP_EINVAL, "pool: out is required");
    *out = NULL;
    if (c == NULL || fn == NULL)
        return mtp_error_set(err, MTP_EINVAL, "pool: NULL pool or job");
    return enqueue(c, fn, arg, NULL, NULL, nparts, 0, NULL, out, err);
}

size_t mtp_chunk_batch_size(const mtp_chunk_batch *b)
{
    return b == NULL ? 0 : b->nslices;
}

int mtp_chunk_batch_wait(mtp_chunk_batch *b, size_t first, size_t count, const mtp_chunk **out,
                         mtp_error *err)
{
    if (out != NULL)
        *out = NULL;
    if (b == NULL || first > b->nslices || count > b->nslices - first)
        return mtp_error_set(err, MTP_EINVAL, "pool: chunks %zu..+%zu outside the batch", first,
                             count);
    mtp_pool *c = b->owner;
    pthread_mutex_lock(&c->mu);
    size_t i = first;
    for (;;) {
        while (i < first + count && b->state[i] >= SLICE_DONE)
            i++;
        if (i == first + count)
            break;
        /* Rather than sleep, do the batch's next item here (it comes before the awaited one). */
        if (b->next < b->nslices)
            run_next(c, b);
        else
            pthread_cond_wait(&c->done_cv, &c->mu);
    }
    size_t bad = first + count;
    for (size_t k = first; k < first + count; k++)
        if (b->state[k] == SLICE_FAILED) {
            bad = k;
            break;
        }
    mtp_error fail = b->fail;
    bool lowest = b->failed && b->fail_index == bad;
    pthread_mutex_unlock(&c->mu);
    if (bad < first + count && b->fn != NULL && lowest) {
        if (err != NULL)
            *err = fail; /* a job's part said what went wrong */
        return fail.code;
    }
    if (bad < first + count)
        return mtp_error_set(err, lowest ? fail.code : MTP_EFORMAT, "%s (slice %zu)",
                             lowest ? fail.msg : "pool: compression failed", bad);
    if (out != NULL && b->out != NULL)
        *out = &b->out[first];
    return 0;
}

/* Take b's unstarted slices back and wait for the running ones; b is idle afterwards. */
static void batch_quiesce(mtp_chunk_batch *b)
{
    mtp_pool *c = b->owner;
    pthread_mutex_lock(&c->mu);
    if (b->queued)
        dequeue(c, b);
    b->next = b->nslices;
    while (b->running > 0)
        pthread_cond_wait(&c->done_cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
}

void mtp_chunk_batch_free(mtp_chunk_batch *b)
{
    if (b == NULL)
        return;
    batch_quiesce(b);
    if (b->owns_out && b->out != NULL) {
        for (size_t i = 0; i < b->nslices; i++)
            if (b->state[i] != SLICE_SHARED)
                mtp_chunk_release(&b->out[i]);
        free(b->out);
    }
    free(b->state);
    free(b);
}

int mtp_pool_compress(mtp_pool *c, const uint8_t *const *slices, size_t nslices, size_t slice_bytes,
                      mtp_chunk *out, mtp_error *err)
{
    if (c == NULL || (nslices > 0 && (slices == NULL || out == NULL)))
        return mtp_error_set(err, MTP_EINVAL, "pool: NULL pool, slices or output");
    if (nslices == 0)
        return 0;
    for (size_t i = 0; i < nslices; i++)
        out[i] = (mtp_chunk){NULL, 0, NULL};
    for (size_t i = 0; i < nslices; i++)
        if (slices[i] == NULL)
            return mtp_error_set(err, MTP_EINVAL, "pool: slice %zu is NULL", i);
    mtp_chunk_batch *b = NULL;
    int rc = enqueue(c, NULL, NULL, slices, NULL, nslices, slice_bytes, out, &b, err);
    if (rc == 0)
        rc = mtp_chunk_batch_wait(b, 0, nslices, NULL, err);
    mtp_chunk_batch_free(b);
    if (rc < 0)
        mtp_chunks_release(out, nslices);
    return rc;
}
