/*
 * common.h — what the mtneuro-pack commands share: the parsed options, loading the config
 * with command-line overrides, one-line errors, signal handling and progress drawing.
 */
#ifndef MTP_CLI_COMMON_H
#define MTP_CLI_COMMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtp/config.h"
#include "mtp/error.h"
#include "mtp/progress.h"
#include "mtp/shard.h"

#define PROG "mtneuro-pack"

/* argv parsed into data (STYLE §4); each command reads what it needs. */
struct cli_options {
    const char *command;
    const char *target; /* CONFIG, DIR or FILE.h5 */
    const char *out;
    const char *cache;
    const char *source_url;
    const char *token_env;
    int jobs;          /* 0 = the config's value */
    int threads;       /* pool workers (compression, cache reads); 0 = one per core */
    const char *shard; /* --shard I/N or auto (fetch) */
    int shards;        /* --shards N (plan, fetch --shard auto, build --offline); 0 = none */
    bool offline;      /* build --offline: only the cache, no cutout requests */
    bool quiet;
    bool verbose;
    bool help;
    bool archive;
    /* publish */
    const char *zenodo;         /* --zenodo URL */
    const char *deposition;     /* --deposition ID */
    const char *new_version_of; /* --new-version-of ID */
    bool sandbox;
    bool publish;
};

#define CLI_OPTIONS_INIT                                                                           \
    {                                                                                              \
        .command = NULL, .jobs = 0, .threads = 0                                                   \
    }

/* Set by SIGINT/SIGTERM once cli_install_signal_handlers() ran; the library polls it. */
extern volatile sig_atomic_t cli_interrupted;
void cli_install_signal_handlers(void);

/* Print "mtneuro-pack: <message>" and return the exit status for `code`. */
int cli_fail(int code, const mtp_error *err);

/* Load opt->target with --source-url, --token-env and --jobs applied. */
int cli_load_config(const struct cli_options *opt, mtp_config **cfg, mtp_error *err);

/* The shard this process fetches: from --shard I/N, or the scheduler's environment for
 * --shard auto (checked against --shards); `source` says where it came from. */
int cli_shard(const struct cli_options *opt, mtp_shard *out, char *source, size_t n,
              mtp_error *err);

/* --cache DIR, else the default cache directory. */
int cli_cache_dir(const struct cli_options *opt, char *buf, size_t n, mtp_error *err);

/* 1234567 -> "1,234,567" in buf. */
const char *cli_grouped(uint64_t v, char *buf, size_t n);
double cli_mb(uint64_t bytes);

/* Progress on stderr: a live bar on a terminal, a line every 5 s otherwise, nothing quiet. */
struct cli_progress_view {
    bool tty, quiet;
    bool line_open;   /* a bar is on screen without a newline */
    double last_draw; /* elapsed_s of the last drawn line */
    bool have_base;   /* rate is measured from the first fetch report */
    double base_s;
    uint64_t base_bytes;
    mtp_phase last_phase; /* phase of the last report, 0 before the first */
};

void cli_progress_init(struct cli_progress_view *v, bool quiet);
void cli_progress_clear(struct cli_progress_view *v);
void cli_on_progress(const mtp_progress *p, void *userdata); /* userdata: the view */

/* The commands. Each returns the process exit status. */
int cli_plan(const struct cli_options *opt);
int cli_fetch(const struct cli_options *opt);
int cli_build(const struct cli_options *opt);
int cli_verify(const struct cli_options *opt);
int cli_preview(const struct cli_options *opt);
int cli_archive(const struct cli_options *opt);
int cli_publish(const struct cli_options *opt);

#endif
