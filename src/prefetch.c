#include "mtp/prefetch.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mtp/assemble.h"

struct mtp_prefetch {
    mtp_boss *boss;
    const mtp_config *cfg;
    const mtp_plan *plan;
    mtp_cache *cache;
    const mtp_channel_meta *meta;
    mtp_fetch_options fopt;
    size_t *order;   /* plan block indices, region by region */
    size_t *pending; /* per region: blocks not yet in the cache */
    pthread_t thread;
    bool started, joined;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done; /* the fetch returned */
    int rc;    /* its result */
    mtp_error err;
    mtp_fetch_stats stats;
    volatile sig_atomic_t stop;
};

static bool block_in_region(const mtp_prefetch *p, size_t block, int r)
{
    mtp_box region = mtp_assemble_region_box(p->cfg, r);
    return mtp_box_intersects(&p->plan->blocks[block].box, &region);
}

/* Called from the fetch thread for each block that is in the cache. */
static void on_stored(void *userdata, size_t block)
{
    mtp_prefetch *p = userdata;
    pthread_mutex_lock(&p->mu);
    for (int r = 0; r < p->cfg->nregions; r++)
        if (p->pending[r] > 0 && block_in_region(p, block, r))
            p->pending[r]--;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void *fetch_main(void *arg)
{
    mtp_prefetch *p = arg;
    mtp_error err = MTP_ERROR_INIT;
    mtp_fetch_stats stats;
    memset(&stats, 0, sizeof stats);
    int rc = mtp_fetch_run(p->boss, p->cfg, p->plan, p->cache, p->meta, &p->fopt, &stats, &err);
    pthread_mutex_lock(&p->mu);
    p->done = true;
    p->rc = rc;
    p->err = err;
    p->stats = stats;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Region by region: each block once, at the first region that needs it. */
static int make_order(mtp_prefetch *p, mtp_error *err)
{
    size_t n = p->plan->nblocks;
    bool *taken = calloc(n > 0 ? n : 1, sizeof *taken);
    p->order = calloc(n > 0 ? n : 1, sizeof *p->order);
    p->pending = calloc((size_t)p->cfg->nregions, sizeof *p->pending);
    if (taken == NULL || p->order == NULL || p->pending == NULL) {
        free(taken);
        return mtp_error_set(err, MTP_ENOMEM, "prefetch: out of memory for %zu blocks", n);
    }
    size_t k = 0;
    for (int r = 0; r < p->cfg->nregions; r++) {
        for (size_t i = 0; i < n; i++) {
            if (!block_in_region(p, i, r))
                continue;
            p->pending[r]++;
            if (!taken[i]) {
                taken[i] = true;
                p->order[k++] = i;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        if (!taken[i])
            p->order[k++] = i;
    free(taken);
    return 0;
}

int mtp_prefetch_start(mtp_prefetch **out, mtp_boss *boss, const mtp_config *cfg,
                       const mtp_plan *plan, mtp_cache *cache,
                       const mtp_channel_meta meta[MTP_MAX_CHANNELS], const mtp_fetch_options *base,
                       mtp_error *err)
{
    *out = NULL;
    mtp_prefetch *p = calloc(1, sizeof *p);
    if (p == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "prefetch: out of memory");
    p->boss = boss;
    p->cfg = cfg;
    p->plan = plan;
    p->cache = cache;
    p->meta = meta;
    p->fopt = *base;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    int rc = make_order(p, err);
    if (rc < 0) {
        mtp_prefetch_free(p);
        return rc;
    }
    p->fopt.order = p->order;
    p->fopt.stored = on_stored;
    p->fopt.stored_userdata = p;
    p->fopt.cancel = &p->stop;
    int e = pthread_create(&p->thread, NULL, fetch_main, p);
    if (e != 0) {
        mtp_prefetch_free(p);
        return mtp_error_set(err, MTP_EIO, "prefetch: cannot start a thread: %s", strerror(e));
    }
    p->started = true;
    *out = p;
    return 0;
}

int mtp_prefetch_wait_region(mtp_prefetch *p, int r, const volatile sig_atomic_t *cancel,
                             mtp_error *err)
{
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    while (p->pending[r] > 0 && !p->done) {
        if (cancel != NULL && *cancel != 0) {
            rc = mtp_error_set(err, MTP_ECANCEL, "cancelled");
            break;
        }
        /* Wake up now and then to notice a signal that set *cancel. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->cv, &p->mu, &until);
    }
    if (rc == 0 && p->pending[r] > 0) {
        if (p->rc < 0) {
            rc = p->rc;
            if (err != NULL)
                *err = p->err;
        } else {
            rc = mtp_error_set(err, MTP_EINVAL,
                               "prefetch: region %s: %zu blocks never reached the cache",
                               p->cfg->regions[r].name, p->pending[r]);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int mtp_prefetch_finish(mtp_prefetch *p, int stop, mtp_fetch_stats *stats, mtp_error *err)
{
    if (p == NULL || !p->started || p->joined)
        return mtp_error_set(err, MTP_EINVAL, "prefetch: not running");
    if (stop)
        p->stop = 1;
    pthread_join(p->thread, NULL);
    p->joined = true;
    if (stats != NULL)
        *stats = p->stats;
    if (p->rc < 0 && err != NULL)
        *err = p->err;
    return p->rc;
}

void mtp_prefetch_free(mtp_prefetch *p)
{
    if (p == NULL)
        return;
    if (p->started && !p->joined) {
        p->stop = 1;
        pthread_join(p->thread, NULL);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->order);
    free(p->pending);
    free(p);
}
