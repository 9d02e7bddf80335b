/*
 * prefetch.h — the fetch stage on a background thread, region by region, so the build
 * writes region k while region k+1 downloads (DESIGN §9).
 *
 * The plan's blocks are fetched in region order (every block region 0 needs, then region
 * 1's, ...); the caller waits for a region with mtp_prefetch_wait_region() and then reads
 * its blocks from the cache. Progress reports come from the background thread.
 */
#ifndef MTP_PREFETCH_H
#define MTP_PREFETCH_H

#include <signal.h>

#include "mtp/boss.h"
#include "mtp/cache.h"
#include "mtp/config.h"
#include "mtp/error.h"
#include "mtp/fetch.h"
#include "mtp/plan.h"

typedef struct mtp_prefetch mtp_prefetch;

/*
 * Start mtp_fetch_run() on a new thread with `base`'s progress and verify settings (its
 * order/stored/cancel fields are replaced). Everything passed must outlive the prefetch.
 * Caller frees *out with mtp_prefetch_free (NULL on failure).
 */
int mtp_prefetch_start(mtp_prefetch **out, mtp_boss *boss, const mtp_config *cfg,
                       const mtp_plan *plan, mtp_cache *cache,
                       const mtp_channel_meta meta[MTP_MAX_CHANNELS], const mtp_fetch_options *base,
                       mtp_error *err);

/*
 * Wait until every block region r needs is in the cache: 0; the fetch's own error if it
 * failed first; MTP_ECANCEL when *cancel (optional) becomes nonzero while waiting.
 */
int mtp_prefetch_wait_region(mtp_prefetch *p, int r, const volatile sig_atomic_t *cancel,
                             mtp_error *err);

/*
 * Wait for the fetch to end (asking it to stop first when `stop` is set) and return its
 * result, with its counters in *stats (optional). May be called once.
 */
int mtp_prefetch_finish(mtp_prefetch *p, int stop, mtp_fetch_stats *stats, mtp_error *err);

/* Stop and join the thread if still running, and free. NULL is fine. */
void mtp_prefetch_free(mtp_prefetch *p);

#endif
