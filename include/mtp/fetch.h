/*
 * fetch.h — the fetch stage: check the server's metadata against the config, then bring
 * every block of the plan into the cache, downloading only what is missing or damaged
 * (DESIGN §5).
 */
#ifndef MTP_FETCH_H
#define MTP_FETCH_H

#include <signal.h>
#include <stdint.h>

#include "mtp/boss.h"
#include "mtp/cache.h"
#include "mtp/config.h"
#include "mtp/error.h"
#include "mtp/plan.h"
#include "mtp/progress.h"

typedef struct mtp_fetch_options {
    mtp_progress_cb progress; /* optional; phase MTP_PHASE_FETCH, what "fetch" */
    void *progress_userdata;
    /* Optional: when *cancel becomes nonzero (e.g. from a signal handler) the run stops
     * within ~100 ms with MTP_ECANCEL; every block already stored stays valid. */
    const volatile sig_atomic_t *cancel;
    /* Re-read (decode + SHA-256) every cached block before trusting it (default on): a
     * damaged file is reported through a progress note, deleted and fetched again.
     * Off: a cached file with a plausible header counts as present (mtp_cache_has). */
    int verify_cached;
    /* Optional: a permutation of the plan's block indices; blocks are scanned and fetched
     * in this order (the build asks for region by region, so it can start writing the
     * first region while the others download). NULL = plan order. */
    const size_t *order;
    /* Optional: called with a plan block index once that block is in the cache (found
     * there or stored by this run), from the thread running mtp_fetch_run. */
    void (*stored)(void *userdata, size_t block);
    void *stored_userdata;
} mtp_fetch_options;

#define MTP_FETCH_OPTIONS_INIT                                                                     \
    {                                                                                              \
        .verify_cached = 1                                                                         \
    }

typedef struct mtp_fetch_stats {
    uint64_t blocks_total;   /* blocks in the plan */
    uint64_t blocks_cached;  /* found intact in the cache */
    uint64_t blocks_fetched; /* downloaded and stored by this run */
    uint64_t blocks_damaged; /* found damaged in the cache (then fetched again) */
    uint64_t requests;       /* HTTP requests (metadata + cutouts) by this run */
    uint64_t retries;
    uint64_t splits;
    uint64_t busy;             /* answers that said the server is loaded (429, 503, stalls) */
    uint64_t peak_concurrency; /* the highest limit on transfers in flight */
    uint64_t concurrency;      /* the limit now */
    uint64_t bytes_body;    /* compressed bytes received */
    uint64_t bytes_decoded; /* decoded bytes stored */
    uint64_t bytes_total;   /* decoded bytes of the whole plan */
    double wall_s;
} mtp_fetch_stats;

/*
 * For every channel the plan uses (plan->used[c]), fetch its metadata into meta[c] and
 * check it against the config:
 * - the channel exists (else MTP_ESERVER with the server's message and the URL);
 * - its dtype is known; channels used as a task's images are uint8; every other channel
 *   (labels, volumes) an unsigned integer type;
 * - source.resolution lies in [base_resolution, base_resolution + num_hierarchy_levels);
 * - every region box and the z range lie inside the frame at that resolution:
 *   `region cortex x [4600, 6000) lies outside the frame x [0, 5805) of prasad/prasad2020`.
 * Mismatches are MTP_EDATA. meta[c] of unused channels is zeroed.
 */
int mtp_fetch_metadata(mtp_boss *boss, const mtp_config *cfg, const mtp_plan *plan,
                       mtp_channel_meta meta[MTP_MAX_CHANNELS], mtp_error *err);

/*
 * Bring every block of `plan` into `cache`. Blocks already there (verified when
 * opt->verify_cached) are skipped; the others are grouped into cutout requests
 * (mtp_plan_requests, at most mtp_plan_request_voxels each), downloaded through `boss`
 * (mtp_boss_cutouts), and each block is stored with mtp_cache_put as soon as its request is
 * complete, so an interruption at any moment loses only the requests in flight. `meta` comes from
 * mtp_fetch_metadata. The progress callback runs about every 100 ms and on each event
 * (retry, split, damaged cache file). `opt` and `stats` may be NULL. Errors: those of
 * mtp_boss_cutouts and the cache (MTP_EIO), MTP_ECANCEL; stats are filled either way.
 */
int mtp_fetch_run(mtp_boss *boss, const mtp_config *cfg, const mtp_plan *plan, mtp_cache *cache,
                  const mtp_channel_meta meta[MTP_MAX_CHANNELS], const mtp_fetch_options *opt,
                  mtp_fetch_stats *stats, mtp_error *err);

/*
 * The channels' metadata kept in the cache (FORMAT.md §5.3 `channel-meta.txt`), so that a
 * build can run with no server (`build --offline`, after sharded fetches).
 * mtp_fetch_save_metadata writes meta[c] of every channel the plan uses (fetch and build
 * call it after mtp_fetch_metadata); errors are the cache's. mtp_fetch_load_metadata reads
 * them back and checks them against the config as mtp_fetch_metadata does: MTP_ENOTFOUND
 * "channel-meta.txt of channel labels (c/e/ch) is not in the cache <path>: run fetch
 * first"; MTP_ECORRUPT naming the path and line if the file is not version 1.
 */
int mtp_fetch_save_metadata(mtp_cache *cache, const mtp_config *cfg, const mtp_plan *plan,
                            const mtp_channel_meta meta[MTP_MAX_CHANNELS], mtp_error *err);
int mtp_fetch_load_metadata(mtp_cache *cache, const mtp_config *cfg, const mtp_plan *plan,
                            mtp_channel_meta meta[MTP_MAX_CHANNELS], mtp_error *err);

/* The record's text for one channel and back (what the two above write and read):
 * encode returns the length (< n) or MTP_ERANGE; decode fills *out or returns MTP_ECORRUPT
 * with "line N: <what>". */
int mtp_fetch_meta_encode(const mtp_channel_meta *meta, char *buf, size_t n);
int mtp_fetch_meta_decode(const char *text, mtp_channel_meta *out, mtp_error *err);

/* The cache key of block `b` (pointers borrow from cfg). */
void mtp_fetch_block_key(const mtp_config *cfg, const mtp_block *b,
                         const mtp_channel_meta meta[MTP_MAX_CHANNELS], mtp_block_key *out);

#endif
