/* release.c — commands that read a finished release: `verify`, `preview`, `archive`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtp/tarball.h"
#include "common.h"
#include "mtp/isolate.h"
#include "mtp/config.h"
#include "mtp/preview.h"
#include "mtp/verify.h"

static void print_problem(void *userdata, const char *line)
{
    (void)userdata;
    printf("%s\n", line);
}

int cli_verify(const struct cli_options *opt)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_verify_result result;
    memset(&result, 0, sizeof result);
    int rc = mtp_verify(opt->target, print_problem, NULL, &result, &err);
    if (rc < 0)
        return cli_fail(rc, &err);
    if (result.nproblems > 0) {
        printf("%s: FAILED: %d problem%s in %d files checked (%d HDF5 files read)\n", opt->target,
               result.nproblems, result.nproblems == 1 ? "" : "s", result.nfiles_checked,
               result.nhdf5_checked);
        return 1;
    }
    if (!opt->quiet)
        printf("%s: OK: %d files checked (sizes, SHA-256, MD5), %d HDF5 files read in full\n",
               opt->target, result.nfiles_checked, result.nhdf5_checked);
    return 0;
}

struct preview_job {
    const char *h5_path, *out_dir;
};

static int preview_in_child(void *arg, mtp_isolate_out *out, mtp_error *err)
{
    const struct preview_job *job = arg;
    int n = 0;
    int rc = mtp_preview_bundle(job->h5_path, job->out_dir, &n, err);
    return rc == 0 ? mtp_isolate_append(out, &n, sizeof n) : rc;
}

int cli_preview(const struct cli_options *opt)
{
    if (opt->out == NULL) {
        fprintf(stderr, "%s preview: --out DIR is required\n", PROG);
        return 2;
    }
    mtp_error err = MTP_ERROR_INIT;
    int n = 0;
    struct preview_job job = {opt->target, opt->out};
    char *answer = NULL;
    size_t len = 0;
    bool reader_failed = false;
    /* A file from anywhere: drawn in a reader process, so a libhdf5 crash is a line. */
    int rc = mtp_isolate_call(preview_in_child, &job, MTP_ISOLATE_TIMEOUT_S, &answer, &len,
                              &reader_failed, &err);
    if (rc == 0 && len == sizeof n)
        memcpy(&n, answer, sizeof n);
    free(answer);
    if (reader_failed) {
        fprintf(stderr, "%s: %s: unreadable HDF5 (%s)\n", PROG, opt->target, err.msg);
        return 1;
    }
    if (rc < 0)
        return cli_fail(rc, &err);
    if (!opt->quiet)
        printf("wrote %d PNG file%s to %s\n", n, n == 1 ? "" : "s", opt->out);
    return 0;
}

int cli_archive(const struct cli_options *opt)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_config *cfg = NULL;
    char dir[4096], config_path[4200], out[4200];
    int len = snprintf(dir, sizeof dir, "%s", opt->target);
    if (len < 0 || (size_t)len >= sizeof dir) {
        fprintf(stderr, "%s archive: path too long\n", PROG);
        return 2;
    }
    while (len > 1 && dir[len - 1] == '/')
        dir[--len] = '\0';
    snprintf(config_path, sizeof config_path, "%s/config.yaml", dir);
    if (opt->out != NULL)
        snprintf(out, sizeof out, "%s", opt->out);
    else
        snprintf(out, sizeof out, "%s.tar.gz", dir);
    /* The entries' mtime is the release config's output.mtime (0 unless it says). */
    cli_install_signal_handlers();
    int rc = mtp_config_load_copy(&cfg, config_path, &err);
    if (rc == 0)
        rc = mtp_archive_write(dir, out, cfg->output.mtime, &cli_interrupted, &err);
    mtp_config_free(cfg);
    if (rc == MTP_ECANCEL) {
        fprintf(stderr, "%s: interrupted; %s was not written\n", PROG, out);
        return 1;
    }
    if (rc < 0)
        return cli_fail(rc, &err);
    if (!opt->quiet)
        printf("wrote %s\n", out);
    return 0;
}
