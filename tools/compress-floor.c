/*
 * compress-floor — the benchmark's lower bound on writing a release (DESIGN §9, issue 6/6):
 * deflate every unique image slice once, at the configured level, on one thread.
 *
 * The unique image slices are, for every image channel a task uses and every region, the
 * region's cube over the config's z range cut into (H, W) slices — one slice is one HDF5
 * chunk of the bundles. Each slice is compressed, at output.level, either with
 * mtp_chunk_deflate_one() — the single-thread call the writer's pool makes per chunk
 * (libdeflate; --compressor libdeflate, the default) — or with zlib's compress2 into a
 * compressBound buffer, the call of HDF5's deflate filter (--compressor zlib: the floor of a
 * writer that used zlib, kept for comparison). Only the compression is timed (with the allocation
 * of each chunk's buffer, as in the writer): the cubes are loaded from the cache first (blocks
 * missing from the cache are fetched from --source-url, which is also what the cache keys
 * are made of, so pass the URL the build used).
 *
 * Prints one line on stdout:
 *   compress-floor compressor=C slices=N bytes_in=B bytes_out=B level=L compress_s=S
 *   compress_cpu_s=S load_s=S fetched=N
 * compress_s is the sum of the wall time of the compress calls, compress_cpu_s the same in
 * thread CPU time, load_s the time spent fetching and loading cubes.
 * Exit status: 0 ok, 2 usage or config error, 1 anything else.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "mtp/boss.h"
#include "mtp/cache.h"
#include "mtp/chunks.h"
#include "mtp/config.h"
#include "mtp/error.h"
#include "mtp/fetch.h"
#include "mtp/plan.h"
#include "mtp/assemble.h"

#define PROG "compress-floor"

static const char USAGE[] =
    "usage: compress-floor CONFIG [--source-url URL] [--cache DIR] [--level N]\n"
    "                      [--compressor libdeflate|zlib] [--help]\n"
    "\n"
    "Deflate every unique image slice of the release once, on one thread, and print the time\n"
    "of the compression alone plus the bytes in and out. Cubes come from the cache (missing\n"
    "blocks are fetched first).\n"
    "\n"
    "  --source-url URL  the server the build used (default: the config's source.url)\n"
    "  --cache DIR       the block cache (default: the config's default cache directory)\n"
    "  --level N         deflate level 0-9 (default: the config's output.level)\n"
    "  --compressor C    libdeflate: the writer's call, mtp_chunk_deflate_one (default);\n"
    "                    zlib: compress2, the call of HDF5's own deflate filter\n";

typedef struct floor_options {
    const char *config;
    const char *source_url;
    const char *cache_dir;
    int level;     /* -1: the config's */
    bool use_zlib; /* compress2 instead of the writer's libdeflate call */
} floor_options;

typedef struct floor_stats {
    uint64_t slices, bytes_in, bytes_out, fetched;
    double compress_s, compress_cpu_s, load_s;
} floor_stats;

static double seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* 0 parsed, 1 --help, -1 error (printed). */
static int parse_args(int argc, char **argv, floor_options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return 1;
        if (arg[0] != '-') {
            if (o->config != NULL) {
                fprintf(stderr, "%s: more than one CONFIG ('%s')\n", PROG, arg);
                return -1;
            }
            o->config = arg;
            continue;
        }
        const char *const names[] = {"--source-url", "--cache", "--level", "--compressor"};
        int which = -1;
        for (int k = 0; k < 4; k++)
            if (strcmp(arg, names[k]) == 0)
                which = k;
        if (which < 0) {
            fprintf(stderr, "%s: unknown argument '%s' (see --help)\n", PROG, arg);
            return -1;
        }
        if (i + 1 >= argc || argv[i + 1][0] == '\0') {
            fprintf(stderr, "%s: %s needs a value\n", PROG, arg);
            return -1;
        }
        const char *value = argv[++i];
        if (which == 0) {
            o->source_url = value;
        } else if (which == 1) {
            o->cache_dir = value;
        } else if (which == 3) {
            if (strcmp(value, "zlib") != 0 && strcmp(value, "libdeflate") != 0) {
                fprintf(stderr, "%s: --compressor: '%s' is not libdeflate or zlib\n", PROG, value);
                return -1;
            }
            o->use_zlib = strcmp(value, "zlib") == 0;
        } else {
            if (value[0] < '0' || value[0] > '9' || value[1] != '\0') {
                fprintf(stderr, "%s: --level: '%s' is not an integer in 0-9\n", PROG, value);
                return -1;
            }
            o->level = value[0] - '0';
        }
    }
    if (o->config == NULL) {
        fprintf(stderr, "%s: no CONFIG given (see --help)\n", PROG);
        return -1;
    }
    return 0;
}

/* HDF5's deflate filter's call (H5Zdeflate.c): compress2 into a compressBound buffer. */
static int zlib_deflate(const uint8_t *src, size_t n, int level, mtp_chunk *out, mtp_error *err)
{
    uLongf len = compressBound((uLong)n);
    out->data = malloc(len);
    if (out->data == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "out of memory");
    int status = compress2(out->data, &len, src, (uLong)n, level);
    if (status != Z_OK)
        return mtp_error_set(err, MTP_EFORMAT, "zlib compress2 failed (%d)", status);
    out->size = len;
    return 0;
}

/* Deflate every z slice of `vol` once, timing only the compression calls. */
static int compress_cube(const mtp_volume *vol, int level, bool use_zlib, floor_stats *st,
                         mtp_error *err)
{
    size_t slice = vol->nx * vol->ny;
    for (size_t z = 0; z < vol->nz; z++) {
        mtp_chunk chunk = {NULL, 0, NULL};
        double w0 = seconds(CLOCK_MONOTONIC), c0 = seconds(CLOCK_THREAD_CPUTIME_ID);
        int rc = use_zlib ? zlib_deflate(vol->data + z * slice, slice, level, &chunk, err)
                          : mtp_chunk_deflate_one(vol->data + z * slice, slice, level, &chunk, err);
        st->compress_cpu_s += seconds(CLOCK_THREAD_CPUTIME_ID) - c0;
        st->compress_s += seconds(CLOCK_MONOTONIC) - w0;
        if (rc < 0)
            return rc;
        st->slices++;
        st->bytes_in += slice;
        st->bytes_out += chunk.size;
        mtp_chunk_release(&chunk);
    }
    return 0;
}

/* Channels used as images by some task, each once, in config order. */
static int image_channels(const mtp_config *cfg, int out[MTP_MAX_CHANNELS])
{
    int n = 0;
    for (int c = 0; c < cfg->nchannels; c++)
        if (mtp_config_channel_is_image(cfg, c))
            out[n++] = c;
    return n;
}

static int run(const floor_options *o, floor_stats *st, int *level_used, mtp_error *err)
{
    mtp_config *cfg = NULL;
    mtp_plan *plan = NULL;
    mtp_cache *cache = NULL;
    mtp_boss *boss = NULL;
    mtp_volume vol;
    memset(&vol, 0, sizeof vol);
    mtp_channel_meta meta[MTP_MAX_CHANNELS];
    char cache_dir[4096];

    int rc = mtp_config_load(&cfg, o->config, err);
    if (rc == 0 && o->source_url != NULL)
        rc = mtp_config_override(cfg, o->source_url, NULL, err);
    if (rc < 0)
        goto out;
    if (cfg->output.compression != MTP_COMPRESS_GZIP) {
        rc = mtp_error_set(err, MTP_ECONFIG,
                           "%s: output.compression is not gzip; this floor measures deflate",
                           o->config);
        goto out;
    }
    int level = o->level >= 0 ? o->level : cfg->output.level;
    *level_used = level;
    const char *dir = o->cache_dir; /* --cache as given, else the default */
    if (dir == NULL) {
        rc = mtp_cache_default_dir(cache_dir, sizeof cache_dir, err);
        if (rc < 0)
            goto out;
        dir = cache_dir;
    }
    rc = mtp_plan_new(&plan, cfg, err);
    if (rc == 0)
        rc = mtp_cache_open(&cache, dir, err);
    if (rc < 0)
        goto out;

    double t0 = seconds(CLOCK_MONOTONIC);
    mtp_boss_options bopt = MTP_BOSS_OPTIONS_INIT;
    mtp_boss_options_from_source(&bopt, &cfg->source);
    rc = mtp_boss_new(&boss, &bopt, err);
    if (rc == 0)
        rc = mtp_fetch_metadata(boss, cfg, plan, meta, err);
    mtp_fetch_options fopt = MTP_FETCH_OPTIONS_INIT;
    fopt.verify_cached = 0; /* mtp_assemble_load checks every block's SHA-256 anyway */
    mtp_fetch_stats fstats;
    memset(&fstats, 0, sizeof fstats);
    if (rc == 0)
        rc = mtp_fetch_run(boss, cfg, plan, cache, meta, &fopt, &fstats, err);
    st->fetched = fstats.blocks_fetched;
    st->load_s += seconds(CLOCK_MONOTONIC) - t0;
    if (rc < 0)
        goto out;

    int chans[MTP_MAX_CHANNELS];
    int nchans = image_channels(cfg, chans);
    for (int i = 0; i < nchans && rc == 0; i++) {
        for (int r = 0; r < cfg->nregions && rc == 0; r++) {
            mtp_box box = mtp_assemble_region_box(cfg, r);
            t0 = seconds(CLOCK_MONOTONIC);
            rc = mtp_assemble_load(&vol, cfg, plan, cache, chans[i], meta[chans[i]].dtype, &box,
                                   err);
            st->load_s += seconds(CLOCK_MONOTONIC) - t0;
            if (rc < 0)
                break;
            rc = compress_cube(&vol, level, o->use_zlib, st, err);
            mtp_assemble_release(&vol);
        }
    }
out:
    mtp_assemble_release(&vol);
    mtp_boss_free(boss);
    mtp_cache_free(cache);
    mtp_plan_free(plan);
    mtp_config_free(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    floor_options o = {.config = NULL, .level = -1, .use_zlib = false};
    int parsed = parse_args(argc, argv, &o);
    if (parsed == 1) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (parsed < 0)
        return 2;

    floor_stats st;
    memset(&st, 0, sizeof st);
    int level = 0;
    mtp_error err = MTP_ERROR_INIT;
    int rc = run(&o, &st, &level, &err);
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", PROG, err.msg[0] != '\0' ? err.msg : mtp_strerror(rc));
        return mtp_exit_status(rc);
    }
    printf("compress-floor compressor=%s slices=%" PRIu64 " bytes_in=%" PRIu64 " bytes_out=%" PRIu64
           " level=%d compress_s=%.3f compress_cpu_s=%.3f load_s=%.3f fetched=%" PRIu64 "\n",
           o.use_zlib ? "zlib" : "libdeflate", st.slices, st.bytes_in, st.bytes_out, level,
           st.compress_s, st.compress_cpu_s, st.load_s, st.fetched);
    return 0;
}
