/*
 * fixtures.h — helpers shared by the Check suites (tests/test_<module>.c): temporary
 * directories, whole-file reads and writes, a monotonic clock, and the hand-made "mini"
 * release config the HDF5 and verify suites write files from.
 *
 * Every helper fails the running test (ck_assert) when the system refuses what it asks,
 * so a suite never goes on with a half-made fixture; none of them returns an error code.
 * Compiled into every unit test executable next to check_main.c.
 */
#ifndef MTP_FIXTURES_H
#define MTP_FIXTURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtp/config.h"

/* ---- temporary directories ----------------------------------------------------------- */

/*
 * Create a fresh, empty directory "/tmp/mtp-<name>-XXXXXX" (mkdtemp) and write its path
 * into dir[cap]. The caller removes it with fixture_remove_tree().
 */
void fixture_make_tmpdir(char *dir, size_t cap, const char *name);

/*
 * For a case that writes files for an integration test to read: when the environment
 * variable `env` is set (and fits in dir[cap]), its value is the directory (used as it is:
 * not created, not emptied) and the result is true: the caller must not remove it.
 * Otherwise a fresh fixture_make_tmpdir(dir, cap, name) and false.
 */
bool fixture_keep_or_make_tmpdir(char *dir, size_t cap, const char *env, const char *name);

/*
 * Remove `path` and everything below it, like `rm -rf` (symbolic links are removed, not
 * followed). A path that does not exist is fine; anything left behind fails the test.
 */
void fixture_remove_tree(const char *path);

/*
 * "dir/name" in one of 8 static buffers used in turn: the result is borrowed and stays
 * valid until 8 more calls, enough for the paths of one statement. A path longer than
 * 511 bytes fails the test instead of being cut.
 */
char *fixture_path(const char *dir, const char *name);

/* ---- files --------------------------------------------------------------------------- */

/* Whether anything (file, directory, ...) exists at `path`. */
bool fixture_exists(const char *path);

/*
 * The whole file at `path`, followed by a '\0' that is not counted in *len (so text can
 * be used as a string). The caller frees the buffer. `len` may be NULL.
 */
void *fixture_slurp(const char *path, size_t *len);

/* Create or replace the file at `path` with exactly `len` bytes of `data`. */
void fixture_write_file(const char *path, const void *data, size_t len);

/* fixture_write_file() with the bytes of the string `text` (without its '\0'). */
void fixture_write_text(const char *path, const char *text);

/* Whether the string `needle` occurs anywhere in the `len` bytes at `data`. */
bool fixture_contains(const void *data, size_t len, const char *needle);

/* ---- time ---------------------------------------------------------------------------- */

/* Seconds on the monotonic clock, for the timings suites print (never for asserts). */
double fixture_now_s(void);

/* ---- the mini release config --------------------------------------------------------- */

/* Split indices of fixture_mini_config(); FIXTURE_SPLIT_ALL only with all_split. */
enum fixture_split {
    FIXTURE_SPLIT_TRAIN, /* z [0, 4) */
    FIXTURE_SPLIT_VAL,   /* z [4, 6) */
    FIXTURE_SPLIT_TEST,  /* z [6, 8) */
    FIXTURE_SPLIT_ALL,   /* z [0, 8) */
};

/* Task indices of fixture_mini_bundle_tasks(). */
enum fixture_task {
    FIXTURE_TASK_CLS, /* "task1": classification */
    FIXTURE_TASK_SEG, /* "task2_3d": segmentation in windows of 2 slices */
    FIXTURE_TASK_FEA, /* "task3": features */
};

/* What differs between the suites' mini configs; a zero field means "none". */
typedef struct fixture_mini_options {
    int64_t edge;        /* regions are edge x edge tiles; must be > 0 */
    const char *token;   /* source.token; NULL: empty */
    const char *creator; /* the one release creator; NULL: no creators */
    int ncitations;      /* 0..2 citations, "First, A. Paper one. 2020." then "Second, ..." */
    bool all_split;      /* a fourth split "all", z [0, 8), after train, val and test */
} fixture_mini_options;

/*
 * A hand-made config (no YAML parser involved) for release "mini" 1.0.0, CC-BY-4.0,
 * sha256 "000...007", source http://127.0.0.1:8080 at resolution 0; channels image,
 * pixel_labels, roi_labels (the prasad URIs); regions cortex at x 100, y 200 and striatum
 * at x 300, y 400, each edge x edge; z [0, 8) cut into the fixture_split splits; gzip
 * level 4 output. It has no tasks: add fixture_mini_bundle_tasks() or the suite's own.
 * The caller frees it with free().
 */
mtp_config *fixture_mini_config(const fixture_mini_options *opts);

/*
 * Add the three fixture_task tasks to a config from fixture_mini_config() with all_split:
 * task1 classifies roi_labels into cortex, striatum, vp, zi on train, val and test;
 * task2_3d segments pixel_labels into background, vessel, cell in windows of 2 slices on
 * train and val; task3 computes features (background, vessel, cell, axon) with quadrants
 * of `quadrant` pixels on all. No rule, map or remap is set (code_class stays all 0).
 */
void fixture_mini_bundle_tasks(mtp_config *cfg, int quadrant);

/*
 * Samples in a split of `task`: one per window of the task's depth in the split's z range,
 * per region.
 */
size_t fixture_split_samples(const mtp_config *cfg, int task, int split);

#endif
