/* nftw() (XSI) walks a temporary tree depth first to remove it. */
#define _XOPEN_SOURCE 700

#include "fixtures.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <check.h>

/* ---- temporary directories ----------------------------------------------------------- */

void fixture_make_tmpdir(char *dir, size_t cap, const char *name)
{
    int n = snprintf(dir, cap, "/tmp/mtp-%s-XXXXXX", name);
    ck_assert_msg(n > 0 && (size_t)n < cap, "temporary directory name too long: %s", name);
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir, strerror(errno));
}

bool fixture_keep_or_make_tmpdir(char *dir, size_t cap, const char *env, const char *name)
{
    const char *keep = getenv(env);
    if (keep != NULL && strlen(keep) < cap) {
        snprintf(dir, cap, "%s", keep);
        return true;
    }
    fixture_make_tmpdir(dir, cap, name);
    return false;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void fixture_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0 && errno == ENOENT)
        return;
    int rc = nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    ck_assert_msg(rc == 0, "cannot remove %s: %s", path, strerror(errno));
}

char *fixture_path(const char *dir, const char *name)
{
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    int n = snprintf(p, sizeof paths[0], "%s/%s", dir, name);
    ck_assert_msg(n > 0 && (size_t)n < sizeof paths[0], "path too long: %s/%s", dir, name);
    return p;
}

/* ---- files --------------------------------------------------------------------------- */

bool fixture_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

void *fixture_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    ck_assert_msg(n >= 0, "cannot size %s", path);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len != NULL)
        *len = (size_t)n;
    return buf;
}

void fixture_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

void fixture_write_text(const char *path, const char *text)
{
    fixture_write_file(path, text, strlen(text));
}

bool fixture_contains(const void *data, size_t len, const char *needle)
{
    const unsigned char *hay = data;
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return true;
    return false;
}

/* ---- time ---------------------------------------------------------------------------- */

double fixture_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the mini release config --------------------------------------------------------- */

static void set_release(mtp_release *rel, const fixture_mini_options *opts)
{
    static const char *const citations[2] = {"First, A. Paper one. 2020.",
                                             "Second, B. Paper two. 2022."};
    snprintf(rel->name, MTP_NAME_MAX, "mini");
    snprintf(rel->version, MTP_NAME_MAX, "1.0.0");
    snprintf(rel->title, MTP_TEXT_MAX, "Mini release");
    snprintf(rel->description, MTP_LONGTEXT_MAX, "A tiny test release.");
    snprintf(rel->license, MTP_NAME_MAX, "CC-BY-4.0");
    if (opts->creator != NULL) {
        rel->ncreators = 1;
        snprintf(rel->creators[0].name, MTP_TEXT_MAX, "%s", opts->creator);
    }
    ck_assert_int_ge(opts->ncitations, 0);
    ck_assert_int_le(opts->ncitations, 2);
    rel->ncitations = opts->ncitations;
    for (int i = 0; i < opts->ncitations; i++)
        snprintf(rel->citations[i].text, MTP_LONGTEXT_MAX, "%s", citations[i]);
}

static void set_channels(mtp_config *cfg)
{
    static const char *const channels[3][2] = {
        {"image", "bossdb://prasad/prasad2020/image"},
        {"pixel_labels", "bossdb://prasad/prasad_analysis/pixel_labels"},
        {"roi_labels", "bossdb://prasad/prasad_analysis/roi_labels"}};
    cfg->nchannels = 3;
    for (int i = 0; i < 3; i++) {
        snprintf(cfg->channels[i].name, MTP_NAME_MAX, "%s", channels[i][0]);
        snprintf(cfg->channels[i].uri, MTP_TEXT_MAX, "%s", channels[i][1]);
    }
}

static void set_regions(mtp_config *cfg, int64_t edge)
{
    cfg->nregions = 2;
    snprintf(cfg->regions[0].name, MTP_NAME_MAX, "cortex");
    cfg->regions[0].x = (mtp_range){100, 100 + edge};
    cfg->regions[0].y = (mtp_range){200, 200 + edge};
    snprintf(cfg->regions[1].name, MTP_NAME_MAX, "striatum");
    cfg->regions[1].x = (mtp_range){300, 300 + edge};
    cfg->regions[1].y = (mtp_range){400, 400 + edge};
}

static void set_splits(mtp_config *cfg, bool all_split)
{
    static const char *const names[4] = {"train", "val", "test", "all"};
    static const mtp_range z[4] = {{0, 4}, {4, 6}, {6, 8}, {0, 8}};
    cfg->z = (mtp_range){0, 8};
    cfg->nsplits = all_split ? 4 : 3;
    for (int i = 0; i < cfg->nsplits; i++) {
        snprintf(cfg->splits[i].name, MTP_NAME_MAX, "%s", names[i]);
        cfg->splits[i].z = z[i];
    }
}

mtp_config *fixture_mini_config(const fixture_mini_options *opts)
{
    ck_assert_int_gt(opts->edge, 0);
    mtp_config *cfg = calloc(1, sizeof *cfg);
    ck_assert_ptr_nonnull(cfg);
    snprintf(cfg->sha256, sizeof cfg->sha256, "%064d", 7);
    set_release(&cfg->release, opts);
    snprintf(cfg->source.url, MTP_TEXT_MAX, "http://127.0.0.1:8080");
    if (opts->token != NULL)
        snprintf(cfg->source.token, MTP_TEXT_MAX, "%s", opts->token);
    cfg->source.resolution = 0;
    set_channels(cfg);
    set_regions(cfg, opts->edge);
    set_splits(cfg, opts->all_split);
    cfg->output.compression = MTP_COMPRESS_GZIP;
    cfg->output.level = 4;
    return cfg;
}

/* Task `index`, reading channel 0 (image) and channel `labels`; the caller sets its splits. */
static mtp_task *add_task(mtp_config *cfg, int index, const char *name, mtp_task_kind kind,
                          int labels, int nclasses, const char *const *classes, int depth)
{
    mtp_task *t = &cfg->tasks[index];
    snprintf(t->name, MTP_NAME_MAX, "%s", name);
    t->kind = kind;
    t->image_channel = 0;
    t->label_channel = labels;
    t->nclasses = nclasses;
    for (int i = 0; i < nclasses; i++)
        snprintf(t->classes[i], MTP_NAME_MAX, "%s", classes[i]);
    t->depth = depth;
    return t;
}

void fixture_mini_bundle_tasks(mtp_config *cfg, int quadrant)
{
    static const char *const cls[4] = {"cortex", "striatum", "vp", "zi"};
    static const char *const seg[3] = {"background", "vessel", "cell"};
    static const char *const fea[4] = {"background", "vessel", "cell", "axon"};
    ck_assert_int_eq(cfg->nsplits, 4); /* task3 uses the "all" split */
    cfg->ntasks = 3;

    mtp_task *t = add_task(cfg, FIXTURE_TASK_CLS, "task1", MTP_TASK_CLASSIFICATION, 2, 4, cls, 1);
    t->nsplits = 3;
    t->splits[0] = FIXTURE_SPLIT_TRAIN;
    t->splits[1] = FIXTURE_SPLIT_VAL;
    t->splits[2] = FIXTURE_SPLIT_TEST;

    t = add_task(cfg, FIXTURE_TASK_SEG, "task2_3d", MTP_TASK_SEGMENTATION, 1, 3, seg, 2);
    t->nsplits = 2;
    t->splits[0] = FIXTURE_SPLIT_TRAIN;
    t->splits[1] = FIXTURE_SPLIT_VAL;

    t = add_task(cfg, FIXTURE_TASK_FEA, "task3", MTP_TASK_FEATURES, 1, 4, fea, 1);
    t->nsplits = 1;
    t->splits[0] = FIXTURE_SPLIT_ALL;
    t->quadrant = quadrant;
}

size_t fixture_split_samples(const mtp_config *cfg, int task, int split)
{
    int64_t nz = cfg->splits[split].z.stop - cfg->splits[split].z.start;
    return (size_t)(nz / cfg->tasks[task].depth) * (size_t)cfg->nregions;
}
