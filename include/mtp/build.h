/*
 * build.h — the whole build: plan, fetch through the cache, assemble region cubes,
 * derive task samples, write one HDF5 bundle per task (and volumes.h5), and the
 * release's config.yaml. The tool parses argv into mtp_build_options and calls
 * mtp_build_run(); everything it prints comes from the progress callback and the stats.
 */
#ifndef MTP_BUILD_H
#define MTP_BUILD_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "mtp/config.h"
#include "mtp/error.h"
#include "mtp/progress.h"

typedef struct mtp_build_options {
    const char *out_dir;      /* parent of <name>-<version>/; required */
    const char *cache_dir;    /* required (the tool resolves the default) */
    int jobs;                 /* 0 = cfg->source.jobs */
    mtp_progress_cb progress; /* optional */
    void *progress_userdata;
    const volatile sig_atomic_t *cancel; /* optional: nonzero stops at the next step */
    bool archive;                        /* also write <out>/<name>-<version>.tar.gz */
    int threads; /* pool workers (compression, cache reads); 0 = one per core */
    /* Only the cache (the final job after sharded fetches, DESIGN §10): the channels'
     * metadata and every block are read from it, no request is made. Blocks missing make
     * the run fail before anything is written, with MTP_ENOTFOUND naming how many and —
     * when `shards` is the fetch's N — which shards lack them (mtp_shard_report_missing);
     * a block found damaged while writing is an error (the cache discards it), not a
     * refetch. */
    bool offline;
    int shards; /* with offline: the fetch's shard count, 0 if unknown */
} mtp_build_options;

#define MTP_BUILD_OPTIONS_INIT                                                                     \
    {                                                                                              \
        .out_dir = NULL, .cache_dir = NULL, .jobs = 0, .archive = false, .threads = 0,             \
        .offline = false, .shards = 0                                                              \
    }

typedef struct mtp_build_stats {
    uint64_t blocks_total, blocks_cached, blocks_fetched; /* of the fetch stage */
    uint64_t requests, retries, bytes_body, bytes_decoded;
    double fetch_s, write_s;
    int nfiles;                     /* files written into the release */
    char release_dir[MTP_TEXT_MAX]; /* <out>/<name>-<version> */
    char archive[MTP_TEXT_MAX + 8]; /* the .tar.gz written, "" if none */
} mtp_build_stats;

/* Run the build. On failure nothing half-written is left under a final file name, and
 * every block already fetched stays in the cache. */
int mtp_build_run(const mtp_config *cfg, const mtp_build_options *opt, mtp_build_stats *stats,
                  mtp_error *err);

#endif
