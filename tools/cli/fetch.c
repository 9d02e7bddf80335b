/* fetch.c — `mtneuro-pack plan` (what a fetch would do, offline) and `fetch` (fill the cache). */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mtp/boss.h"
#include "mtp/cache.h"
#include "common.h"
#include "mtp/fetch.h"
#include "mtp/plan.h"
#include "mtp/shard.h"

static void block_line(FILE *f, const mtp_config *cfg, const mtp_block *b)
{
    fprintf(f,
            "%s x[%" PRId64 ",%" PRId64 ") y[%" PRId64 ",%" PRId64 ") z[%" PRId64 ",%" PRId64 ")\n",
            cfg->channels[b->channel].name, b->box.x0, b->box.x1, b->box.y0, b->box.y1, b->box.z0,
            b->box.z1);
}

/* ---- plan ----------------------------------------------------------------------------- */

/* plan --shards N: each shard's blocks and plan bytes (and with verbose, the blocks). */
static int print_shards(const mtp_config *cfg, const mtp_plan *plan, int count, bool verbose,
                        mtp_error *err)
{
    uint32_t *shard_of = NULL;
    int rc = mtp_shard_partition(cfg, plan, count, &shard_of, err);
    if (rc < 0)
        return rc;
    printf("\n%d shards (fetch --shard I/%d), balanced by plan bytes (uint8 image channels, "
           "the uint64 bound for others):\n",
           count, count);
    printf("%-8s %8s %20s\n", "shard", "blocks", "bytes");
    for (int s = 0; s < count; s++) {
        uint64_t nblocks = 0, bytes = 0;
        for (size_t i = 0; i < plan->nblocks; i++) {
            if (shard_of[i] != (uint32_t)s)
                continue;
            nblocks++;
            bytes += mtp_shard_block_bytes(cfg, plan, i);
        }
        char g[40];
        printf("%-8d %8" PRIu64 " %20s\n", s, nblocks, cli_grouped(bytes, g, sizeof g));
        if (!verbose)
            continue;
        for (size_t i = 0; i < plan->nblocks; i++)
            if (shard_of[i] == (uint32_t)s) {
                printf("  ");
                block_line(stdout, cfg, &plan->blocks[i]);
            }
    }
    free(shard_of);
    return 0;
}

int cli_plan(const struct cli_options *opt)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_config *cfg = NULL;
    mtp_plan *plan = NULL;
    mtp_request *requests = NULL;
    size_t nrequests = 0, *members = NULL;
    char g[40];
    int rc = 0;
    if (opt->shard != NULL || opt->offline)
        rc = mtp_error_set(&err, MTP_ECONFIG, "plan: %s is an option of %s",
                           opt->offline ? "--offline" : "--shard",
                           opt->offline ? "build" : "fetch (plan takes --shards N)");
    if (rc == 0)
        rc = cli_load_config(opt, &cfg, &err);
    if (rc == 0)
        rc = mtp_plan_new(&plan, cfg, &err);
    if (rc < 0)
        goto out;

    printf("plan for %s %s (%s): resolution %d, blocks of at most %" PRId64 " x %" PRId64
           " x %" PRId64 " (x, y, z)\n",
           cfg->release.name, cfg->release.version, opt->target, cfg->source.resolution,
           cfg->source.block[0], cfg->source.block[1], cfg->source.block[2]);
    /* The requests fetch sends into an empty cache: label channels' dtype is not known
     * without the server, so they are grouped as if uint64 (the smallest server cap). */
    size_t *all = calloc(plan->nblocks > 0 ? plan->nblocks : 1, sizeof *all);
    if (all == NULL) {
        rc = mtp_error_set(&err, MTP_ENOMEM, "plan: out of memory");
        goto out;
    }
    for (size_t i = 0; i < plan->nblocks; i++)
        all[i] = i;
    uint64_t max_voxels[MTP_MAX_CHANNELS] = {0};
    for (int c = 0; c < cfg->nchannels; c++)
        max_voxels[c] = mtp_plan_request_voxels(cfg, mtp_config_channel_is_image(cfg, c) ? 1 : 0);
    rc = mtp_plan_requests(plan, all, plan->nblocks, max_voxels, &requests, &nrequests, &members,
                           &err);
    free(all);
    if (rc < 0)
        goto out;
    size_t requests_of[MTP_MAX_CHANNELS] = {0};
    for (size_t r = 0; r < nrequests; r++)
        requests_of[requests[r].channel]++;

    printf("%-16s %-48s %8s %8s %16s  %s\n", "channel", "uri", "blocks", "requests", "voxels",
           "bytes (uncompressed)");
    uint64_t voxels = 0, bytes = 0, nblocks = 0;
    bool bound = false;
    for (int c = 0; c < cfg->nchannels; c++) {
        const mtp_channel *ch = &cfg->channels[c];
        if (!plan->used[c]) {
            printf("%-16s %-48s %8s %8s %16s  unused by every task\n", ch->name, ch->uri, "-", "-",
                   "-");
            continue;
        }
        uint64_t v = plan->voxels_of[c];
        bool image = mtp_config_channel_is_image(cfg, c);
        uint64_t b = image ? v : v * 8;
        char bytes_text[64];
        if (image)
            snprintf(bytes_text, sizeof bytes_text, "%.1f MB (uint8)", cli_mb(b));
        else
            snprintf(bytes_text, sizeof bytes_text, "<= %.1f MB (at most uint64)", cli_mb(b));
        bound = bound || !image;
        printf("%-16s %-48s %8zu %8zu %16s  %s\n", ch->name, ch->uri, plan->nblocks_of[c],
               requests_of[c], cli_grouped(v, g, sizeof g), bytes_text);
        voxels += v;
        bytes += b;
        nblocks += plan->nblocks_of[c];
    }
    printf("total: %" PRIu64 " blocks in %zu cutout requests, %s voxels, %s%.1f MB\n", nblocks,
           nrequests, cli_grouped(voxels, g, sizeof g), bound ? "<= " : "", cli_mb(bytes));
    if (bound)
        printf("(image channels must be uint8; label channels are uint8, uint16 or uint64 as "
               "the server says: fetch reports the exact bytes)\n");
    if (opt->shards > 0) {
        rc = print_shards(cfg, plan, opt->shards, opt->verbose, &err);
        if (rc < 0)
            goto out;
    } else if (opt->verbose) {
        printf("\nrequests in the order fetch sends them to an empty cache, each followed by "
               "its blocks:\n");
        for (size_t r = 0; r < nrequests; r++) {
            mtp_block whole = {requests[r].channel, requests[r].box};
            block_line(stdout, cfg, &whole);
            for (size_t k = 0; k < requests[r].count; k++) {
                printf("  ");
                block_line(stdout, cfg, &plan->blocks[members[requests[r].first + k]]);
            }
        }
    }
out:
    free(requests);
    free(members);
    mtp_plan_free(plan);
    mtp_config_free(cfg);
    return rc < 0 ? cli_fail(rc, &err) : 0;
}

/* ---- fetch ---------------------------------------------------------------------------- */

static void print_meta(const mtp_config *cfg, const mtp_plan *plan,
                       const mtp_channel_meta meta[MTP_MAX_CHANNELS])
{
    for (int c = 0; c < cfg->nchannels; c++) {
        if (!plan->used[c])
            continue;
        const mtp_channel_meta *m = &meta[c];
        fprintf(stderr,
                "%s: %s %s %s, levels [%d, %d), frame %s x[%" PRId64 ",%" PRId64 ") y[%" PRId64
                ",%" PRId64 ") z[%" PRId64 ",%" PRId64 "), voxel %g x %g x %g %s\n",
                cfg->channels[c].name, cfg->channels[c].uri, m->type, m->datatype,
                m->base_resolution, m->base_resolution + m->num_hierarchy_levels, m->coord_frame,
                m->frame.x0, m->frame.x1, m->frame.y0, m->frame.y1, m->frame.z0, m->frame.z1,
                m->voxel_size[0], m->voxel_size[1], m->voxel_size[2], m->voxel_unit);
    }
}

/* Replace *plan by its shard's blocks, and say which they are. */
static int restrict_to_shard(const mtp_config *cfg, mtp_plan **plan, const mtp_shard *shard,
                             const char *source, bool quiet, mtp_error *err)
{
    uint32_t *shard_of = NULL;
    mtp_plan *sub = NULL;
    int rc = mtp_shard_partition(cfg, *plan, shard->count, &shard_of, err);
    if (rc == 0)
        rc = mtp_shard_subplan(&sub, *plan, shard_of, shard->index, err);
    if (rc == 0 && !quiet) {
        uint64_t bytes = 0;
        for (size_t i = 0; i < (*plan)->nblocks; i++)
            if (shard_of[i] == (uint32_t)shard->index)
                bytes += mtp_shard_block_bytes(cfg, *plan, i);
        char g[40];
        fprintf(stderr, "shard %d/%d (%s): %zu of %zu blocks, %s plan bytes\n", shard->index,
                shard->count, source, sub->nblocks, (*plan)->nblocks,
                cli_grouped(bytes, g, sizeof g));
    }
    if (rc == 0) {
        mtp_plan_free(*plan);
        *plan = sub;
    }
    free(shard_of);
    return rc;
}

int cli_fetch(const struct cli_options *opt)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_config *cfg = NULL;
    mtp_plan *plan = NULL;
    mtp_cache *cache = NULL;
    mtp_boss *boss = NULL;
    mtp_channel_meta meta[MTP_MAX_CHANNELS];
    mtp_fetch_stats stats;
    char cache_dir[4096];
    memset(&stats, 0, sizeof stats);

    mtp_shard shard = {0, 1};
    char shard_source[256] = "";
    int rc = 0;
    if (opt->offline)
        rc = mtp_error_set(&err, MTP_ECONFIG, "fetch: --offline is an option of build");
    else if (opt->shard != NULL)
        rc = cli_shard(opt, &shard, shard_source, sizeof shard_source, &err);
    else if (opt->shards != 0)
        rc = mtp_error_set(&err, MTP_ECONFIG, "--shards %d needs --shard I/N or --shard auto",
                           opt->shards);
    if (rc == 0)
        rc = cli_load_config(opt, &cfg, &err);
    if (rc == 0)
        rc = mtp_plan_new(&plan, cfg, &err);
    if (rc == 0 && opt->shard != NULL)
        rc = restrict_to_shard(cfg, &plan, &shard, shard_source, opt->quiet, &err);
    if (rc < 0)
        goto out;
    rc = cli_cache_dir(opt, cache_dir, sizeof cache_dir, &err);
    if (rc < 0)
        goto out;
    rc = mtp_cache_open(&cache, cache_dir, &err);
    if (rc < 0)
        goto out;

    mtp_boss_options bopt = MTP_BOSS_OPTIONS_INIT;
    mtp_boss_options_from_source(&bopt, &cfg->source);
    bopt.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    rc = mtp_boss_new(&boss, &bopt, &err);
    if (rc < 0)
        goto out;

    cli_install_signal_handlers();
    rc = mtp_fetch_metadata(boss, cfg, plan, meta, &err);
    if (rc == 0)
        rc = mtp_fetch_save_metadata(cache, cfg, plan, meta, &err);
    if (rc < 0)
        goto out;
    if (opt->verbose && !opt->quiet)
        print_meta(cfg, plan, meta);

    struct cli_progress_view view;
    cli_progress_init(&view, opt->quiet);
    mtp_fetch_options fopt = MTP_FETCH_OPTIONS_INIT;
    fopt.progress = cli_on_progress;
    fopt.progress_userdata = &view;
    fopt.cancel = &cli_interrupted;
    rc = mtp_fetch_run(boss, cfg, plan, cache, meta, &fopt, &stats, &err);
    cli_progress_clear(&view);
    fflush(stderr);

    mtp_boss_stats bs;
    mtp_boss_get_stats(boss, &bs);
    if (rc == MTP_ECANCEL) {
        fprintf(stderr,
                "%s: interrupted: %" PRIu64 " of %" PRIu64 " blocks are in the cache; "
                "run fetch again to get the rest\n",
                PROG, stats.blocks_cached + stats.blocks_fetched, stats.blocks_total);
        rc = mtp_exit_status(rc);
        err.msg[0] = '\0';
        goto out_quiet;
    }
    if (rc == 0 && !opt->quiet) {
        printf("fetched %" PRIu64 " blocks (%" PRIu64 " cached), %" PRIu64 " requests, %.1f MB "
               "(%.1f MB transferred) in %.1f s",
               stats.blocks_fetched, stats.blocks_cached, bs.requests, cli_mb(stats.bytes_decoded),
               cli_mb(stats.bytes_body), stats.wall_s);
        if (bs.retries > 0 || stats.splits > 0 || stats.blocks_damaged > 0)
            printf(", %" PRIu64 " retries, %" PRIu64 " splits, %" PRIu64 " damaged in cache",
                   bs.retries, stats.splits, stats.blocks_damaged);
        printf("\n");
        if (stats.blocks_fetched > 0)
            printf("concurrency: %d at the start, peak %" PRIu64 ", %" PRIu64 " at the end "
                   "(source.max_jobs %d); %" PRIu64 " answers said the server is busy\n",
                   cfg->source.jobs, stats.peak_concurrency, stats.concurrency,
                   cfg->source.max_jobs, stats.busy);
    }
out:
    if (rc < 0)
        rc = cli_fail(rc, &err);
out_quiet:
    mtp_boss_free(boss);
    mtp_cache_free(cache);
    mtp_plan_free(plan);
    mtp_config_free(cfg);
    return rc;
}
