/*
 * mtneuro-pack — the command line. Parses argv into `struct cli_options` (a table of
 * options, STYLE §4), calls the library, prints results and errors, and exits:
 * 0 success, 1 runtime failure, 2 usage or invalid config.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "boss.h"
#include "cache.h"
#include "config.h"
#include "error.h"
#include "fetch.h"
#include "plan.h"
#include "progress.h"

#define PROG "mtneuro-pack"

struct cli_options {
    const char *command;
    const char *target; /* CONFIG, DIR or FILE.h5 */
    const char *out;
    const char *cache;
    const char *source_url;
    const char *token_env;
    int jobs; /* 0 = the config's value */
    bool quiet;
    bool verbose;
    bool help;
};

#define CLI_OPTIONS_INIT                                                                           \
    {                                                                                              \
        NULL, NULL, NULL, NULL, NULL, NULL, 0, false, false, false                                 \
    }

enum opt_kind { OPT_FLAG, OPT_STRING, OPT_INT };

struct opt_spec {
    const char *name;
    enum opt_kind kind;
    size_t offset;
};

#define OPT(name, kind, field)                                                                     \
    {                                                                                              \
        name, kind, offsetof(struct cli_options, field)                                            \
    }
static const struct opt_spec option_table[] = {
    OPT("--out", OPT_STRING, out),
    OPT("--cache", OPT_STRING, cache),
    OPT("--source-url", OPT_STRING, source_url),
    OPT("--token-env", OPT_STRING, token_env),
    OPT("--jobs", OPT_INT, jobs),
    OPT("--quiet", OPT_FLAG, quiet),
    OPT("--verbose", OPT_FLAG, verbose),
    OPT("--help", OPT_FLAG, help),
};

struct command {
    const char *name;
    const char *usage;
    const char *summary;
    int (*run)(const struct cli_options *opt);
};

static int not_implemented(const struct cli_options *opt)
{
    fprintf(stderr, "%s %s: not implemented yet\n", PROG, opt->command);
    return 2;
}

static int cmd_plan(const struct cli_options *opt);
static int cmd_fetch(const struct cli_options *opt);

static const struct command commands[] = {
    {"build",
     "build CONFIG [--out DIR] [--cache DIR] [--jobs N] [--source-url URL] "
     "[--token-env VAR] [--quiet] [--verbose]",
     "download what the release needs (through the cache) and write it", not_implemented},
    {"fetch",
     "fetch CONFIG [--cache DIR] [--jobs N] [--source-url URL] [--token-env VAR] "
     "[--quiet] [--verbose]",
     "download every block the release needs into the cache only", cmd_fetch},
    {"plan", "plan CONFIG [--verbose]",
     "print the blocks, requests and bytes a fetch would need; no network", cmd_plan},
    {"verify", "verify DIR", "check a release: checksums, format, counts", not_implemented},
    {"inspect", "inspect FILE.h5", "summarise a bundle file: tree, shapes, class balance",
     not_implemented},
    {"preview", "preview FILE.h5 --out DIR", "write PNG montages of a bundle file",
     not_implemented},
    {"archive", "archive DIR", "pack a release into a deterministic .tar.gz", not_implemented},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* Longer help for `COMMAND --help`, or NULL. */
static const char *command_details(const char *name)
{
    if (strcmp(name, "plan") == 0)
        return "Reads CONFIG only (no network). For each channel: its blocks (one cutout\n"
               "request each), voxels, and uncompressed bytes. Channels that tasks use as\n"
               "images must be uint8, so their bytes are exact; other channels may be uint8,\n"
               "uint16 or uint64 (the server's metadata decides), so plan shows the uint64\n"
               "upper bound, marked '<='. --verbose lists every block in the order fetch\n"
               "requests them: 'CHANNEL x[x0,x1) y[y0,y1) z[z0,z1)'.\n";
    if (strcmp(name, "fetch") == 0)
        return "Checks the server's metadata (channels exist, dtypes, resolution, boxes inside\n"
               "the frame), then downloads every block the plan lists that is not already in\n"
               "the cache (cached blocks are re-verified; a damaged one is fetched again).\n"
               "  --cache DIR        cache directory (default $XDG_CACHE_HOME/mtneuro-pack,\n"
               "                     else ~/.cache/mtneuro-pack)\n"
               "  --jobs N           concurrent transfers (default: source.jobs)\n"
               "  --source-url URL   server instead of source.url\n"
               "  --token-env VAR    read the token from environment variable VAR\n"
               "  --quiet            print nothing but errors\n"
               "  --verbose          also print each channel's metadata\n"
               "Progress goes to stderr: a live bar on a terminal, else a line every 5 s.\n"
               "Ctrl-C stops cleanly; every finished block stays cached for the next run.\n";
    return NULL;
}

static void print_usage(FILE *f)
{
    fprintf(f,
            "usage: %s COMMAND [ARGS]\n\n"
            "Package the MTNeuro benchmark from BossDB into a verifiable dataset release.\n\n"
            "commands:\n",
            PROG);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\n"
            "  %s --version       print the version\n"
            "  %s COMMAND --help  usage of one command\n\n"
            "Exit status: 0 success, 1 runtime failure, 2 usage or invalid config.\n",
            PROG, PROG);
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int parse_int(const char *text, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 1 || v > 1024)
        return -1;
    *out = (int)v;
    return 0;
}

/* Fill `opt` from argv[2..]; returns 0 or prints one line and returns 2. */
static int parse_options(int argc, char **argv, struct cli_options *opt)
{
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || arg[1] == '\0') {
            if (opt->target != NULL) {
                fprintf(stderr, "%s %s: unexpected argument '%s'\n", PROG, opt->command, arg);
                return 2;
            }
            opt->target = arg;
            continue;
        }
        const struct opt_spec *spec = NULL;
        for (size_t k = 0; k < sizeof option_table / sizeof option_table[0]; k++)
            if (strcmp(option_table[k].name, arg) == 0)
                spec = &option_table[k];
        if (spec == NULL) {
            fprintf(stderr, "%s %s: unknown option '%s' (see --help)\n", PROG, opt->command, arg);
            return 2;
        }
        char *field = (char *)opt + spec->offset;
        if (spec->kind == OPT_FLAG) {
            *(bool *)field = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "%s %s: option %s needs a value\n", PROG, opt->command, arg);
            return 2;
        }
        const char *value = argv[++i];
        if (spec->kind == OPT_STRING) {
            *(const char **)field = value;
        } else if (parse_int(value, (int *)field) != 0) {
            fprintf(stderr, "%s %s: option %s: '%s' is not an integer in 1..1024\n", PROG,
                    opt->command, arg, value);
            return 2;
        }
    }
    return 0;
}

/* ---- shared helpers ------------------------------------------------------------------- */

static volatile sig_atomic_t interrupted = 0;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Print "mtneuro-pack: <message>" and return the exit status for `code`. */
static int fail(int code, const mtp_error *err)
{
    const char *msg = err->msg[0] != '\0' ? err->msg : mtp_strerror(code);
    fprintf(stderr, "%s: %s\n", PROG, msg);
    return mtp_exit_status(code);
}

static int load_config(const struct cli_options *opt, mtp_config **cfg, mtp_error *err)
{
    int rc = mtp_config_load(cfg, opt->target, err);
    if (rc < 0)
        return rc;
    if (opt->source_url != NULL || opt->token_env != NULL)
        rc = mtp_config_override(*cfg, opt->source_url, opt->token_env, err);
    if (rc == 0 && opt->jobs != 0) {
        if (opt->jobs > MTP_MAX_JOBS)
            rc = mtp_error_set(err, MTP_ECONFIG, "--jobs %d: at most %d", opt->jobs, MTP_MAX_JOBS);
        else
            (*cfg)->source.jobs = opt->jobs;
    }
    if (rc < 0) {
        mtp_config_free(*cfg);
        *cfg = NULL;
    }
    return rc;
}

/* 1234567 -> "1,234,567" */
static const char *grouped(uint64_t v, char *buf, size_t n)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%" PRIu64, v);
    size_t k = 0;
    for (int i = 0; i < len && k + 2 < n; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[k++] = ',';
        buf[k++] = digits[i];
    }
    buf[k] = '\0';
    return buf;
}

static double mb(uint64_t bytes)
{
    return (double)bytes / 1e6;
}

static void block_line(FILE *f, const mtp_config *cfg, const mtp_block *b)
{
    fprintf(f,
            "%s x[%" PRId64 ",%" PRId64 ") y[%" PRId64 ",%" PRId64 ") z[%" PRId64 ",%" PRId64 ")\n",
            cfg->channels[b->channel].name, b->box.x0, b->box.x1, b->box.y0, b->box.y1, b->box.z0,
            b->box.z1);
}

static bool is_image_channel(const mtp_config *cfg, int c)
{
    for (int t = 0; t < cfg->ntasks; t++)
        if (cfg->tasks[t].image_channel == c)
            return true;
    return false;
}

/* ---- plan ----------------------------------------------------------------------------- */

static int cmd_plan(const struct cli_options *opt)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_config *cfg = NULL;
    mtp_plan *plan = NULL;
    char g[40];
    int rc = load_config(opt, &cfg, &err);
    if (rc == 0)
        rc = mtp_plan_new(&plan, cfg, &err);
    if (rc < 0)
        goto out;

    printf("plan for %s %s (%s): resolution %d, blocks of at most %" PRId64 " x %" PRId64
           " x %" PRId64 " (x, y, z)\n",
           cfg->release.name, cfg->release.version, opt->target, cfg->source.resolution,
           cfg->source.block[0], cfg->source.block[1], cfg->source.block[2]);
    printf("%-16s %-48s %8s %16s  %s\n", "channel", "uri", "blocks", "voxels",
           "bytes (uncompressed)");
    uint64_t voxels = 0, bytes = 0, nblocks = 0;
    bool bound = false;
    for (int c = 0; c < cfg->nchannels; c++) {
        const mtp_channel *ch = &cfg->channels[c];
        if (!plan->used[c]) {
            printf("%-16s %-48s %8s %16s  unused by every task\n", ch->name, ch->uri, "-", "-");
            continue;
        }
        uint64_t v = plan->voxels_of[c];
        bool image = is_image_channel(cfg, c);
        uint64_t b = image ? v : v * 8;
        char bytes_text[64];
        if (image)
            snprintf(bytes_text, sizeof bytes_text, "%.1f MB (uint8)", mb(b));
        else
            snprintf(bytes_text, sizeof bytes_text, "<= %.1f MB (at most uint64)", mb(b));
        bound = bound || !image;
        printf("%-16s %-48s %8zu %16s  %s\n", ch->name, ch->uri, plan->nblocks_of[c],
               grouped(v, g, sizeof g), bytes_text);
        voxels += v;
        bytes += b;
        nblocks += plan->nblocks_of[c];
    }
    printf("total: %" PRIu64 " blocks = %" PRIu64 " cutout requests, %s voxels, %s%.1f MB\n",
           nblocks, nblocks, grouped(voxels, g, sizeof g), bound ? "<= " : "", mb(bytes));
    if (bound)
        printf("(image channels must be uint8; label channels are uint8, uint16 or uint64 as "
               "the server says: fetch reports the exact bytes)\n");
    if (opt->verbose) {
        printf("\nblocks in the order fetch requests them:\n");
        for (size_t i = 0; i < plan->nblocks; i++)
            block_line(stdout, cfg, &plan->blocks[i]);
    }
out:
    mtp_plan_free(plan);
    mtp_config_free(cfg);
    return rc < 0 ? fail(rc, &err) : 0;
}

/* ---- fetch progress (drawn on stderr) -------------------------------------------------- */

struct progress_view {
    bool tty, quiet, verbose;
    bool line_open;   /* a bar is on screen without a newline */
    double last_draw; /* elapsed_s of the last drawn line */
    bool have_base;   /* rate is measured from the first fetch report */
    double base_s;
    uint64_t base_bytes;
};

static void clear_bar(struct progress_view *v)
{
    if (v->line_open) {
        fputs("\r\033[K", stderr);
        v->line_open = false;
    }
}

static void draw_line(struct progress_view *v, const mtp_progress *p)
{
    double dt = p->elapsed_s - v->base_s;
    double rate = dt > 0.2 ? mb(p->bytes_done - v->base_bytes) / dt : 0.0;
    char eta[32] = "--:--";
    if (rate > 0 && p->bytes_total >= p->bytes_done) {
        double s = mb(p->bytes_total - p->bytes_done) / rate;
        if (s < 360000)
            snprintf(eta, sizeof eta, "%d:%02d", (int)s / 60, (int)s % 60);
    }
    int pct = p->total > 0 ? (int)(100 * p->done / p->total) : 100;
    fprintf(stderr,
            "%s%s %3d%% %" PRIu64 "/%" PRIu64 " blocks, %.1f/%.1f MB, %.1f MB/s, "
            "ETA %s, %" PRIu64 " requests, %" PRIu64 " retries%s",
            v->tty ? "\r\033[K" : "", p->what, pct, p->done, p->total, mb(p->bytes_done),
            mb(p->bytes_total), rate, eta, p->requests, p->retries, v->tty ? "" : "\n");
    v->line_open = v->tty;
    v->last_draw = p->elapsed_s;
}

static void on_progress(const mtp_progress *p, void *userdata)
{
    struct progress_view *v = userdata;
    if (v->quiet)
        return;
    if (!v->have_base && strcmp(p->what, "fetch") == 0) {
        v->have_base = true;
        v->base_s = p->elapsed_s;
        v->base_bytes = p->bytes_done;
    }
    if (p->note != NULL) {
        clear_bar(v);
        fprintf(stderr, "%s\n", p->note);
    }
    double every = v->tty ? 0.1 : 5.0;
    if (p->note != NULL ? v->tty : p->elapsed_s - v->last_draw >= every)
        draw_line(v, p);
    fflush(stderr);
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

static int cmd_fetch(const struct cli_options *opt)
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

    int rc = load_config(opt, &cfg, &err);
    if (rc == 0)
        rc = mtp_plan_new(&plan, cfg, &err);
    if (rc < 0)
        goto out;
    if (opt->cache != NULL) {
        snprintf(cache_dir, sizeof cache_dir, "%s", opt->cache);
    } else {
        rc = mtp_cache_default_dir(cache_dir, sizeof cache_dir, &err);
        if (rc < 0)
            goto out;
    }
    rc = mtp_cache_open(&cache, cache_dir, &err);
    if (rc < 0)
        goto out;

    mtp_boss_options bopt = MTP_BOSS_OPTIONS_INIT;
    mtp_boss_options_from_source(&bopt, &cfg->source);
    bopt.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    rc = mtp_boss_new(&boss, &bopt, &err);
    if (rc < 0)
        goto out;

    install_signal_handlers();
    rc = mtp_fetch_metadata(boss, cfg, plan, meta, &err);
    if (rc < 0)
        goto out;
    if (opt->verbose && !opt->quiet)
        print_meta(cfg, plan, meta);

    struct progress_view view = {
        isatty(STDERR_FILENO) == 1, opt->quiet, opt->verbose, false, 0.0, false, 0.0, 0};
    mtp_fetch_options fopt = MTP_FETCH_OPTIONS_INIT;
    fopt.progress = on_progress;
    fopt.progress_userdata = &view;
    fopt.cancel = &interrupted;
    rc = mtp_fetch_run(boss, cfg, plan, cache, meta, &fopt, &stats, &err);
    clear_bar(&view);
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
               stats.blocks_fetched, stats.blocks_cached, bs.requests, mb(stats.bytes_decoded),
               mb(stats.bytes_body), stats.wall_s);
        if (stats.retries > 0 || stats.splits > 0 || stats.blocks_damaged > 0)
            printf(", %" PRIu64 " retries, %" PRIu64 " splits, %" PRIu64 " damaged in cache",
                   bs.retries, stats.splits, stats.blocks_damaged);
        printf("\n");
    }
out:
    if (rc < 0)
        rc = fail(rc, &err);
out_quiet:
    mtp_boss_free(boss);
    mtp_cache_free(cache);
    mtp_plan_free(plan);
    mtp_config_free(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("%s %s\n", PROG, MTP_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_usage(stdout);
        return 0;
    }
    const struct command *cmd = find_command(argv[1]);
    if (cmd == NULL) {
        fprintf(stderr, "%s: unknown command '%s' (see %s --help)\n", PROG, argv[1], PROG);
        return 2;
    }
    struct cli_options opt = CLI_OPTIONS_INIT;
    opt.command = cmd->name;
    int rc = parse_options(argc, argv, &opt);
    if (rc != 0)
        return rc;
    if (opt.help) {
        printf("usage: %s %s\n\n%s\n", PROG, cmd->usage, cmd->summary);
        const char *details = command_details(cmd->name);
        if (details != NULL)
            printf("\n%s", details);
        return 0;
    }
    if (opt.target == NULL) {
        fprintf(stderr, "usage: %s %s\n", PROG, cmd->usage);
        return 2;
    }
    return cmd->run(&opt);
}
