/* build.c — `mtneuro-pack build`: fetch through the cache, then write the release. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mtp/build.h"
#include "common.h"

int cli_build(const struct cli_options *opt)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_config *cfg = NULL;
    mtp_build_stats stats;
    char cache_dir[4096];
    memset(&stats, 0, sizeof stats);

    int rc = 0;
    if (opt->shard != NULL)
        rc = mtp_error_set(
            &err, MTP_ECONFIG,
            "build: --shard is an option of fetch (build --offline takes --shards N)");
    else if (opt->shards != 0 && !opt->offline)
        rc = mtp_error_set(&err, MTP_ECONFIG, "--shards %d: only with --offline", opt->shards);
    if (rc == 0)
        rc = cli_load_config(opt, &cfg, &err);
    if (rc == 0)
        rc = cli_cache_dir(opt, cache_dir, sizeof cache_dir, &err);
    if (rc < 0)
        goto out;

    struct cli_progress_view view;
    cli_progress_init(&view, opt->quiet);
    mtp_build_options bopt = MTP_BUILD_OPTIONS_INIT;
    bopt.out_dir = opt->out != NULL ? opt->out : "release";
    bopt.cache_dir = cache_dir;
    bopt.progress = cli_on_progress;
    bopt.progress_userdata = &view;
    bopt.cancel = &cli_interrupted;
    bopt.archive = opt->archive;
    bopt.threads = opt->threads;
    bopt.offline = opt->offline;
    bopt.shards = opt->shards;
    cli_install_signal_handlers();
    rc = mtp_build_run(cfg, &bopt, &stats, &err);
    cli_progress_clear(&view);
    if (rc == MTP_ECANCEL) {
        fprintf(stderr,
                "%s: interrupted; nothing half-written was kept, and every fetched block "
                "stays cached for the next run\n",
                PROG);
        rc = 1;
        goto out_quiet;
    }
    if (rc < 0)
        goto out;
    if (!opt->quiet)
        printf("wrote %d files to %s: fetched %" PRIu64 " blocks (%" PRIu64 " cached), %" PRIu64
               " requests, %.1f MB transferred; fetch %.1f s, write %.1f s\n",
               stats.nfiles, stats.release_dir, stats.blocks_fetched, stats.blocks_cached,
               stats.requests, cli_mb(stats.bytes_body), stats.fetch_s, stats.write_s);
    if (!opt->quiet && stats.archive[0] != '\0')
        printf("wrote %s\n", stats.archive);
out:
    if (rc < 0)
        rc = cli_fail(rc, &err);
out_quiet:
    mtp_config_free(cfg);
    return rc;
}
