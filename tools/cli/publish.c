/*
 * publish.c — `mtneuro-pack publish DIR`: a verified release into a Zenodo record, the
 * record's files being exactly the release's (a flat release maps 1:1 to a record).
 *
 * Order: verify (nothing is sent for a release that does not verify), the token from the
 * environment, the draft (new, continued with --deposition, or a new version of a
 * published record), its metadata from .zenodo.json, then the files: a file the draft holds
 * with the release's MD5 is kept, one it holds with another MD5 or that the release does not
 * have is deleted, every other file is uploaded. A rerun after a crash or Ctrl-C with
 * --deposition ID therefore uploads only what is missing.
 */
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "mtp/digest.h"
#include "mtp/fsutil.h"
#include "mtp/release.h"
#include "mtp/tarball.h"
#include "mtp/verify.h"
#include "mtp/zenodo.h"

#define MAX_FILES (MTP_RELEASE_MAX_FILES + 8)

typedef struct release_file {
    char name[MTP_ZENODO_NAME_MAX];
    char md5[33];
    int64_t size;
} release_file;

typedef struct upload_view {
    bool tty, quiet;
    double start, last;
    int64_t done_before; /* bytes of the files finished before this one */
    int64_t total;       /* bytes to upload in all */
} upload_view;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void on_upload_progress(void *userdata, const char *name, int64_t done, int64_t total)
{
    (void)total;
    upload_view *v = userdata;
    double t = now_s();
    if (v->quiet || !v->tty || t - v->last < 0.2)
        return;
    v->last = t;
    double elapsed = t - v->start;
    double sent = (double)(v->done_before + done);
    double rate = elapsed > 0.5 ? sent / elapsed : 0;
    double eta = rate > 0 ? ((double)v->total - sent) / rate : 0;
    fprintf(stderr, "\r\033[Kupload %5.1f%% %.1f/%.1f MB  %.1f MB/s  ETA %.0f s  %s",
            v->total > 0 ? 100.0 * sent / (double)v->total : 100.0, sent / 1e6,
            (double)v->total / 1e6, rate / 1e6, eta, name);
}

static int fail_line(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_line(int status, const char *fmt, ...)
{
    fprintf(stderr, "%s publish: ", PROG);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return status;
}

static void print_problem(void *userdata, const char *line)
{
    (void)userdata;
    fprintf(stderr, "%s\n", line);
}

/* The release's files: every line of MD5SUMS, plus the two SUMS files themselves. */
static int release_files(const char *dir, release_file *files, int *n, mtp_error *err)
{
    char path[PATH_MAX + MTP_ZENODO_NAME_MAX + 2];
    snprintf(path, sizeof path, "%s/%s", dir, MTP_RELEASE_MD5SUMS);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return mtp_error_set(err, MTP_EIO, "%s: %s", path, strerror(errno));
    char line[MTP_ZENODO_NAME_MAX + 64];
    *n = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        size_t len = strcspn(line, "\n");
        line[len] = '\0';
        const char *name = mtp_release_sums_name(line, len, 32);
        if (*n >= MAX_FILES - 2 || name == NULL) {
            rc =
                mtp_error_set(err, MTP_EFORMAT, "%s: line %d is not '<md5>  <name>'", path, *n + 1);
            break;
        }
        if (strlen(name) >= sizeof files[0].name) {
            rc = mtp_error_set(err, MTP_EFORMAT, "%s: line %d: a name longer than %zu bytes", path,
                               *n + 1, sizeof files[0].name - 1);
            break;
        }
        release_file *r = &files[(*n)++];
        memcpy(r->md5, line, 32);
        r->md5[32] = '\0';
        memcpy(r->name, name, strlen(name) + 1);
    }
    fclose(f);
    const char *sums[] = {MTP_RELEASE_SHA256SUMS, MTP_RELEASE_MD5SUMS};
    for (int i = 0; rc == 0 && i < 2; i++) {
        release_file *r = &files[(*n)++];
        snprintf(r->name, sizeof r->name, "%s", sums[i]);
        snprintf(path, sizeof path, "%s/%s", dir, sums[i]);
        mtp_digest d;
        rc = mtp_digest_file(path, &d, err);
        if (rc == 0)
            memcpy(r->md5, d.md5, 33);
    }
    for (int i = 0; rc == 0 && i < *n; i++) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%.255s", dir, files[i].name);
        if (stat(path, &st) != 0)
            rc = mtp_error_set(err, MTP_EIO, "%s: %s", path, strerror(errno));
        else
            files[i].size = (int64_t)st.st_size;
    }
    return rc;
}

static char *read_text(const char *path, mtp_error *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        mtp_error_set(err, MTP_EIO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MTP_ZENODO_ANSWER_MAX + 1);
    size_t len = buf != NULL ? fread(buf, 1, MTP_ZENODO_ANSWER_MAX, f) : 0;
    fclose(f);
    if (buf == NULL) {
        mtp_error_set(err, MTP_ENOMEM, "out of memory");
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

static int parse_id(const char *text, const char *option, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = text != NULL ? strtoll(text, &end, 10) : 0;
    if (text == NULL || errno != 0 || end == text || *end != '\0' || v <= 0) {
        fprintf(stderr, "%s publish: option %s: '%s' is not a deposition id\n", PROG, option,
                text != NULL ? text : "");
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

/* Delete what the draft must not keep, upload what it lacks. */
static int sync_files(mtp_zenodo *z, const mtp_zenodo_deposit *dep, const char *dir,
                      const release_file *files, int n, upload_view *view, int *uploaded, int *kept,
                      int *deleted, mtp_error *err)
{
    mtp_zenodo_file *remote = NULL;
    int nremote = 0;
    int rc = mtp_zenodo_list_files(z, dep->id, &remote, &nremote, err);
    bool have[MAX_FILES] = {false};
    for (int r = 0; rc == 0 && r < nremote; r++) {
        int match = -1;
        for (int i = 0; i < n; i++)
            if (strcmp(files[i].name, remote[r].name) == 0)
                match = i;
        if (match >= 0 && strcmp(files[match].md5, remote[r].md5) == 0) {
            have[match] = true;
            (*kept)++;
            continue;
        }
        rc = mtp_zenodo_delete_file(z, dep->bucket, remote[r].name, err);
        if (rc == 0)
            (*deleted)++;
    }
    free(remote);
    view->total = 0;
    for (int i = 0; i < n; i++)
        if (!have[i])
            view->total += files[i].size;
    view->start = now_s();
    for (int i = 0; rc == 0 && i < n; i++) {
        if (have[i])
            continue;
        char path[PATH_MAX + MTP_ZENODO_NAME_MAX + 2];
        snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
        rc = mtp_zenodo_upload(z, dep->bucket, files[i].name, path, files[i].md5, err);
        if (rc == 0) {
            (*uploaded)++;
            view->done_before += files[i].size;
        }
    }
    if (view->tty && !view->quiet)
        fprintf(stderr, "\r\033[K");
    return rc;
}

static int publish_dir(const struct cli_options *opt, const char *dir);

/* An archive is published as the files it holds: extracted (with every check of `verify`'s
 * archive reader) into a temporary directory that is removed afterwards. */
static int publish_archive(const struct cli_options *opt)
{
    mtp_error err = MTP_ERROR_INIT;
    const char *base = getenv("TMPDIR");
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/mtneuro-publish-XXXXXX",
             base != NULL && base[0] != '\0' ? base : "/tmp");
    if (mkdtemp(tmp) == NULL)
        return fail_line(1, "%s: %s", tmp, strerror(errno));
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/release", tmp);
    if (!opt->quiet)
        fprintf(stderr, "extracting %s ...\n", opt->target);
    int status;
    if (mtp_archive_extract(opt->target, dir, &err) < 0)
        status = cli_fail(err.code, &err);
    else
        status = publish_dir(opt, dir);
    mtp_error ignored = MTP_ERROR_INIT;
    mtp_remove_tree(tmp, &ignored);
    return status;
}

int cli_publish(const struct cli_options *opt)
{
    struct stat st;
    if (stat(opt->target, &st) != 0)
        return fail_line(1, "%s: %s", opt->target, strerror(errno));
    if (S_ISREG(st.st_mode))
        return publish_archive(opt);
    if (!S_ISDIR(st.st_mode))
        return fail_line(2, "%s: not a release directory or archive", opt->target);
    return publish_dir(opt, opt->target);
}

static int publish_dir(const struct cli_options *opt, const char *dir)
{
    mtp_error err = MTP_ERROR_INIT;
    if (opt->deposition != NULL && opt->new_version_of != NULL)
        return fail_line(2, "--deposition and --new-version-of exclude each other");
    if (opt->sandbox && opt->zenodo != NULL)
        return fail_line(2, "--sandbox and --zenodo exclude each other");
    int64_t deposition = 0, previous = 0;
    if (opt->deposition != NULL && parse_id(opt->deposition, "--deposition", &deposition) < 0)
        return 2;
    if (opt->new_version_of != NULL &&
        parse_id(opt->new_version_of, "--new-version-of", &previous) < 0)
        return 2;
    const char *token_var = opt->token_env != NULL ? opt->token_env : "ZENODO_TOKEN";
    const char *token = getenv(token_var);
    if (token == NULL || token[0] == '\0')
        return fail_line(2,
                         "environment variable %s is not set: it must hold a Zenodo token with "
                         "the deposit:write and deposit:actions scopes",
                         token_var);

    /* 1. Nothing is sent for a release that does not verify. */
    mtp_verify_result vr;
    memset(&vr, 0, sizeof vr);
    int rc = mtp_verify(dir, print_problem, NULL, &vr, &err);
    if (rc < 0)
        return cli_fail(rc, &err);
    if (vr.nproblems > 0)
        return fail_line(1, "%s: does not verify (%d problem%s above); nothing was sent",
                         opt->target, vr.nproblems, vr.nproblems == 1 ? "" : "s");
    static release_file files[MAX_FILES];
    int nfiles = 0;
    rc = release_files(dir, files, &nfiles, &err);
    char zpath[4200];
    snprintf(zpath, sizeof zpath, "%s/.zenodo.json", dir);
    char *metadata = rc == 0 ? read_text(zpath, &err) : NULL;
    if (rc < 0 || metadata == NULL)
        return cli_fail(err.code, &err);

    /* 2. The client. */
    upload_view view = {.tty = isatty(STDERR_FILENO) == 1, .quiet = opt->quiet};
    mtp_zenodo_options zo = MTP_ZENODO_OPTIONS_INIT;
    zo.url = opt->sandbox          ? MTP_ZENODO_SANDBOX_URL
             : opt->zenodo != NULL ? opt->zenodo
                                   : MTP_ZENODO_URL;
    zo.token = token;
    zo.progress = on_upload_progress;
    zo.progress_data = &view;
    zo.cancel = &cli_interrupted;
    zo.seed = (uint64_t)getpid();
    mtp_zenodo *z = NULL;
    cli_install_signal_handlers();
    rc = mtp_zenodo_new(&z, &zo, &err);
    if (rc < 0) {
        free(metadata);
        return cli_fail(rc, &err);
    }

    /* 3. The draft. */
    mtp_zenodo_deposit dep;
    memset(&dep, 0, sizeof dep);
    const char *how = "new draft";
    if (deposition > 0) {
        how = "continued draft";
        rc = mtp_zenodo_get(z, deposition, &dep, &err);
        if (rc == 0 && dep.submitted)
            rc = mtp_error_set(&err, MTP_ECONFIG,
                               "deposition %" PRId64 " is published; use --new-version-of %" PRId64,
                               deposition, deposition);
    } else if (previous > 0) {
        how = "new version draft";
        rc = mtp_zenodo_new_version(z, previous, &dep, &err);
    } else {
        rc = mtp_zenodo_create(z, &dep, &err);
    }
    if (rc == 0 && !opt->quiet)
        printf("deposition %" PRId64 " (%s): %s\n", dep.id, how, dep.html);
    fflush(stdout);
    /* 4. Metadata, then files. */
    if (rc == 0)
        rc = mtp_zenodo_set_metadata(z, dep.id, metadata, &err);
    free(metadata);
    int uploaded = 0, kept = 0, deleted = 0;
    if (rc == 0)
        rc = sync_files(z, &dep, dir, files, nfiles, &view, &uploaded, &kept, &deleted, &err);
    if (rc == 0 && !opt->quiet) {
        mtp_zenodo_stats zs = mtp_zenodo_get_stats(z);
        printf("files: %d uploaded (%.1f MB), %d already there, %d deleted; %" PRId64
               " requests, %" PRId64 " retried\n",
               uploaded, (double)view.done_before / 1e6, kept, deleted, zs.requests, zs.retries);
    }
    /* 5. Publish, or leave the draft for review. */
    if (rc == 0 && opt->publish) {
        rc = mtp_zenodo_publish(z, dep.id, &dep, &err);
        if (rc == 0)
            printf("published: DOI %s  %s\n", dep.doi, dep.record_html);
    } else if (rc == 0) {
        printf("draft ready for review: %s\nreserved DOI: %s (publish with: %s publish %s "
               "--deposition %" PRId64 " --publish)\n",
               dep.html, dep.prereserved_doi, PROG, opt->target, dep.id);
    }
    mtp_zenodo_free(z);
    if (rc < 0) {
        if ((rc == MTP_ECANCEL || rc == MTP_ENET) && dep.id > 0 && !dep.submitted)
            fprintf(stderr,
                    "%s publish: interrupted; rerun with --deposition %" PRId64
                    " to upload only what is missing\n",
                    PROG, dep.id);
        return cli_fail(rc, &err);
    }
    return 0;
}
