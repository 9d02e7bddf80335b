/*
 * test_verify.c — verify on a real (small) release made with the HDF5 writer and the release
 * writer, as a directory and as an archive: a good release passes; a flipped byte, a deleted
 * file, an edited manifest, an extra file and a broken HDF5 file each give exactly the
 * expected problem lines.
 */
#include "mtp_test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mtp/tarball.h"
#include "mtp/config.h"
#include "mtp/digest.h"
#include "fixtures.h"
#include "mtp/h5bundle.h"
#include "mtp/h5read.h"
#include "mtp/release.h"
#include "mtp/verify.h"

#define EDGE 8

static char tmpdir[256];
static char reldir[320];  /* tmpdir/mini-1.0.0 */
static char archive[320]; /* tmpdir/mini-1.0.0.tar.gz */

static void make_tmpdir(void)
{
    fixture_make_tmpdir(tmpdir, sizeof tmpdir, "verify");
    snprintf(reldir, sizeof reldir, "%s/mini-1.0.0", tmpdir);
    snprintf(archive, sizeof archive, "%s/mini-1.0.0.tar.gz", tmpdir);
    ck_assert_int_eq(mkdir(reldir, 0755), 0);
}

static void remove_tmpdir(void)
{
    fixture_remove_tree(tmpdir);
}

static char *rel_path(const char *name)
{
    return fixture_path(reldir, name);
}

/* Flip every bit of the byte at `offset` (from the end when negative). */
static void flip_byte(const char *path, long offset)
{
    size_t len;
    char *data = fixture_slurp(path, &len);
    size_t at = offset >= 0 ? (size_t)offset : len - (size_t)(-offset);
    ck_assert_uint_lt(at, len);
    data[at] = (char)~data[at];
    fixture_write_file(path, data, len);
    free(data);
}

/* ---- a tiny release ------------------------------------------------------------------ */

/* Two regions of EDGE x EDGE, z [0, 8): train [0,4), val [4,6), test [6,8). */
static mtp_config *make_config(void)
{
    fixture_mini_options opts = {.edge = EDGE, .creator = "Doe, Jane", .ncitations = 1};
    mtp_config *cfg = fixture_mini_config(&opts);
    cfg->ntasks = 2;
    mtp_task *t = &cfg->tasks[0];
    snprintf(t->name, MTP_NAME_MAX, "task1");
    t->kind = MTP_TASK_CLASSIFICATION;
    t->label_channel = 2;
    t->nclasses = 2;
    snprintf(t->classes[0], MTP_NAME_MAX, "cortex");
    snprintf(t->classes[1], MTP_NAME_MAX, "striatum");
    snprintf(t->rule, MTP_NAME_MAX, "roi_mode");
    for (int c = 0; c < MTP_MAX_CODES; c++)
        t->code_class[c] = c < 2 ? c : -1;
    t->depth = 1;
    t->nsplits = 3;
    for (int i = 0; i < 3; i++)
        t->splits[i] = i;
    t = &cfg->tasks[1];
    snprintf(t->name, MTP_NAME_MAX, "task2");
    t->kind = MTP_TASK_SEGMENTATION;
    t->label_channel = 1;
    t->nclasses = 3;
    snprintf(t->classes[0], MTP_NAME_MAX, "background");
    snprintf(t->classes[1], MTP_NAME_MAX, "vessel");
    snprintf(t->classes[2], MTP_NAME_MAX, "cell");
    for (int c = 0; c < MTP_MAX_CODES; c++)
        t->code_class[c] = c < 3 ? c : -1;
    t->depth = 2;
    t->nsplits = 3;
    for (int i = 0; i < 3; i++)
        t->splits[i] = i;
    return cfg;
}

static const mtp_bundle_meta META = {"mtneuro-pack 0.1.0", {1.17, 1.17, 1.17}, "micrometer"};
static const mtp_release_info INFO = {"mtneuro-pack 0.1.0",
                                      1,
                                      {1.17, 1.17, 1.17},
                                      "micrometer",
                                      "http://127.0.0.1:8080",
                                      0,
                                      NULL,
                                      NULL};

static void write_bundle(const mtp_config *cfg, int task, const char *path)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_bundle *b = NULL;
    int rc = mtp_bundle_create(&b, path, cfg, task, &META, &err);
    ck_assert_msg(rc == 0, "create: %s", err.msg);
    const mtp_task *t = &cfg->tasks[task];
    size_t per_region[3];
    for (int s = 0; s < 3; s++) {
        per_region[s] = (size_t)((cfg->splits[s].z.stop - cfg->splits[s].z.start) / t->depth);
        rc = mtp_bundle_add_split(b, s, per_region[s] * 2, &err);
        ck_assert_msg(rc == 0, "add_split: %s", err.msg);
    }
    uint8_t image[2 * EDGE * EDGE], mask[2 * EDGE * EDGE];
    for (int s = 0; s < 3; s++) {
        for (size_t i = 0; i < per_region[s] * 2; i++) {
            int region = (int)(i / per_region[s]);
            for (size_t p = 0; p < sizeof image; p++) {
                image[p] = (uint8_t)(p * 7 + i * 13 + (size_t)s);
                mask[p] = (uint8_t)((p + i) % 3);
            }
            mtp_bundle_sample smp = {image, NULL, region, region, {0, 0, 0}};
            if (t->kind == MTP_TASK_SEGMENTATION)
                smp.mask = mask;
            smp.origin[0] = cfg->splits[s].z.start + (int64_t)(i % per_region[s]) * t->depth;
            smp.origin[1] = cfg->regions[region].y.start;
            smp.origin[2] = cfg->regions[region].x.start;
            rc = mtp_bundle_write_sample(b, s, i, &smp, &err);
            ck_assert_msg(rc == 0, "write_sample: %s", err.msg);
        }
        if (t->kind == MTP_TASK_CLASSIFICATION) {
            rc = mtp_bundle_split_attr(b, s, "label_region_mismatches", 0,
                                       "tiles whose label is not their region", &err);
            ck_assert_msg(rc == 0, "split_attr: %s", err.msg);
        }
    }
    rc = mtp_bundle_finish(b, &err);
    ck_assert_msg(rc == 0, "finish: %s", err.msg);
}

/* Write the release metadata for whatever is in reldir (summaries read from the files). */
static void write_metadata(const mtp_config *cfg)
{
    mtp_bundle_summary *s = calloc(2, sizeof *s);
    ck_assert_ptr_nonnull(s);
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_msg(mtp_h5read_summary(rel_path("task1.h5"), &s[0], &err) == 0, "%s", err.msg);
    ck_assert_msg(mtp_h5read_summary(rel_path("task2.h5"), &s[1], &err) == 0, "%s", err.msg);
    ck_assert_msg(mtp_release_write(reldir, cfg, s, 2, &INFO, &err) == 0, "%s", err.msg);
    free(s);
}

static mtp_config *make_release(void)
{
    make_tmpdir();
    mtp_config *cfg = make_config();
    write_bundle(cfg, 0, rel_path("task1.h5"));
    write_bundle(cfg, 1, rel_path("task2.h5"));
    fixture_write_text(rel_path("config.yaml"), "release: {name: mini}\n");
    fixture_write_text(rel_path("preview_task1_train.png"), "not really a png\n");
    write_metadata(cfg);
    return cfg;
}

static void make_archive(void)
{
    mtp_error err = MTP_ERROR_INIT;
    int rc = mtp_archive_write(reldir, archive, 0, NULL, &err);
    ck_assert_msg(rc == 0, "archive: %s", err.msg);
}

/* ---- collecting problems ------------------------------------------------------------- */

#define MAX_LINES 64

typedef struct lines {
    int n;
    char text[MAX_LINES][1024];
} lines;

static void collect(void *userdata, const char *line)
{
    lines *l = userdata;
    if (l->n < MAX_LINES)
        snprintf(l->text[l->n], sizeof l->text[0], "%s", line);
    l->n++;
}

static char *joined(const lines *l)
{
    static char buf[MAX_LINES * 1100];
    buf[0] = '\0';
    for (int i = 0; i < l->n && i < MAX_LINES; i++) {
        strcat(buf, l->text[i]);
        strcat(buf, "\n");
    }
    return buf;
}

/* Run verify on path; it must run (0) and report exactly `expect` (NULL-terminated). */
static mtp_verify_result verify_expect(const char *path, const char *const *expect)
{
    lines got = {0};
    mtp_verify_result res;
    mtp_error err = MTP_ERROR_INIT;
    int rc = mtp_verify(path, collect, &got, &res, &err);
    ck_assert_msg(rc == 0, "verify: %d %s", rc, err.msg);
    ck_assert_int_eq(res.nproblems, got.n);
    int n = 0;
    while (expect[n] != NULL)
        n++;
    ck_assert_msg(got.n == n, "expected %d problems, got %d:\n%s", n, got.n, joined(&got));
    for (int i = 0; i < n; i++)
        ck_assert_msg(strcmp(got.text[i], expect[i]) == 0, "problem %d: expected\n%s\ngot:\n%s", i,
                      expect[i], joined(&got));
    return res;
}

/* Run verify and return the lines (for checks that only look for some of them). */
static lines verify_lines(const char *path)
{
    lines got = {0};
    mtp_verify_result res;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_verify(path, collect, &got, &res, &err), 0);
    ck_assert_int_eq(res.nproblems, got.n);
    return got;
}

static bool has_line(const lines *l, const char *line)
{
    for (int i = 0; i < l->n && i < MAX_LINES; i++)
        if (strcmp(l->text[i], line) == 0)
            return true;
    return false;
}

static void digest_of(const char *path, mtp_digest *d)
{
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_msg(mtp_digest_file(path, d, &err) == 0, "%s", err.msg);
}

/* ---- tests --------------------------------------------------------------------------- */

/* Replace the first `from` in manifest.json by `to`. */
static void edit_manifest(const char *from, const char *to)
{
    size_t len;
    char *text = fixture_slurp(rel_path("manifest.json"), &len);
    char *at = strstr(text, from);
    ck_assert_msg(at != NULL, "manifest has no %s", from);
    size_t n = len - strlen(from) + strlen(to);
    char *out = malloc(n + 1);
    size_t head = (size_t)(at - text);
    memcpy(out, text, head);
    memcpy(out + head, to, strlen(to));
    strcpy(out + head + strlen(to), at + strlen(from));
    fixture_write_file(rel_path("manifest.json"), out, n);
    free(out);
    free(text);
}

static const char *const NONE[] = {NULL};

START_TEST(test_good_release)
{
    mtp_config *cfg = make_release();
    mtp_verify_result res = verify_expect(reldir, NONE);
    /* .zenodo.json CITATION.cff README.md config.yaml croissant.json manifest.json
     * preview_task1_train.png task1.h5 task2.h5 */
    ck_assert_int_eq(res.nfiles_checked, 9);
    ck_assert_int_eq(res.nhdf5_checked, 2);
    /* The datasheet's h5py snippet runs on the real files. */
    char *readme = fixture_slurp(rel_path("README.md"), NULL);
    char *code = strstr(readme, "```python\n");
    ck_assert_ptr_nonnull(code);
    code += strlen("```python\n");
    char *end = strstr(code, "```\n");
    ck_assert_ptr_nonnull(end);
    char script[400];
    snprintf(script, sizeof script, "%s/snippet.py", tmpdir);
    fixture_write_file(script, code, (size_t)(end - code));
    free(readme);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd '%s' && /usr/bin/python3 ../snippet.py > ../snippet.out 2>&1",
             reldir);
    int status = system(cmd);
    snprintf(script, sizeof script, "%s/snippet.out", tmpdir);
    char *out = fixture_slurp(script, NULL);
    ck_assert_msg(status == 0, "snippet failed:\n%s", out);
    ck_assert_msg(strstr(out, "{'cortex': 0, 'striatum': 1}\n") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "(4, 2, 8, 8) ['background', 'vessel', 'cell']\n") != NULL, "%s",
                  out);
    free(out);
    /* A NULL callback is fine; the count still says it. */
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_verify(reldir, NULL, NULL, &res, &err), 0);
    ck_assert_int_eq(res.nproblems, 0);
    mtp_config_free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(test_flip_byte_readme)
{
    mtp_config *cfg = make_release();
    mtp_digest before, after;
    digest_of(rel_path("README.md"), &before);
    flip_byte(rel_path("README.md"), 10);
    digest_of(rel_path("README.md"), &after);
    char line[256];
    snprintf(line, sizeof line, "README.md: sha256 mismatch (manifest %.12s..., file %.12s...)",
             before.sha256, after.sha256);
    const char *expect[] = {line, "SHA256SUMS: README.md: checksum mismatch",
                            "MD5SUMS: README.md: checksum mismatch", NULL};
    verify_expect(reldir, expect);
    mtp_config_free(cfg);
    remove_tmpdir();
}
END_TEST

/* A flipped byte anywhere in any file is caught by the checksums (HDF5 files may add lines
 * of their own, depending on where the byte lands). */
START_TEST(test_flip_byte_every_file)
{
    mtp_config *cfg = make_release();
    const char *files[] = {".zenodo.json", "CITATION.cff",   "README.md",
                           "config.yaml",  "croissant.json", "preview_task1_train.png",
                           "task1.h5",     "task2.h5"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        for (int where = 0; where < 3; where++) {
            size_t len;
            char *orig = fixture_slurp(rel_path(files[i]), &len);
            long offset = where == 0 ? 0 : where == 1 ? (long)len / 2 : -1;
            mtp_digest before, after;
            digest_of(rel_path(files[i]), &before);
            flip_byte(rel_path(files[i]), offset);
            digest_of(rel_path(files[i]), &after);
            lines got = verify_lines(reldir);
            char line[3][256];
            snprintf(line[0], sizeof line[0],
                     "%s: sha256 mismatch (manifest %.12s..., file %.12s...)", files[i],
                     before.sha256, after.sha256);
            snprintf(line[1], sizeof line[1], "SHA256SUMS: %s: checksum mismatch", files[i]);
            snprintf(line[2], sizeof line[2], "MD5SUMS: %s: checksum mismatch", files[i]);
            for (int k = 0; k < 3; k++)
                ck_assert_msg(has_line(&got, line[k]), "%s at %ld: no line\n%s\nin\n%s", files[i],
                              offset, line[k], joined(&got));
            ck_assert_str_eq(got.text[0], line[0]);
            fixture_write_file(rel_path(files[i]), orig, len);
            free(orig);
        }
    }
    verify_expect(reldir, NONE);
    /* The manifest itself: only the SUMS know its digest; a flipped byte also breaks the
     * JSON (here: invalid UTF-8), a changed space does not. */
    flip_byte(rel_path("manifest.json"), -1); /* the trailing newline becomes 0xf5 */
    const char *flipped[] = {"manifest.json: not valid JSON: unable to decode byte 0xf5 (line 264)",
                             "SHA256SUMS: manifest.json: checksum mismatch",
                             "MD5SUMS: manifest.json: checksum mismatch", NULL};
    verify_expect(reldir, flipped);
    flip_byte(rel_path("manifest.json"), -1);
    edit_manifest("{\n", "{ \n");
    const char *spaced[] = {"SHA256SUMS: manifest.json: checksum mismatch",
                            "MD5SUMS: manifest.json: checksum mismatch", NULL};
    verify_expect(reldir, spaced);
    mtp_config_free(cfg);
    remove_tmpdir();
}
END_TEST

static const char *const DELETED_TASK2[] = {
    "task2.h5: missing", "SHA256SUMS: task2.h5: missing", "MD5SUMS: task2.h5: missing",
    "manifest.json: task2: file task2.h5 is not in the release", NULL};

START_TEST(test_deleted_file)
{
    mtp_config *cfg = make_release();
    ck_assert_int_eq(unlink(rel_path("task2.h5")), 0);
    mtp_verify_result res = verify_expect(reldir, DELETED_TASK2);
    ck_assert_int_eq(res.nfiles_checked, 8);
    ck_assert_int_eq(res.nhdf5_checked, 1);
    mtp_config_free(cfg);
    remove_tmpdir();
}
END_TEST

static const char *const EDITED_COUNT[] = {
    "SHA256SUMS: manifest.json: checksum mismatch", "MD5SUMS: manifest.json: checksum mismatch",
    "manifest.json: task1 /train count 7 in manifest, 8 in file", NULL};

START_TEST(test_edited_manifest)
{
    mtp_config *cfg = make_release();
    edit_manifest("\"name\": \"train\",\n          \"count\": 8,",
                  "\"name\": \"train\",\n          \"count\": 7,");
    verify_expect(reldir, EDITED_COUNT);
    mtp_config_free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(test_edited_manifest_sha)
{
    mtp_config *cfg = make_release();
    mtp_digest d;
    digest_of(rel_path("task1.h5"), &d);
    char zeros[65];
    memset(zeros, '0', 64);
    zeros[64] = '\0';
    edit_manifest(d.sha256, zeros);
    char line[256];
    snprintf(line, sizeof line,
             "task1.h5: sha256 mismatch (manifest 000000000000..., file %.12s...)", d.sha256);
    const char *expect[] = {line, "SHA256SUMS: manifest.json: checksum mismatch",
                            "MD5SUMS: manifest.json: checksum mismatch", NULL};
    verify_expect(reldir, expect);
    mtp_config_free(cfg);
    remove_tmpdir();
}
END_TEST

/* Forged consistently (SUMS regenerated): the content check still sees it. */
START_TEST(test_forged_manifest_content)
{
    mtp_config *cfg = make_release();
    edit_manifest("\"vessel\": ", "\"vessel\": 1"); /* task2 /train class_counts.vessel */
    edit_manifest("\"region_counts\": {\n            \"cortex\": 4",
                  "\"region_counts\": {\n            \"cortex\": 5"); /* task1 /train */
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && find . -type f ! -name '*SUMS' -printf '%%P\\n' | LC_ALL=C sort | "
             "xargs sha256sum > SHA256SUMS && find . -type f ! -name '*SUMS' -printf '%%P\\n' | "
             "LC_ALL=C sort | xargs md5sum > MD5SUMS",
             reldir);
    ck_assert_int_eq(system(cmd), 0);
    lines got = verify_lines(reldir);
    ck_assert_msg(got.n == 2, "%s", joined(&got));
    ck_assert_str_eq(got.text[0], "manifest.json: task1 /train region_counts.cortex 5 in manifest, "
                                  "4 in file");
    ck_assert_msg(strncmp(got.text[1], "manifest.json: task2 /train class_counts.vessel 1", 49) ==
                      0,
                  "%s", got.text[1]);
    ck_assert_ptr_nonnull(strstr(got.text[1], " in manifest, "));
    mtp_config_free(cfg);
    remove_tmpdir();
}
END_TEST

static const char *const EXTRA_FILE[] = {"notes.txt: not listed in manifest.json",
                                         "SHA256SUMS: notes.txt: not listed",
                                         "MD5SUMS: notes.txt: not listed", NULL};

START_TEST(test_extra_file)
{
    mtp_config *cfg = make_release();
    fixture_write_text(rel_path("notes.txt"), "hello\n");
    verify_expect(reldir, EXTRA_FILE);
    /* Leftover temporaries of atomic writes are not release files (the archive skips them). */
    unlink(rel_path("notes.txt"));
    fixture_write_text(rel_path("task1.h5.tmp"), "partial");
    verify_expect(reldir, NONE);
    mtp_config_free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(test_manifest_problems)
{
    mtp_config *cfg = make_release();
    char *orig = fixture_slurp(rel_path("manifest.json"), NULL);
    ck_assert_int_eq(unlink(rel_path("manifest.json")), 0);
    const char *missing[] = {"manifest.json: missing", "SHA256SUMS: manifest.json: missing",
                             "MD5SUMS: manifest.json: missing", NULL};
    verify_expect(reldir, missing);

    fixture_write_text(rel_path("manifest.json"),
                       "{\"format\": \"mtneuro-release\",\n\"files\": [}\n");
    const char *bad_json[] = {"manifest.json: not valid JSON: unexpected token near '}' (line 2)",
                              "SHA256SUMS: manifest.json: checksum mismatch",
                              "MD5SUMS: manifest.json: checksum mismatch", NULL};
    verify_expect(reldir, bad_json);

    fixture_write_text(rel_path("manifest.json"),
                       "{\"format\": \"other\", \"manifest_version\": 1}\n");
    const char *bad_format[] = {"manifest.json: format is \"other\", expected \"mtneuro-release\"",
                                "SHA256SUMS: manifest.json: checksum mismatch",
                                "MD5SUMS: manifest.json: checksum mismatch", NULL};
    verify_expect(reldir, bad_format);

    fixture_write_text(rel_path("manifest.json"),
                       "{\"format\": \"mtneuro-release\", \"manifest_version\": 2}\n");
    const char *bad_version[] = {
        "manifest.json: manifest_version 2 is not supported (this reader reads 1)",
        "SHA256SUMS: manifest.json: checksum mismatch", "MD5SUMS: manifest.json: checksum mismatch",
        NULL};
    verify_expect(reldir, bad_version);

    fixture_write_text(rel_path("manifest.json"), orig);
    verify_expect(reldir, NONE);
    free(orig);
    mtp_config_free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(test_sums_problems)
{
    mtp_config *cfg = make_release();
    char *orig = fixture_slurp(rel_path("SHA256SUMS"), NULL);
    ck_assert_int_eq(unlink(rel_path("MD5SUMS")), 0);
    const char *no_md5[] = {"MD5SUMS: missing", NULL};
    verify_expect(reldir, no_md5);
    /* A malformed line, a repeated line, and (so) a file not listed. */
    char *second = strchr(orig, '\n') + 1;
    char *third = strchr(second, '\n') + 1;
    size_t n = strlen(orig) + 64;
    char *edited = malloc(n);
    snprintf(edited, n, "%.*sgarbage\n%s%.*s", (int)(second - orig), orig, third,
             (int)(third - second), orig);
    fixture_write_text(rel_path("SHA256SUMS"), edited);
    const char *bad[] = {"SHA256SUMS:2: malformed line", "SHA256SUMS: .zenodo.json: listed twice",
                         "SHA256SUMS: CITATION.cff: not listed", "MD5SUMS: missing", NULL};
    verify_expect(reldir, bad);
    free(edited);
    free(orig);
    mtp_config_free(cfg);
    remove_tmpdir();
}
END_TEST

/* An HDF5 file replaced by junk, with every checksum made to match: the content check
 * catches what the digests cannot. */
START_TEST(test_broken_hdf5)
{
    mtp_config *cfg = make_release();
    mtp_bundle_summary *s = calloc(2, sizeof *s);
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_h5read_summary(rel_path("task1.h5"), &s[0], &err), 0);
    ck_assert_int_eq(mtp_h5read_summary(rel_path("task2.h5"), &s[1], &err), 0);
    fixture_write_text(rel_path("task2.h5"), "this is not HDF5\n");
    ck_assert_int_eq(mtp_release_write(reldir, cfg, s, 2, &INFO, &err), 0);
    free(s);
    const char *expect[] = {"task2.h5: not an HDF5 file", NULL};
    mtp_verify_result res = verify_expect(reldir, expect);
    ck_assert_int_eq(res.nhdf5_checked, 1);
    mtp_config_free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(test_cannot_run)
{
    mtp_verify_result res;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_verify("/nonexistent/release", NULL, NULL, &res, &err), MTP_EIO);
    ck_assert_str_eq(err.msg, "/nonexistent/release: No such file or directory");
    ck_assert_int_eq(mtp_verify("/dev/null", NULL, NULL, &res, &err), MTP_EIO);
    ck_assert_str_eq(err.msg, "/dev/null: not a directory or an archive");
    ck_assert_int_eq(mtp_verify("/tmp", NULL, NULL, NULL, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "mtp_verify: NULL argument");
}
END_TEST

/* ---- archives -------------------------------------------------------------------------- */

static int count_verify_dirs(void)
{
    DIR *d = opendir(tmpdir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, "mtneuro-verify-", 15) == 0)
            n++;
    closedir(d);
    return n;
}

START_TEST(test_archive)
{
    mtp_config *cfg = make_release();
    /* Extraction goes to $TMPDIR: point it at the test's directory to see the cleanup. */
    char *old = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
    setenv("TMPDIR", tmpdir, 1);
    make_archive();
    mtp_verify_result res = verify_expect(archive, NONE);
    ck_assert_int_eq(res.nfiles_checked, 9);
    ck_assert_int_eq(res.nhdf5_checked, 2);
    ck_assert_int_eq(count_verify_dirs(), 0);

    /* A flipped byte in the archive: the gzip check fails, nothing else is trusted. */
    flip_byte(archive, -6);
    lines got = verify_lines(archive);
    ck_assert_msg(got.n == 1, "%s", joined(&got));
    char prefix[400];
    snprintf(prefix, sizeof prefix, "%s: corrupt gzip stream", archive);
    ck_assert_msg(strncmp(got.text[0], prefix, strlen(prefix)) == 0, "%s", got.text[0]);

    /* Tampered release contents, archived: the same lines as for the directory. */
    mtp_digest before, after;
    digest_of(rel_path("README.md"), &before);
    flip_byte(rel_path("README.md"), 10);
    digest_of(rel_path("README.md"), &after);
    make_archive();
    char line[256];
    snprintf(line, sizeof line, "README.md: sha256 mismatch (manifest %.12s..., file %.12s...)",
             before.sha256, after.sha256);
    const char *flipped[] = {line, "SHA256SUMS: README.md: checksum mismatch",
                             "MD5SUMS: README.md: checksum mismatch", NULL};
    verify_expect(archive, flipped);
    flip_byte(rel_path("README.md"), 10);

    fixture_write_text(rel_path("notes.txt"), "hello\n");
    make_archive();
    verify_expect(archive, EXTRA_FILE);
    unlink(rel_path("notes.txt"));

    char *manifest = fixture_slurp(rel_path("manifest.json"), NULL);
    edit_manifest("\"name\": \"train\",\n          \"count\": 8,",
                  "\"name\": \"train\",\n          \"count\": 7,");
    make_archive();
    verify_expect(archive, EDITED_COUNT);
    fixture_write_text(rel_path("manifest.json"), manifest);
    free(manifest);

    ck_assert_int_eq(unlink(rel_path("task2.h5")), 0);
    make_archive();
    res = verify_expect(archive, DELETED_TASK2);
    ck_assert_int_eq(res.nhdf5_checked, 1);
    ck_assert_int_eq(count_verify_dirs(), 0);

    if (old != NULL) {
        setenv("TMPDIR", old, 1);
        free(old);
    } else {
        unsetenv("TMPDIR");
    }
    mtp_config_free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(test_symlink_in_release)
{
    mtp_config *cfg = make_release();
    ck_assert_int_eq(symlink("task1.h5", rel_path("link.h5")), 0);
    const char *expect[] = {"link.h5: not a regular file or directory (symlink)", NULL};
    mtp_verify_result res = verify_expect(reldir, expect);
    ck_assert_int_eq(res.nfiles_checked, 0);
    mtp_config_free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(test_release_is_flat_and_fits_a_record)
{
    mtp_config *cfg = make_release();
    /* A folder: what a Zenodo record cannot hold. */
    ck_assert_int_eq(mkdir(rel_path("previews"), 0755), 0);
    const char *folder[] = {
        "previews: a folder; a release is flat (a Zenodo record has no folders)", NULL};
    verify_expect(reldir, folder);
    ck_assert_int_eq(rmdir(rel_path("previews")), 0);
    /* 9 files + 2 SUMS + 90 extra = 101 files: one over a record's limit. */
    for (int i = 0; i < 90; i++) {
        char name[32];
        snprintf(name, sizeof name, "extra%02d.txt", i);
        fixture_write_text(rel_path(name), "x\n");
    }
    lines l = verify_lines(reldir);
    ck_assert_msg(has_line(&l, "mini-1.0.0: 101 files; a release (one Zenodo record) holds at "
                               "most 100"),
                  "%s", joined(&l));
    mtp_config_free(cfg);
    remove_tmpdir();
}
END_TEST

Suite *mtp_test_suite(void)
{
    Suite *s = suite_create("verify");
    TCase *tc = tcase_create("verify");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_good_release);
    tcase_add_test(tc, test_flip_byte_readme);
    tcase_add_test(tc, test_flip_byte_every_file);
    tcase_add_test(tc, test_deleted_file);
    tcase_add_test(tc, test_edited_manifest);
    tcase_add_test(tc, test_edited_manifest_sha);
    tcase_add_test(tc, test_forged_manifest_content);
    tcase_add_test(tc, test_extra_file);
    tcase_add_test(tc, test_manifest_problems);
    tcase_add_test(tc, test_sums_problems);
    tcase_add_test(tc, test_broken_hdf5);
    tcase_add_test(tc, test_cannot_run);
    tcase_add_test(tc, test_archive);
    tcase_add_test(tc, test_symlink_in_release);
    tcase_add_test(tc, test_release_is_flat_and_fits_a_record);
    suite_add_tcase(s, tc);
    return s;
}
