/* common.c — helpers shared by the mtneuro-pack commands: config loading, errors, progress. */
#include "common.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "mtp/cache.h"
#include "mtp/shard.h"

/* ---- shared helpers ------------------------------------------------------------------- */

volatile sig_atomic_t cli_interrupted = 0;

static void on_signal(int sig)
{
    (void)sig;
    cli_interrupted = 1;
}

void cli_install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Print "mtneuro-pack: <message>" ("mtneuro-pack: internal error: <message>" for a bug,
 * MTP_EINVAL) and return the exit status for `code`. */
int cli_fail(int code, const mtp_error *err)
{
    const char *msg = err->msg[0] != '\0' ? err->msg : mtp_strerror(code);
    fprintf(stderr, "%s: %s%s\n", PROG, code == MTP_EINVAL ? "internal error: " : "", msg);
    return mtp_exit_status(code);
}

int cli_load_config(const struct cli_options *opt, mtp_config **cfg, mtp_error *err)
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
        /* --jobs above the cap raises the cap: the user asked for that many. */
        if ((*cfg)->source.max_jobs < opt->jobs)
            (*cfg)->source.max_jobs = opt->jobs;
    }
    if (rc < 0) {
        mtp_config_free(*cfg);
        *cfg = NULL;
    }
    return rc;
}

/* 1234567 -> "1,234,567" */
const char *cli_grouped(uint64_t v, char *buf, size_t n)
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

double cli_mb(uint64_t bytes)
{
    return (double)bytes / 1e6;
}

/* ---- fetch progress (drawn on stderr) -------------------------------------------------- */

void cli_progress_clear(struct cli_progress_view *v)
{
    if (v->line_open) {
        fputs("\r\033[K", stderr);
        v->line_open = false;
    }
}

static void draw_fetch(struct cli_progress_view *v, const mtp_progress *p)
{
    double dt = p->elapsed_s - v->base_s;
    double rate = dt > 0.2 ? cli_mb(p->bytes_done - v->base_bytes) / dt : 0.0;
    char eta[32] = "--:--";
    if (rate > 0 && p->bytes_total >= p->bytes_done) {
        double s = cli_mb(p->bytes_total - p->bytes_done) / rate;
        if (s < 360000)
            snprintf(eta, sizeof eta, "%d:%02d", (int)s / 60, (int)s % 60);
    }
    int pct = p->total > 0 ? (int)(100 * p->done / p->total) : 100;
    fprintf(stderr,
            "%s%s %3d%% %" PRIu64 "/%" PRIu64 " blocks, %.1f/%.1f MB, %.1f MB/s, "
            "ETA %s, %" PRIu64 " requests, %" PRIu64 " retries, %" PRIu64 " in flight%s",
            v->tty ? "\r\033[K" : "", p->what, pct, p->done, p->total, cli_mb(p->bytes_done),
            cli_mb(p->bytes_total), rate, eta, p->requests, p->retries, p->concurrency,
            v->tty ? "" : "\n");
}

static void draw_write(struct cli_progress_view *v, const mtp_progress *p)
{
    int pct = p->total > 0 ? (int)(100 * p->done / p->total) : 100;
    if (p->phase == MTP_PHASE_WRITE)
        fprintf(stderr, "%swrite %3d%% %" PRIu64 "/%" PRIu64 " samples (%s), %.0f s%s",
                v->tty ? "\r\033[K" : "", pct, p->done, p->total, p->what, p->elapsed_s,
                v->tty ? "" : "\n");
    else
        fprintf(stderr, "%s%s ...%s", v->tty ? "\r\033[K" : "", p->what, v->tty ? "" : "\n");
}

static void draw_line(struct cli_progress_view *v, const mtp_progress *p)
{
    if (p->phase == MTP_PHASE_FETCH)
        draw_fetch(v, p);
    else
        draw_write(v, p);
    v->line_open = v->tty;
    v->last_draw = p->elapsed_s;
}

void cli_on_progress(const mtp_progress *p, void *userdata)
{
    struct cli_progress_view *v = userdata;
    if (v->quiet)
        return;
    if (!v->have_base && strcmp(p->what, "fetch") == 0) {
        v->have_base = true;
        v->base_s = p->elapsed_s;
        v->base_bytes = p->bytes_done;
    }
    if (p->note != NULL) {
        cli_progress_clear(v);
        fprintf(stderr, "%s\n", p->note);
    }
    if (p->phase != v->last_phase) {
        /* Each phase measures elapsed time from its own start: draw its first report. */
        v->last_phase = p->phase;
        v->last_draw = p->elapsed_s - 1e9;
    }
    double every = v->tty ? 0.1 : 5.0;
    if (p->note != NULL ? v->tty : p->elapsed_s - v->last_draw >= every)
        draw_line(v, p);
    fflush(stderr);
}

void cli_progress_init(struct cli_progress_view *v, bool quiet)
{
    memset(v, 0, sizeof *v);
    v->tty = isatty(STDERR_FILENO) == 1;
    v->quiet = quiet;
}

int cli_cache_dir(const struct cli_options *opt, char *buf, size_t n, mtp_error *err)
{
    if (opt->cache == NULL)
        return mtp_cache_default_dir(buf, n, err);
    int len = snprintf(buf, n, "%s", opt->cache);
    if (len < 0 || (size_t)len >= n)
        return mtp_error_set(err, MTP_ECONFIG, "--cache: path too long");
    return 0;
}

/* ---- shards --------------------------------------------------------------------------- */

static const char *process_getenv(void *userdata, const char *name)
{
    (void)userdata;
    return getenv(name);
}

int cli_shard(const struct cli_options *opt, mtp_shard *out, char *source, size_t n, mtp_error *err)
{
    if (strcmp(opt->shard, "auto") == 0)
        return mtp_shard_from_env(process_getenv, NULL, opt->shards, out, source, n, err);
    int rc = mtp_shard_parse(opt->shard, out, err);
    if (rc == 0 && opt->shards != 0 && opt->shards != out->count)
        rc = mtp_error_set(err, MTP_ECONFIG, "--shard %s disagrees with --shards %d", opt->shard,
                           opt->shards);
    if (rc == 0)
        snprintf(source, n, "--shard %s", opt->shard);
    return rc;
}
